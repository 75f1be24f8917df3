/* test_policy_entities.c — the entity store (src/policy/entities.c,
 * json.c): Cedar's entity JSON, the programmatic API, the hierarchy
 * (transitive, cycle-safe, bounded), and bad input. */
#include "policy_test.h"

static int load(struct policy_entities *es, const char *json, struct strbuf *err)
{
    sb_reset(err);
    return policy_entities_load_json(es, json, strlen(json), 0, err);
}

static bool in(const struct policy_entities *es, const char *t1, const char *i1, const char *t2,
               const char *i2)
{
    struct policy_uid a = policy_uid_make(t1, i1), b = policy_uid_make(t2, i2);
    return policy_entities_in(es, &a, &b);
}

TEST(policy_entities_load_json_formats)
{
    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    const char *json =
        "[{\"uid\": {\"__entity\": {\"type\": \"Ns::User\", \"id\": \"a\\u0000b\"}},"
        "  \"attrs\": {\"n\": -5, \"s\": \"x\", \"set\": [3, 1, 3], \"rec\": {\"k\": true},"
        "            \"e\": {\"__entity\": {\"type\": \"G\", \"id\": \"g\"}},"
        "            \"d\": {\"__extn\": {\"fn\": \"decimal\", \"arg\": \"1.25\"}},"
        "            \"t\": {\"__extn\": {\"fn\": \"offset\", \"args\": ["
        "                  {\"__extn\": {\"fn\": \"datetime\", \"arg\": \"1970-01-01\"}},"
        "                  {\"__extn\": {\"fn\": \"duration\", \"arg\": \"1500ms\"}}]}},"
        "            \"k\\u0000\": 1},"
        "  \"parents\": [{\"type\": \"G\", \"id\": \"g\"}, {\"__entity\": {\"type\": \"G\", "
        "\"id\": \"h\"}}],"
        "  \"tags\": {\"env\": \"prod\"}},"
        " {\"uid\": {\"type\": \"G\", \"id\": \"g\"}}]";
    ASSERT_OK(load(es, json, &err));
    ASSERT_EQ(2, policy_entities_count(es));
    struct policy_uid u;
    policy_uid_init(&u, "Ns::User", 8, "a\0b", 3);
    const struct policy_value *attrs = policy_entities_attrs(es, &u);
    ASSERT_NOT_NULL(attrs);
    ASSERT_EQ(8, attrs->len);
    struct strbuf sb = STRBUF_INIT;
    policy_value_format(&sb, attrs);
    ASSERT_STR_EQ("{\"d\": decimal(\"1.2500\"), \"e\": G::\"g\", \"k\\0\": 1, \"n\": -5, "
                  "\"rec\": {\"k\": true}, \"s\": \"x\", \"set\": [1, 3], "
                  "\"t\": datetime(\"1970-01-01T00:00:01.500Z\")}",
                  sb.buf);
    struct policy_uid g = policy_uid_make("G", "g"), h = policy_uid_make("G", "h");
    ASSERT(policy_entities_in(es, &u, &g));
    ASSERT(policy_entities_in(es, &u, &h)); /* a parent that is no entity */
    ASSERT(!policy_entities_in(es, &g, &u));
    /* loading more adds; a uid that is there already is refused, atomically */
    ASSERT_OK(load(es, "[{\"uid\": {\"type\": \"G\", \"id\": \"h\"}}]", &err));
    ASSERT_EQ(3, policy_entities_count(es));
    ASSERT_EQ(CUSTODY_EEXIST, load(es,
                                   "[{\"uid\": {\"type\": \"G\", \"id\": \"new\"}},"
                                   " {\"uid\": {\"type\": \"G\", \"id\": \"g\"}}]",
                                   &err));
    ASSERT_STR_CONTAINS(err.buf, "duplicate entity G::\"g\"");
    ASSERT_EQ(3, policy_entities_count(es));
    struct policy_uid nu = policy_uid_make("G", "new");
    ASSERT_NULL(policy_entities_attrs(es, &nu));
    ASSERT_EQ(CUSTODY_EEXIST, load(es,
                                   "[{\"uid\": {\"type\": \"G\", \"id\": \"n2\"}},"
                                   " {\"uid\": {\"type\": \"G\", \"id\": \"n2\"}}]",
                                   &err));
    sb_free(&sb);
    sb_free(&err);
    policy_entities_free(es);
}

