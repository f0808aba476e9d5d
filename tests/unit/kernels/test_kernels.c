/*
 * Check unit tests for the optimized kernels: every one against its reference kernel on
 * randomized shapes, at every dispatch level this CPU supports (forced with EMBER_CPU), and
 * the dispatch itself (EMBER_CPU picks the level; optimized nodes get their weights packed
 * at load).
 *
 * Each case builds a one-node ONNX model (plus a fused activation after Conv and Gemm), loads
 * it once per level and runs it on the same random inputs; the reference level's output is
 * the oracle. Shapes are drawn to cover odd sizes, channel counts that are not a multiple of
 * any vector width, padding, strides, dilations and groups, 1-D and 2-D, constant weights
 * (packed at load) and weights given as inputs (packed per run).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/engine.h>

#include "../../../engine/kernels/x86/seq.h"
#include "../../../engine/kernels/x86/x86ops.h"
#if defined(__aarch64__)
#include "../../../engine/kernels/arm/arm.h"
#endif
#include "../engine/onnx_builder.h"
#include "cpu.h"
#include "model.h"
#include "passes.h"
#include "op.h"
#include "tgroup.h"

#define F32 EMBER_DT_FLOAT
#define MAX_IN 6

/* A fixed-seed generator, so a failing case is the same on every run. */
static uint32_t rng_state;

static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static int64_t rnd_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static float *rnd_floats(int64_t n)
{
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(rnd() % 20001) / 10000.0f - 1.0f;
    return p;
}

static int64_t count(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* One case: the model's bytes, its inputs, and what to check about the node under test. */
typedef struct kcase {
    uint8_t *buf;
    size_t len;
    int nin;
    ember_tensor in[MAX_IN];
    const char *op;
    int packed; /* the optimized node must have packed weights at load */
    int slack;  /* reduction length, for the tolerance */
    char what[200];
} kcase;

static ember_model *load_at(const kcase *c, int level)
{
    ember_model *m = NULL;
    ember_err err = {{0}};
    ck_assert_int_eq(setenv("EMBER_CPU", eg_cpu_name(level), 1), 0);
    int rc = ember_model_load_mem(c->buf, c->len, &m, &err);
    unsetenv("EMBER_CPU");
    ck_assert_msg(rc == 0, "%s: load at %s: %s", c->what, eg_cpu_name(level), err.msg);
    return m;
}

/* The node of op type op in m's graph, which must be the only one. */
static const eg_node *node_of(const ember_model *m, const char *op)
{
    const eg_node *found = NULL;
    for (int i = 0; i < m->g->nnode; i++)
        if (strcmp(m->g->node[i].op, op) == 0) {
            ck_assert_ptr_null(found);
            found = &m->g->node[i];
        }
    ck_assert_ptr_nonnull(found);
    return found;
}

static float *run_at(const kcase *c, int level, ember_tensor *shape)
{
    ember_model *m = load_at(c, level);
    const eg_node *n = node_of(m, c->op);
    const eg_fast_op *f = eg_op_fast(n->impl);
    if (level == EG_CPU_REF) {
        ck_assert_ptr_null(f);
    } else {
        ck_assert_msg(f && f->level == level, "%s: no %s kernel chosen", c->what,
                      eg_cpu_name(level));
        ck_assert_msg(!c->packed || n->kdata, "%s: weights not packed at load", c->what);
    }
    ember_session *s;
    ember_err err = {{0}};
    ember_tensor y;
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    /* Twice: the second run uses the memory plan the first one made. */
    for (int r = 0; r < 2; r++)
        ck_assert_msg(ember_session_run(s, c->in, c->nin, &y, 1, &err) == 0, "%s at %s: %s",
                      c->what, eg_cpu_name(level), err.msg);
    int64_t ny = ember_tensor_count(&y);
    float *out = malloc((size_t)(ny ? ny : 1) * sizeof *out);
    ck_assert_ptr_nonnull(out);
    memcpy(out, y.data, (size_t)ny * sizeof *out);
    *shape = y;
    shape->data = NULL;
    ember_session_free(s);
    ember_model_free(m);
    return out;
}

/* Runs c at every supported level and compares each with the reference level. */
static void check_case(kcase *c)
{
    ember_tensor rs, fs;
    float *ref = run_at(c, EG_CPU_REF, &rs);
    int64_t n = ember_tensor_count(&rs);
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        if (!eg_cpu_supported(level))
            continue;
        float *fast = run_at(c, level, &fs);
        ck_assert_int_eq(fs.rank, rs.rank);
        for (int d = 0; d < rs.rank; d++)
            ck_assert_int_eq(fs.dims[d], rs.dims[d]);
        /* Inputs are in [-1, 1]: rounding differences grow with the reduction length. Equal
         * values pass as they are (a pool window all padding is -inf in both). */
        double tol = 1e-5 * (1 + c->slack);
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(fast[i] == ref[i] || (isnan(fast[i]) ? isnan(ref[i])
                                                               : fabs((double)fast[i] - ref[i]) <=
                                                                     tol * (1 + fabs(ref[i]))),
                          "%s at %s: y[%lld] = %.7g, reference %.7g", c->what, eg_cpu_name(level),
                          (long long)i, fast[i], ref[i]);
        free(fast);
    }
    free(ref);
    free(c->buf);
    for (int i = 0; i < c->nin; i++)
        free(c->in[i].data);
}

static void add_input(tb_model *t, kcase *c, const char *name, int rank, const int64_t *dims)
{
    ember_tensor *x = &c->in[c->nin++];
    x->dtype = F32;
    x->rank = rank;
    memcpy(x->dims, dims, (size_t)rank * sizeof *dims);
    x->data = rnd_floats(count(rank, dims));
    tb_input(t, name, F32, rank, dims);
}

static void add_const(tb_model *t, const char *name, int rank, const int64_t *dims)
{
    int64_t n = count(rank, dims);
    float *v = rnd_floats(n);
    tb_init(t, name, F32, rank, dims, v, (size_t)n * sizeof *v);
    free(v);
}

/* Appends an activation node reading "p" and writing "y" (or an Identity-free pass-through
 * when act is 0: the producer wrote "y" itself). Returns its name for messages. */
static const char *add_act(tb_model *t, int act)
{
    static const int64_t one[1] = {1};
    switch (act) {
    case 1: tb_node(t, "Relu", "p", "y"); return "Relu";
    case 2: {
        float lo = -0.25f, hi = 0.5f;
        tb_init(t, "lo", F32, 0, one, &lo, sizeof lo);
        tb_init(t, "hi", F32, 0, one, &hi, sizeof hi);
        tb_node(t, "Clip", "p,lo,hi", "y");
        return "Clip";
    }
    case 3:
        tb_node(t, "LeakyRelu", "p", "y");
        tb_attr_float(t, "alpha", 0.1f);
        return "LeakyRelu";
    case 4: tb_node(t, "HardSigmoid", "p", "y"); return "HardSigmoid";
    case 5: tb_node(t, "Sigmoid", "p", "y"); return "Sigmoid";
    case 6: /* HardSwish spelled out, as PyTorch exports it: the optimizer fuses the pair */
        tb_node(t, "HardSigmoid", "p", "gate");
        tb_attr_float(t, "alpha", 1.0f / 6);
        tb_node(t, "Mul", "p,gate", "y");
        return "HardSwish (HardSigmoid, Mul)";
    default: return "none";
    }
}

/* One random LSTM, checked on one of its three outputs (the others omitted or not read):
 * every direction and layout, odd hidden and input sizes, with and without bias, initial
 * states, sequence_lens (equal or differing, zeros included), peepholes, clip and
 * input_forget; weights constant (packed at load) or inputs (packed per run). A node with
 * other activations must run the reference kernel whatever the level. */
