/*
 * audit.c — what the view tells custodyd besides one decision per
 * operation, in batches:
 *
 *   - Read grants. After a listing, the reads of the listed files are
 *     decided in one request (custody_access_grant: one event per file,
 *     all durable before the answer). An open for reading within the
 *     grant's lifetime (custodyd says how long: 2 s) needs no request of
 *     its own. A walk over a tree (grep -r) then waits for one flush per
 *     directory instead of one per file. Not for sensitive roots: there
 *     every open is decided when it happens.
 *   - Usage reports. What went through an open file (span and bytes) is
 *     queued when it is closed and sent by a reporter thread in batches
 *     (custody_access_usage), every 50 ms or 256 reports, so closing a file
 *     does not wait for custodyd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mount/internal.h"
#include "util/util.h"

#define GRANT_SLOTS 16384 /* a power of two */
#define GRANT_PROBES 8
#define GRANT_NAMES 256                  /* names per grant request */
#define USAGE_BATCH 256                  /* reports per request */
#define USAGE_DELAY_NS (50ull * 1000000) /* how long a report may wait for others */
#define USAGE_QUEUE_MAX 65536            /* beyond this, closing waits for the reporter */
#define USAGE_TRIES 3
#define GRANT_BACKOFF_NS (30ull * 1000000000ull) /* no grants asked after a refusal */

struct grant {
    char *path;
    uint64_t until_ns;
};

struct mnt_audit {
    pthread_mutex_t gmu;
    struct grant slots[GRANT_SLOTS];
    pthread_mutex_t qmu;
    pthread_cond_t qcv, qspace;
    custody_usage_t *q; /* paths are malloc'd */
    size_t qn, qcap;
    uint64_t oldest_ns; /* when the oldest queued report came */
    bool stop;
    pthread_t thr;
    uint64_t no_grants_until_ns; /* after a refused grant (racy by design: a hint) */
};

static bool refused(int rc)
{
    return rc == CUSTODY_EDENIED || rc == CUSTODY_EBADTOKEN;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void grant_put(struct mnt_audit *a, const char *path, uint64_t until, uint64_t now)
{
    uint64_t h = fnv1a(path);
    pthread_mutex_lock(&a->gmu);
    struct grant *pick = NULL;
    for (unsigned i = 0; i < GRANT_PROBES; i++) {
        struct grant *g = &a->slots[(h + i) & (GRANT_SLOTS - 1)];
        if (g->path && strcmp(g->path, path) == 0) {
            pick = g;
            break;
        }
        if (!pick && (!g->path || g->until_ns <= now)) pick = g;
    }
    if (!pick) pick = &a->slots[h & (GRANT_SLOTS - 1)]; /* all live: the first goes */
    if (!pick->path || strcmp(pick->path, path) != 0) {
        free(pick->path);
        pick->path = util_strdup(path);
    }
    pick->until_ns = until;
    pthread_mutex_unlock(&a->gmu);
}

bool mnt_granted(const char *path)
{
    struct mnt_audit *a = mnt_self()->audit;
    if (!a) return false;
    uint64_t h = fnv1a(path), now = util_monotonic_ns();
    bool ok = false;
    pthread_mutex_lock(&a->gmu);
    for (unsigned i = 0; i < GRANT_PROBES && !ok; i++) {
        const struct grant *g = &a->slots[(h + i) & (GRANT_SLOTS - 1)];
        ok = g->path && g->until_ns > now && strcmp(g->path, path) == 0;
    }
    pthread_mutex_unlock(&a->gmu);
    return ok;
}

void mnt_grants_after_listing(const char *dir, const custody_dirent_t *ents, size_t n)
{
    struct mnt *m = mnt_self();
    custody_client_t *c = mnt_client();
    if (!m->audit || m->sensitive || !c) return;
    if (util_monotonic_ns() < m->audit->no_grants_until_ns) return;
    char id[MNT_ID_MAX];
    mnt_resource(dir, id, sizeof id);
    const char *names[GRANT_NAMES];
    int granted[GRANT_NAMES];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k < GRANT_NAMES; i++)
            if (ents[i].type == CUSTODY_TYPE_FILE) names[k++] = ents[i].name;
        if (!k) continue;
        unsigned ttl_ms = 0;
        uint64_t asked = util_monotonic_ns();
        int rc = custody_access_grant(c, id, "fuse", names, k, granted, &ttl_ms);
        if (refused(rc)) /* no token for the folder: each open asks for itself a while */
            m->audit->no_grants_until_ns = asked + GRANT_BACKOFF_NS;
        if (rc) return; /* each open asks for itself, as without grants */
        uint64_t until = asked + (uint64_t)ttl_ms * 1000000ull;
        char path[PATH_MAX];
        for (size_t j = 0; j < k; j++) {
            if (!granted[j]) continue;
            if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
                                 names[j]) >= sizeof path)
                continue;
            grant_put(m->audit, path, until, asked);
        }
    }
}

