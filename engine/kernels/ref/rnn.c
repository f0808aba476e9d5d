/*
 * Reference kernels: recurrent layers (LSTM, GRU).
 *
 * Both share one driver: validate the inputs into an rnn_cfg, then for each direction and
 * each batch row walk that row's time steps (its sequence_lens entry, reversed for the
 * backward direction) carrying the hidden (and cell) state in scratch. One cell step computes
 * every gate's pre-activation as plain dot products with double accumulators, then applies
 * the gate equations. Behaviour where the ONNX text leaves room follows ONNX Runtime: clip is
 * applied to pre-activations after the biases (and LSTM peepholes), rows with sequence length
 * 0 get zero final states, Y is zero past a row's length, and activation_alpha/beta are
 * consumed in order by the functions that take them, with ORT's defaults after they run out.
 */
#include <ctype.h>
#include <math.h>

#include "kutil.h"

enum act_kind {
    ACT_RELU,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_HARDSIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
};

typedef struct act {
    int kind;
    float alpha, beta;
} act;

static const struct {
    const char *name;
    int kind, takes_alpha, takes_beta;
    float alpha, beta; /* used when activation_alpha/beta run out */
} act_table[] = {
    {"relu", ACT_RELU, 0, 0, 0, 0},
    {"tanh", ACT_TANH, 0, 0, 0, 0},
    {"sigmoid", ACT_SIGMOID, 0, 0, 0, 0},
    {"affine", ACT_AFFINE, 1, 1, 0, 0},
    {"leakyrelu", ACT_LEAKYRELU, 1, 0, 0.01f, 0},
    {"thresholdedrelu", ACT_THRESHOLDEDRELU, 1, 0, 0, 0},
    {"scaledtanh", ACT_SCALEDTANH, 1, 1, 0, 0},
    {"hardsigmoid", ACT_HARDSIGMOID, 1, 1, 0.2f, 0.5f},
    {"elu", ACT_ELU, 1, 0, 1.0f, 0},
    {"softsign", ACT_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", ACT_SOFTPLUS, 0, 0, 0, 0},
};

static float act_apply(const act *a, float x)
{
    switch (a->kind) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_TANH: return tanhf(x);
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case ACT_AFFINE: return a->alpha * x + a->beta;
    case ACT_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
    case ACT_THRESHOLDEDRELU: return x > a->alpha ? x : 0;
    case ACT_SCALEDTANH: return a->alpha * tanhf(a->beta * x);
    case ACT_HARDSIGMOID: {
        float v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case ACT_ELU: return x >= 0 ? x : a->alpha * (expf(x) - 1);
    case ACT_SOFTSIGN: return x / (1 + fabsf(x));
    case ACT_SOFTPLUS: return x > 20 ? x : log1pf(expf(x));
    default: return x;
    }
}

static int name_is(const char *s, const char *lower)
{
    for (; *s && *lower; s++, lower++)
        if (tolower((unsigned char)*s) != *lower)
            return 0;
    return *s == '\0' && *lower == '\0';
}

#define RNN_MAX_ACTS 6 /* 3 per direction (LSTM), 2 directions */

typedef struct rnn_cfg {
    int gates; /* weight blocks: 4 for LSTM (i, o, f, c), 3 for GRU (z, r, h) */
    int nact;  /* activations per direction: 3 for LSTM, 2 for GRU */
    int ndir, reverse, layout, has_clip;
    int input_forget;        /* LSTM: couple the gates, f = 1 - i */
    int linear_before_reset; /* GRU: apply R_h before the reset gate */
    int64_t seq, batch, in, hid;
    float clip;
    act acts[RNN_MAX_ACTS];
    const float *x, *w, *r, *b, *p, *h0, *c0;
    const ember_tensor *lens;
} rnn_cfg;

/* Reads the activations attribute (or the defaults) with their alpha and beta values. */
static int rnn_activations(eg_kctx *k, rnn_cfg *c, const char *const *defaults)
{
    const eg_attr *a = eg_node_attr(eg_node_of(k), "activations");
    int want = c->nact * c->ndir;
    const char *names[RNN_MAX_ACTS];
    if (!a) {
        for (int i = 0; i < want; i++)
            names[i] = defaults[i % c->nact];
    } else {
        if (a->kind != EG_ATTR_STRINGS)
            return eg_fail(k, EMBER_EINVAL, "activations must be a list of strings");
        /* Bidirectional nodes may list one set for both directions. */
        if (a->n != want && a->n != c->nact)
            return eg_fail(k, EMBER_EINVAL, "activations lists %d functions, expected %d", a->n,
                           want);
        for (int i = 0; i < want; i++)
            names[i] = a->strings[i % a->n];
    }
    const float *alphas, *betas;
    int na = eg_attr_floats(k, "activation_alpha", &alphas);
    int nb = eg_attr_floats(k, "activation_beta", &betas);
    int ia = 0, ib = 0;
    for (int i = 0; i < want; i++) {
        size_t t = 0;
        while (t < sizeof act_table / sizeof act_table[0] && !name_is(names[i], act_table[t].name))
            t++;
        if (t == sizeof act_table / sizeof act_table[0])
            return eg_fail(k, EMBER_EUNSUPPORTED, "unknown activation '%s'", names[i]);
        c->acts[i].kind = act_table[t].kind;
        c->acts[i].alpha = act_table[t].alpha;
        c->acts[i].beta = act_table[t].beta;
        if (act_table[t].takes_alpha && ia < na)
            c->acts[i].alpha = alphas[ia++];
        if (act_table[t].takes_beta && ib < nb)
            c->acts[i].beta = betas[ib++];
    }
    return 0;
}

/* Checks that t is float32 with exactly the given dims. */
static int rnn_check(eg_kctx *k, const ember_tensor *t, const char *what, int rank,
                     const int64_t *dims)
{
    if (t->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "%s must be float32, got %s", what,
                       ember_dtype_name(t->dtype));
    int ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = t->dims[d] == dims[d];
    if (!ok)
        return eg_fail(k, EMBER_ESHAPE, "%s has the wrong shape", what);
    return 0;
}

/* Validates the inputs and attributes shared by LSTM and GRU. Inputs: X, W, R, B,
 * sequence_lens, initial_h, then (LSTM) initial_c and P. */
static int rnn_setup(eg_kctx *k, rnn_cfg *c, const char *const *defaults)
{
    const ember_tensor *x = eg_in(k, 0), *w = eg_in(k, 1), *r = eg_in(k, 2);
    if (!x || !w || !r)
        return eg_fail(k, EMBER_EINVAL, "inputs X, W and R are required");
    const char *dir = eg_attr_str(k, "direction", "forward");
    if (!strcmp(dir, "forward") || !strcmp(dir, "reverse")) {
        c->ndir = 1;
        c->reverse = dir[0] == 'r';
    } else if (!strcmp(dir, "bidirectional")) {
        c->ndir = 2;
    } else {
        return eg_fail(k, EMBER_EINVAL, "unknown direction '%s'", dir);
    }
    c->layout = eg_opset(k) >= 14 ? (int)eg_attr_int(k, "layout", 0) : 0;
    if (c->layout != 0 && c->layout != 1)
        return eg_fail(k, EMBER_EINVAL, "layout must be 0 or 1");
    if (x->dtype != EMBER_DT_FLOAT || x->rank != 3)
        return eg_fail(k, EMBER_ESHAPE, "X must be a 3-D float32 tensor");
    c->seq = x->dims[c->layout ? 1 : 0];
    c->batch = x->dims[c->layout ? 0 : 1];
    c->in = x->dims[2];
    if (r->rank != 3)
        return eg_fail(k, EMBER_ESHAPE, "R must be 3-D");
    c->hid = r->dims[2];
    if (eg_has_attr(k, "hidden_size") && eg_attr_int(k, "hidden_size", 0) != c->hid)
        return eg_fail(k, EMBER_ESHAPE, "hidden_size %lld does not match R (%lld)",
                       (long long)eg_attr_int(k, "hidden_size", 0), (long long)c->hid);
    if (c->hid < 1)
        return eg_fail(k, EMBER_ESHAPE, "hidden size must be positive");
    int64_t gh = c->gates * c->hid;
    int64_t wd[3] = {c->ndir, gh, c->in}, rd[3] = {c->ndir, gh, c->hid};
    int64_t bd[2] = {c->ndir, 2 * gh}, pd[2] = {c->ndir, 3 * c->hid};
    int64_t hd[3] = {c->ndir, c->batch, c->hid};
    if (c->layout) {
        hd[0] = c->batch;
        hd[1] = c->ndir;
    }
    int rc;
    if ((rc = rnn_check(k, w, "W", 3, wd)) || (rc = rnn_check(k, r, "R", 3, rd)))
        return rc;
    const ember_tensor *b = eg_in(k, 3), *h0 = eg_in(k, 5), *c0 = NULL, *p = NULL;
    if (c->gates == 4) {
        c0 = eg_in(k, 6);
        p = eg_in(k, 7);
    }
    if ((b && (rc = rnn_check(k, b, "B", 2, bd))) ||
        (h0 && (rc = rnn_check(k, h0, "initial_h", 3, hd))) ||
        (c0 && (rc = rnn_check(k, c0, "initial_c", 3, hd))) ||
        (p && (rc = rnn_check(k, p, "P", 2, pd))))
        return rc;
    c->x = x->data;
    c->w = w->data;
    c->r = r->data;
    c->b = b ? b->data : NULL;
    c->h0 = h0 ? h0->data : NULL;
    c->c0 = c0 ? c0->data : NULL;
    c->p = p ? p->data : NULL;

    c->lens = eg_in(k, 4);
    if (c->lens) {
        const ember_tensor *l = c->lens;
        if ((l->dtype != EMBER_DT_INT32 && l->dtype != EMBER_DT_INT64) || l->rank != 1 ||
            l->dims[0] != c->batch)
            return eg_fail(k, EMBER_ESHAPE, "sequence_lens must be int32 [batch_size]");
        for (int64_t i = 0; i < c->batch; i++)
            if (ku_get_int(l, i) < 0 || ku_get_int(l, i) > c->seq)
                return eg_fail(k, EMBER_EINVAL, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                               (long long)i, (long long)ku_get_int(l, i), (long long)c->seq);
    }
    c->has_clip = eg_has_attr(k, "clip");
    c->clip = eg_attr_float(k, "clip", 0);
    if (c->has_clip && !(c->clip > 0))
        return eg_fail(k, EMBER_EINVAL, "clip must be positive");
    return rnn_activations(k, c, defaults);
}

static inline float rnn_clip(const rnn_cfg *c, float v)
{
    if (!c->has_clip)
        return v;
    return v > c->clip ? c->clip : v < -c->clip ? -c->clip : v;
}

/* out[j] = bias[j] + W[j,:] . x (+ R[j,:] . h when R is given), for rows [0, n). */
static void rnn_affine(float *out, int64_t n, const float *wm, const float *x, int64_t in,
                       const float *rm, const float *h, int64_t hid, const float *wb,
                       const float *rb)
{
    for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t i = 0; i < in; i++)
            acc += (double)wm[j * in + i] * x[i];
        if (rm)
            for (int64_t i = 0; i < hid; i++)
                acc += (double)rm[j * hid + i] * h[i];
        if (wb)
            acc += (double)wb[j] + rb[j];
        out[j] = (float)acc;
    }
}

