/*
 * conn.c — one client connection: accept, TLS handshake and ALPN, HTTP/1.x
 * request heads and bodies, keep-alive, timeouts, and close. HTTP/2
 * connections hand over to h2.c after the preface or ALPN "h2".
 *
 * HTTP/1.x handles one request at a time: while a request is being
 * answered, further pipelined bytes wait in the input buffer (bounded: see
 * io_update_read). The socket and TLS live in io.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>


#include "internal.h"

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN 24

static void h1_process(struct http_conn *c);
static void h1_fail(struct http_conn *c, int err, const char *message);
static void conn_linger(struct http_conn *c);

void conn_ref(struct http_conn *c)
{
    c->refs++;
}

void conn_unref(struct http_conn *c)
{
    if (--c->refs == 0) {
        if (c->user_free)
            c->user_free(c->user);
        free(c->scratch);
        free(c);
    }
}

void conn_arm_timer(struct http_conn *c, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

void conn_update_listeners(struct http_server *srv)
{
    bool full = srv->nconns >= srv->limits.max_connections;
    if (srv->draining)
        return;
    if (full && !srv->listeners_paused) {
        for (size_t i = 0; i < srv->nlisteners; i++)
            evconnlistener_disable(srv->listeners[i]->lev);
        srv->listeners_paused = true;
        log_warn("http: %llu connections open (limits.max_connections): not accepting more",
                 (unsigned long long)srv->nconns);
    } else if (!full && srv->listeners_paused) {
        for (size_t i = 0; i < srv->nlisteners; i++)
            evconnlistener_enable(srv->listeners[i]->lev);
        srv->listeners_paused = false;
    }
}

void conn_close(struct http_conn *c)
{
    if (c->closed)
        return;
    if (c->h2_in_recv) {
        /* nghttp2 is on the stack: h2_on_read closes once it returns */
        c->close_pending = true;
        return;
    }
    c->closed = true;
    struct http_server *srv = c->srv;
    if (c->cur) {
        struct http_req_priv *r = c->cur;
        c->cur = NULL;
        req_finish(r);
    }
    if (c->h2)
        h2_free(c);
    event_free(c->timer);
    c->timer = NULL;
    io_free(c); /* closes the fd */
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    conn_update_listeners(srv);
    if (srv->draining && srv->nconns == 0 && srv->drain_done) {
        void (*done)(void *) = srv->drain_done;
        srv->drain_done = NULL;
        done(srv->drain_arg);
    }
    conn_unref(c);
}

/* Close once everything queued has been written. */
static void conn_close_after_write(struct http_conn *c)
{
    c->state = CONN_CLOSING;
    io_set_reading(c, false);
    conn_flush(c); /* calls conn_on_drained once everything has left */
}

void conn_drain(struct http_conn *c)
{
    if (c->h2) {
        h2_goaway(c);
        return;
    }
    if (c->state == CONN_H1_HEAD && !c->head_started)
        conn_close(c);
    else if (c->state == CONN_HANDSHAKE)
        conn_close(c);
    /* a busy HTTP/1 connection closes after its response (keep_alive off) */
}

/* RFC 9112 §9.6: closing while the client is still sending its body makes
 * the kernel reset the connection, and the client may never read our
 * answer. So stop writing, read and discard for a moment, then close. */
#define LINGER_MS 2000
static void conn_linger(struct http_conn *c)
{
    c->state = CONN_LINGER;
    if (!c->tls)
        shutdown(c->fd, SHUT_WR);
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    io_timeouts(c, false, false);
    io_set_reading(c, true);
    evtimer_del(c->timer);
    conn_arm_timer(c, LINGER_MS);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    if (c->state == CONN_H1_HEAD && c->head_started) {
        char msg[96];
        snprintf(msg, sizeof msg, "request head not complete within %u ms",
                 c->srv->limits.header_timeout_ms);
        h1_fail(c, CUSTODY_ETIMEDOUT, msg);
        return;
    }
    if (c->h2 && h2_busy(c)) {
        conn_arm_timer(c, c->srv->limits.idle_timeout_ms); /* streams still open */
        return;
    }
    log_debug("http: %s: closing idle connection", c->peer.addr);
    conn_close(c);
}

/* ---- accept ---- */

