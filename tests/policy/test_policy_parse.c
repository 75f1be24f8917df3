/* test_policy_parse.c — the Cedar parser (src/policy/lexer.c, expr.c,
 * parser.c): what parses, `file:line:column` errors, unsupported features,
 * limits, annotations, ids, and the set's hash. */
#include "policy_test.h"

TEST(policy_parse_good)
{
    static const char *good[] = {
        "",
        "// only a comment\n",
        "permit(principal, action, resource);",
        "forbid ( principal , action , resource ) ;",
        "permit(principal == User::\"a\", action == Action::\"read\", resource == File::\"x\");",
        "permit(principal in Group::\"g\", action in [Action::\"a\", Action::\"b\",], resource);",
        "permit(principal is User, action in [], resource is Ns::File in Ns::Root::\"r\");",
        "permit(principal, action in Ns::Action::\"all\", resource);",
        "@id(\"p1\") @note(\"two\\nlines\") @flag permit(principal, action, resource);",
        "permit(principal, action, resource) when { true } unless { false } when { 1 < 2 };",
        "permit(principal, action, resource) when { if context.a then 1 == 1 else false };",
        "permit(principal, action, resource) when { [1, \"a\", [true], {x: 1, \"y z\": []}] != [] "
        "};",
        "permit(principal, action, resource) when { principal.a.b[\"c\"].d has e };",
        "permit(principal, action, resource) when { !!!!true && ----1 == 1 };",
        "permit(principal, action, resource) when { -9223372036854775808 < 0 };",
        "permit(principal, action, resource) when { resource like \"*.txt\\*\" };",
        "permit(principal, action, resource) when { ip(\"::1\").isLoopback() };",
        "permit(principal, action, resource) when { principal.when == principal.permit };",
        "permit(principal, action, resource) when { {if_: 1}.if_ == 1 };",
        "permit(principal, action, resource)\n  when {\n    principal is User in Group::\"g\"\n  "
        "};",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(good); i++) {
        struct strbuf err = STRBUF_INIT;
        if (pt_parse_err(good[i], &err) != 0) TEST_FAIL_("%s: %s", good[i], err.buf);
        sb_free(&err);
    }
}

