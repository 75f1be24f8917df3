/* internal.h — shared by the files of src/policy (not a public doorway). */
#ifndef CUSTODY_POLICY_INTERNAL_H
#define CUSTODY_POLICY_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "policy.h"

/* ---- core.c: arenas, hashing, uids ---- */

/* A bump allocator: everything a set, a store, a document or one decision
 * needs lives in one, freed at once. Allocation failure aborts (as util). */
struct pol_chunk;
struct pol_arena {
    struct pol_chunk *head;
    size_t total; /* bytes in all chunks */
};
void *pol_alloc(struct pol_arena *a, size_t n); /* 8-aligned, zeroed */
void *pol_memdup(struct pol_arena *a, const void *p, size_t n);
/* n bytes plus a NUL, so the copy is also a C string. */
char *pol_strndup(struct pol_arena *a, const char *s, size_t n);
/* Forgets every allocation but keeps (at most) one chunk big enough for
 * what was used, so a steady workload stops calling malloc. */
void pol_arena_reset(struct pol_arena *a);
void pol_arena_free(struct pol_arena *a);
/* Moves every chunk of src into dst (src ends empty). */
void pol_arena_splice(struct pol_arena *dst, struct pol_arena *src);

uint64_t pol_hash_bytes(const void *p, size_t n, uint64_t k0);

/* memcmp(a, b, n) == 0 for the short strings of the hot path (type names,
 * ids, attribute names), without a call. */
static inline bool pol_bytes_eq(const char *a, const char *b, size_t n)
{
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return false;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n--)
        if (*a++ != *b++) return false;
    return true;
}
/* A copy of u whose strings live in a. */
const struct policy_uid *pol_uid_copy(struct pol_arena *a, const struct policy_uid *u);
/* Type names: identifiers joined by `::`. */
bool pol_valid_type(const char *s, size_t n);
bool pol_is_ident(const char *s, size_t n);
/* Appends `Type::"id"` with Cedar escapes. */
int pol_uid_format(struct strbuf *sb, const struct policy_uid *u);
/* Appends s as a Cedar string literal with its quotes. */
int pol_str_format(struct strbuf *sb, const char *s, size_t n);

