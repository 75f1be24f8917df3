/*
 * test_log.c — the audit log core (log.c, journal.c, reader.c, merkle.c,
 * tiles.c): appends, checkpoints, proofs checked by the RFC 9162
 * verifiers, recovery after a crash (a child killed mid-stream), torn
 * journal tails, and refusal of a tampered checkpoint.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ledger/internal.h"
#include "test.h"

static void test_key(struct tlog_key *k)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    ASSERT_EQ(0, tlog_key_from_seed("test.custody/log", TLOG_KEY_ED25519, seed, k));
}

static struct ledger *open_log(const char *dir, unsigned interval_ms)
{
    struct tlog_key k;
    test_key(&k);
    struct ledger_opts o = {.dir = dir, .origin = "test.custody/log", .key = &k,
                            .checkpoint_interval_ms = interval_ms, .no_index = true};
    struct strbuf err = {0};
    struct ledger *l = NULL;
    int rc = ledger_open(&o, &l, &err);
    if (rc)
        fprintf(stderr, "ledger_open: %s\n", err.buf ? err.buf : "?");
    ASSERT_EQ(0, rc);
    sb_free(&err);
    return l;
}

static void entry_text(uint64_t i, char *buf, size_t len)
{
    snprintf(buf, len, "{\"entry\":%llu,\"pad\":\"%0*d\"}", (unsigned long long)i,
             (int)(i % 50), 0);
}

/* Root over entries 0..n computed independently (in memory). */
static void expected_root(uint64_t n, uint8_t out[TLOG_HASH_LEN])
{
    if (n == 0) {
        tlog_empty_root(out);
        return;
    }
    uint8_t(*h)[TLOG_HASH_LEN] = calloc(n, TLOG_HASH_LEN);
    for (uint64_t i = 0; i < n; i++) {
        char e[128];
        entry_text(i, e, sizeof e);
        tlog_leaf_hash(e, strlen(e), h[i]);
    }
    tlog_hash_range((const uint8_t(*)[TLOG_HASH_LEN])h, n, out);
    free(h);
}

static void append_range(struct ledger *l, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        char e[128];
        uint64_t idx = UINT64_MAX;
        entry_text(i, e, sizeof e);
        ASSERT_EQ(0, ledger_append_raw(l, e, strlen(e), &idx));
        ASSERT_EQ(i, idx);
    }
}

static void check_log(struct ledger *l, uint64_t n)
{
    ASSERT_EQ(0, ledger_checkpoint_now(l, n));
    struct strbuf note = {0};
    struct tlog_checkpoint cp;
    ASSERT_EQ(0, ledger_checkpoint(l, &note, &cp));
    ASSERT_EQ(n, cp.size);
    uint8_t want[TLOG_HASH_LEN];
    expected_root(n, want);
    ASSERT_EQ(0, memcmp(want, cp.root, TLOG_HASH_LEN));
    /* the root recomputed from the tiles agrees */
    uint8_t fromtiles[TLOG_HASH_LEN];
    ASSERT_EQ(0, ledger_tree_root(l, n, fromtiles));
    ASSERT_EQ(0, memcmp(want, fromtiles, TLOG_HASH_LEN));
    /* inclusion proofs for a spread of indices */
    for (uint64_t i = 0; i < n; i += 1 + n / 40) {
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], leaf[TLOG_HASH_LEN];
        size_t pn;
        char e[128];
        entry_text(i, e, sizeof e);
        tlog_leaf_hash(e, strlen(e), leaf);
        ASSERT_EQ(0, ledger_prove_inclusion(l, i, 0, proof, &pn));
        ASSERT_EQ(0, tlog_check_inclusion((const uint8_t(*)[TLOG_HASH_LEN])proof, pn, n, i, leaf,
                                          cp.root));
        struct strbuf got = {0};
        ASSERT_EQ(0, ledger_entry(l, i, &got));
        ASSERT_EQ(strlen(e), got.len);
        ASSERT_EQ(0, memcmp(e, got.buf, got.len));
        sb_free(&got);
        /* a wrong leaf fails */
        leaf[0] ^= 1;
        ASSERT_EQ(CUSTODY_EBADPROOF,
                  tlog_check_inclusion((const uint8_t(*)[TLOG_HASH_LEN])proof, pn, n, i, leaf,
                                       cp.root));
    }
    /* consistency proofs from a spread of older sizes */
    for (uint64_t m = 1; m <= n; m += 1 + n / 17) {
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], old[TLOG_HASH_LEN];
        size_t pn;
        expected_root(m, old);
        ASSERT_EQ(0, ledger_prove_consistency(l, m, 0, proof, &pn));
        ASSERT_EQ(0, tlog_check_consistency((const uint8_t(*)[TLOG_HASH_LEN])proof, pn, n,
                                            cp.root, m, old));
        old[5] ^= 0x40;
        ASSERT_EQ(CUSTODY_EBADPROOF,
                  tlog_check_consistency((const uint8_t(*)[TLOG_HASH_LEN])proof, pn, n, cp.root,
                                         m, old));
    }
    sb_free(&note);
}

