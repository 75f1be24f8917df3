/*
 * loader.h — the doorway to src/loader, the loader core (issue 6): the
 * tensor data of model shards into CPU memory or into a GPU's memory, fast.
 *
 * The loader core builds with libc, pthreads and dlopen only (liburing when
 * CMake finds it): it is compiled on the GPU machine, which has a compiler,
 * CMake, CUDA and PyTorch but no package access. CUDA (libcudart) and cuFile
 * (libcufile) are looked up with dlopen at run time, so nothing here needs
 * them to build, and everything but the GPU paths works without them.
 *
 * The loader never opens a shard by path: the caller hands it descriptors
 * it opened and checked (libcustody gets them from custodyd's decision,
 * decision 0012; bench/gpu opens files itself). It reads the byte region
 * [begin, end) of each file: for a model, from its first tensor's offset to
 * its last tensor's end. A tensor at absolute file offset `off` in file i is
 * then at regions[i].base + (off - files[i].begin), in host or device
 * memory.
 *
 * Every function returns 0 on success and a negative CUSTODY_E* code
 * (include/custody/custody.h) on failure; those that take (err, errlen)
 * write a one-line message there (err may be NULL). On failure *out is NULL
 * and nothing stays allocated.
 */
#ifndef CUSTODY_LOADER_H
#define CUSTODY_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "custody/custody.h"

#define LOADER_MAX_FILES 65536

struct loader_file {
    int fd;         /* open for reading; the loader neither closes nor moves it */
    uint64_t size;  /* the file's size in bytes */
    uint64_t begin; /* the region to load: [begin, end), end <= size */
    uint64_t end;
};

/* How bytes travel. LOADER_AUTO picks: CPU -> MMAP; GPU -> PINNED_RING. */
enum loader_method {
    LOADER_AUTO = 0,
    LOADER_MMAP,        /* CPU: zero-copy mmap of the file, populated (page cache) */
    LOADER_PINNED_RING, /* GPU: reader threads pread into pinned staging buffers in a
                         * ring, copies on several CUDA streams (never from an mmap) */
    LOADER_DIRECT_RING, /* GPU: the same ring with O_DIRECT reads (cold files) */
    LOADER_CUFILE,      /* GPU: cuFile (GPUDirect Storage, or its compatibility mode) */
};

struct loader_opts {
    int device;       /* -1: CPU memory; >= 0: this CUDA device */
    int method;       /* enum loader_method */
    unsigned threads; /* reader / populate threads; 0: a default for the method */
    size_t chunk;     /* bytes per read; 0: a default (a few MiB) */
    unsigned buffers; /* pinned staging buffers in the ring; 0: a default */
    unsigned streams; /* CUDA streams; 0: a default */
};

struct loader_region {
    void *base;   /* address of byte `begin` of the file (host or device memory) */
    uint64_t len; /* end - begin */
};

struct loader_result {
    int device; /* -1: host memory; else the CUDA device the regions are on */
    int method; /* the method used (never LOADER_AUTO) */
    size_t nfiles;
    struct loader_region *regions; /* one per file, in the order given */
    uint64_t bytes;                /* bytes loaded: the sum of the regions */
    uint64_t ns;                   /* wall time of the load */
    void *priv_;                   /* the loader's own state (mappings, device buffers) */
};

/* Loads the regions of files[0..n) as o says (o NULL: CPU, AUTO). */
int loader_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                struct loader_result **out, char *err, size_t errlen);

/* Unmaps or frees what a result holds, then the result (NULL is fine). */
void loader_result_free(struct loader_result *r);

/* Copies bytes [off, off + len) of region i (offsets relative to the
 * region's begin) into host memory at dst: memcpy for host results, a
 * synchronous device-to-host cudaMemcpy for device results. For checks and
 * tests, not a fast path. CUSTODY_ERANGE when the bytes are outside the
 * region. */
int loader_region_read(const struct loader_result *r, size_t i, uint64_t off, void *dst, size_t len,
                       char *err, size_t errlen);

/* The GPU rings keep their pinned staging buffers, streams and events after
 * a load, for the next one (allocating pinned memory costs tens of
 * milliseconds). This frees them; the next GPU load allocates again. Safe to
 * call at any time, also without CUDA. */
void loader_gpu_release(void);

/* 0 when libcudart can be loaded and has at least one device (*ndev set),
 * else CUSTODY_EUNSUPPORTED with the reason in err. */
int loader_cuda_probe(int *ndev, char *err, size_t errlen);

#endif
