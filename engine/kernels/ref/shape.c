/*
 * Reference kernels: the shape family — ops that create, reshape, reorder, select or copy
 * elements without doing arithmetic on them (Constant, Shape, Reshape, Transpose, Concat,
 * Split, Slice, Gather, Pad, Tile, Expand, ...), plus Cast and Dropout.
 *
 * Most of them are byte moves that work for any element type. Those that read the input in a
 * strided order (Transpose, Slice, Expand, Tile) describe that order as a `walk`: output
 * dims, a source stride per dim (0 to repeat, negative to go backwards) and a start offset.
 * Index-like inputs (shapes, axes, pads, starts...) are read into small int64 arrays
 * and checked before any element is touched.
 */
#include <math.h>

#include "kutil.h"

#define MAX_WALK (2 * EMBER_MAX_RANK)

/* Dims for a rank-0 output (eg_out reads none, but wants a pointer). */
static const int64_t dims0[1] = {0};

/* ---- helpers ---- */

static inline void copy_el(void *dst, const void *src, size_t es)
{
    switch (es) {
    case 1: memcpy(dst, src, 1); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es); break;
    }
}

/* Element size of t; fails the node for a type with no size. */
static int elem_size(eg_kctx *k, const ember_tensor *t, const char *what, size_t *es)
{
    *es = t ? ember_dtype_size(t->dtype) : 0;
    if (!t)
        return eg_fail(k, EMBER_EINVAL, "%s is missing", what);
    if (*es == 0)
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s has an unsupported type", what);
    return 0;
}

/* Reads a 0-D or 1-D int32/int64 tensor into out[max]; returns the count or an error code. */
static int read_ints(eg_kctx *k, const ember_tensor *t, const char *what, int64_t *out, int max)
{
    if (t->dtype != EMBER_DT_INT64 && t->dtype != EMBER_DT_INT32)
        return eg_fail(k, EMBER_ESHAPE, "%s must be int64 or int32, got %s", what,
                       ember_dtype_name(t->dtype));
    if (t->rank > 1)
        return eg_fail(k, EMBER_ESHAPE, "%s must be 1-D, got rank %d", what, t->rank);
    int64_t n = ember_tensor_count(t);
    if (n < 0 || n > max)
        return eg_fail(k, EMBER_ESHAPE, "%s has %lld elements (at most %d allowed)", what,
                       (long long)n, max);
    for (int64_t i = 0; i < n; i++)
        out[i] = ku_get_int(t, i);
    return (int)n;
}

/* Reads an INTS attribute into out[max]; returns the count, -1 when absent, or an error. */
static int read_attr_ints(eg_kctx *k, const char *name, int64_t *out, int max)
{
    const int64_t *v;
    int n = eg_attr_ints(k, name, &v);
    if (n < 0)
        return eg_has_attr(k, name) ? eg_fail(k, EMBER_EINVAL, "attribute %s must be ints", name)
                                    : -1;
    if (n > max)
        return eg_fail(k, EMBER_ESHAPE, "attribute %s has %d values (at most %d allowed)", name, n,
                       max);
    memcpy(out, v, (size_t)n * sizeof *v);
    return n;
}

/* Normalizes axes[n] against rank r, rejecting out-of-range and repeated axes. */
static int norm_axes(eg_kctx *k, int64_t *axes, int n, int r)
{
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        int a = ku_axis(axes[i], r);
        if (a < 0)
            return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                           (long long)axes[i], r);
        if (seen & (1u << a))
            return eg_fail(k, EMBER_EINVAL, "axis %lld repeated", (long long)axes[i]);
        seen |= 1u << a;
        axes[i] = a;
    }
    return 0;
}

/* Row-major element strides of a shape. */
static void dense_strides(int r, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

/* A strided read order: for output index (i0..in) the source element is
 * base + sum(i_d * stride[d]). */
typedef struct walk {
    int rank;
    int64_t dims[MAX_WALK];
    int64_t stride[MAX_WALK];
    int64_t base;
} walk;

/* Whether w visits one contiguous run in order (dense strides over its dims longer than 1). */
static int walk_is_run(const walk *w)
{
    int64_t dense = 1;
    for (int d = w->rank - 1; d >= 0; d--) {
        if (w->dims[d] == 1)
            continue;
        if (w->stride[d] != dense)
            return 0;
        dense *= w->dims[d];
    }
    return 1;
}

/* Copies the elements of src visited by w, in row-major output order, densely into dst. */
static void walk_copy(const walk *w, const void *src, void *dst, size_t es)
{
    const char *s = src;
    char *d = dst;
    int64_t n = ku_count(w->rank, w->dims);
    if (n == 0)
        return;
    if (w->rank == 0) {
        copy_el(d, s + w->base * (int64_t)es, es);
        return;
    }
    int last = w->rank - 1;
    int64_t len = w->dims[last], step = w->stride[last], rows = n / len;
    int64_t idx[MAX_WALK] = {0}, off = w->base;
    for (int64_t row = 0; row < rows; row++) {
        if (step == 1) { /* a contiguous run: one copy */
            memcpy(d, s + off * (int64_t)es, (size_t)len * es);
            d += len * (int64_t)es;
        } else {
            for (int64_t j = 0; j < len; j++, d += es)
                copy_el(d, s + (off + j * step) * (int64_t)es, es);
        }
        for (int a = last - 1; a >= 0; a--) {
            off += w->stride[a];
            if (++idx[a] < w->dims[a])
                break;
            off -= w->stride[a] * w->dims[a];
            idx[a] = 0;
        }
    }
}

/* Checks that x may become output i with new dims (a type with a size, same count). */
static int same_elems(eg_kctx *k, const ember_tensor *x, int rank, const int64_t *dims,
                      size_t *es)
{
    int rc = elem_size(k, x, "input", es);
    if (rc)
        return rc;
    if (ku_count(rank, dims) != ember_tensor_count(x))
        return eg_fail(k, EMBER_ESHAPE, "element count changes");
    return 0;
}

/* Copies x into output i unchanged (Constant's value), with new dims. */
static int copy_out(eg_kctx *k, int i, const ember_tensor *x, int rank, const int64_t *dims)
{
    size_t es;
    int rc = same_elems(k, x, rank, dims, &es);
    if (rc)
        return rc;
    void *y = eg_out(k, i, x->dtype, rank, dims);
    if (!y)
        return EMBER_ENOMEM;
    size_t bytes = (size_t)ember_tensor_count(x) * es;
    if (bytes)
        memcpy(y, x->data, bytes);
    return 0;
}

/* Output 0 is input 0 unchanged (Identity, Reshape, Squeeze...) with new dims: a view of
 * its memory where the session allows (eg_out_view), else a copy. */
static int view_out(eg_kctx *k, int rank, const int64_t *dims)
{
    size_t es;
    int rc = same_elems(k, eg_in(k, 0), rank, dims, &es);
    if (rc)
        return rc;
    return eg_out_view(k, 0, 0, 0, rank, dims) ? 0 : EMBER_ENOMEM;
}

/* ---- Constant, Shape, Size, Identity, ConstantOfShape, Range ---- */

static int constant_run(eg_kctx *k)
{
    if (eg_has_attr(k, "sparse_value"))
        return eg_fail(k, EMBER_EUNSUPPORTED, "sparse_value constants are not supported");
    if (eg_has_attr(k, "value_string") || eg_has_attr(k, "value_strings"))
        return eg_fail(k, EMBER_EUNSUPPORTED, "string constants are not supported");
    const ember_tensor *t = eg_attr_tensor(k, "value");
    if (t)
        return copy_out(k, 0, t, t->rank, t->dims);
    const float *fv;
    const int64_t *iv;
    int nf = eg_attr_floats(k, "value_floats", &fv);
    int ni = eg_attr_ints(k, "value_ints", &iv);
    if (nf >= 0 || ni >= 0) {
        int64_t n = nf >= 0 ? nf : ni;
        void *y = eg_out(k, 0, nf >= 0 ? EMBER_DT_FLOAT : EMBER_DT_INT64, 1, &n);
        if (!y)
            return EMBER_ENOMEM;
        memcpy(y, nf >= 0 ? (const void *)fv : (const void *)iv, (size_t)n * (nf >= 0 ? 4 : 8));
        return 0;
    }
    if (eg_has_attr(k, "value_float")) {
        float *y = eg_out(k, 0, EMBER_DT_FLOAT, 0, dims0);
        if (!y)
            return EMBER_ENOMEM;
        *y = eg_attr_float(k, "value_float", 0);
        return 0;
    }
    if (eg_has_attr(k, "value_int")) {
        int64_t *y = eg_out(k, 0, EMBER_DT_INT64, 0, dims0);
        if (!y)
            return EMBER_ENOMEM;
        *y = eg_attr_int(k, "value_int", 0);
        return 0;
    }
    return eg_fail(k, EMBER_EINVAL, "no value attribute of a supported kind");
}

static int shape_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    int64_t r = x->rank;
    int64_t start = eg_attr_int(k, "start", 0), end = eg_attr_int(k, "end", r);
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    int64_t *y = eg_out(k, 0, EMBER_DT_INT64, 1, &n);
    if (!y)
        return EMBER_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        y[i] = x->dims[start + i];
    return 0;
}

