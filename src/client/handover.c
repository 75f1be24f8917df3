/*
 * handover.c — receiving descriptors custodyd hands over (a model load's checked shard
 * objects; src/gateway/handover.c has the other side).
 *
 * libcurl reads with recv(), which drops SCM_RIGHTS, so the ticket is redeemed on a
 * connection of our own: one HTTP/1.1 request with "connection: close", the answer read
 * with recvmsg until custodyd closes, every descriptor that comes with it collected.
 * Nothing here trusts the answer: sizes are bounded, a truncated control message or a
 * count that is not the one asked for closes everything received.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/internal.h"

#define ANSWER_MAX (64u << 10)
#define FDS_PER_MSG 253 /* the kernel's SCM_MAX_FD */
#define TIMEOUT_MS 10000

struct got {
    int *fds;
    size_t n, cap;
};

static void got_close(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        close(g->fds[i]);
    free(g->fds);
    *g = (struct got){0};
}

/* path fits: custody_client_open refused a socket path that does not */
static int dial(custody_client_t *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    util_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return custody__set_error(c, CUSTODY_ECONNECT, CUSTODY_ERRSRC_TRANSPORT,
                                  "cannot reach custodyd at %s for the handover: %s", path,
                                  strerror(e));
    }
    return fd;
}

static int wait_for(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do
        r = poll(&p, 1, TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Reads the whole answer (until custodyd closes), collecting descriptors. */
static int read_answer(custody_client_t *c, int fd, struct strbuf *ans, struct got *g)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * FDS_PER_MSG)];
    } ctl;
    char data[4096];
    for (;;) {
        if (wait_for(fd, POLLIN) <= 0)
            return custody__set_error(c, CUSTODY_ETIMEDOUT, CUSTODY_ERRSRC_TRANSPORT,
                                      "custodyd did not finish the handover in time");
        struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
        ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return custody__set_error(c, CUSTODY_EIO, CUSTODY_ERRSRC_TRANSPORT,
                                      "handover: reading custodyd's answer: %s", strerror(errno));
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int nfd;
                memcpy(&nfd, CMSG_DATA(cm) + i * sizeof(int), sizeof nfd);
                if (g->n == g->cap) {
                    g->cap = g->cap ? 2 * g->cap : 16;
                    g->fds = util_realloc(g->fds, g->cap * sizeof *g->fds);
                }
                g->fds[g->n++] = nfd; /* kept first, so that it is closed on any failure */
            }
        }
        if ((mh.msg_flags & MSG_CTRUNC) || g->n > CUSTODY__HANDOVER_MAX)
            return custody__set_error(c, CUSTODY_EPROTO, CUSTODY_ERRSRC_TRANSPORT,
                                      "handover: more descriptors than could be received");
        if (r == 0) return 0;
        if (ans->len + (size_t)r > ANSWER_MAX) return custody__bad_answer(c);
        sb_append(ans, data, (size_t)r);
    }
}

int custody__handover_answer(const char *ans, size_t len, int *status, const char **body,
                             size_t *body_len)
{
    static const char pre[] = "HTTP/1.1 ";
    const size_t pl = sizeof pre - 1;
    const char *eoh = ans ? memmem(ans, len, "\r\n\r\n", 4) : NULL;
    if (!eoh || len < pl + 4 || memcmp(ans, pre, pl) != 0) return CUSTODY_EPROTO;
    const char *d = ans + pl;
    if (d[0] < '1' || d[0] > '5' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9' ||
        (d[3] != ' ' && d[3] != '\r'))
        return CUSTODY_EPROTO;
    *status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    *body = eoh + 4;
    *body_len = len - (size_t)(*body - ans);
    return 0;
}

int custody__handover_count(const char *body, size_t len, size_t *n)
{
    json_t *d = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *k = json_object_get(d, "fds");
    int rc = CUSTODY_EPROTO;
    if (json_is_integer(k) && json_integer_value(k) >= 0 &&
        json_integer_value(k) <= CUSTODY__HANDOVER_MAX) {
        *n = (size_t)json_integer_value(k);
        rc = 0;
    }
    json_decref(d);
    return rc;
}

int custody__handover(custody_client_t *c, const char *ticket, int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fds[i] = -1;
    int fd = dial(c, custody_client_socket(c));
    if (fd < 0) return fd;
    struct strbuf req = STRBUF_INIT, ans = STRBUF_INIT;
    struct got g = {0};
    sb_printf(&req,
              "GET /v1/handover/%s HTTP/1.1\r\nhost: localhost\r\nuser-agent: libcustody/%s\r\n"
              "connection: close\r\n\r\n",
              ticket, CUSTODY_VERSION_STRING);
    int rc = 0;
    if (util_write_all(fd, req.buf, req.len) != 0) /* ~150 bytes into a fresh socket */
        rc = custody__set_error(c, CUSTODY_EIO, CUSTODY_ERRSRC_TRANSPORT,
                                "handover: sending the request failed: %s", strerror(errno));
    if (!rc) rc = read_answer(c, fd, &ans, &g);
    close(fd);
    int status = 0;
    const char *body = NULL;
    size_t blen = 0, said = 0;
    if (!rc && custody__handover_answer(ans.buf, ans.len, &status, &body, &blen) != 0)
        rc = custody__bad_answer(c);
    if (!rc && status != 200) {
        int err;
        char *msg = NULL;
        custody__decode_error(body, blen, status, &err, &msg);
        rc = custody__set_error(c, err, CUSTODY_ERRSRC_SERVER, "%s", msg);
        free(msg);
    }
    if (!rc && (custody__handover_count(body, blen, &said) != 0 || said != n || g.n != n))
        rc = custody__set_error(c, CUSTODY_EPROTO, CUSTODY_ERRSRC_TRANSPORT,
                                "handover: %zu descriptors received, %zu expected", g.n, n);
    if (!rc) {
        memcpy(fds, g.fds, n * sizeof *fds);
        g.n = 0;
    }
    got_close(&g);
    sb_free(&req);
    sb_free(&ans);
    return rc;
}
