/*
 * Reference kernels: Conv, ConvTranspose (float32) and the integer convolutions ConvInteger and
 * QLinearConv, all 1-D to 3-D with groups, dilations, strides, pads and auto_pad.
 *
 * Every spatial shape is reduced to three dims (unit dims in front) so one walk serves all
 * ranks. conv_plane adds one input plane's contribution to one output plane as a sum of
 * "weight times shifted row": for each kernel tap the range of positions whose tap lands
 * inside the input is computed once, so the innermost loop (a typed row function) is a plain
 * strided axpy with no bounds checks; a 1x1 kernel becomes a GEMM-like loop over whole planes.
 * ConvTranspose is the same walk with input and output swapped (a scatter). The integer convs
 * subtract the zero points up front, accumulate in int32 and, for QLinearConv, requantize.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "window.h"

#define SP WIN_SP

typedef win_geom conv_geom;

/* Checks shapes of X and W (same rank 3..5) and reads kernel, strides and dilations. */
static int geom_read(eg_kctx *k, const ember_tensor *x, const ember_tensor *w, conv_geom *g)
{
    if (x->rank < 3 || x->rank > SP + 2)
        return eg_fail(k, EMBER_EUNSUPPORTED, "X must have rank 3 to %d, has %d", SP + 2, x->rank);
    if (w->rank != x->rank)
        return eg_fail(k, EMBER_ESHAPE, "W has rank %d, X has rank %d", w->rank, x->rank);
    int nsp = x->rank - 2;
    win_init(g, x);
    for (int i = 0; i < nsp; i++) {
        g->k[SP - nsp + i] = w->dims[2 + i];
        if (w->dims[2 + i] < 1)
            return eg_fail(k, EMBER_ESHAPE, "W has an empty kernel dim");
    }
    const int64_t *ks;
    int nks = eg_attr_ints(k, "kernel_shape", &ks);
    if (nks >= 0 && nks != nsp)
        return eg_fail(k, EMBER_EINVAL, "kernel_shape has %d values for %d spatial dims", nks, nsp);
    for (int i = 0; i < nks; i++)
        if (ks[i] != w->dims[2 + i])
            return eg_fail(k, EMBER_ESHAPE, "kernel_shape does not match W");
    int rc;
    if ((rc = win_read_spatial(k, "strides", nsp, 1, g->s, NULL)) ||
        (rc = win_read_spatial(k, "dilations", nsp, 1, g->d, NULL)))
        return rc;
    return 0;
}

/* Geometry of a forward convolution: pads from auto_pad or pads, then the output size. */
static int geom_forward(eg_kctx *k, const ember_tensor *x, const ember_tensor *w, conv_geom *g)
{
    int rc = geom_read(k, x, w, g);
    if (rc)
        return rc;
    int ap = win_read_auto_pad(k);
    if (ap < 0)
        return ap;
    if (ap == WIN_PAD_NOTSET && (rc = win_read_spatial(k, "pads", g->nsp, 0, g->pb, g->pe)))
        return rc;
    for (int i = 0; i < SP; i++) {
        int64_t span = (g->k[i] - 1) * g->d[i] + 1;
        if (ap == WIN_PAD_SAME_UPPER || ap == WIN_PAD_SAME_LOWER) {
            int64_t out = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (out - 1) * g->s[i] + span - g->in[i];
            if (total < 0)
                total = 0;
            g->pb[i] = ap == WIN_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
        }
        int64_t padded = g->in[i] + g->pb[i] + g->pe[i];
        if (padded < span)
            return eg_fail(k, EMBER_ESHAPE, "kernel (extent %lld) larger than padded input %lld",
                           (long long)span, (long long)padded);
        g->out[i] = (padded - span) / g->s[i] + 1;
    }
    return 0;
}

/* Checks the channel counts of a forward conv: X [N, C, ...], W [M, C / group, ...]. */
static int check_groups(eg_kctx *k, const ember_tensor *x, const ember_tensor *w, int64_t *group)
{
    *group = eg_attr_int(k, "group", 1);
    int64_t c = x->dims[1], m = w->dims[0];
    if (*group < 1 || c % *group || m % *group || w->dims[1] * *group != c)
        return eg_fail(k, EMBER_ESHAPE, "channels do not fit group %lld (X %lld, W %lldx%lld)",
                       (long long)*group, (long long)c, (long long)m, (long long)w->dims[1]);
    return 0;
}

