/*
 * emberctl against the real emberd: health (socket given before or after the command, or by
 * $EMBER_SOCKET), models, infer (JSON answer and --top), HTTP errors, an absent daemon, and
 * the help and usage paths with their exit statuses.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *emberctl_path(void)
{
    const char *p = getenv("EMBERCTL");
    ck_assert_msg(p && *p, "$EMBERCTL is not set: run through meson test");
    return p;
}

/* Run emberctl with args (NULL-terminated, without argv[0]); $EMBER_SOCKET unset unless
 * env_socket. */
static int ctl(const char *const *args, const char *env_socket, const char *stdin_path, char **out,
               char **err)
{
    const char *argv[16];
    static char env_buf[PATH_MAX + 16];
    const char *env[] = {"EMBER_SOCKET=", NULL};
    int n = 0;

    argv[n++] = emberctl_path();
    for (int i = 0; args[i]; i++) {
        ck_assert(n < 15);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    if (env_socket) {
        snprintf(env_buf, sizeof env_buf, "EMBER_SOCKET=%s", env_socket);
        env[0] = env_buf;
    }
    return it_run(argv, env, stdin_path, out, err);
}

static void assert_health_ok(int status, char *out, char *err)
{
    ck_assert_msg(status == 0, "emberctl health exited %d; stdout '%s' stderr '%s'", status, out,
                  err);
    ck_assert_msg(strstr(out, "live: yes") && strstr(out, "ready: yes"),
                  "emberctl health printed '%s'", out);
    free(out);
    free(err);
}

START_TEST(health_socket_before)
{
    char *out, *err;
    const char *args[] = {"--socket", it_daemon.socket, "health", NULL};
    int status = ctl(args, NULL, NULL, &out, &err);
    assert_health_ok(status, out, err);
}
END_TEST

START_TEST(health_socket_after)
{
    char *out, *err;
    const char *args[] = {"health", "--socket", it_daemon.socket, NULL};
    int status = ctl(args, NULL, NULL, &out, &err);
    assert_health_ok(status, out, err);
}
END_TEST

START_TEST(health_socket_from_env)
{
    char *out, *err;
    const char *args[] = {"health", NULL};
    int status = ctl(args, it_daemon.socket, NULL, &out, &err);
    assert_health_ok(status, out, err);
}
END_TEST

START_TEST(models_table)
{
    char *out, *err;
    const char *args[] = {"--socket", it_daemon.socket, "models", NULL};
    int status = ctl(args, NULL, NULL, &out, &err);

    ck_assert_msg(status == 0, "emberctl models exited %d: %s", status, err);
    ck_assert_msg(strstr(out, "NAME") && strstr(out, "VERSION") && strstr(out, "STATE"),
                  "no table header in '%s'", out);
    /* The digits row: name, version and state on one line. */
    const char *row = strstr(out, "\ndigits ");
    ck_assert_msg(row != NULL, "no digits row in '%s'", out);
    const char *eol = strchr(row + 1, '\n');
    ck_assert(eol != NULL);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(eol - row - 1), row + 1);
    ck_assert_msg(strstr(line, " 1 ") && strstr(line, "READY"), "digits row is '%s'", line);
    ck_assert_msg(strstr(out, "image") && strstr(out, "[-1, 64]"), "no input line in '%s'", out);
    ck_assert_msg(strstr(out, "probabilities") && strstr(out, "[-1, 10]"), "no output line in '%s'",
                  out);
    ck_assert_msg(strstr(out, "FP32") != NULL, "no datatype in '%s'", out);
    free(out);
    free(err);
}
END_TEST

static int expected_digit(void)
{
    char *text = it_read_file(it_source_path("models/digits/sample.expected"), NULL);
    int d = atoi(text);
    free(text);
    return d;
}

START_TEST(infer_top1)
{
    char *out, *err;
    char sample[PATH_MAX];
    snprintf(sample, sizeof sample, "%s", it_source_path("models/digits/sample.json"));
    const char *args[] = {"--socket", it_daemon.socket, "infer", "digits", "--json",
                          sample,     "--top",          "1",     NULL};
    int status = ctl(args, NULL, NULL, &out, &err);
    char want[32];

    ck_assert_msg(status == 0, "emberctl infer --top 1 exited %d: %s", status, err);
    snprintf(want, sizeof want, "class %d: ", expected_digit());
    ck_assert_msg(strstr(out, want) != NULL, "expected '%s' in '%s'", want, out);
    /* Exactly one class line for one row and --top 1. */
    ck_assert_msg(strstr(strstr(out, "class ") + 1, "class ") == NULL,
                  "--top 1 printed more than one class: '%s'", out);
    free(out);
    free(err);
}
END_TEST

