/*
 * hash.c — content hashes (ETags) of regular files, cached.
 *
 * Two caches sit in front of hashing the whole file:
 *  - in memory: a fixed 4-way set-associative table of 65536 entries keyed by
 *    (st_dev, st_ino) and validated by (size, mtime, ctime); each set is
 *    guarded by one of 64 striped mutexes; eviction replaces the least
 *    recently used entry of the set. A hit costs one lock and no syscall.
 *  - on disk: the xattr "user.custody.sha256" = "v1 <size> <mtime_ns> <hex>",
 *    validated by (size, mtime) because ctime changes when the xattr is set
 *    and cannot be carried across restarts. Filesystems without user xattrs
 *    are ignored silently.
 * Trust assumption: content does not change without size or mtime changing
 * (nor, for the memory cache, ctime). Whoever can write a file can also set
 * its xattr, so the xattr is trusted exactly as far as the file is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "store/internal.h"

#define HC_WAYS 4
#define HC_SETS 16384 /* HC_WAYS * HC_SETS = 65536 entries, about 5 MiB */
#define HC_STRIPES 64

struct hc_entry {
    uint64_t dev, ino, size;
    int64_t mtime, ctime;
    uint32_t tick;
    bool used;
    uint8_t digest[UTIL_SHA256_LEN];
};

struct store_hcache {
    pthread_mutex_t locks[HC_STRIPES];
    uint32_t ticks[HC_STRIPES];
    struct hc_entry *e; /* HC_SETS * HC_WAYS */
};

int store_hcache_new(struct store_hcache **out)
{
    struct store_hcache *hc = util_calloc(1, sizeof *hc);
    hc->e = util_calloc((size_t)HC_SETS * HC_WAYS, sizeof *hc->e);
    for (size_t i = 0; i < HC_STRIPES; i++)
        pthread_mutex_init(&hc->locks[i], NULL);
    *out = hc;
    return 0;
}

void store_hcache_free(struct store_hcache *hc)
{
    if (!hc) return;
    for (size_t i = 0; i < HC_STRIPES; i++)
        pthread_mutex_destroy(&hc->locks[i]);
    free(hc->e);
    free(hc);
}

static size_t hc_set(uint64_t dev, uint64_t ino)
{
    uint64_t x = ino ^ (dev * 0x9e3779b97f4a7c15ull);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (size_t)(x & (HC_SETS - 1));
}

static bool hc_valid(const struct hc_entry *e, const struct stat *sb)
{
    return e->size == (uint64_t)sb->st_size && e->mtime == store_ts_ns(&sb->st_mtim) &&
           e->ctime == store_ts_ns(&sb->st_ctim);
}

