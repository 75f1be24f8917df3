/*
 * test_note.c — src/ledger/note.c: base64, signed notes, verifier keys,
 * cosignatures, checkpoints, tlog-proof files and tlog-witness request bodies.
 *
 * Known answers were derived independently of this code:
 *   - PeterNeumann: the example key, verifier key and signed note from the
 *     documentation of Go's golang.org/x/mod/sumdb/note, re-checked with
 *     python3 + cryptography (Ed25519PrivateKey.from_private_bytes(seed),
 *     hashlib.sha256(name + b"\n" + b"\x01" + pub).digest()[:4], sign(text)).
 *   - The witness key uses the RFC 8032 §7.1 TEST 1 seed (public key
 *     d75a9801...511a, as `openssl pkey -pubout` also prints for the PEM
 *     below); its key id, vkey and the cosignature line (time 1679315147 over
 *     the tlog-cosignature example checkpoint) were computed with python3:
 *         msg = b"cosignature/v1\ntime 1679315147\n" + checkpoint
 *         b64(sha256(b"witness.example/w1\n\x04" + pub)[:4] + t.to_bytes(8,
 *             "big") + sk.sign(msg))
 *   - The log key is seed 00 01 .. 1f, name example.com/behind-the-sofa,
 *     same method with type byte 0x01 and the checkpoint as the message.
 *   - The PEM files were written by cryptography's private_bytes(PKCS8).
 *   - The spec examples (tlog-witness request, signature lines) are copied
 *     from the C2SP documents.
 */
#include "test.h"

#include "ledger/tlog.h"

/* ---- fixtures ---- */

static const char peter_seed_hex[] =
    "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
static const char peter_vkey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char peter_text[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n";
static const char peter_note[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ryy"
    "BwJnAM=\n";

static const char rfc8032_seed_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc8032_pub_hex[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char witness_vkey[] =
    "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
static const char witness_cosig_line[] =
    "\xe2\x80\x94 witness.example/w1 "
    "63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/"
    "HbuL3AJsp3bv/aNCQ==\n";
#define COSIG_TIME 1679315147u

static const char log_name[] = "example.com/behind-the-sofa";
static const char log_vkey[] =
    "example.com/behind-the-sofa+1f59e8f5+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
static const char log_sig_line[] =
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "H1no9Vbha/V7K+0nOUyOYWY2eeqkJO0R/8eVdJBP1U6klJ63rYHH36AjiNbqMeYZ5wXtNMpYFqOQG4s/igFrn"
    "BBp3AU=\n";

static const char checkpoint_text[] = "example.com/behind-the-sofa\n"
                                      "20852163\n"
                                      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

static const char pem_ed25519[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
static const char pem_encrypted[] =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBBvUvMF1MvkvLJxFSDl\n"
    "khDtAgIIADAMBggqhkiG9w0CCQUAMB0GCWCGSAFlAwQBKgQQ2OrjLes77hmegXvW\n"
    "YrTeGARAifF3T/KSeTj9M4+S8t6QtaTUb2oH1EMlN1hMaq0HZkRfEfuf/peM6bMH\n"
    "rjXdmIcMgq7CHBWPulRmAwELFTjoZA==\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n";
static const char pem_p256[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAAAAAAAAAAAAAAAA\n"
                               "AAAAAAAAAAAAAAAAAAAAAAAAMDmhRANCAAQm7869DunjSmaRh+GLOpEisvczlFtk\n"
                               "nMn5+SHp+drYEpAji96cx7szDRUMZ3BN0lrnBVIFdEtvMb9AcHRYctDm\n"
                               "-----END PRIVATE KEY-----\n";

#define DASH "\xe2\x80\x94 "

static void hex32(const char *hex, uint8_t out[32])
{
    ASSERT_OK(util_hex_decode(hex, 64, out));
}

static void seed_key(struct tlog_key *k, const char *name, uint8_t type, uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    ASSERT_OK(tlog_key_from_seed(name, type, seed, k));
}

static void log_key(struct tlog_key *k)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    ASSERT_OK(tlog_key_from_seed(log_name, TLOG_KEY_ED25519, seed, k));
}

static void witness_key(struct tlog_key *k)
{
    uint8_t seed[32];
    hex32(rfc8032_seed_hex, seed);
    ASSERT_OK(tlog_key_from_seed("witness.example/w1", TLOG_KEY_COSIGNATURE, seed, k));
}

/* Signs text with the keys and parses the result into *n (static storage
 * in sb). */
static void sign_note(const char *text, const struct tlog_key *const *keys, size_t nkeys,
                      struct strbuf *sb, struct tlog_note *n)
{
    ASSERT_OK(tlog_note_sign(text, strlen(text), keys, nkeys, COSIG_TIME, sb));
    ASSERT_OK(tlog_note_parse(sb->buf, sb->len, n));
}

static int parse_str(const char *s, struct tlog_note *n)
{
    return tlog_note_parse(s, strlen(s), n);
}

static int cp_parse(const char *s)
{
    struct tlog_checkpoint c;
    return tlog_checkpoint_parse(s, strlen(s), &c);
}

/* A signed checkpoint (log signature) as a heap string. */
static char *signed_checkpoint(void)
{
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, checkpoint_text));
    ASSERT_OK(sb_puts(&sb, "\n"));
    ASSERT_OK(sb_puts(&sb, log_sig_line));
    return sb_detach(&sb);
}

/* ---- base64 ---- */

TEST(b64_encode_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(plain); i++) {
        struct strbuf sb = STRBUF_INIT;
        ASSERT_OK(tlog_b64_encode(plain[i], strlen(plain[i]), &sb));
        ASSERT_STR_EQ(enc[i], sb.len ? sb.buf : "");
        uint8_t out[8];
        size_t n = 99;
        ASSERT_OK(tlog_b64_decode(enc[i], strlen(enc[i]), out, sizeof out, &n));
        ASSERT_EQ(strlen(plain[i]), n);
        ASSERT_MEM_EQ(plain[i], out, n);
        sb_free(&sb);
    }
}

TEST(b64_roundtrip_all_lengths)
{
    uint8_t in[100], out[100];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof in; len++) {
        struct strbuf sb = STRBUF_INIT;
        ASSERT_OK(tlog_b64_encode(in, len, &sb));
        ASSERT_EQ((len + 2) / 3 * 4, sb.len);
        size_t n = 0;
        ASSERT_OK(tlog_b64_decode(sb.buf ? sb.buf : "", sb.len, out, sizeof out, &n));
        ASSERT_EQ(len, n);
        ASSERT_MEM_EQ(in, out, len);
        sb_free(&sb);
    }
}

TEST(b64_decode_strict)
{
    static const char *const bad[] = {
        "Zg",       /* unpadded */
        "Zg=",      /* short padding */
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",     /* ditto, one '=' */
        "Zm9v\n",   /* whitespace */
        " Zm9v",    /* whitespace */
        "Zm=v",     /* '=' in the middle */
        "====",     /* only padding */
        "Z===",     /* three '=' */
        "Zm9vZg==Zm9v", /* padding before the end */
        "-_-_",     /* URL alphabet */
        "Zm9v====",
    };
    uint8_t out[16];
    size_t n = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        ASSERT_EQ(CUSTODY_EINVAL, tlog_b64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_b64_decode("Zm\0v", 4, out, sizeof out, &n));
    /* more than max bytes */
    ASSERT_EQ(CUSTODY_EINVAL, tlog_b64_decode("Zm9vYg==", 8, out, 3, &n));
    ASSERT_OK(tlog_b64_decode("Zm9vYg==", 8, out, 4, &n));
    ASSERT_EQ(4, n);
    /* never reads past len: "Zm9v" followed by garbage */
    ASSERT_OK(tlog_b64_decode("Zm9v!!!!", 4, out, sizeof out, &n));
    ASSERT_EQ(3, n);
}

