/* test_crypt.c — encryption at rest: the object format (round trips,
 * ranges, tampering, wrong keys), the store key, labels, and encrypted
 * versions through the store (write, read back, rollback). */
#include "store/crypt.h"
#include "store_test.h"

/* ---- helpers ---- */

static void key_of(struct store_crypt_key *k, uint8_t seed)
{
    uint8_t raw[STORE_CRYPT_KEY_LEN];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(seed + i * 7);
    store_crypt_key_set(k, raw);
}

/* Deterministic content that differs in every chunk. */
static uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ASSERT_NOT_NULL(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static int tmp_fd_with(const void *data, size_t len)
{
    int fd = open(test_tmpdir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, data, len));
    return fd;
}

static int empty_fd(void)
{
    return tmp_fd_with("", 0);
}

struct collect {
    struct strbuf sb;
    size_t calls;
};

static int collect_sink(void *arg, const void *data, size_t len)
{
    struct collect *c = arg;
    sb_append(&c->sb, data, len);
    c->calls++;
    return 0;
}

/* Decrypts [off, off+len) of fd into a buffer; returns the result code. */
static int dec(const struct store_crypt_key *k, int fd, const char *id, uint64_t off, uint64_t len,
               struct collect *c)
{
    memset(c, 0, sizeof *c); /* an empty strbuf (STRBUF_INIT) */
    return store_crypt_decrypt(k, fd, id, off, len, collect_sink, c);
}

static uint64_t fd_size(int fd)
{
    struct stat sb;
    ASSERT_OK(fstat(fd, &sb));
    return (uint64_t)sb.st_size;
}

/* Encrypts data into a new anonymous file; id gets the name. */
static int enc_fd(const struct store_crypt_key *k, const void *data, size_t len, char id[65])
{
    int src = tmp_fd_with(data, len), dst = empty_fd();
    uint64_t plain = 0;
    ASSERT_OK(store_crypt_encrypt(k, src, dst, NULL, id, &plain));
    ASSERT_EQ(len, plain);
    close(src);
    return dst;
}

static void expect_corrupt(const struct store_crypt_key *k, int fd, const char *id)
{
    struct collect c;
    ASSERT_EQ(CUSTODY_ECORRUPT, dec(k, fd, id, 0, UINT64_MAX, &c));
    sb_free(&c.sb);
}

static void flip(int fd, uint64_t off)
{
    uint8_t b;
    ASSERT_EQ(1, pread(fd, &b, 1, (off_t)off));
    b ^= 0x20;
    ASSERT_EQ(1, pwrite(fd, &b, 1, (off_t)off));
}

/* A copy of an encrypted file, to damage. */
static int copy_of(int fd)
{
    int c = empty_fd();
    ASSERT_OK(store_copy_fd(fd, c, NULL));
    return c;
}

#define SEALED_ (STORE_CRYPT_CHUNK + STORE_CRYPT_TAG_LEN)

/* ---- the format ---- */

TEST(crypt_roundtrip_sizes)
{
    struct store_crypt_key k;
    key_of(&k, 1);
    static const size_t sizes[] = {0,          1,          65535,          65536,      65537,
                                   15 * 65536, 16 * 65536, 16 * 65536 + 1, 17 * 65536, 5u << 20};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *p = pattern(n, (uint32_t)i);
        char id[65], want[65];
        fx_sha_hex(p, n, want);
        int fd = enc_fd(&k, p, n, id);
        ASSERT_STR_EQ(want, id); /* named by the plaintext's SHA-256 */
        /* size: header + every chunk's tag; at least one chunk */
        size_t chunks = n ? (n + STORE_CRYPT_CHUNK - 1) / STORE_CRYPT_CHUNK : 1;
        ASSERT_EQ(STORE_CRYPT_HEADER_LEN + n + chunks * STORE_CRYPT_TAG_LEN, fd_size(fd));
        uint64_t plain = 99;
        ASSERT_OK(store_crypt_plain_size(fd_size(fd), &plain));
        ASSERT_EQ(n, plain);
        struct collect c;
        ASSERT_OK(dec(&k, fd, id, 0, UINT64_MAX, &c));
        ASSERT_EQ(n, c.sb.len);
        if (n) ASSERT_MEM_EQ(p, c.sb.buf, n);
        sb_free(&c.sb);
        /* the plaintext is nowhere in the file (it has no 16-byte run of it) */
        if (n >= 64) {
            size_t elen;
            char *e = fx_read_fd(fd, &elen);
            ASSERT_NULL(memmem(e, elen, p + n / 2, 16));
            free(e);
        }
        close(fd);
        free(p);
    }
}

