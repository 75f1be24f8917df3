/*
 * gateway.h — the doorway to src/gateway: custodyd's request handler. It
 * maps /v1/ routes onto the resource store and answers in JSON (see
 * docs/API.md). One request flows gateway -> store (-> ledger, later), with
 * blocking work on the HTTP server's worker pool.
 */
#ifndef CUSTODY_GATEWAY_H
#define CUSTODY_GATEWAY_H

#include "authz/authz.h"
#include "cache/cache.h"
#include "config/config.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

struct gateway;

struct gateway_opts {
    struct custody_config *cfg; /* referenced */
    struct store *store;
    /* Re-reads the configuration from disk and applies it (used after a
     * root is registered); returns 0 or an error with messages in err. */
    int (*reload)(void *arg, struct strbuf *err);
    void *reload_arg;
    struct ledger *ledger;   /* the audit log; NULL = no auditing (unit tests only) */
    const char *endpoint_id; /* this node, written into every event */
    struct authz_ids *ids;   /* identities (required) */
    struct authz *az;        /* decisions (required) */
    struct cache *models;    /* the model cache; NULL: /v1/models answers 503 */
};

int gateway_new(const struct gateway_opts *opts, struct gateway **out);
void gateway_free(struct gateway *gw);
/* The server whose worker pool and statistics the gateway uses. */
void gateway_set_server(struct gateway *gw, struct http_server *srv);
/* Swaps in a new configuration (takes a reference). */
void gateway_set_config(struct gateway *gw, struct custody_config *cfg);
/* Re-reads the policies (authz_policy_reload) and records the change as a
 * signed `policy.change` audit event; `why` says what asked ("SIGHUP").
 * On error the running set stays and err says where. */
int gateway_policy_reload(struct gateway *gw, const char *why, struct strbuf *err);
/* Records the policy set in force at start as a `policy.change` event. */
void gateway_policy_loaded(struct gateway *gw, const char *why);
/* The http_handler_fn to give http_server_new (arg = gateway). */
void gateway_handle(struct http_req *req, void *arg);

/* Exposed for tests and fuzzing: request-target parsing. */
struct gw_target {
    char path[8192]; /* percent-decoded path, without the query */
    size_t path_len;
    const char *query; /* raw query (after '?'), not decoded; NULL when none */
    size_t query_len;
};
int gw_parse_target(const char *target, size_t len, struct gw_target *out);
/* Range: bytes=... against a size. Returns 0 with *off and *rlen set for one
 * satisfiable range, 1 when the whole representation should be sent
 * (no range, several ranges), or CUSTODY_ERANGE. */
int gw_parse_range(const char *value, size_t len, uint64_t size, uint64_t *off, uint64_t *rlen);
/* Looks up key in a query string; returns the raw value or NULL. */
const char *gw_query_get(const char *query, size_t qlen, const char *key, size_t *vlen);

#endif
