/*
 * config.c — config.yaml and roots.yaml: defaults, strict parsing,
 * validation, writing roots.yaml, and reference counting.
 *
 * Parsing one file goes through four steps (load_yaml and the walkers):
 *
 *   1. Whole-text checks: the size limit, NUL bytes and UTF-8, each reported
 *      with its line.
 *   2. An event pass with libyaml's parser that refuses what custody does
 *      not support: tags, anchors, aliases, %TAG directives, a second
 *      document, and nesting deeper than CONFIG_MAX_DEPTH. Refusing aliases
 *      before anything walks the tree is what makes "billion laughs" inputs
 *      cheap. This pass also reports YAML syntax errors.
 *   3. yaml_parser_load builds the node tree; every node knows its line.
 *   4. A walk of the tree against a schema reports every problem it finds.
 *
 * For config.yaml the walk runs twice: first only to find problems, then,
 * when there are none, again to store the values. So a config with errors
 * never changes the struct it was parsed into. roots.yaml is parsed into a
 * new array that replaces the old one only when it is free of errors.
 *
 * Problems are appended to the error buffer as "FILE:LINE: problem\n" (lines
 * are 1-based), at most CONFIG_MAX_ERRORS of them plus a summary line.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config.h"

#define NODE_NAME_MAX 255
#define ADDRESS_MAX 255
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define SHOW_MAX 96 /* see show_text */

/* ------------------------------------------------------------------------ */
/* Error reporting                                                          */
/* ------------------------------------------------------------------------ */

struct parse_ctx {
    const char *file; /* "config.yaml", used in messages */
    const char *text; /* the input, to turn byte offsets into lines */
    size_t len;
    struct strbuf *err; /* may be NULL */
    size_t nerrors;     /* all problems found, also those past the cap */
    int rc;             /* the code to return when nerrors > 0 */

    yaml_document_t *doc;       /* the loaded document (step 3) */
    struct custody_config *cfg; /* state_dir for relative paths; values go here */
    bool apply;                 /* config.yaml: second walk, store the values */
};

static void perr(struct parse_ctx *ctx, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct parse_ctx *ctx, size_t line, const char *fmt, ...)
{
    if (ctx->nerrors++ >= CONFIG_MAX_ERRORS || !ctx->err) return;
    va_list ap;
    va_start(ap, fmt);
    sb_printf(ctx->err, "%s:%zu: ", ctx->file, line);
    sb_vprintf(ctx->err, fmt, ap);
    sb_puts(ctx->err, "\n");
    va_end(ap);
}

/* Ends a parse: the summary line past the cap, and the return code. */
static int finish(struct parse_ctx *ctx)
{
    if (ctx->nerrors > CONFIG_MAX_ERRORS && ctx->err)
        sb_printf(ctx->err, "%s: %zu more problems not shown\n", ctx->file,
                  ctx->nerrors - CONFIG_MAX_ERRORS);
    if (ctx->nerrors == 0) return 0;
    return ctx->rc ? ctx->rc : CUSTODY_ECONFIG;
}

static size_t node_line(const yaml_node_t *node)
{
    return node->start_mark.line + 1;
}

/* 1-based line of a byte offset into the input. */
static size_t offset_line(const struct parse_ctx *ctx, size_t offset)
{
    size_t line = 1;
    for (size_t i = 0; i < offset && i < ctx->len; i++)
        if (ctx->text[i] == '\n') line++;
    return line;
}

/*
 * Renders untrusted text for a message: in double quotes, with quotes,
 * backslashes and control characters escaped (a message stays one line),
 * cut after about 64 bytes at a character boundary. Fits in SHOW_MAX: each
 * byte becomes at most 4, and past 64 only continuation bytes (copied one
 * for one, at most 7 even if the text is not UTF-8) may follow.
 */
static const char *show_text(char out[SHOW_MAX], const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    size_t i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= 65 && ((c & 0xc0) != 0x80 || o >= 72)) break;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static bool is_scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE;
}

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t scalar_len(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static bool scalar_is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool scalar_eq(const yaml_node_t *n, const char *s)
{
    size_t len = strlen(s);
    return is_scalar(n) && scalar_len(n) == len && memcmp(scalar_text(n), s, len) == 0;
}

/* YAML's null: an empty plain value ("limits:" with nothing under it), ~ or null. */
static bool is_null(const yaml_node_t *n)
{
    return is_scalar(n) && scalar_is_plain(n) &&
           (scalar_len(n) == 0 || scalar_eq(n, "~") || scalar_eq(n, "null"));
}

/* What a node is, for "expected X, got Y" messages. */
static const char *show_node(char out[SHOW_MAX], const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        if (scalar_is_plain(n) && scalar_len(n) == 0) return "an empty value";
        return show_text(out, scalar_text(n), scalar_len(n));
    default:
        return "nothing";
    }
}

static bool has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Steps 1-3: checking and loading the YAML text                            */
/* ------------------------------------------------------------------------ */

static void report_yaml_error(struct parse_ctx *ctx, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        ctx->rc = CUSTODY_ENOMEM;
        perr(ctx, 1, "out of memory while parsing");
        break;
    case YAML_READER_ERROR:
        perr(ctx, offset_line(ctx, p->problem_offset), "%s", problem);
        break;
    default:
        if (p->context)
            perr(ctx, p->problem_mark.line + 1, "YAML syntax error: %s (%s at line %zu)", problem,
                 p->context, p->context_mark.line + 1);
        else
            perr(ctx, p->problem_mark.line + 1, "YAML syntax error: %s", problem);
    }
}

/* Step 1: size, NUL bytes and UTF-8. A newline is never part of a multibyte
 * sequence, so checking line by line finds the exact line. */
