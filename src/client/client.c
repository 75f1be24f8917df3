/*
 * client.c — libcustody: one libcurl easy handle per client, talking
 * HTTP/1.1 to custodyd's Unix socket (docs/API.md), keeping the connection
 * alive between calls.
 *
 * One engine (do_request) serves every call: it sends an optional body (from
 * memory or streamed from an fd), collects the few response headers the SDK
 * needs, and routes the response body: error bodies are buffered (cut at
 * 64 KiB), JSON answers are buffered (refused past 64 MiB), file bodies are
 * streamed to the caller's fd as they arrive.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/internal.h"

struct custody_client {
    CURL *curl;
    struct custody__agent *agent; /* acting as an agent (agent.c); NULL: the operator */
    char *socket;
    char errbuf[CURL_ERROR_SIZE];
    struct strbuf errmsg;
    custody_errsrc_t errsrc;
    int last_status;
    struct strbuf last_json;
    char *consent; /* X-Custody-Consent on the changes that follow; NULL: none */
};

/* What a 2xx body should be: any (buffered), file bytes (streamed to out_fd;
 * a listing is refused), a directory listing (JSON; file bytes are refused),
 * JSON (buffered), or nothing (an error-only probe drops it). */
enum want { WANT_ANY, WANT_FILE, WANT_DIR, WANT_JSON, WANT_ERROR_ONLY };

struct req {
    /* in */
    const char *action;    /* acting as an agent: the capability this needs ... */
    const char *resource;  /* ... on this resource id */
    const char *resource2; /* ... and this one (a move's destination) */
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *path;   /* URL path + query, already encoded */
    const char *body;   /* request body from memory (PUT/POST) */
    size_t body_len;
    const char *content_type;
    int in_fd;       /* >= 0: stream the request body from here */
    int64_t in_size; /* -1: unknown (chunked) */
    off_t in_start;  /* offset in_fd started at (for rewinds) */
    int out_fd;      /* >= 0: stream a 2xx body here */
    const char *range;
    const char *if_match;
    int if_none_match_any;
    enum want want;
    /* out */
    long status;
    struct strbuf resp;
    uint64_t written;
    char etag[128];
    char ctype[128];
    char crange[128];
    char lastmod[64];
    char mode[16];  /* x-custody-mode */
    char atime[40]; /* x-custody-atime */
    char btime[40]; /* x-custody-btime */
    char dsize[32]; /* x-custody-size (directory answers) */
    int64_t clen;
    int cb_err; /* an error decided inside a callback */
    custody_errsrc_t cb_src;
    char cb_msg[256];
    int aborted_ok; /* WANT_ERROR_ONLY: a 2xx arrived and was dropped */
    int retried;    /* a stale session proof was replaced once */
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;

static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- errors ---- */

/* (custody__: shared with the other src/client sources, internal.h) */
void custody__clear_error(custody_client_t *c)
{
    sb_reset(&c->errmsg);
    c->errsrc = CUSTODY_ERRSRC_NONE;
}

int custody__set_error(custody_client_t *c, int err, custody_errsrc_t src, const char *fmt, ...)
{
    sb_reset(&c->errmsg);
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&c->errmsg, fmt, ap);
    va_end(ap);
    c->errsrc = src;
    return err;
}

const char *custody_client_last_error(const custody_client_t *c)
{
    return c && c->errmsg.buf ? c->errmsg.buf : "";
}

custody_errsrc_t custody_client_last_error_source(const custody_client_t *c)
{
    return c ? c->errsrc : CUSTODY_ERRSRC_NONE;
}

int custody_client_last_status(const custody_client_t *c)
{
    return c ? c->last_status : 0;
}

const char *custody_client_last_json(const custody_client_t *c)
{
    return c && c->last_json.buf ? c->last_json.buf : "";
}

const char *custody_client_socket(const custody_client_t *c)
{
    return c ? c->socket : "";
}

struct custody__agent *custody__client_current_agent(const custody_client_t *c)
{
    return c->agent;
}

struct custody__agent *custody__client_agent(custody_client_t *c, struct custody__agent *a)
{
    struct custody__agent *old = c->agent;
    c->agent = a;
    return old;
}

