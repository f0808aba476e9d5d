/*
 * emberctl compile: turn a model into the compiled, memory-mappable .ember format.
 *
 * The model is loaded exactly as emberd would load it (so an unsupported operator fails here,
 * on the build machine, not on the device), then written with ember_model_save, which
 * replaces the output file atomically. The result is unsealed; `emberctl seal` signs and
 * encrypts it for deployment.
 */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

#include <ember/engine.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl compile MODEL -o OUT.ember\n"
           "\n"
           "Load MODEL (an .onnx file, or an already compiled .ember) and write it as a\n"
           "compiled ember model: a versioned header, the graph as fixed-width tables and\n"
           "64-byte aligned weights, which emberd and 'emberctl run' map and use in place\n"
           "without parsing any protobuf. OUT is replaced atomically (written to a temporary\n"
           "file, synced, renamed). The format is described in docs/ember-format.md.\n"
           "\n"
           "Prints what it wrote: file size, node count and weight bytes.\n"
           "\n"
           "Options:\n"
           "  -o, --output FILE   the .ember file to write (required)\n"
           "  -h, --help          show this help and exit\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error, a model that cannot be loaded\n"
           "(the message names the file and the problem, such as an unsupported operator)\n"
           "or an output that cannot be written.\n");
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL;
    int opt;
    (void)ctl;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': out_path = optarg; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default: return emberctl_usage_error("compile", "unknown option or missing value: '%s'",
                                             argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return emberctl_usage_error("compile", "give exactly one MODEL");
    if (!out_path || !*out_path)
        return emberctl_usage_error("compile", "-o OUT.ember is required");
    const char *model_path = argv[optind];

    ember_err err = {{0}};
    ember_model *m = NULL;
    if (ember_model_load_unprepared(model_path, &m, &err) != 0) { /* saved, never run */
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    ember_model_stats st;
    int rc = ember_model_describe(m, &st);
    if (rc == 0)
        rc = ember_model_save(m, out_path, &err);
    else
        snprintf(err.msg, sizeof err.msg, "out of memory");
    ember_model_free(m);
    if (rc != 0) {
        emberctl_error("%s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    struct stat sb;
    long long size = stat(out_path, &sb) == 0 ? (long long)sb.st_size : -1;
    printf("wrote %s: %lld bytes, %d nodes, %lld parameters in %lld bytes of weights\n", out_path,
           size, st.nodes, (long long)st.params, (long long)st.weight_bytes);
    return EMBERCTL_EXIT_OK;
}

const emberctl_cmd emberctl_cmd_compile = {
    .name = "compile",
    .summary = "compile a model (.onnx) into a memory-mappable .ember file (no daemon)",
    .run = run,
};
