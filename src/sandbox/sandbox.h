/*
 * sandbox.h — confinement for `custody run` (src/cli/run_cmd.c): the only
 * path from the agent to a protected root is custody's FUSE view of it.
 *
 *   1. sbx_unshare: the whole run gets a private mount namespace (and, when
 *      not run as root, a user namespace mapping the caller to itself, so no
 *      privilege is needed).
 *   2. sbx_protect records each protected directory (a root's backing
 *      directory, the state directory) before anything is mounted over it.
 *   3. The caller mounts each root's view over the root's real path.
 *   4. sbx_confine, in the agent's process just before exec: a second mount
 *      namespace in which the state directory is covered by an empty
 *      read-only tmpfs (views beneath it are carried over), custodyd's
 *      sockets are covered, every other place the same directories show up
 *      (bind mounts, other mounts of the filesystem) is covered too, the
 *      capabilities that get around a path are dropped, and a Landlock
 *      domain makes all of it stick: a Landlocked process can neither mount
 *      nor unmount, cannot ptrace or signal processes outside its domain,
 *      cannot make device nodes and cannot open block devices.
 *
 * What it cannot confine, and what it needs: docs/run.md.
 */
#ifndef CUSTODY_SANDBOX_H
#define CUSTODY_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/util.h"

#define SBX_PROTECT_MAX 64 /* protected directories in one run */

/* A directory the agent must reach only through custody: identified by its
 * device and inode and by its path within its filesystem, so that other
 * mounts showing it can be found. */
struct sbx_protected {
    char path[PATH_MAX];  /* real path (no symlinks) */
    char fsrel[PATH_MAX]; /* the same directory, relative to its filesystem's root */
    dev_t dev;
    ino_t ino;
};

/* Enters a private mount namespace (propagation off, so nothing mounted
 * here is seen outside). When the caller is not root, first a user
 * namespace in which the caller keeps its uid and gid. *userns says which.
 * 0 or a negative CUSTODY_E* code with the reason in err. */
int sbx_unshare(bool *userns, struct strbuf *err);

/* Fills p for the directory at path (resolved with realpath). Call before
 * anything is mounted over it. */
int sbx_protect(struct sbx_protected *p, const char *path, struct strbuf *err);

/* Rest of path below prefix ("" when equal, NULL when path is not beneath
 * prefix). Both absolute, without trailing slashes except "/". */
const char *sbx_path_below(const char *path, const char *prefix);

/* True when a filesystem whose type starts with fstype ("fuse") is mounted
 * exactly at path in this mount namespace. */
bool sbx_mounted(const char *path, const char *fstype);

struct sbx_confine {
    const struct sbx_protected *prot; /* backing directories and the state directory */
    size_t nprot;
    const char *const *hide_dirs; /* covered by an empty read-only tmpfs (the state dir) */
    size_t nhide_dirs;
    const char *const *hide_files; /* covered by /dev/null (custodyd's sockets) */
    size_t nhide_files;
    const char *const *views; /* mount points of the views (kept when under a hidden dir) */
    size_t nviews;
};

/* Confines the calling process (meant for a child about to exec the agent):
 * a mount namespace of its own with the covers, no capabilities that go
 * around a path, no_new_privs and a Landlock domain. Any failure returns a
 * negative CUSTODY_E* code with the reason: the caller must not exec then. */
int sbx_confine(const struct sbx_confine *c, struct strbuf *err);

/* The Landlock ABI version of the running kernel (0: none). */
int sbx_landlock_abi(void);

#endif
