/*
 * Reference kernels: reductions (Reduce*), ArgMax/ArgMin, TopK and CumSum.
 *
 * Every Reduce* is one loop (reduce_run) parameterised by its kind: each input element is
 * transformed (abs, square), folded into the accumulator of its output element (add, multiply,
 * max, min, or a running log-sum-exp), and each accumulator is finished (mean, sqrt, log). The
 * output offset of an input element comes from the broadcasting iterator, with the reduced
 * axes given stride 0. Float tensors accumulate in double, integer ones in wrapping int64.
 * The others walk the tensor as [outer, n, inner] around their axis; TopK sorts each slice
 * with a stable merge sort, so ties keep the lower index first.
 */
#include <math.h>
#include <string.h>

#include "kutil.h"

/* A double converted to int64 without undefined behaviour: NaN gives 0, the rest saturates. */
static int64_t f2i(double v)
{
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

/* Stores element i: fv for a float tensor, iv (truncated to the type) for the others. */
static void put(ember_tensor *t, int64_t i, double fv, int64_t iv)
{
    switch (t->dtype) {
    case EMBER_DT_FLOAT: ((float *)t->data)[i] = (float)fv; break;
    case EMBER_DT_INT64: ((int64_t *)t->data)[i] = iv; break;
    case EMBER_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)(uint32_t)iv; break;
    case EMBER_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)(uint8_t)iv; break;
    case EMBER_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)iv; break;
    case EMBER_DT_BOOL: ((uint8_t *)t->data)[i] = iv != 0; break;
    default: break;
    }
}

static int is_numeric(ember_dtype dt)
{
    return dt == EMBER_DT_FLOAT || dt == EMBER_DT_INT64 || dt == EMBER_DT_INT32 ||
           dt == EMBER_DT_INT8 || dt == EMBER_DT_UINT8;
}

/* Orders elements i and j of t: <0, 0, >0. Integers compare exactly; NaN is above all floats. */
static int cmp_elems(const ember_tensor *t, int64_t i, int64_t j)
{
    if (t->dtype == EMBER_DT_FLOAT) {
        float a = ((const float *)t->data)[i], b = ((const float *)t->data)[j];
        if (a != a || b != b)
            return (a != a) - (b != b);
        return (a > b) - (a < b);
    }
    int64_t a = ku_get_int(t, i), b = ku_get_int(t, j);
    return (a > b) - (a < b);
}

/* ---- Reduce* ---- */

enum rkind { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN, R_L1, R_L2, R_SUMSQ, R_LOGSUM, R_LOGSUMEXP };

/* Kinds whose result is not exact in integers are computed in double for integer tensors. */
static int needs_float(enum rkind kind)
{
    return kind == R_L2 || kind == R_LOGSUM || kind == R_LOGSUMEXP;
}

static double init_f(enum rkind kind)
{
    switch (kind) {
    case R_PROD: return 1;
    case R_MAX:
    case R_LOGSUMEXP: return -INFINITY;
    case R_MIN: return INFINITY;
    default: return 0;
    }
}

static double fold_f(enum rkind kind, double acc, double x)
{
    switch (kind) {
    case R_PROD: return acc * x;
    case R_MAX: return x > acc || x != x ? x : acc;
    case R_MIN: return x < acc || x != x ? x : acc;
    case R_L1: return acc + fabs(x);
    case R_L2:
    case R_SUMSQ: return acc + x * x;
    case R_LOGSUMEXP:
        /* log(e^acc + e^x) without overflow, starting from log(0) = -inf. */
        if (acc == -INFINITY)
            return x;
        if (x == -INFINITY)
            return acc;
        return fmax(acc, x) + log1p(exp(-fabs(acc - x)));
    default: return acc + x;
    }
}

static double finish_f(enum rkind kind, double acc, int64_t count)
{
    switch (kind) {
    case R_MEAN: return acc / (double)count;
    case R_L2: return sqrt(acc);
    case R_LOGSUM: return log(acc);
    default: return acc;
    }
}

static int64_t init_i(enum rkind kind, ember_dtype dt)
{
    int64_t lo = dt == EMBER_DT_INT64   ? INT64_MIN
                 : dt == EMBER_DT_INT32 ? INT32_MIN
                 : dt == EMBER_DT_INT8  ? INT8_MIN
                                        : 0;
    int64_t hi = dt == EMBER_DT_INT64   ? INT64_MAX
                 : dt == EMBER_DT_INT32 ? INT32_MAX
                 : dt == EMBER_DT_INT8  ? INT8_MAX
                 : dt == EMBER_DT_UINT8 ? UINT8_MAX
                                        : 1;
    switch (kind) {
    case R_PROD: return 1;
    case R_MAX: return lo;
    case R_MIN: return hi;
    default: return 0;
    }
}

