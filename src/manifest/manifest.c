/*
 * manifest.c — building a manifest from shard files (parse each header, hash
 * each byte), re-checking shards against one, the shared checks, accessors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest/internal.h"

#define HASH_CHUNK (1u << 20) /* bytes per read while hashing */

void mf_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
    return false;
}

const char *mf_label_problem(const char *s, size_t len)
{
    if (!s || len == 0) return "is empty";
    if (len > MANIFEST_NAME_MAX) return "is longer than 255 bytes";
    if (memchr(s, '\0', len)) return "holds a NUL";
    if (!util_utf8_valid(s, len)) return "is not UTF-8";
    if (has_control(s, len)) return "holds a control character";
    return NULL;
}

const char *mf_file_name_problem(const char *s, size_t len)
{
    const char *p = mf_label_problem(s, len);
    if (p) return p;
    if (memchr(s, '/', len) || memchr(s, '\\', len)) return "is not a plain file name";
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return "is not a plain file name";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Checks shared by build and verify                                    */
/* ------------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_file(const struct manifest_file *f, char *err, size_t errlen)
{
    if (f->size > MANIFEST_INT_MAX) {
        mf_seterr(err, errlen, "file '%s': size %llu is over 2^53 - 1", f->name,
                  (unsigned long long)f->size);
        return CUSTODY_EINVAL;
    }
    if (f->ntensors > MODEL_MAX_TENSORS) {
        mf_seterr(err, errlen, "file '%s': more than %u tensors", f->name, MODEL_MAX_TENSORS);
        return CUSTODY_EINVAL;
    }
    uint64_t prev_off = 0, end = 0; /* end of the non-empty tensors so far */
    const char *end_name = NULL;
    for (size_t i = 0; i < f->ntensors; i++) {
        const struct manifest_tensor *t = &f->tensors[i];
        const char *prob = t->name ? NULL : "has no name";
        if (!prob && (t->name[0] == '\0' || strlen(t->name) > MODEL_MAX_NAME))
            prob = "name is empty or longer than 4096 bytes";
        if (prob) {
            mf_seterr(err, errlen, "file '%s': tensor %zu %s", f->name, i, prob);
            return CUSTODY_EINVAL;
        }
        if (!model_dtype_info(t->dtype) || t->ndim > MODEL_MAX_DIMS) {
            mf_seterr(err, errlen, "file '%s': tensor '%s' has an unknown dtype or over %d dims",
                      f->name, t->name, MODEL_MAX_DIMS);
            return CUSTODY_EINVAL;
        }
        uint64_t nelems = 1;
        bool zero = false, big = false;
        for (uint32_t d = 0; d < t->ndim; d++) {
            if (t->shape[d] > MANIFEST_INT_MAX) big = true;
            if (t->shape[d] == 0)
                zero = true;
            else if (!zero && nelems > UINT64_MAX / t->shape[d])
                big = true;
            else if (!zero)
                nelems *= t->shape[d];
        }
        if (zero) nelems = 0;
        uint64_t want = 0;
        if (big || t->offset > MANIFEST_INT_MAX || t->nbytes > MANIFEST_INT_MAX ||
            model_dtype_nbytes(t->dtype, nelems, &want) != 0 || want != t->nbytes) {
            mf_seterr(err, errlen,
                      "file '%s': tensor '%s': shape of %s does not take %llu bytes "
                      "(or a value is over 2^53 - 1)",
                      f->name, t->name, model_dtype_name(t->dtype), (unsigned long long)t->nbytes);
            return CUSTODY_EINVAL;
        }
        if (t->offset > f->size || t->nbytes > f->size - t->offset) {
            mf_seterr(err, errlen,
                      "file '%s': tensor '%s' at bytes [%llu, +%llu) runs past the "
                      "end of the file (%llu bytes)",
                      f->name, t->name, (unsigned long long)t->offset,
                      (unsigned long long)t->nbytes, (unsigned long long)f->size);
            return CUSTODY_EINVAL;
        }
        if (t->offset < prev_off) {
            mf_seterr(err, errlen, "file '%s': tensor '%s' is not sorted by offset", f->name,
                      t->name);
            return CUSTODY_EINVAL;
        }
        prev_off = t->offset;
        if (t->nbytes) {
            if (t->offset < end) {
                mf_seterr(err, errlen, "file '%s': tensor '%s' overlaps tensor '%s'", f->name,
                          t->name, end_name);
                return CUSTODY_EINVAL;
            }
            end = t->offset + t->nbytes;
            end_name = t->name;
        }
    }
    if (f->ntensors > 1) { /* duplicate names */
        const char **names = util_calloc(f->ntensors, sizeof *names);
        for (size_t i = 0; i < f->ntensors; i++)
            names[i] = f->tensors[i].name;
        qsort(names, f->ntensors, sizeof *names, str_cmp);
        for (size_t i = 1; i < f->ntensors; i++) {
            if (strcmp(names[i - 1], names[i]) == 0) {
                mf_seterr(err, errlen, "file '%s': two tensors named '%s'", f->name, names[i]);
                free(names);
                return CUSTODY_EINVAL;
            }
        }
        free(names);
    }
    return 0;
}

