/* test_prewarm.c — src/loader/prewarm: page-cache warming (each engine, the
 * pread fallback included), residency by mincore, pin/unpin, progress, odd
 * sizes and regions, refused descriptors and options, and the O_DIRECT
 * region reader (contents, alignment, callback stop, fallback). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/prewarm.h"
#include "test.h"

static uint8_t pat(uint64_t i)
{
    return (uint8_t)((i * 131u) ^ (i >> 12));
}

/* Writes `size` bytes of pat() to dir/name, drops it from the page cache and
 * opens it read-only. */
static int mkfile_in(const char *dir, const char *name, uint64_t size, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT(fd >= 0);
    uint8_t buf[65536];
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i);
        ASSERT_EQ((ssize_t)n, write(fd, buf, n));
        off += n;
    }
    ASSERT_OK(fsync(fd));
    ASSERT_OK(close(fd));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ASSERT(fd >= 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    return fd;
}

static int mkfile(const char *name, uint64_t size)
{
    char path[512];
    return mkfile_in(test_tmpdir(), name, size, path, sizeof path);
}

struct prog {
    uint64_t calls, last, total;
    int bad;
};

static void on_prog(void *arg, uint64_t done, uint64_t total)
{
    struct prog *p = arg;
    if (done < p->last || done > total || (p->calls && total != p->total)) p->bad = 1;
    p->calls++;
    p->last = done;
    p->total = total;
}

/* Warms a fresh file of `size` bytes with `engine` and checks everything. */
static void warm_check(uint64_t size, int engine, unsigned depth, size_t chunk)
{
    int fd = mkfile("f.bin", size);
    struct prog pg = {0};
    struct prewarm_opts o = {.engine = engine,
                             .depth = depth,
                             .chunk = chunk,
                             .threads = 3,
                             .progress = on_prog,
                             .progress_arg = &pg};
    struct prewarm_file f = {.fd = fd};
    struct prewarm_stats st;
    struct prewarm_pin *pin = (struct prewarm_pin *)&pg; /* must come back NULL */
    char err[256] = "";
    int rc = prewarm(&f, 1, &o, &st, &pin, err, sizeof err);
    if (rc)
        TEST_FAIL_("prewarm(%" PRIu64 ", %s): %d %s", size, prewarm_engine_name(engine), rc, err);
    ASSERT_NULL(pin);
    ASSERT_EQ(size, st.bytes);
    ASSERT_EQ(size, st.resident_after);
    ASSERT_LE(st.resident_before, size);
    ASSERT(st.engine != PREWARM_ENGINE_AUTO);
    if (engine == PREWARM_ENGINE_AUTO || engine == PREWARM_ENGINE_POPULATE)
        ASSERT_EQ(PREWARM_ENGINE_POPULATE, st.engine);
    if (engine == PREWARM_ENGINE_THREADS) ASSERT_EQ(PREWARM_ENGINE_THREADS, st.engine);
    uint64_t res = 0, fsize = 0;
    ASSERT_OK(prewarm_resident(fd, 0, 0, &res, &fsize, err, sizeof err));
    ASSERT_EQ(size, fsize);
    ASSERT_EQ(size, res);
    ASSERT_EQ(0, pg.bad);
    ASSERT_GE(pg.calls, 1);
    ASSERT_EQ(size, pg.last);
    ASSERT_EQ(size, pg.total);
    /* the caller's file: offset untouched, still not O_DIRECT */
    ASSERT_EQ(0, lseek(fd, 0, SEEK_CUR));
    ASSERT_EQ(0, fcntl(fd, F_GETFL) & O_DIRECT);
    close(fd);
}

TEST(prewarm_page_cache_resident)
{
    warm_check((8u << 20) + 123, PREWARM_ENGINE_AUTO, 0, 0);
}

TEST(prewarm_engines)
{
    const int engines[] = {PREWARM_ENGINE_POPULATE, PREWARM_ENGINE_URING, PREWARM_ENGINE_THREADS};
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++) {
        warm_check((5u << 20) + 4097, engines[i], 0, 0);
        warm_check((3u << 20) + 1, engines[i], 4, 256 << 10); /* several windows of chunks */
    }
    warm_check((6u << 20) + 7, PREWARM_ENGINE_POPULATE, PREWARM_DEPTH_KERNEL, 0);
}

