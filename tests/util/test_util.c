#include "test.h"

#include <errno.h>
#include <time.h>

#include "util/util.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

TEST(util_utf8)
{
    ASSERT(util_utf8_valid("hello", 5));
    ASSERT(util_utf8_valid("h\xc3\xa9llo", 6));
    ASSERT(util_utf8_valid("\xf0\x9f\x98\x80", 4));
    ASSERT(!util_utf8_valid("\xc3", 1));          /* truncated */
    ASSERT(!util_utf8_valid("\xc0\xaf", 2));      /* overlong */
    ASSERT(!util_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
    ASSERT(!util_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ASSERT(!util_utf8_valid("\xff", 1));
    ASSERT(!util_utf8_valid("a\xe2\x82", 3));
}

TEST(util_ct_equal_every_length_and_byte)
{
    /* word-wise with a byte tail: every length around the word size, every
     * position of a difference, misaligned starts */
    unsigned char a[80], b[80];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = b[i] = (unsigned char)(i * 37 + 11);
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= 72; n++) {
            ASSERT(util_ct_equal(a + off, b + off, n));
            for (size_t k = 0; k < n; k++) {
                b[off + k] ^= 0x80;
                ASSERT(!util_ct_equal(a + off, b + off, n));
                b[off + k] ^= 0x80;
                b[off + k] ^= 0x01;
                ASSERT(!util_ct_equal(a + off, b + off, n));
                b[off + k] ^= 0x01;
            }
        }
    }
    /* a difference just outside the compared bytes does not count */
    b[16] ^= 0xff;
    ASSERT(util_ct_equal(a, b, 16));
    ASSERT(!util_ct_equal(a, b, 17));
}

TEST(util_utf8_encode)
{
    static const struct {
        uint32_t cp;
        const char *want;
    } cases[] = {{0x41, "A"},
                 {0xe9, "\xc3\xa9"},
                 {0x7ff, "\xdf\xbf"},
                 {0x20ac, "\xe2\x82\xac"},
                 {0xffff, "\xef\xbf\xbf"},
                 {0x1f600, "\xf0\x9f\x98\x80"},
                 {0x10ffff, "\xf4\x8f\xbf\xbf"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[4];
        size_t n = util_utf8_encode(cases[i].cp, out);
        ASSERT_EQ(strlen(cases[i].want), n);
        ASSERT_MEM_EQ(cases[i].want, out, n);
        ASSERT(util_utf8_valid(out, n));
    }
}

TEST(util_parse_u64)
{
    uint64_t v = 0;
    ASSERT_OK(util_parse_u64("0", 1, &v));
    ASSERT_EQ(0, v);
    ASSERT_OK(util_parse_u64("18446744073709551615", 20, &v));
    ASSERT(v == UINT64_MAX);
    ASSERT_EQ(CUSTODY_ERANGE, util_parse_u64("18446744073709551616", 20, &v));
    ASSERT_EQ(CUSTODY_EINVAL, util_parse_u64("", 0, &v));
    ASSERT_EQ(CUSTODY_EINVAL, util_parse_u64("-1", 2, &v));
    ASSERT_EQ(CUSTODY_EINVAL, util_parse_u64("1 ", 2, &v));
}

TEST(util_u64_text_matches_printf)
{
    const uint64_t v[] = {0, 1, 9, 10, 99, 100, 4096, 1000000007ull, UINT32_MAX,
                          (uint64_t)UINT32_MAX + 1, 9007199254740991ull, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[21], want[32];
        size_t n = util_u64_text(v[i], got);
        snprintf(want, sizeof want, "%llu", (unsigned long long)v[i]);
        ASSERT_STR_EQ(want, got);
        ASSERT_EQ(strlen(want), n);
    }
}

TEST(util_i64_text_matches_printf)
{
    const int64_t v[] = {0, 1, -1, 9, -10, 4096, -9007199254740991ll, INT64_MAX, INT64_MIN,
                         INT64_MIN + 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[22], want[32];
        size_t n = util_i64_text(v[i], got);
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        ASSERT_STR_EQ(want, got);
        ASSERT_EQ(strlen(want), n);
    }
}

TEST(util_strlcat_appends_and_cuts)
{
    char b[8] = "ab";
    ASSERT_EQ(4, util_strlcat(b, "cd", sizeof b));
    ASSERT_STR_EQ("abcd", b);
    ASSERT_EQ(9, util_strlcat(b, "efghi", sizeof b)); /* cut: 7 bytes and the NUL */
    ASSERT_STR_EQ("abcdefg", b);
    ASSERT_EQ(8, util_strlcat(b, "x", sizeof b)); /* full: unchanged */
    ASSERT_STR_EQ("abcdefg", b);
    ASSERT_EQ(7, util_strlcat(b, "", sizeof b));
    char full[4] = {'w', 'x', 'y', 'z'}; /* no NUL within the size: left alone */
    ASSERT_EQ(5, util_strlcat(full, "q", sizeof full));
    ASSERT_EQ('z', full[3]);
}

TEST(util_sha256_hex)
{
    uint8_t d[32];
    char hex[65];
    util_sha256("abc", 3, d);
    util_hex_encode(d, 32, hex);
    ASSERT_STR_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex);
    uint8_t back[32];
    ASSERT_OK(util_hex_decode(hex, 64, back));
    ASSERT_MEM_EQ(d, back, 32);
    ASSERT_EQ(CUSTODY_EINVAL, util_hex_decode("zz", 2, back));
}

