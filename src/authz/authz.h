/*
 * authz.h — the doorway to src/authz: who is asking, and may they.
 *
 * Identities (this file's first half):
 *   - principals: the people agents act for ("alice"); named by agents;
 *   - agents: a name, an Ed25519 public key, the principal it acts for,
 *     groups, a revocation epoch and a quarantine flag;
 *   - revoked token ids (kept until the token would have expired anyway).
 * They live in STATE/authz/identities.db (SQLite, synchronous=FULL) and in
 * memory; every change is written to the database before it takes effect,
 * and takes effect for the very next request.
 *
 * Proof of possession: an agent proves it holds its private key by signing
 * a session message (util_session_message) once per connection; requests
 * on that connection then carry capability tokens bound to the agent and
 * its key. Ed25519 verification costs ~100 us here, so it is paid per
 * connection, not per request (docs/authz.md).
 *
 * Decisions (the second half, engine.c and map.c): a request (who, what
 * action, which resource, which capability token) is decided by the Cedar
 * policy set in the .cedar files in STATE/policy over entities custody maps itself
 * (docs/authz.md has the table):
 *   Operator::"local"    custodyd's own uid on the Unix socket
 *   Agent::"NAME"        in Group::"G" for each group, in User::"P"
 *   Root::"demo"         attrs name, labels {key: value}, sensitive
 *   Folder::"demo:/a"    in its parent folders and its root
 *   File::"demo:/a/b"    in its folders and its root; attrs root, path,
 *                        name, labels (the root's), sensitive
 *   Action::"read"       in Action::"readonly" (read list stat versions),
 *                        which is in Action::"readwrite" (+ write mkdir
 *                        move delete rollback); admin actions (token.mint,
 *                        token.revoke, agent.*) in Action::"admin"
 * and a context record: time (unix seconds), attested, peer_uid, token_age,
 * range_length, destination {root, path, labels, sensitive} (moves).
 * An agent's data-plane request must also carry a capability token bound
 * to it (token_verify); the operator's may.
 *
 * Threading: a struct authz_ids and a struct authz are used from one
 * thread (custodyd's loop).
 */
#ifndef CUSTODY_AUTHZ_H
#define CUSTODY_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "policy/policy.h"
#include "token/token.h"
#include "util/util.h"

#define AUTHZ_NAME_MAX 64      /* agent, principal and group names */
#define AUTHZ_GROUPS_MAX 8     /* groups per agent */
#define UTIL_ED25519_FP_LEN 72 /* "ed25519:" + 64 hex */
#define AUTHZ_AGENTS_MAX 100000
#define AUTHZ_SESSION_SKEW_S 120 /* accepted clock difference for a session signature */

struct authz_agent {
    char name[AUTHZ_NAME_MAX + 1];
    char principal[AUTHZ_NAME_MAX + 1]; /* "" when none */
    char groups[AUTHZ_GROUPS_MAX][AUTHZ_NAME_MAX + 1];
    size_t ngroups;
    uint8_t pubkey[32];
    char key_fp[UTIL_ED25519_FP_LEN + 1]; /* "ed25519:<hex sha256(pubkey)>" */
    uint64_t epoch;                       /* bumped by revoke: older tokens die */
    bool quarantined;
    uint64_t created; /* unix seconds */
};

/* Names: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool authz_name_valid(const char *s);

/* ---- the identity store ---- */

struct authz_ids;

int authz_ids_open(const char *path, struct authz_ids **out, struct strbuf *err);
void authz_ids_close(struct authz_ids *ids);

/* Enrolls an agent (CUSTODY_EEXIST when the name is taken). */
int authz_agent_add(struct authz_ids *ids, const char *name, const char *principal,
                    const char *const *groups, size_t ngroups, const uint8_t pub[32],
                    struct authz_agent *out);
/* The agent by name, or NULL. Valid until the next change to the store. */
const struct authz_agent *authz_agent_find(const struct authz_ids *ids, const char *name);
/* The i-th agent (name order is not kept), NULL past the end. */
const struct authz_agent *authz_agent_at(const struct authz_ids *ids, size_t i);
size_t authz_agent_count(const struct authz_ids *ids);
/* Changes with every change to an agent (entities built from agents are
 * stale when it moved). */
