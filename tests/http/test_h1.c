#include "test.h"
#include "http/h1.h"

static int parse(const char *s, struct h1_head *h, struct http_header *hdrs, size_t maxh)
{
    return h1_parse_head(s, strlen(s), h, hdrs, maxh, 8192);
}

TEST(h1_parse_simple_get)
{
    struct h1_head h;
    struct http_header hd[8];
    const char *req = "GET /v1/fs/demo/a.txt?x=1 HTTP/1.1\r\nHost: localhost\r\n"
                      "Range:  bytes=0-9 \r\n\r\n";
    ASSERT_OK(parse(req, &h, hd, 8));
    ASSERT_EQ(11, h.version);
    ASSERT_EQ(3, h.method_len);
    ASSERT(memcmp(h.method, "GET", 3) == 0);
    ASSERT_EQ(strlen("/v1/fs/demo/a.txt?x=1"), h.target_len);
    ASSERT_EQ(2, h.nheaders);
    const struct http_header *r = h1_find_header(hd, h.nheaders, "RANGE");
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(9, r->value_len); /* surrounding whitespace trimmed */
    ASSERT(memcmp(r->value, "bytes=0-9", 9) == 0);
}

TEST(h1_parse_rejects_malformed)
{
    struct h1_head h;
    struct http_header hd[8];
    const char *bad[] = {
        "GET  /a HTTP/1.1\r\nHost: x\r\n\r\n",         /* double space */
        "GET /a HTTP/2.0\r\nHost: x\r\n\r\n",          /* wrong version */
        "GET /a HTTP/1.1\r\nHost : x\r\n\r\n",         /* space before colon */
        "GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", /* obs-fold */
        "GET /a HTTP/1.1\r\nHo\x01st: x\r\n\r\n",      /* control char in name */
        "GET /a HTTP/1.1\r\nHost: x\ry\r\n\r\n",       /* bare CR in value */
        "GET /a HTTP/1.1\nHost: x\r\n\r\n",            /* bare LF */
        "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",      /* DEL in target */
        " GET /a HTTP/1.1\r\n\r\n",                    /* leading space */
        "GET /a HTTP/1.1\r\n: novalue\r\n\r\n",        /* empty name */
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &h, hd, 8);
        if (rc != CUSTODY_EPROTO)
            TEST_FAIL_("case %zu: expected EPROTO, got %d", i, rc);
    }
}

TEST(h1_parse_limits)
{
    struct h1_head h;
    struct http_header hd[2];
    ASSERT_EQ(CUSTODY_EHEADERS,
              parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &h, hd, 2));
    char big[300];
    memset(big, 'a', sizeof big);
    big[0] = '/';
    char req[400];
    snprintf(req, sizeof req, "GET %.*s HTTP/1.1\r\n\r\n", (int)sizeof big, big);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, h1_parse_head(req, strlen(req), &h, hd, 2, 256));
}

TEST(h1_framing_smuggling)
{
    struct h1_head h;
    struct http_header hd[8];
    int64_t cl;
    bool chunked;
    ASSERT_OK(parse("PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &h, hd, 8));
    ASSERT_OK(h1_body_framing(&h, &cl, &chunked));
    ASSERT_EQ(5, cl);
    ASSERT(!chunked);
    ASSERT_OK(parse("PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h, hd, 8));
    ASSERT_OK(h1_body_framing(&h, &cl, &chunked));
    ASSERT(chunked);
    ASSERT_EQ(-1, cl);
    const char *bad[] = {
        "PUT /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "PUT /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "PUT /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "PUT /a HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n",
        "PUT /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "PUT /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "PUT /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_OK(parse(bad[i], &h, hd, 8));
        if (h1_body_framing(&h, &cl, &chunked) != CUSTODY_EPROTO)
            TEST_FAIL_("case %zu accepted", i);
    }
    /* identical duplicates are allowed */
    ASSERT_OK(parse("PUT /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h,
                    hd, 8));
    ASSERT_OK(h1_body_framing(&h, &cl, &chunked));
}

struct collect {
    char buf[256];
    size_t len;
};

static int collect_emit(void *arg, const char *data, size_t len)
{
    struct collect *c = arg;
    if (c->len + len > sizeof c->buf)
        return CUSTODY_ETOOBIG;
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return 0;
}

TEST(h1_chunked_decode_bytewise)
{
    const char *body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    /* feed one byte at a time: the decoder must be fully incremental */
    struct h1_chunked ch = {0};
    struct collect col = {0};
    bool done = false;
    size_t i = 0, n = strlen(body);
    while (i < n && !done) {
        ssize_t used = h1_chunked_feed(&ch, body + i, 1, collect_emit, &col, &done);
        ASSERT(used >= 0);
        i += (size_t)used;
        if (used == 0)
            break;
    }
    ASSERT(done);
    ASSERT_EQ(strlen(body) - 4, i); /* "NEXT" is not consumed */
    ASSERT_EQ(31, col.len);
    ASSERT(memcmp(col.buf, "helloabcdefghijklmnopqrstuvwxyz", 31) == 0);
}

TEST(h1_chunked_rejects)
{
    const char *bad[] = {"zz\r\n", "5\r\nhelloX", "5\nhello\r\n", "\r\n", "5\r\nhello\r\n0\r\nX\n",
                         "fffffffffffffffff\r\n"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct h1_chunked ch = {0};
        struct collect col = {0};
        bool done = false;
        ssize_t r = h1_chunked_feed(&ch, bad[k], strlen(bad[k]), collect_emit, &col, &done);
        if (r >= 0)
            TEST_FAIL_("case %zu accepted", k);
    }
    /* a chunk-size line longer than the limit */
    char line[H1_CHUNK_LINE_MAX + 10];
    memset(line, 'a', sizeof line);
    line[0] = '1';
    line[1] = ';';
    struct h1_chunked ch = {0};
    struct collect col = {0};
    bool done = false;
    ASSERT(h1_chunked_feed(&ch, line, sizeof line, collect_emit, &col, &done) < 0);
}
