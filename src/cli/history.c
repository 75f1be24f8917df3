/*
 * history.c — `custody history ROOT:/PATH`: the edit journal of one path
 * (docs/ledger.md, "The edit journal"; docs/cli.md).
 *
 * Every change custodyd makes to a file (write, delete, move, rollback,
 * through any surface) is an audit event with a signed "edit" record:
 * the content hash before and after, the store versions, the agent, the
 * session and an optional consent token. custodyd finds a path's records
 * in its search index (GET /v1/audit/history/ROOT/PATH); this command
 * prints them oldest first, checks each event's Ed25519 signature with the
 * node key, and marks where one record's "prev" is not the "new" of the
 * record before it (the file changed without custody in between).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ledger/ledger.h"
#include "util/util.h"

#define HISTORY_PAGE 1000 /* records per request when reading all of them */
#define HISTORY_LIMIT_MAX 10000
#define SHORT_HASH 12 /* hex digits shown per hash */

/* The key event signatures are checked with: the node key from the state
 * directory (what the log is signed with), else the one custodyd reports
 * (noted on stderr). 0, or CUSTODY_ENOENT when neither can be had. */
static int signing_key(struct cli *cli, custody_client_t *c, struct tlog_key *pub)
{
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    int rc = config_load(cli_state_dir(cli), &cfg, &err);
    sb_free(&err);
    if (!rc) {
        struct tlog_key key;
        char origin[TLOG_NAME_MAX + 1];
        rc = ledger_load_key(cfg, &key, origin, sizeof origin);
        config_unref(cfg);
        if (!rc) {
            rc = tlog_key_from_pub(origin, TLOG_KEY_ED25519, key.pub, pub);
            tlog_key_wipe(&key);
            if (!rc) return 0;
        }
    }
    char *body = NULL;
    size_t len = 0;
    json_t *o = NULL;
    if (custody_audit_get(c, "key", NULL, &body, &len) == 0) o = json_loadb(body, len, 0, NULL);
    free(body);
    const char *vk = cli_jstr(o, "vkey");
    rc = vk && tlog_vkey_parse(vk, strlen(vk), pub) == 0 && pub->type == TLOG_KEY_ED25519
             ? 0
             : CUSTODY_ENOENT;
    json_decref(o);
    if (!rc)
        fprintf(stderr,
                "custody: note: the node key in %s cannot be read; signatures are "
                "checked with the key custodyd reports\n",
                cli_state_dir(cli));
    return rc;
}

/* The edit records of *id, oldest first: every page (limit 0), or the
 * `limit` most recent. The answer's {"index","event"} items are appended
 * to out; *id becomes the resource as custodyd normalised it. */
static int fetch_records(struct cli *cli, custody_client_t *c, struct strbuf *id, uint64_t limit,
                         json_t *out)
{
    uint64_t after = 0;
    bool has_after = false;
    for (;;) {
        char q[96];
        if (limit)
            snprintf(q, sizeof q, "limit=%" PRIu64 "&order=desc", limit);
        else if (has_after)
            snprintf(q, sizeof q, "limit=%d&after=%" PRIu64, HISTORY_PAGE, after);
        else
            snprintf(q, sizeof q, "limit=%d", HISTORY_PAGE);
        char *body = NULL;
        size_t len = 0;
        int rc = custody_audit_history(c, id->buf, q, &body, &len);
        if (rc) return cli_fail(cli, rc, NULL);
        json_t *o = json_loadb(body, len, 0, NULL);
        free(body);
        json_t *arr = json_object_get(o, "results");
        const char *res = cli_jstr(o, "resource");
        if (!json_is_array(arr) || !res) {
            json_decref(o);
            return cli_malformed("/v1/audit/history");
        }
        sb_reset(id);
        sb_puts(id, res);
        size_t n = json_array_size(arr);
        for (size_t i = 0; i < n; i++) {
            json_t *item = json_array_get(arr, limit ? n - 1 - i : i);
            json_t *idx = json_object_get(item, "index");
            if (!json_is_integer(idx) || !json_is_object(json_object_get(item, "event"))) {
                json_decref(o);
                return cli_malformed("/v1/audit/history");
            }
            after = (uint64_t)json_integer_value(idx);
            has_after = true;
            json_array_append(out, item);
        }
        json_decref(o);
        if (limit || n < HISTORY_PAGE) return CLI_EXIT_OK;
    }
}

