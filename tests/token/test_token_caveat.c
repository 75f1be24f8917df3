/*
 * test_token_caveat.c — the caveat grammar (src/token/caveat.c): what each
 * key accepts and refuses, how caveats combine into the effective claims,
 * and the verification cache.
 */
#include <pthread.h>

#include "token_fixture.h"

TEST(token_caveat_grammar_accepts)
{
    const char *ok[] = {
        "agent = a",
        "agent = agent-7",
        "agent = A.b_c-9",
        "agent_key = " FX_KEY_FP,
        "action in read",
        "action in read,write,list,stat,mkdir,move,delete,rollback,versions,token.mint,model.load",
        "resource = demo:/",
        "resource = demo:/a",
        "resource = demo:/a/b.txt",
        "resource = demo:/my file.txt",
        "resource = demo:/\xc3\xa9t\xc3\xa9/x",
        "resource = demo:/a/.hidden/..x",
        "resource_prefix = demo:/",
        "resource_prefix = demo:/a/",
        "resource_prefix = my_root-2:/a/b/",
        "range = 0-0",
        "range = 0-4095",
        "range = 18446744073709551615-18446744073709551615",
        "expires < 1767225600",
        "expires < 0",
        "issued = 1767225540",
        "policy = policy-17",
        "policy = cedar:allow/read@v2",
        "epoch = 0",
        "epoch = 3",
        "attest = " FX_ATTEST,
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ok); i++) {
        struct strbuf why = STRBUF_INIT;
        int rc = token_caveat_check(ok[i], strlen(ok[i]), &why);
        if (rc) TEST_FAIL_("\"%s\": %d %s", ok[i], rc, why.buf);
        sb_free(&why);
    }
}

TEST(token_caveat_grammar_refuses)
{
    const char *bad[] = {
        "",
        "agent",
        "agent =",
        "agent = ",
        "agent  = a",
        "agent =  a",
        " agent = a",
        "agent == a",
        "Agent = a",
        "agent = .a",
        "agent = -a",
        "agent = a b",
        "agent = a/b",
        "agent = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        "agent_key = ed25519:3B6A27BCCEB6A42D62A3A8D02A6F0D73653215771DE243A63AC048A18B59DA29",
        "agent_key = ed25519:3b6a",
        "agent_key = ed448:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
        "action in",
        "action in ",
        "action in read,",
        "action in ,read",
        "action in read,,write",
        "action in read,read",
        "action in READ",
        "action in read, write",
        "action in *",
        "action = read",
        "resource = demo:/a/",
        "resource = demo:/a/../b",
        "resource = demo:/a/./b",
        "resource = demo:/..",
        "resource = demo://a",
        "resource = demo:/a//b",
        "resource = demo:a",
        "resource = demo:",
        "resource = :/a",
        "resource = de mo:/a",
        "resource = _demo:/a",
        "resource = demo:/a\x01",
        "resource = demo:/a\x7f",
        "resource = demo:/\xff",
        "resource = demo:/\xc0\xaf",
        "resource_prefix = demo:/a",
        "resource_prefix = demo:/a/../",
        "resource_prefix = demo://",
        "range = 5-4",
        "range = 01-5",
        "range = -5",
        "range = 5-",
        "range = 5",
        "range = 0-18446744073709551616",
        "range = +1-2",
        "expires < 0123",
        "expires < 18446744073709551616",
        "expires < -1",
        "expires < 1e9",
        "expires = 5",
        "expires <= 5",
        "issued < 5",
        "epoch = 1 ",
        "epoch = x",
        "policy = ",
        "policy = has space",
        "policy = -x",
        "attest = sha256:short",
        "attest = sha512:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "time < 5",
        "cid = x",
        "agent = a\n",
        "agent = a\t",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf why = STRBUF_INIT;
        int rc = token_caveat_check(bad[i], strlen(bad[i]), &why);
        if (rc != CUSTODY_EBADTOKEN) TEST_FAIL_("\"%s\" was not refused: %d", bad[i], rc);
        ASSERT(why.len > 0);
        sb_free(&why);
    }
    /* a NUL inside, and the size limit */
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_caveat_check("agent = a\0b", 11, NULL));
    char big[TOKEN_MAX_CAVEAT_LEN + 2];
    memset(big, 'a', sizeof big);
    ASSERT_EQ(CUSTODY_ETOOBIG, token_caveat_check(big, sizeof big, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, token_caveat_check(NULL, 0, NULL));
    /* messages quote the caveat safely */
    struct strbuf why = STRBUF_INIT;
    token_caveat_check("resource = demo:/\x01\"", 19, &why);
    ASSERT_STR_CONTAINS(why.buf, "\\x01\\x22");
    sb_free(&why);
}