static int size_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    int64_t *y = eg_out(k, 0, EMBER_DT_INT64, 0, dims0);
    if (!y)
        return EMBER_ENOMEM;
    *y = ember_tensor_count(x);
    return 0;
}

static int identity_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    return view_out(k, x->rank, x->dims);
}

static int constantofshape_run(eg_kctx *k)
{
    const ember_tensor *s = eg_in(k, 0), *v = eg_attr_tensor(k, "value");
    if (!s)
        return eg_fail(k, EMBER_EINVAL, "shape input is missing");
    if (s->dtype != EMBER_DT_INT64)
        return eg_fail(k, EMBER_ESHAPE, "shape must be int64, got %s", ember_dtype_name(s->dtype));
    int64_t dims[EMBER_MAX_RANK];
    int r = read_ints(k, s, "shape", dims, EMBER_MAX_RANK);
    if (r < 0)
        return r;
    for (int i = 0; i < r; i++)
        if (dims[i] < 0)
            return eg_fail(k, EMBER_ESHAPE, "negative dimension %lld", (long long)dims[i]);
    if (v && ember_tensor_count(v) != 1)
        return eg_fail(k, EMBER_EINVAL, "value must have exactly one element");
    ember_dtype dt = v ? v->dtype : EMBER_DT_FLOAT;
    size_t es = ember_dtype_size(dt);
    char *y = eg_out(k, 0, dt, r, dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t n = ku_count(r, dims);
    if (!v) {
        memset(y, 0, (size_t)n * es);
        return 0;
    }
    for (int64_t i = 0; i < n; i++)
        copy_el(y + i * (int64_t)es, v->data, es);
    return 0;
}

/* Reads a scalar (or one-element) Range operand. */
static int range_scalar(eg_kctx *k, const ember_tensor *t, const char *what)
{
    if (!t)
        return eg_fail(k, EMBER_EINVAL, "%s is missing", what);
    if (ember_tensor_count(t) != 1 || t->rank > 1)
        return eg_fail(k, EMBER_ESHAPE, "%s must be a scalar", what);
    return 0;
}

static int range_run(eg_kctx *k)
{
    const ember_tensor *ts = eg_in(k, 0), *tl = eg_in(k, 1), *td = eg_in(k, 2);
    int rc;
    if ((rc = range_scalar(k, ts, "start")) || (rc = range_scalar(k, tl, "limit")) ||
        (rc = range_scalar(k, td, "delta")))
        return rc;
    ember_dtype dt = ts->dtype;
    if (tl->dtype != dt || td->dtype != dt)
        return eg_fail(k, EMBER_ESHAPE, "start, limit and delta must have one type");
    if (dt == EMBER_DT_FLOAT) {
        double s = ku_get_f(ts, 0), l = ku_get_f(tl, 0), d = ku_get_f(td, 0);
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return eg_fail(k, EMBER_EINVAL, "delta must be non-zero and all operands finite");
        double c = ceil((l - s) / d);
        if (c > (double)((int64_t)1 << 40))
            return eg_fail(k, EMBER_ENOMEM, "range of %.0f elements is too large", c);
        int64_t n = c > 0 ? (int64_t)c : 0;
        float *y = eg_out(k, 0, dt, 1, &n);
        if (!y)
            return EMBER_ENOMEM;
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)(s + (double)i * d);
        return 0;
    }
    if (dt != EMBER_DT_INT64 && dt != EMBER_DT_INT32)
        return eg_fail(k, EMBER_EUNSUPPORTED, "unsupported type %s", ember_dtype_name(dt));
    int64_t s = ku_get_int(ts, 0), l = ku_get_int(tl, 0), d = ku_get_int(td, 0);
    if (d == 0)
        return eg_fail(k, EMBER_EINVAL, "delta must be non-zero");
    /* Unsigned differences cannot overflow even for extreme operands. */
    uint64_t span = 0, step = d > 0 ? (uint64_t)d : 0 - (uint64_t)d;
    if (d > 0 && l > s)
        span = (uint64_t)l - (uint64_t)s;
    else if (d < 0 && l < s)
        span = (uint64_t)s - (uint64_t)l;
    uint64_t count = span / step + (span % step != 0);
    if (count > ((uint64_t)1 << 40))
        return eg_fail(k, EMBER_ENOMEM, "range of %llu elements is too large",
                       (unsigned long long)count);
    int64_t n = (int64_t)count;
    void *y = eg_out(k, 0, dt, 1, &n);
    if (!y)
        return EMBER_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d);
        if (dt == EMBER_DT_INT64)
            ((int64_t *)y)[i] = v;
        else
            ((int32_t *)y)[i] = (int32_t)v;
    }
    return 0;
}

/* ---- Cast, CastLike ---- */

static int cast_supported(ember_dtype dt)
{
    return dt == EMBER_DT_FLOAT || dt == EMBER_DT_INT64 || dt == EMBER_DT_INT32 ||
           dt == EMBER_DT_INT8 || dt == EMBER_DT_UINT8 || dt == EMBER_DT_BOOL;
}

