/*
 * The model repository: MODELDIR/NAME/VERSION/model.onnx (--dev) with MODELDIR/NAME/
 * config.json, POST /v2/repository/models/NAME/load and /unload, metadata of every loaded
 * version, the config's keys and its errors (naming the file and the key), the versions
 * limit, and the hot swap: a new version loaded while clients keep inferring answers every
 * request (old requests on the old version, new ones on the new) and none fails.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* The most versions config.json may ask for (emberd's EMBERD_MAX_MODEL_VERSIONS). */
#define REPO_MAX_VERSIONS 16

static void post(ember_client *c, const char *path, ember_response *r)
{
    it_request(c, "POST", path, "", r);
}

/* Check a 200 answer of `name` to it_infer_body(ref, 0, 2, NULL) and return its version
 * (0 and a reason in why when it is wrong). */
static int infer_version(const ember_response *r, const digits_ref *ref, const char *name,
                         char *why, size_t why_len)
{
    double got[2 * DIGITS_OUT];
    int version = 0;
    cJSON *j = NULL;
    if (r->status != 200) {
        snprintf(why, why_len, "HTTP %d: %.200s", r->status, r->body);
        return 0;
    }
    j = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(j, "model_name");
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(j, "model_version");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(outs, 0), "data");
    if (!cJSON_IsString(mn) || strcmp(mn->valuestring, name) != 0 || !cJSON_IsString(mv) ||
        it_flatten(data, got, 2 * DIGITS_OUT) != 2 * DIGITS_OUT) {
        snprintf(why, why_len, "malformed answer: %.200s", r->body);
        goto out;
    }
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < DIGITS_OUT; k++)
            if (got[row * DIGITS_OUT + k] - ref->probs[row][k] > DIGITS_TOL ||
                ref->probs[row][k] - got[row * DIGITS_OUT + k] > DIGITS_TOL) {
                snprintf(why, why_len, "row %d class %d: %g, want %g", row, k,
                         got[row * DIGITS_OUT + k], ref->probs[row][k]);
                goto out;
            }
    version = atoi(mv->valuestring);
out:
    cJSON_Delete(j);
    return version;
}

static int infer_once(ember_client *c, const char *path, const digits_ref *ref, const char *name)
{
    ember_response r;
    char why[300] = "";
    char *body = it_infer_body(ref, 0, 2, NULL);
    it_request(c, "POST", path, body, &r);
    int v = infer_version(&r, ref, name, why, sizeof why);
    ck_assert_msg(v > 0, "POST %s: %s", path, why);
    ember_response_free(&r);
    free(body);
    return v;
}

/* The "versions" array of GET path, as a comma-separated string. */
static void metadata_versions(ember_client *c, const char *path, char *out, size_t cap)
{
    ember_response r;
    it_request(c, "GET", path, NULL, &r);
    ck_assert_msg(r.status == 200, "GET %s: %d %s", path, r.status, r.body);
    cJSON *j = it_json(&r);
    const cJSON *v, *versions = cJSON_GetObjectItemCaseSensitive(j, "versions");
    ck_assert(cJSON_IsArray(versions));
    out[0] = '\0';
    cJSON_ArrayForEach(v, versions)
    {
        ck_assert(cJSON_IsString(v));
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "," : "", v->valuestring);
    }
    cJSON_Delete(j);
    ember_response_free(&r);
}

START_TEST(load_new_version_and_unload)
{
    char dir[IT_DIR_MAX], versions[64];
    emberd_proc d;
    digits_ref ref;
    ember_response r;

    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "m", 1);
    it_repo_start(&d, dir, "1");
    ember_client *c = it_client(d.socket);

    ck_assert_int_eq(infer_once(c, "/v2/models/m/infer", &ref, "m"), 1);
    metadata_versions(c, "/v2/models/m", versions, sizeof versions);
    ck_assert_str_eq(versions, "1");

    it_repo_put_model(dir, "m", 2);
    post(c, "/v2/repository/models/m/load", &r);
    ck_assert_msg(r.status == 200, "load: %d %s", r.status, r.body);
    ember_response_free(&r);
    ck_assert_int_eq(infer_once(c, "/v2/models/m/infer", &ref, "m"), 2);
    metadata_versions(c, "/v2/models/m", versions, sizeof versions);
    ck_assert_str_eq(versions, "2");
    it_request(c, "GET", "/v2/models/m/versions/1", NULL, &r);
    it_assert_error(&r, 404, "a version no longer served");
    ember_response_free(&r);

    post(c, "/v2/repository/models/m/unload", &r);
    ck_assert_msg(r.status == 200, "unload: %d %s", r.status, r.body);
    ember_response_free(&r);
    it_request(c, "GET", "/v2/models/m", NULL, &r);
    it_assert_error(&r, 404, "an unloaded model's metadata");
    ember_response_free(&r);
    char *body = it_infer_body(&ref, 0, 2, NULL);
    it_request(c, "POST", "/v2/models/m/infer", body, &r);
    it_assert_error(&r, 404, "inferring an unloaded model");
    ember_response_free(&r);
    free(body);
    post(c, "/v2/repository/models/m/unload", &r);
    it_assert_error(&r, 404, "unloading twice");
    ember_response_free(&r);

    /* The built-in model is untouched, and the model loads again. */
    metadata_versions(c, "/v2/models/digits", versions, sizeof versions);
    ck_assert_str_eq(versions, "1");
    post(c, "/v2/repository/models/m/load", &r);
    ck_assert_msg(r.status == 200, "reload: %d %s", r.status, r.body);
    ember_response_free(&r);
    ck_assert_int_eq(infer_once(c, "/v2/models/m/infer", &ref, "m"), 2);

    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* config.json "versions": 2 (with comments) serves the two highest; each has metadata and
 * answers on its own path; the unversioned path is the highest. */
