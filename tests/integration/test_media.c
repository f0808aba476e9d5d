/*
 * Raw media bodies and the classification extension through emberd. The digits model is
 * served from a temporary repository whose config.json maps an 8x8 gray image onto its
 * [N, 64] input (flattened, pixels times 1/15) and names a labels file. The PNG and JPEG
 * bodies are written here with libpng and libjpeg from the reference digits (values 0..16
 * become pixels 0..240): a PNG must give exactly the answer of the JSON request carrying the
 * floats the preprocessing computes, a JPEG (upscaled 8x, so libjpeg's 1/8 DCT scaling
 * applies) the reference digit. WAV bodies go to ../shared's melspectrogram model (skipped
 * without ../shared). Classification answers are checked against the reference top-K with
 * labels, as JSON and as binary output; the query string's id, timeout_ms and priority act
 * as a JSON body's; every error has its status and the daemon keeps serving; bad config
 * keys are refused with the file and the key named. The repository shipped in models/
 * answers its sample.png as the docs say.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "harness.h"
#include "image_write.h"

/* Reference pixel values 0..16 become 0..240; config "scale" takes them back. */
#define PIX_MUL 15
#define PIX_SCALE "0.0666666666666666667"

static const char *const names[DIGITS_OUT] = {"zero", "one", "two",   "three", "four",
                                              "five", "six", "seven", "eight", "nine"};

static const char image_cfg[] =
    "{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"order\": \"gray\", "
    "\"scale\": " PIX_SCALE "}}}, \"labels\": \"names.txt\"}";

/* Reference sample i as 8x8 gray pixels. */
static void ref_pixels(const digits_ref *ref, int i, unsigned char px[DIGITS_IN])
{
    for (int k = 0; k < DIGITS_IN; k++)
        px[k] = (unsigned char)(ref->inputs[i][k] * PIX_MUL);
}

static membuf ref_png(const digits_ref *ref, int i)
{
    unsigned char px[DIGITS_IN];
    ref_pixels(ref, i, px);
    return write_png(8, 8, PNG_COLOR_TYPE_GRAY, 8, 0, px);
}

/* ---- The repository and requests ---- */

static void put_file(const char *dir, const char *name, const char *file, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    it_write_file(path, text, strlen(text));
}

/* dir/name: the digits model, the labels file names.txt and config.json (NULL: none). */
static void put_digits(const char *dir, const char *name, const char *config)
{
    char labels[128] = "";
    it_repo_put_model(dir, name, 1);
    for (int i = 0; i < DIGITS_OUT; i++)
        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s\n", names[i]);
    put_file(dir, name, "names.txt", labels);
    if (config)
        put_file(dir, name, "config.json", config);
}

/* A repository with "digits" configured for images and "plain" without a config, served. */
static void start_media(emberd_proc *d, char dir[IT_DIR_MAX])
{
    it_mkdtemp(dir);
    put_digits(dir, "digits", image_cfg);
    put_digits(dir, "plain", NULL);
    const char *const extra[] = {"--dev", "--models", dir, NULL};
    it_emberd_start(d, extra, 0);
}

static void post_body(ember_client *c, const char *path, const char *ct, const void *body,
                      size_t len, ember_response *r)
{
    ember_err err;
    ember_header h[] = {{"Content-Type", ct}};
    ck_assert_msg(ember_client_request(c, "POST", path, h, 1, body, len, r, &err) == 0, "%s",
                  err.msg);
}

/* The "outputs" array of a 200 answer, printed, for comparing two answers. */
static char *outputs_text(const ember_response *r)
{
    ck_assert_msg(r->status == 200, "HTTP %d: %.300s", r->status, r->body);
    cJSON *j = it_json(r);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "outputs"));
    ck_assert_ptr_nonnull(s);
    cJSON_Delete(j);
    return s;
}

static int argmax(const double *p, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    return best;
}

/* The probabilities of a one-row digits answer. */
static void answer_probs(const ember_response *r, double out[DIGITS_OUT])
{
    ck_assert_msg(r->status == 200, "HTTP %d: %.300s", r->status, r->body);
    cJSON *j = it_json(r);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    ck_assert_int_eq(it_flatten(cJSON_GetObjectItemCaseSensitive(o, "data"), out, DIGITS_OUT),
                     DIGITS_OUT);
    cJSON_Delete(j);
}

/* The JSON request carrying what the image preprocessing computes for sample i. */
static char *json_of_pixels(const digits_ref *ref, int i)
{
    unsigned char px[DIGITS_IN];
    ref_pixels(ref, i, px);
    float scale = (float)(1.0 / PIX_MUL);
    char *body = malloc(64 * 20 + 256);
    ck_assert_ptr_nonnull(body);
    int n = sprintf(body, "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\","
                          "\"shape\":[1,64],\"data\":[");
    for (int k = 0; k < DIGITS_IN; k++)
        n += sprintf(body + n, "%s%.9g", k ? "," : "", (double)((float)px[k] * scale));
    sprintf(body + n, "]}]}");
    return body;
}

