/*
 * log.c — the audit log: group commit, tiles, checkpoints, recovery.
 *
 * Three threads share the work (docs/ledger.md has the picture):
 *
 *   committer  takes every queued event (up to batch_max), writes them as one
 *              journal record, fdatasyncs, assigns leaf indices and hands
 *              completions to the owner's loop (eventfd) — one write and one
 *              flush per batch, however many requests wait on it;
 *   tiler      turns committed entries into tiles (full tiles as they fill,
 *              writeback started at once), and every checkpoint_interval
 *              writes the partial tiles, fsyncs what it wrote, signs and
 *              atomically replaces `checkpoint`;
 *   indexer    follows the checkpoint into the SQLite search index.
 *
 * The journal alternates between two files; one is reused only once a
 * checkpoint covers everything in it. Recovery = load the right edge of the
 * tree at the checkpoint, replay journaled entries past it, checkpoint.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"

#define LEVELS 8            /* tile levels 0..7 cover trees up to 2^64 */
#define UNSYNCED_MAX 512    /* tile fds kept for the checkpoint's fsync */
#define DIRS_MAX 32
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
    char last_mkdir[TLOG_PATH_MAX];
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
    bool ix_stop;

    struct tlog_tile_cache *cache;
    pthread_t th_commit, th_tile, th_index;
    bool threads;
};

static uint64_t now_ns(void)
{
    return util_monotonic_ns();
}

/* ---- timed waits (on the monotonic clock) ---- */

static void cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* Waits on cv (mu held) for at most ns nanoseconds. */
static void cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ns)
{
    uint64_t t = now_ns() + ns;
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- errors and health ---- */

static void set_failing(struct ledger *l, int rc, const char *what)
{
    atomic_fetch_add(&l->failures, 1);
    pthread_mutex_lock(&l->errmu);
    bool was = atomic_load(&l->healthy);
    snprintf(l->last_error, sizeof l->last_error, "%s: %s", what, custody_strerror(rc));
    pthread_mutex_unlock(&l->errmu);
    atomic_store(&l->healthy, false);
    if (was)
        log_error("AUDIT LOG FAILING: %s: %s — every request is refused until events can be "
                  "made durable again",
                  what, custody_strerror(rc));
}

static void set_healthy(struct ledger *l)
{
    if (!atomic_load(&l->healthy)) {
        atomic_store(&l->healthy, true);
        log_error("audit log recovered: events are durable again, service resumes");
        /* the tiler may be backing off after failed writes: retry now */
        pthread_mutex_lock(&l->tmu);
        l->ckpt_request = true;
        pthread_cond_signal(&l->tcv);
        pthread_mutex_unlock(&l->tmu);
    }
}

bool ledger_healthy(const struct ledger *l)
{
    return atomic_load(&((struct ledger *)l)->healthy);
}

/* ---- file helpers ---- */

static int write_all(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return custody_err_from_errno(errno);
        done += (size_t)n;
    }
    return 0;
}

/* mkdir -p of rel's parent under dirfd (cached: tiles come in order). */
static int sync_written(struct ledger *l);

/* Remembers that directory `dir` got a new name, for sync_written. */
static int note_dir(struct ledger *l, const char *dir)
{
    for (size_t i = 0; i < l->ndirs; i++)
        if (strcmp(l->dirs[i], dir) == 0)
            return 0;
    if (l->ndirs == DIRS_MAX) {
        int rc = sync_written(l);
        if (rc)
            return rc;
    }
    util_strlcpy(l->dirs[l->ndirs++], dir, TLOG_PATH_MAX);
    return 0;
}

/* mkdir -p of rel's parent under dirfd (cached: tiles come in order); the
 * parent of each directory made gets fsynced with the next checkpoint. */
static int mkdir_parent(struct ledger *l, const char *rel)
{
    char dir[TLOG_PATH_MAX];
    util_strlcpy(dir, rel, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    if (strcmp(dir, l->last_mkdir) == 0)
        return 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdirat(l->dirfd, dir, 0755) == 0) {
            char *up = strrchr(dir, '/');
            if (up) {
                *up = '\0';
                int rc = note_dir(l, dir);
                *up = '/';
                if (rc)
                    return rc;
            }
        } else if (errno != EEXIST) {
            return custody_err_from_errno(errno);
        }
        *p = c;
        if (!c)
            break;
    }
    util_strlcpy(l->last_mkdir, dir, sizeof l->last_mkdir);
    return 0;
}

static int sync_unsynced(struct ledger *l)
{
    int rc = 0;
    for (size_t i = 0; i < l->nunsynced; i++) {
        if (!rc && fsync(l->unsynced[i]) != 0)
            rc = custody_err_from_errno(errno);
        close(l->unsynced[i]);
    }
    l->nunsynced = 0;
    return rc;
}

/* Makes everything written since the last call durable: the tile files,
 * then the directories that got new names. */
