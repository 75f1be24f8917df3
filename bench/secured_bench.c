/*
 * secured_bench.c — a closed-loop HTTP/1.1 load driver over a Unix socket
 * that can act as a custody agent: each connection opens with a session
 * proof (Ed25519, signed here), and every request carries a capability
 * token, so custodyd decides each one (token + policy) and records it
 * durably before answering. The same driver, without --agent, loads any
 * server (nginx) with the same requests: ratios compare servers, not tools.
 *
 *   secured_bench --socket PATH --paths FILE [--conns 32] [--seconds 10]
 *                 [--agent NAME --key PEM --mint ROOT:/PREFIX/]
 *   secured_bench --socket PATH --range-url /v1/fs/bench/big.bin
 *                 --size BYTES --step BYTES ...
 *   secured_bench ... --epoll 1      one thread drives every connection with
 *                 epoll (plain HTTP/1.1 on a Unix socket), as h2load and wrk do
 *   secured_bench ... --h2 STREAMS   HTTP/2 (h2c prior knowledge on a Unix
 *                 socket, h2 by ALPN over TLS), STREAMS requests in flight
 *                 per connection
 *   secured_bench --tls 127.0.0.1:PORT ...   (TLS 1.3, HTTP/1.1; the session
 *                 proof is bound to each connection by the RFC 9266
 *                 tls-exporter, as custodyd requires over TCP)
 *
 * Prints one line: requests/s, MiB/s, p50/p99 latency (µs), errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define MAX_CONNS 256
#define LAT_MAX 2000000 /* latency samples kept per thread */

static const char *g_tls; /* "ADDR:PORT" */
static SSL_CTX *g_ctx, *g_ctx_h1; /* the load's ALPN; http/1.1 for minting */
static const char *g_sock, *g_agent, *g_key_path, *g_mint, *g_range_url;
static char **g_paths;
static size_t g_npaths;
static uint64_t g_size, g_step;
static int g_conns = 32;
static bool g_epoll; /* one thread, non-blocking connections (like h2load/wrk) */
static int g_streams; /* > 0: HTTP/2 (h2c prior knowledge, or h2 by ALPN), this many in flight */
static double g_seconds = 10;
static char *g_key_pem;
static size_t g_key_len;
static char g_token[8192];
static atomic_bool g_go, g_stop;

static void usage(void) __attribute__((noreturn));

struct conn {
    int fd;
    SSL *ssl; /* NULL: plain */
};

struct worker {
    pthread_t th;
    int id;
    struct conn c;
    uint64_t requests, bytes, errors;
    uint32_t *lat;
    size_t nlat;
    char proof[UTIL_SESSION_PROOF_MAX];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct conn connect_to(bool h1)
{
    struct conn c = {.fd = -1};
    if (!g_tls) {
        c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        util_strlcpy(sa.sun_path, g_sock, sizeof sa.sun_path);
        if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            fprintf(stderr, "secured_bench: connect %s: %s\n", g_sock, strerror(errno));
            exit(1);
        }
        return c;
    }
    char host[64];
    const char *colon = strrchr(g_tls, ':');
    if (!colon || (size_t)(colon - g_tls) >= sizeof host) usage();
    memcpy(host, g_tls, (size_t)(colon - g_tls));
    host[colon - g_tls] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10))};
    int one = 1;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "secured_bench: connect %s: %s\n", g_tls, strerror(errno));
        exit(1);
    }
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.ssl = SSL_new(h1 ? g_ctx_h1 : g_ctx);
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_tlsext_host_name(c.ssl, "localhost");
    if (SSL_connect(c.ssl) != 1) {
        fprintf(stderr, "secured_bench: TLS handshake with %s failed\n", g_tls);
        exit(1);
    }
    return c;
}

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
}

static ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
    if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL);
    int w = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
    return w > 0 ? w : -1;
}

static ssize_t conn_recv(struct conn *c, void *p, size_t n)
{
    if (!c->ssl) return recv(c->fd, p, n, 0);
    int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
    return r > 0 ? r : -1;
}

/* "unix", or "tls-exporter:<hex>" (RFC 9266) for this connection. */
static void binding_of(struct conn *c, char *out, size_t len)
{
    uint8_t ekm[32];
    if (!c->ssl) {
        util_strlcpy(out, "unix", len);
        return;
    }
    static const char label[] = "EXPORTER-Channel-Binding";
    if (SSL_export_keying_material(c->ssl, ekm, sizeof ekm, label, sizeof label - 1, NULL, 0, 0) !=
        1) {
        fprintf(stderr, "secured_bench: no TLS exporter\n");
        exit(1);
    }
    memcpy(out, "tls-exporter:", 13);
    util_hex_encode(ekm, sizeof ekm, out + 13);
}

