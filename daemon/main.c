/*
 * emberd's entry point: parse the command line, lay it over the configuration file (--config)
 * and the defaults, load the models, start the server on the libuv loop and run it until
 * SIGTERM or SIGINT asks for an orderly shutdown. SIGHUP reads the configuration again,
 * applies what can change while running (log level, model repository, dev mode) and rescans
 * the models. Everything lives in main()'s frame; the signal handles reach it through their
 * data pointers, so the daemon needs no global state.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "bundle.h"
#include "config.h"
#include "limits.h"
#include "log.h"
#include "notify.h"
#include "power.h"
#include "registry.h"
#include "server.h"

typedef struct options {
    const char *config_path; /* NULL without --config */
    int check_config;
    daemon_config flags; /* what the command line set, laid over the file */
} options;

typedef struct signals {
    server *srv;
    daemon_log *log;
    registry *reg;
    const options *opt;
    const daemon_config *running; /* what the server started with */
    daemon_power *power;
    uv_signal_t term, intr, hup;
    uv_timer_t watchdog; /* WATCHDOG=1 at half the period systemd asks for */
} signals;

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > EMBERD_MAX_WORKERS ? EMBERD_MAX_WORKERS : (int)n;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: emberd [--config FILE] [--check-config] [--socket PATH] [--models DIR]\n"
            "              [--dev] [--workers N] [--queue N] [--max-connections N]\n"
            "              [--log-level LEVEL]\n"
            "              [--power-policy P] [--power-sysfs DIR] [--power-sample-ms N]\n"
            "              [--power-profile NAME|FILE]\n"
            "              [--trust DIR --device-key FILE --state DIR [--revoked FILE]]\n"
            "              [--tls-listen HOST:PORT --tls-cert FILE --tls-key FILE\n"
            "               [--tls-client-ca FILE]]\n"
            "              [--help] [--version]\n"
            "\n"
            "Serve machine-learning models to local programs over HTTP/1.1 on a Unix socket\n"
            "(and, with --tls-listen, over TCP with TLS 1.3), using the KServe v2 (Open\n"
            "Inference Protocol) REST API with JSON bodies.\n"
            "\n"
            "Options:\n"
            "  --config FILE      Read settings from FILE, a JSON object (comments allowed)\n"
            "                     with the keys socket, models, dev, workers, queue,\n"
            "                     max_connections, log_level, header_timeout_ms and\n"
            "                     idle_timeout_ms, among others (see\n"
            "                     docs/config.md). Options given on the\n"
            "                     command line override the file. SIGHUP reads it again.\n"
            "  --check-config     Check the settings and each model of the model\n"
            "                     directory as loading it would (config.json, model\n"
            "                     files, shapes), say what is wrong, and exit: 0 when\n"
            "                     all is well, 2 when not.\n"
            "  --socket PATH      Listen on PATH. Default: $EMBER_SOCKET if set, else\n"
            "                     %s. Missing parent directories are created.\n"
            "                     A stale socket file (nobody answers on it) is removed;\n"
            "                     if a daemon answers there, or PATH is not a socket, emberd\n"
            "                     refuses to start. The socket is created with mode 0660.\n"
            "  --models DIR       Also serve DIR/NAME/VERSION/model.ember (a bundle made\n"
            "                     by 'emberctl compile' and 'emberctl seal'; unsealed only\n"
            "                     with --dev): for each NAME the highest VERSION\n"
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
            "  --inline-max-us N  Run a request on the event loop itself, without the\n"
            "                     hand-off to a worker, when its model's runs take at most\n"
            "                     N microseconds, nothing waits and a worker is free; 0 to\n"
            "                     %d, 0 turns it off. Default: %d.\n"
            "  --max-connections N  Keep at most N client connections open, 1 to %d; a\n"
            "                     new one beyond that is closed at once. emberd raises its\n"
            "                     open-file limit to fit when it may. Default: %d.\n"
            "  --log-level LEVEL  Log to stderr at LEVEL and more severe: error, warn,\n"
            "                     info or debug (every request). Default: info. Lines start\n"
            "                     with a syslog priority: <3> error, <4> warning, <6> info,\n"
            "                     <7> debug.\n"
            "  --power-policy P   Run the power governor with policy P: performance,\n"
            "                     powersave, ondemand or ember (queue- and deadline-aware).\n"
            "                     It sets the CPU frequency through cpufreq, parks workers\n"
            "                     the load does not need, measures energy, and restores\n"
            "                     the governor and limits it found on exit. Default: off.\n"
            "  --power-sysfs DIR  Find cpufreq, powercap and hwmon below DIR instead of\n"
            "                     /sys (a fake tree, in tests).\n"
            "  --power-sample-ms N  Tick the governor every N ms, 1 to %d. Default: %d.\n"
            "  --power-profile NAME|FILE  Plan with this device profile's power per\n"
            "                     frequency, memory-bound share and ondemand tunables: a\n"
            "                     file, or a name 'emberctl power-sim --list-profiles' shows.\n"
            "  --trust DIR        Serve sealed model bundles signed by a key in DIR (one\n"
            "                     *.pub per signer, optionally limited to model names).\n"
            "                     Outside --dev only sealed bundles are served: a\n"
            "                     model.ember must verify, not be expired, name its\n"
            "                     folder's NAME and VERSION, and open with --device-key.\n"
            "  --revoked FILE     Refuse bundles signed by the key ids listed in FILE.\n"
            "  --device-key FILE  This device's private key (emberctl keygen --device).\n"
            "  --state DIR        Keep each model's rollback floor (the highest version\n"
            "                     accepted) in DIR; older versions are refused.\n"
            "                     --trust, --device-key and --state go together\n"
            "                     (docs/security.md).\n"
            "  --tls-listen HOST:PORT  Also serve the same API over TCP, TLS 1.3 only\n"
            "                     (never plaintext), e.g. 127.0.0.1:8443 or [::1]:8443;\n"
            "                     port 0 picks a free one. Needs --tls-cert and --tls-key.\n"
            "  --tls-cert FILE    The server's PEM certificate (then any intermediates).\n"
            "  --tls-key FILE     Its PEM private key: mode 0600 or stricter, else refused.\n"
            "  --tls-client-ca FILE  Ask TLS clients for a certificate that chains to a CA\n"
            "                     in FILE (PEM); a certificate that does not is refused at\n"
            "                     the handshake. The config file's tls_roles maps\n"
            "                     certificates to roles; tls_anonymous says what a client\n"
            "                     without one may do (default: nothing, 403).\n"
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
            "  POST /v2/repository/models/NAME/load      (re)load NAME from --models\n"
            "  POST /v2/repository/models/NAME/unload    stop serving NAME\n"
            "  GET  /v2/power                            the power governor's state\n"
            "  PUT  /v2/power                            {\"policy\": P} switches policy\n"
            "  GET  /metrics                             Prometheus text\n"
            "  HEAD works wherever GET does. Errors are JSON: {\"error\": \"...\"}.\n"
            "\n"
            "emberd prints \"emberd: listening on PATH\" on stderr once it accepts requests\n"
            "(and \"emberd: listening on https://HOST:PORT (TLS 1.3)\" with --tls-listen).\n"
            "SIGTERM or SIGINT stops it: it stops accepting, lets requests in flight finish,\n"
            "closes the connections, removes the socket file and exits with status 0.\n"
            "SIGHUP reads --config again (log level, models, dev take effect; socket,\n"
            "workers, queue, timeouts and the power settings need a restart) and reloads\n"
            "the model directory.\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 when it cannot start, 2 for a usage\n"
            "or configuration error.\n"
            "\n"
            "Example:\n"
            "  emberd --socket /tmp/ember.sock &\n"
            "  curl --unix-socket /tmp/ember.sock http://localhost/v2/models/digits/infer \\\n"
            "       -H 'Content-Type: application/json' -d @models/digits/sample.json\n",
            EMBERD_DEFAULT_SOCKET, EMBERD_MAX_WORKERS, online_cpus(), EMBERD_MAX_QUEUE,
            EMBERD_DEFAULT_QUEUE, EMBERD_MAX_INLINE_MAX_US, EMBERD_DEFAULT_INLINE_MAX_US,
            EMBERD_MAX_MAX_CONNECTIONS, EMBERD_DEFAULT_MAX_CONNECTIONS, EMBERD_MAX_POWER_SAMPLE_MS,
            EMBERD_DEFAULT_POWER_SAMPLE_MS);
}

