/*
 * Inference through emberd against the reference: the 16 samples of tests/data/digits_ref.json
 * as one batch and one by one, through the versioned path, with an explicit output list, and
 * the shipped models/digits/sample.json request.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

START_TEST(batch_of_16)
{
    digits_ref ref;
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;

    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, REF_N, "batch-16");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 0, REF_N, "batch-16");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

START_TEST(one_by_one)
{
    digits_ref ref;
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;

    it_ref_load(&ref);
    for (int i = 0; i < REF_N; i++) {
        char id[32];
        snprintf(id, sizeof id, "sample-%d", i);
        char *body = it_infer_body(&ref, i, 1, id);
        it_request(c, "POST", "/v2/models/digits/infer", body, &r);
        it_assert_infer_ok(&r, &ref, i, 1, id);
        ember_response_free(&r);
        free(body);
    }
    ember_client_close(c);
}
END_TEST

START_TEST(versioned_path)
{
    digits_ref ref;
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;

    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 3, 5, NULL);
    it_request(c, "POST", "/v2/models/digits/versions/1/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 3, 5, NULL);
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

START_TEST(requested_output)
{
    digits_ref ref;
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;

    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, 2, "with-outputs");
    /* Insert an outputs list before the final '}'. */
    size_t len = strlen(body);
    const char *extra = ",\"outputs\":[{\"name\":\"probabilities\"}]}";
    char *grown = realloc(body, len + strlen(extra) + 1);
    ck_assert(grown != NULL);
    body = grown;
    strcpy(body + len - 1, extra);

    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 0, 2, "with-outputs");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

START_TEST(shipped_sample)
{
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;
    char *body = it_read_file(it_source_path("models/digits/sample.json"), NULL);
    char *expected = it_read_file(it_source_path("models/digits/sample.expected"), NULL);
    int want = atoi(expected);
    double p[DIGITS_OUT];

    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ck_assert_msg(r.status == 200, "sample.json: HTTP %d: %.300s", r.status, r.body);
    cJSON *j = it_json(&r);
    const cJSON *out = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    ck_assert_int_eq(it_flatten(cJSON_GetObjectItemCaseSensitive(out, "data"), p, DIGITS_OUT),
                     DIGITS_OUT);
    int best = 0;
    for (int k = 1; k < DIGITS_OUT; k++)
        if (p[k] > p[best])
            best = k;
    ck_assert_msg(best == want, "sample.json classified as %d, sample.expected says %d", best,
                  want);
    cJSON_Delete(j);
    ember_response_free(&r);
    free(body);
    free(expected);
    ember_client_close(c);
}
END_TEST

Suite *it_suite_infer(void)
{
    Suite *s = suite_create("infer");
    TCase *tc = it_tcase("infer", 1);

    tcase_add_test(tc, batch_of_16);
    tcase_add_test(tc, one_by_one);
    tcase_add_test(tc, versioned_path);
    tcase_add_test(tc, requested_output);
    tcase_add_test(tc, shipped_sample);
    suite_add_tcase(s, tc);
    return s;
}
