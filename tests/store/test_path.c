/* test_path.c — path normalisation and resource ids. */
#include "store_test.h"

struct norm_case {
    const char *in;
    size_t len; /* 0: strlen(in) */
    int rc;
    const char *out;
};

static void check_norm(const struct norm_case *c)
{
    char out[STORE_PATH_MAX];
    size_t len = c->len ? c->len : strlen(c->in);
    int rc = store_path_normalize(c->in, len, out, sizeof out);
    if (rc != c->rc)
        TEST_FAIL_("normalize(\"%s\"): rc %d (%s), want %d", c->in, rc, custody_err_code(rc),
                   c->rc);
    if (rc == 0 && strcmp(out, c->out) != 0)
        TEST_FAIL_("normalize(\"%s\") = \"%s\", want \"%s\"", c->in, out, c->out);
}

TEST(store_normalize_table)
{
    static const struct norm_case cases[] = {
        {"", 0, 0, "/"},
        {"/", 0, 0, "/"},
        {".", 0, 0, "/"},
        {"./", 0, 0, "/"},
        {"/./.", 0, 0, "/"},
        {"a", 0, 0, "/a"},
        {"/a", 0, 0, "/a"},
        {"a/b", 0, 0, "/a/b"},
        {"a/../b", 0, 0, "/b"},
        {"/a/b/c/../../d", 0, 0, "/a/d"},
        {"a/b/../..", 0, 0, "/"},
        {"//a//b/", 0, 0, "/a/b"},
        {"a/b/", 0, 0, "/a/b"},
        {"/a/./b/.", 0, 0, "/a/b"},
        {"...", 0, 0, "/..."},
        {"..a", 0, 0, "/..a"},
        {"a..", 0, 0, "/a.."},
        {".hidden", 0, 0, "/.hidden"},
        {"a b", 0, 0, "/a b"},
        {"a:b", 0, 0, "/a:b"},
        {"a\\b", 0, 0, "/a\\b"},
        {"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", 0, 0, "/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac"},
        {"\xf0\x9f\x98\x80", 0, 0, "/\xf0\x9f\x98\x80"},
        {"..", 0, CUSTODY_EESCAPE, NULL},
        {"/..", 0, CUSTODY_EESCAPE, NULL},
        {"../x", 0, CUSTODY_EESCAPE, NULL},
        {"a/../../b", 0, CUSTODY_EESCAPE, NULL},
        {"a/b/../../..", 0, CUSTODY_EESCAPE, NULL},
        {"../a/..", 0, CUSTODY_EESCAPE, NULL},
        {"/a/../..", 0, CUSTODY_EESCAPE, NULL},
        {"\x01", 0, CUSTODY_EBADPATH, NULL},
        {"a\x1f", 0, CUSTODY_EBADPATH, NULL},
        {"a\x7f", 0, CUSTODY_EBADPATH, NULL},
        {"a\nb", 0, CUSTODY_EBADPATH, NULL},
        {"a\tb", 0, CUSTODY_EBADPATH, NULL},
        {"a\0b", 3, CUSTODY_EBADPATH, NULL},
        {"\0", 1, CUSTODY_EBADPATH, NULL},
        {"../\x01", 0, CUSTODY_EBADPATH, NULL}, /* characters are checked first */
        {"\xff", 0, CUSTODY_EBADPATH, NULL},
        {"a\xc3", 0, CUSTODY_EBADPATH, NULL},
        {"\xc0\xaf", 0, CUSTODY_EBADPATH, NULL},     /* overlong '/' */
        {"\xed\xa0\x80", 0, CUSTODY_EBADPATH, NULL}, /* surrogate */
        {"\xe2\x80", 0, CUSTODY_EBADPATH, NULL},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++)
        check_norm(&cases[i]);
}

TEST(store_normalize_component_length)
{
    char in[600], out[STORE_PATH_MAX];
    memset(in, 'x', 255);
    in[255] = '\0';
    ASSERT_OK(store_path_normalize(in, 255, out, sizeof out));
    ASSERT_EQ(256, strlen(out));
    memset(in, 'x', 256);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize(in, 256, out, sizeof out));
    /* a long component is refused even if ".." would remove it */
    memcpy(in + 256, "/..", 3);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize(in, 259, out, sizeof out));
    /* 255 bytes of multi-byte UTF-8 are fine: the limit is in bytes */
    size_t n = 0;
    while (n + 3 <= 255) {
        memcpy(in + n, "\xe6\x97\xa5", 3);
        n += 3;
    }
    ASSERT_OK(store_path_normalize(in, n, out, sizeof out));
    memcpy(in + n, "\xe6\x97\xa5", 3);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize(in, n + 3, out, sizeof out));
}