/* ---- keys ---- */

TEST(note_key_id_kat)
{
    uint8_t seed[32];
    hex32(peter_seed_hex, seed);
    struct tlog_key k;
    ASSERT_OK(tlog_key_from_seed("PeterNeumann", TLOG_KEY_ED25519, seed, &k));
    ASSERT_EQ(0xc74f20a3u, k.id);
    ASSERT(k.has_priv);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_vkey_format(&k, &sb));
    ASSERT_STR_EQ(peter_vkey, sb.buf);

    /* the verifier key parses back to the same public key and id */
    struct tlog_key v;
    ASSERT_OK(tlog_vkey_parse(sb.buf, sb.len, &v));
    ASSERT_STR_EQ("PeterNeumann", v.name);
    ASSERT_EQ(TLOG_KEY_ED25519, v.type);
    ASSERT_EQ(k.id, v.id);
    ASSERT_MEM_EQ(k.pub, v.pub, 32);
    ASSERT(!v.has_priv);

    /* from the public key alone */
    struct tlog_key p;
    ASSERT_OK(tlog_key_from_pub("PeterNeumann", TLOG_KEY_ED25519, k.pub, &p));
    ASSERT_EQ(k.id, p.id);
    ASSERT(!p.has_priv);
    sb_free(&sb);
    tlog_key_wipe(&k);
}

TEST(note_vkey_cosignature_kat)
{
    struct tlog_key w, l;
    witness_key(&w);
    uint8_t pub[32];
    hex32(rfc8032_pub_hex, pub);
    ASSERT_MEM_EQ(pub, w.pub, 32);
    ASSERT_EQ(0xeb762cc2u, w.id);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_vkey_format(&w, &sb));
    ASSERT_STR_EQ(witness_vkey, sb.buf);
    sb_reset(&sb);
    log_key(&l);
    ASSERT_OK(tlog_vkey_format(&l, &sb));
    ASSERT_STR_EQ(log_vkey, sb.buf);
    /* the same key under type 0x01 has another id */
    struct tlog_key w1;
    ASSERT_OK(tlog_key_from_pub("witness.example/w1", TLOG_KEY_ED25519, w.pub, &w1));
    ASSERT_NE(w.id, w1.id);
    sb_free(&sb);
}

TEST(note_key_aliasing)
{
    /* name and pub may come from the key being overwritten */
    struct tlog_key k;
    witness_key(&k);
    uint32_t cosig_id = k.id;
    ASSERT_OK(tlog_key_from_pub(k.name, TLOG_KEY_ED25519, k.pub, &k));
    ASSERT_STR_EQ("witness.example/w1", k.name);
    ASSERT_NE(cosig_id, k.id);
    ASSERT_OK(tlog_key_from_pub(k.name, TLOG_KEY_COSIGNATURE, k.pub, &k));
    ASSERT_EQ(cosig_id, k.id);
}

TEST(note_vkey_parse_rejects)
{
    struct tlog_key k;
    static const char *const bad[] = {
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* uppercase */
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* wrong id */
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* other name */
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* 7 hex */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  /* short */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=", /* long */
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
        "PeterNeumann+c74f20a3",
        "PeterNeumann",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",             /* no name */
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* space */
        "PeterNeumann+c74f20a3-ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        ASSERT_EQ(CUSTODY_EINVAL, tlog_vkey_parse(bad[i], strlen(bad[i]), &k));
    /* type byte 0x02 (ECDSA) is not ours: AhpcYQ.. = 0x02 || the same key */
    uint8_t raw[33];
    size_t n = 0;
    ASSERT_OK(tlog_b64_decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 44, raw, 33, &n));
    raw[0] = 0x02;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "PeterNeumann+c74f20a3+"));
    ASSERT_OK(tlog_b64_encode(raw, 33, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_vkey_parse(sb.buf, sb.len, &k));
    /* never reads past len */
    ASSERT_OK(tlog_vkey_parse(peter_vkey, strlen(peter_vkey), &k));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_vkey_parse(peter_vkey, strlen(peter_vkey) - 1, &k));
    sb_free(&sb);
}

TEST(note_name_valid)
{
    ASSERT(tlog_name_valid("example.com/log", 15));
    ASSERT(tlog_name_valid("caf\xc3\xa9", 5)); /* é */
    ASSERT(!tlog_name_valid("", 0));
    ASSERT(!tlog_name_valid("a+b", 3));
    ASSERT(!tlog_name_valid("a b", 3));
    ASSERT(!tlog_name_valid("a\tb", 3));
    ASSERT(!tlog_name_valid("a\nb", 3));
    ASSERT(!tlog_name_valid("a\0b", 3));
    ASSERT(!tlog_name_valid("a\x7f", 2));
    ASSERT(!tlog_name_valid("a\xc2\xa0z", 4));     /* U+00A0 NO-BREAK SPACE */
    ASSERT(!tlog_name_valid("a\xc2\x85z", 4));     /* U+0085 NEL */
    ASSERT(!tlog_name_valid("a\xe2\x80\x83z", 5)); /* U+2003 EM SPACE */
    ASSERT(!tlog_name_valid("a\xe2\x80\xa8z", 5)); /* U+2028 LINE SEPARATOR */
    ASSERT(!tlog_name_valid("a\xe3\x80\x80z", 5)); /* U+3000 IDEOGRAPHIC SPACE */
    ASSERT(tlog_name_valid("a\xe2\x80\x8bz", 5));  /* U+200B ZERO WIDTH SPACE: not White_Space */
    ASSERT(!tlog_name_valid("a\xc3", 2));          /* truncated UTF-8 */
    ASSERT(!tlog_name_valid("\xc0\xaf", 2));       /* overlong */
    char name[TLOG_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    ASSERT(tlog_name_valid(name, TLOG_NAME_MAX));
    ASSERT(!tlog_name_valid(name, TLOG_NAME_MAX + 1));
    name[TLOG_NAME_MAX + 1] = '\0';
    struct tlog_key k;
    uint8_t seed[32] = {0};
    ASSERT_EQ(CUSTODY_EINVAL, tlog_key_from_seed(name, TLOG_KEY_ED25519, seed, &k));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_key_from_seed("a+b", TLOG_KEY_ED25519, seed, &k));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_key_from_seed("a b", TLOG_KEY_ED25519, seed, &k));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_key_from_seed("ok", 0x02, seed, &k));
}

