/*
 * emberd's entry point: parse the command line, load the models, start the server on the
 * libuv loop and run it until SIGTERM or SIGINT asks for an orderly shutdown. Everything
 * lives in main()'s frame; the signal handles reach it through their data pointers, so the
 * daemon needs no global state.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "limits.h"
#include "log.h"
#include "registry.h"
#include "server.h"

typedef struct options {
    const char *socket_path;
    const char *models_dir;
    int dev;
    int workers;
    int queue;
    int log_level;
} options;

typedef struct signals {
    server *srv;
    const daemon_log *log;
    uv_signal_t term, intr;
} signals;

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > EMBERD_MAX_WORKERS ? EMBERD_MAX_WORKERS : (int)n;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: emberd [--socket PATH] [--models DIR] [--dev] [--workers N] [--queue N]\n"
            "              [--log-level error|warn|info|debug] [--help] [--version]\n"
            "\n"
            "Serve machine-learning models to local programs over HTTP/1.1 on a Unix socket,\n"
            "using the KServe v2 (Open Inference Protocol) REST API with JSON bodies.\n"
            "\n"
            "Options:\n"
            "  --socket PATH      Listen on PATH. Default: $EMBER_SOCKET if set, else\n"
            "                     %s. Missing parent directories are created.\n"
            "                     A stale socket file (nobody answers on it) is removed;\n"
            "                     if a daemon answers there, or PATH is not a socket, emberd\n"
            "                     refuses to start. The socket is created with mode 0660.\n"
            "  --models DIR       Also serve DIR/NAME/VERSION/model.ember (made by\n"
            "                     'emberctl compile'): for each NAME the highest VERSION\n"
            "                     (a positive integer). A model named like the built-in\n"
            "                     one replaces it. A model that fails to load is logged\n"
            "                     and skipped.\n"
            "  --dev              Development mode: also accept plain model.onnx files\n"
            "                     from --models. Without it they are refused; the built-in\n"
            "                     model is always served.\n"
            "  --workers N        Run inference on N worker threads, 1 to %d.\n"
            "                     Default: the number of online CPUs (%d here).\n"
            "  --queue N          Let at most N requests wait for a worker, 1 to %d; more\n"
            "                     are answered 503 with Retry-After: 1. Default: %d.\n"
            "  --log-level LEVEL  Log to stderr at LEVEL and more severe: error, warn,\n"
            "                     info or debug (every request). Default: info. Lines start\n"
            "                     with a syslog priority: <3> error, <4> warning, <6> info,\n"
            "                     <7> debug.\n"
            "  --help             Print this help and exit.\n"
            "  --version          Print the version and exit.\n"
            "\n"
            "Built-in model: digits, version 1: input image FP32 [N,64], output\n"
            "probabilities FP32 [N,10].\n"
            "\n"
            "Endpoints:\n"
            "  GET  /v2/health/live, /v2/health/ready\n"
            "  GET  /v2                                  server name, version, extensions\n"
            "  GET  /v2/models/NAME[/versions/V]         model metadata\n"
            "  GET  /v2/models/NAME[/versions/V]/ready\n"
            "  POST /v2/models/NAME[/versions/V]/infer   run the model\n"
            "  POST /v2/repository/index                 list the models\n"
            "  HEAD works wherever GET does. Errors are JSON: {\"error\": \"...\"}.\n"
            "\n"
            "emberd prints \"emberd: listening on PATH\" on stderr once it accepts requests.\n"
            "SIGTERM or SIGINT stops it: it stops accepting, lets requests in flight finish,\n"
            "closes the connections, removes the socket file and exits with status 0.\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a usage\n"
            "error.\n"
            "\n"
            "Example:\n"
            "  emberd --socket /tmp/ember.sock &\n"
            "  curl --unix-socket /tmp/ember.sock http://localhost/v2/models/digits/infer \\\n"
            "       -H 'Content-Type: application/json' -d @models/digits/sample.json\n",
            EMBERD_DEFAULT_SOCKET, EMBERD_MAX_WORKERS, online_cpus(), EMBERD_MAX_QUEUE,
            EMBERD_DEFAULT_QUEUE);
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "emberd: %s wants an integer from %d to %d, not '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* 0 to run, 1 when done (--help, --version), -1 for a usage error. */
static int parse_options(int argc, char **argv, options *o)
{
    enum {
        OPT_SOCKET = 1,
        OPT_MODELS,
        OPT_DEV,
        OPT_WORKERS,
        OPT_QUEUE,
        OPT_LOG,
        OPT_HELP,
        OPT_VERSION
    };
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"models", required_argument, NULL, OPT_MODELS},
        {"dev", no_argument, NULL, OPT_DEV},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("EMBER_SOCKET");
    o->socket_path = env && *env ? env : EMBERD_DEFAULT_SOCKET;
    o->models_dir = NULL;
    o->dev = 0;
    o->workers = online_cpus();
    o->queue = EMBERD_DEFAULT_QUEUE;
    o->log_level = LOG_INFO;

    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET: o->socket_path = optarg; break;
        case OPT_MODELS: o->models_dir = optarg; break;
        case OPT_DEV: o->dev = 1; break;
        case OPT_WORKERS:
            if (parse_int("--workers", optarg, 1, EMBERD_MAX_WORKERS, &o->workers) < 0)
                return -1;
            break;
        case OPT_QUEUE:
            if (parse_int("--queue", optarg, 1, EMBERD_MAX_QUEUE, &o->queue) < 0)
                return -1;
            break;
        case OPT_LOG:
            o->log_level = log_level_parse(optarg);
            if (o->log_level < 0) {
                fprintf(stderr, "emberd: --log-level wants error, warn, info or debug, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case OPT_HELP: usage(stdout); return 1;
        case OPT_VERSION: printf("emberd %s\n", EMBERD_VERSION); return 1;
        default: return -1; /* getopt has said what was wrong */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "emberd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void signals_on_stopped(void *ctx)
{
    signals *s = ctx;
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->intr, NULL);
}

static void signals_on_signal(uv_signal_t *h, int signum)
{
    signals *s = h->data;
    log_info(s->log, "emberd: %s received; shutting down",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    server_shutdown(s->srv, signals_on_stopped, s);
}

int main(int argc, char **argv)
{
    options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0) {
        if (rc < 0)
            usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    /* A client that hangs up must cost a failed write, not the process. */
    signal(SIGPIPE, SIG_IGN);

    daemon_log lg = {.level = opt.log_level};
    registry reg;
    registry_init(&reg, opt.workers, &lg);

    uv_loop_t loop;
    rc = uv_loop_init(&loop);
    if (rc < 0) {
        log_error(&lg, "emberd: cannot start the event loop: %s", uv_strerror(rc));
        registry_free(&reg);
        return 1;
    }
    server srv;
    server_config scfg = {
        .socket_path = opt.socket_path,
        .workers = opt.workers,
        .queue = opt.queue,
        .version = EMBERD_VERSION,
    };
    ember_err err = {{0}};
    int status = 0;
    if (server_start(&srv, &loop, &scfg, &reg, &lg, &err) < 0) {
        log_error(&lg, "emberd: %s", err.msg);
        status = 1;
    } else {
        /* Models load once the socket is ours, so a refused start costs no loading; clients
         * that connect meanwhile wait in the listen backlog. */
        registry_load_builtin(&reg);
        if (opt.models_dir)
            registry_load_dir(&reg, opt.models_dir, opt.dev);
        if (reg.nmodels == 0)
            log_warn(&lg, "models: no model could be loaded; /v2/health/ready answers 503");
        signals sig = {.srv = &srv, .log = &lg};
        uv_signal_init(&loop, &sig.term);
        uv_signal_init(&loop, &sig.intr);
        sig.term.data = sig.intr.data = &sig;
        uv_signal_start(&sig.term, signals_on_signal, SIGTERM);
        uv_signal_start(&sig.intr, signals_on_signal, SIGINT);
        log_info(&lg, "emberd %s: %d worker(s), queue %d%s", EMBERD_VERSION, opt.workers, opt.queue,
                 opt.dev ? ", development mode" : "");
        fprintf(stderr, "emberd: listening on %s\n", srv.socket_path);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    /* Let libuv finish closing whatever a failed start left behind. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0)
        log_warn(&lg, "emberd: the event loop still had open handles at exit");
    server_free(&srv);
    registry_free(&reg);
    return status;
}
