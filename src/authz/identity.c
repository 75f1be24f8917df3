/*
 * identity.c — the identity store: agents, revoked token ids, and the
 * session nonces already used.
 *
 * SQLite (STATE/authz/identities.db, WAL, synchronous=FULL) is the record;
 * memory holds a copy for lookups on the request path. A change is
 * committed to the database first and applied in memory only when that
 * worked, so a failed write never changes what is allowed.
 *
 * Tables:
 *   agents(name PRIMARY KEY, principal, groups (comma-separated),
 *          pubkey BLOB(32), epoch, quarantined, created)
 *   revoked_tokens(id PRIMARY KEY, expires, revoked_at)
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "custody/custody.h"

#define TOKEN_ID_MAX 128
#define NONCES_MAX (1u << 20)

/* A string-keyed map to a uint64_t (open addressing, linear probing). The
 * revocation and nonce sets keep an expiry there and lose members only
 * when a rebuild drops the expired ones; the agent index keeps an array
 * position and is rebuilt whole when an agent is removed. */
struct smap_slot {
    char *key; /* NULL: empty */
    uint64_t val;
};
struct smap {
    struct smap_slot *slots;
    size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static struct smap_slot *smap_find(const struct smap *m, const char *key)
{
    if (!m->cap) return NULL;
    for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct smap_slot *sl = &m->slots[i];
        if (!sl->key) return NULL; /* never full: at most 3/4 used */
        if (strcmp(sl->key, key) == 0) return sl;
    }
}

static void smap_put_raw(struct smap *m, char *key, uint64_t val)
{
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->slots[i].key)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (struct smap_slot){key, val};
    m->n++;
}

/* Rehashes into cap slots, dropping members whose value is below
 * drop_below (0: keeps all). */
static void smap_rebuild(struct smap *m, size_t cap, uint64_t drop_below)
{
    struct smap old = *m;
    m->slots = util_calloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        char *k = old.slots[i].key;
        if (!k) continue;
        if (old.slots[i].val < drop_below)
            free(k);
        else
            smap_put_raw(m, k, old.slots[i].val);
    }
    free(old.slots);
}

/* Inserts or updates key; a growing map first drops values below
 * drop_below. */
static void smap_put(struct smap *m, const char *key, uint64_t val, uint64_t drop_below)
{
    struct smap_slot *sl = smap_find(m, key);
    if (sl) {
        sl->val = val;
        return;
    }
    if ((m->n + 1) * 4 >= m->cap * 3) {
        size_t cap = m->cap ? m->cap : 64;
        while ((m->n + 1) * 2 >= cap)
            cap *= 2;
        smap_rebuild(m, cap, drop_below);
    }
    smap_put_raw(m, util_strdup(key), val);
}

static void smap_free(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

bool authz_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > AUTHZ_NAME_MAX || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

struct authz_ids {
    sqlite3 *db;
    struct authz_agent *agents;
    size_t nagents, cap;
    struct smap by_name; /* agent name -> index in agents */
    struct smap revoked; /* token id -> expiry */
    struct smap nonces;  /* session nonce -> when it may be forgotten */
    uint64_t gen;        /* bumped by every change to an agent */
};

uint64_t authz_ids_generation(const struct authz_ids *ids)
{
    return ids->gen;
}

static int sql_fail(struct authz_ids *ids, int rc, const char *what)
{
    log_error("authz: identities %s: %s", what, ids->db ? sqlite3_errmsg(ids->db) : "?");
    return util_err_from_sqlite(rc);
}

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS agents (name TEXT PRIMARY KEY, principal TEXT NOT NULL,"
    " groups TEXT NOT NULL, pubkey BLOB NOT NULL, epoch INTEGER NOT NULL,"
    " quarantined INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS revoked_tokens (id TEXT PRIMARY KEY, expires INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL);";

static void split_groups(const char *s, struct authz_agent *a)
{
    a->ngroups = 0;
    while (s && *s && a->ngroups < AUTHZ_GROUPS_MAX) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n && n <= AUTHZ_NAME_MAX) {
            memcpy(a->groups[a->ngroups], s, n);
            a->groups[a->ngroups++][n] = '\0';
        }
        s = comma ? comma + 1 : NULL;
    }
}