uint64_t authz_ids_generation(const struct authz_ids *ids);
/* Bumps the agent's epoch: every token minted before dies. */
int authz_agent_revoke(struct authz_ids *ids, const char *name, uint64_t *new_epoch);
int authz_agent_quarantine(struct authz_ids *ids, const char *name, bool on);
int authz_agent_remove(struct authz_ids *ids, const char *name);

/* Revokes one token id until `expires` (unix seconds; after that the token
 * is dead anyway and the entry is dropped). */
int authz_token_revoke(struct authz_ids *ids, const char *token_id, uint64_t expires);
bool authz_token_revoked(const struct authz_ids *ids, const char *token_id);

/* ---- sessions (proof of possession, once per connection) ---- */

/* Checks a session proof: the agent exists and is not quarantined, ts is
 * within AUTHZ_SESSION_SKEW_S of now, the nonce was not used before (kept
 * for twice the skew), and sig verifies under the agent's key. On success
 * *agent points at the agent. Errors: EUNAUTH (unknown agent, bad form),
 * EQUARANTINED, EEXPIRED (clock skew), EREPLAY, EBADSIG. */
int authz_session_verify(struct authz_ids *ids, const char *agent, uint64_t ts, const char *nonce,
                         const char *binding, const uint8_t sig[64], uint64_t now,
                         const struct authz_agent **out, struct strbuf *reason);

/* ---- decisions ---- */

#define AUTHZ_POLICY_DIR "policy"        /* the .cedar files in STATE/policy */
#define AUTHZ_TOKEN_KEY "keys/token.key" /* STATE/keys/token.key, the tokens' root key */
#define AUTHZ_POLICY_FILES_MAX 1024
#define AUTHZ_IDS_TEXT_MAX 256 /* determining policy ids, comma-separated */

#define AUTHZ_OPERATOR_ID "local" /* Operator::"local" */

struct authz;

/* An action custody knows (the Action entities). */
bool authz_action_known(const char *name);
/* A root with a label whose key or value is cfg->audit_sensitive_label
 * ("phi"): tokens for it live at most TOKEN_TTL_SENSITIVE_S, events
 * pseudonymize its paths. */
bool authz_root_sensitive(const struct custody_config *cfg, const struct cfg_root *r);

struct authz_opts {
    const struct custody_config *cfg; /* state_dir, roots and their labels (referenced) */
    struct authz_ids *ids;            /* agents (referenced); NULL: the list below */
    const struct authz_agent *agents; /* without ids: these agents (copied), e.g. */
    size_t nagents;                   /* custody policy replay, offline */
    const uint8_t *token_key;         /* TOKEN_KEY_LEN bytes; NULL: load or create
                                       * STATE/AUTHZ_TOKEN_KEY */
    const char *policy_dir;           /* NULL: STATE/AUTHZ_POLICY_DIR */
};

/* Loads the token key and the policy set (a missing policy directory is an
 * empty set: everything is denied). Errors name the file, line and column. */
int authz_new(const struct authz_opts *opts, struct authz **out, struct strbuf *err);
void authz_free(struct authz *az);
/* The roots changed (takes effect for the next decision). */
void authz_set_config(struct authz *az, const struct custody_config *cfg);

/* What a reload did: the set's hash before and after, how many policies. */
struct authz_policy_info {
    char hash[UTIL_SHA256_HEX_LEN + 1];
    char old_hash[UTIL_SHA256_HEX_LEN + 1];
    size_t npolicies, nfiles;
    bool changed;
};
/* Parses every the .cedar files in STATE/policy (name order) into a new set and swaps
 * it in atomically; on any error the running set stays and err has
 * "FILE:LINE:COLUMN: message". */
int authz_policy_reload(struct authz *az, struct authz_policy_info *info, struct strbuf *err);
/* Parses the *.cedar files of dir (name order) into a set with @id
 * annotations as ids (used by custodyd and the CLI's policy tools). */
