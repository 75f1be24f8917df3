/*
 * token.h — the doorway to src/token: capability tokens (macaroons).
 *
 * custodyd mints a token after a policy decision. The token is a V1
 * macaroon (libmacaroons 0.3.0): an identifier (the token id, 32 hex
 * digits, used for revocation), a location hint, a list of first-party
 * caveats and an HMAC-SHA256 chain over them keyed by a 32-byte root key
 * that never leaves custodyd. Each caveat is one line of a small grammar
 * (docs/tokens.md):
 *
 *   agent = NAME                 agent_key = ed25519:HEX64
 *   action in read,write         resource = demo:/a/b.txt
 *   resource_prefix = demo:/a/   range = 0-4095
 *   expires < 1767225600         issued = 1767225540
 *   policy = ID                  epoch = 3
 *   attest = sha256:HEX64        delegate = NAME
 *
 * A request is allowed only when the MAC chain verifies under the root key
 * and every caveat holds for it; unknown caveats fail. Anyone holding a
 * token can add caveats offline (token_attenuate, or any macaroon library):
 * that can only narrow what the token allows.
 *
 * Forms: V1 binary in base64url without padding (what custody emits),
 * standard base64 and padding accepted too; and the V1 JSON form
 *   {"location":…,"identifier":…,"caveats":[{"cid":…}],"signature":"<hex>"}
 * recognised by its leading '{'.
 *
 * Errors (negative CUSTODY_E*): ETOOBIG (token over TOKEN_MAX_LEN, more
 * than TOKEN_MAX_CAVEATS caveats or a caveat over TOKEN_MAX_CAVEAT_LEN),
 * EBADTOKEN (malformed, bad MAC, unknown or malformed caveat, a required
 * caveat missing), EREVOKED (token id revoked, agent epoch moved on, a
 * policy retired), EEXPIRED, EPERM (a caveat does not permit the request),
 * EINVAL / EBADPATH (the caller's request or claims are malformed). Every
 * function that takes a `reason` strbuf (may be NULL) writes a one-line
 * human explanation there on error, naming the caveat that failed.
 *
 * Threading: every function is reentrant; a struct token_cache may be
 * shared by threads (one mutex, held only for the lookup).
 */
#ifndef CUSTODY_TOKEN_H
#define CUSTODY_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- limits ---- */
#define TOKEN_KEY_LEN 32          /* root key, bytes */
#define TOKEN_MAX_LEN 16384       /* a token string in any form, bytes */
#define TOKEN_MAX_CAVEATS 64      /* caveats per token */
#define TOKEN_MAX_CAVEAT_LEN 1024 /* one caveat, bytes */
#define TOKEN_ID_HEX_LEN 32       /* token id: 16 random bytes as lower-case hex */
#define TOKEN_LOCATION_MAX 255    /* location hint, bytes */
#define TOKEN_NAME_MAX 64         /* agent names (same grammar as authz_name_valid) */
#define TOKEN_POLICY_MAX 128      /* one policy id */
#define TOKEN_MAX_POLICIES 8      /* policy ids token_mint accepts */

/* ---- lifetimes ---- */
#define TOKEN_TTL_MAX_S 86400    /* no token lives longer (mint refuses) */
#define TOKEN_TTL_SENSITIVE_S 60 /* default cap for sensitive labels (authz applies it) */
#define TOKEN_CLOCK_SKEW_S 60    /* an `issued` this far in the future is tolerated */

/* ---- actions: a small fixed vocabulary, one bit each ---- */
enum token_action {
    TOKEN_ACT_READ = 1u << 0,
    TOKEN_ACT_WRITE = 1u << 1,
    TOKEN_ACT_LIST = 1u << 2,
    TOKEN_ACT_STAT = 1u << 3,
    TOKEN_ACT_MKDIR = 1u << 4,
    TOKEN_ACT_MOVE = 1u << 5,
    TOKEN_ACT_DELETE = 1u << 6,
    TOKEN_ACT_ROLLBACK = 1u << 7,
    TOKEN_ACT_VERSIONS = 1u << 8,
    TOKEN_ACT_TOKEN_MINT = 1u << 9, /* "token.mint" */
    TOKEN_ACT_MODEL_LOAD = 1u << 10 /* "model.load" */
};
#define TOKEN_ACT_COUNT 11
#define TOKEN_ACT_ALL ((1u << TOKEN_ACT_COUNT) - 1)

/* The bit for an action name ("read", "token.mint"), or 0 when unknown. */
uint32_t token_action_from_name(const char *name, size_t len);
/* The name of one action bit, or NULL. */
const char *token_action_name(uint32_t bit);

