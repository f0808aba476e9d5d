/*
 * Reference kernel: Resize (opsets 10 to 19).
 *
 * Every interpolation mode ONNX defines is separable, so the kernel resizes one axis at a
 * time. For each resized axis it first builds a tap table: for every output index, the input
 * indices (clamped to the edge, as the ONNX reference pads) and weights that produce it, or a
 * flag that the point lies outside the tf_crop_and_resize box. A pass then applies the table
 * along that axis over an [outer, len, inner] view. Nearest is a gather of whole elements and
 * works for any element type; linear and cubic (with antialias, exclude_outside) are float32.
 * Axes whose mapping is the identity are skipped, and shrinking axes run before growing ones.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kutil.h"

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_TF_CROP };
enum { NM_PREFER_FLOOR, NM_PREFER_CEIL, NM_FLOOR, NM_CEIL };

typedef struct resize_cfg {
    int mode, ctm, nearest, antialias, exclude_outside;
    double cubic_a;
    float extrapolation;
} resize_cfg;

/* Taps of one axis: n per output index; skip[o] marks points outside the crop box. */
typedef struct axis_taps {
    int n;
    int64_t *idx;
    float *w;
    uint8_t *skip;
} axis_taps;

static int lookup(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static int read_cfg(eg_kctx *k, resize_cfg *c)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel",         "half_pixel_symmetric",
                                       "pytorch_half_pixel", "align_corners",
                                       "asymmetric",         "tf_crop_and_resize"};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int opset = eg_opset(k);
    const char *mode = eg_attr_str(k, "mode", "nearest");
    c->mode = lookup(mode, modes, 3);
    if (c->mode < 0 || (opset < 11 && c->mode == M_CUBIC))
        return eg_fail(k, EMBER_EINVAL, "unknown mode '%s'", mode);
    if (opset < 11) {
        /* Opset 10 maps coordinates like Upsample: x / scale, nearest rounds down. */
        c->ctm = CT_ASYM;
        c->nearest = NM_FLOOR;
    } else {
        const char *ct = eg_attr_str(k, "coordinate_transformation_mode", "half_pixel");
        const char *nm = eg_attr_str(k, "nearest_mode", "round_prefer_floor");
        c->ctm = lookup(ct, ctms, 6);
        c->nearest = lookup(nm, nms, 4);
        if (c->ctm < 0 || (opset < 19 && c->ctm == CT_HALF_PIXEL_SYM))
            return eg_fail(k, EMBER_EINVAL, "unknown coordinate_transformation_mode '%s'", ct);
        if (c->nearest < 0)
            return eg_fail(k, EMBER_EINVAL, "unknown nearest_mode '%s'", nm);
    }
    c->cubic_a = eg_attr_float(k, "cubic_coeff_a", -0.75f);
    c->exclude_outside = eg_attr_int(k, "exclude_outside", 0) != 0;
    c->extrapolation = eg_attr_float(k, "extrapolation_value", 0.0f);
    c->antialias = opset >= 18 && eg_attr_int(k, "antialias", 0) != 0;
    return 0;
}

/* Maps output coordinate o of an axis to the input coordinate; *outside for points off the
 * tf_crop_and_resize box. out_f is in * scale, which the ONNX reference (not the integer output
 * length) uses for align_corners and tf_crop_and_resize. */
static double source_coord(const resize_cfg *c, int64_t o, int64_t in, int64_t out, double scale,
                           double r0, double r1, int *outside)
{
    double x = (double)o, out_f = scale * (double)in, src;
    *outside = 0;
    switch (c->ctm) {
    case CT_ALIGN: src = out_f == 1 ? 0 : x * (double)(in - 1) / (out_f - 1); break;
    case CT_ASYM: src = x / scale; break;
    case CT_PYTORCH: src = out > 1 ? (x + 0.5) / scale - 0.5 : 0; break;
    case CT_HALF_PIXEL_SYM: {
        double offset = (double)in / 2 * (1 - (double)out / out_f);
        src = offset + (x + 0.5) / scale - 0.5;
        break;
    }
    case CT_TF_CROP:
        if (out_f == 1)
            src = (r1 - r0) * (double)(in - 1) / 2;
        else
            src = x * (r1 - r0) * (double)(in - 1) / (out_f - 1);
        src += r0 * (double)(in - 1);
        *outside = !(src >= 0 && src <= (double)(in - 1));
        break;
    default: src = (x + 0.5) / scale - 0.5; break;
    }
    return src;
}

