/*
 * fs.c — /v1/fs/ROOT/PATH and /v1/versions/ROOT/PATH.
 *
 * Reads of files whose content hash is cached are answered on the event
 * loop (openat2 + fstat + a cache lookup, then sendfile). Everything that
 * may block — hashing a large file, listing a directory, committing a write
 * (fsync), deletes, moves, version queries (SQLite) — runs as a job on the
 * worker pool and answers from its completion on the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

#define GW_INLINE_HASH_MAX (1u << 20) /* hash files up to 1 MiB on the loop */

enum job_op {
    JOB_HASH_AND_SERVE,
    JOB_LIST,
    JOB_PUT,
    JOB_DELETE,
    JOB_MKDIR,
    JOB_MOVE,
    JOB_ROLLBACK,
    JOB_VERSIONS,
    JOB_VERSION_SERVE,
};

struct fs_job {
    struct gateway *gw;
    struct http_req *req;
    enum job_op op;
    int rc;
    char root[CONFIG_NAME_MAX + 1];
    char path[STORE_PATH_MAX];
    char path2[STORE_PATH_MAX]; /* move destination */
    bool flag;                  /* mkdir parents / move overwrite */
    int64_t version;
    char if_match[UTIL_SHA256_HEX_LEN + 8];
    struct store_precond pre;
    struct store_writer *writer;
    struct store_write_result wres;  /* PUT, rollback, delete; a move's source */
    struct store_write_result wres2; /* a move's destination */
    struct store_handle h; /* JOB_HASH_AND_SERVE; JOB_LIST: the directory's stat (no fd) */
    bool meta;             /* send the metadata headers (HEAD of the current file) */
    char hex[UTIL_SHA256_HEX_LEN + 1];
    struct store_dirent *ents;
    size_t nents;
    bool truncated;
    struct strbuf listing; /* the listing's JSON (worker-made) */
    struct store_version *vers;
    size_t nvers;
    struct gw_identity id; /* JOB_VERSION_SERVE: decided once the version is open */
};

static struct fs_job *job_new(struct gateway *gw, struct http_req *req, enum job_op op,
                              const char *root, const char *path)
{
    struct fs_job *j = util_calloc(1, sizeof *j);
    j->gw = gw;
    j->req = req;
    j->op = op;
    j->h.fd = -1;
    util_strlcpy(j->root, root, sizeof j->root);
    util_strlcpy(j->path, path, sizeof j->path);
    http_req_ref(req);
    return j;
}

static void job_free(struct fs_job *j)
{
    if (j->h.fd >= 0)
        close(j->h.fd);
    if (j->writer)
        store_write_abort(j->writer);
    store_dirents_free(j->ents, j->nents);
    sb_free(&j->listing);
    free(j->vers);
    http_req_unref(j->req);
    free(j);
}

static void job_work(void *arg);
static void job_done(void *arg);

static void job_submit(struct fs_job *j)
{
    if (http_server_defer(j->gw->srv, job_work, job_done, j) != 0) {
        gw_error(j->req, CUSTODY_EUNAVAIL, "custodyd is shutting down");
        job_free(j);
    }
}

/* ---- answering ---- */

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".txt", "text/plain; charset=utf-8"}, {".md", "text/markdown; charset=utf-8"},
        {".csv", "text/csv; charset=utf-8"},   {".json", "application/json"},
        {".html", "text/html; charset=utf-8"}, {".yaml", "application/yaml"},
        {".yml", "application/yaml"},          {".png", "image/png"},
        {".jpg", "image/jpeg"},                {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},                 {".pdf", "application/pdf"},
        {".svg", "image/svg+xml"},             {".webp", "image/webp"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < UTIL_ARRAY_LEN(types); i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Does an If-None-Match / If-Match list contain our (strong) tag? Weak tags
 * compare by their opaque part for If-None-Match (weak comparison). */
static bool etag_list_matches(const struct http_header *h, const char *hex, bool weak_ok)
{
    const char *p = h->value, *end = h->value + h->value_len;
    size_t hl = strlen(hex);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p < end && *p == '*')
            return true;
        bool weak = false;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        if (p >= end || *p != '"')
            return false;
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (!q)
            return false;
        if ((!weak || weak_ok) && (size_t)(q - p - 1) == hl && memcmp(p + 1, hex, hl) == 0)
            return true;
        p = q + 1;
    }
    return false;
}

/* The object's own metadata, beyond Last-Modified: permission bits (octal),
 * access and birth times (RFC 3339; no birth time when the filesystem does
 * not record one). Directory answers also carry the directory's size. A
 * file's GET leaves them out: stat (custody_stat) asks with HEAD, and the
 * read path does not format two timestamps per answer for nobody. */
static void meta_headers(struct http_req *req, const struct stat *st, uint64_t btime_ns)
{
    char ts[40];
    int64_t at = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
    http_resp_headerf(req, "x-custody-mode", "%04o", (unsigned)(st->st_mode & 07777));
    util_rfc3339_ns(at > 0 ? (uint64_t)at : 0, ts);
    http_resp_header(req, "x-custody-atime", ts);
    if (btime_ns) {
        util_rfc3339_ns(btime_ns, ts);
        http_resp_header(req, "x-custody-btime", ts);
    }
}

