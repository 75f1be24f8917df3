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
 *
 * This file: opening, recovery and closing, submitting, the committer.
 * tiler.c: the tree's right edge, tiles and checkpoints. query.c: the
 * indexer and everything that reads the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"

uint64_t lg_now_ns(void)
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
void lg_cond_wait_ns(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t ns)
{
    uint64_t t = lg_now_ns() + ns;
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
            lg_cond_wait_ns(&l->ckcv, &l->ckmu, 100 * 1000000ull);
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

/* ---- open / recover / close ---- */

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
        return sb_fail(err, CUSTODY_ECORRUPT,
                       "%s/checkpoint: not a checkpoint signed by this node's key (%s)", l->dir,
                       custody_strerror(rc));
    }
    if (strcmp(cp.origin, l->origin) != 0) {
        sb_free(&sb);
        return sb_fail(err, CUSTODY_ECONFIG,
                       "the audit log's origin is \"%s\" but the configuration says \"%s\"",
                       cp.origin, l->origin);
    }
    l->cp = cp;
    sb_append(&l->note, sb.buf, sb.len);
    sb_free(&sb);
    return 0;
}

/* Loads the right edge of the tree at l->cp.size from its tiles. */
int lg_load_edge(struct ledger *l, struct strbuf *err)
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
            return sb_fail(err, CUSTODY_ECORRUPT,
                           "%s: a tile the checkpoint needs is missing or "
                           "damaged (%s); run custody audit verify",
                           l->dir, custody_strerror(rc));
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
            return sb_fail(err, CUSTODY_ECORRUPT,
                           "%s: the last entry bundle is missing or does not "
                           "match its hashes (%s); run custody audit verify",
                           l->dir, custody_strerror(rc));
    }
    l->tiled = n;
    uint8_t root[TLOG_HASH_LEN];
    lg_edge_root(l, root);
    if (memcmp(root, l->cp.root, TLOG_HASH_LEN) != 0)
        return sb_fail(err, CUSTODY_ECORRUPT,
                       "%s: tiles do not match the checkpoint's root; run "
                       "custody audit verify",
                       l->dir);
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
int lg_replay_journal(struct ledger *l, struct strbuf *err, uint64_t limit)
{
    struct journal_rec *recs[2];
    size_t nrec[2];
    for (int i = 0; i < 2; i++) {
        int rc = journal_scan(l->jfd[i], &recs[i], &nrec[i]);
        if (rc) {
            if (i)
                journal_recs_free(recs[0], nrec[0]);
            return sb_fail(err, rc, "%s: cannot read the journal: %s", l->dir,
                           custody_strerror(rc));
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
        rc = lg_add_payload(l, r->first, r->payload, r->len, limit);
        if (rc || l->tiled == before)
            break;
        replayed = l->tiled - start;
    }
    journal_recs_free(recs[0], nrec[0]);
    journal_recs_free(recs[1], nrec[1]);
    if (rc) return sb_fail(err, rc, "%s: replaying the journal: %s", l->dir, custody_strerror(rc));
    if (replayed && err) /* (quiet when the tiler rebuilds after a failure) */
        log_info("audit log: recovered %llu journaled event(s) past the checkpoint",
                 (unsigned long long)replayed);
    return 0;
}

/* Whether syncfs on this filesystem writes back every file and reports
 * writeback errors (Linux >= 5.8 on local disk filesystems); elsewhere (FUSE,
 * NFS) the tiler fsyncs each tile file. */
static bool syncfs_reports_errors(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) != 0)
        return false;
    switch ((unsigned long)st.f_type) {
    case 0xEF53:     /* ext2/3/4 */
    case 0x58465342: /* xfs */
    case 0x9123683E: /* btrfs */
    case 0x01021994: /* tmpfs (nothing to write back) */
        return true;
    default:
        return false;
    }
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
        rc = sb_fail(err, CUSTODY_ECONFIG, "audit origin \"%s\" is not a valid note name",
                     l->origin);
        goto fail;
    }
    if (util_mkdir_p(l->dir, 0755) != 0 ||
        (l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = sb_fail(err, custody_err_from_errno(errno), "%s: %s", l->dir, strerror(errno));
        goto fail;
    }
    l->use_syncfs = syncfs_reports_errors(l->dirfd);
    if (mkdirat(l->dirfd, "tile", 0755) != 0 && errno != EEXIST) {
        rc = sb_fail(err, custody_err_from_errno(errno), "%s/tile: %s", l->dir, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "journal.%d", i);
        l->jfd[i] = openat(l->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (l->jfd[i] < 0) {
            rc = sb_fail(err, custody_err_from_errno(errno), "%s/%s", l->dir, name);
            goto fail;
        }
    }
    rc = load_checkpoint(l, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        rc = lg_load_edge(l, err);
        if (rc)
            goto fail;
    }
    rc = lg_replay_journal(l, err, UINT64_MAX);
    if (rc)
        goto fail;
    if (l->tiled > l->cp.size || l->note.len == 0) {
        rc = lg_checkpoint(l); /* covers the replayed events (or starts a new log at 0) */
        if (rc) {
            rc = sb_fail(err, rc, "%s: cannot publish a checkpoint: %s", l->dir,
                         custody_strerror(rc));
            goto fail;
        }
    }
    atomic_store(&l->ckpt_size, l->tiled);
    lg_prune_stale_partials(l);
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
            rc = sb_fail(err, custody_err_from_errno(errno), "%s: journal: %s", l->dir,
                         strerror(errno));
            goto fail;
        }
    fsync(l->dirfd);
    l->next_index = l->tiled;
    atomic_store(&l->durable, l->tiled);
    l->jactive = 0;
    l->joff = 0;
    l->jlast[0] = l->jlast[1] = 0; /* everything journaled is under the checkpoint */
    l->last_ckpt_ns = lg_now_ns();
    l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->efd < 0) {
        rc = sb_fail(err, CUSTODY_EIO, "eventfd: %s", strerror(errno));
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
        pthread_create(&l->th_tile, NULL, lg_tiler_main, l) != 0 ||
        (l->ix && pthread_create(&l->th_index, NULL, lg_indexer_main, l) != 0)) {
        rc = sb_fail(err, CUSTODY_EINTERNAL, "cannot start the ledger threads");
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

