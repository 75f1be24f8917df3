/*
 * test_token_codec.c — token forms (src/token/codec.c): the V1 base64url
 * form custody emits, the other base64 spellings it accepts, the V1 JSON
 * form both ways, and bad input of every kind: malformed, truncated,
 * oversized, bit-flipped. Bad input is refused with EBADTOKEN or ETOOBIG,
 * never a crash, never a success.
 */
#include "token_fixture.h"

/* Standard base64 of raw bytes, with or without padding. */
static char *b64std(const uint8_t *in, size_t len, bool pad)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        char q[4] = {A[v >> 18], A[(v >> 12) & 63], A[(v >> 6) & 63], A[v & 63]};
        size_t keep = len - i >= 3 ? 4 : len - i + 1;
        sb_append(&sb, q, keep);
        if (pad)
            for (size_t k = keep; k < 4; k++)
                sb_append(&sb, "=", 1);
    }
    return sb_detach(&sb);
}

/* The raw V1 bytes of a base64url token. */
static uint8_t *raw_of(const char *tok, size_t *len)
{
    struct strbuf s = STRBUF_INIT;
    sb_puts(&s, tok);
    for (size_t i = 0; i < s.len; i++)
        s.buf[i] = s.buf[i] == '-' ? '+' : s.buf[i] == '_' ? '/' : s.buf[i];
    while (s.len % 4)
        sb_puts(&s, "=");
    uint8_t *out = malloc(s.len);
    size_t n = 0;
    /* decode with a tiny local decoder, independent of codec.c */
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < s.len && s.buf[i] != '='; i++) {
        const char *A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        acc = acc << 6 | (uint32_t)(strchr(A, s.buf[i]) - A);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    sb_free(&s);
    *len = n;
    return out;
}

static int verify_ok(const char *tok)
{
    struct token_request r = fx_request();
    return fx_verify(tok, &r, NULL);
}

TEST(token_codec_base64_spellings)
{
    char *tok = fx_mint_std();
    size_t n;
    uint8_t *raw = raw_of(tok, &n);
    ASSERT_EQ(0, memcmp(raw, "001clocation custody/node-1\n", 28));
    char *std_pad = b64std(raw, n, true), *std_nopad = b64std(raw, n, false);
    ASSERT_OK(verify_ok(tok));
    ASSERT_OK(verify_ok(std_pad));
    ASSERT_OK(verify_ok(std_nopad));
    /* base64url with padding */
    struct strbuf url_pad = STRBUF_INIT;
    sb_puts(&url_pad, tok);
    while (url_pad.len % 4)
        sb_puts(&url_pad, "=");
    ASSERT_OK(verify_ok(url_pad.buf));
    /* padding when there should be none, too much, or in the middle */
    struct strbuf bad = STRBUF_INIT;
    sb_printf(&bad, "%s====", tok);
    ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(bad.buf));
    sb_reset(&bad);
    sb_printf(&bad, "%.8s=%s", tok, tok + 8);
    ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(bad.buf));
    /* two alphabets in one token */
    bool mixed = false;
    sb_reset(&bad);
    sb_puts(&bad, std_nopad);
    for (size_t i = 0; i < bad.len && !mixed; i++)
        if (bad.buf[i] == '+') bad.buf[i] = '-', mixed = strchr(bad.buf, '/') != NULL;
    if (mixed) ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(bad.buf));
    /* whitespace is not part of any form */
    sb_reset(&bad);
    sb_printf(&bad, "%s\n", tok);
    ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(bad.buf));
    sb_reset(&bad);
    sb_printf(&bad, " %s", tok);
    ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(bad.buf));
    sb_free(&bad);
    sb_free(&url_pad);
    free(std_pad);
    free(std_nopad);
    free(raw);
    free(tok);
}

TEST(token_codec_noncanonical_base64_tail)
{
    /* "QQ" is 'A'; "QR" has non-zero leftover bits and must be refused */
    uint8_t out[8];
    size_t n = 0;
    /* these go through the public parser as tokens */
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_inspect("QR", &(struct token_info){0}, NULL));
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_inspect("Q", &(struct token_info){0}, NULL));
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_inspect("QQ=", &(struct token_info){0}, NULL));
    (void)out, (void)n;
}

