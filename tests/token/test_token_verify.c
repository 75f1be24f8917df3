/*
 * test_token_verify.c — minting and verification (src/token/token.c,
 * caveat.c): a minted token verifies for the request it was minted for,
 * and each caveat refuses a request it does not permit, with the right
 * error and a reason naming the caveat; the order of the checks; the root
 * key file.
 */
#include <sys/stat.h>

#include "token_fixture.h"

static void expect(const char *tok, const struct token_request *r, int want, const char *why_has)
{
    char *why = NULL;
    int rc = fx_verify(tok, r, &why);
    if (rc != want) TEST_FAIL_("verify: %d, want %d (%s)", rc, want, why);
    if (why_has) ASSERT_STR_CONTAINS(why, why_has);
    free(why);
}

TEST(token_mint_verify_ok)
{
    struct token_claims c = fx_claims();
    char *tok = fx_mint(&c);
    ASSERT_EQ(TOKEN_ID_HEX_LEN, strlen(c.id)); /* filled in */
    ASSERT(strchr(tok, '=') == NULL && strchr(tok, '+') == NULL && strchr(tok, '/') == NULL);
    struct token_request r = fx_request();
    struct token_info info;
    struct strbuf why = STRBUF_INIT;
    ASSERT_OK(token_verify(fx_key(), tok, &r, &info, &why));
    ASSERT_STR_EQ(c.id, info.id);
    ASSERT_STR_EQ("custody/node-1", info.location);
    ASSERT_EQ(8, info.ncaveats);
    const char *want[] = {FX_CAVEATS};
    for (size_t i = 0; i < 8; i++)
        ASSERT_STR_EQ(want[i], info.caveats[i]);
    ASSERT_STR_EQ(FX_AGENT, info.eff.agent);
    ASSERT_EQ(TOKEN_ACT_READ | TOKEN_ACT_WRITE, info.eff.actions);
    ASSERT_STR_EQ("demo:/a/b.txt", info.eff.resource);
    ASSERT(!info.eff.resource_prefix);
    ASSERT_EQ(FX_NOW + 300, info.eff.expires);
    ASSERT_EQ(1, info.eff.npolicies);
    ASSERT_STR_EQ("policy-17", info.eff.policies[0]);
    ASSERT_EQ(0, info.eff.conflicts);
    token_info_free(&info);
    token_info_free(&info); /* twice is fine */
    r.action = "write";
    ASSERT_OK(token_verify(fx_key(), tok, &r, NULL, NULL));
    /* a chosen id is kept */
    struct token_claims d = fx_claims();
    util_strlcpy(d.id, FX_ID, sizeof d.id);
    char *tok2 = fx_mint(&d);
    ASSERT_OK(token_inspect(tok2, &info, NULL));
    ASSERT_STR_EQ(FX_ID, info.id);
    token_info_free(&info);
    sb_free(&why);
    free(tok);
    free(tok2);
}

TEST(token_mint_matches_raw_libmacaroons)
{
    /* custody's mint is libmacaroons with custody's caveats, byte for byte */
    struct token_claims c = fx_claims();
    util_strlcpy(c.id, FX_ID, sizeof c.id);
    c.location = "custody/raw";
    char *tok = fx_mint(&c);
    const char *cav[] = {FX_CAVEATS};
    char *raw = fx_raw_mint(fx_key(), FX_ID, cav, 8);
    ASSERT_STR_EQ(raw, tok);
    free(tok);
    free(raw);
}

TEST(token_verify_agent_and_key)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    r.agent = "agent-8";
    expect(tok, &r, CUSTODY_EPERM, "caveat \"agent = agent-7\" does not permit agent \"agent-8\"");
    r = fx_request();
    r.agent_key = FX_KEY_FP2;
    expect(tok, &r, CUSTODY_EPERM, "caveat \"agent_key = " FX_KEY_FP "\" does not permit key");
    r.agent_key = NULL;
    expect(tok, &r, CUSTODY_EPERM, "(none)");
    free(tok);
}

