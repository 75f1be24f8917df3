/*
 * policy_replay.c — `custody policy replay`: re-decide the requests in the
 * audit ledger under a candidate policy set (src/authz decides, exactly as
 * custodyd would) and list each decision that would change.
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

#define REPLAY_PAGE 10000 /* custodyd's cap on /v1/audit/search?limit= */
#define PSEUDONYM_PREFIX "hmac-sha256:"

#define POLICY_CMD(name) cli_find_in(cli_policy_commands, cli_npolicy_commands, name)

/* ---- helpers ---- */

/* RFC 3339 (fraction and offset optional parts) to unix seconds. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n < 19)
        return false;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5) return false;
        off = (long)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 1 + m;
    } else {
        return false;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *out = (int64_t)t - off;
    return true;
}

/* Appends one id to a comma-separated list unless it is there. */
static void id_list_add(struct strbuf *sb, const char *id)
{
    size_t l = strlen(id);
    for (const char *p = sb->buf ? sb->buf : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == l && memcmp(p, id, l) == 0) return;
        p += n + (c ? 1 : 0);
    }
    sb_printf(sb, "%s%s", sb->len ? "," : "", id);
}

/* A JSON array of strings from a comma-separated list. */
static json_t *id_list_json(const char *list)
{
    json_t *arr = json_array();
    for (const char *p = list ? list : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n) json_array_append_new(arr, json_stringn(p, n));
        p += n + (c ? 1 : 0);
    }
    return arr;
}

/* ---- policy replay ---- */

/* The data-plane actions whose decisions are re-decided. */
static bool replayable_action(const char *a)
{
    static const char *const acts[] = {"read", "write",  "list",     "stat",    "mkdir",
                                       "move", "delete", "rollback", "versions"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(acts); i++)
        if (strcmp(acts[i], a) == 0) return true;
    return false;
}

static bool pseudonymous(const char *s)
{
    return s && strncmp(s, PSEUDONYM_PREFIX, strlen(PSEUDONYM_PREFIX)) == 0;
}

/* A deny decided by the policy set (not by a token, a quarantine, the
 * session or the store): custodyd's reasons (src/authz/engine.c). */
static bool policy_deny_reason(const char *reason)
{
    return reason && (strncmp(reason, "forbidden by policy", 19) == 0 ||
                      strncmp(reason, "no policy permits", 17) == 0);
}

/* What custodyd decides with: today's roots (from custodyd) and the
 * sensitive label of STATE/config.yaml (the default, "phi", when it cannot
 * be read). */
static struct custody_config *replay_config(struct cli *cli, const custody_root_t *roots,
                                            size_t nroots)
{
    const char *state = cli_state_dir(cli);
    struct custody_config *cfg = config_new_default(state), *loaded = NULL;
    struct strbuf err = STRBUF_INIT;
    if (config_load(state, &loaded, &err) == 0 && loaded && loaded->audit_sensitive_label) {
        free(cfg->audit_sensitive_label);
        cfg->audit_sensitive_label = util_strdup(loaded->audit_sensitive_label);
    }
    if (loaded) config_unref(loaded);
    sb_free(&err);
    cfg->roots = util_calloc(nroots ? nroots : 1, sizeof *cfg->roots);
    for (size_t i = 0; i < nroots; i++) {
        if (!roots[i].name) continue;
        struct cfg_label *labels =
            util_calloc(roots[i].nlabels ? roots[i].nlabels : 1, sizeof *labels);
        for (size_t k = 0; k < roots[i].nlabels; k++)
            labels[k] = (struct cfg_label){roots[i].labels[k].key, roots[i].labels[k].value};
        struct cfg_root view = {.name = roots[i].name,
                                .path = roots[i].path ? roots[i].path : "",
                                .labels = labels,
                                .nlabels = roots[i].nlabels};
        config_root_copy(&cfg->roots[cfg->nroots++], &view);
        free(labels);
    }
    return cfg;
}

static int agent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct authz_agent *)a)->name, ((const struct authz_agent *)b)->name);
}

