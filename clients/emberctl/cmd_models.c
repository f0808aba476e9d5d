/*
 * emberctl models: what emberd serves.
 *
 * The model list and states come from the repository index (POST /v2/repository/index);
 * each entry's inputs and outputs from its metadata (GET /v2/models/NAME/versions/V). The
 * table's columns are as wide as their longest value so the output lines up for any names.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl [--socket PATH] models\n"
           "\n"
           "List the models emberd serves: one line per model version with its name,\n"
           "version and state (from POST /v2/repository/index), followed by one indented\n"
           "line per input and output with its name, datatype and shape (from the model's\n"
           "metadata, GET /v2/models/NAME/versions/VERSION). A dimension of -1 is decided\n"
           "by each request (usually the batch size). For example:\n"
           "\n"
           "  NAME    VERSION  STATE\n"
           "  digits  1        READY\n"
           "      input   image          FP32  [-1, 64]\n"
           "      output  probabilities  FP32  [-1, 10]\n"
           "\n"
           "Options:\n"
           "  -h, --help   show this help and exit\n"
           "\n"
           "Exit status:\n"
           "  0  the list was printed\n"
           "  1  emberd answered the index or a model's metadata with an HTTP error\n"
           "  2  emberd could not be reached, or a usage error\n");
}

static const char *string_field(const cJSON *obj, const char *name, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

static void format_shape(const cJSON *shape, char *buf, size_t cap)
{
    size_t len = 0;
    const cJSON *d;

    len += (size_t)snprintf(buf, cap, "[");
    cJSON_ArrayForEach(d, shape)
    {
        if (len >= cap)
            break;
        len += (size_t)snprintf(buf + len, cap - len, "%s%.0f", d == shape->child ? "" : ", ",
                                cJSON_IsNumber(d) ? d->valuedouble : 0.0);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* Width of the widest "name" among the inputs and outputs of every metadata object. */
static int io_name_width(cJSON *const *meta, int n)
{
    int w = 0;

    for (int i = 0; i < n; i++) {
        static const char *const kinds[] = {"inputs", "outputs"};
        for (int k = 0; k < 2; k++) {
            const cJSON *io;
            cJSON_ArrayForEach(io, cJSON_GetObjectItemCaseSensitive(meta[i], kinds[k]))
            {
                int len = (int)strlen(string_field(io, "name", "?"));
                if (len > w)
                    w = len;
            }
        }
    }
    return w;
}

static void print_ios(const cJSON *meta, const char *kind, const char *label, int width)
{
    const cJSON *io;

    cJSON_ArrayForEach(io, cJSON_GetObjectItemCaseSensitive(meta, kind))
    {
        char shape[256];
        format_shape(cJSON_GetObjectItemCaseSensitive(io, "shape"), shape, sizeof shape);
        printf("    %-6s  %-*s  %-5s %s\n", label, width, string_field(io, "name", "?"),
               string_field(io, "datatype", "?"), shape);
    }
}

/* Fetch the metadata of one index entry into *out (the caller's to cJSON_Delete). When emberd
 * gives none, *out is NULL, the reason is printed and the exit status to report returned. */
static int fetch_metadata(ember_client *c, const char *name, const char *version, cJSON **out)
{
    char path[1024];
    ember_response resp;

    *out = NULL;
    if (emberctl_model_path(path, sizeof path, name, version, "") < 0) {
        emberctl_error("model name '%s' is too long", name);
        return EMBERCTL_EXIT_FAIL;
    }
    int rc = emberctl_call(c, "GET", path, NULL, 0, &resp);
    if (rc)
        return rc;
    if (resp.status != 200) {
        emberctl_print_http_error(path, &resp);
        rc = EMBERCTL_EXIT_FAIL;
    } else if (!(*out = emberctl_body_json(&resp))) {
        emberctl_error("%s: emberd's answer is not JSON", path);
        rc = EMBERCTL_EXIT_FAIL;
    }
    ember_response_free(&resp);
    return rc;
}

static int list_models(ember_client *c)
{
    ember_response resp;
    int rc = emberctl_call(c, "POST", "/v2/repository/index", "{}", 2, &resp);
    if (rc)
        return rc;
    if (resp.status != 200) {
        emberctl_print_http_error("repository index", &resp);
        ember_response_free(&resp);
        return EMBERCTL_EXIT_FAIL;
    }
    cJSON *index = emberctl_body_json(&resp);
    ember_response_free(&resp);
    if (!cJSON_IsArray(index)) {
        emberctl_error("repository index: emberd's answer is not a JSON array");
        cJSON_Delete(index);
        return EMBERCTL_EXIT_FAIL;
    }

    int n = cJSON_GetArraySize(index);
    int wname = (int)strlen("NAME"), wver = (int)strlen("VERSION");
    const cJSON *e;
    cJSON_ArrayForEach(e, index)
    {
        int ln = (int)strlen(string_field(e, "name", "?"));
        int lv = (int)strlen(string_field(e, "version", "-"));
        wname = ln > wname ? ln : wname;
        wver = lv > wver ? lv : wver;
    }

    /* Metadata first, so a failure to fetch one is reported before the table. */
    cJSON **meta = n ? calloc((size_t)n, sizeof *meta) : NULL;
    if (n && !meta) {
        cJSON_Delete(index);
        emberctl_error("out of memory");
        return EMBERCTL_EXIT_FAIL;
    }
    int i = 0;
    cJSON_ArrayForEach(e, index)
    {
        int r = fetch_metadata(c, string_field(e, "name", "?"), string_field(e, "version", ""),
                               &meta[i++]);
        if (r == EMBERCTL_EXIT_USAGE || (r && !rc))
            rc = r;
        if (r == EMBERCTL_EXIT_USAGE)
            break;
    }

    if (rc != EMBERCTL_EXIT_USAGE) {
        int wio = io_name_width(meta, n);
        printf("%-*s  %-*s  %s\n", wname, "NAME", wver, "VERSION", "STATE");
        i = 0;
        cJSON_ArrayForEach(e, index)
        {
            printf("%-*s  %-*s  %s\n", wname, string_field(e, "name", "?"), wver,
                   string_field(e, "version", "-"), string_field(e, "state", "?"));
            if (meta[i]) {
                print_ios(meta[i], "inputs", "input", wio);
                print_ios(meta[i], "outputs", "output", wio);
            }
            i++;
        }
    }
    for (i = 0; i < n; i++)
        cJSON_Delete(meta[i]);
    free(meta);
    cJSON_Delete(index);
    return rc;
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            print_usage();
            return EMBERCTL_EXIT_OK;
        }
        return emberctl_usage_error("models", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return emberctl_usage_error("models", "unexpected argument '%s'", argv[optind]);

    ember_client *c;
    int rc = emberctl_connect(ctl, &c);
    if (rc)
        return rc;
    rc = list_models(c);
    ember_client_close(c);
    return rc;
}

const emberctl_cmd emberctl_cmd_models = {
    .name = "models",
    .summary = "list the models emberd serves, their state, inputs and outputs",
    .run = run,
};
