/*
 * Reference kernels: BatchNormalization, InstanceNormalization, LayerNormalization, LRN.
 *
 * All float32. Statistics are accumulated in double over the reduced elements so these stay
 * a trustworthy oracle; the per-element pass then applies one fused scale and shift per
 * channel (BatchNormalization, InstanceNormalization) or per row (LayerNormalization).
 * BatchNormalization also runs training_mode=1 (opset 14+): batch statistics normalize the
 * output and update the running mean and variance with `momentum`.
 */
#include <math.h>
#include <stdint.h>

#include "kutil.h"

/* Checks that t is a float32 tensor of exactly n elements (any rank up to 1, or n values). */
static int param_ok(const ember_tensor *t, int64_t n)
{
    return t && t->dtype == EMBER_DT_FLOAT && ember_tensor_count(t) == n;
}

static int batchnorm_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    if (x->rank < 2)
        return eg_fail(k, EMBER_ESHAPE, "X must have rank >= 2, has %d", x->rank);
    int64_t n = x->dims[0], c = x->dims[1], sz = ku_count(x->rank - 2, x->dims + 2);
    /* Opset 7-8 with spatial=0 keeps one parameter per (channel, position). */
    int64_t per = eg_opset(k) < 9 && eg_attr_int(k, "spatial", 1) == 0 ? sz : 1;
    const ember_tensor *sc = eg_in(k, 1), *bs = eg_in(k, 2), *mn = eg_in(k, 3), *vr = eg_in(k, 4);
    if (!param_ok(sc, c * per) || !param_ok(bs, c * per) || !param_ok(mn, c * per) ||
        !param_ok(vr, c * per))
        return eg_fail(k, EMBER_ESHAPE, "scale, B, mean and var must be float32 with %lld values",
                       (long long)(c * per));
    double eps = eg_attr_float(k, "epsilon", 1e-5f);
    double momentum = eg_attr_float(k, "momentum", 0.9f);
    int training = eg_opset(k) >= 14 && eg_attr_int(k, "training_mode", 0) != 0;
    if (!training)
        for (int i = 1; i < eg_nout(k); i++)
            if (eg_out_wanted(k, i))
                return eg_fail(k, EMBER_EUNSUPPORTED, "training outputs need training_mode=1");
    if (training && per != 1)
        return eg_fail(k, EMBER_EUNSUPPORTED, "training mode needs spatial=1");
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    float *rmean = NULL, *rvar = NULL;
    if (training && eg_out_wanted(k, 1) && !(rmean = eg_out(k, 1, EMBER_DT_FLOAT, 1, &c)))
        return EMBER_ENOMEM;
    if (training && eg_out_wanted(k, 2) && !(rvar = eg_out(k, 2, EMBER_DT_FLOAT, 1, &c)))
        return EMBER_ENOMEM;

    const float *X = x->data, *S = sc->data, *B = bs->data, *M = mn->data, *V = vr->data;
    for (int64_t ch = 0; ch < c; ch++) {
        for (int64_t j = 0; j < per; j++) {
            int64_t pi = ch * per + j;
            double mean = M[pi], var = V[pi];
            if (training) {
                double s = 0, s2 = 0, cnt = (double)(n * sz);
                for (int64_t b = 0; b < n; b++)
                    for (int64_t i = 0; i < sz; i++)
                        s += X[(b * c + ch) * sz + i];
                mean = cnt ? s / cnt : 0;
                for (int64_t b = 0; b < n; b++) {
                    for (int64_t i = 0; i < sz; i++) {
                        double dv = X[(b * c + ch) * sz + i] - mean;
                        s2 += dv * dv;
                    }
                }
                var = cnt ? s2 / cnt : 0;
                if (rmean)
                    rmean[ch] = (float)(M[pi] * momentum + mean * (1 - momentum));
                if (rvar)
                    rvar[ch] = (float)(V[pi] * momentum + var * (1 - momentum));
            }
            double mul = S[pi] / sqrt(var + eps), add = B[pi] - mean * mul;
            /* Per-element parameters (spatial=0) step through one position at a time. */
            int64_t i0 = per == 1 ? 0 : j, i1 = per == 1 ? sz : j + 1;
            for (int64_t b = 0; b < n; b++) {
                const float *xp = X + (b * c + ch) * sz;
                float *yp = y + (b * c + ch) * sz;
                for (int64_t i = i0; i < i1; i++)
                    yp[i] = (float)(xp[i] * mul + add);
            }
        }
    }
    return 0;
}

static int instancenorm_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *sc = eg_in(k, 1), *bs = eg_in(k, 2);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    if (x->rank < 2)
        return eg_fail(k, EMBER_ESHAPE, "X must have rank >= 2, has %d", x->rank);
    int64_t n = x->dims[0], c = x->dims[1], sz = ku_count(x->rank - 2, x->dims + 2);
    if (!param_ok(sc, c) || !param_ok(bs, c))
        return eg_fail(k, EMBER_ESHAPE, "scale and B must be float32 with %lld values",
                       (long long)c);
    double eps = eg_attr_float(k, "epsilon", 1e-5f);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    const float *X = x->data, *S = sc->data, *B = bs->data;
    for (int64_t p = 0; p < n * c; p++) {
        const float *xp = X + p * sz;
        float *yp = y + p * sz;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < sz; i++)
            s += xp[i];
        double mean = sz ? s / (double)sz : 0;
        for (int64_t i = 0; i < sz; i++)
            s2 += (xp[i] - mean) * (xp[i] - mean);
        double var = sz ? s2 / (double)sz : 0;
        double mul = S[p % c] / sqrt(var + eps), add = B[p % c] - mean * mul;
        for (int64_t i = 0; i < sz; i++)
            yp[i] = (float)(xp[i] * mul + add);
    }
    return 0;
}