TEST(token_verify_delegate)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    /* a presenter other than the agent needs a delegate caveat naming it */
    r.presenter = "sub-1";
    expect(tok, &r, CUSTODY_EPERM, "was not handed to \"sub-1\"");
    r.presenter = FX_AGENT; /* the agent itself presenting: fine */
    expect(tok, &r, 0, NULL);
    const char *cav[] = {"delegate = sub-1"};
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    ASSERT_OK(token_attenuate(tok, cav, 1, &out, &why));
    r.presenter = "sub-1"; /* bound to agent-7's key and epoch, presented by sub-1 */
    expect(out.buf, &r, 0, NULL);
    r.presenter = "sub-2";
    expect(out.buf, &r, CUSTODY_EPERM, "handed to another agent, not \"sub-2\"");
    r.presenter = NULL; /* agent-7 itself may no longer present it */
    expect(out.buf, &r, CUSTODY_EPERM, "handed to another agent");
    r.presenter = "sub-1";
    r.agent_epoch = 4; /* agent-7 revoked: what it handed over dies too */
    expect(out.buf, &r, CUSTODY_EREVOKED, NULL);
    /* grammar */
    ASSERT_OK(token_caveat_check("delegate = sub-1", 16, NULL));
    ASSERT_EQ(token_caveat_check("delegate = .x", 13, NULL), CUSTODY_EBADTOKEN);
    ASSERT_EQ(token_caveat_check("delegate in a", 13, NULL), CUSTODY_EBADTOKEN);
    sb_free(&out);
    sb_free(&why);
    free(tok);
}

TEST(token_verify_action)
{
    struct token_claims c = fx_claims();
    c.actions = TOKEN_ACT_READ;
    char *tok = fx_mint(&c);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(tok, &r, NULL));
    const char *refused[] = {"write", "delete", "list", "stat", "token.mint", "model.load"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(refused); i++) {
        r.action = refused[i];
        expect(tok, &r, CUSTODY_EPERM, "caveat \"action in read\" does not permit");
    }
    r.action = "write";
    expect(tok, &r, CUSTODY_EPERM, "caveat \"action in read\" does not permit \"write\"");
    r.action = "frobnicate";
    expect(tok, &r, CUSTODY_EINVAL, "unknown action");
    free(tok);
}

TEST(token_verify_resource_exact)
{
    struct token_claims c = fx_claims();
    c.resource = "demo:/a";
    char *tok = fx_mint(&c);
    struct token_request r = fx_request();
    r.resource = "demo:/a";
    ASSERT_OK(fx_verify(tok, &r, NULL));
    const char *refused[] = {"demo:/ab", "demo:/a/b", "demo:/", "other:/a", "demo:/A"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(refused); i++) {
        r.resource = refused[i];
        expect(tok, &r, CUSTODY_EPERM, "caveat \"resource = demo:/a\" does not permit");
    }
    free(tok);
}

TEST(token_verify_resource_prefix_boundaries)
{
    struct token_claims c = fx_claims();
    c.resource = "demo:/a/";
    c.resource_prefix = true;
    char *tok = fx_mint(&c);
    struct token_request r = fx_request();
    const char *allowed[] = {"demo:/a", "demo:/a/b", "demo:/a/b/c.txt", "demo:/a/.hidden",
                             "demo:/a/b c"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(allowed); i++) {
        r.resource = allowed[i];
        expect(tok, &r, 0, NULL);
    }
    const char *refused[] = {"demo:/ab",  "demo:/ab/c", "demo:/",
                             "demo:/b/a", "demo2:/a/b", "other:/a/b"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(refused); i++) {
        r.resource = refused[i];
        expect(tok, &r, CUSTODY_EPERM, "caveat \"resource_prefix = demo:/a/\" does not permit");
    }
    /* non-canonical requests are refused, not normalised */
    const char *bad[] = {"demo:/a/../b", "demo:/a//b",   "demo:/a/./b", "demo:/a/",  "demo:a/b",
                         "demo:/a/\x01", "demo:/a/\xff", ":/a/b",       "demo:/a/.."};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        r.resource = bad[i];
        expect(tok, &r, CUSTODY_EBADPATH, "not a canonical");
    }
    /* a move: both ends must be covered */
    r.resource = "demo:/a/x";
    r.resource2 = "demo:/a/y";
    r.action = "read";
    expect(tok, &r, 0, NULL);
    r.resource2 = "demo:/b/y";
    expect(tok, &r, CUSTODY_EPERM, "does not permit \"demo:/b/y\"");
    free(tok);

    /* the whole root */
    c = fx_claims();
    c.resource = "demo:/";
    c.resource_prefix = true;
    tok = fx_mint(&c);
    r = fx_request();
    r.resource = "demo:/";
    expect(tok, &r, 0, NULL);
    r.resource = "demo:/x/y/z";
    expect(tok, &r, 0, NULL);
    r.resource = "demox:/x";
    expect(tok, &r, CUSTODY_EPERM, NULL);
    free(tok);
}

