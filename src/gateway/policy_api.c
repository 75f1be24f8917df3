/*
 * policy_api.c — the policy set over the API (docs/API.md, "Policy"):
 *
 *   GET  /v1/policy            the set in force: hash, files, policies
 *   POST /v1/policy/reload     re-read STATE/policy (operator); atomic
 *   POST /v1/policy/explain    {"agent"?, "action", "resource",
 *                               "destination"?, "dir"?, "context"?,
 *                               "format"?: "text" | "json"}
 *
 * A reload is a signed `policy.change` event carrying the new set's hash
 * (and the old one); so is the set loaded at start. Reloading is not
 * itself subject to policy, so a set that locks everyone out can always be
 * replaced by the operator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* What a policy.change event says, for both ways one is recorded; logged. */
struct change_text {
    char reason[400];
    char resource[80]; /* policy:sha256:HASH */
};

static void describe_change(const struct authz_policy_info *pi, const char *why,
                            struct change_text *t)
{
    snprintf(t->reason, sizeof t->reason,
             "policy set sha256:%s (%zu policies in %zu files; was %s%s): %s", pi->hash,
             pi->npolicies, pi->nfiles, pi->old_hash[0] ? "sha256:" : "none",
             pi->old_hash[0] ? pi->old_hash : "", why);
    snprintf(t->resource, sizeof t->resource, "policy:sha256:%s", pi->hash);
    log_info("policy: %s", t->reason);
}

static void on_change_durable(void *arg, int rc, uint64_t index)
{
    (void)arg;
    if (rc)
        log_error("policy: the policy.change event could not be recorded: %s",
                  custody_strerror(rc));
    else
        log_info("policy: policy.change recorded at audit index %llu", (unsigned long long)index);
}

static void record_change(struct gateway *gw, const struct authz_policy_info *pi, const char *why)
{
    struct change_text t;
    describe_change(pi, why, &t);
    if (!gw->ledger)
        return;
    struct ledger_event ev = {.action = "policy.change",
                              .decision = "allow",
                              .principal_id = "operator",
                              .endpoint_id = gw->endpoint_id,
                              .resource_id = t.resource,
                              .reason = t.reason,
                              .sign = true};
    int rc = ledger_submit(gw->ledger, &ev, on_change_durable, NULL);
    if (rc)
        log_error("policy: cannot record policy.change: %s", custody_strerror(rc));
}

void gateway_policy_loaded(struct gateway *gw, const char *why)
{
    struct authz_policy_info pi;
    authz_policy_info(gw->az, &pi);
    record_change(gw, &pi, why);
}

int gateway_policy_reload(struct gateway *gw, const char *why, struct strbuf *err)
{
    struct authz_policy_info pi;
    int rc = authz_policy_reload(gw->az, &pi, err);
    if (rc) {
        log_error("policy: reload refused, the running set stays: %s",
                  err->buf ? err->buf : custody_strerror(rc));
        return rc;
    }
    record_change(gw, &pi, why);
    return 0;
}

static void show(struct gateway *gw, struct http_req *req)
{
    struct authz_policy_info pi;
    authz_policy_info(gw->az, &pi);
    const struct policy_set *set = authz_policy(gw->az);
    json_t *arr = json_array();
    for (size_t i = 0; i < policy_set_count(set); i++) {
        const struct policy_info *p = policy_set_info(set, i);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i}", "id", p->id, "effect",
                                             p->effect == POLICY_PERMIT ? "permit" : "forbid",
                                             "file", p->file, "line", (int)p->line));
    }
    gw_json(req, 200,
            json_pack("{s:s, s:I, s:I, s:o}", "hash", pi.hash, "files", (json_int_t)pi.nfiles,
                      "count", (json_int_t)pi.npolicies, "policies", arr));
}

static void reload(struct gateway *gw, struct http_req *req)
{
    struct strbuf err = STRBUF_INIT;
    struct authz_policy_info pi;
    int rc = authz_policy_reload(gw->az, &pi, &err);
    if (rc) {
        gw_error(req, rc, "the running policy set stays: %s", err.buf ? err.buf : "");
        sb_free(&err);
        return;
    }
    struct change_text t;
    describe_change(&pi, "POST /v1/policy/reload", &t);
    gw_audit_action(req, "policy.change", NULL, NULL);
    gw_audit_resource_text(req, t.resource);
    gw_audit_note(req, t.reason);
    gw_json(req, 200,
            json_pack("{s:s, s:s, s:b, s:I, s:I}", "hash", pi.hash, "previous", pi.old_hash,
                      "changed", pi.changed, "count", (json_int_t)pi.npolicies, "files",
                      (json_int_t)pi.nfiles));
    sb_free(&err);
}

