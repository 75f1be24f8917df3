/*
 * crypt.c — encryption at rest for the version store: the store key, the
 * encrypted object format (crypt.h), streaming encryption and verified
 * decryption, and decrypted copies of versions for readers.
 *
 * AES-256-GCM through OpenSSL EVP, chunked so that any object streams in
 * bounded memory and any range can be read without the rest: chunk i has
 * its own nonce (prefix || i) and tag. Each object gets its own key,
 * HKDF-SHA256(store key, 32 random bytes of salt), so nonces never repeat
 * under one key however many objects there are. The header is part of
 * every chunk's AAD; the last chunk's AAD also says "last" and names the
 * object (its plaintext SHA-256), so truncation, reordering, splicing and
 * swapping whole objects are all caught. No plaintext of a chunk leaves
 * this file before its tag has been checked.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "store/crypt.h"

static const uint8_t MAGIC[8] = {'C', 'U', 'S', 'T', 'E', 'N', 'C', '\0'};
#define FORMAT_VERSION 1
#define OFF_VERSION 8
#define OFF_LOG2 9
#define OFF_KEY_ID 12
#define OFF_SALT 20
#define SALT_LEN 32
#define OFF_NONCE 52
#define NONCE_PREFIX_LEN 8
#define NONCE_LEN 12
#define SEALED (STORE_CRYPT_CHUNK + STORE_CRYPT_TAG_LEN) /* one full chunk on disk */
#define BATCH 16                                         /* chunks per read/write */
#define MAX_CHUNKS ((uint64_t)UINT32_MAX + 1)            /* the counter has 4 bytes */
#define AAD_MAX (STORE_CRYPT_HEADER_LEN + 1 + UTIL_SHA256_LEN)

uint64_t store_test_crypt_memfd_max;

/* ---- the store key ---- */

void store_crypt_key_set(struct store_crypt_key *k, const uint8_t raw[STORE_CRYPT_KEY_LEN])
{
    static const char label[] = "custody store key id v1";
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    memcpy(k->key, raw, STORE_CRYPT_KEY_LEN);
    if (!HMAC(EVP_sha256(), k->key, STORE_CRYPT_KEY_LEN, (const uint8_t *)label, sizeof label - 1,
              mac, &n))
        memset(mac, 0, sizeof mac); /* cannot happen; a zero id only weakens a message */
    memcpy(k->id, mac, STORE_CRYPT_KEY_ID_LEN);
}

void store_crypt_key_wipe(struct store_crypt_key *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

/* Makes a new key file: temp (0600, O_EXCL) -> fsync -> link to path. An
 * existing path is never replaced (link fails with EEXIST: another process
 * made the key first, and that one is used). */
static int key_create(const char *path, struct strbuf *err)
{
    uint8_t raw[STORE_CRYPT_KEY_LEN], rnd[8];
    char hex[2 * STORE_CRYPT_KEY_LEN + 2], rhex[2 * sizeof rnd + 1], tmp[4200];
    if (util_random(raw, sizeof raw) || util_random(rnd, sizeof rnd)) {
        sb_printf(err, "%s: no random bytes for a new key", path);
        return CUSTODY_EINTERNAL;
    }
    util_hex_encode(rnd, sizeof rnd, rhex);
    if (util_snprintf(tmp, sizeof tmp, "%s.tmp.%s", path, rhex) != 0) {
        OPENSSL_cleanse(raw, sizeof raw);
        return CUSTODY_ENAMETOOLONG;
    }
    util_hex_encode(raw, sizeof raw, hex);
    OPENSSL_cleanse(raw, sizeof raw);
    hex[2 * STORE_CRYPT_KEY_LEN] = '\n';
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = custody_err_from_errno(errno);
        sb_printf(err, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        rc = util_write_all(fd, hex, 2 * STORE_CRYPT_KEY_LEN + 1);
        if (!rc) rc = store_fsync(fd);
        if (close(fd) != 0 && !rc) rc = custody_err_from_errno(errno);
        if (!rc && link(tmp, path) != 0 && errno != EEXIST) rc = custody_err_from_errno(errno);
        if (rc) sb_printf(err, "%s: cannot write the store key: %s", path, custody_strerror(rc));
        unlink(tmp);
    }
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc) return rc;
    char dir[4200];
    util_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        rc = util_fsync_dir(dir);
    }
    return rc;
}

