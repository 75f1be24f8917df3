/*
 * tools.c — tools/call: argument checks against each tool's input schema
 * (the messages zod gives the reference server), the error texts of Node's
 * fs, and the tools that only read. Each tool call becomes one or more
 * custodyd requests, each decided by policy and audited there.
 */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcp/glob.h"
#include "mcp/internal.h"

/* ---- results ---- */

json_t *mcp_text_result(const char *text, size_t len)
{
    json_t *t = json_stringn(text, len);
    if (!t) t = json_string("");
    json_t *r = json_pack("{s:[{s:s, s:O}], s:{s:O}}", "content", "type", "text", "text", t,
                          "structuredContent", "content", t);
    json_decref(t); /* both "O" took a reference of their own */
    return r;
}

json_t *mcp_text_resultf(const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&sb, fmt, ap);
    va_end(ap);
    json_t *r = mcp_text_result(sb.buf ? sb.buf : "", sb.len);
    sb_free(&sb);
    return r;
}

json_t *mcp_tool_error(const char *text)
{
    return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text, "isError",
                     1);
}

json_t *mcp_tool_error_take(char *text)
{
    json_t *r = mcp_tool_error(text ? text : "error");
    free(text);
    return r;
}

/* ---- errors ---- */

static bool is_refusal(int rc)
{
    return rc == CUSTODY_EDENIED || rc == CUSTODY_EUNAUTH || rc == CUSTODY_EBADTOKEN ||
           rc == CUSTODY_EEXPIRED || rc == CUSTODY_EREVOKED || rc == CUSTODY_EQUARANTINED ||
           rc == CUSTODY_EPERM || rc == CUSTODY_EREPLAY;
}

/* custody errors that have a Node fs counterpart: its code and message */
static const struct {
    int rc;
    const char *code, *what;
} node_errors[] = {
    {CUSTODY_ENOENT, "ENOENT", "no such file or directory"},
    {CUSTODY_ENOTDIR, "ENOTDIR", "not a directory"},
    {CUSTODY_EISDIR, "EISDIR", "illegal operation on a directory"},
    {CUSTODY_EEXIST, "EEXIST", "file already exists"},
    {CUSTODY_ENOTEMPTY, "ENOTEMPTY", "directory not empty"},
    {CUSTODY_ENOSPC, "ENOSPC", "no space left on device"},
    {CUSTODY_ENAMETOOLONG, "ENAMETOOLONG", "name too long"},
    {CUSTODY_ELOOP, "ELOOP", "too many symbolic links encountered"},
    {CUSTODY_EROFS, "EROFS", "read-only file system"},
};

char *mcp_fs_error(struct mcp *m, int rc, const char *syscall, const char *path, const char *path2)
{
    struct strbuf sb = STRBUF_INIT;
    if (rc == CUSTODY_EISDIR && (strcmp(syscall, "open") == 0 || strcmp(syscall, "read") == 0)) {
        sb_puts(&sb, "EISDIR: illegal operation on a directory, read"); /* Node names no path */
        return sb_detach(&sb);
    }
    if (rc == CUSTODY_EESCAPE) {
        char real[PATH_MAX];
        char *list = mcp_allowed_list(m, ", ");
        sb_printf(&sb, "Access denied - symlink target outside allowed directories: %s not in %s",
                  realpath(path, real) ? real : path, list);
        free(list);
        return sb_detach(&sb);
    }
    if (rc == CUSTODY_ENOROOT) {
        sb_printf(&sb,
                  "Access denied - no custody root holds %s (register one with: custody root "
                  "add NAME DIR)",
                  path);
        return sb_detach(&sb);
    }
    const char *code = NULL, *what = NULL;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(node_errors); i++)
        if (node_errors[i].rc == rc) code = node_errors[i].code, what = node_errors[i].what;
    if (code) {
        sb_printf(&sb, "%s: %s, %s '%s'", code, what, syscall, path);
        if (path2) sb_printf(&sb, " -> '%s'", path2);
        return sb_detach(&sb);
    }
    const char *msg = custody_client_last_error(m->c);
    if (!msg || !*msg) msg = custody_strerror(rc);
    if (is_refusal(rc))
        sb_printf(&sb, "Access denied by custody: %s", msg);
    else
        sb_printf(&sb, "custody: %s (%s)", msg, custody_err_code(rc));
    return sb_detach(&sb);
}

