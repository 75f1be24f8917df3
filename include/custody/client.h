/*
 * client.h — libcustody, the C client SDK for custodyd (docs/API.md).
 *
 *   custody_client_t *c;
 *   if (custody_client_open("var/custody", &c) == 0) {
 *       custody_stat_t st;
 *       int rc = custody_get(c, "demo:/hello.txt", NULL, 0, STDOUT_FILENO, &st);
 *       if (rc < 0)
 *           fprintf(stderr, "%s (%s)\n", custody_client_last_error(c), custody_err_code(rc));
 *       custody_client_close(c);
 *   }
 *
 * Conventions (libuv-style): every function returns 0 (or a non-negative
 * value) on success and a negative CUSTODY_E* code on failure; after a
 * failure custody_client_last_error() has the server's message (or a local
 * one) and custody_client_last_error_source() tells who failed. Objects the
 * SDK returns are freed with the matching *_free function.
 *
 * Resource ids are "ROOT:/PATH" ("demo:/notes/a b.txt"); "ROOT:" means the
 * root directory. The SDK percent-encodes each path segment itself.
 *
 * A client holds one HTTP/1.1 connection to custodyd's Unix socket (kept
 * alive between calls). A client is not thread-safe: use one per thread.
 */
#ifndef CUSTODY_CLIENT_H
#define CUSTODY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "custody/custody.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUSTODY_SOCKET_NAME "custodyd.sock"
#define CUSTODY_DEFAULT_STATE "./var/custody"
#define CUSTODY_SHA256_HEX_LEN 64
#define CUSTODY_MAX_JSON_BYTES (64u << 20) /* larger JSON answers are refused */

typedef struct custody_client custody_client_t;

typedef enum {
    CUSTODY_TYPE_UNKNOWN = 0,
    CUSTODY_TYPE_FILE = 1,
    CUSTODY_TYPE_DIR = 2,
    CUSTODY_TYPE_SYMLINK = 3,
    CUSTODY_TYPE_OTHER = 4,
} custody_type_t;

/* Who produced the last error of a client. */
typedef enum {
    CUSTODY_ERRSRC_NONE = 0,  /* the last call succeeded */
    CUSTODY_ERRSRC_SERVER,    /* custodyd answered with an error (not found, precondition...) */
    CUSTODY_ERRSRC_TRANSPORT, /* custodyd could not be reached, or the connection broke */
    CUSTODY_ERRSRC_LOCAL,     /* reading in_fd or writing out_fd failed */
    CUSTODY_ERRSRC_ARGUMENT,  /* a bad argument, refused before any request was made */
} custody_errsrc_t;

/* One byte range (RFC 9110): first-last, first- (to the end), or -last
 * (the final `last` bytes, a suffix range). */
typedef struct {
    int64_t first; /* -1: suffix range, `last` is the length */
    int64_t last;  /* -1: to the end of the file */
} custody_range_t;

/* What a GET/HEAD learned about a resource. */
typedef struct {
    custody_type_t type;
    uint64_t size;      /* content size (the whole file, also for ranged reads) */
    uint64_t body_size; /* bytes written to out_fd by custody_get */
    int http_status;    /* 200, 206 */
    char mtime[40];     /* RFC 3339 UTC; "" when unknown */
    char sha256[CUSTODY_SHA256_HEX_LEN + 1]; /* the ETag (content hash); "" for directories */
    char content_type[128];
    /* Added later; set by custody_stat (custodyd sends them on HEAD), unset
     * (-1, "") after custody_get of a file or from an older custodyd. */
    int mode;       /* permission bits (st_mode & 07777); -1 when unknown */
    char atime[40]; /* last access, RFC 3339 UTC; "" when unknown */
    char btime[40]; /* birth (creation) time, RFC 3339 UTC; "" when the file system
                     * does not record one */
} custody_stat_t;

