/*
 * audit.c — `custody audit SUBCOMMAND`: reading custodyd's audit ledger
 * through libcustody (status, key, checkpoint, show, tail, search, hash,
 * proof, consistency), and `audit verify`, which checks a ledger directory
 * offline with ledger_verify (no daemon needed). docs/cli.md, "audit".
 *
 * Human output is for people (one line per event in tail and search); --json
 * prints custodyd's answers (JSON Lines for tail). Proof files and entry
 * bytes are written exactly as the log holds them, so that an auditor can
 * check them without custody.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ledger/ledger.h"
#include "util/util.h"

#define ENTRIES_PAGE 1000 /* custodyd's cap on /v1/audit/entries?limit= */
#define SEARCH_LIMIT_MAX 10000
#define FOLLOW_INTERVAL_MS 500

/* ---- helpers ---- */

static bool parse_u64_arg(const char *s, uint64_t *out)
{
    return util_parse_u64(s, strlen(s), out) == 0;
}

static void print_or_dash(const char *s)
{
    if (s && *s)
        cli_print_safe(s);
    else
        putchar('-');
}

static void print_json_line(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s) {
        puts(s);
        free(s);
    }
}

static void print_body(const char *body, size_t len)
{
    fwrite(body, 1, len, stdout);
    if (len == 0 || body[len - 1] != '\n') putchar('\n');
}

/* A malformed answer: custodyd misbehaved (exit 1). */
static int malformed(const char *what)
{
    fprintf(stderr, "custody: custodyd sent a malformed answer to %s (%s)\n", what,
            custody_err_code(CUSTODY_EPROTO));
    return CLI_EXIT_REFUSED;
}

static custody_client_t *client_or_exit(struct cli *cli, int *exit_rc)
{
    custody_client_t *c = cli_client(cli);
    if (!c) *exit_rc = CLI_EXIT_USAGE;
    return c;
}

/* GET /v1/audit/<path>?<query>, raw. 0 or the exit status (message printed). */
static int audit_get(struct cli *cli, const char *path, const char *query, char **body, size_t *len)
{
    int exit_rc = CLI_EXIT_OK;
    custody_client_t *c = client_or_exit(cli, &exit_rc);
    if (!c) return exit_rc;
    int rc = custody_audit_get(c, path, query, body, len);
    if (rc) return cli_fail(cli, rc, NULL);
    return CLI_EXIT_OK;
}

/* Same, parsed as a JSON object. */
static int audit_get_json(struct cli *cli, const char *path, const char *query, json_t **out)
{
    char *body = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = audit_get(cli, path, query, &body, &len);
    if (rc) return rc;
    json_error_t jerr;
    *out = json_loadb(body, len, 0, &jerr);
    free(body);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return malformed(path);
    }
    return CLI_EXIT_OK;
}

/* Writes data to path ("-" or NULL: stdout); the exit status. */
static int write_output(const char *path, const void *data, size_t len)
{
    if (!path || strcmp(path, "-") == 0) {
        fwrite(data, 1, len, stdout);
        return CLI_EXIT_OK;
    }
    int rc = util_write_file_atomic(path, data, len, 0644);
    if (rc) return cli_local_error(rc, "cannot write %s: %s", path, custody_strerror(rc));
    return CLI_EXIT_OK;
}

static bool to_stdout(const char *path)
{
    return !path || strcmp(path, "-") == 0;
}

/* The node's log key (public half, named for the origin) from the state
 * directory: the configuration (for the origin) and keys/node.ed25519. */
static int node_key(struct cli *cli, struct tlog_key *pub)
{
    const char *dir = cli_state_dir(cli);
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    int rc = config_load(dir, &cfg, &err);
    if (rc) {
        while (err.len && err.buf[err.len - 1] == '\n')
            err.buf[--err.len] = '\0';
        int x = cli_local_error(rc, "cannot read the configuration in %s: %s", dir,
                                err.len ? err.buf : custody_strerror(rc));
        sb_free(&err);
        return x;
    }
    sb_free(&err);
    struct tlog_key key;
    char origin[TLOG_NAME_MAX + 1];
    rc = ledger_load_key(cfg, &key, origin, sizeof origin);
    config_unref(cfg);
    if (rc)
        return cli_local_error(rc, "cannot load the node key %s/keys/node.ed25519: %s", dir,
                               custody_strerror(rc));
    rc = tlog_key_from_pub(origin, TLOG_KEY_ED25519, key.pub, pub);
    tlog_key_wipe(&key);
    if (rc) return cli_local_error(rc, "the log origin '%s' is not a valid key name", origin);
    return CLI_EXIT_OK;
}

/* ---- events ---- */

static const char *ev_str(json_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev, key));
}

