/*
 * ledger.h — the doorway to src/ledger: custody's audit ledger.
 *
 * Every decision custodyd makes becomes an event (canonical JSON, RFC 8785)
 * appended to a C2SP tlog-tiles Merkle log under STATE/ledger/ with
 * Ed25519-signed checkpoints. See docs/ledger.md for the design:
 *
 *   submit -> [committer thread] journal append + fdatasync (group commit)
 *          -> completions (eventfd, run on the owner's loop by ledger_dispatch)
 *          -> [tiler thread] tiles, checkpoint, witnesses
 *          -> [indexer thread] SQLite search index
 *
 * An event is acknowledged only once it is durable in the journal. When the
 * journal cannot be written (disk full, I/O error, read-only file system)
 * ledger_submit refuses new events with CUSTODY_EAUDIT, events already
 * accepted are retried until they are durable, and service resumes by
 * itself when the sink recovers.
 *
 * The format layer (hashing, tiles, notes, proofs) is in tlog.h.
 */
#ifndef CUSTODY_LEDGER_H
#define CUSTODY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/tlog.h"
#include "util/util.h"

#define LEDGER_DIR "ledger"                   /* under the state directory */
#define LEDGER_SCHEMA "custody.audit.event/v2"    /* the "schema" field of every event */
#define LEDGER_SCHEMA_V1 "custody.audit.event/v1" /* older events (no "edit"): still read */
#define LEDGER_POLICY_MAX 8                   /* policy ids on one event */
#define LEDGER_EVENT_MAX 16384                /* bytes of one encoded event */
#define LEDGER_FIELD_MAX 4096                 /* bytes of one string field */
#define LEDGER_PSEUDONYM_LEN (12 + 64)        /* "hmac-sha256:" + hex */
#define LEDGER_CONSENT_MAX 512                /* bytes of a consent token (printable ASCII) */

/* ------------------------------------------------------------------ */
/* Events (event.c)                                                     */
/* ------------------------------------------------------------------ */

/*
 * One side of a content change (the event's "edit" member, and its
 * "destination" for a move): the content hash before and after (NULL: no
 * file, written as null) and the store versions that hold them (0: none
 * recorded, written as null). See docs/ledger.md, "The edit journal".
 */
struct ledger_edit {
    const char *prev_sha256; /* hex; NULL for a new file */
    const char *new_sha256;  /* hex; NULL when the file is gone (delete, move source) */
    int64_t prev_version;
    int64_t version;
};

/*
 * One audit event. Strings are borrowed (NULL = absent, omitted from the
 * JSON); the encoder copies what it needs. Field names in JSON are the
 * member names below, except where noted.
 */
struct ledger_event {
    char event_id[40];          /* UUIDv7 text; generated when empty */
    uint64_t time_ns;           /* "timestamp" (RFC 3339, ns, UTC); now when 0 */
    const char *principal_id;
    const char *agent_id;
    const char *endpoint_id;
    const char *session_id;
    const char *action;         /* required: read, write, list, stat, ... */
    const char *resource_id;    /* "root:/path" */
    const char *destination_id; /* move target */
    bool has_range;             /* "byte_range": {"start","length"} */
    uint64_t range_start, range_length;
    const char *content_sha256; /* hex, of what was read or written */
    const char *model_id, *model_version;
    int64_t version;            /* store version written or restored; 0 = absent */
    const char *policy_ids[LEDGER_POLICY_MAX];
    size_t npolicy;
    const char *decision;       /* required: "allow", "deny" or "error" */
    const char *reason;         /* error code and message, or the policy's reason */
    int status;                 /* HTTP status answered; 0 = absent */
    uint64_t latency_us;        /* written as "latency_ms" with 3 decimals */
    uint64_t bytes_transferred;
    const char *attestation_ref;
    bool has_peer_uid;          /* "peer_uid": the Unix socket peer's uid */
    uint32_t peer_uid;
    const char *token_id;       /* the capability token used */
    bool sign;                  /* add "signature" (Ed25519 over the event without it) */
    bool sensitive_resource;    /* pseudonymize resource_id and destination_id */
    bool has_edit;              /* "edit": resource_id's content changed (prev -> new) */
    struct ledger_edit edit;
    bool has_edit_destination;  /* "edit"."destination": a move's change at destination_id */
    struct ledger_edit edit_destination;
    const char *consent;        /* "edit"."consent": the user's consent token (needs has_edit;
                                 * 1..LEDGER_CONSENT_MAX bytes of 0x20..0x7e) */
};

/* Which identifiers are pseudonymized, and the per-log HMAC key. */
struct ledger_privacy {
    bool principal_id, agent_id, endpoint_id, session_id;
    uint8_t key[32];
};