TEST(token_verify_range)
{
    struct token_claims c = fx_claims();
    c.has_range = true;
    c.range_first = 0;
    c.range_last = 4095;
    char *tok = fx_mint(&c);
    struct token_request r = fx_request();
    r.has_range = true;
    r.range_first = 0;
    r.range_last = 4095;
    expect(tok, &r, 0, NULL);
    r.range_first = 100, r.range_last = 200;
    expect(tok, &r, 0, NULL);
    r.range_first = 4000, r.range_last = 4096;
    expect(tok, &r, CUSTODY_EPERM, "caveat \"range = 0-4095\" does not permit bytes 4000-4096");
    r.has_range = false;
    expect(tok, &r, CUSTODY_EPERM, "without a byte range");
    r.has_range = true, r.range_first = 5, r.range_last = 4;
    expect(tok, &r, CUSTODY_EINVAL, "range is empty");
    free(tok);
}

TEST(token_verify_expiry)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    r.now = FX_NOW + 299;
    expect(tok, &r, 0, NULL);
    r.now = FX_NOW + 300;
    expect(tok, &r, CUSTODY_EEXPIRED, "caveat \"expires < 1767225840\" has passed");
    r.now = UINT64_MAX;
    expect(tok, &r, CUSTODY_EEXPIRED, NULL);
    /* issued in the future, beyond the tolerated skew */
    r.now = FX_NOW - TOKEN_CLOCK_SKEW_S;
    expect(tok, &r, 0, NULL);
    r.now = FX_NOW - TOKEN_CLOCK_SKEW_S - 1;
    expect(tok, &r, CUSTODY_EPERM, "caveat \"issued = 1767225540\" is in the future");
    /* now = 0 means the clock: this token expired long ago (or is far ahead) */
    r.now = 0;
    ASSERT_NE(0, fx_verify(tok, &r, NULL));
    free(tok);
}

TEST(token_verify_max_ttl)
{
    char *tok = fx_mint_std(); /* lives 300 s */
    struct token_request r = fx_request();
    r.max_ttl = 300;
    expect(tok, &r, 0, NULL);
    r.max_ttl = TOKEN_TTL_SENSITIVE_S;
    expect(tok, &r, CUSTODY_EPERM, "the token lives 300 s");
    /* an attenuated, shorter expiry satisfies the cap honestly */
    const char *cav[] = {"expires < 1767225600"};
    struct strbuf out = STRBUF_INIT;
    ASSERT_OK(token_attenuate(tok, cav, 1, &out, NULL));
    expect(out.buf, &r, 0, NULL);
    /* an earlier `issued` only lengthens the measured lifetime */
    const char *cav2[] = {"issued = 1767225000"};
    char *older = fx_raw_attenuate(out.buf, cav2, 1);
    expect(older, &r, CUSTODY_EPERM, "the token lives");
    /* mint refuses lifetimes over the label cap, and over TOKEN_TTL_MAX_S */
    struct token_claims c = fx_claims();
    c.max_ttl = 60;
    struct strbuf o2 = STRBUF_INIT, why = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_EINVAL, token_mint(fx_key(), &c, &o2, &why));
    ASSERT_STR_CONTAINS(why.buf, "at most 60 s later");
    c = fx_claims();
    c.expires = c.issued + TOKEN_TTL_MAX_S + 1;
    ASSERT_EQ(CUSTODY_EINVAL, token_mint(fx_key(), &c, &o2, NULL));
    c.expires = c.issued + TOKEN_TTL_MAX_S;
    ASSERT_OK(token_mint(fx_key(), &c, &o2, NULL));
    sb_free(&out);
    sb_free(&o2);
    sb_free(&why);
    free(older);
    free(tok);
}

TEST(token_verify_epoch)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    r.agent_epoch = 4;
    expect(tok, &r, CUSTODY_EREVOKED, "caveat \"epoch = 3\": the agent's epoch is now 4");
    r.agent_epoch = 2;
    expect(tok, &r, CUSTODY_EREVOKED, NULL);
    free(tok);
}

struct revoked {
    const char *id;
    int calls;
};

static bool is_revoked(void *ctx, const char *id)
{
    struct revoked *rv = ctx;
    rv->calls++;
    return strcmp(id, rv->id) == 0;
}

static bool policy_retired(void *ctx, const char *policy)
{
    (void)ctx;
    return strcmp(policy, "policy-17") == 0;
}

