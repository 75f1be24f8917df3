/*
 * ledger_bench.c — the audit ledger against SQLite, in one run (`make bench`).
 *
 *   1. Durable append throughput with group commit: 2 submitting threads
 *      push encoded events as fast as the log acknowledges them, with at
 *      most 16, 256, 4096 or 65536 waiting (closed loop), for a few seconds.
 *   2. Acknowledgement latency (submit -> durable callback) at 1k, 10k and
 *      100k events/s offered (open loop), p50 / p99.
 *   3. The peer: SQLite in WAL mode with synchronous=FULL inserting the same
 *      event bytes in transactions of the batch size custody's committer
 *      formed at each concurrency, and in batches of 1 (one commit per event).
 *   4. Inclusion-proof generation on a log of BENCH_PROOF_N events (random
 *      indices), and ledger_verify over the same log (entries/s, 1 core).
 *
 * Prints each figure and its ratio to the named peer. A benchmark, not a
 * test: always exits 0 when it could run. Environment: BENCH_DIR (default a
 * temp dir under /var/tmp, on a real disk), BENCH_SECONDS (default 3),
 * BENCH_PROOF_N (default 1000000).
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"

static const char *dir_base;
static double seconds = 3;

static uint64_t now_ns(void)
{
    return util_monotonic_ns();
}

static void make_key(struct tlog_key *k)
{
    uint8_t seed[32];
    util_random(seed, sizeof seed);
    tlog_key_from_seed("bench.custody/log", TLOG_KEY_ED25519, seed, k);
}

static char last_dir[1024];

static struct ledger *open_log(const char *name)
{
    static int seq;
    char *dir = last_dir;
    snprintf(dir, sizeof last_dir, "%s/%s-%d", dir_base, name, seq++);
    struct tlog_key k;
    make_key(&k);
    struct ledger_opts o = {.dir = dir,
                            .origin = "bench.custody/log",
                            .key = &k,
                            .no_index = true,
                            .checkpoint_interval_ms = 500};
    struct strbuf err = {0};
    struct ledger *l = NULL;
    if (ledger_open(&o, &l, &err) != 0) {
        fprintf(stderr, "ledger_open: %s\n", err.buf);
        exit(1);
    }
    return l;
}

/* Events are encoded once (a pool of POOL distinct ones) so that the
 * figures measure the log and the database, not JSON encoding (which runs
 * on the request threads in custodyd; its cost is measured in
 * test_event's encoder and shows up in the HTTP read-path figures). */
#define POOL 4096
static char pool[POOL][512];
static size_t pool_len[POOL];

static size_t encode_event(uint64_t i, char *buf, size_t len);

static size_t sample_event(uint64_t i, char *buf, size_t len)
{
    size_t k = i % POOL, n = pool_len[k] < len ? pool_len[k] : len;
    memcpy(buf, pool[k], n);
    return n;
}

/* A realistic encoded event (~330 bytes), varied per index. */
static size_t encode_event(uint64_t i, char *buf, size_t len)
{
    struct ledger_event ev = {
        .action = i % 3 ? "read" : "write",
        .decision = "allow",
        .principal_id = "uid:1000",
        .agent_id = "agent-7",
        .endpoint_id = "custody/bench/0123456789abcdef",
        .content_sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        .status = 200,
        .latency_us = 120 + i % 1000,
        .bytes_transferred = 4096};
    char res[96];
    snprintf(res, sizeof res, "demo:/data/file-%08" PRIu64 ".txt", i % 100000);
    ev.resource_id = res;
    struct strbuf sb = {0};
    ledger_event_encode(&ev, NULL, NULL, &sb);
    size_t n = sb.len < len ? sb.len : len;
    memcpy(buf, sb.buf, n);
    sb_free(&sb);
    return n;
}

/* ---- 1. throughput ---- */

static _Atomic uint64_t acked;
static _Atomic int64_t inflight;

static void count_cb(void *arg, int rc, uint64_t index)
{
    (void)arg, (void)index;
    if (rc == 0) atomic_fetch_add(&acked, 1);
    atomic_fetch_sub(&inflight, 1);
}

struct dispatcher {
    struct ledger *l;
    _Atomic bool stop;
};

static void *dispatch_main(void *arg)
{
    struct dispatcher *d = arg;
    struct pollfd pfd = {ledger_eventfd(d->l), POLLIN, 0};
    while (!atomic_load(&d->stop)) {
        if (poll(&pfd, 1, 50) > 0) ledger_dispatch(d->l);
    }
    ledger_dispatch(d->l);
    return NULL;
}

struct submitter {
    struct ledger *l;
    uint64_t base;
    uint64_t deadline;
    int64_t max_inflight;
};

