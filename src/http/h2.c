/*
 * h2.c — HTTP/2 connections with nghttp2. Frames go straight into the
 * connection's output buffer; DATA payloads use NGHTTP2_DATA_FLAG_NO_COPY and are
 * read (pread) directly behind their frame header, so consecutive frames
 * share buffer chains: one writev carries many frames on plain sockets, and
 * TLS (which writes one record per chain) gets full-size records. Sending a
 * file segment per frame instead cost a writev + sendfile pair per 16 KiB.
 * Output is produced only while the socket buffer is below a high-water
 * mark, so a slow reader cannot make us buffer a whole file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define H2_OUT_HIGH (512 * 1024)  /* stop producing frames above this */
#define H2_WINDOW (4 * 1024 * 1024) /* receive window for uploads */

static void h2_flush(struct http_conn *c);

static struct http_req_priv *stream_req(struct http_conn *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->h2, id);
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct http_conn *c = ud;
    (void)s, (void)flags;
    struct evbuffer *out = c->out;
    if (evbuffer_get_length(out) >= H2_OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    evbuffer_add(out, data, len);
    return (ssize_t)len;
}

static int on_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *ud)
{
    struct http_conn *c = ud;
    struct http_req_priv *r = src->ptr;
    (void)s;
    struct evbuffer *out = c->out;
    if (evbuffer_get_length(out) >= H2_OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK; /* nghttp2 retries this frame on the next send */
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)(9 + length), &v, 1) < 1)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(v.iov_base, framehd, 9);
    uint8_t *p = (uint8_t *)v.iov_base + 9;
    if (r->body_fd >= 0) {
        size_t got = 0;
        while (got < length) {
            ssize_t n = pread(r->body_fd, p + got, length - got, (off_t)(r->body_off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                /* the file shrank or failed under us: end the connection */
                log_warn("http: %s: reading a response body failed", c->peer.addr);
                return NGHTTP2_ERR_CALLBACK_FAILURE;
            }
            got += (size_t)n;
        }
        r->body_off += length;
    } else if (length) {
        evbuffer_remove(r->body_mem, p, length);
    }
    v.iov_len = 9 + length;
    evbuffer_commit_space(out, &v, 1);
    (void)frame;
    return 0;
}

static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct http_req_priv *r = src->ptr;
    (void)s, (void)id, (void)buf, (void)ud;
    size_t n = (size_t)UTIL_MIN((uint64_t)len, r->body_out_left);
    r->body_out_left -= n;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (r->body_out_left == 0)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct http_conn *c = ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct http_req_priv *r = req_new(c);
    r->pub.stream_id = frame->hd.stream_id;
    r->pub.version = 20;
    r->nheaders_cap = c->srv->limits.max_headers;
    r->h2_next = c->h2_reqs;
    if (c->h2_reqs)
        c->h2_reqs->h2_prev = r;
    c->h2_reqs = r;
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, r);
    return 0;
}

/* Header bytes are collected as "name\0value\0" in the request's arena and
 * turned into http_header pointers once the block is complete. */
static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    struct http_conn *c = ud;
    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct http_req_priv *r = stream_req(c, frame->hd.stream_id);
    if (!r || r->h2_dispatched)
        return 0; /* trailers are ignored */
    r->h2_header_bytes += namelen + valuelen + 32;
    if (r->h2_header_bytes > c->srv->limits.max_header_bytes ||
        r->pub.nheaders >= r->nheaders_cap + 4 /* pseudo-headers */) {
        r->h2_too_large = true;
        return 0;
    }
    (void)s;
    sb_append(&r->h2_arena, name, namelen);
    sb_append(&r->h2_arena, "", 1);
    sb_append(&r->h2_arena, value, valuelen);
    sb_append(&r->h2_arena, "", 1);
    r->pub.nheaders++;
    return 0;
}

static enum http_method method_from(const char *m, size_t n)
{
    if (n == 3 && memcmp(m, "GET", 3) == 0)
        return HTTP_GET;
    if (n == 4 && memcmp(m, "HEAD", 4) == 0)
        return HTTP_HEAD;
    if (n == 3 && memcmp(m, "PUT", 3) == 0)
        return HTTP_PUT;
    if (n == 4 && memcmp(m, "POST", 4) == 0)
        return HTTP_POST;
    if (n == 6 && memcmp(m, "DELETE", 6) == 0)
        return HTTP_DELETE;
    if (n == 7 && memcmp(m, "OPTIONS", 7) == 0)
        return HTTP_OPTIONS;
    return HTTP_OTHER;
}