TEST(crypt_trusted_name_and_fresh_randomness)
{
    struct store_crypt_key k;
    key_of(&k, 2);
    const char *s = "same content";
    char want[65], id1[65], id2[65];
    fx_sha_hex(s, strlen(s), want);
    int src = tmp_fd_with(s, strlen(s)), a = empty_fd(), b = empty_fd();
    ASSERT_OK(store_crypt_encrypt(&k, src, a, want, id1, NULL));
    ASSERT_OK(store_crypt_encrypt(&k, src, b, want, id2, NULL));
    ASSERT_STR_EQ(want, id1);
    ASSERT_STR_EQ(want, id2);
    /* same content, same key: different salt, nonce and ciphertext */
    size_t la, lb;
    char *ea = fx_read_fd(a, &la), *eb = fx_read_fd(b, &lb);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(ea, eb, la) != 0);
    ASSERT_MEM_EQ("CUSTENC\0\x01\x10", ea, 10);
    free(ea);
    free(eb);
    struct collect c;
    ASSERT_OK(dec(&k, b, want, 0, UINT64_MAX, &c));
    ASSERT_EQ(strlen(s), c.sb.len);
    ASSERT_MEM_EQ(s, c.sb.buf, c.sb.len);
    sb_free(&c.sb);
    /* a bad trusted name is refused before anything is written */
    int d = empty_fd();
    ASSERT_EQ(CUSTODY_EINVAL, store_crypt_encrypt(&k, src, d, "abc", id1, NULL));
    ASSERT_EQ(0, fd_size(d));
    close(src);
    close(a);
    close(b);
    close(d);
}

TEST(crypt_ranges)
{
    struct store_crypt_key k;
    key_of(&k, 3);
    size_t n = 20 * STORE_CRYPT_CHUNK + 123; /* 21 chunks: two batches */
    uint8_t *p = pattern(n, 7);
    char id[65];
    int fd = enc_fd(&k, p, n, id);
    const struct {
        uint64_t off, len;
    } r[] = {
        {0, 1},
        {0, 65536},
        {65535, 2},
        {65536, 65536},
        {100000, 1},
        {3 * 65536 - 5, 17 * 65536},
        {20 * 65536, 123},
        {20 * 65536 + 122, 1},
        {n - 10, 1000}, /* runs past the end: cut */
        {5, UINT64_MAX},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(r); i++) {
        struct collect c;
        ASSERT_OK(dec(&k, fd, id, r[i].off, r[i].len, &c));
        uint64_t want = UTIL_MIN(r[i].len, n - r[i].off);
        ASSERT_EQ(want, c.sb.len);
        ASSERT_MEM_EQ(p + r[i].off, c.sb.buf, want);
        sb_free(&c.sb);
    }
    /* at or past the end, or empty: nothing, but still verified */
    struct collect c;
    ASSERT_OK(dec(&k, fd, id, n, 10, &c));
    ASSERT_EQ(0, c.sb.len);
    ASSERT_EQ(0, c.calls);
    sb_free(&c.sb);
    ASSERT_OK(dec(&k, fd, id, 7, 0, &c));
    ASSERT_EQ(0, c.sb.len);
    sb_free(&c.sb);
    int bad = copy_of(fd);
    flip(bad, fd_size(bad) - 1); /* the last chunk binds the object: checked for any range */
    ASSERT_EQ(CUSTODY_ECORRUPT, dec(&k, bad, id, 0, 1, &c));
    ASSERT_EQ(0, c.sb.len);
    sb_free(&c.sb);
    close(bad);
    close(fd);
    free(p);
}