/* Offsets of X[t, b], Y[t, d, b] and the state [d, b] for the node's layout. */
static int64_t x_off(const rnn_cfg *c, int64_t t, int64_t b)
{
    return (c->layout ? b * c->seq + t : t * c->batch + b) * c->in;
}

static int64_t y_off(const rnn_cfg *c, int64_t t, int d, int64_t b)
{
    return (c->layout ? (b * c->seq + t) * c->ndir + d : (t * c->ndir + d) * c->batch + b) * c->hid;
}

static int64_t h_off(const rnn_cfg *c, int d, int64_t b)
{
    return (c->layout ? b * c->ndir + d : d * c->batch + b) * c->hid;
}

/* One LSTM step for one batch row of direction d; h and cs (the cell) are updated in place.
 * g holds the 4H gate pre-activations, in ONNX's block order i, o, f, c. */
static void lstm_step(const rnn_cfg *c, int d, const float *xt, float *h, float *cs, float *g)
{
    int64_t H = c->hid, G = 4 * H;
    const float *wb = c->b ? c->b + d * 2 * G : NULL;
    rnn_affine(g, G, c->w + d * G * c->in, xt, c->in, c->r + d * G * H, h, H, wb,
               wb ? wb + G : NULL);
    const float *p = c->p ? c->p + d * 3 * H : NULL; /* peepholes, in order i, o, f */
    const act *f = &c->acts[d * 3], *g_act = &c->acts[d * 3 + 1], *h_act = &c->acts[d * 3 + 2];
    for (int64_t j = 0; j < H; j++) {
        float i = act_apply(f, rnn_clip(c, g[j] + (p ? p[j] * cs[j] : 0)));
        float fg = c->input_forget
                       ? 1 - i
                       : act_apply(f, rnn_clip(c, g[2 * H + j] + (p ? p[2 * H + j] * cs[j] : 0)));
        float cand = act_apply(g_act, rnn_clip(c, g[3 * H + j]));
        float cell = fg * cs[j] + i * cand;
        float o = act_apply(f, rnn_clip(c, g[H + j] + (p ? p[H + j] * cell : 0)));
        cs[j] = cell;
        h[j] = o * act_apply(h_act, cell);
    }
}

