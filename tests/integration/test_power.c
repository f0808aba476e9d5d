/*
 * The power governor in the real emberd, against a fake sysfs tree: two cpufreq policies
 * (policy0 offers the userspace governor, so frequencies go to scaling_setspeed; policy1 does
 * not, so they go to scaling_min_freq/scaling_max_freq) and a powercap RAPL zone whose
 * energy_uj the test advances. Under the ember policy an idle daemon falls to the lowest
 * frequency and parks a worker; a burst of big requests raises the clock and unparks it; idle
 * again brings both back; energy shows in GET /v2/power, /metrics and, when asked, in an
 * answer's parameters; PUT /v2/power switches policy; SIGTERM restores the governors and
 * limits the tree had. Without --power-policy there is no governor and /v2/power is 404. A
 * device profile (power_profile) is named in GET /v2/power; a bad one is refused.
 *
 * Nothing here is timed: every wait polls (bounded) for a state the daemon must reach.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* Rows of each request of the burst, and how many: more than twice the workers wait, which
 * is the ember policy's "queue backs up: maximum frequency". */
#define BURST_ROWS 3000
#define BURST 8
#define BURST_TRIES 5
#define WORKERS "2"
/* Polls (2 ms apart) before a wait fails. */
#define POLLS 10000

#define CPUFREQ "/devices/system/cpu/cpufreq"
#define RAPL "/class/powercap/intel-rapl:0"

static void put(const char *root, const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", root, rel);
    it_write_file(path, text, strlen(text));
}

static void mkdirs(const char *root, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s", path);
}

/* The fake tree under root. */
static void fake_sysfs(const char *root)
{
    mkdirs(root, CPUFREQ "/policy0");
    put(root, CPUFREQ "/policy0/scaling_available_frequencies", "600000 1000000 1500000\n");
    put(root, CPUFREQ "/policy0/scaling_available_governors", "ondemand userspace performance\n");
    put(root, CPUFREQ "/policy0/scaling_governor", "ondemand\n");
    put(root, CPUFREQ "/policy0/scaling_setspeed", "<unsupported>\n");
    put(root, CPUFREQ "/policy0/scaling_min_freq", "600000\n");
    put(root, CPUFREQ "/policy0/scaling_max_freq", "1500000\n");
    put(root, CPUFREQ "/policy0/cpuinfo_min_freq", "600000\n");
    put(root, CPUFREQ "/policy0/cpuinfo_max_freq", "1500000\n");
    put(root, CPUFREQ "/policy0/scaling_cur_freq", "1500000\n");
    mkdirs(root, CPUFREQ "/policy1");
    put(root, CPUFREQ "/policy1/scaling_available_governors", "schedutil performance\n");
    put(root, CPUFREQ "/policy1/scaling_governor", "schedutil\n");
    put(root, CPUFREQ "/policy1/scaling_min_freq", "700000\n");
    put(root, CPUFREQ "/policy1/scaling_max_freq", "1400000\n");
    put(root, CPUFREQ "/policy1/cpuinfo_min_freq", "600000\n");
    put(root, CPUFREQ "/policy1/cpuinfo_max_freq", "1500000\n");
    mkdirs(root, RAPL);
    put(root, RAPL "/energy_uj", "1000000\n");
    put(root, RAPL "/max_energy_range_uj", "262143328850\n");
}

/* The first line of root/rel ("" when unreadable). */
static void get(const char *root, const char *rel, char *out, size_t cap)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", root, rel);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static int file_is(const char *root, const char *rel, const char *want)
{
    char got[128];
    get(root, rel, got, sizeof got);
    return strcmp(got, want) == 0;
}

/* Both policies at khz (policy0 through setspeed, policy1 pinned by its limits). */
static int clock_is(const char *root, const char *khz)
{
    return file_is(root, CPUFREQ "/policy0/scaling_setspeed", khz) &&
           file_is(root, CPUFREQ "/policy1/scaling_min_freq", khz) &&
           file_is(root, CPUFREQ "/policy1/scaling_max_freq", khz);
}

