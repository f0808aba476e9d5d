/*
 * emberctl bench: time a model's inference in this process and report p50, p90, min and peak
 * RSS, as text or as one CSV row that tests/bench/compare.sh sets beside ONNX Runtime's.
 *
 * Inputs come from .npy files (-i, as for emberctl run) or, for any input not given, are made
 * here: floats from a fixed-seed generator so every run sees the same values, integers and
 * booleans zero, dynamic dims 1. Warm-up runs are not timed; each timed run is one
 * ember_session_run measured with CLOCK_MONOTONIC. Peak RSS is the process's ru_maxrss, so it
 * covers loading the model as well as running it.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ember/engine.h>
#include <ember/proto.h>

#include "emberctl.h"

#define BENCH_MAX_IO 64
#define BENCH_DEFAULT_ITERS 50
#define BENCH_DEFAULT_WARMUP 5
#define BENCH_MAX_ITERS 1000000
/* Threads the engine can use for one session today; --threads above it is noted and capped. */
#define BENCH_THREADS_IMPLEMENTED 1

static void print_usage(void)
{
    printf("Usage: emberctl bench MODEL [-i [NAME=]FILE.npy ...] [--threads N] [--iters N]\n"
           "                      [--warmup N] [--format text|csv]\n"
           "\n"
           "Time MODEL (an .onnx file, or any format the engine loads) in this process,\n"
           "without emberd: --warmup untimed runs, then --iters timed runs, each one\n"
           "ember_session_run on the same inputs, measured with CLOCK_MONOTONIC. Prints the\n"
           "median (p50), 90th percentile (p90) and fastest (min) run time in milliseconds\n"
           "and the process's peak resident set size (getrusage ru_maxrss), which includes\n"
           "loading the model. Percentiles interpolate linearly between sorted samples.\n"
           "\n"
           "Inputs are NumPy .npy files as for 'emberctl run': plain -i FILE fills the\n"
           "model's inputs in order, -i NAME=FILE the input called NAME. An input not given\n"
           "is generated: the model's shape with every dynamic dim set to 1, float values\n"
           "from a fixed-seed generator in [0, 1) (the same on every run), integer and bool\n"
           "values zero. Give real inputs when values or sizes matter (indices, sample\n"
           "rates, a dynamic dim the model needs larger than 1).\n"
           "\n"
           "Options:\n"
           "  -i, --input [NAME=]FILE   an input tensor (repeatable)\n"
           "  -t, --threads N           threads for the session (default 1); the engine runs\n"
           "                            one thread per session today, so N > 1 prints a note\n"
           "                            and runs with 1, and the report says 1\n"
           "  -n, --iters N             timed runs (default %d, at least 1)\n"
           "  -w, --warmup N            untimed runs before timing (default %d)\n"
           "  -f, --format FMT          'text' (default) or 'csv': the header\n"
           "                            model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb\n"
           "                            and one row\n"
           "  -h, --help                show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error, an unreadable or invalid model\n"
           "or input, or a failed inference (the message says which).\n",
           BENCH_DEFAULT_ITERS, BENCH_DEFAULT_WARMUP);
}

/* splitmix64: small, fast and the same everywhere, which is all a benchmark input needs. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fill t with a tensor of info's shape (dynamic dims 1): floats in [0, 1), everything else
 * zero. t->data is malloc'd. */
