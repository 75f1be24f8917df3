/*
 * merkle.c — RFC 6962 / RFC 9162 Merkle tree hashing and proofs over a
 * tlog-tiles hash store.
 *
 * The tree is never held in memory: proofs ask a tlog_hash_reader for the
 * stored hashes (tile level L holds the nodes of height 8L) and compute the
 * nodes in between. A node of height 8L + r (r < 8) needs 2^r stored hashes
 * of one tile hashed up r levels; an optional tile cache keeps whole tile
 * trees (511 nodes) so that a proof costs O(log n) lookups rather than
 * hundreds of hashes.
 *
 * Proof generation follows RFC 9162 §2.1.3 (PATH) and §2.1.4 (SUBPROOF);
 * verification follows the iterative algorithms of §2.1.3.2 and §2.1.4.2.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tlog.h"

/* ---- hashing ---- */

/* One digest context per thread, with SHA-256 fetched once. */
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static pthread_key_t ctx_key; /* frees a thread's context when it exits */
static __thread EVP_MD_CTX *tls_ctx;

static void ctx_free(void *p)
{
    EVP_MD_CTX_free(p);
}

static void md_free(void)
{
    EVP_MD_free(sha256_md);
}

static void md_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&ctx_key, ctx_free);
    atexit(md_free);
}

static void hash2(uint8_t prefix, const void *a, size_t alen, const void *b, size_t blen,
                  uint8_t out[TLOG_HASH_LEN])
{
    pthread_once(&md_once, md_init);
    if (!tls_ctx) {
        tls_ctx = EVP_MD_CTX_new();
        pthread_setspecific(ctx_key, tls_ctx);
    }
    unsigned int n = 0;
    if (!sha256_md || !tls_ctx || !EVP_DigestInit_ex2(tls_ctx, sha256_md, NULL) ||
        !EVP_DigestUpdate(tls_ctx, &prefix, 1) || (alen && !EVP_DigestUpdate(tls_ctx, a, alen)) ||
        (blen && !EVP_DigestUpdate(tls_ctx, b, blen)) ||
        !EVP_DigestFinal_ex(tls_ctx, out, &n))
        abort(); /* a broken libcrypto: nothing sane to do */
}

void tlog_leaf_hash(const void *entry, size_t len, uint8_t out[TLOG_HASH_LEN])
{
    hash2(0x00, entry, len, NULL, 0, out);
}

void tlog_node_hash(const uint8_t left[TLOG_HASH_LEN], const uint8_t right[TLOG_HASH_LEN],
                    uint8_t out[TLOG_HASH_LEN])
{
    hash2(0x01, left, TLOG_HASH_LEN, right, TLOG_HASH_LEN, out);
}