/* Float to integer truncates toward zero; NaN and out-of-range values give the minimum of the
 * conversion width, as x86's cvttss2si (and so ONNX Runtime and numpy) does, instead of C's
 * undefined behaviour. 8-bit targets wrap the 32-bit result, again like those runtimes. */
static int64_t float_to_i64(float v)
{
    if (!(v >= -9223372036854775808.0f && v < 9223372036854775808.0f))
        return INT64_MIN;
    return (int64_t)v;
}

static int32_t float_to_i32(float v)
{
    if (!(v > -2147483904.0f && v < 2147483648.0f))
        return INT32_MIN;
    return (int32_t)v;
}

static void cast_elems(const ember_tensor *x, void *out, ember_dtype to, int64_t n)
{
    if (x->dtype == EMBER_DT_FLOAT) {
        const float *f = x->data;
        for (int64_t i = 0; i < n; i++) {
            float v = f[i];
            switch (to) {
            case EMBER_DT_FLOAT: ((float *)out)[i] = v; break;
            case EMBER_DT_INT64: ((int64_t *)out)[i] = float_to_i64(v); break;
            case EMBER_DT_INT32: ((int32_t *)out)[i] = float_to_i32(v); break;
            case EMBER_DT_INT8: ((int8_t *)out)[i] = (int8_t)(uint8_t)float_to_i32(v); break;
            case EMBER_DT_UINT8: ((uint8_t *)out)[i] = (uint8_t)float_to_i32(v); break;
            case EMBER_DT_BOOL: ((uint8_t *)out)[i] = v != 0; break;
            default: break;
            }
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t v = ku_get_int(x, i);
        if (x->dtype == EMBER_DT_BOOL)
            v = v != 0;
        /* Narrowing wraps modulo 2^bits (two's complement), as in ONNX Runtime. */
        switch (to) {
        case EMBER_DT_FLOAT: ((float *)out)[i] = (float)v; break;
        case EMBER_DT_INT64: ((int64_t *)out)[i] = v; break;
        case EMBER_DT_INT32: ((int32_t *)out)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
        case EMBER_DT_INT8: ((int8_t *)out)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
        case EMBER_DT_UINT8: ((uint8_t *)out)[i] = (uint8_t)(uint64_t)v; break;
        case EMBER_DT_BOOL: ((uint8_t *)out)[i] = v != 0; break;
        default: break;
        }
    }
}

/* ONNX TensorProto.DataType names, for messages about the types ember lacks. */
static const char *onnx_type_name(int64_t t)
{
    static const char *const names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                        "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                        "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                        "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int64_t)(sizeof names / sizeof names[0]) ? names[t] : "an unknown type";
}

static int cast_to(eg_kctx *k, int64_t to)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    if (to < 0 || to > 64 || !cast_supported((ember_dtype)to))
        return eg_fail(k, EMBER_EUNSUPPORTED, "cast to %s (ONNX type %lld) is not supported",
                       onnx_type_name(to), (long long)to);
    if (!cast_supported(x->dtype))
        return eg_fail(k, EMBER_EUNSUPPORTED, "cast from %s is not supported",
                       ember_dtype_name(x->dtype));
    void *y = eg_out(k, 0, (ember_dtype)to, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    cast_elems(x, y, (ember_dtype)to, ember_tensor_count(x));
    return 0;
}

static int cast_run(eg_kctx *k)
{
    if (!eg_has_attr(k, "to"))
        return eg_fail(k, EMBER_EINVAL, "attribute 'to' is missing");
    return cast_to(k, eg_attr_int(k, "to", 0));
}

static int castlike_run(eg_kctx *k)
{
    const ember_tensor *like = eg_in(k, 1);
    if (!like)
        return eg_fail(k, EMBER_EINVAL, "target_type input is missing");
    return cast_to(k, like->dtype);
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

static int reshape_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *s = eg_in(k, 1);
    if (!x || !s)
        return eg_fail(k, EMBER_EINVAL, "data and shape inputs are required");
    if (s->dtype != EMBER_DT_INT64)
        return eg_fail(k, EMBER_ESHAPE, "shape must be int64, got %s", ember_dtype_name(s->dtype));
    int64_t dims[EMBER_MAX_RANK];
    int r = read_ints(k, s, "shape", dims, EMBER_MAX_RANK);
    if (r < 0)
        return r;
    int allowzero = eg_opset(k) >= 14 && eg_attr_int(k, "allowzero", 0) != 0;
    int infer = -1;
    int64_t known = 1, total = ember_tensor_count(x);
    for (int i = 0; i < r; i++) {
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return eg_fail(k, EMBER_ESHAPE, "shape[%d] is 0 but the input has rank %d", i,
                               x->rank);
            dims[i] = x->dims[i];
        } else if (dims[i] == -1) {
            if (infer >= 0)
                return eg_fail(k, EMBER_ESHAPE, "more than one -1 in shape");
            infer = i;
            continue;
        } else if (dims[i] < 0) {
            return eg_fail(k, EMBER_ESHAPE, "invalid dimension %lld", (long long)dims[i]);
        }
        if (dims[i] > 0 && known > INT64_MAX / dims[i])
            return eg_fail(k, EMBER_ESHAPE, "shape is too large");
        known *= dims[i];
    }
    if (infer >= 0) {
        if (known == 0 || total % known != 0)
            return eg_fail(k, EMBER_ESHAPE, "cannot infer -1: %lld elements into %lld",
                           (long long)total, (long long)known);
        dims[infer] = total / known;
    } else if (known != total) {
        return eg_fail(k, EMBER_ESHAPE, "shape holds %lld elements, input has %lld",
                       (long long)known, (long long)total);
    }
    return view_out(k, r, dims);
}

static int flatten_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    int64_t axis = eg_attr_int(k, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                       (long long)eg_attr_int(k, "axis", 1), x->rank);
    int64_t dims[2] = {ku_count((int)axis, x->dims), ku_count(x->rank - (int)axis, x->dims + axis)};
    return view_out(k, 2, dims);
}

/* Axes from the attribute (before opset 13) or the optional input 1; -1 when neither. */
static int axes_attr_or_input(eg_kctx *k, int64_t *axes, int max)
{
    if (eg_opset(k) < 13)
        return read_attr_ints(k, "axes", axes, max);
    const ember_tensor *t = eg_in(k, 1);
    if (!t)
        return -1;
    if (t->dtype != EMBER_DT_INT64)
        return eg_fail(k, EMBER_ESHAPE, "axes must be int64");
    return read_ints(k, t, "axes", axes, max);
}

