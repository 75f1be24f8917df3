/* source.c — pull source URLs: http(s)://host[:port]/prefix/ and s3://BUCKET/PREFIX with
 * an endpoint, region and credentials (options first, then the environment). Strict: what is
 * not understood is refused, never guessed. */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pull/internal.h"

static const char *pick(const char *opt, bool no_env, const char *env1, const char *env2)
{
    if (opt) return opt;
    if (no_env) return NULL;
    const char *v = env1 ? getenv(env1) : NULL;
    if (v && *v) return v;
    v = env2 ? getenv(env2) : NULL;
    return v && *v ? v : NULL;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* Path characters accepted verbatim in an http(s) base: RFC 3986 pchar and '/', with
 * percent-escapes checked. No query ('?') or fragment ('#'). */
static bool path_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            if (util_hexval(p[i + 1]) < 0 || util_hexval(p[i + 2]) < 0) return false;
            i += 2;
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
        if (c != 0 && strchr("/-._~!$&'()*+,;=:@", c)) continue;
        return false;
    }
    return true;
}

/*
 * Splits "scheme://authority[/path]" after the scheme: checks the authority (host or [v6],
 * optional :port 1-65535, no userinfo) and returns its length; *path points after it.
 */
static int parse_authority(const char *s, const char **path, char *err, size_t errlen)
{
    size_t n = strcspn(s, "/?#");
    if (n == 0) return util_fail(err, errlen, CUSTODY_EINVAL, "%s: missing host", "url");
    if (n > PULL_HOST_MAX)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: host is longer than 255 bytes",
                         "url");
    if (memchr(s, '@', n))
        return util_fail(
            err, errlen, CUSTODY_EINVAL,
            "%s: user information in the URL is refused (credentials come from options "
            "or the environment)",
            "url");
    size_t i = 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return util_fail(err, errlen, CUSTODY_EINVAL, "%s: bad IPv6 literal", "url");
        for (const char *q = s + 1; q < close; q++)
            if (!(util_hexval(*q) >= 0 || *q == ':' || *q == '.'))
                return util_fail(err, errlen, CUSTODY_EINVAL, "%s: bad IPv6 literal", "url");
        i = (size_t)(close - s) + 1;
    } else {
        while (i < n && s[i] != ':') {
            if (!host_char(s[i]))
                return util_fail(err, errlen, CUSTODY_EINVAL, "%s: invalid character in host",
                                 "url");
            i++;
        }
        if (i == 0) return util_fail(err, errlen, CUSTODY_EINVAL, "%s: missing host", "url");
    }
    if (i < n) {
        if (s[i] != ':')
            return util_fail(err, errlen, CUSTODY_EINVAL, "%s: invalid character in host", "url");
        uint64_t port = 0;
        if (util_parse_u64(s + i + 1, n - i - 1, &port) != 0 || port == 0 || port > 65535)
            return util_fail(err, errlen, CUSTODY_EINVAL, "%s: bad port (1-65535)", "url");
    }
    *path = s + n;
    return (int)n;
}

static bool any_bad_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return true;
    return false;
}

static int parse_http(const char *url, struct pull_source *out, char *err, size_t errlen)
{
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : 8;
    const char *path = NULL;
    int an = parse_authority(url + skip, &path, err, errlen);
    if (an < 0) return an;
    if (*path == '?' || *path == '#' || strpbrk(path, "?#"))
        return util_fail(err, errlen, CUSTODY_EINVAL,
                         "%s: a query or fragment is refused (give the model's directory)", "url");
    if (!path_ok(path, strlen(path)))
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s: invalid character in path", "url");
    size_t len = strlen(url);
    bool slash = len > 0 && url[len - 1] == '/' && *path;
    if (len + (slash ? 0 : 1) > PULL_URL_MAX)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: longer than 2048 bytes", "url");
    memcpy(out->base, url, len);
    if (!slash) out->base[len++] = '/';
    out->base[len] = 0;
    util_strlcpy(out->host, url + skip, (size_t)an + 1 <= sizeof out->host ? (size_t)an + 1 : 1);
    return 0;
}

static bool bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-') return false;
        if ((i == 0 || i == n - 1) && !alnum) return false;
    }
    return true;
}

