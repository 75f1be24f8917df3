/* test_client_parse.c — libcustody's pure parts: resource ids, URL encoding,
 * ranges, labels, ETags, and decoding custodyd's JSON answers. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

static void check_parse(const char *id, const char *root, const char *path)
{
    char *r = NULL, *p = NULL;
    ASSERT_OK(custody_resource_parse(id, &r, &p));
    ASSERT_STR_EQ(root, r);
    ASSERT_STR_EQ(path, p);
    free(r);
    free(p);
}

static void check_parse_bad(const char *id)
{
    char *r = NULL, *p = NULL;
    ASSERT_EQ(CUSTODY_EINVAL, custody_resource_parse(id, &r, &p));
    ASSERT_NULL(r);
    ASSERT_NULL(p);
}

TEST(client_resource_parse)
{
    check_parse("demo:/a.txt", "demo", "/a.txt");
    check_parse("demo:/", "demo", "/");
    check_parse("demo:", "demo", "/");
    check_parse("demo:a.txt", "demo", "/a.txt");
    check_parse("demo://x//y/", "demo", "/x/y");
    check_parse("my_root-2:/notes/a b.txt", "my_root-2", "/notes/a b.txt");
    check_parse("demo:/a:b", "demo", "/a:b");
    check_parse("demo:/../x", "demo", "/../x"); /* custodyd decides about .. */
    check_parse_bad("demo");
    check_parse_bad(":/x");
    check_parse_bad("-demo:/x");
    check_parse_bad("_demo:/x");
    check_parse_bad("de mo:/x");
    check_parse_bad("de/mo:/x");
    check_parse_bad("d\xc3\xa9mo:/x");
    check_parse_bad("/abs/path");
    char longname[80];
    memset(longname, 'a', 65);
    memcpy(longname + 65, ":/x", 4);
    check_parse_bad(longname);
    longname[64] = ':';
    longname[65] = '\0';
    check_parse(longname, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/");
}

static void check_url(const char *prefix, const char *id, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(custody__resource_url(&sb, prefix, id));
    ASSERT_STR_EQ(want, sb.buf);
    sb_free(&sb);
}

TEST(client_url_encoding)
{
    check_url("/v1/fs/", "demo:/notes/a b.txt", "/v1/fs/demo/notes/a%20b.txt");
    check_url("/v1/fs/", "demo:", "/v1/fs/demo/");
    check_url("/v1/fs/", "demo:/", "/v1/fs/demo/");
    check_url("/v1/versions/", "demo:/a.txt", "/v1/versions/demo/a.txt");
    check_url("/v1/fs/", "demo:/AZaz09-._~", "/v1/fs/demo/AZaz09-._~");
    check_url("/v1/fs/", "demo:/q?x=1#f%", "/v1/fs/demo/q%3Fx%3D1%23f%25");
    check_url("/v1/fs/", "demo:/caf\xc3\xa9", "/v1/fs/demo/caf%C3%A9");
    check_url("/v1/fs/", "demo:/a+b&c;d", "/v1/fs/demo/a%2Bb%26c%3Bd");
    check_url("/v1/fs/", "demo:/a/./b/../c", "/v1/fs/demo/a/%2E/b/%2E%2E/c");
    check_url("/v1/fs/", "demo:/..", "/v1/fs/demo/%2E%2E");
    check_url("/v1/fs/", "demo:/...", "/v1/fs/demo/...");
    check_url("/v1/fs/", "demo:/.hidden", "/v1/fs/demo/.hidden");
    check_url("/v1/fs/", "demo:/a\\b\"c", "/v1/fs/demo/a%5Cb%22c");

    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(custody__url_encode(&sb, "a/b c", 5));
    ASSERT_STR_EQ("a%2Fb%20c", sb.buf);
    sb_reset(&sb);
    ASSERT_OK(custody__url_encode(&sb, "\x01\x7f\xff", 3));
    ASSERT_STR_EQ("%01%7F%FF", sb.buf);
    sb_free(&sb);
    ASSERT_EQ(CUSTODY_EINVAL, custody__resource_url(&sb, "/v1/fs/", "nope"));
    sb_free(&sb);
}

