/* admin.c — /v1/health, /v1/status and /v1/roots. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

void gw_health(struct gateway *gw, struct http_req *req)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, HEAD");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/health");
        return;
    }
    static const char body[] = "{\"status\":\"ok\",\"version\":\"" CUSTODY_VERSION_STRING "\"}\n";
    static const char failing[] =
        "{\"status\":\"audit_failing\",\"version\":\"" CUSTODY_VERSION_STRING "\"}\n";
    http_resp_header(req, "content-type", "application/json");
    http_resp_header(req, "cache-control", "no-store");
    if (gw->ledger && !ledger_healthy(gw->ledger))
        gw_send(req, 503, failing, sizeof failing - 1);
    else
        gw_send(req, 200, body, sizeof body - 1);
}

void gw_status(struct gateway *gw, struct http_req *req)
{
    gw_audit_action(req, "status", NULL, NULL);
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_resp_header(req, "allow", "GET, HEAD");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/status");
        return;
    }
    struct http_stats hs = {0};
    http_server_stats(gw->srv, &hs);
    json_t *ls = json_array();
    const char *addr;
    bool tls;
    for (size_t i = 0; http_server_listener(gw->srv, i, &addr, &tls); i++)
        json_array_append_new(ls, json_pack("{s:s, s:s}", "kind", tls ? "tls" : "unix",
                                            "address", addr));
    json_t *peer = json_null();
    if (req->peer && req->peer->has_cred)
        peer = json_pack("{s:i, s:i}", "pid", (int)req->peer->pid, "uid", (int)req->peer->uid);
    json_t *doc = json_pack(
        "{s:s, s:i, s:I, s:s, s:s, s:o, s:I, s:I, s:I, s:i, s:b, s:o}", "version",
        CUSTODY_VERSION_STRING, "pid", (int)getpid(), "uptime_s",
        (json_int_t)((util_monotonic_ns() - gw->started_ns) / 1000000000ull), "state_dir",
        gw->cfg->state_dir, "node", gw->cfg->node_name ? gw->cfg->node_name : "", "listeners", ls,
        "connections", (json_int_t)hs.connections, "requests", (json_int_t)hs.requests,
        "accepted", (json_int_t)hs.accepted, "roots", (int)gw->cfg->nroots, "draining",
        http_server_draining(gw->srv), "peer", peer);
    if (gw->ledger) {
        struct ledger_stats st;
        ledger_stats(gw->ledger, &st);
        json_object_set_new(doc, "audit", gw_audit_stats_json(&st));
    }
    gw_json(req, 200, doc);
}

static json_t *root_json(const struct cfg_root *r)
{
    json_t *labels = json_object();
    for (size_t i = 0; i < r->nlabels; i++)
        json_object_set_new(labels, r->labels[i].key, json_string(r->labels[i].value));
    return json_pack("{s:s, s:s, s:o}", "name", r->name, "path", r->path, "labels", labels);
}

struct root_put_ctx {
    struct gateway *gw;
    char name[CONFIG_NAME_MAX + 1];
};

static void root_put_body(struct http_req *req, json_t *body, void *arg)
{
    struct root_put_ctx *rc = arg;
    struct gateway *gw = rc->gw;
    struct cfg_root nr = {0};
    struct cfg_root *roots = NULL;
    size_t n = 0;
    char *real = NULL;
    if (!body)
        goto out;
    const char *key;
    json_t *val;
    const char *path = NULL;
    json_t *labels = NULL;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "path") == 0 && json_is_string(val))
            path = json_string_value(val);
        else if (strcmp(key, "labels") == 0 && json_is_object(val))
            labels = val;
        else {
            gw_error(req, CUSTODY_EINVAL, "unexpected or mistyped field \"%s\"", key);
            goto out;
        }
    }
    if (!path || path[0] != '/') {
        gw_error(req, CUSTODY_EINVAL, "\"path\" must be an absolute directory path");
        goto out;
    }
    real = realpath(path, NULL);
    struct stat st;
    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        gw_error(req, CUSTODY_ENOENT, "not an existing directory: %s", path);
        goto out;
    }
    nr.name = util_strdup(rc->name);
    nr.path = util_strdup(real);
    if (labels) {
        if (json_object_size(labels) > CONFIG_MAX_LABELS) {
            gw_error(req, CUSTODY_EINVAL, "at most %d labels", CONFIG_MAX_LABELS);
            goto out;
        }
        nr.labels = util_calloc(json_object_size(labels) + 1, sizeof *nr.labels);
        json_object_foreach(labels, key, val)
        {
            const char *v = json_string_value(val);
            if (!v || !config_label_key_valid(key) || strlen(v) > 256) {
                gw_error(req, CUSTODY_EINVAL,
                         "label \"%s\": keys are [A-Za-z0-9_.-]{1,64}, values strings <= 256 bytes",
                         key);
                goto out;
            }
            nr.labels[nr.nlabels].key = util_strdup(key);
            nr.labels[nr.nlabels].value = util_strdup(v);
            nr.nlabels++;
        }
    }
    /* the new set: every current root, with NAME replaced or added */
    const struct custody_config *cfg = gw->cfg;
    roots = util_calloc(cfg->nroots + 1, sizeof *roots);
    bool replaced = false;
    for (size_t i = 0; i < cfg->nroots; i++) {
        if (strcmp(cfg->roots[i].name, nr.name) == 0) {
            config_root_copy(&roots[n++], &nr);
            replaced = true;
        } else {
            config_root_copy(&roots[n++], &cfg->roots[i]);
        }
    }
    if (!replaced)
        config_root_copy(&roots[n++], &nr);
    if (n > CONFIG_MAX_ROOTS) {
        gw_error(req, CUSTODY_EINVAL, "at most %d roots", CONFIG_MAX_ROOTS);
        goto out;
    }
    int err = config_save_roots(cfg->state_dir, roots, n);
    if (err) {
        gw_error(req, err, "cannot write roots.yaml: %s", custody_strerror(err));
        goto out;
    }
    struct strbuf msg = STRBUF_INIT;
    err = gw->reload ? gw->reload(gw->reload_arg, &msg) : 0;
    if (err) {
        gw_error(req, err, "root saved but the configuration did not reload: %s",
                 msg.buf ? msg.buf : "");
        sb_free(&msg);
        goto out;
    }
    sb_free(&msg);
    log_info("gateway: root %s -> %s registered", nr.name, nr.path);
    gw_json(req, replaced ? 200 : 201, root_json(&nr));
