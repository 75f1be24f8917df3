/* server.c — listeners (Unix socket, TCP + TLS 1.3 with ALPN), limits,
 * graceful drain and statistics. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>

#include "internal.h"

int http_server_new(struct event_base *base, const struct http_server_opts *opts,
                    struct http_server **out)
{
    struct http_server *srv = util_calloc(1, sizeof *srv);
    srv->base = base;
    srv->limits = opts->limits;
    srv->handler = opts->handler;
    srv->handler_arg = opts->handler_arg;
    srv->tls_port = -1;
    int rc = workq_new(base, opts->workers ? opts->workers : 4, &srv->workq);
    if (rc) {
        free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    while (srv->conns)
        conn_close(srv->conns);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct http_listener *l = srv->listeners[i];
        evconnlistener_free(l->lev);
        if (l->unix_path) {
            unlink(l->unix_path);
            free(l->unix_path);
        }
        free(l);
    }
    if (srv->drain_timer)
        event_free(srv->drain_timer);
    workq_free(srv->workq);
    SSL_CTX_free(srv->ssl_ctx);
    free(srv);
}

void http_server_set_limits(struct http_server *srv, const struct http_limits *lim)
{
    srv->limits = *lim;
    conn_update_listeners(srv);
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct http_listener *l = arg;
    struct http_server *srv = l->srv;
    (void)lev;
    if (srv->draining || srv->nconns >= srv->limits.max_connections) {
        close(fd);
        return;
    }
    conn_accept(srv, fd, l->tls, sa, salen);
}

static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    (void)lev, (void)arg;
    /* EMFILE/ENFILE: keep serving the connections we have */
    log_error("http: accept failed: %s", evutil_socket_error_to_string(err));
}

static struct http_listener *listener_add(struct http_server *srv, struct evconnlistener *lev,
                                          bool tls, const char *addr)
{
    struct http_listener *l = util_calloc(1, sizeof *l);
    l->srv = srv;
    l->lev = lev;
    l->tls = tls;
    util_strlcpy(l->addr, addr, sizeof l->addr);
    evconnlistener_set_cb(lev, accept_cb, l);
    evconnlistener_set_error_cb(lev, accept_error_cb);
    srv->listeners[srv->nlisteners++] = l;
    return l;
}

