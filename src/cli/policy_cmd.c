/*
 * policy_cmd.c — `custody policy SUBCOMMAND`: the Cedar policy set
 * (docs/policy.md, docs/authz.md, docs/cli.md).
 *
 *   policy show|reload|explain   through libcustody
 *   policy check|test            offline (src/policy, src/authz)
 *   policy replay                policy_replay.c
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "authz/authz.h"
#include "cli/cli.h"
#include "config/config.h"
#include "policy/policy.h"
#include "util/util.h"

#define TEST_FILE_MAX (16u << 20) /* a `policy test` file */

#define POLICY_CMD(name) cli_find_in(cli_policy_commands, cli_npolicy_commands, name)

/* ---- policy sets from files ---- */

/* authz_policy_load_dir names files by their base name in errors: put the
 * directory in front so that editors can jump to the line. */
void cli_policy_error_paths(const char *dir, struct strbuf *err)
{
    if (!err->buf || !err->len) return;
    const char *colon = strchr(err->buf, ':');
    if (!colon || colon == err->buf || memchr(err->buf, '/', (size_t)(colon - err->buf))) return;
    char *name = util_strndup(err->buf, (size_t)(colon - err->buf));
    char *path = util_path_join(dir, name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        struct strbuf fixed = STRBUF_INIT;
        sb_printf(&fixed, "%s%s", path, colon);
        sb_free(err);
        *err = fixed;
    }
    free(name);
    free(path);
}

/* A policy set from a directory (its *.cedar files, as custodyd reads
 * them; a missing directory is an empty set when missing_ok) or from one
 * file. err gets "FILE:LINE:COLUMN: message" lines. */
int cli_policy_load(const char *path, bool missing_ok, struct policy_set **out, size_t *nfiles,
                    struct strbuf *err)
{
    struct stat st;
    *out = NULL;
    *nfiles = 0;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT && missing_ok) return authz_policy_load_dir(path, out, nfiles, err);
        return sb_fail(err, custody_err_from_errno(e), "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        int rc = authz_policy_load_dir(path, out, nfiles, err);
        if (rc) cli_policy_error_paths(path, err);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = util_read_file(path, POLICY_MAX_TEXT, &text, &len);
    if (rc) return sb_fail(err, rc, "%s: %s", path, custody_strerror(rc));
    struct policy_opts po = {.id_annotation = true};
    rc = policy_set_parse(text, len, path, &po, out, err);
    free(text);
    if (!rc) *nfiles = 1;
    return rc;
}

void cli_policy_print_errors(const struct strbuf *err, int rc)
{
    if (err->buf && err->len) {
        fputs(err->buf, stderr);
        if (err->buf[err->len - 1] != '\n') fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s\n", custody_strerror(rc));
    }
}

/* STATE/policy */
char *cli_policy_default_dir(struct cli *cli)
{
    return util_path_join(cli_state_dir(cli), AUTHZ_POLICY_DIR);
}

static int cmd_policy_check(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy check");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    int nops = argc - optind;
    char *def = nops == 0 ? cli_policy_default_dir(cli) : NULL;
    int nargs = nops ? nops : 1;
    bool bad = false;
    json_t *results = json_array();
    for (int i = 0; i < nargs; i++) {
        const char *path = nops ? argv[optind + i] : def;
        struct policy_set *set = NULL;
        size_t nfiles = 0;
        struct strbuf err = STRBUF_INIT;
        rc = cli_policy_load(path, nops == 0, &set, &nfiles, &err);
        if (rc) {
            bad = true;
            cli_policy_print_errors(&err, rc);
            json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "path", path, "ok", 0,
                                                     "error", err.buf ? err.buf : ""));
        } else {
            char hash[UTIL_SHA256_HEX_LEN + 1];
            policy_set_hash(set, hash);
            size_t np = policy_set_count(set);
            json_array_append_new(results, json_pack("{s:s, s:b, s:I, s:I, s:s+}", "path", path,
                                                     "ok", 1, "policies", (json_int_t)np, "files",
                                                     (json_int_t)nfiles, "hash", "sha256:", hash));
            if (!cli->json) {
                printf("ok: %zu polic%s in %zu file%s (sha256:%s)", np, np == 1 ? "y" : "ies",
                       nfiles, nfiles == 1 ? "" : "s", hash);
                if (nargs > 1) printf(": %s", path);
                putchar('\n');
                if (nfiles == 0)
                    fprintf(stderr,
                            "custody: no .cedar files in %s: custodyd would deny "
                            "everything\n",
                            path);
            }
            policy_set_free(set);
        }
        sb_free(&err);
    }
    if (cli->json) {
        json_t *o = json_pack("{s:b, s:o}", "ok", !bad, "results", results);
        cli_print_json(o);
        json_decref(o);
    } else {
        json_decref(results);
    }
    free(def);
    return bad ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

