/*
 * tokens_api.c — capability tokens over the API (docs/API.md, "Tokens"):
 *
 *   POST /v1/tokens          mint after a policy decision
 *        {"agent"?: NAME, "actions": ["read", ...] | "action": "read",
 *         "resource": "demo:/a.txt" | "demo:/dir/" (a prefix),
 *         "ttl"?: SECONDS, "range"?: "FIRST-LAST"}
 *        An agent mints for itself ("agent" omitted or its own name); the
 *        operator mints for a named agent, with that agent's rights.
 *   POST /v1/tokens/revoke   {"id": TOKEN_ID}                (operator)
 *
 * Both are audit events (token.mint with the token id and the deciding
 * policies; token.revoke signed).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int parse_actions(json_t *body, uint32_t *out, struct strbuf *why)
{
    json_t *one = json_object_get(body, "action"), *many = json_object_get(body, "actions");
    *out = 0;
    if ((one && many) || (!one && !many))
        return sb_fail(why, CUSTODY_EINVAL, "give \"action\" or \"actions\"");
    size_t n = many ? json_array_size(many) : 1;
    if (many && (!json_is_array(many) || n == 0))
        return sb_fail(why, CUSTODY_EINVAL, "\"actions\" must be a non-empty array");
    for (size_t i = 0; i < n; i++) {
        json_t *v = many ? json_array_get(many, i) : one;
        const char *s = json_string_value(v);
        uint32_t bit = s ? token_action_from_name(s, strlen(s)) : 0;
        if (!bit)
            return sb_fail(why, CUSTODY_EINVAL, "unknown action \"%s\"", s ? s : "?");
        *out |= bit;
    }
    return 0;
}

static int parse_range(const char *s, uint64_t *first, uint64_t *last)
{
    const char *dash = s ? strchr(s, '-') : NULL;
    if (!dash || util_parse_u64(s, (size_t)(dash - s), first) != 0 ||
        util_parse_u64(dash + 1, strlen(dash + 1), last) != 0 || *last < *first)
        return CUSTODY_EINVAL;
    return 0;
}

static void mint_body(struct http_req *req, json_t *body, void *arg)
{
    struct gw_caller *mc = arg;
    struct gateway *gw = mc->gw;
    struct strbuf why = STRBUF_INIT, tok = STRBUF_INIT, tjson = STRBUF_INIT;
    if (!body) {
        free(mc);
        return;
    }
    const char *agent = NULL, *resource = NULL, *range = NULL;
    json_int_t ttl = 0;
    json_t *ig1, *ig2;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?o, s?o, s:s, s?I, s?s}", "agent",
                       &agent, "action", &ig1, "actions", &ig2, "resource", &resource, "ttl",
                       &ttl, "range", &range) != 0) {
        gw_error(req, CUSTODY_EINVAL,
                 "want {\"agent\"?, \"action\" | \"actions\", \"resource\", \"ttl\"?, "
                 "\"range\"?}: %s",
                 jerr.text);
        goto out;
    }
    struct authz_mint m = {.ttl = ttl > 0 ? (uint64_t)ttl : 0, .location = "custody"};
    char root[CONFIG_NAME_MAX + 1], path[STORE_PATH_MAX + 1];
    int rc = parse_actions(body, &m.actions, &why);
    /* a model capability: "model:/NAME@VERSION" (the root name "model" is reserved for it) */
    bool model = strncmp(resource, "model:/", 7) == 0;
    if (model) {
        m.model = resource + 7;
        gw_audit_action(req, "token.mint", NULL, NULL);
        gw_audit_resource_text(req, resource);
    } else if (!rc) {
        size_t rl = strlen(resource);
        bool prefix = rl > 0 && resource[rl - 1] == '/';
        rc = store_resource_parse(resource, root, sizeof root, path, sizeof path - 1);
        if (!rc && prefix && strcmp(path, "/") != 0)
            util_strlcpy(path + strlen(path), "/", 2);
        if (rc) sb_fail(&why, rc, "resource %s: %s", resource, custody_strerror(rc));
    }
    if (!rc && !model) gw_audit_action(req, "token.mint", root, path);
    if (!rc && ttl < 0) rc = sb_fail(&why, CUSTODY_EINVAL, "\"ttl\" must be positive");
    if (!rc && range) {
        m.has_range = true;
        if ((rc = parse_range(range, &m.range_first, &m.range_last)))
            sb_fail(&why, rc, "\"range\" must be FIRST-LAST (bytes, inclusive)");
    }
    if (rc) {
        gw_error(req, rc, "%s", why.buf);
        goto out;
    }
    if (!model && !store_has_root(gw->store, root)) {
        gw_error(req, CUSTODY_ENOROOT, "no such root: %s", root);
        goto out;
    }
    if (mc->id.kind == GW_ID_AGENT) {
        if (agent && strcmp(agent, mc->id.agent) != 0) {
            gw_error(req, CUSTODY_EDENIED, "an agent mints tokens for itself only");
            goto out;
        }
        agent = mc->id.agent;
    } else if (!agent) {
        gw_error(req, CUSTODY_EINVAL, "the operator mints for an agent: give \"agent\"");
        goto out;
    }
    m.agent = authz_agent_find(gw->ids, agent);
    if (!m.agent) {
        gw_error(req, CUSTODY_ENOENT, "no agent named \"%s\"", agent);
        goto out;
    }
    if (!model) {
        m.root = root;
        m.path = path;
    }
    struct authz_subject who = gw_subject(req);
    struct authz_result res;
    uint64_t expires = 0;
    rc = authz_mint(gw->az, &who, &m, &tok, &expires, &res);
    gw_audit_decision(req, &res);
    if (rc || !res.allow) {
        gw_error(req, res.err ? res.err : rc, "%s", res.reason);
        goto out;
    }
    token_to_json(tok.buf, &tjson, NULL);
    json_t *acts = json_array(), *pols = json_array();
    for (uint32_t bit = 1; bit <= TOKEN_ACT_ALL; bit <<= 1)
        if (m.actions & bit)
            json_array_append_new(acts, json_string(token_action_name(bit)));
    for (size_t i = 0; i < res.npolicy; i++)
        json_array_append_new(pols, json_string(res.policy_ids[i]));
    char rid[CONFIG_NAME_MAX + STORE_PATH_MAX + 4];
    if (model)
        util_strlcpy(rid, resource, sizeof rid);
    else
        gw_resource_id(rid, sizeof rid, root, path);
    log_info("authz: token %s minted for \"%s\": %s", res.token_id, agent, rid);
    gw_json(req, 201,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:o}", "token", tok.buf,
                      "token_json", tjson.buf ? tjson.buf : "", "id", res.token_id, "agent",
                      agent, "resource", json_string(rid), "actions", acts, "expires",
                      gw_time_json(expires * 1000000000ull), "expires_unix",
                      (json_int_t)expires, "policies", pols));
