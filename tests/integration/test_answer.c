/*
 * libember-client's answer reader (ember/answer.h) against emberd serving the checkout's
 * models/ repository: the digits model's classification strings are read from JSON and
 * from binary (length-prefixed) answers alike, each split into score, index and label and
 * checked against the same request's numeric probabilities; numeric outputs read from
 * binary equal those read from JSON; the id comes back; an error answer gives emberd's
 * message. Answers that are malformed in every way the reader checks are refused with
 * EMBER_EFORMAT (or EMBER_EUNSUPPORTED) and a sentence naming the output.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/answer.h>

#include "harness.h"

#define TOP 3

/* An answer to sample.json with its "outputs" set to outputs (a JSON array). */
static void ask_sample(ember_client *c, const char *outputs, ember_response *r)
{
    char *sample = it_read_file(it_source_path("models/digits/sample.json"), NULL);
    cJSON *body = cJSON_Parse(sample);
    ck_assert_ptr_nonnull(body);
    cJSON_AddItemToObject(body, "outputs", cJSON_Parse(outputs));
    cJSON_AddStringToObject(body, "id", "sample");
    char *text = cJSON_PrintUnformatted(body);
    it_request(c, "POST", "/v2/models/digits/infer", text, r);
    ck_assert_msg(r->status == 200, "%d %s", r->status, r->body);
    free(text);
    cJSON_Delete(body);
    free(sample);
}

