/*
 * explain.c — why a request was allowed or denied (custody policy explain):
 * for each policy, whether each scope constraint matched and what each
 * when/unless clause did, rendered as text or JSON. Not on the hot path:
 * it evaluates every policy clause by clause, without the index, and takes
 * the decision from policy_authorize so the two can never disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct explain_mem {
    struct pol_arena arena;
    struct policy_response resp;
};

void policy_explanation_free(struct policy_explanation *ex)
{
    struct explain_mem *m = ex->mem_;
    if (m) {
        policy_response_free(&m->resp);
        pol_arena_free(&m->arena);
        free(m);
    }
    memset(ex, 0, sizeof *ex);
}

static bool is_reason(const struct policy_response *resp, uint32_t i)
{
    for (size_t k = 0; k < resp->nreasons; k++)
        if (resp->reasons[k] == i) return true;
    return false;
}

int policy_explain(const struct policy_set *set, const struct policy_entities *es,
                   const struct policy_request *req, unsigned flags, struct policy_explanation *out)
{
    memset(out, 0, sizeof *out);
    struct explain_mem *m = util_calloc(1, sizeof *m);
    out->mem_ = m;
    policy_response_init(&m->resp);
    int rc = policy_authorize(set, es, req, &m->resp);
    if (rc) {
        policy_explanation_free(out);
        return rc;
    }
    struct strbuf msg = STRBUF_INIT;
    struct pol_eval e;
    rc = pol_eval_init(&e, es, req, &m->arena, &msg);
    if (rc) {
        policy_explanation_free(out);
        return rc;
    }
    out->decision = m->resp.decision;
    out->npolicies = set->n;
    out->entries = pol_alloc(&m->arena, (set->n ? set->n : 1) * sizeof *out->entries);
    for (size_t i = 0; i < set->n; i++) {
        const struct pol_policy *p = set->policies[i];
        struct policy_explain_entry *en = &out->entries[out->nentries];
        memset(en, 0, sizeof *en);
        en->policy = (uint32_t)i;
        enum policy_scope_result *res[3] = {&en->principal, &en->action, &en->resource};
        bool scope = true;
        for (int v = 0; v < 3; v++) {
            bool ok = pol_scope_match(&e, p, v);
            *res[v] = ok ? POLICY_SCOPE_MATCH : POLICY_SCOPE_NO_MATCH;
            scope = scope && ok;
        }
        if (!(flags & POLICY_EXPLAIN_ALL) && en->action != POLICY_SCOPE_MATCH) continue;
        out->nentries++;
        en->nconds = p->nconds;
        en->conds = pol_alloc(&m->arena, (p->nconds ? p->nconds : 1) * sizeof *en->conds);
        bool held = scope;
        for (uint32_t k = 0; k < p->nconds; k++) {
            const struct pol_cond *c = &p->conds[k];
            struct policy_explain_cond *ec = &en->conds[k];
            ec->unless = c->unless;
            ec->line = c->line;
            ec->column = c->col;
            ec->text = c->text;
            ec->text_len = c->text_len;
            if (!held) {
                ec->result = POLICY_COND_SKIPPED;
                continue;
            }
            if (pol_eval_cond(&e, c, &held) != 0) {
                ec->result = POLICY_COND_ERROR;
                ec->message = pol_strndup(&m->arena, msg.buf ? msg.buf : "", msg.len);
                en->errored = true;
                held = false;
            } else {
                ec->result = held ? POLICY_COND_HELD : POLICY_COND_FAILED;
            }
        }
        en->satisfied = held;
        en->determining = held && is_reason(&m->resp, (uint32_t)i);
    }
    sb_free(&msg);
    return 0;
}

/* ---- rendering ---- */

