/*
 * test_witness.c — the witness side of c2sp.org/tlog-witness
 * (witness_add_checkpoint): first checkpoint, growth with a consistency
 * proof, each refusal (400, 403, 404, 409 with the size body, 422, a fork
 * at the same size), state kept across calls (as after a restart), and the
 * cosignature checked with the witness's public key.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "test.h"

#define ORIGIN "test.custody/witnessed-log"

static void log_key(struct tlog_key *k, const char *origin, uint8_t salt)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i * 5 + 3 + salt);
    ASSERT_OK(tlog_key_from_seed(origin, TLOG_KEY_ED25519, seed, k));
}

static void witness_key(struct tlog_key *k)
{
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(200 - i);
    ASSERT_OK(tlog_key_from_seed("test.custody/witness", TLOG_KEY_COSIGNATURE, seed, k));
}

static struct ledger *open_log(const char *dir, const char *origin, uint8_t salt)
{
    struct tlog_key k;
    log_key(&k, origin, salt);
    struct ledger_opts o = {.dir = dir, .origin = origin, .key = &k,
                            .checkpoint_interval_ms = 60000, .no_index = true};
    struct strbuf err = STRBUF_INIT;
    struct ledger *l = NULL;
    int rc = ledger_open(&o, &l, &err);
    if (rc)
        fprintf(stderr, "ledger_open: %s\n", err.buf ? err.buf : "?");
    ASSERT_OK(rc);
    sb_free(&err);
    return l;
}

/* Appends n entries tagged with tag, publishes a checkpoint, returns it. */
static void grow(struct ledger *l, unsigned n, const char *tag, struct strbuf *note,
                 struct tlog_checkpoint *cp)
{
    for (unsigned i = 0; i < n; i++) {
        char e[64];
        snprintf(e, sizeof e, "{\"%s\":%u}", tag, i);
        uint64_t idx;
        ASSERT_OK(ledger_append_raw(l, e, strlen(e), &idx));
    }
    struct ledger_stats st;
    ledger_stats(l, &st);
    ASSERT_OK(ledger_checkpoint_now(l, st.size));
    sb_reset(note);
    ASSERT_OK(ledger_checkpoint(l, note, cp));
    ASSERT_EQ(st.size, cp->size);
}

static void trust(const char *state, struct ledger *l)
{
    struct strbuf vk = STRBUF_INIT;
    ASSERT_OK(ledger_vkey(l, &vk));
    sb_puts(&vk, "\n");
    char rel[64];
    snprintf(rel, sizeof rel, WITNESS_DIR "/logs");
    char *path = util_path_join(state, rel);
    char *old = NULL;
    size_t len = 0;
    struct strbuf all = STRBUF_INIT;
    sb_puts(&all, "# trusted logs\n");
    if (util_read_file(path, 1 << 20, &old, &len) == 0)
        sb_append(&all, old, len);
    sb_append(&all, vk.buf, vk.len);
    test_write_file(state, rel, all.buf);
    free(old);
    free(path);
    sb_free(&all);
    sb_free(&vk);
}

/* The add-checkpoint body: old size, proof from `from` (0 = none), note. */
static void body(struct ledger *l, uint64_t old, uint64_t from, uint64_t size,
                 const struct strbuf *note, struct strbuf *out)
{
    struct tlog_witness_req req = {.old_size = old, .note = note->buf, .note_len = note->len};
    if (from > 0 && from < size) {
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
        size_t n = 0;
        ASSERT_OK(ledger_prove_consistency(l, from, size, proof, &n));
        memcpy(req.proof, proof, n * TLOG_HASH_LEN);
        req.nproof = n;
    }
    sb_reset(out);
    ASSERT_OK(tlog_witness_req_format(&req, out));
}

struct answer {
    int rc, status;
    const char *ctype;
    struct strbuf out;
};

static void call(const char *state, const struct strbuf *b, struct answer *a)
{
    struct tlog_key wk;
    witness_key(&wk);
    sb_reset(&a->out);
    a->status = 0;
    a->ctype = NULL;
    a->rc = witness_add_checkpoint(state, &wk, b->buf, b->len, &a->status, &a->out, &a->ctype);
}