/* ---- open / close ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int custody_client_open(const char *state_dir_or_socket, custody_client_t **out)
{
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK) return CUSTODY_ENOMEM;

    const char *arg = state_dir_or_socket;
    if (!arg || !*arg) {
        arg = getenv("CUSTODY_STATE");
        if (!arg || !*arg) arg = CUSTODY_DEFAULT_STATE;
    }
    char *sock;
    struct stat sb;
    if ((stat(arg, &sb) == 0 && S_ISSOCK(sb.st_mode)) ||
        (stat(arg, &sb) != 0 && ends_with(arg, ".sock")))
        sock = util_strdup(arg);
    else
        sock = util_path_join(arg, CUSTODY_SOCKET_NAME);
    struct sockaddr_un sun;
    if (strlen(sock) >= sizeof sun.sun_path) {
        free(sock);
        return CUSTODY_ENAMETOOLONG;
    }

    custody_client_t *c = util_calloc(1, sizeof *c);
    c->socket = sock;
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(sock);
        free(c);
        return CUSTODY_ENOMEM;
    }
    *out = c;
    return 0;
}

void custody_client_close(custody_client_t *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    custody__agent_free(c->agent);
    free(c->socket);
    sb_free(&c->errmsg);
    sb_free(&c->last_json);
    free(c->consent);
    free(c);
}

int custody_client_set_consent(custody_client_t *c, const char *token)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    if (token && *token) {
        size_t n = strnlen(token, CUSTODY_CONSENT_MAX + 1);
        for (size_t i = 0; i < n && n <= CUSTODY_CONSENT_MAX; i++)
            if (token[i] < 0x20 || token[i] > 0x7e) n = CUSTODY_CONSENT_MAX + 1;
        if (n > CUSTODY_CONSENT_MAX)
            return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                      "a consent token is 1 to %d bytes of printable ASCII",
                                      CUSTODY_CONSENT_MAX);
    }
    free(c->consent);
    c->consent = token && *token ? util_strdup(token) : NULL;
    return 0;
}

/* ---- the request engine ---- */

static void trim_copy(char *dst, size_t dstsz, const char *v, size_t n)
{
    while (n && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= dstsz) n = dstsz - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static bool header_is(const char *line, size_t colon, const char *name)
{
    return strlen(name) == colon && util_ascii_ieq(line, name, colon);
}

/* The answer headers kept (trimmed) in struct req, and where. */
#define KEPT(name, field) {name, offsetof(struct req, field), sizeof(((struct req *)0)->field)}
static const struct {
    const char *name;
    size_t off, cap;
} kept_headers[] = {
    KEPT("etag", etag),
    KEPT("content-type", ctype),
    KEPT("content-range", crange),
    KEPT("last-modified", lastmod),
    KEPT("x-custody-mode", mode),
    KEPT("x-custody-atime", atime),
    KEPT("x-custody-btime", btime),
    KEPT("x-custody-size", dsize),
};
#undef KEPT

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct req *r = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue): forget the previous headers */
        const char *sp = memchr(buf, ' ', n);
        uint64_t st = 0;
        if (sp && (size_t)(sp - buf) + 4 <= n && util_parse_u64(sp + 1, 3, &st) == 0)
            r->status = (long)st;
        for (size_t i = 0; i < UTIL_ARRAY_LEN(kept_headers); i++)
            ((char *)r + kept_headers[i].off)[0] = '\0';
        r->clen = -1;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(kept_headers); i++)
        if (header_is(buf, klen, kept_headers[i].name)) {
            trim_copy((char *)r + kept_headers[i].off, kept_headers[i].cap, v, vlen);
            return n;
        }
    if (header_is(buf, klen, "content-length")) {
        char tmp[32];
        uint64_t cl;
        trim_copy(tmp, sizeof tmp, v, vlen);
        if (util_parse_u64(tmp, strlen(tmp), &cl) == 0 && cl <= (uint64_t)INT64_MAX)
            r->clen = (int64_t)cl;
    }
    return n;
}

static bool is_json(const struct req *r)
{
    return util_ascii_ieq(r->ctype, "application/json", 16);
}

/* File answers carry a strong ETag that is the content's sha256; directory
 * listings carry none (a weak one would still mean "not file content"). */
static bool has_content_etag(const struct req *r)
{
    char hex[CUSTODY_SHA256_HEX_LEN + 1];
    if (strncmp(r->etag, "W/", 2) == 0) return false;
    custody__etag_to_hex(r->etag, hex);
    return hex[0] != '\0';
}

