/*
 * Shared by the integration tests: running the real emberd and emberctl binaries, talking
 * HTTP to the daemon through libember-client, and the reference data the answers are checked
 * against.
 *
 * The binaries and the source tree come from the environment meson's test() sets: EMBERD,
 * EMBERCTL and EMBER_SOURCE_ROOT (EMBER_VERSION is the project version). Every test runs in
 * its own Check child process; a daemon it starts is killed with it if the test dies early.
 */
#ifndef EMBER_IT_HARNESS_H
#define EMBER_IT_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>
#include <cjson/cJSON.h>

#include <ember/client.h>

/* Seconds allowed for emberd to answer after start and to exit after SIGTERM. */
#define IT_START_TIMEOUT_S 20
#define IT_STOP_TIMEOUT_S 15
/* Per-call client timeout, so a hung daemon fails a test instead of hanging it. */
#define IT_CLIENT_TIMEOUT_MS 20000
/* Check's per-test timeout (its default, 4 s, is for unit tests). */
#define IT_TCASE_TIMEOUT_S 120

/* emberd's default request body limit (64 MiB), from the contract. */
#define IT_MAX_BODY (64u * 1024 * 1024)

/* The built-in model. */
#define DIGITS_NAME "digits"
#define DIGITS_IN 64
#define DIGITS_OUT 10
#define DIGITS_TOL 1e-5

/* tests/data/digits_ref.json: 16 images, their true labels and the reference probabilities.
 * The model is wrong on a few on purpose (see models/digits/README.md), so answers are
 * checked against the reference's argmax, not the label. */
#define REF_N 16
typedef struct digits_ref {
    int n;
    double inputs[REF_N][DIGITS_IN];
    int labels[REF_N];
    double probs[REF_N][DIGITS_OUT];
} digits_ref;

/* Temporary paths are kept short: a socket path must fit in 108 bytes. */
#define IT_ROOT_MAX 64
#define IT_DIR_MAX 80
#define IT_SOCK_MAX 108

typedef struct emberd_proc {
    char dir[IT_DIR_MAX];     /* private temporary directory (mkdtemp) */
    char socket[IT_SOCK_MAX]; /* dir/emberd.sock */
    pid_t pid;                /* 0 when not running */
} emberd_proc;

/* The daemon started by the checked fixture it_daemon_setup, for the current test. */
extern emberd_proc it_daemon;

/* Checked fixtures: start emberd with default options before each test; stop it with
 * SIGTERM after, asserting exit status 0 and that the socket file is gone. */
void it_daemon_setup(void);
void it_daemon_teardown(void);

/* The run's root directory, made by main; every temporary directory goes below it. */
extern char it_root[IT_ROOT_MAX];

/* Make a fresh temporary directory under the run's root. */
void it_mkdtemp(char path[IT_DIR_MAX]);

/* Write len bytes to path (fails the test on error). */
void it_write_file(const char *path, const void *data, size_t len);

/* A model repository entry: dir/name/version/model.onnx as a copy of the digits model
 * (serve it with --dev --models dir). */
void it_repo_put_model(const char *dir, const char *name, int version);

/* dir/name/config.json := json (a model's config in a repository). */
void it_repo_put_config(const char *dir, const char *name, const char *json);

/* it_emberd_start with --dev --models dir --workers workers. */
void it_repo_start(emberd_proc *d, const char *dir, const char *workers);

/* it_emberd_start with --dev --models on the checkout's models/ (the shipped repository). */
void it_shipped_start(emberd_proc *d);

/* Path of a file in the source tree (EMBER_SOURCE_ROOT/rel). Returns a static buffer. */
const char *it_source_path(const char *rel);

/* A whole file as a NUL-terminated string (fails the test if unreadable). Caller frees. */
char *it_read_file(const char *path, size_t *len);

/*
 * Start emberd with --socket <dir>/emberd.sock plus extra (NULL-terminated, may be NULL) and
 * wait until it answers GET /v2/health/live, failing the test with a clear message if it
 * exits or stays silent for IT_START_TIMEOUT_S. With use_env_socket the socket is given
 * through $EMBER_SOCKET instead of --socket.
 */
void it_emberd_start(emberd_proc *d, const char *const *extra, int use_env_socket);

/* it_emberd_start with emberd's stderr going to the file log_path instead of the test's. */
void it_emberd_start_logged(emberd_proc *d, const char *const *extra, int use_env_socket,
                            const char *log_path);

/* Send sig, then it_emberd_wait. */
void it_emberd_stop(emberd_proc *d, int sig);

/* Wait (at most IT_STOP_TIMEOUT_S) for emberd to exit after sig was sent to it; assert exit
 * status 0 and the socket file removed. */
