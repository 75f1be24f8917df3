/* internal.h — shared by the gateway's files (routes.c, fs.c, admin.c). */
#ifndef CUSTODY_GATEWAY_INTERNAL_H
#define CUSTODY_GATEWAY_INTERNAL_H

#include <jansson.h>

#include "authz/authz.h"
#include "gateway.h"
#include "ledger/ledger.h"

struct gateway {
    struct custody_config *cfg;
    struct store *store;
    struct http_server *srv;
    int (*reload)(void *arg, struct strbuf *err);
    void *reload_arg;
    uint64_t started_ns;
    struct ledger *ledger;  /* NULL: nothing is audited (unit tests) */
    char endpoint_id[128];
    struct authz_ids *ids; /* agents, revocations, session nonces */
    struct authz *az;      /* decisions: policies, tokens */
    struct cache *models;  /* the model cache (may be NULL) */
    struct gw_handover *handovers; /* handover.c: descriptors waiting for a loader */
    size_t nhandovers;
};

/* auth.c: who is behind a request (kept per connection). */
enum gw_id_kind { GW_ID_OPERATOR = 1, GW_ID_AGENT };
struct gw_identity {
    enum gw_id_kind kind;
    char agent[AUTHZ_NAME_MAX + 1];     /* agents */
    char principal[AUTHZ_NAME_MAX + 1]; /* the agent's principal, "" when none */
    char session_id[33];                /* the session proof's nonce */
    char proof[320];                    /* the custody-session header that proved it */
};
/* The caller of a request whose JSON body is read later: a copy of its
 * identity, since the connection may go while the body arrives (free()). */
struct gw_caller {
    struct gateway *gw;
    struct gw_identity id;
};
struct gw_caller *gw_caller_new(struct gateway *gw, const struct gw_identity *id);

/* Establishes the identity (0), or answers with an audited refusal and
 * returns the error. */
int gw_authenticate(struct gateway *gw, struct http_req *req, const struct gw_identity **out);

/* authorize.c: decides a data-plane request (token, then policy). 0 when
 * allowed (the event has the determining policies), else the refusal was
 * answered (audited) and the error is returned. */
struct gw_authz {
    const char *action; /* "read", "write", ... */
    const char *root, *path;
    bool dir;                 /* a directory: Folder (list, mkdir) */
    const char *root2, *path2; /* a move's destination */
    bool has_range;           /* the bytes a read will send, inclusive */
    uint64_t range_first, range_last;
    const char *entity_type, *entity_id; /* or another resource: Model::"NAME@VERSION" */
    bool no_token; /* decided by policy alone: no capability taken or required */
};
int gw_authorize(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                 const struct gw_authz *a);
/* The same decision without answering or touching the request's event
 * (one request deciding several resources: gw_audit_extra records each).
 * 0 when allowed, else why not (res->reason says it). */
int gw_decide(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
              const struct gw_authz *a, struct authz_result *res);
/* Who is asking, as src/authz sees it: the Unix peer's uid when known (the
 * caller sets the agent, if any). */
struct authz_subject gw_subject(const struct http_req *req);
/* The capability in the request (custody-token, or authorization: Macaroon),
 * NUL-terminated and malloc'd, or NULL. */
char *gw_request_token(struct http_req *req);
/* The same for the operator's administrative actions (agent.revoke on
 * Agent::"NAME", token.revoke on Token::"ID", ...). */
int gw_admin_authorize(struct gateway *gw, struct http_req *req, const char *action,
                       const char *type, const char *entity_id);

