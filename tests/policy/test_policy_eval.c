/* test_policy_eval.c — Cedar evaluation semantics (src/policy/eval.c,
 * ext.c): each operator, its type and overflow errors, short-circuiting,
 * and the decision rules (default deny, forbid overrides, errors skip). */
#include "policy_test.h"

TEST(policy_eval_literals_and_logic)
{
    ASSERT_EVAL("true", 1);
    ASSERT_EVAL("false", 0);
    ASSERT_EVAL("!false", 1);
    ASSERT_EVAL("!!true", 1);
    ASSERT_EVAL("true && true && true", 1);
    ASSERT_EVAL("true && false", 0);
    ASSERT_EVAL("false || true", 1);
    ASSERT_EVAL("if 1 < 2 then true else false", 1);
}

TEST(policy_eval_short_circuit)
{
    /* the right side is not evaluated, so its type error does not count */
    ASSERT_EVAL("false && (1 + \"a\" == 2)", 0);
    ASSERT_EVAL("true || principal.nope", 1);
    ASSERT_EVAL("if true then true else principal.nope", 1);
    /* ... but is when reached */
    ASSERT_EVAL("true && principal.nope", -1);
    ASSERT_EVAL("false || principal.nope", -1);
    /* operands of && || ! if must be booleans */
    ASSERT_EVAL("1 && true", -1);
    ASSERT_EVAL("true && 1", -1);
    ASSERT_EVAL("false || \"x\"", -1);
    ASSERT_EVAL("!1", -1);
    ASSERT_EVAL("if 1 then true else true", -1);
    ASSERT_EVAL("!!5 == 5", -1); /* no cancelling of ! */
}

TEST(policy_eval_arithmetic)
{
    ASSERT_EVAL("1 + 2 * 3 == 7", 1);
    ASSERT_EVAL("(1 + 2) * 3 == 9", 1);
    ASSERT_EVAL("10 - 3 - 2 == 5", 1);
    ASSERT_EVAL("-5 + 2 == -3", 1);
    ASSERT_EVAL("- -5 == 5", 1);
    ASSERT_EVAL("-9223372036854775808 < 0", 1);
    ASSERT_EVAL("9223372036854775807 + 1 == 0", -1);
    ASSERT_EVAL("-9223372036854775808 - 1 == 0", -1);
    ASSERT_EVAL("4611686018427387904 * 2 == 0", -1);
    ASSERT_EVAL("-(-9223372036854775808) == 0", -1);
    ASSERT_EVAL("-(-(-9223372036854775808)) < 0", -1);
    ASSERT_EVAL("1 + \"a\" == 2", -1);
    ASSERT_EVAL("true * 2 == 2", -1);
    ASSERT_EVAL("-\"x\" == 1", -1);
}

TEST(policy_eval_comparison)
{
    ASSERT_EVAL("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3", 1);
    ASSERT_EVAL("2 < 1", 0);
    ASSERT_EVAL("\"a\" < \"b\"", -1); /* only longs (and datetime/duration) are ordered */
    ASSERT_EVAL("1 < true", -1);
    /* == never errors: values of different types are different */
    ASSERT_EVAL("1 == \"1\"", 0);
    ASSERT_EVAL("1 != \"1\"", 1);
    ASSERT_EVAL("[1, 2, 2] == [2, 1]", 1);
    ASSERT_EVAL("{a: 1, b: [true]} == {b: [true], a: 1}", 1);
    ASSERT_EVAL("{a: 1} == {a: 1, b: 2}", 0);
    ASSERT_EVAL("User::\"alice\" == principal", 1);
    ASSERT_EVAL("User::\"alice\" == Admin::\"alice\"", 0);
    ASSERT_EVAL("ip(\"10.0.0.1\") == ip(\"10.0.0.1/32\")", 1);
    ASSERT_EVAL("decimal(\"1.5\") == decimal(\"1.5000\")", 1);
}

