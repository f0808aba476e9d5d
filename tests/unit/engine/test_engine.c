/*
 * Check unit tests for libember-engine: reference kernels against hand-computed values, the
 * memory planner's invariants, the worker pool, model loading errors, and the built-in digits
 * model against its numpy reference outputs.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/engine.h>

#include "model.h"
#include "onnx_builder.h"
#include "planner.h"

#define F32 EMBER_DT_FLOAT

static char *source_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("EMBER_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

static ember_model *load_built(tb_model *t)
{
    uint8_t *buf;
    size_t len = tb_pack(t, &buf);
    ember_model *m = NULL;
    ember_err err = {{0}};
    int rc = ember_model_load_mem(buf, len, &m, &err);
    free(buf);
    tb_free(t);
    ck_assert_msg(rc == 0, "load failed: %s", err.msg);
    return m;
}

/* Runs a one-input one-output model and copies the output into out[n]. */
static void run1(ember_model *m, const ember_tensor *in, float *out, int64_t n,
                 const int64_t *want_dims, int want_rank)
{
    ember_session *s;
    ember_err err = {{0}};
    ember_tensor y;
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    ck_assert_msg(ember_session_run(s, in, 1, &y, 1, &err) == 0, "run: %s", err.msg);
    ck_assert_int_eq(y.rank, want_rank);
    for (int i = 0; i < want_rank; i++)
        ck_assert_int_eq(y.dims[i], want_dims[i]);
    ck_assert_int_eq(ember_tensor_count(&y), n);
    memcpy(out, y.data, (size_t)n * sizeof *out);
    ember_session_free(s);
}

START_TEST(gemm_transb_bias_alpha_beta)
{
    const float b[6] = {1, 0, 1, 0, 1, 1}, c[2] = {1, -1};
    const int64_t ad[2] = {2, 3}, bd[2] = {2, 3}, cd[1] = {2}, yd[2] = {2, 2};
    tb_model *t = tb_new(13);
    tb_input(t, "a", F32, 2, ad);
    tb_init(t, "b", F32, 2, bd, b, sizeof b);
    tb_init(t, "c", F32, 1, cd, c, sizeof c);
    tb_node(t, "Gemm", "a,b,c", "y");
    tb_attr_int(t, "transB", 1);
    tb_attr_float(t, "alpha", 2.0f);
    tb_attr_float(t, "beta", 0.5f);
    tb_output(t, "y", F32, 2, yd);
    ember_model *m = load_built(t);
    float a[6] = {1, 2, 3, 4, 5, 6}, y[4];
    ember_tensor in = {F32, 2, {2, 3}, a};
    run1(m, &in, y, 4, yd, 2);
    /* A.B^T = [[4,5],[10,11]]; 2*that + 0.5*[1,-1] */
    const float want[4] = {8.5f, 9.5f, 20.5f, 21.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(y[i], want[i], 1e-6);
    ember_model_free(m);
}
END_TEST

START_TEST(softmax_and_relu_by_hand)
{
    const int64_t d[2] = {1, 3};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 2, d);
    tb_node(t, "Relu", "x", "r");
    tb_node(t, "Softmax", "r", "y");
    tb_output(t, "y", F32, 2, d);
    ember_model *m = load_built(t);
    float x[3] = {-1.0f, 1.0f, 2.0f}, y[3];
    ember_tensor in = {F32, 2, {1, 3}, x};
    run1(m, &in, y, 3, d, 2);
    /* relu -> [0,1,2]; softmax = e^k / (1 + e + e^2) */
    double sum = 1 + exp(1.0) + exp(2.0);
    ck_assert_float_eq_tol(y[0], 1 / sum, 1e-7);
    ck_assert_float_eq_tol(y[1], exp(1.0) / sum, 1e-7);
    ck_assert_float_eq_tol(y[2], exp(2.0) / sum, 1e-7);
    ember_model_free(m);
}
END_TEST

START_TEST(add_broadcasts_row)
{
    const int64_t xd[2] = {2, 3}, bd[1] = {3};
    const float b[3] = {10, 20, 30};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 2, xd);
    tb_init(t, "b", F32, 1, bd, b, sizeof b);
    tb_node(t, "Add", "x,b", "y");
    tb_output(t, "y", F32, 2, xd);
    ember_model *m = load_built(t);
    float x[6] = {1, 2, 3, 4, 5, 6}, y[6];
    ember_tensor in = {F32, 2, {2, 3}, x};
    run1(m, &in, y, 6, xd, 2);
    const float want[6] = {11, 22, 33, 14, 25, 36};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y[i], want[i]);
    ember_model_free(m);
}
END_TEST

