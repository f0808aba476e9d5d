/*
 * Sealed models and the socket ACL, end to end: keys made by 'emberctl keygen', bundles made by
 * 'emberctl seal', the real emberd serving them from its model directory. A sealed model is
 * served; a tampered bundle, an older version after a newer one (also across a restart with
 * the same --state), a bundle for another device and one deployed under another name are
 * refused while the daemon keeps serving what it had; no file the daemon wrote holds any
 * 64-byte run of the plaintext model. The ACL: a client running as another uid gets 403 for
 * a role it lacks and 200 for one it has.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534 /* uid and gid the ACL tests connect as */
#define RUN_BYTES 64 /* a plaintext run this long must appear in no file the daemon wrote */

/* Keys, the compiled model and a trust store in one folder. */
typedef struct sec_env {
    char dir[IT_DIR_MAX];
    char models[IT_DIR_MAX + 16], state[IT_DIR_MAX + 16], trust[IT_DIR_MAX + 16];
    char device_key[IT_DIR_MAX + 16], plain[IT_DIR_MAX + 16], log[IT_DIR_MAX + 16];
} sec_env;

static void run_ok(const char *const *argv)
{
    char *out, *err;
    int rc = it_run(argv, NULL, NULL, &out, &err);
    ck_assert_msg(rc == 0, "%s %s: exit %d: %s%s", argv[0], argv[1], rc, out, err);
    free(out);
    free(err);
}

static void sec_env_make(sec_env *e)
{
    const char *ctl = getenv("EMBERCTL");
    it_mkdtemp(e->dir);
    snprintf(e->models, sizeof e->models, "%s/models", e->dir);
    snprintf(e->state, sizeof e->state, "%s/state", e->dir);
    snprintf(e->trust, sizeof e->trust, "%s/trust", e->dir);
    snprintf(e->device_key, sizeof e->device_key, "%s/gw.key", e->dir);
    snprintf(e->plain, sizeof e->plain, "%s/m.ember", e->dir);
    snprintf(e->log, sizeof e->log, "%s/emberd.log", e->dir);
    ck_assert_int_eq(mkdir(e->models, 0755), 0);
    const char *signer[] = {ctl, "keygen", "--signer", "release", "-o", e->trust, NULL};
    ck_assert_int_eq(mkdir(e->trust, 0755), 0);
    run_ok(signer);
    const char *gw[] = {ctl, "keygen", "--device", "gw", "-o", e->dir, NULL};
    run_ok(gw);
    const char *other[] = {ctl, "keygen", "--device", "other", "-o", e->dir, NULL};
    run_ok(other);
    const char *compile[] = {ctl,  "compile", it_source_path("models/digits/1/model.onnx"),
                             "-o", e->plain,  NULL};
    run_ok(compile);
}

/* Seal the compiled model as name/version for device ("gw" or "other") and place it at
 * models/dir_name/version/model.ember. */
static void deploy(const sec_env *e, const char *name, int version, const char *device,
                   const char *dir_name)
{
    char v[16], sign[IT_DIR_MAX + 32], to[IT_DIR_MAX + 32], path[IT_DIR_MAX + 96];
    snprintf(v, sizeof v, "%d", version);
    snprintf(sign, sizeof sign, "%s/release.key", e->trust);
    snprintf(to, sizeof to, "%s/%s.pub", e->dir, device);
    snprintf(path, sizeof path, "%s/%s", e->models, dir_name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%d", e->models, dir_name, version);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%d/model.ember", e->models, dir_name, version);
    const char *seal[] = {getenv("EMBERCTL"), "seal", e->plain, "--name", name, "--version", v,
                          "--sign",           sign,   "--to",   to,       "-o", path,        NULL};
    run_ok(seal);
}

static void start(const sec_env *e, emberd_proc *d, const char *level)
{
    const char *const extra[] = {
        "--models",     e->models,     "--trust",     e->trust, "--state", e->state,
        "--device-key", e->device_key, "--log-level", level,    NULL};
    it_emberd_start_logged(d, extra, 0, e->log);
}