TEST(token_codec_json_roundtrip)
{
    char *tok = fx_mint_std();
    struct strbuf js = STRBUF_INIT, back = STRBUF_INIT, why = STRBUF_INIT;
    ASSERT_OK(token_to_json(tok, &js, NULL));
    ASSERT_STR_CONTAINS(js.buf, "{\"location\":\"custody/node-1\",\"identifier\":\"");
    ASSERT_STR_CONTAINS(js.buf, "\"caveats\":[{\"cid\":\"agent = agent-7\"},");
    ASSERT_STR_CONTAINS(js.buf, "{\"cid\":\"epoch = 3\"}],\"signature\":\"");
    /* JSON -> V1: exactly libmacaroons' bytes */
    ASSERT_OK(token_from_json(js.buf, &back, NULL));
    ASSERT_STR_EQ(tok, back.buf);
    ASSERT_OK(verify_ok(js.buf));
    struct token_info a, b;
    ASSERT_OK(token_inspect(tok, &a, NULL));
    ASSERT_OK(token_inspect(js.buf, &b, NULL));
    ASSERT(!a.json && b.json);
    ASSERT_STR_EQ(a.id, b.id);
    ASSERT_EQ(a.ncaveats, b.ncaveats);
    for (size_t i = 0; i < a.ncaveats; i++)
        ASSERT_STR_EQ(a.caveats[i], b.caveats[i]);
    token_info_free(&a);
    token_info_free(&b);
    /* to_json of JSON is the same JSON */
    struct strbuf js2 = STRBUF_INIT;
    ASSERT_OK(token_to_json(js.buf, &js2, NULL));
    ASSERT_STR_EQ(js.buf, js2.buf);
    /* member order, whitespace, escapes and upper-case hex do not matter */
    struct token_info info;
    ASSERT_OK(token_inspect(tok, &info, NULL));
    struct strbuf alt = STRBUF_INIT;
    const char *sig = strstr(js.buf, "\"signature\":\"") + 13;
    char sigu[65];
    for (int i = 0; i < 64; i++)
        sigu[i] = (sig[i] >= 'a' && sig[i] <= 'f') ? (char)(sig[i] - 32) : sig[i];
    sigu[64] = '\0';
    sb_printf(&alt,
              " { \"signature\" : \"%s\", \"identifier\": \"%s\", \"caveats\": [ "
              "{\"cid\":\"\\u0061gent = agent-7\"},{\"cid\":\"agent_key = " FX_KEY_FP "\"},"
              "{\"cid\":\"action in read,write\"},{\"cid\":\"resource = demo:\\/a\\/b.txt\"},"
              "{\"cid\":\"expires < 1767225840\"},{\"cid\":\"issued = 1767225540\"},"
              "{\"cid\":\"policy = policy-17\"},{\"cid\":\"epoch = 3\"}],"
              "\"location\":\"custody/node-1\"}\n",
              sigu, info.id);
    /* a leading space is not the JSON form */
    ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(alt.buf));
    ASSERT_OK(verify_ok(alt.buf + 1));
    token_info_free(&info);
    sb_free(&alt);
    sb_free(&js);
    sb_free(&js2);
    sb_free(&back);
    sb_free(&why);
    free(tok);
}

TEST(token_codec_truncated)
{
    char *tok = fx_mint_std();
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        char *p = util_strndup(tok, i);
        int rc = verify_ok(p);
        if (rc != CUSTODY_EBADTOKEN) TEST_FAIL_("prefix of %zu bytes: %d", i, rc);
        free(p);
    }
    /* and in the JSON form */
    struct strbuf js = STRBUF_INIT;
    ASSERT_OK(token_to_json(tok, &js, NULL));
    for (size_t i = 1; i < js.len; i++) {
        char *p = util_strndup(js.buf, i);
        ASSERT_EQ(CUSTODY_EBADTOKEN, verify_ok(p));
        free(p);
    }
    sb_free(&js);
    free(tok);
}

TEST(token_codec_bit_flips)
{
    /* Flip every bit of the V1 bytes. The MAC covers the identifier and the
     * caveats; the packet framing is checked strictly; only the location is
     * not authenticated (a macaroon location is a hint), so a flip there
     * may verify, but must leave everything else unchanged. */
    char *tok = fx_mint_std();
    size_t n;
    uint8_t *raw = raw_of(tok, &n);
    size_t loc_end = 0x1c; /* "001clocation custody/node-1\n" */
    int verified = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            raw[i] ^= (uint8_t)(1u << bit);
            struct strbuf enc = STRBUF_INIT;
            char *s = b64std(raw, n, false);
            int rc = verify_ok(s);
            if (rc == 0) {
                if (i < 13 || i >= loc_end - 1)
                    TEST_FAIL_("flip of bit %d in byte %zu verified", bit, i);
                verified++;
            } else if (rc != CUSTODY_EBADTOKEN) {
                TEST_FAIL_("flip of bit %d in byte %zu: %d", bit, i, rc);
            }
            free(s);
            sb_free(&enc);
            raw[i] ^= (uint8_t)(1u << bit);
        }
    }
    ASSERT_GT(verified, 0); /* the location is indeed not covered */
    free(raw);
    free(tok);
}

