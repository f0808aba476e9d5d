/*
 * Conv (float32, 1-D and 2-D) on the x86 kernels; everything else goes to the reference.
 *
 * Three methods, picked per call from the geometry: a pointwise (1x1, stride 1, no pads)
 * convolution is one GEMM per group straight on the NCHW input (W [M, C] times X [C, H*W]);
 * a depthwise one (one input and one output channel per group, horizontal stride 1 or 2)
 * copies each plane once into a zero-padded scratch plane (split into even and odd columns
 * for stride 2) and runs the vector depthwise kernel; any other runs as a GEMM over bands of
 * output columns whose im2col rows are built in scratch, so no full im2col buffer exists.
 * Weights come packed from conv_prepare at load (n->kdata), or are packed into scratch when
 * W is not a constant. Bias and Relu/Clip/LeakyRelu are applied inside the kernels; other
 * fused activations after them.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/passes.h"
#include "../ref/kutil.h"
#include "seq.h"
#include "x86ops.h"

/* Budget for one band of im2col rows (floats), sized to stay in L2 with the packed weights. */
#define BAND_FLOATS (48 * 1024)
#define BAND_SHARES 4

/* Depthwise input planes up to this many floats go channel-blocked (conv_dwc): its padded
 * block image stays in L2. Larger ones run plane by plane, which streams them once. */
#define DWC_MAX_PLANE (64 * 64)

/* Plane rows up to this many floats are copied inline rather than by memcpy. */
#define PLANE_SHORT_ROW 16

typedef struct geom {
    int64_t n, c, ih, iw, m, group, cg, mg;
    int64_t kh, kw, sh, sw, dh, dw, pt, pl;
    int64_t oh, ow;
} geom;

/* Reads an INTS attribute of n values each >= lo into v; 0 when absent (v untouched), 1 when
 * read, -1 when malformed (the reference kernel then reports it). */
static int ints_attr(eg_kctx *k, const char *name, int n, int64_t lo, int64_t *v)
{
    const int64_t *a;
    int c = eg_attr_ints(k, name, &a);
    if (c < 0)
        return 0;
    if (c != n)
        return -1;
    for (int i = 0; i < n; i++) {
        if (a[i] < lo || a[i] > INT32_MAX)
            return -1;
        v[i] = a[i];
    }
    return 1;
}

/* The geometry of a 1-D or 2-D float conv, or 0 when this file does not handle it. */
static int geom_read(eg_kctx *k, const ember_tensor *x, const ember_tensor *w, geom *g)
{
    if (x->rank < 3 || x->rank > 4 || w->rank != x->rank)
        return 0;
    int nsp = x->rank - 2;
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->ih = nsp == 2 ? x->dims[2] : 1;
    g->iw = x->dims[x->rank - 1];
    g->m = w->dims[0];
    g->kh = nsp == 2 ? w->dims[2] : 1;
    g->kw = w->dims[w->rank - 1];
    g->group = eg_attr_int(k, "group", 1);
    if (g->kh < 1 || g->kw < 1 || g->group < 1 || g->c % g->group || g->m % g->group ||
        w->dims[1] * g->group != g->c)
        return 0;
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
    int64_t ks[2], s[2] = {1, 1}, d[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    int rk = ints_attr(k, "kernel_shape", nsp, 1, ks);
    if (rk < 0 || (rk == 1 && (ks[0] != w->dims[2] || (nsp == 2 && ks[1] != w->dims[3]))))
        return 0;
    if (ints_attr(k, "strides", nsp, 1, s) < 0 || ints_attr(k, "dilations", nsp, 1, d) < 0)
        return 0;
    g->sh = nsp == 2 ? s[0] : 1;
    g->sw = s[nsp - 1];
    g->dh = nsp == 2 ? d[0] : 1;
    g->dw = d[nsp - 1];
    const char *ap = eg_attr_str(k, "auto_pad", "NOTSET");
    int64_t in[2] = {g->ih, g->iw}, kk[2] = {g->kh, g->kw}, st[2] = {g->sh, g->sw};
    int64_t dl[2] = {g->dh, g->dw}, pb[2] = {0, 0}, pe[2] = {0, 0}, out[2];
    int same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!strcmp(ap, "NOTSET") || !*ap) {
        if (ints_attr(k, "pads", 2 * nsp, 0, pads) < 0)
            return 0;
        pb[2 - nsp] = pads[0];
        pe[2 - nsp] = pads[nsp];
        if (nsp == 2) {
            pb[1] = pads[1];
            pe[1] = pads[3];
        }
    } else if (!same && strcmp(ap, "VALID") != 0) {
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        int64_t span = (kk[i] - 1) * dl[i] + 1;
        if (same) {
            int64_t o = (in[i] + st[i] - 1) / st[i];
            int64_t total = (o - 1) * st[i] + span - in[i];
            total = total < 0 ? 0 : total;
            pb[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            pe[i] = total - pb[i];
        }
        if (in[i] + pb[i] + pe[i] < span)
            return 0;
        out[i] = (in[i] + pb[i] + pe[i] - span) / st[i] + 1;
    }
    g->pt = pb[0];
    g->pl = pb[1];
    g->oh = out[0];
    g->ow = out[1];
    return 1;
}

/* Floats of depthwise weights for c channels of taps taps packed by channel blocks (x86.h). */
static int64_t dw_pack_size(int64_t c, int64_t taps)
{
    return (c + EG_DWC_BLOCK - 1) / EG_DWC_BLOCK * taps * EG_DWC_BLOCK;
}

static void dw_pack(float *dst, const float *w, int64_t c, int64_t taps)
{
    memset(dst, 0, (size_t)dw_pack_size(c, taps) * sizeof *dst);
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t t = 0; t < taps; t++)
            dst[(ch / EG_DWC_BLOCK * taps + t) * EG_DWC_BLOCK + ch % EG_DWC_BLOCK] =
                w[ch * taps + t];
}

