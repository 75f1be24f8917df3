/*
 * store.h — the doorway to src/store: roots, confined path resolution,
 * reads, atomic versioned writes, and the version history.
 *
 * Resource ids are "root:/path". Paths inside a root are normalised by
 * store_path_normalize and every filesystem access goes through a root's
 * directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (for the
 * object itself or for its parent directory, then *at() calls on the last
 * component), so `..`, absolute or escaping symlinks, symlink swaps between
 * check and use, and /proc magic links cannot leave the root.
 *
 * Versions: every write, delete, move-over and rollback first makes sure the
 * prior content is kept as an object in STATE/store/objects (content-addressed
 * by SHA-256, deduplicated) and records a version row in STATE/store/versions.db
 * (SQLite). New content written through the store is kept as an object too, so
 * any write can be undone even if the file is later changed behind custody's back.
 * Version ids are per-path sequence numbers 1, 2, 3, ...
 *
 * All functions are thread-safe. Blocking ones (hashing large files, commit,
 * fsync) are meant to run on a worker thread, not on the event loop.
 */
#ifndef CUSTODY_STORE_H
#define CUSTODY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config/config.h"

#define STORE_PATH_MAX 4096 /* normalised path, bytes */
#define STORE_NAME_MAX 255  /* one component, bytes */
#define STORE_TMP_PREFIX ".custody-tmp-" /* temp names; hidden from listings */

struct store;

struct store_opts {
    bool versions;           /* keep versions (config store.versions) */
    size_t list_max_entries; /* cap for store_list */
    const char *encrypt_label; /* store.encrypt_label (copied); NULL: "encrypt" */
};

int store_open(const char *state_dir, const struct store_opts *opts, struct store **out);
void store_close(struct store *st);

/* Replaces the active set of roots atomically. A root whose path cannot be
 * opened as a directory is skipped with "root NAME: problem" in err (the rest
 * still apply) and the function returns CUSTODY_ECONFIG. Requests already
 * running keep the root set they started with. */
int store_set_roots(struct store *st, const struct cfg_root *roots, size_t n, struct strbuf *err);
/* True when the named root is active. */
bool store_has_root(struct store *st, const char *root);

/*
 * Normalises a path inside a root. Input may or may not start with '/', is
 * already percent-decoded, length len (may contain NUL, which is refused).
 * Output: "/" or "/a/b" (no trailing slash, no "." or empty components, ".."
 * applied lexically). Errors: CUSTODY_EBADPATH (NUL, invalid UTF-8, control
 * characters 0x01-0x1f or 0x7f), CUSTODY_EESCAPE (".." above the root),
 * CUSTODY_ENAMETOOLONG (component > 255 bytes or result >= outsz).
 */
int store_path_normalize(const char *in, size_t len, char *out, size_t outsz);

/* Splits "root:/path" (path normalised). Errors as above; CUSTODY_EINVAL when
 * there is no ':' or the root name is invalid. */
int store_resource_parse(const char *id, char *root, size_t rootsz, char *path, size_t pathsz);

enum store_type { STORE_FILE = 1, STORE_DIR = 2, STORE_SYMLINK = 3, STORE_OTHER = 4 };

struct store_handle {
    int fd;         /* O_RDONLY|O_CLOEXEC; caller closes (store_handle_close) */
    struct stat st;
    enum store_type type; /* STORE_FILE or STORE_DIR */
    uint64_t btime_ns;    /* birth time (statx); 0 when the filesystem does not record it */
};
void store_handle_close(struct store_handle *h);

/* Opens a file or directory for reading (symlinks followed only while they
 * stay inside the root). FIFOs, sockets and devices are refused with
 * CUSTODY_EPERM. */
int store_open_read(struct store *st, const char *root, const char *path, struct store_handle *h);

/*
 * Content hash (lowercase hex SHA-256) of an open regular file. Cached by
 * (st_dev, st_ino) and validated by (size, mtime, ctime); also persisted in the
 * xattr "user.custody.sha256" where the filesystem allows, validated by
 * (size, mtime). When not cached and compute is false returns CUSTODY_EAGAIN
 * (the caller then computes on a worker thread with compute=true).
 */
int store_content_hash(struct store *st, int fd, const struct stat *sb, bool compute,
                       char hex[UTIL_SHA256_HEX_LEN + 1]);

struct store_dirent {
    char *name;
    enum store_type type; /* symlinks are reported as STORE_SYMLINK, not followed */
    uint64_t size;
    uint64_t mtime_ns;
    uint32_t mode; /* permission bits (st_mode & 07777) of the entry itself */
    uint64_t atime_ns;
    uint64_t btime_ns; /* 0 when the filesystem does not record birth times */
    /* A symlink's target as reads see it (followed beneath the root, like
     * openat2 RESOLVE_BENEATH): its type and size; target_type is 0 when
     * the link dangles, loops or leads out of the root, and for entries
     * that are not symlinks. */
    enum store_type target_type;
    uint64_t target_size;
};
/* Lists a directory sorted by name (bytewise). Temp files are hidden. At most
 * opts.list_max_entries entries; *truncated tells when there were more. Each
 * entry is described as lstat sees it (plus its symlink target, above). */
