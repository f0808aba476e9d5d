/*
 * emberctl bench: time a model's inference in this process and report p50, p90, min and peak
 * RSS, as text or as one CSV row that tests/bench/compare.sh sets beside ONNX Runtime's.
 *
 * Inputs come from .npy files (-i, as for emberctl run) or, for any input not given, are made
 * here: floats from a fixed-seed generator so every run sees the same values, integers and
 * booleans zero, dynamic dims 1. Warm-up runs are not timed; each timed run is one
 * ember_session_run measured with CLOCK_MONOTONIC. Peak RSS is the process's ru_maxrss, so it
 * covers loading the model as well as running it. --profile adds where the timed runs spent
 * their time, per operator type and for the slowest nodes, from the session's node timer
 * (ember_session_profile).
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
/* Nodes listed by --profile after the per-operator table. */
#define BENCH_PROFILE_TOP_NODES 10

static void print_usage(void)
{
    printf("Usage: emberctl bench MODEL [-i [NAME=]FILE.npy ...] [--threads N] [--iters N]\n"
           "                      [--warmup N] [--format text|csv] [--profile]\n"
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
           "  -t, --threads N           threads the session splits large Conv, Gemm,\n"
           "                            MatMul, MaxPool and Concat nodes across (default\n"
           "                            1); capped at the CPUs online, and the report\n"
           "                            gives the count applied\n"
           "  -n, --iters N             timed runs (default %d, at least 1)\n"
           "  -w, --warmup N            untimed runs before timing (default %d)\n"
           "  -f, --format FMT          'text' (default) or 'csv': the header\n"
           "                            model,threads,p50_ms,p90_ms,min_ms,peak_rss_kb\n"
           "                            and one row\n"
           "  -p, --profile             also print where the timed runs spent their time:\n"
           "                            per operator type (total ms, share of all node\n"
           "                            time, node count), then the %d slowest nodes\n"
           "                            (text format only). Nodes inside If branches\n"
           "                            count as themselves ('IF > NODE'); an If only\n"
           "                            for its own overhead\n"
           "  -h, --help                show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error, an unreadable or invalid model\n"
           "or input, or a failed inference (the message says which).\n",
           BENCH_DEFAULT_ITERS, BENCH_DEFAULT_WARMUP, BENCH_PROFILE_TOP_NODES);
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

typedef struct op_share {
    const char *domain, *op;
    int64_t ns;
    int nodes;
} op_share;

static int cmp_op_share(const void *a, const void *b)
{
    const op_share *x = a, *y = b;
    return (x->ns < y->ns) - (x->ns > y->ns);
}

static int cmp_node_time(const void *a, const void *b)
{
    const ember_node_time *x = a, *y = b;
    return (x->ns < y->ns) - (x->ns > y->ns);
}

/* The --profile report: node times summed per operator type, biggest first, with each type's
 * share of all node time, then the slowest nodes. Times are per run (averaged). Nodes inside
 * subgraphs (If branches) count as themselves, and an If only for its own overhead; nodes
 * that never ran (a branch not taken) are left out. */
static int print_profile(const ember_session *s)
{
    int nn = ember_session_profile_nodes(s), ran = 0, nops = 0;
    ember_node_time *nt = calloc((size_t)nn + 1, sizeof *nt);
    op_share *ops = calloc((size_t)nn + 1, sizeof *ops);
    if (!nt || !ops) {
        free(nt);
        free(ops);
        emberctl_error("out of memory for the profile");
        return -1;
    }
    int64_t total = 0, runs = 1;
    for (int i = 0; i < nn; i++) {
        ember_node_time *t = &nt[ran];
        if (ember_session_profile_node(s, i, t) != 0 || t->calls == 0)
            continue;
        ran++;
        total += t->ns;
        runs = t->runs > 0 ? t->runs : 1;
        int j = 0;
        while (j < nops && (strcmp(ops[j].op, t->op) || strcmp(ops[j].domain, t->domain)))
            j++;
        if (j == nops)
            ops[nops++] = (op_share){t->domain, t->op, 0, 0};
        ops[j].ns += t->ns;
        ops[j].nodes++;
    }
    qsort(ops, (size_t)nops, sizeof *ops, cmp_op_share);
    qsort(nt, (size_t)ran, sizeof *nt, cmp_node_time);
    double all = total > 0 ? (double)total : 1.0;
    printf("\nprofile:    %.5f ms of node time per run, %lld runs\n"
           "%-28s %10s %7s %6s\n",
           (double)total / 1e6 / (double)runs, (long long)runs, "op", "ms/run", "share", "nodes");
    for (int j = 0; j < nops; j++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", ops[j].domain, ops[j].domain[0] ? "." : "",
                 ops[j].op);
        printf("%-28s %10.5f %6.2f%% %6d\n", name, (double)ops[j].ns / 1e6 / (double)runs,
               100.0 * (double)ops[j].ns / all, ops[j].nodes);
    }
    printf("\n%-28s %10s %7s  %s\n", "slowest nodes: op", "ms/run", "share", "node");
    for (int i = 0; i < ran && i < BENCH_PROFILE_TOP_NODES; i++)
        printf("%-28s %10.5f %6.2f%%  %s%s%s\n", nt[i].op, (double)nt[i].ns / 1e6 / (double)runs,
               100.0 * (double)nt[i].ns / all, nt[i].parent, nt[i].parent[0] ? " > " : "",
               nt[i].name[0] ? nt[i].name : "(unnamed)");
    free(nt);
    free(ops);
    return 0;
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
        {"profile", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *inputs[BENCH_MAX_IO];
    int ninputs = 0, threads = 1, iters = BENCH_DEFAULT_ITERS, warmup = BENCH_DEFAULT_WARMUP;
    int csv = 0, profile = 0, opt;
    (void)ctl;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:t:n:w:f:ph", longopts, NULL)) != -1) {
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
        case 'p': profile = 1; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default: return emberctl_usage_error("bench", "unknown option");
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("bench", "give exactly one MODEL");
    const char *model_path = argv[optind];
    if (profile && csv)
        return emberctl_usage_error("bench", "--profile prints text; drop --format csv");

    ember_err err = {{0}};
    ember_model *m = NULL;
    const char *files[BENCH_MAX_IO] = {0};
    if (emberctl_load_model("bench", model_path, inputs, ninputs, BENCH_MAX_IO, &m, files) != 0)
        return EMBERCTL_EXIT_USAGE;
    int nin = ember_model_ninputs(m), nout = ember_model_noutputs(m);
    int rc = EMBERCTL_EXIT_USAGE;
    ember_tensor in[BENCH_MAX_IO] = {{0}}, out[BENCH_MAX_IO];
    ember_session *s = NULL;
    double *ms = NULL;
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
    if (ember_session_create(m, &s, &err) != 0 ||
        (threads = ember_session_set_threads(s, threads, &err)) < 0) {
        emberctl_error("%s: %s", model_path, err.msg);
        goto done;
    }
    for (int i = 0; i < warmup + iters; i++) {
        if (profile && i == warmup && ember_session_profile(s, 1) != 0) {
            emberctl_error("out of memory for the profile");
            goto done;
        }
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
        if (profile && print_profile(s) != 0)
            goto done;
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
