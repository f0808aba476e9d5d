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
/* Bytes each prepare above allocates for n's kdata, 0 when it packs nothing, and what it
 * writes there (op.h's eg_kdata_format: each prepare is an allocation of _bytes and _pack). */
int64_t eg_x86_conv_kdata_bytes(const eg_node *n, const eg_graph *g);
void eg_x86_conv_kdata_pack(const eg_node *n, const eg_graph *g, void *dst);
int64_t eg_x86_gemm_kdata_bytes(const eg_node *n, const eg_graph *g);
void eg_x86_gemm_kdata_pack(const eg_node *n, const eg_graph *g, void *dst);
int64_t eg_x86_matmul_kdata_bytes(const eg_node *n, const eg_graph *g);
void eg_x86_matmul_kdata_pack(const eg_node *n, const eg_graph *g, void *dst);
int eg_x86_matmul_run(eg_kctx *k, const eg_x86_kernels *kn);

/* Fewest multiply-accumulates worth one part of a node split across threads (eg_parallel):
 * 32K take a couple of microseconds, against a fork-join of about 0.3 us with the helpers
 * spinning (tests/bench/forkjoin). And most parts per thread: threads take parts as they
 * come free, so a few per thread balance the load when one thread is slow to get a CPU. */
#define EG_PAR_MIN_MACS (32 * 1024)
#define EG_PAR_PARTS_PER_THREAD 4
/* Most threads a GEMM is planned for (more run it on one). */
#define EG_PAR_MAX_THREADS EMBER_SESSION_MAX_THREADS

/* Parts to split work of `macs` multiply-accumulates in `units` indivisible units into: at
 * most EG_PAR_PARTS_PER_THREAD per thread and one per EG_PAR_MIN_MACS, a multiple of the
 * thread count when there are at least as many parts as threads (equal parts keep every
 * thread busy to the end), and 1 on one thread or when the work is too small to split. */
int eg_x86_par_parts(const eg_kctx *k, int64_t macs, int64_t units);

/* kn->gemm(p), split into parts for the session's threads (eg_parallel) when p is big enough:
 * a grid of row blocks by column blocks, chosen for the least time with parts handed out as
 * threads come free. Each element of C is computed exactly as by one kn->gemm call. */
void eg_x86_gemm_par(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p);
/* The same, calling then(arg, r0, r1, c0, c1) on the thread that computed each tile, rows
 * [r0, r1) by columns [c0, c1) of C, once it is done: work on the result (a copy out) splits
 * with the product. */
typedef void (*eg_gemm_tile_fn)(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1);
void eg_x86_gemm_par_then(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p,
                          eg_gemm_tile_fn then, void *arg);

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
