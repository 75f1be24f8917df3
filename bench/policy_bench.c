/*
 * policy_bench.c — the Cedar policy engine (src/policy) on one core
 * (`make bench`).
 *
 * For 10, 100 and 1,000 generated policies — per-agent and per-group
 * permits on roots, a few forbids (guardrails) on labels, on the source
 * address and on quarantined agents, `when` / `unless` clauses on the
 * context and on resource attributes (see make_policies) — over a store of
 * 500 agents in 20 groups, 10 roots, 200 folders and 20,000 files, it
 * measures:
 *
 *   1. throughput: decisions per second, one thread, back to back;
 *   2. latency: p50 / p99 / p99.9 / max of single decisions, timed one by one.
 *
 * Requests (a random agent, action and file — in the agent's own root 3
 * times in 4 — with a context record of hour, mfa and source IP) are made
 * up front; what is timed is policy_authorize
 * alone, with one warm policy_response (no allocation per decision).
 * Prints PASS / FAIL against the goal: >= 1,000,000 decisions/s and
 * p99 <= 10 us at 100 policies. A benchmark, not a test: exits 0 when it
 * could run. Environment: BENCH_SECONDS (per measurement, default 1),
 * BENCH_POLICIES (run only that size).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define AGENTS 500
#define GROUPS 20
#define ROOTS 10
#define FOLDERS_PER_ROOT 20
#define FILES_PER_FOLDER 100
#define NREQ 8192

static double seconds = 1;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *actions[] = {"read", "list", "write", "delete"};

static void die(const char *what, int rc, const struct strbuf *err)
{
    fprintf(stderr, "policy_bench: %s: %s %s\n", what, custody_strerror(rc),
            err && err->buf ? err->buf : "");
    exit(1);
}

static struct policy_entities *make_store(void)
{
    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    char id[64], pid[64], attrs[256];
    int rc;
    for (int g = 0; g < GROUPS; g++) {
        snprintf(id, sizeof id, "g%d", g);
        struct policy_uid u = policy_uid_make("Group", id), all = policy_uid_make("Group", "all");
        if ((rc = policy_entities_add(es, &u, NULL, &all, 1, NULL))) die("group", rc, NULL);
    }
    for (int a = 0; a < AGENTS; a++) {
        snprintf(id, sizeof id, "a%d", a);
        snprintf(pid, sizeof pid, "g%d", a % GROUPS);
        struct policy_uid u = policy_uid_make("Agent", id), g = policy_uid_make("Group", pid);
        snprintf(attrs, sizeof attrs, "{\"quarantined\": %s, \"team\": \"t%d\"}",
                 a % 97 == 0 ? "true" : "false", a % 7);
        if ((rc = policy_entities_add_json(es, &u, attrs, strlen(attrs), &g, 1, &err)))
            die("agent", rc, &err);
    }
    for (int r = 0; r < ROOTS; r++) {
        snprintf(id, sizeof id, "r%d", r);
        struct policy_uid u = policy_uid_make("Root", id);
        if ((rc = policy_entities_add(es, &u, NULL, NULL, 0, NULL))) die("root", rc, NULL);
        for (int d = 0; d < FOLDERS_PER_ROOT; d++) {
            snprintf(pid, sizeof pid, "r%d:/d%d", r, d);
            struct policy_uid fu = policy_uid_make("Folder", pid);
            if ((rc = policy_entities_add(es, &fu, NULL, &u, 1, NULL))) die("folder", rc, NULL);
            for (int f = 0; f < FILES_PER_FOLDER; f++) {
                char fid[64];
                snprintf(fid, sizeof fid, "r%d:/d%d/f%d.txt", r, d, f);
                struct policy_uid file = policy_uid_make("File", fid);
                snprintf(attrs, sizeof attrs,
                         "{\"size\": %u, \"labels\": [%s], \"classification\": \"%s\","
                         " \"owner\": {\"__entity\": {\"type\": \"Agent\", \"id\": \"a%u\"}}}",
                         rnd(4u << 20),
                         f % 13 == 0 ? "\"secret\""
                         : f % 5     ? "\"public\""
                                     : "",
                         f % 17 == 0 ? "restricted" : "internal", rnd(AGENTS));
                if ((rc = policy_entities_add_json(es, &file, attrs, strlen(attrs), &fu, 1, &err)))
                    die("file", rc, &err);
            }
        }
    }
    if ((rc = policy_entities_freeze(es, &err))) die("freeze", rc, &err);
    sb_free(&err);
    return es;
}

/*
 * The guardrails — one forbid on secret labels per root, one on deletes
 * from outside the office network, one on quarantined agents — are a fixed
 * dozen (or a fifth of the set, when smaller); the grants scale with the
 * set: 70 % an agent reads and lists a root, 15 % a group writes in a root
 * in office hours with MFA, 10 % an agent reads the small unrestricted
 * files of a root, 5 % owners read and write their files in a root.
 */
