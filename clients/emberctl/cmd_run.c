/*
 * emberctl run: one inference through the engine in this process, no daemon involved.
 *
 * Inputs are .npy files given in the model's input order (-i FILE) or by name
 * (-i NAME=FILE); outputs are written as OUTDIR/output_K.npy in the model's output order.
 * This is the command the reference checks and the benchmarks build on, so every failure
 * (unreadable model, bad .npy, wrong shape) is one clear line and exit status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ember/engine.h>
#include <ember/proto.h>

#include "emberctl.h"

#define RUN_MAX_IO 64

static void print_usage(void)
{
    printf("Usage: emberctl run MODEL -i [NAME=]FILE.npy [-i ...] -o OUTDIR [--threads N]\n"
           "\n"
           "Run MODEL (an .onnx or compiled .ember file) once on the given inputs in this\n"
           "process, without emberd, and write each output as OUTDIR/output_K.npy\n"
           "(K = 0, 1, ... in the "           "model's output order). OUTDIR is created if missing.\n"
           "\n"
           "Inputs are NumPy .npy files (float32, int64, int32, int8, uint8 or bool,\n"
           "C order). Plain -i FILE arguments fill the model's inputs in order; -i NAME=FILE\n"
           "sets the input called NAME. Every input must be given exactly once.\n"
           "\n"
           "Options:\n"
           "  -i, --input [NAME=]FILE   an input tensor (repeatable)\n"
           "  -o, --output DIR          where to write output_K.npy (required)\n"
           "  -t, --threads N           threads the session splits large Conv, Gemm,\n"
           "                            MatMul, MaxPool and Concat nodes across (default\n"
           "                            1, capped at the CPUs online); outputs are the\n"
           "                            same for every N\n"
           "  -h, --help                show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error, an unreadable or invalid model\n"
           "or input, or a failed inference (the message says which).\n");
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *inputs[RUN_MAX_IO], *outdir = NULL;
    int ninputs = 0, threads = 1, opt;
    (void)ctl;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:o:t:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (ninputs == RUN_MAX_IO)
                return emberctl_usage_error("run", "at most %d inputs", RUN_MAX_IO);
            inputs[ninputs++] = optarg;
            break;
        case 'o': outdir = optarg; break;
        case 't':
            if (emberctl_parse_int(optarg, &threads) < 0 || threads < 1 ||
                threads > EMBER_SESSION_MAX_THREADS)
                return emberctl_usage_error("run",
                                            "--threads wants a whole number from 1 to %d, "
                                            "not '%s'",
                                            EMBER_SESSION_MAX_THREADS, optarg);
            break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default: return emberctl_usage_error("run", "unknown option");
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("run", "give exactly one MODEL");
    if (!outdir)
        return emberctl_usage_error("run", "-o OUTDIR is required");
    const char *model_path = argv[optind];

    ember_err err = {{0}};
    ember_model *m = NULL;
    const char *files[RUN_MAX_IO] = {0};
    if (emberctl_load_model("run", model_path, inputs, ninputs, RUN_MAX_IO, &m, files) != 0)
        return EMBERCTL_EXIT_USAGE;
    int nin = ember_model_ninputs(m), nout = ember_model_noutputs(m);
    int rc = EMBERCTL_EXIT_USAGE;
    ember_tensor in[RUN_MAX_IO] = {{0}}, out[RUN_MAX_IO];
    ember_session *s = NULL;
    for (int i = 0; i < nin; i++) {
        if (!files[i]) {
            emberctl_usage_error("run", "no file for input '%s' (%d inputs needed)",
                                 ember_model_input(m, i)->name, nin);
            goto done;
        }
        if (ember_npy_load(files[i], &in[i], &err) != 0) {
            emberctl_error("%s", err.msg);
            goto done;
        }
    }
    if (ember_session_create(m, &s, &err) != 0 || ember_session_set_threads(s, threads, &err) < 0 ||
        ember_session_run(s, in, nin, out, nout, &err)) {
        emberctl_error("%s: %s", model_path, err.msg);
        goto done;
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        emberctl_error("cannot create %s: %s", outdir, strerror(errno));
        goto done;
    }
    for (int i = 0; i < nout; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.npy", outdir, i);
        if (ember_npy_save(path, &out[i], &err) != 0) {
            emberctl_error("%s", err.msg);
            goto done;
        }
        printf("%s: %s [", path, ember_model_output(m, i)->name);
        for (int d = 0; d < out[i].rank; d++)
            printf("%s%lld", d ? ", " : "", (long long)out[i].dims[d]);
        printf("] %s\n", ember_dtype_name(out[i].dtype));
    }
    rc = EMBERCTL_EXIT_OK;
done:
    for (int i = 0; i < RUN_MAX_IO; i++)
        free(in[i].data);
    ember_session_free(s);
    ember_model_free(m);
    return rc;
}

const emberctl_cmd emberctl_cmd_run = {
    "run",
    "run a model file once in this process on .npy inputs (no daemon)",
    run,
};
