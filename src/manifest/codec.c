/*
 * codec.c — the manifest as an in-toto Statement v1 in canonical JSON (RFC
 * 8785), the DSSE envelope around it (PAE, Ed25519), and the strict reader.
 *
 * The writer emits members in sorted order by construction: the only strings
 * it writes come from sb_jcs_string (the escaping src/util shares with the
 * ledger's JCS writer) and every number is an integer below 2^53, so the text
 * is RFC 8785's form. The reader parses with jansson (duplicate keys
 * refused), checks every member, then re-encodes what it read and requires
 * the payload to be exactly that text: one spelling per manifest.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/tlog.h"
#include "manifest/internal.h"

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

static void w_raw(struct strbuf *sb, int *rc, const char *s)
{
    if (!*rc) *rc = sb_puts(sb, s);
}

static void w_str(struct strbuf *sb, int *rc, const char *s)
{
    if (!*rc) *rc = sb_jcs_string(sb, s, strlen(s));
}

static void w_u64(struct strbuf *sb, int *rc, uint64_t v)
{
    if (!*rc) *rc = sb_printf(sb, "%llu", (unsigned long long)v);
}

static void w_tensor(struct strbuf *sb, int *rc, const struct manifest_tensor *t)
{
    w_raw(sb, rc, "{\"dtype\":");
    w_str(sb, rc, model_dtype_name(t->dtype));
    w_raw(sb, rc, ",\"name\":");
    w_str(sb, rc, t->name);
    w_raw(sb, rc, ",\"nbytes\":");
    w_u64(sb, rc, t->nbytes);
    w_raw(sb, rc, ",\"offset\":");
    w_u64(sb, rc, t->offset);
    w_raw(sb, rc, ",\"shape\":[");
    for (uint32_t d = 0; d < t->ndim; d++) {
        if (d) w_raw(sb, rc, ",");
        w_u64(sb, rc, t->shape[d]);
    }
    w_raw(sb, rc, "]}");
}

int manifest_statement(const struct manifest *m, struct strbuf *out)
{
    if (!m || !out) return CUSTODY_EINVAL;
    int rc = 0;
    w_raw(out, &rc, "{\"_type\":");
    w_str(out, &rc, MANIFEST_STATEMENT_TYPE);
    w_raw(out, &rc, ",\"predicate\":{\"files\":[");
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct manifest_file *f = &m->files[i];
        w_raw(out, &rc, i ? ",{\"format\":" : "{\"format\":");
        w_str(out, &rc, manifest_format_name(f->format));
        w_raw(out, &rc, ",\"name\":");
        w_str(out, &rc, f->name);
        w_raw(out, &rc, ",\"sha256\":");
        w_str(out, &rc, f->sha256_hex);
        w_raw(out, &rc, ",\"size\":");
        w_u64(out, &rc, f->size);
        w_raw(out, &rc, ",\"tensors\":[");
        for (size_t j = 0; j < f->ntensors; j++) {
            if (j) w_raw(out, &rc, ",");
            w_tensor(out, &rc, &f->tensors[j]);
        }
        w_raw(out, &rc, "]}");
    }
    w_raw(out, &rc, "],\"model\":{\"name\":");
    w_str(out, &rc, m->name);
    w_raw(out, &rc, ",\"version\":");
    w_str(out, &rc, m->version);
    w_raw(out, &rc, "}},\"predicateType\":");
    w_str(out, &rc, MANIFEST_PREDICATE_TYPE);
    w_raw(out, &rc, ",\"subject\":[");
    for (size_t i = 0; i < m->nfiles; i++) {
        w_raw(out, &rc, i ? ",{\"digest\":{\"sha256\":" : "{\"digest\":{\"sha256\":");
        w_str(out, &rc, m->files[i].sha256_hex);
        w_raw(out, &rc, "},\"name\":");
        w_str(out, &rc, m->files[i].name);
        w_raw(out, &rc, "}");
    }
    w_raw(out, &rc, "]}");
    return rc;
}

int mf_pae(const char *type, const void *body, size_t len, struct strbuf *out)
{
    int rc = sb_printf(out, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    return rc ? rc : sb_append(out, body, len);
}

int manifest_sign(const struct manifest *m, const char *private_pem, size_t pem_len,
                  struct strbuf *envelope_json)
{
    if (!m || !private_pem || !envelope_json) return CUSTODY_EINVAL;
    uint8_t pub[32], sig[64];
    int rc = util_ed25519_load_pem(private_pem, pem_len, pub);
    if (rc) return rc;
    char keyid[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(pub, keyid);
    struct strbuf st = STRBUF_INIT, pae = STRBUF_INIT;
    rc = manifest_statement(m, &st);
    if (!rc) rc = mf_pae(MANIFEST_PAYLOAD_TYPE, st.buf, st.len, &pae);
    if (!rc) rc = util_ed25519_sign(private_pem, pem_len, pae.buf, pae.len, sig);
    w_raw(envelope_json, &rc, "{\"payload\":\"");
    if (!rc) rc = tlog_b64_encode(st.buf, st.len, envelope_json);
    w_raw(envelope_json, &rc, "\",\"payloadType\":");
    w_str(envelope_json, &rc, MANIFEST_PAYLOAD_TYPE);
    w_raw(envelope_json, &rc, ",\"signatures\":[{\"keyid\":");
    w_str(envelope_json, &rc, keyid);
    w_raw(envelope_json, &rc, ",\"sig\":\"");
    if (!rc) rc = tlog_b64_encode(sig, sizeof sig, envelope_json);
    w_raw(envelope_json, &rc, "\"}]}");
    sb_free(&st);
    sb_free(&pae);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* o must be an object with exactly the members names[0..n). */