TEST(prewarm_odd_sizes)
{
    const uint64_t sizes[] = {0, 1, 4095, 4096, 4097, (1u << 20) + 1};
    const int engines[] = {PREWARM_ENGINE_POPULATE, PREWARM_ENGINE_URING, PREWARM_ENGINE_THREADS};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t e = 0; e < sizeof engines / sizeof engines[0]; e++)
            warm_check(sizes[s], engines[e], 0, 0);
}

TEST(prewarm_region)
{
    int fd = mkfile("r.bin", (4u << 20) + 10);
    struct prewarm_file f = {.fd = fd, .begin = 5000, .end = (2u << 20) + 3};
    struct prewarm_stats st;
    char err[256];
    ASSERT_OK(prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_EQ(f.end - f.begin, st.bytes);
    ASSERT_EQ(st.bytes, st.resident_after);
    uint64_t res = 0;
    ASSERT_OK(prewarm_resident(fd, f.begin, f.end, &res, NULL, err, sizeof err));
    ASSERT_EQ(f.end - f.begin, res);
    /* an end past the file is clamped; begin == end is empty */
    f.begin = 100;
    f.end = 1ull << 40;
    ASSERT_OK(prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_EQ((4u << 20) + 10 - 100, st.bytes);
    f.begin = f.end = 4096;
    ASSERT_OK(prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_EQ(0, st.bytes);
    close(fd);
}

TEST(prewarm_many_files_progress)
{
    struct prewarm_file f[4];
    uint64_t total = 0;
    const uint64_t sizes[] = {(2u << 20) + 1, 0, 4097, 3u << 20};
    char name[32];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "m%d.bin", i);
        f[i] = (struct prewarm_file){.fd = mkfile(name, sizes[i])};
        total += sizes[i];
    }
    struct prog pg = {0};
    struct prewarm_opts o = {.progress = on_prog, .progress_arg = &pg};
    struct prewarm_stats st;
    char err[256];
    ASSERT_OK(prewarm(f, 4, &o, &st, NULL, err, sizeof err));
    ASSERT_EQ(total, st.bytes);
    ASSERT_EQ(total, st.resident_after);
    ASSERT_EQ(0, pg.bad);
    ASSERT_EQ(total, pg.last);
    ASSERT_EQ(total, pg.total);
    /* nothing to do: one call, (0, 0) */
    struct prog p0 = {0};
    o.progress_arg = &p0;
    ASSERT_OK(prewarm(f, 0, &o, &st, NULL, err, sizeof err));
    ASSERT_EQ(1, p0.calls);
    ASSERT_EQ(0, p0.last);
    for (int i = 0; i < 4; i++)
        close(f[i].fd);
}

/* ASan's mlock interceptor does nothing (it warns once), so VmLck cannot be
 * checked there. */
#if defined(__SANITIZE_ADDRESS__)
#define PW_MLOCK_REAL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_MLOCK_REAL 0
#endif
#endif
#ifndef PW_MLOCK_REAL
#define PW_MLOCK_REAL 1
#endif

/* VmLck of this process in KiB (0 where mlock is not real). */
static uint64_t vm_locked_kib(void)
{
    if (!PW_MLOCK_REAL) return 0;
    FILE *fp = fopen("/proc/self/status", "r");
    ASSERT_NOT_NULL(fp);
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "VmLck: %" SCNu64, &kib) == 1) break;
    fclose(fp);
    return kib;
}

