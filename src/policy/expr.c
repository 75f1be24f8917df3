/*
 * expr.c — Cedar expressions, by recursive descent:
 *
 *   Expr     ::= 'if' Expr 'then' Expr 'else' Expr | Or
 *   Or       ::= And {'||' And}              (n-ary node)
 *   And      ::= Relation {'&&' Relation}    (n-ary node)
 *   Relation ::= Add [RELOP Add | 'in' Add | 'has' (IDENT|STR) | 'like' STR
 *                     | 'is' Path ['in' Add]]
 *   Add      ::= Mult {('+'|'-') Mult}
 *   Mult     ::= Unary {'*' Unary}
 *   Unary    ::= ['!'{1,4} | '-'{1,4}] Member
 *   Member   ::= Primary {'.' IDENT ['(' Args ')'] | '[' STR ']'}
 *   Primary  ::= INT | STR | true | false | principal | action | resource
 *              | context | Path '::' STR | Path '(' Args ')' | '(' Expr ')'
 *              | '[' Args ']' | '{' [(IDENT|STR) ':' Expr {',' ...}] '}'
 *
 * Nesting is bounded (POLICY_MAX_DEPTH) and so is the height of the tree
 * (POLICY_MAX_AST_DEPTH), so neither this parser nor the evaluator can run
 * out of stack. Sets, records and extension calls whose arguments are all
 * literals are folded into literals here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool pol_reserved(const char *s, size_t n)
{
    static const char *words[] = {"true", "false", "if", "then", "else", "in", "is", "like", "has"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(words); i++)
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0) return true;
    return n >= 7 && memcmp(s, "__cedar", 7) == 0;
}

int pol_parse_fail(struct pol_parser *ps, int rc, const struct pol_token *at, const char *fmt, ...)
{
    if (ps->rc) return ps->rc;
    ps->rc = rc;
    sb_reset(ps->err);
    sb_printf(ps->err, "%u:%u: ", at->line, at->col);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(ps->err, fmt, ap);
    va_end(ap);
    return rc;
}

int pol_parse_advance(struct pol_parser *ps)
{
    if (ps->rc) return ps->rc;
    struct strbuf msg = STRBUF_INIT;
    ps->prev_end = (size_t)(ps->lx.cur - ps->lx.src);
    int rc = pol_lex_next(&ps->lx, &ps->tok, &msg);
    if (rc) pol_parse_fail(ps, rc, &ps->tok, "%s", msg.buf);
    sb_free(&msg);
    return ps->rc;
}

bool pol_parse_accept(struct pol_parser *ps, int kind)
{
    if (ps->rc || ps->tok.kind != kind) return false;
    pol_parse_advance(ps);
    return true;
}

static int unexpected(struct pol_parser *ps, const char *what)
{
    const struct pol_token *t = &ps->tok;
    if (t->kind == T_IDENT)
        return pol_parse_fail(ps, CUSTODY_ESYNTAX, t, "expected %s, found `%.*s`", what,
                              (int)UTIL_MIN(t->len, 40), t->p);
    if (t->kind == T_SLOT)
        return pol_parse_fail(ps, CUSTODY_EUNSUPPORTED, t, "templates (`%.*s`) are not supported",
                              (int)UTIL_MIN(t->len, 40), t->p);
    return pol_parse_fail(ps, CUSTODY_ESYNTAX, t, "expected %s, found %s", what,
                          pol_tok_name(t->kind));
}

int pol_parse_expect(struct pol_parser *ps, int kind, const char *what)
{
    if (ps->rc) return ps->rc;
    if (ps->tok.kind != kind) return unexpected(ps, what ? what : pol_tok_name(kind));
    return pol_parse_advance(ps);
}

static bool expect_word(struct pol_parser *ps, const char *word)
{
    if (ps->rc) return false;
    if (!pol_tok_is(&ps->tok, word)) {
        char what[32];
        snprintf(what, sizeof what, "`%s`", word);
        unexpected(ps, what);
        return false;
    }
    return pol_parse_advance(ps) == 0;
}

/* ---- names and entity literals ---- */