TEST(ledger_append_checkpoint_proofs)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    struct ledger *l = open_log(dir, 50);
    uint64_t sizes[] = {1, 2, 3, 255, 256, 257, 511, 512, 700, 65536 + 300};
    uint64_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i] > 2000 && at < 2000) {
            /* the big one goes through the async path, many per batch */
            for (uint64_t k = at; k < sizes[i]; k++) {
                char e[128];
                entry_text(k, e, sizeof e);
                ASSERT_EQ(0, ledger_submit_raw(l, e, strlen(e), NULL, NULL));
            }
            while (1) {
                struct ledger_stats st;
                ledger_stats(l, &st);
                if (st.size == sizes[i])
                    break;
                usleep(1000);
                ledger_dispatch(l);
            }
        } else {
            append_range(l, at, sizes[i]);
        }
        at = sizes[i];
        check_log(l, at);
    }
    struct ledger_stats st;
    ledger_stats(l, &st);
    ASSERT(st.batches < at); /* group commit happened */
    ledger_close(l);
    /* reopened: same tree, continues */
    l = open_log(dir, 50);
    check_log(l, at);
    append_range(l, at, at + 10);
    check_log(l, at + 10);
    ledger_close(l);
}

/* Over UNSYNCED_MAX tiles between two checkpoints: on a local filesystem
 * the tiler closes them unsynced and makes them durable with one syncfs. */
TEST(ledger_many_tiles_one_sync)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    struct ledger *l = open_log(dir, 1000000);
    uint64_t n = 256 * 300 + 17;
    for (uint64_t k = 0; k < n; k++) {
        char e[128];
        entry_text(k, e, sizeof e);
        ASSERT_EQ(0, ledger_submit_raw(l, e, strlen(e), NULL, NULL));
    }
    struct ledger_stats st;
    for (ledger_stats(l, &st); st.size < n; ledger_stats(l, &st)) {
        usleep(1000);
        ledger_dispatch(l);
    }
    check_log(l, n);
    ledger_stats(l, &st);
    struct statfs fs;
    ASSERT_EQ(0, statfs(dir, &fs));
    if (fs.f_type == 0xEF53 || fs.f_type == 0x01021994) /* ext4, tmpfs */
        ASSERT(st.bulk_syncs >= 1);
    else
        ASSERT_EQ(0, st.bulk_syncs); /* elsewhere every tile is fsynced */
    ledger_close(l);
    l = open_log(dir, 50);
    check_log(l, n);
    ledger_close(l);
}