int mf_check(const struct manifest *m, char *err, size_t errlen)
{
    const char *p = mf_label_problem(m->name, m->name ? strlen(m->name) : 0);
    if (p) {
        mf_seterr(err, errlen, "model name %s", p);
        return CUSTODY_EINVAL;
    }
    if ((p = mf_label_problem(m->version, m->version ? strlen(m->version) : 0)) != NULL) {
        mf_seterr(err, errlen, "model version %s", p);
        return CUSTODY_EINVAL;
    }
    if (m->nfiles == 0 || m->nfiles > MANIFEST_MAX_FILES) {
        mf_seterr(err, errlen, "a manifest names 1 to %u files, not %zu", MANIFEST_MAX_FILES,
                  m->nfiles);
        return CUSTODY_EINVAL;
    }
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct manifest_file *f = &m->files[i];
        if ((p = mf_file_name_problem(f->name, f->name ? strlen(f->name) : 0)) != NULL) {
            mf_seterr(err, errlen, "file %zu: name %s", i, p);
            return CUSTODY_EINVAL;
        }
        if (i && strcmp(m->files[i - 1].name, f->name) >= 0) {
            mf_seterr(err, errlen, "file '%s' %s", f->name,
                      strcmp(m->files[i - 1].name, f->name) == 0 ? "is named twice"
                                                                 : "is out of name order");
            return CUSTODY_EINVAL;
        }
        if (f->format != MODEL_FORMAT_SAFETENSORS && f->format != MODEL_FORMAT_GGUF) {
            mf_seterr(err, errlen, "file '%s': unknown format", f->name);
            return CUSTODY_EINVAL;
        }
        int rc = check_file(f, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Hashing                                                              */
/* ------------------------------------------------------------------ */

static bool same_identity(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* SHA-256 of fd's first before->st_size bytes (1 MiB preads), which must be
 * all of it, and fd must not change meanwhile. what names it in messages. */
static int hash_fd(int fd, const struct stat *before, const char *what,
                   uint8_t out[UTIL_SHA256_LEN], char *err, size_t errlen)
{
    uint8_t *buf = malloc(HASH_CHUNK);
    struct util_sha256 *h = util_sha256_new();
    if (!buf || !h) {
        free(buf);
        util_sha256_free(h);
        mf_seterr(err, errlen, "%s: out of memory", what);
        return CUSTODY_ENOMEM;
    }
    uint64_t size = (uint64_t)before->st_size, off = 0;
    int rc = 0;
    while (off < size) {
        size_t want = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            mf_seterr(err, errlen, "%s: read at byte %llu: %s", what, (unsigned long long)off,
                      strerror(errno));
            rc = CUSTODY_EIO;
            break;
        }
        if (got == 0) {
            mf_seterr(err, errlen, "%s: ends at byte %llu while hashed (it was %llu bytes)", what,
                      (unsigned long long)off, (unsigned long long)size);
            rc = CUSTODY_ECONFLICT;
            break;
        }
        util_sha256_update(h, buf, (size_t)got);
        off += (uint64_t)got;
    }
    free(buf);
    struct stat after;
    if (!rc && fstat(fd, &after) != 0) {
        mf_seterr(err, errlen, "%s: fstat: %s", what, strerror(errno));
        rc = CUSTODY_EIO;
    } else if (!rc && !same_identity(before, &after)) {
        mf_seterr(err, errlen, "%s: changed while it was hashed (size or mtime)", what);
        rc = CUSTODY_ECONFLICT;
    }
    if (rc) {
        util_sha256_free(h);
        return rc;
    }
    util_sha256_final(h, out);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Building                                                             */
/* ------------------------------------------------------------------ */

static void file_free(struct manifest_file *f)
{
    for (size_t i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->name);
}

void manifest_free(struct manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nfiles; i++)
        file_free(&m->files[i]);
    free(m->files);
    free(m->name);
    free(m->version);
    free(m);
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct manifest_file *)a)->name, ((const struct manifest_file *)b)->name);
}

