/*
 * server.c — the MCP protocol around the tools.
 *
 * Two eras are served on the same stdio stream:
 *   - the handshake era (2024-11-05 ... 2025-11-25): initialize, then
 *     notifications/initialized, tools/list, tools/call; the roots protocol
 *     (roots/list, notifications/roots/list_changed) sets the allowed
 *     directories when the client declares it;
 *   - 2026-07-28: no handshake; each request carries _meta with
 *     io.modelcontextprotocol/protocolVersion; server/discover tells what we
 *     support; a version we do not speak is answered with -32022.
 * Lines that are not JSON-RPC 2.0 messages are ignored (and noted on
 * stderr), as the reference server does; requests with a null id too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/internal.h"

#define MODERN_VERSION "2026-07-28"
#define META_VERSION "io.modelcontextprotocol/protocolVersion"
static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                              "2024-11-05", "2024-10-07"};

static bool legacy_supported(const char *v)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(legacy_versions); i++)
        if (strcmp(v, legacy_versions[i]) == 0) return true;
    return false;
}

static json_t *server_info(void)
{
    return json_pack("{s:s, s:s}", "name", MCP_SERVER_NAME, "version", custody_version());
}

static json_t *capabilities(void)
{
    return json_pack("{s:{s:b}}", "tools", "listChanged", 1);
}

static json_t *supported_versions(void)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(MODERN_VERSION));
    for (size_t i = 0; i < UTIL_ARRAY_LEN(legacy_versions); i++)
        json_array_append_new(a, json_string(legacy_versions[i]));
    return a;
}

static int reply(struct mcp *m, json_t *id, json_t *result)
{
    return mcp_send(m, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

/* ---- the roots protocol ---- */

static void request_roots(struct mcp *m)
{
    m->roots_request = ++m->next_id;
    mcp_send(m, json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)m->roots_request,
                          "method", "roots/list"));
}

/* fileURLToPath for file:// URIs (percent-decoding); other strings are paths. */
static char *root_uri_path(const char *uri)
{
    if (strncmp(uri, "file://", 7) != 0) return util_strdup(uri);
    const char *p = uri + 7;
    if (*p != '/') { /* file://host/path: only localhost is ours */
        if (strncmp(p, "localhost/", 10) != 0) return NULL;
        p += 9;
    }
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "");
    for (; *p && *p != '?' && *p != '#'; p++) {
        if (*p == '%' && util_hexval(p[1]) >= 0 && util_hexval(p[2]) >= 0) {
            char c = (char)(util_hexval(p[1]) << 4 | util_hexval(p[2]));
            if (c == '/' || c == '\0') { /* encoded separators are refused by Node too */
                sb_free(&sb);
                return NULL;
            }
            sb_append(&sb, &c, 1);
            p += 2;
        } else {
            sb_append(&sb, p, 1);
        }
    }
    return sb_detach(&sb);
}