void tlog_empty_root(uint8_t out[TLOG_HASH_LEN])
{
    util_sha256("", 0, out);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

void tlog_hash_range(const uint8_t (*nodes)[TLOG_HASH_LEN], size_t n, uint8_t out[TLOG_HASH_LEN])
{
    if (n == 1) {
        memcpy(out, nodes[0], TLOG_HASH_LEN);
        return;
    }
    size_t k = (size_t)split_point(n);
    uint8_t l[TLOG_HASH_LEN], r[TLOG_HASH_LEN];
    tlog_hash_range(nodes, k, l);
    tlog_hash_range(nodes + k, n - k, r);
    tlog_node_hash(l, r, out);
}

void tlog_edge_root(const uint8_t (*const hashes[])[TLOG_HASH_LEN], const unsigned counts[],
                    size_t levels, uint8_t out[TLOG_HASH_LEN])
{
    /* at most 9 perfect subtrees a level (a count of 256 is one of 256) */
    uint8_t subs[64 * (TLOG_TILE_HEIGHT + 1)][TLOG_HASH_LEN];
    size_t ns = 0;
    for (size_t lv = levels > 64 ? 64 : levels; lv-- > 0;) {
        unsigned off = 0;
        for (int bit = TLOG_TILE_HEIGHT; bit >= 0; bit--) {
            if (!(counts[lv] >> bit & 1))
                continue;
            tlog_hash_range(hashes[lv] + off, 1u << bit, subs[ns++]);
            off += 1u << bit;
        }
    }
    if (ns == 0) {
        tlog_empty_root(out);
        return;
    }
    memcpy(out, subs[ns - 1], TLOG_HASH_LEN);
    for (size_t i = ns - 1; i-- > 0;)
        tlog_node_hash(subs[i], out, out);
}

/* ---- tile cache ---- */

/*
 * A tile tree: the 256 stored hashes of a tile (height 0 inside the tile)
 * and every complete node above them up to the tile root (height 8):
 * 256 + 128 + ... + 1 = 511 nodes. For a partial tile only the complete
 * nodes are filled.
 */
#define TREE_NODES 511
static const unsigned tree_off[9] = {0, 256, 384, 448, 480, 496, 504, 508, 510};

struct tile_slot {
    bool used;
    unsigned level;
    uint64_t index;
    unsigned width;
    uint64_t stamp;
    uint8_t nodes[TREE_NODES][TLOG_HASH_LEN];
};

struct tlog_tile_cache {
    pthread_mutex_t mu;
    size_t nslots;
    uint64_t clock;
    struct tile_slot *slots;
};

struct tlog_tile_cache *tlog_tile_cache_new(size_t tiles)
{
    struct tlog_tile_cache *c = util_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->nslots = tiles ? tiles : 1;
    c->slots = util_calloc(c->nslots, sizeof *c->slots);
    return c;
}

void tlog_tile_cache_free(struct tlog_tile_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

void tlog_tile_cache_clear(struct tlog_tile_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nslots; i++)
        c->slots[i].used = false;
    pthread_mutex_unlock(&c->mu);
}

/* Slot for (level, index): a small set-associative table (4 ways). */
#define WAYS 4
static size_t set_base(const struct tlog_tile_cache *c, unsigned level, uint64_t index)
{
    uint64_t h = (index * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)level << 56);
    size_t sets = c->nslots / WAYS ? c->nslots / WAYS : 1;
    return (size_t)((h >> 17) % sets) * (c->nslots >= WAYS ? WAYS : 1);
}

static void fill_tree(struct tile_slot *s, unsigned width)
{
    for (unsigned h = 1; h <= 8; h++) {
        unsigned count = width >> h;
        for (unsigned j = 0; j < count; j++)
            tlog_node_hash(s->nodes[tree_off[h - 1] + 2 * j], s->nodes[tree_off[h - 1] + 2 * j + 1],
                           s->nodes[tree_off[h] + j]);
    }
}

/*
 * The node of height r (0..8) at position j inside tile (level, index),
 * which needs `need` stored hashes of that tile. Uses the cache when there
 * is one; a cached tile narrower than needed is refilled.
 */
