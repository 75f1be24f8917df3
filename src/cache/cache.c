/* cache.c — custodyd's model cache: admission, lookup, identity checks, LRU
 * eviction (cache.h). */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/custody.h"
#include "loader/prewarm.h"
#include "util/util.h"

#define COPY_CHUNK (4u << 20)
#define KEY_MAX (64u << 10)

struct cache_pin {
    char *name, *version;
    struct prewarm_pin *pin;
    struct cache_pin *next;
};

struct cache {
    pthread_mutex_t mu;
    struct cache_pin *pins; /* under mu */
    sqlite3 *db;
    char *dir;     /* STATE/models */
    char *objects; /* STATE/models/objects */
    char *key_pem; /* the node key (never logged) */
    size_t key_len;
    uint8_t pub[32];
    uint64_t max_bytes;
};

static const char *text_problem(const char *s, bool no_slash)
{
    if (!s || !*s) return "is empty";
    size_t n = strlen(s);
    if (n > CACHE_NAME_MAX) return "is longer than 255 bytes";
    if (!util_utf8_valid(s, n)) return "is not UTF-8";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) return "has a control character";
        if (ch == '@') return "has an '@' (it separates name and version)";
        if (no_slash && ch == '/') return "has a '/'";
    }
    return NULL;
}

const char *cache_name_problem(const char *name)
{
    return text_problem(name, false);
}

const char *cache_version_problem(const char *version)
{
    return text_problem(version, true);
}

/* ---- database ---- */

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS models(name TEXT NOT NULL, version TEXT NOT NULL,"
    " digest TEXT NOT NULL, envelope BLOB NOT NULL, bytes INTEGER NOT NULL,"
    " created INTEGER NOT NULL, last_used INTEGER NOT NULL, present INTEGER NOT NULL,"
    " signer TEXT, PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS files(name TEXT NOT NULL, version TEXT NOT NULL,"
    " file TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " PRIMARY KEY(name, version, file));"
    "CREATE TABLE IF NOT EXISTS objects(sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " dev INTEGER NOT NULL, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " ctime_ns INTEGER NOT NULL);";

static int db_err(struct cache *c, char *err, size_t errlen, int src)
{
    return util_fail(err, errlen, util_err_from_sqlite(src), "model registry: %s",
                     sqlite3_errmsg(c->db));
}

static int exec(struct cache *c, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_err(c, err, errlen, rc);
}

static char *object_path(const struct cache *c, const char *hex)
{
    size_t n = strlen(c->objects) + 4 + 64 + 1;
    char *p = util_calloc(1, n);
    snprintf(p, n, "%s/%.2s/%s", c->objects, hex, hex);
    return p;
}