static void lstm_case(int i)
{
    static const char *const dirs[] = {"forward", "reverse", "bidirectional"};
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "LSTM";
    int ndir = (int)rnd_in(1, 3), layout = rnd() % 3 == 0, wconst = rnd() % 4 != 0;
    const char *dir = dirs[ndir - 1];
    ndir = ndir == 3 ? 2 : 1;
    int64_t seq = rnd_in(1, 6), batch = rnd_in(1, 4), in = rnd_in(1, 40);
    int64_t hid = i % 8 == 7 ? rnd_in(60, 140) : rnd_in(1, 37);
    int bias = rnd() % 4 != 0, h0 = rnd() % 2, c0 = rnd() % 2, peep = rnd() % 4 == 0;
    int lens = (int)rnd_in(0, 2), clip = rnd() % 4 == 0, forget = rnd() % 5 == 0;
    int out = (int)rnd_in(0, 2), acts = i % 10 == 9; /* acts: relu for g, not the default */
    c.packed = wconst && !acts;
    c.slack = (int)(in + hid) * (int)seq;
    int64_t G = 4 * hid;
    int64_t xd[3] = {layout ? batch : seq, layout ? seq : batch, in};
    int64_t wd[3] = {ndir, G, in}, rd[3] = {ndir, G, hid}, bd[2] = {ndir, 2 * G};
    int64_t sd[3] = {layout ? batch : ndir, layout ? ndir : batch, hid}, pd[2] = {ndir, 3 * hid};
    int64_t ld[1] = {batch}, yd[4] = {-1, -1, -1, -1};
    tb_model *t = tb_new(14);
    add_input(t, &c, "x", 3, xd);
    if (wconst) {
        add_const(t, "w", 3, wd);
        add_const(t, "r", 3, rd);
    } else {
        add_input(t, &c, "w", 3, wd);
        add_input(t, &c, "r", 3, rd);
    }
    if (bias)
        add_const(t, "b", 2, bd);
    if (lens) {
        int32_t lv[4];
        for (int b = 0; b < batch; b++)
            lv[b] = lens == 1 ? (int32_t)seq : (int32_t)rnd_in(0, seq);
        tb_init(t, "lens", EMBER_DT_INT32, 1, ld, lv, (size_t)batch * sizeof *lv);
    }
    if (h0)
        add_input(t, &c, "h0", 3, sd);
    if (c0)
        add_input(t, &c, "c0", 3, sd);
    if (peep)
        add_const(t, "p", 2, pd);
    char ins[64];
    snprintf(ins, sizeof ins, "x,w,r,%s,%s,%s,%s,%s", bias ? "b" : "", lens ? "lens" : "",
             h0 ? "h0" : "", c0 ? "c0" : "", peep ? "p" : "");
    tb_node(t, "LSTM", ins, out == 0 ? "y" : out == 1 ? ",y" : "yy,,y");
    tb_attr_int(t, "hidden_size", hid);
    tb_attr_string(t, "direction", dir);
    tb_attr_int(t, "layout", layout);
    if (clip)
        tb_attr_float(t, "clip", 0.5f + (float)rnd_in(0, 20) / 10.0f);
    if (forget)
        tb_attr_int(t, "input_forget", 1);
    if (acts)
        tb_attr_strings(t, "activations",
                        ndir == 2 ? "Sigmoid,Relu,Tanh,Sigmoid,Relu,Tanh" : "Sigmoid,Relu,Tanh");
    tb_output(t, "y", F32, out == 0 ? 4 : 3, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what,
             "LSTM %s layout %d seq %lld batch %lld in %lld hid %lld W,R%s bias %d lens %d h0 %d "
             "c0 %d peepholes %d clip %d input_forget %d output %d%s",
             dir, layout, (long long)seq, (long long)batch, (long long)in, (long long)hid,
             wconst ? " const" : " input", bias, lens, h0, c0, peep, clip, forget, out,
             acts ? " activations Sigmoid,Relu,Tanh" : "");
    check_case(&c);
}

START_TEST(lstm_matches_reference)
{
    rng_state = 31337u;
    for (int i = 0; i < 80; i++)
        lstm_case(i);
}
END_TEST

/* The level's GEMM and depthwise kernels, or NULL where this CPU or build has none. */
static const eg_x86_kernels *simd_kernels(int level)
{
    if (!eg_cpu_supported(level))
        return NULL;
#if defined(__x86_64__)
    if (level == EG_CPU_AVX2)
        return &eg_x86_avx2;
    if (level == EG_CPU_AVX512)
        return &eg_x86_avx512;
#elif defined(__aarch64__)
    if (level == EG_CPU_NEON)
        return &eg_arm_neon;
#endif
    return NULL;
}

/* The recurrent kernels of a level this CPU supports, or NULL. */
static const eg_x86_seq_kernels *seq_kernels(int level)
{
    if (!eg_cpu_supported(level))
        return NULL;
#if defined(__x86_64__)
    if (level == EG_CPU_AVX2)
        return &eg_x86_avx2_seq;
    if (level == EG_CPU_AVX512)
        return &eg_x86_avx512_seq;
#elif defined(__aarch64__)
    if (level == EG_CPU_NEON)
        return &eg_arm_neon_seq;
#endif
    return NULL;
}

/* The vectorized sigmoid and tanh against libm's (in double) over [-30, 30] and at the
 * edges, on lengths that leave every tail size; nothing past n is written. */
START_TEST(rnn_activations_match_libm)
{
    enum { N = 6001 };
    static float x[N + 1], y[N + 1];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - N / 2) / 100.0f;
    x[0] = -1e30f, x[1] = 1e30f, x[2] = -0.0f, x[3] = 1e-30f, x[4] = -89.0f, x[5] = 89.0f;
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        const eg_x86_seq_kernels *rk = seq_kernels(level);
        if (!rk)
            continue;
        for (int fn = 0; fn < 2; fn++) {
            for (int64_t n = N - 17; n <= N; n++) {
                y[n] = 12345.0f;
                (fn ? rk->tanh : rk->sigmoid)(y, x, n);
                ck_assert_float_eq(y[n], 12345.0f);
            }
            for (int i = 0; i < N; i++) {
                double want = fn ? tanh((double)x[i]) : 1.0 / (1.0 + exp(-(double)x[i]));
                ck_assert_msg(fabs(y[i] - want) <= 3e-7, "%s %s(%g) = %.9g, libm %.9g",
                              eg_cpu_name(level), fn ? "tanh" : "sigmoid", (double)x[i],
                              (double)y[i], want);
            }
        }
    }
}
END_TEST

/* One GEMV on packed weights per shape (odd k and n, n across several panels and not a
 * multiple of any vector width) against a plain double-accumulated product. */
START_TEST(rnn_gemv_matches_plain)
{
    rng_state = 2718u;
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        const eg_x86_seq_kernels *rk = seq_kernels(level);
        if (!rk)
            continue;
        for (int i = 0; i < 40; i++) {
            int64_t k = rnd_in(1, 150), n = rnd_in(1, 150);
            float *x = rnd_floats(k), *b = rnd_floats(k * n), *bias = rnd_floats(n);
            float *bp = malloc((size_t)eg_pack_b_size(k, n) * sizeof *bp);
            float *y = malloc((size_t)(n + 1) * sizeof *y);
            ck_assert(bp && y);
            eg_pack_b(bp, b, k, n, n, 1);
            int with_bias = i % 2;
            y[n] = 12345.0f;
            rk->gemv(y, x, bp, k, n, with_bias ? bias : NULL);
            ck_assert_float_eq(y[n], 12345.0f);
            for (int64_t j = 0; j < n; j++) {
                double want = with_bias ? bias[j] : 0.0;
                for (int64_t p = 0; p < k; p++)
                    want += (double)x[p] * b[p * n + j];
                ck_assert_msg(fabs(y[j] - want) <= 1e-5 * (double)(k + 1),
                              "%s k %lld n %lld: "
                              "y[%lld] = %.7g, want %.7g",
                              eg_cpu_name(level), (long long)k, (long long)n, (long long)j,
                              (double)y[j], want);
            }
            free(x), free(b), free(bias), free(bp), free(y);
        }
    }
}
END_TEST

/* The narrow product (few columns, packed A) against a plain double-accumulated one: odd
 * row counts, reductions longer than its B chunk, B through row strides or a row offset
 * table, with and without row bias, every in-kernel activation, and nothing written past the
 * columns it owns. */
START_TEST(gemm_narrow_matches_plain)
{
    rng_state = 1618u;
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        const eg_x86_seq_kernels *sk = seq_kernels(level);
        if (!sk)
            continue;
        for (int i = 0; i < 60; i++) {
            int64_t m = rnd_in(1, 40), n = rnd_in(1, 20), k = rnd_in(1, i % 4 ? 60 : 700);
            int64_t ldb = n + rnd_in(0, 3), ldc = n + 1;
            int offs = i % 3 == 0, act = (int)rnd_in(0, 5);
            float *a = rnd_floats(m * k), *b = rnd_floats(k * ldb + n), *bias = rnd_floats(m);
            float *ap = malloc((size_t)eg_pack_a_size(m, k) * sizeof *ap);
            float *c = malloc((size_t)(m * ldc) * sizeof *c);
            int64_t *koff = malloc((size_t)k * sizeof *koff);
            ck_assert(ap && c && koff);
            eg_pack_a(ap, a, m, k, k, 1);
            for (int64_t p = 0; p < k; p++) /* rows of B in a scrambled order */
                koff[p] = ((p * 7) % k) * ldb;
            for (int64_t j = 0; j < m * ldc; j++)
                c[j] = 12345.0f;
            eg_gemm g = {.m = m,
                         .n = n,
                         .k = k,
                         .ap = ap,
                         .b = b,
                         .ldb = ldb,
                         .c = c,
                         .ldc = ldc,
                         .bias_row = i % 2 ? bias : NULL,
                         .koff = offs ? koff : NULL,
                         .act = act == 1   ? EG_ACT_RELU
                                : act == 2 ? EG_ACT_CLIP
                                : act == 3 ? EG_ACT_LEAKY_RELU
                                : act == 4 ? EG_ACT_HARD_SIGMOID
                                : act == 5 ? EG_ACT_HARD_SWISH
                                           : 0,
                         .alpha = act == 3 ? 0.1f : act >= 4 ? 0.25f : -0.25f,
                         .beta = 0.5f};
            sk->gemm_narrow(&g);
            for (int64_t r = 0; r < m; r++) {
                ck_assert_float_eq(c[r * ldc + n], 12345.0f);
                for (int64_t j = 0; j < n; j++) {
                    double want = g.bias_row ? bias[r] : 0.0;
                    for (int64_t p = 0; p < k; p++)
                        want += (double)a[r * k + p] * b[(offs ? koff[p] : p * ldb) + j];
                    if (act == 1)
                        want = want > 0 ? want : 0;
                    else if (act == 2)
                        want = want < -0.25 ? -0.25 : want > 0.5 ? 0.5 : want;
                    else if (act == 3)
                        want = want >= 0 ? want : 0.1 * want;
                    else if (act >= 4) /* the gate clamp(0.25 x + 0.5), or x times it */
                        want = (act == 5 ? want : 1) * fmax(0, fmin(1, 0.25 * want + 0.5));
                    ck_assert_msg(fabs(c[r * ldc + j] - want) <= 1e-5 * (double)(k + 1),
                                  "%s m %lld n %lld k %lld: c[%lld, %lld] = %.7g, want %.7g",
                                  eg_cpu_name(level), (long long)m, (long long)n, (long long)k,
                                  (long long)r, (long long)j, (double)c[r * ldc + j], want);
                }
            }
            free(a), free(b), free(bias), free(ap), free(c), free(koff);
        }
    }
}
END_TEST

