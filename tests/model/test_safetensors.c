/* test_safetensors.c — safetensors headers: valid files built in memory, and
 * one test per lie (truncation, lengths, offsets, overlaps, shapes, JSON). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "model/internal.h"
#include "test.h"

/* A file: 8-byte length, the JSON padded with spaces to a multiple of 8,
 * then data_len bytes of data. */
struct stfile {
    uint8_t *p;
    size_t len;
    uint64_t n; /* header length */
};

static struct stfile st_build(const char *json, size_t data_len)
{
    struct stfile f;
    size_t jl = strlen(json);
    f.n = (jl + 7) / 8 * 8;
    f.len = 8 + f.n + data_len;
    f.p = malloc(f.len ? f.len : 1);
    ASSERT_NOT_NULL(f.p);
    for (int i = 0; i < 8; i++)
        f.p[i] = (uint8_t)(f.n >> (8 * i));
    memcpy(f.p + 8, json, jl);
    memset(f.p + 8 + jl, ' ', f.n - jl);
    for (size_t i = 0; i < data_len; i++)
        f.p[8 + f.n + i] = (uint8_t)i;
    return f;
}

/* Parses json (+ data_len bytes); expects rc; the message must name `want`. */
static void st_expect(const char *json, size_t data_len, int rc, const char *want)
{
    struct stfile f = st_build(json, data_len);
    struct model_header h;
    char err[512] = "";
    int got = model_parse_safetensors(f.p, f.len, f.len, &h, err, sizeof err);
    if (got != rc) TEST_FAIL_("%s: rc %d (%s), want %d", json, got, err, rc);
    if (rc) {
        ASSERT_NULL(h.tensors);
        ASSERT_NULL(h.meta);
        ASSERT_EQ(0, h.ntensors);
        if (want && !strstr(err, want))
            TEST_FAIL_("%s: message \"%s\" does not say \"%s\"", json, err, want);
    }
    model_header_free(&h);
    free(f.p);
}

