/*
 * fuzz_note.c — libFuzzer target for src/ledger/note.c's parsers.
 *
 * Each input is fed, as an exact-size copy (so ASan catches any over-read),
 * to tlog_note_parse, tlog_checkpoint_parse, tlog_proof_parse,
 * tlog_witness_req_parse, tlog_sig_lines_parse, tlog_vkey_parse and
 * tlog_b64_decode. Besides crashes, leaks and timeouts it checks what must
 * always hold:
 *   - every parser answers 0 or CUSTODY_EINVAL;
 *   - a parsed note's text is a prefix of the input ending in '\n', its
 *     signature lines number 1..TLOG_NOTE_SIGS_MAX with valid names, and
 *     verifying it against a fixed key answers 0 or CUSTODY_EBADSIG;
 *   - a parsed checkpoint formats to the first three lines of its text;
 *   - proof files, witness requests, verifier keys and base64 that parse
 *     format back to exactly the input bytes (one spelling per value), and
 *     what was formatted parses again;
 *   - a checkpoint that parses can be cosigned and the cosignature verifies,
 *     with its timestamp.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/tlog.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_note: %s\n", what);
        abort();
    }
}

static bool same_bytes(const struct strbuf *sb, const char *buf, size_t len)
{
    return sb->len == len && (len == 0 || memcmp(sb->buf, buf, len) == 0);
}

static const struct tlog_key *witness(void)
{
    static struct tlog_key k;
    static bool ready;
    if (!ready) {
        uint8_t seed[32];
        for (int i = 0; i < 32; i++)
            seed[i] = (uint8_t)(0xa0 + i);
        check(tlog_key_from_seed("witness.example/w1", TLOG_KEY_COSIGNATURE, seed, &k) == 0,
              "fixed key");
        ready = true;
    }
    return &k;
}

static void fuzz_checkpoint(const char *text, size_t len, bool cosign)
{
    struct tlog_checkpoint c;
    int rc = tlog_checkpoint_parse(text, len, &c);
    check(rc == 0 || rc == CUSTODY_EINVAL, "checkpoint_parse return code");
    if (rc)
        return;
    struct strbuf sb = STRBUF_INIT;
    check(tlog_checkpoint_format(&c, &sb) == 0, "parsed checkpoint cannot be formatted");
    check(sb.len <= len && memcmp(sb.buf, text, sb.len) == 0,
          "formatted checkpoint is not the head of its text");
    struct tlog_checkpoint d;
    check(tlog_checkpoint_parse(sb.buf, sb.len, &d) == 0 && d.size == c.size &&
              strcmp(d.origin, c.origin) == 0 && memcmp(d.root, c.root, TLOG_HASH_LEN) == 0,
          "checkpoint changed in a format/parse round trip");
    if (cosign) {
        sb_reset(&sb);
        uint64_t t = c.size & INT64_MAX, got = 0;
        check(tlog_note_sign_lines(text, len, witness(), t, &sb) == 0, "cannot cosign");
        struct tlog_sig sig;
        size_t n = 0;
        check(tlog_sig_lines_parse(sb.buf, sb.len, &sig, 1, &n) == 0 && n == 1,
              "cosignature line does not parse");
        check(tlog_sig_verify(text, len, &sig, witness(), &got) == 0 && got == t,
              "cosignature does not verify");
    }
    sb_free(&sb);
}

static void fuzz_note(const char *buf, size_t len)
{
    static struct tlog_note n;
    int rc = tlog_note_parse(buf, len, &n);
    check(rc == 0 || rc == CUSTODY_EINVAL, "note_parse return code");
    if (rc)
        return;
    check(n.text == buf && n.text_len >= 2 && n.text_len + 2 < len &&
              buf[n.text_len - 1] == '\n' && buf[n.text_len] == '\n',
          "note text is not a prefix followed by a blank line");
    check(n.nsigs >= 1 && n.nsigs <= TLOG_NOTE_SIGS_MAX, "signature count");
    for (size_t i = 0; i < n.nsigs; i++)
        check(tlog_name_valid(n.sigs[i].name, strlen(n.sigs[i].name)) &&
                  n.sigs[i].sig_len <= TLOG_SIG_MAX,
              "bad signature kept");
    rc = tlog_note_verify(&n, witness(), 1);
    check(rc == 0 || rc == CUSTODY_EBADSIG, "note_verify return code");
    /* a note's signature block is also a valid witness response */
    static struct tlog_sig sigs[TLOG_NOTE_SIGS_MAX];
    size_t ns = 0;
    check(tlog_sig_lines_parse(buf + n.text_len + 1, len - n.text_len - 1, sigs,
                               TLOG_NOTE_SIGS_MAX, &ns) == 0 &&
              ns == n.nsigs,
          "signature block does not parse alone");
    fuzz_checkpoint(n.text, n.text_len, true);
}