TEST(client_range_parse)
{
    custody_range_t r;
    char buf[64];
    ASSERT_OK(custody_range_parse("0-99", &r));
    ASSERT_EQ(0, r.first);
    ASSERT_EQ(99, r.last);
    ASSERT_OK(custody__range_format(&r, buf, sizeof buf));
    ASSERT_STR_EQ("0-99", buf);
    ASSERT_OK(custody_range_parse("5-5", &r));
    ASSERT_EQ(5, r.first);
    ASSERT_EQ(5, r.last);
    ASSERT_OK(custody_range_parse("100-", &r));
    ASSERT_EQ(100, r.first);
    ASSERT_EQ(-1, r.last);
    ASSERT_OK(custody__range_format(&r, buf, sizeof buf));
    ASSERT_STR_EQ("100-", buf);
    ASSERT_OK(custody_range_parse("-5", &r));
    ASSERT_EQ(-1, r.first);
    ASSERT_EQ(5, r.last);
    ASSERT_OK(custody__range_format(&r, buf, sizeof buf));
    ASSERT_STR_EQ("-5", buf);
    ASSERT_OK(custody_range_parse("bytes=1-2", &r));
    ASSERT_EQ(1, r.first);
    ASSERT_EQ(2, r.last);
    ASSERT_OK(custody_range_parse("9223372036854775807-", &r));
    ASSERT(r.first == INT64_MAX);

    const char *bad[] = {"",      "-",    "--",   "5-3",   "a-b", "-0",     "1-2-3",
                         "1 -2",  "+1-2", "1-+2", "0x1-2", "12",  "bytes=", "9223372036854775808-",
                         "1,2-3", " 1-2", "1-2 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (custody_range_parse(bad[i], &r) != CUSTODY_EINVAL)
            TEST_FAIL_("range '%s' accepted", bad[i]);
    }
    custody_range_t inv = {7, 3};
    ASSERT_EQ(CUSTODY_EINVAL, custody__range_format(&inv, buf, sizeof buf));
    custody_range_t inv2 = {-1, 0};
    ASSERT_EQ(CUSTODY_EINVAL, custody__range_format(&inv2, buf, sizeof buf));
}

TEST(client_content_range_parse)
{
    uint64_t a, b, t;
    ASSERT_OK(custody__content_range_parse("bytes 0-4/12", &a, &b, &t));
    ASSERT_EQ(0, a);
    ASSERT_EQ(4, b);
    ASSERT_EQ(12, t);
    ASSERT_OK(custody__content_range_parse("bytes */12", &a, &b, &t));
    ASSERT_EQ(12, t);
    ASSERT(a == UINT64_MAX);
    ASSERT_OK(custody__content_range_parse("bytes 3-5/*", &a, &b, &t));
    ASSERT(t == UINT64_MAX);
    ASSERT_EQ(CUSTODY_EPROTO, custody__content_range_parse("bytes 5-3/12", &a, &b, &t));
    ASSERT_EQ(CUSTODY_EPROTO, custody__content_range_parse("items 0-4/12", &a, &b, &t));
    ASSERT_EQ(CUSTODY_EPROTO, custody__content_range_parse("bytes 0-4", &a, &b, &t));
    ASSERT_EQ(CUSTODY_EPROTO, custody__content_range_parse("bytes x-4/9", &a, &b, &t));
}

TEST(client_label_parse)
{
    custody_label_t l;
    ASSERT_OK(custody_label_parse("classification=phi", &l));
    ASSERT_STR_EQ("classification", l.key);
    ASSERT_STR_EQ("phi", l.value);
    custody_label_clear(&l);
    ASSERT_NULL(l.key);
    ASSERT_OK(custody_label_parse("a.b-c_d=x=y", &l));
    ASSERT_STR_EQ("a.b-c_d", l.key);
    ASSERT_STR_EQ("x=y", l.value);
    custody_label_clear(&l);
    ASSERT_OK(custody_label_parse("k=", &l));
    ASSERT_STR_EQ("", l.value);
    custody_label_clear(&l);
    ASSERT_OK(custody_label_parse("owner=J\xc3\xa9r\xc3\xb4me", &l));
    custody_label_clear(&l);

    const char *bad[] = {"", "k", "=v", "bad key=v", "k\xc3\xa9=v", "k/x=v", "k=\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (custody_label_parse(bad[i], &l) != CUSTODY_EINVAL)
            TEST_FAIL_("label '%s' accepted", bad[i]);
    }
    char big[400];
    memset(big, 'v', sizeof big);
    big[0] = 'k';
    big[1] = '=';
    big[2 + 256] = '\0';
    ASSERT_OK(custody_label_parse(big, &l));
    custody_label_clear(&l);
    big[2 + 256] = 'v';
    big[2 + 257] = '\0';
    ASSERT_EQ(CUSTODY_EINVAL, custody_label_parse(big, &l));
    char key[80];
    memset(key, 'k', 65);
    memcpy(key + 65, "=v", 3);
    ASSERT_EQ(CUSTODY_EINVAL, custody_label_parse(key, &l));
}