/* Sends one batch, trying a few times (custodyd restarting). An agent
 * whose policy names files, not the root, gets no token for the root: its
 * reports then go one by one, each with its file's own token. */
static void send_batch(custody_usage_t *u, size_t n)
{
    char root[MNT_ID_MAX], id[MNT_ID_MAX];
    mnt_resource("/", root, sizeof root);
    int rc = CUSTODY_ECONNECT;
    for (int t = 0; t < USAGE_TRIES && rc && !refused(rc); t++) {
        custody_client_t *c = mnt_client();
        rc = c ? custody_access_usage(c, root, "read", "fuse", u, n) : CUSTODY_ECONNECT;
        if (rc && !refused(rc) && t + 1 < USAGE_TRIES) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; refused(rc) && i < n; i++) {
        custody_client_t *c = mnt_client();
        mnt_resource(u[i].path, id, sizeof id);
        int one =
            c ? custody_access(c, id, "read", "close", "fuse", u[i].first, u[i].last, u[i].bytes)
              : CUSTODY_ECONNECT;
        if (one) mnt_fail("report the reads of", u[i].path, one);
    }
    if (rc && !refused(rc)) mnt_fail("report the reads of", u[0].path, rc);
}

static void *reporter(void *arg)
{
    struct mnt_audit *a = arg;
    custody_usage_t batch[USAGE_BATCH];
    pthread_mutex_lock(&a->qmu);
    for (;;) {
        while (!a->stop && (a->qn == 0 || (a->qn < USAGE_BATCH &&
                                           util_monotonic_ns() - a->oldest_ns < USAGE_DELAY_NS))) {
            if (a->qn == 0) {
                pthread_cond_wait(&a->qcv, &a->qmu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 10 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                pthread_cond_timedwait(&a->qcv, &a->qmu, &ts);
            }
        }
        if (a->qn == 0 && a->stop) break;
        size_t n = a->qn < USAGE_BATCH ? a->qn : USAGE_BATCH;
        memcpy(batch, a->q, n * sizeof *batch);
        memmove(a->q, a->q + n, (a->qn - n) * sizeof *a->q);
        a->qn -= n;
        a->oldest_ns = util_monotonic_ns();
        pthread_cond_broadcast(&a->qspace);
        pthread_mutex_unlock(&a->qmu);
        send_batch(batch, n);
        for (size_t i = 0; i < n; i++)
            free((char *)batch[i].path);
        pthread_mutex_lock(&a->qmu);
    }
    pthread_mutex_unlock(&a->qmu);
    return NULL;
}

void mnt_usage_report(const char *path, int64_t first, int64_t last, uint64_t bytes)
{
    struct mnt_audit *a = mnt_self()->audit;
    if (!a || !bytes) return;
    pthread_mutex_lock(&a->qmu);
    while (a->qn >= USAGE_QUEUE_MAX && !a->stop)
        pthread_cond_wait(&a->qspace, &a->qmu);
    if (a->qn == a->qcap) {
        a->qcap = a->qcap ? a->qcap * 2 : 256;
        a->q = util_realloc(a->q, a->qcap * sizeof *a->q);
    }
    if (a->qn == 0) a->oldest_ns = util_monotonic_ns();
    a->q[a->qn++] = (custody_usage_t){util_strdup(path), first, last, bytes};
    pthread_cond_signal(&a->qcv);
    pthread_mutex_unlock(&a->qmu);
}

int mnt_audit_start(struct mnt *m)
{
    struct mnt_audit *a = util_calloc(1, sizeof *a);
    pthread_mutex_init(&a->gmu, NULL);
    pthread_mutex_init(&a->qmu, NULL);
    pthread_cond_init(&a->qcv, NULL);
    pthread_cond_init(&a->qspace, NULL);
    int e = pthread_create(&a->thr, NULL, reporter, a);
    if (e) {
        free(a);
        return custody_err_from_errno(e);
    }
    m->audit = a;
    return 0;
}

void mnt_audit_stop(struct mnt *m)
{
    struct mnt_audit *a = m->audit;
    if (!a) return;
    pthread_mutex_lock(&a->qmu);
    a->stop = true; /* the reporter sends what is queued, then ends */
    pthread_cond_broadcast(&a->qcv);
    pthread_cond_broadcast(&a->qspace);
    pthread_mutex_unlock(&a->qmu);
    pthread_join(a->thr, NULL);
    m->audit = NULL;
    for (size_t i = 0; i < GRANT_SLOTS; i++)
        free(a->slots[i].path);
    free(a->q);
    pthread_mutex_destroy(&a->gmu);
    pthread_mutex_destroy(&a->qmu);
    pthread_cond_destroy(&a->qcv);
    pthread_cond_destroy(&a->qspace);
    free(a);
}
