/*
 * confine.c — namespaces and covers (see sandbox.h for the whole picture).
 *
 * Covers are mounts on top of a path: an empty read-only tmpfs over a
 * directory, /dev/null over a socket. In the agent's mount namespace they
 * are permanent because its Landlock domain forbids unmounting. A view that
 * lives beneath a covered directory (the demo root inside the state
 * directory) is cloned before the cover goes on (open_tree) and moved back
 * on top of it (move_mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/internal.h"

static int fail(struct strbuf *err, int e, const char *what, const char *path)
{
    sb_printf(err, "%s%s%s: %s", what, path ? " " : "", path ? path : "", strerror(e));
    return custody_err_from_errno(e);
}

/* The same for a CUSTODY_E* code (from util and mountinfo.c). */
static int fail_rc(struct strbuf *err, int rc, const char *what, const char *path)
{
    sb_printf(err, "%s%s%s: %s", what, path ? " " : "", path ? path : "", custody_strerror(rc));
    return rc;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n == (ssize_t)strlen(text) ? 0 : n < 0 ? errno : EIO;
    close(fd);
    return -e;
}

int sbx_unshare(bool *userns, struct strbuf *err)
{
    *userns = geteuid() != 0;
    if (*userns) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            return fail(err, errno,
                        "cannot make a user namespace (unprivileged user namespaces off? "
                        "see docs/run.md)",
                        NULL);
        char map[64];
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
        int e = write_file("/proc/self/uid_map", map);
        if (!e) e = write_file("/proc/self/setgroups", "deny\n");
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
        if (!e) e = write_file("/proc/self/gid_map", map);
        if (e) return fail(err, -e, "cannot map ids in the user namespace", NULL);
    } else if (unshare(CLONE_NEWNS) != 0) {
        return fail(err, errno, "unshare(CLONE_NEWNS)", NULL);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return fail(err, errno, "cannot make mounts private", NULL);
    return 0;
}

int sbx_protect(struct sbx_protected *p, const char *path, struct strbuf *err)
{
    memset(p, 0, sizeof *p);
    if (!realpath(path, p->path)) return fail(err, errno, "cannot resolve", path);
    struct stat st;
    if (stat(p->path, &st) != 0) return fail(err, errno, "cannot stat", p->path);
    if (!S_ISDIR(st.st_mode)) return fail(err, ENOTDIR, "not a directory:", p->path);
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    /* the mount holding it: the last (topmost) one with the longest mount
     * point above it on the same device */
    struct sbx_mount *m;
    size_t n, best = SIZE_MAX, bestlen = 0;
    int rc = sbx_mounts_read(&m, &n);
    if (rc) return fail_rc(err, rc, "cannot read /proc/self/mountinfo", NULL);
    for (size_t i = 0; i < n; i++) {
        if (makedev(m[i].major, m[i].minor) != st.st_dev) continue;
        if (!sbx_path_below(p->path, m[i].point)) continue;
        size_t len = strlen(m[i].point);
        if (best == SIZE_MAX || len >= bestlen) best = i, bestlen = len;
    }
    if (best == SIZE_MAX) {
        sbx_mounts_free(m, n);
        return fail(err, ENOENT, "no mount holds", p->path);
    }
    const char *rest = sbx_path_below(p->path, m[best].point);
    const char *r = m[best].root;
    snprintf(p->fsrel, sizeof p->fsrel, "%s%s%s", r, *rest && strcmp(r, "/") != 0 ? "/" : "", rest);
    sbx_mounts_free(m, n);
    return 0;
}