/* "hmac-sha256:<hex>" of value under key (Vault-style) into out. */
void ledger_pseudonym(const uint8_t key[32], const char *value, size_t len,
                      char out[LEDGER_PSEUDONYM_LEN + 1]);

/* Encodes ev as canonical JSON (RFC 8785: sorted keys, no whitespace,
 * minimal escapes) into out, pseudonymizing per pv (may be NULL) and
 * signing with signer when ev->sign (signer may be NULL otherwise). Fills
 * ev->event_id / time_ns when empty. CUSTODY_EINVAL for a missing action
 * or decision, a string that is not UTF-8 or longer than
 * LEDGER_FIELD_MAX, or an encoding over LEDGER_EVENT_MAX. */
int ledger_event_encode(struct ledger_event *ev, const struct ledger_privacy *pv,
                        const struct tlog_key *signer, struct strbuf *out);

/* A decoded event: the fields the index and the CLI use, copied. */
struct ledger_event_view {
    char event_id[40];
    char timestamp[40];
    uint64_t time_ns;
    char action[65];          /* [a-z][a-z0-9._-]{0,63}: up to 64 bytes + NUL */
    char decision[16];
    char *principal_id, *agent_id, *resource_id, *content_sha256; /* malloc'd or NULL */
    char *destination_id;                                         /* malloc'd or NULL */
    bool has_edit;                                                /* an "edit" record */
};
/* Parses and validates an event (schema, types, sizes). Strict: an entry
 * custody did not write is CUSTODY_EINVAL. Events of LEDGER_SCHEMA_V1 are
 * accepted too (they cannot have "edit"). */
int ledger_event_decode(const void *json, size_t len, struct ledger_event_view *out);
void ledger_event_view_free(struct ledger_event_view *v);
/* Verifies an event's "signature" member with key (0, CUSTODY_EBADSIG,
 * CUSTODY_ENOENT when unsigned). */
int ledger_event_verify_signature(const void *json, size_t len, const struct tlog_key *key);

/* ------------------------------------------------------------------ */
/* The log (log.c)                                                      */
/* ------------------------------------------------------------------ */

struct ledger;

struct ledger_opts {
    const char *dir;                  /* STATE/ledger (created) */
    const char *origin;               /* checkpoint origin line */
    const struct tlog_key *key;       /* log signing key (type 0x01), copied */
    unsigned checkpoint_interval_ms;  /* default 500 */
    size_t batch_max;                 /* events per group commit; default 8192 */
    uint64_t journal_rotate_bytes;    /* default 16 MiB */
    const struct ledger_privacy *privacy; /* copied; NULL = nothing pseudonymized */
    bool no_index;                    /* skip the SQLite index (benchmarks) */
};

/* Opens (creating when new) and recovers the log: a torn journal tail is
 * discarded, journaled events beyond the checkpoint are put into tiles and
 * a new checkpoint is published, then the threads start. */
int ledger_open(const struct ledger_opts *opts, struct ledger **out, struct strbuf *err);
/* Commits what was accepted, publishes a final checkpoint, stops. */
void ledger_close(struct ledger *l);

/* Completion callback: rc 0 and the event's leaf index once durable. */
typedef void (*ledger_cb)(void *arg, int rc, uint64_t index);

/* Encodes and queues ev; cb runs from ledger_dispatch once it is durable.
 * CUSTODY_EAUDIT at once when the sink is failing (cb is then not called). */
int ledger_submit(struct ledger *l, struct ledger_event *ev, ledger_cb cb, void *arg);
/* Same with already-encoded entry bytes (benchmarks, tests). */
int ledger_submit_raw(struct ledger *l, const void *entry, size_t len, ledger_cb cb, void *arg);
/* Blocking form for worker threads: returns once durable (or failed). */
int ledger_append(struct ledger *l, struct ledger_event *ev, uint64_t *index);
/* Readable when completions wait; the owner then calls ledger_dispatch. */
int ledger_eventfd(const struct ledger *l);
void ledger_dispatch(struct ledger *l);

/* False while the journal cannot be written. */
bool ledger_healthy(const struct ledger *l);

struct ledger_stats {
    uint64_t size;              /* events durable */
    uint64_t checkpoint_size;   /* events under the latest checkpoint */
    uint64_t batches;           /* group commits */
    uint64_t failures;          /* failed journal writes since start */
    uint64_t bulk_syncs;        /* tile syncs done with one syncfs */
    bool healthy;
    char last_error[160];
    char origin[TLOG_NAME_MAX + 1];
};
void ledger_stats(const struct ledger *l, struct ledger_stats *out);

/* Publishes a checkpoint covering at least min_size events (waits). */
int ledger_checkpoint_now(struct ledger *l, uint64_t min_size);
/* The latest signed checkpoint note (with cosignatures) appended to out;
 * its parsed body in *cp (may be NULL). */
