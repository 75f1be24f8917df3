/*
 * parser.c — Cedar policies:
 *
 *   Policy    ::= {Annotation} ('permit' | 'forbid') '(' Scope ')' {Condition} ';'
 *   Annotation::= '@' IDENT ['(' STR ')']
 *   Scope     ::= Principal ',' Action ',' Resource
 *   Principal ::= 'principal' ['==' Entity | 'in' Entity | 'is' Path ['in' Entity]]
 *   Action    ::= 'action' ['==' Entity | 'in' Entity | 'in' '[' [Entity {',' Entity}] ']']
 *   Resource  ::= 'resource' (as Principal)
 *   Condition ::= ('when' | 'unless') '{' Expr '}'
 *
 * Templates (`?principal`, `?resource`) are refused as unsupported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int fail_at_offset(const char *text, size_t off, struct strbuf *err, const char *msg)
{
    unsigned line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            col++;
        }
    }
    sb_reset(err);
    sb_printf(err, "%u:%u: %s", line, col, msg);
    return CUSTODY_ESYNTAX;
}

/* Offset of the first byte that does not start a valid UTF-8 sequence. */
static size_t utf8_bad_offset(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        if (i + n > len || !util_utf8_valid(text + i, n)) return i;
        i += n;
    }
    return len;
}

static const struct policy_uid *scope_entity(struct pol_parser *ps)
{
    if (ps->tok.kind == T_SLOT) {
        pol_parse_fail(ps, CUSTODY_EUNSUPPORTED, &ps->tok, "templates (`%.*s`) are not supported",
                       (int)UTIL_MIN(ps->tok.len, 40), ps->tok.p);
        return NULL;
    }
    return pol_parse_entity(ps);
}

static bool is_action_type(const struct policy_uid *u)
{
    return (u->type_len == 6 && memcmp(u->type, "Action", 6) == 0) ||
           (u->type_len > 8 && memcmp(u->type + u->type_len - 8, "::Action", 8) == 0);
}

static int action_entity(struct pol_parser *ps, const struct policy_uid **out)
{
    struct pol_token at = ps->tok;
    *out = scope_entity(ps);
    if (!*out) return ps->rc;
    if (!is_action_type(*out))
        return pol_parse_fail(ps, CUSTODY_ESYNTAX, &at,
                              "the action scope takes entities of type `Action`, not `%s`",
                              (*out)->type);
    return 0;
}

/* principal / resource */
static int scope_var(struct pol_parser *ps, const char *var, struct pol_scope *sc)
{
    struct pol_token at = ps->tok;
    if (!pol_tok_is(&at, var)) {
        char what[32];
        snprintf(what, sizeof what, "`%s`", var);
        return pol_parse_expect(ps, -1, what);
    }
    if (pol_parse_advance(ps)) return ps->rc;
    if (pol_parse_accept(ps, T_EQ)) {
        sc->kind = SC_EQ;
        sc->uid = scope_entity(ps);
        return ps->rc;
    }
    if (pol_tok_is(&ps->tok, "in")) {
        pol_parse_advance(ps);
        if (ps->tok.kind == T_LBRACK)
            return pol_parse_fail(ps, CUSTODY_ESYNTAX, &ps->tok,
                                  "`%s in [...]` is only allowed for action", var);
        sc->kind = SC_IN;
        sc->uid = scope_entity(ps);
        return ps->rc;
    }
    if (pol_tok_is(&ps->tok, "is")) {
        pol_parse_advance(ps);
        sc->kind = SC_IS;
        if (pol_parse_path(ps, &sc->type)) return ps->rc;
        if (pol_tok_is(&ps->tok, "in")) {
            pol_parse_advance(ps);
            sc->kind = SC_IS_IN;
            sc->uid = scope_entity(ps);
        }
        return ps->rc;
    }
    sc->kind = SC_ANY;
    return 0;
}

