/*
 * safetensors.c — safetensors headers and model.safetensors.index.json.
 *
 * File layout: 8-byte little-endian N, N bytes of JSON
 *   {"__metadata__": {string: string}?, NAME: {"dtype": D, "shape": [..],
 *    "data_offsets": [BEGIN, END]}, ...}
 * (BEGIN/END relative to the data region at 8 + N), then the data. The header
 * may be padded with trailing spaces (writers pad to a multiple of 8).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

int model_safetensors_header_len(const uint8_t first8[8], uint64_t file_size, uint64_t *n,
                                 char *err, size_t errlen)
{
    if (!first8 || !n) return MODEL_EINVAL;
    if (file_size < 8) {
        model_seterr(err, errlen, "file of %llu bytes is shorter than the 8-byte header length",
                     (unsigned long long)file_size);
        return MODEL_EFORMAT;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | first8[i];
    if (v > MODEL_SAFETENSORS_MAX_HEADER) {
        model_seterr(err, errlen, "header length %llu (bytes 0-7) exceeds the limit of %llu bytes",
                     (unsigned long long)v, (unsigned long long)MODEL_SAFETENSORS_MAX_HEADER);
        return MODEL_ELIMIT;
    }
    if (v > file_size - 8) {
        model_seterr(err, errlen,
                     "header length %llu (bytes 0-7) runs past the end of the file (%llu bytes)",
                     (unsigned long long)v, (unsigned long long)file_size);
        return MODEL_EFORMAT;
    }
    if (v < 2) {
        model_seterr(err, errlen, "header length %llu (bytes 0-7) is too short for a JSON object",
                     (unsigned long long)v);
        return MODEL_EFORMAT;
    }
    *n = v;
    return 0;
}

/* "[2, 3, 4]" */
/* Appends one metadata entry (key and val are taken over on success). */
static int meta_append(struct model_json *j, const char *what, struct model_kv **meta, size_t *n,
                       size_t *cap, char *key, char *val)
{
    if (*n >= MODEL_MAX_TENSORS)
        return model_json_fail(j, MODEL_ELIMIT, "more than %u %s entries", MODEL_MAX_TENSORS, what);
    if (model_grow((void **)meta, cap, *n + 1, sizeof **meta))
        return model_json_fail(j, MODEL_ENOMEM, "out of memory");
    (*meta)[*n].key = key;
    (*meta)[*n].value = val;
    (*n)++;
    return 0;
}

static void shape_text(const uint64_t *shape, uint32_t ndim, char *out, size_t outlen)
{
    size_t o = 0;
    o += (size_t)snprintf(out + o, outlen - o, "[");
    for (uint32_t i = 0; i < ndim && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < outlen) snprintf(out + o, outlen - o, "]");
}

/* Prefixes the message already in err with "tensor 'NAME': ". */
static void prefix_tensor(char *err, size_t errlen, const char *name)
{
    if (!err || !errlen) return;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", err);
    struct model_shown s = model_show(name);
    model_seterr(err, errlen, "tensor '%s': %s", s.s, tmp);
}

struct st_parse {
    struct model_json j;
    struct model_header *h;
    size_t tcap, mcap;
    uint64_t data_len; /* bytes of the data region */
    char *err;
    size_t errlen;
};

static int read_dims(struct model_json *j, uint64_t *out, uint32_t max, uint32_t *n,
                     const char *what)
{
    int rc = model_json_array_begin(j);
    *n = 0;
    while (rc == 0 && (rc = model_json_array_next(j)) == 1) {
        if (*n >= max)
            return model_json_fail(j, MODEL_EFORMAT, "%s has more than %u entries", what, max);
        rc = model_json_u64(j, &out[(*n)++]);
    }
    return rc;
}

/* Records "tensor 'NAME' (header byte N): msg" unless an error is recorded. */
static int tfail(struct st_parse *p, const struct model_tensor *t, int rc, const char *fmt, ...)
    MODEL_PRINTF(4, 5);
static int tfail(struct st_parse *p, const struct model_tensor *t, int rc, const char *fmt, ...)
{
    if (p->j.rc) return p->j.rc;
    p->j.rc = rc;
    if (p->err && p->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        struct model_shown nm = model_show(t->name);
        model_seterr(p->err, p->errlen, "tensor '%s' (header byte %llu): %s", nm.s,
                     (unsigned long long)t->info_off, msg);
    }
    return rc;
}