static int64_t fold_i(enum rkind kind, int64_t acc, int64_t x)
{
    switch (kind) {
    case R_PROD: return (int64_t)((uint64_t)acc * (uint64_t)x);
    case R_MAX: return x > acc ? x : acc;
    case R_MIN: return x < acc ? x : acc;
    case R_L1: return (int64_t)((uint64_t)acc + (x < 0 ? 0 - (uint64_t)x : (uint64_t)x));
    case R_SUMSQ: return (int64_t)((uint64_t)acc + (uint64_t)x * (uint64_t)x);
    default: return (int64_t)((uint64_t)acc + (uint64_t)x);
    }
}

/* Fills keep[] (1 for each axis that is reduced) from the axes attribute or input; returns 0,
 * or an error. No axes reduce everything, unless noop_with_empty_axes asks for none. */
static int reduce_axes(eg_kctx *k, int axes_input_opset, const ember_tensor *x, int *reduced)
{
    int64_t axes[EMBER_MAX_RANK];
    int n = 0;
    if (eg_opset(k) < axes_input_opset) {
        const int64_t *a;
        n = eg_attr_ints(k, "axes", &a);
        if (n > EMBER_MAX_RANK)
            return eg_fail(k, EMBER_EINVAL, "%d axes for rank %d", n, x->rank);
        if (n > 0)
            memcpy(axes, a, (size_t)n * sizeof *a);
    } else {
        const ember_tensor *t = eg_in(k, 1);
        if (t) {
            if (t->dtype != EMBER_DT_INT64 && t->dtype != EMBER_DT_INT32)
                return eg_fail(k, EMBER_ESHAPE, "axes must be int64, not %s",
                               ember_dtype_name(t->dtype));
            n = ku_read_ints(t, axes, EMBER_MAX_RANK);
            if (n < 0)
                return eg_fail(k, EMBER_ESHAPE, "axes must be 1-D with at most %d elements",
                               EMBER_MAX_RANK);
        }
    }
    int noop = eg_attr_int(k, "noop_with_empty_axes", 0) != 0;
    for (int i = 0; i < x->rank; i++)
        reduced[i] = n <= 0 && !(noop && eg_opset(k) >= axes_input_opset);
    for (int i = 0; i < n; i++) {
        int ax = ku_axis(axes[i], x->rank);
        if (ax < 0)
            return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                           (long long)axes[i], x->rank);
        if (reduced[ax])
            return eg_fail(k, EMBER_EINVAL, "axis %lld repeated", (long long)axes[i]);
        reduced[ax] = 1;
    }
    return 0;
}

static int reduce_run(eg_kctx *k, enum rkind kind, int axes_input_opset)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "missing input");
    int minmax = kind == R_MAX || kind == R_MIN;
    if (!is_numeric(x->dtype) && !(minmax && x->dtype == EMBER_DT_BOOL))
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s input is not supported",
                       ember_dtype_name(x->dtype));
    int reduced[EMBER_MAX_RANK];
    int rc = reduce_axes(k, axes_input_opset, x, reduced);
    if (rc)
        return rc;
    int keepdims = eg_attr_int(k, "keepdims", 1) != 0;

    /* red: x's shape with reduced axes set to 1, i.e. the output as the iterator sees it. */
    ember_tensor red = {.dtype = x->dtype, .rank = x->rank};
    int64_t odims[EMBER_MAX_RANK], count = 1;
    int orank = 0;
    for (int i = 0; i < x->rank; i++) {
        red.dims[i] = reduced[i] ? 1 : x->dims[i];
        if (reduced[i])
            count *= x->dims[i];
        if (!reduced[i] || keepdims)
            odims[orank++] = red.dims[i];
    }
    if (!eg_out(k, 0, x->dtype, orank, odims))
        return EMBER_ENOMEM;
    ember_tensor *y = eg_out_tensor(k, 0);
    int64_t nout = ku_count(orank, odims), nin = ember_tensor_count(x);
    int use_f = x->dtype == EMBER_DT_FLOAT || needs_float(kind);
    /* One 8-byte accumulator per output element, as double or int64. */
    void *acc = eg_scratch(k, (size_t)(nout ? nout : 1) * 8);
    if (!acc)
        return EMBER_ENOMEM;
    double *af = acc;
    int64_t *ai = acc;
    for (int64_t j = 0; j < nout; j++) {
        if (use_f)
            af[j] = init_f(kind);
        else
            ai[j] = init_i(kind, x->dtype);
    }
    const ember_tensor *ops[1] = {&red};
    ku_iter it;
    ku_iter_init(&it, x->rank, x->dims, 1, ops);
    for (int64_t i = 0; i < nin; i++, ku_iter_next(&it)) {
        int64_t j = it.off[0];
        if (use_f)
            af[j] = fold_f(kind, af[j], ku_get_f(x, i));
        else
            ai[j] = fold_i(kind, ai[j], ku_get_int(x, i));
    }
    for (int64_t j = 0; j < nout; j++) {
        if (use_f) {
            double v = finish_f(kind, af[j], count);
            put(y, j, v, f2i(v));
        } else {
            int64_t v = kind == R_MEAN ? (count ? ai[j] / count : 0) : ai[j];
            put(y, j, (double)v, v);
        }
    }
    return 0;
}