static void scope_text(struct strbuf *sb, const struct pol_scope *sc, const char *var)
{
    sb_puts(sb, var);
    switch (sc->kind) {
    case SC_ANY:
        sb_puts(sb, " (any)");
        return;
    case SC_EQ:
        sb_puts(sb, " == ");
        pol_uid_format(sb, sc->uid);
        return;
    case SC_IN:
        sb_puts(sb, " in ");
        pol_uid_format(sb, sc->uid);
        return;
    case SC_IS:
    case SC_IS_IN:
        sb_printf(sb, " is %.*s", (int)sc->type.len, sc->type.s);
        if (sc->kind == SC_IS_IN) {
            sb_puts(sb, " in ");
            pol_uid_format(sb, sc->uid);
        }
        return;
    case SC_IN_LIST:
        sb_puts(sb, " in [");
        for (uint32_t i = 0; i < sc->nlist; i++) {
            if (i) sb_puts(sb, ", ");
            pol_uid_format(sb, sc->list[i]);
        }
        sb_puts(sb, "]");
        return;
    }
}

static const char *cond_word(enum policy_cond_result r)
{
    static const char *w[] = {"skipped", "held", "failed", "error"};
    return w[r];
}

/* A clause's source on one line, shortened. */
static void clause_text(struct strbuf *sb, const struct policy_explain_cond *c, size_t max)
{
    bool space = false;
    size_t n = 0;
    for (size_t i = 0; i < c->text_len && n < max; i++) {
        char ch = c->text[i];
        if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
            space = true;
            continue;
        }
        if (space && n) {
            sb_append(sb, " ", 1);
            n++;
        }
        space = false;
        sb_append(sb, &ch, 1);
        n++;
    }
    if (n >= max) sb_puts(sb, " ...");
}

static const char *verdict(const struct policy_explain_entry *en)
{
    if (en->determining) return "determining";
    if (en->satisfied) return "satisfied";
    if (en->errored) return "error";
    if (en->principal || en->action || en->resource) return "scope does not match";
    return "conditions not met";
}

int policy_explain_text(const struct policy_set *set, const struct policy_request *req,
                        const struct policy_explanation *ex, struct strbuf *out)
{
    sb_printf(out, "decision: %s\n", ex->decision == POLICY_ALLOW ? "ALLOW" : "DENY");
    sb_puts(out, "request: principal ");
    pol_uid_format(out, &req->principal);
    sb_puts(out, ", action ");
    pol_uid_format(out, &req->action);
    sb_puts(out, ", resource ");
    pol_uid_format(out, &req->resource);
    sb_printf(out, "\npolicies: %zu of %zu shown\n", ex->nentries, ex->npolicies);
    for (size_t i = 0; i < ex->nentries; i++) {
        const struct policy_explain_entry *en = &ex->entries[i];
        const struct pol_policy *p = set->policies[en->policy];
        sb_printf(out, "\n%s (%s) %s:%u:%u: %s\n", p->info.id,
                  p->info.effect == POLICY_PERMIT ? "permit" : "forbid", p->info.file, p->info.line,
                  p->info.column, verdict(en));
        static const char *vars[] = {"principal", "action", "resource"};
        enum policy_scope_result r[3] = {en->principal, en->action, en->resource};
        for (int v = 0; v < 3; v++) {
            sb_printf(out, "  %-9s %-8s ", vars[v],
                      r[v] == POLICY_SCOPE_MATCH ? "match" : "no match");
            scope_text(out, &p->scope[v], vars[v]);
            sb_puts(out, "\n");
        }
        for (size_t k = 0; k < en->nconds; k++) {
            const struct policy_explain_cond *c = &en->conds[k];
            sb_printf(out, "  %-18s ", cond_word(c->result));
            clause_text(out, c, 100);
            if (c->result == POLICY_COND_ERROR)
                sb_printf(out, "\n                     %s", c->message);
            sb_puts(out, "\n");
        }
    }
    return 0;
}

static void json_str(struct strbuf *sb, const char *s, size_t n)
{
    sb_puts(sb, "\"");
    sb_json_escape(sb, s, n);
    sb_puts(sb, "\"");
}

static void json_uid(struct strbuf *sb, const struct policy_uid *u)
{
    struct strbuf t = STRBUF_INIT;
    pol_uid_format(&t, u);
    json_str(sb, t.buf, t.len);
    sb_free(&t);
}