TEST(prewarm_pin_unpin)
{
    /* 1 MiB + 1: within the default 8 MiB RLIMIT_MEMLOCK of unprivileged users */
    const uint64_t size = (1u << 20) + 1;
    int fd = mkfile("p.bin", size);
    struct prewarm_file f = {.fd = fd};
    struct prewarm_opts o = {.target = PREWARM_PINNED};
    struct prewarm_stats st;
    struct prewarm_pin *pin = NULL;
    char err[256] = "";
    uint64_t before = vm_locked_kib();
    int rc = prewarm(&f, 1, &o, &st, &pin, err, sizeof err);
    if (rc) TEST_FAIL_("pinned prewarm: %d %s", rc, err);
    ASSERT_NOT_NULL(pin);
    ASSERT_EQ(size, prewarm_pin_bytes(pin));
    ASSERT_EQ(size, st.resident_after);
    const uint64_t want = PW_MLOCK_REAL ? before + size / 1024 : 0;
    ASSERT_GE(vm_locked_kib(), want);
    /* the pin outlives the caller's descriptor */
    close(fd);
    ASSERT_GE(vm_locked_kib(), want);
    prewarm_unpin(pin);
    ASSERT_EQ(before, vm_locked_kib());
    prewarm_unpin(NULL);
    ASSERT_EQ(0, prewarm_pin_bytes(NULL));

    /* the pinned target needs somewhere to put the handle */
    fd = mkfile("p2.bin", 10);
    f.fd = fd;
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, &st, NULL, err, sizeof err));
    /* a zero-byte file pins nothing, and that is fine */
    int z = mkfile("z.bin", 0);
    struct prewarm_file fz = {.fd = z};
    ASSERT_OK(prewarm(&fz, 1, &o, &st, &pin, err, sizeof err));
    ASSERT_NOT_NULL(pin);
    ASSERT_EQ(0, prewarm_pin_bytes(pin));
    prewarm_unpin(pin);
    close(z);
    close(fd);
}

TEST(prewarm_pin_over_memlock)
{
    /* Unprivileged, mlock is bounded by RLIMIT_MEMLOCK; root (CAP_IPC_LOCK) is
     * not, and then the pin simply works. */
    int fd = mkfile("big.bin", 4u << 20);
    struct rlimit old;
    ASSERT_OK(getrlimit(RLIMIT_MEMLOCK, &old));
    struct rlimit lim = {.rlim_cur = 64 << 10, .rlim_max = old.rlim_max};
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < lim.rlim_cur) lim.rlim_cur = old.rlim_max;
    ASSERT_OK(setrlimit(RLIMIT_MEMLOCK, &lim));
    struct prewarm_file f = {.fd = fd};
    struct prewarm_opts o = {.target = PREWARM_PINNED};
    struct prewarm_pin *pin = NULL;
    char err[256] = "";
    int rc = prewarm(&f, 1, &o, NULL, &pin, err, sizeof err);
    ASSERT_OK(setrlimit(RLIMIT_MEMLOCK, &old));
    if (rc) {
        ASSERT(rc == CUSTODY_ENOMEM || rc == CUSTODY_EPERM);
        ASSERT_NULL(pin);
        ASSERT_STR_CONTAINS(err, "RLIMIT_MEMLOCK");
        ASSERT_STR_CONTAINS(err, "mlock");
    } else {
        ASSERT_NOT_NULL(pin);
        prewarm_unpin(pin);
    }
    close(fd);
}

TEST(prewarm_bad_fds)
{
    char err[256];
    struct prewarm_stats st;
    struct prewarm_file f = {.fd = -1};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "fd -1");
    f.fd = 1000000; /* not open */
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    f.fd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT(f.fd >= 0);
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "not a regular file");
    close(f.fd);
    int p[2];
    ASSERT_OK(pipe(p));
    f.fd = p[0];
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    uint64_t res;
    ASSERT_EQ(CUSTODY_EINVAL, prewarm_resident(p[0], 0, 0, &res, NULL, err, sizeof err));
    close(p[0]);
    close(p[1]);
    char path[512];
    int fd = mkfile_in(test_tmpdir(), "w.bin", 100, path, sizeof path);
    close(fd);
    f.fd = open(path, O_WRONLY | O_CLOEXEC);
    ASSERT(f.fd >= 0);
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, NULL, &st, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "not open for reading");
    ASSERT_EQ(CUSTODY_EINVAL,
              prewarm_read_direct(f.fd, 0, 0, NULL, NULL, NULL, &st, err, sizeof err));
    close(f.fd);
    /* one bad descriptor among good ones refuses the lot before any work */
    struct prewarm_file two[2] = {{.fd = mkfile("g.bin", 10)}, {.fd = -5}};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(two, 2, NULL, &st, NULL, err, sizeof err));
    close(two[0].fd);
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(NULL, 1, NULL, &st, NULL, err, sizeof err));
}

