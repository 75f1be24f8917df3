/* test_read.c — store_open_read, store_list, roots. */
#include "store_test.h"

TEST(store_read_file_and_dir)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "a/b.txt", "hello world");
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/a/b.txt", &h));
    ASSERT_EQ(STORE_FILE, h.type);
    ASSERT_EQ(11, h.st.st_size);
    size_t n;
    char *s = fx_read_fd(h.fd, &n);
    ASSERT_STR_EQ("hello world", s);
    free(s);
    store_handle_close(&h);
    ASSERT_EQ(-1, h.fd);
    store_handle_close(&h); /* twice is harmless */

    ASSERT_OK(store_open_read(f.st, "r", "a/./b.txt", &h)); /* normalised by the store */
    store_handle_close(&h);
    ASSERT_OK(store_open_read(f.st, "r", "/a", &h));
    ASSERT_EQ(STORE_DIR, h.type);
    store_handle_close(&h);
    ASSERT_OK(store_open_read(f.st, "r", "/", &h));
    ASSERT_EQ(STORE_DIR, h.type);
    store_handle_close(&h);
    fx_close(&f);
}

TEST(store_read_errors)
{
    struct fx f;
    fx_open(&f, true);
    struct store_handle h;
    ASSERT_EQ(CUSTODY_ENOENT, store_open_read(f.st, "r", "/nope", &h));
    ASSERT_EQ(-1, h.fd);
    ASSERT_EQ(CUSTODY_ENOROOT, store_open_read(f.st, "zz", "/", &h));
    ASSERT_EQ(CUSTODY_EBADPATH, store_open_read(f.st, "r", "/a\x01", &h));
    ASSERT_EQ(CUSTODY_EESCAPE, store_open_read(f.st, "r", "/..", &h));
    ASSERT_EQ(CUSTODY_EINVAL, store_open_read(f.st, "r", NULL, &h));
    fx_close(&f);
}

TEST(store_read_fd_flags)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "x", "x");
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/x", &h));
    int fl = fcntl(h.fd, F_GETFD);
    ASSERT(fl & FD_CLOEXEC);
    int acc = fcntl(h.fd, F_GETFL) & O_ACCMODE;
    ASSERT_EQ(O_RDONLY, acc);
    store_handle_close(&h);
    fx_close(&f);
}

static const struct store_dirent *find(const struct store_dirent *d, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0) return &d[i];
    return NULL;
}

TEST(store_list_sorted_typed_hidden)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "b", "bb");
    test_write_file(f.root, "a", "a");
    test_write_file(f.root, "C", "c");
    test_write_file(f.root, "_x", "");
    test_write_file(f.root, "aa", "");
    test_write_file(f.root, ".hidden", "dot files are listed");
    test_write_file(f.root, STORE_TMP_PREFIX "0123456789abcdef", "temp");
    test_write_file(f.root, "caf\xc3\xa9", "");
    fx_mkdir(f.root, "dir");
    fx_symlink("a", f.root, "link");
    fx_symlink("/etc/passwd", f.root, "outlink");
    struct store_dirent *d;
    size_t n;
    bool trunc = true;
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, &trunc));
    ASSERT(!trunc);
    static const char *want[] = {".hidden", "C",           "_x",  "a",    "aa",
                                 "b",       "caf\xc3\xa9", "dir", "link", "outlink"};
    /* strcmp order: bytes, so "caf\xc3\xa9" sorts after "b" and before "dir" */
    ASSERT_EQ(UTIL_ARRAY_LEN(want), n);
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(want[i], d[i].name);
    ASSERT_EQ(STORE_FILE, find(d, n, "b")->type);
    ASSERT_EQ(2, find(d, n, "b")->size);
    ASSERT(find(d, n, "b")->mtime_ns > 0);
    ASSERT_EQ(STORE_DIR, find(d, n, "dir")->type);
    ASSERT_EQ(STORE_SYMLINK, find(d, n, "link")->type);
    ASSERT_EQ(STORE_SYMLINK, find(d, n, "outlink")->type);
    ASSERT_EQ(1, find(d, n, "link")->size); /* the link's own size: not followed */
    store_dirents_free(d, n);
    fx_close(&f);
}

