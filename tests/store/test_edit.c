/* test_edit.c — what the store reports about a change for the edit journal
 * (docs/ledger.md): prev_sha256 / prev_version next to sha256 / version,
 * from store_write_commit, store_rollback, store_delete_edit and
 * store_move_edit. */
#include "store_test.h"

#define SHA_ONE "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
#define SHA_TWO "3fc4ccfe745870e2c0d99f71f30ff0656c8dedd41cc1d7d3d376b0dbe685e2f3"

static void expect_res(const struct store_write_result *r, const char *prev, int64_t prev_version,
                       const char *sha, int64_t version)
{
    ASSERT_STR_EQ(prev, r->prev_sha256);
    ASSERT_EQ(prev_version, r->prev_version);
    ASSERT_STR_EQ(sha, r->sha256);
    ASSERT_EQ(version, r->version);
}

TEST(store_edit_write_rollback_delete)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result r;
    ASSERT_OK(fx_put(&f, "/a.txt", "one", 3, NULL, &r));
    expect_res(&r, "", 0, SHA_ONE, 1); /* new: nothing before */
    ASSERT(r.created);
    ASSERT_OK(fx_put(&f, "/a.txt", "two", 3, NULL, &r));
    expect_res(&r, SHA_ONE, 1, SHA_TWO, 2);
    ASSERT(!r.created);
    ASSERT_OK(store_rollback(f.st, "r", "/a.txt", 1, &r));
    expect_res(&r, SHA_TWO, 2, SHA_ONE, 3);
    ASSERT_OK(store_delete_edit(f.st, "r", "/a.txt", NULL, &r));
    expect_res(&r, SHA_ONE, 3, "", 4); /* the tombstone */
    /* created again over the tombstone: prev is "no file", version 4 */
    ASSERT_OK(fx_put(&f, "/a.txt", "two", 3, NULL, &r));
    expect_res(&r, "", 4, SHA_TWO, 5);
    ASSERT(r.created);
    /* a refused change reports nothing */
    struct store_precond pre = {.if_match = SHA_ONE};
    ASSERT_EQ(CUSTODY_EPRECOND, store_delete_edit(f.st, "r", "/a.txt", &pre, &r));
    expect_res(&r, "", 0, "", 0);
    /* an empty directory: deleted, but no content changed */
    fx_mkdir(f.root, "d");
    ASSERT_OK(store_delete_edit(f.st, "r", "/d", NULL, &r));
    expect_res(&r, "", 0, "", 0);
    fx_close(&f);
}

TEST(store_edit_outside_change)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result r;
    ASSERT_OK(fx_puts(&f, "/x.txt", "one"));
    test_write_file(f.root, "x.txt", "two"); /* behind the store's back */
    ASSERT_OK(fx_put(&f, "/x.txt", "one", 3, NULL, &r));
    /* what was on disk, kept as the "external" version 2 */
    expect_res(&r, SHA_TWO, 2, SHA_ONE, 3);
    /* the file removed behind the store's back: no file, and the last
     * version (3, "one") does not describe that */
    char p[1200];
    fx_path(p, sizeof p, f.root, "x.txt");
    ASSERT_OK(unlink(p));
    ASSERT_OK(fx_put(&f, "/x.txt", "two", 3, NULL, &r));
    expect_res(&r, "", 0, SHA_TWO, 4);
    fx_close(&f);
}

TEST(store_edit_move)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result from, to;
    ASSERT_OK(fx_puts(&f, "/a.txt", "one"));
    ASSERT_OK(store_move_edit(f.st, "r", "/a.txt", "/b.txt", false, &from, &to));
    expect_res(&from, SHA_ONE, 1, "", 2); /* "moved" tombstone */
    expect_res(&to, "", 0, SHA_ONE, 1);   /* "move": b had no history */
    ASSERT(to.created);
    ASSERT_EQ(3, to.size);
    /* over an existing file: its content is what the destination had */
    ASSERT_OK(fx_puts(&f, "/c.txt", "two"));
    ASSERT_OK(store_move_edit(f.st, "r", "/c.txt", "/b.txt", true, &from, &to));
    expect_res(&from, SHA_TWO, 1, "", 2);
    expect_res(&to, SHA_ONE, 1, SHA_TWO, 2);
    ASSERT(!to.created);
    /* a directory: nothing about content */
    fx_mkdir(f.root, "d");
    ASSERT_OK(store_move_edit(f.st, "r", "/d", "/e", false, &from, &to));
    expect_res(&from, "", 0, "", 0);
    expect_res(&to, "", 0, "", 0);
    /* NULL results are fine */
    ASSERT_OK(store_move_edit(f.st, "r", "/b.txt", "/a.txt", false, NULL, NULL));
    fx_close(&f);
}

TEST(store_edit_versions_off)
{
    struct fx f;
    fx_open(&f, false);
    struct store_write_result r, to;
    ASSERT_OK(fx_put(&f, "/a.txt", "one", 3, NULL, &r));
    expect_res(&r, "", 0, SHA_ONE, 0);
    /* the hashes are still known; no versions */
    ASSERT_OK(fx_put(&f, "/a.txt", "two", 3, NULL, &r));
    expect_res(&r, SHA_ONE, 0, SHA_TWO, 0);
    ASSERT_OK(store_move_edit(f.st, "r", "/a.txt", "/b.txt", false, &r, &to));
    expect_res(&r, SHA_TWO, 0, "", 0);
    expect_res(&to, "", 0, SHA_TWO, 0);
    ASSERT_OK(store_delete_edit(f.st, "r", "/b.txt", NULL, &r));
    expect_res(&r, SHA_TWO, 0, "", 0);
    fx_close(&f);
}
