/*
 * pulltool.c — src/pull from the command line (tests/integration/test_pull.sh, bench/pull.sh).
 *
 *   pulltool URL DESTDIR [--streams N] [--chunk BYTES] [--endpoint URL] [--region R]
 *            [--key PUB.pem]... [--cainfo FILE] [--state-ms MS] [--retries N]
 *            [--backoff-ms MS] [--no-progress] [--progress-tty]
 *       fetches URL/manifest.dsse.json, verifies it with one of the Ed25519 public keys
 *       (PEM, SubjectPublicKeyInfo), pulls every file into DESTDIR, verified, and writes the
 *       envelope there last. One report line per file on stdout:
 *         pulled NAME size S resumed R fetched F requests Q retries T seconds X gbps G
 *   pulltool keygen PRIV.pem PUB.pem
 *   pulltool sign PRIV.pem NAME VERSION OUT.json FILE...
 *       a manifest of FILE... (src/manifest) signed with PRIV.pem, for test origins.
 *
 * Credentials for s3:// come from the environment (AWS_ACCESS_KEY_ID, ...). Exit: 0 done,
 * 1 refused or failed (message on stderr), 2 usage, 130 interrupted (state kept).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest/manifest.h"
#include "pull/pull.h"

static volatile int interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: pulltool URL DESTDIR [--streams N] [--chunk BYTES] [--endpoint URL] "
                    "[--region R] [--key PUB.pem]... [--cainfo FILE] [--state-ms MS] "
                    "[--retries N] [--backoff-ms MS] [--no-progress] [--progress-tty]\n"
                    "       pulltool keygen PRIV.pem PUB.pem\n"
                    "       pulltool sign PRIV.pem NAME VERSION OUT.json FILE...\n");
    return 2;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 4) return usage();
    uint8_t pub[32];
    struct strbuf pem = STRBUF_INIT;
    if (util_ed25519_keygen(pub, &pem) != 0 ||
        util_write_file_atomic(argv[2], pem.buf, pem.len, 0600) != 0) {
        fprintf(stderr, "pulltool: cannot write %s\n", argv[2]);
        sb_free(&pem);
        return 1;
    }
    sb_free(&pem);
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    FILE *fp = fopen(argv[3], "w");
    int ok = k && fp && PEM_write_PUBKEY(fp, k) == 1;
    if (fp && fclose(fp) != 0) ok = 0;
    EVP_PKEY_free(k);
    if (!ok) {
        fprintf(stderr, "pulltool: cannot write %s\n", argv[3]);
        return 1;
    }
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    if (argc < 7) return usage();
    char *pem = NULL;
    size_t pem_len = 0;
    if (util_read_file(argv[2], 65536, &pem, &pem_len) != 0) {
        fprintf(stderr, "pulltool: cannot read %s\n", argv[2]);
        return 1;
    }
    struct manifest *m = NULL;
    char err[512];
    int rc = manifest_build(argv[3], argv[4], (const char *const *)argv + 6, (size_t)argc - 6, &m,
                            err, sizeof err);
    if (rc) {
        fprintf(stderr, "pulltool: %s\n", err);
        free(pem);
        return 1;
    }
    struct strbuf env = STRBUF_INIT;
    rc = manifest_sign(m, pem, pem_len, &env);
    free(pem);
    manifest_free(m);
    if (rc || util_write_file_atomic(argv[5], env.buf, env.len, 0644) != 0) {
        fprintf(stderr, "pulltool: cannot sign or write %s: %s\n", argv[5], custody_strerror(rc));
        sb_free(&env);
        return 1;
    }
    sb_free(&env);
    return 0;
}

static int parse_u64_arg(const char *s, uint64_t *out)
{
    return util_parse_u64(s, strlen(s), out);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0) return cmd_keygen(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "sign") == 0) return cmd_sign(argc, argv);
    if (argc < 3) return usage();
    const char *url = argv[1], *dest = argv[2];
    struct pull_opts po = {0};
    struct pull_source_opts so = {0};
    const char *keys[16];
    size_t nkeys = 0;
    bool progress = true, force_tty = false;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "--no-progress") == 0) {
            progress = false;
            continue;
        }
        if (strcmp(a, "--progress-tty") == 0) {
            force_tty = true;
            continue;
        }
        if (!v) return usage();
        i++;
        if (strcmp(a, "--streams") == 0 && parse_u64_arg(v, &n) == 0 && n >= 1 &&
            n <= PULL_MAX_STREAMS)
            po.streams = (unsigned)n;
        else if (strcmp(a, "--chunk") == 0 && parse_u64_arg(v, &n) == 0 && n >= PULL_MIN_CHUNK &&
                 n <= PULL_MAX_CHUNK)
            po.chunk = n;
        else if (strcmp(a, "--state-ms") == 0 && parse_u64_arg(v, &n) == 0 && n >= 1 &&
                 n <= 3600000)
            po.state_ms = (unsigned)n;
        else if (strcmp(a, "--retries") == 0 && parse_u64_arg(v, &n) == 0 && n >= 1 && n <= 100)
            po.retries = (unsigned)n;
        else if (strcmp(a, "--backoff-ms") == 0 && parse_u64_arg(v, &n) == 0 && n >= 1 &&
                 n <= 60000)
            po.backoff_ms = (unsigned)n;
        else if (strcmp(a, "--endpoint") == 0)
            so.endpoint = v;
        else if (strcmp(a, "--region") == 0)
            so.region = v;
        else if (strcmp(a, "--cainfo") == 0)
            po.cainfo = v;
        else if (strcmp(a, "--key") == 0 && nkeys < UTIL_ARRAY_LEN(keys))
            keys[nkeys++] = v;
        else
            return usage();
    }
    if (nkeys == 0) {
        fprintf(stderr, "pulltool: at least one --key PUB.pem is needed to verify the manifest\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    po.cancel = &interrupted;

    char err[1024];
    struct pull_source src;
    int rc = pull_source_parse(url, &so, &src, err, sizeof err);
    if (rc) {
        fprintf(stderr, "pulltool: %s\n", err);
        return 1;
    }
    char *env = NULL;
    size_t env_len = 0;
    rc = pull_fetch_small(&src, PULL_MANIFEST_NAME, MANIFEST_MAX_ENVELOPE, po.cainfo, &env,
                          &env_len, err, sizeof err);
    if (rc) {
        fprintf(stderr, "pulltool: manifest: %s\n", err);
        pull_source_clear(&src);
        return 1;
    }
    struct manifest *m = NULL;
    rc = CUSTODY_EINVAL;
    for (size_t k = 0; k < nkeys; k++) {
        uint8_t pub[32];
        if (util_ed25519_load_public_file(keys[k], pub) != 0) {
            fprintf(stderr, "pulltool: %s: not an Ed25519 public key (PEM)\n", keys[k]);
            free(env);
            pull_source_clear(&src);
            return 1;
        }
        rc = manifest_verify(env, env_len, pub, &m, err, sizeof err);
        if (rc == 0) break;
    }
    if (rc) {
        fprintf(stderr, "pulltool: manifest refused: %s\n", err);
        free(env);
        pull_source_clear(&src);
        return 1;
    }
    if (util_mkdir_p(dest, 0755) != 0) {
        fprintf(stderr, "pulltool: cannot create %s\n", dest);
        rc = CUSTODY_EIO;
        goto out;
    }
    int dirfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        fprintf(stderr, "pulltool: cannot open %s: %s\n", dest, strerror(errno));
        rc = CUSTODY_EIO;
        goto out;
    }
    size_t nfiles = 0;
    const struct manifest_file *files = manifest_files(m, &nfiles);
    struct pull_bar bar;
    char label[64];
    snprintf(label, sizeof label, "%.40s", manifest_name(m));
    pull_bar_init(&bar, stderr, force_tty || isatty(2), label, manifest_total_bytes(m));
    if (progress) {
        po.progress = pull_bar_progress;
        po.progress_arg = &bar;
    }
    uint64_t all = 0, t0 = util_monotonic_ns();
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
        struct pull_file pf = {.name = files[i].name, .size = files[i].size};
        memcpy(pf.sha256, files[i].sha256, 32);
        struct pull_stats st;
        bar.base = all;
        rc = pull_file(&src, &pf, dirfd, &po, &st, err, sizeof err);
        if (rc) {
            if (progress && bar.tty) fputc('\n', stderr);
            fprintf(stderr, "pulltool: %s\n", err);
            fprintf(stdout, "failed %s resumed %llu fetched %llu requests %u retries %u\n", pf.name,
                    (unsigned long long)st.resumed, (unsigned long long)st.fetched, st.requests,
                    st.retries);
            break;
        }
        all += pf.size;
        double secs = (double)st.ns / 1e9;
        fprintf(stdout,
                "pulled %s size %llu resumed %llu fetched %llu requests %u retries %u seconds "
                "%.3f gbps %.3f\n",
                pf.name, (unsigned long long)pf.size, (unsigned long long)st.resumed,
                (unsigned long long)st.fetched, st.requests, st.retries, secs,
                secs > 0 ? (double)st.fetched / secs / 1e9 : 0.0);
        fflush(stdout);
    }
    if (rc == 0) {
        if (progress) pull_bar_finish(&bar, all);
        char *p = util_path_join(dest, PULL_MANIFEST_NAME);
        if (!p || util_write_file_atomic(p, env, env_len, 0644) != 0) {
            fprintf(stderr, "pulltool: cannot write the manifest into %s\n", dest);
            rc = CUSTODY_EIO;
        }
        free(p);
        double secs = (double)(util_monotonic_ns() - t0) / 1e9;
        if (rc == 0)
            fprintf(stdout, "ok %s %s files %zu bytes %llu seconds %.3f\n", manifest_name(m),
                    manifest_version(m), nfiles, (unsigned long long)all, secs);
    }
    close(dirfd);
out:
    manifest_free(m);
    free(env);
    pull_source_clear(&src);
    if (rc == CUSTODY_EAGAIN && interrupted) return 130;
    return rc ? 1 : 0;
}