static void check_text(struct parse_ctx *ctx)
{
    if (ctx->len > CONFIG_MAX_FILE_BYTES) {
        perr(ctx, 1, "file is too large (%zu bytes; at most %u)", ctx->len,
             (unsigned)CONFIG_MAX_FILE_BYTES);
        return;
    }
    size_t line = 1;
    for (size_t start = 0; start < ctx->len; line++) {
        const char *s = ctx->text + start;
        const char *nl = memchr(s, '\n', ctx->len - start);
        size_t n = nl ? (size_t)(nl - s) : ctx->len - start;
        if (has_nul(s, n))
            perr(ctx, line, "contains a NUL byte");
        else if (!util_utf8_valid(s, n))
            perr(ctx, line, "is not valid UTF-8");
        start += n + 1;
    }
}

/* Anchor names are safe to print as they are: libyaml accepts only
 * letters, digits, '_' and '-' in them. Tags may hold anything. */
static void check_anchor_and_tag(struct parse_ctx *ctx, size_t line, const yaml_char_t *anchor,
                                 const yaml_char_t *tag)
{
    char shown[SHOW_MAX];
    if (anchor)
        perr(ctx, line, "anchors and aliases are not supported (found &%s)", (const char *)anchor);
    if (tag)
        perr(ctx, line, "tags are not supported (found %s)",
             show_text(shown, (const char *)tag, strlen((const char *)tag)));
}

/* A libyaml parser over ctx's text (both passes read the same input). */
static bool parser_open(struct parse_ctx *ctx, yaml_parser_t *p)
{
    if (!yaml_parser_initialize(p)) {
        ctx->rc = CUSTODY_ENOMEM;
        perr(ctx, 1, "out of memory while parsing");
        return false;
    }
    yaml_parser_set_input_string(p, (const unsigned char *)ctx->text, ctx->len);
    yaml_parser_set_encoding(p, YAML_UTF8_ENCODING);
    return true;
}

/* Step 2: the event pass. Returns false on a syntax error or runaway
 * nesting (other problems are counted in ctx->nerrors). */
