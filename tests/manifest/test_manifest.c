/* test_manifest.c — signed model manifests: build from safetensors and GGUF
 * shards, sign, verify the round trip, and one test per refusal (wrong key,
 * altered payload or signature, lying statements behind a good signature,
 * duplicate names, shards swapped or truncated after signing, non-models).
 * The DSSE signature and the statement are cross-checked with python3 +
 * cryptography when those are installed. */
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/tlog.h"
#include "manifest/internal.h"
#include "test.h"

/* ---- shard builders ---- */

static char *path_in(const char *dir, const char *name)
{
    char *p = util_path_join(dir, name);
    ASSERT_NOT_NULL(p);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, p, n));
    close(fd);
}

/* safetensors: a [2,2] F32 at 0 and a [3] BF16 at 16; data bytes seeded. */
static void write_st(const char *dir, const char *name, uint8_t seed)
{
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}";
    size_t jl = strlen(json), n = (jl + 7) / 8 * 8, len = 8 + n + 22;
    uint8_t *p = util_calloc(1, len);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(n >> (8 * i));
    memcpy(p + 8, json, jl);
    memset(p + 8 + jl, ' ', n - jl);
    for (size_t i = 0; i < 22; i++)
        p[8 + n + i] = (uint8_t)(seed + i);
    char *path = path_in(dir, name);
    write_bytes(path, p, len);
    free(path);
    free(p);
}

static void le(struct strbuf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        char c = (char)(v >> (8 * i));
        ASSERT_OK(sb_append(b, &c, 1));
    }
}

static void gstr(struct strbuf *b, const char *s)
{
    le(b, strlen(s), 8);
    ASSERT_OK(sb_puts(b, s));
}

/* GGUF v3: one key-value, "tok" F32 [8] at 0 and "q" Q8_0 [32] at 32. */
static void write_gguf(const char *dir, const char *name)
{
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(sb_append(&b, "GGUF", 4));
    le(&b, 3, 4);
    le(&b, 2, 8); /* tensors */
    le(&b, 1, 8); /* key-values */
    gstr(&b, "general.name");
    le(&b, 8, 4); /* string */
    gstr(&b, "tiny");
    gstr(&b, "tok");
    le(&b, 1, 4);
    le(&b, 8, 8);
    le(&b, 0, 4); /* F32 */
    le(&b, 0, 8);
    gstr(&b, "q");
    le(&b, 1, 4);
    le(&b, 32, 8);
    le(&b, 8, 4); /* Q8_0 */
    le(&b, 32, 8);
    while (b.len % 32)
        ASSERT_OK(sb_append(&b, "", 1));
    for (int i = 0; i < 66; i++)
        le(&b, (uint64_t)i * 3, 1);
    char *path = path_in(dir, name);
    write_bytes(path, b.buf, b.len);
    free(path);
    sb_free(&b);
}

struct fixture {
    const char *dir;
    char *paths[2];
    struct manifest *m;
    uint8_t pub[32];
    struct strbuf pem;
    struct strbuf env;
};

static void fx_init(struct fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->dir = test_tmpdir();
    write_st(fx->dir, "model-00001.safetensors", 1);
    write_gguf(fx->dir, "extra.gguf");
    fx->paths[0] = path_in(fx->dir, "model-00001.safetensors");
    fx->paths[1] = path_in(fx->dir, "extra.gguf");
    char err[512] = "";
    int rc = manifest_build("tiny-llm", "1.0", (const char *const *)fx->paths, 2, &fx->m, err,
                            sizeof err);
    if (rc) TEST_FAIL_("build: %d %s", rc, err);
    ASSERT_OK(util_ed25519_keygen(fx->pub, &fx->pem));
    ASSERT_OK(manifest_sign(fx->m, fx->pem.buf, fx->pem.len, &fx->env));
}

static void fx_free(struct fixture *fx)
{
    manifest_free(fx->m);
    free(fx->paths[0]);
    free(fx->paths[1]);
    sb_free(&fx->pem);
    sb_free(&fx->env);
}

