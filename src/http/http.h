/*
 * http.h — the doorway to src/http: custodyd's HTTP/1.1 + HTTP/2 server on
 * one libevent loop, over Unix sockets (h1, or h2 with prior knowledge) and
 * TCP + TLS 1.3 (h2 by ALPN, else http/1.1).
 *
 * The server knows nothing about files or policies: it parses requests,
 * enforces limits and timeouts, and hands each request to one callback
 * (the gateway). A handler answers with http_resp_*; it may answer later
 * (after work on the worker pool) by holding a reference (http_req_ref).
 * File bodies travel as (fd, offset, length) and go out with sendfile on
 * plain sockets.
 */
#ifndef CUSTODY_HTTP_H
#define CUSTODY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

struct event_base;
struct http_server;
struct http_conn;

enum http_method {
    HTTP_OTHER = 0,
    HTTP_GET,
    HTTP_HEAD,
    HTTP_PUT,
    HTTP_POST,
    HTTP_DELETE,
    HTTP_OPTIONS,
};

struct http_header {
    const char *name; /* lower-case for h2; as sent for h1 (compare case-insensitively) */
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct http_limits {
    size_t max_header_bytes;
    size_t max_headers;
    size_t max_uri_bytes;
    uint64_t max_body_bytes;
    unsigned max_connections;
    unsigned max_streams;
    unsigned header_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned io_timeout_ms;
};

struct http_peer {
    bool has_cred; /* SO_PEERCRED (Unix socket) */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char addr[64]; /* "unix" or "ip:port" */
};

struct http_req;

/* Receives a request body. on_data returns 0, or an error code that ends the
 * request (the handler must then have answered, or the connection closes).
 * Exactly one of on_end / on_abort is called last. */
struct http_body_cbs {
    int (*on_data)(struct http_req *req, const void *data, size_t len);
    void (*on_end)(struct http_req *req);
    void (*on_abort)(struct http_req *req);
};

struct http_req {
    struct http_conn *conn;
    int32_t stream_id; /* HTTP/2 stream id; 0 for HTTP/1.x */
    int version;       /* 10, 11 or 20 */
    enum http_method method;
    const char *method_str;
    size_t method_len;
    const char *target; /* request-target as sent: path [? query] */
    size_t target_len;
    struct http_header *headers;
    size_t nheaders;
    int64_t content_length; /* -1 when unknown (chunked, or h2 without it) */
    bool has_body;          /* a body follows (Content-Length > 0, chunked, or h2 DATA) */
    const struct http_peer *peer;
    uint64_t start_ns; /* monotonic, when the head was complete */
    void *user;        /* for the handler */
    void *audit;       /* for the handler: its per-request audit record */
    /* server-private fields follow in the implementation */
};

typedef void (*http_handler_fn)(struct http_req *req, void *arg);

struct http_server_opts {
    struct http_limits limits;
    http_handler_fn handler;
    void *handler_arg;
    unsigned workers; /* worker threads for blocking work; default 4 */
};

int http_server_new(struct event_base *base, const struct http_server_opts *opts,
                    struct http_server **out);
void http_server_free(struct http_server *srv);
/* New limits apply to new connections and new requests. */
void http_server_set_limits(struct http_server *srv, const struct http_limits *lim);

/* Listens on a Unix socket (replacing a stale socket file; mode applied). */
int http_server_listen_unix(struct http_server *srv, const char *path, mode_t mode);
/* Listens on TCP with TLS 1.3 (cert and key PEM files). */
int http_server_listen_tls(struct http_server *srv, const char *address, int port,
                           const char *cert_file, const char *key_file, struct strbuf *err);
/* Reloads the TLS certificate and key for new connections. */
int http_server_reload_tls(struct http_server *srv, const char *cert_file, const char *key_file,
                           struct strbuf *err);
/* Listener i's address (socket path or "ip:port") and whether it is TLS;
 * false past the last one. */
bool http_server_listener(const struct http_server *srv, size_t i, const char **addr, bool *tls);
/* Bound TCP port of the TLS listener (for port 0). */
int http_server_tls_port(const struct http_server *srv);

/* Stops accepting, lets in-flight requests finish (idle connections close at
 * once, HTTP/2 gets GOAWAY), and calls done() when no connection is left or
 * after timeout_ms (then remaining connections are closed). */
void http_server_drain(struct http_server *srv, unsigned timeout_ms, void (*done)(void *),
                       void *arg);
bool http_server_draining(const struct http_server *srv);

struct http_stats {
    uint64_t connections; /* open now */
    uint64_t requests;    /* served since start */
    uint64_t accepted;    /* connections since start */
};
void http_server_stats(const struct http_server *srv, struct http_stats *out);

/* Runs work(arg) on a worker thread, then done(arg) on the loop thread. */
int http_server_defer(struct http_server *srv, void (*work)(void *), void (*done)(void *),
                      void *arg);

/* ---- requests ---- */
const struct http_header *http_req_header(const struct http_req *req, const char *name);
/* Keeps req valid after the handler returns (for answering later). */
void http_req_ref(struct http_req *req);
void http_req_unref(struct http_req *req);
/* True when the client went away: answering is then a no-op. */
bool http_req_gone(const struct http_req *req);
/* The handler's data for the request's connection (e.g. who proved to be
 * on the other end), NULL at first. Setting it frees the previous value;
 * free_fn runs when the connection and all its requests are gone. */
void *http_req_conn_data(const struct http_req *req);
void http_req_set_conn_data(struct http_req *req, void *data, void (*free_fn)(void *));
/* TLS connections: the RFC 9266 tls-exporter channel binding (32 bytes of
 * "EXPORTER-Channel-Binding"); CUSTODY_EINVAL on plain sockets. */
int http_req_tls_exporter(const struct http_req *req, uint8_t out[32]);
/* Starts delivering the body to cbs (sends 100 Continue when asked for). */
void http_req_read_body(struct http_req *req, const struct http_body_cbs *cbs);

/* ---- responses (exactly one http_resp_send_* per request) ---- */
/* Adds a response header; name and value are copied. */
void http_resp_header(struct http_req *req, const char *name, const char *value);
void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Drops the response headers added so far (to answer differently). */
void http_resp_reset_headers(struct http_req *req);
/* Complete response with an in-memory body (copied). For HEAD the body is
 * omitted and Content-Length kept. */
void http_resp_send(struct http_req *req, int status, const void *body, size_t len);
/* Complete response whose body is len bytes of fd from off. Takes ownership
 * of fd (closed when done). */
void http_resp_send_file(struct http_req *req, int status, int fd, uint64_t off, uint64_t len);

/* Descriptor handover (Unix sockets, HTTP/1.x, no TLS): the descriptors travel as
 * SCM_RIGHTS with the response's first bytes (HTTP_PASS_FDS_PER_BYTE per byte), so a
 * client reading with recvmsg gets them with the answer, and one reading with plain read
 * gets none (the kernel closes them). */
#define HTTP_PASS_FDS_MAX 1024
#define HTTP_PASS_FDS_PER_BYTE 250
/* True when http_resp_send_fds can answer req. */
bool http_req_can_pass_fds(const struct http_req *req);
/* Like http_resp_send, handing over fds[0..n) (n <= HTTP_PASS_FDS_MAX). Takes ownership of
 * the descriptors: closed once sent, or with the connection. CUSTODY_EUNSUPPORTED or
 * CUSTODY_EINVAL when it cannot (nothing sent; the descriptors stay the caller's). */
int http_resp_send_fds(struct http_req *req, int status, const void *body, size_t len,
                       const int *fds, size_t n);

/* Answers with custody's JSON error document
 * {"error":{"code","message","status"}} (status and code from the error
 * table in custody.h) and an x-custody-error header, so HEAD answers carry
 * the code too. */
void http_resp_error(struct http_req *req, int err, const char *message);
/* Appends that document (newline-terminated) to sb. */
void http_error_json(struct strbuf *sb, int err, const char *message);

/* Reason phrase for a status code. */
const char *http_status_text(int status);

#endif