int ledger_checkpoint(struct ledger *l, struct strbuf *out, struct tlog_checkpoint *cp);
/* Entry bytes at index (< checkpoint size). */
int ledger_entry(struct ledger *l, uint64_t index, struct strbuf *out);
/* Proofs against the latest checkpoint (size 0) or any size up to it. */
int ledger_prove_inclusion(struct ledger *l, uint64_t index, uint64_t size,
                           uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n);
int ledger_prove_consistency(struct ledger *l, uint64_t old_size, uint64_t size,
                             uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n);
/* Blocking append of already-encoded bytes (benchmarks, tests). */
int ledger_append_raw(struct ledger *l, const void *entry, size_t len, uint64_t *index);
/* Root of the first `size` leaves (size <= checkpoint size; 0 = latest). */
int ledger_tree_root(struct ledger *l, uint64_t size, uint8_t out[TLOG_HASH_LEN]);
/* Search through the index (caught up to the latest checkpoint first). */
struct ledger_query;
int ledger_search(struct ledger *l, const struct ledger_query *q, uint64_t **out, size_t *n);
/* Witnessing: hook called on the tiler thread after each checkpoint is
 * published (must not block: hand the note to another thread); cosignature
 * lines for checkpoint `size` are appended to the checkpoint file when it
 * is still the latest (CUSTODY_ECONFLICT otherwise). */
void ledger_set_checkpoint_hook(struct ledger *l,
                                void (*hook)(void *arg, const char *note, size_t len,
                                             uint64_t size),
                                void *arg);
int ledger_add_cosignatures(struct ledger *l, uint64_t size, const char *lines, size_t len);
/* The log directory (read-only use: serving tiles) and signing key. */
int ledger_dirfd(const struct ledger *l);
const struct tlog_key *ledger_key(const struct ledger *l);
/* The log's verifier key text. */
int ledger_vkey(const struct ledger *l, struct strbuf *out);
/* The HMAC pseudonym of value under this log's key. */
void ledger_hash_value(const struct ledger *l, const char *value, size_t len,
                       char out[LEDGER_PSEUDONYM_LEN + 1]);

/* ---- state.c: the node's log from its state directory ---- */
struct custody_config;
/* Opens STATE/ledger with the node key and the configured origin. */
int ledger_open_state(const struct custody_config *cfg, struct ledger **out, struct strbuf *err);
/* The node key named for the log (origin), and the origin itself. */
int ledger_load_key(const struct custody_config *cfg, struct tlog_key *key, char *origin,
                    size_t origin_len);
int ledger_default_origin(const struct custody_config *cfg, const uint8_t pub[32], char *out,
                          size_t len);

/* ------------------------------------------------------------------ */
/* Witnessing (witness.c) — C2SP tlog-witness, both sides               */
/* ------------------------------------------------------------------ */

#define WITNESS_DIR "witness" /* under the state directory: logs, state/ */
/* add-checkpoint bodies: "old N", 63 proof lines, the blank line, a note */
#define WITNESS_BODY_MAX (TLOG_NOTE_MAX + 32 + TLOG_WITNESS_PROOF_MAX * 46)

/* This node's cosigning key (type 0x04, derived from the node key), named
 * "<log origin>/witness". */
int ledger_witness_key(const struct custody_config *cfg, struct tlog_key *key);
/* STATE/witness/state/<first 32 hex of SHA-256(origin)>. */
int witness_state_path(const char *state_dir, const char *origin, char *out, size_t len);
/* True when STATE/witness/logs names at least one valid log key. */
bool witness_enabled(const char *state_dir);

/* Server side of add-checkpoint: checks body against the logs trusted in
 * STATE/witness/logs and the state kept for its origin, persists the new
 * checkpoint atomically, and fills the answer: status 200 (cosignature
 * lines), 400 (syntax), 403 (no valid log signature), 404 (unknown log),
 * 409 (old size differs, or same size with another root: body "<size>\n",
 * content type text/x.tlog.size) or 422 (bad consistency proof). Returns 0,
 * CUSTODY_EBADPROOF when the request is evidence of a log's misbehaviour
 * (a validly signed checkpoint inconsistent with the one kept; answered
 * 409 or 422), or another error (nothing answered: 500). */
int witness_add_checkpoint(const char *state_dir, const struct tlog_key *witness_key,
                           const char *body, size_t len, int *http_status, struct strbuf *out,
                           const char **content_type);

/* The trusted logs, with the latest checkpoint cosigned for each. */
struct witness_log_info {
    unsigned lineno;
    bool valid;                      /* the line is a type-0x01 verifier key */
    char vkey[512];
    char origin[TLOG_NAME_MAX + 1];
    bool seen;                       /* a checkpoint was cosigned */
    uint64_t size;
    uint8_t root[TLOG_HASH_LEN];
};
int witness_list_logs(const char *state_dir,
                      int (*fn)(void *arg, const struct witness_log_info *info), void *arg);