static int tile_node(const struct tlog_hash_reader *rd, unsigned level, uint64_t index,
                     unsigned need, unsigned r, unsigned j, uint8_t out[TLOG_HASH_LEN])
{
    struct tlog_tile_cache *c = rd->cache;
    if (!c) {
        uint8_t buf[TLOG_TILE_WIDTH][TLOG_HASH_LEN];
        unsigned first = j << r, n = 1u << r;
        int rc = rd->read(rd->ctx, level, index * TLOG_TILE_WIDTH + first, n, buf);
        if (rc)
            return rc;
        tlog_hash_range((const uint8_t(*)[TLOG_HASH_LEN])buf, n, out);
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    size_t base = set_base(c, level, index), ways = c->nslots >= WAYS ? WAYS : 1;
    struct tile_slot *victim = NULL;
    for (size_t w = 0; w < ways; w++) {
        struct tile_slot *s = &c->slots[base + w];
        if (s->used && s->level == level && s->index == index && s->width >= need) {
            s->stamp = ++c->clock;
            memcpy(out, s->nodes[tree_off[r] + j], TLOG_HASH_LEN);
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        if (!victim || !s->used || (victim->used && s->stamp < victim->stamp))
            victim = s;
    }
    /* miss: read the widest tile the reader has up to 256 (need at least
     * `need`); the reader reports widths by succeeding or failing */
    victim->used = false;
    unsigned width = need;
    int rc = rd->read(rd->ctx, level, index * TLOG_TILE_WIDTH, width, victim->nodes);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    fill_tree(victim, width);
    victim->used = true;
    victim->level = level;
    victim->index = index;
    victim->width = width;
    victim->stamp = ++c->clock;
    memcpy(out, victim->nodes[tree_off[r] + j], TLOG_HASH_LEN);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ---- nodes and roots from the store ---- */

int tlog_node(const struct tlog_hash_reader *rd, uint64_t size, unsigned height, uint64_t k,
              uint8_t out[TLOG_HASH_LEN])
{
    if (height >= 64 || k >= (size >> height))
        return CUSTODY_EINVAL;
    unsigned level = height / TLOG_TILE_HEIGHT, r = height % TLOG_TILE_HEIGHT;
    uint64_t first = k << r; /* index among level-L stored hashes */
    uint64_t tile = first / TLOG_TILE_WIDTH;
    unsigned in_tile = (unsigned)(first % TLOG_TILE_WIDTH);
    /* how many hashes of this tile the tree of `size` holds */
    uint64_t count = size >> (TLOG_TILE_HEIGHT * level);
    uint64_t avail = count - tile * TLOG_TILE_WIDTH;
    unsigned width = avail >= TLOG_TILE_WIDTH ? TLOG_TILE_WIDTH : (unsigned)avail;
    /* ask for exactly what the tree of this size holds, so a partial tile of
     * that width (or the full tile) can answer */
    (void)width;
    unsigned need = in_tile + (1u << r);
    if (rd->cache)
        need = width; /* cache whole tiles as far as this tree reaches */
    return tile_node(rd, level, tile, need, r, in_tile >> r, out);
}

/* MTH over leaves [lo, hi) of the tree of `size`. */
static int range_hash(const struct tlog_hash_reader *rd, uint64_t size, uint64_t lo, uint64_t hi,
                      uint8_t out[TLOG_HASH_LEN])
{
    uint64_t n = hi - lo;
    if ((n & (n - 1)) == 0 && lo % n == 0) {
        unsigned h = (unsigned)__builtin_ctzll(n);
        return tlog_node(rd, size, h, lo >> h, out);
    }
    uint64_t k = split_point(n);
    uint8_t l[TLOG_HASH_LEN], r[TLOG_HASH_LEN];
    int rc = range_hash(rd, size, lo, lo + k, l);
    if (!rc)
        rc = range_hash(rd, size, lo + k, hi, r);
    if (!rc)
        tlog_node_hash(l, r, out);
    return rc;
}

int tlog_tree_root(const struct tlog_hash_reader *rd, uint64_t size, uint8_t out[TLOG_HASH_LEN])
{
    if (size == 0) {
        tlog_empty_root(out);
        return 0;
    }
    return range_hash(rd, size, 0, size, out);
}

/* ---- proofs ---- */

struct proof_acc {
    uint8_t (*out)[TLOG_HASH_LEN];
    size_t n;
};

/* Appends hashes bottom-up: recursion first, then the sibling. */
static int path(const struct tlog_hash_reader *rd, uint64_t size, uint64_t m, uint64_t lo,
                uint64_t hi, struct proof_acc *acc)
{
    uint64_t n = hi - lo;
    if (n == 1)
        return 0;
    uint64_t k = split_point(n);
    int rc;
    if (m < k) {
        rc = path(rd, size, m, lo, lo + k, acc);
        if (!rc && acc->n < TLOG_PROOF_MAX)
            rc = range_hash(rd, size, lo + k, hi, acc->out[acc->n++]);
    } else {
        rc = path(rd, size, m - k, lo + k, hi, acc);
        if (!rc && acc->n < TLOG_PROOF_MAX)
            rc = range_hash(rd, size, lo, lo + k, acc->out[acc->n++]);
    }
    return rc;
}

int tlog_prove_inclusion(const struct tlog_hash_reader *rd, uint64_t size, uint64_t index,
                         uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n)
{
    if (index >= size)
        return CUSTODY_EINVAL;
    struct proof_acc acc = {proof, 0};
    int rc = path(rd, size, index, 0, size, &acc);
    *n = acc.n;
    return rc;
}

static int subproof(const struct tlog_hash_reader *rd, uint64_t size, uint64_t m, uint64_t lo,
                    uint64_t hi, bool b, struct proof_acc *acc)
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (b)
            return 0;
        if (acc->n >= TLOG_PROOF_MAX)
            return CUSTODY_EINTERNAL;
        return range_hash(rd, size, lo, hi, acc->out[acc->n++]);
    }
    uint64_t k = split_point(n);
    int rc;
    if (m <= k) {
        rc = subproof(rd, size, m, lo, lo + k, b, acc);
        if (!rc && acc->n < TLOG_PROOF_MAX)
            rc = range_hash(rd, size, lo + k, hi, acc->out[acc->n++]);
    } else {
        rc = subproof(rd, size, m - k, lo + k, hi, false, acc);
        if (!rc && acc->n < TLOG_PROOF_MAX)
            rc = range_hash(rd, size, lo, lo + k, acc->out[acc->n++]);
    }
    return rc;
}

int tlog_prove_consistency(const struct tlog_hash_reader *rd, uint64_t size, uint64_t old_size,
                           uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n)
{
    if (old_size == 0 || old_size > size)
        return CUSTODY_EINVAL;
    struct proof_acc acc = {proof, 0};
    int rc = subproof(rd, size, old_size, 0, size, true, &acc);
    *n = acc.n;
    return rc;
}

/* RFC 9162 §2.1.3.2 */
int tlog_check_inclusion(const uint8_t (*proof)[TLOG_HASH_LEN], size_t n, uint64_t size,
                         uint64_t index, const uint8_t leaf[TLOG_HASH_LEN],
                         const uint8_t root[TLOG_HASH_LEN])
{
    if (index >= size)
        return CUSTODY_EBADPROOF;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[TLOG_HASH_LEN];
    memcpy(r, leaf, TLOG_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return CUSTODY_EBADPROOF;
        if ((fn & 1) || fn == sn) {
            tlog_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tlog_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || !util_ct_equal(r, root, TLOG_HASH_LEN))
        return CUSTODY_EBADPROOF;
    return 0;
}

/* RFC 9162 §2.1.4.2 */
int tlog_check_consistency(const uint8_t (*proof)[TLOG_HASH_LEN], size_t n, uint64_t size,
                           const uint8_t root[TLOG_HASH_LEN], uint64_t old_size,
                           const uint8_t old_root[TLOG_HASH_LEN])
{
    if (old_size == 0 || old_size > size)
        return CUSTODY_EBADPROOF;
    if (old_size == size)
        return n == 0 && util_ct_equal(root, old_root, TLOG_HASH_LEN) ? 0 : CUSTODY_EBADPROOF;
    if (n == 0)
        return CUSTODY_EBADPROOF;
    /* when old_size is a power of two, the old root is the first element */
    const uint8_t(*p)[TLOG_HASH_LEN] = proof;
    size_t pn = n;
    uint8_t first[TLOG_HASH_LEN];
    if ((old_size & (old_size - 1)) == 0) {
        memcpy(first, old_root, TLOG_HASH_LEN);
    } else {
        memcpy(first, p[0], TLOG_HASH_LEN);
        p++;
        pn--;
    }
    uint64_t fn = old_size - 1, sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[TLOG_HASH_LEN], sr[TLOG_HASH_LEN];
    memcpy(fr, first, TLOG_HASH_LEN);
    memcpy(sr, first, TLOG_HASH_LEN);
    for (size_t i = 0; i < pn; i++) {
        if (sn == 0)
            return CUSTODY_EBADPROOF;
        if ((fn & 1) || fn == sn) {
            tlog_node_hash(p[i], fr, fr);
            tlog_node_hash(p[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tlog_node_hash(sr, p[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || !util_ct_equal(fr, old_root, TLOG_HASH_LEN) ||
        !util_ct_equal(sr, root, TLOG_HASH_LEN))
        return CUSTODY_EBADPROOF;
    return 0;
}
