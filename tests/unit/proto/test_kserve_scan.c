/*
 * Unit tests for the fast reader of KServe bodies (proto/src/kserve_scan.c). Two angles:
 * the decoder must answer exactly as it does through cJSON alone (same code, same message,
 * same bytes) for every body, good or bad; and the reader's own numbers must be the doubles
 * strtod gives, checked over many random spellings. A body that starts with "\f" is one the
 * reader refuses and cJSON reads as whitespace, which is how a test forces the cJSON route.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "kserve.h"

static const ember_io_info digits_in[] = {{"image", EMBER_DT_FLOAT, 2, {-1, 4}}};
static const ember_io_info digits_out[] = {{"probabilities", EMBER_DT_FLOAT, 2, {-1, 3}}};
static const ember_io_info typed_in[] = {
    {"f", EMBER_DT_FLOAT, 1, {2}}, {"i64", EMBER_DT_INT64, 1, {2}}, {"i32", EMBER_DT_INT32, 1, {2}},
    {"i8", EMBER_DT_INT8, 1, {2}}, {"u8", EMBER_DT_UINT8, 1, {2}},  {"b", EMBER_DT_BOOL, 1, {2}},
    {"d3", EMBER_DT_FLOAT, 3, {2, 2, 2}},
};

/* Decode json both ways and insist on the same outcome; the fast route's rc and message
 * are returned. */
static int decode_both(const char *json, const ember_io_info *in, int nin, ember_err *err)
{
    size_t len = strlen(json);
    char *slow = malloc(len + 2);
    ck_assert_ptr_nonnull(slow);
    slow[0] = '\f';
    memcpy(slow + 1, json, len + 1);
    ember_infer_request a, b;
    ember_err ea = {{0}}, eb = {{0}};
    int ra = ember_kserve_decode_request(json, len, in, nin, digits_out, 1, &a, &ea);
    int rb = ember_kserve_decode_request(slow, len + 1, in, nin, digits_out, 1, &b, &eb);
    ck_assert_msg(ra == rb, "%s: fast rc %d (%s), cJSON rc %d (%s)", json, ra, ea.msg, rb, eb.msg);
    /* Syntax errors name a byte offset, one further on in the "\f" copy. */
    if (!strstr(ea.msg, "at byte"))
        ck_assert_msg(strcmp(ea.msg, eb.msg) == 0, "%s: fast '%s', cJSON '%s'", json, ea.msg,
                      eb.msg);
    if (ra == 0) {
        for (int i = 0; i < a.ninputs; i++) {
            ck_assert_int_eq(a.inputs[i].rank, b.inputs[i].rank);
            size_t n = 1;
            for (int d = 0; d < a.inputs[i].rank; d++)
                n *= (size_t)a.inputs[i].dims[d];
            n *= kserve_dtype_size(a.inputs[i].dtype);
            ck_assert_msg(memcmp(a.inputs[i].data, b.inputs[i].data, n) == 0, "%s: input %d differs",
                          json, i);
        }
        ember_infer_request_clear(&a);
        ember_infer_request_clear(&b);
    }
    free(slow);
    *err = ea;
    return ra;
}

#define IMG(shape, data)                                                                           \
    "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\",\"shape\":" shape ",\"data\":" data  \
    "}]}"