TEST(model_st_valid)
{
    const char *json = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9\"},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},"
                       "\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                       "\"scalar\":{\"shape\":[],\"dtype\":\"I64\",\"data_offsets\":[48,56]},"
                       "\"empty\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[56,56]},"
                       "\"f4\":{\"dtype\":\"F4\",\"shape\":[3,2],\"data_offsets\":[8,11]},"
                       "\"odd\":{\"dtype\":\"U8\",\"shape\":[13],\"data_offsets\":[11,24]}}";
    struct stfile f = st_build(json, 64); /* 8 trailing bytes nobody uses: fine */
    struct model_header h;
    char err[256] = "";
    int rc = model_parse_safetensors(f.p, f.len, f.len, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(MODEL_FORMAT_SAFETENSORS, h.format);
    ASSERT_EQ(8 + f.n, h.data_start);
    ASSERT_EQ(f.len, h.file_size);
    ASSERT_EQ(6, h.ntensors);
    /* sorted by offset */
    static const char *const order[] = {"a", "f4", "odd", "b", "scalar", "empty"};
    for (size_t i = 0; i < 6; i++)
        ASSERT_STR_EQ(order[i], h.tensors[i].name);
    const struct model_tensor *b = model_header_find(&h, "b");
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(MODEL_DTYPE_F32, b->dtype);
    ASSERT_STR_EQ("F32", model_dtype_name(b->dtype));
    ASSERT_EQ(2, b->ndim);
    ASSERT_EQ(2, b->shape[0]);
    ASSERT_EQ(3, b->shape[1]);
    ASSERT_EQ(h.data_start + 24, b->offset);
    ASSERT_EQ(24, b->nbytes);
    const struct model_tensor *s = model_header_find(&h, "scalar");
    ASSERT_EQ(0, s->ndim);
    ASSERT_EQ(8, s->nbytes);
    ASSERT_EQ(0, model_header_find(&h, "empty")->nbytes);
    ASSERT_EQ(3, model_header_find(&h, "f4")->nbytes);
    ASSERT_NULL(model_header_find(&h, "nope"));
    ASSERT_EQ(2, h.nmeta);
    ASSERT_STR_EQ("format", h.meta[0].key);
    ASSERT_STR_EQ("pt", h.meta[0].value);
    ASSERT_STR_EQ("caf\xc3\xa9", h.meta[1].value);
    model_header_free(&h);
    ASSERT_NULL(h.tensors);
    model_header_free(&h); /* twice is fine */
    free(f.p);
}

TEST(model_st_names_and_escapes)
{
    const char *json =
        "{\"\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\\\"b\\\\c\\/d\\n\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
        "\"\xe6\x97\xa5\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
        "\"\\u0041\\u00DF\\u20ac\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]}"
        "}";
    struct stfile f = st_build(json, 4);
    struct model_header h;
    char err[256] = "";
    int rc = model_parse_safetensors(f.p, f.len, f.len, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_STR_EQ("\xf0\x9f\x98\x80", h.tensors[0].name);
    ASSERT_STR_EQ("a\"b\\c/d\n", h.tensors[1].name);
    ASSERT_STR_EQ("\xe6\x97\xa5", h.tensors[2].name);
    ASSERT_STR_EQ("A\xc3\x9f\xe2\x82\xac", h.tensors[3].name);
    model_header_free(&h);
    free(f.p);
}

TEST(model_st_every_dtype)
{
    static const struct {
        const char *name;
        const char *shape;
        unsigned bytes;
    } cases[] = {
        {"BOOL", "3", 3},    {"U8", "3", 3},      {"I8", "3", 3},      {"U16", "3", 6},
        {"I16", "3", 6},     {"U32", "3", 12},    {"I32", "3", 12},    {"U64", "3", 24},
        {"I64", "3", 24},    {"F16", "3", 6},     {"BF16", "3", 6},    {"F32", "3", 12},
        {"F64", "3", 24},    {"C64", "3", 24},    {"F8_E4M3", "3", 3}, {"F8_E5M2", "3", 3},
        {"F8_E8M0", "3", 3}, {"F6_E2M3", "8", 6}, {"F6_E3M2", "4", 3}, {"F4", "6", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"t\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[0,%u]}}", cases[i].name,
                 cases[i].shape, cases[i].bytes);
        st_expect(json, cases[i].bytes, 0, NULL);
    }
    /* GGML-only names are not safetensors dtypes; names are case-sensitive */
    st_expect("{\"t\":{\"dtype\":\"Q4_K\",\"shape\":[256],\"data_offsets\":[0,144]}}", 144,
              MODEL_EFORMAT, "unknown dtype 'Q4_K'");
    st_expect("{\"t\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MODEL_EFORMAT,
              "unknown dtype");
    /* sub-byte types must fill whole bytes */
    st_expect("{\"t\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, MODEL_EFORMAT,
              "do not fill whole bytes");
}

TEST(model_st_header_len_bounds)
{
    uint8_t b[8] = {0};
    uint64_t n = 0;
    char err[256];
    b[0] = 16;
    ASSERT_OK(model_safetensors_header_len(b, 24, &n, err, sizeof err));
    ASSERT_EQ(16, n);
    /* header length beyond the file */
    ASSERT_EQ(MODEL_EFORMAT, model_safetensors_header_len(b, 23, &n, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "runs past the end of the file");
    /* over 100 MB */
    uint64_t big = MODEL_SAFETENSORS_MAX_HEADER + 1;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(big >> (8 * i));
    ASSERT_EQ(MODEL_ELIMIT, model_safetensors_header_len(b, UINT64_MAX, &n, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "exceeds the limit");
    /* 2^64 - 1: no overflow in 8 + N */
    memset(b, 0xff, 8);
    ASSERT_EQ(MODEL_ELIMIT, model_safetensors_header_len(b, UINT64_MAX, &n, err, sizeof err));
    /* file shorter than 8 bytes */
    ASSERT_EQ(MODEL_EFORMAT, model_safetensors_header_len(b, 7, &n, err, sizeof err));
    /* N too small for "{}" */
    memset(b, 0, 8);
    b[0] = 1;
    ASSERT_EQ(MODEL_EFORMAT, model_safetensors_header_len(b, 100, &n, err, sizeof err));
    ASSERT_EQ(MODEL_EINVAL, model_safetensors_header_len(NULL, 100, &n, err, sizeof err));
}

TEST(model_st_truncated)
{
    struct stfile f =
        st_build("{\"t\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4);
    struct model_header h;
    char err[256];
    /* the caller passed too little: told how much to read */
    ASSERT_EQ(MODEL_EMORE, model_parse_safetensors(f.p, 20, f.len, &h, err, sizeof err));
    ASSERT_EQ(8 + f.n, h.need);
    ASSERT_EQ(MODEL_EMORE, model_parse_safetensors(f.p, 5, f.len, &h, err, sizeof err));
    ASSERT_EQ(8, h.need);
    /* the file itself is cut inside the header */
    ASSERT_EQ(MODEL_EFORMAT, model_parse_safetensors(f.p, 20, 20, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "runs past the end of the file");
    ASSERT_EQ(MODEL_EFORMAT, model_parse_safetensors(f.p, 5, 5, &h, err, sizeof err));
    /* cut inside the data: the tensor runs past the end */
    ASSERT_EQ(MODEL_EFORMAT,
              model_parse_safetensors(f.p, f.len - 1, f.len - 1, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "tensor 't'");
    ASSERT_STR_CONTAINS(err, "run past the end of the file");
    /* bad arguments */
    ASSERT_EQ(MODEL_EINVAL, model_parse_safetensors(f.p, f.len, f.len - 1, &h, err, sizeof err));
    ASSERT_EQ(MODEL_EINVAL, model_parse_safetensors(NULL, 0, 0, &h, err, sizeof err));
    /* padding must be whitespace: a NUL is trailing garbage */
    struct stfile z = st_build("{}", 0);
    z.p[8 + 2] = '\0';
    ASSERT_EQ(MODEL_EFORMAT, model_parse_safetensors(z.p, z.len, z.len, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "trailing 0x00 after the value");
    free(z.p);
    /* err may be NULL */
    ASSERT_EQ(MODEL_EFORMAT, model_parse_safetensors(f.p, 20, 20, &h, NULL, 0));
    free(f.p);
}

TEST(model_st_offsets_out_of_range)
{
    st_expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12,
              MODEL_EFORMAT,
              "tensor 'w' (header byte 9): data_offsets [8, 16) run past the end of the file");
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[13,13]}}", 12,
              MODEL_EFORMAT, "run past the end");
    /* offsets near 2^64: no wrap-around */
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[18446744073709551614,"
              "18446744073709551615]}}",
              12, MODEL_EFORMAT, "tensor 'w'");
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[18446744073709551615,"
              "18446744073709551616]}}",
              12, MODEL_ELIMIT, "does not fit 64 bits");
}

TEST(model_st_end_before_begin)
{
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 12, MODEL_EFORMAT,
              "tensor 'w' (header byte 9): data_offsets [8, 4) end before they begin");
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8]}}", 12, MODEL_EFORMAT,
              "data_offsets must be [begin, end]");
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,2,3]}}", 12,
              MODEL_EFORMAT, "more than 2 entries");
}

