/*
 * The governor's policy function: one observation of the queue in, a frequency and a worker
 * count out.
 *
 * performance and powersave are constant. ondemand follows the Linux governor's od_update:
 * the busiest CPU's load over the last sample above up_threshold goes to the maximum (and
 * stays sampling_down_factor samples), anything else picks the table entry closest to
 * min + load x (max - min). ember predicts, for each frequency from the lowest up, how long
 * the backlog takes with the workers it would run and whether steady arrivals would keep
 * those workers under util_cap; it picks the first that meets headroom x the deadline. A
 * queue deeper than backup_factor x workers jumps to the maximum; idle_ms without work drops
 * to the minimum and one worker. Rising is immediate, falling waits down_ticks so a single
 * quiet sample does not flap the clock.
 */
#include <math.h>
#include <string.h>

#include <ember/power.h>

static const char *const policy_names[EMBER_POWER_NPOLICIES] = {
    "performance",
    "powersave",
    "ondemand",
    "ember",
};

const char *ember_power_policy_name(ember_power_policy p)
{
    if ((int)p < 0 || p >= EMBER_POWER_NPOLICIES)
        return NULL;
    return policy_names[p];
}

int ember_power_policy_parse(const char *name, ember_power_policy *out, ember_err *err)
{
    for (int i = 0; i < EMBER_POWER_NPOLICIES; i++) {
        if (name && strcmp(name, policy_names[i]) == 0) {
            *out = (ember_power_policy)i;
            return 0;
        }
    }
    return ember_err_set(err, EMBER_EINVAL,
                         "unknown power policy '%s' (performance, powersave, ondemand, ember)",
                         name ? name : "");
}

void ember_gov_config_default(ember_gov_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = EMBER_POWER_EMBER;
    cfg->max_workers = 1;
    cfg->sample_ms = 10;
    cfg->up_threshold = 80;
    cfg->sampling_down_factor = 1;
    cfg->headroom = 0.7;
    cfg->util_cap = 0.8;
    cfg->backup_factor = 2;
    cfg->idle_ms = 50;
    cfg->down_ticks = 3;
}

int ember_gov_init(ember_gov *g, const ember_gov_config *cfg, ember_err *err)
{
    if (cfg->nfreqs < 1 || cfg->nfreqs > EMBER_POWER_MAX_FREQS)
        return ember_err_set(err, EMBER_EINVAL, "governor: need 1..%d frequencies, got %d",
                             EMBER_POWER_MAX_FREQS, cfg->nfreqs);
    for (int i = 0; i < cfg->nfreqs; i++)
        if (cfg->freqs_khz[i] == 0 || (i > 0 && cfg->freqs_khz[i] <= cfg->freqs_khz[i - 1]))
            return ember_err_set(err, EMBER_EINVAL,
                                 "governor: frequencies must be positive and ascending (entry %d)",
                                 i);
    if (cfg->max_workers < 1 || cfg->max_workers > EMBER_POWER_MAX_WORKERS)
        return ember_err_set(err, EMBER_EINVAL, "governor: need 1..%d workers, got %d",
                             EMBER_POWER_MAX_WORKERS, cfg->max_workers);
    if ((int)cfg->policy < 0 || cfg->policy >= EMBER_POWER_NPOLICIES)
        return ember_err_set(err, EMBER_EINVAL, "governor: bad policy %d", (int)cfg->policy);
    if (!(cfg->sample_ms > 0) || cfg->up_threshold < 1 || cfg->up_threshold > 100 ||
        cfg->sampling_down_factor < 1 || !(cfg->headroom > 0 && cfg->headroom <= 1) ||
        !(cfg->util_cap > 0 && cfg->util_cap <= 1) || !(cfg->backup_factor > 0) ||
        !(cfg->idle_ms >= 0) || cfg->down_ticks < 0)
        return ember_err_set(err, EMBER_EINVAL, "governor: a tunable is out of range");
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->cur = cfg->nfreqs - 1;
    g->active = cfg->max_workers;
    g->down_target = -1;
    return 0;
}

void ember_gov_set_policy(ember_gov *g, ember_power_policy p)
{
    if ((int)p < 0 || p >= EMBER_POWER_NPOLICIES)
        return;
    g->cfg.policy = p;
    g->down_count = 0;
    g->down_target = -1;
    g->stay_max = 0;
}

/* The table index closest to khz (ties to the higher), as CPUFREQ_RELATION_C. */
static int closest_index(const ember_gov_config *c, double khz)
{
    int best = 0;
    for (int i = 1; i < c->nfreqs; i++)
        if (fabs(c->freqs_khz[i] - khz) <= fabs(c->freqs_khz[best] - khz))
            best = i;
    return best;
}