static void explain_body(struct http_req *req, json_t *body, void *arg)
{
    struct gw_caller *ec = arg;
    struct gateway *gw = ec->gw;
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
    char *ctx = NULL;
    if (!body) {
        free(ec);
        return;
    }
    const char *agent = NULL, *action = NULL, *resource = NULL, *dest = NULL, *format = "text";
    json_t *context = NULL;
    int dir = 0;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s:s, s:s, s?s, s?b, s?o, s?s}", "agent",
                       &agent, "action", &action, "resource", &resource, "destination", &dest,
                       "dir", &dir, "context", &context, "format", &format) != 0) {
        gw_error(req, CUSTODY_EINVAL,
                 "want {\"agent\"?, \"action\", \"resource\", \"destination\"?, \"dir\"?, "
                 "\"context\"?, \"format\"?}: %s",
                 jerr.text);
        goto out;
    }
    struct authz_subject who = gw_subject(req);
    if (ec->id.kind == GW_ID_AGENT) {
        if (agent && strcmp(agent, ec->id.agent) != 0) {
            gw_error(req, CUSTODY_EDENIED, "an agent can explain its own requests only");
            goto out;
        }
        agent = ec->id.agent;
    }
    if (agent && !(who.agent = authz_agent_find(gw->ids, agent))) {
        gw_error(req, CUSTODY_ENOENT, "no agent named \"%s\"", agent);
        goto out;
    }
    char root[CONFIG_NAME_MAX + 1], path[STORE_PATH_MAX], root2[CONFIG_NAME_MAX + 1],
        path2[STORE_PATH_MAX];
    struct authz_request rq = {.who = &who, .action = action, .dir = dir};
    int rc = store_resource_parse(resource, root, sizeof root, path, sizeof path);
    if (!rc && dest) rc = store_resource_parse(dest, root2, sizeof root2, path2, sizeof path2);
    if (rc) {
        gw_error(req, rc, "resources are ROOT:/PATH");
        goto out;
    }
    rq.root = root;
    rq.path = path;
    if (dest) {
        rq.root2 = root2;
        rq.path2 = path2;
    }
    if (context && !json_is_object(context)) {
        gw_error(req, CUSTODY_EINVAL, "\"context\" must be an object");
        goto out;
    }
    if (context) ctx = json_dumps(context, JSON_COMPACT);
    bool json = strcmp(format, "json") == 0;
    rc = authz_explain(gw->az, NULL, &rq, ctx, json, &out, &err);
    if (rc) {
        gw_error(req, rc, "%s", err.buf ? err.buf : custody_strerror(rc));
        goto out;
    }
    http_resp_header(req, "content-type", json ? "application/json" : "text/plain; charset=utf-8");
    gw_send(req, 200, out.buf, out.len);
out:
    free(ctx);
    json_decref(body);
    sb_free(&out);
    sb_free(&err);
    free(ec);
}

void gw_policy(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len)
{
    if (len == 0) {
        gw_audit_action(req, "policy.show", NULL, NULL);
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            http_resp_header(req, "allow", "GET");
            gw_error(req, CUSTODY_EMETHOD, "use GET");
            return;
        }
        if (id->kind != GW_ID_OPERATOR) {
            gw_error(req, CUSTODY_EDENIED, "the policy set is shown to the operator only");
            return;
        }
        show(gw, req);
        return;
    }
    bool rl = len == 6 && memcmp(rest, "reload", 6) == 0;
    bool ex = len == 7 && memcmp(rest, "explain", 7) == 0;
    gw_audit_action(req, rl ? "policy.change" : ex ? "policy.explain" : "request", NULL, NULL);
    if (!rl && !ex) {
        gw_error(req, CUSTODY_ENOENT, "no such endpoint under /v1/policy/ (reload, explain)");
        return;
    }
    if (req->method != HTTP_POST) {
        http_resp_header(req, "allow", "POST");
        gw_error(req, CUSTODY_EMETHOD, "use POST");
        return;
    }
    if (rl) {
        gw_audit_sign(req);
        if (id->kind != GW_ID_OPERATOR) {
            gw_error(req, CUSTODY_EDENIED, "reloading policies is for the operator");
            return;
        }
        reload(gw, req);
        return;
    }
    struct gw_caller *ec = gw_caller_new(gw, id);
    gw_read_json_body(req, explain_body, ec);
}
