/*
 * Reference kernels: element-wise operators.
 *
 * Unary float operators share one loop (unary_f32) parameterised by a scalar function;
 * binary operators share one broadcasting loop over doubles or int64 (binary_run), which
 * keeps every type combination correct with one piece of code.
 */
#include <math.h>

#include "kutil.h"

typedef float (*unary_fn)(float x, const eg_kctx *k);

static int unary_f32(eg_kctx *k, unary_fn fn)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    const float *in = x->data;
    int64_t n = ember_tensor_count(x);
    for (int64_t i = 0; i < n; i++)
        y[i] = fn(in[i], k);
    return 0;
}

static float relu_f(float x, const eg_kctx *k)
{
    return x > 0 ? x : 0;
}

static int relu_run(eg_kctx *k)
{
    return unary_f32(k, relu_f);
}

/* A binary op over doubles (float math) and int64 (integer math). */
typedef struct binary_op {
    double (*f)(double a, double b);
    int64_t (*i)(int64_t a, int64_t b);
} binary_op;

static void store(ember_tensor *t, int64_t i, double fv, int64_t iv)
{
    switch (t->dtype) {
    case EMBER_DT_FLOAT: ((float *)t->data)[i] = (float)fv; break;
    case EMBER_DT_INT64: ((int64_t *)t->data)[i] = iv; break;
    case EMBER_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)iv; break;
    case EMBER_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)iv; break;
    case EMBER_DT_UINT8:
    case EMBER_DT_BOOL: ((uint8_t *)t->data)[i] = (uint8_t)iv; break;
    default: break;
    }
}

static int binary_run(eg_kctx *k, const binary_op *op)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    if (!a || !b)
        return eg_fail(k, EMBER_EINVAL, "needs two inputs");
    if (a->dtype != b->dtype)
        return eg_fail(k, EMBER_ESHAPE, "input types differ (%s, %s)", ember_dtype_name(a->dtype),
                       ember_dtype_name(b->dtype));
    int64_t odims[EMBER_MAX_RANK];
    int r = ku_broadcast_shape(a, b, odims);
    if (r < 0)
        return eg_fail(k, EMBER_ESHAPE, "shapes do not broadcast");
    if (!eg_out(k, 0, a->dtype, r, odims))
        return EMBER_ENOMEM;
    ember_tensor *y = eg_out_tensor(k, 0);
    const ember_tensor *ops[2] = {a, b};
    ku_iter it;
    ku_iter_init(&it, r, odims, 2, ops);
    int64_t n = ku_count(r, odims);
    int is_float = a->dtype == EMBER_DT_FLOAT;
    for (int64_t i = 0; i < n; i++, ku_iter_next(&it)) {
        if (is_float)
            store(y, i, op->f(ku_get_f(a, it.off[0]), ku_get_f(b, it.off[1])), 0);
        else
            store(y, i, 0, op->i(ku_get_int(a, it.off[0]), ku_get_int(b, it.off[1])));
    }
    return 0;
}

static double add_f(double a, double b)
{
    return a + b;
}

static int64_t add_i(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static const binary_op add_op = {add_f, add_i};

static int add_run(eg_kctx *k)
{
    return binary_run(k, &add_op);
}

const eg_op eg_ops_elementwise[] = {
    {"Relu", "", relu_run},
    {"Add", "", add_run},
    {NULL, NULL, NULL},
};