int cache_open(const struct cache_opts *o, struct cache **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o || !o->state_dir) return util_fail(err, errlen, CUSTODY_EINVAL, "cache_open: no state");
    struct cache *c = util_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = o->max_bytes;
    c->dir = util_path_join(o->state_dir, CACHE_DIR);
    c->objects = util_path_join(c->dir, "objects");
    int rc = util_mkdir_p(c->objects, 0700);
    if (rc) {
        rc = util_fail(err, errlen, rc, "cannot create %s: %s", c->objects, custody_strerror(rc));
        goto fail;
    }
    char *keyp = util_path_join(o->state_dir, "keys/node.ed25519");
    rc = util_read_file(keyp, KEY_MAX, &c->key_pem, &c->key_len);
    if (!rc) rc = util_ed25519_load_pem(c->key_pem, c->key_len, c->pub);
    if (rc) {
        rc = util_fail(err, errlen, rc, "cannot load the node key %s: %s", keyp,
                       custody_strerror(rc));
        free(keyp);
        goto fail;
    }
    free(keyp);
    char *dbp = util_path_join(c->dir, "registry.db");
    int s = sqlite3_open_v2(dbp, &c->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(dbp);
    if (s != SQLITE_OK) {
        rc = util_fail(err, errlen, CUSTODY_EIO, "cannot open the model registry: %s",
                       c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 5000);
    if ((rc = exec(c, schema, err, errlen))) goto fail;
    /* registries made before the signer column: add it (an error means it is there) */
    sqlite3_exec(c->db, "ALTER TABLE models ADD COLUMN signer TEXT", NULL, NULL, NULL);
    *out = c;
    return 0;
fail:
    cache_close(c);
    return rc;
}

static void pin_free(struct cache_pin *p)
{
    prewarm_unpin(p->pin);
    free(p->name);
    free(p->version);
    free(p);
}

/* Takes name@version's pin out of the list (mutex held); NULL when none. */
static struct cache_pin *pin_take(struct cache *c, const char *name, const char *version)
{
    for (struct cache_pin **pp = &c->pins; *pp; pp = &(*pp)->next) {
        struct cache_pin *p = *pp;
        if (strcmp(p->name, name) == 0 && strcmp(p->version, version) == 0) {
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

void cache_close(struct cache *c)
{
    if (!c) return;
    while (c->pins) {
        struct cache_pin *p = c->pins;
        c->pins = p->next;
        pin_free(p);
    }
    if (c->db) sqlite3_close(c->db);
    if (c->key_pem) {
        memset(c->key_pem, 0, c->key_len);
        free(c->key_pem);
    }
    free(c->objects);
    free(c->dir);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void cache_set_max_bytes(struct cache *c, uint64_t max_bytes)
{
    pthread_mutex_lock(&c->mu);
    c->max_bytes = max_bytes;
    pthread_mutex_unlock(&c->mu);
}

void cache_model_free(struct cache_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nfiles; i++) {
        free(m->files[i].name);
        free(m->files[i].path);
    }
    free(m->files);
    free(m->name);
    free(m->version);
    free(m->envelope);
    manifest_free(m->manifest);
    free(m);
}

void cache_list_free(struct cache_model *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].version);
    }
    free(list);
}

static void identity_of(const struct stat *st, struct cache_identity *id)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static bool identity_eq(const struct cache_identity *a, const struct cache_identity *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* ---- admission: one shard into objects/ ---- */

/* Copies src into a nameless file (O_TMPFILE) under objects/ while hashing
 * it; *tmp_fd is that file, still invisible (link_object names it). */
static int ingest(struct cache *c, const struct cache_source *s, uint8_t sha[UTIL_SHA256_LEN],
                  int *tmp_fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return util_fail(err, errlen, CUSTODY_EIO, "%s: fstat: %s", s->what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s: not a regular file", s->what);
    int tfd = open(c->objects, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (tfd < 0)
        return util_fail(err, errlen, custody_err_from_errno(errno),
                         "cannot create a file in %s: %s", c->objects, strerror(errno));
    uint8_t *buf = malloc(COPY_CHUNK);
    struct util_sha256 *h = util_sha256_new();
    int rc = 0;
    uint64_t off = 0;
    while (buf && h) {
        ssize_t got = pread(s->fd, buf, COPY_CHUNK, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = util_fail(err, errlen, CUSTODY_EIO, "%s: read at byte %llu: %s", s->what,
                           (unsigned long long)off, strerror(errno));
            break;
        }
        if (got == 0) break;
        util_sha256_update(h, buf, (size_t)got);
        if ((rc = util_write_all(tfd, buf, (size_t)got))) {
            rc = util_fail(err, errlen, rc, "writing the cache copy of %s: %s", s->what,
                           custody_strerror(rc));
            break;
        }
        off += (uint64_t)got;
    }
    if (!buf || !h) rc = util_fail(err, errlen, CUSTODY_ENOMEM, "out of memory");
    free(buf);
    struct stat after;
    if (!rc && (fstat(s->fd, &after) != 0 || after.st_size != st.st_size ||
                after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
                after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || off != (uint64_t)st.st_size))
        rc = util_fail(err, errlen, CUSTODY_ECONFLICT, "%s: changed while it was copied", s->what);
    if (!rc && (fchmod(tfd, 0444) != 0 || fdatasync(tfd) != 0))
        rc = util_fail(err, errlen, CUSTODY_EIO, "cache copy of %s: %s", s->what, strerror(errno));
    if (rc) {
        util_sha256_free(h);
        close(tfd);
        return rc;
    }
    util_sha256_final(h, sha);
    *tmp_fd = tfd;
    return 0;
}

/* Names a verified nameless file objects/ab/<hex> (an object already there
 * holds the same bytes and is kept), then reopens it by that name. */
static int link_object(struct cache *c, int tmp_fd, const char *hex, int *obj_fd, char *err,
                       size_t errlen)
{
    char *path = object_path(c, hex);
    char *sub = util_strndup(path, strlen(c->objects) + 3);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", tmp_fd);
    int rc = util_mkdir_p(sub, 0700);
    if (rc) {
        rc = util_fail(err, errlen, rc, "cannot create %s", sub);
    } else if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0 && errno != EEXIST) {
        rc = util_fail(err, errlen, custody_err_from_errno(errno), "cannot link %s: %s", path,
                       strerror(errno));
    } else if ((rc = util_fsync_dir(sub)) != 0) {
        rc = util_fail(err, errlen, rc, "fsync %s", sub);
    } else if ((*obj_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        rc = util_fail(err, errlen, CUSTODY_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    free(sub);
    free(path);
    return rc;
}

/* Records (or refreshes) an object's identity; mutex held. */
static int put_object(struct cache *c, const char *hex, int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return util_fail(err, errlen, CUSTODY_EIO, "fstat: %s", strerror(errno));
    struct cache_identity id;
    identity_of(&st, &id);
    sqlite3_stmt *q = NULL;
    int s =
        sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO objects(sha256,size,dev,ino,mtime_ns,ctime_ns)"
                           " VALUES(?,?,?,?,?,?)",
                           -1, &q, NULL);
    if (s != SQLITE_OK) return db_err(c, err, errlen, s);
    sqlite3_bind_text(q, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)id.size);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)id.dev);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)id.ino);
    sqlite3_bind_int64(q, 5, id.mtime_ns);
    sqlite3_bind_int64(q, 6, id.ctime_ns);
    s = sqlite3_step(q);
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? 0 : db_err(c, err, errlen, s);
}

