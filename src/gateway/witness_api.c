/*
 * witness_api.c — custodyd as a C2SP tlog-witness for other logs:
 *
 *   POST /witness/add-checkpoint   (c2sp.org/tlog-witness)
 *
 * The body is read with a bound (WITNESS_BODY_MAX), the check and the
 * atomic state update run on the worker pool (witness_add_checkpoint in
 * src/ledger/witness.c), and the answer leaves through gw_send.
 *
 * Auditing: a cosignature is not an audited action (like reading the public
 * log mirror): two nodes witnessing each other would otherwise record each
 * other's submissions forever (each event grows the log, each new
 * checkpoint is submitted to the other node, whose event grows its log...).
 * A validly signed checkpoint that is inconsistent with the one kept (a
 * fork: 409 at the same size, or 422) is audited as "witness.cosign" with
 * the reason, as evidence of the log's misbehaviour. The route answers 404
 * unless STATE/witness/logs names at least one log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct wjob {
    struct gateway *gw;
    struct http_req *req;
    char *state_dir;
    struct tlog_key key;
    struct strbuf body;
    struct strbuf out;
    int status;
    int rc;
    const char *ctype;
};

static void wjob_free(struct wjob *j)
{
    tlog_key_wipe(&j->key);
    sb_free(&j->body);
    sb_free(&j->out);
    free(j->state_dir);
    free(j);
}

static void wjob_work(void *arg)
{
    struct wjob *j = arg;
    j->rc = witness_add_checkpoint(j->state_dir, &j->key, j->body.buf ? j->body.buf : "",
                                   j->body.len, &j->status, &j->out, &j->ctype);
}

static void wjob_done(void *arg)
{
    struct wjob *j = arg;
    struct http_req *req = j->req;
    if (j->rc && j->rc != CUSTODY_EBADPROOF) {
        gw_audit_action(req, "witness.cosign", NULL, NULL);
        gw_error(req, j->rc, "cannot witness the checkpoint: %s", custody_strerror(j->rc));
    } else {
        if (j->rc == CUSTODY_EBADPROOF) {
            size_t n = j->out.len;
            while (n && j->out.buf[n - 1] == '\n')
                n--;
            char msg[200];
            snprintf(msg, sizeof msg, "checkpoint inconsistent with the one witnessed: %.*s",
                     (int)UTIL_MIN(n, 120), j->out.buf ? j->out.buf : "");
            gw_audit_action(req, "witness.cosign", NULL, NULL);
            gw_audit_reason(req, CUSTODY_EBADPROOF, msg);
        }
        gw_audit_body_bytes(req, j->body.len);
        http_resp_header(req, "content-type", j->ctype ? j->ctype : "text/plain");
        gw_send(req, j->status, j->out.buf, j->out.len);
    }
    http_req_unref(req);
    wjob_free(j);
}

static int body_data(struct http_req *req, const void *data, size_t len)
{
    struct wjob *j = req->user;
    if (j->body.len + len > WITNESS_BODY_MAX)
        return CUSTODY_ETOOBIG;
    return sb_append(&j->body, data, len);
}

static void body_end(struct http_req *req)
{
    struct wjob *j = req->user;
    req->user = NULL;
    /* keeps the reference taken in gw_witness until wjob_done */
    if (http_server_defer(j->gw->srv, wjob_work, wjob_done, j) != 0) {
        gw_error(req, CUSTODY_EUNAVAIL, "custodyd is shutting down");
        http_req_unref(req);
        wjob_free(j);
    }
}

static void body_abort(struct http_req *req)
{
    struct wjob *j = req->user;
    req->user = NULL;
    if (j && j->body.len + 1 > WITNESS_BODY_MAX)
        gw_error(req, CUSTODY_ETOOBIG, "add-checkpoint body larger than %d bytes",
                 (int)WITNESS_BODY_MAX);
    else
        gw_error(req, CUSTODY_EPROTO, "the request body was not received completely");
    if (j)
        wjob_free(j);
    http_req_unref(req);
}

static const struct http_body_cbs body_cbs = {body_data, body_end, body_abort};

void gw_witness(struct gateway *gw, struct http_req *req, const char *rest, size_t len)
{
    const char *sd = gw->cfg->state_dir;
    if (!(len == 14 && memcmp(rest, "add-checkpoint", 14) == 0)) {
        gw_error(req, CUSTODY_ENOENT, "no such witness endpoint (c2sp.org/tlog-witness has "
                                      "POST /witness/add-checkpoint)");
        return;
    }
    if (!sd || !witness_enabled(sd)) {
        gw_error(req, CUSTODY_ENOENT, "this node witnesses no logs");
        return;
    }
    if (req->method != HTTP_POST) {
        http_resp_header(req, "allow", "POST");
        gw_error(req, CUSTODY_EMETHOD, "add-checkpoint takes POST");
        return;
    }
    if (req->content_length > (int64_t)WITNESS_BODY_MAX) {
        gw_error(req, CUSTODY_ETOOBIG, "add-checkpoint body larger than %d bytes",
                 (int)WITNESS_BODY_MAX);
        return;
    }
    struct wjob *j = util_calloc(1, sizeof *j);
    j->gw = gw;
    j->req = req;
    j->state_dir = util_strdup(sd);
    int rc = ledger_witness_key(gw->cfg, &j->key);
    if (rc) {
        gw_error(req, rc, "cannot load this node's witness key: %s", custody_strerror(rc));
        wjob_free(j);
        return;
    }
    http_req_ref(req);
    if (!req->has_body) {
        req->user = j;
        body_end(req);
        return;
    }
    req->user = j;
    http_req_read_body(req, &body_cbs);
}