/* INDEX TIMESTAMP ACTION DECISION RESOURCE [STATUS] [REASON] */
static void print_event_line(json_t *item)
{
    json_t *ev = json_object_get(item, "event");
    printf("%" JSON_INTEGER_FORMAT " ", json_integer_value(json_object_get(item, "index")));
    print_or_dash(ev_str(ev, "timestamp"));
    putchar(' ');
    print_or_dash(ev_str(ev, "action"));
    putchar(' ');
    print_or_dash(ev_str(ev, "decision"));
    putchar(' ');
    print_or_dash(ev_str(ev, "resource_id"));
    json_t *st = json_object_get(ev, "status");
    if (json_is_integer(st)) printf(" %" JSON_INTEGER_FORMAT, json_integer_value(st));
    const char *reason = ev_str(ev, "reason");
    if (reason && *reason) {
        putchar(' ');
        cli_print_safe(reason);
    }
    putchar('\n');
}

/* Prints each {"index","event"} of an array: JSON Lines or event lines. */
static void print_events(struct cli *cli, json_t *arr)
{
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (cli->json)
            print_json_line(item);
        else
            print_event_line(item);
    }
}

static void show_str(const char *label, json_t *ev, const char *key, bool always)
{
    const char *v = ev_str(ev, key);
    if (!always && !v) return;
    printf("%-12s", label);
    print_or_dash(v);
    putchar('\n');
}

static void show_event(json_t *item)
{
    json_t *ev = json_object_get(item, "event");
    printf("%-12s%" JSON_INTEGER_FORMAT "\n",
           "index:", json_integer_value(json_object_get(item, "index")));
    show_str("event id:", ev, "event_id", false);
    show_str("timestamp:", ev, "timestamp", true);
    show_str("action:", ev, "action", true);
    show_str("decision:", ev, "decision", true);
    show_str("resource:", ev, "resource_id", true);
    show_str("destination:", ev, "destination_id", false);
    show_str("principal:", ev, "principal_id", true);
    show_str("agent:", ev, "agent_id", false);
    show_str("session:", ev, "session_id", false);
    show_str("endpoint:", ev, "endpoint_id", false);
    show_str("reason:", ev, "reason", true);
    json_t *v = json_object_get(ev, "status");
    if (json_is_integer(v))
        printf("%-12s%" JSON_INTEGER_FORMAT "\n", "status:", json_integer_value(v));
    show_str("sha256:", ev, "content_sha256", true);
    v = json_object_get(ev, "bytes_transferred");
    if (json_is_integer(v))
        printf("%-12s%" JSON_INTEGER_FORMAT "\n", "bytes:", json_integer_value(v));
    else
        printf("%-12s-\n", "bytes:");
    json_t *r = json_object_get(ev, "byte_range");
    if (json_is_object(r))
        printf("%-12s%" JSON_INTEGER_FORMAT " +%" JSON_INTEGER_FORMAT "\n",
               "range:", json_integer_value(json_object_get(r, "start")),
               json_integer_value(json_object_get(r, "length")));
    v = json_object_get(ev, "version");
    if (json_is_integer(v))
        printf("%-12s%" JSON_INTEGER_FORMAT "\n", "version:", json_integer_value(v));
    v = json_object_get(ev, "latency_ms");
    if (json_is_number(v))
        printf("%-12s%.3f ms\n", "latency:", json_number_value(v));
    else
        printf("%-12s-\n", "latency:");
    if (json_object_get(ev, "signature")) printf("%-12syes\n", "signed:");
    if (json_object_get(ev, "unparseable")) printf("%-12sthe entry is not JSON\n", "note:");
}

/* ---- status ---- */

static int cmd_status(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit status");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    custody_audit_status_t st;
    rc = custody_audit_status(c, &st);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        printf("origin:          ");
        cli_print_safe(st.origin);
        printf("\nsize:            %" PRIu64 " events\n", st.size);
        printf("checkpoint size: %" PRIu64 "\n", st.checkpoint_size);
        printf("healthy:         %s\n", st.healthy ? "yes" : "no");
        printf("last error:      ");
        print_or_dash(st.last_error);
        printf("\nbatches:         %" PRIu64 "\n", st.batches);
        printf("failures:        %" PRIu64 "\n", st.failures);
    }
    custody_audit_status_free(&st);
    return CLI_EXIT_OK;
}

/* ---- key ---- */

static int key_offline(struct cli *cli)
{
    struct tlog_key pub;
    int rc = node_key(cli, &pub);
    if (rc) return rc;
    struct strbuf vk = STRBUF_INIT;
    if (tlog_vkey_format(&pub, &vk) != 0) {
        sb_free(&vk);
        return cli_local_error(CUSTODY_EINTERNAL, "cannot format the verifier key");
    }
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "origin", pub.name, "vkey", vk.buf);
        print_json_line(o);
        json_decref(o);
    } else {
        puts(vk.buf);
    }
    sb_free(&vk);
    return CLI_EXIT_OK;
}

static int cmd_key(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit key");
    static const struct option lo[] = {
        {"offline", no_argument, NULL, 'o'}, OPT_HELP, OPT_JSON, OPT_END};
    bool offline = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'o') offline = true;
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    if (offline) return key_offline(cli);
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    char *body = NULL;
    size_t len = 0;
    rc = custody_audit_get(c, "key", NULL, &body, &len);
    if (rc == CUSTODY_ECONNECT && custody_client_last_error_source(c) == CUSTODY_ERRSRC_TRANSPORT) {
        fprintf(stderr, "custody: custodyd is not reachable; reading the key from %s\n",
                cli_state_dir(cli));
        return key_offline(cli);
    }
    if (rc) return cli_fail(cli, rc, NULL);
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    free(body);
    const char *vk = json_string_value(json_object_get(o, "vkey"));
    if (!vk) {
        json_decref(o);
        return malformed("/v1/audit/key");
    }
    if (cli->json)
        cli_print_last_json(cli);
    else
        puts(vk);
    json_decref(o);
    return CLI_EXIT_OK;
}