START_TEST(matmul_broadcasts_batch)
{
    const int64_t xd[3] = {2, 2, 3}, wd[2] = {3, 1}, yd[3] = {2, 2, 1};
    const float w[3] = {1, 10, 100};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 3, xd);
    tb_init(t, "w", F32, 2, wd, w, sizeof w);
    tb_node(t, "MatMul", "x,w", "y");
    tb_output(t, "y", F32, 3, yd);
    ember_model *m = load_built(t);
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2}, y[4];
    ember_tensor in = {F32, 3, {2, 2, 3}, x};
    run1(m, &in, y, 4, yd, 3);
    const float want[4] = {321, 654, 987, 210};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], want[i]);
    ember_model_free(m);
}
END_TEST

START_TEST(planner_never_overlaps_live_buffers)
{
    srand(1234);
    for (int round = 0; round < 200; round++) {
        eg_plan_item items[40];
        int n = 1 + rand() % 40;
        int64_t sum = 0;
        for (int i = 0; i < n; i++) {
            int a = rand() % 30, b = a + rand() % 10;
            items[i] = (eg_plan_item){.id = i, .start = a, .end = b, .size = 64 * (1 + rand() % 50)};
            sum += items[i].size;
        }
        int64_t total = eg_plan_offsets(items, n);
        ck_assert_int_le(total, sum);
        for (int i = 0; i < n; i++) {
            ck_assert_int_ge(items[i].offset, 0);
            ck_assert_int_le(items[i].offset + items[i].size, total);
            for (int j = i + 1; j < n; j++) {
                int live = items[i].start <= items[j].end && items[j].start <= items[i].end;
                int overlap = items[i].offset < items[j].offset + items[j].size &&
                              items[j].offset < items[i].offset + items[i].size;
                ck_assert_msg(!(live && overlap), "round %d: items %d and %d overlap", round, i, j);
            }
        }
    }
}
END_TEST

START_TEST(planner_reuses_dead_buffers)
{
    /* A chain: each buffer dies when the next is made, so two slots suffice. */
    eg_plan_item items[4] = {
        {.id = 0, .start = 0, .end = 1, .size = 128}, {.id = 1, .start = 1, .end = 2, .size = 128},
        {.id = 2, .start = 2, .end = 3, .size = 128}, {.id = 3, .start = 3, .end = 4, .size = 128}};
    ck_assert_int_eq(eg_plan_offsets(items, 4), 256);
}
END_TEST

typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open, done;
} gate;

static void wait_job(void *arg, int worker)
{
    gate *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    g->done++;
    pthread_mutex_unlock(&g->lock);
}

START_TEST(pool_bounds_queue_and_drains_on_destroy)
{
    ember_pool *p;
    ember_err err;
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    ck_assert_int_eq(ember_pool_create(1, 3, &p, &err), 0);
    /* One job occupies the worker; wait until it has been taken off the queue. */
    ck_assert_int_eq(ember_pool_submit(p, wait_job, &g), 0);
    while (ember_pool_queued(p) != 0)
        ;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ember_pool_submit(p, wait_job, &g), 0);
    ck_assert_int_eq(ember_pool_submit(p, wait_job, &g), EMBER_EBUSY);
    ck_assert_int_eq(ember_pool_queued(p), 3);
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    ember_pool_destroy(p);
    ck_assert_int_eq(g.done, 4);
    ck_assert_int_eq(ember_pool_create(0, 3, &p, &err), EMBER_EINVAL);
}
END_TEST

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

START_TEST(corrupt_models_are_clear_errors)
{
    size_t len;
    unsigned char *buf = read_all(source_path("models/digits/1/model.onnx"), &len);
    ember_model *m = NULL;
    ember_err err = {{0}};
    /* Truncation at many points: always an error (or, rarely, still a valid prefix), never a
     * crash. Cutting inside the weights must fail. */
    for (size_t cut = 1; cut < len; cut += 97) {
        int rc = ember_model_load_mem(buf, cut, &m, &err);
        if (rc == 0) {
            ember_model_free(m);
            m = NULL;
        } else {
            ck_assert_msg(rc == EMBER_EFORMAT || rc == EMBER_EUNSUPPORTED, "cut %zu: rc %d", cut, rc);
            ck_assert(strlen(err.msg) > 0);
        }
    }
    ck_assert_int_eq(ember_model_load_mem(buf, len / 2, &m, &err), EMBER_EFORMAT);
    memset(buf, 0xff, 64);
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EFORMAT);
    ck_assert_ptr_null(strstr(err.msg, "(null)"));
    free(buf);
    ck_assert_int_eq(ember_model_load("/nonexistent/model.onnx", &m, &err), EMBER_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/model.onnx"));
}
END_TEST

