/*
 * Unit tests for libember-proto's KServe v2 JSON codec: decoding infer requests against a
 * model's inputs (every datatype, flat and nested data, output selection, and every error
 * path with its message), encoding responses and metadata, and round trips through
 * encode/decode that must be bit-exact, non-finite floats included; the binary tensor data
 * extension both ways; and the scheduling-parameters peek the daemon runs on its loop.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

/* A model with a dynamic batch, like models/digits, plus inputs of every other dtype. */
static const ember_io_info digits_in[] = {
    {"image", EMBER_DT_FLOAT, 2, {-1, 4}},
};
static const ember_io_info digits_out[] = {
    {"probabilities", EMBER_DT_FLOAT, 2, {-1, 3}},
    {"label", EMBER_DT_INT64, 1, {-1}},
};
static const ember_io_info typed_in[] = {
    {"f", EMBER_DT_FLOAT, 1, {2}}, {"i64", EMBER_DT_INT64, 1, {2}}, {"i32", EMBER_DT_INT32, 1, {2}},
    {"i8", EMBER_DT_INT8, 1, {2}}, {"u8", EMBER_DT_UINT8, 1, {2}},  {"b", EMBER_DT_BOOL, 1, {2}},
    {"s", EMBER_DT_FLOAT, 0, {0}},
};

static int decode_digits(const char *json, ember_infer_request *req, ember_err *err)
{
    return ember_kserve_decode_request(json, strlen(json), digits_in, 1, digits_out, 2, req, err);
}

START_TEST(test_decode_flat)
{
    ember_infer_request req;
    ember_err err = {{0}};
    const char *j = "{\"id\":\"r1\",\"inputs\":[{\"name\":\"image\",\"shape\":[2,4],"
                    "\"datatype\":\"FP32\",\"data\":[0,1,2,3,4.5,-5,6e2,0.125]}]}";
    ck_assert_int_eq(decode_digits(j, &req, &err), 0);
    ck_assert_str_eq(req.id, "r1");
    ck_assert_int_eq(req.ninputs, 1);
    ember_tensor *t = &req.inputs[0];
    ck_assert_int_eq(t->dtype, EMBER_DT_FLOAT);
    ck_assert_int_eq(t->rank, 2);
    ck_assert_int_eq(t->dims[0], 2);
    ck_assert_int_eq(t->dims[1], 4);
    const float want[] = {0, 1, 2, 3, 4.5f, -5, 600, 0.125f};
    ck_assert_mem_eq(t->data, want, sizeof want);
    ck_assert_int_eq(req.noutputs, 2);
    ck_assert_int_eq(req.outputs[0], 0);
    ck_assert_int_eq(req.outputs[1], 1);
    ember_infer_request_clear(&req);
    ck_assert_ptr_null(req.inputs);
}
END_TEST

START_TEST(test_decode_nested)
{
    ember_infer_request req;
    ember_err err = {{0}};
    const char *j = "{\"inputs\":[{\"name\":\"image\",\"shape\":[2,4],\"datatype\":\"FP32\","
                    "\"data\":[[0,1,2,3],[4,5,6,7]]}],\"outputs\":[{\"name\":\"label\"}]}";
    ck_assert_msg(decode_digits(j, &req, &err) == 0, "%s", err.msg);
    ck_assert_ptr_null(req.id);
    const float *f = req.inputs[0].data;
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(f[i], (float)i);
    ck_assert_int_eq(req.noutputs, 1);
    ck_assert_int_eq(req.outputs[0], 1);
    ember_infer_request_clear(&req);
}
END_TEST

