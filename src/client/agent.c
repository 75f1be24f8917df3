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
 * identity, except in folder mode (custody_client_set_token_scope), meant
 * for surfaces that hold the agent's key anyway (custody mcp, the FUSE
 * view): one token per action and folder, reused for the folder's other
 * files, so that a call on a new file does not pay a mint (a durable event)
 * of its own. A refused folder is remembered for 30 s and exact tokens are
 * minted meanwhile: narrower, never wider.
 */
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define AGENT_CACHE 8
#define AGENT_MARGIN_S 5   /* a cached token is not used in its last seconds */
#define AGENT_REFUSED 8    /* folder scopes custodyd refused, remembered */
#define AGENT_REFUSED_S 30 /* for this long (exact tokens are minted meanwhile) */
#define SHARED_CACHE 64    /* folder tokens shared by the clients of one process */

struct cached_token {
    char *scope; /* "ACTION RESOURCE" */
    char *token;
    uint64_t expires;
};

struct custody__agent {
    char name[CUSTODY_AGENT_NAME_MAX + 1];
    char pubhex[65]; /* the key's public half: tokens are bound to it */
    char *pem;
    size_t pem_len;
    char proof[UTIL_SESSION_PROOF_MAX];
    char *token; /* explicit, or NULL */
    struct cached_token cache[AGENT_CACHE];
    size_t next;
    int scope_mode;                             /* CUSTODY_TOKEN_EXACT or CUSTODY_TOKEN_FOLDER */
    struct cached_token refused[AGENT_REFUSED]; /* token unused: the folder scopes refused */
    size_t next_refused;
    char *held; /* a copy of the shared token this client is using */
};

/* Folder tokens are shared by every client of the process acting as the
 * same agent with the same key (the FUSE view has one client per thread):
 * scope "PUBHEX AGENT ACTION RESOURCE". */
static struct {
    pthread_mutex_t mu;
    struct cached_token e[SHARED_CACHE];
    size_t next;
} g_shared = {.mu = PTHREAD_MUTEX_INITIALIZER};

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
    for (size_t i = 0; i < AGENT_REFUSED; i++)
        free(a->refused[i].scope);
    free(a->held);
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
    if (!rc) util_hex_encode(pub, sizeof pub, a->pubhex);
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

int custody_client_set_token_scope(custody_client_t *c, int mode)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct custody__agent *a = custody__client_current_agent(c);
    if (!a)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "a token scope is for an agent: set the agent first");
    if (mode != CUSTODY_TOKEN_EXACT && mode != CUSTODY_TOKEN_FOLDER)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "unknown token scope %d", mode);
    a->scope_mode = mode;
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

/* The closest directory holding both resources of a call in one root
 * ("demo:/a/" for demo:/a/x and demo:/a/y; "demo:/" at worst). res2 may be
 * "/path" (same root). */