TEST(note_key_load_pem)
{
    const char *dir = test_tmpdir();
    test_write_file(dir, "node.ed25519", pem_ed25519);
    test_write_file(dir, "enc.pem", pem_encrypted);
    test_write_file(dir, "p256.pem", pem_p256);
    test_write_file(dir, "junk.pem",
                    "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n");
    char *path = util_path_join(dir, "node.ed25519");
    struct tlog_key k;
    ASSERT_OK(tlog_key_load_pem(path, "witness.example/w1", TLOG_KEY_COSIGNATURE, &k));
    uint8_t pub[32], seed[32];
    hex32(rfc8032_pub_hex, pub);
    hex32(rfc8032_seed_hex, seed);
    ASSERT_MEM_EQ(pub, k.pub, 32);
    ASSERT_MEM_EQ(seed, k.priv, 32);
    ASSERT(k.has_priv);
    ASSERT_EQ(0xeb762cc2u, k.id);
    tlog_key_wipe(&k);
    ASSERT(!k.has_priv);
    static const uint8_t zero[32];
    ASSERT_MEM_EQ(zero, k.priv, 32);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_key_load_pem(path, "bad name", TLOG_KEY_ED25519, &k));
    free(path);

    static const char *const bad[] = {"enc.pem", "p256.pem", "junk.pem"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        path = util_path_join(dir, bad[i]);
        ASSERT_EQ(CUSTODY_EINVAL, tlog_key_load_pem(path, "n", TLOG_KEY_ED25519, &k));
        ASSERT(!k.has_priv);
        free(path);
    }
    path = util_path_join(dir, "missing.pem");
    ASSERT_EQ(CUSTODY_ENOENT, tlog_key_load_pem(path, "n", TLOG_KEY_ED25519, &k));
    free(path);
    ASSERT_NE(0, tlog_key_load_pem(dir, "n", TLOG_KEY_ED25519, &k)); /* a directory */
}

/* ---- signed notes ---- */

TEST(note_sign_kat)
{
    uint8_t seed[32];
    hex32(peter_seed_hex, seed);
    struct tlog_key k;
    ASSERT_OK(tlog_key_from_seed("PeterNeumann", TLOG_KEY_ED25519, seed, &k));
    const struct tlog_key *keys[] = {&k};
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_note_sign(peter_text, strlen(peter_text), keys, 1, 0, &sb));
    ASSERT_STR_EQ(peter_note, sb.buf);

    /* and the documented note verifies against the documented vkey */
    struct tlog_key v;
    ASSERT_OK(tlog_vkey_parse(peter_vkey, strlen(peter_vkey), &v));
    struct tlog_note n;
    ASSERT_OK(parse_str(peter_note, &n));
    ASSERT_EQ(strlen(peter_text), n.text_len);
    ASSERT_MEM_EQ(peter_text, n.text, n.text_len);
    ASSERT_EQ(1, n.nsigs);
    ASSERT_STR_EQ("PeterNeumann", n.sigs[0].name);
    ASSERT_EQ(0xc74f20a3u, n.sigs[0].id);
    ASSERT_EQ(64, n.sigs[0].sig_len);
    ASSERT_OK(tlog_note_verify(&n, &v, 1));
    sb_free(&sb);
    tlog_key_wipe(&k);
}

TEST(note_sign_roundtrip)
{
    struct tlog_key a, b;
    seed_key(&a, "a.example/one", TLOG_KEY_ED25519, 1);
    seed_key(&b, "b.example/two", TLOG_KEY_ED25519, 2);
    const struct tlog_key *keys[] = {&a, &b};
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "prefix kept: "));
    struct tlog_note n;
    const char *text = "hello\n\nworld\n"; /* blank lines inside the text are fine */
    ASSERT_OK(tlog_note_sign(text, strlen(text), keys, 2, 0, &sb));
    ASSERT(strncmp(sb.buf, "prefix kept: ", 13) == 0);
    ASSERT_OK(tlog_note_parse(sb.buf + 13, sb.len - 13, &n));
    ASSERT_EQ(strlen(text), n.text_len);
    ASSERT_MEM_EQ(text, n.text, n.text_len);
    ASSERT_EQ(2, n.nsigs);
    ASSERT_STR_EQ("a.example/one", n.sigs[0].name);
    ASSERT_STR_EQ("b.example/two", n.sigs[1].name);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    ASSERT_OK(tlog_note_verify(&n, &b, 1));
    struct tlog_key both[] = {a, b};
    ASSERT_OK(tlog_note_verify(&n, both, 2));
    /* verifying needs only the public halves */
    struct tlog_key pa;
    ASSERT_OK(tlog_key_from_pub(a.name, a.type, a.pub, &pa));
    ASSERT_OK(tlog_note_verify(&n, &pa, 1));
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &n.sigs[0], &pa, NULL));
    ASSERT_EQ(CUSTODY_ENOENT, tlog_sig_verify(n.text, n.text_len, &n.sigs[1], &pa, NULL));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, NULL, 0));
    sb_free(&sb);
}

TEST(note_sign_rejects)
{
    struct tlog_key a, pub_only;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 1);
    ASSERT_OK(tlog_key_from_pub(a.name, a.type, a.pub, &pub_only));
    const struct tlog_key *keys[] = {&a};
    const struct tlog_key *nopriv[] = {&pub_only};
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "x"));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("no newline", 10, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("blank last\n\n", 12, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("\n", 1, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("", 0, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("c\rr\n", 4, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("n\0l\n", 4, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("\xff\n", 2, keys, 1, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("ok\n", 3, keys, 0, 0, &sb));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("ok\n", 3, nopriv, 1, 0, &sb));
    struct tlog_key bad = a;
    bad.id ^= 1; /* a damaged key never signs under a wrong id */
    const struct tlog_key *badkeys[] = {&a, &bad};
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("ok\n", 3, badkeys, 2, 0, &sb));
    bad = a;
    bad.pub[0] ^= 1; /* nor with a public key that is not the seed's */
    bad.id = 0;
    ASSERT_OK(tlog_key_from_pub(a.name, a.type, bad.pub, &bad));
    memcpy(bad.priv, a.priv, 32);
    bad.has_priv = true;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("ok\n", 3, badkeys, 2, 0, &sb));
    ASSERT_EQ(1, sb.len); /* nothing appended on failure */
    ASSERT_STR_EQ("x", sb.buf);
    sb_free(&sb);
}

TEST(note_verify_tampered_text)
{
    struct tlog_key a;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 7);
    const struct tlog_key *keys[] = {&a};
    struct strbuf sb = STRBUF_INIT;
    struct tlog_note n;
    sign_note("amount: 100\n", keys, 1, &sb, &n);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    sb.buf[9] = '9';
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, &a, 1));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(n.text, n.text_len, &n.sigs[0], &a, NULL));
    sb_free(&sb);
}

TEST(note_verify_tampered_sig)
{
    struct tlog_key a;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 7);
    const struct tlog_key *keys[] = {&a};
    struct strbuf sb = STRBUF_INIT;
    struct tlog_note n;
    sign_note("text\n", keys, 1, &sb, &n);
    for (size_t i = 0; i < 64; i += 7) {
        struct tlog_note m = n;
        m.sigs[0].sig[i] ^= 0x10;
        ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&m, &a, 1));
    }
    struct tlog_note m = n;
    m.sigs[0].sig_len = 63;
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&m, &a, 1));
    /* flip one base64 character of the signature line itself */
    char *b64 = strstr(sb.buf, "a.example ") + 10;
    b64[20] = b64[20] == 'A' ? 'B' : 'A';
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, &a, 1));
    sb_free(&sb);
}

