/*
 * gpu_bench.c — the loader core's GPU methods on real files (bench/gpu).
 *
 *   gpu_bench load [--method ring|direct|cufile] [--threads T] [--chunk MIB]
 *                  [--buffers B] [--streams S] [--rounds N]
 *                  [--verify none|sample|full] [--drop-caches] FILE...
 *   gpu_bench raw [--threads T] [--chunk MIB] [--rounds N] [--drop-caches] FILE...
 *
 * load: loads the tensor region of each file (safetensors/GGUF headers are
 * parsed with src/model; other files load whole) onto CUDA device 0, N
 * rounds, each timed by the loader (all copies complete), then checks the
 * device bytes against the file (device -> host copy, compared with pread):
 * sample = 8 tensors spread over the files plus the first and last MiB of
 * each region; full = every byte.
 * raw: O_DIRECT reads of the same regions with T threads and chunk-sized
 * reads, many in flight, into host memory: the disk's raw bandwidth.
 * --drop-caches writes 3 to /proc/sys/vm/drop_caches before each round
 * (cold rounds; needs root).
 *
 * Prints each round and "RESULT <name> <best GB/s>" (GB = 10^9 bytes).
 * Exit status: 0 ok, 1 error or wrong bytes, 2 no CUDA (the reason on
 * stderr), 3 cuFile not usable.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader/loader.h"
#include "model/model.h"

struct opts {
    int method;
    unsigned threads, buffers, streams, rounds;
    size_t chunk;
    int verify; /* 0 none, 1 sample, 2 full */
    int drop;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
    fprintf(stderr, "usage: gpu_bench load [--method ring|direct|cufile] [--threads T] "
                    "[--chunk MIB] [--buffers B] [--streams S] [--rounds N] "
                    "[--verify none|sample|full] [--drop-caches] FILE...\n"
                    "       gpu_bench raw [--threads T] [--chunk MIB] [--rounds N] "
                    "[--drop-caches] FILE...\n");
    return 1;
}

