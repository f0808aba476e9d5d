/*
 * Reference kernels: Gemm and MatMul.
 *
 * Plain triple loops with a double accumulator so they serve as the oracle for the packed
 * GEMM kernels. MatMul follows numpy: 1-D operands are promoted and stacked batch dims
 * broadcast.
 */
#include "kutil.h"

static int gemm_run(eg_kctx *k)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1), *c = eg_in(k, 2);
    if (!a || !b || a->rank != 2 || b->rank != 2)
        return eg_fail(k, EMBER_ESHAPE, "A and B must be 2-D");
    if (a->dtype != EMBER_DT_FLOAT || b->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    int ta = (int)eg_attr_int(k, "transA", 0), tb = (int)eg_attr_int(k, "transB", 0);
    float alpha = eg_attr_float(k, "alpha", 1.0f), beta = eg_attr_float(k, "beta", 1.0f);
    int64_t m = ta ? a->dims[1] : a->dims[0], ka = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (ka != kb)
        return eg_fail(k, EMBER_ESHAPE, "inner dimensions differ (%lld vs %lld)", (long long)ka,
                       (long long)kb);
    int64_t odims[2] = {m, n}, cstr[2] = {0, 0};
    if (c) {
        int64_t bd[2];
        ember_tensor o = {.rank = 2, .dims = {m, n}};
        if (c->dtype != EMBER_DT_FLOAT || c->rank > 2 || ku_broadcast_shape(c, &o, bd) != 2 ||
            bd[0] != m || bd[1] != n)
            return eg_fail(k, EMBER_ESHAPE, "C does not broadcast to [%lld, %lld]", (long long)m,
                           (long long)n);
        ku_broadcast_strides(c, 2, odims, cstr);
    }
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, 2, odims);
    if (!y)
        return EMBER_ENOMEM;
    const float *A = a->data, *B = b->data;
    const float *C = c ? c->data : NULL;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < ka; p++) {
                float av = ta ? A[p * m + i] : A[i * ka + p];
                float bv = tb ? B[j * kb + p] : B[p * n + j];
                acc += (double)av * bv;
            }
            double v = alpha * acc;
            if (C)
                v += (double)beta * C[i * cstr[0] + j * cstr[1]];
            y[i * n + j] = (float)v;
        }
    }
    return 0;
}

/* One [m,k] x [k,n] product for any of the element types MatMul takes. */
static void matmul_block(ember_dtype dt, const void *a, const void *b, void *y, int64_t m,
                         int64_t kk, int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            if (dt == EMBER_DT_FLOAT) {
                double acc = 0;
                for (int64_t p = 0; p < kk; p++)
                    acc += (double)((const float *)a)[i * kk + p] * ((const float *)b)[p * n + j];
                ((float *)y)[i * n + j] = (float)acc;
            } else if (dt == EMBER_DT_INT64) {
                int64_t acc = 0;
                for (int64_t p = 0; p < kk; p++)
                    acc += ((const int64_t *)a)[i * kk + p] * ((const int64_t *)b)[p * n + j];
                ((int64_t *)y)[i * n + j] = acc;
            } else {
                int32_t acc = 0;
                for (int64_t p = 0; p < kk; p++)
                    acc += ((const int32_t *)a)[i * kk + p] * ((const int32_t *)b)[p * n + j];
                ((int32_t *)y)[i * n + j] = acc;
            }
        }
    }
}

static int matmul_run(eg_kctx *k)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    if (!a || !b || a->rank < 1 || b->rank < 1)
        return eg_fail(k, EMBER_ESHAPE, "operands must have rank >= 1");
    if (a->dtype != b->dtype ||
        (a->dtype != EMBER_DT_FLOAT && a->dtype != EMBER_DT_INT32 && a->dtype != EMBER_DT_INT64))
        return eg_fail(k, EMBER_EUNSUPPORTED, "unsupported types %s x %s",
                       ember_dtype_name(a->dtype), ember_dtype_name(b->dtype));
    /* Promote 1-D operands: a to [1,K], b to [K,1]; the added dim is dropped again. */
    ember_tensor A = *a, B = *b;
    if (A.rank == 1) {
        A.rank = 2;
        A.dims[1] = A.dims[0];
        A.dims[0] = 1;
    }
    if (B.rank == 1) {
        B.rank = 2;
        B.dims[1] = 1;
    }
    int64_t m = A.dims[A.rank - 2], kk = A.dims[A.rank - 1];
    int64_t kb = B.dims[B.rank - 2], n = B.dims[B.rank - 1];
    if (kk != kb)
        return eg_fail(k, EMBER_ESHAPE, "inner dimensions differ (%lld vs %lld)", (long long)kk,
                       (long long)kb);
    /* Broadcast the batch dims. */
    ember_tensor ab = {.rank = A.rank - 2}, bb = {.rank = B.rank - 2};
    memcpy(ab.dims, A.dims, (size_t)ab.rank * sizeof A.dims[0]);
    memcpy(bb.dims, B.dims, (size_t)bb.rank * sizeof B.dims[0]);
    int64_t odims[EMBER_MAX_RANK];
    int br = ku_broadcast_shape(&ab, &bb, odims);
    if (br < 0 || br + 2 > EMBER_MAX_RANK)
        return eg_fail(k, EMBER_ESHAPE, "batch dimensions do not broadcast");
    int orank = br;
    if (a->rank > 1)
        odims[orank++] = m;
    if (b->rank > 1)
        odims[orank++] = n;
    void *y = eg_out(k, 0, a->dtype, orank, odims);
    if (!y)
        return EMBER_ENOMEM;
    size_t es = ember_dtype_size(a->dtype);
    const ember_tensor *ops[2] = {&ab, &bb};
    ku_iter it;
    ku_iter_init(&it, br, odims, 2, ops);
    int64_t batches = ku_count(br, odims);
    for (int64_t bi = 0; bi < batches; bi++, ku_iter_next(&it)) {
        matmul_block(a->dtype, (const char *)a->data + it.off[0] * m * kk * es,
                     (const char *)b->data + it.off[1] * kk * n * es,
                     (char *)y + bi * m * n * es, m, kk, n);
    }
    return 0;
}

const eg_op eg_ops_matmul[] = {
    {"Gemm", "", gemm_run},
    {"MatMul", "", matmul_run},
    {NULL, NULL, NULL},
};
