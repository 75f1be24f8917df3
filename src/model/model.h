/*
 * model.h — the doorway to src/model: bounded parsers for model shard headers
 * (safetensors, sharded safetensors indexes, GGUF) and the dtype table.
 *
 * This is the first piece of the loader core. The loader core must build with
 * nothing beyond libc, pthreads and dlopen (it is compiled on the GPU machine,
 * which has a compiler, CMake and CUDA but no package access), so src/model
 * uses libc only: no src/util, no jansson, no OpenSSL. The one project header
 * it includes, custody/custody.h, is self-contained (macros, an enum and
 * prototypes; none of its functions are called here).
 *
 * Every function returns 0 (or a non-negative value) on success and a negative
 * MODEL_E* code on failure. MODEL_E* are CUSTODY_E* codes, so the gateway and
 * the CLI map them like any other error. Functions that take (err, errlen)
 * write a one-line message there on failure that says what is wrong and where:
 * the tensor's name and the byte offset in the file ("tensor 'w' (header byte
 * 123): ..."). err may be NULL.
 *
 * What is checked ("headers that lie"): header length against the file and the
 * 100 MB limit; the JSON itself (strict RFC 8259 subset, see docs/model.md);
 * every tensor's dtype, shape (overflow-checked), byte length against
 * product(shape) x dtype size, range inside the file; duplicate names;
 * overlapping tensors. GGUF: magic, version 2 or 3, bounded counts and
 * strings, n_dims <= 4, known ggml types, row lengths a multiple of the type's
 * block, offsets a multiple of the alignment, alignment a power of two <= 1 MiB.
 * docs/model.md lists every rule and limit.
 *
 * A parsed header owns all its strings; release it with model_header_free.
 * Nothing here keeps a pointer into the caller's buffer.
 */
#ifndef CUSTODY_MODEL_H
#define CUSTODY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "custody/custody.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ---- */
#define MODEL_EINVAL CUSTODY_EINVAL    /* bad argument (NULL pointer, len > file_size) */
#define MODEL_EFORMAT CUSTODY_ECORRUPT /* malformed, truncated or lying header */
#define MODEL_ELIMIT CUSTODY_ETOOBIG   /* a limit below is exceeded */
#define MODEL_EMORE CUSTODY_EAGAIN     /* the buffer holds too few bytes: see need */
#define MODEL_ENOMEM CUSTODY_ENOMEM
#define MODEL_EIO CUSTODY_EIO /* model_parse_fd: a read failed (errno in the message) */

/* Human message for a MODEL_E* code (libc only; custody_strerror works too). */
const char *model_strerror(int err);

/* ---- limits ---- */
#define MODEL_MAX_DIMS 8 /* GGUF allows 4 (GGML_MAX_DIMS) */
#define MODEL_GGUF_MAX_DIMS 4
#define MODEL_MAX_TENSORS (1u << 20)              /* per file */
#define MODEL_MAX_NAME 4096                       /* tensor names and keys, bytes */
#define MODEL_SAFETENSORS_MAX_HEADER 100000000ull /* N, as safetensors itself */
#define MODEL_INDEX_MAX_BYTES 100000000ull        /* model.safetensors.index.json */
#define MODEL_JSON_MAX_DEPTH 64
#define MODEL_GGUF_MAX_KV (1u << 20)
#define MODEL_GGUF_MAX_STRING (1u << 20)     /* one string, bytes */
#define MODEL_GGUF_MAX_ARRAY (1ull << 28)    /* elements of one array */
#define MODEL_GGUF_MAX_HEADER (256ull << 20) /* magic .. end of tensor infos */
#define MODEL_GGUF_MAX_ALIGNMENT (1u << 20)
#define MODEL_GGUF_DEFAULT_ALIGNMENT 32
#define MODEL_INDEX_MAX_SHARDS 65536
#define MODEL_SHARD_NAME_MAX 255

/* ---- dtypes ---- */
/*
 * One enum for both formats. Element types first (safetensors names; GGUF's
 * F32, F16, BF16, F64, I8, I16, I32, I64 map onto them), then GGML's block
 * quantized types. Every dtype has a block: `block_elems` elements take
 * `block_bytes` bytes (F32: 1 -> 4; F4: 2 -> 1; Q4_K: 256 -> 144), so the
 * byte size of n elements is n / block_elems * block_bytes, defined when n is
 * a multiple of block_elems.
 */