static int squeeze_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    int64_t axes[EMBER_MAX_RANK], dims[EMBER_MAX_RANK];
    int n = axes_attr_or_input(k, axes, EMBER_MAX_RANK);
    if (n < -1)
        return n;
    unsigned drop = 0;
    /* No axes, or an empty list as ONNX Runtime reads it, drops every dimension of size 1. */
    if (n <= 0) {
        for (int d = 0; d < x->rank; d++)
            if (x->dims[d] == 1)
                drop |= 1u << d;
    } else {
        int rc = norm_axes(k, axes, n, x->rank);
        if (rc)
            return rc;
        for (int i = 0; i < n; i++) {
            if (x->dims[axes[i]] != 1)
                return eg_fail(k, EMBER_ESHAPE, "cannot squeeze axis %lld of size %lld",
                               (long long)axes[i], (long long)x->dims[axes[i]]);
            drop |= 1u << axes[i];
        }
    }
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!(drop & (1u << d)))
            dims[r++] = x->dims[d];
    return view_out(k, r, dims);
}

static int unsqueeze_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "input is missing");
    int64_t axes[EMBER_MAX_RANK], dims[EMBER_MAX_RANK];
    int n = axes_attr_or_input(k, axes, EMBER_MAX_RANK);
    if (n < -1)
        return n;
    if (n < 0)
        return eg_fail(k, EMBER_EINVAL, "axes are required");
    int r = x->rank + n;
    if (r > EMBER_MAX_RANK)
        return eg_fail(k, EMBER_ESHAPE, "output rank %d exceeds %d", r, EMBER_MAX_RANK);
    int rc = norm_axes(k, axes, n, r);
    if (rc)
        return rc;
    unsigned add = 0;
    for (int i = 0; i < n; i++)
        add |= 1u << axes[i];
    for (int d = 0, j = 0; d < r; d++)
        dims[d] = add & (1u << d) ? 1 : x->dims[j++];
    return view_out(k, r, dims);
}

/* ---- Transpose, Expand, Tile, Slice ---- */

static int transpose_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    size_t es;
    int rc = elem_size(k, x, "input", &es);
    if (rc)
        return rc;
    int r = x->rank;
    int64_t perm[EMBER_MAX_RANK], in_str[EMBER_MAX_RANK];
    int n = read_attr_ints(k, "perm", perm, EMBER_MAX_RANK);
    if (n < -1)
        return n;
    if (n < 0) {
        for (int d = 0; d < r; d++)
            perm[d] = r - 1 - d;
    } else {
        if (n != r)
            return eg_fail(k, EMBER_EINVAL, "perm has %d entries for rank %d", n, r);
        unsigned seen = 0;
        for (int d = 0; d < r; d++) {
            if (perm[d] < 0 || perm[d] >= r || (seen & (1u << perm[d])))
                return eg_fail(k, EMBER_EINVAL, "perm is not a permutation of 0..%d", r - 1);
            seen |= 1u << perm[d];
        }
    }
    walk w = {.rank = r};
    dense_strides(r, x->dims, in_str);
    for (int d = 0; d < r; d++) {
        w.dims[d] = x->dims[perm[d]];
        w.stride[d] = in_str[perm[d]];
    }
    void *y = eg_out(k, 0, x->dtype, r, w.dims);
    if (!y)
        return EMBER_ENOMEM;
    walk_copy(&w, x->data, y, es);
    return 0;
}

static int expand_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *s = eg_in(k, 1);
    size_t es;
    int rc = elem_size(k, x, "input", &es);
    if (rc)
        return rc;
    if (!s)
        return eg_fail(k, EMBER_EINVAL, "shape input is missing");
    ember_tensor shape = {.dtype = EMBER_DT_INT64};
    int r = read_ints(k, s, "shape", shape.dims, EMBER_MAX_RANK);
    if (r < 0)
        return r;
    shape.rank = r;
    for (int d = 0; d < r; d++)
        if (shape.dims[d] < 0)
            return eg_fail(k, EMBER_ESHAPE, "negative dimension in shape");
    walk w;
    w.rank = ku_broadcast_shape(x, &shape, w.dims);
    if (w.rank < 0)
        return eg_fail(k, EMBER_ESHAPE, "input does not broadcast to the shape");
    ku_broadcast_strides(x, w.rank, w.dims, w.stride);
    w.base = 0;
    void *y = eg_out(k, 0, x->dtype, w.rank, w.dims);
    if (!y)
        return EMBER_ENOMEM;
    walk_copy(&w, x->data, y, es);
    return 0;
}

/* Tile's output index o_d = r_d * in_d + i_d, so walking (r_0, i_0, r_1, i_1, ...) in
 * row-major order with a zero stride on each r_d produces the output in order. */
static int tile_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *rep = eg_in(k, 1);
    size_t es;
    int rc = elem_size(k, x, "input", &es);
    if (rc)
        return rc;
    if (!rep)
        return eg_fail(k, EMBER_EINVAL, "repeats input is missing");
    int64_t reps[EMBER_MAX_RANK], in_str[EMBER_MAX_RANK], odims[EMBER_MAX_RANK];
    int n = read_ints(k, rep, "repeats", reps, EMBER_MAX_RANK);
    if (n < 0)
        return n;
    if (n != x->rank)
        return eg_fail(k, EMBER_ESHAPE, "repeats has %d entries for rank %d", n, x->rank);
    walk w = {.rank = 2 * n};
    dense_strides(n, x->dims, in_str);
    for (int d = 0; d < n; d++) {
        if (reps[d] < 0)
            return eg_fail(k, EMBER_EINVAL, "negative repeat %lld", (long long)reps[d]);
        if (x->dims[d] > 0 && reps[d] > INT64_MAX / x->dims[d])
            return eg_fail(k, EMBER_ESHAPE, "output is too large");
        odims[d] = x->dims[d] * reps[d];
        w.dims[2 * d] = reps[d];
        w.stride[2 * d] = 0;
        w.dims[2 * d + 1] = x->dims[d];
        w.stride[2 * d + 1] = in_str[d];
    }
    void *y = eg_out(k, 0, x->dtype, n, odims);
    if (!y)
        return EMBER_ENOMEM;
    walk_copy(&w, x->data, y, es);
    return 0;
}

/* Slice's starts/ends/axes/steps: attributes before opset 10, inputs 1..4 from then on. */
static int slice_params(eg_kctx *k, int64_t *starts, int64_t *ends, int64_t *axes, int64_t *steps,
                        int *count)
{
    int ns, ne, na, nst = -1;
    const int max = EMBER_MAX_RANK;
    if (eg_opset(k) < 10) {
        ns = read_attr_ints(k, "starts", starts, max);
        ne = read_attr_ints(k, "ends", ends, max);
        na = read_attr_ints(k, "axes", axes, max);
    } else {
        const ember_tensor *ts = eg_in(k, 1), *te = eg_in(k, 2), *ta = eg_in(k, 3),
                           *tst = eg_in(k, 4);
        if (!ts || !te)
            return eg_fail(k, EMBER_EINVAL, "starts and ends are required");
        if (ts->dtype != te->dtype || (ta && ta->dtype != ts->dtype) ||
            (tst && tst->dtype != ts->dtype))
            return eg_fail(k, EMBER_ESHAPE, "starts, ends, axes and steps must have one type");
        ns = read_ints(k, ts, "starts", starts, max);
        ne = ns < 0 ? ns : read_ints(k, te, "ends", ends, max);
        na = ne < 0 ? ne : ta ? read_ints(k, ta, "axes", axes, max) : -1;
        nst = na < -1 ? na : tst ? read_ints(k, tst, "steps", steps, max) : -1;
    }
    if (ns < -1 || ne < -1 || na < -1 || nst < -1)
        return ns < -1 ? ns : ne < -1 ? ne : na < -1 ? na : nst;
    if (ns < 0 || ne < 0)
        return eg_fail(k, EMBER_EINVAL, "starts and ends are required");
    if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return eg_fail(k, EMBER_EINVAL, "starts, ends, axes and steps differ in length");
    for (int i = 0; i < ns; i++) {
        if (na < 0)
            axes[i] = i;
        if (nst < 0)
            steps[i] = 1;
    }
    *count = ns;
    return 0;
}

