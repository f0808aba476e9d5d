/*
 * Inline runs (daemon/infer.h): a request to a model whose engine runs are quick runs on
 * emberd's event loop, without the hand-off to a worker, when nothing waits and a worker is
 * free. A model's first request is measured on a worker; the next identical request runs
 * inline and gets the same bytes; pipelined requests run inline are answered in order; the
 * metrics count inline runs as computed ones. While the only worker is busy a request queues
 * as before (a big body never runs inline), a request whose deadline has passed is 504
 * without compute, a model slower than the limit never runs inline, and "inline_max_us": 0
 * (config file) or --inline-max-us 0 turns it off. The daemons here run with a high limit
 * (or a tiny one) so the decision does not hang on how fast the machine is today.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define INLINE "emberd_inferences_inline_total"
#define COMPUTED "emberd_inferences_computed_total"
#define INFER "/v2/models/digits/infer"

/* POST body to the built-in digits on a new connection; the answer must be 200. */
static ember_response infer_ok(const char *sock, const char *body)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "POST", INFER, body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_client_close(c);
    return r;
}

static void assert_runs(const char *sock, double computed, double inlined)
{
    ck_assert_double_eq(it_metric(sock, COMPUTED), computed);
    ck_assert_double_eq(it_metric(sock, INLINE), inlined);
}

/* The reference data, and emberd with one worker and a limit no digits run comes near. */
static void start_inline(emberd_proc *d, digits_ref *ref)
{
    it_ref_load(ref);
    const char *const extra[] = {"--workers", "1", "--inline-max-us", "10000", NULL};
    it_emberd_start(d, extra, 0);
}

START_TEST(inline_answers_like_a_worker)
{
    emberd_proc d;
    digits_ref ref;
    start_inline(&d, &ref);

    char *body = it_infer_body(&ref, 3, 2, "same");
    ember_response first = infer_ok(d.socket, body);
    assert_runs(d.socket, 1, 0); /* not measured yet: a worker ran it */
    ember_response second = infer_ok(d.socket, body);
    assert_runs(d.socket, 2, 1);
    it_assert_infer_ok(&second, &ref, 3, 2, "same");
    ck_assert_uint_eq(first.body_len, second.body_len);
    ck_assert_msg(memcmp(first.body, second.body, first.body_len) == 0, "worker: %s\ninline: %s",
                  first.body, second.body);
    ember_response_free(&first);
    ember_response_free(&second);
    free(body);

    /* Pipelined: three requests in one write burst, answered inline and in order. */
    ember_client *c = it_client(d.socket);
    char id[3][8];
    for (int i = 0; i < 3; i++) {
        snprintf(id[i], sizeof id[i], "p%d", i);
        char *b = it_infer_body(&ref, i, 1, id[i]);
        it_send_infer(c, INFER, b);
        free(b);
    }
    for (int i = 0; i < 3; i++) {
        ember_response r = it_recv_answer(c);
        it_assert_infer_ok(&r, &ref, i, 1, id[i]);
        ember_response_free(&r);
    }
    ember_client_close(c);
    assert_runs(d.socket, 5, 4);
    ck_assert_double_eq(it_metric(d.socket,
                                  "emberd_infer_requests_total{model=\"digits\",version=\"1\","
                                  "status=\"200\"}"),
                        5);
    ck_assert_double_eq(it_metric(d.socket, "emberd_compute_seconds_count"), 5);
    ck_assert_double_eq(it_metric(d.socket, "emberd_workers{state=\"busy\"}"), 0);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(inline_only_when_a_worker_would_run_it)
{
    emberd_proc d;
    digits_ref ref;
    start_inline(&d, &ref);
    char *body = it_infer_body(&ref, 0, 1, NULL);
    for (int i = 0; i < 2; i++) {
        ember_response r = infer_ok(d.socket, body);
        ember_response_free(&r);
    }
    assert_runs(d.socket, 2, 1);

    /* The held worker's body is over EMBERD_LOOP_DECODE_MAX: it went to the worker. With
     * that worker busy a small request waits in the queue instead of running inline. */
    ember_client *slow = it_hold_worker(d.socket, &ref);
    ember_client *c = it_client(d.socket);
    it_send_infer(c, INFER, body);
    it_wait_metric(d.socket, "emberd_queue_depth", 1);
    it_release_worker(slow, &ref);
    ember_response r = it_recv_answer(c);
    it_assert_infer_ok(&r, &ref, 0, 1, NULL);
    ember_response_free(&r);
    assert_runs(d.socket, 4, 1);

    /* A deadline already passed: 504, nothing computed, inline or not. */
    char *late = it_infer_body(&ref, 0, 1, NULL);
    char *with = malloc(strlen(late) + 64);
    ck_assert(with != NULL);
    sprintf(with, "{\"parameters\":{\"timeout_ms\":0},%s", late + 1);
    it_request(c, "POST", INFER, with, &r);
    it_assert_error(&r, 504, "timeout_ms 0 on an inline model");
    ember_response_free(&r);
    assert_runs(d.socket, 4, 1);
    ck_assert_double_eq(it_metric(d.socket, "emberd_requests_expired_total"), 1);

    /* Back to quiet: inline again. */
    it_request(c, "POST", INFER, body, &r);
    ck_assert_int_eq(r.status, 200);
    ember_response_free(&r);
    assert_runs(d.socket, 5, 2);
    ember_client_close(c);
    free(with);
    free(late);
    free(body);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* n requests of rows rows each; every one must be 200. */
static void infer_n(const char *sock, const digits_ref *ref, int n, int rows)
{
    char *body = it_infer_body(ref, 0, rows, NULL);
    for (int i = 0; i < n; i++) {
        ember_response r = infer_ok(sock, body);
        it_assert_infer_ok(&r, ref, 0, rows, NULL);
        ember_response_free(&r);
    }
    free(body);
}

START_TEST(slow_model_or_limit_zero_never_inline)
{
    emberd_proc d;
    digits_ref ref;
    it_ref_load(&ref);

    /* 40 rows take well over a microsecond on any machine. */
    const char *const tiny[] = {"--workers", "1", "--inline-max-us", "1", NULL};
    it_emberd_start(&d, tiny, 0);
    infer_n(d.socket, &ref, 5, 40);
    assert_runs(d.socket, 5, 0);
    it_emberd_stop(&d, SIGTERM);

    /* Off in the config file, for the quickest requests. */
    char dir[IT_DIR_MAX], cfg[PATH_MAX];
    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    it_write_file(cfg, "{\"inline_max_us\": 0}", 20);
    const char *const off[] = {"--workers", "1", "--config", cfg, NULL};
    it_emberd_start(&d, off, 0);
    infer_n(d.socket, &ref, 5, 1);
    assert_runs(d.socket, 5, 0);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_inline(void)
{
    Suite *s = suite_create("inline");
    /* Inline runs may take at most half of any 10 ms of the loop: under qemu (make
     * check-arm64) digits runs tens of times slower and goes back to the workers, so the two
     * cases that expect inline runs need a native CPU; make check-arm64 excludes the tag. */
    TCase *tc = tcase_create("inline");
    tcase_set_timeout(tc, 120);
    tcase_set_tags(tc, "needs-native");
    tcase_add_test(tc, inline_answers_like_a_worker);
    tcase_add_test(tc, inline_only_when_a_worker_would_run_it);
    suite_add_tcase(s, tc);
    TCase *never = tcase_create("never_inline");
    tcase_set_timeout(never, 120);
    tcase_add_test(never, slow_model_or_limit_zero_never_inline);
    suite_add_tcase(s, never);
    return s;
}
