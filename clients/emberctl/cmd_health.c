/*
 * emberctl health: is emberd live (the process answers) and ready (it can serve inference)?
 *
 * Two requests, GET /v2/health/live and GET /v2/health/ready, on one connection. A state
 * counts as yes only for a 200 whose body says {"live": true} or {"ready": true}.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "emberctl.h"

static void print_usage(void)
{
    printf("Usage: emberctl [--socket PATH] health\n"
           "\n"
           "Ask emberd whether it is live (GET /v2/health/live: the daemon is running and\n"
           "answering) and ready (GET /v2/health/ready: it can serve inference requests),\n"
           "and print both, one per line:\n"
           "\n"
           "  live: yes\n"
           "  ready: yes\n"
           "\n"
           "A state that is not yes is printed as 'no', followed by the HTTP status and\n"
           "emberd's message when it gave one.\n"
           "\n"
           "Options:\n"
           "  -h, --help   show this help and exit\n"
           "\n"
           "Exit status:\n"
           "  0  emberd is ready\n"
           "  1  emberd answered but is not ready\n"
           "  2  emberd could not be reached (the message names the socket), or a usage error\n");
}

/* Ask one health endpoint; *yes is set when it answers 200 with {"<field>": true}. */
static int probe(ember_client *c, const char *path, const char *field, int *yes)
{
    ember_response resp;
    int rc = emberctl_call(c, "GET", path, NULL, 0, &resp);
    if (rc)
        return rc;

    cJSON *j = emberctl_body_json(&resp);
    *yes = resp.status == 200 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, field));
    if (*yes) {
        printf("%s: yes\n", field);
    } else {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "error");
        printf("%s: no (HTTP %d%s%s)\n", field, resp.status, cJSON_IsString(msg) ? ": " : "",
               cJSON_IsString(msg) ? msg->valuestring : "");
    }
    cJSON_Delete(j);
    ember_response_free(&resp);
    return 0;
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
        return emberctl_usage_error("health", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return emberctl_usage_error("health", "unexpected argument '%s'", argv[optind]);

    ember_client *c;
    int live = 0, ready = 0;
    int rc = emberctl_connect(ctl, &c);
    if (rc)
        return rc;
    rc = probe(c, "/v2/health/live", "live", &live);
    if (!rc)
        rc = probe(c, "/v2/health/ready", "ready", &ready);
    ember_client_close(c);
    if (rc)
        return rc;
    return ready ? EMBERCTL_EXIT_OK : EMBERCTL_EXIT_FAIL;
}

const emberctl_cmd emberctl_cmd_health = {
    .name = "health",
    .summary = "show whether emberd is live and ready (exit 0 only if ready)",
    .run = run,
};