/* ---- caveat keys (docs/tokens.md) ---- */
enum token_caveat_key {
    TOKEN_CAV_AGENT = 0,       /* agent = NAME */
    TOKEN_CAV_AGENT_KEY,       /* agent_key = ed25519:HEX64 */
    TOKEN_CAV_ACTION,          /* action in NAME[,NAME]... */
    TOKEN_CAV_RESOURCE,        /* resource = ROOT:/PATH (exact) */
    TOKEN_CAV_RESOURCE_PREFIX, /* resource_prefix = ROOT:/DIR/ */
    TOKEN_CAV_RANGE,           /* range = FIRST-LAST (bytes, inclusive) */
    TOKEN_CAV_EXPIRES,         /* expires < UNIX_SECONDS */
    TOKEN_CAV_ISSUED,          /* issued = UNIX_SECONDS */
    TOKEN_CAV_POLICY,          /* policy = ID */
    TOKEN_CAV_EPOCH,           /* epoch = N */
    TOKEN_CAV_ATTEST,          /* attest = sha256:HEX64 */
    TOKEN_CAV_DELEGATE,        /* delegate = NAME: only this agent may present the token
                                * (added offline by the agent to hand it to a sub-agent) */
    TOKEN_CAV_COUNT
};
#define TOKEN_CAV_BIT(k) (1u << (k))

/* "agent", "resource_prefix", ... */
const char *token_caveat_key_name(enum token_caveat_key k);
/* Checks one caveat against the grammar: 0, EBADTOKEN or ETOOBIG. */
int token_caveat_check(const char *caveat, size_t len, struct strbuf *reason);

/* ---- the root key ---- */

/* Loads the root key from path (64 hex digits and a newline; the file must
 * be a regular file not readable by group or others, else ECONFIG), or
 * creates it with 32 random bytes (mode 0600, util_write_file_atomic) when
 * it does not exist. The key is never logged. custodyd holds its state
 * lock while calling this; two concurrent creators could disagree. */
int token_key_load_or_create(const char *path, uint8_t key[TOKEN_KEY_LEN]);

/* ---- minting ---- */

struct token_claims {
    /* Token id (lower-case hex, TOKEN_ID_HEX_LEN digits). Empty: token_mint
     * fills in a random one; read it back here after the call. */
    char id[TOKEN_ID_HEX_LEN + 1];
    const char *location;  /* "custody/<node>"; NULL: "custody" */
    const char *agent;     /* required: the agent's name */
    const char *agent_key; /* required: "ed25519:<64 hex>" (util_ed25519_fingerprint) */
    uint32_t actions;      /* required: TOKEN_ACT_* bits */
    const char *resource;  /* required: "root:/path" */
    bool resource_prefix;  /* resource is a directory prefix ending in '/' */
    bool has_range;        /* optional byte range, inclusive */
    uint64_t range_first, range_last;
    uint64_t issued;             /* unix seconds; 0: now */
    uint64_t expires;            /* required, unix seconds, > issued */
    uint64_t max_ttl;            /* the resource label's TTL cap; 0: TOKEN_TTL_MAX_S */
    const char *const *policies; /* deciding policy ids (0..TOKEN_MAX_POLICIES) */
    size_t npolicies;
    uint64_t epoch;     /* the agent's revocation epoch */
    const char *attest; /* optional "sha256:<64 hex>" */
};

/* Mints a token: V1 binary, base64url without padding, into out (appended).
 * Caveats, in this order: agent, agent_key, action, resource or
 * resource_prefix, [range], expires, issued, [policy...], epoch, [attest].
 * EINVAL when a claim is missing or malformed (reason says which), e.g. a
 * lifetime over max_ttl. */
int token_mint(const uint8_t key[TOKEN_KEY_LEN], struct token_claims *claims, struct strbuf *out,
               struct strbuf *reason);

/* A fresh random token id. */
int token_new_id(char out[TOKEN_ID_HEX_LEN + 1]);

/* ---- what a token says (no key needed) ---- */

/* The intersection of all caveats: what the token could allow at best. */
struct token_effective {
    uint32_t present;   /* TOKEN_CAV_BIT(k) for each key with at least one caveat */
    uint32_t conflicts; /* TOKEN_CAV_BIT(k) for keys whose caveats contradict each other
                         * (two agents, disjoint resources, no common action, ...):
                         * such a token allows nothing */
    const char *agent;  /* NULL when absent */
    const char *agent_key;
    const char *attest;
    const char *delegate;             /* the sub-agent it was handed to, or NULL */
    uint32_t actions;                 /* common to every action caveat; TOKEN_ACT_ALL when none */
    const char *resource;             /* the narrowest resource scope; NULL when none */
    bool resource_prefix;             /* ... and whether it is a prefix */
    uint64_t range_first, range_last; /* common range, when present has RANGE */
    uint64_t expires;                 /* earliest expiry */
    uint64_t issued;                  /* earliest issued */
    uint64_t epoch;
    size_t npolicies;
    const char *policies[TOKEN_MAX_CAVEATS];
};

struct token_info {
    char id[TOKEN_ID_HEX_LEN + 1];
    char location[TOKEN_LOCATION_MAX + 1];
    bool json; /* the token was given in the JSON form */
    size_t ncaveats;
    const char *caveats[TOKEN_MAX_CAVEATS]; /* in token order, NUL-terminated */
    struct token_effective eff;
    void *priv_; /* owns the strings above; token_info_free releases it */
};

