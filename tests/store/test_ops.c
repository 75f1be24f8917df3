/* test_ops.c — mkdir, move, delete. */
#include "store_test.h"

static bool is_dir(const char *dir, const char *rel)
{
    char p[1200];
    struct stat sb;
    fx_path(p, sizeof p, dir, rel);
    return lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

TEST(store_mkdir_basic)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(store_mkdir(f.st, "r", "/d", false));
    ASSERT(is_dir(f.root, "d"));
    ASSERT_EQ(CUSTODY_EEXIST, store_mkdir(f.st, "r", "/d", false));
    ASSERT_OK(store_mkdir(f.st, "r", "/d", true));
    ASSERT_EQ(CUSTODY_ENOENT, store_mkdir(f.st, "r", "/x/y", false));
    ASSERT_EQ(CUSTODY_EEXIST, store_mkdir(f.st, "r", "/", false));
    ASSERT_OK(store_mkdir(f.st, "r", "/", true));
    test_write_file(f.root, "file", "x");
    ASSERT_EQ(CUSTODY_EEXIST, store_mkdir(f.st, "r", "/file", false));
    ASSERT_EQ(CUSTODY_EEXIST, store_mkdir(f.st, "r", "/file", true));
    ASSERT_EQ(CUSTODY_ENOTDIR, store_mkdir(f.st, "r", "/file/sub", false));
    ASSERT_EQ(CUSTODY_ENOTDIR, store_mkdir(f.st, "r", "/file/sub", true));
    ASSERT_EQ(CUSTODY_EBADPATH, store_mkdir(f.st, "r", "/" STORE_TMP_PREFIX "d", false));
    ASSERT_EQ(CUSTODY_EBADPATH, store_mkdir(f.st, "r", "/a/" STORE_TMP_PREFIX "d/b", true));
    ASSERT_EQ(CUSTODY_ENOROOT, store_mkdir(f.st, "q", "/d", false));
    fx_close(&f);
}

TEST(store_mkdir_parents)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(store_mkdir(f.st, "r", "/a/b/c/d", true));
    ASSERT(is_dir(f.root, "a/b/c/d"));
    ASSERT_OK(store_mkdir(f.st, "r", "/a/b/c/d", true));
    ASSERT_OK(store_mkdir(f.st, "r", "/a/b/e", true));
    /* through a symlink that stays inside */
    fx_symlink("a/b", f.root, "ab");
    ASSERT_OK(store_mkdir(f.st, "r", "/ab/x/y", true));
    ASSERT(is_dir(f.root, "a/b/x/y"));
    /* a dangling link inside the root is not created through */
    fx_symlink("nowhere", f.root, "dangling");
    ASSERT_EQ(CUSTODY_ENOENT, store_mkdir(f.st, "r", "/dangling/z", true));
    ASSERT(!fx_exists(f.root, "nowhere"));
    fx_close(&f);
}

TEST(store_move_basic)
{
    struct fx f;
    fx_open(&f, false);
    test_write_file(f.root, "a.txt", "A");
    test_write_file(f.root, "b.txt", "B");
    ASSERT_OK(store_move(f.st, "r", "/a.txt", "/c.txt", false));
    ASSERT(!fx_exists(f.root, "a.txt"));
    char *s = fx_disk(f.root, "c.txt");
    ASSERT_STR_EQ("A", s);
    free(s);
    ASSERT_EQ(CUSTODY_EEXIST, store_move(f.st, "r", "/c.txt", "/b.txt", false));
    s = fx_disk(f.root, "b.txt");
    ASSERT_STR_EQ("B", s);
    free(s);
    ASSERT_OK(store_move(f.st, "r", "/c.txt", "/b.txt", true));
    s = fx_disk(f.root, "b.txt");
    ASSERT_STR_EQ("A", s);
    free(s);
    ASSERT_EQ(CUSTODY_ENOENT, store_move(f.st, "r", "/missing", "/x", false));
    ASSERT_EQ(CUSTODY_ENOENT, store_move(f.st, "r", "/b.txt", "/no/dir/x", false));
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f.st, "r", "/b.txt", "/b.txt", false));
    ASSERT_EQ(CUSTODY_EPERM, store_move(f.st, "r", "/", "/x", false));
    ASSERT_EQ(CUSTODY_EPERM, store_move(f.st, "r", "/b.txt", "/", true));
    ASSERT_EQ(CUSTODY_EBADPATH, store_move(f.st, "r", "/b.txt", "/" STORE_TMP_PREFIX "x", false));
    ASSERT_EQ(CUSTODY_EESCAPE, store_move(f.st, "r", "/b.txt", "/../x", false));
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f.st, "r", "/b.txt", NULL, false));
    fx_close(&f);
}

