/*
 * json.c — Cedar's JSON formats: values (entity attributes, tags, request
 * contexts) and the entity list.
 *
 *   true/false, integers, strings, arrays (sets), objects (records),
 *   {"__entity": {"type": T, "id": I}}, {"__extn": {"fn": F, "arg": A}},
 *   {"__extn": {"fn": F, "args": [A, B]}}
 *
 * Its own strict reader (RFC 8259; no jansson here): Cedar strings and
 * attribute names may hold NUL (\u0000), which jansson refuses in object
 * keys. Floats, null and repeated keys are refused, as Cedar refuses them;
 * nesting is bounded. The text is read into a small tree in scratch memory
 * and converted from there.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { J_NULL, J_BOOL, J_INT, J_REAL, J_STR, J_ARR, J_OBJ };

struct jmem;

struct jnode {
    uint8_t type;
    bool b;
    uint32_t n; /* string bytes, array items, object members */
    size_t off; /* where it starts in the text, for messages */
    union {
        int64_t i;
        const char *s;
        struct jnode *items;
        struct jmem *mem;
    } u;
};

struct jmem {
    const char *key;
    uint32_t klen;
    struct jnode v;
};

#define JSON_MAX_DEPTH (POLICY_MAX_VALUE_DEPTH + 8)

struct reader {
    const char *start, *p, *end;
    struct pol_arena *a;
    unsigned depth;
    size_t err_off;
    const char *err;
};

static bool rfail(struct reader *r, const char *msg)
{
    if (!r->err) {
        r->err = msg;
        r->err_off = (size_t)(r->p - r->start);
    }
    return false;
}

static void ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int h = util_hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static bool read_string(struct reader *r, const char **out, uint32_t *outlen)
{
    r->p++; /* the quote */
    const char *q = r->p;
    while (q < r->end && *q != '"') {
        if (*q == '\\') q++;
        q++;
    }
    if (q >= r->end) return rfail(r, "unterminated string");
    if ((size_t)(q - r->p) > POLICY_MAX_JSON) return rfail(r, "string too long");
    char *buf = pol_alloc(r->a, (size_t)(q - r->p) + 1);
    size_t o = 0;
    while (r->p < q) {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) return rfail(r, "control character in string");
        if (c != '\\') {
            buf[o++] = (char)c;
            r->p++;
            continue;
        }
        char e = r->p[1];
        r->p += 2;
        static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *s = strchr(simple, e);
        if (e && s && (s - simple) % 2 == 0) {
            buf[o++] = s[1];
            continue;
        }
        if (e != 'u' || q - r->p < 4) return rfail(r, "invalid escape in string");
        int cp = hex4(r->p);
        if (cp < 0) return rfail(r, "invalid \\u escape");
        r->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            int lo = q - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' ? hex4(r->p + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return rfail(r, "unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            r->p += 6;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return rfail(r, "unpaired surrogate in \\u escape");
        }
        o += util_utf8_encode((uint32_t)cp, buf + o);
    }
    r->p = q + 1;
    buf[o] = '\0';
    *out = buf;
    *outlen = (uint32_t)o;
    return true;
}

static bool read_number(struct reader *r, struct jnode *out)
{
    const char *p = r->p;
    bool neg = *p == '-';
    if (neg) p++;
    if (p >= r->end || *p < '0' || *p > '9') return rfail(r, "invalid number");
    uint64_t mag = 0;
    bool ovf = false;
    const char *digits = p;
    while (p < r->end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p++ - '0');
        if (mag > (UINT64_MAX - d) / 10)
            ovf = true;
        else
            mag = mag * 10 + d;
    }
    if (*digits == '0' && p - digits > 1) return rfail(r, "leading zero in number");
    out->type = J_INT;
    if (p < r->end && (*p == '.' || *p == 'e' || *p == 'E')) {
        if (*p == '.') {
            p++;
            if (p >= r->end || *p < '0' || *p > '9') return rfail(r, "invalid number");
            while (p < r->end && *p >= '0' && *p <= '9')
                p++;
        }
        if (p < r->end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < r->end && (*p == '+' || *p == '-')) p++;
            if (p >= r->end || *p < '0' || *p > '9') return rfail(r, "invalid number");
            while (p < r->end && *p >= '0' && *p <= '9')
                p++;
        }
        out->type = J_REAL;
    } else if (ovf || mag > (uint64_t)INT64_MAX + neg) {
        return rfail(r, "integer out of the 64-bit range");
    } else {
        out->u.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    r->p = p;
    return true;
}

