/* test_identity.c — the identity store, agent keys and session proofs. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "authz/authz.h"
#include "custody/custody.h"
#include "test.h"

static struct authz_ids *open_ids(const char *path)
{
    struct authz_ids *ids = NULL;
    struct strbuf err = {0};
    int rc = authz_ids_open(path, &ids, &err);
    if (rc) fprintf(stderr, "%s\n", err.buf);
    ASSERT_EQ(0, rc);
    sb_free(&err);
    return ids;
}

TEST(authz_names)
{
    ASSERT(authz_name_valid("agent-7"));
    ASSERT(authz_name_valid("a.b_c"));
    ASSERT(!authz_name_valid(""));
    ASSERT(!authz_name_valid(".hidden"));
    ASSERT(!authz_name_valid("-x"));
    ASSERT(!authz_name_valid("a b"));
    ASSERT(!authz_name_valid("a/b"));
    ASSERT(!authz_name_valid("\"quoted\""));
    char longname[80];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    ASSERT(!authz_name_valid(longname));
}

TEST(authz_keys_sign_verify)
{
    uint8_t pub[32], pub2[32], sig[64];
    struct strbuf pem = {0};
    ASSERT_OK(util_ed25519_keygen(pub, &pem));
    ASSERT_STR_CONTAINS(pem.buf, "BEGIN PRIVATE KEY");
    ASSERT_OK(util_ed25519_load_pem(pem.buf, pem.len, pub2));
    ASSERT_MEM_EQ(pub, pub2, 32);
    ASSERT_OK(util_ed25519_sign(pem.buf, pem.len, "hello", 5, sig));
    ASSERT_OK(util_ed25519_verify(pub, "hello", 5, sig));
    ASSERT_EQ(CUSTODY_EBADSIG, util_ed25519_verify(pub, "hellp", 5, sig));
    sig[10] ^= 1;
    ASSERT_EQ(CUSTODY_EBADSIG, util_ed25519_verify(pub, "hello", 5, sig));
    ASSERT_EQ(CUSTODY_EINVAL, util_ed25519_load_pem("junk", 4, pub2));
    char fp[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(pub, fp);
    ASSERT_EQ(UTIL_ED25519_FP_LEN, strlen(fp));
    ASSERT(strncmp(fp, "ed25519:", 8) == 0);
    sb_free(&pem);
}

TEST(authz_agents_persist)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ids.db", test_tmpdir());
    struct authz_ids *ids = open_ids(path);
    uint8_t pub[32];
    struct strbuf pem = {0};
    ASSERT_OK(util_ed25519_keygen(pub, &pem));
    const char *groups[] = {"coders", "readers"};
    struct authz_agent a;
    ASSERT_OK(authz_agent_add(ids, "claude", "alice", groups, 2, pub, &a));
    ASSERT_EQ(CUSTODY_EEXIST, authz_agent_add(ids, "claude", "bob", NULL, 0, pub, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, authz_agent_add(ids, "bad name", "bob", NULL, 0, pub, NULL));
    const char *badg[] = {"ok", "no,comma"};
    ASSERT_EQ(CUSTODY_EINVAL, authz_agent_add(ids, "x", NULL, badg, 2, pub, NULL));
    ASSERT_OK(authz_agent_add(ids, "codex", NULL, NULL, 0, pub, NULL));
    ASSERT_EQ(2, authz_agent_count(ids));
    uint64_t epoch = 0;
    ASSERT_OK(authz_agent_revoke(ids, "claude", &epoch));
    ASSERT_EQ(1, epoch);
    ASSERT_OK(authz_agent_quarantine(ids, "codex", true));
    ASSERT_EQ(CUSTODY_ENOENT, authz_agent_revoke(ids, "nobody", NULL));
    ASSERT_OK(authz_token_revoke(ids, "tok-1", util_now_ns() / 1000000000ull + 60));
    ASSERT(authz_token_revoked(ids, "tok-1"));
    ASSERT(!authz_token_revoked(ids, "tok-2"));
    authz_ids_close(ids);

    /* everything survives a restart */
    ids = open_ids(path);
    const struct authz_agent *c = authz_agent_find(ids, "claude");
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ("alice", c->principal);
    ASSERT_EQ(2, c->ngroups);
    ASSERT_STR_EQ("readers", c->groups[1]);
    ASSERT_EQ(1, c->epoch);
    ASSERT_MEM_EQ(pub, c->pubkey, 32);
    ASSERT_STR_EQ(a.key_fp, c->key_fp);
    ASSERT(authz_agent_find(ids, "codex")->quarantined);
    ASSERT(authz_token_revoked(ids, "tok-1"));
    ASSERT_OK(authz_agent_remove(ids, "codex"));
    ASSERT_NULL(authz_agent_find(ids, "codex"));
    authz_ids_close(ids);
    ids = open_ids(path);
    ASSERT_NULL(authz_agent_find(ids, "codex"));
    ASSERT_EQ(1, authz_agent_count(ids));
    authz_ids_close(ids);
    sb_free(&pem);
}

TEST(authz_expired_revocations_are_dropped)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ids.db", test_tmpdir());
    struct authz_ids *ids = open_ids(path);
    ASSERT_OK(authz_token_revoke(ids, "old", 1000)); /* expired long ago */
    authz_ids_close(ids);
    ids = open_ids(path);
    ASSERT(!authz_token_revoked(ids, "old"));
    authz_ids_close(ids);
}