static int scope_action(struct pol_parser *ps, struct pol_scope *sc)
{
    if (!pol_tok_is(&ps->tok, "action")) return pol_parse_expect(ps, -1, "`action`");
    if (pol_parse_advance(ps)) return ps->rc;
    if (pol_parse_accept(ps, T_EQ)) {
        sc->kind = SC_EQ;
        return action_entity(ps, &sc->uid);
    }
    if (!pol_tok_is(&ps->tok, "in")) {
        sc->kind = SC_ANY;
        return 0;
    }
    pol_parse_advance(ps);
    if (!pol_parse_accept(ps, T_LBRACK)) {
        sc->kind = SC_IN;
        return action_entity(ps, &sc->uid);
    }
    sc->kind = SC_IN_LIST;
    const struct policy_uid **list = NULL;
    size_t n = 0, cap = 0;
    while (!ps->rc && ps->tok.kind != T_RBRACK) {
        const struct policy_uid *u;
        if (n >= POLICY_MAX_ELEMS) {
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &ps->tok, "more than %u actions", POLICY_MAX_ELEMS);
            break;
        }
        if (action_entity(ps, &u)) break;
        POL_GROW(list, n, cap);
        list[n++] = u;
        if (!pol_parse_accept(ps, T_COMMA)) break;
    }
    if (!ps->rc && !pol_parse_expect(ps, T_RBRACK, "`]`")) {
        sc->list = pol_memdup(ps->a, list, n * sizeof *list);
        sc->nlist = (uint32_t)n;
    }
    free(list);
    return ps->rc;
}

static int annotations(struct pol_parser *ps, struct pol_policy *p)
{
    struct policy_annotation *an = NULL;
    size_t n = 0, cap = 0;
    while (!ps->rc && ps->tok.kind == T_AT) {
        pol_parse_advance(ps);
        struct pol_token kt = ps->tok;
        if (kt.kind != T_IDENT) {
            pol_parse_expect(ps, T_IDENT, "an annotation name");
            break;
        }
        if (n >= POLICY_MAX_ANNOTATIONS) {
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &kt, "more than %u annotations",
                           POLICY_MAX_ANNOTATIONS);
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (strlen(an[i].key) == kt.len && memcmp(an[i].key, kt.p, kt.len) == 0)
                pol_parse_fail(ps, CUSTODY_ESYNTAX, &kt, "duplicate annotation `@%.*s`",
                               (int)kt.len, kt.p);
        POL_GROW(an, n, cap);
        struct policy_annotation *a = &an[n++];
        a->key = pol_strndup(ps->a, kt.p, kt.len);
        a->value = "";
        a->value_len = 0;
        if (pol_parse_advance(ps) || !pol_parse_accept(ps, T_LPAREN)) continue;
        struct pol_token vt = ps->tok;
        if (vt.kind != T_STR) {
            pol_parse_expect(ps, T_STR, "a string");
            break;
        }
        char *s;
        size_t len;
        struct strbuf msg = STRBUF_INIT;
        int rc = pol_unescape(ps->a, vt.p, vt.len, &s, &len, &msg);
        if (rc)
            pol_parse_fail(ps, rc, &vt, "%s", msg.buf);
        else if (len > POLICY_MAX_STRING)
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &vt, "annotation longer than %u bytes",
                           POLICY_MAX_STRING);
        sb_free(&msg);
        if (ps->rc) break;
        a->value = s;
        a->value_len = (uint32_t)len;
        pol_parse_advance(ps);
        pol_parse_expect(ps, T_RPAREN, "`)`");
    }
    if (!ps->rc && n) {
        p->info.annotations = pol_memdup(ps->a, an, n * sizeof *an);
        p->info.nannotations = n;
    }
    free(an);
    return ps->rc;
}