static int mem_qcmp(const void *a, const void *b)
{
    const struct jmem *x = *(struct jmem *const *)a, *y = *(struct jmem *const *)b;
    return pol_name_cmp(x->key, x->klen, y->key, y->klen);
}

static bool unique_keys(struct reader *r, struct jmem *m, uint32_t n)
{
    if (n < 2) return true;
    struct jmem **v = util_calloc(n, sizeof *v);
    for (uint32_t i = 0; i < n; i++)
        v[i] = &m[i];
    qsort(v, n, sizeof *v, mem_qcmp);
    bool ok = true;
    for (uint32_t i = 1; i < n && ok; i++)
        ok = mem_qcmp(&v[i - 1], &v[i]) != 0;
    free(v);
    return ok || rfail(r, "repeated member name in object");
}

static bool read_value(struct reader *r, struct jnode *out);

static bool read_list(struct reader *r, struct jnode *out, bool object)
{
    char close = object ? '}' : ']';
    r->p++;
    if (++r->depth > JSON_MAX_DEPTH) return rfail(r, "nested too deeply");
    struct jnode *items = NULL;
    struct jmem *mem = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
    } else {
        for (;;) {
            ws(r);
            if (n >= POLICY_MAX_ENTITIES) {
                ok = rfail(r, "too many elements");
                break;
            }
            if (object) {
                POL_GROW(mem, n, cap);
                if (r->p >= r->end || *r->p != '"') {
                    ok = rfail(r, "expected a member name");
                    break;
                }
                if (!(ok = read_string(r, &mem[n].key, &mem[n].klen))) break;
                ws(r);
                if (r->p >= r->end || *r->p != ':') {
                    ok = rfail(r, "expected `:`");
                    break;
                }
                r->p++;
                if (!(ok = read_value(r, &mem[n].v))) break;
            } else {
                POL_GROW(items, n, cap);
                if (!(ok = read_value(r, &items[n]))) break;
            }
            n++;
            ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == close) {
                r->p++;
                break;
            }
            ok = rfail(r, object ? "expected `,` or `}`" : "expected `,` or `]`");
            break;
        }
    }
    r->depth--;
    out->type = object ? J_OBJ : J_ARR;
    out->n = (uint32_t)n;
    if (ok && object) {
        out->u.mem = pol_memdup(r->a, mem, n * sizeof *mem);
        ok = unique_keys(r, out->u.mem, out->n);
    } else if (ok) {
        out->u.items = pol_memdup(r->a, items, n * sizeof *items);
    }
    free(items);
    free(mem);
    return ok;
}

static bool read_value(struct reader *r, struct jnode *out)
{
    ws(r);
    memset(out, 0, sizeof *out);
    out->off = (size_t)(r->p - r->start);
    if (r->p >= r->end) return rfail(r, "unexpected end of JSON");
    size_t left = (size_t)(r->end - r->p);
    switch (*r->p) {
    case '{':
        return read_list(r, out, true);
    case '[':
        return read_list(r, out, false);
    case '"':
        out->type = J_STR;
        return read_string(r, &out->u.s, &out->n);
    case 't':
    case 'f':
    case 'n': {
        static const char *words[] = {"true", "false", "null"};
        for (int i = 0; i < 3; i++) {
            size_t wl = strlen(words[i]);
            if (left >= wl && memcmp(r->p, words[i], wl) == 0) {
                r->p += wl;
                out->type = i == 2 ? J_NULL : J_BOOL;
                out->b = i == 0;
                return true;
            }
        }
        return rfail(r, "invalid literal");
    }
    default:
        return read_number(r, out);
    }
}

