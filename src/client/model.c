/*
 * model.c — libcustody's model API (include/custody/model.h): the registry
 * calls, and custody_model_open / _load, which turn custodyd's load plan
 * into open, identity-checked shard descriptors for the loader core.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/internal.h"
#include "custody/model.h"
#include "loader/loader.h"

#define REF_MAX 600 /* NAME (255) @ VERSION (255) and room */

struct custody_model {
    custody_client_t *c;
    char *name, *version, *digest;
    uint64_t bytes;
    size_t nfiles;
    char **file_names;
    char **formats;
    int *fds;
    uint64_t *sizes;
    size_t ntensors;
    custody_tensor_t *tensors;
    char *strings; /* tensor names and dtypes, one allocation */
    struct loader_result *loaded;
};

static int ref_path(custody_client_t *c, struct strbuf *sb, const char *ref, const char *verb)
{
    if (!ref || !*ref || strlen(ref) > REF_MAX)
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid model reference (want NAME@VERSION)");
    sb_puts(sb, "/v1/models/");
    custody__url_encode(sb, ref, strlen(ref));
    if (verb) sb_printf(sb, "/%s", verb);
    return 0;
}

static int ref_call(custody_client_t *c, const char *method, const char *ref, const char *verb,
                    char **out)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf p = STRBUF_INIT;
    int rc = ref_path(c, &p, ref, verb);
    if (!rc) rc = custody__json_call(c, method, p.buf, NULL, out);
    sb_free(&p);
    return rc;
}

int custody_model_register(custody_client_t *c, const char *name, const char *version,
                           const char *const *paths, size_t npaths, int replace,
                           const char *sign_key, char **json_out)
{
    if (!c || !name || !version || (!paths && npaths)) return CUSTODY_EINVAL;
    json_t *arr = json_array();
    for (size_t i = 0; i < npaths; i++)
        json_array_append_new(arr, json_string(paths[i]));
    json_t *body = json_pack("{s:s, s:s, s:o, s:b}", "name", name, "version", version, "paths", arr,
                             "replace", replace != 0);
    if (sign_key) json_object_set_new(body, "sign_key", json_string(sign_key));
    return custody__json_call(c, "POST", "/v1/models", body, json_out);
}

int custody_model_list(custody_client_t *c, char **json_out)
{
    return custody__json_call(c, "GET", "/v1/models", NULL, json_out);
}

int custody_model_show(custody_client_t *c, const char *ref, char **json_out)
{
    return ref_call(c, "GET", ref, NULL, json_out);
}

int custody_model_verify(custody_client_t *c, const char *ref, char **json_out)
{
    return ref_call(c, "POST", ref, "verify", json_out);
}

int custody_model_remove(custody_client_t *c, const char *ref)
{
    return ref_call(c, "DELETE", ref, NULL, NULL);
}

int custody_model_prewarm(custody_client_t *c, const char *ref, const char *to, char **json_out)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf p = STRBUF_INIT;
    int rc = ref_path(c, &p, ref, "prewarm");
    if (!rc)
        rc = custody__json_call(c, "POST", p.buf, json_pack("{s:s}", "to", to ? to : "page-cache"),
                                json_out);
    sb_free(&p);
    return rc;
}

int custody_model_residency(custody_client_t *c, const char *ref, char **json_out)
{
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf p = STRBUF_INIT;
    int rc = ref_path(c, &p, ref, NULL);
    if (!rc) {
        sb_puts(&p, "?resident=1");
        rc = custody__json_call(c, "GET", p.buf, NULL, json_out);
    }
    sb_free(&p);
    return rc;
}

int custody_model_unpin(custody_client_t *c, const char *ref)
{
    return ref_call(c, "DELETE", ref, "prewarm", NULL);
}

/* ---- open: the load plan ---- */

