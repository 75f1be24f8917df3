/*
 * landlock.c — the Landlock domain of a confined agent (landlock(7)).
 *
 * Being in any Landlock domain already forbids the things that would undo
 * the mount namespace's covers: mount, umount, pivot_root and move_mount
 * fail with EPERM, and ptrace of a process outside the domain (custodyd,
 * the views) is refused, which also closes /proc/PID/root and /proc/PID/fd.
 * On top of that the domain handles these file rights:
 *
 *   - making character and block device nodes: refused everywhere;
 *   - executing, reading, writing, truncating and (ABI 5) device ioctls:
 *     allowed everywhere except on the block devices found under /dev, so a
 *     raw disk read cannot go around the filesystem (matters for agents run
 *     as root; a normal user cannot open them anyway).
 *
 * Landlock grants rights on hierarchies and cannot subtract, so "all but
 * the block devices" is built by granting each entry of / and /dev that
 * is not, and does not lead to, a block device. Directory rights (listing,
 * creating, removing) are not handled: Landlock would then refuse them in
 * every directory above a denied path. The protected directories themselves
 * are out of reach because they are covered (confine.c), not by rules.
 *
 * ABI 6 adds signal scoping: signals to processes outside the domain (the
 * views, custodyd, the user's other programs) are refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/internal.h"

/* Rights newer than the build machine's header may know. */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_SCOPE_SIGNAL (1ULL << 1)  /* ABI 6 */

#define BLOCKDEV_MAX 1024 /* block devices denied */
#define DEV_DEPTH_MAX 4   /* how deep /dev is searched */

/* struct landlock_ruleset_attr as of ABI 6; its size tells the kernel which
 * fields we fill. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int sbx_landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

struct ruleset {
    int fd;
    uint64_t file_rights; /* handled rights that apply to files */
    char *deny[BLOCKDEV_MAX];
    size_t ndeny;
};

static void find_blockdevs(struct ruleset *rs, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) && rs->ndeny < BLOCKDEV_MAX) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = util_path_join(dir, de->d_name);
        struct stat st;
        bool known = lstat(p, &st) == 0;
        if (known && S_ISBLK(st.st_mode)) {
            rs->deny[rs->ndeny++] = p;
            continue;
        }
        if (known && S_ISDIR(st.st_mode) && depth < DEV_DEPTH_MAX) find_blockdevs(rs, p, depth + 1);
        free(p);
    }
    closedir(d);
}

static bool leads_to_denied(const struct ruleset *rs, const char *path, bool *exact)
{
    *exact = false;
    for (size_t i = 0; i < rs->ndeny; i++) {
        const char *rest = sbx_path_below(rs->deny[i], path);
        if (!rest) continue;
        if (!*rest) {
            *exact = true;
            return true;
        }
        return true;
    }
    return false;
}

static int add_rule(struct ruleset *rs, const char *path, struct strbuf *err)
{
    int fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0; /* gone meanwhile: nothing to grant */
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISLNK(st.st_mode)) {
        close(fd);
        return 0; /* a symlink's target is granted (or not) where it lives */
    }
    struct ll_path_beneath pb = {.allowed_access = rs->file_rights, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, rs->fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    int e = errno;
    close(fd);
    if (rc < 0) {
        sb_printf(err, "landlock_add_rule %s: %s", path, strerror(e));
        return custody_err_from_errno(e);
    }
    return 0;
}

/* Grants every entry of dir except the denied ones and those leading to
 * one, which are descended into instead. */
static int grant_beside(struct ruleset *rs, const char *dir, struct strbuf *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        sb_printf(err, "cannot list %s: %s", dir, strerror(errno));
        return custody_err_from_errno(errno);
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = util_path_join(dir, de->d_name);
        bool exact;
        if (!leads_to_denied(rs, p, &exact))
            rc = add_rule(rs, p, err);
        else if (!exact)
            rc = grant_beside(rs, p, err);
        free(p);
    }
    closedir(d);
    return rc;
}

int sbx_landlock_enforce(struct strbuf *err)
{
    int abi = sbx_landlock_abi();
    if (abi < 1) {
        sb_puts(err,
                "this kernel has no Landlock (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK "
                "and landlock in the lsm= list): refusing to run the agent unconfined");
        return CUSTODY_EUNSUPPORTED;
    }
    struct ruleset rs = {.fd = -1};
    rs.file_rights =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
    if (abi >= 3) rs.file_rights |= LL_FS_TRUNCATE;
    if (abi >= 5) rs.file_rights |= LL_FS_IOCTL_DEV;
    struct ll_ruleset_attr attr = {
        .handled_access_fs =
            rs.file_rights | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK,
        .scoped = abi >= 6 ? LL_SCOPE_SIGNAL : 0,
    };
    size_t attr_size = abi >= 6 ? sizeof attr : abi >= 4 ? 16 : 8;
    rs.fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs.fd < 0) {
        sb_printf(err, "landlock_create_ruleset: %s", strerror(errno));
        return custody_err_from_errno(errno);
    }
    find_blockdevs(&rs, "/dev", 0);
    int rc = grant_beside(&rs, "/", err);
    if (!rc && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        sb_printf(err, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        rc = custody_err_from_errno(errno);
    }
    if (!rc && syscall(SYS_landlock_restrict_self, rs.fd, 0) != 0) {
        sb_printf(err, "landlock_restrict_self: %s", strerror(errno));
        rc = custody_err_from_errno(errno);
    }
    close(rs.fd);
    for (size_t i = 0; i < rs.ndeny; i++)
        free(rs.deny[i]);
    return rc;
}
