#include "test.h"
#include "gateway/gateway.h"

TEST(gw_range_forms)
{
    uint64_t off, len;
    const char *r;
    r = "bytes=0-9";
    ASSERT_EQ(0, gw_parse_range(r, strlen(r), 100, &off, &len));
    ASSERT_EQ(0, off);
    ASSERT_EQ(10, len);
    r = "bytes=90-";
    ASSERT_EQ(0, gw_parse_range(r, strlen(r), 100, &off, &len));
    ASSERT_EQ(90, off);
    ASSERT_EQ(10, len);
    r = "bytes=-30";
    ASSERT_EQ(0, gw_parse_range(r, strlen(r), 100, &off, &len));
    ASSERT_EQ(70, off);
    ASSERT_EQ(30, len);
    r = "bytes=-300"; /* suffix longer than the file: whole file */
    ASSERT_EQ(0, gw_parse_range(r, strlen(r), 100, &off, &len));
    ASSERT_EQ(0, off);
    ASSERT_EQ(100, len);
    r = "bytes=50-1000"; /* last past the end is clamped */
    ASSERT_EQ(0, gw_parse_range(r, strlen(r), 100, &off, &len));
    ASSERT_EQ(50, len);
    r = "bytes=0-0,5-9";
    ASSERT_EQ(1, gw_parse_range(r, strlen(r), 100, &off, &len));
    r = "items=0-9";
    ASSERT_EQ(1, gw_parse_range(r, strlen(r), 100, &off, &len));
}

TEST(gw_range_unsatisfiable)
{
    uint64_t off, len;
    const char *bad[] = {"bytes=100-", "bytes=9-5", "bytes=-0", "bytes=-", "bytes=abc",
                         "bytes=99999999999999999999999-", "bytes=1-2-3", "bytes="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (gw_parse_range(bad[i], strlen(bad[i]), 100, &off, &len) != CUSTODY_ERANGE)
            TEST_FAIL_("case %s accepted", bad[i]);
    ASSERT_EQ(CUSTODY_ERANGE, gw_parse_range("bytes=0-", 8, 0, &off, &len)); /* empty file */
}

TEST(gw_target_decode)
{
    struct gw_target t;
    const char *s = "/v1/fs/demo/a%20b.txt?version=3&x";
    ASSERT_OK(gw_parse_target(s, strlen(s), &t));
    ASSERT_STR_EQ("/v1/fs/demo/a b.txt", t.path);
    size_t vl = 0;
    const char *v = gw_query_get(t.query, t.query_len, "version", &vl);
    ASSERT_NOT_NULL(v);
    ASSERT_EQ(1, vl);
    ASSERT_EQ('3', v[0]);
    ASSERT_NOT_NULL(gw_query_get(t.query, t.query_len, "x", &vl));
    ASSERT_EQ(0, vl);
    ASSERT_NULL(gw_query_get(t.query, t.query_len, "y", &vl));
    ASSERT_EQ(CUSTODY_EBADPATH, gw_parse_target("/a%2", 4, &t));
    ASSERT_EQ(CUSTODY_EBADPATH, gw_parse_target("/a%zz", 5, &t));
    ASSERT_EQ(CUSTODY_EINVAL, gw_parse_target("a", 1, &t));
    /* %00 decodes to NUL: the store's path check refuses it later */
    ASSERT_OK(gw_parse_target("/a%00b", 6, &t));
    ASSERT_EQ(4, t.path_len);
}