/* ---- argument checks (the reference's zod schemas, from the announced tool list) ---- */

static const char *type_name(json_t *v)
{
    if (!v) return "undefined";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static void issue(struct strbuf *sb, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void issue(struct strbuf *sb, const char *path, const char *fmt, ...)
{
    if (sb->len) sb_puts(sb, "\n");
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
    if (path && *path) sb_printf(sb, " at %s", path);
}

/* Checks v against a schema node; appends zod-style issues. */
static void check(json_t *schema, json_t *v, const char *path, struct strbuf *issues)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type) return;
    const char *got = type_name(v);
    if (strcmp(type, got) != 0) {
        issue(issues, path, "Invalid input: expected %s, received %s", type, got);
        return;
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e) found |= json_equal(e, v);
        if (!found) {
            struct strbuf opts = STRBUF_INIT;
            json_array_foreach(en, i, e)
                sb_printf(&opts, "%s\"%s\"", i ? "|" : "", json_string_value(e));
            issue(issues, path, "Invalid option: expected one of %s", opts.buf ? opts.buf : "");
            sb_free(&opts);
        }
        return;
    }
    if (strcmp(type, "array") == 0) {
        json_t *min = json_object_get(schema, "minItems");
        if (min && json_array_size(v) < (size_t)json_integer_value(min))
            issue(issues, path, "Too small: expected array to have >=%lld items",
                  (long long)json_integer_value(min));
        json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%zu", path, *path ? "." : "", i);
            check(items, e, sub, issues);
        }
    } else if (strcmp(type, "object") == 0) {
        json_t *props = json_object_get(schema, "properties");
        json_t *req = json_object_get(schema, "required");
        const char *k;
        json_t *ps;
        json_object_foreach(props, k, ps)
        {
            json_t *val = json_object_get(v, k);
            bool required = false;
            size_t i;
            json_t *r;
            json_array_foreach(req, i, r) required |= strcmp(json_string_value(r), k) == 0;
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            if (val)
                check(ps, val, sub, issues);
            else if (required && !json_object_get(ps, "default"))
                check(ps, NULL, sub, issues); /* "received undefined" */
        }
    }
}

/* Fills in defaults (dryRun, sortBy, excludePatterns) like zod does. */
static void apply_defaults(json_t *schema, json_t *args)
{
    const char *k;
    json_t *ps;
    json_object_foreach(json_object_get(schema, "properties"), k, ps)
    {
        json_t *d = json_object_get(ps, "default");
        if (d && !json_object_get(args, k)) json_object_set(args, k, d);
    }
}

json_t *mcp_tool_list(void)
{
    static json_t *list;
    if (!list) list = json_loads(mcp_tools_json, 0, NULL);
    return list;
}

/* ---- custodyd access ---- */

void mcp_report_refusal(struct mcp *m, const char *requested, const char *why)
{
    int rc;
    MCP_RETRY(m, rc, custody_report_refusal(m->c, "mcp", m->action, requested, why));
    if (rc)
        fprintf(stderr, "custody mcp: could not record a refusal in the audit log: %s\n",
                custody_client_last_error(m->c));
}

char *mcp_tool_path(struct mcp *m, const char *requested, char **resource, json_t **res_err)
{
    char *abs = NULL, *err = NULL;
    *resource = NULL;
    if (mcp_validate(m, requested, &abs, &err) != 0) {
        mcp_report_refusal(m, requested, err);
        *res_err = mcp_tool_error_take(err);
        return NULL;
    }
    *resource = mcp_resource(m, abs);
    if (!*resource) {
        mcp_load_roots(m); /* a root may have been added since */
        *resource = mcp_resource(m, abs);
    }
    if (!*resource) {
        *res_err = mcp_tool_error_take(mcp_fs_error(m, CUSTODY_ENOROOT, "open", abs, NULL));
        free(abs);
        return NULL;
    }
    return abs;
}

