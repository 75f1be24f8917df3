/*
 * ops.c — opening the store, per-path locks, and the namespace operations:
 * mkdir, move, delete.
 *
 * Each operation resolves the parent directory of its path(s) with openat2
 * (confined to the root) and then acts on the last component with *at()
 * calls, which never follow a final symlink: deleting or moving a symlink
 * acts on the link itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

/* ---- open / close ---- */

int store_open(const char *state_dir, const struct store_opts *opts, struct store **out)
{
    if (!state_dir || !out) return CUSTODY_EINVAL;
    *out = NULL;
    struct store *st = util_calloc(1, sizeof *st);
    st->objects_fd = -1;
    st->opts.versions = opts ? opts->versions : true;
    st->opts.list_max_entries = opts ? opts->list_max_entries : STORE_LIST_DEFAULT_MAX;
    pthread_mutex_init(&st->roots_lock, NULL);
    for (size_t i = 0; i < STORE_LOCK_STRIPES; i++)
        pthread_mutex_init(&st->path_locks[i], NULL);
    st->roots = util_calloc(1, sizeof *st->roots);
    st->roots->refs = 1;
    st->state_dir = util_strdup(state_dir);
    st->store_dir = util_path_join(state_dir, "store");
    st->objects_dir = util_path_join(st->store_dir, "objects");
    store_hcache_new(&st->hcache);

    int rc = util_mkdir_p(st->objects_dir, 0700);
    if (rc) {
        log_error("store: cannot create %s: %s", st->objects_dir, custody_strerror(rc));
        goto fail;
    }
    /* Doubles as the openat2 probe: no openat2, no store. */
    rc = store_openat2(AT_FDCWD, st->objects_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
                       RESOLVE_NO_MAGICLINKS, &st->objects_fd);
    if (rc) goto fail;
    rc = store_vdb_open(st);
    if (rc) goto fail;
    rc = store_crypt_open(st, opts);
    if (rc) goto fail;
    *out = st;
    return 0;
fail:
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st) return;
    store_vdb_close(st);
    store_crypt_close(st);
    store_roots_shutdown(st);
    store_hcache_free(st->hcache);
    if (st->objects_fd >= 0) close(st->objects_fd);
    for (size_t i = 0; i < STORE_LOCK_STRIPES; i++)
        pthread_mutex_destroy(&st->path_locks[i]);
    pthread_mutex_destroy(&st->roots_lock);
    free(st->state_dir);
    free(st->store_dir);
    free(st->objects_dir);
    free(st);
}

/* ---- per-path locks: a striped table keyed by FNV-1a of "root\0path" ---- */

unsigned store_lock_index(const char *root, const char *path)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)root; *p; p++)
        h = (h ^ *p) * 16777619u;
    h = (h ^ 0) * 16777619u;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % STORE_LOCK_STRIPES;
}

void store_lock_path(struct store *st, unsigned idx)
{
    pthread_mutex_lock(&st->path_locks[idx]);
}

void store_unlock_path(struct store *st, unsigned idx)
{
    pthread_mutex_unlock(&st->path_locks[idx]);
}

/* ---- mkdir ---- */

/* exist_ok: an existing directory is fine (mkdir -p); an existing
 * non-directory is CUSTODY_EEXIST, or CUSTODY_ENOTDIR when more components
 * must follow it. */
static int mkdir_one(int parentfd, const char *name, bool exist_ok, bool more)
{
    if (mkdirat(parentfd, name, 0755) == 0) return store_fsync(parentfd);
    int e = errno;
    if (e != EEXIST) return custody_err_from_errno(e);
    if (!exist_ok) return CUSTODY_EEXIST;
    /* Exists: fine if it is a directory, or a symlink that the next confined
     * resolution will judge (never stat through it here). */
    struct stat sb;
    if (fstatat(parentfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        (S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode)))
        return 0;
    return more ? CUSTODY_ENOTDIR : CUSTODY_EEXIST;
}

