/*
 * authorize.c — the gate on the data plane: each request is decided by
 * src/authz (capability token, then policy) before the store sees it, and
 * the decision goes into the request's audit event either way.
 *
 * Tokens travel in `custody-token: TOKEN` (or `authorization: Macaroon
 * TOKEN`). Agents must present one on the data plane; the operator may.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

char *gw_request_token(struct http_req *req)
{
    const struct http_header *h = http_req_header(req, "custody-token");
    const char *v = NULL;
    size_t n = 0;
    if (h) {
        v = h->value;
        n = h->value_len;
    } else if ((h = http_req_header(req, "authorization")) && h->value_len > 9 &&
               strncasecmp(h->value, "macaroon ", 9) == 0) {
        v = h->value + 9;
        n = h->value_len - 9;
    }
    if (!v)
        return NULL;
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    char *t = util_calloc(1, n + 1);
    memcpy(t, v, n);
    return t;
}

struct authz_subject gw_subject(const struct http_req *req)
{
    struct authz_subject who = {.peer_uid = -1};
    if (req->peer && req->peer->has_cred)
        who.peer_uid = req->peer->uid;
    return who;
}

int gw_decide(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
              const struct gw_authz *a, struct authz_result *res)
{
    memset(res, 0, sizeof *res);
    struct authz_subject who = gw_subject(req);
    if (id->kind == GW_ID_AGENT) {
        who.agent = authz_agent_find(gw->ids, id->agent);
        if (!who.agent) {
            res->err = CUSTODY_EREVOKED;
            snprintf(res->reason, sizeof res->reason, "agent \"%s\" no longer exists", id->agent);
            return CUSTODY_EREVOKED;
        }
    }
    char *token = a->no_token ? NULL : gw_request_token(req);
    struct authz_request rq = {
        .who = &who,
        .action = a->action,
        .root = a->root,
        .path = a->path,
        .dir = a->dir,
        .root2 = a->root2,
        .path2 = a->path2,
        .has_range = a->has_range,
        .range_first = a->range_first,
        .range_last = a->range_last,
        .entity_type = a->entity_type,
        .entity_id = a->entity_id,
        .token = token,
        .token_required = id->kind == GW_ID_AGENT && !a->no_token,
    };
    int rc = authz_decide(gw->az, &rq, res);
    free(token);
    if (rc == 0 && res->allow)
        return 0;
    if (rc && !res->reason[0])
        snprintf(res->reason, sizeof res->reason, "%s", custody_strerror(rc));
    return rc ? rc : res->err ? res->err : CUSTODY_EDENIED;
}

int gw_authorize(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                 const struct gw_authz *a)
{
    struct authz_result res;
    int err = gw_decide(gw, req, id, a, &res);
    gw_audit_decision(req, &res);
    if (err == 0)
        return 0;
    if (err == CUSTODY_EQUARANTINED)
        log_warn("gateway: QUARANTINED agent \"%s\" refused: %s %s:%s", id->agent, a->action,
                 a->root, a->path);
    gw_error(req, err, "%s", res.reason);
    return err;
}

int gw_admin_authorize(struct gateway *gw, struct http_req *req, const char *action,
                       const char *type, const char *entity_id)
{
    struct authz_subject who = gw_subject(req);
    struct authz_request rq = {
        .who = &who, .action = action, .entity_type = type, .entity_id = entity_id};
    struct authz_result res;
    int rc = authz_decide(gw->az, &rq, &res);
    gw_audit_decision(req, &res);
    if (rc == 0 && res.allow)
        return 0;
    int err = rc ? rc : res.err ? res.err : CUSTODY_EDENIED;
    gw_error(req, err, "%s", res.reason);
    return err;
}
