/* fuzz_conn — the whole request path of one connection: arbitrary bytes go
 * into a real custodyd connection (socketpair + conn_accept + the event
 * loop) as HTTP/1.x, pipelined requests, chunked bodies, or HTTP/2 after the
 * preface. A small handler answers from memory, from a file (sendfile /
 * DATA frames read in place), after reading a body, or before reading it.
 * The sanitizers watch for memory errors and leaks; the connection must
 * always end. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/internal.h"

static struct event_base *g_base;
static struct http_server *g_srv;
static int g_file = -1; /* 100 KiB of data served as a file body */

static int body_data(struct http_req *req, const void *data, size_t len)
{
    (void)data;
    size_t *seen = req->user;
    *seen += len;
    return *seen > 200000 ? CUSTODY_ETOOBIG : 0;
}

static void body_end(struct http_req *req)
{
    size_t *seen = req->user;
    req->user = NULL;
    http_resp_headerf(req, "x-seen", "%zu", *seen);
    http_resp_send(req, 201, "stored\n", 7);
    free(seen);
    http_req_unref(req);
}

static void body_abort(struct http_req *req)
{
    free(req->user);
    req->user = NULL;
    http_req_unref(req);
}

static const struct http_body_cbs cbs = {body_data, body_end, body_abort};

static void handler(struct http_req *req, void *arg)
{
    (void)arg;
    char last = req->target_len ? req->target[req->target_len - 1] : '/';
    switch (req->method) {
    case HTTP_PUT:
    case HTTP_POST:
        if (last == 'e') { /* answer early, without reading the body */
            http_resp_send(req, 409, "no\n", 3);
            return;
        }
        req->user = calloc(1, sizeof(size_t));
        http_req_ref(req);
        http_req_read_body(req, &cbs);
        return;
    case HTTP_GET:
    case HTTP_HEAD:
        if (last == 'f') {
            int fd = dup(g_file);
            uint64_t off = (uint64_t)(req->target_len % 7) * 1000;
            http_resp_header(req, "content-type", "application/octet-stream");
            http_resp_send_file(req, 200, fd, off, 100000 - off);
            return;
        }
        http_resp_header(req, "content-type", "text/plain");
        http_resp_send(req, 200, "hello\n", 6);
        return;
    default:
        http_resp_send(req, 405, NULL, 0);
    }
}

static void setup(void)
{
    g_base = event_base_new();
    struct http_server_opts o = {
        .limits = {.max_header_bytes = 4096,
                   .max_headers = 32,
                   .max_uri_bytes = 2048,
                   .max_body_bytes = 1 << 20,
                   .max_connections = 16,
                   .max_streams = 16,
                   .header_timeout_ms = 1000,
                   .idle_timeout_ms = 1000,
                   .io_timeout_ms = 1000},
        .handler = handler,
        .workers = 1,
    };
    if (http_server_new(g_base, &o, &g_srv) != 0)
        abort();
    g_file = memfd_create("fuzz-body", MFD_CLOEXEC);
    char *buf = malloc(100000);
    for (int i = 0; i < 100000; i++)
        buf[i] = (char)('a' + i % 26);
    if (write(g_file, buf, 100000) != 100000)
        abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_base)
        setup();
    if (size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    conn_accept(g_srv, sv[0], false, (struct sockaddr *)&sa, sizeof sa);
    /* send everything, then half-close: the server sees the bytes, then EOF */
    size_t off = 0;
    char sink[65536];
    for (int rounds = 0; rounds < 2000 && g_srv->conns; rounds++) {
        if (off < size) {
            ssize_t w = write(sv[1], data + off, size - off);
            if (w > 0)
                off += (size_t)w;
            if (off == size)
                shutdown(sv[1], SHUT_WR);
        } else if (size == 0 && rounds == 0) {
            shutdown(sv[1], SHUT_WR);
        }
        event_base_loop(g_base, EVLOOP_NONBLOCK);
        while (read(sv[1], sink, sizeof sink) > 0)
            ; /* keep the server's socket writable */
    }
    /* whatever is still open (lingering, waiting for a body) ends here */
    while (g_srv->conns)
        conn_close(g_srv->conns);
    close(sv[1]);
    return 0;
}
