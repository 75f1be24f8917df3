/*
 * policy.h — the doorway to src/policy: a subset of the Cedar policy
 * language (https://docs.cedarpolicy.com), evaluated with Cedar's semantics.
 *
 * Four objects:
 *
 *   struct policy_set       parsed, compiled and indexed policies (one or
 *                           more files); immutable once built, shareable
 *                           between threads.
 *   struct policy_entities  the entity store: entities (uid, attributes,
 *                           tags, parents) and the transitive closure of
 *                           their hierarchy; read-only once built.
 *   struct policy_request   principal, action, resource (entity uids) and a
 *                           context record.
 *   struct policy_response  the decision, the determining policies and the
 *                           policies that errored. It owns scratch memory
 *                           reused from call to call: keep one per thread and
 *                           a decision allocates nothing once it is warm.
 *
 *   struct policy_set *set;
 *   struct strbuf err = STRBUF_INIT;
 *   if (policy_set_parse(text, len, "main.cedar", NULL, &set, &err) != 0)
 *       log_error("%s", err.buf);              // main.cedar:3:14: expected `;`
 *   struct policy_entities *es = policy_entities_new();
 *   policy_entities_load_json(es, json, json_len, 0, &err);
 *   struct policy_request req = {
 *       .principal = policy_uid_make("Agent", "a-7"),
 *       .action = policy_uid_make("Action", "read"),
 *       .resource = policy_uid_make("File", "docs:/q3.txt"),
 *   };
 *   struct policy_response resp;
 *   policy_response_init(&resp);
 *   policy_authorize(set, es, &req, &resp);  // resp.decision == POLICY_ALLOW?
 *
 * Semantics are Cedar's: default deny; a satisfied forbid overrides any
 * permit; a policy whose condition errors (type error, missing attribute,
 * overflow, bad extension argument) is not satisfied and is listed in the
 * response's errors; && and || short-circuit. docs/policy.md lists the
 * supported subset, the limits, and the conformance figures.
 *
 * Every int-returning function answers 0 or a negative CUSTODY_E* code:
 * CUSTODY_ESYNTAX (not Cedar), CUSTODY_EUNSUPPORTED (Cedar, but outside the
 * subset; the message names the feature), CUSTODY_ETOOBIG (over a limit
 * below), CUSTODY_EINVAL (anything else that is wrong with the input).
 */
#ifndef CUSTODY_POLICY_H
#define CUSTODY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- limits (inputs over them are refused with CUSTODY_ETOOBIG) ---- */
#define POLICY_MAX_TEXT (4u << 20)  /* bytes of policy text in one set */
#define POLICY_MAX_POLICIES 65536   /* policies in one set */
#define POLICY_MAX_DEPTH 64         /* nesting of (), [], {}, calls, if */
#define POLICY_MAX_AST_DEPTH 256    /* depth of an expression tree (long a + b + ...) */
#define POLICY_MAX_STRING 65536     /* bytes of one string, id, attribute name */
#define POLICY_MAX_ELEMS 65536      /* elements of one set / attributes of one record */
#define POLICY_MAX_ANNOTATIONS 64   /* annotations on one policy */
#define POLICY_MAX_JSON (64u << 20) /* bytes of one entities / context JSON text */
#define POLICY_MAX_VALUE_DEPTH 64   /* nesting of sets/records in JSON values */
#define POLICY_MAX_ENTITIES 4000000 /* entities in one store */
#define POLICY_MAX_PARENTS 1024     /* direct parents of one entity */
/* transitive ancestors of one entity (so also the longest parent chain) */
#define POLICY_MAX_ANCESTORS 4096

/* ---- entity uids ---- */

/*
 * An entity uid: type (`Agent`, `Custody::File`) and id (any string; may
 * hold NUL bytes). `hash` (SipHash with a per-process key) is computed by
 * policy_uid_init / policy_uid_make and must stay in step with the strings.
 * Two uids are equal when their hashes, types and ids are: a mismatch costs
 * one integer compare, a match a short string compare. An entity store
 * interns its uids (its ancestor sets are sets of pointers), and the policy
 * index is keyed by the hash.
 */
struct policy_uid {
    const char *type;
    const char *id;
    uint32_t type_len;
    uint32_t id_len;
    uint64_t hash;
};

/* Fills *u (pointing at, not copying, the strings) and its hash. */
void policy_uid_init(struct policy_uid *u, const char *type, size_t type_len, const char *id,
                     size_t id_len);
