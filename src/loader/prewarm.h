/*
 * prewarm.h — pre-warming model shards (issue 6, `custody model prewarm NAME
 * [--to page-cache|pinned]`): make a scheduled task find its shards hot.
 *
 * What each target does (measured on the 2-core VM, docs/model.md
 * "Pre-warming" has the figures and the commands):
 *
 *   PREWARM_PAGE_CACHE: the region's pages become resident in the page cache,
 *     so a later read(2), mmap or loader_load of the same file by any process
 *     finds them there. O_DIRECT cannot do this: it bypasses the page cache
 *     and leaves nothing behind (fio's O_DIRECT read leaves the file 0%
 *     resident). Buffered io_uring reads (1-4 MiB, 16-32 in flight) were the
 *     slowest candidate (0.3-1.1 GB/s: concurrent reads defeat the kernel's
 *     sequential readahead and each one copies into a user buffer). The
 *     winner, PREWARM_ENGINE_POPULATE (the default), maps the file in windows
 *     and walks it with madvise(MADV_POPULATE_READ): no copy, no user buffer,
 *     the kernel's readahead (helped by POSIX_FADV_SEQUENTIAL) streams large
 *     reads, and readahead(2) keeps `depth` chunks in flight ahead of the
 *     walk so the depth does not depend on the device's read_ahead_kb
 *     (PREWARM_DEPTH_KERNEL: kernel readahead only). Best of 3 cold rounds
 *     of a 2 GiB file: 2.28 GB/s against fio's 2.21 (1.03x); afterwards
 *     mincore(2) says 100% resident.
 *
 *   PREWARM_PINNED: the page-cache warm-up, then the region is mmap'ed
 *     (MAP_SHARED, read-only) and mlock'ed: its page-cache pages cannot be
 *     reclaimed while the returned handle lives (custodyd keeps it until
 *     unpin, eviction or shutdown). Other processes reading or mapping the
 *     file use the same pages. mlock needs RLIMIT_MEMLOCK >= the pinned bytes
 *     (plus what the process already locks) or CAP_IPC_LOCK; root has the
 *     latter. Over the limit the call fails with CUSTODY_ENOMEM and a message
 *     naming the limit; nothing stays mapped.
 *
 * Where O_DIRECT + io_uring belong: reading into memory we own (staging
 * buffers for a GPU copy, a checksum), not into the page cache.
 * prewarm_read_direct() reads a region with O_DIRECT, 4 KiB-aligned
 * registered buffers and `depth` reads in flight, handing each completed
 * block to a callback; it runs at fio's speed (it is the same I/O) and is
 * the cold-read engine the GPU loader may reuse.
 *
 * io_uring comes from liburing (>= 2.3) when CMake defines
 * CUSTODY_HAVE_LIBURING; without it, and with PREWARM_ENGINE_THREADS, the
 * same reads run on `threads` pthreads doing pread(2). Nothing here needs
 * more than libc and pthreads (plus liburing when present).
 *
 * The engine never opens a path by name: callers pass open descriptors (for
 * O_DIRECT it re-opens its own descriptor through /proc/self/fd/N and checks
 * it is the same inode, so the caller's file description is not changed).
 * Functions return 0 or a negative CUSTODY_E* code and write a one-line
 * message into (err, errlen) (err may be NULL).
 */
#ifndef CUSTODY_LOADER_PREWARM_H
#define CUSTODY_LOADER_PREWARM_H

#include <stddef.h>
#include <stdint.h>

#include "custody/custody.h"

enum prewarm_target {
    PREWARM_PAGE_CACHE = 0, /* resident in the page cache */
    PREWARM_PINNED = 1,     /* resident and mlock'ed until prewarm_unpin */
};

enum prewarm_engine {
    PREWARM_ENGINE_AUTO = 0, /* POPULATE */
    PREWARM_ENGINE_POPULATE, /* mmap windows + MADV_POPULATE_READ + readahead(2) window */
    PREWARM_ENGINE_URING,    /* buffered io_uring reads into reused buffers (THREADS
                              * without liburing); measured slower, kept for comparison */
    PREWARM_ENGINE_THREADS,  /* buffered pread(2) on `threads` threads: the portable path */
};

