/*
 * query.c — reading the audit log while it is written: the indexer thread
 * (SQLite, on idle CPU) and search, state, the published checkpoint and its
 * cosignatures, entries and proofs (over the tiles of the latest
 * checkpoint, with the shared tile-tree cache), keys and pseudonyms.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- indexer ---- */

/* Indexes the log up to target, one entry bundle (one transaction) at a time. The indexer
 * (stoppable) gives up between bundles once the ledger closes: it runs on idle CPU only,
 * so a backlog of 100,000 events on a busy machine would otherwise hold custodyd's exit
 * for minutes; the next start catches up where it left off. */
static void index_catch_up(struct ledger *l, uint64_t target, bool stoppable)
{
    struct strbuf bundle = {0};
    pthread_mutex_lock(&l->ixmu);
    uint64_t at = ledger_index_size(l->ix);
    while (at < target && !(stoppable && atomic_load(&l->ix_stop))) {
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

void *lg_indexer_main(void *arg)
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
        index_catch_up(l, target, true);
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
    index_catch_up(l, atomic_load(&l->ckpt_size), false);
    pthread_mutex_lock(&l->ixmu);
    int rc = ledger_index_search(l->ix, q, out, n);
    pthread_mutex_unlock(&l->ixmu);
    return rc;
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
    out->bulk_syncs = atomic_load(&l->bulk_syncs);
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
    uint64_t deadline = lg_now_ns() + 10ull * 1000000000;
    pthread_mutex_lock(&l->ckmu);
    while (atomic_load(&l->ckpt_size) < min_size && lg_now_ns() < deadline)
        lg_cond_wait_ns(&l->ckcv, &l->ckmu, 50 * 1000000ull);
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
    int rc = lg_write_checkpoint_file(l, note.buf, note.len);
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