TEST(prewarm_bad_options)
{
    int fd = mkfile("o.bin", 8192);
    struct prewarm_file f = {.fd = fd, .begin = 9000};
    char err[256];
    ASSERT_EQ(CUSTODY_ERANGE, prewarm(&f, 1, NULL, NULL, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "past its end");
    f.begin = 0;
    struct prewarm_opts o = {.target = 7};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, NULL, NULL, err, sizeof err));
    o = (struct prewarm_opts){.engine = 99};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, NULL, NULL, err, sizeof err));
    o = (struct prewarm_opts){.chunk = (size_t)1 << 40};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, NULL, NULL, err, sizeof err));
    o = (struct prewarm_opts){.depth = 100000};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, NULL, NULL, err, sizeof err));
    o = (struct prewarm_opts){.threads = 100000};
    ASSERT_EQ(CUSTODY_EINVAL, prewarm(&f, 1, &o, NULL, NULL, err, sizeof err));
    /* an odd chunk is rounded up to 4 KiB and works */
    o = (struct prewarm_opts){.engine = PREWARM_ENGINE_URING, .chunk = 1000};
    struct prewarm_stats st;
    ASSERT_OK(prewarm(&f, 1, &o, &st, NULL, err, sizeof err));
    ASSERT_EQ(8192, st.resident_after);
    ASSERT_STR_EQ("populate", prewarm_engine_name(PREWARM_ENGINE_POPULATE));
    ASSERT_STR_EQ("threads", prewarm_engine_name(PREWARM_ENGINE_THREADS));
    ASSERT_STR_EQ("auto", prewarm_engine_name(0));
    close(fd);
}

/* ---- prewarm_read_direct ---- */

struct copy {
    uint8_t *dst; /* the file's bytes land at dst[off] */
    uint64_t cap;
    uint64_t blocks, bytes;
    int misaligned;
    int stop_after; /* > 0: fail the block after this many */
    pthread_mutex_t mu;
};

static int copy_block(void *arg, uint64_t off, const void *buf, size_t len)
{
    struct copy *c = arg;
    pthread_mutex_lock(&c->mu); /* the pread fallback calls from several threads */
    int stop = c->stop_after > 0 && c->blocks >= (uint64_t)c->stop_after;
    c->blocks++;
    c->bytes += len;
    if (off % 4096) c->misaligned = 1;
    pthread_mutex_unlock(&c->mu);
    if (stop) return CUSTODY_EIO;
    if (off + len > c->cap)
        c->misaligned = 1;
    else
        memcpy(c->dst + off, buf, len);
    return 0;
}

