/* test_versions.c — version history, objects, rollback. */
#include "store_test.h"

struct vlist {
    struct store_version *v;
    size_t n;
};

static struct vlist versions_of(struct fx *f, const char *path)
{
    struct vlist l = {NULL, 0};
    ASSERT_OK(store_versions(f->st, "r", path, &l.v, &l.n));
    return l;
}

static void expect_ops(struct vlist l, const char *const *ops, size_t n)
{
    if (l.n != n) TEST_FAIL_("%zu versions, want %zu", l.n, n);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ((int64_t)i + 1, l.v[i].id);
        ASSERT_STR_EQ(ops[i], l.v[i].op);
    }
}

static char *version_content(struct fx *f, const char *path, int64_t id)
{
    struct store_handle h;
    ASSERT_OK(store_open_version(f->st, "r", path, id, &h));
    ASSERT_EQ(STORE_FILE, h.type);
    char *s = fx_read_fd(h.fd, NULL);
    store_handle_close(&h);
    return s;
}

TEST(store_versions_external_then_write)
{
    struct fx f;
    fx_open(&f, true);
    test_write_file(f.root, "doc.txt", "v0 from outside");
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/doc.txt", "v1", 2, NULL, &res));
    ASSERT_EQ(2, res.version);
    struct vlist l = versions_of(&f, "/doc.txt");
    static const char *ops[] = {"external", "write"};
    expect_ops(l, ops, 2);
    char hex[65];
    fx_sha_hex("v0 from outside", 15, hex);
    ASSERT_STR_EQ(hex, l.v[0].sha256);
    ASSERT_EQ(15, l.v[0].size);
    ASSERT(l.v[0].available);
    ASSERT_STR_EQ(res.sha256, l.v[1].sha256);
    ASSERT_EQ(2, l.v[1].size);
    ASSERT(l.v[1].available);
    ASSERT(l.v[0].time_ns > 0 && l.v[1].time_ns >= l.v[0].time_ns);
    free(l.v);
    char *s = version_content(&f, "/doc.txt", 1);
    ASSERT_STR_EQ("v0 from outside", s);
    free(s);
    s = version_content(&f, "doc.txt", 2); /* paths are normalised */
    ASSERT_STR_EQ("v1", s);
    free(s);
    fx_close(&f);
}

TEST(store_versions_out_of_band_change)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(fx_puts(&f, "/a.txt", "mine"));
    test_write_file(f.root, "a.txt", "someone else's edit");
    ASSERT_OK(fx_puts(&f, "/a.txt", "mine again"));
    struct vlist l = versions_of(&f, "/a.txt");
    static const char *ops[] = {"write", "external", "write"};
    expect_ops(l, ops, 3);
    free(l.v);
    char *s = version_content(&f, "/a.txt", 2);
    ASSERT_STR_EQ("someone else's edit", s);
    free(s);
    /* no change on disk since: no new external version */
    ASSERT_OK(fx_puts(&f, "/a.txt", "third"));
    l = versions_of(&f, "/a.txt");
    ASSERT_EQ(4, l.n);
    free(l.v);
    fx_close(&f);
}

TEST(store_versions_dedup_objects)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(fx_puts(&f, "/x.txt", "same"));
    ASSERT_OK(fx_puts(&f, "/x.txt", "same"));
    ASSERT_OK(fx_puts(&f, "/y.txt", "same"));
    ASSERT_EQ(1, fx_count_objects(&f));
    struct vlist l = versions_of(&f, "/x.txt");
    ASSERT_EQ(2, l.n);
    ASSERT_STR_EQ(l.v[0].sha256, l.v[1].sha256);
    free(l.v);
    ASSERT_OK(fx_puts(&f, "/x.txt", "different"));
    ASSERT_EQ(2, fx_count_objects(&f));
    fx_close(&f);
}