/* Answers with a JSON error; message is printf-style. */
void gw_error(struct http_req *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers with a JSON document (stolen reference). */
void gw_json(struct http_req *req, int status, json_t *doc);
/* "root:/path" into buf. */
void gw_resource_id(char *buf, size_t len, const char *root, const char *path);
const char *gw_type_name(enum store_type t);
json_t *gw_time_json(uint64_t ns);

/* Reads a small JSON request body (<= 64 KiB, an object), then calls cb on
 * the loop. When the body is bad (already answered) or the client went
 * away, cb gets body == NULL and should only release arg. */
typedef void (*gw_json_body_cb)(struct http_req *req, json_t *body, void *arg);
void gw_read_json_body(struct http_req *req, gw_json_body_cb cb, void *arg);

/* audit.c: the per-request audit record and the only way answers leave.
 * gw_call_begin at routing; handlers set what they know; gw_send /
 * gw_send_file park the answer until its event is durable. */
void gw_call_begin(struct gateway *gw, struct http_req *req);
void gw_call_abandon(struct http_req *req);
void gw_audit_action(struct http_req *req, const char *action, const char *root, const char *path);
/* A resource that is not root:path ("policy:sha256:..."). */
void gw_audit_resource_text(struct http_req *req, const char *text);
void gw_audit_destination(struct http_req *req, const char *root, const char *path);
void gw_audit_content(struct http_req *req, const char *sha256_hex, int64_t version);
void gw_audit_range(struct http_req *req, uint64_t off, uint64_t len);
void gw_audit_body_bytes(struct http_req *req, uint64_t n);
/* A model request: the model's name and version, its manifest digest (hex,
 * recorded as content_sha256) and the bytes it grants (bytes_transferred). */
void gw_audit_model(struct http_req *req, const char *name, const char *version,
                    const char *digest_hex, uint64_t bytes);
void gw_audit_reason(struct http_req *req, int err, const char *msg);
void gw_audit_identity(struct http_req *req, const struct gw_identity *id);
/* The event's reason for an answer that is not an error (an error's
 * reason comes from gw_error). */
void gw_audit_note(struct http_req *req, const char *text);
/* Puts "text; " before the reason set so far (a surface naming itself). */
void gw_audit_note_prefix(struct http_req *req, const char *text);
/* The event records a refusal a client surface made itself (decision deny,
 * although the report is answered 200): POST /v1/refusals. */
void gw_audit_reported_refusal(struct http_req *req);
/* refusals.c: POST /v1/refusals */
void gw_refusals(struct gateway *gw, struct http_req *req, const struct gw_identity *id);
/* The decision: determining policy ids, the token used, and (allowed)
 * the reason "permitted by policy ...". */
void gw_audit_decision(struct http_req *req, const struct authz_result *res);
/* One more event for this request, about another resource (a batch: the
 * read grants of a listing, the usage of several files), with the
 * request's identity and res's decision. Queued now, so it is durable
 * before the request's own event, which is queued when it is answered.
 * CUSTODY_EAUDIT when the log cannot take it. */
struct gw_extra {
    const char *action, *root, *path;
    const struct authz_result *res;
    const char *note; /* what the surface reported, before the decision's reason */
    bool has_range;
    uint64_t range_off, range_len;
    uint64_t bytes;
};
int gw_audit_extra(struct http_req *req, const struct gw_extra *x);
/* The event gets a per-event signature (revocations, policy changes). */
void gw_audit_sign(struct http_req *req);
/* The edit record of a content change (docs/ledger.md, "The edit
 * journal"): the hashes before and after ("" or NULL: no file) and the
 * store versions (0: none) of the resource, or of a move's destination.
 * Written, and the event signed, only when the answer is a success. */
void gw_audit_edit(struct http_req *req, bool destination, const char *prev_sha256,
                   int64_t prev_version, const char *new_sha256, int64_t version);
/* The consent token (X-Custody-Consent, already checked: printable ASCII,
 * at most LEDGER_CONSENT_MAX bytes) for the edit record. */
void gw_audit_consent(struct http_req *req, const char *token, size_t len);
void gw_send(struct http_req *req, int status, const void *body, size_t len);
void gw_send_file(struct http_req *req, int status, int fd, uint64_t off, uint64_t len);
/* audit_api.c: /v1/audit/... and the read-only tlog-tiles mirror /audit/... */
void gw_audit_api(struct gateway *gw, struct http_req *req, const char *rest, size_t len,
                  const char *query, size_t qlen);
json_t *gw_audit_stats_json(const struct ledger_stats *st);
void gw_audit_public(struct gateway *gw, struct http_req *req, const char *rest, size_t len);
/* witness_api.c: POST /witness/add-checkpoint (c2sp.org/tlog-witness) */
void gw_witness(struct gateway *gw, struct http_req *req, const char *rest, size_t len);

/* handover.c: descriptors of a decided load, waiting for the loader under a ticket */
#define GW_TICKET_HEX_LEN 32
/* Keeps fds[0..n) (owned from now on, on success) for the peer of req; the ticket to redeem
 * them with. CUSTODY_EUNSUPPORTED when req's connection cannot receive descriptors. */
int gw_handover_put(struct gateway *gw, const struct http_req *req, int *fds, size_t n,
                    char ticket[GW_TICKET_HEX_LEN + 1]);
/* GET /v1/handover/TICKET */
void gw_handover(struct gateway *gw, struct http_req *req, const char *rest, size_t len);
void gw_handover_free_all(struct gateway *gw);

/* fs.c */
void gw_fs(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
           const char *rest, size_t rest_len, const char *query, size_t qlen);
void gw_versions(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                 const char *rest, size_t rest_len);
/* agents_api.c: /v1/whoami, /v1/agents... */
void gw_whoami(struct gateway *gw, struct http_req *req, const struct gw_identity *id);
void gw_agents(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len);
/* tokens_api.c: /v1/tokens (mint), /v1/tokens/revoke */
void gw_tokens(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len);
/* policy_api.c: /v1/policy, /v1/policy/reload, /v1/policy/explain */
void gw_models(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len, const char *query, size_t query_len);
void gw_policy(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len);
/* admin.c */
void gw_health(struct gateway *gw, struct http_req *req);
void gw_status(struct gateway *gw, struct http_req *req);
void gw_roots(struct gateway *gw, struct http_req *req, const char *name, size_t name_len);

#endif