static void on_roots(struct mcp *m, json_t *result)
{
    json_t *roots = json_object_get(result, "roots");
    if (!json_is_array(roots)) {
        fprintf(stderr, "Client returned no roots set, keeping current settings\n");
        return;
    }
    char **dirs = util_calloc(json_array_size(roots) + 1, sizeof *dirs);
    size_t n = 0, i;
    json_t *r;
    json_array_foreach(roots, i, r)
    {
        const char *uri = json_string_value(json_object_get(r, "uri"));
        char *p = uri ? root_uri_path(uri) : NULL;
        if (p)
            dirs[n++] = p;
        else if (uri)
            fprintf(stderr, "Skipping invalid path or inaccessible: %s\n", uri);
    }
    if (n && mcp_set_allowed(m, dirs, n, true) == 0)
        fprintf(stderr, "Updated allowed directories from MCP roots: %zu valid directories\n",
                m->nallowed);
    else
        fprintf(stderr, "No valid root directories provided by client\n");
    for (i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/* ---- requests ---- */

static int on_initialize(struct mcp *m, json_t *id, json_t *params)
{
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const char *version = want && legacy_supported(want) ? want : legacy_versions[0];
    json_t *caps = json_object_get(params, "capabilities");
    m->client_roots = json_is_object(caps) && json_object_get(caps, "roots") != NULL;
    return reply(m, id,
                 json_pack("{s:s, s:o, s:o}", "protocolVersion", version, "capabilities",
                           capabilities(), "serverInfo", server_info()));
}

static json_t *call_tool(struct mcp *m, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    return mcp_call_tool(m, name ? name : "", args);
}

static int on_request(struct mcp *m, json_t *id, const char *method, json_t *params)
{
    bool modern = false;
    json_t *meta = json_object_get(params, "_meta");
    const char *pv = json_string_value(json_object_get(meta, META_VERSION));
    if (json_object_get(meta, META_VERSION)) {
        if (!pv || (strcmp(pv, MODERN_VERSION) != 0 && !legacy_supported(pv))) {
            json_t *data = json_pack("{s:o, s:O}", "supported", supported_versions(), "requested",
                                     json_object_get(meta, META_VERSION));
            return mcp_send(m, mcp_error_msg(id, -32022, "Unsupported protocol version", data));
        }
        modern = strcmp(pv, MODERN_VERSION) == 0;
    }
    json_t *result = NULL;
    if (strcmp(method, "initialize") == 0 && !modern) return on_initialize(m, id, params);
    if (strcmp(method, "ping") == 0) {
        result = json_object();
    } else if (strcmp(method, "server/discover") == 0) {
        result = json_pack("{s:o, s:o, s:o}", "supportedVersions", supported_versions(),
                           "capabilities", capabilities(), "serverInfo", server_info());
        modern = true;
    } else if (strcmp(method, "tools/list") == 0) {
        json_t *tools = mcp_tool_list();
        result = tools ? json_pack("{s:O}", "tools", tools) : json_pack("{s:[]}", "tools");
    } else if (strcmp(method, "tools/call") == 0) {
        if (!json_is_object(params))
            return mcp_send(m, mcp_error_msg(id, -32602,
                                             "Invalid params: expected an object "
                                             "with the tool's name and arguments",
                                             NULL));
        result = call_tool(m, params);
    } else {
        return mcp_send(m, mcp_error_msg(id, -32601, "Method not found", NULL));
    }
    if (modern) json_object_set_new(result, "resultType", json_string("complete"));
    return reply(m, id, result);
}

static void on_notification(struct mcp *m, const char *method)
{
    if (strcmp(method, "notifications/initialized") == 0) {
        if (m->client_roots)
            request_roots(m);
        else if (m->nallowed)
            fprintf(stderr, "Client does not support MCP Roots, using allowed directories set "
                            "from server args\n");
    } else if (strcmp(method, "notifications/roots/list_changed") == 0) {
        request_roots(m);
    }
    /* notifications/cancelled and others: nothing to do (calls are synchronous) */
}

static void on_response(struct mcp *m, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    /* roots_request 0 means none is outstanding: an unsolicited {"id":0} answer is no roots */
    if (!m->roots_request || !json_is_integer(id) || json_integer_value(id) != m->roots_request)
        return;
    m->roots_request = 0;
    json_t *result = json_object_get(msg, "result");
    if (json_is_object(result))
        on_roots(m, result);
    else
        fprintf(stderr, "Failed to request roots from client\n");
}

static int on_line(struct mcp *m, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg) {
        fprintf(stderr, "custody mcp: ignoring a line that is not JSON (%s)\n", jerr.text);
        return 0;
    }
    int rc = 0;
    const char *jv = json_string_value(json_object_get(msg, "jsonrpc"));
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (!json_is_object(msg) || !jv || strcmp(jv, "2.0") != 0) {
        fprintf(stderr, "custody mcp: ignoring a message that is not JSON-RPC 2.0\n");
    } else if (method && id && (json_is_string(id) || json_is_integer(id))) {
        rc = on_request(m, id, method, json_object_get(msg, "params"));
    } else if (method && !id) {
        on_notification(m, method);
    } else if (!method && id && (json_object_get(msg, "result") || json_object_get(msg, "error"))) {
        on_response(m, msg);
    } else {
        fprintf(stderr, "custody mcp: ignoring an invalid JSON-RPC message\n");
    }
    json_decref(msg);
    return rc;
}

bool mcp_revive(struct mcp *m, int rc)
{
    if (rc != CUSTODY_ECONNECT || !m->o->revive) return false;
    return m->o->revive(m->o->revive_arg) == 0;
}

int mcp_serve(const struct mcp_server_opts *o)
{
    struct mcp m = {.o = o, .c = o->client, .in = STRBUF_INIT};
    int rc = 0;
    if (o->ndirs && mcp_set_allowed(&m, o->dirs, o->ndirs, false) != 0) {
        fprintf(stderr, "Error: None of the specified directories are accessible\n");
        return CUSTODY_ENOENT;
    }
    if (o->ndirs == 0)
        fprintf(stderr, "Started without allowed directories - waiting for client to provide "
                        "roots via MCP protocol\n");
    rc = mcp_load_roots(&m);
    if (rc) {
        fprintf(stderr, "custody mcp: cannot list custody roots: %s\n",
                custody_client_last_error(m.c));
        goto out;
    }
    for (size_t i = 0; i < m.nallowed; i++) {
        char *res = mcp_resource(&m, m.allowed[i]);
        if (!res)
            fprintf(stderr,
                    "custody mcp: warning: no custody root holds %s; calls there will "
                    "fail (register one: custody root add NAME %s)\n",
                    m.allowed[i], m.allowed[i]);
        free(res);
    }
    fprintf(stderr, "Secure MCP Filesystem Server (custody) running on stdio\n");
    const char *line;
    size_t len;
    while ((rc = mcp_read_line(&m, &line, &len)) == 1) {
        if (len == 0) continue;
        rc = on_line(&m, line, len);
        if (rc) break;
    }
    if (rc == 1) rc = 0;
out:
    mcp_free_allowed(&m);
    mcp_free_roots(&m);
    sb_free(&m.in);
    return rc;
}
