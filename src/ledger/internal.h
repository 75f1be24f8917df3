/* internal.h — shared by the files of src/ledger (not a public doorway). */
#ifndef CUSTODY_LEDGER_INTERNAL_H
#define CUSTODY_LEDGER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ledger.h"

/* ---- journal.c: the group-commit journal ----
 *
 * Two files, journal.0 and journal.1, used alternately. Each holds records
 * written from offset 0:
 *
 *   magic "CJR1" | u32 count | u64 first_index | u32 payload_len |
 *   payload (entries as in an entry bundle) | SHA-256(header || payload)
 *
 * all integers big-endian. A file is read from offset 0 while records are
 * whole, check out and continue the index sequence; what follows (a torn
 * tail, or older records from the file's previous use, whose indices are
 * lower) is ignored.
 */
#define JOURNAL_MAGIC "CJR1"
#define JOURNAL_HDR 20
#define JOURNAL_TRAILER 32
#define JOURNAL_RECORD_MAX (64u << 20)

struct journal_rec {
    uint64_t first;
    uint32_t count;
    uint8_t *payload; /* malloc'd */
    size_t len;
};

/* Header and trailer around payload (iov-friendly). */
void journal_frame(uint64_t first, uint32_t count, const void *payload, size_t len,
                   uint8_t hdr[JOURNAL_HDR], uint8_t trailer[JOURNAL_TRAILER]);
/* Reads the valid chain of fd from offset 0: records with increasing,
 * contiguous indices. *recs malloc'd (free with journal_recs_free). */
int journal_scan(int fd, struct journal_rec **recs, size_t *n);
void journal_recs_free(struct journal_rec *recs, size_t n);

/* ---- reader.c: reading tiles of a log directory ---- */
struct tile_reader {
    int dirfd;                /* the log directory */
    uint64_t size;            /* tree size the reads are for */
};
/* Reads hashes [first, first+n) of level `level` for a tree of r->size,
 * from the full tile, the partial tile of the right width, or (when that
 * was already replaced) a wider one. */
int tile_read_hashes(void *ctx, unsigned level, uint64_t first, size_t n,
                     uint8_t (*out)[TLOG_HASH_LEN]);
/* Reads the entry bundle holding `index` for a tree of `size` into out
 * (whole bundle), the bundle's first index in *first. */
int tile_read_bundle(int dirfd, uint64_t size, uint64_t index, struct strbuf *out,
                     uint64_t *first);
/* Tile (level, index) at `width` into out — or, when that partial tile was
 * already replaced, the full tile or the widest partial (same prefix). */
int tile_read_any(int dirfd, int level, uint64_t index, unsigned width, struct strbuf *out,
                  size_t max);
/* Whole file at dirfd/rel into out, at most max bytes. */
int tile_read_file(int dirfd, const char *rel, struct strbuf *out, size_t max);

/* ---- log.c, tiler.c, query.c: the log's state and its threads ---- */

#include <pthread.h>

#define LEVELS 8            /* tile levels 0..7 cover trees up to 2^64 */
#define UNSYNCED_MAX 512    /* tile fds kept for the checkpoint's fsync */
#define DIRS_MAX 32
#define MADE_MAX 8          /* recently made tile directories remembered */
#define HIST 3              /* partial-tile sets kept: current + 2 (grace) */

struct pending {
    struct pending *next;
    ledger_cb cb;
    void *arg;
    bool sync;
    bool done;
    int rc;
    uint64_t index;
    size_t len;
    uint8_t *data;
};

struct tbatch {
    struct tbatch *next;
    uint64_t first;
    uint32_t count;
    char *payload;
    size_t len;
};

struct level_state {
    uint8_t hashes[TLOG_TILE_WIDTH][TLOG_HASH_LEN];
    unsigned n;
};

struct partial_set {
    char paths[LEVELS + 1][TLOG_PATH_MAX];
    size_t n;
};

struct ledger {
    char *dir;
    int dirfd;
    char origin[TLOG_NAME_MAX + 1];
    struct tlog_key key;
    struct ledger_privacy privacy;
    bool has_privacy;
    unsigned interval_ms;
    size_t batch_max;
    uint64_t rotate_bytes;

    /* submission queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    struct pending *qhead, **qtail;
    bool stopping;
    _Atomic bool healthy;
    _Atomic uint64_t failures, batches;
    pthread_mutex_t errmu;
    char last_error[160];

    /* completions */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    struct pending *chead, **ctail;
    int efd;

    /* committer only */
    int jfd[2];
    int jactive;
    uint64_t joff;
    uint64_t jlast[2]; /* index after the last record in each file */
    uint64_t next_index;
    _Atomic uint64_t durable;

    /* tiler */
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
    struct tbatch *thead, **ttail;
    bool ckpt_request, tiler_stop;
    struct level_state lv[LEVELS];
    struct strbuf ebuf;
    unsigned ecount;
    uint64_t tiled;
    int unsynced[UNSYNCED_MAX];
    size_t nunsynced;
    char dirs[DIRS_MAX][TLOG_PATH_MAX];
    size_t ndirs;
    char made[MADE_MAX][TLOG_PATH_MAX]; /* directories known to exist (ring) */
    unsigned made_next;
    bool use_syncfs; /* the filesystem's syncfs reports writeback errors */
    bool bulk;       /* fds were closed unsynced: the next sync is a syncfs */
    _Atomic uint64_t bulk_syncs;
    struct partial_set hist[HIST];
    uint64_t last_ckpt_ns;
    bool ckpt_failing;

    /* published checkpoint */
    pthread_mutex_t ckmu;
    pthread_cond_t ckcv;
    struct strbuf note;
    struct tlog_checkpoint cp;
    _Atomic uint64_t ckpt_size;
    pthread_mutex_t cwmu; /* serializes writes of the checkpoint file */
    void (*hook)(void *arg, const char *note, size_t len, uint64_t size);
    void *hook_arg;

    /* index */
    bool no_index;
    struct ledger_index *ix;
    pthread_mutex_t ixmu;
    atomic_bool ix_stop; /* read by the indexer between bundles, set under ckmu */

    struct tlog_tile_cache *cache;
    pthread_t th_commit, th_tile, th_index;
    bool threads;
};

/* log.c */
uint64_t lg_now_ns(void);
/* Waits on cv (mu held) for at most ns nanoseconds (monotonic clock). */
void lg_cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ns);
/* Recovery, also used by the tiler to rebuild after a failed write. */
int lg_load_edge(struct ledger *l, struct strbuf *err);
int lg_replay_journal(struct ledger *l, struct strbuf *err, uint64_t limit);
/* tiler.c */
int lg_add_payload(struct ledger *l, uint64_t first, const uint8_t *p, size_t len,
                   uint64_t limit);
void lg_edge_root(struct ledger *l, uint8_t out[TLOG_HASH_LEN]);
int lg_checkpoint(struct ledger *l);
int lg_write_checkpoint_file(struct ledger *l, const char *note, size_t len);
void lg_prune_stale_partials(struct ledger *l);
void *lg_tiler_main(void *arg);
/* query.c */
void *lg_indexer_main(void *arg);

#endif
