/*
 * tiler.c — the audit log's tiler thread: the tree's right edge in memory,
 * full tiles written as they fill (writeback started at once), and every
 * checkpoint interval the partial tiles, an fsync of everything written and
 * an atomically replaced, signed checkpoint. After a failed write it
 * rebuilds the right edge from the last checkpoint and the journal
 * (tiler_reset). See log.c for the whole picture and docs/ledger.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

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
    for (unsigned i = 0; i < MADE_MAX; i++)
        if (strcmp(dir, l->made[i]) == 0)
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
    util_strlcpy(l->made[l->made_next], dir, TLOG_PATH_MAX);
    l->made_next = (l->made_next + 1) % MADE_MAX;
    return 0;
}

/* Closes the tile fds kept for fsync; from then on only a syncfs makes
 * those files durable (used when many were written, on filesystems whose
 * syncfs reports writeback errors: one call instead of one per tile). */
static void close_unsynced_bulk(struct ledger *l)
{
    for (size_t i = 0; i < l->nunsynced; i++)
        close(l->unsynced[i]);
    l->nunsynced = 0;
    l->bulk = true;
}

static int sync_unsynced(struct ledger *l)
{
    int rc = 0;
    if (l->bulk) {
        close_unsynced_bulk(l);
        if (syncfs(l->dirfd) != 0)
            rc = custody_err_from_errno(errno);
        l->bulk = false;
        atomic_fetch_add(&l->bulk_syncs, 1);
        if (!rc)
            l->ndirs = 0; /* syncfs covered the directories too */
        return rc;
    }
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
    /* O_EXCL first: a new file truncated by O_TRUNC makes ext4 start its
     * writeback at close (auto_da_alloc); rewrites after recovery are rare */
    int fd = openat(l->dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EEXIST)
        fd = openat(l->dirfd, rel, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return custody_err_from_errno(errno);
    rc = write_all(fd, data, len);
    if (rc) {
        /* a short tile (disk full) must not stay at a path that readers and
         * mirrors take as immutable: the retry may be for another width */
        close(fd);
        unlinkat(l->dirfd, rel, 0);
        return rc;
    }
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* start writeback now */
    if (l->nunsynced == UNSYNCED_MAX && l->use_syncfs) {
        close_unsynced_bulk(l);
    } else if (l->nunsynced == UNSYNCED_MAX) {
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
int lg_add_payload(struct ledger *l, uint64_t first, const uint8_t *p, size_t len,
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
void lg_edge_root(struct ledger *l, uint8_t out[TLOG_HASH_LEN])
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
int lg_write_checkpoint_file(struct ledger *l, const char *note, size_t len)
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
int lg_checkpoint(struct ledger *l)
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
    lg_edge_root(l, cp.root);
    struct strbuf body = {0}, note = {0};
    const struct tlog_key *keys[1] = {&l->key};
    rc = tlog_checkpoint_format(&cp, &body);
    if (!rc)
        rc = tlog_note_sign(body.buf, body.len, keys, 1, 0, &note);
    pthread_mutex_lock(&l->cwmu);
    if (!rc)
        rc = lg_write_checkpoint_file(l, note.buf, note.len);
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
        l->last_ckpt_ns = lg_now_ns();
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
void lg_prune_stale_partials(struct ledger *l)
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

/* ---- tiler ---- */

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
    memset(l->made, 0, sizeof l->made); /* (dirs[] stays: those still need their fsync) */
    for (unsigned lv = 0; lv < LEVELS; lv++)
        l->lv[lv].n = 0;
    sb_reset(&l->ebuf);
    l->ecount = 0;
    l->hist[0].n = 0;
    int rc = lg_load_edge(l, NULL);
    if (!rc)
        rc = lg_replay_journal(l, NULL, atomic_load(&l->durable));
    return rc;
}

void *lg_tiler_main(void *arg)
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
            if (l->thead || l->tiler_stop || (pending_ck && (l->ckpt_request || lg_now_ns() >= due)))
                break;
            if (!pending_ck && l->ckpt_request)
                l->ckpt_request = false;
            uint64_t wait_ns = pending_ck && due > lg_now_ns() ? due - lg_now_ns() : 1000000000ull;
            lg_cond_wait_ns(&l->tcv, &l->tmu, wait_ns);
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
                int rc = lg_add_payload(l, tb->first, (const uint8_t *)tb->payload, tb->len,
                                     UINT64_MAX);
                if (rc) {
                    broken = true;
                    retry_at = lg_now_ns() + 200 * 1000000ull;
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
        if (broken && (lg_now_ns() >= retry_at || stop || req)) {
            if (tiler_reset(l) == 0) {
                broken = false;
                req = true; /* checkpoint what was rebuilt at once */
            } else {
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                retry_at = lg_now_ns() + backoff_ms * 1000000ull;
            }
        }
        uint64_t due = l->last_ckpt_ns + (uint64_t)l->interval_ms * 1000000;
        if (!broken && l->tiled > atomic_load(&l->ckpt_size) &&
            (req || stop || lg_now_ns() >= due)) {
            int rc = lg_checkpoint(l);
            if (rc) {
                if (!l->ckpt_failing)
                    log_error("AUDIT LOG: cannot publish a checkpoint: %s (retrying)",
                              custody_strerror(rc));
                l->ckpt_failing = true;
                broken = true; /* what was written since may not be durable */
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
                retry_at = lg_now_ns() + backoff_ms * 1000000ull;
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
    if (!broken && !l->ckpt_failing) {
        prune_partials(l);
        lg_prune_stale_partials(l); /* and any a failed checkpoint left */
    }
    if (!broken)
        sync_unsynced(l);
    return NULL;
}