static int cmd_policy_show(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy show");
    int rc;
    custody_client_t *c = cli_plain_command(cli, cmd, argc, argv, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_policy_show(c, &answer);
    json_t *o = cli_answer(cli, rc, &answer, NULL, &rc);
    if (!o) return rc;
    json_t *arr = json_object_get(o, "policies");
    const char *hash = cli_jstr(o, "hash");
    if (!json_is_array(arr) || !hash) {
        json_decref(o);
        return cli_malformed("/v1/policy");
    }
    size_t wid = 2, i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        const char *id = cli_jstr(p, "id");
        wid = UTIL_MAX(wid, id ? strlen(id) : 1);
    }
    if (json_array_size(arr)) {
        cli_pad("ID", wid + 2);
        printf("EFFECT  FILE:LINE\n");
    }
    json_array_foreach(arr, i, p)
    {
        cli_pad(cli_jstr(p, "id"), wid + 2);
        printf("%-6s  ", cli_jstr(p, "effect") ? cli_jstr(p, "effect") : "-");
        cli_print_or_dash(cli_jstr(p, "file"));
        printf(":%" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(p, "line")));
    }
    json_int_t np = json_integer_value(json_object_get(o, "count"));
    json_int_t nf = json_integer_value(json_object_get(o, "files"));
    printf("policy set sha256:%s (%" JSON_INTEGER_FORMAT " polic%s in %" JSON_INTEGER_FORMAT
           " file%s)\n",
           hash, np, np == 1 ? "y" : "ies", nf, nf == 1 ? "" : "s");
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_policy_reload(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy reload");
    int rc;
    custody_client_t *c = cli_plain_command(cli, cmd, argc, argv, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_policy_reload(c, &answer);
    json_t *o = cli_answer(cli, rc, &answer, NULL, &rc);
    if (!o) return rc;
    const char *hash = cli_jstr(o, "hash"), *prev = cli_jstr(o, "previous");
    if (!hash) {
        json_decref(o);
        return cli_malformed("/v1/policy/reload");
    }
    json_int_t np = json_integer_value(json_object_get(o, "count"));
    printf("policy set sha256:%s (%" JSON_INTEGER_FORMAT " polic%s)", hash, np,
           np == 1 ? "y" : "ies");
    if (!json_is_true(json_object_get(o, "changed")))
        printf(", unchanged\n");
    else if (prev && *prev)
        printf(", was sha256:%s\n", prev);
    else
        putchar('\n');
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_policy_explain(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy explain");
    enum { O_AGENT = 256, O_ACTION, O_RESOURCE, O_DEST, O_CONTEXT, O_DIR };
    static const struct option lo[] = {{"agent", required_argument, NULL, O_AGENT},
                                       {"action", required_argument, NULL, O_ACTION},
                                       {"resource", required_argument, NULL, O_RESOURCE},
                                       {"destination", required_argument, NULL, O_DEST},
                                       {"context", required_argument, NULL, O_CONTEXT},
                                       {"dir", no_argument, NULL, O_DIR},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *agent = NULL, *action = NULL, *resource = NULL, *dest = NULL;
    json_t *context = NULL;
    bool dir = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) goto out;
        if (ch == O_AGENT) agent = optarg;
        if (ch == O_ACTION) action = optarg;
        if (ch == O_RESOURCE) resource = optarg;
        if (ch == O_DEST) dest = optarg;
        if (ch == O_DIR) dir = true;
        if (ch == O_CONTEXT) {
            json_error_t jerr;
            json_decref(context);
            context = json_loads(optarg, 0, &jerr);
            if (!json_is_object(context)) {
                rc = cli_usage_error(cmd, "--context must be a JSON object%s%s",
                                     context ? "" : ": ", context ? "" : jerr.text);
                goto out;
            }
        }
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) goto out;
    if (!action || !resource) {
        rc = cli_usage_error(cmd, "missing --%s", action ? "resource" : "action");
        goto out;
    }
    if (!authz_action_known(action)) {
        rc = cli_usage_error(cmd, "unknown action '%s'", action);
        goto out;
    }
    json_t *req = json_pack("{s:s, s:s, s:s}", "action", action, "resource", resource, "format",
                            cli->json ? "json" : "text");
    if (agent) json_object_set_new(req, "agent", json_string(agent));
    if (dest) json_object_set_new(req, "destination", json_string(dest));
    if (dir) json_object_set_new(req, "dir", json_true());
    if (context) json_object_set(req, "context", context);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) {
        rc = cli_usage_error(cmd, "the arguments are not UTF-8");
        goto out;
    }
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) {
        free(body);
        goto out;
    }
    char *answer = NULL;
    rc = custody_policy_explain(c, body, &answer);
    free(body);
    if (rc) {
        rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    cli_print_answer(answer); /* an explanation: exit 0 whatever the decision */
    free(answer);
    rc = CLI_EXIT_OK;
out:
    json_decref(context);
    return rc;
}

