/*
 * engine.c — deciding requests: the capability token, then the policy set.
 *
 * The policy set comes from the .cedar files in STATE/policy (file name order, @id
 * annotations as policy ids) and is swapped whole on reload; the entity
 * store (map.c) is rebuilt when the agents or the roots change. Each
 * decision maps its resource and context afresh (no allocation for paths
 * up to 16 levels deep) and reuses one policy_response.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "internal.h"

struct authz {
    struct custody_config *cfg;
    struct authz_ids *ids;
    struct authz_agent *agents; /* without ids: a fixed list */
    size_t nagents;
    uint8_t key[TOKEN_KEY_LEN];
    struct token_cache *cache;
    struct policy_set *set;
    struct authz_policy_info pinfo;
    struct policy_entities *es;
    uint64_t es_gen; /* ids generation the store was built from */
    bool es_stale;
    struct policy_response resp;
    char *policy_dir;
};

/* ---- policy files ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int authz_policy_load_dir(const char *dir, struct policy_set **out, size_t *nfiles,
                          struct strbuf *err)
{
    struct policy_opts po = {.id_annotation = true};
    struct policy_set *set = policy_set_new(&po);
    *nfiles = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) { /* no policies: everything is denied */
            *out = set;
            return 0;
        }
        int rc = custody_err_from_errno(errno);
        policy_set_free(set);
        return sb_fail(err, rc, "%s: %s", dir, custody_strerror(rc));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 7 || strcmp(de->d_name + l - 6, ".cedar") != 0) continue;
        if (n == AUTHZ_POLICY_FILES_MAX) {
            rc = sb_fail(err, CUSTODY_ETOOBIG, "%s: more than %d policy files", dir,
                         AUTHZ_POLICY_FILES_MAX);
            break;
        }
        if (n == cap) names = util_realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
        names[n++] = util_strdup(de->d_name);
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, name_cmp);
    size_t total = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        char *path = util_path_join(dir, names[i]), *text = NULL;
        size_t len = 0;
        rc = util_read_file(path, POLICY_MAX_TEXT, &text, &len);
        if (rc) sb_fail(err, rc, "%s: %s", path, custody_strerror(rc));
        else if ((total += len) > POLICY_MAX_TEXT)
            rc = sb_fail(err, CUSTODY_ETOOBIG, "%s: policies over %u bytes in all", dir,
                         POLICY_MAX_TEXT);
        else rc = policy_set_add_text(set, text, len, names[i], err);
        free(text);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc) {
        policy_set_free(set);
        return rc;
    }
    *nfiles = n;
    *out = set;
    return 0;
}

int authz_policy_reload(struct authz *az, struct authz_policy_info *info, struct strbuf *err)
{
    struct policy_set *set;
    size_t nfiles;
    int rc = authz_policy_load_dir(az->policy_dir, &set, &nfiles, err);
    if (rc) return rc;
    struct authz_policy_info pi = {0};
    util_strlcpy(pi.old_hash, az->pinfo.hash, sizeof pi.old_hash);
    policy_set_hash(set, pi.hash);
    pi.npolicies = policy_set_count(set);
    pi.nfiles = nfiles;
    pi.changed = strcmp(pi.hash, pi.old_hash) != 0;
    policy_set_free(az->set);
    az->set = set;
    az->pinfo = pi;
    if (info) *info = pi;
    return 0;
}

const struct policy_set *authz_policy(const struct authz *az)
{
    return az->set;
}

void authz_policy_info(const struct authz *az, struct authz_policy_info *info)
{
    *info = az->pinfo;
}

const uint8_t *authz_token_key(const struct authz *az)
{
    return az->key;
}

/* ---- life cycle ---- */