/* One GRU step for one batch row of direction d; h is updated in place. g holds 3H floats of
 * gate values (order z, r, h) and t H more for the reset-gated state. */
static void gru_step(const rnn_cfg *c, int d, const float *xt, float *h, float *g, float *t)
{
    int64_t H = c->hid, G = 3 * H;
    const float *wm = c->w + d * G * c->in, *rm = c->r + d * G * H;
    const float *wb = c->b ? c->b + d * 2 * G : NULL, *rb = wb ? wb + G : NULL;
    const act *f = &c->acts[d * 2], *g_act = &c->acts[d * 2 + 1];
    /* z and r see the previous state directly. */
    rnn_affine(g, 2 * H, wm, xt, c->in, rm, h, H, wb, rb);
    for (int64_t j = 0; j < 2 * H; j++)
        g[j] = act_apply(f, rnn_clip(c, g[j]));
    const float *z = g, *r = g + H;
    float *hc = g + 2 * H;
    if (c->linear_before_reset) {
        /* ht = g(W_h x + Wb_h + r * (R_h h + Rb_h)) */
        rnn_affine(hc, H, wm + 2 * H * c->in, xt, c->in, NULL, NULL, 0, NULL, NULL);
        rnn_affine(t, H, rm + 2 * H * H, h, H, NULL, NULL, 0, NULL, NULL);
        for (int64_t j = 0; j < H; j++) {
            float lin = t[j] + (rb ? rb[2 * H + j] : 0);
            hc[j] += (wb ? wb[2 * H + j] : 0) + r[j] * lin;
        }
    } else {
        /* ht = g(W_h x + R_h (r * h) + Wb_h + Rb_h) */
        for (int64_t j = 0; j < H; j++)
            t[j] = r[j] * h[j];
        rnn_affine(hc, H, wm + 2 * H * c->in, xt, c->in, rm + 2 * H * H, t, H,
                   wb ? wb + 2 * H : NULL, rb ? rb + 2 * H : NULL);
    }
    for (int64_t j = 0; j < H; j++) {
        float cand = act_apply(g_act, rnn_clip(c, hc[j]));
        h[j] = (1 - z[j]) * cand + z[j] * h[j];
    }
}