/* Small growable arrays (malloc; util_realloc aborts on OOM). */
#define POL_GROW(ptr, n, cap)                                                                      \
    do {                                                                                           \
        if ((n) >= (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 8;                                                           \
            (ptr) = util_realloc((ptr), (cap) * sizeof *(ptr));                                    \
        }                                                                                          \
    } while (0)

/* ---- value.c ---- */

/* A deep copy of v into a (uids copied too). */
void pol_value_copy(struct pol_arena *a, const struct policy_value *v, struct policy_value *out);
bool pol_set_contains(const struct policy_value *set, const struct policy_value *v);
int pol_name_cmp(const char *a, size_t alen, const char *b, size_t blen);
const char *pol_type_name(const struct policy_value *v);

/* ---- ext.c: the extension types (ipaddr, decimal, datetime, duration) ---- */

enum pol_ext_fn {
    EXT_IP = 0,
    EXT_DECIMAL,
    EXT_DATETIME,
    EXT_DURATION,
    EXT_IS_IPV4,
    EXT_IS_IPV6,
    EXT_IS_LOOPBACK,
    EXT_IS_MULTICAST,
    EXT_IS_IN_RANGE,
    EXT_LESS_THAN,
    EXT_LESS_THAN_OR_EQUAL,
    EXT_GREATER_THAN,
    EXT_GREATER_THAN_OR_EQUAL,
    EXT_OFFSET,
    EXT_DURATION_SINCE,
    EXT_TO_DATE,
    EXT_TO_TIME,
    EXT_TO_MILLISECONDS,
    EXT_TO_SECONDS,
    EXT_TO_MINUTES,
    EXT_TO_HOURS,
    EXT_TO_DAYS,
    EXT__COUNT
};

struct pol_ext_info {
    const char *name;
    bool method;   /* called as x.name(...), the receiver is argument 0 */
    uint8_t arity; /* including the receiver */
};
const struct pol_ext_info *pol_ext_info(int fn);
/* The function named name (either style), or -1. */
int pol_ext_lookup(const char *name, size_t len);
/* Applies fn to args; on error (wrong count or types, bad argument,
 * overflow) returns CUSTODY_EINVAL with a message in msg (when non-NULL). */
int pol_ext_call(int fn, const struct policy_value *args, size_t nargs, struct policy_value *out,
                 struct strbuf *msg);
/* Cedar syntax for an extension value: ip("10.0.0.0/8"), decimal("1.5000"). */
int pol_ext_format(struct strbuf *sb, const struct policy_value *v);

/* ---- lexer.c ---- */

enum pol_tok {
    T_EOF = 0,
    T_IDENT,
    T_INT,
    T_STR, /* raw bytes between the quotes, still escaped */
    T_LPAREN,
    T_RPAREN,
    T_LBRACK,
    T_RBRACK,
    T_LBRACE,
    T_RBRACE,
    T_COMMA,
    T_SEMI,
    T_COLON,
    T_DCOLON,
    T_DOT,
    T_AT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_AND,
    T_OR,
    T_NOT,
    T_MINUS,
    T_PLUS,
    T_STAR,
    T_SLOT, /* ?principal, ?resource (templates) */
};

struct pol_token {
    uint8_t kind;
    const char *p; /* T_STR: after the opening quote */
    uint32_t len;
    unsigned line, col;
    size_t off; /* byte offset of the token's first character */
};

struct pol_lexer {
    const char *src, *cur, *end;
    unsigned line, col;
};

void pol_lex_init(struct pol_lexer *lx, const char *src, size_t len);
/* Next token; a character Cedar has no token for is CUSTODY_ESYNTAX with
 * the message in msg and t->line/col set to where it is. */
int pol_lex_next(struct pol_lexer *lx, struct pol_token *t, struct strbuf *msg);
const char *pol_tok_name(int kind);
bool pol_tok_is(const struct pol_token *t, const char *word);

/* Cedar string escapes (\n \r \t \\ \0 \' \" \xHH \u{H..}); with pattern,
 * also \* (a literal star, PAT_STAR otherwise). Output into a. */
#define PAT_STAR 0x100
struct pol_pattern {
    uint32_t n;
    uint16_t el[]; /* bytes, or PAT_STAR */
};
int pol_unescape(struct pol_arena *a, const char *raw, size_t len, char **out, size_t *outlen,
                 struct strbuf *msg);
int pol_unescape_pattern(struct pol_arena *a, const char *raw, size_t len, struct pol_pattern **out,
                         struct strbuf *msg);
bool pol_pattern_match(const struct pol_pattern *p, const char *s, size_t n);

/* ---- the compiled form (parser.c, expr.c) ---- */

enum pol_var { VAR_PRINCIPAL = 0, VAR_ACTION, VAR_RESOURCE, VAR_CONTEXT };

enum pol_op {
    N_LIT = 0, /* u.lit */
    N_VAR,     /* aux = enum pol_var */
    N_AND,     /* kids[0] && kids[1] && ... */
    N_OR,
    N_IF, /* kids: cond, then, else */
    N_NOT,
    N_NEG,
    N_EQ,
    N_NE,
    N_LT,
    N_LE,
    N_GT,
    N_GE,
    N_ADD,
    N_SUB,
    N_MUL,
    N_IN,
    N_CONTAINS,
    N_CONTAINS_ALL,
    N_CONTAINS_ANY,
    N_IS_EMPTY,
    N_GET_TAG,
    N_HAS_TAG,
    N_HAS,     /* kids[0] has u.name */
    N_GETATTR, /* kids[0].u.name */
    N_LIKE,    /* kids[0] like u.pat */
    N_IS,      /* kids[0] is u.name (a type) */
    N_SET,     /* [kids...] */
    N_RECORD,  /* {u.keys[i]: kids[i]} */
    N_EXT,     /* aux = enum pol_ext_fn, kids = arguments */
};

struct pol_key {
    const char *s;
    uint32_t len;
};

struct pol_node {
    uint8_t op;
    uint8_t aux;
    uint16_t height; /* 1 + the tallest kid's */
    uint32_t nkids;
    unsigned line, col;
    struct pol_node **kids;
    union {
        struct policy_value lit;
        struct pol_key name;
        struct pol_pattern *pat;
        const struct pol_key *keys;
    } u;
};

enum pol_scope_kind { SC_ANY = 0, SC_EQ, SC_IN, SC_IS, SC_IS_IN, SC_IN_LIST };

struct pol_scope {
    uint8_t kind;
    const struct policy_uid *uid;   /* SC_EQ, SC_IN, SC_IS_IN */
    struct pol_key type;            /* SC_IS, SC_IS_IN */
    const struct policy_uid **list; /* SC_IN_LIST (action) */
    uint32_t nlist;
};

struct pol_cond {
    bool unless;
    struct pol_node *expr;
    unsigned line, col;
    const char *text;
    size_t text_len;
};

struct pol_policy {
    struct policy_info info;
    struct pol_scope scope[3]; /* VAR_PRINCIPAL, VAR_ACTION, VAR_RESOURCE */
    struct pol_cond *conds;
    uint32_t nconds;
};

/* Parses text into policies allocated in a; ids are left NULL. On error
 * returns the code with "line:column: message" in err (no filename). */
int pol_parse(struct pol_arena *a, const char *text, size_t len, struct pol_policy ***out,
              size_t *n, size_t max_policies, struct strbuf *err);

/* expr.c (used by parser.c) */
struct pol_parser {
    struct pol_lexer lx;
    struct pol_token tok; /* current */
    struct pol_arena *a;
    struct strbuf *err;
    unsigned depth;
    size_t prev_end; /* byte offset just past the previous token */
    int rc;          /* first error */
};
int pol_parse_advance(struct pol_parser *ps);
int pol_parse_fail(struct pol_parser *ps, int rc, const struct pol_token *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool pol_parse_accept(struct pol_parser *ps, int kind);
int pol_parse_expect(struct pol_parser *ps, int kind, const char *what);
/* An expression; NULL with ps->rc set on error. */
struct pol_node *pol_parse_expr(struct pol_parser *ps);
/* `Type::"id"` starting at the current identifier. */
const struct policy_uid *pol_parse_entity(struct pol_parser *ps);
/* A type path (`A::B`) starting at the current identifier. */
int pol_parse_path(struct pol_parser *ps, struct pol_key *out);
/* Words that cannot name attributes or types: true false if then else in is
 * like has, and anything starting with __cedar. */
bool pol_reserved(const char *s, size_t n);

/* ---- entities.c ---- */

/* A uid interned in a store: every uid the store mentions (entities and
 * parents) has exactly one, so ancestor sets are sets of pointers. */
struct pol_suid {
    struct policy_uid uid;  /* first: a (const struct policy_uid *) is a pol_suid */
    uint32_t idx;           /* 0.. in order of interning */
    struct pol_entity *ent; /* the entity with this uid, or NULL */
};

struct pol_entity {
    const struct pol_suid *uid;
    struct policy_value attrs; /* record */
    struct policy_value tags;  /* record */
    const struct policy_uid **parents;
    uint32_t nparents;
    const struct policy_uid **anc; /* frozen: transitive ancestors, sorted by hash */
    uint32_t nanc;
    bool anc_done;
};

struct pol_slot {
    uint64_t hash; /* the entity's uid hash (0: empty), so probes skip others unread */
    struct pol_entity *e;
};

struct policy_entities {
    struct pol_arena arena;
    struct pol_slot *slots; /* open addressing by uid hash */
    size_t cap, n;
    struct pol_suid **uids; /* the intern table, open addressing */
    size_t ucap, nu;
    struct pol_entity **list; /* insertion order */
    size_t nlist, listcap;
    bool frozen;
};

const struct pol_entity *pol_entity_find(const struct policy_entities *es,
                                         const struct policy_uid *uid);
/* Ancestors of an entity of the store (as pol_ancestors). */
int pol_entity_ancestors(const struct policy_entities *es, const struct pol_entity *e,
                         struct pol_arena *scratch, const struct policy_uid *const **out,
                         uint32_t *n);
/* The store's copy of uid (made on first use). */
struct pol_suid *pol_intern(struct policy_entities *es, const struct policy_uid *uid);
/* Adds entities made with pol_intern'd uids and values in es->arena; all
 * or nothing (CUSTODY_EEXIST for a uid already there or repeated). */
int pol_entities_commit(struct policy_entities *es, struct pol_entity **ents, size_t n,
                        struct strbuf *err);
/* Ancestors of uid: the frozen closure, or (unfrozen store) walked into
 * scratch. Returns 0 or CUSTODY_ETOOBIG. */
int pol_ancestors(const struct policy_entities *es, const struct policy_uid *uid,
                  struct pol_arena *scratch, const struct policy_uid *const **out, uint32_t *n);
bool pol_anc_contains(const struct policy_uid *const *anc, uint32_t n,
                      const struct policy_uid *target);
/* Ancestors of an entity described in the request: its parents and their
 * ancestors in the store, deduplicated and sorted by hash into scratch. */
int pol_given_ancestors(const struct policy_entities *es, const struct policy_req_entity *g,
                        struct pol_arena *scratch, const struct policy_uid *const **out,
                        uint32_t *n);

/* ---- eval.c ---- */

struct policy_scratch {
    struct pol_arena arena;
    uint32_t *stamp; /* per policy: last generation it was proposed in */
    size_t nstamp;
    uint32_t gen;
    uint32_t *cand;
    size_t ncand, candcap;
    uint32_t *reasons, *forbids;
    size_t nreasons, reasonscap, nforbids, forbidscap;
    struct policy_eval_error *errors;
    size_t nerrors, errorscap;
    struct strbuf msg;
};

struct pol_eval {
    const struct policy_entities *es;
    const struct policy_request *req;
    struct policy_value vars[4];
    const struct pol_entity *ent[3]; /* principal, action, resource in es (or NULL) */
    const struct policy_req_entity *given[3]; /* described by the request instead */
    const struct policy_uid *const *anc[3];
    uint32_t nanc[3];
    struct pol_arena *scratch;
    struct strbuf *msg; /* the last error's message */
    unsigned depth;
};

/* Resolves the request's entities and ancestors; CUSTODY_EINVAL when the
 * context is not a record. */
int pol_eval_init(struct pol_eval *e, const struct policy_entities *es,
                  const struct policy_request *req, struct pol_arena *scratch, struct strbuf *msg);
bool pol_scope_match(const struct pol_eval *e, const struct pol_policy *p, int var);
/* 0 and *out, or CUSTODY_EINVAL with e->msg. */
int pol_eval_expr(struct pol_eval *e, const struct pol_node *n, struct policy_value *out);
/* A clause: 0 with *held, or an error. */
int pol_eval_cond(struct pol_eval *e, const struct pol_cond *c, bool *held);

/* ---- authorize.c ---- */

struct pol_index {
    uint64_t *keys; /* uid hashes; 0 = empty slot (hash 0 is remapped to 1) */
    uint32_t *first, *count;
    size_t cap;
    uint32_t *items;
};

struct pol_text {
    const char *text;
    size_t len;
    const char *file;
};

struct policy_set {
    struct policy_opts opts;
    struct pol_arena arena;
    struct pol_policy **policies;
    size_t n, cap;
    struct pol_text *texts;
    size_t ntexts, textcap, text_bytes;
    struct pol_index idx[3];
    uint32_t *unindexed;
    size_t nunindexed;
};

void pol_scratch_prepare(struct policy_response *resp, size_t npolicies);

#endif