enum model_dtype {
    MODEL_DTYPE_UNKNOWN = 0,
    MODEL_DTYPE_BOOL,
    MODEL_DTYPE_U8,
    MODEL_DTYPE_I8,
    MODEL_DTYPE_U16,
    MODEL_DTYPE_I16,
    MODEL_DTYPE_U32,
    MODEL_DTYPE_I32,
    MODEL_DTYPE_U64,
    MODEL_DTYPE_I64,
    MODEL_DTYPE_F16,
    MODEL_DTYPE_BF16,
    MODEL_DTYPE_F32,
    MODEL_DTYPE_F64,
    MODEL_DTYPE_C64,     /* complex64 */
    MODEL_DTYPE_F8_E4M3, /* float8 e4m3fn */
    MODEL_DTYPE_F8_E5M2,
    MODEL_DTYPE_F8_E8M0, /* MX scale */
    MODEL_DTYPE_F6_E2M3, /* 6 bits, 4 per 3 bytes */
    MODEL_DTYPE_F6_E3M2,
    MODEL_DTYPE_F4, /* float4 e2m1, 2 per byte */
    /* GGML block types (GGUF only) */
    MODEL_DTYPE_Q4_0,
    MODEL_DTYPE_Q4_1,
    MODEL_DTYPE_Q5_0,
    MODEL_DTYPE_Q5_1,
    MODEL_DTYPE_Q8_0,
    MODEL_DTYPE_Q8_1,
    MODEL_DTYPE_Q2_K,
    MODEL_DTYPE_Q3_K,
    MODEL_DTYPE_Q4_K,
    MODEL_DTYPE_Q5_K,
    MODEL_DTYPE_Q6_K,
    MODEL_DTYPE_Q8_K,
    MODEL_DTYPE_IQ2_XXS,
    MODEL_DTYPE_IQ2_XS,
    MODEL_DTYPE_IQ3_XXS,
    MODEL_DTYPE_IQ1_S,
    MODEL_DTYPE_IQ4_NL,
    MODEL_DTYPE_IQ3_S,
    MODEL_DTYPE_IQ2_S,
    MODEL_DTYPE_IQ4_XS,
    MODEL_DTYPE_IQ1_M,
    MODEL_DTYPE_TQ1_0,
    MODEL_DTYPE_TQ2_0,
    MODEL_DTYPE_MXFP4,
    MODEL_DTYPE_NVFP4,
    MODEL_DTYPE_Q1_0,
    MODEL_DTYPE_Q2_0,
    MODEL_DTYPE_COUNT
};

struct model_dtype_info {
    const char *name;     /* "BF16", "F8_E4M3", "Q4_K", "IQ2_XXS" */
    uint32_t block_elems; /* elements per block */
    uint32_t block_bytes; /* bytes per block */
    int ggml_type;        /* GGML type id (ggml.h), -1 when GGUF has none */
    int safetensors;      /* 1 when safetensors headers may name it */
};

/* NULL for MODEL_DTYPE_UNKNOWN and out-of-range values. */
const struct model_dtype_info *model_dtype_info(int dtype);
/* "F32", ...; "?" for unknown values. */
const char *model_dtype_name(int dtype);
/* Safetensors dtype string (exact, case-sensitive) -> dtype; UNKNOWN if none. */
int model_dtype_from_safetensors(const char *s, size_t len);
/* GGML type id -> dtype; UNKNOWN for ids removed from GGUF or never assigned. */
int model_dtype_from_ggml(uint32_t ggml_type);
/*
 * Bytes taken by nelems elements of dtype. MODEL_EFORMAT when nelems is not a
 * multiple of the block (F4 with an odd count, Q4_K rows not of 256) or the
 * dtype is unknown; MODEL_ELIMIT when the size overflows 2^63.
 */
int model_dtype_nbytes(int dtype, uint64_t nelems, uint64_t *nbytes);

/* ---- parsed headers ---- */
enum model_format {
    MODEL_FORMAT_UNKNOWN = 0,
    MODEL_FORMAT_SAFETENSORS = 1,
    MODEL_FORMAT_GGUF = 2,
};

struct model_tensor {
    char *name;
    int dtype; /* enum model_dtype */
    uint32_t ndim;
    uint64_t shape[MODEL_MAX_DIMS]; /* row-major (safetensors order); GGUF: ne[0] first */
    uint64_t offset;                /* absolute, in the file */
    uint64_t nbytes;
    uint64_t info_off; /* where the tensor is described in the file (for messages) */
};

struct model_kv {
    char *key;
    char *value; /* text: strings as-is, numbers in decimal, arrays summarized */
};

