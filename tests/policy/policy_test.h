/* policy_test.h — helpers shared by the tests of src/policy. */
#ifndef CUSTODY_POLICY_TEST_H
#define CUSTODY_POLICY_TEST_H

#include "test.h"

#include "policy/policy.h"

/* A small world: users in groups, an action hierarchy, files in folders. */
#define PT_ENTITIES                                                                                \
    "["                                                                                            \
    "{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},"                                               \
    " \"attrs\":{\"age\":30,\"name\":\"Alice\",\"roles\":[\"dev\",\"ops\"],"                       \
    "  \"manager\":{\"__entity\":{\"type\":\"User\",\"id\":\"bob\"}},"                             \
    "  \"addr\":{\"city\":\"Paris\",\"zip\":\"75001\"},"                                           \
    "  \"ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.1.2.3\"}}},"                                 \
    " \"parents\":[{\"type\":\"Group\",\"id\":\"eng\"}],"                                          \
    " \"tags\":{\"team\":\"core\"}},"                                                              \
    "{\"uid\":{\"type\":\"User\",\"id\":\"bob\"},\"attrs\":{\"age\":40},"                          \
    " \"parents\":[{\"type\":\"Group\",\"id\":\"all\"}]},"                                         \
    "{\"uid\":{\"type\":\"Group\",\"id\":\"eng\"},\"parents\":[{\"type\":\"Group\",\"id\":"        \
    "\"all\"}]},"                                                                                  \
    "{\"uid\":{\"type\":\"Group\",\"id\":\"all\"}},"                                               \
    "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},"                                              \
    " \"parents\":[{\"type\":\"Action\",\"id\":\"readish\"}]},"                                    \
    "{\"uid\":{\"type\":\"Action\",\"id\":\"write\"}},"                                            \
    "{\"uid\":{\"type\":\"File\",\"id\":\"f1\"},"                                                  \
    " \"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\",\"id\":\"alice\"}},\"size\":100,"      \
    "  \"labels\":[\"secret\"]},"                                                                  \
    " \"parents\":[{\"type\":\"Folder\",\"id\":\"docs\"}]},"                                       \
    "{\"uid\":{\"type\":\"Folder\",\"id\":\"docs\"},\"parents\":[{\"type\":\"Root\",\"id\":"       \
    "\"r1\"}]}"                                                                                    \
    "]"

#define PT_CONTEXT                                                                                 \
    "{\"hour\":10,\"mfa\":true,\"src\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"192.168.1.7\"}},"      \
    "\"score\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"0.75\"}},\"who\":\"alice\"}"

struct pt_world {
    struct policy_entities *es;
    struct policy_doc *ctx;
    struct policy_request req;
};

static inline void pt_world_init(struct pt_world *w)
{
    struct strbuf err = STRBUF_INIT;
    *w = (struct pt_world){0};
    w->es = policy_entities_new();
    if (policy_entities_load_json(w->es, PT_ENTITIES, strlen(PT_ENTITIES), 0, &err) != 0)
        TEST_FAIL_("entities: %s", err.buf);
    if (policy_doc_parse(PT_CONTEXT, strlen(PT_CONTEXT), 0, &w->ctx, &err) != 0)
        TEST_FAIL_("context: %s", err.buf);
    sb_free(&err);
    w->req.principal = policy_uid_make("User", "alice");
    w->req.action = policy_uid_make("Action", "read");
    w->req.resource = policy_uid_make("File", "f1");
    w->req.context = policy_doc_value(w->ctx);
}

static inline void pt_world_free(struct pt_world *w)
{
    policy_entities_free(w->es);
    policy_doc_free(w->ctx);
}

/* Authorizes policies (text) in the world; aborts the test on a parse error. */
static inline struct policy_set *pt_decide(struct pt_world *w, const char *policies,
                                           struct policy_response *resp)
{
    struct policy_set *set = NULL;
    struct strbuf err = STRBUF_INIT;
    if (policy_set_parse(policies, strlen(policies), "t.cedar", NULL, &set, &err) != 0)
        TEST_FAIL_("parse: %s\n%s", err.buf, policies);
    sb_free(&err);
    if (policy_authorize(set, w->es, &w->req, resp) != 0) TEST_FAIL_("authorize failed");
    return set;
}

/* expr as the condition of one permit: 1 when it holds, 0 when not, -1
 * when it errors (and *msg, when given, is the error). */
static inline int pt_eval(const char *expr)
{
    struct pt_world w;
    pt_world_init(&w);
    struct strbuf text = STRBUF_INIT;
    sb_printf(&text, "permit(principal, action, resource) when { %s };", expr);
    struct policy_response resp;
    policy_response_init(&resp);
    struct policy_set *set = pt_decide(&w, text.buf, &resp);
    int r = resp.nerrors ? -1 : resp.decision == POLICY_ALLOW ? 1 : 0;
    policy_response_free(&resp);
    policy_set_free(set);
    sb_free(&text);
    pt_world_free(&w);
    return r;
}

#define ASSERT_EVAL(expr, want)                                                                    \
    do {                                                                                           \
        int got_ = pt_eval(expr);                                                                  \
        if (got_ != (want)) TEST_FAIL_("%s: expected %d, got %d", expr, (int)(want), got_);        \
    } while (0)

/* Parses text; returns the code and leaves the message in *err. */
static inline int pt_parse_err(const char *text, struct strbuf *err)
{
    struct policy_set *set = NULL;
    sb_reset(err);
    int rc = policy_set_parse(text, strlen(text), "p.cedar", NULL, &set, err);
    policy_set_free(set);
    return rc;
}

#endif
