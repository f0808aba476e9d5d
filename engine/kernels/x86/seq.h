/*
 * Kernels for sequence (audio) models that the GEMM of simd.inc serves badly, per SIMD level
 * (simd_seq.inc, compiled with the level's flags next to simd.inc): products with only a few
 * output columns (1-D convolutions over a handful of frames), 2x2 max pooling read straight
 * from the rows (small CNNs: its planes are too small to pay for a padded copy each), a
 * matrix-vector product on
 * packed weights, and the fused LSTM cell with vectorized sigmoid and tanh.
 *
 * The LSTM driver (rnn.c) computes X * W^T for every time step in one GEMM
 * (eg_x86_kernels.gemm), then per step h * R^T (gemv for one batch row) and the cell. W^T
 * and R^T are packed as GEMM right operands (eg_pack_b, x86.h) once at load.
 */
#ifndef EMBER_X86_SEQ_H
#define EMBER_X86_SEQ_H

#include <stdint.h>

#include "x86ops.h"

/* One LSTM cell update for one batch row, in ONNX's gate order i, o, f, c (blocks of hid):
 * xw holds X W^T + Wb + Rb of the step, hr holds h R^T. With the default activations
 * (sigmoid, tanh, tanh): i, f, o = sigmoid(pre (+ peephole * cell)), the candidate is
 * tanh(pre), c' = f c + i cand (f = 1 - i with input_forget), h = o tanh(c'). Pre-activations
 * are clipped to [-clip, clip] when clip > 0. c and h are updated in place. */
typedef struct eg_lstm_cell {
    const float *xw, *hr;
    const float *p; /* peepholes i, o, f (3 * hid), or NULL */
    float *c, *h;
    int64_t hid;
    float clip;
    int input_forget;
} eg_lstm_cell;

typedef struct eg_x86_seq_kernels {
    /* p->c = p->ap * B (+ bias_row, then Relu, Clip or LeakyRelu as p->act), for any p->n
     * but efficient when it is below the vector width: A must be packed (p->ap), B read
     * through p->b and p->ldb or p->koff; bias_col is not supported. */
    void (*gemm_narrow)(const eg_gemm *p);
    /* MaxPool, 2x2 windows, stride 2, no padding, of planes [ih, iw] into [ih / 2, iw / 2]
     * (NaN inputs skipped, as by eg_x86_kernels.maxpool). */
    void (*maxpool2x2)(const float *x, int64_t planes, int64_t ih, int64_t iw, float *y);
    /* y[j] = (bias ? bias[j] : 0) + sum over p < k of x[p] * B(p, j) for j < n, B packed by
     * eg_pack_b. */
    void (*gemv)(float *y, const float *x, const float *bp, int64_t k, int64_t n,
                 const float *bias);
    void (*lstm_cell)(const eg_lstm_cell *p);
    /* y[j] = sigmoid(x[j]) and y[j] = tanh(x[j]) for j < n (absolute error below 3e-7). */
    void (*sigmoid)(float *y, const float *x, int64_t n);
    void (*tanh)(float *y, const float *x, int64_t n);
} eg_x86_seq_kernels;

/* Each built only on its architecture. */
extern const eg_x86_seq_kernels eg_x86_avx2_seq;
extern const eg_x86_seq_kernels eg_x86_avx512_seq;
extern const eg_x86_seq_kernels eg_arm_neon_seq;

/* The level's kernels of this file for the eg_x86_kernels kn of simd.inc. */
const eg_x86_seq_kernels *eg_x86_seq_of(const eg_x86_kernels *kn);

/* kn->gemm(p), or the narrow product when p has fewer columns than a vector holds and a
 * packed A: there the GEMM's register tile would be mostly padding. */
void eg_x86_gemm_any(const eg_x86_kernels *kn, const eg_gemm *p);

/* MaxPool by the 2x2 kernel when d (as pool.c reads the node) is exactly that form: 1 when
 * done, 0 when the caller must pool. */
int eg_x86_maxpool2x2(const eg_x86_kernels *kn, const eg_dw *d, int64_t pt, int64_t pl,
                      const float *x, int64_t planes, int64_t ih, int64_t iw, float *y);

/* LSTM: the packing of constant W, R and B at load, and the run. Default activations only;
 * other nodes (and anything malformed) go to the reference kernel. */
int eg_x86_lstm_prepare(eg_node *n, const eg_graph *g, ember_err *err);
int eg_x86_lstm_run(eg_kctx *k, const eg_x86_kernels *kn, const eg_x86_seq_kernels *rk);

#endif
