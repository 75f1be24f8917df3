/*
 * test_glob.c — src/mcp/glob.c against minimatch 10.2.6.
 *
 * Every expectation in the tables below is what
 * minimatch(path, pattern, { dot: true }) answered (Node 20, POSIX);
 * tests/mcp/glob_check.mjs compares the two on random input.
 */
#include "test.h"

#include <stdbool.h>

#include "mcp/glob.h"
#include "util/util.h"

struct gcase {
    const char *pattern, *path;
    int want; /* 1 match, 0 no match */
};

static void check_cases(const struct gcase *c, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct mcp_glob *g = mcp_glob_compile(c[i].pattern);
        ASSERT_NOT_NULL(g);
        bool got = mcp_glob_test(g, c[i].path);
        if (got != (c[i].want == 1) || mcp_glob_error(g)) {
            fprintf(stderr, "pattern \"%s\" path \"%s\": want %d got %d%s%s\n", c[i].pattern,
                    c[i].path, c[i].want, got, mcp_glob_error(g) ? " error: " : "",
                    mcp_glob_error(g) ? mcp_glob_error(g) : "");
            bad++;
        }
        ASSERT_EQ(got, mcp_glob_match(c[i].pattern, c[i].path));
        mcp_glob_free(g);
    }
    ASSERT_EQ(0, bad);
}

/* s repeated n times between pre and post (malloc'd) */
static char *repeat(const char *pre, const char *s, size_t n, const char *post)
{
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, pre);
    for (size_t i = 0; i < n; i++)
        sb_puts(&sb, s);
    sb_puts(&sb, post);
    return sb_detach(&sb);
}

