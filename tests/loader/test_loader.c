/* test_loader.c — the loader core (src/loader): CPU loads of real files
 * (regions, offsets, bytes, refusals, copy-on-write), GPU methods refused
 * cleanly without CUDA, and the GPU rings driven through a fake CUDA runtime
 * that works in host memory (so the piece, alignment and ring logic runs
 * here, without a GPU). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/loader.h"
#include "loader/loader_int.h"
#include "model/model.h"
#include "test.h"

/* The byte at file offset off of file number id: a pattern that differs
 * between files and positions. */
static uint8_t pat(unsigned id, uint64_t off)
{
    uint64_t x = off * 0x9e3779b97f4a7c15ull + id * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56);
}

/* Writes a file of size bytes of pattern id; returns an O_RDONLY fd. */
static int make_file(const char *name, unsigned id, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    uint8_t *buf = malloc(size ? size : 1);
    ASSERT_NOT_NULL(buf);
    for (size_t i = 0; i < size; i++)
        buf[i] = pat(id, i);
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, buf + done, size - done);
        ASSERT(w > 0);
        done += (size_t)w;
    }
    free(buf);
    close(fd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    ASSERT(fd >= 0);
    return fd;
}

static void check_region(const uint8_t *base, unsigned id, uint64_t begin, uint64_t end)
{
    for (uint64_t off = begin; off < end; off++)
        if (base[off - begin] != pat(id, off))
            TEST_FAIL_("file %u byte %" PRIu64 ": %u, want %u", id, off, base[off - begin],
                       pat(id, off));
}

static struct loader_file lf(int fd, uint64_t size, uint64_t begin, uint64_t end)
{
    return (struct loader_file){.fd = fd, .size = size, .begin = begin, .end = end};
}

TEST(loader_cpu_whole_file)
{
    size_t size = 3u << 20;
    int fd = make_file("a.bin", 1, size);
    struct loader_file f = lf(fd, size, 0, size);
    struct loader_result *r = NULL;
    char err[256];
    ASSERT_OK(loader_load(&f, 1, NULL, &r, err, sizeof err));
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(-1, r->device);
    ASSERT_EQ(LOADER_MMAP, r->method);
    ASSERT_EQ(1, r->nfiles);
    ASSERT_EQ(size, r->bytes);
    ASSERT_EQ(size, r->regions[0].len);
    ASSERT_GT(r->ns, 0);
    check_region(r->regions[0].base, 1, 0, size);
    loader_result_free(r);
    close(fd);
}

TEST(loader_cpu_unaligned_region)
{
    size_t size = (5u << 20) + 1234;
    int fd = make_file("b.bin", 2, size);
    struct loader_file f = lf(fd, size, 4097 + 123, size - 77);
    /* small chunks and several threads: many pieces, a partial page at each end */
    struct loader_opts o = {.device = -1, .method = LOADER_MMAP, .threads = 3, .chunk = 12345};
    struct loader_result *r = NULL;
    char err[256];
    ASSERT_OK(loader_load(&f, 1, &o, &r, err, sizeof err));
    ASSERT_EQ(f.end - f.begin, r->regions[0].len);
    ASSERT_EQ(f.end - f.begin, r->bytes);
    check_region(r->regions[0].base, 2, f.begin, f.end);
    /* a tensor at absolute offset off is at base + (off - begin) */
    uint64_t off = 3000000;
    ASSERT_EQ(pat(2, off), ((uint8_t *)r->regions[0].base)[off - f.begin]);
    loader_result_free(r);
    close(fd);
}

TEST(loader_cpu_touch_fallback)
{
    size_t size = (2u << 20) + 999;
    int fd = make_file("t.bin", 3, size);
    loader_cpu_force_touch_(1);
    struct loader_file f = lf(fd, size, 7, size - 1);
    struct loader_opts o = {.device = -1, .threads = 2, .chunk = 65536};
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(&f, 1, &o, &r, NULL, 0));
    check_region(r->regions[0].base, 3, f.begin, f.end);
    loader_result_free(r);
    loader_cpu_force_touch_(0);
    close(fd);
}