/* Unlinks objects no present model refers to; mutex held. */
static void sweep_objects(struct cache *c)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT sha256 FROM objects WHERE sha256 NOT IN (SELECT f.sha256 FROM "
                           "files f JOIN models m ON m.name=f.name AND m.version=f.version "
                           "WHERE m.present=1)",
                           -1, &q, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *hex = (const char *)sqlite3_column_text(q, 0);
        if (!hex || strlen(hex) != 64) continue;
        char *p = object_path(c, hex);
        if (unlink(p) != 0 && errno != ENOENT)
            log_warn("model cache: cannot unlink %s: %s", p, strerror(errno));
        free(p);
    }
    sqlite3_finalize(q);
    sqlite3_exec(c->db,
                 "DELETE FROM objects WHERE sha256 NOT IN (SELECT f.sha256 FROM files f JOIN "
                 "models m ON m.name=f.name AND m.version=f.version WHERE m.present=1)",
                 NULL, NULL, NULL);
}

static uint64_t present_bytes(struct cache *c)
{
    sqlite3_stmt *q = NULL;
    uint64_t total = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT COALESCE(SUM(size),0) FROM objects WHERE sha256 IN (SELECT "
                           "f.sha256 FROM files f JOIN models m ON m.name=f.name AND "
                           "m.version=f.version WHERE m.present=1)",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        total = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return total;
}

/* LRU eviction down to max_bytes, never the model just admitted; mutex held. */
static void evict(struct cache *c, const char *keep_name, const char *keep_version)
{
    if (!c->max_bytes) return;
    while (present_bytes(c) > c->max_bytes) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(c->db,
                               "SELECT name, version FROM models WHERE present=1 AND NOT "
                               "(name=? AND version=?) ORDER BY last_used, created LIMIT 1",
                               -1, &q, NULL) != SQLITE_OK)
            return;
        sqlite3_bind_text(q, 1, keep_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, keep_version, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_ROW) {
            sqlite3_finalize(q);
            return;
        }
        char *n = util_strdup((const char *)sqlite3_column_text(q, 0));
        char *v = util_strdup((const char *)sqlite3_column_text(q, 1));
        sqlite3_finalize(q);
        if (sqlite3_prepare_v2(c->db, "UPDATE models SET present=0 WHERE name=? AND version=?", -1,
                               &q, NULL) == SQLITE_OK) {
            sqlite3_bind_text(q, 1, n, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, v, -1, SQLITE_STATIC);
            sqlite3_step(q);
            sqlite3_finalize(q);
        }
        log_info("model cache: evicted %s@%s (least recently used; models.max_bytes %llu)", n, v,
                 (unsigned long long)c->max_bytes);
        free(n);
        free(v);
        sweep_objects(c);
    }
}

