/* fetch.c — what every pull request shares (libcurl options, S3 signing, classifying
 * failures) and pull_fetch_small, the whole-object GET used for the manifest. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pull/internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void do_curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int pull_curl_init(void)
{
    pthread_once(&curl_once, do_curl_init);
    return curl_init_rc == CURLE_OK ? 0 : CUSTODY_EINTERNAL;
}

uint64_t pull_backoff_ns(unsigned base_ms, unsigned attempt)
{
    uint64_t ms = base_ms ? base_ms : 200;
    for (unsigned i = 1; i < attempt && ms < 5000; i++)
        ms *= 2;
    return UTIL_MIN(ms, 5000) * 1000000ull;
}

static int add_header(struct curl_slist **hdrs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **hdrs, const char *fmt, ...)
{
    char line[PULL_TOKEN_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof line) return CUSTODY_ENAMETOOLONG;
    struct curl_slist *n = curl_slist_append(*hdrs, line);
    if (!n) return CUSTODY_ENOMEM;
    *hdrs = n;
    return 0;
}

int pull_prepare(CURL *e, const struct pull_source *src, const char *url, const char *canon,
                 const char *range, const char *cainfo, unsigned low_speed_s,
                 struct curl_slist **hdrs)
{
    int rc = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(low_speed_s ? low_speed_s : 30));
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "custody-pull/" CUSTODY_VERSION_STRING);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as stored: no decoding */
    if (cainfo) curl_easy_setopt(e, CURLOPT_CAINFO, cainfo);
    if (src->scheme == PULL_S3) {
        /* the signature covers Host: a redirect would be to another host, and curl does
         * not forward custom Authorization headers there anyway */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    } else {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (range) rc = add_header(hdrs, "Range: %s", range);
    if (!rc && src->scheme == PULL_S3) {
        char amz[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(amz, sizeof amz, "%Y%m%dT%H%M%SZ", &tm);
        rc = add_header(hdrs, "Host: %s", src->host);
        if (!rc) rc = add_header(hdrs, "x-amz-date: %s", amz);
        if (!rc) rc = add_header(hdrs, "x-amz-content-sha256: %s", "UNSIGNED-PAYLOAD");
        if (!rc && src->session_token[0])
            rc = add_header(hdrs, "x-amz-security-token: %s", src->session_token);
        if (!rc && src->access_key[0]) {
            struct pull_sigv4_req r = {
                .method = "GET",
                .host = src->host,
                .canonical_uri = canon,
                .amz_date = amz,
                .payload_sha256 = "UNSIGNED-PAYLOAD",
                .range = range,
                .session_token = src->session_token[0] ? src->session_token : NULL,
                .region = src->region,
                .service = "s3",
                .access_key = src->access_key,
                .secret_key = src->secret_key,
            };
            char sig[65];
            struct strbuf auth = STRBUF_INIT;
            rc = pull_sigv4_sign(&r, sig, &auth);
            if (!rc) rc = add_header(hdrs, "Authorization: %s", auth.buf);
            sb_free(&auth);
        }
    }
    /* no "Expect:", no "Accept: * / *" noise */
    if (!rc) rc = add_header(hdrs, "Accept:%s", "");
    if (!rc) curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
    return rc;
}

/* S3's error body: <Error><Code>X</Code>...; copies X into out (or ""). */
static void s3_code(const char *body, size_t blen, char *out, size_t outlen)
{
    out[0] = 0;
    if (!body || !blen) return;
    const char *end = body + blen;
    const char *p = body;
    while (p + 6 <= end && memcmp(p, "<Code>", 6) != 0)
        p++;
    if (p + 6 > end) return;
    p += 6;
    const char *q = p;
    while (q < end && *q != '<')
        q++;
    size_t n = (size_t)(q - p);
    if (n == 0 || n >= outlen) return;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return;
    }
    memcpy(out, p, n);
    out[n] = 0;
}

struct pull_failure pull_classify(CURLcode cc, long status, const char *body, size_t blen,
                                  const char *what, const char *url, char *err, size_t errlen)
{
    struct pull_failure f = {CUSTODY_EIO, true};
    if (cc != CURLE_OK) {
        switch (cc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_TOO_MANY_REDIRECTS:
        case CURLE_OUT_OF_MEMORY:
            f.transient = false;
            break;
        default:
            break;
        }
        if (cc == CURLE_OUT_OF_MEMORY) f.rc = CUSTODY_ENOMEM;
        if (err) snprintf(err, errlen, "%s: %s (%s)", what, curl_easy_strerror(cc), url);
        return f;
    }
    char code[64];
    s3_code(body, blen, code, sizeof code);
    char extra[96] = "";
    if (code[0]) snprintf(extra, sizeof extra, ", %s", code);
    if (status == 404 || status == 410) {
        f = (struct pull_failure){CUSTODY_ENOENT, false};
        if (err)
            snprintf(err, errlen, "%s: not found at the origin (HTTP %ld%s, %s)", what, status,
                     extra, url);
    } else if (status == 401 || status == 403) {
        f = (struct pull_failure){CUSTODY_EPERM, false};
        if (err)
            snprintf(err, errlen,
                     "%s: access denied (HTTP %ld%s, %s): check the credentials, region and "
                     "bucket policy",
                     what, status, extra, url);
    } else if (status == 416) {
        f = (struct pull_failure){CUSTODY_ECORRUPT, false};
        if (err)
            snprintf(err, errlen,
                     "%s: the origin refused the byte range (HTTP 416): the object is smaller "
                     "than the manifest says (%s)",
                     what, url);
    } else if (status == 408 || status == 429 || status >= 500) {
        f = (struct pull_failure){CUSTODY_EIO, true};
        if (err)
            snprintf(err, errlen, "%s: HTTP %ld%s from the origin (%s)", what, status, extra, url);
    } else {
        f = (struct pull_failure){CUSTODY_EIO, false};
        if (err)
            snprintf(err, errlen, "%s: unexpected HTTP %ld%s from the origin (%s)", what, status,
                     extra, url);
    }
    return f;
}