/* ---- checkpoint ---- */

static int cmd_checkpoint(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit checkpoint");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    char *body = NULL;
    size_t len = 0;
    rc = audit_get(cli, "checkpoint", NULL, &body, &len);
    if (rc) return rc;
    if (!cli->json) {
        fwrite(body, 1, len, stdout);
        free(body);
        return CLI_EXIT_OK;
    }
    struct tlog_note note;
    struct tlog_checkpoint cp;
    if (tlog_note_parse(body, len, &note) != 0 ||
        tlog_checkpoint_parse(note.text, note.text_len, &cp) != 0) {
        free(body);
        return malformed("/v1/audit/checkpoint");
    }
    struct strbuf root = STRBUF_INIT;
    tlog_b64_encode(cp.root, TLOG_HASH_LEN, &root);
    json_t *o =
        json_pack("{s:s, s:I, s:s, s:I, s:s%}", "origin", cp.origin, "size", (json_int_t)cp.size,
                  "root", root.buf, "signatures", (json_int_t)note.nsigs, "note", body, len);
    print_json_line(o);
    json_decref(o);
    sb_free(&root);
    free(body);
    return CLI_EXIT_OK;
}

/* ---- show ---- */

static int cmd_show(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit show");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    uint64_t index;
    if (!parse_u64_arg(argv[optind], &index))
        return cli_usage_error(cmd, "invalid index '%s'", argv[optind]);
    char path[64];
    snprintf(path, sizeof path, "entries/%" PRIu64, index);
    json_t *o = NULL;
    rc = audit_get_json(cli, path, NULL, &o);
    if (rc) return rc;
    if (cli->json)
        cli_print_last_json(cli);
    else
        show_event(o);
    json_decref(o);
    return CLI_EXIT_OK;
}