static int members(const json_t *o, const char *const *names, size_t n, const char *what, char *err,
                   size_t errlen)
{
    if (!json_is_object(o)) {
        mf_seterr(err, errlen, "%s is not an object", what);
        return CUSTODY_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(key, names[i]) != 0)
            i++;
        if (i == n) {
            mf_seterr(err, errlen, "%s has an unknown member \"%.64s\"", what, key);
            return CUSTODY_EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(o, names[i])) {
            mf_seterr(err, errlen, "%s has no \"%s\"", what, names[i]);
            return CUSTODY_EINVAL;
        }
    }
    return 0;
}

/* The string member key of o (present: members() ran), or NULL. */
static const char *get_str(const json_t *o, const char *key, const char *what, char *err,
                           size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        mf_seterr(err, errlen, "%s: \"%s\" is not a string", what, key);
        return NULL;
    }
    return json_string_value(v);
}

static int get_u64(const json_t *v, uint64_t *out, const char *what, const char *key, char *err,
                   size_t errlen)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > MANIFEST_INT_MAX) {
        mf_seterr(err, errlen, "%s: \"%s\" is not an integer in [0, 2^53)", what, key);
        return CUSTODY_EINVAL;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int dtype_from_name(const char *s)
{
    for (int d = 1; d < MODEL_DTYPE_COUNT; d++)
        if (strcmp(model_dtype_name(d), s) == 0) return d;
    return MODEL_DTYPE_UNKNOWN;
}

static int hex_digest(const char *s, uint8_t out[UTIL_SHA256_LEN])
{
    if (strlen(s) != UTIL_SHA256_HEX_LEN) return CUSTODY_EINVAL;
    for (size_t i = 0; i < UTIL_SHA256_HEX_LEN; i++)
        if (!strchr("0123456789abcdef", s[i])) return CUSTODY_EINVAL;
    return util_hex_decode(s, UTIL_SHA256_HEX_LEN, out) < 0 ? CUSTODY_EINVAL : 0;
}

static int parse_tensor(const json_t *o, const char *file, size_t idx, struct manifest_tensor *t,
                        char *err, size_t errlen)
{
    static const char *const names[] = {"dtype", "name", "nbytes", "offset", "shape"};
    char what[MANIFEST_NAME_MAX + 64];
    snprintf(what, sizeof what, "file '%s' tensor %zu", file, idx);
    int rc = members(o, names, UTIL_ARRAY_LEN(names), what, err, errlen);
    if (rc) return rc;
    const char *name = get_str(o, "name", what, err, errlen);
    const char *dtype = name ? get_str(o, "dtype", what, err, errlen) : NULL;
    if (!dtype) return CUSTODY_EINVAL;
    if (name[0] == '\0' || strlen(name) > MODEL_MAX_NAME) {
        mf_seterr(err, errlen, "%s: name is empty or longer than 4096 bytes", what);
        return CUSTODY_EINVAL;
    }
    t->name = util_strdup(name);
    t->dtype = dtype_from_name(dtype);
    if (t->dtype == MODEL_DTYPE_UNKNOWN) {
        mf_seterr(err, errlen, "file '%s' tensor '%s': unknown dtype \"%.32s\"", file, name, dtype);
        return CUSTODY_EINVAL;
    }
    if ((rc = get_u64(json_object_get(o, "nbytes"), &t->nbytes, what, "nbytes", err, errlen)) ||
        (rc = get_u64(json_object_get(o, "offset"), &t->offset, what, "offset", err, errlen)))
        return rc;
    const json_t *shape = json_object_get(o, "shape");
    if (!json_is_array(shape) || json_array_size(shape) > MODEL_MAX_DIMS) {
        mf_seterr(err, errlen, "file '%s' tensor '%s': shape is not an array of at most %d", file,
                  name, MODEL_MAX_DIMS);
        return CUSTODY_EINVAL;
    }
    t->ndim = (uint32_t)json_array_size(shape);
    for (uint32_t d = 0; d < t->ndim; d++)
        if ((rc = get_u64(json_array_get(shape, d), &t->shape[d], what, "shape", err, errlen)))
            return rc;
    return 0;
}

static int parse_file(const json_t *o, size_t idx, struct manifest_file *f, char *err,
                      size_t errlen)
{
    static const char *const names[] = {"format", "name", "sha256", "size", "tensors"};
    char what[MANIFEST_NAME_MAX + 64];
    snprintf(what, sizeof what, "predicate.files[%zu]", idx);
    int rc = members(o, names, UTIL_ARRAY_LEN(names), what, err, errlen);
    if (rc) return rc;
    const char *name = get_str(o, "name", what, err, errlen);
    if (!name) return CUSTODY_EINVAL;
    const char *p = mf_file_name_problem(name, strlen(name));
    if (p) {
        mf_seterr(err, errlen, "%s: name %s", what, p);
        return CUSTODY_EINVAL;
    }
    f->name = util_strdup(name);
    snprintf(what, sizeof what, "file '%s'", name);
    const char *format = get_str(o, "format", what, err, errlen);
    const char *sha = format ? get_str(o, "sha256", what, err, errlen) : NULL;
    if (!sha) return CUSTODY_EINVAL;
    f->format = strcmp(format, "safetensors") == 0 ? MODEL_FORMAT_SAFETENSORS
                : strcmp(format, "gguf") == 0      ? MODEL_FORMAT_GGUF
                                                   : MODEL_FORMAT_UNKNOWN;
    if (f->format == MODEL_FORMAT_UNKNOWN) {
        mf_seterr(err, errlen, "%s: format is not \"safetensors\" or \"gguf\"", what);
        return CUSTODY_EINVAL;
    }
    if (hex_digest(sha, f->sha256)) {
        mf_seterr(err, errlen, "%s: sha256 is not 64 lower-case hex digits", what);
        return CUSTODY_EINVAL;
    }
    util_hex_encode(f->sha256, UTIL_SHA256_LEN, f->sha256_hex);
    if ((rc = get_u64(json_object_get(o, "size"), &f->size, what, "size", err, errlen))) return rc;
    const json_t *ts = json_object_get(o, "tensors");
    if (!json_is_array(ts) || json_array_size(ts) > MODEL_MAX_TENSORS) {
        mf_seterr(err, errlen, "%s: tensors is not an array of at most %u", what,
                  MODEL_MAX_TENSORS);
        return CUSTODY_EINVAL;
    }
    size_t n = json_array_size(ts);
    f->tensors = n ? util_calloc(n, sizeof *f->tensors) : NULL;
    for (size_t i = 0; i < n; i++) {
        f->ntensors = i + 1;
        if ((rc = parse_tensor(json_array_get(ts, i), name, i, &f->tensors[i], err, errlen)))
            return rc;
    }
    return 0;
}

/* subject[i] must be {"digest":{"sha256":HEX},"name":files[i].name}. */
static int check_subject(const json_t *o, size_t i, const struct manifest_file *f, char *err,
                         size_t errlen)
{
    static const char *const names[] = {"digest", "name"};
    static const char *const dnames[] = {"sha256"};
    char what[64];
    snprintf(what, sizeof what, "subject[%zu]", i);
    int rc = members(o, names, UTIL_ARRAY_LEN(names), what, err, errlen);
    if (!rc) rc = members(json_object_get(o, "digest"), dnames, 1, "subject digest", err, errlen);
    if (rc) return rc;
    const char *name = get_str(o, "name", what, err, errlen);
    const char *sha =
        name ? get_str(json_object_get(o, "digest"), "sha256", what, err, errlen) : NULL;
    if (!sha) return CUSTODY_EINVAL;
    if (strcmp(name, f->name) != 0) {
        mf_seterr(err, errlen, "subject[%zu] names '%.255s' but predicate.files[%zu] is '%s'", i,
                  name, i, f->name);
        return CUSTODY_EINVAL;
    }
    if (strcmp(sha, f->sha256_hex) != 0) {
        mf_seterr(err, errlen,
                  "subject '%s': digest sha256:%.64s does not match the predicate's sha256:%s",
                  f->name, sha, f->sha256_hex);
        return CUSTODY_EINVAL;
    }
    return 0;
}

static int parse_doc(const json_t *doc, struct manifest *m, char *err, size_t errlen)
{
    static const char *const top[] = {"_type", "predicate", "predicateType", "subject"};
    static const char *const pred[] = {"files", "model"};
    static const char *const model[] = {"name", "version"};
    int rc = members(doc, top, UTIL_ARRAY_LEN(top), "statement", err, errlen);
    if (rc) return rc;
    const char *type = get_str(doc, "_type", "statement", err, errlen);
    if (!type) return CUSTODY_EINVAL;
    if (strcmp(type, MANIFEST_STATEMENT_TYPE) != 0) {
        mf_seterr(err, errlen, "statement _type is not %s", MANIFEST_STATEMENT_TYPE);
        return CUSTODY_EINVAL;
    }
    const char *ptype = get_str(doc, "predicateType", "statement", err, errlen);
    if (!ptype) return CUSTODY_EINVAL;
    if (strcmp(ptype, MANIFEST_PREDICATE_TYPE) != 0) {
        mf_seterr(err, errlen, "predicateType is not %s", MANIFEST_PREDICATE_TYPE);
        return CUSTODY_EINVAL;
    }
    const json_t *p = json_object_get(doc, "predicate");
    if ((rc = members(p, pred, UTIL_ARRAY_LEN(pred), "predicate", err, errlen)) ||
        (rc = members(json_object_get(p, "model"), model, UTIL_ARRAY_LEN(model), "predicate.model",
                      err, errlen)))
        return rc;
    const json_t *mo = json_object_get(p, "model");
    const char *name = get_str(mo, "name", "predicate.model", err, errlen);
    const char *version = name ? get_str(mo, "version", "predicate.model", err, errlen) : NULL;
    if (!version) return CUSTODY_EINVAL;
    m->name = util_strdup(name);
    m->version = util_strdup(version);
    const json_t *files = json_object_get(p, "files");
    const json_t *subject = json_object_get(doc, "subject");
    if (!json_is_array(files) || json_array_size(files) == 0 ||
        json_array_size(files) > MANIFEST_MAX_FILES) {
        mf_seterr(err, errlen, "predicate.files is not an array of 1 to %u files",
                  MANIFEST_MAX_FILES);
        return CUSTODY_EINVAL;
    }
    if (!json_is_array(subject) || json_array_size(subject) != json_array_size(files)) {
        mf_seterr(err, errlen, "subject is not an array of one entry per predicate file (%zu)",
                  json_array_size(files));
        return CUSTODY_EINVAL;
    }
    size_t n = json_array_size(files);
    m->files = util_calloc(n, sizeof *m->files);
    for (size_t i = 0; i < n; i++) {
        m->nfiles = i + 1;
        if ((rc = parse_file(json_array_get(files, i), i, &m->files[i], err, errlen))) return rc;
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = check_subject(json_array_get(subject, i), i, &m->files[i], err, errlen)))
            return rc;
    return mf_check(m, err, errlen);
}