START_TEST(unknown_operator_is_named)
{
    const int64_t d[1] = {4};
    tb_model *t = tb_new(17);
    tb_input(t, "x", F32, 1, d);
    tb_node(t, "FrobnicateTensor", "x", "y");
    tb_output(t, "y", F32, 1, d);
    uint8_t *buf;
    size_t len = tb_pack(t, &buf);
    tb_free(t);
    ember_model *m = NULL;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_model_load_mem(buf, len, &m, &err), EMBER_EUNSUPPORTED);
    free(buf);
    ck_assert_msg(strstr(err.msg, "FrobnicateTensor") && strstr(err.msg, "opset 17"), "%s",
                  err.msg);
}
END_TEST

typedef struct digits_ref {
    cJSON *root;
    int n;
    float *inputs, *probs;
} digits_ref;

static void digits_ref_load(digits_ref *r)
{
    size_t len;
    char *text = (char *)read_all(source_path("tests/data/digits_ref.json"), &len);
    r->root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(r->root);
    cJSON *in = cJSON_GetObjectItem(r->root, "inputs");
    cJSON *pr = cJSON_GetObjectItem(r->root, "probabilities");
    r->n = cJSON_GetArraySize(in);
    ck_assert_int_ge(r->n, 16);
    r->inputs = malloc(sizeof(float) * 64 * (size_t)r->n);
    r->probs = malloc(sizeof(float) * 10 * (size_t)r->n);
    for (int i = 0; i < r->n; i++) {
        for (int j = 0; j < 64; j++)
            r->inputs[i * 64 + j] =
                (float)cJSON_GetArrayItem(cJSON_GetArrayItem(in, i), j)->valuedouble;
        for (int j = 0; j < 10; j++)
            r->probs[i * 10 + j] =
                (float)cJSON_GetArrayItem(cJSON_GetArrayItem(pr, i), j)->valuedouble;
    }
}

static void digits_ref_free(digits_ref *r)
{
    cJSON_Delete(r->root);
    free(r->inputs);
    free(r->probs);
}

START_TEST(digits_model_matches_reference)
{
    digits_ref r;
    digits_ref_load(&r);
    ember_model *m;
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_msg(ember_model_load(source_path("models/digits/1/model.onnx"), &m, &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(ember_model_ninputs(m), 1);
    ck_assert_str_eq(ember_model_input(m, 0)->name, "image");
    ck_assert_int_lt(ember_model_input(m, 0)->dims[0], 0);
    ck_assert_str_eq(ember_model_output(m, 0)->name, "probabilities");
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    /* The whole batch, then one at a time (a replan), then the batch again (the plan kept
     * for batch 1 is too small, so it must record again and still be right). */
    int batches[3] = {r.n, 1, r.n};
    for (int b = 0; b < 3; b++) {
        int per = batches[b];
        for (int start = 0; start < r.n; start += per) {
            ember_tensor in = {F32, 2, {per, 64}, r.inputs + start * 64}, y;
            ck_assert_msg(ember_session_run(s, &in, 1, &y, 1, &err) == 0, "%s", err.msg);
            ck_assert_int_eq(y.dims[0], per);
            ck_assert_int_eq(y.dims[1], 10);
            const float *p = y.data;
            for (int i = 0; i < per * 10; i++)
                ck_assert_float_eq_tol(p[i], r.probs[start * 10 + i], 1e-5);
        }
        ck_assert_int_gt(ember_session_arena_bytes(s), 0);
    }
    ember_session_free(s);
    ember_model_free(m);
    digits_ref_free(&r);
}
END_TEST

START_TEST(bad_inputs_name_the_input)
{
    ember_model *m;
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_model_load(source_path("models/digits/1/model.onnx"), &m, &err), 0);
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    float x[65] = {0};
    int64_t xi[64] = {0};
    ember_tensor y;
    ember_tensor wrong_dim = {F32, 2, {1, 65}, x};
    ck_assert_int_eq(ember_session_run(s, &wrong_dim, 1, &y, 1, &err), EMBER_ESHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "image"));
    ember_tensor wrong_type = {EMBER_DT_INT64, 2, {1, 64}, xi};
    ck_assert_int_eq(ember_session_run(s, &wrong_type, 1, &y, 1, &err), EMBER_ESHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "float32"));
    ember_tensor wrong_rank = {F32, 1, {64}, x};
    ck_assert_int_eq(ember_session_run(s, &wrong_rank, 1, &y, 1, &err), EMBER_ESHAPE);
    ember_tensor no_data = {F32, 2, {1, 64}, NULL};
    ck_assert_int_eq(ember_session_run(s, &no_data, 1, &y, 1, &err), EMBER_EINVAL);
    /* Still usable after errors. */
    ember_tensor ok = {F32, 2, {1, 64}, x};
    ck_assert_int_eq(ember_session_run(s, &ok, 1, &y, 1, &err), 0);
    ember_session_free(s);
    ember_model_free(m);
}
END_TEST

