/*
 * The x86 kernels at the AVX-512F level: 16-float vectors and mask registers. Compiled with
 * -mavx512f -mavx2 -mfma (engine/meson.build); only called when eg_cpu_level() says the CPU
 * has them.
 */
#include <immintrin.h>

#include "x86.h"

typedef __m512 vf;
typedef __mmask16 vmask;

#define VW 16
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VLOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, v, m) _mm512_mask_storeu_ps(p, m, v)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
/* v >= 0 ? v : a * v, NaN staying NaN as in the reference. */
#define VLEAKY(v, a)                                                                               \
    _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, a)
/* The even and the odd lanes of a then b, in order. */
#define VEVENS(a, b)                                                                               \
    _mm512_permutex2var_ps(                                                                        \
        a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b)
#define VODDS(a, b)                                                                                \
    _mm512_permutex2var_ps(                                                                        \
        a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b)
/* a where a > b (or < b) or a is NaN, else b: the reference's Max and Min. */
#define VPICK_GT(a, b)                                                                             \
    _mm512_mask_blend_ps(                                                                          \
        _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), b, a)
#define VPICK_LT(a, b)                                                                             \
    _mm512_mask_blend_ps(                                                                          \
        _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ) | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), b, a)
/* Whether any lane of a equals the same lane of b. */
#define VANY_EQ(a, b) (_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ) != 0)
#define NV_WIDE 4
#define SIMD_NARROW (&eg_x86_avx2)
#define SIMD_NAME eg_x86_avx512

/* Lanes [0, n) set, n clamped to [0, 16]. */
static inline vmask VMASK(int64_t n)
{
    n = n < 0 ? 0 : n > VW ? VW : n;
    return (vmask)((1u << n) - 1);
}

/* r[i][j] becomes r[j][i]: pairs of rows interleaved, then quads, then 128-bit blocks twice. */
static inline __attribute__((always_inline)) void VTRANSPOSE(vf r[VW])
{
    vf t[VW], u[VW];
#pragma GCC unroll 16
    for (int i = 0; i < VW; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < VW; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
/* u[4 * b + j] holds, in its 128-bit block l, column 4 * l + j of rows 4 * b .. 4 * b + 3. */
#pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        vf v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
        vf v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        vf w0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        vf w1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[4 + j] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}

#include "simd.inc"
#include "simd_seq.inc"
