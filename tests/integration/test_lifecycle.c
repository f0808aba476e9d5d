/*
 * emberd's process life: starting on $EMBER_SOCKET, announcing its socket at every log level,
 * --help and --version, accepting the documented options (--dev, --models, --workers,
 * --queue) and refusing a bad command line, and shutting down on SIGTERM and SIGINT
 * with exit status 0 and the socket file removed, whether idle, with a kept-alive connection
 * open, with pipelined requests in flight (each answer that comes back must be whole and
 * right), or with a client stuck halfway through a request.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

START_TEST(sigterm_idle)
{
    emberd_proc d;
    it_emberd_start(&d, NULL, 0);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

START_TEST(sigint_idle)
{
    emberd_proc d;
    it_emberd_start(&d, NULL, 0);
    it_emberd_stop(&d, SIGINT);
}
END_TEST

/* An open, idle keep-alive connection must not keep emberd from exiting. */
START_TEST(sigterm_with_open_connection)
{
    emberd_proc d;
    ember_response r;

    it_emberd_start(&d, NULL, 0);
    ember_client *c = it_client(d.socket);
    it_request(c, "GET", "/v2/health/live", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ember_response_free(&r);
    it_emberd_stop(&d, SIGTERM);
    ember_client_close(c);
}
END_TEST

#define INFLIGHT 8

START_TEST(sigterm_with_requests_in_flight)
{
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    ember_err err;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);

    ck_assert(buf != NULL);
    it_ref_load(&ref);
    it_emberd_start(&d, NULL, 0);
    ember_client *c = it_client(d.socket);
    for (int i = 0; i < INFLIGHT; i++) {
        char *body = it_infer_body(&ref, 0, REF_N, NULL);
        len += (size_t)snprintf(buf + len, cap - len,
                                "POST /v2/models/digits/infer HTTP/1.1\r\nHost: localhost\r\n"
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                strlen(body), body);
        ck_assert(len < cap);
        free(body);
    }
    ck_assert_msg(ember_client_send_raw(c, buf, len, &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_client_recv_response(c, "POST", &r, &err) == 0, "%s", err.msg);
    it_assert_infer_ok(&r, &ref, 0, REF_N, NULL);
    int open = r.keep_alive;
    ember_response_free(&r);
    ck_assert(kill(d.pid, SIGTERM) == 0);

    /* Whatever else comes back must be complete and correct; the connection may end
     * between responses (best announced by "Connection: close"), not inside one. */
    int answered = 1;
    while (open && answered < INFLIGHT) {
        if (ember_client_recv_response(c, "POST", &r, &err) < 0) {
            ck_assert_msg(strstr(err.msg, "without answering") != NULL,
                          "after SIGTERM, response %d: %s", answered, err.msg);
            break;
        }
        it_assert_infer_ok(&r, &ref, 0, REF_N, NULL);
        open = r.keep_alive;
        ember_response_free(&r);
        answered++;
    }
    it_emberd_wait(&d, SIGTERM);
    ember_client_close(c);
    free(buf);
}
END_TEST

/* A client that sent half a request and went quiet must not keep emberd alive past its
 * shutdown grace. */
START_TEST(sigterm_with_half_request)
{
    static const char half[] = "POST /v2/models/digits/infer HTTP/1.1\r\nHost: localhost\r\n"
                               "Content-Length: 100\r\n\r\n{\"inputs\":";
    emberd_proc d;
    ember_err err;

    it_emberd_start(&d, NULL, 0);
    ember_client *c = it_client(d.socket);
    ck_assert_msg(ember_client_send_raw(c, half, sizeof half - 1, &err) == 0, "%s", err.msg);
    usleep(100 * 1000);
    it_emberd_stop(&d, SIGTERM);
    ember_client_close(c);
}
END_TEST

START_TEST(socket_from_environment)
{
    emberd_proc d;
    it_emberd_start(&d, NULL, 1);
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Each log level is accepted; once ready, emberd says where it listens on stderr. */
static const char *const log_levels[] = {"error", "warn", "info", "debug"};

START_TEST(announces_socket)
{
    const char *const args[] = {"--log-level", log_levels[_i], NULL};
    char logdir[IT_DIR_MAX], log[IT_DIR_MAX + 16], want[IT_SOCK_MAX + 32];
    emberd_proc d;

    it_mkdtemp(logdir);
    snprintf(log, sizeof log, "%s/stderr", logdir);
    it_emberd_start_logged(&d, args, 0, log);
    snprintf(want, sizeof want, "emberd: listening on %s\n", d.socket);
    char *text = it_read_file(log, NULL);
    ck_assert_msg(strstr(text, want) != NULL, "--log-level %s: stderr lacks '%s': '%.500s'",
                  log_levels[_i], want, text);
    free(text);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* The documented options are accepted and the built-in model is served with each. */
START_TEST(accepts_options)
{
    char models[IT_DIR_MAX];
    emberd_proc d;
    digits_ref ref;
    ember_response r;

    it_mkdtemp(models);
    const char *const sets[][6] = {
        {"--dev", NULL},
        {"--models", models, NULL},
        {"--workers", "2", "--queue", "4", NULL},
    };
    it_ref_load(&ref);
    it_emberd_start(&d, sets[_i], 0);
    ember_client *c = it_client(d.socket);
    char *body = it_infer_body(&ref, 5, 3, NULL);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 5, 3, NULL);
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* A compiled model.ember, sealed for this device, in --models DIR is served without --dev,
 * replacing the built-in digits; a plain model.onnx and an unsealed model.ember in other
 * folders are refused. */
START_TEST(serves_compiled_models_from_dir)
{
    char models[IT_DIR_MAX], vdir[IT_DIR_MAX + 64], out_path[IT_DIR_MAX + 80], *out, *err;
    char plain[IT_DIR_MAX + 16], keys[IT_DIR_MAX], key[IT_DIR_MAX + 16], pub[IT_DIR_MAX + 16];
    char trust[IT_DIR_MAX + 16], state[IT_DIR_MAX + 16];
    size_t len;
    emberd_proc d;
    digits_ref ref;
    ember_response r;

    it_mkdtemp(models);
    snprintf(vdir, sizeof vdir, "%s/digits", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(vdir, sizeof vdir, "%s/digits/1", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(out_path, sizeof out_path, "%s/model.ember", vdir);
    it_mkdtemp(keys);
    snprintf(plain, sizeof plain, "%s/plain.ember", keys);
    snprintf(trust, sizeof trust, "%s/trust", keys);
    snprintf(state, sizeof state, "%s/state", keys);
    snprintf(key, sizeof key, "%s/gw.key", keys);
    snprintf(pub, sizeof pub, "%s/gw.pub", keys);
    ck_assert_int_eq(mkdir(trust, 0755), 0);
    char sign[IT_DIR_MAX + 32];
    snprintf(sign, sizeof sign, "%s/release.key", trust);
    const char *const steps[][16] = {
        {getenv("EMBERCTL"), "compile", it_source_path("models/digits/1/model.onnx"), "-o", plain,
         NULL},
        {getenv("EMBERCTL"), "keygen", "--signer", "release", "-o", trust, NULL},
        {getenv("EMBERCTL"), "keygen", "--device", "gw", "-o", keys, NULL},
        {getenv("EMBERCTL"), "seal", plain, "--name", "digits", "--version", "1", "--sign", sign,
         "--to", pub, "-o", out_path, NULL},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ck_assert_int_eq(it_run(steps[i], NULL, NULL, &out, &err), 0);
        free(out);
        free(err);
    }
    snprintf(vdir, sizeof vdir, "%s/unsealed", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(vdir, sizeof vdir, "%s/unsealed/1", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(out_path, sizeof out_path, "%s/model.ember", vdir);
    char *compiled = it_read_file(plain, &len);
    it_write_file(out_path, compiled, len);
    free(compiled);
    snprintf(vdir, sizeof vdir, "%s/plain", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(vdir, sizeof vdir, "%s/plain/1", models);
    ck_assert_int_eq(mkdir(vdir, 0755), 0);
    snprintf(out_path, sizeof out_path, "%s/model.onnx", vdir);
    char *onnx = it_read_file(it_source_path("models/digits/1/model.onnx"), &len);
    FILE *f = fopen(out_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(onnx, 1, len, f), len);
    fclose(f);
    free(onnx);

    /* The last --log-level wins: info, to see which file was loaded. */
    const char *const extra[] = {"--models", models, "--log-level",  "info", "--trust", trust,
                                 "--state",  state,  "--device-key", key,    NULL};
    char log[IT_DIR_MAX + 16];
    snprintf(log, sizeof log, "%s/emberd.log", models);
    it_ref_load(&ref);
    it_emberd_start_logged(&d, extra, 0, log);
    ember_client *c = it_client(d.socket);
    char *body = it_infer_body(&ref, 0, 4, NULL);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    it_assert_infer_ok(&r, &ref, 0, 4, NULL);
    ember_response_free(&r);
    free(body);
    it_request(c, "GET", "/v2/models/plain", NULL, &r);
    it_assert_error(&r, 404, "a plain .onnx model without --dev");
    ember_response_free(&r);
    it_request(c, "GET", "/v2/models/unsealed", NULL, &r);
    it_assert_error(&r, 404, "an unsealed model.ember without --dev");
    ember_response_free(&r);
    ember_client_close(c);
    it_emberd_stop(&d, SIGTERM);
    /* The compiled file, not the built-in model, is what answered. */
    char *text = it_read_file(log, NULL);
    ck_assert_msg(strstr(text, "digits/1/model.ember") && strstr(text, "refusing") &&
                      strstr(text, "not a sealed bundle"),
                  "log: %.800s", text);
    free(text);
}
END_TEST

/* A bad command line is refused at once, with a message, and nothing is left listening. */
static const char *const bad_options[][3] = {
    {"--log-level", "loud", NULL},
    {"--no-such-option", NULL, NULL},
    {"--workers", "many", NULL},
};

START_TEST(rejects_bad_options)
{
    char dir[IT_DIR_MAX], sock[IT_SOCK_MAX], *out, *err;
    const char *argv[8] = {getenv("EMBERD"), "--socket", sock};
    int n = 3;

    ck_assert_msg(argv[0] != NULL, "$EMBERD is not set");
    it_mkdtemp(dir);
    snprintf(sock, sizeof sock, "%s/emberd.sock", dir);
    for (int i = 0; bad_options[_i][i]; i++)
        argv[n++] = bad_options[_i][i];
    argv[n] = NULL;
    int status = it_run(argv, NULL, NULL, &out, &err);
    ck_assert_msg(status != 0, "emberd %s %s exited 0", argv[3], argv[4] ? argv[4] : "");
    ck_assert_msg(strlen(err) > 0, "emberd %s: no message on stderr", argv[3]);
    ck_assert_msg(access(sock, F_OK) != 0, "emberd %s left a socket behind", argv[3]);
    free(out);
    free(err);
}
END_TEST

static const char *const info_flags[] = {"--help", "--version"};

START_TEST(help_and_version)
{
    const char *argv[] = {getenv("EMBERD"), info_flags[_i], NULL};
    char *out, *err;

    ck_assert_msg(argv[0] != NULL, "$EMBERD is not set");
    int status = it_run(argv, NULL, NULL, &out, &err);
    ck_assert_msg(status == 0, "emberd %s exited %d: %s", argv[1], status, err);
    ck_assert_msg(strlen(out) > 0, "emberd %s printed nothing on stdout", argv[1]);
    if (_i == 0)
        ck_assert_msg(strstr(out, "--socket") != NULL, "emberd --help does not mention --socket");
    free(out);
    free(err);
}
END_TEST

Suite *it_suite_lifecycle(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = it_tcase("lifecycle", 0);

    tcase_add_test(tc, sigterm_idle);
    tcase_add_test(tc, sigint_idle);
    tcase_add_test(tc, sigterm_with_open_connection);
    tcase_add_test(tc, sigterm_with_requests_in_flight);
    tcase_add_test(tc, sigterm_with_half_request);
    tcase_add_test(tc, socket_from_environment);
    tcase_add_loop_test(tc, help_and_version, 0, 2);
    tcase_add_loop_test(tc, announces_socket, 0, 4);
    tcase_add_loop_test(tc, accepts_options, 0, 3);
    tcase_add_test(tc, serves_compiled_models_from_dir);
    tcase_add_loop_test(tc, rejects_bad_options, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
