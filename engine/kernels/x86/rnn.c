/*
 * LSTM (float32) on the SIMD kernels of rnn.h; the node goes to the reference kernel for
 * anything else (activations other than the defaults, other types, malformed inputs).
 *
 * Per direction, X W^T + Wb + Rb for every time step and batch row is one GEMM into scratch;
 * then each step is h R^T (a GEMV when one row is stepped, else a GEMM over the rows) and the
 * fused cell update. Rows step together while they have the same length (always, without
 * sequence_lens); with differing lengths each row steps alone. W^T and R^T are packed as GEMM
 * right operands and the two biases summed once at load (lstm_prepare) when they are
 * constants, else into scratch on each run.
 */
#include <ctype.h>
#include <stdlib.h>

#include "../ref/kutil.h"
#include "seq.h"

/* What lstm_prepare leaves in n->kdata: per direction W^T and R^T packed, and Wb + Rb (zero
 * without B), all in the same allocation after this header. */
typedef struct lstm_pack {
    int64_t ndir, in, hid;
    const float *w[2], *r[2], *bias[2];
} lstm_pack;

/* Bytes before the floats: the header, rounded up so they start 64-byte aligned. */
#define LSTM_PACK_HEAD ((sizeof(lstm_pack) + 63) / 64 * 64)

static int64_t pack_floats(int64_t ndir, int64_t in, int64_t hid)
{
    int64_t g = 4 * hid;
    /* Each part rounded up to 16 floats so every one starts 64-byte aligned. */
    int64_t w = (eg_pack_b_size(in, g) + 15) / 16 * 16, r = (eg_pack_b_size(hid, g) + 15) / 16 * 16;
    return ndir * (w + r + (g + 15) / 16 * 16);
}

/* Packs W [ndir, 4H, in], R [ndir, 4H, H] and B [ndir, 8H] (or none) into floats f, filling
 * lp's pointers. */
static void pack_weights(lstm_pack *lp, float *f, const float *w, const float *r, const float *b)
{
    int64_t g = 4 * lp->hid, in = lp->in, hid = lp->hid;
    for (int64_t d = 0; d < lp->ndir; d++) {
        eg_pack_b(f, w + d * g * in, in, g, 1, in);
        lp->w[d] = f;
        f += (eg_pack_b_size(in, g) + 15) / 16 * 16;
        eg_pack_b(f, r + d * g * hid, hid, g, 1, hid);
        lp->r[d] = f;
        f += (eg_pack_b_size(hid, g) + 15) / 16 * 16;
        for (int64_t j = 0; j < g; j++)
            f[j] = b ? b[d * 2 * g + j] + b[d * 2 * g + g + j] : 0.0f;
        lp->bias[d] = f;
        f += (g + 15) / 16 * 16;
    }
}

static int name_is(const char *s, const char *lower)
{
    for (; *s && *lower; s++, lower++)
        if (tolower((unsigned char)*s) != *lower)
            return 0;
    return *s == '\0' && *lower == '\0';
}

/* Whether the node uses the default activations (sigmoid, tanh, tanh for each direction),
 * the only ones the fused cell computes. */
static int default_activations(const eg_node *n, int ndir)
{
    const eg_attr *a = eg_node_attr(n, "activations");
    if (!a)
        return 1;
    if (a->kind != EG_ATTR_STRINGS || (a->n != 3 && a->n != 3 * ndir))
        return 0;
    for (int i = 0; i < a->n; i++)
        if (!name_is(a->strings[i], i % 3 == 0 ? "sigmoid" : "tanh"))
            return 0;
    return 1;
}

static int directions(const char *dir)
{
    return !strcmp(dir, "bidirectional") ? 2 : !strcmp(dir, "forward") || !strcmp(dir, "reverse");
}

static const char *attr_str(const eg_node *n, const char *name, const char *dflt)
{
    const eg_attr *a = eg_node_attr(n, name);
    return a && a->kind == EG_ATTR_STRING ? a->s : dflt;
}

