/*
 * models_api.c — models as resources (issue 6; docs/API.md, "Models"):
 *
 *   GET    /v1/models                      the registry (agents: the models
 *                                          policy lets them model.show)
 *   POST   /v1/models                      admit {"name","version","paths":[...],
 *                                          "replace"?} (operator; model.register)
 *   GET    /v1/models/NAME@VERSION         one model: files, tensors, digest;
 *                                          ?resident=1: only each file's bytes in
 *                                          the page cache (prewarm's progress)
 *   DELETE /v1/models/NAME@VERSION         forget it (operator; model.remove)
 *   POST   /v1/models/NAME@VERSION/verify  re-hash its shards (operator; model.verify)
 *   POST   /v1/models/NAME@VERSION/load    decide model.load; answer the load
 *                                          plan: object paths, their identities,
 *                                          tensors (libcustody's loader reads them);
 *                                          ?handover=1 (Unix socket): also the ticket
 *                                          for the checked objects' descriptors
 *                                          (handover.c: GET /v1/handover/TICKET)
 *
 * NAME may hold '/', never '@'; VERSION neither; "NAME" alone (no '@') means
 * its newest present version. The resource is Model::"NAME@VERSION". Every
 * answer is an audit event with model_id, model_version, the manifest digest
 * (content_sha256) and the bytes granted (bytes_transferred); loads,
 * admissions, removals and verifications are signed events.
 *
 * Admission and verification hash whole shards: they run on the worker
 * pool, never on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "loader/prewarm.h"
#include "model/model.h"

#define MODELS_PATHS_MAX 4096

/* "NAME@VERSION[/verb]" split; version "" when none was given. */
struct model_ref {
    char name[CACHE_NAME_MAX + 1];
    char version[CACHE_NAME_MAX + 1];
    char verb[16];
    char entity[2 * CACHE_NAME_MAX + 2];   /* NAME@VERSION for Model::"..." */
    char resource[2 * CACHE_NAME_MAX + 8]; /* model:NAME@VERSION, the events' resource_id */
};

static int parse_ref(const char *rest, size_t len, struct model_ref *r)
{
    memset(r, 0, sizeof *r);
    const char *at = NULL;
    for (size_t i = len; i > 0; i--)
        if (rest[i - 1] == '@') {
            at = rest + i - 1;
            break;
        }
    const char *end = rest + len;
    if (at) {
        const char *slash = memchr(at, '/', (size_t)(end - at));
        const char *vend = slash ? slash : end;
        size_t vl = (size_t)(vend - at - 1);
        if (vl == 0 || vl > CACHE_NAME_MAX) return CUSTODY_EINVAL;
        memcpy(r->version, at + 1, vl);
        if (slash) {
            size_t bl = (size_t)(end - slash - 1);
            if (bl == 0 || bl >= sizeof r->verb) return CUSTODY_ENOENT;
            memcpy(r->verb, slash + 1, bl);
        }
        end = at;
    } else {
        /* no version: a trailing /verify or /load is still a verb */
        for (const char *v = end; v > rest; v--)
            if (v[-1] == '/') {
                size_t bl = (size_t)(end - v);
                if ((bl == 4 && memcmp(v, "load", 4) == 0) ||
                    (bl == 6 && memcmp(v, "verify", 6) == 0) ||
                    (bl == 7 && memcmp(v, "prewarm", 7) == 0)) {
                    memcpy(r->verb, v, bl);
                    end = v - 1;
                }
                break;
            }
    }
    size_t nl = (size_t)(end - rest);
    if (nl == 0 || nl > CACHE_NAME_MAX) return CUSTODY_EINVAL;
    memcpy(r->name, rest, nl);
    if (cache_name_problem(r->name) || (r->version[0] && cache_version_problem(r->version)))
        return CUSTODY_EINVAL;
    snprintf(r->entity, sizeof r->entity, "%s@%s", r->name, r->version[0] ? r->version : "*");
    snprintf(r->resource, sizeof r->resource, "model:%s", r->entity);
    return 0;
}

