/* test_write.c — the streaming atomic writer and its preconditions. */
#include "store_test.h"

static mode_t disk_mode(const char *dir, const char *rel)
{
    char p[1200];
    struct stat sb;
    fx_path(p, sizeof p, dir, rel);
    ASSERT_OK(lstat(p, &sb));
    return sb.st_mode & 07777;
}

TEST(store_write_create_and_replace)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result res;
    char hex[65];
    ASSERT_OK(fx_put(&f, "/new.txt", "hello", 5, NULL, &res));
    fx_sha_hex("hello", 5, hex);
    ASSERT(res.created);
    ASSERT_STR_EQ(hex, res.sha256);
    ASSERT_EQ(5, res.size);
    ASSERT_EQ(1, res.version);
    ASSERT_EQ(0644, disk_mode(f.root, "new.txt"));
    char *s = fx_disk(f.root, "new.txt");
    ASSERT_STR_EQ("hello", s);
    free(s);

    ASSERT_OK(fx_put(&f, "/new.txt", "hello again", 11, NULL, &res));
    ASSERT(!res.created);
    ASSERT_EQ(2, res.version);
    s = fx_disk(f.root, "new.txt");
    ASSERT_STR_EQ("hello again", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_write_keeps_mode)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "secret.txt", "s1");
    char p[1200];
    fx_path(p, sizeof p, f.root, "secret.txt");
    ASSERT_OK(chmod(p, 0600));
    ASSERT_OK(fx_puts(&f, "/secret.txt", "s2"));
    ASSERT_EQ(0600, disk_mode(f.root, "secret.txt"));
    ASSERT_OK(chmod(p, 0755));
    ASSERT_OK(fx_puts(&f, "/secret.txt", "s3"));
    ASSERT_EQ(0755, disk_mode(f.root, "secret.txt"));
    /* set-id bits are never carried over */
    ASSERT_OK(chmod(p, 04755));
    ASSERT_OK(fx_puts(&f, "/secret.txt", "s4"));
    ASSERT_EQ(0755, disk_mode(f.root, "secret.txt"));
    /* owner is kept when we may (root) */
    if (geteuid() == 0) {
        ASSERT_OK(chown(p, 1234, 4321));
        ASSERT_OK(fx_puts(&f, "/secret.txt", "s5"));
        struct stat sb;
        ASSERT_OK(stat(p, &sb));
        ASSERT_EQ(1234, sb.st_uid);
        ASSERT_EQ(4321, sb.st_gid);
    }
    fx_close(&f);
}