TEST(token_codec_oversized)
{
    char *big = malloc(TOKEN_MAX_LEN + 2);
    memset(big, 'A', TOKEN_MAX_LEN + 1);
    big[TOKEN_MAX_LEN + 1] = '\0';
    struct strbuf why = STRBUF_INIT;
    struct token_request r = fx_request();
    ASSERT_EQ(CUSTODY_ETOOBIG, token_verify(fx_key(), big, &r, NULL, &why));
    ASSERT_STR_CONTAINS(why.buf, "over 16384 bytes");
    big[0] = '{';
    ASSERT_EQ(CUSTODY_ETOOBIG, token_verify(fx_key(), big, &r, NULL, NULL));
    /* exactly at the limit: parsed (and refused as junk) */
    big[TOKEN_MAX_LEN] = '\0';
    big[0] = 'A';
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_key(), big, &r, NULL, NULL));
    /* a JSON token with 65 caveats */
    struct strbuf js = STRBUF_INIT;
    sb_puts(&js, "{\"identifier\":\"" FX_ID "\",\"caveats\":[");
    for (int i = 0; i < TOKEN_MAX_CAVEATS + 1; i++)
        sb_printf(&js, "%s{\"cid\":\"epoch = 3\"}", i ? "," : "");
    sb_puts(&js, "],\"signature\":\"");
    for (int i = 0; i < 64; i++)
        sb_puts(&js, "0");
    sb_puts(&js, "\"}");
    ASSERT_EQ(CUSTODY_ETOOBIG, token_verify(fx_key(), js.buf, &r, NULL, &why));
    ASSERT_STR_CONTAINS(why.buf, "more than 64 caveats");
    /* one caveat over 1 KiB */
    sb_reset(&js);
    sb_puts(&js, "{\"identifier\":\"" FX_ID "\",\"caveats\":[{\"cid\":\"resource = demo:/");
    for (int i = 0; i < TOKEN_MAX_CAVEAT_LEN; i++)
        sb_puts(&js, "x");
    sb_puts(&js, "\"}],\"signature\":\"");
    for (int i = 0; i < 64; i++)
        sb_puts(&js, "0");
    sb_puts(&js, "\"}");
    ASSERT_EQ(CUSTODY_ETOOBIG, token_verify(fx_key(), js.buf, &r, NULL, &why));
    sb_free(&js);
    sb_free(&why);
    free(big);
}