TEST(token_caveat_actions)
{
    ASSERT_EQ(TOKEN_ACT_READ, token_action_from_name("read", 4));
    ASSERT_EQ(TOKEN_ACT_TOKEN_MINT, token_action_from_name("token.mint", 10));
    ASSERT_EQ(TOKEN_ACT_MODEL_LOAD, token_action_from_name("model.load", 10));
    ASSERT_EQ(0, token_action_from_name("rea", 3));
    ASSERT_EQ(0, token_action_from_name("reads", 5));
    for (uint32_t b = 1; b & TOKEN_ACT_ALL; b <<= 1) {
        const char *n = token_action_name(b);
        ASSERT_NOT_NULL(n);
        ASSERT_EQ(b, token_action_from_name(n, strlen(n)));
    }
    ASSERT_NULL(token_action_name(3));
    ASSERT_NULL(token_action_name(1u << TOKEN_ACT_COUNT));
    ASSERT_STR_EQ("resource_prefix", token_caveat_key_name(TOKEN_CAV_RESOURCE_PREFIX));
}

static struct token_effective eff_of(const char *const *cav, size_t n, struct token_info *info)
{
    char *t = fx_raw_mint(fx_key(), FX_ID, cav, n);
    ASSERT_OK(token_inspect(t, info, NULL));
    free(t);
    return info->eff;
}

TEST(token_caveat_effective_claims)
{
    struct token_info info;
    const char *a[] = {"action in read,write,delete",
                       "action in write,read",
                       "expires < 200",
                       "expires < 100",
                       "expires < 300",
                       "issued = 50",
                       "issued = 40",
                       "range = 0-99",
                       "range = 50-150",
                       "policy = p1",
                       "policy = p2",
                       "epoch = 7"};
    struct token_effective e = eff_of(a, UTIL_ARRAY_LEN(a), &info);
    ASSERT_EQ(TOKEN_ACT_READ | TOKEN_ACT_WRITE, e.actions);
    ASSERT_EQ(100, e.expires);
    ASSERT_EQ(40, e.issued);
    ASSERT_EQ(50, e.range_first);
    ASSERT_EQ(99, e.range_last);
    ASSERT_EQ(2, e.npolicies);
    ASSERT_STR_EQ("p2", e.policies[1]);
    ASSERT_EQ(7, e.epoch);
    ASSERT_EQ(0, e.conflicts);
    ASSERT_NULL(e.agent);
    ASSERT(!(e.present & TOKEN_CAV_BIT(TOKEN_CAV_AGENT)));
    ASSERT(e.present & TOKEN_CAV_BIT(TOKEN_CAV_RANGE));
    token_info_free(&info);

    /* resources: the narrower wins, in either order */
    const char *b[] = {"resource_prefix = demo:/a/", "resource_prefix = demo:/a/b/"};
    e = eff_of(b, 2, &info);
    ASSERT_STR_EQ("demo:/a/b/", e.resource);
    ASSERT(e.resource_prefix);
    token_info_free(&info);
    const char *c[] = {"resource = demo:/a/b/c", "resource_prefix = demo:/a/"};
    e = eff_of(c, 2, &info);
    ASSERT_STR_EQ("demo:/a/b/c", e.resource);
    ASSERT(!e.resource_prefix);
    ASSERT_EQ(0, e.conflicts);
    token_info_free(&info);

    /* contradictions: flagged, the token allows nothing */
    const char *d[] = {"agent = x",          "agent = y",
                       "action in read",     "action in write",
                       "epoch = 1",          "epoch = 2",
                       "range = 0-9",        "range = 10-19",
                       "resource = demo:/a", "resource_prefix = demo:/ab/"};
    e = eff_of(d, UTIL_ARRAY_LEN(d), &info);
    uint32_t want = TOKEN_CAV_BIT(TOKEN_CAV_AGENT) | TOKEN_CAV_BIT(TOKEN_CAV_ACTION) |
                    TOKEN_CAV_BIT(TOKEN_CAV_EPOCH) | TOKEN_CAV_BIT(TOKEN_CAV_RANGE) |
                    TOKEN_CAV_BIT(TOKEN_CAV_RESOURCE);
    ASSERT_EQ(want, e.conflicts);
    ASSERT_EQ(0, e.actions);
    token_info_free(&info);
}

/* ---- the verification cache ---- */

