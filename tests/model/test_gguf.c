/* test_gguf.c — GGUF headers: valid files built in memory (quantized types
 * included), reading in steps (MODEL_EMORE), and one test per lie. */
#include <fcntl.h>
#include <unistd.h>

#include "model/internal.h"
#include "test.h"

/* value types */
enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 };

struct gb {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct gb *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ASSERT_NOT_NULL(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_le(struct gb *b, uint64_t v, int n)
{
    uint8_t x[8];
    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)n);
}

static void u32(struct gb *b, uint32_t v)
{
    put_le(b, v, 4);
}

static void u64(struct gb *b, uint64_t v)
{
    put_le(b, v, 8);
}

static void str(struct gb *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void head(struct gb *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}

static void kv_u32(struct gb *b, const char *key, uint32_t v)
{
    str(b, key);
    u32(b, T_U32);
    u32(b, v);
}

static void kv_str(struct gb *b, const char *key, const char *v)
{
    str(b, key);
    u32(b, T_STR);
    str(b, v);
}

/* tensor info with up to 4 dims */
static void tinfo(struct gb *b, const char *name, uint32_t ndim, const uint64_t *dims,
                  uint32_t type, uint64_t off)
{
    str(b, name);
    u32(b, ndim);
    for (uint32_t i = 0; i < ndim; i++)
        u64(b, dims[i]);
    u32(b, type);
    u64(b, off);
}

/* pads to align, then n bytes of data */
static void data(struct gb *b, uint32_t align, size_t n)
{
    while (b->len % align)
        put(b, "", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(i * 7);
        put(b, &c, 1);
    }
}

/* A valid v3 file: 7 kvs, 3 tensors (Q4_K, F32, Q8_0). */
static struct gb valid_file(void)
{
    struct gb b = {0};
    head(&b, 3, 3, 7);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "general.alignment", 64);
    str(&b, "llama.rope.freq_base");
    u32(&b, T_F32);
    float f = 10000.0f;
    uint32_t fu;
    memcpy(&fu, &f, 4);
    u32(&b, fu);
    str(&b, "flag");
    u32(&b, T_BOOL);
    put(&b, "\1", 1);
    str(&b, "small");
    u32(&b, T_ARR);
    u32(&b, T_I32);
    u64(&b, 3);
    u32(&b, 1);
    u32(&b, (uint32_t)-2);
    u32(&b, 3);
    str(&b, "tokenizer.ggml.tokens");
    u32(&b, T_ARR);
    u32(&b, T_STR);
    u64(&b, 5);
    static const char *const toks[] = {"<s>", "</s>", "a", "\xe2\x96\x81the", ""};
    for (int i = 0; i < 5; i++)
        str(&b, toks[i]);
    str(&b, "big");
    u32(&b, T_ARR);
    u32(&b, T_U8);
    u64(&b, 100);
    for (int i = 0; i < 100; i++)
        put(&b, "x", 1);
    uint64_t d_emb[2] = {512, 4}; /* 2 blocks x 144 x 4 rows = 1152 bytes */
    uint64_t d_norm[1] = {16};    /* 64 bytes */
    uint64_t d_out[2] = {32, 2};  /* 2 x 34 = 68 bytes */
    tinfo(&b, "token_embd.weight", 2, d_emb, 12, 0);
    tinfo(&b, "output.weight", 2, d_out, 8, 1216);
    tinfo(&b, "output_norm.weight", 1, d_norm, 0, 1152);
    data(&b, 64, 1216 + 68);
    return b;
}

static int parse(const struct gb *b, struct model_header *h, char *err, size_t errlen)
{
    return model_parse_gguf(b->p, b->len, b->len, h, err, errlen);
}

