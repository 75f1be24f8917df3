/*
 * tiles.c — C2SP tlog-tiles paths, tile coordinates and entry bundles.
 *
 *   tile/<L>/<N>[.p/<W>]      hash tiles (level L: nodes of height 8L)
 *   tile/entries/<N>[.p/<W>]  entry bundles (uint16 big-endian length + bytes)
 *
 * <N> is written in groups of three digits, every group but the last
 * prefixed with 'x' (1234067 -> x001/x234/067). Parsing accepts exactly the
 * spelling tlog_tile_path produces and nothing else, so a served or verified
 * path has one name only.
 */
#include <stdio.h>
#include <string.h>

#include "tlog.h"

#define LEVEL_MAX 63

static int append(char *buf, size_t len, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (*o + n >= len)
        return CUSTODY_EINVAL;
    memcpy(buf + *o, s, n + 1);
    *o += n;
    return 0;
}

int tlog_tile_path(char *buf, size_t len, int level, uint64_t index, unsigned width)
{
    if (level < TLOG_LEVEL_ENTRIES || level > LEVEL_MAX || width == 0 || width > TLOG_TILE_WIDTH)
        return CUSTODY_EINVAL;
    size_t o = 0;
    char tmp[32];
    if (len == 0)
        return CUSTODY_EINVAL;
    buf[0] = '\0';
    if (level == TLOG_LEVEL_ENTRIES) {
        if (append(buf, len, &o, "tile/entries/"))
            return CUSTODY_EINVAL;
    } else {
        snprintf(tmp, sizeof tmp, "tile/%d/", level);
        if (append(buf, len, &o, tmp))
            return CUSTODY_EINVAL;
    }
    /* groups of three digits, most significant first */
    unsigned groups[8];
    int ng = 0;
    uint64_t v = index;
    do {
        groups[ng++] = (unsigned)(v % 1000);
        v /= 1000;
    } while (v);
    for (int i = ng - 1; i >= 0; i--) {
        snprintf(tmp, sizeof tmp, i ? "x%03u/" : "%03u", groups[i]);
        if (append(buf, len, &o, tmp))
            return CUSTODY_EINVAL;
    }
    if (width < TLOG_TILE_WIDTH) {
        snprintf(tmp, sizeof tmp, ".p/%u", width);
        if (append(buf, len, &o, tmp))
            return CUSTODY_EINVAL;
    }
    return 0;
}

static bool digits3(const char *p, size_t avail, unsigned *out)
{
    if (avail < 3)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 3; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return true;
}

int tlog_tile_path_parse(const char *path, size_t len, int *level, uint64_t *index,
                         unsigned *width)
{
    const char *p = path, *end = path + len;
    if (len < 5 || memcmp(p, "tile/", 5) != 0)
        return CUSTODY_EINVAL;
    p += 5;
    if ((size_t)(end - p) >= 8 && memcmp(p, "entries/", 8) == 0) {
        *level = TLOG_LEVEL_ENTRIES;
        p += 8;
    } else {
        /* a decimal level without leading zeros */
        int lv = 0, nd = 0;
        while (p < end && *p >= '0' && *p <= '9' && nd < 3) {
            lv = lv * 10 + (*p - '0');
            p++;
            nd++;
        }
        if (nd == 0 || (nd > 1 && p[-nd] == '0') || lv > LEVEL_MAX || p >= end || *p != '/')
            return CUSTODY_EINVAL;
        p++;
        *level = lv;
    }
    uint64_t v = 0;
    int groups = 0;
    for (;;) {
        unsigned g;
        bool x = p < end && *p == 'x';
        if (x)
            p++;
        if (!digits3(p, (size_t)(end - p), &g))
            return CUSTODY_EINVAL;
        p += 3;
        if (++groups > 7) /* 2^64 has 20 digits: at most 7 groups */
            return CUSTODY_EINVAL;
        if (v > (UINT64_MAX - g) / 1000)
            return CUSTODY_EINVAL;
        v = v * 1000 + g;
        if (x) {
            if (p >= end || *p != '/')
                return CUSTODY_EINVAL;
            p++;
            continue;
        }
        break;
    }
    *index = v;
    /* canonical: no leading "x000/" group */
    char canon[TLOG_PATH_MAX];
    *width = TLOG_TILE_WIDTH;
    if (p < end) {
        if ((size_t)(end - p) < 4 || memcmp(p, ".p/", 3) != 0)
            return CUSTODY_EINVAL;
        p += 3;
        unsigned w = 0;
        int nd = 0;
        while (p < end && *p >= '0' && *p <= '9' && nd < 4) {
            w = w * 10 + (unsigned)(*p - '0');
            p++;
            nd++;
        }
        if (p != end || nd == 0 || w == 0 || w >= TLOG_TILE_WIDTH || (nd > 1 && p[-nd] == '0'))
            return CUSTODY_EINVAL;
        *width = w;
    }
    if (tlog_tile_path(canon, sizeof canon, *level, *index, *width) != 0 ||
        strlen(canon) != len || memcmp(canon, path, len) != 0)
        return CUSTODY_EINVAL;
    return 0;
}

uint64_t tlog_level_count(uint64_t size, int level)
{
    if (level <= 0)
        return size;
    unsigned shift = (unsigned)level * TLOG_TILE_HEIGHT;
    return shift >= 64 ? 0 : size >> shift;
}

unsigned tlog_tile_width(uint64_t size, int level, uint64_t index)
{
    uint64_t count = tlog_level_count(size, level);
    uint64_t full = count / TLOG_TILE_WIDTH;
    if (index < full)
        return TLOG_TILE_WIDTH;
    if (index == full)
        return (unsigned)(count % TLOG_TILE_WIDTH);
    return 0;
}

int tlog_bundle_append(struct strbuf *sb, const void *entry, size_t len)
{
    if (len > TLOG_ENTRY_MAX)
        return CUSTODY_ETOOBIG;
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    int rc = sb_append(sb, hdr, 2);
    if (!rc)
        rc = sb_append(sb, entry, len);
    return rc;
}

int tlog_bundle_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **entry,
                     size_t *elen)
{
    size_t o = *off;
    if (o == len)
        return 1;
    if (o > len || len - o < 2)
        return CUSTODY_ECORRUPT;
    size_t n = (size_t)buf[o] << 8 | buf[o + 1];
    if (len - o - 2 < n)
        return CUSTODY_ECORRUPT;
    *entry = buf + o + 2;
    *elen = n;
    *off = o + 2 + n;
    return 0;
}