static int op_count(const ember_model_stats *st, const char *op)
{
    for (int i = 0; i < st->nops && i < EMBER_STATS_MAX_OPS; i++)
        if (strcmp(st->ops[i].op, op) == 0)
            return st->ops[i].count;
    return 0;
}

/* x -> Identity -> Conv(1x1, w=2, b=1) -> Relu -> Dropout -> Add(., Add(c1, c2)) -> y, with
 * c1, c2 constants: after loading only Conv (carrying the Relu) and one Add remain, and the
 * result is what the unoptimized graph computes. */
START_TEST(optimizer_folds_fuses_and_bypasses)
{
    const int64_t xd[4] = {1, 1, 1, 4}, wd[4] = {1, 1, 1, 1}, bd[1] = {1}, cd[1] = {1};
    const float w[1] = {2}, b[1] = {1}, c1[1] = {10}, c2[1] = {0.5f};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 4, xd);
    tb_init(t, "w", F32, 4, wd, w, sizeof w);
    tb_init(t, "b", F32, 1, bd, b, sizeof b);
    tb_init(t, "c1", F32, 1, cd, c1, sizeof c1);
    tb_init(t, "c2", F32, 1, cd, c2, sizeof c2);
    tb_node(t, "Identity", "x", "xi");
    tb_node(t, "Conv", "xi,w,b", "conv");
    tb_node(t, "Relu", "conv", "act");
    tb_node(t, "Add", "c1,c2", "bias");
    tb_node(t, "Dropout", "act", "dropped");
    tb_node(t, "Add", "dropped,bias", "y");
    tb_node(t, "Neg", "x", "unused");
    tb_output(t, "y", F32, 4, xd);
    ember_model *m = load_built(t);
    ember_model_stats st;
    ck_assert_int_eq(ember_model_describe(m, &st), 0);
    ck_assert_int_eq(st.nodes, 2);
    ck_assert_int_eq(op_count(&st, "Conv"), 1);
    ck_assert_int_eq(op_count(&st, "Add"), 1);
    ck_assert_int_eq(op_count(&st, "Relu") + op_count(&st, "Identity") +
                         op_count(&st, "Dropout") + op_count(&st, "Neg"),
                     0);
    float x[4] = {-3, -0.5f, 0, 2}, y[4];
    ember_tensor in = {F32, 4, {1, 1, 1, 4}, x};
    run1(m, &in, y, 4, xd, 4);
    /* relu(2x + 1) + 10.5 */
    const float want[4] = {10.5f, 10.5f, 11.5f, 15.5f};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], want[i]);
    ember_model_free(m);
}
END_TEST

/* x -> Conv -> HardSigmoid -> Mul(conv, gate): HardSwish as PyTorch exports it. With
 * keep_conv the conv's output is also a graph output, which keeps the optimizer from fusing. */
static ember_model *hardswish_model(int keep_conv)
{
    const int64_t xd[4] = {1, 2, 3, 5}, wd[4] = {3, 2, 1, 1}, bd[1] = {3}, yd[4] = {1, 3, 3, 5};
    const float w[6] = {2.5f, -1, 0.5f, 3, -4, 1}, b[3] = {0.25f, -0.5f, 1};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 4, xd);
    tb_init(t, "w", F32, 4, wd, w, sizeof w);
    tb_init(t, "b", F32, 1, bd, b, sizeof b);
    tb_node(t, "Conv", "x,w,b", "conv");
    tb_node(t, "HardSigmoid", "conv", "gate");
    tb_attr_float(t, "alpha", 1.0f / 6);
    tb_node(t, "Mul", "gate,conv", "y");
    tb_output(t, "y", F32, 4, yd);
    if (keep_conv)
        tb_output(t, "conv", F32, 4, yd);
    return load_built(t);
}

START_TEST(optimizer_fuses_hardswish_pair)
{
    ember_model *fused = hardswish_model(0), *plain = hardswish_model(1);
    ember_model_stats st;
    ck_assert_int_eq(ember_model_describe(fused, &st), 0);
    ck_assert_int_eq(st.nodes, 1);
    ck_assert_int_eq(op_count(&st, "Conv"), 1);
    ck_assert_int_eq(ember_model_describe(plain, &st), 0);
    ck_assert_int_eq(st.nodes, 3);
    float x[30], want[45], got[45];
    for (int i = 0; i < 30; i++)
        x[i] = (float)(i % 11) - 5.5f; /* past the gate's clamps on both sides */
    ember_tensor in = {F32, 4, {1, 2, 3, 5}, x}, y[2];
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_session_create(plain, &s, &err), 0);
    ck_assert_msg(ember_session_run(s, &in, 1, y, 2, &err) == 0, "%s", err.msg);
    memcpy(want, y[0].data, sizeof want);
    ember_session_free(s);
    const int64_t yd[4] = {1, 3, 3, 5};
    run1(fused, &in, got, 45, yd, 4);
    int clamped_lo = 0, clamped_hi = 0;
    for (int i = 0; i < 45; i++) {
        ck_assert_float_eq_tol(got[i], want[i], 1e-6 * (1 + fabsf(want[i])));
        clamped_lo += want[i] == 0;
        clamped_hi += want[i] > 3;
    }
    ck_assert_int_gt(clamped_lo, 0);
    ck_assert_int_gt(clamped_hi, 0);
    ember_model_free(fused);
    ember_model_free(plain);
}
END_TEST

