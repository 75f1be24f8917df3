/*
 * internal.h — private structures of src/http, shared by server.c (listeners,
 * TLS, drain), conn.c (connections and HTTP/1.1), h2.c (HTTP/2 via nghttp2),
 * response.c and workq.c. Nothing outside src/http includes this.
 */
#ifndef CUSTODY_HTTP_INTERNAL_H
#define CUSTODY_HTTP_INTERNAL_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "h1.h"
#include "http.h"

struct workq;

struct http_listener {
    struct http_server *srv;
    struct evconnlistener *lev;
    bool tls;
    char addr[128];
    char *unix_path; /* unlinked when the server is freed */
};

struct http_server {
    struct event_base *base;
    struct http_limits limits;
    http_handler_fn handler;
    void *handler_arg;
    SSL_CTX *ssl_ctx;
    struct http_listener *listeners[4];
    size_t nlisteners;
    int tls_port;
    struct http_conn *conns; /* doubly linked list of open connections */
    uint64_t nconns;
    uint64_t accepted;
    uint64_t requests;
    bool listeners_paused; /* max_connections reached */
    bool draining;
    struct event *drain_timer;
    void (*drain_done)(void *);
    void *drain_arg;
    struct workq *workq;
    char date[32]; /* cached IMF-fixdate */
    uint64_t date_sec;
};

enum conn_state {
    CONN_HANDSHAKE = 0, /* TLS handshake in progress */
    CONN_H1_HEAD,       /* waiting for (more of) a request head */
    CONN_H1_BUSY,       /* a request is being handled / answered */
    CONN_H2,
    CONN_CLOSING, /* flushing output, then close */
    CONN_LINGER,  /* answered before the body was read: discard input briefly, then close */
};

/* Descriptors that travel with byte `at` of the connection's output and the bytes after it
 * (HTTP_PASS_FDS_PER_BYTE each). */
struct fd_pass {
    struct fd_pass *next;
    uint64_t at;
    int *fds;
    size_t n, sent;
};

struct http_conn {
    struct http_server *srv;
    struct http_conn *prev, *next;
    int fd;
    bool tls;
    enum conn_state state;
    struct http_peer peer;
    struct event *timer; /* head deadline / keep-alive idle / linger */
    size_t scan_pos;     /* where to resume searching for CRLF CRLF */
    bool head_started;   /* first byte of the current head has arrived */
    uint64_t nrequests;
    int refs;            /* requests referencing this connection + 1 while open */
    bool closed;         /* transport freed; only the struct remains while refs > 0 */
    bool in_process;     /* h1_process is on the stack (no recursion through pipelining) */
    bool process_again;  /* ... and should run once more */
    struct http_header *scratch; /* max_headers entries: the h1 parser's output */
    void *user;                  /* the handler's per-connection data */
    void (*user_free)(void *);
    size_t scratch_cap;

    /* transport (io.c) */
    struct event *rev, *wev;
    struct evbuffer *in;   /* plaintext received */
    struct evbuffer *out;  /* plaintext to send (drains to the fd on plain sockets) */
    struct evbuffer *cout; /* TLS: ciphertext waiting for the socket */
    SSL *ssl;              /* TLS over memory BIOs */
    bool tls_ready, tls_just_ready;
    bool reading;          /* the connection wants input */
    bool rev_added, rev_timeout;
    bool read_timeout, write_timeout; /* io_timeout_ms applies */
    bool eof, io_failed;
    uint64_t out_sent;           /* bytes of c->out written so far (plain sockets) */
    struct fd_pass *pass, *pass_tail; /* descriptors to hand over, in stream order */

    /* HTTP/1.x: the current request */
    struct http_req_priv *cur;
    /* HTTP/2 */
    nghttp2_session *h2;
    bool h2_goaway;
    struct http_req_priv *h2_reqs; /* open streams (nghttp2_session_del does not report them) */
    bool h2_in_recv;     /* inside nghttp2_session_mem_recv: no send, no session delete */
    bool close_pending;  /* conn_close was asked for while h2_in_recv */
};