/* The same for NUL-terminated strings, by value. */
struct policy_uid policy_uid_make(const char *type, const char *id);
bool policy_uid_eq(const struct policy_uid *a, const struct policy_uid *b);

/* ---- values ---- */

enum policy_type {
    POLICY_BOOL = 0,
    POLICY_LONG,     /* i: signed 64-bit; + - * overflow is an evaluation error */
    POLICY_STRING,   /* s, len bytes (UTF-8, may hold NUL) */
    POLICY_ENTITY,   /* uid */
    POLICY_SET,      /* set[len]: sorted by policy_value_cmp, no duplicates */
    POLICY_RECORD,   /* rec[len]: sorted by name, names unique */
    POLICY_DECIMAL,  /* i: value * 10^4 (Cedar's decimal extension) */
    POLICY_IPADDR,   /* ip[16] (IPv4 in ip[0..3]), ip_v6, ip_prefix */
    POLICY_DATETIME, /* i: milliseconds since 1970-01-01T00:00:00Z */
    POLICY_DURATION, /* i: milliseconds */
};

struct policy_attr;

/*
 * A Cedar value. Plain data: it points at strings, uids, elements and
 * attributes that belong to whoever made it (a policy set, an entity store,
 * a policy_doc, or the caller), and is never freed by itself.
 */
struct policy_value {
    uint8_t type; /* enum policy_type */
    uint8_t ip_v6;
    uint8_t ip_prefix;
    uint32_t len; /* POLICY_STRING bytes, POLICY_SET elements, POLICY_RECORD attributes */
    union {
        bool b;
        int64_t i;
        const char *s;
        const struct policy_uid *uid;
        const struct policy_value *set;
        const struct policy_attr *rec;
        uint8_t ip[16];
    } u;
};

struct policy_attr {
    const char *name;
    uint32_t name_len;
    struct policy_value value;
};

static inline struct policy_value policy_bool(bool b)
{
    struct policy_value v = {.type = POLICY_BOOL};
    v.u.b = b;
    return v;
}

static inline struct policy_value policy_long(int64_t i)
{
    struct policy_value v = {.type = POLICY_LONG};
    v.u.i = i;
    return v;
}

/* s must outlive the value; len <= POLICY_MAX_STRING. */
static inline struct policy_value policy_string(const char *s, size_t len)
{
    struct policy_value v = {.type = POLICY_STRING, .len = (uint32_t)len};
    v.u.s = s;
    return v;
}

static inline struct policy_value policy_entity(const struct policy_uid *uid)
{
    struct policy_value v = {.type = POLICY_ENTITY};
    v.u.uid = uid;
    return v;
}

/* A set over items[0..*n): sorts them and drops duplicates in place (*n
 * shrinks). items must outlive the value. CUSTODY_ETOOBIG over
 * POLICY_MAX_ELEMS. */
int policy_value_set_of(struct policy_value *items, size_t *n, struct policy_value *out);
/* A record over attrs[0..n): sorts them by name in place; a repeated name
 * is CUSTODY_EINVAL. attrs must outlive the value. */
int policy_value_record_of(struct policy_attr *attrs, size_t n, struct policy_value *out);
/* The attribute `name` of a record, or NULL. */
const struct policy_value *policy_record_get(const struct policy_value *rec, const char *name,
                                             size_t name_len);

/* Cedar's equality (==): structural, sets as sets, never an error. */
bool policy_value_eq(const struct policy_value *a, const struct policy_value *b);
/* A total order over all values (the order sets are kept in). */
int policy_value_cmp(const struct policy_value *a, const struct policy_value *b);
/* Appends v in Cedar syntax (`{"a": [1, User::"x"], "ip": ip("10.0.0.1")}`). */
int policy_value_format(struct strbuf *sb, const struct policy_value *v);

/*
 * A value read from JSON in Cedar's value format (as in entity attributes
 * and request contexts): booleans, integers, strings, arrays (sets), objects
 * (records), {"__entity": {"type": T, "id": I}} and
 * {"__extn": {"fn": F, "arg": A}} / {"__extn": {"fn": F, "args": [...]}}.
 * The document owns everything the value points at.
 */
#define POLICY_JSON_IMPLICIT_UIDS                                                                  \
    0x1u /* an object with exactly "type" and "id" string                                          \
          * members is an entity uid (what a Cedar schema                                          \
          * would make of an entity-typed attribute) */
struct policy_doc;
int policy_doc_parse(const char *json, size_t len, unsigned flags, struct policy_doc **out,
                     struct strbuf *err);