TEST(model_gguf_valid)
{
    struct gb b = valid_file();
    struct model_header h;
    char err[256] = "";
    int rc = parse(&b, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(MODEL_FORMAT_GGUF, h.format);
    ASSERT_EQ(3, h.version);
    ASSERT_EQ(64, h.alignment);
    ASSERT_EQ(0, h.data_start % 64);
    ASSERT_EQ(b.len, h.data_start + 1216 + 68);
    ASSERT_EQ(3, h.ntensors);
    ASSERT_STR_EQ("token_embd.weight", h.tensors[0].name);
    ASSERT_EQ(MODEL_DTYPE_Q4_K, h.tensors[0].dtype);
    ASSERT_EQ(h.data_start, h.tensors[0].offset);
    ASSERT_EQ(1152, h.tensors[0].nbytes);
    ASSERT_EQ(2, h.tensors[0].ndim);
    ASSERT_EQ(512, h.tensors[0].shape[0]);
    ASSERT_EQ(4, h.tensors[0].shape[1]);
    ASSERT_STR_EQ("output_norm.weight", h.tensors[1].name);
    ASSERT_EQ(MODEL_DTYPE_F32, h.tensors[1].dtype);
    ASSERT_EQ(h.data_start + 1152, h.tensors[1].offset);
    ASSERT_EQ(64, h.tensors[1].nbytes);
    ASSERT_STR_EQ("output.weight", h.tensors[2].name);
    ASSERT_STR_EQ("Q8_0", model_dtype_name(h.tensors[2].dtype));
    ASSERT_EQ(68, h.tensors[2].nbytes);
    ASSERT_EQ(7, h.nmeta);
    ASSERT_STR_EQ("general.architecture", h.meta[0].key);
    ASSERT_STR_EQ("llama", h.meta[0].value);
    ASSERT_STR_EQ("64", h.meta[1].value);
    ASSERT_STR_EQ("10000", h.meta[2].value);
    ASSERT_STR_EQ("true", h.meta[3].value);
    ASSERT_STR_EQ("[1, -2, 3]", h.meta[4].value);
    ASSERT_STR_EQ("array[string; 5]", h.meta[5].value);
    ASSERT_STR_EQ("array[u8; 100]", h.meta[6].value);
    model_header_free(&h);
    free(b.p);
}

TEST(model_gguf_values_as_text)
{
    struct gb b = {0};
    head(&b, 3, 0, 9);
    kv_str(&b, "s", "line one\nline two \xe2\x9c\x93");
    kv_str(&b, "latin1", "caf\xe9");
    str(&b, "u8");
    u32(&b, T_U8);
    put(&b, "\xff", 1);
    str(&b, "i8");
    u32(&b, T_I8);
    put(&b, "\xff", 1);
    str(&b, "i16");
    u32(&b, T_I16);
    put_le(&b, 0x8000, 2);
    str(&b, "i64");
    u32(&b, T_I64);
    u64(&b, (uint64_t)INT64_MIN);
    str(&b, "f64");
    u32(&b, T_F64);
    double d = 0.1;
    uint64_t du;
    memcpy(&du, &d, 8);
    u64(&b, du);
    str(&b, "bools");
    u32(&b, T_ARR);
    u32(&b, T_BOOL);
    u64(&b, 2);
    put(&b, "\1\0", 2);
    str(&b, "none");
    u32(&b, T_ARR);
    u32(&b, T_U64);
    u64(&b, 0);
    struct model_header h;
    char err[256] = "";
    int rc = parse(&b, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    static const char *const want[] = {"line one\nline two \xe2\x9c\x93",
                                       "(4 bytes, not UTF-8)",
                                       "255",
                                       "-1",
                                       "-32768",
                                       "-9223372036854775808",
                                       "0.10000000000000001",
                                       "[true, false]",
                                       "[]"};
    ASSERT_EQ(9, h.nmeta);
    for (size_t i = 0; i < 9; i++)
        ASSERT_STR_EQ(want[i], h.meta[i].value);
    model_header_free(&h);
    free(b.p);
}

TEST(model_gguf_version2_default_alignment)
{
    struct gb b = {0};
    head(&b, 2, 2, 1);
    kv_str(&b, "general.name", "tiny");
    uint64_t d[4] = {32, 1, 1, 2};
    tinfo(&b, "a", 4, d, 2, 0);      /* Q4_0: 2 blocks of 18 = 36 bytes */
    tinfo(&b, "b", 0, NULL, 30, 64); /* a BF16 scalar */
    data(&b, 32, 66);
    struct model_header h;
    char err[256] = "";
    int rc = parse(&b, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(2, h.version);
    ASSERT_EQ(32, h.alignment);
    ASSERT_EQ(36, h.tensors[0].nbytes);
    ASSERT_EQ(2, h.tensors[1].nbytes);
    ASSERT_EQ(0, h.tensors[1].ndim);
    model_header_free(&h);
    free(b.p);

    /* no tensors, no padding at the end: data_start is the end of the file */
    struct gb e = {0};
    head(&e, 3, 0, 1);
    kv_str(&e, "general.name", "x");
    ASSERT_OK(parse(&e, &h, err, sizeof err));
    ASSERT_EQ(e.len, h.data_start);
    model_header_free(&h);
    free(e.p);
}

TEST(model_gguf_every_type)
{
    static const struct {
        uint32_t ggml;
        uint64_t ne0;
        uint64_t bytes;
    } cases[] = {
        {0, 1, 4},      {1, 1, 2},      {2, 32, 18},    {3, 32, 20},    {6, 32, 22},
        {7, 32, 24},    {8, 32, 34},    {9, 32, 36},    {10, 256, 84},  {11, 256, 110},
        {12, 256, 144}, {13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {16, 256, 66},
        {17, 256, 74},  {18, 256, 98},  {19, 256, 50},  {20, 32, 18},   {21, 256, 110},
        {22, 256, 82},  {23, 256, 136}, {24, 1, 1},     {25, 1, 2},     {26, 1, 4},
        {27, 1, 8},     {28, 1, 8},     {29, 256, 56},  {30, 1, 2},     {34, 256, 54},
        {35, 256, 66},  {39, 32, 17},   {40, 64, 36},   {41, 128, 18},  {42, 64, 18},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gb b = {0};
        head(&b, 3, 1, 0);
        uint64_t d[2] = {cases[i].ne0 * 2, 3};
        tinfo(&b, "t", 2, d, cases[i].ggml, 0);
        data(&b, 32, (size_t)cases[i].bytes * 6);
        struct model_header h;
        char err[256] = "";
        int rc = parse(&b, &h, err, sizeof err);
        if (rc) TEST_FAIL_("ggml type %u: rc %d: %s", cases[i].ggml, rc, err);
        ASSERT_EQ(cases[i].bytes * 6, h.tensors[0].nbytes);
        model_header_free(&h);
        /* one byte short */
        b.len--;
        ASSERT_EQ(MODEL_EFORMAT, parse(&b, &h, err, sizeof err));
        ASSERT_STR_CONTAINS(err, "run past the end of the file");
        free(b.p);
    }
}

/* Parses prefixes: MODEL_EMORE until the header is in, then the same result. */
TEST(model_gguf_needs_more)
{
    struct gb b = valid_file();
    struct model_header full, h;
    char err[256] = "";
    ASSERT_OK(parse(&b, &full, err, sizeof err));
    size_t header_end = 0;
    for (size_t len = 0; len <= b.len; len++) {
        int rc = model_parse_gguf(b.p, len, b.len, &h, err, sizeof err);
        if (rc == MODEL_EMORE) {
            ASSERT_GT(h.need, len);
            ASSERT_LE(h.need, full.data_start);
            ASSERT_NULL(h.tensors);
            ASSERT_NULL(h.meta);
            continue;
        }
        if (rc) TEST_FAIL_("prefix %zu: rc %d: %s", len, rc, err);
        if (!header_end) header_end = len;
        ASSERT_EQ(full.ntensors, h.ntensors);
        ASSERT_EQ(full.data_start, h.data_start);
        for (size_t i = 0; i < h.ntensors; i++) {
            ASSERT_STR_EQ(full.tensors[i].name, h.tensors[i].name);
            ASSERT_EQ(full.tensors[i].offset, h.tensors[i].offset);
        }
        model_header_free(&h);
    }
    /* the data region is never needed */
    ASSERT_GT(header_end, 0);
    ASSERT_LE(header_end, full.data_start);
    model_header_free(&full);
    free(b.p);
}

/* A header bigger than the first read of model_parse_fd (1 MiB). */
TEST(model_gguf_parse_fd_large_header)
{
    struct gb b = {0};
    head(&b, 3, 1, 2);
    str(&b, "tokenizer.ggml.tokens");
    u32(&b, T_ARR);
    u32(&b, T_STR);
    u64(&b, 200000);
    for (int i = 0; i < 200000; i++)
        str(&b, "token-of-some-length");
    kv_str(&b, "general.name", "big vocab");
    uint64_t d[1] = {8};
    tinfo(&b, "w", 1, d, 0, 0);
    data(&b, 32, 32);
    ASSERT_GT(b.len, 4u << 20);
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", test_tmpdir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ((ssize_t)b.len, write(fd, b.p, b.len));
    struct model_header h;
    char err[256] = "";
    int rc = model_parse_fd(fd, &h, err, sizeof err);
    if (rc) TEST_FAIL_("rc %d: %s", rc, err);
    ASSERT_EQ(MODEL_FORMAT_GGUF, h.format);
    ASSERT_EQ(1, h.ntensors);
    ASSERT_EQ(b.len - 32, h.tensors[0].offset);
    ASSERT_STR_EQ("array[string; 200000]", h.meta[0].value);
    model_header_free(&h);
    /* cut inside the metadata: refused, not asked for more forever */
    ASSERT_OK(ftruncate(fd, 3 << 20));
    ASSERT_EQ(MODEL_EFORMAT, model_parse_fd(fd, &h, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "runs past the end of the file");
    close(fd);
    free(b.p);
}

static void expect(struct gb *b, int rc, const char *want)
{
    struct model_header h;
    char err[512] = "";
    int got = parse(b, &h, err, sizeof err);
    if (got != rc) TEST_FAIL_("rc %d (%s), want %d (%s)", got, err, rc, want);
    ASSERT_NULL(h.tensors);
    ASSERT_NULL(h.meta);
    if (want && !strstr(err, want)) TEST_FAIL_("message \"%s\" does not say \"%s\"", err, want);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* header + one F32 [4] tensor named t at offset `off`, with alignment kv when align != 0 */
static void one_tensor(struct gb *b, uint32_t align, uint32_t type, uint64_t ne0, uint64_t off)
{
    head(b, 3, 1, align ? 1 : 0);
    if (align) kv_u32(b, "general.alignment", align);
    uint64_t d[1] = {ne0};
    tinfo(b, "t", 1, d, type, off);
    data(b, align && align <= 4096 ? align : 32, 16);
}

TEST(model_gguf_bad_magic_version)
{
    struct gb b = {0};
    put(&b, "GGUG", 4);
    u32(&b, 3);
    u64(&b, 0);
    u64(&b, 0);
    expect(&b, MODEL_EFORMAT, "not a GGUF file");
    head(&b, 1, 0, 0);
    expect(&b, MODEL_EFORMAT, "version 1 is not supported");
    head(&b, 4, 0, 0);
    expect(&b, MODEL_EFORMAT, "unsupported GGUF version 4");
    head(&b, 0x03000000, 0, 0);
    expect(&b, MODEL_EFORMAT, "big-endian");
    put(&b, "GG", 2);
    expect(&b, MODEL_EFORMAT, "magic at byte 0 (4 bytes) runs past the end");
    head(&b, 3, 0, 0);
    b.len -= 3;
    expect(&b, MODEL_EFORMAT, "key-value count at byte 16");
}

TEST(model_gguf_bad_counts)
{
    struct gb b = {0};
    head(&b, 3, (1u << 20) + 1, 0);
    expect(&b, MODEL_ELIMIT, "tensor count 1048577");
    head(&b, 3, 0, UINT64_MAX);
    expect(&b, MODEL_ELIMIT, "key-value count 18446744073709551615");
    head(&b, 3, 1000, 1000);
    expect(&b, MODEL_EFORMAT, "1000 tensors and 1000 key-values cannot fit");
    /* a count that fits the limit but not the file's content */
    head(&b, 3, 0, 2);
    kv_str(&b, "a", "a value long enough for two key-values");
    expect(&b, MODEL_EFORMAT, "key-value #1 (byte 83): key at byte 83 (8 bytes) runs past the end");
}

TEST(model_gguf_bad_values)
{
    struct gb b = {0};
    /* unknown value type */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, 13);
    u32(&b, 0);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "key 'k' (byte 24): unknown value type 13");
    /* nested array */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_ARR);
    u32(&b, T_ARR);
    u64(&b, 1);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "nested array");
    /* bool 2 */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_BOOL);
    put(&b, "\2", 1);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "bool value 2");
    /* string longer than 1 MiB */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_STR);
    u64(&b, (1u << 20) + 1);
    data(&b, 1, 32);
    expect(&b, MODEL_ELIMIT, "has 1048577 bytes (at most 1048576)");
    /* string past the end of the file */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_STR);
    u64(&b, 1000);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "string value at byte 45 (1000 bytes) runs past the end");
    /* 2^64 - 1 bytes: no wrap-around */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_STR);
    u64(&b, UINT64_MAX);
    data(&b, 1, 32);
    expect(&b, MODEL_ELIMIT, "at most");
    /* array with more strings than the file could hold */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_ARR);
    u32(&b, T_STR);
    u64(&b, 1000);
    data(&b, 1, 64);
    expect(&b, MODEL_EFORMAT, "array of 1000 strings");
    /* array past the limit */
    head(&b, 3, 0, 1);
    str(&b, "k");
    u32(&b, T_ARR);
    u32(&b, T_U8);
    u64(&b, (1ull << 28) + 1);
    data(&b, 1, 64);
    expect(&b, MODEL_ELIMIT, "array of 268435457 elements");
    /* key problems */
    head(&b, 3, 0, 1);
    kv_str(&b, "", "v");
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "empty key");
    head(&b, 3, 0, 1);
    kv_str(&b, "a\nb", "v");
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "control character");
    head(&b, 3, 0, 1);
    u64(&b, 3);
    put(&b, "a\0b", 3);
    u32(&b, T_U8);
    put(&b, "\1", 1);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "contains a NUL byte");
    head(&b, 3, 0, 1);
    kv_str(&b, "k\xff", "v");
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "key is not UTF-8");
    head(&b, 3, 1, 0);
    tinfo(&b, "t\xc0\x80", 0, NULL, 0, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "tensor name is not UTF-8");
    head(&b, 3, 0, 2);
    kv_str(&b, "dup", "1");
    kv_str(&b, "dup", "2");
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "duplicate metadata key 'dup'");
}

