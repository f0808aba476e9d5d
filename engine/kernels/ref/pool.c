/*
 * Reference kernels: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.
 *
 * Windowed pools reduce spatial shapes to three dims (unit dims in front) like conv.c. For each
 * output position the range of kernel taps that land inside the input is computed per dim, so
 * padding is never materialized: max ignores padded taps, average divides either by the taps
 * inside the input or (count_include_pad) by those inside the padded input. MaxPool works on
 * float32, int8 and uint8 by comparing values widened to double, which is exact for all three.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "window.h"

#define SP WIN_SP

typedef win_geom pool_geom;

/* Validates X and works out the output geometry from the node's attributes. */
static int pool_geometry(eg_kctx *k, const ember_tensor *x, pool_geom *g)
{
    if (x->rank < 3 || x->rank > SP + 2)
        return eg_fail(k, EMBER_EUNSUPPORTED, "X must have rank 3 to %d, has %d", SP + 2, x->rank);
    int nsp = x->rank - 2;
    win_init(g, x);
    if (!eg_has_attr(k, "kernel_shape"))
        return eg_fail(k, EMBER_EINVAL, "kernel_shape is required");
    int rc;
    if ((rc = win_read_spatial(k, "kernel_shape", nsp, 1, g->k, NULL)) ||
        (rc = win_read_spatial(k, "strides", nsp, 1, g->s, NULL)) ||
        (rc = win_read_spatial(k, "dilations", nsp, 1, g->d, NULL)))
        return rc;
    int ap = win_read_auto_pad(k);
    if (ap < 0)
        return ap;
    int same_upper = ap == WIN_PAD_SAME_UPPER, same_lower = ap == WIN_PAD_SAME_LOWER;
    int valid = ap == WIN_PAD_VALID;
    if (!same_upper && !same_lower && !valid &&
        (rc = win_read_spatial(k, "pads", nsp, 0, g->pb, g->pe)))
        return rc;
    int64_t ceil_mode = eg_attr_int(k, "ceil_mode", 0);
    for (int i = 0; i < SP; i++) {
        int64_t span = (g->k[i] - 1) * g->d[i] + 1;
        if (same_upper || same_lower) {
            g->out[i] = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (g->out[i] - 1) * g->s[i] + span - g->in[i];
            if (total < 0)
                total = 0;
            g->pb[i] = same_upper ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            continue;
        }
        int64_t padded = g->in[i] + g->pb[i] + g->pe[i];
        if (padded < span)
            return eg_fail(k, EMBER_ESHAPE, "kernel (extent %lld) larger than padded input %lld",
                           (long long)span, (long long)padded);
        int64_t q = padded - span;
        g->out[i] = (ceil_mode ? (q + g->s[i] - 1) / g->s[i] : q / g->s[i]) + 1;
        /* A window may hang over the end only if it starts inside the input or left pad. */
        if (ceil_mode && (g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i])
            g->out[i]--;
    }
    return 0;
}

/* Taps t in [0, K) with o * s - pb + t * d in [lo_bound, hi_bound): [*t0, *t1). */
static void window(int64_t o, int64_t s, int64_t pb, int64_t d, int64_t kk, int64_t lo_bound,
                   int64_t hi_bound, int64_t *t0, int64_t *t1)
{
    int64_t start = o * s - pb;
    int64_t a = start >= lo_bound ? 0 : (lo_bound - start + d - 1) / d;
    int64_t b = hi_bound - 1 - start < 0 ? 0 : (hi_bound - 1 - start) / d + 1;
    if (b > kk)
        b = kk;
    if (a > b)
        a = b;
    *t0 = a;
    *t1 = b;
}

static double load(const void *p, ember_dtype dt, int64_t i)
{
    switch (dt) {
    case EMBER_DT_INT8: return ((const int8_t *)p)[i];
    case EMBER_DT_UINT8: return ((const uint8_t *)p)[i];
    default: return ((const float *)p)[i];
    }
}

/* A window lying wholly in the padding has max -inf, which an integer type holds as its
 * minimum. */
static void store(void *p, ember_dtype dt, int64_t i, double v)
{
    switch (dt) {
    case EMBER_DT_INT8: ((int8_t *)p)[i] = (int8_t)(v < INT8_MIN ? INT8_MIN : v); break;
    case EMBER_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)(v < 0 ? 0 : v); break;
    default: ((float *)p)[i] = (float)v; break;
    }
}

