/*
 * h1.h — HTTP/1.1 request-head parser and chunked body decoder (RFC 9112).
 * Pure functions over bytes: no I/O, no allocation. The connection code
 * finds the end of the head (CRLF CRLF), enforces the byte limit, and calls
 * h1_parse_head once; bodies go through h1_chunked_feed incrementally.
 * Both are fuzzed (fuzz/fuzz_http.c).
 */
#ifndef CUSTODY_HTTP_H1_H
#define CUSTODY_HTTP_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

struct h1_head {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int version; /* 10 or 11 */
    struct http_header *headers;
    size_t nheaders;
};

/*
 * Parses a complete request head buf[0..len) that ends with "\r\n\r\n".
 * Headers point into buf. Errors: CUSTODY_EPROTO (malformed: bad request
 * line, bad token, obs-fold, bare CR, NUL...), CUSTODY_EHEADERS (more than
 * max_headers), CUSTODY_ENAMETOOLONG (target longer than max_uri).
 */
int h1_parse_head(const char *buf, size_t len, struct h1_head *out, struct http_header *hdrs,
                  size_t max_headers, size_t max_uri);

/* Message framing from the headers (RFC 9112 §6): sets *content_length
 * (-1 when none) and *chunked. Refuses Transfer-Encoding other than
 * "chunked", both TE and Content-Length, and conflicting Content-Lengths
 * (request smuggling) with CUSTODY_EPROTO. */
int h1_body_framing(const struct h1_head *h, int64_t *content_length, bool *chunked);

/* Finds a header (case-insensitive); NULL when absent. */
const struct http_header *h1_find_header(const struct http_header *hdrs, size_t n,
                                         const char *name);

/* Incremental chunked-body decoder. */
struct h1_chunked {
    int state;
    uint64_t chunk_left;
    size_t line_len;    /* bytes of the current size or trailer line */
    size_t trailer_len; /* total trailer bytes */
    bool size_digits;
};
#define H1_CHUNK_LINE_MAX 1024
#define H1_TRAILER_MAX 8192

typedef int (*h1_emit_fn)(void *arg, const char *data, size_t len);
/* Feeds len bytes; emits decoded data; returns bytes consumed (>= 0) or a
 * negative error (CUSTODY_EPROTO, or what emit returned). *done turns true
 * after the last chunk and trailers; bytes after that are not consumed. */
ssize_t h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len, h1_emit_fn emit,
                        void *arg, bool *done);

#endif
