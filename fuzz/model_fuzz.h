/* model_fuzz.h — what fuzz_safetensors.c and fuzz_gguf.c check alike of a
 * parsed header (src/model). Define FUZZ_TARGET (the target's name) before
 * including it; each target is its own program, so these are static. */
#ifndef CUSTODY_MODEL_FUZZ_H
#define CUSTODY_MODEL_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "%s: %s\n", FUZZ_TARGET, what);
        abort();
    }
}

/* The failures a parser may answer with for bad bytes. */
static bool is_err(int rc)
{
    return rc == MODEL_EFORMAT || rc == MODEL_ELIMIT || rc == MODEL_ENOMEM;
}

/* Every tensor named (UTF-8, unique), inside the data region and the file,
 * sorted by offset, no two non-empty ones overlapping. */
static void check_placement(const struct model_header *h, size_t size)
{
    uint64_t prev_off = 0, max_end = h->data_start;
    for (size_t i = 0; i < h->ntensors; i++) {
        const struct model_tensor *t = &h->tensors[i];
        check(t->name && t->name[0], "empty name");
        check(model_utf8_valid(t->name, strlen(t->name)), "name is not UTF-8");
        check(t->offset >= h->data_start, "tensor before the data region");
        check(t->offset <= size && t->nbytes <= size - t->offset, "tensor past the end");
        check(t->offset >= prev_off, "not sorted by offset");
        prev_off = t->offset;
        if (t->nbytes) {
            check(t->offset >= max_end, "overlap");
            max_end = t->offset + t->nbytes;
        }
        for (size_t k = 0; k < i; k++)
            check(strcmp(h->tensors[k].name, t->name) != 0, "duplicate name");
    }
}

/* Metadata: UTF-8 keys and values, keys unique (and not empty if asked). */
static void check_meta(const struct model_header *h, bool nonempty_keys)
{
    for (size_t i = 0; i < h->nmeta; i++) {
        check(h->meta[i].key && h->meta[i].value, "meta");
        check(!nonempty_keys || h->meta[i].key[0], "empty metadata key");
        check(model_utf8_valid(h->meta[i].key, strlen(h->meta[i].key)) &&
                  model_utf8_valid(h->meta[i].value, strlen(h->meta[i].value)),
              "meta is not UTF-8");
        for (size_t k = 0; k < i; k++)
            check(strcmp(h->meta[k].key, h->meta[i].key) != 0, "duplicate metadata key");
    }
}

static bool same_header(const struct model_header *a, const struct model_header *b)
{
    if (a->ntensors != b->ntensors || a->nmeta != b->nmeta || a->data_start != b->data_start ||
        a->alignment != b->alignment || a->version != b->version)
        return false;
    for (size_t i = 0; i < a->ntensors; i++) {
        const struct model_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->ndim != y->ndim ||
            x->offset != y->offset || x->nbytes != y->nbytes || x->info_off != y->info_off ||
            memcmp(x->shape, y->shape, sizeof x->shape))
            return false;
    }
    for (size_t i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].value, b->meta[i].value))
            return false;
    return true;
}

#endif