TEST(policy_eval_strings_and_like)
{
    ASSERT_EVAL("\"abc\" like \"abc\"", 1);
    ASSERT_EVAL("\"abc\" like \"a*\"", 1);
    ASSERT_EVAL("\"abc\" like \"*c\"", 1);
    ASSERT_EVAL("\"abc\" like \"*b*\"", 1);
    ASSERT_EVAL("\"abc\" like \"a*d\"", 0);
    ASSERT_EVAL("\"\" like \"*\"", 1);
    ASSERT_EVAL("\"a*c\" like \"a\\*c\"", 1);
    ASSERT_EVAL("\"abc\" like \"a\\*c\"", 0);
    ASSERT_EVAL("\"aXbXc\" like \"a*b*c\"", 1);
    ASSERT_EVAL("\"h\\u{e9}llo\" like \"h*llo\"", 1);
    ASSERT_EVAL("\"tab\\there\" == \"tab\\u{9}here\"", 1);
    ASSERT_EVAL("\"\\x41\" == \"A\"", 1);
    ASSERT_EVAL("\"\\0\" != \"\"", 1);
    ASSERT_EVAL("1 like \"1\"", -1);
}

TEST(policy_eval_sets)
{
    ASSERT_EVAL("[1, 2, 3].contains(2)", 1);
    ASSERT_EVAL("[1, 2, 3].contains(\"2\")", 0);
    ASSERT_EVAL("[[1], [2]].contains([2])", 1);
    ASSERT_EVAL("[1, 2, 3].containsAll([1, 3])", 1);
    ASSERT_EVAL("[1, 2, 3].containsAll([1, 4])", 0);
    ASSERT_EVAL("[1, 2, 3].containsAll([])", 1);
    ASSERT_EVAL("[1, 2, 3].containsAny([4, 3])", 1);
    ASSERT_EVAL("[1, 2, 3].containsAny([])", 0);
    ASSERT_EVAL("[].isEmpty()", 1);
    ASSERT_EVAL("[principal].isEmpty()", 0);
    ASSERT_EVAL("principal.roles.contains(\"ops\")", 1);
    ASSERT_EVAL("[context.hour, 10].containsAll([10])", 1);
    ASSERT_EVAL("1.contains(1)", -1);
    ASSERT_EVAL("[1].containsAll(1)", -1);
    ASSERT_EVAL("\"a\".isEmpty()", -1);
    ASSERT_EVAL("[1, principal.nope].contains(1)", -1); /* an element's error is the set's */
}

TEST(policy_eval_records_and_attributes)
{
    ASSERT_EVAL("principal.age == 30", 1);
    ASSERT_EVAL("principal[\"age\"] == 30", 1);
    ASSERT_EVAL("principal.addr.city == \"Paris\"", 1);
    ASSERT_EVAL("principal has age", 1);
    ASSERT_EVAL("principal has \"age\"", 1);
    ASSERT_EVAL("principal has nope", 0);
    ASSERT_EVAL("principal.addr has zip", 1);
    ASSERT_EVAL("principal.nope == 1", -1);       /* missing attribute */
    ASSERT_EVAL("User::\"nobody\".age == 1", -1); /* missing entity */
    ASSERT_EVAL("User::\"nobody\" has age", 0);   /* has: no error */
    ASSERT_EVAL("Group::\"eng\" has age", 0);     /* an entity without attrs */
    ASSERT_EVAL("{a: {b: 1}}.a.b == 1", 1);
    ASSERT_EVAL("{\"two words\": 1}[\"two words\"] == 1", 1);
    ASSERT_EVAL("{a: 1}.b == 1", -1);
    ASSERT_EVAL("1.a == 1", -1);
    ASSERT_EVAL("1 has a", -1);
    ASSERT_EVAL("principal.manager.age == 40", 1);
    ASSERT_EVAL("resource.owner == principal", 1);
    ASSERT_EVAL("context.hour >= 9 && context.mfa", 1);
    ASSERT_EVAL("context.who == \"alice\"", 1);
    ASSERT_EVAL("context has nope", 0);
    ASSERT_EVAL("context.nope", -1);
}