void custody_model_close(custody_model_t *m)
{
    if (!m) return;
    loader_result_free(m->loaded);
    for (size_t i = 0; i < m->nfiles; i++) {
        if (m->fds && m->fds[i] >= 0) close(m->fds[i]);
        if (m->file_names) free(m->file_names[i]);
        if (m->formats) free(m->formats[i]);
    }
    free(m->formats);
    free(m->fds);
    free(m->file_names);
    free(m->sizes);
    free(m->tensors);
    free(m->strings);
    free(m->name);
    free(m->version);
    free(m->digest);
    free(m);
}

static uint64_t jint(json_t *o, const char *k, bool *ok)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *ok = false;
        return 0;
    }
    return (uint64_t)json_integer_value(v);
}

/* Opens one shard (unless custodyd handed its descriptor over) and checks it is the file
 * custodyd vouched for. */
static int open_shard(custody_model_t *m, size_t i, json_t *f)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    json_t *id = json_object_get(f, "identity");
    bool ok = path && json_is_object(id);
    uint64_t dev = jint(id, "dev", &ok), ino = jint(id, "ino", &ok), size = jint(id, "size", &ok);
    json_t *mt = json_object_get(id, "mtime_ns"), *ct = json_object_get(id, "ctime_ns");
    if (!ok || !json_is_integer(mt) || !json_is_integer(ct)) return custody__bad_answer(m->c);
    int fd = m->fds[i] >= 0 ? m->fds[i] : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return custody__set_error(m->c, custody_err_from_errno(errno), CUSTODY_ERRSRC_LOCAL,
                                  "cannot open shard '%s' of %s@%s (%s): %s", m->file_names[i],
                                  m->name, m->version, path, strerror(errno));
    m->fds[i] = fd;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return custody__set_error(m->c, CUSTODY_EIO, CUSTODY_ERRSRC_LOCAL, "fstat %s: %s", path,
                                  strerror(errno));
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    int64_t ctime = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino || (uint64_t)st.st_size != size ||
        mtime != json_integer_value(mt) || ctime != json_integer_value(ct))
        return custody__set_error(m->c, CUSTODY_ECORRUPT, CUSTODY_ERRSRC_LOCAL,
                                  "shard '%s' of %s@%s is not the file custodyd checked (it "
                                  "changed since): refused",
                                  m->file_names[i], m->name, m->version);
    m->sizes[i] = size;
    return 0;
}

/* Bytes the tensor table's strings take (names and dtypes, NUL-terminated). */
static size_t strings_len(json_t *files)
{
    size_t n = 0, i, k;
    json_t *f, *t;
    json_array_foreach(files, i, f)
    {
        json_array_foreach(json_object_get(f, "tensors"), k, t)
        {
            n += json_string_length(json_object_get(t, "name")) + 1;
            n += json_string_length(json_object_get(t, "dtype")) + 1;
        }
    }
    return n;
}