TEST(note_verify_unknown_key_ignored)
{
    struct tlog_key a, b, c;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 1);
    seed_key(&b, "b.example", TLOG_KEY_ED25519, 2);
    seed_key(&c, "c.example", TLOG_KEY_ED25519, 3);
    const struct tlog_key *keys[] = {&a, &b};
    struct strbuf sb = STRBUF_INIT;
    struct tlog_note n;
    sign_note("text\n", keys, 2, &sb, &n);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, &c, 1)); /* nothing from a known key */
    struct tlog_key ac[] = {a, c};
    ASSERT_OK(tlog_note_verify(&n, ac, 2));
    /* same name as b but another key (so another id): ignored, not a failure */
    struct tlog_key b2;
    seed_key(&b2, "b.example", TLOG_KEY_ED25519, 9);
    struct tlog_key ab2[] = {a, b2};
    ASSERT_OK(tlog_note_verify(&n, ab2, 2));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, &b2, 1));
    /* same id as b under another name: ignored too */
    struct tlog_note m = n;
    util_strlcpy(m.sigs[1].name, "other.example", sizeof m.sigs[1].name);
    ASSERT_OK(tlog_note_verify(&m, &a, 1));
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&m, &b, 1));
    /* a line with an unknown key and garbage signature does not spoil it */
    ASSERT_OK(sb_puts(&sb, DASH "unknown.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"));
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(3, n.nsigs);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    sb_free(&sb);
}

TEST(note_verify_known_key_bad_line_fails)
{
    struct tlog_key a;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 1);
    const struct tlog_key *keys[] = {&a};
    struct strbuf sb = STRBUF_INIT;
    struct tlog_note n;
    sign_note("text\n", keys, 1, &sb, &n);
    /* a second line claiming a's name and id with a wrong signature */
    uint8_t raw[68] = {0};
    raw[0] = (uint8_t)(a.id >> 24), raw[1] = (uint8_t)(a.id >> 16);
    raw[2] = (uint8_t)(a.id >> 8), raw[3] = (uint8_t)a.id;
    ASSERT_OK(sb_puts(&sb, DASH "a.example "));
    ASSERT_OK(tlog_b64_encode(raw, sizeof raw, &sb));
    ASSERT_OK(sb_puts(&sb, "\n"));
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(2, n.nsigs);
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_note_verify(&n, &a, 1));
    sb_free(&sb);
}

TEST(note_parse_rejects)
{
    struct tlog_note n;
    static const char *const bad[] = {
        "",
        "text\n",                                    /* no signatures */
        "text\n\n",                                  /* blank line, no signature */
        "text\n" DASH "a AAAAAAA=\n",                /* no blank line */
        "text\n\n" DASH "a AAAAAAA=",                /* no final newline */
        "text\n\n- a AAAAAAA=\n",                    /* ASCII dash */
        "text\n\n\xe2\x80\x94" "a AAAAAAA=\n",       /* no space after the dash */
        "text\n\n" DASH "a  AAAAAAA=\n",             /* two spaces */
        "text\n\n" DASH "a AAAAAAA= \n",             /* trailing space */
        "text\n\n" DASH "a+b AAAAAAA=\n",            /* '+' in the name */
        "text\n\n" DASH " AAAAAAA=\n",               /* empty name */
        "text\n\n" DASH "a\n",                       /* no signature */
        "text\n\n" DASH "a \n",                      /* empty signature */
        "text\n\n" DASH "a AAAAAA==\n",              /* 4 bytes: key id only */
        "text\n\n" DASH "a AAAAAAA\n",               /* bad base64 */
        "text\n\n" DASH "a AAAAAAB=\n",              /* non-canonical base64 */
        "text\n\n\n" DASH "a AAAAAAA=\n",            /* text's last line blank */
        "\n\n" DASH "a AAAAAAA=\n",                  /* empty text */
        "te\rxt\n\n" DASH "a AAAAAAA=\n",            /* CR */
        "te\txt\n\n" DASH "a AAAAAAA=\n",            /* TAB */
        "te\xffxt\n\n" DASH "a AAAAAAA=\n",          /* invalid UTF-8 */
        "te\xed\xa0\x80xt\n\n" DASH "a AAAAAAA=\n",  /* surrogate */
        "text\n\n" DASH "a\xc2\xa0" "b AAAAAAA=\n",  /* NBSP in the name */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        if (parse_str(bad[i], &n) != CUSTODY_EINVAL)
            TEST_FAIL_("accepted bad note #%zu", i);
    }
    static const char nul[] = "te\0xt\n\n" DASH "a AAAAAAA=\n";
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_parse(nul, sizeof nul - 1, &n));
    /* minimal valid note, and DEL (not a C0 control) in the text */
    ASSERT_OK(parse_str("t\x7f\n\n" DASH "a AAAAAAA=\n", &n));
    ASSERT_EQ(1, n.sigs[0].sig_len);
    /* the last blank line splits: an earlier "signature" is part of the text */
    const char *two = "text\n\n" DASH "a AAAAAAA=\n\n" DASH "b AAAAAAA=\n";
    ASSERT_OK(parse_str(two, &n));
    ASSERT_EQ(1, n.nsigs);
    ASSERT_STR_EQ("b", n.sigs[0].name);
    ASSERT_EQ(strlen("text\n\n" DASH "a AAAAAAA=\n"), n.text_len);
    /* never reads past len: the valid note minus its last newline */
    const char *ok = "text\n\n" DASH "a AAAAAAA=\n";
    ASSERT_OK(tlog_note_parse(ok, strlen(ok), &n));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_parse(ok, strlen(ok) - 1, &n));
}

TEST(note_parse_size_limit)
{
    struct strbuf sb = STRBUF_INIT;
    const char *tail = "\n\n" DASH "a AAAAAAA=\n";
    size_t fill = TLOG_NOTE_MAX - strlen(tail);
    ASSERT_OK(sb_reserve(&sb, TLOG_NOTE_MAX + 1));
    for (size_t i = 0; i < fill; i++)
        ASSERT_OK(sb_append(&sb, (i % 80 == 79) ? "\n" : "x", 1));
    ASSERT_OK(sb_puts(&sb, tail));
    ASSERT_EQ(TLOG_NOTE_MAX, sb.len);
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    sb_reset(&sb);
    for (size_t i = 0; i < fill + 1; i++)
        ASSERT_OK(sb_append(&sb, (i % 80 == 79) ? "\n" : "x", 1));
    ASSERT_OK(sb_puts(&sb, tail));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_parse(sb.buf, sb.len, &n));
    /* signing refuses to produce what nobody would parse */
    struct tlog_key a;
    seed_key(&a, "a", TLOG_KEY_ED25519, 1);
    const struct tlog_key *keys[] = {&a};
    struct strbuf out = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ETOOBIG, tlog_note_sign(sb.buf, fill + 1, keys, 1, 0, &out));
    ASSERT_EQ(0, out.len);
    sb_free(&out);
    sb_free(&sb);
}

/* n signature lines from distinct unknown keys, then one of a's. */
static void many_sigs(struct strbuf *sb, const struct tlog_key *a, size_t n)
{
    const struct tlog_key *keys[] = {a};
    ASSERT_OK(tlog_note_sign("text\n", 5, keys, 1, 0, sb));
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(sb_printf(sb, DASH "w%zu.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", i));
}

