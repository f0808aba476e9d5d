/*
 * Reference kernels: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
 * QLinearMatMul. (The integer convolutions live in conv.c beside the float ones.)
 *
 * Quantization parameters apply per tensor, per slice along `axis`, or (opset 21) per block of
 * `block_size` slices; X is walked as [outer, dim, inner] and qp_index maps each element to its
 * parameter. Rounding is half to even and results saturate, following the ONNX reference,
 * which also fixes where float32 and where double arithmetic is used. The integer matmuls
 * widen both operands to int32 minus their zero points (per tensor, per row of A, per column
 * of B) and broadcast batch dims like MatMul.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kutil.h"

enum { QP_TENSOR, QP_AXIS, QP_BLOCK };

/* How one scale (and zero point) tensor maps onto X viewed as [outer, dim, inner]. */
typedef struct qparams {
    int mode;
    int64_t outer, dim, inner, block;
} qparams;

static int64_t qp_index(const qparams *q, int64_t o, int64_t a, int64_t i)
{
    switch (q->mode) {
    case QP_AXIS: return a;
    case QP_BLOCK: return (o * ((q->dim + q->block - 1) / q->block) + a / q->block) * q->inner + i;
    default: return 0;
    }
}

/* Works out the layout of scale and zero point against x from axis and block_size. */
static int qparams_setup(eg_kctx *k, const ember_tensor *x, const ember_tensor *scale,
                         const ember_tensor *zp, qparams *q)
{
    if (!scale || scale->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_ESHAPE, "scale must be float32");
    int64_t ns = ember_tensor_count(scale);
    int64_t block = eg_opset(k) >= 21 ? eg_attr_int(k, "block_size", 0) : 0;
    if (block < 0)
        return eg_fail(k, EMBER_EINVAL, "block_size must not be negative");
    memset(q, 0, sizeof *q);
    q->outer = ember_tensor_count(x);
    q->dim = q->inner = 1;
    q->block = block;
    if (ns == 1 && scale->rank <= 1) {
        q->mode = QP_TENSOR;
    } else {
        int axis = ku_axis(eg_attr_int(k, "axis", 1), x->rank);
        if (axis < 0)
            return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", x->rank);
        q->outer = ku_count(axis, x->dims);
        q->dim = x->dims[axis];
        q->inner = ku_count(x->rank - axis - 1, x->dims + axis + 1);
        if (!block) {
            if (scale->rank != 1 || ns != q->dim)
                return eg_fail(k, EMBER_ESHAPE, "per-axis scale must be 1-D with %lld values",
                               (long long)q->dim);
            q->mode = QP_AXIS;
        } else {
            int ok = scale->rank == x->rank;
            for (int i = 0; ok && i < x->rank; i++)
                ok = scale->dims[i] == (i == axis ? (x->dims[i] + block - 1) / block : x->dims[i]);
            if (!ok)
                return eg_fail(k, EMBER_ESHAPE, "blocked scale shape does not fit x");
            q->mode = QP_BLOCK;
        }
    }
    if (zp) {
        int same = zp->rank == scale->rank || (ns == 1 && zp->rank <= 1);
        for (int i = 0; same && zp->rank == scale->rank && i < zp->rank; i++)
            same = zp->dims[i] == scale->dims[i];
        if (!same || ember_tensor_count(zp) != ns)
            return eg_fail(k, EMBER_ESHAPE, "zero point shape differs from scale shape");
    }
    return 0;
}

/* Saturates a rounded value into a quantized type. */
static void store_q(void *p, ember_dtype dt, int64_t i, double v)
{
    double lo = dt == EMBER_DT_INT8 ? -128 : 0, hi = dt == EMBER_DT_INT8 ? 127 : 255;
    if (isnan(v))
        v = 0;
    v = v < lo ? lo : v > hi ? hi : v;
    if (dt == EMBER_DT_INT8)
        ((int8_t *)p)[i] = (int8_t)v;
    else
        ((uint8_t *)p)[i] = (uint8_t)v;
}

static int is_q8(ember_dtype dt)
{
    return dt == EMBER_DT_UINT8 || dt == EMBER_DT_INT8;
}

