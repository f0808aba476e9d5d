/*
 * The per-model response cache (config.json "cache"): a second identical request is answered
 * from the cache without compute (emberd_compute_seconds_count does not move) with the same
 * body but its own id; the cache is off without the key; the key changes with any input
 * value and with how outputs are asked for; the least recently used answer leaves past the
 * entry limit and past the byte limit; an answer over max_answer_bytes is never kept; a reload of
 * the model starts an empty cache; bad "cache" (and "max_batch", "max_threads") values fail the
 * load naming the key.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define HITS "emberd_cache_hits_total{model=\"digits\"}"
#define MISSES "emberd_cache_misses_total{model=\"digits\"}"
#define COMPUTED "emberd_compute_seconds_count"

/* emberd --dev --models DIR --workers 1 serving digits with config.json config. */
static void start_cached(emberd_proc *d, char dir[IT_DIR_MAX], const char *config)
{
    it_mkdtemp(dir);
    it_repo_put_model(dir, "digits", 1);
    it_repo_put_config(dir, "digits", config);
    it_repo_start(d, dir, "1");
}

/* POST body to digits; the answer must be 200. */
static ember_response infer_ok(const char *sock, const char *body)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_client_close(c);
    return r;
}

static void assert_counts(const char *sock, double hits, double misses, double computed)
{
    ck_assert_double_eq(it_metric(sock, HITS), hits);
    ck_assert_double_eq(it_metric(sock, MISSES), misses);
    ck_assert_double_eq(it_metric(sock, COMPUTED), computed);
}

/* One row (sample `sample`) with input value `at` raised by `delta` and, when binary, the
 * output asked for as binary data. Caller frees. */
static char *body_variant(const digits_ref *ref, int sample, int at, double delta, int binary,
                          const char *id)
{
    char *text = it_infer_body(ref, sample, 1, id);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *data =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "inputs"), 0), "data");
    cJSON *v = cJSON_GetArrayItem(data, at);
    ck_assert(v != NULL);
    cJSON_SetNumberValue(v, v->valuedouble + delta);
    if (binary)
        cJSON_AddItemToObject(
            root, "outputs",
            cJSON_Parse("[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}}]"));
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

START_TEST(hit_answers_without_compute)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    it_ref_load(&ref);
    start_cached(&d, dir, "{\"cache\": {\"entries\": 4}}");

    char *first = it_infer_body(&ref, 3, 2, "req-1");
    ember_response miss = infer_ok(d.socket, first);
    it_assert_infer_ok(&miss, &ref, 3, 2, "req-1");
    assert_counts(d.socket, 0, 1, 1);

    /* The same tensors under another id. */
    char *again = it_infer_body(&ref, 3, 2, "req-2");
    ember_response hit = infer_ok(d.socket, again);
    it_assert_infer_ok(&hit, &ref, 3, 2, "req-2");
    assert_counts(d.socket, 1, 1, 1);
    /* Byte for byte the miss's answer but for the id. */
    char *want = strdup(miss.body);
    char *at = strstr(want, "\"id\":\"req-1\"");
    ck_assert_msg(at != NULL, "%s", miss.body);
    at[10] = '2';
    ck_assert_uint_eq(hit.body_len, miss.body_len);
    ck_assert_str_eq(hit.body, want);

    /* Without an id the answer has none, from the cache as from a worker. */
    char *anon = it_infer_body(&ref, 3, 2, NULL);
    ember_response plain = infer_ok(d.socket, anon);
    it_assert_infer_ok(&plain, &ref, 3, 2, NULL);
    ck_assert_msg(!strstr(plain.body, "\"id\""), "%s", plain.body);
    assert_counts(d.socket, 2, 1, 1);

    free(first);
    free(again);
    free(anon);
    free(want);
    ember_response_free(&miss);
    ember_response_free(&hit);
    ember_response_free(&plain);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(off_by_default)
{
    digits_ref ref;
    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, 1, NULL);
    for (int i = 0; i < 2; i++) {
        ember_response r = infer_ok(it_daemon.socket, body);
        ember_response_free(&r);
    }
    free(body);
    ck_assert_double_eq(it_metric(it_daemon.socket, COMPUTED), 2);
    ck_assert_double_eq(it_metric(it_daemon.socket, HITS), -1);
    ck_assert_double_eq(it_metric(it_daemon.socket, MISSES), -1);
}
END_TEST