TEST(loader_cpu_empty_regions)
{
    int fd = make_file("e.bin", 4, 10000);
    int fd0 = make_file("zero.bin", 5, 0);
    struct loader_file f[3] = {lf(fd, 10000, 500, 500), lf(fd0, 0, 0, 0), lf(fd, 10000, 0, 1)};
    struct loader_result *r = NULL;
    char err[256];
    ASSERT_OK(loader_load(f, 3, NULL, &r, err, sizeof err));
    ASSERT_EQ(3, r->nfiles);
    ASSERT_NULL(r->regions[0].base);
    ASSERT_EQ(0, r->regions[0].len);
    ASSERT_NULL(r->regions[1].base);
    ASSERT_EQ(0, r->regions[1].len);
    ASSERT_EQ(1, r->regions[2].len);
    ASSERT_EQ(pat(4, 0), *(uint8_t *)r->regions[2].base);
    ASSERT_EQ(1, r->bytes);
    loader_result_free(r);
    close(fd);
    close(fd0);
}

TEST(loader_cpu_zero_files)
{
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(NULL, 0, NULL, &r, NULL, 0));
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(0, r->nfiles);
    ASSERT_EQ(0, r->bytes);
    ASSERT_EQ(LOADER_MMAP, r->method);
    loader_result_free(r);
    loader_result_free(NULL);
}

/* loader_load must refuse with code rc, leave *out NULL and say something. */
static void expect_refused(const struct loader_file *f, size_t n, const struct loader_opts *o,
                           int rc, const char *want)
{
    struct loader_result *r = (struct loader_result *)(uintptr_t)1;
    char err[256] = "";
    int got = loader_load(f, n, o, &r, err, sizeof err);
    if (got != rc) TEST_FAIL_("rc %d (%s), want %d", got, err, rc);
    ASSERT_NULL(r);
    ASSERT(err[0] != '\0');
    if (want) ASSERT_STR_CONTAINS(err, want);
}

TEST(loader_cpu_refusals)
{
    int fd = make_file("r.bin", 6, 4096);
    struct loader_file f;
    f = lf(fd, 4096, 0, 4097); /* end > size */
    expect_refused(&f, 1, NULL, CUSTODY_ERANGE, "does not fit");
    f = lf(fd, 4096, 100, 50); /* begin > end */
    expect_refused(&f, 1, NULL, CUSTODY_ERANGE, "does not fit");
    f = lf(fd, 8192, 0, 8192); /* size larger than the file: mapping would SIGBUS */
    expect_refused(&f, 1, NULL, CUSTODY_ERANGE, "the file has 4096 bytes");
    f = lf(-1, 4096, 0, 4096); /* bad fd */
    expect_refused(&f, 1, NULL, CUSTODY_EINVAL, "bad descriptor");
    int closed = dup(fd);
    close(closed);
    f = lf(closed, 4096, 0, 4096);
    expect_refused(&f, 1, NULL, CUSTODY_EINVAL, "bad descriptor");
    int dfd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY);
    ASSERT(dfd >= 0);
    f = lf(dfd, 0, 0, 0);
    expect_refused(&f, 1, NULL, CUSTODY_EINVAL, "not a regular file");
    close(dfd);
    /* the second of two files is bad: nothing is left mapped */
    struct loader_file two[2] = {lf(fd, 4096, 0, 4096), lf(fd, 4096, 0, 5000)};
    expect_refused(two, 2, NULL, CUSTODY_ERANGE, "file 1");
    expect_refused(NULL, 1, NULL, CUSTODY_EINVAL, "NULL");
    expect_refused(two, LOADER_MAX_FILES + 1, NULL, CUSTODY_ETOOBIG, "too many");
    f = lf(fd, 4096, 0, 4096);
    struct loader_opts o = {.device = -1, .method = 99};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "unknown method");
    o = (struct loader_opts){.device = -2};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "bad device");
    o = (struct loader_opts){.device = 0, .method = LOADER_MMAP};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "CPU memory only");
    o = (struct loader_opts){.device = -1, .method = LOADER_PINNED_RING};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "needs a CUDA device");
    o = (struct loader_opts){.device = -1, .threads = 100000};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "out of range");
    ASSERT_EQ(CUSTODY_EINVAL, loader_load(&f, 1, NULL, NULL, NULL, 0));
    close(fd);
}