static int path(struct pol_parser *ps, struct pol_key *out, bool *at_str)
{
    struct strbuf sb = STRBUF_INIT;
    *at_str = false;
    for (;;) {
        const struct pol_token *t = &ps->tok;
        if (t->kind != T_IDENT) {
            sb_free(&sb);
            return unexpected(ps, "an identifier");
        }
        if (pol_reserved(t->p, t->len) || pol_tok_is(t, "principal") || pol_tok_is(t, "action") ||
            pol_tok_is(t, "resource") || pol_tok_is(t, "context")) {
            sb_free(&sb);
            return pol_parse_fail(ps, CUSTODY_ESYNTAX, t,
                                  "`%.*s` is reserved and cannot name a type", (int)t->len, t->p);
        }
        sb_append(&sb, t->p, t->len);
        if (pol_parse_advance(ps) || ps->tok.kind != T_DCOLON) break;
        if (pol_parse_advance(ps)) break;
        if (ps->tok.kind == T_STR) {
            *at_str = true;
            break;
        }
        sb_puts(&sb, "::");
    }
    if (!ps->rc) {
        out->s = pol_strndup(ps->a, sb.buf, sb.len);
        out->len = (uint32_t)sb.len;
    }
    sb_free(&sb);
    return ps->rc;
}

int pol_parse_path(struct pol_parser *ps, struct pol_key *out)
{
    bool at_str;
    if (path(ps, out, &at_str)) return ps->rc;
    if (at_str)
        return pol_parse_fail(ps, CUSTODY_ESYNTAX, &ps->tok, "expected a type, found an entity");
    return 0;
}

static int string_lit(struct pol_parser *ps, char **s, size_t *n)
{
    const struct pol_token *t = &ps->tok;
    if (t->kind != T_STR) return unexpected(ps, "a string");
    struct strbuf msg = STRBUF_INIT;
    int rc = pol_unescape(ps->a, t->p, t->len, s, n, &msg);
    if (rc)
        pol_parse_fail(ps, rc, t, "%s", msg.buf);
    else if (*n > POLICY_MAX_STRING)
        pol_parse_fail(ps, CUSTODY_ETOOBIG, t, "string longer than %u bytes", POLICY_MAX_STRING);
    sb_free(&msg);
    return ps->rc ? ps->rc : pol_parse_advance(ps);
}

static const struct policy_uid *entity_after_path(struct pol_parser *ps, const struct pol_key *ty)
{
    char *id;
    size_t idlen;
    if (string_lit(ps, &id, &idlen)) return NULL;
    struct policy_uid *u = pol_alloc(ps->a, sizeof *u);
    policy_uid_init(u, ty->s, ty->len, id, idlen);
    return u;
}

const struct policy_uid *pol_parse_entity(struct pol_parser *ps)
{
    struct pol_key ty;
    bool at_str;
    if (path(ps, &ty, &at_str)) return NULL;
    if (!at_str) {
        unexpected(ps, "`::\"id\"` (an entity)");
        return NULL;
    }
    return entity_after_path(ps, &ty);
}

/* ---- nodes ---- */

static struct pol_node *mk(struct pol_parser *ps, int op, const struct pol_token *at,
                           uint32_t nkids)
{
    struct pol_node *n = pol_alloc(ps->a, sizeof *n);
    n->op = (uint8_t)op;
    n->line = at->line;
    n->col = at->col;
    n->nkids = nkids;
    n->height = 1;
    if (nkids) n->kids = pol_alloc(ps->a, nkids * sizeof *n->kids);
    return n;
}

/* Sets n's height from its kids (all set by now); NULL when too tall. */
static struct pol_node *done(struct pol_parser *ps, struct pol_node *n)
{
    unsigned h = 0;
    for (uint32_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->height > h) h = n->kids[i]->height;
    if (h + 1 > POLICY_MAX_AST_DEPTH) {
        struct pol_token at = {.line = n->line, .col = n->col};
        pol_parse_fail(ps, CUSTODY_ETOOBIG, &at, "expression deeper than %u levels",
                       POLICY_MAX_AST_DEPTH);
        return NULL;
    }
    n->height = (uint16_t)(h + 1);
    return n;
}

static struct pol_node *binary(struct pol_parser *ps, int op, const struct pol_token *at,
                               struct pol_node *l, struct pol_node *r)
{
    struct pol_node *n = mk(ps, op, at, 2);
    n->kids[0] = l;
    n->kids[1] = r;
    return done(ps, n);
}

static struct pol_node *lit(struct pol_parser *ps, const struct pol_token *at,
                            struct policy_value v)
{
    struct pol_node *n = mk(ps, N_LIT, at, 0);
    n->u.lit = v;
    return n;
}