START_TEST(test_decode_every_dtype)
{
    ember_infer_request req;
    ember_err err = {{0}};
    const char *j =
        "{\"inputs\":["
        "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]},"
        "{\"name\":\"f\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[\"NaN\",\"-Infinity\"]},"
        "{\"name\":\"i64\",\"shape\":[2],\"datatype\":\"INT64\","
        "\"data\":[-9007199254740992,9007199254740992]},"
        "{\"name\":\"i32\",\"shape\":[2],\"datatype\":\"INT32\",\"data\":[-2147483648,2147483647]},"
        "{\"name\":\"i8\",\"shape\":[2],\"datatype\":\"INT8\",\"data\":[-128,127]},"
        "{\"name\":\"u8\",\"shape\":[2],\"datatype\":\"UINT8\",\"data\":[0,255]},"
        "{\"name\":\"s\",\"shape\":[],\"datatype\":\"FP32\",\"data\":[2.5]}]}";
    ck_assert_msg(
        ember_kserve_decode_request(j, strlen(j), typed_in, 7, digits_out, 2, &req, &err) == 0,
        "%s", err.msg);
    /* Model order, not request order. */
    const float *f = req.inputs[0].data;
    ck_assert(isnan(f[0]));
    ck_assert(isinf(f[1]) && f[1] < 0);
    const int64_t *i64 = req.inputs[1].data;
    ck_assert_int_eq(i64[0], -9007199254740992LL);
    ck_assert_int_eq(i64[1], 9007199254740992LL);
    const int32_t *i32 = req.inputs[2].data;
    ck_assert_int_eq(i32[0], INT32_MIN);
    ck_assert_int_eq(i32[1], INT32_MAX);
    const int8_t *i8 = req.inputs[3].data;
    ck_assert_int_eq(i8[0], -128);
    ck_assert_int_eq(i8[1], 127);
    const uint8_t *u8 = req.inputs[4].data;
    ck_assert_uint_eq(u8[1], 255);
    const uint8_t *b = req.inputs[5].data;
    ck_assert_uint_eq(b[0], 1);
    ck_assert_uint_eq(b[1], 0);
    ck_assert_int_eq(req.inputs[6].rank, 0);
    ck_assert_float_eq(*(const float *)req.inputs[6].data, 2.5f);
    ember_infer_request_clear(&req);
}
END_TEST

/* Each bad request, the error code it must give, and a phrase its message must contain. */
static const struct bad_case {
    const char *json;
    int code;
    const char *phrase;
} bad_cases[] = {
    {"", EMBER_EINVAL, "not valid JSON"},
    {"{\"inputs\":[", EMBER_EINVAL, "not valid JSON"},
    {"{\"inputs\":[]} x", EMBER_EINVAL, "trailing data"},
    {"[1,2]", EMBER_EINVAL, "must be a JSON object"},
    {"{}", EMBER_EINVAL, "no \"inputs\""},
    {"{\"inputs\":{}}", EMBER_EINVAL, "\"inputs\" must be an array"},
    {"{\"inputs\":[]}", EMBER_ENOTFOUND, "missing input 'image'"},
    {"{\"inputs\":[5]}", EMBER_EINVAL, "\"inputs\"[0] must be an object"},
    {"{\"inputs\":[{\"shape\":[1,4]}]}", EMBER_EINVAL, "needs a string \"name\""},
    {"{\"inputs\":[{\"name\":\"img\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
     EMBER_ENOTFOUND, "unknown input 'img'"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]},"
     "{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
     EMBER_EINVAL, "input 'image' is given twice"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"data\":[1,2,3,4]}]}", EMBER_EINVAL,
     "no \"datatype\""},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":7,\"data\":[1,2,3,4]}]}",
     EMBER_EINVAL, "\"datatype\" must be a string"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP16\",\"data\":[1,2,3,4]}]}",
     EMBER_EINVAL, "unknown datatype 'FP16'"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"INT32\",\"data\":[1,2,3,4]}]"
     "}",
     EMBER_ESHAPE, "has datatype INT32, the model expects FP32"},
    {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}", EMBER_EINVAL,
     "no \"shape\""},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":4,\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
     EMBER_EINVAL, "\"shape\" must be an array"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,-4],\"datatype\":\"FP32\",\"data\":[1]}]}",
     EMBER_EINVAL, "shape[1] must be a non-negative integer"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1.5,4],\"datatype\":\"FP32\",\"data\":[1]}]}",
     EMBER_EINVAL, "shape[0] must be a non-negative integer"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,2,3,4,5,6,7,8,9],\"datatype\":\"FP32\","
     "\"data\":[1]}]}",
     EMBER_ESHAPE, "rank 9 exceeds the limit of 8"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
     EMBER_ESHAPE, "has rank 1, the model expects rank 2 [-1,4]"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,5],\"datatype\":\"FP32\","
     "\"data\":[1,2,3,4,5]}]}",
     EMBER_ESHAPE, "dim 1 is 5, the model expects 4"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[0,4],\"datatype\":\"FP32\",\"data\":[]}]}",
     EMBER_ESHAPE, "dim 0 is 0, must be at least 1"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
     EMBER_ESHAPE, "\"data\" has 3 elements, shape [1,4] needs 4"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,2,3,4,5]}]}",
     EMBER_ESHAPE, "\"data\" has 5 elements, shape [1,4] needs 4"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[[[1,2,3,4]]]}]}",
     EMBER_ESHAPE, "nested deeper than the shape's rank"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\"}]}", EMBER_EINVAL,
     "no \"data\""},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":\"abc\"}]}",
     EMBER_EINVAL, "\"data\" must be an array"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,\"2\",3,4]}]}",
     EMBER_EINVAL, "element 1 is a string other than"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,2,null,4]}]}",
     EMBER_EINVAL, "element 2 is null, not a number"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,2,3,{}]}]}",
     EMBER_EINVAL, "element 3 is an object, not a number"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[true,2,3,4]}]}",
     EMBER_EINVAL, "element 0 is a boolean, not a number"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,2,3,1e39]}]}",
     EMBER_EINVAL, "element 3 is out of range for FP32"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[16777217,4],\"datatype\":\"FP32\","
     "\"data\":[1]}]}",
     EMBER_ESHAPE, "holds more than the limit of 16777216 elements"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[4194305,4],\"datatype\":\"FP32\","
     "\"data\":[1]}]}",
     EMBER_ESHAPE, "holds more than the limit"},
    {"{\"id\":5,\"inputs\":[]}", EMBER_EINVAL, "\"id\" must be a string"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}],"
     "\"outputs\":{}}",
     EMBER_EINVAL, "\"outputs\" must be an array"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}],"
     "\"outputs\":[{\"name\":\"logits\"}]}",
     EMBER_ENOTFOUND, "unknown output 'logits'"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}],"
     "\"outputs\":[{\"name\":\"label\"},{\"name\":\"label\"}]}",
     EMBER_EINVAL, "output 'label' is requested twice"},
    {"{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}],"
     "\"outputs\":[\"label\"]}",
     EMBER_EINVAL, "\"outputs\"[0] must be an object"},
};

