/*
 * Gemm and MatMul (float32) on the x86 packed GEMM; other types and shapes go to the
 * reference.
 *
 * A constant right operand is packed into panels once at load (n->kdata); a variable one is
 * read in place when row-major, or packed into scratch when Gemm transposes it. The left
 * operand is read in place through strides (so transA costs nothing). Gemm's C is fused as a
 * per-column bias when it is a row vector and beta is 1; other Gemm forms use the reference.
 * Every GEMM of the x86 drivers goes through eg_x86_gemm_par, which splits a large one across
 * the session's threads.
 */
#include <stdlib.h>

#include "../ref/kutil.h"
#include "seq.h"
#include "x86ops.h"

typedef struct gemm_split {
    const eg_x86_kernels *kn;
    const eg_gemm *p;
    int rows;     /* split rows (else columns) */
    int64_t unit; /* rows or columns per block: parts start on block boundaries */
} gemm_split;

static void gemm_part(void *arg, int part, int nparts, int thread)
{
    (void)thread;
    const gemm_split *sp = arg;
    eg_gemm q = *sp->p;
    int64_t total = sp->rows ? q.m : q.n, blocks = (total + sp->unit - 1) / sp->unit;
    int64_t start = blocks * part / nparts * sp->unit;
    int64_t end = blocks * (part + 1) / nparts * sp->unit;
    end = end < total ? end : total;
    if (start >= end)
        return;
    if (sp->rows) {
        q.m = end - start;
        if (q.ap)
            q.ap += start * q.k; /* start is a multiple of EG_MR: whole packed blocks */
        else
            q.a += start * q.ars;
        q.c += start * q.ldc;
        if (q.bias_row)
            q.bias_row += start;
    } else {
        q.n = end - start;
        if (q.bp)
            q.bp += start / EG_NP * EG_NP * q.k; /* start is a multiple of EG_NP: whole panels */
        else
            q.b += start;
        q.c += start;
        if (q.bias_col)
            q.bias_col += start;
    }
    sp->kn->gemm(&q);
}

void eg_x86_gemm_par(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p)
{
    int64_t macs = p->m * p->n * p->k, parts = macs / EG_PAR_MIN_MACS;
    int threads = eg_threads(k);
    int64_t nr = 2 * kn->vw;
    gemm_split sp = {kn, p, p->m >= p->n, 0};
    sp.unit = sp.rows ? EG_MR : nr > EG_NP ? nr : EG_NP;
    int64_t blocks = ((sp.rows ? p->m : p->n) + sp.unit - 1) / sp.unit;
    parts = parts > blocks ? blocks : parts;
    parts = parts > EG_PAR_PARTS_PER_THREAD * threads ? EG_PAR_PARTS_PER_THREAD * threads : parts;
    /* A product too narrow for the register tile is never split: each part would choose
     * its kernel by its own width, and results must not depend on the thread count. */
    if (threads < 2 || parts < 2 || p->n < kn->vw) {
        eg_x86_gemm_any(kn, p);
        return;
    }
    eg_parallel(k, gemm_part, &sp, (int)parts);
}

/* Whether input 1 of n is a constant to pack, as a [kk, nn] right operand (trans: stored
 * transposed). */
static int const_b_shape(const eg_node *n, const eg_graph *g, int trans, int64_t *kk,
                         int64_t *nn)
{
    if (n->nin < 2 || n->in[1] < 0)
        return 0;
    const eg_value *b = &g->val[n->in[1]];
    if (b->kind != EG_VAL_CONST || b->dtype != EMBER_DT_FLOAT || b->rank != 2 || b->dims[0] < 1 ||
        b->dims[1] < 1)
        return 0;
    *kk = trans ? b->dims[1] : b->dims[0];
    *nn = trans ? b->dims[0] : b->dims[1];
    return 1;
}

static int64_t const_b_bytes(const eg_node *n, const eg_graph *g, int trans)
{
    int64_t kk, nn;
    return const_b_shape(n, g, trans, &kk, &nn) ? eg_pack_b_size(kk, nn) * (int64_t)sizeof(float)
                                                : 0;
}

static void const_b_pack(const eg_node *n, const eg_graph *g, int trans, void *dst)
{
    int64_t kk, nn;
    if (const_b_shape(n, g, trans, &kk, &nn))
        eg_pack_b(dst, g->val[n->in[1]].data, kk, nn, trans ? 1 : nn, trans ? kk : 1);
}

static int pack_const_b(eg_node *n, const eg_graph *g, int trans, ember_err *err)
{
    int64_t bytes = const_b_bytes(n, g, trans);
    if (!bytes)
        return 0;
    void *p = eg_kdata_alloc(g, (size_t)bytes);
    if (!p)
        return ember_err_set(err, EMBER_ENOMEM, "node '%s': out of memory packing weights",
                             n->name);
    const_b_pack(n, g, trans, p);
    n->kdata = p;
    return 0;
}