/* GET /v2/models/NAME must be 404: the daemon did not take it (why says which case). */
static void assert_not_served(const char *sock, const char *name, const char *why)
{
    char path[96];
    ember_response r;
    snprintf(path, sizeof path, "/v2/models/%s", name);
    ember_client *c = it_client(sock);
    it_request(c, "GET", path, NULL, &r);
    it_assert_error(&r, 404, why);
    ember_response_free(&r);
    ember_client_close(c);
}

/* Infer on m and check the answer names m and version. */
static void assert_serves(const char *sock, const char *version)
{
    digits_ref ref;
    ember_response r;
    it_ref_load(&ref);
    ember_client *c = it_client(sock);
    char *body = it_infer_body(&ref, 0, 2, NULL);
    it_request(c, "POST", "/v2/models/m/infer", body, &r);
    ck_assert_msg(r.status == 200, "infer m: %d %s", r.status, r.body);
    cJSON *j = it_json(&r);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "model_name")->valuestring, "m");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "model_version")->valuestring, version);
    cJSON_Delete(j);
    ember_response_free(&r);
    free(body);
    ember_client_close(c);
}

static void assert_log_has(const sec_env *e, const char *what)
{
    char *text = it_read_file(e->log, NULL);
    ck_assert_msg(strstr(text, what) != NULL, "'%s' not in the log: %.1500s", what, text);
    free(text);
}

/* POST load m, expecting status and a message containing what. */
static void load_expect(const char *sock, int status, const char *what)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "POST", "/v2/repository/models/m/load", NULL, &r);
    ck_assert_msg(r.status == status && (!what || strstr(r.body, what)), "load m: %d %s", r.status,
                  r.body);
    ember_response_free(&r);
    ember_client_close(c);
}

/* 1 when some RUN_BYTES-long run of plain occurs in the file at path. */
static int file_has_run(const char *path, const char *plain, size_t plen)
{
    size_t len;
    char *text = it_read_file(path, &len);
    int found = 0;
    for (size_t off = 0; !found && len >= RUN_BYTES && off + RUN_BYTES <= plen; off++)
        found = memmem(text, len, plain + off, RUN_BYTES) != NULL;
    free(text);
    return found;
}

