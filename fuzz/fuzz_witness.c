/*
 * fuzz_witness.c — libFuzzer target for the witness side of
 * c2sp.org/tlog-witness (witness_add_checkpoint, src/ledger/witness.c).
 *
 * Each input is an add-checkpoint body (exact-size copy, so ASan catches an
 * over-read), answered against a fixed temporary state directory that trusts
 * one log ("fuzz.example/log", key from a fixed seed) and, before every
 * input, remembers that log's checkpoint of size 4 over the leaves
 * "leaf 0".."leaf 3" (so the corpus can reach 200, 409 and 422 with real
 * signatures and proofs; fuzz/corpus/witness has such bodies for sizes 4..8).
 * Checked besides crashes and leaks:
 *   - the status is one of 200, 400, 403, 404, 409, 422, and the return
 *     code 0, or CUSTODY_EBADPROOF with 409 or 422;
 *   - 409 answers "<decimal>\n" as text/x.tlog.size;
 *   - 200 answers cosignature lines that verify over the submitted
 *     checkpoint with the witness's key.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define ORIGIN "fuzz.example/log"
#define STORED_SIZE 4

static char state_dir[256];
static struct tlog_key witness_key;
static struct strbuf initial_state; /* the stored checkpoint restored before each input */
static char state_path[600];

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_witness: %s\n", what);
        abort();
    }
}

static void seed_of(uint8_t seed[32], uint8_t base)
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(base + i);
}

static void setup(void)
{
    uint8_t seed[32];
    struct tlog_key log_key;
    seed_of(seed, 0x10);
    check(tlog_key_from_seed(ORIGIN, TLOG_KEY_ED25519, seed, &log_key) == 0, "log key");
    seed_of(seed, 0x60);
    check(tlog_key_from_seed("fuzz.example/witness", TLOG_KEY_COSIGNATURE, seed, &witness_key) ==
              0,
          "witness key");
    const char *tmp = getenv("TMPDIR");
    snprintf(state_dir, sizeof state_dir, "%s/fuzz-witness-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    check(mkdtemp(state_dir) != NULL, "mkdtemp");
    char path[400];
    snprintf(path, sizeof path, "%s/" WITNESS_DIR, state_dir);
    check(util_mkdir_p(path, 0700) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/" WITNESS_DIR "/logs", state_dir);
    struct strbuf vk = STRBUF_INIT;
    check(tlog_vkey_format(&log_key, &vk) == 0, "vkey");
    sb_puts(&vk, "\n");
    check(util_write_file_atomic(path, vk.buf, vk.len, 0600) == 0, "logs file");
    sb_free(&vk);

    /* the checkpoint of size 4 over "leaf 0".."leaf 3" */
    uint8_t leaves[STORED_SIZE][TLOG_HASH_LEN];
    for (int i = 0; i < STORED_SIZE; i++) {
        char e[16];
        int n = snprintf(e, sizeof e, "leaf %d", i);
        tlog_leaf_hash(e, (size_t)n, leaves[i]);
    }
    struct tlog_checkpoint cp = {.origin = ORIGIN, .size = STORED_SIZE};
    tlog_hash_range((const uint8_t(*)[TLOG_HASH_LEN])leaves, STORED_SIZE, cp.root);
    struct strbuf text = STRBUF_INIT;
    check(tlog_checkpoint_format(&cp, &text) == 0, "checkpoint");
    const struct tlog_key *keys[1] = {&log_key};
    check(tlog_note_sign(text.buf, text.len, keys, 1, 0, &initial_state) == 0, "sign");
    sb_free(&text);
    check(witness_state_path(state_dir, ORIGIN, state_path, sizeof state_path) == 0, "path");
    snprintf(path, sizeof path, "%s/" WITNESS_DIR "/state", state_dir);
    check(util_mkdir_p(path, 0700) == 0, "mkdir state");
    check(util_write_file_atomic(state_path, initial_state.buf, initial_state.len, 0600) == 0,
          "state file");
}

static void cleanup(void)
{
    char cmd[400];
    /* only the directory this process made */
    if (state_dir[0] && strstr(state_dir, "/fuzz-witness-")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
        int rc = system(cmd);
        (void)rc;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_set_level(LOG_ERROR);
    setup();
    atexit(cleanup);
    return 0;
}

/* Restores the stored checkpoint when an input changed it. */
static void restore_state(void)
{
    char *cur = NULL;
    size_t len = 0;
    if (util_read_file(state_path, TLOG_NOTE_MAX, &cur, &len) == 0 && len == initial_state.len &&
        memcmp(cur, initial_state.buf, len) == 0) {
        free(cur);
        return;
    }
    free(cur);
    check(util_write_file_atomic(state_path, initial_state.buf, initial_state.len, 0600) == 0,
          "restore state");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    restore_state();
    char *body = malloc(size ? size : 1);
    if (size)
        memcpy(body, data, size);
    int status = 0;
    const char *ctype = NULL;
    struct strbuf out = STRBUF_INIT;
    int rc = witness_add_checkpoint(state_dir, &witness_key, body, size, &status, &out, &ctype);
    check(rc == 0 || rc == CUSTODY_EBADPROOF, "return code");
    check(status == 200 || status == 400 || status == 403 || status == 404 || status == 409 ||
              status == 422,
          "status");
    check(ctype != NULL, "content type");
    if (getenv("FUZZ_WITNESS_VERBOSE")) /* to see what a corpus file reaches */
        fprintf(stderr, "fuzz_witness: status %d rc %d\n", status, rc);
    if (rc == CUSTODY_EBADPROOF)
        check(status == 409 || status == 422, "evidence status");
    if (status == 409) {
        uint64_t n;
        check(strcmp(ctype, "text/x.tlog.size") == 0, "409 content type");
        check(out.len >= 2 && out.buf[out.len - 1] == '\n' &&
                  util_parse_u64(out.buf, out.len - 1, &n) == 0,
              "409 body");
    }
    if (status == 200) {
        struct tlog_witness_req req;
        struct tlog_note note;
        check(tlog_witness_req_parse(body, size, &req) == 0, "200 for an unparseable body");
        check(tlog_note_parse(req.note, req.note_len, &note) == 0, "200 for a bad note");
        struct tlog_sig sigs[4];
        size_t ns = 0;
        check(tlog_sig_lines_parse(out.buf, out.len, sigs, 4, &ns) == 0 && ns == 1,
              "200 body is one signature line");
        check(tlog_sig_verify(note.text, note.text_len, &sigs[0], &witness_key, NULL) == 0,
              "cosignature verifies");
    }
    sb_free(&out);
    free(body);
    return 0;
}
