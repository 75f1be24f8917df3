/*
 * sigv4.c — AWS Signature Version 4 for S3 GETs, written here with OpenSSL's HMAC and SHA-256.
 *
 * Why not libcurl's CURLOPT_AWS_SIGV4 (7.75+, Debian 12 has 7.88): its canonical request in
 * that version has had fixes since (URI and query canonicalization, x-amz-content-sha256
 * handling for S3, a signature computed over the URL as curl re-encodes it), it cannot be
 * checked against the AWS published vectors from our tests, and its behaviour would change
 * with the distribution's curl. The algorithm is ~100 lines: owning it keeps the signed bytes
 * exactly the ones we send (Host, Range, UNSIGNED-PAYLOAD, session token) and lets
 * tests/pull/test_pull.c check them against the AWS documentation's examples.
 *
 * Steps (AWS "Create a signed AWS API request"): canonical request -> its SHA-256 in the
 * string to sign -> signing key HMAC chain ("AWS4" + secret, date, region, service,
 * "aws4_request") -> HMAC of the string to sign. Keys are wiped after use.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "pull/internal.h"

static int hmac(const void *key, size_t keylen, const void *msg, size_t len, uint8_t out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &olen) || olen != 32)
        return CUSTODY_EINTERNAL;
    return 0;
}

struct qpair {
    char *enc; /* "key=value", URI-encoded */
    size_t klen;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    size_t n = UTIL_MIN(x->klen, y->klen);
    int c = memcmp(x->enc, y->enc, n);
    if (c) return c;
    if (x->klen != y->klen) return x->klen < y->klen ? -1 : 1;
    return strcmp(x->enc + x->klen, y->enc + y->klen);
}

/* Canonical query: each key and value URI-encoded ('/' too), sorted by key then value. */
static int canonical_query(const char *q, struct strbuf *out)
{
    if (!q || !*q) return 0;
    size_t n = 1;
    for (const char *p = q; *p; p++)
        n += *p == '&';
    if (n > 1024) return CUSTODY_ETOOBIG;
    struct qpair *v = util_calloc(n, sizeof *v);
    size_t k = 0;
    int rc = 0;
    const char *p = q;
    while (rc == 0) {
        size_t len = strcspn(p, "&");
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            struct strbuf b = STRBUF_INIT;
            rc = pull_uri_encode(&b, p, kl, false);
            size_t ekl = b.len;
            if (!rc) rc = sb_append(&b, "=", 1);
            if (!rc && eq) rc = pull_uri_encode(&b, eq + 1, len - kl - 1, false);
            v[k].klen = ekl;
            v[k++].enc = sb_detach(&b);
        }
        if (!p[len]) break;
        p += len + 1;
    }
    if (!rc) {
        qsort(v, k, sizeof *v, cmp_pair);
        for (size_t i = 0; i < k && !rc; i++) {
            if (i) rc = sb_append(out, "&", 1);
            if (!rc) rc = sb_puts(out, v[i].enc);
        }
    }
    for (size_t i = 0; i < k; i++)
        free(v[i].enc);
    free(v);
    return rc;
}

int pull_sigv4_sign(const struct pull_sigv4_req *r, char sig[65], struct strbuf *authorization)
{
    if (!r || !r->method || !r->host || !r->canonical_uri || !r->amz_date ||
        strlen(r->amz_date) != 16 || !r->region || !r->service || !r->access_key || !r->secret_key)
        return CUSTODY_EINVAL;
    static const char empty_sha[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    struct strbuf creq = STRBUF_INIT, signed_h = STRBUF_INIT, sts = STRBUF_INIT;
    int rc = 0;
    char date[9];
    memcpy(date, r->amz_date, 8);
    date[8] = 0;

    /* signed headers, in sorted order: host, range, x-amz-content-sha256, x-amz-date,
     * x-amz-security-token */
    rc = sb_puts(&signed_h, "host");
    if (!rc && r->range) rc = sb_puts(&signed_h, ";range");
    if (!rc && r->payload_sha256) rc = sb_puts(&signed_h, ";x-amz-content-sha256");
    if (!rc) rc = sb_puts(&signed_h, ";x-amz-date");
    if (!rc && r->session_token && *r->session_token)
        rc = sb_puts(&signed_h, ";x-amz-security-token");

    if (!rc) rc = sb_printf(&creq, "%s\n%s\n", r->method, r->canonical_uri);
    if (!rc) rc = canonical_query(r->query, &creq);
    if (!rc) rc = sb_printf(&creq, "\nhost:%s\n", r->host);
    if (!rc && r->range) rc = sb_printf(&creq, "range:%s\n", r->range);
    if (!rc && r->payload_sha256)
        rc = sb_printf(&creq, "x-amz-content-sha256:%s\n", r->payload_sha256);
    if (!rc) rc = sb_printf(&creq, "x-amz-date:%s\n", r->amz_date);
    if (!rc && r->session_token && *r->session_token)
        rc = sb_printf(&creq, "x-amz-security-token:%s\n", r->session_token);
    if (!rc)
        rc = sb_printf(&creq, "\n%s\n%s", signed_h.buf,
                       r->payload_sha256 ? r->payload_sha256 : empty_sha);

    uint8_t h[32];
    char hhex[65];
    if (!rc) {
        util_sha256(creq.buf, creq.len, h);
        util_hex_encode(h, 32, hhex);
        rc = sb_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date,
                       r->region, r->service, hhex);
    }

    uint8_t k[32], mac[32];
    char kinit[4 + PULL_CRED_MAX + 1];
    size_t sl = strlen(r->secret_key);
    if (!rc && sl > PULL_CRED_MAX) rc = CUSTODY_EINVAL;
    if (!rc) {
        memcpy(kinit, "AWS4", 4);
        memcpy(kinit + 4, r->secret_key, sl);
        rc = hmac(kinit, 4 + sl, date, 8, k);
        if (!rc) rc = hmac(k, 32, r->region, strlen(r->region), k);
        if (!rc) rc = hmac(k, 32, r->service, strlen(r->service), k);
        if (!rc) rc = hmac(k, 32, "aws4_request", 12, k);
        if (!rc) rc = hmac(k, 32, sts.buf, sts.len, mac);
        OPENSSL_cleanse(kinit, sizeof kinit);
        OPENSSL_cleanse(k, sizeof k);
    }
    if (!rc) {
        util_hex_encode(mac, 32, sig);
        if (authorization)
            rc = sb_printf(authorization,
                           "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                           "SignedHeaders=%s, Signature=%s",
                           r->access_key, date, r->region, r->service, signed_h.buf, sig);
    }
    sb_free(&creq);
    sb_free(&signed_h);
    sb_free(&sts);
    return rc;
}