/* ---- Tests ---- */

/* Every reference digit as a PNG gives the JSON request's answer, bit for bit, and the
 * reference digit. Content-Type parameters and case are tolerated. */
START_TEST(png_same_as_json)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response a, b;
    it_ref_load(&ref);
    start_media(&d, dir);
    ember_client *c = it_client(d.socket);
    static const char *const types[] = {"image/png", "image/png; charset=binary", "IMAGE/PNG"};
    for (int i = 0; i < REF_N; i++) {
        membuf png = ref_png(&ref, i);
        post_body(c, "/v2/models/digits/infer", types[i % 3], png.p, png.len, &a);
        char *json = json_of_pixels(&ref, i);
        it_request(c, "POST", "/v2/models/digits/infer", json, &b);
        char *ta = outputs_text(&a), *tb = outputs_text(&b);
        ck_assert_msg(strcmp(ta, tb) == 0, "sample %d: PNG %s\nJSON %s", i, ta, tb);
        double p[DIGITS_OUT];
        answer_probs(&a, p);
        ck_assert_int_eq(argmax(p, DIGITS_OUT), argmax(ref.probs[i], DIGITS_OUT));
        free(ta);
        free(tb);
        free(json);
        free(png.p);
        ember_response_free(&a);
        ember_response_free(&b);
    }
    /* The versioned path takes raw bodies too. */
    membuf png = ref_png(&ref, 0);
    post_body(c, "/v2/models/digits/versions/1/infer", "image/png", png.p, png.len, &a);
    ck_assert_int_eq(a.status, 200);
    ember_response_free(&a);
    free(png.p);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* JPEGs 8x larger than the model's 8x8 (gray and RGB) are recognised as the reference
 * digit; the model is right on reference samples 0..12. */
START_TEST(jpeg_recognised)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    it_ref_load(&ref);
    start_media(&d, dir);
    ember_client *c = it_client(d.socket);
    for (int i = 0; i < 13; i++) {
        unsigned char px[DIGITS_IN], big[64 * 64 * 3];
        ref_pixels(&ref, i, px);
        int comps = i % 2 ? 3 : 1;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++)
                memset(big + ((size_t)y * 64 + x) * comps, px[(y / 8) * 8 + x / 8], (size_t)comps);
        membuf jpg = write_jpeg(64, 64, comps, 0, big);
        post_body(c, "/v2/models/digits/infer", "image/jpeg", jpg.p, jpg.len, &r);
        double p[DIGITS_OUT];
        answer_probs(&r, p);
        ck_assert_msg(argmax(p, DIGITS_OUT) == argmax(ref.probs[i], DIGITS_OUT),
                      "sample %d (%d channels): %s", i, comps, r.body);
        ember_response_free(&r);
        free(jpg.p);
    }
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* One "score:index:label" string: the index and label, the score checked against want. */
static void check_class(const cJSON *s, const double *probs, int want_index, int labels)
{
    ck_assert(cJSON_IsString(s));
    double score;
    int index, used = 0;
    ck_assert_msg(sscanf(s->valuestring, "%lf:%d%n", &score, &index, &used) == 2, "%s",
                  s->valuestring);
    ck_assert_msg(index == want_index, "%s: want index %d", s->valuestring, want_index);
    ck_assert_msg(fabs(score - probs[index]) <= 1e-5 * probs[index] + 1e-12, "%s: want %.8g",
                  s->valuestring, probs[index]);
    if (labels)
        ck_assert_msg(s->valuestring[used] == ':' &&
                          strcmp(s->valuestring + used + 1, names[index]) == 0,
                      "%s: want label %s", s->valuestring, names[index]);
    else
        ck_assert_msg(s->valuestring[used] == '\0', "%s: no label wanted", s->valuestring);
}

/* The reference classes of row r, best first. */
static void ref_order(const digits_ref *ref, int r, int order[DIGITS_OUT])
{
    for (int i = 0; i < DIGITS_OUT; i++)
        order[i] = i;
    for (int i = 1; i < DIGITS_OUT; i++)
        for (int j = i; j > 0 && ref->probs[r][order[j]] > ref->probs[r][order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* Check a classification answer: one BYTES output of shape [rows, k] for reference rows
 * first.., against the reference order. */
static void check_classification(const ember_response *r, const digits_ref *ref, int first,
                                 int rows, int k, int labels)
{
    ck_assert_msg(r->status == 200, "HTTP %d: %.300s", r->status, r->body);
    cJSON *j = it_json(r);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    ck_assert_msg(cJSON_IsString(dt) && strcmp(dt->valuestring, "BYTES") == 0, "%s", r->body);
    ck_assert_int_eq(cJSON_GetArraySize(shape), 2);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, rows);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 1)->valueint, k);
    ck_assert_int_eq(cJSON_GetArraySize(data), rows * k);
    for (int row = 0; row < rows; row++) {
        int order[DIGITS_OUT];
        ref_order(ref, first + row, order);
        for (int i = 0; i < k; i++)
            check_class(cJSON_GetArrayItem(data, row * k + i), ref->probs[first + row], order[i],
                        labels);
    }
    cJSON_Delete(j);
}

