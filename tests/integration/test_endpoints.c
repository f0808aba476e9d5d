/*
 * Every read-only endpoint of emberd's KServe v2 API, status and body: health, server
 * metadata, model metadata (with and without a version), model readiness, the repository
 * index, and HEAD wherever GET works.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void assert_json_ct(const ember_response *r, const char *what)
{
    const char *ct = ember_response_header(r, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "application/json", 16) == 0,
                  "%s: Content-Type is '%s', expected application/json", what, ct ? ct : "(none)");
}

/* GET path, assert 200 JSON, return the parsed body. */
static cJSON *get_ok(ember_client *c, const char *path)
{
    ember_response r;
    it_request(c, "GET", path, NULL, &r);
    ck_assert_msg(r.status == 200, "GET %s: HTTP %d: %.300s", path, r.status, r.body);
    assert_json_ct(&r, path);
    cJSON *j = it_json(&r);
    ember_response_free(&r);
    return j;
}

static const char *str_of(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

START_TEST(health_live)
{
    ember_client *c = it_client(it_daemon.socket);
    cJSON *j = get_ok(c, "/v2/health/live");
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "live")), "live is not true");
    cJSON_Delete(j);
    ember_client_close(c);
}
END_TEST

START_TEST(health_ready)
{
    ember_client *c = it_client(it_daemon.socket);
    cJSON *j = get_ok(c, "/v2/health/ready");
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ready")), "ready is not true");
    cJSON_Delete(j);
    ember_client_close(c);
}
END_TEST

START_TEST(server_metadata)
{
    ember_client *c = it_client(it_daemon.socket);
    cJSON *j = get_ok(c, "/v2");
    const char *want_version = getenv("EMBER_VERSION");

    ck_assert_str_eq(str_of(j, "name") ? str_of(j, "name") : "(missing)", "ember");
    ck_assert_msg(str_of(j, "version") && str_of(j, "version")[0], "version missing or empty");
    if (want_version)
        ck_assert_str_eq(str_of(j, "version"), want_version);
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(j, "extensions");
    ck_assert_msg(cJSON_IsArray(ext), "extensions is not an array");
    static const char *const want[] = {"model_repository", "binary_tensor_data",
                                       "classification"};
    ck_assert_int_eq(cJSON_GetArraySize(ext), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(ext, i);
        ck_assert_msg(cJSON_IsString(e), "extensions holds a non-string");
        ck_assert_str_eq(e->valuestring, want[i]);
    }
    cJSON_Delete(j);
    ember_client_close(c);
}
END_TEST

static void assert_io(const cJSON *list, const char *what, const char *name, int width)
{
    ck_assert_msg(cJSON_GetArraySize(list) == 1, "%s: expected one entry", what);
    const cJSON *io = cJSON_GetArrayItem(list, 0);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(io, "shape");
    ck_assert_str_eq(str_of(io, "name") ? str_of(io, "name") : "(missing)", name);
    ck_assert_str_eq(str_of(io, "datatype") ? str_of(io, "datatype") : "(missing)", "FP32");
    ck_assert_msg(cJSON_GetArraySize(shape) == 2, "%s: shape is not of rank 2", what);
    ck_assert_msg(cJSON_GetArrayItem(shape, 0)->valuedouble == -1 &&
                      cJSON_GetArrayItem(shape, 1)->valuedouble == width,
                  "%s: shape is not [-1, %d]", what, width);
}

static void assert_digits_metadata(const char *path)
{
    ember_client *c = it_client(it_daemon.socket);
    cJSON *j = get_ok(c, path);
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(j, "versions");

    ck_assert_str_eq(str_of(j, "name") ? str_of(j, "name") : "(missing)", DIGITS_NAME);
    ck_assert_str_eq(str_of(j, "platform") ? str_of(j, "platform") : "(missing)", "ember");
    ck_assert_msg(cJSON_GetArraySize(versions) == 1 &&
                      cJSON_IsString(cJSON_GetArrayItem(versions, 0)) &&
                      strcmp(cJSON_GetArrayItem(versions, 0)->valuestring, "1") == 0,
                  "%s: versions is not [\"1\"]", path);
    assert_io(cJSON_GetObjectItemCaseSensitive(j, "inputs"), "inputs", "image", DIGITS_IN);
    assert_io(cJSON_GetObjectItemCaseSensitive(j, "outputs"), "outputs", "probabilities",
              DIGITS_OUT);
    cJSON_Delete(j);
    ember_client_close(c);
}