/* Poll (2 ms apart, at most polls times) until both policies are at khz: 1, or 0. */
static int poll_clock(const char *root, const char *khz, int polls)
{
    for (int i = 0; !clock_is(root, khz) && i < polls; i++)
        usleep(2000);
    return clock_is(root, khz);
}

static void wait_clock(const char *root, const char *khz, const char *why)
{
    poll_clock(root, khz, POLLS);
    char p0[64], p1[64];
    get(root, CPUFREQ "/policy0/scaling_setspeed", p0, sizeof p0);
    get(root, CPUFREQ "/policy1/scaling_max_freq", p1, sizeof p1);
    ck_assert_msg(clock_is(root, khz), "%s: want %s kHz, policy0 setspeed %s, policy1 max %s", why,
                  khz, p0, p1);
}

/* GET /v2/power, parsed. */
static cJSON *power_state(const char *sock)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "GET", "/v2/power", NULL, &r);
    ck_assert_msg(r.status == 200, "GET /v2/power: %d %s", r.status, r.body);
    cJSON *j = it_json(&r);
    ember_response_free(&r);
    ember_client_close(c);
    return j;
}

static double state_num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(cJSON_IsNumber(v), "GET /v2/power has no number '%s'", key);
    return v->valuedouble;
}

/* Wait until GET /v2/power and /metrics both show parked workers. */
static void wait_parked(const char *sock, int want)
{
    int i = 0;
    double m = -1, s = -1;
    for (; i < POLLS; i++) {
        m = it_metric(sock, "emberd_power_workers_parked");
        cJSON *j = power_state(sock);
        s = state_num(j, "parked_workers");
        cJSON_Delete(j);
        if (m == want && s == want)
            break;
        usleep(2000);
    }
    ck_assert_msg(m == want && s == want, "parked workers: /metrics %g, GET /v2/power %g, want %d",
                  m, s, want);
}

static void send_infer(ember_client *c, const char *body)
{
    char head[256];
    ember_err err;
    int n = snprintf(head, sizeof head,
                     "POST /v2/models/digits/infer HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     strlen(body));
    ck_assert_msg(ember_client_send_raw(c, head, (size_t)n, &err) == 0, "%s", err.msg);
    ck_assert_msg(ember_client_send_raw(c, body, strlen(body), &err) == 0, "%s", err.msg);
}

static ember_response recv_answer(ember_client *c)
{
    ember_response r;
    ember_err err;
    ck_assert_msg(ember_client_recv_response(c, "POST", &r, &err) == 0, "%s", err.msg);
    return r;
}

static void put_policy(const char *sock, const char *body, int want_status)
{
    ember_response r;
    ember_client *c = it_client(sock);
    it_request(c, "PUT", "/v2/power", body, &r);
    if (want_status == 200) {
        ck_assert_msg(r.status == 200, "PUT /v2/power %s: %d %s", body, r.status, r.body);
    } else {
        it_assert_error(&r, want_status, body);
    }
    ember_response_free(&r);
    ember_client_close(c);
}

/* Advances the fake RAPL counter by 1 J every 2 ms until told to stop. */
typedef struct meter {
    const char *root;
    volatile int stop;
    long long uj;
} meter;

static void *meter_run(void *arg)
{
    meter *m = arg;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", m->root, RAPL "/energy_uj");
    while (!m->stop) {
        m->uj += 1000000;
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%lld\n", m->uj);
            fclose(f);
        }
        usleep(2000);
    }
    return NULL;
}

