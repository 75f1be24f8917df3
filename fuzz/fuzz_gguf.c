/*
 * fuzz_gguf.c — libFuzzer target for the GGUF header parser (src/model/gguf.c).
 *
 * Each input is a whole file. It is parsed at once, and again the way
 * model_parse_fd reads a file: from a prefix (a length taken from the input),
 * growing to what MODEL_EMORE asks for. Besides crashes, leaks and timeouts
 * (ASan/UBSan/libFuzzer), it checks:
 *   - the answer is 0 or one of EFORMAT, ELIMIT, ENOMEM; after a failure the
 *     header holds no allocations and the message is not empty;
 *   - MODEL_EMORE asks for more than it had and never more than the file;
 *     reading in steps ends in the same answer and the same header as
 *     parsing the whole file;
 *   - a parsed header keeps its promises: version 2 or 3, alignment a power
 *     of two <= 1 MiB, data start aligned (or the end of a file without
 *     tensors), every tensor of a known GGML type with n_dims <= 4, rows a
 *     multiple of the type's block, nbytes = blocks x block bytes, offsets
 *     aligned, inside the file, sorted and not overlapping, names unique;
 *     names, keys and values as text are UTF-8.
 */
#define FUZZ_TARGET "fuzz_gguf"
#include "model_fuzz.h"

static void check_header(const struct model_header *h, size_t size)
{
    check(h->format == MODEL_FORMAT_GGUF, "format");
    check(h->version == 2 || h->version == 3, "version");
    uint32_t a = h->alignment;
    check(a && !(a & (a - 1)) && a <= MODEL_GGUF_MAX_ALIGNMENT, "alignment");
    check(h->file_size == size && h->data_start <= size, "data_start past the end");
    check(h->data_start % a == 0 || (h->ntensors == 0 && h->data_start == size),
          "data_start not aligned");
    check_placement(h, size);
    for (size_t i = 0; i < h->ntensors; i++) {
        const struct model_tensor *t = &h->tensors[i];
        const struct model_dtype_info *d = model_dtype_info(t->dtype);
        check(d && d->ggml_type >= 0, "dtype");
        check(t->ndim <= MODEL_GGUF_MAX_DIMS, "ndim");
        uint64_t nel = 1;
        for (uint32_t k = 0; k < t->ndim; k++)
            check(t->shape[k] <= (uint64_t)INT64_MAX &&
                      !__builtin_mul_overflow(nel, t->shape[k], &nel),
                  "dimensions overflow");
        check((t->ndim ? t->shape[0] : 1) % d->block_elems == 0, "row not a multiple of the block");
        uint64_t nb;
        check(model_dtype_nbytes(t->dtype, nel, &nb) == 0 && nb == t->nbytes, "nbytes");
        check(t->offset >= h->data_start && (t->offset - h->data_start) % a == 0,
              "offset not aligned");
        check(t->info_off >= 24 && t->info_off < h->data_start, "info_off");
    }
    check_meta(h, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy so ASan catches any read past len */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    char err[512] = "";

    struct model_header full;
    int rc = model_parse_gguf(buf, size, size, &full, err, sizeof err);
    check(rc == 0 || is_err(rc), "unexpected result");
    if (rc == 0)
        check_header(&full, size);
    else {
        check(!full.tensors && !full.meta && !full.ntensors && !full.nmeta,
              "a failed parse left allocations");
        check(err[0] != '\0', "no message");
    }

    /* in steps, from a prefix whose length the input picks */
    size_t len = size ? (size_t)(size > 4 ? buf[size - 1] : 0) % size : 0;
    struct model_header h;
    int steps = 0;
    for (;;) {
        int r = model_parse_gguf(buf, len, size, &h, NULL, 0);
        if (r != MODEL_EMORE) {
            check(r == rc, "reading in steps answers differently");
            if (r == 0) check(same_header(&full, &h), "reading in steps parses differently");
            model_header_free(&h);
            break;
        }
        check(!h.tensors && !h.meta, "MODEL_EMORE left allocations");
        check(len < size && h.need > len && h.need <= size, "MODEL_EMORE asks for a bad length");
        check(++steps < 100, "no progress");
        /* as model_parse_fd: at least what was asked, at least double */
        uint64_t next = (uint64_t)len * 2 > h.need ? (uint64_t)len * 2 : h.need;
        len = (size_t)(next < size ? next : size);
    }
    if (rc == 0) model_header_free(&full);
    free(buf);
    return 0;
}