static int parse_tensor(struct st_parse *p, struct model_tensor *t)
{
    struct model_json *j = &p->j;
    bool have_dtype = false, have_shape = false, have_offsets = false;
    uint64_t off[2] = {0, 0};
    uint32_t noff = 0;
    int rc = model_json_object_begin(j);
    if (rc) return rc;
    for (;;) {
        char *key;
        size_t klen;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            have_dtype = true;
            char *s;
            size_t slen;
            rc = model_json_string(j, &s, &slen, MODEL_MAX_NAME);
            if (rc == 0) {
                t->dtype = model_dtype_from_safetensors(s, slen);
                if (t->dtype == MODEL_DTYPE_UNKNOWN) {
                    struct model_shown d = model_show(s);
                    rc = tfail(p, t, MODEL_EFORMAT, "unknown dtype '%s'", d.s);
                }
                free(s);
            }
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = true;
            rc = read_dims(j, t->shape, MODEL_MAX_DIMS, &t->ndim, "shape");
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            have_offsets = true;
            rc = read_dims(j, off, 2, &noff, "data_offsets");
            if (rc == 0 && noff != 2)
                rc = tfail(p, t, MODEL_EFORMAT, "data_offsets must be [begin, end]");
        } else {
            bool dup =
                !strcmp(key, "dtype") || !strcmp(key, "shape") || !strcmp(key, "data_offsets");
            struct model_shown k = model_show(key);
            rc = tfail(p, t, MODEL_EFORMAT, "%s field '%s'", dup ? "duplicate" : "unknown", k.s);
        }
        free(key);
        if (rc) break;
    }
    if (rc < 0) return rc;
    if (!have_dtype || !have_shape || !have_offsets)
        return tfail(p, t, MODEL_EFORMAT, "missing \"%s\"",
                     !have_dtype   ? "dtype"
                     : !have_shape ? "shape"
                                   : "data_offsets");

    char shp[200];
    shape_text(t->shape, t->ndim, shp, sizeof shp);
    unsigned long long b = off[0], e = off[1];
    if (e < b)
        return tfail(p, t, MODEL_EFORMAT, "data_offsets [%llu, %llu) end before they begin", b, e);
    uint64_t nelems = 1;
    for (uint32_t i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) nelems = 0; /* then no product can overflow */
    for (uint32_t i = 0; i < t->ndim && nelems; i++)
        if (__builtin_mul_overflow(nelems, t->shape[i], &nelems) || nelems > (uint64_t)INT64_MAX)
            return tfail(p, t, MODEL_EFORMAT, "shape %s has more than 2^63 elements", shp);
    const struct model_dtype_info *d = model_dtype_info(t->dtype);
    if (nelems % d->block_elems)
        return tfail(p, t, MODEL_EFORMAT, "%llu elements of %s do not fill whole bytes",
                     (unsigned long long)nelems, d->name);
    if (model_dtype_nbytes(t->dtype, nelems, &t->nbytes) != 0)
        return tfail(p, t, MODEL_EFORMAT, "shape %s of %s takes more than 2^63 bytes", shp,
                     d->name);
    if (e - b != t->nbytes)
        return tfail(p, t, MODEL_EFORMAT,
                     "data_offsets [%llu, %llu) hold %llu bytes but shape %s of %s takes %llu", b,
                     e, e - b, shp, d->name, (unsigned long long)t->nbytes);
    if (e > p->data_len)
        return tfail(p, t, MODEL_EFORMAT,
                     "data_offsets [%llu, %llu) run past the end of the file (the data region "
                     "holds %llu bytes)",
                     b, e, (unsigned long long)p->data_len);
    t->offset = p->h->data_start + b;
    return 0;
}