TEST(client_etags)
{
    const char *hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    char out[65];
    custody__etag_to_hex("\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
                         out);
    ASSERT_STR_EQ(hex, out);
    custody__etag_to_hex("W/\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"",
                         out);
    ASSERT_STR_EQ(hex, out);
    custody__etag_to_hex(hex, out);
    ASSERT_STR_EQ(hex, out);
    custody__etag_to_hex("\"abc\"", out);
    ASSERT_STR_EQ("", out);
    custody__etag_to_hex("\"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"",
                         out);
    ASSERT_STR_EQ("", out);
    custody__etag_to_hex(NULL, out);
    ASSERT_STR_EQ("", out);

    char *v = custody__if_match_value("*");
    ASSERT_STR_EQ("*", v);
    free(v);
    v = custody__if_match_value("abc");
    ASSERT_STR_EQ("\"abc\"", v);
    free(v);
    v = custody__if_match_value("\"abc\"");
    ASSERT_STR_EQ("\"abc\"", v);
    free(v);
}

TEST(client_decode_error)
{
    int err;
    char *msg;
    const char *body = "{\"error\": {\"code\": \"not_found\", \"message\": \"no such file or "
                       "directory: demo:/nope.txt\", \"status\": 404}}";
    custody__decode_error(body, strlen(body), 404, &err, &msg);
    ASSERT_EQ(CUSTODY_ENOENT, err);
    ASSERT_STR_EQ("no such file or directory: demo:/nope.txt", msg);
    free(msg);

    body = "{\"error\":{\"code\":\"unknown_root\",\"message\":\"no such root: x\"}}";
    custody__decode_error(body, strlen(body), 404, &err, &msg);
    ASSERT_EQ(CUSTODY_ENOROOT, err);
    free(msg);

    body = "{\"error\":{\"code\":\"precondition_failed\",\"message\":\"etag\"}}";
    custody__decode_error(body, strlen(body), 412, &err, &msg);
    ASSERT_EQ(CUSTODY_EPRECOND, err);
    free(msg);

    body = "{\"error\":{\"code\":\"internal_error\",\"message\":\"boom\"}}";
    custody__decode_error(body, strlen(body), 500, &err, &msg);
    ASSERT_EQ(CUSTODY_EINTERNAL, err);
    free(msg);

    /* a code from a newer server: the status decides */
    body = "{\"error\":{\"code\":\"brand_new\",\"message\":\"new thing\"}}";
    custody__decode_error(body, strlen(body), 409, &err, &msg);
    ASSERT_EQ(CUSTODY_EEXIST, err);
    ASSERT_STR_EQ("new thing", msg);
    free(msg);

    /* not JSON, empty, wrong shapes */
    custody__decode_error("<html>oops</html>", 17, 502, &err, &msg);
    ASSERT_EQ(CUSTODY_EINTERNAL, err);
    ASSERT_STR_CONTAINS(msg, "HTTP 502");
    free(msg);
    custody__decode_error(NULL, 0, 412, &err, &msg);
    ASSERT_EQ(CUSTODY_EPRECOND, err);
    ASSERT_STR_CONTAINS(msg, "precondition failed");
    free(msg);
    body = "{\"error\":\"not_found\"}";
    custody__decode_error(body, strlen(body), 416, &err, &msg);
    ASSERT_EQ(CUSTODY_ERANGE, err);
    free(msg);
    body = "{\"error\":{\"code\":7,\"message\":[1]}}";
    custody__decode_error(body, strlen(body), 507, &err, &msg);
    ASSERT_EQ(CUSTODY_ENOSPC, err);
    free(msg);
    body = "{\"error\":{\"code\":\"not_found\",\"message\":\"a\\u0000b\"}}";
    custody__decode_error(body, strlen(body), 404, &err, &msg);
    ASSERT_EQ(CUSTODY_ENOENT, err);
    ASSERT_STR_CONTAINS(msg, "HTTP 404"); /* embedded NUL refused */
    free(msg);
}

