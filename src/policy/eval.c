/*
 * eval.c — evaluating scopes and conditions with Cedar's semantics. Values
 * made while evaluating (sets and records with computed elements) live in
 * the decision's scratch arena; nothing else is allocated. Recursion is
 * bounded by the tree height the parser allows (POLICY_MAX_AST_DEPTH).
 */
#include <string.h>

#include "internal.h"

static const struct policy_value g_empty_record = {.type = POLICY_RECORD};

int pol_eval_init(struct pol_eval *e, const struct policy_entities *es,
                  const struct policy_request *req, struct pol_arena *scratch, struct strbuf *msg)
{
    memset(e, 0, sizeof *e);
    e->es = es;
    e->req = req;
    e->scratch = scratch;
    e->msg = msg;
    const struct policy_value *ctx = req->context ? req->context : &g_empty_record;
    if (ctx->type != POLICY_RECORD) return CUSTODY_EINVAL;
    const struct policy_uid *uids[3] = {&req->principal, &req->action, &req->resource};
    e->given[0] = req->principal_entity;
    e->given[2] = req->resource_entity;
    for (int i = 0; i < 3; i++) {
        e->vars[i] = policy_entity(uids[i]);
        if (e->given[i]) {
            int rc = pol_given_ancestors(es, e->given[i], scratch, &e->anc[i], &e->nanc[i]);
            if (rc) return rc;
            continue;
        }
        e->ent[i] = pol_entity_find(es, uids[i]);
        if (e->ent[i]) {
            int rc = pol_entity_ancestors(es, e->ent[i], scratch, &e->anc[i], &e->nanc[i]);
            if (rc) return rc;
        }
    }
    e->vars[VAR_CONTEXT] = *ctx;
    return 0;
}

static bool var_in(const struct pol_eval *e, int var, const struct policy_uid *target)
{
    return policy_uid_eq(e->vars[var].u.uid, target) ||
           pol_anc_contains(e->anc[var], e->nanc[var], target);
}

static bool type_is(const struct policy_uid *u, const struct pol_key *type)
{
    return u->type_len == type->len && pol_bytes_eq(u->type, type->s, type->len);
}

bool pol_scope_match(const struct pol_eval *e, const struct pol_policy *p, int var)
{
    const struct pol_scope *sc = &p->scope[var];
    switch (sc->kind) {
    case SC_ANY:
        return true;
    case SC_EQ:
        return policy_uid_eq(e->vars[var].u.uid, sc->uid);
    case SC_IN:
        return var_in(e, var, sc->uid);
    case SC_IS:
        return type_is(e->vars[var].u.uid, &sc->type);
    case SC_IS_IN:
        return type_is(e->vars[var].u.uid, &sc->type) && var_in(e, var, sc->uid);
    case SC_IN_LIST:
        for (uint32_t i = 0; i < sc->nlist; i++)
            if (var_in(e, var, sc->list[i])) return true;
        return false;
    }
    return false;
}

/* ---- errors ---- */

static int fail(struct pol_eval *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct pol_eval *e, const char *fmt, ...)
{
    if (e->msg) {
        va_list ap;
        va_start(ap, fmt);
        sb_reset(e->msg);
        sb_vprintf(e->msg, fmt, ap);
        va_end(ap);
    }
    return CUSTODY_EINVAL;
}

static int type_error(struct pol_eval *e, const char *op, const char *want,
                      const struct policy_value *got)
{
    return fail(e, "type error: %s expects %s, got %s", op, want, pol_type_name(got));
}

static int no_entity(struct pol_eval *e, const struct policy_uid *u)
{
    if (e->msg) {
        sb_reset(e->msg);
        sb_puts(e->msg, "entity ");
        pol_uid_format(e->msg, u);
        sb_puts(e->msg, " does not exist");
    }
    return CUSTODY_EINVAL;
}

static int no_attr(struct pol_eval *e, const struct pol_key *name, const struct policy_value *on,
                   const char *what)
{
    if (e->msg) {
        sb_reset(e->msg);
        sb_printf(e->msg, "%s ", what);
        pol_str_format(e->msg, name->s, UTIL_MIN(name->len, 64));
        sb_puts(e->msg, " not found");
        if (on->type == POLICY_ENTITY) {
            sb_puts(e->msg, " on ");
            pol_uid_format(e->msg, on->u.uid);
        }
    }
    return CUSTODY_EINVAL;
}

