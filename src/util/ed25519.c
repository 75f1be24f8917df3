/*
 * ed25519.c — Ed25519 keys for agents (OpenSSL): generation, PKCS#8 PEM,
 * fingerprints, signing, verification, and the session message both
 * custodyd and libcustody need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "custody/custody.h"
#include "util.h"

static int raw_public(EVP_PKEY *pk, uint8_t pub[32])
{
    size_t len = 32;
    if (EVP_PKEY_get_raw_public_key(pk, pub, &len) != 1 || len != 32) return CUSTODY_EINTERNAL;
    return 0;
}

int util_ed25519_keygen(uint8_t pub[32], struct strbuf *private_pem)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pk) return CUSTODY_EINTERNAL;
    int rc = raw_public(pk, pub);
    BIO *b = BIO_new(BIO_s_mem());
    if (!rc && (!b || PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1))
        rc = CUSTODY_EINTERNAL;
    if (!rc) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        rc = sb_append(private_pem, data, (size_t)n);
    }
    BIO_free(b);
    EVP_PKEY_free(pk);
    return rc;
}

static EVP_PKEY *load_pem(const char *pem, size_t len)
{
    if (len > 16384) return NULL;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b) return NULL;
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (pk && EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pk);
        return NULL;
    }
    return pk;
}

int util_ed25519_load_pem(const char *pem, size_t len, uint8_t pub[32])
{
    EVP_PKEY *pk = load_pem(pem, len);
    if (!pk) return CUSTODY_EINVAL;
    int rc = raw_public(pk, pub);
    EVP_PKEY_free(pk);
    return rc;
}

int util_ed25519_load_public_file(const char *path, uint8_t pub[32])
{
    char *pem = NULL;
    size_t len = 0;
    int rc = util_read_file(path, 16384, &pem, &len);
    if (rc) return rc;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free(pem);
    rc = pk && EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ? raw_public(pk, pub)
                                                               : CUSTODY_EINVAL;
    EVP_PKEY_free(pk);
    return rc;
}

void util_ed25519_fingerprint(const uint8_t pub[32], char out[UTIL_ED25519_FP_LEN + 1])
{
    uint8_t h[UTIL_SHA256_LEN];
    util_sha256(pub, 32, h);
    memcpy(out, "ed25519:", 8);
    util_hex_encode(h, sizeof h, out + 8);
}

int util_ed25519_sign(const char *pem, size_t pem_len, const void *msg, size_t len, uint8_t sig[64])
{
    EVP_PKEY *pk = load_pem(pem, pem_len);
    if (!pk) return CUSTODY_EINVAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : CUSTODY_EINTERNAL;
}

int util_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    if (!pk) return CUSTODY_EINTERNAL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : CUSTODY_EBADSIG;
}

int util_session_message(const char *agent, uint64_t ts, const char *nonce, const char *binding,
                         struct strbuf *out)
{
    return sb_printf(out, "custody-session-v1\n%s\n%llu\n%s\n%s\n", agent, (unsigned long long)ts,
                     nonce, binding);
}

int util_session_proof(const char *agent, const char *pem, size_t pem_len, const char *binding,
                       char out[UTIL_SESSION_PROOF_MAX])
{
    uint8_t rnd[16], sig[64];
    char nonce[33], sighex[129];
    if (util_random(rnd, sizeof rnd) != 0) return CUSTODY_EINTERNAL;
    util_hex_encode(rnd, sizeof rnd, nonce);
    uint64_t ts = util_now_ns() / 1000000000ull;
    struct strbuf msg = STRBUF_INIT;
    int rc = util_session_message(agent, ts, nonce, binding, &msg);
    if (!rc) rc = util_ed25519_sign(pem, pem_len, msg.buf, msg.len, sig);
    sb_free(&msg);
    if (rc) return rc;
    util_hex_encode(sig, sizeof sig, sighex);
    int n = snprintf(out, UTIL_SESSION_PROOF_MAX, "v1 %s %llu %s %s", agent,
                     (unsigned long long)ts, nonce, sighex);
    return n > 0 && n < UTIL_SESSION_PROOF_MAX ? 0 : CUSTODY_EINVAL;
}