static void join_groups(const struct authz_agent *a, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->ngroups; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", a->groups[i]);
}

static struct authz_agent *push_agent(struct authz_ids *ids)
{
    if (ids->nagents == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 16;
        ids->agents = util_realloc(ids->agents, ids->cap * sizeof *ids->agents);
    }
    struct authz_agent *a = &ids->agents[ids->nagents++];
    memset(a, 0, sizeof *a);
    return a;
}

static int load(struct authz_ids *ids)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ids->db,
                                "SELECT name, principal, groups, pubkey, epoch, quarantined, "
                                "created FROM agents",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return sql_fail(ids, rc, "load");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *principal = (const char *)sqlite3_column_text(st, 1);
        if (!name || !authz_name_valid(name) || sqlite3_column_bytes(st, 3) != 32)
            continue; /* a row no version of custody wrote */
        struct authz_agent *a = push_agent(ids);
        util_strlcpy(a->name, name, sizeof a->name);
        util_strlcpy(a->principal, principal ? principal : "", sizeof a->principal);
        split_groups((const char *)sqlite3_column_text(st, 2), a);
        memcpy(a->pubkey, sqlite3_column_blob(st, 3), 32);
        util_ed25519_fingerprint(a->pubkey, a->key_fp);
        a->epoch = (uint64_t)sqlite3_column_int64(st, 4);
        a->quarantined = sqlite3_column_int(st, 5) != 0;
        a->created = (uint64_t)sqlite3_column_int64(st, 6);
        smap_put(&ids->by_name, a->name, ids->nagents - 1, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_fail(ids, rc, "load");
    uint64_t now = util_now_ns() / 1000000000ull;
    rc = sqlite3_prepare_v2(ids->db, "SELECT id, expires FROM revoked_tokens", -1, &st, NULL);
    if (rc != SQLITE_OK) return sql_fail(ids, rc, "load");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        uint64_t exp = (uint64_t)sqlite3_column_int64(st, 1);
        if (id && exp >= now) smap_put(&ids->revoked, id, exp, now);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_fail(ids, rc, "load");
}

int authz_ids_open(const char *path, struct authz_ids **out, struct strbuf *err)
{
    struct authz_ids *ids = util_calloc(1, sizeof *ids);
    int rc = sqlite3_open_v2(
        path, &ids->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(ids->db, SCHEMA, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (err)
            sb_printf(err, "%s: %s", path, ids->db ? sqlite3_errmsg(ids->db) : sqlite3_errstr(rc));
        rc = util_err_from_sqlite(rc);
        authz_ids_close(ids);
        return rc;
    }
    sqlite3_busy_timeout(ids->db, 2000);
    if ((rc = load(ids)) != 0) {
        if (err) sb_printf(err, "%s: cannot read the identity store", path);
        authz_ids_close(ids);
        return rc;
    }
    *out = ids;
    return 0;
}

void authz_ids_close(struct authz_ids *ids)
{
    if (!ids) return;
    sqlite3_close(ids->db);
    free(ids->agents);
    smap_free(&ids->by_name);
    smap_free(&ids->revoked);
    smap_free(&ids->nonces);
    free(ids);
}

/* The request path looks agents up by name: through the index, not a scan. */
static struct authz_agent *find(const struct authz_ids *ids, const char *name)
{
    const struct smap_slot *sl = smap_find(&ids->by_name, name);
    return sl ? &ids->agents[sl->val] : NULL;
}

const struct authz_agent *authz_agent_find(const struct authz_ids *ids, const char *name)
{
    return name ? find(ids, name) : NULL;
}

const struct authz_agent *authz_agent_at(const struct authz_ids *ids, size_t i)
{
    return i < ids->nagents ? &ids->agents[i] : NULL;
}

size_t authz_agent_count(const struct authz_ids *ids)
{
    return ids->nagents;
}

/* Runs one statement with bound text/int64 parameters ("t", "i", "b" for a
 * 32-byte blob), in its own (durable) transaction. */
static int exec_bound(struct authz_ids *ids, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ids->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return sql_fail(ids, rc, "prepare");
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't')
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (types[i] == 'i')
            sqlite3_bind_int64(st, i + 1, (sqlite3_int64)va_arg(ap, uint64_t));
        else
            sqlite3_bind_blob(st, i + 1, va_arg(ap, const uint8_t *), 32, SQLITE_TRANSIENT);
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) return CUSTODY_EEXIST;
    if (rc != SQLITE_DONE) return sql_fail(ids, rc, "write");
    return 0;
}