/* Reads a whole file (up to MCP_FILE_MAX bytes) into memory. */
int mcp_fetch(struct mcp *m, const char *resource, char **data, size_t *len, custody_stat_t *st)
{
    *data = NULL;
    *len = 0;
    int fd = memfd_create("custody-mcp", MFD_CLOEXEC);
    if (fd < 0) return custody_err_from_errno(errno);
    custody_range_t range = {0, MCP_FILE_MAX};
    custody_stat_t s;
    int rc = custody_get(m->c, resource, &range, 0, fd, &s);
    if (rc && mcp_revive(m, rc)) {
        if (ftruncate(fd, 0) == 0) rc = custody_get(m->c, resource, &range, 0, fd, &s);
    }
    if (rc == CUSTODY_ERANGE) { /* an empty file has no byte 0 */
        if (ftruncate(fd, 0) == 0) rc = custody_get(m->c, resource, NULL, 0, fd, &s);
    }
    if (!rc && s.size > MCP_FILE_MAX) rc = CUSTODY_ETOOBIG;
    if (!rc) {
        *data = malloc(s.body_size + 1);
        if (!*data)
            rc = CUSTODY_ENOMEM;
        else if (pread(fd, *data, s.body_size, 0) != (ssize_t)s.body_size)
            rc = CUSTODY_EIO;
        if (!rc) {
            (*data)[s.body_size] = '\0';
            *len = s.body_size;
        } else {
            free(*data);
            *data = NULL;
        }
    }
    close(fd);
    if (st && !rc) *st = s;
    return rc;
}

static int list_dir(struct mcp *m, const char *resource, custody_dirent_t **d, size_t *n)
{
    int rc;
    MCP_RETRY(m, rc, custody_list(m->c, resource, d, n, NULL));
    return rc;
}

/* ---- read_text_file / read_file ---- */

static double num_arg(json_t *args, const char *k)
{
    json_t *v = json_object_get(args, k);
    return v ? json_number_value(v) : 0;
}

static json_t *tool_read_text(struct mcp *m, json_t *args)
{
    char *res, *data;
    size_t len;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    double head = num_arg(args, "head"), tail = num_arg(args, "tail");
    if (head != 0 && tail != 0 && !isnan(head) && !isnan(tail)) {
        free(abs);
        free(res);
        return mcp_tool_error("Cannot specify both head and tail parameters simultaneously");
    }
    int rc = mcp_fetch(m, res, &data, &len, NULL);
    if (rc) {
        json_t *r = mcp_tool_error_take(mcp_fs_error(m, rc, "open", abs, NULL));
        free(abs);
        free(res);
        return r;
    }
    size_t tlen;
    char *text = mcp_utf8_decode(data, len, &tlen);
    free(data);
    struct strbuf out = STRBUF_INIT;
    sb_puts(&out, "");
    if (tail != 0 && !isnan(tail)) {
        if (tail > 0) {
            /* CRLF -> LF, then the last N lines of split('\n') */
            size_t w = 0;
            for (size_t i = 0; i < tlen; i++)
                if (!(text[i] == '\r' && i + 1 < tlen && text[i + 1] == '\n')) text[w++] = text[i];
            tlen = w;
            /* (long long) of a double past LLONG_MAX is undefined: such a tail is "all" */
            long long want = tail < 0x1p62 ? (long long)tail : LLONG_MAX;
            if (want < 1) want = 1; /* slice(-0.x) is slice(0): not worth imitating */
            size_t start = tlen;
            long long seen = 0;
            while (start > 0) {
                if (text[start - 1] == '\n' && ++seen == want) break;
                start--;
            }
            if (tlen) sb_append(&out, text + start, tlen - start);
        }
    } else if (head != 0 && !isnan(head)) {
        if (head > 0) {
            size_t i = 0, lines = 0;
            while (i < tlen && (double)lines < head) {
                char *nl = memchr(text + i, '\n', tlen - i);
                size_t e = nl ? (size_t)(nl - text) : tlen;
                if (lines) sb_puts(&out, "\n");
                sb_append(&out, text + i, e - i);
                lines++;
                i = nl ? e + 1 : tlen;
            }
        }
    } else {
        sb_append(&out, text, tlen);
    }
    free(text);
    json_t *r = mcp_text_result(out.buf, out.len);
    sb_free(&out);
    free(abs);
    free(res);
    return r;
}

