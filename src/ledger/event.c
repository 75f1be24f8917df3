/*
 * event.c — audit events: the canonical JSON each access becomes, the
 * pseudonyms that keep identities out of it, the optional per-event
 * Ed25519 signature, and the strict decoder the index and the CLI read
 * events back with.
 *
 * Every event is a leaf of a Merkle log, so its bytes are what gets hashed,
 * proven and (optionally) signed, and anyone checking the log must be able
 * to reproduce them from the values alone. That is what RFC 8785 (JSON
 * Canonicalization Scheme, JCS) gives: members sorted by key, no
 * whitespace, minimal string escapes, numbers in ECMAScript form. The
 * encoder writes that form directly (members in sorted order, see
 * emit_event), without building a tree; the verifier parses with jansson
 * and re-canonicalizes with a general JCS writer (jcs_value) for the value
 * types custody events use. The two must agree byte for byte, which the
 * tests and fuzz/fuzz_event.c check.
 *
 * Numbers: JCS numbers are IEEE doubles. To keep every number exactly
 * representable (so that any JCS implementation reproduces it), integers
 * are limited to 2^53-1 (I-JSON, RFC 7493) and latency_us to < 10^15
 * (latency_ms then has at most 15 significant digits and 3 decimals, whose
 * shortest round-trip form is its plain decimal spelling). Encoding a
 * larger value is CUSTODY_EINVAL.
 *
 * The member set, types and patterns are described for outside tools by
 * docs/schema/audit-event-v2.json (events written now) and
 * docs/schema/audit-event-v1.json (older events, which have no "edit");
 * keep them in step.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

#define PSEUDONYM_PREFIX "hmac-sha256:"
#define PSEUDONYM_PREFIX_LEN 12
#define SAFE_INT_MAX 9007199254740991ll      /* 2^53 - 1 */
#define LATENCY_US_LIMIT 1000000000000000ull /* 10^15 us (exclusive) */
#define UUID_LEN 36
#define TIMESTAMP_LEN 30 /* 2026-11-26T09:00:00.123456789Z */
#define SIG_LEN 64       /* Ed25519 */
#define SIG_B64_LEN 88   /* base64 of 64 bytes, padded */
#define ACTION_MAX 64
#define CANON_DEPTH_MAX 16 /* events nest 3 deep (edit.destination) */

/* ------------------------------------------------------------------ */
/* Small validators                                                     */
/* ------------------------------------------------------------------ */

static bool is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* [a-z][a-z0-9._-]{0,63} */
static bool action_valid(const char *s, size_t len)
{
    if (len == 0 || len > ACTION_MAX || s[0] < 'a' || s[0] > 'z') return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool decision_valid(const char *s)
{
    return strcmp(s, "allow") == 0 || strcmp(s, "deny") == 0 || strcmp(s, "error") == 0;
}

/* Lowercase UUIDv7 text: 8-4-4-4-12 hex, version 7, RFC 9562 variant. */
static bool uuid_v7_valid(const char *s, size_t len)
{
    if (len != UUID_LEN) return false;
    for (size_t i = 0; i < UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (!is_lower_hex(s + i, 1)) {
            return false;
        }
    }
    return s[14] == '7' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

static bool sha256_hex_valid(const char *s, size_t len)
{
    return len == UTIL_SHA256_HEX_LEN && is_lower_hex(s, len);
}

static bool is_pseudonym(const char *s, size_t len)
{
    return len == LEDGER_PSEUDONYM_LEN && memcmp(s, PSEUDONYM_PREFIX, PSEUDONYM_PREFIX_LEN) == 0 &&
           is_lower_hex(s + PSEUDONYM_PREFIX_LEN, LEDGER_PSEUDONYM_LEN - PSEUDONYM_PREFIX_LEN);
}

/* A consent token: 1..LEDGER_CONSENT_MAX bytes of printable ASCII. */
static bool consent_valid(const char *s, size_t len)
{
    if (len == 0 || len > LEDGER_CONSENT_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return false;
    return true;
}

/* An optional string field: NULL, or UTF-8 of at most LEDGER_FIELD_MAX bytes. */
static int check_field(const char *s)
{
    if (!s) return 0;
    size_t n = strnlen(s, LEDGER_FIELD_MAX + 1);
    if (n > LEDGER_FIELD_MAX || !util_utf8_valid(s, n)) return CUSTODY_EINVAL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pseudonyms                                                           */
/* ------------------------------------------------------------------ */

void ledger_pseudonym(const uint8_t key[32], const char *value, size_t len,
                      char out[LEDGER_PSEUDONYM_LEN + 1])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), key, 32, (const unsigned char *)(value ? value : ""), value ? len : 0,
              mac, &maclen) ||
        maclen != 32)
        abort(); /* only on OOM or a broken libcrypto */
    memcpy(out, PSEUDONYM_PREFIX, PSEUDONYM_PREFIX_LEN);
    util_hex_encode(mac, 32, out + PSEUDONYM_PREFIX_LEN);
}