/* Check every regular file directly in dir; returns how many were checked. */
static int dir_has_no_run(const char *dir, const char *plain, size_t plen)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        ck_assert_msg(!file_has_run(path, plain, plen), "%s holds plaintext of the model", path);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(sealed_model_served_and_plaintext_written_nowhere)
{
    sec_env e;
    emberd_proc d;
    sec_env_make(&e);
    deploy(&e, "m", 1, "gw", "m");
    start(&e, &d, "debug");
    assert_serves(d.socket, "1");
    load_expect(d.socket, 200, "READY");
    assert_serves(d.socket, "1");
    ember_client *c = it_client(d.socket);
    ember_response r;
    it_request(c, "GET", "/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ember_response_free(&r);
    ember_client_close(c);

    /* The floor is recorded, in a private directory. */
    char path[IT_DIR_MAX + 32];
    snprintf(path, sizeof path, "%s/m.floor", e.state);
    char *floor = it_read_file(path, NULL);
    ck_assert_str_eq(floor, "1\n");
    free(floor);
    struct stat st;
    ck_assert_int_eq(stat(e.state, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);

    /* Sanity: the check finds the plaintext where it is (the compiled model itself). */
    size_t plen;
    char *plain = it_read_file(e.plain, &plen);
    ck_assert(file_has_run(e.plain, plain, plen));
    dir_has_no_run(d.dir, plain, plen); /* the socket's directory goes with the daemon */
    it_emberd_stop(&d, SIGTERM);
    assert_log_has(&e, "serving m version 1");
    assert_log_has(&e, "KiB locked in RAM)"); /* what LimitMEMLOCK= must leave room for */
    ck_assert(!file_has_run(e.log, plain, plen));
    ck_assert_int_ge(dir_has_no_run(e.state, plain, plen), 1);
    free(plain);
}
END_TEST

/* Flip one byte in the middle of a file (the ciphertext of a bundle). */
static void flip_middle(const char *path)
{
    size_t len;
    char *b = it_read_file(path, &len);
    b[len / 2] ^= 0x01;
    it_write_file(path, b, len);
    free(b);
}

START_TEST(tampered_bundle_refused_keeps_serving)
{
    sec_env e;
    emberd_proc d;
    sec_env_make(&e);
    deploy(&e, "m", 1, "gw", "m");
    start(&e, &d, "info");
    assert_serves(d.socket, "1");

    char path[IT_DIR_MAX + 64];
    deploy(&e, "m", 2, "gw", "m");
    snprintf(path, sizeof path, "%s/m/2/model.ember", e.models);
    flip_middle(path);
    load_expect(d.socket, 400, "signature");
    assert_serves(d.socket, "1");
    it_emberd_stop(&d, SIGTERM);

    /* At startup: m is refused (its newest version is bad) and the rest is served. */
    start(&e, &d, "info");
    assert_not_served(d.socket, "m", "a tampered bundle at startup");
    it_assert_healthy(d.socket);
    it_emberd_stop(&d, SIGTERM);
    assert_log_has(&e, "signature");
}
END_TEST

START_TEST(older_version_refused_also_after_restart)
{
    sec_env e;
    emberd_proc d;
    sec_env_make(&e);
    deploy(&e, "m", 2, "gw", "m");
    start(&e, &d, "info");
    assert_serves(d.socket, "2");

    /* Version 2 is replaced on disk by a valid version 1: refused, 2 keeps serving. */
    char path[IT_DIR_MAX + 64];
    snprintf(path, sizeof path, "%s/m/2/model.ember", e.models);
    ck_assert_int_eq(unlink(path), 0);
    snprintf(path, sizeof path, "%s/m/2", e.models);
    ck_assert_int_eq(rmdir(path), 0);
    deploy(&e, "m", 1, "gw", "m");
    load_expect(d.socket, 400, "rollback");
    assert_serves(d.socket, "2");
    it_emberd_stop(&d, SIGTERM);

    /* A restart with the same --state remembers the floor. */
    start(&e, &d, "info");
    assert_not_served(d.socket, "m", "an older version after a restart");
    it_emberd_stop(&d, SIGTERM);
    assert_log_has(&e, "rollback refused");
}
END_TEST

START_TEST(bundle_for_another_device_or_name_refused)
{
    sec_env e;
    emberd_proc d;
    sec_env_make(&e);
    deploy(&e, "m", 1, "other", "m");
    deploy(&e, "m", 1, "gw", "n"); /* a valid bundle of m, placed as n */
    start(&e, &d, "info");
    assert_not_served(d.socket, "m", "a bundle for another device");
    assert_not_served(d.socket, "n", "a bundle under another name");
    load_expect(d.socket, 400, "not sealed to this device");

    /* Sealed to this device now: served. */
    char path[IT_DIR_MAX + 64];
    snprintf(path, sizeof path, "%s/m/1/model.ember", e.models);
    ck_assert_int_eq(unlink(path), 0);
    deploy(&e, "m", 1, "gw", "m");
    load_expect(d.socket, 200, "READY");
    assert_serves(d.socket, "1");
    it_emberd_stop(&d, SIGTERM);
    assert_log_has(&e, "not n version 1");
}
END_TEST

/* Sealed models need the trust store, the device key and the state together; a bundle
 * without them is refused with a message that says what is missing. */
START_TEST(security_settings_checked)
{
    sec_env e;
    sec_env_make(&e);
    const char *partial[] = {getenv("EMBERD"), "--socket", "/nonexistent/s.sock",
                             "--trust",        e.trust,    NULL};
    char *out, *err;
    ck_assert_int_eq(it_run(partial, NULL, NULL, &out, &err), 2);
    ck_assert_msg(strstr(err, "--device-key") != NULL, "%s", err);
    free(out);
    free(err);

    deploy(&e, "m", 1, "gw", "m");
    emberd_proc d;
    const char *const extra[] = {"--models", e.models, NULL};
    it_emberd_start_logged(&d, extra, 0, e.log);
    it_emberd_stop(&d, SIGTERM);
    assert_log_has(&e, "no trust store");
}
END_TEST

/* Run requests on sock as uid/gid NOBODY in a child; returns the statuses (0 when the
 * request failed) of GET live, POST infer on digits and POST unload of a model that is not
 * loaded, packed as three bytes. */
static void statuses_as_nobody(const char *sock, int out[3])
{
    digits_ref ref;
    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, 1, NULL);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int st[3] = {0, 0, 0};
        if (setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0) {
            ember_client_opts o = {.timeout_ms = IT_CLIENT_TIMEOUT_MS};
            ember_client *c;
            ember_err err = {{0}};
            ember_response r;
            if (ember_client_open(sock, &o, &c, &err) == 0) {
                if (ember_client_get(c, "/v2/health/live", &r, &err) == 0)
                    st[0] = r.status, ember_response_free(&r);
                if (ember_client_post_json(c, "/v2/models/digits/infer", body, strlen(body), &r,
                                           &err) == 0)
                    st[1] = r.status, ember_response_free(&r);
                if (ember_client_post_json(c, "/v2/repository/models/zz/unload", "", 0, &r, &err) ==
                    0)
                    st[2] = r.status, ember_response_free(&r);
                ember_client_close(c);
            }
        }
        (void)!write(fds[1], st, sizeof st);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], out, 3 * sizeof *out), (ssize_t)(3 * sizeof *out));
    close(fds[0]);
    int wst;
    ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
    free(body);
}

