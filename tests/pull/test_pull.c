/* test_pull.c — src/pull: source URL parsing and its refusals, object URLs, AWS SigV4 against
 * the AWS documentation's published examples, range planning, the resume state's strict
 * parser, and pull_file end to end against a small HTTP origin run in a thread here (ranges,
 * a 200 for a whole small file, a 200 for a partial range, wrong bytes, 404, 403 with an S3
 * error body, 503 retried, resume with a true, a lying and a corrupt state). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pull/pull.h"
#include "test.h"

/* ---- source URLs ---- */

static int parse(const char *url, struct pull_source *s, char *err, size_t errlen)
{
    struct pull_source_opts o = {.no_env = true};
    return pull_source_parse(url, &o, s, err, errlen);
}

TEST(pull_url_http_forms)
{
    struct pull_source s;
    char err[256];
    ASSERT_OK(parse("http://127.0.0.1:8080/models/llama", &s, err, sizeof err));
    ASSERT_EQ(PULL_HTTP, s.scheme);
    ASSERT_STR_EQ("http://127.0.0.1:8080/models/llama/", s.base);
    ASSERT_OK(parse("https://example.com/m/", &s, err, sizeof err));
    ASSERT_EQ(PULL_HTTPS, s.scheme);
    ASSERT_STR_EQ("https://example.com/m/", s.base);
    ASSERT_OK(parse("http://example.com", &s, err, sizeof err));
    ASSERT_STR_EQ("http://example.com/", s.base);
    ASSERT_OK(parse("http://[::1]:9000/a%20b/", &s, err, sizeof err));
    ASSERT_STR_EQ("http://[::1]:9000/a%20b/", s.base);
}