/* 1-D convolutions over a few frames, as in Silero VAD: an STFT as a strided Conv with a long
 * kernel and many output channels, and encoder layers of many channels over 1 to 4 frames
 * (stride 1 and 2), so the output is narrower than a vector. */
START_TEST(conv1d_few_frames_matches_reference)
{
    rng_state = 4711u;
    static const int64_t shapes[][6] = {
        /* c, m, k, stride, pad, length */
        {1, 258, 256, 128, 0, 640}, {129, 128, 3, 1, 1, 4}, {128, 64, 3, 2, 1, 4},
        {64, 64, 3, 2, 1, 2},       {64, 128, 3, 1, 1, 1},  {128, 1, 1, 1, 0, 1},
        {37, 29, 5, 3, 2, 11},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int64_t *s = shapes[i];
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "Conv";
        c.packed = 1;
        c.slack = (int)(s[0] * s[2]);
        int64_t xd[3] = {1, s[0], s[5]}, wd[3] = {s[1], s[0], s[2]}, bd[1] = {s[1]};
        int64_t yd[3] = {-1, -1, -1}, pads[2] = {s[4], s[4]};
        tb_model *t = tb_new(13);
        add_input(t, &c, "x", 3, xd);
        add_const(t, "w", 3, wd);
        add_const(t, "b", 1, bd);
        tb_node(t, "Conv", "x,w,b", "p");
        tb_attr_ints(t, "strides", 1, &s[3]);
        tb_attr_ints(t, "pads", 2, pads);
        add_act(t, 1);
        tb_output(t, "y", F32, 3, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "Conv1d %lld->%lld k %lld stride %lld pad %lld on %lld",
                 (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                 (long long)s[4], (long long)s[5]);
        check_case(&c);
    }
}
END_TEST

/* One Conv to check: nsp spatial dimensions (1 or 2; for 1 the [0] entries are unused), n
 * images of group * cg channels to group * mg, kernel k, strides s, dilations d, pads (begin
 * then end), input size in, fused activation act (add_act), bias and constant weights or not. */
typedef struct conv_spec {
    int nsp, act, bias, wconst;
    int64_t n, group, cg, mg, k[2], s[2], d[2], pads[4], in[2];
} conv_spec;

static void conv_check(const conv_spec *cs)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "Conv";
    int nsp = cs->nsp;
    const int64_t *k = cs->k, *s = cs->s, *d = cs->d, *pads = cs->pads, *in = cs->in;
    int64_t n = cs->n, group = cs->group, cg = cs->cg, mg = cs->mg;
    int act = cs->act, bias = cs->bias, wconst = cs->wconst;
    int64_t cc = group * cg, m = group * mg;
    /* Depthwise weights of up to 25 taps are packed by channel blocks at load too. */
    c.packed = wconst && (!(cg == 1 && mg == 1) || k[0] * k[1] <= 25);
    c.slack = (int)(cg * k[0] * k[1]);

    int64_t xd[4] = {n, cc, in[0], in[1]}, wd[4] = {m, cg, k[0], k[1]}, bd[1] = {m};
    int64_t yd[4] = {-1, -1, -1, -1};
    if (nsp == 1)
        xd[2] = in[1], wd[2] = k[1];
    tb_model *t = tb_new(13);
    add_input(t, &c, "x", nsp + 2, xd);
    if (wconst)
        add_const(t, "w", nsp + 2, wd);
    else
        add_input(t, &c, "w", nsp + 2, wd);
    if (bias)
        add_const(t, "b", 1, bd);
    tb_node(t, "Conv", bias ? "x,w,b" : "x,w", act ? "p" : "y");
    tb_attr_int(t, "group", group);
    tb_attr_ints(t, "strides", nsp, s + 2 - nsp);
    tb_attr_ints(t, "dilations", nsp, d + 2 - nsp);
    int64_t p4[4] = {pads[0], pads[1], pads[2], pads[3]}, p2[2] = {pads[1], pads[3]};
    tb_attr_ints(t, "pads", 2 * nsp, nsp == 2 ? p4 : p2);
    const char *an = add_act(t, act);
    tb_output(t, "y", F32, nsp + 2, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what,
             "Conv%dd x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld]%s group %lld strides %lld,%lld "
             "dilations %lld,%lld pads %lld,%lld,%lld,%lld bias %d act %s",
             nsp, (long long)n, (long long)cc, (long long)in[0], (long long)in[1], (long long)m,
             (long long)cg, (long long)k[0], (long long)k[1], wconst ? "" : " (input)",
             (long long)group, (long long)s[0], (long long)s[1], (long long)d[0], (long long)d[1],
             (long long)pads[0], (long long)pads[1], (long long)pads[2], (long long)pads[3], bias,
             an);
    check_case(&c);
}

/* One random Conv: kind 0 pointwise, 1 depthwise, 2 dense, 3 grouped, 4 a first layer. */
static void conv_case(int kind)
{
    conv_spec cs = {.group = 1, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}};
    cs.nsp = rnd() % 4 ? 2 : 1;
    cs.n = rnd_in(1, 2);
    int64_t *k = cs.k, *s = cs.s, *d = cs.d, *pads = cs.pads, *in = cs.in;
    switch (kind) {
    case 0: cs.cg = rnd_in(1, 40), cs.mg = rnd_in(1, 40); break;
    case 1:
        cs.group = rnd_in(1, 19), cs.cg = 1, cs.mg = 1;
        for (int i = 0; i < 2; i++) {
            int64_t ks[4] = {3, 3, 5, 2};
            k[i] = ks[rnd() % 4];
            s[i] = rnd_in(1, 2);
            d[i] = rnd() % 4 ? 1 : 2;
        }
        break;
    case 2:
        cs.cg = rnd_in(1, 17), cs.mg = rnd_in(1, 23);
        for (int i = 0; i < 2; i++)
            k[i] = rnd_in(1, 4), s[i] = rnd_in(1, 3), d[i] = rnd() % 3 ? 1 : 2;
        break;
    case 4: /* a first layer: few input channels, horizontal stride 2, wide rows */
        cs.cg = rnd_in(1, 3), cs.mg = rnd_in(1, 40);
        for (int i = 0; i < 2; i++)
            k[i] = rnd_in(1, 5), s[i] = i ? 2 : rnd_in(1, 2), d[i] = rnd() % 4 ? 1 : 2;
        break;
    default:
        cs.group = rnd_in(2, 4), cs.cg = rnd_in(1, 6), cs.mg = rnd_in(1, 7);
        for (int i = 0; i < 2; i++)
            k[i] = rnd_in(1, 3), s[i] = rnd_in(1, 2);
        break;
    }
    if (kind != 0)
        for (int i = 0; i < 4; i++)
            pads[i] = rnd_in(0, 2);
    if (cs.nsp == 1)
        k[0] = s[0] = d[0] = 1, pads[0] = pads[2] = 0;
    for (int i = 0; i < 2; i++) {
        int64_t span = (k[i] - 1) * d[i] + 1, lo = span - pads[i] - pads[i + 2];
        /* Depthwise and first-layer rows long enough for the vector paths of every level. */
        in[i] = rnd_in(lo < 1 ? 1 : lo, lo + (kind == 1 || kind == 4 ? 70 : 25));
    }
    if (cs.nsp == 1)
        in[0] = 1;
    cs.act = (int)rnd_in(0, 6), cs.bias = rnd() % 3 != 0, cs.wconst = rnd() % 5 != 0;
    conv_check(&cs);
}

START_TEST(conv_matches_reference)
{
    rng_state = 12345u + (uint32_t)_i;
    for (int i = 0; i < 24; i++)
        conv_case(_i);
}
END_TEST

/* Depthwise convs through the channel-blocked kernel (input planes up to 64x64) and past it:
 * channel counts around the block widths (a partial last block at every level), planes 1x1 to
 * 17x17 and larger, strides 1 and 2 (mixed too), 3x3 and 5x5 (unrolled) and other kernels,
 * dilation, asymmetric pads, every fused activation, two images, weights given as an input. */
