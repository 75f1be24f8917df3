/*
 * test_cedar_conformance.c — src/policy against the Cedar conformance data
 * in tests/policy/cedar (cedar-integration-tests, Apache-2.0).
 *
 * policy_cedar_corpus unpacks corpus-tests.tar.gz (6,876 fuzz-generated
 * cases) into a temporary directory; policy_cedar_examples runs the
 * hand-written cases. Each case names a policy file, an entities file and
 * requests with the expected decision, reason (determining policy ids) and
 * errors (ids of policies whose evaluation errored). A case whose policies
 * or entities use a feature outside the supported subset
 * (CUSTODY_EUNSUPPORTED) is skipped and counted by reason; every case that
 * runs must agree on all three for every request. Schemas and
 * shouldValidate are ignored (there is no validator).
 *
 * Prints `ran N, skipped M (by reason: ...), failed K` and fails when K > 0
 * or when fewer than 80 % of the cases ran. CEDAR_CONFORMANCE_DIR overrides
 * the data directory; CEDAR_VERBOSE=1 prints every failure.
 *
 * Case files are read with policy_doc_parse, not jansson: their contexts
 * hold attribute names with NUL bytes (\u0000), which jansson refuses in
 * object keys. A case is then a record, its requests a set of records (so
 * they are named by their "description" rather than their position).
 */
#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#include "policy/policy.h"

extern char **environ;

struct reason {
    char text[160];
    size_t count;
};

struct run {
    const char *root; /* paths in the case files are relative to it */
    unsigned flags;   /* JSON flags for entities and contexts */
    size_t cases, ran, skipped, failed, requests, reqs_failed;
    struct reason reasons[64];
    size_t nreasons;
    size_t printed;
    bool verbose;
};