/* mkdir -p: each prefix is resolved again from the root with openat2, so a
 * symlinked component is followed only while it stays inside the root. */
static int mkdir_parents(int rootfd, const char *norm)
{
    char prefix[STORE_PATH_MAX];
    size_t len = strlen(norm);
    int rc = 0;
    size_t start = 1;
    while (start < len && !rc) {
        const char *slash = strchr(norm + start, '/');
        size_t end = slash ? (size_t)(slash - norm) : len;
        /* parent of this component: norm[0, start-1) */
        memcpy(prefix, norm, start - 1);
        prefix[start > 1 ? start - 1 : 0] = '\0';
        const char *pp = start > 1 ? prefix : "/";
        int pfd;
        rc = store_resolve_open(rootfd, pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &pfd);
        if (rc) break;
        char name[STORE_NAME_MAX + 1];
        memcpy(name, norm + start, end - start);
        name[end - start] = '\0';
        rc = store_is_tmp_name(name) ? CUSTODY_EBADPATH : mkdir_one(pfd, name, true, end < len);
        close(pfd);
        start = end + 1;
    }
    if (rc) return rc;
    /* the whole path must now resolve to a directory inside the root */
    int fd;
    rc = store_resolve_open(rootfd, norm, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &fd);
    if (rc == CUSTODY_ENOTDIR) return CUSTODY_EEXIST;
    if (!rc) close(fd);
    return rc;
}

int store_mkdir(struct store *st, const char *root, const char *path, bool parents)
{
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, parentfd;
    const char *name;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    if (store_is_root_path(norm)) {
        store_roots_release(rs);
        return parents ? 0 : CUSTODY_EEXIST;
    }
    if (parents) {
        rc = mkdir_parents(rootfd, norm);
        store_roots_release(rs);
        return rc;
    }
    rc = store_resolve_parent(rootfd, norm, &parentfd, &name);
    store_roots_release(rs);
    if (rc) return rc;
    rc = store_is_tmp_name(name) ? CUSTODY_EBADPATH : mkdir_one(parentfd, name, false, false);
    close(parentfd);
    return rc;
}

/* ---- delete ---- */