/* ---- `in` ---- */

static int uid_in(struct pol_eval *e, const struct policy_uid *a, const struct policy_uid *b,
                  bool *out)
{
    if (policy_uid_eq(a, b)) {
        *out = true;
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (a == e->vars[i].u.uid) {
            *out = pol_anc_contains(e->anc[i], e->nanc[i], b);
            return 0;
        }
    }
    const struct policy_uid *const *anc;
    uint32_t n;
    int rc = pol_ancestors(e->es, a, e->scratch, &anc, &n);
    if (rc) return fail(e, "entity hierarchy over its limits");
    *out = pol_anc_contains(anc, n, b);
    return 0;
}

static int eval_in(struct pol_eval *e, const struct policy_value *l, const struct policy_value *r,
                   struct policy_value *out)
{
    if (l->type != POLICY_ENTITY) return type_error(e, "`in`", "an entity on the left", l);
    bool in = false;
    int rc;
    if (r->type == POLICY_ENTITY) {
        if ((rc = uid_in(e, l->u.uid, r->u.uid, &in))) return rc;
    } else if (r->type == POLICY_SET) {
        for (uint32_t i = 0; i < r->len; i++)
            if (r->u.set[i].type != POLICY_ENTITY)
                return type_error(e, "`in`", "a set of entities", &r->u.set[i]);
        for (uint32_t i = 0; i < r->len && !in; i++)
            if ((rc = uid_in(e, l->u.uid, r->u.set[i].u.uid, &in))) return rc;
    } else {
        return type_error(e, "`in`", "an entity or a set on the right", r);
    }
    *out = policy_bool(in);
    return 0;
}

/* ---- attributes and tags ---- */

static const struct policy_value *record_of(struct pol_eval *e, const struct policy_value *v,
                                            bool tags, bool *missing_entity)
{
    *missing_entity = false;
    if (v->type == POLICY_RECORD) return v;
    const struct pol_entity *ent = NULL;
    for (int i = 0; i < 3; i++) {
        if (v->u.uid != e->vars[i].u.uid) continue;
        if (e->given[i])
            return tags || !e->given[i]->attrs ? &g_empty_record : e->given[i]->attrs;
        ent = e->ent[i];
    }
    if (!ent) ent = pol_entity_find(e->es, v->u.uid);
    if (!ent) {
        *missing_entity = true;
        return &g_empty_record;
    }
    return tags ? &ent->tags : &ent->attrs;
}

static int get_attr(struct pol_eval *e, const struct pol_node *n, const struct policy_value *v,
                    struct policy_value *out)
{
    if (v->type != POLICY_RECORD && v->type != POLICY_ENTITY)
        return type_error(e, "attribute access", "an entity or a record", v);
    bool missing;
    const struct policy_value *rec = record_of(e, v, false, &missing);
    if (missing) return no_entity(e, v->u.uid);
    const struct policy_value *a = policy_record_get(rec, n->u.name.s, n->u.name.len);
    if (!a) return no_attr(e, &n->u.name, v, "attribute");
    *out = *a;
    return 0;
}

static int tag_op(struct pol_eval *e, int op, const struct policy_value *l,
                  const struct policy_value *r, struct policy_value *out)
{
    const char *name = op == N_GET_TAG ? "`getTag`" : "`hasTag`";
    if (l->type != POLICY_ENTITY) return type_error(e, name, "an entity", l);
    if (r->type != POLICY_STRING) return type_error(e, name, "a string tag", r);
    bool missing;
    const struct policy_value *tags = record_of(e, l, true, &missing);
    const struct policy_value *t = policy_record_get(tags, r->u.s, r->len);
    if (op == N_HAS_TAG) {
        *out = policy_bool(t != NULL);
        return 0;
    }
    if (missing) return no_entity(e, l->u.uid);
    if (!t) {
        struct pol_key k = {r->u.s, r->len};
        return no_attr(e, &k, l, "tag");
    }
    *out = *t;
    return 0;
}

/* ---- operators ---- */

