/*
 * Reference kernels: element-wise operators.
 *
 * Unary operators share one loop (unary_run) parameterised by a scalar function over doubles
 * (float tensors) and one over int64 (integer and bool tensors), plus the operator's attribute
 * values. Binary operators share one broadcasting loop (binary_loop) over the same two
 * domains; the variadic Max/Min/Sum/Mean fold their inputs through it pairwise into the output,
 * so every type combination goes through one piece of code. Integer arithmetic wraps (it is
 * done in uint64 and truncated), and integer division by zero yields 0 rather than a trap.
 */
#include <math.h>
#include <string.h>

#include "kutil.h"

#define TBIT(dt) (1u << (dt))
#define T_FLOAT TBIT(EMBER_DT_FLOAT)
#define T_SINT (TBIT(EMBER_DT_INT8) | TBIT(EMBER_DT_INT32) | TBIT(EMBER_DT_INT64))
#define T_INT (T_SINT | TBIT(EMBER_DT_UINT8))
#define T_NUM (T_FLOAT | T_INT)
#define T_BOOL TBIT(EMBER_DT_BOOL)

static int type_ok(unsigned types, ember_dtype dt)
{
    return dt > 0 && dt < 32 && (types & TBIT(dt));
}

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

static void store_i(ember_tensor *t, int64_t i, int64_t v)
{
    switch (t->dtype) {
    case EMBER_DT_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case EMBER_DT_INT64: ((int64_t *)t->data)[i] = v; break;
    case EMBER_DT_INT32: ((int32_t *)t->data)[i] = (int32_t)(uint32_t)v; break;
    case EMBER_DT_INT8: ((int8_t *)t->data)[i] = (int8_t)(uint8_t)v; break;
    case EMBER_DT_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case EMBER_DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: break;
    }
}

static void store_f(ember_tensor *t, int64_t i, double v)
{
    if (t->dtype == EMBER_DT_FLOAT)
        ((float *)t->data)[i] = (float)v;
    else if (t->dtype == EMBER_DT_BOOL)
        ((uint8_t *)t->data)[i] = v != 0;
    else
        store_i(t, i, f2i(v));
}

/* ---- unary ---- */

/* Attribute values of the unary operators, read once per node. */
typedef struct uparams {
    double alpha, beta, gamma;
    double lo, hi;    /* Clip bounds for float tensors */
    int64_t ilo, ihi; /* Clip bounds for integer tensors */
} uparams;

typedef struct unary_op {
    double (*f)(double x, const uparams *p);
    int64_t (*i)(int64_t x, const uparams *p); /* NULL: float only */
    unsigned types;
} unary_op;

static int unary_run(eg_kctx *k, const unary_op *op, const uparams *p)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "missing input");
    if (!type_ok(op->types, x->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s input is not supported",
                       ember_dtype_name(x->dtype));
    if (!eg_out(k, 0, x->dtype, x->rank, x->dims))
        return EMBER_ENOMEM;
    ember_tensor *y = eg_out_tensor(k, 0);
    int64_t n = ember_tensor_count(x);
    if (x->dtype == EMBER_DT_FLOAT) {
        const float *in = x->data;
        float *out = y->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)op->f(in[i], p);
    } else {
        for (int64_t i = 0; i < n; i++)
            store_i(y, i, op->i(ku_get_int(x, i), p));
    }
    return 0;
}

/* name_f (and name_i) as one expression of x and the parameters p. */
#define UNARY_F(name, expr)                                                                        \
    static double name##_f(double x, const uparams *p)                                             \
    {                                                                                              \
        (void)p;                                                                                   \
        return expr;                                                                               \
    }
#define UNARY_I(name, expr)                                                                        \
    static int64_t name##_i(int64_t x, const uparams *p)                                           \
    {                                                                                              \
        (void)p;                                                                                   \
        return expr;                                                                               \
    }

static double sigmoid(double x)
{
    if (x >= 0)
        return 1 / (1 + exp(-x));
    double e = exp(x);
    return e / (1 + e);
}

static int64_t wrap_neg(int64_t x)
{
    return (int64_t)(0 - (uint64_t)x);
}