/* ---- tail ---- */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Sleeps ms milliseconds or until a stop signal. */
static void nap(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One page of /v1/audit/entries from `from`: prints it, *next = the next
 * index to ask for, *count = events printed. The exit status. */
static int entries_page(struct cli *cli, uint64_t from, uint64_t limit, uint64_t *next,
                        size_t *count)
{
    char q[96];
    snprintf(q, sizeof q, "from=%" PRIu64 "&limit=%" PRIu64, from, limit);
    json_t *o = NULL;
    int rc = audit_get_json(cli, "entries", q, &o);
    if (rc) return rc;
    json_t *arr = json_object_get(o, "entries");
    json_t *nx = json_object_get(o, "next");
    if (!json_is_array(arr) || !json_is_integer(nx) || json_integer_value(nx) < 0) {
        json_decref(o);
        return malformed("/v1/audit/entries");
    }
    print_events(cli, arr);
    *count = json_array_size(arr);
    uint64_t n = (uint64_t)json_integer_value(nx);
    *next = n > from ? n : from; /* custodyd answers next < from past its checkpoint */
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_tail(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit tail");
    static const struct option lo[] = {{"lines", required_argument, NULL, 'n'},
                                       {"follow", no_argument, NULL, 'f'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    uint64_t n = 10;
    bool follow = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":hn:f", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'n' && !parse_u64_arg(optarg, &n))
            return cli_usage_error(cmd, "invalid count '%s'", optarg);
        if (ch == 'f') follow = true;
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    custody_audit_status_t st;
    rc = custody_audit_status(c, &st);
    if (rc) return cli_fail(cli, rc, NULL);
    /* every durable event: custodyd publishes a checkpoint for them on demand */
    uint64_t size = st.size;
    custody_audit_status_free(&st);

    uint64_t from = size > n ? size - n : 0;
    while (from < size) {
        uint64_t next;
        size_t got;
        rc = entries_page(cli, from, UTIL_MIN(size - from, (uint64_t)ENTRIES_PAGE), &next, &got);
        if (rc) return rc;
        if (next <= from || got == 0) break;
        from = next;
    }
    if (!follow) return CLI_EXIT_OK;

    /* follow: poll for new events until SIGINT/SIGTERM (a clean exit 0) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fflush(stdout);
    while (!g_stop) {
        nap(FOLLOW_INTERVAL_MS);
        if (g_stop) break;
        uint64_t next;
        size_t got;
        rc = entries_page(cli, from, ENTRIES_PAGE, &next, &got);
        if (rc) return rc;
        from = next;
        if (got && fflush(stdout) != 0) break; /* cli_finish reports it */
    }
    return CLI_EXIT_OK;
}

/* ---- search ---- */

static int q_add(struct strbuf *q, const char *key, const char *val)
{
    char *e = curl_easy_escape(NULL, val, 0);
    if (!e) return CUSTODY_ENOMEM;
    sb_printf(q, "%s%s=%s", q->len ? "&" : "", key, e);
    curl_free(e);
    return 0;
}

static int cmd_search(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit search");
    enum {
        O_AGENT = 256,
        O_PRINCIPAL,
        O_RESOURCE,
        O_ACTION,
        O_DECISION,
        O_SINCE,
        O_UNTIL,
        O_SHA256,
        O_LIMIT,
        O_AFTER,
        O_PREFIX,
        O_DESC
    };
    static const struct option lo[] = {{"agent", required_argument, NULL, O_AGENT},
                                       {"principal", required_argument, NULL, O_PRINCIPAL},
                                       {"resource", required_argument, NULL, O_RESOURCE},
                                       {"action", required_argument, NULL, O_ACTION},
                                       {"decision", required_argument, NULL, O_DECISION},
                                       {"since", required_argument, NULL, O_SINCE},
                                       {"until", required_argument, NULL, O_UNTIL},
                                       {"sha256", required_argument, NULL, O_SHA256},
                                       {"limit", required_argument, NULL, O_LIMIT},
                                       {"after", required_argument, NULL, O_AFTER},
                                       {"prefix", no_argument, NULL, O_PREFIX},
                                       {"desc", no_argument, NULL, O_DESC},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    static const char *const keys[] = {"agent",    "principal", "resource", "action",
                                       "decision", "since",     "until",    "sha256"};
    const char *vals[UTIL_ARRAY_LEN(keys)] = {0};
    uint64_t limit = 0, after = 0;
    bool has_limit = false, has_after = false, prefix = false, desc = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch >= O_AGENT && ch <= O_SHA256) {
            if (!*optarg) return cli_usage_error(cmd, "empty --%s", keys[ch - O_AGENT]);
            vals[ch - O_AGENT] = optarg;
        } else if (ch == O_LIMIT) {
            if (!parse_u64_arg(optarg, &limit) || limit == 0 || limit > SEARCH_LIMIT_MAX)
                return cli_usage_error(cmd, "invalid limit '%s' (1-%d)", optarg, SEARCH_LIMIT_MAX);
            has_limit = true;
        } else if (ch == O_AFTER) {
            if (!parse_u64_arg(optarg, &after))
                return cli_usage_error(cmd, "invalid index '%s'", optarg);
            has_after = true;
        } else if (ch == O_PREFIX) {
            prefix = true;
        } else if (ch == O_DESC) {
            desc = true;
        }
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    if (prefix && !vals[2]) return cli_usage_error(cmd, "--prefix needs --resource");
    const char *d = vals[4];
    if (d && strcmp(d, "allow") != 0 && strcmp(d, "deny") != 0 && strcmp(d, "error") != 0)
        return cli_usage_error(cmd, "invalid decision '%s' (allow, deny or error)", d);

    struct strbuf q = STRBUF_INIT;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(keys) && !rc; i++)
        if (vals[i]) rc = q_add(&q, keys[i], vals[i]);
    if (rc) {
        sb_free(&q);
        return cli_local_error(rc, "cannot encode the query");
    }
    if (prefix) sb_printf(&q, "%sprefix=1", q.len ? "&" : "");
    if (desc) sb_printf(&q, "%sorder=desc", q.len ? "&" : "");
    if (has_limit) sb_printf(&q, "%slimit=%" PRIu64, q.len ? "&" : "", limit);
    if (has_after) sb_printf(&q, "%safter=%" PRIu64, q.len ? "&" : "", after);

    char *body = NULL;
    size_t len = 0;
    rc = audit_get(cli, "search", q.len ? q.buf : NULL, &body, &len);
    sb_free(&q);
    if (rc) return rc;
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    json_t *arr = json_object_get(o, "results");
    if (!json_is_array(arr)) {
        json_decref(o);
        free(body);
        return malformed("/v1/audit/search");
    }
    if (cli->json) {
        print_body(body, len);
    } else {
        size_t i;
        json_t *item;
        json_array_foreach(arr, i, item) print_event_line(item);
    }
    json_decref(o);
    free(body);
    return CLI_EXIT_OK;
}

/* ---- hash ---- */

static int cmd_hash(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit hash");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    char *p = NULL;
    rc = custody_audit_hash(c, argv[optind], &p);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json)
        cli_print_last_json(cli);
    else
        puts(p);
    free(p);
    return CLI_EXIT_OK;
}

/* ---- proof ---- */

/* Entry `index` from the public tile mirror: the entry bundle of the tree
 * of `size` leaves, or a wider one when that partial tile is gone. */
