/* test_mountinfo.c — src/sandbox's mountinfo reader and path helpers, and
 * sbx_protect's view of a real directory. */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "test.h"

TEST(sandbox_path_below)
{
    ASSERT_STR_EQ("", sbx_path_below("/a/b", "/a/b"));
    ASSERT_STR_EQ("c/d", sbx_path_below("/a/b/c/d", "/a/b"));
    ASSERT_STR_EQ("a/b", sbx_path_below("/a/b", "/"));
    ASSERT_STR_EQ("", sbx_path_below("/", "/"));
    ASSERT(sbx_path_below("/a/bc", "/a/b") == NULL); /* a prefix, not a parent */
    ASSERT(sbx_path_below("/a", "/a/b") == NULL);
    ASSERT(sbx_path_below("/x/b", "/a") == NULL);
}

TEST(sandbox_mountinfo_fields_and_escapes)
{
    static const char text[] =
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 shared:2 - ext3 /dev/root rw\n"
        "not a mountinfo line\n"
        "40 22 0:55 / /x\\134y rw - fuse.custody custody:demo rw"; /* no final newline */
    struct sbx_mount *m;
    size_t n;
    ASSERT_OK(sbx_mounts_parse(text, sizeof text - 1, &m, &n));
    ASSERT_EQ(3, n);
    ASSERT_STR_EQ("/proc", m[0].point);
    ASSERT_STR_EQ("proc", m[0].fstype);
    ASSERT_EQ(0, m[0].major);
    ASSERT_EQ(21, m[0].minor);
    ASSERT_STR_EQ("/mnt1", m[1].root);
    ASSERT_STR_EQ("/mnt/a b", m[1].point); /* \040 */
    ASSERT_STR_EQ("ext3", m[1].fstype);    /* after the optional fields and "-" */
    ASSERT_EQ(98, m[1].major);
    ASSERT_STR_EQ("/x\\y", m[2].point); /* \134 */
    ASSERT_STR_EQ("fuse.custody", m[2].fstype);
    sbx_mounts_free(m, n);
}

TEST(sandbox_mountinfo_rejects_broken_lines)
{
    static const char text[] =
        "1 2 3:4 / /x rw -\n"                /* no fstype after "-" */
        "1 2 x:y / /x rw - ext4 a b\n"       /* no major:minor */
        "1 2 3:4 /\n"                        /* too short */
        "1 2 3:4 / /ok\\07 rw - ext4 a b\n"; /* escape cut short: kept as is */
    struct sbx_mount *m;
    size_t n;
    ASSERT_OK(sbx_mounts_parse(text, sizeof text - 1, &m, &n));
    ASSERT_EQ(1, n);
    ASSERT_STR_EQ("/ok\\07", m[0].point);
    sbx_mounts_free(m, n);
}

TEST(sandbox_mountinfo_of_this_process)
{
    struct sbx_mount *m;
    size_t n;
    ASSERT_OK(sbx_mounts_read(&m, &n));
    ASSERT_GT(n, 0);
    bool root = false;
    for (size_t i = 0; i < n; i++)
        root = root || strcmp(m[i].point, "/") == 0;
    ASSERT(root);
    sbx_mounts_free(m, n);
}

TEST(sandbox_protect_names_the_directory_in_its_filesystem)
{
    const char *dir = test_tmpdir();
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/inner", dir);
    ASSERT_EQ(0, mkdir(sub, 0700));
    struct sbx_protected p;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(sbx_protect(&p, sub, &err));
    struct stat st;
    ASSERT_EQ(0, stat(sub, &st));
    ASSERT_EQ(st.st_ino, p.ino);
    ASSERT_EQ(st.st_dev, p.dev);
    /* fsrel ends with the path below the mount that holds it */
    size_t fl = strlen(p.fsrel);
    ASSERT(fl >= 6 && strcmp(p.fsrel + fl - 6, "/inner") == 0);
    ASSERT_EQ('/', p.fsrel[0]);
    /* not a directory: refused with a reason */
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s/f", dir);
    test_write_file(dir, "f", "x");
    ASSERT_NE(0, sbx_protect(&p, file, &err));
    ASSERT(err.buf && strstr(err.buf, "not a directory"));
    sb_free(&err);
}
