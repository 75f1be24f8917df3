/*
 * tlog.h — transparency-log formats and primitives used by the audit ledger
 * (src/ledger) and by the tools that check it:
 *
 *   - RFC 6962 / RFC 9162 Merkle hashing, inclusion and consistency proofs
 *     (merkle.c);
 *   - C2SP tlog-tiles paths and entry bundles (tiles.c);
 *   - C2SP signed notes, checkpoints, cosignatures (tlog-cosignature),
 *     tlog-proof files and tlog-witness request bodies (note.c).
 *
 * Everything here is pure: no threads, no global state, bounded parsers
 * that never read past their input. Functions return 0 or a negative
 * CUSTODY_E* code.
 */
#ifndef CUSTODY_LEDGER_TLOG_H
#define CUSTODY_LEDGER_TLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/custody.h"
#include "util/util.h"

#define TLOG_HASH_LEN 32
#define TLOG_TILE_HEIGHT 8
#define TLOG_TILE_WIDTH 256         /* hashes (or entries) in a full tile */
#define TLOG_ENTRY_MAX 65535        /* an entry bundle's uint16 length prefix */
#define TLOG_PROOF_MAX 64           /* hashes in any proof (tree size < 2^63) */
#define TLOG_WITNESS_PROOF_MAX 63   /* consistency-proof lines in add-checkpoint */
#define TLOG_NAME_MAX 255           /* key names and origins, in bytes */
#define TLOG_NOTE_MAX 65536         /* a signed note (checkpoint + signatures) */
#define TLOG_NOTE_SIGS_MAX 64       /* signature lines kept from a note (>= 16) */
#define TLOG_SIG_MAX 72             /* bytes in a signature (8-byte time + 64) */
#define TLOG_EXTRA_MAX 4096         /* bytes of a tlog-proof "extra" line, decoded */

#define TLOG_KEY_ED25519 0x01       /* signed-note Ed25519 signature type */
#define TLOG_KEY_COSIGNATURE 0x04   /* tlog-cosignature/v1 (Ed25519, timestamped) */

/* ------------------------------------------------------------------ */
/* RFC 6962 hashing and proofs (merkle.c)                               */
/* ------------------------------------------------------------------ */

/* H(0x00 || entry) */
void tlog_leaf_hash(const void *entry, size_t len, uint8_t out[TLOG_HASH_LEN]);
/* H(0x01 || left || right) */
void tlog_node_hash(const uint8_t left[TLOG_HASH_LEN], const uint8_t right[TLOG_HASH_LEN],
                    uint8_t out[TLOG_HASH_LEN]);
/* H("") — the root of the empty tree */
void tlog_empty_root(uint8_t out[TLOG_HASH_LEN]);
/* RFC 6962 MTH over n consecutive nodes of one height (n >= 1): the
 * subtree the nodes span, split at the largest power of two below n. */
void tlog_hash_range(const uint8_t (*nodes)[TLOG_HASH_LEN], size_t n, uint8_t out[TLOG_HASH_LEN]);

/* Root of a tree from its right edge: level i holds counts[i] (<= 256)
 * consecutive nodes of height 8i, the rightmost ones not yet part of a
 * full tile of level i (all levels' nodes together cover the leaves, the
 * highest level leftmost). Each level splits into perfect subtrees, largest
 * first, and everything folds from the right. The empty tree's root when
 * every count is 0. */
void tlog_edge_root(const uint8_t (*const hashes[])[TLOG_HASH_LEN], const unsigned counts[],
                    size_t levels, uint8_t out[TLOG_HASH_LEN]);

/*
 * Where proofs get their hashes from: stored hashes at tile level L (nodes of
 * height 8L), indices [first, first+n), never crossing a tile boundary, for
 * a tree of the size given to the proof function. Returns 0 or an error.
 */
struct tlog_tile_cache;
struct tlog_hash_reader {
    int (*read)(void *ctx, unsigned level, uint64_t first, size_t n,
                uint8_t (*out)[TLOG_HASH_LEN]);
    void *ctx;
    struct tlog_tile_cache *cache; /* optional; then read() is asked for whole
                                    * tiles (as wide as the tree reaches) */
};

/* A cache of tile trees (all 511 nodes of a tile), shared by threads. A
 * cache must only be used with readers of one log (entries never change,
 * so cached full tiles stay valid; partial tiles are keyed by width). */
struct tlog_tile_cache *tlog_tile_cache_new(size_t tiles);
void tlog_tile_cache_free(struct tlog_tile_cache *c);
void tlog_tile_cache_clear(struct tlog_tile_cache *c);

/* The hash of the perfect subtree of height h holding leaves
 * [k*2^h, (k+1)*2^h), which must lie within size. */
