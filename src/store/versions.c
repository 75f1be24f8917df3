/*
 * versions.c — the version history (SQLite) and the object store.
 *
 * STATE/store/versions.db holds one row per version:
 *   versions(root, path, seq, sha256, size, op, time_ns), key (root, path, seq)
 * in WAL mode with synchronous=FULL, through one connection guarded by a
 * mutex with prepared statements. Tombstones ("delete", "moved") have an
 * empty sha256.
 *
 * STATE/store/objects/ab/cdef... (the 64-hex SHA-256 split after two digits)
 * holds content, mode 0444, deduplicated: an object is written to a temp
 * file, fsynced and then given its name, which it keeps for good. Roots
 * labelled for encryption keep theirs in STATE/store/objects-enc/ab/cdef...
 * instead, same names (the plaintext's SHA-256), encrypted by crypt.c; the
 * two namespaces never share a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/crypt.h"

struct store_vdb {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *last, *insert, *list, *get;
};

static int sql_err(sqlite3 *db, int rc, const char *what)
{
    log_error("store: versions.db %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return util_err_from_sqlite(rc);
}

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS versions ("
    " root TEXT NOT NULL, path TEXT NOT NULL, seq INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, size INTEGER NOT NULL, op TEXT NOT NULL,"
    " time_ns INTEGER NOT NULL, PRIMARY KEY (root, path, seq)) WITHOUT ROWID;"
    "PRAGMA user_version=1;";

int store_vdb_open(struct store *st)
{
    struct store_vdb *v = util_calloc(1, sizeof *v);
    pthread_mutex_init(&v->lock, NULL);
    st->vdb = v;
    char *path = util_path_join(st->store_dir, "versions.db");
    int rc = sqlite3_open_v2(
        path, &v->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(path);
    if (rc != SQLITE_OK) return sql_err(v->db, rc, "open");
    sqlite3_busy_timeout(v->db, 5000);
    char *msg = NULL;
    rc = sqlite3_exec(v->db, SCHEMA, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: versions.db schema: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return sql_err(NULL, rc, "schema");
    }
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } stmts[] = {
        {&v->last, "SELECT seq, sha256, size, op, time_ns FROM versions"
                   " WHERE root=?1 AND path=?2 ORDER BY seq DESC LIMIT 1"},
        {&v->insert, "INSERT INTO versions (root, path, seq, sha256, size, op, time_ns)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&v->list, "SELECT seq, sha256, size, op, time_ns FROM versions"
                   " WHERE root=?1 AND path=?2 ORDER BY seq"},
        {&v->get, "SELECT seq, sha256, size, op, time_ns FROM versions"
                  " WHERE root=?1 AND path=?2 AND seq=?3"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(stmts); i++) {
        rc = sqlite3_prepare_v3(v->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].stmt,
                                NULL);
        if (rc != SQLITE_OK) return sql_err(v->db, rc, "prepare");
    }
    return 0;
}

void store_vdb_close(struct store *st)
{
    struct store_vdb *v = st->vdb;
    if (!v) return;
    sqlite3_finalize(v->last);
    sqlite3_finalize(v->insert);
    sqlite3_finalize(v->list);
    sqlite3_finalize(v->get);
    if (v->db) sqlite3_close(v->db);
    pthread_mutex_destroy(&v->lock);
    free(v);
    st->vdb = NULL;
}

static void row_to_version(sqlite3_stmt *s, struct store_version *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(s, 0);
    const unsigned char *sha = sqlite3_column_text(s, 1);
    util_strlcpy(out->sha256, sha ? (const char *)sha : "", sizeof out->sha256);
    sqlite3_int64 size = sqlite3_column_int64(s, 2);
    out->size = size > 0 ? (uint64_t)size : 0;
    const unsigned char *op = sqlite3_column_text(s, 3);
    util_strlcpy(out->op, op ? (const char *)op : "", sizeof out->op);
    sqlite3_int64 t = sqlite3_column_int64(s, 4);
    out->time_ns = t > 0 ? (uint64_t)t : 0;
}

static void bind_path(sqlite3_stmt *s, const char *root, const char *path)
{
    sqlite3_bind_text(s, 1, root, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
}

/* Runs the "last" statement; lock held. */
static int vdb_last_locked(struct store_vdb *v, const char *root, const char *path,
                           struct store_version *out, bool *found)
{
    *found = false;
    bind_path(v->last, root, path);
    int rc = sqlite3_step(v->last);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        row_to_version(v->last, out);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        ret = sql_err(v->db, rc, "select");
    }
    sqlite3_reset(v->last);
    sqlite3_clear_bindings(v->last);
    return ret;
}