/* ---- read_media_file ---- */

static json_t *tool_read_media(struct mcp *m, json_t *args)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".png", "image/png"},     {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
                 {".gif", "image/gif"},     {".webp", "image/webp"}, {".bmp", "image/bmp"},
                 {".svg", "image/svg+xml"}, {".mp3", "audio/mpeg"},  {".wav", "audio/wav"},
                 {".ogg", "audio/ogg"},     {".flac", "audio/flac"}};
    char *res, *data;
    size_t len;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    int rc = mcp_fetch(m, res, &data, &len, NULL);
    if (rc) {
        json_t *r = mcp_tool_error_take(mcp_fs_error(m, rc, "open", abs, NULL));
        free(abs);
        free(res);
        return r;
    }
    const char *mime = "application/octet-stream";
    const char *base = strrchr(abs, '/');
    const char *dot = strrchr(base ? base : abs, '.');
    if (dot && dot != (base ? base + 1 : abs))
        for (size_t i = 0; i < UTIL_ARRAY_LEN(types); i++)
            if (strcasecmp(dot, types[i].ext) == 0) mime = types[i].mime;
    char *b64 = mcp_base64(data, len);
    free(data);
    json_t *item;
    if (strncmp(mime, "image/", 6) == 0 || strncmp(mime, "audio/", 6) == 0) {
        item = json_pack("{s:s, s:s, s:s}", "type", mime[0] == 'i' ? "image" : "audio", "data",
                         b64 ? b64 : "", "mimeType", mime);
    } else {
        char *url = mcp_file_url(abs);
        item = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource", "resource", "uri", url,
                         "mimeType", mime, "blob", b64 ? b64 : "");
        free(url);
    }
    free(b64);
    free(abs);
    free(res);
    return json_pack("{s:[O], s:{s:[o]}}", "content", item, "structuredContent", "content", item);
}

/* ---- read_multiple_files ---- */

static json_t *tool_read_multiple(struct mcp *m, json_t *args)
{
    json_t *paths = json_object_get(args, "paths");
    struct strbuf out = STRBUF_INIT;
    sb_puts(&out, "");
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        const char *req = json_string_value(p);
        if (i) sb_puts(&out, "\n---\n");
        char *abs = NULL, *err = NULL, *res = NULL, *data = NULL;
        size_t len = 0;
        int rc = 0;
        if (mcp_validate(m, req, &abs, &err) != 0) {
            mcp_report_refusal(m, req, err);
        } else {
            res = mcp_resource(m, abs);
            rc = res ? mcp_fetch(m, res, &data, &len, NULL) : CUSTODY_ENOROOT;
            if (rc) err = mcp_fs_error(m, rc, "open", abs, NULL);
        }
        if (err) {
            sb_printf(&out, "%s: Error - %s", req, err);
        } else {
            size_t tlen;
            char *text = mcp_utf8_decode(data, len, &tlen);
            sb_printf(&out, "%s:\n", req);
            sb_append(&out, text, tlen);
            sb_puts(&out, "\n");
            free(text);
        }
        free(abs);
        free(err);
        free(res);
        free(data);
    }
    json_t *r = mcp_text_result(out.buf, out.len);
    sb_free(&out);
    return r;
}

