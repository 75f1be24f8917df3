/*
 * note.c — C2SP signed notes and what is built on them: checkpoints
 * (c2sp.org/tlog-checkpoint), Ed25519 cosignatures (c2sp.org/tlog-cosignature,
 * cosignature/v1), offline proof files (c2sp.org/tlog-proof@v1) and
 * tlog-witness add-checkpoint request bodies, plus the strict base64 they
 * all use.
 *
 * Parsers are strict and bounded: they never read past the length they are
 * given, reject NUL and every control character but '\n', invalid UTF-8,
 * non-canonical base64 and decimals with leading zeros, and accept exactly
 * one spelling of each format, so that formatting what they parsed gives back
 * the same bytes. Ed25519 goes through OpenSSL's one-shot EVP_DigestSign /
 * EVP_DigestVerify (no digest); seeds are wiped with OPENSSL_cleanse.
 *
 * Signature lines whose signature is longer than TLOG_SIG_MAX (e.g. an
 * ML-DSA-44 cosignature next to ours) are syntax-checked and kept with
 * sig_len 0: they are never ours, and a note must not be refused because a
 * key we do not know signed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tlog.h"

#define ED25519_SIG_LEN 64
#define COSIG_TIME_MAX ((uint64_t)INT64_MAX) /* tlog-cosignature: at most 2^63 - 1 */
#define HASH_B64_LEN 44                      /* base64 of 32 bytes */
#define VKEY_B64_LEN 44                      /* base64 of type byte + 32-byte key */
#define PEM_MAX 8192                         /* an Ed25519 PKCS#8 PEM is ~120 bytes */

static const char sig_prefix[] = "\xe2\x80\x94 "; /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
static const char proof_header[] = "c2sp.org/tlog-proof@v1";

/* ------------------------------------------------------------------ */
/* small helpers                                                        */
/* ------------------------------------------------------------------ */

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Undoes a failed append: out goes back to its first `len` bytes. */
static void sb_truncate(struct strbuf *sb, size_t len)
{
    sb->len = len;
    if (sb->buf)
        sb->buf[len] = '\0';
}

/* Valid UTF-8 with no ASCII control character other than '\n'. */
static bool text_chars_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
            return false;
    return util_utf8_valid(s, len);
}

/* The next '\n'-terminated line at *off; false when no newline is left. */
static bool next_line(const char *buf, size_t len, size_t *off, const char **line, size_t *llen)
{
    if (*off >= len)
        return false;
    const char *nl = memchr(buf + *off, '\n', len - *off);
    if (!nl)
        return false;
    *line = buf + *off;
    *llen = (size_t)(nl - *line);
    *off += *llen + 1;
    return true;
}

/* Does the line start with the ASCII word and a space? */
static bool has_prefix(const char *line, size_t llen, const char *word)
{
    size_t n = strlen(word);
    return llen > n && memcmp(line, word, n) == 0 && line[n] == ' ';
}

/* ASCII decimal with no leading zeros (except "0"), no sign, no overflow. */
static int parse_decimal(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || (len > 1 && s[0] == '0'))
        return CUSTODY_EINVAL;
    return util_parse_u64(s, len, out) ? CUSTODY_EINVAL : 0;
}