TEST(store_move_directories)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "d/inner.txt", "in");
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f.st, "r", "/d", "/d/sub", false));
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f.st, "r", "/d", "/d/a/b", false));
    /* "/dx" is not inside "/d" */
    ASSERT_OK(store_move(f.st, "r", "/d", "/dx", false));
    char *s = fx_disk(f.root, "dx/inner.txt");
    ASSERT_STR_EQ("in", s);
    free(s);
    /* into itself through a symlink: the kernel refuses */
    fx_symlink("dx", f.root, "alias");
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f.st, "r", "/dx", "/alias/sub", false));
    /* file over a directory, directory over a file */
    test_write_file(f.root, "file", "f");
    ASSERT_EQ(CUSTODY_EISDIR, store_move(f.st, "r", "/file", "/dx", true));
    ASSERT_EQ(CUSTODY_ENOTDIR, store_move(f.st, "r", "/dx", "/file", true));
    /* into a subdirectory */
    fx_mkdir(f.root, "target");
    ASSERT_OK(store_move(f.st, "r", "/file", "/target/file", false));
    ASSERT(fx_exists(f.root, "target/file"));
    fx_close(&f);
}

TEST(store_delete_files_and_dirs)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "f.txt", "f");
    test_write_file(f.root, "full/x", "x");
    fx_mkdir(f.root, "empty");
    ASSERT_OK(store_delete(f.st, "r", "/f.txt", NULL));
    ASSERT(!fx_exists(f.root, "f.txt"));
    ASSERT_EQ(CUSTODY_ENOENT, store_delete(f.st, "r", "/f.txt", NULL));
    ASSERT_EQ(CUSTODY_ENOTEMPTY, store_delete(f.st, "r", "/full", NULL));
    ASSERT(fx_exists(f.root, "full/x"));
    ASSERT_OK(store_delete(f.st, "r", "/empty", NULL));
    ASSERT(!fx_exists(f.root, "empty"));
    ASSERT_EQ(CUSTODY_EPERM, store_delete(f.st, "r", "/", NULL));
    ASSERT_EQ(CUSTODY_ENOENT, store_delete(f.st, "r", "/nope/x", NULL));
    ASSERT_EQ(CUSTODY_EBADPATH, store_delete(f.st, "r", "/" STORE_TMP_PREFIX "x", NULL));
    fx_close(&f);
}

TEST(store_delete_preconditions)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "p.txt", "keep");
    char right[65], wrong[65];
    fx_sha_hex("keep", 4, right);
    fx_sha_hex("other", 5, wrong);
    struct store_precond pw = {.if_match = wrong};
    struct store_precond pr = {.if_match = right};
    struct store_precond none = {.if_none_match_any = true};
    ASSERT_EQ(CUSTODY_EPRECOND, store_delete(f.st, "r", "/p.txt", &pw));
    ASSERT_EQ(CUSTODY_EPRECOND, store_delete(f.st, "r", "/p.txt", &none));
    char *s = fx_disk(f.root, "p.txt");
    ASSERT_STR_EQ("keep", s);
    free(s);
    /* a failed precondition still records nothing but a possible snapshot */
    ASSERT_OK(store_delete(f.st, "r", "/p.txt", &pr));
    ASSERT(!fx_exists(f.root, "p.txt"));
    /* directories: "*" holds, a hash never does */
    fx_mkdir(f.root, "d");
    ASSERT_EQ(CUSTODY_EPRECOND, store_delete(f.st, "r", "/d", &pr));
    struct store_precond star = {.if_match = "*"};
    ASSERT_OK(store_delete(f.st, "r", "/d", &star));
    ASSERT_EQ(CUSTODY_ENOENT, store_delete(f.st, "r", "/d", &star));
    fx_close(&f);
}

TEST(store_delete_versions_off)
{
    struct fx f;
    fx_open(&f, false);
    test_write_file(f.root, "p.txt", "keep");
    ASSERT_OK(store_delete(f.st, "r", "/p.txt", NULL));
    struct store_version *v;
    size_t n;
    ASSERT_EQ(CUSTODY_ENOENT, store_versions(f.st, "r", "/p.txt", &v, &n));
    ASSERT_EQ(0, fx_count_objects(&f));
    fx_close(&f);
}

