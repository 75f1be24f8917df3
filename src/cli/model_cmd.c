/*
 * model_cmd.c — `custody model SUBCOMMAND`: models as audited resources
 * (issue 6; docs/model.md, docs/cli.md).
 *
 *   model add NAME --version V PATH...   admit shards into custodyd's cache (operator)
 *   model ls | show REF | verify REF | rm REF
 *   model load REF [--device cpu|cuda:N] load it through libcustody (and time it)
 *
 * REF is NAME@VERSION, or NAME for its newest version.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <jansson.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "custody/model.h"
#include "model/model.h"
#include "util/util.h"

#define MODEL_CMD(name) cli_find_in(cli_model_commands, cli_nmodel_commands, name)

static void human_bytes(uint64_t n, char *out, size_t len)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t k = 0;
    while (v >= 1024 && k + 1 < UTIL_ARRAY_LEN(u)) {
        v /= 1024;
        k++;
    }
    snprintf(out, len, k ? "%.1f %s" : "%.0f %s", v, u[k]);
}

#define ADD_MAX_FILES 4096

struct paths {
    char **v;
    size_t n;
};

static int add_path(struct paths *p, char *abs)
{
    if (p->n == ADD_MAX_FILES) {
        free(abs);
        return cli_local_error(CUSTODY_ETOOBIG, "more than %d shard files", ADD_MAX_FILES);
    }
    p->v = util_realloc(p->v, (p->n + 1) * sizeof *p->v);
    p->v[p->n++] = abs;
    return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses an index that lies about its shards (model_index_check): every
 * tensor where the weight_map says, and nothing more or less. */
