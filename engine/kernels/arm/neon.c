/*
 * The arm64 kernels at the NEON (Advanced SIMD) level: 4-float vectors, built from the same
 * simd.inc as the x86 levels. NEON is part of ARMv8-A, so this file needs no extra flags.
 * NEON has no masked loads and stores: a tail of n < 4 floats goes through a small buffer,
 * never touching memory past the n floats. Max and Min follow x86's rule (the second operand
 * when either is NaN), which is what simd.inc's NaN handling is written against.
 */
#include <arm_neon.h>

#include "arm.h"

typedef float32x4_t vf;
typedef int vmask; /* lanes [0, vmask) */

#define VW 4
#define VZERO() vdupq_n_f32(0.0f)
#define VSET1(x) vdupq_n_f32(x)
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32(p, v)
#define VLOADM(p, m) neon_loadm(p, m)
#define VSTOREM(p, v, m) neon_storem(p, v, m)
#define VFMA(a, b, c) vfmaq_f32(c, a, b)
#define VADD(a, b) vaddq_f32(a, b)
#define VSUB(a, b) vsubq_f32(a, b)
#define VMUL(a, b) vmulq_f32(a, b)
#define VDIV(a, b) vdivq_f32(a, b)
/* a > b ? a : b and a < b ? a : b: the second operand when either is NaN, as on x86. */
#define VMAX(a, b) neon_max(a, b)
#define VMIN(a, b) neon_min(a, b)
/* v >= 0 ? v : a * v, NaN staying NaN as in the reference. */
#define VLEAKY(v, a) vbslq_f32(vcgeq_f32(v, vdupq_n_f32(0.0f)), v, vmulq_f32(v, a))
/* The even and the odd lanes of a then b, in order. */
#define VEVENS(a, b) vuzp1q_f32(a, b)
#define VODDS(a, b) vuzp2q_f32(a, b)
/* a where a > b (or < b) or a is NaN, else b: the reference's Max and Min. */
#define VPICK_GT(a, b) vbslq_f32(vorrq_u32(vcgtq_f32(a, b), vmvnq_u32(vceqq_f32(a, a))), a, b)
#define VPICK_LT(a, b) vbslq_f32(vorrq_u32(vcltq_f32(a, b), vmvnq_u32(vceqq_f32(a, a))), a, b)
/* Whether any lane of a equals the same lane of b. */
#define VANY_EQ(a, b) (vmaxvq_u32(vceqq_f32(a, b)) != 0)
#define SIMD_NAME eg_arm_neon

/* Lanes [0, n) set, n clamped to [0, 4]. */
static inline vmask VMASK(int64_t n)
{
    return n < 0 ? 0 : n > VW ? VW : (vmask)n;
}

static inline vf neon_loadm(const float *p, vmask m)
{
    float t[VW] = {0};
    for (int i = 0; i < m; i++)
        t[i] = p[i];
    return vld1q_f32(t);
}

static inline void neon_storem(float *p, vf v, vmask m)
{
    float t[VW];
    vst1q_f32(t, v);
    for (int i = 0; i < m; i++)
        p[i] = t[i];
}

static inline vf neon_max(vf a, vf b)
{
    return vbslq_f32(vcgtq_f32(a, b), a, b);
}

static inline vf neon_min(vf a, vf b)
{
    return vbslq_f32(vcltq_f32(a, b), a, b);
}

/* r[i][j] becomes r[j][i]: pairs of rows interleaved, then 64-bit halves. */
static inline __attribute__((always_inline)) void VTRANSPOSE(vf r[VW])
{
    vf t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
    vf t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    float64x2_t a0 = vreinterpretq_f64_f32(t0), a1 = vreinterpretq_f64_f32(t1);
    float64x2_t a2 = vreinterpretq_f64_f32(t2), a3 = vreinterpretq_f64_f32(t3);
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(a0, a2));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(a1, a3));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(a0, a2));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(a1, a3));
}

#include "../x86/simd.inc"
#include "../x86/simd_seq.inc"
