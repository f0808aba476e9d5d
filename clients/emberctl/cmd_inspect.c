/*
 * emberctl inspect: what a model file holds and what running it costs.
 *
 * The static part (format, opset, inputs and outputs, operator counts, parameters) comes from
 * ember_model_describe. MACs and arena bytes depend on shapes, so inspect runs the model once
 * in this process on zero-filled inputs, with every dynamic dimension set to 1 (or to what
 * --shape says), counting MACs in the session, and reports the arena the session planned. A
 * model that needs other shapes or values may fail that run; the static part is printed
 * regardless.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ember/engine.h>

#include "emberctl.h"

#define INSPECT_MAX_IO 64

static void print_usage(void)
{
    printf("Usage: emberctl inspect [--shape NAME=D0,D1,...]... MODEL\n"
           "\n"
           "Describe MODEL (an .onnx or compiled .ember file) without emberd: its format\n"
           "and opset, inputs and outputs (data type and shape, a dynamic dimension shown\n"
           "as N), how many nodes of each operator it has, its parameter count and weight\n"
           "bytes, and the multiply-accumulates (MACs) and arena bytes of one inference.\n"
           "\n"
           "MACs and arena bytes come from one run on zero-filled inputs with every dynamic\n"
           "dimension set to 1, or the shape --shape gives that input; they grow with those\n"
           "dimensions.\n"
           "\n"
           "Options:\n"
           "  -s, --shape NAME=D0,D1,...   the shape of input NAME for the measuring run\n"
           "                               (repeatable; e.g. --shape audio=1,16000)\n"
           "  -h, --help                   show this help and exit\n"
           "\n"
           "Exit status: 0 when the model loads (even if the measuring run fails; the\n"
           "output says so), 2 for a usage error or a model that cannot be loaded.\n");
}

static void print_io(const ember_io_info *io)
{
    printf("  %-24s %-8s [", io->name, ember_dtype_name(io->dtype));
    for (int d = 0; d < io->rank; d++) {
        if (io->dims[d] < 0)
            printf("%sN", d ? ", " : "");
        else
            printf("%s%lld", d ? ", " : "", (long long)io->dims[d]);
    }
    printf("]\n");
}

static const char *human(double bytes, char *buf, size_t cap)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (bytes >= 1024 && u < 3) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
    return buf;
}

/* Applies a --shape NAME=D0,D1,... to in[] (the run's inputs, in model order); 0, or
 * EMBERCTL_EXIT_USAGE after printing why. */
static int apply_shape(const ember_model *m, const char *arg, ember_tensor *in)
{
    const char *eq = strchr(arg, '=');
    char name[256];
    if (!eq || (size_t)(eq - arg) >= sizeof name)
        return emberctl_usage_error("inspect", "--shape wants NAME=D0,D1,..., not '%s'", arg);
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    int i = ember_model_input_index(m, name);
    if (i < 0)
        return emberctl_usage_error("inspect", "the model has no input named '%s'", name);
    const ember_io_info *io = ember_model_input(m, i);
    const char *p = eq + 1;
    for (int d = 0; d < io->rank; d++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || (io->dims[d] >= 0 && v != io->dims[d]) ||
            *end != (d + 1 < io->rank ? ',' : '\0'))
            return emberctl_usage_error("inspect",
                                        "--shape %s: want %d comma-separated dims matching the "
                                        "model's fixed ones",
                                        name, io->rank);
        in[i].dims[d] = v;
        p = end + 1;
    }
    return 0;
}

/* One run on zero-filled inputs (dynamic dims 1 unless --shape set them), counting MACs; 0 or
 * the run's error. */