/* Reads text into a tree in a; 0 or CUSTODY_EINVAL / ETOOBIG with err set. */
static int parse(struct pol_arena *a, const char *text, size_t len, struct jnode *root,
                 struct strbuf *err)
{
    if (len > POLICY_MAX_JSON) {
        if (err) sb_printf(err, "JSON text over %u bytes", POLICY_MAX_JSON);
        return CUSTODY_ETOOBIG;
    }
    struct reader r = {.start = text, .p = text, .end = text + len, .a = a};
    bool ok = util_utf8_valid(text, len) || rfail(&r, "invalid UTF-8");
    if (ok) ok = read_value(&r, root);
    if (ok) {
        ws(&r);
        if (r.p != r.end) ok = rfail(&r, "text after the JSON value");
    }
    if (ok) return 0;
    if (err) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < r.err_off && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        sb_printf(err, "%u:%u: %s", line, col, r.err);
    }
    return strcmp(r.err, "nested too deeply") == 0 ? CUSTODY_ETOOBIG : CUSTODY_EINVAL;
}

static const struct jnode *get(const struct jnode *o, const char *key)
{
    if (o->type != J_OBJ) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < o->n; i++)
        if (o->u.mem[i].klen == kl && memcmp(o->u.mem[i].key, key, kl) == 0) return &o->u.mem[i].v;
    return NULL;
}

/* ---- conversion to values ---- */

static int jfail(struct strbuf *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(struct strbuf *msg, const char *fmt, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        sb_vprintf(msg, fmt, ap);
        va_end(ap);
    }
    return CUSTODY_EINVAL;
}

/* A uid pointing into the tree's strings (no copy). */
static int uid_ref(const struct jnode *j, struct policy_uid *out, struct strbuf *msg)
{
    if (j->type == J_OBJ && j->n == 1 && get(j, "__entity")) j = get(j, "__entity");
    const struct jnode *t = get(j, "type"), *id = get(j, "id");
    if (j->n != 2 || !t || !id || t->type != J_STR || id->type != J_STR)
        return jfail(msg, "an entity uid is {\"type\": \"...\", \"id\": \"...\"}");
    if (t->n > POLICY_MAX_STRING || id->n > POLICY_MAX_STRING) {
        jfail(msg, "entity type or id longer than %u bytes", POLICY_MAX_STRING);
        return CUSTODY_ETOOBIG;
    }
    if (!pol_valid_type(t->u.s, t->n))
        return jfail(msg, "invalid entity type `%.*s`", (int)UTIL_MIN(t->n, 64), t->u.s);
    policy_uid_init(out, t->u.s, t->n, id->u.s, id->n);
    return 0;
}

static int value(struct pol_arena *a, const struct jnode *j, unsigned flags, unsigned depth,
                 struct policy_value *out, struct strbuf *msg);

static int record(struct pol_arena *a, const struct jnode *j, unsigned flags, unsigned depth,
                  struct policy_value *out, struct strbuf *msg)
{
    if (j->n > POLICY_MAX_ELEMS) {
        jfail(msg, "record with more than %u attributes", POLICY_MAX_ELEMS);
        return CUSTODY_ETOOBIG;
    }
    struct policy_attr *attrs = pol_alloc(a, (j->n ? j->n : 1) * sizeof *attrs);
    for (uint32_t i = 0; i < j->n; i++) {
        const struct jmem *m = &j->u.mem[i];
        if (m->klen > POLICY_MAX_STRING) {
            jfail(msg, "attribute name longer than %u bytes", POLICY_MAX_STRING);
            return CUSTODY_ETOOBIG;
        }
        attrs[i].name = pol_strndup(a, m->key, m->klen);
        attrs[i].name_len = m->klen;
        int rc = value(a, &m->v, flags, depth + 1, &attrs[i].value, msg);
        if (rc) return rc;
    }
    return policy_value_record_of(attrs, j->n, out) ? jfail(msg, "repeated attribute") : 0;
}

static int extn(struct pol_arena *a, const struct jnode *x, unsigned flags, unsigned depth,
                struct policy_value *out, struct strbuf *msg)
{
    const struct jnode *fn = get(x, "fn"), *arg = get(x, "arg"), *args = get(x, "args");
    if (!fn || fn->type != J_STR || x->n != 2 || (!arg && (!args || args->type != J_ARR)))
        return jfail(msg, "__extn is {\"fn\": \"...\", \"arg\": ...} or {\"fn\", \"args\": [...]}");
    int f = pol_ext_lookup(fn->u.s, fn->n);
    if (f < 0) {
        jfail(msg, "extension function `%.*s` is not supported", (int)UTIL_MIN(fn->n, 64), fn->u.s);
        return CUSTODY_EUNSUPPORTED;
    }
    struct policy_value argv[4];
    size_t n = arg ? 1 : args->n;
    if (n > 4) return jfail(msg, "too many arguments to `%s`", fn->u.s);
    for (size_t i = 0; i < n; i++) {
        int rc = value(a, arg ? arg : &args->u.items[i], flags, depth + 1, &argv[i], msg);
        if (rc) return rc;
    }
    struct strbuf m = STRBUF_INIT;
    int rc = pol_ext_call(f, argv, n, out, &m);
    if (rc) jfail(msg, "%s", m.buf ? m.buf : "bad extension value");
    sb_free(&m);
    return rc;
}

