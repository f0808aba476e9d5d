/*
 * The load-trace simulator: replays arrivals through the governor against a device model.
 *
 * Time advances in SIM_STEP_MS steps. Worker i runs on core i (pinned, or staying on its last
 * CPU as the scheduler's wake-up placement prefers). Requests join one FIFO and are taken as
 * the engine pool hands them out: a worker that finishes a request takes the next one at
 * once; an arrival wakes the free active worker that has waited longest (a condition
 * variable's waiters wake in futex FIFO order, so an ungated pool spreads requests over all
 * its cores); a parked worker (index >= active) takes one only while more requests wait
 * than there are active workers. A core idle for deep_idle_ms is in deep idle and first
 * spends wake_ms waking up. A request's work is its service time at the highest frequency;
 * at frequency f it runs at 1 / ((1 - mem_frac) x fmax / f + mem_frac) of that speed.
 * Power is the table's idle power at the current frequency (every core in shallow idle),
 * plus busy_w per busy core, minus, per core in deep idle, shallow_w and that core's share of
 * the idle power's rise above the lowest clock (a power-gated core's voltage does not
 * matter). Every sample_ms the governor sees what the daemon would measure and decides.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ember/power.h>

#define SIM_STEP_MS 0.1
#define SIM_SAMPLE_MS 10.0
/* The daemon's weight of the newest sample in its rate and service-time EWMAs
 * (POWER_EWMA_ALPHA in daemon/power.c). */
#define SIM_EWMA 0.25
/* Models (told apart by their service time, one per model in a trace) whose time is known. */
#define SIM_MODELS 64
/* Every policy is measured over the same window: the last arrival plus this tail, or longer
 * while requests remain; past SIM_DRAIN_LIMIT_MS after the last arrival they count as missed. */
#define SIM_TAIL_MS 1000.0
#define SIM_DRAIN_LIMIT_MS 3600e3

typedef struct sim_core {
    int job;     /* request index, -1 when free */
    double work; /* remaining, in ms at the highest frequency */
    double wake; /* remaining wake-up latency, ms */
    double idle_since;
    double busy_ms; /* within the current sample */
} sim_core;

/* Whether a model (its service time) has finished a request before. */
static int sim_known(const double *known, int n, double service_ms)
{
    for (int i = 0; i < n; i++)
        if (known[i] == service_ms)
            return 1;
    return 0;
}

/* Whether an idle core has reached deep idle (never, when the platform has none). */
static int sim_deep(const sim_core *k, const ember_power_profile *prof, double now)
{
    return prof->deep_idle_ms >= 0 && now - k->idle_since >= prof->deep_idle_ms;
}

/* The free worker an arrival wakes: among the active ones the longest waiting; failing that,
 * a parked one (again the longest waiting) when more than `active` requests wait. -1 if
 * none. */
static int sim_pick_waiter(const sim_core *core, int ncores, int active, int waiting)
{
    int best = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        if (pass == 1 && waiting <= active)
            break;
        for (int c = pass ? active : 0; c < (pass ? ncores : active) && c < ncores; c++)
            if (core[c].job < 0 && (best < 0 || core[c].idle_since < core[best].idle_since))
                best = c;
    }
    return best;
}

