/* internal.h — shared between src/pull's files (not a doorway: include pull/pull.h). */
#ifndef CUSTODY_PULL_INTERNAL_H
#define CUSTODY_PULL_INTERNAL_H

#include <curl/curl.h>

#include "pull/pull.h"

#define MANIFEST_INT_MAX_PULL 9007199254740991ull /* 2^53 - 1, as MANIFEST_INT_MAX */

/* Appends s[0, n) percent-encoded (all but A-Z a-z 0-9 - . _ ~, and '/' when keep_slash). */
int pull_uri_encode(struct strbuf *out, const char *s, size_t n, bool keep_slash);
/* A plain file name: 1-255 bytes, no '/', no control characters, not "." or "..". */
bool pull_name_ok(const char *name);

/* One-time libcurl global init (thread-safe). */
int pull_curl_init(void);

/*
 * Sets up e for GET url (common options: HTTP/1.1, no signals, timeouts, buffer size,
 * protocols, CA bundle, redirects for http(s) only) with the request headers in *hdrs
 * (freed by the caller after the transfer): Range when range is not NULL ("bytes=A-B"), and
 * for S3 the SigV4 headers signed now. canon: the S3 canonical URI.
 */
int pull_prepare(CURL *e, const struct pull_source *src, const char *url, const char *canon,
                 const char *range, const char *cainfo, unsigned low_speed_s,
                 struct curl_slist **hdrs);

/* How a finished request failed. */
struct pull_failure {
    int rc;         /* CUSTODY_E* */
    bool transient; /* worth retrying */
};

/*
 * Classifies a finished transfer: cc, the HTTP status (0 if none) and the error body
 * (S3's <Code> is quoted). Writes "what: ..." into err.
 */
struct pull_failure pull_classify(CURLcode cc, long status, const char *body, size_t blen,
                                  const char *what, const char *url, char *err, size_t errlen);

/* Parses a Content-Range header value "bytes A-B/TOTAL" (TOTAL may be '*': *total = UINT64_MAX). */
int pull_parse_content_range(const char *v, size_t n, uint64_t *a, uint64_t *b, uint64_t *total);

/* Sleep-free backoff delay for attempt n (1-based): base * 2^(n-1), capped at 5 s. */
uint64_t pull_backoff_ns(unsigned base_ms, unsigned attempt);

#endif