TEST(policy_eval_entities_in_is)
{
    ASSERT_EVAL("principal in Group::\"eng\"", 1);
    ASSERT_EVAL("principal in Group::\"all\"", 1); /* transitive */
    ASSERT_EVAL("principal in principal", 1);      /* reflexive */
    ASSERT_EVAL("principal in Group::\"other\"", 0);
    ASSERT_EVAL("principal in [Group::\"x\", Group::\"eng\"]", 1);
    ASSERT_EVAL("principal in []", 0);
    ASSERT_EVAL("principal in [Group::\"eng\", 1]", -1);
    ASSERT_EVAL("principal in 1", -1);
    ASSERT_EVAL("1 in Group::\"eng\"", -1);
    ASSERT_EVAL("resource in Root::\"r1\"", 1);      /* through Folder::docs */
    ASSERT_EVAL("action in Action::\"readish\"", 1); /* a parent that is no entity */
    ASSERT_EVAL("User::\"nobody\" in Group::\"eng\"", 0);
    ASSERT_EVAL("User::\"nobody\" in User::\"nobody\"", 1);
    ASSERT_EVAL("principal.manager in Group::\"all\"", 1);
    ASSERT_EVAL("principal is User", 1);
    ASSERT_EVAL("principal is Group", 0);
    ASSERT_EVAL("principal is User in Group::\"eng\"", 1);
    ASSERT_EVAL("principal is Group in principal.nope", 0); /* short-circuits */
    ASSERT_EVAL("principal is User in principal.nope", -1);
    ASSERT_EVAL("1 is User", -1);
    ASSERT_EVAL("A::B::\"x\" is A::B", 1);
}

TEST(policy_eval_tags)
{
    ASSERT_EVAL("principal.hasTag(\"team\")", 1);
    ASSERT_EVAL("principal.getTag(\"team\") == \"core\"", 1);
    ASSERT_EVAL("principal.hasTag(\"nope\")", 0);
    ASSERT_EVAL("principal.getTag(\"nope\") == 1", -1);
    ASSERT_EVAL("User::\"nobody\".hasTag(\"team\")", 0);
    ASSERT_EVAL("principal.getTag(1) == 1", -1);
    ASSERT_EVAL("context.hasTag(\"a\")", -1);
}

TEST(policy_eval_ipaddr)
{
    ASSERT_EVAL("context.src.isInRange(ip(\"192.168.0.0/16\"))", 1);
    ASSERT_EVAL("context.src.isInRange(ip(\"10.0.0.0/8\"))", 0);
    ASSERT_EVAL("principal.ip.isInRange(ip(\"10.0.0.0/8\"))", 1);
    ASSERT_EVAL("ip(\"10.0.0.0/24\").isInRange(ip(\"10.0.0.0/16\"))", 1);
    ASSERT_EVAL("ip(\"10.0.0.0/16\").isInRange(ip(\"10.0.0.0/24\"))", 0);
    ASSERT_EVAL("ip(\"127.0.0.1\").isLoopback() && ip(\"::1\").isLoopback()", 1);
    ASSERT_EVAL("ip(\"224.0.0.1\").isMulticast() && ip(\"ff02::1\").isMulticast()", 1);
    ASSERT_EVAL("ip(\"1.2.3.4\").isIpv4() && ip(\"::\").isIpv6()", 1);
    ASSERT_EVAL("ip(\"::1\").isInRange(ip(\"127.0.0.0/8\"))", 0); /* families differ */
    ASSERT_EVAL("ip(\"1:2::3\") == ip(\"1:2:0:0:0:0:0:3\")", 1);
    ASSERT_EVAL("ip(\"01.2.3.4\").isIpv4()", -1);       /* leading zero */
    ASSERT_EVAL("ip(\"1.2.3.4/33\").isIpv4()", -1);     /* prefix too long */
    ASSERT_EVAL("ip(\"::ffff:1.2.3.4\").isIpv6()", -1); /* no embedded IPv4 */
    ASSERT_EVAL("ip(\"1::2::3\").isIpv6()", -1);
    ASSERT_EVAL("ip(1).isIpv4()", -1);
    ASSERT_EVAL("ip(\"1.2.3.4\").isInRange(\"1.2.3.0/24\")", -1);
}

