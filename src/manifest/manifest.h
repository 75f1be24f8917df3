/*
 * manifest.h — the doorway to src/manifest: signed model manifests (issue 6,
 * decision 0012). Daemon-side: uses src/util (SHA-256, Ed25519), jansson, the
 * strict base64 of src/ledger and the header parsers of src/model.
 *
 * A manifest names a model (name, version) and its shard files: for each one
 * the file name, size, SHA-256, format (safetensors or GGUF) and tensor table.
 * It travels as an in-toto Statement v1 (predicateType
 * https://custody.dev/model-manifest/v1) serialized as canonical JSON (RFC
 * 8785: sorted keys, no whitespace), inside a DSSE envelope signed with
 * Ed25519 over the DSSE pre-authentication encoding (PAE). docs/model.md,
 * "Manifests", has the format and every check.
 *
 * Every function returns 0 on success and a negative CUSTODY_E* code on
 * failure; those that take (err, errlen) write a one-line message there that
 * says what is wrong (err may be NULL). On failure *out is NULL: never a
 * partially filled manifest.
 */
#ifndef CUSTODY_MANIFEST_H
#define CUSTODY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/util.h"

#define MANIFEST_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define MANIFEST_PREDICATE_TYPE "https://custody.dev/model-manifest/v1"
#define MANIFEST_PAYLOAD_TYPE "application/vnd.in-toto+json"

#define MANIFEST_MAX_ENVELOPE (64u << 20)    /* bytes of a DSSE envelope */
#define MANIFEST_MAX_FILES 65536             /* shards per model (as model.h's index) */
#define MANIFEST_MAX_SIGNATURES 16           /* entries of "signatures" looked at */
#define MANIFEST_NAME_MAX 255                /* model name, version, file name: bytes */
#define MANIFEST_INT_MAX 9007199254740991ull /* 2^53 - 1: larger is not exact JSON */
#define MANIFEST_DIGEST_LEN (7 + 64)         /* "sha256:" + hex */

struct manifest; /* opaque */

struct manifest_tensor {
    char *name;
    int dtype; /* enum model_dtype; model_dtype_name() gives the manifest's name */
    uint32_t ndim;
    uint64_t shape[MODEL_MAX_DIMS];
    uint64_t offset; /* absolute, in the file */
    uint64_t nbytes;
};

struct manifest_file {
    char *name; /* plain file name (no '/'), unique in the manifest */
    uint64_t size;
    int format; /* enum model_format: SAFETENSORS or GGUF */
    uint8_t sha256[UTIL_SHA256_LEN];
    char sha256_hex[UTIL_SHA256_HEX_LEN + 1];
    struct manifest_tensor *tensors; /* sorted by offset, as model.h gives them */
    size_t ntensors;
};

/*
 * Builds a manifest from shard files: each path is opened (O_RDONLY |
 * O_CLOEXEC), must be a regular file whose header model_parse_fd accepts, is
 * hashed whole (1 MiB reads) and must not change while hashed (size and mtime
 * before and after). Files are recorded under their base name, sorted by name;
 * two paths with the same base name are refused. name and version: 1 to 255
 * bytes of UTF-8 without control characters.
 */
int manifest_build(const char *name, const char *version, const char *const *paths, size_t n,
                   struct manifest **out, char *err, size_t errlen);

/* One shard for manifest_build_from: an open descriptor, the name it is
 * recorded under, and its SHA-256 when the caller already computed it while
 * writing the file itself (custodyd's cache admission); NULL: hashed here. */
struct manifest_source {
    const char *name; /* plain file name (no '/') */
    const char *what; /* names the file in messages (a path); NULL: name */
    int fd;
    const uint8_t *sha256; /* UTIL_SHA256_LEN bytes, or NULL */
};

/* manifest_build over descriptors (not closed here). */
int manifest_build_from(const char *name, const char *version, const struct manifest_source *src,
                        size_t n, struct manifest **out, char *err, size_t errlen);

/*
 * Appends the DSSE envelope of m signed with private_pem (PKCS#8 Ed25519) to
 * envelope_json: {"payload":B64,"payloadType":"application/vnd.in-toto+json",
 * "signatures":[{"keyid":"ed25519:<fingerprint hex>","sig":B64}]} (canonical
 * JSON itself).
 */
int manifest_sign(const struct manifest *m, const char *private_pem, size_t pem_len,
                  struct strbuf *envelope_json);

/* The statement (canonical JSON, the DSSE payload) of m, appended to out. */
int manifest_statement(const struct manifest *m, struct strbuf *out);

/*
 * Checks a DSSE envelope against pub and parses its statement, strictly:
 * envelope <= 64 MiB, exact payloadType, strict base64, one signature whose
 * keyid is pub's fingerprint and whose sig verifies over the PAE; then the
 * statement's types, the subject against predicate.files (same names, same
 * digests, in order), file names, sizes, formats, tensors (known dtypes,
 * nbytes = shape x dtype, inside the file, not overlapping), and that the
 * payload is the canonical form of what it says. CUSTODY_EBADSIG for a
 * signature that does not verify (or no signature by pub), CUSTODY_ETOOBIG
 * for an envelope over the limit, CUSTODY_EINVAL for anything malformed.
 */
int manifest_verify(const char *envelope, size_t len, const uint8_t pub[32], struct manifest **out,
                    char *err, size_t errlen);

/*
 * Re-hashes each of m's files in dir (opened beneath dir with O_NOFOLLOW;
 * must be a regular file) and compares size and SHA-256. CUSTODY_ENOENT when
 * a shard is missing, CUSTODY_ECORRUPT when one differs ("shard 'X' swapped
 * after signing: ..."), CUSTODY_EIO when reading fails.
 */
int manifest_check_files(const struct manifest *m, const char *dir, char *err, size_t errlen);

/* "sha256:" + lower-case hex SHA-256 of the envelope bytes (model.load events). */
void manifest_digest(const char *envelope, size_t len, char out[MANIFEST_DIGEST_LEN + 1]);

const char *manifest_name(const struct manifest *m);
const char *manifest_version(const struct manifest *m);
const struct manifest_file *manifest_files(const struct manifest *m, size_t *n);
/* The file named name, or NULL (binary search: files are sorted by name). */
const struct manifest_file *manifest_find_file(const struct manifest *m, const char *name);
/* Sum of the files' sizes. */
uint64_t manifest_total_bytes(const struct manifest *m);
/* "safetensors", "gguf" ("?" otherwise). */
const char *manifest_format_name(int format);

void manifest_free(struct manifest *m);

#endif