START_TEST(test_decode_errors)
{
    const struct bad_case *bc = &bad_cases[_i];
    ember_infer_request req;
    ember_err err = {{0}};
    int rc = decode_digits(bc->json, &req, &err);
    ck_assert_msg(rc == bc->code, "case %d (%s): rc %d, want %d: %s", _i, bc->json, rc, bc->code,
                  err.msg);
    ck_assert_msg(strstr(err.msg, bc->phrase), "case %d: message '%s' lacks '%s'", _i, err.msg,
                  bc->phrase);
    ck_assert_ptr_null(req.inputs);
    ck_assert_ptr_null(req.id);
}
END_TEST

/* FP32 data is converted in blocks of 64 elements: a leaf that is not a plain number, or a
 * number past FLT_MAX, anywhere in a block or in the tail after the last block, is read (or
 * refused, named by its index) exactly as element by element. */
START_TEST(test_decode_fp32_blocks)
{
    enum { N = 200 }; /* three blocks and a tail of 8 */
    static const struct {
        int at;
        const char *leaf, *phrase; /* phrase NULL: decodes */
    } cases[] = {
        {-1, NULL, NULL},
        {150, "1e39", "element 150 is out of range for FP32"},
        {64, "3.5e38", "element 64 is out of range for FP32"},
        {199, "null", "element 199 is null, not a number"},
        {63, "\"x\"", "element 63 is a string other than"},
        {130, "\"NaN\"", NULL},
        {131, "\"-Infinity\"", NULL},
        {0, "-3.4028234e38", NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char body[8192], text[N][32];
        int len = snprintf(body, sizeof body,
                           "{\"inputs\":[{\"name\":\"image\",\"shape\":[%d,4],\"datatype\":\"FP32\","
                           "\"data\":[",
                           N / 4);
        for (int i = 0; i < N; i++) {
            if (i == cases[c].at)
                snprintf(text[i], sizeof text[i], "%s", cases[c].leaf);
            else
                snprintf(text[i], sizeof text[i], "%.9g", (i - 97) / 7.3);
            len += snprintf(body + len, sizeof body - (size_t)len, "%s%s", i ? "," : "", text[i]);
        }
        snprintf(body + len, sizeof body - (size_t)len, "]}]}");
        ember_infer_request req;
        ember_err err = {{0}};
        int rc = decode_digits(body, &req, &err);
        if (cases[c].phrase) {
            ck_assert_msg(rc == EMBER_EINVAL, "case %zu: rc %d", c, rc);
            ck_assert_msg(strstr(err.msg, cases[c].phrase), "case %zu: message '%s' lacks '%s'", c,
                          err.msg, cases[c].phrase);
            continue;
        }
        ck_assert_msg(rc == 0, "case %zu: %s", c, err.msg);
        const float *f = req.inputs[0].data;
        for (int i = 0; i < N; i++) {
            float want = strcmp(text[i], "\"NaN\"") == 0          ? NAN
                         : strcmp(text[i], "\"-Infinity\"") == 0 ? -INFINITY
                                                                 : (float)strtod(text[i], NULL);
            ck_assert_msg(memcmp(&f[i], &want, sizeof want) == 0 || (isnan(want) && isnan(f[i])),
                          "case %zu: element %d is %.9g, want %.9g", c, i, f[i], want);
        }
        ember_infer_request_clear(&req);
    }
}
END_TEST

/* Integer range and integrality per dtype. */
static const struct int_case {
    const char *name, *datatype, *value, *phrase;
} int_cases[] = {
    {"i8", "INT8", "128", "out of range for INT8"},
    {"i8", "INT8", "-129", "out of range for INT8"},
    {"u8", "UINT8", "-1", "out of range for UINT8"},
    {"u8", "UINT8", "256", "out of range for UINT8"},
    {"i32", "INT32", "2147483648", "out of range for INT32"},
    {"i32", "INT32", "1.5", "is not an integer"},
    {"i64", "INT64", "9007199254740994", "out of range for INT64"},
    {"i64", "INT64", "-1e300", "out of range for INT64"},
    {"i64", "INT64", "\"1\"", "is a string, not a number"},
    {"b", "BOOL", "1", "is a number, not a boolean"},
};

START_TEST(test_decode_integer_errors)
{
    const struct int_case *ic = &int_cases[_i];
    char j[512];
    snprintf(j, sizeof j,
             "{\"inputs\":[{\"name\":\"%s\",\"shape\":[2],\"datatype\":\"%s\",\"data\":[%s,%s]}]}",
             ic->name, ic->datatype, strcmp(ic->datatype, "BOOL") ? "0" : "true", ic->value);
    ember_infer_request req;
    ember_err err = {{0}};
    /* Only the one input matters: the value error comes before "missing input". */
    int rc = ember_kserve_decode_request(j, strlen(j), typed_in, 7, digits_out, 2, &req, &err);
    ck_assert_msg(rc == EMBER_EINVAL, "case %d: rc %d: %s", _i, rc, err.msg);
    ck_assert_msg(strstr(err.msg, ic->phrase) && strstr(err.msg, "element 1"),
                  "case %d: message '%s' lacks '%s'", _i, err.msg, ic->phrase);
    char want[64];
    snprintf(want, sizeof want, "input '%s'", ic->name);
    ck_assert_ptr_nonnull(strstr(err.msg, want));
}
END_TEST

/* Floats that must survive encode then decode bit for bit. */
static const float round_floats[] = {
    0.0f,
    -0.0f,
    1.0f,
    -1.0f,
    0.1f,
    1.0f / 3.0f,
    3.14159274f,
    16777217.0f,
    1e-45f,
    1.17549435e-38f,
    3.40282347e+38f,
    -3.40282347e+38f,
    123456.789f,
    2.5e-20f,
};

static int float_same(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

START_TEST(test_response_round_trip)
{
    enum { NF = sizeof round_floats / sizeof round_floats[0] + 3 };
    float f[NF];
    memcpy(f, round_floats, sizeof round_floats);
    f[NF - 3] = NAN;
    f[NF - 2] = INFINITY;
    f[NF - 1] = -INFINITY;
    /* And a sweep of pseudo-random bit patterns. */
    enum { NR = 4096 };
    float *rnd = malloc(NR * sizeof *rnd);
    uint32_t x = 2463534242u;
    for (int i = 0; i < NR; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(&rnd[i], &x, sizeof x);
    }
    int64_t i64[] = {0, -1, 9007199254740992LL, -9007199254740992LL, 42};
    int32_t i32[] = {INT32_MIN, INT32_MAX, 0};
    int8_t i8[] = {-128, 127};
    uint8_t u8[] = {0, 255, 7};
    uint8_t b[] = {1, 0, 1, 1};
    ember_named_tensor outs[] = {
        {"f", {EMBER_DT_FLOAT, 1, {NF}, f}},         {"rnd", {EMBER_DT_FLOAT, 2, {NR / 4, 4}, rnd}},
        {"i64", {EMBER_DT_INT64, 1, {5}, i64}},      {"i32", {EMBER_DT_INT32, 1, {3}, i32}},
        {"i8", {EMBER_DT_INT8, 2, {1, 2}, i8}},      {"u8", {EMBER_DT_UINT8, 1, {3}, u8}},
        {"b", {EMBER_DT_BOOL, 2, {2, 2}, b}},        {"scalar", {EMBER_DT_FLOAT, 0, {0}, f}},
        {"empty", {EMBER_DT_INT32, 2, {0, 3}, i32}},
    };
    const int nouts = sizeof outs / sizeof outs[0];
    char *json;
    size_t len;
    ember_err err = {{0}};
    ck_assert_int_eq(
        ember_kserve_encode_response("digits", "1", "req \"7\"\n", outs, nouts, &json, &len, &err),
        0);
    ck_assert_uint_eq(strlen(json), len);
    ck_assert_ptr_null(strstr(json, "nan"));
    ck_assert_ptr_null(strstr(json, "inf"));

    ember_infer_response resp;
    ck_assert_msg(ember_kserve_decode_response(json, len, &resp, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(resp.model_name, "digits");
    ck_assert_str_eq(resp.model_version, "1");
    ck_assert_str_eq(resp.id, "req \"7\"\n");
    ck_assert_int_eq(resp.noutputs, nouts);
    for (int k = 0; k < nouts; k++) {
        const ember_tensor *want = &outs[k].tensor, *got = &resp.outputs[k];
        ck_assert_str_eq(resp.names[k], outs[k].name);
        ck_assert_int_eq(got->dtype, want->dtype);
        ck_assert_int_eq(got->rank, want->rank);
        int64_t n = 1;
        for (int d = 0; d < want->rank; d++) {
            ck_assert_int_eq(got->dims[d], want->dims[d]);
            n *= want->dims[d];
        }
        if (want->dtype == EMBER_DT_FLOAT) {
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(float_same(((float *)got->data)[i], ((float *)want->data)[i]),
                              "output %s element %lld: %.9g != %.9g", outs[k].name, (long long)i,
                              (double)((float *)got->data)[i], (double)((float *)want->data)[i]);
        } else {
            size_t es = want->dtype == EMBER_DT_INT64 ? 8 : want->dtype == EMBER_DT_INT32 ? 4 : 1;
            ck_assert_mem_eq(got->data, want->data, (size_t)n * es);
        }
    }
    ember_infer_response_clear(&resp);
    free(json);
    free(rnd);
}
END_TEST

START_TEST(test_request_round_trip)
{
    float img[8] = {0.5f, NAN, -INFINITY, 1e-40f, 2, 3, 4, 5};
    ember_named_tensor in[] = {{"image", {EMBER_DT_FLOAT, 2, {2, 4}, img}}};
    const char *const want_out[] = {"label"};
    char *json;
    size_t len;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_kserve_encode_request("abc", in, 1, want_out, 1, &json, &len, &err), 0);
    ember_infer_request req;
    ck_assert_msg(decode_digits(json, &req, &err) == 0, "%s: %s", json, err.msg);
    ck_assert_str_eq(req.id, "abc");
    for (int i = 0; i < 8; i++)
        ck_assert(float_same(((float *)req.inputs[0].data)[i], img[i]));
    ck_assert_int_eq(req.noutputs, 1);
    ck_assert_int_eq(req.outputs[0], 1);
    ember_infer_request_clear(&req);
    free(json);

    ck_assert_int_eq(ember_kserve_encode_request(NULL, in, 1, NULL, 0, &json, &len, &err), 0);
    ck_assert_ptr_null(strstr(json, "\"id\""));
    ck_assert_ptr_null(strstr(json, "\"outputs\""));
    ck_assert_int_eq(decode_digits(json, &req, &err), 0);
    ck_assert_int_eq(req.noutputs, 2);
    ember_infer_request_clear(&req);
    free(json);
}
END_TEST

START_TEST(test_encode_response_text)
{
    float p[] = {0.25f, 0.5f, 0.25f};
    int64_t l[] = {1};
    /* Integers are written without printf: the extremes of each type, exactly. */
    int64_t wide[] = {INT64_MIN, INT64_MAX, -7, 0};
    int8_t narrow[] = {-128, 127};
    ember_named_tensor outs[] = {
        {"probabilities", {EMBER_DT_FLOAT, 2, {1, 3}, p}},
        {"label", {EMBER_DT_INT64, 1, {1}, l}},
        {"wide", {EMBER_DT_INT64, 2, {2, 2}, wide}},
        {"narrow", {EMBER_DT_INT8, 1, {2}, narrow}},
    };
    char *json;
    size_t len;
    ck_assert_int_eq(ember_kserve_encode_response("digits", "1", NULL, outs, 4, &json, &len, NULL),
                     0);
    ck_assert_str_eq(json, "{\"model_name\":\"digits\",\"model_version\":\"1\",\"outputs\":["
                           "{\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[1,3],"
                           "\"data\":[0.25,0.5,0.25]},"
                           "{\"name\":\"label\",\"datatype\":\"INT64\",\"shape\":[1],"
                           "\"data\":[1]},"
                           "{\"name\":\"wide\",\"datatype\":\"INT64\",\"shape\":[2,2],"
                           "\"data\":[-9223372036854775808,9223372036854775807,-7,0]},"
                           "{\"name\":\"narrow\",\"datatype\":\"INT8\",\"shape\":[2],"
                           "\"data\":[-128,127]}]}");
    free(json);
}
END_TEST

START_TEST(test_encode_metadata)
{
    const char *const versions[] = {"1"};
    char *json;
    size_t len;
    ck_assert_int_eq(ember_kserve_encode_metadata("digits", versions, 1, "ember", digits_in, 1,
                                                  digits_out, 2, &json, &len, NULL),
                     0);
    ck_assert_str_eq(json, "{\"name\":\"digits\",\"versions\":[\"1\"],\"platform\":\"ember\","
                           "\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\","
                           "\"shape\":[-1,4]}],"
                           "\"outputs\":[{\"name\":\"probabilities\",\"datatype\":\"FP32\","
                           "\"shape\":[-1,3]},{\"name\":\"label\",\"datatype\":\"INT64\","
                           "\"shape\":[-1]}]}");
    free(json);
}
END_TEST

START_TEST(test_error_json)
{
    size_t len;
    char *j = ember_kserve_error_json("bad \"x\"\\\n\x01", &len);
    ck_assert_str_eq(j, "{\"error\":\"bad \\\"x\\\"\\\\\\n\\u0001\"}");
    ck_assert_uint_eq(len, strlen(j));
    free(j);
}
END_TEST

START_TEST(test_datatype_names)
{
    ck_assert_str_eq(ember_kserve_datatype_name(EMBER_DT_FLOAT), "FP32");
    ck_assert_str_eq(ember_kserve_datatype_name(EMBER_DT_BOOL), "BOOL");
    ck_assert_ptr_null(ember_kserve_datatype_name(EMBER_DT_UNDEFINED));
    ck_assert_int_eq(ember_kserve_datatype("UINT8"), EMBER_DT_UINT8);
    ck_assert_int_eq(ember_kserve_datatype("fp32"), EMBER_DT_UNDEFINED);
}
END_TEST

START_TEST(test_decode_response_errors)
{
    static const char *const bad[] = {
        "{\"outputs\":[]}",
        "{\"model_name\":\"m\"}",
        "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
        "\"shape\":[2],\"data\":[1]}]}",
        "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"x\",\"datatype\":\"INT8\","
        "\"shape\":[1],\"data\":[300]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ember_infer_response resp;
        ember_err err = {{0}};
        ck_assert_msg(ember_kserve_decode_response(bad[i], strlen(bad[i]), &resp, &err) < 0,
                      "case %zu accepted", i);
        ck_assert(err.msg[0]);
        ck_assert_ptr_null(resp.outputs);
    }
}
END_TEST

/* Inputs as raw bytes after the JSON; outputs as raw bytes after the answer's JSON. */
START_TEST(test_binary_round_trip)
{
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, -0.5f};
    const char *json = "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\",\"shape\":[2,4],"
                       "\"parameters\":{\"binary_data_size\":32}}],"
                       "\"outputs\":[{\"name\":\"label\"},{\"name\":\"probabilities\","
                       "\"parameters\":{\"binary_data\":true}}]}";
    size_t hlen = strlen(json);
    char body[512];
    memcpy(body, json, hlen);
    memcpy(body + hlen, x, sizeof x);
    ember_infer_request req;
    ember_err err = {{0}};
    ck_assert_msg(ember_kserve_decode_request_binary(body, hlen + sizeof x, hlen, digits_in, 1,
                                                     digits_out, 2, &req, &err) == 0,
                  "%s", err.msg);
    ck_assert(memcmp(req.inputs[0].data, x, sizeof x) == 0);
    ck_assert_int_eq(req.noutputs, 2);
    ck_assert(req.binary[0] == 0 && req.binary[1] == 1);
    ember_infer_request_clear(&req);

    /* Leftover and missing bytes. */
    ck_assert_int_eq(ember_kserve_decode_request_binary(body, hlen + sizeof x + 1, hlen, digits_in,
                                                        1, digits_out, 2, &req, &err),
                     EMBER_ESHAPE);
    ck_assert_int_eq(ember_kserve_decode_request_binary(body, hlen + sizeof x - 1, hlen, digits_in,
                                                        1, digits_out, 2, &req, &err),
                     EMBER_ESHAPE);
    ck_assert_int_eq(ember_kserve_decode_request_binary(body, hlen, hlen + 1, digits_in, 1,
                                                        digits_out, 2, &req, &err),
                     EMBER_EINVAL);

    /* Encoding: the second output goes binary. */
    int64_t labels[2] = {3, 1};
    ember_named_tensor outs[2] = {
        {"label", {.dtype = EMBER_DT_INT64, .rank = 1, .dims = {2}, .data = labels}},
        {"probabilities", {.dtype = EMBER_DT_FLOAT, .rank = 2, .dims = {2, 4}, .data = (void *)x}},
    };
    const unsigned char binary[2] = {0, 1};
    char *out;
    size_t len, header;
    ck_assert_int_eq(ember_kserve_encode_response_binary("m", "1", NULL, outs, 2, binary, &out,
                                                         &len, &header, &err),
                     0);
    ck_assert_uint_eq(len, header + sizeof x);
    ck_assert(memcmp(out + header, x, sizeof x) == 0);
    ck_assert_msg(strstr(out, "\"parameters\":{\"binary_data_size\":32}") &&
                      strstr(out, "\"data\":[3,1]"),
                  "%.*s", (int)header, out);
    free(out);
}
END_TEST

/* The classification extension's K on an output, recorded per output; K outside
 * 1..EMBER_CLASSIFY_MAX_K or not an integer is refused. */
START_TEST(test_decode_classification)
{
    static const char in[] =
        "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
        "\"data\":[1,2,3,4]}],\"outputs\":[{\"name\":\"label\"},{\"name\":\"probabilities\","
        "\"parameters\":{\"classification\":%s}}]}";
    char json[512];
    ember_infer_request req;
    ember_err err = {{0}};
    snprintf(json, sizeof json, in, "1000");
    ck_assert_msg(decode_digits(json, &req, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(req.noutputs, 2);
    ck_assert_int_eq(req.classify[0], 0);
    ck_assert_int_eq(req.classify[1], EMBER_CLASSIFY_MAX_K);
    ember_infer_request_clear(&req);
    ck_assert_ptr_null(req.classify);
    static const char *const bad[] = {"0", "1001", "2.5", "-3", "\"2\"", "null", "1e300"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, in, bad[i]);
        ck_assert_int_eq(decode_digits(json, &req, &err), EMBER_EINVAL);
        ck_assert_msg(strstr(err.msg, "parameters.classification must be an integer from 1 to"),
                      "%s: %s", bad[i], err.msg);
    }
}
END_TEST

/* BYTES outputs: JSON strings (escaped), or with binary data a 4-byte little-endian length
 * before each string's bytes. */
START_TEST(test_encode_bytes)
{
    static const char *const strs[] = {"0.5:1:cat", "0.25:0:a \"dog\"", "", "0.125:2"};
    float p[2] = {1, 2};
    ember_named_tensor outs[2] = {
        {"top", {.dtype = EMBER_DT_BYTES, .rank = 2, .dims = {2, 2}, .data = (void *)strs}},
        {"p", {.dtype = EMBER_DT_FLOAT, .rank = 1, .dims = {2}, .data = p}},
    };
    char *out;
    size_t len, header;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_kserve_encode_response("m", "1", NULL, outs, 2, &out, &len, &err), 0);
    ck_assert_str_eq(out, "{\"model_name\":\"m\",\"model_version\":\"1\",\"outputs\":["
                          "{\"name\":\"top\",\"datatype\":\"BYTES\",\"shape\":[2,2],"
                          "\"data\":[\"0.5:1:cat\",\"0.25:0:a \\\"dog\\\"\",\"\",\"0.125:2\"]},"
                          "{\"name\":\"p\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[1,2]}]}");
    free(out);

    const unsigned char binary[2] = {1, 0};
    ck_assert_int_eq(ember_kserve_encode_response_binary("m", "1", NULL, outs, 2, binary, &out,
                                                         &len, &header, &err),
                     0);
    static const char tail[] = "\x09\0\0\0"
                               "0.5:1:cat"
                               "\x0e\0\0\0"
                               "0.25:0:a \"dog\""
                               "\0\0\0\0"
                               "\x07\0\0\0"
                               "0.125:2";
    ck_assert_uint_eq(len - header, sizeof tail - 1);
    ck_assert(memcmp(out + header, tail, sizeof tail - 1) == 0);
    ck_assert_msg(strstr(out, "\"datatype\":\"BYTES\",\"shape\":[2,2],\"parameters\":"
                              "{\"binary_data_size\":46}"),
                  "%.*s", (int)header, out);
    free(out);
}
END_TEST

START_TEST(test_peek_sched)
{
    ember_kserve_sched sp;
    ember_err err = {{0}};
    const char *ok = "{\"id\":\"x\",\"inputs\":[{\"data\":[1,\"}]\",{\"a\":[]}]}],"
                     " \"parameters\" : {\"priority\":\"low\",\"timeout_ms\":250,\"other\":1}}";
    ck_assert_int_eq(ember_kserve_peek_sched(ok, strlen(ok), &sp, &err), 0);
    ck_assert_int_eq(sp.priority, 2);
    ck_assert_int_eq(sp.timeout_ms, 250);
    ck_assert_int_eq(sp.energy, 0);
    const char *energy = "{\"parameters\":{\"energy\":true}}";
    ck_assert_int_eq(ember_kserve_peek_sched(energy, strlen(energy), &sp, &err), 0);
    ck_assert_int_eq(sp.energy, 1);
    const char *none = "{\"inputs\":[]}";
    ck_assert_int_eq(ember_kserve_peek_sched(none, strlen(none), &sp, &err), 0);
    ck_assert(sp.priority == -1 && sp.timeout_ms == -1);
    const char *garbage = "not json";
    ck_assert_int_eq(ember_kserve_peek_sched(garbage, strlen(garbage), &sp, &err), 0);
    static const char *const bad[] = {
        "{\"parameters\":{\"priority\":\"urgent\"}}", "{\"parameters\":{\"timeout_ms\":-1}}",
        "{\"parameters\":{\"timeout_ms\":3600001}}",  "{\"parameters\":[]}",
        "{\"parameters\":{\"timeout_ms\":}}",
        "{\"parameters\":{\"energy\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ember_kserve_peek_sched(bad[i], strlen(bad[i]), &sp, &err) == EMBER_EINVAL,
                      "%s accepted", bad[i]);
    const char *max = "{\"parameters\":{\"timeout_ms\":3600000}}";
    ck_assert_int_eq(ember_kserve_peek_sched(max, strlen(max), &sp, &err), 0);
}
END_TEST

/* The peek skips values sixteen (SSE2) or eight bytes at a time; brackets and quotes inside
 * strings, at every offset within a block, must not throw it off. */
START_TEST(test_peek_sched_long_body)
{
    static const char *const tricky[] = {"\"[\"", "\"]}\"", "\"\\\"{\"", "{\"a\":[1,\"}\"]}",
                                         "[[],{}]"};
    for (int shift = 0; shift < 16; shift++) {
        char body[8192];
        int len = snprintf(body, sizeof body, "{\"id\":\"%.*s\",\"inputs\":[{\"data\":[", shift,
                           "xxxxxxxxxxxxxxxx");
        for (int i = 0; i < 300; i++)
            len += snprintf(body + len, sizeof body - (size_t)len, "%s%s", i ? "," : "",
                            i % 7 ? "0.125" : tricky[(i / 7) % 5]);
        len += snprintf(body + len, sizeof body - (size_t)len,
                        "]}],\"parameters\":{\"priority\":\"low\",\"timeout_ms\":7}}");
        ember_kserve_sched sp;
        ember_err err = {{0}};
        ck_assert_int_eq(ember_kserve_peek_sched(body, (size_t)len, &sp, &err), 0);
        ck_assert_int_eq(sp.priority, 2);
        ck_assert_int_eq(sp.timeout_ms, 7);
    }
}
END_TEST

static Suite *kserve_suite(void)
{
    Suite *s = suite_create("proto-kserve");
    TCase *dec = tcase_create("decode");
    tcase_add_test(dec, test_decode_flat);
    tcase_add_test(dec, test_decode_nested);
    tcase_add_test(dec, test_decode_every_dtype);
    tcase_add_test(dec, test_decode_fp32_blocks);
    tcase_add_loop_test(dec, test_decode_errors, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_loop_test(dec, test_decode_integer_errors, 0,
                        (int)(sizeof int_cases / sizeof int_cases[0]));
    tcase_add_test(dec, test_decode_response_errors);
    tcase_add_test(dec, test_decode_classification);
    suite_add_tcase(s, dec);

    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, test_response_round_trip);
    tcase_add_test(enc, test_request_round_trip);
    tcase_add_test(enc, test_encode_response_text);
    tcase_add_test(enc, test_encode_metadata);
    tcase_add_test(enc, test_error_json);
    tcase_add_test(enc, test_datatype_names);
    tcase_add_test(enc, test_binary_round_trip);
    tcase_add_test(enc, test_encode_bytes);
    tcase_add_test(enc, test_peek_sched);
    tcase_add_test(enc, test_peek_sched_long_body);
    suite_add_tcase(s, enc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kserve_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