START_TEST(config_serves_several_versions)
{
    char dir[IT_DIR_MAX], versions[64];
    emberd_proc d;
    digits_ref ref;
    ember_response r;

    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "m", 1);
    it_repo_put_model(dir, "m", 2);
    it_repo_put_model(dir, "m", 3);
    it_repo_put_config(dir, "m", "/* keep two */ {\n  \"versions\": 2 // the highest two\n}\n");
    it_repo_start(&d, dir, "1");
    ember_client *c = it_client(d.socket);

    metadata_versions(c, "/v2/models/m", versions, sizeof versions);
    ck_assert_str_eq(versions, "3,2");
    metadata_versions(c, "/v2/models/m/versions/2", versions, sizeof versions);
    ck_assert_str_eq(versions, "2");
    metadata_versions(c, "/v2/models/m/versions/3", versions, sizeof versions);
    ck_assert_str_eq(versions, "3");
    it_request(c, "GET", "/v2/models/m/versions/1", NULL, &r);
    it_assert_error(&r, 404, "a version beyond config.json's count");
    ck_assert_msg(strstr(r.body, "3 2") != NULL, "404 should list the versions: %s", r.body);
    ember_response_free(&r);
    it_request(c, "GET", "/v2/models/m/versions/2/ready", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ember_response_free(&r);

    ck_assert_int_eq(infer_once(c, "/v2/models/m/infer", &ref, "m"), 3);
    ck_assert_int_eq(infer_once(c, "/v2/models/m/versions/2/infer", &ref, "m"), 2);

    /* The repository index lists each loaded version. */
    post(c, "/v2/repository/index", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "{\"name\":\"m\",\"version\":\"3\",\"state\":\"READY\"}") &&
                      strstr(r.body, "{\"name\":\"m\",\"version\":\"2\",\"state\":\"READY\"}"),
                  "index: %s", r.body);
    ember_response_free(&r);

    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Bad config.json files: the answer names the file and the key; the limit on "versions" is
 * crossed; the model keeps serving what it served before a failed load. */