/* A growable list of kids, copied into the arena when complete. */
struct kids {
    struct pol_node **v;
    size_t n, cap;
    struct pol_key *keys;
    size_t keycap;
};

static struct pol_node *from_kids(struct pol_parser *ps, int op, const struct pol_token *at,
                                  struct kids *k)
{
    struct pol_node *n = mk(ps, op, at, (uint32_t)k->n);
    if (k->n) memcpy(n->kids, k->v, k->n * sizeof *k->v);
    if (k->keys) n->u.keys = pol_memdup(ps->a, k->keys, k->n * sizeof *k->keys);
    free(k->v);
    free(k->keys);
    return done(ps, n);
}

static bool all_lits(const struct pol_node *n)
{
    for (uint32_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->op != N_LIT) return false;
    return true;
}

/* Folds a set, record or extension call over literals into a literal. */
static struct pol_node *fold(struct pol_parser *ps, struct pol_node *n)
{
    if (!n || !all_lits(n)) return n;
    struct policy_value v;
    if (n->op == N_SET) {
        struct policy_value *items = pol_alloc(ps->a, (n->nkids ? n->nkids : 1) * sizeof *items);
        size_t k = n->nkids;
        for (size_t i = 0; i < k; i++)
            items[i] = n->kids[i]->u.lit;
        if (policy_value_set_of(items, &k, &v)) return n;
    } else if (n->op == N_RECORD) {
        struct policy_attr *attrs = pol_alloc(ps->a, (n->nkids ? n->nkids : 1) * sizeof *attrs);
        for (size_t i = 0; i < n->nkids; i++) {
            attrs[i].name = n->u.keys[i].s;
            attrs[i].name_len = n->u.keys[i].len;
            attrs[i].value = n->kids[i]->u.lit;
        }
        if (policy_value_record_of(attrs, n->nkids, &v)) return n;
    } else if (n->op == N_EXT) {
        struct policy_value args[4];
        if (n->nkids > 4) return n;
        for (size_t i = 0; i < n->nkids; i++)
            args[i] = n->kids[i]->u.lit;
        if (pol_ext_call(n->aux, args, n->nkids, &v, NULL))
            return n; /* it errors at evaluation, as Cedar does */
    } else {
        return n;
    }
    n->op = N_LIT;
    n->aux = 0;
    n->nkids = 0;
    n->kids = NULL;
    n->height = 1;
    n->u.lit = v;
    return n;
}

static bool enter(struct pol_parser *ps)
{
    if (++ps->depth > POLICY_MAX_DEPTH) {
        pol_parse_fail(ps, CUSTODY_ETOOBIG, &ps->tok, "expression nested deeper than %u levels",
                       POLICY_MAX_DEPTH);
        return false;
    }
    return true;
}

/* Comma-separated expressions up to `close` (a trailing comma is allowed). */
static bool expr_list(struct pol_parser *ps, int close, struct kids *k)
{
    while (!ps->rc && ps->tok.kind != close) {
        if (k->n >= POLICY_MAX_ELEMS) {
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &ps->tok, "more than %u elements",
                           POLICY_MAX_ELEMS);
            break;
        }
        struct pol_node *e = pol_parse_expr(ps);
        if (!e) break;
        POL_GROW(k->v, k->n, k->cap);
        k->v[k->n++] = e;
        if (!pol_parse_accept(ps, T_COMMA)) break;
    }
    if (!ps->rc) pol_parse_expect(ps, close, pol_tok_name(close));
    if (ps->rc) {
        free(k->v);
        free(k->keys);
        return false;
    }
    return true;
}

