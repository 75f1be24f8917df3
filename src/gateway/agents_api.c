/*
 * agents_api.c — identities over the API (docs/API.md, "Agents"):
 *
 *   GET    /v1/whoami                       who this connection is
 *   GET    /v1/agents                       list            (operator)
 *   POST   /v1/agents                       enroll          (operator)
 *   GET    /v1/agents/NAME                  one             (operator)
 *   DELETE /v1/agents/NAME                  remove          (operator)
 *   POST   /v1/agents/NAME/revoke           epoch + 1       (operator)
 *   POST   /v1/agents/NAME/quarantine       {"quarantined": bool} (operator)
 *
 * Every change is written to the identity store before the answer and is
 * in force for the next request; every call is an audit event, and
 * revocations and quarantines carry a per-event signature.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static json_t *agent_json(const struct authz_agent *a)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < a->ngroups; i++)
        json_array_append_new(groups, json_string(a->groups[i]));
    char pub[65];
    util_hex_encode(a->pubkey, 32, pub);
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:b, s:I}", "name", a->name, "principal",
                     a->principal, "groups", groups, "public_key", pub, "key_fingerprint",
                     a->key_fp, "epoch", (json_int_t)a->epoch, "quarantined", a->quarantined,
                     "created", (json_int_t)a->created);
}

void gw_whoami(struct gateway *gw, struct http_req *req, const struct gw_identity *id)
{
    (void)gw;
    gw_audit_action(req, "whoami", NULL, NULL);
    json_t *doc = json_pack("{s:s}", "kind", id->kind == GW_ID_AGENT ? "agent" : "operator");
    if (id->kind == GW_ID_AGENT) {
        json_object_set_new(doc, "agent", json_string(id->agent));
        json_object_set_new(doc, "principal", json_string(id->principal));
        json_object_set_new(doc, "session", json_string(id->session_id));
    }
    if (req->peer && req->peer->has_cred)
        json_object_set_new(doc, "uid", json_integer(req->peer->uid));
    gw_json(req, 200, doc);
}

static void add_body(struct http_req *req, json_t *body, void *arg)
{
    struct gateway *gw = arg;
    if (!body) return;
    const char *name = NULL, *principal = "", *pub_hex = NULL;
    json_t *groups = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?s, s?o, s:s}", "name", &name, "principal",
                       &principal, "groups", &groups, "public_key", &pub_hex) != 0) {
        json_decref(body);
        gw_error(req, CUSTODY_EINVAL,
                 "want {\"name\", \"public_key\" (64 hex), \"principal\"?, \"groups\"?}: %s",
                 jerr.text);
        return;
    }
    gw_audit_action(req, "agent.add", NULL, NULL);
    if (gw_admin_authorize(gw, req, "agent.add", "Agent", name) != 0) {
        json_decref(body);
        return;
    }
    uint8_t pub[32];
    const char *gl[AUTHZ_GROUPS_MAX];
    size_t ng = 0;
    int rc = 0;
    if (strlen(pub_hex) != 64 || util_hex_decode(pub_hex, 64, pub) != 0) rc = CUSTODY_EINVAL;
    if (!rc && groups) {
        if (!json_is_array(groups) || json_array_size(groups) > AUTHZ_GROUPS_MAX)
            rc = CUSTODY_EINVAL;
        for (size_t i = 0; !rc && i < json_array_size(groups); i++) {
            gl[ng] = json_string_value(json_array_get(groups, i));
            if (!gl[ng++]) rc = CUSTODY_EINVAL;
        }
    }
    struct authz_agent a;
    if (!rc) rc = authz_agent_add(gw->ids, name, principal, gl, ng, pub, &a);
    json_decref(body);
    if (rc == CUSTODY_EEXIST) {
        gw_error(req, rc, "an agent with this name exists");
    } else if (rc == CUSTODY_EINVAL) {
        gw_error(req, rc,
                 "invalid agent: names and groups are 1-64 of [A-Za-z0-9._-]; public_key is "
                 "the raw Ed25519 key in hex; at most %d groups",
                 AUTHZ_GROUPS_MAX);
    } else if (rc) {
        gw_error(req, rc, "cannot record the agent");
    } else {
        log_info("authz: agent \"%s\" enrolled (principal \"%s\", key %s)", a.name, a.principal,
                 a.key_fp);
        gw_json(req, 201, agent_json(&a));
    }
}

static void quarantine(struct gateway *gw, struct http_req *req, const char *name, bool on)
{
    int rc = authz_agent_quarantine(gw->ids, name, on);
    if (rc) {
        gw_error(req, rc, rc == CUSTODY_ENOENT ? "no agent named \"%s\"" : "cannot quarantine %s",
                 name);
        return;
    }
    log_warn("authz: agent \"%s\" %s", name,
             on ? "QUARANTINED: every request is refused" : "released from quarantine");
    gw_json(req, 200, agent_json(authz_agent_find(gw->ids, name)));
}

struct qctx {
    struct gateway *gw;
    char name[AUTHZ_NAME_MAX + 1];
};

/* {"quarantined": false} releases; {} or true quarantines. */
static void quarantine_body(struct http_req *req, json_t *body, void *arg)
{
    struct qctx *q = arg;
    if (body) {
        json_t *v = json_object_get(body, "quarantined");
        if (v && !json_is_boolean(v))
            gw_error(req, CUSTODY_EINVAL, "\"quarantined\" must be true or false");
        else
            quarantine(q->gw, req, q->name, !v || json_is_true(v));
        json_decref(body);
    }
    free(q);
}