int authz_agent_add(struct authz_ids *ids, const char *name, const char *principal,
                    const char *const *groups, size_t ngroups, const uint8_t pub[32],
                    struct authz_agent *out)
{
    if (!authz_name_valid(name) || (principal && *principal && !authz_name_valid(principal)) ||
        ngroups > AUTHZ_GROUPS_MAX)
        return CUSTODY_EINVAL;
    for (size_t i = 0; i < ngroups; i++)
        if (!authz_name_valid(groups[i])) return CUSTODY_EINVAL;
    if (find(ids, name)) return CUSTODY_EEXIST;
    if (ids->nagents >= AUTHZ_AGENTS_MAX) return CUSTODY_ETOOBIG;
    struct authz_agent a = {0};
    util_strlcpy(a.name, name, sizeof a.name);
    util_strlcpy(a.principal, principal ? principal : "", sizeof a.principal);
    for (size_t i = 0; i < ngroups; i++)
        util_strlcpy(a.groups[a.ngroups++], groups[i], sizeof a.groups[0]);
    memcpy(a.pubkey, pub, 32);
    util_ed25519_fingerprint(pub, a.key_fp);
    a.created = util_now_ns() / 1000000000ull;
    char gl[AUTHZ_GROUPS_MAX * (AUTHZ_NAME_MAX + 1) + 1];
    join_groups(&a, gl, sizeof gl);
    int rc = exec_bound(ids,
                        "INSERT INTO agents (name, principal, groups, pubkey, epoch, quarantined,"
                        " created) VALUES (?, ?, ?, ?, 0, 0, ?)",
                        "tttbi", a.name, a.principal, gl, a.pubkey, a.created);
    if (rc) return rc;
    *push_agent(ids) = a;
    smap_put(&ids->by_name, a.name, ids->nagents - 1, 0);
    ids->gen++;
    if (out) *out = a;
    return 0;
}

int authz_agent_revoke(struct authz_ids *ids, const char *name, uint64_t *new_epoch)
{
    struct authz_agent *a = name ? find(ids, name) : NULL;
    if (!a) return CUSTODY_ENOENT;
    int rc =
        exec_bound(ids, "UPDATE agents SET epoch = ? WHERE name = ?", "it", a->epoch + 1, a->name);
    if (rc) return rc;
    a->epoch++;
    ids->gen++;
    if (new_epoch) *new_epoch = a->epoch;
    return 0;
}

int authz_agent_quarantine(struct authz_ids *ids, const char *name, bool on)
{
    struct authz_agent *a = name ? find(ids, name) : NULL;
    if (!a) return CUSTODY_ENOENT;
    int rc = exec_bound(ids, "UPDATE agents SET quarantined = ? WHERE name = ?", "it", (uint64_t)on,
                        a->name);
    if (rc) return rc;
    a->quarantined = on;
    ids->gen++;
    return 0;
}

int authz_agent_remove(struct authz_ids *ids, const char *name)
{
    struct authz_agent *a = name ? find(ids, name) : NULL;
    if (!a) return CUSTODY_ENOENT;
    int rc = exec_bound(ids, "DELETE FROM agents WHERE name = ?", "t", a->name);
    if (rc) return rc;
    *a = ids->agents[--ids->nagents];
    /* positions moved: index afresh (removals are rare) */
    smap_free(&ids->by_name);
    for (size_t i = 0; i < ids->nagents; i++)
        smap_put(&ids->by_name, ids->agents[i].name, i, 0);
    ids->gen++;
    return 0;
}