TEST(model_st_overlap)
{
    st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12, MODEL_EFORMAT,
              "tensor 'b' (described at byte 62) at bytes [124, 132) overlaps "
              "tensor 'a' at bytes [120, 128)");
    /* the same range twice */
    st_expect("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
              "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
              4, MODEL_EFORMAT, "overlaps");
    /* one inside a long one, after a short one */
    st_expect("{\"a\":{\"dtype\":\"U8\",\"shape\":[100],\"data_offsets\":[0,100]},"
              "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[10,11]},"
              "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[50,51]}}",
              100, MODEL_EFORMAT, "overlaps tensor 'a'");
    /* touching is fine, so are zero-byte tensors anywhere */
    st_expect("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
              "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
              "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
              8, 0, NULL);
    /* holes are fine, unaligned starts too */
    st_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[3,7]},"
              "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[20,28]}}",
              40, 0, NULL);
}

TEST(model_st_size_mismatch)
{
    st_expect("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16,
              MODEL_EFORMAT,
              "tensor 'w' (header byte 9): data_offsets [0, 12) hold 12 bytes but shape [2, 2] of "
              "F32 takes 16");
    st_expect("{\"w\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,4]}}", 16, MODEL_EFORMAT,
              "shape [] of BF16 takes 2");
}

TEST(model_st_overflow_shapes)
{
    /* element count overflows */
    st_expect(
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,1]}}", 1,
        MODEL_EFORMAT, "more than 2^63 elements");
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615],\"data_offsets\":[0,1]}}",
              1, MODEL_EFORMAT, "more than 2^63 elements");
    /* byte count overflows */
    st_expect("{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,1]}}",
              1, MODEL_EFORMAT, "more than 2^63 bytes");
    /* a zero dimension makes any other harmless, wherever it is */
    st_expect(
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}", 1,
        0, NULL);
    st_expect(
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615,0],\"data_offsets\":[0,0]}}", 1,
        0, NULL);
    /* too many dimensions */
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
              MODEL_EFORMAT, "shape has more than 8 entries");
    /* absurd but consistent: past the end of the file */
    st_expect("{\"w\":{\"dtype\":\"U8\",\"shape\":[1099511627776],"
              "\"data_offsets\":[0,1099511627776]}}",
              1, MODEL_EFORMAT, "run past the end");
}

