/*
 * pull.h — the doorway to src/pull: fetching a model's files from an HTTP(S)
 * origin or an S3-compatible endpoint (issue 6, decision 0012). Daemon-side:
 * uses src/util, OpenSSL (SHA-256, HMAC) and libcurl's multi interface.
 *
 * A model at an origin is a "directory" holding manifest.dsse.json (the
 * signed manifest of src/manifest) and each shard under its file name next
 * to it. The caller fetches the envelope with pull_fetch_small, checks it
 * with manifest_verify, then pulls each file with pull_file: parallel ranged
 * GETs into `<name>.partial`, hashed in file order as the bytes arrive,
 * renamed to `<name>` only once size and SHA-256 match the manifest. Nothing
 * unverified is ever visible under the final name. docs/pull.md has the
 * layout, URL forms, resume state and errors.
 *
 * Every function returns 0 on success and a negative CUSTODY_E* code on
 * failure, with a one-line message in (err, errlen) (err may be NULL).
 * Credentials are never written into messages or logs.
 */
#ifndef CUSTODY_PULL_H
#define CUSTODY_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/util.h"

#define PULL_URL_MAX 2048    /* bytes of a source URL or endpoint */
#define PULL_HOST_MAX 255    /* bytes of host[:port] */
#define PULL_S3_KEY_MAX 1024 /* bytes of an S3 object key (prefix + name) */
#define PULL_CRED_MAX 128    /* bytes of an access key id, secret key or region */
#define PULL_TOKEN_MAX 4096  /* bytes of a session token */
#define PULL_NAME_MAX 255    /* bytes of a file name (as MANIFEST_NAME_MAX) */
#define PULL_MANIFEST_NAME "manifest.dsse.json"

#define PULL_DEFAULT_STREAMS 8
#define PULL_DEFAULT_CHUNK (8u << 20)
#define PULL_MAX_STREAMS 64
#define PULL_MIN_CHUNK (64u << 10)
#define PULL_MAX_CHUNK (1u << 30)
#define PULL_DEFAULT_RETRIES 5

enum pull_scheme { PULL_HTTP = 1, PULL_HTTPS = 2, PULL_S3 = 3 };

/*
 * Where a model lives. http(s): base is the URL as given with a trailing '/'.
 * s3: base is the endpoint + "/" + bucket + "/" (path-style addressing) and
 * the object key of a file is prefix + name; requests are signed with AWS
 * Signature Version 4 when access_key is set (anonymous otherwise).
 */
struct pull_source {
    enum pull_scheme scheme;
    char base[PULL_URL_MAX + 1];
    /* s3 only */
    char bucket[64];
    char prefix[PULL_S3_KEY_MAX + 1]; /* raw key text, "" or ending in '/' */
    char host[PULL_HOST_MAX + 1];     /* Host header value, signed */
    char region[PULL_CRED_MAX + 1];
    char access_key[PULL_CRED_MAX + 1];
    char secret_key[PULL_CRED_MAX + 1];
    char session_token[PULL_TOKEN_MAX + 1];
};

/* Options of pull_source_parse; a NULL field falls back to the environment. */
struct pull_source_opts {
    const char *endpoint;      /* s3: http(s)://host[:port]; env AWS_ENDPOINT_URL_S3, then
                                  AWS_ENDPOINT_URL; else https://s3.REGION.amazonaws.com */
    const char *region;        /* env AWS_REGION, AWS_DEFAULT_REGION; else us-east-1 */
    const char *access_key;    /* env AWS_ACCESS_KEY_ID */
    const char *secret_key;    /* env AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* env AWS_SESSION_TOKEN (optional) */
    bool no_env;               /* ignore the environment (tests) */
};

/*
 * Parses url into *out: http://host[:port]/path/, https://..., or
 * s3://BUCKET/PREFIX (opts may be NULL). Refused with CUSTODY_EINVAL: other
 * schemes, user information ("user@"), a query or fragment, spaces or
 * control characters, a bad port, an invalid bucket name (3-63 of [a-z0-9.-],
 * alphanumeric at both ends), an access key without a secret (or the
 * reverse); CUSTODY_ENAMETOOLONG for anything over the bounds above.
 */