/* x -> Neg -> a -> Reshape -> v -> Reshape -> u, then c = Relu(x), d = Neg(c) and y = u + d:
 * u shares a's memory, so a must outlive both Reshapes until the Add, though the planner would
 * otherwise give a's slot to c or d (same size, later). Run three times: the recording run,
 * then the planned arena twice. */
START_TEST(reshape_views_keep_their_source_alive)
{
    const int64_t xd[2] = {2, 8}, s1d[1] = {2}, s1[2] = {4, 4}, s2[2] = {2, 8};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 2, xd);
    tb_init(t, "s1", EMBER_DT_INT64, 1, s1d, s1, sizeof s1);
    tb_init(t, "s2", EMBER_DT_INT64, 1, s1d, s2, sizeof s2);
    tb_node(t, "Neg", "x", "a");
    tb_node(t, "Reshape", "a,s1", "v");
    tb_node(t, "Reshape", "v,s2", "u");
    tb_node(t, "Relu", "x", "c");
    tb_node(t, "Neg", "c", "d");
    tb_node(t, "Add", "u,d", "y");
    tb_output(t, "y", F32, 2, xd);
    ember_model *m = load_built(t);
    const eg_graph *g = m->g;
    int a = eg_graph_find(g, "a"), v = eg_graph_find(g, "v"), u = eg_graph_find(g, "u");
    ck_assert_int_eq(g->val[v].view_of, a);
    ck_assert_int_eq(g->val[u].view_of, v);
    ck_assert_int_eq(g->val[a].last_use, g->val[u].last_use); /* the Add */
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    for (int run = 0; run < 3; run++) {
        float x[16];
        for (int i = 0; i < 16; i++)
            x[i] = (float)((i * 7 + run) % 9) - 4;
        ember_tensor in = {F32, 2, {2, 8}, x}, y;
        ck_assert_msg(ember_session_run(s, &in, 1, &y, 1, &err) == 0, "%s", err.msg);
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq(((const float *)y.data)[i], -x[i] - (x[i] > 0 ? x[i] : 0));
    }
    ember_session_free(s);
    ember_model_free(m);
}
END_TEST

/* Reshape's output shares its input's memory: a = Neg(x), v = Reshape(a), y = v + a needs
 * two arena slots (a and y) where a copied v needs three; the result is the same as with v
 * also a graph output, which is always a copy of its own. */
static ember_model *reshape_add_model(int v_is_output)
{
    const int64_t xd[2] = {4, 16}, sd[1] = {2}, sv[2] = {4, 16};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 2, xd);
    tb_init(t, "shape", EMBER_DT_INT64, 1, sd, sv, sizeof sv);
    tb_node(t, "Neg", "x", "a");
    tb_node(t, "Reshape", "a,shape", "v");
    tb_node(t, "Add", "v,a", "y");
    tb_output(t, "y", F32, 2, xd);
    if (v_is_output)
        tb_output(t, "v", F32, 2, xd);
    return load_built(t);
}

START_TEST(reshape_is_a_view)
{
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i / 8 - 3;
    ember_tensor in = {F32, 2, {4, 16}, x}, y[2];
    ember_err err = {{0}};
    size_t arena[2];
    float out[2][64];
    for (int copy = 0; copy < 2; copy++) {
        ember_model *m = reshape_add_model(copy);
        ember_session *s;
        ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
        for (int run = 0; run < 2; run++)
            ck_assert_msg(ember_session_run(s, &in, 1, y, 1 + copy, &err) == 0, "%s", err.msg);
        memcpy(out[copy], y[0].data, sizeof out[copy]);
        arena[copy] = ember_session_arena_bytes(s);
        ember_session_free(s);
        ember_model_free(m);
    }
    ck_assert_uint_eq(arena[0], 2 * 64 * sizeof(float));
    ck_assert_uint_eq(arena[1], 3 * 64 * sizeof(float));
    for (int i = 0; i < 64; i++) {
        ck_assert_float_eq(out[0][i], -2 * x[i]);
        ck_assert_float_eq(out[0][i], out[1][i]);
    }
}
END_TEST

