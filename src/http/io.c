/*
 * io.c — a connection's transport: the socket, its read and write events,
 * the plaintext buffers (c->in, c->out) and, on TLS connections, OpenSSL
 * driven through memory BIOs.
 *
 * We do our own I/O instead of using libevent's bufferevents because every
 * syscall shows up at these request rates (measured with h2load against
 * nginx): bufferevents ask FIONREAD before every read, arm and disarm
 * EV_WRITE around every response, and the OpenSSL bufferevent reads each
 * TLS record with two read()s and writes each record with its own write().
 * Here one read() feeds as many records as arrived, SSL_write output for many
 * records leaves in one write(), and responses are written the moment they
 * are queued; EV_WRITE is armed only when the socket is full. Plain sockets
 * send file segments with sendfile (c->out drains to the fd).
 *
 * Descriptors handed over (http_resp_send_fds) ride on single bytes of c->out sent with
 * sendmsg; c->out_sent counts the bytes written so each goes with its byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "internal.h"

#define IO_READ_CHUNK 65536
#define TLS_RECORD 16384
#define TLS_CIPHER_HIGH (256 * 1024) /* stop encrypting while this much waits for the socket */

static void io_read_cb(evutil_socket_t fd, short what, void *arg);
static void io_write_cb(evutil_socket_t fd, short what, void *arg);

int io_init(struct http_conn *c, SSL_CTX *ctx)
{
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->rev = event_new(c->srv->base, c->fd, EV_READ | EV_PERSIST, io_read_cb, c);
    c->wev = event_new(c->srv->base, c->fd, EV_WRITE, io_write_cb, c);
    if (!c->in || !c->out || !c->rev || !c->wev)
        return CUSTODY_ENOMEM;
    if (!ctx) {
        /* file segments in c->out go out with sendfile */
        evbuffer_set_flags(c->out, EVBUFFER_FLAG_DRAINS_TO_FD);
        return 0;
    }
    c->cout = evbuffer_new();
    c->ssl = SSL_new(ctx);
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    if (!c->cout || !c->ssl || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        return CUSTODY_ENOMEM;
    }
    BIO_set_mem_eof_return(rbio, -1); /* an empty rbio means "want read", not EOF */
    SSL_set_bio(c->ssl, rbio, wbio);
    SSL_set_accept_state(c->ssl);
    return 0;
}

static void pass_free(struct fd_pass *p)
{
    for (size_t i = p->sent; i < p->n; i++)
        close(p->fds[i]);
    free(p->fds);
    free(p);
}

void io_pass_fds(struct http_conn *c, int *fds, size_t n)
{
    struct fd_pass *p = util_calloc(1, sizeof *p);
    p->at = c->out_sent + evbuffer_get_length(c->out);
    p->fds = fds;
    p->n = n;
    if (c->pass_tail)
        c->pass_tail->next = p;
    else
        c->pass = p;
    c->pass_tail = p;
}

void io_free(struct http_conn *c)
{
    while (c->pass) {
        struct fd_pass *p = c->pass;
        c->pass = p->next;
        pass_free(p);
    }
    c->pass_tail = NULL;
    if (c->ssl && c->tls_ready && !c->io_failed) {
        /* best effort close_notify; never block for it */
        SSL_shutdown(c->ssl);
        io_tls_pump(c);
        if (c->cout)
            evbuffer_write(c->cout, c->fd);
    }
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->in)
        evbuffer_free(c->in);
    if (c->out)
        evbuffer_free(c->out);
    if (c->cout)
        evbuffer_free(c->cout);
    if (c->ssl)
        SSL_free(c->ssl); /* frees both BIOs */
    if (c->fd >= 0)
        close(c->fd);
    c->rev = c->wev = NULL;
    c->in = c->out = c->cout = NULL;
    c->ssl = NULL;
    c->fd = -1;
}