int authz_new(const struct authz_opts *opts, struct authz **out, struct strbuf *err)
{
    struct authz *az = util_calloc(1, sizeof *az);
    az->cfg = config_ref((struct custody_config *)opts->cfg);
    az->ids = opts->ids;
    if (!opts->ids && opts->nagents) {
        az->agents = util_calloc(opts->nagents, sizeof *az->agents);
        memcpy(az->agents, opts->agents, opts->nagents * sizeof *az->agents);
        az->nagents = opts->nagents;
    }
    az->es_stale = true;
    az->policy_dir = opts->policy_dir ? util_strdup(opts->policy_dir)
                                      : util_path_join(opts->cfg->state_dir, AUTHZ_POLICY_DIR);
    policy_response_init(&az->resp);
    int rc = 0;
    if (opts->token_key) {
        memcpy(az->key, opts->token_key, TOKEN_KEY_LEN);
    } else {
        char *kd = util_path_join(opts->cfg->state_dir, "keys");
        char *kp = util_path_join(opts->cfg->state_dir, AUTHZ_TOKEN_KEY);
        rc = util_mkdir_p(kd, 0700);
        if (!rc) rc = token_key_load_or_create(kp, az->key);
        free(kd);
        if (rc) sb_fail(err, rc, "%s: %s", kp, custody_strerror(rc));
        free(kp);
    }
    if (!rc && (rc = token_cache_new(az->key, 4096, &az->cache)))
        sb_fail(err, rc, "cannot make the token cache");
    if (!rc) rc = authz_policy_reload(az, NULL, err);
    if (rc) {
        authz_free(az);
        return rc;
    }
    az->pinfo.old_hash[0] = '\0';
    *out = az;
    return 0;
}

void authz_free(struct authz *az)
{
    if (!az) return;
    config_unref(az->cfg);
    token_cache_free(az->cache);
    policy_set_free(az->set);
    policy_entities_free(az->es);
    policy_response_free(&az->resp);
    OPENSSL_cleanse(az->key, sizeof az->key);
    free(az->policy_dir);
    free(az->agents);
    free(az);
}

void authz_set_config(struct authz *az, const struct custody_config *cfg)
{
    struct custody_config *old = az->cfg;
    az->cfg = config_ref((struct custody_config *)cfg);
    config_unref(old);
    az->es_stale = true;
}

static int entities(struct authz *az, struct strbuf *err)
{
    uint64_t gen = az->ids ? authz_ids_generation(az->ids) : 0;
    if (az->es && !az->es_stale && gen == az->es_gen) return 0;
    struct policy_entities *es;
    int rc = authz_map_entities(az->cfg, az->ids, az->agents, az->nagents, &es, err);
    if (rc) return rc; /* keep the old store */
    policy_entities_free(az->es);
    az->es = es;
    az->es_gen = gen;
    az->es_stale = false;
    return 0;
}

/* ---- one decision ---- */

/* The request's context record. */
struct ctx {
    struct policy_attr a[8];
    struct policy_attr dest[4];
    struct policy_value dest_rec, rec;
    struct policy_attr *merged;
};

static int ctx_build(struct ctx *c, const struct authz_request *req, const struct authz_res *r2,
                     uint64_t now, bool has_token, uint64_t token_age)
{
    size_t n = 0;
    c->merged = NULL;
    c->a[n++] = (struct policy_attr){"attested", 8, policy_bool(req->who->attested)};
    if (r2) {
        c->dest[0] = (struct policy_attr){"labels", 6, *r2->labels};
        c->dest[1] = (struct policy_attr){"path", 4, policy_string(req->path2, strlen(req->path2))};
        c->dest[2] = (struct policy_attr){"root", 4, policy_string(req->root2, strlen(req->root2))};
        c->dest[3] = (struct policy_attr){"sensitive", 9, policy_bool(r2->sensitive)};
        int rc = policy_value_record_of(c->dest, 4, &c->dest_rec);
        if (rc) return rc;
        c->a[n++] = (struct policy_attr){"destination", 11, c->dest_rec};
    }
    if (req->who->peer_uid >= 0)
        c->a[n++] = (struct policy_attr){"peer_uid", 8, policy_long(req->who->peer_uid)};
    if (req->has_range)
        c->a[n++] = (struct policy_attr){
            "range_length", 12,
            policy_long((int64_t)UTIL_MIN(req->range_last - req->range_first + 1, INT64_MAX))};
    c->a[n++] = (struct policy_attr){"time", 4, policy_long((int64_t)now)};
    if (has_token)
        c->a[n++] = (struct policy_attr){"token_age", 9, policy_long((int64_t)token_age)};
    return policy_value_record_of(c->a, n, &c->rec);
}

