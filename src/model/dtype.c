/*
 * dtype.c — the dtype table: names, blocks and GGML type ids.
 *
 * Block sizes of the GGML quantized types are the on-disk block layouts of
 * ggml-common.h (block_q4_K: 2 halves + 12 scale bytes + 128 nibble bytes =
 * 144 bytes per 256 weights, and so on). GGML type ids are stable: ids that
 * upstream removed from GGUF (4, 5: Q4_2/Q4_3; 31..33: Q4_0_x_x; 36..38:
 * IQ4_NL_x_x) are refused.
 */
#include <string.h>

#include "model/internal.h"

static const struct model_dtype_info g_dtypes[MODEL_DTYPE_COUNT] = {
    [MODEL_DTYPE_BOOL] = {"BOOL", 1, 1, -1, 1},
    [MODEL_DTYPE_U8] = {"U8", 1, 1, -1, 1},
    [MODEL_DTYPE_I8] = {"I8", 1, 1, 24, 1},
    [MODEL_DTYPE_U16] = {"U16", 1, 2, -1, 1},
    [MODEL_DTYPE_I16] = {"I16", 1, 2, 25, 1},
    [MODEL_DTYPE_U32] = {"U32", 1, 4, -1, 1},
    [MODEL_DTYPE_I32] = {"I32", 1, 4, 26, 1},
    [MODEL_DTYPE_U64] = {"U64", 1, 8, -1, 1},
    [MODEL_DTYPE_I64] = {"I64", 1, 8, 27, 1},
    [MODEL_DTYPE_F16] = {"F16", 1, 2, 1, 1},
    [MODEL_DTYPE_BF16] = {"BF16", 1, 2, 30, 1},
    [MODEL_DTYPE_F32] = {"F32", 1, 4, 0, 1},
    [MODEL_DTYPE_F64] = {"F64", 1, 8, 28, 1},
    [MODEL_DTYPE_C64] = {"C64", 1, 8, -1, 1},
    [MODEL_DTYPE_F8_E4M3] = {"F8_E4M3", 1, 1, -1, 1},
    [MODEL_DTYPE_F8_E5M2] = {"F8_E5M2", 1, 1, -1, 1},
    [MODEL_DTYPE_F8_E8M0] = {"F8_E8M0", 1, 1, -1, 1},
    [MODEL_DTYPE_F6_E2M3] = {"F6_E2M3", 4, 3, -1, 1},
    [MODEL_DTYPE_F6_E3M2] = {"F6_E3M2", 4, 3, -1, 1},
    [MODEL_DTYPE_F4] = {"F4", 2, 1, -1, 1},
    [MODEL_DTYPE_Q4_0] = {"Q4_0", 32, 18, 2, 0},
    [MODEL_DTYPE_Q4_1] = {"Q4_1", 32, 20, 3, 0},
    [MODEL_DTYPE_Q5_0] = {"Q5_0", 32, 22, 6, 0},
    [MODEL_DTYPE_Q5_1] = {"Q5_1", 32, 24, 7, 0},
    [MODEL_DTYPE_Q8_0] = {"Q8_0", 32, 34, 8, 0},
    [MODEL_DTYPE_Q8_1] = {"Q8_1", 32, 36, 9, 0},
    [MODEL_DTYPE_Q2_K] = {"Q2_K", 256, 84, 10, 0},
    [MODEL_DTYPE_Q3_K] = {"Q3_K", 256, 110, 11, 0},
    [MODEL_DTYPE_Q4_K] = {"Q4_K", 256, 144, 12, 0},
    [MODEL_DTYPE_Q5_K] = {"Q5_K", 256, 176, 13, 0},
    [MODEL_DTYPE_Q6_K] = {"Q6_K", 256, 210, 14, 0},
    [MODEL_DTYPE_Q8_K] = {"Q8_K", 256, 292, 15, 0},
    [MODEL_DTYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, 16, 0},
    [MODEL_DTYPE_IQ2_XS] = {"IQ2_XS", 256, 74, 17, 0},
    [MODEL_DTYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, 18, 0},
    [MODEL_DTYPE_IQ1_S] = {"IQ1_S", 256, 50, 19, 0},
    [MODEL_DTYPE_IQ4_NL] = {"IQ4_NL", 32, 18, 20, 0},
    [MODEL_DTYPE_IQ3_S] = {"IQ3_S", 256, 110, 21, 0},
    [MODEL_DTYPE_IQ2_S] = {"IQ2_S", 256, 82, 22, 0},
    [MODEL_DTYPE_IQ4_XS] = {"IQ4_XS", 256, 136, 23, 0},
    [MODEL_DTYPE_IQ1_M] = {"IQ1_M", 256, 56, 29, 0},
    [MODEL_DTYPE_TQ1_0] = {"TQ1_0", 256, 54, 34, 0},
    [MODEL_DTYPE_TQ2_0] = {"TQ2_0", 256, 66, 35, 0},
    [MODEL_DTYPE_MXFP4] = {"MXFP4", 32, 17, 39, 0},
    [MODEL_DTYPE_NVFP4] = {"NVFP4", 64, 36, 40, 0},
    [MODEL_DTYPE_Q1_0] = {"Q1_0", 128, 18, 41, 0},
    [MODEL_DTYPE_Q2_0] = {"Q2_0", 64, 18, 42, 0},
};

const struct model_dtype_info *model_dtype_info(int dtype)
{
    if (dtype <= MODEL_DTYPE_UNKNOWN || dtype >= MODEL_DTYPE_COUNT) return NULL;
    return &g_dtypes[dtype];
}

const char *model_dtype_name(int dtype)
{
    const struct model_dtype_info *d = model_dtype_info(dtype);
    return d ? d->name : "?";
}

int model_dtype_from_safetensors(const char *s, size_t len)
{
    for (int i = MODEL_DTYPE_UNKNOWN + 1; i < MODEL_DTYPE_COUNT; i++) {
        const struct model_dtype_info *d = &g_dtypes[i];
        if (d->safetensors && strlen(d->name) == len && memcmp(d->name, s, len) == 0) return i;
    }
    return MODEL_DTYPE_UNKNOWN;
}

int model_dtype_from_ggml(uint32_t ggml_type)
{
    for (int i = MODEL_DTYPE_UNKNOWN + 1; i < MODEL_DTYPE_COUNT; i++)
        if (g_dtypes[i].ggml_type >= 0 && (uint32_t)g_dtypes[i].ggml_type == ggml_type) return i;
    return MODEL_DTYPE_UNKNOWN;
}

int model_dtype_nbytes(int dtype, uint64_t nelems, uint64_t *nbytes)
{
    const struct model_dtype_info *d = model_dtype_info(dtype);
    if (!d) return MODEL_EFORMAT;
    if (nelems % d->block_elems != 0) return MODEL_EFORMAT;
    uint64_t n;
    if (__builtin_mul_overflow(nelems / d->block_elems, (uint64_t)d->block_bytes, &n) ||
        n > (uint64_t)INT64_MAX)
        return MODEL_ELIMIT;
    *nbytes = n;
    return 0;
}