/* Whether prepare packs n's weights, and how: group blocks of mg x kk rows, or (*dw set,
 * depthwise with at most EG_DWC_MAX_TAPS taps) group channels of kk taps by channel blocks. */
static int conv_pack_shape(const eg_node *n, const eg_graph *g, int64_t *group, int64_t *mg,
                           int64_t *kk, int *dw)
{
    if (n->nin < 2 || n->in[1] < 0)
        return 0;
    const eg_value *w = &g->val[n->in[1]];
    const eg_attr *ga = eg_node_attr(n, "group");
    *group = ga && ga->kind == EG_ATTR_INT ? ga->i : 1;
    if (w->kind != EG_VAL_CONST || w->dtype != EMBER_DT_FLOAT || w->rank < 3 || w->rank > 4 ||
        *group < 1 || w->dims[0] % *group || w->dims[0] < 1)
        return 0;
    *mg = w->dims[0] / *group;
    *kk = ku_count(w->rank - 1, w->dims + 1);
    *dw = w->dims[1] == 1 && *mg == 1;
    if (*dw && *kk > EG_DWC_MAX_TAPS)
        return 0; /* depthwise plane by plane reads W as it is */
    return *kk >= 1;
}

int64_t eg_x86_conv_kdata_bytes(const eg_node *n, const eg_graph *g)
{
    int64_t group, mg, kk;
    int dw;
    if (!conv_pack_shape(n, g, &group, &mg, &kk, &dw))
        return 0;
    return (dw ? dw_pack_size(group, kk) : group * eg_pack_a_size(mg, kk)) *
           (int64_t)sizeof(float);
}

void eg_x86_conv_kdata_pack(const eg_node *n, const eg_graph *g, void *dst)
{
    int64_t group, mg, kk;
    int dw;
    if (!conv_pack_shape(n, g, &group, &mg, &kk, &dw))
        return;
    const float *w = g->val[n->in[1]].data;
    if (dw) {
        dw_pack(dst, w, group, kk);
        return;
    }
    int64_t per = eg_pack_a_size(mg, kk);
    for (int64_t gi = 0; gi < group; gi++)
        eg_pack_a((float *)dst + gi * per, w + gi * mg * kk, mg, kk, kk, 1);
}

int eg_x86_conv_prepare(eg_node *n, const eg_graph *g, ember_err *err)
{
    int64_t bytes = eg_x86_conv_kdata_bytes(n, g);
    if (!bytes)
        return 0;
    void *p = eg_kdata_alloc(g, (size_t)bytes);
    if (!p)
        return ember_err_set(err, EMBER_ENOMEM, "node '%s': out of memory packing weights",
                             n->name);
    eg_x86_conv_kdata_pack(n, g, p);
    n->kdata = p;
    return 0;
}

/* Relu, Clip and LeakyRelu run in the kernels; the caller applies any other afterwards. */
int eg_x86_kernel_act(int act)
{
    return act == EG_ACT_RELU || act == EG_ACT_CLIP || act == EG_ACT_LEAKY_RELU ||
                   act == EG_ACT_HARD_SIGMOID || act == EG_ACT_HARD_SWISH
               ? act
               : 0;
}

