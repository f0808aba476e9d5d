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

/* A GEMM cut into pm row ranges (whole blocks of EG_MR rows) by pn column ranges (whole
 * blocks of cu columns); part i is range i / pn of rows and i % pn of columns. */
typedef struct gemm_split {
    const eg_x86_kernels *kn;
    const eg_gemm *p;
    int64_t cu;     /* columns per block: a multiple of EG_NP and of the vector width */
    int64_t rb, cb; /* row and column blocks */
    int pm, pn;
    eg_gemm_tile_fn then; /* called on each part's tile once computed, or NULL */
    void *then_arg;
} gemm_split;

static void gemm_part(void *arg, int part, int nparts, int thread)
{
    (void)nparts;
    (void)thread;
    const gemm_split *sp = arg;
    eg_gemm q = *sp->p;
    int pi = part / sp->pn, pj = part % sp->pn;
    int64_t r0 = sp->rb * pi / sp->pm * EG_MR, r1 = sp->rb * (pi + 1) / sp->pm * EG_MR;
    int64_t c0 = sp->cb * pj / sp->pn * sp->cu, c1 = sp->cb * (pj + 1) / sp->pn * sp->cu;
    r1 = r1 < q.m ? r1 : q.m;
    c1 = c1 < q.n ? c1 : q.n;
    if (r0 >= r1 || c0 >= c1)
        return;
    q.m = r1 - r0;
    if (q.ap)
        q.ap += r0 * q.k; /* r0 is a multiple of EG_MR: whole packed blocks */
    else
        q.a += r0 * q.ars;
    if (q.bias_row)
        q.bias_row += r0;
    q.n = c1 - c0;
    if (q.bp)
        q.bp += c0 * q.k; /* c0 is a multiple of EG_NP: whole panels */
    else
        q.b += c0;
    if (q.bias_col)
        q.bias_col += c0;
    q.c += r0 * q.ldc + c0;
    sp->kn->gemm(&q);
    if (sp->then)
        sp->then(sp->then_arg, r0, r1, c0, c1);
}

/* Time, in multiply-accumulates, for `threads` threads taking the pm x pn parts of sp in
 * order as each comes free. A part costs its padded tile (row tails compute whole register
 * rows, column tails whole vectors) plus its reads of A and B, at GEMM_PART_LOAD MACs a
 * float, which charges a split for the operand each part reads again. */
#define GEMM_PART_LOAD 4
static int64_t gemm_split_cost(const gemm_split *sp, int64_t vw, int threads)
{
    int64_t busy[EG_PAR_MAX_THREADS] = {0}, k = sp->p->k, worst = 0;
    for (int part = 0; part < sp->pm * sp->pn; part++) {
        int pi = part / sp->pn, pj = part % sp->pn;
        int64_t r0 = sp->rb * pi / sp->pm * EG_MR, r1 = sp->rb * (pi + 1) / sp->pm * EG_MR;
        int64_t c0 = sp->cb * pj / sp->pn * sp->cu, c1 = sp->cb * (pj + 1) / sp->pn * sp->cu;
        r1 = r1 < sp->p->m ? r1 : sp->p->m;
        c1 = c1 < sp->p->n ? c1 : sp->p->n;
        int64_t rows = (r1 - r0 + EG_MR - 1) / EG_MR * EG_MR, cols = (c1 - c0 + vw - 1) / vw * vw;
        int first = 0;
        for (int t = 1; t < threads; t++)
            if (busy[t] < busy[first])
                first = t;
        busy[first] += rows * cols * k + GEMM_PART_LOAD * (rows + cols) * k;
        worst = busy[first] > worst ? busy[first] : worst;
    }
    return worst;
}

int eg_x86_par_parts(const eg_kctx *k, int64_t macs, int64_t units)
{
    int threads = eg_threads(k);
    int64_t parts = macs / EG_PAR_MIN_MACS, most = (int64_t)EG_PAR_PARTS_PER_THREAD * threads;
    parts = parts > most ? most : parts;
    parts = parts > units ? units : parts;
    if (parts >= threads)
        parts -= parts % threads;
    return threads < 2 || parts < 2 ? 1 : (int)parts;
}

void eg_x86_gemm_par(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p)
{
    eg_x86_gemm_par_then(k, kn, p, NULL, NULL);
}

void eg_x86_gemm_par_then(eg_kctx *k, const eg_x86_kernels *kn, const eg_gemm *p,
                          eg_gemm_tile_fn then, void *then_arg)
{
    int threads = eg_threads(k);
    int64_t cu = 2 * kn->vw > EG_NP ? 2 * kn->vw : EG_NP;
    gemm_split sp = {kn, p,    cu,      (p->m + EG_MR - 1) / EG_MR, (p->n + cu - 1) / cu, 1,
                     1,  then, then_arg};
    int most = eg_x86_par_parts(k, p->m * p->n * p->k, sp.rb * sp.cb);
    /* A product too narrow for the register tile is never split: each part would choose
     * its kernel by its own width, and results must not depend on the thread count. */
    if (most < 2 || p->n < kn->vw || threads > EG_PAR_MAX_THREADS) {
        eg_x86_gemm_any(kn, p);
        if (then)
            then(then_arg, 0, p->m, 0, p->n);
        return;
    }
    /* The cheapest grid of at most `most` parts (fewer parts on a tie). */
    gemm_split best = sp;
    int64_t best_cost = gemm_split_cost(&sp, kn->vw, threads);
    for (int pm = 1; pm <= most && pm <= sp.rb; pm++) {
        for (int pn = 1; pm * pn <= most && pn <= sp.cb; pn++) {
            gemm_split c = sp;
            c.pm = pm;
            c.pn = pn;
            int64_t cost = gemm_split_cost(&c, kn->vw, threads);
            if (cost < best_cost) {
                best = c;
                best_cost = cost;
            }
        }
    }
    eg_parallel(k, gemm_part, &best, best.pm * best.pn);
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