static void serve_file(struct http_req *req, int fd, const struct store_handle *h, bool meta,
                       const char *hex, const char *path)
{
    const struct stat *st = &h->st;
    char etag[UTIL_SHA256_HEX_LEN + 3];
    etag[0] = '"';
    size_t hl = util_strlcpy(etag + 1, hex, sizeof etag - 2);
    hl = UTIL_MIN(hl, sizeof etag - 3);
    etag[hl + 1] = '"';
    etag[hl + 2] = '\0';
    const struct http_header *inm = http_req_header(req, "if-none-match");
    if (inm && etag_list_matches(inm, hex, true)) {
        close(fd);
        http_resp_header(req, "etag", etag);
        gw_audit_content(req, hex, 0);
        gw_send(req, 304, NULL, 0);
        return;
    }
    uint64_t size = (uint64_t)st->st_size, off = 0, len = size;
    int status = 200;
    const struct http_header *range = http_req_header(req, "range");
    if (range && req->method == HTTP_GET) {
        const struct http_header *ifr = http_req_header(req, "if-range");
        bool use_range = !ifr || etag_list_matches(ifr, hex, false);
        if (use_range) {
            int rc = gw_parse_range(range->value, range->value_len, size, &off, &len);
            if (rc == CUSTODY_ERANGE) {
                close(fd);
                http_resp_headerf(req, "content-range", "bytes */%llu",
                                  (unsigned long long)size);
                gw_error(req, CUSTODY_ERANGE, "range %.*s not satisfiable for %llu bytes",
                         (int)UTIL_MIN(range->value_len, 128), range->value,
                         (unsigned long long)size);
                return;
            }
            if (rc == 0) {
                status = 206;
                http_resp_headerf(req, "content-range", "bytes %llu-%llu/%llu",
                                  (unsigned long long)off, (unsigned long long)(off + len - 1),
                                  (unsigned long long)size);
            } else {
                off = 0, len = size;
            }
        }
    }
    char lm[32];
    util_http_date((uint64_t)st->st_mtim.tv_sec, lm);
    http_resp_header(req, "content-type", content_type(path));
    http_resp_header(req, "x-custody-type", "file");
    http_resp_header(req, "etag", etag);
    http_resp_header(req, "last-modified", lm);
    http_resp_header(req, "accept-ranges", "bytes");
    if (meta)
        meta_headers(req, st, h->btime_ns);
    gw_audit_content(req, hex, 0);
    if (status == 206)
        gw_audit_range(req, off, len);
    gw_send_file(req, status, fd, off, len);
}

/* The edit record of one end of a change; nothing when no file content
 * was there before or after (a directory, a symlink). */
static void audit_edit(struct http_req *req, bool destination, const struct store_write_result *r)
{
    if (r->prev_sha256[0] || r->sha256[0])
        gw_audit_edit(req, destination, r->prev_sha256, r->prev_version, r->sha256, r->version);
}

static void answer_write(struct http_req *req, const char *root, const char *path,
                         const struct store_write_result *res, bool report_created)
{
    char id[STORE_PATH_MAX + 80], etag[UTIL_SHA256_HEX_LEN + 3];
    gw_resource_id(id, sizeof id, root, path);
    snprintf(etag, sizeof etag, "\"%s\"", res->sha256);
    gw_audit_content(req, res->sha256, res->version);
    audit_edit(req, false, res);
    gw_audit_body_bytes(req, res->size);
    json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:b}", "resource", id, "sha256", res->sha256,
                            "size", (json_int_t)res->size, "version", (json_int_t)res->version,
                            "created", res->created);
    http_resp_header(req, "etag", etag);
    gw_json(req, report_created && res->created ? 201 : 200, doc);
}

static void answer_error(struct fs_job *j, const char *what)
{
    char id[STORE_PATH_MAX + 80];
    gw_resource_id(id, sizeof id, j->root, j->path);
    gw_error(j->req, j->rc, "%s: %s: %s", what, id, custody_strerror(j->rc));
}

/* Members of a listing entry, appended without printf: a 100-entry listing
 * made ~500 vsnprintf calls, the largest share of its CPU. */
static void key_member(struct strbuf *sb, const char *key)
{
    sb_puts(sb, ",\"");
    sb_puts(sb, key);
    sb_puts(sb, "\":");
}

static void time_member(struct strbuf *sb, const char *key, uint64_t ns)
{
    char ts[40];
    util_rfc3339_ns(ns, ts);
    key_member(sb, key);
    sb_puts(sb, "\"");
    sb_puts(sb, ts);
    sb_puts(sb, "\"");
}

static void u64_member(struct strbuf *sb, const char *key, uint64_t v)
{
    char d[21];
    size_t n = util_u64_text(v, d);
    key_member(sb, key);
    sb_append(sb, d, n);
}

static void type_member(struct strbuf *sb, enum store_type t)
{
    key_member(sb, "type");
    sb_puts(sb, "\"");
    sb_puts(sb, gw_type_name(t));
    sb_puts(sb, "\"");
}

/* "mode":"0644" (four octal digits, as "%04o" of mode & 07777) */
static void mode_member(struct strbuf *sb, unsigned mode)
{
    char m[6] = {'"', (char)('0' + (mode >> 9 & 7)), (char)('0' + (mode >> 6 & 7)),
                 (char)('0' + (mode >> 3 & 7)), (char)('0' + (mode & 7)), '"'};
    key_member(sb, "mode");
    sb_append(sb, m, sizeof m);
}

/* The listing's JSON, written directly (on the worker): a 100-entry listing through
 * jansson took ~0.5 ms of the loop's time in allocations alone. The document is what
 * json_dumps gave, member for member; a name that is not UTF-8 is left out, as jansson
 * left it out. */