TEST(crypt_tamper)
{
    struct store_crypt_key k;
    key_of(&k, 4);
    size_t n = 3 * STORE_CRYPT_CHUNK + 100; /* chunks 0, 1, 2 full; 3 short and last */
    uint8_t *p = pattern(n, 9);
    char id[65];
    int fd = enc_fd(&k, p, n, id);
    uint64_t size = fd_size(fd);
    const uint64_t H = STORE_CRYPT_HEADER_LEN;
    /* one byte flipped in each region */
    static const uint64_t header_bytes[] = {0, 7, 8, 9, 10, 12, 19, 20, 51, 52, 59, 60, 63};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(header_bytes); i++) {
        int b = copy_of(fd);
        flip(b, header_bytes[i]);
        expect_corrupt(&k, b, id);
        close(b);
    }
    const uint64_t body[] = {
        H,                                       /* chunk 0, first ciphertext byte */
        H + 1000,                                /* chunk 0 */
        H + STORE_CRYPT_CHUNK,                   /* chunk 0's tag */
        H + SEALED_ - 1,                         /* chunk 0's tag, last byte */
        H + SEALED_ + 5,                         /* chunk 1 */
        H + 2 * SEALED_ + STORE_CRYPT_CHUNK + 3, /* chunk 2's tag */
        H + 3 * SEALED_,                         /* the last chunk */
        size - 1,                                /* the last tag */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(body); i++) {
        int b = copy_of(fd);
        flip(b, body[i]);
        expect_corrupt(&k, b, id);
        close(b);
    }
    /* truncations: inside the last chunk, the whole last chunk, to the header */
    static const uint64_t cut[] = {1, 16, 100 + STORE_CRYPT_TAG_LEN};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cut); i++) {
        int b = copy_of(fd);
        ASSERT_OK(ftruncate(b, (off_t)(size - cut[i])));
        expect_corrupt(&k, b, id);
        close(b);
    }
    int b = copy_of(fd);
    ASSERT_OK(ftruncate(b, (off_t)H));
    expect_corrupt(&k, b, id);
    ASSERT_OK(ftruncate(b, 0));
    expect_corrupt(&k, b, id);
    close(b);
    /* a chunk appended (a copy of chunk 0) */
    b = copy_of(fd);
    uint8_t *chunk = malloc(SEALED_);
    ASSERT_EQ(SEALED_, pread(fd, chunk, SEALED_, (off_t)H));
    ASSERT_EQ(SEALED_, pwrite(b, chunk, SEALED_, (off_t)size));
    expect_corrupt(&k, b, id);
    close(b);
    /* two chunks swapped */
    b = copy_of(fd);
    uint8_t *chunk1 = malloc(SEALED_);
    ASSERT_EQ(SEALED_, pread(fd, chunk1, SEALED_, (off_t)(H + SEALED_)));
    ASSERT_EQ(SEALED_, pwrite(b, chunk1, SEALED_, (off_t)H));
    ASSERT_EQ(SEALED_, pwrite(b, chunk, SEALED_, (off_t)(H + SEALED_)));
    expect_corrupt(&k, b, id);
    close(b);
    free(chunk);
    free(chunk1);
    /* another object's name: the file was swapped for another one */
    char other[65];
    fx_sha_hex("other", 5, other);
    expect_corrupt(&k, fd, other);
    /* garbage that has a valid size */
    uint8_t *junk = pattern((size_t)size, 11);
    b = tmp_fd_with(junk, (size_t)size);
    expect_corrupt(&k, b, id);
    close(b);
    free(junk);
    /* impossible sizes */
    uint64_t plain;
    ASSERT_EQ(CUSTODY_ECORRUPT, store_crypt_plain_size(0, &plain));
    ASSERT_EQ(CUSTODY_ECORRUPT, store_crypt_plain_size(H + 15, &plain));
    ASSERT_EQ(CUSTODY_ECORRUPT, store_crypt_plain_size(H + SEALED_ + 15, &plain));
    ASSERT_OK(store_crypt_plain_size(H + SEALED_ + 16, &plain));
    ASSERT_EQ(STORE_CRYPT_CHUNK, plain);
    /* the original is still fine */
    struct collect c;
    ASSERT_OK(dec(&k, fd, id, 0, UINT64_MAX, &c));
    ASSERT_EQ(n, c.sb.len);
    ASSERT_MEM_EQ(p, c.sb.buf, n);
    sb_free(&c.sb);
    close(fd);
    free(p);
}

