/*
 * internal.h — what src/manifest's files share: the manifest itself, the
 * statement codec, and the checks both build and verify apply.
 */
#ifndef CUSTODY_MANIFEST_INTERNAL_H
#define CUSTODY_MANIFEST_INTERNAL_H

#include <stdbool.h>

#include "manifest/manifest.h"

struct manifest {
    char *name;
    char *version;
    struct manifest_file *files; /* sorted by name, names unique */
    size_t nfiles;
};

/* Writes a one-line message into err (when not NULL). */
void mf_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* NULL when s is an acceptable model name or version (1..255 bytes of UTF-8,
 * no control characters), else what is wrong with it. */
const char *mf_label_problem(const char *s, size_t len);
/* NULL when s is a plain file name (1..255 bytes of UTF-8, no '/', '\\',
 * control characters, not "." or ".."), else what is wrong with it. */
const char *mf_file_name_problem(const char *s, size_t len);

/* The checks verify applies to a parsed manifest, also run on what build made
 * (names sorted and unique, tensors inside their file and not overlapping,
 * integers exact in JSON). */
int mf_check(const struct manifest *m, char *err, size_t errlen);

/*
 * Parses a statement (the DSSE payload) without any signature check: for
 * manifest_verify, after the signature verified, and for the fuzz target.
 * The same rules as manifest_verify's statement half, canonical form included.
 */
int mf_parse_statement(const char *json, size_t len, struct manifest **out, char *err,
                       size_t errlen);

/* DSSE PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
int mf_pae(const char *type, const void *body, size_t len, struct strbuf *out);

#endif