static int measure(const ember_model *m, ember_tensor *in, int64_t *macs, size_t *arena,
                   ember_err *err)
{
    int nin = ember_model_ninputs(m), nout = ember_model_noutputs(m);
    ember_tensor out[INSPECT_MAX_IO];
    ember_session *s = NULL;
    int rc = 0;
    for (int i = 0; i < nin && rc == 0; i++) {
        const ember_io_info *io = ember_model_input(m, i);
        int64_t n = ember_tensor_count(&in[i]);
        size_t es = ember_dtype_size(io->dtype);
        if (n < 0 || es == 0 || !(in[i].data = calloc((size_t)n + 1, es)))
            rc = ember_err_set(err, EMBER_ENOMEM, "cannot make a zero input '%s'", io->name);
    }
    if (rc == 0)
        rc = ember_session_create(m, &s, err);
    if (rc == 0) {
        ember_session_count_macs(s, 1);
        rc = ember_session_run(s, in, nin, out, nout, err);
    }
    if (rc == 0) {
        *macs = ember_session_macs(s);
        *arena = ember_session_arena_bytes(s);
    }
    ember_session_free(s);
    for (int i = 0; i < nin; i++)
        free(in[i].data);
    return rc;
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"shape", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *shapes[INSPECT_MAX_IO];
    int nshapes = 0, opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            print_usage();
            return EMBERCTL_EXIT_OK;
        }
        if (opt == 's' && nshapes < INSPECT_MAX_IO) {
            shapes[nshapes++] = optarg;
            continue;
        }
        return emberctl_usage_error("inspect", "unknown option, missing value or too many: '%s'",
                                    argv[optind - 1]);
    }
    if (optind != argc - 1)
        return emberctl_usage_error("inspect", "give exactly one MODEL");
    const char *path = argv[optind];

    ember_err err = {{0}};
    ember_model *m = NULL;
    if (ember_model_load(path, &m, &err) != 0) {
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    ember_model_stats st;
    if (ember_model_describe(m, &st) != 0) {
        ember_model_free(m);
        emberctl_error("%s: out of memory", path);
        return EMBERCTL_EXIT_USAGE;
    }
    /* The measuring run's input shapes: dynamic dims 1, then --shape. */
    int nin = ember_model_ninputs(m), dynamic = 0;
    ember_tensor in[INSPECT_MAX_IO] = {{0}};
    if (nin > INSPECT_MAX_IO || ember_model_noutputs(m) > INSPECT_MAX_IO) {
        ember_model_free(m);
        emberctl_error("%s: more than %d inputs or outputs", path, INSPECT_MAX_IO);
        return EMBERCTL_EXIT_USAGE;
    }
    for (int i = 0; i < nin; i++) {
        const ember_io_info *io = ember_model_input(m, i);
        in[i].dtype = io->dtype;
        in[i].rank = io->rank;
        for (int d = 0; d < io->rank; d++) {
            in[i].dims[d] = io->dims[d] < 0 ? 1 : io->dims[d];
            dynamic |= io->dims[d] < 0;
        }
    }
    for (int i = 0; i < nshapes; i++)
        if (apply_shape(m, shapes[i], in) != 0) {
            ember_model_free(m);
            return EMBERCTL_EXIT_USAGE;
        }
    char hb[32];
    struct stat sb;
    printf("model:       %s", path);
    if (stat(path, &sb) == 0)
        printf(" (%lld bytes)", (long long)sb.st_size);
    printf("\nformat:      %s, opset %d\n",
           st.format == EMBER_FORMAT_COMPILED ? "compiled .ember" : "ONNX", st.opset);
    printf("inputs:\n");
    for (int i = 0; i < ember_model_ninputs(m); i++)
        print_io(ember_model_input(m, i));
    printf("outputs:\n");
    for (int i = 0; i < ember_model_noutputs(m); i++)
        print_io(ember_model_output(m, i));
    printf("nodes:       %d (%d operator types)\n", st.nodes, st.nops);
    int shown = st.nops < EMBER_STATS_MAX_OPS ? st.nops : EMBER_STATS_MAX_OPS;
    for (int i = 0; i < shown; i++)
        printf("  %-24s %d\n", st.ops[i].op, st.ops[i].count);
    if (st.nops > shown)
        printf("  (%d more operator types)\n", st.nops - shown);
    printf("parameters:  %lld\n", (long long)st.params);
    printf("weights:     %lld bytes (%s)\n", (long long)st.weight_bytes,
           human((double)st.weight_bytes, hb, sizeof hb));

    int64_t macs = 0;
    size_t arena = 0;
    const char *how = nshapes ? ", shapes from --shape and dynamic dims otherwise 1"
                      : dynamic ? ", dynamic dims set to 1"
                                : "";
    if (measure(m, in, &macs, &arena, &err) == 0) {
        printf("MACs:        %lld\n", (long long)macs);
        printf("arena:       %zu bytes (%s)\n", arena, human((double)arena, hb, sizeof hb));
        printf("             (measured by one run on zero inputs%s)\n", how);
    } else {
        printf("MACs:        unknown (a run on zero inputs%s failed: %s)\n", how, err.msg);
        printf("arena:       unknown (try --shape to give the inputs a workable size)\n");
    }
    ember_model_free(m);
    return EMBERCTL_EXIT_OK;
}

const emberctl_cmd emberctl_cmd_inspect = {
    .name = "inspect",
    .summary = "show a model's inputs, outputs, ops, parameters, MACs, arena (no daemon)",
    .run = run,
};