int store_list(struct store *st, const char *root, const char *path, struct store_dirent **out,
               size_t *n, bool *truncated);
void store_dirents_free(struct store_dirent *d, size_t n);

/* Preconditions for writes and deletes (HTTP If-Match / If-None-Match). */
struct store_precond {
    const char *if_match; /* NULL, "*" (must exist) or a hex SHA-256 the current content must have */
    bool if_none_match_any; /* If-None-Match: * (must not exist) */
};

/*
 * What a change did to one path (writes, rollbacks, and each end of a
 * delete or move): the content before and after, for the edit journal
 * (docs/ledger.md). prev_version is the version that holds the prior
 * content (after an "external" row was recorded for content found on
 * disk), or the tombstone when there was no file; 0 when versions are off
 * or the last recorded version does not describe what was there.
 */
struct store_write_result {
    bool created;                          /* the path did not exist before */
    char prev_sha256[UTIL_SHA256_HEX_LEN + 1]; /* prior content; "" when there was no regular
                                                * file (a new file, a directory, a symlink) */
    int64_t prev_version;                  /* version holding the prior content, 0 when none */
    char sha256[UTIL_SHA256_HEX_LEN + 1];  /* new content; "" when the path is gone (delete,
                                            * move source) */
    uint64_t size;
    int64_t version;                       /* version id of the new content (0 if versions off) */
};

/*
 * Streaming atomic write. begin resolves the parent directory (must exist:
 * CUSTODY_ENOENT otherwise; CUSTODY_EISDIR when path is a directory) and
 * creates an anonymous temp file there (O_TMPFILE, else a hidden temp name).
 * When path is a symlink, the write goes through it as a read would: to its
 * target, when that is a regular file beneath the root (the link stays; the
 * version is recorded at the target's path); a link that leads out of the
 * root is refused with CUSTODY_EESCAPE, a dangling one with CUSTODY_ENOENT,
 * and nothing changes. A symlink is never replaced by a write (one that
 * appears at the target before commit fails it with CUSTODY_ECONFLICT).
 * append writes body bytes and hashes them; commit fsyncs the temp, takes the
 * path's lock, checks the precondition (CUSTODY_EPRECOND), keeps the prior
 * content as a version, gives the file the prior file's mode (or 0644),
 * renames it into place, fsyncs the directory, records the version, and
 * frees the writer. abort discards everything. A failed commit leaves the
 * previous file untouched.
 */
struct store_writer;
int store_write_begin(struct store *st, const char *root, const char *path,
                      struct store_writer **out);
int store_write_append(struct store_writer *w, const void *data, size_t len);
uint64_t store_write_size(const struct store_writer *w);
int store_write_commit(struct store_writer *w, const struct store_precond *pre,
                       struct store_write_result *res);
void store_write_abort(struct store_writer *w);

/* mkdir (with parents when asked; CUSTODY_EEXIST if it exists and !parents). */
int store_mkdir(struct store *st, const char *root, const char *path, bool parents);
/* Renames within one root; CUSTODY_EEXIST if `to` exists and !overwrite. A
 * replaced file's content is kept as a version of `to`; the moved file's
 * history gets a "move" version at `to` and a "moved" tombstone at `from`. */
int store_move(struct store *st, const char *root, const char *from, const char *to,
               bool overwrite);
/* store_move reporting what changed at each end (either may be NULL): at
 * `from` the moved content becomes "" (the "moved" tombstone), at `to` the
 * replaced content (if any) becomes the moved one. Both stay zeroed when no
 * file content moved (a directory, a symlink, two links to one inode). */
int store_move_edit(struct store *st, const char *root, const char *from, const char *to,
                    bool overwrite, struct store_write_result *from_res,
                    struct store_write_result *to_res);
/* Deletes a file (content kept as a version, then a "delete" tombstone) or an
 * empty directory (CUSTODY_ENOTEMPTY otherwise). */
int store_delete(struct store *st, const char *root, const char *path,
                 const struct store_precond *pre);
/* store_delete reporting the change (res may be NULL): prev_* the deleted
 * content, version the tombstone, sha256 "". A directory or symlink leaves
 * prev_sha256 "". */
int store_delete_edit(struct store *st, const char *root, const char *path,
                      const struct store_precond *pre, struct store_write_result *res);

struct store_version {
    int64_t id;                           /* 1, 2, 3, ... per path */
    char sha256[UTIL_SHA256_HEX_LEN + 1]; /* empty for tombstones */
    uint64_t size;
    uint64_t time_ns;
    char op[16];    /* "external" (found on disk), "write", "delete", "move", "moved", "rollback" */
    bool available; /* content can be restored (object kept) */
};
/* Version history of a path, oldest first. CUSTODY_ENOENT when none. */
int store_versions(struct store *st, const char *root, const char *path,
                   struct store_version **out, size_t *n);
/* Makes version `version` the current content (a new version with op
 * "rollback"); CUSTODY_ENOVERSION when unknown or not restorable. */
int store_rollback(struct store *st, const char *root, const char *path, int64_t version,
                   struct store_write_result *res);
/* Opens the kept content of a version for reading. */
int store_open_version(struct store *st, const char *root, const char *path, int64_t version,
                       struct store_handle *h);

#endif