TEST(note_parse_many_sigs)
{
    struct tlog_key a;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 1);
    struct tlog_note n;
    struct strbuf sb = STRBUF_INIT;
    many_sigs(&sb, &a, 15); /* the 16 the spec requires */
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(16, n.nsigs);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    sb_reset(&sb);
    many_sigs(&sb, &a, TLOG_NOTE_SIGS_MAX - 1);
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(TLOG_NOTE_SIGS_MAX, n.nsigs);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    sb_reset(&sb);
    many_sigs(&sb, &a, TLOG_NOTE_SIGS_MAX); /* 65 lines */
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_parse(sb.buf, sb.len, &n));
    sb_reset(&sb);
    many_sigs(&sb, &a, 200);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_parse(sb.buf, sb.len, &n));
    sb_free(&sb);
}

TEST(note_parse_long_sig_kept)
{
    /* An ML-DSA-44 cosignature (8 + 2420 bytes) from a key we do not know:
     * accepted, kept without its bytes, and never verifies as ours. */
    struct tlog_key a;
    seed_key(&a, "a.example", TLOG_KEY_ED25519, 1);
    struct strbuf sb = STRBUF_INIT;
    const struct tlog_key *keys[] = {&a};
    ASSERT_OK(tlog_note_sign("text\n", 5, keys, 1, 0, &sb));
    static uint8_t raw[4 + 8 + 2420];
    memset(raw, 0x5a, sizeof raw);
    ASSERT_OK(sb_puts(&sb, DASH "pq.example/w "));
    ASSERT_OK(tlog_b64_encode(raw, sizeof raw, &sb));
    ASSERT_OK(sb_puts(&sb, "\n"));
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(2, n.nsigs);
    ASSERT_EQ(0x5a5a5a5au, n.sigs[1].id);
    ASSERT_EQ(0, n.sigs[1].sig_len);
    ASSERT_OK(tlog_note_verify(&n, &a, 1));
    sb_free(&sb);
}

TEST(note_sig_lines_parse)
{
    struct tlog_sig sigs[4];
    size_t n = 99;
    /* the first line is from the tlog-witness response example */
    const char *body = DASH "witness.example/w1 "
                            "CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQ"
                            "Lrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n"
                       DASH "witness.example/w2 AAAAAAA=\n";
    ASSERT_OK(tlog_sig_lines_parse(body, strlen(body), sigs, 4, &n));
    ASSERT_EQ(2, n);
    ASSERT_STR_EQ("witness.example/w1", sigs[0].name);
    ASSERT_EQ(72, sigs[0].sig_len);
    ASSERT_EQ(0x08ca7ee8u, sigs[0].id);
    ASSERT_STR_EQ("witness.example/w2", sigs[1].name);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_sig_lines_parse(body, strlen(body), sigs, 1, &n));
    ASSERT_EQ(0, n);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_sig_lines_parse("", 0, sigs, 4, &n));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_sig_lines_parse("\n", 1, sigs, 4, &n));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_sig_lines_parse(body, strlen(body) - 1, sigs, 4, &n));
    const char *crlf = DASH "w AAAAAAA=\r\n";
    ASSERT_EQ(CUSTODY_EINVAL, tlog_sig_lines_parse(crlf, strlen(crlf), sigs, 4, &n));
}

/* ---- cosignatures ---- */

TEST(note_cosig_kat)
{
    struct tlog_key w, l;
    witness_key(&w);
    log_key(&l);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_note_sign_lines(checkpoint_text, strlen(checkpoint_text), &w, COSIG_TIME, &sb));
    ASSERT_STR_EQ(witness_cosig_line, sb.buf);
    sb_reset(&sb);
    const struct tlog_key *keys[] = {&l, &w};
    ASSERT_OK(tlog_note_sign(checkpoint_text, strlen(checkpoint_text), keys, 2, COSIG_TIME, &sb));
    struct strbuf want = STRBUF_INIT;
    ASSERT_OK(sb_puts(&want, checkpoint_text));
    ASSERT_OK(sb_puts(&want, "\n"));
    ASSERT_OK(sb_puts(&want, log_sig_line));
    ASSERT_OK(sb_puts(&want, witness_cosig_line));
    ASSERT_STR_EQ(want.buf, sb.buf);

    /* verify with keys parsed from their vkeys */
    struct tlog_key vw, vl;
    ASSERT_OK(tlog_vkey_parse(witness_vkey, strlen(witness_vkey), &vw));
    ASSERT_OK(tlog_vkey_parse(log_vkey, strlen(log_vkey), &vl));
    ASSERT_EQ(TLOG_KEY_COSIGNATURE, vw.type);
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_EQ(2, n.nsigs);
    ASSERT_EQ(72, n.sigs[1].sig_len);
    uint64_t t = 0;
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &n.sigs[1], &vw, &t));
    ASSERT_EQ(COSIG_TIME, t);
    ASSERT_EQ(CUSTODY_ENOENT, tlog_sig_verify(n.text, n.text_len, &n.sigs[0], &vw, &t));
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &n.sigs[0], &vl, NULL));
    ASSERT_OK(tlog_note_verify(&n, &vw, 1));
    ASSERT_OK(tlog_note_verify(&n, &vl, 1));
    struct tlog_key both[] = {vl, vw};
    ASSERT_OK(tlog_note_verify(&n, both, 2));
    sb_free(&want);
    sb_free(&sb);
}

TEST(note_cosig_timestamp_tamper)
{
    struct tlog_key w;
    witness_key(&w);
    struct tlog_sig sigs[1];
    size_t n = 0;
    ASSERT_OK(tlog_sig_lines_parse(witness_cosig_line, strlen(witness_cosig_line), sigs, 1, &n));
    uint64_t t = 0;
    const size_t cplen = strlen(checkpoint_text);
    ASSERT_OK(tlog_sig_verify(checkpoint_text, cplen, &sigs[0], &w, &t));
    ASSERT_EQ(COSIG_TIME, t);
    struct tlog_sig s = sigs[0];
    s.sig[7] ^= 1; /* timestamp one second off */
    t = 0;
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(checkpoint_text, cplen, &s, &w, &t));
    ASSERT_EQ(0, t);
    s = sigs[0];
    s.sig[0] = 0x80; /* above 2^63 - 1 */
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(checkpoint_text, cplen, &s, &w, &t));
    s = sigs[0];
    s.sig[40] ^= 4;
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(checkpoint_text, cplen, &s, &w, &t));
    s = sigs[0];
    s.sig_len = 64; /* a plain Ed25519-sized signature under a cosignature key */
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(checkpoint_text, cplen, &s, &w, &t));
    /* the cosignature does not verify over other text */
    const char *other = "example.com/behind-the-sofa\n20852164\n"
                        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(other, strlen(other), &sigs[0], &w, &t));
    /* nor does it verify as a plain type-0x01 signature by the same key */
    struct tlog_key plain;
    ASSERT_OK(tlog_key_from_pub(w.name, TLOG_KEY_ED25519, w.pub, &plain));
    plain.id = w.id; /* even when forced to claim the line */
    ASSERT_EQ(CUSTODY_EBADSIG, tlog_sig_verify(checkpoint_text, cplen, &sigs[0], &plain, &t));
}