TEST(ledger_recovers_after_kill)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    int pfd[2];
    ASSERT_EQ(0, pipe(pfd));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        /* checkpoints rarely: most entries live only in the journal */
        struct ledger *l = open_log(dir, 1000000);
        for (uint64_t i = 0; i < 3000; i++) {
            char e[128];
            uint64_t idx;
            entry_text(i, e, sizeof e);
            if (ledger_append_raw(l, e, strlen(e), &idx) != 0)
                _exit(3);
            /* report each acknowledged index */
            if (write(pfd[1], &idx, sizeof idx) != sizeof idx)
                _exit(4);
        }
        pause();
        _exit(0);
    }
    close(pfd[1]);
    uint64_t acked = 0, idx;
    while (acked < 1500 && read(pfd[0], &idx, sizeof idx) == sizeof idx)
        acked = idx + 1;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(pfd[0], &idx, sizeof idx) == sizeof idx)
        acked = idx + 1;
    close(pfd[0]);
    struct ledger *l = open_log(dir, 50);
    struct ledger_stats st;
    ledger_stats(l, &st);
    ASSERT(st.size >= acked);
    check_log(l, st.size);
    ledger_close(l);
}

TEST(ledger_torn_journal_tail_is_dropped)
{
    char dir[512], jpath[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct ledger *l = open_log(dir, 1000000);
        for (uint64_t i = 0; i < 100; i++) {
            char e[128];
            entry_text(i, e, sizeof e);
            if (ledger_append_raw(l, e, strlen(e), NULL) != 0)
                _exit(3);
        }
        _exit(0); /* no close: a crash */
    }
    int status;
    waitpid(pid, &status, 0);
    ASSERT_EQ(0, WEXITSTATUS(status));
    /* tear the last record: zero its last 10 bytes (the file is zero-filled
     * past the records, so a torn write looks exactly like this) */
    snprintf(jpath, sizeof jpath, "%s/journal.0", dir);
    int jfd = open(jpath, O_RDWR);
    ASSERT(jfd >= 0);
    struct journal_rec *recs;
    size_t nrec;
    ASSERT_EQ(0, journal_scan(jfd, &recs, &nrec));
    ASSERT(nrec >= 2);
    uint64_t end = 0;
    for (size_t i = 0; i < nrec; i++)
        end += JOURNAL_HDR + recs[i].len + JOURNAL_TRAILER;
    ASSERT_EQ(99, recs[nrec - 1].first);
    journal_recs_free(recs, nrec);
    static const char zero[10];
    ASSERT_EQ(10, pwrite(jfd, zero, 10, (off_t)(end - 10)));
    close(jfd);
    struct stat st;
    (void)st;
    struct ledger *l = open_log(dir, 50);
    struct ledger_stats ls;
    ledger_stats(l, &ls);
    ASSERT_EQ(99, ls.size); /* the torn 100th entry (its own batch) is gone */
    check_log(l, 99);
    append_range(l, 99, 120);
    check_log(l, 120);
    ledger_close(l);
}

TEST(ledger_refuses_tampered_checkpoint)
{
    char dir[512], cpath[600];
    snprintf(dir, sizeof dir, "%s/ledger", test_tmpdir());
    struct ledger *l = open_log(dir, 50);
    append_range(l, 0, 10);
    ledger_close(l);
    snprintf(cpath, sizeof cpath, "%s/checkpoint", dir);
    struct strbuf sb = {0};
    int fd = open(cpath, O_RDWR);
    ASSERT(fd >= 0);
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    ASSERT(n > 0);
    /* change the size line "10" to "11" */
    char *p = strstr(buf, "\n10\n");
    ASSERT(p != NULL);
    p[2] = '1';
    ASSERT_EQ(n, pwrite(fd, buf, (size_t)n, 0));
    close(fd);
    struct tlog_key k;
    test_key(&k);
    struct ledger_opts o = {.dir = dir, .origin = "test.custody/log", .key = &k, .no_index = true};
    struct ledger *l2 = NULL;
    ASSERT_EQ(CUSTODY_ECORRUPT, ledger_open(&o, &l2, &sb));
    ASSERT(strstr(sb.buf, "checkpoint") != NULL);
    sb_free(&sb);
}