int store_vdb_last(struct store *st, const char *root, const char *path, struct store_version *out,
                   bool *found)
{
    struct store_vdb *v = st->vdb;
    pthread_mutex_lock(&v->lock);
    int rc = vdb_last_locked(v, root, path, out, found);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int store_vdb_append(struct store *st, const char *root, const char *path, const char *sha,
                     uint64_t size, const char *op, int64_t *seq)
{
    struct store_vdb *v = st->vdb;
    struct store_version last;
    bool found;
    pthread_mutex_lock(&v->lock);
    int rc = vdb_last_locked(v, root, path, &last, &found);
    if (rc) {
        pthread_mutex_unlock(&v->lock);
        return rc;
    }
    int64_t next = found ? last.id + 1 : 1;
    sqlite3_stmt *s = v->insert;
    bind_path(s, root, path);
    sqlite3_bind_int64(s, 3, next);
    sqlite3_bind_text(s, 4, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)size);
    sqlite3_bind_text(s, 6, op, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)util_now_ns());
    int sr = sqlite3_step(s);
    if (sr != SQLITE_DONE) rc = sql_err(v->db, sr, "insert");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&v->lock);
    if (!rc && seq) *seq = next;
    return rc;
}

int store_vdb_get(struct store *st, const char *root, const char *path, int64_t seq,
                  struct store_version *out)
{
    struct store_vdb *v = st->vdb;
    pthread_mutex_lock(&v->lock);
    bind_path(v->get, root, path);
    sqlite3_bind_int64(v->get, 3, seq);
    int sr = sqlite3_step(v->get);
    int rc = 0;
    if (sr == SQLITE_ROW)
        row_to_version(v->get, out);
    else if (sr == SQLITE_DONE)
        rc = CUSTODY_ENOVERSION;
    else
        rc = sql_err(v->db, sr, "select");
    sqlite3_reset(v->get);
    sqlite3_clear_bindings(v->get);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

/* ---- objects ---- */

static bool hex_valid(const char *hex)
{
    for (size_t i = 0; i < UTIL_SHA256_HEX_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return false;
    return hex[UTIL_SHA256_HEX_LEN] == '\0';
}

/* "ab/cdef..." for hex "abcdef...". */
static int obj_rel(const char *hex, char rel[UTIL_SHA256_HEX_LEN + 2])
{
    if (!hex || !hex_valid(hex)) return CUSTODY_EINVAL;
    rel[0] = hex[0];
    rel[1] = hex[1];
    rel[2] = '/';
    memcpy(rel + 3, hex + 2, UTIL_SHA256_HEX_LEN - 2 + 1);
    return 0;
}

/* objects/ or objects-enc/ */
static int obj_dir(struct store *st, bool enc)
{
    return enc ? st->crypt->objects_fd : st->objects_fd;
}

static bool obj_exists_in(int dirfd, const char *hex)
{
    char rel[UTIL_SHA256_HEX_LEN + 2];
    struct stat sb;
    return obj_rel(hex, rel) == 0 && fstatat(dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(sb.st_mode);
}

bool store_obj_exists(struct store *st, const char *hex)
{
    return obj_exists_in(obj_dir(st, false), hex) || obj_exists_in(obj_dir(st, true), hex);
}

int store_obj_open(struct store *st, const char *hex, bool enc, int *fd)
{
    char rel[UTIL_SHA256_HEX_LEN + 2];
    if (obj_rel(hex, rel) != 0) return CUSTODY_ENOVERSION;
    int f = openat(obj_dir(st, enc), rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (f < 0) return errno == ENOENT ? CUSTODY_ENOVERSION : custody_err_from_errno(errno);
    *fd = f;
    return 0;
}

/* Gives the finished temp object its name "ab/rest" in dirfd (EEXIST =
 * already kept). */
static int obj_publish(int dirfd, int fd, const char *tmpname, const char *hex)
{
    char sub[3] = {hex[0], hex[1], '\0'};
    bool made = mkdirat(dirfd, sub, 0700) == 0;
    if (!made && errno != EEXIST) return custody_err_from_errno(errno);
    int subfd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (subfd < 0) return custody_err_from_errno(errno);
    const char *rest = hex + 2;
    int rc = 0;
    if (tmpname[0]) {
        if (renameat2(dirfd, tmpname, subfd, rest, RENAME_NOREPLACE) != 0) {
            rc = errno == EEXIST ? 0 : custody_err_from_errno(errno);
            unlinkat(dirfd, tmpname, 0);
        }
    } else {
        rc = store_link_tmpfile(fd, subfd, rest);
        if (rc == CUSTODY_EEXIST) rc = 0;
    }
    if (!rc) rc = store_fsync(subfd);
    if (!rc && made) rc = store_fsync(dirfd);
    close(subfd);
    return rc;
}

int store_obj_put(struct store *st, const char *root, int srcfd, const char *hint, bool trust_hint,
                  char out_hex[UTIL_SHA256_HEX_LEN + 1], uint64_t *size)
{
    bool enc = store_root_encrypted(st, root);
    int dirfd = obj_dir(st, enc);
    if (hint && obj_exists_in(dirfd, hint)) {
        util_strlcpy(out_hex, hint, UTIL_SHA256_HEX_LEN + 1);
        if (size) {
            struct stat sb;
            *size = fstat(srcfd, &sb) == 0 && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
        }
        return 0;
    }
    if (trust_hint && (!hint || !hex_valid(hint))) return CUSTODY_EINVAL;
    int fd;
    char tmpname[64];
    int rc = store_tmpfile(dirfd, &fd, tmpname, sizeof tmpname);
    if (rc) return rc;
    uint64_t copied = 0;
    if (enc) /* named by the hash of what was read and encrypted, or by the hint */
        rc = store_crypt_encrypt(&st->crypt->key, srcfd, fd, trust_hint ? hint : NULL, out_hex,
                                 &copied);
    else
        rc = store_copy_fd(srcfd, fd, &copied);
    if (!rc && !enc) {
        if (trust_hint) {
            util_strlcpy(out_hex, hint, UTIL_SHA256_HEX_LEN + 1);
        } else {
            uint8_t d[UTIL_SHA256_LEN];
            rc = util_sha256_fd(fd, d, NULL);
            if (!rc) util_hex_encode(d, sizeof d, out_hex);
        }
    }
    if (!rc && fchmod(fd, 0444) != 0) rc = custody_err_from_errno(errno);
    if (!rc) rc = store_fsync(fd);
    if (!rc)
        rc = obj_publish(dirfd, fd, tmpname, out_hex);
    else if (tmpname[0])
        unlinkat(dirfd, tmpname, 0);
    close(fd);
    if (!rc && size) *size = copied;
    return rc;
}

int store_keep_prior(struct store *st, const char *root, const char *path, int fd,
                     const struct stat *sb, const char *cur_hex,
                     char out_hex[UTIL_SHA256_HEX_LEN + 1])
{
    struct store_version last;
    bool found;
    int rc = store_vdb_last(st, root, path, &last, &found);
    if (rc) return rc;
    uint64_t size = 0;
    rc = store_obj_put(st, root, fd, cur_hex, false, out_hex, &size);
    if (rc) return rc;
    if (found && strcmp(last.sha256, out_hex) == 0)
        return 0; /* what is on disk is what we recorded last */
    return store_vdb_append(st, root, path, out_hex, size, "external", NULL);
}

/* ---- public: history ---- */

int store_versions(struct store *st, const char *root, const char *path, struct store_version **out,
                   size_t *n)
{
    if (!out || !n) return CUSTODY_EINVAL;
    *out = NULL;
    *n = 0;
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    store_roots_release(rs);
    struct store_vdb *v = st->vdb;
    struct store_version *arr = NULL;
    size_t cnt = 0, cap = 0;
    pthread_mutex_lock(&v->lock);
    bind_path(v->list, root, norm);
    int sr;
    while ((sr = sqlite3_step(v->list)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = util_realloc(arr, cap * sizeof *arr);
        }
        row_to_version(v->list, &arr[cnt++]);
    }
    if (sr != SQLITE_DONE) rc = sql_err(v->db, sr, "list");
    sqlite3_reset(v->list);
    sqlite3_clear_bindings(v->list);
    pthread_mutex_unlock(&v->lock);
    if (!rc && cnt == 0) rc = CUSTODY_ENOENT;
    if (rc) {
        free(arr);
        return rc;
    }
    for (size_t i = 0; i < cnt; i++)
        arr[i].available = arr[i].sha256[0] && store_obj_exists(st, arr[i].sha256);
    *out = arr;
    *n = cnt;
    return 0;
}

/* Looks up a restorable version and opens its object; *enc tells whether
 * it is an encrypted one. The root's own namespace is tried first, then the
 * other: history kept before the root's label changed stays readable. */
static int version_object(struct store *st, const char *root, const char *norm, int64_t version,
                          struct store_version *v, int *fd, bool *enc)
{
    if (version <= 0) return CUSTODY_ENOVERSION;
    int rc = store_vdb_get(st, root, norm, version, v);
    if (rc) return rc;
    if (!v->sha256[0]) return CUSTODY_ENOVERSION; /* a tombstone has no content */
    *enc = store_root_encrypted(st, root);
    rc = store_obj_open(st, v->sha256, *enc, fd);
    if (rc != CUSTODY_ENOVERSION) return rc;
    *enc = !*enc;
    return store_obj_open(st, v->sha256, *enc, fd);
}

int store_open_version(struct store *st, const char *root, const char *path, int64_t version,
                       struct store_handle *h)
{
    if (!h) return CUSTODY_EINVAL;
    h->fd = -1;
    h->btime_ns = 0; /* the object's times are not the file's */
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, fd;
    bool enc;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    store_roots_release(rs);
    struct store_version v;
    rc = version_object(st, root, norm, version, &v, &fd, &enc);
    if (rc) return rc;
    if (enc) { /* readers get the verified plaintext in an anonymous file */
        int pfd;
        rc = store_crypt_open_plain(st, fd, v.sha256, &pfd);
        close(fd);
        if (rc) return rc;
        fd = pfd;
    }
    if (fstat(fd, &h->st) != 0) {
        rc = custody_err_from_errno(errno);
        close(fd);
        return rc;
    }
    if (!S_ISREG(h->st.st_mode)) {
        close(fd);
        return CUSTODY_EIO; /* the object store holds only regular files */
    }
    if (enc) { /* its hash is known (and was just authenticated): no rehash */
        uint8_t d[UTIL_SHA256_LEN];
        if (util_hex_decode(v.sha256, UTIL_SHA256_HEX_LEN, d) == 0) store_hcache_put(st, &h->st, d);
    }
    h->fd = fd;
    h->type = STORE_FILE;
    return 0;
}

static int rollback_sink(void *arg, const void *data, size_t len)
{
    return store_write_append(arg, data, len);
}

int store_rollback(struct store *st, const char *root, const char *path, int64_t version,
                   struct store_write_result *res)
{
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, fd;
    bool enc;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    store_roots_release(rs);
    struct store_version v;
    rc = version_object(st, root, norm, version, &v, &fd, &enc);
    if (rc) return rc;
    struct store_writer *w;
    rc = store_write_begin(st, root, norm, &w);
    if (rc) {
        close(fd);
        return rc;
    }
    if (enc) { /* decrypted straight into the writer; any failure aborts it */
        rc = store_crypt_decrypt(&st->crypt->key, fd, v.sha256, 0, UINT64_MAX, rollback_sink, w);
        close(fd);
        if (rc) {
            store_write_abort(w);
            return rc;
        }
        return store_write_commit_op(w, NULL, "rollback", res);
    }
    enum { BUF = 128 * 1024 };
    char *buf = util_calloc(1, BUF);
    off_t off = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, BUF, off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = custody_err_from_errno(errno);
            break;
        }
        if (r == 0) break;
        rc = store_write_append(w, buf, (size_t)r);
        if (rc) break;
        off += r;
    }
    free(buf);
    close(fd);
    if (rc) {
        store_write_abort(w);
        return rc;
    }
    return store_write_commit_op(w, NULL, "rollback", res);
}