/* verify must refuse with rc, say `want`, and leave *out NULL. */
static void expect_refused(const char *env, size_t len, const uint8_t pub[32], int rc,
                           const char *want)
{
    struct manifest *m = (struct manifest *)1;
    char err[512] = "";
    int got = manifest_verify(env, len, pub, &m, err, sizeof err);
    if (got != rc) TEST_FAIL_("verify: rc %d (%s), want %d", got, err, rc);
    ASSERT_NULL(m);
    if (!strstr(err, want)) TEST_FAIL_("message \"%s\" does not say \"%s\"", err, want);
}

/* An envelope around payload (any bytes), properly signed with pem. */
static void sign_payload(const struct strbuf *pem, const char *type, const char *payload,
                         size_t len, struct strbuf *env)
{
    struct strbuf pae = STRBUF_INIT;
    ASSERT_OK(mf_pae(type, payload, len, &pae));
    uint8_t sig[64], pub[32];
    ASSERT_OK(util_ed25519_sign(pem->buf, pem->len, pae.buf, pae.len, sig));
    ASSERT_OK(util_ed25519_load_pem(pem->buf, pem->len, pub));
    char keyid[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(pub, keyid);
    sb_reset(env);
    ASSERT_OK(sb_puts(env, "{\"payload\":\""));
    ASSERT_OK(tlog_b64_encode(payload, len, env));
    ASSERT_OK(sb_printf(env,
                        "\",\"payloadType\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"",
                        type, keyid));
    ASSERT_OK(tlog_b64_encode(sig, sizeof sig, env));
    ASSERT_OK(sb_puts(env, "\"}]}"));
    sb_free(&pae);
}

/* The statement of fx with `from` replaced by `to` (first occurrence, or the
 * last with last), signed with fx's key; verify must refuse it saying want. */
static void expect_statement_refused(struct fixture *fx, const char *from, const char *to,
                                     bool last, const char *want)
{
    struct strbuf st = STRBUF_INIT, mod = STRBUF_INIT, env = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx->m, &st));
    char *at = strstr(st.buf, from);
    ASSERT_NOT_NULL(at);
    if (last)
        for (char *n = at; n; n = strstr(n + 1, from))
            at = n;
    ASSERT_OK(sb_append(&mod, st.buf, (size_t)(at - st.buf)));
    ASSERT_OK(sb_puts(&mod, to));
    ASSERT_OK(sb_puts(&mod, at + strlen(from)));
    sign_payload(&fx->pem, MANIFEST_PAYLOAD_TYPE, mod.buf, mod.len, &env);
    expect_refused(env.buf, env.len, fx->pub, CUSTODY_EINVAL, want);
    /* and the unsigned parser says the same */
    struct manifest *m = NULL;
    char err[512] = "";
    ASSERT_EQ(CUSTODY_EINVAL, mf_parse_statement(mod.buf, mod.len, &m, err, sizeof err));
    ASSERT_NULL(m);
    sb_free(&st);
    sb_free(&mod);
    sb_free(&env);
}

/* ---- round trip ---- */

static void same_manifest(const struct manifest *a, const struct manifest *b)
{
    ASSERT_STR_EQ(manifest_name(a), manifest_name(b));
    ASSERT_STR_EQ(manifest_version(a), manifest_version(b));
    size_t na, nb;
    const struct manifest_file *fa = manifest_files(a, &na), *fb = manifest_files(b, &nb);
    ASSERT_EQ(na, nb);
    for (size_t i = 0; i < na; i++) {
        ASSERT_STR_EQ(fa[i].name, fb[i].name);
        ASSERT_EQ(fa[i].size, fb[i].size);
        ASSERT_EQ(fa[i].format, fb[i].format);
        ASSERT_MEM_EQ(fa[i].sha256, fb[i].sha256, UTIL_SHA256_LEN);
        ASSERT_STR_EQ(fa[i].sha256_hex, fb[i].sha256_hex);
        ASSERT_EQ(fa[i].ntensors, fb[i].ntensors);
        for (size_t j = 0; j < fa[i].ntensors; j++) {
            const struct manifest_tensor *x = &fa[i].tensors[j], *y = &fb[i].tensors[j];
            ASSERT_STR_EQ(x->name, y->name);
            ASSERT_EQ(x->dtype, y->dtype);
            ASSERT_EQ(x->ndim, y->ndim);
            ASSERT_MEM_EQ(x->shape, y->shape, sizeof x->shape);
            ASSERT_EQ(x->offset, y->offset);
            ASSERT_EQ(x->nbytes, y->nbytes);
        }
    }
}

