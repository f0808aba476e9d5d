/*
 * The integration tests' harness: start and stop the real emberd, run emberctl, talk to the
 * daemon, load the digits reference data and check inference answers against it.
 *
 * Each daemon gets its own mkdtemp directory holding its socket, below one root directory per
 * test run that main removes at the end (so a test that dies early leaves nothing behind).
 * The daemon is started with PR_SET_PDEATHSIG so that it dies with the Check child that
 * started it, even when that child exits on a failed assertion before its teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

emberd_proc it_daemon;

/* Set by main before the tests run; inherited by every forked test. */
char it_root[IT_ROOT_MAX];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "$%s is not set: run the integration tests through meson test", name);
    return v;
}

void it_mkdtemp(char path[IT_DIR_MAX])
{
    snprintf(path, IT_DIR_MAX, "%s/t.XXXXXX", it_root[0] ? it_root : "/tmp");
    ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp %s: %s", path, strerror(errno));
}

void it_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
    ck_assert_msg(fwrite(data, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
}

void it_repo_put_model(const char *dir, const char *name, int version)
{
    char path[PATH_MAX + 64];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%d", dir, name, version);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%d/model.onnx", dir, name, version);
    char *onnx = it_read_file(it_source_path("models/digits/1/model.onnx"), &len);
    it_write_file(path, onnx, len);
    free(onnx);
}

const char *it_source_path(const char *rel)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", env_or_fail("EMBER_SOURCE_ROOT"), rel);
    return buf;
}

char *it_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_msg(size >= 0, "cannot size %s", path);
    char *buf = malloc((size_t)size + 1);
    ck_assert(buf != NULL);
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    ck_assert_msg(got == (size_t)size, "short read on %s", path);
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

/* Non-blocking probe: does emberd answer GET /v2/health/live with 200? */
static int answers_live(const char *sock)
{
    ember_client_opts opts = {.timeout_ms = 2000};
    ember_client *c;
    ember_response r;
    int ok = 0;

    if (ember_client_open(sock, &opts, &c, NULL) < 0)
        return 0;
    if (ember_client_get(c, "/v2/health/live", &r, NULL) == 0) {
        ok = r.status == 200;
        ember_response_free(&r);
    }
    ember_client_close(c);
    return ok;
}

/* execv(path, argv), or in a cross build (make check-arm64) through meson's exe wrapper
 * ($MESON_EXE_WRAPPER, words split on spaces): without binfmt_misc the kernel cannot exec the
 * foreign binary itself. Returns only on failure. Runs in the forked child. */
static void exec_target(const char *path, const char *const *argv)
{
    const char *wrapper = getenv("MESON_EXE_WRAPPER");
    if (!wrapper || !*wrapper) {
        execv(path, (char *const *)argv);
        return;
    }
    int argc = 0;
    while (argv[argc])
        argc++;
    char words[PATH_MAX];
    snprintf(words, sizeof words, "%s", wrapper);
    const char *wargv[argc + 32];
    int n = 0;
    for (char *save, *w = strtok_r(words, " ", &save); w && n < 30; w = strtok_r(NULL, " ", &save))
        wargv[n++] = w;
    wargv[n++] = path;
    for (int i = 1; i <= argc; i++)
        wargv[n++] = argv[i];
    execvp(wargv[0], (char *const *)wargv);
}

static const char *describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "stopped with wait status %#x", status);
    return buf;
}

void it_emberd_start(emberd_proc *d, const char *const *extra, int use_env_socket)
{
    it_emberd_start_logged(d, extra, use_env_socket, NULL);
}

