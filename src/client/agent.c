/*
 * agent.c — libcustody acting as an agent (docs/authz.md).
 *
 * Proof of possession: each connection starts with a `custody-session`
 * header (Ed25519 over agent, time, a fresh nonce and the channel binding
 * "unix"), resent unchanged on later requests of the same connection.
 *
 * Capabilities: data-plane calls carry a token. With an explicit one
 * (custody_client_set_token) that token is sent, and a refusal is final.
 * Otherwise the SDK asks custodyd to mint one for exactly the call's
 * action and resource (a move: the closest directory holding both ends)
 * and keeps it until shortly before it expires. It never asks for more
 * than the call needs, and never retries a refusal with another scope or
 * identity.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define AGENT_CACHE 8
#define AGENT_MARGIN_S 5 /* a cached token is not used in its last seconds */

struct cached_token {
    char *scope; /* "ACTION RESOURCE" */
    char *token;
    uint64_t expires;
};

struct custody__agent {
    char name[CUSTODY_AGENT_NAME_MAX + 1];
    char *pem;
    size_t pem_len;
    char proof[UTIL_SESSION_PROOF_MAX];
    char *token; /* explicit, or NULL */
    struct cached_token cache[AGENT_CACHE];
    size_t next;
};

void custody__agent_free(struct custody__agent *a)
{
    if (!a) return;
    if (a->pem) OPENSSL_cleanse(a->pem, a->pem_len);
    free(a->pem);
    free(a->token);
    for (size_t i = 0; i < AGENT_CACHE; i++) {
        free(a->cache[i].scope);
        free(a->cache[i].token);
    }
    free(a);
}

int custody_client_set_agent(custody_client_t *c, const char *agent, const char *key_path)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    if (!agent || !*agent || strlen(agent) > CUSTODY_AGENT_NAME_MAX || !key_path)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "an agent name and its key file are needed");
    struct custody__agent *a = util_calloc(1, sizeof *a);
    util_strlcpy(a->name, agent, sizeof a->name);
    int rc = util_read_file(key_path, 64 * 1024, &a->pem, &a->pem_len);
    uint8_t pub[32];
    if (!rc) rc = util_ed25519_load_pem(a->pem, a->pem_len, pub);
    if (rc) {
        custody__agent_free(a);
        return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT,
                                  "cannot load the key of agent %s from %s: %s", agent, key_path,
                                  custody_strerror(rc));
    }
    custody__agent_free(custody__client_agent(c, a));
    return 0;
}

int custody_client_set_token(custody_client_t *c, const char *token)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct custody__agent *a = custody__client_current_agent(c);
    if (!a)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "a token is used by an agent: set the agent first");
    free(a->token);
    a->token = token && *token ? util_strdup(token) : NULL;
    return 0;
}

int custody__agent_proof(custody_client_t *c, struct custody__agent *a, bool fresh,
                         const char **out)
{
    if (fresh || !a->proof[0]) {
        int rc = util_session_proof(a->name, a->pem, a->pem_len, "unix", a->proof);
        if (rc)
            return custody__set_error(c, rc, CUSTODY_ERRSRC_LOCAL, "cannot sign the session proof");
    }
    *out = a->proof;
    return 0;
}

/* The token's resource for a call: the resource, or for two resources in
 * one root the closest directory holding both ("demo:/a/" for demo:/a/x
 * and demo:/a/y; "demo:/" at worst). to may be "/path" (same root). */
static void scope_resource(const char *res, const char *res2, struct strbuf *out)
{
    sb_reset(out);
    if (!res2) {
        sb_puts(out, res);
        return;
    }
    const char *colon = strchr(res, ':');
    size_t rl = colon ? (size_t)(colon - res) : 0;
    const char *p1 = colon ? colon + 1 : res;
    const char *p2 = res2[0] == '/' ? res2 : strchr(res2, ':') ? strchr(res2, ':') + 1 : res2;
    size_t common = 0, last_slash = 0;
    while (p1[common] && p1[common] == p2[common]) {
        if (p1[common] == '/') last_slash = common;
        common++;
    }
    sb_append(out, res, rl);
    sb_puts(out, ":");
    sb_append(out, p1, last_slash + 1);
}

int custody__agent_token(custody_client_t *c, struct custody__agent *a, const char *action,
                         const char *res, const char *res2, const char **out)
{
    *out = NULL;
    if (a->token) {
        *out = a->token;
        return 0;
    }
    if (!res) return 0;
    struct strbuf scope = STRBUF_INIT, resource = STRBUF_INIT;
    scope_resource(res, res2, &resource);
    sb_printf(&scope, "%s %s", action, resource.buf);
    uint64_t now = util_now_ns() / 1000000000ull;
    for (size_t i = 0; i < AGENT_CACHE; i++) {
        struct cached_token *t = &a->cache[i];
        if (t->scope && strcmp(t->scope, scope.buf) == 0 && t->expires > now + AGENT_MARGIN_S) {
            *out = t->token;
            sb_free(&scope);
            sb_free(&resource);
            return 0;
        }
    }
    json_t *req = json_pack("{s:s, s:s}", "action", action, "resource", resource.buf);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct strbuf resp = STRBUF_INIT;
    int rc = body ? custody__request_buffered(c, "POST", "/v1/tokens", body, strlen(body),
                                              "application/json", &resp)
                  : CUSTODY_ENOMEM;
    free(body);
    if (!rc) {
        json_t *doc = json_loadb(resp.buf ? resp.buf : "", resp.len, 0, NULL);
        const char *tok = json_string_value(json_object_get(doc, "token"));
        json_int_t exp = json_integer_value(json_object_get(doc, "expires_unix"));
        if (!tok || exp <= 0) {
            rc = custody__bad_answer(c);
        } else {
            struct cached_token *t = &a->cache[a->next++ % AGENT_CACHE];
            free(t->scope);
            free(t->token);
            t->scope = sb_detach(&scope);
            t->token = util_strdup(tok);
            t->expires = (uint64_t)exp;
            *out = t->token;
        }
        json_decref(doc);
    }
    sb_free(&resp);
    sb_free(&scope);
    sb_free(&resource);
    return rc;
}
