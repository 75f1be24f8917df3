/*
 * gpu.c — the GPU methods: LOADER_PINNED_RING, LOADER_DIRECT_RING and
 * LOADER_CUFILE. CUDA's runtime (libcudart) and cuFile (libcufile) are found
 * with dlopen at run time and only the functions below are resolved with
 * dlsym, with prototypes declared here in plain C types: nothing of CUDA is
 * needed to build, and without it every GPU call answers
 * CUSTODY_EUNSUPPORTED with the reason.
 *
 * CUDA runtime symbols used (all present, unversioned, in libcudart 11, 12
 * and 13): cudaGetDeviceCount, cudaGetDevice, cudaSetDevice, cudaMalloc,
 * cudaFree, cudaHostAlloc, cudaFreeHost, cudaStreamCreateWithFlags,
 * cudaStreamDestroy, cudaStreamSynchronize, cudaMemcpyAsync, cudaMemcpy,
 * cudaEventCreateWithFlags, cudaEventDestroy, cudaEventRecord,
 * cudaEventSynchronize, cudaGetErrorString. What we rely on from
 * cuda_runtime_api.h / driver_types.h: cudaError_t is an int-sized enum with
 * cudaSuccess == 0; cudaStream_t and cudaEvent_t are pointers;
 * cudaMemcpyHostToDevice == 1, cudaMemcpyDeviceToHost == 2;
 * cudaStreamNonBlocking == 1; cudaEventBlockingSync == 1,
 * cudaEventDisableTiming == 2; cudaHostAllocDefault == 0. These values are
 * part of CUDA's stable ABI and have not changed since CUDA 4.
 *
 * cuFile symbols used: cuFileDriverOpen, cuFileHandleRegister,
 * cuFileHandleDeregister, cuFileRead. What we rely on from NVIDIA's public
 * cufile.h (GDS 1.x, unchanged through CUDA 13's libcufile 1.15):
 *   typedef struct CUfileError { CUfileOpError err; CUresult cu_err; } CUfileError_t;
 *     (two int-sized enums, returned by value; CU_FILE_SUCCESS == 0)
 *   typedef struct CUfileDescr_t {
 *       CUfileFileHandleType type;               (int-sized enum; OPAQUE_FD == 1)
 *       union { int fd; void *handle; } handle;
 *       const CUfileFSOps_t *fs_ops;             (NULL for a plain fd)
 *   } CUfileDescr_t;
 *   typedef void *CUfileHandle_t;
 *   CUfileError_t cuFileHandleRegister(CUfileHandle_t *fh, CUfileDescr_t *descr);
 *   ssize_t cuFileRead(CUfileHandle_t fh, void *bufPtr_base, size_t size,
 *                      off_t file_offset, off_t bufPtr_offset);
 *     (bytes read, -1 with errno, or -CU_FILE_* on a cuFile error)
 * The driver is opened once per process and never closed (cuFileDriverClose
 * became cuFileDriverClose_v2 behind a macro; not calling it sidesteps that
 * and lets other users of libcufile in the process keep theirs).
 *
 * The rings. The regions are cut into pieces on a grid of `chunk` bytes in
 * absolute file offsets (4 KiB aligned for O_DIRECT). Reader threads take
 * pieces from a shared counter; each owns buffers/threads pinned staging
 * buffers (cudaHostAlloc) and cycles through them: wait for the buffer's
 * event (its previous copy is done), pread(2) the piece into it, then
 * cudaMemcpyAsync it to the device on stream (buffer % streams) and record
 * the buffer's event. Reads of one thread overlap the copies of its earlier
 * pieces, and the threads together keep the copy engines busy. Nothing is
 * ever copied to the device from an mmap. The staging buffers, streams and
 * events are kept after a load for the next one (allocating pinned memory
 * costs tens of milliseconds); loader_gpu_release frees them.
 *
 * O_DIRECT (LOADER_DIRECT_RING, LOADER_CUFILE): the loader never opens a
 * shard by path. It re-opens the caller's descriptor through
 * /proc/self/fd/N with O_RDONLY | O_DIRECT, which gives a new open file
 * description of the same inode (checked with fstat: same device and inode)
 * and leaves the caller's descriptor untouched. fcntl(F_SETFL, O_DIRECT) on
 * the caller's descriptor was the other choice: it would change the flags
 * of a file description the caller (and, after SCM_RIGHTS, custodyd) shares,
 * under its feet and for its other reads too. Reads cover an aligned
 * superset of [begin, end) (4 KiB: tensors are not aligned); the device
 * allocation covers the same aligned span so a piece lands at its own
 * offset, and only the wanted part of the first and last pieces is copied.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "loader/loader_int.h"

static struct cuda_api g_cuda;
static int g_cuda_rc = CUSTODY_EUNSUPPORTED;
static char g_cuda_err[1024];
static pthread_once_t g_cuda_once = PTHREAD_ONCE_INIT;

static struct cufile_api g_cufile;
static int g_cufile_rc = CUSTODY_EUNSUPPORTED;
static char g_cufile_err[1024];
static pthread_once_t g_cufile_once = PTHREAD_ONCE_INIT;

/* Resolves name into *slot (a function pointer); 0 or -1. */
static int sym(void *lib, const char *name, void *slot, char *missing, size_t mlen)
{
    void *p = dlsym(lib, name);
    if (!p) {
        snprintf(missing, mlen, "%s", name);
        return -1;
    }
    memcpy(slot, &p, sizeof p); /* POSIX: function pointers fit in void * */
    return 0;
}