TEST(loader_cpu_many_files)
{
    enum { N = 40 };
    int fds[N];
    struct loader_file f[N];
    for (unsigned i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%u.bin", i);
        size_t size = 1000 + (size_t)i * 37011;
        fds[i] = make_file(name, 100 + i, size);
        uint64_t b = i % 3 ? (uint64_t)i * 13 : 0;
        uint64_t e = i % 4 ? size - i : size;
        f[i] = lf(fds[i], size, b, e);
    }
    struct loader_opts o = {.device = -1, .threads = 4, .chunk = 4096};
    struct loader_result *r = NULL;
    char err[256];
    ASSERT_OK(loader_load(f, N, &o, &r, err, sizeof err));
    uint64_t sum = 0;
    for (unsigned i = 0; i < N; i++) {
        ASSERT_EQ(f[i].end - f[i].begin, r->regions[i].len);
        check_region(r->regions[i].base, 100 + i, f[i].begin, f[i].end);
        sum += f[i].end - f[i].begin;
    }
    ASSERT_EQ(sum, r->bytes);
    /* the descriptors can go: the mappings keep the files */
    for (unsigned i = 0; i < N; i++)
        close(fds[i]);
    check_region(r->regions[N - 1].base, 100 + N - 1, f[N - 1].begin, f[N - 1].end);
    loader_result_free(r);
}

TEST(loader_cpu_private_writes)
{
    size_t size = 1u << 20;
    int fd = make_file("w.bin", 7, size);
    struct loader_file f = lf(fd, size, 100, size);
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(&f, 1, NULL, &r, NULL, 0));
    uint8_t *p = r->regions[0].base;
    /* writing must not crash (DLPack consumers write) and must not reach the file */
    memset(p, 0xAB, 8192);
    p[size - 101] = (uint8_t)~pat(7, size - 1);
    ASSERT_EQ(0xAB, p[0]);
    uint8_t back[8192];
    ASSERT_EQ((ssize_t)sizeof back, pread(fd, back, sizeof back, 100));
    for (size_t i = 0; i < sizeof back; i++)
        ASSERT_EQ(pat(7, 100 + i), back[i]);
    /* a second load sees the file, not the first one's private pages */
    struct loader_result *r2 = NULL;
    ASSERT_OK(loader_load(&f, 1, NULL, &r2, NULL, 0));
    check_region(r2->regions[0].base, 7, 100, size);
    loader_result_free(r2);
    loader_result_free(r);
    close(fd);
}

TEST(loader_region_read_host)
{
    size_t size = 100000;
    int fd = make_file("rr.bin", 8, size);
    struct loader_file f = lf(fd, size, 10, 90010);
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(&f, 1, NULL, &r, NULL, 0));
    uint8_t buf[100];
    char err[256];
    ASSERT_OK(loader_region_read(r, 0, 500, buf, sizeof buf, err, sizeof err));
    for (size_t i = 0; i < sizeof buf; i++)
        ASSERT_EQ(pat(8, 510 + i), buf[i]);
    ASSERT_EQ(CUSTODY_ERANGE, loader_region_read(r, 0, 89950, buf, 51, err, sizeof err));
    ASSERT_OK(loader_region_read(r, 0, 89950, buf, 50, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, loader_region_read(r, 1, 0, buf, 1, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, loader_region_read(NULL, 0, 0, buf, 1, err, sizeof err));
    loader_result_free(r);
    close(fd);
}

/* A safetensors file through src/model: the region is first tensor .. last
 * tensor's end, and each tensor is at base + (offset - begin). */
TEST(loader_cpu_safetensors_tensors)
{
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[12,22]},"
                       "\"c\":{\"dtype\":\"U8\",\"shape\":[7],\"data_offsets\":[22,29]}}";
    size_t jl = strlen(json), n = (jl + 7) / 8 * 8, size = 8 + n + 29;
    uint8_t *buf = calloc(1, size);
    ASSERT_NOT_NULL(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, jl);
    memset(buf + 8 + jl, ' ', n - jl);
    for (size_t i = 0; i < 29; i++)
        buf[8 + n + i] = (uint8_t)(200 + i);
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", test_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ((ssize_t)size, write(fd, buf, size));
    struct model_header h;
    char err[256];
    ASSERT_OK(model_parse_fd(fd, &h, err, sizeof err));
    ASSERT_EQ(3, h.ntensors);
    uint64_t begin = h.tensors[0].offset;
    uint64_t end = h.tensors[2].offset + h.tensors[2].nbytes;
    struct loader_file f = lf(fd, size, begin, end);
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(&f, 1, NULL, &r, err, sizeof err));
    for (size_t t = 0; t < h.ntensors; t++) {
        const uint8_t *p = (const uint8_t *)r->regions[0].base + (h.tensors[t].offset - begin);
        ASSERT_MEM_EQ(buf + h.tensors[t].offset, p, h.tensors[t].nbytes);
    }
    loader_result_free(r);
    model_header_free(&h);
    free(buf);
    close(fd);
}

