/*
 * internal.h — what the files of src/mcp share.
 *
 *   rpc.c      newline-delimited JSON-RPC on two fds: reading bounded lines,
 *              sending messages
 *   server.c   the protocol: initialize / server/discover, versions, _meta,
 *              tools/list, tools/call, the roots protocol, dispatch
 *   paths.c    allowed directories, the reference server's path checks,
 *              absolute path -> custody resource (ROOT:/PATH)
 *   tools.c    argument checks and the read-only tools
 *   tools_write.c  the tools that change files (write, edit, mkdir, move)
 *   text.c     UTF-8 decoding as Node does it, base64, sizes, dates, file URLs
 *   diff.c     edit_file's edits and unified diff (diff.h)
 *   glob.c     minimatch-compatible patterns (glob.h)
 *   tools_schema.c  the announced tool list (JSON)
 */
#ifndef CUSTODY_MCP_INTERNAL_H
#define CUSTODY_MCP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "custody/client.h"
#include "mcp/mcp.h"
#include "util/util.h"

#define MCP_LINE_MAX (64u << 20) /* one JSON-RPC message; a longer line is dropped */
#define MCP_FILE_MAX (64u << 20) /* bytes one tool call reads into memory */
#define MCP_DIRS_MAX 256         /* allowed directories */
#define MCP_WALK_MAX 200000      /* entries search_files / directory_tree visit */
#define MCP_SERVER_NAME "custody-mcp"

struct mcp_root {
    char *name;
    char *path; /* absolute, as custodyd reported it */
};

struct mcp {
    const struct mcp_server_opts *o;
    custody_client_t *c;
    char **allowed; /* allowed directories (absolute, normalised) */
    size_t nallowed;
    struct mcp_root *roots; /* custody roots, for path -> resource */
    size_t nroots;
    bool client_roots;        /* the client declared the roots capability */
    int64_t next_id;          /* ids of our requests to the client */
    int64_t roots_request;    /* id of the outstanding roots/list (0: none) */
    struct strbuf in;         /* bytes read, not yet a whole line */
    size_t in_off;            /* start of the unread part of `in` */
    bool in_eof, in_skipping; /* skipping: inside an over-long line */
    const char *action;       /* the current tool's action, for refusal reports */
};

/* ---- rpc.c ---- */
/* Next line (without the newline) in *line and *len, valid until the next call.
 * 1: a line; 0: end of input; <0: read error. */
int mcp_read_line(struct mcp *m, const char **line, size_t *len);
/* Writes one message (compact JSON + "\n") and releases it. */
int mcp_send(struct mcp *m, json_t *msg);
/* msg as compact JSON appended to sb: json_dumps's bytes, faster. */
int mcp_json_write(json_t *v, struct strbuf *sb, int depth);
json_t *mcp_error_msg(json_t *id, int code, const char *message, json_t *data);

/* ---- paths.c ---- */
/* Sets the allowed directories (each resolved like the reference server
 * does; unusable ones are skipped with a warning on stderr). */
int mcp_set_allowed(struct mcp *m, char *const *dirs, size_t n, bool from_roots);
void mcp_free_allowed(struct mcp *m);
/* (Re)loads the custody roots from custodyd. */
int mcp_load_roots(struct mcp *m);
void mcp_free_roots(struct mcp *m);
/* The reference's validatePath, without touching the file system: 0 and
 * *abs (malloc'd absolute path), or -1 and *err (malloc'd message). */
int mcp_validate(struct mcp *m, const char *requested, char **abs, char **err);
/* Is an absolute path inside an allowed directory? */
bool mcp_within_allowed(struct mcp *m, const char *abs);
/* "ROOT:/rel" for an absolute path (malloc'd); NULL when no custody root holds it. */
char *mcp_resource(struct mcp *m, const char *abs);
/* Node's path.resolve(base, p) and path.relative(from, to) (malloc'd). */
char *mcp_path_resolve(const char *base, const char *p);
char *mcp_path_relative(const char *from, const char *to);
/* "a, b, c" of the allowed directories (malloc'd). */
char *mcp_allowed_list(struct mcp *m, const char *sep);

/* ---- text.c ---- */
/* Node's Buffer.toString('utf-8'): invalid sequences become U+FFFD. */
char *mcp_utf8_decode(const char *s, size_t len, size_t *outlen);
char *mcp_base64(const void *data, size_t len);
void mcp_format_size(uint64_t bytes, char out[48]);
char *mcp_file_url(const char *abs);
/* String.prototype.localeCompare as the reference's ICU sorts file names
 * (case-insensitive first, punctuation < digits < letters, then lower < upper). */
int mcp_locale_cmp(const char *a, const char *b);
/* A Date's toString() in UTC ("Thu Nov 26 2026 10:00:00 GMT+0000 (Coordinated Universal Time)")
 * from an RFC 3339 time; "Invalid Date" when it cannot be parsed. */
void mcp_js_date(const char *rfc3339, char out[160]);
/* JavaScript's String.prototype.trim whitespace (one code point at s). */
size_t mcp_js_space_len(const char *s, size_t len);

/* ---- errors (tools.c) ---- */
/* The text the reference server (Node's fs) gives for a failed call. */
char *mcp_fs_error(struct mcp *m, int rc, const char *syscall, const char *path, const char *path2);

/* ---- tools ---- */
extern const char mcp_tools_json[];
/* The announced tool list, parsed once (borrowed reference). */
json_t *mcp_tool_list(void);
/* Runs a tool; returns the CallToolResult (never NULL). */
json_t *mcp_call_tool(struct mcp *m, const char *name, json_t *args);
/* Results */
json_t *mcp_text_result(const char *text, size_t len);
json_t *mcp_text_resultf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *mcp_tool_error(const char *text);
json_t *mcp_tool_error_take(char *text); /* frees text */
/* custodyd calls, retried once after reviving custodyd when unreachable */
int mcp_fetch(struct mcp *m, const char *resource, char **data, size_t *len, custody_stat_t *st);
json_t *mcp_tool_write(struct mcp *m, json_t *args);
json_t *mcp_tool_edit(struct mcp *m, json_t *args);
json_t *mcp_tool_mkdir(struct mcp *m, json_t *args);
json_t *mcp_tool_move(struct mcp *m, json_t *args);
/* Resolves a path argument to its absolute path and resource; on failure
 * returns NULL and *res_err is the tool error result. */
char *mcp_tool_path(struct mcp *m, const char *requested, char **resource, json_t **res_err);
bool mcp_revive(struct mcp *m, int rc);
/* rc = call; once more when custodyd could not be reached and was revived
 * (call is evaluated again: only for calls that can simply be repeated). */
#define MCP_RETRY(m, rc, call)                                                                     \
    do {                                                                                           \
        (rc) = (call);                                                                             \
        if ((rc) && mcp_revive((m), (rc))) (rc) = (call);                                          \
    } while (0)
/* Records in the ledger a path custody mcp refused itself (best effort). */
void mcp_report_refusal(struct mcp *m, const char *requested, const char *why);

#endif
