/*
 * fuzz_policy.c — libFuzzer target for src/policy's parser and evaluator.
 *
 * Each input is policy text (an exact-size copy, so ASan catches any
 * over-read), parsed with and without @id ids and, when it parses,
 * authorized and explained for a few requests against a small fixed store.
 * Besides crashes, leaks, timeouts and stack overflows it checks what must
 * always hold:
 *   - parsing answers 0, ESYNTAX, EUNSUPPORTED, ETOOBIG or EINVAL, with a
 *     "fuzz:line:column: " message on error;
 *   - every policy's source text lies within the input;
 *   - a decision's reasons are ascending, all of one effect (forbids when
 *     denied by one, permits when allowed), disjoint from its errors, and
 *     allow holds exactly when there are permit reasons and no forbid;
 *   - policy_explain (which evaluates every policy, without the index)
 *     agrees: same decision, the same number of reasons and of errors, so
 *     the index never misses a policy; both renderings succeed and the
 *     JSON one is valid JSON.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_policy: %s\n", what);
        abort();
    }
}

#define ENTITIES                                                                                   \
    "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},\"attrs\":{\"age\":30,\"name\":\"a\","         \
    "\"tags\":[\"x\",\"y\"],\"boss\":{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}},"           \
    "\"ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.1\"}}},"                                   \
    "\"parents\":[{\"type\":\"Group\",\"id\":\"g\"}],\"tags\":{\"t\":1}},"                         \
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{\"age\":-1},"                          \
    "\"parents\":[{\"type\":\"Group\",\"id\":\"h\"}]},"                                            \
    "{\"uid\":{\"type\":\"Group\",\"id\":\"g\"},\"parents\":[{\"type\":\"Group\",\"id\":\"h\"}]}," \
    "{\"uid\":{\"type\":\"Group\",\"id\":\"h\"},\"parents\":[{\"type\":\"Group\",\"id\":\"g\"}]}," \
    "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},\"parents\":[{\"type\":\"Action\",\"id\":"     \
    "\"all\"}]},"                                                                                  \
    "{\"uid\":{\"type\":\"File\",\"id\":\"f\"},\"attrs\":{\"size\":9,\"owner\":"                   \
    "{\"__entity\":{\"type\":\"User\",\"id\":\"alice\"}},\"labels\":[\"secret\"]},"                \
    "\"parents\":[{\"type\":\"Root\",\"id\":\"r\"}]}]"

#define CONTEXT                                                                                    \
    "{\"hour\":10,\"mfa\":true,\"s\":\"\",\"d\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.5\"}}" \
    ","                                                                                            \
    "\"when\":{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2024-10-15T11:38:02Z\"}}}"

static struct policy_entities *g_es;
static struct policy_doc *g_ctx;

static void setup(void)
{
    if (g_es) return;
    struct strbuf err = STRBUF_INIT;
    g_es = policy_entities_new();
    check(policy_entities_load_json(g_es, ENTITIES, strlen(ENTITIES), 0, &err) == 0, "entities");
    check(policy_doc_parse(CONTEXT, strlen(CONTEXT), 0, &g_ctx, &err) == 0, "context");
    sb_free(&err);
}

static void decide(const struct policy_set *set, const struct policy_request *req)
{
    static struct policy_response resp; /* warm across inputs, as in custodyd */
    if (!resp.scratch) policy_response_init(&resp);
    check(policy_authorize(set, g_es, req, &resp) == 0, "authorize failed");
    bool forbid = false, permit = false;
    for (size_t i = 0; i < resp.nreasons; i++) {
        check(i == 0 || resp.reasons[i - 1] < resp.reasons[i], "reasons not ascending");
        const struct policy_info *info = policy_set_info(set, resp.reasons[i]);
        check(info != NULL, "reason out of range");
        forbid |= info->effect == POLICY_FORBID;
        permit |= info->effect == POLICY_PERMIT;
        for (size_t k = 0; k < resp.nerrors; k++)
            check(resp.errors[k].policy != resp.reasons[i], "a reason that errored");
    }
    check(!(forbid && permit), "reasons of both effects");
    check((resp.decision == POLICY_ALLOW) == permit, "decision does not follow the reasons");
    for (size_t k = 0; k < resp.nerrors; k++) {
        check(k == 0 || resp.errors[k - 1].policy < resp.errors[k].policy, "errors not ascending");
        check(resp.errors[k].message != NULL, "error without a message");
    }

    struct policy_explanation ex;
    check(policy_explain(set, g_es, req, POLICY_EXPLAIN_ALL, &ex) == 0, "explain failed");
    check(ex.decision == resp.decision, "explain decides differently");
    check(ex.nentries == policy_set_count(set), "explain missed policies");
    /* explain evaluates every policy, without the index: an oracle for it */
    size_t nforbid = 0, npermit = 0, nerr = 0;
    for (size_t i = 0; i < ex.nentries; i++) {
        const struct policy_explain_entry *en = &ex.entries[i];
        check(!(en->satisfied && en->errored), "satisfied and errored");
        nerr += en->errored;
        if (en->satisfied)
            policy_set_info(set, en->policy)->effect == POLICY_FORBID ? nforbid++ : npermit++;
    }
    check(nerr == resp.nerrors, "the index missed an erroring policy");
    if (nforbid)
        check(resp.decision == POLICY_DENY && forbid && resp.nreasons == nforbid,
              "the index missed a satisfied forbid");
    else if (npermit)
        check(resp.decision == POLICY_ALLOW && resp.nreasons == npermit,
              "the index missed a satisfied permit");
    else
        check(resp.decision == POLICY_DENY && resp.nreasons == 0, "a decision from nothing");
    struct strbuf sb = STRBUF_INIT;
    check(policy_explain_text(set, req, &ex, &sb) == 0, "explain text");
    sb_reset(&sb);
    check(policy_explain_json(set, req, &ex, &sb) == 0, "explain json");
    json_error_t je;
    json_t *j = json_loadb(sb.buf, sb.len, JSON_ALLOW_NUL, &je);
    check(j != NULL, "explain JSON does not parse");
    json_decref(j);
    sb_free(&sb);
    policy_explanation_free(&ex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    for (int ids = 0; ids < 2; ids++) {
        struct policy_opts opts = {.id_annotation = ids == 1};
        struct policy_set *set = NULL;
        struct strbuf err = STRBUF_INIT;
        int rc = policy_set_parse(text, size, "fuzz", &opts, &set, &err);
        check(rc == 0 || rc == CUSTODY_ESYNTAX || rc == CUSTODY_EUNSUPPORTED ||
                  rc == CUSTODY_ETOOBIG || rc == CUSTODY_EINVAL,
              "parse return code");
        if (rc) {
            check(set == NULL && err.buf && strncmp(err.buf, "fuzz", 4) == 0, "parse message");
            sb_free(&err);
            break;
        }
        for (size_t i = 0; i < policy_set_count(set); i++) {
            const struct policy_info *info = policy_set_info(set, i);
            check(info->id && info->text_len > 0 && info->text_len <= size, "policy text");
        }
        struct policy_request req = {.principal = policy_uid_make("User", "alice"),
                                     .action = policy_uid_make("Action", "read"),
                                     .resource = policy_uid_make("File", "f"),
                                     .context = policy_doc_value(g_ctx)};
        decide(set, &req);
        if (ids == 0) {
            req.principal = policy_uid_make("User", "nobody");
            req.action = policy_uid_make("Action", "write");
            req.context = NULL;
            decide(set, &req);
        }
        char hash[UTIL_SHA256_HEX_LEN + 1];
        policy_set_hash(set, hash);
        check(strlen(hash) == UTIL_SHA256_HEX_LEN, "hash");
        policy_set_free(set);
        sb_free(&err);
    }
    free(text);
    return 0;
}