const struct policy_value *policy_doc_value(const struct policy_doc *doc);
void policy_doc_free(struct policy_doc *doc);

/* ---- the entity store ---- */

struct policy_entities;

struct policy_entities *policy_entities_new(void);
void policy_entities_free(struct policy_entities *es);

/*
 * Loads Cedar's JSON entity format: an array of
 *   {"uid": {"type": T, "id": I} | {"__entity": {...}},
 *    "attrs": {...}, "parents": [uid, ...], "tags": {...}}
 * (attrs, parents and tags optional). All or nothing: on error the store
 * is unchanged and err says which entity and why. An entity that is
 * already in the store is CUSTODY_EEXIST. Freezes the store at the end.
 */
int policy_entities_load_json(struct policy_entities *es, const char *json, size_t len,
                              unsigned flags, struct strbuf *err);

/*
 * Adds one entity. attrs and tags are records (or NULL for none); they and
 * the parents are copied into the store. CUSTODY_EEXIST when uid is there
 * already. Leaves the store unfrozen: lookups stay correct (ancestors are
 * then walked per request) until policy_entities_freeze.
 */
int policy_entities_add(struct policy_entities *es, const struct policy_uid *uid,
                        const struct policy_value *attrs, const struct policy_uid *parents,
                        size_t nparents, const struct policy_value *tags);
/* The same with attrs given as a JSON object (Cedar's value format). */
int policy_entities_add_json(struct policy_entities *es, const struct policy_uid *uid,
                             const char *attrs_json, size_t attrs_len,
                             const struct policy_uid *parents, size_t nparents, struct strbuf *err);

/*
 * Computes every entity's transitive ancestors (cycle-safe), so `in` is a
 * lookup. CUSTODY_ETOOBIG when an entity has more than POLICY_MAX_ANCESTORS
 * ancestors (the store then stays unfrozen, and a decision that needs that
 * entity's ancestors answers CUSTODY_ETOOBIG). Not thread-safe; a frozen
 * store is read-only.
 */
int policy_entities_freeze(struct policy_entities *es, struct strbuf *err);
size_t policy_entities_count(const struct policy_entities *es);
/* Cedar's `a in b`: a == b, or b is a transitive ancestor of a. */
bool policy_entities_in(const struct policy_entities *es, const struct policy_uid *a,
                        const struct policy_uid *b);
/* The attributes of an entity (a record value), or NULL when absent. */
const struct policy_value *policy_entities_attrs(const struct policy_entities *es,
                                                 const struct policy_uid *uid);

/* ---- policy sets ---- */

enum policy_effect { POLICY_PERMIT = 0, POLICY_FORBID = 1 };

struct policy_opts {
    /* A policy's @id("...") annotation is its id (ids must then be unique);
     * without one, or without this option, it is policyN, N counting every
     * policy of the set in order of appearance from 0. */
    bool id_annotation;
};

struct policy_annotation {
    const char *key;
    const char *value; /* "" for a bare @key */
    uint32_t value_len;
};

struct policy_info {
    const char *id;
    enum policy_effect effect;
    const char *file; /* the filename given when the text was added */
    unsigned line, column;
    const char *text; /* the policy's source, from its first annotation to `;` */
    size_t text_len;
    const struct policy_annotation *annotations;
    size_t nannotations;
};

struct policy_set;

struct policy_set *policy_set_new(const struct policy_opts *opts);
void policy_set_free(struct policy_set *set);
/*
 * Parses text (policies in Cedar syntax) and adds its policies to set. All
 * or nothing: on error nothing is added and err holds
 * "filename:line:column: message" (columns count characters from 1).
 */
int policy_set_add_text(struct policy_set *set, const char *text, size_t len, const char *filename,
                        struct strbuf *err);
/* policy_set_new + policy_set_add_text. *out is NULL on error. */
int policy_set_parse(const char *text, size_t len, const char *filename,
                     const struct policy_opts *opts, struct policy_set **out, struct strbuf *err);
size_t policy_set_count(const struct policy_set *set);
const struct policy_info *policy_set_info(const struct policy_set *set, size_t i);
/* Index of the policy with that id, or CUSTODY_ENOENT. */
int policy_set_find(const struct policy_set *set, const char *id);
/* Lowercase hex SHA-256 over every text added, in order (each preceded by
 * its length as 8 big-endian bytes): the set's identity in audit events. */