START_TEST(depthwise_blocked_matches_reference)
{
    rng_state = 2024u;
    static const int64_t chans[] = {1, 3, 4, 7, 8, 15, 16, 17, 24, 33, 40};
    static const int64_t kers[][2] = {{3, 3}, {5, 5}, {3, 3}, {5, 5}, {1, 1}, {2, 3}, {5, 3}};
    for (int i = 0; i < 60; i++) {
        conv_spec cs = {.nsp = 2, .group = chans[i % 11], .cg = 1, .mg = 1, .d = {1, 1}};
        cs.k[0] = kers[i % 7][0], cs.k[1] = kers[i % 7][1];
        cs.s[0] = rnd_in(1, 2), cs.s[1] = i % 5 == 4 ? 3 - cs.s[0] : cs.s[0];
        if (i % 9 == 8)
            cs.d[0] = cs.d[1] = 2;
        for (int j = 0; j < 4; j++)
            cs.pads[j] = rnd_in(0, cs.k[j % 2] / 2 + (i % 4 == 3));
        for (int j = 0; j < 2; j++) {
            int64_t span = (cs.k[j] - 1) * cs.d[j] + 1, lo = span - cs.pads[j] - cs.pads[j + 2];
            lo = lo < 1 ? 1 : lo;
            /* Mostly 1..17, then wide ones on both sides of the 64x64 plane limit. */
            cs.in[j] = i < 48 ? rnd_in(lo, lo > 17 ? lo : 17) : i < 54 ? rnd_in(30, 64) : 70;
        }
        cs.n = i % 6 == 5 ? 2 : 1;
        cs.act = i % 7, cs.bias = i % 3 != 2, cs.wconst = i % 8 != 7;
        conv_check(&cs);
    }
}
END_TEST

/* Stride-2 convs with rows of two vectors or more (conv_strided2): first layers of 1 to 4
 * input channels as in every vision model's stem, odd output channels, 3x3 and other kernels,
 * dilation, pads on either side or none, odd and even input sizes, groups, two images,
 * weights given as an input, every fused activation. */
START_TEST(conv_stride2_matches_reference)
{
    rng_state = 4242u;
    static const int64_t kers[][2] = {{3, 3}, {3, 3}, {5, 5}, {2, 2}, {1, 3}, {7, 7}, {4, 3}};
    for (int i = 0; i < 21; i++) {
        conv_spec cs = {.nsp = 2, .s = {2, 2}, .d = {1, 1}};
        cs.group = i % 7 == 6 ? 2 : 1;
        cs.cg = rnd_in(1, 4), cs.mg = rnd_in(1, 37);
        cs.k[0] = kers[i % 7][0], cs.k[1] = kers[i % 7][1];
        if (i % 5 == 4)
            cs.d[0] = cs.d[1] = 2;
        for (int j = 0; j < 4; j++)
            cs.pads[j] = i % 3 == 2 ? 0 : rnd_in(0, cs.k[j % 2] / 2 + 1);
        cs.in[0] = rnd_in(16, 40), cs.in[1] = rnd_in(64, 90);
        cs.n = i % 4 == 3 ? 2 : 1;
        cs.act = i % 7, cs.bias = i % 3 != 1, cs.wconst = i % 5 != 3;
        conv_check(&cs);
    }
}
END_TEST

/* A pointwise conv big enough for several register tiles in both directions and a long k. */
START_TEST(conv_pointwise_large)
{
    rng_state = 777u;
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "Conv";
    c.packed = 1;
    c.slack = 197;
    int64_t xd[4] = {1, 197, 15, 17}, wd[4] = {61, 197, 1, 1}, bd[1] = {61},
            yd[4] = {1, 61, 15, 17};
    tb_model *t = tb_new(13);
    add_input(t, &c, "x", 4, xd);
    add_const(t, "w", 4, wd);
    add_const(t, "b", 1, bd);
    tb_node(t, "Conv", "x,w,b", "p");
    add_act(t, 2);
    tb_output(t, "y", F32, 4, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what, "Conv 1x1 197->61 on 15x17 + Clip");
    check_case(&c);
}
END_TEST

static void gemm_case(void)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "Gemm";
    int64_t m = rnd_in(1, 40), n = rnd_in(1, 70), kk = rnd_in(1, 90);
    int ta = rnd() % 2, tb = rnd() % 2, bconst = rnd() % 4 != 0, ckind = (int)rnd_in(0, 3);
    float alpha = rnd() % 6 ? 1.0f : 0.5f, beta = rnd() % 6 ? 1.0f : 2.0f;
    int act = (int)rnd_in(0, 6);
    c.packed = bconst;
    c.slack = (int)kk;
    int64_t ad[2] = {ta ? kk : m, ta ? m : kk}, bd[2] = {tb ? n : kk, tb ? kk : n};
    int64_t c1[1] = {n}, c2[2] = {1, n}, c3[2] = {m, n}, yd[2] = {m, n};
    tb_model *t = tb_new(13);
    add_input(t, &c, "a", 2, ad);
    if (bconst)
        add_const(t, "b", 2, bd);
    else
        add_input(t, &c, "b", 2, bd);
    if (ckind == 1)
        add_const(t, "c", 1, c1);
    else if (ckind == 2)
        add_const(t, "c", 2, c2);
    else if (ckind == 3)
        add_const(t, "c", 2, c3);
    tb_node(t, "Gemm", ckind ? "a,b,c" : "a,b", act ? "p" : "y");
    tb_attr_int(t, "transA", ta);
    tb_attr_int(t, "transB", tb);
    tb_attr_float(t, "alpha", alpha);
    tb_attr_float(t, "beta", beta);
    const char *an = add_act(t, act);
    tb_output(t, "y", F32, 2, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what,
             "Gemm m %lld n %lld k %lld transA %d transB %d B%s C kind %d alpha %g beta %g act %s",
             (long long)m, (long long)n, (long long)kk, ta, tb, bconst ? " const" : " input", ckind,
             alpha, beta, an);
    check_case(&c);
}

START_TEST(gemm_matches_reference)
{
    rng_state = 999u;
    for (int i = 0; i < 60; i++)
        gemm_case();
}
END_TEST

static void matmul_case(void)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "MatMul";
    int ar = (int)rnd_in(1, 3), br = rnd() % 5 ? 2 : 3, bconst = rnd() % 3 != 0;
    int64_t m = rnd_in(1, 30), n = rnd_in(1, 50), kk = rnd_in(1, 70), batch = rnd_in(1, 3);
    int64_t ad[3], bd[3], yd[3] = {-1, -1, -1};
    if (ar == 1) {
        ad[0] = kk;
    } else if (ar == 2) {
        ad[0] = m, ad[1] = kk;
    } else {
        ad[0] = batch, ad[1] = m, ad[2] = kk;
    }
    if (br == 2) {
        bd[0] = kk, bd[1] = n;
    } else {
        bd[0] = ar == 3 ? batch : 1, bd[1] = kk, bd[2] = n;
    }
    c.packed = bconst && br == 2;
    c.slack = (int)kk;
    tb_model *t = tb_new(13);
    add_input(t, &c, "a", ar, ad);
    if (bconst)
        add_const(t, "b", br, bd);
    else
        add_input(t, &c, "b", br, bd);
    tb_node(t, "MatMul", "a,b", "y");
    int yr = ar > br ? ar : br;
    tb_output(t, "y", F32, yr, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what, "MatMul a rank %d b rank %d%s m %lld n %lld k %lld batch %lld",
             ar, br, bconst ? " const" : " input", (long long)m, (long long)n, (long long)kk,
             (long long)batch);
    check_case(&c);
}

START_TEST(matmul_matches_reference)
{
    rng_state = 4242u;
    for (int i = 0; i < 50; i++)
        matmul_case();
}
END_TEST

/* A reduction of several blocks of steps (at AVX2 and AVX-512) over B wider than several
 * tiles, packed at load and read in place, so C is added to across blocks with a partial
 * last tile. */
START_TEST(gemm_crosses_blocks)
{
    rng_state = 6060u;
    for (int bconst = 0; bconst < 2; bconst++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "MatMul";
        int64_t kk = 600, n = 334;
        int64_t ad[2] = {13, kk}, bd[2] = {kk, n}, yd[2] = {-1, -1};
        c.packed = bconst;
        c.slack = (int)kk;
        tb_model *t = tb_new(13);
        add_input(t, &c, "a", 2, ad);
        if (bconst)
            add_const(t, "b", 2, bd);
        else
            add_input(t, &c, "b", 2, bd);
        tb_node(t, "MatMul", "a,b", "y");
        tb_output(t, "y", F32, 2, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "MatMul [13,%lld] x [%lld,%lld]%s", (long long)kk,
                 (long long)kk, (long long)n, bconst ? " const" : "");
        check_case(&c);
    }
}
END_TEST

/* One MaxPool checked against the reference. special: on inputs with some NaNs (which the
 * pool skips), the first plane all NaN and the second all -inf (windows the vector maxima
 * cannot tell apart, recomputed one by one). */