/* The birth time statx gives for path (0 when the file system has none). */
static uint64_t btime_of(const char *path, int flags)
{
    struct statx sx;
    ASSERT_OK(statx(AT_FDCWD, path, flags, STATX_BTIME, &sx));
    if (!(sx.stx_mask & STATX_BTIME)) return 0;
    return (uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec;
}

TEST(store_statx_matches_fstat)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "d/a.txt", "abc");
    fx_symlink("d/a.txt", f.root, "l");
    int dfd = open(f.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT(dfd >= 0);
    static const struct {
        const char *name;
        int flags;
    } cases[] = {{"d/a.txt", 0}, {"d", 0}, {"l", AT_SYMLINK_NOFOLLOW}, {"l", 0}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct stat a, b;
        uint64_t bt;
        ASSERT_OK(fstatat(dfd, cases[i].name, &a, cases[i].flags));
        ASSERT_OK(store_statx(dfd, cases[i].name, cases[i].flags, &b, &bt));
        /* what the hash cache keys and validates on must be the same */
        ASSERT(a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode);
        ASSERT(a.st_size == b.st_size && a.st_nlink == b.st_nlink && a.st_uid == b.st_uid);
        ASSERT(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
        ASSERT(a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec);
        ASSERT(a.st_atim.tv_sec == b.st_atim.tv_sec && a.st_atim.tv_nsec == b.st_atim.tv_nsec);
        char p[1200];
        fx_path(p, sizeof p, f.root, cases[i].name);
        ASSERT_EQ(btime_of(p, cases[i].flags), bt);
    }
    struct stat sb;
    uint64_t bt;
    ASSERT_EQ(CUSTODY_ENOENT, store_statx(dfd, "missing", 0, &sb, &bt));
    close(dfd);
    fx_close(&f);
}

TEST(store_metadata_mode_times_and_link_targets)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "a.txt", "hello");
    test_write_file(f.root, "sub/deep.txt", "0123456789");
    char p[1200];
    fx_path(p, sizeof p, f.root, "a.txt");
    ASSERT_OK(chmod(p, 0640));
    struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 5}, /* atime */
                                {.tv_sec = 1500000000, .tv_nsec = 7}};
    ASSERT_OK(utimensat(AT_FDCWD, p, times, 0));
    fx_path(p, sizeof p, f.root, "sub");
    ASSERT_OK(chmod(p, 01750));
    fx_symlink("a.txt", f.root, "in");
    fx_symlink("sub/../sub/deep.txt", f.root, "in2");
    fx_symlink("../a.txt", f.root, "sub/up");
    fx_symlink("sub", f.root, "dirlink");
    fx_symlink("../outside/secret", f.root, "out");
    fx_symlink("/etc/passwd", f.root, "abs");
    fx_symlink("nothing", f.root, "dangling");

    /* a file opened for reading: mode, times, birth time */
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/in", &h));
    ASSERT_EQ(0640, h.st.st_mode & 07777);
    ASSERT_EQ(1000000000, h.st.st_atim.tv_sec);
    ASSERT_EQ(1500000000, h.st.st_mtim.tv_sec);
    fx_path(p, sizeof p, f.root, "a.txt");
    ASSERT_EQ(btime_of(p, 0), h.btime_ns);
    store_handle_close(&h);

    struct store_dirent *d;
    size_t n;
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, NULL));
    const struct store_dirent *e = find(d, n, "a.txt");
    ASSERT_EQ(0640, e->mode);
    ASSERT_EQ(1000000000000000005ull, e->atime_ns);
    ASSERT_EQ(1500000000000000007ull, e->mtime_ns);
    ASSERT_EQ(btime_of(p, 0), e->btime_ns);
    ASSERT_EQ(0, e->target_type);
    ASSERT_EQ(01750, find(d, n, "sub")->mode);
    /* links: described as themselves, plus what reads would reach */
    e = find(d, n, "in");
    ASSERT_EQ(STORE_SYMLINK, e->type);
    ASSERT_EQ(5, e->size); /* strlen("a.txt") */
    ASSERT_EQ(0777, e->mode);
    ASSERT_EQ(STORE_FILE, e->target_type);
    ASSERT_EQ(5, e->target_size); /* the content "hello" */
    ASSERT_EQ(STORE_FILE, find(d, n, "in2")->target_type);
    ASSERT_EQ(10, find(d, n, "in2")->target_size);
    ASSERT_EQ(STORE_DIR, find(d, n, "dirlink")->target_type);
    static const char *none[] = {"out", "abs", "dangling"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(none); i++) {
        e = find(d, n, none[i]);
        ASSERT_EQ(STORE_SYMLINK, e->type);
        ASSERT_EQ(0, e->target_type);
        ASSERT_EQ(0, e->target_size);
    }
    store_dirents_free(d, n);
    /* a link in a subdirectory resolves from there, still beneath the root */
    ASSERT_OK(store_list(f.st, "r", "/sub", &d, &n, NULL));
    ASSERT_EQ(STORE_FILE, find(d, n, "up")->target_type);
    ASSERT_EQ(5, find(d, n, "up")->target_size);
    store_dirents_free(d, n);
    ASSERT_OK(store_list(f.st, "r", "/dirlink", &d, &n, NULL));
    ASSERT_EQ(STORE_FILE, find(d, n, "up")->target_type);
    store_dirents_free(d, n);
    fx_close(&f);
}