TEST(crypt_wrong_key)
{
    struct store_crypt_key a, b;
    key_of(&a, 5);
    key_of(&b, 6);
    ASSERT(memcmp(a.id, b.id, sizeof a.id) != 0);
    const char *s = "encrypted under a";
    char id[65];
    int fd = enc_fd(&a, s, strlen(s), id);
    expect_corrupt(&b, fd, id); /* refused by the key id */
    /* the key id rewritten to b's: refused by the tags */
    int c2 = copy_of(fd);
    ASSERT_EQ(STORE_CRYPT_KEY_ID_LEN, pwrite(c2, b.id, STORE_CRYPT_KEY_ID_LEN, 12));
    expect_corrupt(&b, c2, id);
    close(c2);
    struct collect c;
    ASSERT_OK(dec(&a, fd, id, 0, UINT64_MAX, &c));
    ASSERT_EQ(strlen(s), c.sb.len);
    sb_free(&c.sb);
    close(fd);
}

static int failing_sink(void *arg, const void *data, size_t len)
{
    (void)data;
    (void)len;
    int *calls = arg;
    return ++*calls == 1 ? CUSTODY_ENOSPC : 0;
}

TEST(crypt_sink_error_stops)
{
    struct store_crypt_key k;
    key_of(&k, 8);
    size_t n = 40 * STORE_CRYPT_CHUNK; /* three batches */
    uint8_t *p = pattern(n, 3);
    char id[65];
    int fd = enc_fd(&k, p, n, id);
    int calls = 0;
    ASSERT_EQ(CUSTODY_ENOSPC, store_crypt_decrypt(&k, fd, id, 0, UINT64_MAX, failing_sink, &calls));
    ASSERT_EQ(1, calls);
    close(fd);
    free(p);
}

/* ---- labels ---- */

TEST(crypt_label_match)
{
    struct cfg_label l[1];
    struct {
        const char *key, *value, *label;
        bool want;
    } cases[] = {
        {"encrypt", "true", "encrypt", true},       {"Encrypt", "yes", "encrypt", true},
        {"encrypt", "", "encrypt", true},           {"protection", "encrypt", "encrypt", true},
        {"protection", "ENCRYPT", "encrypt", true}, {"encrypt", "false", "encrypt", false},
        {"encrypt", "No", "encrypt", false},        {"encrypt", "off", "encrypt", false},
        {"encrypt", "0", "encrypt", false},         {"classification", "phi", "encrypt", false},
        {"encrypted", "true", "encrypt", false},    {"sealed", "1", "sealed", true},
        {"encrypt", "true", "sealed", false},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        l[0].key = (char *)cases[i].key;
        l[0].value = (char *)cases[i].value;
        if (store_crypt_label_match(l, 1, cases[i].label) != cases[i].want)
            TEST_FAIL_("%s=%s with label %s: want %d", cases[i].key, cases[i].value, cases[i].label,
                       cases[i].want);
    }
    ASSERT(!store_crypt_label_match(NULL, 0, "encrypt"));
    ASSERT(!store_crypt_label_match(l, 1, NULL));
}

TEST(crypt_config_knob)
{
    struct custody_config *cfg = config_new_default("/tmp/x");
    ASSERT_STR_EQ("encrypt", cfg->store_encrypt_label);
    struct strbuf err = STRBUF_INIT;
    const char *y = "store:\n  encrypt_label: sealed\n";
    ASSERT_OK(config_parse_main(cfg, "config.yaml", y, strlen(y), &err));
    ASSERT_STR_EQ("sealed", cfg->store_encrypt_label);
    const char *bad = "store:\n  encrypt_label: \"two words\"\n";
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_main(cfg, "config.yaml", bad, strlen(bad), &err));
    ASSERT_STR_CONTAINS(err.buf, "store.encrypt_label");
    sb_free(&err);
    config_unref(cfg);
    /* the template documents it, with its default */
    struct strbuf t = STRBUF_INIT;
    config_template(&t, "node");
    ASSERT_STR_CONTAINS(t.buf, "  encrypt_label: encrypt\n");
    sb_free(&t);
}

/* ---- the store key ---- */

static void key_path(struct fx *f, char *out, size_t outsz)
{
    fx_path(out, outsz, f->state, STORE_CRYPT_KEY_FILE);
}

