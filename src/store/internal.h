/*
 * internal.h — shared internals of src/store (not part of the public API;
 * only the sources in src/store and the store unit tests include it).
 *
 * Lock order (outermost first): per-path stripe locks (two at most, taken
 * in index order by store_move) -> roots_lock / hash-cache stripe locks /
 * the versions database lock (these three are leaves and never nest).
 */
#ifndef CUSTODY_STORE_INTERNAL_H
#define CUSTODY_STORE_INTERNAL_H

#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

#define STORE_ROOT_NAME_MAX 64
#define STORE_LOCK_STRIPES 256
#define STORE_XATTR_HASH "user.custody.sha256"
#define STORE_LIST_DEFAULT_MAX 100000
/* Flags for every confined resolution. */
#define STORE_RESOLVE_FLAGS (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

/* One configured root: its name, path (for messages) and pinned dir fd. */
struct store_root {
    char *name;
    char *path;
    int fd;       /* O_PATH|O_DIRECTORY|O_CLOEXEC */
    size_t order; /* position in the configuration (first definition wins) */
    bool encrypt; /* its labels match store.encrypt_label: objects are encrypted */
};

/* An immutable, refcounted snapshot of the active roots (sorted by name). */
struct store_rootset {
    unsigned refs; /* atomic */
    size_t n;
    struct store_root *roots;
};

struct store_hcache;
struct store_vdb;
struct store_crypt;

struct store {
    char *state_dir;
    char *store_dir;   /* STATE/store */
    char *objects_dir; /* STATE/store/objects */
    struct store_opts opts;
    int objects_fd; /* O_RDONLY|O_DIRECTORY of objects_dir */

    pthread_mutex_t roots_lock;
    struct store_rootset *roots; /* never NULL after store_open */

    struct store_hcache *hcache;
    struct store_vdb *vdb;
    struct store_crypt *crypt; /* key and objects-enc/ (crypt.h) */

    pthread_mutex_t path_locks[STORE_LOCK_STRIPES];
};

/* ---- small helpers ---- */
static inline int64_t store_ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + (int64_t)ts->tv_nsec;
}

static inline enum store_type store_type_of(mode_t m)
{
    if (S_ISREG(m)) return STORE_FILE;
    if (S_ISDIR(m)) return STORE_DIR;
    if (S_ISLNK(m)) return STORE_SYMLINK;
    return STORE_OTHER;
}

static inline bool store_is_tmp_name(const char *name)
{
    return strncmp(name, STORE_TMP_PREFIX, sizeof STORE_TMP_PREFIX - 1) == 0;
}

static inline bool store_is_root_path(const char *npath)
{
    return npath[0] == '/' && npath[1] == '\0';
}

/* ---- path.c ---- */
bool store_root_name_valid(const char *name, size_t len);

/* ---- roots.c ---- */
/* Takes a reference on the current root set and finds `root` in it.
 * CUSTODY_ENOROOT when unknown (no reference is then held). */
int store_roots_acquire(struct store *st, const char *root, struct store_rootset **rs, int *rootfd);
void store_roots_release(struct store_rootset *rs);
void store_roots_shutdown(struct store *st);
/* Whether the root's objects are encrypted. A root that is no longer
 * active (removed while a write was running) counts as encrypted: the safe
 * side, and readers look in both namespaces anyway. */
bool store_root_encrypted(struct store *st, const char *root);

/* ---- crypt.c (the rest is in crypt.h) ---- */
int store_crypt_open(struct store *st, const struct store_opts *opts);
void store_crypt_close(struct store *st);

/* ---- resolve.c ---- */
/* openat2 with `resolve` flags; retries EAGAIN/EINTR a few times; ENOSYS ->
 * CUSTODY_EUNAVAIL (never falls back to an unconfined open). */
int store_openat2(int dirfd, const char *rel, int flags, mode_t mode, uint64_t resolve, int *fd);
/* "/" -> ".", "/a/b" -> "a/b". */
const char *store_rel(const char *npath);
/* Opens a normalised path beneath rootfd with STORE_RESOLVE_FLAGS. */
int store_resolve_open(int rootfd, const char *npath, int flags, int *fd);
/* Opens the parent directory of npath (O_RDONLY|O_DIRECTORY, a real dir fd)
 * and points *name at the last component inside npath. "/" -> CUSTODY_EPERM. */
int store_resolve_parent(int rootfd, const char *npath, int *parentfd, const char **name);
/* Opens one component of a pinned directory for reading, never following a
 * symlink; refuses anything but a regular file (CUSTODY_EPERM, or ELOOP for
 * a symlink). Fills *sb from fstat. */
int store_open_child_file(int parentfd, const char *name, int *fd, struct stat *sb);
/* fstatat(dirfd, name, sb, flags) through statx, which also gives the
 * birth time: *btime_ns is 0 when the filesystem does not record one (as
 * Node's fs.stat reports it then: the epoch). flags: AT_SYMLINK_NOFOLLOW,
 * AT_EMPTY_PATH (name "": dirfd itself). Without statx (ENOSYS) it is
 * fstatat with no birth time. */