TEST(util_strbuf_json_escape)
{
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_json_escape(&sb, "a\"b\\c\n\x01", 7));
    ASSERT_STR_EQ("a\\\"b\\\\c\\n\\u0001", sb.buf);
    sb_reset(&sb);
    ASSERT_OK(sb_printf(&sb, "%d-%s", 42, "x"));
    ASSERT_STR_EQ("42-x", sb.buf);
    sb_free(&sb);
}

TEST(util_strlcpy_truncates)
{
    char b[4];
    ASSERT_EQ(6, util_strlcpy(b, "abcdef", sizeof b));
    ASSERT_STR_EQ("abc", b);
    ASSERT_EQ(CUSTODY_ENAMETOOLONG, util_snprintf(b, sizeof b, "%s", "abcd"));
}

TEST(util_atomic_write_and_read)
{
    const char *dir = test_tmpdir();
    char *p = util_path_join(dir, "f.txt");
    ASSERT_OK(util_write_file_atomic(p, "hello", 5, 0600));
    char *data = NULL;
    size_t n = 0;
    ASSERT_OK(util_read_file(p, 100, &data, &n));
    ASSERT_EQ(5, n);
    ASSERT_STR_EQ("hello", data);
    free(data);
    ASSERT_EQ(CUSTODY_ETOOBIG, util_read_file(p, 3, &data, &n));
    free(p);
}

TEST(util_err_table)
{
    ASSERT_STR_EQ("not_found", custody_err_code(CUSTODY_ENOENT));
    ASSERT_EQ(CUSTODY_ENOENT, custody_err_from_code("not_found"));
    ASSERT_EQ(404, custody_err_http_status(CUSTODY_ENOENT));
    ASSERT_EQ(416, custody_err_http_status(CUSTODY_ERANGE));
    ASSERT_EQ(CUSTODY_EESCAPE, custody_err_from_errno(EXDEV));
}

TEST(util_dates)
{
    char d[32], r[40];
    util_http_date(0, d);
    ASSERT_STR_EQ("Thu, 01 Jan 1970 00:00:00 GMT", d);
    util_rfc3339_ns(1500000000123456789ull, r);
    ASSERT_STR_EQ("2017-07-14T02:40:00.123456789Z", r);
    util_rfc3339_ns(0, r);
    ASSERT_STR_EQ("1970-01-01T00:00:00.000000000Z", r);
    util_rfc3339_ns(951782400000000001ull, r); /* a leap day of a century divisible by 400 */
    ASSERT_STR_EQ("2000-02-29T00:00:00.000000001Z", r);
    util_rfc3339_ns(UINT64_MAX, r);
    ASSERT_STR_EQ("2554-07-21T23:34:33.709551615Z", r);
    /* against gmtime_r, every few hours over the whole range */
    for (uint64_t s = 0; s < UINT64_MAX / 1000000000ull; s += 12345 + s / 1000) {
        time_t t = (time_t)s;
        struct tm tm;
        ASSERT(gmtime_r(&t, &tm));
        char want[96];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.000000042Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        util_rfc3339_ns(s * 1000000000ull + 42, r);
        ASSERT_STR_EQ(want, r);
    }
}

TEST(util_ed25519_public_key_files)
{
    uint8_t pub[32], got[32];
    struct strbuf priv = STRBUF_INIT;
    ASSERT_OK(util_ed25519_keygen(pub, &priv));
    const char *dir = test_tmpdir();
    /* the public half as PEM, written by OpenSSL */
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    BIO *b = BIO_new(BIO_s_mem());
    ASSERT(k && b && PEM_write_bio_PUBKEY(b, k) == 1);
    char *pem;
    long n = BIO_get_mem_data(b, &pem);
    struct strbuf text = STRBUF_INIT;
    sb_append(&text, pem, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(k);
    test_write_file(dir, "pub.pem", text.buf);
    test_write_file(dir, "priv.pem", priv.buf);
    test_write_file(dir, "junk.pem", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n");
    char *p = util_path_join(dir, "pub.pem");
    ASSERT_OK(util_ed25519_load_public_file(p, got));
    ASSERT_MEM_EQ(pub, got, 32);
    free(p);
    p = util_path_join(dir, "priv.pem"); /* a private key is not a public key file */
    ASSERT_EQ(CUSTODY_EINVAL, util_ed25519_load_public_file(p, got));
    free(p);
    p = util_path_join(dir, "junk.pem");
    ASSERT_EQ(CUSTODY_EINVAL, util_ed25519_load_public_file(p, got));
    free(p);
    p = util_path_join(dir, "missing.pem");
    ASSERT_EQ(CUSTODY_ENOENT, util_ed25519_load_public_file(p, got));
    free(p);
    sb_free(&text);
    sb_free(&priv);
}