/* ReduceSum took its axes as an input from opset 13, the others from 18. */
#define REDUCE_RUN(name, kind, opset)                                                              \
    static int name##_run(eg_kctx *k)                                                              \
    {                                                                                              \
        return reduce_run(k, kind, opset);                                                         \
    }

REDUCE_RUN(reduce_sum, R_SUM, 13)
REDUCE_RUN(reduce_mean, R_MEAN, 18)
REDUCE_RUN(reduce_prod, R_PROD, 18)
REDUCE_RUN(reduce_max, R_MAX, 18)
REDUCE_RUN(reduce_min, R_MIN, 18)
REDUCE_RUN(reduce_l1, R_L1, 18)
REDUCE_RUN(reduce_l2, R_L2, 18)
REDUCE_RUN(reduce_sum_square, R_SUMSQ, 18)
REDUCE_RUN(reduce_log_sum, R_LOGSUM, 18)
REDUCE_RUN(reduce_log_sum_exp, R_LOGSUMEXP, 18)

/* ---- ArgMax, ArgMin ---- */

/* Splits x around axis into [outer, n, inner]. */
static void split_at(const ember_tensor *x, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = ku_count(axis, x->dims);
    *n = x->dims[axis];
    *inner = ku_count(x->rank - axis - 1, x->dims + axis + 1);
}

static int arg_run(eg_kctx *k, int sign)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || !is_numeric(x->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "input must be a numeric tensor");
    int axis = ku_axis(eg_attr_int(k, "axis", 0), x->rank);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", x->rank);
    int keepdims = eg_attr_int(k, "keepdims", 1) != 0;
    int last = eg_attr_int(k, "select_last_index", 0) != 0;
    int64_t outer, n, inner;
    split_at(x, axis, &outer, &n, &inner);
    if (n == 0 && outer * inner > 0)
        return eg_fail(k, EMBER_ESHAPE, "axis %d is empty", axis);
    int64_t odims[EMBER_MAX_RANK];
    int orank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            odims[orank++] = x->dims[i];
        else if (keepdims)
            odims[orank++] = 1;
    }
    int64_t *y = eg_out(k, 0, EMBER_DT_INT64, orank, odims);
    if (!y)
        return EMBER_ENOMEM;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i, best = 0;
            for (int64_t j = 1; j < n; j++) {
                int c = sign * cmp_elems(x, base + j * inner, base + best * inner);
                if (c > 0 || (c == 0 && last))
                    best = j;
            }
            y[o * inner + i] = best;
        }
    }
    return 0;
}

static int argmax_run(eg_kctx *k)
{
    return arg_run(k, 1);
}

static int argmin_run(eg_kctx *k)
{
    return arg_run(k, -1);
}

/* ---- TopK ---- */

/* What the merge sort orders: positions j of one slice of x, best first. */
typedef struct slice_order {
    const ember_tensor *x;
    int64_t base, inner;
    int sign; /* 1: largest first, -1: smallest first */
} slice_order;

static int goes_before(const slice_order *s, int64_t a, int64_t b)
{
    return s->sign * cmp_elems(s->x, s->base + a * s->inner, s->base + b * s->inner) > 0;
}

/* Bottom-up merge sort of idx[0..n) with tmp[n] as room; stable, so equal elements keep their
 * (ascending index) order. */
static void merge_sort(const slice_order *s, int64_t *idx, int64_t *tmp, int64_t n)
{
    int64_t *src = idx, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                dst[o++] = goes_before(s, src[b], src[a]) ? src[b++] : src[a++];
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, (size_t)n * sizeof *idx);
}