/* ------------------------------------------------------------------ */
/* base64 (RFC 4648 §4, padded)                                         */
/* ------------------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int tlog_b64_encode(const void *in, size_t len, struct strbuf *out)
{
    if (len > SIZE_MAX / 4 - 3)
        return CUSTODY_ENOMEM;
    size_t olen = (len + 2) / 3 * 4;
    int rc = sb_reserve(out, olen);
    if (rc)
        return rc;
    const uint8_t *p = in;
    char *o = out->buf + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64_alphabet[w >> 18];
        *o++ = b64_alphabet[(w >> 12) & 63];
        *o++ = b64_alphabet[(w >> 6) & 63];
        *o++ = b64_alphabet[w & 63];
    }
    if (i < len) {
        uint32_t w = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            w |= (uint32_t)p[i + 1] << 8;
        *o++ = b64_alphabet[w >> 18];
        *o++ = b64_alphabet[(w >> 12) & 63];
        *o++ = i + 1 < len ? b64_alphabet[(w >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len += olen;
    out->buf[out->len] = '\0';
    return 0;
}

/*
 * Strict decode: length a multiple of 4, only alphabet characters, '='
 * only as the last one or two, and zero bits where the padding leaves some
 * (so each byte string has exactly one accepted spelling). *total receives
 * the decoded length. With partial, only the first min(total, max) bytes
 * are written; without, more than max bytes is CUSTODY_EINVAL and nothing
 * is written.
 */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t max, bool partial,
                      size_t *total)
{
    if (len % 4)
        return CUSTODY_EINVAL;
    size_t pad = 0;
    if (len && in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    if (!partial && n > max)
        return CUSTODY_EINVAL;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        size_t nbytes = 3;
        for (size_t j = 0; j < 4; j++) {
            if (i + j >= len - pad) { /* one of the trailing '=' */
                v[j] = 0;
                nbytes--;
                continue;
            }
            if ((v[j] = b64_value(in[i + j])) < 0)
                return CUSTODY_EINVAL;
        }
        if ((pad == 1 && i + 4 == len && (v[2] & 3)) || (pad == 2 && i + 4 == len && (v[1] & 15)))
            return CUSTODY_EINVAL; /* non-zero bits under the padding */
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        for (size_t j = 0; j < nbytes; j++, k++)
            if (k < max)
                out[k] = b[j];
    }
    *total = n;
    return 0;
}

int tlog_b64_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *n)
{
    size_t total = 0;
    int rc = b64_decode(in, len, out, max, false, &total);
    if (rc)
        return rc;
    *n = total;
    return 0;
}

/* Exactly one SHA-256 hash: 44 characters decoding to 32 bytes. */
static int b64_hash(const char *s, size_t len, uint8_t out[TLOG_HASH_LEN])
{
    size_t n = 0;
    if (len != HASH_B64_LEN || tlog_b64_decode(s, len, out, TLOG_HASH_LEN, &n) ||
        n != TLOG_HASH_LEN)
        return CUSTODY_EINVAL;
    return 0;
}

/* One base64 hash per line into lines[], until an empty line; at most max. */
static int parse_hash_lines(const char *buf, size_t len, size_t *off,
                            uint8_t (*hashes)[TLOG_HASH_LEN], size_t max, size_t *n)
{
    const char *line;
    size_t llen;
    *n = 0;
    for (;;) {
        if (!next_line(buf, len, off, &line, &llen))
            return CUSTODY_EINVAL; /* no blank line before the note */
        if (llen == 0)
            return 0;
        if (*n == max || b64_hash(line, llen, hashes[*n]))
            return CUSTODY_EINVAL;
        (*n)++;
    }
}

static int append_hash_lines(const uint8_t (*hashes)[TLOG_HASH_LEN], size_t n, struct strbuf *out)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!(rc = tlog_b64_encode(hashes[i], TLOG_HASH_LEN, out)))
            rc = sb_append(out, "\n", 1);
    return rc;
}

/* ------------------------------------------------------------------ */
/* key names and keys                                                   */
/* ------------------------------------------------------------------ */

/* The code point at s[*i] of a string already known to be valid UTF-8. */
static uint32_t utf8_next(const unsigned char *s, size_t *i)
{
    unsigned char c = s[*i];
    size_t n = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1fu) : n == 2 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t k = 1; k <= n; k++)
        cp = cp << 6 | (s[*i + k] & 0x3fu);
    *i += n + 1;
    return cp;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports, as x/mod/sumdb/note
 * uses for key names), plus every other C0 control and DEL. */
static bool name_char_bad(uint32_t cp)
{
    if (cp < 0x21 || cp == 0x7f || cp == '+')
        return true;
    switch (cp) {
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

bool tlog_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > TLOG_NAME_MAX || !util_utf8_valid(name, len))
        return false;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;)
        if (name_char_bad(utf8_next(s, &i)))
            return false;
    return true;
}

static bool key_type_valid(uint8_t type)
{
    return type == TLOG_KEY_ED25519 || type == TLOG_KEY_COSIGNATURE;
}