static int quantize_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *sc = eg_in(k, 1), *zp = eg_in(k, 2);
    if (!x || (x->dtype != EMBER_DT_FLOAT && x->dtype != EMBER_DT_INT32))
        return eg_fail(k, EMBER_EUNSUPPORTED, "x must be float32 or int32");
    ember_dtype yt = EMBER_DT_UINT8;
    int64_t odt = eg_opset(k) >= 21 ? eg_attr_int(k, "output_dtype", 0) : 0;
    if (zp)
        yt = zp->dtype;
    else if (odt)
        yt = (ember_dtype)odt;
    if (!is_q8(yt) || (zp && odt && odt != zp->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "output type must be int8 or uint8");
    qparams q;
    int rc = qparams_setup(k, x, sc, zp, &q);
    if (rc)
        return rc;
    void *y = eg_out(k, 0, yt, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    const float *S = sc->data;
    int64_t e = 0;
    for (int64_t o = 0; o < q.outer; o++) {
        for (int64_t a = 0; a < q.dim; a++) {
            for (int64_t i = 0; i < q.inner; i++, e++) {
                int64_t p = qp_index(&q, o, a, i);
                /* float32 / float32 stays float32; int32 / float32 is done in double. */
                double r = x->dtype == EMBER_DT_FLOAT ? rintf(((const float *)x->data)[e] / S[p])
                                                      : rint(ku_get_f(x, e) / S[p]);
                store_q(y, yt, e, r + (zp ? (double)ku_get_int(zp, p) : 0));
            }
        }
    }
    return 0;
}

static int dequantize_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *sc = eg_in(k, 1), *zp = eg_in(k, 2);
    if (!x || (!is_q8(x->dtype) && x->dtype != EMBER_DT_INT32))
        return eg_fail(k, EMBER_EUNSUPPORTED, "x must be int8, uint8 or int32");
    if (zp && zp->dtype != x->dtype)
        return eg_fail(k, EMBER_ESHAPE, "zero point type differs from x");
    int64_t odt = eg_attr_int(k, "output_dtype", 0);
    if (odt && odt != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 output is supported");
    qparams q;
    int rc = qparams_setup(k, x, sc, zp, &q);
    if (rc)
        return rc;
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    const float *S = sc->data;
    int64_t e = 0;
    for (int64_t o = 0; o < q.outer; o++) {
        for (int64_t a = 0; a < q.dim; a++) {
            for (int64_t i = 0; i < q.inner; i++, e++) {
                int64_t p = qp_index(&q, o, a, i);
                int64_t v = ku_get_int(x, e) - (zp ? ku_get_int(zp, p) : 0);
                y[e] = (float)v * S[p];
            }
        }
    }
    return 0;
}

static int dynamic_quantize_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    uint8_t *y = eg_out(k, 0, EMBER_DT_UINT8, x->rank, x->dims);
    int64_t scalar_dims[1] = {1};
    float *ys = eg_out(k, 1, EMBER_DT_FLOAT, 0, scalar_dims);
    uint8_t *yz = eg_out(k, 2, EMBER_DT_UINT8, 0, scalar_dims);
    if (!y || !ys || !yz)
        return EMBER_ENOMEM;
    const float *X = x->data;
    int64_t n = ember_tensor_count(x);
    /* The range always includes zero so that zero is exactly representable. */
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        lo = X[i] < lo ? X[i] : lo;
        hi = X[i] > hi ? X[i] : hi;
    }
    float scale = (hi - lo) / 255.0f;
    float zpf = scale != 0 ? 0 - lo / scale : 0;
    zpf = zpf < 0 ? 0 : zpf > 255 ? 255 : zpf;
    double zp = rintf(zpf);
    *ys = scale;
    *yz = (uint8_t)zp;
    for (int64_t i = 0; i < n; i++)
        store_q(y, EMBER_DT_UINT8, i, scale != 0 ? rintf(X[i] / scale) + zp : zp);
    return 0;
}

/* Shapes of an integer matmul: A [.., M, K] x B [.., K, N] with MatMul's 1-D promotion and
 * batch broadcasting. */