/* A request, public part first. */
struct http_req_priv {
    struct http_req pub;
    int refs;
    bool gone;      /* connection or stream closed */
    bool responded; /* http_resp_send* called */
    bool done;      /* response fully handed to the connection */
    char *head;     /* h1: copy of the request head (headers point into it) */
    struct strbuf h2_arena; /* h2: header bytes (names/values point into it, fixed up at dispatch) */
    size_t h2_header_bytes;
    bool h2_dispatched;
    bool h2_too_large;
    size_t nheaders_cap;
    struct http_req_priv *h2_prev, *h2_next;

    /* body */
    const struct http_body_cbs *body_cbs;
    bool body_requested; /* handler asked for the body */
    bool body_complete;  /* all body bytes were read from the client */
    bool body_ended;     /* on_end / on_abort called */
    bool expect_continue;
    bool chunked;
    uint64_t body_left; /* h1 Content-Length body: bytes still to read */
    uint64_t body_seen;
    struct h1_chunked chunk;

    /* response */
    int status;
    struct strbuf rh; /* "name\0value\0" pairs */
    size_t nrh;
    bool keep_alive;
    /* h2 response body source */
    struct evbuffer *body_mem;
    struct evbuffer_file_segment *seg; /* HTTP/1: sendfile-able body */
    int body_fd;                        /* HTTP/2: body read with pread into DATA frames */
    uint64_t body_off;                  /* HTTP/2: next byte of body_fd to send */
    uint64_t body_out_left;
    int *pass_fds; /* http_resp_send_fds: handed to the connection by h1_respond */
    size_t npass_fds;
};

/* conn.c */
void conn_accept(struct http_server *srv, int fd, bool tls, const struct sockaddr *sa, int salen);
void conn_close(struct http_conn *c);
void conn_drain(struct http_conn *c); /* close if idle, else close after the current request */
void conn_ref(struct http_conn *c);
/* (Re)arms the connection timer: head deadline, keep-alive idle, linger. */
void conn_arm_timer(struct http_conn *c, unsigned ms);
void conn_unref(struct http_conn *c);
void conn_update_listeners(struct http_server *srv);
/* Writes queued output now; arms EV_WRITE only when the socket is full.
 * When everything has left (HTTP/1), calls conn_on_drained. Returns false
 * when the connection was closed. (io.c) */
bool conn_flush(struct http_conn *c);
/* Callbacks from io.c into conn.c */
void conn_on_readable(struct http_conn *c);  /* c->in has new bytes */
void conn_on_drained(struct http_conn *c);   /* all output written (or h2: room for more) */
void conn_on_handshake(struct http_conn *c); /* TLS established */

/* io.c */
int io_init(struct http_conn *c, SSL_CTX *ctx); /* ctx NULL: plain socket */
void io_free(struct http_conn *c);              /* also closes the fd */
void io_set_reading(struct http_conn *c, bool on);
void io_update_read(struct http_conn *c);
void io_timeouts(struct http_conn *c, bool reading, bool writing);
void io_tls_pump(struct http_conn *c);
size_t io_out_pending(const struct http_conn *c);
/* Hands fds[0..n) (owned from now on) over with the next byte queued on c->out. */
void io_pass_fds(struct http_conn *c, int *fds, size_t n);

/* h2.c */
int h2_start(struct http_conn *c);
void h2_on_read(struct http_conn *c);
void h2_on_write(struct http_conn *c);
void h2_respond(struct http_req_priv *r);
void h2_body_resume(struct http_req_priv *r);
void h2_free(struct http_conn *c);
void h2_goaway(struct http_conn *c);
bool h2_busy(const struct http_conn *c);

/* conn.c: HTTP/1 side */
void h1_respond(struct http_req_priv *r);
void h1_body_resume(struct http_req_priv *r);

/* response.c */
struct http_req_priv *req_new(struct http_conn *c);
void req_finish(struct http_req_priv *r); /* the connection is done with it */
void req_abort_body(struct http_req_priv *r);
const char *server_date(struct http_server *srv);

/* workq.c */
int workq_new(struct event_base *base, unsigned nthreads, struct workq **out);
void workq_free(struct workq *q);
int workq_submit(struct workq *q, void (*work)(void *), void (*done)(void *), void *arg);

#endif