START_TEST(governor_follows_the_queue)
{
    char root[IT_DIR_MAX], log[PATH_MAX];
    emberd_proc d;
    digits_ref ref;

    it_ref_load(&ref);
    it_mkdtemp(root);
    fake_sysfs(root);
    snprintf(log, sizeof log, "%s/emberd.log", root);
    const char *const extra[] = {"--workers",
                                 WORKERS,
                                 "--power-policy",
                                 "ember",
                                 "--power-sysfs",
                                 root,
                                 "--power-sample-ms",
                                 "10",
                                 "--log-level",
                                 "info",
                                 NULL};
    it_emberd_start_logged(&d, extra, 0, log);
    ck_assert(file_is(root, CPUFREQ "/policy0/scaling_governor", "userspace"));

    /* Idle: the lowest clock and one worker. */
    wait_clock(root, "600000", "idle after start");
    wait_parked(d.socket, 1);
    ck_assert(it_metric(d.socket, "emberd_power_workers_active") == 1);
    ck_assert(it_metric(d.socket, "emberd_power_frequency_hertz") == 600000000.0);

    /* A burst: more requests wait than twice the workers, so the clock goes to the top and
     * the parked worker joins. The governor samples every 10 ms; a burst that a fast machine
     * clears between two samples is not a backed-up queue, so the burst is repeated (at
     * most BURST_TRIES times) until a sample sees it. */
    char *big = it_infer_body(&ref, 0, BURST_ROWS, NULL);
    int tries = 0, raised = 0;
    while (!raised && tries++ < BURST_TRIES) {
        ember_client *c[BURST];
        for (int i = 0; i < BURST; i++) {
            c[i] = it_client(d.socket);
            send_infer(c[i], big);
        }
        raised = poll_clock(root, "1500000", POLLS / 10);
        for (int i = 0; i < BURST; i++) {
            ember_response r = recv_answer(c[i]);
            it_assert_infer_ok(&r, &ref, 0, BURST_ROWS, NULL);
            ember_response_free(&r);
            ember_client_close(c[i]);
        }
    }
    free(big);
    ck_assert_msg(raised, "burst: the clock never reached 1500000 kHz in %d bursts", BURST_TRIES);
    ck_assert(it_metric(d.socket, "emberd_inferences_computed_total") == BURST * tries);

    /* Idle again: back down, one worker parked. */
    wait_clock(root, "600000", "idle after the burst");
    wait_parked(d.socket, 1);

    /* Energy: the meter's joules, in GET /v2/power and /metrics. */
    put(root, RAPL "/energy_uj", "6000000\n");
    int i = 0;
    while (it_metric(d.socket, "emberd_energy_joules_total") < 5 && i++ < POLLS)
        usleep(2000);
    ck_assert_msg(it_metric(d.socket, "emberd_energy_joules_total") == 5, "energy %g J, want 5",
                  it_metric(d.socket, "emberd_energy_joules_total"));
    cJSON *j = power_state(d.socket);
    ck_assert(state_num(j, "energy_joules") == 5);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "energy_source")->valuestring, "rapl");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "policy")->valuestring, "ember");
    const cJSON *pols = cJSON_GetObjectItemCaseSensitive(j, "cpufreq");
    ck_assert_int_eq(cJSON_GetArraySize(pols), 2);
    ck_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(pols, 1), "policy")->valuestring,
        "policy1");
    ck_assert(state_num(cJSON_GetArrayItem(pols, 1), "frequency_khz") == 600000);
    cJSON_Delete(j);

    /* A request asking for its energy, while the meter runs, gets a positive share. The
     * share comes from joules per busy worker-second over past samples, so it is positive
     * once a sample has seen a worker busy while the meter moved: a request shorter than a
     * sample may come before that, and the client asks again (a bounded number of times). */
    meter m = {.root = root, .uj = 6000000};
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, meter_run, &m) == 0);
    big = it_infer_body(&ref, 0, BURST_ROWS, NULL);
    char *asking = malloc(strlen(big) + 64);
    ck_assert(asking != NULL);
    sprintf(asking, "{\"parameters\":{\"energy\":true},%s", big + 1);
    ember_client *e = it_client(d.socket);
    double joules = 0;
    ember_response r;
    for (int k = 0; k < 200 && !(joules > 0); k++) {
        send_infer(e, asking);
        r = recv_answer(e);
        it_assert_infer_ok(&r, &ref, 0, BURST_ROWS, NULL);
        j = it_json(&r);
        const cJSON *ej = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "parameters"), "energy_joules");
        ck_assert_msg(cJSON_IsNumber(ej), "energy_joules in '%.200s'", r.body);
        joules = ej->valuedouble;
        cJSON_Delete(j);
        ember_response_free(&r);
    }
    m.stop = 1;
    pthread_join(th, NULL);
    ck_assert_msg(joules > 0, "no request got a positive energy share");
    /* One that does not ask gets no parameters. */
    send_infer(e, big);
    r = recv_answer(e);
    j = it_json(&r);
    ck_assert(cJSON_GetObjectItemCaseSensitive(j, "parameters") == NULL);
    cJSON_Delete(j);
    ember_response_free(&r);
    ember_client_close(e);
    free(asking);
    free(big);

    /* PUT switches policy: performance runs the top clock on every worker. */
    put_policy(d.socket, "{\"policy\": \"performance\"}", 200);
    wait_clock(root, "1500000", "performance");
    wait_parked(d.socket, 0);
    j = power_state(d.socket);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "policy")->valuestring, "performance");
    ck_assert(state_num(j, "active_workers") == 2);
    cJSON_Delete(j);
    put_policy(d.socket, "{\"policy\": \"powersave\"}", 200);
    wait_clock(root, "600000", "powersave");
    put_policy(d.socket, "{\"policy\": \"turbo\"}", 400);
    put_policy(d.socket, "{\"policy\": 1}", 400);
    put_policy(d.socket, "{\"policy\": \"ember\", \"extra\": 1}", 400);
    put_policy(d.socket, "not json", 400);
    ember_client *pc = it_client(d.socket);
    it_request(pc, "DELETE", "/v2/power", NULL, &r);
    it_assert_error(&r, 405, "DELETE /v2/power");
    ck_assert_str_eq(ember_response_header(&r, "Allow"), "GET, HEAD, PUT");
    ember_response_free(&r);
    ember_client_close(pc);

    /* SIGTERM gives the tree back as it was. */
    it_emberd_stop(&d, SIGTERM);
    ck_assert(file_is(root, CPUFREQ "/policy0/scaling_governor", "ondemand"));
    ck_assert(file_is(root, CPUFREQ "/policy0/scaling_min_freq", "600000"));
    ck_assert(file_is(root, CPUFREQ "/policy0/scaling_max_freq", "1500000"));
    ck_assert(file_is(root, CPUFREQ "/policy1/scaling_governor", "schedutil"));
    ck_assert(file_is(root, CPUFREQ "/policy1/scaling_min_freq", "700000"));
    ck_assert(file_is(root, CPUFREQ "/policy1/scaling_max_freq", "1400000"));
    char *text = it_read_file(log, NULL);
    ck_assert_msg(strstr(text, "power: cpufreq governor and limits restored"), "log: %s", text);
    free(text);
}
END_TEST