static void maxpool_check(const int64_t k[2], const int64_t s[2], const int64_t d[2],
                          const int64_t pads[4], const int64_t xd[4], int64_t ceil_mode,
                          int special)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = "MaxPool";
    int64_t yd[4] = {-1, -1, -1, -1}, plane = xd[2] * xd[3];
    tb_model *t = tb_new(13);
    add_input(t, &c, "x", 4, xd);
    float *x = c.in[0].data;
    for (int64_t i = 0; special && i < count(4, xd); i++)
        if (i < plane || rnd() % 7 == 0)
            x[i] = NAN;
        else if (i < 2 * plane)
            x[i] = -INFINITY;
    tb_node(t, "MaxPool", "x", "y");
    tb_attr_ints(t, "kernel_shape", 2, k);
    tb_attr_ints(t, "strides", 2, s);
    tb_attr_ints(t, "dilations", 2, d);
    tb_attr_ints(t, "pads", 4, pads);
    tb_attr_int(t, "ceil_mode", ceil_mode);
    tb_output(t, "y", F32, 4, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what,
             "MaxPool x[%lld,%lld,%lld,%lld] kernel %lld,%lld strides %lld,%lld dilations "
             "%lld,%lld pads %lld,%lld,%lld,%lld ceil_mode %lld",
             (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3],
             (long long)k[0], (long long)k[1], (long long)s[0], (long long)s[1], (long long)d[0],
             (long long)d[1], (long long)pads[0], (long long)pads[1], (long long)pads[2],
             (long long)pads[3], (long long)ceil_mode);
    check_case(&c);
}

/* A random MaxPool of a kind: MAXPOOL_ANY any; MAXPOOL_3X3 only the 3x3 windows with
 * dilation 1 and horizontal stride 1 or 2 the kernels specialize; MAXPOOL_2X2 the stride-2
 * unpadded form that has its own kernel, on odd and even sizes, or one end pad that leaves it
 * that form or not. The specialized kinds get the special inputs of maxpool_check. */
enum { MAXPOOL_ANY, MAXPOOL_3X3, MAXPOOL_2X2 };
static void maxpool_case(int kind)
{
    int square3 = kind == MAXPOOL_3X3, two = kind == MAXPOOL_2X2;
    int64_t k[2], s[2], d[2], pads[4], in[2], ceil_mode = two ? 0 : rnd() % 2;
    for (int i = 0; i < 2; i++) {
        k[i] = square3 ? 3 : rnd_in(1, 4), s[i] = rnd_in(1, square3 && i ? 2 : 3);
        d[i] = square3 || rnd() % 4 ? 1 : 2;
        pads[i] = rnd_in(0, k[i] - 1), pads[i + 2] = rnd_in(0, k[i] - 1);
        if (two)
            k[i] = s[i] = 2, d[i] = 1, pads[i] = 0, pads[i + 2] = rnd() % 4 == 0;
        int64_t lo = (k[i] - 1) * d[i] + 1 - pads[i] - pads[i + 2];
        in[i] = rnd_in(lo < 1 ? 1 : lo, (lo < 1 ? 1 : lo) + 60);
    }
    int64_t xd[4] = {rnd_in(1, 2), rnd_in(kind != MAXPOOL_ANY ? 2 : 1, 9), in[0], in[1]};
    maxpool_check(k, s, d, pads, xd, ceil_mode, kind != MAXPOOL_ANY);
}

START_TEST(maxpool_matches_reference)
{
    rng_state = 31337u;
    for (int i = 0; i < 90; i++)
        maxpool_case(i % 3 == 0 ? MAXPOOL_2X2 : MAXPOOL_ANY);
}
END_TEST

START_TEST(maxpool_3x3_matches_reference)
{
    rng_state = 4242u;
    for (int i = 0; i < 40; i++)
        maxpool_case(MAXPOOL_3X3);
}
END_TEST

/* The 3x3 pools read straight from the input: every row width around the vector blocks of
 * each level (one block of 8 or 16 outputs spans 10, 18, 17 or 33 columns at stride 1 or
 * 2), with and without padding and ceil_mode's overhang, vertical strides 1 to 3, and
 * squeezenet1_1's three pools. */
START_TEST(maxpool_3x3_direct_widths)
{
    rng_state = 777u;
    const int64_t k[2] = {3, 3}, d[2] = {1, 1};
    for (int64_t iw = 3; iw <= 40; iw++) {
        int64_t s[2] = {rnd_in(1, 3), 1 + iw % 2}, pads[4], ceil_mode = (iw / 2) % 2;
        for (int i = 0; i < 4; i++)
            pads[i] = iw % 3 ? rnd_in(0, 2) : 0;
        int64_t xd[4] = {1, 3, rnd_in(3, 12), iw};
        maxpool_check(k, s, d, pads, xd, ceil_mode, 1);
        s[1] = 3 - s[1]; /* the other horizontal stride at the same width */
        maxpool_check(k, s, d, pads, xd, 1 - ceil_mode, 1);
    }
    const int64_t squeeze[3][2] = {{64, 111}, {128, 55}, {256, 27}}, s2[2] = {2, 2};
    const int64_t nopad[4] = {0, 0, 0, 0};
    for (int i = 0; i < 3; i++) {
        int64_t xd[4] = {1, squeeze[i][0], squeeze[i][1], squeeze[i][1]};
        maxpool_check(k, s2, d, nopad, xd, 1, 1);
    }
}
END_TEST

/* Two float inputs of broadcast-compatible random shapes (some NaNs, so Max and Min show
 * their NaN rule); the result must equal the reference exactly (slack 0 still allows 1e-5). */
static void binary_case(const char *op)
{
    kcase c;
    memset(&c, 0, sizeof c);
    c.op = op;
    int r = (int)rnd_in(0, 4);
    int64_t ad[4], bd[4], yd[4] = {-1, -1, -1, -1};
    int ra = r, rb = (int)rnd_in(0, r);
    for (int i = 0; i < r; i++) {
        int64_t d = rnd() % 4 ? rnd_in(1, 37) : 1;
        ad[i] = rnd() % 4 ? d : 1;
        if (i >= r - rb)
            bd[i - (r - rb)] = ad[i] == 1 && rnd() % 2 ? d : rnd() % 3 ? ad[i] : 1;
    }
    if (rnd() % 2) {
        int64_t t[4];
        memcpy(t, ad, sizeof t);
        memcpy(ad, bd, sizeof t);
        memcpy(bd, t, sizeof t);
        int tr = ra;
        ra = rb;
        rb = tr;
    }
    tb_model *t = tb_new(13);
    add_input(t, &c, "a", ra, ad);
    add_input(t, &c, "b", rb, bd);
    for (int k = 0; k < 2; k++) {
        float *v = c.in[k].data;
        int64_t n = ember_tensor_count(&c.in[k]);
        if (n > 3 && rnd() % 2)
            v[rnd() % n] = NAN;
    }
    tb_node(t, op, "a,b", "y");
    tb_output(t, "y", F32, ra > rb ? ra : rb, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    snprintf(c.what, sizeof c.what,
             "%s a rank %d [%lld,%lld,%lld,%lld] b rank %d [%lld,%lld,%lld,%lld]", op, ra,
             (long long)ad[0], (long long)ad[1], (long long)ad[2], (long long)ad[3], rb,
             (long long)bd[0], (long long)bd[1], (long long)bd[2], (long long)bd[3]);
    check_case(&c);
}

START_TEST(binary_matches_reference)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
    rng_state = 2024u + (uint32_t)_i;
    for (int i = 0; i < 25; i++)
        binary_case(ops[_i]);
}
END_TEST

START_TEST(unary_matches_reference)
{
    static const char *const ops[] = {"Relu", "HardSigmoid", "HardSwish"};
    rng_state = 5150u + (uint32_t)_i;
    for (int i = 0; i < 20; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = ops[_i];
        int r = (int)rnd_in(0, 4);
        int64_t xd[4] = {rnd_in(1, 5), rnd_in(1, 9), rnd_in(1, 13), rnd_in(1, 40)};
        int64_t yd[4] = {-1, -1, -1, -1};
        tb_model *t = tb_new(14);
        add_input(t, &c, "x", r, xd);
        float *v = c.in[0].data;
        int64_t n = ember_tensor_count(&c.in[0]);
        for (int64_t j = 0; j < n; j++)
            v[j] *= 5; /* past HardSigmoid's and HardSwish's clamps on both sides */
        if (n > 2)
            v[rnd() % n] = NAN;
        tb_node(t, ops[_i], "x", "y");
        if (_i == 1 && rnd() % 2) {
            tb_attr_float(t, "alpha", 0.3f);
            tb_attr_float(t, "beta", 0.4f);
        }
        tb_output(t, "y", F32, r, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "%s rank %d [%lld,%lld,%lld,%lld]", ops[_i], r,
                 (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3]);
        check_case(&c);
    }
}
END_TEST

/* Pow by a constant 2 takes the product path and must match exactly; other exponents go to
 * the reference through the optimized node. */
START_TEST(pow_matches_reference)
{
    rng_state = 8080u;
    for (int i = 0; i < 12; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "Pow";
        int64_t xd[3] = {rnd_in(1, 4), rnd_in(1, 30), rnd_in(1, 50)}, yd[3] = {-1, -1, -1};
        float e = i % 3 == 2 ? 3.0f : 2.0f;
        tb_model *t = tb_new(13);
        add_input(t, &c, "x", 3, xd);
        tb_init(t, "e", F32, 0, xd, &e, sizeof e);
        tb_node(t, "Pow", "x,e", "y");
        tb_output(t, "y", F32, 3, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "Pow x[%lld,%lld,%lld] ^ %g", (long long)xd[0],
                 (long long)xd[1], (long long)xd[2], e);
        check_case(&c);
    }
}
END_TEST