static double kernel_weight(const resize_cfg *c, double t)
{
    t = fabs(t);
    if (c->mode == M_LINEAR)
        return t < 1 ? 1 - t : 0;
    double a = c->cubic_a;
    if (t <= 1)
        return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2)
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

/* The extrapolation value as one element of type dt, saturated for the integer types. */
static void fill_value(ember_dtype dt, float v, void *p)
{
    double lo = 0, hi = 0, d = isnan(v) ? 0 : v;
    switch (dt) {
    case EMBER_DT_FLOAT: *(float *)p = v; return;
    case EMBER_DT_INT64: lo = -9.2e18, hi = 9.2e18; break;
    case EMBER_DT_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case EMBER_DT_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    default: lo = 0, hi = UINT8_MAX; break;
    }
    d = d < lo ? lo : d > hi ? hi : d;
    switch (dt) {
    case EMBER_DT_INT64: *(int64_t *)p = (int64_t)d; break;
    case EMBER_DT_INT32: *(int32_t *)p = (int32_t)d; break;
    case EMBER_DT_INT8: *(int8_t *)p = (int8_t)d; break;
    default: *(uint8_t *)p = (uint8_t)d; break;
    }
}

static int64_t clamp_index(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Fills the tap table of one axis (t->idx etc. sized by the caller from taps_per_output). */
static void build_taps(const resize_cfg *c, int64_t in, int64_t out, double scale, double r0,
                       double r1, axis_taps *t)
{
    double s = c->antialias && scale < 1 ? scale : 1; /* kernel stretch when antialiasing */
    int half = t->n / 2;
    for (int64_t o = 0; o < out; o++) {
        int outside;
        double x = source_coord(c, o, in, out, scale, r0, r1, &outside);
        int64_t *idx = t->idx + o * t->n;
        float *w = t->w + o * t->n;
        t->skip[o] = (uint8_t)outside;
        if (outside)
            continue;
        double fl = floor(x), ratio = x - fl;
        if (c->mode == M_NEAREST) {
            int64_t i = (int64_t)fl;
            if (ratio != 0) {
                int up = c->nearest == NM_CEIL || (c->nearest == NM_PREFER_FLOOR && ratio > 0.5) ||
                         (c->nearest == NM_PREFER_CEIL && ratio >= 0.5);
                i += up;
            }
            idx[0] = clamp_index(i, in);
            w[0] = 1;
            continue;
        }
        /* Antialiased and exclude_outside weights are renormalized to sum to one. */
        int normalize = (c->antialias && s < 1) || c->exclude_outside;
        double sum = 0;
        int64_t first = (int64_t)fl - half + 1;
        for (int j = 0; j < t->n; j++) {
            int64_t i = first + j;
            int inside = i >= 0 && i < in;
            double wj = c->exclude_outside && !inside ? 0 : kernel_weight(c, ((double)i - x) * s);
            idx[j] = clamp_index(i, in);
            w[j] = (float)wj;
            sum += wj;
        }
        if (normalize && sum != 0)
            for (int j = 0; j < t->n; j++) {
                int64_t i = first + j;
                int inside = i >= 0 && i < in;
                double wj =
                    c->exclude_outside && !inside ? 0 : kernel_weight(c, ((double)i - x) * s);
                w[j] = (float)(wj / sum);
            }
    }
}

static int taps_per_output(const resize_cfg *c, double scale)
{
    if (c->mode == M_NEAREST)
        return 1;
    double support = c->mode == M_LINEAR ? 1 : 2;
    double s = c->antialias && scale < 1 ? scale : 1;
    return 2 * (int)ceil(support / s);
}

/* One separable pass along an axis of the [outer, in, inner] view src into [outer, out, inner]. */
static void pass_float(const resize_cfg *c, const axis_taps *t, const float *src, float *dst,
                       int64_t outer, int64_t in, int64_t out, int64_t inner)
{
    for (int64_t a = 0; a < outer; a++) {
        const float *sp = src + a * in * inner;
        for (int64_t o = 0; o < out; o++) {
            float *dp = dst + (a * out + o) * inner;
            if (t->skip[o]) {
                for (int64_t i = 0; i < inner; i++)
                    dp[i] = c->extrapolation;
                continue;
            }
            const int64_t *idx = t->idx + o * t->n;
            const float *w = t->w + o * t->n;
            for (int64_t i = 0; i < inner; i++) {
                double acc = 0;
                for (int j = 0; j < t->n; j++)
                    acc += (double)w[j] * sp[idx[j] * inner + i];
                dp[i] = (float)acc;
            }
        }
    }
}

static void pass_gather(const axis_taps *t, const void *fill, const char *src, char *dst, size_t es,
                        int64_t outer, int64_t in, int64_t out, int64_t inner)
{
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t o = 0; o < out; o++) {
            char *dp = dst + (size_t)((a * out + o) * inner) * es;
            if (t->skip[o]) {
                for (int64_t i = 0; i < inner; i++)
                    memcpy(dp + i * es, fill, es);
                continue;
            }
            memcpy(dp, src + (size_t)((a * in + t->idx[o]) * inner) * es, (size_t)inner * es);
        }
    }
}