TEST(token_verify_revoked_id_and_policy)
{
    struct token_claims c = fx_claims();
    char *tok = fx_mint(&c);
    struct revoked rv = {"ffffffffffffffffffffffffffffffff", 0};
    struct token_request r = fx_request();
    r.is_revoked = is_revoked;
    r.ctx = &rv;
    expect(tok, &r, 0, NULL);
    ASSERT_EQ(1, rv.calls);
    rv.id = c.id;
    char want[80];
    snprintf(want, sizeof want, "token %s is revoked", c.id);
    expect(tok, &r, CUSTODY_EREVOKED, want);
    r = fx_request();
    r.policy_retired = policy_retired;
    expect(tok, &r, CUSTODY_EREVOKED, "caveat \"policy = policy-17\": the policy was retired");
    free(tok);
}

TEST(token_verify_attest)
{
    struct token_claims c = fx_claims();
    c.attest = FX_ATTEST;
    char *tok = fx_mint(&c);
    struct token_request r = fx_request();
    expect(tok, &r, CUSTODY_EPERM, "does not match the agent's attestation \"(none)\"");
    r.attest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    expect(tok, &r, CUSTODY_EPERM, "attest = " FX_ATTEST);
    r.attest = FX_ATTEST;
    expect(tok, &r, 0, NULL);
    free(tok);
}

