/*
 * codec.c — token strings <-> struct tok: base64 (both alphabets, padded
 * or not), V1 binary packets, and the V1 JSON form.
 *
 * A V1 macaroon is a sequence of packets, each
 *     4 lower-case hex digits (the packet's whole length, header included)
 *     key, one space, value, "\n"
 * in the order: location, identifier, cid... (one per first-party caveat),
 * signature (32 raw bytes). Third-party caveats (vid, cl packets) are
 * refused. The parser is strict: one spelling per token, so what it accepts
 * re-encodes to the same bytes libmacaroons would write.
 *
 * The JSON form is {"location": s, "identifier": s, "caveats": [{"cid": s}],
 * "signature": 64 hex digits}; location and caveats may be absent (empty),
 * any other member is refused.
 */
#include <pthread.h>
#include <string.h>

#include <jansson.h>

#include "token/internal.h"

/* ---- base64 ---- */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int tok_b64url_encode(const uint8_t *in, size_t len, struct strbuf *out)
{
    int rc = sb_reserve(out, len / 3 * 4 + 4);
    if (rc) return rc;
    char *p = out->buf + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = b64url_chars[v >> 18];
        *p++ = b64url_chars[(v >> 12) & 63];
        *p++ = b64url_chars[(v >> 6) & 63];
        *p++ = b64url_chars[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = b64url_chars[v >> 18];
        *p++ = b64url_chars[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = b64url_chars[v >> 18];
        *p++ = b64url_chars[(v >> 12) & 63];
        *p++ = b64url_chars[(v >> 6) & 63];
    }
    out->len = (size_t)(p - out->buf);
    out->buf[out->len] = '\0';
    return 0;
}

/* Base64 digits of both alphabets: the value in the low 6 bits, 0x40 for
 * the standard alphabet's +/, 0x80 for base64url's -_, 0xff when invalid. */
static uint8_t b64_table[256];

static void b64_table_init(void)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t t[256];
    memset(t, 0xff, sizeof t);
    for (int i = 0; i < 64; i++)
        t[(unsigned char)std[i]] = (uint8_t)(i | (i >= 62 ? 0x40 : 0));
    t['-'] = 62 | 0x80;
    t['_'] = 63 | 0x80;
    memcpy(b64_table, t, sizeof t);
}

int tok_b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, b64_table_init);
    size_t pad = 0;
    while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
        pad++;
    size_t n = len - pad;
    if (n == 0 || n % 4 == 1) return CUSTODY_EINVAL;
    if (pad && (len % 4 != 0 || pad != 4 - n % 4)) return CUSTODY_EINVAL;
    const unsigned char *u = (const unsigned char *)s;
    unsigned flags = 0;
    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        uint8_t a = b64_table[u[i]], b = b64_table[u[i + 1]], c = b64_table[u[i + 2]],
                d = b64_table[u[i + 3]];
        flags |= a | b | c | d;
        uint32_t v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 | (uint32_t)(c & 63) << 6 |
                     (d & 63);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    uint32_t acc = 0;
    for (size_t k = i; k < n; k++) {
        uint8_t d = b64_table[u[k]];
        flags |= d;
        acc = acc << 6 | (d & 63);
    }
    /* an invalid byte (0xff) sets both alphabet bits: one test for both */
    if ((flags & 0xc0) == 0xc0) return CUSTODY_EINVAL;
    if (n - i == 2) { /* 12 bits: one byte, 4 bits that must be 0 */
        if (acc & 0xf) return CUSTODY_EINVAL;
        out[o++] = (uint8_t)(acc >> 4);
    } else if (n - i == 3) { /* 18 bits: two bytes, 2 bits that must be 0 */
        if (acc & 0x3) return CUSTODY_EINVAL;
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *outlen = o;
    return 0;
}

/* ---- fields shared by both forms ---- */