/* A pinned version, --top over more classes than exist, one named output. */
START_TEST(infer_version_and_output)
{
    char *out, *err;
    char sample[PATH_MAX];
    snprintf(sample, sizeof sample, "%s", it_source_path("models/digits/sample.json"));
    const char *args[] = {"--socket", it_daemon.socket,  "infer", "digits", "--json",
                          sample,     "--model-version", "1",     "--top",  "12",
                          "--output", "probabilities",   NULL};
    int status = ctl(args, NULL, NULL, &out, &err);
    char want[32];

    ck_assert_msg(status == 0, "emberctl infer --model-version 1 exited %d: %s", status, err);
    ck_assert_msg(strncmp(out, "probabilities[0]:\n", 18) == 0, "output starts '%.40s'", out);
    snprintf(want, sizeof want, "  class %d: ", expected_digit());
    ck_assert_msg(strncmp(out + 18, want, strlen(want)) == 0, "best class is not first: '%s'", out);
    int lines = 0;
    for (const char *p = out; (p = strstr(p, "  class ")) != NULL; p++)
        lines++;
    ck_assert_msg(lines == DIGITS_OUT, "--top 12 printed %d classes, want all %d", lines,
                  DIGITS_OUT);
    free(out);
    free(err);

    const char *bad[] = {"--socket", it_daemon.socket, "infer", "digits", "--json", sample, "--top",
                         "1",        "--output",       "nope",  NULL};
    status = ctl(bad, NULL, NULL, &out, &err);
    ck_assert_msg(status == 1 && strstr(err, "nope"), "--output nope: exit %d, stderr '%s'", status,
                  err);
    free(out);
    free(err);

    const char *badver[] = {"--socket", it_daemon.socket,  "infer", "digits", "--json",
                            sample,     "--model-version", "9",     NULL};
    status = ctl(badver, NULL, NULL, &out, &err);
    ck_assert_msg(status == 1 && strstr(err, "404"), "--model-version 9: exit %d, stderr '%s'",
                  status, err);
    free(out);
    free(err);
}
END_TEST

/* Without --top the answer is printed as JSON; the request comes from standard input. */
START_TEST(infer_json_from_stdin)
{
    char *out, *err;
    char sample[PATH_MAX];
    snprintf(sample, sizeof sample, "%s", it_source_path("models/digits/sample.json"));
    const char *args[] = {"infer", "digits", "--json", "-", "--socket", it_daemon.socket, NULL};
    int status = ctl(args, NULL, sample, &out, &err);
    double p[DIGITS_OUT];

    ck_assert_msg(status == 0, "emberctl infer exited %d: %s", status, err);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "emberctl infer printed no JSON: '%.300s'", out);
    const cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "outputs"), 0);
    ck_assert_int_eq(it_flatten(cJSON_GetObjectItemCaseSensitive(o, "data"), p, DIGITS_OUT),
                     DIGITS_OUT);
    int best = 0;
    for (int k = 1; k < DIGITS_OUT; k++)
        if (p[k] > p[best])
            best = k;
    ck_assert_int_eq(best, expected_digit());
    cJSON_Delete(j);
    free(out);
    free(err);
}
END_TEST