/* Releases what info holds (safe on a zeroed or already freed info). */
void token_info_free(struct token_info *info);

/* Parses a token in any accepted form without the key: id, location,
 * caveats (each checked against the grammar) and the effective claims.
 * Nothing here is authenticated. */
int token_inspect(const char *token, struct token_info *info, struct strbuf *reason);

/* ---- serialisation ---- */

/* Any accepted form -> the V1 JSON form (appended to out). */
int token_to_json(const char *token, struct strbuf *out, struct strbuf *reason);
/* Any accepted form (the JSON form, typically) -> V1 base64url, no padding:
 * the packets are encoded here (the same bytes libmacaroons writes). */
int token_from_json(const char *token, struct strbuf *out, struct strbuf *reason);

/* ---- attenuation (offline, no key) ---- */

/* Adds n first-party caveats to a token (each checked against the grammar)
 * and appends the result to out, in the form the token came in (JSON stays
 * JSON, base64 becomes base64url). A caveat that would widen the token
 * (an action, resource, range or expiry beyond what it already allows) is
 * refused with EPERM, one that contradicts it (another agent, key, epoch or
 * attestation) with EINVAL: the token would be unusable. Verification never
 * relies on this check: caveats are intersected whatever anyone adds. */
int token_attenuate(const char *token, const char *const *caveats, size_t n, struct strbuf *out,
                    struct strbuf *reason);

/* ---- verification ---- */

struct token_request {
    const char *agent;     /* the agent the token must be bound to (its `agent` caveat) */
    const char *agent_key; /* its key fingerprint "ed25519:<hex>" (NULL: none) */
    const char *presenter; /* the authenticated agent presenting it; NULL: agent. When it
                            * is not `agent`, the token needs `delegate = presenter` */
    const char *action;    /* one action name: "read", ... */
    const char *resource;  /* "root:/path", canonical: no "..", "//", trailing '/' */
    const char *resource2; /* a second resource (a move's destination), or NULL */
    bool has_range;        /* the byte range the request touches, inclusive; a */
    uint64_t range_first;  /* request without one is refused by a range caveat */
    uint64_t range_last;   /* (pass 0..size-1 for a whole-file read) */
    uint64_t now;          /* unix seconds; 0: the clock */
    uint64_t agent_epoch;  /* the agent's current revocation epoch */
    const char *attest;    /* the agent's current attestation hash, or NULL */
    uint64_t max_ttl;      /* TTL cap of the resource's label; 0: none */
    /* Revocation checks (NULL: nothing is revoked). */
    bool (*is_revoked)(void *ctx, const char *token_id);
    bool (*policy_retired)(void *ctx, const char *policy_id);
    void *ctx;
};

/*
 * Verifies token for req. Order (the first failure is reported):
 *   1. size and form, 2. every caveat's grammar      -> ETOOBIG / EBADTOKEN
 *   3. the MAC chain under key (libmacaroons)         -> EBADTOKEN
 *   4. required caveats present (agent, agent_key, action, resource or
 *      resource_prefix, expires, issued, epoch)       -> EBADTOKEN
 *   5. revoked id, epoch caveats, retired policies    -> EREVOKED
 *   6. expires caveats                                -> EEXPIRED
 *   7. issued in the future, lifetime over max_ttl    -> EPERM
 *   8. agent, agent_key, attest, delegate/presenter   -> EPERM
 *   9. action, resource (and resource2), range        -> EPERM
 * Returns 0 when every caveat holds. info (may be NULL) is filled whenever
 * the token parsed, success or not; call token_info_free either way.
 */
int token_verify(const uint8_t key[TOKEN_KEY_LEN], const char *token,
                 const struct token_request *req, struct token_info *info, struct strbuf *reason);

/* ---- verification cache ----
 * Remembers tokens whose MAC verified (by their exact string: a slot chosen
 * by a seeded hash, then a constant-time comparison of the whole string),
 * so a token seen again skips decoding and the HMAC chain. Steps 4-9 above
 * still run on every request. Only tokens up to 4 KiB are kept; an entry
 * costs about 3.5 KiB plus the token (slots: 4-way set associative, least
 * recently used evicted). Bound to one key: make a new cache when the key
 * changes. */
struct token_cache;
struct token_cache_stats {
    uint64_t hits, misses, inserts, evictions;
};
int token_cache_new(const uint8_t key[TOKEN_KEY_LEN], size_t slots, struct token_cache **out);
void token_cache_free(struct token_cache *c);
/* token_verify through the cache. */
int token_cache_verify(struct token_cache *c, const char *token, const struct token_request *req,
                       struct token_info *info, struct strbuf *reason);
void token_cache_stats(struct token_cache *c, struct token_cache_stats *out);
/* Forgets every entry. */
void token_cache_clear(struct token_cache *c);

#endif