/* A 2xx whose body is a directory listing, not file content. */
static bool looks_like_listing(const struct req *r)
{
    return is_json(r) && !has_content_etag(r);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;
    if (r->status < 200 || r->status >= 300) {
        size_t room =
            r->resp.len < CUSTODY__ERROR_BODY_MAX ? CUSTODY__ERROR_BODY_MAX - r->resp.len : 0;
        if (room && sb_append(&r->resp, p, UTIL_MIN(room, n))) return 0;
        return n;
    }
    if (r->want == WANT_ERROR_ONLY) {
        r->aborted_ok = 1;
        return 0;
    }
    if (r->want == WANT_FILE && looks_like_listing(r)) {
        r->cb_err = CUSTODY_EISDIR;
        r->cb_src = CUSTODY_ERRSRC_SERVER;
        return 0;
    }
    if (r->want == WANT_DIR && !looks_like_listing(r)) {
        r->cb_err = CUSTODY_ENOTDIR;
        r->cb_src = CUSTODY_ERRSRC_SERVER;
        return 0;
    }
    if (r->out_fd >= 0) {
        int rc = util_write_all(r->out_fd, p, n);
        if (rc) {
            r->cb_err = rc;
            r->cb_src = CUSTODY_ERRSRC_LOCAL;
            snprintf(r->cb_msg, sizeof r->cb_msg, "writing the output: %s", strerror(errno));
            return 0;
        }
        r->written += n;
        return n;
    }
    if (n > CUSTODY_MAX_JSON_BYTES - UTIL_MIN(r->resp.len, CUSTODY_MAX_JSON_BYTES)) {
        r->cb_err = CUSTODY_EPROTO;
        r->cb_src = CUSTODY_ERRSRC_TRANSPORT;
        snprintf(r->cb_msg, sizeof r->cb_msg, "custodyd's answer is larger than %u bytes",
                 CUSTODY_MAX_JSON_BYTES);
        return 0;
    }
    if (sb_append(&r->resp, p, n)) {
        r->cb_err = CUSTODY_ENOMEM;
        r->cb_src = CUSTODY_ERRSRC_LOCAL;
        return 0;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct req *r = ud;
    for (;;) {
        ssize_t n = read(r->in_fd, buf, size * nitems);
        if (n >= 0) return (size_t)n;
        if (errno == EINTR) continue;
        r->cb_err = custody_err_from_errno(errno);
        r->cb_src = CUSTODY_ERRSRC_LOCAL;
        snprintf(r->cb_msg, sizeof r->cb_msg, "reading the input: %s", strerror(errno));
        return CURL_READFUNC_ABORT;
    }
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct req *r = ud;
    if (origin != SEEK_SET || r->in_size < 0) return CURL_SEEKFUNC_CANTSEEK;
    if (lseek(r->in_fd, r->in_start + (off_t)offset, SEEK_SET) < 0) return CURL_SEEKFUNC_FAIL;
    return CURL_SEEKFUNC_OK;
}

static void req_init(struct req *r, const char *method, const char *path)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->path = path;
    r->in_fd = -1;
    r->in_size = -1;
    r->out_fd = -1;
    r->clen = -1;
}

static void req_free(struct req *r)
{
    sb_free(&r->resp);
}

/* Sets up the handle, performs, and classifies the outcome. On success
 * (2xx) returns 0; else a negative error with the client's error set. */