int policy_explain_json(const struct policy_set *set, const struct policy_request *req,
                        const struct policy_explanation *ex, struct strbuf *out)
{
    struct explain_mem *m = ex->mem_;
    char hash[UTIL_SHA256_HEX_LEN + 1];
    policy_set_hash(set, hash);
    sb_printf(out, "{\"decision\":\"%s\",\"policy_set_sha256\":\"%s\",\"request\":{",
              ex->decision == POLICY_ALLOW ? "allow" : "deny", hash);
    sb_puts(out, "\"principal\":");
    json_uid(out, &req->principal);
    sb_puts(out, ",\"action\":");
    json_uid(out, &req->action);
    sb_puts(out, ",\"resource\":");
    json_uid(out, &req->resource);
    sb_puts(out, "},\"reasons\":[");
    for (size_t i = 0; m && i < m->resp.nreasons; i++) {
        sb_puts(out, i ? "," : "");
        const char *id = set->policies[m->resp.reasons[i]]->info.id;
        json_str(out, id, strlen(id));
    }
    sb_puts(out, "],\"errors\":[");
    for (size_t i = 0; m && i < m->resp.nerrors; i++) {
        const char *id = set->policies[m->resp.errors[i].policy]->info.id;
        sb_puts(out, i ? ",{\"id\":" : "{\"id\":");
        json_str(out, id, strlen(id));
        sb_puts(out, ",\"message\":");
        json_str(out, m->resp.errors[i].message, strlen(m->resp.errors[i].message));
        sb_puts(out, "}");
    }
    sb_puts(out, "],\"policies\":[");
    for (size_t i = 0; i < ex->nentries; i++) {
        const struct policy_explain_entry *en = &ex->entries[i];
        const struct pol_policy *p = set->policies[en->policy];
        sb_puts(out, i ? ",{\"id\":" : "{\"id\":");
        json_str(out, p->info.id, strlen(p->info.id));
        sb_printf(out, ",\"effect\":\"%s\",\"file\":",
                  p->info.effect == POLICY_PERMIT ? "permit" : "forbid");
        json_str(out, p->info.file, strlen(p->info.file));
        sb_printf(out, ",\"line\":%u,\"column\":%u,\"result\":\"%s\",\"annotations\":{",
                  p->info.line, p->info.column, verdict(en));
        for (size_t k = 0; k < p->info.nannotations; k++) {
            const struct policy_annotation *a = &p->info.annotations[k];
            sb_puts(out, k ? "," : "");
            json_str(out, a->key, strlen(a->key));
            sb_puts(out, ":");
            json_str(out, a->value, a->value_len);
        }
        sb_puts(out, "},\"scope\":{");
        static const char *vars[] = {"principal", "action", "resource"};
        enum policy_scope_result r[3] = {en->principal, en->action, en->resource};
        for (int v = 0; v < 3; v++) {
            struct strbuf t = STRBUF_INIT;
            scope_text(&t, &p->scope[v], vars[v]);
            sb_printf(out, "%s\"%s\":{\"match\":%s,\"constraint\":", v ? "," : "", vars[v],
                      r[v] == POLICY_SCOPE_MATCH ? "true" : "false");
            json_str(out, t.buf, t.len);
            sb_puts(out, "}");
            sb_free(&t);
        }
        sb_puts(out, "},\"conditions\":[");
        for (size_t k = 0; k < en->nconds; k++) {
            const struct policy_explain_cond *c = &en->conds[k];
            sb_printf(out, "%s{\"kind\":\"%s\",\"line\":%u,\"column\":%u,\"result\":\"%s\"",
                      k ? "," : "", c->unless ? "unless" : "when", c->line, c->column,
                      cond_word(c->result));
            if (c->message) {
                sb_puts(out, ",\"message\":");
                json_str(out, c->message, strlen(c->message));
            }
            sb_puts(out, ",\"text\":");
            json_str(out, c->text, c->text_len);
            sb_puts(out, "}");
        }
        sb_printf(out, "],\"satisfied\":%s,\"errored\":%s,\"determining\":%s}",
                  en->satisfied ? "true" : "false", en->errored ? "true" : "false",
                  en->determining ? "true" : "false");
    }
    return sb_puts(out, "]}");
}
