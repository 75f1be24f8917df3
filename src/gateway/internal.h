/* internal.h — shared by the gateway's files (routes.c, fs.c, admin.c). */
#ifndef CUSTODY_GATEWAY_INTERNAL_H
#define CUSTODY_GATEWAY_INTERNAL_H

#include <jansson.h>

#include "gateway.h"

struct gateway {
    struct custody_config *cfg;
    struct store *store;
    struct http_server *srv;
    int (*reload)(void *arg, struct strbuf *err);
    void *reload_arg;
    uint64_t started_ns;
};

/* Answers with a JSON error; message is printf-style. */
void gw_error(struct http_req *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers with a JSON document (stolen reference). */
void gw_json(struct http_req *req, int status, json_t *doc);
/* "root:/path" into buf. */
void gw_resource_id(char *buf, size_t len, const char *root, const char *path);
const char *gw_type_name(enum store_type t);
json_t *gw_time_json(uint64_t ns);

/* Reads a small JSON request body (<= 64 KiB, an object), then calls cb on
 * the loop. When the body is bad (already answered) or the client went
 * away, cb gets body == NULL and should only release arg. */
typedef void (*gw_json_body_cb)(struct http_req *req, json_t *body, void *arg);
void gw_read_json_body(struct http_req *req, gw_json_body_cb cb, void *arg);

/* fs.c */
void gw_fs(struct gateway *gw, struct http_req *req, const char *rest, size_t rest_len,
           const char *query, size_t qlen);
void gw_versions(struct gateway *gw, struct http_req *req, const char *rest, size_t rest_len);
/* admin.c */
void gw_health(struct gateway *gw, struct http_req *req);
void gw_status(struct gateway *gw, struct http_req *req);
void gw_roots(struct gateway *gw, struct http_req *req, const char *name, size_t name_len);

#endif