static void sim_start(sim_core *k, int j, const ember_power_request *req,
                      const ember_power_profile *prof, double now)
{
    k->job = j;
    k->work = req[j].service_ms;
    k->wake = sim_deep(k, prof, now) ? prof->wake_ms : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, int n, double p)
{
    int rank = (int)ceil(p * n);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

int ember_power_sim_run(const ember_power_profile *prof, const ember_power_trace *trace,
                        ember_power_policy policy, ember_power_result *out, ember_err *err)
{
    if (!trace || trace->n < 1)
        return ember_err_set(err, EMBER_EINVAL, "power-sim: the trace has no requests");
    const ember_power_table *tab = &prof->table;
    ember_gov_config cfg;
    ember_gov_config_default(&cfg);
    cfg.policy = policy;
    cfg.nfreqs = tab->nfreqs;
    memcpy(cfg.freqs_khz, tab->freqs_khz, sizeof cfg.freqs_khz);
    memcpy(cfg.busy_w, tab->busy_w, sizeof cfg.busy_w);
    memcpy(cfg.idle_w, tab->idle_w, sizeof cfg.idle_w);
    ember_power_profile_tune(prof, &cfg);
    cfg.max_workers = prof->cores;
    cfg.sample_ms = SIM_SAMPLE_MS;
    ember_gov gov;
    int rc = ember_gov_init(&gov, &cfg, err);
    if (rc != 0)
        return rc;

    int n = trace->n, ncores = prof->cores;
    int *queue = malloc((size_t)n * sizeof *queue);
    double *lat = malloc((size_t)n * sizeof *lat);
    sim_core *core = calloc((size_t)ncores, sizeof *core);
    if (!queue || !lat || !core) {
        free(queue);
        free(lat);
        free(core);
        return ember_err_set(err, EMBER_ENOMEM, "power-sim: out of memory");
    }
    for (int c = 0; c < ncores; c++)
        core[c].job = -1;

    const ember_power_request *req = trace->req;
    double fmax = tab->freqs_khz[tab->nfreqs - 1];
    int fi = tab->nfreqs - 1, active = ncores;
    int next = 0, qhead = 0, qtail = 0, done = 0, misses = 0, arrived_in_sample = 0;
    double rate = 0, service_fmax = 0, energy = 0, now = 0, next_tick = 0;
    double known[SIM_MODELS];
    int nknown = 0;
    /* As the daemon sees deadlines: the tightest among requests that finished this sample
     * and those waiting; none (0) when neither has one. */
    double sample_deadline = 0;
    double end_limit = req[n - 1].t_ms + SIM_DRAIN_LIMIT_MS;

    while ((done < n || now < req[n - 1].t_ms + SIM_TAIL_MS) && now < end_limit) {
        while (next < n && req[next].t_ms <= now) {
            queue[qtail++] = next++;
            arrived_in_sample++;
        }
        while (qhead < qtail) {
            int c = sim_pick_waiter(core, ncores, active, qtail - qhead);
            if (c < 0)
                break;
            sim_start(&core[c], queue[qhead++], req, prof, now);
        }

        double f = tab->freqs_khz[fi];
        double speed = 1.0 / ((1 - prof->mem_frac) * fmax / f + prof->mem_frac);
        double watts = tab->idle_w[fi];
        double deep_save = prof->shallow_w + (tab->idle_w[fi] - tab->idle_w[0]) / ncores;
        for (int c = 0; c < ncores; c++) {
            sim_core *k = &core[c];
            if (k->job < 0) {
                if (sim_deep(k, prof, now))
                    watts -= deep_save;
                continue;
            }
            watts += tab->busy_w[fi];
            k->busy_ms += SIM_STEP_MS;
            if (k->wake > 0) {
                k->wake -= SIM_STEP_MS;
                continue;
            }
            k->work -= SIM_STEP_MS * speed;
            if (k->work <= 1e-9) {
                int j = k->job;
                lat[done] = now + SIM_STEP_MS - req[j].t_ms;
                if (lat[done] > req[j].deadline_ms + 1e-9)
                    misses++;
                done++;
                service_fmax = service_fmax == 0
                                   ? req[j].service_ms
                                   : SIM_EWMA * req[j].service_ms + (1 - SIM_EWMA) * service_fmax;
                if (sample_deadline == 0 || req[j].deadline_ms < sample_deadline)
                    sample_deadline = req[j].deadline_ms;
                if (!sim_known(known, nknown, req[j].service_ms) && nknown < SIM_MODELS)
                    known[nknown++] = req[j].service_ms;
                k->job = -1;
                k->idle_since = now + SIM_STEP_MS;
                /* The worker looks for more work before it waits: gated ones only while the
                 * queue outgrows the active workers. */
                if (qhead < qtail && (c < active || qtail - qhead > active))
                    sim_start(k, queue[qhead++], req, prof, now + SIM_STEP_MS);
            }
        }
        energy += watts * SIM_STEP_MS / 1e3;
        now += SIM_STEP_MS;

        if (now + 1e-9 >= next_tick + SIM_SAMPLE_MS) {
            next_tick += SIM_SAMPLE_MS;
            ember_gov_obs o;
            memset(&o, 0, sizeof o);
            o.queued[0] = qtail - qhead;
            double maxbusy = 0;
            for (int c = 0; c < ncores; c++) {
                o.busy_workers += core[c].job >= 0;
                if (core[c].busy_ms > maxbusy)
                    maxbusy = core[c].busy_ms;
                core[c].busy_ms = 0;
            }
            o.busy_pct = 100.0 * maxbusy / SIM_SAMPLE_MS;
            rate = SIM_EWMA * arrived_in_sample / SIM_SAMPLE_MS + (1 - SIM_EWMA) * rate;
            arrived_in_sample = 0;
            o.arrival_per_ms = rate;
            o.cur_khz = tab->freqs_khz[fi];
            /* The daemon's service time: the mean of the waiting requests' models that have
             * been timed, else the recent mix. */
            double sum = 0;
            int timed = 0;
            for (int k = qhead; k < qtail; k++) {
                const ember_power_request *r = &req[queue[k]];
                if (sim_known(known, nknown, r->service_ms)) {
                    sum += r->service_ms;
                    timed++;
                }
                if (sample_deadline == 0 || r->deadline_ms < sample_deadline)
                    sample_deadline = r->deadline_ms;
            }
            double at_max = timed ? sum / timed : service_fmax;
            o.service_ms = at_max * ((1 - prof->mem_frac) * fmax / o.cur_khz + prof->mem_frac);
            o.deadline_ms = sample_deadline;
            sample_deadline = 0;
            o.oldest_wait_ms = qhead < qtail ? now - req[queue[qhead]].t_ms : 0;
            ember_gov_decision d;
            ember_gov_tick(&gov, &o, &d);
            fi = d.freq_index;
            active = d.active_workers;
        }
    }

    qsort(lat, (size_t)done, sizeof *lat, cmp_double);
    out->energy_j = energy;
    out->duration_ms = now;
    out->mean_w = now > 0 ? energy / (now / 1e3) : 0;
    out->p50_ms = done ? percentile(lat, done, 0.50) : 0;
    out->p99_ms = done ? percentile(lat, done, 0.99) : 0;
    out->misses = misses + (n - done);
    free(queue);
    free(lat);
    free(core);
    return 0;
}
