/*
 * audit.c — libcustody's audit section: reading custodyd's audit log
 * (/v1/audit/... and the public /audit/... tile mirror) and asking for
 * pseudonyms. The log's own formats (tiles, notes, proofs) are left to the
 * caller: the SDK hands back the bytes custodyd sent.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

/* Path segments and queries are built by the caller; refuse anything that
 * could change the request's meaning (spaces, '#', control characters,
 * "..", a '?' in the path). */
static bool url_part_ok(const char *s, bool query)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '#' || *p == '\\') return false;
        if (!query && (*p == '?' || *p == '&' || *p == '=' || *p == '%')) return false;
    }
    if (!query && (s[0] == '/' || strstr(s, "..") || strstr(s, "//"))) return false;
    return true;
}

/* GET url (consumed) into *body. */
static int get_into(custody_client_t *c, struct strbuf *url, char **body, size_t *len)
{
    struct strbuf out = STRBUF_INIT;
    int rc = custody__request_buffered(c, "GET", url->buf, NULL, 0, NULL, &out);
    sb_free(url);
    if (rc) {
        sb_free(&out);
        return rc;
    }
    if (len) *len = out.len;
    *body = sb_detach(&out);
    return 0;
}

static int buffered_get(custody_client_t *c, const char *prefix, const char *path,
                        const char *query, char **body, size_t *len)
{
    if (!c || !body) return CUSTODY_EINVAL;
    custody__clear_error(c);
    *body = NULL;
    if (len) *len = 0;
    if (!path || !*path || !url_part_ok(path, false))
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid audit path '%s'", path ? path : "(null)");
    if (query && !url_part_ok(query, true))
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid query '%s' (percent-encode it)", query);
    struct strbuf url = STRBUF_INIT;
    sb_printf(&url, "%s%s", prefix, path);
    if (query && *query) sb_printf(&url, "?%s", query);
    return get_into(c, &url, body, len);
}

int custody_audit_get(custody_client_t *c, const char *path, const char *query, char **body,
                      size_t *len)
{
    return buffered_get(c, "/v1/audit/", path, query, body, len);
}

int custody_audit_get_public(custody_client_t *c, const char *path, char **data, size_t *len)
{
    return buffered_get(c, "/audit/", path, NULL, data, len);
}

int custody_audit_history(custody_client_t *c, const char *resource_id, const char *query,
                          char **body, size_t *len)
{
    if (!c || !body) return CUSTODY_EINVAL;
    custody__clear_error(c);
    *body = NULL;
    if (len) *len = 0;
    if (query && !url_part_ok(query, true))
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid query '%s' (percent-encode it)", query);
    struct strbuf url = STRBUF_INIT;
    if (!resource_id || custody__resource_url(&url, "/v1/audit/history/", resource_id) != 0) {
        sb_free(&url);
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "invalid resource id '%s' (expected ROOT:/PATH)",
                                  resource_id ? resource_id : "(null)");
    }
    if (query && *query) sb_printf(&url, "?%s", query);
    return get_into(c, &url, body, len);
}

static char *dup_str_member(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return util_strdup(v ? v : "");
}

static bool get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int custody_audit_status(custody_client_t *c, custody_audit_status_t *out)
{
    if (!c || !out) return CUSTODY_EINVAL;
    memset(out, 0, sizeof *out);
    char *body = NULL;
    size_t len = 0;
    int rc = custody_audit_get(c, "status", NULL, &body, &len);
    if (rc) return rc;
    json_error_t jerr;
    json_t *o = json_loadb(body, len, 0, &jerr);
    free(body);
    custody_audit_status_t st = {0};
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "origin")) ||
        !get_u64(o, "size", &st.size) || !get_u64(o, "checkpoint_size", &st.checkpoint_size)) {
        json_decref(o);
        return custody__bad_answer(c);
    }
    get_u64(o, "batches", &st.batches);
    get_u64(o, "failures", &st.failures);
    st.healthy = json_is_true(json_object_get(o, "healthy"));
    st.origin = dup_str_member(o, "origin");
    st.last_error = dup_str_member(o, "last_error");
    json_decref(o);
    *out = st;
    return 0;
}

void custody_audit_status_free(custody_audit_status_t *s)
{
    if (!s) return;
    free(s->origin);
    free(s->last_error);
    s->origin = s->last_error = NULL;
}

int custody_audit_hash(custody_client_t *c, const char *value, char **pseudonym)
{
    if (!c || !pseudonym) return CUSTODY_EINVAL;
    custody__clear_error(c);
    *pseudonym = NULL;
    if (!value || !util_utf8_valid(value, strlen(value)))
        return custody__set_error(c, CUSTODY_EINVAL, CUSTODY_ERRSRC_ARGUMENT,
                                  "the value to hash must be UTF-8 text");
    json_t *req = json_pack("{s:s}", "value", value);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return custody__set_error(c, CUSTODY_ENOMEM, CUSTODY_ERRSRC_LOCAL,
                                  "cannot encode the request");
    struct strbuf out = STRBUF_INIT;
    int rc = custody__request_buffered(c, "POST", "/v1/audit/hash", body, strlen(body),
                                       "application/json", &out);
    free(body);
    if (rc) {
        sb_free(&out);
        return rc;
    }
    json_error_t jerr;
    json_t *o = json_loadb(out.buf ? out.buf : "", out.len, 0, &jerr);
    sb_free(&out);
    const char *p = json_string_value(json_object_get(o, "pseudonym"));
    if (!p) {
        json_decref(o);
        return custody__bad_answer(c);
    }
    *pseudonym = util_strdup(p);
    json_decref(o);
    return 0;
}