int store_crypt_key_load(const char *path, struct store_crypt_key *k, struct strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        int rc = key_create(path, err);
        if (rc) return rc;
        log_info("store: made a new store key %s", path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        int e = errno;
        sb_printf(err, "%s: %s", path, e == ELOOP ? "is a symbolic link" : strerror(e));
        return e == ELOOP ? CUSTODY_ECONFIG : custody_err_from_errno(e);
    }
    struct stat sb;
    char buf[2 * STORE_CRYPT_KEY_LEN + 2];
    uint8_t raw[STORE_CRYPT_KEY_LEN];
    ssize_t n = -1;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = custody_err_from_errno(errno);
        sb_printf(err, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        rc = CUSTODY_ECONFIG;
        sb_printf(err, "%s: not a regular file", path);
    } else if (sb.st_mode & 077) {
        rc = CUSTODY_ECONFIG;
        sb_printf(
            err,
            "%s: mode %04o gives group or others access to the key; it must be 0600 (chmod 600 it)",
            path, (unsigned)(sb.st_mode & 07777));
    } else {
        do
            n = read(fd, buf, sizeof buf);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            rc = custody_err_from_errno(errno);
            sb_printf(err, "%s: %s", path, strerror(errno));
        } else if (!(n == 2 * STORE_CRYPT_KEY_LEN ||
                     (n == 2 * STORE_CRYPT_KEY_LEN + 1 && buf[2 * STORE_CRYPT_KEY_LEN] == '\n')) ||
                   util_hex_decode(buf, 2 * STORE_CRYPT_KEY_LEN, raw) != 0) {
            rc = CUSTODY_ECONFIG;
            sb_printf(err, "%s: malformed: expected 64 hex digits (a 32-byte key) and a newline",
                      path);
        } else {
            store_crypt_key_set(k, raw);
        }
    }
    close(fd);
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

bool store_crypt_label_match(const struct cfg_label *labels, size_t n, const char *label)
{
    static const char *const off[] = {"false", "no", "off", "0"};
    if (!label || !*label) return false;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_label *l = &labels[i];
        if (l->value && strcasecmp(l->value, label) == 0) return true;
        if (!l->key || strcasecmp(l->key, label) != 0) continue;
        bool negated = false;
        for (size_t j = 0; j < UTIL_ARRAY_LEN(off) && l->value; j++)
            negated = negated || strcasecmp(l->value, off[j]) == 0;
        if (!negated) return true;
    }
    return false;
}

/* ---- one object's cipher ---- */

struct gcm {
    EVP_CIPHER_CTX *ctx;
    const uint8_t *header; /* STORE_CRYPT_HEADER_LEN bytes */
    uint8_t id[UTIL_SHA256_LEN];
};

/* Object key: HKDF-SHA256 (RFC 5869) with one output block. */
static int derive(const struct store_crypt_key *k, const uint8_t *salt, uint8_t okm[32])
{
    static const char info[] = "custody object v1";
    uint8_t prk[EVP_MAX_MD_SIZE], t[sizeof info], out[EVP_MAX_MD_SIZE];
    unsigned n1 = 0, n2 = 0;
    memcpy(t, info, sizeof info - 1);
    t[sizeof info - 1] = 1;
    bool ok = HMAC(EVP_sha256(), salt, SALT_LEN, k->key, STORE_CRYPT_KEY_LEN, prk, &n1) &&
              HMAC(EVP_sha256(), prk, n1, t, sizeof t, out, &n2) && n2 >= 32;
    if (ok) memcpy(okm, out, 32);
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(out, sizeof out);
    return ok ? 0 : CUSTODY_EINTERNAL;
}

static int gcm_init(struct gcm *g, const struct store_crypt_key *k, const uint8_t *header, bool enc)
{
    uint8_t okm[32];
    g->header = header;
    g->ctx = EVP_CIPHER_CTX_new();
    int rc = g->ctx ? derive(k, header + OFF_SALT, okm) : CUSTODY_ENOMEM;
    if (!rc) {
        int ok = enc ? EVP_EncryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, okm, NULL)
                     : EVP_DecryptInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, okm, NULL);
        if (ok != 1) rc = CUSTODY_EINTERNAL;
    }
    OPENSSL_cleanse(okm, sizeof okm);
    return rc;
}