static int slice_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    size_t es;
    int rc = elem_size(k, x, "data", &es);
    if (rc)
        return rc;
    int64_t starts[EMBER_MAX_RANK], ends[EMBER_MAX_RANK], axes[EMBER_MAX_RANK];
    int64_t steps[EMBER_MAX_RANK], in_str[EMBER_MAX_RANK];
    int n;
    if ((rc = slice_params(k, starts, ends, axes, steps, &n)) ||
        (rc = norm_axes(k, axes, n, x->rank)))
        return rc;
    walk w = {.rank = x->rank};
    dense_strides(x->rank, x->dims, in_str);
    for (int d = 0; d < x->rank; d++) {
        w.dims[d] = x->dims[d];
        w.stride[d] = in_str[d];
    }
    for (int i = 0; i < n; i++) {
        int a = (int)axes[i];
        int64_t dim = x->dims[a], st = starts[i], en = ends[i], step = steps[i];
        if (step == 0)
            return eg_fail(k, EMBER_EINVAL, "step is 0 on axis %d", a);
        /* A step longer than the axis yields at most one element, so clamping it changes
         * nothing but keeps the arithmetic below from overflowing. */
        if (step > dim + 1)
            step = dim + 1;
        if (step < -(dim + 1))
            step = -(dim + 1);
        if (st < 0)
            st += dim;
        if (en < 0)
            en += dim;
        int64_t len;
        if (step > 0) {
            st = st < 0 ? 0 : st > dim ? dim : st;
            en = en < 0 ? 0 : en > dim ? dim : en;
            len = en > st ? 1 + (en - st - 1) / step : 0;
        } else {
            st = st < 0 ? 0 : st > dim - 1 ? dim - 1 : st;
            en = en < -1 ? -1 : en > dim - 1 ? dim - 1 : en;
            len = st > en ? 1 + (st - en - 1) / -step : 0;
        }
        w.dims[a] = len;
        w.stride[a] = in_str[a] * step;
        if (len > 0)
            w.base += st * in_str[a];
    }
    if (walk_is_run(&w) && ku_count(w.rank, w.dims) > 0)
        return eg_out_view(k, 0, 0, w.base * (int64_t)es, x->rank, w.dims) ? 0 : EMBER_ENOMEM;
    void *y = eg_out(k, 0, x->dtype, x->rank, w.dims);
    if (!y)
        return EMBER_ENOMEM;
    walk_copy(&w, x->data, y, es);
    return 0;
}

/* ---- Concat, Split ---- */

/* Concat as the copies of outer rows, each the inputs' runs (bytes[i] from src[i] + o *
 * bytes[i]) one after the other; part p of n copies bytes [p, p + 1) * total / n of y. */
typedef struct concat_job {
    char *y;
    const void **src;
    const size_t *bytes;
    size_t row; /* bytes of one output row: the sum of bytes */
    int64_t outer;
    int nin;
} concat_job;

/* Fewest bytes worth a part of their own. */
#define CONCAT_PART_BYTES (64 * 1024)

static void concat_part(void *arg, int part, int nparts, int thread)
{
    (void)thread;
    const concat_job *j = arg;
    size_t total = (size_t)j->outer * j->row;
    size_t b0 = total / (size_t)nparts * (size_t)part +
                total % (size_t)nparts * (size_t)part / (size_t)nparts;
    size_t b1 = total / (size_t)nparts * (size_t)(part + 1) +
                total % (size_t)nparts * (size_t)(part + 1) / (size_t)nparts;
    size_t at = b0 / j->row * j->row; /* start of b0's row */
    for (int64_t o = (int64_t)(b0 / j->row); at < b1 && o < j->outer; o++) {
        for (int i = 0; i < j->nin && at < b1; i++) {
            size_t lo = b0 > at ? b0 - at : 0, hi = b1 - at < j->bytes[i] ? b1 - at : j->bytes[i];
            const char *from = (const char *)j->src[i] + (size_t)o * j->bytes[i] + lo;
            /* An input its producer wrote in place (session.c, make_plan) is already there. */
            if (lo < hi && from != j->y + at + lo)
                memcpy(j->y + at + lo, from, hi - lo);
            at += j->bytes[i];
        }
    }
}

/* Checks Concat's inputs against input 0 and fills the output dims and axis. */
static int concat_shape(eg_kctx *k, int *axis_out, int64_t *dims, size_t *es)
{
    int nin = eg_nin(k);
    const ember_tensor *x0 = eg_in(k, 0);
    int rc = elem_size(k, x0, "input 0", es);
    if (rc)
        return rc;
    if (!eg_has_attr(k, "axis"))
        return eg_fail(k, EMBER_EINVAL, "attribute axis is required");
    int r = x0->rank;
    int axis = ku_axis(eg_attr_int(k, "axis", 0), r);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                       (long long)eg_attr_int(k, "axis", 0), r);
    memcpy(dims, x0->dims, EMBER_MAX_RANK * sizeof *dims);
    dims[axis] = 0;
    for (int i = 0; i < nin; i++) {
        const ember_tensor *x = eg_in(k, i);
        if (!x)
            return eg_fail(k, EMBER_EINVAL, "input %d is missing", i);
        if (x->dtype != x0->dtype || x->rank != r)
            return eg_fail(k, EMBER_ESHAPE, "input %d differs from input 0 in type or rank", i);
        for (int d = 0; d < r; d++)
            if (d != axis && x->dims[d] != x0->dims[d])
                return eg_fail(k, EMBER_ESHAPE, "input %d differs from input 0 in dimension %d", i,
                               d);
        dims[axis] += x->dims[axis];
    }
    *axis_out = axis;
    return 0;
}