/* Per-channel broadcasts as in squeeze-and-excitation blocks: [N, C, H, W] op [1, C, 1, 1]
 * (or [C, 1, 1], or [N, C, 1, 1]), either side first, whose rows merge into whole planes. */
START_TEST(binary_per_channel_matches_reference)
{
    static const char *const ops[] = {"Mul", "Add", "Sub", "Div"};
    rng_state = 4242u;
    for (int i = 0; i < 24; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = ops[i % 4];
        int64_t n = rnd_in(1, 2), ch = rnd_in(1, 40);
        int64_t xd[4] = {n, ch, rnd_in(1, 15), rnd_in(1, 15)}, yd[4] = {-1, -1, -1, -1};
        int form = (int)rnd_in(0, 2), rs = form == 1 ? 3 : 4;
        int64_t sd[4] = {form == 2 ? n : 1, ch, 1, 1}, sd3[3] = {ch, 1, 1};
        int swap = rnd() % 2;
        tb_model *t = tb_new(13);
        if (swap)
            add_input(t, &c, "a", rs, form == 1 ? sd3 : sd);
        add_input(t, &c, swap ? "b" : "a", 4, xd);
        if (!swap)
            add_input(t, &c, "b", rs, form == 1 ? sd3 : sd);
        tb_node(t, c.op, "a,b", "y");
        tb_output(t, "y", F32, 4, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "%s x[%lld,%lld,%lld,%lld] per-channel form %d swap %d",
                 c.op, (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3], form,
                 swap);
        check_case(&c);
    }
}
END_TEST

/* GlobalAveragePool of rank 3 to 5 inputs, planes from 1 element to a few thousand (vector
 * bodies, masked tails); the float sums must stay within rounding of the reference's double. */
START_TEST(global_avgpool_matches_reference)
{
    rng_state = 777u;
    for (int i = 0; i < 30; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "GlobalAveragePool";
        int r = (int)rnd_in(3, 5);
        int64_t xd[5] = {rnd_in(1, 2), rnd_in(1, 20), 1, 1, 1}, yd[5] = {-1, -1, -1, -1, -1};
        for (int d = 2; d < r; d++)
            xd[d] = rnd_in(1, r == 3 ? 3000 : r == 4 ? 60 : 12);
        tb_model *t = tb_new(13);
        add_input(t, &c, "x", r, xd);
        tb_node(t, "GlobalAveragePool", "x", "y");
        tb_output(t, "y", F32, r, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        c.slack = 10;
        snprintf(c.what, sizeof c.what, "GlobalAveragePool rank %d [%lld,%lld,%lld,%lld,%lld]", r,
                 (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3],
                 (long long)xd[4]);
        check_case(&c);
    }
}
END_TEST

/* ReduceMean and ReduceSum over random axes of rank 1 to 5 inputs: trailing ones (the vector
 * path, e.g. a spatial mean), others and negative ones (handed to the reference), with and
 * without keepdims, axes as the attribute (opset 13 ReduceMean) or the input (ReduceSum,
 * opset 18 ReduceMean). */
START_TEST(reduce_matches_reference)
{
    rng_state = 4242u;
    for (int i = 0; i < 60; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        int sum = i % 3 == 0, opset = i % 3 == 1 ? 18 : 13, r = (int)rnd_in(1, 5);
        c.op = sum ? "ReduceSum" : "ReduceMean";
        int64_t xd[5], yd[5] = {-1, -1, -1, -1, -1}, axes[5];
        for (int d = 0; d < r; d++)
            xd[d] = rnd_in(1, r <= 2 ? 700 : 14);
        /* Trailing axes most of the time, else a random subset. */
        int n = 0, trailing = i % 4 != 3, from = (int)rnd_in(0, r - 1);
        for (int d = 0; d < r; d++)
            if (trailing ? d >= from : rnd() % 2 || (d == r - 1 && n == 0))
                axes[n++] = d - (rnd() % 2 ? r : 0); /* negative half the time */
        int64_t an[1] = {n};
        tb_model *t = tb_new(opset);
        add_input(t, &c, "x", r, xd);
        if (sum || opset >= 18) {
            tb_init(t, "axes", EMBER_DT_INT64, 1, an, axes, (size_t)n * sizeof *axes);
            tb_node(t, c.op, "x,axes", "y");
        } else {
            tb_node(t, c.op, "x", "y");
            tb_attr_ints(t, "axes", n, axes);
        }
        int keep = rnd() % 2;
        tb_attr_int(t, "keepdims", keep);
        tb_output(t, "y", F32, keep ? r : r - n, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        int64_t len = 1;
        for (int d = 0; d < r; d++)
            len *= xd[d];
        c.slack = (int)(len / 100) + 10;
        snprintf(c.what, sizeof c.what, "%s opset %d rank %d [%lld,%lld,...] %d axes%s keepdims %d",
                 c.op, opset, r, (long long)xd[0], (long long)(r > 1 ? xd[1] : 0), n,
                 trailing ? " (trailing)" : "", keep);
        check_case(&c);
    }
}
END_TEST

/* ---- threads ---- */

/* Runs c at the top level on a session of `threads` threads (twice, as run_at does) and
 * returns the output; *macs gets the run's multiply-accumulates. */
static float *run_threads(const kcase *c, int level, int threads, int64_t *ny, int64_t *macs)
{
    ember_model *m = load_at(c, level);
    ember_session *s;
    ember_err err = {{0}};
    ember_tensor y;
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    /* Past the CPUs online too: the split must not depend on the thread count. */
    ck_assert_int_eq(eg_session_set_threads_any(s, threads, &err), threads);
    ck_assert_int_eq(ember_session_threads(s), threads);
    ember_session_count_macs(s, 1);
    for (int r = 0; r < 2; r++)
        ck_assert_msg(ember_session_run(s, c->in, c->nin, &y, 1, &err) == 0, "%s: %s", c->what,
                      err.msg);
    *macs = ember_session_macs(s);
    *ny = ember_tensor_count(&y);
    float *out = malloc((size_t)(*ny ? *ny : 1) * sizeof *out);
    ck_assert_ptr_nonnull(out);
    memcpy(out, y.data, (size_t)*ny * sizeof *out);
    ember_session_free(s);
    ember_model_free(m);
    return out;
}

/* The same bits from 1 to 4 threads, on a node big enough to be split, at every level. */
static void check_threads(kcase *c)
{
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        if (!eg_cpu_supported(level))
            continue;
        int64_t n1, n2, macs;
        float *one = run_threads(c, level, 1, &n1, &macs);
        /* Pools and copies count no MACs; their cases say why they are big enough. */
        ck_assert_msg(strcmp(c->op, "MaxPool") == 0 || strcmp(c->op, "Concat") == 0 ||
                          macs >= 2 * EG_PAR_MIN_MACS,
                      "%s: %lld MACs, too few to split", c->what, (long long)macs);
        for (int t = 2; t <= 4; t++) {
            float *more = run_threads(c, level, t, &n2, &macs);
            ck_assert_int_eq(n1, n2);
            ck_assert_msg(memcmp(one, more, (size_t)n1 * sizeof *one) == 0,
                          "%s: %d threads differ from 1 at level %d", c->what, t, level);
            free(more);
        }
        free(one);
    }
    free(c->buf);
    for (int i = 0; i < c->nin; i++)
        free(c->in[i].data);
}

/* Convs through every GEMM path (pointwise split by columns, by rows and both ways, banded
 * im2col, shifted stride 1, stride 2 by output rows), depthwise convs split by channel blocks
 * and by planes, Gemm with packed and unpacked B, MaxPool split by planes and Concat by byte
 * ranges, on 1 to 4 threads. */
START_TEST(threads_give_identical_results)
{
    static const struct {
        int64_t c, h, w, m, k, s, pad, group;
    } convs[] = {
        {64, 30, 30, 48, 1, 1, 0, 1},  /* pointwise, n > m: columns */
        {64, 5, 5, 200, 1, 1, 0, 1},   /* pointwise, m > n: rows */
        {160, 7, 7, 61, 1, 1, 0, 1},   /* pointwise at 7x7: rows and columns, odd tails */
        {96, 13, 13, 64, 1, 1, 0, 1},  /* pointwise at 13x13: a grid of rows by columns */
        {16, 33, 31, 40, 3, 2, 1, 1},  /* strided: banded im2col (AVX-512) */
        {3, 100, 98, 29, 3, 2, 1, 1},  /* stride 2, wide rows: by output rows */
        {16, 20, 22, 24, 3, 1, 1, 1},  /* stride 1: shifted */
        {33, 57, 41, 33, 3, 1, 1, 33}, /* depthwise: split by channel blocks */
        {37, 80, 60, 37, 3, 2, 1, 37}, /* depthwise, stride 2, large planes: by planes */
    };
    rng_state = 1212u;
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "Conv";
        int64_t xd[4] = {1, convs[i].c, convs[i].h, convs[i].w};
        int64_t wd[4] = {convs[i].m, convs[i].c / convs[i].group, convs[i].k, convs[i].k};
        int64_t bd[1] = {convs[i].m};
        int64_t yd[4] = {-1, -1, -1, -1}, st[2] = {convs[i].s, convs[i].s};
        int64_t pads[4] = {convs[i].pad, convs[i].pad, convs[i].pad, convs[i].pad};
        tb_model *t = tb_new(13);
        add_input(t, &c, "x", 4, xd);
        add_const(t, "w", 4, wd);
        add_const(t, "b", 1, bd);
        tb_node(t, "Conv", "x,w,b", "p");
        tb_attr_ints(t, "strides", 2, st);
        tb_attr_ints(t, "pads", 4, pads);
        tb_attr_int(t, "group", convs[i].group);
        add_act(t, 1);
        tb_output(t, "y", F32, 4, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "threads: Conv case %zu", i);
        check_threads(&c);
    }
    for (int bconst = 0; bconst < 2; bconst++) {
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "Gemm";
        /* B an input: more rows than columns, split by rows of strided A; B constant
         * (packed): split by column panels. */
        int64_t mm = bconst ? 37 : 150, nn = bconst ? 123 : 40;
        int64_t ad[2] = {mm, 300}, bd[2] = {300, nn}, cd[1] = {nn}, yd[2] = {-1, -1};
        tb_model *t = tb_new(13);
        add_input(t, &c, "a", 2, ad);
        if (bconst)
            add_const(t, "b", 2, bd);
        else
            add_input(t, &c, "b", 2, bd);
        add_const(t, "c", 1, cd);
        tb_node(t, "Gemm", "a,b,c", "y");
        tb_output(t, "y", F32, 2, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "threads: Gemm B %s", bconst ? "const" : "input");
        check_threads(&c);
    }
    {
        /* MaxPool 3x3 stride 2 as in squeezenet, split by planes: 41 planes of 27x27 outputs
         * make 41 * 729 * 9 comparisons, past 2 * EG_PAR_MIN_MACS. */
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "MaxPool";
        int64_t xd[4] = {1, 41, 55, 55}, yd[4] = {-1, -1, -1, -1}, ks[2] = {3, 3}, st[2] = {2, 2};
        ck_assert_int_ge(41 * 27 * 27 * 9, 2 * EG_PAR_MIN_MACS);
        tb_model *t = tb_new(13);
        add_input(t, &c, "x", 4, xd);
        tb_node(t, "MaxPool", "x", "y");
        tb_attr_ints(t, "kernel_shape", 2, ks);
        tb_attr_ints(t, "strides", 2, st);
        tb_output(t, "y", F32, 4, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "threads: MaxPool 3x3 stride 2");
        check_threads(&c);
    }
    {
        /* Concat of three inputs on axis 1 of a batch of 2 (so 2 outer rows): 580 KB, split
         * in byte ranges that cross inputs and rows. */
        kcase c;
        memset(&c, 0, sizeof c);
        c.op = "Concat";
        int64_t ad[4] = {2, 40, 30, 30}, bd[4] = {2, 17, 30, 30}, cd[4] = {2, 23, 30, 30};
        int64_t yd[4] = {-1, -1, -1, -1};
        tb_model *t = tb_new(13);
        add_input(t, &c, "a", 4, ad);
        add_input(t, &c, "b", 4, bd);
        add_input(t, &c, "c", 4, cd);
        tb_node(t, "Concat", "a,b,c", "y");
        tb_attr_int(t, "axis", 1);
        tb_output(t, "y", F32, 4, yd);
        c.len = tb_pack(t, &c.buf);
        tb_free(t);
        snprintf(c.what, sizeof c.what, "threads: Concat");
        check_threads(&c);
    }
}
END_TEST