int eg_x86_finish_act(eg_kctx *k)
{
    const eg_node *n = eg_node_of(k);
    if (!n->act || eg_x86_kernel_act(n->act))
        return 0;
    ember_err e = {{0}};
    int rc = eg_apply_activation(n, eg_out_tensor(k, 0), &e);
    return rc ? eg_fail(k, rc, "%s", e.msg) : 0;
}

void eg_x86_plane_copy(const eg_x86_kernels *kn, const float *xc, int64_t ih, int64_t iw,
                       int64_t pt, int64_t pl, int64_t sw, float *planes, int64_t ph, int64_t pw)
{
    /* Padded column pc (input column pc - pl) goes to plane pc % sw, index pc / sw. */
    int64_t x0 = pl, hi = pw * sw < pl + iw ? pw * sw : pl + iw;
    for (int64_t r = 0; r < ph; r++) {
        int64_t iy = r - pt;
        float *r0 = planes + r * pw, *r1 = planes + (ph + r) * pw;
        if (iy < 0 || iy >= ih || hi <= x0)
            continue; /* padding rows are the same for every plane: still the fill value */
        const float *src = xc + iy * iw;
        if (sw == 1 && hi - x0 <= PLANE_SHORT_ROW) /* a call to memcpy costs more */
            for (int64_t t = 0; t < hi - x0; t++)
                r0[x0 + t] = src[t];
        else if (sw == 1)
            memcpy(r0 + x0, src, (size_t)(hi - x0) * sizeof *src);
        else /* src[t] is padded column x0 + t: even t to one plane, odd to the other */
            kn->deinterleave(src, hi - x0, x0 & 1 ? r1 + (x0 >> 1) : r0 + (x0 >> 1),
                             x0 & 1 ? r0 + ((x0 + 1) >> 1) : r1 + (x0 >> 1));
    }
}

/* One part of a depthwise conv: the planes [p0, p1) of all n * c, through the running
 * thread's padded scratch planes (zero-padded once, before the parts run). */
typedef struct dw_job {
    const eg_x86_kernels *kn;
    const geom *g;
    const float *x, *w, *b;
    const float *wp; /* the weights packed by channel blocks instead of w, or NULL */
    float *y;
    float *scratch; /* one block of 2 * ph * pw floats per thread */
    int64_t ph, pw;
    eg_dw d;
} dw_job;

static void dw_part(void *arg, int part, int nparts, int thread)
{
    const dw_job *j = arg;
    const geom *g = j->g;
    int64_t planes = g->n * g->c, p0 = planes * part / nparts, p1 = planes * (part + 1) / nparts;
    float *pl = j->scratch + (int64_t)thread * 2 * j->ph * j->pw;
    eg_dw d = j->d;
    d.planes[0] = pl;
    d.planes[1] = pl + j->ph * j->pw;
    int64_t taps = g->kh * g->kw;
    float wc[EG_DWC_MAX_TAPS];
    for (int64_t p = p0; p < p1; p++) {
        int64_t c = p % g->c;
        eg_x86_plane_copy(j->kn, j->x + p * g->ih * g->iw, g->ih, g->iw, g->pt, g->pl, g->sw, pl,
                          j->ph, j->pw);
        if (j->wp) {
            const float *wb = j->wp + c / EG_DWC_BLOCK * taps * EG_DWC_BLOCK + c % EG_DWC_BLOCK;
            for (int64_t t = 0; t < taps; t++)
                wc[t] = wb[t * EG_DWC_BLOCK];
            d.w = wc;
        } else {
            d.w = j->w + c * taps;
        }
        d.bias = j->b ? j->b[c] : 0.0f;
        d.y = j->y + p * g->oh * g->ow;
        j->kn->dw(&d);
    }
}

/* One part of a channel-blocked depthwise conv: the blocks [u0, u1) of VW channels of all
 * images (unit u is block u % nblk of image u / nblk), through the running thread's scratch. */
typedef struct dwc_job {
    const eg_x86_kernels *kn;
    const geom *g;
    const float *x, *b;
    float *y;
    float *scratch; /* per thread: per floats, xb then yb */
    int64_t nblk, per;
    eg_dwc d;
} dwc_job;