static int concat_run(eg_kctx *k)
{
    int nin = eg_nin(k), axis;
    int64_t dims[EMBER_MAX_RANK];
    size_t es;
    int rc = concat_shape(k, &axis, dims, &es);
    if (rc)
        return rc;
    int r = eg_in(k, 0)->rank;
    char *y = eg_out(k, 0, eg_in(k, 0)->dtype, r, dims);
    if (!y)
        return EMBER_ENOMEM;
    concat_job j = {.y = y, .nin = nin, .outer = ku_count(axis, dims)};
    const void **src = eg_scratch(k, (size_t)nin * sizeof *src);
    size_t *bytes = eg_scratch(k, (size_t)nin * sizeof *bytes);
    if (!src || !bytes)
        return EMBER_ENOMEM;
    int64_t inner = ku_count(r - axis - 1, dims + axis + 1);
    for (int i = 0; i < nin; i++) {
        const ember_tensor *x = eg_in(k, i);
        src[i] = x->data;
        bytes[i] = (size_t)(x->dims[axis] * inner) * es;
        j.row += bytes[i];
    }
    if (j.row == 0 || j.outer == 0)
        return 0;
    j.src = src;
    j.bytes = bytes;
    /* Large ones (squeezenet's) split between the session's threads by equal byte ranges. */
    int64_t parts = (int64_t)(j.outer * j.row / CONCAT_PART_BYTES), most = 4 * eg_threads(k);
    parts = parts > most ? most : parts < 1 ? 1 : parts;
    eg_parallel(k, concat_part, &j, (int)parts);
    return 0;
}

/* ---- ember.ConcatShuffle ---- */

/* Copies len elements of the Concat of xs from its flat offset off on: the Concat is rows of
 * the inputs' blocks (block[i] elements of input i per row of row elements). */
static void concat_read(eg_kctx *k, const int64_t *block, int64_t row, int64_t off, int64_t len,
                        char *dst, size_t es)
{
    while (len > 0) {
        int64_t o = off / row, at = off % row;
        int i = 0;
        while (at >= block[i])
            at -= block[i++];
        int64_t take = block[i] - at < len ? block[i] - at : len;
        memcpy(dst, (const char *)eg_in(k, i)->data + (size_t)(o * block[i] + at) * es,
               (size_t)take * es);
        dst += take * (int64_t)es;
        off += take;
        len -= take;
    }
}

/* What the optimizer makes of a channel shuffle (passes.c): the Concat of the inputs on axis,
 * reshaped to shape = [n, g, c, s...] and transposed to [n, c, g, s...], in one pass: each
 * run of the s elements is copied once, from the input that holds it. */
static int concatshuffle_run(eg_kctx *k)
{
    int axis;
    int64_t dims[EMBER_MAX_RANK], odims[EMBER_MAX_RANK];
    size_t es;
    const int64_t *shape;
    int r = eg_attr_ints(k, "shape", &shape), rc = concat_shape(k, &axis, dims, &es);
    if (rc)
        return rc;
    if (r < 3 || r > EMBER_MAX_RANK)
        return eg_fail(k, EMBER_EINVAL, "shape must have 3 to %d entries", EMBER_MAX_RANK);
    const ember_tensor *x0 = eg_in(k, 0);
    int64_t total = ku_count(x0->rank, dims), n = shape[0], g = shape[1], c = shape[2];
    int64_t span = ku_count(r - 3, shape + 3);
    if (n < 0 || g < 0 || c < 0 || span < 0 || ku_count(r, shape) != total)
        return eg_fail(k, EMBER_ESHAPE, "the concatenation's %lld elements do not fit the shape",
                       (long long)total);
    memcpy(odims, shape, (size_t)r * sizeof *odims);
    odims[1] = c;
    odims[2] = g;
    char *y = eg_out(k, 0, x0->dtype, r, odims);
    if (!y)
        return EMBER_ENOMEM;
    if (total == 0)
        return 0;
    int64_t inner = ku_count(x0->rank - axis - 1, dims + axis + 1), block[64], row = 0;
    if (eg_nin(k) > 64)
        return eg_fail(k, EMBER_EINVAL, "more than 64 inputs");
    for (int i = 0; i < eg_nin(k); i++)
        row += block[i] = eg_in(k, i)->dims[axis] * inner;
    for (int64_t ni = 0; ni < n; ni++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t gi = 0; gi < g; gi++, y += span * (int64_t)es)
                concat_read(k, block, row, ((ni * g + gi) * c + ci) * span, span, y, es);
    return 0;
}

static int split_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    size_t es;
    int rc = elem_size(k, x, "input", &es);
    if (rc)
        return rc;
    int nout = eg_nout(k), r = x->rank;
    int axis = ku_axis(eg_attr_int(k, "axis", 0), r);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                       (long long)eg_attr_int(k, "axis", 0), r);
    if (nout < 1)
        return eg_fail(k, EMBER_EINVAL, "no outputs");
    int64_t *sizes = eg_scratch(k, (size_t)nout * sizeof *sizes);
    if (!sizes)
        return EMBER_ENOMEM;
    int64_t dim = x->dims[axis];
    int n;
    if (eg_opset(k) < 13) {
        n = read_attr_ints(k, "split", sizes, nout);
    } else {
        const ember_tensor *s = eg_in(k, 1);
        n = s ? read_ints(k, s, "split", sizes, nout) : -1;
    }
    if (n < -1)
        return n;
    if (n >= 0) {
        int64_t sum = 0;
        for (int i = 0; i < n; i++) {
            if (sizes[i] < 0 || sizes[i] > dim)
                return eg_fail(k, EMBER_EINVAL, "invalid split size %lld", (long long)sizes[i]);
            sum += sizes[i];
        }
        if (n != nout || sum != dim)
            return eg_fail(k, EMBER_EINVAL, "split sizes must be one per output and sum to %lld",
                           (long long)dim);
    } else if (eg_opset(k) >= 18 && eg_has_attr(k, "num_outputs")) {
        int64_t parts = eg_attr_int(k, "num_outputs", 0);
        if (parts != nout)
            return eg_fail(k, EMBER_EINVAL, "num_outputs is %lld but the node has %d outputs",
                           (long long)parts, nout);
        /* Equal chunks rounded up; the last one takes what is left. */
        int64_t chunk = (dim + nout - 1) / nout;
        if (chunk * (nout - 1) > dim)
            return eg_fail(k, EMBER_EINVAL, "cannot split %lld into %d chunks", (long long)dim,
                           nout);
        for (int i = 0; i < nout; i++)
            sizes[i] = i < nout - 1 ? chunk : dim - chunk * (nout - 1);
    } else {
        if (dim % nout != 0)
            return eg_fail(k, EMBER_EINVAL, "dimension %lld does not split evenly into %d",
                           (long long)dim, nout);
        for (int i = 0; i < nout; i++)
            sizes[i] = dim / nout;
    }
    int64_t outer = ku_count(axis, x->dims), inner = ku_count(r - axis - 1, x->dims + axis + 1);
    int64_t dims[EMBER_MAX_RANK], at = 0;
    memcpy(dims, x->dims, sizeof dims);
    for (int i = 0; i < nout; i++) {
        if (!eg_out_wanted(k, i)) {
            at += sizes[i];
            continue;
        }
        dims[axis] = sizes[i];
        char *y = eg_out(k, i, x->dtype, r, dims);
        if (!y)
            return EMBER_ENOMEM;
        size_t bytes = (size_t)(sizes[i] * inner) * es;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + (size_t)o * bytes,
                   (const char *)x->data + ((size_t)(o * dim + at) * (size_t)inner) * es, bytes);
        at += sizes[i];
    }
    return 0;
}

/* ---- Gather, GatherElements ---- */

