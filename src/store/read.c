/*
 * read.c — opening files and directories for reading, and listings.
 *
 * store_open_read is on the GET hot path: a stack-buffer normalisation, a
 * root lookup under a mutex, one openat2 and one statx (an fstat that also
 * gives the birth time); no allocation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"

void store_handle_close(struct store_handle *h)
{
    if (h && h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}

int store_open_read(struct store *st, const char *root, const char *path, struct store_handle *h)
{
    if (!h) return CUSTODY_EINVAL;
    h->fd = -1;
    h->btime_ns = 0;
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
     * below anyway); O_NOCTTY: a terminal never becomes ours. */
    int fd;
    rc = store_resolve_open(rootfd, norm, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, &fd);
    store_roots_release(rs);
    if (rc) return rc;
    if ((rc = store_statx(fd, "", AT_EMPTY_PATH, &h->st, &h->btime_ns))) {
        close(fd);
        return rc;
    }
    if (S_ISREG(h->st.st_mode)) {
        h->type = STORE_FILE;
    } else if (S_ISDIR(h->st.st_mode)) {
        h->type = STORE_DIR;
    } else {
        close(fd);
        return CUSTODY_EPERM; /* FIFO, socket or device */
    }
    h->fd = fd;
    return 0;
}

/* ---- listing ----
 * Names are selected with a bounded max-heap: at most `cap` names are kept
 * (the smallest by strcmp), so a huge directory costs O(cap) memory, and
 * the result is always the first `cap` names in order. */

struct heap {
    char **v;
    size_t n, cap;
};

static void heap_swap(char **a, char **b)
{
    char *t = *a;
    *a = *b;
    *b = t;
}

static void heap_up(struct heap *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (strcmp(h->v[p], h->v[i]) >= 0) break;
        heap_swap(&h->v[p], &h->v[i]);
        i = p;
    }
}

static void heap_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && strcmp(h->v[l], h->v[m]) > 0) m = l;
        if (r < h->n && strcmp(h->v[r], h->v[m]) > 0) m = r;
        if (m == i) return;
        heap_swap(&h->v[m], &h->v[i]);
        i = m;
    }
}

/* Offers a name; returns true when a name was dropped (the list is cut). */
static bool heap_offer(struct heap *h, const char *name)
{
    if (h->n < h->cap) { /* the caller has grown h->v to hold one more */
        h->v[h->n] = util_strdup(name);
        heap_up(h, h->n);
        h->n++;
        return false;
    }
    if (h->cap == 0 || strcmp(name, h->v[0]) >= 0) return true;
    free(h->v[0]);
    h->v[0] = util_strdup(name);
    heap_down(h, 0);
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_dirents_free(struct store_dirent *d, size_t n)
{
    if (!d) return;
    for (size_t i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}

static int list_collect(DIR *dir, struct heap *h, bool *truncated, size_t *vcap)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno) return custody_err_from_errno(errno);
            return 0;
        }
        const char *nm = de->d_name;
        if ((nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) ||
            store_is_tmp_name(nm))
            continue;
        if (h->n == *vcap && h->n < h->cap) {
            *vcap = UTIL_MIN(h->cap, *vcap ? *vcap * 2 : 64);
            h->v = util_realloc(h->v, *vcap * sizeof *h->v);
        }
        if (heap_offer(h, nm)) *truncated = true;
    }
}

static uint64_t ts_ns_clamped(const struct timespec *ts)
{
    int64_t ns = store_ts_ns(ts);
    return ns > 0 ? (uint64_t)ns : 0;
}

/* What the symlink entry e of directory dir (normalised) leads to, resolved
 * from the root as a read would resolve it: an escaping, dangling or looping
 * link gets no target. O_PATH opens nothing (no FIFO wait, no device open). */
static void link_target(int rootfd, const char *dir, struct store_dirent *e)
{
    char rel[STORE_PATH_MAX + STORE_NAME_MAX + 2];
    int fd;
    if (util_snprintf(rel, sizeof rel, "%s/%s", store_rel(dir), e->name) != 0 ||
        store_openat2(rootfd, rel, O_PATH | O_CLOEXEC, 0, STORE_RESOLVE_FLAGS, &fd) != 0)
        return;
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
        e->target_type = store_type_of(sb.st_mode);
        e->target_size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    }
    close(fd);
}

int store_list(struct store *st, const char *root, const char *path, struct store_dirent **out,
               size_t *n, bool *truncated)
{
    if (!out || !n) return CUSTODY_EINVAL;
    *out = NULL;
    *n = 0;
    if (truncated) *truncated = false;
    char norm[STORE_PATH_MAX];
    struct store_rootset *rs;
    int rootfd, fd;
    int rc = store_prepare(st, root, path, norm, &rs, &rootfd);
    if (rc) return rc;
    rc = store_resolve_open(rootfd, norm, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK, &fd);
    if (rc) {
        store_roots_release(rs);
        return rc;
    }
    DIR *dir = fdopendir(fd);
    if (!dir) {
        rc = custody_err_from_errno(errno);
        close(fd);
        store_roots_release(rs);
        return rc;
    }
    struct heap h = {
        NULL, 0, st->opts.list_max_entries ? st->opts.list_max_entries : STORE_LIST_DEFAULT_MAX};
    size_t vcap = 0;
    bool cut = false;
    rc = list_collect(dir, &h, &cut, &vcap);
    if (rc) {
        for (size_t i = 0; i < h.n; i++)
            free(h.v[i]);
        free(h.v);
        closedir(dir);
        store_roots_release(rs);
        return rc;
    }
    if (h.n > 1) qsort(h.v, h.n, sizeof *h.v, name_cmp);
    struct store_dirent *d = util_calloc(h.n ? h.n : 1, sizeof *d);
    size_t k = 0;
    for (size_t i = 0; i < h.n; i++) {
        struct stat sb;
        uint64_t btime;
        if (store_statx(dirfd(dir), h.v[i], AT_SYMLINK_NOFOLLOW, &sb, &btime) != 0) {
            free(h.v[i]); /* vanished meanwhile */
            continue;
        }
        d[k].name = h.v[i];
        d[k].type = store_type_of(sb.st_mode);
        d[k].size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
        d[k].mtime_ns = ts_ns_clamped(&sb.st_mtim);
        d[k].mode = (uint32_t)(sb.st_mode & 07777);
        d[k].atime_ns = ts_ns_clamped(&sb.st_atim);
        d[k].btime_ns = btime;
        if (d[k].type == STORE_SYMLINK) link_target(rootfd, norm, &d[k]);
        k++;
    }
    free(h.v);
    closedir(dir);
    store_roots_release(rs);
    *out = d;
    *n = k;
    if (truncated) *truncated = cut;
    return 0;
}