static bool scan_events(struct parse_ctx *ctx)
{
    yaml_parser_t p;
    if (!parser_open(ctx, &p))
        return false;

    bool ok = true, done = false;
    int depth = 0, documents = 0;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_yaml_error(ctx, &p);
            ok = false;
            break;
        }
        size_t line = ev.start_mark.line + 1;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents == 2) perr(ctx, line, "only one YAML document is allowed");
            if (ev.data.document_start.tag_directives.start !=
                ev.data.document_start.tag_directives.end)
                perr(ctx, line, "%%TAG directives are not supported");
            break;
        case YAML_ALIAS_EVENT:
            perr(ctx, line, "aliases are not supported (found *%s)",
                 (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            check_anchor_and_tag(ctx, line, ev.data.scalar.anchor, ev.data.scalar.tag);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (ev.type == YAML_SEQUENCE_START_EVENT)
                check_anchor_and_tag(ctx, line, ev.data.sequence_start.anchor,
                                     ev.data.sequence_start.tag);
            else
                check_anchor_and_tag(ctx, line, ev.data.mapping_start.anchor,
                                     ev.data.mapping_start.tag);
            if (++depth > CONFIG_MAX_DEPTH) {
                perr(ctx, line, "nesting is deeper than %d levels", CONFIG_MAX_DEPTH);
                ok = false;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return ok;
}

/*
 * Steps 1-3. Returns true with *doc loaded (the caller deletes it) when the
 * text is one plain YAML document, or false with the problems reported. The
 * document may have no root node (an empty file, or only comments).
 */
static bool load_yaml(struct parse_ctx *ctx, yaml_document_t *doc)
{
    check_text(ctx);
    if (ctx->nerrors) return false;
    if (!scan_events(ctx) || ctx->nerrors) return false;

    yaml_parser_t p;
    if (!parser_open(ctx, &p))
        return false;
    bool ok = yaml_parser_load(&p, doc) != 0;
    if (!ok) report_yaml_error(ctx, &p);
    yaml_parser_delete(&p);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* Step 4: the schema                                                       */
/* ------------------------------------------------------------------------ */

enum setting_kind {
    SET_KEY_ONLY,    /* a key of a roots.yaml mapping; its value is parsed by hand */
    SET_SECTION,     /* a mapping of further settings (children) */
    SET_NAME,        /* node.name: 1..255 bytes, no control characters */
    SET_ADDRESS,     /* an IP address or a host name */
    SET_TOKEN,       /* 1..255 bytes, no spaces, no '+' (audit origin, labels) */
    SET_PATH,        /* a file path; relative ones are relative to the state dir */
    SET_SOCKET_PATH, /* a SET_PATH that must fit in a sockaddr_un */
    SET_MODE,        /* octal permission bits, at most 0777 */
    SET_BOOL,        /* true or false */
    SET_UINT,        /* a decimal integer in [min, max] */
    SET_LOG_LEVEL,   /* error, warn, info or debug */
};

/* The C type of a SET_UINT field. */
enum uint_type { UINT_INT, UINT_UNSIGNED, UINT_SIZE, UINT_U64 };

struct setting {
    const char *key;
    enum setting_kind kind;
    size_t offset; /* of the field in struct custody_config */
    enum uint_type type;
    uint64_t min, max;
    const struct setting *children; /* SET_SECTION; ends with an entry whose key is NULL */
};

/* Mapping keys are matched against a table with a "seen" slot per entry. */
#define SECTION_MAX_KEYS 16

#define FIELD(f) offsetof(struct custody_config, f)
#define VALUE(k, kd, f)                                                                            \
    {                                                                                              \
        .key = k, .kind = kd, .offset = FIELD(f)                                                   \
    }
#define UINT(k, f, t, lo, hi)                                                                      \
    {                                                                                              \
        .key = k, .kind = SET_UINT, .offset = FIELD(f), .type = t, .min = lo, .max = hi            \
    }
#define SECTION(k, c)                                                                              \
    {                                                                                              \
        .key = k, .kind = SET_SECTION, .children = c                                               \
    }

static const struct setting node_settings[] = {
    VALUE("name", SET_NAME, node_name),
    {.key = NULL},
};
static const struct setting unix_settings[] = {
    VALUE("path", SET_SOCKET_PATH, unix_path),
    VALUE("mode", SET_MODE, unix_mode),
    {.key = NULL},
};
static const struct setting tcp_settings[] = {
    VALUE("enabled", SET_BOOL, tcp_enabled),
    VALUE("address", SET_ADDRESS, tcp_address),
    UINT("port", tcp_port, UINT_INT, 0, 65535), /* 0: any free port */
    {.key = NULL},
};
static const struct setting listen_settings[] = {
    SECTION("unix", unix_settings),
    SECTION("tcp", tcp_settings),
    {.key = NULL},
};
static const struct setting tls_settings[] = {
    VALUE("cert", SET_PATH, tls_cert),
    VALUE("key", SET_PATH, tls_key),
    {.key = NULL},
};
static const struct setting limits_settings[] = {
    UINT("max_header_bytes", max_header_bytes, UINT_SIZE, 1024, 1048576),
    UINT("max_headers", max_headers, UINT_SIZE, 8, 1000),
    UINT("max_uri_bytes", max_uri_bytes, UINT_SIZE, 256, 65536),
    UINT("max_body_bytes", max_body_bytes, UINT_U64, 0, UINT64_C(1) << 62),
    UINT("max_connections", max_connections, UINT_UNSIGNED, 1, 1000000),
    UINT("max_streams", max_streams, UINT_UNSIGNED, 1, 1000),
    UINT("header_timeout_ms", header_timeout_ms, UINT_UNSIGNED, 100, 3600000),
    UINT("idle_timeout_ms", idle_timeout_ms, UINT_UNSIGNED, 100, 86400000),
    UINT("io_timeout_ms", io_timeout_ms, UINT_UNSIGNED, 100, 3600000),
    UINT("drain_timeout_ms", drain_timeout_ms, UINT_UNSIGNED, 0, 3600000),
    UINT("list_max_entries", list_max_entries, UINT_SIZE, 1, 10000000),
    {.key = NULL},
};
static const struct setting store_settings[] = {
    VALUE("versions", SET_BOOL, versions),
    VALUE("encrypt_label", SET_TOKEN, store_encrypt_label),
    {.key = NULL},
};
static const struct setting log_settings[] = {
    VALUE("level", SET_LOG_LEVEL, log_level),
    {.key = NULL},
};
static const struct setting pseudonymize_settings[] = {
    VALUE("principal_id", SET_BOOL, audit_pseudo_principal),
    VALUE("agent_id", SET_BOOL, audit_pseudo_agent),
    VALUE("session_id", SET_BOOL, audit_pseudo_session),
    VALUE("root_label", SET_TOKEN, audit_sensitive_label),
    {.key = NULL},
};
static const struct setting audit_settings[] = {
    VALUE("origin", SET_TOKEN, audit_origin),
    UINT("checkpoint_interval_ms", audit_checkpoint_interval_ms, UINT_UNSIGNED, 10, 600000),
    UINT("batch_max", audit_batch_max, UINT_SIZE, 1, 65536),
    SECTION("pseudonymize", pseudonymize_settings),
    {.key = NULL},
};
static const struct setting tokens_settings[] = {
    UINT("ttl_default_s", token_ttl_default_s, UINT_UNSIGNED, 1, 86400),
    UINT("ttl_max_s", token_ttl_max_s, UINT_UNSIGNED, 1, 86400),
    UINT("ttl_sensitive_s", token_ttl_sensitive_s, UINT_UNSIGNED, 1, 86400),
    {.key = NULL},
};
static const struct setting models_settings[] = {
    UINT("max_bytes", models_max_bytes, UINT_U64, 0, UINT64_C(1) << 62),
    {.key = NULL},
};
static const struct setting top_settings[] = {
    SECTION("node", node_settings),
    SECTION("listen", listen_settings),
    SECTION("tls", tls_settings),
    SECTION("limits", limits_settings),
    SECTION("store", store_settings),
    SECTION("log", log_settings),
    SECTION("audit", audit_settings),
    SECTION("tokens", tokens_settings),
    SECTION("models", models_settings),
    {.key = NULL},
};

/* match_key's seen[] has SECTION_MAX_KEYS slots; limits is the largest table. */
_Static_assert(UTIL_ARRAY_LEN(limits_settings) <= SECTION_MAX_KEYS, "raise SECTION_MAX_KEYS");

/* roots.yaml: only the keys; the values are checked in walk_roots. */
static const struct setting roots_top_keys[] = {{.key = "roots"}, {.key = NULL}};
static const struct setting root_keys[] = {
    {.key = "name"}, {.key = "path"}, {.key = "labels"}, {.key = NULL}};
enum { ROOT_NAME, ROOT_PATH, ROOT_LABELS };

/* "in limits" / "at the top level", for unknown-key messages. */
static void where_phrase(char *out, size_t outsz, const char *where)
{
    if (*where)
        util_snprintf(out, outsz, "in %s", where);
    else
        util_strlcpy(out, "at the top level", outsz);
}

/*
 * Matches one mapping key against table. Reports a key that is not a string,
 * an unknown key (listing the known ones) and a duplicate key (seen[] holds
 * the key node of each entry met so far). Returns the entry or NULL.
 */
static const struct setting *match_key(struct parse_ctx *ctx, const yaml_node_t *key,
                                       const struct setting *table, const yaml_node_t **seen,
                                       const char *where)
{
    char shown[SHOW_MAX], wh[128];
    where_phrase(wh, sizeof wh, where);
    if (!is_scalar(key)) {
        perr(ctx, node_line(key), "keys must be strings, got %s %s", show_node(shown, key), wh);
        return NULL;
    }
    for (size_t i = 0; table[i].key; i++) {
        if (!scalar_eq(key, table[i].key)) continue;
        if (seen[i]) {
            perr(ctx, node_line(key), "duplicate key \"%s\" %s (first at line %zu)", table[i].key,
                 wh, node_line(seen[i]));
            return NULL;
        }
        seen[i] = key;
        return &table[i];
    }
    struct strbuf known = STRBUF_INIT;
    for (size_t i = 0; table[i].key; i++)
        sb_printf(&known, "%s%s", i ? ", " : "", table[i].key);
    perr(ctx, node_line(key), "unknown key %s %s (expected one of: %s)",
         show_text(shown, scalar_text(key), scalar_len(key)), wh, known.buf);
    sb_free(&known);
    return NULL;
}

/* A plain decimal integer: digits only, no sign, no leading zero. */
static bool parse_decimal(const yaml_node_t *n, uint64_t *out)
{
    if (!is_scalar(n) || !scalar_is_plain(n)) return false;
    const char *s = scalar_text(n);
    size_t len = scalar_len(n);
    if (len > 1 && s[0] == '0') return false;
    return util_parse_u64(s, len, out) == 0;
}

/* Octal permission bits: "0660", 0660, 660 or 0o660 (always octal), <= 0777. */
static bool parse_mode(const yaml_node_t *n, mode_t *out)
{
    if (!is_scalar(n)) return false;
    const char *s = scalar_text(n);
    size_t len = scalar_len(n);
    if (len > 2 && s[0] == '0' && s[1] == 'o') s += 2, len -= 2;
    if (len == 0 || len > 4) return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '7') return false;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > 0777) return false;
    *out = (mode_t)v;
    return true;
}

static bool address_valid(const char *s, size_t len)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1) return true;
    /* a host name: letters, digits, '-' and '.', starting with a letter or digit */
    if (len == 0 || len > ADDRESS_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '.'))) return false;
    }
    return true;
}

