/*
 * prewarm.c — pre-warming model shards into the page cache (optionally
 * mlock'ed), and the O_DIRECT region reader. See prewarm.h for what each
 * target does and why; docs/model.md "Pre-warming" for the measurements.
 *
 * libc, pthreads and (when CUSTODY_HAVE_LIBURING) liburing only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "loader/prewarm.h"
#include "loader/loader_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef CUSTODY_HAVE_LIBURING
#include <liburing.h>
#endif

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

#define PW_ALIGN 4096u
#define PW_DEF_CHUNK ((size_t)1 << 20)
#define PW_DEF_DEPTH 32u
#define PW_DEF_THREADS 8u
#define PW_MAX_CHUNK ((size_t)256 << 20)
#define PW_MAX_DEPTH 4096u
#define PW_MAX_THREADS 256u
#define PW_WINDOW ((uint64_t)64 << 20)     /* populate: bytes mapped at a time */
#define PW_MINCORE_WIN ((uint64_t)1 << 30) /* prewarm_resident: bytes mapped at a time */
#define PW_PROGRESS_NS 100000000ull        /* at most ~10 progress calls a second */

struct prewarm_pin {
    size_t n;
    struct pw_map {
        void *addr;
        size_t len;
    } * maps;
    uint64_t bytes;
};