static int check_index(const char *index, const char *dir, const struct model_index *idx)
{
    struct model_header *h = util_calloc(idx->nshards ? idx->nshards : 1, sizeof *h);
    const struct model_header **hp = util_calloc(idx->nshards ? idx->nshards : 1, sizeof *hp);
    char why[512];
    int rc = 0;
    size_t parsed = 0;
    for (; parsed < idx->nshards && !rc; parsed++) {
        char *path = util_path_join(dir, idx->shards[parsed]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            rc = cli_local_error(CUSTODY_ENOENT, "%s names shard %s: %s", index, path,
                                 strerror(errno));
        else if (model_parse_fd(fd, &h[parsed], why, sizeof why) != 0)
            rc = cli_local_error(CUSTODY_EINVAL, "%s: %s", path, why);
        if (fd >= 0) close(fd);
        free(path);
        hp[parsed] = &h[parsed];
    }
    if (!rc && model_index_check(idx, hp, why, sizeof why) != 0)
        rc = cli_local_error(CUSTODY_EINVAL, "%s: %s", index, why);
    for (size_t i = 0; i < parsed; i++)
        model_header_free(&h[i]);
    free(hp);
    free(h);
    return rc;
}

/* A directory: the shards its model.safetensors.index.json names (checked
 * against their headers), or else every *.safetensors and *.gguf file in it
 * (sorted). */
static int add_dir(struct paths *p, const char *dir)
{
    char *index = util_path_join(dir, "model.safetensors.index.json");
    char *json = NULL;
    size_t len = 0;
    int rc = util_read_file(index, MODEL_INDEX_MAX_BYTES, &json, &len);
    if (rc == 0) {
        struct model_index idx;
        char why[384];
        rc = model_parse_safetensors_index(json, len, &idx, why, sizeof why);
        free(json);
        if (rc) {
            rc = cli_local_error(CUSTODY_EINVAL, "%s: %s", index, why);
        } else {
            rc = check_index(index, dir, &idx);
            for (size_t i = 0; i < idx.nshards && !rc; i++)
                rc = add_path(p, util_path_join(dir, idx.shards[i]));
            model_index_free(&idx);
        }
        free(index);
        return rc;
    }
    free(index);
    DIR *d = opendir(dir);
    if (!d) return cli_local_error(CUSTODY_EIO, "%s: %s", dir, strerror(errno));
    size_t first = p->n;
    struct dirent *e;
    rc = 0;
    while (!rc && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            (has_suffix(e->d_name, ".safetensors") || has_suffix(e->d_name, ".gguf")))
            rc = add_path(p, util_path_join(dir, e->d_name));
    closedir(d);
    if (!rc && p->n == first)
        rc = cli_local_error(CUSTODY_ENOENT, "%s: no *.safetensors or *.gguf files", dir);
    if (!rc) qsort(p->v + first, p->n - first, sizeof *p->v, name_cmp);
    return rc;
}

static int cmd_model_add(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model add");
    enum { O_VERSION = 256, O_REPLACE, O_SIGN_KEY };
    static const struct option lo[] = {{"version", required_argument, NULL, O_VERSION},
                                       {"replace", no_argument, NULL, O_REPLACE},
                                       {"sign-key", required_argument, NULL, O_SIGN_KEY},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *version = NULL, *sign_key_arg = NULL;
    bool replace = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_VERSION) version = optarg;
        if (ch == O_REPLACE) replace = true;
        if (ch == O_SIGN_KEY) sign_key_arg = optarg;
    }
    if (!version) return cli_usage_error(cmd, "--version V is required");
    if (cli_operands(cmd, argc, 2, 1 + ADD_MAX_FILES, &rc) < 0) return rc;
    const char *name = argv[optind];
    struct paths ps = {0};
    for (int i = optind + 1; i < argc && !rc; i++) {
        char *abs = realpath(argv[i], NULL);
        struct stat st;
        if (!abs) {
            rc = cli_local_error(CUSTODY_ENOENT, "%s: %s", argv[i], strerror(errno));
        } else if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = add_dir(&ps, abs);
            free(abs);
        } else {
            rc = add_path(&ps, abs);
        }
    }
    char **paths = ps.v;
    size_t n = ps.n;
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
        return rc;
    }
    char *sign_key = NULL;
    if (sign_key_arg && !(sign_key = realpath(sign_key_arg, NULL))) {
        rc = cli_local_error(CUSTODY_ENOENT, "%s: %s", sign_key_arg, strerror(errno));
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
        return rc;
    }
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    char *answer = NULL;
    if (c)
        rc = custody_model_register(c, name, version, (const char *const *)paths, n, replace,
                                    sign_key, &answer);
    free(sign_key);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (!c) return rc;
    char ref[600];
    snprintf(ref, sizeof ref, "%s@%s", name, version);
    json_t *o = cli_answer(cli, rc, &answer, ref, &rc);
    if (!o) return rc;
    char hb[32];
    human_bytes((uint64_t)json_integer_value(json_object_get(o, "bytes")), hb, sizeof hb);
    printf("added %s: %zu files, %s, manifest %s (signed by this node)\n", ref, n, hb,
           json_string_value(json_object_get(o, "digest")));
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_model_ls(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model ls");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_model_list(c, &answer);
    json_t *o = cli_answer(cli, rc, &answer, "models", &rc);
    if (!o) return rc;
    json_t *arr = json_object_get(o, "models"), *m;
    size_t i;
    printf("%-32s %-12s %10s  %-8s %-20s %s\n", "NAME", "VERSION", "SIZE", "STATE", "LAST USED",
           "MANIFEST");
    json_array_foreach(arr, i, m)
    {
        char hb[32];
        human_bytes((uint64_t)json_integer_value(json_object_get(m, "bytes")), hb, sizeof hb);
        const char *d = json_string_value(json_object_get(m, "digest"));
        printf("%-32s %-12s %10s  %-8s %-20.19s %.23s\n",
               json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "version")), hb,
               json_is_true(json_object_get(m, "present")) ? "cached" : "evicted",
               json_string_value(json_object_get(m, "last_used")), d ? d : "");
    }
    json_t *cache = json_object_get(o, "cache");
    if (cache) {
        char used[32], max[32];
        human_bytes((uint64_t)json_integer_value(json_object_get(cache, "bytes")), used,
                    sizeof used);
        uint64_t mb = (uint64_t)json_integer_value(json_object_get(cache, "max_bytes"));
        human_bytes(mb, max, sizeof max);
        printf("cache: %s used%s%s\n", used, mb ? " of " : " (no limit)", mb ? max : "");
    }
    json_decref(o);
    return CLI_EXIT_OK;
}

