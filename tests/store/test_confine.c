/* test_confine.c — nothing resolved through the store may leave its root. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include "store_test.h"

static void expect_read_rc(struct fx *f, const char *path, int want)
{
    int rc = 0;
    char *data = fx_get(f, path, &rc, NULL);
    free(data);
    if (rc != want)
        TEST_FAIL_("read %s: rc %d (%s), want %d (%s)", path, rc, custody_err_code(rc), want,
                   custody_err_code(want));
}

TEST(store_confine_dotdot)
{
    struct fx f;
    fx_open(&f, true);
    expect_read_rc(&f, "/../outside/secret", CUSTODY_EESCAPE);
    expect_read_rc(&f, "../../../../etc/passwd", CUSTODY_EESCAPE);
    /* even if a caller bypassed normalisation, the kernel refuses */
    struct store_rootset *rs;
    int rootfd, fd = -1;
    ASSERT_OK(store_roots_acquire(f.st, "r", &rs, &rootfd));
    ASSERT_EQ(CUSTODY_EESCAPE, store_openat2(rootfd, "../outside/secret", O_RDONLY | O_CLOEXEC, 0,
                                             STORE_RESOLVE_FLAGS, &fd));
    ASSERT_EQ(CUSTODY_EESCAPE, store_openat2(rootfd, "/etc/passwd", O_RDONLY | O_CLOEXEC, 0,
                                             STORE_RESOLVE_FLAGS, &fd));
    ASSERT_EQ(-1, fd);
    store_roots_release(rs);
    fx_close(&f);
}

TEST(store_confine_absolute_symlink)
{
    struct fx f;
    fx_open(&f, true);
    fx_symlink("/etc/passwd", f.root, "passwd");
    char target[1200];
    fx_path(target, sizeof target, f.outside, "secret");
    fx_symlink(target, f.root, "abs-secret");
    expect_read_rc(&f, "/passwd", CUSTODY_EESCAPE);
    expect_read_rc(&f, "/abs-secret", CUSTODY_EESCAPE);
    /* an absolute link to a place inside the root is refused just the same */
    test_write_file(f.root, "inside.txt", "in");
    char inside[1200];
    fx_path(inside, sizeof inside, f.root, "inside.txt");
    fx_symlink(inside, f.root, "abs-inside");
    expect_read_rc(&f, "/abs-inside", CUSTODY_EESCAPE);
    fx_close(&f);
}

TEST(store_confine_relative_symlink_escape)
{
    struct fx f;
    fx_open(&f, true);
    fx_mkdir(f.root, "sub");
    fx_symlink("../../outside/secret", f.root, "sub/esc");
    fx_symlink("../outside", f.root, "outdir");
    fx_symlink("sub/../../outside/secret", f.root, "sneaky");
    expect_read_rc(&f, "/sub/esc", CUSTODY_EESCAPE);
    expect_read_rc(&f, "/outdir/secret", CUSTODY_EESCAPE);
    expect_read_rc(&f, "/outdir", CUSTODY_EESCAPE);
    expect_read_rc(&f, "/sneaky", CUSTODY_EESCAPE);
    struct store_dirent *d;
    size_t n;
    bool trunc;
    ASSERT_EQ(CUSTODY_EESCAPE, store_list(f.st, "r", "/outdir", &d, &n, &trunc));
    fx_close(&f);
}

TEST(store_confine_symlink_inside_allowed)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "sub/file.txt", "hello");
    test_write_file(f.root, "top.txt", "top");
    fx_symlink("sub/file.txt", f.root, "alias");
    fx_symlink("../top.txt", f.root, "sub/up");
    fx_symlink("sub", f.root, "subdir");
    int rc;
    char *s = fx_get(&f, "/alias", &rc, NULL);
    ASSERT_OK(rc);
    ASSERT_STR_EQ("hello", s);
    free(s);
    s = fx_get(&f, "/sub/up", &rc, NULL);
    ASSERT_OK(rc);
    ASSERT_STR_EQ("top", s);
    free(s);
    s = fx_get(&f, "/subdir/file.txt", &rc, NULL);
    ASSERT_OK(rc);
    ASSERT_STR_EQ("hello", s);
    free(s);
    /* writing through a symlinked parent that stays inside works */
    ASSERT_OK(fx_puts(&f, "/subdir/new.txt", "via link"));
    s = fx_disk(f.root, "sub/new.txt");
    ASSERT_STR_EQ("via link", s);
    free(s);
    fx_close(&f);
}

