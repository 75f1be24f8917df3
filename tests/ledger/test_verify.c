/*
 * test_verify.c — offline verification of a ledger directory (verify.c):
 * good logs of many sizes, trust on first use and later consistency, forks
 * and rollbacks, keys and strict signatures, stale and ahead partial tiles,
 * naming the first bad entry, and the mutation campaign: 10,000 random
 * changes to a copy of a log (bit flips, inserted, deleted and truncated
 * bytes, deleted files, swapped tiles, duplicated and reordered entries),
 * every one of which must be detected.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger/internal.h"
#include "test.h"

#define ORIGIN "test.custody/log"

static void key_from(uint8_t salt, uint8_t type, const char *name, struct tlog_key *k)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + salt);
    ASSERT_OK(tlog_key_from_seed(name, type, seed, k));
}

static void log_key(struct tlog_key *k)
{
    key_from(1, TLOG_KEY_ED25519, ORIGIN, k);
}

static void witness_key(struct tlog_key *k)
{
    key_from(9, TLOG_KEY_COSIGNATURE, "witness.example/w1", k);
}

/* Entry i of history `fork` (0 = the main one). */
static size_t entry_text(uint64_t i, int fork, char *buf, size_t len)
{
    snprintf(buf, len, "{\"entry\":%llu,\"fork\":%d,\"pad\":\"%0*d\"}", (unsigned long long)i,
             fork, (int)(i % 50), 0);
    return strlen(buf);
}

/* Appends entries [from, to) of history `fork` and closes the log. */
static void build_log(const char *dir, uint64_t from, uint64_t to, int fork)
{
    struct tlog_key k;
    log_key(&k);
    struct ledger_opts o = {.dir = dir, .origin = ORIGIN, .key = &k, .no_index = true,
                            .checkpoint_interval_ms = 20};
    struct strbuf err = {0};
    struct ledger *l = NULL;
    if (ledger_open(&o, &l, &err) != 0)
        TEST_FAIL_("ledger_open: %s", err.buf ? err.buf : "?");
    sb_free(&err);
    for (uint64_t i = from; i < to; i++) {
        char e[128];
        size_t n = entry_text(i, fork, e, sizeof e);
        ASSERT_OK(ledger_submit_raw(l, e, n, NULL, NULL));
    }
    for (;;) {
        struct ledger_stats st;
        ledger_stats(l, &st);
        if (st.size == to)
            break;
        usleep(500);
        ledger_dispatch(l);
    }
    ASSERT_OK(ledger_checkpoint_now(l, to));
    ledger_close(l);
}

static int verify(const char *dir, const char *trusted, bool update, bool strict,
                  struct ledger_verify_result *res)
{
    struct tlog_key keys[2];
    log_key(&keys[0]);
    witness_key(&keys[1]);
    struct ledger_verify_opts o = {.dir = dir, .keys = keys, .nkeys = 2,
                                   .trusted_path = trusted, .update_trusted = update,
                                   .strict_signatures = strict};
    return ledger_verify(&o, res);
}

static void path_in(char *buf, size_t len, const char *dir, const char *rel)
{
    snprintf(buf, len, "%s/%s", dir, rel);
}

static void slurp(const char *path, struct strbuf *out)
{
    char *b = NULL;
    size_t n = 0;
    ASSERT_OK(util_read_file(path, 64u << 20, &b, &n));
    sb_reset(out);
    sb_append(out, b, n);
    free(b);
}

/* Replaces a file's content. In place rather than with O_TRUNC: ext4
 * starts writeback at once for a file truncated to zero and rewritten,
 * which would make the campaign's thousands of rewrites crawl. */
static void spit(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        TEST_FAIL_("open %s: %s", path, strerror(errno));
    ASSERT_EQ((ssize_t)len, pwrite(fd, data, len, 0));
    ASSERT_OK(ftruncate(fd, (off_t)len));
    close(fd);
}

/* Appends a cosignature line by `w` to dir/checkpoint. */
static void cosign(const char *dir, const struct tlog_key *w)
{
    char p[600];
    path_in(p, sizeof p, dir, "checkpoint");
    struct strbuf sb = {0}, lines = {0};
    slurp(p, &sb);
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(sb.buf, sb.len, &n));
    ASSERT_OK(tlog_note_sign_lines(n.text, n.text_len, w, 1700000000, &lines));
    sb_append(&sb, lines.buf, lines.len);
    spit(p, sb.buf, sb.len);
    sb_free(&sb);
    sb_free(&lines);
}

