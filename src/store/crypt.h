/*
 * crypt.h — encryption at rest for the version store (src/store/crypt.c).
 * Internal to src/store and its unit tests; docs/store.md ("Encryption at
 * rest") and docs/decisions/0009-encrypted-versions.md describe the format.
 *
 * Objects of roots that carry the encryption label (config
 * store.encrypt_label) are kept in STATE/store/objects-enc/ab/cdef...,
 * named like plaintext objects by the SHA-256 of their plaintext, and hold
 * this (all integers big-endian):
 *
 *   header, 64 bytes:
 *     0  magic "CUSTENC\0"         8  format version (1)
 *     9  log2 of the chunk size (16: 64 KiB)       10  two zero bytes
 *     12 key id (8 bytes: HMAC-SHA256(key, "custody store key id v1"))
 *     20 salt (32 random bytes)   52 nonce prefix (8 random bytes)
 *     60 four zero bytes
 *   chunks: ciphertext of 64 KiB of plaintext (the last one: 0..64 KiB)
 *           followed by its 16-byte GCM tag; at least one chunk.
 *
 * Chunk i is AES-256-GCM under the object key HKDF-SHA256(key, salt,
 * "custody object v1") with nonce = nonce prefix || i (4 bytes) and
 * AAD = header || 0x00 for every chunk but the last, header || 0x01 ||
 * object id (the 32-byte SHA-256 of the plaintext) for the last one.
 */
#ifndef CUSTODY_STORE_CRYPT_H
#define CUSTODY_STORE_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/internal.h"

#define STORE_CRYPT_KEY_FILE "keys/store.key" /* under the state directory */
#define STORE_CRYPT_KEY_LEN 32
#define STORE_CRYPT_KEY_ID_LEN 8
#define STORE_CRYPT_HEADER_LEN 64
#define STORE_CRYPT_TAG_LEN 16
#define STORE_CRYPT_CHUNK_LOG2 16
#define STORE_CRYPT_CHUNK ((size_t)1 << STORE_CRYPT_CHUNK_LOG2)
#define STORE_CRYPT_DEFAULT_LABEL "encrypt"
/* Decrypted versions up to this size are handed out in a memfd (never on
 * disk); larger ones in an O_TMPFILE under STATE/store/tmp. */
#define STORE_CRYPT_MEMFD_MAX ((uint64_t)16 << 20)

struct store_crypt_key {
    uint8_t key[STORE_CRYPT_KEY_LEN];
    uint8_t id[STORE_CRYPT_KEY_ID_LEN];
};

/* The store's encryption state (st->crypt). */
struct store_crypt {
    struct store_crypt_key key;
    char *label;    /* store.encrypt_label */
    int objects_fd; /* STATE/store/objects-enc, O_RDONLY|O_DIRECTORY */
    int tmp_fd;     /* STATE/store/tmp: large decrypted versions (O_TMPFILE) */
};

/* store_crypt_open / store_crypt_close (internal.h), called by store_open
 * and store_close, load (or make) the key and open the directories; errors
 * are logged with the file and the problem. */

/*
 * Loads the store key from path (64 hex digits and an optional newline),
 * creating it when missing: 32 bytes from RAND_bytes written to a temp file
 * (0600) that is fsynced and then hard-linked to path, so an existing key is
 * never replaced. CUSTODY_ECONFIG with a line in err when the file is not a
 * regular file, is accessible to group or others, or is malformed.
 */
int store_crypt_key_load(const char *path, struct store_crypt_key *k, struct strbuf *err);
/* Fills k from 32 raw bytes (computes the key id). */
void store_crypt_key_set(struct store_crypt_key *k, const uint8_t raw[STORE_CRYPT_KEY_LEN]);
void store_crypt_key_wipe(struct store_crypt_key *k);

/* True when one of the labels has the key `label` (unless its value is
 * false, no, off or 0) or the value `label`, ignoring ASCII case. */
bool store_crypt_label_match(const struct cfg_label *labels, size_t n, const char *label);

/*
 * Encrypts all of srcfd (read from offset 0 to its end) into dstfd (written
 * from its current position, which should be 0 of an empty file). id_hex,
 * when not NULL, is the object's name (the plaintext's SHA-256, trusted);
 * otherwise the plaintext is hashed as it is read and named by that. out_hex
 * gets the name, *plain_size (may be NULL) the plaintext size. Memory is
 * bounded (about 2 MiB), whatever the size.
 */
int store_crypt_encrypt(const struct store_crypt_key *k, int srcfd, int dstfd, const char *id_hex,
                        char out_hex[UTIL_SHA256_HEX_LEN + 1], uint64_t *plain_size);

/* Receives authenticated plaintext, in order; a non-zero return stops. */
typedef int (*store_crypt_sink)(void *arg, const void *data, size_t len);

/*
 * Decrypts bytes [off, off + len) of the plaintext of the encrypted object
 * open at fd (len may run past the end: UINT64_MAX means to the end) into
 * sink. The header and the last chunk (which binds the object id id_hex and
 * marks the end) are verified first, then only the chunks that overlap the
 * range are read; each chunk reaches the sink only after its tag has been
 * checked. A wrong magic, version, key, tag, object id, size or order of
 * chunks is CUSTODY_ECORRUPT.
 */
int store_crypt_decrypt(const struct store_crypt_key *k, int fd, const char *id_hex, uint64_t off,
                        uint64_t len, store_crypt_sink sink, void *arg);

/* Plaintext size of an encrypted object of enc_size bytes (CUSTODY_ECORRUPT
 * when no valid object has that size). */
int store_crypt_plain_size(uint64_t enc_size, uint64_t *plain);

/*
 * Decrypts a whole encrypted object (open at encfd, named id_hex) into a new
 * anonymous file: a memfd up to STORE_CRYPT_MEMFD_MAX, else an O_TMPFILE in
 * STATE/store/tmp. The file is mode 0444, carries the object's mtime, and
 * is only returned (in *out, offset 0) once everything was verified.
 */
int store_crypt_open_plain(struct store *st, int encfd, const char *id_hex, int *out);
extern uint64_t store_test_crypt_memfd_max; /* tests: 0 = STORE_CRYPT_MEMFD_MAX */

#endif