TEST(store_confine_symlink_swap)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "real/f.txt", "inside");
    test_write_file(f.outside, "f.txt", "outside!");
    fx_symlink("real", f.root, "d");
    int rc;
    char *s = fx_get(&f, "/d/f.txt", &rc, NULL);
    ASSERT_OK(rc);
    ASSERT_STR_EQ("inside", s);
    free(s);
    /* swap the directory link to point outside: the next use is refused */
    fx_symlink(f.outside, f.root, "d");
    expect_read_rc(&f, "/d/f.txt", CUSTODY_EESCAPE);
    ASSERT_EQ(CUSTODY_EESCAPE, fx_puts(&f, "/d/f.txt", "overwrite"));
    fx_symlink("../outside", f.root, "d");
    expect_read_rc(&f, "/d/f.txt", CUSTODY_EESCAPE);
    ASSERT_EQ(CUSTODY_EESCAPE, store_delete(f.st, "r", "/d/f.txt", NULL));
    s = fx_disk(f.outside, "f.txt");
    ASSERT_STR_EQ("outside!", s);
    free(s);
    /* and back inside: allowed again */
    fx_symlink("real", f.root, "d");
    expect_read_rc(&f, "/d/f.txt", 0);
    fx_close(&f);
}

TEST(store_confine_swap_during_write)
{
    /* begin pins the parent directory: swapping the link afterwards cannot
     * redirect the commit outside */
    struct fx f;
    fx_open(&f, true);
    fx_mkdir(f.root, "real");
    fx_symlink("real", f.root, "d");
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/d/x.txt", &w));
    ASSERT_OK(store_write_append(w, "data", 4));
    fx_symlink(f.outside, f.root, "d");
    struct store_write_result res;
    ASSERT_OK(store_write_commit(w, NULL, &res));
    ASSERT(!fx_exists(f.outside, "x.txt"));
    char *s = fx_disk(f.root, "real/x.txt");
    ASSERT_STR_EQ("data", s);
    free(s);
    fx_close(&f);
}

TEST(store_confine_proc_magic_links)
{
    struct fx f;
    fx_open(&f, true);
    fx_symlink("/proc/self/root", f.root, "self-root");
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    char fdlink[64];
    snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", fd >= 0 ? fd : 0);
    fx_symlink(fdlink, f.root, "fdlink");
    expect_read_rc(&f, "/self-root/etc/passwd", CUSTODY_EESCAPE);
    expect_read_rc(&f, "/fdlink", CUSTODY_EESCAPE);
    fx_close(&f);

    /* A root where magic links are reachable without an absolute symlink:
     * /proc/self itself. RESOLVE_NO_MAGICLINKS refuses them (ELOOP). */
    struct fx g;
    fx_open(&g, false);
    struct cfg_root r = {.name = (char *)"p", .path = (char *)"/proc/self"};
    ASSERT_OK(store_set_roots(g.st, &r, 1, NULL));
    static const char *magic[] = {"/root/etc/passwd", "/root", "/cwd", "/exe", "/fd/0"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(magic); i++) {
        struct store_handle h;
        int rc = store_open_read(g.st, "p", magic[i], &h);
        if (rc != CUSTODY_ELOOP)
            TEST_FAIL_("p:%s: rc %d (%s), want too_many_links", magic[i], rc, custody_err_code(rc));
    }
    if (fd >= 0) {
        char p[64];
        snprintf(p, sizeof p, "/fd/%d", fd);
        struct store_handle h;
        ASSERT_EQ(CUSTODY_ELOOP, store_open_read(g.st, "p", p, &h));
        close(fd);
    }
    /* ordinary files of the proc dir are readable: the root works */
    struct store_handle h;
    ASSERT_OK(store_open_read(g.st, "p", "/status", &h));
    store_handle_close(&h);
    fx_close(&g);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "store_confine_fifo: blocked on a FIFO\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

TEST(store_confine_fifo_refused)
{
    struct fx f;
    fx_open(&f, true);
    char p[1200];
    fx_path(p, sizeof p, f.root, "fifo");
    ASSERT_OK(mkfifo(p, 0644));
    fx_symlink("fifo", f.root, "fifo-link");
    signal(SIGALRM, on_alarm);
    alarm(10);
    expect_read_rc(&f, "/fifo", CUSTODY_EPERM);
    expect_read_rc(&f, "/fifo-link", CUSTODY_EPERM);
    struct store_writer *w;
    ASSERT_EQ(CUSTODY_EPERM, store_write_begin(f.st, "r", "/fifo", &w));
    alarm(0);
    struct store_dirent *d;
    size_t n;
    bool trunc;
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, &trunc));
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, "fifo") == 0) seen = d[i].type == STORE_OTHER;
    ASSERT(seen);
    store_dirents_free(d, n);
    fx_close(&f);
}

