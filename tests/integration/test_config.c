/*
 * emberd's configuration file: --config FILE (JSON with comments) sets what the flags set,
 * flags override it, --check-config names the bad key (or the bad model config.json) and
 * exits 2, a bad file stops the start with exit 2, the file's size limit is crossed, and
 * SIGHUP reads the file again and rescans the model directory (new models appear, removed
 * ones go) while a bad file on SIGHUP changes nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* emberd's EMBERD_MAX_CONFIG_FILE. */
#define CFG_MAX_BYTES (64 * 1024)
/* How long SIGHUP's rescan may take to show, polled every 10 ms. */
#define CFG_RESCAN_POLLS 1000

static void write_text(const char *path, const char *text)
{
    it_write_file(path, text, strlen(text));
}

static void remove_model(const char *dir, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s/1/model.onnx", dir, name);
    ck_assert(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/%s/1", dir, name);
    ck_assert(rmdir(path) == 0);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert(rmdir(path) == 0);
}

static int model_status(const char *sock, const char *name)
{
    char path[128];
    ember_response r;
    ember_client *c = it_client(sock);
    snprintf(path, sizeof path, "/v2/models/%s", name);
    it_request(c, "GET", path, NULL, &r);
    int status = r.status;
    ember_response_free(&r);
    ember_client_close(c);
    return status;
}

/* Run emberd with args; return its exit status, its stderr in *err (caller frees). */
static int run_emberd(const char *const *args, char **out, char **err)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = getenv("EMBERD");
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return it_run(argv, NULL, NULL, out, err);
}

START_TEST(check_config)
{
    char dir[IT_DIR_MAX], cfg[PATH_MAX], models[PATH_MAX], text[PATH_MAX + 256], *out, *err;
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"wrokers\": 1}", "unknown key 'wrokers'"},
        {"{\"workers\": 0}", "key 'workers'"},
        {"{\"workers\": 257}", "key 'workers'"},
        {"{\"queue\": 65537}", "key 'queue'"},
        {"{\"inline_max_us\": 1000001}", "key 'inline_max_us'"},
        {"{\"inline_max_us\": -1}", "key 'inline_max_us'"},
        {"{\"log_level\": \"loud\"}", "key 'log_level'"},
        {"{\"dev\": \"yes\"}", "key 'dev'"},
        {"{\"socket\": \"\"}", "key 'socket'"},
        {"{\"models\": 3}", "key 'models'"},
        {"{\"workers\": ", "not valid JSON"},
        {"[]", "JSON object"},
    };

    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    snprintf(models, sizeof models, "%s/models", dir);
    mkdir(models, 0755);
    it_repo_put_model(models, "m", 1);
    snprintf(text, sizeof text,
             "/* every key */ {\n \"socket\": \"%s/s.sock\", \"models\": \"%s\", // repo\n"
             " \"dev\": true, \"workers\": 256, \"queue\": 65536, \"log_level\": \"debug\"}\n",
             dir, models);
    write_text(cfg, text);
    const char *const check[] = {"--config", cfg, "--check-config", NULL};
    ck_assert_int_eq(run_emberd(check, &out, &err), 0);
    ck_assert_msg(strstr(out, "configuration OK"), "stdout: %s", out);
    free(out);
    free(err);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(cfg, bad[i].json);
        int rc = run_emberd(check, &out, &err);
        ck_assert_msg(rc == 2 && strstr(err, cfg) && strstr(err, bad[i].want),
                      "%s: exit %d, want 2 and \"%s\" in: %s", bad[i].json, rc, bad[i].want, err);
        free(out);
        free(err);
    }

    /* Starting with a bad file fails the same way, before listening. */
    const char *const start[] = {"--config", cfg, NULL};
    write_text(cfg, "{\"wrokers\": 1}");
    ck_assert_int_eq(run_emberd(start, &out, &err), 2);
    ck_assert_msg(strstr(err, "unknown key 'wrokers'"), "%s", err);
    free(out);
    free(err);

    /* The size limit: one byte over is refused. */
    char *big = malloc(CFG_MAX_BYTES + 2);
    ck_assert(big != NULL);
    memset(big, ' ', CFG_MAX_BYTES + 1);
    big[0] = '{';
    big[CFG_MAX_BYTES] = '}';
    big[CFG_MAX_BYTES + 1] = '\0';
    write_text(cfg, big);
    ck_assert_int_eq(run_emberd(check, &out, &err), 2);
    ck_assert_msg(strstr(err, "larger than"), "%s", err);
    free(out);
    free(err);
    big[CFG_MAX_BYTES - 1] = '}';
    big[CFG_MAX_BYTES] = '\0';
    write_text(cfg, big);
    ck_assert_int_eq(run_emberd(check, &out, &err), 0);
    free(out);
    free(err);
    free(big);

    /* A model's bad config.json is found too. */
    snprintf(text, sizeof text, "{\"models\": \"%s\"}", models);
    write_text(cfg, text);
    snprintf(text, sizeof text, "%s/m/config.json", models);
    write_text(text, "{\"versions\": 1, \"batch\": 4}");
    ck_assert_int_eq(run_emberd(check, &out, &err), 2);
    ck_assert_msg(strstr(err, text) && strstr(err, "unknown key 'batch'"), "%s", err);
    free(out);
    free(err);
}
END_TEST