/* ---- listings ---- */

/* The size the reference prints for an entry: fs.stat's, which follows a
 * symlink (custodyd resolves it beneath the root; a link that dangles or
 * leads out of the root has no target and counts 0, as the reference
 * counts an entry it cannot stat). */
static uint64_t entry_size(const custody_dirent_t *e)
{
    if (e->type != CUSTODY_TYPE_SYMLINK) return e->size;
    return e->target_type != CUSTODY_TYPE_UNKNOWN ? e->target_size : 0;
}

static json_t *tool_list(struct mcp *m, json_t *args, bool sizes)
{
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int rc = list_dir(m, res, &d, &n);
    if (rc) {
        json_t *r = mcp_tool_error_take(mcp_fs_error(m, rc, "scandir", abs, NULL));
        free(abs);
        free(res);
        return r;
    }
    struct strbuf out = STRBUF_INIT;
    sb_puts(&out, "");
    if (!sizes) {
        for (size_t i = 0; i < n; i++) { /* no printf: 100 entries made 100 vsnprintf calls */
            if (i) sb_puts(&out, "\n");
            sb_puts(&out, d[i].type == CUSTODY_TYPE_DIR ? "[DIR] " : "[FILE] ");
            sb_puts(&out, d[i].name);
        }
    } else {
        const char *sort = json_string_value(json_object_get(args, "sortBy"));
        bool by_size = sort && strcmp(sort, "size") == 0;
        /* insertion sort: stable, like Array.prototype.sort */
        size_t *ord = util_calloc(n ? n : 1, sizeof *ord);
        for (size_t i = 0; i < n; i++) {
            size_t j = i;
            while (j > 0) {
                const custody_dirent_t *a = &d[ord[j - 1]], *b = &d[i];
                bool after =
                    by_size ? entry_size(b) > entry_size(a) : mcp_locale_cmp(b->name, a->name) < 0;
                if (!after) break;
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = i;
        }
        uint64_t total = 0;
        size_t files = 0, dirs = 0;
        for (size_t k = 0; k < n; k++) {
            const custody_dirent_t *e = &d[ord[k]];
            bool dir = e->type == CUSTODY_TYPE_DIR;
            /* padEnd(30) counts UTF-16 code units */
            size_t units = 0;
            for (const unsigned char *c = (const unsigned char *)e->name; *c; c++)
                if ((*c & 0xC0) != 0x80) units += *c >= 0xF0 ? 2 : 1;
            sb_printf(&out, "%s %s", dir ? "[DIR]" : "[FILE]", e->name);
            for (; units < 30; units++)
                sb_puts(&out, " ");
            sb_puts(&out, " ");
            if (!dir) {
                char sz[48];
                mcp_format_size(entry_size(e), sz);
                sb_printf(&out, "%10s", sz);
            }
            sb_puts(&out, "\n");
            if (dir)
                dirs++;
            else
                files++, total += entry_size(e);
        }
        char sz[48];
        mcp_format_size(total, sz);
        sb_printf(&out, "\nTotal: %zu files, %zu directories\nCombined size: %s", files, dirs, sz);
        free(ord);
    }
    custody_dirents_free(d, n);
    json_t *r = mcp_text_result(out.buf, out.len);
    sb_free(&out);
    free(abs);
    free(res);
    return r;
}

/* ---- directory_tree ---- */

static void indent(struct strbuf *sb, int level)
{
    for (int i = 0; i < level; i++)
        sb_puts(sb, "  ");
}

/* One excludePatterns entry. For a pattern P without a star, directory_tree
 * also excludes P at any depth and everything below it: the reference also
 * tries the globstar followed by "/" + P, and that followed by "/" + globstar. */
struct exclude {
    struct mcp_glob *g, *any_depth, *below; /* the last two NULL when P has a '*' */
};

struct walk {
    struct mcp *m;
    const char *root; /* the path the walk started from (absolute) */
    struct exclude *excludes;
    size_t nexcl;
    size_t visited;
    int rc;          /* first error */
    char *errpath;   /* where it happened */
    json_t *results; /* search_files: matching paths */
    struct mcp_glob *pattern;
};

static bool excluded(const struct walk *w, const char *rel, bool bare_names)
{
    for (size_t i = 0; i < w->nexcl; i++) {
        const struct exclude *e = &w->excludes[i];
        if (mcp_glob_test(e->g, rel)) return true;
        if (bare_names && e->any_depth &&
            (mcp_glob_test(e->any_depth, rel) || mcp_glob_test(e->below, rel)))
            return true;
    }
    return false;
}

/* Appends the JSON array of dir's children at `level`; <0 on the first error. */
static int tree(struct walk *w, const char *dir, struct strbuf *out, int level)
{
    char *res = NULL;
    if (!mcp_within_allowed(w->m, dir) || !(res = mcp_resource(w->m, dir))) {
        w->rc = CUSTODY_ENOROOT;
        w->errpath = util_strdup(dir);
        return -1;
    }
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int rc = list_dir(w->m, res, &d, &n);
    free(res);
    if (rc) {
        w->rc = rc;
        w->errpath = util_strdup(dir);
        return -1;
    }
    bool first = true;
    sb_puts(out, "[");
    for (size_t i = 0; i < n && !w->rc; i++) {
        if (++w->visited > MCP_WALK_MAX) {
            w->rc = CUSTODY_ETOOBIG;
            w->errpath = util_strdup(dir);
            break;
        }
        char *full = util_path_join(dir, d[i].name);
        char *rel = mcp_path_relative(w->root, full);
        if (!excluded(w, rel, true)) {
            sb_puts(out, first ? "\n" : ",\n");
            first = false;
            indent(out, level + 1);
            sb_puts(out, "{\n");
            indent(out, level + 2);
            sb_puts(out, "\"name\": ");
            sb_jcs_string(out, d[i].name, strlen(d[i].name));
            sb_puts(out, ",\n");
            indent(out, level + 2);
            bool isdir = d[i].type == CUSTODY_TYPE_DIR;
            sb_printf(out, "\"type\": \"%s\"", isdir ? "directory" : "file");
            if (isdir) {
                sb_puts(out, ",\n");
                indent(out, level + 2);
                sb_puts(out, "\"children\": ");
                tree(w, full, out, level + 2);
            }
            sb_puts(out, "\n");
            indent(out, level + 1);
            sb_puts(out, "}");
        }
        free(full);
        free(rel);
    }
    if (!first) {
        sb_puts(out, "\n");
        indent(out, level);
    }
    sb_puts(out, "]");
    custody_dirents_free(d, n);
    return w->rc ? -1 : 0;
}

static void compile_excludes(struct walk *w, json_t *arr)
{
    size_t n = json_array_size(arr), i;
    json_t *p;
    w->excludes = util_calloc(n ? n : 1, sizeof *w->excludes);
    json_array_foreach(arr, i, p)
    {
        const char *pat = json_string_value(p);
        struct exclude *e = &w->excludes[w->nexcl++];
        e->g = mcp_glob_compile(pat);
        if (!strchr(pat, '*')) {
            struct strbuf a = STRBUF_INIT;
            sb_printf(&a, "**/%s", pat);
            e->any_depth = mcp_glob_compile(a.buf);
            sb_puts(&a, "/**");
            e->below = mcp_glob_compile(a.buf);
            sb_free(&a);
        }
    }
}

static void walk_free(struct walk *w)
{
    for (size_t i = 0; i < w->nexcl; i++) {
        mcp_glob_free(w->excludes[i].g);
        mcp_glob_free(w->excludes[i].any_depth);
        mcp_glob_free(w->excludes[i].below);
    }
    free(w->excludes);
    free(w->errpath);
    mcp_glob_free(w->pattern);
}

static json_t *walk_error(struct walk *w)
{
    if (w->rc == CUSTODY_ETOOBIG) {
        struct strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "Too many entries: custody mcp visits at most %u per call", MCP_WALK_MAX);
        return mcp_tool_error_take(sb_detach(&sb));
    }
    return mcp_tool_error_take(mcp_fs_error(w->m, w->rc, "scandir", w->errpath, NULL));
}