static int direct_supported(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* Reads [begin, end) of a fresh file of `size` bytes and checks the bytes. */
static void direct_check(const char *dir, uint64_t size, uint64_t begin, uint64_t end, int engine,
                         size_t chunk)
{
    char path[512];
    int fd = mkfile_in(dir, "d.bin", size, path, sizeof path);
    struct copy c = {.cap = size + 8192};
    pthread_mutex_init(&c.mu, NULL);
    c.dst = calloc(1, (size_t)c.cap);
    ASSERT_NOT_NULL(c.dst);
    struct prog pg = {0};
    struct prewarm_opts o = {.engine = engine,
                             .chunk = chunk,
                             .depth = 8,
                             .threads = 4,
                             .progress = on_prog,
                             .progress_arg = &pg};
    struct prewarm_stats st;
    char err[256] = "";
    ASSERT_OK(lseek(fd, 3, SEEK_SET) == 3 ? 0 : -1);
    int rc = prewarm_read_direct(fd, begin, end, &o, copy_block, &c, &st, err, sizeof err);
    if (rc) TEST_FAIL_("read_direct(%" PRIu64 "): %d %s", size, rc, err);
    uint64_t e = end == 0 || end > size ? size : end;
    uint64_t ab = begin / 4096 * 4096, ae = (e + 4095) / 4096 * 4096;
    if (ae > size) ae = size;
    if (begin >= e) ab = ae = 0;
    ASSERT_EQ(ae - ab, st.bytes);
    ASSERT_EQ(ae - ab, c.bytes);
    ASSERT_EQ(0, c.misaligned);
    for (uint64_t i = ab; i < ae; i++)
        if (c.dst[i] != pat(i))
            TEST_FAIL_("byte %" PRIu64 " of %" PRIu64 ": %u, want %u", i, size, c.dst[i], pat(i));
    ASSERT_EQ(direct_supported(path) && ae > ab, st.direct);
    if (engine == PREWARM_ENGINE_THREADS) ASSERT_EQ(PREWARM_ENGINE_THREADS, st.engine);
    ASSERT_EQ(0, pg.bad);
    ASSERT_EQ(ae - ab, pg.last);
    ASSERT_EQ(3, lseek(fd, 0, SEEK_CUR));
    ASSERT_EQ(0, fcntl(fd, F_GETFL) & O_DIRECT);
    free(c.dst);
    pthread_mutex_destroy(&c.mu);
    close(fd);
}

TEST(prewarm_read_direct_contents)
{
    const char *d = test_tmpdir();
    const int engines[] = {PREWARM_ENGINE_AUTO, PREWARM_ENGINE_THREADS};
    for (size_t e = 0; e < 2; e++) {
        direct_check(d, (3u << 20) + 5, 0, 0, engines[e], 0);
        direct_check(d, (3u << 20) + 5, 0, 0, engines[e], 100 << 10);
        direct_check(d, 1, 0, 0, engines[e], 0);
        direct_check(d, 0, 0, 0, engines[e], 0);
        direct_check(d, 4096, 0, 0, engines[e], 0);
        direct_check(d, 12289, 5000, 9000, engines[e], 4096);
        direct_check(d, 1u << 20, 4095, 1u << 30, engines[e], 8192);
    }
}

TEST(prewarm_read_direct_no_page_cache)
{
    /* O_DIRECT leaves nothing behind: why the page-cache target does not use it */
    char path[512];
    int fd = mkfile_in(test_tmpdir(), "n.bin", 2u << 20, path, sizeof path);
    if (!direct_supported(path)) {
        close(fd);
        return;
    }
    struct prewarm_stats st;
    char err[256];
    ASSERT_OK(prewarm_read_direct(fd, 0, 0, NULL, NULL, NULL, &st, err, sizeof err));
    ASSERT_EQ(1, st.direct);
    ASSERT_EQ(2u << 20, st.bytes);
    uint64_t res = 1;
    ASSERT_OK(prewarm_resident(fd, 0, 0, &res, NULL, err, sizeof err));
    ASSERT_LT(res, 2u << 20);
    close(fd);
}

TEST(prewarm_read_direct_callback_stops)
{
    const int engines[] = {PREWARM_ENGINE_AUTO, PREWARM_ENGINE_THREADS};
    for (size_t e = 0; e < 2; e++) {
        int fd = mkfile("s.bin", 1u << 20);
        struct copy c = {.cap = 2u << 20, .stop_after = 2};
        pthread_mutex_init(&c.mu, NULL);
        c.dst = calloc(1, (size_t)c.cap);
        struct prewarm_opts o = {.engine = engines[e], .chunk = 64 << 10, .depth = 4};
        char err[256] = "";
        struct prewarm_stats st = {.bytes = 99};
        ASSERT_EQ(CUSTODY_EIO,
                  prewarm_read_direct(fd, 0, 0, &o, copy_block, &c, &st, err, sizeof err));
        ASSERT_STR_CONTAINS(err, "callback");
        ASSERT_EQ(0, st.bytes);
        ASSERT_LT(c.blocks, 16);
        free(c.dst);
        pthread_mutex_destroy(&c.mu);
        close(fd);
    }
}

TEST(prewarm_read_direct_tmpfs_fallback)
{
    /* tmpfs refuses O_DIRECT on older kernels (6.6+ accept it): either way the
     * bytes arrive, and st.direct says which way they came. */
    struct stat sb;
    if (stat("/dev/shm", &sb) != 0 || !S_ISDIR(sb.st_mode) || access("/dev/shm", W_OK) != 0) return;
    char dir[] = "/dev/shm/custody-prewarm-XXXXXX";
    if (!mkdtemp(dir)) return;
    direct_check(dir, (1u << 20) + 3, 0, 0, PREWARM_ENGINE_AUTO, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/d.bin", dir);
    unlink(path);
    rmdir(dir);
}