/* One line of STATE/ledger/witnesses: "<vkey (type 0x04)> <http(s) URL>
 * [unix:PATH] [ca:FILE]"; url receives "<URL>/add-checkpoint". */
int witness_config_line(const char *line, size_t len, struct tlog_key *key, char *url,
                        size_t url_len, char *unix_path, size_t unix_len, char *ca, size_t ca_len);

/* Client side: a thread submitting each new checkpoint (and, at start, the
 * current one) to the witnesses in STATE/ledger/witnesses (re-read when it
 * changes), storing their verified cosignatures with the checkpoint.
 * Shutdown order: ledger_witnesses_stop, ledger_close, ledger_witnesses_free
 * (the ledger's hook keeps pointing at the object until the ledger closes). */
struct ledger_witnesses;
int ledger_witnesses_start(struct ledger *l, const char *state_dir, struct ledger_witnesses **out);
void ledger_witnesses_stop(struct ledger_witnesses *w);
void ledger_witnesses_free(struct ledger_witnesses *w);

/* ------------------------------------------------------------------ */
/* Search index (index.c) — SQLite, derived from the log, rebuildable   */
/* ------------------------------------------------------------------ */

struct ledger_index;

/* Opens (creating) dir/index.db. A file that is unreadable or from another
 * log (origin differs) is rebuilt from scratch. */
int ledger_index_open(const char *path, const char *origin, struct ledger_index **out);
void ledger_index_close(struct ledger_index *ix);
/* Events indexed so far (the next index expected). */
uint64_t ledger_index_size(struct ledger_index *ix);
/* Adds entries [first, first+n) in one transaction (entries[i] bytes). An
 * entry that does not decode is indexed with its index only. */
int ledger_index_add(struct ledger_index *ix, uint64_t first, const uint8_t *const *entries,
                     const size_t *lens, size_t n);

struct ledger_query {
    const char *agent, *principal, *resource, *action, *decision, *sha256;
    uint64_t since_ns, until_ns; /* 0 = unbounded */
    bool resource_prefix;        /* resource matches "root:/dir/" prefixes */
    uint64_t after;              /* only leaf indices > after (paging); 0 with !has_after */
    bool has_after;
    size_t limit;                /* default 100, max 10000 */
    bool descending;             /* newest first */
    bool edits_only;             /* only events with an "edit" record */
    bool or_destination;         /* resource matches resource_id or destination_id */
};
/* Leaf indices matching q, in order; *out malloc'd. */
int ledger_index_search(struct ledger_index *ix, const struct ledger_query *q, uint64_t **out,
                        size_t *n);

/* ------------------------------------------------------------------ */
/* Verification (verify.c)                                              */
/* ------------------------------------------------------------------ */

/* Offline check of a log directory: recomputes every hash from the entry
 * bundles, compares every hash tile byte for byte, checks the checkpoint's
 * signatures and root, and the consistency with the last checkpoint the
 * caller trusted (kept outside the log). Memory is bounded (one tile per
 * level), whatever the log's size. */
struct ledger_verify_opts {
    const char *dir;              /* the ledger directory (checkpoint + tile/) */
    const struct tlog_key *keys;  /* log key (type 0x01) first, then witness keys (0x04) */
    size_t nkeys;
    const char *trusted_path;     /* last trusted checkpoint (outside the log); NULL = none */
    bool update_trusted;          /* write the verified checkpoint there on success */
    bool strict_signatures;       /* every signature line must be from keys[] and verify */
};
struct ledger_verify_result {
    uint64_t size;                /* checkpoint size verified */
    uint64_t entries_checked;     /* leading entries whose leaf hashes matched their tile */
    uint64_t tiles_checked;       /* bundles and hash tiles the checkpoint names, verified */
    uint64_t trusted_size;        /* size of the trusted checkpoint compared (0 = none) */
    uint64_t stale_partials;      /* older partial tiles, checked to be prefixes */
    uint64_t files_ahead;         /* tiles past the checkpoint (not committed to) */
    int64_t first_bad_entry;      /* -1 when none */
    char problem[512];            /* first problem, human-readable, names the file and index */
};
/* 0 when everything holds; CUSTODY_ECORRUPT (files), CUSTODY_EBADSIG
 * (signatures) or CUSTODY_EBADPROOF (not consistent with the trusted
 * checkpoint) with res->problem set otherwise; CUSTODY_EINVAL for bad
 * options. The trusted checkpoint is written (atomically, parent
 * directories created) only when update_trusted and everything holds; a
 * missing one is trusted on first use. */
int ledger_verify(const struct ledger_verify_opts *o, struct ledger_verify_result *res);

#endif
