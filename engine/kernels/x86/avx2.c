/*
 * The x86 kernels at the AVX2 + FMA level: 8-float vectors, masks from a sliding table.
 * Compiled with -mavx2 -mfma (engine/meson.build); only called when eg_cpu_level() says
 * the CPU has them.
 */
#include <immintrin.h>

#include "x86.h"

typedef __m256 vf;
typedef __m256i vmask;

#define VW 8
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define VSTOREM(p, v, m) _mm256_maskstore_ps(p, m, v)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
/* v >= 0 ? v : a * v, NaN staying NaN as in the reference. */
#define VLEAKY(v, a)                                                                               \
    _mm256_blendv_ps(_mm256_mul_ps(v, a), v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ))
/* The even and the odd lanes of a then b, in order. */
#define VEVENS(a, b)                                                                               \
    _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8))
#define VODDS(a, b)                                                                                \
    _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8))
/* a where a > b (or < b) or a is NaN, else b: the reference's Max and Min. */
#define VPICK_GT(a, b)                                                                             \
    _mm256_blendv_ps(                                                                              \
        b, a, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q)))
#define VPICK_LT(a, b)                                                                             \
    _mm256_blendv_ps(                                                                              \
        b, a, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q)))
/* Whether any lane of a equals the same lane of b. */
#define VANY_EQ(a, b) (_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)) != 0)
#define SIMD_NAME eg_x86_avx2

/* Lanes [0, n) set, n clamped to [0, 8]. */
static inline vmask VMASK(int64_t n)
{
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1};
    n = n < 0 ? 0 : n > VW ? VW : n;
    return _mm256_loadu_si256((const __m256i *)(ones + 8 - n));
}

/* r[i][j] becomes r[j][i]: pairs of rows interleaved, then quads, then the 128-bit halves. */
static inline __attribute__((always_inline)) void VTRANSPOSE(vf r[VW])
{
    vf t[VW], u[VW];
#pragma GCC unroll 16
    for (int i = 0; i < VW; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < VW; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

#include "simd.inc"
#include "simd_seq.inc"