static void out_dims(const ember_tensor *x, int64_t m, const conv_geom *g, int64_t *odims)
{
    odims[0] = x->dims[0];
    odims[1] = m;
    for (int i = 0; i < g->nsp; i++)
        odims[2 + i] = g->out[SP - g->nsp + i];
}

/* Positions o in [0, n_o) for which o * s + off falls in [0, n_i): [*lo, *hi). */
static void tap_range(int64_t off, int64_t s, int64_t n_i, int64_t n_o, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = n_i - 1 - off < 0 ? 0 : (n_i - 1 - off) / s + 1;
    if (h > n_o)
        h = n_o;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* y[j * ys] += w * x[j * xs] for j < n, on one element type. */
typedef void (*row_fn)(void *y, const void *x, const void *w, int64_t n, int64_t xs, int64_t ys);

static void row_f32(void *y, const void *x, const void *w, int64_t n, int64_t xs, int64_t ys)
{
    float *yp = y, wv = *(const float *)w;
    const float *xp = x;
    for (int64_t j = 0; j < n; j++)
        yp[j * ys] += wv * xp[j * xs];
}

/* Integer rows add in uint32 so an overflowing sum wraps (as int32 hardware does) instead of
 * being undefined behaviour. */
static void row_i32(void *y, const void *x, const void *w, int64_t n, int64_t xs, int64_t ys)
{
    int32_t *yp = y, wv = *(const int32_t *)w;
    const int32_t *xp = x;
    for (int64_t j = 0; j < n; j++)
        yp[j * ys] = (int32_t)((uint32_t)yp[j * ys] + (uint32_t)(wv * xp[j * xs]));
}

/* Adds the contribution of input plane x through kernel wk to output plane y (all of element
 * size es). Forward: y[o] += wk[t] * x[o * s + t * d - pb]; transpose: y[i * s + t * d - pb] +=
 * wk[t] * x[i]. */
static void conv_plane(const conv_geom *g, int transpose, const char *x, const char *wk, char *y,
                       size_t es, row_fn row)
{
    /* The "walked" side is the output for a forward conv and the input for a transpose. */
    const int64_t *walk = transpose ? g->in : g->out, *other = transpose ? g->out : g->in;
    for (int64_t kd = 0; kd < g->k[0]; kd++) {
        int64_t offd = kd * g->d[0] - g->pb[0], d0, d1;
        tap_range(offd, g->s[0], other[0], walk[0], &d0, &d1);
        for (int64_t kh = 0; kh < g->k[1]; kh++) {
            int64_t offh = kh * g->d[1] - g->pb[1], h0, h1;
            tap_range(offh, g->s[1], other[1], walk[1], &h0, &h1);
            for (int64_t kw = 0; kw < g->k[2]; kw++) {
                int64_t offw = kw * g->d[2] - g->pb[2], w0, w1;
                tap_range(offw, g->s[2], other[2], walk[2], &w0, &w1);
                const char *wv = wk + (size_t)((kd * g->k[1] + kh) * g->k[2] + kw) * es;
                int64_t sw = g->s[2];
                for (int64_t a = d0; a < d1; a++) {
                    int64_t b = a * g->s[0] + offd;
                    for (int64_t c = h0; c < h1; c++) {
                        int64_t e = c * g->s[1] + offh;
                        /* walked row (a, c) from w0; the other side's row (b, e) from its
                         * position w0 * s + offw. */
                        int64_t wrow = (a * walk[1] + c) * walk[2] + w0;
                        int64_t orow = (b * other[1] + e) * other[2] + w0 * sw + offw;
                        if (transpose)
                            row(y + (size_t)orow * es, x + (size_t)wrow * es, wv, w1 - w0, 1, sw);
                        else
                            row(y + (size_t)wrow * es, x + (size_t)orow * es, wv, w1 - w0, sw, 1);
                    }
                }
            }
        }
    }
}

/* Forward convolution of x [N, C, in] with w [M, C / group, k] into y [N, M, out], every plane
 * starting from bias[m] (or zero). Elements of size es, combined by row. */
static void conv_forward(const conv_geom *g, int64_t n, int64_t c, int64_t m, int64_t group,
                         const char *x, const char *w, const void *bias, char *y, size_t es,
                         row_fn row)
{
    int64_t cg = c / group, mg = m / group;
    int64_t insz = g->in[0] * g->in[1] * g->in[2], outsz = g->out[0] * g->out[1] * g->out[2];
    int64_t ksz = g->k[0] * g->k[1] * g->k[2];
    for (int64_t ni = 0; ni < n; ni++) {
        for (int64_t oc = 0; oc < m; oc++) {
            char *yp = y + (size_t)((ni * m + oc) * outsz) * es;
            for (int64_t i = 0; i < outsz; i++) {
                if (bias)
                    memcpy(yp + i * es, (const char *)bias + oc * es, es);
                else
                    memset(yp + i * es, 0, es);
            }
            int64_t grp = oc / mg;
            for (int64_t ic = 0; ic < cg; ic++) {
                const char *xp = x + (size_t)((ni * c + grp * cg + ic) * insz) * es;
                const char *wp = w + (size_t)((oc * cg + ic) * ksz) * es;
                conv_plane(g, 0, xp, wp, yp, es, row);
            }
        }
    }
}

static int conv_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1), *b = eg_in(k, 2);
    if (!x || !w)
        return eg_fail(k, EMBER_EINVAL, "needs inputs X and W");
    if (x->dtype != EMBER_DT_FLOAT || w->dtype != EMBER_DT_FLOAT ||
        (b && b->dtype != EMBER_DT_FLOAT))
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    conv_geom g;
    int64_t group;
    int rc;
    if ((rc = geom_forward(k, x, w, &g)) || (rc = check_groups(k, x, w, &group)))
        return rc;
    int64_t m = w->dims[0];
    if (b && (b->rank != 1 || b->dims[0] != m))
        return eg_fail(k, EMBER_ESHAPE, "B must be 1-D with %lld values", (long long)m);
    int64_t odims[SP + 2];
    out_dims(x, m, &g, odims);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    conv_forward(&g, x->dims[0], x->dims[1], m, group, x->data, w->data, b ? b->data : NULL,
                 (char *)y, sizeof(float), row_f32);
    return 0;
}

