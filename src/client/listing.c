/*
 * listing.c — the directory listing answer (GET /v1/fs/ROOT/DIR, docs/API.md),
 * read in one pass without building a JSON tree.
 *
 * Listings are the largest answers a client reads often: `custody mcp`'s
 * list_directory spent ~0.45 ms of its ~0.74 ms per 100-entry call in
 * jansson (an allocation and a hash insert per member). This reader walks
 * the text once and copies out only the members it keeps.
 *
 * It accepts exactly what the jansson reader (custody__decode_listing_ref,
 * json.c) accepts, and decodes it to the same entries, with three
 * exceptions. It also accepts two things in members it does not use:
 *   - a duplicate key in an object it skips;
 *   - a real number too large for a double.
 * And it refuses every raw NUL byte, where jansson skips one that follows
 * a number or a literal (JSON has no place for it).
 * Everything else follows json_loadb(JSON_REJECT_DUPLICATES):
 *   - strict JSON, object at the top, nothing after it but whitespace;
 *   - strings in UTF-8, no raw control characters, no \u0000, surrogates
 *     only in pairs;
 *   - integers within int64;
 *   - nesting at most 2048 deep.
 * fuzz/fuzz_client.c holds both readers to this on every input. A member
 * of the wrong kind ends the reading at once: the answer is malformed
 * whatever follows, so nothing more is read or allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

#define LIST_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define KEY_MAX 32          /* longer keys are none of ours: validated, not kept */

struct rd {
    const char *p, *end;
    int depth;
};

static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Consumes c (after whitespace) or fails. */
static int expect(struct rd *r, char c)
{
    ws(r);
    if (r->p >= r->end || *r->p != c) return CUSTODY_EPROTO;
    r->p++;
    return 0;
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = util_hexval(p[i]);
        if (h < 0) return CUSTODY_EPROTO;
        *v = *v << 4 | (uint32_t)h;
    }
    return 0;
}

/*
 * A string at r->p (its opening quote next, after whitespace). Decoded
 * into out when out is not NULL (out->len grows; NUL-terminated). With
 * out NULL, only checked. Raw runs must be UTF-8 (escapes are ASCII, so a
 * run is checked between them).
 */
static int string(struct rd *r, struct strbuf *out)
{
    if (expect(r, '"')) return CUSTODY_EPROTO;
    const char *run = r->p;
    for (;;) {
        if (r->p >= r->end) return CUSTODY_EPROTO;
        unsigned char c = (unsigned char)*r->p;
        if (c == '"' || c == '\\') {
            if (!util_utf8_valid(run, (size_t)(r->p - run))) return CUSTODY_EPROTO;
            if (out) sb_append(out, run, (size_t)(r->p - run));
            r->p++;
            if (c == '"') break;
            if (r->p >= r->end) return CUSTODY_EPROTO;
            char e = *r->p++, lit = 0;
            switch (e) {
            case '"':
                lit = '"';
                break;
            case '\\':
                lit = '\\';
                break;
            case '/':
                lit = '/';
                break;
            case 'b':
                lit = '\b';
                break;
            case 'f':
                lit = '\f';
                break;
            case 'n':
                lit = '\n';
                break;
            case 'r':
                lit = '\r';
                break;
            case 't':
                lit = '\t';
                break;
            case 'u': {
                uint32_t cp, lo;
                if (r->end - r->p < 4 || hex4(r->p, &cp)) return CUSTODY_EPROTO;
                r->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return CUSTODY_EPROTO; /* a lone low half */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
                        hex4(r->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                        return CUSTODY_EPROTO;
                    r->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) return CUSTODY_EPROTO; /* as jansson without JSON_ALLOW_NUL */
                if (out) {
                    char u[4];
                    sb_append(out, u, util_utf8_encode(cp, u));
                }
                break;
            }
            default:
                return CUSTODY_EPROTO;
            }
            if (lit && out) sb_append(out, &lit, 1);
            run = r->p;
        } else if (c < 0x20) {
            return CUSTODY_EPROTO;
        } else {
            r->p++;
        }
    }
    return 0;
}

