/*
 * reader.c — reading hash tiles and entry bundles of a log directory, for a
 * given tree size. Used by the daemon's proofs and entry reads and by
 * `custody audit verify`.
 *
 * Full tiles never change. A partial tile is read at the width the tree
 * size gives; when the writer has since replaced it (a later checkpoint
 * completed the tile, or grew it and removed the old partial after its
 * grace period), the full tile or the widest partial is read instead: the
 * first W hashes of any wider version are the same.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int tile_read_file(int dirfd, const char *rel, struct strbuf *out, size_t max)
{
    int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? CUSTODY_ENOENT : custody_err_from_errno(errno);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = CUSTODY_ECORRUPT;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = CUSTODY_ECORRUPT;
        goto out;
    }
    size_t base = out->len;
    if (sb_reserve(out, (size_t)st.st_size + 1) != 0) {
        rc = CUSTODY_ENOMEM;
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, out->buf + base + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? custody_err_from_errno(errno) : CUSTODY_ECORRUPT;
            goto out;
        }
        got += (size_t)n;
    }
    out->len = base + got;
    out->buf[out->len] = '\0';
out:
    close(fd);
    return rc;
}

int tile_read_any(int dirfd, int level, uint64_t index, unsigned width, struct strbuf *out,
                         size_t max)
{
    char path[TLOG_PATH_MAX];
    int rc = tlog_tile_path(path, sizeof path, level, index, width);
    if (rc)
        return rc;
    rc = tile_read_file(dirfd, path, out, max);
    if (rc != CUSTODY_ENOENT || width == TLOG_TILE_WIDTH)
        return rc;
    /* replaced: the full tile, else the widest partial */
    if (tlog_tile_path(path, sizeof path, level, index, TLOG_TILE_WIDTH) == 0) {
        rc = tile_read_file(dirfd, path, out, max);
        if (rc != CUSTODY_ENOENT)
            return rc;
    }
    char dir[TLOG_PATH_MAX];
    tlog_tile_path(dir, sizeof dir, level, index, 1); /* ".../N.p/1" */
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    int dfd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return CUSTODY_ENOENT;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return CUSTODY_ENOENT;
    }
    unsigned best = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t w;
        if (util_parse_u64(de->d_name, strlen(de->d_name), &w) == 0 && w > best && w < 256 &&
            w >= width)
            best = (unsigned)w;
    }
    closedir(d);
    if (!best)
        return CUSTODY_ENOENT;
    tlog_tile_path(path, sizeof path, level, index, best);
    return tile_read_file(dirfd, path, out, max);
}

int tile_read_hashes(void *ctx, unsigned level, uint64_t first, size_t n,
                     uint8_t (*out)[TLOG_HASH_LEN])
{
    const struct tile_reader *r = ctx;
    uint64_t tile = first / TLOG_TILE_WIDTH;
    unsigned off = (unsigned)(first % TLOG_TILE_WIDTH);
    unsigned width = tlog_tile_width(r->size, (int)level, tile);
    if (n == 0 || off + n > width)
        return CUSTODY_EINVAL;
    struct strbuf sb = {0};
    int rc = tile_read_any(r->dirfd, (int)level, tile, width, &sb,
                           TLOG_TILE_WIDTH * TLOG_HASH_LEN);
    if (!rc && sb.len < (size_t)width * TLOG_HASH_LEN)
        rc = CUSTODY_ECORRUPT;
    if (!rc && sb.len % TLOG_HASH_LEN)
        rc = CUSTODY_ECORRUPT;
    if (!rc)
        memcpy(out, sb.buf + (size_t)off * TLOG_HASH_LEN, n * TLOG_HASH_LEN);
    sb_free(&sb);
    return rc;
}

int tile_read_bundle(int dirfd, uint64_t size, uint64_t index, struct strbuf *out,
                     uint64_t *first)
{
    if (index >= size)
        return CUSTODY_ENOENT;
    uint64_t tile = index / TLOG_TILE_WIDTH;
    unsigned width = tlog_tile_width(size, TLOG_LEVEL_ENTRIES, tile);
    *first = tile * TLOG_TILE_WIDTH;
    return tile_read_any(dirfd, TLOG_LEVEL_ENTRIES, tile, width, out,
                         (size_t)TLOG_TILE_WIDTH * (TLOG_ENTRY_MAX + 2));
}