static int cover_dir(const char *path, struct strbuf *err)
{
    if (mount("custody-cover", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=0555,size=16k,nr_inodes=64") != 0)
        return fail(err, errno, "cannot cover", path);
    return 0;
}

static int seal(const char *path, struct strbuf *err)
{
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0)
        return fail(err, errno, "cannot make read-only:", path);
    return 0;
}

/* Covers dir with an empty tmpfs, keeping the views beneath it. */
static int hide_dir(const struct sbx_confine *c, const char *dir, struct strbuf *err)
{
    int keep[SBX_PROTECT_MAX];
    const char *where[SBX_PROTECT_MAX];
    size_t nkeep = 0;
    int rc = 0;
    for (size_t i = 0; i < c->nviews && nkeep < SBX_PROTECT_MAX; i++) {
        const char *rest = sbx_path_below(c->views[i], dir);
        if (!rest || !*rest) continue;
        int fd = open_tree(AT_FDCWD, c->views[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0) {
            rc = fail(err, errno, "cannot hold the view at", c->views[i]);
            goto out;
        }
        keep[nkeep] = fd;
        where[nkeep++] = c->views[i];
    }
    if ((rc = cover_dir(dir, err))) goto out;
    for (size_t i = 0; i < nkeep; i++) {
        if ((rc = util_mkdir_p(where[i], 0555)) != 0) {
            fail_rc(err, rc, "cannot make the mount point of the view", where[i]);
            goto out;
        }
        if (move_mount(keep[i], "", AT_FDCWD, where[i], MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            rc = fail(err, errno, "cannot put back the view at", where[i]);
            goto out;
        }
    }
    rc = seal(dir, err);
out:
    for (size_t i = 0; i < nkeep; i++)
        close(keep[i]);
    return rc;
}

static int hide_file(const char *path, struct strbuf *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : fail(err, errno, "cannot stat", path);
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0)
        return fail(err, errno, "cannot cover", path);
    return 0;
}

/* Every other place a protected directory shows up: mounts of the same
 * filesystem whose root is above it (bind mounts of a parent, a second
 * mount of the device) or inside it (a bind mount of a subdirectory). */
static int hide_elsewhere(const struct sbx_confine *c, struct strbuf *err)
{
    struct sbx_mount *m;
    size_t n;
    int rc = sbx_mounts_read(&m, &n);
    if (rc) return fail_rc(err, rc, "cannot read /proc/self/mountinfo", NULL);
    for (size_t k = 0; !rc && k < c->nprot; k++) {
        const struct sbx_protected *p = &c->prot[k];
        for (size_t i = 0; !rc && i < n; i++) {
            if (makedev(m[i].major, m[i].minor) != p->dev) continue;
            char at[PATH_MAX];
            const char *rest = sbx_path_below(p->fsrel, m[i].root);
            bool inside = !rest && sbx_path_below(m[i].root, p->fsrel);
            if (rest)
                snprintf(at, sizeof at, "%s%s%s", m[i].point,
                         *rest && strcmp(m[i].point, "/") != 0 ? "/" : "", rest);
            else if (inside)
                util_strlcpy(at, m[i].point, sizeof at);
            else
                continue;
            struct stat st;
            if (stat(at, &st) != 0 || st.st_dev != p->dev) continue; /* shadowed */
            if (!inside && st.st_ino != p->ino) continue;
            rc = S_ISDIR(st.st_mode) ? cover_dir(at, err) : hide_file(at, err);
            if (!rc && S_ISDIR(st.st_mode)) rc = seal(at, err);
        }
    }
    sbx_mounts_free(m, n);
    return rc;
}

/* Capabilities that reach files without a path (open_by_handle_at, raw
 * I/O), change mounts, or trace other processes: dropped for good, which
 * matters when the agent runs as root. */
static int drop_caps(struct strbuf *err)
{
    static const int drop[] = {CAP_SYS_ADMIN,  CAP_DAC_READ_SEARCH, CAP_SYS_RAWIO,  CAP_SYS_PTRACE,
                               CAP_SYS_MODULE, CAP_MKNOD,           CAP_SYS_CHROOT, CAP_SETFCAP,
                               CAP_SYS_BOOT,   CAP_LINUX_IMMUTABLE, CAP_BPF,        CAP_PERFMON};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(drop); i++)
        if (prctl(PR_CAPBSET_DROP, drop[i], 0, 0, 0) != 0 && errno != EINVAL)
            return fail(err, errno, "cannot drop a capability from the bounding set", NULL);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return fail(err, errno, "capget", NULL);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(drop); i++) {
        unsigned w = (unsigned)drop[i] / 32, bit = 1u << ((unsigned)drop[i] % 32);
        d[w].effective &= ~bit;
        d[w].permitted &= ~bit;
        d[w].inheritable &= ~bit;
    }
    if (syscall(SYS_capset, &h, d) != 0) return fail(err, errno, "capset", NULL);
    return 0;
}

int sbx_confine(const struct sbx_confine *c, struct strbuf *err)
{
    if (unshare(CLONE_NEWNS) != 0) return fail(err, errno, "unshare(CLONE_NEWNS)", NULL);
    int rc = 0;
    for (size_t i = 0; !rc && i < c->nhide_dirs; i++) {
        bool under_other = false; /* then its cover hides this one too */
        for (size_t j = 0; j < c->nhide_dirs && !under_other; j++) {
            const char *rest = sbx_path_below(c->hide_dirs[i], c->hide_dirs[j]);
            under_other = j != i && rest && *rest;
        }
        if (!under_other) rc = hide_dir(c, c->hide_dirs[i], err);
    }
    for (size_t i = 0; !rc && i < c->nhide_files; i++)
        rc = hide_file(c->hide_files[i], err);
    if (!rc) rc = hide_elsewhere(c, err);
    /* a working directory inside a covered path still points beneath the
     * cover: take it again by name */
    char cwd[PATH_MAX];
    if (!rc && getcwd(cwd, sizeof cwd) && chdir(cwd) != 0) rc = fail(err, errno, "chdir", cwd);
    if (!rc) rc = drop_caps(err);
    if (!rc) rc = sbx_landlock_enforce(err);
    return rc;
}