void policy_set_hash(const struct policy_set *set, char out[UTIL_SHA256_HEX_LEN + 1]);

/* ---- authorization ---- */

/*
 * An entity the caller describes for one request instead of keeping it in
 * the store (custody maps files and folders from paths this way, so the
 * store never holds them): its attributes and its parents. Its ancestors
 * are the parents and their ancestors in the store. Only the request's
 * own principal / resource variable sees it: a literal with the same uid
 * in a policy is looked up in the store.
 */
struct policy_req_entity {
    const struct policy_value *attrs; /* a record; NULL is {} */
    const struct policy_uid *parents;
    size_t nparents;
};

struct policy_request {
    struct policy_uid principal;
    struct policy_uid action;
    struct policy_uid resource;
    const struct policy_value *context; /* a record; NULL is {} */
    /* Optional: used instead of the store's entity (NULL: the store's). */
    const struct policy_req_entity *principal_entity;
    const struct policy_req_entity *resource_entity;
};

enum policy_decision { POLICY_DENY = 0, POLICY_ALLOW = 1 };

struct policy_eval_error {
    uint32_t policy;     /* index in the set */
    const char *message; /* "policy3: attribute `owner` not found on File::\"x\"" */
};

struct policy_scratch; /* reusable memory, internal */

struct policy_response {
    enum policy_decision decision;
    /* The determining policies, ascending: the satisfied forbids when
     * denied by one, the satisfied permits when allowed, none otherwise. */
    const uint32_t *reasons;
    size_t nreasons;
    /* Policies whose conditions errored, ascending (each is unsatisfied). */
    const struct policy_eval_error *errors;
    size_t nerrors;
    /* How many policies the index proposed and how many had their
     * conditions evaluated (for tests and benchmarks). */
    size_t ncandidates, nevaluated;
    struct policy_scratch *scratch;
};

void policy_response_init(struct policy_response *resp);
void policy_response_free(struct policy_response *resp);

/*
 * Decides req against set and es (either may be shared between threads;
 * resp may not). Fills resp; its arrays and messages stay valid until the
 * next call with it. Errors (not decisions): CUSTODY_EINVAL when the
 * context is not a record, CUSTODY_ETOOBIG when the store's hierarchy is
 * over the limits.
 */
int policy_authorize(const struct policy_set *set, const struct policy_entities *es,
                     const struct policy_request *req, struct policy_response *resp);

/* ---- explanation (custody policy explain) ---- */

enum policy_scope_result { POLICY_SCOPE_MATCH = 0, POLICY_SCOPE_NO_MATCH = 1 };

enum policy_cond_result {
    POLICY_COND_SKIPPED = 0, /* not evaluated: the scope or an earlier clause failed */
    POLICY_COND_HELD,        /* the clause let the policy apply */
    POLICY_COND_FAILED,      /* when {false} or unless {true} */
    POLICY_COND_ERROR,       /* evaluation error (message) */
};

struct policy_explain_cond {
    bool unless;
    enum policy_cond_result result;
    const char *message; /* POLICY_COND_ERROR only */
    unsigned line, column;
    const char *text; /* the clause's source, `when { ... }` */
    size_t text_len;
};

struct policy_explain_entry {
    uint32_t policy;
    enum policy_scope_result principal, action, resource;
    bool satisfied;   /* scope matched and every clause held */
    bool errored;     /* a clause errored */
    bool determining; /* among the response's reasons */
    struct policy_explain_cond *conds;
    size_t nconds;
};

struct policy_explanation {
    enum policy_decision decision;
    struct policy_explain_entry *entries;
    size_t nentries;
    size_t npolicies; /* in the set */
    void *mem_;       /* internal */
};

#define POLICY_EXPLAIN_ALL 0x1u /* every policy, not only those whose action scope matches */

/* Evaluates every policy (no index) clause by clause. The decision is the
 * one policy_authorize makes. Free with policy_explanation_free. */
int policy_explain(const struct policy_set *set, const struct policy_entities *es,
                   const struct policy_request *req, unsigned flags,
                   struct policy_explanation *out);
void policy_explanation_free(struct policy_explanation *ex);
/* Human text (one block per policy) and JSON ({"decision":..,"policies":[..]}). */
int policy_explain_text(const struct policy_set *set, const struct policy_request *req,
                        const struct policy_explanation *ex, struct strbuf *out);
int policy_explain_json(const struct policy_set *set, const struct policy_request *req,
                        const struct policy_explanation *ex, struct strbuf *out);

#endif
