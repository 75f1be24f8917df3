/* test_concurrency.c — many writers on one path, readers alongside, root
 * swaps under load. */
#include <pthread.h>

#include "store_test.h"

enum { WRITERS = 8, ROUNDS = 50, BODY = 4096 + 123 };

struct wctx {
    struct fx *f;
    int id;
    int failures;
};

/* Deterministic content per (thread, round): a header plus a fill byte, so a
 * torn file would show mixed fill bytes. */
static void make_body(int id, int round, char *buf)
{
    memset(buf, 'a' + (id * ROUNDS + round) % 26, BODY);
    snprintf(buf, 32, "t%02d r%03d|", id, round);
}

static bool body_valid(const char *data, size_t len)
{
    if (len != BODY) return false;
    int id, round;
    if (sscanf(data, "t%02d r%03d|", &id, &round) != 2) return false;
    if (id < 0 || id >= WRITERS || round < 0 || round >= ROUNDS) return false;
    char want[BODY];
    make_body(id, round, want);
    return memcmp(want, data, BODY) == 0;
}

static void *writer(void *arg)
{
    struct wctx *c = arg;
    char *buf = malloc(BODY);
    for (int r = 0; r < ROUNDS; r++) {
        make_body(c->id, r, buf);
        struct store_writer *w;
        if (store_write_begin(c->f->st, "r", "/shared.bin", &w) != 0) {
            c->failures++;
            continue;
        }
        /* stream in pieces so writers interleave inside their bodies */
        bool ok = true;
        for (size_t off = 0; off < BODY && ok; off += 1000)
            ok = store_write_append(w, buf + off, UTIL_MIN(1000, BODY - off)) == 0;
        struct store_write_result res;
        if (!ok) {
            store_write_abort(w);
            c->failures++;
        } else if (store_write_commit(w, NULL, &res) != 0) {
            c->failures++;
        }
    }
    free(buf);
    return NULL;
}

static volatile int g_stop;

struct rctx {
    struct fx *f;
    int reads, torn, errors;
};

static void *reader(void *arg)
{
    struct rctx *c = arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        int rc;
        size_t n;
        char *d = fx_get(c->f, "/shared.bin", &rc, &n);
        if (rc == 0) {
            c->reads++;
            if (!body_valid(d, n)) c->torn++;
        } else if (rc != CUSTODY_ENOENT) {
            c->errors++;
        }
        free(d);
    }
    return NULL;
}

TEST(store_concurrent_writers_same_file)
{
    struct fx f;
    fx_open(&f, true);
    pthread_t wt[WRITERS], rt[2];
    struct wctx wc[WRITERS];
    struct rctx rc[2];
    g_stop = 0;
    for (int i = 0; i < 2; i++) {
        rc[i] = (struct rctx){&f, 0, 0, 0};
        ASSERT_OK(pthread_create(&rt[i], NULL, reader, &rc[i]));
    }
    for (int i = 0; i < WRITERS; i++) {
        wc[i] = (struct wctx){&f, i, 0};
        ASSERT_OK(pthread_create(&wt[i], NULL, writer, &wc[i]));
    }
    for (int i = 0; i < WRITERS; i++)
        ASSERT_OK(pthread_join(wt[i], NULL));
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        ASSERT_OK(pthread_join(rt[i], NULL));

    for (int i = 0; i < WRITERS; i++)
        ASSERT_EQ(0, wc[i].failures);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(0, rc[i].torn);
        ASSERT_EQ(0, rc[i].errors);
    }
    printf("store_concurrent_writers_same_file: %d + %d reads\n", rc[0].reads, rc[1].reads);

    int r;
    size_t n;
    char *final = fx_get(&f, "/shared.bin", &r, &n);
    ASSERT_OK(r);
    ASSERT(body_valid(final, n));

    struct store_version *v;
    size_t nv;
    ASSERT_OK(store_versions(f.st, "r", "/shared.bin", &v, &nv));
    ASSERT_EQ(WRITERS * ROUNDS, nv);
    for (size_t i = 0; i < nv; i++) {
        ASSERT_EQ((int64_t)i + 1, v[i].id);
        ASSERT_STR_EQ("write", v[i].op);
        ASSERT(v[i].available);
    }
    /* the last version is what is on disk */
    char hex[65];
    fx_sha_hex(final, n, hex);
    ASSERT_STR_EQ(hex, v[nv - 1].sha256);
    free(v);
    free(final);
    ASSERT_EQ(WRITERS * ROUNDS, fx_count_objects(&f));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    char objs[1200];
    fx_path(objs, sizeof objs, f.state, "store/objects");
    ASSERT_EQ(0, fx_count_tmp(objs));
    fx_close(&f);
}