/* Overlays the attributes of a JSON record (custody policy explain --context). */
static int ctx_merge(struct ctx *c, const struct policy_value *extra)
{
    size_t n = 0, cap = c->rec.len + extra->len;
    c->merged = util_calloc(cap ? cap : 1, sizeof *c->merged);
    for (uint32_t i = 0; i < c->rec.len; i++)
        if (!policy_record_get(extra, c->rec.u.rec[i].name, c->rec.u.rec[i].name_len))
            c->merged[n++] = c->rec.u.rec[i];
    for (uint32_t i = 0; i < extra->len; i++)
        c->merged[n++] = extra->u.rec[i];
    return policy_value_record_of(c->merged, n, &c->rec);
}

static void set_reason(struct authz_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(struct authz_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof res->reason, fmt, ap); /* long names are cut */
    va_end(ap);
}

static void uid_text(char *buf, size_t len, const struct policy_uid *u)
{
    snprintf(buf, len, "%.*s::\"%.*s\"", (int)u->type_len, u->type,
             (int)UTIL_MIN(u->id_len, 300u), u->id);
}

/* Adds id to a comma-separated list of at most AUTHZ_MAX_IDS ids (once). */
#define AUTHZ_MAX_IDS 8
static void ids_add(char *list, size_t cap, size_t *n, const char *id)
{
    size_t l = strlen(id), used = strlen(list);
    for (const char *p = list; *p;) { /* already listed? */
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == l && memcmp(p, id, l) == 0) return;
        p += k + (c ? 1 : 0);
    }
    if (*n == AUTHZ_MAX_IDS || used + l + 2 > cap) return;
    if (used) list[used++] = ',';
    memcpy(list + used, id, l + 1);
    (*n)++;
}

static void add_policy(struct authz_result *res, const char *id)
{
    ids_add(res->policies, sizeof res->policies, &res->npolicy, id);
}

/* Fills res->policy_ids from res->policies (after the last add), which
 * stays comma-separated. */
static void split_policies(struct authz_result *res)
{
    util_strlcpy(res->ids_, res->policies, sizeof res->ids_);
    char *p = res->ids_;
    size_t k = 0;
    while (*p && k < UTIL_ARRAY_LEN(res->policy_ids)) {
        res->policy_ids[k++] = p;
        char *comma = strchr(p, ',');
        if (!comma) break;
        *comma = '\0';
        p = comma + 1;
    }
    res->npolicy = k;
}

static void policy_list(const struct policy_set *set, const struct policy_response *resp,
                        char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < resp->nreasons && o + 1 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                              policy_set_info(set, resp->reasons[i])->id);
    if (o >= len) buf[len - 1] = '\0';
}

/* One policy decision for principal/action/resource; fills res on deny. */
static int decide_policy(struct authz *az, const struct authz_request *req,
                         const struct authz_agent *ag, struct authz_res *r,
                         const struct policy_value *context, struct authz_result *res)
{
    struct policy_request pr = {
        .principal = ag ? policy_uid_make("Agent", ag->name)
                        : policy_uid_make("Operator", AUTHZ_OPERATOR_ID),
        .action = policy_uid_make("Action", req->action),
        .context = context,
    };
    if (r) {
        pr.resource = r->uid;
        pr.resource_entity = r->is_root ? NULL : &r->given;
    } else {
        pr.resource = policy_uid_make(req->entity_type, req->entity_id);
    }
    struct policy_response *resp = &az->resp;
    int rc = policy_authorize(az->set, az->es, &pr, resp);
    if (rc) return rc;
    res->nerrors += resp->nerrors;
    for (size_t i = 0; i < resp->nreasons; i++)
        add_policy(res, policy_set_info(az->set, resp->reasons[i])->id);
    if (resp->decision == POLICY_ALLOW) return 0;
    res->allow = false;
    res->err = CUSTODY_EDENIED;
    char who[400], what[400], ids[200];
    uid_text(who, sizeof who, &pr.principal);
    uid_text(what, sizeof what, &pr.resource);
    if (resp->nreasons) {
        policy_list(az->set, resp, ids, sizeof ids);
        set_reason(res, "forbidden by policy %s (%s %s %s)", ids, who, req->action, what);
    } else if (resp->nerrors) {
        set_reason(res, "no policy permits %s to %s %s (%zu erroring polic%s skipped: %s)", who,
                   req->action, what, resp->nerrors, resp->nerrors == 1 ? "y" : "ies",
                   resp->errors[0].message);
    } else {
        set_reason(res, "no policy permits %s to %s %s", who, req->action, what);
    }
    return 1; /* denied */
}