/* "ok", "bad", "unsigned", or "unchecked" (no key): the event's signature
 * checked with key. */
static const char *signature_state(json_t *ev, const struct tlog_key *key)
{
    if (!json_object_get(ev, "signature")) return "unsigned";
    if (!key) return "unchecked";
    char *s = json_dumps(ev, JSON_COMPACT); /* verification re-canonicalizes */
    int rc = s ? ledger_event_verify_signature(s, strlen(s), key) : CUSTODY_ENOMEM;
    free(s);
    return rc == 0 ? "ok" : "bad";
}

/* One record as printed by --json: the side of the edit that concerns the
 * path, flattened, with the event itself. */
static json_t *record_json(json_t *item, bool destination, const char *sig, bool gap)
{
    json_t *ev = json_object_get(item, "event");
    json_t *edit = json_object_get(ev, "edit");
    json_t *side = destination ? json_object_get(edit, "destination") : edit;
    const char *action = cli_jstr(ev, "action");
    json_t *r = json_object();
    json_object_set(r, "index", json_object_get(item, "index"));
    json_object_set_new(r, "time", json_string(cli_jstr(ev, "timestamp")));
    json_object_set_new(r, "action", json_string(action ? action : ""));
    if (action && strcmp(action, "move") == 0)
        json_object_set_new(r, "side", json_string(destination ? "destination" : "source"));
    static const char *const keys[] = {"prev_sha256", "new_sha256", "prev_version", "version"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(side, keys[i]);
        json_object_set(r, keys[i], v ? v : json_null());
    }
    static const char *const ids[][2] = {{"agent", "agent_id"},
                                         {"session", "session_id"},
                                         {"principal", "principal_id"},
                                         {"resource", "resource_id"},
                                         {"destination", "destination_id"}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ids); i++) {
        json_t *v = json_object_get(ev, ids[i][1]);
        json_object_set(r, ids[i][0], v ? v : json_null());
    }
    json_t *consent = json_object_get(edit, "consent");
    json_object_set(r, "consent", consent ? consent : json_null());
    json_object_set_new(r, "signature", json_string(sig));
    json_object_set_new(r, "chain", json_boolean(!gap));
    json_object_set(r, "event", ev);
    return r;
}

static void print_hash(json_t *v)
{
    const char *h = json_string_value(v);
    printf("%-*.*s", SHORT_HASH, SHORT_HASH, h ? h : "-");
}

/* TIME INDEX ACTION VERSION PREV -> NEW AGENT SESSION CONSENT SIG */
static void print_record(json_t *r)
{
    const char *t = cli_jstr(r, "time");
    char when[32] = "-";
    if (t && strlen(t) >= 19) {
        memcpy(when, t, 19);
        when[10] = ' ';
        when[19] = '\0';
    }
    const char *action = cli_jstr(r, "action"), *side = cli_jstr(r, "side");
    char act[16];
    snprintf(act, sizeof act, "%s%s", action ? action : "-",
             !side                         ? ""
             : strcmp(side, "source") == 0 ? "-out"
                                           : "-in");
    json_t *ver = json_object_get(r, "version");
    char vs[24] = "-";
    if (json_is_integer(ver))
        snprintf(vs, sizeof vs, "%" JSON_INTEGER_FORMAT, json_integer_value(ver));
    printf("%-19s  %6" JSON_INTEGER_FORMAT "  %-11s %7s  ", when,
           json_integer_value(json_object_get(r, "index")), act, vs);
    print_hash(json_object_get(r, "prev_sha256"));
    printf(" -> ");
    print_hash(json_object_get(r, "new_sha256"));
    printf("  ");
    cli_pad(cli_jstr(r, "agent"), 10);
    printf("  ");
    const char *session = cli_jstr(r, "session");
    printf("%-8.8s", session && *session ? session : "-");
    printf("  ");
    cli_pad(cli_jstr(r, "consent"), 12);
    const char *sig = cli_jstr(r, "signature");
    printf("  %s%s\n", strcmp(sig, "bad") == 0 ? "BAD" : sig,
           json_is_false(json_object_get(r, "chain")) ? "  (gap)" : "");
}

/* Which side of each record's edit concerns the path: the resource, or a
 * move's destination. The log names the path itself, or its pseudonym for
 * a root whose paths are pseudonymized (then custodyd is asked for it). */
