/*
 * gguf.c — GGUF headers (versions 2 and 3, little-endian).
 *
 * Layout: "GGUF", u32 version, u64 tensor count, u64 kv count; kv pairs
 * (string key, u32 value type, value); tensor infos (string name, u32 n_dims,
 * u64 dims[n_dims] (ne[0] first), u32 ggml type, u64 offset from the data
 * start); padding to general.alignment (default 32); the data. Strings are a
 * u64 length and that many bytes (no terminator). Value types: 0 u8, 1 i8,
 * 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array (u32 element
 * type, u64 count, elements), 10 u64, 11 i64, 12 f64.
 *
 * The parser reads only the header. When the buffer ends before the header
 * does (and the file is longer), it answers MODEL_EMORE with h->need set.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

enum {
    GG_U8,
    GG_I8,
    GG_U16,
    GG_I16,
    GG_U32,
    GG_I32,
    GG_F32,
    GG_BOOL,
    GG_STRING,
    GG_ARRAY,
    GG_U64,
    GG_I64,
    GG_F64,
    GG_NTYPES
};

static const char *const g_type_names[GG_NTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const unsigned char g_type_size[GG_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

struct gg {
    const uint8_t *b;
    size_t len;
    uint64_t file_size;
    uint64_t pos;
    struct model_header *h;
    size_t tcap, mcap;
    int rc;
    char *err;
    size_t errlen;
    char where[120]; /* what is being read, for messages: "key 'x'", "tensor 'y'" */
};

static int gfail(struct gg *g, int rc, const char *fmt, ...) MODEL_PRINTF(3, 4);
static int gfail(struct gg *g, int rc, const char *fmt, ...)
{
    if (g->rc) return g->rc;
    g->rc = rc;
    if (g->err && g->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (g->where[0])
            model_seterr(g->err, g->errlen, "%s: %s", g->where, msg);
        else
            model_seterr(g->err, g->errlen, "%s", msg);
    }
    return rc;
}

/* Bytes [pos, pos + n) must be in the buffer. */
static int need(struct gg *g, uint64_t n, const char *what)
{
    uint64_t end;
    if (g->rc) return g->rc;
    if (__builtin_add_overflow(g->pos, n, &end) || end > g->file_size)
        return gfail(g, MODEL_EFORMAT,
                     "%s at byte %llu (%llu bytes) runs past the end of the file (%llu bytes)",
                     what, (unsigned long long)g->pos, (unsigned long long)n,
                     (unsigned long long)g->file_size);
    if (end > MODEL_GGUF_MAX_HEADER)
        return gfail(g, MODEL_ELIMIT, "%s at byte %llu: the header exceeds the limit of %llu bytes",
                     what, (unsigned long long)g->pos, (unsigned long long)MODEL_GGUF_MAX_HEADER);
    if (end > g->len) {
        g->h->need = end;
        g->rc = MODEL_EMORE;
        model_seterr(g->err, g->errlen, "need the file's first %llu bytes (have %zu)",
                     (unsigned long long)end, g->len);
        return MODEL_EMORE;
    }
    return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int rd_u32(struct gg *g, uint32_t *v, const char *what)
{
    int rc = need(g, 4, what);
    if (rc) return rc;
    *v = (uint32_t)le(g->b + g->pos, 4);
    g->pos += 4;
    return 0;
}

static int rd_u64(struct gg *g, uint64_t *v, const char *what)
{
    int rc = need(g, 8, what);
    if (rc) return rc;
    *v = le(g->b + g->pos, 8);
    g->pos += 8;
    return 0;
}

/* A string of at most max bytes; copied (NUL-free) into *out when out.
 * Names and keys must be UTF-8 (the spec says all strings are; values are
 * not checked here, see rd_value). */
static int rd_string(struct gg *g, uint64_t max, char **out, size_t *outlen, const char *what)
{
    uint64_t n;
    uint64_t at = g->pos;
    int rc = rd_u64(g, &n, what);
    if (rc) return rc;
    if (n > max)
        return gfail(g, MODEL_ELIMIT, "%s at byte %llu has %llu bytes (at most %llu)", what,
                     (unsigned long long)at, (unsigned long long)n, (unsigned long long)max);
    rc = need(g, n, what);
    if (rc) return rc;
    const char *s = (const char *)g->b + g->pos;
    if (out) {
        if (memchr(s, 0, (size_t)n))
            return gfail(g, MODEL_EFORMAT, "%s at byte %llu contains a NUL byte", what,
                         (unsigned long long)at);
        if (!(*out = model_strndup(s, (size_t)n))) return gfail(g, MODEL_ENOMEM, "out of memory");
        if (outlen) *outlen = (size_t)n;
    }
    g->pos += n;
    return 0;
}

/* One scalar of type t at p as text. */
static void scalar_text(uint32_t t, const uint8_t *p, char *buf, size_t buflen)
{
    uint64_t v = le(p, g_type_size[t]);
    switch (t) {
    case GG_U8:
    case GG_U16:
    case GG_U32:
    case GG_U64:
        snprintf(buf, buflen, "%llu", (unsigned long long)v);
        break;
    case GG_I8:
        snprintf(buf, buflen, "%d", (int)(int8_t)v);
        break;
    case GG_I16:
        snprintf(buf, buflen, "%d", (int)(int16_t)v);
        break;
    case GG_I32:
        snprintf(buf, buflen, "%ld", (long)(int32_t)v);
        break;
    case GG_I64:
        snprintf(buf, buflen, "%lld", (long long)(int64_t)v);
        break;
    case GG_F32: {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, sizeof f);
        snprintf(buf, buflen, "%.9g", (double)f);
        break;
    }
    case GG_F64: {
        double d;
        memcpy(&d, &v, sizeof d);
        snprintf(buf, buflen, "%.17g", d);
        break;
    }
    case GG_BOOL:
        snprintf(buf, buflen, "%s", v ? "true" : "false");
        break;
    default:
        snprintf(buf, buflen, "?");
    }
}