TEST(store_versions_object_layout)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/o.txt", "object", 6, NULL, &res));
    char rel[128], p[1400];
    snprintf(rel, sizeof rel, "store/objects/%.2s/%s", res.sha256, res.sha256 + 2);
    fx_path(p, sizeof p, f.state, rel);
    struct stat sb;
    ASSERT_OK(stat(p, &sb));
    ASSERT_EQ(0444, sb.st_mode & 07777);
    ASSERT_EQ(6, sb.st_size);
    char *s = fx_disk(f.state, rel);
    ASSERT_STR_EQ("object", s);
    free(s);
    fx_path(p, sizeof p, f.state, "store");
    ASSERT_OK(stat(p, &sb));
    ASSERT_EQ(0700, sb.st_mode & 0777);
    fx_path(p, sizeof p, f.state, "store/objects");
    ASSERT_OK(stat(p, &sb));
    ASSERT_EQ(0700, sb.st_mode & 0777);
    ASSERT(fx_exists(f.state, "store/versions.db"));
    /* the object is a copy, not a link: editing the live file in place
     * leaves the object intact */
    char live[1200];
    fx_path(live, sizeof live, f.root, "o.txt");
    FILE *fp = fopen(live, "r+");
    ASSERT_NOT_NULL(fp);
    fputs("OBJECT", fp);
    fclose(fp);
    s = fx_disk(f.state, rel);
    ASSERT_STR_EQ("object", s);
    free(s);
    fx_close(&f);
}

TEST(store_versions_delete_tombstone)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(fx_puts(&f, "/d.txt", "to be deleted"));
    ASSERT_OK(store_delete(f.st, "r", "/d.txt", NULL));
    ASSERT(!fx_exists(f.root, "d.txt"));
    struct vlist l = versions_of(&f, "/d.txt");
    static const char *ops[] = {"write", "delete"};
    expect_ops(l, ops, 2);
    ASSERT_STR_EQ("", l.v[1].sha256);
    ASSERT_EQ(0, l.v[1].size);
    ASSERT(!l.v[1].available);
    ASSERT(l.v[0].available);
    free(l.v);
    struct store_handle h;
    ASSERT_EQ(CUSTODY_ENOVERSION, store_open_version(f.st, "r", "/d.txt", 2, &h));
    char *s = version_content(&f, "/d.txt", 1);
    ASSERT_STR_EQ("to be deleted", s);
    free(s);
    /* deleting an externally created file keeps its content first */
    test_write_file(f.root, "ext.txt", "external content");
    ASSERT_OK(store_delete(f.st, "r", "/ext.txt", NULL));
    l = versions_of(&f, "/ext.txt");
    static const char *ops2[] = {"external", "delete"};
    expect_ops(l, ops2, 2);
    free(l.v);
    s = version_content(&f, "/ext.txt", 1);
    ASSERT_STR_EQ("external content", s);
    free(s);
    /* recreate after delete */
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/d.txt", "reborn", 6, NULL, &res));
    ASSERT(res.created);
    ASSERT_EQ(3, res.version);
    fx_close(&f);
}