static int conv_transpose_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1), *b = eg_in(k, 2);
    if (!x || !w)
        return eg_fail(k, EMBER_EINVAL, "needs inputs X and W");
    if (x->dtype != EMBER_DT_FLOAT || w->dtype != EMBER_DT_FLOAT ||
        (b && b->dtype != EMBER_DT_FLOAT))
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    conv_geom g;
    int rc = geom_read(k, x, w, &g);
    if (rc)
        return rc;
    int64_t group = eg_attr_int(k, "group", 1);
    int64_t n = x->dims[0], c = x->dims[1];
    if (group < 1 || c % group || w->dims[0] != c)
        return eg_fail(k, EMBER_ESHAPE, "channels do not fit group %lld (X %lld, W %lld)",
                       (long long)group, (long long)c, (long long)w->dims[0]);
    int64_t mg = w->dims[1], m = mg * group;
    if (b && (b->rank != 1 || b->dims[0] != m))
        return eg_fail(k, EMBER_ESHAPE, "B must be 1-D with %lld values", (long long)m);
    int ap = win_read_auto_pad(k);
    if (ap < 0)
        return ap;
    int64_t opad[SP] = {0, 0, 0}, oshape[SP] = {1, 1, 1};
    if ((ap == WIN_PAD_NOTSET && (rc = win_read_spatial(k, "pads", g.nsp, 0, g.pb, g.pe))) ||
        (rc = win_read_spatial(k, "output_padding", g.nsp, 0, opad, NULL)))
        return rc;
    /* output_shape may list only the spatial dims or (older exporters) all of them. */
    const int64_t *os;
    int nos = eg_attr_ints(k, "output_shape", &os);
    if (nos >= 0) {
        if (nos != g.nsp && nos != g.nsp + 2)
            return eg_fail(k, EMBER_EINVAL, "output_shape has %d values", nos);
        for (int i = 0; i < g.nsp; i++) {
            int64_t v = os[nos - g.nsp + i];
            if (v < 1 || v > INT32_MAX)
                return eg_fail(k, EMBER_EINVAL, "output_shape value %lld out of range",
                               (long long)v);
            oshape[SP - g.nsp + i] = v;
        }
    }
    for (int i = 0; i < SP; i++) {
        int64_t full = g.s[i] * (g.in[i] - 1) + opad[i] + (g.k[i] - 1) * g.d[i] + 1;
        if (ap == WIN_PAD_SAME_UPPER || ap == WIN_PAD_SAME_LOWER) {
            g.out[i] = nos >= 0 ? oshape[i] : g.in[i] * g.s[i];
            int64_t total = full - g.out[i];
            /* Floor halves, as the ONNX reference does, so a negative total also splits. */
            int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
            g.pb[i] = ap == WIN_PAD_SAME_UPPER ? half : total - half;
        } else if (nos >= 0) {
            g.out[i] = oshape[i];
        } else {
            g.out[i] = full - g.pb[i] - g.pe[i];
        }
        if (g.out[i] < 0 || g.out[i] > INT32_MAX)
            return eg_fail(k, EMBER_ESHAPE, "output size %lld out of range", (long long)g.out[i]);
    }

    int64_t odims[SP + 2];
    out_dims(x, m, &g, odims);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    int64_t cg = c / group;
    int64_t insz = g.in[0] * g.in[1] * g.in[2], outsz = g.out[0] * g.out[1] * g.out[2];
    int64_t ksz = g.k[0] * g.k[1] * g.k[2];
    for (int64_t ni = 0; ni < n; ni++) {
        for (int64_t oc = 0; oc < m; oc++) {
            float *yp = y + (ni * m + oc) * outsz;
            for (int64_t i = 0; i < outsz; i++)
                yp[i] = B ? B[oc] : 0.0f;
            int64_t grp = oc / mg, mo = oc % mg;
            for (int64_t ic = 0; ic < cg; ic++) {
                const float *xp = X + (ni * c + grp * cg + ic) * insz;
                const float *wp = W + ((grp * cg + ic) * mg + mo) * ksz;
                conv_plane(&g, 1, (const char *)xp, (const char *)wp, (char *)yp, sizeof(float),
                           row_f32);
            }
        }
    }
    return 0;
}