static void h2_dispatch(struct http_conn *c, struct http_req_priv *r, bool end_stream)
{
    struct http_req *q = &r->pub;
    r->h2_dispatched = true;
    c->nrequests++;
    q->start_ns = util_monotonic_ns();
    q->has_body = !end_stream;
    r->body_complete = end_stream;
    if (r->h2_too_large) {
        http_resp_error(&r->pub, CUSTODY_EHEADERS, "request header fields too large");
        return;
    }
    /* split pseudo-headers from regular ones */
    size_t n = q->nheaders;
    q->headers = util_calloc(n ? n : 1, sizeof(struct http_header));
    q->nheaders = 0;
    const char *p = r->h2_arena.buf;
    const char *method = NULL, *path = NULL;
    size_t method_len = 0, path_len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = p;
        size_t nl = strlen(name);
        const char *value = name + nl + 1;
        size_t vl = strlen(value);
        p = value + vl + 1;
        if (nl == 7 && memcmp(name, ":method", 7) == 0)
            method = value, method_len = vl;
        else if (nl == 5 && memcmp(name, ":path", 5) == 0)
            path = value, path_len = vl;
        else if (name[0] != ':') {
            struct http_header *h = &q->headers[q->nheaders++];
            h->name = name, h->name_len = nl, h->value = value, h->value_len = vl;
        }
    }
    if (!method || !path || path_len == 0) {
        http_resp_error(&r->pub, CUSTODY_EPROTO, "missing :method or :path");
        return;
    }
    if (path_len > c->srv->limits.max_uri_bytes) {
        http_resp_error(&r->pub, CUSTODY_ENAMETOOLONG, "request target too long");
        return;
    }
    q->method_str = method;
    q->method_len = method_len;
    q->method = method_from(method, method_len);
    q->target = path;
    q->target_len = path_len;
    const struct http_header *cl = http_req_header(q, "content-length");
    if (cl) {
        uint64_t v;
        if (util_parse_u64(cl->value, cl->value_len, &v) != 0 || v > INT64_MAX) {
            http_resp_error(&r->pub, CUSTODY_EPROTO, "bad content-length");
            return;
        }
        q->content_length = (int64_t)v;
        if (v > c->srv->limits.max_body_bytes) {
            http_resp_error(&r->pub, CUSTODY_ETOOBIG,
                            "request body larger than limits.max_body_bytes");
            return;
        }
    }
    c->srv->handler(q, c->srv->handler_arg);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct http_conn *c = ud;
    (void)s;
    struct http_req_priv *r;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        r = stream_req(c, frame->hd.stream_id);
        if (!r)
            break;
        if (!r->h2_dispatched && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (c->srv->draining) {
                nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                          NGHTTP2_REFUSED_STREAM);
                break;
            }
            h2_dispatch(c, r, frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            /* trailers end the body */
            r->body_complete = true;
            h2_body_resume(r);
        }
        break;
    case NGHTTP2_DATA:
        r = stream_req(c, frame->hd.stream_id);
        if (r && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            r->body_complete = true;
            h2_body_resume(r);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct http_conn *c = ud;
    (void)flags;
    struct http_req_priv *r = stream_req(c, id);
    if (!r || r->body_ended)
        return 0;
    r->body_seen += len;
    int rc = 0;
    if (r->body_seen > c->srv->limits.max_body_bytes)
        rc = CUSTODY_ETOOBIG;
    else if (r->body_requested && r->body_cbs && r->body_cbs->on_data)
        rc = r->body_cbs->on_data(&r->pub, data, len);
    if (rc) {
        r->body_ended = true;
        if (r->body_cbs && r->body_cbs->on_abort)
            r->body_cbs->on_abort(&r->pub);
        if (!r->responded)
            http_resp_error(&r->pub, rc, rc == CUSTODY_ETOOBIG ? "request body too large"
                                                        : custody_strerror(rc));
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    return 0;
}

static void stream_unlink(struct http_conn *c, struct http_req_priv *r)
{
    if (r->h2_prev)
        r->h2_prev->h2_next = r->h2_next;
    else
        c->h2_reqs = r->h2_next;
    if (r->h2_next)
        r->h2_next->h2_prev = r->h2_prev;
    r->h2_prev = r->h2_next = NULL;
}

bool h2_busy(const struct http_conn *c)
{
    return c->h2_reqs != NULL;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    struct http_conn *c = ud;
    (void)code;
    struct http_req_priv *r = stream_req(c, id);
    if (!r)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    stream_unlink(c, r);
    if (r->body_fd >= 0) {
        close(r->body_fd);
        r->body_fd = -1;
    }
    req_finish(r);
    return 0;
}

int h2_start(struct http_conn *c)
{
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_send_data_callback(cbs, on_send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 65536);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    int rc = nghttp2_session_server_new2(&c->h2, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0)
        return CUSTODY_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->srv->limits.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->srv->limits.max_header_bytes},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, UTIL_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, H2_WINDOW);
    c->state = CONN_H2;
    /* h2 connections multiplex: only the idle timer applies at connection level */
    conn_arm_timer(c, c->srv->limits.idle_timeout_ms);
    if (c->srv->draining)
        h2_goaway(c);
    h2_on_read(c);
    return 0;
}

