/* response.c — request objects, response headers, and the send functions
 * shared by HTTP/1.x and HTTP/2. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct http_req_priv *req_new(struct http_conn *c)
{
    struct http_req_priv *r = util_calloc(1, sizeof *r);
    r->refs = 1;
    r->pub.conn = c;
    r->pub.peer = &c->peer;
    r->pub.content_length = -1;
    r->keep_alive = true;
    r->body_fd = -1;
    conn_ref(c);
    return r;
}

static void req_free(struct http_req_priv *r)
{
    struct http_conn *c = r->pub.conn;
    free(r->head);
    free(r->pub.headers);
    sb_free(&r->h2_arena);
    sb_free(&r->rh);
    if (r->body_mem)
        evbuffer_free(r->body_mem);
    if (r->seg)
        evbuffer_file_segment_free(r->seg);
    if (r->body_fd >= 0)
        close(r->body_fd);
    for (size_t i = 0; i < r->npass_fds; i++) /* never handed to the connection */
        close(r->pass_fds[i]);
    free(r->pass_fds);
    free(r);
    conn_unref(c);
}

void http_req_ref(struct http_req *req)
{
    ((struct http_req_priv *)req)->refs++;
}

void http_req_unref(struct http_req *req)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    if (--r->refs == 0)
        req_free(r);
}

bool http_req_gone(const struct http_req *req)
{
    return ((const struct http_req_priv *)req)->gone;
}

void req_abort_body(struct http_req_priv *r)
{
    if (r->body_requested && !r->body_ended) {
        r->body_ended = true;
        if (r->body_cbs && r->body_cbs->on_abort)
            r->body_cbs->on_abort(&r->pub);
    }
}

void req_finish(struct http_req_priv *r)
{
    r->gone = true;
    req_abort_body(r);
    http_req_unref(&r->pub);
}

const struct http_header *http_req_header(const struct http_req *req, const char *name)
{
    return h1_find_header(req->headers, req->nheaders, name);
}

void http_req_read_body(struct http_req *req, const struct http_body_cbs *cbs)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    if (r->body_requested || r->gone)
        return;
    r->body_cbs = cbs;
    r->body_requested = true;
    if (req->version == 20)
        h2_body_resume(r);
    else
        h1_body_resume(r);
}

void http_resp_header(struct http_req *req, const char *name, const char *value)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    /* refuse CR/LF/NUL in header values: no response splitting */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n: "))
        return;
    sb_append(&r->rh, name, strlen(name) + 1);
    sb_append(&r->rh, value, strlen(value) + 1);
    r->nrh++;
}

void http_resp_reset_headers(struct http_req *req)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    sb_reset(&r->rh);
    r->nrh = 0;
}

void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return;
    http_resp_header(req, name, buf);
}

static bool resp_begin(struct http_req_priv *r, int status)
{
    if (r->responded)
        return false;
    r->responded = true;
    r->status = status;
    r->pub.conn->srv->requests++;
    return !r->gone;
}

static void resp_dispatch(struct http_req_priv *r)
{
    if (r->pub.version == 20)
        h2_respond(r);
    else
        h1_respond(r);
}

void http_resp_send(struct http_req *req, int status, const void *body, size_t len)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    if (!resp_begin(r, status))
        return;
    r->body_mem = evbuffer_new();
    bool no_body = req->method == HTTP_HEAD || status == 204 || status == 304 || status < 200;
    if (len && !no_body)
        evbuffer_add(r->body_mem, body, len);
    r->body_out_left = no_body ? 0 : len;
    if (status != 204 && status != 304 && status >= 200) {
        char cl[21];
        util_u64_text(len, cl);
        http_resp_header(req, "content-length", cl);
    }
    resp_dispatch(r);
}

void http_resp_send_file(struct http_req *req, int status, int fd, uint64_t off, uint64_t len)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    if (!resp_begin(r, status)) {
        close(fd);
        return;
    }
    char cl[21];
    util_u64_text(len, cl);
    http_resp_header(req, "content-length", cl);
    if (req->method == HTTP_HEAD || len == 0) {
        close(fd);
        r->body_mem = evbuffer_new();
        r->body_out_left = 0;
    } else if (len <= 32768) {
        /* small bodies: one read into memory beats a file segment + sendfile */
        r->body_mem = evbuffer_new();
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(r->body_mem, (ev_ssize_t)len, &v, 1) >= 1) {
            ssize_t n = pread(fd, v.iov_base, (size_t)len, (off_t)off);
            if (n == (ssize_t)len) {
                v.iov_len = (size_t)len;
                evbuffer_commit_space(r->body_mem, &v, 1);
            } else {
                /* file shrank underneath us: close the connection rather than lie */
                r->keep_alive = false;
                r->gone = true;
            }
        }
        close(fd);
        r->body_out_left = len;
    } else if (req->version == 20) {
        /* HTTP/2 cuts the body into DATA frames; each frame's payload is read
         * straight behind its 9-byte header, so frames pack into large
         * contiguous writes (and single TLS records) */
        r->body_fd = fd;
        r->body_off = off;
        r->body_out_left = len;
    } else {
        r->seg = evbuffer_file_segment_new(fd, (ev_off_t)off, (ev_off_t)len,
                                           EVBUF_FS_CLOSE_ON_FREE);
        if (!r->seg) {
            close(fd);
            r->keep_alive = false;
            r->gone = true;
        }
        r->body_out_left = len;
    }
    if (r->gone) {
        /* cannot send what we promised: drop the connection */
        conn_close(req->conn);
        return;
    }
    resp_dispatch(r);
}

bool http_req_can_pass_fds(const struct http_req *req)
{
    return req->version != 20 && !req->conn->tls && req->peer->has_cred;
}

int http_resp_send_fds(struct http_req *req, int status, const void *body, size_t len,
                       const int *fds, size_t n)
{
    struct http_req_priv *r = (struct http_req_priv *)req;
    if (!http_req_can_pass_fds(req))
        return CUSTODY_EUNSUPPORTED;
    /* each chunk of descriptors needs a byte of its own; the head alone has dozens */
    if (n > HTTP_PASS_FDS_MAX || req->method == HTTP_HEAD || r->responded)
        return CUSTODY_EINVAL;
    if (n) {
        r->pass_fds = util_calloc(n, sizeof *fds);
        memcpy(r->pass_fds, fds, n * sizeof *fds);
        r->npass_fds = n;
    }
    http_resp_send(req, status, body, len);
    return 0;
}

void http_error_json(struct strbuf *sb, int err, const char *message)
{
    sb_printf(sb, "{\"error\":{\"code\":\"%s\",\"message\":\"", custody_err_code(err));
    sb_json_escape(sb, message, strlen(message));
    sb_printf(sb, "\",\"status\":%d}}\n", custody_err_http_status(err));
}

void http_resp_error(struct http_req *req, int err, const char *message)
{
    struct strbuf b = STRBUF_INIT;
    http_error_json(&b, err, message);
    http_resp_header(req, "content-type", "application/json");
    http_resp_header(req, "x-custody-error", custody_err_code(err));
    http_resp_send(req, custody_err_http_status(err), b.buf, b.len);
    sb_free(&b);
}

const char *server_date(struct http_server *srv)
{
    uint64_t now = util_now_ns() / 1000000000ull;
    if (now != srv->date_sec) {
        srv->date_sec = now;
        util_http_date(now, srv->date);
    }
    return srv->date;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}
