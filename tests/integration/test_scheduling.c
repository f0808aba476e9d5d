/*
 * Scheduling and metrics. With one worker held by a big request, queued requests run by
 * priority (the request's parameters.priority, else the model's config.json default), then
 * earliest deadline; a request whose parameters.timeout_ms passes in the queue is answered
 * 504 and never computed; a client that leaves while queued is withdrawn without compute; a
 * full queue answers 503 with Retry-After; bad scheduling parameters are 400 and the timeout
 * limit is crossed. A model with "max_threads" runs a request alone in the queue on the idle
 * workers too, which take no other job meanwhile. GET /metrics is checked by
 * `promtool check metrics` and by its values.
 *
 * "Held" means: GET /metrics shows the worker busy and the expected queue depth. The big
 * request must outlast the queueing of a few small ones, which takes milliseconds.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* emberd's EMBER_KSERVE_MAX_TIMEOUT_MS. */
#define MAX_TIMEOUT_MS 3600000

/* A 2-row digits request with "parameters" params (a JSON object's inside, may be ""). */
static char *body_with(const digits_ref *ref, const char *params)
{
    char *body = it_infer_body(ref, 0, 2, NULL);
    size_t len = strlen(body);
    char *out = malloc(len + strlen(params) + 32);
    ck_assert(out != NULL);
    /* {"parameters":{...}, + the rest of the body after its '{' */
    sprintf(out, "{\"parameters\":{%s},%s", params, body + 1);
    free(body);
    return out;
}

START_TEST(priority_then_deadline)
{
    static const struct {
        const char *model, *params;
    } reqs[] = {
        /* in sending order; they must run in the reverse */
        {"low", "\"priority\":\"low\""},
        {"normal", ""},
        {"soon", "\"timeout_ms\":60000"},
        {"sooner", "\"timeout_ms\":30000,\"priority\":\"normal\""},
        {"vip", ""}, /* config.json: "priority": "high" */
        {"urgent", "\"priority\":\"high\",\"timeout_ms\":50000"},
    };
    enum { N = sizeof reqs / sizeof reqs[0] };
    char dir[IT_DIR_MAX], log[PATH_MAX], path[PATH_MAX + 64];
    emberd_proc d;
    digits_ref ref;
    ember_client *c[N];

    it_ref_load(&ref);
    it_mkdtemp(dir);
    for (int i = 0; i < N; i++)
        it_repo_put_model(dir, reqs[i].model, 1);
    snprintf(path, sizeof path, "%s/vip/config.json", dir);
    it_write_file(path, "{\"priority\": \"high\"}", 20);
    snprintf(log, sizeof log, "%s/emberd.log", dir);
    const char *const extra[] = {"--dev", "--models",    dir,     "--workers",
                                 "1",     "--log-level", "debug", NULL};
    it_emberd_start_logged(&d, extra, 0, log);

    ember_client *slow = it_hold_worker(d.socket, &ref);
    for (int i = 0; i < N; i++) {
        char *body = body_with(&ref, reqs[i].params);
        snprintf(path, sizeof path, "/v2/models/%s/infer", reqs[i].model);
        c[i] = it_client(d.socket);
        it_send_infer(c[i], path, body);
        free(body);
    }
    it_wait_metric(d.socket, "emberd_queue_depth", N);
    it_release_worker(slow, &ref);
    for (int i = 0; i < N; i++) {
        ember_response r = it_recv_answer(c[i]);
        ck_assert_msg(r.status == 200, "%s: %d %s", reqs[i].model, r.status, r.body);
        ember_response_free(&r);
        ember_client_close(c[i]);
    }
    it_emberd_stop(&d, SIGTERM);

    /* One worker answers in the order it ran them; the debug log has one line each. */
    char *text = it_read_file(log, NULL);
    const char *prev = strstr(text, "POST /v2/models/digits/infer -> 200");
    ck_assert_msg(prev != NULL, "log: %s", text);
    for (int i = N - 1; i >= 0; i--) {
        char want[128];
        snprintf(want, sizeof want, "POST /v2/models/%s/infer -> 200", reqs[i].model);
        const char *at = strstr(text, want);
        ck_assert_msg(at && at > prev, "%s ran out of order; log:\n%s", reqs[i].model, text);
        prev = at;
    }
    free(text);
}
END_TEST