void it_emberd_start_logged(emberd_proc *d, const char *const *extra, int use_env_socket,
                            const char *log_path)
{
    const char *emberd = env_or_fail("EMBERD");
    const char *argv[32];
    int argc = 0;
    char env_sock[PATH_MAX + 16];

    memset(d, 0, sizeof *d);
    it_mkdtemp(d->dir);
    snprintf(d->socket, sizeof d->socket, "%s/emberd.sock", d->dir);

    argv[argc++] = emberd;
    if (!use_env_socket) {
        argv[argc++] = "--socket";
        argv[argc++] = d->socket;
    }
    argv[argc++] = "--log-level";
    argv[argc++] = "warn";
    for (int i = 0; extra && extra[i]; i++) {
        ck_assert(argc < 30);
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    snprintf(env_sock, sizeof env_sock, "EMBER_SOCKET=%s", d->socket);

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        if (log_path) {
            int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (log < 0 || dup2(log, STDERR_FILENO) < 0)
                _exit(126);
        }
        if (use_env_socket)
            putenv(env_sock);
        else
            unsetenv("EMBER_SOCKET");
        exec_target(emberd, argv);
        fprintf(stderr, "exec %s: %s\n", emberd, strerror(errno));
        _exit(127);
    }
    d->pid = pid;

    double deadline = now_s() + IT_START_TIMEOUT_S;
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            char how[96];
            d->pid = 0;
            ck_abort_msg("emberd %s before answering on %s (its stderr is in %s)",
                         describe_status(status, how, sizeof how), d->socket,
                         log_path ? log_path : "the test log");
        }
        if (answers_live(d->socket))
            return;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            d->pid = 0;
            ck_abort_msg("emberd did not answer GET /v2/health/live on %s within %d s", d->socket,
                         IT_START_TIMEOUT_S);
        }
        usleep(20 * 1000);
    }
}

void it_emberd_stop(emberd_proc *d, int sig)
{
    if (d->pid <= 0)
        return;
    ck_assert_msg(kill(d->pid, sig) == 0, "kill emberd: %s", strerror(errno));
    it_emberd_wait(d, sig);
}

void it_emberd_wait(emberd_proc *d, int sig)
{
    int status;
    char how[96];

    ck_assert_msg(d->pid > 0, "emberd is not running");
    double deadline = now_s() + IT_STOP_TIMEOUT_S;
    for (;;) {
        pid_t w = waitpid(d->pid, &status, WNOHANG);
        if (w == d->pid)
            break;
        if (now_s() > deadline) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, NULL, 0);
            d->pid = 0;
            ck_abort_msg("emberd did not exit within %d s of signal %d (%s)", IT_STOP_TIMEOUT_S,
                         sig, strsignal(sig));
        }
        usleep(10 * 1000);
    }
    d->pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "emberd %s after %s; expected a clean exit 0",
                  describe_status(status, how, sizeof how), strsignal(sig));
    ck_assert_msg(access(d->socket, F_OK) != 0 && errno == ENOENT,
                  "emberd exited but left its socket file %s behind", d->socket);
    rmdir(d->dir);
}

void it_daemon_setup(void)
{
    it_emberd_start(&it_daemon, NULL, 0);
}

void it_daemon_teardown(void)
{
    it_emberd_stop(&it_daemon, SIGTERM);
}

ember_client *it_client(const char *sock)
{
    ember_client_opts opts = {.timeout_ms = IT_CLIENT_TIMEOUT_MS};
    ember_client *c;
    ember_err err;

    ck_assert_msg(ember_client_open(sock, &opts, &c, &err) == 0, "connect: %s", err.msg);
    return c;
}

void it_request(ember_client *c, const char *method, const char *path, const char *body,
                ember_response *resp)
{
    static const ember_header json = {"Content-Type", "application/json"};
    ember_err err;
    int rc = ember_client_request(c, method, path, body ? &json : NULL, body ? 1 : 0, body,
                                  body ? strlen(body) : 0, resp, &err);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, err.msg);
}

cJSON *it_json(const ember_response *resp)
{
    cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
    ck_assert_msg(j != NULL, "HTTP %d body is not JSON: '%.300s'", resp->status, resp->body);
    return j;
}

void it_assert_error(const ember_response *resp, int status, const char *what)
{
    ck_assert_msg(resp->status == status, "%s: expected HTTP %d, got %d: '%.300s'", what, status,
                  resp->status, resp->body);
    const char *ct = ember_response_header(resp, "Content-Type");
    ck_assert_msg(ct && strncmp(ct, "application/json", 16) == 0,
                  "%s: error Content-Type is '%s', expected application/json", what,
                  ct ? ct : "(none)");
    cJSON *j = it_json(resp);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
    ck_assert_msg(cJSON_IsString(msg) && msg->valuestring[0],
                  "%s: body has no non-empty \"error\" string: '%.300s'", what, resp->body);
    cJSON_Delete(j);
}

