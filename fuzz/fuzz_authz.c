/*
 * fuzz_authz.c — libFuzzer target for src/authz's decision path: the
 * resource mapping (paths of any depth and bytes), the context, the token
 * check and the policy decision together, as custodyd runs them for
 * every request.
 *
 * Input: lines "ACTION\nROOT\nPATH\nTOKEN\nDEST" (missing lines are
 * empty; an empty TOKEN means none), decided for the agent "fz" and for
 * the operator. Besides crashes, leaks and timeouts it checks what must
 * always hold:
 *   - a decision is allow (err 0, a determining policy named) or a refusal
 *     with an error code and a reason;
 *   - an agent's data-plane request without a valid token is never
 *     allowed (the fuzzer cannot forge a MAC);
 *   - a refusal never becomes an allow when asked again (decisions are
 *     deterministic).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authz/authz.h"
#include "custody/custody.h"

static struct authz *g_az;
static struct authz_agent g_agent;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_authz: %s\n", what);
        abort();
    }
}

static const char POLICY[] =
    "@id(\"op\") permit (principal is Operator, action, resource);\n"
    "@id(\"fz\") permit (principal == Agent::\"fz\", action in Action::\"readwrite\",\n"
    "  resource in Root::\"demo\") when { context.time > 0 };\n"
    "@id(\"team\") permit (principal in Group::\"g\", action in Action::\"readonly\", resource)\n"
    "  when { resource has labels && resource.labels has classification &&\n"
    "         resource.labels.classification like \"p*\" };\n"
    "@id(\"deep\") forbid (principal, action, resource in Folder::\"demo:/a/b/c\")\n"
    "  unless { context has range_length && context.range_length < 10 };\n"
    "@id(\"phi\") forbid (principal, action == Action::\"move\", resource)\n"
    "  when { context has destination && resource.sensitive && !context.destination.sensitive };\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char dir[] = "/tmp/fuzz-authz-XXXXXX";
    check(mkdtemp(dir) != NULL, "mkdtemp");
    char pd[64], pf[96];
    snprintf(pd, sizeof pd, "%s/policy", dir);
    snprintf(pf, sizeof pf, "%s/main.cedar", pd);
    check(util_mkdir_p(pd, 0700) == 0, "mkdir");
    check(util_write_file_atomic(pf, POLICY, strlen(POLICY), 0600) == 0, "write policy");
    struct custody_config *cfg = config_new_default(dir);
    static struct cfg_label pub = {"classification", "public"}, phi = {"classification", "phi"};
    cfg->roots = util_calloc(2, sizeof *cfg->roots);
    config_root_copy(&cfg->roots[0], &(struct cfg_root){"demo", "/nonexistent/a", &pub, 1});
    config_root_copy(&cfg->roots[1], &(struct cfg_root){"records", "/nonexistent/b", &phi, 1});
    cfg->nroots = 2;
    util_strlcpy(g_agent.name, "fz", sizeof g_agent.name);
    util_strlcpy(g_agent.principal, "alice", sizeof g_agent.principal);
    util_strlcpy(g_agent.groups[0], "g", sizeof g_agent.groups[0]);
    g_agent.ngroups = 1;
    util_strlcpy(g_agent.key_fp, "ed25519:00", sizeof g_agent.key_fp);
    static const uint8_t key[TOKEN_KEY_LEN] = {1, 2, 3};
    struct strbuf err = STRBUF_INIT;
    struct authz_opts o = {.cfg = cfg, .agents = &g_agent, .nagents = 1, .token_key = key};
    check(authz_new(&o, &g_az, &err) == 0, err.buf ? err.buf : "authz_new");
    config_unref(cfg);
    unlink(pf);
    rmdir(pd);
    rmdir(dir);
    return 0;
}

static void decide(const struct authz_subject *who, struct authz_request *rq)
{
    struct authz_result a, b;
    int rc = authz_decide(g_az, rq, &a);
    check(rc == 0 || !a.allow, "an error that allows");
    if (rc) return;
    if (a.allow) {
        check(a.err == 0 && a.npolicy > 0, "an allow without a determining policy");
        check(!(who->agent && rq->root && !rq->token), "an agent allowed without a token");
    } else {
        check(a.err < 0 && a.reason[0], "a refusal without a code or a reason");
    }
    check(authz_decide(g_az, rq, &b) == 0 && b.allow == a.allow && b.err == a.err,
          "the same request decided twice differently");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *f[5] = {"", "", "", "", ""};
    char *p = buf;
    for (int i = 0; i < 5 && p; i++) {
        f[i] = p;
        p = strchr(p, '\n');
        if (p) *p++ = '\0';
    }
    const char *actions[] = {"read", "write", "list", "move", "delete", "model.load", f[0]};
    struct authz_subject agent = {.agent = &g_agent, .peer_uid = 1000};
    struct authz_subject op = {.peer_uid = -1, .attested = true};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        for (int w = 0; w < 2; w++) {
            struct authz_request rq = {
                .who = w ? &agent : &op,
                .action = actions[i],
                .root = f[1][0] ? f[1] : NULL,
                .path = f[2],
                .dir = i == 2,
                .entity_type = f[1][0] ? NULL : "Token",
                .entity_id = f[1][0] ? NULL : f[2],
                .token = f[3][0] ? f[3] : NULL,
                .token_required = w == 1,
                .has_range = size % 3 == 0,
                .range_first = size,
                .range_last = size + (size % 17),
                .now = 1767225600,
            };
            if (i == 3 && f[4][0]) {
                rq.root2 = "records";
                rq.path2 = f[4];
            }
            decide(rq.who, &rq);
        }
    }
    free(buf);
    return 0;
}
