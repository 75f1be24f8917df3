/*
 * store_test.h — fixtures shared by the store unit tests: a fresh state dir,
 * a root "r" and a directory outside it, plus small read/write helpers.
 */
#ifndef CUSTODY_STORE_TEST_H
#define CUSTODY_STORE_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"
#include "test.h"

#define ST_UNUSED __attribute__((unused))

struct fx {
    char base[512];
    char state[600];
    char root[600];
    char outside[600];
    struct store *st;
};

ST_UNUSED static void fx_path(char *out, size_t outsz, const char *dir, const char *rel)
{
    if (util_snprintf(out, outsz, "%s/%s", dir, rel) != 0)
        TEST_FAIL_("path too long: %s/%s", dir, rel);
}

ST_UNUSED static void fx_mkdir(const char *dir, const char *rel)
{
    char p[1200];
    fx_path(p, sizeof p, dir, rel);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) TEST_FAIL_("mkdir %s: %s", p, strerror(errno));
}

ST_UNUSED static void fx_symlink(const char *target, const char *dir, const char *rel)
{
    char p[1200];
    fx_path(p, sizeof p, dir, rel);
    unlink(p);
    if (symlink(target, p) != 0) TEST_FAIL_("symlink %s -> %s: %s", p, target, strerror(errno));
}

ST_UNUSED static void fx_set_roots(struct fx *f)
{
    struct cfg_root r = {.name = (char *)"r", .path = f->root};
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(store_set_roots(f->st, &r, 1, &err));
    sb_free(&err);
}

/* Opens a store over BASE/state with root "r" = BASE/root (or under `base`). */
ST_UNUSED static void fx_open_at(struct fx *f, const char *base, bool versions, size_t list_max)
{
    memset(f, 0, sizeof *f);
    util_strlcpy(f->base, base, sizeof f->base);
    fx_path(f->state, sizeof f->state, base, "state");
    fx_path(f->root, sizeof f->root, base, "root");
    fx_path(f->outside, sizeof f->outside, base, "outside");
    ASSERT_OK(util_mkdir_p(f->root, 0755));
    ASSERT_OK(util_mkdir_p(f->outside, 0755));
    test_write_file(f->outside, "secret", "top secret\n");
    struct store_opts o = {.versions = versions, .list_max_entries = list_max};
    ASSERT_OK(store_open(f->state, &o, &f->st));
    fx_set_roots(f);
}

ST_UNUSED static void fx_open(struct fx *f, bool versions)
{
    fx_open_at(f, test_tmpdir(), versions, 100000);
}

ST_UNUSED static void fx_close(struct fx *f)
{
    store_close(f->st);
    f->st = NULL;
}

/* Writes content through the store; returns the commit's result code. */
ST_UNUSED static int fx_put(struct fx *f, const char *path, const void *data, size_t len,
                            const struct store_precond *pre, struct store_write_result *res)
{
    struct store_writer *w;
    int rc = store_write_begin(f->st, "r", path, &w);
    if (rc) return rc;
    rc = store_write_append(w, data, len);
    if (rc) {
        store_write_abort(w);
        return rc;
    }
    struct store_write_result tmp;
    return store_write_commit(w, pre, res ? res : &tmp);
}

ST_UNUSED static int fx_puts(struct fx *f, const char *path, const char *s)
{
    return fx_put(f, path, s, strlen(s), NULL, NULL);
}

/* Reads a whole fd into a malloc'd NUL-terminated buffer. */
ST_UNUSED static char *fx_read_fd(int fd, size_t *len)
{
    struct strbuf sb = STRBUF_INIT;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR) continue;
        ASSERT(n >= 0);
        if (n == 0) break;
        sb_append(&sb, buf, (size_t)n);
        off += n;
    }
    if (len) *len = sb.len;
    return sb_detach(&sb);
}

/* Reads a file through store_open_read; NULL + *rc on error. */
ST_UNUSED static char *fx_get(struct fx *f, const char *path, int *rc, size_t *len)
{
    struct store_handle h;
    int r = store_open_read(f->st, "r", path, &h);
    if (rc) *rc = r;
    if (r) return NULL;
    char *data = fx_read_fd(h.fd, len);
    store_handle_close(&h);
    return data;
}

/* Reads a file directly from disk (not through the store). */
ST_UNUSED static char *fx_disk(const char *dir, const char *rel)
{
    char p[1200];
    fx_path(p, sizeof p, dir, rel);
    char *data = NULL;
    size_t n;
    if (util_read_file(p, 64u << 20, &data, &n) != 0) return NULL;
    return data;
}

ST_UNUSED static bool fx_exists(const char *dir, const char *rel)
{
    char p[1200];
    struct stat sb;
    fx_path(p, sizeof p, dir, rel);
    return lstat(p, &sb) == 0;
}

/* Counts entries named STORE_TMP_PREFIX* in a directory (no recursion). */
ST_UNUSED static int fx_count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (store_is_tmp_name(de->d_name)) n++;
    closedir(d);
    return n;
}

/* Counts regular files under STATE/store/objects (two levels). */
ST_UNUSED static int fx_count_objects(struct fx *f)
{
    char p[1200];
    fx_path(p, sizeof p, f->state, "store/objects");
    DIR *d = opendir(p);
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[1400];
        fx_path(sub, sizeof sub, p, de->d_name);
        DIR *s = opendir(sub);
        if (!s) continue;
        struct dirent *e;
        while ((e = readdir(s)))
            if (e->d_name[0] != '.') n++;
        closedir(s);
    }
    closedir(d);
    return n;
}

ST_UNUSED static void fx_sha_hex(const void *data, size_t len, char hex[65])
{
    uint8_t d[32];
    util_sha256(data, len, d);
    util_hex_encode(d, sizeof d, hex);
}

#endif