/* ---- GPU ---- */

TEST(loader_gpu_refused_without_cuda)
{
    setenv("CUSTODY_CUDART", "/nonexistent/libcudart.so", 1);
    int ndev = -1;
    char err[1024] = "";
    int rc = loader_cuda_probe(&ndev, err, sizeof err);
    if (rc == 0) {
        /* a machine with CUDA: nothing to refuse (the fake tests cover the rings) */
        fprintf(stderr, "CUDA present (%d devices): refusal not tested\n", ndev);
        return;
    }
    ASSERT_EQ(CUSTODY_EUNSUPPORTED, rc);
    ASSERT_EQ(0, ndev);
    ASSERT_STR_CONTAINS(err, "libcudart");
    int fd = make_file("g.bin", 9, 8192);
    struct loader_file f = lf(fd, 8192, 0, 8192);
    int methods[] = {LOADER_AUTO, LOADER_PINNED_RING, LOADER_DIRECT_RING, LOADER_CUFILE};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct loader_opts o = {.device = 0, .method = methods[i]};
        expect_refused(&f, 1, &o, CUSTODY_EUNSUPPORTED, "libcudart");
    }
    loader_gpu_release(); /* nothing kept: a no-op */
    close(fd);
}

/* A fake CUDA runtime in host memory: copies happen at once, events and
 * streams are tokens. Counts what it is asked, and can fail a copy. */
static atomic_long fk_allocs, fk_hostallocs, fk_copies, fk_events_waited;
static atomic_long fk_fail_copy_at = -1;
static atomic_long fk_cufile_reads;

static cudaError_t fk_count(int *n)
{
    *n = 1;
    return 0;
}
static cudaError_t fk_getdev(int *d)
{
    *d = 0;
    return 0;
}
static cudaError_t fk_setdev(int d)
{
    return d == 0 ? 0 : 101; /* cudaErrorInvalidDevice */
}
static cudaError_t fk_malloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (!*p) return 2;
    memset(*p, 0xEE, n); /* garbage: bytes the loader does not write stay wrong */
    atomic_fetch_add(&fk_allocs, 1);
    return 0;
}
static cudaError_t fk_free(void *p)
{
    free(p);
    atomic_fetch_sub(&fk_allocs, 1);
    return 0;
}
static cudaError_t fk_hostalloc(void **p, size_t n, unsigned flags)
{
    (void)flags;
    *p = malloc(n);
    if (!*p) return 2;
    atomic_fetch_add(&fk_hostallocs, 1);
    return 0;
}
static cudaError_t fk_freehost(void *p)
{
    free(p);
    atomic_fetch_sub(&fk_hostallocs, 1);
    return 0;
}
static cudaError_t fk_stream_create(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    *s = (cudaStream_t)malloc(1);
    return 0;
}
static cudaError_t fk_stream_destroy(cudaStream_t s)
{
    free(s);
    return 0;
}
static cudaError_t fk_stream_sync(cudaStream_t s)
{
    (void)s;
    return 0;
}
static cudaError_t fk_memcpy_async(void *d, const void *s, size_t n, int kind, cudaStream_t st)
{
    (void)st;
    if (kind != 1) return 21; /* cudaErrorInvalidMemcpyDirection */
    long c = atomic_fetch_add(&fk_copies, 1);
    if (c == atomic_load(&fk_fail_copy_at)) return 700; /* cudaErrorIllegalAddress */
    memcpy(d, s, n);
    return 0;
}
static cudaError_t fk_memcpy(void *d, const void *s, size_t n, int kind)
{
    if (kind != 2) return 21;
    memcpy(d, s, n);
    return 0;
}
static cudaError_t fk_event_create(cudaEvent_t *e, unsigned flags)
{
    (void)flags;
    *e = (cudaEvent_t)malloc(1);
    return 0;
}
static cudaError_t fk_event_destroy(cudaEvent_t e)
{
    free(e);
    return 0;
}
static cudaError_t fk_event_record(cudaEvent_t e, cudaStream_t s)
{
    (void)e, (void)s;
    return 0;
}
static cudaError_t fk_event_sync(cudaEvent_t e)
{
    (void)e;
    atomic_fetch_add(&fk_events_waited, 1);
    return 0;
}
static const char *fk_errstr(cudaError_t e)
{
    return e == 700 ? "an illegal memory access was encountered (fake)" : "fake error";
}

