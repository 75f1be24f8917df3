/* json.c — decoding custodyd's JSON answers and encoding request bodies
 * (docs/API.md) with jansson. Every decoder checks types and bounds and
 * answers CUSTODY_EPROTO for anything malformed; nothing is trusted. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

static json_t *load(const char *body, size_t len)
{
    if (!body || len == 0 || len > CUSTODY_MAX_JSON_BYTES) return NULL;
    json_error_t jerr;
    return json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
}

/* A string member: NULL when absent, not a string, or with an embedded NUL. */
static const char *get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) return NULL;
    return s;
}

/* A non-negative integer member. */
static int get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return CUSTODY_EPROTO;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A sha256 member: 64 hex digits, or "" (tombstones); absent counts as "". */
static int get_sha(json_t *obj, const char *key, char out[CUSTODY_SHA256_HEX_LEN + 1])
{
    out[0] = '\0';
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return 0;
    const char *s = get_str(obj, key);
    if (!s) return CUSTODY_EPROTO;
    if (!*s) return 0;
    custody__etag_to_hex(s, out);
    return out[0] ? 0 : CUSTODY_EPROTO;
}

void custody__decode_error(const char *body, size_t len, long status, int *err, char **msg)
{
    *err = custody__status_to_err(status);
    *msg = NULL;
    json_t *root = load(body, len);
    json_t *e = root ? json_object_get(root, "error") : NULL;
    if (json_is_object(e)) {
        const char *code = get_str(e, "code");
        const char *m = get_str(e, "message");
        if (code) {
            int v = custody_err_from_code(code);
            /* an unknown code keeps the status-based error */
            if (v != CUSTODY_EINTERNAL || strcmp(code, "internal_error") == 0) *err = v;
        }
        if (m && *m) *msg = util_strdup(m);
    }
    if (!*msg) {
        struct strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "%s (HTTP %ld)", custody_strerror(*err), status);
        *msg = sb_detach(&sb);
    }
    json_decref(root);
}

/* The optional members of a listing entry: mode, atime, btime, target. */
static int decode_entry_meta(json_t *e, custody_dirent_t *d)
{
    const char *at = get_str(e, "atime"), *bt = get_str(e, "btime");
    d->mode = -1;
    d->atime = util_strdup(at ? at : "");
    d->btime = util_strdup(bt ? bt : "");
    json_t *m = json_object_get(e, "mode");
    if (m && (!json_is_string(m) || custody__mode_parse(json_string_value(m), &d->mode)))
        return CUSTODY_EPROTO;
    json_t *t = json_object_get(e, "target");
    if (!t || json_is_null(t)) return 0;
    const char *tt = json_is_object(t) ? get_str(t, "type") : NULL;
    if (!tt || get_u64(t, "size", &d->target_size)) return CUSTODY_EPROTO;
    d->target_type = custody__type_parse(tt);
    return 0;
}

/* The jansson reader of a listing: the reference custody__decode_listing
 * (listing.c, one pass, no tree) is held to by the fuzzer and the tests. */
int custody__decode_listing_ref(const char *body, size_t len, custody_dirent_t **out, size_t *n,
                                int *truncated)
{
    json_t *root = load(body, len);
    json_t *entries = root ? json_object_get(root, "entries") : NULL;
    if (!json_is_object(root) || !json_is_array(entries)) {
        json_decref(root);
        return CUSTODY_EPROTO;
    }
    size_t cnt = json_array_size(entries);
    custody_dirent_t *d = util_calloc(cnt ? cnt : 1, sizeof *d);
    int rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++) {
        json_t *e = json_array_get(entries, i);
        const char *name = json_is_object(e) ? get_str(e, "name") : NULL;
        const char *type = name ? get_str(e, "type") : NULL;
        if (!name || !*name || !type) {
            rc = CUSTODY_EPROTO;
            break;
        }
        d[i].name = util_strdup(name);
        d[i].type = custody__type_parse(type);
        if (json_object_get(e, "size") && get_u64(e, "size", &d[i].size)) rc = CUSTODY_EPROTO;
        const char *mt = get_str(e, "mtime");
        d[i].mtime = util_strdup(mt ? mt : "");
        if (!rc) rc = decode_entry_meta(e, &d[i]);
    }
    if (!rc) {
        json_t *t = json_object_get(root, "truncated");
        if (t && !json_is_boolean(t)) rc = CUSTODY_EPROTO;
        if (truncated) *truncated = json_is_true(t);
    }
    json_decref(root);
    if (rc) {
        custody_dirents_free(d, cnt);
        return rc;
    }
    *out = d;
    *n = cnt;
    return 0;
}

