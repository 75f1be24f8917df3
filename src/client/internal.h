/*
 * internal.h — libcustody internals shared by the src/client sources and the unit
 * tests: URL building, header parsing, and JSON encode/decode of custodyd's
 * answers (docs/API.md). Nothing here does I/O.
 *
 * The client is a thin SDK: it depends on src/util, libcurl and jansson
 * only (never on src/http, src/gateway, src/store or src/config).
 */
#ifndef CUSTODY_CLIENT_INTERNAL_H
#define CUSTODY_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/client.h"
#include "util/util.h"

#define CUSTODY__ERROR_BODY_MAX (64u << 10) /* error bodies beyond this are cut */
#define CUSTODY__ROOT_NAME_MAX 64
#define CUSTODY__LABEL_KEY_MAX 64
#define CUSTODY__LABEL_VALUE_MAX 256

/* Appends s[0..len) percent-encoded: RFC 3986 unreserved characters pass,
 * everything else (including '/') becomes %XX. */
int custody__url_encode(struct strbuf *sb, const char *s, size_t len);
/* Appends a path ("/a/b c") encoded segment by segment; '/' separators are
 * kept, "." and ".." segments are encoded as %2E so nothing on the way
 * squashes them (custodyd applies its own rules). */
int custody__url_encode_path(struct strbuf *sb, const char *path);
/* Appends PREFIX + encoded root + encoded path for a resource id, e.g.
 * ("/v1/fs/", "demo:/a b") -> "/v1/fs/demo/a%20b". CUSTODY_EINVAL on a bad id. */
int custody__resource_url(struct strbuf *sb, const char *prefix, const char *id);
bool custody__root_name_valid(const char *name);

/* Curl range string ("0-99", "100-", "-5") for a range; CUSTODY_EINVAL if invalid. */
int custody__range_format(const custody_range_t *r, char *out, size_t outsz);
/* Parses "bytes A-B/SIZE" (SIZE may be "*") -> total (UINT64_MAX when "*"). */
int custody__content_range_parse(const char *v, uint64_t *first, uint64_t *last, uint64_t *total);
/* Normalises an ETag header or user string into a bare lowercase-hex
 * sha256 when it is one ("\"ab..\"", "W/\"ab..\"", "ab.."); else "". */
void custody__etag_to_hex(const char *etag, char out[CUSTODY_SHA256_HEX_LEN + 1]);
/* If-Match header value for a user string: "*" stays, a quoted tag stays,
 * a bare tag is quoted. Returns a new string. */
char *custody__if_match_value(const char *s);
/* Error code for an HTTP status when the body says nothing better. */
int custody__status_to_err(long status);
custody_type_t custody__type_parse(const char *s);
/* Parses permission bits as custodyd sends them: 1 to 6 octal digits
 * ("0644"), at most 07777. CUSTODY_EPROTO otherwise. */
int custody__mode_parse(const char *s, int *mode);

/* ---- JSON (jansson); all return 0 or CUSTODY_EPROTO on a malformed answer ---- */

/* Decodes {"error":{"code","message","status"}}; when the body is not such an
 * object, *err comes from the status and *msg is "HTTP <status>". *msg is
 * allocated. Always succeeds. */
void custody__decode_error(const char *body, size_t len, long status, int *err, char **msg);
int custody__decode_listing(const char *body, size_t len, custody_dirent_t **out, size_t *n,
                            int *truncated);
/* The same with jansson: the reference the one-pass reader is tested against. */
int custody__decode_listing_ref(const char *body, size_t len, custody_dirent_t **out, size_t *n,
                                int *truncated);
int custody__decode_versions(const char *body, size_t len, custody_version_t **out, size_t *n);
int custody__decode_write_result(const char *body, size_t len, custody_write_result_t *res);
int custody__decode_root(const char *body, size_t len, custody_root_t *out);
int custody__decode_roots(const char *body, size_t len, custody_root_t **out, size_t *n);
/* Request bodies; *out is allocated JSON text. */
int custody__encode_root_put(const char *path, const custody_label_t *labels, size_t n, char **out);
int custody__encode_op_mkdir(int parents, char **out);
int custody__encode_op_grant(const char *surface, const char *const *names, size_t n, char **out);
int custody__decode_grant(const char *body, size_t len, size_t n, int *granted, unsigned *ttl_ms);
int custody__encode_op_usage(const char *action, const char *surface, const custody_usage_t *u,
                             size_t n, char **out);
int custody__encode_op_access(const char *action, const char *phase, const char *surface,
                              int64_t first, int64_t last, uint64_t bytes, char **out);
int custody__encode_op_move(const char *to, int overwrite, char **out);
int custody__encode_op_rollback(int64_t version, char **out);

/* ---- acting as an agent (agent.c) ---- */

struct custody__agent;
void custody__agent_free(struct custody__agent *a);
/* The client's agent, or NULL (the operator). */
struct custody__agent *custody__client_current_agent(const custody_client_t *c);
/* Installs a (may be NULL) as the client's agent; returns the previous one. */
struct custody__agent *custody__client_agent(custody_client_t *c, struct custody__agent *a);
/* The session proof to send (a new one when fresh: a new connection). */
int custody__agent_proof(custody_client_t *c, struct custody__agent *a, bool fresh,
                         const char **out);
/* The capability for action on res (and res2): the explicit token, a cached
 * one, or one minted now (POST /v1/tokens). *out stays NULL without res. */
int custody__agent_token(custody_client_t *c, struct custody__agent *a, const char *action,
                         const char *res, const char *res2, const char **out);

/* One JSON call (admin.c): body (a json_t *, stolen, may be NULL) is encoded
 * here; the answer into *out when out is not NULL. Clears the error first. */
struct json_t;
int custody__json_call(custody_client_t *c, const char *method, const char *path,
                       struct json_t *body, char **out);

/* ---- shared by the client sources (client.c implements them) ---- */

void custody__clear_error(custody_client_t *c);
int custody__set_error(custody_client_t *c, int err, custody_errsrc_t src, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records "custodyd sent a malformed answer" (transport); returns CUSTODY_EPROTO. */
int custody__bad_answer(custody_client_t *c);
/* One request (body may be NULL) whose 2xx answer, of any type, is copied
 * into *out (NUL-terminated by strbuf); JSON answers also become the
 * client's last JSON. 0 or a negative error with the client's error set. */
int custody__request_buffered(custody_client_t *c, const char *method, const char *path,
                              const char *body, size_t body_len, const char *content_type,
                              struct strbuf *out);
/* The same, carrying (for an agent) a capability for action on resource
 * ("model:/NAME@VERSION"), minted or reused as for the data plane. */
int custody__request_capable(custody_client_t *c, const char *method, const char *path,
                             const char *action, const char *resource, const char *body,
                             size_t body_len, const char *content_type, struct strbuf *out);

/* handover.c: redeems a ticket of custodyd's (GET /v1/handover/TICKET) for exactly n
 * descriptors, into fds[0..n) (all -1 on failure, with the client's error set). */
int custody__handover(custody_client_t *c, const char *ticket, int *fds, size_t n);
/* The parsers of it (fuzz/fuzz_client.c): the answer's status line and body, from all the
 * bytes read (not NUL-terminated), and the body's {"fds": N}; CUSTODY_EPROTO when malformed. */
#define CUSTODY__HANDOVER_MAX 1024
int custody__handover_answer(const char *ans, size_t len, int *status, const char **body,
                             size_t *body_len);
int custody__handover_count(const char *body, size_t len, size_t *n);

#endif
