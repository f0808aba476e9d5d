/*
 * MaxPool (float32, 2-D, without the Indices output), GlobalAveragePool (float32), and
 * ReduceMean and ReduceSum over trailing axes (float32) on the x86 kernels; other pools and
 * forms go to the reference.
 *
 * The 3x3 pools (dilation 1, horizontal stride 1 or 2) read the input plane directly: vectors
 * of outputs whose windows lie inside it, the border (padding, ceil_mode's overhang) one
 * output at a time. Other shapes, and rows too narrow for one vector of interior outputs,
 * copy each plane once into scratch padded with -inf (even and odd columns apart for
 * horizontal stride 2), so every window is a run of contiguous vector maxima with no bounds
 * checks; ceil_mode's overhanging windows read the -inf padding too. A NaN input is skipped
 * rather than propagated, except that a window of NaNs only is NaN, as in the reference.
 */
#include <math.h>
#include <string.h>

#include "../ref/kutil.h"
#include "seq.h"
#include "x86ops.h"

/* The geometry as the reference computes it, or 0 for a form left to the reference. */
static int pool_geom(eg_kctx *k, const ember_tensor *x, eg_dw *d, int64_t *pt, int64_t *pl)
{
    const int64_t *ks, *st, *dl, *pads;
    int64_t s[2] = {1, 1}, di[2] = {1, 1}, pb[2] = {0, 0}, pe[2] = {0, 0};
    if (eg_attr_ints(k, "kernel_shape", &ks) != 2)
        return 0;
    int ns = eg_attr_ints(k, "strides", &st), nd = eg_attr_ints(k, "dilations", &dl);
    int np = eg_attr_ints(k, "pads", &pads);
    if ((ns >= 0 && ns != 2) || (nd >= 0 && nd != 2) || (np >= 0 && np != 4))
        return 0;
    const char *ap = eg_attr_str(k, "auto_pad", "NOTSET");
    int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!same && strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && *ap)
        return 0;
    int64_t ceil_mode = eg_attr_int(k, "ceil_mode", 0), out[2];
    for (int i = 0; i < 2; i++) {
        if (ks[i] < 1 || ks[i] > INT32_MAX || (ns == 2 && (st[i] < 1 || st[i] > INT32_MAX)) ||
            (nd == 2 && (dl[i] < 1 || dl[i] > INT32_MAX)) ||
            (np == 4 &&
             (pads[i] < 0 || pads[i + 2] < 0 || pads[i] > INT32_MAX || pads[i + 2] > INT32_MAX)))
            return 0;
        s[i] = ns == 2 ? st[i] : 1;
        di[i] = nd == 2 ? dl[i] : 1;
        if (np == 4 && !same && strcmp(ap, "VALID") != 0)
            pb[i] = pads[i], pe[i] = pads[i + 2];
        int64_t in = x->dims[2 + i], span = (ks[i] - 1) * di[i] + 1;
        if (same) {
            out[i] = (in + s[i] - 1) / s[i];
            int64_t total = (out[i] - 1) * s[i] + span - in;
            total = total < 0 ? 0 : total;
            pb[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            continue;
        }
        int64_t padded = in + pb[i] + pe[i];
        if (padded < span)
            return 0;
        int64_t q = padded - span;
        out[i] = (ceil_mode ? (q + s[i] - 1) / s[i] : q / s[i]) + 1;
        if (ceil_mode && (out[i] - 1) * s[i] >= in + pb[i])
            out[i]--;
    }
    if (s[1] > 2)
        return 0;
    *d = (eg_dw){.oh = out[0],
                 .ow = out[1],
                 .kh = ks[0],
                 .kw = ks[1],
                 .sh = s[0],
                 .sw = s[1],
                 .dh = di[0],
                 .dw = di[1]};
    *pt = pb[0];
    *pl = pb[1];
    return 1;
}

/* Planes 1.. of a 3x3 max pool (plane 0 is done), split between the session's threads. */
typedef struct mp3_job {
    const eg_x86_kernels *lv;
    const eg_dw *d;
    const float *x;
    float *y;
    int64_t planes;
} mp3_job;

static void mp3_part(void *arg, int part, int nparts, int thread)
{
    (void)thread;
    const mp3_job *j = arg;
    eg_dw d = *j->d;
    for (int64_t p = 1 + j->planes * part / nparts; p < 1 + j->planes * (part + 1) / nparts; p++) {
        d.x = j->x + p * d.ih * d.iw;
        d.y = j->y + p * d.oh * d.ow;
        j->lv->maxpool3(&d);
    }
}