static int conditions(struct pol_parser *ps, struct pol_policy *p, const char *text)
{
    struct pol_cond *c = NULL;
    size_t n = 0, cap = 0;
    while (!ps->rc) {
        struct pol_token at = ps->tok;
        bool when = pol_tok_is(&at, "when");
        if (!when && !pol_tok_is(&at, "unless")) break;
        pol_parse_advance(ps);
        if (pol_parse_expect(ps, T_LBRACE, "`{`")) break;
        if (ps->tok.kind == T_RBRACE) {
            pol_parse_fail(ps, CUSTODY_ESYNTAX, &ps->tok, "empty `%s` clause",
                           when ? "when" : "unless");
            break;
        }
        struct pol_node *e = pol_parse_expr(ps);
        if (!e || pol_parse_expect(ps, T_RBRACE, "`}`")) break;
        POL_GROW(c, n, cap);
        c[n].unless = !when;
        c[n].expr = e;
        c[n].line = at.line;
        c[n].col = at.col;
        c[n].text = text + at.off;
        c[n].text_len = ps->prev_end - at.off;
        n++;
    }
    if (!ps->rc && n) {
        p->conds = pol_memdup(ps->a, c, n * sizeof *c);
        p->nconds = (uint32_t)n;
    }
    free(c);
    return ps->rc;
}

static struct pol_policy *policy(struct pol_parser *ps, const char *text)
{
    struct pol_policy *p = pol_alloc(ps->a, sizeof *p);
    struct pol_token start = ps->tok;
    p->info.line = start.line;
    p->info.column = start.col;
    if (annotations(ps, p)) return NULL;
    struct pol_token et = ps->tok;
    if (pol_tok_is(&et, "permit"))
        p->info.effect = POLICY_PERMIT;
    else if (pol_tok_is(&et, "forbid"))
        p->info.effect = POLICY_FORBID;
    else {
        pol_parse_expect(ps, -1, "`permit` or `forbid`");
        return NULL;
    }
    if (pol_parse_advance(ps) || pol_parse_expect(ps, T_LPAREN, "`(`") ||
        scope_var(ps, "principal", &p->scope[VAR_PRINCIPAL]) ||
        pol_parse_expect(ps, T_COMMA, "`,`") || scope_action(ps, &p->scope[VAR_ACTION]) ||
        pol_parse_expect(ps, T_COMMA, "`,`") || scope_var(ps, "resource", &p->scope[VAR_RESOURCE]))
        return NULL;
    if (ps->tok.kind == T_COMMA) {
        pol_parse_fail(ps, CUSTODY_ESYNTAX, &ps->tok,
                       "expected `)` after the resource (the scope has three parts)");
        return NULL;
    }
    if (pol_parse_expect(ps, T_RPAREN, "`)`") || conditions(ps, p, text)) return NULL;
    if (ps->tok.kind != T_SEMI) {
        pol_parse_expect(ps, T_SEMI, "`when`, `unless` or `;`");
        return NULL;
    }
    pol_parse_advance(ps);
    p->info.text = text + start.off;
    p->info.text_len = ps->prev_end - start.off;
    return ps->rc ? NULL : p;
}

int pol_parse(struct pol_arena *a, const char *text, size_t len, struct pol_policy ***out,
              size_t *nout, size_t max_policies, struct strbuf *err)
{
    *out = NULL;
    *nout = 0;
    if (!util_utf8_valid(text, len))
        return fail_at_offset(text, utf8_bad_offset(text, len), err, "invalid UTF-8");
    if (memchr(text, '\0', len)) {
        size_t off = (size_t)((const char *)memchr(text, '\0', len) - text);
        return fail_at_offset(text, off, err, "NUL byte in policy text");
    }
    struct pol_parser ps = {.a = a, .err = err};
    pol_lex_init(&ps.lx, text, len);
    pol_parse_advance(&ps);
    struct pol_policy **list = NULL;
    size_t n = 0, cap = 0;
    while (!ps.rc && ps.tok.kind != T_EOF) {
        if (n >= max_policies) {
            pol_parse_fail(&ps, CUSTODY_ETOOBIG, &ps.tok, "more than %u policies",
                           POLICY_MAX_POLICIES);
            break;
        }
        struct pol_policy *p = policy(&ps, text);
        if (!p) break;
        POL_GROW(list, n, cap);
        list[n++] = p;
    }
    if (ps.rc) {
        free(list);
        return ps.rc;
    }
    *out = list;
    *nout = n;
    return 0;
}