int authz_policy_load_dir(const char *dir, struct policy_set **out, size_t *nfiles,
                          struct strbuf *err);
const struct policy_set *authz_policy(const struct authz *az);
void authz_policy_info(const struct authz *az, struct authz_policy_info *info);
const uint8_t *authz_token_key(const struct authz *az);

/* Who is asking. */
struct authz_subject {
    const struct authz_agent *agent; /* NULL: the operator */
    int64_t peer_uid;                /* -1: not known (TCP) */
    bool attested;                   /* endpoint attestation verified (issue 6) */
    const char *attest;              /* its hash "sha256:<hex>", or NULL */
};

struct authz_request {
    const struct authz_subject *who;
    const char *action;      /* "read", "write", ..., "token.mint", "agent.revoke" */
    const char *root;        /* data plane: the resource root:path ... */
    const char *path;        /* ("/" is the root itself) */
    bool dir;                /* the path is a directory (Folder), e.g. list, mkdir */
    const char *entity_type; /* or else: another entity (Agent, Token) ... */
    const char *entity_id;   /* ... by type and id */
    const char *root2;       /* a move's destination */
    const char *path2;
    bool has_range; /* bytes requested, inclusive */
    uint64_t range_first, range_last;
    const char *token;    /* capability (any accepted form); NULL: none */
    bool token_required;  /* refuse without one (agents on the data plane) */
    uint64_t now;         /* unix seconds; 0: the clock */
};

struct authz_result {
    bool allow;
    int err;                         /* 0, or EDENIED / EBADTOKEN / EEXPIRED / EREVOKED /
                                      * EQUARANTINED / ETOOBIG / EINVAL: why not */
    char policies[AUTHZ_IDS_TEXT_MAX]; /* determining policy ids, comma-separated */
    const char *policy_ids[8];       /* the same, split (point into ids_) */
    size_t npolicy;
    char token_id[TOKEN_ID_HEX_LEN + 1]; /* the capability used, "" when none */
    char delegated_by[AUTHZ_NAME_MAX + 1]; /* the agent who handed the token to the
                                            * presenter (whose rights were decided), or "" */
    uint64_t token_age;              /* seconds since it was issued */
    size_t nerrors;                  /* policies that errored and were skipped */
    char reason[512];                /* one line: which policy refused, or that none
                                      * permitted, or which caveat failed */
    char ids_[AUTHZ_IDS_TEXT_MAX];   /* internal: the split copy of policies */
};

/* Decides one request: the capability token first (when given or
 * required), then the policy set. Returns 0 with res->allow set (res->err
 * says why not), or an error when the request itself is malformed. */
int authz_decide(struct authz *az, const struct authz_request *req, struct authz_result *res);

/* The same decision without a token, explained clause by clause
 * (custody policy explain); out gets text, or JSON when json. set may be
 * NULL for the running set. */
int authz_explain(struct authz *az, const struct policy_set *set, const struct authz_request *req,
                  const char *context_json, bool json, struct strbuf *out, struct strbuf *err);

/* Mints a capability for an agent after a policy decision for each action
 * on the resource (a directory prefix when path ends in '/'): the token is
 * bound to the agent, its key, its epoch, the determining policies and a
 * lifetime capped by the resource's labels (config.yaml tokens.ttl_max_s,
 * tokens.ttl_sensitive_s under a sensitive root). res says why not. */
struct authz_mint {
    const struct authz_agent *agent;
    uint32_t actions; /* TOKEN_ACT_* */
    const char *root, *path;
    const char *model; /* or "NAME@VERSION": a model capability (model.load only; the token's
                        * resource is "model:/NAME@VERSION"); root and path unused */
    bool has_range;
    uint64_t range_first, range_last;
    uint64_t ttl; /* seconds; 0: tokens.ttl_default_s (capped) */
    const char *location;
};
int authz_mint(struct authz *az, const struct authz_subject *who, const struct authz_mint *m,
               struct strbuf *token, uint64_t *expires, struct authz_result *res);

#endif