static int set_location(struct tok *t, const char *v, size_t n, struct strbuf *reason)
{
    if (n > TOKEN_LOCATION_MAX)
        return sb_fail(reason, CUSTODY_EBADTOKEN, "location is %zu bytes, over %d", n,
                       TOKEN_LOCATION_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return sb_fail(reason, CUSTODY_EBADTOKEN,
                           "location holds a byte outside printable ASCII");
    memcpy(t->location, v, n);
    t->location[n] = '\0';
    return 0;
}

int tok_set_identifier(struct tok *t, const char *v, size_t n, struct strbuf *reason)
{
    bool ok = n == TOKEN_ID_HEX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
    if (!ok) {
        struct strbuf q = STRBUF_INIT;
        tok_quote(&q, v, n);
        int rc = sb_fail(reason, CUSTODY_EBADTOKEN,
                         "identifier %s is not a custody token id (%d lower-case hex digits)",
                         q.buf, TOKEN_ID_HEX_LEN);
        sb_free(&q);
        return rc;
    }
    memcpy(t->id, v, n);
    t->id[n] = '\0';
    return 0;
}

/* ---- V1 binary ---- */

struct packet {
    const char *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
};

static int hexdigit_lc(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int next_packet(const uint8_t *d, size_t n, size_t *pos, struct packet *p,
                       struct strbuf *reason)
{
    size_t at = *pos, plen = 0;
    if (n - at < 4)
        return sb_fail(reason, CUSTODY_EBADTOKEN, "truncated V1 packet header at byte %zu", at);
    for (int i = 0; i < 4; i++) {
        int v = hexdigit_lc(d[at + (size_t)i]);
        if (v < 0)
            return sb_fail(reason, CUSTODY_EBADTOKEN, "bad V1 packet length at byte %zu", at);
        plen = plen << 4 | (size_t)v;
    }
    if (plen < 4 + 3) /* "k \n" at least */
        return sb_fail(reason, CUSTODY_EBADTOKEN, "V1 packet at byte %zu is too short", at);
    if (plen > n - at)
        return sb_fail(reason, CUSTODY_EBADTOKEN, "truncated V1 packet at byte %zu", at);
    const uint8_t *body = d + at + 4;
    size_t blen = plen - 4;
    if (body[blen - 1] != '\n')
        return sb_fail(reason, CUSTODY_EBADTOKEN, "V1 packet at byte %zu does not end in a newline",
                       at);
    const uint8_t *sp = memchr(body, ' ', blen - 1);
    if (!sp || sp == body)
        return sb_fail(reason, CUSTODY_EBADTOKEN, "V1 packet at byte %zu has no key", at);
    p->key = (const char *)body;
    p->klen = (size_t)(sp - body);
    p->val = sp + 1;
    p->vlen = blen - 1 - p->klen - 1;
    *pos = at + plen;
    return 0;
}

static bool key_is(const struct packet *p, const char *k)
{
    return p->klen == strlen(k) && memcmp(p->key, k, p->klen) == 0;
}

static int parse_v1(const uint8_t *d, size_t n, struct tok *t, struct strbuf *reason)
{
    size_t pos = 0;
    struct packet p;
    int rc = next_packet(d, n, &pos, &p, reason);
    if (rc) return rc;
    if (!key_is(&p, "location"))
        return sb_fail(reason, CUSTODY_EBADTOKEN, "the first V1 packet is not the location");
    if ((rc = set_location(t, (const char *)p.val, p.vlen, reason))) return rc;
    if ((rc = next_packet(d, n, &pos, &p, reason))) return rc;
    if (!key_is(&p, "identifier"))
        return sb_fail(reason, CUSTODY_EBADTOKEN, "the second V1 packet is not the identifier");
    if ((rc = tok_set_identifier(t, (const char *)p.val, p.vlen, reason))) return rc;
    for (;;) {
        if (pos == n) return sb_fail(reason, CUSTODY_EBADTOKEN, "truncated token: no signature");
        if ((rc = next_packet(d, n, &pos, &p, reason))) return rc;
        if (key_is(&p, "cid")) {
            /* a third-party caveat is cid, vid, cl: say so, not "bad caveat" */
            size_t peek = pos;
            struct packet q;
            if (pos < n && next_packet(d, n, &peek, &q, NULL) == 0 &&
                (key_is(&q, "vid") || key_is(&q, "cl")))
                return sb_fail(reason, CUSTODY_EBADTOKEN, "third-party caveats are not supported");
            if ((rc = tok_add_caveat(t, (const char *)p.val, p.vlen, reason))) return rc;
        } else if (key_is(&p, "vid") || key_is(&p, "cl")) {
            return sb_fail(reason, CUSTODY_EBADTOKEN, "third-party caveats are not supported");
        } else if (key_is(&p, "signature")) {
            if (p.vlen != sizeof t->sig)
                return sb_fail(reason, CUSTODY_EBADTOKEN, "the signature is %zu bytes, not 32",
                               p.vlen);
            if (pos != n)
                return sb_fail(reason, CUSTODY_EBADTOKEN, "%zu bytes after the signature", n - pos);
            memcpy(t->sig, p.val, sizeof t->sig);
            return 0;
        } else {
            struct strbuf q = STRBUF_INIT;
            tok_quote(&q, p.key, p.klen);
            rc = sb_fail(reason, CUSTODY_EBADTOKEN, "unknown V1 packet %s", q.buf);
            sb_free(&q);
            return rc;
        }
    }
}

static int put_packet(struct strbuf *out, const char *key, const void *val, size_t vlen)
{
    size_t klen = strlen(key), plen = 4 + klen + 1 + vlen + 1;
    if (plen > 0xffff) return CUSTODY_ETOOBIG;
    char head[5];
    util_snprintf(head, sizeof head, "%04zx", plen);
    int rc = sb_append(out, head, 4);
    if (!rc) rc = sb_append(out, key, klen);
    if (!rc) rc = sb_append(out, " ", 1);
    if (!rc) rc = sb_append(out, val, vlen);
    if (!rc) rc = sb_append(out, "\n", 1);
    return rc;
}

int tok_v1_encode(const struct tok *t, struct strbuf *out)
{
    int rc = put_packet(out, "location", t->location, strlen(t->location));
    if (!rc) rc = put_packet(out, "identifier", t->id, strlen(t->id));
    for (size_t i = 0; !rc && i < t->ncav; i++)
        rc = put_packet(out, "cid", t->cav[i].text, t->cav[i].len);
    if (!rc) rc = put_packet(out, "signature", t->sig, sizeof t->sig);
    return rc;
}

/* ---- the JSON form ---- */

/* jansson's messages quote the input: keep them printable. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) *s = '?';
}

static int json_caveats(json_t *arr, struct tok *t, struct strbuf *reason)
{
    if (!json_is_array(arr))
        return sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: \"caveats\" is not an array");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        if (!json_is_object(c))
            return sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: caveat %zu is not an object", i);
        const char *k;
        json_t *v;
        const char *cid = NULL;
        size_t cidlen = 0;
        json_object_foreach(c, k, v)
        {
            if (strcmp(k, "vid") == 0 || strcmp(k, "cl") == 0)
                return sb_fail(reason, CUSTODY_EBADTOKEN, "third-party caveats are not supported");
            if (strcmp(k, "cid") != 0 || !json_is_string(v))
                return sb_fail(reason, CUSTODY_EBADTOKEN,
                               "JSON form: caveat %zu holds something other than a \"cid\" "
                               "string",
                               i);
            cid = json_string_value(v);
            cidlen = json_string_length(v);
        }
        if (!cid)
            return sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: caveat %zu has no \"cid\"", i);
        int rc = tok_add_caveat(t, cid, cidlen, reason);
        if (rc) return rc;
    }
    return 0;
}

static int json_signature(json_t *v, struct tok *t, struct strbuf *reason)
{
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 64 || util_hex_decode(s, 64, t->sig) != 0)
        return sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: \"signature\" is not 64 hex digits");
    return 0;
}

static int parse_json(const char *s, size_t len, struct tok *t, struct strbuf *reason)
{
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        sanitize(e.text);
        return sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: %s at byte %d", e.text, e.position);
    }
    int rc = 0;
    json_t *id = NULL, *sig = NULL, *loc = NULL, *cavs = NULL;
    if (!json_is_object(j)) {
        rc = sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: not an object");
    } else {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (strcmp(k, "identifier") == 0)
                id = v;
            else if (strcmp(k, "signature") == 0)
                sig = v;
            else if (strcmp(k, "location") == 0)
                loc = v;
            else if (strcmp(k, "caveats") == 0)
                cavs = v;
            else if (!rc) {
                struct strbuf q = STRBUF_INIT;
                tok_quote(&q, k, strlen(k));
                rc = sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: unknown member %s", q.buf);
                sb_free(&q);
            }
        }
    }
    if (!rc && (!id || !json_is_string(id)))
        rc = sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: no \"identifier\" string");
    if (!rc && (!sig || !json_is_string(sig)))
        rc = sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: no \"signature\" string");
    if (!rc && loc && !json_is_string(loc))
        rc = sb_fail(reason, CUSTODY_EBADTOKEN, "JSON form: \"location\" is not a string");
    if (!rc && loc) rc = set_location(t, json_string_value(loc), json_string_length(loc), reason);
    if (!rc) rc = tok_set_identifier(t, json_string_value(id), json_string_length(id), reason);
    if (!rc && cavs) rc = json_caveats(cavs, t, reason);
    if (!rc) rc = json_signature(sig, t, reason);
    json_decref(j);
    return rc;
}

int tok_json_encode(const struct tok *t, struct strbuf *out)
{
    char sig[65];
    util_hex_encode(t->sig, sizeof t->sig, sig);
    int rc = sb_puts(out, "{\"location\":\"");
    if (!rc) rc = sb_json_escape(out, t->location, strlen(t->location));
    if (!rc) rc = sb_printf(out, "\",\"identifier\":\"%s\",\"caveats\":[", t->id);
    for (size_t i = 0; !rc && i < t->ncav; i++) {
        rc = sb_puts(out, i ? ",{\"cid\":\"" : "{\"cid\":\"");
        if (!rc) rc = sb_json_escape(out, t->cav[i].text, t->cav[i].len);
        if (!rc) rc = sb_puts(out, "\"}");
    }
    if (!rc) rc = sb_printf(out, "],\"signature\":\"%s\"}", sig);
    return rc;
}

/* ---- entry points ---- */

void tok_free(struct tok *t)
{
    free(t->mem);
    t->mem = NULL;
    t->memlen = t->memcap = 0;
}

int tok_parse(const char *s, size_t len, struct tok *t, struct strbuf *reason)
{
    memset(t, 0, sizeof *t);
    if (len > TOKEN_MAX_LEN)
        return sb_fail(reason, CUSTODY_ETOOBIG, "the token is over %d bytes", TOKEN_MAX_LEN);
    if (len == 0) return sb_fail(reason, CUSTODY_EBADTOKEN, "empty token");
    /* caveats are at most as long as the text they came from */
    t->memcap = len + TOKEN_MAX_CAVEATS + 1;
    t->mem = util_calloc(1, t->memcap);
    int rc;
    if (s[0] == '{') {
        t->json = true;
        rc = parse_json(s, len, t, reason);
    } else {
        uint8_t raw[TOKEN_MAX_LEN / 4 * 3 + 3];
        size_t n = 0;
        if (tok_b64_decode(s, len, raw, &n) != 0)
            rc = sb_fail(reason, CUSTODY_EBADTOKEN,
                         "not base64 (nor base64url) and not the JSON form");
        else
            rc = parse_v1(raw, n, t, reason);
    }
    if (!rc) tok_effective(t);
    return rc;
}
