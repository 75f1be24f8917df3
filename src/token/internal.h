/*
 * internal.h — what the files of src/token share: the parsed form of a
 * token (struct tok), its reference-counted holder (struct tok_ref, shared
 * by token_info and the verification cache), and the helpers each file
 * gives the others.
 *
 *   codec.c   base64, V1 packets, the JSON form: string <-> struct tok
 *   caveat.c  the caveat grammar, effective claims, the narrowing check
 *   check.c   a token's caveats against one request
 *   token.c   the key, mint, attenuate, inspect, verify (MAC via libmacaroons)
 *   cache.c   the verification cache
 */
#ifndef CUSTODY_TOKEN_INTERNAL_H
#define CUSTODY_TOKEN_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>

#include "token/token.h"

/* One parsed caveat. text is the whole caveat, NUL-terminated, inside its
 * tok's mem; value is its tail after "key op ". */
struct tok_caveat {
    const char *text;
    const char *value;
    uint64_t a, b; /* numbers: expires/issued/epoch in a; range a-b; action mask in a */
    uint16_t len;  /* strlen(text) */
    uint8_t kind;  /* enum token_caveat_key */
};

struct tok {
    char id[TOKEN_ID_HEX_LEN + 1];
    char location[TOKEN_LOCATION_MAX + 1];
    uint8_t sig[32];
    bool json; /* parsed from the JSON form */
    size_t ncav;
    struct tok_caveat cav[TOKEN_MAX_CAVEATS];
    struct token_effective eff; /* filled by tok_effective */
    char *mem;                  /* caveat texts */
    size_t memlen, memcap;
};

/* A parsed token that verified (or was inspected), immutable once made;
 * freed when the last reference goes. str is the token string it came from
 * (the cache's key). */
struct tok_ref {
    atomic_uint refs;
    uint64_t hash;
    size_t slen;
    char *str;
    struct tok t;
};

/* ---- codec.c ---- */
/* Parses a token string of len bytes (len <= TOKEN_MAX_LEN checked here)
 * into t (zeroed first; tok_free after, on success or not). Caveats are
 * checked against the grammar; effective claims are computed. */
int tok_parse(const char *s, size_t len, struct tok *t, struct strbuf *reason);
void tok_free(struct tok *t);
/* Sets t->id after checking it (TOKEN_ID_HEX_LEN lower-case hex digits). */
int tok_set_identifier(struct tok *t, const char *v, size_t n, struct strbuf *reason);
/* The V1 packets (raw bytes) of t. */
int tok_v1_encode(const struct tok *t, struct strbuf *out);
/* The JSON form of t. */
int tok_json_encode(const struct tok *t, struct strbuf *out);
/* base64url without padding. */
int tok_b64url_encode(const uint8_t *in, size_t len, struct strbuf *out);
/* Any of base64 / base64url, padded or not, strict (canonical trailing
 * bits, one alphabet); out must hold len * 3 / 4 + 3 bytes. */
int tok_b64_decode(const char *s, size_t len, uint8_t *out, size_t *outlen);

/* ---- caveat.c ---- */
/* Appends one caveat (raw bytes) to t: size and count limits (ETOOBIG),
 * grammar (EBADTOKEN). */
int tok_add_caveat(struct tok *t, const char *s, size_t len, struct strbuf *reason);
/* Parses NUL-terminated text of len bytes into c (c->text = text). */
int tok_caveat_parse(const char *text, size_t len, struct tok_caveat *c, struct strbuf *reason);
/* Computes t->eff from t's caveats. */
void tok_effective(struct tok *t);
/* Whether scope (s, s_prefix) covers x (x_prefix: x is itself a prefix):
 * an exact scope only itself, a prefix "R:/d/" the directory R:/d, R:/d/
 * and everything below, on component boundaries. */
bool tok_scope_covers(const char *s, bool s_prefix, const char *x, bool x_prefix);

/* ---- check.c ---- */
/* Steps 4-9 of token_verify. */
int tok_check(const struct tok *t, const struct token_request *req, struct strbuf *reason);
/* 0 when adding c to a token with effective claims eff narrows it (or
 * changes nothing); EPERM when it would widen, EINVAL when it contradicts. */
int tok_narrows(const struct token_effective *eff, const struct tok_caveat *c,
                struct strbuf *reason);
/* Resource ids: root ":" path, no "." / ".." / empty components, no control
 * bytes, valid UTF-8; prefix forms end in '/', exact ones do not (but
 * "root:/"). */
bool tok_resource_valid(const char *s, size_t len, bool prefix);
bool tok_agent_name_valid(const char *s, size_t len);
bool tok_policy_id_valid(const char *s, size_t len);
/* "<scheme>:<64 lower-case hex>" */
bool tok_hash_id_valid(const char *s, size_t len, const char *scheme);

/* ---- shared helpers (caveat.c) ---- */
/* Appends s as a double-quoted string, bytes outside printable ASCII (and
 * '"', '\\') as \xNN, cut after 96 bytes with "...". */
void tok_quote(struct strbuf *sb, const char *s, size_t len);

/* ---- token.c ---- */
void tok_ref_release(struct tok_ref *r);
/* Checks the MAC chain of t under key with libmacaroons. */
int tok_mac_verify(const uint8_t key[TOKEN_KEY_LEN], const struct tok *t, struct strbuf *reason);
/* Fills info from r, taking a reference. */
void tok_info_fill(struct token_info *info, struct tok_ref *r);

#endif
