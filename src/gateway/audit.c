/*
 * audit.c — every answer the gateway gives goes through here.
 *
 * A request gets an audit record when it is routed (action, resource); the
 * handlers add what they learn (content hash, byte range, bytes, version).
 * Answering parks the response, submits the event to the ledger and sends
 * the response only from the ledger's completion, i.e. once the event is
 * durable. When the ledger refuses (its sink is failing) the parked
 * response is dropped and the client gets 503 audit_unavailable instead:
 * nothing is served that was not recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct gw_call {
    struct gateway *gw;
    struct http_req *req;
    const char *action; /* NULL: not audited (health, the public log mirror) */
    char root[CONFIG_NAME_MAX + 1];
    char resource[STORE_PATH_MAX + CONFIG_NAME_MAX + 4];
    char destination[STORE_PATH_MAX + CONFIG_NAME_MAX + 4];
    char sha256[UTIL_SHA256_HEX_LEN + 1];
    char principal[AUTHZ_NAME_MAX + 32]; /* "uid:N", or the agent's principal */
    char agent[AUTHZ_NAME_MAX + 1];
    char session[33];
    bool has_range, sign;
    bool reported_deny; /* a refusal reported by a client surface (gw_audit_reported_refusal) */
    uint64_t range_off, range_len;
    int64_t version;
    uint64_t in_bytes; /* request body bytes (writes) */
    char reason[600];
    char policies[AUTHZ_IDS_TEXT_MAX]; /* determining policy ids, comma-separated */
    char token_id[TOKEN_ID_HEX_LEN + 1];
    /* the edit record (content changes): resource and a move's destination */
    bool has_edit, has_edit_dest;
    struct gw_edit {
        char prev[UTIL_SHA256_HEX_LEN + 1], next[UTIL_SHA256_HEX_LEN + 1]; /* "" = none */
        int64_t prev_version, version;
    } edit, edit_dest;
    char consent[LEDGER_CONSENT_MAX + 1];
    /* a model request (model.load, model.register): id, version, bytes */
    char model_id[MANIFEST_NAME_MAX + 1], model_version[MANIFEST_NAME_MAX + 1];
    uint64_t model_bytes;
    /* the parked response */
    int status;
    bool is_file;
    char *body;
    size_t len;
    int fd;
    uint64_t foff, flen;
};

void gw_call_begin(struct gateway *gw, struct http_req *req)
{
    struct gw_call *c = util_calloc(1, sizeof *c);
    c->gw = gw;
    c->req = req;
    c->fd = -1;
    if (req->peer && req->peer->has_cred)
        snprintf(c->principal, sizeof c->principal, "uid:%u", (unsigned)req->peer->uid);
    req->audit = c;
    http_req_ref(req);
}

/* Called when the request is gone before an answer was parked. */
static void call_free(struct gw_call *c)
{
    struct http_req *req = c->req;
    if (c->fd >= 0)
        close(c->fd);
    free(c->body);
    req->audit = NULL;
    free(c);
    http_req_unref(req);
}

void gw_audit_action(struct http_req *req, const char *action, const char *root, const char *path)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    c->action = action;
    if (root) {
        util_strlcpy(c->root, root, sizeof c->root);
        gw_resource_id(c->resource, sizeof c->resource, root, path ? path : "/");
    }
}

void gw_audit_resource_text(struct http_req *req, const char *text)
{
    struct gw_call *c = req->audit;
    if (c)
        util_strlcpy(c->resource, text, sizeof c->resource);
}

void gw_audit_destination(struct http_req *req, const char *root, const char *path)
{
    struct gw_call *c = req->audit;
    if (c)
        gw_resource_id(c->destination, sizeof c->destination, root, path);
}

void gw_audit_content(struct http_req *req, const char *sha256_hex, int64_t version)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    if (sha256_hex)
        util_strlcpy(c->sha256, sha256_hex, sizeof c->sha256);
    if (version)
        c->version = version;
}

void gw_audit_range(struct http_req *req, uint64_t off, uint64_t len)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    c->has_range = true;
    c->range_off = off;
    c->range_len = len;
}

