/*
 * emberctl infer: send a KServe v2 inference request to a model and show the answer.
 *
 * The request body is read from a file (or standard input) and posted unchanged, so any
 * request emberd understands can be sent, and emberd alone judges it. The answer is printed
 * as indented JSON or, with --top K, as the K highest-scoring indices of each row of each
 * output (an output of shape [N, C] has N rows of C scores).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl [--socket PATH] infer NAME --json FILE|- [--model-version V]\n"
           "                [--top K [--output OUTPUT]]\n"
           "\n"
           "Post the KServe v2 inference request in FILE ('-' reads standard input) to model\n"
           "NAME (POST /v2/models/NAME[/versions/V]/infer) and print emberd's answer as\n"
           "indented JSON. The file is sent as it is; for example, for the digits model:\n"
           "\n"
           "  {\"inputs\": [{\"name\": \"image\", \"datatype\": \"FP32\", \"shape\": [1, 64],\n"
           "               \"data\": [0, 0, 5, 13, ...]}]}\n"
           "\n"
           "Options:\n"
           "  --json FILE|-         the request body (required); at most %u MiB\n"
           "  --model-version V     ask for version V of the model instead of emberd's choice\n"
           "  --top K               instead of the JSON, print the K highest scores of each\n"
           "                        row of each numeric output, best first, one per line:\n"
           "                          probabilities[0]:\n"
           "                            class 7: 0.998213\n"
           "                        (row [i] is the i-th item of the batch)\n"
           "  --output OUTPUT       with --top, only this output\n"
           "  -h, --help            show this help and exit\n"
           "\n"
           "Exit status:\n"
           "  0  emberd answered 200 and the answer was printed\n"
           "  1  emberd answered with an HTTP error (its message is printed on stderr), or\n"
           "     --output names an output that is not in the answer\n"
           "  2  usage error, FILE unreadable, or emberd could not be reached\n",
           EMBERCTL_MAX_INPUT / (1024 * 1024));
}

/* Append every number in a (possibly nested) JSON array to vals; -1 on a non-number. */
static int flatten(const cJSON *data, double **vals, size_t *n, size_t *cap)
{
    const cJSON *e;

    if (cJSON_IsArray(data)) {
        cJSON_ArrayForEach(e, data)
        {
            if (flatten(e, vals, n, cap) < 0)
                return -1;
        }
        return 0;
    }
    if (!cJSON_IsNumber(data))
        return -1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        double *nv = realloc(*vals, nc * sizeof *nv);
        if (!nv)
            return -1;
        *vals = nv;
        *cap = nc;
    }
    (*vals)[(*n)++] = data->valuedouble;
    return 0;
}

static void print_top_row(const double *row, size_t ncls, int k)
{
    char *taken = calloc(ncls, 1);

    if (!taken)
        return;
    for (int rank = 0; rank < k && (size_t)rank < ncls; rank++) {
        size_t best = ncls;
        for (size_t i = 0; i < ncls; i++)
            if (!taken[i] && (best == ncls || row[i] > row[best]))
                best = i;
        taken[best] = 1;
        printf("  class %zu: %.6g\n", best, row[best]);
    }
    free(taken);
}

/* Print the top k of one output; -1 (after saying why) if it has no numeric data. */
static int print_top_output(const cJSON *out, int k)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(out, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(out, "shape");
    const char *oname = cJSON_IsString(name) ? name->valuestring : "?";
    double *vals = NULL;
    size_t n = 0, cap = 0;

    if (flatten(cJSON_GetObjectItemCaseSensitive(out, "data"), &vals, &n, &cap) < 0 || n == 0) {
        emberctl_error("--top: output '%s' has no numeric data", oname);
        free(vals);
        return -1;
    }
    /* Scores run along the last dimension; everything before it enumerates rows. */
    size_t ncls = n;
    int rank = cJSON_GetArraySize(shape);
    if (rank > 0) {
        const cJSON *last = cJSON_GetArrayItem(shape, rank - 1);
        if (cJSON_IsNumber(last) && last->valuedouble >= 1 && n % (size_t)last->valuedouble == 0)
            ncls = (size_t)last->valuedouble;
    }
    for (size_t r = 0; r < n / ncls; r++) {
        printf("%s[%zu]:\n", oname, r);
        print_top_row(vals + r * ncls, ncls, k);
    }
    free(vals);
    return 0;
}