static int agent_key_cmp(const void *key, const void *a)
{
    return strcmp(key, ((const struct authz_agent *)a)->name);
}

/* Today's agents from custodyd's GET /v1/agents, sorted by name (no
 * public keys: nothing is verified offline). */
static struct authz_agent *replay_agents(json_t *arr, size_t *n)
{
    struct authz_agent *v = util_calloc(json_array_size(arr) + 1, sizeof *v);
    size_t k = 0, i, j;
    json_t *a, *g;
    json_array_foreach(arr, i, a)
    {
        const char *name = cli_jstr(a, "name"), *principal = cli_jstr(a, "principal");
        const char *fp = cli_jstr(a, "key_fingerprint");
        if (!name || !authz_name_valid(name)) continue;
        struct authz_agent *ag = &v[k++];
        util_strlcpy(ag->name, name, sizeof ag->name);
        if (principal) util_strlcpy(ag->principal, principal, sizeof ag->principal);
        json_array_foreach(json_object_get(a, "groups"), j, g)
        {
            const char *gs = json_string_value(g);
            if (gs && ag->ngroups < AUTHZ_GROUPS_MAX)
                util_strlcpy(ag->groups[ag->ngroups++], gs, sizeof ag->groups[0]);
        }
        if (fp) util_strlcpy(ag->key_fp, fp, sizeof ag->key_fp);
        json_int_t epoch = json_integer_value(json_object_get(a, "epoch"));
        ag->epoch = epoch > 0 ? (uint64_t)epoch : 0;
        ag->quarantined = json_is_true(json_object_get(a, "quarantined"));
    }
    qsort(v, k, sizeof *v, agent_cmp);
    *n = k;
    return v;
}

/* The candidate set as a directory for authz_new: a directory as it is;
 * one file through a private directory holding a link to it, *link (to
 * remove, with the directory, once the set is loaded). NULL with errno. */
static char *candidate_dir(const char *path, char **link)
{
    *link = NULL;
    struct stat st;
    if (stat(path, &st) != 0 || S_ISDIR(st.st_mode)) return util_strdup(path);
    const char *tmp = getenv("TMPDIR");
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/custody-replay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *dir = sb_detach(&sb);
    if (!mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    char *target = config_path_absolute(path);
    *link = util_path_join(dir, "candidate.cedar");
    if (symlink(target, *link) != 0) {
        int e = errno;
        rmdir(dir);
        free(dir);
        free(*link);
        *link = NULL;
        dir = NULL;
        errno = e;
    }
    free(target);
    return dir;
}

struct replay {
    struct authz *az;
    const struct authz_agent *agents; /* sorted by name, none quarantined */
    size_t nagents;
    bool json;
    size_t redecided, changed, skipped_pseudo, skipped_other, skipped_gone, failed;
    json_t *changes;
};

/* The request custodyd decided, rebuilt from the event; false when it
 * cannot be (*root and friends are allocated either way). */
static bool replay_request(json_t *ev, const char *action, int64_t t, struct authz_request *rq,
                           char **root, char **path, char **root2, char **path2)
{
    const char *resource = cli_jstr(ev, "resource_id"), *dest = cli_jstr(ev, "destination_id");
    if (custody_resource_parse(resource, root, path) != 0 ||
        (dest && custody_resource_parse(dest, root2, path2) != 0))
        return false;
    rq->action = action;
    rq->root = *root;
    rq->path = *path;
    rq->dir = strcmp(action, "list") == 0 || strcmp(action, "mkdir") == 0;
    rq->root2 = *root2;
    rq->path2 = *path2;
    rq->now = (uint64_t)t;
    json_t *range = json_object_get(ev, "byte_range");
    json_t *len = json_object_get(range, "length"), *start = json_object_get(range, "start");
    if (json_is_integer(len) && json_integer_value(len) >= 0) {
        rq->has_range = true;
        rq->range_first = json_integer_value(start) > 0 ? (uint64_t)json_integer_value(start) : 0;
        rq->range_last = rq->range_first + (uint64_t)json_integer_value(len) - 1;
    }
    return true;
}

static void print_change(struct replay *rp, json_t *item, bool was_allow, bool now_allow,
                         const struct authz_result *res, int failed_rc)
{
    json_t *ev = json_object_get(item, "event");
    const char *action = cli_jstr(ev, "action"), *ts = cli_jstr(ev, "timestamp");
    const char *resource = cli_jstr(ev, "resource_id"), *dest = cli_jstr(ev, "destination_id");
    const char *agent = cli_jstr(ev, "agent_id");
    struct strbuf was_ids = STRBUF_INIT, now_ids = STRBUF_INIT;
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(ev, "policy_ids"), k, p)
    {
        if (json_is_string(p)) id_list_add(&was_ids, json_string_value(p));
    }
    for (k = 0; k < res->npolicy; k++)
        id_list_add(&now_ids, res->policy_ids[k]);
    json_int_t index = json_integer_value(json_object_get(item, "index"));
    if (rp->json) {
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "index", (json_int_t)index,
                      "timestamp", ts, "agent", agent ? agent : "operator", "action", action,
                      "resource", resource, "was", was_allow ? "allow" : "deny", "was_policies",
                      id_list_json(was_ids.buf), "now", now_allow ? "allow" : "deny",
                      "now_policies", id_list_json(now_ids.buf));
        if (dest) json_object_set_new(o, "destination", json_string(dest));
        if (failed_rc) json_object_set_new(o, "error", json_string(custody_strerror(failed_rc)));
        json_array_append_new(rp->changes, o);
    } else {
        printf("%" JSON_INTEGER_FORMAT " %s %s %s ", index, ts, agent ? agent : "operator", action);
        cli_print_safe(resource);
        if (dest) {
            printf(" -> ");
            cli_print_safe(dest);
        }
        printf(": was %s (", was_allow ? "allow" : "deny");
        cli_print_safe(was_ids.len ? was_ids.buf : "none");
        printf(") -> now %s (", now_allow ? "allow" : "deny");
        cli_print_safe(now_ids.len ? now_ids.buf
                       : failed_rc ? custody_strerror(failed_rc)
                                   : "none");
        printf(")\n");
    }
    sb_free(&was_ids);
    sb_free(&now_ids);
}