TEST(client_decode_listing)
{
    const char *body =
        "{\"resource\":\"demo:/docs\",\"entries\":["
        "{\"name\":\"a.txt\",\"type\":\"file\",\"size\":12,\"mtime\":\"2026-11-26T07:14:00."
        "000000000Z\"},"
        "{\"name\":\"sub\",\"type\":\"dir\",\"size\":4096,\"mtime\":\"2026-11-26T07:15:00Z\"},"
        "{\"name\":\"link\",\"type\":\"symlink\",\"size\":5,\"mtime\":\"x\"},"
        "{\"name\":\"fifo\",\"type\":\"weird\",\"size\":0}],"
        "\"truncated\":false}";
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int tr = -1;
    ASSERT_OK(custody__decode_listing(body, strlen(body), &d, &n, &tr));
    ASSERT_EQ(4, n);
    ASSERT_EQ(0, tr);
    ASSERT_STR_EQ("a.txt", d[0].name);
    ASSERT_EQ(CUSTODY_TYPE_FILE, d[0].type);
    ASSERT_EQ(12, d[0].size);
    ASSERT_STR_EQ("2026-11-26T07:14:00.000000000Z", d[0].mtime);
    ASSERT_EQ(CUSTODY_TYPE_DIR, d[1].type);
    ASSERT_EQ(CUSTODY_TYPE_SYMLINK, d[2].type);
    ASSERT_EQ(CUSTODY_TYPE_OTHER, d[3].type);
    ASSERT_STR_EQ("", d[3].mtime);
    /* members a custodyd that predates them leaves out */
    ASSERT_EQ(-1, d[0].mode);
    ASSERT_STR_EQ("", d[0].atime);
    ASSERT_STR_EQ("", d[0].btime);
    ASSERT_EQ(CUSTODY_TYPE_UNKNOWN, d[2].target_type);
    custody_dirents_free(d, n);

    body = "{\"resource\":\"demo:/\",\"entries\":["
           "{\"name\":\"a.txt\",\"type\":\"file\",\"size\":12,\"mtime\":\"m\","
           "\"mode\":\"0640\",\"atime\":\"2026-11-26T07:14:00.5Z\","
           "\"btime\":\"2026-11-25T07:14:00.000000000Z\"},"
           "{\"name\":\"in\",\"type\":\"symlink\",\"size\":5,\"mode\":\"0777\","
           "\"atime\":\"a\",\"target\":{\"type\":\"file\",\"size\":12}},"
           "{\"name\":\"out\",\"type\":\"symlink\",\"size\":17,\"mode\":\"1777\","
           "\"target\":null}],\"truncated\":false}";
    ASSERT_OK(custody__decode_listing(body, strlen(body), &d, &n, &tr));
    ASSERT_EQ(3, n);
    ASSERT_EQ(0640, d[0].mode);
    ASSERT_STR_EQ("2026-11-26T07:14:00.5Z", d[0].atime);
    ASSERT_STR_EQ("2026-11-25T07:14:00.000000000Z", d[0].btime);
    ASSERT_EQ(CUSTODY_TYPE_UNKNOWN, d[0].target_type);
    ASSERT_EQ(0777, d[1].mode);
    ASSERT_STR_EQ("", d[1].btime); /* no birth time recorded */
    ASSERT_EQ(CUSTODY_TYPE_FILE, d[1].target_type);
    ASSERT_EQ(12, d[1].target_size);
    ASSERT_EQ(01777, d[2].mode);
    ASSERT_EQ(CUSTODY_TYPE_UNKNOWN, d[2].target_type);
    custody_dirents_free(d, n);

    body = "{\"resource\":\"demo:/\",\"entries\":[],\"truncated\":true}";
    ASSERT_OK(custody__decode_listing(body, strlen(body), &d, &n, &tr));
    ASSERT_EQ(0, n);
    ASSERT_EQ(1, tr);
    custody_dirents_free(d, n);

    const char *bad[] = {
        "",
        "[]",
        "{\"entries\":{}}",
        "{\"entries\":[{\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"size\":-1}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"size\":\"1\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\"}, 7]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"mode\":420}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"mode\":\"0648\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"mode\":\"17777\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"symlink\",\"target\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"symlink\",\"target\":{\"type\":\"file\"}}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"symlink\",\"target\":{\"size\":1}}]}",
        "{\"entries\":[],\"truncated\":\"no\"}",
        "{\"entries\":[]",
        "{\"entries\":[],\"entries\":[]}",
        "hello world",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = NULL;
        if (custody__decode_listing(bad[i], strlen(bad[i]), &d, &n, &tr) != CUSTODY_EPROTO)
            TEST_FAIL_("listing '%s' accepted", bad[i]);
        ASSERT_NULL(d);
    }
}