static int do_request(custody_client_t *c, struct req *r)
{
    CURL *h = c->curl;
    struct strbuf url = STRBUF_INIT, sess = STRBUF_INIT, tokh = STRBUF_INIT;
    struct curl_slist *hdrs = NULL;
    char *ifm = NULL, *consent = NULL;
    int rc = 0;

again:
    if (c->agent) {
        /* the capability first (minting is a request of its own), then the
         * session proof: a fresh one when no connection is open */
        const char *tok = NULL;
        if (r->action &&
            (rc = custody__agent_token(c, c->agent, r->action, r->resource, r->resource2, &tok)))
            return rc;
        curl_socket_t live = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &live) != CURLE_OK) live = CURL_SOCKET_BAD;
        const char *proof = NULL;
        if ((rc = custody__agent_proof(c, c->agent, live == CURL_SOCKET_BAD || r->retried, &proof)))
            return rc;
        sb_reset(&sess);
        sb_printf(&sess, "custody-session: %s", proof);
        sb_reset(&tokh);
        if (tok) sb_printf(&tokh, "custody-token: %s", tok);
    }
    sb_reset(&c->last_json);
    c->last_status = 0;
    c->errbuf[0] = '\0';
    curl_easy_reset(h);
    sb_printf(&url, "http://localhost%s", r->path);
    curl_easy_setopt(h, CURLOPT_URL, url.buf);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "libcustody/" CUSTODY_VERSION_STRING);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    /* no 100-continue round trip; curl stops sending if an error answer arrives early */
    hdrs = curl_slist_append(hdrs, "Expect:");
    hdrs = curl_slist_append(hdrs, "Accept: */*");

    if (r->in_fd >= 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
        if (r->in_size >= 0)
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->in_size);
        else
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        if (strcmp(r->method, "PUT") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (r->body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
        if (strcmp(r->method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (r->in_fd < 0 && !r->body && r->out_fd < 0) {
        /* JSON reads: give up on a stalled daemon. Not for streams to out_fd or
         * from in_fd, where the other end of the pipe may pause for as long as
         * it likes (custodyd's io timeout guards the connection there). */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 120L);
    }
    if (r->content_type) {
        struct strbuf ct = STRBUF_INIT;
        sb_printf(&ct, "Content-Type: %s", r->content_type);
        hdrs = curl_slist_append(hdrs, ct.buf);
        sb_free(&ct);
    }
    if (r->range) curl_easy_setopt(h, CURLOPT_RANGE, r->range);
    if (r->if_match) {
        char *v = custody__if_match_value(r->if_match);
        struct strbuf hv = STRBUF_INIT;
        sb_printf(&hv, "If-Match: %s", v);
        free(v);
        ifm = sb_detach(&hv);
        hdrs = curl_slist_append(hdrs, ifm);
    }
    if (r->if_none_match_any) hdrs = curl_slist_append(hdrs, "If-None-Match: *");
    /* the consent token goes with every change of a file (PUT, DELETE, POST) */
    if (c->consent && strncmp(r->path, "/v1/fs/", 7) == 0 &&
        strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        struct strbuf hv = STRBUF_INIT;
        sb_printf(&hv, "X-Custody-Consent: %s", c->consent);
        consent = sb_detach(&hv);
        hdrs = curl_slist_append(hdrs, consent);
    }
    if (sess.len) hdrs = curl_slist_append(hdrs, sess.buf);
    if (tokh.len) hdrs = curl_slist_append(hdrs, tokh.buf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 0) status = r->status;
    r->status = status;
    c->last_status = (int)status;

    if (r->cb_err) {
        if (r->cb_err == CUSTODY_EISDIR)
            rc = custody__set_error(c, r->cb_err, r->cb_src, "is a directory");
        else if (r->cb_err == CUSTODY_ENOTDIR)
            rc = custody__set_error(c, r->cb_err, r->cb_src, "not a directory");
        else
            rc = custody__set_error(c, r->cb_err, r->cb_src, "%s",
                           r->cb_msg[0] ? r->cb_msg : custody_strerror(r->cb_err));
    } else if (r->aborted_ok) {
        rc = 0;
    } else if (status >= 300 || (cc == CURLE_OK && status < 200 && status != 0) ||
               (cc != CURLE_OK && status >= 400)) {
        /* the server answered with an error (possibly closing early, e.g. 413 mid-upload) */
        int err;
        char *msg;
        custody__decode_error(r->resp.buf, r->resp.len, status, &err, &msg);
        rc = custody__set_error(c, err, CUSTODY_ERRSRC_SERVER, "%s", msg);
        free(msg);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        /* curl's own text names "localhost port 80"; the socket's errno says more */
        long oserr = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
        rc = custody__set_error(c, CUSTODY_ECONNECT, CUSTODY_ERRSRC_TRANSPORT,
                       "cannot reach custodyd at %s: %s", c->socket,
                       oserr ? strerror((int)oserr) : curl_easy_strerror(cc));
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = custody__set_error(c, CUSTODY_ETIMEDOUT, CUSTODY_ERRSRC_TRANSPORT,
                       "custodyd at %s did not answer in time: %s", c->socket,
                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    } else if (cc == CURLE_OUT_OF_MEMORY) {
        rc = custody__set_error(c, CUSTODY_ENOMEM, CUSTODY_ERRSRC_LOCAL, "out of memory");
    } else if (cc != CURLE_OK) {
        rc = custody__set_error(c, CUSTODY_ECONNECT, CUSTODY_ERRSRC_TRANSPORT,
                       "connection to custodyd at %s failed: %s", c->socket,
                       c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
    } else if (status == 0) {
        rc = custody__set_error(c, CUSTODY_EPROTO, CUSTODY_ERRSRC_TRANSPORT,
                                "no HTTP answer from %s", c->socket);
    } else {
        custody__clear_error(c);
    }

    curl_slist_free_all(hdrs);
    hdrs = NULL;
    free(ifm);
    ifm = NULL;
    free(consent);
    consent = NULL;
    sb_reset(&url);
    if (rc == CUSTODY_EREPLAY && c->agent && !r->retried && r->in_fd < 0 && !r->written) {
        /* the connection our proof was for is gone (custodyd closed it when
         * idle): prove again on the new one. Same agent, same key, same
         * scope: nothing broader is ever tried. */
        r->retried = 1;
        sb_reset(&r->resp);
        r->cb_err = 0;
        goto again;
    }
    sb_free(&url);
    sb_free(&sess);
    sb_free(&tokh);
    return rc;
}

/* A GET/POST/PUT whose 2xx answer is JSON, left in r->resp and c->last_json. */
static int json_request(custody_client_t *c, struct req *r)
{
    int rc = do_request(c, r);
    if (rc) return rc;
    sb_append(&c->last_json, r->resp.buf, r->resp.len);
    return 0;
}

static int bad_answer(custody_client_t *c, int rc)
{
    sb_reset(&c->last_json);
    return custody__set_error(c, rc, CUSTODY_ERRSRC_TRANSPORT, "custodyd sent a malformed answer");
}

/* ---- shared with the other src/client sources (internal.h) ---- */

int custody__bad_answer(custody_client_t *c)
{
    return bad_answer(c, CUSTODY_EPROTO);
}

int custody__request_buffered(custody_client_t *c, const char *method, const char *path,
                              const char *body, size_t body_len, const char *content_type,
                              struct strbuf *out)
{
    return custody__request_capable(c, method, path, NULL, NULL, body, body_len, content_type,
                                    out);
}

int custody__request_capable(custody_client_t *c, const char *method, const char *path,
                             const char *action, const char *resource, const char *body,
                             size_t body_len, const char *content_type, struct strbuf *out)
{
    struct req r;
    req_init(&r, method, path);
    r.action = action;
    r.resource = resource;
    r.body = body;
    r.body_len = body_len;
    r.content_type = content_type;
    r.want = WANT_ANY;
    int rc = do_request(c, &r);
    if (!rc) {
        if (is_json(&r)) sb_append(&c->last_json, r.resp.buf, r.resp.len);
        sb_reset(out);
        if (sb_append(out, r.resp.buf ? r.resp.buf : "", r.resp.len))
            rc = custody__set_error(c, CUSTODY_ENOMEM, CUSTODY_ERRSRC_LOCAL, "out of memory");
    }
    req_free(&r);
    return rc;
}

static int resource_url(custody_client_t *c, struct strbuf *url, const char *prefix, const char *id)
{
    int rc = id ? custody__resource_url(url, prefix, id) : CUSTODY_EINVAL;
    if (rc)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                         "invalid resource id '%s' (expected ROOT:/PATH)", id ? id : "(null)");
    return 0;
}

/* Fills st from the headers of a file answer. */
static void stat_from_headers(const struct req *r, custody_stat_t *st)
{
    memset(st, 0, sizeof *st);
    st->http_status = (int)r->status;
    custody__etag_to_hex(r->etag, st->sha256);
    util_strlcpy(st->content_type, r->ctype, sizeof st->content_type);
    st->type = CUSTODY_TYPE_FILE;
    if (r->clen >= 0) st->size = (uint64_t)r->clen;
    uint64_t first, last, total;
    if (r->crange[0] && custody__content_range_parse(r->crange, &first, &last, &total) == 0 &&
        total != UINT64_MAX)
        st->size = total;
    if (r->lastmod[0]) {
        time_t t = curl_getdate(r->lastmod, NULL);
        if (t >= 0) util_rfc3339_ns((uint64_t)t * 1000000000ull, st->mtime);
    }
    if (custody__mode_parse(r->mode, &st->mode)) st->mode = -1;
    util_strlcpy(st->atime, r->atime, sizeof st->atime);
    util_strlcpy(st->btime, r->btime, sizeof st->btime);
}

/* ---- daemon ---- */

int custody_status(custody_client_t *c, char **json_out)
{
    if (!c || !json_out) return CUSTODY_EINVAL;
    struct req r;
    req_init(&r, "GET", "/v1/status");
    r.want = WANT_JSON;
    int rc = json_request(c, &r);
    if (!rc) *json_out = util_strndup(r.resp.buf, r.resp.len);
    req_free(&r);
    return rc;
}

/* ---- files ---- */

/* Builds PREFIX + the resource's URL into url and a request on it; on
 * failure frees url (the error is recorded) and leaves r untouched. */
static int resource_req(custody_client_t *c, struct strbuf *url, struct req *r,
                        const char *method, const char *prefix, const char *resource_id)
{
    int rc = resource_url(c, url, prefix, resource_id);
    if (rc) {
        sb_free(url);
        return rc;
    }
    req_init(r, method, url->buf);
    return 0;
}

int custody_get(custody_client_t *c, const char *resource_id, const custody_range_t *range,
                int64_t version, int out_fd, custody_stat_t *st)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    if (out_fd < 0)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT, "invalid output fd");
    struct strbuf url = STRBUF_INIT;
    char rbuf[64];
    int rc = resource_url(c, &url, "/v1/fs/", resource_id);
    if (!rc && version > 0) sb_printf(&url, "?version=%lld", (long long)version);
    if (!rc && version < 0)
        rc = custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT, "invalid version %lld",
                       (long long)version);
    if (!rc && range && custody__range_format(range, rbuf, sizeof rbuf))
        rc = custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT, "invalid range");
    if (rc) {
        sb_free(&url);
        return rc;
    }
    struct req r;
    req_init(&r, "GET", url.buf);
    r.action = "read";
    r.resource = resource_id;
    r.out_fd = out_fd;
    r.want = WANT_FILE;
    r.range = range ? rbuf : NULL;
    rc = do_request(c, &r);
    if (!rc && st) {
        stat_from_headers(&r, st);
        st->body_size = r.written;
    }
    req_free(&r);
    sb_free(&url);
    return rc;
}

