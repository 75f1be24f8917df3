/* strbuf.c — growable, always NUL-terminated buffers and bounded string helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void *util_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        abort();
    return p;
}

void *util_realloc(void *p, size_t sz)
{
    void *q = realloc(p, sz ? sz : 1);
    if (!q)
        abort();
    return q;
}

char *util_strdup(const char *s)
{
    if (!s)
        return NULL;
    return util_strndup(s, strlen(s));
}

char *util_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *p = util_calloc(1, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int sb_reserve(struct strbuf *sb, size_t extra)
{
    if (extra > SIZE_MAX / 2 - sb->len - 1)
        return CUSTODY_ENOMEM;
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    sb->buf = util_realloc(sb->buf, cap);
    sb->cap = cap;
    return 0;
}

int sb_append(struct strbuf *sb, const void *data, size_t len)
{
    int rc = sb_reserve(sb, len);
    if (rc)
        return rc;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int sb_puts(struct strbuf *sb, const char *s)
{
    return sb_append(sb, s, strlen(s));
}

int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CUSTODY_EINVAL;
    int rc = sb_reserve(sb, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sb_vprintf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

void sb_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

void sb_free(struct strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

char *sb_detach(struct strbuf *sb)
{
    char *p = sb->buf ? sb->buf : util_strdup("");
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return p;
}

int sb_json_escape(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sb_reserve(sb, len + 2);
    if (rc)
        return rc;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t n = 0;
        switch (c) {
        case '"':
            esc[n++] = '\\', esc[n++] = '"';
            break;
        case '\\':
            esc[n++] = '\\', esc[n++] = '\\';
            break;
        case '\n':
            esc[n++] = '\\', esc[n++] = 'n';
            break;
        case '\r':
            esc[n++] = '\\', esc[n++] = 'r';
            break;
        case '\t':
            esc[n++] = '\\', esc[n++] = 't';
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                esc[n++] = '\\', esc[n++] = 'u', esc[n++] = '0', esc[n++] = '0';
                esc[n++] = hex[c >> 4], esc[n++] = hex[c & 15];
            } else {
                esc[n++] = (char)c;
            }
        }
        if ((rc = sb_append(sb, esc, n)))
            return rc;
    }
    return 0;
}

/* JCS (RFC 8785) and JSON.stringify escaping: '"', '\\' and control
 * characters only; \b \f \n \r \t short, the rest \u00xx in lowercase hex. */
int sb_jcs_string(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = sb_reserve(sb, len + 2);
    if (rc) return rc;
    sb_append(sb, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            n = 6;
        }
        if ((rc = sb_append(sb, s + run, i - run)) || (rc = sb_append(sb, esc, n))) return rc;
        run = i + 1;
    }
    if ((rc = sb_append(sb, s + run, len - run))) return rc;
    return sb_append(sb, "\"", 1);
}

size_t util_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t n = strlen(src);
    if (dstsz) {
        size_t c = n < dstsz - 1 ? n : dstsz - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

size_t util_strlcat(char *dst, const char *src, size_t dstsz)
{
    size_t used = strnlen(dst, dstsz);
    if (used == dstsz) return dstsz + strlen(src); /* no NUL within dstsz: nothing to add to */
    return used + util_strlcpy(dst + used, src, dstsz - used);
}

int util_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int util_snprintf(char *dst, size_t dstsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, dstsz, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CUSTODY_EINVAL;
    if ((size_t)n >= dstsz)
        return CUSTODY_ENAMETOOLONG;
    return 0;
}

int util_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return CUSTODY_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CUSTODY_EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CUSTODY_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

size_t util_u64_text(uint64_t v, char out[21])
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t util_i64_text(int64_t v, char out[22])
{
    if (v >= 0) return util_u64_text((uint64_t)v, out);
    out[0] = '-';
    return 1 + util_u64_text(0 - (uint64_t)v, out + 1);
}

bool util_ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

bool util_ct_equal(const void *a, const void *b, size_t n)
{
    /* Word by word, every word read whatever the differences so far; the
     * empty asm keeps the compiler from turning the OR into an early exit. */
    const unsigned char *x = a, *y = b;
    uint64_t d = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        d |= u ^ v;
        __asm__ volatile("" : "+r"(d));
    }
    for (; i < n; i++) {
        d |= (uint64_t)(x[i] ^ y[i]);
        __asm__ volatile("" : "+r"(d));
    }
    return d == 0;
}

bool util_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return false;
        if (n >= len - i) /* continuation bytes must all be present */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

size_t util_utf8_encode(uint32_t cp, char *out)
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

int sb_fail(struct strbuf *sb, int rc, const char *fmt, ...)
{
    if (sb) {
        sb_reset(sb);
        va_list ap;
        va_start(ap, fmt);
        sb_vprintf(sb, fmt, ap);
        va_end(ap);
    }
    return rc;
}