static struct pol_node *record(struct pol_parser *ps, const struct pol_token *at)
{
    struct kids k = {0};
    while (!ps->rc && ps->tok.kind != T_RBRACE) {
        struct pol_token kt = ps->tok;
        struct pol_key key;
        if (kt.kind == T_IDENT) {
            if (pol_reserved(kt.p, kt.len)) {
                pol_parse_fail(ps, CUSTODY_ESYNTAX, &kt, "`%.*s` is reserved", (int)kt.len, kt.p);
                break;
            }
            key.s = pol_strndup(ps->a, kt.p, kt.len);
            key.len = kt.len;
            pol_parse_advance(ps);
        } else if (kt.kind == T_STR) {
            char *s;
            size_t n;
            if (string_lit(ps, &s, &n)) break;
            key.s = s;
            key.len = (uint32_t)n;
        } else {
            unexpected(ps, "an attribute name");
            break;
        }
        for (size_t i = 0; i < k.n; i++)
            if (pol_name_cmp(k.keys[i].s, k.keys[i].len, key.s, key.len) == 0)
                pol_parse_fail(ps, CUSTODY_ESYNTAX, &kt, "duplicate attribute `%.*s`",
                               (int)UTIL_MIN(key.len, 40), key.s);
        if (pol_parse_expect(ps, T_COLON, "`:`")) break;
        if (k.n >= POLICY_MAX_ELEMS) {
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &kt, "more than %u attributes", POLICY_MAX_ELEMS);
            break;
        }
        struct pol_node *e = pol_parse_expr(ps);
        if (!e) break;
        POL_GROW(k.v, k.n, k.cap);
        POL_GROW(k.keys, k.n, k.keycap);
        k.v[k.n] = e;
        k.keys[k.n++] = key;
        if (!pol_parse_accept(ps, T_COMMA)) break;
    }
    if (!ps->rc) pol_parse_expect(ps, T_RBRACE, "`}`");
    if (ps->rc) {
        free(k.v);
        free(k.keys);
        return NULL;
    }
    if (!k.keys) {
        k.keys = util_calloc(1, sizeof *k.keys); /* so from_kids records the (empty) names */
    }
    return fold(ps, from_kids(ps, N_RECORD, at, &k));
}

static struct pol_node *call(struct pol_parser *ps, const struct pol_token *at,
                             const struct pol_key *name)
{
    int fn = strchr(name->s, ':') ? -1 : pol_ext_lookup(name->s, name->len);
    if (fn < 0) {
        pol_parse_fail(ps, CUSTODY_EUNSUPPORTED, at, "function `%s` is not supported", name->s);
        return NULL;
    }
    if (pol_ext_info(fn)->method) {
        pol_parse_fail(ps, CUSTODY_ESYNTAX, at, "`%s` is a method: call it as x.%s(...)", name->s,
                       name->s);
        return NULL;
    }
    struct kids k = {0};
    if (!expr_list(ps, T_RPAREN, &k)) return NULL;
    struct pol_node *n = from_kids(ps, N_EXT, at, &k);
    if (n) n->aux = (uint8_t)fn;
    return fold(ps, n);
}

static struct pol_node *primary(struct pol_parser *ps)
{
    struct pol_token t = ps->tok;
    switch (t.kind) {
    case T_INT: {
        uint64_t v;
        if (util_parse_u64(t.p, t.len, &v) || v > (uint64_t)INT64_MAX + 1) {
            pol_parse_fail(ps, CUSTODY_ESYNTAX, &t, "integer literal `%.*s` is too large",
                           (int)UTIL_MIN(t.len, 40), t.p);
            return NULL;
        }
        pol_parse_advance(ps);
        struct pol_node *n = lit(ps, &t, policy_long((int64_t)v));
        n->aux = v > INT64_MAX; /* only valid under a `-` */
        return n;
    }
    case T_STR: {
        char *s;
        size_t n;
        if (string_lit(ps, &s, &n)) return NULL;
        return lit(ps, &t, policy_string(s, n));
    }
    case T_LPAREN: {
        pol_parse_advance(ps);
        struct pol_node *e = pol_parse_expr(ps);
        if (!e || pol_parse_expect(ps, T_RPAREN, "`)`")) return NULL;
        return e;
    }
    case T_LBRACK: {
        pol_parse_advance(ps);
        struct kids k = {0};
        if (!expr_list(ps, T_RBRACK, &k)) return NULL;
        return fold(ps, from_kids(ps, N_SET, &t, &k));
    }
    case T_LBRACE:
        pol_parse_advance(ps);
        return record(ps, &t);
    case T_IDENT:
        break;
    default:
        unexpected(ps, "an expression");
        return NULL;
    }
    if (pol_tok_is(&t, "true") || pol_tok_is(&t, "false")) {
        pol_parse_advance(ps);
        return lit(ps, &t, policy_bool(t.p[0] == 't'));
    }
    static const char *vars[] = {"principal", "action", "resource", "context"};
    for (int i = 0; i < 4; i++) {
        if (pol_tok_is(&t, vars[i])) {
            pol_parse_advance(ps);
            struct pol_node *n = mk(ps, N_VAR, &t, 0);
            n->aux = (uint8_t)i;
            return n;
        }
    }
    if (pol_tok_is(&t, "if")) {
        pol_parse_fail(ps, CUSTODY_ESYNTAX, &t,
                       "`if` needs parentheses here: (if ... then ... else ...)");
        return NULL;
    }
    struct pol_key name;
    bool at_str;
    if (path(ps, &name, &at_str)) return NULL;
    if (at_str) {
        const struct policy_uid *u = entity_after_path(ps, &name);
        return u ? lit(ps, &t, policy_entity(u)) : NULL;
    }
    if (pol_parse_accept(ps, T_LPAREN)) return call(ps, &t, &name);
    if (!ps->rc)
        pol_parse_fail(ps, CUSTODY_ESYNTAX, &t,
                       "unknown variable `%s` (expected principal, action, resource, context, "
                       "an entity `Type::\"id\"` or a function call)",
                       name.s);
    return NULL;
}

