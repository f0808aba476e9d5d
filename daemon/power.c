/*
 * The governor's loop. Every sample_ms a timer on the loop thread gathers an observation
 * from the inference queue (waiting jobs per priority, busy workers, the arrival rate and
 * each queued model's service time as EWMAs, the tightest deadline, the oldest wait) and
 * hands it to one tick of ember_power_ctl on the loop's thread pool: a cpufreq write goes
 * through the kernel driver, which may sleep on a firmware mailbox or a voltage regulator,
 * so the loop never waits on it. The tick's decision comes back to the loop thread, which
 * gates the workers (infer_queue_set_active) and marks the energy curve that prices each
 * request: between two ticks, a busy worker earns the measured joules divided by the
 * worker-time spent in the interval. Only one tick is on the pool at a time; a timer that
 * fires meanwhile is skipped. Opening (startup) and restoring (shutdown) touch sysfs on the
 * loop thread: nothing is being served at those moments that a few small writes would delay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "admission.h"
#include "power.h"

/* Weight of the newest sample in the arrival-rate and service-time EWMAs. */
#define POWER_EWMA_ALPHA 0.25

static power_model *power_model_find(daemon_power *p, const char *name, int create)
{
    for (int i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i].name, name) == 0)
            return &p->models[i];
    if (!create)
        return NULL;
    power_model *m;
    if (p->nmodels < EMBERD_POWER_MAX_MODELS) {
        m = &p->models[p->nmodels++];
    } else {
        /* Full: the model updated least recently makes room. */
        m = &p->models[0];
        for (int i = 1; i < p->nmodels; i++)
            if (p->models[i].used < m->used)
                m = &p->models[i];
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    m->service_ms = 0;
    return m;
}

static double ewma(double old, double sample)
{
    return old > 0 ? old + POWER_EWMA_ALPHA * (sample - old) : sample;
}

/* Joules per busy worker accumulated up to t: between marks linear, after the newest at the
 * last interval's rate, before the oldest at the oldest's (the ring holds
 * EMBERD_POWER_HISTORY ticks; a longer request is priced partly by extrapolation). */
static double power_curve(const daemon_power *p, uint64_t t)
{
    if (p->nmarks == 0)
        return 0;
    int newest = (p->mark_head + EMBERD_POWER_HISTORY - 1) % EMBERD_POWER_HISTORY;
    const power_mark *hi = &p->marks[newest];
    if (t >= hi->t)
        return hi->j_per_worker + p->rate * (double)(t - hi->t) / 1e9;
    for (int k = 1; k < p->nmarks; k++) {
        const power_mark *lo =
            &p->marks[(newest + EMBERD_POWER_HISTORY - k) % EMBERD_POWER_HISTORY];
        if (t >= lo->t) {
            double span = (double)(hi->t - lo->t);
            double f = span > 0 ? (double)(t - lo->t) / span : 1;
            return lo->j_per_worker + f * (hi->j_per_worker - lo->j_per_worker);
        }
        hi = lo;
    }
    return hi->j_per_worker - p->rate * (double)(hi->t - t) / 1e9;
}

/* The answer's JSON with "parameters": {"energy_joules": J} first. Leaves the job alone when
 * memory runs out (the request still gets its answer). */
static void power_attach_energy(infer_job *job, double joules)
{
    char head[96];
    int n = snprintf(head, sizeof head, "{\"parameters\":{\"energy_joules\":%.9g},",
                     joules > 0 ? joules : 0);
    if (!job->json || job->json_len < 2 || job->json[0] != '{')
        return;
    /* An answer with no member after '{' would need no comma; encode never makes one. */
    char *out = malloc(job->json_len + (size_t)n);
    if (!out)
        return;
    memcpy(out, head, (size_t)n);
    memcpy(out + n, job->json + 1, job->json_len - 1);
    free(job->json);
    job->json = out;
    job->json_len += (size_t)n - 1;
    if (job->json_header_len)
        job->json_header_len += (size_t)n - 1;
}

/* Every job passes here before its answer goes out (infer_queue's observer). */
static void power_observe(infer_job *job, void *ctx)
{
    daemon_power *p = ctx;
    if (job->kind != JOB_INFER || !job->computed)
        return;
    /* A batched job's share of its run: a batch of n costs the queue one run, not n. */
    double ms = (double)job->compute_ns / 1e6;
    double at = p->status.freq_khz && p->max_khz ? (double)p->status.freq_khz / p->max_khz : 1;
    power_model *m = power_model_find(p, job->entry->name, 1);
    m->service_ms = ewma(m->service_ms, ms * at);
    m->used = job->t_done;
    p->recent_service = ewma(p->recent_service, ms * at);
    if (job->deadline) {
        double rel = (double)(job->deadline - job->t_queued) / 1e6;
        if (p->recent_deadline == 0 || rel < p->recent_deadline)
            p->recent_deadline = rel;
    }
    if (job->want_energy && job->status == 200)
        power_attach_energy(job, power_curve(p, job->t_done) - power_curve(p, job->t_started));
}