int eg_x86_lstm_prepare(eg_node *n, const eg_graph *g, ember_err *err)
{
    if (n->nin < 3 || n->in[1] < 0 || n->in[2] < 0)
        return 0;
    const eg_value *w = &g->val[n->in[1]], *r = &g->val[n->in[2]];
    const eg_value *b = n->nin > 3 && n->in[3] >= 0 ? &g->val[n->in[3]] : NULL;
    int ndir = directions(attr_str(n, "direction", "forward"));
    if (!ndir || !default_activations(n, ndir) || w->kind != EG_VAL_CONST ||
        r->kind != EG_VAL_CONST || (b && b->kind != EG_VAL_CONST) || w->dtype != EMBER_DT_FLOAT ||
        r->dtype != EMBER_DT_FLOAT || w->rank != 3 || r->rank != 3 || w->dims[0] != ndir ||
        r->dims[0] != ndir || r->dims[2] < 1 || w->dims[2] < 1 || w->dims[1] != 4 * r->dims[2] ||
        r->dims[1] != 4 * r->dims[2])
        return 0;
    int64_t hid = r->dims[2], in = w->dims[2];
    if (b &&
        (b->dtype != EMBER_DT_FLOAT || b->rank != 2 || b->dims[0] != ndir || b->dims[1] != 8 * hid))
        return 0;
    size_t bytes = LSTM_PACK_HEAD + (size_t)pack_floats(ndir, in, hid) * sizeof(float);
    void *mem = eg_kdata_alloc(g, bytes); /* locked when the model is (op.h) */
    if (!mem)
        return ember_err_set(err, EMBER_ENOMEM, "node '%s': out of memory packing weights",
                             n->name);
    lstm_pack *lp = mem;
    *lp = (lstm_pack){.ndir = ndir, .in = in, .hid = hid};
    pack_weights(lp, (float *)((char *)mem + LSTM_PACK_HEAD), w->data, r->data, b ? b->data : NULL);
    n->kdata = lp;
    return 0;
}

typedef struct lstm_run {
    const eg_x86_kernels *kn;
    const eg_x86_seq_kernels *rk;
    const lstm_pack *lp;
    int64_t seq, batch, in, hid;
    int ndir, reverse, layout, input_forget;
    float clip;
    const float *x, *h0, *c0, *p;
    const ember_tensor *lens;
    float *y, *yh, *yc;
    float *xw, *h, *c, *hr; /* scratch: [seq * batch, 4H], [batch, H] twice, [batch, 4H] */
} lstm_run;

/* Row of X (and of xw) holding time step t of batch row b. */
static int64_t x_row(const lstm_run *r, int64_t t, int64_t b)
{
    return r->layout ? b * r->seq + t : t * r->batch + b;
}

static int64_t y_off(const lstm_run *r, int64_t t, int d, int64_t b)
{
    return (r->layout ? (b * r->seq + t) * r->ndir + d : (t * r->ndir + d) * r->batch + b) * r->hid;
}

static int64_t h_off(const lstm_run *r, int d, int64_t b)
{
    return (r->layout ? b * r->ndir + d : d * r->batch + b) * r->hid;
}