/* Statuses of the same three requests as root. */
static void statuses_as_root(const char *sock, int out[3])
{
    digits_ref ref;
    it_ref_load(&ref);
    char *body = it_infer_body(&ref, 0, 1, NULL);
    ember_client *c = it_client(sock);
    ember_response r;
    it_request(c, "GET", "/v2/health/live", NULL, &r);
    out[0] = r.status;
    ember_response_free(&r);
    it_request(c, "POST", "/v2/models/digits/infer", body, &r);
    out[1] = r.status;
    if (r.status == 403)
        it_assert_error(&r, 403, "infer without the role");
    ember_response_free(&r);
    it_request(c, "POST", "/v2/repository/models/zz/unload", "", &r);
    out[2] = r.status;
    ember_response_free(&r);
    ember_client_close(c);
    free(body);
}

static void start_with_config(emberd_proc *d, const char *conf_text)
{
    char dir[IT_DIR_MAX], conf[IT_DIR_MAX + 16];
    it_mkdtemp(dir);
    snprintf(conf, sizeof conf, "%s/emberd.json", dir);
    it_write_file(conf, conf_text, strlen(conf_text));
    const char *const extra[] = {"--config", conf, NULL};
    it_emberd_start(d, extra, 0);
    /* Let nobody reach the socket's directory; the socket's own mode decides the rest. */
    ck_assert_int_eq(chmod(it_root, 0711), 0);
    ck_assert_int_eq(chmod(d->dir, 0711), 0);
}

