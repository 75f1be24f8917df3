/* test_engine.c — decisions: entity mapping, tokens and policies together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz/authz.h"
#include "custody/custody.h"
#include "test.h"

static const char POLICY[] =
    "@id(\"operator-all\")\n"
    "permit (principal is Operator, action, resource);\n"
    "@id(\"demo-rw\")\n"
    "permit (principal == Agent::\"demo\", action in Action::\"readwrite\",\n"
    "        resource in Root::\"demo\");\n"
    "@id(\"team-read\")\n"
    "permit (principal in Group::\"team\", action in Action::\"readonly\", resource)\n"
    "when { resource has labels && resource.labels has classification };\n"
    "@id(\"alice-notes\")\n"
    "permit (principal in User::\"alice\", action == Action::\"write\",\n"
    "        resource in Folder::\"demo:/notes\");\n"
    "@id(\"phi-attested\")\n"
    "forbid (principal, action in [Action::\"read\", Action::\"move\"], resource)\n"
    "when { resource.sensitive } unless { context.attested };\n"
    "@id(\"no-phi-export\")\n"
    "forbid (principal, action == Action::\"move\", resource)\n"
    "when { context has destination && resource.sensitive && !context.destination.sensitive };\n"
    "@id(\"small-ranges\")\n"
    "forbid (principal == Agent::\"ranger\", action == Action::\"read\", resource)\n"
    "unless { context has range_length && context.range_length <= 4096 };\n";

struct world {
    char dir[512];
    struct custody_config *cfg;
    struct authz_ids *ids;
    struct authz *az;
    uint8_t pub[32];
    struct strbuf pem;
};

static void write_policy(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/policy", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/policy/%s", dir, name);
    ASSERT_OK(util_write_file_atomic(path, text, strlen(text), 0600));
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof *w);
    util_strlcpy(w->dir, test_tmpdir(), sizeof w->dir);
    w->cfg = config_new_default(w->dir);
    static struct cfg_label pub = {"classification", "public"}, phi = {"classification", "phi"};
    w->cfg->roots = util_calloc(3, sizeof *w->cfg->roots);
    config_root_copy(&w->cfg->roots[0], &(struct cfg_root){"demo", "/tmp/x", &pub, 1});
    config_root_copy(&w->cfg->roots[1], &(struct cfg_root){"records", "/tmp/y", &phi, 1});
    config_root_copy(&w->cfg->roots[2], &(struct cfg_root){"scratch", "/tmp/z", NULL, 0});
    w->cfg->nroots = 3;
    char dbp[700];
    snprintf(dbp, sizeof dbp, "%s/ids.db", w->dir);
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(authz_ids_open(dbp, &w->ids, &err));
    ASSERT_OK(util_ed25519_keygen(w->pub, &w->pem));
    const char *team[] = {"team"};
    ASSERT_OK(authz_agent_add(w->ids, "demo", "alice", NULL, 0, w->pub, NULL));
    ASSERT_OK(authz_agent_add(w->ids, "helper", "alice", team, 1, w->pub, NULL));
    ASSERT_OK(authz_agent_add(w->ids, "ranger", "", team, 1, w->pub, NULL));
    write_policy(w->dir, "main.cedar", POLICY);
    struct authz_opts o = {.cfg = w->cfg, .ids = w->ids};
    int rc = authz_new(&o, &w->az, &err);
    if (rc) fprintf(stderr, "%s\n", err.buf);
    ASSERT_OK(rc);
    sb_free(&err);
}

static void world_free(struct world *w)
{
    authz_free(w->az);
    authz_ids_close(w->ids);
    config_unref(w->cfg);
    sb_free(&w->pem);
}

/* Decides action on root:path for agent (NULL: the operator). */
static int decide(struct world *w, const char *agent, const char *action, const char *root,
                  const char *path, const char *token, struct authz_result *res)
{
    struct authz_subject who = {.peer_uid = -1};
    if (agent) ASSERT_NOT_NULL(who.agent = authz_agent_find(w->ids, agent));
    struct authz_request rq = {.who = &who,
                               .action = action,
                               .root = root,
                               .path = path,
                               .dir = !strcmp(action, "list") || !strcmp(action, "mkdir"),
                               .token = token,
                               .token_required = agent != NULL};
    return authz_decide(w->az, &rq, res);
}

