/*
 * token_bench.c — capability tokens per second on one core (`make bench`),
 * against raw libmacaroons measured in the same run (the peer).
 *
 *   mint       token_mint: claims checked, the 8 caveats custody mints
 *              (agent, agent_key, action, resource, expires, issued, policy,
 *              epoch) built and checked, libmacaroons create + 8 caveats +
 *              serialize.          peer: libmacaroons create + 8 caveats +
 *              serialize of the same strings.
 *   verify     token_verify, cold: strict parse, grammar of each caveat,
 *              re-encode, libmacaroons deserialize + verify, every caveat
 *              checked against a request.      peer: libmacaroons
 *              deserialize + verify with the 8 caveats as exact predicates
 *              (no request-dependent check at all: the cheapest possible).
 *   cached     token_cache_verify, the same token again (hit), and a
 *              working set of BENCH_TOKENS distinct tokens in a cache of
 *              4 x that many slots.
 *   inspect    token_inspect (no key).
 *   attenuate  token_attenuate with one caveat (parse, narrowing check,
 *              libmacaroons, serialize).
 *
 * One thread, pinned to the CPU it starts on. custody and the peer run in
 * alternating rounds and each keeps its best round, so a busy neighbour on
 * a shared machine skews neither. A benchmark, not a test: exits 0 when it
 * could run. Environment: BENCH_SECONDS (default 2 per figure and side),
 * BENCH_TOKENS (default 1000).
 */
#include <inttypes.h>
#include <macaroons.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/token.h"

static double seconds = 2;
static uint8_t key[TOKEN_KEY_LEN];
static volatile uint64_t sink;

#define NOW 1767225540u
#define FP "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"

static struct token_claims claims(void)
{
    static const char *const pol[] = {"policy-17"};
    struct token_claims c = {0};
    c.location = "custody/bench";
    c.agent = "agent-7";
    c.agent_key = FP;
    c.actions = TOKEN_ACT_READ | TOKEN_ACT_WRITE;
    c.resource = "demo:/data/file-00000042.txt";
    c.issued = NOW;
    c.expires = NOW + 60;
    c.policies = pol;
    c.npolicies = 1;
    c.epoch = 3;
    return c;
}

static struct token_request request(void)
{
    struct token_request r = {0};
    r.agent = "agent-7";
    r.agent_key = FP;
    r.action = "read";
    r.resource = "demo:/data/file-00000042.txt";
    r.now = NOW + 10;
    r.agent_epoch = 3;
    return r;
}

/* Calls fn for `secs` seconds (checking the clock every 64 calls);
 * returns calls per second. */
static double run_for(void (*fn)(uint64_t i), double secs, uint64_t *n)
{
    uint64_t t0 = util_monotonic_ns(), end = t0 + (uint64_t)(secs * 1e9), t1, start = *n;
    do {
        for (int k = 0; k < 64; k++)
            fn((*n)++);
        t1 = util_monotonic_ns();
    } while (t1 < end);
    return (double)(*n - start) / ((double)(t1 - t0) / 1e9);
}

/* custody's fn and the peer's, in alternating rounds (ROUNDS of them,
 * `seconds` in all for each); the best round of each, so that a busy
 * neighbour on a shared machine skews neither side. peer may be NULL. */
#define ROUNDS 6
static void measure(void (*fn)(uint64_t i), void (*peer)(uint64_t i), double *r_fn, double *r_peer)
{
    uint64_t n = 0, m = 0;
    for (int i = 0; i < 500; i++) { /* warm up */
        fn(n++);
        if (peer) peer(m++);
    }
    *r_fn = *r_peer = 0;
    for (int r = 0; r < ROUNDS; r++) {
        *r_fn = UTIL_MAX(*r_fn, run_for(fn, seconds / ROUNDS, &n));
        if (peer) *r_peer = UTIL_MAX(*r_peer, run_for(peer, seconds / ROUNDS, &m));
    }
}

static void die(const char *what, int rc, const struct strbuf *why)
{
    fprintf(stderr, "token_bench: %s: %d %s\n", what, rc, why && why->buf ? why->buf : "");
    exit(1);
}

/* ---- custody ---- */

static char *one_token;
static char **tokens;
static size_t ntokens = 1000;
static struct token_cache *cache;

static void do_mint(uint64_t i)
{
    struct token_claims c = claims();
    struct strbuf out = STRBUF_INIT;
    int rc = token_mint(key, &c, &out, NULL);
    if (rc) die("mint", rc, NULL);
    sink += out.len + i;
    sb_free(&out);
}

static void do_verify(uint64_t i)
{
    struct token_request r = request();
    int rc = token_verify(key, one_token, &r, NULL, NULL);
    if (rc) die("verify", rc, NULL);
    sink += i;
}

static void do_verify_info(uint64_t i)
{
    struct token_request r = request();
    struct token_info info;
    int rc = token_verify(key, one_token, &r, &info, NULL);
    if (rc) die("verify", rc, NULL);
    sink += info.ncaveats + i;
    token_info_free(&info);
}

static void do_cached_same(uint64_t i)
{
    struct token_request r = request();
    int rc = token_cache_verify(cache, one_token, &r, NULL, NULL);
    if (rc) die("cached verify", rc, NULL);
    sink += i;
}

static void do_cached_set(uint64_t i)
{
    struct token_request r = request();
    int rc = token_cache_verify(cache, tokens[i % ntokens], &r, NULL, NULL);
    if (rc) die("cached verify (set)", rc, NULL);
    sink += i;
}