/* The prologue of the commands that take only REF (and --json): the
 * client, or NULL with *rc set. */
static custody_client_t *one_ref(struct cli *cli, const struct cli_command *cmd, int argc,
                                 char **argv, const char **ref, int *rc)
{
    if (!cli_common_opts(cli, cmd, argc, argv, rc)) return NULL;
    if (cli_operands(cmd, argc, 1, 1, rc) < 0) return NULL;
    *ref = argv[optind];
    return cli_client_or_exit(cli, rc);
}

static int cmd_model_show(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model show");
    int rc = 0;
    const char *ref;
    custody_client_t *c = one_ref(cli, cmd, argc, argv, &ref, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_model_show(c, ref, &answer);
    json_t *o = cli_answer(cli, rc, &answer, ref, &rc);
    if (!o) return rc;
    char hb[32];
    human_bytes((uint64_t)json_integer_value(json_object_get(o, "bytes")), hb, sizeof hb);
    printf("model:    %s@%s\nmanifest: %s\nsize:     %s (%lld bytes)\nstate:    %s\n",
           json_string_value(json_object_get(o, "name")),
           json_string_value(json_object_get(o, "version")),
           json_string_value(json_object_get(o, "digest")), hb,
           (long long)json_integer_value(json_object_get(o, "bytes")),
           json_is_true(json_object_get(o, "present")) ? "cached" : "evicted");
    const char *problem = json_string_value(json_object_get(o, "problem"));
    if (problem) printf("problem:  %s\n", problem);
    json_t *f;
    size_t i;
    json_array_foreach(json_object_get(o, "files"), i, f)
    {
        printf("\nfile %s  (%s, %lld bytes, sha256 %s)\n",
               json_string_value(json_object_get(f, "name")),
               json_string_value(json_object_get(f, "format"))
                   ? json_string_value(json_object_get(f, "format"))
                   : "?",
               (long long)json_integer_value(json_object_get(f, "size")),
               json_string_value(json_object_get(f, "sha256")));
        json_t *t;
        size_t k;
        json_t *ts = json_object_get(f, "tensors");
        if (json_array_size(ts))
            printf("  %-48s %-8s %-24s %14s\n", "TENSOR", "DTYPE", "SHAPE", "BYTES");
        json_array_foreach(ts, k, t)
        {
            char shape[64] = "[";
            size_t o2 = 1, d;
            json_t *v;
            json_array_foreach(json_object_get(t, "shape"), d, v)
            {
                if (o2 + 24 >= sizeof shape) break;
                o2 += (size_t)snprintf(shape + o2, sizeof shape - o2, "%s%lld", d ? ", " : "",
                                       (long long)json_integer_value(v));
            }
            util_strlcpy(shape + o2, "]", sizeof shape - o2);
            printf("  %-48s %-8s %-24s %14lld\n", json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "dtype")), shape,
                   (long long)json_integer_value(json_object_get(t, "nbytes")));
        }
    }
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_model_verify(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model verify");
    int rc = 0;
    const char *ref;
    custody_client_t *c = one_ref(cli, cmd, argc, argv, &ref, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_model_verify(c, ref, &answer);
    json_t *o = cli_answer(cli, rc, &answer, ref, &rc);
    if (!o) return rc;
    printf("%s: every shard matches its signed manifest\n", ref);
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_model_rm(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model rm");
    int rc = 0;
    const char *ref;
    custody_client_t *c = one_ref(cli, cmd, argc, argv, &ref, &rc);
    if (!c) return rc;
    rc = custody_model_remove(c, ref);
    if (rc) return cli_fail(cli, rc, ref);
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:b}", "model", ref, "removed", 1);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("removed %s\n", ref);
    }
    return CLI_EXIT_OK;
}