START_TEST(acl_roles_by_uid_and_group)
{
    if (geteuid() != 0) {
        printf("acl_roles_by_uid_and_group: skipped: needs root to connect as uid %d\n", NOBODY);
        return;
    }
    emberd_proc d;
    int st[3];
    /* Root only reads; nobody's group may infer; admin is nobody's. */
    start_with_config(&d, "{\"socket_group\": \"65534\", \"acl\": {\"read\": [\"uid:0\"], "
                          "\"infer\": [\"gid:65534\"]}}");
    struct stat sb;
    ck_assert_int_eq(stat(d.socket, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0660);
    ck_assert_int_eq(sb.st_gid, NOBODY);
    statuses_as_nobody(d.socket, st);
    ck_assert_msg(st[0] == 200 && st[1] == 200 && st[2] == 403, "nobody: %d %d %d", st[0], st[1],
                  st[2]);
    statuses_as_root(d.socket, st);
    ck_assert_msg(st[0] == 200 && st[1] == 403 && st[2] == 403, "root: %d %d %d", st[0], st[1],
                  st[2]);
    it_emberd_stop(&d, SIGTERM);

    /* No acl: the socket's group may infer, root and emberd's own uid may do everything. */
    start_with_config(&d, "{\"socket_group\": \"65534\"}");
    statuses_as_nobody(d.socket, st);
    ck_assert_msg(st[0] == 200 && st[1] == 200 && st[2] == 403, "nobody: %d %d %d", st[0], st[1],
                  st[2]);
    statuses_as_root(d.socket, st);
    ck_assert_msg(st[0] == 200 && st[1] == 200 && st[2] == 404, "root: %d %d %d", st[0], st[1],
                  st[2]);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* The acl's limit and bad entries are configuration errors naming the file. */
START_TEST(acl_config_errors)
{
    char dir[IT_DIR_MAX], conf[IT_DIR_MAX + 16];
    it_mkdtemp(dir);
    snprintf(conf, sizeof conf, "%s/emberd.json", dir);
    static const char *const bad[][2] = {
        {"{\"acl\": {\"read\": [\"uid:abc\"]}}", "decimal id"},
        {"{\"acl\": {\"root\": [\"uid:0\"]}}", "unknown role"},
        {"{\"acl\": {\"read\": [\"user:no-such-user-here\"]}}", "no user"},
        {"{\"acl\": {\"read\": [\"pid:1\"]}}", "user:NAME"},
        {NULL, "more than 256 entries"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[8192];
        if (bad[i][0]) {
            snprintf(text, sizeof text, "%s", bad[i][0]);
        } else {
            int len = snprintf(text, sizeof text, "{\"acl\": {\"read\": [");
            for (int k = 0; k < 257; k++)
                len += snprintf(text + len, sizeof text - (size_t)len, "%s\"uid:%d\"", k ? "," : "",
                                k);
            snprintf(text + len, sizeof text - (size_t)len, "]}}");
        }
        it_write_file(conf, text, strlen(text));
        const char *argv[] = {getenv("EMBERD"), "--config", conf, "--check-config", NULL};
        char *out, *err;
        ck_assert_int_eq(it_run(argv, NULL, NULL, &out, &err), 2);
        ck_assert_msg(strstr(err, bad[i][1]) && strstr(err, conf), "%zu: %s", i, err);
        free(out);
        free(err);
    }
    /* 256 entries are fine. */
    char text[8192];
    int len = snprintf(text, sizeof text, "{\"acl\": {\"read\": [");
    for (int k = 0; k < 256; k++)
        len += snprintf(text + len, sizeof text - (size_t)len, "%s\"uid:%d\"", k ? "," : "", k);
    snprintf(text + len, sizeof text - (size_t)len, "]}}");
    it_write_file(conf, text, strlen(text));
    const char *argv[] = {getenv("EMBERD"), "--config", conf, "--check-config", NULL};
    char *out, *err;
    ck_assert_msg(it_run(argv, NULL, NULL, &out, &err) == 0, "%s", err);
    free(out);
    free(err);
}
END_TEST

Suite *it_suite_security(void)
{
    Suite *s = suite_create("security");
    TCase *tc = it_tcase("sealed", 0);
    tcase_add_test(tc, sealed_model_served_and_plaintext_written_nowhere);
    tcase_add_test(tc, tampered_bundle_refused_keeps_serving);
    tcase_add_test(tc, older_version_refused_also_after_restart);
    tcase_add_test(tc, bundle_for_another_device_or_name_refused);
    tcase_add_test(tc, security_settings_checked);
    suite_add_tcase(s, tc);
    TCase *acl = it_tcase("acl", 0);
    tcase_add_test(acl, acl_roles_by_uid_and_group);
    tcase_add_test(acl, acl_config_errors);
    suite_add_tcase(s, acl);
    return s;
}