/* Steps batch rows [b0, b0 + nb), all of length len, through direction d. */
static void run_rows(const lstm_run *r, int d, int64_t b0, int64_t nb, int64_t len)
{
    int64_t H = r->hid, G = 4 * H;
    int backward = r->reverse || d == 1;
    float *h = r->h, *c = r->c;
    for (int64_t i = 0; i < nb; i++) {
        int64_t so = h_off(r, d, b0 + i);
        if (r->h0)
            memcpy(h + i * H, r->h0 + so, (size_t)H * sizeof *h);
        else
            memset(h + i * H, 0, (size_t)H * sizeof *h);
        if (r->c0)
            memcpy(c + i * H, r->c0 + so, (size_t)H * sizeof *c);
        else
            memset(c + i * H, 0, (size_t)H * sizeof *c);
    }
    eg_lstm_cell cell = {.p = r->p ? r->p + d * 3 * H : NULL,
                         .hid = H,
                         .clip = r->clip,
                         .input_forget = r->input_forget};
    for (int64_t s = 0; s < len; s++) {
        int64_t t = backward ? len - 1 - s : s;
        /* h R^T; the state starts at zero without initial_h, so step 0 needs none. */
        if (s == 0 && !r->h0) {
            memset(r->hr, 0, (size_t)(nb * G) * sizeof *r->hr);
        } else if (nb == 1) {
            r->rk->gemv(r->hr, h, r->lp->r[d], H, G, NULL);
        } else {
            eg_gemm q = {.m = nb,
                         .n = G,
                         .k = H,
                         .a = h,
                         .ars = H,
                         .acs = 1,
                         .bp = r->lp->r[d],
                         .c = r->hr,
                         .ldc = G};
            r->kn->gemm(&q);
        }
        for (int64_t i = 0; i < nb; i++) {
            cell.xw = r->xw + x_row(r, t, b0 + i) * G;
            cell.hr = r->hr + i * G;
            cell.c = c + i * H;
            cell.h = h + i * H;
            r->rk->lstm_cell(&cell);
            if (r->y)
                memcpy(r->y + y_off(r, t, d, b0 + i), cell.h, (size_t)H * sizeof *h);
        }
    }
    for (int64_t i = 0; i < nb; i++) {
        int64_t so = h_off(r, d, b0 + i);
        if (len == 0) {
            memset(h + i * H, 0, (size_t)H * sizeof *h);
            memset(c + i * H, 0, (size_t)H * sizeof *c);
        }
        if (r->yh)
            memcpy(r->yh + so, h + i * H, (size_t)H * sizeof *h);
        if (r->yc)
            memcpy(r->yc + so, c + i * H, (size_t)H * sizeof *c);
    }
}

/* Checks t is float32 with exactly these dims. */
static int dims_are(const ember_tensor *t, int rank, const int64_t *dims)
{
    if (t->dtype != EMBER_DT_FLOAT || t->rank != rank)
        return 0;
    for (int d = 0; d < rank; d++)
        if (t->dims[d] != dims[d])
            return 0;
    return 1;
}