static int topk_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || !is_numeric(x->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "input must be a numeric tensor");
    int axis = ku_axis(eg_attr_int(k, "axis", -1), x->rank);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", x->rank);
    int64_t kk;
    if (eg_opset(k) < 10) {
        if (!eg_has_attr(k, "k"))
            return eg_fail(k, EMBER_EINVAL, "attribute k is missing");
        kk = eg_attr_int(k, "k", 0);
    } else {
        const ember_tensor *kt = eg_in(k, 1);
        if (!kt || (kt->dtype != EMBER_DT_INT64 && kt->dtype != EMBER_DT_INT32) ||
            ember_tensor_count(kt) != 1 || kt->rank > 1)
            return eg_fail(k, EMBER_ESHAPE, "K must be an int64 tensor of one element");
        kk = ku_get_int(kt, 0);
    }
    int64_t outer, n, inner;
    split_at(x, axis, &outer, &n, &inner);
    if (kk < 0 || kk > n)
        return eg_fail(k, EMBER_EINVAL, "k = %lld is outside [0, %lld]", (long long)kk,
                       (long long)n);
    int largest = eg_attr_int(k, "largest", 1) != 0;
    int64_t odims[EMBER_MAX_RANK];
    memcpy(odims, x->dims, (size_t)x->rank * sizeof *odims);
    odims[axis] = kk;
    /* Either output may be omitted from the node; it is then neither allocated nor written. */
    char *vals = eg_out_wanted(k, 0) ? eg_out(k, 0, x->dtype, x->rank, odims) : NULL;
    int64_t *inds = eg_out_wanted(k, 1) ? eg_out(k, 1, EMBER_DT_INT64, x->rank, odims) : NULL;
    if ((eg_out_wanted(k, 0) && !vals) || (eg_out_wanted(k, 1) && !inds))
        return EMBER_ENOMEM;
    int64_t *idx = eg_scratch(k, (size_t)(2 * n + 1) * sizeof *idx);
    if (!idx)
        return EMBER_ENOMEM;
    size_t es = ember_dtype_size(x->dtype);
    slice_order s = {x, 0, inner, largest ? 1 : -1};
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            s.base = o * n * inner + i;
            for (int64_t j = 0; j < n; j++)
                idx[j] = j;
            merge_sort(&s, idx, idx + n, n);
            for (int64_t j = 0; j < kk; j++) {
                int64_t dst = (o * kk + j) * inner + i;
                if (vals)
                    memcpy(vals + dst * es, (const char *)x->data + (s.base + idx[j] * inner) * es,
                           es);
                if (inds)
                    inds[dst] = idx[j];
            }
        }
    }
    return 0;
}

/* ---- CumSum ---- */

static int cumsum_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *at = eg_in(k, 1);
    if (!x || !is_numeric(x->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "input must be a numeric tensor");
    if (!at || (at->dtype != EMBER_DT_INT64 && at->dtype != EMBER_DT_INT32) ||
        ember_tensor_count(at) != 1 || at->rank > 1)
        return eg_fail(k, EMBER_ESHAPE, "axis must be an int32 or int64 scalar");
    int axis = ku_axis(ku_get_int(at, 0), x->rank);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", x->rank);
    int exclusive = eg_attr_int(k, "exclusive", 0) != 0;
    int reverse = eg_attr_int(k, "reverse", 0) != 0;
    if (!eg_out(k, 0, x->dtype, x->rank, x->dims))
        return EMBER_ENOMEM;
    ember_tensor *y = eg_out_tensor(k, 0);
    int64_t outer, n, inner;
    split_at(x, axis, &outer, &n, &inner);
    int is_float = x->dtype == EMBER_DT_FLOAT;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double sf = 0;
            int64_t si = 0;
            for (int64_t jj = 0; jj < n; jj++) {
                int64_t j = reverse ? n - 1 - jj : jj;
                int64_t off = (o * n + j) * inner + i;
                if (exclusive)
                    put(y, off, sf, si);
                if (is_float)
                    sf += ku_get_f(x, off);
                else
                    si = (int64_t)((uint64_t)si + (uint64_t)ku_get_int(x, off));
                if (!exclusive)
                    put(y, off, sf, si);
            }
        }
    }
    return 0;
}

const eg_op eg_ops_reduce[] = {
    {"ReduceSum", "", reduce_sum_run},
    {"ReduceMean", "", reduce_mean_run},
    {"ReduceProd", "", reduce_prod_run},
    {"ReduceMax", "", reduce_max_run},
    {"ReduceMin", "", reduce_min_run},
    {"ReduceL1", "", reduce_l1_run},
    {"ReduceL2", "", reduce_l2_run},
    {"ReduceSumSquare", "", reduce_sum_square_run},
    {"ReduceLogSum", "", reduce_log_sum_run},
    {"ReduceLogSumExp", "", reduce_log_sum_exp_run},
    {"ArgMax", "", argmax_run},
    {"ArgMin", "", argmin_run},
    {"TopK", "", topk_run},
    {"CumSum", "", cumsum_run},
    {NULL, NULL, NULL},
};