static int sync_written(struct ledger *l)
{
    int rc = sync_unsynced(l);
    for (size_t i = 0; !rc && i < l->ndirs; i++) {
        int dfd = openat(l->dirfd, l->dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = custody_err_from_errno(errno);
        if (dfd >= 0)
            close(dfd);
    }
    if (!rc)
        l->ndirs = 0;
    return rc;
}

/* Writes a tile file (not yet durable: fsynced before the next checkpoint). */
static int write_tile(struct ledger *l, const char *rel, const void *data, size_t len)
{
    int rc = mkdir_parent(l, rel);
    if (rc)
        return rc;
    /* the file's name is new in its directory: fsync that with the file */
    char dir[TLOG_PATH_MAX];
    util_strlcpy(dir, rel, sizeof dir);
    *strrchr(dir, '/') = '\0';
    if ((rc = note_dir(l, dir)) != 0)
        return rc;
    int fd = openat(l->dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return custody_err_from_errno(errno);
    rc = write_all(fd, data, len);
    if (rc) {
        close(fd);
        return rc;
    }
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* start writeback now */
    if (l->nunsynced == UNSYNCED_MAX) {
        rc = sync_unsynced(l);
        if (rc) {
            close(fd);
            return rc;
        }
    }
    l->unsynced[l->nunsynced++] = fd;
    return 0;
}

/* ---- the tree's right edge ---- */

static int push_hash(struct ledger *l, unsigned level, const uint8_t h[TLOG_HASH_LEN]);

static int flush_full_tile(struct ledger *l, unsigned level)
{
    struct level_state *s = &l->lv[level];
    uint64_t count = tlog_level_count(l->tiled + 1, (int)level); /* after this leaf */
    uint64_t index = count / TLOG_TILE_WIDTH - 1;
    char path[TLOG_PATH_MAX];
    tlog_tile_path(path, sizeof path, (int)level, index, TLOG_TILE_WIDTH);
    int rc = write_tile(l, path, s->hashes, sizeof s->hashes);
    if (rc)
        return rc;
    uint8_t root[TLOG_HASH_LEN];
    tlog_hash_range((const uint8_t(*)[TLOG_HASH_LEN])s->hashes, TLOG_TILE_WIDTH, root);
    s->n = 0;
    if (level + 1 >= LEVELS)
        return CUSTODY_EINTERNAL;
    return push_hash(l, level + 1, root);
}

static int push_hash(struct ledger *l, unsigned level, const uint8_t h[TLOG_HASH_LEN])
{
    struct level_state *s = &l->lv[level];
    memcpy(s->hashes[s->n++], h, TLOG_HASH_LEN);
    return s->n == TLOG_TILE_WIDTH ? flush_full_tile(l, level) : 0;
}

/* Adds one entry at index l->tiled. On error the in-memory state may have
 * advanced past files that were not written: the caller stops tiling
 * (recovery from the journal rewrites them). */
static int add_entry(struct ledger *l, const uint8_t *e, size_t len)
{
    int rc = tlog_bundle_append(&l->ebuf, e, len);
    if (rc)
        return rc;
    l->ecount++;
    if (l->ecount == TLOG_TILE_WIDTH) {
        char path[TLOG_PATH_MAX];
        tlog_tile_path(path, sizeof path, TLOG_LEVEL_ENTRIES, l->tiled / TLOG_TILE_WIDTH,
                       TLOG_TILE_WIDTH);
        rc = write_tile(l, path, l->ebuf.buf, l->ebuf.len);
        if (rc)
            return rc;
        sb_reset(&l->ebuf);
        l->ecount = 0;
    }
    uint8_t h[TLOG_HASH_LEN];
    tlog_leaf_hash(e, len, h);
    rc = push_hash(l, 0, h);
    if (!rc)
        l->tiled++;
    return rc;
}

/* Adds the entries of a journal payload whose indices are in
 * [l->tiled, limit): earlier ones are already in the tree (a replay
 * overlapping what was tiled), later ones were never made durable (a record
 * whose fdatasync failed may still be in the file; its requests were
 * refused, and its indices will be given to other events). */
static int add_payload(struct ledger *l, uint64_t first, const uint8_t *p, size_t len,
                       uint64_t limit)
{
    size_t off = 0, elen;
    const uint8_t *e;
    uint64_t idx = first;
    int rc;
    while ((rc = tlog_bundle_next(p, len, &off, &e, &elen)) == 0) {
        if (idx >= limit)
            return 0;
        if (idx++ < l->tiled)
            continue;
        if (idx - 1 != l->tiled)
            return CUSTODY_ECORRUPT;
        rc = add_entry(l, e, elen);
        if (rc)
            return rc;
    }
    return rc == 1 ? 0 : rc;
}

/* Root of the tree of l->tiled leaves from the right edge. */
static void edge_root(struct ledger *l, uint8_t out[TLOG_HASH_LEN])
{
    const uint8_t(*hashes[LEVELS])[TLOG_HASH_LEN];
    unsigned counts[LEVELS];
    for (unsigned lv = 0; lv < LEVELS; lv++) {
        hashes[lv] = (const uint8_t(*)[TLOG_HASH_LEN])l->lv[lv].hashes;
        counts[lv] = l->lv[lv].n;
    }
    tlog_edge_root(hashes, counts, LEVELS, out);
}

/* ---- checkpoints ---- */

static bool in_set(const struct partial_set *s, const char *p)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->paths[i], p) == 0)
            return true;
    return false;
}

static void remove_partial(struct ledger *l, const char *path)
{
    unlinkat(l->dirfd, path, 0);
    char dir[TLOG_PATH_MAX];
    util_strlcpy(dir, path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        unlinkat(l->dirfd, dir, AT_REMOVEDIR); /* fails while other widths remain */
    }
}

