/*
 * mountinfo.c — reading /proc/self/mountinfo (proc(5)): which filesystem is
 * mounted where, and which part of it. Used to find every place a
 * protected directory shows up, and to see a view appear.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/internal.h"

#define MOUNTS_MAX 65536          /* lines read from mountinfo */
#define MOUNTINFO_MAX (64u << 20) /* bytes read from it */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t len)
{
    char *out = util_calloc(1, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out[o++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Splits one line into fields; 0 when it has the shape of a mountinfo line. */
static int parse_line(char *line, struct sbx_mount *m)
{
    char *f[32];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \n", &save); t && n < 32;
         t = strtok_r(NULL, " \n", &save))
        f[n++] = t;
    /* id parent maj:min root point opts [optional...] - fstype source superopts */
    size_t dash = 6;
    while (dash < n && strcmp(f[dash], "-") != 0)
        dash++;
    if (n < 7 || dash + 1 >= n) return -1;
    if (sscanf(f[2], "%u:%u", &m->major, &m->minor) != 2) return -1;
    m->root = unescape(f[3], strlen(f[3]));
    m->point = unescape(f[4], strlen(f[4]));
    m->fstype = unescape(f[dash + 1], strlen(f[dash + 1]));
    return 0;
}

int sbx_mounts_parse(const char *buf, size_t len, struct sbx_mount **out, size_t *n)
{
    struct sbx_mount *v = NULL;
    size_t cnt = 0, cap = 0;
    for (size_t at = 0; at < len && cnt < MOUNTS_MAX;) {
        const char *nl = memchr(buf + at, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - (buf + at)) : len - at;
        char *line = util_strndup(buf + at, ll);
        at += ll + 1;
        struct sbx_mount m = {0};
        int rc = strlen(line) == ll ? parse_line(line, &m) : -1; /* no NUL inside */
        free(line);
        if (rc != 0) continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            v = util_realloc(v, cap * sizeof *v);
        }
        v[cnt++] = m;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int sbx_mounts_read(struct sbx_mount **out, size_t *n)
{
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return custody_err_from_errno(errno);
    struct strbuf sb = STRBUF_INIT;
    char chunk[16384];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0 && sb.len < MOUNTINFO_MAX)
        sb_append(&sb, chunk, (size_t)got);
    int e = got < 0 ? errno : 0;
    close(fd);
    int rc = e ? custody_err_from_errno(e) : sbx_mounts_parse(sb.buf ? sb.buf : "", sb.len, out, n);
    sb_free(&sb);
    return rc;
}

void sbx_mounts_free(struct sbx_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].root);
        free(m[i].point);
        free(m[i].fstype);
    }
    free(m);
}

const char *sbx_path_below(const char *path, const char *prefix)
{
    if (strcmp(prefix, "/") == 0) return path + 1;
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0) return NULL;
    if (path[n] == '\0') return path + n;
    return path[n] == '/' ? path + n + 1 : NULL;
}

bool sbx_mounted(const char *path, const char *fstype)
{
    struct sbx_mount *m;
    size_t n;
    if (sbx_mounts_read(&m, &n) != 0) return false;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(m[i].point, path) == 0 && strncmp(m[i].fstype, fstype, strlen(fstype)) == 0;
    sbx_mounts_free(m, n);
    return found;
}