static int method_op(const struct pol_key *m, int *arity)
{
    static const struct {
        const char *name;
        int op, arity;
    } builtin[] = {{"contains", N_CONTAINS, 1},        {"containsAll", N_CONTAINS_ALL, 1},
                   {"containsAny", N_CONTAINS_ANY, 1}, {"isEmpty", N_IS_EMPTY, 0},
                   {"getTag", N_GET_TAG, 1},           {"hasTag", N_HAS_TAG, 1}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(builtin); i++) {
        if (strlen(builtin[i].name) == m->len && memcmp(builtin[i].name, m->s, m->len) == 0) {
            *arity = builtin[i].arity;
            return builtin[i].op;
        }
    }
    return -1;
}

static struct pol_node *method(struct pol_parser *ps, struct pol_node *recv,
                               const struct pol_token *at, const struct pol_key *m)
{
    struct kids k = {0};
    POL_GROW(k.v, k.n, k.cap);
    k.v[k.n++] = recv;
    if (!expr_list(ps, T_RPAREN, &k)) return NULL;
    int arity, op = method_op(m, &arity);
    if (op >= 0) {
        if ((int)k.n - 1 != arity) {
            free(k.v);
            pol_parse_fail(ps, CUSTODY_ESYNTAX, at, "`%.*s` takes %d argument%s", (int)m->len, m->s,
                           arity, arity == 1 ? "" : "s");
            return NULL;
        }
        return from_kids(ps, op, at, &k);
    }
    int fn = pol_ext_lookup(m->s, m->len);
    if (fn < 0 || !pol_ext_info(fn)->method) {
        free(k.v);
        if (fn >= 0)
            pol_parse_fail(ps, CUSTODY_ESYNTAX, at, "`%.*s` is a function, not a method",
                           (int)m->len, m->s);
        else
            pol_parse_fail(ps, CUSTODY_EUNSUPPORTED, at, "method `%.*s` is not supported",
                           (int)UTIL_MIN(m->len, 40), m->s);
        return NULL;
    }
    struct pol_node *n = from_kids(ps, N_EXT, at, &k);
    if (n) n->aux = (uint8_t)fn;
    return fold(ps, n);
}

static struct pol_node *member(struct pol_parser *ps, bool *bare)
{
    /* an integer token, not (N): only a literal folds a `-` into itself */
    *bare = ps->tok.kind == T_INT;
    struct pol_node *n = primary(ps);
    while (n && !ps->rc) {
        struct pol_token at = ps->tok;
        if ((at.kind == T_DOT || at.kind == T_LBRACK) && n->op == N_LIT && n->aux &&
            n->u.lit.type == POLICY_LONG) {
            pol_parse_fail(ps, CUSTODY_ESYNTAX, &at, "integer literal is too large");
            return NULL;
        }
        if (at.kind == T_DOT) {
            pol_parse_advance(ps);
            struct pol_token nt = ps->tok;
            if (nt.kind != T_IDENT) {
                unexpected(ps, "an attribute or method name");
                return NULL;
            }
            struct pol_key name = {pol_strndup(ps->a, nt.p, nt.len), nt.len};
            pol_parse_advance(ps);
            if (pol_parse_accept(ps, T_LPAREN)) {
                if (!enter(ps)) return NULL;
                n = method(ps, n, &nt, &name);
                ps->depth--;
            } else {
                if (pol_reserved(nt.p, nt.len)) {
                    pol_parse_fail(ps, CUSTODY_ESYNTAX, &nt, "`%.*s` is reserved (use [\"%.*s\"])",
                                   (int)nt.len, nt.p, (int)nt.len, nt.p);
                    return NULL;
                }
                struct pol_node *g = mk(ps, N_GETATTR, &nt, 1);
                g->kids[0] = n;
                g->u.name = name;
                n = done(ps, g);
            }
        } else if (at.kind == T_LBRACK) {
            pol_parse_advance(ps);
            char *s;
            size_t len;
            if (string_lit(ps, &s, &len) || pol_parse_expect(ps, T_RBRACK, "`]`")) return NULL;
            struct pol_node *g = mk(ps, N_GETATTR, &at, 1);
            g->kids[0] = n;
            g->u.name.s = s;
            g->u.name.len = (uint32_t)len;
            n = done(ps, g);
        } else {
            break;
        }
        *bare = false;
    }
    return ps->rc ? NULL : n;
}