/* mobilenet_v2 from ../shared: the same output bits on 1 and 2 threads. */
START_TEST(threads_mobilenet_v2_identical)
{
    const char *dir = getenv("EMBER_SHARED_MODELS");
    char model[4096], input[4096];
    snprintf(model, sizeof model, "%s/vision/mobilenet_v2.onnx", dir ? dir : "../shared/models");
    snprintf(input, sizeof input, "%s/vision/mobilenet_v2.ref/input_0.npy",
             dir ? dir : "../shared/models");
    if (access(model, R_OK) != 0 || access(input, R_OK) != 0) {
        printf("skipping mobilenet_v2 on threads: %s is absent (it comes with ../shared)\n", model);
        return;
    }
    ember_model *m;
    ember_err err = {{0}};
    ck_assert_msg(ember_model_load(model, &m, &err) == 0, "%s", err.msg);
    /* Inputs of the model's shape from the generator: values need not be real pictures. */
    const ember_io_info *info = ember_model_input(m, 0);
    ember_tensor x = {.dtype = F32, .rank = info->rank};
    for (int d = 0; d < info->rank; d++)
        x.dims[d] = info->dims[d] < 0 ? 1 : info->dims[d];
    x.data = rnd_floats(ember_tensor_count(&x));
    float *out[2];
    int64_t ny = 0;
    for (int t = 0; t < 2; t++) {
        ember_session *s;
        ember_tensor y;
        ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
        ck_assert_int_ge(ember_session_set_threads(s, t + 1, &err), 1);
        ck_assert_msg(ember_session_run(s, &x, 1, &y, 1, &err) == 0, "%s", err.msg);
        ny = ember_tensor_count(&y);
        out[t] = malloc((size_t)ny * sizeof *out[t]);
        ck_assert_ptr_nonnull(out[t]);
        memcpy(out[t], y.data, (size_t)ny * sizeof *out[t]);
        ember_session_free(s);
    }
    ck_assert(memcmp(out[0], out[1], (size_t)ny * sizeof *out[0]) == 0);
    free(out[0]);
    free(out[1]);
    free(x.data);
    ember_model_free(m);
}
END_TEST

/* Thread counts are clamped to 1..CPUs online and EMBER_SESSION_MAX_THREADS; back to 1 stops
 * the helpers. */
START_TEST(set_threads_clamps)
{
    kcase c;
    memset(&c, 0, sizeof c);
    int64_t xd[2] = {2, 3}, yd[2] = {-1, -1};
    tb_model *t = tb_new(13);
    add_input(t, &c, "x", 2, xd);
    tb_node(t, "Relu", "x", "y");
    tb_output(t, "y", F32, 2, yd);
    c.len = tb_pack(t, &c.buf);
    tb_free(t);
    ember_model *m;
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_model_load_mem(c.buf, c.len, &m, &err), 0);
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int most = cpus < 1 || cpus > EMBER_SESSION_MAX_THREADS ? EMBER_SESSION_MAX_THREADS : (int)cpus;
    ck_assert_int_eq(ember_session_threads(s), 1);
    ck_assert_int_eq(ember_session_set_threads(s, 0, &err), 1);
    ck_assert_int_eq(ember_session_set_threads(s, -5, &err), 1);
    ck_assert_int_eq(ember_session_set_threads(s, EMBER_SESSION_MAX_THREADS + 1, &err), most);
    ck_assert_int_eq(ember_session_threads(s), most);
    ember_tensor y;
    ck_assert_int_eq(ember_session_run(s, c.in, 1, &y, 1, &err), 0);
    ck_assert_int_eq(ember_session_set_threads(s, 1, &err), 1);
    ck_assert_int_eq(ember_session_threads(s), 1);
    ck_assert_int_eq(ember_session_run(s, c.in, 1, &y, 1, &err), 0);
    ember_session_free(s);
    ember_model_free(m);
    free(c.buf);
    free(c.in[0].data);
}
END_TEST

START_TEST(ember_cpu_picks_the_level)
{
    int top = eg_cpu_detect();
    ck_assert_int_ge(top, EG_CPU_REF);
    ck_assert_int_lt(top, EG_CPU_COUNT);
    ck_assert(eg_cpu_supported(top) && eg_cpu_supported(EG_CPU_REF));
    unsetenv("EMBER_CPU");
    ck_assert_int_eq(eg_cpu_level(), top);
    setenv("EMBER_CPU", "ref", 1);
    ck_assert_int_eq(eg_cpu_level(), EG_CPU_REF);
    ck_assert_ptr_null(eg_op_fast(eg_op_find("", "Conv")));
    setenv("EMBER_CPU", "avx2", 1);
    ck_assert_int_eq(eg_cpu_level(), eg_cpu_supported(EG_CPU_AVX2) ? EG_CPU_AVX2 : top);
    /* A level the CPU lacks (above it or of another architecture), or a name that means
     * nothing, cannot lower or raise it. */
    setenv("EMBER_CPU", "avx512", 1);
    ck_assert_int_eq(eg_cpu_level(), top);
    setenv("EMBER_CPU", "neon", 1);
    ck_assert_int_eq(eg_cpu_level(), top);
    setenv("EMBER_CPU", "sse9", 1);
    ck_assert_int_eq(eg_cpu_level(), top);
    unsetenv("EMBER_CPU");
    const eg_fast_op *f = eg_op_fast(eg_op_find("", "Conv"));
    if (top > EG_CPU_REF) {
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(f->level, top);
        ck_assert(eg_op_fuses_act(&f->op));
    } else {
        ck_assert_ptr_null(f);
    }
    /* Operators without optimized kernels always resolve to the reference. */
    ck_assert_ptr_null(eg_op_fast(eg_op_find("", "Softmax")));
    ck_assert_str_eq(eg_cpu_name(EG_CPU_AVX512), "avx512");
    ck_assert_str_eq(eg_cpu_name(EG_CPU_NEON), "neon");
#if defined(__aarch64__)
    ck_assert_int_eq(top, EG_CPU_NEON); /* mandatory in ARMv8-A */
    ck_assert(!eg_cpu_supported(EG_CPU_AVX2) && !eg_cpu_supported(EG_CPU_AVX512));
#else
    ck_assert(!eg_cpu_supported(EG_CPU_NEON));
#endif
    ck_assert_ptr_null(eg_cpu_name(99));
}
END_TEST