/* One shard open on fd (what names it in messages): header, hash (unless
 * known is given), tensor table into *f (f->name already set). */
static int build_fd(int fd, const char *what, const uint8_t *known, struct manifest_file *f,
                    char *err, size_t errlen)
{
    struct stat st;
    struct model_header h;
    memset(&h, 0, sizeof h);
    char why[384] = "";
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        mf_seterr(err, errlen, "%s: fstat: %s", what, strerror(errno));
        rc = CUSTODY_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        mf_seterr(err, errlen, "%s: not a regular file", what);
        rc = CUSTODY_EINVAL;
    } else if ((rc = model_parse_fd(fd, &h, why, sizeof why)) != 0) {
        mf_seterr(err, errlen, "%s: not a model shard we accept: %s", what, why);
    } else if (h.file_size != (uint64_t)st.st_size) {
        mf_seterr(err, errlen, "%s: changed while its header was read", what);
        rc = CUSTODY_ECONFLICT;
    } else if (known) {
        memcpy(f->sha256, known, UTIL_SHA256_LEN);
    } else {
        rc = hash_fd(fd, &st, what, f->sha256, err, errlen);
    }
    if (rc) {
        model_header_free(&h);
        return rc;
    }
    f->size = (uint64_t)st.st_size;
    f->format = h.format;
    util_hex_encode(f->sha256, UTIL_SHA256_LEN, f->sha256_hex);
    f->tensors = h.ntensors ? util_calloc(h.ntensors, sizeof *f->tensors) : NULL;
    for (size_t i = 0; i < h.ntensors; i++) {
        const struct model_tensor *t = &h.tensors[i];
        struct manifest_tensor *o = &f->tensors[i];
        o->name = t->name; /* taken over */
        h.tensors[i].name = NULL;
        o->dtype = t->dtype;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->offset = t->offset;
        o->nbytes = t->nbytes;
    }
    f->ntensors = h.ntensors;
    model_header_free(&h);
    return 0;
}

