/*
 * Dynamic batching (config.json "max_batch", "max_batch_delay_us"). With the only worker held
 * by a big request, queued requests of a batching model run as few merged runs whose rows
 * never exceed max_batch, and every answer is byte for byte the unbatched one with its own
 * id; with a worker free, the first request waits up to the delay for company; requests of
 * different non-batch shapes are never merged; a request whose deadline passes inside the
 * batch window gets 504 without compute; a model without a dynamic first dimension refuses
 * max_batch, alike at --check-config, at startup and at load. The emberd_batch_size histogram
 * proves what ran, a batch's time is counted once in emberd_compute_seconds (split among its
 * requests), and promtool accepts /metrics with batch and cache series in it.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/engine/onnx_builder.h"
#include "harness.h"

#define BATCHES(m) "emberd_batch_size_count{model=\"" m "\"}"
#define ROWS(m) "emberd_batch_size_sum{model=\"" m "\"}"
#define BATCH_COMPUTE(m) "emberd_batch_compute_seconds_total{model=\"" m "\"}"
#define COMPUTE_SUM "emberd_compute_seconds_sum"
#define BUCKET(m, le) "emberd_batch_size_bucket{model=\"" m "\",le=\"" le "\"}"

/* dir/name/1/model.onnx: y = Relu(x), FLOAT, with dims (-1: symbolic) on both. */
static void put_relu_model(const char *dir, const char *name, int rank, const int64_t *dims)
{
    char path[PATH_MAX];
    uint8_t *buf;
    tb_model *t = tb_new(13);
    tb_input(t, "x", 1, rank, dims);
    tb_output(t, "y", 1, rank, dims);
    tb_node(t, "Relu", "x", "y");
    size_t len = tb_pack(t, &buf);
    tb_free(t);
    it_repo_put_model(dir, name, 1); /* makes the folders */
    snprintf(path, sizeof path, "%s/%s/1/model.onnx", dir, name);
    it_write_file(path, buf, len);
    free(buf);
}

/* The answer's body from "outputs" on: what batching must leave unchanged. */
static const char *outputs_of(const ember_response *r)
{
    const char *at = strstr(r->body, "\"outputs\":");
    ck_assert_msg(at != NULL, "%d %s", r->status, r->body);
    return at;
}

/* Rows of the requests queued behind the held worker: 8 rows with max_batch 4. The 3-row
 * one does not fit after the first two, so the first run takes 0, 1, 3, 4 (4 rows) and the
 * second 2 and 5 (4 rows). */
static const int queued_rows[] = {1, 1, 3, 1, 1, 1};
#define NQUEUED (int)(sizeof queued_rows / sizeof queued_rows[0])