/* The value of one kv pair as text (malloc'd in *text). */
static int rd_value(struct gg *g, uint32_t type, char **text, uint32_t *u32)
{
    char buf[512];
    if (type >= GG_NTYPES) return gfail(g, MODEL_EFORMAT, "unknown value type %u", type);
    if (type == GG_STRING) {
        size_t n;
        int rc = rd_string(g, MODEL_GGUF_MAX_STRING, text, &n, "string value");
        if (rc == 0 && !model_utf8_valid(*text, n)) {
            /* kept text is always UTF-8: say what was there instead */
            free(*text);
            snprintf(buf, sizeof buf, "(%zu bytes, not UTF-8)", n);
            if (!(*text = model_strndup(buf, strlen(buf))))
                return gfail(g, MODEL_ENOMEM, "out of memory");
        }
        return rc;
    }
    if (type != GG_ARRAY) {
        int rc = need(g, g_type_size[type], "value");
        if (rc) return rc;
        const uint8_t *p = g->b + g->pos;
        if (type == GG_BOOL && *p > 1)
            return gfail(g, MODEL_EFORMAT, "bool value %u at byte %llu (want 0 or 1)", *p,
                         (unsigned long long)g->pos);
        if (type == GG_U32) *u32 = (uint32_t)le(p, 4);
        scalar_text(type, p, buf, sizeof buf);
        g->pos += g_type_size[type];
    } else {
        uint32_t et;
        uint64_t n;
        uint64_t at = g->pos;
        int rc = rd_u32(g, &et, "array type");
        if (rc == 0) rc = rd_u64(g, &n, "array length");
        if (rc) return rc;
        if (et == GG_ARRAY)
            return gfail(g, MODEL_EFORMAT, "nested array at byte %llu (not supported)",
                         (unsigned long long)at);
        if (et >= GG_NTYPES)
            return gfail(g, MODEL_EFORMAT, "array of unknown type %u at byte %llu", et,
                         (unsigned long long)at);
        if (n > MODEL_GGUF_MAX_ARRAY)
            return gfail(g, MODEL_ELIMIT, "array of %llu elements at byte %llu (at most %llu)",
                         (unsigned long long)n, (unsigned long long)at,
                         (unsigned long long)MODEL_GGUF_MAX_ARRAY);
        if (et == GG_STRING) {
            /* every string takes at least its 8-byte length */
            if (n > (g->file_size - g->pos) / 8)
                return gfail(g, MODEL_EFORMAT,
                             "array of %llu strings at byte %llu cannot fit in the file",
                             (unsigned long long)n, (unsigned long long)at);
            for (uint64_t i = 0; i < n; i++) {
                rc = rd_string(g, MODEL_GGUF_MAX_STRING, NULL, NULL, "array string");
                if (rc) return rc;
            }
            snprintf(buf, sizeof buf, "array[string; %llu]", (unsigned long long)n);
        } else {
            uint64_t sz = n * g_type_size[et]; /* n <= 2^28: no overflow */
            rc = need(g, sz, "array");
            if (rc) return rc;
            const uint8_t *p = g->b + g->pos;
            if (et == GG_BOOL)
                for (uint64_t i = 0; i < n; i++)
                    if (p[i] > 1)
                        return gfail(g, MODEL_EFORMAT, "bool value %u at byte %llu (want 0 or 1)",
                                     p[i], (unsigned long long)(g->pos + i));
            if (n <= 16) {
                size_t o = (size_t)snprintf(buf, sizeof buf, "[");
                for (uint64_t i = 0; i < n; i++) {
                    char one[40];
                    scalar_text(et, p + i * g_type_size[et], one, sizeof one);
                    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? ", " : "", one);
                }
                snprintf(buf + o, sizeof buf - o, "]");
            } else
                snprintf(buf, sizeof buf, "array[%s; %llu]", g_type_names[et],
                         (unsigned long long)n);
            g->pos += sz;
        }
    }
    if (!(*text = model_strndup(buf, strlen(buf)))) return gfail(g, MODEL_ENOMEM, "out of memory");
    return 0;
}

