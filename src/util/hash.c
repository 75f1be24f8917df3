/* hash.c — hex, SHA-256 (OpenSSL EVP) and random bytes. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

void util_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int util_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int util_hex_decode(const char *in, size_t len, uint8_t *out)
{
    if (len % 2)
        return CUSTODY_EINVAL;
    for (size_t i = 0; i < len; i += 2) {
        int hi = util_hexval(in[i]), lo = util_hexval(in[i + 1]);
        if (hi < 0 || lo < 0)
            return CUSTODY_EINVAL;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

struct util_sha256 {
    EVP_MD_CTX *ctx;
};

struct util_sha256 *util_sha256_new(void)
{
    struct util_sha256 *h = util_calloc(1, sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
    return h;
}

void util_sha256_update(struct util_sha256 *h, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(h->ctx, data, len);
}

void util_sha256_final(struct util_sha256 *h, uint8_t out[UTIL_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, out, &n);
    util_sha256_free(h);
}

void util_sha256_free(struct util_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void util_sha256(const void *data, size_t len, uint8_t out[UTIL_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int util_sha256_fd(int fd, uint8_t out[UTIL_SHA256_LEN], uint64_t *size_out)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf)
        return CUSTODY_ENOMEM;
    struct util_sha256 *h = util_sha256_new();
    uint64_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, CHUNK, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int rc = custody_err_from_errno(errno);
            util_sha256_free(h);
            free(buf);
            return rc;
        }
        if (n == 0)
            break;
        util_sha256_update(h, buf, (size_t)n);
        off += (uint64_t)n;
    }
    util_sha256_final(h, out);
    free(buf);
    if (size_out)
        *size_out = off;
    return 0;
}

int util_random(void *buf, size_t len)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : CUSTODY_EINTERNAL;
}