void conn_accept(struct http_server *srv, int fd, bool tls, const struct sockaddr *sa, int salen)
{
    struct http_conn *c = util_calloc(1, sizeof *c);
    c->srv = srv;
    c->fd = fd;
    c->tls = tls;
    c->refs = 1;
    if (sa->sa_family == AF_UNIX) {
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
            c->peer.has_cred = true;
            c->peer.pid = cred.pid;
            c->peer.uid = cred.uid;
            c->peer.gid = cred.gid;
        }
        snprintf(c->peer.addr, sizeof c->peer.addr, "unix:pid=%d,uid=%u", (int)c->peer.pid,
                 (unsigned)c->peer.uid);
    } else {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
            port = ntohs(in6->sin6_port);
        }
        snprintf(c->peer.addr, sizeof c->peer.addr, "%s:%d", ip, port);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    (void)salen;
    c->timer = evtimer_new(srv->base, conn_timer_cb, c);
    if (!c->timer || io_init(c, tls ? srv->ssl_ctx : NULL) != 0) {
        if (c->timer)
            event_free(c->timer);
        io_free(c); /* closes fd */
        free(c);
        return;
    }
    c->state = tls ? CONN_HANDSHAKE : CONN_H1_HEAD;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->accepted++;
    conn_update_listeners(srv);
    io_set_reading(c, true);
    /* the TLS handshake and the first head share the head deadline */
    conn_arm_timer(c, tls ? srv->limits.header_timeout_ms : srv->limits.idle_timeout_ms);
}

void conn_on_handshake(struct http_conn *c)
{
    /* TLS established: pick the protocol by ALPN */
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    evtimer_del(c->timer);
    if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
        if (h2_start(c) != 0)
            conn_close(c);
    } else {
        c->state = CONN_H1_HEAD;
        conn_arm_timer(c, c->srv->limits.idle_timeout_ms);
    }
}

void conn_on_drained(struct http_conn *c)
{
    if (c->state == CONN_CLOSING) {
        if (c->tls)
            conn_close(c);
        else
            conn_linger(c); /* FIN now; unread input must not turn into a reset */
        return;
    }
    if (c->h2) {
        h2_on_write(c);
        return;
    }
    if (c->state == CONN_H1_BUSY && c->cur && c->cur->done && io_out_pending(c) == 0) {
        /* response fully written */
        struct http_req_priv *r = c->cur;
        bool keep = r->keep_alive && r->body_complete && !c->srv->draining;
        bool body_unread = !r->body_complete;
        c->cur = NULL;
        req_finish(r);
        if (!keep) {
            if (body_unread)
                conn_linger(c);
            else
                conn_close(c);
            return;
        }
        c->state = CONN_H1_HEAD;
        c->head_started = false;
        c->scan_pos = 0;
        io_timeouts(c, false, false);
        conn_arm_timer(c, c->srv->limits.idle_timeout_ms);
        io_set_reading(c, true);
        h1_process(c); /* pipelined requests already buffered */
    }
}

void conn_on_readable(struct http_conn *c)
{
    if (c->h2) {
        h2_on_read(c);
        return;
    }
    if (c->state == CONN_LINGER || c->state == CONN_CLOSING) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        return;
    }
    if (c->state == CONN_HANDSHAKE)
        return;
    h1_process(c);
}

/* ---- HTTP/1.x ---- */

/* Writes a complete error response and closes the connection after it. */
static void h1_fail(struct http_conn *c, int err, const char *message)
{
    int status = custody_err_http_status(err);
    struct strbuf body = STRBUF_INIT, out = STRBUF_INIT;
    http_error_json(&body, err, message);
    sb_printf(&out,
              "HTTP/1.1 %d %s\r\ndate: %s\r\ncontent-type: application/json\r\n"
              "x-custody-error: %s\r\nconnection: close\r\ncontent-length: %zu\r\n\r\n",
              status, http_status_text(status), server_date(c->srv), custody_err_code(err),
              body.len);
    sb_append(&out, body.buf, body.len);
    evbuffer_add(c->out, out.buf, out.len);
    sb_free(&body);
    sb_free(&out);
    log_info("http: %s: %d %s: %s", c->peer.addr, status, custody_err_code(err), message);
    evtimer_del(c->timer);
    conn_close_after_write(c);
}