static void dwc_part(void *arg, int part, int nparts, int thread)
{
    const dwc_job *j = arg;
    const geom *g = j->g;
    int64_t vw = j->kn->vw, units = g->n * j->nblk;
    int64_t u0 = units * part / nparts, u1 = units * (part + 1) / nparts;
    eg_dwc d = j->d;
    d.xb = j->scratch + thread * j->per;
    d.yb = d.xb + d.ph * d.pw * vw;
    for (int64_t u = u0; u < u1; u++) {
        int64_t ni = u / j->nblk, c0 = u % j->nblk * vw;
        d.nc = g->c - c0 < vw ? g->c - c0 : vw;
        d.x = j->x + (ni * g->c + c0) * g->ih * g->iw;
        d.y = j->y + (ni * g->c + c0) * g->oh * g->ow;
        d.w = j->d.w + c0 / EG_DWC_BLOCK * g->kh * g->kw * EG_DWC_BLOCK + c0 % EG_DWC_BLOCK;
        d.bias = j->b ? j->b + c0 : NULL;
        j->kn->dwc(&d);
    }
}

/* A depthwise conv on small planes, VW channels at a time in the channel-blocked layout, with
 * the weights packed at load (or here, when W is not a constant). */
static int conv_dwc(eg_kctx *k, const eg_x86_kernels *kn, const geom *g, const float *x,
                    const float *w, const float *b, float *y)
{
    const eg_node *nd = eg_node_of(k);
    int64_t taps = g->kh * g->kw, vw = kn->vw;
    const float *wp = nd->kdata;
    if (!wp) {
        float *p = eg_scratch(k, (size_t)dw_pack_size(g->c, taps) * sizeof *p);
        if (!p)
            return EMBER_ENOMEM;
        dw_pack(p, w, g->c, taps);
        wp = p;
    }
    int64_t ph = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    int64_t pw = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    /* yb has room past the plane for the last tile's pixels (DWC_U = 8) and the last group
     * of VW pixels the copy back reads. */
    int64_t per = (ph * pw + g->oh * g->ow + EG_DWC_BLOCK) * vw, nblk = (g->c + vw - 1) / vw;
    int64_t parts = eg_x86_par_parts(k, g->n * g->c * g->oh * g->ow * taps, g->n * nblk);
    int64_t threads = parts > 1 ? eg_threads(k) : 1;
    float *s = eg_scratch(k, (size_t)(threads * per) * sizeof *s);
    if (!s)
        return EMBER_ENOMEM;
    memset(s, 0, (size_t)(threads * per) * sizeof *s);
    dwc_job j = {.kn = kn,
                 .g = g,
                 .x = x,
                 .b = b,
                 .y = y,
                 .scratch = s,
                 .nblk = nblk,
                 .per = per,
                 .d = {.ih = g->ih,
                       .iw = g->iw,
                       .pt = g->pt,
                       .pl = g->pl,
                       .ph = ph,
                       .pw = pw,
                       .oh = g->oh,
                       .ow = g->ow,
                       .kh = g->kh,
                       .kw = g->kw,
                       .sh = g->sh,
                       .sw = g->sw,
                       .dh = g->dh,
                       .dw = g->dw,
                       .w = wp,
                       .act = eg_x86_kernel_act(nd->act),
                       .alpha = nd->act_alpha,
                       .beta = nd->act_beta}};
    eg_parallel(k, dwc_part, &j, (int)parts);
    return 0;
}

static int conv_depthwise(eg_kctx *k, const eg_x86_kernels *kn, const geom *g, const float *x,
                          const float *w, const float *b, float *y)
{
    const eg_node *nd = eg_node_of(k);
    if (g->kh * g->kw <= EG_DWC_MAX_TAPS && g->ih * g->iw <= DWC_MAX_PLANE)
        return conv_dwc(k, kn, g, x, w, b, y);
    if (kn->narrow && g->ow <= kn->narrow->vw)
        kn = kn->narrow;
    int64_t ow_v = (g->ow + kn->vw - 1) / kn->vw * kn->vw;
    int64_t pw = ow_v + (g->kw - 1) * g->dw / g->sw + 1;
    int64_t ph = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    /* Split by planes when there is enough work for more than one part. */
    int64_t macs = g->n * g->c * g->oh * g->ow * g->kh * g->kw;
    int64_t parts = eg_x86_par_parts(k, macs, g->n * g->c);
    int64_t threads = parts > 1 ? eg_threads(k) : 1;
    float *pl = eg_scratch(k, (size_t)(threads * 2 * ph * pw) * sizeof *pl);
    if (!pl)
        return EMBER_ENOMEM;
    memset(pl, 0, (size_t)(threads * 2 * ph * pw) * sizeof *pl);
    dw_job j = {.kn = kn,
                .g = g,
                .x = x,
                .w = w,
                .b = b,
                .wp = g->kh * g->kw <= EG_DWC_MAX_TAPS ? nd->kdata : NULL,
                .y = y,
                .scratch = pl,
                .ph = ph,
                .pw = pw,
                .d = {.pw = pw,
                      .oh = g->oh,
                      .ow = g->ow,
                      .kh = g->kh,
                      .kw = g->kw,
                      .sh = g->sh,
                      .sw = g->sw,
                      .dh = g->dh,
                      .dw = g->dw,
                      .act = eg_x86_kernel_act(nd->act),
                      .alpha = nd->act_alpha,
                      .beta = nd->act_beta}};
    eg_parallel(k, dw_part, &j, (int)parts);
    return 0;
}