void gw_audit_model(struct http_req *req, const char *name, const char *version,
                    const char *digest_hex, uint64_t bytes)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    if (name)
        util_strlcpy(c->model_id, name, sizeof c->model_id);
    if (version)
        util_strlcpy(c->model_version, version, sizeof c->model_version);
    if (digest_hex)
        util_strlcpy(c->sha256, digest_hex, sizeof c->sha256);
    c->model_bytes = bytes;
}

void gw_audit_body_bytes(struct http_req *req, uint64_t n)
{
    struct gw_call *c = req->audit;
    if (c)
        c->in_bytes = n;
}

void gw_audit_identity(struct http_req *req, const struct gw_identity *id)
{
    struct gw_call *c = req->audit;
    if (!c || id->kind != GW_ID_AGENT)
        return; /* the operator: principal "uid:N" from the socket */
    util_strlcpy(c->agent, id->agent, sizeof c->agent);
    util_strlcpy(c->session, id->session_id, sizeof c->session);
    if (id->principal[0]) /* else the socket's "uid:N" stays */
        util_strlcpy(c->principal, id->principal, sizeof c->principal);
}

void gw_audit_edit(struct http_req *req, bool destination, const char *prev_sha256,
                   int64_t prev_version, const char *new_sha256, int64_t version)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    struct gw_edit *e = destination ? &c->edit_dest : &c->edit;
    util_strlcpy(e->prev, prev_sha256 ? prev_sha256 : "", sizeof e->prev);
    util_strlcpy(e->next, new_sha256 ? new_sha256 : "", sizeof e->next);
    e->prev_version = prev_version;
    e->version = version;
    if (destination)
        c->has_edit_dest = true;
    else
        c->has_edit = true;
}

void gw_audit_consent(struct http_req *req, const char *token, size_t len)
{
    struct gw_call *c = req->audit;
    if (!c || len >= sizeof c->consent)
        return;
    memcpy(c->consent, token, len);
    c->consent[len] = '\0';
}

void gw_audit_sign(struct http_req *req)
{
    struct gw_call *c = req->audit;
    if (c)
        c->sign = true;
}

void gw_audit_reason(struct http_req *req, int err, const char *msg)
{
    struct gw_call *c = req->audit;
    if (c)
        snprintf(c->reason, sizeof c->reason, "%s: %s", custody_err_code(err), msg);
}

void gw_audit_note(struct http_req *req, const char *text)
{
    struct gw_call *c = req->audit;
    if (c)
        util_strlcpy(c->reason, text, sizeof c->reason);
}

void gw_audit_note_prefix(struct http_req *req, const char *text)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    char old[sizeof c->reason];
    util_strlcpy(old, c->reason, sizeof old);
    util_strlcpy(c->reason, text, sizeof c->reason);
    if (old[0]) {
        util_strlcat(c->reason, "; ", sizeof c->reason);
        util_strlcat(c->reason, old, sizeof c->reason);
    }
}

void gw_audit_reported_refusal(struct http_req *req)
{
    struct gw_call *c = req->audit;
    if (c)
        c->reported_deny = true;
}

void gw_audit_decision(struct http_req *req, const struct authz_result *res)
{
    struct gw_call *c = req->audit;
    if (!c)
        return;
    util_strlcpy(c->policies, res->policies, sizeof c->policies);
    util_strlcpy(c->token_id, res->token_id, sizeof c->token_id);
    if (res->allow)
        gw_audit_note(req, res->reason);
}

static bool sensitive_root(struct gateway *gw, const char *root)
{
    return root[0] && authz_root_sensitive(gw->cfg, config_find_root(gw->cfg, root));
}

/* Replaces every occurrence of what in s (in place) with "<resource>":
 * a reason must not carry a path the event pseudonymizes. */