static struct pol_node *unary(struct pol_parser *ps)
{
    struct pol_token at = ps->tok;
    int kind = at.kind == T_NOT || at.kind == T_MINUS ? at.kind : 0;
    unsigned count = 0;
    while (kind && ps->tok.kind == kind && !ps->rc) {
        if (++count > 4) {
            pol_parse_fail(ps, CUSTODY_ESYNTAX, &ps->tok, "more than four `%s` in a row",
                           kind == T_NOT ? "!" : "-");
            return NULL;
        }
        pol_parse_advance(ps);
    }
    bool bare;
    struct pol_node *n = member(ps, &bare);
    if (!n) return NULL;
    if (n->op == N_LIT && n->u.lit.type == POLICY_LONG && bare) {
        if (kind == T_MINUS) {
            /* -N is a literal (so -9223372036854775808 is one) */
            n->u.lit.u.i = n->aux ? INT64_MIN : -n->u.lit.u.i;
            n->aux = 0;
            count--;
        } else if (n->aux) {
            pol_parse_fail(ps, CUSTODY_ESYNTAX, &at, "integer literal is too large");
            return NULL;
        }
    } else if (n->op == N_LIT && n->aux && n->u.lit.type == POLICY_LONG) {
        pol_parse_fail(ps, CUSTODY_ESYNTAX, &at, "integer literal is too large");
        return NULL;
    }
    for (unsigned i = 0; i < count && n; i++) {
        struct pol_node *u = mk(ps, kind == T_NOT ? N_NOT : N_NEG, &at, 1);
        u->kids[0] = n;
        n = done(ps, u);
    }
    return n;
}

static struct pol_node *mult(struct pol_parser *ps)
{
    struct pol_node *l = unary(ps);
    while (l && ps->tok.kind == T_STAR) {
        struct pol_token at = ps->tok;
        pol_parse_advance(ps);
        struct pol_node *r = unary(ps);
        l = r ? binary(ps, N_MUL, &at, l, r) : NULL;
    }
    return l;
}

static struct pol_node *add(struct pol_parser *ps)
{
    struct pol_node *l = mult(ps);
    while (l && (ps->tok.kind == T_PLUS || ps->tok.kind == T_MINUS)) {
        struct pol_token at = ps->tok;
        pol_parse_advance(ps);
        struct pol_node *r = mult(ps);
        l = r ? binary(ps, at.kind == T_PLUS ? N_ADD : N_SUB, &at, l, r) : NULL;
    }
    return l;
}