static void listing_text(struct fs_job *j)
{
    char id[STORE_PATH_MAX + 80];
    gw_resource_id(id, sizeof id, j->root, j->path);
    struct strbuf *sb = &j->listing;
    sb_reserve(sb, 256 + j->nents * 192);
    sb_puts(sb, "{\"resource\":");
    sb_jcs_string(sb, id, strlen(id));
    sb_puts(sb, ",\"entries\":[");
    bool first = true;
    for (size_t i = 0; i < j->nents; i++) {
        const struct store_dirent *e = &j->ents[i];
        size_t nl = strlen(e->name);
        if (!util_utf8_valid(e->name, nl)) continue;
        sb_puts(sb, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        sb_jcs_string(sb, e->name, nl);
        type_member(sb, e->type);
        u64_member(sb, "size", e->size);
        time_member(sb, "mtime", e->mtime_ns);
        mode_member(sb, (unsigned)(e->mode & 07777));
        time_member(sb, "atime", e->atime_ns);
        if (e->btime_ns) time_member(sb, "btime", e->btime_ns);
        if (e->target_type) {
            sb_puts(sb, ",\"target\":{\"type\":\"");
            sb_puts(sb, gw_type_name(e->target_type));
            sb_puts(sb, "\"");
            u64_member(sb, "size", e->target_size);
            sb_puts(sb, "}");
        }
        sb_puts(sb, "}");
    }
    sb_puts(sb, j->truncated ? "],\"truncated\":true}\n" : "],\"truncated\":false}\n");
}

static json_t *versions_json(struct fs_job *j)
{
    char id[STORE_PATH_MAX + 80];
    gw_resource_id(id, sizeof id, j->root, j->path);
    json_t *arr = json_array();
    for (size_t i = 0; i < j->nvers; i++) {
        const struct store_version *v = &j->vers[i];
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:I, s:o, s:b}", "version",
                                             (json_int_t)v->id, "op", v->op, "sha256",
                                             v->sha256, "size", (json_int_t)v->size, "time",
                                             gw_time_json(v->time_ns), "available",
                                             v->available));
    }
    return json_pack("{s:s, s:o}", "resource", id, "versions", arr);
}

/* ---- jobs ---- */

static void job_work(void *arg)
{
    struct fs_job *j = arg;
    struct store *st = j->gw->store;
    switch (j->op) {
    case JOB_HASH_AND_SERVE:
        j->rc = store_content_hash(st, j->h.fd, &j->h.st, true, j->hex);
        break;
    case JOB_LIST:
        j->rc = store_list(st, j->root, j->path, &j->ents, &j->nents, &j->truncated);
        if (!j->rc) listing_text(j);
        break;
    case JOB_PUT:
        j->rc = store_write_commit(j->writer, &j->pre, &j->wres);
        j->writer = NULL; /* commit frees it */
        break;
    case JOB_DELETE:
        j->rc = store_delete_edit(st, j->root, j->path, &j->pre, &j->wres);
        break;
    case JOB_MKDIR:
        j->rc = store_mkdir(st, j->root, j->path, j->flag);
        break;
    case JOB_MOVE:
        j->rc = store_move_edit(st, j->root, j->path, j->path2, j->flag, &j->wres, &j->wres2);
        break;
    case JOB_ROLLBACK:
        j->rc = store_rollback(st, j->root, j->path, j->version, &j->wres);
        break;
    case JOB_VERSIONS:
        j->rc = store_versions(st, j->root, j->path, &j->vers, &j->nvers);
        break;
    case JOB_VERSION_SERVE:
        /* a SQLite lookup, and for an encrypted root a verified decryption */
        j->rc = store_open_version(st, j->root, j->path, j->version, &j->h);
        if (!j->rc) j->rc = store_content_hash(st, j->h.fd, &j->h.st, true, j->hex);
        break;
    }
}

static int get_authorize(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                         const char *root, const char *path, int rc, const struct store_handle *h);

/* GET ?version=N once the version is open: decided like any read (a
 * missing version first, so only a reader learns it is missing). */
static void version_done(struct fs_job *j)
{
    struct http_req *req = j->req;
    int rc = j->rc;
    if (get_authorize(j->gw, req, &j->id, j->root, j->path, rc, &j->h) != 0) {
        job_free(j);
        return;
    }
    if (rc) {
        gw_error(req, rc, "%s:%s: %s", j->root, j->path, custody_strerror(rc));
        job_free(j);
        return;
    }
    int fd = j->h.fd;
    j->h.fd = -1;
    serve_file(req, fd, &j->h, false, j->hex, j->path);
    job_free(j);
}

