/*
 * cache.h — the doorway to src/cache: custodyd's model cache (issue 6,
 * decision 0012). Models enter it verified and stay immutable:
 *
 *   STATE/models/objects/ab/<sha256>   shard bytes, named by their SHA-256,
 *                                      mode 0444, written only by admission
 *   STATE/models/registry.db           SQLite (WAL, synchronous=FULL): models
 *                                      (name, version, signed manifest,
 *                                      last use), their files, and each
 *                                      object's identity at admission
 *
 * Admission (cache_admit) copies each shard into a nameless temporary file
 * (O_TMPFILE) while hashing it, parses its header, links it into objects/
 * under its hash, builds the manifest (src/manifest), signs it with the
 * node key (STATE/keys/node.ed25519) and records it. A crash leaves nothing
 * half-admitted: objects appear whole or not at all, and a model is visible
 * only once its row is committed.
 *
 * A load (cache_open_model) checks the manifest signature (Ed25519, tens of
 * microseconds) and each object's identity (device, inode, size, mtime,
 * ctime: one stat per shard, no hashing), so a shard swapped or rewritten
 * after signing is refused. cache_verify re-hashes on demand.
 *
 * Size limit: past cfg models.max_bytes the least recently used models are
 * evicted (their rows stay, marked absent; objects no present model needs
 * are unlinked).
 *
 * Thread safety: every function may be called from any thread (one mutex
 * around the database; hashing and copying run outside it).
 * Functions return 0 or a negative CUSTODY_E* code with a one-line message
 * in err (err may be NULL).
 */
#ifndef CUSTODY_CACHE_H
#define CUSTODY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest/manifest.h"

#define CACHE_DIR "models"
#define CACHE_NAME_MAX 255

struct cache;

struct cache_opts {
    const char *state_dir;
    uint64_t max_bytes; /* 0: no limit */
};

int cache_open(const struct cache_opts *o, struct cache **out, char *err, size_t errlen);
void cache_close(struct cache *c);
void cache_set_max_bytes(struct cache *c, uint64_t max_bytes);

/* Name: 1..255 bytes of UTF-8 without control characters or '@';
 * version: the same without '/' either. NULL when fine, else why not. */
const char *cache_name_problem(const char *name);
const char *cache_version_problem(const char *version);

/* The identity of an object file, recorded at admission. */
struct cache_identity {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};

struct cache_file {
    char *name;      /* as in the manifest */
    char sha256[65]; /* hex */
    uint64_t size;
    char *path;               /* the object's absolute path */
    struct cache_identity id; /* recorded at admission */
};

struct cache_model {
    char *name, *version;
    char digest[MANIFEST_DIGEST_LEN + 1]; /* sha256:<hex> of the envelope */
    uint64_t bytes;
    uint64_t created, last_used; /* unix seconds */
    bool present;                /* false: evicted (bytes gone, the record kept) */
    size_t nfiles;
    struct cache_file *files; /* by name; cache_get/cache_open_model only */
    char *envelope;           /* the signed DSSE envelope; cache_get/cache_open_model only */
    size_t envelope_len;
    struct manifest *manifest; /* cache_open_model only: verified */
    bool has_signer;           /* the key that signed the manifest, recorded at admission */
    uint8_t signer[32];        /* (registries from before: the node key) */
};
void cache_model_free(struct cache_model *m);

/* Admits a model from open shard descriptors (names are the names the
 * manifest records). CUSTODY_EEXIST when name@version is registered
 * (unless o->replace); o may be NULL. */
struct cache_source {
    const char *name;
    const char *what; /* for messages (the path) */
    int fd;
};
struct cache_admit_opts {
    bool replace;             /* replace an existing name@version */
    const char *sign_key_pem; /* sign with this Ed25519 key (PKCS#8 PEM) instead of the
                               * node key; its public half is recorded and checked at load */
    size_t sign_key_len;
};
int cache_admit(struct cache *c, const char *name, const char *version,
                const struct cache_source *src, size_t n, const struct cache_admit_opts *o,
                struct cache_model **out, char *err, size_t errlen);

/* The model (version NULL: the newest present one), with files and
 * envelope, without checks. CUSTODY_ENOENT when unknown. */
int cache_get(struct cache *c, const char *name, const char *version, struct cache_model **out,
              char *err, size_t errlen);

/* For a load: cache_get, then the envelope's signature by the node key and
 * its statement (manifest_verify), the files against the manifest, and each
 * object's identity. CUSTODY_EUNAVAIL when evicted, CUSTODY_EBADSIG,
 * CUSTODY_ECORRUPT ("shard 'X' changed after admission: ..."). Marks the
 * model used (LRU). */
int cache_open_model(struct cache *c, const char *name, const char *version,
                     struct cache_model **out, char *err, size_t errlen);
/* The checks of cache_open_model on a model cache_get already returned
 * (fills m->manifest; marks it used). With fds (m->nfiles entries), each object is
 * also opened (read-only) and its identity checked on that descriptor, so what a
 * caller hands on is what was checked; on failure none is left open. */
int cache_check_model(struct cache *c, struct cache_model *m, int *fds, char *err, size_t errlen);

/* Every model (files and envelopes not filled), by name then version. */
int cache_list(struct cache *c, struct cache_model **out, size_t *n, char *err, size_t errlen);
void cache_list_free(struct cache_model *list, size_t n);

/* Re-hashes every shard of the model against its signed manifest. A shard
 * that still matches gets its identity recorded anew (a touched but intact
 * file loads again); one that differs is unlinked and the model marked
 * absent (CUSTODY_ECORRUPT, naming the shard and both digests). */
int cache_verify(struct cache *c, const char *name, const char *version, char *err, size_t errlen);

/* Forgets name@version and unlinks objects no other present model uses. */
int cache_remove(struct cache *c, const char *name, const char *version, char *err, size_t errlen);

/* Pre-warming (loader/prewarm.h): makes the model's shards resident in the
 * page cache and, with pin, mlock's them until cache_unpin, cache_remove or
 * cache_close (mlock needs RLIMIT_MEMLOCK or CAP_IPC_LOCK: CUSTODY_ENOMEM
 * names the limit). Identities are checked first, as for a load. */
struct cache_prewarm_stats {
    uint64_t bytes, ns, resident_before, pinned;
};
int cache_prewarm(struct cache *c, const char *name, const char *version, bool pin,
                  struct cache_prewarm_stats *st, char *err, size_t errlen);
/* Releases name@version's pin (CUSTODY_ENOENT when none). */
int cache_unpin(struct cache *c, const char *name, const char *version, char *err, size_t errlen);
/* Bytes pinned now, over all models. */
uint64_t cache_pinned_bytes(struct cache *c);

/* Bytes of objects present, and how many models are registered / present. */
void cache_usage(struct cache *c, uint64_t *bytes, size_t *models, size_t *present);

#endif