START_TEST(deadline_in_queue_is_504_without_compute)
{
    emberd_proc d;
    digits_ref ref;
    ember_response r;

    it_ref_load(&ref);
    const char *const extra[] = {"--workers", "1", NULL};
    it_emberd_start(&d, extra, 0);

    /* timeout_ms 0 has passed before any worker can take it. */
    ember_client *c = it_client(d.socket);
    char *body = body_with(&ref, "\"timeout_ms\":0");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_error(&r, 504, "timeout_ms 0");
    ember_response_free(&r);
    free(body);
    ck_assert(it_metric(d.socket, "emberd_inferences_computed_total") == 0);

    /* A deadline that passes while the worker is busy: answered 504 by the queue's timer,
     * before the worker is free. */
    ember_client *slow = it_hold_worker(d.socket, &ref);
    body = body_with(&ref, "\"timeout_ms\":1");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_error(&r, 504, "a deadline passing in the queue");
    ember_response_free(&r);
    free(body);
    ck_assert(it_metric(d.socket, "emberd_workers{state=\"busy\"}") == 1);
    it_release_worker(slow, &ref);
    ck_assert(it_metric(d.socket, "emberd_inferences_computed_total") == 1);
    ck_assert(it_metric(d.socket, "emberd_requests_expired_total") == 2);
    ck_assert(
        it_metric(d.socket,
               "emberd_infer_requests_total{model=\"digits\",version=\"1\",status=\"504\"}") == 2);

    /* A generous deadline runs normally; the limit itself is accepted. */
    char params[64];
    snprintf(params, sizeof params, "\"timeout_ms\":%d", MAX_TIMEOUT_MS);
    body = body_with(&ref, params);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(bad_parameters)
{
    digits_ref ref;
    ember_response r;
    char over[64];
    snprintf(over, sizeof over, "\"timeout_ms\":%d", MAX_TIMEOUT_MS + 1);
    const char *const bad[] = {
        "\"priority\":\"urgent\"", "\"priority\":1",       "\"timeout_ms\":-1",
        "\"timeout_ms\":1.5",      "\"timeout_ms\":\"5\"", over,
    };

    it_ref_load(&ref);
    ember_client *c = it_client(it_daemon.socket);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = body_with(&ref, bad[i]);
        it_request(c, "POST", "/v2/models/digits/infer", body, &r);
        it_assert_error(&r, 400, bad[i]);
        ck_assert_msg(strstr(r.body, "parameters."), "%s: %s", bad[i], r.body);
        ember_response_free(&r);
        free(body);
    }
    it_request(c, "POST", "/v2/models/digits/infer", "{\"parameters\":[1],\"inputs\":[]}", &r);
    it_assert_error(&r, 400, "parameters not an object");
    ember_response_free(&r);
    ck_assert(it_metric(it_daemon.socket, "emberd_inferences_computed_total") == 0);
    ember_client_close(c);
}
END_TEST