TEST(store_confine_socket_and_device_refused)
{
    struct fx f;
    fx_open(&f, true);
    char p[1200];
    fx_path(p, sizeof p, f.root, "sock");
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (util_strlcpy(sa.sun_path, p, sizeof sa.sun_path) < sizeof sa.sun_path) {
        ASSERT_OK(bind(s, (struct sockaddr *)&sa, sizeof sa));
        expect_read_rc(&f, "/sock", CUSTODY_EPERM);
    }
    close(s);
    fx_path(p, sizeof p, f.root, "null");
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0)
        expect_read_rc(&f, "/null", CUSTODY_EPERM);
    else
        printf("store_confine_socket_and_device_refused: mknod skipped (%s)\n", strerror(errno));
    fx_close(&f);
}

TEST(store_confine_write_through_escaping_parent)
{
    struct fx f;
    fx_open(&f, true);
    fx_symlink(f.outside, f.root, "abs-out");
    fx_symlink("../outside", f.root, "rel-out");
    test_write_file(f.root, "file.txt", "mine");
    static const char *links[] = {"/abs-out", "/rel-out"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(links); i++) {
        char p[256], q[256];
        snprintf(p, sizeof p, "%s/new.txt", links[i]);
        snprintf(q, sizeof q, "%s/secret", links[i]);
        ASSERT_EQ(CUSTODY_EESCAPE, fx_puts(&f, p, "pwned"));
        ASSERT_EQ(CUSTODY_EESCAPE, fx_puts(&f, q, "pwned"));
        snprintf(p, sizeof p, "%s/newdir", links[i]);
        ASSERT_EQ(CUSTODY_EESCAPE, store_mkdir(f.st, "r", p, false));
        snprintf(p, sizeof p, "%s/a/b/c", links[i]);
        ASSERT_EQ(CUSTODY_EESCAPE, store_mkdir(f.st, "r", p, true));
        ASSERT_EQ(CUSTODY_EESCAPE, store_delete(f.st, "r", q, NULL));
        snprintf(p, sizeof p, "%s/moved.txt", links[i]);
        ASSERT_EQ(CUSTODY_EESCAPE, store_move(f.st, "r", "/file.txt", p, false));
        ASSERT_EQ(CUSTODY_EESCAPE, store_move(f.st, "r", q, "/stolen", false));
    }
    ASSERT(!fx_exists(f.outside, "new.txt"));
    ASSERT(!fx_exists(f.outside, "newdir"));
    ASSERT(!fx_exists(f.outside, "a"));
    ASSERT(!fx_exists(f.outside, "moved.txt"));
    ASSERT(!fx_exists(f.root, "stolen"));
    char *s = fx_disk(f.outside, "secret");
    ASSERT_STR_EQ("top secret\n", s);
    free(s);
    s = fx_disk(f.root, "file.txt");
    ASSERT_STR_EQ("mine", s);
    free(s);
    fx_close(&f);
}

/* lstat says it is a symlink still pointing at `target`. */
static void expect_link(struct fx *f, const char *rel, const char *target)
{
    char p[1200], got[1200];
    struct stat sb;
    fx_path(p, sizeof p, f->root, rel);
    ASSERT_OK(lstat(p, &sb));
    if (!S_ISLNK(sb.st_mode)) TEST_FAIL_("%s is no longer a symlink", rel);
    ssize_t n = readlink(p, got, sizeof got - 1);
    ASSERT(n >= 0);
    got[n] = '\0';
    ASSERT_STR_EQ(target, got);
}