/* Both listing readers on one body: the same answer, entry for entry. */
static void listing_agree(const char *body, size_t len)
{
    custody_dirent_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int ta = -1, tb = -1;
    int ra = custody__decode_listing(body, len, &a, &na, &ta);
    int rb = custody__decode_listing_ref(body, len, &b, &nb, &tb);
    if (ra != rb) TEST_FAIL_("readers disagree (%d vs jansson %d) on %.80s", ra, rb, body);
    if (!ra) {
        ASSERT_EQ(nb, na);
        ASSERT_EQ(tb, ta);
        for (size_t i = 0; i < na; i++) {
            ASSERT_STR_EQ(b[i].name, a[i].name);
            ASSERT_EQ(b[i].type, a[i].type);
            ASSERT_EQ(b[i].size, a[i].size);
            ASSERT_STR_EQ(b[i].mtime, a[i].mtime);
            ASSERT_STR_EQ(b[i].atime, a[i].atime);
            ASSERT_STR_EQ(b[i].btime, a[i].btime);
            ASSERT_EQ(b[i].mode, a[i].mode);
            ASSERT_EQ(b[i].target_type, a[i].target_type);
            ASSERT_EQ(b[i].target_size, a[i].target_size);
        }
        custody_dirents_free(a, na);
        custody_dirents_free(b, nb);
    }
}

