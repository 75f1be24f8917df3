/*
 * header.c — what both formats share: the checks every parsed header ends
 * with (unique names, no overlaps), sniffing, reading a header from an fd,
 * freeing, and error messages.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* pread, when built outside the project's flags */
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/internal.h"

void model_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int model_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2) return MODEL_ENOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / elem) return MODEL_ENOMEM;
    void *q = realloc(*p, n * elem);
    if (!q) return MODEL_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

char *model_strndup(const char *s, size_t len)
{
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

struct model_shown model_show(const char *name)
{
    struct model_shown r;
    size_t n = strlen(name), k = 0;
    for (size_t i = 0; i < n && k < 64; i++) {
        unsigned char c = (unsigned char)name[i];
        r.s[k++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
    }
    if (n > 64) {
        memcpy(r.s + k, "...", 3);
        k += 3;
    }
    r.s[k] = '\0';
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int64_t model_first_dup(const char **keys, size_t n)
{
    if (n < 2) return -1;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) return (int64_t)i;
    return -1;
}

void model_kv_free(struct model_kv *kv, size_t n)
{
    if (!kv) return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void model_header_free(struct model_header *h)
{
    if (!h) return;
    if (h->tensors)
        for (size_t i = 0; i < h->ntensors; i++)
            free(h->tensors[i].name);
    free(h->tensors);
    model_kv_free(h->meta, h->nmeta);
    memset(h, 0, sizeof *h);
}

const struct model_tensor *model_header_find(const struct model_header *h, const char *name)
{
    if (!h || !name) return NULL;
    for (size_t i = 0; i < h->ntensors; i++)
        if (strcmp(h->tensors[i].name, name) == 0) return &h->tensors[i];
    return NULL;
}

static int cmp_offset(const void *a, const void *b)
{
    const struct model_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

int model_header_finish(struct model_header *h, char *err, size_t errlen)
{
    size_t n = h->ntensors > h->nmeta ? h->ntensors : h->nmeta;
    const char **names = n ? malloc(n * sizeof *names) : NULL;
    if (n && !names) {
        model_seterr(err, errlen, "out of memory");
        return MODEL_ENOMEM;
    }
    for (size_t i = 0; i < h->ntensors; i++)
        names[i] = h->tensors[i].name;
    int64_t d = model_first_dup(names, h->ntensors);
    if (d >= 0) {
        const struct model_tensor *t = model_header_find(h, names[d]);
        struct model_shown s = model_show(names[d]);
        model_seterr(err, errlen, "duplicate tensor name '%s' (first described at byte %llu)", s.s,
                     (unsigned long long)t->info_off);
        free(names);
        return MODEL_EFORMAT;
    }
    for (size_t i = 0; i < h->nmeta; i++)
        names[i] = h->meta[i].key;
    d = model_first_dup(names, h->nmeta);
    if (d >= 0) {
        struct model_shown s = model_show(names[d]);
        model_seterr(err, errlen, "duplicate metadata key '%s'", s.s);
        free(names);
        return MODEL_EFORMAT;
    }
    free(names);

    if (h->ntensors > 1) qsort(h->tensors, h->ntensors, sizeof *h->tensors, cmp_offset);
    /* sorted by offset: a tensor overlaps an earlier one iff it starts before
     * the furthest end seen so far (zero-byte tensors occupy nothing) */
    uint64_t max_end = 0;
    size_t max_i = 0;
    for (size_t i = 0; i < h->ntensors; i++) {
        const struct model_tensor *t = &h->tensors[i];
        if (t->nbytes == 0) continue;
        if (t->offset < max_end) {
            const struct model_tensor *o = &h->tensors[max_i];
            struct model_shown a = model_show(t->name), b = model_show(o->name);
            model_seterr(err, errlen,
                         "tensor '%s' (described at byte %llu) at bytes [%llu, %llu) overlaps "
                         "tensor '%s' at bytes [%llu, %llu)",
                         a.s, (unsigned long long)t->info_off, (unsigned long long)t->offset,
                         (unsigned long long)(t->offset + t->nbytes), b.s,
                         (unsigned long long)o->offset,
                         (unsigned long long)(o->offset + o->nbytes));
            return MODEL_EFORMAT;
        }
        max_end = t->offset + t->nbytes;
        max_i = i;
    }
    return 0;
}

int model_sniff(const uint8_t *buf, size_t len)
{
    if (!buf) return MODEL_FORMAT_UNKNOWN;
    if (len >= 4 && memcmp(buf, "GGUF", 4) == 0) return MODEL_FORMAT_GGUF;
    if (len >= 9) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | buf[i];
        if (n >= 2 && n <= MODEL_SAFETENSORS_MAX_HEADER && buf[8] == '{')
            return MODEL_FORMAT_SAFETENSORS;
    }
    return MODEL_FORMAT_UNKNOWN;
}

const char *model_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case MODEL_EINVAL:
        return "invalid argument";
    case MODEL_EFORMAT:
        return "malformed model header";
    case MODEL_ELIMIT:
        return "model header exceeds a limit";
    case MODEL_EMORE:
        return "more of the file is needed";
    case MODEL_ENOMEM:
        return "out of memory";
    case MODEL_EIO:
        return "input/output error";
    default:
        return "unknown error";
    }
}

/* Reads exactly n bytes at off (n > 0), or fails with a message. */
static int read_at(int fd, uint8_t *buf, size_t n, uint64_t off, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            model_seterr(err, errlen, "read at byte %llu: %s", (unsigned long long)(off + done),
                         strerror(errno));
            return MODEL_EIO;
        }
        if (r == 0) {
            model_seterr(err, errlen, "file shrank while reading its header (at byte %llu)",
                         (unsigned long long)(off + done));
            return MODEL_EIO;
        }
        done += (size_t)r;
    }
    return 0;
}