TEST(policy_eval_decimal)
{
    ASSERT_EVAL("context.score.greaterThan(decimal(\"0.5\"))", 1);
    ASSERT_EVAL("decimal(\"1.23\").lessThan(decimal(\"1.2301\"))", 1);
    ASSERT_EVAL("decimal(\"-0.5\").lessThan(decimal(\"0.0\"))", 1);
    ASSERT_EVAL("decimal(\"2.0\").lessThanOrEqual(decimal(\"2.0\"))", 1);
    ASSERT_EVAL("decimal(\"2.0\").greaterThanOrEqual(decimal(\"2.00001\"))", -1); /* 5 digits */
    ASSERT_EVAL("decimal(\"922337203685477.5807\").greaterThan(decimal(\"0.0\"))", 1);
    ASSERT_EVAL("decimal(\"922337203685477.5808\").greaterThan(decimal(\"0.0\"))", -1);
    ASSERT_EVAL("decimal(\"-922337203685477.5808\").lessThan(decimal(\"0.0\"))", 1);
    ASSERT_EVAL("decimal(\"1\").lessThan(decimal(\"2.0\"))", -1); /* needs a point */
    ASSERT_EVAL("decimal(\"1.0\") < decimal(\"2.0\")", -1);       /* no operators */
    ASSERT_EVAL("decimal(\"1.0\").lessThan(decimal(\"2.0\"), decimal(\"3.0\"))", -1);
}

TEST(policy_eval_datetime_duration)
{
    ASSERT_EVAL("datetime(\"2024-10-15\") < datetime(\"2024-10-15T00:00:01Z\")", 1);
    ASSERT_EVAL("datetime(\"2024-10-15T11:38:02+0100\") == datetime(\"2024-10-15T10:38:02Z\")", 1);
    ASSERT_EVAL("datetime(\"2024-10-15T11:38:02.101Z\").toTime() == duration(\"11h38m2s101ms\")",
                1);
    ASSERT_EVAL("datetime(\"2024-10-15T11:38:02Z\").toDate() == datetime(\"2024-10-15\")", 1);
    ASSERT_EVAL("datetime(\"1969-12-31T23:00:00Z\").toDate() == datetime(\"1969-12-31\")", 1);
    ASSERT_EVAL("datetime(\"2024-01-01\").offset(duration(\"1d\")) == datetime(\"2024-01-02\")", 1);
    ASSERT_EVAL("datetime(\"2024-03-01\").durationSince(datetime(\"2024-02-01\")).toDays() == 29",
                1); /* a leap year */
    ASSERT_EVAL("duration(\"-1h30m\").toMinutes() == -90", 1);
    ASSERT_EVAL("duration(\"90s\").toMinutes() == 1", 1);
    ASSERT_EVAL("duration(\"1d\") > duration(\"23h\")", 1);
    ASSERT_EVAL("duration(\"1s\") < datetime(\"2024-01-01\")", -1);
    ASSERT_EVAL("datetime(\"2025-02-29\") == datetime(\"2025-03-01\")", -1);
    ASSERT_EVAL("datetime(\"2024-01-01T24:00:00Z\") == datetime(\"2024-01-02\")", -1);
    ASSERT_EVAL("datetime(\"2024-01-01T00:00:00\") == datetime(\"2024-01-01\")", -1);
    ASSERT_EVAL("duration(\"1m1h\").toHours() == 1", -1); /* units out of order */
    ASSERT_EVAL("duration(\"\").toHours() == 0", -1);
    ASSERT_EVAL("duration(\"9223372036854775807ms\").toMilliseconds() > 0", 1);
    ASSERT_EVAL("duration(\"9223372036854775808ms\").toMilliseconds() > 0", -1);
    ASSERT_EVAL("duration(\"-9223372036854775808ms\").toMilliseconds() < 0", 1);
    ASSERT_EVAL("datetime(\"1970-01-01\").offset(duration(\"9223372036854775807ms\"))"
                ".offset(duration(\"1ms\")) == datetime(\"1970-01-01\")",
                -1);
}