int mf_parse_statement(const char *json, size_t len, struct manifest **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        mf_seterr(err, errlen, "statement is not JSON: %s (byte %d)", je.text, je.position);
        return CUSTODY_EINVAL;
    }
    struct manifest *m = util_calloc(1, sizeof *m);
    int rc = parse_doc(doc, m, err, errlen);
    json_decref(doc);
    if (!rc) {
        struct strbuf again = STRBUF_INIT;
        rc = manifest_statement(m, &again);
        if (!rc && (again.len != len || memcmp(again.buf, json, len) != 0)) {
            mf_seterr(err, errlen,
                      "statement is not in canonical form (RFC 8785: sorted keys, "
                      "no whitespace, shortest escapes)");
            rc = CUSTODY_EINVAL;
        }
        sb_free(&again);
    }
    if (rc) {
        manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int manifest_verify(const char *envelope, size_t len, const uint8_t pub[32], struct manifest **out,
                    char *err, size_t errlen)
{
    static const char *const top[] = {"payload", "payloadType", "signatures"};
    static const char *const signames[] = {"keyid", "sig"};
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    if (!envelope || !pub) return CUSTODY_EINVAL;
    if (len > MANIFEST_MAX_ENVELOPE) {
        mf_seterr(err, errlen, "envelope is %zu bytes, over the %u-byte limit", len,
                  MANIFEST_MAX_ENVELOPE);
        return CUSTODY_ETOOBIG;
    }
    json_error_t je;
    json_t *env = json_loadb(envelope, len, JSON_REJECT_DUPLICATES, &je);
    if (!env) {
        mf_seterr(err, errlen, "envelope is not JSON: %s (byte %d)", je.text, je.position);
        return CUSTODY_EINVAL;
    }
    uint8_t *payload = NULL;
    size_t plen = 0;
    struct strbuf pae = STRBUF_INIT;
    int rc = members(env, top, UTIL_ARRAY_LEN(top), "envelope", err, errlen);
    const char *ptype = rc ? NULL : get_str(env, "payloadType", "envelope", err, errlen);
    const char *p64 = ptype ? get_str(env, "payload", "envelope", err, errlen) : NULL;
    const json_t *sigs = json_object_get(env, "signatures");
    if (!rc && !p64) {
        rc = CUSTODY_EINVAL;
    } else if (!rc && strcmp(ptype, MANIFEST_PAYLOAD_TYPE) != 0) {
        mf_seterr(err, errlen, "payloadType is not %s", MANIFEST_PAYLOAD_TYPE);
        rc = CUSTODY_EINVAL;
    } else if (!rc && (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
                       json_array_size(sigs) > MANIFEST_MAX_SIGNATURES)) {
        mf_seterr(err, errlen, "signatures is not an array of 1 to %u signatures",
                  MANIFEST_MAX_SIGNATURES);
        rc = CUSTODY_EINVAL;
    }
    if (!rc) {
        size_t l64 = strlen(p64);
        payload = malloc(l64 / 4 * 3 + 1);
        if (!payload)
            rc = CUSTODY_ENOMEM;
        else if (tlog_b64_decode(p64, l64, payload, l64 / 4 * 3, &plen) != 0) {
            mf_seterr(err, errlen, "payload is not strict base64 (RFC 4648, padded)");
            rc = CUSTODY_EINVAL;
        }
    }
    if (!rc) rc = mf_pae(MANIFEST_PAYLOAD_TYPE, payload, plen, &pae);
    char keyid[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(pub, keyid);
    bool found = false, tried = false;
    for (size_t i = 0; !rc && !found && i < json_array_size(sigs); i++) {
        const json_t *s = json_array_get(sigs, i);
        char what[48];
        snprintf(what, sizeof what, "signatures[%zu]", i);
        if ((rc = members(s, signames, UTIL_ARRAY_LEN(signames), what, err, errlen))) break;
        const char *kid = get_str(s, "keyid", what, err, errlen);
        const char *sig64 = kid ? get_str(s, "sig", what, err, errlen) : NULL;
        if (!sig64) {
            rc = CUSTODY_EINVAL;
            break;
        }
        if (strcmp(kid, keyid) != 0) continue;
        tried = true;
        uint8_t sig[64];
        size_t n = 0;
        if (tlog_b64_decode(sig64, strlen(sig64), sig, sizeof sig, &n) != 0 || n != sizeof sig) {
            mf_seterr(err, errlen, "%s: sig is not the base64 of 64 bytes", what);
            rc = CUSTODY_EINVAL;
            break;
        }
        found = util_ed25519_verify(pub, pae.buf, pae.len, sig) == 0;
    }
    if (!rc && !found) {
        mf_seterr(err, errlen,
                  tried ? "the signature by %s does not verify (payload or signature altered)"
                        : "no signature by %s",
                  keyid);
        rc = CUSTODY_EBADSIG;
    }
    if (!rc) rc = mf_parse_statement((const char *)payload, plen, out, err, errlen);
    free(payload);
    sb_free(&pae);
    json_decref(env);
    return rc;
}
