/*
 * rpc.c — MCP's stdio transport: one JSON-RPC message per line. Lines are
 * read with a bound (MCP_LINE_MAX); a longer line is skipped to its end and
 * reported on stderr, so one huge message cannot exhaust memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp/internal.h"

int mcp_read_line(struct mcp *m, const char **line, size_t *len)
{
    for (;;) {
        /* a whole line already buffered? */
        if (m->in.len > m->in_off) {
            char *start = m->in.buf + m->in_off;
            char *nl = memchr(start, '\n', m->in.len - m->in_off);
            if (nl) {
                size_t l = (size_t)(nl - start);
                m->in_off += l + 1;
                if (m->in_skipping) {
                    m->in_skipping = false;
                    continue;
                }
                if (l && start[l - 1] == '\r') l--;
                start[l] = '\0';
                *line = start;
                *len = l;
                return 1;
            }
        }
        /* compact: drop what was consumed */
        if (m->in_off) {
            memmove(m->in.buf, m->in.buf + m->in_off, m->in.len - m->in_off);
            m->in.len -= m->in_off;
            m->in_off = 0;
        }
        if (m->in.len > MCP_LINE_MAX) {
            if (!m->in_skipping)
                fprintf(stderr, "custody mcp: a message longer than %u bytes was dropped\n",
                        MCP_LINE_MAX);
            m->in_skipping = true;
            m->in.len = 0;
        }
        if (m->in_eof) {
            if (m->in.len && !m->in_skipping) { /* a last line without newline */
                sb_reserve(&m->in, 1);
                m->in.buf[m->in.len] = '\0';
                *line = m->in.buf;
                *len = m->in.len;
                m->in_off = m->in.len;
                return 1;
            }
            return 0;
        }
        if (sb_reserve(&m->in, 65536) != 0) return CUSTODY_ENOMEM;
        ssize_t n = read(m->o->in_fd, m->in.buf + m->in.len, 65536);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return custody_err_from_errno(errno);
        if (n == 0) m->in_eof = true;
        m->in.len += (size_t)n;
    }
}

/*
 * Writes v as compact JSON, the bytes json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) gives (tests/mcp/test_rpc.c holds the two equal),
 * without its per-character output callback: strings go out in runs
 * (sb_jcs_string escapes what jansson escapes; the one difference is that
 * a control character other than \b \f \n \r \t gets lower-case hex,
 * \u000b for jansson's \u000B). A 4 KiB text answer spent ~85 us in
 * json_dumps. Reals, which answers hardly carry, are left to jansson.
 */
int mcp_json_write(json_t *v, struct strbuf *sb, int depth)
{
    if (depth > 64) return CUSTODY_EINVAL; /* answers are a few levels deep */
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        sb_puts(sb, "{");
        json_object_foreach(v, k, x)
        {
            if (!first) sb_puts(sb, ",");
            first = false;
            sb_jcs_string(sb, k, strlen(k));
            sb_puts(sb, ":");
            int rc = mcp_json_write(x, sb, depth + 1);
            if (rc) return rc;
        }
        return sb_puts(sb, "}");
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        sb_puts(sb, "[");
        json_array_foreach(v, i, x)
        {
            if (i) sb_puts(sb, ",");
            int rc = mcp_json_write(x, sb, depth + 1);
            if (rc) return rc;
        }
        return sb_puts(sb, "]");
    }
    case JSON_STRING:
        return sb_jcs_string(sb, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        char d[22];
        return sb_append(sb, d, util_i64_text((int64_t)json_integer_value(v), d));
    }
    case JSON_TRUE:
        return sb_puts(sb, "true");
    case JSON_FALSE:
        return sb_puts(sb, "false");
    case JSON_NULL:
        return sb_puts(sb, "null");
    default: { /* JSON_REAL */
        char *r = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!r) return CUSTODY_ENOMEM;
        int rc = sb_puts(sb, r);
        free(r);
        return rc;
    }
    }
}

int mcp_send(struct mcp *m, json_t *msg)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = msg ? mcp_json_write(msg, &sb, 0) : CUSTODY_ENOMEM;
    json_decref(msg);
    if (!rc) rc = sb_puts(&sb, "\n"); /* one write with its newline: one wake-up for the reader */
    if (!rc) rc = util_write_all(m->o->out_fd, sb.buf, sb.len);
    sb_free(&sb);
    return rc;
}

json_t *mcp_error_msg(json_t *id, int code, const char *message, json_t *data)
{
    json_t *err = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data) json_object_set_new(err, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     err);
}