TEST(mcp_glob_star_qmark)
{
    static const struct gcase cases[] = {
        {"*", "a", 1},        {"*", "abc", 1},        {"*", ".a", 1},        {"*", ".", 0},
        {"*", "..", 0},       {"*", "", 0},           {"*", "a/b", 0},       {"*", "a/", 1},
        {"*.js", "a.js", 1},  {"*.js", ".js", 1},     {"*.js", "a.jsx", 0},  {"*.js", "a/b.js", 0},
        {"*.js", "b.js/", 1}, {"a*b", "ab", 1},       {"a*b", "axxb", 1},    {"a*b", "a/b", 0},
        {"a*b", "ba", 0},     {"?\?\?", "abc", 1},    {"?\?\?", "ab", 0},    {"?\?\?", "abcd", 0},
        {"?\?\?", "...", 1},  {"?\?\?", ".ab", 1},    {"?", ".", 0},         {"?", "a", 1},
        {"?", "", 0},         {"?\?.js", "ab.js", 1}, {"?\?.js", "a.js", 0}, {"?\?.js", "..js", 0},
        {".*", ".a", 1},      {".*", ".", 0},         {".*", "..", 0},       {".*", "a.", 0},
        {"*.*", "a.b", 1},    {"*.*", "ab", 0},       {"*.*", ".a", 1},      {"*.*", ".", 0},
        {"*.*", "..", 0},     {"a?c*", "abc", 1},     {"a?c*", "abcdef", 1}, {"a?c*", "ac", 0},
        {"a?c*", "a/c", 0},   {"**a", "a", 1},        {"**a", "ba", 1},      {"**a", "b/a", 0},
        {"*\\a", "xa", 0},    {"*\\a", "x\\a", 1},    {"*\\a", "\\a", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_classes)
{
    static const struct gcase cases[] = {
        {"[abc]", "a", 1},
        {"[abc]", "d", 0},
        {"[abc]", "[abc]", 0},
        {"[a-c]x", "bx", 1},
        {"[a-c]x", "dx", 0},
        {"[!a-c]", "a", 0},
        {"[!a-c]", "d", 1},
        {"[!a-c]", ".", 0},
        {"[^a-c]", "b", 0},
        {"[^a-c]", "z", 1},
        {"[]]", "]", 1},
        {"[]]", "a", 0},
        {"[!]]", "]", 0},
        {"[!]]", "a", 1},
        {"[a-]", "a", 1},
        {"[a-]", "-", 1},
        {"[a-]", "b", 0},
        {"x[z-a]", "xa", 0},
        {"x[z-a]", "xz", 0},
        {"x[z-a]", "x[z-a]", 0},
        {"[\\]]", "]", 1},
        {"[\\]]", "\\", 0},
        {"[\\^a]", "^", 1},
        {"[\\^a]", "a", 0},
        {"[\\^a]", "b", 1},
        {"[.]a", ".a", 1},
        {"[.]a", "xa", 0},
        {"[.]", ".", 1},
        {"[abc", "[abc", 1},
        {"[abc", "a", 0},
        {"[[:alpha:]]", "a", 1},
        {"[[:alpha:]]", "Z", 1},
        {"[[:alpha:]]", "1", 0},
        {"[[:alpha:]]", "\xc3\xa9", 1},
        {"[[:alpha:]]", "\xce\xa9", 1},
        {"[[:alpha:]]", "_", 0},
        {"[[:alpha:]]", "\xf0\x9f\x98\x80", 0},
        {"[[:digit:]]", "5", 1},
        {"[[:digit:]]", "a", 0},
        {"[[:digit:]]", "\xd9\xa1", 1},
        {"[[:alnum:]_]", "_", 1},
        {"[[:alnum:]_]", "a", 1},
        {"[[:alnum:]_]", "-", 0},
        {"[[:space:]]", " ", 1},
        {"[[:space:]]", "\t", 1},
        {"[[:space:]]", "a", 0},
        {"[[:upper:]][[:lower:]]", "Ab", 1},
        {"[[:upper:]][[:lower:]]", "aB", 0},
        {"[[:upper:]][[:lower:]]", "\xc3\x89\xc3\x89", 0},
        {"[[:upper:]][[:lower:]]", "\xc3\x89\xc3\xa9", 1},
        {"[[:punct:]]", "!", 1},
        {"[[:punct:]]", "-", 1},
        {"[[:punct:]]", "a", 0},
        {"[[:xdigit:]]", "f", 1},
        {"[[:xdigit:]]", "g", 0},
        {"[[:xdigit:]]", "A", 1},
        {"[[:ascii:]]", "a", 1},
        {"[[:ascii:]]", "\xc3\xa9", 0},
        {"[![:graph:]]", "a", 0},
        {"[![:graph:]]", " ", 1},
        {"[[:graph:]]", "a", 1},
        {"[[:graph:]]", " ", 0},
        {"[a-[:alpha:]]", "a", 0},
        {"[a-[:alpha:]]", "-", 0},
        {"[a-[:alpha:]]", "[a-[:alpha:]]", 0},
        {"[[:bogus:]]", "b", 0},
        {"[[:bogus:]]", ":", 0},
        {"[[:bogus:]]", "[[:bogus:]]", 0},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_escapes)
{
    static const struct gcase cases[] = {
        {"\\*", "*", 1},       {"\\*", "a", 0},         {"a\\?", "a?", 1},  {"a\\?", "ab", 0},
        {"\\[a]", "[a]", 1},   {"\\[a]", "a", 0},       {"a\\", "a\\", 1},  {"a\\", "a", 0},
        {"\\a\\b", "ab", 1},   {"\\a\\b", "\\a\\b", 0}, {"a\\|b*", "a", 1}, {"a\\|b*", "xbx", 1},
        {"a\\|b*", "x", 0},    {"a\\|b*", "a|b", 1},    {"\\|b*", "x", 1},  {"\\|b*", "", 1},
        {"a\\\\b", "a\\b", 1}, {"a\\\\b", "ab", 0},     {"@(\\|)", "|", 0}, {"@(\\|)", "", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_globstar)
{
    static const struct gcase cases[] = {
        {"**", "", 1},
        {"**", "a", 1},
        {"**", "a/b/c", 1},
        {"**", ".", 0},
        {"**", "..", 0},
        {"**", "a/.", 0},
        {"**", "a/../b", 0},
        {"**", ".a/.b", 1},
        {"**", "a/", 1},
        {"a/**", "a", 0},
        {"a/**", "a/", 1},
        {"a/**", "a/b", 1},
        {"a/**", "a/b/c", 1},
        {"a/**", "b/a", 0},
        {"a/**", "a/.", 0},
        {"a/**", "a/.b", 1},
        {"**/a", "a", 1},
        {"**/a", "b/a", 1},
        {"**/a", "b/c/a", 1},
        {"**/a", "a/b", 0},
        {"**/a", ".x/a", 1},
        {"**/a", "./a", 0},
        {"**/a", "b/a/", 1},
        {"a/**/b", "a/b", 1},
        {"a/**/b", "a/x/b", 1},
        {"a/**/b", "a/x/y/b", 1},
        {"a/**/b", "a/./b", 0},
        {"a/**/b", "a/../b", 0},
        {"a/**/b", "a/b/", 1},
        {"a/**/*", "a/b", 1},
        {"a/**/*", "a/b/", 1},
        {"a/**/*", "a/", 0},
        {"a/**/*", "a", 0},
        {"**/a/**", "a", 0},
        {"**/a/**", "a/b", 1},
        {"**/a/**", "x/a/b", 1},
        {"**/a/**", "x/a", 0},
        {"**/a/**", "x/a/", 1},
        {"a/**/b/**/c", "a/b/c", 1},
        {"a/**/b/**/c", "a/x/b/y/c", 1},
        {"a/**/b/**/c", "a/c", 0},
        {"a/**/b/**/c", "a/b/x/c", 1},
        {"**/a/b/**/c/**/z", "a/b/c/z", 0},
        {"**/a/b/**/c/**/z", "x/a/b/y/c/q/z", 1},
        {"**/a/b/**/c/**/z", "a/b/x/c/y/z", 1},
        {"**/*.js", "a.js", 1},
        {"**/*.js", "x/y/a.js", 1},
        {"**/*.js", "x/.y/a.js", 1},
        {"**/*.js", "x/./a.js", 0},
        {"x/**/**/**/y", "x/y", 1},
        {"x/**/**/**/y", "x/a/y", 1},
        {"**/.a", ".a", 1},
        {"**/.a", "b/.a", 1},
        {"a**/b", "a/b", 1},
        {"a**/b", "ax/b", 1},
        {"a**/b", "a/x/b", 0},
        {"**/x/**/y/**/..", "x/y/..", 0},
        {"**/x/**/y/**/..", "a/x/b/y/c/..", 0},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_braces)
{
    static const struct gcase cases[] = {
        {"{a,b}", "a", 1},
        {"{a,b}", "b", 1},
        {"{a,b}", "c", 0},
        {"{a,b}", "{a,b}", 0},
        {"x{a,b{c,d}}", "xa", 1},
        {"x{a,b{c,d}}", "xbc", 1},
        {"x{a,b{c,d}}", "xbd", 1},
        {"x{a,b{c,d}}", "xb", 0},
        {"{1..3}", "1", 1},
        {"{1..3}", "2", 1},
        {"{1..3}", "3", 1},
        {"{1..3}", "4", 0},
        {"{1..3}", "0", 0},
        {"{3..1}", "2", 1},
        {"{01..10..3}", "01", 1},
        {"{01..10..3}", "04", 1},
        {"{01..10..3}", "10", 1},
        {"{01..10..3}", "1", 0},
        {"{01..10..3}", "07", 1},
        {"{-1..1}", "-1", 1},
        {"{-1..1}", "0", 1},
        {"{-1..1}", "1", 1},
        {"{a..e..2}", "a", 1},
        {"{a..e..2}", "c", 1},
        {"{a..e..2}", "e", 1},
        {"{a..e..2}", "b", 0},
        {"{Z..a}", "[", 1},
        {"{Z..a}", "^", 1},
        {"{Z..a}", "\\", 0},
        {"{Z..a}", "", 1},
        {"{}", "{}", 1},
        {"{}a,b}", "{}a,b}", 1},
        {"{}a,b}", "a", 0},
        {"${a,b}", "${a,b}", 1},
        {"${a,b}", "$a", 0},
        {"{a},b}", "a}", 1},
        {"{a},b}", "b", 1},
        {"{a},b}", "{a},b}", 0},
        {"{a}", "{a}", 1},
        {"{a}", "a", 0},
        {"{a,}x", "ax", 1},
        {"{a,}x", "x", 1},
        {"{,}", "", 0},
        {"{,}", ",", 0},
        {"\\\\{a,b}", "a", 1},
        {"\\\\{a,b}", "\\a", 0},
        {"\\{a,b}", "{a,b}", 1},
        {"\\{a,b}", "a", 0},
        {"{a,b}/{c,d}", "a/c", 1},
        {"{a,b}/{c,d}", "b/d", 1},
        {"{a,b}/{c,d}", "a/b", 0},
        {"{a,b/**/c}", "a", 1},
        {"{a,b/**/c}", "b/x/c", 1},
        {"{{a,b}}", "{a}", 1},
        {"{{a,b}}", "a", 0},
        {"a{1..2}{x,y}", "a1x", 1},
        {"a{1..2}{x,y}", "a2y", 1},
        {"a{1..2}{x,y}", "a3x", 0},
        {"{a,b", "{a,b", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_extglob)
{
    static const struct gcase cases[] = {
        {"+(a|b)", "a", 1},
        {"+(a|b)", "abba", 1},
        {"+(a|b)", "", 0},
        {"+(a|b)", "c", 0},
        {"*(a|b)c", "c", 1},
        {"*(a|b)c", "abc", 1},
        {"*(a|b)c", "xc", 0},
        {"?(a|b)c", "c", 1},
        {"?(a|b)c", "ac", 1},
        {"?(a|b)c", "abc", 0},
        {"@(a|b)c", "ac", 1},
        {"@(a|b)c", "c", 0},
        {"@(a|b)c", "abc", 0},
        {"!(a|b)", "a", 1},
        {"!(a|b)", "c", 1},
        {"!(a|b)", "ab", 1},
        {"!(a|b)", ".", 1},
        {"!(a|b)", "..", 1},
        {"!(a|b)", ".c", 1},
        {"x!(a)", "x", 1},
        {"x!(a)", "xa", 0},
        {"x!(a)", "xb", 1},
        {"x!(a)", "xab", 1},
        {"!(*.js)", "a.js", 1},
        {"!(*.js)", "a.ts", 1},
        {"!(*.js)", ".js", 1},
        {"a!(b)c", "ac", 1},
        {"a!(b)c", "abc", 0},
        {"a!(b)c", "axc", 1},
        {"a!(b)c", "abbc", 1},
        {"x!(!(a))b", "xab", 0},
        {"x!(!(a))b", "xabb", 1},
        {"x!(!(a))b", "xb", 0},
        {"@(!(a))", "a", 0},
        {"@(!(a))", "b", 1},
        {"+(a|?(b))", "", 0},
        {"+(a|?(b))", "a", 1},
        {"+(a|?(b))", "b", 1},
        {"+(a|?(b))", "ab", 1},
        {"x!(a|)", "x", 0},
        {"x!(a|)", "xa", 1},
        {"x!(a|)", "xb", 1},
        {"x!(a+(b))", "xab", 1},
        {"x!(a+(b))", "xa", 1},
        {"x!(a+(b))", "x", 0},
        {"@()", "@()", 1},
        {"@()", "", 0},
        {"*()", "*()", 1},
        {"*()", "", 0},
        {"x@()", "x", 1},
        {"a/!()", "a/b", 1},
        {"a/!()", "a/", 0},
        {"+(a", "+(a", 1},
        {"+(a", "a", 0},
        {"@(a|b", "@(a|b", 1},
        {"@(a|b", "a", 0},
        {"*(a|b)", ".", 0},
        {"*(a|b)", "..", 0},
        {"*(a|b)", "", 1},
        {"*(a|b)", "ab", 1},
        {"+(.)", ".", 1},
        {"+(.)", "..", 1},
        {"+(.)", "...", 1},
        {"@(*)", ".", 0},
        {"@(*)", "a", 1},
        {"[a+(b)]", "b", 1},
        {"[a+(b)]", "[a+(b)]", 0},
        {"@(@(@(@(a))))", "a", 1},
        {"@(@(@(@(a))))", "b", 0},
        {"!(!(!(!(a))))", "a", 1},
        {"!(!(!(!(a))))", "b", 1},
        {"x+(a|*(b))y", "xy", 1},
        {"x+(a|*(b))y", "xaby", 1},
        {"x+(a|*(b))y", "xbbby", 1},
        {"!(a)!(b)", "ab", 1},
        {"!(a)!(b)", "ba", 1},
        {"!(a)!(b)", "c", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_negate_comment_empty)
{
    static const struct gcase cases[] = {
        {"!a", "a", 0},         {"!a", "b", 1},    {"!a", "", 1},        {"!a", "a/b", 1},
        {"!!a", "a", 1},        {"!!a", "b", 0},   {"!!!a", "a", 0},     {"!!!a", "b", 1},
        {"#a", "#a", 0},        {"#a", "a", 0},    {"#a", "", 0},        {"!#a", "#a", 0},
        {"!#a", "b", 1},        {"\\#a", "#a", 1}, {"", "", 1},          {"", "a", 0},
        {"!", "", 0},           {"!", "a", 1},     {"!*.js", "a.js", 0}, {"!*.js", "a.ts", 1},
        {"!*.js", "x/a.js", 1}, {"!{,}", "", 1},   {"!{,}", "a", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_slashes)
{
    static const struct gcase cases[] = {
        {"a//b", "a/b", 1},  {"a//b", "a//b", 1},      {"a/b", "a//b", 1},    {"a/b", "a/b/", 1},
        {"a/b", "a/b", 1},   {"a/", "a/", 1},          {"a/", "a", 0},        {"a/", "a//", 1},
        {"/a", "/a", 1},     {"/a", "a", 0},           {"a/*", "a/b", 1},     {"a/*", "a/b/", 1},
        {"a/*", "a/b/c", 0}, {"a/*", "a/", 0},         {"a/./b", "a/./b", 1}, {"a/./b", "a/b", 0},
        {"a/../b", "b", 1},  {"a/../b", "a/../b", 0},  {"*/../b", "b", 1},    {"a/..", "", 1},
        {"a/..", "a", 0},    {"**/../b", "x/../b", 1}, {"**/../b", "b", 0},   {"./a", "./a", 1},
        {"./a", "a", 0},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_unicode)
{
    static const struct gcase cases[] = {
        {"?", "\xc3\xa9", 1},
        {"?", "\xf0\x9f\x98\x80", 0},
        {"?", "ab", 0},
        {"?\?", "\xf0\x9f\x98\x80", 1},
        {"?\?", "\xc3\xa9", 0},
        {"[\xc3\xa9]", "\xc3\xa9", 1},
        {"[\xc3\xa9]", "e", 0},
        {"*\xc3\xa9", "caf\xc3\xa9", 1},
        {"*\xc3\xa9", "cafe", 0},
        {"caf?", "caf\xc3\xa9", 1},
        {"[\xf0\x9f\x98\x80]", "\xf0\x9f\x98\x80", 0},
        {"x[[:alpha:]]?", "x\xc3\xa9\xf0\x9f\x98\x80", 1},
        {"x[[:alpha:]]?", "x\xc3\xa9\xc3\xa9", 1},
        {"@(\xc3\xa9|\xf0\x9f\x98\x80)", "\xf0\x9f\x98\x80", 1},
        {"@(\xc3\xa9|\xf0\x9f\x98\x80)", "\xc3\xa9", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_reference_forms)
{
    /* directory_tree's excludePatterns: the pattern itself, then
     * "**" "/" pattern and that + "/" "**" when it has no '*' */
    static const struct gcase cases[] = {
        {"node_modules", "node_modules", 1},
        {"**/node_modules", "a/node_modules", 1},
        {"**/node_modules/**", "a/node_modules/x/y", 1},
        {"**/node_modules/**", "a/node_modules", 0},
        {"**/.git/**", ".git/config", 1},
        {"**/*.log", "logs/a/b.log", 1},
        {"*.txt", "dir/a.txt", 0},
        {"**/*.{js,ts}", "src/a.ts", 1},
        {"**/*.{js,ts}", "src/a.tsx", 0},
        {"src/**/test_*.c", "src/a/b/test_x.c", 1},
        {"src/**/test_*.c", "src/test_x.c", 1},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

TEST(mcp_glob_errors)
{
    /* where minimatch's RegExp constructor throws: no match, its message */
    static const struct {
        const char *pattern, *msg;
    } cases[] = {
        {"[[:alpha:]]-x",
         "Invalid regular expression: /^(?!(?:^|/)\\.\\.?(?:$|/))[\\p{L}\\p{Nl}]\\-x$/u: "
         "Invalid escape"},
        {"a/!()*()", "Invalid regular expression: /^[^/]+?*()$/: Nothing to repeat"},
        {"x[[:digit:]]\\!", "Invalid regular expression: /^x[\\p{Nd}]\\!$/u: Invalid escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mcp_glob *g = mcp_glob_compile(cases[i].pattern);
        ASSERT_STR_EQ(cases[i].msg, mcp_glob_error(g));
        ASSERT(!mcp_glob_limited(g));
        ASSERT(!mcp_glob_test(g, "a"));
        ASSERT(!mcp_glob_test(g, "a-x"));
        mcp_glob_free(g);
    }
    /* negated, still no match */
    ASSERT(!mcp_glob_match("![[:alpha:]]-x", "b"));
    /* fine patterns have no message */
    struct mcp_glob *g = mcp_glob_compile("*.c");
    ASSERT_NULL(mcp_glob_error(g));
    mcp_glob_free(g);
}

TEST(mcp_glob_null_and_reuse)
{
    ASSERT_NULL(mcp_glob_compile(NULL));
    ASSERT(!mcp_glob_test(NULL, "a"));
    ASSERT(!mcp_glob_match(NULL, "a"));
    mcp_glob_free(NULL);
    ASSERT_NULL(mcp_glob_error(NULL));
    struct mcp_glob *g = mcp_glob_compile("**/!(*.o)");
    ASSERT(!mcp_glob_test(g, NULL));
    for (int i = 0; i < 1000; i++) {
        ASSERT(mcp_glob_test(g, "src/a.c"));
        ASSERT(!mcp_glob_test(g, "src/a.o"));
        ASSERT(mcp_glob_test(g, "a/b/c/d/e/f"));
    }
    mcp_glob_free(g);
    /* invalid UTF-8 reads as U+FFFD, one per bad sequence, as Node does */
    ASSERT(mcp_glob_match("a?b", "a\xff"
                                 "b"));
    ASSERT(mcp_glob_match("a?b", "a\xe2\x82"
                                 "b"));
    ASSERT(mcp_glob_match("a??b", "a\xc3\xff"
                                  "b"));
}

TEST(mcp_glob_bounds)
{
    /* 4096 bytes is fine, 4097 matches nothing (negated or not) */
    char *p = repeat("", "a", 4096, "");
    ASSERT(mcp_glob_match(p, p));
    free(p);
    p = repeat("", "a", 4097, "");
    struct mcp_glob *g = mcp_glob_compile(p);
    ASSERT(mcp_glob_limited(g));
    ASSERT(!mcp_glob_test(g, p));
    mcp_glob_free(g);
    free(p);
    p = repeat("!", "a", 4097, "");
    ASSERT(!mcp_glob_match(p, "b"));
    free(p);

    /* braces: 1024 alternatives are fine, more match nothing */
    ASSERT(mcp_glob_match("{1..1024}", "1000"));
    g = mcp_glob_compile("{1..1025}");
    ASSERT(mcp_glob_limited(g));
    ASSERT(!mcp_glob_test(g, "1000"));
    mcp_glob_free(g);
    p = repeat("", "{a,b}", 10, "");
    ASSERT(mcp_glob_match(p, "abababbbba"));
    free(p);
    p = repeat("", "{a,b}", 11, "");
    ASSERT(!mcp_glob_match(p, "abababbbbab"));
    free(p);
    p = repeat("", "{a,", 70, "");
    char *q = repeat(p, "}", 70, "");
    g = mcp_glob_compile(q); /* nested 70 deep */
    ASSERT(mcp_glob_limited(g));
    mcp_glob_free(g);
    free(q);
    free(p);

    /* chained negations grow exponentially in minimatch; ten still work */
    p = repeat("x", "!(a)", 10, "");
    ASSERT(mcp_glob_match(p, "xb"));
    ASSERT(!mcp_glob_match(p, "xa"));
    free(p);
    p = repeat("x", "!(a)", 11, "");
    g = mcp_glob_compile(p);
    ASSERT(mcp_glob_limited(g));
    ASSERT_NULL(mcp_glob_error(g));
    mcp_glob_free(g);
    free(p);

    /* extglob nesting: 200 fine, 300 matches nothing */
    p = repeat("", "@(", 200, "a");
    q = repeat(p, ")", 200, "");
    ASSERT(mcp_glob_match(q, "a"));
    free(q);
    free(p);
    p = repeat("", "@(", 300, "a");
    q = repeat(p, ")", 300, "");
    ASSERT(!mcp_glob_match(q, "a"));
    free(q);
    free(p);
}

static uint64_t elapsed_ms(uint64_t t0)
{
    return (util_monotonic_ns() - t0) / 1000000;
}

TEST(mcp_glob_not_exponential)
{
    char *deep = repeat("", "a/", 199, "x"); /* 200 segments */
    char *deepy = repeat("", "a/", 200, "y");
    char *name = repeat("", "a", 250, "");
    uint64_t t0 = util_monotonic_ns();
    ASSERT(mcp_glob_match("**/**/**/**/**/**/**/**/x", deep));
    ASSERT(!mcp_glob_match("**/**/**/**/**/**/**/**/x", deepy));
    char *p = repeat("", "**/a/", 30, "**/x");
    ASSERT(mcp_glob_match(p, deep));
    free(p);
    p = repeat("", "**/a/", 100, "**/x");
    ASSERT(!mcp_glob_match(p, deepy));
    free(p);
    p = repeat("", "**/?/", 150, "**/y");
    ASSERT(mcp_glob_match(p, deepy));
    free(p);
    p = repeat("", "*a", 200, "b");
    ASSERT(!mcp_glob_match(p, name));
    free(p);
    p = repeat("", "+(a|aa)", 20, "b");
    ASSERT(!mcp_glob_match(p, name));
    free(p);
    p = repeat("", "*(a|b)", 50, "!(a)");
    ASSERT(mcp_glob_match(p, name));
    free(p);
    p = repeat("x", "!(a)", 10, "");
    ASSERT(!mcp_glob_match(p, name));
    free(p);
    ASSERT_LT(elapsed_ms(t0), 2000); /* a few ms in practice */
    free(deep);
    free(deepy);
    free(name);
}