TEST(token_verify_wrong_key)
{
    char *tok = fx_mint_std();
    struct token_request r = fx_request();
    struct strbuf why = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_other_key(), tok, &r, NULL, &why));
    ASSERT_STR_CONTAINS(why.buf, "signature does not verify");
    /* info is filled whenever the token parsed (for the audit log), even so */
    struct token_info info;
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_other_key(), tok, &r, &info, NULL));
    ASSERT_EQ(TOKEN_ID_HEX_LEN, strlen(info.id));
    ASSERT_EQ(8, info.ncaveats);
    token_info_free(&info);
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_key(), "junk", &r, &info, NULL));
    ASSERT_NULL(info.priv_);
    ASSERT_EQ(0, info.ncaveats);
    ASSERT_EQ(CUSTODY_EINVAL, token_verify(NULL, tok, &r, &info, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, token_verify(fx_key(), tok, NULL, &info, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, token_verify(fx_key(), NULL, &r, &info, NULL));
    /* a token minted under another key with the right caveats */
    const char *cav[] = {FX_CAVEATS};
    char *forged = fx_raw_mint(fx_other_key(), FX_ID, cav, 8);
    expect(forged, &r, CUSTODY_EBADTOKEN, "signature does not verify");
    sb_free(&why);
    free(forged);
    free(tok);
}

TEST(token_verify_order_of_errors)
{
    /* bad MAC first, whatever else is wrong */
    const char *cav[] = {FX_CAVEATS};
    char *forged = fx_raw_mint(fx_other_key(), FX_ID, cav, 8);
    struct token_request r = fx_request();
    r.now = FX_NOW + 1000;
    r.action = "delete";
    r.agent_epoch = 9;
    expect(forged, &r, CUSTODY_EBADTOKEN, NULL);
    char *tok = fx_mint_std();
    /* revoked (epoch) before expired before wrong action */
    expect(tok, &r, CUSTODY_EREVOKED, NULL);
    r.agent_epoch = 3;
    expect(tok, &r, CUSTODY_EEXPIRED, NULL);
    r.now = FX_NOW + 1;
    expect(tok, &r, CUSTODY_EPERM, "action in read,write");
    /* binding before scope */
    r.agent = "agent-9";
    expect(tok, &r, CUSTODY_EPERM, "agent = agent-7");
    free(forged);
    free(tok);
}

TEST(token_verify_required_and_unknown_caveats)
{
    struct token_request r = fx_request();
    /* a correctly signed token without an epoch caveat */
    const char *noepoch[] = {"agent = " FX_AGENT,    "agent_key = " FX_KEY_FP,
                             "action in read",       "resource = demo:/a/b.txt",
                             "expires < 1767225840", "issued = 1767225540"};
    char *t1 = fx_raw_mint(fx_key(), FX_ID, noepoch, 6);
    expect(t1, &r, CUSTODY_EBADTOKEN, "the token has no epoch caveat");
    /* ... and one with a caveat custody does not know */
    const char *unknown[] = {FX_CAVEATS, "time < 1767225840"};
    char *t2 = fx_raw_mint(fx_key(), FX_ID, unknown, 9);
    expect(t2, &r, CUSTODY_EBADTOKEN, "unknown caveat \"time < 1767225840\"");
    /* an empty caveat */
    const char *empty[] = {FX_CAVEATS, ""};
    char *t3 = fx_raw_mint(fx_key(), FX_ID, empty, 9);
    expect(t3, &r, CUSTODY_EBADTOKEN, NULL);
    /* a third-party caveat (not supported; libmacaroons issue #48) */
    enum macaroon_returncode err;
    struct macaroon *m = macaroon_deserialize(t1, &err);
    ASSERT_NOT_NULL(m);
    const uint8_t *tk = fx_other_key();
    struct macaroon *m3 =
        macaroon_add_third_party_caveat(m, (const unsigned char *)"http://elsewhere", 16, tk,
                                        TOKEN_KEY_LEN, (const unsigned char *)"tp-id", 5, &err);
    ASSERT_NOT_NULL(m3);
    char buf[4096];
    ASSERT_EQ(0, macaroon_serialize(m3, buf, sizeof buf, &err));
    expect(buf, &r, CUSTODY_EBADTOKEN, "third-party caveats are not supported");
    macaroon_destroy(m);
    macaroon_destroy(m3);
    free(t1);
    free(t2);
    free(t3);
}

TEST(token_mint_refuses_bad_claims)
{
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    struct token_claims c;
#define REFUSE(field_assign, needle)                                                               \
    do {                                                                                           \
        c = fx_claims();                                                                           \
        field_assign;                                                                              \
        sb_reset(&why);                                                                            \
        ASSERT_EQ(CUSTODY_EINVAL, token_mint(fx_key(), &c, &out, &why));                           \
        ASSERT_STR_CONTAINS(why.buf, needle);                                                      \
        ASSERT_EQ(0, out.len);                                                                     \
    } while (0)
    REFUSE(c.agent = NULL, "agent");
    REFUSE(c.agent = "-x", "agent");
    REFUSE(c.agent = "a b", "agent");
    REFUSE(c.agent_key = NULL, "agent_key");
    REFUSE(c.agent_key = "ed25519:ABCD", "agent_key");
    REFUSE(c.actions = 0, "actions");
    REFUSE(c.actions = 1u << 30, "actions");
    REFUSE(c.resource = "demo:/a/../b", "resource");
    REFUSE(c.resource = "demo://a", "resource");
    REFUSE(c.resource = "demo:/a/", "resource");
    REFUSE((c.resource = "demo:/a", c.resource_prefix = true), "ROOT:/DIR/");
    REFUSE(c.expires = c.issued, "expires");
    REFUSE((c.has_range = true, c.range_first = 9, c.range_last = 8), "range");
    REFUSE(c.npolicies = TOKEN_MAX_POLICIES + 1, "policies");
    static const char *const badpol[] = {"has space"};
    REFUSE(c.policies = badpol, "policy id 0");
    REFUSE(c.attest = "md5:00", "attest");
    REFUSE(util_strlcpy(c.id, "XYZ", sizeof c.id), "identifier");
    REFUSE(c.location = "custody/\n", "location");
#undef REFUSE
    sb_free(&out);
    sb_free(&why);
}

TEST(token_key_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/token.key", test_tmpdir());
    uint8_t k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN];
    ASSERT_OK(token_key_load_or_create(path, k1));
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(0600, st.st_mode & 0777);
    ASSERT_EQ(2 * TOKEN_KEY_LEN + 1, st.st_size);
    ASSERT_OK(token_key_load_or_create(path, k2));
    ASSERT_MEM_EQ(k1, k2, TOKEN_KEY_LEN);
    /* readable by others: refused */
    ASSERT_OK(chmod(path, 0644));
    ASSERT_EQ(CUSTODY_ECONFIG, token_key_load_or_create(path, k2));
    ASSERT_OK(chmod(path, 0600));
    /* not a key */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.key", test_tmpdir());
    ASSERT_OK(util_write_file_atomic(bad, "not a key\n", 10, 0600));
    ASSERT_EQ(CUSTODY_ECONFIG, token_key_load_or_create(bad, k2));
    ASSERT_OK(util_write_file_atomic(bad, "zz", 2, 0600));
    ASSERT_EQ(CUSTODY_ECONFIG, token_key_load_or_create(bad, k2));
    /* a directory */
    ASSERT_NE(0, token_key_load_or_create(test_tmpdir(), k2));
}