TEST(client_decode_listing_one_pass_matches_jansson)
{
    static const char *const cases[] = {
        /* accepted */
        "{\"entries\":[]}",
        " \t\r\n{ \"entries\" : [ ] , \"truncated\" : true } \n",
        "{\"x\":{\"y\":[1,-0,2.5,1e3,-1E-2,true,false,null,\"s\",{}]},\"entries\":[{\"type\":"
        "\"file\",\"name\":\"a\",\"size\":9223372036854775807}]}",
        "{\"entries\":[{\"name\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\",\"type\":"
        "\"dir\",\"mtime\":7,\"atime\":null,\"btime\":[\"x\"],\"size\":-0}]}",
        "{\"entries\":[{\"n\\u0061me\":\"a\",\"type\":\"file\",\"target\":{\"size\":3,\"type\":"
        "\"symlink\",\"extra\":1}}]}",
        "{\"entries\":[{\"name\":\"caf\xc3\xa9\",\"type\":\"other\"}],\"resource\":\"r\"}",
        /* keys around the longest one kept (32 bytes), plain and escaped */
        "{\"entries\":[],\"a234567890123456789012345678901\":1,"
        "\"a2345678901234567890123456789012\":2,\"a23456789012345678901234567890123\":3,"
        "\"a234567890123456789012345678901234\":4,\"\\u0062234567890123456789012345678901234\":5}",
        /* refused by both */
        "{\"entries\":[],}",
        "{\"entries\":[1,]}",
        "{\"entries\":[]} x",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"size\":9223372036854775808}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"size\":1.0}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"size\":01}]}",
        "{\"entries\":[{\"name\":\"a\\u0000b\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\\ud800\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\\udc00\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\\ud800\\u0041\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\\x\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\tb\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"\xc3\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"\xed\xa0\x80\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"name\":\"b\",\"type\":\"file\"}]}",
        "{\"entries\":[{\"name\":\"a\",\"type\":\"file\",\"target\":{\"type\":1,\"type\":\"f\","
        "\"size\":1}}]}",
        "{\"entries\":[],\"truncated\":null}",
        "{\"entries\":[],\"truncated\":tru}",
        "{\"entries\":[],\"x\":-}",
        "{\"entries\":[],\"x\":1.}",
        "{\"entries\":[],\"x\":1e}",
        "{\"entries\":[],\"x\":.5}",
        "{\"entries\" [] }",
        "\xef\xbb\xbf{\"entries\":[]}",
        "{\"entries\":[]}{}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        listing_agree(cases[i], strlen(cases[i]));

    /* nesting in a member nobody reads, around jansson's limit of 2048 levels
     * (a scalar counts as one), empty and with a value inside */
    struct strbuf sb = STRBUF_INIT;
    for (int depth = 2045; depth <= 2050; depth++)
        for (int scalar = 0; scalar < 2; scalar++) {
            sb_reset(&sb);
            sb_puts(&sb, "{\"entries\":[],\"x\":");
            for (int k = 1; k < depth; k++) /* the top object is level 1 */
                sb_puts(&sb, "[");
            if (scalar) sb_puts(&sb, "0");
            for (int k = 1; k < depth; k++)
                sb_puts(&sb, "]");
            sb_puts(&sb, "}");
            listing_agree(sb.buf, sb.len);
        }
    sb_free(&sb);

    /* the documented differences, in members it does not use */
    const char *dup = "{\"entries\":[],\"x\":{\"k\":1,\"k\":2}}";
    const char *huge = "{\"entries\":[],\"x\":1e999}";
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int tr = 0;
    ASSERT_EQ(CUSTODY_EPROTO, custody__decode_listing_ref(dup, strlen(dup), &d, &n, &tr));
    ASSERT_OK(custody__decode_listing(dup, strlen(dup), &d, &n, &tr));
    custody_dirents_free(d, n);
    ASSERT_EQ(CUSTODY_EPROTO, custody__decode_listing_ref(huge, strlen(huge), &d, &n, &tr));
    ASSERT_OK(custody__decode_listing(huge, strlen(huge), &d, &n, &tr));
    custody_dirents_free(d, n);
    /* a raw NUL: jansson skips it after a number, the one-pass reader refuses it */
    const char nul[] = "{\"entries\":[],\"x\":1\0}";
    d = NULL;
    ASSERT_EQ(CUSTODY_EPROTO, custody__decode_listing(nul, sizeof nul - 1, &d, &n, &tr));
    ASSERT_NULL(d);

    /* what escapes decode to */
    const char *esc = "{\"entries\":[{\"name\":\"\\u00e9\\ud83d\\ude00/\\\"\",\"type\":\"file\"}]}";
    ASSERT_OK(custody__decode_listing(esc, strlen(esc), &d, &n, &tr));
    ASSERT_EQ(1, n);
    ASSERT_STR_EQ("\xc3\xa9\xf0\x9f\x98\x80/\"", d[0].name);
    custody_dirents_free(d, n);
}

TEST(client_decode_versions)
{
    const char *sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb,
              "{\"resource\":\"demo:/a.txt\",\"versions\":["
              "{\"version\":1,\"op\":\"external\",\"sha256\":\"%s\",\"size\":5,\"time\":\"t1\","
              "\"available\":true},"
              "{\"version\":2,\"op\":\"write\",\"sha256\":\"%s\",\"size\":7,\"time\":\"t2\","
              "\"available\":false},"
              "{\"version\":3,\"op\":\"delete\",\"sha256\":\"\",\"size\":0,\"time\":\"t3\","
              "\"available\":false}]}",
              sha, sha);
    custody_version_t *v = NULL;
    size_t n = 0;
    ASSERT_OK(custody__decode_versions(sb.buf, sb.len, &v, &n));
    ASSERT_EQ(3, n);
    ASSERT_EQ(1, v[0].version);
    ASSERT_STR_EQ("external", v[0].op);
    ASSERT_STR_EQ(sha, v[0].sha256);
    ASSERT_EQ(5, v[0].size);
    ASSERT_STR_EQ("t1", v[0].time);
    ASSERT_EQ(1, v[0].available);
    ASSERT_EQ(0, v[1].available);
    ASSERT_STR_EQ("delete", v[2].op);
    ASSERT_STR_EQ("", v[2].sha256);
    ASSERT_EQ(0, v[2].available);
    custody_versions_free(v, n);
    sb_free(&sb);

    const char *bad[] = {
        "{\"versions\":[{\"op\":\"write\"}]}",
        "{\"versions\":[{\"version\":0}]}",
        "{\"versions\":[{\"version\":-3}]}",
        "{\"versions\":[{\"version\":1,\"sha256\":\"abc\"}]}",
        "{\"versions\":[{\"version\":1,\"sha256\":5}]}",
        "{\"versions\":[{\"version\":1,\"available\":1}]}",
        "{\"versions\":{}}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        if (custody__decode_versions(bad[i], strlen(bad[i]), &v, &n) != CUSTODY_EPROTO)
            TEST_FAIL_("versions '%s' accepted", bad[i]);
        ASSERT_NULL(v);
    }
}