START_TEST(config_errors_name_file_and_key)
{
    char dir[IT_DIR_MAX], cfg[PATH_MAX], log[PATH_MAX], versions[64];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"versoins\": 2}", "unknown key 'versoins'"},
        {"{\"versions\": 0}", "'versions'"},
        {"{\"versions\": 17}", "'versions'"},
        {"{\"versions\": 1.5}", "'versions'"},
        {"{\"versions\": \"2\"}", "'versions'"},
        {"[1]", "JSON object"},
        {"{\"versions\": ", "not valid JSON"},
    };

    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "m", 1);
    it_repo_put_model(dir, "bad", 1);
    it_repo_put_config(dir, "bad", "{\"colour\": 1}");
    snprintf(cfg, sizeof cfg, "%s/m/config.json", dir);
    snprintf(log, sizeof log, "%s/emberd.log", dir);
    const char *const extra[] = {"--dev", "--models", dir, NULL};
    it_emberd_start_logged(&d, extra, 0, log);
    ember_client *c = it_client(d.socket);

    /* At startup a bad config skips its model and the log says why. */
    it_request(c, "GET", "/v2/models/bad", NULL, &r);
    it_assert_error(&r, 404, "a model whose config.json is bad");
    ember_response_free(&r);
    char *text = it_read_file(log, NULL);
    ck_assert_msg(strstr(text, "bad/config.json: unknown key 'colour'"), "log: %s", text);
    free(text);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        it_repo_put_config(dir, "m", bad[i].json);
        post(c, "/v2/repository/models/m/load", &r);
        it_assert_error(&r, 400, bad[i].json);
        ck_assert_msg(strstr(r.body, cfg) && strstr(r.body, bad[i].want),
                      "config %s: want the file and \"%s\" in: %s", bad[i].json, bad[i].want,
                      r.body);
        ember_response_free(&r);
        ck_assert_int_eq(infer_once(c, "/v2/models/m/infer", &ref, "m"), 1);
    }
    /* REPO_MAX_VERSIONS is allowed (there is one version to serve). */
    snprintf(versions, sizeof versions, "{\"versions\": %d}", REPO_MAX_VERSIONS);
    it_repo_put_config(dir, "m", versions);
    post(c, "/v2/repository/models/m/load", &r);
    ck_assert_msg(r.status == 200, "versions %d: %d %s", REPO_MAX_VERSIONS, r.status, r.body);
    ember_response_free(&r);

    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(load_errors)
{
    char dir[IT_DIR_MAX], path[PATH_MAX];
    emberd_proc d;
    ember_response r;

    it_mkdtemp(dir);
    it_repo_put_model(dir, "broken", 1);
    snprintf(path, sizeof path, "%s/broken/1/model.onnx", dir);
    it_write_file(path, "not a model", 11);
    snprintf(path, sizeof path, "%s/empty", dir);
    mkdir(path, 0755);
    it_repo_start(&d, dir, "1");
    ember_client *c = it_client(d.socket);

    post(c, "/v2/repository/models/nosuch/load", &r);
    it_assert_error(&r, 404, "loading a model not in the repository");
    ember_response_free(&r);
    post(c, "/v2/repository/models/empty/load", &r);
    it_assert_error(&r, 404, "loading a model without versions");
    ember_response_free(&r);
    post(c, "/v2/repository/models/broken/load", &r);
    it_assert_error(&r, 400, "loading a corrupt model");
    ck_assert_msg(strstr(r.body, "broken/1/model.onnx") != NULL, "%s", r.body);
    ember_response_free(&r);
    post(c, "/v2/repository/models/-x/load", &r);
    it_assert_error(&r, 400, "loading a bad model name");
    ember_response_free(&r);
    it_request(c, "GET", "/v2/repository/models/broken/load", NULL, &r);
    it_assert_error(&r, 405, "GET on load");
    ck_assert_str_eq(ember_response_header(&r, "Allow"), "POST");
    ember_response_free(&r);
    post(c, "/v2/repository/models/broken/reload", &r);
    it_assert_error(&r, 404, "an unknown repository action");
    ember_response_free(&r);
    post(c, "/v2/repository/models/nosuch/unload", &r);
    it_assert_error(&r, 404, "unloading a model that is not loaded");
    ember_response_free(&r);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);

    /* Without --models there is no repository to load from. */
    it_emberd_start(&d, NULL, 0);
    c = it_client(d.socket);
    post(c, "/v2/repository/models/digits/load", &r);
    it_assert_error(&r, 404, "loading without a repository");
    ck_assert_msg(strstr(r.body, "--models") != NULL, "%s", r.body);
    ember_response_free(&r);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);

    /* Without --dev a plain model.onnx is refused, and the answer says why. */
    const char *const extra[] = {"--models", dir, NULL};
    it_repo_put_model(dir, "plain", 1);
    it_emberd_start(&d, extra, 0);
    c = it_client(d.socket);
    post(c, "/v2/repository/models/plain/load", &r);
    it_assert_error(&r, 400, "loading a plain .onnx without --dev");
    ck_assert_msg(strstr(r.body, "--dev") != NULL, "%s", r.body);
    ember_response_free(&r);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Hot swap under load: SWAP_CLIENTS connections infer without pause while the main thread
 * loads version 2, then unloads the model. Every answer before the unload is a correct 200;
 * a connection's versions never go backwards; once the load has answered, new requests run
 * on version 2; after the unload only 404s come back, never a failure. */
#define SWAP_CLIENTS 6
#define SWAP_MAX_REQUESTS 4000

typedef struct swap_client {
    const char *socket;
    const digits_ref *ref;
    volatile int *phase; /* 0 before load, 1 loaded, 2 unloaded, 3 stop */
    int v1, v2, gone;    /* read by the main thread with __atomic_load_n */
    int done;
    char why[320];
} swap_client;

