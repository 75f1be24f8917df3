/* test_index.c — model.safetensors.index.json: shards, the tensor map, and
 * shard names that try to leave the model's directory. */
#include "model/internal.h"
#include "test.h"

#include <stdlib.h>

static void ix_expect(const char *json, int rc, const char *want)
{
    struct model_index idx;
    char err[512] = "";
    int got = model_parse_safetensors_index(json, strlen(json), &idx, err, sizeof err);
    if (got != rc) TEST_FAIL_("%s: rc %d (%s), want %d", json, got, err, rc);
    if (rc) {
        ASSERT_NULL(idx.shards);
        ASSERT_NULL(idx.entries);
        ASSERT_NULL(idx.meta);
        if (want && !strstr(err, want))
            TEST_FAIL_("%s: message \"%s\" does not say \"%s\"", json, err, want);
    }
    model_index_free(&idx);
}

TEST(model_index_valid)
{
    const char *json =
        "{\n  \"metadata\": {\"total_size\": 123456789012, \"format\": \"pt\", \"ok\": true,\n"
        "    \"nested\": {\"a\": [1, 2, {\"b\": null}]}, \"ratio\": 0.5},\n"
        "  \"weight_map\": {\n"
        "    \"model.layers.1.w\": \"model-00002-of-00002.safetensors\",\n"
        "    \"lm_head.weight\": \"model-00002-of-00002.safetensors\",\n"
        "    \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"\n"
        "  },\n  \"extra\": [\"ignored\"]\n}\n";
    struct model_index idx;
    char err[256] = "";
    int rc = model_parse_safetensors_index(json, strlen(json), &idx, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(2, idx.nshards);
    ASSERT_STR_EQ("model-00001-of-00002.safetensors", idx.shards[0]);
    ASSERT_STR_EQ("model-00002-of-00002.safetensors", idx.shards[1]);
    ASSERT_EQ(3, idx.nentries);
    ASSERT_STR_EQ("lm_head.weight", idx.entries[0].tensor);
    ASSERT_EQ(1, idx.entries[0].shard);
    ASSERT_STR_EQ("model.embed_tokens.weight", idx.entries[1].tensor);
    ASSERT_EQ(0, idx.entries[1].shard);
    ASSERT_EQ(1, model_index_find(&idx, "model.layers.1.w"));
    ASSERT_EQ(0, model_index_find(&idx, "model.embed_tokens.weight"));
    ASSERT_EQ(-1, model_index_find(&idx, "nope"));
    ASSERT_EQ(123456789012ull, idx.total_size);
    /* scalars kept as text, nested values dropped */
    ASSERT_EQ(4, idx.nmeta);
    ASSERT_STR_EQ("total_size", idx.meta[0].key);
    ASSERT_STR_EQ("123456789012", idx.meta[0].value);
    ASSERT_STR_EQ("pt", idx.meta[1].value);
    ASSERT_STR_EQ("true", idx.meta[2].value);
    ASSERT_STR_EQ("ratio", idx.meta[3].key);
    ASSERT_STR_EQ("0.5", idx.meta[3].value);
    model_index_free(&idx);
    model_index_free(&idx);
    ASSERT_EQ(-1, model_index_find(&idx, "x"));

    /* metadata is optional (null too), the map may be empty */
    ix_expect("{\"weight_map\":{}}", 0, NULL);
    ix_expect("{\"metadata\":null,\"weight_map\":{\"a\":\"x.safetensors\"}}", 0, NULL);
    /* a non-integer total_size is kept as text, total_size stays 0 */
    rc = model_parse_safetensors_index("{\"metadata\":{\"total_size\":1.5e3},\"weight_map\":{}}",
                                       49, &idx, err, sizeof err);
    ASSERT_OK(rc);
    ASSERT_EQ(0, idx.total_size);
    ASSERT_STR_EQ("1.5e3", idx.meta[0].value);
    model_index_free(&idx);
}

TEST(model_index_shard_names)
{
    static const struct {
        const char *shard;
        const char *why;
    } bad[] = {
        {"../x", "contains '..'"},
        {"..", "contains '..'"},
        {".", "is '.'"},
        {"", "is empty"},
        {"a/b.safetensors", "contains '/'"},
        {"/etc/passwd", "contains '/'"},
        {"a\\\\b", "contains '\\'"},
        {"a\\u0001b", "contains a control character"},
        {"x\\ny", "contains a control character"},
        {"a..b", "contains '..'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"weight_map\":{\"ok\":\"m-1.safetensors\",\"w\":\"%s\"}}",
                 bad[i].shard);
        ix_expect(json, MODEL_EFORMAT, bad[i].why);
        ix_expect(json, MODEL_EFORMAT, "shard of tensor 'w' (byte 42)");
    }
    char json[1024], longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    snprintf(json, sizeof json, "{\"weight_map\":{\"w\":\"%s\"}}", longname);
    ix_expect(json, MODEL_EFORMAT, "longer than 255 bytes");
    longname[255] = '\0';
    snprintf(json, sizeof json, "{\"weight_map\":{\"w\":\"%s\"}}", longname);
    ix_expect(json, 0, NULL);
    /* odd but plain names are fine */
    ix_expect("{\"weight_map\":{\"w\":\".hidden\",\"v\":\"sp ace\",\"u\":\"\\u00e9.st\"}}", 0,
              NULL);
}

TEST(model_index_errors)
{
    ix_expect("{\"metadata\":{}}", MODEL_EFORMAT, "no \"weight_map\"");
    ix_expect("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", MODEL_EFORMAT,
              "duplicate tensor 'a' in weight_map");
    ix_expect("{\"weight_map\":{\"a\":1}}", MODEL_EFORMAT,
              "weight_map entry of 'a' is not a string");
    ix_expect("{\"weight_map\":{\"\":\"x\"}}", MODEL_EFORMAT, "empty tensor name");
    ix_expect("{\"weight_map\":[]}", MODEL_EFORMAT, "expected an object");
    ix_expect("{\"weight_map\":{}} {}", MODEL_EFORMAT, "trailing");
    ix_expect("{\"weight_map\":{},\"weight_map\":{}}", MODEL_EFORMAT, "duplicate \"weight_map\"");
    ix_expect("{\"metadata\":{},\"metadata\":{},\"weight_map\":{}}", MODEL_EFORMAT,
              "duplicate \"metadata\"");
    ix_expect("{\"x\":1,\"weight_map\":{},\"x\":2}", MODEL_EFORMAT,
              "duplicate key 'x' in the index");
    ix_expect("{\"metadata\":{\"a\":1,\"a\":\"2\"},\"weight_map\":{}}", MODEL_EFORMAT,
              "duplicate key 'a' in \"metadata\"");
    ix_expect("{\"metadata\":{\"n\":{\"a\":1,\"a\":2}},\"weight_map\":{}}", MODEL_EFORMAT,
              "duplicate key 'a'");
    ix_expect("{\"metadata\":[],\"weight_map\":{}}", MODEL_EFORMAT, "must be an object");
    ix_expect("[]", MODEL_EFORMAT, "expected an object");
    ix_expect("", MODEL_EFORMAT, "end of input");
    ix_expect("{\"weight_map\":{\"a\":\"x\"", MODEL_EFORMAT, "end of input");
    ix_expect("{\"weight_map\":{\"a\":\"\\ud800\"}}", MODEL_EFORMAT, "surrogate");

    /* deep nesting inside metadata members: 64 levels in all are fine, 65 are not */
    char deep[512];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"metadata\":{\"n\":");
    for (int i = 0; i < 62; i++)
        o += (size_t)snprintf(deep + o, sizeof deep - o, "[");
    for (int i = 0; i < 62; i++)
        o += (size_t)snprintf(deep + o, sizeof deep - o, "]");
    snprintf(deep + o, sizeof deep - o, "},\"weight_map\":{}}");
    ix_expect(deep, 0, NULL); /* 1 + 1 + 62 = 64 levels */
    o = (size_t)snprintf(deep, sizeof deep, "{\"metadata\":{\"n\":");
    for (int i = 0; i < 63; i++)
        o += (size_t)snprintf(deep + o, sizeof deep - o, "[");
    for (int i = 0; i < 63; i++)
        o += (size_t)snprintf(deep + o, sizeof deep - o, "]");
    snprintf(deep + o, sizeof deep - o, "},\"weight_map\":{}}");
    ix_expect(deep, MODEL_ELIMIT, "nesting deeper than 64 levels");

    /* size limit and bad arguments */
    struct model_index idx;
    char err[256];
    ASSERT_EQ(MODEL_ELIMIT, model_parse_safetensors_index("{}", MODEL_INDEX_MAX_BYTES + 1, &idx,
                                                          err, sizeof err));
    ASSERT_EQ(MODEL_EINVAL, model_parse_safetensors_index(NULL, 0, &idx, err, sizeof err));
    ASSERT_EQ(MODEL_EINVAL, model_parse_safetensors_index("{}", 2, NULL, err, sizeof err));
}