static const char *data_dir(void)
{
    static char dir[4096];
    const char *env = getenv("CEDAR_CONFORMANCE_DIR");
    if (env) return env;
    util_strlcpy(dir, __FILE__, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    size_t n = strlen(dir);
    snprintf(dir + n, sizeof dir - n, "/cedar");
    return dir;
}

static void add_reason(struct run *r, const char *msg)
{
    /* "file:line:col: message" -> "message" */
    const char *m = msg;
    for (int colons = 0; colons < 3 && strchr(m, ':'); colons++)
        m = strchr(m, ':') + 1;
    while (*m == ' ')
        m++;
    if (!*m) m = msg;
    for (size_t i = 0; i < r->nreasons; i++) {
        if (strcmp(r->reasons[i].text, m) == 0) {
            r->reasons[i].count++;
            return;
        }
    }
    if (r->nreasons < UTIL_ARRAY_LEN(r->reasons)) {
        util_strlcpy(r->reasons[r->nreasons].text, m, sizeof r->reasons[0].text);
        r->reasons[r->nreasons++].count = 1;
    }
}

static char *read_rel(const struct run *r, const char *rel, size_t *len)
{
    char *path = util_path_join(r->root, rel);
    char *buf = NULL;
    int rc = util_read_file(path, 256u << 20, &buf, len);
    if (rc) fprintf(stderr, "cannot read %s: %s\n", path, custody_strerror(rc));
    free(path);
    return rc ? NULL : buf;
}

static const struct policy_value *attr(const struct policy_value *rec, const char *name)
{
    return policy_record_get(rec, name, strlen(name));
}

static const char *str_attr(const struct policy_value *rec, const char *name, char *buf,
                            size_t size)
{
    const struct policy_value *v = attr(rec, name);
    if (!v || v->type != POLICY_STRING) return NULL;
    snprintf(buf, size, "%.*s", (int)v->len, v->u.s);
    return buf;
}

/* {"type": T, "id": I} (a record, or an entity when read as one). */
static bool uid_of(const struct policy_value *v, struct policy_uid *u)
{
    if (v && v->type == POLICY_ENTITY) {
        *u = *v->u.uid;
        return true;
    }
    const struct policy_value *t = v ? attr(v, "type") : NULL, *id = v ? attr(v, "id") : NULL;
    if (!t || !id || t->type != POLICY_STRING || id->type != POLICY_STRING) return false;
    policy_uid_init(u, t->u.s, t->len, id->u.s, id->len);
    return true;
}

/* Compares a set of policy ids with the response's policies. */
static bool same_ids(const struct policy_set *set, const struct policy_value *want,
                     const uint32_t *idx, const struct policy_eval_error *errs, size_t n)
{
    if (!want || want->type != POLICY_SET || want->len != n) return false;
    for (size_t i = 0; i < n; i++) {
        const char *id = policy_set_info(set, errs ? errs[i].policy : idx[i])->id;
        struct policy_value v = policy_string(id, strlen(id));
        bool found = false;
        for (size_t k = 0; k < want->len && !found; k++)
            found = policy_value_eq(&want->u.set[k], &v);
        if (!found) return false;
    }
    return true;
}

static void report(struct run *r, const char *file, const char *req, const char *what,
                   const struct policy_set *set, const struct policy_value *want,
                   const struct policy_response *resp)
{
    if (!r->verbose && r->printed >= 15) return;
    r->printed++;
    struct strbuf w = STRBUF_INIT;
    if (want) policy_value_format(&w, want);
    fprintf(stderr, "FAIL %s (%s): %s: expected %s, got %s [", file, req, what, w.buf ? w.buf : "?",
            resp->decision == POLICY_ALLOW ? "allow" : "deny");
    for (size_t i = 0; i < resp->nreasons; i++)
        fprintf(stderr, " %s", policy_set_info(set, resp->reasons[i])->id);
    fprintf(stderr, " ] errors [");
    for (size_t i = 0; i < resp->nerrors; i++)
        fprintf(stderr, " %s (%s)", policy_set_info(set, resp->errors[i].policy)->id,
                resp->errors[i].message);
    fprintf(stderr, " ]\n");
    sb_free(&w);
}

static bool run_request(struct run *r, const char *name, const struct policy_set *set,
                        const struct policy_entities *es, const struct policy_value *q,
                        struct policy_response *resp)
{
    char desc[128];
    if (!str_attr(q, "description", desc, sizeof desc)) util_strlcpy(desc, "request", sizeof desc);
    struct policy_request req = {.context = attr(q, "context")};
    r->requests++;
    if (!uid_of(attr(q, "principal"), &req.principal) || !uid_of(attr(q, "action"), &req.action) ||
        !uid_of(attr(q, "resource"), &req.resource) || !req.context) {
        fprintf(stderr, "FAIL %s (%s): bad request in the case\n", name, desc);
        return false;
    }
    int rc = policy_authorize(set, es, &req, resp);
    if (rc) {
        fprintf(stderr, "FAIL %s (%s): %s\n", name, desc, custody_strerror(rc));
        return false;
    }
    char want[16];
    const char *got = resp->decision == POLICY_ALLOW ? "allow" : "deny";
    const struct policy_value *wreason = attr(q, "reason"), *werr = attr(q, "errors");
    const char *what = NULL;
    const struct policy_value *shown = NULL;
    if (!str_attr(q, "decision", want, sizeof want) || strcmp(want, got) != 0)
        what = "decision", shown = attr(q, "decision");
    else if (!same_ids(set, wreason, resp->reasons, NULL, resp->nreasons))
        what = "reason", shown = wreason;
    else if (!same_ids(set, werr, NULL, resp->errors, resp->nerrors))
        what = "errors", shown = werr;
    if (what) report(r, name, desc, what, set, shown, resp);
    return what == NULL;
}

static void run_case(struct run *r, const char *case_path, const char *name)
{
    r->cases++;
    char *ctext = NULL, *ptext = NULL, *etext = NULL;
    size_t clen = 0, plen = 0, elen = 0;
    struct policy_doc *doc = NULL;
    struct policy_set *set = NULL;
    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    char rel[4096];
    int rc = util_read_file(case_path, 256u << 20, &ctext, &clen);
    if (!rc) rc = policy_doc_parse(ctext, clen, r->flags, &doc, &err);
    const struct policy_value *c = doc ? policy_doc_value(doc) : NULL;
    if (!rc && (ptext = str_attr(c, "policies", rel, sizeof rel) ? read_rel(r, rel, &plen) : NULL))
        rc = policy_set_parse(ptext, plen, name, NULL, &set, &err);
    else if (!rc)
        rc = CUSTODY_EIO;
    if (!rc &&
        (etext = str_attr(c, "entities", rel, sizeof rel) ? read_rel(r, rel, &elen) : NULL)) {
        sb_reset(&err);
        rc = policy_entities_load_json(es, etext, elen, r->flags, &err);
    } else if (!rc) {
        rc = CUSTODY_EIO;
    }
    if (rc == CUSTODY_EUNSUPPORTED) {
        r->skipped++;
        add_reason(r, err.buf ? err.buf : "unsupported");
        goto out;
    }
    if (rc) {
        fprintf(stderr, "FAIL %s: %s: %s\n", name, custody_strerror(rc), err.buf ? err.buf : "");
        r->failed++;
        goto out;
    }
    r->ran++;
    bool ok = true;
    struct policy_response resp;
    policy_response_init(&resp);
    const struct policy_value *reqs = attr(c, "requests");
    for (uint32_t i = 0; reqs && reqs->type == POLICY_SET && i < reqs->len; i++) {
        if (!run_request(r, name, set, es, &reqs->u.set[i], &resp)) {
            ok = false;
            r->reqs_failed++;
        }
    }
    policy_response_free(&resp);
    if (!ok) r->failed++;
out:
    sb_free(&err);
    free(ctext);
    free(ptext);
    free(etext);
    policy_doc_free(doc);
    policy_set_free(set);
    policy_entities_free(es);
}

static int name_qcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json in dir (not *.entities.json), sorted. */
static void run_dir(struct run *r, const char *dir, const char *label)
{
    DIR *d = opendir(dir);
    if (!d) TEST_FAIL_("opendir %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0 ||
            (len > 14 && strcmp(de->d_name + len - 14, ".entities.json") == 0))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = util_realloc(names, cap * sizeof *names);
        }
        names[n++] = util_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_qcmp);
    for (size_t i = 0; i < n; i++) {
        char *path = util_path_join(dir, names[i]);
        char label_name[512];
        snprintf(label_name, sizeof label_name, "%s/%s", label, names[i]);
        run_case(r, path, label_name);
        free(path);
        free(names[i]);
    }
    free(names);
}