static void guardrail(struct strbuf *t, int k)
{
    if (k < ROOTS)
        sb_printf(t,
                  "forbid(principal, action, resource in Root::\"r%d\")\n  when { resource has "
                  "labels && resource.labels.contains(\"secret\") }\n  unless { principal in "
                  "Group::\"g0\" };\n",
                  k);
    else if (k == ROOTS)
        sb_puts(t, "forbid(principal, action == Action::\"delete\", resource)\n  unless { "
                   "context.src.isInRange(ip(\"10.0.0.0/16\")) || context.src.isLoopback() };\n");
    else
        sb_puts(t, "forbid(principal, action, resource) when { principal.quarantined };\n");
}

static void grant(struct strbuf *t, int i)
{
    /* agents mostly work in "their" root (agent % ROOTS), as requests do */
    int kind = i % 20, agent = (int)rnd(AGENTS), group = (int)rnd(GROUPS);
    int root = rnd(4) ? agent % ROOTS : (int)rnd(ROOTS);
    if (kind < 14)
        sb_printf(t,
                  "permit(principal == Agent::\"a%d\", action in [Action::\"read\", "
                  "Action::\"list\"], resource in Root::\"r%d\");\n",
                  agent, root);
    else if (kind < 17)
        sb_printf(t,
                  "permit(principal in Group::\"g%d\", action == Action::\"write\", "
                  "resource in Root::\"r%d\")\n  when { context.mfa && context.hour >= 8 && "
                  "context.hour < 20 };\n",
                  group, root);
    else if (kind < 19)
        sb_printf(t,
                  "permit(principal == Agent::\"a%d\", action == Action::\"read\", resource "
                  "is File in Root::\"r%d\")\n  when { resource.size < 1048576 && "
                  "resource.classification != \"restricted\" };\n",
                  agent, root);
    else
        sb_printf(t,
                  "permit(principal, action in [Action::\"read\", Action::\"write\"], "
                  "resource in Root::\"r%d\")\n  when { resource has owner && resource.owner "
                  "== principal };\n",
                  root);
}

static struct policy_set *make_policies(int n)
{
    struct strbuf t = STRBUF_INIT, err = STRBUF_INIT;
    int nguard = n / 5 < ROOTS + 2 ? n / 5 : ROOTS + 2;
    for (int i = 0; i < n; i++) {
        sb_printf(&t, "@id(\"p%d\")\n", i);
        if (i < nguard)
            guardrail(&t, i == 0   ? ROOTS + 1
                          : i == 1 ? ROOTS
                                   : i - 2); /* quarantine, delete, roots */
        else
            grant(&t, i);
    }
    struct policy_opts opts = {.id_annotation = true};
    struct policy_set *set = NULL;
    int rc = policy_set_parse(t.buf ? t.buf : "", t.len, "bench.cedar", &opts, &set, &err);
    if (rc) die("policies", rc, &err);
    sb_free(&t);
    sb_free(&err);
    return set;
}

struct req {
    char agent[16], file[48];
    struct policy_request r;
    struct policy_attr ctx_attrs[3];
    struct policy_value ctx;
};

