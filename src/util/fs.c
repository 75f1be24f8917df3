/* fs.c — small, careful file helpers used by config, state and store. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int util_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return custody_err_from_errno(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

char *util_path_join(const char *a, const char *b)
{
    struct strbuf sb = STRBUF_INIT;
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    sb_append(&sb, a, la);
    if (la && a[la - 1] != '/')
        sb_puts(&sb, "/");
    sb_puts(&sb, b);
    return sb_detach(&sb);
}

int util_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return custody_err_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : custody_err_from_errno(errno);
    close(fd);
    return rc;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    struct strbuf tmp = STRBUF_INIT;
    uint8_t rnd[8];
    char rhex[17];
    if (util_random(rnd, sizeof rnd))
        return CUSTODY_EINTERNAL;
    util_hex_encode(rnd, sizeof rnd, rhex);
    sb_printf(&tmp, "%s.tmp.%s", path, rhex);
    int fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        int rc = custody_err_from_errno(errno);
        sb_free(&tmp);
        return rc;
    }
    int rc = util_write_all(fd, data, len);
    if (!rc && fchmod(fd, mode) != 0)
        rc = custody_err_from_errno(errno);
    if (!rc && fsync(fd) != 0)
        rc = custody_err_from_errno(errno);
    if (close(fd) != 0 && !rc)
        rc = custody_err_from_errno(errno);
    if (!rc && rename(tmp.buf, path) != 0)
        rc = custody_err_from_errno(errno);
    if (rc) {
        unlink(tmp.buf);
        sb_free(&tmp);
        return rc;
    }
    sb_free(&tmp);
    char *dir = util_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        util_strlcpy(dir, ".", 2);
    rc = util_fsync_dir(dir);
    free(dir);
    return rc;
}

int util_read_file(const char *path, size_t max, char **out, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return custody_err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = custody_err_from_errno(errno);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? CUSTODY_EISDIR : CUSTODY_EINVAL;
    }
    struct strbuf sb = STRBUF_INIT;
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int rc = custody_err_from_errno(errno);
            close(fd);
            sb_free(&sb);
            return rc;
        }
        if (n == 0)
            break;
        if (sb.len + (size_t)n > max) {
            close(fd);
            sb_free(&sb);
            return CUSTODY_ETOOBIG;
        }
        sb_append(&sb, buf, (size_t)n);
    }
    close(fd);
    if (len_out)
        *len_out = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

int util_mkdir_p(const char *path, mode_t mode)
{
    char *p = util_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            rc = custody_err_from_errno(errno);
            break;
        }
        *s = '/';
    }
    if (!rc && mkdir(p, mode) != 0 && errno != EEXIST)
        rc = custody_err_from_errno(errno);
    if (!rc) {
        struct stat st;
        if (stat(p, &st) != 0)
            rc = custody_err_from_errno(errno);
        else if (!S_ISDIR(st.st_mode))
            rc = CUSTODY_ENOTDIR;
    }
    free(p);
    return rc;
}