/* Runs every direction and batch row; outputs 0 (Y), 1 (Y_h) and, for LSTM, 2 (Y_c). */
static int rnn_run(eg_kctx *k, rnn_cfg *c)
{
    int64_t H = c->hid, ydims[4], sdims[3];
    if (c->layout) {
        int64_t yd[4] = {c->batch, c->seq, c->ndir, H}, sd[3] = {c->batch, c->ndir, H};
        memcpy(ydims, yd, sizeof yd);
        memcpy(sdims, sd, sizeof sd);
    } else {
        int64_t yd[4] = {c->seq, c->ndir, c->batch, H}, sd[3] = {c->ndir, c->batch, H};
        memcpy(ydims, yd, sizeof yd);
        memcpy(sdims, sd, sizeof sd);
    }
    float *y = NULL, *yh = NULL, *yc = NULL;
    if (eg_out_wanted(k, 0) && !(y = eg_out(k, 0, EMBER_DT_FLOAT, 4, ydims)))
        return EMBER_ENOMEM;
    if (eg_out_wanted(k, 1) && !(yh = eg_out(k, 1, EMBER_DT_FLOAT, 3, sdims)))
        return EMBER_ENOMEM;
    if (c->gates == 4 && eg_out_wanted(k, 2) && !(yc = eg_out(k, 2, EMBER_DT_FLOAT, 3, sdims)))
        return EMBER_ENOMEM;
    /* Positions past a row's sequence length stay zero. */
    if (y)
        memset(y, 0, (size_t)ku_count(4, ydims) * sizeof *y);
    float *h = eg_scratch(k, (size_t)(c->gates + 3) * (size_t)H * sizeof *h);
    if (!h)
        return EMBER_ENOMEM;
    float *cs = h + H, *tmp = cs + H, *g = tmp + H;
    for (int d = 0; d < c->ndir; d++) {
        int backward = c->reverse || d == 1;
        for (int64_t b = 0; b < c->batch; b++) {
            int64_t len = c->lens ? ku_get_int(c->lens, b) : c->seq, so = h_off(c, d, b);
            if (c->h0)
                memcpy(h, c->h0 + so, (size_t)H * sizeof *h);
            else
                memset(h, 0, (size_t)H * sizeof *h);
            if (c->c0)
                memcpy(cs, c->c0 + so, (size_t)H * sizeof *cs);
            else
                memset(cs, 0, (size_t)H * sizeof *cs);
            for (int64_t s = 0; s < len; s++) {
                int64_t t = backward ? len - 1 - s : s;
                const float *xt = c->x + x_off(c, t, b);
                if (c->gates == 4)
                    lstm_step(c, d, xt, h, cs, g);
                else
                    gru_step(c, d, xt, h, g, tmp);
                if (y)
                    memcpy(y + y_off(c, t, d, b), h, (size_t)H * sizeof *h);
            }
            if (len == 0) {
                memset(h, 0, (size_t)H * sizeof *h);
                memset(cs, 0, (size_t)H * sizeof *cs);
            }
            if (yh)
                memcpy(yh + so, h, (size_t)H * sizeof *h);
            if (yc)
                memcpy(yc + so, cs, (size_t)H * sizeof *cs);
        }
    }
    return 0;
}

static int lstm_run(eg_kctx *k)
{
    static const char *const defaults[] = {"Sigmoid", "Tanh", "Tanh"};
    rnn_cfg c = {.gates = 4, .nact = 3};
    int rc = rnn_setup(k, &c, defaults);
    if (rc)
        return rc;
    c.input_forget = eg_attr_int(k, "input_forget", 0) != 0;
    return rnn_run(k, &c);
}

static int gru_run(eg_kctx *k)
{
    static const char *const defaults[] = {"Sigmoid", "Tanh"};
    rnn_cfg c = {.gates = 3, .nact = 2};
    int rc = rnn_setup(k, &c, defaults);
    if (rc)
        return rc;
    c.linear_before_reset = eg_attr_int(k, "linear_before_reset", 0) != 0;
    return rnn_run(k, &c);
}

const eg_op eg_ops_rnn[] = {
    {"LSTM", "", lstm_run},
    {"GRU", "", gru_run},
    {NULL, NULL, NULL},
};
