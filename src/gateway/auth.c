/*
 * auth.c — who is asking: the identity behind each request.
 *
 *   - An agent proves possession of its key once per connection with a
 *     `custody-session` header (authz_session_verify); the connection is
 *     then that agent's until it closes. Over TLS the proof is bound to the
 *     connection by the RFC 9266 tls-exporter value, over the Unix socket by
 *     "unix" (the kernel gives the peer's uid, which is recorded too).
 *   - On the Unix socket, a peer whose uid is custodyd's own (or root) and
 *     that sent no session proof is the operator: `custody` run by the
 *     machine's owner. The kernel vouches for the uid (SO_PEERCRED).
 *   - Anyone else is refused (401), and the refusal is audited.
 *
 * Header: custody-session: v1 AGENT TS NONCE SIGHEX
 * (TS unix seconds, NONCE 32 hex, SIGHEX 128 hex: Ed25519 over
 * authz_session_message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void identity_free(void *p)
{
    free(p);
}

/* Splits the header into its five space-separated fields. */
static int parse_session(const char *v, size_t len, char f[5][160])
{
    size_t k = 0, o = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? v[i] : ' ';
        if (c == ' ') {
            if (o == 0) continue;
            if (k == 5) return CUSTODY_EUNAUTH;
            f[k++][o] = '\0';
            o = 0;
            continue;
        }
        if (k == 5 || o + 1 >= 160 || (unsigned char)c < 0x21 || (unsigned char)c > 0x7e)
            return CUSTODY_EUNAUTH;
        f[k][o++] = c;
    }
    return k == 5 && strcmp(f[0], "v1") == 0 ? 0 : CUSTODY_EUNAUTH;
}

static int session_from_header(struct gateway *gw, struct http_req *req,
                               const struct http_header *h, struct gw_identity *out,
                               struct strbuf *why)
{
    char f[5][160];
    uint64_t ts;
    uint8_t sig[64];
    if (parse_session(h->value, h->value_len, f) != 0 ||
        util_parse_u64(f[2], strlen(f[2]), &ts) != 0 || strlen(f[4]) != 128 ||
        util_hex_decode(f[4], 128, sig) != 0) {
        sb_puts(why, "malformed custody-session header (want: v1 AGENT TS NONCE SIGHEX)");
        return CUSTODY_EUNAUTH;
    }
    char binding[80] = "unix";
    uint8_t ekm[32];
    if (http_req_tls_exporter(req, ekm) == 0) {
        memcpy(binding, "tls-exporter:", 13);
        util_hex_encode(ekm, sizeof ekm, binding + 13);
    }
    const struct authz_agent *a;
    uint64_t now = util_now_ns() / 1000000000ull;
    int rc = authz_session_verify(gw->ids, f[1], ts, f[3], binding, sig, now, &a, why);
    if (rc) return rc;
    out->kind = GW_ID_AGENT;
    util_strlcpy(out->agent, a->name, sizeof out->agent);
    util_strlcpy(out->principal, a->principal, sizeof out->principal);
    memcpy(out->session_id, f[3], 32);
    out->session_id[32] = '\0';
    return 0;
}

int gw_authenticate(struct gateway *gw, struct http_req *req, const struct gw_identity **out)
{
    const struct http_header *h = http_req_header(req, "custody-session");
    struct gw_identity *id = http_req_conn_data(req);
    bool same_proof = h && id && id->kind == GW_ID_AGENT && h->value_len < sizeof id->proof &&
                      strlen(id->proof) == h->value_len &&
                      memcmp(id->proof, h->value, h->value_len) == 0;
    if (h && !same_proof) { /* a client resending its proof on the same connection is fine */
        struct gw_identity fresh = {0};
        struct strbuf why = {0};
        int rc = session_from_header(gw, req, h, &fresh, &why);
        if (rc) {
            gw_audit_action(req, "session", NULL, NULL);
            gw_error(req, rc, "%s", why.buf ? why.buf : "session proof refused");
            sb_free(&why);
            return rc;
        }
        sb_free(&why);
        if (!id || id->kind != GW_ID_AGENT || strcmp(id->session_id, fresh.session_id) != 0) {
            id = util_calloc(1, sizeof *id);
            *id = fresh;
            if (h->value_len < sizeof id->proof)
                memcpy(id->proof, h->value, h->value_len);
            http_req_set_conn_data(req, id, identity_free);
        }
    } else if (!id && req->peer && req->peer->has_cred &&
               (req->peer->uid == geteuid() || req->peer->uid == 0)) {
        id = util_calloc(1, sizeof *id);
        id->kind = GW_ID_OPERATOR;
        http_req_set_conn_data(req, id, identity_free);
    }
    if (!id) {
        gw_audit_action(req, "request", NULL, NULL);
        gw_error(req, CUSTODY_EUNAUTH,
                 "authenticate first: agents send a custody-session proof (custody --agent "
                 "NAME; docs/authz.md)");
        return CUSTODY_EUNAUTH;
    }
    if (id->kind == GW_ID_AGENT) {
        const struct authz_agent *a = authz_agent_find(gw->ids, id->agent);
        if (!a) {
            gw_audit_action(req, "request", NULL, NULL);
            gw_error(req, CUSTODY_EREVOKED, "agent \"%s\" no longer exists", id->agent);
            return CUSTODY_EREVOKED;
        }
        if (a->quarantined) {
            log_warn("gateway: QUARANTINED agent \"%s\" refused: %.*s %.*s", a->name,
                     (int)req->method_len, req->method_str, (int)UTIL_MIN(req->target_len, 256),
                     req->target);
            gw_audit_action(req, "request", NULL, NULL);
            gw_error(req, CUSTODY_EQUARANTINED,
                     "agent \"%s\" is quarantined: every request is refused", a->name);
            return CUSTODY_EQUARANTINED;
        }
    }
    gw_audit_identity(req, id);
    *out = id;
    return 0;
}

struct gw_caller *gw_caller_new(struct gateway *gw, const struct gw_identity *id)
{
    struct gw_caller *c = util_calloc(1, sizeof *c);
    c->gw = gw;
    c->id = *id;
    return c;
}