TEST(note_cosig_sign_rejects)
{
    struct tlog_key w;
    witness_key(&w);
    struct strbuf sb = STRBUF_INIT;
    const size_t cplen = strlen(checkpoint_text);
    ASSERT_EQ(CUSTODY_EINVAL,
              tlog_note_sign_lines(checkpoint_text, cplen, &w, (uint64_t)INT64_MAX + 1, &sb));
    ASSERT_OK(tlog_note_sign_lines(checkpoint_text, cplen, &w, (uint64_t)INT64_MAX, &sb));
    sb_reset(&sb);
    /* cosignatures are over checkpoints only */
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign_lines("hello\n", 6, &w, 1, &sb));
    const struct tlog_key *keys[] = {&w};
    ASSERT_EQ(CUSTODY_EINVAL, tlog_note_sign("hello\n", 6, keys, 1, 1, &sb));
    ASSERT_EQ(0, sb.len);
    /* time 0 is a valid timestamp */
    ASSERT_OK(tlog_note_sign(checkpoint_text, cplen, keys, 1, 0, &sb));
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    uint64_t t = 1;
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &n.sigs[0], &w, &t));
    ASSERT_EQ(0, t);
    sb_free(&sb);
}

TEST(note_witness_cosign_flow)
{
    /* the log signs, a witness answers add-checkpoint with cosignature
     * lines, the log appends them to its note and verifies the result */
    struct tlog_key l, w;
    log_key(&l);
    witness_key(&w);
    char *note = signed_checkpoint();
    struct tlog_note n;
    ASSERT_OK(parse_str(note, &n));
    ASSERT_OK(tlog_note_verify(&n, &l, 1));
    struct strbuf resp = STRBUF_INIT;
    ASSERT_OK(tlog_note_sign_lines(n.text, n.text_len, &w, COSIG_TIME, &resp));
    struct tlog_sig sigs[TLOG_NOTE_SIGS_MAX];
    size_t ns = 0;
    ASSERT_OK(tlog_sig_lines_parse(resp.buf, resp.len, sigs, TLOG_NOTE_SIGS_MAX, &ns));
    ASSERT_EQ(1, ns);
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &sigs[0], &w, NULL));
    struct strbuf all = STRBUF_INIT;
    ASSERT_OK(sb_puts(&all, note));
    ASSERT_OK(sb_append(&all, resp.buf, resp.len));
    ASSERT_OK(tlog_note_parse(all.buf, all.len, &n));
    struct tlog_key both[] = {l, w};
    ASSERT_OK(tlog_note_verify(&n, both, 2));
    free(note);
    sb_free(&resp);
    sb_free(&all);
}

/* ---- checkpoints ---- */

TEST(checkpoint_format_parse_roundtrip)
{
    struct tlog_checkpoint c = {.size = 20852163};
    util_strlcpy(c.origin, log_name, sizeof c.origin);
    size_t n = 0;
    ASSERT_OK(tlog_b64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, c.root, 32, &n));
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_checkpoint_format(&c, &sb));
    ASSERT_STR_EQ(checkpoint_text, sb.buf);
    struct tlog_checkpoint d;
    ASSERT_OK(tlog_checkpoint_parse(sb.buf, sb.len, &d));
    ASSERT_STR_EQ(c.origin, d.origin);
    ASSERT_EQ(c.size, d.size);
    ASSERT_MEM_EQ(c.root, d.root, 32);
    /* size 0 and the largest size */
    c.size = 0;
    sb_reset(&sb);
    ASSERT_OK(tlog_checkpoint_format(&c, &sb));
    ASSERT_OK(tlog_checkpoint_parse(sb.buf, sb.len, &d));
    ASSERT_EQ(0, d.size);
    c.size = UINT64_MAX;
    sb_reset(&sb);
    ASSERT_OK(tlog_checkpoint_format(&c, &sb));
    ASSERT_OK(tlog_checkpoint_parse(sb.buf, sb.len, &d));
    ASSERT(d.size == UINT64_MAX);
    /* format refuses origins parse would refuse */
    c.origin[0] = '\0';
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_format(&c, &sb));
    util_strlcpy(c.origin, "a\nb", sizeof c.origin);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_format(&c, &sb));
    memset(c.origin, 'o', sizeof c.origin); /* not NUL-terminated */
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_format(&c, &sb));
    sb_free(&sb);
}

TEST(checkpoint_parse_edges)
{
#define ROOT "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    ASSERT_OK(cp_parse("o\n0\n" ROOT "\n"));
    ASSERT_OK(cp_parse("o\n18446744073709551615\n" ROOT "\n"));
    ASSERT_OK(cp_parse("o\n1\n" ROOT "\next one\next two\n")); /* extensions ignored */
    ASSERT_OK(cp_parse("origin with spaces+plus\n1\n" ROOT "\n"));
    ASSERT_OK(cp_parse("caf\xc3\xa9.example\n1\n" ROOT "\n"));
    static const char *const bad[] = {
        "",
        "o\n",
        "o\n1\n",
        "o\n1\n" ROOT,                               /* missing final newline */
        "o\n00\n" ROOT "\n",                         /* leading zeros */
        "o\n01\n" ROOT "\n",
        "o\n18446744073709551616\n" ROOT "\n",       /* overflow */
        "o\n99999999999999999999999\n" ROOT "\n",
        "o\n-1\n" ROOT "\n",
        "o\n+1\n" ROOT "\n",
        "o\n 1\n" ROOT "\n",
        "o\n1 \n" ROOT "\n",
        "o\n\n" ROOT "\n",                           /* empty size */
        "o\n1x\n" ROOT "\n",
        "\n1\n" ROOT "\n",                           /* empty origin */
        "o\n1\n\n",                                  /* empty root */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",   /* unpadded */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  /* non-canonical */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n",  /* 31 bytes */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n", /* 35 bytes */
        "o\n1\n" ROOT " \n",
        "o\n1\n" ROOT "\n\n",                        /* empty extension line */
        "o\n1\n" ROOT "\next\n\nmore\n",
        "o\n1\n" ROOT "\next",                       /* unterminated extension */
        "o\r\n1\n" ROOT "\n",                        /* CR */
        "o\n1\r\n" ROOT "\n",
        "o\xff\n1\n" ROOT "\n",                      /* invalid UTF-8 */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        if (cp_parse(bad[i]) != CUSTODY_EINVAL)
            TEST_FAIL_("accepted bad checkpoint #%zu", i);
    static const char nul[] = "o\0\n1\n" ROOT "\n";
    struct tlog_checkpoint c;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_parse(nul, sizeof nul - 1, &c));
    /* origin length: 255 bytes ok, 256 not */
    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i < TLOG_NAME_MAX; i++)
        ASSERT_OK(sb_append(&sb, "o", 1));
    ASSERT_OK(sb_puts(&sb, "\n1\n" ROOT "\n"));
    ASSERT_OK(tlog_checkpoint_parse(sb.buf, sb.len, &c));
    ASSERT_EQ(TLOG_NAME_MAX, strlen(c.origin));
    sb_reset(&sb);
    for (int i = 0; i < TLOG_NAME_MAX + 1; i++)
        ASSERT_OK(sb_append(&sb, "o", 1));
    ASSERT_OK(sb_puts(&sb, "\n1\n" ROOT "\n"));
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_parse(sb.buf, sb.len, &c));
    /* never reads past len */
    const char *ok = "o\n1\n" ROOT "\n";
    ASSERT_EQ(CUSTODY_EINVAL, tlog_checkpoint_parse(ok, strlen(ok) - 1, &c));
    sb_free(&sb);