TEST(policy_entities_bad_json)
{
    static const struct {
        const char *json;
        int rc;
        const char *msg;
    } bad[] = {
        {"", CUSTODY_EINVAL, "1:1:"},
        {"[", CUSTODY_EINVAL, "unexpected end"},
        {"{}", CUSTODY_EINVAL, "array"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}} x]", CUSTODY_EINVAL, "1:36: expected"},
        {"[{}]", CUSTODY_EINVAL, "entity 0: missing `uid`"},
        {"[{\"uid\": {\"type\": \"A\"}}]", CUSTODY_EINVAL, "entity uid"},
        {"[{\"uid\": {\"type\": \"1A\", \"id\": \"\"}}]", CUSTODY_EINVAL, "invalid entity type"},
        {"[{\"uid\": {\"type\": \"if\", \"id\": \"\"}}]", CUSTODY_EINVAL, "invalid entity type"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"extra\": 1}]", CUSTODY_EINVAL,
         "unknown member"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": 1.5}}]", CUSTODY_EINVAL,
         "integers"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": null}}]", CUSTODY_EINVAL,
         "null"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": 1, \"x\": 2}}]",
         CUSTODY_EINVAL, "repeated"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": 9223372036854775808}}]",
         CUSTODY_EINVAL, "64-bit"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": \"\\ud800\"}}]",
         CUSTODY_EINVAL, "surrogate"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": \"\xff\"}}]",
         CUSTODY_EINVAL, "UTF-8"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": "
         "{\"x\": {\"__extn\": {\"fn\": \"ip\", \"arg\": \"nope\"}}}}]",
         CUSTODY_EINVAL, "invalid IP"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": "
         "{\"x\": {\"__extn\": {\"fn\": \"hash\", \"arg\": \"x\"}}}}]",
         CUSTODY_EUNSUPPORTED, "`hash`"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": "
         "{\"x\": {\"__entity\": {\"type\": \"A\", \"id\": \"a\"}, \"y\": 1}}}]",
         CUSTODY_EINVAL, "only member"},
        {"[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"parents\": {}}]", CUSTODY_EINVAL,
         "parents"},
    };
    struct strbuf err = STRBUF_INIT;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct policy_entities *es = policy_entities_new();
        int rc = load(es, bad[i].json, &err);
        if (rc != bad[i].rc || !err.buf || !strstr(err.buf, bad[i].msg))
            TEST_FAIL_("%s: got %d \"%s\", expected %d \"%s\"", bad[i].json, rc,
                       err.buf ? err.buf : "", bad[i].rc, bad[i].msg);
        ASSERT_EQ(0, policy_entities_count(es));
        policy_entities_free(es);
    }
    sb_free(&err);
}

TEST(policy_entities_limits)
{
    struct strbuf t = STRBUF_INIT, err = STRBUF_INIT;
    struct policy_entities *es = policy_entities_new();
    /* nesting of values */
    sb_puts(&t, "[{\"uid\": {\"type\": \"A\", \"id\": \"a\"}, \"attrs\": {\"x\": ");
    for (int i = 0; i < 100; i++)
        sb_puts(&t, "[");
    for (int i = 0; i < 100; i++)
        sb_puts(&t, "]");
    sb_puts(&t, "}}]");
    ASSERT_EQ(CUSTODY_ETOOBIG, load(es, t.buf, &err));
    /* deep JSON does not blow the stack */
    sb_reset(&t);
    for (int i = 0; i < 200000; i++)
        sb_puts(&t, "[");
    ASSERT_EQ(CUSTODY_ETOOBIG, load(es, t.buf, &err));
    /* strings */
    sb_reset(&t);
    sb_puts(&t, "[{\"uid\": {\"type\": \"A\", \"id\": \"");
    for (int i = 0; i <= POLICY_MAX_STRING; i++)
        sb_puts(&t, "x");
    sb_puts(&t, "\"}}]");
    ASSERT_EQ(CUSTODY_ETOOBIG, load(es, t.buf, &err));
    /* the text */
    char *huge = calloc(1, POLICY_MAX_JSON + 2);
    memset(huge, ' ', POLICY_MAX_JSON + 1);
    ASSERT_EQ(CUSTODY_ETOOBIG, policy_entities_load_json(es, huge, POLICY_MAX_JSON + 1, 0, &err));
    free(huge);
    ASSERT_EQ(0, policy_entities_count(es));
    policy_entities_free(es);
    sb_free(&t);
    sb_free(&err);
}