/* The answer is one cosignature line by the witness over note's text. */
static void check_cosignature(const struct answer *a, const struct strbuf *note)
{
    ASSERT_EQ(200, a->status);
    ASSERT_STR_EQ("text/plain; charset=utf-8", a->ctype);
    struct tlog_key wk, pub;
    witness_key(&wk);
    ASSERT_OK(tlog_key_from_pub(wk.name, TLOG_KEY_COSIGNATURE, wk.pub, &pub));
    struct tlog_note n;
    ASSERT_OK(tlog_note_parse(note->buf, note->len, &n));
    struct tlog_sig sigs[4];
    size_t ns = 0;
    ASSERT_OK(tlog_sig_lines_parse(a->out.buf, a->out.len, sigs, 4, &ns));
    ASSERT_EQ(1, ns);
    uint64_t t = 0;
    ASSERT_OK(tlog_sig_verify(n.text, n.text_len, &sigs[0], &pub, &t));
    uint64_t now = (uint64_t)time(NULL);
    ASSERT(t <= now && t + 60 >= now);
    /* appended to the note it makes a note that verifies with both keys */
    struct strbuf full = STRBUF_INIT;
    sb_append(&full, note->buf, note->len);
    sb_append(&full, a->out.buf, a->out.len);
    ASSERT_OK(tlog_note_parse(full.buf, full.len, &n));
    ASSERT_EQ(2, n.nsigs);
    ASSERT_OK(tlog_note_verify(&n, &pub, 1));
    sb_free(&full);
}

static int count_logs(void *arg, const struct witness_log_info *info)
{
    uint64_t *sizes = arg;
    if (info->valid && info->seen && strcmp(info->origin, ORIGIN) == 0)
        sizes[0] = info->size;
    sizes[1]++;
    return 0;
}