static void scrub(char *s, size_t cap, const char *what)
{
    static const char mark[] = "<resource>";
    size_t wl = strlen(what), ml = sizeof mark - 1;
    if (wl < 2)
        return;
    char out[sizeof ((struct gw_call *)0)->reason];
    size_t o = 0;
    for (const char *p = s; *p && o + 1 < sizeof out;) {
        if (strncmp(p, what, wl) == 0 && o + ml < sizeof out) {
            memcpy(out + o, mark, ml);
            o += ml;
            p += wl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    util_strlcpy(s, out, cap);
}

static void send_parked(struct gw_call *c)
{
    struct http_req *req = c->req;
    if (c->is_file) {
        int fd = c->fd;
        c->fd = -1;
        http_resp_send_file(req, c->status, fd, c->foff, c->flen);
    } else {
        http_resp_send(req, c->status, c->body, c->len);
    }
}

/* The request's identity on an event: principal, agent, session, this
 * endpoint, the Unix peer's uid. */
static void event_identity(const struct gw_call *c, const struct http_req *req,
                           struct ledger_event *ev)
{
    ev->principal_id = c->principal[0] ? c->principal : NULL;
    ev->agent_id = c->agent[0] ? c->agent : NULL;
    ev->session_id = c->session[0] ? c->session : NULL;
    ev->endpoint_id = c->gw->endpoint_id;
    if (req->peer && req->peer->has_cred) {
        ev->has_peer_uid = true;
        ev->peer_uid = (uint32_t)req->peer->uid;
    }
}

/* A reason must not carry a path the event pseudonymizes: the resource id,
 * its path alone, the destination (may be NULL). */
static void scrub_reason(char *reason, size_t cap, const char *resource, const char *destination)
{
    scrub(reason, cap, resource);
    if (destination)
        scrub(reason, cap, destination);
    const char *colon = strchr(resource, ':');
    if (colon)
        scrub(reason, cap, colon + 1);
}

static void extra_durable(void *arg, int rc, uint64_t index)
{
    (void)arg, (void)rc, (void)index; /* the request's own event, queued after, answers */
}

int gw_audit_extra(struct http_req *req, const struct gw_extra *x)
{
    struct gw_call *c = req->audit;
    if (!c || !c->gw->ledger)
        return 0;
    struct gateway *gw = c->gw;
    char resource[sizeof c->resource], reason[sizeof c->reason];
    gw_resource_id(resource, sizeof resource, x->root, x->path);
    snprintf(reason, sizeof reason, "%s%s%s", x->note ? x->note : "",
             x->note && x->res->reason[0] ? "; " : "", x->res->reason);
    struct ledger_event ev = {0};
    ev.action = x->action;
    event_identity(c, req, &ev);
    ev.resource_id = resource;
    ev.has_range = x->has_range;
    ev.range_start = x->range_off;
    ev.range_length = x->range_len;
    ev.bytes_transferred = x->bytes;
    ev.decision = x->res->allow ? "allow" : "deny";
    ev.sensitive_resource = sensitive_root(gw, x->root);
    if (ev.sensitive_resource)
        scrub_reason(reason, sizeof reason, resource, NULL);
    ev.reason = reason[0] ? reason : NULL;
    ev.token_id = x->res->token_id[0] ? x->res->token_id : NULL;
    for (size_t i = 0; i < x->res->npolicy && ev.npolicy < LEDGER_POLICY_MAX; i++)
        ev.policy_ids[ev.npolicy++] = x->res->policy_ids[i];
    return ledger_submit(gw->ledger, &ev, extra_durable, NULL);
}

static void refuse_unaudited(struct gw_call *c, int rc)
{
    struct http_req *req = c->req;
    http_resp_reset_headers(req);
    http_resp_error(req, CUSTODY_EAUDIT,
                    rc == CUSTODY_EAUDIT
                        ? "the audit log cannot record this request, so it is refused (see "
                          "custodyd's log; service resumes when the log can write again)"
                        : "the audit event could not be encoded");
}

static void on_durable(void *arg, int rc, uint64_t index)
{
    struct gw_call *c = arg;
    if (rc) {
        refuse_unaudited(c, rc);
    } else {
        char ix[21];
        util_u64_text(index, ix);
        http_resp_header(c->req, "x-custody-audit-index", ix);
        send_parked(c);
    }
    call_free(c);
}

/* Submits the event for the parked answer; sends from the completion. */
static void finish(struct gw_call *c)
{
    struct gateway *gw = c->gw;
    struct http_req *req = c->req;
    if (!c->action || !gw->ledger) {
        send_parked(c);
        call_free(c);
        return;
    }
    struct ledger_event ev = {0};
    ev.action = c->action;
    event_identity(c, req, &ev);
    ev.resource_id = c->resource[0] ? c->resource : NULL;
    ev.destination_id = c->destination[0] ? c->destination : NULL;
    ev.content_sha256 = c->sha256[0] ? c->sha256 : NULL;
    ev.version = c->version;
    ev.model_id = c->model_id[0] ? c->model_id : NULL;
    ev.model_version = c->model_version[0] ? c->model_version : NULL;
    ev.has_range = c->has_range;
    ev.range_start = c->range_off;
    ev.range_length = c->range_len;
    ev.status = c->status;
    ev.decision = c->reported_deny                          ? "deny"
                  : c->status < 400                         ? "allow"
                  : c->status == 401 || c->status == 403 ? "deny"
                                                            : "error";
    ev.reason = c->reason[0] ? c->reason : NULL;
    uint64_t now = util_monotonic_ns();
    ev.latency_us = now > req->start_ns ? (now - req->start_ns) / 1000 : 0;
    ev.bytes_transferred = c->model_bytes ? c->model_bytes
                           : c->in_bytes  ? c->in_bytes
                           : c->is_file && req->method != HTTP_HEAD ? c->flen
                                                                    : 0;
    ev.sensitive_resource = sensitive_root(gw, c->root);
    if (ev.sensitive_resource && c->reason[0])
        scrub_reason(c->reason, sizeof c->reason, c->resource, c->destination);
    ev.token_id = c->token_id[0] ? c->token_id : NULL;
    char pol[AUTHZ_IDS_TEXT_MAX];
    util_strlcpy(pol, c->policies, sizeof pol);
    for (char *p = pol; *p && ev.npolicy < LEDGER_POLICY_MAX;) {
        ev.policy_ids[ev.npolicy++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    /* an edit only for what happened: a change answered with success */
    if (c->has_edit && c->status < 300) {
        const struct gw_edit *e[2] = {&c->edit, &c->edit_dest};
        struct ledger_edit *out[2] = {&ev.edit, &ev.edit_destination};
        for (size_t i = 0; i < 2; i++) {
            out[i]->prev_sha256 = e[i]->prev[0] ? e[i]->prev : NULL;
            out[i]->new_sha256 = e[i]->next[0] ? e[i]->next : NULL;
            out[i]->prev_version = e[i]->prev_version;
            out[i]->version = e[i]->version;
        }
        ev.has_edit = true;
        ev.has_edit_destination = c->has_edit_dest;
        ev.consent = c->consent[0] ? c->consent : NULL;
    }
    ev.sign = c->sign || ev.has_edit; /* edit records are signed, whatever the surface */
    int rc = ledger_submit(gw->ledger, &ev, on_durable, c);
    if (rc) {
        if (rc == CUSTODY_EAUDIT) {
            /* at most one line a second (the ledger logs the cause loudly) */
            static uint64_t last_ns, quiet;
            uint64_t t = util_monotonic_ns();
            if (t - last_ns >= 1000000000ull) {
                log_warn("gateway: refusing %.*s %.*s: the audit log is not writable (%llu more "
                         "refused in the last second)",
                         (int)req->method_len, req->method_str,
                         (int)UTIL_MIN(req->target_len, 256), req->target,
                         (unsigned long long)quiet);
                last_ns = t;
                quiet = 0;
            } else {
                quiet++;
            }
        }
        refuse_unaudited(c, rc);
        call_free(c);
    }
}

void gw_send(struct http_req *req, int status, const void *body, size_t len)
{
    struct gw_call *c = req->audit;
    if (!c) {
        http_resp_send(req, status, body, len);
        return;
    }
    c->status = status;
    c->is_file = false;
    c->body = len ? util_calloc(1, len) : NULL;
    if (len)
        memcpy(c->body, body, len);
    c->len = len;
    finish(c);
}

void gw_send_file(struct http_req *req, int status, int fd, uint64_t off, uint64_t len)
{
    struct gw_call *c = req->audit;
    if (!c) {
        http_resp_send_file(req, status, fd, off, len);
        return;
    }
    c->status = status;
    c->is_file = true;
    c->fd = fd;
    c->foff = off;
    c->flen = len;
    finish(c);
}

void gw_call_abandon(struct http_req *req)
{
    struct gw_call *c = req->audit;
    if (c)
        call_free(c);
}