void it_emberd_wait(emberd_proc *d, int sig);

/* Open a client on sock with IT_CLIENT_TIMEOUT_MS (fails the test on error). */
ember_client *it_client(const char *sock);

/* One request; fails the test on a transport error. body may be NULL. */
void it_request(ember_client *c, const char *method, const char *path, const char *body,
                ember_response *resp);

/* Parse a response body as JSON, failing the test (with the body in the message) if it is
 * not. Caller frees with cJSON_Delete. */
cJSON *it_json(const ember_response *resp);

/* The value of the series named exactly `series` (labels included, e.g.
 * 'emberd_queue_depth{priority="high"}') in sock's GET /metrics; -1 when it is absent. */
double it_metric(const char *sock, const char *series);

/* Poll it_metric (2 ms apart, at most IT_METRIC_POLLS times) until series reads want; fail
 * the test when it never does. */
#define IT_METRIC_POLLS 5000
void it_wait_metric(const char *sock, const char *series, double want);

/* Send an infer request (JSON body) on c without waiting for the answer, and read one. */
void it_send_infer(ember_client *c, const char *path, const char *body);
ember_response it_recv_answer(ember_client *c);

/* Keep a worker busy: send an IT_SLOW_ROWS-row request for the built-in digits on its own
 * connection and wait until /metrics shows one worker busy (with --workers 1, queued
 * requests then wait for it). it_release_worker reads and checks its answer. The request
 * must outlast the queueing of a few small ones, which takes milliseconds. */
#define IT_SLOW_ROWS 3000
ember_client *it_hold_worker(const char *sock, const digits_ref *ref);
void it_release_worker(ember_client *slow, const digits_ref *ref);

/* Fail the test unless `promtool check metrics` accepts text (a /metrics body). */
void it_assert_promtool(const char *text, size_t len);

/* Assert status, a JSON content type and a JSON {"error": "<non-empty>"} body. */
void it_assert_error(const ember_response *resp, int status, const char *what);

/* Assert that a fresh connection to sock still gets 200 {"live": true}. */
void it_assert_healthy(const char *sock);

/* Load tests/data/digits_ref.json (fails the test if missing or malformed). */
void it_ref_load(digits_ref *ref);

/* A KServe request body of count rows as one batch, row r being sample (first + r) % REF_N
 * of ref; id may be NULL. Caller frees. */
char *it_infer_body(const digits_ref *ref, int first, int count, const char *id);

/* Assert a 200 infer response to it_infer_body(ref, first, count, id): model name and
 * version, id (when id is not NULL), output name, datatype, shape [count, 10], every
 * probability within DIGITS_TOL of the reference and every argmax equal to the reference's
 * argmax. */
void it_assert_infer_ok(const ember_response *resp, const digits_ref *ref, int first, int count,
                        const char *id);

/* The same check without failing: returns 0, or -1 with a reason in why (for threads). */
int it_check_infer(const ember_response *resp, const digits_ref *ref, int first, int count,
                   const char *id, char *why, size_t why_len);

/* Append every number of a (possibly nested) JSON array to out (capacity cap); returns the
 * count, or -1 on a non-number or overflow. */
int it_flatten(const cJSON *data, double *out, int cap);

/* Run a program with args (argv[0] is the program), stdin from stdin_path (NULL: /dev/null),
 * extra environment assignments env (NULL-terminated "NAME=VALUE", may be NULL; "NAME=" with
 * an empty value unsets NAME). Returns its exit status (fails the test if it is killed or
 * runs over 60 s); *out and *err receive its output (caller frees). */
int it_run(const char *const *argv, const char *const *env, const char *stdin_path, char **out,
           char **err);

/* The suites, one per file; main.c runs them. Those needing emberd skip nothing: without
 * $EMBERD they fail, so meson registers them only when emberd is built. */
Suite *it_suite_client(void);
Suite *it_suite_endpoints(void);
Suite *it_suite_infer(void);
Suite *it_suite_errors(void);
Suite *it_suite_connection(void);
Suite *it_suite_lifecycle(void);
Suite *it_suite_emberctl(void);
Suite *it_suite_repository(void);
Suite *it_suite_config(void);
Suite *it_suite_scheduling(void);
Suite *it_suite_http(void);
Suite *it_suite_binary(void);
Suite *it_suite_power(void);
Suite *it_suite_security(void);
Suite *it_suite_cache(void);
Suite *it_suite_batch(void);
Suite *it_suite_answer(void);
Suite *it_suite_inline(void);
Suite *it_suite_media(void);

/* A test case with IT_TCASE_TIMEOUT_S and, when daemon is set, the emberd fixtures. */
TCase *it_tcase(const char *name, int daemon);

#endif