TEST(store_normalize_output_size)
{
    char out[8];
    ASSERT_OK(store_path_normalize("ab", 2, out, 4));
    ASSERT_STR_EQ("/ab", out);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize("abc", 3, out, 4));
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize("", 0, out, 1));
    ASSERT_OK(store_path_normalize("", 0, out, 2));
    ASSERT_STR_EQ("/", out);
    /* the intermediate may be long as long as the result fits */
    ASSERT_OK(store_path_normalize("aaaaaaaaaaaa/../b", 17, out, 3));
    ASSERT_STR_EQ("/b", out);
    ASSERT_EQ(CUSTODY_EINVAL, store_path_normalize("a", 1, out, 0));

    /* result length STORE_PATH_MAX - 1 fits, STORE_PATH_MAX does not */
    static char in[STORE_PATH_MAX + 8], big[STORE_PATH_MAX];
    size_t len = 0;
    while (len + 101 <= STORE_PATH_MAX - 1) {
        in[len++] = '/';
        memset(in + len, 'p', 100);
        len += 100;
    }
    size_t pad = STORE_PATH_MAX - 1 - len; /* bytes still free before the limit */
    ASSERT(pad >= 2);
    in[len++] = '/';
    memset(in + len, 'q', pad - 1);
    len += pad - 1;
    ASSERT_OK(store_path_normalize(in, len, big, sizeof big));
    ASSERT_EQ(STORE_PATH_MAX - 1, strlen(big));
    in[len++] = 'q';
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, store_path_normalize(in, len, big, sizeof big));
}

TEST(store_normalize_idempotent)
{
    static const char *ins[] = {"a/b/../c", "//x/./y//", "/", "caf\xc3\xa9/./..//d"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ins); i++) {
        char a[STORE_PATH_MAX], b[STORE_PATH_MAX];
        ASSERT_OK(store_path_normalize(ins[i], strlen(ins[i]), a, sizeof a));
        ASSERT_OK(store_path_normalize(a, strlen(a), b, sizeof b));
        ASSERT_STR_EQ(a, b);
    }
}

TEST(store_resource_parse_cases)
{
    char root[STORE_ROOT_NAME_MAX + 1], path[STORE_PATH_MAX];
    ASSERT_OK(store_resource_parse("demo:/a/b.txt", root, sizeof root, path, sizeof path));
    ASSERT_STR_EQ("demo", root);
    ASSERT_STR_EQ("/a/b.txt", path);
    ASSERT_OK(store_resource_parse("demo:", root, sizeof root, path, sizeof path));
    ASSERT_STR_EQ("/", path);
    ASSERT_OK(store_resource_parse("d-1_x:a//b/../c/", root, sizeof root, path, sizeof path));
    ASSERT_STR_EQ("d-1_x", root);
    ASSERT_STR_EQ("/a/c", path);
    ASSERT_OK(store_resource_parse("r:/a:b", root, sizeof root, path, sizeof path));
    ASSERT_STR_EQ("r", root);
    ASSERT_STR_EQ("/a:b", path);

    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse("demo", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse(":/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse("-x:/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse("_x:/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse("a b:/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse("a.b:/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EINVAL,
              store_resource_parse("caf\xc3\xa9:/a", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EESCAPE,
              store_resource_parse("r:/../x", root, sizeof root, path, sizeof path));
    ASSERT_EQ(CUSTODY_EBADPATH,
              store_resource_parse("r:/\x01", root, sizeof root, path, sizeof path));

    char longname[80];
    memset(longname, 'a', 64);
    memcpy(longname + 64, ":/x", 4);
    ASSERT_OK(store_resource_parse(longname, root, sizeof root, path, sizeof path));
    ASSERT_EQ(64, strlen(root));
    memset(longname, 'a', 65);
    memcpy(longname + 65, ":/x", 4);
    ASSERT_EQ(CUSTODY_EINVAL, store_resource_parse(longname, root, sizeof root, path, sizeof path));
    /* buffer too small for a valid name */
    char small[4];
    ASSERT_EQ(CUSTODY_ENAMETOOLONG,
              store_resource_parse("abcd:/x", small, sizeof small, path, sizeof path));
}

TEST(store_root_name_rule)
{
    ASSERT(store_root_name_valid("a", 1));
    ASSERT(store_root_name_valid("A9_-", 4));
    ASSERT(store_root_name_valid("0abc", 4));
    ASSERT(!store_root_name_valid("", 0));
    ASSERT(!store_root_name_valid("_a", 2));
    ASSERT(!store_root_name_valid("-a", 2));
    ASSERT(!store_root_name_valid("a/b", 3));
    ASSERT(!store_root_name_valid("a:b", 3));
    char n[65];
    memset(n, 'z', sizeof n);
    ASSERT(store_root_name_valid(n, 64));
    ASSERT(!store_root_name_valid(n, 65));
}
