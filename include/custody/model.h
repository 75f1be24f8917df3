/*
 * model.h — libcustody's model API (issue 6; docs/model.md): models as
 * audited resources, and the loader that gets their tensors into CPU memory
 * or a GPU.
 *
 *   custody_client_t *c;
 *   custody_model_t *m;
 *   custody_client_open(NULL, &c);
 *   if (custody_model_open(c, "llama@1.0", &m) == 0) {      // decision + audit event
 *       custody_load_opts_t o = {.device = 0};             // cuda:0; -1 for CPU
 *       if (custody_model_load(m, &o) == 0) {
 *           const custody_tensor_t *t = custody_model_find(m, "lm_head.weight");
 *           ... t->data is a device pointer ...
 *       }
 *       custody_model_close(m);                            // frees what the load holds
 *   }
 *
 * custody_model_open asks custodyd for action model.load on
 * Model::"NAME@VERSION": custodyd decides it by policy, checks the model's
 * signed manifest and the identity of each cached shard, records one signed
 * model.load event (model id, version, bytes, manifest digest), and answers
 * the load plan with the descriptors of the shards it opened and checked
 * (handed over as SCM_RIGHTS on the Unix socket, so the caller needs no
 * access to custodyd's cache). libcustody checks on each descriptor that it
 * is the very file custodyd checked (device, inode, size, mtime, ctime):
 * bytes swapped in between are refused (CUSTODY_ECORRUPT).
 * The loader (src/loader) only ever reads those descriptors.
 *
 * Functions return 0 or a negative CUSTODY_E* code; the client's
 * custody_client_last_error() has the message.
 */
#ifndef CUSTODY_SDK_MODEL_H
#define CUSTODY_SDK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "custody/client.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CUSTODY_MODEL_MAX_DIMS 8

typedef struct custody_model custody_model_t;

typedef struct {
    const char *name;
    const char *dtype; /* "BF16", "F32", "Q4_K", ... (docs/model.md, the dtype table) */
    uint32_t ndim;
    int64_t shape[CUSTODY_MODEL_MAX_DIMS]; /* safetensors: row-major; GGUF: ne[0] first */
    uint64_t nbytes;
    uint32_t file;   /* index of its shard (custody_model_file_name) */
    uint64_t offset; /* absolute byte offset in the shard */
    void *data;      /* after custody_model_load: host or device address; else NULL */
} custody_tensor_t;

/* How a load moves bytes (src/loader/loader.h has the details). */
typedef enum {
    CUSTODY_LOAD_AUTO = 0,
    CUSTODY_LOAD_MMAP = 1,        /* CPU: zero-copy, populated mmap (copy-on-write) */
    CUSTODY_LOAD_PINNED_RING = 2, /* GPU: readers -> pinned ring -> CUDA streams */
    CUSTODY_LOAD_DIRECT_RING = 3, /* GPU: the same with O_DIRECT reads (cold files) */
    CUSTODY_LOAD_CUFILE = 4,      /* GPU: cuFile (GPUDirect Storage or its compat mode) */
} custody_load_method_t;

typedef struct {
    int device;       /* -1: CPU memory (default when opts is NULL); >= 0: CUDA device */
    int method;       /* custody_load_method_t */
    unsigned threads; /* 0: the method's default */
    size_t chunk;     /* bytes per read; 0: default */
    unsigned buffers; /* pinned staging buffers; 0: default */
    unsigned streams; /* CUDA streams; 0: default */
} custody_load_opts_t;

/* ref: "NAME@VERSION", or "NAME" for its newest version. */
int custody_model_open(custody_client_t *c, const char *ref, custody_model_t **out);
/* Loads every tensor's bytes (opts NULL: CPU). Once per model. */
int custody_model_load(custody_model_t *m, const custody_load_opts_t *opts);
/* Unmaps / frees what the load holds and closes the shards. */
void custody_model_close(custody_model_t *m);

const char *custody_model_name(const custody_model_t *m);
const char *custody_model_version(const custody_model_t *m);
const char *custody_model_digest(const custody_model_t *m); /* "sha256:<hex>" of the manifest */
uint64_t custody_model_bytes(const custody_model_t *m);     /* all shards */
size_t custody_model_file_count(const custody_model_t *m);
const char *custody_model_file_name(const custody_model_t *m, size_t i);
/* "safetensors" or "gguf": GGUF shapes list ne[0] (the fastest-varying
 * dimension) first, so a row-major view reverses them. */
const char *custody_model_file_format(const custody_model_t *m, size_t i);
size_t custody_model_tensor_count(const custody_model_t *m);
const custody_tensor_t *custody_model_tensor(const custody_model_t *m, size_t i);
const custody_tensor_t *custody_model_find(const custody_model_t *m, const char *name);
/* After a load: the device (-1 CPU), bytes loaded and seconds it took. */
int custody_model_device(const custody_model_t *m);
uint64_t custody_model_loaded_bytes(const custody_model_t *m);
double custody_model_load_seconds(const custody_model_t *m);

/* The registry (JSON answers in *json_out, caller frees; docs/API.md). */
/* paths: absolute; sign_key: absolute path of an Ed25519 private key (PEM)
 * custodyd signs the manifest with instead of the node key, or NULL. */
int custody_model_register(custody_client_t *c, const char *name, const char *version,
                           const char *const *paths, size_t npaths, int replace,
                           const char *sign_key, char **json_out);
int custody_model_list(custody_client_t *c, char **json_out);
int custody_model_show(custody_client_t *c, const char *ref, char **json_out);
int custody_model_verify(custody_client_t *c, const char *ref, char **json_out);
int custody_model_remove(custody_client_t *c, const char *ref);
/* Has custodyd make REF's shards resident in the page cache (to:
 * "page-cache") or resident and locked there until unpinned ("pinned");
 * blocks until done. The answer: {name, version, to, bytes, seconds,
 * resident_before, pinned}. custody_model_residency tells the progress
 * meanwhile. */
int custody_model_prewarm(custody_client_t *c, const char *ref, const char *to, char **json_out);
int custody_model_unpin(custody_client_t *c, const char *ref);
/* How much of REF is in the page cache: {name, version, ..., files: [{name,
 * sha256, size, resident}]} (no tensors, no checks: cheap to poll). */
int custody_model_residency(custody_client_t *c, const char *ref, char **json_out);

#ifdef __cplusplus
}
#endif
#endif
