/*
 * refusals.c — POST /v1/refusals: a client surface (custody mcp, the FUSE
 * view) reports a request it refused itself, before it reached custodyd —
 * a path outside the allowed directories, a Windows path, a `..` escape.
 * The ledger then holds the refusal like any other decision: action,
 * the authenticated caller, decision "deny" and the surface's reason. The
 * report itself is answered 200; it changes nothing else.
 *
 *   {"action": "read", "path": "/etc/passwd", "surface": "mcp",
 *    "reason": "path outside allowed directories"}
 */
#include <string.h>

#include "gateway/internal.h"

/* Actions a report may name (the event keeps a pointer: static strings). */
static const char *const actions[] = {"read",  "write",  "list",      "stat",
                                      "mkdir", "move",   "delete",    "model.pull"};

static void report_body(struct http_req *req, json_t *body, void *arg)
{
    (void)arg;
    if (!body) return;
    const char *action = NULL, *path = NULL, *surface = NULL, *reason = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s}", "action", &action, "path",
                       &path, "surface", &surface, "reason", &reason) != 0) {
        gw_error(req, CUSTODY_EINVAL, "want {\"action\", \"path\", \"surface\", \"reason\"}: %s",
                 jerr.text);
        return;
    }
    const char *act = NULL;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(actions); i++)
        if (strcmp(action, actions[i]) == 0) act = actions[i];
    if (!act || strlen(surface) > 32) {
        gw_error(req, CUSTODY_EINVAL, "unknown action or surface in a refusal report");
        return;
    }
    gw_audit_action(req, act, NULL, NULL);
    char text[STORE_PATH_MAX + 16];
    snprintf(text, sizeof text, "path:%.*s", STORE_PATH_MAX, path);
    gw_audit_resource_text(req, text);
    char why[512];
    snprintf(why, sizeof why, "refused by custody %.32s: %.400s", surface, reason);
    gw_audit_note(req, why);
    gw_audit_reported_refusal(req);
    gw_json(req, 200, json_pack("{s:b}", "recorded", 1));
}

void gw_refusals(struct gateway *gw, struct http_req *req, const struct gw_identity *id)
{
    (void)gw;
    (void)id;
    gw_audit_action(req, "request", NULL, NULL);
    if (req->method != HTTP_POST) {
        http_resp_header(req, "allow", "POST");
        gw_error(req, CUSTODY_EMETHOD, "use POST to report a refusal");
        return;
    }
    gw_read_json_body(req, report_body, NULL);
}