static void parse_ok(const ember_response *r, ember_answer *a)
{
    ember_err err;
    ck_assert_msg(ember_answer_parse(r, a, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(a->model_name, "digits");
    ck_assert_int_eq(a->noutputs, 1);
}

/* The TOP classes of output o (shape [1, TOP]) are the TOP best of probs, best first, with
 * their scores to the 6 digits emberd prints and the labels of models/digits/labels.txt
 * (line i is "i"). */
static void check_classes(const ember_output *o, const double *probs)
{
    ember_err err;
    ck_assert_str_eq(o->datatype, "BYTES");
    ck_assert_int_eq(o->rank, 2);
    ck_assert_int_eq(o->shape[0], 1);
    ck_assert_int_eq(o->shape[1], TOP);
    double prev = INFINITY;
    for (size_t i = 0; i < TOP; i++) {
        ember_class k;
        ck_assert_msg(ember_output_class(o, i, &k, &err) == 0, "%s", err.msg);
        ck_assert(k.index >= 0 && k.index < DIGITS_OUT);
        char label[8];
        snprintf(label, sizeof label, "%lld", (long long)k.index);
        ck_assert_uint_eq(k.label_len, strlen(label));
        ck_assert(memcmp(k.label, label, k.label_len) == 0);
        ck_assert_msg(fabs(k.score - probs[k.index]) <= 1e-5 * probs[k.index], "%s: want %.8g",
                      ember_output_string(o, i, NULL), probs[k.index]);
        ck_assert(probs[k.index] <= prev);
        prev = probs[k.index];
        size_t better = 0; /* the i-th best: nothing better was left out */
        for (int j = 0; j < DIGITS_OUT; j++)
            better += probs[j] > probs[k.index];
        ck_assert_uint_eq(better, i);
    }
}

START_TEST(classification_strings_read)
{
    emberd_proc d;
    ember_response r;
    ember_answer num, num_bin, cls, cls_bin, png_cls;
    ember_err err;
    it_shipped_start(&d);
    ember_client *c = it_client(d.socket);

    /* The probabilities, as JSON numbers and as binary FP32: the same floats. */
    ask_sample(c, "[{\"name\":\"probabilities\"}]", &r);
    parse_ok(&r, &num);
    ember_response_free(&r);
    ck_assert_str_eq(num.id, "sample");
    const ember_output *p = ember_answer_output(&num, "probabilities");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->datatype, "FP32");
    ck_assert_uint_eq(p->count, DIGITS_OUT);
    ck_assert_ptr_null(ember_output_string(p, 0, NULL));
    ck_assert_ptr_null(ember_answer_output(&num, "logits"));
    ask_sample(c, "[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}}]", &r);
    ck_assert_ptr_nonnull(ember_response_header(&r, "Inference-Header-Content-Length"));
    parse_ok(&r, &num_bin);
    ember_response_free(&r);
    for (int i = 0; i < DIGITS_OUT; i++)
        ck_assert_float_eq((float)num_bin.outputs[0].values[i], (float)p->values[i]);

    /* The top TOP as JSON strings, and as binary length-prefixed strings: the same bytes. */
    ask_sample(c, "[{\"name\":\"probabilities\",\"parameters\":{\"classification\":3}}]", &r);
    parse_ok(&r, &cls);
    ember_response_free(&r);
    check_classes(&cls.outputs[0], p->values);
    ask_sample(c,
               "[{\"name\":\"probabilities\",\"parameters\":{\"classification\":3,"
               "\"binary_data\":true}}]",
               &r);
    ck_assert_ptr_nonnull(ember_response_header(&r, "Inference-Header-Content-Length"));
    parse_ok(&r, &cls_bin);
    ember_response_free(&r);
    for (size_t i = 0; i < TOP; i++) {
        size_t a, b;
        const char *sa = ember_output_string(&cls.outputs[0], i, &a);
        const char *sb = ember_output_string(&cls_bin.outputs[0], i, &b);
        ck_assert_uint_eq(a, b);
        ck_assert(memcmp(sa, sb, a) == 0);
    }

    /* The shipped sample.png with ?classification and ?id: its digit first. */
    size_t len;
    char *png = it_read_file(it_source_path("models/digits/sample.png"), &len);
    char *expected = it_read_file(it_source_path("models/digits/sample.expected"), NULL);
    ember_header h[] = {{"Content-Type", "image/png"}};
    ck_assert(ember_client_request(c, "POST", "/v2/models/digits/infer?classification=3&id=png", h,
                                   1, png, len, &r, &err) == 0);
    parse_ok(&r, &png_cls);
    ember_response_free(&r);
    ck_assert_str_eq(png_cls.id, "png");
    ember_class top;
    ck_assert(ember_output_class(&png_cls.outputs[0], 0, &top, &err) == 0);
    ck_assert_int_eq(top.index, atoi(expected));
    ck_assert_msg(top.score > 0.99, "%g", top.score);

    /* An error answer: emberd's words, nothing decoded. */
    it_request(c, "POST", "/v2/models/nosuch/infer", "{}", &r);
    ember_answer bad;
    ck_assert_int_eq(ember_answer_parse(&r, &bad, &err), EMBER_EINVAL);
    ck_assert_msg(strstr(err.msg, "emberd answered 404: unknown model 'nosuch'"), "%s", err.msg);
    ck_assert_int_eq(bad.noutputs, 0);
    ember_response_free(&r);

    ember_answer_free(&num);
    ember_answer_free(&num_bin);
    ember_answer_free(&cls);
    ember_answer_free(&cls_bin);
    ember_answer_free(&png_cls);
    free(expected);
    free(png);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* An answer with body (JSON then binary bytes, len in all) and, when json_len is not 0,
 * Inference-Header-Content-Length: json_len. */
static int parse_made(const char *body, size_t len, size_t json_len, ember_answer *a,
                      ember_err *err)
{
    char hl[24];
    ember_response r = {.status = 200, .body = (char *)body, .body_len = len};
    if (json_len) {
        snprintf(hl, sizeof hl, "%zu", json_len);
        r.headers[0] = (ember_header){"Inference-Header-Content-Length", hl};
        r.nheaders = 1;
    }
    return ember_answer_parse(&r, a, err);
}

#define HEAD "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"y\",\"datatype\":"
#define BIN(dt, shape, size)                                                                       \
    HEAD dt ",\"shape\":" shape ",\"parameters\":{\"binary_data_size\":" size "}}]}"

START_TEST(malformed_answers_refused)
{
    static const struct {
        const char *json, *bin; /* bin: bytes after the JSON (length given below) */
        size_t bin_len;
        int code;
        const char *words;
    } bad[] = {
        {HEAD "\"BYTES\",\"shape\":[2],\"data\":[\"a\"]}]}", "", 0, EMBER_EFORMAT,
         "\"data\" holds 1 elements, its shape 2"},
        {HEAD "\"BYTES\",\"shape\":[1],\"data\":[\"a\",\"b\"]}]}", "", 0, EMBER_EFORMAT,
         "more than its shape's 1"},
        {HEAD "\"BYTES\",\"shape\":[1],\"data\":[3]}]}", "", 0, EMBER_EFORMAT, "not a string"},
        {HEAD "\"FP32\",\"shape\":[1],\"data\":[\"3\"]}]}", "", 0, EMBER_EFORMAT, "not a number"},
        {HEAD "\"FP16\",\"shape\":[1],\"data\":[3]}]}", "", 0, EMBER_EUNSUPPORTED,
         "unknown datatype 'FP16'"},
        {HEAD "\"FP32\",\"shape\":[1,-1],\"data\":[3]}]}", "", 0, EMBER_EFORMAT, "\"shape\""},
        {HEAD "\"FP32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data\":[3]}]}", "", 0, EMBER_EFORMAT,
         "up to 8 sizes"},
        {HEAD "\"FP32\",\"shape\":[40,40],\"data\":[]}]}", "", 0, EMBER_EFORMAT,
         "more elements than the answer has bytes"},
        {HEAD "\"FP32\",\"shape\":[1]}]}", "", 0, EMBER_EFORMAT, "neither \"data\" nor"},
        {"{\"outputs\":[]}", "", 0, EMBER_EFORMAT, "\"model_name\" is missing"},
        {"{\"model_name\":\"m\"}", "", 0, EMBER_EFORMAT, "no \"outputs\" array"},
        {"[1]", "", 0, EMBER_EFORMAT, "not a JSON object"},
        /* Binary: a length prefix past the end, a section cut short or too long, leftovers. */
        {BIN("\"BYTES\"", "[1]", "8"), "\x05\0\0\0abcd", 8, EMBER_EFORMAT,
         "element 0 claims 5 bytes, 4 remain"},
        {BIN("\"BYTES\"", "[2]", "6"), "\x02\0\0\0ab", 6, EMBER_EFORMAT,
         "ends before element 1's length"},
        {BIN("\"BYTES\"", "[1]", "7"), "\x02\0\0\0abc", 7, EMBER_EFORMAT,
         "1 bytes of binary data after its 1 elements"},
        {BIN("\"BYTES\"", "[1]", "9"), "\x02\0\0\0ab", 6, EMBER_EFORMAT, "within the 6 bytes left"},
        {BIN("\"FP32\"", "[2]", "4"), "\0\0\x80\x3f", 4, EMBER_EFORMAT,
         "binary_data_size 4 is not 2 elements of 4 bytes"},
        {BIN("\"FP32\"", "[1]", "4"), "\0\0\x80\x3f\0", 5, EMBER_EFORMAT,
         "1 bytes after the JSON belong to no output"},
    };
    char body[512];
    ember_err err;
    ember_answer a;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t jl = strlen(bad[i].json);
        memcpy(body, bad[i].json, jl);
        memcpy(body + jl, bad[i].bin, bad[i].bin_len);
        int rc =
            parse_made(body, jl + bad[i].bin_len, strstr(bad[i].json, "binary") ? jl : 0, &a, &err);
        ck_assert_msg(rc == bad[i].code && strstr(err.msg, bad[i].words),
                      "%zu: rc %d \"%s\", want %d \"%s\"", i, rc, err.msg, bad[i].code,
                      bad[i].words);
        ck_assert_int_eq(a.noutputs, 0);
    }
    /* A header past the body. */
    ck_assert_int_eq(parse_made("{}", 2, 3, &a, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "Inference-Header-Content-Length '3'"), "%s", err.msg);

    /* What is well formed reads back: signed and unsigned binary integers, an empty string,
     * a string with a NUL in it, nested JSON data and booleans. */
    static const char ok_json[] =
        "{\"model_name\":\"m\",\"outputs\":["
        "{\"name\":\"i8\",\"datatype\":\"INT8\",\"shape\":[2],"
        "\"parameters\":{\"binary_data_size\":2}},"
        "{\"name\":\"s\",\"datatype\":\"BYTES\",\"shape\":[2],"
        "\"parameters\":{\"binary_data_size\":11}},"
        "{\"name\":\"b\",\"datatype\":\"BOOL\",\"shape\":[2,1],\"data\":[[true],[false]]},"
        "{\"name\":\"i64\",\"datatype\":\"INT64\",\"shape\":[1],"
        "\"parameters\":{\"binary_data_size\":8}}]}";
    static const char ok_bin[] = "\xff\x7f"
                                 "\0\0\0\0"
                                 "\x03\0\0\0a\0b"
                                 "\xfe\xff\xff\xff\xff\xff\xff\xff";
    size_t jl = strlen(ok_json), bl = sizeof ok_bin - 1;
    memcpy(body, ok_json, jl);
    memcpy(body + jl, ok_bin, bl);
    ck_assert_msg(parse_made(body, jl + bl, jl, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a.noutputs, 4);
    ck_assert_double_eq(a.outputs[0].values[0], -1);
    ck_assert_double_eq(a.outputs[0].values[1], 127);
    size_t n;
    ck_assert_str_eq(ember_output_string(&a.outputs[1], 0, &n), "");
    ck_assert_uint_eq(n, 0);
    ck_assert(memcmp(ember_output_string(&a.outputs[1], 1, &n), "a\0b", 3) == 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_ptr_null(ember_output_string(&a.outputs[1], 2, &n));
    ck_assert_double_eq(a.outputs[2].values[0], 1);
    ck_assert_double_eq(a.outputs[2].values[1], 0);
    ck_assert_double_eq(a.outputs[3].values[0], -2);
    ember_class k;
    ck_assert_int_eq(ember_output_class(&a.outputs[1], 1, &k, &err), EMBER_EFORMAT);
    ck_assert_int_eq(ember_output_class(&a.outputs[0], 0, &k, &err), EMBER_EINVAL);
    ember_answer_free(&a);

    /* Classification strings with and without a label; a label may hold ':'. */
    static const char cls[] = HEAD "\"BYTES\",\"shape\":[4],\"data\":[\"0.5:7:seven\","
                                   "\"0.25:3\",\"1e-06:12:a:b\",\"0.5:x:bad\"]}]}";
    ck_assert_msg(parse_made(cls, strlen(cls), 0, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ember_output_class(&a.outputs[0], 0, &k, &err), 0);
    ck_assert(k.score == 0.5 && k.index == 7 && k.label_len == 5 && !memcmp(k.label, "seven", 5));
    ck_assert_int_eq(ember_output_class(&a.outputs[0], 1, &k, &err), 0);
    ck_assert(k.score == 0.25 && k.index == 3 && k.label_len == 0);
    ck_assert_int_eq(ember_output_class(&a.outputs[0], 2, &k, &err), 0);
    ck_assert(k.index == 12 && k.label_len == 3 && !memcmp(k.label, "a:b", 3));
    ck_assert_int_eq(ember_output_class(&a.outputs[0], 3, &k, &err), EMBER_EFORMAT);
    ck_assert_msg(strstr(err.msg, "not \"score:index[:label]\": 0.5:x:bad"), "%s", err.msg);
    ember_answer_free(&a);
}
END_TEST

Suite *it_suite_answer(void)
{
    Suite *s = suite_create("answer");
    TCase *tc = it_tcase("answer", 0);
    tcase_add_test(tc, classification_strings_read);
    tcase_add_test(tc, malformed_answers_refused);
    suite_add_tcase(s, tc);
    return s;
}
