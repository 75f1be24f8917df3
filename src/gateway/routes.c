/* routes.c — the gateway's entry: target parsing, routing, JSON helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int gateway_new(const struct gateway_opts *opts, struct gateway **out)
{
    struct gateway *gw = util_calloc(1, sizeof *gw);
    gw->cfg = config_ref(opts->cfg);
    gw->store = opts->store;
    gw->reload = opts->reload;
    gw->reload_arg = opts->reload_arg;
    gw->started_ns = util_monotonic_ns();
    gw->ledger = opts->ledger;
    gw->ids = opts->ids;
    gw->az = opts->az;
    gw->models = opts->models;
    util_strlcpy(gw->endpoint_id, opts->endpoint_id ? opts->endpoint_id : "", sizeof gw->endpoint_id);
    *out = gw;
    return 0;
}

void gateway_free(struct gateway *gw)
{
    if (!gw)
        return;
    gw_handover_free_all(gw);
    config_unref(gw->cfg);
    free(gw);
}

void gateway_set_server(struct gateway *gw, struct http_server *srv)
{
    gw->srv = srv;
}

void gateway_set_config(struct gateway *gw, struct custody_config *cfg)
{
    struct custody_config *old = gw->cfg;
    gw->cfg = config_ref(cfg);
    config_unref(old);
    authz_set_config(gw->az, cfg);
}

/* ---- helpers ---- */

void gw_error(struct http_req *req, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int status = custody_err_http_status(err);
    if (status >= 500)
        log_warn("gateway: %.*s %.*s: %d %s: %s", (int)req->method_len, req->method_str,
                 (int)UTIL_MIN(req->target_len, 512), req->target, status, custody_err_code(err),
                 msg);
    else
        log_debug("gateway: %.*s %.*s: %d %s: %s", (int)req->method_len, req->method_str,
                  (int)UTIL_MIN(req->target_len, 512), req->target, status,
                  custody_err_code(err), msg);
    gw_audit_reason(req, err, msg);
    struct strbuf b = {0};
    http_error_json(&b, err, msg);
    http_resp_header(req, "content-type", "application/json");
    http_resp_header(req, "x-custody-error", custody_err_code(err));
    gw_send(req, status, b.buf, b.len);
    sb_free(&b);
}

void gw_json(struct http_req *req, int status, json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(doc);
    if (!s) {
        gw_error(req, CUSTODY_ENOMEM, "cannot encode response");
        return;
    }
    size_t n = strlen(s);
    http_resp_header(req, "content-type", "application/json");
    /* newline-terminated for curl users */
    char *t = util_realloc(s, n + 2);
    t[n] = '\n';
    t[n + 1] = '\0';
    gw_send(req, status, t, n + 1);
    free(t);
}

void gw_resource_id(char *buf, size_t len, const char *root, const char *path)
{
    if (!len)
        return;
    util_strlcpy(buf, root, len); /* "root:path", cut to fit as snprintf would */
    util_strlcat(buf, ":", len);
    util_strlcat(buf, path, len);
}

const char *gw_type_name(enum store_type t)
{
    switch (t) {
    case STORE_FILE:
        return "file";
    case STORE_DIR:
        return "dir";
    case STORE_SYMLINK:
        return "symlink";
    default:
        return "other";
    }
}

json_t *gw_time_json(uint64_t ns)
{
    char ts[40];
    util_rfc3339_ns(ns, ts);
    return json_string(ts);
}

int gw_parse_target(const char *target, size_t len, struct gw_target *out)
{
    const char *q = memchr(target, '?', len);
    size_t plen = q ? (size_t)(q - target) : len;
    out->query = q ? q + 1 : NULL;
    out->query_len = q ? len - plen - 1 : 0;
    /* drop a fragment if a client sent one */
    const char *frag = memchr(target, '#', plen);
    if (frag)
        plen = (size_t)(frag - target);
    if (plen == 0 || target[0] != '/')
        return CUSTODY_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < plen; i++) {
        if (o + 1 >= sizeof out->path)
            return CUSTODY_ENAMETOOLONG;
        char c = target[i];
        if (c == '%') {
            if (i + 2 >= plen) /* a complete %XX is needed */
                return CUSTODY_EBADPATH;
            int hi = util_hexval(target[i + 1]), lo = util_hexval(target[i + 2]);
            if (hi < 0 || lo < 0)
                return CUSTODY_EBADPATH;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        out->path[o++] = c;
    }
    out->path[o] = '\0';
    out->path_len = o;
    return 0;
}