static void set_where(struct gg *g, const char *kind, const char *name, uint64_t at)
{
    struct model_shown s = model_show(name);
    snprintf(g->where, sizeof g->where, "%s '%s' (byte %llu)", kind, s.s, (unsigned long long)at);
}

static int rd_kv(struct gg *g, uint64_t i)
{
    struct model_header *h = g->h;
    uint64_t at = g->pos;
    char *key = NULL, *val = NULL;
    size_t klen = 0;
    uint32_t type, u32 = 0;
    snprintf(g->where, sizeof g->where, "key-value #%llu (byte %llu)", (unsigned long long)i,
             (unsigned long long)at);
    int rc = rd_string(g, MODEL_MAX_NAME, &key, &klen, "key");
    if (rc) return rc;
    set_where(g, "key", key, at);
    if (klen == 0) rc = gfail(g, MODEL_EFORMAT, "empty key");
    if (rc == 0 && !model_utf8_valid(key, klen)) rc = gfail(g, MODEL_EFORMAT, "key is not UTF-8");
    for (size_t k = 0; rc == 0 && k < klen; k++)
        if ((unsigned char)key[k] < 0x20 || key[k] == 0x7f)
            rc = gfail(g, MODEL_EFORMAT, "control character in the key");
    if (rc == 0) rc = rd_u32(g, &type, "value type");
    if (rc == 0) rc = rd_value(g, type, &val, &u32);
    if (rc == 0 && strcmp(key, "general.alignment") == 0) {
        if (type != GG_U32)
            rc = gfail(g, MODEL_EFORMAT, "general.alignment must be a u32, not %s",
                       type < GG_NTYPES ? g_type_names[type] : "?");
        else if (u32 == 0 || (u32 & (u32 - 1)) || u32 > MODEL_GGUF_MAX_ALIGNMENT)
            rc = gfail(g, MODEL_EFORMAT, "general.alignment %u is not a power of two <= %u", u32,
                       MODEL_GGUF_MAX_ALIGNMENT);
        else
            h->alignment = u32;
    }
    if (rc == 0 && model_grow((void **)&h->meta, &g->mcap, h->nmeta + 1, sizeof *h->meta))
        rc = gfail(g, MODEL_ENOMEM, "out of memory");
    if (rc) {
        free(key);
        free(val);
        return rc;
    }
    h->meta[h->nmeta].key = key;
    h->meta[h->nmeta].value = val;
    h->nmeta++;
    return 0;
}