void it_assert_healthy(const char *sock)
{
    ember_client *c = it_client(sock);
    ember_response r;

    it_request(c, "GET", "/v2/health/live", NULL, &r);
    ck_assert_msg(r.status == 200, "daemon no longer live: HTTP %d", r.status);
    cJSON *j = it_json(&r);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "live")));
    cJSON_Delete(j);
    ember_response_free(&r);
    ember_client_close(c);
}

int it_flatten(const cJSON *data, double *out, int cap)
{
    int n = 0;
    const cJSON *e;

    if (!cJSON_IsArray(data))
        return -1;
    cJSON_ArrayForEach(e, data)
    {
        if (cJSON_IsArray(e)) {
            int k = it_flatten(e, out + n, cap - n);
            if (k < 0)
                return -1;
            n += k;
        } else if (cJSON_IsNumber(e) && n < cap) {
            out[n++] = e->valuedouble;
        } else {
            return -1;
        }
    }
    return n;
}

void it_ref_load(digits_ref *ref)
{
    const char *path = it_source_path("tests/data/digits_ref.json");
    char *text = it_read_file(path, NULL);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_msg(j != NULL, "%s is not JSON", path);

    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(j, "inputs");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const cJSON *probs = cJSON_GetObjectItemCaseSensitive(j, "probabilities");
    ref->n = cJSON_GetArraySize(inputs);
    ck_assert_msg(ref->n == REF_N, "%s: expected %d inputs, found %d", path, REF_N, ref->n);
    ck_assert_msg(cJSON_GetArraySize(labels) == REF_N && cJSON_GetArraySize(probs) == REF_N,
                  "%s: labels and probabilities must have %d entries", path, REF_N);
    for (int i = 0; i < REF_N; i++) {
        const cJSON *lab = cJSON_GetArrayItem(labels, i);
        ck_assert_msg(it_flatten(cJSON_GetArrayItem(inputs, i), ref->inputs[i], DIGITS_IN) ==
                          DIGITS_IN,
                      "%s: inputs[%d] is not %d numbers", path, i, DIGITS_IN);
        ck_assert_msg(it_flatten(cJSON_GetArrayItem(probs, i), ref->probs[i], DIGITS_OUT) ==
                          DIGITS_OUT,
                      "%s: probabilities[%d] is not %d numbers", path, i, DIGITS_OUT);
        ck_assert_msg(cJSON_IsNumber(lab), "%s: labels[%d] is not a number", path, i);
        ref->labels[i] = lab->valueint;
    }
    cJSON_Delete(j);
}

char *it_infer_body(const digits_ref *ref, int first, int count, const char *id)
{
    size_t cap = 256 + (size_t)count * DIGITS_IN * 24;
    char *buf = malloc(cap);
    size_t len = 0;

    ck_assert(buf != NULL);
    len += (size_t)snprintf(buf, cap,
                            "{%s%s%s\"inputs\":[{\"name\":\"image\",\"datatype\":"
                            "\"FP32\",\"shape\":[%d,%d],\"data\":[",
                            id ? "\"id\":\"" : "", id ? id : "", id ? "\"," : "", count, DIGITS_IN);
    for (int r = 0; r < count; r++)
        for (int k = 0; k < DIGITS_IN; k++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%.9g", r == 0 && k == 0 ? "" : ",",
                                    ref->inputs[(first + r) % REF_N][k]);
    snprintf(buf + len, cap - len, "]}]}");
    return buf;
}