static int cuda_resolve(void *lib, struct cuda_api *a, char *missing, size_t mlen)
{
    struct {
        const char *name;
        void *slot;
    } t[] = {
        {"cudaGetDeviceCount", &a->GetDeviceCount},
        {"cudaGetDevice", &a->GetDevice},
        {"cudaSetDevice", &a->SetDevice},
        {"cudaMalloc", &a->Malloc},
        {"cudaFree", &a->Free},
        {"cudaHostAlloc", &a->HostAlloc},
        {"cudaFreeHost", &a->FreeHost},
        {"cudaStreamCreateWithFlags", &a->StreamCreateWithFlags},
        {"cudaStreamDestroy", &a->StreamDestroy},
        {"cudaStreamSynchronize", &a->StreamSynchronize},
        {"cudaMemcpyAsync", &a->MemcpyAsync},
        {"cudaMemcpy", &a->Memcpy},
        {"cudaEventCreateWithFlags", &a->EventCreateWithFlags},
        {"cudaEventDestroy", &a->EventDestroy},
        {"cudaEventRecord", &a->EventRecord},
        {"cudaEventSynchronize", &a->EventSynchronize},
        {"cudaGetErrorString", &a->GetErrorString},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (sym(lib, t[i].name, t[i].slot, missing, mlen)) return -1;
    return 0;
}

static int cufile_resolve(void *lib, struct cufile_api *a, char *missing, size_t mlen)
{
    if (sym(lib, "cuFileDriverOpen", &a->DriverOpen, missing, mlen) ||
        sym(lib, "cuFileHandleRegister", &a->HandleRegister, missing, mlen) ||
        sym(lib, "cuFileHandleDeregister", &a->HandleDeregister, missing, mlen) ||
        sym(lib, "cuFileRead", &a->Read, missing, mlen))
        return -1;
    return 0;
}

/* Tries the environment variable, then the plain names, then the globs,
 * in order; the first library that opens and has every symbol wins. tried
 * collects what failed, for the message. */
typedef int (*resolve_fn)(void *lib, void *api, char *missing, size_t mlen);

static int try_lib(const char *name, resolve_fn fn, void *api, void **lib_out, char *tried,
                   size_t tlen)
{
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    size_t used = strlen(tried);
    if (!lib) {
        if (used + 4 < tlen)
            snprintf(tried + used, tlen - used, "%s%s (not loadable)", used ? "; " : "", name);
        return -1;
    }
    char missing[128] = "";
    if (fn(lib, api, missing, sizeof missing)) {
        if (used + 4 < tlen)
            snprintf(tried + used, tlen - used, "%s%s (no %s)", used ? "; " : "", name, missing);
        dlclose(lib);
        return -1;
    }
    *lib_out = lib;
    return 0;
}

static int find_lib(const char *env, const char *const *names, const char *const *globs,
                    resolve_fn fn, void *api, void **lib_out, char *path, size_t plen, char *tried,
                    size_t tlen)
{
    tried[0] = '\0';
    const char *e = getenv(env);
    if (e && *e) {
        if (try_lib(e, fn, api, lib_out, tried, tlen) == 0) {
            snprintf(path, plen, "%s", e);
            return 0;
        }
    }
    for (size_t i = 0; names[i]; i++) {
        if (try_lib(names[i], fn, api, lib_out, tried, tlen) == 0) {
            snprintf(path, plen, "%s", names[i]);
            return 0;
        }
    }
    size_t nglob_tried = 0;
    for (size_t i = 0; globs[i]; i++) {
        glob_t g;
        if (glob(globs[i], 0, NULL, &g) != 0) continue;
        /* Newest last in lexical order; try from the end (libcudart.so.13 before .12). */
        for (size_t k = g.gl_pathc; k-- > 0;) {
            nglob_tried++;
            if (try_lib(g.gl_pathv[k], fn, api, lib_out, tried, tlen) == 0) {
                snprintf(path, plen, "%s", g.gl_pathv[k]);
                globfree(&g);
                return 0;
            }
        }
        globfree(&g);
    }
    if (nglob_tried == 0) {
        size_t used = strlen(tried);
        if (used + 4 < tlen)
            snprintf(tried + used, tlen - used, "%sno match under the CUDA and pip folders",
                     used ? "; " : "");
    }
    return -1;
}

static int cuda_resolve_v(void *lib, void *api, char *m, size_t ml)
{
    return cuda_resolve(lib, api, m, ml);
}

static int cufile_resolve_v(void *lib, void *api, char *m, size_t ml)
{
    return cufile_resolve(lib, api, m, ml);
}

static void cuda_init_once(void)
{
    static const char *const names[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", NULL};
    static const char *const globs[] = {
        "/usr/local/cuda/lib64/libcudart.so*", "/usr/local/cuda/targets/*/lib/libcudart.so*",
        "/usr/local/cuda-*/lib64/libcudart.so*", "/usr/local/cuda-*/targets/*/lib/libcudart.so*",
        "/usr/lib/x86_64-linux-gnu/libcudart.so*",
        /* PyTorch's pip layout (CUDA 12 wheels, then CUDA 13's nvidia/cu13) */
        "/usr/local/lib/python3*/dist-packages/nvidia/cuda_runtime/lib/libcudart.so*",
        "/usr/local/lib/python3*/site-packages/nvidia/cuda_runtime/lib/libcudart.so*",
        "/usr/lib/python3*/site-packages/nvidia/cuda_runtime/lib/libcudart.so*",
        "/usr/local/lib/python3*/dist-packages/nvidia/cu13/lib/libcudart.so*",
        "/usr/local/lib/python3*/site-packages/nvidia/cu13/lib/libcudart.so*",
        "/opt/conda/lib/libcudart.so*", NULL};
    char tried[700];
    void *lib = NULL;
    struct cuda_api a = {0};
    if (find_lib("CUSTODY_CUDART", names, globs, cuda_resolve_v, &a, &lib, a.path, sizeof a.path,
                 tried, sizeof tried)) {
        snprintf(g_cuda_err, sizeof g_cuda_err, "no usable libcudart (set CUSTODY_CUDART): %s",
                 tried);
        g_cuda_rc = CUSTODY_EUNSUPPORTED;
        return;
    }
    a.lib = lib;
    g_cuda = a;
    g_cuda_rc = 0;
}

/* 0 with the API loaded, or EUNSUPPORTED with the reason in err. */
static int cuda_get(const struct cuda_api **api, char *err, size_t errlen)
{
    pthread_once(&g_cuda_once, cuda_init_once);
    if (g_cuda_rc) {
        loader_errf(err, errlen, "%s", g_cuda_err);
        return g_cuda_rc;
    }
    *api = &g_cuda;
    return 0;
}

static void cufile_init_once(void)
{
    static const char *const names[] = {"libcufile.so", "libcufile.so.0", NULL};
    static const char *const globs[] = {
        "/usr/local/cuda/lib64/libcufile.so*",
        "/usr/local/cuda/targets/*/lib/libcufile.so*",
        "/usr/local/cuda-*/lib64/libcufile.so*",
        "/usr/local/cuda-*/targets/*/lib/libcufile.so*",
        "/usr/lib/x86_64-linux-gnu/libcufile.so*",
        "/usr/local/lib/python3*/dist-packages/nvidia/cufile/lib/libcufile.so*",
        "/usr/local/lib/python3*/site-packages/nvidia/cufile/lib/libcufile.so*",
        "/usr/local/lib/python3*/dist-packages/nvidia/cu13/lib/libcufile.so*",
        "/usr/local/lib/python3*/site-packages/nvidia/cu13/lib/libcufile.so*",
        NULL};
    char tried[700];
    void *lib = NULL;
    struct cufile_api a = {0};
    if (find_lib("CUSTODY_CUFILE", names, globs, cufile_resolve_v, &a, &lib, a.path, sizeof a.path,
                 tried, sizeof tried)) {
        snprintf(g_cufile_err, sizeof g_cufile_err, "no usable libcufile (set CUSTODY_CUFILE): %s",
                 tried);
        return;
    }
    a.lib = lib;
    cufile_error_t e = a.DriverOpen();
    if (e.err != 0) {
        snprintf(g_cufile_err, sizeof g_cufile_err,
                 "cuFileDriverOpen failed (%s): cuFile error %d, CUDA driver error %d "
                 "(without nvidia-fs, compatibility mode needs allow_compat_mode in "
                 "cufile.json or CUFILE_FORCE_COMPAT_MODE=true)",
                 a.path, e.err, e.cu_err);
        return; /* the library stays loaded: harmless, and dlclose could race */
    }
    g_cufile = a;
    g_cufile_rc = 0;
}

static void cufile_noop_once(void)
{
}

static int cufile_get(const struct cufile_api **api, char *err, size_t errlen)
{
    pthread_once(&g_cufile_once, cufile_init_once);
    if (g_cufile_rc) {
        loader_errf(err, errlen, "%s", g_cufile_err);
        return g_cufile_rc;
    }
    *api = &g_cufile;
    return 0;
}

void loader_gpu_fake_(const struct cuda_api *cuda, const struct cufile_api *cufile)
{
    static struct cuda_api real_cuda, fake_cuda;
    static struct cufile_api real_cufile, fake_cufile;
    static int real_cuda_rc, real_cufile_rc, saved;
    pthread_once(&g_cuda_once, cuda_init_once);
    if (!saved) {
        real_cuda = g_cuda, real_cuda_rc = g_cuda_rc;
        real_cufile = g_cufile, real_cufile_rc = g_cufile_rc;
        saved = 1;
    }
    /* the real cuFile is never initialized from here: the fake skips it */
    pthread_once(&g_cufile_once, cufile_noop_once);
    if (cuda) {
        fake_cuda = *cuda;
        g_cuda = fake_cuda;
        g_cuda_rc = 0;
    } else {
        g_cuda = real_cuda, g_cuda_rc = real_cuda_rc;
    }
    if (cufile) {
        fake_cufile = *cufile;
        g_cufile = fake_cufile;
        g_cufile_rc = 0;
    } else {
        g_cufile = real_cufile, g_cufile_rc = real_cufile_rc;
        if (cuda) snprintf(g_cufile_err, sizeof g_cufile_err, "no cuFile in the fake");
    }
}

static const char *cuda_str(const struct cuda_api *a, cudaError_t e)
{
    const char *s = a->GetErrorString ? a->GetErrorString(e) : NULL;
    return s ? s : "unknown CUDA error";
}

int loader_cuda_probe(int *ndev, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (ndev) *ndev = 0;
    const struct cuda_api *a;
    int rc = cuda_get(&a, err, errlen);
    if (rc) return rc;
    int n = 0;
    cudaError_t e = a->GetDeviceCount(&n);
    if (e != CUDA_SUCCESS_) {
        loader_errf(err, errlen, "%s: cudaGetDeviceCount: %s (error %d)", a->path, cuda_str(a, e),
                    e);
        return CUSTODY_EUNSUPPORTED;
    }
    if (n < 1) {
        loader_errf(err, errlen, "%s: no CUDA device", a->path);
        return CUSTODY_EUNSUPPORTED;
    }
    if (ndev) *ndev = n;
    return 0;
}

/* ---- staging: pinned buffers, events and streams, kept between loads ---- */
struct stage {
    int device;
    unsigned nbuf, nstreams;
    size_t bufsize; /* usable bytes per buffer, 4 KiB aligned start */
    void **raw;     /* what cudaHostAlloc returned */
    uint8_t **buf;
    cudaEvent_t *ev;
    cudaStream_t *st;
};

static pthread_mutex_t g_stage_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stage *g_stage; /* the kept one, or NULL */

/* Frees s; the caller has set the device. */
static void stage_destroy(const struct cuda_api *a, struct stage *s)
{
    if (!s) return;
    for (unsigned i = 0; i < s->nstreams && s->st; i++)
        if (s->st[i]) {
            a->StreamSynchronize(s->st[i]);
            a->StreamDestroy(s->st[i]);
        }
    for (unsigned i = 0; i < s->nbuf; i++) {
        if (s->ev && s->ev[i]) a->EventDestroy(s->ev[i]);
        if (s->raw && s->raw[i]) a->FreeHost(s->raw[i]);
    }
    free(s->raw);
    free(s->buf);
    free(s->ev);
    free(s->st);
    free(s);
}

/* Takes the kept staging when it fits, else makes one. Device already set. */
static int stage_get(const struct cuda_api *a, int device, unsigned nbuf, size_t bufsize,
                     unsigned nstreams, struct stage **out, char *err, size_t errlen)
{
    pthread_mutex_lock(&g_stage_mu);
    struct stage *s = g_stage;
    if (s && s->device == device && s->nbuf == nbuf && s->nstreams == nstreams &&
        s->bufsize >= bufsize) {
        g_stage = NULL;
        pthread_mutex_unlock(&g_stage_mu);
        *out = s;
        return 0;
    }
    pthread_mutex_unlock(&g_stage_mu);

    s = calloc(1, sizeof *s);
    if (!s) return CUSTODY_ENOMEM;
    s->device = device;
    s->nbuf = nbuf;
    s->nstreams = nstreams;
    s->bufsize = bufsize;
    s->raw = calloc(nbuf, sizeof *s->raw);
    s->buf = calloc(nbuf, sizeof *s->buf);
    s->ev = calloc(nbuf, sizeof *s->ev);
    s->st = calloc(nstreams, sizeof *s->st);
    if (!s->raw || !s->buf || !s->ev || !s->st) {
        stage_destroy(a, s);
        return CUSTODY_ENOMEM;
    }
    cudaError_t e;
    for (unsigned i = 0; i < nstreams; i++) {
        e = a->StreamCreateWithFlags(&s->st[i], CUDA_STREAM_NONBLOCKING_);
        if (e != CUDA_SUCCESS_) {
            loader_errf(err, errlen, "cudaStreamCreateWithFlags: %s", cuda_str(a, e));
            goto fail;
        }
    }
    for (unsigned i = 0; i < nbuf; i++) {
        /* + 4 KiB so the usable part can start 4 KiB aligned whatever we get */
        e = a->HostAlloc(&s->raw[i], bufsize + LOADER_DIRECT_ALIGN, 0);
        if (e != CUDA_SUCCESS_) {
            s->raw[i] = NULL;
            loader_errf(err, errlen, "cudaHostAlloc of %zu bytes (buffer %u of %u): %s", bufsize, i,
                        nbuf, cuda_str(a, e));
            stage_destroy(a, s);
            return CUSTODY_ENOMEM;
        }
        uintptr_t p = (uintptr_t)s->raw[i];
        p = (p + LOADER_DIRECT_ALIGN - 1) & ~(uintptr_t)(LOADER_DIRECT_ALIGN - 1);
        s->buf[i] = (uint8_t *)p;
        e = a->EventCreateWithFlags(&s->ev[i],
                                    CUDA_EVENT_BLOCKING_SYNC_ | CUDA_EVENT_DISABLE_TIMING_);
        if (e != CUDA_SUCCESS_) {
            s->ev[i] = NULL;
            loader_errf(err, errlen, "cudaEventCreateWithFlags: %s", cuda_str(a, e));
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    stage_destroy(a, s);
    return CUSTODY_EIO;
}

/* Keeps s for the next load (replacing an older one), or frees it when the
 * load failed (its streams may hold an error). Device already set. */
static void stage_put(const struct cuda_api *a, struct stage *s, int ok)
{
    if (!s) return;
    if (!ok) {
        stage_destroy(a, s);
        return;
    }
    pthread_mutex_lock(&g_stage_mu);
    struct stage *old = g_stage;
    g_stage = s;
    pthread_mutex_unlock(&g_stage_mu);
    if (old) {
        int od = old->device;
        if (od != s->device) a->SetDevice(od);
        stage_destroy(a, old);
        if (od != s->device) a->SetDevice(s->device);
    }
}

void loader_gpu_release(void)
{
    pthread_mutex_lock(&g_stage_mu);
    struct stage *s = g_stage;
    g_stage = NULL;
    pthread_mutex_unlock(&g_stage_mu);
    if (!s) return;
    const struct cuda_api *a;
    if (cuda_get(&a, NULL, 0)) return;
    int cur = 0;
    a->GetDevice(&cur);
    a->SetDevice(s->device);
    stage_destroy(a, s);
    a->SetDevice(cur);
}

/* ---- the readers ---- */
struct gpiece {
    uint32_t file;
    uint64_t off;     /* first byte read (absolute; aligned for O_DIRECT) */
    uint32_t len;     /* bytes read, at most chunk */
    uint64_t want_lo; /* [want_lo, want_hi) is copied to the device */
    uint64_t want_hi;
};

struct gjob {
    const struct cuda_api *a;
    const struct cufile_api *cf;
    int method;
    int device;
    struct stage *st;
    unsigned nthreads;
    const int *rfd;         /* per file: descriptor to read */
    cufile_handle_t *cfh;   /* per file: cuFile handle (LOADER_CUFILE) */
    uint8_t *const *dev;    /* per file: device allocation, covers [abegin, ...) */
    const uint64_t *abegin; /* per file: file offset of dev[i][0] */
    const struct gpiece *pieces;
    size_t npieces;
    atomic_size_t next;
    atomic_int rc;
    pthread_mutex_t mu;
    char err[512];
};

struct gworker {
    struct gjob *j;
    unsigned id;
};

static void job_fail(struct gjob *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_fail(struct gjob *j, int code, const char *fmt, ...)
{
    int expect = 0;
    pthread_mutex_lock(&j->mu);
    if (atomic_compare_exchange_strong(&j->rc, &expect, code)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->err, sizeof j->err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&j->mu);
}

/* Reads at least need bytes of the piece into buf (more when the file has
 * them, up to len); 0 or an error code. */
static int read_piece(struct gjob *j, const struct gpiece *pc, uint8_t *buf)
{
    int fd = j->rfd[pc->file];
    size_t need = (size_t)(pc->want_hi - pc->off);
    size_t got = 0;
    while (got < need) {
        ssize_t r = pread(fd, buf + got, pc->len - got, (off_t)(pc->off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            job_fail(j, CUSTODY_EIO, "file %u: read of %u bytes at %llu: %s", pc->file, pc->len,
                     (unsigned long long)(pc->off + got), strerror(e));
            return CUSTODY_EIO;
        }
        if (r == 0) break;
        got += (size_t)r;
        /* O_DIRECT: a short read that is not block aligned only happens at EOF */
        if (j->method == LOADER_DIRECT_RING && (got % LOADER_DIRECT_ALIGN) != 0) break;
    }
    if (got < need) {
        job_fail(j, CUSTODY_EIO, "file %u: ends at %llu, before the region's end %llu", pc->file,
                 (unsigned long long)(pc->off + got), (unsigned long long)pc->want_hi);
        return CUSTODY_EIO;
    }
    return 0;
}

static void *ring_worker(void *arg)
{
    struct gworker *w = arg;
    struct gjob *j = w->j;
    const struct cuda_api *a = j->a;
    struct stage *st = j->st;
    cudaError_t e = a->SetDevice(j->device);
    if (e != CUDA_SUCCESS_) {
        job_fail(j, CUSTODY_EIO, "cudaSetDevice(%d): %s", j->device, cuda_str(a, e));
        return NULL;
    }
    /* this thread's buffers: id, id + T, id + 2T, ... */
    unsigned mine[LOADER_MAX_BUFFERS];
    unsigned nmine = 0;
    for (unsigned b = w->id; b < st->nbuf; b += j->nthreads)
        mine[nmine++] = b;
    unsigned char pending[LOADER_MAX_BUFFERS];
    memset(pending, 0, sizeof pending);
    unsigned k = 0;
    for (;;) {
        if (atomic_load_explicit(&j->rc, memory_order_relaxed)) break;
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->npieces) break;
        const struct gpiece *pc = &j->pieces[i];
        unsigned slot = k++ % nmine;
        unsigned b = mine[slot];
        if (pending[slot]) {
            pending[slot] = 0;
            e = a->EventSynchronize(st->ev[b]);
            if (e != CUDA_SUCCESS_) {
                job_fail(j, CUSTODY_EIO, "cudaEventSynchronize: %s", cuda_str(a, e));
                break;
            }
        }
        if (read_piece(j, pc, st->buf[b])) break;
        cudaStream_t s = st->st[b % st->nstreams];
        uint8_t *dst = j->dev[pc->file] + (pc->want_lo - j->abegin[pc->file]);
        e = a->MemcpyAsync(dst, st->buf[b] + (pc->want_lo - pc->off),
                           (size_t)(pc->want_hi - pc->want_lo), CUDA_H2D_, s);
        if (e == CUDA_SUCCESS_) e = a->EventRecord(st->ev[b], s);
        if (e != CUDA_SUCCESS_) {
            job_fail(j, CUSTODY_EIO, "cudaMemcpyAsync of %llu bytes: %s",
                     (unsigned long long)(pc->want_hi - pc->want_lo), cuda_str(a, e));
            break;
        }
        pending[slot] = 1;
    }
    /* Never leave with a copy in flight from one of our buffers. */
    for (unsigned s = 0; s < nmine; s++) {
        if (!pending[s]) continue;
        e = a->EventSynchronize(st->ev[mine[s]]);
        if (e != CUDA_SUCCESS_)
            job_fail(j, CUSTODY_EIO, "cudaEventSynchronize: %s", cuda_str(a, e));
    }
    return NULL;
}

static void *cufile_worker(void *arg)
{
    struct gworker *w = arg;
    struct gjob *j = w->j;
    cudaError_t e = j->a->SetDevice(j->device);
    if (e != CUDA_SUCCESS_) {
        job_fail(j, CUSTODY_EIO, "cudaSetDevice(%d): %s", j->device, cuda_str(j->a, e));
        return NULL;
    }
    for (;;) {
        if (atomic_load_explicit(&j->rc, memory_order_relaxed)) break;
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->npieces) break;
        const struct gpiece *pc = &j->pieces[i];
        uint64_t need = pc->want_hi - pc->off;
        uint64_t got = 0;
        while (got < need) {
            ssize_t r =
                j->cf->Read(j->cfh[pc->file], j->dev[pc->file], pc->len - got,
                            (off_t)(pc->off + got), (off_t)(pc->off + got - j->abegin[pc->file]));
            if (r < 0) {
                int e2 = errno;
                if (r == -1)
                    job_fail(j, CUSTODY_EIO, "file %u: cuFileRead at %llu: %s", pc->file,
                             (unsigned long long)(pc->off + got), strerror(e2));
                else
                    job_fail(j, CUSTODY_EIO, "file %u: cuFileRead at %llu: cuFile error %zd",
                             pc->file, (unsigned long long)(pc->off + got), -r);
                return NULL;
            }
            if (r == 0) break;
            got += (uint64_t)r;
        }
        if (got < need) {
            job_fail(j, CUSTODY_EIO, "file %u: ends at %llu, before the region's end %llu",
                     pc->file, (unsigned long long)(pc->off + got),
                     (unsigned long long)pc->want_hi);
            return NULL;
        }
    }
    return NULL;
}

static void run_workers(struct gjob *j, void *(*fn)(void *))
{
    pthread_t tids[LOADER_MAX_THREADS];
    struct gworker ws[LOADER_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 0; t < j->nthreads; t++) {
        ws[t] = (struct gworker){.j = j, .id = t};
        if (pthread_create(&tids[t], NULL, fn, &ws[t]) != 0) break;
        started++;
    }
    if (started == 0) {
        /* No thread could start: do it all here with one worker's buffers. */
        j->nthreads = 1;
        ws[0] = (struct gworker){.j = j, .id = 0};
        fn(&ws[0]);
        return;
    }
    /* When fewer threads started, the buffers of the others stay unused: the
     * pieces come from a shared counter, so fewer readers still do it all. */
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
}

/* Re-opens fd with O_DIRECT through /proc/self/fd (see the top comment). */
static int reopen_direct(int fd, size_t i, int *out, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int d = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (d < 0) {
        int e = errno;
        loader_errf(err, errlen, "file %zu: re-opening descriptor %d with O_DIRECT: %s%s", i, fd,
                    strerror(e), e == EINVAL ? " (the filesystem does not support O_DIRECT)" : "");
        return e == EINVAL ? CUSTODY_EUNSUPPORTED : CUSTODY_EIO;
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || fstat(d, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
        close(d);
        loader_errf(err, errlen, "file %zu: /proc/self/fd/%d is not the same file", i, fd);
        return CUSTODY_EIO;
    }
    *out = d;
    return 0;
}

void loader_gpu_free(struct loader_priv *p)
{
    if (!p) return;
    const struct cuda_api *a;
    if (p->dev && cuda_get(&a, NULL, 0) == 0) {
        int cur = 0;
        a->GetDevice(&cur);
        a->SetDevice(p->device);
        for (size_t i = 0; i < p->n; i++)
            if (p->dev[i]) a->Free(p->dev[i]);
        a->SetDevice(cur);
    }
    free(p->dev);
    free(p);
}

int loader_gpu_copy_to_host(const struct loader_result *r, size_t i, uint64_t off, void *dst,
                            size_t len, char *err, size_t errlen)
{
    const struct cuda_api *a;
    int rc = cuda_get(&a, err, errlen);
    if (rc) return rc;
    int cur = 0;
    a->GetDevice(&cur);
    cudaError_t e = a->SetDevice(r->device);
    if (e == CUDA_SUCCESS_)
        e = a->Memcpy(dst, (const uint8_t *)r->regions[i].base + off, len, CUDA_D2H_);
    a->SetDevice(cur);
    if (e != CUDA_SUCCESS_) {
        loader_errf(err, errlen, "cudaMemcpy device to host: %s", cuda_str(a, e));
        return CUSTODY_EIO;
    }
    return 0;
}

int loader_gpu_load(const struct loader_file *files, size_t n, const struct loader_opts *o,
                    int method, struct loader_result *r, char *err, size_t errlen)
{
    const struct cuda_api *a;
    const struct cufile_api *cf = NULL;
    int rc = cuda_get(&a, err, errlen);
    if (rc) return rc;
    int ndev = 0;
    cudaError_t e = a->GetDeviceCount(&ndev);
    if (e != CUDA_SUCCESS_ || ndev < 1) {
        loader_errf(err, errlen, "%s: no CUDA device (%s)", a->path,
                    e != CUDA_SUCCESS_ ? cuda_str(a, e) : "count is 0");
        return CUSTODY_EUNSUPPORTED;
    }
    if (o->device >= ndev) {
        loader_errf(err, errlen, "device %d: there are %d CUDA devices", o->device, ndev);
        return CUSTODY_EINVAL;
    }
    if (method == LOADER_CUFILE) {
        rc = cufile_get(&cf, err, errlen);
        if (rc) return rc;
    }

    int direct = method == LOADER_DIRECT_RING || method == LOADER_CUFILE;
    uint64_t align = direct ? LOADER_DIRECT_ALIGN : 1;
    size_t chunk = o->chunk ? o->chunk : LOADER_GPU_DEFAULT_CHUNK;
    chunk = (chunk + LOADER_DIRECT_ALIGN - 1) / LOADER_DIRECT_ALIGN * LOADER_DIRECT_ALIGN;
    unsigned threads = o->threads;
    if (threads == 0) {
        threads = loader_ncpu();
        if (threads > 16) threads = 16;
        if (threads < LOADER_GPU_DEFAULT_THREADS / 2) threads = LOADER_GPU_DEFAULT_THREADS / 2;
    }
    unsigned nbuf = o->buffers ? o->buffers : 2 * threads;
    if (nbuf > LOADER_MAX_BUFFERS) nbuf = LOADER_MAX_BUFFERS;
    if (threads > nbuf) threads = nbuf; /* a reader needs a buffer of its own */
    unsigned nstreams = o->streams ? o->streams : LOADER_GPU_DEFAULT_STREAMS;

    int cur = 0;
    a->GetDevice(&cur);
    e = a->SetDevice(o->device);
    if (e != CUDA_SUCCESS_) {
        loader_errf(err, errlen, "cudaSetDevice(%d): %s", o->device, cuda_str(a, e));
        return CUSTODY_EIO;
    }

    struct loader_priv *p = calloc(1, sizeof *p);
    int *rfd = calloc(n ? n : 1, sizeof *rfd);
    cufile_handle_t *cfh = calloc(n ? n : 1, sizeof *cfh);
    uint64_t *abegin = calloc(n ? n : 1, sizeof *abegin);
    struct gpiece *pieces = NULL;
    struct stage *st = NULL;
    if (p) p->dev = calloc(n ? n : 1, sizeof *p->dev);
    if (!p || !p->dev || !rfd || !cfh || !abegin) {
        rc = CUSTODY_ENOMEM;
        goto out;
    }
    p->kind = method;
    p->n = n;
    p->device = o->device;
    for (size_t i = 0; i < n; i++)
        rfd[i] = -1;

    size_t npieces = 0;
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin == f->end) continue;
        uint64_t ab = f->begin / align * align;
        uint64_t ae = (f->end + align - 1) / align * align;
        abegin[i] = ab;
        void *d = NULL;
        e = a->Malloc(&d, (size_t)(ae - ab));
        if (e != CUDA_SUCCESS_) {
            loader_errf(err, errlen, "file %zu: cudaMalloc of %llu bytes on device %d: %s", i,
                        (unsigned long long)(ae - ab), o->device, cuda_str(a, e));
            rc = CUSTODY_ENOMEM;
            goto out;
        }
        p->dev[i] = d;
        r->regions[i].base = (uint8_t *)d + (f->begin - ab);
        r->regions[i].len = f->end - f->begin;
        if (direct) {
            rc = reopen_direct(f->fd, i, &rfd[i], err, errlen);
            if (rc) goto out;
        } else {
            rfd[i] = f->fd;
        }
        if (method == LOADER_CUFILE) {
            cufile_descr_t dsc;
            memset(&dsc, 0, sizeof dsc);
            dsc.type = CUFILE_HANDLE_TYPE_OPAQUE_FD_;
            dsc.handle.fd = rfd[i];
            cufile_error_t ce = cf->HandleRegister(&cfh[i], &dsc);
            if (ce.err != 0) {
                cfh[i] = NULL;
                loader_errf(err, errlen,
                            "file %zu: cuFileHandleRegister: cuFile error %d, CUDA driver "
                            "error %d",
                            i, ce.err, ce.cu_err);
                rc = CUSTODY_EIO;
                goto out;
            }
        }
        /* pieces on the chunk grid of absolute offsets, from the aligned start */
        uint64_t first = ab / chunk * chunk;
        npieces += (size_t)((ae - first + chunk - 1) / chunk);
    }

    pieces = calloc(npieces ? npieces : 1, sizeof *pieces);
    if (!pieces) {
        rc = CUSTODY_ENOMEM;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct loader_file *f = &files[i];
        if (f->begin == f->end) continue;
        uint64_t ab = abegin[i];
        uint64_t ae = (f->end + align - 1) / align * align;
        for (uint64_t g = ab / chunk * chunk; g < ae; g += chunk) {
            uint64_t lo = g > ab ? g : ab;
            uint64_t hi = g + chunk < ae ? g + chunk : ae;
            struct gpiece *pc = &pieces[k++];
            pc->file = (uint32_t)i;
            pc->off = lo;
            pc->len = (uint32_t)(hi - lo);
            pc->want_lo = lo > f->begin ? lo : f->begin;
            pc->want_hi = hi < f->end ? hi : f->end;
        }
    }
    npieces = k;

    if (npieces > 0) {
        if (threads > npieces) threads = (unsigned)npieces;
        struct gjob j = {.a = a,
                         .cf = cf,
                         .method = method,
                         .device = o->device,
                         .nthreads = threads,
                         .rfd = rfd,
                         .cfh = cfh,
                         .dev = (uint8_t *const *)p->dev,
                         .abegin = abegin,
                         .pieces = pieces,
                         .npieces = npieces};
        atomic_init(&j.next, 0);
        atomic_init(&j.rc, 0);
        pthread_mutex_init(&j.mu, NULL);
        if (method == LOADER_CUFILE) {
            run_workers(&j, cufile_worker);
        } else {
            rc = stage_get(a, o->device, nbuf, chunk, nstreams, &st, err, errlen);
            if (rc) {
                pthread_mutex_destroy(&j.mu);
                goto out;
            }
            j.st = st;
            run_workers(&j, ring_worker);
        }
        rc = atomic_load(&j.rc);
        if (rc) loader_errf(err, errlen, "%s", j.err);
        pthread_mutex_destroy(&j.mu);
        if (st) {
            /* every worker waited for its events; this catches anything left */
            for (unsigned s = 0; s < st->nstreams; s++) {
                e = a->StreamSynchronize(st->st[s]);
                if (e != CUDA_SUCCESS_ && !rc) {
                    loader_errf(err, errlen, "cudaStreamSynchronize: %s", cuda_str(a, e));
                    rc = CUSTODY_EIO;
                }
            }
            stage_put(a, st, rc == 0);
            st = NULL;
        }
    }

out:
    for (size_t i = 0; i < n && cfh; i++)
        if (cfh[i]) cf->HandleDeregister(cfh[i]);
    for (size_t i = 0; i < n && rfd; i++)
        if (direct && rfd[i] >= 0) close(rfd[i]);
    free(pieces);
    free(rfd);
    free(cfh);
    free(abegin);
    if (rc) {
        if (p && p->dev)
            for (size_t i = 0; i < n; i++)
                if (p->dev[i]) a->Free(p->dev[i]);
        if (p) free(p->dev);
        free(p);
        for (size_t i = 0; i < n; i++)
            r->regions[i] = (struct loader_region){0};
    } else {
        r->priv_ = p;
    }
    a->SetDevice(cur);
    return rc;
}