static int find_in_parent(custody_client_t *c, const char *id, custody_dirent_t *found)
{
    char *root = NULL, *path = NULL;
    int rc = custody_resource_parse(id, &root, &path);
    if (rc) return rc;
    if (strcmp(path, "/") == 0) {
        free(root);
        free(path);
        return CUSTODY_ENOENT;
    }
    char *slash = strrchr(path, '/');
    const char *name = slash + 1;
    struct strbuf parent = STRBUF_INIT;
    sb_printf(&parent, "%s:%.*s", root, (int)(slash - path), path);
    if (slash == path) sb_puts(&parent, "/");
    custody_dirent_t *d = NULL;
    size_t n = 0;
    rc = custody_list(c, parent.buf, &d, &n, NULL);
    if (!rc) {
        rc = CUSTODY_ENOENT;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(d[i].name, name) == 0) {
                *found = d[i];
                d[i].name = d[i].mtime = d[i].atime = d[i].btime = NULL;
                rc = 0;
                break;
            }
        }
        custody_dirents_free(d, n);
    }
    sb_free(&parent);
    free(root);
    free(path);
    return rc;
}

int custody_stat(custody_client_t *c, const char *resource_id, custody_stat_t *st)
{
    if (!c || !st) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "HEAD", "/v1/fs/", resource_id);
    if (rc)
        return rc;
    r.action = "stat";
    r.resource = resource_id;
    rc = do_request(c, &r);
    if (rc && c->errsrc == CUSTODY_ERRSRC_SERVER && r.resp.len == 0) {
        /* HEAD answers carry no error body: ask again with GET for the code and message */
        int head_rc = rc;
        long head_status = r.status;
        struct req g;
        req_init(&g, "GET", url.buf);
        g.action = "read";
        g.resource = resource_id;
        g.want = WANT_ERROR_ONLY;
        rc = do_request(c, &g);
        if (!rc || g.aborted_ok) {
            /* it exists now: report the HEAD's outcome */
            int err;
            char *msg;
            custody__decode_error(NULL, 0, head_status, &err, &msg);
            rc = custody__set_error(c, head_rc, CUSTODY_ERRSRC_SERVER, "%s", msg);
            free(msg);
        }
        req_free(&g);
    }
    if (rc) {
        req_free(&r);
        sb_free(&url);
        return rc;
    }
    stat_from_headers(&r, st);
    if (!has_content_etag(&r)) {
        /* a directory: its answer's headers describe it (x-custody-size);
         * from a custodyd that does not send them, the parent's listing */
        st->type = CUSTODY_TYPE_DIR;
        st->size = 0;
        st->sha256[0] = st->content_type[0] = '\0';
        uint64_t dsize;
        if (r.dsize[0] && util_parse_u64(r.dsize, strlen(r.dsize), &dsize) == 0) {
            st->size = dsize;
        } else {
            st->mtime[0] = '\0';
            custody_dirent_t e = {0};
            if (find_in_parent(c, resource_id, &e) == 0) {
                st->size = e.size;
                util_strlcpy(st->mtime, e.mtime ? e.mtime : "", sizeof st->mtime);
                st->mode = e.mode;
                util_strlcpy(st->atime, e.atime ? e.atime : "", sizeof st->atime);
                util_strlcpy(st->btime, e.btime ? e.btime : "", sizeof st->btime);
            }
            free(e.name);
            free(e.mtime);
            free(e.atime);
            free(e.btime);
        }
        custody__clear_error(c);
        sb_reset(&c->last_json);
        c->last_status = (int)r.status;
    }
    req_free(&r);
    sb_free(&url);
    return 0;
}