static json_t *tool_tree(struct mcp *m, json_t *args)
{
    const char *req = json_string_value(json_object_get(args, "path"));
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, req, &res, &err);
    if (!abs) return err;
    free(res);
    struct walk w = {.m = m, .root = abs};
    compile_excludes(&w, json_object_get(args, "excludePatterns"));
    struct strbuf out = STRBUF_INIT;
    json_t *r;
    if (tree(&w, abs, &out, 0) == 0)
        r = mcp_text_result(out.buf, out.len);
    else
        r = walk_error(&w);
    sb_free(&out);
    walk_free(&w);
    free(abs);
    return r;
}

/* ---- search_files ---- */

/* Only the starting directory's failure is an error (top); below it an
 * unreadable directory is skipped, as in the reference. */
static void search(struct walk *w, const char *dir, bool top)
{
    char *res = mcp_resource(w->m, dir);
    if (!res) return;
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int rc = list_dir(w->m, res, &d, &n);
    free(res);
    if (rc) {
        if (top) {
            w->rc = rc;
            w->errpath = util_strdup(dir);
        }
        return;
    }
    for (size_t i = 0; i < n && w->rc != CUSTODY_ETOOBIG; i++) {
        if (++w->visited > MCP_WALK_MAX) {
            w->rc = CUSTODY_ETOOBIG;
            break;
        }
        char *full = util_path_join(dir, d[i].name);
        char *rel = mcp_path_relative(w->root, full);
        bool skip = excluded(w, rel, false);
        if (!skip && d[i].type == CUSTODY_TYPE_SYMLINK) {
            /* the reference skips links that leave the allowed directories */
            char *lres = mcp_resource(w->m, full);
            custody_stat_t st;
            if (lres && custody_stat(w->m->c, lres, &st) == CUSTODY_EESCAPE) skip = true;
            free(lres);
        }
        if (!skip && mcp_within_allowed(w->m, full)) {
            if (mcp_glob_test(w->pattern, rel))
                json_array_append_new(w->results, json_string(full));
            if (d[i].type == CUSTODY_TYPE_DIR) search(w, full, false);
        }
        free(full);
        free(rel);
    }
    custody_dirents_free(d, n);
}

