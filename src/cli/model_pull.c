/*
 * model_pull.c — `custody model pull URL`: a model from an HTTP(S) origin or
 * an S3-compatible endpoint into custodyd's cache (issue 6; docs/pull.md).
 *
 *   1. the origin's manifest.dsse.json must verify under a trusted key (--key
 *      PEM, repeatable; default: this node's keys/node.pub);
 *   2. each shard is fetched by src/pull into STATE/models/staging/<url hash>/
 *      as NAME.partial with parallel ranged GETs, hashed as it arrives, and
 *      renamed only once its size and SHA-256 match the manifest: nothing
 *      unverified is ever visible under its name;
 *   3. custodyd admits the verified shards (custody model add: headers,
 *      hashes, its own signed manifest; a model.register event) and the
 *      staging directory goes.
 *
 * An interrupted pull (Ctrl-C, a lost connection) keeps its partial files and
 * their resume state: the same command again fetches only the rest. A
 * refused pull (bad signature, wrong bytes) is reported to custodyd, so the
 * ledger holds it (action model.pull, decision deny).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "custody/model.h"
#include "manifest/manifest.h"
#include "pull/pull.h"
#include "util/util.h"

#define PULL_KEYS_MAX 8

static volatile int g_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* Records a refused pull in the ledger (best effort: the error is printed anyway). */
static void report(struct cli *cli, const char *url, const char *why)
{
    custody_client_t *c = cli_client(cli);
    if (c) custody_report_refusal(c, "pull", "model.pull", url, why);
}