TEST(store_versions_move)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(fx_puts(&f, "/a.txt", "moving content"));
    ASSERT_OK(store_move(f.st, "r", "/a.txt", "/b.txt", false));
    struct vlist la = versions_of(&f, "/a.txt");
    static const char *opa[] = {"write", "moved"};
    expect_ops(la, opa, 2);
    ASSERT_STR_EQ("", la.v[1].sha256);
    struct vlist lb = versions_of(&f, "/b.txt");
    static const char *opb[] = {"move"};
    expect_ops(lb, opb, 1);
    ASSERT_STR_EQ(la.v[0].sha256, lb.v[0].sha256);
    ASSERT_EQ(14, lb.v[0].size);
    ASSERT(lb.v[0].available);
    free(la.v);
    free(lb.v);

    /* move over an existing file: its content is kept as a version of `to` */
    test_write_file(f.root, "c.txt", "c external");
    ASSERT_EQ(CUSTODY_EEXIST, store_move(f.st, "r", "/b.txt", "/c.txt", false));
    ASSERT_OK(store_move(f.st, "r", "/b.txt", "/c.txt", true));
    char *s = fx_disk(f.root, "c.txt");
    ASSERT_STR_EQ("moving content", s);
    free(s);
    struct vlist lc = versions_of(&f, "/c.txt");
    static const char *opc[] = {"external", "move"};
    expect_ops(lc, opc, 2);
    free(lc.v);
    s = version_content(&f, "/c.txt", 1);
    ASSERT_STR_EQ("c external", s);
    free(s);
    /* a moved-in file that is later written has a continuous history */
    ASSERT_OK(fx_puts(&f, "/c.txt", "edited"));
    lc = versions_of(&f, "/c.txt");
    ASSERT_EQ(3, lc.n);
    ASSERT_STR_EQ("write", lc.v[2].op);
    free(lc.v);
    fx_close(&f);
}

TEST(store_rollback_restores_exact_bytes)
{
    struct fx f;
    fx_open(&f, true);
    size_t n = 100 * 1024 + 3;
    unsigned char *v1 = malloc(n);
    ASSERT_NOT_NULL(v1);
    ASSERT_OK(util_random(v1, n));
    v1[0] = 0;
    v1[1] = 0xff;
    struct store_write_result r1, r2, r3;
    ASSERT_OK(fx_put(&f, "/bin", v1, n, NULL, &r1));
    ASSERT_OK(fx_put(&f, "/bin", "v2", 2, NULL, &r2));
    char p[1200];
    fx_path(p, sizeof p, f.root, "bin");
    ASSERT_OK(chmod(p, 0640));
    ASSERT_OK(store_rollback(f.st, "r", "/bin", r1.version, &r3));
    ASSERT_EQ(3, r3.version);
    ASSERT(!r3.created);
    ASSERT_STR_EQ(r1.sha256, r3.sha256);
    ASSERT_EQ(n, r3.size);
    size_t got;
    int rc;
    char *back = fx_get(&f, "/bin", &rc, &got);
    ASSERT_OK(rc);
    ASSERT_EQ(n, got);
    ASSERT_MEM_EQ(v1, back, n);
    free(back);
    struct stat sb;
    ASSERT_OK(stat(p, &sb));
    ASSERT_EQ(0640, sb.st_mode & 0777);
    struct vlist l = versions_of(&f, "/bin");
    static const char *ops[] = {"write", "write", "rollback"};
    expect_ops(l, ops, 3);
    free(l.v);
    /* rolling back to the rollback itself, and to v2 */
    ASSERT_OK(store_rollback(f.st, "r", "/bin", 2, &r3));
    char *s = fx_disk(f.root, "bin");
    ASSERT_STR_EQ("v2", s);
    free(s);
    free(v1);
    fx_close(&f);
}

TEST(store_rollback_after_delete_recreates)
{
    struct fx f;
    fx_open(&f, true);
    ASSERT_OK(fx_puts(&f, "/gone.txt", "precious"));
    ASSERT_OK(store_delete(f.st, "r", "/gone.txt", NULL));
    struct store_write_result res;
    ASSERT_OK(store_rollback(f.st, "r", "/gone.txt", 1, &res));
    ASSERT(res.created);
    char *s = fx_disk(f.root, "gone.txt");
    ASSERT_STR_EQ("precious", s);
    free(s);
    fx_close(&f);
}