static int copy_cred(char *dst, size_t dstsz, const char *v, const char *what, char *err,
                     size_t errlen)
{
    if (!v) return 0;
    size_t n = strlen(v);
    if (n >= dstsz) return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s is too long", what);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return util_fail(err, errlen, CUSTODY_EINVAL,
                             "%s holds a character outside printable "
                             "ASCII",
                             what);
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_s3(const char *url, const struct pull_source_opts *o, struct pull_source *out,
                    char *err, size_t errlen)
{
    bool no_env = o && o->no_env;
    const char *s = url + 5;
    size_t bn = strcspn(s, "/");
    if (!bucket_ok(s, bn))
        return util_fail(
            err, errlen, CUSTODY_EINVAL,
            "%s: bad bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter "
            "or digit)",
            "s3 url");
    memcpy(out->bucket, s, bn);
    out->bucket[bn] = 0;
    const char *prefix = s + bn;
    while (*prefix == '/')
        prefix++;
    size_t pn = strlen(prefix);
    if (pn + 1 > PULL_S3_KEY_MAX - 1)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: key prefix is too long", "s3 url");
    if (!util_utf8_valid(prefix, pn))
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s: key prefix is not UTF-8", "s3 url");
    memcpy(out->prefix, prefix, pn);
    if (pn && prefix[pn - 1] != '/') out->prefix[pn++] = '/';
    out->prefix[pn] = 0;

    int rc;
    const char *region = o ? o->region : NULL;
    region = pick(region, no_env, "AWS_REGION", "AWS_DEFAULT_REGION");
    if (!region) region = "us-east-1";
    if ((rc = copy_cred(out->region, sizeof out->region, region, "region", err, errlen)) != 0)
        return rc;
    for (const char *p = out->region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return util_fail(err, errlen, CUSTODY_EINVAL, "%s: bad region (a-z 0-9 -)", "s3");

    const char *ep =
        pick(o ? o->endpoint : NULL, no_env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
    char defep[PULL_CRED_MAX + 32];
    if (!ep) {
        snprintf(defep, sizeof defep, "https://s3.%s.amazonaws.com", out->region);
        ep = defep;
    }
    if (strlen(ep) > PULL_URL_MAX - 200)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: endpoint is too long", "s3");
    if (any_bad_char(ep))
        return util_fail(err, errlen, CUSTODY_EINVAL,
                         "%s: endpoint holds spaces or control characters", "s3");
    size_t skip;
    if (strncmp(ep, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(ep, "https://", 8) == 0)
        skip = 8;
    else
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s: endpoint must be http:// or https://",
                         "s3");
    const char *path = NULL;
    int an = parse_authority(ep + skip, &path, err, errlen);
    if (an < 0) return an;
    if (*path && strcmp(path, "/") != 0)
        return util_fail(err, errlen, CUSTODY_EINVAL,
                         "%s: endpoint must be scheme://host[:port] (no path)", "s3");
    memcpy(out->host, ep + skip, (size_t)an);
    out->host[an] = 0;
    for (char *p = out->host; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (util_snprintf(out->base, sizeof out->base, "%.*s%s/%s/", (int)skip, ep, out->host,
                      out->bucket) != 0)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: endpoint is too long", "s3");

    const char *ak = pick(o ? o->access_key : NULL, no_env, "AWS_ACCESS_KEY_ID", NULL);
    const char *sk = pick(o ? o->secret_key : NULL, no_env, "AWS_SECRET_ACCESS_KEY", NULL);
    const char *tok = pick(o ? o->session_token : NULL, no_env, "AWS_SESSION_TOKEN", NULL);
    if ((ak == NULL) != (sk == NULL))
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s",
                         ak ? "s3: an access key id without a secret access key"
                            : "s3: a secret access key without an access key id");
    if ((rc = copy_cred(out->access_key, sizeof out->access_key, ak, "access key id", err,
                        errlen)) != 0 ||
        (rc = copy_cred(out->secret_key, sizeof out->secret_key, sk, "secret access key", err,
                        errlen)) != 0 ||
        (rc = copy_cred(out->session_token, sizeof out->session_token, tok, "session token", err,
                        errlen)) != 0)
        return rc;
    return 0;
}

int pull_source_parse(const char *url, const struct pull_source_opts *opts, struct pull_source *out,
                      char *err, size_t errlen)
{
    if (!url || !out) return util_fail(err, errlen, CUSTODY_EINVAL, "%s", "no url");
    memset(out, 0, sizeof *out);
    if (strlen(url) > PULL_URL_MAX)
        return util_fail(err, errlen, CUSTODY_ENAMETOOLONG, "%s: longer than 2048 bytes", "url");
    if (any_bad_char(url))
        return util_fail(err, errlen, CUSTODY_EINVAL, "%s: spaces or control characters", "url");
    int rc;
    if (strncmp(url, "http://", 7) == 0) {
        out->scheme = PULL_HTTP;
        rc = parse_http(url, out, err, errlen);
    } else if (strncmp(url, "https://", 8) == 0) {
        out->scheme = PULL_HTTPS;
        rc = parse_http(url, out, err, errlen);
    } else if (strncmp(url, "s3://", 5) == 0) {
        out->scheme = PULL_S3;
        rc = parse_s3(url, opts, out, err, errlen);
    } else {
        rc = util_fail(err, errlen, CUSTODY_EINVAL,
                       "%s: only http://, https:// and s3:// are supported", "url");
    }
    if (rc) pull_source_clear(out);
    return rc;
}

void pull_source_clear(struct pull_source *src)
{
    if (!src) return;
    OPENSSL_cleanse(src->access_key, sizeof src->access_key);
    OPENSSL_cleanse(src->secret_key, sizeof src->secret_key);
    OPENSSL_cleanse(src->session_token, sizeof src->session_token);
}

int pull_uri_encode(struct strbuf *out, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            rc = sb_append(out, &c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = sb_append(out, e, 3);
        }
        if (rc) return rc;
    }
    return 0;
}

bool pull_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > PULL_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f) return false;
    return true;
}

int pull_object_url(const struct pull_source *src, const char *name, struct strbuf *out,
                    struct strbuf *canonical_uri)
{
    if (!pull_name_ok(name)) return CUSTODY_EINVAL;
    int rc = sb_puts(out, src->base);
    if (rc) return rc;
    if (src->scheme != PULL_S3) return pull_uri_encode(out, name, strlen(name), false);
    if (strlen(src->prefix) + strlen(name) > PULL_S3_KEY_MAX) return CUSTODY_ENAMETOOLONG;
    if ((rc = pull_uri_encode(out, src->prefix, strlen(src->prefix), true)) != 0 ||
        (rc = pull_uri_encode(out, name, strlen(name), false)) != 0)
        return rc;
    if (canonical_uri) {
        if ((rc = sb_puts(canonical_uri, "/")) != 0 || (rc = sb_puts(canonical_uri, src->bucket)) ||
            (rc = sb_puts(canonical_uri, "/")) ||
            (rc = pull_uri_encode(canonical_uri, src->prefix, strlen(src->prefix), true)) ||
            (rc = pull_uri_encode(canonical_uri, name, strlen(name), false)))
            return rc;
    }
    return 0;
}