/* An HTTP error: exit 1 and emberd's own message on stderr. */
START_TEST(infer_unknown_model)
{
    char *out, *err;
    char sample[PATH_MAX];
    snprintf(sample, sizeof sample, "%s", it_source_path("models/digits/sample.json"));
    const char *args[] = {"--socket", it_daemon.socket, "infer", "nope", "--json", sample, NULL};
    ember_response r;

    ember_client *c = it_client(it_daemon.socket);
    char *body = it_read_file(sample, NULL);
    it_request(c, "POST", "/v2/models/nope/infer", body, &r);
    it_assert_error(&r, 404, "infer on an unknown model");
    cJSON *j = it_json(&r);
    char message[512];
    snprintf(message, sizeof message, "%s",
             cJSON_GetObjectItemCaseSensitive(j, "error")->valuestring);
    cJSON_Delete(j);
    ember_response_free(&r);
    ember_client_close(c);
    free(body);

    int status = ctl(args, NULL, NULL, &out, &err);
    ck_assert_msg(status == 1, "emberctl infer nope exited %d (want 1): %s", status, err);
    ck_assert_msg(strstr(err, message) != NULL, "stderr '%s' lacks emberd's message '%s'", err,
                  message);
    ck_assert_msg(strstr(err, "404") != NULL, "stderr '%s' lacks the status", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(no_daemon)
{
    char dir[IT_DIR_MAX], sock[IT_SOCK_MAX], *out, *err;
    it_mkdtemp(dir);
    snprintf(sock, sizeof sock, "%s/absent.sock", dir);
    const char *args[] = {"--socket", sock, "health", NULL};
    int status = ctl(args, NULL, NULL, &out, &err);

    ck_assert_msg(status == 2, "emberctl health without a daemon exited %d (want 2)", status);
    ck_assert_msg(strstr(err, sock) != NULL, "stderr '%s' does not name the socket %s", err, sock);
    ck_assert_msg(strstr(err, "emberd running") != NULL, "stderr '%s' gives no hint", err);
    free(out);
    free(err);
}
END_TEST

typedef struct usage_case {
    const char *args[4];
    int status;
    const char *out_has; /* on stdout (exit 0) or stderr (exit 2) */
} usage_case;

static const usage_case usage_cases[] = {
    {{"--help", NULL}, 0, "health"},
    {{"--help", NULL}, 0, "infer"},
    {{"--help", NULL}, 0, "EMBER_SOCKET"},
    {{"help", "models", NULL}, 0, "Usage: emberctl"},
    {{"health", "--help", NULL}, 0, "Exit status"},
    {{"models", "--help", NULL}, 0, "/v2/repository/index"},
    {{"infer", "--help", NULL}, 0, "--top K"},
    {{"--version", NULL}, 0, "emberctl "},
    {{NULL}, 2, "no command"},
    {{"frobnicate", NULL}, 2, "unknown command"},
    {{"infer", "digits", NULL}, 2, "--json"},
    {{"infer", "--json", "x.json", NULL}, 2, "NAME"},
    {{"infer", "digits", "--json", NULL}, 2, "needs a value"},
    {{"health", "--bogus", NULL}, 2, "--bogus"},
    {{"health", "--socket", NULL}, 2, "--socket"},
};

START_TEST(usage)
{
    const usage_case *uc = &usage_cases[_i];
    char *out, *err;
    int status = ctl(uc->args, NULL, NULL, &out, &err);
    const char *where = uc->status == 0 ? out : err;

    ck_assert_msg(status == uc->status, "emberctl %s %s: exit %d, want %d; stderr '%s'",
                  uc->args[0] ? uc->args[0] : "", uc->args[0] && uc->args[1] ? uc->args[1] : "",
                  status, uc->status, err);
    ck_assert_msg(strstr(where, uc->out_has) != NULL, "emberctl %s: '%s' not in '%s'",
                  uc->args[0] ? uc->args[0] : "", uc->out_has, where);
    free(out);
    free(err);
}
END_TEST

Suite *it_suite_emberctl(void)
{
    Suite *s = suite_create("emberctl");
    TCase *tc = it_tcase("with-daemon", 1);
    TCase *alone = it_tcase("without-daemon", 0);

    tcase_add_test(tc, health_socket_before);
    tcase_add_test(tc, health_socket_after);
    tcase_add_test(tc, health_socket_from_env);
    tcase_add_test(tc, models_table);
    tcase_add_test(tc, infer_top1);
    tcase_add_test(tc, infer_version_and_output);
    tcase_add_test(tc, infer_json_from_stdin);
    tcase_add_test(tc, infer_unknown_model);
    tcase_add_test(alone, no_daemon);
    tcase_add_loop_test(alone, usage, 0, (int)(sizeof usage_cases / sizeof usage_cases[0]));
    suite_add_tcase(s, tc);
    suite_add_tcase(s, alone);
    return s;
}
