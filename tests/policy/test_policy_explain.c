/* test_policy_explain.c — policy_explain and its text and JSON renderings
 * (src/policy/explain.c). */
#include <jansson.h>

#include "policy_test.h"

static const char *g_policies =
    "@id(\"read-own\")\n"
    "permit(principal, action == Action::\"read\", resource)\n"
    "  when { resource.owner == principal }\n"
    "  unless { context.hour > 20 };\n"
    "@id(\"no-secrets\")\n"
    "forbid(principal, action, resource in Root::\"r1\")\n"
    "  when { resource.labels.contains(\"secret\") && !context.mfa };\n"
    "@id(\"broken\")\n"
    "permit(principal in Group::\"eng\", action, resource) when { resource.nope == 1 };\n"
    "@id(\"writers\")\n"
    "permit(principal, action == Action::\"write\", resource);\n"
    "@id(\"bob\")\n"
    "permit(principal == User::\"bob\", action, resource);\n";

static struct policy_set *parse_set(void)
{
    struct policy_opts opts = {.id_annotation = true};
    struct policy_set *set;
    struct strbuf err = STRBUF_INIT;
    if (policy_set_parse(g_policies, strlen(g_policies), "rules.cedar", &opts, &set, &err))
        TEST_FAIL_("%s", err.buf);
    sb_free(&err);
    return set;
}

TEST(policy_explain_entries)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_set *set = parse_set();
    struct policy_explanation ex;
    ASSERT_OK(policy_explain(set, w.es, &w.req, 0, &ex));
    ASSERT_EQ(POLICY_ALLOW, ex.decision);
    ASSERT_EQ(5, ex.npolicies);
    ASSERT_EQ(4, ex.nentries); /* "writers" is for another action */

    const struct policy_explain_entry *e = &ex.entries[0]; /* read-own */
    ASSERT_EQ(0, e->policy);
    ASSERT_EQ(POLICY_SCOPE_MATCH, e->principal);
    ASSERT_EQ(POLICY_SCOPE_MATCH, e->action);
    ASSERT(e->satisfied && e->determining && !e->errored);
    ASSERT_EQ(2, e->nconds);
    ASSERT_EQ(POLICY_COND_HELD, e->conds[0].result);
    ASSERT_EQ(POLICY_COND_HELD, e->conds[1].result); /* unless {false} lets it apply */
    ASSERT(e->conds[1].unless);
    ASSERT_EQ(4, e->conds[1].line);

    e = &ex.entries[1]; /* no-secrets: scope matches, the condition fails */
    ASSERT(!e->satisfied && !e->errored);
    ASSERT_EQ(POLICY_COND_FAILED, e->conds[0].result);

    e = &ex.entries[2]; /* broken */
    ASSERT(e->errored && !e->satisfied);
    ASSERT_EQ(POLICY_COND_ERROR, e->conds[0].result);
    ASSERT_STR_CONTAINS(e->conds[0].message, "attribute \"nope\" not found");

    e = &ex.entries[3]; /* bob: the scope does not match, nothing evaluated */
    ASSERT_EQ(4, e->policy);
    ASSERT_EQ(POLICY_SCOPE_NO_MATCH, e->principal);
    ASSERT(!e->satisfied);
    policy_explanation_free(&ex);

    /* with ALL, every policy; a skipped clause after a failing one */
    w.req.action = policy_uid_make("Action", "write");
    ASSERT_OK(policy_explain(set, w.es, &w.req, POLICY_EXPLAIN_ALL, &ex));
    ASSERT_EQ(5, ex.nentries);
    ASSERT_EQ(POLICY_SCOPE_NO_MATCH, ex.entries[0].action);
    ASSERT_EQ(POLICY_COND_SKIPPED, ex.entries[0].conds[0].result);
    ASSERT(ex.entries[3].determining);
    policy_explanation_free(&ex);
    policy_set_free(set);
    pt_world_free(&w);
}