START_TEST(full_queue_and_disconnect)
{
    emberd_proc d;
    digits_ref ref;
    ember_err err;

    it_ref_load(&ref);
    const char *const extra[] = {"--workers", "1", "--queue", "1", NULL};
    it_emberd_start(&d, extra, 0);
    ember_client *slow = it_hold_worker(d.socket, &ref);

    /* The queue's one place is taken by a client that then leaves. */
    char *body = body_with(&ref, "");
    ember_client *leaver = it_client(d.socket);
    it_send_infer(leaver, "/v2/models/digits/infer", body);
    it_wait_metric(d.socket, "emberd_queue_depth", 1);

    /* Full: 503 with Retry-After, nothing queued. */
    ember_client *c = it_client(d.socket);
    ember_response r;
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_error(&r, 503, "a full queue");
    ck_assert_msg(ember_response_header(&r, "Retry-After") != NULL, "503 without Retry-After");
    ember_response_free(&r);
    ck_assert(it_metric(d.socket, "emberd_requests_refused_total") == 1);

    ember_client_close(leaver);
    it_wait_metric(d.socket, "emberd_requests_cancelled_total", 1);
    ck_assert(it_metric(d.socket, "emberd_queue_depth") == 0);
    it_release_worker(slow, &ref);
    /* Only the slow request was computed. */
    ck_assert(it_metric(d.socket, "emberd_inferences_computed_total") == 1);

    /* The queue has room again. */
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_response_free(&r);
    (void)err;
    free(body);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(metrics_pass_promtool)
{
    digits_ref ref;
    ember_response r;

    it_ref_load(&ref);
    ember_client *c = it_client(it_daemon.socket);
    char *body = it_infer_body(&ref, 0, 2, NULL);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ember_response_free(&r);
    it_request(c, "POST", "/v2/models/digits/infer", "{\"inputs\":[]}", &r);
    ember_response_free(&r);
    free(body);
    it_request(c, "GET", "/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(
        strncmp(ember_response_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0,
        "Content-Type: %s", ember_response_header(&r, "Content-Type"));
    static const char *const want[] = {
        "emberd_infer_requests_total{model=\"digits\",version=\"1\",status=\"200\"} 1\n",
        "emberd_infer_requests_total{model=\"digits\",version=\"1\",status=\"400\"} 1\n",
        "emberd_compute_seconds_count 2\n",
        "emberd_queue_wait_seconds_bucket{le=\"+Inf\"} 2\n",
        "emberd_request_seconds_count 2\n",
        "emberd_queue_depth 0\n",
        "emberd_queue_capacity 64\n",
        "emberd_workers{state=\"busy\"} 0\n",
        "emberd_models_loaded 1\n",
        "emberd_model_weight_bytes{model=\"digits\",version=\"1\"} ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(r.body, want[i]), "missing \"%s\" in:\n%s", want[i], r.body);

    it_assert_promtool(r.body, r.body_len);
    ember_response_free(&r);

    it_request(c, "POST", "/metrics", "", &r);
    it_assert_error(&r, 405, "POST /metrics");
    ember_response_free(&r);
    ember_client_close(c);
}
END_TEST

START_TEST(idle_workers_lent_to_one_run)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "idle_workers_lent_to_one_run: one CPU, nothing to lend; skipped\n");
        return;
    }
    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    it_repo_put_config(dir, "digits", "{\"max_threads\": 2}");
    it_repo_start(&d, dir, "2");

    /* Alone in the queue, the big request takes both workers: its own and the idle one. */
    ember_client *slow = it_client(d.socket);
    char *big = it_infer_body(&ref, 0, IT_SLOW_ROWS, NULL);
    it_send_infer(slow, "/v2/models/digits/infer", big);
    free(big);
    it_wait_metric(d.socket, "emberd_workers{state=\"busy\"}", 2);
    /* The lent worker takes no other job while the run holds it. */
    ember_client *c = it_client(d.socket);
    char *body = it_infer_body(&ref, 1, 2, "small");
    it_send_infer(c, "/v2/models/digits/infer", body);
    free(body);
    it_wait_metric(d.socket, "emberd_queue_depth", 1);
    it_release_worker(slow, &ref);
    ember_response r = it_recv_answer(c);
    it_assert_infer_ok(&r, &ref, 1, 2, "small");
    ember_response_free(&r);
    ember_client_close(c);
    it_wait_metric(d.socket, "emberd_workers{state=\"busy\"}", 0);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_scheduling(void)
{
    Suite *s = suite_create("scheduling");
    TCase *tc = it_tcase("scheduling", 0);
    tcase_add_test(tc, priority_then_deadline);
    tcase_add_test(tc, deadline_in_queue_is_504_without_compute);
    tcase_add_test(tc, full_queue_and_disconnect);
    tcase_add_test(tc, idle_workers_lent_to_one_run);
    suite_add_tcase(s, tc);
    TCase *td = it_tcase("scheduling-daemon", 1);
    tcase_add_test(td, bad_parameters);
    tcase_add_test(td, metrics_pass_promtool);
    suite_add_tcase(s, td);
    return s;
}