TEST(policy_decision_default_deny_and_forbid_overrides)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_response resp;
    policy_response_init(&resp);

    /* no policy: deny, no reasons */
    struct policy_set *set = pt_decide(&w, "", &resp);
    ASSERT_EQ(POLICY_DENY, resp.decision);
    ASSERT_EQ(0, resp.nreasons);
    policy_set_free(set);

    /* two permits: allow, both are reasons */
    set = pt_decide(&w,
                    "permit(principal, action, resource);\n"
                    "permit(principal == User::\"alice\", action, resource);\n"
                    "permit(principal == User::\"bob\", action, resource);\n",
                    &resp);
    ASSERT_EQ(POLICY_ALLOW, resp.decision);
    ASSERT_EQ(2, resp.nreasons);
    ASSERT_EQ(0, resp.reasons[0]);
    ASSERT_EQ(1, resp.reasons[1]);
    policy_set_free(set);

    /* a satisfied forbid wins; the reasons are the forbids */
    set = pt_decide(
        &w,
        "permit(principal, action, resource);\n"
        "forbid(principal, action, resource) when { resource.labels.contains(\"secret\") };\n"
        "forbid(principal, action, resource) unless { context.mfa };\n",
        &resp);
    ASSERT_EQ(POLICY_DENY, resp.decision);
    ASSERT_EQ(1, resp.nreasons);
    ASSERT_EQ(1, resp.reasons[0]);
    ASSERT_STR_EQ("policy1", policy_set_info(set, resp.reasons[0])->id);
    policy_set_free(set);

    /* an erroring forbid does not deny; it is reported */
    set = pt_decide(&w,
                    "permit(principal, action, resource);\n"
                    "forbid(principal, action, resource) when { resource.nope };\n",
                    &resp);
    ASSERT_EQ(POLICY_ALLOW, resp.decision);
    ASSERT_EQ(1, resp.nerrors);
    ASSERT_EQ(1, resp.errors[0].policy);
    ASSERT_STR_CONTAINS(resp.errors[0].message, "nope");
    policy_set_free(set);

    /* an erroring permit does not allow */
    set =
        pt_decide(&w, "permit(principal, action, resource) when { principal.age + \"x\" };", &resp);
    ASSERT_EQ(POLICY_DENY, resp.decision);
    ASSERT_EQ(0, resp.nreasons);
    ASSERT_EQ(1, resp.nerrors);
    ASSERT_STR_CONTAINS(resp.errors[0].message, "type error");
    policy_set_free(set);

    /* a condition that is not a boolean is an error */
    set = pt_decide(&w, "permit(principal, action, resource) when { 1 };", &resp);
    ASSERT_EQ(POLICY_DENY, resp.decision);
    ASSERT_EQ(1, resp.nerrors);
    policy_set_free(set);

    /* clauses run in order and stop at the first failure */
    set =
        pt_decide(&w,
                  "permit(principal, action, resource) when { false } when { principal.nope };\n"
                  "permit(principal, action, resource) unless { true } when { principal.nope };\n",
                  &resp);
    ASSERT_EQ(POLICY_DENY, resp.decision);
    ASSERT_EQ(0, resp.nerrors);
    policy_set_free(set);

    policy_response_free(&resp);
    pt_world_free(&w);
}

