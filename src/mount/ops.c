/*
 * ops.c — the FUSE operations of `custody mount`.
 *
 * Decided and recorded by custodyd: open (read or write; a read may have been
 * decided with the listing, audit.c), create, readdir
 * (a listing), mkdir, rename, unlink, rmdir, truncate, chmod and utimens (as
 * writes); the content of a file opened for writing is sent as one
 * versioned write when it is flushed. Served here without a request:
 * getattr and readlink (metadata the kernel asks for constantly; a listing
 * or an open is what policy decides), and the bytes of an open file.
 * Symbolic and hard links and device nodes cannot be made through the view.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "mount/internal.h"
#include "util/util.h"

#define ID(var, path)                                                                              \
    char var[MNT_ID_MAX];                                                                          \
    mnt_resource(path, var, sizeof var)

static struct mnt_file *file_of(struct fuse_file_info *fi)
{
    return (struct mnt_file *)(uintptr_t)fi->fh;
}

/* Asks custodyd to decide an access to path (and records it). */
static int decide(const char *path, const char *action, const char *phase, int64_t first,
                  int64_t last, uint64_t bytes)
{
    custody_client_t *c = mnt_client();
    if (!c) return -EIO;
    ID(id, path);
    int rc = custody_access(c, id, action, phase, "fuse", first, last, bytes);
    return rc ? mnt_fail(action, path, rc) : 0;
}

static void staged_attr(struct mnt_node *n, struct stat *st)
{
    pthread_mutex_lock(&n->mu);
    fstat(n->fd, st);
    pthread_mutex_unlock(&n->mu);
    st->st_mode = S_IFREG | n->mode;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_nlink = 1;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    struct mnt_file *f = fi ? file_of(fi) : NULL;
    if (f && f->node) {
        staged_attr(f->node, st);
        return 0;
    }
    struct mnt_node *n = mnt_node_find(path);
    if (n) {
        staged_attr(n, st);
        mnt_node_put(n);
        return 0;
    }
    if (f && f->fd >= 0) return fstat(f->fd, st) == 0 ? 0 : -errno;
    int fd = mnt_open_beneath(path, O_PATH);
    if (fd < 0) return fd;
    int rc = fstat(fd, st) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
    int fd = mnt_open_beneath(path, O_PATH);
    if (fd < 0) return fd;
    ssize_t n = readlinkat(fd, "", buf, size - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    if (n >= 0) buf[n] = '\0';
    return rc;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)off;
    (void)fi;
    (void)flags;
    custody_client_t *c = mnt_client();
    if (!c) return -EIO;
    ID(id, path);
    custody_dirent_t *ents = NULL;
    size_t n = 0;
    int truncated = 0;
    int rc = custody_list(c, id, &ents, &n, &truncated);
    if (rc) return mnt_fail("list", path, rc);
    if (truncated)
        fprintf(stderr, "custody mount: %s: custodyd capped the listing at %zu entries\n", id, n);
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    for (size_t i = 0; i < n; i++) {
        struct stat st = {0};
        st.st_mode = ents[i].type == CUSTODY_TYPE_DIR       ? S_IFDIR
                     : ents[i].type == CUSTODY_TYPE_SYMLINK ? S_IFLNK
                                                            : S_IFREG;
        if (fill(buf, ents[i].name, &st, 0, 0)) break;
    }
    mnt_grants_after_listing(path, ents, n);
    custody_dirents_free(ents, n);
    return 0;
}

static struct mnt_file *file_new(const char *path)
{
    struct mnt_file *f = util_calloc(1, sizeof *f);
    f->path = util_strdup(path);
    f->fd = -1;
    f->first = f->last = -1;
    f->reported_ns = util_monotonic_ns();
    pthread_mutex_init(&f->mu, NULL);
    struct mnt *m = mnt_self();
    pthread_mutex_lock(&m->mu);
    f->next = m->files;
    if (m->files) m->files->prev = f;
    m->files = f;
    pthread_mutex_unlock(&m->mu);
    return f;
}