static bool revoked_cb(void *ctx, const char *id)
{
    struct authz *az = ctx;
    return az->ids && authz_token_revoked(az->ids, id);
}

/* The lifetime cap for a resource (tokens.* in config.yaml). */
static uint64_t ttl_cap(const struct authz *az, bool sensitive)
{
    uint64_t max = az->cfg->token_ttl_max_s, sens = az->cfg->token_ttl_sensitive_s;
    return sensitive ? UTIL_MIN(max, sens) : max;
}

static const struct authz_agent *find_agent(const struct authz *az, const char *name)
{
    if (az->ids) return authz_agent_find(az->ids, name);
    for (size_t i = 0; i < az->nagents; i++)
        if (strcmp(az->agents[i].name, name) == 0) return &az->agents[i];
    return NULL;
}

/* The token against the request. An agent may hand its token to a
 * sub-agent offline (a `delegate = NAME` caveat): the token stays bound to
 * the agent that received it from custodyd (its key, its epoch), only the
 * delegate may present it, and *principal becomes that original agent,
 * whose rights the policy then decides. */
static int check_token(struct authz *az, const struct authz_request *req,
                       const struct authz_res *r, const struct authz_res *r2, uint64_t now,
                       const struct authz_agent **principal, struct authz_result *res)
{
    const struct authz_agent *ag = req->who->agent;
    struct token_request tr = {
        .agent = ag ? ag->name : "",
        .agent_key = ag ? ag->key_fp : NULL,
        .action = req->action,
        .resource = r->id,
        .resource2 = r2 ? r2->id : NULL,
        .has_range = req->has_range,
        .range_first = req->range_first,
        .range_last = req->range_last,
        .now = now,
        .agent_epoch = ag ? ag->epoch : 0,
        .attest = req->who->attest,
        .max_ttl = ttl_cap(az, r->sensitive || (r2 && r2->sensitive)),
        .is_revoked = revoked_cb,
        .ctx = az,
    };
    struct token_info info = {0};
    struct strbuf why = STRBUF_INIT;
    int rc = token_cache_verify(az->cache, req->token, &tr, &info, &why);
    const char *origin_name = info.eff.agent;
    if (rc == CUSTODY_EPERM && ag && info.eff.delegate && origin_name &&
        strcmp(origin_name, ag->name) != 0) {
        const struct authz_agent *origin = find_agent(az, origin_name);
        if (!origin) {
            rc = sb_fail(&why, CUSTODY_EREVOKED, "agent \"%s\", who handed over the token, no "
                                                 "longer exists", origin_name);
        } else if (origin->quarantined) {
            rc = sb_fail(&why, CUSTODY_EQUARANTINED,
                         "agent \"%s\", who handed over the token, is quarantined", origin->name);
        } else {
            tr.agent = origin->name;
            tr.agent_key = origin->key_fp;
            tr.agent_epoch = origin->epoch;
            tr.presenter = ag->name;
            token_info_free(&info);
            sb_reset(&why);
            rc = token_cache_verify(az->cache, req->token, &tr, &info, &why);
            if (!rc) {
                *principal = origin;
                util_strlcpy(res->delegated_by, origin->name, sizeof res->delegated_by);
            }
        }
    }
    util_strlcpy(res->token_id, info.id, sizeof res->token_id);
    if (info.eff.issued && now > info.eff.issued) res->token_age = now - info.eff.issued;
    token_info_free(&info);
    if (rc) {
        res->allow = false;
        res->err = rc == CUSTODY_EPERM ? CUSTODY_EDENIED : rc;
        set_reason(res, "capability token%s%s: %s", res->token_id[0] ? " " : "", res->token_id,
                   why.buf ? why.buf : custody_strerror(rc));
    }
    sb_free(&why);
    return rc ? 1 : 0;
}

/* Everything authz_decide and authz_explain share: mapping and context. */
struct mapped {
    struct authz_res r, r2;
    bool has_r, has_r2;
    struct ctx ctx;
};