static int parse_metadata(struct st_parse *p)
{
    struct model_json *j = &p->j;
    struct model_header *h = p->h;
    int type = model_json_peek(j);
    if (type == MODEL_JSON_NULL)
        return model_json_literal(j, &type, NULL); /* serde reads null as none */
    if (type < 0) return type;
    if (type != MODEL_JSON_OBJECT)
        return model_json_fail(j, MODEL_EFORMAT, "__metadata__ must be an object of strings");
    int rc = model_json_object_begin(j);
    for (;;) {
        char *key;
        size_t klen;
        if (rc) break;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        char *val = NULL;
        if (model_json_peek(j) != MODEL_JSON_STRING) {
            struct model_shown k = model_show(key);
            rc = model_json_fail(j, MODEL_EFORMAT, "__metadata__ value of '%s' is not a string",
                                 k.s);
        } else
            rc = model_json_string(j, &val, NULL, j->len);
        if (rc == 0) rc = meta_append(j, "__metadata__", &h->meta, &h->nmeta, &p->mcap, key, val);
        if (rc) {
            free(key);
            free(val);
            break;
        }
    }
    return rc;
}

int model_parse_safetensors(const uint8_t *buf, size_t len, uint64_t file_size,
                            struct model_header *out, char *err, size_t errlen)
{
    if (!out) return MODEL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!buf || len > file_size) {
        model_seterr(err, errlen, "invalid arguments");
        return MODEL_EINVAL;
    }
    if (len < 8) {
        if (file_size >= 8) {
            out->need = 8;
            model_seterr(err, errlen, "need the file's first 8 bytes");
            return MODEL_EMORE;
        }
        model_seterr(err, errlen, "file of %llu bytes is shorter than the 8-byte header length",
                     (unsigned long long)file_size);
        return MODEL_EFORMAT;
    }
    uint64_t n;
    int rc = model_safetensors_header_len(buf, file_size, &n, err, errlen);
    if (rc) return rc;
    if (len < 8 + n) {
        out->need = 8 + n;
        model_seterr(err, errlen, "need the file's first %llu bytes (the header)",
                     (unsigned long long)(8 + n));
        return MODEL_EMORE;
    }
    if (buf[8] != '{') {
        model_seterr(err, errlen, "header does not start with '{' (byte 8)");
        return MODEL_EFORMAT;
    }

    struct st_parse p;
    memset(&p, 0, sizeof p);
    p.h = out;
    p.err = err;
    p.errlen = errlen;
    out->format = MODEL_FORMAT_SAFETENSORS;
    out->alignment = 1;
    out->data_start = 8 + n;
    out->file_size = file_size;
    p.data_len = file_size - out->data_start;
    model_json_init(&p.j, (const char *)buf + 8, (size_t)n, 8, err, errlen);
    struct model_json *j = &p.j;

    bool seen_meta = false;
    rc = model_json_object_begin(j);
    for (;;) {
        if (rc) break;
        char *key;
        size_t klen;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (seen_meta) {
                rc = model_json_fail(j, MODEL_EFORMAT, "duplicate __metadata__");
                break;
            }
            seen_meta = true;
            rc = parse_metadata(&p);
            continue;
        }
        if (klen == 0) {
            free(key);
            rc = model_json_fail(j, MODEL_EFORMAT, "empty tensor name");
            break;
        }
        if (out->ntensors >= MODEL_MAX_TENSORS) {
            free(key);
            rc = model_json_fail(j, MODEL_ELIMIT, "more than %u tensors", MODEL_MAX_TENSORS);
            break;
        }
        if (model_grow((void **)&out->tensors, &p.tcap, out->ntensors + 1, sizeof *out->tensors)) {
            free(key);
            rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
            break;
        }
        struct model_tensor *t = &out->tensors[out->ntensors++];
        memset(t, 0, sizeof *t);
        t->name = key;
        t->info_off = j->key_at;
        rc = parse_tensor(&p, t);
        if (rc && err && strncmp(err, "invalid JSON", 12) == 0) prefix_tensor(err, errlen, t->name);
    }
    if (rc == 0) rc = model_json_end(j);
    if (rc == 0) rc = model_header_finish(out, err, errlen);
    if (rc) model_header_free(out);
    return rc;
}

/* ---- model.safetensors.index.json ---- */

static const char *shard_name_problem(const char *s, size_t len)
{
    if (len == 0) return "is empty";
    if (len > MODEL_SHARD_NAME_MAX) return "is longer than 255 bytes";
    if (strcmp(s, ".") == 0) return "is '.'";
    if (strstr(s, "..")) return "contains '..'";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') return "contains '/'";
        if (c == '\\') return "contains '\\'";
        if (c < 0x20 || c == 0x7f) return "contains a control character";
    }
    return NULL;
}