/* a / b rounded up, for any sign of a and b > 0. */
static int64_t cdiv(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -(-a / b);
}

/* im2col rows of one band of output columns [j0, j1) for group gi of image ni; odd (g->ow
 * floats) takes the odd columns a stride-2 row's deinterleave leaves aside. */
static void band_fill(const eg_x86_kernels *kn, const geom *g, const float *xg, float *buf,
                      float *odd, int64_t j0, int64_t j1)
{
    int64_t nb = j1 - j0, row = 0;
    for (int64_t c = 0; c < g->cg; c++) {
        const float *xc = xg + c * g->ih * g->iw;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            for (int64_t kx = 0; kx < g->kw; kx++, row++) {
                float *dst = buf + row * nb;
                for (int64_t j = j0; j < j1;) {
                    int64_t oy = j / g->ow, ox = j % g->ow;
                    int64_t cnt = g->ow - ox < j1 - j ? g->ow - ox : j1 - j;
                    int64_t iy = oy * g->sh + ky * g->dh - g->pt;
                    float *o = dst + (j - j0);
                    if (iy < 0 || iy >= g->ih) {
                        memset(o, 0, (size_t)cnt * sizeof *o);
                    } else {
                        const float *xr = xc + iy * g->iw;
                        int64_t off = kx * g->dw - g->pl;
                        if (g->sw == 1) {
                            /* Input columns ox + t + off: zeros left and right, a copy between. */
                            int64_t lo = -(ox + off), hi = g->iw - (ox + off);
                            lo = lo < 0 ? 0 : lo > cnt ? cnt : lo;
                            hi = hi < lo ? lo : hi > cnt ? cnt : hi;
                            memset(o, 0, (size_t)lo * sizeof *o);
                            memcpy(o + lo, xr + ox + lo + off, (size_t)(hi - lo) * sizeof *o);
                            memset(o + hi, 0, (size_t)(cnt - hi) * sizeof *o);
                        } else {
                            /* Input column (ox + t) * sw + off is inside for t in [lo, hi). */
                            int64_t lo = cdiv(-off, g->sw) - ox, hi = cdiv(g->iw - off, g->sw) - ox;
                            lo = lo < 0 ? 0 : lo > cnt ? cnt : lo;
                            hi = hi < lo ? lo : hi > cnt ? cnt : hi;
                            int64_t x0 = ox * g->sw + off;
                            memset(o, 0, (size_t)lo * sizeof *o);
                            if (g->sw == 2 && hi > lo)
                                kn->deinterleave(xr + x0 + 2 * lo, 2 * (hi - lo) - 1, o + lo, odd);
                            else
                                for (int64_t t = lo; t < hi; t++)
                                    o[t] = xr[x0 + t * g->sw];
                            memset(o + hi, 0, (size_t)(cnt - hi) * sizeof *o);
                        }
                    }
                    j += cnt;
                }
            }
        }
    }
}

/* The banded im2col GEMMs of a conv: unit u is band u % nbands of group (u / nbands) % group
 * of image u / nbands / group. */
typedef struct band_job {
    const eg_x86_kernels *kn;
    const geom *g;
    const float *x, *wp, *bias;
    float *y;
    int64_t per, nb, nbands;
    float *buf; /* per thread: a band buffer of kk * nb floats, then ow for band_fill */
    eg_gemm p;  /* m, k, ldc and the activation set */
} band_job;