TEST(store_confine_write_final_symlink_escaping_refused)
{
    struct fx f;
    fx_open(&f, true);
    char target[1200], inside[1200];
    fx_path(target, sizeof target, f.outside, "secret");
    test_write_file(f.root, "in.txt", "in");
    fx_path(inside, sizeof inside, f.root, "in.txt");
    fx_mkdir(f.root, "sub");
    fx_symlink(target, f.root, "abs-out");
    fx_symlink("../outside/secret", f.root, "rel-out");
    fx_symlink("../../outside/new.txt", f.root, "sub/rel-out-missing");
    fx_symlink("sub/rel-out-missing", f.root, "chain-out");
    fx_symlink(inside, f.root, "abs-in"); /* absolute: refused like reads refuse it */
    static const char *links[] = {"abs-out", "rel-out", "sub/rel-out-missing", "chain-out",
                                  "abs-in"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(links); i++) {
        char p[256];
        snprintf(p, sizeof p, "/%s", links[i]);
        ASSERT_EQ(CUSTODY_EESCAPE, fx_puts(&f, p, "pwned"));
        struct store_precond create = {.if_none_match_any = true};
        ASSERT_EQ(CUSTODY_EESCAPE, fx_put(&f, p, "x", 1, &create, NULL));
        struct store_version *v;
        size_t n;
        ASSERT_EQ(CUSTODY_ENOENT, store_versions(f.st, "r", p, &v, &n));
    }
    /* nothing changed: the links, their targets, and no temp left behind */
    expect_link(&f, "abs-out", target);
    expect_link(&f, "rel-out", "../outside/secret");
    expect_link(&f, "sub/rel-out-missing", "../../outside/new.txt");
    expect_link(&f, "chain-out", "sub/rel-out-missing");
    expect_link(&f, "abs-in", inside);
    char *s = fx_disk(f.outside, "secret");
    ASSERT_STR_EQ("top secret\n", s);
    free(s);
    ASSERT(!fx_exists(f.outside, "new.txt"));
    s = fx_disk(f.root, "in.txt");
    ASSERT_STR_EQ("in", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    ASSERT_EQ(0, fx_count_tmp(f.outside));
    fx_close(&f);
}

TEST(store_confine_write_through_final_symlink_inside)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "sub/file.txt", "old");
    test_write_file(f.root, "top.txt", "top");
    char p[1200];
    fx_path(p, sizeof p, f.root, "sub/file.txt");
    ASSERT_OK(chmod(p, 0600));
    fx_symlink("sub/file.txt", f.root, "alias");
    fx_symlink("alias", f.root, "alias2");      /* a chain of links */
    fx_symlink("../top.txt", f.root, "sub/up"); /* relative to the link's directory */
    fx_symlink("sub", f.root, "subdir");

    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/alias", "new", 3, NULL, &res));
    ASSERT(!res.created);
    expect_link(&f, "alias", "sub/file.txt");
    char *s = fx_disk(f.root, "sub/file.txt");
    ASSERT_STR_EQ("new", s);
    free(s);
    struct stat sb;
    ASSERT_OK(stat(p, &sb));
    ASSERT_EQ(0600, sb.st_mode & 0777); /* the target's mode is kept */
    /* the history is the target's: the old content is a version of it */
    struct store_version *v;
    size_t n;
    ASSERT_OK(store_versions(f.st, "r", "/sub/file.txt", &v, &n));
    ASSERT_EQ(2, n);
    ASSERT_STR_EQ("external", v[0].op);
    ASSERT_STR_EQ("write", v[1].op);
    free(v);

    ASSERT_OK(fx_puts(&f, "/alias2", "via chain"));
    expect_link(&f, "alias2", "alias");
    expect_link(&f, "alias", "sub/file.txt");
    s = fx_disk(f.root, "sub/file.txt");
    ASSERT_STR_EQ("via chain", s);
    free(s);
    ASSERT_OK(fx_puts(&f, "/sub/up", "up"));
    ASSERT_OK(fx_puts(&f, "/subdir/up", "up again"));
    expect_link(&f, "sub/up", "../top.txt");
    s = fx_disk(f.root, "top.txt");
    ASSERT_STR_EQ("up again", s);
    free(s);

    /* preconditions are about the target's content */
    char hex[65];
    fx_sha_hex("up again", 8, hex);
    struct store_precond pre = {.if_match = hex};
    ASSERT_OK(fx_put(&f, "/sub/up", "matched", 7, &pre, NULL));
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/sub/up", "stale", 5, &pre, NULL));
    struct store_precond create = {.if_none_match_any = true};
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/alias", "x", 1, &create, NULL));
    s = fx_disk(f.root, "top.txt");
    ASSERT_STR_EQ("matched", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_confine_write_final_symlink_odd_targets)
{
    struct fx f;
    fx_open(&f, true);
    fx_mkdir(f.root, "dir");
    test_write_file(f.root, "a/x.txt", "a/x");
    fx_mkdir(f.root, "a/b");
    fx_symlink("missing.txt", f.root, "dangling");
    fx_symlink("dir", f.root, "dirlink");
    fx_symlink(".", f.root, "rootlink");
    fx_symlink("loop2", f.root, "loop1");
    fx_symlink("loop1", f.root, "loop2");
    /* "bl/.." is a/ to the kernel (bl -> a/b) but the root to the text */
    fx_symlink("a/b", f.root, "bl");
    fx_symlink("bl/../x.txt", f.root, "dotdot");
    ASSERT_EQ(CUSTODY_ENOENT, fx_puts(&f, "/dangling", "x")); /* nothing made through it */
    ASSERT(!fx_exists(f.root, "missing.txt"));
    expect_link(&f, "dangling", "missing.txt");
    ASSERT_EQ(CUSTODY_EISDIR, fx_puts(&f, "/dirlink", "x"));
    expect_link(&f, "dirlink", "dir");
    ASSERT_EQ(CUSTODY_EISDIR, fx_puts(&f, "/rootlink", "x"));
    ASSERT_EQ(CUSTODY_ELOOP, fx_puts(&f, "/loop1", "x"));
    expect_link(&f, "loop1", "loop2");
    ASSERT_EQ(CUSTODY_ECONFLICT, fx_puts(&f, "/dotdot", "x"));
    expect_link(&f, "dotdot", "bl/../x.txt");
    char *s = fx_disk(f.root, "a/x.txt");
    ASSERT_STR_EQ("a/x", s);
    free(s);
    /* a FIFO behind a link is refused as the FIFO itself is */
    char p[1200];
    fx_path(p, sizeof p, f.root, "fifo");
    ASSERT_OK(mkfifo(p, 0644));
    fx_symlink("fifo", f.root, "fifolink");
    ASSERT_EQ(CUSTODY_EPERM, fx_puts(&f, "/fifolink", "x"));
    /* rollback goes through the same door */
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/loop1", 1, NULL));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_confine_delete_and_move_act_on_links)
{
    struct fx f;
    fx_open(&f, true);
    char target[1200], p[1200];
    struct stat sb;
    fx_path(target, sizeof target, f.outside, "secret");
    /* deleting a link removes the link, never its target */
    fx_symlink(target, f.root, "lnk2");
    ASSERT_OK(store_delete(f.st, "r", "/lnk2", NULL));
    ASSERT(!fx_exists(f.root, "lnk2"));
    ASSERT(fx_exists(f.outside, "secret"));
    /* moving a link moves the link */
    fx_symlink(target, f.root, "lnk3");
    ASSERT_OK(store_move(f.st, "r", "/lnk3", "/lnk4", false));
    fx_path(p, sizeof p, f.root, "lnk4");
    ASSERT_OK(lstat(p, &sb));
    ASSERT(S_ISLNK(sb.st_mode));
    ASSERT(fx_exists(f.outside, "secret"));
    fx_close(&f);
}

TEST(store_confine_intermediate_not_dir)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "file.txt", "x");
    expect_read_rc(&f, "/file.txt/x", CUSTODY_ENOTDIR);
    ASSERT_EQ(CUSTODY_ENOTDIR, fx_puts(&f, "/file.txt/x", "y"));
    expect_read_rc(&f, "/missing/x", CUSTODY_ENOENT);
    fx_close(&f);
}

