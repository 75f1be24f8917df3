/*
 * cache.c — the verification cache (token.h): tokens whose MAC verified,
 * by their exact string, so a token presented again skips decoding,
 * parsing and the HMAC chain. Everything that can change between two
 * requests (revocation, epoch, expiry, agent, action, resource, range) is
 * still checked on every request by tok_check.
 *
 * Four-way set associative: a token's set is chosen by a seeded 64-bit hash
 * of its string (kept in the slot too, so a lookup reads the set's slots,
 * not the entries); a new token takes an empty way or the one used least recently. A
 * hit needs the same hash, length
 * and bytes, compared in constant time (the token string is a bearer
 * secret: how much of it matched must not show in the timing). Entries are
 * reference counted (struct tok_ref), so a token_info or a verification in
 * flight keeps an entry alive after it is evicted. The mutex is held only
 * to look up or replace a slot.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>

#include "token/internal.h"

#define CACHE_MAX_TOKEN 4096 /* longer tokens are verified without the cache */
#define CACHE_WAYS 4
#define CACHE_MAX_SLOTS (1u << 20)

struct slot {
    uint64_t hash;
    uint64_t used; /* tick of the last use */
    struct tok_ref *r;
};

struct token_cache {
    pthread_mutex_t mu;
    uint8_t key[TOKEN_KEY_LEN];
    uint64_t seed;
    size_t nsets;
    struct slot *slots; /* CACHE_WAYS per set */
    uint64_t tick;      /* a clock for least-recently-used */
    struct token_cache_stats st;
};

/* A seeded multiply-xorshift over 8-byte words (the tail zero-padded, the
 * length mixed in), then a splitmix64 finaliser. It only picks a set: the
 * random seed keeps others from aiming at one, and a hit still compares
 * the whole string. Word-wise because it runs on every request (a
 * byte-wise FNV-1a over a 558-byte token was ~0.7 us of a 1.25 us check). */
static uint64_t slot_hash(uint64_t seed, const char *s, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = seed ^ ((uint64_t)n * k);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, s + i, n - i);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

int token_cache_new(const uint8_t key[TOKEN_KEY_LEN], size_t slots, struct token_cache **out)
{
    if (!key || !out || slots == 0 || slots > CACHE_MAX_SLOTS) return CUSTODY_EINVAL;
    struct token_cache *c = util_calloc(1, sizeof *c);
    if (util_random(&c->seed, sizeof c->seed) != 0) {
        free(c);
        return CUSTODY_EINTERNAL;
    }
    pthread_mutex_init(&c->mu, NULL);
    memcpy(c->key, key, TOKEN_KEY_LEN);
    c->nsets = (slots + CACHE_WAYS - 1) / CACHE_WAYS;
    c->slots = util_calloc(CACHE_WAYS * c->nsets, sizeof *c->slots);
    *out = c;
    return 0;
}

void token_cache_clear(struct token_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < CACHE_WAYS * c->nsets; i++) {
        pthread_mutex_lock(&c->mu);
        struct tok_ref *r = c->slots[i].r;
        c->slots[i] = (struct slot){0};
        pthread_mutex_unlock(&c->mu);
        tok_ref_release(r);
    }
}

void token_cache_free(struct token_cache *c)
{
    if (!c) return;
    token_cache_clear(c);
    free(c->slots);
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c);
}

void token_cache_stats(struct token_cache *c, struct token_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}

/* The entry for token (with a reference taken), or NULL. */
static struct tok_ref *lookup(struct token_cache *c, size_t set, uint64_t h, const char *token,
                              size_t len)
{
    pthread_mutex_lock(&c->mu);
    struct slot *sl = c->slots + set * CACHE_WAYS;
    struct tok_ref *r = NULL;
    for (int w = 0; w < CACHE_WAYS && !r; w++) {
        if (sl[w].r && sl[w].hash == h && sl[w].r->slen == len &&
            util_ct_equal(sl[w].r->str, token, len)) {
            r = sl[w].r;
            sl[w].used = ++c->tick;
        }
    }
    if (r) {
        atomic_fetch_add(&r->refs, 1);
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

static void insert(struct token_cache *c, size_t set, struct tok_ref *r)
{
    atomic_fetch_add(&r->refs, 1); /* the slot's reference */
    pthread_mutex_lock(&c->mu);
    struct slot *sl = c->slots + set * CACHE_WAYS, *victim = sl;
    for (int w = 0; w < CACHE_WAYS && victim->r; w++)
        if (!sl[w].r || sl[w].used < victim->used) victim = &sl[w];
    struct tok_ref *old = victim->r;
    *victim = (struct slot){r->hash, ++c->tick, r};
    c->st.inserts++;
    if (old) c->st.evictions++;
    pthread_mutex_unlock(&c->mu);
    tok_ref_release(old);
}

int token_cache_verify(struct token_cache *c, const char *token, const struct token_request *req,
                       struct token_info *info, struct strbuf *reason)
{
    if (info) memset(info, 0, sizeof *info);
    if (!c || !token || !req)
        return sb_fail(reason, CUSTODY_EINVAL, "token_cache_verify: missing argument");
    size_t len = strnlen(token, CACHE_MAX_TOKEN + 1);
    if (len > CACHE_MAX_TOKEN) return token_verify(c->key, token, req, info, reason);
    uint64_t h = slot_hash(c->seed, token, len);
    size_t set = (size_t)(h % c->nsets);
    struct tok_ref *r = lookup(c, set, h, token, len);
    if (!r) {
        struct tok_ref *fresh = util_calloc(1, sizeof *fresh);
        atomic_init(&fresh->refs, 1);
        int rc = tok_parse(token, len, &fresh->t, reason);
        if (!rc && info) tok_info_fill(info, fresh);
        if (!rc) rc = tok_mac_verify(c->key, &fresh->t, reason);
        if (rc) {
            tok_ref_release(fresh);
            return rc;
        }
        fresh->hash = h;
        fresh->slen = len;
        fresh->str = util_strndup(token, len);
        insert(c, set, fresh);
        r = fresh;
    } else if (info) {
        tok_info_fill(info, r);
    }
    int rc = tok_check(&r->t, req, reason);
    tok_ref_release(r);
    return rc;
}