/* A tree without cpufreq: no DVFS, one warning, the workers are still gated. */
START_TEST(no_cpufreq_is_a_warning)
{
    char root[IT_DIR_MAX], log[PATH_MAX];
    emberd_proc d;
    it_mkdtemp(root);
    snprintf(log, sizeof log, "%s/emberd.log", root);
    const char *const extra[] = {"--workers", WORKERS, "--power-policy", "ember", "--power-sysfs",
                                 root,        NULL};
    it_emberd_start_logged(&d, extra, 0, log);
    wait_parked(d.socket, 1);
    cJSON *j = power_state(d.socket);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "dvfs")));
    ck_assert(state_num(j, "frequency_khz") == 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "energy_source")->valuestring, "model");
    cJSON_Delete(j);
    it_emberd_stop(&d, SIGTERM);
    char *text = it_read_file(log, NULL);
    const char *w = strstr(text, "running without DVFS");
    ck_assert_msg(w && !strstr(w + 1, "running without DVFS"), "want one warning; log: %s", text);
    free(text);
}
END_TEST

/* The governor keeps the service time of EMBERD_POWER_MAX_MODELS (64) models: one model more
 * evicts the one updated least recently. */
START_TEST(service_times_are_bounded)
{
    enum { MAX_MODELS = 64 };
    char dir[IT_DIR_MAX], root[IT_DIR_MAX], name[16], path[64];
    emberd_proc d;
    digits_ref ref;
    ember_response r;
    it_ref_load(&ref);
    it_mkdtemp(dir);
    it_mkdtemp(root);
    for (int i = 0; i <= MAX_MODELS; i++) {
        snprintf(name, sizeof name, "m%02d", i);
        it_repo_put_model(dir, name, 1);
    }
    const char *const extra[] = {"--dev", "--models",      dir,  "--workers", "1", "--power-policy",
                                 "ember", "--power-sysfs", root, NULL};
    it_emberd_start(&d, extra, 0);
    char *body = it_infer_body(&ref, 0, 1, NULL);
    ember_client *c = it_client(d.socket);
    for (int i = 0; i <= MAX_MODELS; i++) {
        snprintf(path, sizeof path, "/v2/models/m%02d/infer", i);
        it_request(c, "POST", path, body, &r);
        ck_assert_msg(r.status == 200, "%s: %d %s", path, r.status, r.body);
        ember_response_free(&r);
    }
    ember_client_close(c);
    free(body);
    cJSON *j = power_state(d.socket);
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(j, "service_ms");
    ck_assert_int_eq(cJSON_GetArraySize(svc), MAX_MODELS);
    ck_assert_msg(cJSON_GetObjectItemCaseSensitive(svc, "m00") == NULL, "m00 was not evicted");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(svc, "m64");
    ck_assert(cJSON_IsNumber(last) && last->valuedouble > 0);
    cJSON_Delete(j);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* PUT /v2/power changes how the daemon runs: a peer whose role is below admin gets 403 and
 * the policy stays; GET needs only read. */
START_TEST(switching_needs_admin)
{
    char root[IT_DIR_MAX], cfg[PATH_MAX];
    emberd_proc d;
    ember_response r;
    it_mkdtemp(root);
    fake_sysfs(root);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", root);
    char text[64];
    snprintf(text, sizeof text, "{\"acl\": {\"infer\": [\"uid:%u\"]}}", (unsigned)getuid());
    it_write_file(cfg, text, strlen(text));
    const char *const extra[] = {"--config", cfg, "--power-policy", "ember", "--power-sysfs",
                                 root,       NULL};
    it_emberd_start(&d, extra, 0);
    ember_client *c = it_client(d.socket);
    it_request(c, "PUT", "/v2/power", "{\"policy\": \"performance\"}", &r);
    it_assert_error(&r, 403, "PUT /v2/power with the infer role");
    ember_response_free(&r);
    ember_client_close(c);
    cJSON *j = power_state(d.socket);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "policy")->valuestring, "ember");
    cJSON_Delete(j);
    it_emberd_stop(&d, SIGTERM);
}
END_TEST