static int fetch_entry(struct cli *cli, uint64_t index, uint64_t size, struct strbuf *entry)
{
    uint64_t t = index / TLOG_TILE_WIDTH;
    unsigned w = tlog_tile_width(size, TLOG_LEVEL_ENTRIES, t);
    char path[TLOG_PATH_MAX + 1];
    if (index >= size || w == 0 || tlog_tile_path(path, sizeof path, TLOG_LEVEL_ENTRIES, t, w))
        return malformed("/v1/audit/proof/inclusion (index beyond its checkpoint)");
    int exit_rc = CLI_EXIT_OK;
    custody_client_t *c = client_or_exit(cli, &exit_rc);
    if (!c) return exit_rc;
    char *data = NULL;
    size_t len = 0;
    int rc = custody_audit_get_public(c, path, &data, &len);
    if (rc == CUSTODY_ENOENT && custody_client_last_error_source(c) == CUSTODY_ERRSRC_SERVER) {
        /* an older checkpoint's partial tile may have been removed: the
         * latest checkpoint's tile holds the same entries first */
        char *note = NULL;
        size_t nlen = 0;
        struct tlog_note n;
        struct tlog_checkpoint cp;
        if (custody_audit_get_public(c, "checkpoint", &note, &nlen) == 0 &&
            tlog_note_parse(note, nlen, &n) == 0 &&
            tlog_checkpoint_parse(n.text, n.text_len, &cp) == 0) {
            unsigned w2 = tlog_tile_width(cp.size, TLOG_LEVEL_ENTRIES, t);
            if (w2 > w && tlog_tile_path(path, sizeof path, TLOG_LEVEL_ENTRIES, t, w2) == 0)
                rc = custody_audit_get_public(c, path, &data, &len);
        }
        free(note);
    }
    if (rc) return cli_fail(cli, rc, path);
    size_t off = 0;
    const uint8_t *e = NULL;
    size_t elen = 0;
    for (uint64_t i = 0; i <= index % TLOG_TILE_WIDTH; i++) {
        if (tlog_bundle_next((const uint8_t *)data, len, &off, &e, &elen) != 0) {
            free(data);
            fprintf(stderr, "custody: /audit/%s does not hold entry %" PRIu64 " (%s)\n", path,
                    index, custody_err_code(CUSTODY_ECORRUPT));
            return CLI_EXIT_REFUSED;
        }
    }
    sb_reset(entry);
    sb_append(entry, e, elen);
    free(data);
    return CLI_EXIT_OK;
}

static int cmd_proof(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit proof");
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {"entry", required_argument, NULL, 'e'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *out = NULL, *entry_out = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":ho:", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'o') out = optarg;
        if (ch == 'e') entry_out = optarg;
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    uint64_t index;
    if (!parse_u64_arg(argv[optind], &index))
        return cli_usage_error(cmd, "invalid index '%s'", argv[optind]);
    if (entry_out && to_stdout(entry_out) && to_stdout(out))
        return cli_usage_error(cmd, "the proof and the entry cannot both go to stdout");
    char q[96];
    snprintf(q, sizeof q, "index=%" PRIu64 "%s", index, cli->json ? "" : "&format=tlog-proof");
    char *body = NULL;
    size_t len = 0;
    rc = audit_get(cli, "proof/inclusion", q, &body, &len);
    if (rc) return rc;

    uint64_t size = 0;
    struct strbuf entry = STRBUF_INIT;
    if (entry_out) {
        /* the proof's checkpoint says which tile holds the entry; check the
         * entry against the proof before writing it */
        struct tlog_proof_file pf;
        struct tlog_note n;
        struct tlog_checkpoint cp;
        json_error_t jerr;
        json_t *jo = NULL;
        const char *note = NULL;
        size_t note_len = 0;
        bool ok;
        if (cli->json) {
            jo = json_loadb(body, len, 0, &jerr);
            json_t *jn = json_object_get(jo, "checkpoint");
            json_t *jp = json_object_get(jo, "proof");
            note = json_string_value(jn);
            note_len = json_string_length(jn);
            memset(&pf, 0, sizeof pf);
            pf.index = index;
            ok = note && json_is_array(jp) && json_array_size(jp) <= TLOG_PROOF_MAX;
            size_t i;
            json_t *h;
            json_array_foreach(ok ? jp : NULL, i, h)
            {
                const char *s = json_string_value(h);
                size_t hn = 0;
                if (!s || tlog_b64_decode(s, strlen(s), pf.proof[i], TLOG_HASH_LEN, &hn) != 0 ||
                    hn != TLOG_HASH_LEN)
                    ok = false;
            }
            pf.nproof = json_array_size(jp);
        } else {
            ok = tlog_proof_parse(body, len, &pf) == 0;
            note = pf.note;
            note_len = pf.note_len;
        }
        ok = ok && pf.index == index && tlog_note_parse(note, note_len, &n) == 0 &&
             tlog_checkpoint_parse(n.text, n.text_len, &cp) == 0;
        json_decref(jo);
        if (!ok) {
            free(body);
            return malformed("/v1/audit/proof/inclusion");
        }
        size = cp.size;
        rc = fetch_entry(cli, index, cp.size, &entry);
        if (rc) {
            free(body);
            sb_free(&entry);
            return rc;
        }
        uint8_t leaf[TLOG_HASH_LEN];
        tlog_leaf_hash(entry.buf, entry.len, leaf);
        if (tlog_check_inclusion((const uint8_t(*)[TLOG_HASH_LEN])pf.proof, pf.nproof, cp.size,
                                 index, leaf, cp.root) != 0) {
            fprintf(stderr,
                    "custody: entry %" PRIu64 " and its proof do not hash to the root of the "
                    "checkpoint of size %" PRIu64 " (%s)\n",
                    index, cp.size, custody_err_code(CUSTODY_EBADPROOF));
            free(body);
            sb_free(&entry);
            return CLI_EXIT_REFUSED;
        }
    }
    if (cli->json && to_stdout(out))
        print_body(body, len);
    else
        rc = write_output(out, body, len);
    free(body);
    if (!rc && entry_out) rc = write_output(entry_out, entry.buf, entry.len);
    /* what was written where: on stderr when stdout carries a file */
    FILE *msg = to_stdout(out) || (entry_out && to_stdout(entry_out)) ? stderr : stdout;
    if (!rc && !to_stdout(out))
        fprintf(msg, "wrote the inclusion proof of event %" PRIu64 " to %s\n", index, out);
    if (!rc && entry_out && !to_stdout(entry_out))
        fprintf(msg,
                "wrote entry %" PRIu64 " (%zu bytes; its proof checks against the checkpoint of "
                "size %" PRIu64 ") to %s\n",
                index, entry.len, size, entry_out);
    sb_free(&entry);
    return rc;
}