/*
 * A number. *is_int tells whether it is an integer (no fraction, no
 * exponent), and then *v holds it; an integer outside int64 fails, as in
 * jansson.
 */
static int number(struct rd *r, bool *is_int, int64_t *v)
{
    ws(r);
    bool neg = false;
    if (r->p < r->end && *r->p == '-') {
        neg = true;
        r->p++;
    }
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return CUSTODY_EPROTO;
    uint64_t u = 0;
    bool big = false;
    if (*r->p == '0') {
        r->p++;
    } else {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            unsigned d = (unsigned)(*r->p++ - '0');
            if (u > (UINT64_MAX - d) / 10)
                big = true;
            else
                u = u * 10 + d;
        }
    }
    *is_int = true;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return CUSTODY_EPROTO;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        *is_int = false;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return CUSTODY_EPROTO;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        *is_int = false;
    }
    if (!*is_int) return 0;
    if (big || (!neg && u > (uint64_t)INT64_MAX) || (neg && u > (uint64_t)INT64_MAX + 1))
        return CUSTODY_EPROTO;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

static int literal(struct rd *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return CUSTODY_EPROTO;
    r->p += n;
    return 0;
}

static int value(struct rd *r);

/* A key: decoded into key (left "" when longer than KEY_MAX: nobody's).
 * Keys without escapes, i.e. all of custodyd's, are copied straight. */
static int key(struct rd *r, char k[KEY_MAX + 1])
{
    k[0] = '\0';
    ws(r);
    const char *q = r->p + 1;
    while (q < r->end && q - r->p <= KEY_MAX + 1 && *q != '"' && *q != '\\' &&
           (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80)
        q++;
    if (r->p < r->end && *r->p == '"' && q < r->end && *q == '"' &&
        (size_t)(q - r->p - 1) <= KEY_MAX) { /* plain ASCII, short */
        size_t n = (size_t)(q - r->p - 1);
        memcpy(k, r->p + 1, n);
        k[n] = '\0';
        r->p = q + 1;
        return expect(r, ':');
    }
    struct strbuf sb = STRBUF_INIT;
    int rc = string(r, &sb);
    /* a key with a NUL cannot happen (\u0000 is refused) */
    if (!rc && sb.len <= KEY_MAX) memcpy(k, sb.buf ? sb.buf : "", sb.len + 1);
    sb_free(&sb);
    return rc ? rc : expect(r, ':');
}

/*
 * Walks an object: for each member, calls fn with the key (or skips the
 * value when fn returns 1). fn reads the value itself.
 */
typedef int (*member_fn)(struct rd *r, const char *k, void *arg);

static int object(struct rd *r, member_fn fn, void *arg)
{
    if (expect(r, '{')) return CUSTODY_EPROTO;
    if (++r->depth > LIST_MAX_DEPTH) return CUSTODY_EPROTO;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        char k[KEY_MAX + 1];
        int rc = key(r, k);
        if (!rc) rc = fn ? fn(r, k, arg) : 1;
        if (rc == 1) rc = value(r);
        if (rc) return rc;
        ws(r);
        if (r->p >= r->end) return CUSTODY_EPROTO;
        char c = *r->p++;
        if (c == '}') break;
        if (c != ',') return CUSTODY_EPROTO;
    }
    r->depth--;
    return 0;
}

/* An array: fn reads each element (NULL: skip them). */
typedef int (*element_fn)(struct rd *r, void *arg);

static int array(struct rd *r, element_fn fn, void *arg)
{
    if (expect(r, '[')) return CUSTODY_EPROTO;
    if (++r->depth > LIST_MAX_DEPTH) return CUSTODY_EPROTO;
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        int rc = fn ? fn(r, arg) : value(r);
        if (rc) return rc;
        ws(r);
        if (r->p >= r->end) return CUSTODY_EPROTO;
        char c = *r->p++;
        if (c == ']') break;
        if (c != ',') return CUSTODY_EPROTO;
    }
    r->depth--;
    return 0;
}

