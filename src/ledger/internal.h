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

#endif