/* ---- policy test ---- */

/* An entity uid from {"type", "id"}, {"__entity": {...}} or "Type::\"id\"".
 * The strings point into v (or into *scratch, to free). */
static bool parse_uid(json_t *v, struct policy_uid *out, char **scratch)
{
    *scratch = NULL;
    if (json_is_object(v) && json_object_get(v, "__entity")) v = json_object_get(v, "__entity");
    if (json_is_object(v)) {
        json_t *t = json_object_get(v, "type"), *i = json_object_get(v, "id");
        if (!json_is_string(t) || !json_is_string(i)) return false;
        policy_uid_init(out, json_string_value(t), json_string_length(t), json_string_value(i),
                        json_string_length(i));
        return true;
    }
    const char *s = json_string_value(v);
    const char *sep = s ? strstr(s, "::\"") : NULL;
    size_t l = s ? strlen(s) : 0;
    if (!sep || sep == s || l < 2 || s[l - 1] != '"' || (size_t)(sep - s) + 3 > l - 1) return false;
    *scratch = util_strdup(s);
    size_t tl = (size_t)(sep - s);
    policy_uid_init(out, *scratch, tl, *scratch + tl + 3, l - 1 - (tl + 3));
    return true;
}

static void uid_text(struct strbuf *sb, const struct policy_uid *u)
{
    sb_printf(sb, "%.*s::\"%.*s\"", (int)u->type_len, u->type, (int)u->id_len, u->id);
}

/* Compares the determining ids with a JSON array of expected ids (as sets). */
static bool ids_match(const struct policy_set *set, const struct policy_response *resp,
                      json_t *want)
{
    size_t nw = json_array_size(want);
    for (size_t i = 0; i < nw; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        bool found = false;
        for (size_t k = 0; w && k < resp->nreasons && !found; k++)
            found = strcmp(policy_set_info(set, resp->reasons[k])->id, w) == 0;
        if (!found) return false;
    }
    for (size_t k = 0; k < resp->nreasons; k++) {
        const char *id = policy_set_info(set, resp->reasons[k])->id;
        bool found = false;
        for (size_t i = 0; i < nw && !found; i++) {
            const char *w = json_string_value(json_array_get(want, i));
            found = w && strcmp(w, id) == 0;
        }
        if (!found) return false;
    }
    return true;
}

static void reasons_text(const struct policy_set *set, const struct policy_response *resp,
                         struct strbuf *sb)
{
    for (size_t k = 0; k < resp->nreasons; k++)
        sb_printf(sb, "%s%s", k ? ", " : "", policy_set_info(set, resp->reasons[k])->id);
    if (!resp->nreasons) sb_puts(sb, "none");
}

struct test_run {
    const char *file;
    const struct policy_set *set;
    const struct policy_entities *es;
    struct policy_response resp;
    size_t passed, failed;
    json_t *results;
    bool json;
};