/* The value to write for an identifier: itself, or its pseudonym (in buf)
 * when hashing is asked for and it is not a pseudonym already. */
static const char *pseudonymize(const char *value, bool hash, const struct ledger_privacy *pv,
                                char buf[LEDGER_PSEUDONYM_LEN + 1])
{
    if (!value || !hash) return value;
    size_t len = strlen(value);
    if (is_pseudonym(value, len)) return value;
    ledger_pseudonym(pv->key, value, len, buf);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Canonical writing (RFC 8785)                                         */
/* ------------------------------------------------------------------ */

/* latency in microseconds as milliseconds, ECMAScript style: up to three
 * decimals, no trailing zeros, no trailing '.' (1500 -> "1.5"). */
static void format_ms(uint64_t us, char out[32])
{
    size_t o = util_u64_text(us / 1000, out); /* no printf: it shows in profiles */
    unsigned frac = (unsigned)(us % 1000);
    if (frac) {
        char f[3] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                     (char)('0' + frac % 10)};
        size_t n = 3;
        while (f[n - 1] == '0')
            n--;
        out[o++] = '.';
        memcpy(out + o, f, n);
        o += n;
    }
    out[o] = '\0';
}

/* Writer for one object: tracks the comma and the first error. */
struct jw {
    struct strbuf *sb;
    bool first;
    int rc;
};

static void jw_raw(struct jw *w, const char *s)
{
    if (!w->rc) w->rc = sb_puts(w->sb, s);
}

/* `,"key":` (no comma first) in one append: every member pays this. */
static void jw_key(struct jw *w, const char *key)
{
    if (w->rc) return;
    char buf[64];
    size_t n = 0, kl = strlen(key);
    if (kl > sizeof buf - 4) { /* (the keys are this file's short literals) */
        w->rc = CUSTODY_EINVAL;
        return;
    }
    if (!w->first) buf[n++] = ',';
    w->first = false;
    buf[n++] = '"';
    memcpy(buf + n, key, kl);
    n += kl;
    buf[n++] = '"';
    buf[n++] = ':';
    w->rc = sb_append(w->sb, buf, n);
}

static void jw_str(struct jw *w, const char *key, const char *value)
{
    if (!value || w->rc) return;
    jw_key(w, key);
    if (!w->rc) w->rc = sb_jcs_string(w->sb, value, strlen(value));
}

static void jw_int(struct jw *w, const char *key, long long v)
{
    jw_key(w, key);
    if (w->rc) return;
    char d[22];
    w->rc = sb_append(w->sb, d, util_i64_text((int64_t)v, d));
}

/* A member whose value may be null. */
static void jw_hex_or_null(struct jw *w, const char *key, const char *hex)
{
    if (hex) {
        jw_str(w, key, hex);
        return;
    }
    jw_key(w, key);
    jw_raw(w, "null");
}

static void jw_version_or_null(struct jw *w, const char *key, int64_t v)
{
    if (v) {
        jw_int(w, key, (long long)v);
        return;
    }
    jw_key(w, key);
    jw_raw(w, "null");
}

/* The members of one side of an edit, in key order (after "consent" and
 * "destination", which sort before them). */
static void emit_edit_side(struct jw *w, const struct ledger_edit *e)
{
    jw_hex_or_null(w, "new_sha256", e->new_sha256);
    jw_hex_or_null(w, "prev_sha256", e->prev_sha256);
    jw_version_or_null(w, "prev_version", e->prev_version);
    jw_version_or_null(w, "version", e->version);
}

/* "edit": {"consent"?, "destination"?: {...}, "new_sha256", "prev_sha256",
 * "prev_version", "version"}. */
static void emit_edit(struct jw *w, const struct ledger_event *ev)
{
    jw_key(w, "edit");
    struct jw inner = {w->sb, true, w->rc};
    jw_raw(&inner, "{");
    jw_str(&inner, "consent", ev->consent);
    if (ev->has_edit_destination) {
        jw_key(&inner, "destination");
        struct jw dst = {w->sb, true, inner.rc};
        jw_raw(&dst, "{");
        emit_edit_side(&dst, &ev->edit_destination);
        jw_raw(&dst, "}");
        inner.rc = dst.rc;
    }
    emit_edit_side(&inner, &ev->edit);
    jw_raw(&inner, "}");
    w->rc = inner.rc;
}

/* The "signature" member's values. */
struct ev_sig {
    char key_id[9];
    char sig[SIG_B64_LEN + 1];
};

/* What gets written: the event with identifiers already pseudonymized. */
struct ev_enc {
    const struct ledger_event *ev;
    const char *principal, *agent, *endpoint, *session, *resource, *destination;
    char timestamp[40];
    char latency[32];
    char ps[6][LEDGER_PSEUDONYM_LEN + 1];
};