/* An it_infer_body request with "outputs": [{"name": "probabilities", "parameters": params}]. */
static char *classify_body(const digits_ref *ref, int first, int rows, const char *params)
{
    char *base = it_infer_body(ref, first, rows, NULL);
    size_t n = strlen(base);
    char *body = malloc(n + strlen(params) + 128);
    ck_assert_ptr_nonnull(body);
    ck_assert(base[n - 1] == '}');
    sprintf(body, "%.*s,\"outputs\":[{\"name\":\"probabilities\",\"parameters\":%s}]}",
            (int)(n - 1), base, params);
    free(base);
    return body;
}

START_TEST(classification_json_and_raw)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    it_ref_load(&ref);
    start_media(&d, dir);
    ember_client *c = it_client(d.socket);

    /* JSON, two rows, top 3 with labels; K past the row length is clipped to it. */
    char *body = classify_body(&ref, 0, 2, "{\"classification\":3}");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    check_classification(&r, &ref, 0, 2, 3, 1);
    ember_response_free(&r);
    free(body);
    body = classify_body(&ref, 5, 1, "{\"classification\":1000}");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    check_classification(&r, &ref, 5, 1, DIGITS_OUT, 1);
    ember_response_free(&r);
    free(body);

    /* A model without a labels file: "score:index". */
    body = classify_body(&ref, 3, 1, "{\"classification\":2}");
    it_request(c, "POST", "/v2/models/plain/infer", body, &r);
    check_classification(&r, &ref, 3, 1, 2, 0);
    ember_response_free(&r);
    free(body);

    /* A PNG with ?classification=K: every output classified (the PNG of sample 2 is the
     * same as its JSON, so the reference order holds). */
    membuf png = ref_png(&ref, 2);
    post_body(c, "/v2/models/digits/infer?classification=2", "image/png", png.p, png.len, &r);
    check_classification(&r, &ref, 2, 1, 2, 1);
    ember_response_free(&r);
    free(png.p);

    /* Binary output of BYTES: each string as a 4-byte little-endian length and its bytes. */
    body = classify_body(&ref, 0, 1, "{\"classification\":4,\"binary_data\":true}");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    const char *hl = ember_response_header(&r, "Inference-Header-Content-Length");
    ck_assert_ptr_nonnull(hl);
    size_t json_len = strtoul(hl, NULL, 10);
    ck_assert_uint_lt(json_len, r.body_len);
    cJSON *j = cJSON_ParseWithLength(r.body, json_len);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "parameters"), "binary_data_size");
    ck_assert_msg(strcmp(cJSON_GetObjectItemCaseSensitive(o, "datatype")->valuestring, "BYTES") ==
                      0,
                  "%.*s", (int)json_len, r.body);
    ck_assert_uint_eq((size_t)size->valuedouble, r.body_len - json_len);
    const unsigned char *p = (const unsigned char *)r.body + json_len;
    int order[DIGITS_OUT];
    ref_order(&ref, 0, order);
    for (int i = 0; i < 4; i++) {
        uint32_t n = p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        char s[64];
        ck_assert_uint_lt(n, sizeof s);
        memcpy(s, p + 4, n);
        s[n] = '\0';
        cJSON *str = cJSON_CreateString(s);
        check_class(str, ref.probs[0], order[i], 1);
        cJSON_Delete(str);
        p += 4 + n;
    }
    ck_assert_ptr_eq(p, (const unsigned char *)r.body + r.body_len);
    cJSON_Delete(j);
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Send one bad request, check its status and words, and that a good one still works. */
/* A model that also caches and batches: raw bodies still decode on their worker and answer
 * as without those keys, and classification is part of the cache key (the same tensors asked
 * for as top-K strings are a miss, not the cached probabilities). */
