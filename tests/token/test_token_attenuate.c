/*
 * test_token_attenuate.c — attenuation (token_attenuate, and raw
 * libmacaroons standing in for any other holder): added caveats narrow
 * what a token allows and can never widen it; token_attenuate refuses
 * widening or contradicting caveats and typos early.
 */
#include "token_fixture.h"

static char *attenuate(const char *tok, const char *cav, int want, const char *why_has)
{
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    const char *list[] = {cav};
    int rc = token_attenuate(tok, list, 1, &out, &why);
    if (rc != want) TEST_FAIL_("attenuate \"%s\": %d, want %d (%s)", cav, rc, want, why.buf);
    if (why_has) ASSERT_STR_CONTAINS(why.buf, why_has);
    sb_free(&why);
    if (rc) {
        ASSERT_EQ(0, out.len);
        sb_free(&out);
        return NULL;
    }
    return sb_detach(&out);
}

TEST(token_attenuate_narrows_action)
{
    char *tok = fx_mint_std(); /* read,write */
    char *ro = attenuate(tok, "action in read", 0, NULL);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(ro, &r, NULL));
    r.action = "write";
    char *why = NULL;
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(ro, &r, &why));
    ASSERT_STR_CONTAINS(why, "caveat \"action in read\" does not permit \"write\"");
    free(why);
    /* the original still allows write */
    ASSERT_OK(fx_verify(tok, &r, NULL));
    struct token_info info;
    ASSERT_OK(token_inspect(ro, &info, NULL));
    ASSERT_EQ(9, info.ncaveats);
    ASSERT_EQ(TOKEN_ACT_READ, info.eff.actions);
    token_info_free(&info);
    free(ro);
    free(tok);
}

TEST(token_attenuate_cannot_widen_action)
{
    struct token_claims c = fx_claims();
    c.actions = TOKEN_ACT_READ;
    char *tok = fx_mint(&c);
    /* token_attenuate refuses the attempt, saying why */
    attenuate(tok, "action in read,write,delete", CUSTODY_EPERM,
              "caveat \"action in read,write,delete\" would widen the token: it allows only read");
    /* added anyway (by a holder with plain libmacaroons): still read-only */
    const char *cav[] = {"action in read,write,delete"};
    char *wide = fx_raw_attenuate(tok, cav, 1);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(wide, &r, NULL));
    const char *refused[] = {"write", "delete"};
    for (size_t i = 0; i < 2; i++) {
        r.action = refused[i];
        char *why = NULL;
        ASSERT_EQ(CUSTODY_EPERM, fx_verify(wide, &r, &why));
        ASSERT_STR_CONTAINS(why, "caveat \"action in read\" does not permit");
        free(why);
    }
    struct token_info info;
    ASSERT_OK(token_inspect(wide, &info, NULL));
    ASSERT_EQ(TOKEN_ACT_READ, info.eff.actions);
    token_info_free(&info);
    free(wide);
    free(tok);
}