/* buf grows to hold the file's first `want` bytes (have already read). */
static int read_prefix(int fd, uint8_t **buf, size_t *have, uint64_t want, char *err, size_t errlen)
{
    if (want <= *have) return 0;
    if (want > SIZE_MAX) {
        model_seterr(err, errlen, "header too large for this machine");
        return MODEL_ENOMEM;
    }
    uint8_t *b = realloc(*buf, (size_t)want);
    if (!b) {
        model_seterr(err, errlen, "out of memory for a %llu-byte header", (unsigned long long)want);
        return MODEL_ENOMEM;
    }
    *buf = b;
    int rc = read_at(fd, b + *have, (size_t)want - *have, *have, err, errlen);
    if (rc) return rc;
    *have = (size_t)want;
    return 0;
}

int model_parse_fd(int fd, struct model_header *out, char *err, size_t errlen)
{
    if (!out) return MODEL_EINVAL;
    memset(out, 0, sizeof *out);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        model_seterr(err, errlen, "fstat: %s", strerror(errno));
        return MODEL_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        model_seterr(err, errlen, "not a regular file");
        return MODEL_EINVAL;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t *buf = NULL;
    size_t have = 0;
    int rc = read_prefix(fd, &buf, &have, size < 16 ? size : 16, err, errlen);
    if (rc) goto out;
    int fmt = model_sniff(buf, have);
    if (fmt == MODEL_FORMAT_SAFETENSORS) {
        uint64_t n;
        rc = model_safetensors_header_len(buf, size, &n, err, errlen);
        if (rc == 0) rc = read_prefix(fd, &buf, &have, 8 + n, err, errlen);
        if (rc == 0) rc = model_parse_safetensors(buf, have, size, out, err, errlen);
    } else if (fmt == MODEL_FORMAT_GGUF) {
        uint64_t want = size < (1u << 20) ? size : (1u << 20);
        for (;;) {
            rc = read_prefix(fd, &buf, &have, want, err, errlen);
            if (rc) break;
            rc = model_parse_gguf(buf, have, size, out, err, errlen);
            if (rc != MODEL_EMORE) break;
            uint64_t next = (uint64_t)have * 2;
            if (next < out->need) next = out->need;
            if (next > size) next = size;
            if (next > MODEL_GGUF_MAX_HEADER) next = MODEL_GGUF_MAX_HEADER;
            if (next <= have) { /* cannot happen: the parser asks within both bounds */
                model_seterr(err, errlen, "GGUF header does not end within %llu bytes",
                             (unsigned long long)have);
                rc = MODEL_EFORMAT;
                break;
            }
            want = next;
        }
    } else {
        uint64_t n;
        /* looks like safetensors but for its length: say what is wrong with it */
        if (have >= 9 && buf[8] == '{' &&
            (rc = model_safetensors_header_len(buf, size, &n, err, errlen)) != 0)
            goto out;
        model_seterr(err, errlen, "neither a safetensors nor a GGUF file");
        rc = MODEL_EFORMAT;
    }
out:
    free(buf);
    if (rc) {
        uint64_t need = out->need;
        model_header_free(out);
        out->need = need;
    }
    return rc;
}