static json_t *tensors_json(const struct manifest_file *f)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < f->ntensors; i++) {
        const struct manifest_tensor *t = &f->tensors[i];
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:o, s:I, s:I}", "name", t->name, "dtype",
                                        model_dtype_name(t->dtype), "shape", shape, "offset",
                                        (json_int_t)t->offset, "nbytes", (json_int_t)t->nbytes));
    }
    return arr;
}

/* What model_json adds to each file. */
enum model_view {
    VIEW_SHOW,     /* tensors, when the manifest is at hand */
    VIEW_PLAN,     /* and the object's path and identity (a load) */
    VIEW_RESIDENT, /* only how much is in the page cache (prewarm's progress) */
};

/* The model as JSON, files as view says. */
static json_t *model_json(const struct cache_model *m, enum model_view view)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:b}", "name", m->name, "version",
                          m->version, "digest", m->digest, "bytes", (json_int_t)m->bytes, "created",
                          gw_time_json(m->created * 1000000000ull), "last_used",
                          gw_time_json(m->last_used * 1000000000ull), "present", m->present);
    if (m->has_signer) {
        char fp[UTIL_ED25519_FP_LEN + 1];
        util_ed25519_fingerprint(m->signer, fp);
        json_object_set_new(o, "signer", json_string(fp));
    }
    if (!m->files) return o;
    json_t *files = json_array();
    for (size_t i = 0; i < m->nfiles; i++) {
        const struct cache_file *f = &m->files[i];
        json_t *fj = json_pack("{s:s, s:s, s:I}", "name", f->name, "sha256", f->sha256, "size",
                               (json_int_t)f->size);
        const struct manifest_file *mf =
            m->manifest ? manifest_find_file(m->manifest, f->name) : NULL;
        if (mf) {
            json_object_set_new(fj, "format", json_string(manifest_format_name(mf->format)));
            json_object_set_new(fj, "tensors", tensors_json(mf));
        }
        if (view == VIEW_RESIDENT && m->present) {
            int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            uint64_t res = 0, size = 0;
            if (fd >= 0 && prewarm_resident(fd, 0, f->size, &res, &size, NULL, 0) == 0)
                json_object_set_new(fj, "resident", json_integer((json_int_t)res));
            if (fd >= 0) close(fd);
        }
        if (view == VIEW_PLAN) {
            json_object_set_new(fj, "path", json_string(f->path));
            json_object_set_new(
                fj, "identity",
                json_pack("{s:I, s:I, s:I, s:I, s:I}", "dev", (json_int_t)f->id.dev, "ino",
                          (json_int_t)f->id.ino, "size", (json_int_t)f->id.size, "mtime_ns",
                          (json_int_t)f->id.mtime_ns, "ctime_ns", (json_int_t)f->id.ctime_ns));
        }
        json_array_append_new(files, fj);
    }
    json_object_set_new(o, "files", files);
    return o;
}

static const char *digest_hex(const struct cache_model *m)
{
    return strncmp(m->digest, "sha256:", 7) == 0 ? m->digest + 7 : NULL;
}

/* ---- jobs on the worker pool ---- */

enum mjob_kind { MJOB_ADMIT, MJOB_VERIFY, MJOB_PREWARM };

struct mjob {
    struct gateway *gw;
    struct http_req *req;
    enum mjob_kind kind;
    char name[CACHE_NAME_MAX + 1], version[CACHE_NAME_MAX + 1];
    char **paths;
    size_t npaths;
    bool replace;
    char *sign_key; /* path of a PEM private key to sign with; NULL: the node key */
    bool pin;
    struct cache_prewarm_stats pw;
    int rc;
    char err[1024];
    struct cache_model *out;
};

static void mjob_free(struct mjob *j)
{
    for (size_t i = 0; i < j->npaths; i++)
        free(j->paths[i]);
    free(j->paths);
    free(j->sign_key);
    cache_model_free(j->out);
    free(j);
}