static bool hcache_get(struct store_hcache *hc, const struct stat *sb,
                       uint8_t digest[UTIL_SHA256_LEN])
{
    uint64_t dev = (uint64_t)sb->st_dev, ino = (uint64_t)sb->st_ino;
    size_t set = hc_set(dev, ino), stripe = set % HC_STRIPES;
    struct hc_entry *e = &hc->e[set * HC_WAYS];
    bool hit = false;
    pthread_mutex_lock(&hc->locks[stripe]);
    for (size_t i = 0; i < HC_WAYS; i++) {
        if (e[i].used && e[i].dev == dev && e[i].ino == ino) {
            if (hc_valid(&e[i], sb)) {
                memcpy(digest, e[i].digest, UTIL_SHA256_LEN);
                e[i].tick = ++hc->ticks[stripe];
                hit = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&hc->locks[stripe]);
    return hit;
}

void store_hcache_put(struct store *st, const struct stat *sb, const uint8_t digest[32])
{
    struct store_hcache *hc = st->hcache;
    uint64_t dev = (uint64_t)sb->st_dev, ino = (uint64_t)sb->st_ino;
    size_t set = hc_set(dev, ino), stripe = set % HC_STRIPES;
    struct hc_entry *e = &hc->e[set * HC_WAYS];
    pthread_mutex_lock(&hc->locks[stripe]);
    struct hc_entry *slot = NULL;
    for (size_t i = 0; i < HC_WAYS && !slot; i++)
        if (e[i].used && e[i].dev == dev && e[i].ino == ino) slot = &e[i];
    for (size_t i = 0; i < HC_WAYS && !slot; i++)
        if (!e[i].used) slot = &e[i];
    if (!slot) { /* evict the least recently used way (wrap-safe distance) */
        uint32_t now = hc->ticks[stripe];
        slot = &e[0];
        for (size_t i = 1; i < HC_WAYS; i++)
            if ((uint32_t)(now - e[i].tick) > (uint32_t)(now - slot->tick)) slot = &e[i];
    }
    slot->used = true;
    slot->dev = dev;
    slot->ino = ino;
    slot->size = (uint64_t)sb->st_size;
    slot->mtime = store_ts_ns(&sb->st_mtim);
    slot->ctime = store_ts_ns(&sb->st_ctim);
    slot->tick = ++hc->ticks[stripe];
    memcpy(slot->digest, digest, UTIL_SHA256_LEN);
    pthread_mutex_unlock(&hc->locks[stripe]);
}

/* ---- xattr ---- */

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    uint64_t v;
    if (util_parse_u64(s + neg, len - neg, &v) != 0) return false;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Parses "v1 <size> <mtime_ns> <hex>" and checks it against sb. */
static bool xattr_parse(const char *v, size_t len, const struct stat *sb,
                        uint8_t digest[UTIL_SHA256_LEN])
{
    if (len < 3 || memcmp(v, "v1 ", 3) != 0) return false;
    const char *p = v + 3, *end = v + len;
    const char *sp1 = memchr(p, ' ', (size_t)(end - p));
    if (!sp1) return false;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
    if (!sp2) return false;
    uint64_t size;
    int64_t mtime;
    if (util_parse_u64(p, (size_t)(sp1 - p), &size) != 0 ||
        !parse_i64(sp1 + 1, (size_t)(sp2 - sp1 - 1), &mtime))
        return false;
    const char *hex = sp2 + 1;
    if (end - hex != UTIL_SHA256_HEX_LEN) return false;
    for (size_t i = 0; i < UTIL_SHA256_HEX_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) return false;
    if (size != (uint64_t)sb->st_size || mtime != store_ts_ns(&sb->st_mtim)) return false;
    return util_hex_decode(hex, UTIL_SHA256_HEX_LEN, digest) == 0;
}

void store_hash_xattr_set(int fd, const struct stat *sb, const char *hex)
{
    char v[128];
    int n = snprintf(v, sizeof v, "v1 %" PRIu64 " %" PRId64 " %s", (uint64_t)sb->st_size,
                     store_ts_ns(&sb->st_mtim), hex);
    if (n < 0 || (size_t)n >= sizeof v) return;
    if (fsetxattr(fd, STORE_XATTR_HASH, v, (size_t)n, 0) != 0 && errno != ENOTSUP &&
        errno != EPERM && errno != EACCES && errno != EROFS && errno != ENOSPC && errno != EDQUOT)
        log_debug("store: setting %s: %s", STORE_XATTR_HASH, strerror(errno));
}

static bool same_content_stamp(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           store_ts_ns(&a->st_mtim) == store_ts_ns(&b->st_mtim);
}

int store_content_hash(struct store *st, int fd, const struct stat *sb, bool compute,
                       char hex[UTIL_SHA256_HEX_LEN + 1])
{
    if (!st || fd < 0 || !sb || !hex) return CUSTODY_EINVAL;
    if (!S_ISREG(sb->st_mode)) return S_ISDIR(sb->st_mode) ? CUSTODY_EISDIR : CUSTODY_EINVAL;
    uint8_t d[UTIL_SHA256_LEN];
    if (hcache_get(st->hcache, sb, d)) {
        util_hex_encode(d, sizeof d, hex);
        return 0;
    }
    char v[160];
    ssize_t n = fgetxattr(fd, STORE_XATTR_HASH, v, sizeof v);
    if (n > 0 && xattr_parse(v, (size_t)n, sb, d)) {
        store_hcache_put(st, sb, d);
        util_hex_encode(d, sizeof d, hex);
        return 0;
    }
    if (!compute) return CUSTODY_EAGAIN;

    uint64_t size = 0;
    int rc = util_sha256_fd(fd, d, &size);
    if (rc) return rc;
    util_hex_encode(d, sizeof d, hex);
    struct stat after;
    if (fstat(fd, &after) != 0)
        return 0; /* hashed, but cannot tell whether it stayed put: don't cache */
    if (size != (uint64_t)sb->st_size || !same_content_stamp(&after, sb) ||
        store_ts_ns(&after.st_ctim) != store_ts_ns(&sb->st_ctim))
        return 0; /* changed while we read it: the hash is of a moving target */
    store_hash_xattr_set(fd, sb, hex);
    /* Setting the xattr moved ctime; cache under the stamp callers will see. */
    if (fstat(fd, &after) == 0 && same_content_stamp(&after, sb)) store_hcache_put(st, &after, d);
    return 0;
}