static void gcm_free(struct gcm *g)
{
    EVP_CIPHER_CTX_free(g->ctx); /* cleanses the expanded key */
    g->ctx = NULL;
}

static size_t chunk_params(const struct gcm *g, uint64_t i, bool last, uint8_t nonce[NONCE_LEN],
                           uint8_t aad[AAD_MAX])
{
    memcpy(nonce, g->header + OFF_NONCE, NONCE_PREFIX_LEN);
    for (int b = 0; b < 4; b++)
        nonce[NONCE_PREFIX_LEN + b] = (uint8_t)(i >> (8 * (3 - b)));
    memcpy(aad, g->header, STORE_CRYPT_HEADER_LEN);
    aad[STORE_CRYPT_HEADER_LEN] = last ? 1 : 0;
    if (!last) return STORE_CRYPT_HEADER_LEN + 1;
    memcpy(aad + STORE_CRYPT_HEADER_LEN + 1, g->id, UTIL_SHA256_LEN);
    return AAD_MAX;
}

/* in[0..len) -> out[0..len + tag). */
static int seal(struct gcm *g, uint64_t i, bool last, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[NONCE_LEN], aad[AAD_MAX];
    size_t alen = chunk_params(g, i, last, nonce, aad);
    int n;
    if (EVP_EncryptInit_ex(g->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(g->ctx, NULL, &n, aad, (int)alen) != 1 ||
        (len && EVP_EncryptUpdate(g->ctx, out, &n, in, (int)len) != 1) ||
        EVP_EncryptFinal_ex(g->ctx, out + len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, STORE_CRYPT_TAG_LEN, out + len) != 1)
        return CUSTODY_EINTERNAL;
    return 0;
}

/* in[0..len) (ciphertext and tag) -> out[0..len - tag), or CUSTODY_ECORRUPT
 * with out wiped. */
static int unseal(struct gcm *g, uint64_t i, bool last, const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < STORE_CRYPT_TAG_LEN) return CUSTODY_ECORRUPT;
    size_t clen = len - STORE_CRYPT_TAG_LEN;
    uint8_t nonce[NONCE_LEN], aad[AAD_MAX];
    size_t alen = chunk_params(g, i, last, nonce, aad);
    int n;
    if (EVP_DecryptInit_ex(g->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(g->ctx, NULL, &n, aad, (int)alen) != 1 ||
        (clen && EVP_DecryptUpdate(g->ctx, out, &n, in, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG, STORE_CRYPT_TAG_LEN,
                            (void *)(in + clen)) != 1 ||
        EVP_DecryptFinal_ex(g->ctx, out + clen, &n) != 1) {
        OPENSSL_cleanse(out, clen);
        return CUSTODY_ECORRUPT;
    }
    return 0;
}

/* ---- encrypt ---- */

int store_crypt_encrypt(const struct store_crypt_key *k, int srcfd, int dstfd, const char *id_hex,
                        char out_hex[UTIL_SHA256_HEX_LEN + 1], uint64_t *plain_size)
{
    uint8_t header[STORE_CRYPT_HEADER_LEN] = {0};
    struct gcm g = {0};
    if (id_hex && (strlen(id_hex) != UTIL_SHA256_HEX_LEN ||
                   util_hex_decode(id_hex, UTIL_SHA256_HEX_LEN, g.id) != 0))
        return CUSTODY_EINVAL;
    memcpy(header, MAGIC, sizeof MAGIC);
    header[OFF_VERSION] = FORMAT_VERSION;
    header[OFF_LOG2] = STORE_CRYPT_CHUNK_LOG2;
    memcpy(header + OFF_KEY_ID, k->id, STORE_CRYPT_KEY_ID_LEN);
    if (util_random(header + OFF_SALT, SALT_LEN + NONCE_PREFIX_LEN)) return CUSTODY_EINTERNAL;
    int rc = gcm_init(&g, k, header, true);
    if (rc) {
        gcm_free(&g);
        return rc;
    }
    /* buffers for as many chunks as the source has now (2..BATCH): small
     * objects stay cheap; a source that grows meanwhile still works */
    struct stat ssb;
    uint64_t guess = fstat(srcfd, &ssb) == 0 && ssb.st_size > 0 ? (uint64_t)ssb.st_size : 0;
    size_t nb = (size_t)UTIL_MIN((uint64_t)BATCH, guess / STORE_CRYPT_CHUNK + 2);
    const size_t inmax = nb * STORE_CRYPT_CHUNK;
    uint8_t *in = malloc(inmax), *out = malloc(nb * SEALED);
    struct util_sha256 *h = id_hex ? NULL : util_sha256_new();
    uint64_t off = 0, chunk = 0;
    size_t have = 0;
    bool eof = false;
    if (!in || !out) rc = CUSTODY_ENOMEM;
    if (!rc) rc = util_write_all(dstfd, header, sizeof header);
    while (!rc) {
        while (!eof && have < inmax) {
            ssize_t r = pread(srcfd, in + have, inmax - have, (off_t)off);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                rc = custody_err_from_errno(errno);
                break;
            }
            if (r == 0) {
                eof = true;
                break;
            }
            if (h) util_sha256_update(h, in + have, (size_t)r);
            have += (size_t)r;
            off += (uint64_t)r;
        }
        if (rc) break;
        /* A full buffer keeps its last chunk back: only at the end of the
         * input is it known whether that chunk is the last one. */
        size_t nseal = !eof   ? nb - 1
                       : have ? (have + STORE_CRYPT_CHUNK - 1) / STORE_CRYPT_CHUNK
                              : 1;
        if (eof && h) {
            util_sha256_final(h, g.id);
            h = NULL;
        }
        size_t o = 0;
        for (size_t c = 0; c < nseal && !rc; c++) {
            size_t start = c * STORE_CRYPT_CHUNK;
            size_t len = UTIL_MIN(STORE_CRYPT_CHUNK, have - start);
            if (chunk >= MAX_CHUNKS)
                rc = CUSTODY_ETOOBIG;
            else
                rc = seal(&g, chunk++, eof && c == nseal - 1, in + start, len, out + o);
            o += len + STORE_CRYPT_TAG_LEN;
        }
        if (!rc) rc = util_write_all(dstfd, out, o);
        if (rc || eof) break;
        memmove(in, in + (nb - 1) * STORE_CRYPT_CHUNK, STORE_CRYPT_CHUNK);
        have = STORE_CRYPT_CHUNK;
    }
    if (!rc) {
        util_hex_encode(g.id, sizeof g.id, out_hex);
        if (plain_size) *plain_size = off;
    }
    util_sha256_free(h);
    gcm_free(&g);
    if (in) OPENSSL_cleanse(in, (size_t)UTIL_MIN((uint64_t)inmax, off));
    free(in);
    free(out);
    return rc;
}

/* ---- decrypt ---- */

int store_crypt_plain_size(uint64_t enc_size, uint64_t *plain)
{
    if (enc_size < STORE_CRYPT_HEADER_LEN + STORE_CRYPT_TAG_LEN) return CUSTODY_ECORRUPT;
    uint64_t body = enc_size - STORE_CRYPT_HEADER_LEN;
    uint64_t rem = body % SEALED, chunks = body / SEALED + (rem ? 1 : 0);
    if ((rem && rem < STORE_CRYPT_TAG_LEN) || chunks > MAX_CHUNKS) return CUSTODY_ECORRUPT;
    *plain = body - chunks * STORE_CRYPT_TAG_LEN;
    return 0;
}

/* Reads exactly len bytes at off; a short file is CUSTODY_ECORRUPT. */
static int pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return custody_err_from_errno(errno);
        if (r == 0) return CUSTODY_ECORRUPT;
        got += (size_t)r;
    }
    return 0;
}

