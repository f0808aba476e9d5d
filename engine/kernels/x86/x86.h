/*
 * What the x86 kernels share: the packed-GEMM and depthwise entry points each SIMD level
 * implements (simd.inc, compiled once per level with that level's flags), and the weight
 * packing done once per node at load.
 *
 * Packed A (a constant left operand, e.g. conv weights [M, K]): blocks of EG_MR rows, each
 * stored k-major ([K][EG_MR], zero rows past M). Packed B (a constant right operand [K, N]):
 * panels of EG_NP columns, each [K][EG_NP], zero columns past N. Both layouts are the same for
 * every level, so what is packed at load serves whichever level runs.
 */
#ifndef EMBER_X86_H
#define EMBER_X86_H

#include <stdint.h>

#define EG_MR 6  /* rows of the micro-kernel's register tile */
#define EG_NP 16 /* columns of one packed-B panel */
/* Floats of A in one block of the GEMM (its rows for one block of reduction steps): 256 KiB,
 * to stay in L2 while the columns of B pass over it. */
#define EG_GEMM_A_FLOATS (64 * 1024)

/* One C[m, n] = A[m, k] * B[k, n] (+ bias) with a fused activation. A is packed (ap) or
 * strided (a(i, p) = a[i * ars + p * acs]); B is packed (bp) or row-major (b(p, j) =
 * b[p * ldb + j]). */
typedef struct eg_gemm {
    int64_t m, n, k;
    const float *ap;
    const float *a;
    int64_t ars, acs;
    const float *bp;
    const float *b;
    int64_t ldb;
    const int64_t *koff; /* if set, row p of B starts at b + koff[p] instead (ldb unused) */
    float *c;
    int64_t ldc;
    const float *bias_row; /* per row of C, or NULL */
    const float *bias_col; /* per column of C, or NULL */
    int act;               /* what eg_x86_kernel_act lets kernels apply; others not */
    float alpha, beta;
} eg_gemm;

/* One depthwise plane: y[oh, ow] = bias + sum w[kh, kw] * x[oy * s + ky * d - pt, ...], the
 * input already copied into a padded scratch plane by the caller (eg_x86_plane_copy). */
typedef struct eg_dw {
    const float *planes[2]; /* stride 1: one padded plane; stride 2: even and odd columns */
    int64_t pw;             /* row pitch of the planes */
    int64_t oh, ow;
    int64_t kh, kw, sh, sw, dh, dw;
    const float *w; /* [kh][kw] */
    float bias;
    float *y;
    int act;
    float alpha, beta;
    /* Max pool only: the unpadded input plane [ih, iw] at offset (pt, pl) in the planes, read
     * again for the rare windows whose taps are all NaN or -inf (maxpool3 reads only it). */
    const float *x;
    int64_t ih, iw, pt, pl;
} eg_dw;

/* Channels per block of packed depthwise weights: tap t of channel c is at
 * w[(c / EG_DWC_BLOCK) * taps * EG_DWC_BLOCK + t * EG_DWC_BLOCK + c % EG_DWC_BLOCK], zeros past
 * the last channel, so every level (VW dividing EG_DWC_BLOCK) reads its VW channels of a tap
 * as one vector. */
#define EG_DWC_BLOCK 16
/* The most taps (kh * kw) the channel-blocked depthwise kernel takes. */
#define EG_DWC_MAX_TAPS 25

/* A depthwise conv over one block of nc <= VW channels, vectorized across the channels: the
 * nc input planes are copied into xb as a zero-bordered [ph][pw][VW] image (channel fastest),
 * the outputs computed into yb [oh * ow][VW] and copied back to the nc output planes. */
typedef struct eg_dwc {
    const float *x; /* the block's first input plane [ih, iw]; the next ih * iw floats on */
    int64_t nc, ih, iw, pt, pl;
    float *xb;      /* ph * pw * VW floats, zero where no input lands (the caller's memset) */
    float *yb;      /* oh * ow * VW floats */
    int64_t ph, pw; /* (oh - 1) * sh + (kh - 1) * dh + 1 and the same across */
    int64_t oh, ow, kh, kw, sh, sw, dh, dw;
    const float *w;    /* packed as above, at the block's first channel */
    const float *bias; /* nc values, or NULL */
    float *y;          /* the block's first output plane [oh, ow]; the next oh * ow floats on */
    int act;
    float alpha, beta;
} eg_dwc;

/* The binary operators of eg_x86_kernels.binary. */
enum { EG_BIN_ADD, EG_BIN_SUB, EG_BIN_MUL, EG_BIN_DIV, EG_BIN_MAX, EG_BIN_MIN };

/* The unary operators of eg_x86_kernels.unary. */
enum { EG_UN_RELU, EG_UN_HARDSIGMOID, EG_UN_HARDSWISH };

typedef struct eg_x86_kernels {
    int vw; /* floats per vector */
    /* A level of narrower vectors the same CPU runs, for planes whose rows are no wider than
     * its vectors (a 7-wide depthwise row fills 7 of 8 lanes rather than 7 of 16), or NULL. */
    const struct eg_x86_kernels *narrow;
    void (*gemm)(const eg_gemm *p);
    void (*dw)(const eg_dw *p);
    /* Depthwise across a block of channels (eg_dwc), for small planes. */
    void (*dwc)(const eg_dwc *p);
    /* The same walk as dw taking the maximum of the taps (w, bias and act unused). */
    void (*maxpool)(const eg_dw *p);
    /* Max pool 3x3, dilation 1, horizontal stride 1 or 2, read from the unpadded input plane
     * (x, ih, iw, pt, pl; planes and pw unused); 0, writing nothing, if the row is too narrow
     * for one vector of outputs whose windows lie inside it. */
    int (*maxpool3)(const eg_dw *p);
    /* y[j] = a[j * sa] op b[j * sb] for j < n (op an EG_BIN_*; Max/Min: a if a > b or a is
     * NaN, else b). */
    void (*binary)(int op, float *y, const float *a, int64_t sa, const float *b, int64_t sb,
                   int64_t n);
    /* y[j] = op(x[j]) for j < n (HardSigmoid: max(0, min(1, alpha * x + beta))). */
    void (*unary)(int op, float *y, const float *x, int64_t n, float alpha, float beta);
    /* ev[t / 2] = src[t] for even t < n, od[t / 2] = src[t] for odd t. */
    void (*deinterleave)(const float *src, int64_t n, float *ev, float *od);
    /* x[0] + ... + x[n - 1], summed in float lanes (the order differs from a scalar loop). */
    float (*sum)(const float *x, int64_t n);
} eg_x86_kernels;

extern const eg_x86_kernels eg_x86_avx2;
extern const eg_x86_kernels eg_x86_avx512;

/* Floats of packed A for m rows of k, and packing from a(i, p) = a[i * rs + p * cs]. */
int64_t eg_pack_a_size(int64_t m, int64_t k);
void eg_pack_a(float *dst, const float *a, int64_t m, int64_t k, int64_t rs, int64_t cs);
/* Floats of packed B for k rows of n, and packing from b(p, j) = b[p * rs + j * cs]. */
int64_t eg_pack_b_size(int64_t k, int64_t n);
void eg_pack_b(float *dst, const float *b, int64_t k, int64_t n, int64_t rs, int64_t cs);

#endif