static void file_free(struct mnt_file *f)
{
    struct mnt *m = mnt_self();
    pthread_mutex_lock(&m->mu);
    if (f->prev)
        f->prev->next = f->next;
    else
        m->files = f->next;
    if (f->next) f->next->prev = f->prev;
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_destroy(&f->mu);
    free(f->path);
    free(f);
}

static int open_common(const char *path, struct fuse_file_info *fi, bool create, mode_t mode)
{
    int acc = fi->flags & O_ACCMODE;
    bool writing = create || acc != O_RDONLY;
    /* a read granted with the listing (audit.c) was decided and recorded then */
    int rc = !writing && mnt_granted(path)
                 ? 0
                 : decide(path, writing ? "write" : "read", "open", -1, -1, 0);
    if (rc) return rc;
    struct mnt_file *f = file_new(path);
    if (writing) {
        rc = mnt_node_get(path, create || (fi->flags & O_TRUNC), create, mode, &f->node);
    } else {
        f->fd = mnt_open_beneath(path, O_RDONLY);
        if (f->fd < 0) rc = f->fd;
    }
    if (rc) {
        file_free(f);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)f;
    if (mnt_self()->sensitive) fi->direct_io = 1;
    /* a file open for reading has nothing to send at close(2): no FLUSH
     * round trip (its usage is reported at release) */
    if (!writing) fi->noflush = 1;
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    return open_common(path, fi, false, 0);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    return open_common(path, fi, true, mode);
}

static void account(struct mnt_file *f, off_t off, size_t n)
{
    if (!n) return;
    int64_t a = (int64_t)off, b = (int64_t)off + (int64_t)n - 1;
    if (f->first < 0 || a < f->first) f->first = a;
    if (b > f->last) f->last = b;
    f->bytes += n;
}

