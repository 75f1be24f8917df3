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

int mcp_send(struct mcp *m, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(msg);
    if (!s) return CUSTODY_ENOMEM;
    size_t n = strlen(s);
    int rc = util_write_all(m->o->out_fd, s, n);
    if (!rc) rc = util_write_all(m->o->out_fd, "\n", 1);
    free(s);
    return rc;
}

json_t *mcp_error_msg(json_t *id, int code, const char *message, json_t *data)
{
    json_t *err = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data) json_object_set_new(err, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     err);
}