static int map_request(struct authz *az, const struct authz_request *req, struct mapped *m,
                       struct strbuf *err)
{
    memset(m, 0, sizeof *m);
    int rc = entities(az, err);
    if (rc) return rc;
    if (!req->who || !req->action || !authz_action_known(req->action))
        return sb_fail(err, CUSTODY_EINVAL, "unknown action \"%s\"",
                       req->action ? req->action : "");
    if (req->root) {
        if ((rc = authz_res_map(az->cfg, az->es, req->root, req->path, req->dir, &m->r)))
            return sb_fail(err, rc, "malformed resource %s:%s", req->root, req->path);
        m->has_r = true;
        if (req->root2) {
            rc = authz_res_map(az->cfg, az->es, req->root2, req->path2, false, &m->r2);
            if (rc) {
                authz_res_free(&m->r);
                return sb_fail(err, rc, "malformed destination %s:%s", req->root2, req->path2);
            }
            m->has_r2 = true;
        }
    } else if (!req->entity_type || !req->entity_id) {
        return sb_fail(err, CUSTODY_EINVAL, "a request needs a resource");
    }
    return 0;
}

static void mapped_free(struct mapped *m)
{
    if (m->has_r) authz_res_free(&m->r);
    if (m->has_r2) authz_res_free(&m->r2);
    free(m->ctx.merged);
}

int authz_decide(struct authz *az, const struct authz_request *req, struct authz_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t now = req->now ? req->now : util_now_ns() / 1000000000ull;
    struct strbuf err = STRBUF_INIT;
    struct mapped m;
    int rc = map_request(az, req, &m, &err);
    if (rc) {
        res->err = rc;
        util_strlcpy(res->reason, err.buf ? err.buf : custody_strerror(rc), sizeof res->reason);
        sb_free(&err);
        return rc;
    }
    const struct authz_agent *ag = req->who->agent;
    /* a model (Model::"NAME@VERSION") takes capabilities too: resource model:/NAME@VERSION */
    bool is_model = !m.has_r && req->entity_type && strcmp(req->entity_type, "Model") == 0;
    struct authz_res *mres = NULL;
    if (is_model && req->token) {
        mres = util_calloc(1, sizeof *mres);
        snprintf(mres->id, sizeof mres->id, "model:/%s", req->entity_id);
    }
    bool has_token = req->token && (m.has_r || is_model);
    if (ag && ag->quarantined) {
        res->err = CUSTODY_EQUARANTINED;
        snprintf(res->reason, sizeof res->reason, "agent %s is quarantined", ag->name);
        goto out;
    }
    if (!has_token && req->token_required && ag && (m.has_r || is_model)) {
        res->err = CUSTODY_EUNAUTH;
        snprintf(res->reason, sizeof res->reason,
                 "a capability token is required: mint one (POST /v1/tokens, custody token "
                 "mint) and send it in the custody-token header");
        goto out;
    }
    const struct authz_agent *principal = ag;
    if (has_token &&
        check_token(az, req, mres ? mres : &m.r, m.has_r2 ? &m.r2 : NULL, now, &principal, res))
        goto out;
    if ((rc = ctx_build(&m.ctx, req, m.has_r2 ? &m.r2 : NULL, now, has_token, res->token_age)))
        goto fail;
    rc = decide_policy(az, req, principal, m.has_r ? &m.r : NULL, &m.ctx.rec, res);
    if (rc == 0 && m.has_r2) rc = decide_policy(az, req, principal, &m.r2, &m.ctx.rec, res);
    if (rc < 0) goto fail;
    if (rc == 0) {
        res->allow = true;
        /* every allowed request says this: no printf */
        util_strlcpy(res->reason, "permitted by policy ", sizeof res->reason);
        util_strlcat(res->reason, res->policies, sizeof res->reason);
        if (res->delegated_by[0]) {
            util_strlcat(res->reason, "; token handed over by agent ", sizeof res->reason);
            util_strlcat(res->reason, res->delegated_by, sizeof res->reason);
        }
    }
    goto out;
fail:
    res->allow = false;
    res->err = rc;
    snprintf(res->reason, sizeof res->reason, "the decision failed: %s", custody_strerror(rc));
out:
    free(mres);
    split_policies(res);
    mapped_free(&m);
    sb_free(&err);
    return 0;
}

