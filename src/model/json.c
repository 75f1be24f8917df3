/*
 * json.c — the small bounded JSON reader behind the safetensors header and
 * index parsers (see internal.h for the contract).
 *
 * Grammar: RFC 8259. Strings: raw bytes must be valid UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF), control characters must be
 * escaped, escapes are \" \\ \/ \b \f \n \r \t and \uXXXX, where a high
 * surrogate must be followed by a low one (the pair becomes one 4-byte UTF-8
 * sequence) and a lone surrogate or \u0000 is refused. Numbers: -?(0|[1-9]d*)
 * (.d+)?([eE][+-]?d+)?. Whitespace: space, tab, LF, CR.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

void model_json_init(struct model_json *j, const char *p, size_t len, uint64_t base, char *err,
                     size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->p = p;
    j->len = len;
    j->base = base;
    j->err = err;
    j->errlen = errlen;
}

int model_json_fail(struct model_json *j, int rc, const char *fmt, ...)
{
    if (j->rc) return j->rc;
    j->rc = rc;
    if (j->err && j->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        model_seterr(j->err, j->errlen, "invalid JSON at byte %llu: %s",
                     (unsigned long long)(j->base + j->pos), msg);
    }
    return rc;
}

static void skip_ws(struct model_json *j)
{
    while (j->pos < j->len) {
        char c = j->p[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->pos++;
    }
}

uint64_t model_json_where(struct model_json *j)
{
    skip_ws(j);
    return j->base + j->pos;
}

static const char *show_char(int c, char buf[12])
{
    if (c < 0) return "end of input";
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, 12, "'%c'", c);
    else
        snprintf(buf, 12, "0x%02x", (unsigned)c);
    return buf;
}

static int next_char(struct model_json *j)
{
    skip_ws(j);
    return j->pos < j->len ? (unsigned char)j->p[j->pos] : -1;
}

int model_json_peek(struct model_json *j)
{
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    switch (c) {
    case '{':
        return MODEL_JSON_OBJECT;
    case '[':
        return MODEL_JSON_ARRAY;
    case '"':
        return MODEL_JSON_STRING;
    case 't':
    case 'f':
        return MODEL_JSON_BOOL;
    case 'n':
        return MODEL_JSON_NULL;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return MODEL_JSON_NUMBER;
        return model_json_fail(j, MODEL_EFORMAT, "expected a value, found %s", show_char(c, b));
    }
}

static int open_container(struct model_json *j, char open, const char *what)
{
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    if (c != open)
        return model_json_fail(j, MODEL_EFORMAT, "expected %s, found %s", what, show_char(c, b));
    if (j->depth >= MODEL_JSON_MAX_DEPTH)
        return model_json_fail(j, MODEL_ELIMIT, "nesting deeper than %d levels",
                               MODEL_JSON_MAX_DEPTH);
    j->pos++;
    j->depth++;
    j->first[j->depth] = 1;
    return 0;
}

int model_json_object_begin(struct model_json *j)
{
    return open_container(j, '{', "an object");
}

int model_json_array_begin(struct model_json *j)
{
    return open_container(j, '[', "an array");
}

/* Before the next member or element: 1 when one follows (after a ',' unless it
 * is the first), 0 when `close` ends the container. */
static int container_next(struct model_json *j, char close)
{
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    if (c == close) {
        j->pos++;
        j->depth--;
        return 0;
    }
    if (j->first[j->depth]) {
        j->first[j->depth] = 0;
        return 1;
    }
    if (c != ',')
        return model_json_fail(j, MODEL_EFORMAT, "expected ',' or '%c', found %s", close,
                               show_char(c, b));
    j->pos++;
    return 1;
}

int model_json_array_next(struct model_json *j)
{
    return container_next(j, ']');
}