static void make_proof(struct conn *c, char *out, size_t len)
{
    char binding[80];
    binding_of(c, binding, sizeof binding);
    if (len < UTIL_SESSION_PROOF_MAX ||
        util_session_proof(g_agent, g_key_pem, g_key_len, binding, out) != 0) {
        fprintf(stderr, "secured_bench: cannot sign the session proof\n");
        exit(1);
    }
}

static int send_all(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = conn_send(c, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; the body is discarded (or copied into body, up to
 * bodycap). Returns the status, or -1. */
static int read_response(struct conn *c, char *buf, size_t cap, uint64_t *body_bytes, char *body,
                         size_t bodycap)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == cap) return -1;
        ssize_t r = conn_recv(c, buf + have, cap - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        have += (size_t)r;
        end = memmem(buf, have, "\r\n\r\n", 4);
    }
    uint64_t st = 0;
    if (have < 12 || util_parse_u64(buf + 9, 3, &st) != 0) return -1;
    int status = (int)st;
    uint64_t clen = 0;
    for (char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            clen = strtoull(p + 15, NULL, 10);
            break;
        }
    }
    size_t head = (size_t)(end + 4 - buf), got = have - head;
    if (body && bodycap) {
        size_t n = got < bodycap - 1 ? got : bodycap - 1;
        memcpy(body, end + 4, n);
        body[n] = '\0';
    }
    while (got < clen) {
        size_t want = clen - got < cap ? (size_t)(clen - got) : cap;
        ssize_t r = conn_recv(c, buf, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    *body_bytes = clen;
    return status;
}

static void mint_token(void)
{
    struct conn c = connect_to(true);
    char proof[UTIL_SESSION_PROOF_MAX], req[2048], *buf = malloc(1 << 20), body[16384];
    make_proof(&c, proof, sizeof proof);
    char json[512];
    int jl = snprintf(json, sizeof json, "{\"action\":\"read\",\"resource\":\"%s\",\"ttl\":3600}",
                      g_mint);
    int n = snprintf(req, sizeof req,
                     "POST /v1/tokens HTTP/1.1\r\nHost: localhost\r\ncustody-session: %s\r\n"
                     "content-type: application/json\r\ncontent-length: %d\r\n\r\n%s",
                     proof, jl, json);
    uint64_t bb;
    if (send_all(&c, req, (size_t)n) != 0 ||
        read_response(&c, buf, 1 << 20, &bb, body, sizeof body) != 201) {
        fprintf(stderr, "secured_bench: minting a token failed: %s\n", body);
        exit(1);
    }
    char *t = strstr(body, "\"token\":\"");
    char *e = t ? strchr(t + 9, '"') : NULL;
    if (!e || (size_t)(e - t - 9) >= sizeof g_token) {
        fprintf(stderr, "secured_bench: no token in %s\n", body);
        exit(1);
    }
    memcpy(g_token, t + 9, (size_t)(e - t - 9));
    conn_close(&c);
    free(buf);
}

static void run_h2(struct worker *w);

static void *run(void *arg)
{
    struct worker *w = arg;
    size_t cap = 1 << 20;
    char *buf = malloc(cap), req[16384];
    w->lat = malloc(LAT_MAX * sizeof *w->lat);
    w->c = connect_to(!g_streams);
    if (g_agent) make_proof(&w->c, w->proof, sizeof w->proof);
    if (g_streams) {
        run_h2(w);
        conn_close(&w->c);
        free(buf);
        return NULL;
    }
    bool first = true;
    uint64_t k = (uint64_t)w->id * 7919;
    while (!atomic_load(&g_go))
        ;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        int n;
        const char *sess = first && g_agent ? "custody-session: " : "";
        const char *sessv = first && g_agent ? w->proof : "";
        const char *sessn = first && g_agent ? "\r\n" : "";
        const char *tokh = g_token[0] ? "custody-token: " : "";
        const char *tokn = g_token[0] ? "\r\n" : "";
        if (g_range_url) {
            uint64_t off = (k * g_step) % g_size, last = off + g_step - 1;
            if (last >= g_size) last = g_size - 1;
            n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: localhost\r\nRange: bytes=%llu-%llu\r\n"
                         "%s%s%s%s%s%s\r\n",
                         g_range_url, (unsigned long long)off, (unsigned long long)last, sess,
                         sessv, sessn, tokh, g_token, tokn);
        } else {
            n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s%s%s%s\r\n",
                         g_paths[k % g_npaths], sess, sessv, sessn, tokh, g_token, tokn);
        }
        k++;
        first = false;
        uint64_t t0 = now_ns(), bb = 0;
        int st = send_all(&w->c, req, (size_t)n) == 0
                     ? read_response(&w->c, buf, cap, &bb, NULL, 0)
                     : -1;
        uint64_t dt = now_ns() - t0;
        if (st != 200 && st != 206) {
            if (w->errors++ < 3)
                fprintf(stderr, "secured_bench: conn %d: status %d\n", w->id, st);
            if (st < 0) break;
            continue;
        }
        w->requests++;
        w->bytes += bb;
        if (w->nlat < LAT_MAX) w->lat[w->nlat++] = (uint32_t)(dt / 1000 > UINT32_MAX ? UINT32_MAX : dt / 1000);
    }
    conn_close(&w->c);
    free(buf);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: secured_bench (--socket PATH | --tls ADDR:PORT) (--paths FILE | --range-url URL --size N "
                    "--step N) [--conns N] [--seconds S] [--h2 STREAMS | --epoll 1] [--agent NAME --key PEM --mint RES]\n");
    exit(2);
}