static void admit_work(struct mjob *j)
{
    struct cache_source *src = util_calloc(j->npaths, sizeof *src);
    for (size_t i = 0; i < j->npaths; i++)
        src[i].fd = -1;
    int rc = 0;
    for (size_t i = 0; i < j->npaths && !rc; i++) {
        const char *base = strrchr(j->paths[i], '/');
        src[i].name = base ? base + 1 : j->paths[i];
        src[i].what = j->paths[i];
        src[i].fd = open(j->paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (src[i].fd < 0) {
            rc = custody_err_from_errno(errno);
            snprintf(j->err, sizeof j->err, "%s: %s", j->paths[i], strerror(errno));
        }
    }
    struct cache_admit_opts ao = {.replace = j->replace};
    char *pem = NULL;
    if (!rc && j->sign_key) {
        rc = util_read_file(j->sign_key, 64 << 10, &pem, &ao.sign_key_len);
        if (rc)
            snprintf(j->err, sizeof j->err, "cannot read the signing key %s: %s", j->sign_key,
                     custody_strerror(rc));
        ao.sign_key_pem = pem;
    }
    if (!rc)
        rc = cache_admit(j->gw->models, j->name, j->version, src, j->npaths, &ao, &j->out, j->err,
                         sizeof j->err);
    if (pem) {
        explicit_bzero(pem, ao.sign_key_len);
        free(pem);
    }
    for (size_t i = 0; i < j->npaths; i++)
        if (src[i].fd >= 0) close(src[i].fd);
    free(src);
    j->rc = rc;
}

static void mjob_work(void *arg)
{
    struct mjob *j = arg;
    if (j->kind == MJOB_ADMIT)
        admit_work(j);
    else if (j->kind == MJOB_PREWARM)
        j->rc = cache_prewarm(j->gw->models, j->name, j->version, j->pin, &j->pw, j->err,
                              sizeof j->err);
    else
        j->rc = cache_verify(j->gw->models, j->name, j->version, j->err, sizeof j->err);
}

static void mjob_done(void *arg)
{
    struct mjob *j = arg;
    struct http_req *req = j->req;
    if (j->rc) {
        gw_error(req, j->rc, "%s", j->err[0] ? j->err : custody_strerror(j->rc));
    } else if (j->kind == MJOB_ADMIT) {
        gw_audit_model(req, j->out->name, j->out->version, digest_hex(j->out), j->out->bytes);
        log_info("models: admitted %s@%s (%zu files, %llu bytes, manifest %s)", j->out->name,
                 j->out->version, j->out->nfiles, (unsigned long long)j->out->bytes,
                 j->out->digest);
        gw_json(req, 201, model_json(j->out, VIEW_SHOW));
    } else if (j->kind == MJOB_PREWARM) {
        char note[160];
        snprintf(note, sizeof note, "%s: %llu bytes in %.3f s (%llu resident before)",
                 j->pin ? "pinned" : "page cache", (unsigned long long)j->pw.bytes,
                 (double)j->pw.ns / 1e9, (unsigned long long)j->pw.resident_before);
        gw_audit_note(req, note);
        gw_json(req, 200,
                json_pack("{s:s, s:s, s:s, s:I, s:f, s:I, s:I}", "name", j->name, "version",
                          j->version, "to", j->pin ? "pinned" : "page-cache", "bytes",
                          (json_int_t)j->pw.bytes, "seconds", (double)j->pw.ns / 1e9,
                          "resident_before", (json_int_t)j->pw.resident_before, "pinned",
                          (json_int_t)j->pw.pinned));
    } else {
        gw_audit_note(req, "every shard matches its signed manifest");
        gw_json(
            req, 200,
            json_pack("{s:s, s:s, s:b}", "name", j->name, "version", j->version, "verified", 1));
    }
    http_req_unref(req);
    mjob_free(j);
}

static void defer(struct gateway *gw, struct http_req *req, struct mjob *j)
{
    j->gw = gw;
    j->req = req;
    http_req_ref(req);
    if (http_server_defer(gw->srv, mjob_work, mjob_done, j) != 0) {
        gw_error(req, CUSTODY_EUNAVAIL, "custodyd is shutting down");
        http_req_unref(req);
        mjob_free(j);
    }
}

/* ---- POST /v1/models ---- */

static void admit(struct gateway *gw, struct http_req *req, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *version = json_string_value(json_object_get(body, "version"));
    json_t *paths = json_object_get(body, "paths");
    json_t *replace = json_object_get(body, "replace");
    json_t *sign_key = json_object_get(body, "sign_key");
    const char *p;
    if (!name || !version || !json_is_array(paths) || (replace && !json_is_boolean(replace))) {
        gw_error(req, CUSTODY_EINVAL,
                 "want {\"name\": S, \"version\": S, \"paths\": [S, ...], "
                 "\"replace\"?: bool}");
        return;
    }
    if ((p = cache_name_problem(name)) || (p = cache_version_problem(version))) {
        gw_error(req, CUSTODY_EINVAL, "model %s %s", cache_name_problem(name) ? "name" : "version",
                 p);
        return;
    }
    char entity[2 * CACHE_NAME_MAX + 2], resource[2 * CACHE_NAME_MAX + 8];
    snprintf(entity, sizeof entity, "%s@%s", name, version);
    snprintf(resource, sizeof resource, "model:%s", entity);
    gw_audit_resource_text(req, resource);
    gw_audit_model(req, name, version, NULL, 0);
    if (gw_admin_authorize(gw, req, "model.register", "Model", entity) != 0) return;
    size_t n = json_array_size(paths);
    if (n == 0 || n > MODELS_PATHS_MAX) {
        gw_error(req, CUSTODY_EINVAL, "a model has 1 to %d shard files", MODELS_PATHS_MAX);
        return;
    }
    struct mjob *j = util_calloc(1, sizeof *j);
    j->kind = MJOB_ADMIT;
    util_strlcpy(j->name, name, sizeof j->name);
    util_strlcpy(j->version, version, sizeof j->version);
    j->replace = json_is_true(replace);
    if (sign_key) j->sign_key = util_strdup(json_string_value(sign_key));
    j->paths = util_calloc(n, sizeof *j->paths);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(paths, i));
        if (!s || s[0] != '/' || strlen(s) > 4096) {
            gw_error(req, CUSTODY_EINVAL, "paths[%zu]: an absolute path (at most 4096 bytes)", i);
            mjob_free(j);
            return;
        }
        j->paths[j->npaths++] = util_strdup(s);
    }
    defer(gw, req, j);
}