START_TEST(model_metadata)
{
    assert_digits_metadata("/v2/models/digits");
}
END_TEST

START_TEST(model_version_metadata)
{
    assert_digits_metadata("/v2/models/digits/versions/1");
}
END_TEST

START_TEST(model_ready)
{
    ember_client *c = it_client(it_daemon.socket);
    cJSON *j = get_ok(c, "/v2/models/digits/ready");
    ck_assert_str_eq(str_of(j, "name") ? str_of(j, "name") : "(missing)", DIGITS_NAME);
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ready")), "ready not true");
    cJSON_Delete(j);
    ember_client_close(c);
}
END_TEST

/* KServe's index request body is optional: try "{}" and none at all. */
static const char *const index_bodies[] = {"{}", NULL};

START_TEST(repository_index)
{
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;
    const char *body = index_bodies[_i];

    it_request(c, "POST", "/v2/repository/index", body, &r);
    ck_assert_msg(r.status == 200, "POST /v2/repository/index (body %s): HTTP %d: %.300s",
                  body ? body : "empty", r.status, r.body);
    assert_json_ct(&r, "repository index");
    cJSON *j = it_json(&r);
    ck_assert_msg(cJSON_IsArray(j), "index is not an array: %.300s", r.body);
    int found = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        const char *name = str_of(e, "name");
        ck_assert_msg(name != NULL, "index entry without a name");
        if (strcmp(name, DIGITS_NAME) != 0)
            continue;
        found++;
        ck_assert_str_eq(str_of(e, "version") ? str_of(e, "version") : "(missing)", "1");
        ck_assert_str_eq(str_of(e, "state") ? str_of(e, "state") : "(missing)", "READY");
    }
    ck_assert_msg(found == 1, "digits appears %d times in the index: %.300s", found, r.body);
    cJSON_Delete(j);
    ember_response_free(&r);
    ember_client_close(c);
}
END_TEST

static const char *const head_paths[] = {
    "/v2/health/live",
    "/v2/health/ready",
    "/v2",
    "/v2/models/digits",
    "/v2/models/digits/versions/1",
    "/v2/models/digits/ready",
};

/* HEAD answers like GET without a body; the connection then still carries a GET (a HEAD
 * response with a stray body would corrupt it). */
START_TEST(head_like_get)
{
    ember_client *c = it_client(it_daemon.socket);
    const char *path = head_paths[_i];
    ember_response r;

    it_request(c, "HEAD", path, NULL, &r);
    ck_assert_msg(r.status == 200, "HEAD %s: HTTP %d", path, r.status);
    ck_assert_uint_eq(r.body_len, 0);
    ember_response_free(&r);

    it_request(c, "GET", path, NULL, &r);
    ck_assert_msg(r.status == 200, "GET %s after HEAD: HTTP %d: %.300s", path, r.status, r.body);
    cJSON_Delete(it_json(&r));
    ember_response_free(&r);
    ck_assert_uint_eq(ember_client_connect_count(c), 1);
    ember_client_close(c);
}
END_TEST

Suite *it_suite_endpoints(void)
{
    Suite *s = suite_create("endpoints");
    TCase *tc = it_tcase("endpoints", 1);

    tcase_add_test(tc, health_live);
    tcase_add_test(tc, health_ready);
    tcase_add_test(tc, server_metadata);
    tcase_add_test(tc, model_metadata);
    tcase_add_test(tc, model_version_metadata);
    tcase_add_test(tc, model_ready);
    tcase_add_loop_test(tc, repository_index, 0, 2);
    tcase_add_loop_test(tc, head_like_get, 0, (int)(sizeof head_paths / sizeof head_paths[0]));
    suite_add_tcase(s, tc);
    return s;
}