static void revoke_agent(struct gateway *gw, struct http_req *req, const char *name)
{
    gw_audit_action(req, "agent.revoke", NULL, NULL);
    gw_audit_sign(req);
    if (gw_admin_authorize(gw, req, "agent.revoke", "Agent", name) != 0) return;
    uint64_t epoch;
    int rc = authz_agent_revoke(gw->ids, name, &epoch);
    if (rc) {
        gw_error(req, rc, rc == CUSTODY_ENOENT ? "no agent named \"%s\"" : "cannot revoke %s",
                 name);
        return;
    }
    log_warn("authz: agent \"%s\" revoked: every token minted before is dead (epoch %llu)", name,
             (unsigned long long)epoch);
    gw_json(req, 200, agent_json(authz_agent_find(gw->ids, name)));
}

static void quarantine_agent(struct gateway *gw, struct http_req *req, const char *name)
{
    gw_audit_action(req, "agent.quarantine", NULL, NULL);
    gw_audit_sign(req);
    if (gw_admin_authorize(gw, req, "agent.quarantine", "Agent", name) != 0) return;
    if (!req->has_body) {
        quarantine(gw, req, name, true);
        return;
    }
    struct qctx *q = util_calloc(1, sizeof *q);
    q->gw = gw;
    util_strlcpy(q->name, name, sizeof q->name);
    gw_read_json_body(req, quarantine_body, q);
}

void gw_agents(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len)
{
    if (id->kind != GW_ID_OPERATOR) {
        gw_audit_action(req, "agent.admin", NULL, NULL);
        gw_error(req, CUSTODY_EDENIED,
                 "managing agents is for the operator (custodyd's own user on its Unix socket)");
        return;
    }
    if (len == 0) {
        if (req->method == HTTP_POST) {
            gw_read_json_body(req, add_body, gw);
            return;
        }
        gw_audit_action(req, "agent.list", NULL, NULL);
        if (req->method != HTTP_GET) {
            http_resp_header(req, "allow", "GET, POST");
            gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/agents");
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < authz_agent_count(gw->ids); i++)
            json_array_append_new(arr, agent_json(authz_agent_at(gw->ids, i)));
        gw_json(req, 200, json_pack("{s:o}", "agents", arr));
        return;
    }
    char name[AUTHZ_NAME_MAX + 1];
    const char *slash = memchr(rest, '/', len);
    size_t nl = slash ? (size_t)(slash - rest) : len;
    if (nl == 0 || nl > AUTHZ_NAME_MAX) {
        gw_audit_action(req, "agent.admin", NULL, NULL);
        gw_error(req, CUSTODY_ENOENT, "no such agent");
        return;
    }
    memcpy(name, rest, nl);
    name[nl] = '\0';
    if (slash) {
        const char *verb = slash + 1;
        size_t vl = len - nl - 1;
        bool rv = vl == 6 && memcmp(verb, "revoke", 6) == 0;
        bool qu = vl == 10 && memcmp(verb, "quarantine", 10) == 0;
        if (!rv && !qu) {
            gw_audit_action(req, "agent.admin", NULL, NULL);
            gw_error(req, CUSTODY_ENOENT, "no such endpoint (revoke, quarantine)");
            return;
        }
        if (req->method != HTTP_POST) {
            gw_audit_action(req, rv ? "agent.revoke" : "agent.quarantine", NULL, NULL);
            http_resp_header(req, "allow", "POST");
            gw_error(req, CUSTODY_EMETHOD, "use POST");
            return;
        }
        if (rv)
            revoke_agent(gw, req, name);
        else
            quarantine_agent(gw, req, name);
        return;
    }
    if (req->method == HTTP_DELETE) {
        gw_audit_action(req, "agent.remove", NULL, NULL);
        gw_audit_sign(req);
        if (gw_admin_authorize(gw, req, "agent.remove", "Agent", name) != 0) return;
        int rc = authz_agent_remove(gw->ids, name);
        if (rc) {
            gw_error(req, rc, rc == CUSTODY_ENOENT ? "no agent named \"%s\"" : "cannot remove %s",
                     name);
            return;
        }
        log_warn("authz: agent \"%s\" removed", name);
        gw_send(req, 204, NULL, 0);
        return;
    }
    gw_audit_action(req, "agent.show", NULL, NULL);
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, DELETE");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed");
        return;
    }
    const struct authz_agent *a = authz_agent_find(gw->ids, name);
    if (!a) {
        gw_error(req, CUSTODY_ENOENT, "no agent named \"%s\"", name);
        return;
    }
    gw_json(req, 200, agent_json(a));
}