TEST(crypt_key_file_made_once)
{
    struct fx f;
    fx_open(&f, true);
    char kp[1200];
    key_path(&f, kp, sizeof kp);
    struct stat sb;
    ASSERT_OK(lstat(kp, &sb));
    ASSERT(S_ISREG(sb.st_mode));
    ASSERT_EQ(0600, sb.st_mode & 07777);
    ASSERT_EQ(65, sb.st_size);
    char *first = fx_disk(f.state, STORE_CRYPT_KEY_FILE);
    ASSERT_NOT_NULL(first);
    ASSERT_EQ('\n', first[64]);
    uint8_t raw[32];
    ASSERT_OK(util_hex_decode(first, 64, raw));
    char keysdir[1200];
    fx_path(keysdir, sizeof keysdir, f.state, "keys");
    ASSERT_OK(stat(keysdir, &sb));
    ASSERT_EQ(0700, sb.st_mode & 0777);
    ASSERT_EQ(0, fx_count_tmp(keysdir));
    fx_close(&f);
    /* opened again: the same key */
    struct store_opts o = {.versions = true};
    ASSERT_OK(store_open(f.state, &o, &f.st));
    char *second = fx_disk(f.state, STORE_CRYPT_KEY_FILE);
    ASSERT_STR_EQ(first, second);
    free(first);
    free(second);
    fx_close(&f);
}

static int open_with_key(struct fx *f, const char *content, mode_t mode)
{
    char kp[1200];
    key_path(f, kp, sizeof kp);
    unlink(kp);
    int fd = open(kp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT(fd >= 0);
    ASSERT_OK(util_write_all(fd, content, strlen(content)));
    close(fd);
    ASSERT_OK(chmod(kp, mode));
    struct store_opts o = {.versions = true};
    struct store *st = NULL;
    int rc = store_open(f->state, &o, &st);
    if (st) store_close(st);
    return rc;
}

TEST(crypt_key_file_refused)
{
    struct fx f;
    fx_open(&f, true);
    fx_close(&f);
    char *good = fx_disk(f.state, STORE_CRYPT_KEY_FILE);
    ASSERT_OK(open_with_key(&f, good, 0600));
    ASSERT_OK(open_with_key(&f, good, 0400));
    ASSERT_EQ(CUSTODY_ECONFIG, open_with_key(&f, good, 0640)); /* group can read */
    ASSERT_EQ(CUSTODY_ECONFIG, open_with_key(&f, good, 0604)); /* others can read */
    ASSERT_EQ(CUSTODY_ECONFIG, open_with_key(&f, good, 0620));
    good[64] = '\0';
    ASSERT_OK(open_with_key(&f, good, 0600)); /* the newline is optional */
    good[63] = '\0';
    ASSERT_EQ(CUSTODY_ECONFIG, open_with_key(&f, good, 0600)); /* 63 digits */
    ASSERT_EQ(CUSTODY_ECONFIG, open_with_key(&f, "", 0600));
    ASSERT_EQ(CUSTODY_ECONFIG,
              open_with_key(
                  &f, "zz00000000000000000000000000000000000000000000000000000000000000\n", 0600));
    ASSERT_EQ(CUSTODY_ECONFIG,
              open_with_key(
                  &f, "0000000000000000000000000000000000000000000000000000000000000000\nx", 0600));
    /* a symlink to a good key is refused too */
    char kp[1200], other[1200];
    key_path(&f, kp, sizeof kp);
    fx_path(other, sizeof other, f.base, "elsewhere.key");
    test_write_file(f.base, "elsewhere.key",
                    "0000000000000000000000000000000000000000000000000000000000000000\n");
    ASSERT_OK(chmod(other, 0600));
    unlink(kp);
    ASSERT_OK(symlink(other, kp));
    struct store_opts o = {.versions = true};
    struct store *st = NULL;
    ASSERT_EQ(CUSTODY_ECONFIG, store_open(f.state, &o, &st));
    ASSERT_NULL(st);
    free(good);
}

/* ---- through the store ---- */

static char g_plain[700];

/* Roots: "r" labelled for encryption (label key `label_key`), "p" plain. */
static void set_roots(struct fx *f, const char *key, const char *value)
{
    fx_path(g_plain, sizeof g_plain, f->base, "plain");
    ASSERT_OK(util_mkdir_p(g_plain, 0755));
    struct cfg_label lab = {.key = (char *)key, .value = (char *)value};
    struct cfg_root r[2] = {
        {.name = (char *)"r", .path = f->root, .labels = &lab, .nlabels = key ? 1 : 0},
        {.name = (char *)"p", .path = g_plain},
    };
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(store_set_roots(f->st, r, 2, &err));
    sb_free(&err);
}

static void fx_open_enc(struct fx *f)
{
    fx_open(f, true);
    set_roots(f, "encrypt", "true");
}

/* Counts regular files under dir, recursively; how many contain needle. */
static int scan(const char *dir, const char *needle, int *hits)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[1400];
        fx_path(p, sizeof p, dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) {
            n += scan(p, needle, hits);
        } else if (S_ISREG(sb.st_mode)) {
            n++;
            char *data = NULL;
            size_t len = 0;
            if (util_read_file(p, 64u << 20, &data, &len) == 0 && needle &&
                memmem(data, len, needle, strlen(needle)))
                (*hits)++;
            free(data);
        }
    }
    closedir(d);
    return n;
}