static int compare(struct pol_eval *e, int op, const struct policy_value *l,
                   const struct policy_value *r, struct policy_value *out)
{
    static const char *names[] = {[N_LT] = "`<`", [N_LE] = "`<=`", [N_GT] = "`>`", [N_GE] = "`>=`"};
    bool ordered =
        l->type == POLICY_LONG || l->type == POLICY_DATETIME || l->type == POLICY_DURATION;
    if (!ordered) return type_error(e, names[op], "longs, datetimes or durations", l);
    if (r->type != l->type) return type_error(e, names[op], pol_type_name(l), r);
    int64_t a = l->u.i, b = r->u.i;
    *out = policy_bool(op == N_LT ? a < b : op == N_LE ? a <= b : op == N_GT ? a > b : a >= b);
    return 0;
}

static int arith(struct pol_eval *e, int op, const struct policy_value *l,
                 const struct policy_value *r, struct policy_value *out)
{
    static const char *names[] = {[N_ADD] = "`+`", [N_SUB] = "`-`", [N_MUL] = "`*`"};
    if (l->type != POLICY_LONG) return type_error(e, names[op], "longs", l);
    if (r->type != POLICY_LONG) return type_error(e, names[op], "longs", r);
    int64_t x;
    bool ovf = op == N_ADD   ? __builtin_add_overflow(l->u.i, r->u.i, &x)
               : op == N_SUB ? __builtin_sub_overflow(l->u.i, r->u.i, &x)
                             : __builtin_mul_overflow(l->u.i, r->u.i, &x);
    if (ovf)
        return fail(e, "integer overflow: %lld %c %lld", (long long)l->u.i,
                    op == N_ADD   ? '+'
                    : op == N_SUB ? '-'
                                  : '*',
                    (long long)r->u.i);
    *out = policy_long(x);
    return 0;
}

static int set_op(struct pol_eval *e, int op, const struct policy_value *l,
                  const struct policy_value *r, struct policy_value *out)
{
    static const char *names[] = {[N_CONTAINS] = "`contains`",
                                  [N_CONTAINS_ALL] = "`containsAll`",
                                  [N_CONTAINS_ANY] = "`containsAny`"};
    if (l->type != POLICY_SET) return type_error(e, names[op], "a set", l);
    if (op == N_CONTAINS) {
        *out = policy_bool(pol_set_contains(l, r));
        return 0;
    }
    if (r->type != POLICY_SET) return type_error(e, names[op], "a set argument", r);
    bool all = true, any = false;
    for (uint32_t i = 0; i < r->len; i++) {
        if (pol_set_contains(l, &r->u.set[i]))
            any = true;
        else
            all = false;
        if (op == N_CONTAINS_ALL ? !all : any) break;
    }
    *out = policy_bool(op == N_CONTAINS_ALL ? all : any);
    return 0;
}

static int eval_bool(struct pol_eval *e, const struct pol_node *n, const char *what, bool *b)
{
    struct policy_value v = {0};
    int rc = pol_eval_expr(e, n, &v);
    if (rc) return rc;
    if (v.type != POLICY_BOOL) return type_error(e, what, "a bool", &v);
    *b = v.u.b;
    return 0;
}

static int eval_kids(struct pol_eval *e, const struct pol_node *n, struct policy_value **out)
{
    struct policy_value *v = pol_alloc(e->scratch, (n->nkids ? n->nkids : 1) * sizeof *v);
    for (uint32_t i = 0; i < n->nkids; i++) {
        int rc = pol_eval_expr(e, n->kids[i], &v[i]);
        if (rc) return rc;
    }
    *out = v;
    return 0;
}

static int eval_two(struct pol_eval *e, const struct pol_node *n, struct policy_value *l,
                    struct policy_value *r)
{
    int rc = pol_eval_expr(e, n->kids[0], l);
    return rc ? rc : pol_eval_expr(e, n->kids[1], r);
}