static cufile_error_t fk_cf_open(void)
{
    return (cufile_error_t){0, 0};
}
static cufile_error_t fk_cf_register(cufile_handle_t *h, cufile_descr_t *d)
{
    if (d->type != 1 || !(fcntl(d->handle.fd, F_GETFL) & O_DIRECT)) return (cufile_error_t){5, 0};
    *h = (cufile_handle_t)(intptr_t)(d->handle.fd + 1);
    return (cufile_error_t){0, 0};
}
static void fk_cf_deregister(cufile_handle_t h)
{
    (void)h;
}
static ssize_t fk_cf_read(cufile_handle_t h, void *dev, size_t n, off_t off, off_t devoff)
{
    atomic_fetch_add(&fk_cufile_reads, 1);
    ASSERT_EQ(0, off % 4096); /* the loader reads aligned supersets */
    /* O_DIRECT wants an aligned buffer: read into one, then "DMA" it */
    size_t an = (n + 4095) / 4096 * 4096;
    void *bounce = NULL;
    ASSERT_OK(posix_memalign(&bounce, 4096, an));
    ssize_t r = pread((int)(intptr_t)h - 1, bounce, an, off);
    if (r > 0) memcpy((uint8_t *)dev + devoff, bounce, (size_t)r < n ? (size_t)r : n);
    free(bounce);
    return r > (ssize_t)n ? (ssize_t)n : r;
}

static void fake_on(int with_cufile)
{
    static struct cuda_api a = {
        .path = "fake-cudart",
        .GetDeviceCount = fk_count,
        .GetDevice = fk_getdev,
        .SetDevice = fk_setdev,
        .Malloc = fk_malloc,
        .Free = fk_free,
        .HostAlloc = fk_hostalloc,
        .FreeHost = fk_freehost,
        .StreamCreateWithFlags = fk_stream_create,
        .StreamDestroy = fk_stream_destroy,
        .StreamSynchronize = fk_stream_sync,
        .MemcpyAsync = fk_memcpy_async,
        .Memcpy = fk_memcpy,
        .EventCreateWithFlags = fk_event_create,
        .EventDestroy = fk_event_destroy,
        .EventRecord = fk_event_record,
        .EventSynchronize = fk_event_sync,
        .GetErrorString = fk_errstr,
    };
    static struct cufile_api c = {
        .path = "fake-cufile",
        .DriverOpen = fk_cf_open,
        .HandleRegister = fk_cf_register,
        .HandleDeregister = fk_cf_deregister,
        .Read = fk_cf_read,
    };
    loader_gpu_fake_(&a, with_cufile ? &c : NULL);
}

/* Loads the files with a GPU method through the fake and checks every byte
 * with loader_region_read (the device-to-host path). */
static void fake_load_check(int method, const struct loader_opts *base_opts)
{
    enum { N = 5 };
    size_t sizes[N] = {(3u << 20) + 4321, 4096, 1, 777777, (1u << 20)};
    uint64_t begins[N] = {4097, 0, 0, 12345, 65536};
    uint64_t ends[N] = {(3u << 20) + 4000, 4096, 1, 777777, 65536}; /* last is empty */
    int fds[N];
    struct loader_file f[N];
    for (unsigned i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "gpu%u.bin", i);
        fds[i] = make_file(name, 50 + i, sizes[i]);
        f[i] = lf(fds[i], sizes[i], begins[i], ends[i]);
    }
    struct loader_opts o = *base_opts;
    o.device = 0;
    o.method = method;
    struct loader_result *r = NULL;
    char err[512] = "";
    int rc = loader_load(f, N, &o, &r, err, sizeof err);
    if (rc == CUSTODY_EUNSUPPORTED && strstr(err, "O_DIRECT")) {
        fprintf(stderr, "no O_DIRECT here (%s): skipped\n", err);
        for (unsigned i = 0; i < N; i++)
            close(fds[i]);
        return;
    }
    if (rc) TEST_FAIL_("method %d: %d %s", method, rc, err);
    ASSERT_EQ(0, r->device);
    ASSERT_EQ(method == LOADER_AUTO ? LOADER_PINNED_RING : method, r->method);
    ASSERT_EQ(4, atomic_load(&fk_allocs)); /* one per non-empty region */
    for (unsigned i = 0; i < N; i++) {
        uint64_t len = ends[i] - begins[i];
        ASSERT_EQ(len, r->regions[i].len);
        if (len == 0) {
            ASSERT_NULL(r->regions[i].base);
            continue;
        }
        uint8_t *host = malloc(len);
        ASSERT_NOT_NULL(host);
        ASSERT_OK(loader_region_read(r, i, 0, host, len, err, sizeof err));
        check_region(host, 50 + i, begins[i], ends[i]);
        free(host);
    }
    loader_result_free(r);
    ASSERT_EQ(0, atomic_load(&fk_allocs));
    for (unsigned i = 0; i < N; i++)
        close(fds[i]);
}