static void job_done(void *arg)
{
    struct fs_job *j = arg;
    struct http_req *req = j->req;
    char id[STORE_PATH_MAX + 80];
    gw_resource_id(id, sizeof id, j->root, j->path);
    if (j->op == JOB_VERSION_SERVE) {
        version_done(j);
        return;
    }
    if (j->rc) {
        static const char *what[] = {"read", "list", "write", "delete",
                                     "mkdir", "move", "rollback", "versions"};
        answer_error(j, what[j->op]);
        job_free(j);
        return;
    }
    switch (j->op) {
    case JOB_HASH_AND_SERVE: {
        int fd = j->h.fd;
        j->h.fd = -1;
        serve_file(req, fd, &j->h, j->meta, j->hex, j->path);
        break;
    }
    case JOB_LIST: {
        char lm[32];
        gw_audit_action(req, "list", j->root, j->path);
        http_resp_header(req, "x-custody-type", "dir");
        util_http_date((uint64_t)j->h.st.st_mtim.tv_sec, lm);
        http_resp_header(req, "last-modified", lm);
        http_resp_headerf(req, "x-custody-size", "%llu",
                          (unsigned long long)(j->h.st.st_size > 0 ? j->h.st.st_size : 0));
        meta_headers(req, &j->h.st, j->h.btime_ns);
        http_resp_header(req, "content-type", "application/json");
        gw_send(req, 200, j->listing.buf, j->listing.len);
        break;
    }
    case JOB_PUT:
        answer_write(req, j->root, j->path, &j->wres, true);
        break;
    case JOB_ROLLBACK:
        answer_write(req, j->root, j->path, &j->wres, false);
        break;
    case JOB_DELETE:
        audit_edit(req, false, &j->wres);
        gw_json(req, 200, json_pack("{s:s, s:b}", "resource", id, "deleted", 1));
        break;
    case JOB_MKDIR:
        gw_json(req, 201, json_pack("{s:s, s:b}", "resource", id, "created", 1));
        break;
    case JOB_MOVE: {
        char to[STORE_PATH_MAX + 80];
        gw_resource_id(to, sizeof to, j->root, j->path2);
        if (j->wres.prev_sha256[0]) { /* a file moved: both ends changed */
            audit_edit(req, false, &j->wres);
            gw_audit_edit(req, true, j->wres2.prev_sha256, j->wres2.prev_version,
                          j->wres2.sha256, j->wres2.version);
        }
        gw_json(req, 200, json_pack("{s:s, s:s}", "resource", id, "to", to));
        break;
    }
    case JOB_VERSIONS:
        gw_json(req, 200, versions_json(j));
        break;
    case JOB_VERSION_SERVE: /* answered by version_done */
        break;
    }
    job_free(j);
}

/* ---- preconditions ---- */

/* Parses If-Match / If-None-Match into the job. Returns 0 or an error. */
static int parse_preconditions(struct http_req *req, struct fs_job *j)
{
    const struct http_header *im = http_req_header(req, "if-match");
    if (im) {
        const char *v = im->value;
        size_t n = im->value_len;
        if (n == 1 && v[0] == '*') {
            util_strlcpy(j->if_match, "*", sizeof j->if_match);
        } else if (n == UTIL_SHA256_HEX_LEN + 2 && v[0] == '"' && v[n - 1] == '"') {
            memcpy(j->if_match, v + 1, n - 2);
            j->if_match[n - 2] = '\0';
        } else {
            /* weak or foreign tags never match our strong ones */
            util_strlcpy(j->if_match, "no-match", sizeof j->if_match);
        }
        j->pre.if_match = j->if_match;
    }
    const struct http_header *inm = http_req_header(req, "if-none-match");
    if (inm) {
        if (inm->value_len == 1 && inm->value[0] == '*')
            j->pre.if_none_match_any = true;
        else
            return CUSTODY_EINVAL; /* only "*" makes sense for writes */
    }
    return 0;
}

/* X-Custody-Consent: the user's consent token for a change, recorded in
 * its edit record. 0 when absent or fine; else answered 400. */
static int parse_consent(struct http_req *req)
{
    const struct http_header *h = http_req_header(req, "x-custody-consent");
    if (!h)
        return 0;
    bool ok = h->value_len > 0 && h->value_len <= LEDGER_CONSENT_MAX;
    for (size_t i = 0; ok && i < h->value_len; i++)
        ok = h->value[i] >= 0x20 && h->value[i] <= 0x7e;
    if (!ok) {
        gw_error(req, CUSTODY_EINVAL,
                 "X-Custody-Consent must be 1 to %d bytes of printable ASCII (0x20-0x7e)",
                 LEDGER_CONSENT_MAX);
        return CUSTODY_EINVAL;
    }
    gw_audit_consent(req, h->value, h->value_len);
    return 0;
}

/* ---- PUT body streaming ---- */

static int put_data(struct http_req *req, const void *data, size_t len)
{
    struct fs_job *j = req->user;
    return store_write_append(j->writer, data, len);
}

static void put_end(struct http_req *req)
{
    struct fs_job *j = req->user;
    req->user = NULL;
    job_submit(j);
}

static void put_abort(struct http_req *req)
{
    struct fs_job *j = req->user;
    req->user = NULL;
    if (j) {
        gw_error(req, CUSTODY_EPROTO, "upload aborted: %s:%s unchanged", j->root, j->path);
        job_free(j); /* aborts the writer: the old file stays */
    }
}

static const struct http_body_cbs put_cbs = {put_data, put_end, put_abort};

static void fs_put(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                   const char *root, const char *path)
{
    if (req->version < 20 && !req->has_body && req->content_length < 0) {
        gw_error(req, CUSTODY_ELENGTH, "PUT needs Content-Length or chunked encoding");
        return;
    }
    struct gw_authz az = {.action = "write", .root = root, .path = path};
    if (gw_authorize(gw, req, id, &az) != 0)
        return;
    struct fs_job *j = job_new(gw, req, JOB_PUT, root, path);
    int rc = parse_preconditions(req, j);
    if (rc) {
        gw_error(req, rc, "If-None-Match on PUT accepts only *");
        job_free(j);
        return;
    }
    rc = store_write_begin(gw->store, root, path, &j->writer);
    if (rc) {
        j->rc = rc;
        answer_error(j, "write");
        job_free(j);
        return;
    }
    if (!req->has_body) {
        job_submit(j);
        return;
    }
    req->user = j;
    http_req_read_body(req, &put_cbs);
}

/* ---- POST operations ---- */