#undef ROOT
}

/* ---- tlog-proof ---- */

static void fill_hashes(uint8_t (*h)[TLOG_HASH_LEN], size_t n, uint8_t salt)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < TLOG_HASH_LEN; j++)
            h[i][j] = (uint8_t)(i * 31 + j * 7 + salt);
}

static void proof_roundtrip_case(bool extra, size_t nproof)
{
    char *note = signed_checkpoint();
    static struct tlog_proof_file p, q;
    memset(&p, 0, sizeof p);
    p.index = 73894;
    p.has_extra = extra;
    if (extra) {
        p.extra_len = 29;
        memcpy(p.extra, "age-v1.2.1-darwin-arm64.tar.gz", 29);
    }
    fill_hashes(p.proof, nproof, 3);
    p.nproof = nproof;
    p.note = note;
    p.note_len = strlen(note);
    struct strbuf sb = STRBUF_INIT, again = STRBUF_INIT;
    ASSERT_OK(tlog_proof_format(&p, &sb));
    ASSERT(strncmp(sb.buf, "c2sp.org/tlog-proof@v1\n", 23) == 0);
    ASSERT_OK(tlog_proof_parse(sb.buf, sb.len, &q));
    ASSERT_EQ(p.index, q.index);
    ASSERT_EQ(p.has_extra, q.has_extra);
    ASSERT_EQ(p.extra_len, q.extra_len);
    ASSERT_MEM_EQ(p.extra, q.extra, p.extra_len);
    ASSERT_EQ(p.nproof, q.nproof);
    ASSERT_MEM_EQ(p.proof, q.proof, nproof * TLOG_HASH_LEN);
    ASSERT_EQ(p.note_len, q.note_len);
    ASSERT_MEM_EQ(p.note, q.note, p.note_len);
    ASSERT(q.note >= sb.buf && q.note + q.note_len == sb.buf + sb.len);
    ASSERT_OK(tlog_proof_format(&q, &again));
    ASSERT_EQ(sb.len, again.len);
    ASSERT_MEM_EQ(sb.buf, again.buf, sb.len);
    /* the checkpoint inside still verifies */
    struct tlog_note n;
    struct tlog_key l;
    log_key(&l);
    ASSERT_OK(tlog_note_parse(q.note, q.note_len, &n));
    ASSERT_OK(tlog_note_verify(&n, &l, 1));
    free(note);
    sb_free(&sb);
    sb_free(&again);
}

TEST(proof_roundtrip)
{
    proof_roundtrip_case(false, 0);
    proof_roundtrip_case(true, 5);
    proof_roundtrip_case(false, 1);
    proof_roundtrip_case(true, TLOG_PROOF_MAX);
}

TEST(proof_parse_exact_text)
{
    char *note = signed_checkpoint();
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "c2sp.org/tlog-proof@v1\n"
                           "extra YWdl\n"
                           "index 0\n"
                           "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
                           "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
                           "\n"));
    ASSERT_OK(sb_puts(&sb, note));
    static struct tlog_proof_file p;
    ASSERT_OK(tlog_proof_parse(sb.buf, sb.len, &p));
    ASSERT(p.has_extra);
    ASSERT_EQ(3, p.extra_len);
    ASSERT_MEM_EQ("age", p.extra, 3);
    ASSERT_EQ(0, p.index);
    ASSERT_EQ(2, p.nproof);
    ASSERT_EQ(0x81, p.proof[0][0]);
    ASSERT_EQ(strlen(note), p.note_len);
    free(note);
    sb_free(&sb);
}

static int proof_try(const char *head, const char *note)
{
    static struct tlog_proof_file p;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, head));
    ASSERT_OK(sb_puts(&sb, note));
    int rc = tlog_proof_parse(sb.buf, sb.len, &p);
    if (rc) {
        ASSERT_NULL(p.note);
        ASSERT_EQ(0, p.nproof);
    }
    sb_free(&sb);
    return rc;
}

TEST(proof_parse_rejects)
{
#define H "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
    char *note = signed_checkpoint();
    ASSERT_OK(proof_try("c2sp.org/tlog-proof@v1\nindex 1\n" H "\n", note));
    ASSERT_OK(proof_try("c2sp.org/tlog-proof@v1\nindex 1\n\n", note));
    static const char *const bad[] = {
        "c2sp.org/tlog-proof@v2\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1 \nindex 1\n" H "\n",
        "C2SP.org/tlog-proof@v1\nindex 1\n" H "\n",
        "\nc2sp.org/tlog-proof@v1\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1\n\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1\r\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex 01\n" H "\n",       /* leading zero */
        "c2sp.org/tlog-proof@v1\nindex -1\n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex\n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex \n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex  1\n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n" H "\n",
        "c2sp.org/tlog-proof@v1\n" H "\n",                  /* no index */
        "c2sp.org/tlog-proof@v1\nindex 1\nextra YWdl\n" H "\n", /* extra after index */
        "c2sp.org/tlog-proof@v1\nextra \nindex 1\n" H "\n",  /* empty extra */
        "c2sp.org/tlog-proof@v1\nextra YWd\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1\nextra YWdl\nextra YWdl\nindex 1\n" H "\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n" H,                /* no blank line */
        "c2sp.org/tlog-proof@v1\nindex 1\n" H "\n\n",         /* two blank lines */
        "c2sp.org/tlog-proof@v1\nindex 1\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPl==\n\n",
        "c2sp.org/tlog-proof@v1\nindex 1\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=AAAA\n\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n" H " \n",
        "c2sp.org/tlog-proof@v1\nindex 1\n",                  /* note runs into the header */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        if (proof_try(bad[i], note) != CUSTODY_EINVAL)
            TEST_FAIL_("accepted bad proof #%zu", i);
    /* the note must be a signed checkpoint */
    const char *head = "c2sp.org/tlog-proof@v1\nindex 1\n\n";
    ASSERT_EQ(CUSTODY_EINVAL, proof_try(head, checkpoint_text));        /* unsigned */
    ASSERT_EQ(CUSTODY_EINVAL, proof_try(head, peter_note));             /* not a checkpoint */
    ASSERT_EQ(CUSTODY_EINVAL, proof_try(head, ""));
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, note));
    ASSERT_OK(sb_puts(&sb, "trailing\n"));
    ASSERT_EQ(CUSTODY_EINVAL, proof_try(head, sb.buf));
    /* 64 hashes are fine, 65 are not */
    sb_reset(&sb);
    ASSERT_OK(sb_puts(&sb, "c2sp.org/tlog-proof@v1\nindex 1\n"));
    for (int i = 0; i < TLOG_PROOF_MAX; i++)
        ASSERT_OK(sb_puts(&sb, H));
    ASSERT_OK(sb_puts(&sb, "\n"));
    ASSERT_OK(proof_try(sb.buf, note));
    sb.len -= 1;
    ASSERT_OK(sb_puts(&sb, H "\n"));
    ASSERT_EQ(CUSTODY_EINVAL, proof_try(sb.buf, note));
    /* extra: 4096 bytes fine, 4097 not */
    static uint8_t big[TLOG_EXTRA_MAX + 1];
    for (int more = 0; more <= 1; more++) {
        sb_reset(&sb);
        ASSERT_OK(sb_puts(&sb, "c2sp.org/tlog-proof@v1\nextra "));
        ASSERT_OK(tlog_b64_encode(big, TLOG_EXTRA_MAX + (size_t)more, &sb));
        ASSERT_OK(sb_puts(&sb, "\nindex 1\n\n"));
        ASSERT_EQ(more ? CUSTODY_EINVAL : 0, proof_try(sb.buf, note));
    }
    free(note);
    sb_free(&sb);
