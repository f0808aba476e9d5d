/*
 * The ONNX backend conformance runner.
 *
 * Runs every test folder (model.onnx + test_data_set_N/{input,output}_K.pb) under a directory
 * through the engine and compares with the expected outputs: floats within
 * |got - want| <= atol + rtol * |want| (NaN matches NaN), every other type exactly. Each test
 * runs in a forked child with a time limit, so a crashing or hanging kernel is reported as a
 * failure of that test instead of ending the run. Prints one line per failure with its reason
 * and ends with "N passed, M failed".
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ember/engine.h>

#include "graph.h"

#define MAX_IO 32
#define TEST_SECONDS 60

static const double rel_tol = 1e-3, abs_tol = 1e-5;

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    fclose(f);
    if (!b)
        return -1;
    *buf = b;
    *len = n;
    return 0;
}

static int load_pb(const char *path, ember_tensor *t, char *why, size_t whylen)
{
    unsigned char *buf;
    size_t len;
    if (read_file(path, &buf, &len) != 0) {
        snprintf(why, whylen, "cannot read %s", path);
        return -1;
    }
    ember_err err = {{0}};
    int rc = eg_onnx_tensor(buf, len, t, &err);
    free(buf);
    if (rc) {
        snprintf(why, whylen, "%s: %s", strrchr(path, '/') + 1, err.msg);
        return -1;
    }
    return 0;
}

static int compare(const ember_tensor *got, const ember_tensor *want, const char *name, char *why,
                   size_t whylen)
{
    if (got->dtype != want->dtype) {
        snprintf(why, whylen, "output '%s': type %s, expected %s", name,
                 ember_dtype_name(got->dtype), ember_dtype_name(want->dtype));
        return -1;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, sizeof(int64_t) * got->rank)) {
        char g[128] = "", w[128] = "";
        for (int i = 0; i < got->rank; i++)
            snprintf(g + strlen(g), sizeof g - strlen(g), "%s%lld", i ? "," : "",
                     (long long)got->dims[i]);
        for (int i = 0; i < want->rank; i++)
            snprintf(w + strlen(w), sizeof w - strlen(w), "%s%lld", i ? "," : "",
                     (long long)want->dims[i]);
        snprintf(why, whylen, "output '%s': shape [%s], expected [%s]", name, g, w);
        return -1;
    }
    int64_t n = ember_tensor_count(want);
    if (want->dtype == EMBER_DT_FLOAT) {
        const float *a = got->data, *b = want->data;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(b[i]) && isnan(a[i]))
                continue;
            if (isinf(b[i]) && a[i] == b[i])
                continue;
            if (!(fabs((double)a[i] - b[i]) <= abs_tol + rel_tol * fabs((double)b[i]))) {
                snprintf(why, whylen, "output '%s'[%lld] = %.9g, expected %.9g", name,
                         (long long)i, a[i], b[i]);
                return -1;
            }
        }
        return 0;
    }
    size_t bytes = (size_t)n * ember_dtype_size(want->dtype);
    if (bytes && memcmp(got->data, want->data, bytes) != 0) {
        snprintf(why, whylen, "output '%s': values differ", name);
        return -1;
    }
    return 0;
}

/* Runs one test folder; 0 when it passes, else why says what went wrong. */
static int run_test(const char *dir, char *why, size_t whylen)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    ember_model *m = NULL;
    ember_session *s = NULL;
    ember_err err = {{0}};
    if (ember_model_load(path, &m, &err) != 0) {
        snprintf(why, whylen, "load: %s", strstr(err.msg, ": ") ? strstr(err.msg, ": ") + 2 : err.msg);
        return -1;
    }
    if (ember_session_create(m, &s, &err) != 0) {
        snprintf(why, whylen, "session: %s", err.msg);
        ember_model_free(m);
        return -1;
    }
    int rc = 0, sets = 0;
    for (int set = 0; rc == 0; set++) {
        char sdir[4200];
        snprintf(sdir, sizeof sdir, "%s/test_data_set_%d", dir, set);
        struct stat st;
        if (stat(sdir, &st) != 0)
            break;
        sets++;
        ember_tensor in[MAX_IO] = {{0}}, want[MAX_IO] = {{0}}, got[MAX_IO];
        int nin = 0, nwant = 0;
        for (; nin < MAX_IO; nin++) {
            snprintf(path, sizeof path, "%s/input_%d.pb", sdir, nin);
            if (stat(path, &st) != 0)
                break;
            if (load_pb(path, &in[nin], why, whylen) != 0) {
                rc = -1;
                break;
            }
        }
        for (; rc == 0 && nwant < MAX_IO; nwant++) {
            snprintf(path, sizeof path, "%s/output_%d.pb", sdir, nwant);
            if (stat(path, &st) != 0)
                break;
            if (load_pb(path, &want[nwant], why, whylen) != 0)
                rc = -1;
        }
        if (rc == 0 && (nin != ember_model_ninputs(m) || nwant != ember_model_noutputs(m))) {
            snprintf(why, whylen, "test has %d inputs/%d outputs, model %d/%d", nin, nwant,
                     ember_model_ninputs(m), ember_model_noutputs(m));
            rc = -1;
        }
        if (rc == 0 && ember_session_run(s, in, nin, got, nwant, &err) != 0) {
            snprintf(why, whylen, "run: %s", err.msg);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < nwant; i++)
            rc = compare(&got[i], &want[i], ember_model_output(m, i)->name, why, whylen);
        for (int i = 0; i < nin; i++)
            free(in[i].data);
        for (int i = 0; i < nwant; i++)
            free(want[i].data);
    }
    if (rc == 0 && sets == 0) {
        snprintf(why, whylen, "no test_data_set_0");
        rc = -1;
    }
    ember_session_free(s);
    ember_model_free(m);
    return rc;
}