TEST(manifest_roundtrip)
{
    struct fixture fx;
    fx_init(&fx);
    /* what build recorded: files sorted by name */
    size_t n;
    const struct manifest_file *f = manifest_files(fx.m, &n);
    ASSERT_EQ(2, n);
    ASSERT_STR_EQ("extra.gguf", f[0].name);
    ASSERT_EQ(MODEL_FORMAT_GGUF, f[0].format);
    ASSERT_EQ(2, f[0].ntensors);
    ASSERT_STR_EQ("tok", f[0].tensors[0].name);
    ASSERT_STR_EQ("Q8_0", model_dtype_name(f[0].tensors[1].dtype));
    ASSERT_EQ(34, f[0].tensors[1].nbytes);
    ASSERT_STR_EQ("model-00001.safetensors", f[1].name);
    ASSERT_EQ(MODEL_FORMAT_SAFETENSORS, f[1].format);
    ASSERT_STR_EQ("a", f[1].tensors[0].name);
    ASSERT_EQ(2, f[1].tensors[0].ndim);
    ASSERT_EQ(16, f[1].tensors[0].nbytes);
    ASSERT_STR_EQ("BF16", model_dtype_name(f[1].tensors[1].dtype));
    /* the hash is the whole file's */
    int fd = open(fx.paths[0], O_RDONLY | O_CLOEXEC);
    uint8_t want[32];
    uint64_t size;
    ASSERT_OK(util_sha256_fd(fd, want, &size));
    close(fd);
    ASSERT_MEM_EQ(want, f[1].sha256, 32);
    ASSERT_EQ(size, f[1].size);
    ASSERT_EQ(f[0].size + f[1].size, manifest_total_bytes(fx.m));
    ASSERT(manifest_find_file(fx.m, "extra.gguf") == &f[0]);
    ASSERT_NULL(manifest_find_file(fx.m, "nope"));

    /* the envelope and its statement */
    json_t *env = json_loads(fx.env.buf, 0, NULL);
    ASSERT_NOT_NULL(env);
    ASSERT_STR_EQ(MANIFEST_PAYLOAD_TYPE, json_string_value(json_object_get(env, "payloadType")));
    json_t *sig0 = json_array_get(json_object_get(env, "signatures"), 0);
    char fp[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(fx.pub, fp);
    ASSERT_STR_EQ(fp, json_string_value(json_object_get(sig0, "keyid")));
    json_decref(env);
    struct strbuf st = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx.m, &st));
    ASSERT(strncmp(st.buf, "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":", 55) ==
           0);
    ASSERT_STR_CONTAINS(st.buf, "\"predicateType\":\"https://custody.dev/model-manifest/v1\"");
    ASSERT_STR_CONTAINS(st.buf, "{\"dtype\":\"F32\",\"name\":\"a\",\"nbytes\":16,\"offset\":");
    ASSERT_STR_CONTAINS(st.buf, "\"model\":{\"name\":\"tiny-llm\",\"version\":\"1.0\"}");
    char subj[160];
    snprintf(subj, sizeof subj, "{\"digest\":{\"sha256\":\"%s\"},\"name\":\"extra.gguf\"}",
             f[0].sha256_hex);
    ASSERT_STR_CONTAINS(st.buf, subj);
    sb_free(&st);

    struct manifest *v = NULL;
    char err[512] = "";
    int rc = manifest_verify(fx.env.buf, fx.env.len, fx.pub, &v, err, sizeof err);
    if (rc) TEST_FAIL_("verify: %d %s", rc, err);
    same_manifest(fx.m, v);
    ASSERT_OK(manifest_check_files(v, fx.dir, err, sizeof err));
    manifest_free(v);

    char d[MANIFEST_DIGEST_LEN + 1];
    manifest_digest(fx.env.buf, fx.env.len, d);
    ASSERT_EQ(MANIFEST_DIGEST_LEN, strlen(d));
    ASSERT(strncmp(d, "sha256:", 7) == 0);
    fx_free(&fx);
}