/* ---- consistency ---- */

static int cmd_consistency(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit consistency");
    static const struct option lo[] = {
        {"output", required_argument, NULL, 'o'}, OPT_HELP, OPT_JSON, OPT_END};
    const char *out = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":ho:", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'o') out = optarg;
    }
    int n = cli_operands(cmd, argc, 1, 2, &rc);
    if (n < 0) return rc;
    uint64_t old, size = 0;
    if (!parse_u64_arg(argv[optind], &old) || old == 0)
        return cli_usage_error(cmd, "invalid old size '%s'", argv[optind]);
    if (n == 2 && (!parse_u64_arg(argv[optind + 1], &size) || size < old))
        return cli_usage_error(cmd, "invalid new size '%s' (at least OLD)", argv[optind + 1]);
    char q[128];
    int ql = snprintf(q, sizeof q, "old=%" PRIu64, old);
    if (n == 2) ql += snprintf(q + ql, sizeof q - (size_t)ql, "&size=%" PRIu64, size);
    if (!cli->json) snprintf(q + ql, sizeof q - (size_t)ql, "&format=text");
    char *body = NULL;
    size_t len = 0;
    rc = audit_get(cli, "proof/consistency", q, &body, &len);
    if (rc) return rc;
    if (cli->json && to_stdout(out))
        print_body(body, len);
    else
        rc = write_output(out, body, len);
    free(body);
    if (!rc && !to_stdout(out))
        printf("wrote the consistency proof from size %" PRIu64 " to %s\n", old, out);
    return rc;
}

/* ---- verify (offline) ---- */

/* $XDG_STATE_HOME/custody/trusted/<16 hex>.checkpoint, else under
 * $HOME/.local/state; NULL when neither is set. */
static char *default_trusted_path(const char *origin)
{
    uint8_t h[UTIL_SHA256_LEN];
    char hex[17];
    util_sha256(origin, strlen(origin), h);
    util_hex_encode(h, 8, hex);
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    struct strbuf p = STRBUF_INIT;
    if (xdg && xdg[0] == '/') /* the XDG spec: relative values are ignored */
        sb_printf(&p, "%s/custody/trusted/%s.checkpoint", xdg, hex);
    else if (home && *home)
        sb_printf(&p, "%s/.local/state/custody/trusted/%s.checkpoint", home, hex);
    else
        return NULL;
    return sb_detach(&p);
}

#define VERIFY_KEYS_MAX 33

