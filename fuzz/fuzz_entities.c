/*
 * fuzz_entities.c — libFuzzer target for src/policy's JSON reader: the
 * entity loader (policy_entities_load_json) and values (policy_doc_parse).
 *
 * Each input (an exact-size copy) is loaded as an entity list, and read as
 * a value with and without POLICY_JSON_IMPLICIT_UIDS. Besides crashes,
 * leaks, timeouts and stack overflows it checks what must always hold:
 *   - the loader answers 0, EINVAL, ETOOBIG, EEXIST or EUNSUPPORTED, and a
 *     failed load leaves the store empty (all or nothing);
 *   - loading the same text again into the loaded store fails with EEXIST
 *     (when it had entities) and leaves it as it was;
 *   - a value that parses is well-formed: sets strictly ascending in
 *     policy_value_cmp order, record names strictly ascending, every value
 *     equal to itself, and it formats.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_entities: %s\n", what);
        abort();
    }
}

static void well_formed(const struct policy_value *v, unsigned depth)
{
    check(depth <= POLICY_MAX_VALUE_DEPTH + 1, "value too deep");
    check(policy_value_eq(v, v), "a value differs from itself");
    if (v->type == POLICY_SET) {
        for (uint32_t i = 0; i < v->len; i++) {
            check(i == 0 || policy_value_cmp(&v->u.set[i - 1], &v->u.set[i]) < 0,
                  "set not strictly ascending");
            well_formed(&v->u.set[i], depth + 1);
        }
    } else if (v->type == POLICY_RECORD) {
        for (uint32_t i = 0; i < v->len; i++) {
            if (i) {
                const struct policy_attr *a = &v->u.rec[i - 1], *b = &v->u.rec[i];
                size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
                int c = memcmp(a->name, b->name, n);
                check(c < 0 || (c == 0 && a->name_len < b->name_len),
                      "record names not strictly ascending");
            }
            check(policy_record_get(v, v->u.rec[i].name, v->u.rec[i].name_len) ==
                      &v->u.rec[i].value,
                  "record lookup");
            well_formed(&v->u.rec[i].value, depth + 1);
        }
    } else if (v->type == POLICY_STRING) {
        check(v->len <= POLICY_MAX_STRING, "string too long");
    } else if (v->type == POLICY_ENTITY) {
        struct policy_uid u;
        policy_uid_init(&u, v->u.uid->type, v->u.uid->type_len, v->u.uid->id, v->u.uid->id_len);
        check(u.hash == v->u.uid->hash && policy_uid_eq(&u, v->u.uid), "uid hash");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);

    struct policy_entities *es = policy_entities_new();
    struct strbuf err = STRBUF_INIT;
    int rc = policy_entities_load_json(es, text, size, 0, &err);
    check(rc == 0 || rc == CUSTODY_EINVAL || rc == CUSTODY_ETOOBIG || rc == CUSTODY_EEXIST ||
              rc == CUSTODY_EUNSUPPORTED,
          "load return code");
    if (rc) {
        check(policy_entities_count(es) == 0, "a failed load left entities");
        check(err.buf != NULL, "a failed load without a message");
    } else {
        size_t n = policy_entities_count(es);
        sb_reset(&err);
        rc = policy_entities_load_json(es, text, size, 0, &err);
        check(n == 0 ? rc == 0 : rc == CUSTODY_EEXIST, "reloading the same entities");
        check(policy_entities_count(es) == n, "a failed reload changed the store");
        check(policy_entities_freeze(es, NULL) == 0, "freeze after load");
        struct policy_uid a = policy_uid_make("User", "alice"), b = policy_uid_make("Group", "g");
        (void)policy_entities_in(es, &a, &b);
        const struct policy_value *attrs = policy_entities_attrs(es, &a);
        if (attrs) well_formed(attrs, 0);
    }
    policy_entities_free(es);

    for (unsigned flags = 0; flags <= POLICY_JSON_IMPLICIT_UIDS; flags++) {
        struct policy_doc *d = NULL;
        sb_reset(&err);
        rc = policy_doc_parse(text, size, flags, &d, &err);
        check(rc == 0 || rc == CUSTODY_EINVAL || rc == CUSTODY_ETOOBIG ||
                  rc == CUSTODY_EUNSUPPORTED,
              "doc return code");
        check((rc == 0) == (d != NULL), "doc result");
        if (d) {
            well_formed(policy_doc_value(d), 0);
            struct strbuf sb = STRBUF_INIT;
            check(policy_value_format(&sb, policy_doc_value(d)) == 0, "format");
            sb_free(&sb);
        }
        policy_doc_free(d);
    }
    sb_free(&err);
    free(text);
    return 0;
}