/* The same files in another order make the same statement. */
TEST(manifest_deterministic)
{
    struct fixture fx;
    fx_init(&fx);
    const char *rev[2] = {fx.paths[1], fx.paths[0]};
    struct manifest *m2 = NULL;
    char err[256];
    ASSERT_OK(manifest_build("tiny-llm", "1.0", rev, 2, &m2, err, sizeof err));
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx.m, &a));
    ASSERT_OK(manifest_statement(m2, &b));
    ASSERT_STR_EQ(a.buf, b.buf);
    sb_free(&a);
    sb_free(&b);
    manifest_free(m2);
    fx_free(&fx);
}

/* ---- the envelope ---- */

TEST(manifest_wrong_key)
{
    struct fixture fx;
    fx_init(&fx);
    uint8_t other[32];
    struct strbuf pem = STRBUF_INIT;
    ASSERT_OK(util_ed25519_keygen(other, &pem));
    expect_refused(fx.env.buf, fx.env.len, other, CUSTODY_EBADSIG, "no signature by ed25519:");
    /* the right keyid with another key's signature */
    struct strbuf st = STRBUF_INIT, env = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx.m, &st));
    sign_payload(&pem, MANIFEST_PAYLOAD_TYPE, st.buf, st.len, &env);
    char fp_other[UTIL_ED25519_FP_LEN + 1], fp[UTIL_ED25519_FP_LEN + 1];
    util_ed25519_fingerprint(other, fp_other);
    util_ed25519_fingerprint(fx.pub, fp);
    char *k = strstr(env.buf, fp_other);
    ASSERT_NOT_NULL(k);
    memcpy(k, fp, UTIL_ED25519_FP_LEN);
    expect_refused(env.buf, env.len, fx.pub, CUSTODY_EBADSIG, "does not verify");
    sb_free(&st);
    sb_free(&env);
    sb_free(&pem);
    fx_free(&fx);
}

TEST(manifest_payload_flipped)
{
    struct fixture fx;
    fx_init(&fx);
    json_t *env = json_loadb(fx.env.buf, fx.env.len, 0, NULL);
    const char *p64 = json_string_value(json_object_get(env, "payload"));
    size_t l = strlen(p64), n = 0;
    uint8_t *raw = malloc(l);
    ASSERT_OK(tlog_b64_decode(p64, l, raw, l, &n));
    raw[n / 2] ^= 0x01;
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(tlog_b64_encode(raw, n, &b));
    json_object_set_new(env, "payload", json_string(b.buf));
    char *s = json_dumps(env, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EBADSIG, "does not verify");
    /* payload that is not strict base64 */
    json_object_set_new(env, "payload", json_string("abc"));
    free(s);
    s = json_dumps(env, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EINVAL, "base64");
    free(s);
    free(raw);
    sb_free(&b);
    json_decref(env);
    fx_free(&fx);
}

TEST(manifest_sig_flipped)
{
    struct fixture fx;
    fx_init(&fx);
    json_t *env = json_loadb(fx.env.buf, fx.env.len, 0, NULL);
    json_t *sig0 = json_array_get(json_object_get(env, "signatures"), 0);
    uint8_t sig[64];
    size_t n = 0;
    const char *s64 = json_string_value(json_object_get(sig0, "sig"));
    ASSERT_OK(tlog_b64_decode(s64, strlen(s64), sig, sizeof sig, &n));
    sig[10] ^= 0x80;
    struct strbuf b = STRBUF_INIT;
    ASSERT_OK(tlog_b64_encode(sig, sizeof sig, &b));
    json_object_set_new(sig0, "sig", json_string(b.buf));
    char *s = json_dumps(env, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EBADSIG, "does not verify");
    free(s);
    /* a short signature */
    json_object_set_new(sig0, "sig", json_string("AAAA"));
    s = json_dumps(env, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EINVAL, "64 bytes");
    free(s);
    sb_free(&b);
    json_decref(env);
    fx_free(&fx);
}