static enum http_method method_of(const char *m, size_t n)
{
    static const struct {
        const char *s;
        enum http_method m;
    } tab[] = {{"GET", HTTP_GET},       {"HEAD", HTTP_HEAD},     {"PUT", HTTP_PUT},
               {"POST", HTTP_POST},     {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(tab); i++)
        if (strlen(tab[i].s) == n && memcmp(tab[i].s, m, n) == 0)
            return tab[i].m;
    return HTTP_OTHER;
}

static bool header_has_token(const struct http_header *h, const char *tok)
{
    size_t tl = strlen(tok);
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && util_ascii_ieq(s, tok, tl))
            return true;
    }
    return false;
}

/* Tries to take one complete request head from the input buffer. */
static void h1_take_head(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    struct evbuffer *in = c->in;
    size_t avail = evbuffer_get_length(in);
    if (avail == 0)
        return;
    if (!c->head_started) {
        c->head_started = true;
        evtimer_del(c->timer);
        conn_arm_timer(c, srv->limits.header_timeout_ms);
    }
    /* An HTTP/2 client with prior knowledge (plain connections only) */
    if (c->nrequests == 0 && !c->tls && c->scan_pos == 0) {
        size_t n = UTIL_MIN(avail, (size_t)H2_PREFACE_LEN);
        unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)n);
        if (memcmp(p, H2_PREFACE, n) == 0) {
            if (n < H2_PREFACE_LEN)
                return; /* wait for the whole preface */
            evtimer_del(c->timer);
            if (h2_start(c) != 0)
                conn_close(c);
            return;
        }
    }
    struct evbuffer_ptr start;
    evbuffer_ptr_set(in, &start, c->scan_pos >= 3 ? c->scan_pos - 3 : 0, EVBUFFER_PTR_SET);
    struct evbuffer_ptr found = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (found.pos < 0) {
        c->scan_pos = avail;
        if (avail > srv->limits.max_header_bytes) {
            /* no end of the request line yet: the target itself is too long */
            struct evbuffer_ptr eol = evbuffer_search(in, "\r\n", 2, NULL);
            if (eol.pos < 0 || (size_t)eol.pos > srv->limits.max_uri_bytes)
                h1_fail(c, CUSTODY_ENAMETOOLONG, "request line too long");
            else
                h1_fail(c, CUSTODY_EHEADERS, "request head too large");
        }
        return;
    }
    size_t head_len = (size_t)found.pos + 4;
    if (head_len > srv->limits.max_header_bytes) {
        struct evbuffer_ptr eol = evbuffer_search(in, "\r\n", 2, NULL);
        if ((size_t)eol.pos > srv->limits.max_uri_bytes)
            h1_fail(c, CUSTODY_ENAMETOOLONG, "request line too long");
        else
            h1_fail(c, CUSTODY_EHEADERS, "request head too large");
        return;
    }
    struct http_req_priv *r = req_new(c);
    r->head = util_calloc(1, head_len + 1);
    evbuffer_remove(in, r->head, head_len);
    c->scan_pos = 0;
    if (c->scratch_cap != srv->limits.max_headers) {
        free(c->scratch);
        c->scratch_cap = srv->limits.max_headers;
        c->scratch = malloc((c->scratch_cap ? c->scratch_cap : 1) * sizeof(struct http_header));
        if (!c->scratch)
            abort();
    }
    struct h1_head h;
    int rc = h1_parse_head(r->head, head_len, &h, c->scratch, c->scratch_cap,
                           srv->limits.max_uri_bytes);
    if (rc == 0) {
        r->pub.headers = malloc((h.nheaders ? h.nheaders : 1) * sizeof(struct http_header));
        if (!r->pub.headers)
            abort();
        memcpy(r->pub.headers, c->scratch, h.nheaders * sizeof(struct http_header));
        h.headers = r->pub.headers;
    }
    int64_t cl = -1;
    bool chunked = false;
    if (rc == 0)
        rc = h1_body_framing(&h, &cl, &chunked);
    if (rc != 0) {
        req_finish(r);
        h1_fail(c, rc,
                rc == CUSTODY_EHEADERS       ? "too many header fields"
                : rc == CUSTODY_ENAMETOOLONG ? "request target too long"
                                             : "malformed HTTP/1.1 request");
        return;
    }
    c->cur = r;
    c->state = CONN_H1_BUSY;
    c->nrequests++;
    evtimer_del(c->timer);
    struct http_req *q = &r->pub;
    q->version = h.version;
    q->method_str = h.method;
    q->method_len = h.method_len;
    q->method = method_of(h.method, h.method_len);
    q->target = h.target;
    q->target_len = h.target_len;
    q->nheaders = h.nheaders;
    q->content_length = cl;
    q->start_ns = util_monotonic_ns();
    r->chunked = chunked;
    r->body_left = cl > 0 ? (uint64_t)cl : 0;
    q->has_body = chunked || cl > 0;
    r->body_complete = !q->has_body;

    const struct http_header *conn_h = http_req_header(q, "connection");
    if (h.version == 10)
        r->keep_alive = conn_h && header_has_token(conn_h, "keep-alive");
    else
        r->keep_alive = !(conn_h && header_has_token(conn_h, "close"));
    if (srv->draining)
        r->keep_alive = false;
    const struct http_header *exp = http_req_header(q, "expect");
    if (exp) {
        if (exp->value_len == 12 && util_ascii_ieq(exp->value, "100-continue", 12)) {
            r->expect_continue = h.version == 11;
        } else {
            c->cur = NULL;
            req_finish(r);
            h1_fail(c, CUSTODY_EINVAL, "unsupported Expect");
            return;
        }
    }
    if (h.version == 11 && !http_req_header(q, "host")) {
        c->cur = NULL;
        req_finish(r);
        h1_fail(c, CUSTODY_EPROTO, "missing Host header");
        return;
    }
    if (q->has_body && !chunked && (uint64_t)cl > srv->limits.max_body_bytes) {
        c->cur = NULL;
        req_finish(r);
        h1_fail(c, CUSTODY_ETOOBIG, "request body larger than limits.max_body_bytes");
        return;
    }
    if (q->has_body)
        io_timeouts(c, true, true);
    srv->handler(q, srv->handler_arg);
}