static struct pol_node *relation(struct pol_parser *ps)
{
    struct pol_node *l = add(ps);
    if (!l) return NULL;
    struct pol_token at = ps->tok;
    int op = -1;
    switch (at.kind) {
    case T_EQ:
        op = N_EQ;
        break;
    case T_NE:
        op = N_NE;
        break;
    case T_LT:
        op = N_LT;
        break;
    case T_LE:
        op = N_LE;
        break;
    case T_GT:
        op = N_GT;
        break;
    case T_GE:
        op = N_GE;
        break;
    case T_IDENT:
        if (pol_tok_is(&at, "in")) op = N_IN;
        break;
    }
    if (op >= 0) {
        pol_parse_advance(ps);
        struct pol_node *r = add(ps);
        return r ? binary(ps, op, &at, l, r) : NULL;
    }
    if (pol_tok_is(&at, "has")) {
        pol_parse_advance(ps);
        struct pol_token nt = ps->tok;
        struct pol_node *n = mk(ps, N_HAS, &at, 1);
        n->kids[0] = l;
        if (nt.kind == T_IDENT) {
            if (pol_reserved(nt.p, nt.len)) {
                pol_parse_fail(ps, CUSTODY_ESYNTAX, &nt, "`%.*s` is reserved (use \"%.*s\")",
                               (int)nt.len, nt.p, (int)nt.len, nt.p);
                return NULL;
            }
            n->u.name.s = pol_strndup(ps->a, nt.p, nt.len);
            n->u.name.len = nt.len;
            pol_parse_advance(ps);
            if (ps->tok.kind == T_DOT) {
                pol_parse_fail(ps, CUSTODY_EUNSUPPORTED, &ps->tok,
                               "`has` with an attribute path (a has b.c) is not supported");
                return NULL;
            }
        } else {
            char *s;
            size_t len;
            if (string_lit(ps, &s, &len)) return NULL;
            n->u.name.s = s;
            n->u.name.len = (uint32_t)len;
        }
        return done(ps, n);
    }
    if (pol_tok_is(&at, "like")) {
        pol_parse_advance(ps);
        struct pol_token pt = ps->tok;
        if (pt.kind != T_STR) {
            unexpected(ps, "a pattern string");
            return NULL;
        }
        struct pol_node *n = mk(ps, N_LIKE, &at, 1);
        n->kids[0] = l;
        struct strbuf msg = STRBUF_INIT;
        int rc = pol_unescape_pattern(ps->a, pt.p, pt.len, &n->u.pat, &msg);
        if (rc)
            pol_parse_fail(ps, rc, &pt, "%s", msg.buf);
        else if (n->u.pat->n > POLICY_MAX_STRING)
            pol_parse_fail(ps, CUSTODY_ETOOBIG, &pt, "pattern longer than %u bytes",
                           POLICY_MAX_STRING);
        sb_free(&msg);
        if (ps->rc || pol_parse_advance(ps)) return NULL;
        return done(ps, n);
    }
    if (pol_tok_is(&at, "is")) {
        pol_parse_advance(ps);
        struct pol_node *n = mk(ps, N_IS, &at, 1);
        n->kids[0] = l;
        if (pol_parse_path(ps, &n->u.name) || !done(ps, n)) return NULL;
        if (!pol_tok_is(&ps->tok, "in")) return n;
        /* x is T in y  ==  x is T && x in y */
        struct pol_token in = ps->tok;
        pol_parse_advance(ps);
        struct pol_node *r = add(ps);
        if (!r) return NULL;
        struct pol_node *m = binary(ps, N_IN, &in, l, r);
        return m ? binary(ps, N_AND, &at, n, m) : NULL;
    }
    return l;
}

static struct pol_node *nary(struct pol_parser *ps, int tok, int op,
                             struct pol_node *(*sub)(struct pol_parser *))
{
    struct pol_node *first = sub(ps);
    if (!first || ps->tok.kind != tok) return first;
    struct pol_token at = ps->tok;
    struct kids k = {0};
    POL_GROW(k.v, k.n, k.cap);
    k.v[k.n++] = first;
    while (ps->tok.kind == tok && !ps->rc) {
        pol_parse_advance(ps);
        struct pol_node *e = sub(ps);
        if (!e) {
            free(k.v);
            return NULL;
        }
        POL_GROW(k.v, k.n, k.cap);
        k.v[k.n++] = e;
    }
    return from_kids(ps, op, &at, &k);
}

static struct pol_node *and_expr(struct pol_parser *ps)
{
    return nary(ps, T_AND, N_AND, relation);
}

struct pol_node *pol_parse_expr(struct pol_parser *ps)
{
    if (ps->rc || !enter(ps)) return NULL;
    struct pol_node *n;
    struct pol_token at = ps->tok;
    if (pol_tok_is(&at, "if")) {
        pol_parse_advance(ps);
        n = mk(ps, N_IF, &at, 3);
        if (!(n->kids[0] = pol_parse_expr(ps)) || !expect_word(ps, "then") ||
            !(n->kids[1] = pol_parse_expr(ps)) || !expect_word(ps, "else") ||
            !(n->kids[2] = pol_parse_expr(ps)))
            n = NULL;
        else
            n = done(ps, n);
    } else {
        n = nary(ps, T_OR, N_OR, and_expr);
    }
    ps->depth--;
    return ps->rc ? NULL : n;
}
