/*
 * fuzz_token.c — libFuzzer target for src/token: the token parser in both
 * forms, inspection, attenuation and verification against a fixed key and
 * fixed requests.
 *
 * Each input is used (as an exact-size NUL-terminated copy) as a token and
 * as a caveat. Besides crashes, leaks and timeouts it checks what must
 * always hold:
 *   - every entry point answers 0 or one of its documented errors;
 *   - a token that inspects has at most TOKEN_MAX_CAVEATS caveats, each
 *     passing token_caveat_check, and a 32-hex-digit id; it converts to
 *     JSON and to V1 and both convert back to the same V1 bytes;
 *   - verify through the cache answers what verify answers;
 *   - a token that verifies for a request still verifies after
 *     token_attenuate adds "action in read" (for a read), and never
 *     verifies for a write afterwards;
 *   - attenuating a fixed read-only token with the input as a caveat never
 *     makes it allow a write, another resource, or another agent.
 * Seeds: fuzz/corpus/token/ (tokens minted with this target's key).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token/token.h"

#define FUZZ_NOW 1767225600u
#define FUZZ_FP "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_token: %s\n", what);
        abort();
    }
}

static const uint8_t *key(void)
{
    static uint8_t k[TOKEN_KEY_LEN];
    for (int i = 0; i < TOKEN_KEY_LEN; i++)
        k[i] = (uint8_t)(0xa0 + i);
    return k;
}

static struct token_request request(const char *action, const char *resource)
{
    struct token_request r = {0};
    r.agent = "agent-7";
    r.agent_key = FUZZ_FP;
    r.action = action;
    r.resource = resource;
    r.now = FUZZ_NOW + 10;
    r.agent_epoch = 3;
    r.has_range = true;
    r.range_first = 0;
    r.range_last = 99;
    return r;
}

static bool token_error(int rc)
{
    return rc == CUSTODY_EBADTOKEN || rc == CUSTODY_ETOOBIG;
}

static bool verify_error(int rc)
{
    return token_error(rc) || rc == CUSTODY_EPERM || rc == CUSTODY_EEXPIRED ||
           rc == CUSTODY_EREVOKED;
}

/* A read-only token on demo:/a/, minted once. */
static const char *fixed_token(void)
{
    static char *tok;
    if (!tok) {
        struct token_claims c = {0};
        c.agent = "agent-7";
        c.agent_key = FUZZ_FP;
        c.actions = TOKEN_ACT_READ;
        c.resource = "demo:/a/";
        c.resource_prefix = true;
        c.issued = FUZZ_NOW;
        c.expires = FUZZ_NOW + 3600;
        c.epoch = 3;
        struct strbuf out = STRBUF_INIT;
        check(token_mint(key(), &c, &out, NULL) == 0, "mint");
        tok = sb_detach(&out);
    }
    return tok;
}

static void fuzz_inspect(const char *s)
{
    struct token_info info;
    struct strbuf why = STRBUF_INIT, js = STRBUF_INIT, v1 = STRBUF_INIT, v1b = STRBUF_INIT;
    int rc = token_inspect(s, &info, &why);
    check(rc == 0 || token_error(rc), "inspect return code");
    check(rc == 0 || why.len > 0, "inspect error without a reason");
    if (rc == 0) {
        check(info.ncaveats <= TOKEN_MAX_CAVEATS, "too many caveats kept");
        check(strlen(info.id) == TOKEN_ID_HEX_LEN, "id length");
        for (size_t i = 0; i < info.ncaveats; i++)
            check(token_caveat_check(info.caveats[i], strlen(info.caveats[i]), NULL) == 0,
                  "a kept caveat fails the grammar");
        check(token_to_json(s, &js, NULL) == 0, "inspected token does not convert to JSON");
        check(token_from_json(s, &v1, NULL) == 0, "inspected token does not convert to V1");
        check(token_from_json(js.buf, &v1b, NULL) == 0, "JSON form does not convert back");
        check(strcmp(v1.buf, v1b.buf) == 0, "V1 and JSON forms disagree");
        struct token_info again;
        check(token_inspect(v1.buf, &again, NULL) == 0 && again.ncaveats == info.ncaveats,
              "V1 form inspects differently");
        token_info_free(&again);
    }
    token_info_free(&info);
    sb_free(&why);
    sb_free(&js);
    sb_free(&v1);
    sb_free(&v1b);
}

static void fuzz_verify(const char *s)
{
    static struct token_cache *cache;
    if (!cache) check(token_cache_new(key(), 64, &cache) == 0, "cache");
    struct token_request r = request("read", "demo:/a/b");
    struct strbuf why = STRBUF_INIT;
    int rc = token_verify(key(), s, &r, NULL, &why);
    check(rc == 0 || verify_error(rc), "verify return code");
    check(rc == 0 || why.len > 0, "verify error without a reason");
    int rc2 = token_cache_verify(cache, s, &r, NULL, NULL);
    check(rc2 == rc, "cached verify disagrees");
    rc2 = token_cache_verify(cache, s, &r, NULL, NULL);
    check(rc2 == rc, "cached verify disagrees (second time)");
    if (rc == 0) {
        static const char *const narrow[] = {"action in read"};
        struct strbuf out = STRBUF_INIT;
        int arc = token_attenuate(s, narrow, 1, &out, NULL);
        check(arc == 0 || arc == CUSTODY_ETOOBIG, "attenuate of a valid token failed");
        if (arc == 0) {
            check(token_verify(key(), out.buf, &r, NULL, NULL) == 0, "narrowing broke a read");
            struct token_request w = request("write", "demo:/a/b");
            check(token_verify(key(), out.buf, &w, NULL, NULL) == CUSTODY_EPERM,
                  "a write passed a read-only attenuation");
        }
        sb_free(&out);
    }
    sb_free(&why);
}

static void fuzz_caveat(const char *s, size_t len)
{
    struct strbuf why = STRBUF_INIT, out = STRBUF_INIT;
    int rc = token_caveat_check(s, len, &why);
    check(rc == 0 || token_error(rc), "caveat_check return code");
    const char *cav[] = {s};
    rc = token_attenuate(fixed_token(), cav, 1, &out, &why);
    check(rc == 0 || token_error(rc) || rc == CUSTODY_EPERM || rc == CUSTODY_EINVAL,
          "attenuate return code");
    if (rc == 0) {
        struct token_request ok = request("read", "demo:/a/b");
        int vrc = token_verify(key(), out.buf, &ok, NULL, NULL);
        check(vrc == 0 || verify_error(vrc), "attenuated verify return code");
        struct token_request bad[] = {request("write", "demo:/a/b"), request("read", "demo:/b"),
                                      request("read", "demo:/ab")};
        bad[0].range_last = 99;
        for (size_t i = 0; i < 3; i++)
            check(token_verify(key(), out.buf, &bad[i], NULL, NULL) != 0,
                  "an attenuation widened the token");
        struct token_request other = request("read", "demo:/a/b");
        other.agent = "agent-8";
        check(token_verify(key(), out.buf, &other, NULL, NULL) != 0,
              "an attenuation changed the agent");
    }
    sb_free(&why);
    sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > TOKEN_MAX_LEN + 64) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_inspect(s);
    fuzz_verify(s);
    if (size <= TOKEN_MAX_CAVEAT_LEN + 8 && !memchr(s, '\0', size)) fuzz_caveat(s, size);
    free(s);
    return 0;
}
