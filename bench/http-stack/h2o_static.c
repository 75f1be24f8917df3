/*
 * h2o_static.c — a minimal libh2o (Debian libh2o-evloop-dev, h2o 2.2.5) static
 * file server, written only to decide custodyd's HTTP stack by measurement
 * (docs/decisions/0001-http-stack.md). It is not part of custodyd.
 *
 * It serves DIR at PREFIX (default /v1/fs/bench/) on one event loop, on a Unix
 * socket (HTTP/1.1 or HTTP/2 with prior knowledge) and/or on TCP + TLS 1.3
 * (ALPN h2, else http/1.1), with one of two handlers:
 *
 *   --handler file   h2o's own file handler (h2o_file_register): ETag,
 *                    Last-Modified, Range, its 64 KB pread loop.
 *   --handler range  a custom handler that serves a file range the way
 *                    custodyd must: openat() under the root, fstat(), parse
 *                    one "Range: bytes=..." and stream the bytes through h2o's
 *                    generator API (h2o_start_response + h2o_send, with
 *                    generator->proceed called for more). h2o 2.2.5 has no
 *                    sendfile path: h2o_send() takes memory (h2o_iovec_t)
 *                    only, so the bytes must come through user space, either
 *                      --io pread  pread() into a per-request buffer (a copy), or
 *                      --io mmap   mmap() the file and hand h2o iovecs that point
 *                                  into the page cache (no read copy; the
 *                                  kernel still copies into the socket).
 *
 * Build (bench/http-stack/run.sh does this):
 *   cc -O2 -o h2o_static h2o_static.c $(pkg-config --cflags --libs libh2o-evloop openssl)
 */
#define _GNU_SOURCE
#define H2O_USE_LIBUV 0 /* the evloop flavour of libh2o (libh2o-evloop) */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "h2o.h"
#include "h2o/http2.h"

enum io_mode { IO_PREAD, IO_MMAP };

static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_plain, accept_tls;

static int root_fd = -1;
static const char *prefix = "/v1/fs/bench/";
static size_t prefix_len;
static enum io_mode io_mode = IO_PREAD;
static size_t chunk_size = 256 * 1024; /* bytes handed to h2o_send per proceed() */

/* ---- the custom range handler ------------------------------------------ */

struct range_gen {
    h2o_generator_t super;
    h2o_req_t *req;
    int fd;
    uint64_t off, end; /* [off, end) still to send */
    char *buf;         /* IO_PREAD: chunk_size bytes */
    char *map;         /* IO_MMAP: the whole file mapped */
    size_t map_len;
};

static void range_gen_dispose(void *p)
{
    struct range_gen *g = p;
    if (g->fd >= 0) close(g->fd);
    if (g->map != NULL) munmap(g->map, g->map_len);
    free(g->buf);
}

/* Called by h2o when the previous h2o_send() has been written out and it
 * wants more; we send at most chunk_size bytes each time. */