static json_t *tool_search(struct mcp *m, json_t *args)
{
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    free(res);
    struct walk w = {.m = m, .root = abs, .results = json_array()};
    compile_excludes(&w, json_object_get(args, "excludePatterns"));
    w.pattern = mcp_glob_compile(json_string_value(json_object_get(args, "pattern")));
    search(&w, abs, true);
    json_t *r;
    if (w.rc) {
        r = walk_error(&w);
    } else {
        struct strbuf out = STRBUF_INIT;
        size_t i;
        json_t *p;
        sb_puts(&out, "");
        json_array_foreach(w.results, i, p)
            sb_printf(&out, "%s%s", i ? "\n" : "", json_string_value(p));
        if (json_array_size(w.results) == 0) sb_puts(&out, "No matches found");
        r = mcp_text_result(out.buf, out.len);
        sb_free(&out);
    }
    json_decref(w.results);
    walk_free(&w);
    free(abs);
    return r;
}

/* ---- get_file_info, list_allowed_directories ---- */

static json_t *tool_info(struct mcp *m, json_t *args)
{
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    custody_stat_t st;
    int rc;
    MCP_RETRY(m, rc, custody_stat(m->c, res, &st));
    json_t *r;
    if (rc) {
        r = mcp_tool_error_take(mcp_fs_error(m, rc, "stat", abs, NULL));
    } else {
        /* The reference prints fs.stat: birthtime (the epoch where the file
         * system records none), mtime, atime and mode.toString(8).slice(-3).
         * A custodyd that does not report mode and times gets mtime for the
         * times and the permissions custodyd gives new files (644, 755). */
        char mt[160], bt[160], at[160], perm[8];
        bool dir = st.type == CUSTODY_TYPE_DIR;
        bool meta = st.mode >= 0;
        mcp_js_date(st.mtime, mt);
        mcp_js_date(st.btime[0] ? st.btime : meta ? "1970-01-01T00:00:00Z" : st.mtime, bt);
        mcp_js_date(st.atime[0] ? st.atime : st.mtime, at);
        snprintf(perm, sizeof perm, "%03o", meta ? (unsigned)st.mode & 0777 : dir ? 0755 : 0644);
        struct strbuf out = STRBUF_INIT;
        sb_printf(&out,
                  "size: %llu\ncreated: %s\nmodified: %s\naccessed: %s\nisDirectory: %s\n"
                  "isFile: %s\npermissions: %s",
                  (unsigned long long)st.size, bt, mt, at, dir ? "true" : "false",
                  st.type == CUSTODY_TYPE_FILE ? "true" : "false", perm);
        r = mcp_text_result(out.buf, out.len);
        sb_free(&out);
    }
    free(abs);
    free(res);
    return r;
}