out:
    json_decref(body);
    sb_free(&why);
    sb_free(&tok);
    sb_free(&tjson);
    free(mc);
}

static void revoke_body(struct http_req *req, json_t *body, void *arg)
{
    struct gateway *gw = arg;
    if (!body)
        return;
    const char *tid = NULL;
    json_error_t jerr;
    int rc = json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "id", &tid);
    if (rc) {
        json_decref(body);
        gw_error(req, CUSTODY_EINVAL, "want {\"id\": TOKEN_ID}: %s", jerr.text);
        return;
    }
    if (gw_admin_authorize(gw, req, "token.revoke", "Token", tid) != 0) {
        json_decref(body);
        return;
    }
    uint64_t expires = util_now_ns() / 1000000000ull + TOKEN_TTL_MAX_S;
    rc = authz_token_revoke(gw->ids, tid, expires);
    if (rc) {
        json_decref(body);
        gw_error(req, rc, "cannot revoke the token");
        return;
    }
    log_warn("authz: token %s revoked", tid);
    gw_json(req, 200, json_pack("{s:s, s:b}", "id", tid, "revoked", 1));
    json_decref(body);
}

void gw_tokens(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len)
{
    if (len == 0) {
        gw_audit_action(req, "token.mint", NULL, NULL);
        if (req->method != HTTP_POST) {
            http_resp_header(req, "allow", "POST");
            gw_error(req, CUSTODY_EMETHOD, "use POST to mint a token");
            return;
        }
        struct gw_caller *mc = gw_caller_new(gw, id);
        gw_read_json_body(req, mint_body, mc);
        return;
    }
    if (len == 6 && memcmp(rest, "revoke", 6) == 0) {
        gw_audit_action(req, "token.revoke", NULL, NULL);
        gw_audit_sign(req);
        if (id->kind != GW_ID_OPERATOR) {
            gw_error(req, CUSTODY_EDENIED, "revoking tokens is for the operator");
            return;
        }
        if (req->method != HTTP_POST) {
            http_resp_header(req, "allow", "POST");
            gw_error(req, CUSTODY_EMETHOD, "use POST");
            return;
        }
        gw_read_json_body(req, revoke_body, gw);
        return;
    }
    gw_audit_action(req, "request", NULL, NULL);
    gw_error(req, CUSTODY_ENOENT, "no such endpoint under /v1/tokens/");
}