/* Writes the event object. Members MUST stay in byte order of their keys
 * (RFC 8785 §3.2.3; all keys are ASCII). */
static int emit_event(const struct ev_enc *e, const struct ev_sig *sig, struct strbuf *sb)
{
    const struct ledger_event *ev = e->ev;
    struct jw w = {sb, true, 0};
    jw_raw(&w, "{");
    jw_str(&w, "action", ev->action);
    jw_str(&w, "agent_id", e->agent);
    jw_str(&w, "attestation_ref", ev->attestation_ref);
    if (ev->has_range) {
        jw_key(&w, "byte_range");
        struct jw br = {sb, true, w.rc};
        jw_raw(&br, "{");
        jw_int(&br, "length", (long long)ev->range_length);
        jw_int(&br, "start", (long long)ev->range_start);
        jw_raw(&br, "}");
        w.rc = br.rc;
    }
    jw_int(&w, "bytes_transferred", (long long)ev->bytes_transferred);
    jw_str(&w, "content_sha256", ev->content_sha256);
    jw_str(&w, "decision", ev->decision);
    jw_str(&w, "destination_id", e->destination);
    if (ev->has_edit) emit_edit(&w, ev);
    jw_str(&w, "endpoint_id", e->endpoint);
    jw_str(&w, "event_id", ev->event_id);
    jw_key(&w, "latency_ms");
    jw_raw(&w, e->latency);
    jw_str(&w, "model_id", ev->model_id);
    jw_str(&w, "model_version", ev->model_version);
    if (ev->has_peer_uid) jw_int(&w, "peer_uid", (long long)ev->peer_uid);
    if (ev->npolicy > 0) {
        jw_key(&w, "policy_ids");
        jw_raw(&w, "[");
        for (size_t i = 0; i < ev->npolicy && !w.rc; i++) {
            if (i) jw_raw(&w, ",");
            if (!w.rc) w.rc = sb_jcs_string(sb, ev->policy_ids[i], strlen(ev->policy_ids[i]));
        }
        jw_raw(&w, "]");
    }
    jw_str(&w, "principal_id", e->principal);
    jw_str(&w, "reason", ev->reason);
    jw_str(&w, "resource_id", e->resource);
    jw_str(&w, "schema", LEDGER_SCHEMA);
    jw_str(&w, "session_id", e->session);
    if (sig) {
        jw_key(&w, "signature");
        if (!w.rc)
            w.rc = sb_printf(sb, "{\"alg\":\"ed25519\",\"key_id\":\"%s\",\"sig\":\"%s\"}",
                             sig->key_id, sig->sig);
    }
    if (ev->status) jw_int(&w, "status", ev->status);
    jw_str(&w, "timestamp", e->timestamp);
    jw_str(&w, "token_id", ev->token_id);
    if (ev->version) jw_int(&w, "version", (long long)ev->version);
    jw_raw(&w, "}");
    return w.rc;
}

/* Order of object keys in JCS: by UTF-16 code units. Walks valid UTF-8
 * (jansson guarantees it) one code unit at a time; -1 at the end. */
struct u16_iter {
    const unsigned char *s;
    int low; /* pending low surrogate, 0 if none */
};

static int u16_next(struct u16_iter *it)
{
    if (it->low) {
        int u = it->low;
        it->low = 0;
        return u;
    }
    const unsigned char *s = it->s;
    if (!s[0]) return -1;
    uint32_t cp;
    size_t n;
    if (s[0] < 0x80)
        cp = s[0], n = 1;
    else if (s[0] < 0xe0)
        cp = s[0] & 0x1fu, n = 2;
    else if (s[0] < 0xf0)
        cp = s[0] & 0x0fu, n = 3;
    else
        cp = s[0] & 0x07u, n = 4;
    for (size_t i = 1; i < n; i++) {
        if (!s[i]) return -1; /* cannot happen with valid UTF-8 */
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    it->s = s + n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        it->low = (int)(0xdc00 | (cp & 0x3ff));
        return (int)(0xd800 | (cp >> 10));
    }
    return (int)cp;
}

static int key_cmp(const void *a, const void *b)
{
    struct u16_iter x = {*(const unsigned char *const *)a, 0};
    struct u16_iter y = {*(const unsigned char *const *)b, 0};
    for (;;) {
        int cx = u16_next(&x), cy = u16_next(&y);
        if (cx != cy) return cx < cy ? -1 : 1;
        if (cx < 0) return 0;
    }
}

/* A real is accepted only in the latency_ms form: k/1000 for an integer
 * 0 <= k < 10^15, written as format_ms(k) (which is its ECMAScript form). */
static int jcs_real(double d, struct strbuf *sb)
{
    if (!(d >= 0.0) || d >= (double)(LATENCY_US_LIMIT / 1000)) return CUSTODY_EINVAL;
    uint64_t k = (uint64_t)(d * 1000.0 + 0.5);
    if (k >= LATENCY_US_LIMIT || (double)k / 1000.0 != d) return CUSTODY_EINVAL;
    char buf[32];
    format_ms(k, buf);
    return sb_puts(sb, buf);
}