TEST(client_decode_write_result)
{
    const char *body = "{\"resource\":\"demo:/a.txt\",\"sha256\":\"ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad\",\"size\":5,\"version\":3,\"created\":"
                       "false}";
    custody_write_result_t r;
    ASSERT_OK(custody__decode_write_result(body, strlen(body), &r));
    ASSERT_EQ(5, r.size);
    ASSERT_EQ(3, r.version);
    ASSERT_EQ(0, r.created);
    ASSERT_STR_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", r.sha256);

    body = "{\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
           "\"size\":0,\"created\":true}";
    ASSERT_OK(custody__decode_write_result(body, strlen(body), &r));
    ASSERT_EQ(1, r.created);
    ASSERT_EQ(0, r.version);

    const char *bad[] = {"{\"sha256\":\"x\",\"size\":1}",
                         "{\"size\":-1}",
                         "{\"sha256\":\"\",\"size\":1,\"version\":\"3\"}",
                         "{\"size\":1,\"created\":\"yes\"}",
                         "[]",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (custody__decode_write_result(bad[i], strlen(bad[i]), &r) != CUSTODY_EPROTO)
            TEST_FAIL_("write result '%s' accepted", bad[i]);
    }
}

TEST(client_decode_roots)
{
    const char *body = "{\"roots\":[{\"name\":\"demo\",\"path\":\"/s/demo\",\"labels\":{"
                       "\"classification\":\"public\",\"team\":\"x\"}},"
                       "{\"name\":\"b\",\"path\":\"/b\",\"labels\":{}},"
                       "{\"name\":\"c\",\"path\":\"/c\"}]}";
    custody_root_t *r = NULL;
    size_t n = 0;
    ASSERT_OK(custody__decode_roots(body, strlen(body), &r, &n));
    ASSERT_EQ(3, n);
    ASSERT_STR_EQ("demo", r[0].name);
    ASSERT_STR_EQ("/s/demo", r[0].path);
    ASSERT_EQ(2, r[0].nlabels);
    ASSERT_STR_EQ("classification", r[0].labels[0].key);
    ASSERT_STR_EQ("public", r[0].labels[0].value);
    ASSERT_EQ(0, r[1].nlabels);
    ASSERT_EQ(0, r[2].nlabels);
    custody_roots_free(r, n);

    custody_root_t one;
    body = "{\"name\":\"scans\",\"path\":\"/data/scans\",\"labels\":{\"classification\":\"phi\"}}";
    ASSERT_OK(custody__decode_root(body, strlen(body), &one));
    ASSERT_STR_EQ("scans", one.name);
    ASSERT_EQ(1, one.nlabels);
    custody_root_free(&one);
    body = "{\"root\":{\"name\":\"scans\",\"path\":\"/data/scans\"}}";
    ASSERT_OK(custody__decode_root(body, strlen(body), &one));
    ASSERT_STR_EQ("/data/scans", one.path);
    custody_root_free(&one);

    const char *bad[] = {"{\"roots\":[{\"name\":\"a\"}]}",
                         "{\"roots\":[{\"name\":\"a\",\"path\":\"/a\",\"labels\":[]}]}",
                         "{\"roots\":[{\"name\":\"a\",\"path\":\"/a\",\"labels\":{\"k\":1}}]}",
                         "{\"roots\":7}", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = NULL;
        if (custody__decode_roots(bad[i], strlen(bad[i]), &r, &n) != CUSTODY_EPROTO)
            TEST_FAIL_("roots '%s' accepted", bad[i]);
        ASSERT_NULL(r);
    }
}