static void replay_event(struct replay *rp, json_t *item)
{
    json_t *ev = json_object_get(item, "event");
    const char *action = cli_jstr(ev, "action"), *decision = cli_jstr(ev, "decision");
    const char *resource = cli_jstr(ev, "resource_id"), *dest = cli_jstr(ev, "destination_id");
    const char *agent = cli_jstr(ev, "agent_id"), *reason = cli_jstr(ev, "reason");
    json_int_t status = json_integer_value(json_object_get(ev, "status"));
    if (!action || !decision || !replayable_action(action)) return;
    bool was_allow;
    if (strcmp(decision, "allow") == 0) {
        was_allow = true;
    } else if (strcmp(decision, "deny") == 0 ||
               (strcmp(decision, "error") == 0 && (status == 401 || status == 403))) {
        was_allow = false;
    } else {
        return; /* an error after (or before) the decision: nothing to compare */
    }
    if (pseudonymous(agent) || pseudonymous(resource) || pseudonymous(dest)) {
        rp->skipped_pseudo++;
        return;
    }
    int64_t t = 0;
    if (!resource || (!was_allow && !policy_deny_reason(reason)) ||
        !parse_rfc3339(cli_jstr(ev, "timestamp"), &t) || t <= 0) {
        rp->skipped_other++;
        return;
    }
    struct authz_subject who = {.peer_uid = -1}; /* agent NULL: the operator */
    if (agent) {
        who.agent = bsearch(agent, rp->agents, rp->nagents, sizeof *rp->agents, agent_key_cmp);
        if (!who.agent) {
            rp->skipped_gone++;
            return;
        }
    }
    json_t *uid = json_object_get(ev, "peer_uid");
    if (json_is_integer(uid)) who.peer_uid = json_integer_value(uid);
    struct authz_request rq = {.who = &who};
    char *root = NULL, *path = NULL, *root2 = NULL, *path2 = NULL;
    struct authz_result res;
    if (!replay_request(ev, action, t, &rq, &root, &path, &root2, &path2) ||
        authz_decide(rp->az, &rq, &res) != 0) {
        rp->skipped_other++; /* a resource custodyd could not have decided on */
    } else {
        /* a decision that failed is a deny, as in custodyd */
        int failed_rc = !res.allow && res.err != CUSTODY_EDENIED ? res.err : 0;
        if (failed_rc) rp->failed++;
        rp->redecided++;
        if (res.allow != was_allow) {
            rp->changed++;
            print_change(rp, item, was_allow, res.allow, &res, failed_rc);
        }
    }
    free(root);
    free(path);
    free(root2);
    free(path2);
}