TEST(store_write_parent_and_target_errors)
{
    struct fx f;
    fx_open(&f, true);
    struct store_writer *w = (struct store_writer *)1;
    ASSERT_EQ(CUSTODY_ENOENT, store_write_begin(f.st, "r", "/missing/x.txt", &w));
    ASSERT_NULL(w);
    test_write_file(f.root, "file", "x");
    ASSERT_EQ(CUSTODY_ENOTDIR, store_write_begin(f.st, "r", "/file/x.txt", &w));
    fx_mkdir(f.root, "dir");
    ASSERT_EQ(CUSTODY_EISDIR, store_write_begin(f.st, "r", "/dir", &w));
    ASSERT_EQ(CUSTODY_EISDIR, store_write_begin(f.st, "r", "/", &w));
    ASSERT_EQ(CUSTODY_ENOROOT, store_write_begin(f.st, "zz", "/x", &w));
    ASSERT_EQ(CUSTODY_EBADPATH, store_write_begin(f.st, "r", "/" STORE_TMP_PREFIX "x", &w));
    ASSERT_EQ(CUSTODY_EESCAPE, store_write_begin(f.st, "r", "/../x", &w));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_write_target_becomes_dir)
{
    struct fx f;
    fx_open(&f, true);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/x", &w));
    ASSERT_OK(store_write_append(w, "abc", 3));
    fx_mkdir(f.root, "x");
    struct store_write_result res;
    ASSERT_EQ(CUSTODY_EISDIR, store_write_commit(w, NULL, &res));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_write_preconditions)
{
    struct fx f;
    fx_open(&f, true);
    char hv1[65], hv2[65];
    fx_sha_hex("v1", 2, hv1);
    fx_sha_hex("v2", 2, hv2);
    struct store_write_result res;

    struct store_precond star = {.if_match = "*"};
    struct store_precond none = {.if_none_match_any = true};
    /* If-Match: * on a missing file fails; If-None-Match: * creates */
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/p.txt", "v1", 2, &star, &res));
    ASSERT(!fx_exists(f.root, "p.txt"));
    ASSERT_OK(fx_put(&f, "/p.txt", "v1", 2, &none, &res));
    ASSERT(res.created);
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/p.txt", "zz", 2, &none, &res));
    ASSERT_OK(fx_put(&f, "/p.txt", "v1", 2, &star, &res));

    struct store_precond wrong = {.if_match = hv2};
    struct store_precond right = {.if_match = hv1};
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/p.txt", "v2", 2, &wrong, &res));
    char *s = fx_disk(f.root, "p.txt");
    ASSERT_STR_EQ("v1", s);
    free(s);
    ASSERT_OK(fx_put(&f, "/p.txt", "v2", 2, &right, &res));
    s = fx_disk(f.root, "p.txt");
    ASSERT_STR_EQ("v2", s);
    free(s);

    /* an upper-case or quoted hash matches too; garbage never does */
    char upper[65], quoted[70];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)((hv2[i] >= 'a' && hv2[i] <= 'f') ? hv2[i] - 32 : hv2[i]);
    snprintf(quoted, sizeof quoted, "\"%s\"", hv1);
    struct store_precond up = {.if_match = upper};
    ASSERT_OK(fx_put(&f, "/p.txt", "v1", 2, &up, &res));
    struct store_precond q = {.if_match = quoted};
    ASSERT_OK(fx_put(&f, "/p.txt", "v2", 2, &q, &res));
    struct store_precond junk = {.if_match = "not-a-hash"};
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/p.txt", "v3", 2, &junk, &res));
    /* a hash on a missing file fails */
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/other.txt", "v1", 2, &right, &res));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    /* rejected content is not kept: only "v1" and "v2" are objects */
    ASSERT_EQ(2, fx_count_objects(&f));
    struct store_version *v;
    size_t n;
    ASSERT_OK(store_versions(f.st, "r", "/p.txt", &v, &n));
    ASSERT_EQ(5, n); /* v1, v1, v2, v1, v2: every successful write */
    free(v);
    fx_close(&f);
}

TEST(store_write_precondition_versions_off)
{
    /* the hash is still computed for If-Match when versions are off */
    struct fx f;
    fx_open(&f, false);
    test_write_file(f.root, "p.txt", "v1");
    char hv1[65];
    fx_sha_hex("v1", 2, hv1);
    struct store_precond right = {.if_match = hv1};
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/p.txt", "v2", 2, &right, &res));
    ASSERT_EQ(0, res.version);
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/p.txt", "v3", 2, &right, &res));
    struct store_version *v;
    size_t n;
    ASSERT_EQ(CUSTODY_ENOENT, store_versions(f.st, "r", "/p.txt", &v, &n));
    ASSERT_EQ(0, fx_count_objects(&f));
    fx_close(&f);
}