static int value(struct pol_arena *a, const struct jnode *j, unsigned flags, unsigned depth,
                 struct policy_value *out, struct strbuf *msg)
{
    memset(out, 0, sizeof *out);
    if (depth > POLICY_MAX_VALUE_DEPTH) {
        jfail(msg, "value nested deeper than %u levels", POLICY_MAX_VALUE_DEPTH);
        return CUSTODY_ETOOBIG;
    }
    switch (j->type) {
    case J_BOOL:
        *out = policy_bool(j->b);
        return 0;
    case J_INT:
        *out = policy_long(j->u.i);
        return 0;
    case J_REAL:
        return jfail(msg, "numbers must be integers");
    case J_NULL:
        return jfail(msg, "null is not a Cedar value");
    case J_STR:
        if (j->n > POLICY_MAX_STRING) {
            jfail(msg, "string longer than %u bytes", POLICY_MAX_STRING);
            return CUSTODY_ETOOBIG;
        }
        *out = policy_string(pol_strndup(a, j->u.s, j->n), j->n);
        return 0;
    case J_ARR: {
        if (j->n > POLICY_MAX_ELEMS) {
            jfail(msg, "set with more than %u elements", POLICY_MAX_ELEMS);
            return CUSTODY_ETOOBIG;
        }
        size_t n = j->n;
        struct policy_value *items = pol_alloc(a, (n ? n : 1) * sizeof *items);
        for (size_t i = 0; i < n; i++) {
            int rc = value(a, &j->u.items[i], flags, depth + 1, &items[i], msg);
            if (rc) return rc;
        }
        return policy_value_set_of(items, &n, out);
    }
    default:
        break;
    }
    const struct jnode *ent = get(j, "__entity"), *ext = get(j, "__extn");
    if (ent || ext || get(j, "__expr")) {
        if (j->n != 1)
            return jfail(msg, "an escape (__entity, __extn) must be the object's only member");
        if (ext) return extn(a, ext, flags, depth, out, msg);
        if (!ent) {
            jfail(msg, "__expr escapes are not supported");
            return CUSTODY_EUNSUPPORTED;
        }
    }
    if (ent || ((flags & POLICY_JSON_IMPLICIT_UIDS) && j->n == 2 && get(j, "type") &&
                get(j, "id") && get(j, "type")->type == J_STR && get(j, "id")->type == J_STR)) {
        struct policy_uid u;
        int rc = uid_ref(j, &u, msg);
        if (!rc) *out = policy_entity(pol_uid_copy(a, &u));
        return rc;
    }
    return record(a, j, flags, depth, out, msg);
}

/* ---- documents ---- */

struct policy_doc {
    struct pol_arena arena;
    struct policy_value value;
};