TEST(verify_good_logs)
{
    char dir[512], trusted[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    snprintf(trusted, sizeof trusted, "%s/trusted", test_tmpdir());
    struct ledger_verify_result r;
    build_log(dir, 0, 0, 0); /* the empty log: checkpoint at 0 */
    ASSERT_OK(verify(dir, trusted, true, true, &r));
    ASSERT_EQ(0, r.size);
    uint64_t sizes[] = {1, 255, 256, 257, 1000, 65536, 70000};
    uint64_t at = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(sizes); i++) {
        build_log(dir, at, sizes[i], 0);
        at = sizes[i];
        /* each step is consistent with the one before (trusted) */
        int rc = verify(dir, trusted, true, true, &r);
        if (rc)
            TEST_FAIL_("size %llu: %s", (unsigned long long)at, r.problem);
        ASSERT_EQ(i ? sizes[i - 1] : 0, r.trusted_size);
        ASSERT_EQ(at, r.size);
        ASSERT_EQ(at, r.entries_checked);
        ASSERT_EQ(-1, r.first_bad_entry);
        ASSERT_EQ(0, r.problem[0]);
        ASSERT(r.tiles_checked >= 2 * ((at + 255) / 256));
    }
}

TEST(verify_trusted_first_use_then_later)
{
    char dir[512], trusted[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    snprintf(trusted, sizeof trusted, "%s/trust/a/b/trusted-checkpoint", test_tmpdir());
    struct ledger_verify_result r;
    build_log(dir, 0, 1000, 0);
    ASSERT_OK(verify(dir, trusted, true, false, &r));
    ASSERT_EQ(0, r.trusted_size); /* first use */
    struct strbuf t = {0}, c = {0};
    char cp[600];
    path_in(cp, sizeof cp, dir, "checkpoint");
    slurp(trusted, &t);
    slurp(cp, &c);
    ASSERT_EQ(c.len, t.len);
    ASSERT_MEM_EQ(c.buf, t.buf, c.len);
    struct stat st;
    ASSERT_OK(stat(trusted, &st));
    ASSERT_EQ(0644, st.st_mode & 0777);
    /* the same size again, then after more appends */
    ASSERT_OK(verify(dir, trusted, true, false, &r));
    ASSERT_EQ(1000, r.trusted_size);
    build_log(dir, 1000, 1300, 0);
    ASSERT_OK(verify(dir, trusted, false, false, &r));
    ASSERT_EQ(1000, r.trusted_size);
    ASSERT_EQ(1300, r.size);
    slurp(trusted, &t);
    ASSERT(strstr(t.buf, "\n1000\n") != NULL); /* not updated without update_trusted */
    ASSERT_OK(verify(dir, trusted, true, false, &r));
    slurp(trusted, &t);
    ASSERT(strstr(t.buf, "\n1300\n") != NULL);
    ASSERT_OK(verify(dir, trusted, true, false, &r));
    ASSERT_EQ(1300, r.trusted_size);
    sb_free(&t);
    sb_free(&c);
}

TEST(verify_fork_and_rollback_detected)
{
    char a[512], b[512], b2[512], b3[512], small[512], trusted[600];
    const char *tmp = test_tmpdir();
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    snprintf(b2, sizeof b2, "%s/b2", tmp);
    snprintf(b3, sizeof b3, "%s/b3", tmp);
    snprintf(small, sizeof small, "%s/small", tmp);
    snprintf(trusted, sizeof trusted, "%s/trusted", tmp);
    struct ledger_verify_result r;
    build_log(a, 0, 1000, 0);
    ASSERT_OK(verify(a, trusted, true, false, &r));
    struct strbuf before = {0}, after = {0};
    slurp(trusted, &before);

    build_log(b, 0, 1000, 1); /* another history, same size, same key */
    ASSERT_OK(verify(b, NULL, false, false, &r)); /* fine on its own */
    ASSERT_EQ(CUSTODY_EBADPROOF, verify(b, trusted, true, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "trusted");

    build_log(b2, 0, 1500, 1); /* larger */
    ASSERT_EQ(CUSTODY_EBADPROOF, verify(b2, trusted, true, false, &r));

    build_log(b3, 0, 999, 0); /* only the last trusted entry differs */
    build_log(b3, 999, 1600, 2);
    ASSERT_EQ(CUSTODY_EBADPROOF, verify(b3, trusted, true, false, &r));

    build_log(small, 0, 900, 0); /* a prefix of the trusted log: rolled back */
    ASSERT_EQ(CUSTODY_EBADPROOF, verify(small, trusted, true, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "rolled back");

    slurp(trusted, &after); /* never updated by a failed run */
    ASSERT_EQ(before.len, after.len);
    ASSERT_MEM_EQ(before.buf, after.buf, before.len);
    sb_free(&before);
    sb_free(&after);
}

TEST(verify_keys)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    build_log(dir, 0, 300, 0);
    struct tlog_key keys[2];
    key_from(2, TLOG_KEY_ED25519, ORIGIN, &keys[0]); /* not the log's key */
    struct ledger_verify_opts o = {.dir = dir, .keys = keys, .nkeys = 1};
    struct ledger_verify_result r;
    ASSERT_EQ(CUSTODY_EBADSIG, ledger_verify(&o, &r));
    ASSERT_STR_CONTAINS(r.problem, "checkpoint");
    witness_key(&keys[0]); /* a witness key cannot come first */
    ASSERT_EQ(CUSTODY_EINVAL, ledger_verify(&o, &r));
    log_key(&keys[0]);
    ASSERT_OK(ledger_verify(&o, &r));
    o.nkeys = 0;
    ASSERT_EQ(CUSTODY_EINVAL, ledger_verify(&o, &r));
    /* a trusted checkpoint signed by another key is refused */
    char trusted[600];
    snprintf(trusted, sizeof trusted, "%s/trusted", test_tmpdir());
    struct tlog_key other;
    key_from(3, TLOG_KEY_ED25519, ORIGIN, &other);
    const struct tlog_key *signers[1] = {&other};
    struct tlog_checkpoint cp = {.origin = ORIGIN, .size = 10};
    struct strbuf body = {0}, note = {0};
    ASSERT_OK(tlog_checkpoint_format(&cp, &body));
    ASSERT_OK(tlog_note_sign(body.buf, body.len, signers, 1, 0, &note));
    spit(trusted, note.buf, note.len);
    o.nkeys = 1;
    o.trusted_path = trusted;
    ASSERT_EQ(CUSTODY_EBADSIG, ledger_verify(&o, &r));
    ASSERT_STR_CONTAINS(r.problem, "trusted");
    sb_free(&body);
    sb_free(&note);
}

TEST(verify_strict_signatures)
{
    char dir[512], cp[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    path_in(cp, sizeof cp, dir, "checkpoint");
    build_log(dir, 0, 257, 0);
    struct ledger_verify_result r;
    struct tlog_key w, stranger;
    witness_key(&w);
    key_from(5, TLOG_KEY_COSIGNATURE, "stranger.example/w", &stranger);
    cosign(dir, &w); /* a known witness: fine either way */
    ASSERT_OK(verify(dir, NULL, false, true, &r));
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    struct strbuf good = {0}, sb = {0};
    slurp(cp, &good);
    cosign(dir, &stranger); /* an unknown signer: only strict refuses it */
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    ASSERT_EQ(CUSTODY_EBADSIG, verify(dir, NULL, false, true, &r));
    ASSERT_STR_CONTAINS(r.problem, "signature line 3");
    ASSERT_STR_CONTAINS(r.problem, "stranger.example/w");
    /* a known witness's line that does not verify: refused either way */
    sb_append(&sb, good.buf, good.len);
    char *dash = strstr(sb.buf, "witness.example/w1 ");
    ASSERT_NOT_NULL(dash);
    char *sig = dash + strlen("witness.example/w1 ") + 20;
    *sig = *sig == 'A' ? 'B' : 'A';
    spit(cp, sb.buf, sb.len);
    ASSERT_EQ(CUSTODY_EBADSIG, verify(dir, NULL, false, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "signature line 2");
    spit(cp, good.buf, good.len);
    ASSERT_OK(verify(dir, NULL, false, true, &r));
    /* the trusted checkpoint needs the log key only (witnesses change) */
    char trusted[600];
    snprintf(trusted, sizeof trusted, "%s/trusted", test_tmpdir());
    cosign(dir, &stranger);
    slurp(cp, &sb);
    spit(trusted, sb.buf, sb.len);
    spit(cp, good.buf, good.len);
    ASSERT_OK(verify(dir, trusted, false, true, &r));
    ASSERT_EQ(257, r.trusted_size);
    sb_free(&good);
    sb_free(&sb);
}

/* Offset of entry k in a bundle. */
static size_t entry_off(const struct strbuf *b, unsigned k)
{
    size_t off = 0, elen;
    const uint8_t *e;
    for (unsigned i = 0; i < k; i++)
        ASSERT_OK(tlog_bundle_next((const uint8_t *)b->buf, b->len, &off, &e, &elen));
    return off;
}

TEST(verify_names_first_bad_entry)
{
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    build_log(dir, 0, 1000, 0);
    struct ledger_verify_result r;
    struct strbuf orig = {0}, sb = {0};

    /* a byte of entry 300 (bundle 1, entry 44) */
    path_in(p, sizeof p, dir, "tile/entries/001");
    slurp(p, &orig);
    sb_append(&sb, orig.buf, orig.len);
    sb.buf[entry_off(&orig, 44) + 5] ^= 0x20;
    spit(p, sb.buf, sb.len);
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_EQ(300, r.first_bad_entry);
    ASSERT_EQ(300, r.entries_checked);
    ASSERT_STR_CONTAINS(r.problem, "entry 300 (tile/entries/001/44)");
    ASSERT_STR_CONTAINS(r.problem, "tile/0/001");
    spit(p, orig.buf, orig.len);

    /* entry 990 in the partial bundle: dropped (truncated before it) */
    path_in(p, sizeof p, dir, "tile/entries/003.p/232");
    slurp(p, &orig);
    ASSERT_OK(truncate(p, (off_t)entry_off(&orig, 990 - 768)));
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_EQ(990, r.first_bad_entry);
    ASSERT_STR_CONTAINS(r.problem, "entry 990 (tile/entries/003.p/232/222): missing");
    spit(p, orig.buf, orig.len);

    /* hash 7 of tile/0/002 */
    path_in(p, sizeof p, dir, "tile/0/002");
    slurp(p, &orig);
    sb_reset(&sb);
    sb_append(&sb, orig.buf, orig.len);
    sb.buf[7 * 32 + 3] ^= 1;
    spit(p, sb.buf, sb.len);
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_EQ(519, r.first_bad_entry);
    spit(p, orig.buf, orig.len);

    /* the level-1 tile: no entry is bad, the tile is */
    path_in(p, sizeof p, dir, "tile/1/000.p/3");
    slurp(p, &orig);
    sb_reset(&sb);
    sb_append(&sb, orig.buf, orig.len);
    sb.buf[40] ^= 1;
    spit(p, sb.buf, sb.len);
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_EQ(-1, r.first_bad_entry);
    ASSERT_STR_CONTAINS(r.problem, "tile/1/000.p/3: hash 1 (node over entries 256..511)");
    spit(p, orig.buf, orig.len);

    ASSERT_OK(verify(dir, NULL, false, false, &r));
    sb_free(&orig);
    sb_free(&sb);
}

TEST(verify_stale_and_ahead_partials)
{
    char dir[512], p[600], q[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    build_log(dir, 0, 1000, 0);
    struct ledger_verify_result r;
    struct strbuf b = {0}, h = {0};
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    ASSERT_EQ(0, r.stale_partials);
    ASSERT_EQ(0, r.files_ahead);
    /* an earlier checkpoint's partials: prefixes of the current ones */
    path_in(p, sizeof p, dir, "tile/entries/003.p/232");
    slurp(p, &b);
    path_in(q, sizeof q, dir, "tile/entries/003.p/100");
    spit(q, b.buf, entry_off(&b, 100));
    path_in(p, sizeof p, dir, "tile/0/003.p/232");
    slurp(p, &h);
    path_in(p, sizeof p, dir, "tile/0/003.p/100");
    spit(p, h.buf, 100 * 32);
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    ASSERT_EQ(2, r.stale_partials);
    /* ... but not when they differ */
    h.buf[99 * 32] ^= 1;
    spit(p, h.buf, 100 * 32);
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "tile/0/003.p/100: a stale partial tile");
    h.buf[99 * 32] ^= 1;
    spit(p, h.buf, 101 * 32); /* wrong size for its name */
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    unlink(p);
    spit(q, b.buf, entry_off(&b, 101)); /* 101 entries in a bundle named 100 */
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    unlink(q);
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    /* written ahead of the checkpoint: must extend it */
    path_in(p, sizeof p, dir, "tile/0/003.p/240");
    for (int i = 0; i < 8; i++)
        sb_append(&h, "01234567012345670123456701234567", 32);
    ASSERT_EQ(240 * 32, h.len);
    spit(p, h.buf, h.len);
    path_in(q, sizeof q, dir, "tile/0/004.p/1");
    test_write_file(dir, "tile/0/004.p/1", "whatever: beyond the checkpoint");
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    ASSERT_EQ(2, r.files_ahead);
    spit(p, h.buf, 200 * 32 + 5); /* torn while being written: fine */
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    h.buf[5] ^= 1; /* but never contradicting the checkpoint's data */
    spit(p, h.buf, h.len);
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "tile/0/003.p/240: written ahead of the checkpoint");
    unlink(p);
    unlink(q);
    /* names that are not tiles */
    test_write_file(dir, "tile/0/003.p/0232", "x");
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    ASSERT_STR_CONTAINS(r.problem, "tile/0/003.p/0232");
    path_in(p, sizeof p, dir, "tile/0/003.p/0232");
    unlink(p);
    path_in(p, sizeof p, dir, "tile/0/000");
    path_in(q, sizeof q, dir, "tile/0/link");
    ASSERT_OK(symlink(p, q));
    ASSERT_EQ(CUSTODY_ECORRUPT, verify(dir, NULL, false, false, &r));
    unlink(q);
    /* other files at the top level are not the verifier's business */
    test_write_file(dir, "checkpoint.tmp", "x");
    ASSERT_OK(verify(dir, NULL, false, false, &r));
    sb_free(&b);
    sb_free(&h);
}

/* A live log keeps the previous checkpoints' partial tiles for a while. */
TEST(verify_live_log_with_grace_partials)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    struct tlog_key k;
    log_key(&k);
    struct ledger_opts o = {.dir = dir, .origin = ORIGIN, .key = &k, .no_index = true,
                            .checkpoint_interval_ms = 3600000};
    struct strbuf err = {0};
    struct ledger *l = NULL;
    ASSERT_OK(ledger_open(&o, &l, &err));
    struct ledger_verify_result r;
    uint64_t n = 0, stale = 0;
    for (int round = 0; round < 6; round++) {
        for (uint64_t end = n + 100; n < end; n++) {
            char e[128];
            size_t len = entry_text(n, 0, e, sizeof e);
            ASSERT_OK(ledger_append_raw(l, e, len, NULL));
        }
        ASSERT_OK(ledger_checkpoint_now(l, n));
        if (verify(dir, NULL, false, true, &r) != 0)
            TEST_FAIL_("at %llu: %s", (unsigned long long)n, r.problem);
        ASSERT_EQ(n, r.size);
        stale += r.stale_partials;
    }
    ASSERT(stale > 0);
    ledger_close(l);
    sb_free(&err);
}

/* ---- the mutation campaign ---- */

struct mfile {
    char rel[TLOG_PATH_MAX];
    int kind; /* tile level, TLOG_LEVEL_ENTRIES, or -2 for the checkpoint */
    struct strbuf data;
};

static void list_tiles(const char *root, const char *rel, struct mfile *fs, size_t *n, size_t max)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    DIR *d = opendir(p);
    ASSERT_NOT_NULL(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[TLOG_PATH_MAX];
        ASSERT_OK(util_snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name));
        snprintf(p, sizeof p, "%s/%s", root, sub);
        struct stat st;
        ASSERT_OK(lstat(p, &st));
        if (S_ISDIR(st.st_mode)) {
            list_tiles(root, sub, fs, n, max);
            continue;
        }
        ASSERT(*n < max);
        struct mfile *f = &fs[(*n)++];
        uint64_t idx;
        unsigned w;
        ASSERT_OK(tlog_tile_path_parse(sub, strlen(sub), &f->kind, &idx, &w));
        util_strlcpy(f->rel, sub, sizeof f->rel);
        slurp(p, &f->data);
    }
    closedir(d);
}