/* An absolute path as given; a relative one joined to the state directory
 * (and tidied: "./x" gives STATE/x). */
static char *resolve_path(const struct custody_config *cfg, const char *path)
{
    if (path[0] == '/') return util_strdup(path);
    char *joined = util_path_join(cfg->state_dir, path);
    char *tidy = config_path_absolute(joined);
    free(joined);
    return tidy;
}

static void store_string(char **field, char *value)
{
    free(*field);
    *field = value;
}

static void store_uint(void *field, enum uint_type type, uint64_t v)
{
    switch (type) {
    case UINT_INT:
        *(int *)field = (int)v;
        break;
    case UINT_UNSIGNED:
        *(unsigned *)field = (unsigned)v;
        break;
    case UINT_SIZE:
        *(size_t *)field = (size_t)v;
        break;
    case UINT_U64:
        *(uint64_t *)field = v;
        break;
    }
}

/* The string settings (name, address, paths): one non-empty line of text. */
static void parse_string_setting(struct parse_ctx *ctx, const yaml_node_t *value,
                                 const struct setting *s, const char *name, void *field)
{
    char shown[SHOW_MAX];
    size_t line = node_line(value);
    if (!is_scalar(value) || is_null(value) || scalar_len(value) == 0) {
        perr(ctx, line, "%s: expected a non-empty string, got %s", name, show_node(shown, value));
        return;
    }
    const char *text = scalar_text(value);
    size_t len = scalar_len(value);
    if (has_control(text, len)) {
        perr(ctx, line, "%s: must not contain control characters, got %s", name,
             show_text(shown, text, len));
        return;
    }
    char *result = NULL;
    switch (s->kind) {
    case SET_NAME:
        if (len > NODE_NAME_MAX) {
            perr(ctx, line, "%s: longer than %d bytes", name, NODE_NAME_MAX);
            return;
        }
        result = util_strndup(text, len);
        break;
    case SET_TOKEN:
        if (len == 0 || len > 255 || memchr(text, ' ', len) || memchr(text, '+', len) ||
            !util_utf8_valid(text, len)) {
            perr(ctx, line, "%s: expected 1..255 bytes of UTF-8 without spaces or '+', got %s",
                 name, show_text(shown, text, len));
            return;
        }
        result = util_strndup(text, len);
        break;
    case SET_ADDRESS:
        if (!address_valid(text, len)) {
            perr(ctx, line, "%s: expected an IP address or host name such as 127.0.0.1, got %s",
                 name, show_text(shown, text, len));
            return;
        }
        result = util_strndup(text, len);
        break;
    case SET_PATH:
    case SET_SOCKET_PATH: {
        result = resolve_path(ctx->cfg, text);
        size_t max = s->kind == SET_SOCKET_PATH ? SOCKET_PATH_MAX : PATH_MAX - 1;
        if (strlen(result) > max) {
            perr(ctx, line, "%s: the path %s is too long (%zu bytes; at most %zu)", name,
                 show_text(shown, result, strlen(result)), strlen(result), max);
            free(result);
            return;
        }
        break;
    }
    default:
        return;
    }
    if (ctx->apply)
        store_string(field, result);
    else
        free(result);
}