/* Without --power-policy: no governor, no power series, /v2/power is 404. */
START_TEST(off_by_default)
{
    ember_response r;
    ember_client *c = it_client(it_daemon.socket);
    it_request(c, "GET", "/v2/power", NULL, &r);
    it_assert_error(&r, 404, "GET /v2/power without a governor");
    ember_response_free(&r);
    it_request(c, "PUT", "/v2/power", "{\"policy\": \"ember\"}", &r);
    it_assert_error(&r, 404, "PUT /v2/power without a governor");
    ember_response_free(&r);
    it_request(c, "GET", "/metrics", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "emberd_power_") == NULL);
    ck_assert(strstr(r.body, "emberd_energy_joules_total") == NULL);
    ember_response_free(&r);
    ember_client_close(c);
}
END_TEST

/* Bad policies and sample periods on either side of their bounds, from flags and the file. */
START_TEST(bad_settings_are_refused)
{
    const char *emberd = getenv("EMBERD");
    char dir[IT_DIR_MAX], cfg[PATH_MAX];
    static const char *const files[] = {
        "{\"power_policy\": \"turbo\"}",
        "{\"power_sample_ms\": 0}",
        "{\"power_sample_ms\": 10001}",
        "{\"power_sysfs\": \"\"}",
    };
    static const char *const flags[][2] = {
        {"--power-policy", "turbo"},
        {"--power-sample-ms", "0"},
        {"--power-sample-ms", "10001"},
    };
    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        it_write_file(cfg, files[i], strlen(files[i]));
        const char *const argv[] = {emberd, "--check-config", "--config", cfg, NULL};
        char *out, *err;
        ck_assert_msg(it_run(argv, NULL, NULL, &out, &err) == 2, "%s accepted", files[i]);
        ck_assert_msg(strstr(err, "power_"), "%s: stderr '%s'", files[i], err);
        free(out);
        free(err);
    }
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const char *const argv[] = {emberd, "--check-config", flags[i][0], flags[i][1], NULL};
        char *out, *err;
        ck_assert_msg(it_run(argv, NULL, NULL, &out, &err) == 2, "%s %s accepted", flags[i][0],
                      flags[i][1]);
        ck_assert_msg(strstr(err, flags[i][0]), "%s: stderr '%s'", flags[i][0], err);
        free(out);
        free(err);
    }
    static const char good[] = "{\"power_policy\": \"ondemand\", \"power_sample_ms\": 10000}";
    it_write_file(cfg, good, strlen(good));
    const char *const argv[] = {emberd, "--check-config", "--config", cfg, "--power-sample-ms", "1",
                                NULL};
    char *out, *err;
    ck_assert_msg(it_run(argv, NULL, NULL, &out, &err) == 0, "good settings refused: %s", err);
    free(out);
    free(err);
}
END_TEST