TEST(store_confine_symlink_loop)
{
    struct fx f;
    fx_open(&f, true);
    fx_symlink("loop2", f.root, "loop1");
    fx_symlink("loop1", f.root, "loop2");
    expect_read_rc(&f, "/loop1", CUSTODY_ELOOP);
    expect_read_rc(&f, "/loop1/x", CUSTODY_ELOOP);
    fx_close(&f);
}

TEST(store_confine_no_openat2_no_fallback)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "a.txt", "a");
    expect_read_rc(&f, "/a.txt", 0);
    /* From here on openat2 answers ENOSYS, as on a kernel before 5.6. */
    struct sock_filter filt[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = UTIL_ARRAY_LEN(filt), .filter = filt};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        printf("store_confine_no_openat2_no_fallback: skipped (seccomp: %s)\n", strerror(errno));
        fx_close(&f);
        return;
    }
    expect_read_rc(&f, "/a.txt", CUSTODY_EUNAVAIL);
    ASSERT_EQ(CUSTODY_EUNAVAIL, fx_puts(&f, "/b.txt", "b"));
    ASSERT_EQ(CUSTODY_EUNAVAIL, store_mkdir(f.st, "r", "/d", false));
    ASSERT_EQ(CUSTODY_EUNAVAIL, store_delete(f.st, "r", "/a.txt", NULL));
    struct store_dirent *d;
    size_t n;
    ASSERT_EQ(CUSTODY_EUNAVAIL, store_list(f.st, "r", "/", &d, &n, NULL));
    ASSERT(fx_exists(f.root, "a.txt"));
    ASSERT(!fx_exists(f.root, "b.txt"));
    ASSERT(!fx_exists(f.root, "d"));
    char state2[1200];
    fx_path(state2, sizeof state2, f.base, "state2");
    struct store *st2;
    ASSERT_EQ(CUSTODY_EUNAVAIL, store_open(state2, NULL, &st2));
    fx_close(&f);
}