static int put_common(custody_client_t *c, const char *resource_id, struct req *r,
                      const custody_put_opts_t *opts, custody_write_result_t *res)
{
    if (opts) {
        if (opts->if_match && *opts->if_match) r->if_match = opts->if_match;
        r->if_none_match_any = opts->create_only != 0;
    }
    r->want = WANT_JSON;
    int rc = json_request(c, r);
    if (rc) return rc;
    custody_write_result_t tmp;
    rc = custody__decode_write_result(r->resp.buf, r->resp.len, &tmp);
    if (rc) return bad_answer(c, rc);
    if (res) *res = tmp;
    (void)resource_id;
    return 0;
}

int custody_put_fd(custody_client_t *c, const char *resource_id, int in_fd,
                   const custody_put_opts_t *opts, custody_write_result_t *res)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "PUT", "/v1/fs/", resource_id);
    if (rc)
        return rc;
    r.action = "write";
    r.resource = resource_id;
    r.in_fd = in_fd;
    r.content_type = "application/octet-stream";
    struct stat sb;
    if (fstat(in_fd, &sb) != 0) {
        rc = custody__set_error(c, custody_err_from_errno(errno), CUSTODY_ERRSRC_LOCAL,
                       "reading the input: %s", strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        rc = custody__set_error(c, CUSTODY_EISDIR, CUSTODY_ERRSRC_LOCAL,
                                "reading the input: Is a directory");
    } else if (S_ISREG(sb.st_mode)) {
        off_t pos = lseek(in_fd, 0, SEEK_CUR);
        if (pos < 0) pos = 0;
        r.in_start = pos;
        r.in_size = sb.st_size > pos ? (int64_t)(sb.st_size - pos) : 0;
    }
    if (!rc) rc = put_common(c, resource_id, &r, opts, res);
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_put_buf(custody_client_t *c, const char *resource_id, const void *data, size_t len,
                    const custody_put_opts_t *opts, custody_write_result_t *res)
{
    if (!c || (!data && len)) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "PUT", "/v1/fs/", resource_id);
    if (rc)
        return rc;
    r.action = "write";
    r.resource = resource_id;
    r.body = data ? data : "";
    r.body_len = len;
    r.content_type = "application/octet-stream";
    rc = put_common(c, resource_id, &r, opts, res);
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_list(custody_client_t *c, const char *resource_id, custody_dirent_t **out, size_t *n,
                 int *truncated)
{
    if (!c || !out || !n) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "GET", "/v1/fs/", resource_id);
    if (rc)
        return rc;
    r.action = "list";
    r.resource = resource_id;
    r.want = WANT_DIR;
    rc = json_request(c, &r);
    if (!rc) {
        int tr = 0;
        rc = custody__decode_listing(r.resp.buf, r.resp.len, out, n, &tr);
        if (rc) {
            rc = bad_answer(c, rc);
        } else if (truncated) {
            *truncated = tr;
        }
    }
    req_free(&r);
    sb_free(&url);
    return rc;
}