TEST(store_open_close_errors)
{
    struct store *st = (struct store *)1;
    ASSERT_EQ(CUSTODY_EINVAL, store_open(NULL, NULL, &st));
    char p[1200];
    fx_path(p, sizeof p, test_tmpdir(), "file-not-dir");
    test_write_file(test_tmpdir(), "file-not-dir", "x");
    ASSERT_NE(0, store_open(p, NULL, &st));
    ASSERT_NULL(st);
    store_close(NULL);
    /* default options */
    fx_path(p, sizeof p, test_tmpdir(), "state2");
    ASSERT_OK(store_open(p, NULL, &st));
    ASSERT(!store_has_root(st, "r"));
    store_close(st);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ASSERT_NOT_NULL(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* One round of operations touching success and failure paths. */
static void fd_round(struct fx *f, int i)
{
    char p[64], q[64];
    snprintf(p, sizeof p, "/f%d.txt", i);
    snprintf(q, sizeof q, "/g%d.txt", i);
    struct store_write_result res;
    struct store_precond none = {.if_none_match_any = true};
    struct store_precond bad = {.if_match = "0000"};
    struct store_handle h;
    struct store_dirent *d;
    struct store_version *v;
    struct store_writer *w;
    size_t n;
    ASSERT_OK(fx_puts(f, p, "one"));
    ASSERT_OK(fx_puts(f, p, "two"));
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(f, p, "x", 1, &none, &res));
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(f, p, "x", 1, &bad, &res));
    ASSERT_EQ(CUSTODY_EISDIR, fx_puts(f, "/dir", "x"));
    ASSERT_EQ(CUSTODY_ENOENT, fx_puts(f, "/nodir/x", "x"));
    ASSERT_EQ(CUSTODY_EESCAPE, fx_puts(f, "/out/x", "x"));
    ASSERT_OK(store_write_begin(f->st, "r", q, &w));
    store_write_abort(w);
    ASSERT_OK(store_open_read(f->st, "r", p, &h));
    char hex[65];
    ASSERT_OK(store_content_hash(f->st, h.fd, &h.st, true, hex));
    store_handle_close(&h);
    ASSERT_EQ(CUSTODY_EPERM, store_open_read(f->st, "r", "/fifo", &h));
    ASSERT_EQ(CUSTODY_EESCAPE, store_open_read(f->st, "r", "/out/secret", &h));
    ASSERT_OK(store_list(f->st, "r", "/", &d, &n, NULL));
    store_dirents_free(d, n);
    ASSERT_EQ(CUSTODY_ENOTDIR, store_list(f->st, "r", p, &d, &n, NULL));
    ASSERT_OK(store_versions(f->st, "r", p, &v, &n));
    free(v);
    ASSERT_OK(store_open_version(f->st, "r", p, 1, &h));
    store_handle_close(&h);
    ASSERT_OK(store_rollback(f->st, "r", p, 1, &res));
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f->st, "r", p, 99, &res));
    ASSERT_OK(store_move(f->st, "r", p, q, false));
    ASSERT_EQ(CUSTODY_ENOENT, store_move(f->st, "r", p, q, false));
    ASSERT_EQ(CUSTODY_EINVAL, store_move(f->st, "r", "/dir", "/dir/x", false));
    ASSERT_EQ(CUSTODY_EPRECOND, store_delete(f->st, "r", q, &bad));
    ASSERT_OK(store_delete(f->st, "r", q, NULL));
    ASSERT_EQ(CUSTODY_ENOTEMPTY, store_delete(f->st, "r", "/full", NULL));
    snprintf(p, sizeof p, "/m%d/a/b", i);
    ASSERT_OK(store_mkdir(f->st, "r", p, true));
    ASSERT_EQ(CUSTODY_EEXIST, store_mkdir(f->st, "r", p, false));
}

TEST(store_no_fd_leaks)
{
    (void)test_tmpdir();
    int start = count_fds();
    struct fx f;
    fx_open(&f, true);
    fx_mkdir(f.root, "dir");
    test_write_file(f.root, "full/x", "x");
    fx_symlink(f.outside, f.root, "out");
    char p[1200];
    fx_path(p, sizeof p, f.root, "fifo");
    ASSERT_OK(mkfifo(p, 0600));
    fd_round(&f, 0); /* warm up: SQLite opens its WAL and shm files once */
    int before = count_fds();
    for (int i = 1; i <= 3; i++)
        fd_round(&f, i);
    store_test_no_tmpfile = true;
    fd_round(&f, 4);
    store_test_no_tmpfile = false;
    ASSERT_EQ(before, count_fds());
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
    ASSERT_EQ(start, count_fds()); /* store_close releases everything */
}