static bool since_valid(const char *s)
{
    int64_t t;
    uint64_t u;
    return parse_rfc3339(s, &t) || util_parse_u64(s, strlen(s), &u) == 0;
}

/* The decisions of today's custodyd (its roots and agents) under the
 * candidate set in path; the exit status. */
static int replay_authz(struct cli *cli, custody_client_t *c, const char *path, struct replay *rp,
                        struct authz_agent **agents_out)
{
    custody_root_t *roots = NULL;
    size_t nroots = 0;
    char *agents_text = NULL;
    int rc;
    if ((rc = custody_root_list(c, &roots, &nroots)) != 0 ||
        (rc = custody_agent_list(c, &agents_text)) != 0) {
        custody_roots_free(roots, nroots);
        return cli_fail(cli, rc, NULL);
    }
    json_t *o = cli_answer_object(agents_text);
    free(agents_text);
    json_t *arr = json_object_get(o, "agents");
    if (!json_is_array(arr)) {
        json_decref(o);
        custody_roots_free(roots, nroots);
        return cli_malformed("/v1/agents");
    }
    size_t nagents = 0;
    struct authz_agent *agents = replay_agents(arr, &nagents);
    json_decref(o);
    struct custody_config *cfg = replay_config(cli, roots, nroots);
    custody_roots_free(roots, nroots);

    static const uint8_t no_key[TOKEN_KEY_LEN]; /* no tokens here: none is made or read */
    char *link = NULL, *dir = candidate_dir(path, &link);
    struct strbuf err = STRBUF_INIT;
    if (!dir) {
        int e = errno;
        rc = cli_local_error(custody_err_from_errno(e), "cannot stage %s for replay: %s", path,
                             strerror(e));
    } else {
        struct authz_opts opts = {.cfg = cfg,
                                  .agents = agents,
                                  .nagents = nagents,
                                  .token_key = no_key,
                                  .policy_dir = dir};
        rc = authz_new(&opts, &rp->az, &err);
        if (link) {
            unlink(link);
            rmdir(dir);
        }
        if (rc) { /* it changed since it was checked */
            if (!link) cli_policy_error_paths(path, &err);
            cli_policy_print_errors(&err, rc);
            rc = CLI_EXIT_REFUSED;
        }
    }
    /* authz keeps its own copy (with the quarantine flags, as custodyd's
     * entities have them); the subjects of the replayed requests are not
     * quarantined: replay asks what the policies say */
    for (size_t i = 0; i < nagents; i++)
        agents[i].quarantined = false;
    rp->agents = agents;
    rp->nagents = nagents;
    *agents_out = agents;
    config_unref(cfg);
    free(link);
    free(dir);
    sb_free(&err);
    return rc;
}

