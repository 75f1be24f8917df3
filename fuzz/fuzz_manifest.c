/*
 * fuzz_manifest.c — libFuzzer target for the manifest reader (src/manifest).
 *
 * Signed manifests come from origins custody pulls from and from operators,
 * so the envelope reader and the statement parser must hold up against any
 * bytes. A mutated envelope almost never carries a good signature, so each
 * input goes two ways:
 *   - manifest_verify with a fixed key (RFC 8032 test 1, the key the signed
 *     seed in fuzz/corpus/manifest was made with): answers 0, CUSTODY_EINVAL,
 *     CUSTODY_EBADSIG, CUSTODY_ETOOBIG or CUSTODY_ENOMEM, and *out is NULL on
 *     failure;
 *   - the statement parser itself (mf_parse_statement, what verify runs once
 *     the signature holds): on failure *out is NULL; what it accepts passes
 *     the shared checks, re-encodes to exactly the input (canonical form), and
 *     signed with the fixed key verifies back to the same statement.
 * Besides crashes, leaks and timeouts (ASan/UBSan/libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest/internal.h"

static const char PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                          "-----END PRIVATE KEY-----\n";
static uint8_t g_pub[32];
static int g_init;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_init) {
        check(util_ed25519_load_pem(PEM, sizeof PEM - 1, g_pub) == 0, "fixed key");
        g_init = 1;
    }
    /* exact-size copy so ASan catches any read past len */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    char err[512];

    struct manifest *m = (struct manifest *)1;
    int rc = manifest_verify(buf, size, g_pub, &m, err, sizeof err);
    check(rc == 0 || rc == CUSTODY_EINVAL || rc == CUSTODY_EBADSIG || rc == CUSTODY_ETOOBIG ||
              rc == CUSTODY_ENOMEM,
          "unexpected verify result");
    check(rc == 0 ? m != NULL : m == NULL, "verify: *out does not match the result");
    if (m) check(mf_check(m, err, sizeof err) == 0, "verify accepted what mf_check refuses");
    manifest_free(m);

    m = (struct manifest *)1;
    rc = mf_parse_statement(buf, size, &m, err, sizeof err);
    check(rc == 0 || rc == CUSTODY_EINVAL, "unexpected parse result");
    check(rc == 0 ? m != NULL : m == NULL, "parse: *out does not match the result");
    if (m) {
        check(mf_check(m, err, sizeof err) == 0, "parse accepted what mf_check refuses");
        struct strbuf st = STRBUF_INIT, env = STRBUF_INIT;
        check(manifest_statement(m, &st) == 0 && st.len == size && memcmp(st.buf, buf, size) == 0,
              "an accepted statement is not its own canonical form");
        check(manifest_sign(m, PEM, sizeof PEM - 1, &env) == 0, "an accepted statement not signed");
        struct manifest *v = NULL;
        check(manifest_verify(env.buf, env.len, g_pub, &v, err, sizeof err) == 0,
              "a signed statement does not verify");
        struct strbuf again = STRBUF_INIT;
        check(manifest_statement(v, &again) == 0 && again.len == st.len &&
                  memcmp(again.buf, st.buf, st.len) == 0,
              "sign + verify changed the statement");
        manifest_free(v);
        sb_free(&again);
        sb_free(&st);
        sb_free(&env);
        manifest_free(m);
    }
    free(buf);
    return 0;
}
