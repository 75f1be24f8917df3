/*
 * test_diff.c — src/mcp/diff.c against texts the reference produced: every
 * expected string below is the output of @modelcontextprotocol/server-filesystem
 * 2026.8.31 (createUnifiedDiff / applyFileEdits on a file named f.txt, jsdiff
 * 8.0.4) under node, pasted as it came. tests/mcp/diff_check.mjs does the
 * same with random cases.
 */
#include <stdlib.h>
#include <string.h>

#include "mcp/diff.h"
#include "test.h"

#define HEADER                                                                                     \
    "Index: f.txt\n"                                                                               \
    "===================================================================\n"                        \
    "--- f.txt\toriginal\n"                                                                        \
    "+++ f.txt\tmodified\n"

static void check_diff(const char *a, const char *b, const char *want)
{
    char *d = mcp_unified_diff("f.txt", a, strlen(a), b, strlen(b));
    ASSERT_NOT_NULL(d);
    ASSERT_STR_EQ(d, want);
    free(d);
}

/* edit_file on a file f.txt holding content: its answer and the new file. */
static void check_edit(const char *content, const struct mcp_edit *e, size_t n,
                       const char *want_text, const char *want_out)
{
    char *out = NULL, *err = NULL;
    size_t outlen = 0, clen = 0;
    ASSERT_OK(mcp_apply_edits(content, strlen(content), e, n, &out, &outlen, &err));
    ASSERT_NULL(err);
    ASSERT_STR_EQ(out, want_out);
    ASSERT_EQ(strlen(want_out), outlen);
    char *norm = mcp_normalize_eol(content, strlen(content), &clen);
    ASSERT_NOT_NULL(norm);
    char *diff = mcp_unified_diff("f.txt", norm, clen, out, outlen);
    ASSERT_NOT_NULL(diff);
    char *text = mcp_fence_diff(diff);
    ASSERT_STR_EQ(text, want_text);
    free(text);
    free(diff);
    free(norm);
    free(out);
}

TEST(mcp_diff_identical)
{
    check_diff("a\nb\nc\n", "a\nb\nc\n", HEADER);
    check_diff("", "", HEADER);
}

TEST(mcp_diff_single_change)
{
    check_diff("one\ntwo\nthree\n", "one\nTWO\nthree\n",
               HEADER "@@ -1,3 +1,3 @@\n"
                      " one\n"
                      "-two\n"
                      "+TWO\n"
                      " three\n");
}

TEST(mcp_diff_insert_start_end)
{
    check_diff("b\nc\n", "a\nb\nc\n",
               HEADER "@@ -1,2 +1,3 @@\n"
                      "+a\n"
                      " b\n"
                      " c\n");
    check_diff("a\nb\n", "a\nb\nc\n",
               HEADER "@@ -1,2 +1,3 @@\n"
                      " a\n"
                      " b\n"
                      "+c\n");
}

TEST(mcp_diff_delete_all_and_from_empty)
{
    check_diff("a\nb\n", "",
               HEADER "@@ -1,2 +0,0 @@\n"
                      "-a\n"
                      "-b\n");
    check_diff("", "a\n",
               HEADER "@@ -0,0 +1,1 @@\n"
                      "+a\n");
}

TEST(mcp_diff_no_newline_at_end)
{
    check_diff("a\nb", "a\nb\n",
               HEADER "@@ -1,2 +1,2 @@\n"
                      " a\n"
                      "-b\n"
                      "\\ No newline at end of file\n"
                      "+b\n");
    check_diff("a\nb\n", "a\nb",
               HEADER "@@ -1,2 +1,2 @@\n"
                      " a\n"
                      "-b\n"
                      "+b\n"
                      "\\ No newline at end of file\n");
    check_diff("a\nb", "a\nc",
               HEADER "@@ -1,2 +1,2 @@\n"
                      " a\n"
                      "-b\n"
                      "\\ No newline at end of file\n"
                      "+c\n"
                      "\\ No newline at end of file\n");
}

TEST(mcp_diff_crlf)
{
    check_diff("a\r\nb\r\nc\r\n", "a\nB\r\nc\n",
               HEADER "@@ -1,3 +1,3 @@\n"
                      " a\n"
                      "-b\n"
                      "+B\n"
                      " c\n");
}

TEST(mcp_diff_normalize_eol)
{
    size_t n = 0;
    const char *in = "a\r\r\nb\r\n\r";
    char *s = mcp_normalize_eol(in, strlen(in), &n);
    ASSERT_STR_EQ(s, "a\r\nb\n\r");
    ASSERT_EQ(6, n);
    free(s);
}

#define L0_L19                                                                                     \
    "l0\nl1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\nl13\nl14\nl15\nl16\nl17\nl18\nl19\n"

TEST(mcp_diff_two_hunks)
{
    check_diff(L0_L19,
               "l0\nl1\nX\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\nl13\nl14\nY\nl16\nl17\nl18\n"
               "l19\n",
               HEADER "@@ -1,7 +1,7 @@\n"
                      " l0\n"
                      " l1\n"
                      "-l2\n"
                      "+X\n"
                      " l3\n"
                      " l4\n"
                      " l5\n"
                      " l6\n"
                      "@@ -12,9 +12,9 @@\n"
                      " l11\n"
                      " l12\n"
                      " l13\n"
                      " l14\n"
                      "-l15\n"
                      "+Y\n"
                      " l16\n"
                      " l17\n"
                      " l18\n"
                      " l19\n");
}

