/*
 * audit_api.c — reading the audit log over HTTP (docs/API.md, "Audit").
 *
 *   /audit/checkpoint, /audit/tile/...   the log itself, read-only, in the
 *                                        C2SP tlog-tiles layout, so any
 *                                        tlog-tiles client can mirror it
 *   /v1/audit/status|key|checkpoint      state and verifier key
 *   /v1/audit/entries/N, ?from=&limit=   events with their leaf indices
 *   /v1/audit/search?...                 the SQLite index
 *   /v1/audit/history/ROOT/PATH          the edit records of one path
 *   /v1/audit/proof/inclusion?index=N    (&format=tlog-proof for a C2SP file)
 *   /v1/audit/proof/consistency?old=M    (&size=N)
 *   POST /v1/audit/hash {"value": ...}   the pseudonym of a value
 *
 * Proofs, entries and searches run on the worker pool (they read files).
 * Reading the log is not itself an audited action (see docs/ledger.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define ENTRIES_MAX 1000

json_t *gw_audit_stats_json(const struct ledger_stats *st)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:s}", "origin", st->origin, "size",
                     (json_int_t)st->size, "checkpoint_size", (json_int_t)st->checkpoint_size,
                     "batches", (json_int_t)st->batches, "failures", (json_int_t)st->failures,
                     "healthy", st->healthy, "last_error", st->last_error);
}

/* The latest signed checkpoint, cosignatures included (never cached: it
 * changes with every checkpoint). */
static void send_checkpoint(struct gateway *gw, struct http_req *req)
{
    struct strbuf note = {0};
    ledger_checkpoint(gw->ledger, &note, NULL);
    http_resp_header(req, "content-type", "text/plain; charset=utf-8");
    http_resp_header(req, "cache-control", "no-cache");
    gw_send(req, 200, note.buf, note.len);
    sb_free(&note);
}

static void b64(struct strbuf *sb, const uint8_t *p, size_t n)
{
    tlog_b64_encode(p, n, sb);
}

static json_t *hashes_json(uint8_t (*h)[TLOG_HASH_LEN], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        struct strbuf sb = {0};
        b64(&sb, h[i], TLOG_HASH_LEN);
        json_array_append_new(a, json_string(sb.buf));
        sb_free(&sb);
    }
    return a;
}

static bool query_u64(const char *q, size_t ql, const char *key, uint64_t *out, bool *bad)
{
    size_t vl;
    const char *v = gw_query_get(q, ql, key, &vl);
    if (!v)
        return false;
    if (util_parse_u64(v, vl, out) != 0)
        *bad = true;
    return true;
}