TEST(manifest_envelope_shape)
{
    struct fixture fx;
    fx_init(&fx);
    json_t *env = json_loadb(fx.env.buf, fx.env.len, 0, NULL);
    json_t *c = json_deep_copy(env);
    json_object_set_new(c, "payloadType", json_string("application/json"));
    char *s = json_dumps(c, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EINVAL, "payloadType");
    free(s);
    json_decref(c);
    /* the same statement signed under another type */
    struct strbuf st = STRBUF_INIT, e2 = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx.m, &st));
    sign_payload(&fx.pem, "application/json", st.buf, st.len, &e2);
    expect_refused(e2.buf, e2.len, fx.pub, CUSTODY_EINVAL, "payloadType");
    c = json_deep_copy(env);
    json_object_set_new(c, "extra", json_true());
    s = json_dumps(c, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EINVAL, "unknown member");
    free(s);
    json_decref(c);
    c = json_deep_copy(env);
    json_object_set_new(c, "signatures", json_array());
    s = json_dumps(c, JSON_COMPACT);
    expect_refused(s, strlen(s), fx.pub, CUSTODY_EINVAL, "signatures");
    free(s);
    json_decref(c);
    expect_refused("{\"payload\":", 11, fx.pub, CUSTODY_EINVAL, "not JSON");
    expect_refused("{}", 2, fx.pub, CUSTODY_EINVAL, "has no");
    expect_refused(fx.env.buf, (size_t)MANIFEST_MAX_ENVELOPE + 1, fx.pub, CUSTODY_ETOOBIG, "limit");
    /* a signature by someone else first, then ours: accepted */
    c = json_deep_copy(env);
    json_t *sigs = json_object_get(c, "signatures");
    json_t *other = json_deep_copy(json_array_get(sigs, 0));
    json_object_set_new(other, "keyid", json_string("someone-else"));
    json_array_insert_new(sigs, 0, other);
    s = json_dumps(c, JSON_INDENT(2));
    struct manifest *m = NULL;
    char err[512] = "";
    int rc = manifest_verify(s, strlen(s), fx.pub, &m, err, sizeof err);
    if (rc) TEST_FAIL_("verify: %d %s", rc, err);
    manifest_free(m);
    free(s);
    json_decref(c);
    json_decref(env);
    sb_free(&st);
    sb_free(&e2);
    fx_free(&fx);
}

/* ---- lying statements behind a good signature ---- */

TEST(manifest_subject_digest_mismatch)
{
    struct fixture fx;
    fx_init(&fx);
    size_t n;
    const struct manifest_file *f = manifest_files(fx.m, &n);
    char other[65];
    memcpy(other, f[1].sha256_hex, 65);
    other[0] = other[0] == '0' ? '1' : '0';
    expect_statement_refused(&fx, f[1].sha256_hex, other, true, "does not match the predicate");
    expect_statement_refused(&fx, "\"name\":\"extra.gguf\"}", "\"name\":\"zzz.gguf\"}", true,
                             "subject[0] names 'zzz.gguf'");
    fx_free(&fx);
}

TEST(manifest_statement_lies)
{
    struct fixture fx;
    fx_init(&fx);
    expect_statement_refused(&fx, "Statement/v1", "Statement/v0.1", false, "_type");
    expect_statement_refused(&fx, "model-manifest/v1", "model-manifest/v2", false, "predicateType");
    expect_statement_refused(&fx, "\"dtype\":\"F32\"", "\"dtype\":\"F33\"", false, "unknown dtype");
    expect_statement_refused(&fx, "\"nbytes\":16,", "\"nbytes\":17,", false, "does not take");
    expect_statement_refused(&fx, "\"format\":\"gguf\"", "\"format\":\"onnx\"", false, "format");
    expect_statement_refused(&fx, "\"model\":{", "\"model\":{\"x\":1,", false, "unknown member");
    expect_statement_refused(&fx, "{\"_type\"", " {\"_type\"", false, "canonical");
    expect_statement_refused(&fx, "\"version\":\"1.0\"", "\"version\":\"\\u0031.0\"", false,
                             "canonical");
    expect_statement_refused(&fx, "\"size\":", "\"size\":-", false, "size");
    expect_statement_refused(&fx, "\"name\":\"extra.gguf\",", "\"name\":\"../extra.gguf\",", false,
                             "plain file name");
    expect_statement_refused(&fx, "\"version\":\"1.0\"", "\"version\":\"1.0\",\"version\":\"2\"",
                             false, "not JSON");
    /* a tensor past the end of its file: offsets moved by the file size */
    size_t n;
    const struct manifest_file *f = manifest_files(fx.m, &n);
    char from[64], to[64];
    snprintf(from, sizeof from, "\"offset\":%llu,", (unsigned long long)f[0].tensors[1].offset);
    snprintf(to, sizeof to, "\"offset\":%llu,", (unsigned long long)f[0].size);
    expect_statement_refused(&fx, from, to, false, "runs past the end");
    fx_free(&fx);
}

