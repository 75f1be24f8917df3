/* test_enospc.c — a full disk leaves the old file intact and no temp behind.
 *
 * Needs to mount a small tmpfs: done in a private mount namespace (so the
 * mount cannot leak out of this test process) and skipped with "skipped"
 * when that is not allowed (not root, no CAP_SYS_ADMIN, seccomp). */
#include <sched.h>
#include <sys/mount.h>

#include "store_test.h"

static bool mount_tiny_tmpfs(const char *dir, const char *size, const char *test)
{
    if (unshare(CLONE_NEWNS) != 0) {
        printf("%s: skipped (unshare: %s)\n", test, strerror(errno));
        return false;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        printf("%s: skipped (make-rprivate: %s)\n", test, strerror(errno));
        return false;
    }
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s,mode=0755", size);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
        printf("%s: skipped (mount tmpfs: %s)\n", test, strerror(errno));
        return false;
    }
    return true;
}

TEST(store_enospc_root_full)
{
    const char *base = test_tmpdir();
    char root[1200];
    fx_path(root, sizeof root, base, "root");
    ASSERT_OK(util_mkdir_p(root, 0755));
    if (!mount_tiny_tmpfs(root, "64k", "store_enospc_root_full")) return;
    struct fx f;
    fx_open_at(&f, base, true, 100);
    ASSERT_OK(fx_puts(&f, "/old.txt", "old content"));

    enum { CHUNK = 16 * 1024 };
    char *buf = malloc(CHUNK);
    memset(buf, 'z', CHUNK);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/old.txt", &w));
    int rc = 0;
    for (int i = 0; i < 64 && !rc; i++) /* up to 1 MiB into a 64 KiB fs */
        rc = store_write_append(w, buf, CHUNK);
    ASSERT_EQ(CUSTODY_ENOSPC, rc);
    ASSERT_EQ(CUSTODY_ENOSPC, store_write_append(w, buf, 1)); /* sticky */
    struct store_write_result res;
    ASSERT_EQ(CUSTODY_ENOSPC, store_write_commit(w, NULL, &res)); /* commit also frees */
    char *s = fx_disk(f.root, "old.txt");
    ASSERT_STR_EQ("old content", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));

    /* the space came back: a small write works again */
    ASSERT_OK(fx_puts(&f, "/old.txt", "new content"));
    s = fx_disk(f.root, "old.txt");
    ASSERT_STR_EQ("new content", s);
    free(s);

    /* same with the named-temp fallback, and with abort */
    store_test_no_tmpfile = true;
    ASSERT_OK(store_write_begin(f.st, "r", "/old.txt", &w));
    rc = 0;
    for (int i = 0; i < 64 && !rc; i++)
        rc = store_write_append(w, buf, CHUNK);
    ASSERT_EQ(CUSTODY_ENOSPC, rc);
    store_write_abort(w);
    store_test_no_tmpfile = false;
    ASSERT_EQ(0, fx_count_tmp(f.root));
    s = fx_disk(f.root, "old.txt");
    ASSERT_STR_EQ("new content", s);
    free(s);
    free(buf);
    fx_close(&f);
    ASSERT_OK(umount2(root, MNT_DETACH));
}

TEST(store_enospc_state_full)
{
    /* the root has room but the object store does not: the commit fails
     * before the rename, the old file stays */
    const char *base = test_tmpdir();
    char state[1200];
    fx_path(state, sizeof state, base, "state");
    ASSERT_OK(util_mkdir_p(state, 0755));
    if (!mount_tiny_tmpfs(state, "256k", "store_enospc_state_full")) return;
    struct fx f;
    fx_open_at(&f, base, true, 100);
    test_write_file(f.root, "big.bin", "previous");
    size_t n = 1024 * 1024;
    char *data = malloc(n);
    memset(data, 'q', n);
    struct store_write_result res;
    int rc = fx_put(&f, "/big.bin", data, n, NULL, &res);
    ASSERT_EQ(CUSTODY_ENOSPC, rc);
    char *s = fx_disk(f.root, "big.bin");
    ASSERT_STR_EQ("previous", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    char objs[1200];
    fx_path(objs, sizeof objs, f.state, "store/objects");
    ASSERT_EQ(0, fx_count_tmp(objs));
    /* small writes still fit */
    ASSERT_OK(fx_puts(&f, "/big.bin", "small"));
    free(data);
    fx_close(&f);
    ASSERT_OK(umount2(state, MNT_DETACH));
}