/* One GEMM through the level's tiled kernel against a plain double-accumulated product. */
static void gemm_tile_case(int level, int64_t m, int64_t n, int64_t k)
{
    const eg_x86_kernels *kn = simd_kernels(level);
    int apk = rnd() % 2, bform = (int)(rnd() % 3), ta = rnd() % 2, act = (int)rnd_in(0, 3);
    int brow = rnd() % 2, bcol = rnd() % 3 == 0;
    if (!apk && bform == 2)
        bform = 0; /* a row offset table goes with packed A only, as conv_shifted uses it */
    int64_t ldb = n + rnd_in(0, 5), ldc = n + rnd_in(1, 3);
    float *a = rnd_floats(m * k), *b = rnd_floats(k * ldb + n), *br = rnd_floats(m);
    float *bc = rnd_floats(n);
    float *ap = malloc((size_t)eg_pack_a_size(m, k) * sizeof *ap);
    float *bp = malloc((size_t)eg_pack_b_size(k, n) * sizeof *bp);
    float *c = malloc((size_t)(m * ldc) * sizeof *c);
    int64_t *koff = malloc((size_t)k * sizeof *koff);
    ck_assert(ap && bp && c && koff);
    /* a(i, p) = a[i * ars + p * acs]: row-major, or the transpose of a [k, m] matrix */
    int64_t ars = ta ? 1 : k, acs = ta ? m : 1;
    eg_pack_a(ap, a, m, k, ars, acs);
    eg_pack_b(bp, b, k, n, ldb, 1);
    for (int64_t p = 0; p < k; p++) /* rows of B in a scrambled order */
        koff[p] = ((p * 7) % k) * ldb;
    for (int64_t j = 0; j < m * ldc; j++)
        c[j] = 12345.0f;
    eg_gemm g = {.m = m,
                 .n = n,
                 .k = k,
                 .ap = apk ? ap : NULL,
                 .a = a,
                 .ars = ars,
                 .acs = acs,
                 .bp = bform == 1 ? bp : NULL,
                 .b = b,
                 .ldb = ldb,
                 .koff = bform == 2 ? koff : NULL,
                 .c = c,
                 .ldc = ldc,
                 .bias_row = brow ? br : NULL,
                 .bias_col = bcol ? bc : NULL,
                 .act = act == 1   ? EG_ACT_RELU
                        : act == 2 ? EG_ACT_CLIP
                        : act == 3 ? EG_ACT_LEAKY_RELU
                                   : 0,
                 .alpha = act == 3 ? 0.1f : -0.25f,
                 .beta = 0.5f};
    kn->gemm(&g);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t j = n; j < ldc; j++)
            ck_assert_float_eq(c[r * ldc + j], 12345.0f);
        for (int64_t j = 0; j < n; j++) {
            double want = (brow ? br[r] : 0.0) + (bcol ? bc[j] : 0.0);
            for (int64_t p = 0; p < k; p++)
                want += (double)a[r * ars + p * acs] *
                        b[(bform == 2 ? koff[p] : p * ldb) + j];
            if (act == 1)
                want = want > 0 ? want : 0;
            else if (act == 2)
                want = want < -0.25 ? -0.25 : want > 0.5 ? 0.5 : want;
            else if (act == 3)
                want = want >= 0 ? want : 0.1 * want;
            ck_assert_msg(fabs(c[r * ldc + j] - want) <= 1e-5 * (double)(k + 1),
                          "%s m %lld n %lld k %lld A %s B %d bias %d/%d act %d: c[%lld, %lld] = "
                          "%.7g, want %.7g",
                          eg_cpu_name(level), (long long)m, (long long)n, (long long)k,
                          apk ? "packed" : ta ? "transposed" : "strided", bform, brow, bcol, act,
                          (long long)r, (long long)j, (double)c[r * ldc + j], want);
        }
    }
    free(a), free(b), free(br), free(bc), free(ap), free(bp), free(c), free(koff);
}

/* The tiled GEMM at every level against a plain product: every tile width (1 to 4 vectors,
 * masked or whole), column tails short enough for the narrow product and longer, odd row
 * counts, reductions split into several blocks (longer than 128 steps), A packed, strided or
 * transposed, B strided, packed or through a row offset table, row and column bias, every
 * in-kernel activation, and nothing written past the columns of C. */
START_TEST(gemm_tiles_match_plain)
{
    rng_state = 2718u;
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        if (!simd_kernels(level))
            continue;
        for (int i = 0; i < 150; i++)
            gemm_tile_case(level, rnd_in(1, 40), rnd_in(1, 150), rnd_in(1, i % 3 ? 70 : 700));
        /* One row (a batch-1 Gemm's own kernel), several of its tiles wide. */
        for (int i = 0; i < 40; i++)
            gemm_tile_case(level, 1, rnd_in(1, 300), rnd_in(1, 300));
        /* More rows than one block of A (EG_GEMM_A_FLOATS) holds for a block of steps. */
        gemm_tile_case(level, 1100, 37, 300);
    }
}
END_TEST

/* A one-row product (its own kernel) gives the bits the register tile gives that row in a
 * product of more rows: results must not depend on how a product is split across threads. */
START_TEST(gemm_row_matches_tile_bits)
{
    rng_state = 3141u;
    for (int level = EG_CPU_REF + 1; level < EG_CPU_COUNT; level++) {
        const eg_x86_kernels *kn = simd_kernels(level);
        if (!kn)
            continue;
        for (int i = 0; i < 20; i++) {
            int64_t n = rnd_in(1, 300), k = rnd_in(1, 400);
            float *a = rnd_floats(3 * k), *b = rnd_floats(k * n), *bias = rnd_floats(n);
            float *bp = malloc((size_t)eg_pack_b_size(k, n) * sizeof *bp);
            float *c3 = malloc((size_t)(3 * n) * sizeof *c3), *c1 = malloc((size_t)n * sizeof *c1);
            ck_assert(bp && c3 && c1);
            eg_pack_b(bp, b, k, n, n, 1);
            eg_gemm g = {.m = 3, .n = n, .k = k, .a = a, .ars = k, .acs = 1, .b = b, .ldb = n,
                         .bp = i % 2 ? bp : NULL, .c = c3, .ldc = n,
                         .bias_col = i % 3 ? bias : NULL, .act = i % 4 ? 0 : EG_ACT_RELU};
            kn->gemm(&g);
            g.m = 1;
            g.c = c1;
            kn->gemm(&g);
            ck_assert_msg(memcmp(c1, c3, (size_t)n * sizeof *c1) == 0, "%s n %lld k %lld",
                          eg_cpu_name(level), (long long)n, (long long)k);
            free(a), free(b), free(bias), free(bp), free(c3), free(c1);
        }
    }
}
END_TEST

static Suite *kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("dispatch");
    tcase_add_test(tc, ember_cpu_picks_the_level);
    suite_add_tcase(s, tc);
    tc = tcase_create("conv");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, conv_matches_reference, 0, 5);
    tcase_add_test(tc, depthwise_blocked_matches_reference);
    tcase_add_test(tc, conv_stride2_matches_reference);
    tcase_add_test(tc, conv_pointwise_large);
    tcase_add_test(tc, conv1d_few_frames_matches_reference);
    tcase_add_test(tc, gemm_narrow_matches_plain);
    suite_add_tcase(s, tc);
    tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_matches_reference);
    tcase_add_test(tc, matmul_matches_reference);
    tcase_add_test(tc, gemm_crosses_blocks);
    tcase_add_test(tc, gemm_tiles_match_plain);
    tcase_add_test(tc, gemm_row_matches_tile_bits);
    suite_add_tcase(s, tc);
    tc = tcase_create("rnn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lstm_matches_reference);
    tcase_add_test(tc, rnn_activations_match_libm);
    tcase_add_test(tc, rnn_gemv_matches_plain);
    suite_add_tcase(s, tc);
    tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, maxpool_matches_reference);
    tcase_add_test(tc, maxpool_3x3_matches_reference);
    tcase_add_test(tc, maxpool_3x3_direct_widths);
    tcase_add_test(tc, global_avgpool_matches_reference);
    tcase_add_test(tc, reduce_matches_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, binary_matches_reference, 0, 6);
    tcase_add_test(tc, binary_per_channel_matches_reference);
    tcase_add_loop_test(tc, unary_matches_reference, 0, 3);
    tcase_add_test(tc, pow_matches_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    /* 1 to 4 threads on every case: slow under qemu on a 2-CPU machine. */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, threads_give_identical_results);
    tcase_add_test(tc, threads_mobilenet_v2_identical);
    tcase_add_test(tc, set_threads_clamps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kernels_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