UNARY_F(sqrt, sqrt(x))
UNARY_F(reciprocal, 1 / x)
UNARY_F(exp, exp(x))
UNARY_F(log, log(x))
UNARY_F(abs, fabs(x))
UNARY_I(abs, x < 0 ? wrap_neg(x) : x)
UNARY_F(neg, -x)
UNARY_I(neg, wrap_neg(x))
UNARY_F(floor, floor(x))
UNARY_F(ceil, ceil(x))
UNARY_F(round, rint(x)) /* the default rounding mode rounds halves to even */
UNARY_F(sign, x > 0 ? 1 : x < 0 ? -1 : x)
UNARY_I(sign, x > 0 ? 1 : x < 0 ? -1 : 0)
UNARY_F(erf, erf(x))
UNARY_I(erf, f2i(erf((double)x)))
UNARY_F(tanh, tanh(x))
UNARY_F(sigmoid, sigmoid(x))
UNARY_F(sin, sin(x))
UNARY_F(cos, cos(x))
UNARY_F(relu, x > 0 ? x : 0)
UNARY_I(relu, x > 0 ? x : 0)
UNARY_F(leakyrelu, x >= 0 ? x : p->alpha * x)
UNARY_F(elu, x >= 0 ? x : p->alpha * (exp(x) - 1))
UNARY_F(selu, x > 0 ? p->gamma * x : p->gamma * (p->alpha * exp(x) - p->alpha))
UNARY_F(softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
UNARY_F(hardsigmoid, fmax(0, fmin(1, (p->alpha * x) + p->beta)))
UNARY_F(hardswish, fmax(0, fmin(1, x / 6 + 0.5)) * x)
UNARY_F(gelu, 0.5 * x * (1 + erf(x / sqrt(2.0))))
UNARY_F(gelu_tanh,
        0.5 * x * (1 + tanh(0.7978845608028654 /* sqrt(2 / pi) */ * (x + 0.044715 * x * x * x))))
UNARY_I(bool_not, !x)
/* min(max(x, lo), hi): when lo > hi every value becomes hi, as the spec asks. */
UNARY_F(clip, (x < p->lo ? p->lo : x) > p->hi ? p->hi : (x < p->lo ? p->lo : x))
UNARY_I(clip, (x < p->ilo ? p->ilo : x) > p->ihi ? p->ihi : (x < p->ilo ? p->ilo : x))

static const unary_op sqrt_op = {sqrt_f, NULL, T_FLOAT};
static const unary_op reciprocal_op = {reciprocal_f, NULL, T_FLOAT};
static const unary_op exp_op = {exp_f, NULL, T_FLOAT};
static const unary_op log_op = {log_f, NULL, T_FLOAT};
static const unary_op abs_op = {abs_f, abs_i, T_NUM};
static const unary_op neg_op = {neg_f, neg_i, T_FLOAT | T_SINT};
static const unary_op floor_op = {floor_f, NULL, T_FLOAT};
static const unary_op ceil_op = {ceil_f, NULL, T_FLOAT};
static const unary_op round_op = {round_f, NULL, T_FLOAT};
static const unary_op sign_op = {sign_f, sign_i, T_NUM};
static const unary_op erf_op = {erf_f, erf_i, T_NUM};
static const unary_op tanh_op = {tanh_f, NULL, T_FLOAT};
static const unary_op sigmoid_op = {sigmoid_f, NULL, T_FLOAT};
static const unary_op sin_op = {sin_f, NULL, T_FLOAT};
static const unary_op cos_op = {cos_f, NULL, T_FLOAT};
static const unary_op relu_op = {relu_f, relu_i, T_FLOAT | T_SINT};
static const unary_op leakyrelu_op = {leakyrelu_f, NULL, T_FLOAT};
static const unary_op elu_op = {elu_f, NULL, T_FLOAT};
static const unary_op selu_op = {selu_f, NULL, T_FLOAT};
static const unary_op softplus_op = {softplus_f, NULL, T_FLOAT};
static const unary_op hardsigmoid_op = {hardsigmoid_f, NULL, T_FLOAT};
static const unary_op hardswish_op = {hardswish_f, NULL, T_FLOAT};
static const unary_op gelu_op = {gelu_f, NULL, T_FLOAT};
static const unary_op gelu_tanh_op = {gelu_tanh_f, NULL, T_FLOAT};
static const unary_op bool_not_op = {NULL, bool_not_i, T_BOOL};
static const unary_op clip_op = {clip_f, clip_i, T_NUM};

/* The operators without attributes. */
#define UNARY_RUN(name)                                                                            \
    static int name##_run(eg_kctx *k)                                                              \
    {                                                                                              \
        uparams p = {0};                                                                           \
        return unary_run(k, &name##_op, &p);                                                       \
    }

UNARY_RUN(sqrt)
UNARY_RUN(reciprocal)
UNARY_RUN(exp)
UNARY_RUN(log)
UNARY_RUN(abs)
UNARY_RUN(neg)
UNARY_RUN(floor)
UNARY_RUN(ceil)
UNARY_RUN(round)
UNARY_RUN(sign)
UNARY_RUN(erf)
UNARY_RUN(tanh)
UNARY_RUN(sigmoid)
UNARY_RUN(sin)
UNARY_RUN(cos)
UNARY_RUN(relu)
UNARY_RUN(softplus)
UNARY_RUN(hardswish)
UNARY_RUN(bool_not)

static int leakyrelu_run(eg_kctx *k)
{
    uparams p = {.alpha = eg_attr_float(k, "alpha", 0.01f)};
    return unary_run(k, &leakyrelu_op, &p);
}

static int elu_run(eg_kctx *k)
{
    uparams p = {.alpha = eg_attr_float(k, "alpha", 1.0f)};
    return unary_run(k, &elu_op, &p);
}

static int selu_run(eg_kctx *k)
{
    uparams p = {.alpha = eg_attr_float(k, "alpha", 1.67326319217681884765625f),
                 .gamma = eg_attr_float(k, "gamma", 1.05070102214813232421875f)};
    return unary_run(k, &selu_op, &p);
}

static int hardsigmoid_run(eg_kctx *k)
{
    uparams p = {.alpha = eg_attr_float(k, "alpha", 0.2f), .beta = eg_attr_float(k, "beta", 0.5f)};
    return unary_run(k, &hardsigmoid_op, &p);
}

static int gelu_run(eg_kctx *k)
{
    const char *approx = eg_attr_str(k, "approximate", "none");
    uparams p = {0};
    if (!strcmp(approx, "none"))
        return unary_run(k, &gelu_op, &p);
    if (!strcmp(approx, "tanh"))
        return unary_run(k, &gelu_tanh_op, &p);
    return eg_fail(k, EMBER_EINVAL, "approximate must be \"none\" or \"tanh\", not \"%s\"", approx);
}

/* Reads an optional one-element Clip bound of x's type into *f and *i. */
static int clip_bound(eg_kctx *k, int idx, const ember_tensor *x, double *f, int64_t *i)
{
    const ember_tensor *b = eg_in(k, idx);
    if (!b)
        return 0;
    if (b->dtype != x->dtype)
        return eg_fail(k, EMBER_ESHAPE, "bound %s has type %s, input %s", idx == 1 ? "min" : "max",
                       ember_dtype_name(b->dtype), ember_dtype_name(x->dtype));
    if (ember_tensor_count(b) != 1)
        return eg_fail(k, EMBER_ESHAPE, "bound %s must be a scalar", idx == 1 ? "min" : "max");
    if (b->dtype == EMBER_DT_FLOAT)
        *f = ((const float *)b->data)[0];
    else
        *i = ku_get_int(b, 0);
    return 0;
}

static int clip_run(eg_kctx *k)
{
    uparams p = {.lo = -INFINITY, .hi = INFINITY, .ilo = INT64_MIN, .ihi = INT64_MAX};
    if (eg_opset(k) < 11) {
        p.lo = eg_attr_float(k, "min", -INFINITY);
        p.hi = eg_attr_float(k, "max", INFINITY);
    } else {
        const ember_tensor *x = eg_in(k, 0);
        int rc;
        if (x && ((rc = clip_bound(k, 1, x, &p.lo, &p.ilo)) ||
                  (rc = clip_bound(k, 2, x, &p.hi, &p.ihi))))
            return rc;
    }
    return unary_run(k, &clip_op, &p);
}

/* ---- binary ---- */

enum {
    BIN_BOOL_OUT = 1, /* the output is bool (comparisons, logic) */
    BIN_MIXED = 2,    /* B may have another type than A (Pow); the output has A's */
    BIN_UNIDIR = 4,   /* B broadcasts to A's shape, never the other way (PRelu) */
};

/* A binary op over doubles (when an input is float) and int64 (integer and bool inputs). */
typedef struct binary_op {
    double (*f)(double a, double b);
    int64_t (*i)(int64_t a, int64_t b);
    unsigned types; /* accepted types of A (and of B unless BIN_MIXED) */
    int flags;
} binary_op;

/* y = op(a, b) with a and b broadcast to y's shape; a may be y itself. The iterator steps over
 * whole rows of the last dimension (its extent is set to 1 after init), which the inner loops
 * walk with each operand's stride for that dimension. */
static void binary_loop(ember_tensor *y, const ember_tensor *a, const ember_tensor *b,
                        const binary_op *op)
{
    const ember_tensor *ops[2] = {a, b};
    ku_iter it;
    int r = y->rank;
    ku_iter_init(&it, r, y->dims, 2, ops);
    int64_t n = ku_count(r, y->dims), row = r ? y->dims[r - 1] : 1;
    int64_t sa = r ? it.strides[0][r - 1] : 0, sb = r ? it.strides[1][r - 1] : 0;
    if (r)
        it.dims[r - 1] = 1;
    int is_float = a->dtype == EMBER_DT_FLOAT || b->dtype == EMBER_DT_FLOAT;
    int all_float = a->dtype == b->dtype && y->dtype == EMBER_DT_FLOAT;
    for (int64_t i = 0; i < n; i += row, ku_iter_next(&it)) {
        int64_t oa = it.off[0], ob = it.off[1];
        if (all_float) {
            /* The common case, without the per-element type dispatch. */
            const float *pa = (const float *)a->data + oa, *pb = (const float *)b->data + ob;
            float *py = (float *)y->data + i;
            for (int64_t j = 0; j < row; j++)
                py[j] = (float)op->f(pa[j * sa], pb[j * sb]);
        } else if (is_float) {
            for (int64_t j = 0; j < row; j++)
                store_f(y, i + j, op->f(ku_get_f(a, oa + j * sa), ku_get_f(b, ob + j * sb)));
        } else {
            for (int64_t j = 0; j < row; j++)
                store_i(y, i + j, op->i(ku_get_int(a, oa + j * sa), ku_get_int(b, ob + j * sb)));
        }
    }
}

static int check_type(eg_kctx *k, const binary_op *op, const ember_tensor *t)
{
    if (type_ok(op->types, t->dtype))
        return 0;
    return eg_fail(k, EMBER_EUNSUPPORTED, "%s input is not supported", ember_dtype_name(t->dtype));
}

static int binary_run(eg_kctx *k, const binary_op *op)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    if (!a || !b)
        return eg_fail(k, EMBER_EINVAL, "needs two inputs");
    int rc = check_type(k, op, a);
    if (rc)
        return rc;
    if (op->flags & BIN_MIXED) {
        if (!type_ok(T_NUM, b->dtype))
            return eg_fail(k, EMBER_EUNSUPPORTED, "%s input is not supported",
                           ember_dtype_name(b->dtype));
    } else if (a->dtype != b->dtype) {
        return eg_fail(k, EMBER_ESHAPE, "input types differ (%s, %s)", ember_dtype_name(a->dtype),
                       ember_dtype_name(b->dtype));
    }
    int64_t odims[EMBER_MAX_RANK];
    int r = ku_broadcast_shape(a, b, odims);
    if (r < 0 || ((op->flags & BIN_UNIDIR) &&
                  (r != a->rank || memcmp(odims, a->dims, (size_t)r * sizeof *odims))))
        return eg_fail(k, EMBER_ESHAPE, "shapes do not broadcast");
    ember_dtype odt = op->flags & BIN_BOOL_OUT ? EMBER_DT_BOOL : a->dtype;
    if (!eg_out(k, 0, odt, r, odims))
        return EMBER_ENOMEM;
    binary_loop(eg_out_tensor(k, 0), a, b, op);
    return 0;
}

/* Max, Min, Sum, Mean: any number of inputs, all broadcast together. */
static int variadic_run(eg_kctx *k, const binary_op *op, int mean)
{
    int n = eg_nin(k);
    if (n < 1)
        return eg_fail(k, EMBER_EINVAL, "needs at least one input");
    ember_tensor shape = {.rank = 0};
    for (int j = 0; j < n; j++) {
        const ember_tensor *t = eg_in(k, j);
        if (!t)
            return eg_fail(k, EMBER_EINVAL, "input %d is missing", j);
        int rc = check_type(k, op, t);
        if (rc)
            return rc;
        if (t->dtype != eg_in(k, 0)->dtype)
            return eg_fail(k, EMBER_ESHAPE, "input %d has type %s, input 0 %s", j,
                           ember_dtype_name(t->dtype), ember_dtype_name(eg_in(k, 0)->dtype));
        int64_t d[EMBER_MAX_RANK];
        int r = ku_broadcast_shape(&shape, t, d);
        if (r < 0)
            return eg_fail(k, EMBER_ESHAPE, "input %d does not broadcast with the others", j);
        shape.rank = r;
        memcpy(shape.dims, d, sizeof d);
    }
    const ember_tensor *a = eg_in(k, 0);
    if (!eg_out(k, 0, a->dtype, shape.rank, shape.dims))
        return EMBER_ENOMEM;
    ember_tensor *y = eg_out_tensor(k, 0);
    if (n == 1) {
        ku_iter it;
        ku_iter_init(&it, y->rank, y->dims, 1, &a);
        int64_t cnt = ku_count(y->rank, y->dims);
        for (int64_t i = 0; i < cnt; i++, ku_iter_next(&it))
            memcpy((char *)y->data + i * ember_dtype_size(a->dtype),
                   (const char *)a->data + it.off[0] * ember_dtype_size(a->dtype),
                   ember_dtype_size(a->dtype));
    } else {
        binary_loop(y, a, eg_in(k, 1), op);
        for (int j = 2; j < n; j++)
            binary_loop(y, y, eg_in(k, j), op);
    }
    if (mean) {
        float *v = y->data;
        int64_t cnt = ku_count(y->rank, y->dims);
        for (int64_t i = 0; i < cnt; i++)
            v[i] /= (float)n;
    }
    return 0;
}

static int64_t wrap_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t wrap_mul(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

static int64_t div_i(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;
    return b == -1 ? wrap_neg(a) : a / b;
}

/* C's remainder takes the dividend's sign (fmod=1)... */
static int64_t fmod_i(int64_t a, int64_t b)
{
    return b == 0 || b == -1 ? 0 : a % b;
}

/* ...Python's takes the divisor's (fmod=0). */
static int64_t mod_i(int64_t a, int64_t b)
{
    int64_t r = fmod_i(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}

static double mod_f(double a, double b)
{
    double r = fmod(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}

static int64_t pow_i(int64_t a, int64_t b)
{
    if (b < 0) /* the integer part of 1 / a^-b */
        return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
    int64_t r = 1;
    while (b) {
        if (b & 1)
            r = wrap_mul(r, a);
        a = wrap_mul(a, a);
        b >>= 1;
    }
    return r;
}

#define BINARY_F(name, expr)                                                                       \
    static double name##_f(double a, double b)                                                     \
    {                                                                                              \
        return expr;                                                                               \
    }
#define BINARY_I(name, expr)                                                                       \
    static int64_t name##_i(int64_t a, int64_t b)                                                  \
    {                                                                                              \
        return expr;                                                                               \
    }
#define BINARY_FI(name, expr) BINARY_F(name, expr) BINARY_I(name, expr)

BINARY_F(add, a + b)
BINARY_I(add, wrap_add(a, b))
BINARY_F(sub, a - b)
BINARY_I(sub, wrap_add(a, wrap_neg(b)))
BINARY_F(mul, (a * b))
BINARY_I(mul, wrap_mul(a, b))
BINARY_F(div, a / b)
BINARY_F(pow, pow(a, b))
BINARY_F(fmod, fmod(a, b))
BINARY_FI(max, a > b || a != a ? a : b)
BINARY_FI(min, a < b || a != a ? a : b)
BINARY_FI(prelu, a < 0 ? a * b : a)
BINARY_FI(equal, a == b)
BINARY_FI(greater, a > b)
BINARY_FI(greater_equal, a >= b)
BINARY_FI(less, a < b)
BINARY_FI(less_equal, a <= b)
BINARY_I(bool_and, (a && b))
BINARY_I(bool_or, a || b)
BINARY_I(bool_xor, !a != !b)

static const binary_op add_op = {add_f, add_i, T_NUM, 0};
static const binary_op sub_op = {sub_f, sub_i, T_NUM, 0};
static const binary_op mul_op = {mul_f, mul_i, T_NUM, 0};
static const binary_op div_op = {div_f, div_i, T_NUM, 0};
static const binary_op pow_op = {pow_f, pow_i, T_NUM, BIN_MIXED};
static const binary_op mod_op = {mod_f, mod_i, T_NUM, 0};
static const binary_op fmod_op = {fmod_f, fmod_i, T_NUM, 0};
static const binary_op max_op = {max_f, max_i, T_NUM, 0};
static const binary_op min_op = {min_f, min_i, T_NUM, 0};
static const binary_op sum_op = {add_f, add_i, T_FLOAT, 0};
static const binary_op prelu_op = {prelu_f, prelu_i, T_NUM, BIN_UNIDIR};
static const binary_op equal_op = {equal_f, equal_i, T_NUM | T_BOOL, BIN_BOOL_OUT};
static const binary_op greater_op = {greater_f, greater_i, T_NUM, BIN_BOOL_OUT};
static const binary_op greater_equal_op = {greater_equal_f, greater_equal_i, T_NUM, BIN_BOOL_OUT};
static const binary_op less_op = {less_f, less_i, T_NUM, BIN_BOOL_OUT};
static const binary_op less_equal_op = {less_equal_f, less_equal_i, T_NUM, BIN_BOOL_OUT};
static const binary_op bool_and_op = {NULL, bool_and_i, T_BOOL, BIN_BOOL_OUT};
static const binary_op bool_or_op = {NULL, bool_or_i, T_BOOL, BIN_BOOL_OUT};
static const binary_op bool_xor_op = {NULL, bool_xor_i, T_BOOL, BIN_BOOL_OUT};

#define BINARY_RUN(name)                                                                           \
    static int name##_run(eg_kctx *k)                                                              \
    {                                                                                              \
        return binary_run(k, &name##_op);                                                          \
    }

BINARY_RUN(add)
BINARY_RUN(sub)
BINARY_RUN(mul)
BINARY_RUN(div)
BINARY_RUN(pow)
BINARY_RUN(prelu)
BINARY_RUN(equal)
BINARY_RUN(greater)
BINARY_RUN(greater_equal)
BINARY_RUN(less)
BINARY_RUN(less_equal)
BINARY_RUN(bool_and)
BINARY_RUN(bool_or)
BINARY_RUN(bool_xor)

static int mod_run(eg_kctx *k)
{
    int64_t fm = eg_attr_int(k, "fmod", 0);
    if (fm != 0 && fm != 1)
        return eg_fail(k, EMBER_EINVAL, "fmod must be 0 or 1, not %lld", (long long)fm);
    return binary_run(k, fm ? &fmod_op : &mod_op);
}

static int max_run(eg_kctx *k)
{
    return variadic_run(k, &max_op, 0);
}

static int min_run(eg_kctx *k)
{
    return variadic_run(k, &min_op, 0);
}

static int sum_run(eg_kctx *k)
{
    return variadic_run(k, &sum_op, 0);
}

static int mean_run(eg_kctx *k)
{
    return variadic_run(k, &sum_op, 1);
}

/* Where(condition, X, Y): a three-way broadcast that copies elements of either branch. */
static int where_run(eg_kctx *k)
{
    const ember_tensor *c = eg_in(k, 0), *x = eg_in(k, 1), *y = eg_in(k, 2);
    if (!c || !x || !y)
        return eg_fail(k, EMBER_EINVAL, "needs three inputs");
    if (c->dtype != EMBER_DT_BOOL)
        return eg_fail(k, EMBER_ESHAPE, "condition must be bool, not %s",
                       ember_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return eg_fail(k, EMBER_ESHAPE, "X and Y types differ (%s, %s)", ember_dtype_name(x->dtype),
                       ember_dtype_name(y->dtype));
    size_t es = ember_dtype_size(x->dtype);
    if (!es)
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s input is not supported",
                       ember_dtype_name(x->dtype));
    ember_tensor cx = {.rank = 0};
    int64_t odims[EMBER_MAX_RANK];
    cx.rank = ku_broadcast_shape(c, x, cx.dims);
    int r = cx.rank < 0 ? -1 : ku_broadcast_shape(&cx, y, odims);
    if (r < 0)
        return eg_fail(k, EMBER_ESHAPE, "shapes do not broadcast");
    char *out = eg_out(k, 0, x->dtype, r, odims);
    if (!out)
        return EMBER_ENOMEM;
    const ember_tensor *ops[3] = {c, x, y};
    ku_iter it;
    ku_iter_init(&it, r, odims, 3, ops);
    const uint8_t *cond = c->data;
    int64_t n = ku_count(r, odims);
    for (int64_t i = 0; i < n; i++, ku_iter_next(&it)) {
        const char *src = cond[it.off[0]] ? (const char *)x->data + it.off[1] * es
                                          : (const char *)y->data + it.off[2] * es;
        memcpy(out + i * es, src, es);
    }
    return 0;
}

const eg_op eg_ops_elementwise[] = {
    {"Add", "", add_run},
    {"Sub", "", sub_run},
    {"Mul", "", mul_run},
    {"Div", "", div_run},
    {"Pow", "", pow_run},
    {"Mod", "", mod_run},
    {"Sqrt", "", sqrt_run},
    {"Reciprocal", "", reciprocal_run},
    {"Exp", "", exp_run},
    {"Log", "", log_run},
    {"Abs", "", abs_run},
    {"Neg", "", neg_run},
    {"Floor", "", floor_run},
    {"Ceil", "", ceil_run},
    {"Round", "", round_run},
    {"Sign", "", sign_run},
    {"Erf", "", erf_run},
    {"Tanh", "", tanh_run},
    {"Sigmoid", "", sigmoid_run},
    {"Sin", "", sin_run},
    {"Cos", "", cos_run},
    {"Max", "", max_run},
    {"Min", "", min_run},
    {"Sum", "", sum_run},
    {"Mean", "", mean_run},
    {"Clip", "", clip_run},
    {"Relu", "", relu_run},
    {"LeakyRelu", "", leakyrelu_run},
    {"PRelu", "", prelu_run},
    {"Elu", "", elu_run},
    {"Selu", "", selu_run},
    {"Softplus", "", softplus_run},
    {"HardSigmoid", "", hardsigmoid_run},
    {"HardSwish", "", hardswish_run},
    {"Gelu", "", gelu_run},
    {"Equal", "", equal_run},
    {"Greater", "", greater_run},
    {"GreaterOrEqual", "", greater_equal_run},
    {"Less", "", less_run},
    {"LessOrEqual", "", less_equal_run},
    {"And", "", bool_and_run},
    {"Or", "", bool_or_run},
    {"Xor", "", bool_xor_run},
    {"Not", "", bool_not_run},
    {"Where", "", where_run},
    {NULL, NULL, NULL},
};