static int cmd_verify(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("audit verify");
    enum { O_LEDGER = 256, O_VKEY, O_WITNESS, O_TRUSTED, O_NO_UPDATE, O_STRICT };
    static const struct option lo[] = {{"ledger", required_argument, NULL, O_LEDGER},
                                       {"vkey", required_argument, NULL, O_VKEY},
                                       {"witness-vkey", required_argument, NULL, O_WITNESS},
                                       {"trusted", required_argument, NULL, O_TRUSTED},
                                       {"no-update", no_argument, NULL, O_NO_UPDATE},
                                       {"strict", no_argument, NULL, O_STRICT},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    struct tlog_key keys[VERIFY_KEYS_MAX];
    size_t nkeys = 1;
    const char *ledger_dir = NULL, *vkey = NULL, *trusted = NULL;
    bool no_update = false, strict = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        switch (ch) {
        case O_LEDGER:
            ledger_dir = optarg;
            break;
        case O_VKEY:
            vkey = optarg;
            break;
        case O_WITNESS:
            if (nkeys >= VERIFY_KEYS_MAX)
                return cli_usage_error(cmd, "at most %d witness keys", VERIFY_KEYS_MAX - 1);
            if (tlog_vkey_parse(optarg, strlen(optarg), &keys[nkeys]) != 0)
                return cli_usage_error(cmd, "invalid witness verifier key '%s'", optarg);
            nkeys++;
            break;
        case O_TRUSTED:
            if (!*optarg) return cli_usage_error(cmd, "empty --trusted");
            trusted = optarg;
            break;
        case O_NO_UPDATE:
            no_update = true;
            break;
        case O_STRICT:
            strict = true;
            break;
        default:
            break;
        }
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    if (vkey) {
        if (tlog_vkey_parse(vkey, strlen(vkey), &keys[0]) != 0 || keys[0].type != TLOG_KEY_ED25519)
            return cli_usage_error(cmd, "invalid log verifier key '%s' (name+id+base64, type 0x01)",
                                   vkey);
    } else if ((rc = node_key(cli, &keys[0])) != 0) {
        return rc;
    }
    char *dir =
        ledger_dir ? util_strdup(ledger_dir) : util_path_join(cli_state_dir(cli), LEDGER_DIR);
    char *tpath = trusted ? util_strdup(trusted) : default_trusted_path(keys[0].name);
    if (!tpath && !no_update) {
        free(dir);
        return cli_usage_error(cmd, "neither HOME nor XDG_STATE_HOME is set: give --trusted FILE "
                                    "(or --no-update)");
    }
    struct stat sb;
    bool had_trusted = tpath && stat(tpath, &sb) == 0;

    struct ledger_verify_opts o = {.dir = dir,
                                   .keys = keys,
                                   .nkeys = nkeys,
                                   .trusted_path = tpath,
                                   .update_trusted = !no_update,
                                   .strict_signatures = strict};
    struct ledger_verify_result res;
    int vrc = ledger_verify(&o, &res);
    if (cli->json) {
        json_t *j = json_pack(
            "{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "ok", vrc == 0, "ledger", dir, "size",
            (json_int_t)res.size, "entries_checked", (json_int_t)res.entries_checked,
            "tiles_checked", (json_int_t)res.tiles_checked, "trusted_size",
            (json_int_t)res.trusted_size, "stale_partials", (json_int_t)res.stale_partials,
            "files_ahead", (json_int_t)res.files_ahead, "trusted_updated",
            vrc == 0 && tpath && !no_update);
        json_object_set_new(j, "trusted_path", tpath ? json_string(tpath) : json_null());
        json_object_set_new(j, "trusted_existed", json_boolean(had_trusted));
        json_object_set_new(j, "first_bad_entry",
                            res.first_bad_entry >= 0 ? json_integer(res.first_bad_entry)
                                                     : json_null());
        json_object_set_new(j, "code", vrc ? json_string(custody_err_code(vrc)) : json_null());
        json_object_set_new(j, "problem", vrc ? json_string(res.problem) : json_null());
        print_json_line(j);
        json_decref(j);
    } else if (vrc == 0) {
        printf("ok: %" PRIu64 " entries, %" PRIu64 " tiles, checkpoint size %" PRIu64 " verified",
               res.entries_checked, res.tiles_checked, res.size);
        if (had_trusted)
            printf(" (consistent with trusted size %" PRIu64 ")\n", res.trusted_size);
        else if (tpath && !no_update)
            printf(" (first use: now trusted in %s)\n", tpath);
        else
            printf(" (no trusted checkpoint to compare with)\n");
    } else {
        printf("FAIL: ");
        cli_print_safe(res.problem[0] ? res.problem : custody_strerror(vrc));
        printf(" (%s)\n", custody_err_code(vrc));
    }
    free(dir);
    free(tpath);
    tlog_key_wipe(&keys[0]);
    return vrc == 0 ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
}

/* ---- the table and the dispatcher ---- */

const struct cli_command cli_audit_commands[] = {
    {"audit status", cmd_status, "audit status [--json]",
     "Show the audit log's origin, size, checkpoint size and health.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"audit key", cmd_key, "audit key [--offline] [--json]",
     "Print the log's verifier key (name+keyid+base64), for checking checkpoints.",
     "options:\n"
     "  --offline   compute it from the state directory (keys/node.ed25519 and the\n"
     "              configured origin) without asking custodyd; also done when custodyd\n"
     "              cannot be reached\n"
     "  --json      print {\"origin\", \"vkey\"}\n"},
    {"audit checkpoint", cmd_checkpoint, "audit checkpoint [--json]",
     "Print the latest signed checkpoint (a C2SP signed note).",
     "options:\n  --json   print {origin, size, root, signatures, note}\n"},
    {"audit show", cmd_show, "audit show INDEX [--json]", "Show one audit event.",
     "options:\n  --json   print custodyd's answer: {\"index\": N, \"event\": {...}}\n"},
    {"audit tail", cmd_tail, "audit tail [-n N] [-f] [--json]",
     "Print the last N events (default 10); -f keeps printing new ones.",
     "options:\n"
     "  -n, --lines N   how many of the latest events (default 10)\n"
     "  -f, --follow    then poll for new events every 500 ms until interrupted\n"
     "                  (Ctrl-C ends it with status 0)\n"
     "  --json          one JSON object {\"index\", \"event\"} per line (JSON Lines)\n"
     "\nOne line per event: INDEX TIMESTAMP ACTION DECISION RESOURCE [STATUS] [REASON].\n"
     "Only events under a signed checkpoint are shown (custodyd signs one every 500 ms\n"
     "by default).\n"},
    {"audit search", cmd_search,
     "audit search [--agent A] [--principal P] [--resource R [--prefix]] [--action X]\n"
     "                    [--decision D] [--since T] [--until T] [--sha256 H] [--limit N]\n"
     "                    [--after INDEX] [--desc] [--json]",
     "Find events in the log's search index.",
     "options:\n"
     "  --agent A, --principal P   exact identifiers (pseudonymized ones: search for\n"
     "                             the output of 'custody audit hash VALUE')\n"
     "  --resource R               a resource id, ROOT:/PATH\n"
     "  --prefix                   --resource matches ROOT:/DIR/ prefixes\n"
     "  --action X                 read, write, list, stat, delete, move, ...\n"
     "  --decision D               allow, deny or error\n"
     "  --since T, --until T       RFC 3339 UTC (2026-11-26T07:00:00Z) or unix seconds\n"
     "  --sha256 H                 content hash read or written\n"
     "  --limit N                  at most N results (custodyd's default 100, max 10000)\n"
     "  --after INDEX              only events after INDEX (paging)\n"
     "  --desc                     newest first\n"
     "  --json                     print custodyd's answer: {\"results\": [...]}\n"
     "\nexample:\n  custody audit search --action write --resource demo:/notes/ --prefix\n"},
    {"audit hash", cmd_hash, "audit hash VALUE [--json]",
     "Print the pseudonym (hmac-sha256:<hex>) the log records for VALUE.",
     "options:\n  --json   print custodyd's answer: {\"pseudonym\": ...}\n"},
    {"audit proof", cmd_proof, "audit proof INDEX [-o FILE] [--entry FILE] [--json]",
     "Write a C2SP tlog-proof (inclusion proof + signed checkpoint) of one event.",
     "options:\n"
     "  -o, --output FILE   write the proof to FILE (default: stdout)\n"
     "  --entry FILE        also write the event's exact entry bytes to FILE, taken\n"
     "                      from the public tile mirror and checked against the proof\n"
     "  --json              the proof as custodyd's JSON ({index, size, root, proof,\n"
     "                      checkpoint}) instead of the tlog-proof file\n"
     "\nexample:\n  custody audit proof 42 -o 42.proof --entry 42.json\n"},
    {"audit consistency", cmd_consistency, "audit consistency OLD [NEW] [-o FILE] [--json]",
     "Print a consistency proof from tree size OLD to NEW (default: the latest).",
     "options:\n"
     "  -o, --output FILE   write it to FILE (default: stdout)\n"
     "  --json              custodyd's JSON form ({old_size, old_root, size, root, proof})\n"
     "\nThe text form is one base64 hash per line.\n"},
    {"audit verify", cmd_verify,
     "audit verify [--ledger DIR] [--vkey VKEY] [--witness-vkey VKEY]... [--trusted FILE]\n"
     "                    [--no-update] [--strict] [--json]",
     "Check a ledger directory offline: every entry, tile, root and signature.",
     "options:\n"
     "  --ledger DIR          the ledger directory (default: STATE/ledger)\n"
     "  --vkey VKEY           the log's verifier key (default: the node key from the\n"
     "                        state directory, named for the configured origin)\n"
     "  --witness-vkey VKEY   a witness's key (repeatable): its cosignatures must verify\n"
     "  --trusted FILE        the last checkpoint you trusted (default:\n"
     "                        $XDG_STATE_HOME/custody/trusted/<hash of origin>.checkpoint,\n"
     "                        else under ~/.local/state); missing: trusted on first use\n"
     "  --no-update           do not record the verified checkpoint as trusted\n"
     "  --strict              every signature line must be from a given key\n"
     "  --json                print the result as JSON\n"
     "\nNo daemon is needed. Prints 'ok: ...' and exits 0 when everything holds;\n"
     "prints 'FAIL: <problem>' and exits 1 otherwise.\n"},
};
const unsigned cli_naudit_commands = UTIL_ARRAY_LEN(cli_audit_commands);

static void list_subcommands(FILE *f)
{
    fprintf(f, "%s", CLI_AUDIT_DETAILS);
}

int cli_cmd_audit(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *self = cli_find_command("audit");
    while (argc >= 2 && (strcmp(argv[1], "--json") == 0)) {
        cli->json = true;
        argc--;
        argv++;
    }
    if (argc < 2) {
        fprintf(stderr, "custody audit: missing subcommand\nusage: custody %s\n", self->synopsis);
        list_subcommands(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) return cli_command_help(self);
    struct strbuf full = STRBUF_INIT;
    sb_printf(&full, "audit %s", sub);
    const struct cli_command *cmd = sub[0] != '-' ? cli_find_command(full.buf) : NULL;
    sb_free(&full);
    if (!cmd || cmd == self) {
        fprintf(stderr, "custody audit: unknown subcommand '%s'\nusage: custody %s\n", sub,
                self->synopsis);
        list_subcommands(stderr);
        return CLI_EXIT_USAGE;
    }
    return cmd->fn(cli, argc - 1, argv + 1);
}