static void do_inspect(uint64_t i)
{
    struct token_info info;
    int rc = token_inspect(one_token, &info, NULL);
    if (rc) die("inspect", rc, NULL);
    sink += info.ncaveats + i;
    token_info_free(&info);
}

static void do_attenuate(uint64_t i)
{
    static const char *const cav[] = {"action in read"};
    struct strbuf out = STRBUF_INIT;
    int rc = token_attenuate(one_token, cav, 1, &out, NULL);
    if (rc) die("attenuate", rc, NULL);
    sink += out.len + i;
    sb_free(&out);
}

/* ---- the peer: libmacaroons alone ---- */

static char id[TOKEN_ID_HEX_LEN + 1];
static const char *cav[16];
static size_t ncav;

static void peer_mint(uint64_t i)
{
    enum macaroon_returncode err;
    struct macaroon *m =
        macaroon_create((const unsigned char *)"custody/bench", 13, key, TOKEN_KEY_LEN,
                        (const unsigned char *)id, strlen(id), &err);
    for (size_t k = 0; k < ncav && m; k++) {
        struct macaroon *n =
            macaroon_add_first_party_caveat(m, (const unsigned char *)cav[k], strlen(cav[k]), &err);
        macaroon_destroy(m);
        m = n;
    }
    char buf[4096];
    if (!m || macaroon_serialize(m, buf, sizeof buf, &err) != 0) die("peer mint", (int)err, NULL);
    sink += strlen(buf) + i;
    macaroon_destroy(m);
}

static void peer_verify(uint64_t i)
{
    enum macaroon_returncode err;
    struct macaroon *m = macaroon_deserialize(one_token, &err);
    struct macaroon_verifier *v = macaroon_verifier_create();
    for (size_t k = 0; k < ncav; k++)
        macaroon_verifier_satisfy_exact(v, (const unsigned char *)cav[k], strlen(cav[k]), &err);
    if (!m || macaroon_verify(v, m, key, TOKEN_KEY_LEN, NULL, 0, &err) != 0)
        die("peer verify", (int)err, NULL);
    macaroon_verifier_destroy(v);
    macaroon_destroy(m);
    sink += i;
}

static void row(const char *what, double custody, double peer)
{
    if (peer > 0)
        printf("  %-44s %10.0f /s   peer %10.0f /s   custody/peer %5.2fx\n", what, custody, peer,
               custody / peer);
    else
        printf("  %-44s %10.0f /s   (%5.2f us each)\n", what, custody, 1e6 / custody);
}

int main(void)
{
    const char *s = getenv("BENCH_SECONDS");
    if (s) seconds = strtod(s, NULL);
    if (getenv("BENCH_TOKENS")) ntokens = strtoull(getenv("BENCH_TOKENS"), NULL, 10);
    if (ntokens == 0) ntokens = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof set, &set);
    log_set_level(LOG_WARN);
    util_random(key, sizeof key);

    /* the token every figure uses, and its caveats for the peer */
    struct token_claims c = claims();
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    int rc = token_mint(key, &c, &out, &why);
    if (rc) die("mint", rc, &why);
    one_token = sb_detach(&out);
    memcpy(id, c.id, sizeof id);
    struct token_info info;
    if (token_inspect(one_token, &info, NULL) != 0) die("inspect", -1, NULL);
    ncav = info.ncaveats;
    for (size_t k = 0; k < ncav; k++)
        cav[k] = util_strdup(info.caveats[k]);
    token_info_free(&info);
    tokens = util_calloc(ntokens, sizeof *tokens);
    for (size_t k = 0; k < ntokens; k++) {
        struct token_claims d = claims();
        if (token_mint(key, &d, &out, NULL) != 0) die("mint", -1, NULL);
        tokens[k] = sb_detach(&out);
    }
    printf("token bench (%.0f s per figure, best of %d rounds, one core, %zu caveats, token of %zu "
           "bytes, "
           "libmacaroons 0.3.0 as the peer)\n",
           seconds, ROUNDS, ncav, strlen(one_token));

    double a, b;
    measure(do_mint, peer_mint, &a, &b);
    row("mint", a, b);
    measure(do_verify, peer_verify, &a, &b);
    row("verify (cold: parse + MAC + caveats)", a, b);
    measure(do_verify_info, peer_verify, &a, &b);
    row("verify (cold, with token_info)", a, b);
    if (token_cache_new(key, 4 * ntokens, &cache) != 0) die("cache", -1, NULL);
    measure(do_cached_same, peer_verify, &a, &b);
    row("verify (cached, same token)", a, b);
    char label[64];
    snprintf(label, sizeof label, "verify (cached, %zu distinct tokens)", ntokens);
    measure(do_cached_set, peer_verify, &a, &b);
    row(label, a, b);
    struct token_cache_stats st;
    token_cache_stats(cache, &st);
    printf("    cache: %" PRIu64 " hits, %" PRIu64 " misses\n", st.hits, st.misses);
    measure(do_inspect, NULL, &a, &b);
    row("inspect (no key)", a, 0);
    measure(do_attenuate, NULL, &a, &b);
    row("attenuate (one caveat)", a, 0);

    token_cache_free(cache);
    for (size_t k = 0; k < ntokens; k++)
        free(tokens[k]);
    free(tokens);
    for (size_t k = 0; k < ncav; k++)
        free((void *)cav[k]);
    free(one_token);
    sb_free(&why);
    return 0;
}