TEST(loader_gpu_fake_pinned_ring)
{
    fake_on(0);
    struct loader_opts o = {.threads = 3, .chunk = 65536, .buffers = 5, .streams = 2};
    fake_load_check(LOADER_PINNED_RING, &o);
    ASSERT_GT(atomic_load(&fk_copies), 50);
    ASSERT_GT(atomic_load(&fk_events_waited), 0); /* buffers were reused after their event */
    /* defaults, and AUTO picks the ring; the staging of the first load is kept */
    long kept = atomic_load(&fk_hostallocs);
    ASSERT_GT(kept, 0);
    struct loader_opts d = {0};
    fake_load_check(LOADER_AUTO, &d);
    loader_gpu_release();
    ASSERT_EQ(0, atomic_load(&fk_hostallocs));
    /* one chunk of a whole piece, one thread */
    struct loader_opts one = {.threads = 1, .chunk = 1u << 30, .buffers = 1, .streams = 1};
    fake_load_check(LOADER_PINNED_RING, &one);
    loader_gpu_release();
    loader_gpu_fake_(NULL, NULL);
}

TEST(loader_gpu_fake_direct_ring)
{
    fake_on(0);
    struct loader_opts o = {.threads = 4, .chunk = 10000 /* rounded up to 12288 */, .buffers = 8};
    fake_load_check(LOADER_DIRECT_RING, &o);
    loader_gpu_release();
    ASSERT_EQ(0, atomic_load(&fk_hostallocs));
    loader_gpu_fake_(NULL, NULL);
}

TEST(loader_gpu_fake_cufile)
{
    fake_on(1);
    struct loader_opts o = {.threads = 3, .chunk = 1u << 20};
    fake_load_check(LOADER_CUFILE, &o);
    ASSERT_EQ(0, atomic_load(&fk_hostallocs)); /* cuFile needs no staging */
    loader_gpu_fake_(NULL, NULL);
}

TEST(loader_gpu_fake_cufile_missing)
{
    fake_on(0);
    int fd = make_file("c.bin", 10, 8192);
    struct loader_file f = lf(fd, 8192, 0, 8192);
    struct loader_opts o = {.device = 0, .method = LOADER_CUFILE};
    expect_refused(&f, 1, &o, CUSTODY_EUNSUPPORTED, "cuFile");
    o = (struct loader_opts){.device = 3};
    expect_refused(&f, 1, &o, CUSTODY_EINVAL, "there are 1 CUDA devices");
    ASSERT_EQ(0, atomic_load(&fk_allocs));
    loader_gpu_fake_(NULL, NULL);
    close(fd);
}

TEST(loader_gpu_fake_copy_error)
{
    fake_on(0);
    size_t size = 2u << 20;
    int fd = make_file("x.bin", 11, size);
    struct loader_file f[2] = {lf(fd, size, 0, size), lf(fd, size, 10, size - 10)};
    struct loader_opts o = {.device = 0, .threads = 4, .chunk = 65536};
    atomic_store(&fk_copies, 0);
    atomic_store(&fk_fail_copy_at, 20);
    expect_refused(f, 2, &o, CUSTODY_EIO, "illegal memory access");
    ASSERT_EQ(0, atomic_load(&fk_allocs));     /* device memory freed */
    ASSERT_EQ(0, atomic_load(&fk_hostallocs)); /* a failed staging is not kept */
    atomic_store(&fk_fail_copy_at, -1);
    /* the same load without the failure works */
    struct loader_result *r = NULL;
    ASSERT_OK(loader_load(f, 2, &o, &r, NULL, 0));
    loader_result_free(r);
    loader_gpu_release();
    loader_gpu_fake_(NULL, NULL);
    close(fd);
}