/* Reads scales, sizes, roi and axes into per-axis scale[], out[], r0[], r1[]. */
static int resize_shape(eg_kctx *k, const resize_cfg *c, const ember_tensor *x, double *scale,
                        int64_t *out, double *r0, double *r1)
{
    int opset = eg_opset(k), r = x->rank;
    const ember_tensor *roi = NULL, *sc, *sz = NULL;
    if (opset < 11) {
        sc = eg_in(k, 1);
    } else {
        roi = eg_in(k, 1);
        sc = eg_in(k, 2);
        sz = eg_in(k, 3);
    }
    if (sc && ember_tensor_count(sc) == 0)
        sc = NULL;
    if (sz && ember_tensor_count(sz) == 0)
        sz = NULL;
    if (!!sc == !!sz)
        return eg_fail(k, EMBER_EINVAL, "exactly one of scales and sizes must be given");

    int axes[EMBER_MAX_RANK], na = r;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    const int64_t *av;
    int nav = opset >= 18 ? eg_attr_ints(k, "axes", &av) : -1;
    if (nav >= 0) {
        if (nav > r)
            return eg_fail(k, EMBER_EINVAL, "axes has %d values for rank %d", nav, r);
        int seen = 0;
        for (int i = 0; i < nav; i++) {
            axes[i] = ku_axis(av[i], r);
            if (axes[i] < 0 || (seen & (1 << axes[i])))
                return eg_fail(k, EMBER_EINVAL, "axes[%d] = %lld is out of range or repeated", i,
                               (long long)av[i]);
            seen |= 1 << axes[i];
        }
        na = nav;
    }

    for (int i = 0; i < r; i++) {
        scale[i] = 1;
        out[i] = x->dims[i];
        r0[i] = 0;
        r1[i] = 1;
    }
    if (c->ctm == CT_TF_CROP) {
        if (!roi || roi->dtype != EMBER_DT_FLOAT || ember_tensor_count(roi) != 2 * na)
            return eg_fail(k, EMBER_EINVAL, "tf_crop_and_resize needs a float32 roi of %d values",
                           2 * na);
        const float *rv = roi->data;
        for (int i = 0; i < na; i++) {
            r0[axes[i]] = rv[i];
            r1[axes[i]] = rv[na + i];
        }
    }
    if (sc) {
        if (sc->dtype != EMBER_DT_FLOAT || ember_tensor_count(sc) != na)
            return eg_fail(k, EMBER_EINVAL, "scales must be float32 with %d values", na);
        for (int i = 0; i < na; i++) {
            double s = ((const float *)sc->data)[i];
            int a = axes[i];
            if (!(s > 0) || s * (double)x->dims[a] > INT32_MAX)
                return eg_fail(k, EMBER_EINVAL, "scale %g out of range", s);
            scale[a] = s;
            out[a] = (int64_t)floor(s * (double)x->dims[a]);
        }
        return 0;
    }
    if (sz->dtype != EMBER_DT_INT64 || ember_tensor_count(sz) != na)
        return eg_fail(k, EMBER_EINVAL, "sizes must be int64 with %d values", na);
    for (int i = 0; i < na; i++) {
        int64_t v = ((const int64_t *)sz->data)[i];
        int a = axes[i];
        if (v < 1 || v > INT32_MAX || x->dims[a] < 1)
            return eg_fail(k, EMBER_EINVAL, "size %lld for an axis of %lld out of range",
                           (long long)v, (long long)x->dims[a]);
        out[a] = v;
        scale[a] = (double)v / (double)x->dims[a];
    }
    const char *policy =
        opset >= 18 ? eg_attr_str(k, "keep_aspect_ratio_policy", "stretch") : "stretch";
    if (!strcmp(policy, "stretch"))
        return 0;
    int larger = !strcmp(policy, "not_smaller");
    if (!larger && strcmp(policy, "not_larger"))
        return eg_fail(k, EMBER_EINVAL, "unknown keep_aspect_ratio_policy '%s'", policy);
    double s = scale[axes[0]];
    for (int i = 1; i < na; i++)
        if (larger ? scale[axes[i]] > s : scale[axes[i]] < s)
            s = scale[axes[i]];
    for (int i = 0; i < na; i++) {
        int a = axes[i];
        scale[a] = s;
        out[a] = (int64_t)(s * (double)x->dims[a] + 0.5);
        if (out[a] > INT32_MAX)
            return eg_fail(k, EMBER_EINVAL, "output size out of range");
    }
    return 0;
}