/* Queues the reads of a file open for reading since the last report. */
static void report_reads(const char *path, struct mnt_file *f)
{
    if (!f->bytes) return;
    mnt_usage_report(path, f->first, f->last, f->bytes);
    f->first = f->last = -1;
    f->bytes = 0;
    f->reported_ns = util_monotonic_ns();
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct mnt_file *f = file_of(fi);
    int fd = f->node ? f->node->fd : f->fd;
    ssize_t n = pread(fd, buf, size, off);
    if (n < 0) return -errno;
    pthread_mutex_lock(&f->mu);
    account(f, off, (size_t)n);
    if (!f->node && util_monotonic_ns() - f->reported_ns > MNT_REPORT_EVERY_NS)
        report_reads(path, f);
    pthread_mutex_unlock(&f->mu);
    return (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path;
    struct mnt_file *f = file_of(fi);
    if (!f->node) return -EBADF;
    ssize_t n = pwrite(f->node->fd, buf, size, off);
    if (n < 0) return -errno;
    pthread_mutex_lock(&f->node->mu);
    f->node->dirty = true;
    f->node->unwritten = false;
    pthread_mutex_unlock(&f->node->mu);
    return (int)n;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    struct mnt_file *f = file_of(fi);
    return f->node ? mnt_node_commit(f->node, true) : 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    return fs_flush(path, fi);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
    struct mnt_file *f = file_of(fi);
    if (f->node) {
        mnt_node_commit(f->node, false); /* (close(2) already had flush's answer) */
        mnt_node_put(f->node);
    } else {
        pthread_mutex_lock(&f->mu);
        report_reads(path, f);
        pthread_mutex_unlock(&f->mu);
        close(f->fd);
    }
    file_free(f);
    return 0;
}

void mnt_files_close_all(void)
{
    struct mnt *m = mnt_self();
    for (;;) {
        pthread_mutex_lock(&m->mu);
        struct mnt_file *f = m->files;
        pthread_mutex_unlock(&m->mu);
        if (!f) break;
        if (f->node) {
            mnt_node_commit(f->node, false);
            mnt_node_put(f->node);
        } else {
            report_reads(f->path, f); /* its release never came: still recorded */
            close(f->fd);
        }
        file_free(f);
    }
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    struct mnt_file *f = fi ? file_of(fi) : NULL;
    if (f && f->node) {
        pthread_mutex_lock(&f->node->mu);
        int rc = ftruncate(f->node->fd, size) == 0 ? 0 : -errno;
        if (!rc) f->node->dirty = true, f->node->unwritten = false;
        pthread_mutex_unlock(&f->node->mu);
        return rc;
    }
    int rc = decide(path, "write", "open", -1, -1, 0);
    if (rc) return rc;
    struct mnt_node *n;
    if ((rc = mnt_node_get(path, size == 0, false, 0, &n)) != 0) return rc;
    pthread_mutex_lock(&n->mu);
    if (ftruncate(n->fd, size) == 0)
        n->dirty = true;
    else
        rc = -errno;
    pthread_mutex_unlock(&n->mu);
    if (!rc) rc = mnt_node_commit(n, false);
    mnt_node_put(n);
    return rc;
}

/* chmod and utimens change the root's file in place, after a write decision.
 * A file with unsent writes gets its times after the write that sends it
 * (which would reset them); its mode is the staging copy's (fs_chmod). */
static int meta_change(const char *path, const mode_t *mode, const struct timespec ts[2])
{
    int rc = decide(path, "write", "open", -1, -1, 0);
    if (rc) return rc;
    struct mnt_node *n = mnt_node_find(path);
    if (n) {
        pthread_mutex_lock(&n->mu);
        bool pending = n->dirty;
        if (pending && ts) {
            memcpy(n->times, ts, sizeof n->times);
            n->has_times = true;
        }
        pthread_mutex_unlock(&n->mu);
        mnt_node_put(n);
        if (pending) return 0;
    }
    return mnt_chattr(path, mode, ts);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    struct mnt_file *f = fi ? file_of(fi) : NULL;
    if (f && f->node) {
        f->node->mode = mode & 07777;
        return 0;
    }
    return meta_change(path, &mode, NULL);
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    (void)fi;
    return meta_change(path, NULL, tv);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    (void)path;
    (void)uid;
    (void)gid;
    (void)fi;
    return -EPERM;
}

static int fs_mkdir(const char *path, mode_t mode)
{
    (void)mode;
    custody_client_t *c = mnt_client();
    if (!c) return -EIO;
    ID(id, path);
    int rc = custody_mkdir(c, id, 0);
    return rc ? mnt_fail("mkdir", path, rc) : 0;
}

static int remove_entry(const char *path)
{
    custody_client_t *c = mnt_client();
    if (!c) return -EIO;
    ID(id, path);
    int rc = custody_delete(c, id, NULL);
    return rc ? mnt_fail("delete", path, rc) : 0;
}

static int fs_unlink(const char *path)
{
    return remove_entry(path);
}
static int fs_rmdir(const char *path)
{
    return remove_entry(path);
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
    if (flags & RENAME_EXCHANGE) return -EINVAL;
    custody_client_t *c = mnt_client();
    if (!c) return -EIO;
    /* a file still being written goes there first, then moves */
    struct mnt_node *n = mnt_node_find(from);
    if (n) {
        int rc = mnt_node_commit(n, false);
        mnt_node_put(n);
        if (rc) return rc;
    }
    ID(id, from);
    int rc = custody_move(c, id, to, !(flags & RENAME_NOREPLACE));
    if (rc) return mnt_fail("move", from, rc);
    mnt_node_rename(from, to);
    return 0;
}

static int fs_refuse_link(const char *a, const char *b)
{
    (void)a;
    (void)b;
    return -EPERM;
}

static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
    (void)path;
    (void)mode;
    (void)dev;
    return -EPERM;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    return fstatvfs(mnt_self()->rootfd, sv) == 0 ? 0 : -errno;
}

const struct fuse_operations mnt_ops = {
    .init = mnt_init,
    .getattr = fs_getattr,
    .readlink = fs_readlink,
    .mknod = fs_mknod,
    .mkdir = fs_mkdir,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .symlink = fs_refuse_link,
    .rename = fs_rename,
    .link = fs_refuse_link,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .truncate = fs_truncate,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .statfs = fs_statfs,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
    .readdir = fs_readdir,
    .create = fs_create,
    .utimens = fs_utimens,
};