/* SHA-256(name || 0x0A || type || pub)[:4], big-endian. */
static uint32_t key_id(const char *name, size_t nlen, uint8_t type, const uint8_t pub[32])
{
    uint8_t buf[TLOG_NAME_MAX + 2 + 32], d[UTIL_SHA256_LEN];
    memcpy(buf, name, nlen);
    buf[nlen] = '\n';
    buf[nlen + 1] = type;
    memcpy(buf + nlen + 2, pub, 32);
    util_sha256(buf, nlen + 2 + 32, d);
    return get_be32(d);
}

/* Length of a key name stored NUL-terminated in a TLOG_NAME_MAX + 1 buffer,
 * or 0 when it is not a valid name. */
static size_t name_len(const char *name)
{
    size_t n = name ? strnlen(name, TLOG_NAME_MAX + 1) : 0;
    return tlog_name_valid(name, n) ? n : 0;
}

/* Is k a well-formed public key (valid name and type, id matching)? */
static bool key_consistent(const struct tlog_key *k)
{
    size_t n = name_len(k->name);
    return n && key_type_valid(k->type) && k->id == key_id(k->name, n, k->type, k->pub);
}

/* Builds into a local copy, so name, seed or pub may point into *out. */
static int key_make(const char *name, uint8_t type, const uint8_t seed[32], const uint8_t pub[32],
                    struct tlog_key *out)
{
    struct tlog_key k;
    memset(&k, 0, sizeof k);
    size_t n = name ? strnlen(name, TLOG_NAME_MAX + 1) : 0;
    if (!tlog_name_valid(name, n) || !key_type_valid(type)) {
        OPENSSL_cleanse(out, sizeof *out);
        return CUSTODY_EINVAL;
    }
    memcpy(k.name, name, n);
    k.type = type;
    int rc = 0;
    if (seed) {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
        size_t plen = sizeof k.pub;
        if (!pkey || EVP_PKEY_get_raw_public_key(pkey, k.pub, &plen) != 1 || plen != 32)
            rc = CUSTODY_EINTERNAL;
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        memcpy(k.priv, seed, 32);
        k.has_priv = true;
    } else {
        memcpy(k.pub, pub, 32);
    }
    k.id = key_id(k.name, n, type, k.pub);
    if (rc)
        OPENSSL_cleanse(out, sizeof *out);
    else
        *out = k;
    OPENSSL_cleanse(&k, sizeof k);
    return rc;
}

int tlog_key_from_seed(const char *name, uint8_t type, const uint8_t seed[32],
                       struct tlog_key *out)
{
    return key_make(name, type, seed, NULL, out);
}

int tlog_key_from_pub(const char *name, uint8_t type, const uint8_t pub[32], struct tlog_key *out)
{
    return key_make(name, type, NULL, pub, out);
}

/* Declines: a key file is never decrypted by prompting on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

/* Reads a small regular file into buf (never through a heap buffer, so the
 * caller can wipe every copy); CUSTODY_ETOOBIG when it does not fit. */
static int read_small_file(const char *path, char *buf, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return custody_err_from_errno(errno);
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = custody_err_from_errno(errno);
    else if (!S_ISREG(st.st_mode))
        rc = S_ISDIR(st.st_mode) ? CUSTODY_EISDIR : CUSTODY_EINVAL;
    size_t n = 0;
    while (!rc) {
        if (n == max) {
            rc = CUSTODY_ETOOBIG;
            break;
        }
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = custody_err_from_errno(errno);
        else if (r == 0)
            break;
        else
            n += (size_t)r;
    }
    close(fd);
    *len = n;
    return rc;
}

int tlog_key_load_pem(const char *path, const char *name, uint8_t type, struct tlog_key *out)
{
    char pem[PEM_MAX];
    size_t len = 0;
    int rc = read_small_file(path, pem, sizeof pem, &len);
    EVP_PKEY *pkey = NULL;
    if (!rc) {
        BIO *bio = BIO_new_mem_buf(pem, (int)len);
        if (bio)
            pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
        if (!pkey)
            rc = CUSTODY_EINVAL;
    }
    OPENSSL_cleanse(pem, sizeof pem);
    uint8_t seed[32];
    size_t slen = sizeof seed;
    if (!rc && (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 ||
                EVP_PKEY_get_raw_private_key(pkey, seed, &slen) != 1 || slen != 32))
        rc = CUSTODY_EINVAL;
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    if (!rc)
        rc = tlog_key_from_seed(name, type, seed, out);
    else
        OPENSSL_cleanse(out, sizeof *out);
    OPENSSL_cleanse(seed, sizeof seed);
    return rc;
}