/* Bodies for the digits model: rc and a phrase of the message (NULL: success). */
static const struct scan_case {
    const char *json;
    int rc;
    const char *phrase;
} cases[] = {
    {IMG("[2,4]", "[0,1,2,3,4,5,6,7]"), 0, NULL},
    {IMG("[2,4]", "[[0,1,2,3],[4,5,6,7]]"), 0, NULL},
    {IMG("[2,4]", "[[0,1,2],[3,4,5,6,7]]"), EMBER_ESHAPE, "ragged"},
    {IMG("[2,4]", "[[0,1,2,3],4,5,6,7]"), EMBER_ESHAPE, "ragged"},
    {IMG("[2,4]", "[0,1,2,3,[4,5,6,7]]"), EMBER_ESHAPE, "ragged"},
    {IMG("[2,4]", "[[0,1,2,3],[]]"), EMBER_ESHAPE, "ragged"},
    {IMG("[2,4]", "[[[0,1,2,3]],[[4,5,6,7]]]"), EMBER_ESHAPE, "nested deeper"},
    {IMG("[2,4]", "[0,1,2,3,4,5,6]"), EMBER_ESHAPE, "has 7 elements, shape [2,4] needs 8"},
    {IMG("[2,4]", "[0,1,2,3,4,5,6,7,8]"), EMBER_ESHAPE, "has 9 elements"},
    {IMG("[1,4]", "[]"), EMBER_ESHAPE, "has 0 elements"},
    {IMG("[1,4]", "[1e2,1E-2,-1.5e+3,0e999]"), 0, NULL},
    {IMG("[1,4]", "[1e-400,-0,-0.0,2.5e-45]"), 0, NULL},
    {IMG("[1,4]", "[3.4028235e38,3.4028234e38,-3.4028235e38,1.401298464324817e-45]"), 0, NULL},
    {IMG("[1,4]", "[0,3.4028236e38,0,0]"), EMBER_EINVAL, "element 1 is out of range for FP32"},
    {IMG("[1,4]", "[3.5e38,0,0,0]"), EMBER_EINVAL, "element 0 is out of range for FP32"},
    {IMG("[1,4]", "[0,0,0,1e309]"), EMBER_EINVAL, "element 3 is out of range for FP32"},
    {IMG("[1,4]", "[0.1234567890123456789012345,123456789012345678901234567890,"
                  "9007199254740993,0.30000000000000004]"),
     0, NULL},
    {IMG("[1,4]", "[\"NaN\",\"Infinity\",\"-Infinity\",1]"), 0, NULL},
    {IMG("[1,4]", "[\"nan\",1,2,3]"), EMBER_EINVAL, "element 0 is a string other than"},
    {IMG("[1,4]", "[1,\"N\\/aN\",2,3]"), EMBER_EINVAL, "element 1 is a string other than"},
    {IMG("[1,4]", "[1,true,2,3]"), EMBER_EINVAL, "element 1 is a boolean"},
    {IMG("[1,4]", "[1,2,null,3]"), EMBER_EINVAL, "element 2 is null"},
    {IMG("[1,4]", "[1,2,3,{\"a\":[1,{}]}]"), EMBER_EINVAL, "element 3 is an object"},
    {IMG("[1,4]", "[1,\"x\",[2,3,4]]"), EMBER_ESHAPE, "ragged"},
    {" { \"inputs\" : [ { \"name\" : \"image\" , \"datatype\" : \"FP32\" , \"shape\" : [ 1 , 4 ]"
     " , \"data\" : [ 1 ,\n2 ,\r\n3\t, 4 ] } ] } \n",
     0, NULL},
    /* Member order and duplicates: cJSON reads a key's first member. */
    {"{\"inputs\":[{\"data\":[1,2,3,4],\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\"}]}",
     0, NULL},
    {"{\"inputs\":[{\"data\":[1,2,3,4],\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[5,6]}]}",
     0, NULL},
    {"{\"inputs\":[{\"data\":\"x\",\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[5,6,7,8]}]}",
     EMBER_EINVAL, "\"data\" must be an array"},
    {"{\"inputs\":[],\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[5,6,7,8]}]}",
     EMBER_ENOTFOUND, "missing input 'image'"},
    {"{\"parameters\":{\"data\":[1]},\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],"
     "\"datatype\":\"FP32\",\"data\":[5,6,7,8],\"parameters\":{\"data\":[[1]]}}]}",
     0, NULL},
    /* What the reader refuses still reads (or fails) as cJSON has it. */
    {"{\"id\":\"\\u0041\\t\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,4],\"datatype\":\"FP32\","
     "\"data\":[1,2,3,4]}]}",
     0, NULL},
    {IMG("[1,4]", "[01,2,3,4]"), 0, NULL}, /* cJSON takes what strtod takes */
    {IMG("[1,4]", "[1,2,3,4,]"), EMBER_EINVAL, "not valid JSON"},
    {IMG("[1,4]", "[1,2,3,4"), EMBER_EINVAL, "not valid JSON"},
    {IMG("[1,4]", "[.5,2,3,4]"), EMBER_EINVAL, "not valid JSON"},
    {IMG("[1,4]", "[1.,2,3,4]"), 0, NULL}, /* cJSON reads "1." as strtod does */
    {IMG("[1,4]", "[+1,2,3,4]"), EMBER_EINVAL, "not valid JSON"},
    /* Longer than cJSON's 63-byte number buffer: the reader leaves it to cJSON. */
    {IMG("[1,4]", "[1,2,3,0.000000000000000000000000000000000000000000000000000000000000000"
                  "000000001]"),
     0, NULL},
    {IMG("[1,4]", "[1,2,3,4]") " x", EMBER_EINVAL, "trailing data"},
    {IMG("[1,4]", "[1,\f2,3,4]"), 0, NULL},
};