static int gemm_trans_b(const eg_node *n)
{
    const eg_attr *tb = eg_node_attr(n, "transB");
    return tb && tb->kind == EG_ATTR_INT && tb->i;
}

int eg_x86_gemm_prepare(eg_node *n, const eg_graph *g, ember_err *err)
{
    return pack_const_b(n, g, gemm_trans_b(n), err);
}

int64_t eg_x86_gemm_kdata_bytes(const eg_node *n, const eg_graph *g)
{
    return const_b_bytes(n, g, gemm_trans_b(n));
}

void eg_x86_gemm_kdata_pack(const eg_node *n, const eg_graph *g, void *dst)
{
    const_b_pack(n, g, gemm_trans_b(n), dst);
}

int eg_x86_matmul_prepare(eg_node *n, const eg_graph *g, ember_err *err)
{
    return pack_const_b(n, g, 0, err);
}

int64_t eg_x86_matmul_kdata_bytes(const eg_node *n, const eg_graph *g)
{
    return const_b_bytes(n, g, 0);
}

void eg_x86_matmul_kdata_pack(const eg_node *n, const eg_graph *g, void *dst)
{
    const_b_pack(n, g, 0, dst);
}

int eg_x86_gemm_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1), *c = eg_in(k, 2);
    int ta = (int)eg_attr_int(k, "transA", 0), tb = (int)eg_attr_int(k, "transB", 0);
    float alpha = eg_attr_float(k, "alpha", 1.0f), beta = eg_attr_float(k, "beta", 1.0f);
    if (!a || !b || a->rank != 2 || b->rank != 2 || a->dtype != EMBER_DT_FLOAT ||
        b->dtype != EMBER_DT_FLOAT || alpha != 1.0f)
        return eg_run_reference(k);
    int64_t m = ta ? a->dims[1] : a->dims[0], kk = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (kk != kb || m < 1 || n < 1 || kk < 1)
        return eg_run_reference(k);
    const float *bias = NULL;
    if (c) {
        int row = (c->rank == 1 && c->dims[0] == n) ||
                  (c->rank == 2 && c->dims[0] == 1 && c->dims[1] == n);
        if (c->dtype != EMBER_DT_FLOAT || !row || beta != 1.0f)
            return eg_run_reference(k);
        bias = c->data;
    }
    const eg_node *nd = eg_node_of(k);
    int64_t odims[2] = {m, n};
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, 2, odims);
    if (!y)
        return EMBER_ENOMEM;
    eg_gemm p = {.m = m,
                 .n = n,
                 .k = kk,
                 .a = a->data,
                 .ars = ta ? 1 : kk,
                 .acs = ta ? m : 1,
                 .c = y,
                 .ldc = n,
                 .bias_col = bias,
                 .act = eg_x86_kernel_act(nd->act),
                 .alpha = nd->act_alpha,
                 .beta = nd->act_beta};
    if (nd->kdata) {
        p.bp = nd->kdata;
    } else if (!tb) {
        p.b = b->data;
        p.ldb = n;
    } else {
        float *bp = eg_scratch(k, (size_t)eg_pack_b_size(kk, n) * sizeof *bp);
        if (!bp)
            return EMBER_ENOMEM;
        eg_pack_b(bp, b->data, kk, n, 1, kk);
        p.bp = bp;
    }
    eg_x86_gemm_par(k, kn, &p);
    return eg_x86_finish_act(k);
}

int eg_x86_matmul_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    if (!a || !b || a->dtype != EMBER_DT_FLOAT || b->dtype != EMBER_DT_FLOAT || a->rank < 1 ||
        b->rank != 2 || a->dims[a->rank - 1] != b->dims[0])
        return eg_run_reference(k);
    int64_t kk = b->dims[0], n = b->dims[1];
    int64_t m = ku_count(a->rank - 1, a->dims);
    int64_t odims[EMBER_MAX_RANK];
    for (int i = 0; i < a->rank - 1; i++)
        odims[i] = a->dims[i];
    odims[a->rank - 1] = n;
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, a->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    if (m < 1 || n < 1)
        return 0;
    if (kk < 1) {
        for (int64_t i = 0; i < m * n; i++)
            y[i] = 0.0f;
        return 0;
    }
    const eg_node *nd = eg_node_of(k);
    eg_gemm p = {.m = m, .n = n, .k = kk, .a = a->data, .ars = kk, .acs = 1, .c = y, .ldc = n};
    if (nd->kdata) {
        p.bp = nd->kdata;
    } else {
        p.b = b->data;
        p.ldb = n;
    }
    eg_x86_gemm_par(k, kn, &p);
    return 0;
}