/* ---- HTTP/2: g_streams requests in flight per connection ---- */

struct h2_stream {
    uint64_t t0;
    int status;
    uint64_t bytes;
};

struct h2_run {
    struct worker *w;
    nghttp2_session *s;
    uint64_t k;
    int inflight;
    bool failed;
    char range[64];
};

static ssize_t h2_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s, (void)flags;
    struct h2_run *r = ud;
    return send_all(&r->w->c, (const char *)data, len) == 0 ? (ssize_t)len
                                                            : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags, (void)ud;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (st && nl == 7 && memcmp(name, ":status", 7) == 0 && vl == 3) {
        uint64_t v = 0;
        util_parse_u64((const char *)value, 3, &v);
        st->status = (int)v;
    }
    return 0;
}

static int h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags, (void)data, (void)ud;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st) st->bytes += len;
    return 0;
}

static int h2_submit(struct h2_run *r);

static int h2_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    struct h2_run *r = ud;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    struct worker *w = r->w;
    uint64_t dt = now_ns() - st->t0;
    if (st->status != 200 && st->status != 206) {
        if (w->errors++ < 3) fprintf(stderr, "secured_bench: conn %d: status %d\n", w->id, st->status);
    } else {
        w->requests++;
        w->bytes += st->bytes;
        if (w->nlat < LAT_MAX) w->lat[w->nlat++] = (uint32_t)UTIL_MIN(dt / 1000, UINT32_MAX);
    }
    free(st);
    r->inflight--;
    if (!atomic_load_explicit(&g_stop, memory_order_relaxed)) return h2_submit(r);
    return 0;
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}

static int h2_submit(struct h2_run *r)
{
    const char *path = g_range_url ? g_range_url : g_paths[r->k % g_npaths];
    nghttp2_nv nv[8] = {NV(":method", "GET"), NV(":scheme", g_tls ? "https" : "http"),
                        NV(":authority", "localhost"), NV(":path", path)};
    size_t n = 4;
    if (g_range_url) {
        uint64_t off = (r->k * g_step) % g_size, last = UTIL_MIN(off + g_step - 1, g_size - 1);
        snprintf(r->range, sizeof r->range, "bytes=%llu-%llu", (unsigned long long)off,
                 (unsigned long long)last);
        nv[n++] = (nghttp2_nv)NV("range", r->range);
    }
    if (g_agent) nv[n++] = (nghttp2_nv)NV("custody-session", r->w->proof); /* same proof: */
    if (g_token[0]) nv[n++] = (nghttp2_nv)NV("custody-token", g_token);   /* not re-verified */
    r->k++;
    struct h2_stream *st = calloc(1, sizeof *st);
    st->t0 = now_ns();
    if (nghttp2_submit_request(r->s, NULL, nv, n, NULL, st) < 0) {
        free(st);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    r->inflight++;
    return 0;
}

static void run_h2(struct worker *w)
{
    struct h2_run r = {.w = w, .k = (uint64_t)w->id * 7919};
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, h2_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, h2_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_close);
    nghttp2_session_client_new(&r.s, cb, &r);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry set[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (1u << 30) - 1}};
    nghttp2_submit_settings(r.s, NGHTTP2_FLAG_NONE, set, 1);
    nghttp2_session_set_local_window_size(r.s, NGHTTP2_FLAG_NONE, 0, (1 << 30) - 1);
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    while (!atomic_load(&g_go))
        ;
    for (int i = 0; i < g_streams; i++)
        h2_submit(&r);
    while (r.inflight > 0) {
        if (nghttp2_session_send(r.s) != 0) break;
        ssize_t n = conn_recv(&w->c, buf, cap);
        if (n <= 0 || nghttp2_session_mem_recv(r.s, buf, (size_t)n) < 0) {
            w->errors++;
            break;
        }
    }
    nghttp2_session_del(r.s);
    free(buf);
}

