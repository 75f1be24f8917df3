/* mcp_json_write: the answers' JSON, held to jansson's json_dumps. */
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/internal.h"

static void same_as_jansson(json_t *v)
{
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(mcp_json_write(v, &sb, 0));
    char *want = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    ASSERT_NOT_NULL(want);
    ASSERT_STR_EQ(want, sb.buf);
    free(want);
    sb_free(&sb);
}

TEST(mcp_json_write_matches_json_dumps)
{
    json_t *text =
        json_string("line 1\nline \"2\"\t\\ caf\xc3\xa9 \xf0\x9f\x98\x80 </script> \r\b\f");
    json_t *msg = json_pack("{s:s, s:I, s:{s:[{s:s, s:O}], s:{s:O}, s:b, s:n, s:[i,i,I]}}",
                            "jsonrpc", "2.0", "id", (json_int_t)9007199254740993LL, "result",
                            "content", "type", "text", "text", text, "structuredContent", "content",
                            text, "isError", 0, "meta", "n", -1, 0, (json_int_t)INT64_MIN);
    ASSERT_NOT_NULL(msg);
    same_as_jansson(msg);
    json_object_set_new(msg, "z", json_object());
    json_object_set_new(msg, "a", json_array()); /* insertion order, not sorted */
    json_object_set_new(msg, "r", json_real(0.1));
    json_object_set_new(msg, "big", json_integer(INT64_MAX));
    same_as_jansson(msg);
    json_t *empty = json_string("");
    same_as_jansson(empty);
    json_decref(empty);
    json_decref(msg);
    json_decref(text);

    /* control characters other than \b \f \n \r \t: \u00xx, lower-case hex
     * (jansson writes upper case); both read back to the same string */
    json_t *ctl = json_stringn("a\x01\x0b\x1f\0z", 6);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(mcp_json_write(ctl, &sb, 0));
    ASSERT_STR_EQ("\"a\\u0001\\u000b\\u001f\\u0000z\"", sb.buf);
    json_error_t err;
    json_t *back = json_loadb(sb.buf, sb.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    ASSERT_NOT_NULL(back);
    ASSERT(json_equal(back, ctl));
    json_decref(back);
    json_decref(ctl);
    sb_free(&sb);

    /* nesting beyond what an answer has is refused, not recursed into */
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 80; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    ASSERT_EQ(CUSTODY_EINVAL, mcp_json_write(deep, &sb, 0));
    sb_free(&sb);
    json_decref(deep);
}
