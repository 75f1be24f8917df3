/*
 * crypt_bench.c — throughput of the encrypted version store (src/store/
 * crypt.c) on this machine, for docs/decisions/0009-encrypted-versions.md.
 *
 *   crypt_bench [DIR]      (default $TMPDIR or /tmp; BENCH_MIB, default 256)
 *
 * One object of BENCH_MIB MiB of random bytes, in the page cache, then:
 *
 *   sha256         util_sha256_fd: what every plain object costs anyway
 *   copy           store_copy_fd into an O_TMPFILE: how plain objects are kept
 *   encrypt        store_crypt_encrypt into an O_TMPFILE, named by a trusted
 *                  hash (the writer's case)
 *   encrypt+hash   the same, hashing as it reads (store_keep_prior's case)
 *   decrypt        store_crypt_decrypt of all of it into a sink that drops it
 *                  (pure verify + decrypt)
 *   decrypt->memfd the same into a memfd (store_open_version's case)
 *   range 4 KiB    store_crypt_decrypt of 4 KiB at a random offset (verifies
 *                  the last chunk too): microseconds each
 *   small 4 KiB    encrypt + decrypt of a 4 KiB object: microseconds each
 *
 * Then through the store (fsyncs included): a PUT of the whole object into
 * a plain root and into an encrypted one (store_write_* with versions), and
 * store_open_version + reading the version back in each. Each figure is the
 * best of BENCH_ROUNDS (default 3) runs. A benchmark, not a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/crypt.h"

static const char *dir;
static int rounds = 3;

static double now_s(void)
{
    return (double)util_monotonic_ns() / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "crypt_bench: %s: %s\n", what, custody_strerror(rc));
    exit(1);
}

static int tmpfd(void)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) die("O_TMPFILE", custody_err_from_errno(errno));
    return fd;
}

static int drop(void *arg, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    return 0;
}

static int to_fd(void *arg, const void *data, size_t len)
{
    return util_write_all(*(int *)arg, data, len);
}

static void report(const char *what, double best, uint64_t bytes)
{
    printf("%-16s %8.1f ms  %8.0f MiB/s\n", what, best * 1e3, (double)bytes / (1 << 20) / best);
}

static void report_us(const char *what, double best, int n)
{
    printf("%-16s %8.2f us each\n", what, best * 1e6 / n);
}

/* ---- through the store ---- */

static double put(struct store *st, const char *root, const uint8_t *data, size_t n)
{
    double t0 = now_s();
    struct store_writer *w;
    int rc = store_write_begin(st, root, "/obj.bin", &w);
    if (rc) die("write_begin", rc);
    for (size_t off = 0; off < n; off += 1 << 20) {
        size_t len = n - off < (1u << 20) ? n - off : 1u << 20;
        if ((rc = store_write_append(w, data + off, len))) die("append", rc);
    }
    struct store_write_result res;
    if ((rc = store_write_commit(w, NULL, &res))) die("commit", rc);
    return now_s() - t0;
}