const char *gw_query_get(const char *query, size_t qlen, const char *key, size_t *vlen)
{
    size_t kl = strlen(key);
    const char *p = query, *end = query ? query + qlen : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == kl && memcmp(p, key, kl) == 0) {
            const char *v = eq ? eq + 1 : pe;
            *vlen = (size_t)(pe - v);
            return v;
        }
        p = amp ? amp + 1 : end;
    }
    return NULL;
}

int gw_parse_range(const char *value, size_t len, uint64_t size, uint64_t *off, uint64_t *rlen)
{
    if (len < 6 || memcmp(value, "bytes=", 6) != 0)
        return 1; /* unknown unit: ignore the Range header (RFC 9110 §14.2) */
    const char *p = value + 6, *end = value + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (comma)
        return 1; /* several ranges: answer with the whole file */
    const char *e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    const char *dash = memchr(p, '-', (size_t)(e - p));
    if (!dash)
        return CUSTODY_ERANGE;
    uint64_t first = 0, last = 0;
    bool has_first = dash > p, has_last = dash + 1 < e;
    if (has_first && util_parse_u64(p, (size_t)(dash - p), &first) != 0)
        return CUSTODY_ERANGE;
    if (has_last && util_parse_u64(dash + 1, (size_t)(e - dash - 1), &last) != 0)
        return CUSTODY_ERANGE;
    if (!has_first && !has_last)
        return CUSTODY_ERANGE;
    if (!has_first) {
        /* suffix range: the last N bytes */
        if (last == 0 || size == 0)
            return CUSTODY_ERANGE;
        uint64_t n = UTIL_MIN(last, size);
        *off = size - n;
        *rlen = n;
        return 0;
    }
    if (has_last && last < first)
        return CUSTODY_ERANGE;
    if (first >= size)
        return CUSTODY_ERANGE;
    if (!has_last || last >= size)
        last = size - 1;
    *off = first;
    *rlen = last - first + 1;
    return 0;
}

/* ---- small JSON bodies ---- */

#define GW_JSON_BODY_MAX 65536

struct json_body_ctx {
    struct strbuf buf;
    gw_json_body_cb cb;
    void *arg;
};

static int json_body_data(struct http_req *req, const void *data, size_t len)
{
    struct json_body_ctx *ctx = req->user;
    if (ctx->buf.len + len > GW_JSON_BODY_MAX)
        return CUSTODY_ETOOBIG;
    return sb_append(&ctx->buf, data, len);
}

static void json_body_end(struct http_req *req)
{
    struct json_body_ctx *ctx = req->user;
    req->user = NULL;
    json_error_t jerr;
    json_t *doc = NULL;
    if (ctx->buf.len)
        doc = json_loadb(ctx->buf.buf, ctx->buf.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object(doc)) {
        if (doc)
            json_decref(doc);
        gw_error(req, CUSTODY_EINVAL, "request body must be a JSON object%s%s",
                 ctx->buf.len ? ": " : "", ctx->buf.len ? jerr.text : "");
        ctx->cb(req, NULL, ctx->arg);
    } else {
        ctx->cb(req, doc, ctx->arg);
    }
    sb_free(&ctx->buf);
    free(ctx);
    http_req_unref(req);
}

static void json_body_abort(struct http_req *req)
{
    struct json_body_ctx *ctx = req->user;
    req->user = NULL;
    gw_error(req, CUSTODY_EPROTO, "the request body was not received completely");
    if (ctx) {
        ctx->cb(req, NULL, ctx->arg);
        sb_free(&ctx->buf);
        free(ctx);
    }
    http_req_unref(req);
}

static const struct http_body_cbs json_body_cbs = {json_body_data, json_body_end,
                                                   json_body_abort};

void gw_read_json_body(struct http_req *req, gw_json_body_cb cb, void *arg)
{
    if (req->content_length > GW_JSON_BODY_MAX) {
        gw_error(req, CUSTODY_ETOOBIG, "JSON body larger than %d bytes", GW_JSON_BODY_MAX);
        cb(req, NULL, arg);
        return;
    }
    struct json_body_ctx *ctx = util_calloc(1, sizeof *ctx);
    ctx->cb = cb;
    ctx->arg = arg;
    req->user = ctx;
    http_req_ref(req);
    if (!req->has_body) {
        json_body_end(req);
        return;
    }
    http_req_read_body(req, &json_body_cbs);
}

/* ---- routing ---- */

static bool prefix(const char *path, size_t len, const char *pre, size_t *rest)
{
    size_t pl = strlen(pre);
    if (len < pl || memcmp(path, pre, pl) != 0)
        return false;
    *rest = pl;
    return true;
}