static void mint(struct world *w, const char *agent, uint32_t actions, const char *root,
                 const char *path, struct strbuf *tok)
{
    struct authz_subject who = {.peer_uid = -1};
    struct authz_mint m = {.agent = authz_agent_find(w->ids, agent),
                           .actions = actions,
                           .root = root,
                           .path = path};
    struct authz_result res;
    uint64_t exp = 0;
    sb_reset(tok);
    int rc = authz_mint(w->az, &who, &m, tok, &exp, &res);
    if (rc || !res.allow) fprintf(stderr, "mint: %s\n", res.reason);
    ASSERT_OK(rc);
    ASSERT(res.allow);
    ASSERT_GT(exp, 0);
}

TEST(authz_engine_operator_and_default_deny)
{
    struct world w;
    world_init(&w);
    struct authz_result res;
    ASSERT_OK(decide(&w, NULL, "write", "demo", "/a.txt", NULL, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.policies, "operator-all");
    ASSERT_EQ(res.npolicy, 1);
    /* the operator too is subject to forbids */
    ASSERT_OK(decide(&w, NULL, "read", "records", "/p1.txt", NULL, &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EDENIED);
    ASSERT_STR_CONTAINS(res.reason, "forbidden by policy phi-attested");
    /* an unknown action is an error, not a decision */
    ASSERT_EQ(decide(&w, NULL, "frobnicate", "demo", "/a", NULL, &res), CUSTODY_EINVAL);
    /* no policy files: everything is denied */
    char pd[700];
    snprintf(pd, sizeof pd, "%s/policy/main.cedar", w.dir);
    ASSERT_OK(unlink(pd));
    struct authz_policy_info pi;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(authz_policy_reload(w.az, &pi, &err));
    ASSERT(pi.changed);
    ASSERT_EQ(pi.npolicies, 0);
    ASSERT_OK(decide(&w, NULL, "read", "demo", "/a.txt", NULL, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "no policy permits Operator::\"local\" to read File::\"demo:/a.txt\"");
    sb_free(&err);
    world_free(&w);
}

TEST(authz_engine_agent_needs_token_bound_to_it)
{
    struct world w;
    world_init(&w);
    struct authz_result res;
    struct strbuf tok = STRBUF_INIT;
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", NULL, &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EUNAUTH);
    ASSERT_STR_CONTAINS(res.reason, "capability token is required");
    mint(&w, "demo", TOKEN_ACT_READ | TOKEN_ACT_WRITE, "demo", "/", &tok);
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.policies, "demo-rw");
    ASSERT_EQ(strlen(res.token_id), TOKEN_ID_HEX_LEN);
    ASSERT_OK(decide(&w, "demo", "write", "demo", "/sub/dir/new.txt", tok.buf, &res));
    ASSERT(res.allow);
    /* an action the token does not carry, even where policy permits */
    ASSERT_OK(decide(&w, "demo", "delete", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EDENIED);
    ASSERT_STR_CONTAINS(res.reason, "capability token");
    /* another agent presenting it */
    ASSERT_OK(decide(&w, "helper", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "agent");
    /* a resource outside the token */
    ASSERT_OK(decide(&w, "demo", "read", "scratch", "/x", tok.buf, &res));
    ASSERT(!res.allow);
    /* garbage */
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", "AAAA", &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EBADTOKEN);
    /* revocation by epoch kills it on the next decision */
    ASSERT_OK(authz_agent_revoke(w.ids, "demo", NULL));
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EREVOKED);
    /* a fresh one works; then revoke that one by id */
    mint(&w, "demo", TOKEN_ACT_READ, "demo", "/hello.txt", &tok);
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(res.allow);
    ASSERT_OK(authz_token_revoke(w.ids, res.token_id, util_now_ns() / 1000000000ull + 600));
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT_EQ(res.err, CUSTODY_EREVOKED);
    /* quarantine */
    mint(&w, "demo", TOKEN_ACT_READ, "demo", "/hello.txt", &tok);
    ASSERT_OK(authz_agent_quarantine(w.ids, "demo", true));
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT_EQ(res.err, CUSTODY_EQUARANTINED);
    sb_free(&tok);
    world_free(&w);
}

TEST(authz_engine_mint_follows_policy)
{
    struct world w;
    world_init(&w);
    struct authz_subject who = {.peer_uid = -1};
    struct authz_result res;
    struct strbuf tok = STRBUF_INIT;
    uint64_t exp;
    /* helper may only read (team-read), not write outside notes/ */
    struct authz_mint m = {.agent = authz_agent_find(w.ids, "helper"),
                           .actions = TOKEN_ACT_WRITE,
                           .root = "demo",
                           .path = "/hello.txt"};
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT(!res.allow);
    ASSERT_EQ(res.err, CUSTODY_EDENIED);
    ASSERT_EQ(tok.len, 0);
    /* ... but write under demo:/notes/ through its user alice */
    m.path = "/notes/";
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.policies, "alice-notes");
    struct token_info info;
    ASSERT_OK(token_inspect(tok.buf, &info, NULL));
    ASSERT_STR_EQ(info.eff.resource, "demo:/notes/");
    ASSERT(info.eff.resource_prefix);
    ASSERT_EQ(info.eff.npolicies, 1);
    ASSERT_STR_EQ(info.eff.policies[0], "alice-notes");
    ASSERT_EQ(info.eff.expires - info.eff.issued, w.cfg->token_ttl_default_s);
    token_info_free(&info);
    ASSERT_OK(decide(&w, "helper", "write", "demo", "/notes/todo.md", tok.buf, &res));
    ASSERT(res.allow);
    /* two actions, each permitted by its own policy: the token names both */
    m.actions = TOKEN_ACT_READ | TOKEN_ACT_WRITE;
    sb_reset(&tok);
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT(res.allow);
    ASSERT_EQ(res.npolicy, 2);
    ASSERT_STR_EQ(res.policy_ids[0], "team-read");
    ASSERT_STR_EQ(res.policy_ids[1], "alice-notes");
    ASSERT_STR_CONTAINS(res.reason, "permitted by policy team-read,alice-notes");
    ASSERT_OK(token_inspect(tok.buf, &info, NULL));
    ASSERT_EQ(info.eff.npolicies, 2);
    token_info_free(&info);
    /* a sensitive root caps the lifetime at 60 s */
    m.actions = TOKEN_ACT_LIST;
    m.root = "records";
    m.path = "/";
    m.ttl = 3000;
    sb_reset(&tok);
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.policies, "team-read");
    ASSERT_OK(token_inspect(tok.buf, &info, NULL));
    ASSERT_EQ(info.eff.expires - info.eff.issued, TOKEN_TTL_SENSITIVE_S);
    token_info_free(&info);
    /* the caps come from config.yaml (tokens.*) */
    w.cfg->token_ttl_sensitive_s = 20;
    w.cfg->token_ttl_default_s = 45;
    sb_reset(&tok);
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT_OK(token_inspect(tok.buf, &info, NULL));
    ASSERT_EQ(info.eff.expires - info.eff.issued, 20);
    token_info_free(&info);
    m.ttl = 0;
    m.root = "demo";
    m.path = "/notes/";
    m.actions = TOKEN_ACT_WRITE;
    sb_reset(&tok);
    ASSERT_OK(authz_mint(w.az, &who, &m, &tok, &exp, &res));
    ASSERT_OK(token_inspect(tok.buf, &info, NULL));
    ASSERT_EQ(info.eff.expires - info.eff.issued, 45);
    token_info_free(&info);
    sb_free(&tok);
    world_free(&w);
}

TEST(authz_engine_context_and_moves)
{
    struct world w;
    world_init(&w);
    struct authz_result res;
    struct authz_subject who = {.peer_uid = 1000};
    /* range_length in the context */
    struct strbuf tok = STRBUF_INIT;
    ASSERT_OK(authz_agent_add(w.ids, "x", "", NULL, 0, w.pub, NULL)); /* entities rebuilt */
    who.agent = authz_agent_find(w.ids, "ranger");
    struct authz_request rq = {.who = &who, .action = "read", .root = "demo", .path = "/big.bin"};
    ASSERT_OK(authz_decide(w.az, &rq, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "forbidden by policy small-ranges");
    rq.has_range = true;
    rq.range_first = 0;
    rq.range_last = 4095;
    ASSERT_OK(authz_decide(w.az, &rq, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.policies, "team-read");
    rq.range_last = 4096;
    ASSERT_OK(authz_decide(w.az, &rq, &res));
    ASSERT(!res.allow);
    /* moves: out of a sensitive root is refused even for the attested operator */
    who.agent = NULL;
    who.attested = true;
    struct authz_request mv = {.who = &who,
                               .action = "move",
                               .root = "records",
                               .path = "/p.txt",
                               .root2 = "demo",
                               .path2 = "/p.txt"};
    ASSERT_OK(authz_decide(w.az, &mv, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "no-phi-export");
    mv.root2 = "records";
    mv.path2 = "/q.txt";
    ASSERT_OK(authz_decide(w.az, &mv, &res));
    ASSERT(res.allow);
    /* both ends are decided: demo may move within demo only */
    who.agent = authz_agent_find(w.ids, "demo");
    mint(&w, "demo", TOKEN_ACT_MOVE, "demo", "/", &tok);
    struct authz_request mv2 = {.who = &who,
                                .action = "move",
                                .root = "demo",
                                .path = "/a",
                                .root2 = "demo",
                                .path2 = "/b",
                                .token = tok.buf,
                                .token_required = true};
    ASSERT_OK(authz_decide(w.az, &mv2, &res));
    ASSERT(res.allow);
    mv2.root2 = "scratch";
    ASSERT_OK(authz_decide(w.az, &mv2, &res));
    ASSERT(!res.allow); /* the token's prefix, and no policy for scratch */
    sb_free(&tok);
    world_free(&w);
}

TEST(authz_engine_reload_is_atomic_and_explained)
{
    struct world w;
    world_init(&w);
    struct authz_policy_info before, pi;
    authz_policy_info(w.az, &before);
    ASSERT_EQ(before.npolicies, 7);
    ASSERT_EQ(before.nfiles, 1);
    struct strbuf err = STRBUF_INIT;
    write_policy(w.dir, "zz-broken.cedar", "permit (principal, action, resource)\nwhen { 1 + };");
    ASSERT_EQ(authz_policy_reload(w.az, &pi, &err), CUSTODY_ESYNTAX);
    ASSERT_STR_CONTAINS(err.buf, "zz-broken.cedar:2:");
    authz_policy_info(w.az, &pi);
    ASSERT_STR_EQ(pi.hash, before.hash); /* the running set stayed */
    write_policy(w.dir, "zz-broken.cedar", "@id(\"extra\") forbid (principal, action, resource "
                                           "in Folder::\"demo:/secret\");");
    sb_reset(&err);
    ASSERT_OK(authz_policy_reload(w.az, &pi, &err));
    ASSERT(pi.changed);
    ASSERT_STR_EQ(pi.old_hash, before.hash);
    ASSERT_EQ(pi.nfiles, 2);
    struct authz_result res;
    ASSERT_OK(decide(&w, NULL, "read", "demo", "/secret/deep/x.txt", NULL, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "forbidden by policy extra");
    /* explain names each relevant policy and what held */
    struct authz_subject who = {.peer_uid = -1, .agent = authz_agent_find(w.ids, "helper")};
    struct authz_request rq = {.who = &who, .action = "read", .root = "records", .path = "/p"};
    struct strbuf out = STRBUF_INIT;
    ASSERT_OK(authz_explain(w.az, NULL, &rq, NULL, false, &out, &err));
    ASSERT_STR_CONTAINS(out.buf, "phi-attested");
    ASSERT_STR_CONTAINS(out.buf, "team-read");
    sb_reset(&out);
    ASSERT_OK(authz_explain(w.az, NULL, &rq, "{\"attested\": true}", true, &out, &err));
    ASSERT_STR_CONTAINS(out.buf, "\"decision\":\"allow\"");
    sb_free(&out);
    sb_free(&err);
    world_free(&w);
}

/* An agent hands its token to a sub-agent offline (`delegate = NAME`): only
 * the sub-agent may present it, it keeps the original agent's binding and
 * rights, and it dies with the original agent's epoch. */
TEST(authz_engine_delegation)
{
    struct world w;
    world_init(&w);
    struct strbuf tok = STRBUF_INIT, sub = STRBUF_INIT, why = STRBUF_INIT;
    struct authz_result res;
    mint(&w, "demo", TOKEN_ACT_READ | TOKEN_ACT_WRITE, "demo", "/", &tok);
    const char *cav[] = {"delegate = helper", "action in read"};
    ASSERT_OK(token_attenuate(tok.buf, cav, 2, &sub, &why));
    /* helper (whose own policies allow no writes to demo:/x) uses demo's rights, narrowed */
    ASSERT_OK(decide(&w, "helper", "read", "demo", "/hello.txt", sub.buf, &res));
    ASSERT(res.allow);
    ASSERT_STR_EQ(res.delegated_by, "demo");
    ASSERT_STR_EQ(res.policies, "demo-rw");
    ASSERT_STR_CONTAINS(res.reason, "handed over by agent demo");
    ASSERT_OK(decide(&w, "helper", "write", "demo", "/x.txt", sub.buf, &res));
    ASSERT(!res.allow); /* the handed-over token was narrowed to read */
    ASSERT_STR_CONTAINS(res.reason, "action");
    /* nobody else may present it, not even demo itself */
    ASSERT_OK(decide(&w, "ranger", "read", "demo", "/hello.txt", sub.buf, &res));
    ASSERT(!res.allow);
    ASSERT_OK(decide(&w, "demo", "read", "demo", "/hello.txt", sub.buf, &res));
    ASSERT(!res.allow);
    ASSERT_STR_CONTAINS(res.reason, "handed to another agent");
    /* without the delegate caveat, helper cannot use demo's token */
    ASSERT_OK(decide(&w, "helper", "read", "demo", "/hello.txt", tok.buf, &res));
    ASSERT(!res.allow);
    /* a second, different delegate makes the token unusable: attenuation refuses it */
    const char *again[] = {"delegate = ranger"};
    struct strbuf bad = STRBUF_INIT;
    sb_reset(&why);
    ASSERT_EQ(token_attenuate(sub.buf, again, 1, &bad, &why), CUSTODY_EINVAL);
    /* revoking demo kills what it handed over; so does quarantining it */
    ASSERT_OK(authz_agent_quarantine(w.ids, "demo", true));
    ASSERT_OK(decide(&w, "helper", "read", "demo", "/hello.txt", sub.buf, &res));
    ASSERT_EQ(res.err, CUSTODY_EQUARANTINED);
    ASSERT_OK(authz_agent_quarantine(w.ids, "demo", false));
    ASSERT_OK(authz_agent_revoke(w.ids, "demo", NULL));
    ASSERT_OK(decide(&w, "helper", "read", "demo", "/hello.txt", sub.buf, &res));
    ASSERT_EQ(res.err, CUSTODY_EREVOKED);
    sb_free(&bad);
    sb_free(&tok);
    sb_free(&sub);
    sb_free(&why);
    world_free(&w);
}