static double read_version(struct store *st, const char *root, int64_t v, size_t n)
{
    double t0 = now_s();
    struct store_handle h;
    int rc = store_open_version(st, root, "/obj.bin", v, &h);
    if (rc) die("open_version", rc);
    static uint8_t buf[1 << 20];
    uint64_t got = 0;
    for (;;) {
        ssize_t r = pread(h.fd, buf, sizeof buf, (off_t)got);
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    store_handle_close(&h);
    if (got != n) die("short version", CUSTODY_EIO);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t mib = getenv("BENCH_MIB") ? (size_t)strtoul(getenv("BENCH_MIB"), NULL, 10) : 256;
    if (getenv("BENCH_ROUNDS")) rounds = (int)strtol(getenv("BENCH_ROUNDS"), NULL, 10);
    if (!mib || rounds < 1) return 2;
    log_set_level(LOG_WARN);
    size_t n = mib << 20;
    uint8_t *data = malloc(n);
    if (!data) return 1;
    for (size_t off = 0; off < n; off += 1 << 20)
        util_random(data + off, 1 << 20);
    int src = tmpfd();
    if (util_write_all(src, data, n)) die("write", CUSTODY_EIO);

    struct store_crypt_key k;
    uint8_t raw[32];
    util_random(raw, sizeof raw);
    store_crypt_key_set(&k, raw);
    uint8_t d[32];
    char hex[65], out[65];
    util_sha256(data, n, d);
    util_hex_encode(d, sizeof d, hex);

    printf("object: %zu MiB in %s, best of %d\n", mib, dir, rounds);
    double best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
    int enc = -1;
    for (int r = 0; r < rounds; r++) {
        double t = now_s();
        uint8_t dd[32];
        util_sha256_fd(src, dd, NULL);
        best[0] = UTIL_MIN(best[0], now_s() - t);

        int dst = tmpfd();
        t = now_s();
        store_copy_fd(src, dst, NULL);
        best[1] = UTIL_MIN(best[1], now_s() - t);
        close(dst);

        if (enc >= 0) close(enc);
        enc = tmpfd();
        t = now_s();
        int rc = store_crypt_encrypt(&k, src, enc, hex, out, NULL);
        best[2] = UTIL_MIN(best[2], now_s() - t);
        if (rc) die("encrypt", rc);

        dst = tmpfd();
        t = now_s();
        rc = store_crypt_encrypt(&k, src, dst, NULL, out, NULL);
        best[3] = UTIL_MIN(best[3], now_s() - t);
        if (rc || strcmp(out, hex) != 0) die("encrypt+hash", rc ? rc : CUSTODY_EIO);
        close(dst);

        t = now_s();
        rc = store_crypt_decrypt(&k, enc, hex, 0, UINT64_MAX, drop, NULL);
        best[4] = UTIL_MIN(best[4], now_s() - t);
        if (rc) die("decrypt", rc);

        int mfd = memfd_create("bench", MFD_CLOEXEC);
        t = now_s();
        rc = store_crypt_decrypt(&k, enc, hex, 0, UINT64_MAX, to_fd, &mfd);
        best[5] = UTIL_MIN(best[5], now_s() - t);
        if (rc) die("decrypt->memfd", rc);
        close(mfd);
    }
    report("sha256", best[0], n);
    report("copy", best[1], n);
    report("encrypt", best[2], n);
    report("encrypt+hash", best[3], n);
    report("decrypt", best[4], n);
    report("decrypt->memfd", best[5], n);

    enum { SMALL = 2000 };
    double rbest = 1e9, sbest = 1e9;
    for (int r = 0; r < rounds; r++) {
        uint32_t x = 12345;
        double t = now_s();
        for (int i = 0; i < SMALL; i++) {
            x = x * 1103515245u + 12345u;
            uint64_t off = ((uint64_t)x << 8) % (n - 4096);
            int rc = store_crypt_decrypt(&k, enc, hex, off, 4096, drop, NULL);
            if (rc) die("range", rc);
        }
        rbest = UTIL_MIN(rbest, now_s() - t);
        int s = tmpfd();
        util_write_all(s, data, 4096);
        char sh[65];
        util_sha256(data, 4096, d);
        util_hex_encode(d, sizeof d, sh);
        t = now_s();
        for (int i = 0; i < SMALL; i++) {
            int e = tmpfd();
            int rc = store_crypt_encrypt(&k, s, e, sh, out, NULL);
            if (!rc) rc = store_crypt_decrypt(&k, e, sh, 0, UINT64_MAX, drop, NULL);
            if (rc) die("small", rc);
            close(e);
        }
        sbest = UTIL_MIN(sbest, now_s() - t);
        close(s);
    }
    report_us("range 4 KiB", rbest, SMALL);
    report_us("small 4 KiB", sbest, SMALL);
    close(enc);
    close(src);

    /* through the store */
    char base[4096], state[4200], proot[4200], eroot[4200];
    snprintf(base, sizeof base, "%s/crypt-bench-XXXXXX", dir);
    if (!mkdtemp(base)) die("mkdtemp", custody_err_from_errno(errno));
    snprintf(state, sizeof state, "%s/state", base);
    snprintf(proot, sizeof proot, "%s/plain", base);
    snprintf(eroot, sizeof eroot, "%s/vault", base);
    util_mkdir_p(proot, 0755);
    util_mkdir_p(eroot, 0755);
    struct store *st;
    struct store_opts o = {.versions = true};
    int rc = store_open(state, &o, &st);
    if (rc) die("store_open", rc);
    struct cfg_label lab = {.key = (char *)"encrypt", .value = (char *)"true"};
    struct cfg_root roots[2] = {
        {.name = (char *)"plain", .path = proot},
        {.name = (char *)"vault", .path = eroot, .labels = &lab, .nlabels = 1}};
    if ((rc = store_set_roots(st, roots, 2, NULL))) die("set_roots", rc);
    double pw = 1e9, ew = 1e9, pr = 1e9, er = 1e9;
    for (int r = 0; r < rounds; r++) {
        data[r] ^= 1; /* new content each round: a new object */
        pw = UTIL_MIN(pw, put(st, "plain", data, n));
        ew = UTIL_MIN(ew, put(st, "vault", data, n));
        pr = UTIL_MIN(pr, read_version(st, "plain", r + 1, n));
        er = UTIL_MIN(er, read_version(st, "vault", r + 1, n));
    }
    report("PUT plain", pw, n);
    report("PUT encrypted", ew, n);
    report("version plain", pr, n);
    report("version enc.", er, n);
    store_close(st);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "crypt_bench: could not remove %s\n", base);
    store_crypt_key_wipe(&k);
    free(data);
    return 0;
}