TEST(policy_decision_scope)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_response resp;
    policy_response_init(&resp);
    static const struct {
        const char *scope;
        int allow;
    } cases[] = {
        {"principal, action, resource", 1},
        {"principal == User::\"alice\", action, resource", 1},
        {"principal == User::\"bob\", action, resource", 0},
        {"principal in Group::\"all\", action, resource", 1},
        {"principal in Group::\"none\", action, resource", 0},
        {"principal is User, action, resource", 1},
        {"principal is Group, action, resource", 0},
        {"principal is User in Group::\"eng\", action, resource", 1},
        {"principal is User in Group::\"none\", action, resource", 0},
        {"principal, action == Action::\"read\", resource", 1},
        {"principal, action == Action::\"write\", resource", 0},
        {"principal, action in Action::\"readish\", resource", 1},
        {"principal, action in [Action::\"write\", Action::\"read\"], resource", 1},
        {"principal, action in [Action::\"write\"], resource", 0},
        {"principal, action in [], resource", 0},
        {"principal, action, resource == File::\"f1\"", 1},
        {"principal, action, resource in Folder::\"docs\"", 1},
        {"principal, action, resource in Root::\"r1\"", 1},
        {"principal, action, resource in Root::\"r2\"", 0},
        {"principal, action, resource is File in Root::\"r1\"", 1},
        {"principal, action, resource is Folder", 0},
        {"principal in Group::\"eng\", action in [Action::\"read\"], resource in Root::\"r1\"", 1},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct strbuf t = STRBUF_INIT;
        sb_printf(&t, "permit(%s);", cases[i].scope);
        struct policy_set *set = pt_decide(&w, t.buf, &resp);
        if ((resp.decision == POLICY_ALLOW) != cases[i].allow)
            TEST_FAIL_("%s: expected %s", t.buf, cases[i].allow ? "allow" : "deny");
        policy_set_free(set);
        sb_free(&t);
    }
    policy_response_free(&resp);
    pt_world_free(&w);
}

TEST(policy_decision_request_errors)
{
    struct pt_world w;
    pt_world_init(&w);
    struct policy_set *set;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(policy_set_parse("permit(principal, action, resource);", 36, "x", NULL, &set, &err));
    struct policy_response resp;
    policy_response_init(&resp);
    /* the context must be a record */
    struct policy_value notrec = policy_long(1);
    w.req.context = &notrec;
    ASSERT_EQ(CUSTODY_EINVAL, policy_authorize(set, w.es, &w.req, &resp));
    /* NULL is the empty record */
    w.req.context = NULL;
    ASSERT_OK(policy_authorize(set, w.es, &w.req, &resp));
    ASSERT_EQ(POLICY_ALLOW, resp.decision);
    /* entities absent from the store are fine */
    w.req.principal = policy_uid_make("Agent", "ghost");
    ASSERT_OK(policy_authorize(set, w.es, &w.req, &resp));
    ASSERT_EQ(POLICY_ALLOW, resp.decision);
    policy_response_free(&resp);
    policy_set_free(set);
    sb_free(&err);
    pt_world_free(&w);
}