/* What the queue looks like now. */
static void power_observe_queue(daemon_power *p, uint64_t now, ember_gov_obs *o)
{
    infer_queue *q = p->q;
    memset(o, 0, sizeof *o);
    infer_queue_depths(q, o->queued);
    o->busy_workers = q->running;
    double dt_ms = p->last_ns ? (double)(now - p->last_ns) / 1e6 : 0;
    uint64_t busy = infer_queue_busy_ns(q, now);
    if (dt_ms > 0) {
        double arrivals = (double)(q->arrivals - p->last_arrivals);
        p->arrival_per_ms = ewma(p->arrival_per_ms, arrivals / dt_ms);
        /* The busiest CPU is at least as busy as the busiest worker; without pinning, the
         * worker-time over the interval (capped at one CPU's worth) stands in for it. */
        double share = (double)(busy - p->last_busy_ns) / 1e6 / dt_ms;
        o->busy_pct = 100 * (share > 1 ? 1 : share);
    }
    p->last_ns = now;
    p->last_arrivals = q->arrivals;
    p->last_busy_ns = busy;
    o->arrival_per_ms = p->arrival_per_ms;

    /* Service time and deadlines of what waits; the recent mix when nothing does. */
    double sum = 0, oldest = 0, tightest = p->recent_deadline;
    int known = 0;
    const admission *a = q->pending;
    for (int i = 0; a && i < a->n; i++) {
        const infer_job *job = a->heap[i];
        const power_model *m =
            job->kind == JOB_INFER ? power_model_find(p, job->entry->name, 0) : NULL;
        if (m && m->service_ms > 0) {
            sum += m->service_ms;
            known++;
        }
        double waited = now > job->t_queued ? (double)(now - job->t_queued) / 1e6 : 0;
        if (waited > oldest)
            oldest = waited;
        if (job->deadline) {
            double rel = (double)(job->deadline - job->t_queued) / 1e6;
            if (tightest == 0 || rel < tightest)
                tightest = rel;
        }
    }
    double at_max = known ? sum / known : p->recent_service;
    uint32_t cur = p->status.freq_khz;
    o->service_ms = at_max > 0 && cur && p->max_khz ? at_max * p->max_khz / cur : at_max;
    o->deadline_ms = tightest;
    o->oldest_wait_ms = oldest;
    o->cur_khz = cur;
    p->recent_deadline = 0;
}

static void power_work(uv_work_t *w)
{
    daemon_power *p = w->data;
    p->err.msg[0] = '\0';
    p->rc = ember_power_ctl_tick(p->ctl, p->now_ms, &p->obs, &p->dec, &p->err);
}

/* Give the settings found at start back to the kernel. */
static void power_release(daemon_power *p)
{
    ember_power_ctl_close(p->ctl);
    p->ctl = NULL;
    log_info(p->log, "power: cpufreq governor and limits restored");
}

static void power_after_work(uv_work_t *w, int status)
{
    daemon_power *p = w->data;
    (void)status;
    p->busy = 0;
    ember_power_ctl_status(p->ctl, &p->status);
    if (p->rc < 0 && !p->write_failed) {
        p->write_failed = 1;
        log_warn(p->log, "power: %s (warned once)", p->err.msg);
    }

    /* A new mark on the energy curve: this interval's joules over its busy worker-time. */
    uint64_t t = (uint64_t)(p->now_ms * 1e6);
    uint64_t busy = p->last_busy_ns;
    double worker_s = (double)(busy - p->mark_busy_ns) / 1e9;
    double joules = p->status.energy_j - p->last_energy;
    double prev = 0;
    if (p->nmarks > 0) {
        int newest = (p->mark_head + EMBERD_POWER_HISTORY - 1) % EMBERD_POWER_HISTORY;
        prev = p->marks[newest].j_per_worker;
        double dt_s = (double)(t - p->marks[newest].t) / 1e9;
        if (worker_s > 0)
            p->rate = joules / worker_s;
        prev += p->rate * dt_s;
    }
    p->marks[p->mark_head] = (power_mark){.t = t, .j_per_worker = prev};
    p->mark_head = (p->mark_head + 1) % EMBERD_POWER_HISTORY;
    if (p->nmarks < EMBERD_POWER_HISTORY)
        p->nmarks++;
    p->last_energy = p->status.energy_j;
    p->mark_busy_ns = busy;

    if (p->stopping) {
        power_release(p);
        return;
    }
    if (p->dec.active_workers != p->q->active)
        infer_queue_set_active(p->q, p->dec.active_workers);
}