struct post_ctx {
    struct gateway *gw;
    struct gw_identity id; /* a copy: the connection may go while the body arrives */
    char root[CONFIG_NAME_MAX + 1];
    char path[STORE_PATH_MAX];
};

/*
 * {"op": "access", "action": "read"|"write", "phase": "open"|"close",
 *  "surface": "fuse", "range": [FIRST, LAST], "bytes": N}
 *
 * A surface that serves the bytes itself (the FUSE view) asks for the
 * decision when a file is opened (phase "open": decided and recorded like a
 * read or write, answered only once its event is durable) and reports what
 * went through the open file when it is closed (phase "close": the span of
 * the reads and the byte count, one event instead of one per read). Both
 * are decided by policy: a report for a resource the caller may no longer
 * touch is refused and recorded as such.
 *
 * Two batch forms, one event per file, answered once all are durable:
 *   - phase "grant", "names": [NAME, ...] on a directory (the view, having
 *     listed it): a read of each named file is decided now, and the answer
 *     {"granted": [BOOL, ...], "ttl_ms": N} lets the view open those files
 *     for reading without asking again for ttl_ms;
 *   - phase "close", "batch": [{"path": P, "range": [A, B], "bytes": N}, ...]
 *     on the root: the usage reports of several closed files.
 * The last file's event is the request's own; the others are queued
 * before it (gw_audit_extra).
 */
#define ACCESS_BATCH_MAX 1024 /* files in one grant or usage batch */
#define ACCESS_GRANT_TTL_MS 2000

static bool access_surface_ok(const char *surface)
{
    return strlen(surface) <= 32 &&
           strspn(surface, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(surface);
}

/* Records one file of a batch: an extra event, or the request's own for the last. */
static int access_record(struct http_req *req, bool last, const struct gw_extra *x)
{
    if (!last)
        return gw_audit_extra(req, x);
    gw_audit_action(req, x->action, x->root, x->path);
    if (x->has_range)
        gw_audit_range(req, x->range_off, x->range_len);
    if (x->bytes)
        gw_audit_body_bytes(req, x->bytes);
    gw_audit_decision(req, x->res);
    gw_audit_note(req, x->res->reason);
    gw_audit_note_prefix(req, x->note);
    if (!x->res->allow)
        gw_audit_reported_refusal(req);
    return 0;
}

static void access_grant(struct gateway *gw, struct http_req *req, struct post_ctx *pc,
                         const char *act, const char *surface, json_t *names)
{
    size_t n = json_array_size(names);
    if (strcmp(act, "read") != 0 || !json_is_array(names) || n == 0 || n > ACCESS_BATCH_MAX) {
        gw_error(req, CUSTODY_EINVAL,
                 "access grant: want action read and \"names\": 1 to %d file names in the "
                 "directory",
                 ACCESS_BATCH_MAX);
        return;
    }
    size_t dl = strlen(pc->path);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(names, i);
        const char *name = json_string_value(v);
        size_t len = name ? json_string_length(v) : 0;
        if (!name || len == 0 || len > STORE_NAME_MAX || strlen(name) != len ||
            strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            dl + 1 + len >= STORE_PATH_MAX) {
            gw_error(req, CUSTODY_EINVAL, "access grant: names[%zu] is not a file name", i);
            return;
        }
    }
    char note[96];
    snprintf(note, sizeof note, "custody %s: read decided with the listing", surface);
    json_t *granted = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[STORE_PATH_MAX];
        snprintf(path, sizeof path, "%s%s%s", pc->path, dl > 1 ? "/" : "",
                 json_string_value(json_array_get(names, i)));
        struct gw_authz az = {.action = "read", .root = pc->root, .path = path};
        struct authz_result res;
        bool ok = gw_decide(gw, req, &pc->id, &az, &res) == 0;
        json_array_append_new(granted, json_boolean(ok));
        struct gw_extra x = {.action = "read", .root = pc->root, .path = path, .res = &res,
                             .note = note};
        if (access_record(req, i + 1 == n, &x) != 0) {
            json_decref(granted);
            gw_error(req, CUSTODY_EAUDIT, "the audit log cannot record these decisions");
            return;
        }
    }
    gw_json(req, 200, json_pack("{s:o, s:i}", "granted", granted, "ttl_ms", ACCESS_GRANT_TTL_MS));
}

/* One usage report of a batch: {"path", "range"?: [FIRST, LAST], "bytes"}. */
struct usage_item {
    char path[STORE_PATH_MAX];
    json_int_t first, last, bytes;
    bool has_range;
};

static int usage_item(json_t *v, struct usage_item *it)
{
    const char *p = NULL;
    json_t *range = NULL;
    json_error_t jerr;
    it->bytes = 0;
    it->first = it->last = 0;
    if (json_unpack_ex(v, &jerr, JSON_STRICT, "{s:s, s?o, s:I}", "path", &p, "range", &range,
                       "bytes", &it->bytes) != 0 ||
        it->bytes < 0 || store_path_normalize(p, strlen(p), it->path, sizeof it->path) != 0 ||
        (range && (json_unpack(range, "[II]", &it->first, &it->last) != 0 || it->first < 0 ||
                   it->last < it->first)))
        return CUSTODY_EINVAL;
    it->has_range = range != NULL;
    return 0;
}

