/*
 * journal.c — framing and scanning of the group-commit journal (see
 * internal.h for the record layout and docs/ledger.md for why it exists:
 * one sequential write and one fdatasync make a whole batch durable, while
 * tiles and checkpoints follow at their own pace).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void journal_frame(uint64_t first, uint32_t count, const void *payload, size_t len,
                   uint8_t hdr[JOURNAL_HDR], uint8_t trailer[JOURNAL_TRAILER])
{
    memcpy(hdr, JOURNAL_MAGIC, 4);
    be32(hdr + 4, count);
    be32(hdr + 8, (uint32_t)(first >> 32));
    be32(hdr + 12, (uint32_t)first);
    be32(hdr + 16, (uint32_t)len);
    struct util_sha256 *h = util_sha256_new();
    util_sha256_update(h, hdr, JOURNAL_HDR);
    util_sha256_update(h, payload, len);
    util_sha256_final(h, trailer);
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return custody_err_from_errno(errno);
        if (n == 0)
            return 1; /* short: end of file */
        got += (size_t)n;
    }
    return 0;
}

/* Does the payload hold exactly `count` well-formed entries? */
static bool payload_ok(const uint8_t *p, size_t len, uint32_t count)
{
    size_t off = 0, elen;
    const uint8_t *e;
    uint32_t seen = 0;
    int rc;
    while ((rc = tlog_bundle_next(p, len, &off, &e, &elen)) == 0)
        seen++;
    return rc == 1 && seen == count;
}

int journal_scan(int fd, struct journal_rec **recs, size_t *n)
{
    *recs = NULL;
    *n = 0;
    size_t cap = 0;
    uint64_t off = 0, next = 0;
    bool have_next = false;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return custody_err_from_errno(errno);
    for (;;) {
        uint8_t hdr[JOURNAL_HDR];
        int rc = read_full(fd, hdr, sizeof hdr, off);
        if (rc < 0)
            goto fail_rc;
        if (rc > 0 || memcmp(hdr, JOURNAL_MAGIC, 4) != 0)
            break;
        uint32_t count = rd32(hdr + 4), len = rd32(hdr + 16);
        uint64_t first = (uint64_t)rd32(hdr + 8) << 32 | rd32(hdr + 12);
        if (count == 0 || len > JOURNAL_RECORD_MAX || (have_next && first != next) ||
            off + JOURNAL_HDR + len + JOURNAL_TRAILER > (uint64_t)st.st_size)
            break;
        uint8_t *payload = malloc(len ? len : 1);
        uint8_t trailer[JOURNAL_TRAILER], want[JOURNAL_TRAILER];
        if (!payload) {
            rc = CUSTODY_ENOMEM;
            goto fail_rc;
        }
        rc = read_full(fd, payload, len, off + JOURNAL_HDR);
        if (rc == 0)
            rc = read_full(fd, trailer, sizeof trailer, off + JOURNAL_HDR + len);
        if (rc < 0) {
            free(payload);
            goto fail_rc;
        }
        uint8_t hdr2[JOURNAL_HDR];
        if (rc == 0)
            journal_frame(first, count, payload, len, hdr2, want);
        if (rc > 0 || !util_ct_equal(trailer, want, sizeof want) || !payload_ok(payload, len, count)) {
            free(payload);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *recs = util_realloc(*recs, cap * sizeof **recs);
        }
        (*recs)[(*n)++] = (struct journal_rec){first, count, payload, len};
        off += JOURNAL_HDR + len + JOURNAL_TRAILER;
        next = first + count;
        have_next = true;
    }
    return 0;
fail_rc:;
    int err = CUSTODY_EIO;
    journal_recs_free(*recs, *n);
    *recs = NULL;
    *n = 0;
    return err;
}

void journal_recs_free(struct journal_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i].payload);
    free(recs);
}