START_TEST(media_with_cache_and_batching)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response a, b;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    put_digits(dir, "digits",
               "{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"order\": "
               "\"gray\", \"scale\": " PIX_SCALE "}}}, \"labels\": \"names.txt\", "
               "\"cache\": {\"entries\": 8}, \"max_batch\": 4}");
    put_digits(dir, "plain", image_cfg);
    const char *const extra[] = {"--dev", "--models", dir, NULL};
    it_emberd_start(&d, extra, 0);
    ember_client *c = it_client(d.socket);

    membuf png = ref_png(&ref, 2);
    post_body(c, "/v2/models/digits/infer", "image/png", png.p, png.len, &a);
    post_body(c, "/v2/models/plain/infer", "image/png", png.p, png.len, &b);
    char *ta = outputs_text(&a), *tb = outputs_text(&b);
    ck_assert_str_eq(ta, tb);
    free(ta);
    free(tb);
    free(png.p);
    ember_response_free(&a);
    ember_response_free(&b);

#define CACHE_HITS "emberd_cache_hits_total{model=\"digits\"}"
#define CACHE_MISSES "emberd_cache_misses_total{model=\"digits\"}"
    char *plain = it_infer_body(&ref, 0, 1, NULL);
    char *top3 = classify_body(&ref, 0, 1, "{\"classification\":3}");
    it_request(c, "POST", "/v2/models/digits/infer", plain, &a);
    ck_assert_int_eq(a.status, 200);
    ember_response_free(&a);
    ck_assert_double_eq(it_metric(d.socket, CACHE_MISSES), 1);
    it_request(c, "POST", "/v2/models/digits/infer", top3, &a);
    check_classification(&a, &ref, 0, 1, 3, 1);
    ember_response_free(&a);
    ck_assert_double_eq(it_metric(d.socket, CACHE_HITS), 0);
    ck_assert_double_eq(it_metric(d.socket, CACHE_MISSES), 2);
    it_request(c, "POST", "/v2/models/digits/infer", top3, &a);
    check_classification(&a, &ref, 0, 1, 3, 1);
    ember_response_free(&a);
    ck_assert_double_eq(it_metric(d.socket, CACHE_HITS), 1);
#undef CACHE_HITS
#undef CACHE_MISSES
    free(plain);
    free(top3);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

static void expect_error(ember_client *c, const char *path, const char *ct, const void *body,
                         size_t len, int status, const char *words, const digits_ref *ref)
{
    ember_response r;
    if (ct)
        post_body(c, path, ct, body, len, &r);
    else
        it_request(c, "POST", path, body, &r);
    it_assert_error(&r, status, words);
    ck_assert_msg(strstr(r.body, words), "want \"%s\" in: %s", words, r.body);
    ember_response_free(&r);
    membuf png = ref_png(ref, 0);
    post_body(c, "/v2/models/digits/infer", "image/png", png.p, png.len, &r);
    ck_assert_msg(r.status == 200, "after a %d: %s", status, r.body);
    ember_response_free(&r);
    free(png.p);
}

START_TEST(errors_and_still_serving)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    put_digits(dir, "digits", image_cfg);
    put_digits(dir, "plain", NULL);
    /* max_pixels 1000: a 40x40 image (1600 pixels) is too large for it. */
    put_digits(dir, "small",
               "{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, "
               "\"order\": \"gray\", \"max_pixels\": 1000}}}}");
    const char *const extra[] = {"--dev", "--models", dir, NULL};
    it_emberd_start(&d, extra, 0);
    ember_client *c = it_client(d.socket);
    const char *in = "/v2/models/digits/infer";

    membuf png = ref_png(&ref, 0);
    expect_error(c, in, "image/png", png.p, png.len / 2, 400, "image/png: ", &ref);
    expect_error(c, in, "image/jpeg", png.p, png.len, 400, "not a JPEG", &ref);
    unsigned char px[64 * 64];
    memset(px, 128, sizeof px);
    membuf jpg = write_jpeg(64, 64, 1, 0, px);
    for (size_t i = jpg.len / 2; i < jpg.len - 2; i++)
        jpg.p[i] = 0xff; /* markers everywhere in the entropy-coded data */
    expect_error(c, in, "image/jpeg", jpg.p, jpg.len, 400, "image/jpeg: ", &ref);
    expect_error(c, in, "image/gif", png.p, png.len, 415, "image/gif", &ref);
    expect_error(c, in, "image/jpg", png.p, png.len, 415, "not supported", &ref);
    expect_error(c, in, "audio/wav", png.p, png.len, 415, "not configured for audio", &ref);
    expect_error(c, "/v2/models/plain/infer", "image/png", png.p, png.len, 415,
                 "its config.json needs", &ref);
    expect_error(c, "/v2/models/digits/infer?classification=0", "image/png", png.p, png.len, 400,
                 "classification", &ref);
    expect_error(c, "/v2/models/digits/infer?classification=x", "image/png", png.p, png.len, 400,
                 "classification", &ref);
    expect_error(c, "/v2/models/digits/infer?top=3", "image/png", png.p, png.len, 400,
                 "unknown query parameter 'top=3'", &ref);

    /* K of the classification extension outside 1..EMBER_CLASSIFY_MAX_K (1000). */
    static const char *const bad_k[] = {"0", "1001", "2.5", "-1", "\"3\"", "true", "1e9"};
    for (size_t i = 0; i < sizeof bad_k / sizeof bad_k[0]; i++) {
        char params[64];
        snprintf(params, sizeof params, "{\"classification\":%s}", bad_k[i]);
        char *body = classify_body(&ref, 0, 1, params);
        expect_error(c, in, NULL, body, 0, 400, "parameters.classification", &ref);
        free(body);
    }

    /* Past a model's max_pixels, and past EMBER_MEDIA_MAX_PIXELS (50 M): 413. */
    unsigned char big[40 * 40];
    memset(big, 0, sizeof big);
    membuf p40 = write_png(40, 40, PNG_COLOR_TYPE_GRAY, 8, 0, big);
    expect_error(c, "/v2/models/small/infer", "image/png", p40.p, p40.len, 413,
                 "larger than the limit of 1000 pixels", &ref);
    membuf huge = write_png(40, 40, PNG_COLOR_TYPE_GRAY, 8, 0, big);
    png_claim_size(&huge, 8000, 8000);
    expect_error(c, in, "image/png", huge.p, huge.len, 413, "larger than the limit of 50000000",
                 &ref);

    free(huge.p);
    free(p40.p);
    free(jpg.p);
    free(png.p);
    ember_client_close(c);
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Send a PNG on c without waiting for the answer (it_recv_answer reads it). */
static void send_png(ember_client *c, const char *path, const membuf *png)
{
    char head[512];
    ember_err err;
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, png->len);
    ck_assert_msg(ember_client_send_raw(c, head, (size_t)n, &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_client_send_raw(c, png->p, png->len, &err) == 0, "%s", err.msg);
}