static int drop_caches(void)
{
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0 || write(fd, "3\n", 2) != 2) {
        fprintf(stderr, "gpu_bench: cannot drop caches: %s\n", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

struct tens {
    size_t file;
    uint64_t off, len;
};

/* Opens the files; regions from their headers; collects tensors for checks. */
static int open_files(char **paths, size_t n, struct loader_file *f, struct tens **tv, size_t *nt)
{
    *tv = NULL;
    *nt = 0;
    for (size_t k = 0; k < n; k++) {
        int fd = open(paths[k], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fprintf(stderr, "gpu_bench: %s: %s\n", paths[k], strerror(errno));
            return -1;
        }
        f[k] = (struct loader_file){
            .fd = fd, .size = (uint64_t)st.st_size, .end = (uint64_t)st.st_size};
        struct model_header h;
        char err[256];
        if (model_parse_fd(fd, &h, err, sizeof err) == 0 && h.ntensors > 0) {
            f[k].begin = h.tensors[0].offset;
            uint64_t end = 0;
            for (size_t t = 0; t < h.ntensors; t++)
                if (h.tensors[t].offset + h.tensors[t].nbytes > end)
                    end = h.tensors[t].offset + h.tensors[t].nbytes;
            f[k].end = end;
            struct tens *nv = realloc(*tv, (*nt + h.ntensors) * sizeof **tv);
            if (!nv) return -1;
            *tv = nv;
            for (size_t t = 0; t < h.ntensors; t++)
                (*tv)[(*nt)++] = (struct tens){k, h.tensors[t].offset, h.tensors[t].nbytes};
            model_header_free(&h);
        }
    }
    return 0;
}

/* Compares [off, off + len) of file k (absolute offsets) on the device with the file. */
static int check_range(const struct loader_result *r, const struct loader_file *f, size_t k,
                       uint64_t off, uint64_t len, uint8_t *a, uint8_t *b, size_t bufsz)
{
    while (len > 0) {
        size_t n = len < bufsz ? (size_t)len : bufsz;
        char err[256];
        if (loader_region_read(r, k, off - f[k].begin, a, n, err, sizeof err)) {
            fprintf(stderr, "gpu_bench: device read: %s\n", err);
            return -1;
        }
        size_t got = 0;
        while (got < n) {
            ssize_t x = pread(f[k].fd, b + got, n - got, (off_t)(off + got));
            if (x <= 0) {
                fprintf(stderr, "gpu_bench: pread: %s\n", x ? strerror(errno) : "EOF");
                return -1;
            }
            got += (size_t)x;
        }
        if (memcmp(a, b, n) != 0) {
            size_t i = 0;
            while (a[i] == b[i])
                i++;
            fprintf(stderr, "gpu_bench: WRONG BYTES: file %zu byte %llu: device %u, file %u\n", k,
                    (unsigned long long)(off + i), a[i], b[i]);
            return -1;
        }
        off += n;
        len -= n;
    }
    return 0;
}

static int verify(const struct loader_result *r, const struct loader_file *f, size_t n,
                  const struct tens *tv, size_t nt, int mode)
{
    size_t bufsz = 64u << 20;
    uint8_t *a = malloc(bufsz), *b = malloc(bufsz);
    if (!a || !b) return -1;
    int rc = 0;
    uint64_t checked = 0;
    for (size_t k = 0; k < n && !rc; k++) {
        uint64_t len = f[k].end - f[k].begin;
        if (mode == 2) {
            rc = check_range(r, f, k, f[k].begin, len, a, b, bufsz);
            checked += len;
            continue;
        }
        uint64_t m = len < (1u << 20) ? len : (1u << 20);
        rc = check_range(r, f, k, f[k].begin, m, a, b, bufsz);
        if (!rc) rc = check_range(r, f, k, f[k].end - m, m, a, b, bufsz);
        checked += 2 * m;
    }
    for (size_t s = 0; s < 8 && nt > 0 && !rc && mode == 1; s++) {
        const struct tens *t = &tv[(nt - 1) * s / 7];
        rc = check_range(r, f, t->file, t->off, t->len, a, b, bufsz);
        checked += t->len;
    }
    free(a);
    free(b);
    if (!rc)
        printf("verify (%s): %llu bytes equal to the file\n", mode == 2 ? "full" : "sample",
               (unsigned long long)checked);
    return rc;
}

static int cmd_load(const struct opts *o, char **paths, size_t n)
{
    int ndev = 0;
    char err[1024];
    if (loader_cuda_probe(&ndev, err, sizeof err)) {
        fprintf(stderr, "gpu_bench: no CUDA: %s\n", err);
        return 2;
    }
    struct loader_file *f = calloc(n, sizeof *f);
    struct tens *tv = NULL;
    size_t nt = 0;
    if (!f || open_files(paths, n, f, &tv, &nt)) return 1;
    struct loader_opts lo = {.device = 0,
                             .method = o->method,
                             .threads = o->threads,
                             .chunk = o->chunk,
                             .buffers = o->buffers,
                             .streams = o->streams};
    const char *mname = o->method == LOADER_DIRECT_RING ? "direct"
                        : o->method == LOADER_CUFILE    ? "cufile"
                                                        : "ring";
    double best = 0;
    struct loader_result *keep = NULL;
    for (unsigned r = 0; r < o->rounds; r++) {
        if (o->drop && drop_caches()) return 1;
        struct loader_result *res = NULL;
        uint64_t t0 = now_ns();
        int rc = loader_load(f, n, &lo, &res, err, sizeof err);
        uint64_t wall = now_ns() - t0;
        if (rc) {
            fprintf(stderr, "gpu_bench: load (%s): %s (%d)\n", mname, err, rc);
            return o->method == LOADER_CUFILE && rc == CUSTODY_EUNSUPPORTED ? 3 : 1;
        }
        double gbps = (double)res->bytes / (double)res->ns;
        printf("round %u (%s, threads %u, chunk %zu MiB): %llu bytes in %.1f ms: %.2f GB/s "
               "(wall %.1f ms)\n",
               r + 1, mname, o->threads, o->chunk >> 20, (unsigned long long)res->bytes,
               (double)res->ns / 1e6, gbps, (double)wall / 1e6);
        if (gbps > best) best = gbps;
        if (r + 1 == o->rounds)
            keep = res;
        else
            loader_result_free(res);
    }
    int rc = 0;
    if (keep && o->verify) rc = verify(keep, f, n, tv, nt, o->verify) ? 1 : 0;
    loader_result_free(keep);
    loader_gpu_release();
    printf("RESULT %s_gbps %.2f\n", mname, best);
    for (size_t k = 0; k < n; k++)
        close(f[k].fd);
    free(f);
    free(tv);
    return rc;
}

/* ---- raw O_DIRECT bandwidth ---- */
struct raw_job {
    int *fds;
    const struct loader_file *f;
    size_t n;
    size_t chunk;
    uint64_t *grid_start; /* per file: first aligned offset */
    uint64_t *npieces;    /* per file */
    uint64_t total_pieces;
    atomic_uint_fast64_t next;
    atomic_uint_fast64_t bytes;
    atomic_int failed;
};

static void *raw_worker(void *arg)
{
    struct raw_job *j = arg;
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, j->chunk)) {
        atomic_store(&j->failed, 1);
        return NULL;
    }
    for (;;) {
        uint64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->total_pieces) break;
        size_t k = 0;
        while (i >= j->npieces[k])
            i -= j->npieces[k++];
        uint64_t off = j->grid_start[k] + i * j->chunk;
        ssize_t x = pread(j->fds[k], buf, j->chunk, (off_t)off);
        if (x < 0) {
            fprintf(stderr, "gpu_bench: O_DIRECT read: %s\n", strerror(errno));
            atomic_store(&j->failed, 1);
            break;
        }
        atomic_fetch_add(&j->bytes, (uint64_t)x);
    }
    free(buf);
    return NULL;
}

