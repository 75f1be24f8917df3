/*
 * cpu.c — LOADER_MMAP: the regions of the files into CPU memory, zero copy.
 *
 * Each file with a non-empty region is mapped whole, MAP_PRIVATE with
 * PROT_READ | PROT_WRITE: a consumer that writes to a tensor (numpy through
 * DLPack does, and so does any in-place op) gets a private copy of that page
 * (copy on write) instead of a SIGSEGV, and the file never changes. Then the
 * pages of [begin, end) are populated: madvise(MADV_POPULATE_READ) (Linux
 * 5.14+) maps every page of the page cache into our page tables, reading it
 * from disk first when it is not cached, so the first touch by the consumer
 * costs nothing. Populating runs in `threads` threads that take chunk-sized
 * pieces from a shared counter.
 *
 * MAP_POPULATE is not used on purpose: on a private writable mapping it
 * write-faults every page, which copies the whole file into anonymous memory.
 * When the kernel lacks MADV_POPULATE_READ (EINVAL) each thread touches one
 * byte per page of its pieces instead (a read fault, no copy); a read error
 * then raises SIGBUS, where MADV_POPULATE_READ returns an error we report as
 * CUSTODY_EIO.
 *
 * The regions stay valid until loader_result_free. base of an empty region
 * (begin == end) is NULL. The descriptor may be closed after the load: the
 * mapping keeps the file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loader/loader_int.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* linux/mman.h, Linux 5.14 */
#endif

struct piece {
    uint8_t *addr; /* page aligned */
    size_t len;
};

struct pop_job {
    struct piece *pieces;
    size_t npieces;
    atomic_size_t next;
    atomic_int rc;      /* first error, 0 when none */
    atomic_int no_madv; /* MADV_POPULATE_READ is not supported: touch pages */
    int err_no;         /* errno of the first failure (written once, by the CAS winner) */
    size_t page;
};

static atomic_int g_force_touch;

void loader_cpu_force_touch_(int on)
{
    atomic_store(&g_force_touch, on);
}

static int touch_pages(uint8_t *p, size_t len, size_t page)
{
    volatile const uint8_t *v = p;
    uint8_t acc = 0;
    for (size_t off = 0; off < len; off += page)
        acc ^= v[off];
    (void)acc;
    return 0;
}

static int populate_piece(struct pop_job *j, const struct piece *pc)
{
    if (!atomic_load_explicit(&j->no_madv, memory_order_relaxed)) {
        for (int tries = 0;; tries++) {
            if (madvise(pc->addr, pc->len, MADV_POPULATE_READ) == 0) return 0;
            int e = errno;
            if (e == EINVAL) {
                /* Old kernel: fall back to touching, from now on for everyone. */
                atomic_store(&j->no_madv, 1);
                break;
            }
            if ((e == EINTR || e == EAGAIN) && tries < 100) continue;
            int expect = 0;
            int code = e == ENOMEM ? CUSTODY_ENOMEM : CUSTODY_EIO;
            if (atomic_compare_exchange_strong(&j->rc, &expect, code)) j->err_no = e;
            return code;
        }
    }
    return touch_pages(pc->addr, pc->len, j->page);
}

static void *pop_worker(void *arg)
{
    struct pop_job *j = arg;
    for (;;) {
        if (atomic_load_explicit(&j->rc, memory_order_relaxed)) break;
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->npieces) break;
        if (populate_piece(j, &j->pieces[i])) break;
    }
    return NULL;
}

void loader_cpu_free(struct loader_priv *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n && p->maps; i++)
        if (p->maps[i].addr) munmap(p->maps[i].addr, p->maps[i].len);
    free(p->maps);
    free(p);
}

/* Chunk size: the option when given, else about 4 pieces per thread, between
 * 2 MiB and 64 MiB; a multiple of the page size. */
static size_t pick_chunk(size_t opt, uint64_t total, unsigned threads, size_t page)
{
    size_t c = opt;
    if (c == 0) {
        uint64_t want = total / ((uint64_t)threads * 4);
        if (want < LOADER_CPU_MIN_CHUNK) want = LOADER_CPU_MIN_CHUNK;
        if (want > LOADER_CPU_DEFAULT_CHUNK) want = LOADER_CPU_DEFAULT_CHUNK;
        c = (size_t)want;
    }
    c = (c + page - 1) / page * page;
    return c ? c : page;
}

int loader_cpu_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                    struct loader_result *r, char *err, size_t errlen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct loader_priv *p = calloc(1, sizeof *p);
    if (!p) return CUSTODY_ENOMEM;
    p->kind = LOADER_MMAP;
    p->device = -1;
    p->n = n;
    p->maps = calloc(n ? n : 1, sizeof *p->maps);
    if (!p->maps) {
        free(p);
        return CUSTODY_ENOMEM;
    }

    int rc = 0;
    uint64_t total = 0; /* bytes to populate, page rounded */
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin == f->end) continue; /* empty region: nothing mapped, base NULL */
        void *m = mmap(NULL, (size_t)f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, f->fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            loader_errf(err, errlen, "file %zu: mmap of %llu bytes: %s", i,
                        (unsigned long long)f->size, strerror(e));
            rc = e == ENOMEM ? CUSTODY_ENOMEM : e == EACCES ? CUSTODY_EPERM : CUSTODY_EIO;
            goto fail;
        }
        p->maps[i].addr = m;
        p->maps[i].len = (size_t)f->size;
        r->regions[i].base = (uint8_t *)m + f->begin;
        r->regions[i].len = f->end - f->begin;
        uint64_t a = f->begin / page * page;
        total += f->end - a;
    }

    unsigned threads = o->threads ? o->threads : loader_ncpu();
    if (threads > LOADER_MAX_THREADS) threads = LOADER_MAX_THREADS;
    size_t chunk = pick_chunk(o->chunk, total, threads, page);

    size_t npieces = 0;
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin == f->end) continue;
        uint64_t a = f->begin / page * page;
        npieces += (size_t)((f->end - a + chunk - 1) / chunk);
    }
    if (npieces == 0) goto done;

    struct pop_job j = {.npieces = npieces, .page = page};
    atomic_init(&j.next, 0);
    atomic_init(&j.rc, 0);
    atomic_init(&j.no_madv, atomic_load(&g_force_touch));
    j.pieces = malloc(npieces * sizeof *j.pieces);
    if (!j.pieces) {
        rc = CUSTODY_ENOMEM;
        goto fail;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin == f->end) continue;
        uint64_t a = f->begin / page * page;
        uint8_t *m = p->maps[i].addr;
        for (uint64_t off = a; off < f->end; off += chunk) {
            uint64_t e = off + chunk < f->end ? off + chunk : f->end;
            j.pieces[k].addr = m + off;
            j.pieces[k].len = (size_t)(e - off);
            k++;
        }
    }

    if (threads > npieces) threads = (unsigned)npieces;
    pthread_t tids[LOADER_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, pop_worker, &j) != 0) break; /* fewer is fine */
        started++;
    }
    pop_worker(&j);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    free(j.pieces);
    rc = atomic_load(&j.rc);
    if (rc) {
        loader_errf(err, errlen, "populating the mapping failed: %s", strerror(j.err_no));
        goto fail;
    }
done:
    r->priv_ = p;
    return 0;
fail:
    loader_cpu_free(p);
    for (size_t i = 0; i < n; i++)
        r->regions[i] = (struct loader_region){0};
    return rc;
}
