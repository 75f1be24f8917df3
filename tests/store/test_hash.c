/* test_hash.c — content hash, its memory cache and its xattr. */
#include <sys/xattr.h>
#include <time.h>

#include "store_test.h"

static int open_file(struct fx *f, const char *path, struct stat *sb)
{
    struct store_handle h;
    ASSERT_OK(store_open_read(f->st, "r", path, &h));
    *sb = h.st;
    return h.fd;
}

static bool xattrs_supported(const char *dir)
{
    char p[1200];
    fx_path(p, sizeof p, dir, ".xattr-probe");
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    bool ok = fsetxattr(fd, "user.probe", "1", 1, 0) == 0;
    close(fd);
    unlink(p);
    return ok;
}

TEST(store_hash_compute_then_cache_hit)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "h.txt", "hash me");
    struct stat sb;
    int fd = open_file(&f, "/h.txt", &sb);
    char hex[65], want[65];
    fx_sha_hex("hash me", 7, want);
    ASSERT_EQ(CUSTODY_EAGAIN, store_content_hash(f.st, fd, &sb, false, hex));
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    ASSERT_STR_EQ(want, hex);
    close(fd);
    fd = open_file(&f, "/h.txt", &sb); /* fresh stat, as a new request would have */
    memset(hex, 0, sizeof hex);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, false, hex));
    ASSERT_STR_EQ(want, hex);
    close(fd);
    fx_close(&f);
}

TEST(store_hash_modification_invalidates)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "m.txt", "version one");
    struct stat sb;
    char hex[65], want[65];
    int fd = open_file(&f, "/m.txt", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    close(fd);
    /* same size, different content, mtime moves on */
    test_write_file(f.root, "m.txt", "version two");
    fd = open_file(&f, "/m.txt", &sb);
    ASSERT_EQ(CUSTODY_EAGAIN, store_content_hash(f.st, fd, &sb, false, hex));
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    fx_sha_hex("version two", 11, want);
    ASSERT_STR_EQ(want, hex);
    close(fd);
    /* different size */
    test_write_file(f.root, "m.txt", "v3");
    fd = open_file(&f, "/m.txt", &sb);
    ASSERT_EQ(CUSTODY_EAGAIN, store_content_hash(f.st, fd, &sb, false, hex));
    close(fd);
    /* only ctime moves (mtime put back): the memory cache still notices */
    fd = open_file(&f, "/m.txt", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    close(fd);
    fd = open_file(&f, "/m.txt", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, false, hex));
    char p[1200];
    fx_path(p, sizeof p, f.root, "m.txt");
    ASSERT_OK(chmod(p, 0600)); /* ctime changes, content does not */
    struct stat sb2;
    ASSERT_OK(fstat(fd, &sb2));
    int rc = store_content_hash(f.st, fd, &sb2, false, hex);
    /* memory miss; the xattr (size+mtime) still vouches for it, if present */
    ASSERT(rc == 0 || rc == CUSTODY_EAGAIN);
    if (rc == 0) {
        fx_sha_hex("v3", 2, want);
        ASSERT_STR_EQ(want, hex);
    }
    close(fd);
    fx_close(&f);
}

TEST(store_hash_xattr_format_and_restart)
{
    struct fx f;
    fx_open(&f, true);
    if (!xattrs_supported(f.root)) {
        printf("store_hash_xattr_format_and_restart: skipped (no user xattrs)\n");
        fx_close(&f);
        return;
    }
    test_write_file(f.root, "x.txt", "persist me");
    struct stat sb;
    char hex[65], want[65];
    int fd = open_file(&f, "/x.txt", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    fx_sha_hex("persist me", 10, want);
    char v[200], expect[200];
    ssize_t n = fgetxattr(fd, STORE_XATTR_HASH, v, sizeof v - 1);
    ASSERT(n > 0);
    v[n] = '\0';
    snprintf(expect, sizeof expect, "v1 10 %" PRId64 " %s", store_ts_ns(&sb.st_mtim), want);
    ASSERT_STR_EQ(expect, v);
    close(fd);
    char base[512];
    util_strlcpy(base, f.base, sizeof base);
    fx_close(&f);

    fx_open_at(&f, base, true, 100);
    fd = open_file(&f, "/x.txt", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, false, hex)); /* from the xattr */
    ASSERT_STR_EQ(want, hex);
    close(fd);
    fx_close(&f);
}