/* Atomically replaces STATE/ledger/checkpoint with note. */
static int write_checkpoint_file(struct ledger *l, const char *note, size_t len)
{
    int fd = openat(l->dirfd, "checkpoint.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return custody_err_from_errno(errno);
    int rc = write_all(fd, note, len);
    if (!rc && fsync(fd) != 0)
        rc = custody_err_from_errno(errno);
    close(fd);
    if (!rc && renameat(l->dirfd, "checkpoint.tmp", l->dirfd, "checkpoint") != 0)
        rc = custody_err_from_errno(errno);
    if (!rc && fsync(l->dirfd) != 0)
        rc = custody_err_from_errno(errno);
    return rc;
}

/* Publishes a checkpoint at l->tiled. */
static int checkpoint(struct ledger *l)
{
    uint64_t n = l->tiled;
    struct partial_set cur = {0};
    int rc = 0;
    char path[TLOG_PATH_MAX];
    if (l->ecount) {
        tlog_tile_path(path, sizeof path, TLOG_LEVEL_ENTRIES, n / TLOG_TILE_WIDTH, l->ecount);
        util_strlcpy(cur.paths[cur.n++], path, TLOG_PATH_MAX);
        if (!in_set(&l->hist[0], path))
            rc = write_tile(l, path, l->ebuf.buf, l->ebuf.len);
    }
    for (unsigned lv = 0; !rc && lv < LEVELS; lv++) {
        uint64_t count = tlog_level_count(n, (int)lv);
        if (count == 0)
            break;
        unsigned w = (unsigned)(count % TLOG_TILE_WIDTH);
        if (!w)
            continue;
        tlog_tile_path(path, sizeof path, (int)lv, count / TLOG_TILE_WIDTH, w);
        util_strlcpy(cur.paths[cur.n++], path, TLOG_PATH_MAX);
        if (!in_set(&l->hist[0], path))
            rc = write_tile(l, path, l->lv[lv].hashes, (size_t)w * TLOG_HASH_LEN);
    }
    if (!rc)
        rc = sync_written(l);
    if (rc)
        return rc;

    struct tlog_checkpoint cp = {.size = n};
    util_strlcpy(cp.origin, l->origin, sizeof cp.origin);
    edge_root(l, cp.root);
    struct strbuf body = {0}, note = {0};
    const struct tlog_key *keys[1] = {&l->key};
    rc = tlog_checkpoint_format(&cp, &body);
    if (!rc)
        rc = tlog_note_sign(body.buf, body.len, keys, 1, 0, &note);
    pthread_mutex_lock(&l->cwmu);
    if (!rc)
        rc = write_checkpoint_file(l, note.buf, note.len);
    if (!rc) {
        pthread_mutex_lock(&l->ckmu);
        sb_reset(&l->note);
        sb_append(&l->note, note.buf, note.len);
        l->cp = cp;
        atomic_store(&l->ckpt_size, n);
        pthread_cond_broadcast(&l->ckcv);
        pthread_mutex_unlock(&l->ckmu);
    }
    pthread_mutex_unlock(&l->cwmu);
    if (!rc) {
        /* drop partials no longer named by this or the previous checkpoint
         * (readers that started under the previous one may still want them) */
        for (size_t i = 0; i < l->hist[HIST - 1].n; i++) {
            const char *p = l->hist[HIST - 1].paths[i];
            if (!in_set(&cur, p) && !in_set(&l->hist[0], p) && !in_set(&l->hist[1], p))
                remove_partial(l, p);
        }
        memmove(&l->hist[1], &l->hist[0], sizeof l->hist[0] * (HIST - 1));
        l->hist[0] = cur;
        l->last_ckpt_ns = now_ns();
        if (l->hook)
            l->hook(l->hook_arg, note.buf, note.len, n);
    }
    sb_free(&body);
    sb_free(&note);
    return rc;
}

/* Removes every partial not named by the current checkpoint (a clean close,
 * or recovery after a crash left older ones). */
static void prune_partials(struct ledger *l)
{
    for (size_t h = 1; h < HIST; h++)
        for (size_t i = 0; i < l->hist[h].n; i++)
            if (!in_set(&l->hist[0], l->hist[h].paths[i]))
                remove_partial(l, l->hist[h].paths[i]);
    for (size_t h = 1; h < HIST; h++)
        l->hist[h].n = 0;
}

/* Recovery: scans the .p directories near the right edge of each level and
 * removes partial tiles of other widths than the checkpoint's. */
static void prune_stale_partials(struct ledger *l)
{
    uint64_t n = l->tiled;
    for (int lv = TLOG_LEVEL_ENTRIES; lv < LEVELS; lv++) {
        uint64_t count = tlog_level_count(n, lv);
        uint64_t last = count / TLOG_TILE_WIDTH;
        /* tiles completed since older partials were written: look back a
         * bounded way (a crash leaves at most a few checkpoints' worth) */
        uint64_t lo = last > 64 ? last - 64 : 0;
        for (uint64_t t = lo; t <= last; t++) {
            char dir[TLOG_PATH_MAX];
            tlog_tile_path(dir, sizeof dir, lv, t, 1);
            *strrchr(dir, '/') = '\0';
            int dfd = openat(l->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0)
                continue;
            DIR *d = fdopendir(dfd);
            if (!d) {
                close(dfd);
                continue;
            }
            unsigned keep = tlog_tile_width(n, lv, t);
            struct dirent *de;
            char names[256][8];
            size_t nn = 0;
            while ((de = readdir(d)) && nn < 256) {
                uint64_t w;
                if (de->d_name[0] == '.')
                    continue;
                if (util_parse_u64(de->d_name, strlen(de->d_name), &w) == 0 && w == keep &&
                    t == last)
                    continue;
                util_strlcpy(names[nn++], de->d_name, sizeof names[0]);
            }
            closedir(d);
            for (size_t i = 0; i < nn; i++) {
                char p[TLOG_PATH_MAX + 16];
                if (snprintf(p, sizeof p, "%s/%.7s", dir, names[i]) < (int)sizeof p)
                    unlinkat(l->dirfd, p, 0);
            }
            unlinkat(l->dirfd, dir, AT_REMOVEDIR);
        }
    }
}

/* ---- committer ---- */

static int journal_write(struct ledger *l, uint64_t first, uint32_t count, const void *payload,
                         size_t len)
{
    uint8_t hdr[JOURNAL_HDR], trailer[JOURNAL_TRAILER];
    journal_frame(first, count, payload, len, hdr, trailer);
    struct iovec iov[3] = {{hdr, sizeof hdr}, {(void *)payload, len}, {trailer, sizeof trailer}};
    size_t total = sizeof hdr + len + sizeof trailer, done = 0;
    int fd = l->jfd[l->jactive];
    while (done < total) {
        ssize_t n = pwritev(fd, iov, 3, (off_t)(l->joff + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return custody_err_from_errno(errno);
        if (n == 0)
            return CUSTODY_EIO;
        /* short write (rare): advance the iovecs */
        done += (size_t)n;
        size_t skip = (size_t)n;
        for (int i = 0; i < 3; i++) {
            size_t t = skip < iov[i].iov_len ? skip : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + t;
            iov[i].iov_len -= t;
            skip -= t;
        }
    }
    if (fdatasync(fd) != 0) {
        int err = custody_err_from_errno(errno);
        /* best effort: unmake the record, so that a restart before the
         * next good write at this offset does not take it for committed */
        static const uint8_t zero[JOURNAL_HDR];
        ssize_t w = pwrite(fd, zero, sizeof zero, (off_t)l->joff);
        (void)w;
        return err;
    }
    l->joff += total;
    l->jlast[l->jactive] = first + count;
    return 0;
}

/* Before writing a record of `len` payload bytes: switch files when the
 * active one is past rotate_bytes and the other is covered by a checkpoint;
 * wait for one when the active file reaches four times that. */
static void journal_rotate(struct ledger *l, size_t len)
{
    if (l->joff == 0 || l->joff + len < l->rotate_bytes)
        return;
    int other = 1 - l->jactive;
    for (;;) {
        uint64_t ck = atomic_load(&l->ckpt_size);
        if (l->jlast[other] <= ck) {
            l->jactive = other;
            l->joff = 0;
            return;
        }
        if (l->joff + len < 4 * l->rotate_bytes)
            return;
        /* ask for a checkpoint and wait for it */
        pthread_mutex_lock(&l->tmu);
        l->ckpt_request = true;
        pthread_cond_signal(&l->tcv);
        pthread_mutex_unlock(&l->tmu);
        pthread_mutex_lock(&l->ckmu);
        if (atomic_load(&l->ckpt_size) < l->jlast[other])
            cond_wait_ns(&l->ckcv, &l->ckmu, 100 * 1000000ull);
        pthread_mutex_unlock(&l->ckmu);
        if (atomic_load(&l->ckpt_size) < l->jlast[other] && l->ckpt_failing)
            set_failing(l, CUSTODY_EIO, "journal full: checkpoints are failing");
    }
}

static void complete(struct ledger *l, struct pending *batch)
{
    bool async = false, sync = false;
    pthread_mutex_lock(&l->cmu);
    for (struct pending *p = batch, *next; p; p = next) {
        next = p->next;
        if (p->sync) {
            p->done = true;
            sync = true;
        } else {
            p->next = NULL;
            *l->ctail = p;
            l->ctail = &p->next;
            async = true;
        }
    }
    if (sync)
        pthread_cond_broadcast(&l->ccv);
    pthread_mutex_unlock(&l->cmu);
    if (async) {
        uint64_t one = 1;
        ssize_t w = write(l->efd, &one, sizeof one);
        (void)w;
    }
}

/* While the journal fails: every 100 ms..1 s, write and flush 64 KiB of
 * zeros where the next record goes (room for a real batch; zeros never pass
 * for a record), until it works or the ledger stops. */
static void journal_probe_until_healthy(struct ledger *l)
{
    static const uint8_t zeros[65536];
    unsigned backoff_ms = 100;
    for (;;) {
        pthread_mutex_lock(&l->qmu);
        bool stop = l->stopping;
        pthread_mutex_unlock(&l->qmu);
        if (stop)
            return;
        struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
        int fd = l->jfd[l->jactive];
        ssize_t w = pwrite(fd, zeros, sizeof zeros, (off_t)l->joff);
        if (w == (ssize_t)sizeof zeros && fdatasync(fd) == 0) {
            set_healthy(l);
            return;
        }
        atomic_fetch_add(&l->failures, 1);
    }
}

static void *committer_main(void *arg)
{
    struct ledger *l = arg;
    pthread_setname_np(pthread_self(), "audit-commit");
    struct strbuf payload = {0};
    for (;;) {
        pthread_mutex_lock(&l->qmu);
        while (!l->qhead && !l->stopping)
            pthread_cond_wait(&l->qcv, &l->qmu);
        if (!l->qhead) {
            pthread_mutex_unlock(&l->qmu);
            break;
        }
        struct pending *batch = l->qhead, *last = batch;
        size_t n = 1;
        while (last->next && n < l->batch_max) {
            last = last->next;
            n++;
        }
        l->qhead = last->next;
        if (!l->qhead)
            l->qtail = &l->qhead;
        last->next = NULL;
        pthread_mutex_unlock(&l->qmu);

        sb_reset(&payload);
        for (struct pending *p = batch; p; p = p->next)
            tlog_bundle_append(&payload, p->data, p->len);
        uint64_t first = l->next_index;
        journal_rotate(l, payload.len);
        int rc = journal_write(l, first, (uint32_t)n, payload.buf, payload.len);
        if (rc) {
            /* fail closed: these events are not durable, so their requests
             * are refused; new ones are refused until a probe write works */
            set_failing(l, rc, "cannot write the audit journal");
            pthread_mutex_lock(&l->qmu);
            struct pending *rest = l->qhead;
            l->qhead = NULL;
            l->qtail = &l->qhead;
            pthread_mutex_unlock(&l->qmu);
            last->next = rest;
            for (struct pending *p = batch; p; p = p->next)
                p->rc = CUSTODY_EAUDIT;
            complete(l, batch);
            journal_probe_until_healthy(l);
            continue;
        }
        set_healthy(l);
        l->next_index += n;
        atomic_store(&l->durable, l->next_index);
        atomic_fetch_add(&l->batches, 1);
        uint64_t idx = first;
        for (struct pending *p = batch; p; p = p->next)
            p->index = idx++;
        struct tbatch *tb = util_calloc(1, sizeof *tb);
        tb->first = first;
        tb->count = (uint32_t)n;
        tb->len = payload.len;
        tb->payload = sb_detach(&payload);
        pthread_mutex_lock(&l->tmu);
        *l->ttail = tb;
        l->ttail = &tb->next;
        pthread_cond_signal(&l->tcv);
        pthread_mutex_unlock(&l->tmu);
        complete(l, batch);
    }
    sb_free(&payload);
    return NULL;
}

/* ---- tiler ---- */

static int load_edge(struct ledger *l, struct strbuf *err);
static int replay_journal(struct ledger *l, struct strbuf *err, uint64_t limit);

/*
 * After a failed tile write or checkpoint (disk full, I/O error, read-only
 * file system) the in-memory right edge may be ahead of what is on disk.
 * Start over from the published checkpoint and the journal, which holds
 * every event past it (a journal file is reused only once a checkpoint
 * covers it), rewriting the tiles past the checkpoint.
 */
static int tiler_reset(struct ledger *l)
{
    for (size_t i = 0; i < l->nunsynced; i++)
        close(l->unsynced[i]);
    l->nunsynced = 0;
    l->last_mkdir[0] = '\0'; /* (dirs[] stays: those still need their fsync) */
    for (unsigned lv = 0; lv < LEVELS; lv++)
        l->lv[lv].n = 0;
    sb_reset(&l->ebuf);
    l->ecount = 0;
    l->hist[0].n = 0;
    int rc = load_edge(l, NULL);
    if (!rc)
        rc = replay_journal(l, NULL, atomic_load(&l->durable));
    return rc;
}

static void *tiler_main(void *arg)
{
    struct ledger *l = arg;
    pthread_setname_np(pthread_self(), "audit-tiler");
    bool broken = false; /* the right edge must be rebuilt before going on */
    uint64_t retry_at = 0, backoff_ms = 200;
    for (;;) {
        pthread_mutex_lock(&l->tmu);
        for (;;) {
            uint64_t due = l->last_ckpt_ns + (uint64_t)l->interval_ms * 1000000;
            if (broken && !l->ckpt_request)
                due = retry_at;
            bool pending_ck = broken || l->tiled > atomic_load(&l->ckpt_size);
            if (l->thead || l->tiler_stop || (pending_ck && (l->ckpt_request || now_ns() >= due)))
                break;
            if (!pending_ck && l->ckpt_request)
                l->ckpt_request = false;
            uint64_t wait_ns = pending_ck && due > now_ns() ? due - now_ns() : 1000000000ull;
            cond_wait_ns(&l->tcv, &l->tmu, wait_ns);
        }
        struct tbatch *list = l->thead;
        l->thead = NULL;
        l->ttail = &l->thead;
        bool stop = l->tiler_stop, req = l->ckpt_request;
        pthread_mutex_unlock(&l->tmu);

        for (struct tbatch *tb = list, *next; tb; tb = next) {
            next = tb->next;
            /* while broken, batches are dropped: the reset replays them
             * from the journal */
            if (!broken) {
                int rc = add_payload(l, tb->first, (const uint8_t *)tb->payload, tb->len,
                                     UINT64_MAX);
                if (rc) {
                    broken = true;
                    retry_at = now_ns() + 200 * 1000000ull;
                    if (!l->ckpt_failing)
                        log_error("AUDIT LOG: cannot write tiles (%s); events stay durable in "
                                  "the journal, retrying",
                                  custody_strerror(rc));
                    l->ckpt_failing = true;
                }
            }
            free(tb->payload);
            free(tb);
        }
        if (broken && (now_ns() >= retry_at || stop || req)) {
            if (tiler_reset(l) == 0) {
                broken = false;
                req = true; /* checkpoint what was rebuilt at once */
            } else {
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                retry_at = now_ns() + backoff_ms * 1000000ull;
            }
        }
        uint64_t due = l->last_ckpt_ns + (uint64_t)l->interval_ms * 1000000;
        if (!broken && l->tiled > atomic_load(&l->ckpt_size) &&
            (req || stop || now_ns() >= due)) {
            int rc = checkpoint(l);
            if (rc) {
                if (!l->ckpt_failing)
                    log_error("AUDIT LOG: cannot publish a checkpoint: %s (retrying)",
                              custody_strerror(rc));
                l->ckpt_failing = true;
                broken = true; /* what was written since may not be durable */
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                retry_at = now_ns() + backoff_ms * 1000000ull;
            } else {
                if (l->ckpt_failing)
                    log_error("audit log: checkpoints are published again");
                l->ckpt_failing = false;
                backoff_ms = 200;
                pthread_mutex_lock(&l->tmu);
                l->ckpt_request = false;
                pthread_mutex_unlock(&l->tmu);
            }
        }
        if (stop) {
            pthread_mutex_lock(&l->tmu);
            bool empty = !l->thead;
            pthread_mutex_unlock(&l->tmu);
            if (empty && (broken || l->tiled == atomic_load(&l->ckpt_size)))
                break;
        }
    }
    if (!broken && !l->ckpt_failing)
        prune_partials(l);
    if (!broken)
        sync_unsynced(l);
    return NULL;
}

/* ---- indexer ---- */

static void index_catch_up(struct ledger *l, uint64_t target)
{
    struct strbuf bundle = {0};
    pthread_mutex_lock(&l->ixmu);
    uint64_t at = ledger_index_size(l->ix);
    while (at < target) {
        uint64_t first;
        sb_reset(&bundle);
        if (tile_read_bundle(l->dirfd, target, at, &bundle, &first) != 0)
            break;
        const uint8_t *ents[TLOG_TILE_WIDTH];
        size_t lens[TLOG_TILE_WIDTH], n = 0, off = 0, elen;
        const uint8_t *e;
        while (n < TLOG_TILE_WIDTH &&
               tlog_bundle_next((const uint8_t *)bundle.buf, bundle.len, &off, &e, &elen) == 0) {
            ents[n] = e;
            lens[n++] = elen;
        }
        if (first + n <= at || ledger_index_add(l->ix, first, ents, lens, n) != 0)
            break;
        at = ledger_index_size(l->ix);
    }
    pthread_mutex_unlock(&l->ixmu);
    sb_free(&bundle);
}

static void *indexer_main(void *arg)
{
    struct ledger *l = arg;
    pthread_setname_np(pthread_self(), "audit-index");
    /* the index is derived and searches catch it up themselves: it runs
     * only on otherwise idle CPU, never ahead of requests */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    for (;;) {
        pthread_mutex_lock(&l->ckmu);
        while (!l->ix_stop && atomic_load(&l->ckpt_size) <= ledger_index_size(l->ix))
            pthread_cond_wait(&l->ckcv, &l->ckmu);
        bool stop = l->ix_stop;
        uint64_t target = atomic_load(&l->ckpt_size);
        pthread_mutex_unlock(&l->ckmu);
        if (stop)
            break;
        index_catch_up(l, target);
        /* a failing index must not spin */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int ledger_search(struct ledger *l, const struct ledger_query *q, uint64_t **out, size_t *n)
{
    if (!l->ix)
        return CUSTODY_EUNAVAIL;
    index_catch_up(l, atomic_load(&l->ckpt_size));
    pthread_mutex_lock(&l->ixmu);
    int rc = ledger_index_search(l->ix, q, out, n);
    pthread_mutex_unlock(&l->ixmu);
    return rc;
}

/* ---- open / recover / close ---- */

static int fail(struct strbuf *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct strbuf *err, int rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        sb_vprintf(err, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int load_checkpoint(struct ledger *l, struct strbuf *err)
{
    struct strbuf sb = {0};
    int rc = tile_read_file(l->dirfd, "checkpoint", &sb, TLOG_NOTE_MAX);
    if (rc == CUSTODY_ENOENT) {
        sb_free(&sb);
        return 1; /* a new log */
    }
    struct tlog_note note;
    struct tlog_checkpoint cp;
    if (!rc)
        rc = tlog_note_parse(sb.buf, sb.len, &note);
    if (!rc)
        rc = tlog_note_verify(&note, &l->key, 1);
    if (!rc)
        rc = tlog_checkpoint_parse(note.text, note.text_len, &cp);
    if (rc) {
        sb_free(&sb);
        return fail(err, CUSTODY_ECORRUPT,
                    "%s/checkpoint: not a checkpoint signed by this node's key (%s)", l->dir,
                    custody_strerror(rc));
    }
    if (strcmp(cp.origin, l->origin) != 0) {
        sb_free(&sb);
        return fail(err, CUSTODY_ECONFIG,
                    "the audit log's origin is \"%s\" but the configuration says \"%s\"",
                    cp.origin, l->origin);
    }
    l->cp = cp;
    sb_append(&l->note, sb.buf, sb.len);
    sb_free(&sb);
    return 0;
}

/* Loads the right edge of the tree at l->cp.size from its tiles. */
static int load_edge(struct ledger *l, struct strbuf *err)
{
    uint64_t n = l->cp.size;
    struct tile_reader tr = {l->dirfd, n};
    for (unsigned lv = 0; lv < LEVELS; lv++) {
        uint64_t count = tlog_level_count(n, (int)lv);
        if (count == 0)
            break;
        unsigned w = (unsigned)(count % TLOG_TILE_WIDTH);
        if (!w)
            continue;
        int rc = tile_read_hashes(&tr, lv, count - w, w, l->lv[lv].hashes);
        if (rc)
            return fail(err, CUSTODY_ECORRUPT, "%s: a tile the checkpoint needs is missing or "
                        "damaged (%s); run custody audit verify", l->dir, custody_strerror(rc));
        l->lv[lv].n = w;
    }
    l->ecount = (unsigned)(n % TLOG_TILE_WIDTH);
    if (l->ecount) {
        uint64_t first;
        int rc = tile_read_bundle(l->dirfd, n, n - 1, &l->ebuf, &first);
        size_t off = 0, elen, k = 0;
        const uint8_t *e;
        while (!rc && tlog_bundle_next((const uint8_t *)l->ebuf.buf, l->ebuf.len, &off, &e, &elen) == 0) {
            uint8_t h[TLOG_HASH_LEN];
            tlog_leaf_hash(e, elen, h);
            if (k >= l->ecount || memcmp(h, l->lv[0].hashes[k], TLOG_HASH_LEN) != 0)
                rc = CUSTODY_ECORRUPT;
            k++;
        }
        if (!rc && (k != l->ecount || off != l->ebuf.len))
            rc = CUSTODY_ECORRUPT;
        if (rc)
            return fail(err, CUSTODY_ECORRUPT, "%s: the last entry bundle is missing or does not "
                        "match its hashes (%s); run custody audit verify", l->dir,
                        custody_strerror(rc));
    }
    l->tiled = n;
    uint8_t root[TLOG_HASH_LEN];
    edge_root(l, root);
    if (memcmp(root, l->cp.root, TLOG_HASH_LEN) != 0)
        return fail(err, CUSTODY_ECORRUPT, "%s: tiles do not match the checkpoint's root; run "
                    "custody audit verify", l->dir);
    /* the partial tiles the checkpoint names are the current set */
    char path[TLOG_PATH_MAX];
    if (l->ecount) {
        tlog_tile_path(path, sizeof path, TLOG_LEVEL_ENTRIES, n / TLOG_TILE_WIDTH, l->ecount);
        util_strlcpy(l->hist[0].paths[l->hist[0].n++], path, TLOG_PATH_MAX);
    }
    for (unsigned lv = 0; lv < LEVELS && l->lv[lv].n; lv++) {
        tlog_tile_path(path, sizeof path, (int)lv, tlog_level_count(n, (int)lv) / TLOG_TILE_WIDTH,
                       l->lv[lv].n);
        util_strlcpy(l->hist[0].paths[l->hist[0].n++], path, TLOG_PATH_MAX);
    }
    return 0;
}

/* Replays journaled entries from l->tiled up to (not including) limit:
 * UINT64_MAX when opening (every whole record is taken: none was
 * acknowledged unless it was durable), the committed size when the tiler
 * rebuilds in a running process (past it, a record may be one whose
 * fdatasync failed, whose requests were refused). */
static int replay_journal(struct ledger *l, struct strbuf *err, uint64_t limit)
{
    struct journal_rec *recs[2];
    size_t nrec[2];
    for (int i = 0; i < 2; i++) {
        int rc = journal_scan(l->jfd[i], &recs[i], &nrec[i]);
        if (rc) {
            if (i)
                journal_recs_free(recs[0], nrec[0]);
            return fail(err, rc, "%s: cannot read the journal: %s", l->dir, custody_strerror(rc));
        }
    }
    int rc = 0;
    size_t pos[2] = {0, 0};
    uint64_t replayed = 0, start = l->tiled;
    while (l->tiled < limit) {
        /* the record (in either file) that holds index l->tiled */
        struct journal_rec *r = NULL;
        for (int i = 0; i < 2 && !r; i++)
            for (size_t k = pos[i]; k < nrec[i]; k++)
                if (recs[i][k].first <= l->tiled && l->tiled < recs[i][k].first + recs[i][k].count) {
                    r = &recs[i][k];
                    pos[i] = k + 1;
                    break;
                }
        if (!r)
            break;
        uint64_t before = l->tiled;
        rc = add_payload(l, r->first, r->payload, r->len, limit);
        if (rc || l->tiled == before)
            break;
        replayed = l->tiled - start;
    }
    journal_recs_free(recs[0], nrec[0]);
    journal_recs_free(recs[1], nrec[1]);
    if (rc)
        return fail(err, rc, "%s: replaying the journal: %s", l->dir, custody_strerror(rc));
    if (replayed && err) /* (quiet when the tiler rebuilds after a failure) */
        log_info("audit log: recovered %llu journaled event(s) past the checkpoint",
                 (unsigned long long)replayed);
    return 0;
}

int ledger_open(const struct ledger_opts *o, struct ledger **out, struct strbuf *err)
{
    struct ledger *l = util_calloc(1, sizeof *l);
    l->dirfd = l->efd = -1;
    l->jfd[0] = l->jfd[1] = -1;
    l->dir = util_strdup(o->dir);
    util_strlcpy(l->origin, o->origin, sizeof l->origin);
    l->key = *o->key;
    if (o->privacy) {
        l->privacy = *o->privacy;
        l->has_privacy = true;
    }
    l->interval_ms = o->checkpoint_interval_ms ? o->checkpoint_interval_ms : 500;
    l->batch_max = o->batch_max ? o->batch_max : 8192;
    l->rotate_bytes = o->journal_rotate_bytes ? o->journal_rotate_bytes : (16u << 20);
    l->no_index = o->no_index;
    l->qtail = &l->qhead;
    l->ctail = &l->chead;
    l->ttail = &l->thead;
    atomic_store(&l->healthy, true);
    pthread_mutex_init(&l->qmu, NULL);
    cond_init(&l->qcv);
    pthread_mutex_init(&l->errmu, NULL);
    pthread_mutex_init(&l->cmu, NULL);
    cond_init(&l->ccv);
    pthread_mutex_init(&l->tmu, NULL);
    cond_init(&l->tcv);
    pthread_mutex_init(&l->ckmu, NULL);
    cond_init(&l->ckcv);
    pthread_mutex_init(&l->cwmu, NULL);
    pthread_mutex_init(&l->ixmu, NULL);
    l->cache = tlog_tile_cache_new(8192); /* 16 KiB a tile, allocated lazily (calloc -> mmap): room for every level-0 tile of a 2M-event log */
    *out = NULL;

    int rc = 0;
    if (!tlog_name_valid(l->origin, strlen(l->origin))) {
        rc = fail(err, CUSTODY_ECONFIG, "audit origin \"%s\" is not a valid note name",
                  l->origin);
        goto fail;
    }
    if (util_mkdir_p(l->dir, 0755) != 0 ||
        (l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = fail(err, custody_err_from_errno(errno), "%s: %s", l->dir, strerror(errno));
        goto fail;
    }
    if (mkdirat(l->dirfd, "tile", 0755) != 0 && errno != EEXIST) {
        rc = fail(err, custody_err_from_errno(errno), "%s/tile: %s", l->dir, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "journal.%d", i);
        l->jfd[i] = openat(l->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (l->jfd[i] < 0) {
            rc = fail(err, custody_err_from_errno(errno), "%s/%s", l->dir, name);
            goto fail;
        }
    }
    rc = load_checkpoint(l, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        rc = load_edge(l, err);
        if (rc)
            goto fail;
    }
    rc = replay_journal(l, err, UINT64_MAX);
    if (rc)
        goto fail;
    if (l->tiled > l->cp.size || l->note.len == 0) {
        rc = checkpoint(l); /* covers the replayed events (or starts a new log at 0) */
        if (rc) {
            rc = fail(err, rc, "%s: cannot publish a checkpoint: %s", l->dir, custody_strerror(rc));
            goto fail;
        }
    }
    atomic_store(&l->ckpt_size, l->tiled);
    prune_stale_partials(l);
    /* Zero-fill each journal file up to rotate_bytes once: a commit then
     * overwrites allocated blocks, so its fdatasync needs no file-system
     * journal commit and does not wait for other files' dirty data (tiles). */
    for (int i = 0; i < 2; i++) {
        struct stat jst;
        if (fstat(l->jfd[i], &jst) != 0)
            continue;
        static const uint8_t zeros[1 << 16];
        for (uint64_t off = (uint64_t)jst.st_size; off < l->rotate_bytes; off += sizeof zeros)
            if (pwrite(l->jfd[i], zeros, sizeof zeros, (off_t)off) != (ssize_t)sizeof zeros)
                break; /* (a full disk shows up again on the first commit) */
    }
    for (int i = 0; i < 2; i++)
        if (fsync(l->jfd[i]) != 0) { /* make the journal files' existence durable */
            rc = fail(err, custody_err_from_errno(errno), "%s: journal: %s", l->dir,
                      strerror(errno));
            goto fail;
        }
    fsync(l->dirfd);
    l->next_index = l->tiled;
    atomic_store(&l->durable, l->tiled);
    l->jactive = 0;
    l->joff = 0;
    l->jlast[0] = l->jlast[1] = 0; /* everything journaled is under the checkpoint */
    l->last_ckpt_ns = now_ns();
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        rc = fail(err, CUSTODY_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (!l->no_index) {
        char ipath[4096];
        snprintf(ipath, sizeof ipath, "%s/index.db", l->dir);
        if (ledger_index_open(ipath, l->origin, &l->ix) != 0) {
            log_warn("audit log: cannot open the search index %s; searching is unavailable",
                     ipath);
            l->ix = NULL;
        } else if (ledger_index_size(l->ix) > l->tiled) {
            /* an index ahead of the log belongs to another history */
            ledger_index_close(l->ix);
            unlink(ipath);
            if (ledger_index_open(ipath, l->origin, &l->ix) != 0)
                l->ix = NULL;
        }
    }
    if (pthread_create(&l->th_commit, NULL, committer_main, l) != 0 ||
        pthread_create(&l->th_tile, NULL, tiler_main, l) != 0 ||
        (l->ix && pthread_create(&l->th_index, NULL, indexer_main, l) != 0)) {
        rc = fail(err, CUSTODY_EINTERNAL, "cannot start the ledger threads");
        goto fail; /* (a partial start is not recoverable here; abort-level) */
    }
    l->threads = true;
    *out = l;
    return 0;
fail:
    ledger_close(l);
    return rc;
}

void ledger_close(struct ledger *l)
{
    if (!l)
        return;
    if (l->threads) {
        pthread_mutex_lock(&l->qmu);
        l->stopping = true;
        pthread_cond_broadcast(&l->qcv);
        pthread_mutex_unlock(&l->qmu);
        pthread_join(l->th_commit, NULL);
        pthread_mutex_lock(&l->tmu);
        l->tiler_stop = true;
        pthread_cond_broadcast(&l->tcv);
        pthread_mutex_unlock(&l->tmu);
        pthread_join(l->th_tile, NULL);
        if (l->ix) {
            pthread_mutex_lock(&l->ckmu);
            l->ix_stop = true;
            pthread_cond_broadcast(&l->ckcv);
            pthread_mutex_unlock(&l->ckmu);
            pthread_join(l->th_index, NULL);
        }
        ledger_dispatch(l); /* run what completed */
    }
    if (l->ix)
        ledger_index_close(l->ix);
    for (struct tbatch *tb = l->thead, *next; tb; tb = next) {
        next = tb->next;
        free(tb->payload);
        free(tb);
    }
    for (size_t i = 0; i < l->nunsynced; i++)
        close(l->unsynced[i]);
    for (int i = 0; i < 2; i++)
        if (l->jfd[i] >= 0)
            close(l->jfd[i]);
    if (l->dirfd >= 0)
        close(l->dirfd);
    if (l->efd >= 0)
        close(l->efd);
    tlog_tile_cache_free(l->cache);
    tlog_key_wipe(&l->key);
    OPENSSL_cleanse(&l->privacy, sizeof l->privacy);
    sb_free(&l->ebuf);
    sb_free(&l->note);
    pthread_mutex_destroy(&l->qmu);
    pthread_cond_destroy(&l->qcv);
    pthread_mutex_destroy(&l->errmu);
    pthread_mutex_destroy(&l->cmu);
    pthread_cond_destroy(&l->ccv);
    pthread_mutex_destroy(&l->tmu);
    pthread_cond_destroy(&l->tcv);
    pthread_mutex_destroy(&l->ckmu);
    pthread_cond_destroy(&l->ckcv);
    pthread_mutex_destroy(&l->cwmu);
    pthread_mutex_destroy(&l->ixmu);
    free(l->dir);
    free(l);
}

/* ---- submitting ---- */

static int enqueue(struct ledger *l, struct pending *p)
{
    pthread_mutex_lock(&l->qmu);
    if (l->stopping || !atomic_load(&l->healthy)) {
        pthread_mutex_unlock(&l->qmu);
        return CUSTODY_EAUDIT;
    }
    *l->qtail = p;
    l->qtail = &p->next;
    pthread_cond_signal(&l->qcv);
    pthread_mutex_unlock(&l->qmu);
    return 0;
}

static struct pending *pending_new(const void *entry, size_t len)
{
    struct pending *p = util_calloc(1, sizeof *p + len);
    p->data = (uint8_t *)(p + 1);
    memcpy(p->data, entry, len);
    p->len = len;
    return p;
}

int ledger_submit_raw(struct ledger *l, const void *entry, size_t len, ledger_cb cb, void *arg)
{
    if (len == 0 || len > TLOG_ENTRY_MAX)
        return CUSTODY_EINVAL;
    struct pending *p = pending_new(entry, len);
    p->cb = cb;
    p->arg = arg;
    int rc = enqueue(l, p);
    if (rc)
        free(p);
    return rc;
}

static __thread struct strbuf tls_enc;

static int encode(struct ledger *l, struct ledger_event *ev)
{
    sb_reset(&tls_enc);
    return ledger_event_encode(ev, l->has_privacy ? &l->privacy : NULL, &l->key, &tls_enc);
}

int ledger_submit(struct ledger *l, struct ledger_event *ev, ledger_cb cb, void *arg)
{
    if (!atomic_load(&l->healthy))
        return CUSTODY_EAUDIT;
    int rc = encode(l, ev);
    if (rc)
        return rc;
    return ledger_submit_raw(l, tls_enc.buf, tls_enc.len, cb, arg);
}

int ledger_append_raw(struct ledger *l, const void *entry, size_t len, uint64_t *index)
{
    if (len == 0 || len > TLOG_ENTRY_MAX)
        return CUSTODY_EINVAL;
    struct pending *p = pending_new(entry, len);
    p->sync = true;
    int rc = enqueue(l, p);
    if (rc) {
        free(p);
        return rc;
    }
    pthread_mutex_lock(&l->cmu);
    while (!p->done)
        pthread_cond_wait(&l->ccv, &l->cmu);
    pthread_mutex_unlock(&l->cmu);
    rc = p->rc;
    if (!rc && index)
        *index = p->index;
    free(p);
    return rc;
}

int ledger_append(struct ledger *l, struct ledger_event *ev, uint64_t *index)
{
    if (!atomic_load(&l->healthy))
        return CUSTODY_EAUDIT;
    int rc = encode(l, ev);
    if (rc)
        return rc;
    return ledger_append_raw(l, tls_enc.buf, tls_enc.len, index);
}

int ledger_eventfd(const struct ledger *l)
{
    return l->efd;
}

void ledger_dispatch(struct ledger *l)
{
    uint64_t v;
    ssize_t r = read(l->efd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&l->cmu);
    struct pending *list = l->chead;
    l->chead = NULL;
    l->ctail = &l->chead;
    pthread_mutex_unlock(&l->cmu);
    for (struct pending *p = list, *next; p; p = next) {
        next = p->next;
        if (p->cb)
            p->cb(p->arg, p->rc, p->index);
        free(p);
    }
}

/* ---- reading ---- */

void ledger_stats(const struct ledger *cl, struct ledger_stats *out)
{
    struct ledger *l = (struct ledger *)cl;
    memset(out, 0, sizeof *out);
    out->size = atomic_load(&l->durable);
    out->checkpoint_size = atomic_load(&l->ckpt_size);
    out->batches = atomic_load(&l->batches);
    out->failures = atomic_load(&l->failures);
    out->healthy = atomic_load(&l->healthy);
    pthread_mutex_lock(&l->errmu);
    util_strlcpy(out->last_error, l->last_error, sizeof out->last_error);
    pthread_mutex_unlock(&l->errmu);
    util_strlcpy(out->origin, l->origin, sizeof out->origin);
}

int ledger_checkpoint_now(struct ledger *l, uint64_t min_size)
{
    if (min_size > atomic_load(&l->durable))
        return CUSTODY_EINVAL;
    pthread_mutex_lock(&l->tmu);
    l->ckpt_request = true;
    pthread_cond_signal(&l->tcv);
    pthread_mutex_unlock(&l->tmu);
    uint64_t deadline = now_ns() + 10ull * 1000000000;
    pthread_mutex_lock(&l->ckmu);
    while (atomic_load(&l->ckpt_size) < min_size && now_ns() < deadline)
        cond_wait_ns(&l->ckcv, &l->ckmu, 50 * 1000000ull);
    int rc = atomic_load(&l->ckpt_size) >= min_size ? 0 : CUSTODY_EAUDIT;
    pthread_mutex_unlock(&l->ckmu);
    return rc;
}

int ledger_checkpoint(struct ledger *l, struct strbuf *out, struct tlog_checkpoint *cp)
{
    pthread_mutex_lock(&l->ckmu);
    int rc = sb_append(out, l->note.buf, l->note.len);
    if (cp)
        *cp = l->cp;
    pthread_mutex_unlock(&l->ckmu);
    return rc;
}

int ledger_add_cosignatures(struct ledger *l, uint64_t size, const char *lines, size_t len)
{
    pthread_mutex_lock(&l->cwmu);
    pthread_mutex_lock(&l->ckmu);
    if (l->cp.size != size) {
        pthread_mutex_unlock(&l->ckmu);
        pthread_mutex_unlock(&l->cwmu);
        return CUSTODY_ECONFLICT; /* a newer checkpoint replaced it */
    }
    struct strbuf note = {0};
    sb_append(&note, l->note.buf, l->note.len);
    pthread_mutex_unlock(&l->ckmu);
    sb_append(&note, lines, len);
    int rc = write_checkpoint_file(l, note.buf, note.len);
    if (!rc) {
        pthread_mutex_lock(&l->ckmu);
        if (l->cp.size == size) {
            sb_reset(&l->note);
            sb_append(&l->note, note.buf, note.len);
        }
        pthread_mutex_unlock(&l->ckmu);
    }
    pthread_mutex_unlock(&l->cwmu);
    sb_free(&note);
    return rc;
}

void ledger_set_checkpoint_hook(struct ledger *l,
                                void (*hook)(void *arg, const char *note, size_t len,
                                             uint64_t size),
                                void *arg)
{
    l->hook = hook;
    l->hook_arg = arg;
}

int ledger_entry(struct ledger *l, uint64_t index, struct strbuf *out)
{
    uint64_t size = atomic_load(&l->ckpt_size), first;
    struct strbuf b = {0};
    int rc = tile_read_bundle(l->dirfd, size, index, &b, &first);
    size_t off = 0, elen;
    const uint8_t *e = NULL;
    for (uint64_t i = first; !rc && i <= index; i++) {
        rc = tlog_bundle_next((const uint8_t *)b.buf, b.len, &off, &e, &elen);
        if (rc == 1)
            rc = CUSTODY_ECORRUPT;
    }
    if (!rc)
        rc = sb_append(out, e, elen);
    sb_free(&b);
    return rc;
}

static int proof_size(struct ledger *l, uint64_t *size)
{
    uint64_t ck = atomic_load(&l->ckpt_size);
    if (*size == 0)
        *size = ck;
    return *size > ck ? CUSTODY_EINVAL : 0;
}

int ledger_prove_inclusion(struct ledger *l, uint64_t index, uint64_t size,
                           uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n)
{
    int rc = proof_size(l, &size);
    if (rc)
        return rc;
    if (index >= size)
        return CUSTODY_ENOENT;
    struct tile_reader tr = {l->dirfd, atomic_load(&l->ckpt_size)};
    struct tlog_hash_reader r = {tile_read_hashes, &tr, l->cache};
    return tlog_prove_inclusion(&r, size, index, proof, n);
}

int ledger_prove_consistency(struct ledger *l, uint64_t old_size, uint64_t size,
                             uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN], size_t *n)
{
    int rc = proof_size(l, &size);
    if (rc)
        return rc;
    if (old_size == 0 || old_size > size)
        return CUSTODY_EINVAL;
    struct tile_reader tr = {l->dirfd, atomic_load(&l->ckpt_size)};
    struct tlog_hash_reader r = {tile_read_hashes, &tr, l->cache};
    return tlog_prove_consistency(&r, size, old_size, proof, n);
}

int ledger_tree_root(struct ledger *l, uint64_t size, uint8_t out[TLOG_HASH_LEN])
{
    int rc = proof_size(l, &size);
    if (rc)
        return rc;
    struct tile_reader tr = {l->dirfd, atomic_load(&l->ckpt_size)};
    struct tlog_hash_reader r = {tile_read_hashes, &tr, l->cache};
    return tlog_tree_root(&r, size, out);
}

int ledger_vkey(const struct ledger *l, struct strbuf *out)
{
    struct tlog_key pub;
    tlog_key_from_pub(l->key.name, TLOG_KEY_ED25519, l->key.pub, &pub);
    return tlog_vkey_format(&pub, out);
}

void ledger_hash_value(const struct ledger *l, const char *value, size_t len,
                       char out[LEDGER_PSEUDONYM_LEN + 1])
{
    ledger_pseudonym(l->privacy.key, value, len, out);
}

int ledger_dirfd(const struct ledger *l)
{
    return l->dirfd;
}

const struct tlog_key *ledger_key(const struct ledger *l)
{
    return &l->key;
}