int model_json_object_next(struct model_json *j, char **key, size_t *keylen, size_t maxkey)
{
    *key = NULL;
    int rc = container_next(j, '}');
    if (rc <= 0) return rc;
    int c = next_char(j);
    char b[12];
    if (c != '"')
        return model_json_fail(j, MODEL_EFORMAT, "expected a key, found %s", show_char(c, b));
    j->key_at = j->base + j->pos;
    rc = model_json_string(j, key, keylen, maxkey);
    if (rc) return rc;
    c = next_char(j);
    if (c != ':') {
        free(*key);
        *key = NULL;
        return model_json_fail(j, MODEL_EFORMAT, "expected ':' after a key, found %s",
                               show_char(c, b));
    }
    j->pos++;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p[i..i+4) (i + 4 <= end already checked). */
static long hex4(const char *p)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

size_t model_utf8_seq(const unsigned char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

bool model_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = model_utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* util_utf8_encode does the same, but the loader core links libc only. */
static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int model_json_string(struct model_json *j, char **s, size_t *len, size_t max)
{
    *s = NULL;
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    if (c != '"')
        return model_json_fail(j, MODEL_EFORMAT, "expected a string, found %s", show_char(c, b));
    size_t start = j->pos + 1, end = start;
    /* pass 1: find the closing quote; the raw length bounds the decoded one */
    while (end < j->len && j->p[end] != '"') {
        if ((unsigned char)j->p[end] < 0x20) {
            j->pos = end;
            return model_json_fail(j, MODEL_EFORMAT, "control character 0x%02x in a string",
                                   (unsigned)(unsigned char)j->p[end]);
        }
        end += j->p[end] == '\\' ? 2 : 1;
    }
    if (end >= j->len) {
        j->pos = j->len;
        return model_json_fail(j, MODEL_EFORMAT, "unterminated string");
    }
    char *out = malloc(end - start + 1);
    if (!out) return model_json_fail(j, MODEL_ENOMEM, "out of memory for a string");
    size_t o = 0, i = start;
    while (i < end) {
        unsigned char ch = (unsigned char)j->p[i];
        if (ch != '\\') {
            size_t n = model_utf8_seq((const unsigned char *)j->p + i, end - i);
            if (!n) {
                j->pos = i;
                free(out);
                return model_json_fail(j, MODEL_EFORMAT, "invalid UTF-8 in a string");
            }
            memcpy(out + o, j->p + i, n);
            o += n;
            i += n;
            continue;
        }
        char e = j->p[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            out[o++] = map[simple - "\"\\/bfnrt"];
            i += 2;
            continue;
        }
        if (e != 'u') {
            j->pos = i;
            free(out);
            return model_json_fail(j, MODEL_EFORMAT, "bad escape '\\%c'",
                                   e >= 0x20 && e < 0x7f ? e : '?');
        }
        long cp = i + 6 <= end ? hex4(j->p + i + 2) : -1;
        if (cp < 0) {
            j->pos = i;
            free(out);
            return model_json_fail(j, MODEL_EFORMAT, "bad \\u escape (want 4 hex digits)");
        }
        size_t used = 6;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            j->pos = i;
            free(out);
            return model_json_fail(j, MODEL_EFORMAT, "lone low surrogate \\u%04lx", cp);
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = -1;
            if (i + 12 <= end && j->p[i + 6] == '\\' && j->p[i + 7] == 'u') lo = hex4(j->p + i + 8);
            if (lo < 0xdc00 || lo > 0xdfff) {
                j->pos = i;
                free(out);
                return model_json_fail(j, MODEL_EFORMAT,
                                       "high surrogate \\u%04lx not followed by a low one", cp);
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            used = 12;
        }
        if (cp == 0) {
            j->pos = i;
            free(out);
            return model_json_fail(j, MODEL_EFORMAT, "\\u0000 (NUL) in a string");
        }
        o += put_utf8(out + o, (unsigned long)cp);
        i += used;
    }
    out[o] = '\0';
    if (o > max) {
        j->pos = start - 1;
        free(out);
        return model_json_fail(j, MODEL_ELIMIT, "string of %zu bytes (at most %zu)", o, max);
    }
    j->pos = end + 1;
    *s = out;
    if (len) *len = o;
    return 0;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(struct model_json *j, size_t *start_out, bool *is_uint, uint64_t *u)
{
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    size_t i = j->pos, start = i;
    const char *p = j->p;
    bool neg = false, frac = false, overflow = false;
    uint64_t v = 0;
    if (c == '-') {
        neg = true;
        i++;
    }
    if (i >= j->len || !is_digit(p[i])) {
        j->pos = i;
        return model_json_fail(j, MODEL_EFORMAT, "expected a number, found %s",
                               show_char(i < j->len ? (unsigned char)p[i] : -1, b));
    }
    if (p[i] == '0')
        i++;
    else
        while (i < j->len && is_digit(p[i])) {
            if (__builtin_mul_overflow(v, 10, &v) ||
                __builtin_add_overflow(v, (uint64_t)(p[i] - '0'), &v))
                overflow = true;
            i++;
        }
    if (i < j->len && p[i] == '.') {
        frac = true;
        i++;
        if (i >= j->len || !is_digit(p[i])) {
            j->pos = i;
            return model_json_fail(j, MODEL_EFORMAT, "digits must follow '.' in a number");
        }
        while (i < j->len && is_digit(p[i]))
            i++;
    }
    if (i < j->len && (p[i] == 'e' || p[i] == 'E')) {
        frac = true;
        i++;
        if (i < j->len && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= j->len || !is_digit(p[i])) {
            j->pos = i;
            return model_json_fail(j, MODEL_EFORMAT, "digits must follow the exponent of a number");
        }
        while (i < j->len && is_digit(p[i]))
            i++;
    }
    j->pos = i;
    *start_out = start;
    *is_uint = !neg && !frac && !overflow;
    *u = v;
    if (!neg && !frac && overflow) return 1; /* an integer above 2^64 - 1 */
    return 0;
}

int model_json_u64(struct model_json *j, uint64_t *v)
{
    size_t start;
    bool is_uint;
    uint64_t u;
    size_t at = (size_t)(model_json_where(j) - j->base);
    int rc = scan_number(j, &start, &is_uint, &u);
    if (rc < 0) return rc;
    if (!is_uint) {
        j->pos = at;
        return model_json_fail(j, rc == 1 ? MODEL_ELIMIT : MODEL_EFORMAT,
                               rc == 1 ? "integer does not fit 64 bits"
                                       : "expected a non-negative integer");
    }
    *v = u;
    return 0;
}

int model_json_number(struct model_json *j, const char **start, size_t *len)
{
    size_t s;
    bool is_uint;
    uint64_t u;
    int rc = scan_number(j, &s, &is_uint, &u);
    if (rc < 0) return rc;
    *start = j->p + s;
    *len = j->pos - s;
    return 0;
}

int model_json_literal(struct model_json *j, int *type, bool *b)
{
    static const struct {
        const char *text;
        int type;
        bool value;
    } lits[] = {{"true", MODEL_JSON_BOOL, true},
                {"false", MODEL_JSON_BOOL, false},
                {"null", MODEL_JSON_NULL, false}};
    if (j->rc) return j->rc;
    int c = next_char(j);
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t n = strlen(lits[k].text);
        if (c == lits[k].text[0]) {
            if (j->len - j->pos < n || memcmp(j->p + j->pos, lits[k].text, n) != 0) break;
            j->pos += n;
            *type = lits[k].type;
            if (b) *b = lits[k].value;
            return 0;
        }
    }
    return model_json_fail(j, MODEL_EFORMAT, "invalid literal (want true, false or null)");
}

static int skip_object(struct model_json *j)
{
    int rc = model_json_object_begin(j);
    if (rc) return rc;
    const char **keys = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        char *key;
        size_t keylen;
        rc = model_json_object_next(j, &key, &keylen, j->len);
        if (rc <= 0) break;
        if (model_grow((void **)&keys, &cap, n + 1, sizeof *keys)) {
            free(key);
            rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
            break;
        }
        keys[n++] = key;
        rc = model_json_skip(j);
        if (rc) break;
    }
    if (rc == 0) {
        const char **sorted = NULL;
        if (n > 1) {
            sorted = malloc(n * sizeof *sorted);
            if (!sorted) rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
        }
        if (sorted) {
            memcpy(sorted, keys, n * sizeof *sorted);
            int64_t d = model_first_dup(sorted, n);
            if (d >= 0) {
                struct model_shown k = model_show(sorted[d]);
                rc = model_json_fail(j, MODEL_EFORMAT,
                                     "duplicate key '%s' in an object ending here", k.s);
            }
            free(sorted);
        }
    }
    for (size_t k = 0; k < n; k++)
        free((char *)keys[k]);
    free(keys);
    return rc;
}

int model_json_skip(struct model_json *j)
{
    int t = model_json_peek(j);
    if (t < 0) return t;
    switch (t) {
    case MODEL_JSON_OBJECT:
        return skip_object(j);
    case MODEL_JSON_ARRAY: {
        int rc = model_json_array_begin(j);
        while (rc == 0 && (rc = model_json_array_next(j)) == 1)
            rc = model_json_skip(j);
        return rc;
    }
    case MODEL_JSON_STRING: {
        char *s;
        int rc = model_json_string(j, &s, NULL, j->len);
        free(s);
        return rc;
    }
    case MODEL_JSON_NUMBER: {
        const char *s;
        size_t n;
        return model_json_number(j, &s, &n);
    }
    default: {
        int type;
        return model_json_literal(j, &type, NULL);
    }
    }
}

int model_json_end(struct model_json *j)
{
    if (j->rc) return j->rc;
    int c = next_char(j);
    char b[12];
    if (c >= 0)
        return model_json_fail(j, MODEL_EFORMAT, "trailing %s after the value", show_char(c, b));
    return 0;
}