/* One test: 0 when it ran (passed or failed), else the exit status. */
static int run_test(struct test_run *tr, size_t idx, json_t *t)
{
    const char *name = cli_jstr(t, "name");
    char fallback[32];
    if (!name) {
        snprintf(fallback, sizeof fallback, "test %zu", idx + 1);
        name = fallback;
    }
    const char *expect = cli_jstr(t, "expect");
    json_t *want_ids = json_object_get(t, "policies");
    struct policy_request pr = {0};
    char *s1 = NULL, *s2 = NULL, *s3 = NULL;
    struct policy_doc *ctx = NULL;
    struct strbuf err = STRBUF_INIT;
    int rc = 0;
    if (!json_is_object(t) || !expect ||
        (strcmp(expect, "allow") != 0 && strcmp(expect, "deny") != 0)) {
        rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"expect\" must be \"allow\" or \"deny\"",
                             tr->file, name);
        goto out;
    }
    if (want_ids && !json_is_array(want_ids)) {
        rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"policies\" must be an array of ids",
                             tr->file, name);
        goto out;
    }
    if (!parse_uid(json_object_get(t, "principal"), &pr.principal, &s1) ||
        !parse_uid(json_object_get(t, "action"), &pr.action, &s2) ||
        !parse_uid(json_object_get(t, "resource"), &pr.resource, &s3)) {
        rc = cli_local_error(CUSTODY_EINVAL,
                             "%s: %s: principal, action and resource must be entity uids "
                             "({\"type\": T, \"id\": I} or \"T::\\\"I\\\"\")",
                             tr->file, name);
        goto out;
    }
    json_t *c = json_object_get(t, "context");
    if (c) {
        char *text = json_is_object(c) ? json_dumps(c, JSON_COMPACT) : NULL;
        int prc = text ? policy_doc_parse(text, strlen(text), 0, &ctx, &err) : CUSTODY_EINVAL;
        free(text);
        if (prc || policy_doc_value(ctx)->type != POLICY_RECORD) {
            rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"context\" must be a JSON object%s%s",
                                 tr->file, name, err.len ? ": " : "", err.len ? err.buf : "");
            goto out;
        }
        pr.context = policy_doc_value(ctx);
    }
    int arc = policy_authorize(tr->set, tr->es, &pr, &tr->resp);
    bool allow = arc == 0 && tr->resp.decision == POLICY_ALLOW;
    bool want_allow = strcmp(expect, "allow") == 0;
    bool ok =
        arc == 0 && allow == want_allow && (!want_ids || ids_match(tr->set, &tr->resp, want_ids));
    struct strbuf det = STRBUF_INIT, errs = STRBUF_INIT;
    if (arc == 0) {
        reasons_text(tr->set, &tr->resp, &det);
        for (size_t k = 0; k < tr->resp.nerrors; k++)
            sb_printf(&errs, "%s%s", k ? "; " : "", tr->resp.errors[k].message);
    } else {
        sb_printf(&errs, "the decision failed: %s", custody_strerror(arc));
    }
    if (ok)
        tr->passed++;
    else
        tr->failed++;
    if (tr->json) {
        json_t *dj = json_array();
        for (size_t k = 0; arc == 0 && k < tr->resp.nreasons; k++)
            json_array_append_new(dj,
                                  json_string(policy_set_info(tr->set, tr->resp.reasons[k])->id));
        json_t *ej = json_array();
        for (size_t k = 0; arc == 0 && k < tr->resp.nerrors; k++)
            json_array_append_new(ej, json_string(tr->resp.errors[k].message));
        if (arc) json_array_append_new(ej, json_string(errs.buf));
        json_array_append_new(tr->results,
                              json_pack("{s:s, s:b, s:s, s:s, s:o, s:o}", "name", name, "ok", ok,
                                        "decision", allow ? "allow" : "deny", "expect", expect,
                                        "determining", dj, "errors", ej));
    } else if (ok) {
        printf("ok ");
        cli_print_safe(name);
        putchar('\n');
    } else {
        struct strbuf req = STRBUF_INIT;
        uid_text(&req, &pr.principal);
        sb_puts(&req, " ");
        uid_text(&req, &pr.action);
        sb_puts(&req, " ");
        uid_text(&req, &pr.resource);
        printf("FAIL ");
        cli_print_safe(name);
        printf(": got %s (determining: ", allow ? "allow" : "deny");
        cli_print_safe(det.buf);
        if (errs.len) {
            printf("; errors: ");
            cli_print_safe(errs.buf);
        }
        printf(") want %s", expect);
        if (want_ids) {
            printf(" (determining: ");
            for (size_t k = 0; k < json_array_size(want_ids); k++) {
                const char *w = json_string_value(json_array_get(want_ids, k));
                printf("%s", k ? ", " : "");
                cli_print_safe(w ? w : "?");
            }
            if (!json_array_size(want_ids)) printf("none");
            printf(")");
        }
        printf(" [");
        cli_print_safe(req.buf);
        printf("]\n");
        sb_free(&req);
    }
    sb_free(&det);
    sb_free(&errs);