void model_index_free(struct model_index *idx)
{
    if (!idx) return;
    if (idx->shards)
        for (size_t i = 0; i < idx->nshards; i++)
            free(idx->shards[i]);
    free(idx->shards);
    if (idx->entries)
        for (size_t i = 0; i < idx->nentries; i++)
            free(idx->entries[i].tensor);
    free(idx->entries);
    model_kv_free(idx->meta, idx->nmeta);
    memset(idx, 0, sizeof *idx);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct model_index_entry *)a)->tensor,
                  ((const struct model_index_entry *)b)->tensor);
}

static int cmp_pstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int64_t model_index_find(const struct model_index *idx, const char *tensor)
{
    if (!idx || !tensor || !idx->nentries) return -1;
    struct model_index_entry key = {(char *)tensor, 0};
    const struct model_index_entry *e =
        bsearch(&key, idx->entries, idx->nentries, sizeof key, cmp_entry);
    return e ? (int64_t)e->shard : -1;
}

int model_index_check(const struct model_index *idx, const struct model_header *const *headers,
                      char *err, size_t errlen)
{
    size_t seen = 0;
    for (size_t i = 0; i < idx->nshards; i++) {
        struct model_shown s = model_show(idx->shards[i]);
        for (size_t k = 0; k < headers[i]->ntensors; k++) {
            const char *name = headers[i]->tensors[k].name;
            int64_t at = model_index_find(idx, name);
            if (at == (int64_t)i) continue;
            struct model_shown t = model_show(name);
            if (at < 0)
                model_seterr(err, errlen,
                             "tensor '%s' of shard '%s' is not in the index's weight_map", t.s,
                             s.s);
            else
                model_seterr(err, errlen,
                             "the index's weight_map puts tensor '%s' in '%s', but it is in '%s'",
                             t.s, model_show(idx->shards[at]).s, s.s);
            return MODEL_EFORMAT;
        }
        seen += headers[i]->ntensors;
    }
    /* every shard tensor is mapped to its own shard; with names unique in the map, the map
     * names more tensors only when some of them are in no shard */
    if (seen != idx->nentries) {
        for (size_t e = 0; e < idx->nentries; e++) {
            const struct model_index_entry *en = &idx->entries[e];
            if (model_header_find(headers[en->shard], en->tensor)) continue;
            model_seterr(err, errlen,
                         "the index's weight_map puts tensor '%s' in '%s', which has no such "
                         "tensor",
                         model_show(en->tensor).s, model_show(idx->shards[en->shard]).s);
            return MODEL_EFORMAT;
        }
        /* (a tensor in two shards: counted twice, caught above as the wrong shard) */
        model_seterr(err, errlen, "the index maps %zu tensors, its shards hold %zu", idx->nentries,
                     seen);
        return MODEL_EFORMAT;
    }
    return 0;
}

struct ix_parse {
    struct model_json j;
    struct model_index *idx;
    char **shardof; /* per entry, the shard name as read (until resolved) */
    size_t ecap, scap, mcap;
};

static int ix_metadata(struct ix_parse *p)
{
    struct model_json *j = &p->j;
    struct model_index *idx = p->idx;
    int type = model_json_peek(j);
    if (type == MODEL_JSON_NULL) return model_json_literal(j, &type, NULL);
    if (type < 0) return type;
    if (type != MODEL_JSON_OBJECT)
        return model_json_fail(j, MODEL_EFORMAT, "\"metadata\" must be an object");
    int rc = model_json_object_begin(j);
    for (;;) {
        char *key, *val = NULL;
        size_t klen;
        if (rc) break;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        type = model_json_peek(j);
        if (type == MODEL_JSON_STRING) {
            rc = model_json_string(j, &val, NULL, j->len);
        } else if (type == MODEL_JSON_NUMBER) {
            const char *s;
            size_t n;
            rc = model_json_number(j, &s, &n);
            if (rc == 0 && !(val = model_strndup(s, n)))
                rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
            if (rc == 0 && strcmp(key, "total_size") == 0) {
                uint64_t v = 0;
                bool ok = n > 0;
                for (size_t i = 0; i < n && ok; i++)
                    ok = s[i] >= '0' && s[i] <= '9' && !__builtin_mul_overflow(v, 10, &v) &&
                         !__builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v);
                idx->total_size = ok ? v : 0;
            }
        } else if (type == MODEL_JSON_BOOL || type == MODEL_JSON_NULL) {
            bool b;
            rc = model_json_literal(j, &type, &b);
            if (rc == 0 && !(val = model_strndup(type == MODEL_JSON_NULL ? "null"
                                                 : b                     ? "true"
                                                                         : "false",
                                                 type == MODEL_JSON_NULL ? 4
                                                 : b                     ? 4
                                                                         : 5)))
                rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
        } else if (type > 0) {
            rc = model_json_skip(j); /* nested values are not kept */
        } else
            rc = type;
        /* a nested value is kept as NULL until the duplicate check, then dropped */
        if (rc == 0) rc = meta_append(j, "metadata", &idx->meta, &idx->nmeta, &p->mcap, key, val);
        if (rc) {
            free(key);
            free(val);
            break;
        }
    }
    return rc;
}

