/*
 * loader_int.h — private to src/loader: what load.c (dispatch), cpu.c (the
 * mmap path) and gpu.c (CUDA and cuFile paths) share. Not installed, not
 * used outside src/loader.
 */
#ifndef CUSTODY_LOADER_INT_H
#define CUSTODY_LOADER_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include "loader/loader.h"

/* Defaults (see docs/model.md, "Loader"). */
#define LOADER_CPU_DEFAULT_CHUNK (64u << 20) /* populate work unit */
#define LOADER_CPU_MIN_CHUNK (2u << 20)
#define LOADER_GPU_DEFAULT_THREADS 8
#define LOADER_GPU_DEFAULT_CHUNK (8u << 20)
#define LOADER_GPU_DEFAULT_STREAMS 4
#define LOADER_MAX_THREADS 256
#define LOADER_MAX_BUFFERS 1024
#define LOADER_MAX_STREAMS 64
#define LOADER_MAX_CHUNK (1u << 30)
#define LOADER_DIRECT_ALIGN 4096u

/* One file's host mapping (cpu.c). */
struct loader_map {
    void *addr; /* NULL when nothing is mapped (empty region) */
    size_t len;
};

/* What a result owns; freed by loader_result_free. */
struct loader_priv {
    int kind; /* LOADER_MMAP, or a GPU method */
    size_t n;
    struct loader_map *maps; /* CPU: one per file */
    void **dev;              /* GPU: one device allocation per file (NULL when empty) */
    int device;
};

/* ---- CUDA runtime, declared by hand ---- */
typedef int cudaError_t;
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
#define CUDA_SUCCESS_ 0
#define CUDA_H2D_ 1
#define CUDA_D2H_ 2
#define CUDA_STREAM_NONBLOCKING_ 1u
#define CUDA_EVENT_BLOCKING_SYNC_ 1u
#define CUDA_EVENT_DISABLE_TIMING_ 2u

struct cuda_api {
    void *lib;
    char path[512];
    cudaError_t (*GetDeviceCount)(int *);
    cudaError_t (*GetDevice)(int *);
    cudaError_t (*SetDevice)(int);
    cudaError_t (*Malloc)(void **, size_t);
    cudaError_t (*Free)(void *);
    cudaError_t (*HostAlloc)(void **, size_t, unsigned);
    cudaError_t (*FreeHost)(void *);
    cudaError_t (*StreamCreateWithFlags)(cudaStream_t *, unsigned);
    cudaError_t (*StreamDestroy)(cudaStream_t);
    cudaError_t (*StreamSynchronize)(cudaStream_t);
    cudaError_t (*MemcpyAsync)(void *, const void *, size_t, int, cudaStream_t);
    cudaError_t (*Memcpy)(void *, const void *, size_t, int);
    cudaError_t (*EventCreateWithFlags)(cudaEvent_t *, unsigned);
    cudaError_t (*EventDestroy)(cudaEvent_t);
    cudaError_t (*EventRecord)(cudaEvent_t, cudaStream_t);
    cudaError_t (*EventSynchronize)(cudaEvent_t);
    const char *(*GetErrorString)(cudaError_t);
};

/* ---- cuFile, declared by hand (layout in the comment at the top) ---- */
typedef struct {
    int err;
    int cu_err;
} cufile_error_t;
typedef struct {
    int type;
    union {
        int fd;
        void *handle;
    } handle;
    const void *fs_ops;
} cufile_descr_t;
typedef void *cufile_handle_t;
#define CUFILE_HANDLE_TYPE_OPAQUE_FD_ 1

struct cufile_api {
    void *lib;
    char path[512];
    cufile_error_t (*DriverOpen)(void);
    cufile_error_t (*HandleRegister)(cufile_handle_t *, cufile_descr_t *);
    void (*HandleDeregister)(cufile_handle_t);
    ssize_t (*Read)(cufile_handle_t, void *, size_t, off_t, off_t);
};

/* Tests only: replaces the CUDA runtime (and cuFile, when not NULL) with
 * these tables, e.g. fakes that work in host memory, so the rings can be
 * tested without a GPU. NULL, NULL puts back what dlopen found. Not for
 * concurrent use with loads. */
void loader_gpu_fake_(const struct cuda_api *cuda, const struct cufile_api *cufile);

/* Tests only: populate by touching pages instead of MADV_POPULATE_READ. */
void loader_cpu_force_touch_(int on);

/* Writes a one-line message into err (NULL fine). */
void loader_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic nanoseconds. */
uint64_t loader_now_ns(void);

/* Online CPUs, at least 1. */
unsigned loader_ncpu(void);

/* cpu.c: maps and populates every region; fills r->regions and r->priv_. */
int loader_cpu_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                    struct loader_result *r, char *err, size_t errlen);
void loader_cpu_free(struct loader_priv *p);

/* gpu.c: loads into device memory with a GPU method. */
int loader_gpu_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                    int method, struct loader_result *r, char *err, size_t errlen);
void loader_gpu_free(struct loader_priv *p);
/* gpu.c: a synchronous device-to-host copy out of region i of a GPU result. */
int loader_gpu_copy_to_host(const struct loader_result *r, size_t i, uint64_t off, void *dst,
                            size_t len, char *err, size_t errlen);

#endif