static void fuzz_proof(const char *buf, size_t len)
{
    static struct tlog_proof_file p, q;
    int rc = tlog_proof_parse(buf, len, &p);
    check(rc == 0 || rc == CUSTODY_EINVAL, "proof_parse return code");
    if (rc)
        return;
    struct strbuf sb = STRBUF_INIT;
    check(tlog_proof_format(&p, &sb) == 0, "parsed proof cannot be formatted");
    check(same_bytes(&sb, buf, len), "proof changed in a parse/format round trip");
    check(tlog_proof_parse(sb.buf, sb.len, &q) == 0 && q.index == p.index &&
              q.nproof == p.nproof && q.has_extra == p.has_extra && q.extra_len == p.extra_len,
          "formatted proof does not parse the same");
    sb_free(&sb);
}

static void fuzz_witness_req(const char *buf, size_t len)
{
    static struct tlog_witness_req w, v;
    int rc = tlog_witness_req_parse(buf, len, &w);
    check(rc == 0 || rc == CUSTODY_EINVAL, "witness_req_parse return code");
    if (rc)
        return;
    struct strbuf sb = STRBUF_INIT;
    check(tlog_witness_req_format(&w, &sb) == 0, "parsed request cannot be formatted");
    check(same_bytes(&sb, buf, len), "request changed in a parse/format round trip");
    check(tlog_witness_req_parse(sb.buf, sb.len, &v) == 0 && v.old_size == w.old_size &&
              v.nproof == w.nproof,
          "formatted request does not parse the same");
    sb_free(&sb);
}

static void fuzz_small(const char *buf, size_t len)
{
    static struct tlog_sig sigs[TLOG_NOTE_SIGS_MAX];
    size_t n = 0;
    int rc = tlog_sig_lines_parse(buf, len, sigs, 3, &n);
    check((rc == 0 && n >= 1 && n <= 3) || (rc == CUSTODY_EINVAL && n == 0),
          "sig_lines_parse result");

    struct tlog_key k;
    rc = tlog_vkey_parse(buf, len, &k);
    check(rc == 0 || rc == CUSTODY_EINVAL, "vkey_parse return code");
    struct strbuf sb = STRBUF_INIT;
    if (rc == 0) {
        check(!k.has_priv, "a verifier key with a private half");
        check(tlog_vkey_format(&k, &sb) == 0 && same_bytes(&sb, buf, len),
              "vkey changed in a parse/format round trip");
    }

    uint8_t out[512];
    size_t dlen = 0;
    rc = tlog_b64_decode(buf, len, out, sizeof out, &dlen);
    check(rc == 0 || rc == CUSTODY_EINVAL, "b64_decode return code");
    if (rc == 0) {
        sb_reset(&sb);
        check(tlog_b64_encode(out, dlen, &sb) == 0 && same_bytes(&sb, buf, len),
              "base64 changed in a decode/encode round trip");
    }
    (void)tlog_name_valid(buf, len);
    sb_free(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fuzz_note(buf, size);
    fuzz_checkpoint(buf, size, false);
    fuzz_proof(buf, size);
    fuzz_witness_req(buf, size);
    fuzz_small(buf, size);
    free(buf);
    return 0;
}