static int h1_emit_body(void *arg, const char *data, size_t len)
{
    struct http_req_priv *r = arg;
    struct http_conn *c = r->pub.conn;
    r->body_seen += len;
    if (r->body_seen > c->srv->limits.max_body_bytes)
        return CUSTODY_ETOOBIG;
    if (len == 0 || !r->body_cbs || !r->body_cbs->on_data)
        return 0;
    return r->body_cbs->on_data(&r->pub, data, len);
}

/* Moves buffered body bytes to the handler. */
static void h1_feed_body(struct http_conn *c)
{
    struct http_req_priv *r = c->cur;
    struct evbuffer *in = c->in;
    conn_ref(c);
    http_req_ref(&r->pub);
    while (!r->body_complete && !r->gone && evbuffer_get_length(in) > 0) {
        size_t avail = evbuffer_get_length(in);
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = UTIL_MIN(v.iov_len, avail);
        int rc = 0;
        if (r->chunked) {
            bool done = false;
            ssize_t used = h1_chunked_feed(&r->chunk, v.iov_base, n, h1_emit_body, r, &done);
            if (used < 0)
                rc = (int)used;
            else
                evbuffer_drain(in, (size_t)used);
            if (done)
                r->body_complete = true;
        } else {
            size_t take = (size_t)UTIL_MIN((uint64_t)n, r->body_left);
            rc = h1_emit_body(r, v.iov_base, take);
            evbuffer_drain(in, take);
            r->body_left -= take;
            if (r->body_left == 0)
                r->body_complete = true;
        }
        if (rc) {
            r->body_ended = true;
            if (r->body_cbs && r->body_cbs->on_abort)
                r->body_cbs->on_abort(&r->pub);
            if (!r->responded && !c->closed)
                h1_fail(c, rc,
                        rc == CUSTODY_ETOOBIG ? "request body larger than limits.max_body_bytes"
                        : rc == CUSTODY_EPROTO ? "malformed chunked body"
                                               : custody_strerror(rc));
            else if (!c->closed)
                r->keep_alive = false;
            break;
        }
    }
    if (r->body_complete && !r->body_ended && !r->gone) {
        r->body_ended = true;
        if (!c->closed)
            io_timeouts(c, false, true);
        if (r->body_cbs && r->body_cbs->on_end)
            r->body_cbs->on_end(&r->pub);
    }
    http_req_unref(&r->pub);
    if (!c->closed)
        io_update_read(c); /* body bytes were consumed */
    conn_unref(c);
}