/* Any value, checked and skipped. jansson counts a scalar as a level of
 * nesting too, so one inside LIST_MAX_DEPTH containers is too deep. */
static int value(struct rd *r)
{
    ws(r);
    if (r->p >= r->end) return CUSTODY_EPROTO;
    if (*r->p != '{' && *r->p != '[' && r->depth >= LIST_MAX_DEPTH) return CUSTODY_EPROTO;
    bool is_int;
    int64_t v;
    switch (*r->p) {
    case '{':
        return object(r, NULL, NULL);
    case '[':
        return array(r, NULL, NULL);
    case '"':
        return string(r, NULL);
    case 't':
        return literal(r, "true");
    case 'f':
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    default:
        return number(r, &is_int, &v);
    }
}

/* What comes next, without consuming it: '{', '[', '"', 't', 'f', 'n' or a number. */
static char peek(struct rd *r)
{
    ws(r);
    return r->p < r->end ? *r->p : '\0';
}

/* A member that must be a string: decoded into a fresh copy. */
static int str_member(struct rd *r, char **out)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = string(r, &sb);
    if (rc) {
        sb_free(&sb);
        return rc;
    }
    *out = sb.buf ? sb_detach(&sb) : util_strdup("");
    return 0;
}

/* A "size": an integer >= 0 (a real, a negative number or another kind of
 * value is malformed, as in the jansson reader). */
static int size_member(struct rd *r, uint64_t *out)
{
    char c = peek(r);
    if (c != '-' && (c < '0' || c > '9')) return CUSTODY_EPROTO;
    bool is_int;
    int64_t v = 0;
    int rc = number(r, &is_int, &v);
    if (rc) return rc;
    if (!is_int || v < 0) return CUSTODY_EPROTO;
    *out = (uint64_t)v;
    return 0;
}

/* ---- the target of a symlink: {"type": "...", "size": N} ---- */

struct target {
    char *type;
    uint64_t size;
    unsigned seen;
};

static int target_member(struct rd *r, const char *k, void *arg)
{
    struct target *t = arg;
    static const char *const keys[] = {"type", "size"};
    for (unsigned i = 0; i < 2; i++) {
        if (strcmp(k, keys[i]) != 0) continue;
        if (t->seen & 1u << i) return CUSTODY_EPROTO; /* duplicate */
        t->seen |= 1u << i;
        if (i == 0) {
            if (peek(r) != '"') return CUSTODY_EPROTO; /* a type that is not a string */
            return str_member(r, &t->type);
        }
        return size_member(r, &t->size);
    }
    return 1;
}

/* ---- one entry ---- */

enum { E_NAME, E_TYPE, E_SIZE, E_MTIME, E_ATIME, E_BTIME, E_MODE, E_TARGET, E_NKEYS };
static const char *const entry_keys[E_NKEYS] = {"name",  "type",  "size", "mtime",
                                                "atime", "btime", "mode", "target"};

struct entry {
    custody_dirent_t *d;
    char *type, *mode;
    unsigned seen;
};

/* A string member kept when it is a string, skipped (and left "") otherwise. */
static int opt_str(struct rd *r, char **out)
{
    if (peek(r) != '"') return 1;
    return str_member(r, out);
}