static void power_on_timer(uv_timer_t *t)
{
    daemon_power *p = t->data;
    if (p->busy || p->stopping)
        return;
    uint64_t now = uv_hrtime();
    power_observe_queue(p, now, &p->obs);
    p->now_ms = (double)now / 1e6;
    if (p->policy != p->status.policy) {
        ember_err err = {{0}};
        ember_power_ctl_set_policy(p->ctl, ember_power_policy_name(p->policy), &err);
    }
    p->busy = 1;
    int rc = uv_queue_work(p->loop, &p->work, power_work, power_after_work);
    if (rc < 0) {
        p->busy = 0;
        log_warn(p->log, "power: cannot queue a tick: %s", uv_strerror(rc));
    }
}

int power_profile_load(const char *arg, ember_power_profile *out, ember_err *err)
{
    ember_err why = {{0}};
    int rc = ember_power_profile_find(arg, out, &why);
    return rc < 0 ? ember_err_set(err, rc, "power_profile: %s", why.msg) : 0;
}

int power_start(daemon_power *p, uv_loop_t *loop, infer_queue *q, const power_settings *settings,
                const daemon_log *lg, ember_err *err)
{
    memset(p, 0, sizeof *p);
    if (!settings->policy)
        return 0;
    if (ember_power_policy_parse(settings->policy, &p->policy, err) < 0)
        return EMBER_EINVAL;
    if (settings->sample_ms < 1 || settings->sample_ms > EMBERD_MAX_POWER_SAMPLE_MS)
        return ember_err_set(err, EMBER_EINVAL, "power: the sample period must be 1 to %d ms",
                             EMBERD_MAX_POWER_SAMPLE_MS);
    const char *root = settings->sysfs ? settings->sysfs : "/sys";
    if (strlen(root) + 32 > sizeof p->sysfs)
        return ember_err_set(err, EMBER_EINVAL, "power: the sysfs root '%.64s...' is too long",
                             root);
    p->loop = loop;
    p->log = lg;
    p->q = q;
    p->sample_ms = settings->sample_ms;
    snprintf(p->sysfs, sizeof p->sysfs, "%s", root);

    char cpu[300], powercap[300], hwmon[300];
    snprintf(cpu, sizeof cpu, "%s/devices/system/cpu", root);
    snprintf(powercap, sizeof powercap, "%s/class/powercap", root);
    snprintf(hwmon, sizeof hwmon, "%s/class/hwmon", root);
    ember_power_ctl_config cc = {
        .policy = p->policy,
        .cpufreq_root = cpu,
        .powercap_root = powercap,
        .hwmon_root = hwmon,
        .workers = q->nworkers,
        .sample_ms = settings->sample_ms,
        .profile = settings->profile,
    };
    if (settings->profile)
        snprintf(p->profile, sizeof p->profile, "%s", settings->profile->name);
    ember_err warn = {{0}};
    int rc = ember_power_ctl_open(&cc, &p->ctl, &warn);
    if (rc < 0)
        return ember_err_set(err, rc, "%s", warn.msg);
    if (warn.msg[0])
        log_warn(lg, "power: %s", warn.msg);
    ember_power_ctl_status(p->ctl, &p->status);
    uint32_t freqs[EMBER_POWER_MAX_FREQS];
    const ember_cpufreq *cf = ember_power_ctl_cpufreq(p->ctl);
    int nf = ember_cpufreq_freqs(cf, freqs, EMBER_POWER_MAX_FREQS);
    p->max_khz = nf > 0 ? freqs[nf - 1] : 0;
    p->status.freq_khz = ember_cpufreq_available(cf) ? ember_cpufreq_current(cf) : 0;
    p->last_busy_ns = p->mark_busy_ns = infer_queue_busy_ns(q, uv_hrtime());

    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->work.data = p;
    q->observe = power_observe;
    q->observe_ctx = p;
    uv_timer_start(&p->timer, power_on_timer, (uint64_t)p->sample_ms, (uint64_t)p->sample_ms);
    p->on = 1;
    log_info(lg,
             "power: policy %s every %d ms; %d cpufreq polic%s under %s%s; energy from %s; "
             "profile %s",
             ember_power_policy_name(p->policy), p->sample_ms, ember_cpufreq_npolicies(cf),
             ember_cpufreq_npolicies(cf) == 1 ? "y" : "ies", cpu,
             ember_cpufreq_available(cf) ? "" : " (no DVFS)",
             ember_energy_source_name(p->status.energy_source),
             p->profile[0] ? p->profile : "none");
    return 0;
}

