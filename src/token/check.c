/*
 * check.c — a parsed token's caveats against one request: steps 4-9 of
 * token_verify (token.h), after the MAC has been checked. Each class of
 * checks runs over every caveat in token order before the next class, so
 * the error reported is the most serious one (revoked before expired before
 * not permitted), and its reason names the caveat.
 */
#include <inttypes.h>
#include <string.h>

#include "token/internal.h"

static const char *const required_what[] = {"agent",   "agent_key", "action", "resource",
                                            "expires", "issued",    "epoch"};

static int check_request(const struct token_request *r, uint32_t *action, struct strbuf *reason)
{
    if (!r || !r->agent || !r->action || !r->resource)
        return sb_fail(reason, CUSTODY_EINVAL, "the request lacks an agent, action or resource");
    *action = token_action_from_name(r->action, strlen(r->action));
    if (!*action) return sb_fail(reason, CUSTODY_EINVAL, "unknown action \"%s\"", r->action);
    const char *res[2] = {r->resource, r->resource2};
    for (int i = 0; i < 2; i++) {
        if (res[i] && !tok_resource_valid(res[i], strlen(res[i]), false)) {
            struct strbuf q = STRBUF_INIT;
            tok_quote(&q, res[i], strlen(res[i]));
            int rc = sb_fail(reason, CUSTODY_EBADPATH,
                             "request resource %s is not a canonical ROOT:/PATH", q.buf);
            sb_free(&q);
            return rc;
        }
    }
    if (r->has_range && r->range_first > r->range_last)
        return sb_fail(reason, CUSTODY_EINVAL, "request range is empty");
    return 0;
}

static int check_required(const struct tok *t, struct strbuf *reason)
{
    static const uint32_t need[] = {TOKEN_CAV_BIT(TOKEN_CAV_AGENT),
                                    TOKEN_CAV_BIT(TOKEN_CAV_AGENT_KEY),
                                    TOKEN_CAV_BIT(TOKEN_CAV_ACTION),
                                    TOKEN_CAV_BIT(TOKEN_CAV_RESOURCE) |
                                        TOKEN_CAV_BIT(TOKEN_CAV_RESOURCE_PREFIX),
                                    TOKEN_CAV_BIT(TOKEN_CAV_EXPIRES),
                                    TOKEN_CAV_BIT(TOKEN_CAV_ISSUED),
                                    TOKEN_CAV_BIT(TOKEN_CAV_EPOCH)};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(need); i++)
        if (!(t->eff.present & need[i]))
            return sb_fail(reason, CUSTODY_EBADTOKEN, "the token has no %s caveat",
                           required_what[i]);
    return 0;
}

/* One caveat against the request, for the checks of one class (5-9 in
 * token.h); 0 when it holds or is not of that class. */
enum check_class { C_REVOKE, C_EXPIRY, C_LIFETIME, C_BINDING, C_SCOPE };

struct req_view {
    const struct token_request *r;
    uint32_t action;
    uint64_t now;
    const struct tok *t;
};

static bool range_ok(const struct tok_caveat *c, const struct token_request *r)
{
    return r->has_range && r->range_first >= c->a && r->range_last <= c->b;
}