static void timeval_ms(struct timeval *tv, unsigned ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

/* Reading is on when the connection wants it and the input buffer is below
 * its bound (a request head plus some body); otherwise the kernel buffers
 * and TCP pushes back. */
void io_update_read(struct http_conn *c)
{
    if (c->closed)
        return;
    size_t limit = c->srv->limits.max_header_bytes + IO_READ_CHUNK;
    bool want = c->reading && evbuffer_get_length(c->in) < limit;
    if (want && (!c->rev_added || c->rev_timeout != c->read_timeout)) {
        struct timeval tv;
        timeval_ms(&tv, c->srv->limits.io_timeout_ms);
        event_add(c->rev, c->read_timeout ? &tv : NULL);
        c->rev_added = true;
        c->rev_timeout = c->read_timeout;
    } else if (!want && c->rev_added) {
        event_del(c->rev);
        c->rev_added = false;
    }
}

void io_set_reading(struct http_conn *c, bool on)
{
    c->reading = on;
    io_update_read(c);
}

void io_timeouts(struct http_conn *c, bool reading, bool writing)
{
    c->read_timeout = reading;
    c->write_timeout = writing;
    io_update_read(c);
}

/* ---- reading ---- */

/* Reads what the socket has into c->in (or the rbio for TLS). Sets c->eof /
 * c->io_failed; returns bytes read. */
static size_t read_socket(struct http_conn *c)
{
    /* Read into the stack and append what arrived: reserving 64 KiB in c->in
     * instead made libevent allocate a fresh chain per request (measured: a
     * quarter of the small-request throughput). */
    char buf[IO_READ_CHUNK];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            if (c->ssl)
                BIO_write(SSL_get_rbio(c->ssl), buf, (int)n);
            else
                evbuffer_add(c->in, buf, (size_t)n);
            got += (size_t)n;
            if (n < IO_READ_CHUNK)
                return got; /* drained the socket: skip the EAGAIN read */
            continue;
        }
        if (n == 0) {
            c->eof = true;
            return got;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            c->io_failed = true;
        return got;
    }
}

/* Moves TLS output (handshake, records, alerts) from the wbio to c->cout. */
void io_tls_pump(struct http_conn *c)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    size_t pending;
    while ((pending = BIO_ctrl_pending(wbio)) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->cout, (ev_ssize_t)pending, &v, 1) < 1)
            return;
        int n = BIO_read(wbio, v.iov_base, (int)UTIL_MIN(pending, v.iov_len));
        if (n <= 0)
            return;
        v.iov_len = (size_t)n;
        evbuffer_commit_space(c->cout, &v, 1);
    }
}

static void tls_log_error(struct http_conn *c, const char *what)
{
    unsigned long e = ERR_get_error();
    log_debug("http: %s: TLS %s failed: %s", c->peer.addr, what,
              e ? ERR_reason_error_string(e) : "protocol error");
    ERR_clear_error();
}

/* Runs the handshake and decrypts what arrived into c->in. */
static void tls_input(struct http_conn *c)
{
    if (!c->tls_ready) {
        int rc = SSL_do_handshake(c->ssl);
        io_tls_pump(c);
        if (rc != 1) {
            int e = SSL_get_error(c->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tls_log_error(c, "handshake");
                c->io_failed = true;
            }
            return;
        }
        c->tls_ready = true;
        c->tls_just_ready = true;
    }
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(c->in, 2 * TLS_RECORD, &v, 1) < 1)
            return;
        int n = SSL_read(c->ssl, v.iov_base, (int)UTIL_MIN(v.iov_len, (size_t)INT32_MAX));
        if (n > 0) {
            v.iov_len = (size_t)n;
            evbuffer_commit_space(c->in, &v, 1);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN)
            c->eof = true; /* close_notify */
        else {
            tls_log_error(c, "read");
            c->io_failed = true;
        }
        break;
    }
    io_tls_pump(c); /* session tickets, key updates, alerts */
}

static void io_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        log_info("http: %s: no progress for %u ms: closing", c->peer.addr,
                 c->srv->limits.io_timeout_ms);
        conn_close(c);
        return;
    }
    conn_ref(c);
    size_t got = read_socket(c);
    if (c->ssl && got) {
        tls_input(c);
        if (!c->io_failed && evbuffer_get_length(c->cout))
            conn_flush(c);
    }
    if (!c->closed && c->tls_just_ready) {
        c->tls_just_ready = false;
        conn_on_handshake(c);
    }
    if (!c->closed && !c->io_failed && evbuffer_get_length(c->in) > 0)
        conn_on_readable(c);
    if (!c->closed && (c->eof || c->io_failed))
        conn_close(c);
    else if (!c->closed)
        io_update_read(c);
    conn_unref(c);
}

/* ---- writing ---- */

/* Sends the byte at the head of c->out with the next HTTP_PASS_FDS_PER_BYTE descriptors of
 * c->pass (which starts there). 1: sent; 0: the socket is full; -1: failed. */