/* One leaf setting: checks value and, on the applying walk, stores it. */
static void parse_setting(struct parse_ctx *ctx, const yaml_node_t *value, const struct setting *s,
                          const char *name)
{
    char shown[SHOW_MAX];
    void *field = (char *)ctx->cfg + s->offset;
    size_t line = node_line(value);
    /* a quoted number or boolean gets a hint: the quotes make it a string */
    const char *hint = is_scalar(value) && !scalar_is_plain(value) ? " (without quotes)" : "";

    switch (s->kind) {
    case SET_UINT: {
        uint64_t v;
        if (!parse_decimal(value, &v) || v < s->min || v > s->max) {
            perr(ctx, line, "%s: expected an integer between %" PRIu64 " and %" PRIu64 "%s, got %s",
                 name, s->min, s->max, hint, show_node(shown, value));
            return;
        }
        if (ctx->apply) store_uint(field, s->type, v);
        return;
    }
    case SET_BOOL: {
        bool t = is_scalar(value) && scalar_is_plain(value) && scalar_eq(value, "true");
        bool f = is_scalar(value) && scalar_is_plain(value) && scalar_eq(value, "false");
        if (!t && !f) {
            perr(ctx, line, "%s: expected true or false%s, got %s", name, hint,
                 show_node(shown, value));
            return;
        }
        if (ctx->apply) *(bool *)field = t;
        return;
    }
    case SET_MODE: {
        mode_t mode;
        if (!parse_mode(value, &mode)) {
            perr(ctx, line, "%s: expected an octal mode from 0000 to 0777 such as \"0660\", got %s",
                 name, show_node(shown, value));
            return;
        }
        if (ctx->apply) *(mode_t *)field = mode;
        return;
    }
    case SET_LOG_LEVEL: {
        enum log_level lvl;
        if (!is_scalar(value) || has_nul(scalar_text(value), scalar_len(value)) ||
            log_level_parse(scalar_text(value), &lvl) != 0) {
            perr(ctx, line, "%s: expected one of error, warn, info, debug, got %s", name,
                 show_node(shown, value));
            return;
        }
        if (ctx->apply) *(enum log_level *)field = lvl;
        return;
    }
    default:
        parse_string_setting(ctx, value, s, name, field);
    }
}

/* A mapping of settings described by table; where is its dotted name ("" at the top). */
static void walk_section(struct parse_ctx *ctx, const yaml_node_t *node,
                         const struct setting *table, const char *where)
{
    char shown[SHOW_MAX];
    if (is_null(node)) return; /* "limits:" with everything under it commented out */
    if (node->type != YAML_MAPPING_NODE) {
        if (*where)
            perr(ctx, node_line(node), "%s: expected a mapping, got %s", where,
                 show_node(shown, node));
        else
            perr(ctx, node_line(node), "expected a mapping at the top level, got %s",
                 show_node(shown, node));
        return;
    }
    const yaml_node_t *seen[SECTION_MAX_KEYS] = {NULL};
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
        const yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
        if (!key || !value) continue;
        const struct setting *s = match_key(ctx, key, table, seen, where);
        if (!s) continue;
        char name[128];
        if (*where)
            util_snprintf(name, sizeof name, "%s.%s", where, s->key);
        else
            util_strlcpy(name, s->key, sizeof name);
        if (s->kind == SET_SECTION)
            walk_section(ctx, value, s->children, name);
        else
            parse_setting(ctx, value, s, name);
    }
}

/* ------------------------------------------------------------------------ */
/* config.yaml                                                              */
/* ------------------------------------------------------------------------ */

int config_parse_main(struct custody_config *cfg, const char *filename, const char *text,
                      size_t len, struct strbuf *err)
{
    struct parse_ctx ctx = {.file = filename, .text = text, .len = len, .err = err, .cfg = cfg};
    yaml_document_t doc;
    if (!load_yaml(&ctx, &doc)) return finish(&ctx);
    ctx.doc = &doc;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        walk_section(&ctx, root, top_settings, "");
        if (ctx.nerrors == 0) {
            ctx.apply = true;
            walk_section(&ctx, root, top_settings, "");
        }
    }
    yaml_document_delete(&doc);
    return finish(&ctx);
}

/* ------------------------------------------------------------------------ */
/* roots.yaml                                                               */
/* ------------------------------------------------------------------------ */

bool config_root_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CONFIG_NAME_MAX) return false;
    /* capability tokens name models as model:/NAME@VERSION: no root may be called that */
    if (strcmp(name, "model") == 0) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
    }
    return true;
}

bool config_label_key_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > 64) return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '_' && c != '.' && c != '-') return false;
    }
    return true;
}

void config_root_free(struct cfg_root *r)
{
    if (!r) return;
    free(r->name);
    free(r->path);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->labels);
    memset(r, 0, sizeof *r);
}

void config_root_copy(struct cfg_root *dst, const struct cfg_root *src)
{
    dst->name = util_strdup(src->name);
    dst->path = util_strdup(src->path);
    dst->nlabels = src->nlabels;
    dst->labels = src->nlabels ? util_calloc(src->nlabels, sizeof *dst->labels) : NULL;
    for (size_t i = 0; i < src->nlabels; i++) {
        dst->labels[i].key = util_strdup(src->labels[i].key);
        dst->labels[i].value = util_strdup(src->labels[i].value);
    }
}

static void free_roots(struct cfg_root *roots, size_t n)
{
    for (size_t i = 0; i < n; i++)
        config_root_free(&roots[i]);
    free(roots);
}

