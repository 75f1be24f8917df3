/*
 * internal.h — the FUSE view's parts (src/mount):
 *   mount.c   mnt_run: the root's directory, mounting, the threads' clients,
 *             error mapping, the kernel cache settings;
 *   staging.c files open for writing: one staging copy per path, shared by
 *             every open of it, sent to custodyd (a versioned write) when it
 *             is flushed;
 *   ops.c     the FUSE operations;
 *   audit.c   batches: read grants after a listing, usage reports sent by
 *             a reporter thread.
 */
#ifndef CUSTODY_MOUNT_INTERNAL_H
#define CUSTODY_MOUNT_INTERNAL_H

#define FUSE_USE_VERSION 312 /* 3.12: fuse_loop_mt takes fuse_loop_cfg_create()'s config */
#include <fuse3/fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "mount/mount.h"

#define MNT_REPORT_EVERY_NS (5ull * 1000000000ull) /* a long open's usage, every 5 s */
#define MNT_ID_MAX (PATH_MAX + 128)                /* "ROOT:" + a FUSE path */

struct mnt_node;  /* staging.c */
struct mnt_audit; /* audit.c */

struct mnt {
    const struct mnt_opts *o;
    int rootfd;     /* the root's directory on this host */
    bool sensitive; /* no kernel caching: every read reaches us */
    char tmpdir[PATH_MAX];
    pthread_key_t ckey; /* this thread's custody_client_t */
    pthread_mutex_t mu; /* guards nodes, files */
    struct mnt_node *nodes;
    struct mnt_file *files; /* open files (released at unmount if the kernel did not) */
    struct mnt_audit *audit;
};

/* One open(2) of a file. */
struct mnt_file {
    struct mnt_file *next, *prev;
    char *path;            /* as opened (reports at unmount need it) */
    int fd;                /* opened for reading: the root's file; else -1 */
    struct mnt_node *node; /* opened for writing: the shared staging copy */
    pthread_mutex_t mu;
    int64_t first, last; /* span of the bytes read or written (-1: none yet) */
    uint64_t bytes;
    uint64_t reported_ns;
};

/* mount.c */
struct mnt *mnt_self(void);
/* FUSE init: the kernel cache settings. */
void *mnt_init(struct fuse_conn_info *conn, struct fuse_config *cfg);
custody_client_t *mnt_client(void);
/* "ROOT:/path" for a FUSE path. */
void mnt_resource(const char *path, char *out, size_t cap);
/* A libcustody error as an errno value for the kernel (negative). */
int mnt_errno(int rc);
/* Logs a refusal (policy, audit down...) on stderr once per call. */
int mnt_fail(const char *what, const char *path, int rc);
/* An fd (flags as for openat2) for a FUSE path under the root, never
 * leaving it and never following a symbolic link; -errno on failure. */
int mnt_open_beneath(const char *path, int flags);
/* Sets the root file's permission bits (mode, if not NULL) and times (ts,
 * if not NULL) in place; 0 or -errno. */
int mnt_chattr(const char *path, const mode_t *mode, const struct timespec ts[2]);

/* staging.c */
struct mnt_node {
    struct mnt_node *next;
    char *path;
    int fd;         /* the staging copy */
    unsigned refs;  /* open files using it */
    bool dirty;     /* changed since it was last sent */
    bool unwritten; /* dirty only by creation or O_TRUNC: no write(2) yet */
    mode_t mode;
    bool has_times; /* utimens while dirty: applied after the copy is sent */
    struct timespec times[2];
    pthread_mutex_t mu; /* guards fd's offset while it is sent, dirty */
};
/* The staging copy of path, made (from the root's file unless truncate)
 * when nobody has it open; a reference for the caller. -errno on failure. */
int mnt_node_get(const char *path, bool truncate, bool create, mode_t mode, struct mnt_node **out);
void mnt_node_put(struct mnt_node *n);
/* The open copy of path, if any (a reference: mnt_node_put it). */
struct mnt_node *mnt_node_find(const char *path);
/* A rename of an open file follows it. */
void mnt_node_rename(const char *from, const char *to);
/* Sends a dirty copy to custodyd as the file's new content. A flush (on
 * every close(2), also of a dup) skips a copy nothing was written to yet:
 * `echo x > f` in a shell closes the fd it created once before writing. */
int mnt_node_commit(struct mnt_node *n, bool flush);

/* audit.c */
int mnt_audit_start(struct mnt *m);
/* Sends the queued usage reports, then stops the reporter. */
void mnt_audit_stop(struct mnt *m);
/* After listing dir: asks for the reads of its files at once (not on a
 * sensitive root); failures leave each open to ask for itself. */
void mnt_grants_after_listing(const char *dir, const custody_dirent_t *ents, size_t n);
/* True while a read of path is granted. */
bool mnt_granted(const char *path);
/* Queues what went through an open file (nothing when bytes is 0). */
void mnt_usage_report(const char *path, int64_t first, int64_t last, uint64_t bytes);

extern const struct fuse_operations mnt_ops;
/* At unmount: sends what is still unsent and frees the files whose release
 * never came (a close racing the unmount). */
void mnt_files_close_all(void);

#endif