TEST(model_index_many_shards)
{
    /* 300 tensors over 7 shards, in scrambled order */
    size_t cap = 64 * 1024, o = 0;
    char *json = malloc(cap);
    ASSERT_NOT_NULL(json);
    o += (size_t)snprintf(json + o, cap - o, "{\"weight_map\":{");
    for (int i = 0; i < 300; i++) {
        int t = (i * 37) % 300;
        o += (size_t)snprintf(json + o, cap - o, "%s\"t%03d\":\"model-%05d-of-00007.safetensors\"",
                              i ? "," : "", t, t % 7 + 1);
    }
    o += (size_t)snprintf(json + o, cap - o, "}}");
    struct model_index idx;
    char err[256] = "";
    int rc = model_parse_safetensors_index(json, o, &idx, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(7, idx.nshards);
    ASSERT_EQ(300, idx.nentries);
    for (int t = 0; t < 300; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%03d", t);
        ASSERT_STR_EQ(name, idx.entries[t].tensor);
        ASSERT_EQ(t % 7, model_index_find(&idx, name));
    }
    model_index_free(&idx);
    free(json);
}

/* A header holding tensors with these names (nothing else is looked at). */
static struct model_header hdr_of(const char *const *names, size_t n)
{
    struct model_header h = {.ntensors = n};
    h.tensors = calloc(n ? n : 1, sizeof *h.tensors);
    ASSERT(h.tensors);
    for (size_t i = 0; i < n; i++)
        h.tensors[i].name = (char *)names[i];
    return h;
}

static void check_expect(const char *const *a, size_t na, const char *const *b, size_t nb,
                         const char *want)
{
    const char *json = "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"a.safetensors\","
                       " \"z\": \"b.safetensors\"}}";
    struct model_index idx;
    char err[512] = "";
    ASSERT_OK(model_parse_safetensors_index(json, strlen(json), &idx, err, sizeof err));
    struct model_header ha = hdr_of(a, na), hb = hdr_of(b, nb);
    const struct model_header *hs[2] = {&ha, &hb};
    int rc = model_index_check(&idx, hs, err, sizeof err);
    if (!want) {
        if (rc) TEST_FAIL_("refused a truthful index: %s", err);
    } else {
        ASSERT_EQ(MODEL_EFORMAT, rc);
        ASSERT_STR_CONTAINS(err, want);
    }
    free(ha.tensors);
    free(hb.tensors);
    model_index_free(&idx);
}

TEST(model_index_check_against_headers)
{
    const char *xy[] = {"y", "x"}, *z[] = {"z"}, *x[] = {"x"}, *xyw[] = {"x", "y", "w"};
    const char *zx[] = {"z", "x"}, *yz[] = {"y", "z"};
    check_expect(xy, 2, z, 1, NULL); /* the header's order does not matter */
    check_expect(xyw, 3, z, 1, "tensor 'w' of shard 'a.safetensors' is not in the index");
    check_expect(x, 1, zx, 2, "puts tensor 'x' in 'a.safetensors', but it is in 'b.safetensors'");
    check_expect(x, 1, z, 1, "puts tensor 'y' in 'a.safetensors', which has no such tensor");
    check_expect(yz, 2, z, 1, "puts tensor 'z' in 'b.safetensors', but it is in 'a.safetensors'");
}
