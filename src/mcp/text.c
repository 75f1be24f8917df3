/*
 * text.c — the small text conventions the reference server inherits from
 * Node.js and ICU, redone so custody mcp's answers read the same: UTF-8
 * decoding with U+FFFD, base64, formatSize, file URLs, localeCompare for
 * file names, Date.prototype.toString, and JavaScript's whitespace.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mcp/internal.h"

/* Node decodes UTF-8 the WHATWG way: each maximal invalid subpart becomes
 * one U+FFFD. */
char *mcp_utf8_decode(const char *s, size_t len, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    struct strbuf sb = STRBUF_INIT;
    sb_reserve(&sb, len + 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            size_t j = i;
            while (j < len && p[j] < 0x80)
                j++;
            sb_append(&sb, s + i, j - i);
            i = j;
            continue;
        }
        size_t need = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            sb_append(&sb, "\xEF\xBF\xBD", 3);
            i++;
            continue;
        }
        size_t k = 1;
        bool ok = true;
        for (; k <= need; k++) {
            if (i + k >= len) {
                ok = false;
                break;
            }
            unsigned char d = p[i + k];
            unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (d < l || d > h) {
                ok = false;
                break;
            }
        }
        if (ok) {
            sb_append(&sb, s + i, need + 1);
            i += need + 1;
        } else {
            sb_append(&sb, "\xEF\xBF\xBD", 3);
            i += k; /* the maximal subpart: the lead and the valid continuations */
        }
    }
    if (!sb.buf) sb_puts(&sb, "");
    *outlen = sb.len;
    return sb_detach(&sb);
}

char *mcp_base64(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    size_t olen = (len + 2) / 3 * 4;
    char *out = malloc(olen + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63],
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* formatSize: "0 B", "999 B", "1.00 KB" ... with toFixed(2). */
void mcp_format_size(uint64_t bytes, char out[48])
{
    static const char *units[] = {"B", "KB", "MB", "GB", "TB"};
    if (bytes == 0) {
        snprintf(out, 48, "0 B");
        return;
    }
    int i = 0;
    double v = (double)bytes;
    while (i < 4 && v >= 1024.0) {
        v /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(out, 48, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, 48, "%.2f %s", v, units[i]);
}

/* url.pathToFileURL(abs).href on POSIX. */
char *mcp_file_url(const char *abs)
{
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "file://");
    for (const unsigned char *p = (const unsigned char *)abs; *p; p++) {
        unsigned char c = *p;
        if (c <= 0x20 || c >= 0x7F || strchr("\"#%<>?`{}\\", c))
            sb_printf(&sb, "%%%02X", c);
        else
            sb_append(&sb, p, 1);
    }
    return sb_detach(&sb);
}

/* ---- localeCompare (ICU root collation, for file names) ---- */

static const char punct_order[] = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

/* primary weight of one byte: punctuation (ICU's order) < digits < letters
 * (case-insensitive) < everything else (by byte) */
static int primary(unsigned char c)
{
    const char *q = c ? strchr(punct_order, c) : NULL;
    if (q) return 1 + (int)(q - punct_order);
    if (c >= '0' && c <= '9') return 100 + (c - '0');
    if (c >= 'a' && c <= 'z') return 200 + (c - 'a');
    if (c >= 'A' && c <= 'Z') return 200 + (c - 'A');
    return 300 + c;
}

int mcp_locale_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t i = 0;
    for (; x[i] && y[i]; i++) {
        int d = primary(x[i]) - primary(y[i]);
        if (d) return d < 0 ? -1 : 1;
    }
    if (x[i] || y[i]) return x[i] ? 1 : -1;
    /* same letters: lower case sorts before upper case at the first difference */
    for (i = 0; x[i]; i++)
        if (x[i] != y[i]) {
            bool xl = x[i] >= 'a' && x[i] <= 'z';
            return xl ? -1 : 1;
        }
    return 0;
}

void mcp_js_date(const char *rfc3339, char out[160])
{
    struct tm tm = {0};
    const char *end = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end) {
        snprintf(out, 160, "Invalid Date");
        return;
    }
    time_t t = timegm(&tm);
    struct tm lt;
    localtime_r(&t, &lt);
    char buf[64];
    strftime(buf, sizeof buf, "%a %b %d %Y %H:%M:%S", &lt);
    long off = lt.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    const char *zone = lt.tm_gmtoff == 0 ? "Coordinated Universal Time" : lt.tm_zone;
    snprintf(out, 160, "%.40s GMT%c%02ld%02ld (%s)", buf, sign, off / 60, off % 60,
             zone ? zone : "");
}

size_t mcp_js_space_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0) return 0;
    if (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0D)) return 1;
    if (len >= 2 && p[0] == 0xC2 && p[1] == 0xA0) return 2;
    if (len >= 3) {
        uint32_t cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
        if ((p[0] & 0xF0) == 0xE0 &&
            (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
             cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF))
            return 3;
    }
    return 0;
}
