/*
 * prewarm_bench.c — drives src/loader/prewarm on real files and prints GB/s.
 *
 *   prewarm_bench [options] FILE...
 *     --to page-cache|pinned   target (default page-cache)
 *     --engine auto|populate|uring|threads
 *     --chunk BYTES[k|m]  --depth N|kernel  --threads N
 *     --direct            time prewarm_read_direct (O_DIRECT into buffers,
 *                         nothing left in the page cache) instead
 *     --drop fadvise|all|none  make the files cold first: posix_fadvise
 *                         DONTNEED per file (default), drop_caches (root), or
 *                         leave them as they are
 *     --progress          print progress lines to stderr
 *     --hold SECONDS      pinned: keep the pin this long before unpinning
 *     --resident          only print how much of the files is in the page cache
 *
 * Prints one line per run: engine, bytes, seconds, GB/s (10^9 bytes/s), and
 * the resident share of the files before and after (mincore).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loader/prewarm.h"

static void usage(void)
{
    fprintf(stderr, "usage: prewarm_bench [--to page-cache|pinned] [--engine "
                    "auto|populate|uring|threads] [--chunk N] [--depth N|kernel] "
                    "[--threads N] [--direct] [--drop fadvise|all|none] [--progress] "
                    "[--hold S] [--resident] FILE...\n");
    exit(2);
}

static uint64_t parse_size(const char *s)
{
    char *e = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || e == s) usage();
    if (*e == 'k' || *e == 'K')
        v <<= 10, e++;
    else if (*e == 'm' || *e == 'M')
        v <<= 20, e++;
    if (*e) usage();
    return v;
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    fprintf(stderr, "\rprewarm: %5.1f%% (%" PRIu64 " / %" PRIu64 " bytes)",
            total ? 100.0 * (double)done / (double)total : 100.0, done, total);
    if (done == total) fputc('\n', stderr);
}

static int discard_block(void *arg, uint64_t off, const void *buf, size_t len)
{
    (void)off;
    (void)buf;
    *(uint64_t *)arg += len;
    return 0;
}

int main(int argc, char **argv)
{
    struct prewarm_opts o = {0};
    int direct = 0, progress = 0, resident_only = 0;
    const char *drop = "fadvise";
    unsigned hold = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--direct")) {
            direct = 1;
            continue;
        }
        if (!strcmp(a, "--resident")) {
            resident_only = 1;
            drop = "none";
            continue;
        }
        if (!strcmp(a, "--progress")) {
            progress = 1;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--to"))
            o.target = !strcmp(v, "pinned")       ? PREWARM_PINNED
                       : !strcmp(v, "page-cache") ? PREWARM_PAGE_CACHE
                                                  : (usage(), 0);
        else if (!strcmp(a, "--engine"))
            o.engine = !strcmp(v, "auto")       ? PREWARM_ENGINE_AUTO
                       : !strcmp(v, "populate") ? PREWARM_ENGINE_POPULATE
                       : !strcmp(v, "uring")    ? PREWARM_ENGINE_URING
                       : !strcmp(v, "threads")  ? PREWARM_ENGINE_THREADS
                                                : (usage(), 0);
        else if (!strcmp(a, "--chunk"))
            o.chunk = (size_t)parse_size(v);
        else if (!strcmp(a, "--depth"))
            o.depth = !strcmp(v, "kernel") ? PREWARM_DEPTH_KERNEL : (unsigned)parse_size(v);
        else if (!strcmp(a, "--threads"))
            o.threads = (unsigned)parse_size(v);
        else if (!strcmp(a, "--drop"))
            drop = v;
        else if (!strcmp(a, "--hold"))
            hold = (unsigned)parse_size(v);
        else
            usage();
    }
    if (i >= argc) usage();
    size_t n = (size_t)(argc - i);
    struct prewarm_file *files = calloc(n, sizeof *files);
    if (!files) return 1;
    for (size_t k = 0; k < n; k++) {
        files[k].fd = open(argv[i + (int)k], O_RDONLY | O_CLOEXEC);
        if (files[k].fd < 0) {
            fprintf(stderr, "prewarm_bench: %s: %s\n", argv[i + (int)k], strerror(errno));
            return 1;
        }
        if (!strcmp(drop, "fadvise")) posix_fadvise(files[k].fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    if (!strcmp(drop, "all")) {
        sync();
        FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
        if (!f || fputs("3\n", f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "prewarm_bench: cannot write /proc/sys/vm/drop_caches (root?)\n");
            return 1;
        }
    } else if (strcmp(drop, "fadvise") && strcmp(drop, "none"))
        usage();
    if (progress) {
        o.progress = on_progress;
        o.progress_arg = NULL;
    }

    char err[512] = "";
    struct prewarm_stats st;
    int rc;
    uint64_t size = 0, resident = 0;
    for (size_t k = 0; k < n; k++) {
        uint64_t res = 0, sz = 0;
        if (prewarm_resident(files[k].fd, 0, 0, &res, &sz, err, sizeof err) != 0) {
            fprintf(stderr, "prewarm_bench: %s: %s\n", argv[i + (int)k], err);
            return 1;
        }
        size += sz;
        resident += res;
    }
    if (resident_only) {
        printf("resident bytes=%" PRIu64 " of=%" PRIu64 " pct=%.1f\n", resident, size,
               size ? 100.0 * (double)resident / (double)size : 100.0);
        return 0;
    }
    if (direct) {
        uint64_t got = 0, bytes = 0, ns = 0;
        int ran = 0, dio = 1;
        for (size_t k = 0; k < n; k++) {
            rc = prewarm_read_direct(files[k].fd, 0, 0, &o, discard_block, &got, &st, err,
                                     sizeof err);
            if (rc) {
                fprintf(stderr, "prewarm_bench: %s: %s\n", argv[i + (int)k], err);
                return 1;
            }
            bytes += st.bytes;
            ns += st.ns;
            ran = st.engine;
            dio &= st.direct;
        }
        uint64_t res = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t r1 = 0;
            prewarm_resident(files[k].fd, 0, 0, &r1, NULL, err, sizeof err);
            res += r1;
        }
        printf("read_direct engine=%s o_direct=%d bytes=%" PRIu64 " secs=%.3f GBps=%.3f "
               "resident_after=%.1f%%\n",
               prewarm_engine_name(ran), dio, bytes, (double)ns / 1e9,
               ns ? (double)bytes / (double)ns : 0.0,
               size ? 100.0 * (double)res / (double)size : 100.0);
        return got == bytes ? 0 : 1;
    }

    struct prewarm_pin *pin = NULL;
    rc = prewarm(files, n, &o, &st, &pin, err, sizeof err);
    if (rc) {
        fprintf(stderr, "prewarm_bench: %s\n", err);
        return 1;
    }
    printf("prewarm to=%s engine=%s bytes=%" PRIu64 " secs=%.3f GBps=%.3f "
           "resident_before=%.1f%% resident_after=%.1f%%",
           o.target == PREWARM_PINNED ? "pinned" : "page-cache", prewarm_engine_name(st.engine),
           st.bytes, (double)st.ns / 1e9, st.ns ? (double)st.bytes / (double)st.ns : 0.0,
           st.bytes ? 100.0 * (double)st.resident_before / (double)st.bytes : 100.0,
           st.bytes ? 100.0 * (double)st.resident_after / (double)st.bytes : 100.0);
    if (pin) printf(" pinned_bytes=%" PRIu64, prewarm_pin_bytes(pin));
    printf("\n");
    fflush(stdout);
    if (pin && hold) sleep(hold);
    prewarm_unpin(pin);
    for (size_t k = 0; k < n; k++)
        close(files[k].fd);
    free(files);
    return 0;
}