int eg_x86_lstm_run(eg_kctx *k, const eg_x86_kernels *kn, const eg_x86_seq_kernels *rk)
{
    const eg_node *nd = eg_node_of(k);
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1), *rt = eg_in(k, 2), *b = eg_in(k, 3);
    const ember_tensor *lens = eg_in(k, 4), *h0 = eg_in(k, 5), *c0 = eg_in(k, 6);
    const ember_tensor *p = eg_in(k, 7);
    const char *dir = eg_attr_str(k, "direction", "forward");
    lstm_run r = {.kn = kn, .rk = rk, .ndir = directions(dir), .reverse = dir[0] == 'r'};
    r.layout = eg_opset(k) >= 14 ? (int)eg_attr_int(k, "layout", 0) : 0;
    /* Anything unusual is the reference kernel's to run or to report. */
    if (!r.ndir || !default_activations(nd, r.ndir) || (r.layout != 0 && r.layout != 1) || !x ||
        !w || !rt || x->dtype != EMBER_DT_FLOAT || x->rank != 3 || rt->rank != 3 ||
        (eg_has_attr(k, "clip") && !(eg_attr_float(k, "clip", 0) > 0)))
        return eg_run_reference(k);
    r.seq = x->dims[r.layout ? 1 : 0];
    r.batch = x->dims[r.layout ? 0 : 1];
    r.in = x->dims[2];
    r.hid = rt->dims[2];
    int64_t H = r.hid, G = 4 * H;
    int64_t wd[3] = {r.ndir, G, r.in}, rd[3] = {r.ndir, G, H}, bd[2] = {r.ndir, 2 * G};
    int64_t pd[2] = {r.ndir, 3 * H}, hd[3] = {r.ndir, r.batch, H};
    if (r.layout) {
        hd[0] = r.batch;
        hd[1] = r.ndir;
    }
    if (H < 1 || r.in < 1 ||
        (eg_has_attr(k, "hidden_size") && eg_attr_int(k, "hidden_size", 0) != H) ||
        !dims_are(w, 3, wd) || !dims_are(rt, 3, rd) || (b && !dims_are(b, 2, bd)) ||
        (h0 && !dims_are(h0, 3, hd)) || (c0 && !dims_are(c0, 3, hd)) || (p && !dims_are(p, 2, pd)))
        return eg_run_reference(k);
    int uniform = 1;
    if (lens) {
        if ((lens->dtype != EMBER_DT_INT32 && lens->dtype != EMBER_DT_INT64) || lens->rank != 1 ||
            lens->dims[0] != r.batch)
            return eg_run_reference(k);
        for (int64_t i = 0; i < r.batch; i++) {
            int64_t l = ku_get_int(lens, i);
            if (l < 0 || l > r.seq)
                return eg_run_reference(k);
            uniform = uniform && l == r.seq;
        }
    }
    r.lens = uniform ? NULL : lens;
    r.clip = eg_has_attr(k, "clip") ? eg_attr_float(k, "clip", 0) : 0.0f;
    r.input_forget = eg_attr_int(k, "input_forget", 0) != 0;
    r.x = x->data;
    r.h0 = h0 ? h0->data : NULL;
    r.c0 = c0 ? c0->data : NULL;
    r.p = p ? p->data : NULL;

    int64_t ydims[4] = {r.seq, r.ndir, r.batch, H}, sdims[3] = {r.ndir, r.batch, H};
    if (r.layout) {
        int64_t yl[4] = {r.batch, r.seq, r.ndir, H}, sl[3] = {r.batch, r.ndir, H};
        memcpy(ydims, yl, sizeof yl);
        memcpy(sdims, sl, sizeof sl);
    }
    if (eg_out_wanted(k, 0) && !(r.y = eg_out(k, 0, EMBER_DT_FLOAT, 4, ydims)))
        return EMBER_ENOMEM;
    if (eg_out_wanted(k, 1) && !(r.yh = eg_out(k, 1, EMBER_DT_FLOAT, 3, sdims)))
        return EMBER_ENOMEM;
    if (eg_out_wanted(k, 2) && !(r.yc = eg_out(k, 2, EMBER_DT_FLOAT, 3, sdims)))
        return EMBER_ENOMEM;
    if (r.y && r.lens) /* positions past a row's length stay zero */
        memset(r.y, 0, (size_t)ku_count(4, ydims) * sizeof *r.y);

    lstm_pack packed;
    r.lp = nd->kdata;
    if (!r.lp) {
        float *f = eg_scratch(k, (size_t)pack_floats(r.ndir, r.in, H) * sizeof *f);
        if (!f)
            return EMBER_ENOMEM;
        packed = (lstm_pack){.ndir = r.ndir, .in = r.in, .hid = H};
        pack_weights(&packed, f, w->data, rt->data, b ? b->data : NULL);
        r.lp = &packed;
    }
    int64_t rows = r.seq * r.batch;
    r.xw = eg_scratch(k, (size_t)((rows > 0 ? rows : 1) * G) * sizeof *r.xw);
    r.h = eg_scratch(k, (size_t)(r.batch * H) * sizeof *r.h);
    r.c = eg_scratch(k, (size_t)(r.batch * H) * sizeof *r.c);
    r.hr = eg_scratch(k, (size_t)(r.batch * G) * sizeof *r.hr);
    if (!r.xw || !r.h || !r.c || !r.hr)
        return EMBER_ENOMEM;
    for (int d = 0; d < r.ndir; d++) {
        if (rows == 1) {
            rk->gemv(r.xw, r.x, r.lp->w[d], r.in, G, r.lp->bias[d]);
        } else if (rows > 1) {
            eg_gemm q = {.m = rows,
                         .n = G,
                         .k = r.in,
                         .a = r.x,
                         .ars = r.in,
                         .acs = 1,
                         .bp = r.lp->w[d],
                         .c = r.xw,
                         .ldc = G,
                         .bias_col = r.lp->bias[d]};
            eg_x86_gemm_par(k, kn, &q);
        }
        if (!r.lens)
            run_rows(&r, d, 0, r.batch, r.seq);
        else
            for (int64_t i = 0; i < r.batch; i++)
                run_rows(&r, d, i, 1, ku_get_int(r.lens, i));
    }
    return 0;
}