int pull_parse_content_range(const char *v, size_t n, uint64_t *a, uint64_t *b, uint64_t *total)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    if (n < 6 || memcmp(v, "bytes ", 6) != 0) return CUSTODY_EPROTO;
    v += 6, n -= 6;
    const char *dash = memchr(v, '-', n), *slash = memchr(v, '/', n);
    if (!dash || !slash || slash < dash) return CUSTODY_EPROTO;
    if (util_parse_u64(v, (size_t)(dash - v), a) != 0 ||
        util_parse_u64(dash + 1, (size_t)(slash - dash - 1), b) != 0 || *b < *a)
        return CUSTODY_EPROTO;
    size_t tl = n - (size_t)(slash + 1 - v);
    if (tl == 1 && slash[1] == '*')
        *total = UINT64_MAX;
    else if (util_parse_u64(slash + 1, tl, total) != 0 || *b >= *total)
        return CUSTODY_EPROTO;
    return 0;
}

/* ---- pull_fetch_small ---- */

struct small {
    struct strbuf body;
    size_t max;
    CURL *e;
    long status;
    bool too_big;
};

static size_t small_write(char *p, size_t sz, size_t nm, void *arg)
{
    struct small *s = arg;
    size_t n = sz * nm;
    if (!s->status) curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &s->status);
    size_t cap = s->status == 200 ? s->max : 4096;
    if (s->body.len + n > cap) {
        if (s->status == 200) {
            s->too_big = true;
            return 0;
        }
        n = cap > s->body.len ? cap - s->body.len : 0;
        if (n) sb_append(&s->body, p, n);
        return sz * nm;
    }
    if (sb_append(&s->body, p, n) != 0) return 0;
    return sz * nm;
}

int pull_fetch_small(const struct pull_source *src, const char *name, size_t max,
                     const char *cainfo, char **out, size_t *len, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    *out = NULL;
    if (len) *len = 0;
    if (!src || !pull_name_ok(name)) {
        if (err) snprintf(err, errlen, "fetch: bad object name");
        return CUSTODY_EINVAL;
    }
    if (pull_curl_init() != 0) {
        if (err) snprintf(err, errlen, "fetch: libcurl did not initialize");
        return CUSTODY_EINTERNAL;
    }
    struct strbuf url = STRBUF_INIT, canon = STRBUF_INIT;
    int rc = pull_object_url(src, name, &url, &canon);
    if (rc) {
        if (err) snprintf(err, errlen, "%s: the object URL is too long", name);
        sb_free(&url);
        sb_free(&canon);
        return rc;
    }
    char what[PULL_NAME_MAX + 16];
    snprintf(what, sizeof what, "'%s'", name);
    CURL *e = curl_easy_init();
    if (!e) {
        sb_free(&url);
        sb_free(&canon);
        return CUSTODY_ENOMEM;
    }
    rc = CUSTODY_EIO;
    for (unsigned attempt = 1; attempt <= PULL_DEFAULT_RETRIES; attempt++) {
        struct small s = {STRBUF_INIT, max, e, 0, false};
        struct curl_slist *hdrs = NULL;
        curl_easy_reset(e);
        rc = pull_prepare(e, src, url.buf, canon.buf, NULL, cainfo, 30, &hdrs);
        if (rc) {
            curl_slist_free_all(hdrs);
            sb_free(&s.body);
            if (err) snprintf(err, errlen, "%s: cannot build the request", what);
            break;
        }
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, small_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
        CURLcode cc = curl_easy_perform(e);
        curl_slist_free_all(hdrs);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s.status);
        if (s.too_big) {
            sb_free(&s.body);
            if (err) snprintf(err, errlen, "%s: larger than %zu bytes (%s)", what, max, url.buf);
            rc = CUSTODY_ETOOBIG;
            break;
        }
        if (cc == CURLE_OK && s.status == 200) {
            if (len) *len = s.body.len;
            *out = sb_detach(&s.body);
            rc = 0;
            break;
        }
        struct pull_failure f =
            pull_classify(cc, s.status, s.body.buf, s.body.len, what, url.buf, err, errlen);
        sb_free(&s.body);
        rc = f.rc;
        if (!f.transient || attempt == PULL_DEFAULT_RETRIES) break;
        uint64_t ns = pull_backoff_ns(200, attempt);
        struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
    curl_easy_cleanup(e);
    sb_free(&url);
    sb_free(&canon);
    return rc;
}
