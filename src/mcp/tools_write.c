/*
 * tools_write.c — the MCP tools that change files: write_file, edit_file,
 * create_directory, move_file. custodyd writes atomically and keeps every
 * replaced content as a version, so whatever an agent wrote can be rolled
 * back (custody versions / custody rollback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/diff.h"
#include "mcp/internal.h"

static int put(struct mcp *m, const char *res, const char *data, size_t len, const char *if_match)
{
    custody_put_opts_t opts = {.if_match = if_match};
    int rc;
    MCP_RETRY(m, rc, custody_put_buf(m->c, res, data, len, if_match ? &opts : NULL, NULL));
    return rc;
}

json_t *mcp_tool_write(struct mcp *m, json_t *args)
{
    const char *req = json_string_value(json_object_get(args, "path"));
    json_t *content = json_object_get(args, "content");
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, req, &res, &err);
    if (!abs) return err;
    /* custodyd makes no missing parents: like O_CREAT, a missing one is ENOENT */
    int rc = put(m, res, json_string_value(content), json_string_length(content), NULL);
    json_t *r;
    if (rc == CUSTODY_EISDIR) {
        /* the reference renames a temporary file over the path, and says so */
        uint8_t rnd[16];
        char hex[33];
        util_random(rnd, sizeof rnd);
        util_hex_encode(rnd, sizeof rnd, hex);
        struct strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "EISDIR: illegal operation on a directory, rename '%s.%s.tmp' -> '%s'", abs,
                  hex, abs);
        r = mcp_tool_error_take(sb_detach(&sb));
    } else if (rc) {
        r = mcp_tool_error_take(mcp_fs_error(m, rc, "open", abs, NULL));
    } else {
        r = mcp_text_resultf("Successfully wrote to %s", req);
    }
    free(abs);
    free(res);
    return r;
}

json_t *mcp_tool_edit(struct mcp *m, json_t *args)
{
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, json_string_value(json_object_get(args, "path")), &res, &err);
    if (!abs) return err;
    char *data = NULL, *text = NULL, *edited = NULL, *why = NULL, *diff = NULL, *fenced = NULL;
    size_t len, tlen, elen;
    custody_stat_t st;
    json_t *r = NULL;
    int rc = mcp_fetch(m, res, &data, &len, &st);
    if (rc) {
        r = mcp_tool_error_take(mcp_fs_error(m, rc, "open", abs, NULL));
        goto out;
    }
    text = mcp_utf8_decode(data, len, &tlen);
    size_t tlen_norm;
    char *norm = mcp_normalize_eol(text, tlen, &tlen_norm);
    json_t *jedits = json_object_get(args, "edits");
    size_t n = json_array_size(jedits), i;
    struct mcp_edit *edits = util_calloc(n ? n : 1, sizeof *edits);
    json_t *e;
    json_array_foreach(jedits, i, e)
    {
        edits[i].old_text = json_string_value(json_object_get(e, "oldText"));
        edits[i].new_text = json_string_value(json_object_get(e, "newText"));
    }
    if (mcp_apply_edits(norm, tlen_norm, edits, n, &edited, &elen, &why) != 0) {
        free(edits);
        free(norm);
        r = mcp_tool_error_take(why ? why : util_strdup("edit failed"));
        goto out;
    }
    free(edits);
    diff = mcp_unified_diff(abs, norm, tlen_norm, edited, elen);
    free(norm);
    fenced = diff ? mcp_fence_diff(diff) : NULL;
    if (!fenced) {
        r = mcp_tool_error("out of memory");
        goto out;
    }
    json_t *dry = json_object_get(args, "dryRun");
    if (!json_is_true(dry)) {
        /* only if nobody changed the file since we read it */
        rc = put(m, res, edited, elen, st.sha256[0] ? st.sha256 : NULL);
        if (rc == CUSTODY_EPRECOND) {
            struct strbuf sb = STRBUF_INIT;
            sb_printf(&sb, "The file changed while it was being edited: %s (nothing was written)",
                      abs);
            r = mcp_tool_error_take(sb_detach(&sb));
            goto out;
        }
        if (rc) {
            r = mcp_tool_error_take(mcp_fs_error(m, rc, "open", abs, NULL));
            goto out;
        }
    }
    r = mcp_text_result(fenced, strlen(fenced));
out:
    free(data);
    free(text);
    free(edited);
    free(diff);
    free(fenced);
    free(abs);
    free(res);
    return r;
}

json_t *mcp_tool_mkdir(struct mcp *m, json_t *args)
{
    const char *req = json_string_value(json_object_get(args, "path"));
    char *res;
    json_t *err = NULL;
    char *abs = mcp_tool_path(m, req, &res, &err);
    if (!abs) return err;
    int rc;
    MCP_RETRY(m, rc, custody_mkdir(m->c, res, 1));
    json_t *r;
    if (rc) {
        /* the reference resolves the path first: a file on the way fails there */
        r = mcp_tool_error_take(
            mcp_fs_error(m, rc, rc == CUSTODY_ENOTDIR ? "realpath" : "mkdir", abs, NULL));
    } else {
        r = mcp_text_resultf("Successfully created directory %s", req);
    }
    free(abs);
    free(res);
    return r;
}

json_t *mcp_tool_move(struct mcp *m, json_t *args)
{
    const char *src = json_string_value(json_object_get(args, "source"));
    const char *dst = json_string_value(json_object_get(args, "destination"));
    char *sres, *dres = NULL, *dabs = NULL;
    json_t *err = NULL, *r = NULL;
    char *sabs = mcp_tool_path(m, src, &sres, &err);
    if (!sabs) return err;
    dabs = mcp_tool_path(m, dst, &dres, &err);
    if (!dabs) {
        r = err;
        goto out;
    }
    int rc;
    MCP_RETRY(m, rc, custody_move(m->c, sres, dres, 0));
    struct strbuf sb = STRBUF_INIT;
    if (rc == CUSTODY_EEXIST || rc == CUSTODY_EPRECOND || rc == CUSTODY_ECONFLICT) {
        sb_printf(&sb, "Destination already exists: %s", dabs);
        r = mcp_tool_error_take(sb_detach(&sb));
    } else if (rc == CUSTODY_EXDEV) {
        sb_printf(&sb, "EXDEV: cross-device link not permitted, rename '%s' -> '%s'", sabs, dabs);
        r = mcp_tool_error_take(sb_detach(&sb));
    } else if (rc) {
        r = mcp_tool_error_take(mcp_fs_error(m, rc, "rename", sabs, dabs));
    } else {
        r = mcp_text_resultf("Successfully moved %s to %s", src, dst);
    }
out:
    free(sabs);
    free(sres);
    free(dabs);
    free(dres);
    return r;
}
