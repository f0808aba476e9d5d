/*
 * Weight packing for the x86 GEMM (layouts in x86.h), portable C: it runs once per node at
 * load (or per call for a right operand that is not a constant).
 */
#include <string.h>

#include "x86ops.h"

/* What a compiled model may carry packed (op.h). The ids spell the layout and its parameters:
 * change them with the layout (EG_MR, EG_NP or the packing order), or old files would be
 * read the new way. LSTM's pack (rnn.c) holds a header the kernel trusts, so it is not
 * stored: LSTM packs at load. */
#define KDATA_ID(kind, tile) ((uint32_t)(kind) << 24 | (uint32_t)1 << 16 | (uint32_t)(tile))
const eg_kdata_format eg_kdata_formats[] = {
    {eg_x86_conv_prepare, KDATA_ID('A', EG_MR << 8 | EG_DWC_BLOCK), eg_x86_conv_kdata_bytes, eg_x86_conv_kdata_pack},
    {eg_x86_gemm_prepare, KDATA_ID('B', EG_NP), eg_x86_gemm_kdata_bytes, eg_x86_gemm_kdata_pack},
    {eg_x86_matmul_prepare, KDATA_ID('B', EG_NP), eg_x86_matmul_kdata_bytes,
     eg_x86_matmul_kdata_pack},
    {NULL, 0, NULL, NULL},
};

int64_t eg_pack_a_size(int64_t m, int64_t k)
{
    return (m + EG_MR - 1) / EG_MR * EG_MR * k;
}

void eg_pack_a(float *dst, const float *a, int64_t m, int64_t k, int64_t rs, int64_t cs)
{
    for (int64_t i0 = 0; i0 < m; i0 += EG_MR) {
        if (i0 + EG_MR <= m) {
            /* A whole block, without a bounds test per float: packing is most of loading a
             * vision model. */
            const float *blk = a + i0 * rs;
            for (int64_t p = 0; p < k; p++, dst += EG_MR)
#pragma GCC unroll 16
                for (int64_t i = 0; i < EG_MR; i++)
                    dst[i] = blk[i * rs + p * cs];
            continue;
        }
        for (int64_t p = 0; p < k; p++) {
            for (int64_t i = 0; i < EG_MR; i++)
                *dst++ = i0 + i < m ? a[(i0 + i) * rs + p * cs] : 0.0f;
        }
    }
}

int64_t eg_pack_b_size(int64_t k, int64_t n)
{
    return (n + EG_NP - 1) / EG_NP * EG_NP * k;
}

void eg_pack_b(float *dst, const float *b, int64_t k, int64_t n, int64_t rs, int64_t cs)
{
    for (int64_t j0 = 0; j0 < n; j0 += EG_NP) {
        if (j0 + EG_NP <= n) {
            const float *pan = b + j0 * cs; /* a whole panel, as in eg_pack_a */
            for (int64_t p = 0; p < k; p++, dst += EG_NP)
#pragma GCC unroll 16
                for (int64_t j = 0; j < EG_NP; j++)
                    dst[j] = pan[p * rs + j * cs];
            continue;
        }
        for (int64_t p = 0; p < k; p++) {
            for (int64_t j = 0; j < EG_NP; j++)
                *dst++ = j0 + j < n ? b[p * rs + (j0 + j) * cs] : 0.0f;
        }
    }
}