typedef struct {
    char *name;
    custody_type_t type;
    uint64_t size;
    char *mtime; /* RFC 3339, as custodyd sent it */
    /* Added later (a custodyd that does not send them leaves -1, "", ""). The
     * fields above and these describe the entry itself, as lstat does. */
    int mode;    /* permission bits (st_mode & 07777); -1 when unknown */
    char *atime; /* RFC 3339; "" when unknown */
    char *btime; /* RFC 3339; "" when the file system does not record one */
    /* A symlink's target as reads see it (followed beneath the root):
     * CUSTODY_TYPE_UNKNOWN when the link dangles, loops or leads out of the
     * root, and for entries that are not symlinks. */
    custody_type_t target_type;
    uint64_t target_size;
} custody_dirent_t;

typedef struct {
    int64_t version; /* 1, 2, 3, ... per path */
    char *op;        /* "write", "delete", "move", "rollback", "external", ... */
    char sha256[CUSTODY_SHA256_HEX_LEN + 1]; /* "" for tombstones */
    uint64_t size;
    char *time;    /* RFC 3339 */
    int available; /* content can be read back with ?version= / rolled back to */
} custody_version_t;

typedef struct {
    int created; /* the path did not exist before */
    char sha256[CUSTODY_SHA256_HEX_LEN + 1];
    uint64_t size;
    int64_t version; /* 0 when custodyd keeps no versions */
} custody_write_result_t;

typedef struct {
    char *key;
    char *value;
} custody_label_t;

typedef struct {
    char *name;
    char *path;
    custody_label_t *labels;
    size_t nlabels;
} custody_root_t;

typedef struct {
    const char *if_match; /* NULL, "*", or an ETag (quoted or bare hex) */
    int create_only;      /* If-None-Match: * — fail with CUSTODY_EPRECOND if it exists */
} custody_put_opts_t;

/* ---- client ---- */

/*
 * Opens a client. `state_dir_or_socket` is a socket path (a socket, or a
 * path ending in ".sock") or a state directory (its custodyd.sock is used);
 * NULL means $CUSTODY_STATE, else ./var/custody. No connection is made
 * until the first call. Errors: CUSTODY_ENAMETOOLONG (socket path too long
 * for sockaddr_un), CUSTODY_ENOMEM.
 */
int custody_client_open(const char *state_dir_or_socket, custody_client_t **out);
void custody_client_close(custody_client_t *c);
/* The socket the client talks to. */
const char *custody_client_socket(const custody_client_t *c);
/* Message of the last failed call ("" after a success); valid until the next call. */
const char *custody_client_last_error(const custody_client_t *c);
custody_errsrc_t custody_client_last_error_source(const custody_client_t *c);
/* HTTP status of the last answer (0 when none arrived). */
int custody_client_last_status(const custody_client_t *c);
/* Raw JSON body of the last successful JSON answer (status, list, versions,
 * writes, roots...); "" otherwise. Valid until the next call. */
const char *custody_client_last_json(const custody_client_t *c);

/* ---- daemon ---- */

/* GET /v1/status: the raw JSON object in *json_out (caller frees). */
int custody_status(custody_client_t *c, char **json_out);

/* ---- files ---- */

/*
 * Streams a file's bytes (or one range of them; range may be NULL) to
 * out_fd. version > 0 reads that version from the version store. st may be
 * NULL. A directory fails with CUSTODY_EISDIR; a range past the end with
 * CUSTODY_ERANGE. Nothing is buffered whole: bytes go to out_fd as they come.
 * If writing out_fd fails, the source is CUSTODY_ERRSRC_LOCAL.
 */
int custody_get(custody_client_t *c, const char *resource_id, const custody_range_t *range,
                int64_t version, int out_fd, custody_stat_t *st);

/* Type, size, mtime, content hash, permission bits, access and birth times
 * of a file or directory (follows symlinks). */
int custody_stat(custody_client_t *c, const char *resource_id, custody_stat_t *st);

/*
 * Writes in_fd's remaining bytes as the file's new content (atomically on the
 * server). A regular file is sent with Content-Length; anything else (a pipe,
 * stdin) with chunked encoding. opts and res may be NULL.
 */
