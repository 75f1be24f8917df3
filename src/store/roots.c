/*
 * roots.c — the active root set.
 *
 * Each root is pinned as an O_PATH directory fd when the set is built, so a
 * root renamed or replaced later keeps pointing at the directory that was
 * configured. The set is an immutable snapshot with a reference count: a
 * request takes a reference (under roots_lock, briefly) and keeps using its
 * snapshot even if store_set_roots swaps in a new one meanwhile; the last
 * reference closes the fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/crypt.h"

static void rootset_free(struct store_rootset *rs)
{
    if (!rs) return;
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->roots[i].fd >= 0) close(rs->roots[i].fd);
        free(rs->roots[i].name);
        free(rs->roots[i].path);
    }
    free(rs->roots);
    free(rs);
}

void store_roots_release(struct store_rootset *rs)
{
    if (rs && __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) == 0) rootset_free(rs);
}

static int root_cmp(const void *a, const void *b)
{
    const struct store_root *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static const struct store_root *rootset_find(const struct store_rootset *rs, const char *name)
{
    size_t lo = 0, hi = rs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, rs->roots[mid].name);
        if (c == 0) return &rs->roots[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int store_roots_acquire(struct store *st, const char *root, struct store_rootset **out, int *rootfd)
{
    if (!root) return CUSTODY_ENOROOT;
    pthread_mutex_lock(&st->roots_lock);
    struct store_rootset *rs = st->roots;
    const struct store_root *r = rs ? rootset_find(rs, root) : NULL;
    if (r) __atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&st->roots_lock);
    if (!r) return CUSTODY_ENOROOT;
    *out = rs;
    *rootfd = r->fd;
    return 0;
}

static void report(struct strbuf *err, const char *name, const char *fmt, const char *detail)
{
    log_warn("store: root %s: %s%s", name, fmt, detail ? detail : "");
    if (err) sb_printf(err, "root %s: %s%s\n", name, fmt, detail ? detail : "");
}

int store_set_roots(struct store *st, const struct cfg_root *roots, size_t n, struct strbuf *err)
{
    if (!st || (n && !roots)) return CUSTODY_EINVAL;
    struct store_rootset *rs = util_calloc(1, sizeof *rs);
    rs->refs = 1;
    rs->roots = util_calloc(n ? n : 1, sizeof *rs->roots);
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_root *c = &roots[i];
        const char *name = c->name ? c->name : "(null)";
        if (!c->name || !store_root_name_valid(c->name, strlen(c->name))) {
            report(err, name, "invalid root name", NULL);
            bad = true;
            continue;
        }
        if (!c->path || c->path[0] != '/') {
            report(err, name, "path must be absolute", NULL);
            bad = true;
            continue;
        }
        int fd = open(c->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: %s", c->path, strerror(errno));
            report(err, name, "cannot open directory ", msg);
            bad = true;
            continue;
        }
        struct store_root *r = &rs->roots[rs->n++];
        r->name = util_strdup(c->name);
        r->path = util_strdup(c->path);
        r->fd = fd;
        r->order = i;
        r->encrypt = store_crypt_label_match(
            c->labels, c->nlabels, st->crypt ? st->crypt->label : STORE_CRYPT_DEFAULT_LABEL);
    }
    if (rs->n > 1) qsort(rs->roots, rs->n, sizeof *rs->roots, root_cmp);
    /* drop later definitions of a name (sorted next to the first one) */
    size_t k = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct store_root *r = &rs->roots[i];
        if (k > 0 && strcmp(rs->roots[k - 1].name, r->name) == 0) {
            report(err, r->name, "defined more than once", NULL);
            bad = true;
            close(r->fd);
            free(r->name);
            free(r->path);
            continue;
        }
        rs->roots[k++] = *r;
    }
    rs->n = k;

    pthread_mutex_lock(&st->roots_lock);
    struct store_rootset *old = st->roots;
    st->roots = rs;
    pthread_mutex_unlock(&st->roots_lock);
    store_roots_release(old);
    return bad ? CUSTODY_ECONFIG : 0;
}

bool store_root_encrypted(struct store *st, const char *root)
{
    if (!root) return true;
    pthread_mutex_lock(&st->roots_lock);
    const struct store_root *r = st->roots ? rootset_find(st->roots, root) : NULL;
    bool enc = r ? r->encrypt : true;
    pthread_mutex_unlock(&st->roots_lock);
    return enc;
}

bool store_has_root(struct store *st, const char *root)
{
    struct store_rootset *rs;
    int fd;
    if (!st || store_roots_acquire(st, root, &rs, &fd) != 0) return false;
    store_roots_release(rs);
    return true;
}

void store_roots_shutdown(struct store *st)
{
    pthread_mutex_lock(&st->roots_lock);
    struct store_rootset *old = st->roots;
    st->roots = NULL;
    pthread_mutex_unlock(&st->roots_lock);
    store_roots_release(old);
}