int authz_token_revoke(struct authz_ids *ids, const char *token_id, uint64_t expires)
{
    size_t n = token_id ? strlen(token_id) : 0;
    if (n == 0 || n > TOKEN_ID_MAX || !util_utf8_valid(token_id, n)) return CUSTODY_EINVAL;
    uint64_t now = util_now_ns() / 1000000000ull;
    int rc = exec_bound(ids,
                        "INSERT INTO revoked_tokens (id, expires, revoked_at) VALUES (?, ?, ?)"
                        " ON CONFLICT(id) DO UPDATE SET expires = max(expires, excluded.expires)",
                        "tii", token_id, expires, now);
    if (rc) return rc;
    smap_put(&ids->revoked, token_id, expires, now);
    /* forget ids whose tokens are dead anyway (the database too) */
    exec_bound(ids, "DELETE FROM revoked_tokens WHERE expires < ?", "i", now);
    return 0;
}

bool authz_token_revoked(const struct authz_ids *ids, const char *token_id)
{
    return token_id && smap_find(&ids->revoked, token_id) != NULL;
}

/* ---- sessions ---- */

static bool nonce_valid(const char *n)
{
    if (strlen(n) != 32) return false;
    for (int i = 0; i < 32; i++)
        if (util_hexval(n[i]) < 0 || (n[i] >= 'A' && n[i] <= 'F')) return false;
    return true;
}

int authz_session_verify(struct authz_ids *ids, const char *agent, uint64_t ts, const char *nonce,
                         const char *binding, const uint8_t sig[64], uint64_t now,
                         const struct authz_agent **out, struct strbuf *reason)
{
    const struct authz_agent *a = authz_agent_find(ids, agent);
    if (!a) {
        sb_printf(reason, "no agent named \"%.64s\"", agent ? agent : "");
        return CUSTODY_EUNAUTH;
    }
    if (!nonce || !nonce_valid(nonce) || !binding || strlen(binding) > 256) {
        sb_puts(reason, "malformed session proof (nonce must be 32 lower-case hex digits)");
        return CUSTODY_EUNAUTH;
    }
    if (a->quarantined) {
        sb_printf(reason, "agent \"%s\" is quarantined", a->name);
        return CUSTODY_EQUARANTINED;
    }
    if (ts + AUTHZ_SESSION_SKEW_S < now || ts > now + AUTHZ_SESSION_SKEW_S) {
        sb_printf(reason, "session proof time %llu is more than %d s from the server's %llu",
                  (unsigned long long)ts, AUTHZ_SESSION_SKEW_S, (unsigned long long)now);
        return CUSTODY_EEXPIRED;
    }
    struct smap_slot *seen = smap_find(&ids->nonces, nonce);
    if (seen && seen->val >= now) {
        sb_puts(reason, "session proof already used (replay)");
        return CUSTODY_EREPLAY;
    }
    struct strbuf msg = {0};
    util_session_message(a->name, ts, nonce, binding, &msg);
    int rc = util_ed25519_verify(a->pubkey, msg.buf, msg.len, sig);
    sb_free(&msg);
    if (rc) {
        sb_printf(reason, "session proof signature does not verify under agent \"%s\"'s key",
                  a->name);
        return CUSTODY_EBADSIG;
    }
    if (ids->nonces.n >= NONCES_MAX) smap_rebuild(&ids->nonces, ids->nonces.cap, now);
    if (ids->nonces.n >= NONCES_MAX) {
        sb_puts(reason, "too many sessions opened recently; try again shortly");
        return CUSTODY_EAGAIN;
    }
    smap_put(&ids->nonces, nonce, ts + 2 * AUTHZ_SESSION_SKEW_S, now);
    *out = a;
    return 0;
}