static int count_files(struct fx *f, const char *rel, const char *needle, int *hits)
{
    char p[1200];
    fx_path(p, sizeof p, f->state, rel);
    int h = 0;
    int n = scan(p, needle, &h);
    if (hits) *hits = h;
    return n;
}

static char *version_text(struct fx *f, const char *root, const char *path, int64_t id, int *rc)
{
    struct store_handle h;
    *rc = store_open_version(f->st, root, path, id, &h);
    if (*rc) return NULL;
    ASSERT_EQ(STORE_FILE, h.type);
    char *s = fx_read_fd(h.fd, NULL);
    ASSERT_EQ((off_t)strlen(s), h.st.st_size);
    store_handle_close(&h);
    return s;
}

TEST(crypt_store_versions_encrypted)
{
    struct fx f;
    fx_open_enc(&f);
    test_write_file(f.root, "doc.txt", "MARKER-7f3a external v0\n");
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/doc.txt", "MARKER-7f3a v1\n", 15, NULL, &res));
    ASSERT_OK(fx_puts(&f, "/doc.txt", "MARKER-7f3a v2\n"));
    ASSERT_OK(fx_puts(&f, "/doc.txt", "MARKER-7f3a v2\n")); /* dedup: same object */
    int hits = 0;
    ASSERT_EQ(3, count_files(&f, "store/objects-enc", NULL, NULL));
    ASSERT_EQ(0, count_files(&f, "store/objects", NULL, NULL));
    count_files(&f, "store", "MARKER-7f3a", &hits);
    ASSERT_EQ(0, hits);
    count_files(&f, "store/objects-enc", "CUSTENC", &hits);
    ASSERT_EQ(3, hits);
    /* the versions table records the plaintext's hash */
    struct store_version *v;
    size_t n;
    ASSERT_OK(store_versions(f.st, "r", "/doc.txt", &v, &n));
    ASSERT_EQ(4, n);
    ASSERT_STR_EQ("external", v[0].op);
    char hex[65];
    fx_sha_hex("MARKER-7f3a v1\n", 15, hex);
    ASSERT_STR_EQ(hex, v[1].sha256);
    ASSERT_STR_EQ(res.sha256, v[1].sha256);
    ASSERT_EQ(15, v[1].size);
    for (size_t i = 0; i < n; i++)
        ASSERT(v[i].available);
    free(v);
    int rc;
    char *s = version_text(&f, "r", "/doc.txt", 1, &rc);
    ASSERT_STR_EQ("MARKER-7f3a external v0\n", s);
    free(s);
    s = version_text(&f, "r", "/doc.txt", 2, &rc);
    ASSERT_STR_EQ("MARKER-7f3a v1\n", s);
    free(s);
    /* the handle's content hash is the version's, from the cache */
    struct store_handle h;
    ASSERT_OK(store_open_version(f.st, "r", "/doc.txt", 2, &h));
    char got[65];
    ASSERT_OK(store_content_hash(f.st, h.fd, &h.st, false, got));
    ASSERT_STR_EQ(hex, got);
    ASSERT_EQ(0444, h.st.st_mode & 0777);
    ASSERT_EQ(O_RDONLY, fcntl(h.fd, F_GETFL) & O_ACCMODE);
    store_handle_close(&h);
    /* rollback decrypts into the live file (which is plaintext, as ever) */
    ASSERT_OK(store_rollback(f.st, "r", "/doc.txt", 2, &res));
    char *live = fx_disk(f.root, "doc.txt");
    ASSERT_STR_EQ("MARKER-7f3a v1\n", live);
    free(live);
    ASSERT_EQ(5, res.version);
    count_files(&f, "store", "MARKER-7f3a", &hits);
    ASSERT_EQ(0, hits);
    /* delete and move keep encrypted versions too */
    ASSERT_OK(fx_puts(&f, "/b.txt", "MARKER-7f3a b\n"));
    ASSERT_OK(store_move(f.st, "r", "/b.txt", "/c.txt", false));
    test_write_file(f.root, "c.txt", "MARKER-7f3a changed outside\n");
    ASSERT_OK(store_delete(f.st, "r", "/c.txt", NULL));
    s = version_text(&f, "r", "/c.txt", 2, &rc);
    ASSERT_STR_EQ("MARKER-7f3a changed outside\n", s);
    free(s);
    count_files(&f, "store", "MARKER-7f3a", &hits);
    ASSERT_EQ(0, hits);
    ASSERT_EQ(0, count_files(&f, "store/objects", NULL, NULL));
    ASSERT_EQ(0, count_files(&f, "store/tmp", NULL, NULL));
    fx_close(&f);
}