TEST(policy_entities_hierarchy)
{
    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    /* a cycle a -> b -> c -> a, and d under c */
    ASSERT_OK(load(
        es,
        "[{\"uid\":{\"type\":\"N\",\"id\":\"a\"},\"parents\":[{\"type\":\"N\",\"id\":\"b\"}]},"
        " {\"uid\":{\"type\":\"N\",\"id\":\"b\"},\"parents\":[{\"type\":\"N\",\"id\":\"c\"}]},"
        " {\"uid\":{\"type\":\"N\",\"id\":\"c\"},\"parents\":[{\"type\":\"N\",\"id\":\"a\"}]},"
        " {\"uid\":{\"type\":\"N\",\"id\":\"d\"},\"parents\":[{\"type\":\"N\",\"id\":\"c\"}]}]",
        &err));
    ASSERT(in(es, "N", "a", "N", "c"));
    ASSERT(in(es, "N", "c", "N", "b"));
    ASSERT(in(es, "N", "d", "N", "a"));
    ASSERT(!in(es, "N", "a", "N", "d"));
    ASSERT(in(es, "N", "a", "N", "a"));
    ASSERT(!in(es, "N", "a", "M", "a"));

    /* the programmatic API, children before parents; unfrozen lookups
     * walk the hierarchy, frozen ones use the closure */
    struct policy_uid root = policy_uid_make("Root", "r"), dir = policy_uid_make("Dir", "d"),
                      file = policy_uid_make("File", "f");
    ASSERT_OK(policy_entities_add(es, &file, NULL, &dir, 1, NULL));
    ASSERT_OK(policy_entities_add(es, &dir, NULL, &root, 1, NULL));
    ASSERT(policy_entities_in(es, &file, &root));
    ASSERT_OK(policy_entities_freeze(es, &err));
    ASSERT(policy_entities_in(es, &file, &root));
    ASSERT(!policy_entities_in(es, &root, &file));
    ASSERT_EQ(CUSTODY_EEXIST, policy_entities_add(es, &file, NULL, NULL, 0, NULL));
    struct policy_value notrec = policy_long(1);
    struct policy_uid x = policy_uid_make("X", "x"), bad = policy_uid_make("1x", "x");
    ASSERT_EQ(CUSTODY_EINVAL, policy_entities_add(es, &x, &notrec, NULL, 0, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, policy_entities_add(es, &bad, NULL, NULL, 0, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, policy_entities_add(es, &x, NULL, &bad, 1, NULL));
    ASSERT_EQ(CUSTODY_EINVAL, policy_entities_add_json(es, &x, "[1]", 3, NULL, 0, &err));
    ASSERT_OK(policy_entities_add_json(es, &x, "{\"k\": [1, 2]}", 13, NULL, 0, &err));
    ASSERT_EQ(2, policy_entities_attrs(es, &x)->u.rec[0].value.len);
    sb_free(&err);
    policy_entities_free(es);
}

TEST(policy_entities_ancestor_limit)
{
    /* a chain longer than POLICY_MAX_ANCESTORS: freeze refuses it, and a
     * decision that needs the bottom's ancestors answers ETOOBIG */
    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    char id[32], pid[32];
    for (int i = 0; i <= POLICY_MAX_ANCESTORS + 1; i++) {
        snprintf(id, sizeof id, "n%d", i);
        snprintf(pid, sizeof pid, "n%d", i + 1);
        struct policy_uid u = policy_uid_make("N", id), p = policy_uid_make("N", pid);
        ASSERT_OK(policy_entities_add(es, &u, NULL, &p, 1, NULL));
    }
    ASSERT_EQ(CUSTODY_ETOOBIG, policy_entities_freeze(es, &err));
    ASSERT_STR_CONTAINS(err.buf, "ancestors");
    struct policy_set *set;
    const char *text = "permit(principal in N::\"n9\", action, resource);";
    ASSERT_OK(policy_set_parse(text, strlen(text), "x", NULL, &set, &err));
    struct policy_request req = {.principal = policy_uid_make("N", "n0"),
                                 .action = policy_uid_make("Action", "a"),
                                 .resource = policy_uid_make("N", "n4000")};
    struct policy_response resp;
    policy_response_init(&resp);
    ASSERT_EQ(CUSTODY_ETOOBIG, policy_authorize(set, es, &req, &resp));
    /* near the top the walk is short enough */
    req.principal = policy_uid_make("N", "n5");
    ASSERT_OK(policy_authorize(set, es, &req, &resp));
    ASSERT_EQ(POLICY_ALLOW, resp.decision);
    policy_response_free(&resp);
    policy_set_free(set);
    policy_entities_free(es);
    sb_free(&err);
}

TEST(policy_entities_context_docs)
{
    struct strbuf err = STRBUF_INIT;
    struct policy_doc *d = NULL;
    ASSERT_OK(policy_doc_parse("{\"a\": {\"type\": \"U\", \"id\": \"x\"}}", 31, 0, &d, &err));
    ASSERT_EQ(POLICY_RECORD, policy_doc_value(d)->u.rec[0].value.type);
    policy_doc_free(d);
    ASSERT_OK(policy_doc_parse("{\"a\": {\"type\": \"U\", \"id\": \"x\"}}", 31,
                               POLICY_JSON_IMPLICIT_UIDS, &d, &err));
    ASSERT_EQ(POLICY_ENTITY, policy_doc_value(d)->u.rec[0].value.type);
    policy_doc_free(d);
    const char *arr = " [1, \"\\u00e9\\ud83d\\ude00\", true] ";
    ASSERT_OK(policy_doc_parse(arr, strlen(arr), 0, &d, &err));
    ASSERT_EQ(POLICY_SET, policy_doc_value(d)->type);
    ASSERT_EQ(6, policy_doc_value(d)->u.set[2].len); /* é (2) + 😀 (4) */
    policy_doc_free(d);
    ASSERT_EQ(CUSTODY_EINVAL, policy_doc_parse("{\"a\": 1,}", 9, 0, &d, &err));
    ASSERT_NULL(d);
    ASSERT_EQ(CUSTODY_EINVAL, policy_doc_parse("01", 2, 0, &d, &err));
    ASSERT_EQ(CUSTODY_EINVAL, policy_doc_parse("1 2", 3, 0, &d, &err));
    sb_free(&err);
}

/* A file the store does not hold, described by the request: its parents
 * (and their ancestors in the store) and attributes are what policies see;
 * the store is untouched. */
TEST(policy_entities_request_described)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_uid parents[] = {policy_uid_make("Folder", "docs"),
                                   policy_uid_make("Folder", "docs/sub")};
    struct strbuf err = STRBUF_INIT;
    struct policy_doc *attrs;
    const char *aj = "{\"labels\":{\"classification\":\"phi\"},\"size\":7}";
    ASSERT_EQ(policy_doc_parse(aj, strlen(aj), 0, &attrs, &err), 0);
    struct policy_req_entity given = {policy_doc_value(attrs), parents, 2};
    w.req.resource = policy_uid_make("File", "docs/sub/new.txt");
    w.req.resource_entity = &given;
    struct policy_response resp;
    policy_response_init(&resp);
    /* in: a parent, a parent's ancestor in the store (Root r1), not others */
    struct policy_set *set = pt_decide(&w, "permit(principal, action, resource in Root::\"r1\");",
                                       &resp);
    ASSERT_EQ(resp.decision, POLICY_ALLOW);
    policy_set_free(set);
    set = pt_decide(&w, "permit(principal, action, resource in Folder::\"docs/sub\");", &resp);
    ASSERT_EQ(resp.decision, POLICY_ALLOW);
    policy_set_free(set);
    set = pt_decide(&w, "permit(principal, action, resource in Folder::\"other\");", &resp);
    ASSERT_EQ(resp.decision, POLICY_DENY);
    policy_set_free(set);
    /* attributes come from the description */
    set = pt_decide(&w,
                    "permit(principal, action, resource) when "
                    "{ resource.labels.classification == \"phi\" && resource.size == 7 };",
                    &resp);
    ASSERT_EQ(resp.decision, POLICY_ALLOW);
    policy_set_free(set);
    /* an entity with no attributes described: attribute access errors */
    given.attrs = NULL;
    set = pt_decide(&w, "permit(principal, action, resource) when { resource.size == 7 };", &resp);
    ASSERT_EQ(resp.decision, POLICY_DENY);
    ASSERT_EQ(resp.nerrors, 1);
    policy_set_free(set);
    /* the principal too, and duplicates among ancestors are harmless */
    struct policy_uid pp[] = {policy_uid_make("Group", "eng"), policy_uid_make("Group", "all")};
    struct policy_req_entity gp = {NULL, pp, 2};
    w.req.principal = policy_uid_make("Agent", "a1");
    w.req.principal_entity = &gp;
    set = pt_decide(&w, "permit(principal in Group::\"all\", action, resource);", &resp);
    ASSERT_EQ(resp.decision, POLICY_ALLOW);
    policy_set_free(set);
    ASSERT_EQ(policy_entities_count(w.es), 8); /* nothing was added */
    policy_response_free(&resp);
    policy_doc_free(attrs);
    sb_free(&err);
    pt_world_free(&w);
}