static void scope_common(const char *res, const char *res2, struct strbuf *out)
{
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

/* The token's resource for a call: the resource, or for two resources the
 * closest directory holding both. */
static void scope_resource(const char *res, const char *res2, struct strbuf *out)
{
    sb_reset(out);
    if (res2)
        scope_common(res, res2, out);
    else
        sb_puts(out, res);
}

/* The folder holding a scope, as a prefix: "demo:/a/" for demo:/a/x.txt,
 * "demo:/" for demo:/a and for demo:/. */
static void scope_folder(const char *scope, struct strbuf *out)
{
    sb_reset(out);
    const char *slash = strrchr(scope, '/');
    if (slash)
        sb_append(out, scope, (size_t)(slash - scope) + 1);
    else
        sb_puts(out, scope);
}

static const char *cached(struct custody__agent *a, const char *scope, uint64_t now)
{
    for (size_t i = 0; i < AGENT_CACHE; i++) {
        struct cached_token *t = &a->cache[i];
        if (t->scope && strcmp(t->scope, scope) == 0 && t->expires > now + AGENT_MARGIN_S)
            return t->token;
    }
    return NULL;
}

/* The shared folder token for scope, copied into a->held; NULL if none. */
static const char *shared_get(struct custody__agent *a, const char *scope, uint64_t now)
{
    const char *out = NULL;
    pthread_mutex_lock(&g_shared.mu);
    for (size_t i = 0; i < SHARED_CACHE && !out; i++) {
        struct cached_token *t = &g_shared.e[i];
        if (t->scope && strcmp(t->scope, scope) == 0 && t->expires > now + AGENT_MARGIN_S) {
            if (!a->held || strcmp(a->held, t->token) != 0) { /* a copy only when it changed */
                free(a->held);
                a->held = util_strdup(t->token);
            }
            out = a->held;
        }
    }
    pthread_mutex_unlock(&g_shared.mu);
    return out;
}

static void shared_put(const char *scope, const char *token, uint64_t expires)
{
    pthread_mutex_lock(&g_shared.mu);
    struct cached_token *t = &g_shared.e[g_shared.next++ % SHARED_CACHE];
    free(t->scope);
    if (t->token) OPENSSL_cleanse(t->token, strlen(t->token));
    free(t->token);
    t->scope = util_strdup(scope);
    t->token = util_strdup(token);
    t->expires = expires;
    pthread_mutex_unlock(&g_shared.mu);
}

static bool refused_lately(struct custody__agent *a, const char *scope, uint64_t now)
{
    for (size_t i = 0; i < AGENT_REFUSED; i++) {
        struct cached_token *t = &a->refused[i];
        if (t->scope && strcmp(t->scope, scope) == 0 && t->expires > now) return true;
    }
    return false;
}

/* Asks custodyd for a token for one action on resource and caches it under
 * scope ("ACTION RESOURCE"). */
static int mint(custody_client_t *c, struct custody__agent *a, const char *action,
                const char *resource, const char *scope, const char **out)
{
    json_t *req = json_pack("{s:s, s:s}", "action", action, "resource", resource);
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
            t->scope = util_strdup(scope);
            t->token = util_strdup(tok);
            t->expires = (uint64_t)exp;
            *out = t->token;
        }
        json_decref(doc);
    }
    sb_free(&resp);
    return rc;
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
    struct strbuf resource = STRBUF_INIT, folder = STRBUF_INIT, scope = STRBUF_INIT,
                  fscope = STRBUF_INIT;
    scope_resource(res, res2, &resource);
    sb_printf(&scope, "%s %s", action, resource.buf);
    uint64_t now = util_now_ns() / 1000000000ull;
    int rc = 0;
    /* a model capability names one model version: never a folder of them */
    bool folders = a->scope_mode == CUSTODY_TOKEN_FOLDER && strncmp(res, "model:/", 7) != 0;
    if (folders) {
        scope_folder(resource.buf, &folder);
        sb_printf(&fscope, "%s %s %s %s", a->pubhex, a->name, action, folder.buf);
        if ((*out = shared_get(a, fscope.buf, now))) goto done;
    }
    if ((*out = cached(a, scope.buf, now))) goto done;
    if (folders && !refused_lately(a, fscope.buf, now)) {
        rc = mint(c, a, action, folder.buf, fscope.buf, out);
        if (!rc) {
            for (size_t i = 0; i < AGENT_CACHE; i++)
                if (a->cache[i].token == *out) shared_put(fscope.buf, *out, a->cache[i].expires);
            goto done;
        }
        if (rc != CUSTODY_EDENIED) goto done;
        /* the folder is refused: remember it, and ask for exactly this call */
        struct cached_token *t = &a->refused[a->next_refused++ % AGENT_REFUSED];
        free(t->scope);
        t->scope = util_strdup(fscope.buf);
        t->expires = now + AGENT_REFUSED_S;
    }
    rc = mint(c, a, action, resource.buf, scope.buf, out);
done:
    sb_free(&resource);
    sb_free(&folder);
    sb_free(&scope);
    sb_free(&fscope);
    return rc;
}