TEST(token_attenuate_resource)
{
    struct token_claims c = fx_claims();
    c.resource = "demo:/a/";
    c.resource_prefix = true;
    char *tok = fx_mint(&c);
    char *sub = attenuate(tok, "resource_prefix = demo:/a/b/", 0, NULL);
    struct token_request r = fx_request();
    r.resource = "demo:/a/b/x";
    ASSERT_OK(fx_verify(sub, &r, NULL));
    r.resource = "demo:/a/c";
    ASSERT_OK(fx_verify(tok, &r, NULL));
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(sub, &r, NULL));
    /* one file below the prefix */
    char *one = attenuate(sub, "resource = demo:/a/b/x", 0, NULL);
    r.resource = "demo:/a/b/x";
    ASSERT_OK(fx_verify(one, &r, NULL));
    r.resource = "demo:/a/b/y";
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(one, &r, NULL));
    /* widening or leaving the scope is refused early */
    attenuate(tok, "resource_prefix = demo:/", CUSTODY_EPERM, "would widen the token");
    attenuate(sub, "resource_prefix = demo:/a/", CUSTODY_EPERM, "demo:/a/b/ and below");
    attenuate(tok, "resource = demo:/ab", CUSTODY_EPERM, "would widen");
    attenuate(one, "resource_prefix = demo:/a/b/x/", CUSTODY_EPERM, "would widen");
    /* and added anyway, it changes nothing: the narrower scope still holds */
    const char *cav[] = {"resource_prefix = demo:/"};
    char *wide = fx_raw_attenuate(sub, cav, 1);
    r.resource = "demo:/a/c";
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(wide, &r, NULL));
    /* disjoint scopes: nothing is allowed */
    const char *cav2[] = {"resource_prefix = demo:/z/"};
    char *none = fx_raw_attenuate(tok, cav2, 1);
    struct token_info info;
    ASSERT_OK(token_inspect(none, &info, NULL));
    ASSERT(info.eff.conflicts & TOKEN_CAV_BIT(TOKEN_CAV_RESOURCE));
    token_info_free(&info);
    r.resource = "demo:/a/x";
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(none, &r, NULL));
    r.resource = "demo:/z/x";
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(none, &r, NULL));
    free(sub);
    free(one);
    free(wide);
    free(none);
    free(tok);
}

TEST(token_attenuate_expiry_and_range)
{
    char *tok = fx_mint_std(); /* expires FX_NOW + 300 */
    char *shorter = attenuate(tok, "expires < 1767225600", 0, NULL);
    struct token_request r = fx_request();
    r.now = FX_NOW + 100;
    ASSERT_OK(fx_verify(tok, &r, NULL));
    char *why = NULL;
    ASSERT_EQ(CUSTODY_EEXPIRED, fx_verify(shorter, &r, &why));
    ASSERT_STR_CONTAINS(why, "expires < 1767225600");
    free(why);
    attenuate(tok, "expires < 1767229999", CUSTODY_EPERM, "it expires at 1767225840");
    /* a later expiry added anyway changes nothing */
    const char *cav[] = {"expires < 1767229999"};
    char *later = fx_raw_attenuate(tok, cav, 1);
    r.now = FX_NOW + 300;
    ASSERT_EQ(CUSTODY_EEXPIRED, fx_verify(later, &r, NULL));
    /* ranges */
    char *rng = attenuate(tok, "range = 0-99", 0, NULL);
    attenuate(rng, "range = 0-100", CUSTODY_EPERM, "it allows only bytes 0-99");
    char *rng2 = attenuate(rng, "range = 10-20", 0, NULL);
    r = fx_request();
    r.has_range = true, r.range_first = 10, r.range_last = 20;
    ASSERT_OK(fx_verify(rng2, &r, NULL));
    r.range_last = 21;
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(rng2, &r, NULL));
    free(shorter);
    free(later);
    free(rng);
    free(rng2);
    free(tok);
}

TEST(token_attenuate_contradictions_and_typos)
{
    char *tok = fx_mint_std();
    attenuate(tok, "agent = agent-8", CUSTODY_EINVAL, "contradicts the token's agent agent-7");
    attenuate(tok, "agent_key = " FX_KEY_FP2, CUSTODY_EINVAL, "would be unusable");
    attenuate(tok, "epoch = 4", CUSTODY_EINVAL, "contradicts the token's epoch 3");
    /* restating what holds is fine */
    char *same = attenuate(tok, "agent = agent-7", 0, NULL);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(same, &r, NULL));
    /* binding to an attestation narrows */
    char *att = attenuate(tok, "attest = " FX_ATTEST, 0, NULL);
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(att, &r, NULL));
    r.attest = FX_ATTEST;
    ASSERT_OK(fx_verify(att, &r, NULL));
    /* typos are caught before anything is signed */
    attenuate(tok, "acton in read", CUSTODY_EBADTOKEN, "unknown caveat \"acton in read\"");
    attenuate(tok, "action in reed", CUSTODY_EBADTOKEN, "known action names");
    attenuate(tok, "action  in read", CUSTODY_EBADTOKEN, "KEY OP VALUE");
    attenuate(tok, "action = read", CUSTODY_EBADTOKEN, "the operator of action is \"in\"");
    attenuate(tok, "expires < soon", CUSTODY_EBADTOKEN, "decimal");
    attenuate(tok, "resource = demo:/a/../b", CUSTODY_EBADTOKEN, "ROOT:/PATH");
    /* NULL arguments */
    struct strbuf out = STRBUF_INIT;
    const char *nul[] = {NULL};
    ASSERT_EQ(CUSTODY_EINVAL, token_attenuate(tok, nul, 1, &out, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, token_attenuate(NULL, NULL, 0, &out, NULL));
    ASSERT_EQ(0, out.len);
    sb_free(&out);
    free(same);
    free(att);
    free(tok);
}