static void sign_session(const struct strbuf *pem, const char *agent, uint64_t ts,
                         const char *nonce, const char *binding, uint8_t sig[64])
{
    struct strbuf m = {0};
    ASSERT_OK(util_session_message(agent, ts, nonce, binding, &m));
    ASSERT_OK(util_ed25519_sign(pem->buf, pem->len, m.buf, m.len, sig));
    sb_free(&m);
}

TEST(authz_session_proofs)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ids.db", test_tmpdir());
    struct authz_ids *ids = open_ids(path);
    uint8_t pub[32], opub[32], sig[64];
    struct strbuf pem = {0}, other = {0}, why = {0};
    ASSERT_OK(util_ed25519_keygen(pub, &pem));
    ASSERT_OK(util_ed25519_keygen(opub, &other));
    ASSERT_OK(authz_agent_add(ids, "claude", "alice", NULL, 0, pub, NULL));
    uint64_t now = 1800000000;
    const char *n1 = "00112233445566778899aabbccddeeff";
    const struct authz_agent *a = NULL;
    sign_session(&pem, "claude", now, n1, "unix", sig);
    ASSERT_OK(authz_session_verify(ids, "claude", now, n1, "unix", sig, now + 5, &a, &why));
    ASSERT_STR_EQ("claude", a->name);
    /* the same proof again is a replay */
    ASSERT_EQ(CUSTODY_EREPLAY,
              authz_session_verify(ids, "claude", now, n1, "unix", sig, now + 6, &a, &why));
    /* another channel binding than the one signed */
    const char *n2 = "ffeeddccbbaa99887766554433221100";
    sign_session(&pem, "claude", now, n2, "unix", sig);
    ASSERT_EQ(CUSTODY_EBADSIG,
              authz_session_verify(ids, "claude", now, n2, "tls-exporter:00", sig, now, &a, &why));
    /* signed by someone else's key */
    sign_session(&other, "claude", now, n2, "unix", sig);
    ASSERT_EQ(CUSTODY_EBADSIG,
              authz_session_verify(ids, "claude", now, n2, "unix", sig, now, &a, &why));
    /* too old, too far ahead */
    sign_session(&pem, "claude", now, n2, "unix", sig);
    ASSERT_EQ(CUSTODY_EEXPIRED,
              authz_session_verify(ids, "claude", now, n2, "unix", sig, now + 1000, &a, &why));
    ASSERT_EQ(CUSTODY_EEXPIRED,
              authz_session_verify(ids, "claude", now, n2, "unix", sig, now - 1000, &a, &why));
    /* unknown agent, malformed nonce */
    ASSERT_EQ(CUSTODY_EUNAUTH,
              authz_session_verify(ids, "nobody", now, n2, "unix", sig, now, &a, &why));
    ASSERT_EQ(CUSTODY_EUNAUTH,
              authz_session_verify(ids, "claude", now, "ABC", "unix", sig, now, &a, &why));
    /* quarantined agents cannot open sessions */
    ASSERT_OK(authz_agent_quarantine(ids, "claude", true));
    ASSERT_EQ(CUSTODY_EQUARANTINED,
              authz_session_verify(ids, "claude", now, n2, "unix", sig, now, &a, &why));
    ASSERT_OK(authz_agent_quarantine(ids, "claude", false));
    ASSERT_OK(authz_session_verify(ids, "claude", now, n2, "unix", sig, now, &a, &why));
    authz_ids_close(ids);
    sb_free(&pem);
    sb_free(&other);
    sb_free(&why);
}

/* util_session_proof writes the whole header value an agent sends; its
 * fields verify as they are. */
TEST(authz_session_proof_header)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ids.db", test_tmpdir());
    struct authz_ids *ids = open_ids(path);
    uint8_t pub[32], sig[64];
    struct strbuf pem = {0}, why = {0};
    ASSERT_OK(util_ed25519_keygen(pub, &pem));
    ASSERT_OK(authz_agent_add(ids, "claude", "", NULL, 0, pub, NULL));
    char proof[UTIL_SESSION_PROOF_MAX], again[UTIL_SESSION_PROOF_MAX];
    ASSERT_OK(util_session_proof("claude", pem.buf, pem.len, "unix", proof));
    ASSERT_OK(util_session_proof("claude", pem.buf, pem.len, "unix", again));
    ASSERT(strcmp(proof, again) != 0); /* a fresh nonce each time */
    char v[8], agent[80], nonce[40], sighex[200];
    unsigned long long ts;
    ASSERT_EQ(sscanf(proof, "%7s %79s %llu %39s %199s", v, agent, &ts, nonce, sighex), 5);
    ASSERT_STR_EQ(v, "v1");
    ASSERT_EQ(strlen(sighex), 128);
    ASSERT_OK(util_hex_decode(sighex, 128, sig));
    const struct authz_agent *a = NULL;
    ASSERT_OK(authz_session_verify(ids, agent, ts, nonce, "unix", sig, ts, &a, &why));
    ASSERT_EQ(CUSTODY_EBADSIG, authz_session_verify(ids, agent, ts, "00112233445566778899aabbccddeeff",
                                                    "unix", sig, ts, &a, &why));
    sb_free(&pem);
    sb_free(&why);
    authz_ids_close(ids);
}