static int ix_weight_map(struct ix_parse *p)
{
    struct model_json *j = &p->j;
    struct model_index *idx = p->idx;
    int rc = model_json_object_begin(j);
    for (;;) {
        char *key, *val = NULL;
        size_t klen, vlen;
        if (rc) break;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        struct model_shown k = model_show(key);
        if (klen == 0)
            rc = model_json_fail(j, MODEL_EFORMAT, "empty tensor name in weight_map");
        else if (model_json_peek(j) != MODEL_JSON_STRING)
            rc = model_json_fail(j, MODEL_EFORMAT, "weight_map entry of '%s' is not a string", k.s);
        else {
            uint64_t at = model_json_where(j);
            rc = model_json_string(j, &val, &vlen, 4 * MODEL_SHARD_NAME_MAX);
            const char *why = rc ? NULL : shard_name_problem(val, vlen);
            if (why) {
                struct model_shown v = model_show(val);
                model_seterr(j->err, j->errlen,
                             "weight_map: shard of tensor '%s' (byte %llu): '%s' %s (want a plain "
                             "file name)",
                             k.s, (unsigned long long)at, v.s, why);
                rc = j->rc = MODEL_EFORMAT;
            }
        }
        if (rc == 0 && idx->nentries >= MODEL_MAX_TENSORS)
            rc = model_json_fail(j, MODEL_ELIMIT, "more than %u tensors in weight_map",
                                 MODEL_MAX_TENSORS);
        if (rc == 0 &&
            (model_grow((void **)&idx->entries, &p->ecap, idx->nentries + 1,
                        sizeof *idx->entries) ||
             model_grow((void **)&p->shardof, &p->scap, idx->nentries + 1, sizeof *p->shardof)))
            rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
        if (rc) {
            free(key);
            free(val);
            break;
        }
        idx->entries[idx->nentries].tensor = key;
        idx->entries[idx->nentries].shard = 0;
        p->shardof[idx->nentries] = val;
        idx->nentries++;
    }
    return rc;
}

/* Distinct shard names into idx->shards (sorted), each entry's index set. */
static int ix_resolve(struct ix_parse *p, char *err, size_t errlen)
{
    struct model_index *idx = p->idx;
    size_t n = idx->nentries;
    if (n == 0) return 0;
    char **all = malloc(n * sizeof *all);
    char **uniq = malloc(n * sizeof *uniq);
    if (!all || !uniq) {
        free(all);
        free(uniq);
        model_seterr(err, errlen, "out of memory");
        return MODEL_ENOMEM;
    }
    memcpy(all, p->shardof, n * sizeof *all);
    qsort(all, n, sizeof *all, cmp_pstr);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(all[i - 1], all[i]) != 0) uniq[nu++] = all[i];
    if (nu > MODEL_INDEX_MAX_SHARDS) {
        free(all);
        free(uniq);
        model_seterr(err, errlen, "weight_map names more than %u shard files",
                     MODEL_INDEX_MAX_SHARDS);
        return MODEL_ELIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        char **u = bsearch(&p->shardof[i], uniq, nu, sizeof *uniq, cmp_pstr);
        idx->entries[i].shard = (uint32_t)(u - uniq);
    }
    /* uniq owns the first string of every run; free the rest */
    const char *run = all[0];
    for (size_t i = 1; i < n; i++) {
        if (strcmp(run, all[i]) == 0)
            free(all[i]);
        else
            run = all[i];
    }
    free(all);
    free(p->shardof);
    p->shardof = NULL;
    idx->shards = uniq;
    idx->nshards = nu;
    return 0;
}