static void admit_body(struct http_req *req, json_t *body, void *arg)
{
    if (!body) return; /* answered */
    admit(arg, req, body);
    json_decref(body);
}

/* ---- list, show, load ---- */

/* An agent sees a model when policy lets it model.show it (not audited
 * one by one: the listing is the event). */
static bool may_show(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                     const char *entity)
{
    if (id->kind == GW_ID_OPERATOR) return true;
    struct authz_subject who = gw_subject(req);
    who.agent = authz_agent_find(gw->ids, id->agent);
    if (!who.agent) return false;
    struct authz_request rq = {
        .who = &who, .action = "model.show", .entity_type = "Model", .entity_id = entity};
    struct authz_result res;
    return authz_decide(gw->az, &rq, &res) == 0 && res.allow;
}

static void list_models(struct gateway *gw, struct http_req *req, const struct gw_identity *id)
{
    gw_audit_action(req, "model.list", NULL, NULL);
    struct cache_model *list = NULL;
    size_t n = 0;
    char err[512];
    int rc = cache_list(gw->models, &list, &n, err, sizeof err);
    if (rc) {
        gw_error(req, rc, "%s", err);
        return;
    }
    json_t *arr = json_array();
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        char entity[2 * CACHE_NAME_MAX + 2];
        snprintf(entity, sizeof entity, "%s@%s", list[i].name, list[i].version);
        if (!may_show(gw, req, id, entity)) continue;
        json_array_append_new(arr, model_json(&list[i], VIEW_SHOW));
        shown++;
    }
    cache_list_free(list, n);
    uint64_t bytes;
    size_t models, present;
    cache_usage(gw->models, &bytes, &models, &present);
    char note[96];
    snprintf(note, sizeof note, "%zu of %zu models shown", shown, n);
    gw_audit_note(req, note);
    json_t *doc = json_pack("{s:o}", "models", arr);
    if (id->kind == GW_ID_OPERATOR)
        json_object_set_new(doc, "cache",
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "bytes", (json_int_t)bytes,
                                      "max_bytes", (json_int_t)gw->cfg->models_max_bytes, "models",
                                      (json_int_t)models, "present", (json_int_t)present, "pinned",
                                      (json_int_t)cache_pinned_bytes(gw->models)));
    gw_json(req, 200, doc);
}

