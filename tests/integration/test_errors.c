/*
 * Every error emberd promises, each followed by proof that the daemon still answers health:
 * 404 for unknown models, versions and paths; 400 for malformed JSON, wrong datatype, wrong
 * shape and wrong element count; 405 with Allow for a wrong method on a known path; 413 for a
 * body over the limit, both announced by Content-Length alone and actually sent.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* An "image" request with datatype dt, shape shape (JSON text) and n data values. */
static char *image_body(const char *dt, const char *shape, int n)
{
    size_t cap = 256 + (size_t)n * 4;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    size_t len = (size_t)snprintf(buf, cap,
                                  "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"%s\","
                                  "\"shape\":%s,\"data\":[",
                                  dt, shape);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", i % 17);
    snprintf(buf + len, cap - len, "]}]}");
    return buf;
}

typedef struct error_case {
    const char *method;
    const char *path;
    /* Body: literal text, or built by image_body when dt is set. */
    const char *body;
    const char *dt;
    const char *shape;
    int n;
    int status;
    const char *allow; /* for 405: a method the Allow header must list */
} error_case;

#define VALID_DT "FP32", "[1,64]", 64

static const error_case cases[] = {
    /* 404: unknown model, version or path */
    {"GET", "/v2/models/nope", NULL, NULL, NULL, 0, 404, NULL},
    {"GET", "/v2/models/nope/ready", NULL, NULL, NULL, 0, 404, NULL},
    {"POST", "/v2/models/nope/infer", NULL, VALID_DT, 404, NULL},
    {"GET", "/v2/models/digits/versions/7", NULL, NULL, NULL, 0, 404, NULL},
    {"POST", "/v2/models/digits/versions/7/infer", NULL, VALID_DT, 404, NULL},
    {"GET", "/nope", NULL, NULL, NULL, 0, 404, NULL},
    {"GET", "/v2/nope", NULL, NULL, NULL, 0, 404, NULL},
    {"GET", "/v2/health/nope", NULL, NULL, NULL, 0, 404, NULL},
    {"GET", "/v2/models/digits/nope", NULL, NULL, NULL, 0, 404, NULL},
    /* 400: malformed JSON or not a KServe request */
    {"POST", "/v2/models/digits/infer", "{\"inputs\": [", NULL, NULL, 0, 400, NULL},
    {"POST", "/v2/models/digits/infer", "not json", NULL, NULL, 0, 400, NULL},
    {"POST", "/v2/models/digits/infer", "", NULL, NULL, 0, 400, NULL},
    {"POST", "/v2/models/digits/infer", "{}", NULL, NULL, 0, 400, NULL},
    {"POST", "/v2/models/digits/infer", "[]", NULL, NULL, 0, 400, NULL},
    /* 400: wrong datatype */
    {"POST", "/v2/models/digits/infer", NULL, "INT32", "[1,64]", 64, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FP64", "[1,64]", 64, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FLOAT99", "[1,64]", 64, 400, NULL},
    /* 400: wrong shape (element count consistent with the shape) */
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[1,63]", 63, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[64]", 64, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[1,8,8]", 64, 400, NULL},
    /* 400: element count does not match the shape */
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[1,64]", 63, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[1,64]", 65, 400, NULL},
    {"POST", "/v2/models/digits/infer", NULL, "FP32", "[2,64]", 64, 400, NULL},
    /* 405 on known paths, with Allow */
    {"DELETE", "/v2/health/live", NULL, NULL, NULL, 0, 405, "GET"},
    {"POST", "/v2/health/ready", "{}", NULL, NULL, 0, 405, "GET"},
    {"POST", "/v2", "{}", NULL, NULL, 0, 405, "GET"},
    {"PUT", "/v2/models/digits", "{}", NULL, NULL, 0, 405, "GET"},
    {"DELETE", "/v2/models/digits/ready", NULL, NULL, NULL, 0, 405, "GET"},
    {"GET", "/v2/models/digits/infer", NULL, NULL, NULL, 0, 405, "POST"},
    {"GET", "/v2/repository/index", NULL, NULL, NULL, 0, 405, "POST"},
};

START_TEST(error_answer)
{
    const error_case *ec = &cases[_i];
    char what[256];
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;
    char *built = ec->dt ? image_body(ec->dt, ec->shape, ec->n) : NULL;
    const char *body = built ? built : ec->body;

    snprintf(what, sizeof what, "%s %s %.60s%s", ec->method, ec->path, body ? body : "",
             body && strlen(body) > 60 ? "..." : "");
    it_request(c, ec->method, ec->path, body, &r);
    it_assert_error(&r, ec->status, what);
    if (ec->allow) {
        const char *allow = ember_response_header(&r, "Allow");
        ck_assert_msg(allow && strstr(allow, ec->allow), "%s: Allow is '%s', should list %s", what,
                      allow ? allow : "(none)", ec->allow);
    }
    ember_response_free(&r);
    free(built);
    ember_client_close(c);
    it_assert_healthy(it_daemon.socket);
}
END_TEST

/* Announce a body one byte over the limit and send none of it: the 413 must come back
 * without waiting for 64 MiB. */
START_TEST(too_large_announced)
{
    char req[512];
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;
    ember_err err;

    snprintf(req, sizeof req,
             "POST /v2/models/digits/infer HTTP/1.1\r\nHost: localhost\r\n"
             "Content-Type: application/json\r\nContent-Length: %u\r\n\r\n",
             IT_MAX_BODY + 1);
    ck_assert_msg(ember_client_send_raw(c, req, strlen(req), &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_client_recv_response(c, "POST", &r, &err) == 0,
                  "no answer to a %u-byte Content-Length: %s", IT_MAX_BODY + 1, err.msg);
    it_assert_error(&r, 413, "Content-Length over the limit");
    ember_response_free(&r);
    ember_client_close(c);
    it_assert_healthy(it_daemon.socket);
}
END_TEST

/* Really send a body over the limit; the client must get the 413 whether emberd reads it
 * all or stops reading early. */
START_TEST(too_large_sent)
{
    size_t len = IT_MAX_BODY + 1024;
    char *body = malloc(len);
    ember_client *c = it_client(it_daemon.socket);
    ember_response r;
    ember_err err;

    ck_assert(body != NULL);
    memset(body, ' ', len);
    body[0] = '{';
    body[len - 1] = '}';
    ck_assert_msg(ember_client_post_json(c, "/v2/models/digits/infer", body, len, &r, &err) == 0,
                  "posting %zu bytes: %s", len, err.msg);
    it_assert_error(&r, 413, "body over the limit");
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
    it_assert_healthy(it_daemon.socket);
}
END_TEST

Suite *it_suite_errors(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = it_tcase("errors", 1);

    tcase_add_loop_test(tc, error_answer, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, too_large_announced);
    tcase_add_test(tc, too_large_sent);
    suite_add_tcase(s, tc);
    return s;
}