static size_t pw_pagesize(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

const char *prewarm_engine_name(int engine)
{
    switch (engine) {
    case PREWARM_ENGINE_POPULATE:
        return "populate";
    case PREWARM_ENGINE_URING:
        return "uring";
    case PREWARM_ENGINE_THREADS:
        return "threads";
    default:
        return "auto";
    }
}

/* A readable regular file: its size, or an error. */
static int pw_check_fd(int fd, uint64_t *size, char *err, size_t errlen)
{
    struct stat st;
    if (fd < 0) {
        loader_errf(err, errlen, "fd %d: not a file descriptor", fd);
        return CUSTODY_EINVAL;
    }
    if (fstat(fd, &st) != 0) {
        loader_errf(err, errlen, "fd %d: %s", fd, strerror(errno));
        return CUSTODY_EINVAL;
    }
    if (!S_ISREG(st.st_mode)) {
        loader_errf(err, errlen, "fd %d: not a regular file", fd);
        return CUSTODY_EINVAL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY) {
        loader_errf(err, errlen, "fd %d: not open for reading", fd);
        return CUSTODY_EINVAL;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* [begin, end) clamped to the file; end 0 means the end of the file. */
static int pw_region(uint64_t size, uint64_t begin, uint64_t *end, int fd, char *err, size_t errlen)
{
    uint64_t e = *end == 0 || *end > size ? size : *end;
    if (begin > e) {
        loader_errf(err, errlen, "fd %d: region begins at %" PRIu64 " past its end %" PRIu64, fd,
                    begin, e);
        return CUSTODY_ERANGE;
    }
    *end = e;
    return 0;
}

/* A private descriptor of the same file (its own readahead state, or
 * O_DIRECT) through /proc/self/fd; -1 when that cannot be had. */
static int pw_reopen(int fd, int flags)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int nfd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (nfd < 0) return -1;
    struct stat a, b;
    if (fstat(fd, &a) != 0 || fstat(nfd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        close(nfd);
        return -1;
    }
    return nfd;
}

/* ---- progress ---- */

struct pw_progress {
    prewarm_progress_fn fn;
    void *arg;
    uint64_t total;
    uint64_t base; /* bytes of the files before the current one */
    uint64_t last; /* last done reported */
    uint64_t last_ns;
};

static void pw_progress(struct pw_progress *p, uint64_t done_in_file, int force)
{
    if (!p || !p->fn) return;
    uint64_t done = p->base + done_in_file;
    if (done > p->total) done = p->total;
    if (done < p->last) done = p->last;
    uint64_t now = loader_now_ns();
    if (!force && (now - p->last_ns < PW_PROGRESS_NS || done == p->last)) return;
    p->last = done;
    p->last_ns = now;
    p->fn(p->arg, done, p->total);
}

/* ---- resident bytes (mincore) ---- */

int prewarm_resident(int fd, uint64_t begin, uint64_t end, uint64_t *resident, uint64_t *size,
                     char *err, size_t errlen)
{
    uint64_t fsize = 0;
    if (!resident) {
        loader_errf(err, errlen, "prewarm_resident: resident is NULL");
        return CUSTODY_EINVAL;
    }
    *resident = 0;
    int rc = pw_check_fd(fd, &fsize, err, errlen);
    if (rc == 0) rc = pw_region(fsize, begin, &end, fd, err, errlen);
    if (rc) return rc;
    if (size) *size = fsize;
    const uint64_t pg = pw_pagesize();
    unsigned char *vec = NULL;
    uint64_t total = 0;
    for (uint64_t w = begin / pg * pg; w < end; w += PW_MINCORE_WIN) {
        uint64_t wend = w + PW_MINCORE_WIN < end ? w + PW_MINCORE_WIN : end;
        size_t len = (size_t)(wend - w);
        size_t npages = (len + pg - 1) / pg;
        void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)w);
        if (p == MAP_FAILED) {
            loader_errf(err, errlen, "fd %d: mmap for mincore: %s", fd, strerror(errno));
            free(vec);
            return CUSTODY_EIO;
        }
        if (!vec && !(vec = malloc((size_t)(PW_MINCORE_WIN / pg)))) {
            munmap(p, len);
            loader_errf(err, errlen, "out of memory");
            return CUSTODY_ENOMEM;
        }
        if (mincore(p, len, vec) != 0) {
            int e = errno;
            munmap(p, len);
            free(vec);
            loader_errf(err, errlen, "fd %d: mincore: %s", fd, strerror(e));
            return CUSTODY_EIO;
        }
        munmap(p, len);
        for (size_t i = 0; i < npages; i++) {
            if (!(vec[i] & 1)) continue;
            uint64_t a = w + i * pg, b = a + pg;
            if (a < begin) a = begin;
            if (b > end) b = end;
            total += b - a;
        }
    }
    free(vec);
    *resident = total;
    return 0;
}

/* ---- the region reader: io_uring, or pread threads ---- */

struct pw_reader {
    int fd;
    int direct;     /* fd is O_DIRECT: offsets, lengths and buffers aligned */
    uint64_t fsize; /* the file's size when we started */
    uint64_t begin; /* first byte read */
    uint64_t end;   /* reads stop here (may pass fsize by < 4 KiB when direct) */
    size_t chunk;
    unsigned depth;
    unsigned threads;
    prewarm_block_fn cb; /* NULL: discard */
    void *arg;
    struct pw_progress *pg;
    char *err;
    size_t errlen;
    /* pread threads */
    _Atomic uint64_t next;
    _Atomic uint64_t done;
    _Atomic int rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned running;
    int errset; /* guarded by mu */
};

static void pw_reader_fail(struct pw_reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first failure (thread-safe). */
static void pw_reader_fail(struct pw_reader *r, int rc, const char *fmt, ...)
{
    pthread_mutex_lock(&r->mu);
    if (!r->errset) {
        r->errset = 1;
        atomic_store(&r->rc, rc);
        if (fmt && r->err && r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err, r->errlen, fmt, ap);
            va_end(ap);
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* How many bytes the read at off should bring: up to the chunk, the region's
 * end, and (being short at) the end of the file. */
static size_t pw_want(const struct pw_reader *r, uint64_t off)
{
    uint64_t w = r->end - off;
    return w < r->chunk ? (size_t)w : r->chunk;
}

/* A complete block [off, off + len): to the callback, then counted. */
static int pw_deliver(struct pw_reader *r, uint64_t off, const void *buf, size_t len)
{
    if (r->cb) {
        int rc = r->cb(r->arg, off, buf, len);
        if (rc) {
            rc = rc < 0 ? rc : CUSTODY_EINTERNAL;
            pw_reader_fail(r, rc, "the block callback stopped the read at offset %" PRIu64 " (%d)",
                           off, rc);
            return rc;
        }
    }
    atomic_fetch_add(&r->done, (uint64_t)len);
    return 0;
}

static void *pw_alloc_buffers(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void *pw_thread_main(void *a)
{
    struct pw_reader *r = a;
    unsigned char *buf = pw_alloc_buffers(r->chunk);
    if (!buf)
        pw_reader_fail(r, CUSTODY_ENOMEM, "out of memory for a %zu-byte read buffer", r->chunk);
    while (buf && atomic_load(&r->rc) == 0) {
        uint64_t off = atomic_fetch_add(&r->next, (uint64_t)r->chunk);
        if (off >= r->end) break;
        size_t want = pw_want(r, off), got = 0;
        while (got < want) {
            ssize_t n = pread(r->fd, buf + got, want - got, (off_t)(off + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                pw_reader_fail(r, CUSTODY_EIO, "read at offset %" PRIu64 ": %s", off + got,
                               strerror(errno));
                break;
            }
            if (n == 0) {
                if (off + got >= r->fsize)
                    break; /* the end of the file (a direct region ends past it) */
                pw_reader_fail(r, CUSTODY_EIO,
                               "the file ended at %" PRIu64 ", before its size %" PRIu64
                               " (truncated while read?)",
                               off + got, r->fsize);
                break;
            }
            got += (size_t)n;
            if (r->direct && got < want && got % PW_ALIGN) {
                if (off + got >= r->fsize) break;
                pw_reader_fail(r, CUSTODY_EIO, "unaligned short read at offset %" PRIu64,
                               off + got);
                break;
            }
        }
        if (atomic_load(&r->rc) != 0) break;
        if (got && pw_deliver(r, off, buf, got) != 0) break;
    }
    if (buf) munmap(buf, r->chunk);
    pthread_mutex_lock(&r->mu);
    r->running--;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int pw_read_threads(struct pw_reader *r)
{
    uint64_t nchunks = (r->end - r->begin + r->chunk - 1) / r->chunk;
    unsigned n = r->threads;
    if (n > nchunks) n = (unsigned)nchunks;
    if (n == 0) return 0;
    pthread_t *tids = calloc(n, sizeof *tids);
    if (!tids) {
        loader_errf(r->err, r->errlen, "out of memory");
        return CUSTODY_ENOMEM;
    }
    atomic_store(&r->next, r->begin);
    unsigned started = 0;
    pthread_mutex_lock(&r->mu);
    for (; started < n; started++) {
        r->running++;
        if (pthread_create(&tids[started], NULL, pw_thread_main, r) != 0) {
            r->running--;
            break;
        }
    }
    if (started == 0) {
        pthread_mutex_unlock(&r->mu);
        free(tids);
        loader_errf(r->err, r->errlen, "cannot start a reader thread");
        return CUSTODY_ENOMEM;
    }
    while (r->running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(PW_PROGRESS_NS);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        pthread_mutex_unlock(&r->mu);
        pw_progress(r->pg, atomic_load(&r->done), 0);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    return atomic_load(&r->rc);
}

#ifdef CUSTODY_HAVE_LIBURING
struct pw_slot {
    uint64_t off;
    size_t want;
    size_t got;
};

static void pw_uring_prep(struct io_uring *ring, struct pw_reader *r, unsigned char *bufs,
                          struct pw_slot *s, unsigned i, int fixed)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring); /* never NULL: depth <= ring size */
    unsigned char *dst = bufs + (size_t)i * r->chunk + s->got;
    if (fixed)
        io_uring_prep_read_fixed(sqe, r->fd, dst, (unsigned)(s->want - s->got), s->off + s->got,
                                 (int)i);
    else
        io_uring_prep_read(sqe, r->fd, dst, (unsigned)(s->want - s->got), s->off + s->got);
    io_uring_sqe_set_data64(sqe, i);
}

/* 1: io_uring could not be set up (the caller falls back to threads). */
static int pw_read_uring(struct pw_reader *r, int *unavailable)
{
    uint64_t nchunks = (r->end - r->begin + r->chunk - 1) / r->chunk;
    unsigned depth = r->depth;
    if (depth > nchunks) depth = (unsigned)nchunks;
    if (depth == 0) return 0;
    struct io_uring ring;
    if (io_uring_queue_init(depth, &ring, 0) < 0) {
        *unavailable = 1;
        return 0;
    }
    size_t bytes = (size_t)depth * r->chunk;
    unsigned char *bufs = pw_alloc_buffers(bytes);
    struct pw_slot *slots = calloc(depth, sizeof *slots);
    unsigned *freel = calloc(depth, sizeof *freel);
    struct iovec *iov = calloc(depth, sizeof *iov);
    if (!bufs || !slots || !freel || !iov) {
        if (bufs) munmap(bufs, bytes);
        free(slots);
        free(freel);
        free(iov);
        io_uring_queue_exit(&ring);
        loader_errf(r->err, r->errlen, "out of memory for %zu bytes of read buffers", bytes);
        return CUSTODY_ENOMEM;
    }
    for (unsigned i = 0; i < depth; i++) {
        iov[i].iov_base = bufs + (size_t)i * r->chunk;
        iov[i].iov_len = r->chunk;
        freel[i] = depth - 1 - i;
    }
    /* Registered buffers are pinned once instead of per read; they count
     * against RLIMIT_MEMLOCK, so without room plain reads do. */
    int fixed = io_uring_register_buffers(&ring, iov, depth) == 0;
    unsigned nfree = depth, inflight = 0;
    uint64_t next = r->begin;
    int rc = 0;
    while (inflight > 0 || (rc == 0 && next < r->end)) {
        while (rc == 0 && nfree > 0 && next < r->end) {
            unsigned i = freel[--nfree];
            slots[i].off = next;
            slots[i].want = pw_want(r, next);
            slots[i].got = 0;
            next += slots[i].want;
            pw_uring_prep(&ring, r, bufs, &slots[i], i, fixed);
            inflight++;
        }
        int ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            pw_reader_fail(r, CUSTODY_EIO, "io_uring_submit: %s", strerror(-ret));
            rc = CUSTODY_EIO;
            break; /* the ring's teardown cancels what is in flight */
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            unsigned i = (unsigned)io_uring_cqe_get_data64(cqe);
            struct pw_slot *s = &slots[i];
            int res = cqe->res;
            inflight--;
            int complete = 0;
            if (res == -EAGAIN || res == -EINTR) {
                if (rc == 0) { /* retry as is */
                    pw_uring_prep(&ring, r, bufs, s, i, fixed);
                    inflight++;
                    continue;
                }
            } else if (res < 0) {
                if (rc == 0) {
                    pw_reader_fail(r, CUSTODY_EIO, "read at offset %" PRIu64 ": %s",
                                   s->off + s->got, strerror(-res));
                    rc = CUSTODY_EIO;
                }
            } else if (res == 0) {
                if (s->off + s->got >= r->fsize)
                    complete = 1; /* the end of the file */
                else if (rc == 0) {
                    pw_reader_fail(r, CUSTODY_EIO,
                                   "the file ended at %" PRIu64 ", before its size %" PRIu64
                                   " (truncated while read?)",
                                   s->off + s->got, r->fsize);
                    rc = CUSTODY_EIO;
                }
            } else {
                s->got += (size_t)res;
                if (s->got >= s->want || s->off + s->got >= r->fsize)
                    complete = 1;
                else if (r->direct && s->got % PW_ALIGN) {
                    if (rc == 0) {
                        pw_reader_fail(r, CUSTODY_EIO, "unaligned short read at offset %" PRIu64,
                                       s->off + s->got);
                        rc = CUSTODY_EIO;
                    }
                } else if (rc == 0) { /* short: read the rest */
                    pw_uring_prep(&ring, r, bufs, s, i, fixed);
                    inflight++;
                    continue;
                }
            }
            if (complete && rc == 0 && s->got > 0) {
                int crc = pw_deliver(r, s->off, bufs + (size_t)i * r->chunk, s->got);
                if (crc) rc = crc;
            }
            freel[nfree++] = i;
        }
        io_uring_cq_advance(&ring, seen);
        if (rc == 0) pw_progress(r->pg, atomic_load(&r->done), 0);
    }
    if (fixed) io_uring_unregister_buffers(&ring);
    io_uring_queue_exit(&ring);
    munmap(bufs, bytes);
    free(slots);
    free(freel);
    free(iov);
    return rc;
}
#endif

/* Reads [r->begin, r->end) of r->fd with io_uring (unless use_threads or
 * io_uring cannot be set up), else threads. *engine gets what ran. */
static int pw_read_region(struct pw_reader *r, int use_threads, int *engine)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_store(&r->rc, 0);
    atomic_store(&r->done, 0);
    int rc = 0;
    *engine = PREWARM_ENGINE_THREADS;
#ifdef CUSTODY_HAVE_LIBURING
    if (!use_threads) {
        int unavailable = 0;
        rc = pw_read_uring(r, &unavailable);
        if (!unavailable)
            *engine = PREWARM_ENGINE_URING;
        else
            rc = pw_read_threads(r);
    } else
        rc = pw_read_threads(r);
#else
    (void)use_threads;
    rc = pw_read_threads(r);
#endif
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    return rc;
}

/* ---- options ---- */

struct pw_cfg {
    int target;
    int engine;
    size_t chunk;
    unsigned depth; /* PREWARM_DEPTH_KERNEL kept as is for populate */
    unsigned threads;
};

static int pw_cfg(const struct prewarm_opts *o, struct pw_cfg *c, char *err, size_t errlen)
{
    struct prewarm_opts d = {0};
    if (!o) o = &d;
    if (o->target != PREWARM_PAGE_CACHE && o->target != PREWARM_PINNED) {
        loader_errf(err, errlen, "unknown prewarm target %d", o->target);
        return CUSTODY_EINVAL;
    }
    if (o->engine < PREWARM_ENGINE_AUTO || o->engine > PREWARM_ENGINE_THREADS) {
        loader_errf(err, errlen, "unknown prewarm engine %d", o->engine);
        return CUSTODY_EINVAL;
    }
    if (o->chunk > PW_MAX_CHUNK) {
        loader_errf(err, errlen, "chunk %zu is over %zu bytes", o->chunk, PW_MAX_CHUNK);
        return CUSTODY_EINVAL;
    }
    if (o->depth > PW_MAX_DEPTH && o->depth != PREWARM_DEPTH_KERNEL) {
        loader_errf(err, errlen, "depth %u is over %u", o->depth, PW_MAX_DEPTH);
        return CUSTODY_EINVAL;
    }
    if (o->threads > PW_MAX_THREADS) {
        loader_errf(err, errlen, "threads %u is over %u", o->threads, PW_MAX_THREADS);
        return CUSTODY_EINVAL;
    }
    c->target = o->target;
    c->engine = o->engine ? o->engine : PREWARM_ENGINE_POPULATE;
    c->chunk = o->chunk ? (o->chunk + PW_ALIGN - 1) / PW_ALIGN * PW_ALIGN : PW_DEF_CHUNK;
    c->depth = o->depth ? o->depth : PW_DEF_DEPTH;
    c->threads = o->threads ? o->threads : PW_DEF_THREADS;
    return 0;
}

/* ---- the populate engine ---- */

/* Faults [p, p + len) in: MADV_POPULATE_READ, or touching each page where
 * the kernel is older than 5.14. */
static int pw_populate(unsigned char *p, size_t len, int *touch, uint64_t off, char *err,
                       size_t errlen)
{
    if (!*touch) {
        for (;;) {
            if (madvise(p, len, MADV_POPULATE_READ) == 0) return 0;
            if (errno == EINTR || errno == EAGAIN) continue;
            break;
        }
        if (errno != EINVAL) {
            int e = errno;
            loader_errf(err, errlen, "populating offset %" PRIu64 ": %s%s", off, strerror(e),
                        e == EFAULT ? " (file truncated while read?)" : "");
            return e == ENOMEM ? CUSTODY_ENOMEM : CUSTODY_EIO;
        }
        *touch = 1;
    }
    const size_t pg = pw_pagesize();
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < len; i += pg)
        sink ^= ((volatile unsigned char *)p)[i];
    (void)sink;
    return 0;
}

static int pw_warm_populate(int fd, uint64_t fsize, uint64_t begin, uint64_t end,
                            const struct pw_cfg *c, struct pw_progress *pg, char *err,
                            size_t errlen)
{
    if (begin >= end) return 0;
    /* A private file description: the readahead hints below change its
     * readahead state, not the caller's. */
    int own = pw_reopen(fd, 0);
    int rfd = own >= 0 ? own : fd;
    if (own >= 0) posix_fadvise(rfd, (off_t)begin, (off_t)(end - begin), POSIX_FADV_SEQUENTIAL);
    const uint64_t pgsz = pw_pagesize();
    const uint64_t chunk = c->chunk;
    const int ra = c->depth != PREWARM_DEPTH_KERNEL;
    const uint64_t ahead = ra ? (uint64_t)c->depth * chunk : 0;
    uint64_t ra_next = begin / pgsz * pgsz;
    int touch = 0, rc = 0;
    for (uint64_t w = begin / pgsz * pgsz; w < end && rc == 0; w += PW_WINDOW) {
        uint64_t wend = w + PW_WINDOW < end ? w + PW_WINDOW : end;
        size_t wlen = (size_t)(wend - w);
        unsigned char *p = mmap(NULL, wlen, PROT_READ, MAP_SHARED, rfd, (off_t)w);
        if (p == MAP_FAILED) {
            loader_errf(err, errlen, "fd %d: mmap: %s", fd, strerror(errno));
            rc = errno == ENOMEM ? CUSTODY_ENOMEM : CUSTODY_EIO;
            break;
        }
        for (uint64_t x = w; x < wend && rc == 0; x += chunk) {
            uint64_t xend = x + chunk < wend ? x + chunk : wend;
            while (ra && ra_next < end && ra_next < x + ahead) {
                uint64_t l = end - ra_next < chunk ? end - ra_next : chunk;
                readahead(rfd, (off64_t)ra_next, (size_t)l); /* a hint: errors ignored */
                ra_next += l;
            }
            rc = pw_populate(p + (x - w), (size_t)(xend - x), &touch, x, err, errlen);
            pw_progress(pg, xend - begin, 0);
        }
        munmap(p, wlen);
    }
    (void)fsize;
    if (own >= 0) close(own);
    return rc;
}

/* ---- the buffered reader engines (uring, threads) ---- */

static int pw_warm_read(int fd, uint64_t fsize, uint64_t begin, uint64_t end,
                        const struct pw_cfg *c, struct pw_progress *pg, int *ran, char *err,
                        size_t errlen)
{
    if (begin >= end) return 0;
    struct pw_reader r = {
        .fd = fd,
        .fsize = fsize,
        .begin = begin,
        .end = end,
        .chunk = c->chunk,
        .depth = c->depth == PREWARM_DEPTH_KERNEL ? PW_DEF_DEPTH : c->depth,
        .threads = c->threads,
        .pg = pg,
        .err = err,
        .errlen = errlen,
    };
    return pw_read_region(&r, c->engine == PREWARM_ENGINE_THREADS, ran);
}

/* ---- pinning ---- */

static int pw_pin_one(int fd, uint64_t begin, uint64_t end, struct pw_map *m, char *err,
                      size_t errlen)
{
    const uint64_t pg = pw_pagesize();
    uint64_t a = begin / pg * pg;
    m->addr = NULL;
    m->len = 0;
    if (begin >= end) return 0;
    size_t len = (size_t)(end - a);
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)a);
    if (p == MAP_FAILED) {
        loader_errf(err, errlen, "fd %d: mmap: %s", fd, strerror(errno));
        return errno == ENOMEM ? CUSTODY_ENOMEM : CUSTODY_EIO;
    }
    if (mlock(p, len) != 0) {
        int e = errno;
        struct rlimit rl = {0};
        getrlimit(RLIMIT_MEMLOCK, &rl);
        char lim[32];
        if (rl.rlim_cur == RLIM_INFINITY)
            snprintf(lim, sizeof lim, "unlimited");
        else
            snprintf(lim, sizeof lim, "%llu bytes", (unsigned long long)rl.rlim_cur);
        loader_errf(err, errlen,
                    "fd %d: mlock of %zu bytes: %s (RLIMIT_MEMLOCK is %s; raise it, e.g. "
                    "LimitMEMLOCK=infinity, or grant CAP_IPC_LOCK)",
                    fd, len, strerror(e), lim);
        munmap(p, len);
        return e == EPERM ? CUSTODY_EPERM : CUSTODY_ENOMEM;
    }
    m->addr = p;
    m->len = len;
    return 0;
}

uint64_t prewarm_pin_bytes(const struct prewarm_pin *pin)
{
    return pin ? pin->bytes : 0;
}

void prewarm_unpin(struct prewarm_pin *pin)
{
    if (!pin) return;
    for (size_t i = 0; i < pin->n; i++) {
        if (!pin->maps[i].addr) continue;
        munlock(pin->maps[i].addr, pin->maps[i].len);
        munmap(pin->maps[i].addr, pin->maps[i].len);
    }
    free(pin->maps);
    free(pin);
}

/* ---- prewarm ---- */

int prewarm(const struct prewarm_file *files, size_t n, const struct prewarm_opts *o,
            struct prewarm_stats *st, struct prewarm_pin **pin, char *err, size_t errlen)
{
    struct pw_cfg c;
    struct prewarm_stats s = {0};
    uint64_t t0 = loader_now_ns();
    if (pin) *pin = NULL;
    if (st) *st = s;
    if (err && errlen) err[0] = '\0';
    int rc = pw_cfg(o, &c, err, errlen);
    if (rc) return rc;
    if (!files && n) {
        loader_errf(err, errlen, "prewarm: files is NULL");
        return CUSTODY_EINVAL;
    }
    if (c.target == PREWARM_PINNED && !pin) {
        loader_errf(err, errlen, "prewarm: the pinned target needs a pin handle");
        return CUSTODY_EINVAL;
    }
    if (n > SIZE_MAX / sizeof(uint64_t) / 3) {
        loader_errf(err, errlen, "prewarm: too many files");
        return CUSTODY_EINVAL;
    }
    uint64_t *reg = calloc(n ? 3 * n : 1, sizeof *reg); /* size, begin, end per file */
    if (!reg) {
        loader_errf(err, errlen, "out of memory");
        return CUSTODY_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t *f = reg + 3 * i;
        f[1] = files[i].begin;
        f[2] = files[i].end;
        rc = pw_check_fd(files[i].fd, &f[0], err, errlen);
        if (rc == 0) rc = pw_region(f[0], f[1], &f[2], files[i].fd, err, errlen);
        if (rc == 0) {
            uint64_t res = 0;
            s.bytes += f[2] - f[1];
            rc = prewarm_resident(files[i].fd, f[1], f[2], &res, NULL, err, errlen);
            s.resident_before += res;
        }
    }
    struct pw_progress pg = {.fn = o ? o->progress : NULL,
                             .arg = o ? o->progress_arg : NULL,
                             .total = s.bytes,
                             .last_ns = loader_now_ns()};
    s.engine = c.engine;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t *f = reg + 3 * i;
        if (c.engine == PREWARM_ENGINE_POPULATE)
            rc = pw_warm_populate(files[i].fd, f[0], f[1], f[2], &c, &pg, err, errlen);
        else {
            int ran = c.engine;
            rc = pw_warm_read(files[i].fd, f[0], f[1], f[2], &c, &pg, &ran, err, errlen);
            s.engine = ran;
        }
        pg.base += f[2] - f[1];
    }
    struct prewarm_pin *h = NULL;
    if (rc == 0 && c.target == PREWARM_PINNED) {
        h = calloc(1, sizeof *h);
        if (h && n && !(h->maps = calloc(n, sizeof *h->maps))) {
            free(h);
            h = NULL;
        }
        if (!h) {
            loader_errf(err, errlen, "out of memory");
            rc = CUSTODY_ENOMEM;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            uint64_t *f = reg + 3 * i;
            rc = pw_pin_one(files[i].fd, f[1], f[2], &h->maps[i], err, errlen);
            h->n = i + 1;
            h->bytes += f[2] - f[1];
        }
        if (rc) {
            prewarm_unpin(h);
            h = NULL;
        }
    }
    /* Pages can go again before we look (reclaim, a balloon, another
     * process's drop_caches): one more populate pass fetches what is missing
     * (what is resident costs a page-table walk). */
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t *f = reg + 3 * i, res = 0;
        rc = prewarm_resident(files[i].fd, f[1], f[2], &res, NULL, err, errlen);
        if (rc == 0 && res < f[2] - f[1] && c.target == PREWARM_PAGE_CACHE) {
            struct pw_cfg again = c;
            again.depth = PREWARM_DEPTH_KERNEL;
            rc = pw_warm_populate(files[i].fd, f[0], f[1], f[2], &again, NULL, err, errlen);
            if (rc == 0) rc = prewarm_resident(files[i].fd, f[1], f[2], &res, NULL, err, errlen);
        }
        s.resident_after += res;
    }
    free(reg);
    if (rc) {
        prewarm_unpin(h);
        return rc;
    }
    pg.base = 0;
    pw_progress(&pg, s.bytes, 1);
    s.ns = loader_now_ns() - t0;
    if (st) *st = s;
    if (pin) *pin = h;
    return 0;
}