TEST(policy_decision_index_agrees_with_full_scan)
{
    /* many policies keyed on principal, resource and action: the index
     * must propose every policy that applies (compare with explain, which
     * evaluates every policy) */
    struct strbuf text = STRBUF_INIT;
    for (int i = 0; i < 60; i++) {
        sb_printf(&text, "permit(principal == User::\"u%d\", action, resource);\n", i % 7);
        sb_printf(&text,
                  "permit(principal in Group::\"g%d\", action, resource in Root::\"r%d\");\n",
                  i % 5, i % 3);
        sb_printf(&text,
                  "forbid(principal, action == Action::\"a%d\", resource) when { "
                  "resource.size > %d };\n",
                  i % 4, i * 10);
        sb_printf(&text,
                  "permit(principal, action in [Action::\"a%d\", Action::\"b\"], "
                  "resource == File::\"f%d\");\n",
                  i % 4, i % 9);
    }
    struct policy_set *set;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(policy_set_parse(text.buf, text.len, "many.cedar", NULL, &set, &err));
    struct policy_entities *es = policy_entities_new();
    for (int g = 0; g < 5; g++) {
        char id[16];
        snprintf(id, sizeof id, "g%d", g);
        struct policy_uid u = policy_uid_make("Group", id);
        struct policy_uid all = policy_uid_make("Group", "all");
        ASSERT_OK(policy_entities_add(es, &u, NULL, g % 2 ? &all : NULL, g % 2, NULL));
    }
    for (int u = 0; u < 7; u++) {
        char id[16], gid[16];
        snprintf(id, sizeof id, "u%d", u);
        snprintf(gid, sizeof gid, "g%d", u % 5);
        struct policy_uid uid = policy_uid_make("User", id), g = policy_uid_make("Group", gid);
        ASSERT_OK(policy_entities_add(es, &uid, NULL, &g, 1, NULL));
    }
    for (int f = 0; f < 9; f++) {
        char id[16], rid[16], attrs[32];
        snprintf(id, sizeof id, "f%d", f);
        snprintf(rid, sizeof rid, "r%d", f % 3);
        snprintf(attrs, sizeof attrs, "{\"size\": %d}", f * 70);
        struct policy_uid uid = policy_uid_make("File", id), r = policy_uid_make("Root", rid);
        ASSERT_OK(policy_entities_add_json(es, &uid, attrs, strlen(attrs), &r, 1, &err));
    }
    ASSERT_OK(policy_entities_freeze(es, &err));
    struct policy_response resp;
    policy_response_init(&resp);
    size_t allows = 0, denies = 0;
    for (int u = 0; u < 8; u++) {
        for (int a = 0; a < 5; a++) {
            for (int f = 0; f < 10; f++) {
                char uid[16], aid[16], fid[16];
                snprintf(uid, sizeof uid, "u%d", u);
                snprintf(aid, sizeof aid, a == 4 ? "b" : "a%d", a);
                snprintf(fid, sizeof fid, "f%d", f);
                struct policy_request req = {.principal = policy_uid_make("User", uid),
                                             .action = policy_uid_make("Action", aid),
                                             .resource = policy_uid_make("File", fid)};
                ASSERT_OK(policy_authorize(set, es, &req, &resp));
                struct policy_explanation ex;
                ASSERT_OK(policy_explain(set, es, &req, POLICY_EXPLAIN_ALL, &ex));
                size_t sat = 0;
                bool forbid = false;
                for (size_t i = 0; i < ex.nentries; i++) {
                    if (!ex.entries[i].satisfied) continue;
                    sat++;
                    forbid |= policy_set_info(set, ex.entries[i].policy)->effect == POLICY_FORBID;
                }
                ASSERT_EQ(forbid ? POLICY_DENY : sat ? POLICY_ALLOW : POLICY_DENY, resp.decision);
                size_t want = 0;
                for (size_t i = 0; i < ex.nentries; i++)
                    if (ex.entries[i].satisfied &&
                        (policy_set_info(set, ex.entries[i].policy)->effect == POLICY_FORBID) ==
                            forbid)
                        want++;
                ASSERT_EQ(want, resp.nreasons);
                ASSERT_LE(resp.nevaluated, resp.ncandidates);
                ASSERT_LT(resp.ncandidates, policy_set_count(set));
                resp.decision == POLICY_ALLOW ? allows++ : denies++;
                policy_explanation_free(&ex);
            }
        }
    }
    ASSERT_GT(allows, 0);
    ASSERT_GT(denies, 0);
    policy_response_free(&resp);
    policy_entities_free(es);
    policy_set_free(set);
    sb_free(&err);
    sb_free(&text);
}