void gateway_handle(struct http_req *req, void *arg)
{
    struct gateway *gw = arg;
    struct gw_target t;
    gw_call_begin(gw, req);
    int rc = gw_parse_target(req->target, req->target_len, &t);
    if (rc) {
        gw_audit_action(req, "request", NULL, NULL);
        gw_error(req, rc, "malformed request target");
        return;
    }
    size_t rest;
    bool mutating = req->method == HTTP_PUT || req->method == HTTP_DELETE ||
                    req->method == HTTP_POST;
    if (prefix(t.path, t.path_len, "/audit/", &rest)) {
        gw_audit_public(gw, req, t.path + rest, t.path_len - rest);
        return;
    }
    if (prefix(t.path, t.path_len, "/witness/", &rest)) {
        gw_witness(gw, req, t.path + rest, t.path_len - rest);
        return;
    }
    if (t.path_len == 10 && memcmp(t.path, "/v1/health", 10) == 0) {
        gw_health(gw, req);
        return;
    }
    if (prefix(t.path, t.path_len, "/v1/handover/", &rest)) {
        /* the ticket is the authority (a load's, decided and recorded) */
        gw_handover(gw, req, t.path + rest, t.path_len - rest);
        return;
    }
    const struct gw_identity *id;
    if (gw_authenticate(gw, req, &id) != 0)
        return; /* answered (audited) */
    if (id->kind == GW_ID_OPERATOR && prefix(t.path, t.path_len, "/v1/audit/", &rest)) {
        gw_audit_api(gw, req, t.path + rest, t.path_len - rest, t.query, t.query_len);
        return;
    }
    if (mutating && gw->ledger && !ledger_healthy(gw->ledger)) {
        /* fail closed before any effect: a mutation must be recordable */
        gw_call_abandon(req);
        http_resp_error(req, CUSTODY_EAUDIT,
                        "the audit log cannot record events, so changes are refused (see "
                        "custodyd's log; service resumes when the log can write again)");
        return;
    }
    if (t.path_len == 10 && memcmp(t.path, "/v1/whoami", 10) == 0) {
        gw_whoami(gw, req, id);
    } else if (prefix(t.path, t.path_len, "/v1/agents", &rest) &&
               (t.path_len == rest || t.path[rest] == '/')) {
        size_t r = t.path_len > rest ? rest + 1 : rest;
        gw_agents(gw, req, id, t.path + r, t.path_len - r);
    } else if (prefix(t.path, t.path_len, "/v1/tokens", &rest) &&
               (t.path_len == rest || t.path[rest] == '/')) {
        size_t r = t.path_len > rest ? rest + 1 : rest;
        gw_tokens(gw, req, id, t.path + r, t.path_len - r);
    } else if (prefix(t.path, t.path_len, "/v1/policy", &rest) &&
               (t.path_len == rest || t.path[rest] == '/')) {
        size_t r = t.path_len > rest ? rest + 1 : rest;
        gw_policy(gw, req, id, t.path + r, t.path_len - r);
    } else if (prefix(t.path, t.path_len, "/v1/models", &rest) &&
               (t.path_len == rest || t.path[rest] == '/')) {
        size_t r = t.path_len > rest ? rest + 1 : rest;
        gw_models(gw, req, id, t.path + r, t.path_len - r, t.query, t.query_len);
    } else if (prefix(t.path, t.path_len, "/v1/fs/", &rest)) {
        gw_fs(gw, req, id, t.path + rest, t.path_len - rest, t.query, t.query_len);
    } else if (prefix(t.path, t.path_len, "/v1/versions/", &rest)) {
        gw_versions(gw, req, id, t.path + rest, t.path_len - rest);
    } else if (t.path_len == 12 && memcmp(t.path, "/v1/refusals", 12) == 0) {
        gw_refusals(gw, req, id);
    } else if (t.path_len == 9 && memcmp(t.path, "/v1/roots", 9) == 0 &&
               req->method == HTTP_GET) {
        gw_roots(gw, req, NULL, 0); /* the namespace: every authenticated caller may list it */
    } else if (id->kind != GW_ID_OPERATOR) {
        gw_audit_action(req, "request", NULL, NULL);
        gw_error(req, CUSTODY_EDENIED, "this endpoint is for the operator");
    } else if (t.path_len == 10 && memcmp(t.path, "/v1/status", 10) == 0) {
        gw_status(gw, req);
    } else if (t.path_len == 9 && memcmp(t.path, "/v1/roots", 9) == 0) {
        gw_roots(gw, req, NULL, 0);
    } else if (prefix(t.path, t.path_len, "/v1/roots/", &rest)) {
        gw_roots(gw, req, t.path + rest, t.path_len - rest);
    } else {
        gw_audit_action(req, "request", NULL, NULL);
        gw_error(req, CUSTODY_ENOENT, "no such endpoint: %.*s (see docs/API.md)",
                 (int)UTIL_MIN(t.path_len, 256), t.path);
    }
}