static int mfile_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mfile *)a)->rel, ((const struct mfile *)b)->rel);
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static size_t rndn(size_t n)
{
    return (size_t)(rnd() % n);
}

enum { M_FLIP, M_INSERT, M_DELETE, M_TRUNCATE, M_UNLINK, M_SWAP_TILES, M_DUP_ENTRY,
       M_SWAP_ENTRIES, M_KINDS };
static const char *const mnames[M_KINDS] = {"flip",   "insert",     "delete",    "truncate",
                                            "unlink", "swap-tiles", "dup-entry", "swap-entries"};

/* Entries of a bundle: offsets of each length prefix, plus the end. */
static size_t bundle_offsets(const struct strbuf *b, size_t *offs, size_t max)
{
    size_t off = 0, elen, n = 0;
    const uint8_t *e;
    while (n < max) {
        offs[n++] = off;
        if (tlog_bundle_next((const uint8_t *)b->buf, b->len, &off, &e, &elen) != 0)
            break;
    }
    return n - 1; /* entries; offs[n-1] is the end */
}

/* Makes mutation m of file f into out (or picks *other for a swap). Returns
 * false when it does not apply or would leave the bytes as they are. */
static bool mutate(int m, struct mfile *fs, size_t nf, size_t f, size_t *other,
                   struct strbuf *out, char *desc, size_t dlen)
{
    const struct strbuf *d = &fs[f].data;
    const char *rel = fs[f].rel;
    sb_reset(out);
    size_t offs[TLOG_TILE_WIDTH + 1], ne = 0;
    if (m == M_DUP_ENTRY || m == M_SWAP_ENTRIES) {
        if (fs[f].kind != TLOG_LEVEL_ENTRIES)
            return false;
        ne = bundle_offsets(d, offs, UTIL_ARRAY_LEN(offs));
    }
    switch (m) {
    case M_FLIP: {
        if (!d->len)
            return false;
        size_t at = rndn(d->len);
        unsigned bit = (unsigned)rndn(8);
        sb_append(out, d->buf, d->len);
        out->buf[at] ^= (char)(1u << bit);
        snprintf(desc, dlen, "flip bit %u of byte %zu of %s", bit, at, rel);
        return true;
    }
    case M_INSERT: {
        size_t at = rndn(d->len + 1);
        char byte = (char)rndn(256);
        sb_append(out, d->buf, at);
        sb_append(out, &byte, 1);
        sb_append(out, d->buf + at, d->len - at);
        snprintf(desc, dlen, "insert 0x%02x at %zu of %s", (unsigned char)byte, at, rel);
        return true;
    }
    case M_DELETE: {
        if (!d->len)
            return false;
        size_t at = rndn(d->len);
        sb_append(out, d->buf, at);
        sb_append(out, d->buf + at + 1, d->len - at - 1);
        snprintf(desc, dlen, "delete byte %zu of %s", at, rel);
        return true;
    }
    case M_TRUNCATE: {
        if (!d->len)
            return false;
        size_t to = rndn(d->len);
        sb_append(out, d->buf, to);
        snprintf(desc, dlen, "truncate %s to %zu of %zu bytes", rel, to, d->len);
        return true;
    }
    case M_UNLINK:
        snprintf(desc, dlen, "delete %s", rel);
        return true;
    case M_SWAP_TILES: {
        size_t g = rndn(nf);
        if (g == f || fs[g].kind != fs[f].kind || fs[f].kind == -2 ||
            (fs[g].data.len == d->len && memcmp(fs[g].data.buf, d->buf, d->len) == 0))
            return false;
        *other = g;
        snprintf(desc, dlen, "swap %s and %s", rel, fs[g].rel);
        return true;
    }
    case M_DUP_ENTRY: {
        if (!ne)
            return false;
        size_t k = rndn(ne);
        sb_append(out, d->buf, offs[k + 1]);
        sb_append(out, d->buf + offs[k], offs[k + 1] - offs[k]);
        sb_append(out, d->buf + offs[k + 1], d->len - offs[k + 1]);
        snprintf(desc, dlen, "duplicate entry %zu of %s", k, rel);
        return true;
    }
    case M_SWAP_ENTRIES: {
        if (ne < 2)
            return false;
        size_t i = rndn(ne), j = rndn(ne);
        if (i == j)
            return false;
        if (i > j) {
            size_t t = i;
            i = j;
            j = t;
        }
        size_t li = offs[i + 1] - offs[i], lj = offs[j + 1] - offs[j];
        if (li == lj && memcmp(d->buf + offs[i], d->buf + offs[j], li) == 0)
            return false;
        sb_append(out, d->buf, offs[i]);
        sb_append(out, d->buf + offs[j], lj);
        sb_append(out, d->buf + offs[i + 1], offs[j] - offs[i + 1]);
        sb_append(out, d->buf + offs[i], li);
        sb_append(out, d->buf + offs[j + 1], d->len - offs[j + 1]);
        snprintf(desc, dlen, "swap entries %zu and %zu of %s", i, j, rel);
        return true;
    }
    }
    return false;
}