static int plan(custody_model_t *m, json_t *doc)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *version = json_string_value(json_object_get(doc, "version"));
    const char *digest = json_string_value(json_object_get(doc, "digest"));
    json_t *files = json_object_get(doc, "files");
    bool ok = name && version && digest && json_is_array(files) && json_array_size(files) > 0 &&
              json_array_size(files) <= LOADER_MAX_FILES;
    m->bytes = jint(doc, "bytes", &ok);
    if (!ok) return custody__bad_answer(m->c);
    m->name = util_strdup(name);
    m->version = util_strdup(version);
    m->digest = util_strdup(digest);
    m->nfiles = json_array_size(files);
    m->fds = util_calloc(m->nfiles, sizeof *m->fds);
    m->file_names = util_calloc(m->nfiles, sizeof *m->file_names);
    m->formats = util_calloc(m->nfiles, sizeof *m->formats);
    m->sizes = util_calloc(m->nfiles, sizeof *m->sizes);
    for (size_t i = 0; i < m->nfiles; i++)
        m->fds[i] = -1;
    /* the objects as custodyd opened and checked them, when it handed them over */
    json_t *ticket = json_object_get(doc, "handover");
    if (ticket) {
        const char *tv = json_string_value(ticket);
        if (!tv || strlen(tv) != 32 || strspn(tv, "0123456789abcdef") != 32)
            return custody__bad_answer(m->c);
        int rc = custody__handover(m->c, tv, m->fds, m->nfiles);
        if (rc) return rc;
    }
    size_t nt = 0, i, k;
    json_t *f, *t;
    json_array_foreach(files, i, f)
    {
        const char *fn = json_string_value(json_object_get(f, "name"));
        const char *fmt = json_string_value(json_object_get(f, "format"));
        json_t *ts = json_object_get(f, "tensors");
        if (!fn || !fmt || !json_is_array(ts)) return custody__bad_answer(m->c);
        m->file_names[i] = util_strdup(fn);
        m->formats[i] = util_strdup(fmt);
        nt += json_array_size(ts);
    }
    m->tensors = nt ? util_calloc(nt, sizeof *m->tensors) : NULL;
    m->strings = util_calloc(1, strings_len(files) + 1);
    char *s = m->strings;
    json_array_foreach(files, i, f)
    {
        int rc = open_shard(m, i, f);
        if (rc) return rc;
        json_array_foreach(json_object_get(f, "tensors"), k, t)
        {
            custody_tensor_t *o = &m->tensors[m->ntensors];
            json_t *tn = json_object_get(t, "name"), *td = json_object_get(t, "dtype");
            json_t *shape = json_object_get(t, "shape");
            o->offset = jint(t, "offset", &ok);
            o->nbytes = jint(t, "nbytes", &ok);
            if (!ok || !json_is_string(tn) || !json_is_string(td) || !json_is_array(shape) ||
                json_array_size(shape) > CUSTODY_MODEL_MAX_DIMS || o->offset > m->sizes[i] ||
                o->nbytes > m->sizes[i] - o->offset)
                return custody__bad_answer(m->c);
            size_t nl = json_string_length(tn), dl = json_string_length(td);
            memcpy(s, json_string_value(tn), nl);
            o->name = s;
            s += nl + 1;
            memcpy(s, json_string_value(td), dl);
            o->dtype = s;
            s += dl + 1;
            o->ndim = (uint32_t)json_array_size(shape);
            for (uint32_t d = 0; d < o->ndim; d++) {
                json_t *v = json_array_get(shape, d);
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                    return custody__bad_answer(m->c);
                o->shape[d] = (int64_t)json_integer_value(v);
            }
            o->file = (uint32_t)i;
            m->ntensors++;
        }
    }
    return 0;
}

