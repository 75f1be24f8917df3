/*
 * resolve.c — confined path resolution and the small fd-level helpers the
 * rest of the store is built on.
 *
 * Every lookup of a client-supplied path goes through openat2() relative to
 * the root's pinned directory fd with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS:
 * the kernel refuses ".." above the dirfd, absolute symlinks and symlinks that
 * climb out (EXDEV -> CUSTODY_EESCAPE), and /proc magic links (ELOOP), and it
 * does so atomically with the walk, so a component swapped for a symlink
 * between two calls is judged at the time of use. Operations on the last
 * component then use *at() calls on the parent fd with a single name, which
 * never follow a final symlink. There is no fallback: without openat2
 * (ENOSYS) the store refuses to work.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store/internal.h"

int store_openat2(int dirfd, const char *rel, int flags, mode_t mode, uint64_t resolve, int *fd)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(unsigned)flags;
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? (uint64_t)mode : 0;
    how.resolve = resolve;
    for (int tries = 0;; tries++) {
        long r = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
        if (r >= 0) {
            *fd = (int)r;
            return 0;
        }
        int e = errno;
        /* EAGAIN: a concurrent rename/mount raced a ".." check; try again. */
        if ((e == EAGAIN || e == EINTR) && tries < 16) continue;
        if (e == ENOSYS || e == E2BIG) {
            static bool logged;
            if (!__atomic_exchange_n(&logged, true, __ATOMIC_RELAXED))
                log_error("store: openat2 is not available (Linux >= 5.6 required); "
                          "refusing to resolve paths without it");
            return CUSTODY_EUNAVAIL;
        }
        if (e == ENXIO || e == ENODEV)
            return CUSTODY_EPERM; /* a socket, or a device without a driver */
        return custody_err_from_errno(e);
    }
}

const char *store_rel(const char *npath)
{
    return store_is_root_path(npath) ? "." : npath + 1;
}

int store_resolve_open(int rootfd, const char *npath, int flags, int *fd)
{
    return store_openat2(rootfd, store_rel(npath), flags, 0, STORE_RESOLVE_FLAGS, fd);
}

int store_resolve_parent(int rootfd, const char *npath, int *parentfd, const char **name)
{
    if (npath[0] != '/') return CUSTODY_EINVAL;
    if (store_is_root_path(npath))
        return CUSTODY_EPERM; /* the root itself has no parent to act in */
    const char *slash = strrchr(npath, '/');
    size_t plen = (size_t)(slash - npath); /* "/a/b/c" -> "/a/b" */
    char rel[STORE_PATH_MAX];
    if (plen == 0) {
        rel[0] = '.';
        rel[1] = '\0';
    } else {
        if (plen >= sizeof rel) return CUSTODY_ENAMETOOLONG;
        memcpy(rel, npath + 1, plen - 1);
        rel[plen - 1] = '\0';
    }
    int rc = store_openat2(rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, STORE_RESOLVE_FLAGS,
                           parentfd);
    if (rc) return rc;
    *name = slash + 1;
    return 0;
}

int store_open_child_file(int parentfd, const char *name, int *fd, struct stat *sb)
{
    int f;
    int rc =
        store_openat2(parentfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW, 0,
                      STORE_RESOLVE_FLAGS | RESOLVE_NO_SYMLINKS, &f);
    if (rc) return rc;
    if (fstat(f, sb) != 0) {
        rc = custody_err_from_errno(errno);
        close(f);
        return rc;
    }
    if (!S_ISREG(sb->st_mode)) {
        close(f);
        return S_ISDIR(sb->st_mode) ? CUSTODY_EISDIR : CUSTODY_EPERM;
    }
    *fd = f;
    return 0;
}

static struct timespec statx_ts(const struct statx_timestamp *t)
{
    struct timespec ts = {.tv_sec = (time_t)t->tv_sec, .tv_nsec = (long)t->tv_nsec};
    return ts;
}