static int argmax(const double *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

#define WHY(...)                                                                                   \
    do {                                                                                           \
        snprintf(why, why_len, __VA_ARGS__);                                                       \
        goto out;                                                                                  \
    } while (0)

int it_check_infer(const ember_response *resp, const digits_ref *ref, int first, int count,
                   const char *id, char *why, size_t why_len)
{
    double *got = malloc((size_t)count * DIGITS_OUT * sizeof *got);
    int rc = -1;
    cJSON *j = NULL;

    if (!got)
        WHY("infer: out of memory for %d rows", count);

    if (resp->status != 200)
        WHY("infer: HTTP %d: %.300s", resp->status, resp->body);
    j = cJSON_ParseWithLength(resp->body, resp->body_len);
    if (!j)
        WHY("infer: body is not JSON: %.300s", resp->body);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "model_name");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(j, "model_version");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
    if (!cJSON_IsString(name) || strcmp(name->valuestring, DIGITS_NAME) != 0)
        WHY("infer: model_name is not \"digits\": %.300s", resp->body);
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "1") != 0)
        WHY("infer: model_version is not \"1\": %.300s", resp->body);
    if (id && !(cJSON_IsString(rid) && strcmp(rid->valuestring, id) == 0))
        WHY("infer: id \"%s\" not echoed: %.300s", id, resp->body);
    if (cJSON_GetArraySize(outputs) != 1)
        WHY("infer: expected exactly 1 output: %.300s", resp->body);
    const cJSON *out = cJSON_GetArrayItem(outputs, 0);
    const cJSON *oname = cJSON_GetObjectItemCaseSensitive(out, "name");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(out, "datatype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(out, "shape");
    if (!cJSON_IsString(oname) || strcmp(oname->valuestring, "probabilities") != 0)
        WHY("infer: output name is not \"probabilities\"");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "FP32") != 0)
        WHY("infer: output datatype is not \"FP32\"");
    if (cJSON_GetArraySize(shape) != 2 || cJSON_GetArrayItem(shape, 0)->valuedouble != count ||
        cJSON_GetArrayItem(shape, 1)->valuedouble != DIGITS_OUT)
        WHY("infer: output shape is not [%d, %d]", count, DIGITS_OUT);
    int n = it_flatten(cJSON_GetObjectItemCaseSensitive(out, "data"), got, count * DIGITS_OUT);
    if (n != count * DIGITS_OUT)
        WHY("infer: output data has %d numbers, expected %d", n, count * DIGITS_OUT);
    for (int r = 0; r < count; r++) {
        int sample = (first + r) % REF_N;
        const double *want = ref->probs[sample];
        for (int k = 0; k < DIGITS_OUT; k++)
            if (!(fabs(got[r * DIGITS_OUT + k] - want[k]) <= DIGITS_TOL))
                WHY("infer: row %d (sample %d) probability[%d] = %.9g, reference %.9g "
                    "(tolerance %g)",
                    r, sample, k, got[r * DIGITS_OUT + k], want[k], DIGITS_TOL);
        int am = argmax(got + r * DIGITS_OUT, DIGITS_OUT);
        if (am != argmax(want, DIGITS_OUT))
            WHY("infer: row %d (sample %d) argmax %d, the reference's is %d", r, sample, am,
                argmax(want, DIGITS_OUT));
    }
    rc = 0;
out:
    cJSON_Delete(j);
    free(got);
    return rc;
}

void it_assert_infer_ok(const ember_response *resp, const digits_ref *ref, int first, int count,
                        const char *id)
{
    char why[512];
    if (it_check_infer(resp, ref, first, count, id, why, sizeof why) < 0)
        ck_abort_msg("%s", why);
}

