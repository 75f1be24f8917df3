/*
 * write.c — the streaming atomic writer.
 *
 * begin: resolve the parent directory (openat2, confined) and keep it open
 *        (a final symlink is followed beneath the root: follow_final_link);
 *        create a temp file in it (O_TMPFILE, else a hidden O_EXCL name).
 * append: write and hash incrementally.
 * commit: set the hash xattr, give the temp the prior file's mode and owner,
 *        fsync it, keep the new content as an object; take the path lock;
 *        re-check the target, check the precondition, keep the prior content;
 *        link the temp under a hidden name and rename it over the target;
 *        fsync the directory; record the version; unlock.
 * Until the rename nothing visible changes, so any failure before it leaves
 * the old file as it was; every exit path removes the temp.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

struct store_writer {
    struct store *st;
    int parentfd;     /* O_RDONLY|O_DIRECTORY, pinned at begin */
    int fd;           /* the temp file, O_RDWR */
    char tmpname[64]; /* named temp (no O_TMPFILE support); "" otherwise */
    struct util_sha256 *h;
    uint64_t size;
    int err; /* sticky append error */
    char root[STORE_ROOT_NAME_MAX + 1];
    char path[STORE_PATH_MAX];
    const char *name; /* last component, inside path */
};

bool store_precond_needs_hash(const struct store_precond *pre)
{
    return pre && pre->if_match && strcmp(pre->if_match, "*") != 0;
}

int store_precond_check(const struct store_precond *pre, bool exists, const char *cur_hex)
{
    if (!pre) return 0;
    if (pre->if_none_match_any && exists) return CUSTODY_EPRECOND;
    if (!pre->if_match) return 0;
    if (!exists) return CUSTODY_EPRECOND;
    const char *m = pre->if_match;
    if (strcmp(m, "*") == 0) return 0;
    size_t len = strlen(m);
    if (len == UTIL_SHA256_HEX_LEN + 2 && m[0] == '"' && m[len - 1] == '"') {
        m++; /* tolerate an ETag passed with its quotes */
        len -= 2;
    }
    if (!cur_hex || len != UTIL_SHA256_HEX_LEN || !util_ascii_ieq(m, cur_hex, len))
        return CUSTODY_EPRECOND;
    return 0;
}

/* fstatat without following; *exists false on ENOENT. */
static int stat_entry(int dirfd, const char *name, struct stat *sb, bool *exists)
{
    if (fstatat(dirfd, name, sb, AT_SYMLINK_NOFOLLOW) == 0) {
        *exists = true;
        return 0;
    }
    *exists = false;
    return errno == ENOENT ? 0 : custody_err_from_errno(errno);
}

/*
 * The final component is a symlink: writes follow it as reads do (openat2
 * RESOLVE_BENEATH). A link that stays beneath the root is written through:
 * its target gets the new content and the link stays. One that leads out of
 * the root (absolute, or climbing above it) is refused with CUSTODY_EESCAPE,
 * a dangling one with CUSTODY_ENOENT (nothing is created through a link,
 * as cp(1) refuses), a loop with CUSTODY_ELOOP. The kernel decides where
 * the link leads; the chain is then walked textually to find the target's
 * directory and name, which must be the object the kernel found
 * (CUSTODY_ECONFLICT otherwise: it changed meanwhile, or a ".." in a link
 * went up through a symlinked directory, which the text cannot follow). On
 * success norm, *parentfd, *name (inside norm) and *sb describe the target.
 */