/* A device profile by name from the config file, and by path from the flag (which wins):
 * GET /v2/power names the one in force. The file's profile covers 700-1400 MHz, so the fake
 * tree's 600 and 1500 MHz take its end figures, with one warning naming both. */
START_TEST(profile_is_loaded_and_named)
{
    char root[IT_DIR_MAX], cfg[PATH_MAX], prof[PATH_MAX], log[PATH_MAX];
    emberd_proc d;
    it_mkdtemp(root);
    fake_sysfs(root);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", root);
    snprintf(prof, sizeof prof, "%s/narrow.profile", root);
    snprintf(log, sizeof log, "%s/emberd.log", root);
    static const char by_name[] = "{\"power_profile\": \"rpi4\"}";
    it_write_file(cfg, by_name, strlen(by_name));
    static const char narrow[] = "name narrow\ncores 2\nmem_frac 0.2\n"
                                 "freq 700 2.0 0.3\nfreq 1400 2.5 0.9\n";
    it_write_file(prof, narrow, strlen(narrow));

    const char *const extra[] = {
        "--config",      cfg,  "--workers", WORKERS, "--power-policy", "ember",
        "--power-sysfs", root, NULL};
    it_emberd_start_logged(&d, extra, 0, log);
    cJSON *j = power_state(d.socket);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "profile");
    ck_assert_msg(cJSON_IsString(name) && strcmp(name->valuestring, "rpi4") == 0,
                  "GET /v2/power profile is not rpi4");
    cJSON_Delete(j);
    it_emberd_stop(&d, SIGTERM);
    char *text = it_read_file(log, NULL);
    ck_assert_msg(!strstr(text, "outside it"), "rpi4 covers the tree's frequencies; log: %s", text);
    free(text);

    const char *const flag[] = {"--config",
                                cfg,
                                "--workers",
                                WORKERS,
                                "--power-policy",
                                "ember",
                                "--power-sysfs",
                                root,
                                "--power-profile",
                                prof,
                                NULL};
    it_emberd_start_logged(&d, flag, 0, log);
    j = power_state(d.socket);
    name = cJSON_GetObjectItemCaseSensitive(j, "profile");
    ck_assert_msg(cJSON_IsString(name) && strcmp(name->valuestring, "narrow") == 0,
                  "GET /v2/power profile is not narrow");
    cJSON_Delete(j);
    it_emberd_stop(&d, SIGTERM);
    text = it_read_file(log, NULL);
    const char *w = strstr(text, "700-1400 MHz");
    ck_assert_msg(w && strstr(w, "(600, 1500 MHz)") && !strstr(w + 1, "700-1400 MHz"),
                  "want one warning naming 600 and 1500 MHz; log: %s", text);
    free(text);
}
END_TEST