/* A Slice of whole channels of one image is one contiguous run of its input, so it shares it
 * too: a = Neg(x) [1, 4, 2, 2], lo and hi its first and last two channels, y = lo + hi, in two
 * arena slots (a and y) of 64 bytes each. With lo and hi graph outputs (copies), the same y. */
static ember_model *channel_slices_model(int copies)
{
    const int64_t xd[4] = {1, 4, 2, 2}, hd[4] = {1, 2, 2, 2}, one[1] = {1};
    const int64_t ax[1] = {1}, s0[1] = {0}, s2[1] = {2}, s4[1] = {4};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 4, xd);
    tb_init(t, "ax", EMBER_DT_INT64, 1, one, ax, sizeof ax);
    tb_init(t, "s0", EMBER_DT_INT64, 1, one, s0, sizeof s0);
    tb_init(t, "s2", EMBER_DT_INT64, 1, one, s2, sizeof s2);
    tb_init(t, "s4", EMBER_DT_INT64, 1, one, s4, sizeof s4);
    tb_node(t, "Neg", "x", "a");
    tb_node(t, "Slice", "a,s0,s2,ax", "lo");
    tb_node(t, "Slice", "a,s2,s4,ax", "hi");
    tb_node(t, "Add", "lo,hi", "y");
    tb_output(t, "y", F32, 4, hd);
    if (copies) {
        tb_output(t, "lo", F32, 4, hd);
        tb_output(t, "hi", F32, 4, hd);
    }
    return load_built(t);
}

START_TEST(channel_slice_is_a_view)
{
    float x[16], out[2][8];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i * i % 13) - 6;
    ember_tensor in = {F32, 4, {1, 4, 2, 2}, x}, y[3];
    ember_err err = {{0}};
    for (int copies = 0; copies < 2; copies++) {
        ember_model *m = channel_slices_model(copies);
        ember_session *s;
        ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
        for (int run = 0; run < 2; run++)
            ck_assert_msg(ember_session_run(s, &in, 1, y, copies ? 3 : 1, &err) == 0, "%s",
                          err.msg);
        memcpy(out[copies], y[0].data, sizeof out[copies]);
        if (!copies)
            ck_assert_uint_eq(ember_session_arena_bytes(s), 2 * 64);
        ember_session_free(s);
        ember_model_free(m);
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_float_eq(out[0][i], -x[i] - x[i + 8]);
        ck_assert_float_eq(out[0][i], out[1][i]);
    }
}
END_TEST

/* ShuffleNet's channel shuffle, Concat(a, b) -> Reshape [1, g, c, h, w] -> Transpose
 * (0, 2, 1, 3, 4) -> Reshape [1, g * c, h, w], becomes one ember.ConcatShuffle; with the
 * Concat's output also a graph output it stays as it is, and both give the same result. a and b
 * have different channel counts (2 and 4 of 6, g = 3), so shuffled runs straddle the inputs,
 * and a third case splits the plane differently from the Concat (shape [1, 2, 3, 4, 1]). */
static ember_model *shuffle_model(int keep, const int64_t *shape5)
{
    const int64_t ad[4] = {1, 2, 2, 2}, bd[4] = {1, 4, 2, 2}, cd[4] = {1, 6, 2, 2};
    const int64_t five[1] = {5}, four[1] = {4}, back[4] = {1, 6, 2, 2};
    const int64_t perm[5] = {0, 2, 1, 3, 4};
    tb_model *t = tb_new(13);
    tb_input(t, "a", F32, 4, ad);
    tb_input(t, "b", F32, 4, bd);
    tb_init(t, "s5", EMBER_DT_INT64, 1, five, shape5, 5 * sizeof *shape5);
    tb_init(t, "s4", EMBER_DT_INT64, 1, four, back, sizeof back);
    tb_node(t, "Concat", "a,b", "cat");
    tb_attr_int(t, "axis", 1);
    tb_node(t, "Reshape", "cat,s5", "r");
    tb_node(t, "Transpose", "r", "tr");
    tb_attr_ints(t, "perm", 5, perm);
    tb_node(t, "Reshape", "tr,s4", "y");
    tb_output(t, "y", F32, 4, cd);
    if (keep)
        tb_output(t, "cat", F32, 4, cd);
    return load_built(t);
}