static int follow_final_link(int rootfd, char norm[STORE_PATH_MAX], int *parentfd,
                             const char **name, struct stat *sb)
{
    int tfd;
    struct stat tsb;
    int rc = store_resolve_open(rootfd, norm, O_PATH | O_CLOEXEC, &tfd);
    if (rc) return rc;
    if (fstat(tfd, &tsb) != 0) rc = custody_err_from_errno(errno);
    close(tfd);
    if (rc) return rc;
    char cur[STORE_PATH_MAX];
    util_strlcpy(cur, norm, sizeof cur);
    const char *nm = cur + (*name - norm);
    for (int hops = 0; S_ISLNK(sb->st_mode); hops++) {
        char target[STORE_PATH_MAX], joined[2 * STORE_PATH_MAX + 2], next[STORE_PATH_MAX];
        if (hops >= 40) return CUSTODY_ELOOP;
        ssize_t n = readlinkat(*parentfd, nm, target, sizeof target);
        if (n < 0) return custody_err_from_errno(errno);
        if ((size_t)n >= sizeof target) return CUSTODY_ENAMETOOLONG;
        target[n] = '\0';
        if (target[0] == '/') return CUSTODY_EESCAPE; /* as RESOLVE_BENEATH judges it */
        /* relative to the link's directory: "/a/link" -> "/a/" + target */
        snprintf(joined, sizeof joined, "%.*s/%s", (int)(nm - cur - 1), cur, target);
        rc = store_path_normalize(joined, strlen(joined), next, sizeof next);
        if (!rc && store_is_root_path(next)) return CUSTODY_EISDIR;
        if (!rc) {
            close(*parentfd);
            *parentfd = -1;
            memcpy(cur, next, sizeof cur);
            rc = store_resolve_parent(rootfd, cur, parentfd, &nm);
        }
        if (!rc && fstatat(*parentfd, nm, sb, AT_SYMLINK_NOFOLLOW) != 0)
            rc = custody_err_from_errno(errno);
        if (rc) /* the kernel found a target beneath the root: the text went astray */
            return rc == CUSTODY_ENOENT || rc == CUSTODY_EESCAPE ? CUSTODY_ECONFLICT : rc;
    }
    if (sb->st_dev != tsb.st_dev || sb->st_ino != tsb.st_ino) return CUSTODY_ECONFLICT;
    memcpy(norm, cur, STORE_PATH_MAX);
    *name = norm + (nm - cur);
    return 0;
}

static void writer_free(struct store_writer *w)
{
    if (w->fd >= 0) close(w->fd);
    if (w->tmpname[0]) unlinkat(w->parentfd, w->tmpname, 0);
    if (w->parentfd >= 0) close(w->parentfd);
    util_sha256_free(w->h);
    free(w);
}

int store_write_begin(struct store *st, const char *root, const char *path,
                      struct store_writer **out)
{
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, parentfd;
    const char *name;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    if (strlen(root) > STORE_ROOT_NAME_MAX) { /* cannot happen for an active root */
        store_roots_release(rs);
        return CUSTODY_EINVAL;
    }
    rc = store_resolve_parent(rootfd, norm, &parentfd, &name);
    if (rc) {
        store_roots_release(rs);
        return rc == CUSTODY_EPERM && store_is_root_path(norm) ? CUSTODY_EISDIR : rc;
    }
    struct stat sb;
    bool exists = false;
    rc = store_is_tmp_name(name) ? CUSTODY_EBADPATH : stat_entry(parentfd, name, &sb, &exists);
    if (!rc && exists && S_ISLNK(sb.st_mode))
        rc = follow_final_link(rootfd, norm, &parentfd, &name, &sb);
    store_roots_release(rs);
    if (!rc && store_is_tmp_name(name))
        rc = CUSTODY_EBADPATH;
    else if (!rc && exists && S_ISDIR(sb.st_mode))
        rc = CUSTODY_EISDIR;
    else if (!rc && exists && !S_ISREG(sb.st_mode))
        rc = CUSTODY_EPERM; /* FIFO, socket, device: not ours to replace */
    if (rc) {
        if (parentfd >= 0) close(parentfd);
        return rc;
    }
    struct store_writer *w = util_calloc(1, sizeof *w);
    w->st = st;
    w->parentfd = parentfd;
    w->fd = -1;
    util_strlcpy(w->root, root, sizeof w->root);
    util_strlcpy(w->path, norm, sizeof w->path);
    w->name = w->path + (name - norm);
    rc = store_tmpfile(parentfd, &w->fd, w->tmpname, sizeof w->tmpname);
    if (rc) {
        writer_free(w);
        return rc;
    }
    w->h = util_sha256_new();
    *out = w;
    return 0;
}

int store_write_append(struct store_writer *w, const void *data, size_t len)
{
    if (!w || (len && !data)) return CUSTODY_EINVAL;
    if (w->err) return w->err;
    if (len > UINT64_MAX - w->size) return w->err = CUSTODY_ETOOBIG;
    int rc = util_write_all(w->fd, data, len);
    if (rc) return w->err = rc;
    util_sha256_update(w->h, data, len);
    w->size += len;
    return 0;
}