int store_statx(int dirfd, const char *name, int flags, struct stat *sb, uint64_t *btime_ns)
{
    struct statx sx;
    unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
    *btime_ns = 0;
    if (statx(dirfd, name, flags | AT_STATX_SYNC_AS_STAT, mask, &sx) != 0) {
        if (errno != ENOSYS) return custody_err_from_errno(errno);
        /* no statx (a seccomp filter that predates it): no birth time */
        if (fstatat(dirfd, name, sb, flags) != 0) return custody_err_from_errno(errno);
        return 0;
    }
    memset(sb, 0, sizeof *sb);
    sb->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    sb->st_ino = (ino_t)sx.stx_ino;
    sb->st_mode = sx.stx_mode;
    sb->st_nlink = (nlink_t)sx.stx_nlink;
    sb->st_uid = sx.stx_uid;
    sb->st_gid = sx.stx_gid;
    sb->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
    sb->st_size = (off_t)sx.stx_size;
    sb->st_blksize = (blksize_t)sx.stx_blksize;
    sb->st_blocks = (blkcnt_t)sx.stx_blocks;
    sb->st_atim = statx_ts(&sx.stx_atime);
    sb->st_mtim = statx_ts(&sx.stx_mtime);
    sb->st_ctim = statx_ts(&sx.stx_ctime);
    if (sx.stx_mask & STATX_BTIME) {
        struct timespec bt = statx_ts(&sx.stx_btime);
        int64_t ns = store_ts_ns(&bt);
        *btime_ns = ns > 0 ? (uint64_t)ns : 0;
    }
    return 0;
}

int store_prepare(struct store *st, const char *root, const char *path, char norm[STORE_PATH_MAX],
                  struct store_rootset **rs, int *rootfd)
{
    if (!st || !root || !path) return CUSTODY_EINVAL;
    int rc = store_path_normalize(path, strlen(path), norm, STORE_PATH_MAX);
    if (rc) return rc;
    return store_roots_acquire(st, root, rs, rootfd);
}

int store_tmp_name(char *out, size_t outsz)
{
    uint8_t rnd[8];
    char hex[2 * sizeof rnd + 1];
    if (util_random(rnd, sizeof rnd)) return CUSTODY_EINTERNAL;
    util_hex_encode(rnd, sizeof rnd, hex);
    return util_snprintf(out, outsz, "%s%s", STORE_TMP_PREFIX, hex);
}

bool store_test_no_tmpfile;

int store_tmpfile(int dirfd, int *fd, char *tmpname, size_t tmpsz)
{
    tmpname[0] = '\0';
    int f;
    if (!__atomic_load_n(&store_test_no_tmpfile, __ATOMIC_RELAXED)) {
        f = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (f >= 0) {
            *fd = f;
            return 0;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return custody_err_from_errno(errno);
    }
    for (int tries = 0; tries < 8; tries++) {
        int rc = store_tmp_name(tmpname, tmpsz);
        if (rc) return rc;
        rc = store_openat2(dirfd, tmpname, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600,
                           STORE_RESOLVE_FLAGS | RESOLVE_NO_SYMLINKS, &f);
        if (rc == 0) {
            *fd = f;
            return 0;
        }
        if (rc != CUSTODY_EEXIST) {
            tmpname[0] = '\0';
            return rc;
        }
    }
    tmpname[0] = '\0';
    return CUSTODY_EEXIST;
}

int store_link_tmpfile(int fd, int dirfd, const char *name)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0) return 0;
    int e = errno;
    if (e == ENOENT) { /* no /proc? AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH */
        if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0) return 0;
    }
    return custody_err_from_errno(e);
}

int store_fsync(int fd)
{
    while (fsync(fd) != 0) {
        if (errno != EINTR) return custody_err_from_errno(errno);
    }
    return 0;
}

static int copy_rw(int in, int out, off_t *off_in, off_t *off_out)
{
    enum { BUF = 128 * 1024 };
    char *buf = malloc(BUF);
    if (!buf) return CUSTODY_ENOMEM;
    int rc = 0;
    for (;;) {
        ssize_t n = pread(in, buf, BUF, *off_in);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = custody_err_from_errno(errno);
            break;
        }
        if (n == 0) break;
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t w = pwrite(out, buf + done, (size_t)n - done, *off_out);
            if (w < 0) {
                if (errno == EINTR) continue;
                rc = custody_err_from_errno(errno);
                break;
            }
            done += (size_t)w;
            *off_out += w;
        }
        if (rc) break;
        *off_in += n;
    }
    free(buf);
    return rc;
}

int store_copy_fd(int in, int out, uint64_t *copied)
{
    off_t off_in = 0, off_out = 0;
    for (;;) {
        ssize_t n = copy_file_range(in, &off_in, out, &off_out, (size_t)1 << 30, 0);
        if (n > 0) continue;
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
            errno == EBADF)
            break; /* not supported here: finish with read/write below */
        return custody_err_from_errno(errno);
    }
    /* Also confirms EOF for filesystems whose copy_file_range stops short. */
    int rc = copy_rw(in, out, &off_in, &off_out);
    if (rc) return rc;
    if (copied) *copied = (uint64_t)off_out;
    return 0;
}
