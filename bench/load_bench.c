/*
 * load_bench.c — the loader core's CPU path (LOADER_MMAP: mmap + populate)
 * on real files, in GB/s. bench/model_cpu.sh compares it with dd.
 *
 *   load_bench [--rounds N] [--threads T] [--chunk BYTES] [--whole] FILE...
 *
 * Safetensors and GGUF files load their tensor region (first tensor's
 * offset to the last one's end, as libcustody does); other files, or
 * --whole, load the whole file. Each round loads all files, then frees the
 * result (munmap). Prints each round, then "RESULT cpu_load_gbps <best>".
 * After the last round it reads one byte per page and reports the page
 * faults that took (0 when populating worked). Bytes are what the regions
 * hold; GB is 10^9 bytes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader/loader.h"
#include "model/model.h"

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads one byte per 4 KiB page of every region: with the pages populated
 * this takes no page faults. Returns the faults taken. */
static long touch_all(const struct loader_result *r, uint64_t *ns, unsigned *sum)
{
    long f0 = minor_faults();
    uint64_t t0 = now_ns();
    unsigned s = 0;
    for (size_t k = 0; k < r->nfiles; k++) {
        const volatile unsigned char *p = r->regions[k].base;
        for (uint64_t off = 0; off < r->regions[k].len; off += 4096)
            s += p[off];
    }
    *ns = now_ns() - t0;
    *sum = s;
    return minor_faults() - f0;
}

static int usage(void)
{
    fprintf(stderr, "usage: load_bench [--rounds N] [--threads T] [--chunk BYTES] [--whole] "
                    "FILE...\n");
    return 2;
}

static int parse_u64(const char *s, unsigned long long *v)
{
    char *end = NULL;
    *v = strtoull(s, &end, 10);
    return end && end != s && *end == '\0' ? 0 : -1;
}

int main(int argc, char **argv)
{
    unsigned long long rounds = 5, threads = 0, chunk = 0;
    int whole = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--whole")) {
            whole = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--rounds")) {
            if (parse_u64(argv[++i], &rounds) || rounds == 0) return usage();
        } else if (i + 1 < argc && !strcmp(argv[i], "--threads")) {
            if (parse_u64(argv[++i], &threads)) return usage();
        } else if (i + 1 < argc && !strcmp(argv[i], "--chunk")) {
            if (parse_u64(argv[++i], &chunk)) return usage();
        } else {
            return usage();
        }
    }
    size_t n = (size_t)(argc - i);
    if (n == 0) return usage();
    struct loader_file *files = calloc(n, sizeof *files);
    if (!files) return 1;
    for (size_t k = 0; k < n; k++) {
        const char *path = argv[i + (int)k];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            perror(path);
            return 1;
        }
        files[k] = (struct loader_file){
            .fd = fd, .size = (uint64_t)st.st_size, .begin = 0, .end = (uint64_t)st.st_size};
        struct model_header h;
        char err[256];
        if (!whole && model_parse_fd(fd, &h, err, sizeof err) == 0) {
            if (h.ntensors > 0) {
                files[k].begin = h.tensors[0].offset;
                uint64_t end = 0;
                for (size_t t = 0; t < h.ntensors; t++)
                    if (h.tensors[t].offset + h.tensors[t].nbytes > end)
                        end = h.tensors[t].offset + h.tensors[t].nbytes;
                files[k].end = end;
            }
            model_header_free(&h);
        }
    }
    struct loader_opts o = {
        .device = -1, .method = LOADER_MMAP, .threads = (unsigned)threads, .chunk = (size_t)chunk};
    double best = 0;
    for (unsigned long long r = 0; r < rounds; r++) {
        struct loader_result *res = NULL;
        char err[256];
        int rc = loader_load(files, n, &o, &res, err, sizeof err);
        if (rc) {
            fprintf(stderr, "load_bench: %s (%d)\n", err, rc);
            return 1;
        }
        double gbps = (double)res->bytes / (double)res->ns; /* bytes/ns == GB/s */
        printf("round %llu: %llu bytes in %.3f ms: %.2f GB/s\n", r + 1,
               (unsigned long long)res->bytes, (double)res->ns / 1e6, gbps);
        if (gbps > best) best = gbps;
        if (r + 1 == rounds) {
            uint64_t tns;
            unsigned sum;
            long faults = touch_all(res, &tns, &sum);
            printf("after the last round: one byte per page read in %.3f ms with %ld page "
                   "faults (populated: 0 expected; checksum %u)\n",
                   (double)tns / 1e6, faults, sum);
        }
        loader_result_free(res);
    }
    printf("RESULT cpu_load_gbps %.2f\n", best);
    for (size_t k = 0; k < n; k++)
        close(files[k].fd);
    free(files);
    return 0;
}