static int ondemand_tick(ember_gov *g, const ember_gov_obs *o)
{
    const ember_gov_config *c = &g->cfg;
    int top = c->nfreqs - 1;

    if (g->stay_max > 0) {
        g->stay_max--;
        return g->cur;
    }
    double load = o->busy_pct < 0 ? 0 : o->busy_pct > 100 ? 100 : o->busy_pct;
    if (load > c->up_threshold) {
        if (g->cur < top)
            g->stay_max = c->sampling_down_factor - 1;
        return top;
    }
    double lo = c->freqs_khz[0], hi = c->freqs_khz[top];
    return closest_index(c, lo + load * (hi - lo) / 100.0);
}

/* The lowest index worth running at: below it each joule does less work (busy_w / f grows).
 * 0 when the table carries no power figures. */
static int efficiency_floor(const ember_gov_config *c)
{
    int best = 0;
    for (int i = 0; i < c->nfreqs; i++) {
        if (!(c->busy_w[i] > 0))
            return 0;
        if (c->busy_w[i] / c->freqs_khz[i] < c->busy_w[best] / c->freqs_khz[best])
            best = i;
    }
    return best;
}

/* ember's target frequency index and worker count for one observation, before hysteresis. */
static int ember_target(const ember_gov *g, const ember_gov_obs *o, int *workers)
{
    const ember_gov_config *c = &g->cfg;
    int top = c->nfreqs - 1, queued = 0;
    for (int p = 0; p < EMBER_POWER_NPRIO; p++)
        queued += o->queued[p] > 0 ? o->queued[p] : 0;
    int busy = o->busy_workers > 0 ? o->busy_workers : 0;
    int backlog = queued + busy;
    double cur = o->cur_khz ? o->cur_khz : c->freqs_khz[g->cur];

    if (queued > c->backup_factor * c->max_workers) {
        *workers = c->max_workers;
        return top;
    }
    if (!(o->service_ms > 0)) {
        /* Nothing measured yet: work without a service time runs flat out. */
        *workers = backlog > 0 ? (backlog < c->max_workers ? backlog : c->max_workers) : 1;
        return backlog > 0 ? top : g->cur;
    }
    double budget = o->deadline_ms > 0 ? c->headroom * o->deadline_ms - o->oldest_wait_ms : 1e300;
    for (int i = efficiency_floor(c); i <= top; i++) {
        double s = o->service_ms * cur / c->freqs_khz[i];
        /* Fewest workers that keep steady arrivals under util_cap each, and drain the backlog
         * in time; parked workers beyond that save their cores' idle power and wake-ups. */
        int need = (int)ceil(o->arrival_per_ms * s / c->util_cap);
        if (need < 1)
            need = 1;
        for (int w = need; w <= c->max_workers; w++) {
            double waves = ceil((double)backlog / w);
            if (waves * s <= budget) {
                *workers = w;
                return i;
            }
        }
    }
    *workers = c->max_workers;
    return top;
}

void ember_gov_tick(ember_gov *g, const ember_gov_obs *o, ember_gov_decision *out)
{
    const ember_gov_config *c = &g->cfg;
    int top = c->nfreqs - 1;
    int target = g->cur, workers = c->max_workers;

    switch (c->policy) {
    case EMBER_POWER_PERFORMANCE: target = top; break;
    case EMBER_POWER_POWERSAVE: target = 0; break;
    case EMBER_POWER_ONDEMAND: target = ondemand_tick(g, o); break;
    case EMBER_POWER_EMBER: {
        int queued = 0;
        for (int p = 0; p < EMBER_POWER_NPRIO; p++)
            queued += o->queued[p];
        if (queued == 0 && o->busy_workers == 0)
            g->idle_for_ms += c->sample_ms;
        else
            g->idle_for_ms = 0;
        if (g->idle_for_ms >= c->idle_ms && g->idle_for_ms > 0) {
            target = 0;
            workers = 1;
            g->down_count = 0;
            g->down_target = -1;
            break;
        }
        target = ember_target(g, o, &workers);
        if (target < g->cur) {
            /* Hysteresis: fall only once lower targets persisted down_ticks samples, and then
             * only as far as the highest of them. */
            if (target > g->down_target)
                g->down_target = target;
            if (++g->down_count <= c->down_ticks) {
                target = g->cur;
            } else {
                target = g->down_target;
                g->down_count = 0;
                g->down_target = -1;
            }
        } else {
            g->down_count = 0;
            g->down_target = -1;
        }
        if (workers < o->busy_workers)
            workers = o->busy_workers > c->max_workers ? c->max_workers : o->busy_workers;
        break;
    }
    default: break;
    }
    g->cur = target;
    g->active = workers;
    out->freq_index = target;
    out->freq_khz = c->freqs_khz[target];
    out->active_workers = workers;
}