static int rd_tensor_info(struct gg *g, uint64_t i)
{
    struct model_header *h = g->h;
    uint64_t at = g->pos;
    snprintf(g->where, sizeof g->where, "tensor info #%llu (byte %llu)", (unsigned long long)i,
             (unsigned long long)at);
    char *name = NULL;
    size_t nlen = 0;
    int rc = rd_string(g, MODEL_MAX_NAME, &name, &nlen, "tensor name");
    if (rc) return rc;
    if (model_grow((void **)&h->tensors, &g->tcap, h->ntensors + 1, sizeof *h->tensors)) {
        free(name);
        return gfail(g, MODEL_ENOMEM, "out of memory");
    }
    struct model_tensor *t = &h->tensors[h->ntensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->info_off = at;
    set_where(g, "tensor", name, at);
    if (nlen == 0) return gfail(g, MODEL_EFORMAT, "empty tensor name");
    if (!model_utf8_valid(name, nlen)) return gfail(g, MODEL_EFORMAT, "tensor name is not UTF-8");

    uint32_t ndim, type;
    rc = rd_u32(g, &ndim, "n_dims");
    if (rc) return rc;
    if (ndim > MODEL_GGUF_MAX_DIMS)
        return gfail(g, MODEL_EFORMAT, "n_dims %u (at most %d)", ndim, MODEL_GGUF_MAX_DIMS);
    t->ndim = ndim;
    uint64_t nelems = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        rc = rd_u64(g, &t->shape[d], "dimension");
        if (rc) return rc;
        if (t->shape[d] > (uint64_t)INT64_MAX)
            return gfail(g, MODEL_EFORMAT, "dimension %u is %llu (negative as int64)", d,
                         (unsigned long long)t->shape[d]);
        if (__builtin_mul_overflow(nelems, t->shape[d], &nelems) || nelems > (uint64_t)INT64_MAX)
            return gfail(g, MODEL_EFORMAT, "dimensions have more than 2^63 elements");
    }
    rc = rd_u32(g, &type, "ggml type");
    if (rc) return rc;
    t->dtype = model_dtype_from_ggml(type);
    if (t->dtype == MODEL_DTYPE_UNKNOWN)
        return gfail(g, MODEL_EFORMAT, "unknown ggml type %u", type);
    rc = rd_u64(g, &t->offset, "offset");
    if (rc) return rc;

    const struct model_dtype_info *d = model_dtype_info(t->dtype);
    uint64_t ne0 = ndim ? t->shape[0] : 1;
    if (ne0 % d->block_elems)
        return gfail(g, MODEL_EFORMAT,
                     "row of %llu elements is not a multiple of the %s block (%u)",
                     (unsigned long long)ne0, d->name, d->block_elems);
    if (model_dtype_nbytes(t->dtype, nelems, &t->nbytes))
        return gfail(g, MODEL_EFORMAT, "%llu elements of %s take more than 2^63 bytes",
                     (unsigned long long)nelems, d->name);
    if (t->offset % h->alignment)
        return gfail(g, MODEL_EFORMAT, "offset %llu is not a multiple of the alignment %u",
                     (unsigned long long)t->offset, h->alignment);
    return 0;
}