static int check_one(const struct req_view *v, const struct tok_caveat *c, enum check_class cls,
                     struct strbuf *reason)
{
    const struct token_request *r = v->r;
    switch (c->kind) {
    case TOKEN_CAV_EPOCH:
        if (cls == C_REVOKE && c->a != r->agent_epoch)
            return sb_fail(reason, CUSTODY_EREVOKED,
                           "caveat \"%s\": the agent's epoch is now %" PRIu64 " (it was revoked)",
                           c->text, r->agent_epoch);
        return 0;
    case TOKEN_CAV_POLICY:
        if (cls == C_REVOKE && r->policy_retired && r->policy_retired(r->ctx, c->value))
            return sb_fail(reason, CUSTODY_EREVOKED, "caveat \"%s\": the policy was retired",
                           c->text);
        return 0;
    case TOKEN_CAV_EXPIRES:
        if (cls == C_EXPIRY && v->now >= c->a)
            return sb_fail(reason, CUSTODY_EEXPIRED, "caveat \"%s\" has passed (now %" PRIu64 ")",
                           c->text, v->now);
        return 0;
    case TOKEN_CAV_ISSUED:
        if (cls == C_LIFETIME && c->a > v->now && c->a - v->now > TOKEN_CLOCK_SKEW_S)
            return sb_fail(reason, CUSTODY_EPERM,
                           "caveat \"%s\" is in the future (now %" PRIu64 ")", c->text, v->now);
        return 0;
    case TOKEN_CAV_AGENT:
        if (cls == C_BINDING && strcmp(c->value, r->agent) != 0)
            return sb_fail(reason, CUSTODY_EPERM, "caveat \"%s\" does not permit agent \"%s\"",
                           c->text, r->agent);
        return 0;
    case TOKEN_CAV_AGENT_KEY:
        if (cls == C_BINDING && (!r->agent_key || strcmp(c->value, r->agent_key) != 0))
            return sb_fail(reason, CUSTODY_EPERM, "caveat \"%s\" does not permit key \"%s\"",
                           c->text, r->agent_key ? r->agent_key : "(none)");
        return 0;
    case TOKEN_CAV_DELEGATE:
        if (cls == C_BINDING && strcmp(c->value, r->presenter ? r->presenter : r->agent) != 0)
            return sb_fail(reason, CUSTODY_EPERM,
                           "caveat \"%s\": the token was handed to another agent, not \"%s\"",
                           c->text, r->presenter ? r->presenter : r->agent);
        return 0;
    case TOKEN_CAV_ATTEST:
        if (cls == C_BINDING && (!r->attest || strcmp(c->value, r->attest) != 0))
            return sb_fail(reason, CUSTODY_EPERM,
                           "caveat \"%s\" does not match the agent's attestation \"%s\"", c->text,
                           r->attest ? r->attest : "(none)");
        return 0;
    case TOKEN_CAV_ACTION:
        if (cls == C_SCOPE && !(c->a & v->action))
            return sb_fail(reason, CUSTODY_EPERM, "caveat \"%s\" does not permit \"%s\"", c->text,
                           r->action);
        return 0;
    case TOKEN_CAV_RESOURCE:
    case TOKEN_CAV_RESOURCE_PREFIX: {
        if (cls != C_SCOPE) return 0;
        bool pre = c->kind == TOKEN_CAV_RESOURCE_PREFIX;
        const char *res[2] = {r->resource, r->resource2};
        for (int i = 0; i < 2; i++)
            if (res[i] && !tok_scope_covers(c->value, pre, res[i], false))
                return sb_fail(reason, CUSTODY_EPERM, "caveat \"%s\" does not permit \"%s\"",
                               c->text, res[i]);
        return 0;
    }
    case TOKEN_CAV_RANGE:
        if (cls != C_SCOPE || range_ok(c, r)) return 0;
        if (!r->has_range)
            return sb_fail(reason, CUSTODY_EPERM,
                           "caveat \"%s\" does not permit a request without a byte range", c->text);
        return sb_fail(reason, CUSTODY_EPERM,
                       "caveat \"%s\" does not permit bytes %" PRIu64 "-%" PRIu64, c->text,
                       r->range_first, r->range_last);
    }
    return sb_fail(reason, CUSTODY_EBADTOKEN, "caveat \"%s\" is not understood", c->text);
}

static int check_class(const struct req_view *v, enum check_class cls, struct strbuf *reason)
{
    for (size_t i = 0; i < v->t->ncav; i++) {
        const struct tok_caveat *c = &v->t->cav[i];
        int rc = check_one(v, c, cls, reason); /* caveat texts are clean UTF-8 */
        if (rc) return rc;
    }
    return 0;
}

int tok_check(const struct tok *t, const struct token_request *r, struct strbuf *reason)
{
    struct req_view v = {.r = r, .t = t};
    int rc = check_request(r, &v.action, reason);
    if (!rc) rc = check_required(t, reason);
    if (rc) return rc;
    v.now = r->now ? r->now : util_now_ns() / 1000000000u;
    if (r->is_revoked && r->is_revoked(r->ctx, t->id))
        return sb_fail(reason, CUSTODY_EREVOKED, "token %s is revoked", t->id);
    if ((rc = check_class(&v, C_REVOKE, reason)) || (rc = check_class(&v, C_EXPIRY, reason)) ||
        (rc = check_class(&v, C_LIFETIME, reason)))
        return rc;
    if (r->max_ttl && t->eff.expires - UTIL_MIN(t->eff.issued, t->eff.expires) > r->max_ttl)
        return sb_fail(reason, CUSTODY_EPERM,
                       "the token lives %" PRIu64 " s (issued %" PRIu64 ", expires %" PRIu64
                       "), over this resource's cap of %" PRIu64 " s",
                       t->eff.expires - UTIL_MIN(t->eff.issued, t->eff.expires), t->eff.issued,
                       t->eff.expires, r->max_ttl);
    if (r->presenter && strcmp(r->presenter, r->agent) != 0 &&
        !(t->eff.present & TOKEN_CAV_BIT(TOKEN_CAV_DELEGATE)))
        return sb_fail(reason, CUSTODY_EPERM,
                       "the token is bound to agent \"%s\" and was not handed to \"%s\"",
                       r->agent, r->presenter);
    if ((rc = check_class(&v, C_BINDING, reason)) || (rc = check_class(&v, C_SCOPE, reason)))
        return rc;
    return 0;
}