/* A profile that does not parse, or a name no directory has: --check-config and startup
 * both refuse, naming the key and what is wrong. */
START_TEST(bad_profile_is_refused)
{
    const char *emberd = getenv("EMBERD");
    char dir[IT_DIR_MAX], cfg[PATH_MAX], prof[PATH_MAX], sock[PATH_MAX];
    it_mkdtemp(dir);
    snprintf(cfg, sizeof cfg, "%s/emberd.json", dir);
    snprintf(prof, sizeof prof, "%s/bad.profile", dir);
    snprintf(sock, sizeof sock, "%s/emberd.sock", dir);
    static const char bad[] = "name bad\ncores 2\nfreq 1000 2.0\n";
    it_write_file(prof, bad, strlen(bad));
    char text[PATH_MAX + 32];
    snprintf(text, sizeof text, "{\"power_profile\": \"%s\"}", prof);
    it_write_file(cfg, text, strlen(text));
    char at_line[PATH_MAX + 8];
    snprintf(at_line, sizeof at_line, "%s:3:", prof);

    const char *const check[] = {emberd, "--check-config", "--config", cfg, NULL};
    const char *const start[] = {emberd, "--socket", sock, "--config", cfg, NULL};
    const char *const *runs[] = {check, start};
    for (int i = 0; i < 2; i++) {
        char *out, *err;
        ck_assert_msg(it_run(runs[i], NULL, NULL, &out, &err) == 2, "%s: bad profile accepted",
                      runs[i][1]);
        ck_assert_msg(strstr(err, "power_profile") && strstr(err, at_line) &&
                          strstr(err, "freq MHZ IDLE_W BUSY_W"),
                      "%s: stderr '%s'", runs[i][1], err);
        free(out);
        free(err);
    }
    const char *const unknown[] = {emberd, "--check-config", "--power-profile", "no-such-board",
                                   NULL};
    char *out, *err;
    ck_assert_int_eq(it_run(unknown, NULL, NULL, &out, &err), 2);
    ck_assert_msg(strstr(err, "power_profile") && strstr(err, "no-such-board"), "stderr '%s'", err);
    free(out);
    free(err);
}
END_TEST

Suite *it_suite_power(void)
{
    Suite *s = suite_create("power");
    TCase *tc = it_tcase("governor", 0);
    tcase_add_test(tc, governor_follows_the_queue);
    tcase_add_test(tc, no_cpufreq_is_a_warning);
    tcase_add_test(tc, bad_settings_are_refused);
    tcase_add_test(tc, switching_needs_admin);
    tcase_add_test(tc, service_times_are_bounded);
    tcase_add_test(tc, profile_is_loaded_and_named);
    tcase_add_test(tc, bad_profile_is_refused);
    suite_add_tcase(s, tc);
    TCase *off = it_tcase("off", 1);
    tcase_add_test(off, off_by_default);
    suite_add_tcase(s, off);
    return s;
}