TEST(model_st_bad_json)
{
    static const struct {
        const char *json;
        int rc;
        const char *want;
    } cases[] = {
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", MODEL_EFORMAT,
         "trailing 'x' after the value"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}{}", MODEL_EFORMAT,
         "trailing"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},}", MODEL_EFORMAT,
         "expected a key"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "expected a number"},
        {"{\"w\" {\"dtype\":\"U8\"}}", MODEL_EFORMAT, "expected ':'"},
        {"{\"w\":{\"dtype\":\"U8\" \"shape\":[1]}}", MODEL_EFORMAT, "expected ',' or '}'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", MODEL_EFORMAT,
         "end of input"},
        {"{\"w\":{\"dtype\":\"U8", MODEL_EFORMAT, "unterminated string"},
        {"{\"w\":{\"dtype\":\"U\\x8\"}}", MODEL_EFORMAT, "bad escape"},
        {"{\"w\\u12G4\":{}}", MODEL_EFORMAT, "bad \\u escape"},
        {"{\"w\\u12\":{}}", MODEL_EFORMAT, "bad \\u escape"},
        {"{\"w\\ud800\":{}}", MODEL_EFORMAT, "not followed by a low one"},
        {"{\"w\\ud800\\u0041\":{}}", MODEL_EFORMAT, "not followed by a low one"},
        {"{\"w\\udc00\":{}}", MODEL_EFORMAT, "lone low surrogate"},
        {"{\"w\\u0000\":{}}", MODEL_EFORMAT, "NUL"},
        {"{\"w\x01\":{}}", MODEL_EFORMAT, "control character"},
        {"{\"w\xc0\x80\":{}}", MODEL_EFORMAT, "invalid UTF-8"},
        {"{\"w\xed\xa0\x80\":{}}", MODEL_EFORMAT, "invalid UTF-8"},
        {"{\"w\xf5\x80\x80\x80\":{}}", MODEL_EFORMAT, "invalid UTF-8"},
        {"{\"w\xe6\x97\":{}}", MODEL_EFORMAT, "invalid UTF-8"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "expected ',' or ']'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "non-negative integer"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "non-negative integer"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "non-negative integer"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         MODEL_EFORMAT, "duplicate tensor name 'w'"},
        {"{\"w\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
         MODEL_EFORMAT, "duplicate field 'dtype'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", MODEL_EFORMAT,
         "tensor 'w' (header byte 9): unknown field 'x'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", MODEL_EFORMAT, "missing \"data_offsets\""},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", MODEL_EFORMAT, "missing \"dtype\""},
        {"{\"w\":{\"dtype\":8,\"shape\":[1],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "tensor 'w': invalid JSON at byte 22: expected a string"},
        {"{\"w\":[]}", MODEL_EFORMAT, "expected an object"},
        {"{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", MODEL_EFORMAT,
         "empty tensor name"},
        {"{\"__metadata__\":{\"a\":1}}", MODEL_EFORMAT,
         "__metadata__ value of 'a' is not a string"},
        {"{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", MODEL_EFORMAT,
         "duplicate metadata key 'a'"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", MODEL_EFORMAT, "duplicate __metadata__"},
        {"{\"__metadata__\":[]}", MODEL_EFORMAT, "must be an object"},
        {" {}", MODEL_EFORMAT, "does not start with '{'"},
        {"[1]", MODEL_EFORMAT, "does not start with '{'"},
        {"{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}\t\r\n", 0, NULL},
        {"{\"__metadata__\":null}", 0, NULL},
        {"{}", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        st_expect(cases[i].json, 4, cases[i].rc, cases[i].want);
}

TEST(model_st_json_depth)
{
    /* the reader itself: 64 levels are fine, 65 are not */
    char deep[200];
    for (int levels = 64; levels <= 65; levels++) {
        memset(deep, '[', (size_t)levels);
        memset(deep + levels, ']', (size_t)levels);
        struct model_json j;
        char err[256] = "";
        model_json_init(&j, deep, 2 * (size_t)levels, 0, err, sizeof err);
        int rc = model_json_skip(&j);
        if (levels == 64) {
            if (rc) TEST_FAIL_("64 levels: %s", err);
            ASSERT_OK(model_json_end(&j));
        } else {
            ASSERT_EQ(MODEL_ELIMIT, rc);
            ASSERT_STR_CONTAINS(err, "nesting deeper than 64 levels");
        }
    }
    /* duplicate keys in skipped objects are refused too */
    const char *dup = "[{\"a\":{\"x\":1,\"y\":[true,false,null,-1.5e3,\"s\"],\"x\":2}}]";
    struct model_json j;
    char err[256] = "";
    model_json_init(&j, dup, strlen(dup), 100, err, sizeof err);
    ASSERT_EQ(MODEL_EFORMAT, model_json_skip(&j));
    ASSERT_STR_CONTAINS(err, "duplicate key 'x'");
    ASSERT_STR_CONTAINS(err, "at byte 1");
    /* literals and numbers */
    static const char *const bad[] = {"tru", "nul", "-", "1.", "1e", "1e+", "+1", ".5", "\"\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        model_json_init(&j, bad[i], strlen(bad[i]), 0, err, sizeof err);
        int rc = model_json_skip(&j);
        if (rc == 0) rc = model_json_end(&j);
        if (rc != MODEL_EFORMAT) TEST_FAIL_("'%s' accepted", bad[i]);
    }
}

TEST(model_st_parse_fd)
{
    struct stfile f =
        st_build("{\"t\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 8);
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", test_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ((ssize_t)f.len, write(fd, f.p, f.len));
    struct model_header h;
    char err[256] = "";
    int rc = model_parse_fd(fd, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(MODEL_FORMAT_SAFETENSORS, h.format);
    ASSERT_EQ(1, h.ntensors);
    ASSERT_EQ(8 + f.n, h.tensors[0].offset);
    model_header_free(&h);
    /* truncate inside the data: refused */
    ASSERT_OK(ftruncate(fd, (off_t)f.len - 1));
    ASSERT_EQ(MODEL_EFORMAT, model_parse_fd(fd, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "run past the end");
    /* neither format */
    ASSERT_OK(ftruncate(fd, 0));
    ASSERT_EQ(3, pwrite(fd, "abc", 3, 0));
    ASSERT_EQ(MODEL_EFORMAT, model_parse_fd(fd, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "neither");
    close(fd);
    free(f.p);
}

TEST(model_sniff_formats)
{
    struct stfile f = st_build("{}", 0);
    ASSERT_EQ(MODEL_FORMAT_SAFETENSORS, model_sniff(f.p, f.len));
    ASSERT_EQ(MODEL_FORMAT_UNKNOWN, model_sniff(f.p, 8));
    f.p[8] = '[';
    ASSERT_EQ(MODEL_FORMAT_UNKNOWN, model_sniff(f.p, f.len));
    free(f.p);
    ASSERT_EQ(MODEL_FORMAT_GGUF, model_sniff((const uint8_t *)"GGUF\3\0\0\0", 8));
    ASSERT_EQ(MODEL_FORMAT_UNKNOWN, model_sniff((const uint8_t *)"GGU", 3));
    ASSERT_EQ(MODEL_FORMAT_UNKNOWN, model_sniff(NULL, 0));
    /* a length over 100 MB is not safetensors */
    const uint8_t big[9] = {0, 0, 0, 0, 1, 0, 0, 0, '{'};
    ASSERT_EQ(MODEL_FORMAT_UNKNOWN, model_sniff(big, 9));
}

TEST(model_dtype_table)
{
    uint64_t n;
    ASSERT_OK(model_dtype_nbytes(MODEL_DTYPE_Q4_K, 512, &n));
    ASSERT_EQ(288, n);
    ASSERT_EQ(MODEL_EFORMAT, model_dtype_nbytes(MODEL_DTYPE_Q4_K, 100, &n));
    ASSERT_OK(model_dtype_nbytes(MODEL_DTYPE_F4, 4, &n));
    ASSERT_EQ(2, n);
    ASSERT_EQ(MODEL_ELIMIT, model_dtype_nbytes(MODEL_DTYPE_F64, UINT64_MAX / 4, &n));
    ASSERT_EQ(MODEL_EFORMAT, model_dtype_nbytes(MODEL_DTYPE_UNKNOWN, 1, &n));
    ASSERT_EQ(MODEL_EFORMAT, model_dtype_nbytes(MODEL_DTYPE_COUNT, 1, &n));
    ASSERT_STR_EQ("?", model_dtype_name(-1));
    ASSERT_STR_EQ("?", model_dtype_name(MODEL_DTYPE_COUNT));
    ASSERT_STR_EQ("IQ2_XXS", model_dtype_name(MODEL_DTYPE_IQ2_XXS));
    ASSERT_EQ(MODEL_DTYPE_F32, model_dtype_from_ggml(0));
    ASSERT_EQ(MODEL_DTYPE_BF16, model_dtype_from_ggml(30));
    ASSERT_EQ(MODEL_DTYPE_Q6_K, model_dtype_from_ggml(14));
    ASSERT_EQ(MODEL_DTYPE_MXFP4, model_dtype_from_ggml(39));
    /* removed from GGUF or never assigned */
    static const uint32_t gone[] = {4, 5, 31, 32, 33, 36, 37, 38, 43, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        ASSERT_EQ(MODEL_DTYPE_UNKNOWN, model_dtype_from_ggml(gone[i]));
    ASSERT_EQ(MODEL_DTYPE_F8_E4M3, model_dtype_from_safetensors("F8_E4M3", 7));
    ASSERT_EQ(MODEL_DTYPE_UNKNOWN, model_dtype_from_safetensors("F8_E4M", 6));
    /* every dtype has a sane block and a unique name */
    for (int i = 1; i < MODEL_DTYPE_COUNT; i++) {
        const struct model_dtype_info *d = model_dtype_info(i);
        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(d->name);
        ASSERT(d->block_elems >= 1 && d->block_bytes >= 1);
        for (int k = 1; k < i; k++)
            ASSERT(strcmp(d->name, model_dtype_info(k)->name) != 0);
        if (d->ggml_type >= 0) ASSERT_EQ(i, model_dtype_from_ggml((uint32_t)d->ggml_type));
    }
    ASSERT_STR_EQ("malformed model header", model_strerror(MODEL_EFORMAT));
    ASSERT_STR_EQ(custody_strerror(MODEL_ENOMEM), custody_strerror(CUSTODY_ENOMEM));
}