int pull_source_parse(const char *url, const struct pull_source_opts *opts, struct pull_source *out,
                      char *err, size_t errlen);

/* Wipes the credentials in src (OPENSSL_cleanse). */
void pull_source_clear(struct pull_source *src);

/*
 * The URL of file name at src (name is percent-encoded: every byte outside
 * A-Z a-z 0-9 - . _ ~), appended to out. For S3, canonical_uri (when not NULL)
 * receives the canonical URI that SigV4 signs: "/" bucket "/" encoded key.
 */
int pull_object_url(const struct pull_source *src, const char *name, struct strbuf *out,
                    struct strbuf *canonical_uri);

/* ---- AWS Signature Version 4 ---- */

struct pull_sigv4_req {
    const char *method;         /* "GET" */
    const char *host;           /* Host header value */
    const char *canonical_uri;  /* already URI-encoded, e.g. "/bucket/key" */
    const char *query;          /* raw query "a=1&b=2" (sorted and encoded here) or NULL */
    const char *amz_date;       /* YYYYMMDDTHHMMSSZ */
    const char *payload_sha256; /* hex, or "UNSIGNED-PAYLOAD"; NULL: no x-amz-content-sha256 */
    const char *range;          /* Range header value to sign, or NULL */
    const char *session_token;  /* x-amz-security-token, or NULL */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
};

/*
 * Signs req: writes the lower-case hex signature (64 + NUL) into sig and, when
 * authorization is not NULL, appends the Authorization header value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...").
 * Signed headers: host, range (when set), x-amz-content-sha256 (when set),
 * x-amz-date, x-amz-security-token (when set).
 */
int pull_sigv4_sign(const struct pull_sigv4_req *req, char sig[65], struct strbuf *authorization);

/* ---- fetching ---- */

/*
 * Fetches object name (e.g. PULL_MANIFEST_NAME) whole into a NUL-terminated
 * buffer (caller frees) of at most max bytes: CUSTODY_ETOOBIG beyond. Retries
 * transient failures like pull_file. cainfo: a CA bundle for https, or NULL.
 */
int pull_fetch_small(const struct pull_source *src, const char *name, size_t max,
                     const char *cainfo, char **out, size_t *len, char *err, size_t errlen);