static int is_q8(const ember_tensor *t)
{
    return t && (t->dtype == EMBER_DT_UINT8 || t->dtype == EMBER_DT_INT8);
}

/* Copies an 8-bit tensor into int32 minus its zero point: one value, or one per slice of
 * `inner` elements along the first dim (a per-output-channel weight zero point). */
static int widen(eg_kctx *k, const ember_tensor *t, const ember_tensor *zp, int per_channel,
                 int32_t *out, const char *what)
{
    int64_t n = ember_tensor_count(t), nz = zp ? ember_tensor_count(zp) : 1;
    int64_t ch = t->rank ? t->dims[0] : 1;
    if (zp && zp->dtype != t->dtype)
        return eg_fail(k, EMBER_ESHAPE, "%s zero point type differs from %s", what, what);
    if (zp && zp->rank > 1)
        return eg_fail(k, EMBER_ESHAPE, "%s zero point must be a scalar or 1-D", what);
    if (nz != 1 && !(per_channel && nz == ch))
        return eg_fail(k, EMBER_ESHAPE, "%s zero point has %lld values", what, (long long)nz);
    int64_t inner = ch ? n / ch : 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t z = zp ? (int32_t)ku_get_int(zp, nz == 1 ? 0 : i / inner) : 0;
        out[i] = (int32_t)ku_get_int(t, i) - z;
    }
    return 0;
}

/* What ConvInteger and QLinearConv share: the geometry and both operands widened to int32
 * with their zero points removed. */
typedef struct qconv {
    conv_geom g;
    int64_t group, m, odims[SP + 2];
    int32_t *xz, *wz;
} qconv;

static int qconv_prepare(eg_kctx *k, const ember_tensor *x, const ember_tensor *xzp,
                         const ember_tensor *w, const ember_tensor *wzp, qconv *q)
{
    if (!x || !w)
        return eg_fail(k, EMBER_EINVAL, "needs inputs x and w");
    if (!is_q8(x) || !is_q8(w))
        return eg_fail(k, EMBER_EUNSUPPORTED, "x and w must be int8 or uint8");
    int rc;
    if ((rc = geom_forward(k, x, w, &q->g)) || (rc = check_groups(k, x, w, &q->group)))
        return rc;
    q->m = w->dims[0];
    out_dims(x, q->m, &q->g, q->odims);
    int64_t nx = ember_tensor_count(x), nw = ember_tensor_count(w);
    q->xz = eg_scratch(k, (size_t)(nx + nw + 1) * sizeof(int32_t));
    if (!q->xz)
        return EMBER_ENOMEM;
    q->wz = q->xz + nx;
    if ((rc = widen(k, x, xzp, 0, q->xz, "x")) || (rc = widen(k, w, wzp, 1, q->wz, "w")))
        return rc;
    return 0;
}