static void *swap_client_main(void *arg)
{
    swap_client *s = arg;
    ember_client_opts opts = {.timeout_ms = IT_CLIENT_TIMEOUT_MS};
    ember_client *c;
    ember_err err;
    int last = 0;
    char *body = it_infer_body(s->ref, 0, 2, NULL);
    if (ember_client_open(s->socket, &opts, &c, &err) < 0) {
        snprintf(s->why, sizeof s->why, "connect: %s", err.msg);
        free(body);
        return NULL;
    }
    for (int i = 0; i < SWAP_MAX_REQUESTS && *s->phase < 3; i++) {
        ember_response r;
        int phase = __atomic_load_n(s->phase, __ATOMIC_SEQ_CST);
        if (ember_client_post_json(c, "/v2/models/m/infer", body, strlen(body), &r, &err) < 0) {
            snprintf(s->why, sizeof s->why, "request %d: %s", i, err.msg);
            break;
        }
        if (r.status == 404 && phase >= 1) {
            __atomic_add_fetch(&s->gone, 1, __ATOMIC_SEQ_CST); /* the unload overtook it */
            last = 3;
            ember_response_free(&r);
            continue;
        }
        if (phase >= 2) {
            snprintf(s->why, sizeof s->why, "request %d after the unload: HTTP %d %.200s", i,
                     r.status, r.body);
            ember_response_free(&r);
            break;
        }
        int v = infer_version(&r, s->ref, "m", s->why, sizeof s->why);
        ember_response_free(&r);
        if (v == 0 || v < last || (phase >= 1 && v != 2) || last == 3) {
            if (s->why[0] == '\0')
                snprintf(s->why, sizeof s->why, "request %d (phase %d): version %d after %d", i,
                         phase, v, last);
            break;
        }
        last = v;
        __atomic_add_fetch(v == 1 ? &s->v1 : &s->v2, 1, __ATOMIC_SEQ_CST);
    }
    ember_client_close(c);
    free(body);
    __atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int sc_done(swap_client *s)
{
    return __atomic_load_n(&s->done, __ATOMIC_SEQ_CST);
}

START_TEST(hot_swap_under_load)
{
    char dir[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    volatile int phase = 0;
    swap_client sc[SWAP_CLIENTS];
    pthread_t th[SWAP_CLIENTS];

    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_repo_put_model(dir, "m", 1);
    it_repo_start(&d, dir, "2");
    ember_client *c = it_client(d.socket);
    for (int i = 0; i < SWAP_CLIENTS; i++) {
        sc[i] = (swap_client){.socket = d.socket, .ref = &ref, .phase = &phase};
        ck_assert(pthread_create(&th[i], NULL, swap_client_main, &sc[i]) == 0);
    }
    /* Let every client see version 1 at least once. */
    for (int i = 0; i < SWAP_CLIENTS; i++)
        while (!__atomic_load_n(&sc[i].v1, __ATOMIC_SEQ_CST) && !sc_done(&sc[i]))
            usleep(1000);

    it_repo_put_model(dir, "m", 2);
    post(c, "/v2/repository/models/m/load", &r);
    ck_assert_msg(r.status == 200, "load: %d %s", r.status, r.body);
    ember_response_free(&r);
    __atomic_store_n(&phase, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SWAP_CLIENTS; i++)
        while (!__atomic_load_n(&sc[i].v2, __ATOMIC_SEQ_CST) && !sc_done(&sc[i]))
            usleep(1000);

    post(c, "/v2/repository/models/m/unload", &r);
    ck_assert_msg(r.status == 200, "unload: %d %s", r.status, r.body);
    ember_response_free(&r);
    __atomic_store_n(&phase, 2, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SWAP_CLIENTS; i++)
        while (!__atomic_load_n(&sc[i].gone, __ATOMIC_SEQ_CST) && !sc_done(&sc[i]))
            usleep(1000);
    __atomic_store_n(&phase, 3, __ATOMIC_SEQ_CST);

    for (int i = 0; i < SWAP_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(sc[i].why[0] == '\0', "client %d: %s", i, sc[i].why);
        ck_assert(sc[i].v1 > 0 && sc[i].v2 > 0 && sc[i].gone > 0);
    }
    it_assert_healthy(d.socket);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_repository(void)
{
    Suite *s = suite_create("repository");
    TCase *tc = it_tcase("repository", 0);
    tcase_add_test(tc, load_new_version_and_unload);
    tcase_add_test(tc, config_serves_several_versions);
    tcase_add_test(tc, config_errors_name_file_and_key);
    tcase_add_test(tc, load_errors);
    tcase_add_test(tc, hot_swap_under_load);
    suite_add_tcase(s, tc);
    return s;
}