/* RFC 8785 serialization of a parsed value (objects, arrays, strings,
 * integers within 2^53, latency-style reals, true, false, null). */
static int jcs_value(const json_t *v, struct strbuf *sb, int depth)
{
    if (depth > CANON_DEPTH_MAX) return CUSTODY_EINVAL;
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = util_calloc(n, sizeof *keys);
        for (void *it = json_object_iter((json_t *)v); it && i < n;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *k = json_object_iter_key(it);
            if (strlen(k) != json_object_iter_key_len(it)) { /* embedded NUL */
                free(keys);
                return CUSTODY_EINVAL;
            }
            keys[i++] = k;
        }
        n = i;
        qsort(keys, n, sizeof *keys, key_cmp);
        rc = sb_append(sb, "{", 1);
        for (i = 0; i < n && !rc; i++) {
            if (i) rc = sb_append(sb, ",", 1);
            if (!rc) rc = sb_jcs_string(sb, keys[i], strlen(keys[i]));
            if (!rc) rc = sb_append(sb, ":", 1);
            if (!rc) rc = jcs_value(json_object_get(v, keys[i]), sb, depth + 1);
        }
        free(keys);
        return rc ? rc : sb_append(sb, "}", 1);
    }
    case JSON_ARRAY: {
        rc = sb_append(sb, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
            if (i) rc = sb_append(sb, ",", 1);
            if (!rc) rc = jcs_value(json_array_get(v, i), sb, depth + 1);
        }
        return rc ? rc : sb_append(sb, "]", 1);
    }
    case JSON_STRING:
        return sb_jcs_string(sb, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t x = json_integer_value(v);
        if (x > SAFE_INT_MAX || x < -SAFE_INT_MAX) return CUSTODY_EINVAL;
        return sb_printf(sb, "%lld", (long long)x);
    }
    case JSON_REAL:
        return jcs_real(json_real_value(v), sb);
    case JSON_TRUE:
        return sb_puts(sb, "true");
    case JSON_FALSE:
        return sb_puts(sb, "false");
    case JSON_NULL:
        return sb_puts(sb, "null");
    }
    return CUSTODY_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Ed25519 and base64                                                   */
/* ------------------------------------------------------------------ */

/* The signing key as an EVP_PKEY, a new reference (EVP_PKEY_free it).
 * Making one derives the public key, which costs as much as a signature
 * (~47 us each here), and every edit record is signed: the last key made
 * is kept for the next event (one key per log; signing with a shared
 * EVP_PKEY and a context per call is thread-safe in OpenSSL 3). */
static EVP_PKEY *signing_pkey(const uint8_t seed[32])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static EVP_PKEY *kept;
    static uint8_t kept_seed[32];
    pthread_mutex_lock(&mu);
    if (!kept || CRYPTO_memcmp(kept_seed, seed, 32) != 0) {
        EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
        if (pk) {
            EVP_PKEY_free(kept);
            kept = pk;
            memcpy(kept_seed, seed, 32);
        }
    }
    EVP_PKEY *out = kept && CRYPTO_memcmp(kept_seed, seed, 32) == 0 && EVP_PKEY_up_ref(kept) == 1
                        ? kept
                        : NULL;
    pthread_mutex_unlock(&mu);
    return out;
}

static int ed25519_sign(const uint8_t seed[32], const void *msg, size_t len, uint8_t sig[SIG_LEN])
{
    EVP_PKEY *pk = signing_pkey(seed);
    if (!pk) return CUSTODY_EINTERNAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = SIG_LEN;
    bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == SIG_LEN;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : CUSTODY_EINTERNAL;
}

static bool ed25519_verify(const uint8_t pub[32], const void *msg, size_t len,
                           const uint8_t sig[SIG_LEN])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    if (!pk) return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, sig, SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

/* Strict decode of the 88-character padded base64 of a 64-byte signature:
 * only the canonical spelling (re-encoding gives the same text). */
