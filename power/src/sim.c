/*
 * The load-trace simulator: replays arrivals through the governor against a device model.
 *
 * Time advances in SIM_STEP_MS steps. Requests join one FIFO; a free active worker (one per
 * core, lowest index first, so work consolidates) takes the head, and a parked worker takes
 * one only while more requests wait than there are active workers, as the engine pool does.
 * A core idle longer than deep_idle_ms first spends wake_ms waking up. A request's work is
 * its service time at the highest frequency; at frequency f it runs at
 * 1 / ((1 - mem_frac) x fmax / f + mem_frac) of that speed. Power is the table's idle power at
 * the current frequency, plus busy_w per busy core and shallow_w per core idle but not yet in
 * deep idle. Every sample_ms the governor sees what the daemon would measure and decides.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ember/power.h>

#define SIM_STEP_MS 0.1
#define SIM_SAMPLE_MS 10.0
#define SIM_EWMA 0.3
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
    /* The tightest deadline among requests that arrived this sample; the governor keeps the
     * last one seen when a sample has none, as the daemon's EWMA would. */
    double deadline = 0, sample_deadline = 0;
    double end_limit = req[n - 1].t_ms + SIM_DRAIN_LIMIT_MS;

    while ((done < n || now < req[n - 1].t_ms + SIM_TAIL_MS) && now < end_limit) {
        while (next < n && req[next].t_ms <= now) {
            if (sample_deadline == 0 || req[next].deadline_ms < sample_deadline)
                sample_deadline = req[next].deadline_ms;
            queue[qtail++] = next++;
            arrived_in_sample++;
        }
        for (int c = 0; c < ncores && qhead < qtail; c++) {
            if (core[c].job >= 0 || (c >= active && qtail - qhead <= active))
                continue;
            int j = queue[qhead++];
            core[c].job = j;
            core[c].work = req[j].service_ms;
            core[c].wake = now - core[c].idle_since >= prof->deep_idle_ms ? prof->wake_ms : 0;
        }

        double f = tab->freqs_khz[fi];
        double speed = 1.0 / ((1 - prof->mem_frac) * fmax / f + prof->mem_frac);
        double watts = tab->idle_w[fi];
        for (int c = 0; c < ncores; c++) {
            sim_core *k = &core[c];
            if (k->job < 0) {
                if (now - k->idle_since < prof->deep_idle_ms)
                    watts += prof->shallow_w;
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
                k->job = -1;
                k->idle_since = now + SIM_STEP_MS;
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
            o.service_ms =
                service_fmax * ((1 - prof->mem_frac) * fmax / o.cur_khz + prof->mem_frac);
            for (int k = qhead; k < qtail; k++)
                if (sample_deadline == 0 || req[queue[k]].deadline_ms < sample_deadline)
                    sample_deadline = req[queue[k]].deadline_ms;
            if (sample_deadline > 0)
                deadline = sample_deadline;
            sample_deadline = 0;
            o.deadline_ms = deadline;
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