START_TEST(file_settings_and_flag_override)
{
    char dir[IT_DIR_MAX], cfg[PATH_MAX], a[PATH_MAX], b[PATH_MAX], text[2 * PATH_MAX];
    emberd_proc d;

    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0755);
    mkdir(b, 0755);
    it_repo_put_model(a, "from_a", 1);
    it_repo_put_model(b, "from_b", 1);
    snprintf(text, sizeof text, "{\"models\": \"%s\", /* plain onnx */ \"dev\": true}", a);
    write_text(cfg, text);

    const char *const file_only[] = {"--config", cfg, NULL};
    it_emberd_start(&d, file_only, 0);
    ck_assert_int_eq(model_status(d.socket, "from_a"), 200);
    ck_assert_int_eq(model_status(d.socket, "from_b"), 404);
    it_emberd_stop(&d, SIGTERM);

    const char *const overridden[] = {"--config", cfg, "--models", b, NULL};
    it_emberd_start(&d, overridden, 0);
    ck_assert_int_eq(model_status(d.socket, "from_a"), 404);
    ck_assert_int_eq(model_status(d.socket, "from_b"), 200);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Poll until GET /v2/models/name answers want. */
static void wait_status(const char *sock, const char *name, int want)
{
    int got = 0;
    for (int i = 0; i < CFG_RESCAN_POLLS && (got = model_status(sock, name)) != want; i++)
        usleep(10 * 1000);
    ck_assert_msg(got == want, "GET /v2/models/%s: %d, want %d", name, got, want);
}

START_TEST(sighup_reloads)
{
    char dir[IT_DIR_MAX], cfg[PATH_MAX], a[PATH_MAX], b[PATH_MAX], text[2 * PATH_MAX];
    emberd_proc d;

    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0755);
    mkdir(b, 0755);
    it_repo_put_model(a, "old", 1);
    it_repo_put_model(b, "other", 1);
    snprintf(text, sizeof text, "{\"models\": \"%s\", \"dev\": true}", a);
    write_text(cfg, text);
    const char *const args[] = {"--config", cfg, NULL};
    it_emberd_start(&d, args, 0);
    ck_assert_int_eq(model_status(d.socket, "old"), 200);

    /* The directory changes: SIGHUP picks up the new model and drops the removed one. */
    it_repo_put_model(a, "new", 1);
    remove_model(a, "old");
    ck_assert(kill(d.pid, SIGHUP) == 0);
    wait_status(d.socket, "new", 200);
    wait_status(d.socket, "old", 404);

    /* The file changes: a new repository replaces the old one's models. */
    snprintf(text, sizeof text, "// moved\n{\"models\": \"%s\", \"dev\": true}", b);
    write_text(cfg, text);
    ck_assert(kill(d.pid, SIGHUP) == 0);
    wait_status(d.socket, "other", 200);
    wait_status(d.socket, "new", 404);
    ck_assert_int_eq(model_status(d.socket, "digits"), 200);

    /* A bad file changes nothing and emberd keeps serving. */
    write_text(cfg, "{\"modles\": \"/nowhere\"}");
    ck_assert(kill(d.pid, SIGHUP) == 0);
    usleep(50 * 1000);
    ck_assert_int_eq(model_status(d.socket, "other"), 200);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

Suite *it_suite_config(void)
{
    Suite *s = suite_create("config");
    TCase *tc = it_tcase("config", 0);
    tcase_add_test(tc, check_config);
    tcase_add_test(tc, file_settings_and_flag_override);
    tcase_add_test(tc, sighup_reloads);
    suite_add_tcase(s, tc);
    return s;
}