TEST(token_cache_hits_and_checks)
{
    struct token_cache *c;
    ASSERT_EQ(CUSTODY_EINVAL, token_cache_new(fx_key(), 0, &c));
    ASSERT_OK(token_cache_new(fx_key(), 64, &c));
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    struct token_cache_stats st;
    ASSERT_OK(token_cache_verify(c, tok, &r, NULL, NULL));
    ASSERT_OK(token_cache_verify(c, tok, &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(1, st.hits);
    ASSERT_EQ(1, st.misses);
    ASSERT_EQ(1, st.inserts);
    /* a hit still checks everything that can change */
    struct strbuf why = STRBUF_INIT;
    r.action = "delete";
    ASSERT_EQ(CUSTODY_EPERM, token_cache_verify(c, tok, &r, NULL, &why));
    ASSERT_STR_CONTAINS(why.buf, "action in read,write");
    r = fx_request();
    r.now = FX_NOW + 300;
    ASSERT_EQ(CUSTODY_EEXPIRED, token_cache_verify(c, tok, &r, NULL, NULL));
    r = fx_request();
    r.agent_epoch = 4;
    ASSERT_EQ(CUSTODY_EREVOKED, token_cache_verify(c, tok, &r, NULL, NULL));
    r = fx_request();
    r.agent = "agent-8";
    ASSERT_EQ(CUSTODY_EPERM, token_cache_verify(c, tok, &r, NULL, NULL));
    r = fx_request();
    r.resource = "demo:/a/b.txt2";
    ASSERT_EQ(CUSTODY_EPERM, token_cache_verify(c, tok, &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(6, st.hits);
    /* info from a hit */
    r = fx_request();
    struct token_info info;
    ASSERT_OK(token_cache_verify(c, tok, &r, &info, NULL));
    ASSERT_EQ(8, info.ncaveats);
    ASSERT_STR_EQ("agent = agent-7", info.caveats[0]);
    /* a forged token is never cached: refused every time */
    const char *cav[] = {FX_CAVEATS};
    char *forged = fx_raw_mint(fx_other_key(), FX_ID, cav, 8);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(CUSTODY_EBADTOKEN, token_cache_verify(c, forged, &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(1, st.inserts);
    /* the same token in another spelling is another entry, same answer */
    struct strbuf js = STRBUF_INIT;
    ASSERT_OK(token_to_json(tok, &js, NULL));
    ASSERT_OK(token_cache_verify(c, js.buf, &r, NULL, NULL));
    /* clear: info still holds its entry */
    token_cache_clear(c);
    ASSERT_STR_EQ("agent = agent-7", info.caveats[0]);
    token_info_free(&info);
    ASSERT_OK(token_cache_verify(c, tok, &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(3, st.inserts);
    token_cache_free(c);
    token_cache_free(NULL);
    sb_free(&why);
    sb_free(&js);
    free(forged);
    free(tok);
}

TEST(token_cache_key_binding_and_eviction)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    struct token_cache *c;
    /* a cache for another key refuses the token, hit or not */
    ASSERT_OK(token_cache_new(fx_other_key(), 1, &c));
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_cache_verify(c, tok, &r, NULL, NULL));
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_cache_verify(c, tok, &r, NULL, NULL));
    token_cache_free(c);
    /* one set of four ways: four tokens all stay; a fifth, cycling, evicts
     * the least recently used every time */
    ASSERT_OK(token_cache_new(fx_key(), 1, &c));
    char *t[5];
    for (int i = 0; i < 5; i++) {
        struct token_claims cl = fx_claims();
        t[i] = fx_mint(&cl);
    }
    struct token_cache_stats st;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++)
            ASSERT_OK(token_cache_verify(c, t[i], &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(8, st.hits);
    ASSERT_EQ(4, st.inserts);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 5; i++)
            ASSERT_OK(token_cache_verify(c, t[i], &r, NULL, NULL));
    token_cache_stats(c, &st);
    ASSERT_EQ(12, st.hits); /* t0..t3 once more, then nothing */
    ASSERT_EQ(15, st.inserts);
    ASSERT_EQ(11, st.evictions);
    char *tok2 = t[1];
    /* a token that differs in its last character is not a hit */
    struct strbuf near = STRBUF_INIT;
    sb_puts(&near, tok2);
    near.buf[near.len - 1] = near.buf[near.len - 1] == 'A' ? 'B' : 'A';
    ASSERT_NE(0, token_cache_verify(c, near.buf, &r, NULL, NULL));
    /* tokens over 4 KiB bypass the cache */
    const char *cav[TOKEN_MAX_CAVEATS];
    for (int i = 0; i < 50; i++)
        cav[i] = "policy = a-rather-long-policy-identifier-to-make-the-token-large";
    char *big = fx_raw_attenuate(tok, cav, 50);
    ASSERT_GT(strlen(big), 4096);
    ASSERT_OK(token_cache_verify(c, big, &r, NULL, NULL));
    token_cache_free(c);
    sb_free(&near);
    free(big);
    free(tok);
    for (int i = 0; i < 5; i++)
        free(t[i]);
}

struct thr {
    struct token_cache *c;
    char *tok[3];
    int fails;
};

static void *hammer(void *arg)
{
    struct thr *t = arg;
    struct token_request r = fx_request();
    for (int i = 0; i < 2000; i++) {
        struct token_info info;
        int rc = token_cache_verify(t->c, t->tok[i % 3], &r, i % 2 ? &info : NULL, NULL);
        if (rc != 0) __atomic_add_fetch(&t->fails, 1, __ATOMIC_RELAXED);
        if (i % 2) {
            if (info.ncaveats != 8) __atomic_add_fetch(&t->fails, 1, __ATOMIC_RELAXED);
            token_info_free(&info);
        }
    }
    return NULL;
}

TEST(token_cache_threads)
{
    struct thr t = {0};
    ASSERT_OK(token_cache_new(fx_key(), 2, &t.c));
    for (int i = 0; i < 3; i++) {
        struct token_claims c = fx_claims();
        t.tok[i] = fx_mint(&c);
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ASSERT_OK(pthread_create(&th[i], NULL, hammer, &t));
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ASSERT_EQ(0, t.fails);
    token_cache_free(t.c);
    for (int i = 0; i < 3; i++)
        free(t.tok[i]);
}