/* Called with bytes done so far and the total, at most about 10 times a
 * second, from the calling thread, with non-decreasing `done`; the last call
 * has done == total (also when total is 0). */
typedef void (*prewarm_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct prewarm_opts {
    int target;                   /* enum prewarm_target */
    int engine;                   /* enum prewarm_engine */
    size_t chunk;                 /* bytes per read / readahead; 0: 1 MiB. Rounded up to 4 KiB */
    unsigned depth;               /* reads in flight; 0: 32 (POPULATE: chunks of readahead ahead;
                                   * PREWARM_DEPTH_KERNEL: the kernel's own readahead only) */
    unsigned threads;             /* pread threads (THREADS engine and the fallback); 0: 8 */
    prewarm_progress_fn progress; /* may be NULL */
    void *progress_arg;
};

#define PREWARM_DEPTH_KERNEL 0xffffffffu

/* A region of an open file: [begin, end); end 0 means the end of the file.
 * end past the end of the file is clamped to it. */
struct prewarm_file {
    int fd; /* open for reading, a regular file; not closed, its offset not moved */
    uint64_t begin;
    uint64_t end;
};

struct prewarm_stats {
    uint64_t bytes;           /* bytes in the regions */
    uint64_t ns;              /* wall time */
    uint64_t resident_before; /* bytes of the regions resident before (page granularity) */
    uint64_t resident_after;  /* ... and after */
    int engine;               /* the engine that ran (never AUTO) */
    int direct;               /* prewarm_read_direct: 1 when O_DIRECT was in effect */
};

struct prewarm_pin; /* mapped and mlock'ed regions; prewarm_unpin releases them */

/* Warms files[0..n) as o says (NULL: page cache, defaults). For
 * PREWARM_PINNED, *pin receives the handle (pin must not be NULL); for the
 * page cache *pin, when given, is set to NULL. st may be NULL. */
int prewarm(const struct prewarm_file *files, size_t n, const struct prewarm_opts *o,
            struct prewarm_stats *st, struct prewarm_pin **pin, char *err, size_t errlen);

/* Bytes the pin holds locked; 0 for NULL. */
uint64_t prewarm_pin_bytes(const struct prewarm_pin *pin);

/* munlock + munmap + free (NULL is fine). The pages stay in the page cache
 * until the kernel reclaims them. */
void prewarm_unpin(struct prewarm_pin *pin);

/* *resident = bytes of [begin, end) (end 0: the end of the file) whose pages
 * are in the page cache (mincore; a partly covered page counts fully up to
 * the region's bounds). *size, when not NULL, receives the file size. */
int prewarm_resident(int fd, uint64_t begin, uint64_t end, uint64_t *resident, uint64_t *size,
                     char *err, size_t errlen);

/* Called per completed block: the file bytes [off, off + len) are at buf.
 * off is a multiple of 4096; len is the chunk size except at the end of the
 * file or region. Return 0 to go on, a negative CUSTODY_E* to stop: the read
 * then returns that code. With io_uring it runs on the calling thread; in
 * the pread fallback on the reader threads, concurrently. buf is valid only
 * during the call. */
typedef int (*prewarm_block_fn)(void *arg, uint64_t off, const void *buf, size_t len);

/* Reads [begin, end) of fd (end 0: the end of the file) widened to 4 KiB
 * boundaries, with O_DIRECT when the filesystem allows it (else buffered;
 * st->direct says which), chunk-sized reads, depth in flight (io_uring with
 * registered buffers when possible), each block to cb. o's target is
 * ignored; engine PREWARM_ENGINE_THREADS forces the pread fallback. */
int prewarm_read_direct(int fd, uint64_t begin, uint64_t end, const struct prewarm_opts *o,
                        prewarm_block_fn cb, void *arg, struct prewarm_stats *st, char *err,
                        size_t errlen);

/* Name of an engine ("populate", "uring", "threads"); "auto" for 0. */
const char *prewarm_engine_name(int engine);

#endif
