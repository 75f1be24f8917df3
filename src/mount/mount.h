/*
 * mount.h — `custody mount ROOT MOUNTPOINT`: a FUSE view of one root in
 * which every open, readdir, write, rename, unlink, mkdir and setattr is a
 * request to custodyd (decided by policy, recorded in the audit ledger),
 * and the bytes of an open file come straight from the root's directory.
 * The reads and writes of one open file are recorded as one event when it
 * is closed (or every few seconds while it stays open). See docs/mount.md.
 */
#ifndef CUSTODY_MOUNT_H
#define CUSTODY_MOUNT_H

#include <stdbool.h>

#include "custody/client.h"

struct mnt_opts {
    const char *root;       /* the root's name */
    const char *mountpoint; /* an existing, empty directory */
    const char *state_dir;  /* for staging files (STATE/tmp) */
    bool allow_nonempty;    /* mount over a directory that has entries */
    bool debug;             /* libfuse's request trace on stderr */
    bool quiet;             /* no mounted/unmounted lines (refusals are still told) */
    /* Roots with a label of this key or value (the audit's sensitive label,
     * "phi" by default) get no kernel caching. NULL: none. */
    const char *sensitive_label;
    /* A new client configured like the command's (one per FUSE thread:
     * libcustody handles are not shared between threads). */
    custody_client_t *(*new_client)(void *arg);
    void *new_client_arg;
};

/* Mounts and serves until unmounted (fusermount3 -u, umount) or SIGTERM /
 * SIGINT, then unmounts. 0, or a negative CUSTODY_E* code with a message
 * on stderr when it could not mount. */
int mnt_run(const struct mnt_opts *opts);

#endif
