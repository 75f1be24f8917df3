/* h1.c — strict HTTP/1.1 request-head parsing and chunked decoding. */
#include <string.h>

#include "h1.h"

/* tchar (RFC 9110 §5.6.2) */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-value characters: VCHAR, SP, HTAB, obs-text */
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* request-target characters we accept: visible ASCII (origin-form). */
static bool is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

int h1_parse_head(const char *buf, size_t len, struct h1_head *out, struct http_header *hdrs,
                  size_t max_headers, size_t max_uri)
{
    const char *p = buf, *end = buf + len;
    memset(out, 0, sizeof *out);
    out->headers = hdrs;

    /* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line */
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        p += 2;

    /* method */
    const char *m = p;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == m || p >= end || *p != ' ' || p - m > 32)
        return CUSTODY_EPROTO;
    out->method = m;
    out->method_len = (size_t)(p - m);
    p++;

    /* request-target */
    const char *t = p;
    while (p < end && is_target_char((unsigned char)*p))
        p++;
    if (p == t || p >= end || *p != ' ')
        return CUSTODY_EPROTO;
    if ((size_t)(p - t) > max_uri)
        return CUSTODY_ENAMETOOLONG;
    out->target = t;
    out->target_len = (size_t)(p - t);
    p++;

    /* HTTP-version */
    if (end - p < 10 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != '\r' || p[9] != '\n')
        return CUSTODY_EPROTO;
    if (p[7] == '1')
        out->version = 11;
    else if (p[7] == '0')
        out->version = 10;
    else
        return CUSTODY_EPROTO;
    p += 10;

    /* header fields */
    size_t n = 0;
    for (;;) {
        if (end - p < 2)
            return CUSTODY_EPROTO;
        if (p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        if (*p == ' ' || *p == '\t')
            return CUSTODY_EPROTO; /* obs-fold is refused (RFC 9112 §5.2) */
        const char *name = p;
        while (p < end && is_tchar((unsigned char)*p))
            p++;
        if (p == name || p >= end || *p != ':')
            return CUSTODY_EPROTO; /* no whitespace allowed before ':' */
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *v = p;
        while (p < end && is_field_char((unsigned char)*p))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return CUSTODY_EPROTO; /* bare CR, NUL or control characters */
        const char *vend = p;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        p += 2;
        if (n >= max_headers)
            return CUSTODY_EHEADERS;
        hdrs[n].name = name;
        hdrs[n].name_len = name_len;
        hdrs[n].value = v;
        hdrs[n].value_len = (size_t)(vend - v);
        n++;
    }
    if (p != end)
        return CUSTODY_EPROTO;
    out->nheaders = n;
    return 0;
}

const struct http_header *h1_find_header(const struct http_header *hdrs, size_t n,
                                         const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name_len == nl && util_ascii_ieq(hdrs[i].name, name, nl))
            return &hdrs[i];
    return NULL;
}

int h1_body_framing(const struct h1_head *h, int64_t *content_length, bool *chunked)
{
    *content_length = -1;
    *chunked = false;
    bool have_cl = false, have_te = false;
    uint64_t cl = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        const struct http_header *f = &h->headers[i];
        if (f->name_len == 14 && util_ascii_ieq(f->name, "content-length", 14)) {
            uint64_t v;
            if (util_parse_u64(f->value, f->value_len, &v) != 0 || v > INT64_MAX)
                return CUSTODY_EPROTO;
            if (have_cl && v != cl)
                return CUSTODY_EPROTO;
            have_cl = true;
            cl = v;
        } else if (f->name_len == 17 && util_ascii_ieq(f->name, "transfer-encoding", 17)) {
            /* only a single "chunked" coding is supported */
            if (have_te || f->value_len != 7 || !util_ascii_ieq(f->value, "chunked", 7))
                return CUSTODY_EPROTO;
            have_te = true;
        }
    }
    if (have_te && have_cl)
        return CUSTODY_EPROTO;
    if (have_te && h->version == 10)
        return CUSTODY_EPROTO;
    *chunked = have_te;
    if (have_cl)
        *content_length = (int64_t)cl;
    return 0;
}

enum {
    CH_SIZE = 0, /* hex digits */
    CH_EXT,      /* chunk extension until CRLF */
    CH_SIZE_LF,  /* expecting LF after CR */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,    /* start of a trailer line (or final CRLF) */
    CH_TRAILER_LN, /* inside a trailer line */
    CH_TRAILER_LF, /* LF ending a trailer line */
    CH_FINAL_LF,   /* LF of the final empty line */
    CH_DONE,
};

ssize_t h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len, h1_emit_fn emit,
                        void *arg, bool *done)
{
    size_t i = 0;
    *done = c->state == CH_DONE;
    while (i < len && c->state != CH_DONE) {
        char ch = in[i];
        switch (c->state) {
        case CH_SIZE: {
            int d = util_hexval(ch);
            if (d >= 0) {
                if (c->chunk_left > (UINT64_MAX >> 4))
                    return CUSTODY_EPROTO;
                c->chunk_left = (c->chunk_left << 4) | (uint64_t)d;
                c->size_digits = true;
            } else if (!c->size_digits) {
                return CUSTODY_EPROTO;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CH_EXT;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else {
                return CUSTODY_EPROTO;
            }
            if (++c->line_len > H1_CHUNK_LINE_MAX)
                return CUSTODY_EPROTO;
            i++;
            break;
        }
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n' || ch == '\0')
                return CUSTODY_EPROTO;
            if (++c->line_len > H1_CHUNK_LINE_MAX)
                return CUSTODY_EPROTO;
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return CUSTODY_EPROTO;
            i++;
            c->line_len = 0;
            c->size_digits = false;
            c->state = c->chunk_left ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = len - i;
            if (take > c->chunk_left)
                take = (size_t)c->chunk_left;
            int rc = emit(arg, in + i, take);
            if (rc)
                return rc;
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return CUSTODY_EPROTO;
            i++;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return CUSTODY_EPROTO;
            i++;
            c->state = CH_SIZE;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_FINAL_LF;
            } else {
                c->state = CH_TRAILER_LN;
                continue; /* re-examine as part of the line */
            }
            i++;
            break;
        case CH_TRAILER_LN:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (ch == '\n' || ch == '\0')
                return CUSTODY_EPROTO;
            if (++c->trailer_len > H1_TRAILER_MAX)
                return CUSTODY_EPROTO;
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return CUSTODY_EPROTO;
            i++;
            c->state = CH_TRAILER;
            break;
        case CH_FINAL_LF:
            if (ch != '\n')
                return CUSTODY_EPROTO;
            i++;
            c->state = CH_DONE;
            break;
        default:
            return CUSTODY_EPROTO;
        }
    }
    *done = c->state == CH_DONE;
    return (ssize_t)i;
}