START_TEST(optimizer_fuses_channel_shuffle)
{
    static const int64_t shapes[2][5] = {{1, 3, 2, 2, 2}, {1, 2, 3, 4, 1}};
    float a[8], b[16], out[2][24];
    for (int i = 0; i < 8; i++)
        a[i] = (float)i;
    for (int i = 0; i < 16; i++)
        b[i] = 100 + (float)i;
    ember_tensor in[2] = {{F32, 4, {1, 2, 2, 2}, a}, {F32, 4, {1, 4, 2, 2}, b}}, y[2];
    ember_err err = {{0}};
    for (int sh = 0; sh < 2; sh++) {
        for (int keep = 0; keep < 2; keep++) {
            ember_model *m = shuffle_model(keep, shapes[sh]);
            ember_model_stats st;
            ck_assert_int_eq(ember_model_describe(m, &st), 0);
            ck_assert_int_eq(op_count(&st, "ConcatShuffle"), !keep);
            ck_assert_int_eq(op_count(&st, "Transpose") + op_count(&st, "Concat"), keep ? 2 : 0);
            ember_session *s;
            ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
            for (int run = 0; run < 2; run++)
                ck_assert_msg(ember_session_run(s, in, 2, y, 1 + keep, &err) == 0, "%s", err.msg);
            ck_assert_int_eq(y[0].rank, 4);
            ck_assert_int_eq(y[0].dims[1], 6);
            memcpy(out[keep], y[0].data, sizeof out[keep]);
            ember_session_free(s);
            ember_model_free(m);
        }
        for (int i = 0; i < 24; i++)
            ck_assert_float_eq(out[0][i], out[1][i]);
        /* Output channel 1 is group 1's first: concat channel c, b's channel c - 2. */
        ck_assert_float_eq(out[0][4], sh ? 104 : 100);
    }
}
END_TEST

/* a = Neg(x), b = Relu(x), y = Neg(Concat(a, b) on channels): for one image the Concat's
 * output holds a and b in place (their producers write into it), so the arena is the Concat's
 * output and y, 64 bytes each; for two images (nothing in place: the channels of image 0 and 1
 * interleave) and with a a graph output (a copy of its own) the results are the same. */
static ember_model *concat_model(int a_is_output)
{
    const int64_t xd[4] = {-1, 2, 2, 2}, yd[4] = {-1, 4, 2, 2};
    tb_model *t = tb_new(13);
    tb_input(t, "x", F32, 4, xd);
    tb_node(t, "Neg", "x", "a");
    tb_node(t, "Relu", "x", "b");
    tb_node(t, "Concat", "a,b", "cat");
    tb_attr_int(t, "axis", 1);
    tb_node(t, "Neg", "cat", "y");
    tb_output(t, "y", F32, 4, yd);
    if (a_is_output)
        tb_output(t, "a", F32, 4, xd);
    return load_built(t);
}

START_TEST(concat_inputs_are_written_in_place)
{
    float x[16], out[2][32];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 5) - 2.5f;
    ember_err err = {{0}};
    for (int images = 1; images <= 2; images++) {
        for (int copy = 0; copy < 2; copy++) {
            ember_model *m = concat_model(copy);
            ember_session *s;
            ember_tensor in = {F32, 4, {images, 2, 2, 2}, x}, y[2];
            ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
            for (int run = 0; run < 3; run++)
                ck_assert_msg(ember_session_run(s, &in, 1, y, 1 + copy, &err) == 0, "%s",
                              err.msg);
            memcpy(out[copy], y[0].data, (size_t)images * 16 * sizeof(float));
            if (!copy && images == 1)
                ck_assert_uint_eq(ember_session_arena_bytes(s), 2 * 64);
            ember_session_free(s);
            ember_model_free(m);
        }
        for (int i = 0; i < images * 16; i++) {
            int img = i / 16, c = i % 16 / 4, p = i % 4;
            float xv = x[img * 8 + (c % 2) * 4 + p];
            ck_assert_float_eq(out[0][i], c < 2 ? xv : -(xv > 0 ? xv : 0));
            ck_assert_float_eq(out[0][i], out[1][i]);
        }
    }
}
END_TEST

/* Silero VAD from ../shared (its body is an If with nested Ifs and an LSTM), or NULL with a
 * note when ../shared is absent. */
static ember_model *load_silero(const char *test)
{
    const char *root = getenv("EMBER_SHARED_MODELS");
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/audio/silero_vad_v5.onnx",
             root ? root : source_path("../shared/models"));
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        printf("skipping %s: %s is absent\n", test, path);
        return NULL;
    }
    fclose(probe);
    ember_model *m;
    ember_err err = {{0}};
    ck_assert_msg(ember_model_load(path, &m, &err) == 0, "%s", err.msg);
    return m;
}

/* The optimizer works inside If branches too, reading the constants around a branch as its
 * own: Silero's 341 Constant nodes and the Slice/Concat chains that reorder its LSTMs' gate
 * weights (all in branches; 60 Slices, 26 Concats in the file) fold at load, leaving the Slices and
 * Concats of values known only at run time (the STFT's and the LSTM state's). */