/* Percent-decoded query value into buf (NULL when absent or too long). */
static const char *query_str(const char *q, size_t ql, const char *key, char *buf, size_t len)
{
    size_t vl;
    const char *v = gw_query_get(q, ql, key, &vl);
    if (!v)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < vl; i++) {
        if (o + 1 >= len)
            return NULL;
        char c = v[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            if (i + 2 >= vl)
                return NULL;
            int hi = util_hexval(v[i + 1]), lo = util_hexval(v[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        buf[o++] = c;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- jobs ---- */

enum aop { A_ENTRY, A_ENTRIES, A_SEARCH, A_INCLUSION, A_CONSISTENCY };

struct ajob {
    struct gateway *gw;
    struct http_req *req;
    enum aop op;
    int rc;
    uint64_t a, b, limit;
    bool tlog_format, text_format, json_out;
    struct ledger_query q;
    char qbuf[7][512];
    char *history; /* A_SEARCH for /v1/audit/history: the resource asked about */
    uint64_t *hits;
    size_t nhits;
    json_t *doc;
    struct strbuf out;
    char msg[256];
};

/* Appends {"index":N,"event":<the entry's exact bytes>} to out: the event is
 * spliced in as stored (canonical JSON), never re-serialised. */
static int entry_append(struct ledger *l, uint64_t idx, struct strbuf *out)
{
    struct strbuf sb = {0};
    int rc = ledger_entry(l, idx, &sb);
    if (!rc) {
        sb_printf(out, "{\"index\":%llu,\"event\":", (unsigned long long)idx);
        sb_append(out, sb.buf, sb.len);
        sb_puts(out, "}");
    }
    sb_free(&sb);
    return rc;
}

/* Events are read from tiles, which exist under a checkpoint: when a
 * reader asks for durable events the next checkpoint would publish, publish
 * it now (so `custody audit tail` shows what just happened). */
static void ensure_published(struct ledger *l, uint64_t upto)
{
    struct ledger_stats st;
    ledger_stats(l, &st);
    if (upto > st.size)
        upto = st.size;
    if (upto > st.checkpoint_size)
        ledger_checkpoint_now(l, upto);
}

static void ajob_work(void *arg)
{
    struct ajob *j = arg;
    struct ledger *l = j->gw->ledger;
    if (j->op == A_ENTRY)
        ensure_published(l, j->a + 1);
    else if (j->op == A_ENTRIES || j->op == A_SEARCH)
        ensure_published(l, UINT64_MAX);
    switch (j->op) {
    case A_ENTRY:
        j->rc = entry_append(l, j->a, &j->out);
        if (!j->rc)
            sb_puts(&j->out, "\n");
        j->json_out = true;
        break;
    case A_ENTRIES: {
        struct ledger_stats st;
        ledger_stats(l, &st);
        uint64_t from = j->a < st.checkpoint_size ? j->a : st.checkpoint_size;
        uint64_t end = from + j->limit < st.checkpoint_size ? from + j->limit
                                                             : st.checkpoint_size;
        sb_puts(&j->out, "{\"entries\":[");
        for (uint64_t i = from; i < end && !j->rc; i++) {
            if (i > from)
                sb_puts(&j->out, ",");
            j->rc = entry_append(l, i, &j->out);
        }
        sb_printf(&j->out, "],\"next\":%llu,\"size\":%llu}\n",
                  (unsigned long long)(j->a > end ? j->a : end),
                  (unsigned long long)st.checkpoint_size);
        j->json_out = true;
        break;
    }
    case A_SEARCH: {
        j->rc = ledger_search(l, &j->q, &j->hits, &j->nhits);
        if (j->rc)
            break;
        sb_puts(&j->out, "{");
        if (j->history) {
            sb_puts(&j->out, "\"resource\":");
            sb_jcs_string(&j->out, j->history, strlen(j->history));
            sb_puts(&j->out, ",");
        }
        sb_puts(&j->out, "\"results\":[");
        for (size_t i = 0; i < j->nhits && !j->rc; i++) {
            if (i)
                sb_puts(&j->out, ",");
            j->rc = entry_append(l, j->hits[i], &j->out);
        }
        sb_puts(&j->out, "]}\n");
        j->json_out = true;
        break;
    }
    case A_INCLUSION: {
        struct ledger_stats st;
        ledger_stats(l, &st);
        if (j->a >= st.size) {
            j->rc = CUSTODY_ENOENT;
            snprintf(j->msg, sizeof j->msg, "no event %llu: the log holds %llu",
                     (unsigned long long)j->a, (unsigned long long)st.size);
            break;
        }
        /* an event not yet under a checkpoint: publish one now */
        if (j->a >= st.checkpoint_size && (j->rc = ledger_checkpoint_now(l, j->a + 1)) != 0)
            break;
        struct strbuf note = {0};
        struct tlog_checkpoint cp;
        ledger_checkpoint(l, &note, &cp);
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
        size_t n = 0;
        j->rc = ledger_prove_inclusion(l, j->a, cp.size, proof, &n);
        if (!j->rc && j->tlog_format) {
            struct tlog_proof_file pf = {.index = j->a, .nproof = n, .note = note.buf,
                                         .note_len = note.len};
            memcpy(pf.proof, proof, n * TLOG_HASH_LEN);
            j->rc = tlog_proof_format(&pf, &j->out);
        } else if (!j->rc) {
            struct strbuf root = {0};
            b64(&root, cp.root, TLOG_HASH_LEN);
            j->doc = json_pack("{s:I, s:I, s:s, s:o, s:s}", "index", (json_int_t)j->a, "size",
                               (json_int_t)cp.size, "root", root.buf, "proof",
                               hashes_json(proof, n), "checkpoint", note.buf);
            sb_free(&root);
        }
        sb_free(&note);
        break;
    }
    case A_CONSISTENCY: {
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
        size_t n = 0;
        struct tlog_checkpoint cp;
        struct strbuf note = {0};
        ledger_checkpoint(l, &note, &cp);
        uint64_t size = j->b ? j->b : cp.size;
        j->rc = ledger_prove_consistency(l, j->a, size, proof, &n);
        if (j->rc) {
            snprintf(j->msg, sizeof j->msg, "need 0 < old (%llu) <= size (%llu) <= %llu",
                     (unsigned long long)j->a, (unsigned long long)size,
                     (unsigned long long)cp.size);
        } else if (j->text_format) {
            for (size_t i = 0; i < n; i++) {
                b64(&j->out, proof[i], TLOG_HASH_LEN);
                sb_puts(&j->out, "\n");
            }
        } else {
            uint8_t old[TLOG_HASH_LEN], nroot[TLOG_HASH_LEN];
            struct strbuf o = {0}, r = {0};
            ledger_tree_root(l, j->a, old);
            ledger_tree_root(l, size, nroot);
            b64(&o, old, TLOG_HASH_LEN);
            b64(&r, nroot, TLOG_HASH_LEN);
            j->doc = json_pack("{s:I, s:s, s:I, s:s, s:o}", "old_size", (json_int_t)j->a,
                               "old_root", o.buf, "size", (json_int_t)size, "root", r.buf,
                               "proof", hashes_json(proof, n));
            sb_free(&o);
            sb_free(&r);
        }
        sb_free(&note);
        break;
    }
    }
}

static void ajob_done(void *arg)
{
    struct ajob *j = arg;
    if (j->rc) {
        if (j->doc)
            json_decref(j->doc);
        gw_error(j->req, j->rc, "%s", j->msg[0] ? j->msg : custody_strerror(j->rc));
    } else if (j->doc) {
        gw_json(j->req, 200, j->doc);
    } else {
        http_resp_header(j->req, "content-type",
                         j->json_out ? "application/json" : "text/plain; charset=utf-8");
        gw_send(j->req, 200, j->out.buf, j->out.len);
    }
    sb_free(&j->out);
    free(j->hits);
    free(j->history);
    http_req_unref(j->req);
    free(j);
}

static void submit(struct ajob *j)
{
    http_req_ref(j->req);
    if (http_server_defer(j->gw->srv, ajob_work, ajob_done, j) != 0) {
        gw_error(j->req, CUSTODY_EUNAVAIL, "custodyd is shutting down");
        http_req_unref(j->req);
        free(j->history);
        free(j);
    }
}

static bool parse_time(const char *s, uint64_t *ns)
{
    /* RFC 3339 (UTC "Z") to ns, or plain unix seconds */
    uint64_t v;
    if (util_parse_u64(s, strlen(s), &v) == 0) {
        *ns = v * 1000000000ull;
        return true;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return false;
    uint64_t frac = 0, scale = 1000000000ull;
    if (*rest == '.') {
        rest++;
        while (*rest >= '0' && *rest <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*rest - '0') * scale;
            }
            rest++;
        }
    }
    if (strcmp(rest, "Z") != 0)
        return false;
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *ns = (uint64_t)t * 1000000000ull + frac;
    return true;
}

/* limit (capped at 10000), after, order=desc; false when limit or after
 * is not a number. */
static bool query_paging(const char *q, size_t ql, struct ledger_query *lq)
{
    bool bad = false;
    uint64_t v;
    if (query_u64(q, ql, "limit", &v, &bad))
        lq->limit = v > 10000 ? 10000 : (size_t)v;
    if (query_u64(q, ql, "after", &lq->after, &bad))
        lq->has_after = true;
    size_t vl;
    const char *order = gw_query_get(q, ql, "order", &vl);
    lq->descending = order && vl == 4 && memcmp(order, "desc", 4) == 0;
    return !bad;
}

static void search(struct gateway *gw, struct http_req *req, const char *q, size_t ql)
{
    struct ajob *j = util_calloc(1, sizeof *j);
    j->gw = gw;
    j->req = req;
    j->op = A_SEARCH;
    static const char *keys[] = {"agent", "principal", "resource", "action", "decision", "sha256"};
    const char **fields[] = {&j->q.agent,  &j->q.principal, &j->q.resource,
                             &j->q.action, &j->q.decision,  &j->q.sha256};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(keys); i++) {
        size_t vl;
        if (gw_query_get(q, ql, keys[i], &vl) &&
            !(*fields[i] = query_str(q, ql, keys[i], j->qbuf[i], sizeof j->qbuf[i]))) {
            gw_error(req, CUSTODY_EINVAL, "search: bad or too long value for %s", keys[i]);
            free(j);
            return;
        }
    }
    char tb[64];
    const char *since = query_str(q, ql, "since", tb, sizeof tb);
    if (since && !parse_time(since, &j->q.since_ns)) {
        gw_error(req, CUSTODY_EINVAL, "since: expected RFC 3339 (…Z) or unix seconds");
        free(j);
        return;
    }
    const char *until = query_str(q, ql, "until", tb, sizeof tb);
    if (until && !parse_time(until, &j->q.until_ns)) {
        gw_error(req, CUSTODY_EINVAL, "until: expected RFC 3339 (…Z) or unix seconds");
        free(j);
        return;
    }
    bool bad = !query_paging(q, ql, &j->q);
    size_t vl;
    const char *pre = gw_query_get(q, ql, "prefix", &vl);
    j->q.resource_prefix = pre && vl == 1 && pre[0] == '1';
    const char *ed = gw_query_get(q, ql, "edit", &vl);
    j->q.edits_only = ed && vl == 1 && ed[0] == '1';
    const char *dst = gw_query_get(q, ql, "destination", &vl);
    j->q.or_destination = dst && vl == 1 && dst[0] == '1';
    if (bad) {
        gw_error(req, CUSTODY_EINVAL, "search: limit and after are numbers");
        free(j);
        return;
    }
    submit(j);
}

/*
 * GET /v1/audit/history/ROOT/PATH[?limit=N&after=I&order=desc]: the edit
 * records of one path, oldest first: events with an "edit" whose resource
 * or (moves) destination is ROOT:/PATH. For a root whose paths the log
 * pseudonymizes, the pseudonym is searched for (the answer's "resource"
 * names what was asked).
 */
static void history(struct gateway *gw, struct http_req *req, const char *rest, size_t len,
                    const char *q, size_t ql)
{
    const char *slash = memchr(rest, '/', len);
    size_t rl = slash ? (size_t)(slash - rest) : len;
    char root[CONFIG_NAME_MAX + 1], path[STORE_PATH_MAX];
    if (rl == 0 || rl >= sizeof root) {
        gw_error(req, CUSTODY_EINVAL, "history: expected /v1/audit/history/ROOT/PATH");
        return;
    }
    memcpy(root, rest, rl);
    root[rl] = '\0';
    int rc = config_root_name_valid(root) ? 0 : CUSTODY_EINVAL;
    if (!rc)
        rc = slash ? store_path_normalize(slash, len - rl, path, sizeof path)
                   : store_path_normalize("/", 1, path, sizeof path);
    if (rc) {
        gw_error(req, rc, "history: invalid resource: %s", custody_strerror(rc));
        return;
    }
    struct ajob *j = util_calloc(1, sizeof *j);
    j->gw = gw;
    j->req = req;
    j->op = A_SEARCH;
    char id[STORE_PATH_MAX + CONFIG_NAME_MAX + 4];
    gw_resource_id(id, sizeof id, root, path);
    j->history = util_strdup(id);
    j->q.resource = j->history;
    const struct cfg_root *cr = config_find_root(gw->cfg, root);
    if (cr && authz_root_sensitive(gw->cfg, cr)) {
        ledger_hash_value(gw->ledger, id, strlen(id), j->qbuf[0]);
        j->q.resource = j->qbuf[0];
    }
    j->q.or_destination = true;
    j->q.edits_only = true;
    if (!query_paging(q, ql, &j->q)) {
        free(j->history);
        free(j);
        gw_error(req, CUSTODY_EINVAL, "history: limit and after are numbers");
        return;
    }
    submit(j);
}

struct hash_ctx {
    struct gateway *gw;
};

static void hash_body(struct http_req *req, json_t *body, void *arg)
{
    struct hash_ctx *hc = arg;
    if (body) {
        const char *v = json_string_value(json_object_get(body, "value"));
        if (!v || json_object_size(body) != 1) {
            gw_error(req, CUSTODY_EINVAL, "expected {\"value\": \"...\"}");
        } else {
            char out[LEDGER_PSEUDONYM_LEN + 1];
            ledger_hash_value(hc->gw->ledger, v, json_string_length(json_object_get(body, "value")),
                              out);
            gw_json(req, 200, json_pack("{s:s}", "pseudonym", out));
        }
        json_decref(body);
    }
    free(hc);
}

void gw_audit_api(struct gateway *gw, struct http_req *req, const char *rest, size_t len,
                  const char *q, size_t ql)
{
    if (!gw->ledger) {
        gw_error(req, CUSTODY_EUNAVAIL, "no audit log");
        return;
    }
#define IS(s) (len == sizeof(s) - 1 && memcmp(rest, s, sizeof(s) - 1) == 0)
    if (IS("hash")) {
        if (req->method != HTTP_POST) {
            http_resp_header(req, "allow", "POST");
            gw_error(req, CUSTODY_EMETHOD, "POST /v1/audit/hash");
            return;
        }
        struct hash_ctx *hc = util_calloc(1, sizeof *hc);
        hc->gw = gw;
        gw_read_json_body(req, hash_body, hc);
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, HEAD");
        gw_error(req, CUSTODY_EMETHOD, "the audit log is read-only");
        return;
    }
    struct ledger_stats st;
    ledger_stats(gw->ledger, &st);
    if (IS("status")) {
        gw_json(req, 200, gw_audit_stats_json(&st));
        return;
    }
    if (IS("key")) {
        struct strbuf vk = {0};
        ledger_vkey(gw->ledger, &vk);
        gw_json(req, 200, json_pack("{s:s, s:s}", "origin", st.origin, "vkey", vk.buf));
        sb_free(&vk);
        return;
    }
    if (IS("checkpoint")) {
        send_checkpoint(gw, req);
        return;
    }
    if (IS("search")) {
        search(gw, req, q, ql);
        return;
    }
    if (len > 8 && memcmp(rest, "history/", 8) == 0) {
        history(gw, req, rest + 8, len - 8, q, ql);
        return;
    }
    struct ajob *j = util_calloc(1, sizeof *j);
    j->gw = gw;
    j->req = req;
    bool bad = false;
    if (IS("entries")) {
        j->op = A_ENTRIES;
        j->limit = 100;
        query_u64(q, ql, "from", &j->a, &bad);
        if (query_u64(q, ql, "limit", &j->limit, &bad) && j->limit > ENTRIES_MAX)
            j->limit = ENTRIES_MAX;
    } else if (len > 8 && memcmp(rest, "entries/", 8) == 0) {
        j->op = A_ENTRY;
        bad = util_parse_u64(rest + 8, len - 8, &j->a) != 0;
    } else if (IS("proof/inclusion")) {
        j->op = A_INCLUSION;
        bad = !query_u64(q, ql, "index", &j->a, &bad) || bad;
        size_t vl;
        const char *f = gw_query_get(q, ql, "format", &vl);
        j->tlog_format = f && vl == 10 && memcmp(f, "tlog-proof", 10) == 0;
    } else if (IS("proof/consistency")) {
        j->op = A_CONSISTENCY;
        bad = !query_u64(q, ql, "old", &j->a, &bad) || bad;
        query_u64(q, ql, "size", &j->b, &bad);
        size_t vl;
        const char *f = gw_query_get(q, ql, "format", &vl);
        j->text_format = f && vl == 4 && memcmp(f, "text", 4) == 0;
    } else {
        free(j);
        gw_error(req, CUSTODY_ENOENT, "no such audit endpoint (see docs/API.md)");
        return;
    }
#undef IS
    if (bad) {
        free(j);
        gw_error(req, CUSTODY_EINVAL, "bad or missing numeric parameter");
        return;
    }
    submit(j);
}

/* ---- the public, read-only tlog-tiles mirror ---- */

void gw_audit_public(struct gateway *gw, struct http_req *req, const char *rest, size_t len)
{
    if (!gw->ledger) {
        gw_error(req, CUSTODY_ENOENT, "no audit log");
        return;
    }
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, HEAD");
        gw_error(req, CUSTODY_EMETHOD, "the audit log is read-only");
        return;
    }
    if (len == 10 && memcmp(rest, "checkpoint", 10) == 0) {
        send_checkpoint(gw, req);
        return;
    }
    int level;
    uint64_t index;
    unsigned width;
    char path[TLOG_PATH_MAX + 1];
    if (len >= sizeof path || tlog_tile_path_parse(rest, len, &level, &index, &width) != 0) {
        gw_error(req, CUSTODY_ENOENT, "not a tile path");
        return;
    }
    /* only tiles under the published checkpoint: anything else may still
     * be being written */
    struct ledger_stats st;
    ledger_stats(gw->ledger, &st);
    unsigned have = tlog_tile_width(st.checkpoint_size, level, index);
    if (have == 0 || width > have) {
        gw_error(req, CUSTODY_ENOENT, "no such tile under the current checkpoint");
        return;
    }
    memcpy(path, rest, len);
    path[len] = '\0';
    int fd = openat(ledger_dirfd(gw->ledger), path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sst;
    if (fd < 0 || fstat(fd, &sst) != 0 || !S_ISREG(sst.st_mode)) {
        if (fd >= 0)
            close(fd);
        gw_error(req, CUSTODY_ENOENT, "no such tile");
        return;
    }
    http_resp_header(req, "content-type", "application/octet-stream");
    http_resp_header(req, "cache-control", "public, max-age=31536000, immutable");
    gw_send_file(req, 200, fd, 0, (uint64_t)sst.st_size);
}