TEST(model_gguf_bad_alignment)
{
    struct gb b = {0};
    one_tensor(&b, 48, 0, 4, 0);
    expect(&b, MODEL_EFORMAT, "general.alignment 48 is not a power of two");
    head(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "general.alignment 0");
    one_tensor(&b, 1u << 21, 0, 4, 0);
    expect(&b, MODEL_EFORMAT, "general.alignment 2097152");
    head(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, T_U64);
    u64(&b, 32);
    data(&b, 1, 32);
    expect(&b, MODEL_EFORMAT, "must be a u32, not u64");
    /* offsets must be multiples of it */
    one_tensor(&b, 0, 0, 4, 8);
    expect(&b, MODEL_EFORMAT,
           "tensor 't' (byte 24): offset 8 is not a multiple of the alignment 32");
    one_tensor(&b, 16, 0, 2, 0);
    struct model_header h;
    char err[256] = "";
    ASSERT_OK(parse(&b, &h, err, sizeof err));
    ASSERT_EQ(0, h.data_start % 16);
    model_header_free(&h);
    free(b.p);
}

TEST(model_gguf_bad_tensors)
{
    struct gb b = {0};
    /* unknown and removed ggml types */
    static const uint32_t bad_types[] = {4, 5, 31, 36, 43, 99, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        one_tensor(&b, 0, bad_types[i], 32, 0);
        expect(&b, MODEL_EFORMAT, "unknown ggml type");
    }
    /* too many dims */
    head(&b, 3, 1, 0);
    uint64_t d5[5] = {1, 1, 1, 1, 1};
    tinfo(&b, "t", 5, d5, 0, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "tensor 't' (byte 24): n_dims 5 (at most 4)");
    /* a dimension negative as int64, and a product overflow */
    head(&b, 3, 1, 0);
    uint64_t dneg[1] = {1ull << 63};
    tinfo(&b, "t", 1, dneg, 24, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "negative as int64");
    head(&b, 3, 1, 0);
    uint64_t dbig[3] = {1ull << 32, 1ull << 32, 1};
    tinfo(&b, "t", 3, dbig, 24, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "more than 2^63 elements");
    head(&b, 3, 1, 0);
    uint64_t dbytes[2] = {1ull << 31, 1ull << 31}; /* 2^62 elements of F64 */
    tinfo(&b, "t", 2, dbytes, 28, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "take more than 2^63 bytes");
    /* rows not a multiple of the block */
    one_tensor(&b, 0, 12, 100, 0);
    expect(&b, MODEL_EFORMAT, "row of 100 elements is not a multiple of the Q4_K block (256)");
    /* past the end of the file */
    one_tensor(&b, 0, 0, 5, 0); /* 20 bytes, 16 present */
    expect(&b, MODEL_EFORMAT,
           "tensor 't' (byte 24): 20 bytes at data offset 0 run past the end of the file");
    one_tensor(&b, 0, 0, 1, 1ull << 62);
    expect(&b, MODEL_EFORMAT, "run past the end");
    one_tensor(&b, 0, 0, 1, UINT64_MAX - 31);
    expect(&b, MODEL_EFORMAT, "run past the end");
    /* empty name, NUL in a name */
    head(&b, 3, 1, 0);
    tinfo(&b, "", 0, NULL, 0, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "empty tensor name");
    head(&b, 3, 1, 0);
    u64(&b, 3);
    put(&b, "a\0b", 3);
    u32(&b, 0);
    u32(&b, 0);
    u64(&b, 0);
    data(&b, 32, 32);
    expect(&b, MODEL_EFORMAT, "contains a NUL byte");
    /* duplicate names, overlaps */
    head(&b, 3, 2, 0);
    uint64_t d4[1] = {4};
    tinfo(&b, "t", 1, d4, 0, 0);
    tinfo(&b, "t", 1, d4, 0, 32);
    data(&b, 32, 64);
    expect(&b, MODEL_EFORMAT, "duplicate tensor name 't'");
    head(&b, 3, 2, 0);
    uint64_t d16[1] = {16};
    tinfo(&b, "a", 1, d16, 0, 0);
    tinfo(&b, "b", 1, d4, 0, 32);
    data(&b, 32, 64);
    expect(&b, MODEL_EFORMAT, "tensor 'b' (described at byte 57) at bytes");
    /* the data section cannot start past the end */
    head(&b, 3, 1, 0);
    uint64_t d0[1] = {0};
    tinfo(&b, "t", 1, d0, 0, 0);
    expect(&b, MODEL_EFORMAT, "the data section would start at byte 64, past the end");
}

TEST(model_gguf_truncated_everywhere)
{
    /* every proper prefix of a valid file, given as the whole file, is refused */
    struct gb b = valid_file();
    struct model_header h;
    char err[256];
    for (size_t len = 0; len < b.len; len++) {
        int rc = model_parse_gguf(b.p, len, len, &h, err, sizeof err);
        if (rc != MODEL_EFORMAT) TEST_FAIL_("prefix %zu of %zu: rc %d", len, b.len, rc);
        ASSERT_NULL(h.tensors);
    }
    ASSERT_EQ(MODEL_EINVAL, model_parse_gguf(b.p, b.len, b.len - 1, &h, err, sizeof err));
    free(b.p);
}