TEST(crypt_store_plain_root_unchanged)
{
    struct fx f;
    fx_open_enc(&f);
    struct store_writer *w;
    ASSERT_OK(store_write_begin(f.st, "p", "/x.txt", &w));
    ASSERT_OK(store_write_append(w, "MARKER-plain\n", 13));
    ASSERT_OK(store_write_commit(w, NULL, NULL));
    int hits = 0;
    ASSERT_EQ(1, count_files(&f, "store/objects", "MARKER-plain", &hits));
    ASSERT_EQ(1, hits); /* plaintext, as before */
    ASSERT_EQ(0, count_files(&f, "store/objects-enc", NULL, NULL));
    int rc;
    char *s = version_text(&f, "p", "/x.txt", 1, &rc);
    ASSERT_STR_EQ("MARKER-plain\n", s);
    free(s);
    /* the same content in the encrypted root gets its own encrypted object */
    ASSERT_OK(fx_puts(&f, "/x.txt", "MARKER-plain\n"));
    ASSERT_EQ(1, count_files(&f, "store/objects-enc", "MARKER-plain", &hits));
    ASSERT_EQ(0, hits);
    s = version_text(&f, "r", "/x.txt", 1, &rc);
    ASSERT_STR_EQ("MARKER-plain\n", s);
    free(s);
    fx_close(&f);
}

TEST(crypt_store_label_changes)
{
    struct fx f;
    fx_open(&f, true);
    set_roots(&f, NULL, NULL); /* "r" plain */
    ASSERT_OK(fx_puts(&f, "/a.txt", "before the label\n"));
    set_roots(&f, "protection", "encrypt");
    ASSERT_OK(fx_puts(&f, "/a.txt", "after the label\n"));
    /* the prior content is kept again, encrypted: an encrypted root's
     * content always has its own encrypted object */
    ASSERT_EQ(1, count_files(&f, "store/objects", NULL, NULL));
    ASSERT_EQ(2, count_files(&f, "store/objects-enc", NULL, NULL));
    int rc;
    char *s = version_text(&f, "r", "/a.txt", 1, &rc); /* found in objects/ */
    ASSERT_STR_EQ("before the label\n", s);
    free(s);
    set_roots(&f, "encrypt", "false");           /* plain again */
    s = version_text(&f, "r", "/a.txt", 2, &rc); /* found in objects-enc/ */
    ASSERT_STR_EQ("after the label\n", s);
    free(s);
    ASSERT_OK(store_rollback(f.st, "r", "/a.txt", 2, NULL));
    char *live = fx_disk(f.root, "a.txt");
    ASSERT_STR_EQ("after the label\n", live);
    free(live);
    /* a custom label */
    fx_close(&f);
    struct store_opts o = {.versions = true, .encrypt_label = "sealed"};
    ASSERT_OK(store_open(f.state, &o, &f.st));
    set_roots(&f, "sealed", "yes");
    ASSERT_OK(fx_puts(&f, "/a.txt", "sealed content\n"));
    ASSERT_EQ(3, count_files(&f, "store/objects-enc", NULL, NULL));
    set_roots(&f, "encrypt", "true"); /* not the label any more */
    ASSERT_OK(fx_puts(&f, "/a.txt", "plain content\n"));
    ASSERT_EQ(3, count_files(&f, "store/objects-enc", NULL, NULL));
    ASSERT_EQ(4, count_files(&f, "store/objects", NULL, NULL));
    fx_close(&f);
}