static int conv_integer_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1);
    qconv q;
    int rc = qconv_prepare(k, x, eg_in(k, 2), w, eg_in(k, 3), &q);
    if (rc)
        return rc;
    int32_t *y = eg_out(k, 0, EMBER_DT_INT32, x->rank, q.odims);
    if (!y)
        return EMBER_ENOMEM;
    conv_forward(&q.g, x->dims[0], x->dims[1], q.m, q.group, (const char *)q.xz, (const char *)q.wz,
                 NULL, (char *)y, sizeof(int32_t), row_i32);
    return 0;
}

static int scalar_f32(const ember_tensor *t)
{
    return t && t->dtype == EMBER_DT_FLOAT && t->rank <= 1 && ember_tensor_count(t) == 1;
}

static int qlinear_conv_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *xs = eg_in(k, 1), *w = eg_in(k, 3);
    const ember_tensor *ws = eg_in(k, 4), *ys = eg_in(k, 6), *yzp = eg_in(k, 7);
    const ember_tensor *b = eg_in(k, 8);
    qconv q;
    int rc = qconv_prepare(k, x, eg_in(k, 2), w, eg_in(k, 5), &q);
    if (rc)
        return rc;
    if (!scalar_f32(xs) || !scalar_f32(ys))
        return eg_fail(k, EMBER_ESHAPE, "x_scale and y_scale must be float32 scalars");
    int64_t nws = ws ? ember_tensor_count(ws) : 0;
    if (!ws || ws->dtype != EMBER_DT_FLOAT || ws->rank > 1 || (nws != 1 && nws != q.m))
        return eg_fail(k, EMBER_ESHAPE, "w_scale must be float32 with 1 or %lld values",
                       (long long)q.m);
    if (yzp && (!is_q8(yzp) || yzp->rank > 1 || ember_tensor_count(yzp) != 1))
        return eg_fail(k, EMBER_ESHAPE, "y_zero_point must be an int8 or uint8 scalar");
    if (b && (b->dtype != EMBER_DT_INT32 || b->rank != 1 || b->dims[0] != q.m))
        return eg_fail(k, EMBER_ESHAPE, "B must be int32 with %lld values", (long long)q.m);
    ember_dtype yt = yzp ? yzp->dtype : x->dtype;
    void *y = eg_out(k, 0, yt, x->rank, q.odims);
    int64_t n = y ? ku_count(x->rank, q.odims) : 0;
    int32_t *acc = y ? eg_scratch(k, (size_t)(n + 1) * sizeof(int32_t)) : NULL;
    if (!acc)
        return EMBER_ENOMEM;
    conv_forward(&q.g, x->dims[0], x->dims[1], q.m, q.group, (const char *)q.xz, (const char *)q.wz,
                 b ? b->data : NULL, (char *)acc, sizeof(int32_t), row_i32);

    /* Requantize as the ONNX reference does: the multiplier in float32, the product in
     * double, then round half to even and saturate. */
    float xsv = *(const float *)xs->data, ysv = *(const float *)ys->data;
    double lo = yt == EMBER_DT_INT8 ? -128 : 0, hi = yt == EMBER_DT_INT8 ? 127 : 255;
    double zp = yzp ? (double)ku_get_int(yzp, 0) : 0;
    int64_t plane = ku_count(x->rank - 2, q.odims + 2);
    for (int64_t p = 0; p < q.odims[0] * q.m; p++) {
        float mult = xsv * ((const float *)ws->data)[nws == 1 ? 0 : p % q.m] / ysv;
        for (int64_t i = p * plane; i < (p + 1) * plane; i++) {
            double v = rint((double)acc[i] * mult + zp);
            if (isnan(v))
                v = zp;
            v = v < lo ? lo : v > hi ? hi : v;
            if (yt == EMBER_DT_INT8)
                ((int8_t *)y)[i] = (int8_t)v;
            else
                ((uint8_t *)y)[i] = (uint8_t)v;
        }
    }
    return 0;
}

const eg_op eg_ops_conv[] = {
    {"Conv", "", conv_run},
    {"ConvTranspose", "", conv_transpose_run},
    {"ConvInteger", "", conv_integer_run},
    {"QLinearConv", "", qlinear_conv_run},
    {NULL, NULL, NULL},
};