static int print_answer(const ember_response *resp, int top, const char *only)
{
    cJSON *j = emberctl_body_json(resp);
    int rc = EMBERCTL_EXIT_OK;

    if (!j) {
        emberctl_error("emberd's answer is not JSON; here it is as it came");
        fwrite(resp->body, 1, resp->body_len, stdout);
        return top ? EMBERCTL_EXIT_FAIL : EMBERCTL_EXIT_OK;
    }
    if (!top) {
        emberctl_print_json(stdout, j);
        cJSON_Delete(j);
        return EMBERCTL_EXIT_OK;
    }
    const cJSON *out;
    int found = 0;
    cJSON_ArrayForEach(out, cJSON_GetObjectItemCaseSensitive(j, "outputs"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(out, "name");
        if (only && !(cJSON_IsString(name) && strcmp(name->valuestring, only) == 0))
            continue;
        found++;
        if (print_top_output(out, top) < 0 && only)
            rc = EMBERCTL_EXIT_FAIL;
    }
    if (only && !found) {
        emberctl_error("--output: emberd's answer has no output named '%s'", only);
        rc = EMBERCTL_EXIT_FAIL;
    }
    cJSON_Delete(j);
    return rc;
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    enum { OPT_MODEL_VERSION = 256, OPT_OUTPUT };
    static const struct option longopts[] = {
        {"json", required_argument, NULL, 'j'},
        {"model-version", required_argument, NULL, OPT_MODEL_VERSION},
        {"top", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *json = NULL, *version = NULL, *only = NULL;
    int top = 0, opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        case 'j': json = optarg; break;
        case OPT_MODEL_VERSION: version = optarg; break;
        case OPT_OUTPUT: only = optarg; break;
        case 'k':
            if (emberctl_parse_int(optarg, &top) < 0 || top < 1)
                return emberctl_usage_error("infer", "--top wants a count of 1 or more, not '%s'",
                                            optarg);
            break;
        case ':':
            return emberctl_usage_error("infer", "option '%s' needs a value", argv[optind - 1]);
        default: return emberctl_usage_error("infer", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return emberctl_usage_error("infer", "which model? (NAME is missing)");
    if (optind + 1 < argc)
        return emberctl_usage_error("infer", "unexpected argument '%s'", argv[optind + 1]);
    if (!json)
        return emberctl_usage_error("infer", "--json FILE is required ('-' for standard input)");
    if (only && !top)
        return emberctl_usage_error("infer", "--output only makes sense with --top");
    const char *model = argv[optind];

    char path[1024];
    if (!*model || emberctl_model_path(path, sizeof path, model, version, "/infer") < 0)
        return emberctl_usage_error("infer", "model name or version is empty or too long");

    char *body;
    size_t body_len;
    if (emberctl_read_file(json, EMBERCTL_MAX_INPUT, &body, &body_len) < 0)
        return EMBERCTL_EXIT_USAGE;

    ember_client *c = NULL;
    ember_response resp;
    int rc = emberctl_connect(ctl, &c);
    if (!rc)
        rc = emberctl_call(c, "POST", path, body, body_len, &resp);
    free(body);
    ember_client_close(c);
    if (rc)
        return rc;
    if (resp.status != 200) {
        emberctl_print_http_error(model, &resp);
        rc = EMBERCTL_EXIT_FAIL;
    } else {
        rc = print_answer(&resp, top, only);
    }
    ember_response_free(&resp);
    return rc;
}

const emberctl_cmd emberctl_cmd_infer = {
    .name = "infer",
    .summary = "send an inference request to a model and print the answer",
    .run = run,
};