/* The answer's "id", or NULL when it has none (a static copy). */
static const char *answer_id(const ember_response *r)
{
    static char id[300];
    cJSON *j = it_json(r);
    const cJSON *v = cJSON_GetObjectItem(j, "id");
    snprintf(id, sizeof id, "%s", cJSON_IsString(v) ? v->valuestring : "");
    int has = cJSON_IsString(v);
    cJSON_Delete(j);
    return has ? id : NULL;
}

/* What a JSON body says in "id" and "parameters" a raw body says in its query string: the
 * id comes back (percent-decoded, up to 256 bytes), a passed timeout_ms is a 504 that costs
 * no compute, priority=high overtakes a request queued before it, and every bad value is a
 * 400 naming the parameter after which the daemon keeps serving. */
START_TEST(raw_query_parameters)
{
    char dir[IT_DIR_MAX], log[PATH_MAX], path[600], id[260];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    put_digits(dir, "digits", image_cfg);
    put_digits(dir, "second", image_cfg);
    put_digits(dir, "third", image_cfg);
    snprintf(log, sizeof log, "%s/emberd.log", dir);
    const char *const extra[] = {"--dev", "--models",    dir,     "--workers",
                                 "1",     "--log-level", "debug", NULL};
    it_emberd_start_logged(&d, extra, 0, log);
    ember_client *c = it_client(d.socket);
    membuf png = ref_png(&ref, 0);

    post_body(c, "/v2/models/digits/infer?id=cam%201&classification=2", "image/png", png.p, png.len,
              &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(answer_id(&r), "cam 1");
    ck_assert_msg(strstr(r.body, "\"datatype\":\"BYTES\""), "%s", r.body);
    ember_response_free(&r);
    post_body(c, "/v2/models/digits/infer?timeout_ms=60000&id=a+b%2Bc&priority=low", "image/png",
              png.p, png.len, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(answer_id(&r), "a b+c");
    ember_response_free(&r);
    post_body(c, "/v2/models/digits/infer", "image/png", png.p, png.len, &r);
    ck_assert_ptr_null(answer_id(&r));
    ember_response_free(&r);
    memset(id, 'x', 256);
    id[256] = '\0';
    snprintf(path, sizeof path, "/v2/models/digits/infer?id=%s", id);
    post_body(c, path, "image/png", png.p, png.len, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(answer_id(&r), id);
    ember_response_free(&r);

    /* timeout_ms 0 has passed before a worker can take it; 1 passes while the worker is
     * busy, and the queue's timer answers before the worker is free. */
    double computed = it_metric(d.socket, "emberd_inferences_computed_total");
    post_body(c, "/v2/models/digits/infer?timeout_ms=0&id=late", "image/png", png.p, png.len, &r);
    it_assert_error(&r, 504, "?timeout_ms=0");
    ember_response_free(&r);
    ck_assert_double_eq(it_metric(d.socket, "emberd_inferences_computed_total"), computed);
    ember_client *slow = it_hold_worker(d.socket, &ref);
    post_body(c, "/v2/models/digits/infer?timeout_ms=1", "image/png", png.p, png.len, &r);
    it_assert_error(&r, 504, "?timeout_ms=1 passing in the queue");
    ember_response_free(&r);
    ck_assert_double_eq(it_metric(d.socket, "emberd_workers{state=\"busy\"}"), 1);

    /* Still held: "third" queued first at the model's priority, "second" after it with
     * priority=high; one worker runs "second" first. */
    ember_client *first = it_client(d.socket), *vip = it_client(d.socket);
    send_png(first, "/v2/models/third/infer?id=n", &png);
    it_wait_metric(d.socket, "emberd_queue_depth", 1);
    send_png(vip, "/v2/models/second/infer?id=h&priority=high", &png);
    it_wait_metric(d.socket, "emberd_queue_depth", 2);
    it_release_worker(slow, &ref);
    r = it_recv_answer(vip);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(answer_id(&r), "h");
    ember_response_free(&r);
    r = it_recv_answer(first);
    ck_assert_str_eq(answer_id(&r), "n");
    ember_response_free(&r);
    ember_client_close(first);
    ember_client_close(vip);
    ck_assert_double_eq(it_metric(d.socket, "emberd_inferences_computed_total"), computed + 3);

    /* Bad values: 400 naming the parameter, nothing decoded, the daemon serves on. */
    static const struct {
        const char *query, *words;
    } bad[] = {
        {"timeout_ms=-1", "timeout_ms wants an integer from 0 to 3600000"},
        {"timeout_ms=3600001", "timeout_ms wants"},
        {"timeout_ms=1.5", "timeout_ms wants"},
        {"timeout_ms=", "timeout_ms wants"},
        {"timeout_ms", "timeout_ms wants"},
        {"priority=urgent", "priority wants high, normal or low"},
        {"priority=HIGH", "priority wants"},
        {"id=%zz", "id wants 0 to 256 bytes"},
        {"id=%4", "id wants"},
        {"id=a%0Ab", "without control characters"},
        {"id=a%00b", "id wants"},
        {"id", "id wants"},
        {"id=a&id=b", "id is given twice"},
        {"deadline=5", "unknown query parameter 'deadline=5'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/v2/models/digits/infer?%s", bad[i].query);
        expect_error(c, path, "image/png", png.p, png.len, 400, bad[i].words, &ref);
    }
    memset(id, 'x', 257);
    id[257] = '\0';
    snprintf(path, sizeof path, "/v2/models/digits/infer?id=%s", id);
    expect_error(c, path, "image/png", png.p, png.len, 400, "id wants 0 to 256 bytes", &ref);
    ck_assert_double_eq(it_metric(d.socket, "emberd_requests_expired_total"), 2);

    free(png.p);
    ember_client_close(c);
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);

    /* One worker answers in the order it ran them; the debug log has one line each. */
    char *text = it_read_file(log, NULL);
    const char *hi = strstr(text, "POST /v2/models/second/infer -> 200");
    const char *lo = strstr(text, "POST /v2/models/third/infer -> 200");
    ck_assert_msg(hi && lo && hi < lo, "priority=high did not run first; log:\n%s", text);
    free(text);
}
END_TEST

/* Bad preprocessing or labels keys: the load is refused with the file and the key, and the
 * model serves what it served before. */
START_TEST(config_errors)
{
    char dir[IT_DIR_MAX], cfg[PATH_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"colour\": 1}}}}",
         "unknown key 'inputs.image.image.colour'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 0, \"height\": 8}}}}",
         "'inputs.image.image.width'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"height\": 8}}}}", "'inputs.image.image' needs"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, "
         "\"order\": \"rgba\"}}}}",
         "'inputs.image.image.order' wants"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, "
         "\"layout\": \"chw\"}}}}",
         "'inputs.image.image.layout'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"order\": \"gray\", "
         "\"mean\": [1, 2, 3]}}}}",
         "'inputs.image.image.mean' wants an array of 1"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"std\": [1, 0, "
         "1]}}}}",
         "'inputs.image.image.std'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"scale\": 0}}}}",
         "'inputs.image.image.scale'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, \"resize\": 4}}}}",
         "'inputs.image.image.resize'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 8, \"height\": 8, "
         "\"max_pixels\": 50000001}}}}",
         "'inputs.image.image.max_pixels'"},
        {"{\"inputs\": {\"image\": {\"video\": {}}}}", "'inputs.image' wants exactly one"},
        {"{\"inputs\": {\"image\": {\"audio\": {\"channels\": 1}}}}", "'inputs.image.audio' needs"},
        {"{\"inputs\": {\"image\": {\"audio\": {\"sample_rate\": 16000, \"bits\": 16}}}}",
         "unknown key 'inputs.image.audio.bits'"},
        {"{\"inputs\": []}", "key 'inputs'"},
        /* Checked against the model: */
        {"{\"inputs\": {\"pixels\": {\"image\": {\"width\": 8, \"height\": 8}}}}",
         "the model has no input 'pixels'"},
        {"{\"inputs\": {\"image\": {\"image\": {\"width\": 9, \"height\": 8, "
         "\"order\": \"gray\"}}}}",
         "preprocessing gives [1,72] but input 'image' is [-1,64]"},
        {"{\"inputs\": {\"image\": {\"audio\": {\"sample_rate\": 16000, \"frames\": 63}}}}",
         "'inputs.image.audio'"},
        {"{\"labels\": \"../names.txt\"}", "'labels' wants a file name relative"},
        {"{\"labels\": \"/etc/passwd\"}", "'labels' wants a file name relative"},
        {"{\"labels\": \"missing.txt\"}", "'labels': cannot open"},
        {"{\"labels\": \"bin.txt\"}", "not UTF-8 text"},
        {"{\"labels\": \"huge.txt\"}", "larger than 1048576 bytes"},
        {"{\"labels\": 3}", "'labels'"},
    };

    it_ref_load(&ref);
    start_media(&d, dir);
    put_file(dir, "digits", "bin.txt", "zero\none\x01\n");
    char *huge = malloc(1024 * 1024 + 2);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'a', 1024 * 1024 + 1);
    huge[1024 * 1024 + 1] = '\0';
    put_file(dir, "digits", "huge.txt", huge);
    free(huge);
    snprintf(cfg, sizeof cfg, "%s/digits/config.json", dir);
    ember_client *c = it_client(d.socket);
    membuf png = ref_png(&ref, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_file(dir, "digits", "config.json", bad[i].json);
        it_request(c, "POST", "/v2/repository/models/digits/load", "", &r);
        it_assert_error(&r, 400, bad[i].json);
        ck_assert_msg(strstr(r.body, cfg) && strstr(r.body, bad[i].want),
                      "config %s: want the file and \"%s\" in: %s", bad[i].json, bad[i].want,
                      r.body);
        ember_response_free(&r);
        /* The version loaded before still serves images. */
        post_body(c, "/v2/models/digits/infer", "image/png", png.p, png.len, &r);
        ck_assert_msg(r.status == 200, "%s", r.body);
        ember_response_free(&r);
    }
    /* A labels file with CRLF line ends and no final newline is read line by line. */
    put_file(dir, "digits", "crlf.txt",
             "zero\r\none\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix\r\nseven\r\neight\r\nnine");
    put_file(dir, "digits", "config.json", "{\"labels\": \"crlf.txt\"}");
    it_request(c, "POST", "/v2/repository/models/digits/load", "", &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    ember_response_free(&r);
    char *body = classify_body(&ref, 4, 1, "{\"classification\":10}");
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    check_classification(&r, &ref, 4, 1, DIGITS_OUT, 1);
    ember_response_free(&r);
    free(body);
    /* Without "inputs" now: images are refused, JSON still works. */
    post_body(c, "/v2/models/digits/infer", "image/png", png.p, png.len, &r);
    it_assert_error(&r, 415, "images after the config lost its inputs");
    ember_response_free(&r);
    free(png.p);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* The repository shipped in models/ (its digits config.json and labels) with the PNG of
 * sample.json: the docs' curl example. */
START_TEST(shipped_sample_png)
{
    emberd_proc d;
    ember_response r;
    size_t len;
    it_shipped_start(&d);
    ember_client *c = it_client(d.socket);
    char *png = it_read_file(it_source_path("models/digits/sample.png"), &len);
    char *expected = it_read_file(it_source_path("models/digits/sample.expected"), NULL);
    int digit = atoi(expected);
    post_body(c, "/v2/models/digits/infer?classification=1", "image/png", png, len, &r);
    ck_assert_msg(r.status == 200, "%s", r.body);
    cJSON *j = it_json(&r);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    const cJSON *top = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "data"), 0);
    double score;
    int index;
    char label[16];
    ck_assert_msg(cJSON_IsString(top) &&
                      sscanf(top->valuestring, "%lf:%d:%15s", &score, &index, label) == 3,
                  "%s", r.body);
    ck_assert_int_eq(index, digit);
    ck_assert_int_eq(atoi(label), digit);
    ck_assert_msg(score > 0.99, "%s", r.body);
    cJSON_Delete(j);
    ember_response_free(&r);
    free(expected);
    free(png);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* ---- Audio: ../shared's melspectrogram model, input [batch, samples] ---- */

#define MEL_RATE 16000
#define MEL_FRAMES 4000

static const char *mel_model(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", it_source_path("../shared/models/audio/melspectrogram.onnx"));
    return access(path, R_OK) == 0 ? path : NULL;
}

/* A 440 Hz tone rising to 1760 Hz, at most half scale. */
static void tone(int16_t *s, int frames, int channels)
{
    for (int i = 0; i < frames; i++)
        for (int ch = 0; ch < channels; ch++) {
            double t = (double)i / MEL_RATE;
            s[i * channels + ch] =
                (int16_t)(16000 * sin(2 * M_PI * (440 + 1320 * t / 0.25) * t) / (1 + ch));
        }
}

START_TEST(wav_same_as_json)
{
    const char *model = mel_model();
    if (!model) {
        fprintf(stderr, "wav_same_as_json: skipped, ../shared/models/audio/melspectrogram.onnx "
                        "is absent\n");
        return;
    }
    char dir[IT_DIR_MAX], path[PATH_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response a, b;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    put_digits(dir, "digits", image_cfg);
    snprintf(path, sizeof path, "%s/mel", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/mel/1", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/mel/1/model.onnx", dir);
    ck_assert_int_eq(symlink(model, path), 0);
    put_file(dir, "mel", "config.json",
             "{\"inputs\": {\"input\": {\"audio\": {\"sample_rate\": 16000, \"scale\": 32768}}}}");
    const char *const extra[] = {"--dev", "--models", dir, NULL};
    it_emberd_start(&d, extra, 0);
    ember_client *c = it_client(d.socket);

    int16_t *s = malloc(MEL_FRAMES * 2 * sizeof *s);
    ck_assert_ptr_nonnull(s);
    tone(s, MEL_FRAMES, 1);
    membuf wav = write_wav(MEL_RATE, 1, MEL_FRAMES, s);
    post_body(c, "/v2/models/mel/infer", "audio/wav", wav.p, wav.len, &a);
    /* scale 32768 undoes the decoder's 1/32768: the samples as they are. */
    char *json = malloc(MEL_FRAMES * 8 + 256);
    ck_assert_ptr_nonnull(json);
    int n = sprintf(json,
                    "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\","
                    "\"shape\":[1,%d],\"data\":[",
                    MEL_FRAMES);
    for (int i = 0; i < MEL_FRAMES; i++)
        n += sprintf(json + n, "%s%d", i ? "," : "", s[i]);
    sprintf(json + n, "]}]}");
    it_request(c, "POST", "/v2/models/mel/infer", json, &b);
    char *ta = outputs_text(&a), *tb = outputs_text(&b);
    ck_assert_msg(strcmp(ta, tb) == 0, "WAV and JSON answers differ");
    ck_assert_uint_gt(strlen(ta), 1000);
    free(ta);
    free(tb);
    ember_response_free(&a);
    ember_response_free(&b);
    free(wav.p);

    /* A stereo file into the mono model: channels averaged. */
    tone(s, MEL_FRAMES, 2);
    wav = write_wav(MEL_RATE, 2, MEL_FRAMES, s);
    post_body(c, "/v2/models/mel/infer", "audio/x-wav", wav.p, wav.len, &a);
    ck_assert_msg(a.status == 200, "%s", a.body);
    ember_response_free(&a);
    free(wav.p);

    /* The wrong sample rate, a truncated file, and an image to an audio model. */
    wav = write_wav(8000, 1, MEL_FRAMES, s);
    post_body(c, "/v2/models/mel/infer", "audio/wav", wav.p, wav.len, &a);
    it_assert_error(&a, 400, "8 kHz audio");
    ck_assert_msg(strstr(a.body, "sample rate 8000 Hz, the model wants 16000 Hz"), "%s", a.body);
    ember_response_free(&a);
    post_body(c, "/v2/models/mel/infer", "audio/wav", wav.p, 30, &a);
    it_assert_error(&a, 400, "a truncated WAV");
    ember_response_free(&a);
    post_body(c, "/v2/models/mel/infer", "image/png", wav.p, wav.len, &a);
    it_assert_error(&a, 415, "an image to an audio model");
    ember_response_free(&a);
    free(wav.p);
    free(json);
    free(s);
    ember_client_close(c);
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_media(void)
{
    Suite *s = suite_create("media");
    TCase *tc = it_tcase("media", 0);
    tcase_add_test(tc, png_same_as_json);
    tcase_add_test(tc, jpeg_recognised);
    tcase_add_test(tc, classification_json_and_raw);
    tcase_add_test(tc, media_with_cache_and_batching);
    tcase_add_test(tc, errors_and_still_serving);
    tcase_add_test(tc, raw_query_parameters);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, shipped_sample_png);
    tcase_add_test(tc, wav_same_as_json);
    suite_add_tcase(s, tc);
    return s;
}
