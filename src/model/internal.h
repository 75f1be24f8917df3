/*
 * internal.h — what the files of src/model share: error messages, growable
 * arrays, the checks every parsed header goes through, and the small bounded
 * JSON reader (json.c). libc only, like the rest of src/model.
 */
#ifndef CUSTODY_MODEL_INTERNAL_H
#define CUSTODY_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define MODEL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Writes the message to err (if any, truncated to errlen). */
void model_seterr(char *err, size_t errlen, const char *fmt, ...) MODEL_PRINTF(3, 4);

/* Makes room for `need` elements of `elem` bytes in *p (capacity *cap). */
int model_grow(void **p, size_t *cap, size_t need, size_t elem);

/* malloc'd NUL-terminated copy of s[0..len) (s has no NUL in it). */
char *model_strndup(const char *s, size_t len);

/*
 * The checks shared by both formats, run once every tensor has been read and
 * range-checked: names unique, metadata keys unique, tensors sorted by
 * offset (then name) and not overlapping. On failure the message is in err.
 */
int model_header_finish(struct model_header *h, char *err, size_t errlen);

/* Frees an array of n key-values. */
void model_kv_free(struct model_kv *kv, size_t n);

/* Length of the well-formed UTF-8 sequence at s[0] (n bytes left; no
 * overlongs, surrogates or code points above U+10FFFF), or 0. */
size_t model_utf8_seq(const unsigned char *s, size_t n);
bool model_utf8_valid(const char *s, size_t n);

/* A copy of a name for messages: at most 64 bytes, control bytes as '?'. */
struct model_shown {
    char s[80];
};
struct model_shown model_show(const char *name);

/* ---- the JSON reader ---- */
/*
 * A pull reader over one JSON text: the caller walks the value it expects
 * (object_begin / object_next / string / u64 ...) and skips the rest. It never
 * builds a tree, so memory is what the caller keeps. Strict: RFC 8259 grammar,
 * UTF-8 checked, no NUL in strings (not even as \u0000), nesting at most
 * MODEL_JSON_MAX_DEPTH, duplicate keys refused in skipped objects (callers
 * check the objects they read themselves). The first error sticks: later calls
 * return it again without touching the message.
 */
enum {
    MODEL_JSON_NULL = 1,
    MODEL_JSON_BOOL,
    MODEL_JSON_NUMBER,
    MODEL_JSON_STRING,
    MODEL_JSON_ARRAY,
    MODEL_JSON_OBJECT,
};

struct model_json {
    const char *p;
    size_t len;
    size_t pos;
    uint64_t base;   /* file offset of p[0], for messages */
    uint64_t key_at; /* file offset of the key model_json_object_next read last */
    unsigned depth;
    unsigned char first[MODEL_JSON_MAX_DEPTH + 2]; /* per level: no member read yet */
    int rc;                                        /* the first error, sticky */
    char *err;
    size_t errlen;
};

void model_json_init(struct model_json *j, const char *p, size_t len, uint64_t base, char *err,
                     size_t errlen);
/* Records an error (if none yet) with " at byte N" appended; returns j->rc. */
int model_json_fail(struct model_json *j, int rc, const char *fmt, ...) MODEL_PRINTF(3, 4);
/* File offset of the next unread byte (after whitespace). */
uint64_t model_json_where(struct model_json *j);
/* The type (MODEL_JSON_*) of the next value, or a negative error. */
int model_json_peek(struct model_json *j);
int model_json_object_begin(struct model_json *j);
/* 1: a member follows, its key in *key (malloc'd, at most maxkey bytes) and
 * the ':' consumed; 0: the object ended; < 0: error. */
int model_json_object_next(struct model_json *j, char **key, size_t *keylen, size_t maxkey);
int model_json_array_begin(struct model_json *j);
/* 1: an element follows; 0: the array ended; < 0: error. */
int model_json_array_next(struct model_json *j);
/* A string value, malloc'd and NUL-terminated, decoded length at most max. */
int model_json_string(struct model_json *j, char **s, size_t *len, size_t max);
/* A non-negative integer without fraction or exponent that fits 64 bits. */
int model_json_u64(struct model_json *j, uint64_t *v);
/* Any number; its text (as written) in [*start, *start + *len). */
int model_json_number(struct model_json *j, const char **start, size_t *len);
/* true / false / null; *b for booleans. */
int model_json_literal(struct model_json *j, int *type, bool *b);
/* Any value, checked like the rest. */
int model_json_skip(struct model_json *j);
/* Only whitespace may remain. */
int model_json_end(struct model_json *j);

/* Sorts n strings and reports the first duplicate (index into the sorted
 * array) or -1; keys must have no NUL inside. */
int64_t model_first_dup(const char **keys, size_t n);

#endif