int tlog_node(const struct tlog_hash_reader *r, uint64_t size, unsigned height, uint64_t k,
              uint8_t out[TLOG_HASH_LEN]);
/* The root of the first `size` leaves (any size <= the reader's tree). */
int tlog_tree_root(const struct tlog_hash_reader *r, uint64_t size, uint8_t out[TLOG_HASH_LEN]);
/* Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162
 * §2.1.3); *n hashes. */
int tlog_prove_inclusion(const struct tlog_hash_reader *r, uint64_t size, uint64_t index,
                         uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n);
/* Consistency proof from old_size to size (RFC 9162 §2.1.4), 0 < old <= size. */
int tlog_prove_consistency(const struct tlog_hash_reader *r, uint64_t size, uint64_t old_size,
                           uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n);
/* Checks; 0 when the proof holds, CUSTODY_EBADPROOF when not. */
int tlog_check_inclusion(const uint8_t (*proof)[TLOG_HASH_LEN], size_t n, uint64_t size,
                         uint64_t index, const uint8_t leaf[TLOG_HASH_LEN],
                         const uint8_t root[TLOG_HASH_LEN]);
int tlog_check_consistency(const uint8_t (*proof)[TLOG_HASH_LEN], size_t n, uint64_t size,
                           const uint8_t root[TLOG_HASH_LEN], uint64_t old_size,
                           const uint8_t old_root[TLOG_HASH_LEN]);

/* ------------------------------------------------------------------ */
/* tlog-tiles paths and entry bundles (tiles.c)                          */
/* ------------------------------------------------------------------ */

#define TLOG_LEVEL_ENTRIES (-1) /* "level" of entry bundles: tile/entries/... */
#define TLOG_PATH_MAX 96        /* enough for any tile path */

/* "tile/<L>/<N>" or "tile/entries/<N>", with ".p/<W>" when 0 < width < 256
 * (width 256 = full). N is written in 3-digit groups: 1234067 ->
 * x001/x234/067. Returns 0 or CUSTODY_EINVAL (bad level or width). */
int tlog_tile_path(char *buf, size_t len, int level, uint64_t index, unsigned width);
/* Inverse of tlog_tile_path (path relative to the log prefix, starting at
 * "tile/"); strict: rejects every other spelling. Width 256 = full. */
int tlog_tile_path_parse(const char *path, size_t len, int *level, uint64_t *index,
                         unsigned *width);
/* Tile coordinates for the tree of `size` leaves: how many hashes level L
 * holds (size >> 8L), and the width of tile `index` at level L (0 when the
 * tile does not exist, 256 when full). Level -1 = entry bundles (like 0). */
uint64_t tlog_level_count(uint64_t size, int level);
unsigned tlog_tile_width(uint64_t size, int level, uint64_t index);

/* Appends one entry (1..65535 bytes; empty entries are allowed by the spec
 * but custody never writes them) with its big-endian uint16 length. */
int tlog_bundle_append(struct strbuf *sb, const void *entry, size_t len);
/* Walks a bundle: on each call returns 0 with the next entry, 1 at the
 * clean end, CUSTODY_ECORRUPT on a truncated length or entry. */
int tlog_bundle_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **entry,
                     size_t *elen);

/* ------------------------------------------------------------------ */
/* Signed notes, checkpoints, cosignatures, proofs (note.c)              */
/* ------------------------------------------------------------------ */

/* A signer or verifier key. type is TLOG_KEY_ED25519 or TLOG_KEY_COSIGNATURE
 * (both Ed25519 keys; the type changes the key id and what is signed). */
struct tlog_key {
    char name[TLOG_NAME_MAX + 1];
    uint8_t type;
    uint32_t id; /* first 4 bytes of SHA-256(name || 0x0A || type || pub), big-endian */
    uint8_t pub[32];
    bool has_priv;
    uint8_t priv[32]; /* Ed25519 seed; only when has_priv */
};

/* Key names: 1..255 bytes of valid UTF-8, no Unicode spaces, no '+'. */
bool tlog_name_valid(const char *name, size_t len);
/* From an Ed25519 seed (public half derived) or a public key alone. */
int tlog_key_from_seed(const char *name, uint8_t type, const uint8_t seed[32],
                       struct tlog_key *out);
int tlog_key_from_pub(const char *name, uint8_t type, const uint8_t pub[32], struct tlog_key *out);
/* Loads an Ed25519 private key (PKCS#8 PEM, e.g. STATE/keys/node.ed25519). */
int tlog_key_load_pem(const char *path, const char *name, uint8_t type, struct tlog_key *out);
/* Verifier key "<name>+<8 hex id>+<base64(type || pub)>" appended to out. */
int tlog_vkey_format(const struct tlog_key *k, struct strbuf *out);
/* Parses a verifier key (types 0x01 and 0x04); CUSTODY_EINVAL otherwise. */
int tlog_vkey_parse(const char *s, size_t len, struct tlog_key *out);
/* Wipes private key material. */
void tlog_key_wipe(struct tlog_key *k);