static int parse_device(const char *s, int *dev)
{
    if (strcmp(s, "cpu") == 0) {
        *dev = -1;
        return 0;
    }
    uint64_t v;
    const char *p = strncmp(s, "cuda:", 5) == 0 ? s + 5 : strcmp(s, "cuda") == 0 ? "0" : NULL;
    if (!p || util_parse_u64(p, strlen(p), &v) != 0 || v > 1024) return -1;
    *dev = (int)v;
    return 0;
}

static int parse_method(const char *s, int *m)
{
    static const char *const names[] = {"auto", "mmap", "pinned", "direct", "cufile"};
    for (int i = 0; i < (int)UTIL_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *m = i;
            return 0;
        }
    return -1;
}

static int cmd_model_load(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model load");
    enum { O_DEVICE = 256, O_METHOD, O_THREADS, O_CHUNK };
    static const struct option lo[] = {{"device", required_argument, NULL, O_DEVICE},
                                       {"method", required_argument, NULL, O_METHOD},
                                       {"threads", required_argument, NULL, O_THREADS},
                                       {"chunk", required_argument, NULL, O_CHUNK},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    custody_load_opts_t o = {.device = -1};
    int rc = 0, ch;
    uint64_t v;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_DEVICE && parse_device(optarg, &o.device) != 0)
            return cli_usage_error(cmd, "--device: cpu, cuda or cuda:N");
        if (ch == O_METHOD && parse_method(optarg, &o.method) != 0)
            return cli_usage_error(cmd, "--method: auto, mmap, pinned, direct or cufile");
        if (ch == O_THREADS) {
            if (util_parse_u64(optarg, strlen(optarg), &v) != 0 || v == 0 || v > 256)
                return cli_usage_error(cmd, "--threads: 1..256");
            o.threads = (unsigned)v;
        }
        if (ch == O_CHUNK) {
            if (util_parse_u64(optarg, strlen(optarg), &v) != 0 || v < 4096 || v > (1u << 30))
                return cli_usage_error(cmd, "--chunk: bytes, 4096..1073741824");
            o.chunk = (size_t)v;
        }
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *ref = argv[optind];
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) return rc;
    custody_model_t *m = NULL;
    uint64_t t0 = util_monotonic_ns();
    rc = custody_model_open(c, ref, &m);
    if (rc) return cli_fail(cli, rc, ref);
    uint64_t t1 = util_monotonic_ns();
    rc = custody_model_load(m, &o);
    if (rc) {
        custody_model_close(m);
        return cli_fail(cli, rc, ref);
    }
    uint64_t bytes = custody_model_loaded_bytes(m);
    double secs = custody_model_load_seconds(m);
    double gbs = secs > 0 ? (double)bytes / secs / 1e9 : 0;
    if (cli->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:f, s:f, s:f}", "name",
                      custody_model_name(m), "version", custody_model_version(m), "digest",
                      custody_model_digest(m), "tensors", (json_int_t)custody_model_tensor_count(m),
                      "bytes", (json_int_t)bytes, "device", custody_model_device(m), "open_ms",
                      (double)(t1 - t0) / 1e6, "load_s", secs, "gb_per_s", gbs);
        cli_print_json(j);
        json_decref(j);
    } else {
        char hb[32];
        human_bytes(bytes, hb, sizeof hb);
        printf("loaded %s@%s: %zu tensors, %s into %s in %.3f s (%.2f GB/s); decision and "
               "audit %.2f ms\n",
               custody_model_name(m), custody_model_version(m), custody_model_tensor_count(m), hb,
               custody_model_device(m) < 0 ? "CPU memory" : "GPU memory", secs, gbs,
               (double)(t1 - t0) / 1e6);
    }
    custody_model_close(m);
    return CLI_EXIT_OK;
}

