/* parse.c — pure helpers of libcustody: resource ids, URL encoding, ranges,
 * labels, ETags and status codes. No I/O. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

static bool is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int custody__url_encode(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int rc;
        if (is_unreserved(ch)) {
            rc = sb_append(sb, &s[i], 1);
        } else {
            char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = sb_append(sb, esc, 3);
        }
        if (rc) return rc;
    }
    return 0;
}

int custody__url_encode_path(struct strbuf *sb, const char *path)
{
    const char *p = path;
    while (*p) {
        if (*p == '/') {
            int rc = sb_append(sb, "/", 1);
            if (rc) return rc;
            p++;
            continue;
        }
        size_t n = strcspn(p, "/");
        int rc;
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            rc = sb_puts(sb, n == 1 ? "%2E" : "%2E%2E");
        else
            rc = custody__url_encode(sb, p, n);
        if (rc) return rc;
        p += n;
    }
    return 0;
}

bool custody__root_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CUSTODY__ROOT_NAME_MAX || !isalnum((unsigned char)name[0])) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (!(isalnum(ch) || ch == '_' || ch == '-')) return false;
        if (ch >= 0x80) return false;
    }
    return true;
}

int custody_resource_parse(const char *id, char **root, char **path)
{
    if (!id || !root || !path) return CUSTODY_EINVAL;
    const char *colon = strchr(id, ':');
    if (!colon) return CUSTODY_EINVAL;
    char *r = util_strndup(id, (size_t)(colon - id));
    if (!custody__root_name_valid(r)) {
        free(r);
        return CUSTODY_EINVAL;
    }
    /* "/" + the path with repeated and trailing slashes removed */
    struct strbuf sb = STRBUF_INIT;
    int rc = sb_puts(&sb, "/");
    for (const char *p = colon + 1; !rc && *p; p++) {
        if (*p == '/' && (sb.len > 0 && sb.buf[sb.len - 1] == '/')) continue;
        rc = sb_append(&sb, p, 1);
    }
    if (!rc && sb.len > 1 && sb.buf[sb.len - 1] == '/') sb.buf[--sb.len] = '\0';
    if (rc) {
        free(r);
        sb_free(&sb);
        return rc;
    }
    *root = r;
    *path = sb_detach(&sb);
    return 0;
}

int custody__resource_url(struct strbuf *sb, const char *prefix, const char *id)
{
    char *root = NULL, *path = NULL;
    int rc = custody_resource_parse(id, &root, &path);
    if (rc) return rc;
    rc = sb_puts(sb, prefix);
    if (!rc) rc = custody__url_encode(sb, root, strlen(root));
    if (!rc) rc = custody__url_encode_path(sb, path);
    free(root);
    free(path);
    return rc;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    uint64_t v;
    int rc = util_parse_u64(s, len, &v);
    if (rc) return CUSTODY_EINVAL;
    if (v > (uint64_t)INT64_MAX) return CUSTODY_EINVAL;
    *out = (int64_t)v;
    return 0;
}

int custody_range_parse(const char *s, custody_range_t *out)
{
    if (!s || !out) return CUSTODY_EINVAL;
    if (strncmp(s, "bytes=", 6) == 0) s += 6;
    const char *dash = strchr(s, '-');
    if (!dash || strchr(dash + 1, '-')) return CUSTODY_EINVAL;
    size_t alen = (size_t)(dash - s), blen = strlen(dash + 1);
    custody_range_t r = {-1, -1};
    if (alen == 0) {
        /* -N: the last N bytes */
        if (parse_i64(dash + 1, blen, &r.last) || r.last == 0) return CUSTODY_EINVAL;
    } else {
        if (parse_i64(s, alen, &r.first)) return CUSTODY_EINVAL;
        if (blen) {
            if (parse_i64(dash + 1, blen, &r.last) || r.last < r.first) return CUSTODY_EINVAL;
        }
    }
    *out = r;
    return 0;
}

int custody__range_format(const custody_range_t *r, char *out, size_t outsz)
{
    if (r->first < 0) {
        if (r->last <= 0) return CUSTODY_EINVAL;
        return util_snprintf(out, outsz, "-%lld", (long long)r->last);
    }
    if (r->last < 0) return util_snprintf(out, outsz, "%lld-", (long long)r->first);
    if (r->last < r->first) return CUSTODY_EINVAL;
    return util_snprintf(out, outsz, "%lld-%lld", (long long)r->first, (long long)r->last);
}