struct model_header {
    int format;          /* enum model_format */
    uint32_t version;    /* GGUF version; 0 for safetensors */
    uint32_t alignment;  /* GGUF general.alignment (default 32); 1 for safetensors */
    uint64_t data_start; /* first byte of the data region */
    uint64_t file_size;
    struct model_tensor *tensors; /* sorted by offset, then name */
    size_t ntensors;
    struct model_kv *meta; /* safetensors __metadata__ / GGUF key-values, file order */
    size_t nmeta;
    uint64_t need; /* after MODEL_EMORE: the file's first `need` bytes are needed at least */
};

/*
 * Which format buf (the file's first bytes; give at least 9) holds:
 * MODEL_FORMAT_GGUF for the "GGUF" magic, MODEL_FORMAT_SAFETENSORS for an
 * 8-byte header length <= 100 MB followed by '{', else MODEL_FORMAT_UNKNOWN.
 * A guess for routing only; the parsers check everything.
 */
int model_sniff(const uint8_t *buf, size_t len);

/*
 * Safetensors, step 1: the header length N from the file's first 8 bytes,
 * checked: N <= 100 MB (MODEL_ELIMIT) and 8 + N <= file_size (MODEL_EFORMAT).
 */
int model_safetensors_header_len(const uint8_t first8[8], uint64_t file_size, uint64_t *n,
                                 char *err, size_t errlen);

/*
 * Safetensors, step 2: buf holds the file's first len bytes, at least the
 * 8-byte length and the N-byte JSON header (MODEL_EMORE with out->need = 8 + N
 * when it does not). file_size is the whole file's size. On success *out is
 * the header; tensor offsets are absolute (8 + N + begin). On failure *out
 * holds no allocations (need may be set).
 */
int model_parse_safetensors(const uint8_t *buf, size_t len, uint64_t file_size,
                            struct model_header *out, char *err, size_t errlen);

/*
 * GGUF: buf holds the file's first len bytes (len <= file_size). When the
 * header continues past len, returns MODEL_EMORE and sets out->need to a
 * lower bound of the bytes needed: read at least that much (doubling is a
 * good plan) and call again with the longer prefix. The header (up to the end
 * of the tensor infos) may be at most MODEL_GGUF_MAX_HEADER bytes. Tensor data
 * is never read: the data region need not be in buf.
 */
int model_parse_gguf(const uint8_t *buf, size_t len, uint64_t file_size, struct model_header *out,
                     char *err, size_t errlen);

/*
 * Sniffs fd (a regular file, read with pread from offset 0) and parses its
 * header with the right parser, reading only the header. MODEL_EFORMAT for
 * files that are neither format, MODEL_EIO when a read fails.
 */
int model_parse_fd(int fd, struct model_header *out, char *err, size_t errlen);

/* Releases what a successful parse allocated and zeroes *h. NULL is fine. */
void model_header_free(struct model_header *h);

/* The tensor named name, or NULL. Linear. */
const struct model_tensor *model_header_find(const struct model_header *h, const char *name);

/* ---- sharded safetensors: model.safetensors.index.json ---- */
struct model_index_entry {
    char *tensor;
    uint32_t shard; /* index into shards[] */
};

struct model_index {
    char **shards; /* distinct shard file names, sorted */
    size_t nshards;
    struct model_index_entry *entries; /* sorted by tensor name */
    size_t nentries;
    uint64_t total_size;   /* metadata.total_size when an integer, else 0 */
    struct model_kv *meta; /* metadata's string, number and bool members as text */
    size_t nmeta;
};

/*
 * Parses {"metadata": {...}, "weight_map": {tensor: shard file name}} (other
 * top-level members are ignored). Shard names must be plain file names: not
 * empty, at most 255 bytes, no '/', '\\', "..", control characters, and not
 * ".". Tensor names must be unique (and non-empty). On failure *out holds no
 * allocations.
 */
int model_parse_safetensors_index(const char *json, size_t len, struct model_index *out, char *err,
                                  size_t errlen);
void model_index_free(struct model_index *idx);
/* The shard index of tensor, or -1. Binary search. */
int64_t model_index_find(const struct model_index *idx, const char *tensor);
/*
 * Checks that the index tells the truth about the shards: headers[i] is the
 * parsed header of idx->shards[i]; every tensor of a shard must be mapped to
 * that shard, and every tensor the map names must be in the shard it names.
 * 0, or MODEL_EFORMAT with the first disagreement in err.
 */
int model_index_check(const struct model_index *idx, const struct model_header *const *headers,
                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