static void access_usage(struct gateway *gw, struct http_req *req, struct post_ctx *pc,
                         const char *act, const char *surface, json_t *batch)
{
    size_t n = json_array_size(batch);
    if (!json_is_array(batch) || n == 0 || n > ACCESS_BATCH_MAX) {
        gw_error(req, CUSTODY_EINVAL, "access: \"batch\" must hold 1 to %d reports",
                 ACCESS_BATCH_MAX);
        return;
    }
    /* all checked before any is recorded (one item at a time: a path is 4 KiB) */
    struct usage_item it;
    for (size_t i = 0; i < n; i++) {
        if (usage_item(json_array_get(batch, i), &it) != 0) {
            gw_error(req, CUSTODY_EINVAL,
                     "access: batch[%zu] must be {\"path\", \"range\": [FIRST, LAST], \"bytes\"}",
                     i);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        usage_item(json_array_get(batch, i), &it); /* checked above */
        struct gw_authz az = {.action = act, .root = pc->root, .path = it.path};
        az.has_range = it.has_range;
        az.range_first = (uint64_t)it.first;
        az.range_last = (uint64_t)it.last;
        struct authz_result res;
        gw_decide(gw, req, &pc->id, &az, &res);
        char note[96];
        snprintf(note, sizeof note, "custody %s: %lld bytes through the open file", surface,
                 (long long)it.bytes);
        struct gw_extra x = {.action = act,
                             .root = pc->root,
                             .path = it.path,
                             .res = &res,
                             .note = note,
                             .has_range = it.has_range,
                             .range_off = (uint64_t)it.first,
                             .range_len = (uint64_t)(it.last - it.first + 1),
                             .bytes = (uint64_t)it.bytes};
        if (access_record(req, i + 1 == n, &x) != 0) {
            gw_error(req, CUSTODY_EAUDIT, "the audit log cannot record these reports");
            return;
        }
    }
    gw_json(req, 200, json_pack("{s:I}", "recorded", (json_int_t)n));
}

static void access_report(struct gateway *gw, struct http_req *req, struct post_ctx *pc,
                          json_t *body)
{
    const char *opname, *action = NULL, *phase = NULL, *surface = NULL;
    json_t *range = NULL, *names = NULL, *batch = NULL;
    json_int_t bytes = -1;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s, s?o, s?I, s?o, s?o}", "op",
                       &opname, "action", &action, "phase", &phase, "surface", &surface, "range",
                       &range, "bytes", &bytes, "names", &names, "batch", &batch) != 0) {
        gw_error(req, CUSTODY_EINVAL, "access: %s", jerr.text);
        return;
    }
    const char *act = strcmp(action, "read") == 0 ? "read" : strcmp(action, "write") == 0 ? "write"
                                                                                         : NULL;
    bool open = strcmp(phase, "open") == 0, grant = strcmp(phase, "grant") == 0;
    if (!act || (!open && !grant && strcmp(phase, "close") != 0) || !access_surface_ok(surface) ||
        (names && !grant) || (batch && (open || grant)) || ((names || batch) && (range || bytes >= 0))) {
        gw_error(req, CUSTODY_EINVAL,
                 "access: want action read|write, phase open|close|grant and a surface name "
                 "(names only with grant, batch only with close)");
        return;
    }
    if (grant) {
        access_grant(gw, req, pc, act, surface, names);
        return;
    }
    if (batch) {
        access_usage(gw, req, pc, act, surface, batch);
        return;
    }
    gw_audit_action(req, act, pc->root, pc->path);
    uint64_t first = 0, last = 0;
    bool has_range = false;
    if (range) {
        json_int_t a, b;
        if (json_unpack(range, "[II]", &a, &b) != 0 || a < 0 || b < a) {
            gw_error(req, CUSTODY_EINVAL, "access: \"range\" must be [FIRST, LAST] with FIRST <= LAST");
            return;
        }
        first = (uint64_t)a;
        last = (uint64_t)b;
        has_range = true;
        gw_audit_range(req, first, last - first + 1);
    }
    if (bytes > 0)
        gw_audit_body_bytes(req, (uint64_t)bytes);
    struct gw_authz az = {.action = act, .root = pc->root, .path = pc->path};
    az.has_range = has_range;
    az.range_first = first;
    az.range_last = last;
    if (gw_authorize(gw, req, &pc->id, &az) != 0)
        return;
    char what[96];
    if (open)
        snprintf(what, sizeof what, "custody %s: open for %s", surface,
                 act[0] == 'r' ? "reading" : "writing");
    else
        snprintf(what, sizeof what, "custody %s: %lld bytes through the open file", surface,
                 (long long)(bytes > 0 ? bytes : 0));
    gw_audit_note_prefix(req, what);
    gw_json(req, 200, json_pack("{s:b}", "allowed", 1));
}