void tlog_key_wipe(struct tlog_key *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k->priv, sizeof k->priv);
    k->has_priv = false;
}

int tlog_vkey_format(const struct tlog_key *k, struct strbuf *out)
{
    if (!key_consistent(k))
        return CUSTODY_EINVAL;
    size_t start = out->len;
    uint8_t raw[33];
    raw[0] = k->type;
    memcpy(raw + 1, k->pub, 32);
    int rc = sb_printf(out, "%s+%08" PRIx32 "+", k->name, k->id);
    if (!rc)
        rc = tlog_b64_encode(raw, sizeof raw, out);
    if (rc)
        sb_truncate(out, start);
    return rc;
}

int tlog_vkey_parse(const char *s, size_t len, struct tlog_key *out)
{
    OPENSSL_cleanse(out, sizeof *out);
    const char *plus = memchr(s, '+', UTIL_MIN(len, (size_t)TLOG_NAME_MAX + 1));
    if (!plus)
        return CUSTODY_EINVAL;
    size_t nlen = (size_t)(plus - s);
    /* name '+' 8 hex '+' base64(type || key) */
    if (!tlog_name_valid(s, nlen) || len != nlen + 1 + 8 + 1 + VKEY_B64_LEN || s[nlen + 9] != '+')
        return CUSTODY_EINVAL;
    uint32_t id = 0;
    for (size_t i = nlen + 1; i < nlen + 9; i++) {
        int v = util_hexval(s[i]);
        if (v < 0 || (s[i] >= 'A' && s[i] <= 'F')) /* lowercase only: one spelling */
            return CUSTODY_EINVAL;
        id = id << 4 | (uint32_t)v;
    }
    uint8_t raw[33];
    size_t n = 0;
    if (tlog_b64_decode(s + nlen + 10, VKEY_B64_LEN, raw, sizeof raw, &n) || n != sizeof raw ||
        !key_type_valid(raw[0]))
        return CUSTODY_EINVAL;
    memcpy(out->name, s, nlen);
    out->name[nlen] = '\0';
    out->type = raw[0];
    memcpy(out->pub, raw + 1, 32);
    out->id = key_id(out->name, nlen, out->type, out->pub);
    if (out->id != id) {
        OPENSSL_cleanse(out, sizeof *out);
        return CUSTODY_EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Ed25519 through EVP                                                  */
/* ------------------------------------------------------------------ */

/* Signs msg with k's seed, after checking that the seed's public half and
 * the id are k's (so a damaged key never signs under a wrong id). */
static int ed25519_sign(const struct tlog_key *k, const void *msg, size_t len,
                        uint8_t sig[ED25519_SIG_LEN])
{
    if (!k->has_priv || !key_consistent(k))
        return CUSTODY_EINVAL;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->priv, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t pub[32];
    size_t plen = sizeof pub, slen = ED25519_SIG_LEN;
    int rc = CUSTODY_EINTERNAL;
    if (pkey && ctx && EVP_PKEY_get_raw_public_key(pkey, pub, &plen) == 1) {
        if (plen != 32 || memcmp(pub, k->pub, 32) != 0)
            rc = CUSTODY_EINVAL;
        else if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
                 EVP_DigestSign(ctx, sig, &slen, msg, len) == 1 && slen == ED25519_SIG_LEN)
            rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

static bool ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t *sig)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pkey && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

/* "cosignature/v1\ntime <t>\n" followed by the checkpoint body. */
static int cosig_message(uint64_t t, const char *text, size_t len, struct strbuf *msg)
{
    int rc = sb_printf(msg, "cosignature/v1\ntime %" PRIu64 "\n", t);
    return rc ? rc : sb_append(msg, text, len);
}

/* ------------------------------------------------------------------ */
/* signed notes                                                         */
/* ------------------------------------------------------------------ */

/* A note text: non-empty, valid, ends with '\n', last line not blank (so
 * the blank line before the signatures is unambiguous). */
static bool note_text_ok(const char *text, size_t len)
{
    return text && len >= 2 && len <= TLOG_NOTE_MAX && text[len - 1] == '\n' &&
           text[len - 2] != '\n' && text_chars_ok(text, len);
}

/* Appends k's signature line over text. */
static int sign_line(const char *text, size_t len, const struct tlog_key *k, uint64_t cosig_time,
                     struct strbuf *out)
{
    uint8_t raw[4 + 8 + ED25519_SIG_LEN];
    size_t rlen = 4;
    int rc;
    put_be32(raw, k->id);
    if (k->type == TLOG_KEY_COSIGNATURE) {
        struct tlog_checkpoint cp;
        if (cosig_time > COSIG_TIME_MAX || tlog_checkpoint_parse(text, len, &cp))
            return CUSTODY_EINVAL;
        struct strbuf msg = STRBUF_INIT;
        if (!(rc = cosig_message(cosig_time, text, len, &msg)))
            rc = ed25519_sign(k, msg.buf, msg.len, raw + 12);
        sb_free(&msg);
        put_be64(raw + 4, cosig_time);
        rlen += 8 + ED25519_SIG_LEN;
    } else {
        rc = ed25519_sign(k, text, len, raw + 4);
        rlen += ED25519_SIG_LEN;
    }
    if (rc)
        return rc;
    size_t start = out->len;
    if (!(rc = sb_append(out, sig_prefix, SIG_PREFIX_LEN)) && !(rc = sb_puts(out, k->name)) &&
        !(rc = sb_append(out, " ", 1)) && !(rc = tlog_b64_encode(raw, rlen, out)))
        rc = sb_append(out, "\n", 1);
    if (rc)
        sb_truncate(out, start);
    return rc;
}

int tlog_note_sign(const char *text, size_t len, const struct tlog_key *const *keys, size_t nkeys,
                   uint64_t cosig_time, struct strbuf *out)
{
    if (!note_text_ok(text, len) || !keys || nkeys == 0 || nkeys > TLOG_NOTE_SIGS_MAX)
        return CUSTODY_EINVAL;
    size_t start = out->len;
    int rc = sb_append(out, text, len);
    if (!rc)
        rc = sb_append(out, "\n", 1);
    for (size_t i = 0; i < nkeys && !rc; i++)
        rc = keys[i] ? sign_line(text, len, keys[i], cosig_time, out) : CUSTODY_EINVAL;
    if (!rc && out->len - start > TLOG_NOTE_MAX)
        rc = CUSTODY_ETOOBIG; /* nobody (us included) would parse it */
    if (rc)
        sb_truncate(out, start);
    return rc;
}

int tlog_note_sign_lines(const char *text, size_t len, const struct tlog_key *key,
                         uint64_t cosig_time, struct strbuf *out)
{
    if (!note_text_ok(text, len) || !key)
        return CUSTODY_EINVAL;
    return sign_line(text, len, key, cosig_time, out);
}

/* One signature line, without its '\n'. sig may be NULL (syntax only). */
static int parse_sig_line(const char *line, size_t len, struct tlog_sig *sig)
{
    if (len < SIG_PREFIX_LEN || memcmp(line, sig_prefix, SIG_PREFIX_LEN) != 0)
        return CUSTODY_EINVAL;
    line += SIG_PREFIX_LEN;
    len -= SIG_PREFIX_LEN;
    const char *sp = memchr(line, ' ', len);
    if (!sp)
        return CUSTODY_EINVAL;
    size_t nlen = (size_t)(sp - line);
    if (!tlog_name_valid(line, nlen))
        return CUSTODY_EINVAL;
    uint8_t raw[4 + TLOG_SIG_MAX];
    size_t total = 0;
    if (b64_decode(sp + 1, len - nlen - 1, raw, sizeof raw, true, &total) || total < 5)
        return CUSTODY_EINVAL; /* a key id and at least one byte of signature */
    if (sig) {
        memcpy(sig->name, line, nlen);
        sig->name[nlen] = '\0';
        sig->id = get_be32(raw);
        sig->sig_len = total - 4 <= TLOG_SIG_MAX ? total - 4 : 0;
        memcpy(sig->sig, raw + 4, sig->sig_len);
    }
    return 0;
}

/* Signature lines filling all of buf (at least one, each ending in '\n'). */
static int parse_sig_block(const char *buf, size_t len, struct tlog_sig *sigs, size_t max,
                           size_t *n)
{
    if (len == 0 || buf[len - 1] != '\n')
        return CUSTODY_EINVAL;
    size_t off = 0, count = 0;
    const char *line;
    size_t llen;
    while (next_line(buf, len, &off, &line, &llen)) {
        if (count == max)
            return CUSTODY_EINVAL;
        int rc = parse_sig_line(line, llen, sigs ? &sigs[count] : NULL);
        if (rc)
            return rc;
        count++;
    }
    *n = count;
    return 0;
}

/* Splits a signed note at its last blank line; sigs may be NULL. */
static int note_split(const char *buf, size_t len, size_t *text_len, struct tlog_sig *sigs,
                      size_t *nsigs)
{
    if (!buf || len < 2 || len > TLOG_NOTE_MAX || !text_chars_ok(buf, len))
        return CUSTODY_EINVAL;
    size_t i = len - 1;
    while (i > 0 && !(buf[i] == '\n' && buf[i - 1] == '\n'))
        i--;
    if (i == 0)
        return CUSTODY_EINVAL; /* no blank line */
    size_t tlen = i;           /* the text keeps its final '\n', not the blank line */
    if (!note_text_ok(buf, tlen))
        return CUSTODY_EINVAL;
    int rc = parse_sig_block(buf + i + 1, len - i - 1, sigs, TLOG_NOTE_SIGS_MAX, nsigs);
    if (rc)
        return rc;
    *text_len = tlen;
    return 0;
}

int tlog_note_parse(const char *buf, size_t len, struct tlog_note *out)
{
    size_t tlen = 0, n = 0;
    int rc = note_split(buf, len, &tlen, out->sigs, &n);
    if (rc) {
        out->text = NULL;
        out->text_len = out->nsigs = 0;
        return rc;
    }
    out->text = buf;
    out->text_len = tlen;
    out->nsigs = n;
    return 0;
}

int tlog_sig_lines_parse(const char *buf, size_t len, struct tlog_sig *sigs, size_t max,
                         size_t *n)
{
    *n = 0;
    if (!buf || len > TLOG_NOTE_MAX || !text_chars_ok(buf, len))
        return CUSTODY_EINVAL;
    size_t count = 0;
    int rc = parse_sig_block(buf, len, sigs, max, &count);
    if (!rc)
        *n = count;
    return rc;
}

int tlog_sig_verify(const char *text, size_t text_len, const struct tlog_sig *sig,
                    const struct tlog_key *k, uint64_t *cosig_time)
{
    if (!key_type_valid(k->type))
        return CUSTODY_EINVAL;
    if (sig->id != k->id || strncmp(sig->name, k->name, sizeof k->name) != 0)
        return CUSTODY_ENOENT;
    if (k->type == TLOG_KEY_ED25519) {
        if (sig->sig_len != ED25519_SIG_LEN || !ed25519_verify(k->pub, text, text_len, sig->sig))
            return CUSTODY_EBADSIG;
        return 0;
    }
    if (sig->sig_len != 8 + ED25519_SIG_LEN)
        return CUSTODY_EBADSIG;
    uint64_t t = get_be64(sig->sig);
    if (t > COSIG_TIME_MAX)
        return CUSTODY_EBADSIG;
    struct strbuf msg = STRBUF_INIT;
    int rc = cosig_message(t, text, text_len, &msg);
    if (!rc && !ed25519_verify(k->pub, msg.buf, msg.len, sig->sig + 8))
        rc = CUSTODY_EBADSIG;
    sb_free(&msg);
    if (!rc && cosig_time)
        *cosig_time = t;
    return rc;
}

int tlog_note_verify(const struct tlog_note *n, const struct tlog_key *keys, size_t nkeys)
{
    size_t good = 0;
    for (size_t i = 0; i < n->nsigs && i < TLOG_NOTE_SIGS_MAX; i++) {
        for (size_t j = 0; j < nkeys; j++) {
            int rc = tlog_sig_verify(n->text, n->text_len, &n->sigs[i], &keys[j], NULL);
            if (rc == CUSTODY_ENOENT)
                continue;
            if (rc)
                return CUSTODY_EBADSIG; /* a known key's line that fails spoils the note */
            good++;
        }
    }
    return good ? 0 : CUSTODY_EBADSIG;
}

/* ------------------------------------------------------------------ */
/* checkpoints                                                          */
/* ------------------------------------------------------------------ */

/* Origin: 1..TLOG_NAME_MAX bytes of UTF-8 with no control character. The
 * spec only recommends a URL-like name, so spaces and '+' are allowed. */
static bool origin_ok(const char *s, size_t len)
{
    return len > 0 && len <= TLOG_NAME_MAX && memchr(s, '\n', len) == NULL &&
           text_chars_ok(s, len);
}

int tlog_checkpoint_format(const struct tlog_checkpoint *c, struct strbuf *out)
{
    size_t olen = strnlen(c->origin, sizeof c->origin);
    if (olen == sizeof c->origin || !origin_ok(c->origin, olen))
        return CUSTODY_EINVAL;
    size_t start = out->len;
    int rc = sb_printf(out, "%s\n%" PRIu64 "\n", c->origin, c->size);
    if (!rc)
        rc = tlog_b64_encode(c->root, TLOG_HASH_LEN, out);
    if (!rc)
        rc = sb_append(out, "\n", 1);
    if (rc)
        sb_truncate(out, start);
    return rc;
}

int tlog_checkpoint_parse(const char *text, size_t len, struct tlog_checkpoint *out)
{
    if (!text || len == 0 || len > TLOG_NOTE_MAX || text[len - 1] != '\n' ||
        !text_chars_ok(text, len))
        return CUSTODY_EINVAL;
    size_t off = 0, olen, slen, rlen, elen;
    const char *origin, *size, *root, *ext;
    struct tlog_checkpoint c;
    if (!next_line(text, len, &off, &origin, &olen) || !origin_ok(origin, olen) ||
        !next_line(text, len, &off, &size, &slen) || parse_decimal(size, slen, &c.size) ||
        !next_line(text, len, &off, &root, &rlen) || b64_hash(root, rlen, c.root))
        return CUSTODY_EINVAL;
    while (next_line(text, len, &off, &ext, &elen))
        if (elen == 0)
            return CUSTODY_EINVAL; /* extension lines must be non-empty */
    memcpy(c.origin, origin, olen);
    c.origin[olen] = '\0';
    *out = c;
    return 0;
}

/* A signed note whose text is a checkpoint; *cp receives it. */
static int check_signed_checkpoint(const char *note, size_t len, struct tlog_checkpoint *cp)
{
    size_t tlen = 0, n = 0;
    int rc = note_split(note, len, &tlen, NULL, &n);
    return rc ? rc : tlog_checkpoint_parse(note, tlen, cp);
}

/* ------------------------------------------------------------------ */
/* tlog-proof files                                                     */
/* ------------------------------------------------------------------ */

int tlog_proof_format(const struct tlog_proof_file *p, struct strbuf *out)
{
    struct tlog_checkpoint cp;
    if (p->nproof > TLOG_PROOF_MAX ||
        (p->has_extra && (p->extra_len == 0 || p->extra_len > TLOG_EXTRA_MAX)) ||
        check_signed_checkpoint(p->note, p->note_len, &cp))
        return CUSTODY_EINVAL;
    size_t start = out->len;
    int rc = sb_printf(out, "%s\n", proof_header);
    if (!rc && p->has_extra && !(rc = sb_puts(out, "extra ")) &&
        !(rc = tlog_b64_encode(p->extra, p->extra_len, out)))
        rc = sb_append(out, "\n", 1);
    if (!rc)
        rc = sb_printf(out, "index %" PRIu64 "\n", p->index);
    if (!rc)
        rc = append_hash_lines((const uint8_t(*)[TLOG_HASH_LEN])p->proof, p->nproof, out);
    if (!rc)
        rc = sb_append(out, "\n", 1);
    if (!rc)
        rc = sb_append(out, p->note, p->note_len);
    if (rc)
        sb_truncate(out, start);
    return rc;
}

static int proof_parse(const char *buf, size_t len, struct tlog_proof_file *out)
{
    size_t off = 0, llen, n = 0;
    const char *line;
    struct tlog_checkpoint cp;
    if (!next_line(buf, len, &off, &line, &llen) || llen != strlen(proof_header) ||
        memcmp(line, proof_header, llen) != 0 || !next_line(buf, len, &off, &line, &llen))
        return CUSTODY_EINVAL;
    if (has_prefix(line, llen, "extra")) {
        if (tlog_b64_decode(line + 6, llen - 6, out->extra, TLOG_EXTRA_MAX, &n) || n == 0)
            return CUSTODY_EINVAL;
        out->has_extra = true;
        out->extra_len = n;
        if (!next_line(buf, len, &off, &line, &llen))
            return CUSTODY_EINVAL;
    }
    if (!has_prefix(line, llen, "index") || parse_decimal(line + 6, llen - 6, &out->index) ||
        parse_hash_lines(buf, len, &off, out->proof, TLOG_PROOF_MAX, &out->nproof) ||
        check_signed_checkpoint(buf + off, len - off, &cp))
        return CUSTODY_EINVAL;
    out->note = buf + off;
    out->note_len = len - off;
    return 0;
}

int tlog_proof_parse(const char *buf, size_t len, struct tlog_proof_file *out)
{
    out->index = 0;
    out->extra_len = out->nproof = out->note_len = 0;
    out->has_extra = false;
    out->note = NULL;
    int rc = buf ? proof_parse(buf, len, out) : CUSTODY_EINVAL;
    if (rc) {
        out->index = 0;
        out->extra_len = out->nproof = out->note_len = 0;
        out->has_extra = false;
        out->note = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* tlog-witness add-checkpoint bodies                                   */
/* ------------------------------------------------------------------ */

int tlog_witness_req_format(const struct tlog_witness_req *w, struct strbuf *out)
{
    struct tlog_checkpoint cp;
    if (w->nproof > TLOG_WITNESS_PROOF_MAX || check_signed_checkpoint(w->note, w->note_len, &cp) ||
        w->old_size > cp.size)
        return CUSTODY_EINVAL;
    size_t start = out->len;
    int rc = sb_printf(out, "old %" PRIu64 "\n", w->old_size);
    if (!rc)
        rc = append_hash_lines((const uint8_t(*)[TLOG_HASH_LEN])w->proof, w->nproof, out);
    if (!rc)
        rc = sb_append(out, "\n", 1);
    if (!rc)
        rc = sb_append(out, w->note, w->note_len);
    if (rc)
        sb_truncate(out, start);
    return rc;
}

/* The old size may not exceed the checkpoint's (tlog-witness answers 400,
 * i.e. CUSTODY_EINVAL); whether the proof holds is for the caller. */
int tlog_witness_req_parse(const char *buf, size_t len, struct tlog_witness_req *out)
{
    size_t off = 0, llen;
    const char *line;
    struct tlog_checkpoint cp;
    out->old_size = 0;
    out->nproof = out->note_len = 0;
    out->note = NULL;
    if (!buf || !next_line(buf, len, &off, &line, &llen) || !has_prefix(line, llen, "old") ||
        parse_decimal(line + 4, llen - 4, &out->old_size) ||
        parse_hash_lines(buf, len, &off, out->proof, TLOG_WITNESS_PROOF_MAX, &out->nproof) ||
        check_signed_checkpoint(buf + off, len - off, &cp) || out->old_size > cp.size) {
        out->old_size = 0;
        out->nproof = 0;
        return CUSTODY_EINVAL;
    }
    out->note = buf + off;
    out->note_len = len - off;
    return 0;
}