static void *submit_main(void *arg)
{
    struct submitter *s = arg;
    char ev[1024];
    uint64_t i = s->base;
    while (now_ns() < s->deadline) {
        if (atomic_load(&inflight) >= s->max_inflight) {
            usleep(50); /* wait for acknowledgements without taking a core */
            continue;
        }
        size_t n = sample_event(i++, ev, sizeof ev);
        atomic_fetch_add(&inflight, 1);
        if (ledger_submit_raw(s->l, ev, n, count_cb, NULL) != 0) atomic_fetch_sub(&inflight, 1);
    }
    return NULL;
}

static double throughput(int64_t window, double *avg_batch)
{
    struct ledger *l = open_log("throughput");
    struct dispatcher d = {l, false};
    pthread_t dt, st[2];
    pthread_create(&dt, NULL, dispatch_main, &d);
    atomic_store(&acked, 0);
    uint64_t t0 = now_ns();
    struct submitter s[2];
    for (int i = 0; i < 2; i++) {
        s[i] = (struct submitter){l, (uint64_t)i << 40, t0 + (uint64_t)(seconds * 1e9), window};
        pthread_create(&st[i], NULL, submit_main, &s[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(st[i], NULL);
    while (atomic_load(&inflight) > 0)
        usleep(1000);
    uint64_t t1 = now_ns();
    atomic_store(&d.stop, true);
    pthread_join(dt, NULL);
    struct ledger_stats stt;
    ledger_stats(l, &stt);
    *avg_batch = stt.batches ? (double)stt.size / (double)stt.batches : 0;
    ledger_close(l);
    return (double)atomic_load(&acked) / ((double)(t1 - t0) / 1e9);
}

/* ---- 2. latency at an offered rate ---- */

struct lat {
    uint64_t *sent;
    uint64_t *done;
};

static struct lat lat;

static void lat_cb(void *arg, int rc, uint64_t index)
{
    (void)rc, (void)index;
    uintptr_t i = (uintptr_t)arg;
    lat.done[i] = now_ns();
    atomic_fetch_sub(&inflight, 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void latency(double rate, double *p50, double *p99)
{
    struct ledger *l = open_log("latency");
    struct dispatcher d = {l, false};
    pthread_t dt;
    pthread_create(&dt, NULL, dispatch_main, &d);
    size_t n = (size_t)(rate * seconds);
    lat.sent = calloc(n, sizeof *lat.sent);
    lat.done = calloc(n, sizeof *lat.done);
    char ev[1024];
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t due = t0 + (uint64_t)((double)i * 1e9 / rate);
        for (uint64_t t = now_ns(); t < due; t = now_ns())
            if (due - t > 60000)
                usleep((useconds_t)((due - t) / 1000 - 50)); /* spin only the last 50 us */
        size_t len = sample_event(i, ev, sizeof ev);
        lat.sent[i] = now_ns();
        atomic_fetch_add(&inflight, 1);
        ledger_submit_raw(l, ev, len, lat_cb, (void *)(uintptr_t)i);
    }
    while (atomic_load(&inflight) > 0)
        usleep(1000);
    atomic_store(&d.stop, true);
    pthread_join(dt, NULL);
    ledger_close(l);
    uint64_t *d_ns = calloc(n, sizeof *d_ns);
    for (size_t i = 0; i < n; i++)
        d_ns[i] = lat.done[i] - lat.sent[i];
    qsort(d_ns, n, sizeof *d_ns, cmp_u64);
    *p50 = (double)d_ns[n / 2] / 1e6;
    *p99 = (double)d_ns[n * 99 / 100] / 1e6;
    free(d_ns);
    free(lat.sent);
    free(lat.done);
}

/* ---- 3. SQLite ---- */

static double sqlite_rate(size_t batch, double secs)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/sqlite-%zu.db", dir_base, batch);
    unlink(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE events(idx INTEGER PRIMARY KEY, entry BLOB NOT NULL)",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO events(entry) VALUES (?)", -1, &ins, NULL);
    char ev[1024];
    uint64_t i = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (size_t k = 0; k < batch; k++) {
            size_t n = sample_event(i++, ev, sizeof ev);
            sqlite3_bind_blob(ins, 1, ev, (int)n, SQLITE_TRANSIENT);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double rate = (double)i / ((double)(now_ns() - t0) / 1e9);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    unlink(path);
    return rate;
}

/* ---- 4. proofs and verify ---- */

static void proofs_and_verify(uint64_t n)
{
    struct ledger *l = open_log("proofs");
    struct dispatcher d = {l, false};
    pthread_t dt;
    pthread_create(&dt, NULL, dispatch_main, &d);
    char ev[1024];
    for (uint64_t i = 0; i < n; i++) {
        while (atomic_load(&inflight) > 65536)
            usleep(50);
        size_t len = sample_event(i, ev, sizeof ev);
        atomic_fetch_add(&inflight, 1);
        ledger_submit_raw(l, ev, len, count_cb, NULL);
    }
    while (atomic_load(&inflight) > 0)
        usleep(1000);
    ledger_checkpoint_now(l, n);
    uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
    size_t pn;
    /* warm the tile cache once, then measure */
    uint64_t seed = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        ledger_prove_inclusion(l, seed % n, n, proof, &pn);
    }
    uint64_t t0 = now_ns(), count = 0;
    while (now_ns() - t0 < (uint64_t)(seconds * 1e9)) {
        for (int i = 0; i < 1000; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            ledger_prove_inclusion(l, seed % n, n, proof, &pn);
        }
        count += 1000;
    }
    double prate = (double)count / ((double)(now_ns() - t0) / 1e9);
    atomic_store(&d.stop, true);
    pthread_join(dt, NULL);
    struct tlog_key key = *ledger_key(l);
    ledger_close(l);
    printf("  inclusion proofs (random, %" PRIu64 " events)   %10.0f /s   (goal >= 300000: %s)\n",
           n, prate, prate >= 300000 ? "PASS" : "FAIL");

    char dir[1024];
    util_strlcpy(dir, last_dir, sizeof dir);
    struct ledger_verify_opts vo = {.dir = dir, .keys = &key, .nkeys = 1};
    struct ledger_verify_result vr;
    t0 = now_ns();
    int rc = ledger_verify(&vo, &vr);
    double vrate = (double)vr.entries_checked / ((double)(now_ns() - t0) / 1e9);
    printf(
        "  audit verify (1 core)                      %10.0f entries/s (goal >= 1000000: %s)%s\n",
        vrate, vrate >= 1e6 ? "PASS" : "FAIL", rc ? "  VERIFY FAILED:" : "");
    if (rc) printf("    %s\n", vr.problem);
}

int main(void)
{
    const char *s = getenv("BENCH_SECONDS");
    if (s) seconds = strtod(s, NULL);
    char tmpl[] = "/var/tmp/custody-ledger-bench-XXXXXX";
    dir_base = getenv("BENCH_DIR");
    if (!dir_base) dir_base = mkdtemp(tmpl);
    uint64_t proof_n = 1000000;
    if (getenv("BENCH_PROOF_N")) proof_n = strtoull(getenv("BENCH_PROOF_N"), NULL, 10);
    log_set_level(LOG_WARN);
    for (uint64_t i = 0; i < POOL; i++)
        pool_len[i] = encode_event(i, pool[i], sizeof pool[i]);
    printf("ledger bench in %s (%.0f s per figure, events of %zu bytes)\n", dir_base, seconds,
           pool_len[0]);

    /* closed loop: WINDOW requests waiting at once (a server with that
     * many concurrent clients); SQLite commits the batches custody formed */
    printf("  durable appends, group commit; sqlite WAL synchronous=FULL in the same batch sizes\n"
           "    concurrent   custody events/s   avg batch   sqlite events/s   custody/sqlite\n");
    int64_t windows[] = {16, 256, 4096, 65536};
    double rate = 0, sq = 0;
    for (int i = 0; i < 4; i++) {
        double avg_batch;
        rate = throughput(windows[i], &avg_batch);
        size_t b = avg_batch < 1 ? 1 : (size_t)(avg_batch + 0.5);
        sq = sqlite_rate(b, seconds);
        printf("    %10" PRId64 "   %16.0f   %9zu   %15.0f   %13.2fx\n", windows[i], rate, b, sq,
               rate / sq);
    }
    double sq1 = sqlite_rate(1, seconds);
    printf("  durable appends at saturation            %10.0f events/s (goal >= 200000: %s)\n", rate,
           rate >= 200000 ? "PASS" : "FAIL");
    printf("  custody/sqlite at saturation (same batch)     %6.2fx (goal >= 3x: %s)\n", rate / sq,
           rate / sq >= 3 ? "PASS" : "FAIL");
    printf("  sqlite WAL synchronous=FULL, batch 1       %10.0f events/s -> custody %.1fx\n", sq1,
           rate / sq1);
    double rates[] = {1000, 10000, 100000};
    for (int i = 0; i < 3; i++) {
        double p50, p99;
        latency(rates[i], &p50, &p99);
        printf("  ack latency at %6.0f/s offered             p50 %6.3f ms  p99 %6.3f ms%s\n",
               rates[i], p50, p99,
               rates[i] == 10000
                   ? (p99 <= 5 ? "  (goal p99 <= 5 ms: PASS)" : "  (goal p99 <= 5 ms: FAIL)")
                   : "");
    }
    proofs_and_verify(proof_n);
    if (!getenv("BENCH_DIR")) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_base);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir_base);
    }
    return 0;
}