static void range_gen_proceed(h2o_generator_t *_self, h2o_req_t *req)
{
    struct range_gen *g = (struct range_gen *)_self;
    uint64_t left = g->end - g->off;
    size_t n = left < chunk_size ? (size_t)left : chunk_size;
    h2o_iovec_t vec;

    if (g->map != NULL) {
        vec = h2o_iovec_init(g->map + g->off, n);
    } else {
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(g->fd, g->buf + got, n - got, (off_t)(g->off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
                return;
            }
            got += (size_t)r;
        }
        vec = h2o_iovec_init(g->buf, n);
    }
    g->off += n;
    h2o_send(req, &vec, 1, g->off == g->end ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void range_gen_stop(h2o_generator_t *_self, h2o_req_t *req)
{
    (void)_self;
    (void)req; /* resources go with the request pool (range_gen_dispose) */
}

/* Parses one "bytes=A-B" / "bytes=A-" / "bytes=-N" against size. Returns 1 and
 * sets [*a, *b] (inclusive) on a satisfiable single range, 0 when the header
 * should be ignored (several ranges: whole file), -1 when unsatisfiable. */
static int parse_range(const char *s, size_t len, uint64_t size, uint64_t *a, uint64_t *b)
{
    char tmp[128];
    if (len >= sizeof(tmp)) return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (strncmp(tmp, "bytes=", 6) != 0 || strchr(tmp, ',') != NULL) return 0;
    char *p = tmp + 6, *end;
    if (*p == '-') {
        uint64_t n = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end != '\0' || n == 0 || size == 0) return -1;
        *a = n >= size ? 0 : size - n;
        *b = size - 1;
        return 1;
    }
    uint64_t x = strtoull(p, &end, 10);
    if (end == p || *end != '-') return -1;
    p = end + 1;
    uint64_t y = size - 1;
    if (*p != '\0') {
        y = strtoull(p, &end, 10);
        if (end == p || *end != '\0' || y < x) return -1;
        if (y >= size) y = size - 1;
    }
    if (x >= size) return -1;
    *a = x;
    *b = y;
    return 1;
}

static int send_error(h2o_req_t *req, int status, const char *reason)
{
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain"));
    h2o_send_inline(req, reason, strlen(reason));
    return 0;
}

static int on_req_range(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    int is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    if (!is_head && !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return send_error(req, 405, "Method Not Allowed");

    /* path_normalized has no "." / ".." segments and no query. */
    h2o_iovec_t p = req->path_normalized;
    if (p.len <= prefix_len || memcmp(p.base, prefix, prefix_len) != 0)
        return -1; /* not ours: h2o answers 404 */
    size_t rlen = p.len - prefix_len;
    char *rel = h2o_mem_alloc_pool(&req->pool, rlen + 1);
    memcpy(rel, p.base + prefix_len, rlen);
    rel[rlen] = '\0';
    if (memchr(rel, '\0', rlen) != NULL) return send_error(req, 400, "Bad Request");

    int fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return send_error(req, errno == ENOENT || errno == ENOTDIR ? 404 : 403,
                          errno == ENOENT || errno == ENOTDIR ? "Not Found" : "Forbidden");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return send_error(req, 403, "Forbidden");
    }
    uint64_t size = (uint64_t)st.st_size, a = 0, b = size ? size - 1 : 0;
    int status = 200;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (hi != -1) {
        h2o_iovec_t rv = req->headers.entries[hi].value;
        int r = parse_range(rv.base, rv.len, size, &a, &b);
        if (r < 0) {
            close(fd);
            char *cr = h2o_mem_alloc_pool(&req->pool, 64);
            int n = snprintf(cr, 64, "bytes */%" PRIu64, size);
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, cr,
                           (size_t)n);
            return send_error(req, 416, "Range Not Satisfiable");
        }
        if (r > 0) status = 206;
    }
    uint64_t len = size ? b - a + 1 : 0;

    /* Headers comparable to nginx's: type, length, Last-Modified, ETag, ranges. */
    req->res.status = status;
    req->res.reason = status == 206 ? "Partial Content" : "OK";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, NULL,
                   H2O_STRLIT("bytes"));
    {
        struct tm gmt;
        char *lm = h2o_mem_alloc_pool(&req->pool, H2O_TIMESTR_RFC1123_LEN + 1);
        gmtime_r(&st.st_mtime, &gmt);
        h2o_time2str_rfc1123(lm, &gmt);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LAST_MODIFIED, NULL, lm,
                       H2O_TIMESTR_RFC1123_LEN);
        char *et = h2o_mem_alloc_pool(&req->pool, 48);
        int n = snprintf(et, 48, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_mtime, size);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, et, (size_t)n);
    }
    if (status == 206) {
        char *cr = h2o_mem_alloc_pool(&req->pool, 96);
        int n = snprintf(cr, 96, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL, cr, (size_t)n);
    }

    if (is_head || len == 0) {
        close(fd);
        static h2o_generator_t nogen = {NULL, NULL};
        h2o_start_response(req, &nogen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return 0;
    }

    /* Small bodies (the 4 KiB case): one pread into the request pool, one
     * final h2o_send, fd closed at once. */
    if (len <= 16384) {
        char *body = h2o_mem_alloc_pool(&req->pool, len);
        size_t got = 0;
        while (got < len) {
            ssize_t r = pread(fd, body + got, len - got, (off_t)(a + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        close(fd);
        if (got != len) return send_error(req, 500, "Internal Server Error");
        static h2o_generator_t nogen = {NULL, NULL};
        h2o_start_response(req, &nogen);
        h2o_iovec_t v = h2o_iovec_init(body, len);
        h2o_send(req, &v, 1, H2O_SEND_STATE_FINAL);
        return 0;
    }

    /* Large bodies: a generator; h2o calls proceed() each time it has
     * written what we gave it. Its resources are released with the pool. */
    struct range_gen *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), range_gen_dispose);
    memset(g, 0, sizeof(*g));
    g->super.proceed = range_gen_proceed;
    g->super.stop = range_gen_stop;
    g->req = req;
    g->fd = fd;
    g->off = a;
    g->end = a + len;
    if (io_mode == IO_MMAP) {
        g->map_len = (size_t)size;
        g->map = mmap(NULL, g->map_len, PROT_READ, MAP_SHARED, fd, 0);
        if (g->map == MAP_FAILED) {
            g->map = NULL;
            return send_error(req, 500, "Internal Server Error");
        }
        madvise(g->map, g->map_len, MADV_SEQUENTIAL);
    } else {
        g->buf = malloc(chunk_size);
        if (g->buf == NULL) return send_error(req, 500, "Internal Server Error");
    }
    h2o_start_response(req, &g->super);
    range_gen_proceed(&g->super, req);
    return 0;
}

/* ---- listeners ------------------------------------------------------------ */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL) return;
    h2o_socket_t *sock;
    /* Drain the accept queue: one accept per readiness costs loop turns. */
    while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(listener->data, sock);
}

