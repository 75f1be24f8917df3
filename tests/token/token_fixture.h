/*
 * token_fixture.h — shared fixtures for the tests of src/token: a fixed
 * root key, a standard set of claims and the request that satisfies them,
 * and raw libmacaroons minting (to build tokens custody itself would
 * refuse to mint: missing caveats, unknown caveats, widened copies).
 */
#ifndef CUSTODY_TOKEN_FIXTURE_H
#define CUSTODY_TOKEN_FIXTURE_H

#include <macaroons.h>

#include "test.h"
#include "token/token.h"

#define FX_UNUSED __attribute__((unused))

#define FX_NOW 1767225540u /* 2025-12-31T23:59:00Z */
#define FX_AGENT "agent-7"
#define FX_KEY_FP "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
#define FX_KEY_FP2 "ed25519:0000000000000000000000000000000000000000000000000000000000000000"
#define FX_ATTEST "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static FX_UNUSED const uint8_t *fx_key(void)
{
    static uint8_t k[TOKEN_KEY_LEN];
    for (int i = 0; i < TOKEN_KEY_LEN; i++)
        k[i] = (uint8_t)(i + 1);
    return k;
}

static FX_UNUSED const uint8_t *fx_other_key(void)
{
    static uint8_t k[TOKEN_KEY_LEN];
    for (int i = 0; i < TOKEN_KEY_LEN; i++)
        k[i] = (uint8_t)(i + 2);
    return k;
}

static FX_UNUSED struct token_claims fx_claims(void)
{
    static const char *const pol[] = {"policy-17"};
    struct token_claims c = {0};
    c.location = "custody/node-1";
    c.agent = FX_AGENT;
    c.agent_key = FX_KEY_FP;
    c.actions = TOKEN_ACT_READ | TOKEN_ACT_WRITE;
    c.resource = "demo:/a/b.txt";
    c.issued = FX_NOW;
    c.expires = FX_NOW + 300;
    c.policies = pol;
    c.npolicies = 1;
    c.epoch = 3;
    return c;
}

static FX_UNUSED struct token_request fx_request(void)
{
    struct token_request r = {0};
    r.agent = FX_AGENT;
    r.agent_key = FX_KEY_FP;
    r.action = "read";
    r.resource = "demo:/a/b.txt";
    r.now = FX_NOW + 10;
    r.agent_epoch = 3;
    return r;
}

/* Mints claims c with the fixture key into a new string (caller frees). */
static FX_UNUSED char *fx_mint(struct token_claims *c)
{
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    int rc = token_mint(fx_key(), c, &out, &why);
    if (rc) TEST_FAIL_("token_mint: %d %s", rc, why.buf ? why.buf : "");
    sb_free(&why);
    return sb_detach(&out);
}

static FX_UNUSED char *fx_mint_std(void)
{
    struct token_claims c = fx_claims();
    return fx_mint(&c);
}

/* Verifies with the fixture key; the reason goes to *why (caller frees). */
static FX_UNUSED int fx_verify(const char *tok, const struct token_request *r, char **why)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = token_verify(fx_key(), tok, r, NULL, &sb);
    if (why)
        *why = sb_detach(&sb);
    else
        sb_free(&sb);
    return rc;
}

/* Adds the caveats with libmacaroons alone, serialises (V1) and frees m. */
static FX_UNUSED char *fx_raw_finish(struct macaroon *m, const char *const *cav, size_t n)
{
    enum macaroon_returncode err;
    for (size_t i = 0; i < n; i++) {
        struct macaroon *next =
            macaroon_add_first_party_caveat(m, (const unsigned char *)cav[i], strlen(cav[i]), &err);
        ASSERT_NOT_NULL(next);
        macaroon_destroy(m);
        m = next;
    }
    size_t sz = macaroon_serialize_size_hint(m) + 1;
    char *buf = malloc(sz);
    ASSERT_NOT_NULL(buf);
    ASSERT_EQ(0, macaroon_serialize(m, buf, sz, &err));
    macaroon_destroy(m);
    return buf;
}

/* A macaroon made with libmacaroons alone: key, id, caveats as given. */
static FX_UNUSED char *fx_raw_mint(const uint8_t *key, const char *id, const char *const *cav,
                                   size_t n)
{
    enum macaroon_returncode err;
    struct macaroon *m =
        macaroon_create((const unsigned char *)"custody/raw", 11, key, TOKEN_KEY_LEN,
                        (const unsigned char *)id, strlen(id), &err);
    ASSERT_NOT_NULL(m);
    return fx_raw_finish(m, cav, n);
}

/* Adds caveats to a token with libmacaroons directly (no narrowing check). */
static FX_UNUSED char *fx_raw_attenuate(const char *tok, const char *const *cav, size_t n)
{
    enum macaroon_returncode err;
    struct macaroon *m = macaroon_deserialize(tok, &err);
    ASSERT_NOT_NULL(m);
    return fx_raw_finish(m, cav, n);
}

#define FX_ID "00112233445566778899aabbccddeeff"

/* The standard caveats of fx_claims, as strings. */
#define FX_CAVEATS                                                                                 \
    "agent = " FX_AGENT, "agent_key = " FX_KEY_FP, "action in read,write",                         \
        "resource = demo:/a/b.txt", "expires < 1767225840", "issued = 1767225540",                 \
        "policy = policy-17", "epoch = 3"

#endif