TEST(store_write_abort_leaves_nothing)
{
    struct fx f;
    fx_open(&f, true);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/aborted.txt", &w));
    ASSERT_OK(store_write_append(w, "partial", 7));
    ASSERT_EQ(7, store_write_size(w));
    store_write_abort(w);
    ASSERT(!fx_exists(f.root, "aborted.txt"));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    store_write_abort(NULL);
    ASSERT_EQ(0, store_write_size(NULL));

    test_write_file(f.root, "old.txt", "old");
    ASSERT_OK(store_write_begin(f.st, "r", "/old.txt", &w));
    ASSERT_OK(store_write_append(w, "new", 3));
    store_write_abort(w);
    char *s = fx_disk(f.root, "old.txt");
    ASSERT_STR_EQ("old", s);
    free(s);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_write_named_temp_fallback)
{
    struct fx f;
    fx_open(&f, true);
    store_test_no_tmpfile = true;
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/n.txt", &w));
    ASSERT_EQ(1, fx_count_tmp(f.root)); /* the named temp exists meanwhile ... */
    struct store_dirent *d;
    size_t n;
    ASSERT_OK(store_list(f.st, "r", "/", &d, &n, NULL));
    ASSERT_EQ(0, n); /* ... but is hidden from listings */
    store_dirents_free(d, n);
    ASSERT_OK(store_write_append(w, "named", 5));
    struct store_write_result res;
    ASSERT_OK(store_write_commit(w, NULL, &res));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    char *s = fx_disk(f.root, "n.txt");
    ASSERT_STR_EQ("named", s);
    free(s);
    /* a failed commit removes it too */
    struct store_precond none = {.if_none_match_any = true};
    ASSERT_EQ(CUSTODY_EPRECOND, fx_put(&f, "/n.txt", "x", 1, &none, &res));
    ASSERT_EQ(0, fx_count_tmp(f.root));
    /* and abort */
    ASSERT_OK(store_write_begin(f.st, "r", "/n.txt", &w));
    store_write_abort(w);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    /* objects written through the fallback as well */
    ASSERT_OK(fx_puts(&f, "/m.txt", "other content"));
    ASSERT_EQ(2, fx_count_objects(&f));
    char objs[1200];
    fx_path(objs, sizeof objs, f.state, "store/objects");
    ASSERT_EQ(0, fx_count_tmp(objs));
    store_test_no_tmpfile = false;
    fx_close(&f);
}

TEST(store_write_empty_and_large)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result res;
    char hex[65];
    ASSERT_OK(fx_put(&f, "/empty", "", 0, NULL, &res));
    fx_sha_hex("", 0, hex);
    ASSERT_STR_EQ(hex, res.sha256);
    ASSERT_EQ(0, res.size);

    size_t big = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(big);
    ASSERT_NOT_NULL(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/big.bin", &w));
    for (size_t off = 0; off < big; off += 65536)
        ASSERT_OK(store_write_append(w, data + off, UTIL_MIN(65536, big - off)));
    ASSERT_EQ(big, store_write_size(w));
    ASSERT_OK(store_write_commit(w, NULL, &res));
    fx_sha_hex(data, big, hex);
    ASSERT_STR_EQ(hex, res.sha256);
    ASSERT_EQ(big, res.size);
    size_t n;
    int rc;
    char *back = fx_get(&f, "/big.bin", &rc, &n);
    ASSERT_OK(rc);
    ASSERT_EQ(big, n);
    ASSERT_MEM_EQ(data, back, big);
    free(back);
    free(data);
    fx_close(&f);
}

TEST(store_write_sets_hash_cache_and_xattr)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/h.txt", "cached", 6, NULL, &res));
    struct store_handle h;
    ASSERT_OK(store_open_read(f.st, "r", "/h.txt", &h));
    char hex[65];
    ASSERT_OK(store_content_hash(f.st, h.fd, &h.st, false, hex)); /* no compute needed */
    ASSERT_STR_EQ(res.sha256, hex);
    store_handle_close(&h);
    char base[512];
    util_strlcpy(base, f.base, sizeof base);
    fx_close(&f);
    /* a fresh store (empty memory cache) finds it in the xattr */
    fx_open_at(&f, base, true, 100);
    ASSERT_OK(store_open_read(f.st, "r", "/h.txt", &h));
    int rc = store_content_hash(f.st, h.fd, &h.st, false, hex);
    if (rc == CUSTODY_EAGAIN) {
        printf("store_write_sets_hash_cache_and_xattr: no user xattrs here, skipped\n");
    } else {
        ASSERT_OK(rc);
        ASSERT_STR_EQ(res.sha256, hex);
    }
    store_handle_close(&h);
    fx_close(&f);
}

TEST(store_write_argument_checks)
{
    struct fx f;
    fx_open(&f, true);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "r", "/s.txt", &w));
    ASSERT_EQ(CUSTODY_EINVAL, store_write_append(w, NULL, 5));
    ASSERT_OK(store_write_append(w, NULL, 0));
    ASSERT_OK(store_write_append(w, "ok", 2));
    store_write_abort(w);
    ASSERT_EQ(CUSTODY_EINVAL, store_write_append(NULL, "x", 1));
    ASSERT_EQ(CUSTODY_EINVAL, store_write_commit(NULL, NULL, NULL));
    fx_close(&f);
}