uint64_t store_write_size(const struct store_writer *w)
{
    return w ? w->size : 0;
}

void store_write_abort(struct store_writer *w)
{
    if (w) writer_free(w);
}

/* Gives the temp the mode (and, best effort, the owner) of the file it
 * replaces; 0644 for a new file. Never adds set-id bits. */
static int apply_meta(int fd, const struct stat *prior)
{
    mode_t mode = 0644;
    if (prior && S_ISREG(prior->st_mode)) {
        mode = prior->st_mode & 0777;
        struct stat self;
        if (fstat(fd, &self) == 0 && (self.st_uid != prior->st_uid || self.st_gid != prior->st_gid))
            (void)!fchown(fd, prior->st_uid, prior->st_gid); /* EPERM when not root: fine */
    }
    if (fchmod(fd, mode) != 0) return custody_err_from_errno(errno);
    return 0;
}

static bool same_meta(const struct stat *a, bool ea, const struct stat *b, bool eb)
{
    bool ra = ea && S_ISREG(a->st_mode), rb = eb && S_ISREG(b->st_mode);
    if (ra != rb) return false;
    if (!ra) return true;
    return (a->st_mode & 0777) == (b->st_mode & 0777) && a->st_uid == b->st_uid &&
           a->st_gid == b->st_gid;
}

/* The checks commit makes under the lock, made early without it. */
static int precheck(struct store_writer *w, const struct store_precond *pre, const struct stat *sb,
                    bool exists)
{
    if (exists && S_ISDIR(sb->st_mode)) return CUSTODY_EISDIR;
    if (!pre || (!pre->if_match && !pre->if_none_match_any)) return 0;
    char hex[UTIL_SHA256_HEX_LEN + 1];
    bool have_hash = false;
    if (exists && S_ISREG(sb->st_mode) && store_precond_needs_hash(pre)) {
        int fd, rc;
        struct stat fsb;
        if ((rc = store_open_child_file(w->parentfd, w->name, &fd, &fsb))) return rc;
        rc = store_content_hash(w->st, fd, &fsb, true, hex);
        close(fd);
        if (rc) return rc;
        have_hash = true;
    }
    return store_precond_check(pre, exists, have_hash ? hex : NULL);
}

/* Renames the finished temp over the target. */
static int put_in_place(struct store_writer *w)
{
    if (w->tmpname[0]) {
        if (renameat(w->parentfd, w->tmpname, w->parentfd, w->name) != 0)
            return custody_err_from_errno(errno);
        w->tmpname[0] = '\0';
        return 0;
    }
    char link[64];
    int rc = CUSTODY_EEXIST;
    for (int tries = 0; tries < 8 && rc == CUSTODY_EEXIST; tries++) {
        rc = store_tmp_name(link, sizeof link);
        if (!rc) rc = store_link_tmpfile(w->fd, w->parentfd, link);
    }
    if (rc) return rc;
    if (renameat(w->parentfd, link, w->parentfd, w->name) != 0) {
        rc = custody_err_from_errno(errno);
        unlinkat(w->parentfd, link, 0);
        return rc;
    }
    return 0;
}

int64_t store_prior_version(struct store *st, const char *root, const char *path,
                            const char *prev_hex)
{
    struct store_version last;
    bool found = false;
    if (!st->opts.versions || store_vdb_last(st, root, path, &last, &found) != 0 || !found)
        return 0;
    return strcmp(last.sha256, prev_hex) == 0 ? last.id : 0;
}

int store_write_commit_op(struct store_writer *w, const struct store_precond *pre, const char *op,
                          struct store_write_result *res)
{
    if (!w) return CUSTODY_EINVAL;
    if (res) memset(res, 0, sizeof *res);
    struct store *st = w->st;
    int rc = w->err, priorfd = -1;
    unsigned idx = 0;
    bool locked = false;
    uint8_t digest[UTIL_SHA256_LEN];
    char newhex[UTIL_SHA256_HEX_LEN + 1];
    if (rc) goto out;
    util_sha256_final(w->h, digest);
    w->h = NULL;
    util_hex_encode(digest, sizeof digest, newhex);