TEST(witness_accepts_and_follows_growth)
{
    const char *tmp = test_tmpdir();
    char logdir[512], state[512];
    snprintf(logdir, sizeof logdir, "%s/log", tmp);
    snprintf(state, sizeof state, "%s/state", tmp);
    ASSERT_OK(util_mkdir_p(state, 0700));
    struct ledger *l = open_log(logdir, ORIGIN, 0);
    trust(state, l);
    ASSERT(witness_enabled(state));

    struct strbuf note = STRBUF_INIT, b = STRBUF_INIT;
    struct tlog_checkpoint cp;
    struct answer a = {0};
    grow(l, 5, "a", &note, &cp);
    body(l, 0, 0, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    check_cosignature(&a, &note);

    /* the state file holds the checkpoint */
    char path[600];
    ASSERT_OK(witness_state_path(state, ORIGIN, path, sizeof path));
    char *stored = NULL;
    size_t slen = 0;
    ASSERT_OK(util_read_file(path, TLOG_NOTE_MAX, &stored, &slen));
    ASSERT_EQ(note.len, slen);
    ASSERT_MEM_EQ(note.buf, stored, slen);
    free(stored);

    /* grown, with a consistency proof from 5 (through several sizes) */
    uint64_t prev = cp.size;
    unsigned steps[] = {7, 1, 300, 2};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(steps); i++) {
        grow(l, steps[i], "b", &note, &cp);
        body(l, prev, prev, cp.size, &note, &b);
        call(state, &b, &a);
        ASSERT_OK(a.rc);
        check_cosignature(&a, &note);
        prev = cp.size;
    }

    /* the same checkpoint again: cosigned again (empty proof, same root) */
    body(l, prev, 0, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    check_cosignature(&a, &note);

    uint64_t sizes[2] = {0, 0};
    ASSERT_OK(witness_list_logs(state, count_logs, sizes));
    ASSERT_EQ(prev, sizes[0]);
    ASSERT_EQ(1, sizes[1]);

    ledger_close(l);
    sb_free(&note);
    sb_free(&b);
    sb_free(&a.out);
}

TEST(witness_refusals)
{
    const char *tmp = test_tmpdir();
    char logdir[512], forkdir[512], otherdir[512], state[512];
    snprintf(logdir, sizeof logdir, "%s/log", tmp);
    snprintf(forkdir, sizeof forkdir, "%s/fork", tmp);
    snprintf(otherdir, sizeof otherdir, "%s/other", tmp);
    snprintf(state, sizeof state, "%s/state", tmp);
    ASSERT_OK(util_mkdir_p(state, 0700));
    struct ledger *l = open_log(logdir, ORIGIN, 0);
    struct ledger *fork = open_log(forkdir, ORIGIN, 0);   /* same key, other entries */
    struct ledger *other = open_log(otherdir, "test.custody/unknown", 1);
    struct ledger *impostor = NULL;
    trust(state, l);

    struct strbuf note = STRBUF_INIT, b = STRBUF_INIT, fnote = STRBUF_INIT;
    struct tlog_checkpoint cp, fcp;
    struct answer a = {0};

    /* 400: syntax, and old > size */
    sb_puts(&b, "old 0\n\nnot a checkpoint\n");
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    ASSERT_EQ(400, a.status);
    grow(l, 5, "a", &note, &cp);
    body(l, 0, 0, cp.size, &note, &b);
    b.buf[4] = '6'; /* old 6 > size 5 */
    call(state, &b, &a);
    ASSERT_EQ(400, a.status);

    /* 422: old 0 with a non-empty proof */
    body(l, 0, 0, cp.size, &note, &b);
    {
        struct tlog_witness_req req = {.old_size = 0, .nproof = 1, .note = note.buf,
                                       .note_len = note.len};
        memset(req.proof[0], 7, TLOG_HASH_LEN);
        sb_reset(&b);
        ASSERT_OK(tlog_witness_req_format(&req, &b));
    }
    call(state, &b, &a);
    ASSERT_EQ(CUSTODY_EBADPROOF, a.rc);
    ASSERT_EQ(422, a.status);

    /* 404: a log nobody trusts */
    struct strbuf onote = STRBUF_INIT;
    struct tlog_checkpoint ocp;
    grow(other, 3, "o", &onote, &ocp);
    body(other, 0, 0, ocp.size, &onote, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    ASSERT_EQ(404, a.status);

    /* 403: the trusted origin signed by another key, and a tampered root */
    {
        char idir[512];
        snprintf(idir, sizeof idir, "%s/impostor", tmp);
        impostor = open_log(idir, ORIGIN, 9);
        struct strbuf inote = STRBUF_INIT;
        struct tlog_checkpoint icp;
        grow(impostor, 5, "i", &inote, &icp);
        body(impostor, 0, 0, icp.size, &inote, &b);
        call(state, &b, &a);
        ASSERT_OK(a.rc);
        ASSERT_EQ(403, a.status);
        sb_free(&inote);

        struct strbuf t = STRBUF_INIT;
        sb_append(&t, note.buf, note.len);
        char *root = strchr(strchr(t.buf, '\n') + 1, '\n') + 1;
        root[0] = root[0] == 'A' ? 'B' : 'A';
        body(l, 0, 0, cp.size, &t, &b);
        call(state, &b, &a);
        ASSERT_EQ(403, a.status);
        sb_free(&t);
    }

    /* accepted: size 5 */
    body(l, 0, 0, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    check_cosignature(&a, &note);

    /* 409: a stale old size, with the size the witness knows */
    body(l, 0, 0, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    ASSERT_EQ(409, a.status);
    ASSERT_STR_EQ("text/x.tlog.size", a.ctype);
    ASSERT_STR_EQ("5\n", a.out.buf);

    /* 409: the same size with another root (a fork), reported as evidence */
    grow(fork, 5, "f", &fnote, &fcp);
    ASSERT_EQ(5, fcp.size);
    body(fork, 5, 0, fcp.size, &fnote, &b);
    call(state, &b, &a);
    ASSERT_EQ(CUSTODY_EBADPROOF, a.rc);
    ASSERT_EQ(409, a.status);
    ASSERT_STR_EQ("5\n", a.out.buf);

    /* 422: a fork that grew, with its own (valid for it) proof */
    grow(fork, 4, "f", &fnote, &fcp);
    body(fork, 5, 5, fcp.size, &fnote, &b);
    call(state, &b, &a);
    ASSERT_EQ(CUSTODY_EBADPROOF, a.rc);
    ASSERT_EQ(422, a.status);

    /* 422: a corrupted proof for the real log; an empty one */
    grow(l, 9, "a", &note, &cp);
    body(l, 5, 5, cp.size, &note, &b);
    char *first = strchr(b.buf, '\n') + 1;
    first[3] = first[3] == 'x' ? 'y' : 'x';
    call(state, &b, &a);
    ASSERT_EQ(422, a.status);
    body(l, 5, 0, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_EQ(422, a.status);

    /* nothing above moved the state: the real growth is still accepted,
     * and a fresh call (as after a restart) sees the stored size */
    body(l, 5, 5, cp.size, &note, &b);
    call(state, &b, &a);
    ASSERT_OK(a.rc);
    check_cosignature(&a, &note);
    body(l, 5, 0, 5, &note, &b);
    call(state, &b, &a);
    ASSERT_EQ(409, a.status);
    char want[32];
    snprintf(want, sizeof want, "%llu\n", (unsigned long long)cp.size);
    ASSERT_STR_EQ(want, a.out.buf);

    /* oversized body: 400 without reading it */
    struct strbuf big = STRBUF_INIT;
    sb_puts(&big, "old 0\n");
    while (big.len <= WITNESS_BODY_MAX)
        sb_puts(&big, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    call(state, &big, &a);
    ASSERT_EQ(400, a.status);
    sb_free(&big);

    ledger_close(l);
    ledger_close(fork);
    ledger_close(other);
    ledger_close(impostor);
    sb_free(&note);
    sb_free(&fnote);
    sb_free(&onote);
    sb_free(&b);
    sb_free(&a.out);
}

TEST(witness_no_logs_and_config_lines)
{
    const char *tmp = test_tmpdir();
    ASSERT(!witness_enabled(tmp));
    test_write_file(tmp, WITNESS_DIR "/logs", "# nothing yet\n\n");
    ASSERT(!witness_enabled(tmp));
    struct strbuf b = STRBUF_INIT;
    sb_puts(&b, "old 0\n\nx\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
                "\xe2\x80\x94 x AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    struct answer a = {0};
    call(tmp, &b, &a);
    ASSERT_OK(a.rc);
    ASSERT_EQ(404, a.status);
    sb_free(&b);
    sb_free(&a.out);

    struct tlog_key wk;
    witness_key(&wk);
    struct strbuf line = STRBUF_INIT;
    ASSERT_OK(tlog_vkey_format(&wk, &line));
    sb_puts(&line, " http://localhost/witness/ unix:/run/x.sock ca:/etc/ca.pem");
    struct tlog_key k;
    char url[256], up[128], ca[128];
    ASSERT_OK(witness_config_line(line.buf, line.len, &k, url, sizeof url, up, sizeof up, ca,
                                  sizeof ca));
    ASSERT_STR_EQ("http://localhost/witness/add-checkpoint", url);
    ASSERT_STR_EQ("/run/x.sock", up);
    ASSERT_STR_EQ("/etc/ca.pem", ca);
    ASSERT_EQ(wk.id, k.id);
    /* a log key (type 0x01) is not a witness key; unknown fields; ftp */
    struct tlog_key lk;
    log_key(&lk, ORIGIN, 0);
    sb_reset(&line);
    ASSERT_OK(tlog_vkey_format(&lk, &line));
    sb_puts(&line, " http://localhost/witness");
    ASSERT_EQ(CUSTODY_EINVAL, witness_config_line(line.buf, line.len, &k, url, sizeof url, up,
                                                  sizeof up, ca, sizeof ca));
    sb_reset(&line);
    ASSERT_OK(tlog_vkey_format(&wk, &line));
    size_t base = line.len;
    sb_puts(&line, " http://localhost/witness bogus:1");
    ASSERT_EQ(CUSTODY_EINVAL, witness_config_line(line.buf, line.len, &k, url, sizeof url, up,
                                                  sizeof up, ca, sizeof ca));
    line.len = base;
    sb_puts(&line, " ftp://localhost/witness");
    ASSERT_EQ(CUSTODY_EINVAL, witness_config_line(line.buf, line.len, &k, url, sizeof url, up,
                                                  sizeof up, ca, sizeof ca));
    sb_free(&line);
}
