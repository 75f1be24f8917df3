/*
 * faultfs.c — a TEST TOOL, not part of custody: a tiny libfuse3 passthrough
 * file system whose writes can be switched off while it stays mounted.
 *
 *   FAULTFS_CONTROL=/path/mode faultfs BACKING_DIR MOUNTPOINT [fuse options]
 *
 * MOUNTPOINT mirrors BACKING_DIR. Before every mutating operation (create,
 * open for writing, write, fsync of a writable file or of a directory, mkdir,
 * unlink, rmdir, rename, truncate, chmod, utimens, fallocate) the control
 * file is read: "erofs" fails the operation with EROFS, "eio" with EIO,
 * "fsync-eio" fails only fsync (EIO, as after a write-back error);
 * anything else (or no file) passes it through. Reads always work. This is
 * how the integration tests make a real file system go read-only or start
 * failing under a running custodyd, then heal, without a remount.
 * Writes are not cached by the kernel (no writeback cache), so each write(2)
 * of the program under test reaches this process and sees the current mode.
 */
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

static int backing = -1;          /* fd of BACKING_DIR */
static const char *control;       /* FAULTFS_CONTROL, may be NULL */

/* what the control file says now: 0 (pass through), or -EROFS / -EIO for
 * every mutating operation ("erofs", "eio"), or 1 for "fsync-eio": writes
 * work but fsync fails with EIO (a write-back error) */
static int mode(void) {
    if (!control)
        return 0;
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    if (strncmp(buf, "erofs", 5) == 0)
        return -EROFS;
    if (strncmp(buf, "eio", 3) == 0)
        return -EIO;
    if (strncmp(buf, "fsync-eio", 9) == 0)
        return 1;
    return 0;
}

/* 0, or the negative errno a mutating operation must fail with now */
static int fault(void) {
    int m = mode();
    return m < 0 ? m : 0;
}

/* the same for fsync */
static int sync_fault(void) {
    int m = mode();
    return m == 1 ? -EIO : m;
}

/* the FUSE path ("/a/b") relative to the backing directory ("a/b", "." for "/") */
static const char *rel(const char *path) {
    while (*path == '/')
        path++;
    return *path ? path : ".";
}

static int err(int rc) { return rc < 0 ? -errno : rc; }

/* fi->fh holds the backing fd, and whether it was opened for writing (the
 * kernel does not pass the open flags along with fsync) */
#define WRITABLE (1ull << 32)
#define FD(fi) ((int)((fi)->fh & 0xffffffffu))

static uint64_t handle(int fd, int flags) {
    return (uint64_t)fd | ((flags & O_ACCMODE) != O_RDONLY ? WRITABLE : 0);
}

static void *ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    cfg->use_ino = 1;
    cfg->direct_io = 0;
    cfg->hard_remove = 1; /* no .fuse_hidden files: every op on an open file uses its fd */
    cfg->nullpath_ok = 1;
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    return NULL;
}

static int ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    if (fi)
        return err(fstat(FD(fi), st));
    return err(fstatat(backing, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int ff_opendir(const char *path, struct fuse_file_info *fi) {
    int fd = openat(backing, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    int fd = dup(FD(fi));
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    rewinddir(d); /* the whole directory at once (offsets 0): libfuse pages it */
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st = {.st_ino = de->d_ino, .st_mode = (mode_t)DTTOIF(de->d_type)};
        if (fill(buf, de->d_name, &st, 0, 0))
            break;
    }
    closedir(d);
    return 0;
}

static int ff_releasedir(const char *path, struct fuse_file_info *fi) {
    close(FD(fi));
    return 0;
}

static int ff_mkdir(const char *path, mode_t mode) {
    int f = fault();
    return f ? f : err(mkdirat(backing, rel(path), mode));
}

static int ff_unlink(const char *path) {
    int f = fault();
    return f ? f : err(unlinkat(backing, rel(path), 0));
}

static int ff_rmdir(const char *path) {
    int f = fault();
    return f ? f : err(unlinkat(backing, rel(path), AT_REMOVEDIR));
}

static int ff_rename(const char *from, const char *to, unsigned int flags) {
    if (flags)
        return -EINVAL;
    int f = fault();
    return f ? f : err(renameat(backing, rel(from), backing, rel(to)));
}

static int ff_open(const char *path, struct fuse_file_info *fi) {
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        int f = fault();
        if (f)
            return f;
    }
    int fd = openat(backing, rel(path), fi->flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    fi->fh = handle(fd, fi->flags);
    return 0;
}

static int ff_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    int fd = openat(backing, rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    fi->fh = handle(fd, fi->flags);
    return 0;
}

static int ff_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
    ssize_t n = pread(FD(fi), buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int ff_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    ssize_t n = pwrite(FD(fi), buf, size, off);
    return n < 0 ? -errno : (int)n;
}

static int ff_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    if (fi->fh & WRITABLE) {
        int f = sync_fault();
        if (f)
            return f;
    }
    return err(datasync ? fdatasync(FD(fi)) : fsync(FD(fi)));
}

static int ff_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    int f = sync_fault();
    return f ? f : err(fsync(FD(fi)));
}

static int ff_flush(const char *path, struct fuse_file_info *fi) {
    return 0; /* close(2) of one of several duplicated fds: nothing to do */
}

static int ff_release(const char *path, struct fuse_file_info *fi) {
    close(FD(fi));
    return 0;
}

static int ff_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    if (fi)
        return err(ftruncate(FD(fi), size));
    int fd = openat(backing, rel(path), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    int rc = err(ftruncate(fd, size));
    close(fd);
    return rc;
}

static int ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    if (fi)
        return err(fchmod(FD(fi), mode));
    return err(fchmodat(backing, rel(path), mode, 0));
}

static int ff_utimens(const char *path, const struct timespec tv[2],
                      struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    if (fi)
        return err(futimens(FD(fi), tv));
    return err(utimensat(backing, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

static int ff_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi) {
    int f = fault();
    if (f)
        return f;
    return err(fallocate(FD(fi), mode, off, len));
}

static int ff_statfs(const char *path, struct statvfs *st) {
    return err(fstatvfs(backing, st));
}

static const struct fuse_operations ops = {
    .init = ff_init,
    .getattr = ff_getattr,
    .opendir = ff_opendir,
    .readdir = ff_readdir,
    .releasedir = ff_releasedir,
    .mkdir = ff_mkdir,
    .unlink = ff_unlink,
    .rmdir = ff_rmdir,
    .rename = ff_rename,
    .open = ff_open,
    .create = ff_create,
    .read = ff_read,
    .write = ff_write,
    .fsync = ff_fsync,
    .fsyncdir = ff_fsyncdir,
    .flush = ff_flush,
    .release = ff_release,
    .truncate = ff_truncate,
    .chmod = ff_chmod,
    .utimens = ff_utimens,
    .fallocate = ff_fallocate,
    .statfs = ff_statfs,
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: FAULTFS_CONTROL=FILE %s BACKING_DIR MOUNTPOINT [fuse options]\n",
                argv[0]);
        return 2;
    }
    backing = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (backing < 0) {
        perror(argv[1]);
        return 1;
    }
    control = getenv("FAULTFS_CONTROL");
    argv[1] = argv[0]; /* drop BACKING_DIR: fuse_main sees PROG MOUNTPOINT [options] */
    return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