static int register_model(struct cache *c, const struct manifest *m, const char *env, size_t envlen,
                          const char *digest, const char *signer, bool replace, char *err,
                          size_t errlen)
{
    const char *name = manifest_name(m), *version = manifest_version(m);
    size_t nf;
    const struct manifest_file *files = manifest_files(m, &nf);
    uint64_t now = util_now_ns() / 1000000000ull;
    int rc = exec(c, "BEGIN IMMEDIATE", err, errlen);
    if (rc) return rc;
    sqlite3_stmt *q = NULL;
    int s;
    if (!replace) {
        s = sqlite3_prepare_v2(c->db, "SELECT present FROM models WHERE name=? AND version=?", -1,
                               &q, NULL);
        if (s != SQLITE_OK) goto dberr;
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
        s = sqlite3_step(q);
        bool exists = s == SQLITE_ROW && sqlite3_column_int(q, 0) == 1;
        sqlite3_finalize(q);
        q = NULL;
        if (exists) {
            exec(c, "ROLLBACK", NULL, 0);
            return util_fail(err, errlen, CUSTODY_EEXIST,
                             "model %s@%s is already registered (custody model rm it first)", name,
                             version);
        }
    }
    s = sqlite3_prepare_v2(c->db, "DELETE FROM files WHERE name=? AND version=?", -1, &q, NULL);
    if (s != SQLITE_OK) goto dberr;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
    sqlite3_step(q);
    sqlite3_finalize(q);
    s = sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO models(name,version,digest,envelope,bytes,"
                           "created,last_used,present,signer) VALUES(?,?,?,?,?,?,?,1,?)",
                           -1, &q, NULL);
    if (s != SQLITE_OK) goto dberr;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, digest, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, env, (int)envlen, SQLITE_STATIC);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)manifest_total_bytes(m));
    sqlite3_bind_int64(q, 6, (sqlite3_int64)now);
    sqlite3_bind_int64(q, 7, (sqlite3_int64)now);
    sqlite3_bind_text(q, 8, signer, -1, SQLITE_STATIC);
    s = sqlite3_step(q);
    sqlite3_finalize(q);
    q = NULL;
    if (s != SQLITE_DONE) goto dberr;
    s = sqlite3_prepare_v2(
        c->db, "INSERT INTO files(name,version,file,sha256,size) VALUES(?,?,?,?,?)", -1, &q, NULL);
    if (s != SQLITE_OK) goto dberr;
    for (size_t i = 0; i < nf; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, files[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, files[i].sha256_hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, (sqlite3_int64)files[i].size);
        if ((s = sqlite3_step(q)) != SQLITE_DONE) goto dberr;
    }
    sqlite3_finalize(q);
    q = NULL;
    sweep_objects(c); /* a replaced version's objects nobody else needs */
    if ((rc = exec(c, "COMMIT", err, errlen))) {
        exec(c, "ROLLBACK", NULL, 0);
        return rc;
    }
    evict(c, name, version);
    return 0;
dberr:
    rc = db_err(c, err, errlen, s);
    sqlite3_finalize(q);
    exec(c, "ROLLBACK", NULL, 0);
    return rc;
}

int cache_admit(struct cache *c, const char *name, const char *version,
                const struct cache_source *src, size_t n, const struct cache_admit_opts *o,
                struct cache_model **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    static const struct cache_admit_opts none = {0};
    if (!o) o = &none;
    const char *pem = o->sign_key_pem ? o->sign_key_pem : c->key_pem;
    size_t pem_len = o->sign_key_pem ? o->sign_key_len : c->key_len;
    uint8_t signer[32];
    char signer_hex[65];
    if (util_ed25519_load_pem(pem, pem_len, signer) != 0)
        return util_fail(err, errlen, CUSTODY_EINVAL,
                         "the signing key is not an Ed25519 private key "
                         "(PEM, PKCS#8)");
    util_hex_encode(signer, 32, signer_hex);
    const char *p;
    if ((p = cache_name_problem(name)))
        return util_fail(err, errlen, CUSTODY_EINVAL, "model name %s", p);
    if ((p = cache_version_problem(version)))
        return util_fail(err, errlen, CUSTODY_EINVAL, "model version %s", p);
    if (n == 0 || n > MANIFEST_MAX_FILES)
        return util_fail(err, errlen, CUSTODY_EINVAL, "a model has 1 to %u shard files, not %zu",
                         MANIFEST_MAX_FILES, n);
    struct manifest_source *ms = util_calloc(n, sizeof *ms);
    uint8_t(*sha)[UTIL_SHA256_LEN] = util_calloc(n, sizeof *sha);
    int *obj = util_calloc(n, sizeof *obj);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        ms[i].fd = obj[i] = -1;
    /* copies, hashed and parsed while nameless: a refused shard leaves nothing */
    for (size_t i = 0; i < n && !rc; i++) {
        ms[i].name = src[i].name;
        ms[i].what = src[i].what ? src[i].what : src[i].name;
        ms[i].sha256 = sha[i];
        rc = ingest(c, &src[i], sha[i], &ms[i].fd, err, errlen);
    }
    struct manifest *m = NULL;
    struct strbuf env = STRBUF_INIT;
    char digest[MANIFEST_DIGEST_LEN + 1];
    if (!rc && (rc = manifest_build_from(name, version, ms, n, &m, err, errlen)) != 0 &&
        rc == CUSTODY_ECORRUPT)
        rc = CUSTODY_EINVAL; /* the caller's file is no model shard: a bad request */
    if (!rc && (rc = manifest_sign(m, pem, pem_len, &env)) != 0)
        util_fail(err, errlen, rc, "cannot sign the manifest: %s", custody_strerror(rc));
    if (!rc) {
        manifest_digest(env.buf, env.len, digest);
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < n && !rc; i++) {
            char hex[UTIL_SHA256_HEX_LEN + 1];
            util_hex_encode(sha[i], UTIL_SHA256_LEN, hex);
            rc = link_object(c, ms[i].fd, hex, &obj[i], err, errlen);
            if (!rc) rc = put_object(c, hex, obj[i], err, errlen);
        }
        if (!rc)
            rc =
                register_model(c, m, env.buf, env.len, digest, signer_hex, o->replace, err, errlen);
        if (rc) sweep_objects(c); /* objects linked for nothing */
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < n; i++) {
        if (ms[i].fd >= 0) close(ms[i].fd);
        if (obj[i] >= 0) close(obj[i]);
    }
    free(ms);
    free(sha);
    free(obj);
    manifest_free(m);
    sb_free(&env);
    if (!rc && out) rc = cache_get(c, name, version, out, err, errlen);
    return rc;
}