#undef H
}

TEST(proof_format_rejects)
{
    char *note = signed_checkpoint();
    static struct tlog_proof_file p;
    memset(&p, 0, sizeof p);
    p.note = note;
    p.note_len = strlen(note);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "keep"));
    p.nproof = TLOG_PROOF_MAX + 1;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_proof_format(&p, &sb));
    p.nproof = 0;
    p.has_extra = true; /* empty extra has no spelling */
    ASSERT_EQ(CUSTODY_EINVAL, tlog_proof_format(&p, &sb));
    p.extra_len = TLOG_EXTRA_MAX + 1;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_proof_format(&p, &sb));
    p.has_extra = false;
    p.note = checkpoint_text; /* unsigned */
    p.note_len = strlen(checkpoint_text);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_proof_format(&p, &sb));
    p.note = note;
    p.note_len = strlen(note) - 1;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_proof_format(&p, &sb));
    ASSERT_STR_EQ("keep", sb.buf);
    free(note);
    sb_free(&sb);
}

/* ---- tlog-witness add-checkpoint ---- */

TEST(witness_req_spec_example)
{
    /* the request body from c2sp.org/tlog-witness */
    const char *body =
        "old 20852014\n"
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
        "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
        "\n"
        "example.com/behind-the-sofa\n"
        "20852163\n"
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        "\n"
        DASH "example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyW"
        "E+xeMcTOAYQ8=\n"
        DASH "example.com/behind-the-sofa "
        "opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rov"
        "nzv++qbSzm9Q=\n";
    struct tlog_witness_req w;
    ASSERT_OK(tlog_witness_req_parse(body, strlen(body), &w));
    ASSERT_EQ(20852014, w.old_size);
    ASSERT_EQ(4, w.nproof);
    ASSERT_EQ(0x3e, w.proof[0][0]);
    ASSERT_EQ(0xff, w.proof[3][0]);
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(w.note, w.note_len, &n));
    ASSERT_EQ(2, n.nsigs);
    struct tlog_checkpoint c;
    ASSERT_OK(tlog_checkpoint_parse(n.text, n.text_len, &c));
    ASSERT_EQ(20852163, c.size);
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_witness_req_format(&w, &sb));
    ASSERT_STR_EQ(body, sb.buf);
    sb_free(&sb);
}

TEST(witness_req_roundtrip)
{
    char *note = signed_checkpoint();
    for (size_t np = 0; np <= TLOG_WITNESS_PROOF_MAX; np += 21) {
        struct tlog_witness_req w, v;
        memset(&w, 0, sizeof w);
        w.old_size = np ? 20852014 : 0;
        fill_hashes(w.proof, np, 9);
        w.nproof = np;
        w.note = note;
        w.note_len = strlen(note);
        struct strbuf sb = STRBUF_INIT, again = STRBUF_INIT;
        ASSERT_OK(tlog_witness_req_format(&w, &sb));
        ASSERT_OK(tlog_witness_req_parse(sb.buf, sb.len, &v));
        ASSERT_EQ(w.old_size, v.old_size);
        ASSERT_EQ(np, v.nproof);
        ASSERT_MEM_EQ(w.proof, v.proof, np * TLOG_HASH_LEN);
        ASSERT_EQ(w.note_len, v.note_len);
        ASSERT_MEM_EQ(w.note, v.note, w.note_len);
        ASSERT_OK(tlog_witness_req_format(&v, &again));
        ASSERT_EQ(sb.len, again.len);
        ASSERT_MEM_EQ(sb.buf, again.buf, sb.len);
        sb_free(&sb);
        sb_free(&again);
    }
    /* old size equal to the checkpoint's is fine, larger is not */
    struct tlog_witness_req w;
    memset(&w, 0, sizeof w);
    w.note = note;
    w.note_len = strlen(note);
    w.old_size = 20852163;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(tlog_witness_req_format(&w, &sb));
    w.old_size = 20852164;
    sb_reset(&sb);
    ASSERT_EQ(CUSTODY_EINVAL, tlog_witness_req_format(&w, &sb));
    w.old_size = 0;
    w.nproof = TLOG_WITNESS_PROOF_MAX + 1;
    ASSERT_EQ(CUSTODY_EINVAL, tlog_witness_req_format(&w, &sb));
    ASSERT_EQ(0, sb.len);
    free(note);
    sb_free(&sb);
}

static int witness_try(const char *head, const char *note)
{
    struct tlog_witness_req w;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, head));
    ASSERT_OK(sb_puts(&sb, note));
    int rc = tlog_witness_req_parse(sb.buf, sb.len, &w);
    if (rc)
        ASSERT_NULL(w.note);
    sb_free(&sb);
    return rc;
}

TEST(witness_req_parse_rejects)
{
#define H "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    char *note = signed_checkpoint();
    ASSERT_OK(witness_try("old 0\n\n", note));
    ASSERT_OK(witness_try("old 20852163\n\n", note));
    static const char *const bad[] = {
        "old 20852164\n\n",           /* beyond the checkpoint: 400 */
        "old 00\n\n",
        "old 01\n" H "\n",
        "old\n\n",
        "old \n\n",
        "old  1\n\n",
        "old 1 \n\n",
        "old -1\n\n",
        "OLD 1\n\n",
        "old 18446744073709551616\n\n",
        "\nold 1\n\n",
        "old 1\n",                    /* no blank line: the note's text is read as proof */
        "old 1\n" H,
        "old 1\n" H "\n\n",
        "old 1\r\n\n",
        "old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpka==\n\n",
        "",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        if (witness_try(bad[i], note) != CUSTODY_EINVAL)
            TEST_FAIL_("accepted bad request #%zu", i);
    ASSERT_EQ(CUSTODY_EINVAL, witness_try("old 0\n\n", checkpoint_text)); /* unsigned */
    ASSERT_EQ(CUSTODY_EINVAL, witness_try("old 0\n\n", peter_note));
    /* 63 proof lines fine, 64 not */
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(sb_puts(&sb, "old 1\n"));
    for (int i = 0; i < TLOG_WITNESS_PROOF_MAX; i++)
        ASSERT_OK(sb_puts(&sb, H));
    ASSERT_OK(sb_puts(&sb, "\n"));
    ASSERT_OK(witness_try(sb.buf, note));
    sb.len -= 1;
    ASSERT_OK(sb_puts(&sb, H "\n"));
    ASSERT_EQ(CUSTODY_EINVAL, witness_try(sb.buf, note));
    free(note);
    sb_free(&sb);
#undef H
}