TEST(mcp_diff_overlapping_context_merges)
{
    check_diff(L0_L19,
               "l0\nl1\nl2\nl3\nX\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\nY\nl14\nl15\nl16\nl17\nl18\n"
               "l19\n",
               HEADER "@@ -1,18 +1,18 @@\n"
                      " l0\n"
                      " l1\n"
                      " l2\n"
                      " l3\n"
                      "-l4\n"
                      "+X\n"
                      " l5\n"
                      " l6\n"
                      " l7\n"
                      " l8\n"
                      " l9\n"
                      " l10\n"
                      " l11\n"
                      " l12\n"
                      "-l13\n"
                      "+Y\n"
                      " l14\n"
                      " l15\n"
                      " l16\n"
                      " l17\n");
}

/* Which of several shortest scripts jsdiff reports, and in what order. */
TEST(mcp_diff_tie_breaking)
{
    check_diff("a\nb\nc\n", "b\nx\n",
               HEADER "@@ -1,3 +1,2 @@\n"
                      "-a\n"
                      " b\n"
                      "-c\n"
                      "+x\n");
    check_diff("x\ny\n", "y\nz\nx\n",
               HEADER "@@ -1,2 +1,3 @@\n"
                      "-x\n"
                      " y\n"
                      "+z\n"
                      "+x\n");
}

TEST(mcp_diff_edit_exact)
{
    struct mcp_edit e[] = {{"int b;", "long b;"}};
    check_edit("int a;\nint b;\nint b;\n", e, 1,
               "```diff\n" HEADER "@@ -1,3 +1,3 @@\n"
               " int a;\n"
               "+long b;\n"
               " int b;\n"
               "-int b;\n"
               "```\n"
               "\n",
               "int a;\nlong b;\nint b;\n");
}

TEST(mcp_diff_edit_empty_old_and_sequential)
{
    struct mcp_edit e1[] = {{"", "top\n"}};
    check_edit("x\n", e1, 1,
               "```diff\n" HEADER "@@ -1,1 +1,2 @@\n"
               "+top\n"
               " x\n"
               "```\n"
               "\n",
               "top\nx\n");
    struct mcp_edit e2[] = {{"a\n", "A\n"}, {"A\nb", "AB"}};
    check_edit("a\nb\nc\n", e2, 2,
               "```diff\n" HEADER "@@ -1,3 +1,2 @@\n"
               "-a\n"
               "-b\n"
               "+AB\n"
               " c\n"
               "```\n"
               "\n",
               "AB\nc\n");
}

TEST(mcp_diff_edit_crlf_file)
{
    struct mcp_edit e[] = {{"one\r\ntwo", "uno\r\ndos"}};
    check_edit("one\r\ntwo\r\n", e, 1,
               "```diff\n" HEADER "@@ -1,2 +1,2 @@\n"
               "-one\n"
               "-two\n"
               "+uno\n"
               "+dos\n"
               "```\n"
               "\n",
               "uno\ndos\n");
}

TEST(mcp_diff_edit_whitespace_insensitive_indent)
{
    struct mcp_edit e[] = {{"if x:\n    return 1", "if y:\n      return 3\n    pass"}};
    check_edit("def f():\n    if x:\n        return 1\n    return 2\n", e, 1,
               "```diff\n" HEADER "@@ -1,4 +1,5 @@\n"
               " def f():\n"
               "-    if x:\n"
               "-        return 1\n"
               "+    if y:\n"
               "+      return 3\n"
               "+    pass\n"
               "     return 2\n"
               "```\n"
               "\n",
               "def f():\n    if y:\n      return 3\n    pass\n    return 2\n");
}

/* U+3000 counts one unit of indentation, a tab one more: 3 - 2 = 1 space. */
TEST(mcp_diff_edit_unicode_indent)
{
    struct mcp_edit e[] = {{"a \n  b", "A\n\u3000\u3000\u3000B\nC"}};
    check_edit("\u3000\u3000a\n\u3000\u3000\tb\nc\n", e, 1,
               "```diff\n" HEADER "@@ -1,3 +1,4 @@\n"
               "-\u3000\u3000a\n"
               "-\u3000\u3000\tb\n"
               "+\u3000\u3000A\n"
               "+\u3000\u3000 B\n"
               "+C\n"
               " c\n"
               "```\n"
               "\n",
               "\u3000\u3000A\n\u3000\u3000 B\nC\nc\n");
}

TEST(mcp_diff_edit_not_found)
{
    struct mcp_edit e[] = {{"hello\r\nworld", "x"}};
    char *out = NULL, *err = NULL;
    size_t outlen = 0;
    ASSERT_EQ(-1, mcp_apply_edits("hello\n", 6, e, 1, &out, &outlen, &err));
    ASSERT_NULL(out);
    ASSERT_STR_EQ(err, "Could not find exact match for edit:\n"
                       "hello\r\n"
                       "world");
    free(err);
}

TEST(mcp_diff_fence_backticks)
{
    struct mcp_edit e[] = {{"text", "see ```js``` and ````"}};
    check_edit("text\n", e, 1,
               "`````diff\n" HEADER "@@ -1,1 +1,1 @@\n"
               "-text\n"
               "+see ```js``` and ````\n"
               "`````\n"
               "\n",
               "see ```js``` and ````\n");
    char *f = mcp_fence_diff("a `` b\n");
    ASSERT_STR_EQ(f, "```diff\na `` b\n```\n\n");
    free(f);
}