/* ---- lookup ---- */

/* Fills m's files (with object paths and recorded identities); mutex held. */
static int load_files(struct cache *c, struct cache_model *m, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int s = sqlite3_prepare_v2(c->db,
                               "SELECT f.file, f.sha256, f.size, o.dev, o.ino, o.mtime_ns, "
                               "o.ctime_ns FROM files f LEFT JOIN objects o ON o.sha256=f.sha256 "
                               "WHERE f.name=? AND f.version=? ORDER BY f.file",
                               -1, &q, NULL);
    if (s != SQLITE_OK) return db_err(c, err, errlen, s);
    sqlite3_bind_text(q, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, m->version, -1, SQLITE_STATIC);
    size_t cap = 0;
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        if (m->nfiles == cap) {
            cap = cap ? cap * 2 : 8;
            m->files = util_realloc(m->files, cap * sizeof *m->files);
        }
        struct cache_file *f = &m->files[m->nfiles++];
        memset(f, 0, sizeof *f);
        f->name = util_strdup((const char *)sqlite3_column_text(q, 0));
        util_strlcpy(f->sha256, (const char *)sqlite3_column_text(q, 1), sizeof f->sha256);
        f->size = (uint64_t)sqlite3_column_int64(q, 2);
        f->path = object_path(c, f->sha256);
        f->id.dev = (uint64_t)sqlite3_column_int64(q, 3);
        f->id.ino = (uint64_t)sqlite3_column_int64(q, 4);
        f->id.size = f->size;
        f->id.mtime_ns = sqlite3_column_int64(q, 5);
        f->id.ctime_ns = sqlite3_column_int64(q, 6);
    }
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? 0 : db_err(c, err, errlen, s);
}

static void model_row(sqlite3_stmt *q, struct cache_model *m, bool with_envelope)
{
    m->name = util_strdup((const char *)sqlite3_column_text(q, 0));
    m->version = util_strdup((const char *)sqlite3_column_text(q, 1));
    util_strlcpy(m->digest, (const char *)sqlite3_column_text(q, 2), sizeof m->digest);
    m->bytes = (uint64_t)sqlite3_column_int64(q, 3);
    m->created = (uint64_t)sqlite3_column_int64(q, 4);
    m->last_used = (uint64_t)sqlite3_column_int64(q, 5);
    m->present = sqlite3_column_int(q, 6) == 1;
    const char *signer = (const char *)sqlite3_column_text(q, 8);
    m->has_signer = signer && strlen(signer) == 64 && util_hex_decode(signer, 64, m->signer) == 0;
    if (with_envelope) {
        int len = sqlite3_column_bytes(q, 7);
        m->envelope = util_calloc(1, (size_t)len + 1);
        if (len > 0) memcpy(m->envelope, sqlite3_column_blob(q, 7), (size_t)len);
        m->envelope_len = (size_t)len;
    }
}

#define MODEL_COLS "name, version, digest, bytes, created, last_used, present, envelope, signer"