static int generate_input(const ember_io_info *info, uint64_t *state, ember_tensor *t)
{
    size_t esize = ember_dtype_size(info->dtype);
    if (esize == 0) {
        emberctl_error("input '%s' has type %s, which bench cannot generate; give it with -i",
                       info->name, ember_dtype_name(info->dtype));
        return -1;
    }
    t->dtype = info->dtype;
    t->rank = info->rank;
    for (int d = 0; d < info->rank; d++)
        t->dims[d] = info->dims[d] < 0 ? 1 : info->dims[d];
    int64_t count = ember_tensor_count(t);
    if (count < 0 || (uint64_t)count > SIZE_MAX / esize) {
        emberctl_error("input '%s' is too large to generate", info->name);
        return -1;
    }
    t->data = calloc(count ? (size_t)count : 1, esize);
    if (!t->data) {
        emberctl_error("out of memory generating input '%s'", info->name);
        return -1;
    }
    if (info->dtype == EMBER_DT_FLOAT) {
        float *f = t->data;
        for (int64_t i = 0; i < count; i++)
            f[i] = (float)(next_random(state) >> 40) / (float)(1u << 24);
    }
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-quantile (0..1) of n sorted samples, interpolating linearly between neighbours. */
static double quantile(const double *sorted, int n, double p)
{
    double pos = p * (n - 1);
    int lo = (int)pos; /* pos >= 0, so truncation is floor */
    if (lo >= n - 1)
        return sorted[n - 1];
    return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* Print s as one CSV field, quoted only when it holds a comma, quote or line break. */
static void print_csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Parse an option's integer into *out, at least min; prints the usage error otherwise. */
static int parse_count(const char *opt, const char *s, int min, int *out)
{
    if (emberctl_parse_int(s, out) < 0 || *out < min || *out > BENCH_MAX_ITERS)
        return emberctl_usage_error("bench", "%s wants a whole number from %d to %d, not '%s'", opt,
                                    min, BENCH_MAX_ITERS, s);
    return 0;
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"threads", required_argument, NULL, 't'},
        {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *inputs[BENCH_MAX_IO];
    int ninputs = 0, threads = 1, iters = BENCH_DEFAULT_ITERS, warmup = BENCH_DEFAULT_WARMUP;
    int csv = 0, opt;
    (void)ctl;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:t:n:w:f:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (ninputs == BENCH_MAX_IO)
                return emberctl_usage_error("bench", "at most %d inputs", BENCH_MAX_IO);
            inputs[ninputs++] = optarg;
            break;
        case 't':
            if (parse_count("--threads", optarg, 1, &threads) != 0)
                return EMBERCTL_EXIT_USAGE;
            break;
        case 'n':
            if (parse_count("--iters", optarg, 1, &iters) != 0)
                return EMBERCTL_EXIT_USAGE;
            break;
        case 'w':
            if (parse_count("--warmup", optarg, 0, &warmup) != 0)
                return EMBERCTL_EXIT_USAGE;
            break;
        case 'f':
            if (strcmp(optarg, "csv") == 0)
                csv = 1;
            else if (strcmp(optarg, "text") == 0)
                csv = 0;
            else
                return emberctl_usage_error("bench", "--format is 'text' or 'csv', not '%s'",
                                            optarg);
            break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default: return emberctl_usage_error("bench", "unknown option");
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("bench", "give exactly one MODEL");
    const char *model_path = argv[optind];
    if (threads > BENCH_THREADS_IMPLEMENTED) {
        fprintf(stderr,
                "emberctl bench: note: the engine runs one thread per session today; "
                "running with 1, not %d\n",
                threads);
        threads = BENCH_THREADS_IMPLEMENTED;
    }

    ember_err err = {{0}};
    ember_model *m = NULL;
    if (ember_model_load(model_path, &m, &err) != 0) {
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    int nin = ember_model_ninputs(m), nout = ember_model_noutputs(m);
    int rc = EMBERCTL_EXIT_USAGE;
    const char *files[BENCH_MAX_IO] = {0};
    ember_tensor in[BENCH_MAX_IO] = {{0}}, out[BENCH_MAX_IO];
    ember_session *s = NULL;
    double *ms = NULL;
    if (nin > BENCH_MAX_IO || nout > BENCH_MAX_IO) {
        emberctl_error("%s: more than %d inputs or outputs", model_path, BENCH_MAX_IO);
        goto done;
    }
    int next = 0;
    for (int i = 0; i < ninputs; i++)
        if (emberctl_assign_input("bench", m, inputs[i], &next, files) != 0)
            goto done;
    uint64_t seed = 0x656D626572ull; /* "ember": fixed so generated inputs never change */
    for (int i = 0; i < nin; i++) {
        if (!files[i]) {
            if (generate_input(ember_model_input(m, i), &seed, &in[i]) != 0)
                goto done;
        } else if (ember_npy_load(files[i], &in[i], &err) != 0) {
            emberctl_error("%s", err.msg);
            goto done;
        }
    }
    ms = malloc((size_t)iters * sizeof *ms);
    if (!ms) {
        emberctl_error("out of memory for %d samples", iters);
        goto done;
    }
    if (ember_session_create(m, &s, &err) != 0) {
        emberctl_error("%s: %s", model_path, err.msg);
        goto done;
    }
    for (int i = 0; i < warmup + iters; i++) {
        double t0 = now_ms();
        if (ember_session_run(s, in, nin, out, nout, &err) != 0) {
            emberctl_error("%s: %s", model_path, err.msg);
            goto done;
        }
        double t1 = now_ms();
        if (i >= warmup)
            ms[i - warmup] = t1 - t0;
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
    double p50 = quantile(ms, iters, 0.5), p90 = quantile(ms, iters, 0.9);
    if (csv) {
        printf("model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb\n");
        print_csv_field(model_path);
        printf(",%d,%.5f,%.5f,%.5f,%ld\n", threads, p50, p90, ms[0], ru.ru_maxrss);
    } else {
        printf("model:      %s\n"
               "threads:    %d\n"
               "runs:       %d timed after %d warm-up\n"
               "p50:        %.5f ms\n"
               "p90:        %.5f ms\n"
               "min:        %.5f ms\n"
               "peak RSS:   %ld kB\n",
               model_path, threads, iters, warmup, p50, p90, ms[0], ru.ru_maxrss);
    }
    rc = EMBERCTL_EXIT_OK;
done:
    free(ms);
    for (int i = 0; i < BENCH_MAX_IO; i++)
        free(in[i].data);
    ember_session_free(s);
    ember_model_free(m);
    return rc;
}

const emberctl_cmd emberctl_cmd_bench = {
    "bench",
    "time a model file in this process: p50, p90, min, peak RSS (no daemon)",
    run,
};