TEST(token_codec_malformed)
{
    static const char sig64[] = "0000000000000000000000000000000000000000000000000000000000000000";
    char buf[1024];
    const char *cases[] = {
        "",       "{",       "{}", "[]", "null", "{\"identifier\":1,\"signature\":\"00\"}",
        "!!!!",   "aGVsbG8", /* "hello" */
        "MDAwMA",            /* "0000" */
    };
    struct token_request r = fx_request();
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct strbuf why = STRBUF_INIT;
        int rc = token_verify(fx_key(), cases[i], &r, NULL, &why);
        if (rc != CUSTODY_EBADTOKEN) TEST_FAIL_("case %zu: %d", i, rc);
        ASSERT(why.len > 0);
        sb_free(&why);
    }
    /* JSON variants that are well-formed JSON but not a token */
    const char *fmt[] = {
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"extra\":1}",
        "{\"identifier\":\"" FX_ID "\",\"identifier\":\"" FX_ID "\",\"signature\":\"@\"}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":[{\"cid\":\"epoch = "
        "3\",\"vid\":\"AA\",\"cl\":\"x\"}]}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":[\"epoch = 3\"]}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":{}}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":[{}]}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":[{\"cid\":\"epoch = "
        "3\\u0000\"}]}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"caveats\":[{\"cid\":\"epoch = "
        "\\u00e9\"}]}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"location\":5}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\",\"location\":\"a\\nb\"}",
        "{\"identifier\":\"" FX_ID "x\",\"signature\":\"@\"}",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@0\"}",
        "{\"identifier\":\"" FX_ID
        "\",\"signature\":\"000000000000000000000000000000000000000000000000000000000000000g\"}",
        "{\"identifier\":\"" FX_ID "\"}@",
        "{\"identifier\":\"" FX_ID "\",\"signature\":\"@\"} x",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(fmt); i++) {
        /* '@' stands for 64 hex digits */
        size_t o = 0;
        for (const char *p = fmt[i]; *p && o + 65 < sizeof buf; p++) {
            if (*p == '@') {
                memcpy(buf + o, sig64, 64);
                o += 64;
            } else {
                buf[o++] = *p;
            }
        }
        buf[o] = '\0';
        struct strbuf why = STRBUF_INIT;
        int rc = token_verify(fx_key(), buf, &r, NULL, &why);
        if (rc != CUSTODY_EBADTOKEN) TEST_FAIL_("json case %zu: %d (%s)", i, rc, buf);
        sb_free(&why);
    }
}

/* Base64url of raw packets given as one string (with \n inside). */
static char *packets(const char *raw, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    char *s = b64std((const uint8_t *)raw, len, false);
    sb_puts(&sb, s);
    free(s);
    return sb_detach(&sb);
}

TEST(token_codec_v1_framing)
{
    static const char sig[32] = {0};
    struct {
        const char *head;
        const char *needle;
    } cases[] = {
        {"0030identifier " FX_ID "\n000flocation x\n", "not the location"},
        {"000flocation x\n000flocation x\n", "not the identifier"},
        {"000flocation x\n0030identifier " FX_ID "\n", "no signature"},
        {"000Flocation x\n", "bad V1 packet length"},
        {"0005location x\n", "too short"},
        {"00ffLocation x\n", "truncated V1 packet"},
        {"000flocationx\n\n", "no key"},
        {"000flocation xx", "newline"},
        {"000flocation x\n0030identifier " FX_ID "\n000dcid a = bb", "newline"},
        {"000flocation x\n0030identifier " FX_ID "\n000avid x\n", "third-party"},
        {"000flocation x\n0030identifier " FX_ID "\n0009cl x\n", "third-party"},
        {"000flocation x\n0030identifier " FX_ID "\n000bfoo xx\n", "unknown V1 packet \"foo\""},
        {"000flocation x\n0030identifier " FX_ID "\n000asigna\n", "no key"},
        {"000flocation\tx\n0030identifier " FX_ID "\n", "no key"},
        {"000flocation x\n0030identifier " FX_ID "\n0012cid epoch = 3\n000avid x\n", "third-party"},
    };
    struct token_request r = fx_request();
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct strbuf raw = STRBUF_INIT, why = STRBUF_INIT;
        sb_puts(&raw, cases[i].head);
        char *t = packets(raw.buf, raw.len);
        int rc = token_verify(fx_key(), t, &r, NULL, &why);
        if (rc != CUSTODY_EBADTOKEN || !strstr(why.buf, cases[i].needle))
            TEST_FAIL_("framing case %zu: %d \"%s\", want \"%s\"", i, rc, why.buf, cases[i].needle);
        free(t);
        sb_free(&raw);
        sb_free(&why);
    }
    /* a 31-byte signature, and bytes after the signature */
    struct strbuf raw = STRBUF_INIT, why = STRBUF_INIT;
    sb_puts(&raw, "000flocation x\n0030identifier " FX_ID "\n002esignature ");
    sb_append(&raw, sig, 31);
    sb_puts(&raw, "\n");
    char *t = packets(raw.buf, raw.len);
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_key(), t, &r, NULL, &why));
    free(t);
    sb_reset(&raw);
    sb_puts(&raw, "000flocation x\n0030identifier " FX_ID "\n002fsignature ");
    sb_append(&raw, sig, 32);
    sb_puts(&raw, "\nXX");
    t = packets(raw.buf, raw.len);
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_verify(fx_key(), t, &r, NULL, &why));
    free(t);
    sb_free(&raw);
    sb_free(&why);
}

TEST(token_codec_inspect_needs_no_key)
{
    char *tok = fx_mint_std();
    struct token_info info;
    struct strbuf why = STRBUF_INIT;
    ASSERT_OK(token_inspect(tok, &info, &why));
    ASSERT_EQ(8, info.ncaveats);
    ASSERT_STR_EQ("custody/node-1", info.location);
    token_info_free(&info);
    /* a token signed by anyone inspects the same: nothing is authenticated */
    const char *cav[] = {FX_CAVEATS};
    char *forged = fx_raw_mint(fx_other_key(), FX_ID, cav, 8);
    ASSERT_OK(token_inspect(forged, &info, NULL));
    ASSERT_STR_EQ(FX_ID, info.id);
    token_info_free(&info);
    /* but a bad caveat fails inspection */
    const char *bad[] = {"agent = "};
    char *t2 = fx_raw_mint(fx_key(), FX_ID, bad, 1);
    ASSERT_EQ(CUSTODY_EBADTOKEN, token_inspect(t2, &info, &why));
    ASSERT_STR_CONTAINS(why.buf, "caveat \"agent = \"");
    ASSERT_NULL(info.priv_);
    ASSERT_EQ(CUSTODY_EINVAL, token_inspect(NULL, &info, NULL));
    sb_free(&why);
    free(forged);
    free(t2);
    free(tok);
}