static int delete_locked(struct store *st, const char *root, const char *norm, int parentfd,
                         const char *name, const struct store_precond *pre,
                         struct store_write_result *res)
{
    struct stat sb;
    if (fstatat(parentfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return custody_err_from_errno(errno);
    if (!S_ISREG(sb.st_mode)) {
        int rc = store_precond_check(pre, true, NULL);
        if (rc) return rc;
        if (unlinkat(parentfd, name, S_ISDIR(sb.st_mode) ? AT_REMOVEDIR : 0) != 0)
            return errno == EEXIST ? CUSTODY_ENOTEMPTY : custody_err_from_errno(errno);
        return store_fsync(parentfd);
    }
    int fd = -1, rc = 0;
    char hex[UTIL_SHA256_HEX_LEN + 1], kept[UTIL_SHA256_HEX_LEN + 1];
    struct stat fsb;
    /* always hashed: the edit journal names the content deleted */
    if ((rc = store_open_child_file(parentfd, name, &fd, &fsb)) ||
        (rc = store_content_hash(st, fd, &fsb, true, hex)))
        goto out;
    if ((rc = store_precond_check(pre, true, hex))) goto out;
    if (st->opts.versions && (rc = store_keep_prior(st, root, norm, fd, &fsb, hex, kept))) goto out;
    const char *prev = st->opts.versions ? kept : hex;
    int64_t prev_version = store_prior_version(st, root, norm, prev), seq = 0;
    if (unlinkat(parentfd, name, 0) != 0) {
        rc = custody_err_from_errno(errno);
        goto out;
    }
    rc = store_fsync(parentfd);
    if (st->opts.versions) {
        int vrc = store_vdb_append(st, root, norm, "", 0, "delete", &seq);
        if (!rc) rc = vrc;
    }
    if (res) {
        util_strlcpy(res->prev_sha256, prev, sizeof res->prev_sha256);
        res->prev_version = prev_version;
        res->version = seq;
    }
out:
    if (fd >= 0) close(fd);
    return rc;
}

int store_delete(struct store *st, const char *root, const char *path,
                 const struct store_precond *pre)
{
    return store_delete_edit(st, root, path, pre, NULL);
}

int store_delete_edit(struct store *st, const char *root, const char *path,
                      const struct store_precond *pre, struct store_write_result *res)
{
    if (res) memset(res, 0, sizeof *res);
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, parentfd;
    const char *name;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    rc = store_resolve_parent(rootfd, norm, &parentfd, &name);
    store_roots_release(rs);
    if (rc) return rc;
    if (store_is_tmp_name(name)) {
        close(parentfd);
        return CUSTODY_EBADPATH;
    }
    unsigned idx = store_lock_index(root, norm);
    store_lock_path(st, idx);
    rc = delete_locked(st, root, norm, parentfd, name, pre, res);
    store_unlock_path(st, idx);
    close(parentfd);
    return rc;
}

/* ---- move ---- */

struct move_ctx {
    struct store *st;
    const char *root, *from, *to;
    int pf, pt;
    const char *fname, *tname;
    bool overwrite;
    struct store_write_result *from_res, *to_res; /* may be NULL */
};

static int move_locked(struct move_ctx *m)
{
    struct store *st = m->st;
    struct stat fsb, tsb;
    if (fstatat(m->pf, m->fname, &fsb, AT_SYMLINK_NOFOLLOW) != 0)
        return custody_err_from_errno(errno);
    bool to_exists = fstatat(m->pt, m->tname, &tsb, AT_SYMLINK_NOFOLLOW) == 0;
    if (!to_exists && errno != ENOENT) return custody_err_from_errno(errno);
    if (to_exists && !m->overwrite) return CUSTODY_EEXIST;
    if (to_exists && fsb.st_dev == tsb.st_dev && fsb.st_ino == tsb.st_ino)
        return 0; /* hard links to one inode: rename(2) would do nothing */

    int ffd = -1, tfd = -1, rc = 0;
    char fhex[UTIL_SHA256_HEX_LEN + 1] = "", thex[UTIL_SHA256_HEX_LEN + 1] = "";
    char fkept[UTIL_SHA256_HEX_LEN + 1] = "", tkept[UTIL_SHA256_HEX_LEN + 1] = "";
    struct stat ffs, tfs;
    bool file = S_ISREG(fsb.st_mode), over_file = to_exists && S_ISREG(tsb.st_mode);
    bool versions = st->opts.versions;
    /* a file's content is hashed even without versions: the edit journal
     * names what moved and what it replaced */
    if (file) {
        if ((rc = store_open_child_file(m->pf, m->fname, &ffd, &ffs)) ||
            (rc = store_content_hash(st, ffd, &ffs, true, fhex)) ||
            (versions && (rc = store_keep_prior(st, m->root, m->from, ffd, &ffs, fhex, fkept))))
            goto out;
    }
    if (over_file && (file || versions)) {
        if ((rc = store_open_child_file(m->pt, m->tname, &tfd, &tfs)) ||
            (rc = store_content_hash(st, tfd, &tfs, true, thex)) ||
            (versions && (rc = store_keep_prior(st, m->root, m->to, tfd, &tfs, thex, tkept))))
            goto out;
    }
    const char *moved = versions ? fkept : fhex;
    const char *replaced = !over_file ? "" : versions ? tkept : thex;
    int64_t from_prev = 0, to_prev = 0, from_seq = 0, to_seq = 0;
    if (file) {
        from_prev = store_prior_version(st, m->root, m->from, moved);
        to_prev = store_prior_version(st, m->root, m->to, replaced);
    }
    if (renameat2(m->pf, m->fname, m->pt, m->tname, m->overwrite ? 0 : RENAME_NOREPLACE) != 0) {
        rc = custody_err_from_errno(errno);
        goto out;
    }
    rc = store_fsync(m->pt);
    struct stat a, b;
    if (!rc && fstat(m->pf, &a) == 0 && fstat(m->pt, &b) == 0 &&
        (a.st_dev != b.st_dev || a.st_ino != b.st_ino))
        rc = store_fsync(m->pf);
    if (versions && file) {
        int vrc =
            store_vdb_append(st, m->root, m->to, fkept, (uint64_t)ffs.st_size, "move", &to_seq);
        if (!vrc) vrc = store_vdb_append(st, m->root, m->from, "", 0, "moved", &from_seq);
        if (!rc) rc = vrc;
    }
    if (file && m->from_res) {
        util_strlcpy(m->from_res->prev_sha256, moved, sizeof m->from_res->prev_sha256);
        m->from_res->prev_version = from_prev;
        m->from_res->version = from_seq;
    }
    if (file && m->to_res) {
        m->to_res->created = !to_exists;
        util_strlcpy(m->to_res->sha256, moved, sizeof m->to_res->sha256);
        m->to_res->size = (uint64_t)ffs.st_size;
        m->to_res->version = to_seq;
        util_strlcpy(m->to_res->prev_sha256, replaced, sizeof m->to_res->prev_sha256);
        m->to_res->prev_version = to_prev;
    }
out:
    if (ffd >= 0) close(ffd);
    if (tfd >= 0) close(tfd);
    return rc;
}

int store_move(struct store *st, const char *root, const char *from, const char *to, bool overwrite)
{
    return store_move_edit(st, root, from, to, overwrite, NULL, NULL);
}

int store_move_edit(struct store *st, const char *root, const char *from, const char *to,
                    bool overwrite, struct store_write_result *from_res,
                    struct store_write_result *to_res)
{
    if (from_res) memset(from_res, 0, sizeof *from_res);
    if (to_res) memset(to_res, 0, sizeof *to_res);
    if (!to) return CUSTODY_EINVAL;
    char nfrom[STORE_PATH_MAX], nto[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd;
    int rc = store_path_normalize(to, strlen(to), nto, sizeof nto);
    if (rc) return rc;
    rc = store_prepare(st, root, from, nfrom, &rs, &rootfd);
    if (rc) return rc;
    struct move_ctx m = {st, root, nfrom, nto, -1, -1, NULL, NULL, overwrite, from_res, to_res};
    size_t flen = strlen(nfrom);
    if (store_is_root_path(nfrom) || store_is_root_path(nto))
        rc = CUSTODY_EPERM; /* the root itself cannot be moved or replaced */
    else if (strcmp(nfrom, nto) == 0 || (strncmp(nto, nfrom, flen) == 0 && nto[flen] == '/'))
        rc = CUSTODY_EINVAL; /* onto itself, or a directory into itself */
    if (!rc) rc = store_resolve_parent(rootfd, nfrom, &m.pf, &m.fname);
    if (!rc) rc = store_resolve_parent(rootfd, nto, &m.pt, &m.tname);
    store_roots_release(rs);
    if (!rc && (store_is_tmp_name(m.fname) || store_is_tmp_name(m.tname))) rc = CUSTODY_EBADPATH;
    if (!rc) {
        unsigned a = store_lock_index(root, nfrom), b = store_lock_index(root, nto);
        unsigned lo = UTIL_MIN(a, b), hi = UTIL_MAX(a, b);
        store_lock_path(st, lo);
        if (hi != lo) store_lock_path(st, hi);
        rc = move_locked(&m);
        if (hi != lo) store_unlock_path(st, hi);
        store_unlock_path(st, lo);
    }
    if (m.pf >= 0) close(m.pf);
    if (m.pt >= 0) close(m.pt);
    return rc;
}