int custody_put_fd(custody_client_t *c, const char *resource_id, int in_fd,
                   const custody_put_opts_t *opts, custody_write_result_t *res);
/* Same, from memory. */
int custody_put_buf(custody_client_t *c, const char *resource_id, const void *data, size_t len,
                    const custody_put_opts_t *opts, custody_write_result_t *res);

/* Lists a directory (sorted by name). *truncated (may be NULL) is set when
 * custodyd capped the listing. Free with custody_dirents_free. A file fails
 * with CUSTODY_ENOTDIR. */
int custody_list(custody_client_t *c, const char *resource_id, custody_dirent_t **out, size_t *n,
                 int *truncated);
void custody_dirents_free(custody_dirent_t *d, size_t n);

int custody_mkdir(custody_client_t *c, const char *resource_id, int parents);
/* `to` is "/path" or "ROOT:/path" (same root; another root fails with CUSTODY_EXDEV). */
int custody_move(custody_client_t *c, const char *from, const char *to, int overwrite);
/*
 * For surfaces that serve bytes themselves (the FUSE view): phase "open"
 * asks custodyd to decide `action` ("read" or "write") on the resource and
 * record the decision; phase "close" reports what went through the open
 * file (the span [first, last] of the bytes, -1 for none, and the byte
 * count) as one event. 0 when allowed; CUSTODY_EDENIED (and the others)
 * when not. surface is a short lowercase name ("fuse").
 */
int custody_access(custody_client_t *c, const char *resource_id, const char *action,
                   const char *phase, const char *surface, int64_t first, int64_t last,
                   uint64_t bytes);
/*
 * Batches for the same surfaces (at most CUSTODY_ACCESS_BATCH_MAX files;
 * one event per file, answered once all are durable).
 *
 * custody_access_grant: after listing directory dir_id, asks for reads of
 * its files names[0..n-1] to be decided now; granted[i] says whether
 * names[i] may be opened for reading without asking again during *ttl_ms.
 * custody_access_usage: the usage reports of several closed files of the
 * root root_id ("ROOT:/"), paths relative to the root ("/a/b.txt"), span
 * [first, last] (-1: none) and bytes.
 *
 * Acting as an agent, the token must cover the files, not only dir_id or
 * the root: use custody_client_set_token_scope(c, CUSTODY_TOKEN_FOLDER)
 * (a file outside the token's folder is then simply not granted).
 */
#define CUSTODY_ACCESS_BATCH_MAX 1024
typedef struct {
    const char *path;
    int64_t first, last;
    uint64_t bytes;
} custody_usage_t;
int custody_access_grant(custody_client_t *c, const char *dir_id, const char *surface,
                         const char *const *names, size_t n, int *granted, unsigned *ttl_ms);
int custody_access_usage(custody_client_t *c, const char *root_id, const char *action,
                         const char *surface, const custody_usage_t *u, size_t n);
/* Deletes a file or an empty directory; if_match may be NULL. */
int custody_delete(custody_client_t *c, const char *resource_id, const char *if_match);

/* ---- versions ---- */

int custody_versions(custody_client_t *c, const char *resource_id, custody_version_t **out,
                     size_t *n);
void custody_versions_free(custody_version_t *v, size_t n);
/* Makes version `version` the current content (recorded as a new version); res may be NULL. */
int custody_rollback(custody_client_t *c, const char *resource_id, int64_t version,
                     custody_write_result_t *res);

/* ---- roots ---- */

/* Registers (or replaces) a root; `path` must be an absolute directory on the
 * daemon's host. out may be NULL; else free it with custody_root_free. */
int custody_root_add(custody_client_t *c, const char *name, const char *path,
                     const custody_label_t *labels, size_t nlabels, custody_root_t *out);
int custody_root_list(custody_client_t *c, custody_root_t **out, size_t *n);
void custody_root_free(custody_root_t *r);
void custody_roots_free(custody_root_t *r, size_t n);

/* ---- audit log (docs/API.md, "Audit"; docs/ledger.md) ---- */