void h1_body_resume(struct http_req_priv *r)
{
    struct http_conn *c = r->pub.conn;
    if (c->closed || r->gone)
        return;
    if (r->expect_continue && !r->body_complete) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        evbuffer_add(c->out, cont, sizeof cont - 1);
        conn_flush(c);
        r->expect_continue = false;
    }
    h1_feed_body(c);
}

/* Takes heads and feeds bodies from the input buffer. Answers written at
 * once can finish a request and start the next pipelined one while we are
 * still on the stack: such nested calls only ask for another round here. */
static void h1_process(struct http_conn *c)
{
    if (c->closed)
        return;
    if (c->in_process) {
        c->process_again = true;
        return;
    }
    c->in_process = true;
    conn_ref(c);
    do {
        c->process_again = false;
        if (c->state == CONN_H1_HEAD)
            h1_take_head(c);
        else if (c->state == CONN_H1_BUSY && c->cur && c->cur->body_requested &&
                 !c->cur->body_complete)
            h1_feed_body(c);
        /* otherwise: bytes stay buffered until the current response is done */
    } while (c->process_again && !c->closed && !c->h2);
    c->in_process = false;
    io_update_read(c); /* input was consumed: maybe read again */
    conn_unref(c);
}

void h1_respond(struct http_req_priv *r)
{
    struct http_conn *c = r->pub.conn;
    if (c->closed)
        return;
    struct http_server *srv = c->srv;
    /* A body we have not read cannot be skipped safely: close after answering. */
    if (!r->body_complete)
        r->keep_alive = false;
    if (srv->draining)
        r->keep_alive = false;
    struct evbuffer *out = c->out;
    struct strbuf h = STRBUF_INIT;
    sb_reserve(&h, 256 + r->rh.len);
    sb_printf(&h, "HTTP/1.1 %d %s\r\ndate: %s\r\n", r->status, http_status_text(r->status),
              server_date(srv));
    const char *p = r->rh.buf;
    for (size_t i = 0; i < r->nrh; i++) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;
        p = value + strlen(value) + 1;
        sb_puts(&h, name);
        sb_puts(&h, ": ");
        sb_puts(&h, value);
        sb_puts(&h, "\r\n");
    }
    if (!r->keep_alive)
        sb_puts(&h, "connection: close\r\n");
    else if (r->pub.version == 10)
        sb_puts(&h, "connection: keep-alive\r\n");
    sb_puts(&h, "\r\n");
    if (r->npass_fds) { /* with the head's first bytes */
        io_pass_fds(c, r->pass_fds, r->npass_fds);
        r->pass_fds = NULL;
        r->npass_fds = 0;
    }
    evbuffer_add(out, h.buf, h.len);
    sb_free(&h);
    if (r->body_mem && r->body_out_left)
        evbuffer_add_buffer(out, r->body_mem);
    else if (r->seg && r->body_out_left)
        evbuffer_add_file_segment(out, r->seg, 0, (ev_off_t)r->body_out_left);
    r->done = true;
    io_timeouts(c, !r->body_complete, true);
    conn_flush(c);
}

void *http_req_conn_data(const struct http_req *req)
{
    return req->conn->user;
}

void http_req_set_conn_data(struct http_req *req, void *data, void (*free_fn)(void *))
{
    struct http_conn *c = req->conn;
    if (c->user_free && c->user && c->user != data)
        c->user_free(c->user);
    c->user = data;
    c->user_free = free_fn;
}

int http_req_tls_exporter(const struct http_req *req, uint8_t out[32])
{
    struct http_conn *c = req->conn;
    if (!c->tls || !c->ssl)
        return CUSTODY_EINVAL;
    static const char label[] = "EXPORTER-Channel-Binding";
    if (SSL_export_keying_material(c->ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
        return CUSTODY_EINTERNAL;
    return 0;
}