static void band_part(void *arg, int part, int nparts, int thread)
{
    const band_job *j = arg;
    const geom *g = j->g;
    int64_t ohw = g->oh * g->ow, units = g->n * g->group * j->nbands;
    int64_t u0 = units * part / nparts, u1 = units * (part + 1) / nparts;
    float *buf = j->buf + thread * (j->p.k * j->nb + g->ow);
    eg_gemm p = j->p;
    for (int64_t u = u0; u < u1; u++) {
        int64_t band = u % j->nbands, gi = u / j->nbands % g->group, ni = u / j->nbands / g->group;
        int64_t j0 = band * j->nb, j1 = j0 + j->nb < ohw ? j0 + j->nb : ohw;
        band_fill(j->kn, g, j->x + (ni * g->c + gi * g->cg) * g->ih * g->iw, buf,
                  buf + j->p.k * j->nb, j0, j1);
        p.ap = j->wp + gi * j->per;
        p.bias_row = j->bias ? j->bias + gi * g->mg : NULL;
        p.b = buf;
        p.ldb = j1 - j0;
        p.n = j1 - j0;
        p.c = j->y + (ni * g->m + gi * g->mg) * ohw + j0;
        eg_x86_gemm_any(j->kn, &p);
    }
}

/* Where conv_shifted's padded output grid (ldc n, rows of pwp columns) goes: y rows of ohw,
 * the first ow columns of each grid row. */
typedef struct shifted_out {
    const float *yp;
    float *y;
    int64_t n, pwp, ow, ohw;
} shifted_out;

/* Copies tile [r0, r1) x [c0, c1) of the grid's kept columns to the output. */
static void shifted_copy(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1)
{
    const shifted_out *o = arg;
    for (int64_t r = r0; r < r1; r++) {
        for (int64_t j = c0; j < c1;) {
            int64_t oy = j / o->pwp, ox = j % o->pwp, end = j - ox + o->pwp;
            end = end < c1 ? end : c1;
            if (ox < o->ow)
                memcpy(o->y + r * o->ohw + oy * o->ow + ox, o->yp + r * o->n + j,
                       (size_t)((end < j - ox + o->ow ? end : j - ox + o->ow) - j) * sizeof *o->y);
            j = end;
        }
    }
}

/* A stride-1 convolution without im2col: each group's input is copied once into a zero-padded
 * scratch image of pitch pwp = padded width, and the output is computed on that padded grid
 * (oh rows of pwp columns, the last pwp - ow of each row thrown away). On that grid the B row
 * of tap (c, ky, kx) is the padded image itself shifted by c * plane + ky * dh * pwp + kx * dw,
 * so the GEMM reads it in place through a table of row offsets. One spare row at the bottom
 * keeps the shifted reads of the thrown-away columns inside the image. */
static int conv_shifted(eg_kctx *k, const eg_x86_kernels *kn, const geom *g, const float *x,
                        const float *wp, int64_t per, const float *bias, float *y)
{
    const eg_node *nd = eg_node_of(k);
    int64_t pwp = g->ow + (g->kw - 1) * g->dw, php = g->oh + (g->kh - 1) * g->dh + 1;
    int64_t plane = php * pwp, n = g->oh * pwp, kk = g->cg * g->kh * g->kw;
    float *xp = eg_scratch(k, (size_t)(g->cg * plane) * sizeof *xp);
    float *yp = eg_scratch(k, (size_t)(g->mg * n) * sizeof *yp);
    int64_t *koff = eg_scratch(k, (size_t)kk * sizeof *koff);
    if (!xp || !yp || !koff)
        return EMBER_ENOMEM;
    for (int64_t c = 0, q = 0; c < g->cg; c++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++)
                koff[q++] = c * plane + ky * g->dh * pwp + kx * g->dw;
    memset(xp, 0, (size_t)(g->cg * plane) * sizeof *xp);
    /* Input columns that land inside the padded row: [c0, c1). */
    int64_t c0 = g->pl < 0 ? -g->pl : 0, c1 = pwp - g->pl < g->iw ? pwp - g->pl : g->iw;
    eg_gemm p = {.m = g->mg,
                 .n = n,
                 .k = kk,
                 .b = xp,
                 .koff = koff,
                 .c = yp,
                 .ldc = n,
                 .act = eg_x86_kernel_act(nd->act),
                 .alpha = nd->act_alpha,
                 .beta = nd->act_beta};
    for (int64_t ni = 0; ni < g->n; ni++) {
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (ni * g->c + gi * g->cg) * g->ih * g->iw;
            for (int64_t c = 0; c < g->cg && c1 > c0; c++)
                for (int64_t iy = 0; iy < g->ih; iy++)
                    if (iy + g->pt < php - 1)
                        memcpy(xp + c * plane + (iy + g->pt) * pwp + g->pl + c0,
                               xg + (c * g->ih + iy) * g->iw + c0, (size_t)(c1 - c0) * sizeof *xp);
            p.ap = wp + gi * per;
            p.bias_row = bias ? bias + gi * g->mg : NULL;
            shifted_out o = {
                yp, y + (ni * g->m + gi * g->mg) * g->oh * g->ow, n, pwp, g->ow, g->oh * g->ow};
            eg_x86_gemm_par_then(k, kn, &p, shifted_copy, &o);
        }
    }
    return 0;
}

