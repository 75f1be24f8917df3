/*
 * admin.c — libcustody calls for agents, tokens and policies: small JSON
 * requests whose answers are handed back as JSON text.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

int custody__json_call(custody_client_t *c, const char *method, const char *path, json_t *body,
                       char **out)
{
    if (!c) {
        json_decref(body);
        return CUSTODY_EINVAL;
    }
    custody__clear_error(c);
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (!text)
            return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                      "invalid arguments (not UTF-8?)");
    }
    struct strbuf resp = STRBUF_INIT;
    int rc = custody__request_buffered(c, method, path, text, text ? strlen(text) : 0,
                                       text ? "application/json" : NULL, &resp);
    free(text);
    if (!rc && out) *out = sb_detach(&resp);
    sb_free(&resp);
    return rc;
}

static int name_path(custody_client_t *c, struct strbuf *sb, const char *name, const char *verb)
{
    if (!name || !*name || strlen(name) > CUSTODY_AGENT_NAME_MAX)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT, "invalid agent name");
    sb_puts(sb, "/v1/agents/");
    custody__url_encode(sb, name, strlen(name));
    if (verb) sb_printf(sb, "/%s", verb);
    return 0;
}

int custody_token_mint(custody_client_t *c, const char *agent, const char *actions,
                       const char *resource, uint64_t ttl, const char *range, char **json_out)
{
    if (!c || !actions || !resource) return CUSTODY_EINVAL;
    json_t *acts = json_array();
    for (const char *p = actions; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n) json_array_append_new(acts, json_stringn(p, n));
        p += n + (comma ? 1 : 0);
    }
    json_t *body = json_pack("{s:o, s:s}", "actions", acts, "resource", resource);
    if (agent) json_object_set_new(body, "agent", json_string(agent));
    if (ttl) json_object_set_new(body, "ttl", json_integer((json_int_t)ttl));
    if (range) json_object_set_new(body, "range", json_string(range));
    return custody__json_call(c, "POST", "/v1/tokens", body, json_out);
}

int custody_token_revoke(custody_client_t *c, const char *token_id)
{
    if (!token_id) return CUSTODY_EINVAL;
    return custody__json_call(c, "POST", "/v1/tokens/revoke", json_pack("{s:s}", "id", token_id),
                              NULL);
}

int custody_report_refusal(custody_client_t *c, const char *surface, const char *action,
                           const char *path, const char *reason)
{
    if (!surface || !action || !path || !reason) return CUSTODY_EINVAL;
    return custody__json_call(c, "POST", "/v1/refusals",
                              json_pack("{s:s, s:s, s:s, s:s}", "action", action, "path", path,
                                        "surface", surface, "reason", reason),
                              NULL);
}

int custody_agent_add(custody_client_t *c, const char *name, const char *principal,
                      const char *const *groups, size_t ngroups, const char *public_key_hex,
                      char **json_out)
{
    if (!name || !public_key_hex) return CUSTODY_EINVAL;
    json_t *g = json_array();
    for (size_t i = 0; i < ngroups; i++)
        json_array_append_new(g, json_string(groups[i]));
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "name", name, "public_key", public_key_hex, "groups", g);
    if (principal && *principal) json_object_set_new(body, "principal", json_string(principal));
    return custody__json_call(c, "POST", "/v1/agents", body, json_out);
}

int custody_agent_list(custody_client_t *c, char **json_out)
{
    return custody__json_call(c, "GET", "/v1/agents", NULL, json_out);
}

static int agent_call(custody_client_t *c, const char *method, const char *name, const char *verb,
                      json_t *body, char **out)
{
    struct strbuf p = STRBUF_INIT;
    int rc = c ? name_path(c, &p, name, verb) : CUSTODY_EINVAL;
    if (!rc)
        rc = custody__json_call(c, method, p.buf, body, out);
    else
        json_decref(body);
    sb_free(&p);
    return rc;
}

int custody_agent_show(custody_client_t *c, const char *name, char **json_out)
{
    return agent_call(c, "GET", name, NULL, NULL, json_out);
}

int custody_agent_revoke(custody_client_t *c, const char *name, char **json_out)
{
    return agent_call(c, "POST", name, "revoke", NULL, json_out);
}

int custody_agent_quarantine(custody_client_t *c, const char *name, int on, char **json_out)
{
    return agent_call(c, "POST", name, "quarantine", json_pack("{s:b}", "quarantined", on),
                      json_out);
}

int custody_agent_remove(custody_client_t *c, const char *name)
{
    return agent_call(c, "DELETE", name, NULL, NULL, NULL);
}

int custody_policy_show(custody_client_t *c, char **json_out)
{
    return custody__json_call(c, "GET", "/v1/policy", NULL, json_out);
}

int custody_policy_reload(custody_client_t *c, char **json_out)
{
    return custody__json_call(c, "POST", "/v1/policy/reload", NULL, json_out);
}

int custody_policy_explain(custody_client_t *c, const char *request_json, char **out)
{
    if (!request_json) return CUSTODY_EINVAL;
    json_t *body = json_loads(request_json, 0, NULL);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        if (c) custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT, "not a JSON object");
        return CUSTODY_EINVAL;
    }
    return custody__json_call(c, "POST", "/v1/policy/explain", body, out);
}