START_TEST(batched_answers_equal_unbatched)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX], id[32];
    ember_response want[NQUEUED];
    ember_client *c[NQUEUED];
    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    it_repo_put_config(dir, "digits", "{\"max_batch\": 4}");
    it_repo_put_model(dir, "plain", 1);
    it_repo_start(&d, dir, "1");

    /* The unbatched answers, from a copy of the model that does not batch. */
    ember_client *one = it_client(d.socket);
    for (int i = 0; i < NQUEUED; i++) {
        snprintf(id, sizeof id, "q%d", i);
        char *body = it_infer_body(&ref, i, queued_rows[i], id);
        it_request(one, "POST", "/v2/models/plain/infer", body, &want[i]);
        ck_assert_msg(want[i].status == 200, "%d %s", want[i].status, want[i].body);
        free(body);
    }
    ember_client_close(one);

    double compute0 = it_metric(d.socket, COMPUTE_SUM);
    /* The held request is a run of digits too: IT_SLOW_ROWS rows, alone (over max_batch). */
    ember_client *slow = it_hold_worker(d.socket, &ref);
    for (int i = 0; i < NQUEUED; i++) {
        snprintf(id, sizeof id, "q%d", i);
        char *body = it_infer_body(&ref, i, queued_rows[i], id);
        c[i] = it_client(d.socket);
        it_send_infer(c[i], "/v2/models/digits/infer", body);
        free(body);
    }
    it_wait_metric(d.socket, "emberd_queue_depth", NQUEUED);
    it_release_worker(slow, &ref);
    for (int i = 0; i < NQUEUED; i++) {
        ember_response r = it_recv_answer(c[i]);
        snprintf(id, sizeof id, "q%d", i);
        it_assert_infer_ok(&r, &ref, i, queued_rows[i], id);
        ck_assert_str_eq(outputs_of(&r), outputs_of(&want[i]));
        ember_response_free(&r);
        ember_response_free(&want[i]);
        ember_client_close(c[i]);
    }
    ck_assert_double_eq(it_metric(d.socket, BATCHES("digits")), 1 + 2);
    ck_assert_double_eq(it_metric(d.socket, ROWS("digits")), IT_SLOW_ROWS + 8);
    ck_assert_double_eq(it_metric(d.socket, BUCKET("digits", "2")), 0);
    ck_assert_double_eq(it_metric(d.socket, BUCKET("digits", "4")), 2);
    ck_assert_double_eq(it_metric(d.socket, BUCKET("digits", "1024")), 2);
    ck_assert_double_eq(it_metric(d.socket, "emberd_compute_seconds_count"), NQUEUED + 1 + NQUEUED);
    /* Three runs (the held one and two batches); the requests' compute adds up to their time
     * once. Counting each batched request with its whole batch's time would add it 4 and 2
     * times, microseconds over the ns the text carries. */
    double runs = it_metric(d.socket, BATCH_COMPUTE("digits"));
    double computed = it_metric(d.socket, COMPUTE_SUM) - compute0;
    ck_assert_msg(runs > 0 && fabs(computed - runs) < 1e-8,
                  "compute of the batched requests %.9f s, of their runs %.9f s", computed, runs);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(window_gathers_concurrent_requests)
{
    enum { N = 3 };
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX], id[32];
    ember_client *c[N];
    ember_response r;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    /* Long enough that the three requests arrive inside the first one's window even on a
     * loaded machine. */
    it_repo_put_config(
        dir, "digits",
        "{\"max_batch\": 8, \"max_batch_delay_us\": 500000, \"cache\": {\"entries\": 8}}");
    it_repo_start(&d, dir, "2");

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "w%d", i);
        char *body = it_infer_body(&ref, 4 + i, 1, id);
        c[i] = it_client(d.socket);
        it_send_infer(c[i], "/v2/models/digits/infer", body);
        free(body);
    }
    for (int i = 0; i < N; i++) {
        r = it_recv_answer(c[i]);
        snprintf(id, sizeof id, "w%d", i);
        it_assert_infer_ok(&r, &ref, 4 + i, 1, id);
        ember_response_free(&r);
        ember_client_close(c[i]);
    }
    ck_assert_double_eq(it_metric(d.socket, BATCHES("digits")), 1);
    ck_assert_double_eq(it_metric(d.socket, ROWS("digits")), N);

    /* Each batched answer was kept on its own: the first again is a hit, no new run. */
    char *body = it_infer_body(&ref, 4, 1, "again");
    ember_client *one = it_client(d.socket);
    it_request(one, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 4, 1, "again");
    ember_response_free(&r);
    free(body);
    ck_assert_double_eq(it_metric(d.socket, "emberd_cache_hits_total{model=\"digits\"}"), 1);
    ck_assert_double_eq(it_metric(d.socket, BATCHES("digits")), 1);

    it_request(one, "GET", "/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    it_assert_promtool(r.body, r.body_len);
    ember_response_free(&r);
    ember_client_close(one);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(mixed_shapes_not_merged)
{
    /* {rows, columns} of each request, in sending order. */
    static const int shapes[][2] = {{1, 3}, {1, 5}, {1, 3}, {2, 5}};
    enum { N = sizeof shapes / sizeof shapes[0] };
    static const int64_t dims[] = {-1, -1};
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX], body[1024];
    ember_client *c[N];
    it_ref_load(&ref);
    it_mkdtemp(dir);
    put_relu_model(dir, "pairs", 2, dims);
    it_repo_put_config(dir, "pairs", "{\"max_batch\": 8}");
    it_repo_start(&d, dir, "1");

    ember_client *slow = it_hold_worker(d.socket, &ref);
    for (int i = 0; i < N; i++) {
        int n = shapes[i][0] * shapes[i][1];
        int len = snprintf(body, sizeof body,
                           "{\"id\":\"p%d\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
                           "\"shape\":[%d,%d],\"data\":[",
                           i, shapes[i][0], shapes[i][1]);
        for (int k = 0; k < n; k++) /* alternating signs: Relu keeps every other value */
            len += snprintf(body + len, sizeof body - (size_t)len, "%s%d", k ? "," : "",
                            k % 2 ? -(10 * i + k) : 10 * i + k);
        snprintf(body + len, sizeof body - (size_t)len, "]}]}");
        c[i] = it_client(d.socket);
        it_send_infer(c[i], "/v2/models/pairs/infer", body);
    }
    it_wait_metric(d.socket, "emberd_queue_depth", N);
    it_release_worker(slow, &ref);
    for (int i = 0; i < N; i++) {
        ember_response r = it_recv_answer(c[i]);
        ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
        cJSON *j = it_json(&r);
        cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0);
        cJSON *shape = cJSON_GetObjectItem(out, "shape");
        ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, shapes[i][0]);
        ck_assert_int_eq(cJSON_GetArrayItem(shape, 1)->valueint, shapes[i][1]);
        double got[16];
        int n = it_flatten(cJSON_GetObjectItem(out, "data"), got, 16);
        ck_assert_int_eq(n, shapes[i][0] * shapes[i][1]);
        for (int k = 0; k < n; k++)
            ck_assert_double_eq(got[k], k % 2 ? 0 : 10 * i + k);
        cJSON_Delete(j);
        ember_response_free(&r);
        ember_client_close(c[i]);
    }
    /* The two [1,3] requests ran together, and the [1,5] with the [2,5]. */
    ck_assert_double_eq(it_metric(d.socket, BATCHES("pairs")), 2);
    ck_assert_double_eq(it_metric(d.socket, ROWS("pairs")), 5);
    ck_assert_double_eq(it_metric(d.socket, BUCKET("pairs", "2")), 1);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(deadline_inside_window_is_504)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    it_repo_put_config(dir, "digits", "{\"max_batch\": 8, \"max_batch_delay_us\": 1000000}");
    it_repo_start(&d, dir, "2");

    /* The first waits out the whole window; the second's 50 ms end inside it. */
    char *patient = it_infer_body(&ref, 0, 1, "patient");
    char *hasty = it_infer_body(&ref, 1, 1, "hasty");
    char *hasty_t = malloc(strlen(hasty) + 64);
    sprintf(hasty_t, "{\"parameters\":{\"timeout_ms\":50},%s", hasty + 1);
    ember_client *a = it_client(d.socket), *b = it_client(d.socket);
    it_send_infer(a, "/v2/models/digits/infer", patient);
    it_send_infer(b, "/v2/models/digits/infer", hasty_t);
    ember_response r = it_recv_answer(b);
    it_assert_error(&r, 504, "a deadline inside the batch window");
    ember_response_free(&r);
    r = it_recv_answer(a);
    it_assert_infer_ok(&r, &ref, 0, 1, "patient");
    ember_response_free(&r);
    ck_assert_double_eq(it_metric(d.socket, "emberd_requests_expired_total"), 1);
    ck_assert_double_eq(it_metric(d.socket, "emberd_inferences_computed_total"), 1);
    ck_assert_double_eq(it_metric(d.socket, ROWS("digits")), 1);
    ember_client_close(a);
    ember_client_close(b);
    free(patient);
    free(hasty);
    free(hasty_t);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* emberd --check-config --dev --models dir: its exit status, its stderr in *err (caller frees). */