/* Expands a parameter that broadcasts to the normalized shape dims[0..r) into d values. */
static int expand_param(eg_kctx *k, const ember_tensor *t, int r, const int64_t *dims, float *out,
                        const char *what)
{
    int64_t bd[EMBER_MAX_RANK];
    ember_tensor shape = {.rank = r};
    memcpy(shape.dims, dims, (size_t)r * sizeof *dims);
    if (t->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_ESHAPE, "%s must be float32", what);
    if (t->rank > r || ku_broadcast_shape(t, &shape, bd) != r ||
        memcmp(bd, dims, (size_t)r * sizeof *dims))
        return eg_fail(k, EMBER_ESHAPE, "%s does not broadcast to the normalized shape", what);
    ku_iter it;
    ku_iter_init(&it, r, dims, 1, &t);
    int64_t d = ku_count(r, dims);
    for (int64_t i = 0; i < d; i++, ku_iter_next(&it))
        out[i] = ((const float *)t->data)[it.off[0]];
    return 0;
}

static int layernorm_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0), *sc = eg_in(k, 1), *bs = eg_in(k, 2);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    if (!sc)
        return eg_fail(k, EMBER_EINVAL, "needs input Scale");
    int axis = ku_axis(eg_attr_int(k, "axis", -1), x->rank);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", x->rank);
    int64_t stash = eg_attr_int(k, "stash_type", 1);
    if (stash != 1)
        return eg_fail(k, EMBER_EUNSUPPORTED, "stash_type %lld is not supported", (long long)stash);
    double eps = eg_attr_float(k, "epsilon", 1e-5f);
    int tr = x->rank - axis;
    int64_t rows = ku_count(axis, x->dims), d = ku_count(tr, x->dims + axis);
    float *scale = eg_scratch(k, (size_t)(2 * d + 1) * sizeof(float));
    if (!scale)
        return EMBER_ENOMEM;
    float *bias = scale + d;
    int rc = expand_param(k, sc, tr, x->dims + axis, scale, "Scale");
    if (rc || (bs && (rc = expand_param(k, bs, tr, x->dims + axis, bias, "B"))))
        return rc;
    if (!bs)
        memset(bias, 0, (size_t)d * sizeof(float));

    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t sdims[EMBER_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        sdims[i] = i < axis ? x->dims[i] : 1;
    float *mean_out = NULL, *inv_out = NULL;
    if (eg_out_wanted(k, 1) && !(mean_out = eg_out(k, 1, EMBER_DT_FLOAT, x->rank, sdims)))
        return EMBER_ENOMEM;
    if (eg_out_wanted(k, 2) && !(inv_out = eg_out(k, 2, EMBER_DT_FLOAT, x->rank, sdims)))
        return EMBER_ENOMEM;

    const float *X = x->data;
    for (int64_t r = 0; r < rows; r++) {
        const float *xp = X + r * d;
        float *yp = y + r * d;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < d; i++)
            s += xp[i];
        double mean = d ? s / (double)d : 0;
        for (int64_t i = 0; i < d; i++)
            s2 += (xp[i] - mean) * (xp[i] - mean);
        double inv = 1.0 / sqrt((d ? s2 / (double)d : 0) + eps);
        for (int64_t i = 0; i < d; i++)
            yp[i] = (float)((xp[i] - mean) * inv * scale[i] + bias[i]);
        if (mean_out)
            mean_out[r] = (float)mean;
        if (inv_out)
            inv_out[r] = (float)inv;
    }
    return 0;
}

static int lrn_run(eg_kctx *k)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    if (x->rank < 2)
        return eg_fail(k, EMBER_ESHAPE, "X must have rank >= 2, has %d", x->rank);
    int64_t size = eg_attr_int(k, "size", 0);
    if (size < 1)
        return eg_fail(k, EMBER_EINVAL, "size must be a positive integer");
    double alpha = eg_attr_float(k, "alpha", 1e-4f), beta = eg_attr_float(k, "beta", 0.75f);
    double bias = eg_attr_float(k, "bias", 1.0f);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t n = x->dims[0], c = x->dims[1], sz = ku_count(x->rank - 2, x->dims + 2);
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    const float *X = x->data;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t c0 = ch - before < 0 ? 0 : ch - before;
            int64_t c1 = ch + after >= c ? c - 1 : ch + after;
            for (int64_t i = 0; i < sz; i++) {
                double sq = 0;
                for (int64_t j = c0; j <= c1; j++) {
                    double v = X[(b * c + j) * sz + i];
                    sq += v * v;
                }
                int64_t o = (b * c + ch) * sz + i;
                y[o] = (float)(X[o] / pow(bias + alpha / (double)size * sq, beta));
            }
        }
    }
    return 0;
}

const eg_op eg_ops_norm[] = {
    {"BatchNormalization", "", batchnorm_run},
    {"InstanceNormalization", "", instancenorm_run},
    {"LayerNormalization", "", layernorm_run},
    {"LRN", "", lrn_run},
    {NULL, NULL, NULL},
};