void power_stop(daemon_power *p)
{
    if (!p || !p->on || p->stopping)
        return;
    p->stopping = 1;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, NULL);
    /* Requests still queued drain on every worker. */
    infer_queue_set_active(p->q, p->q->nworkers);
    if (!p->busy)
        power_release(p);
}

/* The state as JSON. */
static cJSON *power_json(const daemon_power *p)
{
    cJSON *root = cJSON_CreateObject();
    const ember_cpufreq *cf = p->ctl ? ember_power_ctl_cpufreq(p->ctl) : NULL;
    cJSON_AddStringToObject(root, "policy", ember_power_policy_name(p->policy));
    if (p->profile[0])
        cJSON_AddStringToObject(root, "profile", p->profile);
    else
        cJSON_AddNullToObject(root, "profile");
    cJSON_AddBoolToObject(root, "dvfs", p->status.dvfs);
    cJSON_AddNumberToObject(root, "frequency_khz", p->status.dvfs ? p->status.freq_khz : 0);
    cJSON *pols = cJSON_AddArrayToObject(root, "cpufreq");
    for (int i = 0; cf && i < ember_cpufreq_npolicies(cf); i++) {
        const char *dir;
        uint32_t khz;
        if (ember_cpufreq_policy(cf, i, &dir, &khz) < 0)
            continue;
        const char *slash = strrchr(dir, '/');
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "policy", slash ? slash + 1 : dir);
        cJSON_AddNumberToObject(o, "frequency_khz", khz);
        cJSON_AddItemToArray(pols, o);
    }
    cJSON_AddNumberToObject(root, "workers", p->q->nworkers);
    cJSON_AddNumberToObject(root, "active_workers", p->q->active);
    cJSON_AddNumberToObject(root, "parked_workers", p->q->pool ? ember_pool_parked(p->q->pool) : 0);
    cJSON_AddNumberToObject(root, "energy_joules", p->status.energy_j);
    cJSON_AddStringToObject(root, "energy_source",
                            ember_energy_source_name(p->status.energy_source));
    cJSON_AddNumberToObject(root, "sample_ms", p->sample_ms);
    cJSON *svc = cJSON_AddObjectToObject(root, "service_ms");
    for (int i = 0; i < p->nmodels; i++)
        cJSON_AddNumberToObject(svc, p->models[i].name, p->models[i].service_ms);
    return root;
}

/* PUT /v2/power: {"policy": NAME} and nothing else. */
static void power_put(daemon_power *p, const ember_http_request *req, route_reply *reply)
{
    cJSON *root = req->body ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(root, "policy");
    if (!cJSON_IsObject(root) || !cJSON_IsString(pol) || cJSON_GetArraySize(root) != 1) {
        cJSON_Delete(root);
        router_error(reply, 400, "PUT /v2/power wants a JSON object {\"policy\": NAME}");
        return;
    }
    ember_power_policy want;
    ember_err err = {{0}};
    if (ember_power_policy_parse(pol->valuestring, &want, &err) < 0) {
        cJSON_Delete(root);
        router_error(reply, 400, err.msg);
        return;
    }
    cJSON_Delete(root);
    if (want != p->policy)
        log_info(p->log, "power: policy %s -> %s (PUT /v2/power)",
                 ember_power_policy_name(p->policy), ember_power_policy_name(want));
    p->policy = want; /* the next tick runs it */
    router_reply_json(reply, 200, power_json(p));
}

void power_route(daemon_power *p, const ember_http_request *req, route_reply *reply)
{
    int get = req->method == EMBER_HTTP_GET || req->method == EMBER_HTTP_HEAD;
    if (!get && req->method != EMBER_HTTP_PUT) {
        char msg[128];
        snprintf(msg, sizeof msg, "method %s is not allowed here (allowed: GET, HEAD, PUT)",
                 req->method_name);
        router_error(reply, 405, msg);
        reply->allow = "GET, HEAD, PUT";
        return;
    }
    if (!p || !p->on) {
        router_error(reply, 404, "power management is off (start emberd with --power-policy)");
        return;
    }
    if (p->stopping) {
        router_error(reply, 503, "the server is shutting down");
        return;
    }
    if (get)
        router_reply_json(reply, 200, power_json(p));
    else
        power_put(p, req, reply);
}

void power_read_gauges(const daemon_power *p, metrics_gauges *g)
{
    if (!p || !p->on)
        return;
    g->power = 1;
    g->active_workers = p->q->active;
    g->parked_workers = p->q->pool ? ember_pool_parked(p->q->pool) : 0;
    g->freq_khz = p->status.dvfs ? p->status.freq_khz : 0;
    g->energy_j = p->status.energy_j;
}