static int check_config(const char *dir, char **err)
{
    char *out;
    const char *argv[] = {getenv("EMBERD"), "--check-config", "--dev", "--models", dir, NULL};
    int rc = it_run(argv, NULL, NULL, &out, err);
    free(out);
    return rc;
}

/* What --check-config, startup and a load all say about max_batch on a fixed first dimension:
 * the key, its value, the model, the version and the input or output. */
static void assert_names_fixed(const char *text, const char *io)
{
    ck_assert_msg(strstr(text, "key 'max_batch' (4) needs a dynamic first (batch) dimension") &&
                      strstr(text, "of model 'fixed'") && strstr(text, io),
                  "want max_batch, model 'fixed' and \"%s\" in: %s", io, text);
}

START_TEST(fixed_batch_dimension_refused)
{
    static const int64_t fixed_in[] = {2, -1};
    emberd_proc d;
    char dir[IT_DIR_MAX], *err;
    ember_response r;
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    it_repo_put_config(dir, "digits", "{\"max_batch\": 4}");
    put_relu_model(dir, "fixed", 2, fixed_in);
    it_repo_put_config(dir, "fixed", "{\"max_batch\": 4}");

    /* --check-config opens the model and says what a load will say. */
    ck_assert_int_eq(check_config(dir, &err), 2);
    assert_names_fixed(err, "version 1 input 'x' has a fixed one (2)");
    ck_assert_msg(!strstr(err, "'digits'"), "the batching digits model is fine: %s", err);
    free(err);

    /* Startup skips it (the other model serves); a load answers the same message as 400. */
    it_repo_start(&d, dir, "1");
    ember_client *c = it_client(d.socket);
    it_request(c, "GET", "/v2/models/fixed", NULL, &r);
    ck_assert_int_eq(r.status, 404);
    ember_response_free(&r);
    it_request(c, "GET", "/v2/models/digits", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ember_response_free(&r);
    it_request(c, "POST", "/v2/repository/models/fixed/load", "", &r);
    it_assert_error(&r, 400, "max_batch on a fixed first dimension");
    assert_names_fixed(r.body, "input 'x' has a fixed one (2)");
    ember_response_free(&r);

    /* An output without a batch dimension is named the same way. */
    static const int64_t free_in[] = {-1, 3};
    tb_model *t = tb_new(13);
    static const int64_t no_batch_out[] = {2};
    tb_input(t, "x", 1, 2, free_in);
    tb_output(t, "n", 7, 1, no_batch_out);
    tb_node(t, "Shape", "x", "n");
    uint8_t *buf;
    size_t len = tb_pack(t, &buf);
    tb_free(t);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fixed/1/model.onnx", dir);
    it_write_file(path, buf, len);
    free(buf);
    ck_assert_int_eq(check_config(dir, &err), 2);
    assert_names_fixed(err, "output 'n' has a fixed one (2)");
    free(err);
    it_request(c, "POST", "/v2/repository/models/fixed/load", "", &r);
    it_assert_error(&r, 400, "max_batch on an output without a batch dimension");
    assert_names_fixed(r.body, "output 'n' has a fixed one (2)");
    ember_response_free(&r);

    /* Without max_batch the same model loads, and --check-config passes. */
    it_repo_put_config(dir, "fixed", "{}");
    ck_assert_int_eq(check_config(dir, &err), 0);
    free(err);
    it_request(c, "POST", "/v2/repository/models/fixed/load", "", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_response_free(&r);
    it_assert_healthy(d.socket);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_batch(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = it_tcase("batch", 0);
    tcase_add_test(tc, batched_answers_equal_unbatched);
    tcase_add_test(tc, window_gathers_concurrent_requests);
    tcase_add_test(tc, mixed_shapes_not_merged);
    tcase_add_test(tc, deadline_inside_window_is_504);
    tcase_add_test(tc, fixed_batch_dimension_refused);
    suite_add_tcase(s, tc);
    return s;
}