typedef struct qmm {
    ember_tensor a, b;   /* promoted to rank >= 2 */
    ember_tensor ab, bb; /* batch dims only */
    int orank, brank;
    int64_t m, kk, n, odims[EMBER_MAX_RANK];
    int32_t *az, *bz; /* widened operands minus zero points */
} qmm;

/* Checks a zero point or scale count against the allowed per-tensor or per-row/column count. */
static int vec_ok(const ember_tensor *t, int64_t n)
{
    int64_t c = ember_tensor_count(t);
    return t->rank <= 1 && (c == 1 || c == n);
}

/* Widens t ([.., rows, cols]) minus zp (one value, or one per row or per column) into out. */
static void widen(const ember_tensor *t, const ember_tensor *zp, int per_col, int64_t rows,
                  int64_t cols, int32_t *out)
{
    int64_t n = ember_tensor_count(t), nz = zp ? ember_tensor_count(zp) : 0;
    for (int64_t e = 0; e < n; e++) {
        int64_t zi = nz <= 1 ? 0 : per_col ? e % cols : (e / cols) % rows;
        out[e] = (int32_t)ku_get_int(t, e) - (int32_t)(zp ? ku_get_int(zp, zi) : 0);
    }
}

static int qmm_prepare(eg_kctx *k, const ember_tensor *a, const ember_tensor *azp,
                       const ember_tensor *b, const ember_tensor *bzp, qmm *q)
{
    if (!a || !b || a->rank < 1 || b->rank < 1)
        return eg_fail(k, EMBER_ESHAPE, "operands must have rank >= 1");
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "operands must be int8 or uint8");
    if ((azp && azp->dtype != a->dtype) || (bzp && bzp->dtype != b->dtype))
        return eg_fail(k, EMBER_ESHAPE, "zero point types must match their operands");
    q->a = *a;
    q->b = *b;
    if (q->a.rank == 1) {
        q->a.rank = 2;
        q->a.dims[1] = q->a.dims[0];
        q->a.dims[0] = 1;
    }
    if (q->b.rank == 1) {
        q->b.rank = 2;
        q->b.dims[1] = 1;
    }
    q->m = q->a.dims[q->a.rank - 2];
    q->kk = q->a.dims[q->a.rank - 1];
    q->n = q->b.dims[q->b.rank - 1];
    if (q->b.dims[q->b.rank - 2] != q->kk)
        return eg_fail(k, EMBER_ESHAPE, "inner dimensions differ (%lld vs %lld)", (long long)q->kk,
                       (long long)q->b.dims[q->b.rank - 2]);
    if ((azp && !vec_ok(azp, q->m)) || (bzp && !vec_ok(bzp, q->n)))
        return eg_fail(k, EMBER_ESHAPE, "zero points must be per tensor, A row or B column");
    memset(&q->ab, 0, sizeof q->ab);
    memset(&q->bb, 0, sizeof q->bb);
    q->ab.rank = q->a.rank - 2;
    q->bb.rank = q->b.rank - 2;
    memcpy(q->ab.dims, q->a.dims, (size_t)q->ab.rank * sizeof q->a.dims[0]);
    memcpy(q->bb.dims, q->b.dims, (size_t)q->bb.rank * sizeof q->b.dims[0]);
    q->brank = ku_broadcast_shape(&q->ab, &q->bb, q->odims);
    if (q->brank < 0 || q->brank + 2 > EMBER_MAX_RANK)
        return eg_fail(k, EMBER_ESHAPE, "batch dimensions do not broadcast");
    q->orank = q->brank;
    if (a->rank > 1)
        q->odims[q->orank++] = q->m;
    if (b->rank > 1)
        q->odims[q->orank++] = q->n;
    int64_t na = ember_tensor_count(a), nb = ember_tensor_count(b);
    q->az = eg_scratch(k, (size_t)(na + nb + 1) * sizeof(int32_t));
    if (!q->az)
        return EMBER_ENOMEM;
    q->bz = q->az + na;
    widen(a, azp, 0, q->m, q->kk, q->az);
    widen(b, bzp, 1, q->kk, q->n, q->bz);
    return 0;
}