int pol_eval_expr(struct pol_eval *e, const struct pol_node *n, struct policy_value *out)
{
    struct policy_value l, r;
    bool b;
    int rc;
    switch (n->op) {
    case N_LIT:
        *out = n->u.lit;
        return 0;
    case N_VAR:
        *out = e->vars[n->aux];
        return 0;
    case N_AND:
    case N_OR:
        b = n->op == N_AND;
        for (uint32_t i = 0; i < n->nkids; i++) {
            if ((rc = eval_bool(e, n->kids[i], n->op == N_AND ? "`&&`" : "`||`", &b))) return rc;
            if (b != (n->op == N_AND)) break;
        }
        *out = policy_bool(b);
        return 0;
    case N_IF:
        if ((rc = eval_bool(e, n->kids[0], "`if`", &b))) return rc;
        return pol_eval_expr(e, n->kids[b ? 1 : 2], out);
    case N_NOT:
        if ((rc = eval_bool(e, n->kids[0], "`!`", &b))) return rc;
        *out = policy_bool(!b);
        return 0;
    case N_NEG:
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        if (l.type != POLICY_LONG) return type_error(e, "`-`", "a long", &l);
        if (l.u.i == INT64_MIN) return fail(e, "integer overflow: -(%lld)", (long long)l.u.i);
        *out = policy_long(-l.u.i);
        return 0;
    case N_EQ:
    case N_NE:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        *out = policy_bool(policy_value_eq(&l, &r) == (n->op == N_EQ));
        return 0;
    case N_LT:
    case N_LE:
    case N_GT:
    case N_GE:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        return compare(e, n->op, &l, &r, out);
    case N_ADD:
    case N_SUB:
    case N_MUL:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        return arith(e, n->op, &l, &r, out);
    case N_IN:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        return eval_in(e, &l, &r, out);
    case N_CONTAINS:
    case N_CONTAINS_ALL:
    case N_CONTAINS_ANY:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        return set_op(e, n->op, &l, &r, out);
    case N_IS_EMPTY:
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        if (l.type != POLICY_SET) return type_error(e, "`isEmpty`", "a set", &l);
        *out = policy_bool(l.len == 0);
        return 0;
    case N_GET_TAG:
    case N_HAS_TAG:
        if ((rc = eval_two(e, n, &l, &r))) return rc;
        return tag_op(e, n->op, &l, &r, out);
    case N_HAS: {
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        if (l.type != POLICY_RECORD && l.type != POLICY_ENTITY)
            return type_error(e, "`has`", "an entity or a record", &l);
        bool missing;
        const struct policy_value *rec = record_of(e, &l, false, &missing);
        *out = policy_bool(policy_record_get(rec, n->u.name.s, n->u.name.len) != NULL);
        return 0;
    }
    case N_GETATTR:
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        return get_attr(e, n, &l, out);
    case N_LIKE:
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        if (l.type != POLICY_STRING) return type_error(e, "`like`", "a string", &l);
        *out = policy_bool(pol_pattern_match(n->u.pat, l.u.s, l.len));
        return 0;
    case N_IS:
        if ((rc = pol_eval_expr(e, n->kids[0], &l))) return rc;
        if (l.type != POLICY_ENTITY) return type_error(e, "`is`", "an entity", &l);
        *out = policy_bool(type_is(l.u.uid, &n->u.name));
        return 0;
    case N_SET: {
        struct policy_value *items;
        if ((rc = eval_kids(e, n, &items))) return rc;
        size_t k = n->nkids;
        return policy_value_set_of(items, &k, out) ? fail(e, "set too large") : 0;
    }
    case N_RECORD: {
        struct policy_value *vals;
        if ((rc = eval_kids(e, n, &vals))) return rc;
        struct policy_attr *attrs =
            pol_alloc(e->scratch, (n->nkids ? n->nkids : 1) * sizeof *attrs);
        for (uint32_t i = 0; i < n->nkids; i++) {
            attrs[i].name = n->u.keys[i].s;
            attrs[i].name_len = n->u.keys[i].len;
            attrs[i].value = vals[i];
        }
        return policy_value_record_of(attrs, n->nkids, out) ? fail(e, "bad record") : 0;
    }
    case N_EXT: {
        struct policy_value *args;
        if ((rc = eval_kids(e, n, &args))) return rc;
        return pol_ext_call(n->aux, args, n->nkids, out, e->msg);
    }
    }
    return fail(e, "internal error: unknown node");
}

int pol_eval_cond(struct pol_eval *e, const struct pol_cond *c, bool *held)
{
    bool b = false;
    int rc = eval_bool(e, c->expr, c->unless ? "`unless`" : "`when`", &b);
    if (rc) return rc;
    *held = c->unless ? !b : b;
    return 0;
}