static int entry_member(struct rd *r, const char *k, void *arg)
{
    struct entry *e = arg;
    int i = 0;
    while (i < E_NKEYS && strcmp(k, entry_keys[i]) != 0)
        i++;
    if (i == E_NKEYS) return 1;
    if (e->seen & 1u << i) return CUSTODY_EPROTO; /* duplicate */
    e->seen |= 1u << i;
    custody_dirent_t *d = e->d;
    switch (i) {
    case E_NAME:
    case E_TYPE:
        if (peek(r) != '"') return CUSTODY_EPROTO; /* not a string */
        return str_member(r, i == E_NAME ? &d->name : &e->type);
    case E_SIZE:
        return size_member(r, &d->size);
    case E_MTIME:
        return opt_str(r, &d->mtime);
    case E_ATIME:
        return opt_str(r, &d->atime);
    case E_BTIME:
        return opt_str(r, &d->btime);
    case E_MODE:
        if (peek(r) != '"') return CUSTODY_EPROTO;
        return str_member(r, &e->mode);
    default: { /* E_TARGET */
        char c = peek(r);
        if (c == 'n') return literal(r, "null");
        if (c != '{') return CUSTODY_EPROTO;
        struct target t = {0};
        int rc = object(r, target_member, &t);
        if (!rc && (!t.type || !(t.seen & 2))) rc = CUSTODY_EPROTO; /* type and size, both */
        if (!rc && t.type) d->target_type = custody__type_parse(t.type);
        if (!rc) d->target_size = t.size;
        free(t.type);
        return rc;
    }
    }
}

struct listing {
    custody_dirent_t *d;
    size_t n, cap;
};

static int entry(struct rd *r, void *arg)
{
    struct listing *l = arg;
    if (peek(r) != '{') return CUSTODY_EPROTO; /* an element that is not an object */
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->d = util_realloc(l->d, l->cap * sizeof *l->d);
    }
    custody_dirent_t *d = &l->d[l->n++];
    memset(d, 0, sizeof *d);
    struct entry e = {.d = d};
    int rc = object(r, entry_member, &e);
    if (!rc && (!d->name || !d->name[0] || !e.type)) rc = CUSTODY_EPROTO;
    if (!rc) {
        d->type = custody__type_parse(e.type);
        d->mode = -1;
        if (e.mode && custody__mode_parse(e.mode, &d->mode)) rc = CUSTODY_EPROTO;
    }
    if (!d->mtime) d->mtime = util_strdup("");
    if (!d->atime) d->atime = util_strdup("");
    if (!d->btime) d->btime = util_strdup("");
    free(e.type);
    free(e.mode);
    return rc;
}

struct top {
    struct listing *l;
    unsigned seen;
    int truncated;
};

static int top_member(struct rd *r, const char *k, void *arg)
{
    struct top *t = arg;
    if (strcmp(k, "entries") == 0) {
        if (t->seen & 1) return CUSTODY_EPROTO;
        t->seen |= 1;
        if (peek(r) != '[') return CUSTODY_EPROTO;
        return array(r, entry, t->l);
    }
    if (strcmp(k, "truncated") == 0) {
        if (t->seen & 2) return CUSTODY_EPROTO;
        t->seen |= 2;
        char c = peek(r);
        if (c == 't' || c == 'f') {
            t->truncated = c == 't';
            return literal(r, c == 't' ? "true" : "false");
        }
        return CUSTODY_EPROTO; /* not a boolean */
    }
    return 1;
}

int custody__decode_listing(const char *body, size_t len, custody_dirent_t **out, size_t *n,
                            int *truncated)
{
    if (!body || len == 0 || len > CUSTODY_MAX_JSON_BYTES) return CUSTODY_EPROTO;
    struct rd r = {body, body + len, 0};
    struct listing l = {0};
    struct top t = {.l = &l};
    int rc = peek(&r) == '{' ? object(&r, top_member, &t) : CUSTODY_EPROTO;
    if (!rc) {
        ws(&r);
        if (r.p != r.end) rc = CUSTODY_EPROTO; /* something after the object */
    }
    if (!rc && !(t.seen & 1)) rc = CUSTODY_EPROTO; /* no entries */
    if (rc) {
        custody_dirents_free(l.d, l.n);
        return rc;
    }
    if (truncated) *truncated = t.truncated;
    *out = l.d ? l.d : util_calloc(1, sizeof *l.d);
    *n = l.n;
    return 0;
}