/* ---- the O_DIRECT reader ---- */

int prewarm_read_direct(int fd, uint64_t begin, uint64_t end, const struct prewarm_opts *o,
                        prewarm_block_fn cb, void *arg, struct prewarm_stats *st, char *err,
                        size_t errlen)
{
    struct pw_cfg c;
    struct prewarm_stats s = {0};
    uint64_t t0 = loader_now_ns(), fsize = 0;
    if (st) *st = s;
    if (err && errlen) err[0] = '\0';
    int rc = pw_cfg(o, &c, err, errlen);
    if (rc == 0) rc = pw_check_fd(fd, &fsize, err, errlen);
    if (rc == 0) rc = pw_region(fsize, begin, &end, fd, err, errlen);
    if (rc) return rc;
    uint64_t abegin = begin / PW_ALIGN * PW_ALIGN;
    uint64_t aend = (end + PW_ALIGN - 1) / PW_ALIGN * PW_ALIGN;
    int dfd = begin < end ? pw_reopen(fd, O_DIRECT) : -1;
    struct pw_progress pg = {.fn = o ? o->progress : NULL,
                             .arg = o ? o->progress_arg : NULL,
                             .total = begin < end ? (aend < fsize ? aend : fsize) - abegin : 0,
                             .last_ns = loader_now_ns()};
    struct pw_reader r = {
        .fd = dfd >= 0 ? dfd : fd,
        .direct = dfd >= 0,
        .fsize = fsize,
        .begin = abegin,
        .end = begin < end ? aend : abegin,
        .chunk = c.chunk,
        .depth = c.depth == PREWARM_DEPTH_KERNEL ? PW_DEF_DEPTH : c.depth,
        .threads = c.threads,
        .cb = cb,
        .arg = arg,
        .pg = &pg,
        .err = err,
        .errlen = errlen,
    };
    if (!r.direct && r.end > fsize) r.end = fsize;
    int ran = PREWARM_ENGINE_THREADS;
    rc = pw_read_region(&r, c.engine == PREWARM_ENGINE_THREADS, &ran);
    if (dfd >= 0) close(dfd);
    if (rc) return rc;
    pw_progress(&pg, pg.total, 1);
    s.bytes = pg.total;
    s.engine = ran;
    s.direct = r.direct;
    s.ns = loader_now_ns() - t0;
    if (st) *st = s;
    return 0;
}