TEST(token_attenuate_several_and_json)
{
    char *tok = fx_mint_std();
    const char *cav[] = {"action in read", "resource = demo:/a/b.txt", "expires < 1767225700"};
    struct strbuf out = STRBUF_INIT, js = STRBUF_INIT, out2 = STRBUF_INIT;
    ASSERT_OK(token_attenuate(tok, cav, 3, &out, NULL));
    struct token_info info;
    ASSERT_OK(token_inspect(out.buf, &info, NULL));
    ASSERT_EQ(11, info.ncaveats);
    ASSERT_EQ(1767225700u, info.eff.expires);
    token_info_free(&info);
    /* JSON in, JSON out */
    ASSERT_OK(token_to_json(tok, &js, NULL));
    ASSERT_OK(token_attenuate(js.buf, cav, 3, &out2, NULL));
    ASSERT_EQ('{', out2.buf[0]);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(out2.buf, &r, NULL));
    r.action = "write";
    ASSERT_EQ(CUSTODY_EPERM, fx_verify(out2.buf, &r, NULL));
    /* the two forms carry the same macaroon */
    struct strbuf v1 = STRBUF_INIT;
    ASSERT_OK(token_from_json(out2.buf, &v1, NULL));
    ASSERT_STR_EQ(out.buf, v1.buf);
    sb_free(&out);
    sb_free(&out2);
    sb_free(&js);
    sb_free(&v1);
    free(tok);
}

TEST(token_attenuate_limits)
{
    char *tok = fx_mint_std(); /* 8 caveats */
    char *cur = tok;
    /* up to TOKEN_MAX_CAVEATS in all */
    for (int i = 8; i < TOKEN_MAX_CAVEATS; i++) {
        char *next = attenuate(cur, "action in read", 0, NULL);
        if (cur != tok) free(cur);
        cur = next;
    }
    struct token_info info;
    ASSERT_OK(token_inspect(cur, &info, NULL));
    ASSERT_EQ(TOKEN_MAX_CAVEATS, info.ncaveats);
    token_info_free(&info);
    struct token_request r = fx_request();
    ASSERT_OK(fx_verify(cur, &r, NULL));
    attenuate(cur, "action in read", CUSTODY_ETOOBIG, "more than 64 caveats");
    /* a 65th caveat added with plain libmacaroons: refused when presented */
    const char *cav[] = {"action in read"};
    char *over = fx_raw_attenuate(cur, cav, 1);
    char *why = NULL;
    ASSERT_EQ(CUSTODY_ETOOBIG, fx_verify(over, &r, &why));
    ASSERT_STR_CONTAINS(why, "more than 64 caveats");
    free(why);
    /* one caveat over 1 KiB */
    char big[TOKEN_MAX_CAVEAT_LEN + 64];
    int n = snprintf(big, sizeof big, "resource = demo:/");
    memset(big + n, 'x', sizeof big - (size_t)n - 1);
    big[sizeof big - 1] = '\0';
    attenuate(tok, big, CUSTODY_ETOOBIG, "over 1024");
    free(over);
    free(cur);
    free(tok);
}
