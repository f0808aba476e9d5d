/*
 * The x86 operator implementations shared by both SIMD levels (ops.c binds them to a level).
 */
#ifndef EMBER_X86OPS_H
#define EMBER_X86OPS_H

#include "../../src/op.h"
#include "x86.h"

int eg_x86_conv_prepare(eg_node *n, const eg_graph *g, ember_err *err);
int eg_x86_conv_run(eg_kctx *k, const eg_x86_kernels *kn);
int eg_x86_gemm_prepare(eg_node *n, const eg_graph *g, ember_err *err);
int eg_x86_gemm_run(eg_kctx *k, const eg_x86_kernels *kn);
int eg_x86_matmul_prepare(eg_node *n, const eg_graph *g, ember_err *err);
int eg_x86_matmul_run(eg_kctx *k, const eg_x86_kernels *kn);

/* Fewest multiply-accumulates worth one part of a node split across threads (eg_parallel),
 * and most parts per thread: threads take parts as they come free, so a few per thread
 * balance the load when one thread is slow to get a CPU. */
#define EG_PAR_MIN_MACS (128 * 1024)
#define EG_PAR_PARTS_PER_THREAD 4

/* kn->gemm(p), split into parts for the session's threads (eg_parallel) when p is big enough:
 * by blocks of rows when C has at least as many rows as columns, else by column panels. Each
 * element of C is computed exactly as by one kn->gemm call. */
void eg_x86_gemm_par(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p);

int eg_x86_maxpool_run(eg_kctx *k, const eg_x86_kernels *kn);
int eg_x86_global_avgpool_run(eg_kctx *k, const eg_x86_kernels *kn);
int eg_x86_reduce_run(eg_kctx *k, const eg_x86_kernels *kn, int mean);
int eg_x86_binary_run(eg_kctx *k, const eg_x86_kernels *kn, int op);
int eg_x86_unary_run(eg_kctx *k, const eg_x86_kernels *kn, int op);
int eg_x86_pow_run(eg_kctx *k, const eg_x86_kernels *kn);

/* Copies input plane xc [ih, iw] into padded planes (ph rows of pitch pw, already holding the
 * padding value) at offset (pt, pl); for horizontal stride sw 2, even padded columns go to the
 * first plane and odd ones to the second (planes + ph * pw), so strided taps read contiguously. */
void eg_x86_plane_copy(const eg_x86_kernels *kn, const float *xc, int64_t ih, int64_t iw,
                       int64_t pt, int64_t pl, int64_t sw, float *planes, int64_t ph, int64_t pw);

/* The part of a node's fused activation the kernels apply (0 when they leave it), and the
 * rest, applied to output 0 once the kernel is done. */
int eg_x86_kernel_act(int act);
int eg_x86_finish_act(eg_kctx *k);

#endif