/* Called from the pulling thread, at most every 100 ms and once at the end. */
typedef void (*pull_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct pull_opts {
    unsigned streams;     /* parallel connections; 0: PULL_DEFAULT_STREAMS */
    uint64_t chunk;       /* bytes per ranged GET; 0: PULL_DEFAULT_CHUNK */
    unsigned window;      /* chunks that may be written ahead of the contiguous
                             prefix; 0: 4 x streams */
    unsigned retries;     /* attempts per chunk without progress; 0: default */
    unsigned backoff_ms;  /* first retry delay, doubled each time (cap 5 s); 0: 200 */
    unsigned state_ms;    /* resume state written at most this often; 0: 1000 */
    unsigned low_speed_s; /* a connection below 1 byte/s this long is retried; 0: 30 */
    const char *cainfo;   /* CA bundle for https, or NULL for the system's */
    unsigned mode;        /* mode of the final file; 0: 0644 */
    pull_progress_fn progress;
    void *progress_arg;
    volatile int *cancel; /* when *cancel becomes non-zero: stop, keep state, EAGAIN */
};

struct pull_stats {
    uint64_t resumed;  /* bytes kept from an interrupted pull (re-hashed) */
    uint64_t fetched;  /* bytes received from the origin and written */
    unsigned requests; /* GETs sent */
    unsigned retries;  /* of which retries */
    uint64_t ns;       /* wall time */
};

/* The file to pull, as the verified manifest names it. */
struct pull_file {
    const char *name; /* plain file name: no '/', not "." or "..", <= 255 bytes */
    uint64_t size;
    uint8_t sha256[UTIL_SHA256_LEN];
};

/*
 * Pulls f from src into directory dirfd: writes `<name>.partial` (locked with
 * flock so two pulls of one file never interleave) with parallel ranged GETs
 * (206 required; a 200 is accepted only for a request that covers the whole
 * file), hashes the contiguous prefix as it completes, and records resume
 * state in `<name>.partial.state` at most every state_ms. When those two
 * exist from an interrupted pull, their prefix is re-hashed from disk and
 * kept if it matches the state's prefix digest (anything else is ignored and
 * the pull starts over). On success: fsync, renameat to `<name>`, state
 * removed, fsync of the directory. Names too long for the suffixes use
 * `.pull-<sha256 of name>.partial` instead.
 *
 * Errors: CUSTODY_ECORRUPT when size or SHA-256 differ (the partial is
 * removed; the message names the file and both digests or sizes);
 * CUSTODY_ENOENT (404), CUSTODY_EPERM (401/403: "access denied", with the S3
 * error code), CUSTODY_EUNSUPPORTED (200 to a partial range), CUSTODY_EIO
 * (other 4xx, or retries exhausted on 5xx / connection errors; the state is
 * kept for a later resume), CUSTODY_EAGAIN (cancelled), CUSTODY_ENOSPC.
 * stats may be NULL.
 */
int pull_file(const struct pull_source *src, const struct pull_file *f, int dirfd,
              const struct pull_opts *opts, struct pull_stats *stats, char *err, size_t errlen);

/* ---- range planning and resume state (exposed for tests) ---- */

/* Number of chunks that cover [from, size) in steps of chunk (0 if none). */
uint64_t pull_plan_chunks(uint64_t size, uint64_t from, uint64_t chunk);
/* Chunk i of that plan: [*start, *end) (end exclusive). */
void pull_plan_chunk(uint64_t size, uint64_t from, uint64_t chunk, uint64_t i, uint64_t *start,
                     uint64_t *end);

#define PULL_STATE_MAX 512 /* bytes of a state file */

struct pull_state {
    uint64_t size;                   /* the file's expected size */
    uint8_t sha256[UTIL_SHA256_LEN]; /* the file's expected SHA-256 */
    uint64_t done;                   /* contiguous prefix written: [0, done) */
    uint8_t prefix_sha256[UTIL_SHA256_LEN];
};

/*
 * The state file's text, exactly:
 *   custody-pull-state 1\nsize N\nsha256 HEX\ndone N\nprefix-sha256 HEX\n
 * Parsing is strict (that text and nothing else, lower-case hex, done <=
 * size); CUSTODY_EINVAL otherwise. A parsed state is a claim, not a fact:
 * pull_file keeps a prefix only when re-hashing it gives prefix_sha256.
 */
int pull_state_format(const struct pull_state *st, struct strbuf *out);
int pull_state_parse(const char *text, size_t len, struct pull_state *st);

/* ---- progress bar ---- */

struct pull_bar {
    FILE *out;
    bool tty; /* one line redrawn with \r; otherwise a line every 5 s */
    char label[64];
    uint64_t total;
    uint64_t base; /* bytes of earlier files (several files, one bar) */
    uint64_t start_ns, last_ns, last_done;
    double rate; /* bytes/s, smoothed */
    uint64_t rate_ns, rate_done;
};

/* out: usually stderr; tty: isatty(fileno(out)) unless forced. */
void pull_bar_init(struct pull_bar *b, FILE *out, bool tty, const char *label, uint64_t total);
/* Draws done (of total) when due; done includes base. */
void pull_bar_update(struct pull_bar *b, uint64_t done);
/* The final line (average rate), newline-terminated. */
void pull_bar_finish(struct pull_bar *b, uint64_t done);
/* A pull_progress_fn for one bar: done + b->base. */
void pull_bar_progress(void *bar, uint64_t done, uint64_t total);
/* "1.5 GiB", "812 MiB/s"-style helpers: writes into out (>= 16 bytes). */
void pull_fmt_bytes(double bytes, char *out, size_t outlen);

#endif