int cli_cmd_policy_replay(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy replay");
    enum { O_SINCE = 256, O_POLICY };
    static const struct option lo[] = {{"since", required_argument, NULL, O_SINCE},
                                       {"policy", required_argument, NULL, O_POLICY},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *since = NULL, *pdir = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_SINCE) {
            if (!since_valid(optarg))
                return cli_usage_error(cmd,
                                       "invalid time '%s' (RFC 3339, e.g. "
                                       "2026-11-26T07:00:00Z, or unix seconds)",
                                       optarg);
            since = optarg;
        }
        if (ch == O_POLICY) pdir = optarg;
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;

    struct replay rp = {.json = cli->json, .changes = json_array()};
    struct strbuf err = STRBUF_INIT, q = STRBUF_INIT;
    char *path = pdir ? util_strdup(pdir) : cli_policy_default_dir(cli);
    struct authz_agent *agents = NULL;
    /* checked first, as `policy check` does: a broken candidate is reported
     * (FILE:LINE:COLUMN, exit 1) before custodyd is asked anything */
    struct policy_set *set = NULL;
    size_t nfiles = 0;
    rc = cli_policy_load(path, !pdir, &set, &nfiles, &err);
    policy_set_free(set);
    if (rc) {
        cli_policy_print_errors(&err, rc);
        rc = CLI_EXIT_REFUSED;
        goto out;
    }
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) goto out;
    if ((rc = replay_authz(cli, c, path, &rp, &agents)) != 0) goto out;

    /* every event since `since`, a page at a time */
    bool has_after = false;
    uint64_t after = 0;
    for (;;) {
        sb_reset(&q);
        if (since) {
            char *e = curl_easy_escape(NULL, since, 0);
            if (!e) {
                rc = cli_local_error(CUSTODY_ENOMEM, "cannot encode the query");
                goto out;
            }
            sb_printf(&q, "since=%s&", e);
            curl_free(e);
        }
        sb_printf(&q, "limit=%d", REPLAY_PAGE);
        if (has_after) sb_printf(&q, "&after=%" PRIu64, after);
        char *body = NULL;
        size_t blen = 0;
        rc = custody_audit_get(c, "search", q.buf, &body, &blen);
        if (rc) {
            rc = cli_fail(cli, rc, NULL);
            goto out;
        }
        json_t *o = json_loadb(body, blen, 0, NULL);
        free(body);
        json_t *arr = json_object_get(o, "results");
        if (!json_is_array(arr)) {
            json_decref(o);
            rc = cli_malformed("/v1/audit/search");
            goto out;
        }
        size_t i, got = json_array_size(arr);
        json_t *item;
        uint64_t last = after;
        json_array_foreach(arr, i, item)
        {
            replay_event(&rp, item);
            json_int_t idx = json_integer_value(json_object_get(item, "index"));
            if (idx >= 0 && (!has_after || (uint64_t)idx > last)) last = (uint64_t)idx;
        }
        json_decref(o);
        if (got < REPLAY_PAGE || (has_after && last <= after)) break;
        after = last;
        has_after = true;
    }

    struct authz_policy_info pi;
    authz_policy_info(rp.az, &pi);
    if (rp.json) {
        json_t *o = json_pack(
            "{s:s+, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "policy_hash", "sha256:", pi.hash,
            "policy_path", path, "redecided", (json_int_t)rp.redecided, "changed",
            (json_int_t)rp.changed, "skipped_pseudonymized", (json_int_t)rp.skipped_pseudo,
            "skipped_not_policy", (json_int_t)rp.skipped_other, "skipped_unenrolled",
            (json_int_t)rp.skipped_gone, "failed", (json_int_t)rp.failed, "changes", rp.changes);
        rp.changes = NULL;
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("%zu event%s re-decided, %zu would change (candidate policy set sha256:%s, "
               "%zu polic%s)\n",
               rp.redecided, rp.redecided == 1 ? "" : "s", rp.changed, pi.hash, pi.npolicies,
               pi.npolicies == 1 ? "y" : "ies");
        if (rp.skipped_pseudo)
            printf("%zu skipped: pseudonymized identifiers cannot be re-decided\n",
                   rp.skipped_pseudo);
        if (rp.skipped_other)
            printf("%zu skipped: refused before the policy decision (token, quarantine, "
                   "session, path)\n",
                   rp.skipped_other);
        if (rp.skipped_gone) printf("%zu skipped: agent no longer enrolled\n", rp.skipped_gone);
        if (rp.failed)
            printf("%zu decisions failed under the candidate set (counted as deny)\n", rp.failed);
    }
    rc = CLI_EXIT_OK;
out:
    json_decref(rp.changes);
    authz_free(rp.az);
    free(agents);
    free(path);
    sb_free(&err);
    sb_free(&q);
    return rc;
}