static int cmd_model_pull(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("model pull");
    enum {
        O_KEY = 256,
        O_STREAMS,
        O_CHUNK,
        O_ENDPOINT,
        O_REGION,
        O_CACERT,
        O_NAME,
        O_VERSION,
        O_REPLACE,
        O_QUIET
    };
    static const struct option lo[] = {{"key", required_argument, NULL, O_KEY},
                                       {"streams", required_argument, NULL, O_STREAMS},
                                       {"chunk", required_argument, NULL, O_CHUNK},
                                       {"endpoint", required_argument, NULL, O_ENDPOINT},
                                       {"region", required_argument, NULL, O_REGION},
                                       {"cacert", required_argument, NULL, O_CACERT},
                                       {"name", required_argument, NULL, O_NAME},
                                       {"version", required_argument, NULL, O_VERSION},
                                       {"replace", no_argument, NULL, O_REPLACE},
                                       {"quiet", no_argument, NULL, O_QUIET},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *keys[PULL_KEYS_MAX];
    size_t nkeys = 0;
    const char *name = NULL, *version = NULL;
    bool replace = false, quiet = false;
    struct pull_opts po = {0};
    struct pull_source_opts so = {0};
    int rc = 0, ch;
    uint64_t v;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        switch (ch) {
        case O_KEY:
            if (nkeys == PULL_KEYS_MAX) return cli_usage_error(cmd, "at most 8 --key");
            keys[nkeys++] = optarg;
            break;
        case O_STREAMS:
            if (util_parse_u64(optarg, strlen(optarg), &v) || v < 1 || v > PULL_MAX_STREAMS)
                return cli_usage_error(cmd, "--streams: 1..%d", PULL_MAX_STREAMS);
            po.streams = (unsigned)v;
            break;
        case O_CHUNK:
            if (util_parse_u64(optarg, strlen(optarg), &v) || v < PULL_MIN_CHUNK ||
                v > PULL_MAX_CHUNK)
                return cli_usage_error(cmd, "--chunk: bytes, %u..%u", PULL_MIN_CHUNK,
                                       PULL_MAX_CHUNK);
            po.chunk = v;
            break;
        case O_ENDPOINT:
            so.endpoint = optarg;
            break;
        case O_REGION:
            so.region = optarg;
            break;
        case O_CACERT:
            po.cainfo = optarg;
            break;
        case O_NAME:
            name = optarg;
            break;
        case O_VERSION:
            version = optarg;
            break;
        case O_REPLACE:
            replace = true;
            break;
        case O_QUIET:
            quiet = true;
            break;
        default:
            break;
        }
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *url = argv[optind];
    char *node_pub = NULL;
    if (nkeys == 0) {
        node_pub = util_path_join(cli_state_dir(cli), "keys/node.pub");
        keys[nkeys++] = node_pub;
    }
    uint8_t pubs[PULL_KEYS_MAX][32];
    for (size_t k = 0; k < nkeys; k++)
        if (util_ed25519_load_public_file(keys[k], pubs[k]) != 0) {
            rc = cli_local_error(CUSTODY_EINVAL, "%s: not an Ed25519 public key (PEM)", keys[k]);
            free(node_pub);
            return rc;
        }
    free(node_pub);

    char err[1024] = "";
    struct pull_source src;
    if ((rc = pull_source_parse(url, &so, &src, err, sizeof err)) != 0)
        return cli_local_error(rc, "%s", err);
    /* the manifest, verified before a byte of a shard is fetched */
    char *env = NULL;
    size_t env_len = 0;
    struct manifest *m = NULL;
    rc = pull_fetch_small(&src, PULL_MANIFEST_NAME, MANIFEST_MAX_ENVELOPE, po.cainfo, &env,
                          &env_len, err, sizeof err);
    if (rc) {
        pull_source_clear(&src);
        return cli_local_error(rc, "%s: the manifest: %s", url, err);
    }
    for (size_t k = 0; k < nkeys; k++)
        if ((rc = manifest_verify(env, env_len, pubs[k], &m, err, sizeof err)) == 0) break;
    free(env);
    if (rc) {
        char why[1200];
        snprintf(why, sizeof why, "manifest refused: %s", err);
        report(cli, url, why);
        pull_source_clear(&src);
        return cli_local_error(rc, "%s: %s", url, why);
    }
    if (!name) name = manifest_name(m);
    if (!version) version = manifest_version(m);

    /* staging: one directory per URL, so running the command again resumes */
    uint8_t h[UTIL_SHA256_LEN];
    char hex[UTIL_SHA256_HEX_LEN + 1];
    util_sha256(url, strlen(url), h);
    util_hex_encode(h, UTIL_SHA256_LEN, hex);
    hex[16] = '\0';
    struct strbuf dir = STRBUF_INIT;
    sb_printf(&dir, "%s/models/staging/%s", cli_state_dir(cli), hex);
    int dirfd = -1;
    if ((rc = util_mkdir_p(dir.buf, 0700)) != 0 ||
        (dirfd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = cli_local_error(rc ? rc : CUSTODY_EIO, "cannot create %s", dir.buf);
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    po.cancel = &g_interrupted;
    size_t n;
    const struct manifest_file *files = manifest_files(m, &n);
    struct pull_bar bar;
    char label[64];
    snprintf(label, sizeof label, "%.40s@%.20s", name, version);
    pull_bar_init(&bar, stderr, isatty(STDERR_FILENO) != 0, label, manifest_total_bytes(m));
    if (!quiet && !cli->json) {
        po.progress = pull_bar_progress;
        po.progress_arg = &bar;
    }
    uint64_t done = 0, fetched = 0, t0 = util_monotonic_ns();
    for (size_t i = 0; i < n && !rc; i++) {
        struct pull_file pf = {.name = files[i].name, .size = files[i].size};
        memcpy(pf.sha256, files[i].sha256, UTIL_SHA256_LEN);
        struct pull_stats st = {0};
        bar.base = done;
        rc = pull_file(&src, &pf, dirfd, &po, &st, err, sizeof err);
        fetched += st.fetched;
        done += files[i].size;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (po.progress && !rc)
        pull_bar_finish(&bar, done);
    else if (po.progress && bar.tty)
        fputc('\n', stderr);
    double secs = (double)(util_monotonic_ns() - t0) / 1e9;
    if (rc) {
        if (g_interrupted) {
            rc = cli_local_error(rc, "%s: interrupted; the same command resumes where it stopped",
                                 url);
        } else {
            report(cli, url, err);
            rc = cli_local_error(rc, "%s: %s", url, err);
        }
        goto out;
    }
    /* custodyd admits the verified shards */
    char **paths = util_calloc(n, sizeof *paths);
    for (size_t i = 0; i < n; i++)
        paths[i] = util_path_join(dir.buf, files[i].name);
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    char *answer = NULL;
    if (c)
        rc = custody_model_register(c, name, version, (const char *const *)paths, n, replace, NULL,
                                    &answer);
    for (size_t i = 0; i < n; i++) {
        if (c) unlink(paths[i]);
        free(paths[i]);
    }
    free(paths);
    if (!c) goto out;
    char ref[600];
    snprintf(ref, sizeof ref, "%s@%s", name, version);
    json_t *o = cli_answer(cli, rc, &answer, ref, &rc);
    if (!o) goto out;
    char hb[32];
    pull_fmt_bytes((double)done, hb, sizeof hb);
    printf("pulled %s: %zu files, %s (%.1f%% fetched, the rest resumed) in %.2f s, %.2f GB/s; "
           "manifest %s\n",
           ref, n, hb, done ? 100.0 * (double)fetched / (double)done : 100.0, secs,
           secs > 0 ? (double)fetched / secs / 1e9 : 0.0,
           json_string_value(json_object_get(o, "digest")));
    json_decref(o);
    rmdir(dir.buf);
out:
    if (dirfd >= 0) close(dirfd);
    sb_free(&dir);
    manifest_free(m);
    pull_source_clear(&src);
    return rc;
}

int cli_model_pull(struct cli *cli, int argc, char **argv)
{
    return cmd_model_pull(cli, argc, argv);
}