static int pool_run(eg_kctx *k, int is_max)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x)
        return eg_fail(k, EMBER_EINVAL, "needs input X");
    ember_dtype dt = x->dtype;
    if (dt != EMBER_DT_FLOAT &&
        !(is_max && eg_opset(k) >= 12 && (dt == EMBER_DT_INT8 || dt == EMBER_DT_UINT8)))
        return eg_fail(k, EMBER_EUNSUPPORTED, "unsupported type %s", ember_dtype_name(dt));
    pool_geom g;
    int rc = pool_geometry(k, x, &g);
    if (rc)
        return rc;
    int64_t storage_order = eg_attr_int(k, "storage_order", 0);
    int64_t include_pad = eg_attr_int(k, "count_include_pad", 0);
    if (storage_order != 0 && storage_order != 1)
        return eg_fail(k, EMBER_EINVAL, "storage_order must be 0 or 1");

    int64_t odims[SP + 2] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < g.nsp; i++)
        odims[2 + i] = g.out[SP - g.nsp + i];
    void *y = eg_out(k, 0, dt, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t *idx = NULL;
    if (is_max && eg_out_wanted(k, 1)) {
        idx = eg_out(k, 1, EMBER_DT_INT64, x->rank, odims);
        if (!idx)
            return EMBER_ENOMEM;
    }

    /* Strides of a spatial position in the Indices numbering (column-major if asked). */
    int64_t ist[SP];
    if (storage_order) {
        int64_t s = 1;
        for (int i = 0; i < SP; i++) {
            ist[i] = s;
            s *= g.in[i];
        }
    } else {
        ist[SP - 1] = 1;
        for (int i = SP - 2; i >= 0; i--)
            ist[i] = ist[i + 1] * g.in[i + 1];
    }

    int64_t planes = x->dims[0] * x->dims[1];
    int64_t insz = g.in[0] * g.in[1] * g.in[2], outsz = g.out[0] * g.out[1] * g.out[2];
    for (int64_t p = 0; p < planes; p++) {
        int64_t xoff = p * insz, o = p * outsz;
        for (int64_t od = 0; od < g.out[0]; od++) {
            int64_t d0, d1, pd0, pd1;
            window(od, g.s[0], g.pb[0], g.d[0], g.k[0], 0, g.in[0], &d0, &d1);
            window(od, g.s[0], g.pb[0], g.d[0], g.k[0], -g.pb[0], g.in[0] + g.pe[0], &pd0, &pd1);
            for (int64_t oh = 0; oh < g.out[1]; oh++) {
                int64_t h0, h1, ph0, ph1;
                window(oh, g.s[1], g.pb[1], g.d[1], g.k[1], 0, g.in[1], &h0, &h1);
                window(oh, g.s[1], g.pb[1], g.d[1], g.k[1], -g.pb[1], g.in[1] + g.pe[1], &ph0,
                       &ph1);
                for (int64_t ow = 0; ow < g.out[2]; ow++, o++) {
                    int64_t w0, w1, pw0, pw1;
                    window(ow, g.s[2], g.pb[2], g.d[2], g.k[2], 0, g.in[2], &w0, &w1);
                    window(ow, g.s[2], g.pb[2], g.d[2], g.k[2], -g.pb[2], g.in[2] + g.pe[2], &pw0,
                           &pw1);
                    double best = -INFINITY, sum = 0;
                    int64_t arg = -1;
                    for (int64_t td = d0; td < d1; td++) {
                        int64_t id = od * g.s[0] - g.pb[0] + td * g.d[0];
                        for (int64_t th = h0; th < h1; th++) {
                            int64_t ih = oh * g.s[1] - g.pb[1] + th * g.d[1];
                            int64_t row = xoff + (id * g.in[1] + ih) * g.in[2];
                            for (int64_t tw = w0; tw < w1; tw++) {
                                int64_t iw = ow * g.s[2] - g.pb[2] + tw * g.d[2];
                                double v = load(x->data, dt, row + iw);
                                if (!is_max) {
                                    sum += v;
                                } else if (arg < 0 || v > best || isnan(best)) {
                                    best = v;
                                    arg = p * insz + id * ist[0] + ih * ist[1] + iw * ist[2];
                                }
                            }
                        }
                    }
                    if (is_max) {
                        store(y, dt, o, best);
                        if (idx)
                            idx[o] = arg;
                    } else {
                        int64_t cnt = include_pad ? (pd1 - pd0) * (ph1 - ph0) * (pw1 - pw0)
                                                  : (d1 - d0) * (h1 - h0) * (w1 - w0);
                        store(y, dt, o, cnt ? sum / (double)cnt : NAN);
                    }
                }
            }
        }
    }
    return 0;
}

static int maxpool_run(eg_kctx *k)
{
    return pool_run(k, 1);
}

static int avgpool_run(eg_kctx *k)
{
    return pool_run(k, 0);
}

static int global_pool_run(eg_kctx *k, int is_max)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    if (x->rank < 2)
        return eg_fail(k, EMBER_ESHAPE, "X must have rank >= 2, has %d", x->rank);
    int64_t odims[EMBER_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        odims[i] = i < 2 ? x->dims[i] : 1;
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t planes = x->dims[0] * x->dims[1], sz = ku_count(x->rank - 2, x->dims + 2);
    const float *in = x->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = in + p * sz;
        if (is_max) {
            float best = -INFINITY;
            for (int64_t i = 0; i < sz; i++)
                if (xp[i] > best || isnan(xp[i]))
                    best = xp[i];
            y[p] = best;
        } else {
            double sum = 0;
            for (int64_t i = 0; i < sz; i++)
                sum += xp[i];
            y[p] = sz ? (float)(sum / (double)sz) : NAN;
        }
    }
    return 0;
}

static int global_maxpool_run(eg_kctx *k)
{
    return global_pool_run(k, 1);
}

static int global_avgpool_run(eg_kctx *k)
{
    return global_pool_run(k, 0);
}

const eg_op eg_ops_pool[] = {
    {"MaxPool", "", maxpool_run},
    {"AveragePool", "", avgpool_run},
    {"GlobalMaxPool", "", global_maxpool_run},
    {"GlobalAveragePool", "", global_avgpool_run},
    {NULL, NULL, NULL},
};