/* ---- prewarm: custodyd warms, we draw progress from the residency it reports ---- */

struct prewarm_job {
    custody_client_t *c; /* its own connection, with the command's identity */
    const char *ref, *to;
    int rc;
    char *answer;
    char err[512];
    volatile int done;
};

static void *prewarm_thread(void *arg)
{
    struct prewarm_job *j = arg;
    j->rc = custody_model_prewarm(j->c, j->ref, j->to, &j->answer);
    if (j->rc) util_strlcpy(j->err, custody_client_last_error(j->c), sizeof j->err);
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Resident and total bytes of REF's shards. */
static int residency(custody_client_t *c, const char *ref, uint64_t *res, uint64_t *total)
{
    char *answer = NULL;
    int rc = custody_model_residency(c, ref, &answer);
    if (rc) return rc;
    json_t *o = json_loads(answer, 0, NULL);
    free(answer);
    *res = *total = 0;
    json_t *f;
    size_t i;
    json_array_foreach(json_object_get(o, "files"), i, f)
    {
        *res += (uint64_t)json_integer_value(json_object_get(f, "resident"));
        *total += (uint64_t)json_integer_value(json_object_get(f, "size"));
    }
    json_decref(o);
    return 0;
}

static void draw(uint64_t res, uint64_t total, double secs, uint64_t start_res, bool tty)
{
    double pct = total ? 100.0 * (double)res / (double)total : 100;
    double rate = secs > 0 ? (double)(res - UTIL_MIN(res, start_res)) / secs : 0;
    double eta = rate > 0 ? (double)(total - res) / rate : 0;
    char r[32], t[32];
    human_bytes(res, r, sizeof r);
    human_bytes(total, t, sizeof t);
    int w = (int)(pct / 100 * 30);
    fprintf(stderr, "%s[%.*s%*s] %5.1f%%  %s / %s  %.2f GB/s  ETA %.0f s%s", tty ? "\r" : "", w,
            "##############################", 30 - w, "", pct, r, t, rate / 1e9, eta,
            tty ? "  " : "\n");
    fflush(stderr);
}

static int cmd_model_prewarm(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model prewarm");
    enum { O_TO = 256 };
    static const struct option lo[] = {
        {"to", required_argument, NULL, O_TO}, OPT_HELP, OPT_JSON, OPT_END};
    const char *to = "page-cache";
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_TO) {
            if (strcmp(optarg, "page-cache") != 0 && strcmp(optarg, "pinned") != 0)
                return cli_usage_error(cmd, "--to: page-cache or pinned");
            to = optarg;
        }
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *ref = argv[optind];
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) return rc;
    uint64_t res0 = 0, total = 0;
    if ((rc = residency(c, ref, &res0, &total)) != 0) return cli_fail(cli, rc, ref);
    struct prewarm_job j = {.c = cli_client_new(cli), .ref = ref, .to = to};
    if (!j.c) return cli_local_error(CUSTODY_ENOMEM, "cannot open a second client");
    pthread_t th;
    if (pthread_create(&th, NULL, prewarm_thread, &j) != 0) {
        custody_client_close(j.c);
        return cli_local_error(CUSTODY_ENOMEM, "cannot start a thread");
    }
    bool tty = isatty(STDERR_FILENO) && !cli->json;
    uint64_t t0 = util_monotonic_ns(), last = t0;
    while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
        usleep(50000);
        uint64_t now = util_monotonic_ns();
        if (cli->json || now - last < (tty ? 250000000ull : 2000000000ull)) continue;
        last = now;
        uint64_t res;
        if (residency(c, ref, &res, &total) == 0)
            draw(res, total, (double)(now - t0) / 1e9, res0, tty);
    }
    pthread_join(th, NULL);
    custody_client_close(j.c);
    if (tty) fputc('\n', stderr);
    if (j.rc) {
        free(j.answer);
        return cli_local_error(j.rc, "%s: %s", ref, j.err[0] ? j.err : custody_strerror(j.rc));
    }
    json_t *o = cli_answer(cli, 0, &j.answer, ref, &rc);
    if (!o) return rc;
    char hb[32];
    uint64_t bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
    double secs = json_real_value(json_object_get(o, "seconds"));
    human_bytes(bytes, hb, sizeof hb);
    printf("%s: %s %s in %.2f s (%.2f GB/s; %.0f%% was resident before)%s\n", ref,
           strcmp(to, "pinned") == 0 ? "pinned" : "warmed", hb, secs,
           secs > 0 ? (double)bytes / secs / 1e9 : 0,
           bytes ? 100.0 * (double)json_integer_value(json_object_get(o, "resident_before")) /
                       (double)bytes
                 : 100.0,
           strcmp(to, "pinned") == 0 ? "; release with custody model unpin" : "");
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_model_unpin(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = MODEL_CMD("model unpin");
    int rc = 0;
    const char *ref;
    custody_client_t *c = one_ref(cli, cmd, argc, argv, &ref, &rc);
    if (!c) return rc;
    rc = custody_model_unpin(c, ref);
    if (rc) return cli_fail(cli, rc, ref);
    if (!cli->json) printf("unpinned %s\n", ref);
    return CLI_EXIT_OK;
}