static char *slurp_fd(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            ck_assert(nb != NULL);
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

int it_run(const char *const *argv, const char *const *env, const char *stdin_path, char **out,
           char **err)
{
    char dir[IT_DIR_MAX], opath[IT_DIR_MAX + 8], epath[IT_DIR_MAX + 8];
    int status;

    it_mkdtemp(dir);
    snprintf(opath, sizeof opath, "%s/out", dir);
    snprintf(epath, sizeof epath, "%s/err", dir);
    int ofd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int efd = open(epath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ck_assert(ofd >= 0 && efd >= 0);

    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);
        if (in < 0)
            _exit(126);
        dup2(in, STDIN_FILENO);
        dup2(ofd, STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        for (int i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq && eq[1] == '\0') {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
                unsetenv(name);
            } else {
                putenv((char *)env[i]);
            }
        }
        exec_target(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    double deadline = now_s() + 60;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            ck_abort_msg("%s did not finish within 60 s", argv[0]);
        }
        usleep(5 * 1000);
    }
    *out = slurp_fd(ofd);
    *err = slurp_fd(efd);
    close(ofd);
    close(efd);
    unlink(opath);
    unlink(epath);
    rmdir(dir);
    ck_assert_msg(WIFEXITED(status), "%s was killed by signal %d", argv[0], WTERMSIG(status));
    return WEXITSTATUS(status);
}

TCase *it_tcase(const char *name, int daemon)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT_S);
    if (daemon)
        tcase_add_checked_fixture(tc, it_daemon_setup, it_daemon_teardown);
    return tc;
}

double it_metric(const char *sock, const char *series)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "GET", "/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    double v = -1;
    size_t n = strlen(series);
    for (const char *line = r.body; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            v = atof(line + n + 1);
            break;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    ember_response_free(&r);
    ember_client_close(c);
    return v;
}

void it_wait_metric(const char *sock, const char *series, double want)
{
    double got = -1;
    for (int i = 0; i < IT_METRIC_POLLS && (got = it_metric(sock, series)) != want; i++)
        usleep(2000);
    ck_assert_msg(got == want, "%s is %g, want %g (did the slow request end too early?)", series,
                  got, want);
}

void it_send_infer(ember_client *c, const char *path, const char *body)
{
    char head[512];
    ember_err err;
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, strlen(body));
    ck_assert_msg(ember_client_send_raw(c, head, (size_t)n, &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_client_send_raw(c, body, strlen(body), &err) == 0, "%s", err.msg);
}

ember_response it_recv_answer(ember_client *c)
{
    ember_response r;
    ember_err err;
    ck_assert_msg(ember_client_recv_response(c, "POST", &r, &err) == 0, "%s", err.msg);
    return r;
}

ember_client *it_hold_worker(const char *sock, const digits_ref *ref)
{
    ember_client *slow = it_client(sock);
    char *big = it_infer_body(ref, 0, IT_SLOW_ROWS, NULL);
    it_send_infer(slow, "/v2/models/digits/infer", big);
    free(big);
    it_wait_metric(sock, "emberd_workers{state=\"busy\"}", 1);
    return slow;
}

void it_release_worker(ember_client *slow, const digits_ref *ref)
{
    ember_response r = it_recv_answer(slow);
    it_assert_infer_ok(&r, ref, 0, IT_SLOW_ROWS, NULL);
    ember_response_free(&r);
    ember_client_close(slow);
}

void it_assert_promtool(const char *text, size_t len)
{
    char dir[IT_DIR_MAX], path[PATH_MAX], cmd[2 * PATH_MAX + 64];
    it_mkdtemp(dir);
    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    it_write_file(path, text, len);
    /* promtool is a host tool: run it directly, never through a cross build's wrapper. */
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s.out", path);
    char *out = it_read_file(cmd, NULL);
    ck_assert_msg(!(WIFEXITED(rc) && WEXITSTATUS(rc) == 127),
                  "promtool is missing: install the Debian package prometheus (scripts/setup.sh "
                  "lists it)");
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "promtool check metrics: %s", out);
    free(out);
}

void it_repo_put_config(const char *dir, const char *name, const char *json)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s/config.json", dir, name);
    it_write_file(path, json, strlen(json));
}

void it_repo_start(emberd_proc *d, const char *dir, const char *workers)
{
    const char *const extra[] = {"--dev", "--models", dir, "--workers", workers, NULL};
    it_emberd_start(d, extra, 0);
}

void it_shipped_start(emberd_proc *d)
{
    char models[PATH_MAX];
    snprintf(models, sizeof models, "%s", it_source_path("models"));
    const char *const extra[] = {"--dev", "--models", models, NULL};
    it_emberd_start(d, extra, 0);
}