START_TEST(optimizer_folds_inside_if_branches)
{
    ember_model *m = load_silero("optimizer_folds_inside_if_branches");
    if (!m)
        return;
    ember_model_stats st;
    ck_assert_int_eq(ember_model_describe(m, &st), 0);
    ck_assert_int_eq(op_count(&st, "Constant"), 0);
    ck_assert_int_eq(op_count(&st, "LSTM"), 4); /* two per sample rate: with and without state */
    ck_assert_int_le(op_count(&st, "Slice"), 10);
    ck_assert_int_le(op_count(&st, "Concat"), 4);
    ember_model_free(m);
}
END_TEST

/* Silero VAD's body is an If whose branches hold nested Ifs and the LSTM: the profile must
 * list those nodes with their own times and charge each If only its overhead, so the own
 * times of all nodes add up to no more than the runs took (with an If's time counted again
 * in its branch's nodes they would come to about twice that). */
START_TEST(profile_descends_into_if_branches)
{
    ember_model *m = load_silero("profile_descends_into_if_branches");
    if (!m)
        return;
    ember_session *s;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    ck_assert_int_eq(ember_session_profile_nodes(s), 0);
    static float x[512], state[2 * 128];
    for (int i = 0; i < 512; i++)
        x[i] = sinf((float)i * 0.05f) * 0.3f;
    int64_t sr = 16000;
    ember_tensor in[3] = {{F32, 2, {1, 512}, x}, {F32, 3, {2, 1, 128}, state},
                          {EMBER_DT_INT64, 0, {0}, &sr}};
    ember_tensor out[2];
    ck_assert_msg(ember_session_run(s, in, 3, out, 2, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ember_session_profile(s, 1), 0);
    const int runs = 5;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < runs; r++)
        ck_assert_msg(ember_session_run(s, in, 3, out, 2, &err) == 0, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t wall = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);

    int n = ember_session_profile_nodes(s), lstm = 0, top_if = 0, idle = 0, deep = 0;
    ember_model_stats st;
    ck_assert_int_eq(ember_model_describe(m, &st), 0);
    ck_assert_int_eq(n, st.nodes); /* every node of every branch has a slot */
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        ember_node_time t;
        ck_assert_int_eq(ember_session_profile_node(s, i, &t), 0);
        ck_assert_int_ge(t.ns, 0);
        ck_assert_int_eq(t.runs, runs);
        ck_assert_int_eq(t.depth == 0, t.parent[0] == '\0');
        sum += t.ns;
        if (strcmp(t.op, "LSTM") == 0 && t.calls == runs) {
            lstm++;
            ck_assert_int_ge(t.depth, 2);
        }
        if (strcmp(t.op, "If") == 0 && t.depth == 0 && t.calls == runs)
            top_if++;
        idle += t.calls == 0;
        deep += t.depth > 0 && t.calls > 0;
    }
    ck_assert_int_eq(lstm, 1);   /* the 16 kHz branch's LSTM ran every time */
    ck_assert_int_eq(top_if, 1);
    ck_assert_int_gt(idle, 0);   /* the 8 kHz branch never ran */
    ck_assert_int_gt(deep, 10);
    ck_assert_int_le(sum, wall);
    ember_node_time t;
    ck_assert_int_eq(ember_session_profile_node(s, n, &t), EMBER_EINVAL);
    ember_session_free(s);
    ember_model_free(m);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *k = tcase_create("kernels");
    tcase_add_test(k, gemm_transb_bias_alpha_beta);
    tcase_add_test(k, softmax_and_relu_by_hand);
    tcase_add_test(k, add_broadcasts_row);
    tcase_add_test(k, matmul_broadcasts_batch);
    tcase_add_test(k, optimizer_folds_fuses_and_bypasses);
    tcase_add_test(k, optimizer_fuses_hardswish_pair);
    tcase_add_test(k, reshape_views_keep_their_source_alive);
    tcase_add_test(k, reshape_is_a_view);
    tcase_add_test(k, channel_slice_is_a_view);
    tcase_add_test(k, optimizer_fuses_channel_shuffle);
    tcase_add_test(k, concat_inputs_are_written_in_place);
    suite_add_tcase(s, k);
    TCase *p = tcase_create("planner");
    tcase_add_test(p, planner_never_overlaps_live_buffers);
    tcase_add_test(p, planner_reuses_dead_buffers);
    suite_add_tcase(s, p);
    TCase *w = tcase_create("pool");
    tcase_add_test(w, pool_bounds_queue_and_drains_on_destroy);
    suite_add_tcase(s, w);
    TCase *m = tcase_create("models");
    tcase_add_test(m, corrupt_models_are_clear_errors);
    tcase_add_test(m, unknown_operator_is_named);
    tcase_add_test(m, digits_model_matches_reference);
    tcase_add_test(m, bad_inputs_name_the_input);
    tcase_add_test(m, optimizer_folds_inside_if_branches);
    tcase_add_test(m, profile_descends_into_if_branches);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(engine_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