/* Decides action on Model::"NAME@VERSION" through the gateway's gate
 * (gw_authorize), for the operator and agents alike. */
static int decide(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                  const char *action, const char *entity)
{
    /* a load carries a capability for model:/NAME@VERSION, like any data-plane call; the
     * registry calls (show, prewarm, verify, remove) are decided by policy alone */
    struct gw_authz az = {.action = action,
                          .entity_type = "Model",
                          .entity_id = entity,
                          .no_token = strcmp(action, "model.load") != 0};
    return gw_authorize(gw, req, id, &az);
}

/* The model REF names (its newest version when none is given), recorded in
 * the event, then the decision on action: the model (caller frees) with
 * entity set to NAME@VERSION, or NULL when answered. */
static struct cache_model *lookup_and_decide(struct gateway *gw, struct http_req *req,
                                             const struct gw_identity *id,
                                             const struct model_ref *r, const char *action,
                                             char entity[2 * CACHE_NAME_MAX + 2])
{
    char err[512], resource[2 * CACHE_NAME_MAX + 8];
    struct cache_model *m = NULL;
    /* the version first (the decision is about NAME@VERSION), then policy */
    int rc = cache_get(gw->models, r->name, r->version[0] ? r->version : NULL, &m, err, sizeof err);
    if (rc) {
        gw_error(req, rc, "%s", err);
        return NULL;
    }
    snprintf(entity, 2 * CACHE_NAME_MAX + 2, "%s@%s", m->name, m->version);
    snprintf(resource, sizeof resource, "model:%s", entity);
    gw_audit_resource_text(req, resource);
    gw_audit_model(req, m->name, m->version, digest_hex(m), 0);
    if (decide(gw, req, id, action, entity) != 0) {
        cache_model_free(m);
        return NULL;
    }
    return m;
}

/* A load asked with ?handover=1 on the Unix socket also opens the checked objects and
 * leaves their descriptors under a ticket (handover.c) that the answer carries. */
static void show_or_load(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                         const struct model_ref *r, enum model_view view, bool handover)
{
    bool load = view == VIEW_PLAN;
    const char *action = load ? "model.load" : "model.show";
    gw_audit_action(req, action, NULL, NULL);
    gw_audit_model(req, r->name, r->version[0] ? r->version : NULL, NULL, 0);
    if (load) gw_audit_sign(req);
    char err[1024] = "", entity[2 * CACHE_NAME_MAX + 2];
    struct cache_model *m = lookup_and_decide(gw, req, id, r, action, entity);
    if (!m) return;
    /* the model as fetched for the decision, checked once: a load refuses what fails, a
     * show answers with the registry's record and why it would not load */
    /* (more shards than one handover carries: the loader opens the paths itself) */
    handover = handover && load && m->nfiles <= HTTP_PASS_FDS_MAX && http_req_can_pass_fds(req);
    int *fds = handover ? util_calloc(m->nfiles ? m->nfiles : 1, sizeof *fds) : NULL;
    int rc = view == VIEW_RESIDENT ? 0 : cache_check_model(gw->models, m, fds, err, sizeof err);
    if (rc && load) {
        if (rc == CUSTODY_ECORRUPT || rc == CUSTODY_EBADSIG)
            log_warn("models: load of %s refused: %s", entity, err);
        cache_model_free(m);
        free(fds);
        gw_error(req, rc, "%s", err);
        return;
    }
    char ticket[GW_TICKET_HEX_LEN + 1] = "";
    if (handover && gw_handover_put(gw, req, fds, m->nfiles, ticket) != 0) {
        for (size_t i = 0; i < m->nfiles; i++)
            close(fds[i]);
        ticket[0] = 0;
    }
    free(fds);
    if (rc) gw_audit_note(req, err);
    if (load) {
        gw_audit_model(req, m->name, m->version, digest_hex(m), m->bytes);
        gw_audit_note(req, "manifest signature and shard identities checked");
    }
    json_t *doc = model_json(m, view);
    if (rc) json_object_set_new(doc, "problem", json_string(err));
    if (ticket[0]) json_object_set_new(doc, "handover", json_string(ticket));
    cache_model_free(m);
    gw_json(req, 200, doc);
}