static json_t *parse_json(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ASSERT_NOT_NULL(j);
    return j;
}

TEST(client_encode_bodies)
{
    char *s = NULL;
    ASSERT_OK(custody__encode_op_mkdir(1, &s));
    json_t *j = parse_json(s);
    ASSERT_STR_EQ("mkdir", json_string_value(json_object_get(j, "op")));
    ASSERT(json_is_true(json_object_get(j, "parents")));
    json_decref(j);
    free(s);

    ASSERT_OK(custody__encode_op_move("demo:/new \"name\".txt", 0, &s));
    j = parse_json(s);
    ASSERT_STR_EQ("move", json_string_value(json_object_get(j, "op")));
    ASSERT_STR_EQ("demo:/new \"name\".txt", json_string_value(json_object_get(j, "to")));
    ASSERT(json_is_false(json_object_get(j, "overwrite")));
    json_decref(j);
    free(s);
    ASSERT_EQ(CUSTODY_EINVAL, custody__encode_op_move("bad\xff", 0, &s));

    ASSERT_OK(custody__encode_op_rollback(42, &s));
    j = parse_json(s);
    ASSERT_STR_EQ("rollback", json_string_value(json_object_get(j, "op")));
    ASSERT_EQ(42, json_integer_value(json_object_get(j, "to")));
    json_decref(j);
    free(s);

    custody_label_t labels[2] = {{"classification", "phi"}, {"team", "r&d"}};
    ASSERT_OK(custody__encode_root_put("/data/scans", labels, 2, &s));
    j = parse_json(s);
    ASSERT_STR_EQ("/data/scans", json_string_value(json_object_get(j, "path")));
    ASSERT_STR_EQ(
        "phi", json_string_value(json_object_get(json_object_get(j, "labels"), "classification")));
    ASSERT_STR_EQ("r&d", json_string_value(json_object_get(json_object_get(j, "labels"), "team")));
    json_decref(j);
    free(s);
}

TEST(client_mode_parse)
{
    int m = -1;
    ASSERT_OK(custody__mode_parse("0644", &m));
    ASSERT_EQ(0644, m);
    ASSERT_OK(custody__mode_parse("7", &m));
    ASSERT_EQ(7, m);
    ASSERT_OK(custody__mode_parse("007777", &m));
    ASSERT_EQ(07777, m);
    static const char *bad[] = {"", "0o644", "644 ", "-1", "0x1", "8", "10000", "0000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (custody__mode_parse(bad[i], &m) != CUSTODY_EPROTO)
            TEST_FAIL_("mode '%s' accepted", bad[i]);
    ASSERT_EQ(CUSTODY_EPROTO, custody__mode_parse(NULL, &m));
}

TEST(client_type_names)
{
    ASSERT_STR_EQ("file", custody_type_name(custody__type_parse("file")));
    ASSERT_STR_EQ("dir", custody_type_name(custody__type_parse("dir")));
    ASSERT_STR_EQ("symlink", custody_type_name(custody__type_parse("symlink")));
    ASSERT_STR_EQ("other", custody_type_name(custody__type_parse("fifo")));
    ASSERT_STR_EQ("unknown", custody_type_name(custody__type_parse(NULL)));
    ASSERT_EQ(CUSTODY_ENOENT, custody__status_to_err(404));
    ASSERT_EQ(CUSTODY_EPRECOND, custody__status_to_err(412));
    ASSERT_EQ(CUSTODY_EPROTO, custody__status_to_err(418));
    ASSERT_EQ(CUSTODY_EINTERNAL, custody__status_to_err(502));
}