/* Each connection holds a file descriptor: raise the soft RLIMIT_NOFILE to fit
 * max_connections (up to the hard limit), and lower max_connections, with a warning, when
 * the hard limit leaves less room. */
static void fit_connections(daemon_config *cfg, const daemon_log *lg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->max_connections + EMBERD_RESERVED_FDS;
    if (rl.rlim_cur < want) {
        rlim_t cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        struct rlimit raised = {cur, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = cur;
    }
    if (rl.rlim_cur < want) {
        int fit = rl.rlim_cur > EMBERD_RESERVED_FDS ? (int)(rl.rlim_cur - EMBERD_RESERVED_FDS) : 1;
        log_warn(lg,
                 "emberd: the open-file limit (%llu) leaves room for %d connections, not %d "
                 "(raise it, e.g. systemd's LimitNOFILE=)",
                 (unsigned long long)rl.rlim_cur, fit, cfg->max_connections);
        cfg->max_connections = fit;
    }
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
        OPT_MAX_CONNECTIONS,
        OPT_LOG,
        OPT_CONFIG,
        OPT_CHECK,
        OPT_HELP,
        OPT_VERSION,
        OPT_POWER_POLICY,
        OPT_POWER_SYSFS,
        OPT_POWER_PROFILE,
        OPT_POWER_SAMPLE,
        OPT_TRUST,
        OPT_REVOKED,
        OPT_DEVICE_KEY,
        OPT_STATE,
        OPT_TLS_LISTEN,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_TLS_CLIENT_CA,
        OPT_INLINE_MAX,
    };
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"models", required_argument, NULL, OPT_MODELS},
        {"dev", no_argument, NULL, OPT_DEV},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"inline-max-us", required_argument, NULL, OPT_INLINE_MAX},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"power-policy", required_argument, NULL, OPT_POWER_POLICY},
        {"power-sysfs", required_argument, NULL, OPT_POWER_SYSFS},
        {"power-profile", required_argument, NULL, OPT_POWER_PROFILE},
        {"power-sample-ms", required_argument, NULL, OPT_POWER_SAMPLE},
        {"trust", required_argument, NULL, OPT_TRUST},
        {"revoked", required_argument, NULL, OPT_REVOKED},
        {"device-key", required_argument, NULL, OPT_DEVICE_KEY},
        {"state", required_argument, NULL, OPT_STATE},
        {"tls-listen", required_argument, NULL, OPT_TLS_LISTEN},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
        {NULL, 0, NULL, 0},
    };
    daemon_config *f = &o->flags;
    o->config_path = NULL;
    o->check_config = 0;
    daemon_config_init(f);

    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET:
        case OPT_MODELS: {
            char **dst = c == OPT_SOCKET ? &f->socket_path : &f->models_dir;
            free(*dst);
            *dst = strdup(optarg);
            if (!*dst)
                return -1;
            break;
        }
        case OPT_DEV: f->dev = 1; break;
        case OPT_TRUST:
        case OPT_REVOKED:
        case OPT_DEVICE_KEY:
        case OPT_STATE:
        case OPT_TLS_LISTEN:
        case OPT_TLS_CERT:
        case OPT_TLS_KEY:
        case OPT_TLS_CLIENT_CA: {
            char **dst = c == OPT_TRUST           ? &f->trust_dir
                         : c == OPT_REVOKED       ? &f->revoked_path
                         : c == OPT_STATE         ? &f->state_dir
                         : c == OPT_TLS_LISTEN    ? &f->tls_listen
                         : c == OPT_TLS_CERT      ? &f->tls_cert
                         : c == OPT_TLS_KEY       ? &f->tls_key
                         : c == OPT_TLS_CLIENT_CA ? &f->tls_client_ca
                                                  : &f->device_key_path;
            free(*dst);
            *dst = strdup(optarg);
            if (!*dst)
                return -1;
            break;
        }
        case OPT_POWER_POLICY:
        case OPT_POWER_SYSFS:
        case OPT_POWER_PROFILE: {
            ember_power_policy pol;
            ember_err why = {{0}};
            if (c == OPT_POWER_POLICY && ember_power_policy_parse(optarg, &pol, &why) < 0) {
                fprintf(stderr, "emberd: --power-policy: %s\n", why.msg);
                return -1;
            }
            char **dst = c == OPT_POWER_POLICY    ? &f->power_policy
                         : c == OPT_POWER_PROFILE ? &f->power_profile
                                                  : &f->power_sysfs;
            free(*dst);
            *dst = strdup(optarg);
            if (!*dst)
                return -1;
            break;
        }
        case OPT_POWER_SAMPLE:
            if (parse_int("--power-sample-ms", optarg, 1, EMBERD_MAX_POWER_SAMPLE_MS,
                          &f->power_sample_ms) < 0)
                return -1;
            break;
        case OPT_WORKERS:
            if (parse_int("--workers", optarg, 1, EMBERD_MAX_WORKERS, &f->workers) < 0)
                return -1;
            break;
        case OPT_QUEUE:
            if (parse_int("--queue", optarg, 1, EMBERD_MAX_QUEUE, &f->queue) < 0)
                return -1;
            break;
        case OPT_INLINE_MAX:
            if (parse_int("--inline-max-us", optarg, 0, EMBERD_MAX_INLINE_MAX_US,
                          &f->inline_max_us) < 0)
                return -1;
            break;
        case OPT_MAX_CONNECTIONS:
            if (parse_int("--max-connections", optarg, 1, EMBERD_MAX_MAX_CONNECTIONS,
                          &f->max_connections) < 0)
                return -1;
            break;
        case OPT_LOG:
            f->log_level = log_level_parse(optarg);
            if (f->log_level < 0) {
                fprintf(stderr, "emberd: --log-level wants error, warn, info or debug, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case OPT_CONFIG: o->config_path = optarg; break;
        case OPT_CHECK: o->check_config = 1; break;
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

/* The settings in force: the defaults, then the --config file, then the command line. */
static int config_build(const options *o, daemon_config *cfg, ember_err *err)
{
    const char *env = getenv("EMBER_SOCKET");
    daemon_config_init(cfg);
    cfg->socket_path = strdup(env && *env ? env : EMBERD_DEFAULT_SOCKET);
    cfg->dev = 0;
    cfg->workers = online_cpus();
    cfg->queue = EMBERD_DEFAULT_QUEUE;
    cfg->inline_max_us = EMBERD_DEFAULT_INLINE_MAX_US;
    cfg->max_connections = EMBERD_DEFAULT_MAX_CONNECTIONS;
    cfg->log_level = LOG_INFO;
    cfg->header_timeout_ms = EMBERD_DEFAULT_HEADER_TIMEOUT_MS;
    cfg->idle_timeout_ms = EMBERD_DEFAULT_IDLE_TIMEOUT_MS;
    cfg->power_sample_ms = EMBERD_DEFAULT_POWER_SAMPLE_MS;
    int rc = cfg->socket_path ? 0 : EMBER_ENOMEM;
    if (rc == 0 && o->config_path)
        rc = daemon_config_load(o->config_path, cfg, err);
    if (rc == 0 && daemon_config_merge(cfg, &o->flags) < 0)
        rc = EMBER_ENOMEM;
    if (rc == EMBER_ENOMEM && !err->msg[0])
        ember_err_set(err, rc, "out of memory");
    if (rc < 0)
        daemon_config_free(cfg);
    return rc;
}

/* The TLS listener's settings in cfg. */
static tls_settings tls_settings_of(const daemon_config *cfg)
{
    return (tls_settings){
        .listen = cfg->tls_listen,
        .cert = cfg->tls_cert,
        .key = cfg->tls_key,
        .client_ca = cfg->tls_client_ca,
        .roles = &cfg->tls_roles,
        .anonymous = cfg->tls_anonymous < 0 ? ROLE_NONE : (daemon_role)cfg->tls_anonymous,
    };
}

/* --check-config: the settings, the TLS listener's files, the sealed-model keys, then every
 * model of the repository as loading it would check it (its config.json and its versions). */
static int config_check(const options *o)
{
    daemon_config cfg;
    ember_err err = {{0}};
    if (config_build(o, &cfg, &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        return 2;
    }
    int bad = 0;
    ember_power_profile prof;
    if (cfg.power_profile && power_profile_load(cfg.power_profile, &prof, &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        bad = 1;
    }
    tls_settings tls = tls_settings_of(&cfg);
    if (tls_settings_check(&tls, &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        bad = 1;
    }
    /* The models are checked as loading them would: sealed ones need the keys. */
    bundle_keys keys;
    int have_keys = bundle_keys_open(&keys, cfg.trust_dir, cfg.revoked_path, cfg.device_key_path,
                                     cfg.state_dir, &err) == 0;
    if (!have_keys) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        bad = 1;
    }
    daemon_log lg = {.level = cfg.log_level};
    DIR *d = cfg.models_dir ? opendir(cfg.models_dir) : NULL;
    if (cfg.models_dir && !d) {
        fprintf(stderr, "emberd: cannot open the model directory %s: %s\n", cfg.models_dir,
                strerror(errno));
        bad = 1;
    }
    for (struct dirent *de; d && (de = readdir(d));) {
        char path[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", cfg.models_dir, de->d_name) >= (int)sizeof path ||
            stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (registry_check_model(cfg.models_dir, de->d_name, cfg.dev,
                                 have_keys ? &keys : &(bundle_keys){0}, &lg, &err) < 0) {
            fprintf(stderr, "emberd: %s\n", err.msg);
            bad = 1;
        }
    }
    if (d)
        closedir(d);
    if (have_keys)
        bundle_keys_free(&keys);
    if (!bad)
        printf("emberd: configuration OK%s%s\n", o->config_path ? ": " : "",
               o->config_path ? o->config_path : "");
    daemon_config_free(&cfg);
    return bad ? 2 : 0;
}

static void signals_on_stopped(void *ctx)
{
    signals *s = ctx;
    uv_close((uv_handle_t *)&s->term, NULL);
    uv_close((uv_handle_t *)&s->intr, NULL);
    uv_close((uv_handle_t *)&s->hup, NULL);
    uv_close((uv_handle_t *)&s->watchdog, NULL);
}

static void signals_on_watchdog(uv_timer_t *t)
{
    (void)t;
    notify_send("WATCHDOG=1");
}

/* READY=1 with a STATUS= line saying what is served. */
static void notify_ready(const registry *reg, const char *socket_path)
{
    char state[PATH_MAX + 96];
    snprintf(state, sizeof state, "READY=1\nSTATUS=serving %d model version(s) on %s", reg->nmodels,
             socket_path);
    notify_send(state);
}

static void signals_on_signal(uv_signal_t *h, int signum)
{
    signals *s = h->data;
    log_info(s->log, "emberd: %s received; shutting down",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    notify_send("STOPPING=1\nSTATUS=finishing the requests in flight");
    power_stop(s->power);
    server_shutdown(s->srv, signals_on_stopped, s);
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* SIGHUP: read the settings again and rescan the models. A bad file changes nothing. */
static void signals_on_hup(uv_signal_t *h, int signum)
{
    signals *s = h->data;
    daemon_config cfg;
    ember_err err = {{0}};
    (void)signum;
    if (s->srv->stopping)
        return;
    notify_send("RELOADING=1");
    if (config_build(s->opt, &cfg, &err) < 0) {
        log_error(s->log, "emberd: SIGHUP: keeping the current settings: %s", err.msg);
        notify_ready(s->reg, s->srv->socket_path);
        return;
    }
    const daemon_config *run = s->running;
    if (str_differs(cfg.socket_path, run->socket_path) || cfg.workers != run->workers ||
        cfg.queue != run->queue || cfg.max_connections != run->max_connections ||
        str_differs(cfg.tls_listen, run->tls_listen) || str_differs(cfg.tls_cert, run->tls_cert) ||
        str_differs(cfg.tls_key, run->tls_key) ||
        str_differs(cfg.tls_client_ca, run->tls_client_ca) ||
        str_differs(cfg.power_profile, run->power_profile))
        log_warn(s->log, "emberd: SIGHUP: socket, workers, queue, max_connections, the TLS "
                         "listener and the power profile change only on restart");
    s->log->level = cfg.log_level;
    s->srv->infer.inline_max_ns = (uint64_t)cfg.inline_max_us * 1000u;
    registry_set_repository(s->reg, cfg.models_dir, cfg.dev);
    log_info(s->log, "emberd: SIGHUP: settings read again%s%s; rescanning the models",
             s->opt->config_path ? " from " : "", s->opt->config_path ? s->opt->config_path : "");
    registry_rescan(s->reg);
    notify_ready(s->reg, s->srv->socket_path);
    daemon_config_free(&cfg);
}

int main(int argc, char **argv)
{
    /* Decrypted models live in this process: never in a core file, and no ptrace attach by
     * other processes of the same user. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
    options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0) {
        if (rc < 0)
            usage(stderr);
        daemon_config_free(&opt.flags);
        return rc < 0 ? 2 : 0;
    }
    if (opt.check_config) {
        rc = config_check(&opt);
        daemon_config_free(&opt.flags);
        return rc;
    }
    daemon_config cfg;
    ember_err err = {{0}};
    if (config_build(&opt, &cfg, &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        daemon_config_free(&opt.flags);
        return 2;
    }
    ember_power_profile prof;
    if (cfg.power_profile && power_profile_load(cfg.power_profile, &prof, &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        daemon_config_free(&cfg);
        daemon_config_free(&opt.flags);
        return 2;
    }
    bundle_keys keys;
    if (bundle_keys_open(&keys, cfg.trust_dir, cfg.revoked_path, cfg.device_key_path, cfg.state_dir,
                         &err) < 0) {
        fprintf(stderr, "emberd: %s\n", err.msg);
        daemon_config_free(&cfg);
        daemon_config_free(&opt.flags);
        return 2;
    }
    /* A client that hangs up must cost a failed write, not the process. */
    signal(SIGPIPE, SIG_IGN);

    daemon_log lg = {.level = cfg.log_level};
    registry reg;
    registry_init(&reg, cfg.workers, cfg.models_dir, cfg.dev, &lg);
    reg.keys = &keys;

    uv_loop_t loop;
    rc = uv_loop_init(&loop);
    if (rc < 0) {
        log_error(&lg, "emberd: cannot start the event loop: %s", uv_strerror(rc));
        registry_free(&reg);
        bundle_keys_free(&keys);
        daemon_config_free(&cfg);
        daemon_config_free(&opt.flags);
        return 1;
    }
    char why[160];
    int listen_fd = notify_listen_fd(why, sizeof why);
    if (listen_fd == -2) {
        log_error(&lg, "emberd: %s", why);
        uv_loop_close(&loop);
        registry_free(&reg);
        bundle_keys_free(&keys);
        daemon_config_free(&cfg);
        daemon_config_free(&opt.flags);
        return 1;
    }
    fit_connections(&cfg, &lg);
    tls_settings tls = tls_settings_of(&cfg);
    server srv;
    server_config scfg = {
        .listen_fd = listen_fd,
        .socket_path = cfg.socket_path,
        .workers = cfg.workers,
        .queue = cfg.queue,
        .inline_max_us = cfg.inline_max_us,
        .max_connections = cfg.max_connections,
        .header_timeout_ms = cfg.header_timeout_ms,
        .idle_timeout_ms = cfg.idle_timeout_ms,
        .version = EMBERD_VERSION,
        .acl = &cfg.acl,
        .socket_group = cfg.socket_group,
        .tls = &tls,
    };
    int status = 0;
    if (server_start(&srv, &loop, &scfg, &reg, &lg, &err) < 0) {
        log_error(&lg, "emberd: %s", err.msg);
        status = 1;
    } else {
        /* Models load once the socket is ours, so a refused start costs no loading; clients
         * that connect meanwhile wait in the listen backlog. */
        registry_load_builtin(&reg);
        if (reg.dir)
            registry_load_dir(&reg);
        if (reg.nmodels == 0)
            log_warn(&lg, "models: no model could be loaded; /v2/health/ready answers 503");
        daemon_power pw;
        const char *sysfs = cfg.power_sysfs ? cfg.power_sysfs : EMBERD_DEFAULT_POWER_SYSFS;
        power_settings ps = {
            .policy = cfg.power_policy,
            .sysfs = sysfs,
            .sample_ms = cfg.power_sample_ms,
            .profile = cfg.power_profile ? &prof : NULL,
        };
        if (power_start(&pw, &loop, &srv.infer, &ps, &lg, &err) < 0)
            log_error(&lg, "emberd: running without the power governor: %s", err.msg);
        srv.router.power = &pw;
        signals sig = {.srv = &srv, .log = &lg, .reg = &reg, .opt = &opt, .running = &cfg};
        sig.power = &pw;
        uv_signal_init(&loop, &sig.term);
        uv_signal_init(&loop, &sig.intr);
        uv_signal_init(&loop, &sig.hup);
        sig.term.data = sig.intr.data = sig.hup.data = &sig;
        uv_signal_start(&sig.term, signals_on_signal, SIGTERM);
        uv_signal_start(&sig.intr, signals_on_signal, SIGINT);
        uv_signal_start(&sig.hup, signals_on_hup, SIGHUP);
        uv_timer_init(&loop, &sig.watchdog);
        uint64_t wd = notify_watchdog_usec();
        if (wd > 0)
            uv_timer_start(&sig.watchdog, signals_on_watchdog, wd / 2000 ? wd / 2000 : 1,
                           wd / 2000 ? wd / 2000 : 1);
        log_info(&lg, "emberd %s: %d worker(s), queue %d%s", EMBERD_VERSION, cfg.workers, cfg.queue,
                 cfg.dev ? ", development mode" : "");
        fprintf(stderr, "emberd: listening on %s%s\n", srv.socket_path,
                srv.inherited ? " (socket from systemd)" : "");
        if (srv.tls_on)
            fprintf(stderr, "emberd: listening on %s (TLS 1.3)\n", srv.tls.name);
        notify_ready(&reg, srv.socket_path);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    /* Let libuv finish closing whatever a failed start left behind. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) < 0)
        log_warn(&lg, "emberd: the event loop still had open handles at exit");
    server_free(&srv);
    registry_free(&reg);
    bundle_keys_free(&keys);
    daemon_config_free(&cfg);
    daemon_config_free(&opt.flags);
    return status;
}