TEST(policy_explain_text)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_set *set = parse_set();
    struct policy_explanation ex;
    ASSERT_OK(policy_explain(set, w.es, &w.req, 0, &ex));
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(policy_explain_text(set, &w.req, &ex, &sb));
    ASSERT_STR_CONTAINS(sb.buf, "decision: ALLOW\n");
    ASSERT_STR_CONTAINS(sb.buf, "request: principal User::\"alice\", action Action::\"read\", "
                                "resource File::\"f1\"\n");
    ASSERT_STR_CONTAINS(sb.buf, "policies: 4 of 5 shown\n");
    ASSERT_STR_CONTAINS(sb.buf, "read-own (permit) rules.cedar:1:1: determining\n");
    ASSERT_STR_CONTAINS(sb.buf, "  action    match    action == Action::\"read\"\n");
    ASSERT_STR_CONTAINS(sb.buf, "  held               unless { context.hour > 20 }\n");
    ASSERT_STR_CONTAINS(sb.buf, "no-secrets (forbid) rules.cedar:5:1: conditions not met\n");
    ASSERT_STR_CONTAINS(sb.buf, "  resource  match    resource in Root::\"r1\"\n");
    ASSERT_STR_CONTAINS(sb.buf, "broken (permit) rules.cedar:8:1: error\n");
    ASSERT_STR_CONTAINS(sb.buf, "attribute \"nope\" not found on File::\"f1\"");
    ASSERT_STR_CONTAINS(sb.buf, "bob (permit) rules.cedar:12:1: scope does not match\n");
    ASSERT_STR_CONTAINS(sb.buf, "  principal no match principal == User::\"bob\"\n");
    sb_free(&sb);
    policy_explanation_free(&ex);
    policy_set_free(set);
    pt_world_free(&w);
}

TEST(policy_explain_json)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_set *set = parse_set();
    struct policy_explanation ex;
    w.req.context = NULL; /* {}: now `context.hour` errors in read-own */
    ASSERT_OK(policy_explain(set, w.es, &w.req, 0, &ex));
    ASSERT_EQ(POLICY_DENY, ex.decision);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(policy_explain_json(set, &w.req, &ex, &sb));
    json_error_t je;
    json_t *j = json_loads(sb.buf, 0, &je);
    if (!j) TEST_FAIL_("invalid JSON: %s\n%s", je.text, sb.buf);
    ASSERT_STR_EQ("deny", json_string_value(json_object_get(j, "decision")));
    ASSERT_EQ(64, strlen(json_string_value(json_object_get(j, "policy_set_sha256"))));
    ASSERT_STR_EQ("User::\"alice\"",
                  json_string_value(json_object_get(json_object_get(j, "request"), "principal")));
    json_t *errs = json_object_get(j, "errors");
    ASSERT_EQ(3, json_array_size(errs)); /* read-own, no-secrets, broken */
    ASSERT_STR_EQ("read-own", json_string_value(json_object_get(json_array_get(errs, 0), "id")));
    json_t *p0 = json_array_get(json_object_get(j, "policies"), 0);
    ASSERT_STR_EQ("read-own", json_string_value(json_object_get(p0, "id")));
    ASSERT_STR_EQ("read-own",
                  json_string_value(json_object_get(json_object_get(p0, "annotations"), "id")));
    json_t *scope = json_object_get(p0, "scope");
    ASSERT(json_is_true(json_object_get(json_object_get(scope, "action"), "match")));
    ASSERT_STR_EQ(
        "action == Action::\"read\"",
        json_string_value(json_object_get(json_object_get(scope, "action"), "constraint")));
    json_t *c1 = json_array_get(json_object_get(p0, "conditions"), 1);
    ASSERT_STR_EQ("unless", json_string_value(json_object_get(c1, "kind")));
    ASSERT_STR_EQ("error", json_string_value(json_object_get(c1, "result")));
    ASSERT_STR_CONTAINS(json_string_value(json_object_get(c1, "message")), "hour");
    ASSERT_STR_EQ("unless { context.hour > 20 }", json_string_value(json_object_get(c1, "text")));
    ASSERT(json_is_true(json_object_get(p0, "errored")));
    json_decref(j);
    sb_free(&sb);
    policy_explanation_free(&ex);
    policy_set_free(set);
    pt_world_free(&w);
}