out:
    free(s1);
    free(s2);
    free(s3);
    policy_doc_free(ctx);
    sb_free(&err);
    return rc;
}

static int cmd_policy_test(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy test");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *file = argv[optind];
    char *text = NULL;
    size_t len = 0;
    rc = util_read_file(file, TEST_FILE_MAX, &text, &len);
    if (rc) return cli_local_error(rc, "cannot read %s: %s", file, custody_strerror(rc));
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cli_local_error(CUSTODY_EINVAL, "%s:%d:%d: not a JSON object%s%s", file, jerr.line,
                               jerr.column, doc ? "" : ": ", doc ? "" : jerr.text);
    }
    json_t *tests = json_object_get(doc, "tests");
    json_t *pol = json_object_get(doc, "policies");
    json_t *ents = json_object_get(doc, "entities");
    struct policy_set *set = NULL;
    struct policy_entities *es = NULL;
    struct strbuf err = STRBUF_INIT;
    char *ppath = NULL;
    if (!json_is_array(tests) || (pol && !json_is_string(pol)) || (ents && !json_is_array(ents))) {
        rc = cli_local_error(CUSTODY_EINVAL,
                             "%s: want {\"policies\"?: PATH, \"entities\"?: [...], \"tests\": "
                             "[...]}",
                             file);
        goto out;
    }
    if (pol) {
        const char *p = json_string_value(pol);
        const char *slash = strrchr(file, '/');
        if (p[0] == '/' || !slash) {
            ppath = util_strdup(p);
        } else {
            char *dir = util_strndup(file, (size_t)(slash - file));
            ppath = util_path_join(dir, p);
            free(dir);
        }
    } else {
        ppath = cli_policy_default_dir(cli);
    }
    size_t nfiles = 0;
    rc = cli_policy_load(ppath, !pol, &set, &nfiles, &err);
    if (rc) {
        cli_policy_print_errors(&err, rc);
        rc = CLI_EXIT_REFUSED;
        goto out;
    }
    es = policy_entities_new();
    if (ents) {
        char *etext = json_dumps(ents, JSON_COMPACT);
        rc = etext ? policy_entities_load_json(es, etext, strlen(etext), 0, &err) : CUSTODY_EINVAL;
        free(etext);
    } else {
        rc = policy_entities_freeze(es, &err);
    }
    if (rc) {
        rc =
            cli_local_error(rc, "%s: entities: %s", file, err.len ? err.buf : custody_strerror(rc));
        goto out;
    }
    struct test_run tr = {
        .file = file, .set = set, .es = es, .json = cli->json, .results = json_array()};
    policy_response_init(&tr.resp);
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        if ((rc = run_test(&tr, i, t)) != 0) break;
    }
    policy_response_free(&tr.resp);
    if (rc) {
        json_decref(tr.results);
        goto out;
    }
    if (cli->json) {
        json_t *o = json_pack("{s:I, s:I, s:o}", "passed", (json_int_t)tr.passed, "failed",
                              (json_int_t)tr.failed, "results", tr.results);
        cli_print_json(o);
        json_decref(o);
    } else {
        json_decref(tr.results);
        printf("%zu passed, %zu failed\n", tr.passed, tr.failed);
    }
    rc = tr.failed ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
out:
    policy_entities_free(es);
    policy_set_free(set);
    sb_free(&err);
    free(ppath);
    json_decref(doc);
    return rc;
}

/* ---- table and dispatch ---- */

const char cli_policy_details[] =
    "subcommands:\n"
    "  check [DIR|FILE...]  parse policies offline (default STATE/policy)\n"
    "  show                 the set in force: ids, effects, files, hash\n"
    "  reload               re-read STATE/policy in custodyd (atomic)\n"
    "  explain --action X --resource R [--agent A] [--destination R2] [--context JSON]\n"
    "                       why a request would be allowed or refused\n"
    "  test FILE            run policy tests (JSON) offline, for CI\n"
    "  replay [--since T] [--policy DIR]\n"
    "                       re-decide the audit log's decisions under candidate policies\n"
    "\nsee 'custody policy SUBCOMMAND --help', docs/policy.md and docs/authz.md.\n";