struct sctx {
    struct fx *f;
    int ops;
};

static void *root_swapper(void *arg)
{
    struct sctx *c = arg;
    struct cfg_root a = {.name = (char *)"r", .path = c->f->root};
    struct cfg_root b[] = {{.name = (char *)"other", .path = c->f->outside},
                           {.name = (char *)"r", .path = c->f->root}};
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        if (store_set_roots(c->f->st, (c->ops & 1) ? &a : b, (c->ops & 1) ? 1 : 2, NULL) == 0)
            c->ops++;
    }
    return NULL;
}

static void *mixed_ops(void *arg)
{
    struct sctx *c = arg;
    for (int i = 0; i < 200; i++) {
        char path[64];
        snprintf(path, sizeof path, "/m%d-%d.txt", (int)(intptr_t)pthread_self() & 0xff, i % 5);
        if (fx_puts(c->f, path, "x") == 0) c->ops++;
        struct store_dirent *d;
        size_t n;
        if (store_list(c->f->st, "r", "/", &d, &n, NULL) == 0) store_dirents_free(d, n);
        struct store_handle h;
        if (store_open_read(c->f->st, "r", path, &h) == 0) store_handle_close(&h);
        store_delete(c->f->st, "r", path, NULL);
    }
    return NULL;
}

TEST(store_concurrent_root_swaps)
{
    struct fx f;
    fx_open(&f, true);
    g_stop = 0;
    struct sctx sw = {&f, 0}, m[3] = {{&f, 0}, {&f, 0}, {&f, 0}};
    pthread_t ts, tm[3];
    ASSERT_OK(pthread_create(&ts, NULL, root_swapper, &sw));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(pthread_create(&tm[i], NULL, mixed_ops, &m[i]));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(pthread_join(tm[i], NULL));
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    ASSERT_OK(pthread_join(ts, NULL));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(200, m[i].ops); /* "r" is in every set: never unknown */
    ASSERT(sw.ops > 0);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

static void *distinct_writer(void *arg)
{
    struct wctx *c = arg;
    for (int r = 0; r < 20; r++) {
        char path[64], body[64];
        snprintf(path, sizeof path, "/d%d/f%d", c->id % 3, r);
        snprintf(body, sizeof body, "%d:%d", c->id, r);
        if (fx_puts(c->f, path, body) != 0) c->failures++;
    }
    return NULL;
}

TEST(store_concurrent_writers_many_paths)
{
    struct fx f;
    fx_open(&f, true);
    for (int i = 0; i < 3; i++) {
        char d[16];
        snprintf(d, sizeof d, "/d%d", i);
        ASSERT_OK(store_mkdir(f.st, "r", d, false));
    }
    pthread_t t[6];
    struct wctx c[6];
    for (int i = 0; i < 6; i++) {
        c[i] = (struct wctx){&f, i, 0};
        ASSERT_OK(pthread_create(&t[i], NULL, distinct_writer, &c[i]));
    }
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(pthread_join(t[i], NULL));
        ASSERT_EQ(0, c[i].failures);
    }
    /* two writers share each directory and path: each path has 2 versions */
    struct store_version *v;
    size_t n;
    ASSERT_OK(store_versions(f.st, "r", "/d1/f7", &v, &n));
    ASSERT_EQ(2, n);
    free(v);
    fx_close(&f);
}
