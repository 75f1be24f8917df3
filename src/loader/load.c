/*
 * load.c — the loader core's front door: checks the request, picks the
 * method, dispatches to cpu.c (LOADER_MMAP) or gpu.c (the GPU methods), times
 * the load, and frees results. libc + pthreads + dlopen only (see loader.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loader/loader_int.h"

void loader_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t loader_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

unsigned loader_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    if (n > LOADER_MAX_THREADS) return LOADER_MAX_THREADS;
    return (unsigned)n;
}

static int check_files(const struct loader_file *files, size_t n, char *err, size_t errlen)
{
    if (n > LOADER_MAX_FILES) {
        loader_errf(err, errlen, "too many files: %zu (at most %d)", n, LOADER_MAX_FILES);
        return CUSTODY_ETOOBIG;
    }
    if (n > 0 && !files) {
        loader_errf(err, errlen, "files is NULL");
        return CUSTODY_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin > f->end || f->end > f->size) {
            loader_errf(err, errlen, "file %zu: region [%llu, %llu) does not fit in its %llu bytes",
                        i, (unsigned long long)f->begin, (unsigned long long)f->end,
                        (unsigned long long)f->size);
            return CUSTODY_ERANGE;
        }
        if (f->size > (uint64_t)SIZE_MAX / 2) {
            loader_errf(err, errlen, "file %zu: %llu bytes is too large to map", i,
                        (unsigned long long)f->size);
            return CUSTODY_ETOOBIG;
        }
        struct stat st;
        if (f->fd < 0 || fstat(f->fd, &st) != 0) {
            loader_errf(err, errlen, "file %zu: bad descriptor %d", i, f->fd);
            return CUSTODY_EINVAL;
        }
        if (!S_ISREG(st.st_mode)) {
            loader_errf(err, errlen, "file %zu: descriptor %d is not a regular file", i, f->fd);
            return CUSTODY_EINVAL;
        }
        /* The caller's size must not exceed the file: mapping past EOF would
         * SIGBUS on first touch. A file that grew is fine (we read [begin, end)). */
        if ((uint64_t)st.st_size < f->size) {
            loader_errf(err, errlen, "file %zu: size %llu given but the file has %lld bytes", i,
                        (unsigned long long)f->size, (long long)st.st_size);
            return CUSTODY_ERANGE;
        }
    }
    return 0;
}

static int check_opts(const struct loader_opts *o, char *err, size_t errlen)
{
    if (o->device < -1) {
        loader_errf(err, errlen, "bad device %d", o->device);
        return CUSTODY_EINVAL;
    }
    if (o->method < LOADER_AUTO || o->method > LOADER_CUFILE) {
        loader_errf(err, errlen, "unknown method %d", o->method);
        return CUSTODY_EINVAL;
    }
    if (o->threads > LOADER_MAX_THREADS || o->buffers > LOADER_MAX_BUFFERS ||
        o->streams > LOADER_MAX_STREAMS || o->chunk > LOADER_MAX_CHUNK) {
        loader_errf(err, errlen,
                    "option out of range (threads <= %d, buffers <= %d, streams <= %d, "
                    "chunk <= %u)",
                    LOADER_MAX_THREADS, LOADER_MAX_BUFFERS, LOADER_MAX_STREAMS, LOADER_MAX_CHUNK);
        return CUSTODY_EINVAL;
    }
    if (o->device < 0 && o->method != LOADER_AUTO && o->method != LOADER_MMAP) {
        loader_errf(err, errlen, "method %d needs a CUDA device (device is -1)", o->method);
        return CUSTODY_EINVAL;
    }
    if (o->device >= 0 && o->method == LOADER_MMAP) {
        loader_errf(err, errlen, "LOADER_MMAP loads into CPU memory only (device is %d)",
                    o->device);
        return CUSTODY_EINVAL;
    }
    return 0;
}

int loader_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                struct loader_result **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) {
        loader_errf(err, errlen, "out is NULL");
        return CUSTODY_EINVAL;
    }
    *out = NULL;
    struct loader_opts def = {.device = -1, .method = LOADER_AUTO};
    if (!o) o = &def;
    int rc = check_opts(o, err, errlen);
    if (rc) return rc;
    rc = check_files(files, n, err, errlen);
    if (rc) return rc;

    int method = o->method;
    if (method == LOADER_AUTO) method = o->device < 0 ? LOADER_MMAP : LOADER_PINNED_RING;

    struct loader_result *r = calloc(1, sizeof *r);
    if (!r) return CUSTODY_ENOMEM;
    r->regions = calloc(n ? n : 1, sizeof *r->regions);
    if (!r->regions) {
        free(r);
        return CUSTODY_ENOMEM;
    }
    r->device = method == LOADER_MMAP ? -1 : o->device;
    r->method = method;
    r->nfiles = n;
    for (size_t i = 0; i < n; i++)
        r->bytes += files[i].end - files[i].begin;

    uint64_t t0 = loader_now_ns();
    if (method == LOADER_MMAP)
        rc = loader_cpu_load(files, n, o, r, err, errlen);
    else
        rc = loader_gpu_load(files, n, o, method, r, err, errlen);
    r->ns = loader_now_ns() - t0;
    if (rc) {
        free(r->regions);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void loader_result_free(struct loader_result *r)
{
    if (!r) return;
    struct loader_priv *p = r->priv_;
    if (p) {
        if (p->kind == LOADER_MMAP)
            loader_cpu_free(p);
        else
            loader_gpu_free(p);
    }
    free(r->regions);
    free(r);
}

int loader_region_read(const struct loader_result *r, size_t i, uint64_t off, void *dst, size_t len,
                       char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!r || (!dst && len) || i >= r->nfiles) {
        loader_errf(err, errlen, "bad argument");
        return CUSTODY_EINVAL;
    }
    const struct loader_region *g = &r->regions[i];
    if (off > g->len || len > g->len - off) {
        loader_errf(err, errlen, "bytes [%llu, %llu) are outside region %zu of %llu bytes",
                    (unsigned long long)off, (unsigned long long)off + len, i,
                    (unsigned long long)g->len);
        return CUSTODY_ERANGE;
    }
    if (len == 0) return 0;
    if (r->device < 0) {
        memcpy(dst, (const uint8_t *)g->base + off, len);
        return 0;
    }
    return loader_gpu_copy_to_host(r, i, off, dst, len, err, errlen);
}