TEST(manifest_duplicate_names)
{
    struct fixture fx;
    fx_init(&fx);
    char *sub = path_in(fx.dir, "sub");
    ASSERT_OK(mkdir(sub, 0755));
    write_st(sub, "model-00001.safetensors", 9);
    char *dup = path_in(sub, "model-00001.safetensors");
    const char *paths[2] = {fx.paths[0], dup};
    struct manifest *m = (struct manifest *)1;
    char err[512] = "";
    ASSERT_EQ(CUSTODY_EINVAL, manifest_build("x", "1", paths, 2, &m, err, sizeof err));
    ASSERT_NULL(m);
    ASSERT_STR_CONTAINS(err, "two shard files are named 'model-00001.safetensors'");
    /* and a signed statement that names one file twice */
    size_t n;
    const struct manifest_file *f = manifest_files(fx.m, &n);
    char from[128], to[128];
    snprintf(from, sizeof from, "\"name\":\"extra.gguf\",\"sha256\":\"%s\"", f[0].sha256_hex);
    snprintf(to, sizeof to, "\"name\":\"model-00001.safetensors\",\"sha256\":\"%s\"",
             f[0].sha256_hex);
    struct strbuf st = STRBUF_INIT;
    ASSERT_OK(manifest_statement(fx.m, &st));
    /* subject too, so only the duplicate is wrong */
    char sfrom[160], sto[160];
    snprintf(sfrom, sizeof sfrom, "\"%s\"},\"name\":\"extra.gguf\"", f[0].sha256_hex);
    snprintf(sto, sizeof sto, "\"%s\"},\"name\":\"model-00001.safetensors\"", f[0].sha256_hex);
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT, env = STRBUF_INIT;
    char *at = strstr(st.buf, from);
    ASSERT_NOT_NULL(at);
    ASSERT_OK(sb_append(&a, st.buf, (size_t)(at - st.buf)));
    ASSERT_OK(sb_puts(&a, to));
    ASSERT_OK(sb_puts(&a, at + strlen(from)));
    at = strstr(a.buf, sfrom);
    ASSERT_NOT_NULL(at);
    ASSERT_OK(sb_append(&b, a.buf, (size_t)(at - a.buf)));
    ASSERT_OK(sb_puts(&b, sto));
    ASSERT_OK(sb_puts(&b, at + strlen(sfrom)));
    sign_payload(&fx.pem, MANIFEST_PAYLOAD_TYPE, b.buf, b.len, &env);
    expect_refused(env.buf, env.len, fx.pub, CUSTODY_EINVAL, "is named twice");
    sb_free(&a);
    sb_free(&b);
    sb_free(&env);
    sb_free(&st);
    free(dup);
    free(sub);
    fx_free(&fx);
}

/* ---- shards ---- */