/* GET /v1/audit/status. */
typedef struct {
    char *origin;             /* the log's checkpoint origin line */
    uint64_t size;            /* events durable in the journal */
    uint64_t checkpoint_size; /* events under the latest signed checkpoint */
    uint64_t batches;         /* group commits since custodyd started */
    uint64_t failures;        /* failed journal writes since custodyd started */
    int healthy;              /* 0 while the journal cannot be written */
    char *last_error;         /* "" when none */
} custody_audit_status_t;

/* The audit log's state; free with custody_audit_status_free. A daemon
 * without an audit log fails with CUSTODY_EUNAVAIL. */
int custody_audit_status(custody_client_t *c, custody_audit_status_t *out);
void custody_audit_status_free(custody_audit_status_t *s);

/*
 * GET /v1/audit/<path>[?<query>]: path is one of custodyd's audit endpoints
 * ("key", "checkpoint", "entries", "entries/7", "search",
 * "proof/inclusion", "proof/consistency"); query (may be NULL or "") is
 * already percent-encoded ("from=10&limit=5"). The answer's body, JSON or
 * text, goes to *body (NUL-terminated, caller frees); *len (may be NULL)
 * gets its length. JSON answers are also custody_client_last_json().
 * CUSTODY_EINVAL (argument) for a path or query with characters outside
 * URLs.
 */
int custody_audit_get(custody_client_t *c, const char *path, const char *query, char **body,
                      size_t *len);
/* GET /v1/audit/history/ROOT/PATH[?<query>]: the edit records of one path
 * (writes, deletes, rollbacks, and moves from or to it), as
 * {"resource", "results": [{"index", "event"}...]}, oldest first. query
 * (may be NULL) is "limit=N", "after=INDEX", "order=desc", joined with
 * '&'. *body as for custody_audit_get. */
int custody_audit_history(custody_client_t *c, const char *resource_id, const char *query,
                          char **body, size_t *len);
/* GET /audit/<path> from the public, read-only tlog-tiles mirror
 * ("checkpoint", "tile/entries/000.p/5", "tile/0/x001/234"): the exact
 * bytes, in *data (caller frees; NUL-terminated for convenience). */
int custody_audit_get_public(custody_client_t *c, const char *path, char **data, size_t *len);
/* POST /v1/audit/hash: the pseudonym ("hmac-sha256:<64 hex>") under which
 * the log records `value` when the identifier is pseudonymized; value must
 * be UTF-8. *pseudonym is allocated (caller frees). */
int custody_audit_hash(custody_client_t *c, const char *value, char **pseudonym);

/* ---- pure helpers (no I/O) ---- */

/* Splits "ROOT:/PATH" into newly allocated root and path ("/" for "ROOT:",
 * a leading '/' added when missing). CUSTODY_EINVAL when there is no ':' or
 * the root name is not [A-Za-z0-9][A-Za-z0-9_-]{0,63}. */
int custody_resource_parse(const char *id, char **root, char **path);
/* Parses "A-B", "A-" or "-N" (N > 0, A <= B). CUSTODY_EINVAL otherwise. */
int custody_range_parse(const char *s, custody_range_t *out);
/* Parses "KEY=VALUE" (KEY [A-Za-z0-9_.-]{1,64}, VALUE UTF-8 up to 256 bytes);
 * out->key/value are allocated (custody_label_clear frees them). */
int custody_label_parse(const char *kv, custody_label_t *out);
void custody_label_clear(custody_label_t *l);
const char *custody_type_name(custody_type_t t); /* "file", "dir", "symlink", "other", "unknown" */

/* ---- agents, tokens and policies (docs/authz.md) ---- */

#define CUSTODY_AGENT_NAME_MAX 64

/*
 * Acts as an agent from now on: every connection proves possession of the
 * agent's Ed25519 key (key_path: its PEM private key, as `custody agent
 * add` wrote it), and every data-plane call carries a capability token,
 * minted by custodyd for exactly that call's action and resource unless
 * custody_client_set_token gave one. A refusal is returned as it is: the
 * SDK never retries with a broader scope or other credentials.
 */