int model_parse_safetensors_index(const char *json, size_t len, struct model_index *out, char *err,
                                  size_t errlen)
{
    if (!out) return MODEL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!json) return MODEL_EINVAL;
    if (len > MODEL_INDEX_MAX_BYTES) {
        model_seterr(err, errlen, "index of %zu bytes exceeds the limit of %llu", len,
                     (unsigned long long)MODEL_INDEX_MAX_BYTES);
        return MODEL_ELIMIT;
    }
    struct ix_parse p;
    memset(&p, 0, sizeof p);
    p.idx = out;
    model_json_init(&p.j, json, len, 0, err, errlen);
    struct model_json *j = &p.j;
    const char **top = NULL;
    size_t ntop = 0, topcap = 0;
    bool have_map = false, have_meta = false;
    int rc = model_json_object_begin(j);
    for (;;) {
        char *key;
        size_t klen;
        if (rc) break;
        rc = model_json_object_next(j, &key, &klen, MODEL_MAX_NAME);
        if (rc <= 0) break;
        if (model_grow((void **)&top, &topcap, ntop + 1, sizeof *top)) {
            free(key);
            rc = model_json_fail(j, MODEL_ENOMEM, "out of memory");
            break;
        }
        top[ntop++] = key;
        bool is_map = strcmp(key, "weight_map") == 0, is_meta = strcmp(key, "metadata") == 0;
        if ((is_map && have_map) || (is_meta && have_meta))
            rc = model_json_fail(j, MODEL_EFORMAT, "duplicate \"%s\"", key);
        else if (is_map) {
            have_map = true;
            rc = ix_weight_map(&p);
        } else if (is_meta) {
            have_meta = true;
            rc = ix_metadata(&p);
        } else
            rc = model_json_skip(j);
    }
    if (rc == 0) rc = model_json_end(j);
    if (rc == 0 && !have_map) {
        model_seterr(err, errlen, "no \"weight_map\" in the index");
        rc = MODEL_EFORMAT;
    }
    if (rc == 0) {
        int64_t d = model_first_dup(top, ntop);
        if (d >= 0) {
            struct model_shown k = model_show(top[d]);
            model_seterr(err, errlen, "duplicate key '%s' in the index", k.s);
            rc = MODEL_EFORMAT;
        }
    }
    for (size_t i = 0; i < ntop; i++)
        free((char *)top[i]);
    free(top);
    if (rc == 0) {
        /* metadata: duplicate keys, then drop the placeholders of nested values */
        const char **keys = out->nmeta ? malloc(out->nmeta * sizeof *keys) : NULL;
        if (out->nmeta && !keys) {
            model_seterr(err, errlen, "out of memory");
            rc = MODEL_ENOMEM;
        } else if (keys) {
            for (size_t i = 0; i < out->nmeta; i++)
                keys[i] = out->meta[i].key;
            int64_t d = model_first_dup(keys, out->nmeta);
            if (d >= 0) {
                struct model_shown k = model_show(keys[d]);
                model_seterr(err, errlen, "duplicate key '%s' in \"metadata\"", k.s);
                rc = MODEL_EFORMAT;
            }
            free(keys);
        }
        size_t w = 0;
        for (size_t i = 0; i < out->nmeta; i++) {
            if (out->meta[i].value)
                out->meta[w++] = out->meta[i];
            else
                free(out->meta[i].key);
        }
        out->nmeta = w;
    }
    if (rc == 0) rc = ix_resolve(&p, err, errlen);
    if (rc == 0 && out->nentries > 1) {
        qsort(out->entries, out->nentries, sizeof *out->entries, cmp_entry);
        for (size_t i = 1; i < out->nentries; i++)
            if (strcmp(out->entries[i - 1].tensor, out->entries[i].tensor) == 0) {
                struct model_shown k = model_show(out->entries[i].tensor);
                model_seterr(err, errlen, "duplicate tensor '%s' in weight_map", k.s);
                rc = MODEL_EFORMAT;
                break;
            }
    }
    if (rc) {
        if (p.shardof)
            for (size_t i = 0; i < out->nentries; i++)
                free(p.shardof[i]);
        free(p.shardof);
        model_index_free(out);
    }
    return rc;
}