TEST(store_hash_xattr_validation)
{
    struct fx f;
    fx_open(&f, true);
    if (!xattrs_supported(f.root)) {
        printf("store_hash_xattr_validation: skipped (no user xattrs)\n");
        fx_close(&f);
        return;
    }
    test_write_file(f.root, "y.txt", "content");
    struct stat sb;
    char hex[65], v[200];
    int fd = open_file(&f, "/y.txt", &sb);
    int64_t mt = store_ts_ns(&sb.st_mtim);
    static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
    char bad[11][200];
    snprintf(bad[0], 200, "garbage");
    snprintf(bad[1], 200, "v1 7");
    snprintf(bad[2], 200, "v2 7 %" PRId64 " %s", mt, zeros);
    snprintf(bad[3], 200, "v1 8 %" PRId64 " %s", mt, zeros);     /* wrong size */
    snprintf(bad[4], 200, "v1 7 %" PRId64 "1 %s", mt, zeros);    /* wrong mtime */
    snprintf(bad[5], 200, "v1 7 %" PRId64 " %.63s", mt, zeros);  /* short hash */
    snprintf(bad[6], 200, "v1 -7 %" PRId64 " %s", mt, zeros);    /* signed size */
    snprintf(bad[7], 200, "v1 7 %" PRId64 " %sA", mt, zeros);    /* long hash */
    snprintf(bad[8], 200, "v1 7 %" PRId64 " %.63sg", mt, zeros); /* not hex */
    snprintf(bad[9], 200, "v1  7 %" PRId64 " %s", mt, zeros);    /* double space */
    snprintf(bad[10], 200, "v1 7 %" PRId64 " %s ", mt, zeros);   /* trailing space */
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        ASSERT_OK(fsetxattr(fd, STORE_XATTR_HASH, bad[i], strlen(bad[i]), 0));
        struct stat cur;
        ASSERT_OK(fstat(fd, &cur));
        int rc = store_content_hash(f.st, fd, &cur, false, hex);
        if (rc != CUSTODY_EAGAIN) TEST_FAIL_("xattr \"%s\" was accepted", bad[i]);
    }
    /* a well-formed value matching size and mtime is trusted (the documented
     * trust assumption): whoever can set it could also write the file */
    int len = snprintf(v, sizeof v, "v1 7 %" PRId64 " %s", mt, zeros);
    ASSERT_OK(fsetxattr(fd, STORE_XATTR_HASH, v, (size_t)len, 0));
    struct stat cur;
    ASSERT_OK(fstat(fd, &cur));
    ASSERT_OK(store_content_hash(f.st, fd, &cur, false, hex));
    ASSERT_STR_EQ(zeros, hex);
    close(fd);
    fx_close(&f);
}

TEST(store_hash_rejects_non_files)
{
    struct fx f;
    fx_open(&f, true);
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/", &h));
    char hex[65];
    ASSERT_EQ(CUSTODY_EISDIR, store_content_hash(f.st, h.fd, &h.st, true, hex));
    ASSERT_EQ(CUSTODY_EINVAL, store_content_hash(f.st, -1, &h.st, true, hex));
    store_handle_close(&h);
    fx_close(&f);
}

TEST(store_hash_cache_bounded_many_files)
{
    /* more distinct files than one set holds: entries get evicted, answers
     * stay right */
    struct fx f;
    fx_open(&f, false);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char name[32], content[32];
        snprintf(name, sizeof name, "f%d", i);
        snprintf(content, sizeof content, "content %d", i);
        test_write_file(f.root, name, content);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            char path[32], content[32], want[65], hex[65];
            snprintf(path, sizeof path, "/f%d", i);
            snprintf(content, sizeof content, "content %d", i);
            struct stat sb;
            int fd = open_file(&f, path, &sb);
            ASSERT_OK(store_content_hash(f.st, fd, &sb, round == 0, hex));
            fx_sha_hex(content, strlen(content), want);
            ASSERT_STR_EQ(want, hex);
            close(fd);
        }
    }
    fx_close(&f);
}

TEST(store_hash_hit_is_fast)
{
    /* Not a benchmark: a sanity bound that a hit is a table lookup. */
    struct fx f;
    fx_open(&f, false);
    test_write_file(f.root, "fast", "x");
    struct stat sb;
    char hex[65];
    int fd = open_file(&f, "/fast", &sb);
    ASSERT_OK(store_content_hash(f.st, fd, &sb, true, hex));
    close(fd);
    fd = open_file(&f, "/fast", &sb);
    uint64_t t0 = util_monotonic_ns();
    enum { N = 200000 };
    for (int i = 0; i < N; i++)
        ASSERT_OK(store_content_hash(f.st, fd, &sb, false, hex));
    uint64_t dt = util_monotonic_ns() - t0;
    printf("store_hash_hit_is_fast: %.0f ns per hit\n", (double)dt / N);
    ASSERT_LT(dt / N, 20000); /* generous: 20 us even under sanitizers */
    close(fd);

    t0 = util_monotonic_ns();
    for (int i = 0; i < 20000; i++) {
        struct store_handle h;
        ASSERT_OK(store_open_read(f.st, "r", "/fast", &h));
        ASSERT_OK(store_content_hash(f.st, h.fd, &h.st, false, hex));
        store_handle_close(&h);
    }
    dt = util_monotonic_ns() - t0;
    printf("store_hash_hit_is_fast: %.0f ns per open_read+hash+close\n", (double)dt / 20000);
    fx_close(&f);
}