int cli_model_pull(struct cli *cli, int argc, char **argv); /* model_pull.c */

const char cli_model_details[] =
    "subcommands:\n"
    "  add NAME --version V [--replace] PATH...\n"
    "                      admit shard files (safetensors, GGUF) into the model cache:\n"
    "                      headers checked, bytes hashed, manifest signed (operator)\n"
    "  ls                  the registry: versions, sizes, cached or evicted\n"
    "  show REF            one model: files, digests, tensor table\n"
    "  verify REF          re-hash its cached shards against the signed manifest\n"
    "  rm REF              forget a model version (its bytes leave the cache)\n"
    "  pull URL [--key PUB]... [--streams N] [--chunk BYTES]\n"
    "                      fetch a signed model from HTTP(S) or S3, verified, into the cache\n"
    "  prewarm REF [--to page-cache|pinned]\n"
    "                      make its shards resident (pinned: locked in RAM until unpin)\n"
    "  unpin NAME@VERSION  release a pin\n"
    "  load REF [--device cpu|cuda:N]\n"
    "                      load it through libcustody (decided and audited) and time it\n"
    "\nREF is NAME@VERSION (or NAME: its newest version). see docs/model.md.\n";

const struct cli_command cli_model_commands[] = {
    {"model add", cmd_model_add,
     "model add NAME --version V [--replace] [--sign-key FILE] PATH... [--json]",
     "Admit a model's shard files into custodyd's cache and sign its manifest.",
     "Every header is parsed (bounds-checked), every byte hashed while it is copied into\n"
     "the content-addressed cache (STATE/models), and the manifest (an in-toto statement\n"
     "in a DSSE envelope) signed with the node key. The event model.register is signed.\n"
     "options:\n"
     "  --version V   the version (required; no '/' or '@')\n"
     "  --replace     replace an existing NAME@V\n"
     "  --sign-key F  sign with this Ed25519 private key (PEM, PKCS#8; custodyd reads it)\n"
     "                instead of the node key; its public key is recorded and checked on\n"
     "                every load\n"
     "  --json        print custodyd's JSON answer\n"
     "\nA PATH that is a directory stands for the shards its model.safetensors.index.json\n"
     "names, or else for its *.safetensors and *.gguf files.\n"
     "\nexamples:\n  custody model add llama-3-8b --version 1.0 ./model-0000*.safetensors\n"
     "  custody model add qwen --version 2.5 ~/models/qwen2.5-7b/\n"},
    {"model ls", cmd_model_ls, "model ls [--json]", "List the models in the registry.",
     "columns: NAME VERSION SIZE STATE (cached / evicted) LAST-USED MANIFEST\n"
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"model show", cmd_model_show, "model show REF [--json]",
     "Show a model: its files, their digests and its tensor table.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"model verify", cmd_model_verify, "model verify NAME@VERSION [--json]",
     "Re-hash a model's cached shards against its signed manifest.",
     "A shard that no longer matches is removed and the model marked evicted; one that\n"
     "matches but was touched (its ctime moved) is accepted again for loads.\n"
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"model rm", cmd_model_rm, "model rm NAME@VERSION [--json]", "Remove a model version.",
     "options:\n  --json   print {model, removed}\n"},
    {"model pull", cli_model_pull,
     "model pull URL [--key PUB]... [--streams N] [--chunk BYTES] [--endpoint URL] [--region R]\n"
     "             [--cacert FILE] [--name NAME] [--version V] [--replace] [--quiet] [--json]",
     "Fetch a model from an HTTP(S) origin or S3, verify it, and admit it into the cache.",
     "URL: http(s)://HOST/PREFIX/ or s3://BUCKET/PREFIX, holding manifest.dsse.json (a signed\n"
     "in-toto manifest) and the shard files it names. The manifest must verify under a\n"
     "--key (PEM Ed25519 public key; default this node's keys/node.pub). Shards arrive by\n"
     "parallel ranged GETs into STATE/models/staging as NAME.partial, hashed as they arrive,\n"
     "and are renamed only once they match; then custodyd admits them (model add). An\n"
     "interrupted pull resumes when the same command runs again. S3 credentials:\n"
     "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION; endpoint\n"
     "--endpoint or AWS_ENDPOINT_URL (path-style). docs/pull.md.\n"
     "options:\n"
     "  --streams N     parallel connections (default 8); --chunk BYTES per GET (8 MiB)\n"
     "  --name, --version  register under these instead of the manifest's\n"
     "  --replace       replace an existing NAME@VERSION\n"
     "  --quiet         no progress bar\n"
     "\nexample:\n  custody model pull http://models.internal/llama-3-8b/1.0/ --key "
     "publisher.pub\n"},
    {"model prewarm", cmd_model_prewarm, "model prewarm REF [--to page-cache|pinned] [--json]",
     "Make a model's shards resident in the page cache, so a scheduled load finds them hot.",
     "custodyd does the reading (action model.prewarm, audited) with many reads in flight\n"
     "(docs/model.md, \"Pre-warming\"); progress, rate and ETA are drawn on stderr.\n"
     "options:\n"
     "  --to page-cache   resident now; the kernel may reclaim the pages later (default)\n"
     "  --to pinned       resident and mlock'ed by custodyd until 'custody model unpin',\n"
     "                    rm or custodyd's exit (needs RLIMIT_MEMLOCK or CAP_IPC_LOCK)\n"
     "  --json            print custodyd's answer\n"},
    {"model unpin", cmd_model_unpin, "model unpin NAME@VERSION [--json]",
     "Release the pin of a model pre-warmed with --to pinned.", ""},
    {"model load", cmd_model_load,
     "model load REF [--device cpu|cuda:N] [--method M] [--threads N] [--chunk BYTES] [--json]",
     "Load a model through libcustody (decision, audit, checks) and report the rate.",
     "options:\n"
     "  --device D    cpu (default), cuda or cuda:N\n"
     "  --method M    auto, mmap (CPU), pinned, direct or cufile (GPU)\n"
     "  --threads N   reader threads; --chunk BYTES: bytes per read\n"
     "  --json        print {name, version, digest, tensors, bytes, device, open_ms,\n"
     "                load_s, gb_per_s}\n"},
};
const unsigned cli_nmodel_commands = UTIL_ARRAY_LEN(cli_model_commands);

int cli_cmd_model(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "model", cli_model_commands, cli_nmodel_commands, cli_model_details,
                        argc, argv);
}