/* labels: a mapping of up to CONFIG_MAX_LABELS key: "value" pairs. */
static void walk_labels(struct parse_ctx *ctx, const yaml_node_t *node, const char *where,
                        struct cfg_root *out)
{
    char shown[SHOW_MAX];
    if (is_null(node)) return;
    if (node->type != YAML_MAPPING_NODE) {
        perr(ctx, node_line(node), "%s: expected a mapping of label: value, got %s", where,
             show_node(shown, node));
        return;
    }
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (n > CONFIG_MAX_LABELS) {
        perr(ctx, node_line(node), "%s: too many labels (%zu; at most %d)", where, n,
             CONFIG_MAX_LABELS);
        return;
    }
    out->labels = n ? util_calloc(n, sizeof *out->labels) : NULL;
    size_t lines[CONFIG_MAX_LABELS]; /* where each stored key was, for duplicates */
    for (size_t i = 0; i < n; i++) {
        const yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        const yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
        const yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
        if (!key || !value) continue;
        if (!is_scalar(key) || has_nul(scalar_text(key), scalar_len(key)) ||
            !config_label_key_valid(scalar_text(key))) {
            perr(ctx, node_line(key),
                 "%s: invalid label key %s (1 to 64 letters, digits, '_', '.' or '-')", where,
                 show_node(shown, key));
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < out->nlabels && !dup; j++) {
            if (strcmp(out->labels[j].key, scalar_text(key)) == 0) {
                perr(ctx, node_line(key), "%s: duplicate label %s (first at line %zu)", where,
                     show_node(shown, key), lines[j]);
                dup = true;
            }
        }
        if (dup) continue;
        if (!is_scalar(value) || is_null(value)) {
            perr(ctx, node_line(value), "%s.%s: expected a string, got %s", where, scalar_text(key),
                 show_node(shown, value));
            continue;
        }
        size_t vlen = scalar_len(value);
        if (has_nul(scalar_text(value), vlen) || vlen > CONFIG_LABEL_VALUE_MAX) {
            perr(ctx, node_line(value), "%s.%s: %s", where, scalar_text(key),
                 vlen > CONFIG_LABEL_VALUE_MAX ? "value is longer than 256 bytes"
                                               : "value contains a NUL byte");
            continue;
        }
        lines[out->nlabels] = node_line(key);
        out->labels[out->nlabels].key = util_strndup(scalar_text(key), scalar_len(key));
        out->labels[out->nlabels].value = util_strndup(scalar_text(value), vlen);
        out->nlabels++;
    }
}

/* One root: a mapping with name, path and optional labels. Returns true
 * when *out is complete and free of problems. */
static bool walk_root(struct parse_ctx *ctx, const yaml_node_t *node, size_t index,
                      struct cfg_root *out)
{
    char shown[SHOW_MAX], where[64], field[80];
    util_snprintf(where, sizeof where, "roots[%zu]", index);
    size_t errors_before = ctx->nerrors;
    if (node->type != YAML_MAPPING_NODE) {
        perr(ctx, node_line(node), "%s: expected a mapping with name, path and labels, got %s",
             where, show_node(shown, node));
        return false;
    }
    const yaml_node_t *seen[SECTION_MAX_KEYS] = {NULL};
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const yaml_node_t *key = yaml_document_get_node(ctx->doc, pair->key);
        const yaml_node_t *value = yaml_document_get_node(ctx->doc, pair->value);
        if (!key || !value) continue;
        const struct setting *s = match_key(ctx, key, root_keys, seen, where);
        if (!s) continue;
        util_snprintf(field, sizeof field, "%s.%s", where, s->key);
        if (s - root_keys == ROOT_LABELS) {
            walk_labels(ctx, value, field, out);
            continue;
        }
        if (!is_scalar(value) || is_null(value) || scalar_len(value) == 0 ||
            has_nul(scalar_text(value), scalar_len(value))) {
            perr(ctx, node_line(value), "%s: expected a non-empty string, got %s", field,
                 show_node(shown, value));
            continue;
        }
        const char *text = scalar_text(value);
        if (s - root_keys == ROOT_NAME) {
            if (!config_root_name_valid(text)) {
                perr(ctx, node_line(value),
                     "%s: invalid root name %s (1 to 64 letters, digits, '_' or '-', starting "
                     "with a letter or digit; \"model\" is reserved)",
                     field, show_text(shown, text, scalar_len(value)));
                continue;
            }
            out->name = util_strdup(text);
        } else {
            char *path = resolve_path(ctx->cfg, text);
            if (strlen(path) > PATH_MAX - 1) {
                perr(ctx, node_line(value), "%s: the path is too long (%zu bytes; at most %d)",
                     field, strlen(path), PATH_MAX - 1);
                free(path);
                continue;
            }
            out->path = path;
        }
    }
    if (!seen[ROOT_NAME]) perr(ctx, node_line(node), "%s: missing \"name\"", where);
    if (!seen[ROOT_PATH]) perr(ctx, node_line(node), "%s: missing \"path\"", where);
    return ctx->nerrors == errors_before;
}

/* roots: a list of roots. Fills *roots_out and *n_out, also when there are problems. */
static void walk_roots(struct parse_ctx *ctx, const yaml_node_t *node, struct cfg_root **roots_out,
                       size_t *n_out)
{
    char shown[SHOW_MAX];
    if (is_null(node)) return;
    if (node->type != YAML_SEQUENCE_NODE) {
        perr(ctx, node_line(node), "roots: expected a list of roots, got %s",
             show_node(shown, node));
        return;
    }
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count > CONFIG_MAX_ROOTS) {
        perr(ctx, node_line(node), "roots: too many roots (%zu; at most %d)", count,
             CONFIG_MAX_ROOTS);
        return;
    }
    struct cfg_root *roots = util_calloc(count, sizeof *roots);
    size_t *name_lines = util_calloc(count, sizeof *name_lines); /* for duplicate messages */
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(ctx->doc, node->data.sequence.items.start[i]);
        if (!item) continue;
        struct cfg_root r = {0};
        if (!walk_root(ctx, item, i, &r)) {
            config_root_free(&r);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++) {
            if (strcmp(roots[j].name, r.name) == 0) {
                perr(ctx, node_line(item),
                     "roots[%zu].name: duplicate root name \"%s\" (first at line %zu)", i, r.name,
                     name_lines[j]);
                dup = true;
            }
        }
        if (dup) {
            config_root_free(&r);
            continue;
        }
        name_lines[n] = node_line(item);
        roots[n++] = r;
    }
    free(name_lines);
    *roots_out = roots;
    *n_out = n;
}