const struct cli_command cli_policy_commands[] = {
    {"policy check", cmd_policy_check, "policy check [DIR|FILE...] [--json]",
     "Parse policies offline, as custodyd would (default: STATE/policy).",
     "A directory is read like custodyd reads STATE/policy (its *.cedar files in name\n"
     "order, @id annotations as ids). Errors are printed as FILE:LINE:COLUMN: message\n"
     "and the exit status is 1.\n"
     "options:\n  --json   {ok, results: [{path, ok, policies, files, hash | error}]}\n"},
    {"policy show", cmd_policy_show, "policy show [--json]",
     "Show the policy set in force: ids, effects, files and its hash.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"policy reload", cmd_policy_reload, "policy reload [--json]",
     "Make custodyd re-read STATE/policy; on an error the running set stays.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"policy explain", cmd_policy_explain,
     "policy explain [--agent A] --action X --resource R [--destination R2] [--dir]\n"
     "                      [--context JSON] [--json]",
     "Explain, policy by policy, why custodyd would allow or refuse a request.",
     "The exit status is 0 whatever the decision.\n"
     "options:\n"
     "  --agent A          the agent asking (default: the operator)\n"
     "  --action X         read, write, list, stat, mkdir, move, delete, ...\n"
     "  --resource R       ROOT:/PATH\n"
     "  --destination R2   a move's destination\n"
     "  --dir              the resource is a directory (Folder)\n"
     "  --context JSON     extra context attributes, e.g. '{\"attested\": true}'\n"
     "  --json             custodyd's explanation as JSON\n"
     "\nexample:\n"
     "  custody policy explain --agent demo --action read --resource demo:/hello.txt\n"},
    {"policy test", cmd_policy_test, "policy test FILE [--json]",
     "Run policy tests offline: expected decisions for given requests (for CI).",
     "FILE is JSON:\n"
     "  {\"policies\": \"DIR or FILE (relative to FILE; default STATE/policy)\",\n"
     "   \"entities\": [Cedar JSON entities, with Action hierarchies if needed],\n"
     "   \"tests\": [{\"name\": \"...\", \"principal\": {\"type\": \"Agent\", \"id\": \"demo\"},\n"
     "              \"action\": {\"type\": \"Action\", \"id\": \"read\"},\n"
     "              \"resource\": {\"type\": \"File\", \"id\": \"demo:/a.txt\"},\n"
     "              \"context\": {...}, \"expect\": \"allow\" | \"deny\",\n"
     "              \"policies\": [\"expected determining ids\"]}]}\n"
     "Prints 'ok NAME' or 'FAIL NAME: ...' per test and 'N passed, M failed';\n"
     "the exit status is 1 when a test failed.\n"
     "options:\n  --json   {passed, failed, results}\n"},
    {"policy replay", cli_cmd_policy_replay, "policy replay [--since T] [--policy DIR] [--json]",
     "Re-decide the audit log's decisions under candidate policies; list the changes.",
     "Each data-plane event (read, write, list, stat, mkdir, move, delete, rollback,\n"
     "versions) decided allow or deny by policy is decided again with the candidate\n"
     "set over today's agents and roots; each decision that would change is printed:\n"
     "  INDEX TIME AGENT ACTION RESOURCE: was allow (POLICIES) -> now deny (POLICIES)\n"
     "Events with pseudonymized identifiers cannot be re-decided and are counted as\n"
     "skipped, as are refusals that came before the policy (token, quarantine) and\n"
     "events of agents no longer enrolled. A quarantined agent's events are decided\n"
     "as if it were not quarantined: replay asks what the policies say, and a\n"
     "quarantine refuses before them.\n"
     "options:\n"
     "  --since T      only events from T on (RFC 3339 or unix seconds)\n"
     "  --policy DIR   the candidate set: a directory of .cedar files or one file\n"
     "                 (default STATE/policy)\n"
     "  --json         {redecided, changed, skipped_*, changes: [...]}\n"
     "\nexample:\n  custody policy replay --policy ./policy-next --since 2026-11-01T00:00:00Z\n"},
};
const unsigned cli_npolicy_commands = UTIL_ARRAY_LEN(cli_policy_commands);

int cli_cmd_policy(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "policy", cli_policy_commands, cli_npolicy_commands,
                        cli_policy_details, argc, argv);
}