TEST(store_list_truncation)
{
    struct fx f;
    fx_open_at(&f, test_tmpdir(), true, 3);
    ASSERT_OK(fx_puts(&f, "/e", ""));
    ASSERT_OK(fx_puts(&f, "/b", ""));
    ASSERT_OK(fx_puts(&f, "/d", ""));
    struct store_dirent *d;
    size_t n;
    bool trunc;
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, &trunc));
    ASSERT_EQ(3, n);
    ASSERT(!trunc); /* exactly at the cap */
    store_dirents_free(d, n);
    ASSERT_OK(fx_puts(&f, "/a", ""));
    ASSERT_OK(fx_puts(&f, "/c", ""));
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, &trunc));
    ASSERT(trunc);
    ASSERT_EQ(3, n);
    ASSERT_STR_EQ("a", d[0].name); /* the first names in order, not the first read */
    ASSERT_STR_EQ("b", d[1].name);
    ASSERT_STR_EQ("c", d[2].name);
    store_dirents_free(d, n);
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, NULL)); /* truncated is optional */
    store_dirents_free(d, n);
    fx_close(&f);
}

TEST(store_list_large_dir_bounded)
{
    struct fx f;
    fx_open_at(&f, test_tmpdir(), false, 10);
    fx_mkdir(f.root, "big");
    char dir[1200];
    fx_path(dir, sizeof dir, f.root, "big");
    for (int i = 999; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof name, "f%04d", (i * 7919) % 1000);
        test_write_file(dir, name, "");
    }
    struct store_dirent *d;
    size_t n;
    bool trunc;
    ASSERT_OK(store_list(f.st, "r", "/big", &d, &n, &trunc));
    ASSERT(trunc);
    ASSERT_EQ(10, n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "f%04zu", i);
        ASSERT_STR_EQ(want, d[i].name);
    }
    store_dirents_free(d, n);
    fx_close(&f);
}