static void post_body(struct http_req *req, json_t *body, void *arg)
{
    struct post_ctx *pc = arg;
    struct gateway *gw = pc->gw;
    if (!body) {
        free(pc);
        return;
    }
    const char *op = json_string_value(json_object_get(body, "op"));
    struct fs_job *j = NULL;
    const char *key;
    json_t *val;
    if (!op) {
        gw_error(req, CUSTODY_EINVAL, "missing \"op\" (mkdir, move, rollback or access)");
        goto out;
    }
    if (strcmp(op, "access") == 0) {
        access_report(gw, req, pc, body);
        goto out;
    }
    if (strcmp(op, "mkdir") == 0) {
        gw_audit_action(req, "mkdir", pc->root, pc->path);
        j = job_new(gw, req, JOB_MKDIR, pc->root, pc->path);
        json_object_foreach(body, key, val)
        {
            if (strcmp(key, "parents") == 0 && json_is_boolean(val))
                j->flag = json_is_true(val);
            else if (strcmp(key, "op") != 0) {
                gw_error(req, CUSTODY_EINVAL, "mkdir: unexpected field \"%s\"", key);
                goto out;
            }
        }
    } else if (strcmp(op, "move") == 0) {
        gw_audit_action(req, "move", pc->root, pc->path);
        j = job_new(gw, req, JOB_MOVE, pc->root, pc->path);
        const char *to = NULL;
        json_object_foreach(body, key, val)
        {
            if (strcmp(key, "to") == 0 && json_is_string(val))
                to = json_string_value(val);
            else if (strcmp(key, "overwrite") == 0 && json_is_boolean(val))
                j->flag = json_is_true(val);
            else if (strcmp(key, "op") != 0) {
                gw_error(req, CUSTODY_EINVAL, "move: unexpected field \"%s\"", key);
                goto out;
            }
        }
        if (!to) {
            gw_error(req, CUSTODY_EINVAL, "move: missing \"to\"");
            goto out;
        }
        int rc;
        if (to[0] == '/') {
            rc = store_path_normalize(to, strlen(to), j->path2, sizeof j->path2);
        } else {
            char troot[CONFIG_NAME_MAX + 1];
            rc = store_resource_parse(to, troot, sizeof troot, j->path2, sizeof j->path2);
            if (rc == 0 && strcmp(troot, pc->root) != 0)
                rc = CUSTODY_EXDEV;
        }
        if (rc) {
            gw_error(req, rc, "move: destination %s: %s", to, custody_strerror(rc));
            goto out;
        }
        gw_audit_destination(req, pc->root, j->path2);
    } else if (strcmp(op, "rollback") == 0) {
        gw_audit_action(req, "rollback", pc->root, pc->path);
        j = job_new(gw, req, JOB_ROLLBACK, pc->root, pc->path);
        bool have = false;
        json_object_foreach(body, key, val)
        {
            if (strcmp(key, "to") == 0 && json_is_integer(val)) {
                j->version = json_integer_value(val);
                have = true;
            } else if (strcmp(key, "to") == 0 && json_is_string(val)) {
                uint64_t v;
                const char *s = json_string_value(val);
                if (util_parse_u64(s, strlen(s), &v) != 0 || v > INT64_MAX) {
                    gw_error(req, CUSTODY_EINVAL, "rollback: \"to\" must be a version number");
                    goto out;
                }
                j->version = (int64_t)v;
                have = true;
            } else if (strcmp(key, "op") != 0) {
                gw_error(req, CUSTODY_EINVAL, "rollback: unexpected field \"%s\"", key);
                goto out;
            }
        }
        if (!have || j->version <= 0) {
            gw_error(req, CUSTODY_EINVAL, "rollback: \"to\" must be a version number >= 1");
            goto out;
        }
    } else {
        gw_error(req, CUSTODY_EINVAL, "unknown op \"%s\" (mkdir, move, rollback or access)",
                 op);
        goto out;
    }
    struct gw_authz az = {.action = op, .root = pc->root, .path = pc->path};
    az.dir = j->op == JOB_MKDIR;
    if (j->op == JOB_MOVE) {
        az.root2 = pc->root;
        az.path2 = j->path2;
    }
    if (gw_authorize(gw, req, &pc->id, &az) != 0)
        goto out;
    job_submit(j);
    j = NULL;
out:
    if (j)
        job_free(j);
    json_decref(body);
    free(pc);
}

/* ---- entry points ---- */

/* Splits "ROOT/PATH" and checks both. Answers the error itself. */
static bool split_resource(struct gateway *gw, struct http_req *req, const char *rest,
                           size_t rest_len, char *root, size_t rootsz, char *path, size_t pathsz)
{
    const char *slash = memchr(rest, '/', rest_len);
    size_t rl = slash ? (size_t)(slash - rest) : rest_len;
    if (rl == 0 || rl >= rootsz) {
        gw_error(req, rl ? CUSTODY_ENOROOT : CUSTODY_EINVAL, "missing or invalid root name");
        return false;
    }
    memcpy(root, rest, rl);
    root[rl] = '\0';
    if (!config_root_name_valid(root)) {
        gw_error(req, CUSTODY_ENOROOT, "invalid root name");
        return false;
    }
    if (!store_has_root(gw->store, root)) {
        gw_error(req, CUSTODY_ENOROOT, "no such root: %s", root);
        return false;
    }
    int rc = slash ? store_path_normalize(slash, rest_len - rl, path, pathsz)
                   : store_path_normalize("/", 1, path, pathsz);
    if (rc) {
        gw_error(req, rc, "%s", rc == CUSTODY_EESCAPE ? "path escapes its root"
                                : rc == CUSTODY_ENAMETOOLONG
                                    ? "path or path component too long"
                                    : "invalid path (NUL, control characters or invalid UTF-8)");
        return false;
    }
    return true;
}

/* Decides a GET or HEAD once the handle says what the path is (rc: the
 * open's result; on error the path is decided as a file, so an agent
 * learns whether something exists only where it may read). */
static int get_authorize(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                         const char *root, const char *path, int rc, const struct store_handle *h)
{
    bool dir = rc == 0 && h->type == STORE_DIR;
    struct gw_authz az = {.root = root, .path = path, .dir = dir};
    az.action = dir ? "list" : req->method == HTTP_HEAD ? "stat" : "read";
    if (dir)
        gw_audit_action(req, "list", root, path);
    if (rc == 0 && !dir && req->method == HTTP_GET && h->st.st_size > 0) {
        /* the bytes this read sends: the Range asked for, else all */
        uint64_t size = (uint64_t)h->st.st_size, off = 0, len = size;
        const struct http_header *range = http_req_header(req, "range");
        if (range && gw_parse_range(range->value, range->value_len, size, &off, &len) != 0)
            off = 0, len = size;
        az.has_range = true;
        az.range_first = off;
        az.range_last = off + len - 1;
    }
    return gw_authorize(gw, req, id, &az);
}