/* acc[batch][M][N] = sum over K, wrapping like int32 hardware instead of overflowing. */
static void qmm_run(const qmm *q, int32_t *acc)
{
    const ember_tensor *ops[2] = {&q->ab, &q->bb};
    ku_iter it;
    ku_iter_init(&it, q->brank, q->odims, 2, ops);
    int64_t batches = ku_count(q->brank, q->odims);
    for (int64_t bi = 0; bi < batches; bi++, ku_iter_next(&it)) {
        const int32_t *A = q->az + it.off[0] * q->m * q->kk;
        const int32_t *B = q->bz + it.off[1] * q->kk * q->n;
        int32_t *C = acc + bi * q->m * q->n;
        for (int64_t i = 0; i < q->m; i++) {
            for (int64_t j = 0; j < q->n; j++) {
                uint32_t s = 0;
                for (int64_t p = 0; p < q->kk; p++)
                    s += (uint32_t)(A[i * q->kk + p] * B[p * q->n + j]);
                C[i * q->n + j] = (int32_t)s;
            }
        }
    }
}

static int matmul_integer_run(eg_kctx *k)
{
    qmm q;
    int rc = qmm_prepare(k, eg_in(k, 0), eg_in(k, 2), eg_in(k, 1), eg_in(k, 3), &q);
    if (rc)
        return rc;
    int32_t *y = eg_out(k, 0, EMBER_DT_INT32, q.orank, q.odims);
    if (!y)
        return EMBER_ENOMEM;
    qmm_run(&q, y);
    return 0;
}

static int qlinear_matmul_run(eg_kctx *k)
{
    const ember_tensor *as = eg_in(k, 1), *bs = eg_in(k, 4), *ys = eg_in(k, 6);
    const ember_tensor *yzp = eg_in(k, 7);
    qmm q;
    int rc = qmm_prepare(k, eg_in(k, 0), eg_in(k, 2), eg_in(k, 3), eg_in(k, 5), &q);
    if (rc)
        return rc;
    if (!as || !bs || !ys || as->dtype != EMBER_DT_FLOAT || bs->dtype != EMBER_DT_FLOAT ||
        ys->dtype != EMBER_DT_FLOAT || !vec_ok(as, q.m) || !vec_ok(bs, q.n) ||
        ember_tensor_count(ys) != 1 || ys->rank > 1)
        return eg_fail(k, EMBER_ESHAPE, "scales must be float32 per tensor, A row or B column");
    if (yzp && (!is_q8(yzp->dtype) || ember_tensor_count(yzp) != 1 || yzp->rank > 1))
        return eg_fail(k, EMBER_ESHAPE, "y_zero_point must be an int8 or uint8 scalar");
    ember_dtype yt = yzp ? yzp->dtype : eg_in(k, 0)->dtype;
    void *y = eg_out(k, 0, yt, q.orank, q.odims);
    int64_t n = y ? ku_count(q.orank, q.odims) : 0;
    int32_t *acc = y ? eg_scratch(k, (size_t)(n + 1) * sizeof(int32_t)) : NULL;
    if (!acc)
        return EMBER_ENOMEM;
    qmm_run(&q, acc);
    const float *A = as->data, *B = bs->data;
    float ysv = *(const float *)ys->data;
    double zp = yzp ? (double)ku_get_int(yzp, 0) : 0;
    int per_row = ember_tensor_count(as) > 1, per_col = ember_tensor_count(bs) > 1;
    for (int64_t e = 0; e < n; e++) {
        int64_t i = (e / q.n) % (q.m ? q.m : 1), j = e % (q.n ? q.n : 1);
        /* The multiplier in float32, its product with the sum in double (ONNX reference). */
        float mult = A[per_row ? i : 0] * B[per_col ? j : 0] / ysv;
        store_q(y, yt, e, rint((double)acc[e] * mult + zp));
    }
    return 0;
}

const eg_op eg_ops_quant[] = {
    {"QuantizeLinear", "", quantize_run},
    {"DequantizeLinear", "", dequantize_run},
    {"DynamicQuantizeLinear", "", dynamic_quantize_run},
    {"MatMulInteger", "", matmul_integer_run},
    {"QLinearMatMul", "", qlinear_matmul_run},
    {NULL, NULL, NULL},
};