int policy_doc_parse(const char *json, size_t len, unsigned flags, struct policy_doc **out,
                     struct strbuf *err)
{
    *out = NULL;
    struct pol_arena tmp = {0};
    struct jnode root;
    int rc = parse(&tmp, json, len, &root, err);
    struct policy_doc *d = NULL;
    if (!rc) {
        d = util_calloc(1, sizeof *d);
        rc = value(&d->arena, &root, flags, 0, &d->value, err);
    }
    pol_arena_free(&tmp);
    if (rc) {
        policy_doc_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

const struct policy_value *policy_doc_value(const struct policy_doc *doc)
{
    return &doc->value;
}

void policy_doc_free(struct policy_doc *doc)
{
    if (!doc) return;
    pol_arena_free(&doc->arena);
    free(doc);
}

/* ---- entities ---- */

static int entity(struct policy_entities *es, const struct jnode *j, unsigned flags,
                  struct pol_entity **out, struct strbuf *msg)
{
    if (j->type != J_OBJ) return jfail(msg, "an entity is a JSON object");
    for (uint32_t i = 0; i < j->n; i++) {
        const char *k = j->u.mem[i].key;
        if (strcmp(k, "uid") && strcmp(k, "attrs") && strcmp(k, "parents") && strcmp(k, "tags"))
            return jfail(msg, "unknown member `%.*s`", (int)UTIL_MIN(j->u.mem[i].klen, 40), k);
    }
    const struct jnode *ju = get(j, "uid"), *attrs = get(j, "attrs"), *tags = get(j, "tags"),
                       *parents = get(j, "parents");
    if (!ju) return jfail(msg, "missing `uid`");
    struct policy_uid uid;
    int rc = uid_ref(ju, &uid, msg);
    if (rc) return rc;
    if ((attrs && attrs->type != J_OBJ) || (tags && tags->type != J_OBJ))
        return jfail(msg, "`attrs` and `tags` are objects");
    if (parents && parents->type != J_ARR) return jfail(msg, "`parents` is an array of uids");
    size_t np = parents ? parents->n : 0;
    if (np > POLICY_MAX_PARENTS) {
        jfail(msg, "more than %u parents", POLICY_MAX_PARENTS);
        return CUSTODY_ETOOBIG;
    }
    struct pol_entity *e = pol_alloc(&es->arena, sizeof *e);
    e->uid = pol_intern(es, &uid);
    e->attrs.type = e->tags.type = POLICY_RECORD;
    if (attrs && (rc = record(&es->arena, attrs, flags, 0, &e->attrs, msg))) return rc;
    if (tags && (rc = record(&es->arena, tags, flags, 0, &e->tags, msg))) return rc;
    e->parents = pol_alloc(&es->arena, (np ? np : 1) * sizeof *e->parents);
    for (size_t i = 0; i < np; i++) {
        struct policy_uid p;
        if ((rc = uid_ref(&parents->u.items[i], &p, msg))) return rc;
        e->parents[i] = &pol_intern(es, &p)->uid;
    }
    e->nparents = (uint32_t)np;
    *out = e;
    return 0;
}

int policy_entities_load_json(struct policy_entities *es, const char *json, size_t len,
                              unsigned flags, struct strbuf *err)
{
    struct pol_arena tmp = {0};
    struct jnode root;
    int rc = parse(&tmp, json, len, &root, err);
    if (!rc && root.type != J_ARR) rc = jfail(err, "the entities are a JSON array");
    if (!rc && root.n > POLICY_MAX_ENTITIES) {
        jfail(err, "more than %u entities", POLICY_MAX_ENTITIES);
        rc = CUSTODY_ETOOBIG;
    }
    struct pol_entity **ents = NULL;
    if (!rc) ents = util_calloc(root.n ? root.n : 1, sizeof *ents);
    for (size_t i = 0; !rc && i < root.n; i++) {
        struct strbuf m = STRBUF_INIT;
        rc = entity(es, &root.u.items[i], flags, &ents[i], &m);
        if (rc && err) sb_printf(err, "entity %zu: %s", i, m.buf ? m.buf : "invalid");
        sb_free(&m);
    }
    if (!rc) rc = pol_entities_commit(es, ents, root.n, err);
    free(ents);
    pol_arena_free(&tmp);
    if (!rc) rc = policy_entities_freeze(es, err);
    return rc;
}

int policy_entities_add_json(struct policy_entities *es, const struct policy_uid *uid,
                             const char *attrs_json, size_t attrs_len,
                             const struct policy_uid *parents, size_t nparents, struct strbuf *err)
{
    struct pol_arena tmp = {0};
    struct policy_value attrs = {.type = POLICY_RECORD};
    int rc = 0;
    if (attrs_json && attrs_len) {
        struct jnode root;
        rc = parse(&tmp, attrs_json, attrs_len, &root, err);
        if (!rc && root.type != J_OBJ) rc = jfail(err, "attributes are a JSON object");
        if (!rc) rc = record(&tmp, &root, 0, 0, &attrs, err);
    }
    if (!rc) rc = policy_entities_add(es, uid, &attrs, parents, nparents, NULL);
    pol_arena_free(&tmp);
    return rc;
}