int eg_x86_maxpool_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *x = eg_in(k, 0);
    eg_dw d;
    int64_t pt, pl;
    if (!x || x->dtype != EMBER_DT_FLOAT || x->rank != 4 || eg_out_wanted(k, 1) ||
        eg_attr_int(k, "storage_order", 0) != 0 || !pool_geom(k, x, &d, &pt, &pl))
        return eg_run_reference(k);
    int64_t n = x->dims[0], c = x->dims[1], ih = x->dims[2], iw = x->dims[3];
    int64_t odims[4] = {n, c, d.oh, d.ow};
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, 4, odims);
    if (!y)
        return EMBER_ENOMEM;
    if (eg_x86_maxpool2x2(kn, &d, pt, pl, x->data, n * c, ih, iw, y))
        return 0;
    const float *X = x->data;
    d.ih = ih, d.iw = iw, d.pt = pt, d.pl = pl;
    if (d.kh == 3 && d.kw == 3 && d.dh == 1 && d.dw == 1 && n * c > 0) {
        /* Straight from the input, at the wider level whose vectors fit a row's interior;
         * the geometry is the same for every plane, so the first says whether any does. */
        for (const eg_x86_kernels *lv = kn; lv; lv = lv->narrow) {
            d.x = X, d.y = y;
            if (!lv->maxpool3(&d))
                continue;
            mp3_job j = {lv, &d, X, y, n * c - 1};
            eg_parallel(k, mp3_part, &j,
                        eg_x86_par_parts(k, (n * c - 1) * d.oh * d.ow * 9, n * c - 1));
            return 0;
        }
    }
    int64_t ow_v = (d.ow + kn->vw - 1) / kn->vw * kn->vw;
    d.pw = ow_v + (d.kw - 1) * d.dw / d.sw + 1;
    int64_t ph = (d.oh - 1) * d.sh + (d.kh - 1) * d.dh + 1;
    float *planes = eg_scratch(k, (size_t)(2 * ph * d.pw) * sizeof *planes);
    if (!planes)
        return EMBER_ENOMEM;
    for (int64_t i = 0; i < 2 * ph * d.pw; i++)
        planes[i] = -INFINITY;
    d.planes[0] = planes;
    d.planes[1] = planes + ph * d.pw;
    for (int64_t p = 0; p < n * c; p++) {
        d.x = X + p * ih * iw;
        eg_x86_plane_copy(kn, d.x, ih, iw, pt, pl, d.sw, planes, ph, d.pw);
        d.y = y + p * d.oh * d.ow;
        kn->maxpool(&d);
    }
    return 0;
}

/* Each plane's mean from the level's vector sum (float lanes, where the reference sums in
 * double: the results differ by rounding only). */
int eg_x86_global_avgpool_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT || x->rank < 3)
        return eg_run_reference(k);
    int64_t odims[EMBER_MAX_RANK], sz = 1;
    for (int i = 0; i < x->rank; i++) {
        odims[i] = i < 2 ? x->dims[i] : 1;
        sz *= i < 2 ? 1 : x->dims[i];
    }
    if (sz < 1)
        return eg_run_reference(k);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    const float *X = x->data;
    for (int64_t p = 0; p < x->dims[0] * x->dims[1]; p++)
        y[p] = kn->sum(X + p * sz, sz) / (float)sz;
    return 0;
}

/* The axes of a ReduceMean or ReduceSum node (attribute before opset axes_opset, else input 1)
 * if they are the trailing ones of x, as in a spatial mean: their count, or 0 for any other
 * form (left to the reference, which also reports the bad ones). */
static int trailing_axes(eg_kctx *k, const ember_tensor *x, int axes_opset)
{
    int64_t axes[EMBER_MAX_RANK];
    int n;
    if (eg_opset(k) >= axes_opset) {
        const ember_tensor *t = eg_in(k, 1);
        if (!t || t->dtype != EMBER_DT_INT64 || t->rank != 1 || t->dims[0] > EMBER_MAX_RANK)
            return 0;
        n = (int)t->dims[0];
        if (n > 0)
            memcpy(axes, t->data, (size_t)n * sizeof *axes);
    } else {
        const int64_t *a;
        n = eg_attr_ints(k, "axes", &a);
        if (n > EMBER_MAX_RANK)
            return 0;
        if (n > 0)
            memcpy(axes, a, (size_t)n * sizeof *axes);
    }
    unsigned mask = 0;
    for (int i = 0; i < n; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + x->rank : axes[i];
        if (ax < 0 || ax >= x->rank || (mask & (1u << ax)))
            return 0;
        mask |= 1u << ax;
    }
    return n > 0 && mask == ((1u << x->rank) - 1) - ((1u << (x->rank - n)) - 1) ? n : 0;
}

/* ReduceMean (mean 1) and ReduceSum of float32 over trailing axes, each output from the
 * level's vector sum like GlobalAveragePool; other forms go to the reference. */
int eg_x86_reduce_run(eg_kctx *k, const eg_x86_kernels *kn, int mean)
{
    const ember_tensor *x = eg_in(k, 0);
    int n = x && x->dtype == EMBER_DT_FLOAT ? trailing_axes(k, x, mean ? 18 : 13) : 0;
    if (n == 0)
        return eg_run_reference(k);
    int first = x->rank - n, keep = eg_attr_int(k, "keepdims", 1) != 0;
    int64_t odims[EMBER_MAX_RANK], count = ku_count(n, x->dims + first);
    int64_t outer = ku_count(first, x->dims);
    if (count < 1)
        return eg_run_reference(k);
    for (int i = 0; i < x->rank; i++)
        odims[i] = i < first ? x->dims[i] : 1;
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, keep ? x->rank : first, odims);
    if (!y)
        return EMBER_ENOMEM;
    const float *X = x->data;
    for (int64_t p = 0; p < outer; p++) {
        float s = kn->sum(X + p * count, count);
        y[p] = mean ? s / (float)count : s;
    }
    return 0;
}