int custody__decode_versions(const char *body, size_t len, custody_version_t **out, size_t *n)
{
    json_t *root = load(body, len);
    json_t *arr = root ? json_object_get(root, "versions") : NULL;
    if (!json_is_object(root) || !json_is_array(arr)) {
        json_decref(root);
        return CUSTODY_EPROTO;
    }
    size_t cnt = json_array_size(arr);
    custody_version_t *v = util_calloc(cnt ? cnt : 1, sizeof *v);
    int rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++) {
        json_t *e = json_array_get(arr, i);
        json_t *ver = json_is_object(e) ? json_object_get(e, "version") : NULL;
        if (!json_is_integer(ver) || json_integer_value(ver) <= 0) {
            rc = CUSTODY_EPROTO;
            break;
        }
        v[i].version = (int64_t)json_integer_value(ver);
        const char *op = get_str(e, "op");
        const char *tm = get_str(e, "time");
        v[i].op = util_strdup(op ? op : "");
        v[i].time = util_strdup(tm ? tm : "");
        if (get_sha(e, "sha256", v[i].sha256)) rc = CUSTODY_EPROTO;
        if (json_object_get(e, "size") && get_u64(e, "size", &v[i].size)) rc = CUSTODY_EPROTO;
        json_t *av = json_object_get(e, "available");
        if (av && !json_is_boolean(av)) rc = CUSTODY_EPROTO;
        v[i].available = av ? json_is_true(av) : v[i].sha256[0] != '\0';
    }
    json_decref(root);
    if (rc) {
        custody_versions_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int custody__decode_write_result(const char *body, size_t len, custody_write_result_t *res)
{
    json_t *root = load(body, len);
    if (!json_is_object(root)) {
        json_decref(root);
        return CUSTODY_EPROTO;
    }
    custody_write_result_t r;
    memset(&r, 0, sizeof r);
    int rc = get_sha(root, "sha256", r.sha256);
    if (!rc) rc = get_u64(root, "size", &r.size);
    json_t *ver = json_object_get(root, "version");
    if (!rc && ver) {
        if (!json_is_integer(ver) || json_integer_value(ver) < 0)
            rc = CUSTODY_EPROTO;
        else
            r.version = (int64_t)json_integer_value(ver);
    }
    json_t *cr = json_object_get(root, "created");
    if (!rc && cr && !json_is_boolean(cr)) rc = CUSTODY_EPROTO;
    r.created = json_is_true(cr);
    json_decref(root);
    if (!rc) *res = r;
    return rc;
}

static int root_from_json(json_t *o, custody_root_t *out)
{
    const char *name = json_is_object(o) ? get_str(o, "name") : NULL;
    const char *path = name ? get_str(o, "path") : NULL;
    if (!name || !path) return CUSTODY_EPROTO;
    json_t *labels = json_object_get(o, "labels");
    if (labels && !json_is_object(labels) && !json_is_null(labels)) return CUSTODY_EPROTO;
    custody_root_t r = {util_strdup(name), util_strdup(path), NULL, 0};
    size_t cnt = json_is_object(labels) ? json_object_size(labels) : 0;
    if (cnt) {
        r.labels = util_calloc(cnt, sizeof *r.labels);
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v)
        {
            if (!json_is_string(v) || r.nlabels >= cnt) {
                custody_root_free(&r);
                return CUSTODY_EPROTO;
            }
            r.labels[r.nlabels].key = util_strdup(k);
            r.labels[r.nlabels].value = util_strdup(json_string_value(v));
            r.nlabels++;
        }
    }
    *out = r;
    return 0;
}

int custody__decode_root(const char *body, size_t len, custody_root_t *out)
{
    json_t *root = load(body, len);
    if (!json_is_object(root)) {
        json_decref(root);
        return CUSTODY_EPROTO;
    }
    /* either the root object itself or {"root": {...}} */
    json_t *o = json_object_get(root, "root");
    int rc = root_from_json(json_is_object(o) ? o : root, out);
    json_decref(root);
    return rc;
}

int custody__decode_roots(const char *body, size_t len, custody_root_t **out, size_t *n)
{
    json_t *root = load(body, len);
    json_t *arr = root ? json_object_get(root, "roots") : NULL;
    if (!json_is_object(root) || !json_is_array(arr)) {
        json_decref(root);
        return CUSTODY_EPROTO;
    }
    size_t cnt = json_array_size(arr);
    custody_root_t *r = util_calloc(cnt ? cnt : 1, sizeof *r);
    int rc = 0;
    for (size_t i = 0; i < cnt && !rc; i++)
        rc = root_from_json(json_array_get(arr, i), &r[i]);
    json_decref(root);
    if (rc) {
        custody_roots_free(r, cnt);
        return rc;
    }
    *out = r;
    *n = cnt;
    return 0;
}

