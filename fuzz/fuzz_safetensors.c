/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors header parser and
 * the model.safetensors.index.json parser (src/model/safetensors.c, json.c).
 *
 * Model files come from anywhere (a pull from an origin, a user's disk), so
 * the header parser must hold up against any bytes. Each input is a whole
 * file: it goes to model_parse_safetensors, and (as JSON) to
 * model_parse_safetensors_index. Besides crashes, leaks and timeouts
 * (ASan/UBSan/libFuzzer), it checks:
 *   - the answer is 0 or one of EFORMAT, ELIMIT, ENOMEM; after a failure the
 *     header or index holds no allocations and the message is not empty;
 *   - a parsed header keeps its promises: data_start = 8 + N <= file size,
 *     every tensor inside the data region, sizes = product(shape) x dtype
 *     size, sorted by offset, no two non-empty tensors overlapping, names
 *     unique, non-empty and UTF-8, metadata keys unique, model_sniff agrees;
 *   - the same bytes in a longer file parse to the same header (only the range
 *     checks depend on the file size), and a prefix shorter than the header
 *     asks for exactly 8 + N bytes;
 *   - a parsed index has sorted distinct shard names that are plain file names
 *     and sorted distinct tensor names, each mapped to a shard that exists.
 */
#define FUZZ_TARGET "fuzz_safetensors"
#include "model_fuzz.h"

static void check_header(const struct model_header *h, const uint8_t *buf, size_t size)
{
    check(h->format == MODEL_FORMAT_SAFETENSORS && h->alignment == 1, "format");
    check(h->file_size == size && h->data_start >= 10 && h->data_start <= size, "data_start");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    check(h->data_start == 8 + n, "data_start is not 8 + N");
    check(model_sniff(buf, size) == MODEL_FORMAT_SAFETENSORS, "sniff disagrees");
    check_placement(h, size);
    for (size_t i = 0; i < h->ntensors; i++) {
        const struct model_tensor *t = &h->tensors[i];
        const struct model_dtype_info *d = model_dtype_info(t->dtype);
        check(d && d->safetensors, "dtype");
        check(t->ndim <= MODEL_MAX_DIMS, "ndim");
        uint64_t nel = 1;
        bool zero = false;
        for (uint32_t k = 0; k < t->ndim; k++)
            zero |= t->shape[k] == 0;
        for (uint32_t k = 0; k < t->ndim && !zero; k++)
            check(!__builtin_mul_overflow(nel, t->shape[k], &nel), "shape overflows");
        if (zero) nel = 0;
        uint64_t nb;
        check(model_dtype_nbytes(t->dtype, nel, &nb) == 0 && nb == t->nbytes, "nbytes");
        check(t->info_off >= 8 && t->info_off < h->data_start, "info_off");
        check(model_header_find(h, t->name) == t, "find");
    }
    check_meta(h, false);
}

static void check_index(const struct model_index *ix)
{
    for (size_t i = 0; i < ix->nshards; i++) {
        const char *s = ix->shards[i];
        size_t n = strlen(s);
        check(n >= 1 && n <= MODEL_SHARD_NAME_MAX, "shard name length");
        check(!strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..") && strcmp(s, "."),
              "shard name is not a plain file name");
        for (size_t k = 0; k < n; k++)
            check((unsigned char)s[k] >= 0x20 && s[k] != 0x7f, "control character in shard name");
        if (i) check(strcmp(ix->shards[i - 1], s) < 0, "shards not sorted and distinct");
    }
    check(ix->nentries == 0 || ix->nshards > 0, "entries without shards");
    for (size_t i = 0; i < ix->nentries; i++) {
        const struct model_index_entry *e = &ix->entries[i];
        check(e->tensor && e->tensor[0], "empty tensor name");
        check(e->shard < ix->nshards, "shard out of range");
        if (i) check(strcmp(ix->entries[i - 1].tensor, e->tensor) < 0, "entries not sorted");
        check(model_index_find(ix, e->tensor) == (int64_t)e->shard, "find");
    }
    for (size_t i = 0; i < ix->nmeta; i++)
        check(ix->meta[i].key && ix->meta[i].value, "index meta");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exact-size copy so ASan catches any read past len */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    char err[512];

    struct model_header h;
    err[0] = '\0';
    int rc = model_parse_safetensors(buf, size, size, &h, err, sizeof err);
    check(rc == 0 || is_err(rc), "unexpected result");
    if (rc == 0) {
        check_header(&h, buf, size);
        /* more file after the same bytes: the same header */
        struct model_header g;
        check(model_parse_safetensors(buf, size, size + 4096, &g, NULL, 0) == 0,
              "a longer file fails");
        check(same_header(&h, &g), "a longer file parses differently");
        model_header_free(&g);
        /* a prefix that ends inside the header asks for the header */
        if (h.data_start > 8) {
            check(model_parse_safetensors(buf, (size_t)h.data_start - 1, size, &g, NULL, 0) ==
                          MODEL_EMORE &&
                      g.need == h.data_start && !g.tensors,
                  "short buffer");
        }
        model_header_free(&h);
    } else {
        check(!h.tensors && !h.meta && !h.ntensors && !h.nmeta, "a failed parse left allocations");
        check(err[0] != '\0', "no message");
    }

    struct model_index ix;
    err[0] = '\0';
    rc = model_parse_safetensors_index((const char *)buf, size, &ix, err, sizeof err);
    check(rc == 0 || is_err(rc), "unexpected index result");
    if (rc == 0) {
        check_index(&ix);
        model_index_free(&ix);
    } else {
        check(!ix.shards && !ix.entries && !ix.meta, "a failed index parse left allocations");
        check(err[0] != '\0', "no index message");
    }
    free(buf);
    return 0;
}