/* The output rows [r0, r1) of a stride-2 conv (conv_strided2), one GEMM each. */
typedef struct s2_job {
    const eg_x86_kernels *kn;
    const float *xp;
    float *y;
    int64_t oh, ow, pitch; /* pitch: floats from one output row's input to the next's */
    eg_gemm p;
} s2_job;

static void s2_part(void *arg, int part, int nparts, int thread)
{
    (void)thread;
    const s2_job *j = arg;
    eg_gemm p = j->p;
    for (int64_t oy = j->oh * part / nparts; oy < j->oh * (part + 1) / nparts; oy++) {
        p.b = j->xp + oy * j->pitch;
        p.c = j->y + oy * j->ow;
        eg_x86_gemm_any(j->kn, &p);
    }
}

/* A stride-2 convolution without im2col: each channel of a group is copied once into two
 * zero-padded planes of its even and odd padded columns (eg_x86_plane_copy, as for depthwise),
 * where tap (ky, kx) of output (oy, ox) is plane (kx * dw) % 2 at row 2 * oy + ky * dh, column
 * ox + (kx * dw) / 2. So one output row is a GEMM whose B rows are those planes read in place
 * at a table of offsets from the row's start (as in conv_shifted), and it writes its output
 * row straight into Y: the input is copied once, not once per tap as by im2col. */
static int conv_strided2(eg_kctx *k, const eg_x86_kernels *kn, const geom *g, const float *x,
                         const float *wp, int64_t per, const float *bias, float *y)
{
    const eg_node *nd = eg_node_of(k);
    int64_t ph = (g->oh - 1) * 2 + (g->kh - 1) * g->dh + 1, pw = g->ow + (g->kw - 1) * g->dw / 2;
    int64_t cplane = 2 * ph * pw, kk = g->cg * g->kh * g->kw;
    float *xp = eg_scratch(k, (size_t)(g->cg * cplane) * sizeof *xp);
    int64_t *koff = eg_scratch(k, (size_t)kk * sizeof *koff);
    if (!xp || !koff)
        return EMBER_ENOMEM;
    for (int64_t c = 0, q = 0; c < g->cg; c++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++)
                koff[q++] = c * cplane + (kx * g->dw & 1) * ph * pw + ky * g->dh * pw +
                            kx * g->dw / 2;
    memset(xp, 0, (size_t)(g->cg * cplane) * sizeof *xp);
    int64_t parts = eg_x86_par_parts(k, g->mg * g->ow * kk * g->oh, g->oh);
    s2_job j = {.kn = kn,
                .xp = xp,
                .oh = g->oh,
                .ow = g->ow,
                .pitch = 2 * pw,
                .p = {.m = g->mg,
                      .n = g->ow,
                      .k = kk,
                      .koff = koff,
                      .ldc = g->oh * g->ow,
                      .act = eg_x86_kernel_act(nd->act),
                      .alpha = nd->act_alpha,
                      .beta = nd->act_beta}};
    for (int64_t ni = 0; ni < g->n; ni++) {
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (ni * g->c + gi * g->cg) * g->ih * g->iw;
            for (int64_t c = 0; c < g->cg; c++)
                eg_x86_plane_copy(kn, xg + c * g->ih * g->iw, g->ih, g->iw, g->pt, g->pl, 2,
                                  xp + c * cplane, ph, pw);
            j.p.ap = wp + gi * per;
            j.p.bias_row = bias ? bias + gi * g->mg : NULL;
            j.y = y + (ni * g->m + gi * g->mg) * g->oh * g->ow;
            eg_parallel(k, s2_part, &j, (int)parts);
        }
    }
    return 0;
}