/* Runs run_test in a child process so crashes and hangs are contained. */
static int run_isolated(const char *dir, char *why, size_t whylen)
{
    int fds[2];
    if (pipe(fds) != 0)
        return run_test(dir, why, whylen);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm(TEST_SECONDS);
        char msg[1024] = "";
        int rc = run_test(dir, msg, sizeof msg);
        ssize_t w = write(fds[1], msg, strlen(msg));
        (void)w;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < whylen && (r = read(fds[0], why + n, whylen - 1 - n)) > 0)
        n += (size_t)r;
    why[n] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        snprintf(why, whylen, "%s (signal %d)",
                 WTERMSIG(status) == SIGALRM ? "timed out" : "crashed", WTERMSIG(status));
        return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: conformance [--min-pass N] [--filter TEXT] [--quiet] [DIR]\n"
               "Runs every ONNX backend test folder under DIR (default: $EMBER_SHARED/onnx-tests/node)\n"
               "and prints each failure, then 'N passed, M failed'. Exits 1 when fewer than N\n"
               "tests pass (with --min-pass), 77 when DIR does not exist (a skip).\n");
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *filter = NULL;
    long min_pass = -1;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--min-pass") == 0 && i + 1 < argc) {
            min_pass = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    char defdir[4096];
    if (!dir) {
        const char *shared = getenv("EMBER_SHARED");
        snprintf(defdir, sizeof defdir, "%s/onnx-tests/node", shared ? shared : "../shared");
        dir = defdir;
    }
    DIR *d = opendir(dir);
    if (!d) {
        printf("SKIP: no ONNX conformance tests at %s (%s); they come with ../shared\n", dir,
               strerror(errno));
        return 77;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5) != 0 || (filter && !strstr(e->d_name, filter)))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn)
                return 2;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);

    long passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192], why[1024] = "";
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (run_isolated(path, why, sizeof why) == 0) {
            passed++;
        } else {
            failed++;
            if (!quiet)
                printf("FAIL %s: %s\n", names[i], why);
        }
        free(names[i]);
    }
    free(names);
    printf("%ld passed, %ld failed\n", passed, failed);
    if (min_pass >= 0 && passed < min_pass) {
        printf("conformance: %ld passed, below the recorded %ld\n", passed, min_pass);
        return 1;
    }
    return 0;
}