int http_server_listen_unix(struct http_server *srv, const char *path, mode_t mode)
{
    if (srv->nlisteners >= UTIL_ARRAY_LEN(srv->listeners))
        return CUSTODY_EINVAL;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        log_error("http: socket path too long (max %zu bytes): %s", sizeof sun.sun_path - 1,
                  path);
        return CUSTODY_ENAMETOOLONG;
    }
    util_strlcpy(sun.sun_path, path, sizeof sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return custody_err_from_errno(errno);
    /* a socket file left by a crashed daemon is replaced; a live one is not */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("http: %s exists and is not a socket", path);
            close(fd);
            return CUSTODY_EEXIST;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0) {
            close(probe);
            close(fd);
            log_error("http: another custodyd is already listening on %s", path);
            return CUSTODY_EEXIST;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc != 0 || chmod(path, mode) != 0 || listen(fd, 1024) != 0) {
        rc = custody_err_from_errno(errno);
        log_error("http: cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    struct evconnlistener *lev =
        evconnlistener_new(srv->base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (!lev) {
        close(fd);
        return CUSTODY_ENOMEM;
    }
    char addr[128];
    snprintf(addr, sizeof addr, "%s", path);
    struct http_listener *l = listener_add(srv, lev, false, addr);
    l->unix_path = util_strdup(path);
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    static const unsigned char prefs[][9] = {"\x02h2", "\x08http/1.1"};
    for (size_t k = 0; k < 2; k++) {
        for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
            if (i + 1u + in[i] > inlen)
                break;
            if (in[i] == prefs[k][0] && memcmp(in + i + 1, prefs[k] + 1, in[i]) == 0) {
                *out = in + i + 1;
                *outlen = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *tls_ctx_new(const char *cert, const char *key, struct strbuf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        sb_printf(err, "tls: cannot load certificate %s: %s\n", cert,
                  ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        sb_printf(err, "tls: cannot load key %s (or it does not match the certificate)\n", key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

int http_server_reload_tls(struct http_server *srv, const char *cert_file, const char *key_file,
                           struct strbuf *err)
{
    SSL_CTX *ctx = tls_ctx_new(cert_file, key_file, err);
    if (!ctx)
        return CUSTODY_ECONFIG;
    SSL_CTX_free(srv->ssl_ctx); /* live connections hold their own references */
    srv->ssl_ctx = ctx;
    return 0;
}

int http_server_listen_tls(struct http_server *srv, const char *address, int port,
                           const char *cert_file, const char *key_file, struct strbuf *err)
{
    if (srv->nlisteners >= UTIL_ARRAY_LEN(srv->listeners))
        return CUSTODY_EINVAL;
    if (!srv->ssl_ctx && http_server_reload_tls(srv, cert_file, key_file, err) != 0)
        return CUSTODY_ECONFIG;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(address, portstr, &hints, &ai) != 0 || !ai) {
        sb_printf(err, "listen.tcp.address: cannot resolve %s\n", address);
        return CUSTODY_ECONFIG;
    }
    struct evconnlistener *lev = evconnlistener_new_bind(
        srv->base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
        ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!lev) {
        sb_printf(err, "cannot listen on %s:%d: %s\n", address, port, strerror(errno));
        return custody_err_from_errno(errno);
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ss, &sl);
    srv->tls_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    char addr[128];
    snprintf(addr, sizeof addr, "%s:%d", address, srv->tls_port);
    listener_add(srv, lev, true, addr);
    return 0;
}

bool http_server_listener(const struct http_server *srv, size_t i, const char **addr, bool *tls)
{
    if (i >= srv->nlisteners)
        return false;
    *addr = srv->listeners[i]->addr;
    *tls = srv->listeners[i]->tls;
    return true;
}

int http_server_tls_port(const struct http_server *srv)
{
    return srv->tls_port;
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *srv = arg;
    (void)fd, (void)what;
    if (srv->nconns)
        log_warn("http: drain timeout: closing %llu connection(s) with requests in flight",
                 (unsigned long long)srv->nconns);
    void (*done)(void *) = srv->drain_done;
    srv->drain_done = NULL; /* conn_close must not call it again */
    while (srv->conns)
        conn_close(srv->conns);
    if (done)
        done(srv->drain_arg);
}

void http_server_drain(struct http_server *srv, unsigned timeout_ms, void (*done)(void *),
                       void *arg)
{
    if (srv->draining)
        return;
    srv->draining = true;
    srv->drain_done = done;
    srv->drain_arg = arg;
    for (size_t i = 0; i < srv->nlisteners; i++)
        evconnlistener_disable(srv->listeners[i]->lev);
    /* close idle connections now; busy ones close after their current request */
    struct http_conn *c = srv->conns;
    while (c) {
        struct http_conn *next = c->next;
        conn_drain(c);
        c = next;
    }
    if (srv->nconns == 0) {
        srv->drain_done = NULL;
        if (done)
            done(arg);
        return;
    }
    srv->drain_timer = evtimer_new(srv->base, drain_timeout_cb, srv);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(srv->drain_timer, &tv);
}

bool http_server_draining(const struct http_server *srv)
{
    return srv->draining;
}

void http_server_stats(const struct http_server *srv, struct http_stats *out)
{
    out->connections = srv->nconns;
    out->requests = srv->requests;
    out->accepted = srv->accepted;
}

int http_server_defer(struct http_server *srv, void (*work)(void *), void (*done)(void *),
                      void *arg)
{
    return workq_submit(srv->workq, work, done, arg);
}