TEST(manifest_shard_swapped)
{
    struct fixture fx;
    fx_init(&fx);
    write_st(fx.dir, "model-00001.safetensors", 2); /* same size, other bytes */
    char err[512] = "";
    ASSERT_EQ(CUSTODY_ECORRUPT, manifest_check_files(fx.m, fx.dir, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "shard 'model-00001.safetensors' swapped after signing: sha256");
    fx_free(&fx);
}

TEST(manifest_shard_truncated)
{
    struct fixture fx;
    fx_init(&fx);
    ASSERT_OK(truncate(fx.paths[1], 40));
    char err[512] = "";
    ASSERT_EQ(CUSTODY_ECORRUPT, manifest_check_files(fx.m, fx.dir, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "shard 'extra.gguf' swapped after signing: 40 bytes");
    /* build refuses it: the header says more than the file holds */
    struct manifest *m = (struct manifest *)1;
    const char *one[1] = {fx.paths[1]};
    ASSERT(manifest_build("x", "1", one, 1, &m, err, sizeof err) < 0);
    ASSERT_NULL(m);
    ASSERT_STR_CONTAINS(err, "not a model shard we accept");
    fx_free(&fx);
}

TEST(manifest_shard_missing_or_link)
{
    struct fixture fx;
    fx_init(&fx);
    char *moved = path_in(fx.dir, "elsewhere");
    ASSERT_OK(rename(fx.paths[1], moved));
    char err[512] = "";
    ASSERT_EQ(CUSTODY_ENOENT, manifest_check_files(fx.m, fx.dir, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "shard 'extra.gguf' is missing");
    ASSERT_OK(symlink(moved, fx.paths[1]));
    ASSERT_EQ(CUSTODY_ECORRUPT, manifest_check_files(fx.m, fx.dir, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "symbolic link");
    free(moved);
    fx_free(&fx);
}

TEST(manifest_not_a_model)
{
    const char *dir = test_tmpdir();
    test_write_file(dir, "notes.txt", "these are not weights, just some words\n");
    char *p = path_in(dir, "notes.txt");
    const char *one[1] = {p};
    struct manifest *m = (struct manifest *)1;
    char err[512] = "";
    ASSERT_EQ(MODEL_EFORMAT, manifest_build("x", "1", one, 1, &m, err, sizeof err));
    ASSERT_NULL(m);
    ASSERT_STR_CONTAINS(err, "neither a safetensors nor a GGUF file");
    const char *dirs[1] = {dir};
    ASSERT(manifest_build("x", "1", dirs, 1, &m, err, sizeof err) < 0);
    ASSERT_NULL(m);
    write_st(dir, "ok.safetensors", 0);
    free(p);
    p = path_in(dir, "ok.safetensors");
    one[0] = p;
    ASSERT_EQ(CUSTODY_EINVAL, manifest_build("", "1", one, 1, &m, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "model name is empty");
    ASSERT_EQ(CUSTODY_EINVAL, manifest_build("x", "1\n", one, 1, &m, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "control character");
    ASSERT_EQ(CUSTODY_EINVAL, manifest_build("x", "1", one, 0, &m, err, sizeof err));
    free(p);
}

/* ---- an independent check: python3 + cryptography ---- */

static const char PY_CHECK[] =
    "import base64, hashlib, json, os, sys\n"
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n"
    "env = json.load(open(sys.argv[1]))\n"
    "pub = bytes.fromhex(sys.argv[2])\n"
    "t = env['payloadType']\n"
    "assert t == 'application/vnd.in-toto+json'\n"
    "body = base64.b64decode(env['payload'], validate=True)\n"
    "pae = b'DSSEv1 %d %s %d %s' % (len(t), t.encode(), len(body), body)\n"
    "s = env['signatures'][0]\n"
    "assert s['keyid'] == 'ed25519:' + hashlib.sha256(pub).hexdigest()\n"
    "Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(s['sig']), pae)\n"
    "st = json.loads(body)\n"
    "assert json.dumps(st, sort_keys=True, separators=(',', ':'), ensure_ascii=False)"
    ".encode() == body\n"
    "assert st['_type'] == 'https://in-toto.io/Statement/v1'\n"
    "for sub, f in zip(st['subject'], st['predicate']['files']):\n"
    "    data = open(os.path.join(sys.argv[3], sub['name']), 'rb').read()\n"
    "    assert sub['digest']['sha256'] == hashlib.sha256(data).hexdigest() == f['sha256']\n"
    "    assert len(data) == f['size']\n"
    "print('python: DSSE signature and statement ok')\n";

TEST(manifest_python_crosscheck)
{
    if (system("python3 -c 'import cryptography' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: python3 with cryptography not installed\n");
        return;
    }
    struct fixture fx;
    fx_init(&fx);
    test_write_file(fx.dir, "check.py", PY_CHECK);
    char *envp = path_in(fx.dir, "envelope.json");
    write_bytes(envp, fx.env.buf, fx.env.len);
    char hex[65], cmd[1024];
    util_hex_encode(fx.pub, 32, hex);
    snprintf(cmd, sizeof cmd, "python3 '%s/check.py' '%s' %s '%s'", fx.dir, envp, hex, fx.dir);
    ASSERT_EQ(0, system(cmd));
    /* and it refuses a flipped signature, so the check above means something */
    char *sig = strstr(fx.env.buf, "\"sig\":\"");
    ASSERT_NOT_NULL(sig);
    sig[7] = sig[7] == 'A' ? 'B' : 'A';
    write_bytes(envp, fx.env.buf, fx.env.len);
    snprintf(cmd, sizeof cmd, "python3 '%s/check.py' '%s' %s '%s' 2>/dev/null", fx.dir, envp, hex,
             fx.dir);
    ASSERT_NE(0, system(cmd));
    free(envp);
    fx_free(&fx);
}

/* ---- the fuzz seeds: signed with RFC 8032 test 1's key, as fuzz_manifest
 * verifies with. With CUSTODY_MANIFEST_SEEDS=DIR set, they are written there
 * (fuzz/corpus/manifest was made so). ---- */

static const char FIXED_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                                "-----END PRIVATE KEY-----\n";

static void seed(const char *dir, const char *name, const char *p, size_t n)
{
    if (!dir) return;
    char *path = path_in(dir, name);
    write_bytes(path, p, n);
    free(path);
}

TEST(manifest_fixed_key_seeds)
{
    const char *out = getenv("CUSTODY_MANIFEST_SEEDS");
    struct fixture fx;
    fx_init(&fx);
    struct strbuf pem = STRBUF_INIT, env = STRBUF_INIT, st = STRBUF_INIT;
    ASSERT_OK(sb_puts(&pem, FIXED_PEM));
    uint8_t pub[32], want[32];
    ASSERT_OK(util_ed25519_load_pem(pem.buf, pem.len, pub));
    ASSERT_OK(util_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                              64, want));
    ASSERT_MEM_EQ(pub, want, 32);
    ASSERT_OK(manifest_sign(fx.m, pem.buf, pem.len, &env));
    struct manifest *m = NULL;
    char err[512] = "";
    ASSERT_OK(manifest_verify(env.buf, env.len, pub, &m, err, sizeof err));
    manifest_free(m);
    seed(out, "valid.envelope", env.buf, env.len);
    ASSERT_OK(manifest_statement(fx.m, &st));
    seed(out, "valid.statement", st.buf, st.len);
    /* broken ones */
    char *t = strstr(env.buf, "in-toto+json");
    ASSERT_NOT_NULL(t);
    t[0] = 'X';
    seed(out, "bad-type.envelope", env.buf, env.len);
    t[0] = 'i';
    seed(out, "truncated.envelope", env.buf, env.len / 2);
    size_t n;
    const struct manifest_file *f = manifest_files(fx.m, &n);
    char *h = strstr(st.buf + st.len / 2, f[1].sha256_hex);
    ASSERT_NOT_NULL(h);
    h[0] = h[0] == '0' ? '1' : '0';
    sign_payload(&pem, MANIFEST_PAYLOAD_TYPE, st.buf, st.len, &env);
    expect_refused(env.buf, env.len, pub, CUSTODY_EINVAL, "does not match");
    seed(out, "subject-mismatch.envelope", env.buf, env.len);
    char *s = strstr(env.buf, "\"sig\":\"");
    ASSERT_NOT_NULL(s);
    s[7] = s[7] == 'A' ? 'B' : 'A';
    seed(out, "bad-sig.envelope", env.buf, env.len);
    sb_free(&pem);
    sb_free(&env);
    sb_free(&st);
    fx_free(&fx);
}