int custody_client_set_agent(custody_client_t *c, const char *agent, const char *key_path);
/* Uses this token (any form custodyd accepts) on every data-plane call;
 * NULL or "" goes back to minting per call. Needs an agent. */
int custody_client_set_token(custody_client_t *c, const char *token);

/* How wide the tokens the SDK mints for an agent are (no effect with
 * custody_client_set_token). CUSTODY_TOKEN_EXACT, the default: one per
 * call's action and resource. CUSTODY_TOKEN_FOLDER: one per action and the
 * folder holding the call's resource ("demo:/dir/"), reused for the
 * folder's other files, so a call on a new file does not wait for a mint
 * (a durable audit event) of its own; where custodyd refuses the folder,
 * exact tokens are minted instead (for 30 s, then the folder is asked
 * again). Every call is still decided by policy on its own resource: the
 * token only narrows. Meant for surfaces that hold the agent's key anyway
 * (custody mcp, the FUSE view). Needs an agent. */
enum { CUSTODY_TOKEN_EXACT = 0, CUSTODY_TOKEN_FOLDER = 1 };
int custody_client_set_token_scope(custody_client_t *c, int mode);

/* ---- consent (docs/ledger.md, "The edit journal") ---- */

#define CUSTODY_CONSENT_MAX 512 /* bytes of a consent token */

/*
 * Sends `token` as X-Custody-Consent with every change of a file that
 * follows (put, delete, move, rollback) until it is set again: custodyd
 * records it in the change's signed edit record ("edit"."consent"), as the
 * user's consent to that change. 1 to CUSTODY_CONSENT_MAX bytes of
 * printable ASCII (0x20-0x7e), else CUSTODY_EINVAL (argument); NULL or ""
 * stops sending one. The token is opaque to custody: what it proves is
 * up to whoever issued it.
 */
int custody_client_set_consent(custody_client_t *c, const char *token);

/*
 * POST /v1/tokens: mints a token for agent (NULL: the calling agent) with
 * actions ("read" or "read,write"), on resource ("demo:/a.txt", or a
 * prefix "demo:/dir/"), ttl seconds (0: the default), optional byte range
 * "FIRST-LAST". The answer's JSON (token, id, expires, policies) in
 * *json_out (caller frees).
 */
int custody_token_mint(custody_client_t *c, const char *agent, const char *actions,
                       const char *resource, uint64_t ttl, const char *range, char **json_out);
int custody_token_revoke(custody_client_t *c, const char *token_id);
/* Records in the audit log a request that a client surface (surface: "mcp",
 * "fuse") refused itself before asking custodyd (a path outside its allowed
 * directories...): POST /v1/refusals. action: read, write, list, stat,
 * mkdir, move or delete. */
int custody_report_refusal(custody_client_t *c, const char *surface, const char *action,
                           const char *path, const char *reason);

/* /v1/agents (the operator): enroll with the raw public key in hex. */
int custody_agent_add(custody_client_t *c, const char *name, const char *principal,
                      const char *const *groups, size_t ngroups, const char *public_key_hex,
                      char **json_out);
int custody_agent_list(custody_client_t *c, char **json_out);
int custody_agent_show(custody_client_t *c, const char *name, char **json_out);
int custody_agent_revoke(custody_client_t *c, const char *name, char **json_out);
int custody_agent_quarantine(custody_client_t *c, const char *name, int on, char **json_out);
int custody_agent_remove(custody_client_t *c, const char *name);

/* /v1/policy: the set in force, a reload, and an explanation. request_json
 * is {"agent"?, "action", "resource", "destination"?, "context"?,
 * "format"?: "text" | "json"}; *out is text or JSON. */
int custody_policy_show(custody_client_t *c, char **json_out);
int custody_policy_reload(custody_client_t *c, char **json_out);
int custody_policy_explain(custody_client_t *c, const char *request_json, char **out);

#ifdef __cplusplus
}
#endif
#endif