TEST(store_list_errors)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "file", "x");
    struct store_dirent *d = (struct store_dirent *)1;
    size_t n = 7;
    bool trunc;
    ASSERT_EQ(CUSTODY_ENOTDIR, store_list(f.st, "r", "/file", &d, &n, &trunc));
    ASSERT_NULL(d);
    ASSERT_EQ(0, n);
    ASSERT_EQ(CUSTODY_ENOENT, store_list(f.st, "r", "/missing", &d, &n, &trunc));
    ASSERT_EQ(CUSTODY_ENOROOT, store_list(f.st, "nope", "/", &d, &n, &trunc));
    fx_mkdir(f.root, "empty");
    ASSERT_OK(store_list(f.st, "r", "/empty", &d, &n, &trunc));
    ASSERT_EQ(0, n);
    store_dirents_free(d, n);
    fx_close(&f);
}

TEST(store_roots_set_and_swap)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT(store_has_root(f.st, "r"));
    ASSERT(!store_has_root(f.st, "other"));
    test_write_file(f.root, "keep.txt", "kept");
    char other[1200];
    fx_path(other, sizeof other, f.base, "other");
    ASSERT_OK(util_mkdir_p(other, 0755));
    test_write_file(other, "o.txt", "o");

    /* a handle and a writer started under the old set keep working */
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/keep.txt", &h));
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/late.txt", &w));

    struct cfg_root roots[] = {
        {.name = (char *)"other", .path = other},
        {.name = (char *)"bad", .path = (char *)"/nonexistent/custody/dir"},
        {.name = (char *)"-invalid", .path = other},
        {.name = (char *)"other", .path = f.root},
        {.name = (char *)"rel", .path = (char *)"relative/path"},
    };
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ECONFIG, store_set_roots(f.st, roots, UTIL_ARRAY_LEN(roots), &err));
    ASSERT_STR_CONTAINS(err.buf, "root bad: ");
    ASSERT_STR_CONTAINS(err.buf, "root -invalid: ");
    ASSERT_STR_CONTAINS(err.buf, "root other: defined more than once");
    ASSERT_STR_CONTAINS(err.buf, "root rel: ");
    sb_free(&err);
    ASSERT(store_has_root(f.st, "other"));
    ASSERT(!store_has_root(f.st, "bad"));
    ASSERT(!store_has_root(f.st, "r"));
    struct store_handle h2;
    ASSERT_EQ(CUSTODY_ENOROOT, store_open_read(f.st, "r", "/keep.txt", &h2));
    ASSERT_OK(store_open_read(f.st, "other", "/o.txt", &h2)); /* first definition won */
    store_handle_close(&h2);

    char *s = fx_read_fd(h.fd, NULL);
    ASSERT_STR_EQ("kept", s);
    free(s);
    store_handle_close(&h);
    ASSERT_OK(store_write_append(w, "late", 4));
    struct store_write_result res;
    ASSERT_OK(store_write_commit(w, NULL, &res));
    s = fx_disk(f.root, "late.txt");
    ASSERT_STR_EQ("late", s);
    free(s);

    ASSERT_OK(store_set_roots(f.st, NULL, 0, NULL));
    ASSERT(!store_has_root(f.st, "other"));
    fx_close(&f);
}

TEST(store_roots_many_sorted_lookup)
{
    struct fx f;
    fx_open(&f, false);
    enum { N = 200 };
    struct cfg_root roots[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "r%03d", (i * 37) % N);
        roots[i].name = names[i];
        roots[i].path = f.root;
        roots[i].labels = NULL;
        roots[i].nlabels = 0;
    }
    ASSERT_OK(store_set_roots(f.st, roots, N, NULL));
    for (int i = 0; i < N; i++) {
        char n[16];
        snprintf(n, sizeof n, "r%03d", i);
        ASSERT(store_has_root(f.st, n));
    }
    ASSERT(!store_has_root(f.st, "r200"));
    ASSERT(!store_has_root(f.st, ""));
    fx_close(&f);
}