static void summary(const struct run *r, const char *what)
{
    printf("cedar conformance (%s): ran %zu of %zu cases (%zu requests), skipped %zu", what, r->ran,
           r->cases, r->requests, r->skipped);
    if (r->nreasons) {
        printf(" (by reason:");
        for (size_t i = 0; i < r->nreasons; i++)
            printf("%s %zu %s", i ? ";" : "", r->reasons[i].count, r->reasons[i].text);
        printf(")");
    }
    printf(", failed %zu (%zu requests)\n", r->failed, r->reqs_failed);
    fflush(stdout);
}

TEST(policy_cedar_corpus)
{
    const char *dir = data_dir();
    char *tarball = util_path_join(dir, "corpus-tests.tar.gz");
    const char *tmp = test_tmpdir();
    char *argv[] = {"tar", "-xzf", tarball, "-C", (char *)tmp, NULL};
    pid_t pid;
    ASSERT_OK(posix_spawnp(&pid, "tar", NULL, NULL, argv, environ));
    int status = 0;
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(tarball);

    struct run r = {.root = tmp, .verbose = getenv("CEDAR_VERBOSE") != NULL};
    char *cases = util_path_join(tmp, "corpus-tests");
    run_dir(&r, cases, "corpus-tests");
    free(cases);
    summary(&r, "corpus");
    ASSERT_EQ(6876, r.cases);
    ASSERT_EQ(0, r.failed);
    ASSERT_GE(r.ran * 100, r.cases * 80);
}

TEST(policy_cedar_examples)
{
    const char *dir = data_dir();
    /* the examples' entities and contexts rely on a schema to read
     * {"type", "id"} objects as entity references */
    struct run r = {.root = dir,
                    .flags = POLICY_JSON_IMPLICIT_UIDS,
                    .verbose = getenv("CEDAR_VERBOSE") != NULL};
    static const char *subdirs[] = {"decimal", "example_use_cases", "ip", "multi"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(subdirs); i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "tests/%s", subdirs[i]);
        char *path = util_path_join(dir, rel);
        run_dir(&r, path, rel);
        free(path);
    }
    summary(&r, "hand-written");
    ASSERT_GT(r.cases, 0);
    ASSERT_EQ(0, r.failed);
    ASSERT_EQ(r.cases, r.ran);
}