static int op_request(custody_client_t *c, const char *action, const char *resource_id,
                      const char *resource2, char *body, struct req *r, struct strbuf *url)
{
    int rc = resource_url(c, url, "/v1/fs/", resource_id);
    if (rc) {
        free(body);
        return rc;
    }
    req_init(r, "POST", url->buf);
    r->action = action;
    r->resource = resource_id;
    r->resource2 = resource2;
    r->body = body;
    r->body_len = strlen(body);
    r->content_type = "application/json";
    r->want = WANT_JSON;
    rc = json_request(c, r);
    free(body);
    r->body = NULL;
    return rc;
}

/* op_request for an op whose answer needs no decoding. */
static int op_call(custody_client_t *c, const char *action, const char *resource_id,
                   const char *resource2, char *body)
{
    struct strbuf url = STRBUF_INIT;
    struct req r;
    req_init(&r, "POST", "");
    int rc = op_request(c, action, resource_id, resource2, body, &r, &url);
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_mkdir(custody_client_t *c, const char *resource_id, int parents)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    char *body = NULL;
    int rc = custody__encode_op_mkdir(parents, &body);
    if (rc) return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "cannot encode the request");
    return op_call(c, "mkdir", resource_id, NULL, body);
}

int custody_access(custody_client_t *c, const char *resource_id, const char *action,
                   const char *phase, const char *surface, int64_t first, int64_t last,
                   uint64_t bytes)
{
    if (!c || !action || !phase || !surface) return CUSTODY_EINVAL;
    custody__clear_error(c);
    char *body = NULL;
    int rc = custody__encode_op_access(action, phase, surface, first, last, bytes, &body);
    if (rc) return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "cannot encode the request");
    return op_call(c, action, resource_id, NULL, body);
}

int custody_access_grant(custody_client_t *c, const char *dir_id, const char *surface,
                         const char *const *names, size_t n, int *granted, unsigned *ttl_ms)
{
    if (!c || !dir_id || !surface || !names || !granted || !ttl_ms || n == 0 ||
        n > CUSTODY_ACCESS_BATCH_MAX)
        return CUSTODY_EINVAL;
    custody__clear_error(c);
    char *body = NULL;
    int rc = custody__encode_op_grant(surface, names, n, &body);
    if (rc) return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "cannot encode the request");
    struct strbuf url = STRBUF_INIT;
    struct req r;
    req_init(&r, "POST", "");
    rc = op_request(c, "read", dir_id, NULL, body, &r, &url);
    if (!rc && custody__decode_grant(r.resp.buf, r.resp.len, n, granted, ttl_ms) != 0)
        rc = bad_answer(c, CUSTODY_EPROTO);
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_access_usage(custody_client_t *c, const char *root_id, const char *action,
                         const char *surface, const custody_usage_t *u, size_t n)
{
    if (!c || !root_id || !action || !surface || !u || n == 0 || n > CUSTODY_ACCESS_BATCH_MAX)
        return CUSTODY_EINVAL;
    custody__clear_error(c);
    char *body = NULL;
    int rc = custody__encode_op_usage(action, surface, u, n, &body);
    if (rc) return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "cannot encode the request");
    return op_call(c, action, root_id, NULL, body);
}