int config_parse_roots(struct custody_config *cfg, const char *filename, const char *text,
                       size_t len, struct strbuf *err)
{
    struct parse_ctx ctx = {.file = filename, .text = text, .len = len, .err = err, .cfg = cfg};
    yaml_document_t doc;
    if (!load_yaml(&ctx, &doc)) return finish(&ctx);
    ctx.doc = &doc;

    struct cfg_root *roots = NULL;
    size_t n = 0;
    const yaml_node_t *top = yaml_document_get_root_node(&doc);
    char shown[SHOW_MAX];
    if (top && !is_null(top) && top->type != YAML_MAPPING_NODE) {
        perr(&ctx, node_line(top), "expected a mapping with \"roots:\" at the top level, got %s",
             show_node(shown, top));
    } else if (top && top->type == YAML_MAPPING_NODE) {
        const yaml_node_t *seen[SECTION_MAX_KEYS] = {NULL};
        for (yaml_node_pair_t *pair = top->data.mapping.pairs.start;
             pair < top->data.mapping.pairs.top; pair++) {
            const yaml_node_t *key = yaml_document_get_node(&doc, pair->key);
            const yaml_node_t *value = yaml_document_get_node(&doc, pair->value);
            if (key && value && match_key(&ctx, key, roots_top_keys, seen, ""))
                walk_roots(&ctx, value, &roots, &n);
        }
    }
    yaml_document_delete(&doc);

    if (ctx.nerrors) {
        free_roots(roots, n);
    } else {
        free_roots(cfg->roots, cfg->nroots);
        cfg->roots = roots;
        cfg->nroots = n;
    }
    return finish(&ctx);
}

const struct cfg_root *config_find_root(const struct custody_config *cfg, const char *name)
{
    if (!cfg || !name) return NULL;
    for (size_t i = 0; i < cfg->nroots; i++)
        if (strcmp(cfg->roots[i].name, name) == 0) return &cfg->roots[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Writing roots.yaml                                                       */
/* ------------------------------------------------------------------------ */

/*
 * YAML double-quoted scalars may hold any text once escaped. Besides '"' and
 * '\', escape what a YAML reader would refuse or change: C0 controls, DEL,
 * C1 controls (U+0080..U+009F), the line and paragraph separators U+2028 and
 * U+2029 (line breaks to YAML, so folded), the BOM U+FEFF and the
 * non-characters U+FFFE and U+FFFF. Everything else is copied as UTF-8.
 */
void config_yaml_quote(struct strbuf *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    sb_puts(out, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\r':
            esc = "\\r";
            break;
        }
        if (esc) {
            sb_puts(out, esc);
        } else if (c < 0x20 || c == 0x7f) {
            sb_printf(out, "\\x%02x", c);
        } else if (c == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
            sb_printf(out, "\\x%02x", s[i + 1]); /* C1 control: 2-byte U+0080..U+009F */
            i++;
        } else if (c == 0xe2 && i + 2 < len && s[i + 1] == 0x80 &&
                   (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            sb_puts(out, s[i + 2] == 0xa8 ? "\\L" : "\\P");
            i += 2;
        } else if (c == 0xef && i + 2 < len &&
                   ((s[i + 1] == 0xbb && s[i + 2] == 0xbf) ||
                    (s[i + 1] == 0xbf && (s[i + 2] == 0xbe || s[i + 2] == 0xbf)))) {
            sb_puts(out, s[i + 1] == 0xbb ? "\\uFEFF" : s[i + 2] == 0xbe ? "\\uFFFE" : "\\uFFFF");
            i += 2;
        } else {
            sb_append(out, &s[i], 1);
        }
    }
    sb_puts(out, "\"");
}

/* A root that config_parse_roots would read back unchanged. */
static bool root_savable(const struct cfg_root *r)
{
    if (!r->name || !config_root_name_valid(r->name) || !r->path || !r->path[0] ||
        strlen(r->path) > PATH_MAX - 1 || !util_utf8_valid(r->path, strlen(r->path)) ||
        r->nlabels > CONFIG_MAX_LABELS || (r->nlabels && !r->labels))
        return false;
    for (size_t i = 0; i < r->nlabels; i++) {
        const struct cfg_label *l = &r->labels[i];
        if (!l->key || !config_label_key_valid(l->key) || !l->value ||
            strlen(l->value) > CONFIG_LABEL_VALUE_MAX ||
            !util_utf8_valid(l->value, strlen(l->value)))
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->labels[j].key, l->key) == 0) return false;
    }
    return true;
}

/* Label keys may start with '-' or '.', which YAML could read as syntax;
 * those are quoted, the others are written plain for readability. */
static void put_label_key(struct strbuf *out, const char *key)
{
    char c = key[0];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        sb_puts(out, key);
    else
        config_yaml_quote(out, key, strlen(key));
}

int config_format_roots(const struct cfg_root *roots, size_t n, struct strbuf *out)
{
    if (n > CONFIG_MAX_ROOTS || (n && !roots)) return CUSTODY_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!root_savable(&roots[i])) return CUSTODY_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(roots[j].name, roots[i].name) == 0) return CUSTODY_EINVAL;
    }
    sb_puts(out, "# Roots registered with custodyd (custody root add). Managed by custodyd; "
                 "edit with care.\n");
    sb_puts(out, n ? "roots:\n" : "roots: []\n");
    for (size_t i = 0; i < n; i++) {
        const struct cfg_root *r = &roots[i];
        sb_puts(out, "  - name: ");
        config_yaml_quote(out, r->name, strlen(r->name));
        sb_puts(out, "\n    path: ");
        config_yaml_quote(out, r->path, strlen(r->path));
        sb_puts(out, "\n");
        if (!r->nlabels) continue;
        sb_puts(out, "    labels:\n");
        for (size_t j = 0; j < r->nlabels; j++) {
            sb_puts(out, "      ");
            put_label_key(out, r->labels[j].key);
            sb_puts(out, ": ");
            config_yaml_quote(out, r->labels[j].value, strlen(r->labels[j].value));
            sb_puts(out, "\n");
        }
    }
    return 0;
}