static json_t *tool_allowed(struct mcp *m, json_t *args)
{
    (void)args;
    char *list = mcp_allowed_list(m, "\n");
    json_t *r = mcp_text_resultf("Allowed directories:\n%s", list);
    free(list);
    return r;
}

/* ---- dispatch ---- */

static json_t *list_plain(struct mcp *m, json_t *args)
{
    return tool_list(m, args, false);
}

static json_t *list_sizes(struct mcp *m, json_t *args)
{
    return tool_list(m, args, true);
}

/* Each tool, and the action a refusal report names for it. */
static const struct {
    const char *name, *action;
    json_t *(*fn)(struct mcp *m, json_t *args);
} tools[] = {
    {"read_file", "read", tool_read_text},
    {"read_text_file", "read", tool_read_text},
    {"read_media_file", "read", tool_read_media},
    {"read_multiple_files", "read", tool_read_multiple},
    {"write_file", "write", mcp_tool_write},
    {"edit_file", "write", mcp_tool_edit},
    {"create_directory", "mkdir", mcp_tool_mkdir},
    {"list_directory", "list", list_plain},
    {"list_directory_with_sizes", "list", list_sizes},
    {"directory_tree", "list", tool_tree},
    {"move_file", "move", mcp_tool_move},
    {"search_files", "list", tool_search},
    {"get_file_info", "stat", tool_info},
    {"list_allowed_directories", "list", tool_allowed},
};

json_t *mcp_call_tool(struct mcp *m, const char *name, json_t *args)
{
    json_t *schema = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(mcp_tool_list(), i,
                       t) if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
        schema = t;
    struct strbuf msg = STRBUF_INIT;
    if (!schema) {
        sb_printf(&msg, "MCP error -32602: Tool %s not found", name);
        return mcp_tool_error_take(sb_detach(&msg));
    }
    json_t *input = json_object_get(schema, "inputSchema");
    json_t *a = args ? json_deep_copy(args) : json_object();
    struct strbuf issues = STRBUF_INIT;
    check(input, a, "", &issues);
    if (issues.len) {
        sb_printf(&msg,
                  "MCP error -32602: Input validation error: Invalid arguments for tool %s: %s",
                  name, issues.buf);
        sb_free(&issues);
        json_decref(a);
        return mcp_tool_error_take(sb_detach(&msg));
    }
    apply_defaults(input, a);
    json_t *r = NULL;
    for (size_t k = 0; k < UTIL_ARRAY_LEN(tools) && !r; k++)
        if (strcmp(tools[k].name, name) == 0) {
            m->action = tools[k].action;
            r = tools[k].fn(m, a);
        }
    json_decref(a);
    return r ? r : mcp_tool_error("internal error");
}