int store_statx(int dirfd, const char *name, int flags, struct stat *sb, uint64_t *btime_ns);
/* Normalises path and acquires the root: the common prologue of every call. */
int store_prepare(struct store *st, const char *root, const char *path, char norm[STORE_PATH_MAX],
                  struct store_rootset **rs, int *rootfd);
/* Creates an anonymous temp file in dirfd (O_TMPFILE) or, when the
 * filesystem cannot, a named one (tmpname set, else tmpname[0] == 0). */
extern bool store_test_no_tmpfile; /* tests: behave as if O_TMPFILE were unsupported */
int store_tmpfile(int dirfd, int *fd, char *tmpname, size_t tmpsz);
/* Gives an O_TMPFILE a name in dirfd (EEXIST when the name is taken). */
int store_link_tmpfile(int fd, int dirfd, const char *name);
/* Random hidden temp name: STORE_TMP_PREFIX + 16 hex digits. */
int store_tmp_name(char *out, size_t outsz);
/* Copies all of in (from offset 0) to out (at offset 0): copy_file_range,
 * falling back to pread/pwrite. *copied gets the byte count. */
int store_copy_fd(int in, int out, uint64_t *copied);
int store_fsync(int fd);

/* ---- hash.c ---- */
int store_hcache_new(struct store_hcache **out);
void store_hcache_free(struct store_hcache *hc);
/* Remembers digest for the file described by sb (from fstat). */
void store_hcache_put(struct store *st, const struct stat *sb, const uint8_t digest[32]);
/* Writes the persisted hash xattr; errors are ignored (best effort). */
void store_hash_xattr_set(int fd, const struct stat *sb, const char *hex);

/* ---- write.c ---- */
int store_write_commit_op(struct store_writer *w, const struct store_precond *pre, const char *op,
                          struct store_write_result *res);
/* Checks a precondition: exists tells whether there is an entry at the
 * path; cur_hex is its content hash (NULL when not a regular file). */
int store_precond_check(const struct store_precond *pre, bool exists, const char *cur_hex);
/* True when the precondition needs the current content hash. */
bool store_precond_needs_hash(const struct store_precond *pre);
/* The version that describes a path's current state before a change (path
 * lock held): the last recorded version when its hash is prev_hex ("" for
 * no file: a tombstone), else 0 (versions off, none, or it differs). */
int64_t store_prior_version(struct store *st, const char *root, const char *path,
                            const char *prev_hex);

/* ---- ops.c: per-path locks ---- */
unsigned store_lock_index(const char *root, const char *path);
void store_lock_path(struct store *st, unsigned idx);
void store_unlock_path(struct store *st, unsigned idx);

/* ---- versions.c ---- */
int store_vdb_open(struct store *st);
void store_vdb_close(struct store *st);
/* Appends a version row with the next sequence number (path lock held). */
int store_vdb_append(struct store *st, const char *root, const char *path, const char *sha,
                     uint64_t size, const char *op, int64_t *seq);
/* Last version of a path; *found false when there is none. */
int store_vdb_last(struct store *st, const char *root, const char *path, struct store_version *v,
                   bool *found);
/* Version `seq` of a path; CUSTODY_ENOVERSION when unknown. */
int store_vdb_get(struct store *st, const char *root, const char *path, int64_t seq,
                  struct store_version *v);
/* In either namespace (objects/ or objects-enc/). */
bool store_obj_exists(struct store *st, const char *hex);
/* Opens an object of one namespace (enc: objects-enc/, the raw encrypted
 * file); CUSTODY_ENOVERSION when it is not there. */
int store_obj_open(struct store *st, const char *hex, bool enc, int *fd);
/*
 * Keeps the content of srcfd as an object. hint (may be NULL) is the content
 * hash as far as the caller knows: when an object with that name exists the
 * copy is skipped. With trust_hint the copy is named by hint, otherwise the
 * copy is hashed and named by what it really holds. out_hex gets the name.
 * The root decides the namespace (store_root_encrypted): objects-enc/
 * (encrypted, crypt.h) for a root labelled for encryption, else objects/.
 */
int store_obj_put(struct store *st, const char *root, int srcfd, const char *hint, bool trust_hint,
                  char out_hex[UTIL_SHA256_HEX_LEN + 1], uint64_t *size);
/*
 * Makes sure the current content of a path (open fd, its stat, its hash) is
 * kept: stores the object when missing and records an "external" version
 * when it differs from the last recorded one. out_hex gets the object name.
 * Caller holds the path lock.
 */
int store_keep_prior(struct store *st, const char *root, const char *path, int fd,
                     const struct stat *sb, const char *cur_hex,
                     char out_hex[UTIL_SHA256_HEX_LEN + 1]);

#endif