int custody_move(custody_client_t *c, const char *from, const char *to, int overwrite)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    char *body = NULL;
    if (!to || !*to)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "missing destination");
    int rc = custody__encode_op_move(to, overwrite, &body);
    if (rc)
        return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "invalid destination '%s'", to);
    return op_call(c, "move", from, to, body);
}

int custody_delete(custody_client_t *c, const char *resource_id, const char *if_match)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "DELETE", "/v1/fs/", resource_id);
    if (rc)
        return rc;
    r.action = "delete";
    r.resource = resource_id;
    r.if_match = if_match && *if_match ? if_match : NULL;
    r.want = WANT_JSON;
    rc = json_request(c, &r);
    req_free(&r);
    sb_free(&url);
    return rc;
}

/* ---- versions ---- */

int custody_versions(custody_client_t *c, const char *resource_id, custody_version_t **out,
                     size_t *n)
{
    if (!c || !out || !n) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf url = STRBUF_INIT;
    struct req r;
    int rc = resource_req(c, &url, &r, "GET", "/v1/versions/", resource_id);
    if (rc)
        return rc;
    r.action = "versions";
    r.resource = resource_id;
    r.want = WANT_JSON;
    rc = json_request(c, &r);
    if (!rc) {
        rc = custody__decode_versions(r.resp.buf, r.resp.len, out, n);
        if (rc) rc = bad_answer(c, rc);
    }
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_rollback(custody_client_t *c, const char *resource_id, int64_t version,
                     custody_write_result_t *res)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    if (version <= 0)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid version %lld", (long long)version);
    char *body = NULL;
    int rc = custody__encode_op_rollback(version, &body);
    if (rc) return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "cannot encode the request");
    struct strbuf url = STRBUF_INIT;
    struct req r;
    req_init(&r, "POST", "");
    rc = op_request(c, "rollback", resource_id, NULL, body, &r, &url);
    if (!rc) {
        custody_write_result_t tmp;
        rc = custody__decode_write_result(r.resp.buf, r.resp.len, &tmp);
        if (rc)
            rc = bad_answer(c, rc);
        else if (res)
            *res = tmp;
    }
    req_free(&r);
    sb_free(&url);
    return rc;
}

/* ---- roots ---- */

int custody_root_add(custody_client_t *c, const char *name, const char *path,
                     const custody_label_t *labels, size_t nlabels, custody_root_t *out)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    if (!name || !custody__root_name_valid(name))
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                         "invalid root name '%s' (1-64 of [A-Za-z0-9_-], first alphanumeric)",
                         name ? name : "(null)");
    if (!path || path[0] != '/')
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                         "root path must be absolute: '%s'", path ? path : "(null)");
    char *body = NULL;
    int rc = custody__encode_root_put(path, labels, nlabels, &body);
    if (rc)
        return custody__set_error(c, rc, CUSTODY_ERRSRC_ARGUMENT, "invalid root path or labels");
    struct strbuf url = STRBUF_INIT;
    sb_puts(&url, "/v1/roots/");
    custody__url_encode(&url, name, strlen(name));
    struct req r;
    req_init(&r, "PUT", url.buf);
    r.body = body;
    r.body_len = strlen(body);
    r.content_type = "application/json";
    r.want = WANT_JSON;
    rc = json_request(c, &r);
    if (!rc && out) {
        rc = custody__decode_root(r.resp.buf, r.resp.len, out);
        if (rc) rc = bad_answer(c, rc);
    }
    free(body);
    req_free(&r);
    sb_free(&url);
    return rc;
}

int custody_root_list(custody_client_t *c, custody_root_t **out, size_t *n)
{
    if (!c || !out || !n) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct req r;
    req_init(&r, "GET", "/v1/roots");
    r.want = WANT_JSON;
    int rc = json_request(c, &r);
    if (!rc) {
        rc = custody__decode_roots(r.resp.buf, r.resp.len, out, n);
        if (rc) rc = bad_answer(c, rc);
    }
    req_free(&r);
    return rc;
}