void h2_on_read(struct http_conn *c)
{
    struct evbuffer *in = c->in;
    conn_ref(c);
    while (!c->closed && !c->close_pending && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        /* Handlers may answer from inside these callbacks; answers are only
         * queued (nghttp2_submit_*) and flushed below, after mem_recv returns:
         * nghttp2 forbids sending or deleting the session from a callback. */
        c->h2_in_recv = true;
        ssize_t n = nghttp2_session_mem_recv(c->h2, v.iov_base, v.iov_len);
        c->h2_in_recv = false;
        if (n < 0) {
            log_debug("http: %s: h2 protocol error: %s", c->peer.addr, nghttp2_strerror((int)n));
            c->close_pending = true;
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    if (c->close_pending) {
        c->close_pending = false;
        conn_close(c);
    } else if (!c->closed) {
        conn_arm_timer(c, c->srv->limits.idle_timeout_ms);
        h2_flush(c);
    }
    conn_unref(c);
}

void h2_on_write(struct http_conn *c)
{
    h2_flush(c);
}

static void h2_flush(struct http_conn *c)
{
    if (c->closed || !c->h2 || c->h2_in_recv)
        return; /* h2_on_read flushes after nghttp2_session_mem_recv */
    for (;;) {
        int rc = nghttp2_session_send(c->h2);
        if (rc != 0) {
            conn_close(c);
            return;
        }
        if (io_out_pending(c) == 0)
            break;
        /* write now; keep producing while the socket takes it */
        conn_ref(c);
        bool open = conn_flush(c);
        bool more = open && c->h2 && io_out_pending(c) == 0 && nghttp2_session_want_write(c->h2);
        conn_unref(c);
        if (!open)
            return;
        if (!more)
            break;
    }
    if (c->h2 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
        io_out_pending(c) == 0)
        conn_close(c);
}

void h2_respond(struct http_req_priv *r)
{
    struct http_conn *c = r->pub.conn;
    if (c->closed || !c->h2)
        return;
    size_t n = r->nrh + 2;
    nghttp2_nv *nva = util_calloc(n, sizeof *nva);
    char status[8];
    snprintf(status, sizeof status, "%d", r->status);
    const char *date = server_date(c->srv);
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
                          NGHTTP2_NV_FLAG_NONE};
    nva[1] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date, 4, strlen(date),
                          NGHTTP2_NV_FLAG_NONE};
    const char *p = r->rh.buf;
    for (size_t i = 0; i < r->nrh; i++) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;
        p = value + strlen(value) + 1;
        nva[i + 2] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                                  NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source.ptr = r, .read_callback = data_read};
    bool has_body = r->body_out_left > 0;
    int rc = nghttp2_submit_response(c->h2, r->pub.stream_id, nva, n, has_body ? &prd : NULL);
    free(nva);
    r->done = true;
    if (rc != 0) {
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->pub.stream_id,
                                  NGHTTP2_INTERNAL_ERROR);
    } else if (!r->body_complete) {
        /* answered before the whole body arrived: tell the client to stop sending */
        if (!r->body_requested)
            nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->pub.stream_id,
                                      NGHTTP2_NO_ERROR);
    }
    h2_flush(c);
}

void h2_body_resume(struct http_req_priv *r)
{
    /* DATA arrives through on_data_chunk as it comes; here we only signal the end */
    if (r->body_requested && r->body_complete && !r->body_ended && !r->gone) {
        r->body_ended = true;
        if (r->body_cbs && r->body_cbs->on_end)
            r->body_cbs->on_end(&r->pub);
    }
}

void h2_goaway(struct http_conn *c)
{
    if (c->h2_goaway || !c->h2)
        return;
    c->h2_goaway = true;
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR, NULL,
                          0);
    /* in-flight streams finish; nghttp2 stops wanting to read once they are gone */
    h2_flush(c);
}

void h2_free(struct http_conn *c)
{
    /* stream close callbacks release the requests */
    nghttp2_session *s = c->h2;
    c->h2 = NULL;
    while (c->h2_reqs) {
        struct http_req_priv *r = c->h2_reqs;
        stream_unlink(c, r);
        req_finish(r);
    }
    nghttp2_session_del(s);
}