static int dump(json_t *o, char **out)
{
    if (!o) return CUSTODY_ENOMEM;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) return CUSTODY_ENOMEM;
    /* jansson allocates with malloc by default; hand back a util_ copy so the
     * caller frees with free() either way */
    *out = util_strdup(s);
    free(s);
    return 0;
}

int custody__encode_root_put(const char *path, const custody_label_t *labels, size_t n, char **out)
{
    json_t *lab = json_object();
    for (size_t i = 0; i < n; i++) {
        if (!labels[i].key || !labels[i].value ||
            json_object_set_new(lab, labels[i].key, json_string(labels[i].value))) {
            json_decref(lab);
            return CUSTODY_EINVAL;
        }
    }
    json_t *path_s = json_string(path);
    if (!path_s) {
        json_decref(lab);
        return CUSTODY_EINVAL;
    }
    return dump(json_pack("{s:o,s:o}", "path", path_s, "labels", lab), out);
}

int custody__encode_op_mkdir(int parents, char **out)
{
    return dump(json_pack("{s:s,s:b}", "op", "mkdir", "parents", parents ? 1 : 0), out);
}

int custody__encode_op_access(const char *action, const char *phase, const char *surface,
                              int64_t first, int64_t last, uint64_t bytes, char **out)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "op", "access", "action", action, "phase", phase,
                          "surface", surface);
    if (!o) return CUSTODY_EINVAL;
    if (first >= 0 && last >= first)
        json_object_set_new(o, "range", json_pack("[I,I]", (json_int_t)first, (json_int_t)last));
    if (bytes) json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    return dump(o, out);
}

int custody__encode_op_grant(const char *surface, const char *const *names, size_t n, char **out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_string(names[i]);
        if (!v) {
            json_decref(arr);
            return CUSTODY_EINVAL;
        }
        json_array_append_new(arr, v);
    }
    return dump(json_pack("{s:s,s:s,s:s,s:s,s:o}", "op", "access", "action", "read", "phase",
                          "grant", "surface", surface, "names", arr),
                out);
}

int custody__decode_grant(const char *body, size_t len, size_t n, int *granted, unsigned *ttl_ms)
{
    json_t *doc = json_loadb(body ? body : "", len, 0, NULL);
    json_t *arr = json_object_get(doc, "granted");
    json_t *ttl = json_object_get(doc, "ttl_ms");
    int rc = json_is_array(arr) && json_array_size(arr) == n && json_is_integer(ttl) &&
                     json_integer_value(ttl) >= 0 && json_integer_value(ttl) <= 3600000
                 ? 0
                 : CUSTODY_EPROTO;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_boolean(v)) rc = CUSTODY_EPROTO;
        else granted[i] = json_is_true(v);
    }
    if (!rc) *ttl_ms = (unsigned)json_integer_value(ttl);
    json_decref(doc);
    return rc;
}

int custody__encode_op_usage(const char *action, const char *surface, const custody_usage_t *u,
                             size_t n, char **out)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_string(u[i].path);
        if (!p) {
            json_decref(arr);
            return CUSTODY_EINVAL;
        }
        json_t *o = json_pack("{s:o,s:I}", "path", p, "bytes", (json_int_t)u[i].bytes);
        if (u[i].first >= 0 && u[i].last >= u[i].first)
            json_object_set_new(o, "range",
                                json_pack("[I,I]", (json_int_t)u[i].first, (json_int_t)u[i].last));
        json_array_append_new(arr, o);
    }
    return dump(json_pack("{s:s,s:s,s:s,s:s,s:o}", "op", "access", "action", action, "phase",
                          "close", "surface", surface, "batch", arr),
                out);
}

int custody__encode_op_move(const char *to, int overwrite, char **out)
{
    json_t *to_s = json_string(to);
    if (!to_s) return CUSTODY_EINVAL;
    return dump(
        json_pack("{s:s,s:o,s:b}", "op", "move", "to", to_s, "overwrite", overwrite ? 1 : 0), out);
}

int custody__encode_op_rollback(int64_t version, char **out)
{
    return dump(json_pack("{s:s,s:I}", "op", "rollback", "to", (json_int_t)version), out);
}

void custody_dirents_free(custody_dirent_t *d, size_t n)
{
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].mtime);
        free(d[i].atime);
        free(d[i].btime);
    }
    free(d);
}

void custody_versions_free(custody_version_t *v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].op);
        free(v[i].time);
    }
    free(v);
}

void custody_root_free(custody_root_t *r)
{
    if (!r) return;
    free(r->name);
    free(r->path);
    for (size_t i = 0; i < r->nlabels; i++)
        custody_label_clear(&r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

void custody_roots_free(custody_root_t *r, size_t n)
{
    if (!r) return;
    for (size_t i = 0; i < n; i++)
        custody_root_free(&r[i]);
    free(r);
}