TEST(store_rollback_unknown_version)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result res;
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/none.txt", 1, &res));
    ASSERT_OK(fx_put(&f, "/v.txt", "one", 3, NULL, &res));
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/v.txt", 2, &res));
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/v.txt", 0, &res));
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/v.txt", -1, &res));
    ASSERT_OK(store_delete(f.st, "r", "/v.txt", NULL));
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/v.txt", 2, &res)); /* tombstone */
    ASSERT(!fx_exists(f.root, "v.txt"));
    struct store_handle h;
    ASSERT_EQ(CUSTODY_ENOVERSION, store_open_version(f.st, "r", "/v.txt", 9, &h));
    ASSERT_EQ(-1, h.fd);
    ASSERT_EQ(0, fx_count_tmp(f.root));
    fx_close(&f);
}

TEST(store_rollback_missing_object)
{
    struct fx f;
    fx_open(&f, true);
    struct store_write_result r1;
    ASSERT_OK(fx_put(&f, "/m.txt", "will vanish", 11, NULL, &r1));
    ASSERT_OK(fx_puts(&f, "/m.txt", "current"));
    char rel[128], p[1400];
    snprintf(rel, sizeof rel, "store/objects/%.2s/%s", r1.sha256, r1.sha256 + 2);
    fx_path(p, sizeof p, f.state, rel);
    ASSERT_OK(unlink(p));
    struct vlist l = versions_of(&f, "/m.txt");
    ASSERT_EQ(2, l.n);
    ASSERT(!l.v[0].available);
    ASSERT(l.v[1].available);
    free(l.v);
    struct store_write_result res;
    ASSERT_EQ(CUSTODY_ENOVERSION, store_rollback(f.st, "r", "/m.txt", 1, &res));
    struct store_handle h;
    ASSERT_EQ(CUSTODY_ENOVERSION, store_open_version(f.st, "r", "/m.txt", 1, &h));
    char *s = fx_disk(f.root, "m.txt");
    ASSERT_STR_EQ("current", s);
    free(s);
    fx_close(&f);
}

TEST(store_versions_errors_and_persistence)
{
    struct fx f;
    fx_open(&f, true);
    struct store_version *v = (struct store_version *)1;
    size_t n = 5;
    ASSERT_EQ(CUSTODY_ENOENT, store_versions(f.st, "r", "/never", &v, &n));
    ASSERT_NULL(v);
    ASSERT_EQ(0, n);
    ASSERT_EQ(CUSTODY_ENOROOT, store_versions(f.st, "zz", "/x", &v, &n));
    ASSERT_EQ(CUSTODY_EESCAPE, store_versions(f.st, "r", "/../x", &v, &n));
    ASSERT_OK(fx_puts(&f, "/p.txt", "1"));
    ASSERT_OK(fx_puts(&f, "/p.txt", "2"));
    char base[512];
    util_strlcpy(base, f.base, sizeof base);
    fx_close(&f);
    fx_open_at(&f, base, true, 100);
    struct vlist l = versions_of(&f, "/p.txt");
    ASSERT_EQ(2, l.n);
    free(l.v);
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/p.txt", "3", 1, NULL, &res));
    ASSERT_EQ(3, res.version);
    fx_close(&f);
}

TEST(store_versions_per_root)
{
    /* the same path in two roots has two histories */
    struct fx f;
    fx_open(&f, true);
    char other[1200];
    fx_path(other, sizeof other, f.base, "root2");
    ASSERT_OK(util_mkdir_p(other, 0755));
    struct cfg_root roots[] = {{.name = (char *)"r", .path = f.root},
                               {.name = (char *)"s", .path = other}};
    ASSERT_OK(store_set_roots(f.st, roots, 2, NULL));
    ASSERT_OK(fx_puts(&f, "/same.txt", "in r"));
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "s", "/same.txt", &w));
    ASSERT_OK(store_write_append(w, "in s", 4));
    struct store_write_result res;
    ASSERT_OK(store_write_commit(w, NULL, &res));
    ASSERT_EQ(1, res.version);
    struct store_version *v;
    size_t n;
    ASSERT_OK(store_versions(f.st, "s", "/same.txt", &v, &n));
    ASSERT_EQ(1, n);
    free(v);
    fx_close(&f);
}