int model_parse_gguf(const uint8_t *buf, size_t len, uint64_t file_size, struct model_header *out,
                     char *err, size_t errlen)
{
    if (!out) return MODEL_EINVAL;
    memset(out, 0, sizeof *out);
    if (!buf || len > file_size) {
        model_seterr(err, errlen, "invalid arguments");
        return MODEL_EINVAL;
    }
    struct gg g;
    memset(&g, 0, sizeof g);
    g.b = buf;
    g.len = len;
    g.file_size = file_size;
    g.h = out;
    g.err = err;
    g.errlen = errlen;
    out->format = MODEL_FORMAT_GGUF;
    out->alignment = MODEL_GGUF_DEFAULT_ALIGNMENT;
    out->file_size = file_size;

    uint32_t version = 0;
    uint64_t nt = 0, nkv = 0;
    int rc = need(&g, 4, "magic");
    if (rc == 0 && memcmp(buf, "GGUF", 4) != 0)
        rc = gfail(&g, MODEL_EFORMAT, "not a GGUF file (bytes 0-3 are not \"GGUF\")");
    if (rc == 0) g.pos = 4;
    if (rc == 0) rc = rd_u32(&g, &version, "version");
    if (rc == 0 && version != 2 && version != 3) {
        uint32_t sw = __builtin_bswap32(version);
        if (version == 1)
            rc = gfail(&g, MODEL_EFORMAT, "GGUF version 1 is not supported (want 2 or 3)");
        else if (sw == 2 || sw == 3)
            rc = gfail(&g, MODEL_EFORMAT, "big-endian GGUF is not supported");
        else
            rc = gfail(&g, MODEL_EFORMAT, "unsupported GGUF version %u (want 2 or 3)", version);
    }
    out->version = version;
    if (rc == 0) rc = rd_u64(&g, &nt, "tensor count");
    if (rc == 0) rc = rd_u64(&g, &nkv, "key-value count");
    if (rc == 0 && nt > MODEL_MAX_TENSORS)
        rc = gfail(&g, MODEL_ELIMIT, "tensor count %llu (at most %u)", (unsigned long long)nt,
                   MODEL_MAX_TENSORS);
    if (rc == 0 && nkv > MODEL_GGUF_MAX_KV)
        rc = gfail(&g, MODEL_ELIMIT, "key-value count %llu (at most %u)", (unsigned long long)nkv,
                   MODEL_GGUF_MAX_KV);
    /* the smallest key-value takes 14 bytes, the smallest tensor info 25 */
    if (rc == 0 && 24 + nkv * 14 + nt * 25 > file_size)
        rc = gfail(&g, MODEL_EFORMAT,
                   "%llu tensors and %llu key-values cannot fit in a file of %llu bytes",
                   (unsigned long long)nt, (unsigned long long)nkv, (unsigned long long)file_size);
    for (uint64_t i = 0; rc == 0 && i < nkv; i++)
        rc = rd_kv(&g, i);
    for (uint64_t i = 0; rc == 0 && i < nt; i++)
        rc = rd_tensor_info(&g, i);
    g.where[0] = '\0';
    if (rc == 0) {
        uint64_t a = out->alignment;
        uint64_t start = (g.pos + a - 1) / a * a; /* pos < 2^28: no overflow */
        if (start > file_size) {
            if (nt == 0)
                start = file_size;
            else
                rc = gfail(&g, MODEL_EFORMAT,
                           "the data section would start at byte %llu, past the end of the file "
                           "(%llu bytes)",
                           (unsigned long long)start, (unsigned long long)file_size);
        }
        out->data_start = start;
    }
    for (size_t i = 0; rc == 0 && i < out->ntensors; i++) {
        struct model_tensor *t = &out->tensors[i];
        uint64_t room = file_size - out->data_start;
        if (t->offset > room || t->nbytes > room - t->offset) {
            struct model_shown s = model_show(t->name);
            rc =
                gfail(&g, MODEL_EFORMAT,
                      "tensor '%s' (byte %llu): %llu bytes at data offset %llu run past the end of "
                      "the file (the data section holds %llu bytes)",
                      s.s, (unsigned long long)t->info_off, (unsigned long long)t->nbytes,
                      (unsigned long long)t->offset, (unsigned long long)room);
            break;
        }
        t->offset += out->data_start;
    }
    if (rc == 0) rc = model_header_finish(out, err, errlen);
    if (rc) {
        uint64_t n = out->need;
        model_header_free(out);
        if (rc == MODEL_EMORE) out->need = n;
    }
    return rc;
}