TEST(policy_parse_errors_have_locations)
{
    static const struct {
        const char *text;
        int rc;
        const char *msg;
    } bad[] = {
        {"permit(principal, action, resource)", CUSTODY_ESYNTAX, "p.cedar:1:36: expected"},
        {"permit(principal, action)", CUSTODY_ESYNTAX, "p.cedar:1:25: expected `,`"},
        {"allow(principal, action, resource);", CUSTODY_ESYNTAX, "p.cedar:1:1: expected `permit`"},
        {"permit(principal, action, resource)\nwhen { 1 + };", CUSTODY_ESYNTAX,
         "p.cedar:2:12: expected an expression"},
        {"permit(principal, action, resource) when {};", CUSTODY_ESYNTAX, "empty `when`"},
        {"permit(principal, action, resource) when { 1 = 1 };", CUSTODY_ESYNTAX,
         "1:46: unexpected `=`"},
        {"permit(principal, action, resource) when { \"abc };", CUSTODY_ESYNTAX,
         "1:44: unterminated string"},
        {"permit(principal, action, resource) when { \"\\q\" };", CUSTODY_ESYNTAX,
         "invalid escape"},
        {"permit(principal, action, resource) when { 9223372036854775808 > 0 };", CUSTODY_ESYNTAX,
         "too large"},
        {"permit(principal, action, resource) when { foo };", CUSTODY_ESYNTAX,
         "unknown variable `foo`"},
        {"permit(principal, action, resource) when { principal.if };", CUSTODY_ESYNTAX, "reserved"},
        {"permit(principal, action, resource) when { {a: 1, a: 2} };", CUSTODY_ESYNTAX,
         "duplicate attribute"},
        {"permit(principal, action, resource) when { [].contains() };", CUSTODY_ESYNTAX,
         "takes 1 argument"},
        {"permit(principal, action, resource) when { 1 < 2 < 3 };", CUSTODY_ESYNTAX, "expected"},
        {"permit(principal, action, resource) when { true && if true then true else true };",
         CUSTODY_ESYNTAX, "parentheses"},
        {"permit(principal, action, resource) when { !!!!!true };", CUSTODY_ESYNTAX,
         "more than four"},
        {"permit(principal == User, action, resource);", CUSTODY_ESYNTAX, "entity"},
        {"permit(principal in [User::\"a\"], action, resource);", CUSTODY_ESYNTAX,
         "only allowed for action"},
        {"permit(principal, action == User::\"read\", resource);", CUSTODY_ESYNTAX,
         "type `Action`"},
        {"@a(\"1\") @a(\"2\") permit(principal, action, resource);", CUSTODY_ESYNTAX,
         "duplicate annotation"},
        {"permit(principal, action, resource);\npermit(principal, action, resource, context);",
         CUSTODY_ESYNTAX, "p.cedar:2:35:"},
        {"permit(principal, action, resource) when { \xff };", CUSTODY_ESYNTAX,
         "1:44: invalid UTF-8"},
        {"permit(principal, action, resource) when { \xc3\xa9 };", CUSTODY_ESYNTAX,
         "1:44: unexpected character"},
        {"permit(principal == ?principal, action, resource);", CUSTODY_EUNSUPPORTED, "templates"},
        {"permit(principal, action, resource) when { foo(1) };", CUSTODY_EUNSUPPORTED,
         "function `foo`"},
        {"permit(principal, action, resource) when { context.bar(1) };", CUSTODY_EUNSUPPORTED,
         "method `bar`"},
        {"permit(principal, action, resource) when { context has a.b };", CUSTODY_EUNSUPPORTED,
         "attribute path"},
        {"permit(principal, action, resource) when { lessThan(1, 2) };", CUSTODY_ESYNTAX,
         "is a method"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf err = STRBUF_INIT;
        int rc = pt_parse_err(bad[i].text, &err);
        if (rc != bad[i].rc || !err.buf || !strstr(err.buf, bad[i].msg))
            TEST_FAIL_("%s: got %d \"%s\", expected %d \"%s\"", bad[i].text, rc,
                       err.buf ? err.buf : "", bad[i].rc, bad[i].msg);
        sb_free(&err);
    }
}

static void repeat(struct strbuf *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_puts(sb, s);
}

TEST(policy_parse_limits)
{
    struct strbuf t = STRBUF_INIT, err = STRBUF_INIT;
    /* nesting: 64 levels parse, 65 do not, and 100000 do not crash */
    size_t depths[] = {POLICY_MAX_DEPTH - 1, POLICY_MAX_DEPTH + 1, 100000};
    for (size_t d = 0; d < 3; d++) {
        sb_reset(&t);
        sb_puts(&t, "permit(principal, action, resource) when { ");
        repeat(&t, "(", depths[d]);
        sb_puts(&t, "true");
        repeat(&t, ")", depths[d]);
        sb_puts(&t, " };");
        int rc = pt_parse_err(t.buf, &err);
        ASSERT_EQ(d == 0 ? 0 : CUSTODY_ETOOBIG, rc);
    }
    /* a long chain is a tall tree: bounded too */
    sb_reset(&t);
    sb_puts(&t, "permit(principal, action, resource) when { 0");
    repeat(&t, " + 1", 10000);
    sb_puts(&t, " == 10000 };");
    ASSERT_EQ(CUSTODY_ETOOBIG, pt_parse_err(t.buf, &err));
    ASSERT_STR_CONTAINS(err.buf, "deeper than");
    /* but long && / || chains are flat */
    sb_reset(&t);
    sb_puts(&t, "permit(principal, action, resource) when { true");
    repeat(&t, " && true", 10000);
    sb_puts(&t, " };");
    ASSERT_OK(pt_parse_err(t.buf, &err));
    /* unary operators and member chains count */
    sb_reset(&t);
    sb_puts(&t, "permit(principal, action, resource) when { context");
    repeat(&t, ".a", 1000);
    sb_puts(&t, " };");
    ASSERT_EQ(CUSTODY_ETOOBIG, pt_parse_err(t.buf, &err));
    /* string literals */
    sb_reset(&t);
    sb_puts(&t, "permit(principal, action, resource) when { \"");
    repeat(&t, "x", POLICY_MAX_STRING + 1);
    sb_puts(&t, "\" == \"\" };");
    ASSERT_EQ(CUSTODY_ETOOBIG, pt_parse_err(t.buf, &err));
    /* set literals */
    sb_reset(&t);
    sb_puts(&t, "permit(principal, action, resource) when { [");
    repeat(&t, "1,", POLICY_MAX_ELEMS + 1);
    sb_puts(&t, "] == [] };");
    ASSERT_EQ(CUSTODY_ETOOBIG, pt_parse_err(t.buf, &err));
    /* annotations */
    sb_reset(&t);
    for (int i = 0; i <= POLICY_MAX_ANNOTATIONS; i++)
        sb_printf(&t, "@a%d ", i);
    sb_puts(&t, "permit(principal, action, resource);");
    ASSERT_EQ(CUSTODY_ETOOBIG, pt_parse_err(t.buf, &err));
    /* the text of a set */
    size_t big = POLICY_MAX_TEXT + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    struct policy_set *set = NULL;
    ASSERT_EQ(CUSTODY_ETOOBIG, policy_set_parse(huge, big, "big", NULL, &set, &err));
    ASSERT_NULL(set);
    free(huge);
    sb_free(&t);
    sb_free(&err);
}

TEST(policy_parse_ids_annotations_and_files)
{
    const char *a = "@id(\"read-docs\") @owner(\"ops\")\n"
                    "permit(principal, action, resource);\n"
                    "forbid(principal, action, resource) when { false };\n";
    const char *b = "@id(\"deny-all\") forbid(principal, action, resource) when { false };";
    struct strbuf err = STRBUF_INIT;
    /* default ids: policyN across files */
    struct policy_set *set = policy_set_new(NULL);
    ASSERT_OK(policy_set_add_text(set, a, strlen(a), "a.cedar", &err));
    ASSERT_OK(policy_set_add_text(set, b, strlen(b), "b.cedar", &err));
    ASSERT_EQ(3, policy_set_count(set));
    ASSERT_STR_EQ("policy0", policy_set_info(set, 0)->id);
    ASSERT_STR_EQ("policy2", policy_set_info(set, 2)->id);
    ASSERT_STR_EQ("b.cedar", policy_set_info(set, 2)->file);
    const struct policy_info *info = policy_set_info(set, 0);
    ASSERT_EQ(2, info->nannotations);
    ASSERT_STR_EQ("owner", info->annotations[1].key);
    ASSERT_STR_EQ("ops", info->annotations[1].value);
    ASSERT_EQ(1, info->line);
    ASSERT_EQ(POLICY_FORBID, policy_set_info(set, 1)->effect);
    ASSERT_EQ(3, policy_set_info(set, 1)->line);
    ASSERT_EQ(0, strncmp(policy_set_info(set, 1)->text, "forbid(", 7));
    ASSERT_EQ(';', policy_set_info(set, 1)->text[policy_set_info(set, 1)->text_len - 1]);
    ASSERT_EQ(2, policy_set_find(set, "policy2"));
    ASSERT_EQ(CUSTODY_ENOENT, policy_set_find(set, "read-docs"));
    /* a file that fails adds nothing */
    ASSERT_EQ(CUSTODY_ESYNTAX, policy_set_add_text(set, "permit(", 7, "c.cedar", &err));
    ASSERT_STR_CONTAINS(err.buf, "c.cedar:1:8:");
    ASSERT_EQ(3, policy_set_count(set));
    policy_set_free(set);

    /* @id ids */
    struct policy_opts opts = {.id_annotation = true};
    set = policy_set_new(&opts);
    ASSERT_OK(policy_set_add_text(set, a, strlen(a), "a.cedar", &err));
    ASSERT_OK(policy_set_add_text(set, b, strlen(b), "b.cedar", &err));
    ASSERT_STR_EQ("read-docs", policy_set_info(set, 0)->id);
    ASSERT_STR_EQ("policy1", policy_set_info(set, 1)->id);
    ASSERT_STR_EQ("deny-all", policy_set_info(set, 2)->id);
    ASSERT_EQ(2, policy_set_find(set, "deny-all"));
    /* a repeated id is refused */
    sb_reset(&err);
    ASSERT_EQ(CUSTODY_EINVAL, policy_set_add_text(set, b, strlen(b), "c.cedar", &err));
    ASSERT_STR_CONTAINS(err.buf, "duplicate policy id `deny-all`");
    ASSERT_EQ(3, policy_set_count(set));
    policy_set_free(set);
    sb_free(&err);
}

TEST(policy_parse_hash)
{
    const char *a = "permit(principal, action, resource);";
    struct policy_set *s1 = policy_set_new(NULL), *s2 = policy_set_new(NULL);
    ASSERT_OK(policy_set_add_text(s1, a, strlen(a), "x", NULL));
    ASSERT_OK(policy_set_add_text(s2, a, strlen(a), "y", NULL));
    char h1[65], h2[65];
    policy_set_hash(s1, h1);
    policy_set_hash(s2, h2);
    ASSERT_STR_EQ(h1, h2); /* the text, not the file names */
    ASSERT_EQ(64, strlen(h1));
    ASSERT_OK(policy_set_add_text(s2, "", 0, "z", NULL));
    policy_set_hash(s2, h2);
    ASSERT(strcmp(h1, h2) != 0); /* a second (even empty) text counts */
    /* the empty set: SHA-256 of nothing */
    struct policy_set *e = policy_set_new(NULL);
    policy_set_hash(e, h1);
    ASSERT_STR_EQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", h1);
    policy_set_free(e);
    policy_set_free(s1);
    policy_set_free(s2);
}

TEST(policy_values_api)
{
    struct policy_value items[] = {policy_long(3), policy_string("a", 1), policy_long(1),
                                   policy_long(3), policy_bool(true)};
    size_t n = UTIL_ARRAY_LEN(items);
    struct policy_value set;
    ASSERT_OK(policy_value_set_of(items, &n, &set));
    ASSERT_EQ(4, n);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(policy_value_format(&sb, &set));
    ASSERT_STR_EQ("[true, 1, 3, \"a\"]", sb.buf);
    struct policy_uid u = policy_uid_make("User", "q\"x");
    struct policy_attr attrs[] = {{"z", 1, policy_entity(&u)}, {"a", 1, set}};
    struct policy_value rec;
    ASSERT_OK(policy_value_record_of(attrs, 2, &rec));
    sb_reset(&sb);
    ASSERT_OK(policy_value_format(&sb, &rec));
    ASSERT_STR_EQ("{\"a\": [true, 1, 3, \"a\"], \"z\": User::\"q\\\"x\"}", sb.buf);
    ASSERT_NOT_NULL(policy_record_get(&rec, "z", 1));
    ASSERT_NULL(policy_record_get(&rec, "y", 1));
    struct policy_attr dup[] = {{"a", 1, policy_long(1)}, {"a", 1, policy_long(2)}};
    ASSERT_EQ(CUSTODY_EINVAL, policy_value_record_of(dup, 2, &rec));
    struct policy_uid v = policy_uid_make("User", "q\"x");
    ASSERT(policy_uid_eq(&u, &v));
    struct policy_uid w = policy_uid_make("Use", "rq\"x");
    ASSERT(!policy_uid_eq(&u, &w));
    sb_free(&sb);
}