static int corrupt(const char *id_hex, const char *why)
{
    log_warn("store: encrypted object %.16s...: %s", id_hex, why);
    return CUSTODY_ECORRUPT;
}

static int check_header(const struct store_crypt_key *k, const uint8_t *hd, const char *id_hex)
{
    static const uint8_t zero[4] = {0};
    if (memcmp(hd, MAGIC, sizeof MAGIC) != 0) return corrupt(id_hex, "not an encrypted object");
    if (hd[OFF_VERSION] != FORMAT_VERSION || hd[OFF_LOG2] != STORE_CRYPT_CHUNK_LOG2 ||
        memcmp(hd + 10, zero, 2) != 0 || memcmp(hd + 60, zero, 4) != 0)
        return corrupt(id_hex, "unknown format version or flags");
    if (CRYPTO_memcmp(hd + OFF_KEY_ID, k->id, STORE_CRYPT_KEY_ID_LEN) != 0)
        return corrupt(id_hex, "encrypted under another key than keys/store.key");
    return 0;
}

int store_crypt_decrypt(const struct store_crypt_key *k, int fd, const char *id_hex, uint64_t off,
                        uint64_t len, store_crypt_sink sink, void *arg)
{
    struct gcm g = {0};
    uint8_t header[STORE_CRYPT_HEADER_LEN];
    struct stat sb;
    uint64_t plain;
    if (!id_hex || strlen(id_hex) != UTIL_SHA256_HEX_LEN ||
        util_hex_decode(id_hex, UTIL_SHA256_HEX_LEN, g.id) != 0)
        return CUSTODY_EINVAL;
    if (fstat(fd, &sb) != 0) return custody_err_from_errno(errno);
    if (!S_ISREG(sb.st_mode) || store_crypt_plain_size((uint64_t)sb.st_size, &plain) != 0)
        return corrupt(id_hex, "impossible size (truncated?)");
    int rc = pread_full(fd, header, sizeof header, 0);
    if (rc) return rc == CUSTODY_ECORRUPT ? corrupt(id_hex, "truncated") : rc;
    if ((rc = check_header(k, header, id_hex))) return rc;
    if ((rc = gcm_init(&g, k, header, false))) {
        gcm_free(&g);
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size;
    uint64_t nchunks = (size - STORE_CRYPT_HEADER_LEN + SEALED - 1) / SEALED, last = nchunks - 1;
    size_t nb = (size_t)UTIL_MIN((uint64_t)BATCH, nchunks), used = 0;
    uint8_t *buf = malloc(nb * SEALED), *pt = malloc(nb * STORE_CRYPT_CHUNK);
    if (!buf || !pt) rc = CUSTODY_ENOMEM;
    /* the last chunk first: it binds the object id and marks the end */
    uint64_t at = STORE_CRYPT_HEADER_LEN + last * SEALED;
    if (!rc) rc = pread_full(fd, buf, (size_t)(size - at), at);
    if (!rc) rc = unseal(&g, last, true, buf, (size_t)(size - at), pt);
    used = (size_t)(size - at - STORE_CRYPT_TAG_LEN);
    if (rc == CUSTODY_ECORRUPT)
        rc = corrupt(id_hex, "authentication failed (tampered, truncated or wrong key)");
    uint64_t end = off < plain ? off + UTIL_MIN(len, plain - off) : off;
    for (uint64_t c = off / STORE_CRYPT_CHUNK;
         !rc && off < end && c <= (end - 1) / STORE_CRYPT_CHUNK;) {
        uint64_t n = UTIL_MIN((uint64_t)nb, (end - 1) / STORE_CRYPT_CHUNK - c + 1);
        at = STORE_CRYPT_HEADER_LEN + c * SEALED;
        size_t elen = c + n - 1 == last ? (size_t)(size - at) : (size_t)(n * SEALED);
        if ((rc = pread_full(fd, buf, elen, at))) break;
        size_t plen = 0;
        for (uint64_t j = 0; j < n && !rc; j++) {
            size_t sl = c + j == last ? elen - (size_t)(j * SEALED) : SEALED;
            rc = unseal(&g, c + j, c + j == last, buf + j * SEALED, sl, pt + j * STORE_CRYPT_CHUNK);
            plen += sl - STORE_CRYPT_TAG_LEN;
        }
        used = UTIL_MAX(used, plen);
        if (rc) {
            rc = corrupt(id_hex, "authentication failed (tampered or reordered chunks)");
            break;
        }
        uint64_t base = c * STORE_CRYPT_CHUNK;
        uint64_t from = UTIL_MAX(off, base), to = UTIL_MIN(end, base + plen);
        if (to > from) rc = sink(arg, pt + (from - base), (size_t)(to - from));
        c += n;
    }
    gcm_free(&g);
    if (pt) OPENSSL_cleanse(pt, used);
    free(pt);
    free(buf);
    return rc;
}

/* ---- decrypted copies for readers ---- */

static int sink_fd(void *arg, const void *data, size_t len)
{
    return util_write_all(*(int *)arg, data, len);
}

int store_crypt_open_plain(struct store *st, int encfd, const char *id_hex, int *out)
{
    struct store_crypt *c = st->crypt;
    struct stat esb;
    uint64_t plain;
    if (fstat(encfd, &esb) != 0) return custody_err_from_errno(errno);
    if (store_crypt_plain_size((uint64_t)esb.st_size, &plain) != 0)
        return corrupt(id_hex, "impossible size (truncated?)");
    uint64_t max = __atomic_load_n(&store_test_crypt_memfd_max, __ATOMIC_RELAXED);
    int fd = -1, rc = 0;
    if (plain <= (max ? max : STORE_CRYPT_MEMFD_MAX))
        fd = memfd_create("custody-version", MFD_CLOEXEC);
    if (fd < 0) {
        char tmpname[64];
        rc = store_tmpfile(c->tmp_fd, &fd, tmpname, sizeof tmpname);
        if (rc) return rc;
        if (tmpname[0]) unlinkat(c->tmp_fd, tmpname, 0); /* anonymous from here on */
    }
    rc = store_crypt_decrypt(&c->key, encfd, id_hex, 0, UINT64_MAX, sink_fd, &fd);
    if (!rc && fchmod(fd, 0444) != 0) rc = custody_err_from_errno(errno);
    if (!rc) {
        struct timespec ts[2] = {esb.st_atim, esb.st_mtim};
        (void)futimens(fd, ts); /* the time the version was kept, as for plain objects */
    }
    if (rc) {
        close(fd);
        return rc;
    }
    /* hand out a read-only descriptor, as for plain objects */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    int ro = open(proc, O_RDONLY | O_CLOEXEC);
    if (ro >= 0) {
        close(fd);
        fd = ro;
    } else if (lseek(fd, 0, SEEK_SET) != 0) {
        rc = custody_err_from_errno(errno);
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

/* ---- store_open / store_close ---- */

/* Removes named temps a crash left in STATE/store/tmp (only they can be
 * there: O_TMPFILE ones vanish by themselves). */
static void sweep_tmp(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (store_is_tmp_name(de->d_name)) unlinkat(dirfd, de->d_name, 0);
    closedir(d);
}

static int open_dir(const char *parent, const char *name, int *fd)
{
    char *path = util_path_join(parent, name);
    int rc = util_mkdir_p(path, 0700);
    if (!rc) {
        *fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (*fd < 0) rc = custody_err_from_errno(errno);
    }
    if (rc) log_error("store: cannot open %s: %s", path, custody_strerror(rc));
    free(path);
    return rc;
}

int store_crypt_open(struct store *st, const struct store_opts *opts)
{
    struct store_crypt *c = util_calloc(1, sizeof *c);
    c->objects_fd = c->tmp_fd = -1;
    c->label =
        util_strdup(opts && opts->encrypt_label ? opts->encrypt_label : STORE_CRYPT_DEFAULT_LABEL);
    st->crypt = c;
    char *keys = util_path_join(st->state_dir, "keys");
    char *path = util_path_join(st->state_dir, STORE_CRYPT_KEY_FILE);
    struct strbuf err = STRBUF_INIT;
    int rc = util_mkdir_p(keys, 0700);
    if (rc)
        sb_printf(&err, "%s: %s", keys, custody_strerror(rc));
    else
        rc = store_crypt_key_load(path, &c->key, &err);
    if (rc) log_error("store: the store key: %s", err.buf ? err.buf : custody_strerror(rc));
    sb_free(&err);
    free(keys);
    free(path);
    if (!rc) rc = open_dir(st->store_dir, "objects-enc", &c->objects_fd);
    if (!rc) rc = open_dir(st->store_dir, "tmp", &c->tmp_fd);
    if (!rc) sweep_tmp(c->tmp_fd);
    return rc;
}

void store_crypt_close(struct store *st)
{
    struct store_crypt *c = st->crypt;
    if (!c) return;
    store_crypt_key_wipe(&c->key);
    if (c->objects_fd >= 0) close(c->objects_fd);
    if (c->tmp_fd >= 0) close(c->tmp_fd);
    free(c->label);
    free(c);
    st->crypt = NULL;
}
