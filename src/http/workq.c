/* workq.c — a small thread pool for blocking work (fsync, hashing large
 * files, SQLite). work() runs on a worker; done() runs back on the event
 * loop, woken through an eventfd. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "internal.h"

struct work_item {
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
    struct work_item *next;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct work_item *head, *tail;         /* pending */
    struct work_item *done_head, *done_tail; /* finished, waiting for the loop */
    bool stop;
    pthread_t *threads;
    unsigned nthreads;
    int efd;
    struct event *ev;
};

static void *worker_main(void *arg)
{
    struct workq *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (!q->head && q->stop) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        struct work_item *it = q->head;
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        it->work(it->arg);

        pthread_mutex_lock(&q->lock);
        it->next = NULL;
        if (q->done_tail)
            q->done_tail->next = it;
        else
            q->done_head = it;
        q->done_tail = it;
        pthread_mutex_unlock(&q->lock);
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof one);
        (void)w;
    }
}

static void workq_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct workq *q = arg;
    (void)what;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&q->lock);
    struct work_item *it = q->done_head;
    q->done_head = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (it) {
        struct work_item *next = it->next;
        if (it->done)
            it->done(it->arg);
        free(it);
        it = next;
    }
}

int workq_new(struct event_base *base, unsigned nthreads, struct workq **out)
{
    struct workq *q = util_calloc(1, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        free(q);
        return custody_err_from_errno(errno);
    }
    q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, workq_wake_cb, q);
    event_add(q->ev, NULL);
    q->threads = util_calloc(nthreads, sizeof(pthread_t));
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0)
            break;
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        workq_free(q);
        return CUSTODY_ENOMEM;
    }
    *out = q;
    return 0;
}

void workq_free(struct workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    /* finish completions so their owners can release resources */
    workq_wake_cb(q->efd, EV_READ, q);
    event_free(q->ev);
    close(q->efd);
    free(q->threads);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}

int workq_submit(struct workq *q, void (*work)(void *), void (*done)(void *), void *arg)
{
    struct work_item *it = util_calloc(1, sizeof *it);
    it->work = work;
    it->done = done;
    it->arg = arg;
    pthread_mutex_lock(&q->lock);
    if (q->stop) {
        pthread_mutex_unlock(&q->lock);
        free(it);
        return CUSTODY_EUNAVAIL;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return 0;
}