/* The object file of a version (encrypted namespace). */
static void enc_object_path(struct fx *f, const char *hex, char *out, size_t outsz)
{
    char rel[200];
    snprintf(rel, sizeof rel, "store/objects-enc/%.2s/%s", hex, hex + 2);
    fx_path(out, outsz, f->state, rel);
}

static void damage(const char *path, void (*fn)(int fd))
{
    ASSERT_OK(chmod(path, 0600));
    int fd = open(path, O_RDWR);
    ASSERT(fd >= 0);
    fn(fd);
    close(fd);
}

static void flip_middle(int fd)
{
    flip(fd, fd_size(fd) / 2);
}

static void cut_one(int fd)
{
    ASSERT_OK(ftruncate(fd, (off_t)fd_size(fd) - 1));
}

TEST(crypt_store_tampered_version_refused)
{
    struct fx f;
    fx_open_enc(&f);
    size_t n = 300000;
    char *big = (char *)pattern(n, 5);
    struct store_write_result r1, r2;
    ASSERT_OK(fx_put(&f, "/t.bin", big, n, NULL, &r1));
    ASSERT_OK(fx_put(&f, "/t.bin", "small", 5, NULL, &r2));
    char p1[1400], p2[1400];
    enc_object_path(&f, r1.sha256, p1, sizeof p1);
    enc_object_path(&f, r2.sha256, p2, sizeof p2);
    damage(p1, flip_middle);
    struct store_handle h;
    ASSERT_EQ(CUSTODY_ECORRUPT, store_open_version(f.st, "r", "/t.bin", 1, &h));
    ASSERT_EQ(-1, h.fd);
    ASSERT_EQ(CUSTODY_ECORRUPT, store_rollback(f.st, "r", "/t.bin", 1, NULL));
    char *live = fx_disk(f.root, "t.bin");
    ASSERT_STR_EQ("small", live); /* the failed rollback changed nothing */
    free(live);
    damage(p2, cut_one);
    ASSERT_EQ(CUSTODY_ECORRUPT, store_open_version(f.st, "r", "/t.bin", 2, &h));
    /* swap: object 2's file under object 1's name */
    ASSERT_OK(unlink(p1));
    ASSERT_OK(link(p2, p1));
    ASSERT_EQ(CUSTODY_ECORRUPT, store_open_version(f.st, "r", "/t.bin", 1, &h));
    ASSERT_EQ(0, count_files(&f, "store/tmp", NULL, NULL));
    fx_close(&f);
    free(big);
}

TEST(crypt_store_large_version_tmpfile)
{
    struct fx f;
    fx_open_enc(&f);
    size_t n = 5u << 20;
    char *big = (char *)pattern(n, 6);
    struct store_write_result res;
    ASSERT_OK(fx_put(&f, "/big.bin", big, n, NULL, &res));
    ASSERT_OK(fx_puts(&f, "/big.bin", "now small"));
    for (int path = 0; path < 3; path++) { /* memfd, O_TMPFILE, named temp */
        store_test_crypt_memfd_max = path == 0 ? 0 : 1;
        store_test_no_tmpfile = path == 2;
        struct store_handle h;
        ASSERT_OK(store_open_version(f.st, "r", "/big.bin", 1, &h));
        ASSERT_EQ((off_t)n, h.st.st_size);
        size_t len;
        char *got = fx_read_fd(h.fd, &len);
        ASSERT_EQ(n, len);
        ASSERT_MEM_EQ(big, got, n);
        free(got);
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", h.fd);
        ssize_t tl = readlink(link, target, sizeof target - 1);
        ASSERT(tl > 0);
        target[tl] = '\0';
        if (path == 0)
            ASSERT_STR_CONTAINS(target, "memfd:custody-version");
        else
            ASSERT_STR_CONTAINS(target, "/store/tmp/");
        ASSERT_EQ(0, count_files(&f, "store/tmp", NULL, NULL)); /* nothing with a name */
        store_handle_close(&h);
    }
    store_test_crypt_memfd_max = 0;
    store_test_no_tmpfile = false;
    ASSERT_OK(store_rollback(f.st, "r", "/big.bin", 1, &res));
    ASSERT_EQ(n, res.size);
    char want[65];
    fx_sha_hex(big, n, want);
    ASSERT_STR_EQ(want, res.sha256);
    fx_close(&f);
    free(big);
}