static bool sig_b64_decode(const char *s, size_t len, uint8_t out[SIG_LEN])
{
    if (len != SIG_B64_LEN) return false;
    uint8_t raw[SIG_B64_LEN / 4 * 3 + 1];
    char again[SIG_B64_LEN + 1];
    if (EVP_DecodeBlock(raw, (const unsigned char *)s, (int)len) != SIG_B64_LEN / 4 * 3)
        return false;
    if (EVP_EncodeBlock((unsigned char *)again, raw, SIG_LEN) != SIG_B64_LEN ||
        memcmp(again, s, SIG_B64_LEN) != 0)
        return false;
    memcpy(out, raw, SIG_LEN);
    return true;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */
/* ------------------------------------------------------------------ */

/* Random bits for event ids, drawn from the CSPRNG 4 KiB at a time per
 * thread: RAND_bytes per event cost ~4% of the loop's CPU (a lock and a
 * system call on OpenSSL 3.0 here). Ids need uniqueness, not secrecy. */
static int id_random(uint8_t *out, size_t n)
{
    static _Thread_local uint8_t pool[4096];
    static _Thread_local size_t left;
    if (left < n) {
        if (util_random(pool, sizeof pool)) return CUSTODY_EINTERNAL;
        left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - left, n);
    left -= n;
    return 0;
}

static int uuid_v7(uint64_t time_ns, char out[40])
{
    uint8_t b[16];
    int rc = id_random(b + 6, 10);
    if (rc) return rc;
    uint64_t ms = time_ns / 1000000u; /* < 2^48 for any uint64 time_ns */
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    static const char hexd[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hexd[b[i] >> 4];
        out[o++] = hexd[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

static bool edit_side_valid(const struct ledger_edit *e)
{
    const char *h[] = {e->prev_sha256, e->new_sha256};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(h); i++)
        if (h[i] && !sha256_hex_valid(h[i], strnlen(h[i], UTIL_SHA256_HEX_LEN + 1))) return false;
    return e->prev_version >= 0 && e->prev_version <= SAFE_INT_MAX && e->version >= 0 &&
           e->version <= SAFE_INT_MAX;
}

/* The edit record: only with has_edit; hashes, versions, the consent token. */
static int validate_edit(const struct ledger_event *ev)
{
    if (!ev->has_edit) return ev->has_edit_destination || ev->consent ? CUSTODY_EINVAL : 0;
    if (!edit_side_valid(&ev->edit)) return CUSTODY_EINVAL;
    if (ev->has_edit_destination && !edit_side_valid(&ev->edit_destination)) return CUSTODY_EINVAL;
    if (ev->consent && !consent_valid(ev->consent, strnlen(ev->consent, LEDGER_CONSENT_MAX + 1)))
        return CUSTODY_EINVAL;
    return 0;
}

static int validate_event(const struct ledger_event *ev)
{
    if (!ev->action || !ev->decision) return CUSTODY_EINVAL;
    if (!action_valid(ev->action, strnlen(ev->action, ACTION_MAX + 1)) ||
        !decision_valid(ev->decision))
        return CUSTODY_EINVAL;
    const char *fields[] = {ev->principal_id,   ev->agent_id,       ev->endpoint_id,
                            ev->session_id,     ev->resource_id,    ev->destination_id,
                            ev->content_sha256, ev->model_id,       ev->model_version,
                            ev->reason,         ev->attestation_ref,
                            ev->token_id};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(fields); i++)
        if (check_field(fields[i])) return CUSTODY_EINVAL;
    if (ev->content_sha256 && !sha256_hex_valid(ev->content_sha256, strlen(ev->content_sha256)))
        return CUSTODY_EINVAL;
    if (ev->npolicy > LEDGER_POLICY_MAX) return CUSTODY_EINVAL;
    for (size_t i = 0; i < ev->npolicy; i++)
        if (!ev->policy_ids[i] || check_field(ev->policy_ids[i])) return CUSTODY_EINVAL;
    if (ev->event_id[0]) {
        const char *nul = memchr(ev->event_id, '\0', sizeof ev->event_id);
        if (!nul || !uuid_v7_valid(ev->event_id, (size_t)(nul - ev->event_id)))
            return CUSTODY_EINVAL;
    }
    if (ev->has_range && (ev->range_start > SAFE_INT_MAX || ev->range_length > SAFE_INT_MAX))
        return CUSTODY_EINVAL;
    if (ev->bytes_transferred > SAFE_INT_MAX || ev->latency_us >= LATENCY_US_LIMIT)
        return CUSTODY_EINVAL;
    if (ev->version < 0 || ev->version > SAFE_INT_MAX) return CUSTODY_EINVAL;
    if (ev->status != 0 && (ev->status < 100 || ev->status > 599)) return CUSTODY_EINVAL;
    return validate_edit(ev);
}

/* Appends the event to out (left as it was on error). ev->sign without a
 * signer writes the event unsigned; a signer without its private key is
 * CUSTODY_EINVAL. */
int ledger_event_encode(struct ledger_event *ev, const struct ledger_privacy *pv,
                        const struct tlog_key *signer, struct strbuf *out)
{
    if (!ev || !out) return CUSTODY_EINVAL;
    int rc = validate_event(ev);
    if (rc) return rc;
    bool sign = ev->sign && signer;
    if (sign && !signer->has_priv) return CUSTODY_EINVAL;
    /* a resource marked sensitive is never written in the clear: without a
     * key to hash it with, refuse (a Merkle log cannot forget a leak) */
    if (ev->sensitive_resource && !pv && (ev->resource_id || ev->destination_id))
        return CUSTODY_EINVAL;

    struct ev_enc e;
    memset(&e, 0, sizeof e);
    e.ev = ev;
    e.principal = pseudonymize(ev->principal_id, pv && pv->principal_id, pv, e.ps[0]);
    e.agent = pseudonymize(ev->agent_id, pv && pv->agent_id, pv, e.ps[1]);
    e.endpoint = pseudonymize(ev->endpoint_id, pv && pv->endpoint_id, pv, e.ps[2]);
    e.session = pseudonymize(ev->session_id, pv && pv->session_id, pv, e.ps[3]);
    e.resource = pseudonymize(ev->resource_id, ev->sensitive_resource, pv, e.ps[4]);
    e.destination = pseudonymize(ev->destination_id, ev->sensitive_resource, pv, e.ps[5]);

    if (!ev->time_ns) ev->time_ns = util_now_ns();
    if (!ev->event_id[0] && (rc = uuid_v7(ev->time_ns, ev->event_id))) return rc;
    util_rfc3339_ns(ev->time_ns, e.timestamp);
    format_ms(ev->latency_us, e.latency);

    size_t mark = out->len;
    rc = emit_event(&e, NULL, out);
    if (!rc && sign) {
        uint8_t raw[SIG_LEN];
        struct ev_sig sig;
        rc = ed25519_sign(signer->priv, out->buf + mark, out->len - mark, raw);
        if (!rc) {
            snprintf(sig.key_id, sizeof sig.key_id, "%08x", (unsigned)signer->id);
            EVP_EncodeBlock((unsigned char *)sig.sig, raw, SIG_LEN);
            out->len = mark;
            out->buf[mark] = '\0';
            rc = emit_event(&e, &sig, out);
        }
    }
    if (!rc && out->len - mark > LEDGER_EVENT_MAX) rc = CUSTODY_EINVAL;
    if (rc && out->buf) {
        out->len = mark;
        out->buf[mark] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Signature verification                                               */
/* ------------------------------------------------------------------ */

static json_t *load_event(const void *json, size_t len)
{
    if (!json || len == 0 || len > LEDGER_EVENT_MAX) return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* A string member and its length; NULL when absent or not a string. */
static const char *member_str(const json_t *obj, const char *key, size_t *len)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

/* The "signature" object: {"alg":"ed25519","key_id":8 hex,"sig":base64}. */
static bool parse_sig(const json_t *s, char key_id[9], uint8_t raw[SIG_LEN])
{
    size_t alen = 0, klen = 0, slen = 0;
    if (!json_is_object(s) || json_object_size(s) != 3) return false;
    const char *alg = member_str(s, "alg", &alen);
    const char *kid = member_str(s, "key_id", &klen);
    const char *sig = member_str(s, "sig", &slen);
    if (!alg || !kid || !sig) return false;
    if (alen != 7 || memcmp(alg, "ed25519", 7) != 0) return false;
    if (klen != 8 || !is_lower_hex(kid, 8)) return false;
    memcpy(key_id, kid, 8);
    key_id[8] = '\0';
    return sig_b64_decode(sig, slen, raw);
}

int ledger_event_verify_signature(const void *json, size_t len, const struct tlog_key *key)
{
    if (!key) return CUSTODY_EINVAL;
    json_t *root = load_event(json, len);
    if (!root) return CUSTODY_EINVAL;
    json_t *sigv = json_object_get(root, "signature");
    if (!sigv) {
        json_decref(root);
        return CUSTODY_ENOENT;
    }
    char key_id[9], want[9];
    uint8_t raw[SIG_LEN];
    int rc = 0;
    snprintf(want, sizeof want, "%08x", (unsigned)key->id);
    if (!parse_sig(sigv, key_id, raw) || strcmp(key_id, want) != 0) rc = CUSTODY_EBADSIG;
    struct strbuf canon = STRBUF_INIT;
    if (!rc) {
        json_object_del(root, "signature");
        rc = jcs_value(root, &canon, 0);
    }
    if (!rc && !ed25519_verify(key->pub, canon.buf, canon.len, raw)) rc = CUSTODY_EBADSIG;
    sb_free(&canon);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

static bool is_leap(uint64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, y >= 1970
 * (H. Hinnant's days_from_civil). */
static uint64_t days_from_civil(uint64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    uint64_t era = y / 400, yoe = y - era * 400;
    uint64_t doy = (153u * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static uint64_t digits(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

/* Exactly what util_rfc3339_ns writes: YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ. */
static int parse_timestamp(const char *s, size_t len, uint64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
    if (len != TIMESTAMP_LEN) return CUSTODY_EINVAL;
    for (size_t i = 0; i < TIMESTAMP_LEN; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) return CUSTODY_EINVAL;
    }
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    uint64_t y = digits(s, 4);
    unsigned mo = (unsigned)digits(s + 5, 2), d = (unsigned)digits(s + 8, 2);
    unsigned h = (unsigned)digits(s + 11, 2), mi = (unsigned)digits(s + 14, 2);
    unsigned sec = (unsigned)digits(s + 17, 2);
    uint64_t frac = digits(s + 20, 9);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
        return CUSTODY_EINVAL;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y))) return CUSTODY_EINVAL;
    uint64_t secs = days_from_civil(y, mo, d) * 86400u + h * 3600u + mi * 60u + sec;
    if (secs > (UINT64_MAX - frac) / 1000000000u) return CUSTODY_EINVAL;
    *out = secs * 1000000000u + frac;
    /* and it must be what the encoder would have written for that time */
    char again[40];
    util_rfc3339_ns(*out, again);
    return memcmp(again, s, TIMESTAMP_LEN) == 0 && again[TIMESTAMP_LEN] == '\0' ? 0
                                                                                : CUSTODY_EINVAL;
}

/* A non-negative integer within 2^53-1. */
static bool is_safe_uint(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           json_integer_value(v) <= SAFE_INT_MAX;
}

static bool is_field_str(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) <= LEDGER_FIELD_MAX &&
           strlen(json_string_value(v)) == json_string_length(v);
}

enum mtype {
    M_STR,      /* any string up to LEDGER_FIELD_MAX */
    M_SCHEMA,   /* LEDGER_SCHEMA or LEDGER_SCHEMA_V1 */
    M_EVENT_ID, /* UUIDv7 */
    M_TIME,     /* RFC 3339 as encoded */
    M_ACTION,   /* action pattern */
    M_DECISION, /* allow, deny, error */
    M_SHA256,   /* 64 lowercase hex */
    M_UINT,     /* 0..2^53-1 */
    M_LATENCY,  /* latency_ms number */
    M_RANGE,    /* {"length","start"} */
    M_POLICIES, /* 1..LEDGER_POLICY_MAX strings */
    M_STATUS,   /* 100..599 */
    M_VERSION,  /* 1..2^53-1 */
    M_SIG,      /* signature object */
    M_EDIT,     /* edit object (LEDGER_SCHEMA only) */
};

static const struct member {
    const char *name;
    enum mtype type;
    bool required;
} members[] = {
    {"action", M_ACTION, true},          {"agent_id", M_STR, false},
    {"attestation_ref", M_STR, false},   {"byte_range", M_RANGE, false},
    {"bytes_transferred", M_UINT, true}, {"content_sha256", M_SHA256, false},
    {"decision", M_DECISION, true},      {"destination_id", M_STR, false},
    {"edit", M_EDIT, false},
    {"endpoint_id", M_STR, false},       {"event_id", M_EVENT_ID, true},
    {"latency_ms", M_LATENCY, true},     {"model_id", M_STR, false},
    {"model_version", M_STR, false},     {"peer_uid", M_UINT, false},
    {"policy_ids", M_POLICIES, false},
    {"principal_id", M_STR, false},      {"reason", M_STR, false},
    {"resource_id", M_STR, false},       {"schema", M_SCHEMA, true},
    {"session_id", M_STR, false},        {"signature", M_SIG, false},
    {"status", M_STATUS, false},         {"timestamp", M_TIME, true},
    {"token_id", M_STR, false},          {"version", M_VERSION, false},
};

static bool is_schema(const char *s, size_t len, const char *want)
{
    return s && len == strlen(want) && memcmp(s, want, len) == 0;
}

static bool null_or_sha256(const json_t *v)
{
    return json_is_null(v) || (json_is_string(v) && sha256_hex_valid(json_string_value(v),
                                                                     json_string_length(v)));
}

static bool null_or_version(const json_t *v)
{
    return json_is_null(v) || (is_safe_uint(v) && json_integer_value(v) >= 1);
}

/* One side of an edit: exactly new_sha256, prev_sha256, prev_version and
 * version (each may be null), plus, at the top (outer), an optional
 * "consent" and "destination". */
static bool edit_valid(const json_t *v, bool outer)
{
    if (!json_is_object(v)) return false;
    static const char *const side[] = {"new_sha256", "prev_sha256", "prev_version", "version"};
    size_t n = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(side); i++) {
        const json_t *m = json_object_get(v, side[i]);
        if (!m || !(i < 2 ? null_or_sha256(m) : null_or_version(m))) return false;
        n++;
    }
    if (outer) {
        const json_t *c = json_object_get(v, "consent");
        if (c) {
            if (!json_is_string(c) ||
                strlen(json_string_value(c)) != json_string_length(c) ||
                !consent_valid(json_string_value(c), json_string_length(c)))
                return false;
            n++;
        }
        const json_t *d = json_object_get(v, "destination");
        if (d) {
            if (!edit_valid(d, false)) return false;
            n++;
        }
    }
    return json_object_size(v) == n; /* nothing else */
}

static bool member_valid(const json_t *v, enum mtype t)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t len = s ? json_string_length(v) : 0;
    switch (t) {
    case M_STR:
        return is_field_str(v);
    case M_SCHEMA:
        return is_schema(s, len, LEDGER_SCHEMA) || is_schema(s, len, LEDGER_SCHEMA_V1);
    case M_EVENT_ID:
        return s && uuid_v7_valid(s, len);
    case M_TIME: {
        uint64_t ns;
        return s && parse_timestamp(s, len, &ns) == 0;
    }
    case M_ACTION:
        return s && action_valid(s, len);
    case M_DECISION:
        return s && strlen(s) == len && decision_valid(s);
    case M_SHA256:
        return s && sha256_hex_valid(s, len);
    case M_UINT:
        return is_safe_uint(v);
    case M_LATENCY: {
        if (is_safe_uint(v)) return json_integer_value(v) < (json_int_t)(LATENCY_US_LIMIT / 1000);
        if (!json_is_real(v)) return false;
        struct strbuf tmp = STRBUF_INIT;
        bool ok = jcs_real(json_real_value(v), &tmp) == 0;
        sb_free(&tmp);
        return ok;
    }
    case M_RANGE:
        return json_is_object(v) && json_object_size(v) == 2 &&
               is_safe_uint(json_object_get(v, "start")) &&
               is_safe_uint(json_object_get(v, "length"));
    case M_POLICIES: {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || n == 0 || n > LEDGER_POLICY_MAX) return false;
        for (size_t i = 0; i < n; i++)
            if (!is_field_str(json_array_get(v, i))) return false;
        return true;
    }
    case M_STATUS:
        return json_is_integer(v) && json_integer_value(v) >= 100 && json_integer_value(v) <= 599;
    case M_VERSION:
        return is_safe_uint(v) && json_integer_value(v) >= 1;
    case M_SIG: {
        char kid[9];
        uint8_t raw[SIG_LEN];
        return parse_sig(v, kid, raw);
    }
    case M_EDIT:
        return edit_valid(v, true);
    }
    return false;
}

static char *dup_member(const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    return v ? util_strndup(json_string_value(v), json_string_length(v)) : NULL;
}

static int decode_root(const json_t *root, struct ledger_event_view *out)
{
    bool seen[UTIL_ARRAY_LEN(members)] = {false};
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)root, key, klen, v)
    {
        if (strlen(key) != klen) return CUSTODY_EINVAL;
        size_t i = 0;
        while (i < UTIL_ARRAY_LEN(members) && strcmp(members[i].name, key) != 0)
            i++;
        if (i == UTIL_ARRAY_LEN(members) || !member_valid(v, members[i].type))
            return CUSTODY_EINVAL;
        seen[i] = true;
    }
    for (size_t i = 0; i < UTIL_ARRAY_LEN(members); i++)
        if (members[i].required && !seen[i]) return CUSTODY_EINVAL;
    /* "edit" came with schema v2: an older event cannot have it */
    const json_t *schema = json_object_get(root, "schema");
    bool v1 = is_schema(json_string_value(schema), json_string_length(schema), LEDGER_SCHEMA_V1);
    out->has_edit = json_object_get(root, "edit") != NULL;
    if (v1 && out->has_edit) return CUSTODY_EINVAL;

    /* all validated: copy out */
    util_strlcpy(out->event_id, json_string_value(json_object_get(root, "event_id")),
                 sizeof out->event_id);
    const json_t *ts = json_object_get(root, "timestamp");
    util_strlcpy(out->timestamp, json_string_value(ts), sizeof out->timestamp);
    if (parse_timestamp(json_string_value(ts), json_string_length(ts), &out->time_ns))
        return CUSTODY_EINVAL;
    util_strlcpy(out->action, json_string_value(json_object_get(root, "action")),
                 sizeof out->action);
    util_strlcpy(out->decision, json_string_value(json_object_get(root, "decision")),
                 sizeof out->decision);
    out->principal_id = dup_member(root, "principal_id");
    out->agent_id = dup_member(root, "agent_id");
    out->resource_id = dup_member(root, "resource_id");
    out->content_sha256 = dup_member(root, "content_sha256");
    out->destination_id = dup_member(root, "destination_id");
    return 0;
}

int ledger_event_decode(const void *json, size_t len, struct ledger_event_view *out)
{
    if (!out) return CUSTODY_EINVAL;
    memset(out, 0, sizeof *out);
    json_t *root = load_event(json, len);
    if (!root) return CUSTODY_EINVAL;
    int rc = decode_root(root, out);
    json_decref(root);
    if (rc) ledger_event_view_free(out);
    return rc;
}

void ledger_event_view_free(struct ledger_event_view *v)
{
    if (!v) return;
    free(v->principal_id);
    free(v->agent_id);
    free(v->resource_id);
    free(v->content_sha256);
    free(v->destination_id);
    v->principal_id = v->agent_id = v->resource_id = v->content_sha256 = NULL;
    v->destination_id = NULL;
}
