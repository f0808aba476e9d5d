/*
 * The binary tensor data extension through emberd: a request carrying 1 MiB of FP32 input
 * (4096 digits rows) as raw bytes after Inference-Header-Content-Length bytes of JSON,
 * answered as JSON and as binary output (binary_data_output, and per output binary_data);
 * every probability is checked against the reference. Malformed framings are 400.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BIN_ROWS 4096 /* 4096 x 64 FP32 = 1 MiB */
#define BIN_BYTES ((size_t)BIN_ROWS * DIGITS_IN * sizeof(float))

/* The JSON header json followed by the BIN_ROWS rows as FP32 (row r is sample r % REF_N);
 * *hlen gets the JSON's length, *len the body's. */
static char *binary_body(const digits_ref *ref, const char *json, size_t *hlen, size_t *len)
{
    *hlen = strlen(json);
    *len = *hlen + BIN_BYTES;
    char *body = malloc(*len);
    ck_assert(body != NULL);
    memcpy(body, json, *hlen);
    float *f = (float *)(void *)(body + *hlen);
    for (int r = 0; r < BIN_ROWS; r++)
        for (int k = 0; k < DIGITS_IN; k++)
            memcpy(&f[r * DIGITS_IN + k], &(float){(float)ref->inputs[r % REF_N][k]}, 4);
    return body;
}

static void post_binary(ember_client *c, const char *body, size_t len, size_t hlen,
                        ember_response *r)
{
    char h[32];
    ember_err err;
    snprintf(h, sizeof h, "%zu", hlen);
    ember_header headers[] = {{"Inference-Header-Content-Length", h},
                              {"Content-Type", "application/octet-stream"}};
    ck_assert_msg(ember_client_request(c, "POST", "/v2/models/digits/infer", headers, 2, body, len,
                                       r, &err) == 0,
                  "%s", err.msg);
}

static const char in_fmt[] =
    "{\"id\":\"bin\",\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\","
    "\"shape\":[%d,64],\"parameters\":{\"binary_data_size\":%zu}}]%s}";

START_TEST(one_mib_in_json_out)
{
    digits_ref ref;
    ember_response r;
    size_t hlen, len;
    char fmt[512];

    it_ref_load(&ref);
    snprintf(fmt, sizeof fmt, in_fmt, BIN_ROWS, BIN_BYTES, "");
    char *body = binary_body(&ref, fmt, &hlen, &len);
    ck_assert_uint_eq(len - hlen, 1024 * 1024);
    ember_client *c = it_client(it_daemon.socket);
    post_binary(c, body, len, hlen, &r);
    it_assert_infer_ok(&r, &ref, 0, BIN_ROWS, "bin");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

/* Binary output, asked for by the request's binary_data_output or the output's binary_data. */
static const char *const out_params[] = {
    ",\"parameters\":{\"binary_data_output\":true}",
    ",\"outputs\":[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}}]",
};

START_TEST(one_mib_in_binary_out)
{
    digits_ref ref;
    ember_response r;
    size_t hlen, len;
    char fmt[512];

    it_ref_load(&ref);
    snprintf(fmt, sizeof fmt, in_fmt, BIN_ROWS, BIN_BYTES, out_params[_i]);
    char *body = binary_body(&ref, fmt, &hlen, &len);
    ember_client *c = it_client(it_daemon.socket);
    post_binary(c, body, len, hlen, &r);
    ck_assert_msg(r.status == 200, "%d %.300s", r.status, r.body);
    const char *ih = ember_response_header(&r, "Inference-Header-Content-Length");
    ck_assert_msg(ih != NULL, "no Inference-Header-Content-Length in the answer");
    size_t rh = strtoul(ih, NULL, 10);
    const size_t out_bytes = (size_t)BIN_ROWS * DIGITS_OUT * sizeof(float);
    ck_assert_uint_eq(r.body_len, rh + out_bytes);
    cJSON *j = cJSON_ParseWithLength(r.body, rh);
    ck_assert_msg(j != NULL, "the answer's header is not JSON: %.*s", (int)rh, r.body);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "parameters"), "binary_data_size");
    ck_assert(cJSON_IsNumber(size) && (size_t)size->valuedouble == out_bytes);
    ck_assert(cJSON_GetObjectItemCaseSensitive(o, "data") == NULL);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "id")->valuestring, "bin");
    cJSON_Delete(j);
    for (int row = 0; row < BIN_ROWS; row++)
        for (int k = 0; k < DIGITS_OUT; k++) {
            float got;
            memcpy(&got, r.body + rh + ((size_t)row * DIGITS_OUT + k) * 4, 4);
            double want = ref.probs[row % REF_N][k];
            ck_assert_msg(got - want <= DIGITS_TOL && want - got <= DIGITS_TOL,
                          "row %d class %d: %g, want %g", row, k, got, want);
        }
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}
END_TEST

START_TEST(bad_framing)
{
    digits_ref ref;
    ember_response r;
    size_t hlen, len;
    char fmt[512];

    it_ref_load(&ref);
    ember_client *c = it_client(it_daemon.socket);

    /* binary_data_size that does not match the shape */
    snprintf(fmt, sizeof fmt, in_fmt, BIN_ROWS, BIN_BYTES - 4, "");
    char *body = binary_body(&ref, fmt, &hlen, &len);
    post_binary(c, body, len, hlen, &r);
    it_assert_error(&r, 400, "binary_data_size off by 4");
    ember_response_free(&r);
    /* bytes left over after the inputs */
    post_binary(c, body, len - 4, hlen, &r);
    it_assert_error(&r, 400, "4 bytes short");
    ember_response_free(&r);
    free(body);

    snprintf(fmt, sizeof fmt, in_fmt, BIN_ROWS, BIN_BYTES, "");
    body = binary_body(&ref, fmt, &hlen, &len);
    /* the header length past the body, not a number, and cutting the JSON */
    post_binary(c, body, len, len + 1, &r);
    it_assert_error(&r, 400, "Inference-Header-Content-Length past the body");
    ember_response_free(&r);
    post_binary(c, body, len, hlen - 1, &r);
    it_assert_error(&r, 400, "a header length that cuts the JSON");
    ember_response_free(&r);
    post_binary(c, body, len, hlen + 4, &r);
    it_assert_error(&r, 400, "a header length that swallows binary bytes");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
    it_assert_healthy(it_daemon.socket);
}
END_TEST

Suite *it_suite_binary(void)
{
    Suite *s = suite_create("binary");
    TCase *tc = it_tcase("binary", 1);
    tcase_add_test(tc, one_mib_in_json_out);
    tcase_add_loop_test(tc, one_mib_in_binary_out, 0, 2);
    tcase_add_test(tc, bad_framing);
    suite_add_tcase(s, tc);
    return s;
}