/* Index i of an int32/int64 indices tensor, made non-negative; -1 when outside [-dim, dim). */
static int64_t gather_index(const ember_tensor *ind, int64_t i, int64_t dim)
{
    int64_t v = ku_get_int(ind, i);
    if (v < 0)
        v += dim;
    return v >= 0 && v < dim ? v : -1;
}

static int gather_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *ind = eg_in(k, 1);
    size_t es;
    int rc = elem_size(k, x, "data", &es);
    if (rc)
        return rc;
    if (!ind || (ind->dtype != EMBER_DT_INT64 && ind->dtype != EMBER_DT_INT32))
        return eg_fail(k, EMBER_ESHAPE, "indices must be int32 or int64");
    int r = x->rank, q = ind->rank;
    if (r < 1)
        return eg_fail(k, EMBER_ESHAPE, "data must have rank >= 1");
    int axis = ku_axis(eg_attr_int(k, "axis", 0), r);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                       (long long)eg_attr_int(k, "axis", 0), r);
    if (r - 1 + q > EMBER_MAX_RANK)
        return eg_fail(k, EMBER_ESHAPE, "output rank %d exceeds %d", r - 1 + q, EMBER_MAX_RANK);
    int64_t dim = x->dims[axis], ni = ember_tensor_count(ind);
    for (int64_t i = 0; i < ni; i++)
        if (gather_index(ind, i, dim) < 0)
            return eg_fail(k, EMBER_EINVAL, "index %lld out of range for axis %d of size %lld",
                           (long long)ku_get_int(ind, i), axis, (long long)dim);
    int64_t dims[EMBER_MAX_RANK];
    memcpy(dims, x->dims, (size_t)axis * sizeof *dims);
    memcpy(dims + axis, ind->dims, (size_t)q * sizeof *dims);
    memcpy(dims + axis + q, x->dims + axis + 1, (size_t)(r - axis - 1) * sizeof *dims);
    char *y = eg_out(k, 0, x->dtype, r - 1 + q, dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t outer = ku_count(axis, x->dims);
    size_t row = (size_t)ku_count(r - axis - 1, x->dims + axis + 1) * es;
    const char *src = x->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < ni; i++, y += row)
            memcpy(y, src + (size_t)(o * dim + gather_index(ind, i, dim)) * row, row);
    return 0;
}

