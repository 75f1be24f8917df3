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
 * Threading: a struct authz_ids is used from one thread (custodyd's loop).
 */
#ifndef CUSTODY_AUTHZ_H
#define CUSTODY_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