static int send_pass_byte(struct http_conn *c)
{
    struct fd_pass *p = c->pass;
    unsigned char *byte = evbuffer_pullup(c->out, 1);
    size_t k = UTIL_MIN(p->n - p->sent, (size_t)HTTP_PASS_FDS_PER_BYTE);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * HTTP_PASS_FDS_PER_BYTE)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = byte, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * k)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * k);
    memcpy(CMSG_DATA(cm), p->fds + p->sent, sizeof(int) * k);
    ssize_t w;
    do
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("http: %s: handing descriptors over failed: %s", c->peer.addr, strerror(errno));
        c->io_failed = true;
        return -1;
    }
    evbuffer_drain(c->out, 1);
    c->out_sent++;
    for (size_t i = 0; i < k; i++) /* the peer holds them now */
        close(p->fds[p->sent + i]);
    p->sent += k;
    p->at++;
    if (p->sent == p->n) {
        c->pass = p->next;
        if (!c->pass)
            c->pass_tail = NULL;
        pass_free(p);
    }
    return 1;
}

/* Writes buf to the socket until it is empty or the socket is full. Returns
 * false on a write error (c->io_failed set). */
static bool write_socket(struct http_conn *c, struct evbuffer *buf)
{
    bool plain = buf == c->out;
    while (evbuffer_get_length(buf) > 0) {
        int n;
        if (plain && c->pass && c->pass->at == c->out_sent) {
            int r = send_pass_byte(c);
            if (r < 0)
                return false;
            if (r == 0)
                return true;
            continue;
        }
        if (plain && c->pass)
            n = evbuffer_write_atmost(buf, c->fd, (ev_ssize_t)(c->pass->at - c->out_sent));
        else
            n = evbuffer_write(buf, c->fd);
        if (n > 0 && plain)
            c->out_sent += (uint64_t)n;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            log_debug("http: %s: write failed: %s", c->peer.addr, strerror(errno));
            c->io_failed = true;
            return false;
        }
        if (n == 0)
            return true;
    }
    return true;
}

/* Encrypts queued plaintext in record-sized pieces while the ciphertext
 * backlog is small; one write() then carries many records. */
static bool tls_output(struct http_conn *c)
{
    while (evbuffer_get_length(c->out) > 0 && evbuffer_get_length(c->cout) < TLS_CIPHER_HIGH) {
        size_t n = UTIL_MIN(evbuffer_get_length(c->out), (size_t)TLS_RECORD);
        unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)n);
        if (!p)
            return false;
        int w = SSL_write(c->ssl, p, (int)n);
        if (w <= 0) {
            tls_log_error(c, "write");
            c->io_failed = true;
            return false;
        }
        evbuffer_drain(c->out, (size_t)w);
        io_tls_pump(c);
    }
    return true;
}

/* Writes what can be written now; arms EV_WRITE when the socket is full.
 * Returns true when everything queued has left. */
static bool io_write_now(struct http_conn *c)
{
    bool ok;
    if (c->ssl) {
        ok = true;
        do {
            if (c->tls_ready && !tls_output(c)) {
                ok = false;
                break;
            }
            if (!write_socket(c, c->cout)) {
                ok = false;
                break;
            }
        } while (c->tls_ready && evbuffer_get_length(c->out) > 0 &&
                 evbuffer_get_length(c->cout) == 0);
    } else {
        ok = write_socket(c, c->out);
    }
    if (!ok)
        return false;
    if (io_out_pending(c) > 0) {
        struct timeval tv;
        timeval_ms(&tv, c->srv->limits.io_timeout_ms);
        event_add(c->wev, c->write_timeout ? &tv : NULL);
        return false;
    }
    event_del(c->wev);
    return true;
}

bool conn_flush(struct http_conn *c)
{
    if (c->closed)
        return false;
    bool drained = io_write_now(c);
    if (c->io_failed) {
        conn_close(c);
        return false;
    }
    if (!drained || c->h2) /* h2_flush loops by itself */
        return true;
    conn_ref(c); /* the drained callback may close the connection */
    conn_on_drained(c);
    bool open = !c->closed;
    conn_unref(c);
    return open;
}

static void io_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    (void)fd;
    if (what & EV_TIMEOUT) {
        log_info("http: %s: client not reading for %u ms: closing", c->peer.addr,
                 c->srv->limits.io_timeout_ms);
        conn_close(c);
        return;
    }
    conn_ref(c);
    bool drained = io_write_now(c);
    if (c->io_failed)
        conn_close(c);
    else if (drained || c->h2)
        conn_on_drained(c); /* h2: produce more frames */
    conn_unref(c);
}

size_t io_out_pending(const struct http_conn *c)
{
    return evbuffer_get_length(c->out) + (c->cout ? evbuffer_get_length(c->cout) : 0);
}
