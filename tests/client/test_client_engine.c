/* test_client_engine.c — libcustody's request engine against a tiny fake
 * custodyd (HTTP/1.1 over a Unix socket, in a thread): streaming GETs and
 * ranges, error bodies, chunked and sized PUTs, keep-alive, stat, list and
 * the JSON operations. The real daemon is covered by
 * tests/integration/test_cli.sh. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/internal.h"

#define HELLO "hello world\n"
#define HELLO_SHA "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"

struct fake_req {
    char method[16];
    char target[1024];
    char headers[4096];
    struct strbuf body;
    bool chunked;
};

static struct {
    char path[256];
    int lfd;
    pthread_mutex_t mu;
    struct fake_req last; /* the last request seen */
    unsigned connections;
    unsigned requests;
} g_fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0) return -1;
        if (n + 1 < cap) buf[n++] = ch;
        if (ch == '\n') break;
    }
    buf[n] = '\0';
    return (int)n;
}

static int read_exact(int fd, struct strbuf *sb, size_t len)
{
    char tmp[4096];
    while (len) {
        ssize_t r = read(fd, tmp, UTIL_MIN(len, sizeof tmp));
        if (r <= 0) return -1;
        sb_append(sb, tmp, (size_t)r);
        len -= (size_t)r;
    }
    return 0;
}

static const char *hdr(const struct fake_req *q, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    for (const char *p = q->headers; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol) break;
        if (util_ascii_ieq(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            util_strlcpy(val, v, UTIL_MIN(vl + 1, sizeof val));
            return val;
        }
        p = eol + 1;
    }
    return NULL;
}

static int read_request(int fd, struct fake_req *q)
{
    char line[2048];
    memset(q->method, 0, sizeof q->method);
    q->headers[0] = '\0';
    sb_reset(&q->body);
    q->chunked = false;
    if (read_line(fd, line, sizeof line) <= 0) return -1;
    if (sscanf(line, "%15s %1023s", q->method, q->target) != 2) return -1;
    size_t hl = 0;
    for (;;) {
        int n = read_line(fd, line, sizeof line);
        if (n <= 0) return -1;
        if (strcmp(line, "\r\n") == 0) break;
        if (hl + (size_t)n < sizeof q->headers) {
            memcpy(q->headers + hl, line, (size_t)n + 1);
            hl += (size_t)n;
        }
    }
    const char *te = hdr(q, "Transfer-Encoding");
    const char *cl = hdr(q, "Content-Length");
    if (te && strstr(te, "chunked")) {
        q->chunked = true;
        for (;;) {
            if (read_line(fd, line, sizeof line) <= 0) return -1;
            size_t sz = strtoul(line, NULL, 16);
            if (sz == 0) {
                read_line(fd, line, sizeof line); /* final CRLF */
                break;
            }
            if (read_exact(fd, &q->body, sz)) return -1;
            read_line(fd, line, sizeof line);
        }
    } else if (cl) {
        if (read_exact(fd, &q->body, strtoul(cl, NULL, 10))) return -1;
    }
    return 0;
}

static void respond(int fd, const struct fake_req *q, int status, const char *extra_headers,
                    const char *ctype, const char *body, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n", status, len);
    if (ctype) sb_printf(&sb, "Content-Type: %s\r\n", ctype);
    if (extra_headers) sb_puts(&sb, extra_headers);
    sb_puts(&sb, "\r\n");
    if (strcmp(q->method, "HEAD") != 0) sb_append(&sb, body, len);
    util_write_all(fd, sb.buf, sb.len);
    sb_free(&sb);
}

static void respond_error(int fd, const struct fake_req *q, int status, const char *code,
                          const char *msg)
{
    struct strbuf b = STRBUF_INIT;
    sb_printf(&b, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"status\":%d}}", code, msg,
              status);
    respond(fd, q, status, NULL, "application/json", b.buf, b.len);
    sb_free(&b);
}