START_TEST(test_matches_cjson)
{
    const struct scan_case *c = &cases[_i];
    ember_err err;
    int rc = decode_both(c->json, digits_in, 1, &err);
    ck_assert_msg(rc == c->rc, "case %d: rc %d, want %d: %s", _i, rc, c->rc, err.msg);
    if (c->phrase)
        ck_assert_msg(strstr(err.msg, c->phrase), "case %d: '%s' lacks '%s'", _i, err.msg,
                      c->phrase);
}
END_TEST

/* Every dtype's range and kind checks, and a partly nested rank-3 input. */
START_TEST(test_typed_matches_cjson)
{
    static const char *const values[] = {
        "0",  "-0", "1",           "-1",         "127",       "128",        "-128",
        "-129", "255", "256",      "2147483647", "2147483648", "-2147483648", "-2147483649",
        "1.5", "1e2", "2.5e1",     "true",       "false",     "null",       "\"1\"",
        "{}",  "9007199254740992", "9007199254740994", "-1e300", "1e-7", "\"NaN\"",
    };
    static const char *const names[] = {"f", "i64", "i32", "i8", "u8", "b"};
    static const char *const types[] = {"FP32", "INT64", "INT32", "INT8", "UINT8", "BOOL"};
    for (size_t t = 0; t < 6; t++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char j[256];
            snprintf(j, sizeof j,
                     "{\"inputs\":[{\"name\":\"%s\",\"shape\":[2],\"datatype\":\"%s\","
                     "\"data\":[%s,%s]}]}",
                     names[t], types[t], t == 5 ? "true" : "0", values[v]);
            ember_err err;
            int rc = decode_both(j, typed_in, 7, &err);
            /* A good value leaves only the other inputs missing. */
            ck_assert_msg(rc == EMBER_ENOTFOUND || strstr(err.msg, "element 1"), "%s: %s", j,
                          err.msg);
        }
    }
    static const char *const nested[] = {
        "[[1,2,3,4],[5,6,7,8]]",
        "[[[1,2],[3,4]],[[5,6],[7,8]]]",
        "[[[1,2],[3,4]],[[5,6],[7,8,9]]]",
        "[[[1,2],[3,4]],[5,6,7,8]]",
    };
    for (size_t i = 0; i < sizeof nested / sizeof nested[0]; i++) {
        char j[256];
        snprintf(j, sizeof j,
                 "{\"inputs\":[{\"name\":\"d3\",\"shape\":[2,2,2],\"datatype\":\"FP32\","
                 "\"data\":%s}]}",
                 nested[i]);
        ember_err err;
        int rc = decode_both(j, typed_in, 7, &err);
        ck_assert_msg(i < 2 ? rc == EMBER_ENOTFOUND : rc == EMBER_ESHAPE, "%s: %s", j, err.msg);
    }
}
END_TEST

