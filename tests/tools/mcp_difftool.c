/*
 * mcp_difftool.c — a test driver for src/mcp/diff.c, used by
 * tests/mcp/diff_check.mjs (not built by CMake). Reads one JSON case per
 * line on stdin and writes one JSON answer per line on stdout:
 *
 *   {"mode":"diff","name":N,"a":A,"b":B}
 *       -> {"diff": mcp_unified_diff(N, A, B)}
 *   {"mode":"edit","name":N,"content":C,"edits":[{"oldText":O,"newText":T},...]}
 *       -> {"ok":true,"text":<edit_file's answer>,"out":<the new content>}
 *       or {"ok":false,"error":<message>}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mcp/diff.h"

static json_t *run_diff(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *a = json_object_get(c, "a"), *b = json_object_get(c, "b");
    if (!name || !json_is_string(a) || !json_is_string(b)) return NULL;
    char *d = mcp_unified_diff(name, json_string_value(a), json_string_length(a),
                               json_string_value(b), json_string_length(b));
    if (!d) return NULL;
    json_t *r = json_pack("{s:s}", "diff", d);
    free(d);
    return r;
}

static json_t *run_edit(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *content = json_object_get(c, "content"), *edits = json_object_get(c, "edits");
    if (!name || !json_is_string(content) || !json_is_array(edits)) return NULL;
    size_t n = json_array_size(edits);
    struct mcp_edit *e = calloc(n ? n : 1, sizeof(*e));
    if (!e) return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *ed = json_array_get(edits, i);
        e[i].old_text = json_string_value(json_object_get(ed, "oldText"));
        e[i].new_text = json_string_value(json_object_get(ed, "newText"));
        if (!e[i].old_text || !e[i].new_text) {
            free(e);
            return NULL;
        }
    }
    char *out = NULL, *err = NULL;
    size_t outlen = 0;
    json_t *r = NULL;
    int rc = mcp_apply_edits(json_string_value(content), json_string_length(content), e, n, &out,
                             &outlen, &err);
    if (rc == -1 && err) {
        r = json_pack("{s:b,s:s}", "ok", 0, "error", err);
    } else if (rc == 0) {
        size_t clen = 0;
        char *norm =
            mcp_normalize_eol(json_string_value(content), json_string_length(content), &clen);
        char *diff = norm ? mcp_unified_diff(name, norm, clen, out, outlen) : NULL;
        char *text = diff ? mcp_fence_diff(diff) : NULL;
        if (text) r = json_pack("{s:b,s:s,s:s%}", "ok", 1, "text", text, "out", out, outlen);
        free(norm);
        free(diff);
        free(text);
    }
    free(out);
    free(err);
    free(e);
    return r;
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *c = json_loadb(line, (size_t)n, 0, &jerr);
        json_t *r = NULL;
        if (c) {
            const char *mode = json_string_value(json_object_get(c, "mode"));
            if (mode && strcmp(mode, "diff") == 0)
                r = run_diff(c);
            else if (mode && strcmp(mode, "edit") == 0)
                r = run_edit(c);
        }
        if (!r) {
            r = json_pack("{s:s}", "fail", c ? "bad case or out of memory" : jerr.text);
            status = 1;
        }
        char *s = json_dumps(r, JSON_COMPACT);
        fputs(s ? s : "{\"fail\":\"dump\"}", stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
        json_decref(r);
        json_decref(c);
    }
    free(line);
    return status;
}