static void write_result(int fd, const struct fake_req *q, const char *body, size_t len,
                         int created)
{
    uint8_t d[32];
    char hex[65];
    util_sha256(body, len, d);
    util_hex_encode(d, 32, hex);
    struct strbuf b = STRBUF_INIT;
    sb_printf(&b,
              "{\"resource\":\"demo:/a.txt\",\"sha256\":\"%s\",\"size\":%zu,\"version\":3,"
              "\"created\":%s}",
              hex, len, created ? "true" : "false");
    respond(fd, q, created ? 201 : 200, NULL, "application/json", b.buf, b.len);
    sb_free(&b);
}

static void handle(int fd, const struct fake_req *q)
{
    const char *t = q->target;
    const char *etag =
        "ETag: \"" HELLO_SHA "\"\r\nLast-Modified: Thu, 26 Nov 2026 07:14:00 GMT\r\n";
    if (strcmp(t, "/v1/fs/demo/hello.txt") == 0 &&
        (!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD"))) {
        const char *range = hdr(q, "Range");
        if (range && strcmp(range, "bytes=0-4") == 0) {
            struct strbuf h = STRBUF_INIT;
            sb_printf(&h, "%sContent-Range: bytes 0-4/12\r\n", etag);
            respond(fd, q, 206, h.buf, "text/plain", HELLO, 5);
            sb_free(&h);
        } else if (range && strcmp(range, "bytes=-3") == 0) {
            struct strbuf h = STRBUF_INIT;
            sb_printf(&h, "%sContent-Range: bytes 9-11/12\r\n", etag);
            respond(fd, q, 206, h.buf, "text/plain", &HELLO[9], 3);
            sb_free(&h);
        } else if (range) {
            respond_error(fd, q, 416, "range_not_satisfiable", "range past the end");
        } else {
            respond(fd, q, 200, etag, "text/plain", HELLO, strlen(HELLO));
        }
    } else if (strcmp(t, "/v1/fs/demo/hello.txt?version=2") == 0) {
        respond(fd, q, 200, etag, "text/plain", "old\n", 4);
    } else if ((strcmp(t, "/v1/fs/demo/") == 0 || strcmp(t, "/v1/fs/demo/docs") == 0 ||
                strcmp(t, "/v1/fs/demo/docs/") == 0) &&
               (!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD"))) {
        const char *b = "{\"resource\":\"demo:/\",\"entries\":["
                        "{\"name\":\"docs\",\"type\":\"dir\",\"size\":4096,"
                        "\"mtime\":\"2026-11-26T07:14:00.123456789Z\"},"
                        "{\"name\":\"hello.txt\",\"type\":\"file\",\"size\":12,"
                        "\"mtime\":\"2026-11-26T07:14:00.000000000Z\"}],\"truncated\":false}";
        respond(fd, q, 200, NULL, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/fs/demo/a%20b%3F.txt") == 0 && !strcmp(q->method, "PUT")) {
        write_result(fd, q, q->body.buf ? q->body.buf : "", q->body.len, 1);
    } else if (strcmp(t, "/v1/fs/demo/a.txt") == 0 && !strcmp(q->method, "PUT")) {
        const char *im = hdr(q, "If-Match");
        const char *inm = hdr(q, "If-None-Match");
        if (im && strcmp(im, "\"" HELLO_SHA "\"") != 0)
            respond_error(fd, q, 412, "precondition_failed", "etag does not match");
        else if (inm && strcmp(inm, "*") == 0)
            respond_error(fd, q, 412, "precondition_failed", "demo:/a.txt exists");
        else
            write_result(fd, q, q->body.buf ? q->body.buf : "", q->body.len, 0);
    } else if (strcmp(t, "/v1/fs/demo/a.txt") == 0 && !strcmp(q->method, "POST")) {
        if (strstr(q->body.buf, "\"rollback\""))
            write_result(fd, q, "old\n", 4, 0);
        else
            respond(fd, q, 200, NULL, "application/json", "{\"resource\":\"demo:/a.txt\"}", 25);
    } else if (strcmp(t, "/v1/fs/demo/a.txt") == 0 && !strcmp(q->method, "DELETE")) {
        respond(fd, q, 200, NULL, "application/json",
                "{\"resource\":\"demo:/a.txt\",\"deleted\":true}", 40);
    } else if (strcmp(t, "/v1/versions/demo/a.txt") == 0) {
        const char *b = "{\"resource\":\"demo:/a.txt\",\"versions\":[{\"version\":1,\"op\":"
                        "\"write\",\"sha256\":\"" HELLO_SHA "\",\"size\":12,\"time\":\"t\","
                        "\"available\":true}]}";
        respond(fd, q, 200, NULL, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/roots") == 0) {
        const char *b = "{\"roots\":[{\"name\":\"demo\",\"path\":\"/s/demo\",\"labels\":{"
                        "\"classification\":\"public\"}}]}";
        respond(fd, q, 200, NULL, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/roots/scans") == 0 && !strcmp(q->method, "PUT")) {
        const char *b = "{\"name\":\"scans\",\"path\":\"/data/scans\",\"labels\":{\"k\":\"v\"}}";
        respond(fd, q, 201, NULL, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/status") == 0) {
        const char *b = "{\"version\":\"0.1.0\",\"pid\":1}";
        respond(fd, q, 200, NULL, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/fs/demo/fake.json") == 0) {
        /* a file whose content looks like a listing: its ETag says "file" */
        const char *b = "{\"resource\":\"demo:/\",\"entries\":[],\"truncated\":false}";
        respond(fd, q, 200, etag, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/fs/demo/garbage") == 0) {
        respond(fd, q, 200, NULL, "application/json", "{\"resource\":", 12);
    } else if (strcmp(t, "/v1/fs/demo/meta.txt") == 0) {
        struct strbuf h = STRBUF_INIT;
        sb_printf(&h,
                  "%sX-Custody-Mode: 0600\r\nx-custody-atime: 2026-11-27T01:02:03.000000004Z\r\n"
                  "X-Custody-Btime:  2026-11-20T00:00:00.000000000Z \r\n",
                  etag);
        respond(fd, q, 200, h.buf, "text/plain", HELLO, strlen(HELLO));
        sb_free(&h);
    } else if (strcmp(t, "/v1/fs/demo/badmode.txt") == 0) {
        struct strbuf h = STRBUF_INIT;
        sb_printf(&h, "%sX-Custody-Mode: rw-r--r--\r\n", etag);
        respond(fd, q, 200, h.buf, "text/plain", HELLO, strlen(HELLO));
        sb_free(&h);
    } else if (strcmp(t, "/v1/fs/demo/metadir") == 0) {
        const char *h = "X-Custody-Type: dir\r\nLast-Modified: Fri, 27 Nov 2026 08:00:00 GMT\r\n"
                        "X-Custody-Size: 8192\r\nX-Custody-Mode: 1777\r\n"
                        "X-Custody-Atime: 2026-11-27T09:00:00.000000000Z\r\n";
        const char *b = "{\"resource\":\"demo:/metadir\",\"entries\":[],\"truncated\":false}";
        respond(fd, q, 200, h, "application/json", b, strlen(b));
    } else if (strcmp(t, "/v1/fs/nope/x") == 0) {
        respond_error(fd, q, 404, "unknown_root", "no such root: nope");
    } else {
        respond_error(fd, q, 404, "not_found", "no such file or directory");
    }
}

static void *fake_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(g_fake.lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            return NULL;
        }
        pthread_mutex_lock(&g_fake.mu);
        g_fake.connections++;
        pthread_mutex_unlock(&g_fake.mu);
        struct fake_req q = {0};
        while (read_request(fd, &q) == 0) {
            pthread_mutex_lock(&g_fake.mu);
            sb_free(&g_fake.last.body);
            g_fake.last = q;
            memset(&g_fake.last.body, 0, sizeof g_fake.last.body);
            sb_append(&g_fake.last.body, q.body.buf ? q.body.buf : "", q.body.len);
            g_fake.requests++;
            pthread_mutex_unlock(&g_fake.mu);
            handle(fd, &q);
        }
        sb_free(&q.body);
        close(fd);
    }
}

static custody_client_t *fake_start(void)
{
    snprintf(g_fake.path, sizeof g_fake.path, "%s/custodyd.sock", test_tmpdir());
    g_fake.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(g_fake.lfd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    util_strlcpy(sa.sun_path, g_fake.path, sizeof sa.sun_path);
    ASSERT_OK(bind(g_fake.lfd, (struct sockaddr *)&sa, sizeof sa));
    ASSERT_OK(listen(g_fake.lfd, 8));
    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, fake_main, NULL));
    pthread_detach(th);
    custody_client_t *c = NULL;
    ASSERT_OK(custody_client_open(test_tmpdir(), &c)); /* a state dir: DIR/custodyd.sock */
    ASSERT_STR_EQ(g_fake.path, custody_client_socket(c));
    return c;
}

/* A temp file holding `content`, read back after the test wrote it. */
static int tmpfile_with(const char *name, const char *content, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/%s", test_tmpdir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, content, strlen(content)));
    ASSERT(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

static char *slurp(int fd)
{
    struct strbuf sb = STRBUF_INIT;
    char tmp[256];
    ASSERT(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n;
    while ((n = read(fd, tmp, sizeof tmp)) > 0)
        sb_append(&sb, tmp, (size_t)n);
    return sb_detach(&sb);
}

TEST(client_engine_get)
{
    custody_client_t *c = fake_start();
    char path[512];
    int out = tmpfile_with("out", "", path, sizeof path);
    custody_stat_t st;
    ASSERT_OK(custody_get(c, "demo:/hello.txt", NULL, 0, out, &st));
    char *got = slurp(out);
    ASSERT_STR_EQ(HELLO, got);
    free(got);
    ASSERT_EQ(200, st.http_status);
    ASSERT_EQ(12, st.size);
    ASSERT_EQ(12, st.body_size);
    ASSERT_STR_EQ(HELLO_SHA, st.sha256);
    ASSERT_STR_EQ("2026-11-26T07:14:00.000000000Z", st.mtime);
    ASSERT_EQ(CUSTODY_TYPE_FILE, st.type);

    /* ranges: A-B and -N, total size from Content-Range */
    ASSERT_OK(ftruncate(out, 0));
    ASSERT(lseek(out, 0, SEEK_SET) == 0);
    custody_range_t r = {0, 4};
    ASSERT_OK(custody_get(c, "demo:/hello.txt", &r, 0, out, &st));
    ASSERT_EQ(206, st.http_status);
    ASSERT_EQ(12, st.size);
    ASSERT_EQ(5, st.body_size);
    ASSERT_STR_EQ("bytes=0-4", hdr(&g_fake.last, "Range"));
    custody_range_t suffix = {-1, 3};
    ASSERT_OK(custody_get(c, "demo:/hello.txt", &suffix, 0, out, &st));
    got = slurp(out);
    ASSERT_STR_EQ("hellold\n", got);
    free(got);

    custody_range_t past = {100, -1};
    ASSERT_EQ(CUSTODY_ERANGE, custody_get(c, "demo:/hello.txt", &past, 0, out, &st));
    ASSERT_EQ(CUSTODY_ERRSRC_SERVER, custody_client_last_error_source(c));
    ASSERT_STR_EQ("range past the end", custody_client_last_error(c));

    /* versions */
    ASSERT_OK(ftruncate(out, 0));
    ASSERT(lseek(out, 0, SEEK_SET) == 0);
    ASSERT_OK(custody_get(c, "demo:/hello.txt", NULL, 2, out, NULL));
    got = slurp(out);
    ASSERT_STR_EQ("old\n", got);
    free(got);

    /* errors: the server's code and message */
    ASSERT_EQ(CUSTODY_ENOENT, custody_get(c, "demo:/nope.txt", NULL, 0, out, NULL));
    ASSERT_STR_EQ("no such file or directory", custody_client_last_error(c));
    ASSERT_EQ(404, custody_client_last_status(c));
    ASSERT_EQ(CUSTODY_ENOROOT, custody_get(c, "nope:/x", NULL, 0, out, NULL));

    /* a directory is not streamed into the fd */
    ASSERT_EQ(CUSTODY_EISDIR, custody_get(c, "demo:/docs", NULL, 0, out, NULL));
    /* a bad id never reaches the wire */
    unsigned before = g_fake.requests;
    ASSERT_EQ(CUSTODY_EINVAL, custody_get(c, "no-colon", NULL, 0, out, NULL));
    ASSERT_EQ(CUSTODY_ERRSRC_ARGUMENT, custody_client_last_error_source(c));
    ASSERT_EQ(before, g_fake.requests);

    /* writing the output fails: a local error */
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    ASSERT_LT(custody_get(c, "demo:/hello.txt", NULL, 0, ro, NULL), 0);
    ASSERT_EQ(CUSTODY_ERRSRC_LOCAL, custody_client_last_error_source(c));
    close(ro);
    close(out);

    /* keep-alive: everything above (bar the aborted transfers) reused connections */
    ASSERT_LE(g_fake.connections, 4);
    custody_client_close(c);
}

TEST(client_engine_put)
{
    custody_client_t *c = fake_start();
    custody_write_result_t res;
    char path[512];

    /* a regular file: Content-Length */
    int in = tmpfile_with("in", "0123456789", path, sizeof path);
    ASSERT(lseek(in, 3, SEEK_SET) == 3); /* from the current offset */
    ASSERT_OK(custody_put_fd(c, "demo:/a.txt", in, NULL, &res));
    close(in);
    ASSERT_STR_EQ("PUT", g_fake.last.method);
    ASSERT(!g_fake.last.chunked);
    ASSERT_STR_EQ("7", hdr(&g_fake.last, "Content-Length"));
    ASSERT_EQ(7, g_fake.last.body.len);
    ASSERT_MEM_EQ("3456789", g_fake.last.body.buf, 7);
    ASSERT_EQ(7, res.size);
    ASSERT_EQ(3, res.version);
    ASSERT_EQ(0, res.created);
    ASSERT_STR_CONTAINS(custody_client_last_json(c), "\"version\":3");

    /* a pipe: chunked */
    int p[2];
    ASSERT_OK(pipe(p));
    ASSERT_OK(util_write_all(p[1], "piped data", 10));
    close(p[1]);
    ASSERT_OK(custody_put_fd(c, "demo:/a b?.txt", p[0], NULL, &res));
    close(p[0]);
    ASSERT(g_fake.last.chunked);
    ASSERT_STR_EQ("/v1/fs/demo/a%20b%3F.txt", g_fake.last.target);
    ASSERT_EQ(10, res.size);
    ASSERT_EQ(1, res.created);

    /* an empty pipe: an empty file */
    ASSERT_OK(pipe(p));
    close(p[1]);
    ASSERT_OK(custody_put_fd(c, "demo:/a.txt", p[0], NULL, &res));
    close(p[0]);
    ASSERT_EQ(0, res.size);

    /* preconditions */
    custody_put_opts_t po = {
        .if_match = "0000000000000000000000000000000000000000000000000000000000000000"};
    ASSERT_EQ(CUSTODY_EPRECOND, custody_put_buf(c, "demo:/a.txt", "x", 1, &po, &res));
    ASSERT_EQ(CUSTODY_ERRSRC_SERVER, custody_client_last_error_source(c));
    ASSERT_STR_EQ("etag does not match", custody_client_last_error(c));
    ASSERT_STR_EQ("", custody_client_last_json(c));
    po.if_match = HELLO_SHA;
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, &po, &res));
    ASSERT_STR_EQ("\"" HELLO_SHA "\"", hdr(&g_fake.last, "If-Match"));
    custody_put_opts_t co = {.create_only = 1};
    ASSERT_EQ(CUSTODY_EPRECOND, custody_put_buf(c, "demo:/a.txt", "x", 1, &co, NULL));

    /* a directory as input is a local error */
    int dfd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_EQ(CUSTODY_EISDIR, custody_put_fd(c, "demo:/a.txt", dfd, NULL, &res));
    ASSERT_EQ(CUSTODY_ERRSRC_LOCAL, custody_client_last_error_source(c));
    close(dfd);
    custody_client_close(c);
}

TEST(client_engine_meta)
{
    custody_client_t *c = fake_start();
    custody_stat_t st;
    ASSERT_OK(custody_stat(c, "demo:/hello.txt", &st));
    ASSERT_STR_EQ("HEAD", g_fake.last.method);
    ASSERT_EQ(CUSTODY_TYPE_FILE, st.type);
    ASSERT_EQ(12, st.size);
    ASSERT_STR_EQ(HELLO_SHA, st.sha256);

    ASSERT_OK(custody_stat(c, "demo:/docs", &st));
    ASSERT_EQ(CUSTODY_TYPE_DIR, st.type);
    ASSERT_EQ(4096, st.size);
    ASSERT_STR_EQ("2026-11-26T07:14:00.123456789Z", st.mtime);
    ASSERT_STR_EQ("", st.sha256);

    /* HEAD has no error body: the SDK asks again for the code and message */
    ASSERT_EQ(CUSTODY_ENOROOT, custody_stat(c, "nope:/x", &st));
    ASSERT_STR_EQ("no such root: nope", custody_client_last_error(c));

    custody_dirent_t *d = NULL;
    size_t n = 0;
    int tr = 1;
    ASSERT_OK(custody_list(c, "demo:", &d, &n, &tr));
    ASSERT_EQ(2, n);
    ASSERT_EQ(0, tr);
    ASSERT_STR_EQ("docs", d[0].name);
    ASSERT_STR_CONTAINS(custody_client_last_json(c), "\"entries\"");
    custody_dirents_free(d, n);
    ASSERT_EQ(CUSTODY_ENOTDIR, custody_list(c, "demo:/hello.txt", &d, &n, NULL));
    ASSERT_EQ(CUSTODY_ENOTDIR, custody_list(c, "demo:/fake.json", &d, &n, NULL));
    ASSERT_OK(custody_stat(c, "demo:/fake.json", &st));
    ASSERT_EQ(CUSTODY_TYPE_FILE, st.type);
    ASSERT_STR_EQ(HELLO_SHA, st.sha256);
    ASSERT_EQ(CUSTODY_EPROTO, custody_list(c, "demo:/garbage", &d, &n, NULL));
    ASSERT_EQ(CUSTODY_ERRSRC_TRANSPORT, custody_client_last_error_source(c));

    custody_version_t *v = NULL;
    ASSERT_OK(custody_versions(c, "demo:/a.txt", &v, &n));
    ASSERT_EQ(1, n);
    ASSERT_STR_EQ("write", v[0].op);
    custody_versions_free(v, n);

    custody_write_result_t res;
    ASSERT_OK(custody_rollback(c, "demo:/a.txt", 1, &res));
    ASSERT_STR_CONTAINS(g_fake.last.body.buf, "\"rollback\"");
    ASSERT_STR_EQ("application/json", hdr(&g_fake.last, "Content-Type"));
    ASSERT_EQ(4, res.size);
    ASSERT_EQ(CUSTODY_EINVAL, custody_rollback(c, "demo:/a.txt", 0, &res));

    ASSERT_OK(custody_mkdir(c, "demo:/a.txt", 1));
    ASSERT_STR_CONTAINS(g_fake.last.body.buf, "\"mkdir\"");
    ASSERT_OK(custody_move(c, "demo:/a.txt", "demo:/b.txt", 1));
    ASSERT_STR_CONTAINS(g_fake.last.body.buf, "\"to\":\"demo:/b.txt\"");
    ASSERT_STR_CONTAINS(g_fake.last.body.buf, "\"overwrite\":true");
    ASSERT_OK(custody_delete(c, "demo:/a.txt", "*"));
    ASSERT_STR_EQ("DELETE", g_fake.last.method);
    ASSERT_STR_EQ("*", hdr(&g_fake.last, "If-Match"));

    custody_root_t *roots = NULL;
    ASSERT_OK(custody_root_list(c, &roots, &n));
    ASSERT_EQ(1, n);
    ASSERT_STR_EQ("public", roots[0].labels[0].value);
    custody_roots_free(roots, n);
    custody_label_t lab = {"k", "v"};
    custody_root_t one;
    ASSERT_OK(custody_root_add(c, "scans", "/data/scans", &lab, 1, &one));
    ASSERT_STR_EQ("PUT", g_fake.last.method);
    ASSERT_STR_CONTAINS(g_fake.last.body.buf, "\"path\":\"/data/scans\"");
    ASSERT_STR_EQ("/data/scans", one.path);
    custody_root_free(&one);
    ASSERT_EQ(CUSTODY_EINVAL, custody_root_add(c, "scans", "relative", NULL, 0, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, custody_root_add(c, "bad name", "/x", NULL, 0, NULL));

    char *js = NULL;
    ASSERT_OK(custody_status(c, &js));
    ASSERT_STR_CONTAINS(js, "\"pid\":1");
    free(js);
    custody_client_close(c);
}

TEST(client_engine_stat_metadata)
{
    custody_client_t *c = fake_start();
    custody_stat_t st;
    ASSERT_OK(custody_stat(c, "demo:/meta.txt", &st));
    ASSERT_EQ(CUSTODY_TYPE_FILE, st.type);
    ASSERT_EQ(0600, st.mode);
    ASSERT_STR_EQ("2026-11-27T01:02:03.000000004Z", st.atime);
    ASSERT_STR_EQ("2026-11-20T00:00:00.000000000Z", st.btime);
    ASSERT_STR_EQ("2026-11-26T07:14:00.000000000Z", st.mtime);
    /* GET fills the same fields */
    char path[512];
    int out = tmpfile_with("out", "", path, sizeof path);
    memset(&st, 0, sizeof st);
    ASSERT_OK(custody_get(c, "demo:/meta.txt", NULL, 0, out, &st));
    close(out);
    ASSERT_EQ(0600, st.mode);
    ASSERT_STR_EQ("2026-11-20T00:00:00.000000000Z", st.btime);
    /* a custodyd that does not send them (or sends nonsense): unknown */
    ASSERT_OK(custody_stat(c, "demo:/hello.txt", &st));
    ASSERT_EQ(-1, st.mode);
    ASSERT_STR_EQ("", st.atime);
    ASSERT_STR_EQ("", st.btime);
    ASSERT_OK(custody_stat(c, "demo:/badmode.txt", &st));
    ASSERT_EQ(-1, st.mode);
    /* a directory answer describes the directory: no second request */
    unsigned before = g_fake.requests;
    ASSERT_OK(custody_stat(c, "demo:/metadir", &st));
    ASSERT_EQ(before + 1, g_fake.requests);
    ASSERT_EQ(CUSTODY_TYPE_DIR, st.type);
    ASSERT_EQ(8192, st.size);
    ASSERT_EQ(01777, st.mode);
    ASSERT_STR_EQ("2026-11-27T08:00:00.000000000Z", st.mtime);
    ASSERT_STR_EQ("2026-11-27T09:00:00.000000000Z", st.atime);
    ASSERT_STR_EQ("", st.btime);
    ASSERT_STR_EQ("", st.sha256);
    /* without X-Custody-Size: the parent's listing, as before */
    ASSERT_OK(custody_stat(c, "demo:/docs", &st));
    ASSERT_EQ(4096, st.size);
    ASSERT_EQ(-1, st.mode);
    custody_client_close(c);
}

TEST(client_engine_unreachable)
{
    custody_client_t *c = NULL;
    char sock[512];
    snprintf(sock, sizeof sock, "%s/none.sock", test_tmpdir());
    ASSERT_OK(custody_client_open(sock, &c));
    ASSERT_STR_EQ(sock, custody_client_socket(c));
    char *js = NULL;
    ASSERT_EQ(CUSTODY_ECONNECT, custody_status(c, &js));
    ASSERT_EQ(CUSTODY_ERRSRC_TRANSPORT, custody_client_last_error_source(c));
    ASSERT_STR_CONTAINS(custody_client_last_error(c), "cannot reach custodyd");
    ASSERT_EQ(0, custody_client_last_status(c));
    custody_client_close(c);

    /* a socket path longer than sockaddr_un allows */
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, custody_client_open(longp, &c));
    ASSERT_NULL(c);
}

TEST(client_engine_consent)
{
    custody_client_t *c = fake_start();
    custody_write_result_t res;
    /* no token: no header */
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, NULL, &res));
    ASSERT_NULL(hdr(&g_fake.last, "X-Custody-Consent"));
    /* with one: on every change (PUT, DELETE, POST), not on reads */
    ASSERT_OK(custody_client_set_consent(c, "ticket 42: ok by alice"));
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, NULL, &res));
    ASSERT_STR_EQ("ticket 42: ok by alice", hdr(&g_fake.last, "X-Custody-Consent"));
    ASSERT_OK(custody_delete(c, "demo:/a.txt", NULL));
    ASSERT_STR_EQ("ticket 42: ok by alice", hdr(&g_fake.last, "X-Custody-Consent"));
    ASSERT_OK(custody_rollback(c, "demo:/a.txt", 1, &res));
    ASSERT_STR_EQ("ticket 42: ok by alice", hdr(&g_fake.last, "X-Custody-Consent"));
    custody_stat_t st;
    ASSERT_OK(custody_stat(c, "demo:/hello.txt", &st));
    ASSERT_STR_EQ("HEAD", g_fake.last.method);
    ASSERT_NULL(hdr(&g_fake.last, "X-Custody-Consent"));
    /* bounded: 1..512 printable ASCII; a bad one keeps the previous token */
    char big[CUSTODY_CONSENT_MAX + 2];
    memset(big, 'c', sizeof big);
    big[CUSTODY_CONSENT_MAX + 1] = '\0';
    static const char *const bad[] = {"tab\there", "new\nline", "caf\xc3\xa9", "\x7f"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad) + 1; i++) {
        const char *t = i < UTIL_ARRAY_LEN(bad) ? bad[i] : big;
        ASSERT_EQ(CUSTODY_EINVAL, custody_client_set_consent(c, t));
        ASSERT_EQ(CUSTODY_ERRSRC_ARGUMENT, custody_client_last_error_source(c));
    }
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, NULL, &res));
    ASSERT_STR_EQ("ticket 42: ok by alice", hdr(&g_fake.last, "X-Custody-Consent"));
    big[CUSTODY_CONSENT_MAX] = '\0';
    ASSERT_OK(custody_client_set_consent(c, big));
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, NULL, &res));
    ASSERT_STR_CONTAINS(g_fake.last.headers, big); /* all 512 bytes (hdr() keeps 511) */
    /* NULL or "" stops sending it */
    ASSERT_OK(custody_client_set_consent(c, ""));
    ASSERT_OK(custody_put_buf(c, "demo:/a.txt", "x", 1, NULL, &res));
    ASSERT_NULL(hdr(&g_fake.last, "X-Custody-Consent"));
    ASSERT_EQ(CUSTODY_EINVAL, custody_client_set_consent(NULL, "x"));
    custody_client_close(c);
}