static int cmd_raw(const struct opts *o, char **paths, size_t n)
{
    struct loader_file *f = calloc(n, sizeof *f);
    struct tens *tv = NULL;
    size_t nt = 0;
    if (!f || open_files(paths, n, f, &tv, &nt)) return 1;
    struct raw_job j = {.f = f, .n = n, .chunk = o->chunk ? o->chunk : 16u << 20};
    j.fds = calloc(n, sizeof *j.fds);
    j.grid_start = calloc(n, sizeof *j.grid_start);
    j.npieces = calloc(n, sizeof *j.npieces);
    if (!j.fds || !j.grid_start || !j.npieces) return 1;
    for (size_t k = 0; k < n; k++) {
        j.fds[k] = open(paths[k], O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (j.fds[k] < 0) {
            fprintf(stderr, "gpu_bench: %s: O_DIRECT: %s\n", paths[k], strerror(errno));
            return 1;
        }
        uint64_t a = f[k].begin / 4096 * 4096;
        j.grid_start[k] = a;
        j.npieces[k] = (f[k].end - a + j.chunk - 1) / j.chunk;
        j.total_pieces += j.npieces[k];
    }
    unsigned threads = o->threads ? o->threads : 16;
    double best = 0;
    for (unsigned r = 0; r < o->rounds; r++) {
        if (o->drop && drop_caches()) return 1;
        atomic_store(&j.next, 0);
        atomic_store(&j.bytes, 0);
        atomic_store(&j.failed, 0);
        pthread_t tids[256];
        unsigned started = 0;
        uint64_t t0 = now_ns();
        for (unsigned t = 0; t < threads && t < 256; t++)
            if (pthread_create(&tids[started], NULL, raw_worker, &j) == 0) started++;
        for (unsigned t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
        uint64_t ns = now_ns() - t0;
        if (atomic_load(&j.failed) || started == 0) return 1;
        double gbps = (double)atomic_load(&j.bytes) / (double)ns;
        printf("round %u (raw O_DIRECT, %u threads, %zu MiB reads): %.2f GB/s\n", r + 1, started,
               j.chunk >> 20, gbps);
        if (gbps > best) best = gbps;
    }
    printf("RESULT raw_odirect_gbps %.2f\n", best);
    for (size_t k = 0; k < n; k++) {
        close(j.fds[k]);
        close(f[k].fd);
    }
    free(j.fds);
    free(j.grid_start);
    free(j.npieces);
    free(f);
    free(tv);
    return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno || !end || end == s || *end || *v > max ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    int raw = !strcmp(argv[1], "raw");
    if (!raw && strcmp(argv[1], "load")) return usage();
    struct opts o = {.method = LOADER_PINNED_RING, .rounds = 3, .verify = 1};
    int i = 2;
    for (; i < argc && argv[i][0] == '-'; i++) {
        unsigned long long v;
        const char *a = argv[i];
        if (!strcmp(a, "--drop-caches")) {
            o.drop = 1;
            continue;
        }
        if (i + 1 >= argc) return usage();
        const char *val = argv[++i];
        if (!strcmp(a, "--method")) {
            if (!strcmp(val, "ring"))
                o.method = LOADER_PINNED_RING;
            else if (!strcmp(val, "direct"))
                o.method = LOADER_DIRECT_RING;
            else if (!strcmp(val, "cufile"))
                o.method = LOADER_CUFILE;
            else
                return usage();
        } else if (!strcmp(a, "--verify")) {
            o.verify = !strcmp(val, "none") ? 0 : !strcmp(val, "full") ? 2 : 1;
        } else if (parse_uint(val, 1u << 20, &v)) {
            return usage();
        } else if (!strcmp(a, "--threads")) {
            o.threads = (unsigned)v;
        } else if (!strcmp(a, "--chunk")) {
            o.chunk = (size_t)v << 20;
        } else if (!strcmp(a, "--buffers")) {
            o.buffers = (unsigned)v;
        } else if (!strcmp(a, "--streams")) {
            o.streams = (unsigned)v;
        } else if (!strcmp(a, "--rounds") && v > 0) {
            o.rounds = (unsigned)v;
        } else {
            return usage();
        }
    }
    if (i >= argc) return usage();
    return raw ? cmd_raw(&o, argv + i, (size_t)(argc - i))
               : cmd_load(&o, argv + i, (size_t)(argc - i));
}