START_TEST(key_follows_inputs_and_outputs)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    it_ref_load(&ref);
    start_cached(&d, dir, "{\"cache\": {\"entries\": 8}}");

    char *base = body_variant(&ref, 5, 0, 0, 0, NULL);
    char *one_value = body_variant(&ref, 5, 37, 1, 0, NULL);
    char *binary = body_variant(&ref, 5, 0, 0, 1, "bin");
    ember_response r = infer_ok(d.socket, base);
    ember_response_free(&r);
    r = infer_ok(d.socket, one_value);
    ember_response_free(&r);
    assert_counts(d.socket, 0, 2, 2);

    /* Asked for as binary data: another answer, kept and found under its own key. */
    ember_response b1 = infer_ok(d.socket, binary);
    assert_counts(d.socket, 0, 3, 3);
    ember_response b2 = infer_ok(d.socket, binary);
    assert_counts(d.socket, 1, 3, 3);
    ck_assert_uint_eq(b1.body_len, b2.body_len);
    ck_assert(memcmp(b1.body, b2.body, b1.body_len) == 0);
    const char *h1 = ember_response_header(&b1, "Inference-Header-Content-Length");
    const char *h2 = ember_response_header(&b2, "Inference-Header-Content-Length");
    ck_assert_msg(h1 && h2 && strcmp(h1, h2) == 0, "%s / %s", h1, h2);
    ck_assert_uint_eq(b2.body_len, (size_t)atoi(h2) + DIGITS_OUT * sizeof(float));

    r = infer_ok(d.socket, one_value);
    ember_response_free(&r);
    assert_counts(d.socket, 2, 3, 3);

    free(base);
    free(one_value);
    free(binary);
    ember_response_free(&b1);
    ember_response_free(&b2);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(least_recently_used_leaves)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    it_ref_load(&ref);
    start_cached(&d, dir, "{\"cache\": {\"entries\": 2}}");
    char *body[3];
    for (int i = 0; i < 3; i++)
        body[i] = it_infer_body(&ref, i, 1, NULL);

    /* 0 and 1 kept; 0 used again (1 is now the oldest); 2 pushes 1 out. */
    static const int order[] = {0, 1, 0, 2, 0, 2, 1};
    static const double hits[] = {0, 0, 1, 1, 2, 3, 3};
    for (int i = 0; i < 7; i++) {
        ember_response r = infer_ok(d.socket, body[order[i]]);
        it_assert_infer_ok(&r, &ref, order[i], 1, NULL);
        ember_response_free(&r);
        ck_assert_msg(it_metric(d.socket, HITS) == hits[i], "step %d: %g hits, want %g", i,
                      it_metric(d.socket, HITS), hits[i]);
    }
    assert_counts(d.socket, 3, 4, 4);
    for (int i = 0; i < 3; i++)
        free(body[i]);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(byte_bound_evicts)
{
    enum { N = 5 };
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    ember_response r;
    it_ref_load(&ref);
    /* Room for 100 answers by count but only 1024 bytes: five one-row answers of about 250
     * bytes each cannot all stay, the newest always can. */
    start_cached(&d, dir, "{\"cache\": {\"entries\": 100, \"max_bytes\": 1024}}");
    char *body[N];
    for (int i = 0; i < N; i++) {
        body[i] = it_infer_body(&ref, i, 1, NULL);
        r = infer_ok(d.socket, body[i]);
        ck_assert_uint_gt(r.body_len, 1024 / 5);
        ember_response_free(&r);
    }
    assert_counts(d.socket, 0, N, N);
    r = infer_ok(d.socket, body[N - 1]);
    ember_response_free(&r);
    assert_counts(d.socket, 1, N, N);
    r = infer_ok(d.socket, body[0]);
    ember_response_free(&r);
    assert_counts(d.socket, 1, N + 1, N + 1);
    for (int i = 0; i < N; i++)
        free(body[i]);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(big_answer_not_kept)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    it_ref_load(&ref);
    /* One row's answer is about 250 bytes of JSON. */
    start_cached(&d, dir, "{\"cache\": {\"entries\": 4, \"max_answer_bytes\": 100}}");
    char *body = it_infer_body(&ref, 0, 1, NULL);
    for (int i = 0; i < 2; i++) {
        ember_response r = infer_ok(d.socket, body);
        ck_assert_uint_gt(r.body_len, 100);
        ember_response_free(&r);
    }
    assert_counts(d.socket, 0, 2, 2);
    free(body);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(reload_starts_empty)
{
    emberd_proc d;
    digits_ref ref;
    char dir[IT_DIR_MAX];
    ember_response r;
    it_ref_load(&ref);
    start_cached(&d, dir, "{\"cache\": {\"entries\": 4}}");
    char *body = it_infer_body(&ref, 7, 1, NULL);
    for (int i = 0; i < 2; i++) {
        r = infer_ok(d.socket, body);
        ember_response_free(&r);
    }
    assert_counts(d.socket, 1, 1, 1);

    ember_client *c = it_client(d.socket);
    it_request(c, "POST", "/v2/repository/models/digits/load", "", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ember_response_free(&r);
    ember_client_close(c);
    r = infer_ok(d.socket, body);
    it_assert_infer_ok(&r, &ref, 7, 1, NULL);
    ember_response_free(&r);
    assert_counts(d.socket, 1, 2, 2);
    r = infer_ok(d.socket, body);
    ember_response_free(&r);
    assert_counts(d.socket, 2, 2, 2);
    free(body);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* config.json text and a word the load's error must contain. */
static const struct {
    const char *config, *want;
} bad_configs[] = {
    {"{\"cache\": 100}", "'cache' wants an object"},
    {"{\"cache\": {}}", "'cache.entries' is required"},
    {"{\"cache\": {\"entries\": 0}}", "'cache.entries' wants an integer from 1 to 65536"},
    {"{\"cache\": {\"entries\": 65537}}", "'cache.entries' wants an integer from 1 to 65536"},
    {"{\"cache\": {\"entries\": 2.5}}", "'cache.entries'"},
    {"{\"cache\": {\"entries\": 4, \"max_bytes\": 1023}}", "'cache.max_bytes'"},
    {"{\"cache\": {\"entries\": 4, \"max_bytes\": 2048, \"max_answer_bytes\": 4096}}",
     "'cache.max_answer_bytes' (4096) exceeds cache.max_bytes (2048)"},
    {"{\"cache\": {\"entries\": 4, \"size\": 1}}", "unknown key 'cache.size'"},
    {"{\"max_batch\": 0}", "'max_batch' wants an integer from 1 to 1024"},
    {"{\"max_batch\": 1025}", "'max_batch' wants an integer from 1 to 1024"},
    {"{\"max_batch\": \"8\"}", "'max_batch'"},
    {"{\"max_batch\": 8, \"max_batch_delay_us\": -1}",
     "'max_batch_delay_us' wants an integer from 0 to 1000000"},
    {"{\"max_batch_delay_us\": 1000001}", "'max_batch_delay_us'"},
    {"{\"max_threads\": 0}", "'max_threads' wants an integer from 1 to 64"},
    {"{\"max_threads\": 65}", "'max_threads' wants an integer from 1 to 64"},
};

START_TEST(bad_config_named)
{
    emberd_proc d;
    char dir[IT_DIR_MAX];
    ember_response r;
    start_cached(&d, dir, "{}");
    ember_client *c = it_client(d.socket);
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        it_repo_put_config(dir, "digits", bad_configs[i].config);
        it_request(c, "POST", "/v2/repository/models/digits/load", "", &r);
        it_assert_error(&r, 400, bad_configs[i].config);
        ck_assert_msg(strstr(r.body, bad_configs[i].want) && strstr(r.body, "config.json"),
                      "%s: %s", bad_configs[i].config, r.body);
        ember_response_free(&r);
    }
    ember_client_close(c);
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_cache(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = it_tcase("cache", 0);
    tcase_add_test(tc, hit_answers_without_compute);
    tcase_add_test(tc, key_follows_inputs_and_outputs);
    tcase_add_test(tc, least_recently_used_leaves);
    tcase_add_test(tc, byte_bound_evicts);
    tcase_add_test(tc, big_answer_not_kept);
    tcase_add_test(tc, reload_starts_empty);
    tcase_add_test(tc, bad_config_named);
    suite_add_tcase(s, tc);
    TCase *td = it_tcase("cache-default", 1);
    tcase_add_test(td, off_by_default);
    suite_add_tcase(s, td);
    return s;
}