static int gatherelements_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *ind = eg_in(k, 1);
    size_t es;
    int rc = elem_size(k, x, "data", &es);
    if (rc)
        return rc;
    if (!ind || (ind->dtype != EMBER_DT_INT64 && ind->dtype != EMBER_DT_INT32))
        return eg_fail(k, EMBER_ESHAPE, "indices must be int32 or int64");
    int r = x->rank;
    if (r < 1 || ind->rank != r)
        return eg_fail(k, EMBER_ESHAPE, "data and indices must have the same rank >= 1");
    int axis = ku_axis(eg_attr_int(k, "axis", 0), r);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis %lld out of range for rank %d",
                       (long long)eg_attr_int(k, "axis", 0), r);
    for (int d = 0; d < r; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return eg_fail(k, EMBER_ESHAPE, "indices dimension %d (%lld) exceeds data's (%lld)", d,
                           (long long)ind->dims[d], (long long)x->dims[d]);
    int64_t dim = x->dims[axis], n = ember_tensor_count(ind);
    for (int64_t i = 0; i < n; i++)
        if (gather_index(ind, i, dim) < 0)
            return eg_fail(k, EMBER_EINVAL, "index %lld out of range for axis %d of size %lld",
                           (long long)ku_get_int(ind, i), axis, (long long)dim);
    char *y = eg_out(k, 0, x->dtype, r, ind->dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t str[EMBER_MAX_RANK], idx[EMBER_MAX_RANK] = {0}, off = 0;
    dense_strides(r, x->dims, str);
    const char *src = x->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t at = off + gather_index(ind, i, dim) * str[axis];
        copy_el(y + i * (int64_t)es, src + at * (int64_t)es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (d != axis)
                off += str[d];
            if (++idx[d] < ind->dims[d])
                break;
            if (d != axis)
                off -= str[d] * ind->dims[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- Pad ---- */

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Source position in a kept span of length len for position j (may lie outside [0, len));
 * -1 for the constant. Negative pads crop first, so len is the cropped length. */
static int64_t pad_source(int mode, int64_t j, int64_t len)
{
    if (j >= 0 && j < len)
        return j;
    switch (mode) {
    case PAD_EDGE: return j < 0 ? 0 : len - 1;
    case PAD_WRAP: return ((j % len) + len) % len;
    case PAD_REFLECT: {
        if (len == 1)
            return 0;
        int64_t period = 2 * (len - 1), m = ((j % period) + period) % period;
        return m < len ? m : period - m;
    }
    default: return -1;
    }
}

/* The pads of every axis (begin values then end values), from the attribute (before opset 11)
 * or inputs pads and axes. */
static int pad_amounts(eg_kctx *k, int r, int64_t *pads)
{
    int64_t raw[2 * EMBER_MAX_RANK], axes[EMBER_MAX_RANK];
    int n, na = -1;
    if (eg_opset(k) < 11) {
        n = read_attr_ints(k, "pads", raw, 2 * EMBER_MAX_RANK);
        if (n == -1)
            return eg_fail(k, EMBER_EINVAL, "attribute pads is required");
    } else {
        const ember_tensor *tp = eg_in(k, 1), *ta = eg_in(k, 3);
        if (!tp || tp->dtype != EMBER_DT_INT64)
            return eg_fail(k, EMBER_ESHAPE, "pads must be an int64 input");
        n = read_ints(k, tp, "pads", raw, 2 * EMBER_MAX_RANK);
        if (n >= 0 && ta)
            na = read_ints(k, ta, "axes", axes, EMBER_MAX_RANK);
    }
    if (n < 0)
        return n;
    if (na < -1)
        return na;
    if (na < 0) {
        na = r;
        for (int d = 0; d < r; d++)
            axes[d] = d;
    }
    int rc = norm_axes(k, axes, na, r);
    if (rc)
        return rc;
    if (n != 2 * na)
        return eg_fail(k, EMBER_EINVAL, "pads has %d values for %d axes", n, na);
    memset(pads, 0, 2 * (size_t)r * sizeof *pads);
    for (int i = 0; i < na; i++) {
        pads[axes[i]] = raw[i];
        pads[r + axes[i]] = raw[na + i];
    }
    return 0;
}

static int pad_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    size_t es;
    int rc = elem_size(k, x, "data", &es);
    if (rc)
        return rc;
    int r = x->rank;
    const char *ms = eg_attr_str(k, "mode", "constant");
    int mode = !strcmp(ms, "constant")  ? PAD_CONSTANT
               : !strcmp(ms, "reflect") ? PAD_REFLECT
               : !strcmp(ms, "edge")    ? PAD_EDGE
               : !strcmp(ms, "wrap")    ? PAD_WRAP
                                        : -1;
    if (mode < 0)
        return eg_fail(k, EMBER_EINVAL, "unknown mode '%s'", ms);
    int64_t pads[2 * EMBER_MAX_RANK];
    if ((rc = pad_amounts(k, r, pads)))
        return rc;

    /* The constant as one element of the data type. */
    unsigned char cval[8] = {0};
    if (eg_opset(k) < 11) {
        ember_tensor f = {.dtype = EMBER_DT_FLOAT, .rank = 0};
        float v = eg_attr_float(k, "value", 0);
        f.data = &v;
        cast_elems(&f, cval, x->dtype, 1);
    } else if (eg_in(k, 2) && ember_tensor_count(eg_in(k, 2)) > 0) {
        const ember_tensor *cv = eg_in(k, 2);
        if (cv->dtype != x->dtype || ember_tensor_count(cv) != 1)
            return eg_fail(k, EMBER_ESHAPE, "constant_value must be one element of data's type");
        memcpy(cval, cv->data, es);
    }

    /* Per axis: the kept span [lo, lo + len) after cropping, and the output length. */
    int64_t lo[EMBER_MAX_RANK], len[EMBER_MAX_RANK], odims[EMBER_MAX_RANK], before[EMBER_MAX_RANK];
    int64_t total_dims = 0;
    for (int d = 0; d < r; d++) {
        int64_t pb = pads[d], pe = pads[r + d], dim = x->dims[d];
        if (pb < -dim || pe < -dim || pb > ((int64_t)1 << 40) || pe > ((int64_t)1 << 40) ||
            dim + pb + pe < 0)
            return eg_fail(k, EMBER_EINVAL, "pads %lld, %lld invalid for axis %d of size %lld",
                           (long long)pb, (long long)pe, d, (long long)dim);
        lo[d] = pb < 0 ? -pb : 0;
        len[d] = dim - lo[d] - (pe < 0 ? -pe : 0);
        before[d] = pb > 0 ? pb : 0;
        odims[d] = dim + pb + pe;
        if (odims[d] > 0 && len[d] <= 0 && mode != PAD_CONSTANT)
            return eg_fail(k, EMBER_EINVAL, "cannot %s-pad axis %d with no elements left", ms, d);
        total_dims += odims[d];
    }
    char *y = eg_out(k, 0, x->dtype, r, odims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t n = ku_count(r, odims);
    if (n == 0)
        return 0;
    if (r == 0) {
        memcpy(y, x->data, es);
        return 0;
    }
    /* src[d][i]: input index along axis d feeding output index i, or -1 for the constant. */
    int64_t *tab = eg_scratch(k, (size_t)total_dims * sizeof *tab), *src[EMBER_MAX_RANK];
    int64_t str[EMBER_MAX_RANK];
    if (!tab)
        return EMBER_ENOMEM;
    for (int64_t d = 0, at = 0; d < r; at += odims[d], d++) {
        src[d] = tab + at;
        for (int64_t i = 0; i < odims[d]; i++) {
            int64_t s = pad_source(mode, i - before[d], len[d]);
            src[d][i] = s < 0 ? -1 : lo[d] + s;
        }
    }
    dense_strides(r, x->dims, str);
    const char *xs = x->data;
    int last = r - 1;
    int64_t idx[EMBER_MAX_RANK] = {0}, rows = n / odims[last];
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        for (int d = 0; d < last && base >= 0; d++)
            base = src[d][idx[d]] < 0 ? -1 : base + src[d][idx[d]] * str[d];
        for (int64_t i = 0; i < odims[last]; i++, y += es) {
            int64_t s = src[last][i];
            copy_el(y, base < 0 || s < 0 ? (const char *)cval : xs + (base + s) * (int64_t)es, es);
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < odims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- Dropout ---- */

/* Inference is the identity with an all-true mask. In training mode (opset 12's training_mode
 * input) elements are dropped with probability ratio and the rest scaled by 1/(1-ratio); the
 * draw is a xorshift stream from the seed attribute, so runs are reproducible. */
static int dropout_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    int opset = eg_opset(k), training = 0;
    float ratio = 0.5f;
    if (opset < 12) {
        ratio = eg_attr_float(k, "ratio", 0.5f);
    } else {
        const ember_tensor *tr = eg_in(k, 1), *tm = eg_in(k, 2);
        if (tr) {
            if (tr->dtype != EMBER_DT_FLOAT || ember_tensor_count(tr) != 1)
                return eg_fail(k, EMBER_ESHAPE, "ratio must be a float scalar");
            ratio = *(const float *)tr->data;
        }
        if (tm) {
            if (tm->dtype != EMBER_DT_BOOL || ember_tensor_count(tm) != 1)
                return eg_fail(k, EMBER_ESHAPE, "training_mode must be a bool scalar");
            training = *(const uint8_t *)tm->data != 0;
        }
    }
    if (!(ratio >= 0 && ratio < 1))
        return eg_fail(k, EMBER_EINVAL, "ratio %g is outside [0, 1)", (double)ratio);
    int64_t n = ember_tensor_count(x);
    float *y = eg_out(k, 0, x->dtype, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    uint8_t *mask = NULL;
    if (eg_out_wanted(k, 1)) {
        /* Before opset 10 the mask has the data's type. */
        ember_dtype mdt = opset < 10 ? x->dtype : EMBER_DT_BOOL;
        void *m = eg_out(k, 1, mdt, x->rank, x->dims);
        if (!m)
            return EMBER_ENOMEM;
        if (mdt == EMBER_DT_FLOAT) {
            for (int64_t i = 0; i < n; i++)
                ((float *)m)[i] = 1.0f;
        } else {
            mask = m;
            memset(mask, 1, (size_t)n);
        }
    }
    const float *xs = x->data;
    if (!training || ratio == 0) {
        memcpy(y, xs, (size_t)n * sizeof *y);
        return 0;
    }
    uint64_t state = (uint64_t)eg_attr_int(k, "seed", 0) * 0x9E3779B97F4A7C15ull + 1;
    float scale = 1.0f / (1.0f - ratio);
    for (int64_t i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int keep = (double)(state >> 11) / 9007199254740992.0 >= ratio;
        y[i] = keep ? xs[i] * scale : 0.0f;
        if (mask)
            mask[i] = (uint8_t)keep;
    }
    return 0;
}

const eg_op eg_ops_shape[] = {
    {"Constant", "", constant_run},
    {"Shape", "", shape_run},
    {"Size", "", size_run},
    {"Identity", "", identity_run},
    {"ConstantOfShape", "", constantofshape_run},
    {"Range", "", range_run},
    {"Cast", "", cast_run},
    {"CastLike", "", castlike_run},
    {"Reshape", "", reshape_run},
    {"Flatten", "", flatten_run},
    {"Squeeze", "", squeeze_run},
    {"Unsqueeze", "", unsqueeze_run},
    {"Transpose", "", transpose_run},
    {"Expand", "", expand_run},
    {"Tile", "", tile_run},
    {"Slice", "", slice_run},
    {"Concat", "", concat_run},
    {"ConcatShuffle", "ember", concatshuffle_run},
    {"Split", "", split_run},
    {"Gather", "", gather_run},
    {"GatherElements", "", gatherelements_run},
    {"Pad", "", pad_run},
    {"Dropout", "", dropout_run},
    {NULL, NULL, NULL},
};