int config_save_roots(const char *state_dir, const struct cfg_root *roots, size_t n)
{
    struct strbuf text = STRBUF_INIT;
    int rc = config_format_roots(roots, n, &text);
    if (rc == 0) {
        char *path = util_path_join(state_dir, CONFIG_ROOTS_FILE);
        rc = util_write_file_atomic(path, text.buf, text.len, 0600);
        free(path);
    }
    sb_free(&text);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Defaults, loading, reference counting                                    */
/* ------------------------------------------------------------------------ */

char *config_path_absolute(const char *path)
{
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    if (path[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) /* the working directory is gone; the best we can do */
            return util_strdup(path);
        sb_puts(&in, cwd);
        sb_puts(&in, "/");
        free(cwd);
    }
    sb_puts(&in, path);
    /* copy component by component, dropping empty and "." ones */
    for (const char *p = in.buf; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n && !(n == 1 && p[0] == '.')) {
            sb_puts(&out, "/");
            sb_append(&out, p, n);
        }
        p += n;
    }
    if (out.len == 0) sb_puts(&out, "/");
    sb_free(&in);
    return sb_detach(&out);
}

char *state_dir_resolve(const char *arg)
{
    const char *dir = arg;
    if (!dir || !*dir) dir = getenv("CUSTODY_STATE");
    if (!dir || !*dir) dir = "./var/custody";
    return config_path_absolute(dir);
}

static char *default_node_name(void)
{
    char host[HOST_NAME_MAX + 1] = "";
    if (gethostname(host, sizeof host) != 0 || !host[0]) return util_strdup("localhost");
    host[HOST_NAME_MAX] = '\0';
    return util_strdup(host);
}

struct custody_config *config_new_default(const char *state_dir)
{
    struct custody_config *cfg = util_calloc(1, sizeof *cfg);
    cfg->refs = 1;
    cfg->state_dir = config_path_absolute(state_dir ? state_dir : ".");
    cfg->node_name = default_node_name();

    cfg->unix_path = util_path_join(cfg->state_dir, "custodyd.sock");
    cfg->unix_mode = 0660;
    cfg->tcp_enabled = true;
    cfg->tcp_address = util_strdup("127.0.0.1");
    cfg->tcp_port = 8443;
    cfg->tls_cert = util_path_join(cfg->state_dir, "tls/cert.pem");
    cfg->tls_key = util_path_join(cfg->state_dir, "tls/key.pem");

    cfg->max_header_bytes = 16384;
    cfg->max_headers = 100;
    cfg->max_uri_bytes = 8192;
    cfg->max_body_bytes = UINT64_C(17179869184);
    cfg->max_connections = 4096;
    cfg->max_streams = 128;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->io_timeout_ms = 30000;
    cfg->drain_timeout_ms = 30000;
    cfg->list_max_entries = 100000;

    cfg->versions = true;
    cfg->store_encrypt_label = util_strdup("encrypt");
    cfg->log_level = LOG_INFO;

    cfg->audit_origin = NULL;
    cfg->audit_checkpoint_interval_ms = 500;
    cfg->audit_batch_max = 8192;
    cfg->audit_sensitive_label = util_strdup("phi");
    cfg->token_ttl_default_s = 300;
    cfg->token_ttl_max_s = 3600;
    cfg->token_ttl_sensitive_s = 60;
    return cfg;
}

static void config_free(struct custody_config *cfg)
{
    free(cfg->state_dir);
    free(cfg->node_name);
    free(cfg->unix_path);
    free(cfg->tcp_address);
    free(cfg->audit_origin);
    free(cfg->audit_sensitive_label);
    free(cfg->store_encrypt_label);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free_roots(cfg->roots, cfg->nroots);
    free(cfg);
}

struct custody_config *config_ref(struct custody_config *cfg)
{
    if (cfg) __atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
    return cfg;
}

void config_unref(struct custody_config *cfg)
{
    /* acq_rel: the thread that frees sees every other thread's last use */
    if (cfg && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0) config_free(cfg);
}

/* Reads STATE/name; *text is NULL (and 0 returned) when optional and missing. */
static int read_config_file(const char *state_dir, const char *name, bool optional, char **text,
                            size_t *len, struct strbuf *err)
{
    char *path = util_path_join(state_dir, name);
    *text = NULL;
    int rc = util_read_file(path, CONFIG_MAX_FILE_BYTES, text, len);
    if (rc == CUSTODY_ENOENT && optional) {
        rc = 0;
    } else if (rc == CUSTODY_ETOOBIG) {
        if (err)
            sb_printf(err, "%s:1: file is too large (more than %u bytes)\n", name,
                      (unsigned)CONFIG_MAX_FILE_BYTES);
        rc = CUSTODY_ECONFIG;
    } else if (rc && err) {
        sb_printf(err, "%s: cannot read %s: %s%s\n", name, path, custody_strerror(rc),
                  rc == CUSTODY_ENOENT ? " (run `custody init` to create it)" : "");
    }
    free(path);
    return rc;
}

int config_load(const char *state_dir, struct custody_config **out, struct strbuf *err)
{
    struct custody_config *cfg = config_new_default(state_dir);
    char *text = NULL;
    size_t len = 0;

    int rc = read_config_file(cfg->state_dir, CONFIG_FILE, false, &text, &len, err);
    if (rc == 0) rc = config_parse_main(cfg, CONFIG_FILE, text, len, err);
    free(text);
    text = NULL;

    /* roots.yaml is checked even when config.yaml has problems, so that one
     * run shows all of them */
    int rrc = read_config_file(cfg->state_dir, CONFIG_ROOTS_FILE, true, &text, &len, err);
    if (rrc == 0 && text) rrc = config_parse_roots(cfg, CONFIG_ROOTS_FILE, text, len, err);
    free(text);

    if (rc == 0) rc = rrc;
    if (rc) {
        config_unref(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}