/* One signature line of a note. */
struct tlog_sig {
    char name[TLOG_NAME_MAX + 1];
    uint32_t id;
    uint8_t sig[TLOG_SIG_MAX];
    size_t sig_len;
};

/* A parsed note; text points into the parsed buffer (text ends with '\n'). */
struct tlog_note {
    const char *text;
    size_t text_len;
    struct tlog_sig sigs[TLOG_NOTE_SIGS_MAX];
    size_t nsigs;
};

/* Signs text (non-empty, ends with '\n', and its last line is not blank)
 * with each key: type 0x01 keys sign text, type 0x04 keys sign the
 * cosignature/v1 message at time `cosig_time` (unix seconds). Appends the
 * whole note (text, blank line, signature lines) to out. */
int tlog_note_sign(const char *text, size_t len, const struct tlog_key *const *keys, size_t nkeys,
                   uint64_t cosig_time, struct strbuf *out);
/* Produces signature lines only ("— name base64\n"), for appending to an
 * already-signed note (a witness's answer to add-checkpoint). */
int tlog_note_sign_lines(const char *text, size_t len, const struct tlog_key *key,
                         uint64_t cosig_time, struct strbuf *out);
/* Syntax only: splits text and signature lines (at most
 * TLOG_NOTE_SIGS_MAX kept; more is CUSTODY_EINVAL), checks UTF-8, no
 * control characters besides '\n', the U+2014 dash, base64, len <=
 * TLOG_NOTE_MAX. */
int tlog_note_parse(const char *buf, size_t len, struct tlog_note *out);
/* Parses signature lines alone (a witness response body). */
int tlog_sig_lines_parse(const char *buf, size_t len, struct tlog_sig *sigs, size_t max,
                         size_t *n);
/* Does sig (matching key by name and id) verify over n->text with key k?
 * 0, CUSTODY_EBADSIG, or CUSTODY_ENOENT when the line is not k's. For
 * cosignatures *cosig_time receives the signed timestamp (may be NULL). */
int tlog_sig_verify(const char *text, size_t text_len, const struct tlog_sig *sig,
                    const struct tlog_key *k, uint64_t *cosig_time);
/* Verifies a note against a key set: 0 when at least one signature line
 * from keys[] verifies and no line claiming a key in keys[] fails;
 * unknown keys are ignored (as the spec asks). */
int tlog_note_verify(const struct tlog_note *n, const struct tlog_key *keys, size_t nkeys);

/* Checkpoint body: origin, size, base64 root, each on its own line;
 * extension lines are ignored when parsed. */
struct tlog_checkpoint {
    char origin[TLOG_NAME_MAX + 1];
    uint64_t size;
    uint8_t root[TLOG_HASH_LEN];
};
int tlog_checkpoint_format(const struct tlog_checkpoint *c, struct strbuf *out);
int tlog_checkpoint_parse(const char *text, size_t len, struct tlog_checkpoint *out);

/* tlog-proof file (c2sp.org/tlog-proof@v1). The checkpoint is the full
 * signed note, cosignatures included. */
struct tlog_proof_file {
    uint64_t index;
    uint8_t extra[TLOG_EXTRA_MAX];
    size_t extra_len;
    bool has_extra;
    uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
    size_t nproof;
    const char *note; /* points into the parsed buffer */
    size_t note_len;
};
int tlog_proof_format(const struct tlog_proof_file *p, struct strbuf *out);
int tlog_proof_parse(const char *buf, size_t len, struct tlog_proof_file *out);

/* tlog-witness add-checkpoint request body. */
struct tlog_witness_req {
    uint64_t old_size;
    uint8_t proof[TLOG_WITNESS_PROOF_MAX][TLOG_HASH_LEN];
    size_t nproof;
    const char *note; /* the signed checkpoint; points into the parsed buffer */
    size_t note_len;
};
int tlog_witness_req_format(const struct tlog_witness_req *w, struct strbuf *out);
int tlog_witness_req_parse(const char *buf, size_t len, struct tlog_witness_req *out);

/* Standard base64 (with padding), as signed notes use it. */
int tlog_b64_encode(const void *in, size_t len, struct strbuf *out);
/* Strict decode: canonical padding, no whitespace; *n bytes written,
 * CUSTODY_EINVAL on bad input or when more than max bytes. */
int tlog_b64_decode(const char *in, size_t len, uint8_t *out, size_t max, size_t *n);

#endif