/* ---- explain ---- */

int authz_explain(struct authz *az, const struct policy_set *set, const struct authz_request *req,
                  const char *context_json, bool json, struct strbuf *out, struct strbuf *err)
{
    uint64_t now = req->now ? req->now : util_now_ns() / 1000000000ull;
    struct mapped m;
    int rc = map_request(az, req, &m, err);
    if (rc) return rc;
    struct policy_doc *doc = NULL;
    rc = ctx_build(&m.ctx, req, m.has_r2 ? &m.r2 : NULL, now, req->token != NULL, 0);
    if (!rc && context_json) {
        rc = policy_doc_parse(context_json, strlen(context_json), 0, &doc, err);
        if (!rc && policy_doc_value(doc)->type != POLICY_RECORD)
            rc = sb_fail(err, CUSTODY_EINVAL, "the context must be a JSON object");
        if (!rc) rc = ctx_merge(&m.ctx, policy_doc_value(doc));
    }
    if (!rc) {
        const struct authz_agent *ag = req->who->agent;
        struct policy_request pr = {
            .principal = ag ? policy_uid_make("Agent", ag->name)
                            : policy_uid_make("Operator", AUTHZ_OPERATOR_ID),
            .action = policy_uid_make("Action", req->action),
            .resource = m.has_r ? m.r.uid : policy_uid_make(req->entity_type, req->entity_id),
            .resource_entity = m.has_r && !m.r.is_root ? &m.r.given : NULL,
            .context = &m.ctx.rec,
        };
        struct policy_explanation ex;
        if (!set) set = az->set;
        rc = policy_explain(set, az->es, &pr, 0, &ex);
        if (!rc) {
            rc = json ? policy_explain_json(set, &pr, &ex, out)
                      : policy_explain_text(set, &pr, &ex, out);
            policy_explanation_free(&ex);
        }
        if (rc && !err->len) sb_fail(err, rc, "cannot explain: %s", custody_strerror(rc));
    }
    policy_doc_free(doc);
    mapped_free(&m);
    return rc;
}

/* ---- minting ---- */

/* Mints the token once the decisions allowed it: res holds the determining
 * policies; the lifetime is m->ttl (or the default) capped at cap. */
static int mint_claims(struct authz *az, const struct authz_subject *who,
                       const struct authz_mint *m, const char *resource, bool prefix,
                       uint64_t cap, struct strbuf *token, uint64_t *expires,
                       struct authz_result *res)
{
    const struct authz_agent *ag = m->agent;
    uint64_t ttl = m->ttl ? m->ttl : az->cfg->token_ttl_default_s;
    if (ttl > cap) ttl = cap;
    uint64_t now = util_now_ns() / 1000000000ull;
    struct token_claims cl = {
        .location = m->location,
        .agent = ag->name,
        .agent_key = ag->key_fp,
        .actions = m->actions,
        .resource = resource,
        .resource_prefix = prefix,
        .has_range = m->has_range,
        .range_first = m->range_first,
        .range_last = m->range_last,
        .issued = now,
        .expires = now + ttl,
        .max_ttl = cap,
        .policies = res->policy_ids,
        .npolicies = UTIL_MIN(res->npolicy, (size_t)TOKEN_MAX_POLICIES),
        .epoch = ag->epoch,
        .attest = who->attest,
    };
    struct strbuf why = STRBUF_INIT;
    int rc = token_mint(az->key, &cl, token, &why);
    if (rc) {
        res->err = rc;
        set_reason(res, "cannot mint: %s", why.buf ? why.buf : custody_strerror(rc));
        sb_free(&why);
        return rc;
    }
    sb_free(&why);
    res->allow = true;
    util_strlcpy(res->token_id, cl.id, sizeof res->token_id);
    set_reason(res, "permitted by policy %s", res->policies);
    *expires = cl.expires;
    return 0;
}

/* A model capability: model.load on Model::"NAME@VERSION", decided for the
 * agent, bound to resource model:/NAME@VERSION (exact, no prefix). */