TEST(verify_mutation_campaign)
{
    const char *tmp = test_tmpdir();
    char dir[512], trusted[600], p[800];
    snprintf(dir, sizeof dir, "%s/ledger", tmp);
    snprintf(trusted, sizeof trusted, "%s/trusted", tmp);
    struct ledger_verify_result r;
    /* trusted at 700, then grown to 2100: 8 full tiles and partials at
     * levels entries, 0 and 1; one witness cosignature */
    build_log(dir, 0, 700, 0);
    ASSERT_OK(verify(dir, trusted, true, true, &r));
    build_log(dir, 700, 2100, 0);
    struct tlog_key w;
    witness_key(&w);
    cosign(dir, &w);
    ASSERT_OK(verify(dir, trusted, false, true, &r));
    ASSERT_EQ(700, r.trusted_size);
    ASSERT_EQ(0, r.stale_partials + r.files_ahead); /* a closed log is tidy */

    static struct mfile fs[256];
    size_t nf = 0;
    list_tiles(dir, "tile", fs, &nf, UTIL_ARRAY_LEN(fs));
    qsort(fs, nf, sizeof fs[0], mfile_cmp); /* the same draws whatever readdir's order */
    util_strlcpy(fs[nf].rel, "checkpoint", sizeof fs[nf].rel);
    fs[nf].kind = -2;
    path_in(p, sizeof p, dir, "checkpoint");
    slurp(p, &fs[nf++].data);
    ASSERT_EQ(2 * 9 + 1 + 1, nf);

    uint64_t seed = 0x5eedc0de2024ull;
    const char *env = getenv("CUSTODY_CAMPAIGN_SEED");
    if (env)
        ASSERT_OK(util_parse_u64(env, strlen(env), &seed));
    rng_state = seed ? seed : 1;
    unsigned counts[M_KINDS] = {0};
    struct strbuf out = {0};
    uint64_t t0 = util_monotonic_ns();
    for (int it = 0; it < 10000;) {
        size_t f = rndn(nf), g = 0;
        int m = (int)rndn(M_KINDS);
        char desc[400];
        if (!mutate(m, fs, nf, f, &g, &out, desc, sizeof desc))
            continue; /* redraw */
        char pf[800], pg[800];
        path_in(pf, sizeof pf, dir, fs[f].rel);
        if (m == M_UNLINK) {
            ASSERT_OK(unlink(pf));
        } else if (m == M_SWAP_TILES) {
            path_in(pg, sizeof pg, dir, fs[g].rel);
            spit(pf, fs[g].data.buf, fs[g].data.len);
            spit(pg, fs[f].data.buf, fs[f].data.len);
        } else {
            spit(pf, out.buf, out.len);
        }
        int rc = verify(dir, trusted, false, true, &r);
        if (rc == 0)
            TEST_FAIL_("seed %llu, iteration %d: undetected mutation: %s",
                       (unsigned long long)seed, it, desc);
        spit(pf, fs[f].data.buf, fs[f].data.len);
        if (m == M_SWAP_TILES)
            spit(pg, fs[g].data.buf, fs[g].data.len);
        counts[m]++;
        if (++it % 1000 == 0 && verify(dir, trusted, false, true, &r) != 0)
            TEST_FAIL_("seed %llu: not restored after iteration %d (%s): %s",
                       (unsigned long long)seed, it, desc, r.problem);
    }
    double secs = (double)(util_monotonic_ns() - t0) / 1e9;
    fprintf(stderr, "mutation campaign: seed %llu, %zu files, 10000 mutations in %.2f s:",
            (unsigned long long)seed, nf, secs);
    for (int m = 0; m < M_KINDS; m++)
        fprintf(stderr, " %s %u", mnames[m], counts[m]);
    fputc('\n', stderr);
    ASSERT_OK(verify(dir, trusted, false, true, &r));
    sb_free(&out);
    for (size_t i = 0; i < nf; i++)
        sb_free(&fs[i].data);
}