/* One data array longer than the element limit: counted and refused, not converted. */
START_TEST(test_over_the_limit)
{
    size_t n = EMBER_KSERVE_MAX_ELEMENTS + 1;
    const char *head = "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\","
                       "\"shape\":[4194304,4],\"data\":[";
    size_t hl = strlen(head), len = hl + 2 * n + 2;
    char *body = malloc(len + 8);
    ck_assert_ptr_nonnull(body);
    memcpy(body, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(body + hl + 2 * i, "0,", 2);
    memcpy(body + hl + 2 * n - 1, "]}]}", 5);
    len = strlen(body);
    ember_infer_request req;
    ember_err err = {{0}};
    int rc = ember_kserve_decode_request(body, len, digits_in, 1, digits_out, 1, &req, &err);
    ck_assert_int_eq(rc, EMBER_ESHAPE);
    ck_assert_msg(strstr(err.msg, "has 16777217 elements, shape [4194304,4] needs 16777216"),
                  "%s", err.msg);
    free(body);
}
END_TEST

/* The reader takes plain bodies and refuses what it leaves to cJSON. */
START_TEST(test_scan_takes_and_refuses)
{
    static const struct {
        const char *json;
        int taken;
    } bodies[] = {
        {IMG("[1,4]", "[1,2,3,4]"), 1},
        {"{}", 1},
        {"{\"a\":[{\"b\":\"c\\\"\\\\\\/\\b\\f\\n\\r\\t\"},true,false,null,-1.5e-3]}", 1},
        {"\xef\xbb\xbf{}", 0},
        {"{\"a\":\"\\u0041\"}", 0},
        {"{\"a\":\"\x01\"}", 0},
        {"{\"a\":\"\\x\"}", 0},
        {"{\"a\":01}", 0},
        {"{\"a\":[1,]}", 0},
        {"{\"a\":1}x", 0},
        {"[1]", 0},
        {"{\"a\":tru}", 0},
        {"{\"a\" 1}", 0},
        {"{\"a\":1,}", 0},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        kserve_scan sc;
        int rc = kserve_scan_body(bodies[i].json, strlen(bodies[i].json), "inputs", &sc);
        ck_assert_msg(rc == bodies[i].taken, "%s: %d", bodies[i].json, rc);
        if (rc == 1 && strstr(bodies[i].json, "image")) {
            ck_assert_str_eq(sc.doc, IMG("[1,4]", "[]"));
            const kserve_leaves *lv = kserve_scan_leaves(&sc, 0);
            ck_assert_ptr_nonnull(lv);
            ck_assert_int_eq(lv->n, 4);
            ck_assert_ptr_null(kserve_scan_leaves(&sc, 1));
        }
        kserve_scan_free(&sc);
    }
    char deep[1300];
    strcpy(deep, "{\"a\":");
    for (int i = 0; i < 600; i++)
        strcat(deep, "[");
    for (int i = 0; i < 600; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    kserve_scan sc;
    ck_assert_int_eq(kserve_scan_body(deep, strlen(deep), "inputs", &sc), 0);
}
END_TEST

/* The reader's numbers are strtod's, bit for bit, over many random spellings. */
START_TEST(test_numbers_are_strtods)
{
    enum { N = 200000 };
    srand(7);
    char *body = malloc((size_t)N * 40 + 64), *p = body;
    ck_assert_ptr_nonnull(body);
    char(*text)[40] = malloc((size_t)N * sizeof *text);
    p += sprintf(p, "{\"inputs\":[{\"data\":[");
    for (int i = 0; i < N; i++) {
        uint32_t bits = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        uint64_t wide = ((uint64_t)bits << 32) ^ ((uint64_t)rand() << 8) ^ (uint64_t)rand();
        float f;
        double d;
        memcpy(&f, &bits, sizeof f);
        memcpy(&d, &wide, sizeof d);
        if (!isfinite(f))
            f = (float)i;
        if (!isfinite(d))
            d = -(double)i;
        switch (i % 6) {
        case 0: snprintf(text[i], 40, "%.9g", (double)f); break;
        case 1: snprintf(text[i], 40, "%.17g", d); break;
        case 2: snprintf(text[i], 40, "%.3e", (double)f); break;
        case 3: snprintf(text[i], 40, "%d", rand() - RAND_MAX / 2); break;
        case 4: snprintf(text[i], 40, "%.6f", (double)(rand() % 100000) / 7.0); break;
        default: snprintf(text[i], 40, "%.25g", (double)f * 1e-10); break;
        }
        /* printf's forms that JSON spells otherwise: "1e+10" is fine, "inf" never happens. */
        p += sprintf(p, "%s%s", i ? "," : "", text[i]);
    }
    strcpy(p, "]}]}");
    kserve_scan sc;
    ck_assert_int_eq(kserve_scan_body(body, strlen(body), "inputs", &sc), 1);
    const kserve_leaves *lv = kserve_scan_leaves(&sc, 0);
    ck_assert_int_eq(lv->n, N);
    for (int i = 0; i < N; i++) {
        double want = strtod(text[i], NULL);
        ck_assert_msg(memcmp(&want, &lv->num[i], sizeof want) == 0, "%s: %.17g, strtod %.17g",
                      text[i], lv->num[i], want);
    }
    kserve_scan_free(&sc);
    free(text);
    free(body);
}
END_TEST

static Suite *scan_suite(void)
{
    Suite *s = suite_create("proto-kserve-scan");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_matches_cjson, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_typed_matches_cjson);
    tcase_add_test(tc, test_over_the_limit);
    tcase_add_test(tc, test_scan_takes_and_refuses);
    tcase_add_test(tc, test_numbers_are_strtods);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