int manifest_build_from(const char *name, const char *version, const struct manifest_source *src,
                        size_t n, struct manifest **out, char *err, size_t errlen)
{
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    if (!name || !version || (!src && n)) {
        mf_seterr(err, errlen, "manifest_build: missing argument");
        return CUSTODY_EINVAL;
    }
    if (n == 0 || n > MANIFEST_MAX_FILES) {
        mf_seterr(err, errlen, "a model has 1 to %u shard files, not %zu", MANIFEST_MAX_FILES, n);
        return CUSTODY_EINVAL;
    }
    struct manifest *m = util_calloc(1, sizeof *m);
    m->name = util_strdup(name);
    m->version = util_strdup(version);
    m->files = util_calloc(n, sizeof *m->files);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *base = src[i].name ? src[i].name : "";
        const char *what = src[i].what ? src[i].what : base;
        const char *p = mf_file_name_problem(base, strlen(base));
        if (p) {
            mf_seterr(err, errlen, "%s: file name %s", what, p);
            rc = CUSTODY_EINVAL;
            break;
        }
        m->files[i].name = util_strdup(base);
        m->nfiles = i + 1;
        rc = build_fd(src[i].fd, what, src[i].sha256, &m->files[i], err, errlen);
    }
    if (!rc) {
        qsort(m->files, m->nfiles, sizeof *m->files, file_cmp);
        for (size_t i = 1; i < m->nfiles && !rc; i++) {
            if (strcmp(m->files[i - 1].name, m->files[i].name) == 0) {
                mf_seterr(err, errlen, "two shard files are named '%s'", m->files[i].name);
                rc = CUSTODY_EINVAL;
            }
        }
    }
    if (!rc) rc = mf_check(m, err, errlen);
    if (rc) {
        manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int manifest_build(const char *name, const char *version, const char *const *paths, size_t n,
                   struct manifest **out, char *err, size_t errlen)
{
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    if (!paths && n) {
        mf_seterr(err, errlen, "manifest_build: missing argument");
        return CUSTODY_EINVAL;
    }
    if (n == 0 || n > MANIFEST_MAX_FILES) {
        mf_seterr(err, errlen, "a model has 1 to %u shard files, not %zu", MANIFEST_MAX_FILES, n);
        return CUSTODY_EINVAL;
    }
    struct manifest_source *src = util_calloc(n, sizeof *src);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        src[i].fd = -1;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *base = strrchr(paths[i], '/');
        src[i].name = base ? base + 1 : paths[i];
        src[i].what = paths[i];
        src[i].fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (src[i].fd < 0) {
            int e = errno;
            mf_seterr(err, errlen, "%s: %s", paths[i], strerror(e));
            rc = e == ENOENT ? CUSTODY_ENOENT : CUSTODY_EIO;
        }
    }
    if (!rc) rc = manifest_build_from(name, version, src, n, out, err, errlen);
    for (size_t i = 0; i < n; i++)
        if (src[i].fd >= 0) close(src[i].fd);
    free(src);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Re-checking shards                                                   */
/* ------------------------------------------------------------------ */

static int check_one(int dfd, const char *dir, const struct manifest_file *f, char *err,
                     size_t errlen)
{
    int fd = openat(dfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            mf_seterr(err, errlen, "shard '%s' is missing from %s", f->name, dir);
            return CUSTODY_ENOENT;
        }
        if (e == ELOOP) {
            mf_seterr(err, errlen, "shard '%s' in %s is a symbolic link", f->name, dir);
            return CUSTODY_ECORRUPT;
        }
        mf_seterr(err, errlen, "shard '%s' in %s: %s", f->name, dir, strerror(e));
        return CUSTODY_EIO;
    }
    struct stat st;
    int rc = 0;
    char what[MANIFEST_NAME_MAX + 16];
    snprintf(what, sizeof what, "shard '%s'", f->name);
    uint8_t got[UTIL_SHA256_LEN];
    if (fstat(fd, &st) != 0) {
        mf_seterr(err, errlen, "%s: fstat: %s", what, strerror(errno));
        rc = CUSTODY_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        mf_seterr(err, errlen, "%s is not a regular file", what);
        rc = CUSTODY_ECORRUPT;
    } else if ((uint64_t)st.st_size != f->size) {
        mf_seterr(err, errlen, "%s swapped after signing: %llu bytes, the manifest says %llu", what,
                  (unsigned long long)st.st_size, (unsigned long long)f->size);
        rc = CUSTODY_ECORRUPT;
    } else if ((rc = hash_fd(fd, &st, what, got, err, errlen)) == 0 &&
               !util_ct_equal(got, f->sha256, UTIL_SHA256_LEN)) {
        char hex[UTIL_SHA256_HEX_LEN + 1];
        util_hex_encode(got, UTIL_SHA256_LEN, hex);
        mf_seterr(err, errlen, "%s swapped after signing: sha256 %s, the manifest says %s", what,
                  hex, f->sha256_hex);
        rc = CUSTODY_ECORRUPT;
    }
    close(fd);
    return rc;
}

int manifest_check_files(const struct manifest *m, const char *dir, char *err, size_t errlen)
{
    if (!m || !dir) return CUSTODY_EINVAL;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        mf_seterr(err, errlen, "%s: %s", dir, strerror(e));
        return e == ENOENT ? CUSTODY_ENOENT : CUSTODY_EIO;
    }
    int rc = 0;
    for (size_t i = 0; i < m->nfiles && !rc; i++)
        rc = check_one(dfd, dir, &m->files[i], err, errlen);
    close(dfd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                            */
/* ------------------------------------------------------------------ */

void manifest_digest(const char *envelope, size_t len, char out[MANIFEST_DIGEST_LEN + 1])
{
    uint8_t d[UTIL_SHA256_LEN];
    util_sha256(envelope, len, d);
    memcpy(out, "sha256:", 7);
    util_hex_encode(d, UTIL_SHA256_LEN, out + 7);
}

const char *manifest_name(const struct manifest *m)
{
    return m->name;
}

const char *manifest_version(const struct manifest *m)
{
    return m->version;
}

const struct manifest_file *manifest_files(const struct manifest *m, size_t *n)
{
    if (n) *n = m->nfiles;
    return m->files;
}

const struct manifest_file *manifest_find_file(const struct manifest *m, const char *name)
{
    size_t lo = 0, hi = m->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, m->files[mid].name);
        if (c == 0) return &m->files[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

uint64_t manifest_total_bytes(const struct manifest *m)
{
    uint64_t t = 0;
    for (size_t i = 0; i < m->nfiles; i++)
        t += m->files[i].size;
    return t;
}

const char *manifest_format_name(int format)
{
    return format == MODEL_FORMAT_SAFETENSORS ? "safetensors"
           : format == MODEL_FORMAT_GGUF      ? "gguf"
                                              : "?";
}