TEST(pull_url_refusals)
{
    struct pull_source s;
    char err[256];
    ASSERT_EQ(CUSTODY_EINVAL, parse("ftp://example.com/m/", &s, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "only http://, https:// and s3://");
    ASSERT_EQ(CUSTODY_EINVAL, parse("file:///etc/passwd", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("HTTP://example.com/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://user:pw@example.com/m/", &s, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "user information");
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/m/?x=1", &s, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "query or fragment");
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/m#f", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/a b/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/a\n/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/a%zz/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com/a%2", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com:0/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com:65536/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://example.com:/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http:///m/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("http://[zz]/", &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, parse("", &s, err, sizeof err));
    char *big = util_calloc(1, PULL_URL_MAX + 32);
    memcpy(big, "http://example.com/", 19);
    memset(big + 19, 'a', PULL_URL_MAX);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, parse(big, &s, err, sizeof err));
    free(big);
    char host[300] = "http://";
    memset(host + 7, 'h', 260);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, parse(host, &s, err, sizeof err));
}

TEST(pull_url_s3)
{
    struct pull_source s;
    char err[256];
    struct pull_source_opts o = {.endpoint = "http://127.0.0.1:4568",
                                 .access_key = "AKID",
                                 .secret_key = "SECRET",
                                 .no_env = true};
    ASSERT_OK(pull_source_parse("s3://models/llama/7b", &o, &s, err, sizeof err));
    ASSERT_EQ(PULL_S3, s.scheme);
    ASSERT_STR_EQ("models", s.bucket);
    ASSERT_STR_EQ("llama/7b/", s.prefix);
    ASSERT_STR_EQ("127.0.0.1:4568", s.host);
    ASSERT_STR_EQ("us-east-1", s.region);
    ASSERT_STR_EQ("http://127.0.0.1:4568/models/", s.base);
    struct strbuf url = STRBUF_INIT, canon = STRBUF_INIT;
    ASSERT_OK(pull_object_url(&s, "model 1.safetensors", &url, &canon));
    ASSERT_STR_EQ("http://127.0.0.1:4568/models/llama/7b/model%201.safetensors", url.buf);
    ASSERT_STR_EQ("/models/llama/7b/model%201.safetensors", canon.buf);
    sb_free(&url);
    sb_free(&canon);
    pull_source_clear(&s);
    ASSERT_STR_EQ("", s.secret_key);

    ASSERT_OK(pull_source_parse("s3://models", &o, &s, err, sizeof err));
    ASSERT_STR_EQ("", s.prefix);
    o.region = "eu-west-3";
    o.endpoint = NULL;
    ASSERT_OK(pull_source_parse("s3://models/p/", &o, &s, err, sizeof err));
    ASSERT_STR_EQ("https://s3.eu-west-3.amazonaws.com/models/", s.base);
    ASSERT_STR_EQ("p/", s.prefix);

    o.endpoint = "http://127.0.0.1:4568";
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://Models/x", &o, &s, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "bucket");
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://ab/x", &o, &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://-abc/x", &o, &s, err, sizeof err));
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://a_bc/x", &o, &s, err, sizeof err));
    o.endpoint = "ftp://127.0.0.1";
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://models/x", &o, &s, err, sizeof err));
    o.endpoint = "http://127.0.0.1:4568/path";
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://models/x", &o, &s, err, sizeof err));
    o.endpoint = "http://127.0.0.1:4568";
    o.secret_key = NULL;
    ASSERT_EQ(CUSTODY_EINVAL, pull_source_parse("s3://models/x", &o, &s, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "without a secret");
    ASSERT(!strstr(err, "AKID"));
    o.access_key = NULL; /* anonymous */
    ASSERT_OK(pull_source_parse("s3://models/x", &o, &s, err, sizeof err));
    ASSERT_STR_EQ("", s.access_key);
    o.region = "EU WEST";
    ASSERT_NE(0, pull_source_parse("s3://models/x", &o, &s, err, sizeof err));
}

TEST(pull_url_s3_env)
{
    setenv("AWS_ENDPOINT_URL", "http://localhost:9999", 1);
    setenv("AWS_ACCESS_KEY_ID", "envkey", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    unsetenv("AWS_REGION");
    unsetenv("AWS_ENDPOINT_URL_S3");
    struct pull_source s;
    char err[256];
    ASSERT_OK(pull_source_parse("s3://bucket/x", NULL, &s, err, sizeof err));
    ASSERT_STR_EQ("localhost:9999", s.host);
    ASSERT_STR_EQ("envkey", s.access_key);
    ASSERT_STR_EQ("envsecret", s.secret_key);
    ASSERT_STR_EQ("tok", s.session_token);
    ASSERT_STR_EQ("ap-south-1", s.region);
    struct pull_source_opts o = {.endpoint = "http://127.0.0.1:1"};
    ASSERT_OK(pull_source_parse("s3://bucket/x", &o, &s, err, sizeof err));
    ASSERT_STR_EQ("127.0.0.1:1", s.host); /* options win */
    pull_source_clear(&s);
}

TEST(pull_object_url_encoding)
{
    struct pull_source s;
    char err[256];
    ASSERT_OK(parse("http://h/m", &s, err, sizeof err));
    struct strbuf url = STRBUF_INIT;
    ASSERT_OK(pull_object_url(&s, "a+b é~.st", &url, NULL));
    ASSERT_STR_EQ("http://h/m/a%2Bb%20%C3%A9~.st", url.buf);
    sb_reset(&url);
    ASSERT_EQ(CUSTODY_EINVAL, pull_object_url(&s, "../x", &url, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, pull_object_url(&s, "..", &url, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, pull_object_url(&s, "", &url, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, pull_object_url(&s, "a\nb", &url, NULL));
    sb_free(&url);
}

/* ---- SigV4: the AWS documentation's examples ---- */

/* Amazon S3 API reference, "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk", Example: GET Object (first 10 bytes of test.txt). */
TEST(pull_sigv4_s3_get_object_example)
{
    struct pull_sigv4_req r = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .canonical_uri = "/test.txt",
        .amz_date = "20130524T000000Z",
        .payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        .range = "bytes=0-9",
        .region = "us-east-1",
        .service = "s3",
        .access_key = "AKIAIOSFODNN7EXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    char sig[65];
    struct strbuf auth = STRBUF_INIT;
    ASSERT_OK(pull_sigv4_sign(&r, sig, &auth));
    ASSERT_STR_EQ("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", sig);
    ASSERT_STR_EQ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                  "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                  auth.buf);
    sb_free(&auth);
}

/* aws-sig-v4-test-suite: get-vanilla and get-vanilla-query-order-key-case. */
TEST(pull_sigv4_test_suite)
{
    struct pull_sigv4_req r = {
        .method = "GET",
        .host = "example.amazonaws.com",
        .canonical_uri = "/",
        .amz_date = "20150830T123600Z",
        .region = "us-east-1",
        .service = "service",
        .access_key = "AKIDEXAMPLE",
        .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };
    char sig[65];
    ASSERT_OK(pull_sigv4_sign(&r, sig, NULL));
    ASSERT_STR_EQ("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", sig);
    r.query = "Param2=value2&Param1=value1";
    ASSERT_OK(pull_sigv4_sign(&r, sig, NULL));
    ASSERT_STR_EQ("b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", sig);
    r.amz_date = "2015";
    ASSERT_EQ(CUSTODY_EINVAL, pull_sigv4_sign(&r, sig, NULL));
}

/* ---- range planning ---- */

TEST(pull_plan)
{
    ASSERT_EQ(0, pull_plan_chunks(0, 0, 8));
    ASSERT_EQ(1, pull_plan_chunks(1, 0, 8));
    ASSERT_EQ(1, pull_plan_chunks(8, 0, 8));
    ASSERT_EQ(2, pull_plan_chunks(9, 0, 8));
    ASSERT_EQ(1, pull_plan_chunks(9, 1, 8));
    ASSERT_EQ(0, pull_plan_chunks(9, 9, 8));
    ASSERT_EQ(0, pull_plan_chunks(9, 10, 8));
    ASSERT_EQ(0, pull_plan_chunks(9, 0, 0));
    uint64_t s, e;
    pull_plan_chunk(20, 3, 8, 0, &s, &e);
    ASSERT_EQ(3, s);
    ASSERT_EQ(11, e);
    pull_plan_chunk(20, 3, 8, 2, &s, &e);
    ASSERT_EQ(19, s);
    ASSERT_EQ(20, e);
    /* the chunks tile [from, size) exactly */
    uint64_t size = 1000003, from = 777, chunk = 4096, n = pull_plan_chunks(size, from, chunk),
             at = from;
    for (uint64_t i = 0; i < n; i++) {
        pull_plan_chunk(size, from, chunk, i, &s, &e);
        ASSERT_EQ(at, s);
        ASSERT(e > s && e - s <= chunk);
        at = e;
    }
    ASSERT_EQ(size, at);
    /* near 2^53 */
    uint64_t big = 9007199254740991ull;
    ASSERT_EQ(1, pull_plan_chunks(big, big - 5, 1u << 20));
    pull_plan_chunk(big, big - 5, 1u << 20, 0, &s, &e);
    ASSERT_EQ(big, e);
}

/* ---- resume state ---- */

static const char *good_state = "custody-pull-state 1\nsize 100\nsha256 "
                                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
                                "\ndone 40\nprefix-sha256 "
                                "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
                                "\n";

TEST(pull_state_roundtrip)
{
    struct pull_state st;
    ASSERT_OK(pull_state_parse(good_state, strlen(good_state), &st));
    ASSERT_EQ(100, st.size);
    ASSERT_EQ(40, st.done);
    ASSERT_EQ(0x11, st.sha256[1]);
    ASSERT_EQ(0xee, st.prefix_sha256[1]);
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(pull_state_format(&st, &b));
    ASSERT_STR_EQ(good_state, b.buf);
    sb_free(&b);
}

static void state_bad(const char *from, const char *to)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = strstr(good_state, from);
    ASSERT_NOT_NULL(p);
    ASSERT_OK(sb_append(&b, good_state, (size_t)(p - good_state)));
    ASSERT_OK(sb_puts(&b, to));
    ASSERT_OK(sb_puts(&b, p + strlen(from)));
    struct pull_state st;
    if (pull_state_parse(b.buf, b.len, &st) != CUSTODY_EINVAL) TEST_FAIL_("accepted: %s", b.buf);
    ASSERT_EQ(0, st.done); /* nothing of a refused state is kept */
    sb_free(&b);
}

TEST(pull_state_corrupt_refused)
{
    state_bad("custody-pull-state 1", "custody-pull-state 2");
    state_bad("done 40", "done 101");
    state_bad("done 40", "done 040");
    state_bad("done 40", "done -4");
    state_bad("done 40", "done 4 0");
    state_bad("done 40", "done 99999999999999999999999");
    state_bad("size 100", "size 9007199254740992");
    state_bad("sha256 00", "sha256 0");
    state_bad("sha256 00112233445566778899aa", "sha256 00112233445566778899AA");
    state_bad("prefix-sha256 ff", "prefix-sha256 fg");
    state_bad("\ndone", "\ndone  ");
    state_bad("1100\n", "1100\nextra\n");
    state_bad("1100\n", "1100");
    state_bad("size 100\n", "");
    state_bad("size", "Size");
    struct pull_state st;
    ASSERT_EQ(CUSTODY_EINVAL, pull_state_parse("", 0, &st));
    ASSERT_EQ(CUSTODY_EINVAL, pull_state_parse(good_state, 10, &st));
    char big[PULL_STATE_MAX + 10];
    memset(big, 'x', sizeof big);
    ASSERT_EQ(CUSTODY_EINVAL, pull_state_parse(big, sizeof big, &st));
}

/* ---- a small origin in a thread ---- */

struct origin {
    int lfd;
    uint16_t port;
    const uint8_t *data;
    size_t len;
    const char *path;     /* served path, e.g. "/m/f.bin" */
    bool ignore_range;    /* answer 200 with everything */
    int status;           /* answer this status (404, 403) instead, when non-zero */
    atomic_int fail_next; /* answer 503 to this many requests first */
    atomic_ullong served; /* body bytes sent */
    atomic_int requests;
    uint64_t delay_after; /* sleep 50 ms per 64 KiB sent past this offset (0: never) */
    /* the threads, so that origin_stop can end them: nothing outlives the fixture */
    pthread_t acceptor;
    pthread_mutex_t mu;
    int nconns;
    struct {
        pthread_t t;
        int fd;
    } conns[64];
};

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

struct conn {
    struct origin *o;
    int fd;
};

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct origin *o = c->o;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        char *eoh = NULL;
        while (!(eoh = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf) goto out;
            ssize_t r = recv(c->fd, buf + have, sizeof buf - have, 0);
            if (r <= 0) goto out;
            have += (size_t)r;
        }
        size_t hl = (size_t)(eoh + 4 - buf);
        char req[8192];
        memcpy(req, buf, hl);
        req[hl] = 0;
        memmove(buf, buf + hl, have - hl);
        have -= hl;
        atomic_fetch_add(&o->requests, 1);
        char hdr[512];
        if (atomic_load(&o->fail_next) > 0) {
            atomic_fetch_sub(&o->fail_next, 1);
            int n = snprintf(hdr, sizeof hdr,
                             "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            send_all(c->fd, hdr, (size_t)n);
            continue;
        }
        char path[1024] = "";
        sscanf(req, "GET %1023s", path);
        if (o->status || strcmp(path, o->path) != 0) {
            int st = o->status ? o->status : 404;
            const char *body = st == 403 ? "<?xml version=\"1.0\"?><Error><Code>"
                                           "SignatureDoesNotMatch</Code></Error>"
                                         : "not here";
            int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s", st,
                             strlen(body), body);
            send_all(c->fd, hdr, (size_t)n);
            continue;
        }
        uint64_t a = 0, b = o->len ? o->len - 1 : 0;
        bool ranged = false;
        const char *rg = strcasestr(req, "\r\nRange: bytes=");
        if (rg && !o->ignore_range) {
            unsigned long long x, y;
            if (sscanf(rg + 15, "%llu-%llu", &x, &y) == 2 && x <= y && y < o->len) {
                a = x, b = y;
                ranged = true;
            }
        }
        size_t n = o->len ? (size_t)(b - a + 1) : 0;
        int hn =
            ranged ? snprintf(hdr, sizeof hdr,
                              "HTTP/1.1 206 Partial\r\nContent-Length: %zu\r\nContent-Range: "
                              "bytes %llu-%llu/%zu\r\n\r\n",
                              n, (unsigned long long)a, (unsigned long long)b, o->len)
                   : snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        send_all(c->fd, hdr, (size_t)hn);
        for (size_t off = 0; off < n; off += 65536) {
            size_t k = UTIL_MIN((size_t)65536, n - off);
            if (o->delay_after && a + off >= o->delay_after) usleep(50000);
            if (!send_all(c->fd, o->data + a + off, k)) goto out;
            atomic_fetch_add(&o->served, k);
        }
    }
out:
    close(c->fd);
    free(c);
    return NULL;
}

static void *origin_main(void *arg)
{
    struct origin *o = arg;
    for (;;) {
        int fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) return NULL; /* origin_stop shut the listener down */
        pthread_mutex_lock(&o->mu);
        if (o->nconns == (int)UTIL_ARRAY_LEN(o->conns)) {
            pthread_mutex_unlock(&o->mu);
            close(fd);
            continue;
        }
        struct conn *c = util_calloc(1, sizeof *c);
        c->o = o;
        c->fd = fd;
        o->conns[o->nconns].fd = fd;
        ASSERT_OK(pthread_create(&o->conns[o->nconns].t, NULL, conn_main, c));
        o->nconns++;
        pthread_mutex_unlock(&o->mu);
    }
}

static void origin_start(struct origin *o)
{
    o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(o->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_OK(bind(o->lfd, (struct sockaddr *)&sa, sizeof sa));
    ASSERT_OK(listen(o->lfd, 64));
    socklen_t sl = sizeof sa;
    ASSERT_OK(getsockname(o->lfd, (struct sockaddr *)&sa, &sl));
    o->port = ntohs(sa.sin_port);
    ASSERT_OK(pthread_mutex_init(&o->mu, NULL));
    ASSERT_OK(pthread_create(&o->acceptor, NULL, origin_main, o));
}

/* Ends every thread of the origin. A connection thread still answering a request of an
 * earlier pull would otherwise read the next fixture's settings (fixtures live at the same
 * address) and, say, spend one of its 503s on a request nobody waits for. */
static void origin_stop(struct origin *o)
{
    shutdown(o->lfd, SHUT_RDWR); /* wakes accept */
    ASSERT_OK(pthread_join(o->acceptor, NULL));
    close(o->lfd);
    for (int i = 0; i < o->nconns; i++) {
        shutdown(o->conns[i].fd, SHUT_RDWR); /* the thread closes it */
        ASSERT_OK(pthread_join(o->conns[i].t, NULL));
    }
    o->nconns = 0;
    pthread_mutex_destroy(&o->mu);
}

struct fixture {
    struct origin o;
    uint8_t *data;
    struct pull_source src;
    struct pull_file f;
    int dirfd;
    const char *dir;
};

static void fixture_init(struct fixture *fx, size_t len)
{
    memset(fx, 0, sizeof *fx);
    fx->data = util_calloc(1, len ? len : 1);
    for (size_t i = 0; i < len; i++)
        fx->data[i] = (uint8_t)(i * 2654435761u >> 13);
    fx->o.data = fx->data;
    fx->o.len = len;
    fx->o.path = "/m/f.bin";
    origin_start(&fx->o);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/m/", fx->o.port);
    ASSERT_OK(parse(url, &fx->src, err, sizeof err));
    fx->f.name = "f.bin";
    fx->f.size = len;
    util_sha256(fx->data, len, fx->f.sha256);
    fx->dir = test_tmpdir();
    fx->dirfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT(fx->dirfd >= 0);
}

static void fixture_free(struct fixture *fx)
{
    origin_stop(&fx->o);
    fx->o.len = 0;
    free(fx->data);
    fx->data = NULL;
    close(fx->dirfd);
    pull_source_clear(&fx->src);
}

static bool exists(struct fixture *fx, const char *name)
{
    struct stat sb;
    return fstatat(fx->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static void check_result(struct fixture *fx)
{
    char *p = util_path_join(fx->dir, "f.bin"), *got = NULL;
    size_t n = 0;
    ASSERT_OK(util_read_file(p, fx->o.len + 1, &got, &n));
    ASSERT_EQ(fx->o.len, n);
    ASSERT_MEM_EQ(fx->data, got, n);
    free(got);
    free(p);
    ASSERT(!exists(fx, "f.bin.partial"));
    ASSERT(!exists(fx, "f.bin.partial.state"));
}

struct progress_seen {
    uint64_t last, total;
    int calls;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    struct progress_seen *p = arg;
    ASSERT(done >= p->last);
    p->last = done;
    p->total = total;
    p->calls++;
}

TEST(pull_file_ranges)
{
    struct fixture fx;
    fixture_init(&fx, 3 * 65536 * 5 + 123);
    struct progress_seen ps = {0};
    struct pull_opts po = {
        .streams = 4, .chunk = 65536, .progress = on_progress, .progress_arg = &ps};
    struct pull_stats st;
    char err[512];
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    check_result(&fx);
    ASSERT_EQ(16, st.requests);
    ASSERT_EQ(fx.o.len, st.fetched);
    ASSERT_EQ(fx.o.len, atomic_load(&fx.o.served));
    ASSERT_EQ(fx.o.len, ps.last);
    ASSERT_EQ(fx.o.len, ps.total);
    struct stat sb;
    ASSERT_OK(fstatat(fx.dirfd, "f.bin", &sb, 0));
    ASSERT_EQ(0644, sb.st_mode & 07777);
    fixture_free(&fx);
}

TEST(pull_file_empty_and_small_200)
{
    struct fixture fx;
    fixture_init(&fx, 0);
    struct pull_opts po = {.streams = 4, .chunk = 65536};
    char err[512];
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    check_result(&fx);

    struct fixture fy;
    fixture_init(&fy, 1000);
    fy.o.ignore_range = true; /* a 200 for a whole small file is fine */
    ASSERT_OK(pull_file(&fy.src, &fy.f, fy.dirfd, &po, NULL, err, sizeof err));
    check_result(&fy);
    fixture_free(&fx);
    fixture_free(&fy);
}

TEST(pull_file_200_for_a_range_refused)
{
    struct fixture fx;
    fixture_init(&fx, 300000);
    fx.o.ignore_range = true;
    struct pull_opts po = {.streams = 2, .chunk = 65536};
    char err[512];
    ASSERT_EQ(CUSTODY_EUNSUPPORTED,
              pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "ignored the byte range");
    ASSERT(!exists(&fx, "f.bin"));
    fixture_free(&fx);
}

TEST(pull_file_wrong_bytes)
{
    struct fixture fx;
    fixture_init(&fx, 500000);
    fx.f.sha256[0] ^= 1; /* the manifest says otherwise */
    struct pull_opts po = {.streams = 3, .chunk = 65536};
    char err[512];
    ASSERT_EQ(CUSTODY_ECORRUPT, pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "'f.bin': SHA-256 mismatch");
    char want[65], got[65];
    util_hex_encode(fx.f.sha256, 32, want);
    uint8_t real[32];
    util_sha256(fx.data, fx.o.len, real);
    util_hex_encode(real, 32, got);
    ASSERT_STR_CONTAINS(err, want);
    ASSERT_STR_CONTAINS(err, got);
    ASSERT(!exists(&fx, "f.bin"));
    ASSERT(!exists(&fx, "f.bin.partial"));
    ASSERT(!exists(&fx, "f.bin.partial.state"));

    /* the origin holds more bytes than the manifest says */
    fixture_free(&fx);
    fixture_init(&fx, 500000);
    fx.f.size = 400000;
    ASSERT_EQ(CUSTODY_ECORRUPT, pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "the origin has 500000 bytes, the manifest says 400000");
    ASSERT(!exists(&fx, "f.bin.partial"));
    fixture_free(&fx);
}

TEST(pull_file_http_errors)
{
    struct fixture fx;
    fixture_init(&fx, 100000);
    struct pull_opts po = {.streams = 2, .chunk = 65536, .backoff_ms = 1};
    char err[512];
    fx.f.name = "missing.bin";
    ASSERT_EQ(CUSTODY_ENOENT, pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "not found at the origin (HTTP 404");
    ASSERT(!exists(&fx, "missing.bin.partial"));
    fx.f.name = "f.bin";
    fx.o.status = 403;
    ASSERT_EQ(CUSTODY_EPERM, pull_file(&fx.src, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "access denied (HTTP 403, SignatureDoesNotMatch");
    /* 503s are retried (a fresh origin: the one above may still have had a request of the
     * refused pull to answer) */
    fixture_free(&fx);
    fixture_init(&fx, 100000);
    atomic_store(&fx.o.fail_next, 3);
    struct pull_stats st;
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    /* every 503 was served to this pull, and each was one retry */
    ASSERT_EQ(0, atomic_load(&fx.o.fail_next));
    ASSERT_EQ(3u, st.retries);
    check_result(&fx);

    /* ... up to a limit */
    ASSERT_OK(unlinkat(fx.dirfd, "f.bin", 0));
    atomic_store(&fx.o.fail_next, 1000);
    po.retries = 2;
    ASSERT_EQ(CUSTODY_EIO, pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "HTTP 503");
    ASSERT_STR_CONTAINS(err, "giving up after 3 attempts");
    ASSERT(!exists(&fx, "f.bin"));

    /* nobody listening */
    atomic_store(&fx.o.fail_next, 0);
    struct pull_source dead;
    ASSERT_OK(parse("http://127.0.0.1:1/m/", &dead, err, sizeof err));
    ASSERT_EQ(CUSTODY_EIO, pull_file(&dead, &fx.f, fx.dirfd, &po, NULL, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "giving up");
    fixture_free(&fx);
}

static void write_at(int dirfd, const char *name, const char *text)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, text, strlen(text)));
    close(fd);
}

/* A partial file holding the first `done` bytes (then junk), and a state claiming `claim`
 * with the digest of the first `digest_of` bytes. */
static void make_partial(struct fixture *fx, uint64_t done, uint64_t claim, uint64_t digest_of)
{
    int fd = openat(fx->dirfd, "f.bin.partial", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, fx->data, done));
    uint8_t *junk = util_calloc(1, fx->o.len - done + 1);
    memset(junk, 0xee, fx->o.len - done);
    ASSERT_OK(util_write_all(fd, junk, fx->o.len - done));
    free(junk);
    close(fd);
    struct pull_state st = {.size = fx->f.size, .done = claim};
    memcpy(st.sha256, fx->f.sha256, 32);
    util_sha256(fx->data, digest_of, st.prefix_sha256);
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(pull_state_format(&st, &b));
    write_at(fx->dirfd, "f.bin.partial.state", b.buf);
    sb_free(&b);
}

TEST(pull_file_resume)
{
    struct fixture fx;
    fixture_init(&fx, 1000000);
    struct pull_opts po = {.streams = 4, .chunk = 65536};
    struct pull_stats st;
    char err[512];
    /* a true state: only the rest is fetched */
    make_partial(&fx, 300000, 300000, 300000);
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_EQ(300000, st.resumed);
    ASSERT_EQ(700000, st.fetched);
    ASSERT_EQ(700000, atomic_load(&fx.o.served));
    check_result(&fx);

    /* a lying state (claims more than the digest covers): everything is fetched again */
    ASSERT_OK(unlinkat(fx.dirfd, "f.bin", 0));
    atomic_store(&fx.o.served, 0);
    make_partial(&fx, 300000, 600000, 300000);
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_EQ(0, st.resumed);
    ASSERT_EQ(1000000, atomic_load(&fx.o.served));
    check_result(&fx);

    /* a state whose digest matches but whose bytes on disk do not */
    ASSERT_OK(unlinkat(fx.dirfd, "f.bin", 0));
    atomic_store(&fx.o.served, 0);
    make_partial(&fx, 100000, 300000, 300000);
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_EQ(0, st.resumed);
    check_result(&fx);

    /* a corrupt state file: ignored */
    ASSERT_OK(unlinkat(fx.dirfd, "f.bin", 0));
    make_partial(&fx, 300000, 300000, 300000);
    write_at(fx.dirfd, "f.bin.partial.state", "custody-pull-state 1\nsize 1000000\ngarbage\n");
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_EQ(0, st.resumed);
    check_result(&fx);

    /* a state for another version of the file (other final digest): ignored */
    ASSERT_OK(unlinkat(fx.dirfd, "f.bin", 0));
    make_partial(&fx, 300000, 300000, 300000);
    struct pull_state other = {.size = fx.f.size, .done = 300000};
    memcpy(other.sha256, fx.f.sha256, 32);
    other.sha256[5] ^= 1;
    util_sha256(fx.data, 300000, other.prefix_sha256);
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(pull_state_format(&other, &b));
    write_at(fx.dirfd, "f.bin.partial.state", b.buf);
    sb_free(&b);
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_EQ(0, st.resumed);
    check_result(&fx);
    fixture_free(&fx);
}

static volatile int cancel_flag;

static void cancel_at_half(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    if (done >= total / 2) cancel_flag = 1;
}

TEST(pull_file_interrupted_then_resumed)
{
    struct fixture fx;
    fixture_init(&fx, 4 << 20);
    fx.o.delay_after = 1 << 20; /* slow after the first MiB */
    cancel_flag = 0;
    struct pull_opts po = {.streams = 2,
                           .chunk = 256 << 10,
                           .state_ms = 50,
                           .progress = cancel_at_half,
                           .cancel = &cancel_flag};
    struct pull_stats st;
    char err[512];
    ASSERT_EQ(CUSTODY_EAGAIN, pull_file(&fx.src, &fx.f, fx.dirfd, &po, &st, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "interrupted");
    ASSERT(exists(&fx, "f.bin.partial"));
    ASSERT(exists(&fx, "f.bin.partial.state"));
    ASSERT(!exists(&fx, "f.bin"));
    fx.o.delay_after = 0;
    atomic_store(&fx.o.served, 0);
    struct pull_opts po2 = {.streams = 2, .chunk = 256 << 10};
    ASSERT_OK(pull_file(&fx.src, &fx.f, fx.dirfd, &po2, &st, err, sizeof err));
    ASSERT_GT(st.resumed, 0);
    ASSERT_EQ(fx.o.len - st.resumed, st.fetched);
    ASSERT_EQ(fx.o.len - st.resumed, atomic_load(&fx.o.served));
    check_result(&fx);
    fixture_free(&fx);
}

TEST(pull_fetch_small_cap)
{
    struct fixture fx;
    fixture_init(&fx, 5000);
    fx.o.path = "/m/manifest.dsse.json";
    char *out = NULL, err[512];
    size_t len = 0;
    ASSERT_OK(
        pull_fetch_small(&fx.src, "manifest.dsse.json", 5000, NULL, &out, &len, err, sizeof err));
    ASSERT_EQ(5000, len);
    ASSERT_MEM_EQ(fx.data, out, len);
    free(out);
    ASSERT_EQ(CUSTODY_ETOOBIG, pull_fetch_small(&fx.src, "manifest.dsse.json", 4999, NULL, &out,
                                                &len, err, sizeof err));
    ASSERT_NULL(out);
    ASSERT_EQ(CUSTODY_ENOENT,
              pull_fetch_small(&fx.src, "nope.json", 4999, NULL, &out, &len, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "'nope.json': not found at the origin");
    fixture_free(&fx);
}

TEST(pull_progress_bar)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ASSERT_NOT_NULL(f);
    struct pull_bar b;
    pull_bar_init(&b, f, true, "m", 1 << 30);
    pull_bar_update(&b, 1 << 29);
    pull_bar_finish(&b, 1 << 30);
    fclose(f);
    ASSERT_STR_CONTAINS(buf, "\rm [###############...............]  50.0% 512 MiB / 1.00 GiB");
    ASSERT_STR_CONTAINS(buf, "100.0% 1.00 GiB / 1.00 GiB");
    ASSERT_STR_CONTAINS(buf, "/s  in ");
    free(buf);
    char s[16];
    pull_fmt_bytes(1536, s, sizeof s);
    ASSERT_STR_EQ("1.50 KiB", s);
    pull_fmt_bytes(10, s, sizeof s);
    ASSERT_STR_EQ("10 B", s);
}