out:
    for (size_t i = 0; i < n; i++)
        config_root_free(&roots[i]);
    free(roots);
    config_root_free(&nr);
    free(real);
    if (body)
        json_decref(body);
    free(rc);
}

void gw_roots(struct gateway *gw, struct http_req *req, const char *name, size_t name_len)
{
    gw_audit_action(req, req->method == HTTP_PUT ? "root.register" : "root.list", NULL, NULL);
    if (!name) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            http_resp_header(req, "allow", "GET, HEAD");
            gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/roots");
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < gw->cfg->nroots; i++)
            json_array_append_new(arr, root_json(&gw->cfg->roots[i]));
        gw_json(req, 200, json_pack("{s:o}", "roots", arr));
        return;
    }
    char nm[CONFIG_NAME_MAX + 1];
    if (name_len == 0 || name_len >= sizeof nm) {
        gw_error(req, CUSTODY_EINVAL, "invalid root name");
        return;
    }
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    if (!config_root_name_valid(nm)) {
        gw_error(req, CUSTODY_EINVAL,
                 "invalid root name \"%s\": use [A-Za-z0-9_-], up to 64, starting with a letter or "
                 "digit (\"model\" is reserved)",
                 nm);
        return;
    }
    if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
        const struct cfg_root *r = config_find_root(gw->cfg, nm);
        if (!r)
            gw_error(req, CUSTODY_ENOROOT, "no such root: %s", nm);
        else
            gw_json(req, 200, root_json(r));
        return;
    }
    if (req->method != HTTP_PUT) {
        http_resp_header(req, "allow", "GET, HEAD, PUT");
        gw_error(req, CUSTODY_EMETHOD, "method not allowed on /v1/roots/NAME");
        return;
    }
    gw_audit_action(req, "root.register", nm, "/");
    struct root_put_ctx *rc = util_calloc(1, sizeof *rc);
    rc->gw = gw;
    util_strlcpy(rc->name, nm, sizeof rc->name);
    gw_read_json_body(req, root_put_body, rc);
}