int custody_model_open(custody_client_t *c, const char *ref, custody_model_t **out)
{
    if (!out) return CUSTODY_EINVAL;
    *out = NULL;
    if (!c) return CUSTODY_EINVAL;
    custody__clear_error(c);
    struct strbuf p = STRBUF_INIT, resp = STRBUF_INIT, exact = STRBUF_INIT, cap = STRBUF_INIT;
    int rc = 0;
    /* the capability names NAME@VERSION: "NAME" alone is resolved first */
    if (ref && !strchr(ref, '@')) {
        char *shown = NULL;
        if ((rc = custody_model_show(c, ref, &shown)) == 0) {
            json_t *d = json_loads(shown, 0, NULL);
            const char *v = json_string_value(json_object_get(d, "version"));
            if (v)
                sb_printf(&exact, "%s@%s", ref, v);
            else
                rc = custody__bad_answer(c);
            json_decref(d);
            free(shown);
        }
    } else if (ref) {
        sb_puts(&exact, ref);
    }
    if (!rc) rc = ref_path(c, &p, exact.buf ? exact.buf : ref, "load");
    if (!rc) {
        sb_puts(&p, "?handover=1"); /* the shards' descriptors, from custodyd */
        sb_printf(&cap, "model:/%s", exact.buf);
        rc =
            custody__request_capable(c, "POST", p.buf, "model.load", cap.buf, NULL, 0, NULL, &resp);
    }
    sb_free(&p);
    sb_free(&exact);
    sb_free(&cap);
    if (rc) {
        sb_free(&resp);
        return rc;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(resp.buf ? resp.buf : "", resp.len, JSON_REJECT_DUPLICATES, &jerr);
    sb_free(&resp);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return custody__bad_answer(c);
    }
    custody_model_t *m = util_calloc(1, sizeof *m);
    m->c = c;
    rc = plan(m, doc);
    json_decref(doc);
    if (rc) {
        custody_model_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

int custody_model_load(custody_model_t *m, const custody_load_opts_t *opts)
{
    if (!m) return CUSTODY_EINVAL;
    custody__clear_error(m->c);
    if (m->loaded)
        return custody__set_error(m->c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "model %s@%s is already loaded", m->name, m->version);
    /* each file's region: from its first tensor to the end of its last */
    struct loader_file *lf = util_calloc(m->nfiles, sizeof *lf);
    for (size_t i = 0; i < m->nfiles; i++) {
        lf[i].fd = m->fds[i];
        lf[i].size = m->sizes[i];
        lf[i].begin = m->sizes[i];
        lf[i].end = 0;
    }
    for (size_t k = 0; k < m->ntensors; k++) {
        const custody_tensor_t *t = &m->tensors[k];
        struct loader_file *f = &lf[t->file];
        if (t->offset < f->begin) f->begin = t->offset;
        if (t->offset + t->nbytes > f->end) f->end = t->offset + t->nbytes;
    }
    for (size_t i = 0; i < m->nfiles; i++)
        if (lf[i].end < lf[i].begin) lf[i].begin = lf[i].end = 0; /* no tensors */
    struct loader_opts lo = {.device = -1};
    if (opts) {
        lo.device = opts->device;
        lo.method = opts->method;
        lo.threads = opts->threads;
        lo.chunk = opts->chunk;
        lo.buffers = opts->buffers;
        lo.streams = opts->streams;
    }
    char err[512] = "";
    int rc = loader_load(lf, m->nfiles, &lo, &m->loaded, err, sizeof err);
    if (rc) {
        free(lf);
        return custody__set_error(m->c, rc, CUSTODY_ERRSRC_LOCAL, "loading %s@%s: %s", m->name,
                                  m->version, err[0] ? err : custody_strerror(rc));
    }
    for (size_t k = 0; k < m->ntensors; k++) {
        custody_tensor_t *t = &m->tensors[k];
        const struct loader_region *r = &m->loaded->regions[t->file];
        t->data = r->base ? (char *)r->base + (t->offset - lf[t->file].begin) : NULL;
    }
    free(lf);
    return 0;
}

const char *custody_model_name(const custody_model_t *m)
{
    return m ? m->name : NULL;
}

const char *custody_model_version(const custody_model_t *m)
{
    return m ? m->version : NULL;
}

const char *custody_model_digest(const custody_model_t *m)
{
    return m ? m->digest : NULL;
}

uint64_t custody_model_bytes(const custody_model_t *m)
{
    return m ? m->bytes : 0;
}

size_t custody_model_file_count(const custody_model_t *m)
{
    return m ? m->nfiles : 0;
}

const char *custody_model_file_name(const custody_model_t *m, size_t i)
{
    return m && i < m->nfiles ? m->file_names[i] : NULL;
}

const char *custody_model_file_format(const custody_model_t *m, size_t i)
{
    return m && i < m->nfiles ? m->formats[i] : NULL;
}

size_t custody_model_tensor_count(const custody_model_t *m)
{
    return m ? m->ntensors : 0;
}

const custody_tensor_t *custody_model_tensor(const custody_model_t *m, size_t i)
{
    return m && i < m->ntensors ? &m->tensors[i] : NULL;
}

const custody_tensor_t *custody_model_find(const custody_model_t *m, const char *name)
{
    if (!m || !name) return NULL;
    for (size_t i = 0; i < m->ntensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

int custody_model_device(const custody_model_t *m)
{
    return m && m->loaded ? m->loaded->device : -1;
}

uint64_t custody_model_loaded_bytes(const custody_model_t *m)
{
    return m && m->loaded ? m->loaded->bytes : 0;
}

double custody_model_load_seconds(const custody_model_t *m)
{
    return m && m->loaded ? (double)m->loaded->ns / 1e9 : 0;
}