static int get_locked(struct cache *c, const char *name, const char *version,
                      struct cache_model **out, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int s =
        sqlite3_prepare_v2(c->db,
                           version ? "SELECT " MODEL_COLS " FROM models WHERE name=? AND version=?"
                                   : "SELECT " MODEL_COLS " FROM models WHERE name=? "
                                     "ORDER BY present DESC, created DESC, version DESC LIMIT 1",
                           -1, &q, NULL);
    if (s != SQLITE_OK) return db_err(c, err, errlen, s);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    if (version) sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
    s = sqlite3_step(q);
    if (s != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (s != SQLITE_DONE) return db_err(c, err, errlen, s);
        if (version)
            return util_fail(err, errlen, CUSTODY_ENOENT, "no model %s@%s (custody model ls)", name,
                             version);
        return util_fail(err, errlen, CUSTODY_ENOENT, "no model named %s (custody model ls)", name);
    }
    struct cache_model *m = util_calloc(1, sizeof *m);
    model_row(q, m, true);
    sqlite3_finalize(q);
    int rc = load_files(c, m, err, errlen);
    if (rc) {
        cache_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cache_get(struct cache *c, const char *name, const char *version, struct cache_model **out,
              char *err, size_t errlen)
{
    *out = NULL;
    if (!name) return util_fail(err, errlen, CUSTODY_EINVAL, "no model name");
    pthread_mutex_lock(&c->mu);
    int rc = get_locked(c, name, version, out, err, errlen);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* m's envelope checked under its signer (the node key for older records),
 * its statement parsed into *mf. */
static int verify_envelope(struct cache *c, const struct cache_model *m, struct manifest **mf,
                           char *err, size_t errlen)
{
    char why[512] = "";
    int rc = manifest_verify(m->envelope, m->envelope_len, m->has_signer ? m->signer : c->pub, mf,
                             why, sizeof why);
    if (rc)
        return util_fail(err, errlen, rc == CUSTODY_EBADSIG ? CUSTODY_EBADSIG : CUSTODY_ECORRUPT,
                         "the manifest of %s@%s does not verify: %s", m->name, m->version, why);
    return 0;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; fds && i < n; i++) {
        if (fds[i] >= 0) close(fds[i]);
        fds[i] = -1;
    }
}

int cache_check_model(struct cache *c, struct cache_model *m, int *fds, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; fds && i < m->nfiles; i++)
        fds[i] = -1;
    if (!m->present)
        return util_fail(
            err, errlen, CUSTODY_EUNAVAIL,
            "model %s@%s was evicted from the cache (models.max_bytes); pull or add it again",
            m->name, m->version);
    if (!m->manifest && (rc = verify_envelope(c, m, &m->manifest, err, errlen)) != 0) return rc;
    if (strcmp(manifest_name(m->manifest), m->name) != 0 ||
        strcmp(manifest_version(m->manifest), m->version) != 0) {
        rc = util_fail(err, errlen, CUSTODY_ECORRUPT, "the manifest of %s@%s names %s@%s", m->name,
                       m->version, manifest_name(m->manifest), manifest_version(m->manifest));
        return rc;
    }
    size_t nf;
    const struct manifest_file *mf = manifest_files(m->manifest, &nf);
    if (nf != m->nfiles) {
        rc = util_fail(err, errlen, CUSTODY_ECORRUPT,
                       "the registry lists %zu files of %s@%s, its "
                       "manifest %zu",
                       m->nfiles, m->name, m->version, nf);
        return rc;
    }
    for (size_t i = 0; i < nf; i++) {
        struct cache_file *f = &m->files[i];
        if (strcmp(f->name, mf[i].name) != 0 || strcmp(f->sha256, mf[i].sha256_hex) != 0 ||
            f->size != mf[i].size) {
            rc = util_fail(err, errlen, CUSTODY_ECORRUPT,
                           "the registry's record of shard '%s' of %s@%s differs from its manifest",
                           f->name, m->name, m->version);
            close_all(fds, m->nfiles);
            return rc;
        }
        struct stat st;
        int src = fds ? (fds[i] = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) : 0;
        if (src < 0 || (fds ? fstat(fds[i], &st) : stat(f->path, &st)) != 0) {
            rc = util_fail(
                err, errlen, CUSTODY_ECORRUPT,
                "shard '%s' of %s@%s is missing from the cache (%s): custody model verify", f->name,
                m->name, m->version, strerror(errno));
            close_all(fds, m->nfiles);
            return rc;
        }
        struct cache_identity now;
        identity_of(&st, &now);
        if (!identity_eq(&now, &f->id)) {
            close_all(fds, m->nfiles);
            rc = util_fail(err, errlen, CUSTODY_ECORRUPT,
                           "shard '%s' of %s@%s changed after admission (%s differs): refused; "
                           "custody model verify re-hashes it",
                           f->name, m->name, m->version,
                           now.ino != f->id.ino || now.dev != f->id.dev ? "inode"
                           : now.size != f->id.size                     ? "size"
                           : now.mtime_ns != f->id.mtime_ns             ? "mtime"
                                                                        : "ctime");
            return rc;
        }
    }
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db, "UPDATE models SET last_used=? WHERE name=? AND version=?", -1,
                           &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, (sqlite3_int64)(util_now_ns() / 1000000000ull));
        sqlite3_bind_text(q, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, m->version, -1, SQLITE_STATIC);
        sqlite3_step(q);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int cache_open_model(struct cache *c, const char *name, const char *version,
                     struct cache_model **out, char *err, size_t errlen)
{
    *out = NULL;
    struct cache_model *m = NULL;
    int rc = cache_get(c, name, version, &m, err, errlen);
    if (!rc) rc = cache_check_model(c, m, NULL, err, errlen);
    if (rc) {
        cache_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cache_list(struct cache *c, struct cache_model **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *q = NULL;
    int s = sqlite3_prepare_v2(
        c->db, "SELECT " MODEL_COLS " FROM models ORDER BY name, created, version", -1, &q, NULL);
    int rc = 0;
    if (s != SQLITE_OK) {
        rc = db_err(c, err, errlen, s);
    } else {
        size_t cap = 0;
        struct cache_model *list = NULL;
        while ((s = sqlite3_step(q)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                list = util_realloc(list, cap * sizeof *list);
            }
            memset(&list[*n], 0, sizeof list[*n]);
            model_row(q, &list[(*n)++], false);
        }
        if (s != SQLITE_DONE) {
            rc = db_err(c, err, errlen, s);
            cache_list_free(list, *n);
            *n = 0;
        } else {
            *out = list;
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int set_present(struct cache *c, const char *name, const char *version, int present)
{
    sqlite3_stmt *q = NULL;
    int s = sqlite3_prepare_v2(c->db, "UPDATE models SET present=? WHERE name=? AND version=?", -1,
                               &q, NULL);
    if (s == SQLITE_OK) {
        sqlite3_bind_int(q, 1, present);
        sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, version, -1, SQLITE_STATIC);
        s = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return s == SQLITE_DONE ? 0 : CUSTODY_EIO;
}

int cache_verify(struct cache *c, const char *name, const char *version, char *err, size_t errlen)
{
    struct cache_model *m = NULL;
    int rc = cache_get(c, name, version, &m, err, errlen);
    if (rc) return rc;
    if (!m->present) {
        rc = util_fail(err, errlen, CUSTODY_EUNAVAIL, "model %s@%s was evicted: nothing to verify",
                       m->name, m->version);
        cache_model_free(m);
        return rc;
    }
    struct manifest *mf = NULL;
    if ((rc = verify_envelope(c, m, &mf, err, errlen)) != 0) {
        cache_model_free(m);
        return rc;
    }
    for (size_t i = 0; i < m->nfiles && !rc; i++) {
        struct cache_file *f = &m->files[i];
        const struct manifest_file *want = manifest_find_file(mf, f->name);
        int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        uint8_t got[UTIL_SHA256_LEN];
        uint64_t size = 0;
        char hex[UTIL_SHA256_HEX_LEN + 1] = "(missing)";
        int hr = fd < 0 ? CUSTODY_ENOENT : util_sha256_fd(fd, got, &size);
        if (hr == 0) util_hex_encode(got, UTIL_SHA256_LEN, hex);
        if (hr == 0 && want && size == want->size && strcmp(hex, want->sha256_hex) == 0) {
            pthread_mutex_lock(&c->mu);
            rc = put_object(c, hex, fd, err, errlen);
            pthread_mutex_unlock(&c->mu);
        } else if (hr && hr != CUSTODY_ENOENT) {
            rc = util_fail(err, errlen, hr, "cannot read shard '%s' (%s): %s", f->name, f->path,
                           custody_strerror(hr));
        } else {
            if (fd >= 0 && unlink(f->path) != 0)
                log_warn("model cache: cannot unlink %s: %s", f->path, strerror(errno));
            pthread_mutex_lock(&c->mu);
            set_present(c, m->name, m->version, 0);
            sweep_objects(c);
            pthread_mutex_unlock(&c->mu);
            rc = util_fail(err, errlen, CUSTODY_ECORRUPT,
                           "shard '%s' of %s@%s does not match its signed manifest: sha256 %s, "
                           "manifest says %s; the model is marked absent (add or pull it again)",
                           f->name, m->name, m->version, hex, want ? want->sha256_hex : "?");
        }
        if (fd >= 0) close(fd);
    }
    manifest_free(mf);
    cache_model_free(m);
    return rc;
}

int cache_remove(struct cache *c, const char *name, const char *version, char *err, size_t errlen)
{
    if (!name || !version) return util_fail(err, errlen, CUSTODY_EINVAL, "name and version needed");
    pthread_mutex_lock(&c->mu);
    int rc = exec(c, "BEGIN IMMEDIATE", err, errlen);
    sqlite3_stmt *q = NULL;
    int changed = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        int s = sqlite3_prepare_v2(c->db,
                                   k ? "DELETE FROM files WHERE name=? AND version=?"
                                     : "DELETE FROM models WHERE name=? AND version=?",
                                   -1, &q, NULL);
        if (s == SQLITE_OK) {
            sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, version, -1, SQLITE_STATIC);
            s = sqlite3_step(q);
        }
        sqlite3_finalize(q);
        if (s != SQLITE_DONE) rc = db_err(c, err, errlen, s);
        if (k == 0) changed = sqlite3_changes(c->db);
    }
    if (!rc && !changed)
        rc = util_fail(err, errlen, CUSTODY_ENOENT, "no model %s@%s", name, version);
    if (!rc) sweep_objects(c);
    if (!rc) rc = exec(c, "COMMIT", err, errlen);
    if (rc) exec(c, "ROLLBACK", NULL, 0);
    struct cache_pin *p = rc ? NULL : pin_take(c, name, version);
    pthread_mutex_unlock(&c->mu);
    if (p) pin_free(p);
    return rc;
}

int cache_prewarm(struct cache *c, const char *name, const char *version, bool pin,
                  struct cache_prewarm_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    struct cache_model *m = NULL;
    int rc = cache_open_model(c, name, version, &m, err, errlen);
    if (rc) return rc;
    struct prewarm_file *pf = util_calloc(m->nfiles, sizeof *pf);
    size_t n = 0;
    for (size_t i = 0; i < m->nfiles && !rc; i++) {
        int fd = open(m->files[i].path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat sb;
        struct cache_identity id;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            rc = util_fail(err, errlen, CUSTODY_EIO, "cannot open %s: %s", m->files[i].path,
                           strerror(errno));
            if (fd >= 0) close(fd);
            break;
        }
        identity_of(&sb, &id);
        pf[n].fd = fd;
        pf[n].begin = 0;
        pf[n].end = (uint64_t)sb.st_size;
        n++;
        if (!identity_eq(&id, &m->files[i].id))
            rc = util_fail(err, errlen, CUSTODY_ECORRUPT,
                           "shard '%s' of %s@%s changed after admission", m->files[i].name, m->name,
                           m->version);
    }
    struct prewarm_stats ps;
    struct prewarm_pin *handle = NULL;
    struct prewarm_opts o = {.target = pin ? PREWARM_PINNED : PREWARM_PAGE_CACHE};
    if (!rc) rc = prewarm(pf, n, &o, &ps, pin ? &handle : NULL, err, errlen);
    for (size_t i = 0; i < n; i++)
        close(pf[i].fd);
    free(pf);
    if (!rc) {
        st->bytes = ps.bytes;
        st->ns = ps.ns;
        st->resident_before = ps.resident_before;
        if (handle) {
            st->pinned = prewarm_pin_bytes(handle);
            struct cache_pin *p = util_calloc(1, sizeof *p);
            p->name = util_strdup(m->name);
            p->version = util_strdup(m->version);
            p->pin = handle;
            pthread_mutex_lock(&c->mu);
            struct cache_pin *old = pin_take(c, m->name, m->version);
            p->next = c->pins;
            c->pins = p;
            pthread_mutex_unlock(&c->mu);
            if (old) pin_free(old);
        }
    }
    cache_model_free(m);
    return rc;
}

int cache_unpin(struct cache *c, const char *name, const char *version, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    struct cache_pin *p = pin_take(c, name, version);
    pthread_mutex_unlock(&c->mu);
    if (!p) return util_fail(err, errlen, CUSTODY_ENOENT, "%s@%s is not pinned", name, version);
    pin_free(p);
    return 0;
}

uint64_t cache_pinned_bytes(struct cache *c)
{
    uint64_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (struct cache_pin *p = c->pins; p; p = p->next)
        n += prewarm_pin_bytes(p->pin);
    pthread_mutex_unlock(&c->mu);
    return n;
}

void cache_usage(struct cache *c, uint64_t *bytes, size_t *models, size_t *present)
{
    pthread_mutex_lock(&c->mu);
    *bytes = present_bytes(c);
    *models = *present = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT COUNT(*), COALESCE(SUM(present),0) FROM models", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        *models = (size_t)sqlite3_column_int64(q, 0);
        *present = (size_t)sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&c->mu);
}