int eg_x86_conv_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1), *b = eg_in(k, 2);
    geom g;
    if (!x || !w || x->dtype != EMBER_DT_FLOAT || w->dtype != EMBER_DT_FLOAT ||
        (b && (b->dtype != EMBER_DT_FLOAT || b->rank != 1 || b->dims[0] != w->dims[0])) ||
        !geom_read(k, x, w, &g))
        return eg_run_reference(k);
    int64_t odims[4] = {g.n, g.m, g.oh, g.ow};
    if (x->rank == 3)
        odims[2] = g.ow;
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, odims);
    if (!y)
        return EMBER_ENOMEM;
    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    const eg_node *nd = eg_node_of(k);
    int rc;
    if (g.cg == 1 && g.mg == 1 && g.sw <= 2) {
        if ((rc = conv_depthwise(k, kn, &g, X, W, B, y)))
            return rc;
        return eg_x86_finish_act(k);
    }
    int64_t kk = g.cg * g.kh * g.kw, per = eg_pack_a_size(g.mg, kk);
    const float *wp = nd->kdata;
    if (!wp) {
        float *p = eg_scratch(k, (size_t)(g.group * per) * sizeof *p);
        if (!p)
            return EMBER_ENOMEM;
        for (int64_t gi = 0; gi < g.group; gi++)
            eg_pack_a(p + gi * per, W + gi * g.mg * kk, g.mg, kk, kk, 1);
        wp = p;
    }
    int64_t ihw = g.ih * g.iw, ohw = g.oh * g.ow;
    int pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
                    g.oh == g.ih && g.ow == g.iw;
    if (!pointwise && g.sh == 1 && g.sw == 1) {
        int rc2 = conv_shifted(k, kn, &g, X, wp, per, B, y);
        return rc2 ? rc2 : eg_x86_finish_act(k);
    }
    /* Rows of a few vectors or more: narrower ones make GEMMs too small to pay. */
    if (g.sh == 2 && g.sw == 2 && g.kh * g.kw > 1 && g.ow >= 2 * kn->vw) {
        int rc2 = conv_strided2(k, kn, &g, X, wp, per, B, y);
        return rc2 ? rc2 : eg_x86_finish_act(k);
    }
    eg_gemm p = {.m = g.mg,
                 .k = kk,
                 .ldc = ohw,
                 .act = eg_x86_kernel_act(nd->act),
                 .alpha = nd->act_alpha,
                 .beta = nd->act_beta};
    for (int64_t ni = 0; ni < g.n; ni++) {
        for (int64_t gi = 0; gi < g.group; gi++) {
            const float *xg = X + (ni * g.c + gi * g.cg) * ihw;
            float *yg = y + (ni * g.m + gi * g.mg) * ohw;
            p.ap = wp + gi * per;
            p.bias_row = B ? B + gi * g.mg : NULL;
            if (pointwise) {
                p.b = xg;
                p.ldb = ihw;
                p.n = ohw;
                p.c = yg;
                eg_x86_gemm_par(k, kn, &p);
            }
        }
    }
    if (!pointwise) {
        /* Bands of im2col columns, shared out whole between the threads, each with its own
         * band buffer. More than one band: a multiple of BAND_SHARES bands of equal width
         * (the last may be narrower), so 2 or 4 threads get equal work; the widths do not
         * depend on the thread count, which must not change results. */
        int64_t step = 2 * kn->vw, nb = BAND_FLOATS / kk / step * step;
        nb = nb < step ? step : nb;
        int64_t nbands = (ohw + nb - 1) / nb;
        if (nbands > 1) {
            nbands = (nbands + BAND_SHARES - 1) / BAND_SHARES * BAND_SHARES;
            nb = ((ohw + nbands - 1) / nbands + step - 1) / step * step;
        }
        nb = nb > ohw ? ohw : nb;
        band_job j = {.kn = kn,
                      .g = &g,
                      .x = X,
                      .y = y,
                      .wp = wp,
                      .per = per,
                      .bias = B,
                      .nb = nb,
                      .nbands = (ohw + nb - 1) / nb,
                      .p = p};
        int64_t parts = eg_x86_par_parts(k, g.n * g.m * ohw * kk, g.n * g.group * j.nbands);
        int64_t threads = parts > 1 ? eg_threads(k) : 1;
        if (!(j.buf = eg_scratch(k, (size_t)(threads * (kk * nb + g.ow)) * sizeof *j.buf)))
            return EMBER_ENOMEM;
        eg_parallel(k, band_part, &j, (int)parts);
    }
    return eg_x86_finish_act(k);
}