static bool is_destination(custody_client_t *c, json_t *ev, const char *id, char **pseudonym)
{
    const char *res = cli_jstr(ev, "resource_id"), *dst = cli_jstr(ev, "destination_id");
    if (res && strcmp(res, id) == 0) return false;
    if (dst && strcmp(dst, id) == 0) return true;
    if (!*pseudonym && custody_audit_hash(c, id, pseudonym) != 0) *pseudonym = util_strdup("");
    return dst && strcmp(dst, *pseudonym) == 0 && !(res && strcmp(res, *pseudonym) == 0);
}

int cli_cmd_history(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("history");
    static const struct option lo[] = {
        {"limit", required_argument, NULL, 'n'}, OPT_HELP, OPT_JSON, OPT_END};
    uint64_t limit = 0;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":hn:", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'n' && (util_parse_u64(optarg, strlen(optarg), &limit) != 0 || limit == 0 ||
                          limit > HISTORY_LIMIT_MAX))
            return cli_usage_error(cmd, "invalid limit '%s' (1-%d)", optarg, HISTORY_LIMIT_MAX);
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *arg = argv[optind];
    char *root = NULL, *path = NULL;
    if (custody_resource_parse(arg, &root, &path) != 0)
        return cli_usage_error(cmd, "invalid resource id '%s' (expected ROOT:/PATH)", arg);
    /* the id as the log writes it: custodyd's own normalisation comes back
     * in the answer; "ROOT:" is "ROOT:/" */
    struct strbuf id = STRBUF_INIT;
    sb_printf(&id, "%s:%s", root, path);
    free(root);
    free(path);
    custody_client_t *c = cli_client(cli);
    if (!c) {
        sb_free(&id);
        return CLI_EXIT_USAGE;
    }
    json_t *items = json_array();
    rc = fetch_records(cli, c, &id, limit, items);
    struct tlog_key key;
    bool have_key = !rc && json_array_size(items) > 0 && signing_key(cli, c, &key) == 0;
    char *pseudonym = NULL;
    json_t *records = json_array();
    const char *last_new = NULL;
    bool have_last = false;
    size_t i, bad_sigs = 0;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        if (rc) break;
        json_t *ev = json_object_get(item, "event");
        bool dst = is_destination(c, ev, id.buf, &pseudonym);
        json_t *edit = json_object_get(ev, "edit");
        json_t *side = dst ? json_object_get(edit, "destination") : edit;
        const char *prev = json_string_value(json_object_get(side, "prev_sha256"));
        bool gap = have_last &&
                   !((!prev && !last_new) || (prev && last_new && strcmp(prev, last_new) == 0));
        const char *sig = signature_state(ev, have_key ? &key : NULL);
        bad_sigs += strcmp(sig, "bad") == 0;
        json_t *r = record_json(item, dst, sig, gap);
        last_new = json_string_value(json_object_get(side, "new_sha256"));
        have_last = true;
        json_array_append_new(records, r);
    }
    if (!rc && cli->json) {
        json_t *doc = json_pack("{s:s, s:O}", "resource", id.buf, "records", records);
        /* 15 digits: latency_ms as the log writes it (17 would add noise) */
        char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (s) puts(s);
        free(s);
        json_decref(doc);
    } else if (!rc && json_array_size(records) == 0) {
        printf("no edit records for ");
        cli_print_safe(id.buf);
        printf("\n");
    } else if (!rc) {
        printf("%-19s  %6s  %-11s %7s  %-*s -> %-*s  %-10s  %-8s  %-12s  %s\n", "TIME", "INDEX",
               "ACTION", "VERSION", SHORT_HASH, "PREV", SHORT_HASH, "NEW", "AGENT", "SESSION",
               "CONSENT", "SIG");
        json_array_foreach(records, i, item) print_record(item);
    }
    if (!rc && bad_sigs) {
        fprintf(stderr, "custody: %zu edit record(s) of ", bad_sigs);
        for (const char *p = id.buf; *p; p++)
            fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
        fprintf(stderr, " do not verify with the node key (%s)\n",
                custody_err_code(CUSTODY_EBADSIG));
        rc = CLI_EXIT_REFUSED;
    }
    if (have_key) tlog_key_wipe(&key);
    free(pseudonym);
    json_decref(records);
    json_decref(items);
    sb_free(&id);
    return rc;
}