/* ---- POST /v1/models/REF/prewarm {"to"}, DELETE: unpin ---- */

struct prewarm_ctx {
    struct gateway *gw;
    struct gw_caller *who;
    struct model_ref r;
};

static void prewarm_start(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                          const struct model_ref *r, bool pin)
{
    char entity[2 * CACHE_NAME_MAX + 2];
    struct cache_model *m = lookup_and_decide(gw, req, id, r, "model.prewarm", entity);
    if (!m) return;
    struct mjob *j = util_calloc(1, sizeof *j);
    j->kind = MJOB_PREWARM;
    j->pin = pin;
    util_strlcpy(j->name, m->name, sizeof j->name);
    util_strlcpy(j->version, m->version, sizeof j->version);
    cache_model_free(m);
    defer(gw, req, j);
}

static void prewarm_body(struct http_req *req, json_t *body, void *arg)
{
    struct prewarm_ctx *p = arg;
    if (body) {
        json_t *to = json_object_get(body, "to");
        const char *t = to ? json_string_value(to) : "page-cache";
        if (!t || (strcmp(t, "page-cache") != 0 && strcmp(t, "pinned") != 0))
            gw_error(req, CUSTODY_EINVAL, "\"to\": \"page-cache\" or \"pinned\"");
        else
            prewarm_start(p->gw, req, &p->who->id, &p->r, strcmp(t, "pinned") == 0);
        json_decref(body);
    }
    free(p->who);
    free(p);
}

static void prewarm_req(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                        const struct model_ref *r)
{
    gw_audit_action(req, "model.prewarm", NULL, NULL);
    gw_audit_resource_text(req, r->resource);
    gw_audit_model(req, r->name, r->version[0] ? r->version : NULL, NULL, 0);
    if (req->method == HTTP_DELETE) {
        gw_audit_action(req, "model.unpin", NULL, NULL);
        if (!r->version[0]) {
            gw_error(req, CUSTODY_EINVAL, "say which version: NAME@VERSION");
            return;
        }
        if (decide(gw, req, id, "model.prewarm", r->entity) != 0) return;
        char err[256];
        int rc = cache_unpin(gw->models, r->name, r->version, err, sizeof err);
        if (rc) {
            gw_error(req, rc, "%s", err);
            return;
        }
        gw_send(req, 204, NULL, 0);
        return;
    }
    if (req->method != HTTP_POST) {
        http_resp_header(req, "allow", "POST, DELETE");
        gw_error(req, CUSTODY_EMETHOD, "POST to pre-warm, DELETE to unpin");
        return;
    }
    struct prewarm_ctx *p = util_calloc(1, sizeof *p);
    p->gw = gw;
    p->who = gw_caller_new(gw, id);
    p->r = *r;
    gw_read_json_body(req, prewarm_body, p);
}

/* A signed event for action on NAME@VERSION (a version is required), then
 * the decision; non-zero when answered. */