/* ---- one event-driven thread for every connection (plain HTTP/1.1) ---- */

struct econn {
    struct worker *w;
    char *buf;
    size_t have, head_len;
    uint64_t clen, t0, k;
    int status;
    bool head, first;
};

#define ECONN_BUF (64 * 1024)

static int econn_send(struct econn *e)
{
    char req[16384];
    const char *path = g_paths[e->k++ % g_npaths];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s%s%s%s\r\n", path,
                     e->first && g_agent ? "custody-session: " : "",
                     e->first && g_agent ? e->w->proof : "", e->first && g_agent ? "\r\n" : "",
                     g_token[0] ? "custody-token: " : "", g_token, g_token[0] ? "\r\n" : "");
    e->first = false;
    e->have = 0;
    e->head = false;
    e->t0 = now_ns();
    return send(e->w->c.fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 0 : -1;
}

/* Consumes what arrived; 1 when a response is complete, 0 for more, -1. */
static int econn_recv(struct econn *e)
{
    for (;;) {
        ssize_t r = recv(e->w->c.fd, e->buf + e->have, ECONN_BUF - e->have, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (r <= 0) return -1;
        e->have += (size_t)r;
        if (!e->head) {
            char *end = memmem(e->buf, e->have, "\r\n\r\n", 4);
            if (!end) {
                if (e->have == ECONN_BUF) return -1;
                continue;
            }
            uint64_t st = 0;
            if (e->have < 12 || util_parse_u64(e->buf + 9, 3, &st) != 0) return -1;
            e->status = (int)st;
            e->clen = 0;
            for (char *p = e->buf; p < end; p++)
                if ((p == e->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
                    e->clen = strtoull(p + 15, NULL, 10);
                    break;
                }
            e->head = true;
            e->head_len = (size_t)(end + 4 - e->buf);
        }
        if (e->have - e->head_len >= e->clen) return 1; /* closed loop: nothing follows */
        if (e->have == ECONN_BUF) { /* drop body bytes already seen */
            e->clen -= e->have - e->head_len;
            e->have = e->head_len = 0;
        }
    }
}

static void *run_epoll(void *arg)
{
    struct worker *ws = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct econn *es = calloc((size_t)g_conns, sizeof *es);
    for (int i = 0; i < g_conns; i++) {
        es[i] = (struct econn){.w = &ws[i], .buf = malloc(ECONN_BUF), .first = true,
                               .k = (uint64_t)i * 7919};
        ws[i].lat = malloc(LAT_MAX * sizeof *ws[i].lat);
        ws[i].c = connect_to(true);
        if (g_agent) make_proof(&ws[i].c, ws[i].proof, sizeof ws[i].proof);
        fcntl(ws[i].c.fd, F_SETFL, fcntl(ws[i].c.fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &es[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, ws[i].c.fd, &ev);
    }
    while (!atomic_load(&g_go))
        ;
    for (int i = 0; i < g_conns; i++)
        if (econn_send(&es[i]) != 0) ws[i].errors++;
    struct epoll_event evs[64];
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            struct econn *e = evs[i].data.ptr;
            int r = econn_recv(e);
            if (r == 0) continue;
            struct worker *w = e->w;
            if (r < 0) {
                if (w->errors++ < 3) fprintf(stderr, "secured_bench: conn %d broke\n", w->id);
                epoll_ctl(ep, EPOLL_CTL_DEL, w->c.fd, NULL);
                continue;
            }
            uint64_t dt = now_ns() - e->t0;
            if (e->status != 200 && e->status != 206) {
                if (w->errors++ < 3)
                    fprintf(stderr, "secured_bench: conn %d: status %d\n", w->id, e->status);
            } else {
                w->requests++;
                w->bytes += e->clen;
                if (w->nlat < LAT_MAX) w->lat[w->nlat++] = (uint32_t)UTIL_MIN(dt / 1000, UINT32_MAX);
            }
            if (econn_send(e) != 0) w->errors++;
        }
    }
    for (int i = 0; i < g_conns; i++) {
        conn_close(&ws[i].c);
        free(es[i].buf);
    }
    free(es);
    close(ep);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *paths_file = NULL;
    for (int i = 1; i < argc; i += 2) { /* --option value pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--socket")) g_sock = v;
        else if (!strcmp(a, "--tls")) g_tls = v;
        else if (!strcmp(a, "--paths")) paths_file = v;
        else if (!strcmp(a, "--range-url")) g_range_url = v;
        else if (!strcmp(a, "--size")) g_size = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--step")) g_step = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--conns")) g_conns = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--seconds")) g_seconds = atof(v);
        else if (!strcmp(a, "--agent")) g_agent = v;
        else if (!strcmp(a, "--h2")) g_streams = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--epoll")) g_epoll = strcmp(v, "0") != 0;
        else if (!strcmp(a, "--key")) g_key_path = v;
        else if (!strcmp(a, "--mint")) g_mint = v;
        else usage();
    }
    if ((!g_sock && !g_tls) || (!paths_file && !g_range_url) || g_conns < 1 || g_conns > MAX_CONNS ||
        (g_range_url && (!g_size || !g_step)) || (g_agent && (!g_key_path || !g_mint)))
        usage();
    if (paths_file) {
        char *text;
        size_t len;
        if (util_read_file(paths_file, 64 << 20, &text, &len) != 0) usage();
        /* one path per line (util_read_file NUL-terminates the text) */
        for (char *p = text, *end = text + len; p < end;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) nl = end;
            *nl = '\0';
            if (*p) {
                g_paths = realloc(g_paths, (g_npaths + 1) * sizeof *g_paths);
                g_paths[g_npaths++] = p;
            }
            p = nl + 1;
        }
        if (!g_npaths) usage();
    }
    if (g_tls) {
        g_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(g_ctx, TLS1_3_VERSION);
        SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL); /* loopback, a self-signed cert */
        static const unsigned char h2[] = "\x02h2", h1[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(g_ctx, h2, sizeof h2 - 1);
        g_ctx_h1 = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(g_ctx_h1, TLS1_3_VERSION);
        SSL_CTX_set_verify(g_ctx_h1, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_alpn_protos(g_ctx_h1, h1, sizeof h1 - 1);
    }
    if (g_agent) {
        if (util_read_file(g_key_path, 65536, &g_key_pem, &g_key_len) != 0) usage();
        mint_token();
    }
    struct worker *ws = calloc((size_t)g_conns, sizeof *ws);
    pthread_t ethread;
    if (g_epoll && (g_tls || g_streams || g_range_url)) usage(); /* plain h1 paths only */
    for (int i = 0; i < g_conns; i++)
        ws[i].id = i;
    if (g_epoll) pthread_create(&ethread, NULL, run_epoll, ws);
    for (int i = 0; !g_epoll && i < g_conns; i++)
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    usleep(100000);
    uint64_t t0 = now_ns();
    atomic_store(&g_go, true);
    usleep((useconds_t)(g_seconds * 1e6));
    atomic_store(&g_stop, true);
    uint64_t elapsed = now_ns() - t0;
    uint64_t req = 0, bytes = 0, errors = 0;
    size_t nlat = 0;
    if (g_epoll) pthread_join(ethread, NULL);
    for (int i = 0; i < g_conns; i++) {
        if (!g_epoll) pthread_join(ws[i].th, NULL);
        req += ws[i].requests;
        bytes += ws[i].bytes;
        errors += ws[i].errors;
        nlat += ws[i].nlat;
    }
    uint32_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
    size_t o = 0;
    for (int i = 0; i < g_conns; i++) {
        memcpy(all + o, ws[i].lat, ws[i].nlat * sizeof *all);
        o += ws[i].nlat;
        free(ws[i].lat);
    }
    qsort(all, nlat, sizeof *all, cmp_u32);
    double secs = (double)elapsed / 1e9;
    printf("requests/s %.0f MiB/s %.1f p50_us %u p99_us %u requests %llu errors %llu\n",
           (double)req / secs, (double)bytes / secs / 1048576.0, nlat ? all[nlat / 2] : 0,
           nlat ? all[(size_t)((double)nlat * 0.99)] : 0, (unsigned long long)req,
           (unsigned long long)errors);
    free(all);
    free(ws);
    return errors && !req ? 1 : 0;
}
