/*
 * diff.h — edit_file's two halves, byte for byte as the reference MCP
 * filesystem server (@modelcontextprotocol/server-filesystem 2026.8.31)
 * does them: applying the edits (applyFileEdits) and the unified diff it
 * answers with (jsdiff 8.0.4 createTwoFilesPatch, fenced in backticks).
 *
 * Everything works on UTF-8 byte strings that are valid UTF-8 (the caller
 * has already replaced invalid sequences with U+FFFD, as Node does when it
 * reads a file as 'utf-8').
 *
 * The edit_file answer for a file whose raw content is RAW:
 *
 *   char *content = mcp_normalize_eol(RAW, rawlen, &clen);   (applyFileEdits' content)
 *   mcp_apply_edits(RAW, rawlen, edits, n, &out, &outlen, &err);  (writes out)
 *   char *diff = mcp_unified_diff(path, content, clen, out, outlen);
 *   char *text = mcp_fence_diff(diff);
 */
#ifndef CUSTODY_MCP_DIFF_H
#define CUSTODY_MCP_DIFF_H

#include <stddef.h>

struct mcp_edit {
    const char *old_text; /* NUL-terminated UTF-8 */
    const char *new_text; /* NUL-terminated UTF-8 */
};

/* s with every "\r\n" replaced by "\n" (one left-to-right pass, as
 * text.replace(/\r\n/g, '\n'): "\r\r\n" becomes "\r\n"). Returns a malloc'd,
 * NUL-terminated copy and its length in *outlen (may be NULL); NULL on OOM. */
char *mcp_normalize_eol(const char *s, size_t len, size_t *outlen);

/* The reference's createUnifiedDiff(a, b, name): mcp_normalize_eol on both,
 * then jsdiff createTwoFilesPatch(name, name, a, b, "original", "modified")
 * with the default 4 lines of context — the same bytes, including the
 * "Index:" and "====" header lines and "\ No newline at end of file".
 * Returns malloc'd NUL-terminated text, NULL on OOM (or input over 4 GiB). */
char *mcp_unified_diff(const char *name, const char *a, size_t alen, const char *b, size_t blen);

/* applyFileEdits: content is CRLF-normalised first; the edits apply in order,
 * each one (its texts CRLF-normalised) replacing the first exact occurrence
 * of old_text, else the first window of lines equal to old_text's lines
 * after trim(), re-indenting the new lines the way the reference does.
 * Returns 0 with *out (malloc'd, NUL-terminated, *outlen bytes) the edited
 * text. When an edit matches nowhere returns -1 with *errmsg (malloc'd)
 * "Could not find exact match for edit:\n" + that edit's ORIGINAL old_text.
 * Returns CUSTODY_ENOMEM (*errmsg NULL) when memory runs out. */
int mcp_apply_edits(const char *content, size_t len, const struct mcp_edit *edits, size_t n,
                    char **out, size_t *outlen, char **errmsg);

/* The text edit_file returns for a diff: N backticks (3, or one more than
 * the longest run of backticks in diff) + "diff\n" + diff + N backticks +
 * "\n\n". Malloc'd; NULL on OOM. */
char *mcp_fence_diff(const char *diff);

#endif