static struct req *make_requests(void)
{
    struct req *q = calloc(NREQ, sizeof *q);
    for (int i = 0; i < NREQ; i++) {
        uint32_t agent = rnd(AGENTS), root = rnd(4) ? agent % ROOTS : rnd(ROOTS);
        snprintf(q[i].agent, sizeof q[i].agent, "a%u", agent);
        snprintf(q[i].file, sizeof q[i].file, "r%u:/d%u/f%u.txt", root, rnd(FOLDERS_PER_ROOT),
                 rnd(FILES_PER_FOLDER));
        q[i].r.principal = policy_uid_make("Agent", q[i].agent);
        q[i].r.action = policy_uid_make("Action", actions[rnd(4)]);
        q[i].r.resource = policy_uid_make("File", q[i].file);
        struct policy_value src = {.type = POLICY_IPADDR, .ip_prefix = 32};
        src.u.ip[0] = 10;
        src.u.ip[1] = (uint8_t)rnd(4);
        src.u.ip[3] = (uint8_t)rnd(250);
        q[i].ctx_attrs[0] = (struct policy_attr){"hour", 4, policy_long(rnd(24))};
        q[i].ctx_attrs[1] = (struct policy_attr){"mfa", 3, policy_bool(rnd(4) != 0)};
        q[i].ctx_attrs[2] = (struct policy_attr){"src", 3, src};
        policy_value_record_of(q[i].ctx_attrs, 3, &q[i].ctx);
        q[i].r.context = &q[i].ctx;
    }
    return q;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool run(int npolicies, const struct policy_entities *es, const struct req *q)
{
    struct policy_set *set = make_policies(npolicies);
    struct policy_response resp;
    policy_response_init(&resp);
    /* warm up, and gather what the index does */
    uint64_t allow = 0, cand = 0, evald = 0, errs = 0;
    for (int i = 0; i < NREQ; i++) {
        if (policy_authorize(set, es, &q[i].r, &resp)) die("authorize", -1, NULL);
        allow += resp.decision == POLICY_ALLOW;
        cand += resp.ncandidates;
        evald += resp.nevaluated;
        errs += resp.nerrors;
    }
    /* 1. throughput */
    uint64_t n = 0, t0 = util_monotonic_ns(), deadline = t0 + (uint64_t)(seconds * 1e9), t1;
    do {
        for (int i = 0; i < 4096; i++)
            policy_authorize(set, es, &q[(n + (uint64_t)i) % NREQ].r, &resp);
        n += 4096;
        t1 = util_monotonic_ns();
    } while (t1 < deadline);
    double per_sec = (double)n / ((double)(t1 - t0) / 1e9);
    /* 2. latency */
    size_t nlat = 0, cap = 1u << 20;
    uint64_t *lat = malloc(cap * sizeof *lat);
    deadline = util_monotonic_ns() + (uint64_t)(seconds * 1e9);
    while (nlat < cap) {
        const struct policy_request *r = &q[nlat % NREQ].r;
        uint64_t a = util_monotonic_ns();
        policy_authorize(set, es, r, &resp);
        uint64_t b = util_monotonic_ns();
        lat[nlat++] = b - a;
        if ((nlat & 1023) == 0 && b > deadline) break;
    }
    qsort(lat, nlat, sizeof *lat, u64_cmp);
    double p50 = (double)lat[nlat / 2] / 1e3, p99 = (double)lat[nlat * 99 / 100] / 1e3;
    double p999 = (double)lat[nlat * 999 / 1000] / 1e3, max = (double)lat[nlat - 1] / 1e3;
    bool pass = per_sec >= 1e6 && p99 <= 10.0;
    printf("%5d policies: %10.0f decisions/s   p50 %5.2f us   p99 %5.2f us   p99.9 %6.2f us   "
           "max %7.2f us   %s\n",
           npolicies, per_sec, p50, p99, p999, max, pass ? "PASS" : "FAIL");
    printf("               allowed %.1f %%, proposed by the index %.1f, evaluated %.1f, "
           "errors %.2f per decision\n",
           100.0 * (double)allow / NREQ, (double)cand / NREQ, (double)evald / NREQ,
           (double)errs / NREQ);
    free(lat);
    policy_response_free(&resp);
    policy_set_free(set);
    return pass;
}

int main(void)
{
    const char *s = getenv("BENCH_SECONDS");
    if (s && atof(s) > 0) seconds = atof(s);
    uint64_t t0 = util_monotonic_ns();
    struct policy_entities *es = make_store();
    uint64_t t1 = util_monotonic_ns();
    printf("policy_bench: %zu entities (built and frozen in %.0f ms); goal at 100 policies: "
           ">= 1,000,000 decisions/s and p99 <= 10 us (one core)\n",
           policy_entities_count(es), (double)(t1 - t0) / 1e6);
    struct req *q = make_requests();
    bool goal = true;
    int sizes[] = {10, 100, 1000};
    const char *only_s = getenv("BENCH_POLICIES");
    uint64_t only = 0;
    if (only_s && util_parse_u64(only_s, strlen(only_s), &only)) only = 0;
    for (size_t i = 0; i < 3; i++) {
        if (only && only != (uint64_t)sizes[i]) continue;
        bool pass = run(sizes[i], es, q);
        if (sizes[i] == 100) goal = pass;
    }
    printf("policy_bench: goal at 100 policies: %s\n", goal ? "PASS" : "FAIL");
    free(q);
    policy_entities_free(es);
    return 0;
}