static int resize_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "needs input X");
    resize_cfg c;
    int rc = read_cfg(k, &c);
    if (rc)
        return rc;
    size_t es = ember_dtype_size(x->dtype);
    if (es == 0 || (c.mode != M_NEAREST && x->dtype != EMBER_DT_FLOAT))
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s mode does not support %s",
                       c.mode == M_NEAREST ? "nearest" : "linear/cubic",
                       ember_dtype_name(x->dtype));
    if (x->rank < 1)
        return eg_fail(k, EMBER_ESHAPE, "X must have rank >= 1");
    int r = x->rank;
    double scale[EMBER_MAX_RANK], r0[EMBER_MAX_RANK], r1[EMBER_MAX_RANK];
    int64_t out[EMBER_MAX_RANK];
    if ((rc = resize_shape(k, &c, x, scale, out, r0, r1)))
        return rc;
    void *y = eg_out(k, 0, x->dtype, r, out);
    if (!y)
        return EMBER_ENOMEM;
    if (ember_tensor_count(eg_out_tensor(k, 0)) == 0)
        return 0;

    /* Axes to resample, and the largest intermediate and tap table they need. */
    int active[EMBER_MAX_RANK], nact = 0;
    int64_t cur[EMBER_MAX_RANK], biggest = 0, tap_count = 0, maxout = 0;
    memcpy(cur, x->dims, (size_t)r * sizeof *cur);
    /* Shrinking axes go first, so no intermediate is larger than both X and Y. */
    for (int i = 0; i < 2 * r; i++) {
        int a = i % r, grow = i >= r;
        int crop = c.ctm == CT_TF_CROP && (r0[a] != 0 || r1[a] != 1);
        if ((out[a] == x->dims[a] && scale[a] == 1 && !crop) || (out[a] > x->dims[a]) != grow)
            continue;
        if (x->dims[a] < 1)
            return eg_fail(k, EMBER_ESHAPE, "cannot resize an empty axis");
        active[nact++] = a;
        cur[a] = out[a];
        int64_t n = ku_count(r, cur), tb = out[a] * taps_per_output(&c, scale[a]);
        biggest = n > biggest ? n : biggest;
        tap_count = tb > tap_count ? tb : tap_count;
        maxout = out[a] > maxout ? out[a] : maxout;
    }
    if (nact == 0) {
        memcpy(y, x->data, (size_t)ember_tensor_count(x) * es);
        return 0;
    }
    /* Intermediates ping-pong between two buffers; the last pass writes Y. */
    size_t bufsz = nact > 1 ? ((size_t)biggest * es + 7) / 8 * 8 : 0;
    size_t tsz = (size_t)tap_count * (sizeof(int64_t) + sizeof(float)) + (size_t)maxout;
    char *mem = eg_scratch(k, 2 * bufsz + tsz + 8);
    if (!mem)
        return EMBER_ENOMEM;
    char *bufs[2] = {mem, mem + bufsz};
    axis_taps t;
    t.idx = (int64_t *)(mem + 2 * bufsz);
    t.w = (float *)(t.idx + tap_count);
    t.skip = (uint8_t *)(t.w + tap_count);
    /* The extrapolation value as one element of X's type, for nearest on any type. */
    int64_t fill[1];
    fill_value(x->dtype, c.extrapolation, fill);

    memcpy(cur, x->dims, (size_t)r * sizeof *cur);
    const char *src = x->data;
    for (int s = 0; s < nact; s++) {
        int a = active[s];
        char *dst = s == nact - 1 ? (char *)y : bufs[s & 1];
        t.n = taps_per_output(&c, scale[a]);
        build_taps(&c, cur[a], out[a], scale[a], r0[a], r1[a], &t);
        int64_t outer = ku_count(a, cur), inner = ku_count(r - a - 1, cur + a + 1);
        if (c.mode == M_NEAREST)
            pass_gather(&t, fill, src, dst, es, outer, cur[a], out[a], inner);
        else
            pass_float(&c, &t, (const float *)src, (float *)dst, outer, cur[a], out[a], inner);
        cur[a] = out[a];
        src = dst;
    }
    return 0;
}

const eg_op eg_ops_resize[] = {
    {"Resize", "", resize_run},
    {NULL, NULL, NULL},
};