int custody__content_range_parse(const char *v, uint64_t *first, uint64_t *last, uint64_t *total)
{
    while (*v == ' ')
        v++;
    if (strncmp(v, "bytes ", 6) != 0) return CUSTODY_EPROTO;
    v += 6;
    const char *slash = strchr(v, '/');
    if (!slash) return CUSTODY_EPROTO;
    const char *tail = slash + 1;
    size_t tlen = strcspn(tail, " \r\n");
    if (tlen == 1 && tail[0] == '*')
        *total = UINT64_MAX;
    else if (util_parse_u64(tail, tlen, total))
        return CUSTODY_EPROTO;
    if (slash - v == 1 && v[0] == '*') {
        *first = *last = UINT64_MAX;
        return 0;
    }
    const char *dash = memchr(v, '-', (size_t)(slash - v));
    if (!dash || util_parse_u64(v, (size_t)(dash - v), first) ||
        util_parse_u64(dash + 1, (size_t)(slash - dash - 1), last) || *last < *first)
        return CUSTODY_EPROTO;
    return 0;
}

void custody__etag_to_hex(const char *etag, char out[CUSTODY_SHA256_HEX_LEN + 1])
{
    out[0] = '\0';
    if (!etag) return;
    const char *p = etag;
    while (*p == ' ')
        p++;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    size_t n = strcspn(p, " \r\n");
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    if (n != CUSTODY_SHA256_HEX_LEN) return;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)p[i])) return;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
}

char *custody__if_match_value(const char *s)
{
    if (strcmp(s, "*") == 0 || (s[0] == '"') || strncmp(s, "W/\"", 3) == 0) return util_strdup(s);
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "\"%s\"", s);
    return sb_detach(&sb);
}

int custody__status_to_err(long status)
{
    switch (status) {
    case 400:
        return CUSTODY_EINVAL;
    case 403:
        return CUSTODY_EPERM;
    case 404:
        return CUSTODY_ENOENT;
    case 405:
        return CUSTODY_EMETHOD;
    case 408:
        return CUSTODY_ETIMEDOUT;
    case 409:
        return CUSTODY_EEXIST;
    case 411:
        return CUSTODY_ELENGTH;
    case 412:
        return CUSTODY_EPRECOND;
    case 413:
        return CUSTODY_ETOOBIG;
    case 414:
        return CUSTODY_ENAMETOOLONG;
    case 416:
        return CUSTODY_ERANGE;
    case 431:
        return CUSTODY_EHEADERS;
    case 503:
        return CUSTODY_EUNAVAIL;
    case 507:
        return CUSTODY_ENOSPC;
    default:
        if (status >= 400 && status < 500) return CUSTODY_EPROTO;
        return CUSTODY_EINTERNAL;
    }
}

int custody__mode_parse(const char *s, int *mode)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 6 || strspn(s, "01234567") != n) return CUSTODY_EPROTO;
    unsigned long v = strtoul(s, NULL, 8);
    if (v > 07777) return CUSTODY_EPROTO;
    *mode = (int)v;
    return 0;
}

custody_type_t custody__type_parse(const char *s)
{
    if (!s) return CUSTODY_TYPE_UNKNOWN;
    if (strcmp(s, "file") == 0) return CUSTODY_TYPE_FILE;
    if (strcmp(s, "dir") == 0 || strcmp(s, "directory") == 0) return CUSTODY_TYPE_DIR;
    if (strcmp(s, "symlink") == 0) return CUSTODY_TYPE_SYMLINK;
    return CUSTODY_TYPE_OTHER;
}

const char *custody_type_name(custody_type_t t)
{
    switch (t) {
    case CUSTODY_TYPE_FILE:
        return "file";
    case CUSTODY_TYPE_DIR:
        return "dir";
    case CUSTODY_TYPE_SYMLINK:
        return "symlink";
    case CUSTODY_TYPE_OTHER:
        return "other";
    default:
        return "unknown";
    }
}

static bool label_key_valid(const char *k, size_t n)
{
    if (n == 0 || n > CUSTODY__LABEL_KEY_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (!(isalnum(ch) || ch == '_' || ch == '.' || ch == '-') || ch >= 0x80) return false;
    }
    return true;
}

int custody_label_parse(const char *kv, custody_label_t *out)
{
    if (!kv || !out) return CUSTODY_EINVAL;
    const char *eq = strchr(kv, '=');
    if (!eq || !label_key_valid(kv, (size_t)(eq - kv))) return CUSTODY_EINVAL;
    const char *val = eq + 1;
    size_t vlen = strlen(val);
    if (vlen > CUSTODY__LABEL_VALUE_MAX || !util_utf8_valid(val, vlen)) return CUSTODY_EINVAL;
    out->key = util_strndup(kv, (size_t)(eq - kv));
    out->value = util_strdup(val);
    return 0;
}

void custody_label_clear(custody_label_t *l)
{
    if (!l) return;
    free(l->key);
    free(l->value);
    l->key = l->value = NULL;
}