static void add_listener(int fd, h2o_accept_ctx_t *actx)
{
    h2o_socket_t *sock = h2o_evloop_socket_create(ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = actx;
    h2o_socket_read_start(sock, on_accept);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "h2o_static: unix socket path too long: %s\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("h2o_static: unix listener");
        return -1;
    }
    return fd;
}

static int listen_tcp(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) {
        perror("h2o_static: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0) {
        perror("h2o_static: tcp listener");
        return -1;
    }
    return fd;
}

static SSL_CTX *make_ssl_ctx(const char *cert, const char *key)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION);
    SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(s, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(s, h2o_http2_alpn_protocols);
    return s;
}

static void usage(void)
{
    fprintf(stderr, "usage: h2o_static --root DIR [--prefix /v1/fs/bench/] [--unix PATH]\n"
                    "                  [--tls-port N --cert PEM --key PEM]\n"
                    "                  [--handler file|range] [--io pread|mmap] [--chunk BYTES]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *root = NULL, *unix_path = NULL, *cert = NULL, *key = NULL, *handler = "range";
    int tls_port = 0;
    static const struct option opts[] = {
        {"root", required_argument, NULL, 'r'},    {"prefix", required_argument, NULL, 'p'},
        {"unix", required_argument, NULL, 'u'},    {"tls-port", required_argument, NULL, 't'},
        {"cert", required_argument, NULL, 'c'},    {"key", required_argument, NULL, 'k'},
        {"handler", required_argument, NULL, 'h'}, {"io", required_argument, NULL, 'i'},
        {"chunk", required_argument, NULL, 's'},   {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'r':
            root = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'u':
            unix_path = optarg;
            break;
        case 't':
            tls_port = (int)strtol(optarg, NULL, 10);
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            handler = optarg;
            break;
        case 'i':
            if (strcmp(optarg, "pread") == 0)
                io_mode = IO_PREAD;
            else if (strcmp(optarg, "mmap") == 0)
                io_mode = IO_MMAP;
            else
                usage();
            break;
        case 's':
            chunk_size = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (root == NULL || (unix_path == NULL && tls_port == 0) || (tls_port && (!cert || !key)) ||
        chunk_size < 4096 || (strcmp(handler, "file") != 0 && strcmp(handler, "range") != 0))
        usage();
    prefix_len = strlen(prefix);
    if (prefix_len < 2 || prefix[0] != '/' || prefix[prefix_len - 1] != '/') usage();

    signal(SIGPIPE, SIG_IGN);
    root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        perror(root);
        return 1;
    }

    h2o_config_init(&config);
    /* No open-fd cache: custodyd does not cache descriptors either, and the
     * benchmark runs nginx with open_file_cache off. */
    config.filecache.capacity = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    /* h2o's path match is a prefix match on "/v1/fs/bench" (no trailing slash). */
    char *pc_path = strndup(prefix, prefix_len - 1);
    h2o_pathconf_t *pc = h2o_config_register_path(host, pc_path, 0);
    if (strcmp(handler, "file") == 0) {
        h2o_file_register(pc, root, NULL, NULL, 0);
    } else {
        h2o_handler_t *h = h2o_create_handler(pc, sizeof(*h));
        h->on_req = on_req_range;
    }

    h2o_context_init(&ctx, h2o_evloop_create(), &config);
    accept_plain.ctx = &ctx;
    accept_plain.hosts = config.hosts;
    accept_tls = accept_plain;

    if (unix_path != NULL) {
        int fd = listen_unix(unix_path);
        if (fd < 0) return 1;
        add_listener(fd, &accept_plain);
    }
    if (tls_port != 0) {
        if ((accept_tls.ssl_ctx = make_ssl_ctx(cert, key)) == NULL) return 1;
        int fd = listen_tcp(tls_port);
        if (fd < 0) return 1;
        add_listener(fd, &accept_tls);
    }
    fprintf(stderr, "h2o_static: h2o %s, handler=%s io=%s chunk=%zu, serving %s at %s\n",
            H2O_VERSION, handler, io_mode == IO_MMAP ? "mmap" : "pread", chunk_size, root, prefix);

    while (h2o_evloop_run(ctx.loop, INT32_MAX) == 0)
        ;
    return 0;
}