    /* Outside the lock: xattr, mode as of now, and the data fsync. */
    struct stat tsb, spec, cur;
    bool spec_exists, cur_exists;
    if (fstat(w->fd, &tsb) != 0) {
        rc = custody_err_from_errno(errno);
        goto out;
    }
    store_hash_xattr_set(w->fd, &tsb, newhex);
    if ((rc = stat_entry(w->parentfd, w->name, &spec, &spec_exists)) ||
        (rc = apply_meta(w->fd, spec_exists ? &spec : NULL)) || (rc = store_fsync(w->fd)))
        goto out;
    /* The new content's object is content-addressed, so it can be kept
     * before taking the lock. A speculative check first refuses what would
     * fail anyway, so only a race (the target changing in between) can
     * leave an unreferenced object behind, and never a wrong one. */
    char kept[UTIL_SHA256_HEX_LEN + 1];
    if (st->opts.versions) {
        if ((rc = precheck(w, pre, &spec, spec_exists)) ||
            (rc = store_obj_put(st, w->root, w->fd, newhex, true, kept, NULL)))
            goto out;
    }

    idx = store_lock_index(w->root, w->path);
    store_lock_path(st, idx);
    locked = true;
    if ((rc = stat_entry(w->parentfd, w->name, &cur, &cur_exists))) goto out;
    if (cur_exists && S_ISDIR(cur.st_mode)) {
        rc = CUSTODY_EISDIR;
        goto out;
    }
    if (cur_exists && S_ISLNK(cur.st_mode)) {
        rc = CUSTODY_ECONFLICT; /* became a symlink since begin: never replace one */
        goto out;
    }
    if (cur_exists && !S_ISREG(cur.st_mode)) {
        rc = CUSTODY_EPERM;
        goto out;
    }
    char curhex[UTIL_SHA256_HEX_LEN + 1], prevhex[UTIL_SHA256_HEX_LEN + 1] = "";
    bool have_hash = false;
    struct stat psb;
    if (cur_exists && S_ISREG(cur.st_mode)) { /* the edit journal names the prior content */
        if ((rc = store_open_child_file(w->parentfd, w->name, &priorfd, &psb)) ||
            (rc = store_content_hash(st, priorfd, &psb, true, curhex)))
            goto out;
        have_hash = true;
    }
    if ((rc = store_precond_check(pre, cur_exists, have_hash ? curhex : NULL))) goto out;
    if (!same_meta(&spec, spec_exists, &cur, cur_exists)) { /* changed since: redo */
        if ((rc = apply_meta(w->fd, cur_exists ? &cur : NULL)) || (rc = store_fsync(w->fd)))
            goto out;
    }
    if (st->opts.versions && priorfd >= 0 &&
        (rc = store_keep_prior(st, w->root, w->path, priorfd, &psb, curhex, kept)))
        goto out;
    if (priorfd >= 0) /* the copy kept is named by what it really holds */
        memcpy(prevhex, st->opts.versions ? kept : curhex, sizeof prevhex);
    int64_t prev_version = store_prior_version(st, w->root, w->path, prevhex);
    if ((rc = put_in_place(w))) goto out;

    /* The new content is visible from here on; report later failures but
     * keep going so the history stays complete. */
    rc = store_fsync(w->parentfd);
    struct stat fsb;
    if (fstat(w->fd, &fsb) == 0) store_hcache_put(st, &fsb, digest);
    int64_t seq = 0;
    if (st->opts.versions) {
        int vrc = store_vdb_append(st, w->root, w->path, newhex, w->size, op, &seq);
        if (!rc) rc = vrc;
    }
    if (res) {
        res->created = !cur_exists;
        memcpy(res->sha256, newhex, sizeof res->sha256);
        res->size = w->size;
        res->version = seq;
        memcpy(res->prev_sha256, prevhex, sizeof res->prev_sha256);
        res->prev_version = prev_version;
    }
out:
    if (priorfd >= 0) close(priorfd);
    if (locked) store_unlock_path(st, idx);
    writer_free(w);
    return rc;
}

int store_write_commit(struct store_writer *w, const struct store_precond *pre,
                       struct store_write_result *res)
{
    return store_write_commit_op(w, pre, "write", res);
}
