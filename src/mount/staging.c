/*
 * staging.c — files open for writing. A write never touches the root's file
 * in place: the first open for writing makes a staging copy (an unnamed
 * file in STATE/tmp; empty for O_TRUNC and creation), every open of that
 * path shares it (so concurrent writers see each other's bytes, as on a
 * local file system), and a flush (close, fsync) sends it to custodyd as
 * the file's new content: one versioned, audited write that can be rolled
 * back. The copy goes when the last open file using it is released.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mount/internal.h"
#include "util/util.h"

static int staging_file(struct mnt *m)
{
    int fd = open(m->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) fd = memfd_create("custody-staging", MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Copies the root's file at path into fd (nothing when it does not exist). */
static int copy_in(const char *path, int fd, mode_t *mode)
{
    int src = mnt_open_beneath(path, O_RDONLY);
    if (src == -ENOENT) return 0;
    if (src < 0) return src;
    struct stat st;
    int rc = 0;
    if (fstat(src, &st) != 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode))
        rc = -EISDIR;
    if (!rc) *mode = st.st_mode & 07777;
    off_t in = 0, out = 0;
    while (!rc && in < st.st_size) {
        ssize_t n = copy_file_range(src, &in, fd, &out, (size_t)(st.st_size - in), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = -errno;
        if (n == 0) break;
    }
    close(src);
    return rc;
}

/* The node of path, with m->mu held. */
static struct mnt_node *find_locked(struct mnt *m, const char *path)
{
    struct mnt_node *n = m->nodes;
    while (n && strcmp(n->path, path) != 0)
        n = n->next;
    return n;
}

struct mnt_node *mnt_node_find(const char *path)
{
    struct mnt *m = mnt_self();
    pthread_mutex_lock(&m->mu);
    struct mnt_node *n = find_locked(m, path);
    if (n) n->refs++;
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mnt_node_get(const char *path, bool truncate, bool create, mode_t mode, struct mnt_node **out)
{
    struct mnt *m = mnt_self();
    struct mnt_node *n = mnt_node_find(path);
    if (n) {
        if (truncate) {
            pthread_mutex_lock(&n->mu);
            if (ftruncate(n->fd, 0) == 0) n->dirty = n->unwritten = true;
            pthread_mutex_unlock(&n->mu);
        }
        *out = n;
        return 0;
    }
    int fd = staging_file(m);
    if (fd < 0) return fd;
    mode_t fmode = mode & 07777;
    int rc = truncate || create ? 0 : copy_in(path, fd, &fmode);
    if (rc) {
        close(fd);
        return rc;
    }
    n = util_calloc(1, sizeof *n);
    n->path = util_strdup(path);
    n->fd = fd;
    n->refs = 1;
    n->dirty = n->unwritten = truncate || create;
    n->mode = fmode ? fmode : 0644;
    pthread_mutex_init(&n->mu, NULL);
    pthread_mutex_lock(&m->mu);
    struct mnt_node *other = find_locked(m, path);
    if (other) { /* another thread made one meanwhile: use that */
        other->refs++;
        pthread_mutex_unlock(&m->mu);
        close(fd);
        free(n->path);
        free(n);
        *out = other;
        return 0;
    }
    n->next = m->nodes;
    m->nodes = n;
    pthread_mutex_unlock(&m->mu);
    *out = n;
    return 0;
}

void mnt_node_put(struct mnt_node *n)
{
    struct mnt *m = mnt_self();
    if (!n) return;
    pthread_mutex_lock(&m->mu);
    bool last = --n->refs == 0;
    if (last) {
        struct mnt_node **pp = &m->nodes;
        while (*pp && *pp != n)
            pp = &(*pp)->next;
        if (*pp) *pp = n->next;
    }
    pthread_mutex_unlock(&m->mu);
    if (!last) return;
    close(n->fd);
    pthread_mutex_destroy(&n->mu);
    free(n->path);
    free(n);
}

void mnt_node_rename(const char *from, const char *to)
{
    struct mnt *m = mnt_self();
    pthread_mutex_lock(&m->mu);
    struct mnt_node *n = find_locked(m, from);
    if (n) {
        free(n->path);
        n->path = util_strdup(to);
    }
    pthread_mutex_unlock(&m->mu);
}

int mnt_node_commit(struct mnt_node *n, bool flush)
{
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    if (n->dirty && !(flush && n->unwritten)) {
        char id[MNT_ID_MAX], path[PATH_MAX];
        pthread_mutex_lock(&mnt_self()->mu); /* (a rename may change it) */
        mnt_resource(n->path, id, sizeof id);
        util_strlcpy(path, n->path, sizeof path);
        pthread_mutex_unlock(&mnt_self()->mu);
        custody_client_t *c = mnt_client();
        if (!c) {
            rc = -EIO;
        } else if (lseek(n->fd, 0, SEEK_SET) != 0) {
            rc = -errno;
        } else {
            int crc = custody_put_fd(c, id, n->fd, NULL, NULL);
            if (crc)
                rc = mnt_fail("write", path, crc);
            else
                n->dirty = n->unwritten = false;
            if (!crc && n->has_times) { /* a utimens that came while it was unsent */
                mnt_chattr(path, NULL, n->times);
                n->has_times = false;
            }
        }
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}