static void fs_get(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                   const char *root, const char *path, const char *query, size_t qlen)
{
    struct store_handle h;
    size_t vlen = 0;
    const char *ver = gw_query_get(query, qlen, "version", &vlen);
    int rc;
    if (ver) {
        uint64_t v;
        if (util_parse_u64(ver, vlen, &v) != 0 || v == 0 || v > INT64_MAX) {
            gw_error(req, CUSTODY_EINVAL, "version must be a number >= 1");
            return;
        }
        gw_audit_content(req, NULL, (int64_t)v);
        struct fs_job *j = job_new(gw, req, JOB_VERSION_SERVE, root, path);
        j->version = (int64_t)v;
        j->id = *id;
        job_submit(j);
        return;
    }
    rc = store_open_read(gw->store, root, path, &h);
    if (get_authorize(gw, req, id, root, path, rc, &h) != 0) {
        if (rc == 0)
            store_handle_close(&h);
        return;
    }
    if (rc) {
        gw_error(req, rc, "%s:%s: %s", root, path, custody_strerror(rc));
        return;
    }
    if (h.type == STORE_DIR) {
        store_handle_close(&h);
        struct fs_job *j = job_new(gw, req, JOB_LIST, root, path);
        j->h = h; /* its stat for the answer's headers; the fd is closed */
        job_submit(j);
        return;
    }
    char hex[UTIL_SHA256_HEX_LEN + 1];
    rc = store_content_hash(gw->store, h.fd, &h.st, false, hex);
    if (rc == CUSTODY_EAGAIN && h.st.st_size <= (off_t)GW_INLINE_HASH_MAX)
        rc = store_content_hash(gw->store, h.fd, &h.st, true, hex);
    if (rc == CUSTODY_EAGAIN) {
        struct fs_job *j = job_new(gw, req, JOB_HASH_AND_SERVE, root, path);
        j->h = h;
        j->meta = !ver && req->method == HTTP_HEAD;
        job_submit(j);
        return;
    }
    if (rc) {
        store_handle_close(&h);
        gw_error(req, rc, "%s:%s: %s", root, path, custody_strerror(rc));
        return;
    }
    serve_file(req, h.fd, &h, !ver && req->method == HTTP_HEAD, hex, path);
}

void gw_fs(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
           const char *rest, size_t rest_len, const char *query, size_t qlen)
{
    char root[CONFIG_NAME_MAX + 1], path[STORE_PATH_MAX];
    const char *action = req->method == HTTP_GET      ? "read"
                         : req->method == HTTP_HEAD   ? "stat"
                         : req->method == HTTP_PUT    ? "write"
                         : req->method == HTTP_DELETE ? "delete"
                         : req->method == HTTP_POST   ? "fs.post"
                                                      : "request";
    gw_audit_action(req, action, NULL, NULL);
    if (!split_resource(gw, req, rest, rest_len, root, sizeof root, path, sizeof path))
        return;
    gw_audit_action(req, action, root, path);
    bool change = req->method == HTTP_PUT || req->method == HTTP_DELETE ||
                  req->method == HTTP_POST;
    if (change && parse_consent(req) != 0)
        return;
    switch (req->method) {
    case HTTP_GET:
    case HTTP_HEAD:
        fs_get(gw, req, id, root, path, query, qlen);
        break;
    case HTTP_PUT:
        fs_put(gw, req, id, root, path);
        break;
    case HTTP_DELETE: {
        struct gw_authz az = {.action = "delete", .root = root, .path = path};
        if (gw_authorize(gw, req, id, &az) != 0)
            return;
        struct fs_job *j = job_new(gw, req, JOB_DELETE, root, path);
        int rc = parse_preconditions(req, j);
        if (rc) {
            gw_error(req, rc, "If-None-Match is not supported on DELETE");
            job_free(j);
            return;
        }
        job_submit(j);
        break;
    }
    case HTTP_POST: {
        struct post_ctx *pc = util_calloc(1, sizeof *pc);
        pc->gw = gw;
        pc->id = *id;
        util_strlcpy(pc->root, root, sizeof pc->root);
        util_strlcpy(pc->path, path, sizeof pc->path);
        gw_read_json_body(req, post_body, pc);
        break;
    }
    default:
        http_resp_header(req, "allow", "GET, HEAD, PUT, DELETE, POST");
        gw_error(req, CUSTODY_EMETHOD, "method %.*s not allowed on /v1/fs/",
                 (int)UTIL_MIN(req->method_len, 32), req->method_str);
    }
}

void gw_versions(struct gateway *gw, struct http_req *req, const struct gw_identity *id,
                 const char *rest, size_t rest_len)
{
    char root[CONFIG_NAME_MAX + 1], path[STORE_PATH_MAX];
    gw_audit_action(req, "history", NULL, NULL);
    if (!split_resource(gw, req, rest, rest_len, root, sizeof root, path, sizeof path))
        return;
    gw_audit_action(req, "history", root, path);
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, HEAD");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/versions/");
        return;
    }
    struct gw_authz az = {.action = "versions", .root = root, .path = path};
    if (gw_authorize(gw, req, id, &az) != 0)
        return;
    job_submit(job_new(gw, req, JOB_VERSIONS, root, path));
}