static int mint_model(struct authz *az, const struct authz_subject *who,
                      const struct authz_mint *m, struct strbuf *token, uint64_t *expires,
                      struct authz_result *res)
{
    if (!m->agent || m->actions != TOKEN_ACT_MODEL_LOAD || !*m->model ||
        strlen(m->model) > 511 || m->has_range) {
        res->err = CUSTODY_EINVAL;
        util_strlcpy(res->reason,
                     "a model capability is for one agent, action model.load and one model",
                     sizeof res->reason);
        return CUSTODY_EINVAL;
    }
    struct authz_subject as = *who;
    as.agent = m->agent;
    struct authz_request rq = {
        .who = &as, .action = "model.load", .entity_type = "Model", .entity_id = m->model};
    int rc = authz_decide(az, &rq, res);
    if (rc || !res->allow) return rc;
    char ids[AUTHZ_IDS_TEXT_MAX];
    util_strlcpy(ids, res->policies, sizeof ids);
    size_t nerrors = res->nerrors;
    memset(res, 0, sizeof *res);
    util_strlcpy(res->policies, ids, sizeof res->policies);
    res->nerrors = nerrors;
    split_policies(res);
    char resource[600];
    snprintf(resource, sizeof resource, "model:/%s", m->model);
    return mint_claims(az, who, m, resource, false, ttl_cap(az, false), token, expires, res);
}


int authz_mint(struct authz *az, const struct authz_subject *who, const struct authz_mint *m,
               struct strbuf *token, uint64_t *expires, struct authz_result *res)
{
    memset(res, 0, sizeof *res);
    const struct authz_agent *ag = m->agent;
    if (m->model) return mint_model(az, who, m, token, expires, res);
    if (!ag || !m->actions || (m->actions & ~(uint32_t)TOKEN_ACT_ALL) || !m->root || !m->path ||
        m->path[0] != '/') {
        res->err = CUSTODY_EINVAL;
        util_strlcpy(res->reason, "a token needs an agent, actions and a resource",
                     sizeof res->reason);
        return CUSTODY_EINVAL;
    }
    size_t pl = strlen(m->path);
    bool prefix = m->path[pl - 1] == '/';
    char dpath[4096];
    if (pl >= sizeof dpath) {
        res->err = CUSTODY_ENAMETOOLONG;
        util_strlcpy(res->reason, "resource path too long", sizeof res->reason);
        return CUSTODY_ENAMETOOLONG;
    }
    memcpy(dpath, m->path, pl + 1);
    if (prefix && pl > 1) dpath[pl - 1] = '\0'; /* decide on the folder itself */
    struct authz_subject as = *who;
    as.agent = ag; /* the operator mints for an agent: the agent's rights count */
    char ids[AUTHZ_IDS_TEXT_MAX] = ""; /* the determining permits of every action */
    size_t nids = 0, nerrors = 0;
    for (uint32_t bit = 1; bit <= TOKEN_ACT_ALL; bit <<= 1) {
        if (!(m->actions & bit)) continue;
        struct authz_request rq = {
            .who = &as,
            .action = token_action_name(bit),
            .root = m->root,
            .path = dpath,
            .dir = prefix && pl > 1,
            .has_range = m->has_range,
            .range_first = m->range_first,
            .range_last = m->range_last,
        };
        int rc = authz_decide(az, &rq, res);
        if (rc || !res->allow) return rc; /* res says why */
        for (size_t i = 0; i < res->npolicy; i++)
            ids_add(ids, sizeof ids, &nids, res->policy_ids[i]);
        nerrors += res->nerrors;
    }
    memset(res, 0, sizeof *res);
    util_strlcpy(res->policies, ids, sizeof res->policies);
    res->nerrors = nerrors;
    split_policies(res); /* the token names them */
    struct authz_res r;
    if (authz_res_map(az->cfg, az->es, m->root, dpath, prefix, &r) != 0) {
        res->err = CUSTODY_EINVAL;
        util_strlcpy(res->reason, "malformed resource", sizeof res->reason);
        return CUSTODY_EINVAL;
    }
    uint64_t cap = ttl_cap(az, r.sensitive);
    authz_res_free(&r);
    char resource[CONFIG_NAME_MAX + 4 + 4096];
    snprintf(resource, sizeof resource, "%s:%s", m->root, m->path);
    return mint_claims(az, who, m, resource, prefix, cap, token, expires, res);
}