static int versioned_admin(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                           const struct model_ref *r, const char *action)
{
    gw_audit_action(req, action, NULL, NULL);
    gw_audit_resource_text(req, r->resource);
    gw_audit_model(req, r->name, r->version[0] ? r->version : NULL, NULL, 0);
    gw_audit_sign(req);
    if (!r->version[0]) {
        gw_error(req, CUSTODY_EINVAL, "say which version: NAME@VERSION");
        return CUSTODY_EINVAL;
    }
    return decide(gw, req, id, action, r->entity);
}

void gw_models(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
               const char *rest, size_t len, const char *query, size_t query_len)
{
    if (!gw->models) {
        gw_audit_action(req, "model.list", NULL, NULL);
        gw_error(req, CUSTODY_EUNAVAIL, "this custodyd has no model cache");
        return;
    }
    if (len == 0) {
        if (req->method == HTTP_POST) {
            gw_audit_action(req, "model.register", NULL, NULL);
            gw_audit_sign(req);
            if (id->kind != GW_ID_OPERATOR) {
                gw_error(req, CUSTODY_EDENIED,
                         "registering models is for the operator (agents load them)");
                return;
            }
            gw_read_json_body(req, admit_body, gw);
            return;
        }
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            gw_audit_action(req, "model.list", NULL, NULL);
            http_resp_header(req, "allow", "GET, POST");
            gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/models");
            return;
        }
        list_models(gw, req, id);
        return;
    }
    struct model_ref r;
    int rc = parse_ref(rest, len, &r);
    if (rc) {
        gw_audit_action(req, "model.show", NULL, NULL);
        gw_error(req, rc,
                 rc == CUSTODY_EINVAL
                     ? "malformed model reference (want NAME@VERSION; names hold no '@', "
                       "versions no '/')"
                     : "no such endpoint (load, verify)");
        return;
    }
    bool is_load = strcmp(r.verb, "load") == 0, is_verify = strcmp(r.verb, "verify") == 0;
    bool is_prewarm = strcmp(r.verb, "prewarm") == 0;
    if (r.verb[0] && !is_load && !is_verify && !is_prewarm) {
        gw_audit_action(req, "model.show", NULL, NULL);
        gw_error(req, CUSTODY_ENOENT, "no such endpoint: %s (load, verify, prewarm)", r.verb);
        return;
    }
    if (is_prewarm) {
        prewarm_req(gw, req, id, &r);
        return;
    }
    if (is_load || is_verify) {
        if (req->method != HTTP_POST) {
            gw_audit_action(req, is_load ? "model.load" : "model.verify", NULL, NULL);
            http_resp_header(req, "allow", "POST");
            gw_error(req, CUSTODY_EMETHOD, "use POST");
            return;
        }
        if (is_load) {
            size_t hl;
            const char *h = gw_query_get(query, query_len, "handover", &hl);
            show_or_load(gw, req, id, &r, VIEW_PLAN, h && hl == 1 && h[0] == '1');
            return;
        }
        if (versioned_admin(gw, req, id, &r, "model.verify") != 0) return;
        struct mjob *j = util_calloc(1, sizeof *j);
        j->kind = MJOB_VERIFY;
        util_strlcpy(j->name, r.name, sizeof j->name);
        util_strlcpy(j->version, r.version, sizeof j->version);
        defer(gw, req, j);
        return;
    }
    if (req->method == HTTP_DELETE) {
        if (versioned_admin(gw, req, id, &r, "model.remove") != 0) return;
        char err[512];
        rc = cache_remove(gw->models, r.name, r.version, err, sizeof err);
        if (rc) {
            gw_error(req, rc, "%s", err);
            return;
        }
        log_info("models: removed %s", r.entity);
        gw_send(req, 204, NULL, 0);
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        gw_audit_action(req, "model.show", NULL, NULL);
        http_resp_header(req, "allow", "GET, DELETE");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed");
        return;
    }
    size_t vl;
    const char *v = gw_query_get(query, query_len, "resident", &vl);
    show_or_load(gw, req, id, &r, v && vl == 1 && v[0] == '1' ? VIEW_RESIDENT : VIEW_SHOW, false);
}
