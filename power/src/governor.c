/*
 * The governor's policy function: one observation of the queue in, a frequency and a worker
 * count out.
 *
 * performance and powersave are constant. ondemand follows the Linux governor's od_update
 * and od_dbs_update: once per sampling period, the busiest CPU's load averaged since the
 * last decision above up_threshold goes to the maximum (and, when it was not there yet,
 * stretches the next period sampling_down_factor times), anything else picks the table
 * entry closest to min + load x (max - min). ember predicts, for each frequency, when the
 * backlog would be done with the fewest workers that keep steady arrivals under util_cap
 * (requests in service count as half done), keeps the frequencies that finish within
 * headroom x the deadline, and of those takes the one the power figures say costs least
 * (else the lowest). A queue deeper than backup_factor x workers jumps to the maximum;
 * idle_ms without work drops to the minimum and one worker. Rising is immediate, falling
 * waits down_ticks so a single quiet sample does not flap the clock.
 */
#include <limits.h>
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

/* ondemand's sampling period in ticks. */
static int od_period(const ember_gov_config *c)
{
    if (!(c->od_sampling_ms > c->sample_ms))
        return 1;
    double t = floor(c->od_sampling_ms / c->sample_ms + 0.5);
    return t > INT_MAX / 100000 ? INT_MAX / 100000 : (int)t;
}

void ember_gov_config_default(ember_gov_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = EMBER_POWER_EMBER;
    cfg->max_workers = 1;
    cfg->sample_ms = 10;
    cfg->up_threshold = 95;
    cfg->sampling_down_factor = 1;
    cfg->od_sampling_ms = 0;
    cfg->headroom = 0.7;
    cfg->util_cap = 0.8;
    cfg->rate_window_ms = 1000;
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
        cfg->sampling_down_factor < 1 || cfg->sampling_down_factor > 100000 ||
        !(cfg->od_sampling_ms == 0 ||
          (cfg->od_sampling_ms >= cfg->sample_ms && cfg->od_sampling_ms <= 60000)) ||
        !(cfg->mem_frac >= 0 && cfg->mem_frac < 1) || !(cfg->headroom > 0 && cfg->headroom <= 1) ||
        !(cfg->util_cap > 0 && cfg->util_cap <= 1) || !(cfg->backup_factor > 0) ||
        !(cfg->rate_window_ms >= 0 && cfg->rate_window_ms <= 3600e3) || !(cfg->idle_ms >= 0) ||
        cfg->down_ticks < 0)
        return ember_err_set(err, EMBER_EINVAL, "governor: a tunable is out of range");
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->cur = cfg->nfreqs - 1;
    g->active = cfg->max_workers;
    g->down_target = -1;
    g->od_due = od_period(cfg);
    return 0;
}

void ember_gov_set_policy(ember_gov *g, ember_power_policy p)
{
    if ((int)p < 0 || p >= EMBER_POWER_NPOLICIES)
        return;
    g->cfg.policy = p;
    g->down_count = 0;
    g->down_target = -1;
    g->od_ticks = 0;
    g->od_busy = 0;
    g->od_due = od_period(&g->cfg);
    g->blind = 0;
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

    /* dbs_update: the load is the busy share of the whole time since the last decision. */
    g->od_busy += o->busy_pct < 0 ? 0 : o->busy_pct > 100 ? 100 : o->busy_pct;
    if (++g->od_ticks < g->od_due)
        return g->cur;
    double load = g->od_busy / g->od_ticks;
    g->od_busy = 0;
    g->od_ticks = 0;
    if (load > c->up_threshold) {
        /* rate_mult: only a jump from below the maximum stretches the next period. */
        if (g->cur < top)
            g->od_due = od_period(c) * c->sampling_down_factor;
        return top;
    }
    g->od_due = od_period(c);
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

/* A request's service time at table index i, from s_cur measured at cur_khz: the share
 * mem_frac does not scale with the clock. */
static double service_at(const ember_gov_config *c, double s_cur, double cur_khz, int i)
{
    double fmax = c->freqs_khz[c->nfreqs - 1], m = c->mem_frac;
    return s_cur * ((1 - m) * fmax / c->freqs_khz[i] + m) / ((1 - m) * fmax / cur_khz + m);
}

/* Arrivals the backlog check counts on at most: past this many the answer is the same. */
#define EMBER_GOV_PLAN_MAX 1000000

/* When the last of `queued` requests would finish, with w workers of which `busy` are running
 * a request that is (on average) half done, for requests of s ms each: workers free now start
 * a request at 0, s, 2s...; busy ones at s/2, 3s/2... (busy <= w). */
static double drain_ms(int queued, int busy, int w, double s)
{
    if (queued == 0)
        return busy > 0 ? s / 2 : 0;
    int free_now = w - busy;
    int rounds = (queued - 1) / w, rem = (queued - 1) % w;
    return rounds * s + (rem < free_now ? 0 : s / 2) + s;
}

/* 1 when the table carries both power figures for every frequency. */
static int has_power_curve(const ember_gov_config *c)
{
    for (int i = 0; i < c->nfreqs; i++)
        if (!(c->busy_w[i] > 0) || !(c->idle_w[i] > 0))
            return 0;
    return 1;
}

/* ember's target frequency index and worker count for one observation, before hysteresis. */
static int ember_target(const ember_gov *g, const ember_gov_obs *o, int *workers)
{
    const ember_gov_config *c = &g->cfg;
    int top = c->nfreqs - 1, queued = 0;
    for (int p = 0; p < EMBER_POWER_NPRIO; p++)
        queued += o->queued[p] > 0 ? o->queued[p] : 0;
    int busy = o->busy_workers > 0 ? o->busy_workers : 0;
    if (busy > c->max_workers)
        busy = c->max_workers;
    double cur = o->cur_khz ? o->cur_khz : c->freqs_khz[g->cur];

    double budget = o->deadline_ms > 0 ? c->headroom * o->deadline_ms - o->oldest_wait_ms : 1e300;
    if (queued > c->backup_factor * c->max_workers) {
        /* The queue backs up. With a service time and a deadline to plan by, and a backlog
         * that all workers clear at the current clock within the oldest request's budget, and
         * the arrivals that keep coming meanwhile within their own deadlines (the last of them
         * arrives as the backlog drains), the search below finds the lowest clock that
         * suffices; otherwise the maximum at once. */
        int plan = o->service_ms > 0 && o->deadline_ms > 0;
        if (plan) {
            double d = drain_ms(queued, busy, c->max_workers, o->service_ms);
            double expect = o->arrival_per_ms > 0 ? ceil(o->arrival_per_ms * d) : 0;
            int more = expect < EMBER_GOV_PLAN_MAX ? (int)expect : EMBER_GOV_PLAN_MAX;
            plan = d <= budget && drain_ms(queued + more, busy, c->max_workers, o->service_ms) <=
                                      d + c->headroom * o->deadline_ms;
        }
        if (!plan) {
            *workers = c->max_workers;
            return top;
        }
    }
    if (!(o->service_ms > 0)) {
        /* Nothing measured yet: work without a service time runs flat out. */
        int backlog = queued + busy;
        *workers = backlog > 0 ? (backlog < c->max_workers ? backlog : c->max_workers) : 1;
        return backlog > 0 ? top : g->cur;
    }
    int curve = has_power_curve(c);
    int best = -1, best_w = c->max_workers;
    double best_cost = 0;
    for (int i = curve ? 0 : efficiency_floor(c); i <= top; i++) {
        double s = service_at(c, o->service_ms, cur, i);
        /* Fewest workers that keep steady arrivals under util_cap each, and drain the backlog
         * in time; parked workers beyond that save their cores' idle power and wake-ups. */
        double carry = ceil(g->rate_slow * s / c->util_cap);
        if (!(carry <= c->max_workers))
            continue;
        int need = (int)carry;
        if (need < busy)
            need = busy;
        if (need < 1)
            need = 1;
        int w = need;
        while (w <= c->max_workers && drain_ms(queued, busy, w, s) > budget)
            w++;
        if (w > c->max_workers)
            continue;
        if (!curve) {
            *workers = w;
            return i;
        }
        /* Power while carrying the arrivals and clearing the backlog within the budget: the
         * machine's idle power at this clock plus the busy cores' share. */
        double horizon =
            budget < 1e299 ? (budget > c->sample_ms ? budget : c->sample_ms) : 1000 * c->sample_ms;
        double cost =
            c->idle_w[i] + (g->rate_slow + (queued + busy / 2.0) / horizon) * s * c->busy_w[i];
        if (best < 0 || cost < best_cost - 1e-12) {
            best = i;
            best_w = w;
            best_cost = cost;
        }
    }
    *workers = best < 0 ? c->max_workers : best_w;
    return best < 0 ? top : best;
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
        /* The capacity check's arrival rate: a running mean over rate_window_ms, so a few
         * close arrivals (which the deadline check already covers) do not size the pool. */
        double a = o->arrival_per_ms > 0 ? o->arrival_per_ms : 0;
        double k = c->rate_window_ms > c->sample_ms ? c->sample_ms / c->rate_window_ms : 1;
        g->rate_slow += k * (a - g->rate_slow);
        int queued = 0;
        for (int p = 0; p < EMBER_POWER_NPRIO; p++)
            queued += o->queued[p];
        if (queued == 0 && o->busy_workers == 0)
            g->idle_for_ms += c->sample_ms;
        else
            g->idle_for_ms = 0;
        if (g->idle_for_ms >= c->idle_ms && g->idle_for_ms > 0) {
            target = 0;
            g->blind = 0;
            workers = 1;
            g->down_count = 0;
            g->down_target = -1;
            break;
        }
        target = ember_target(g, o, &workers);
        /* A clock raised blind (no service time measured) is no decision to guard: the first
         * informed one may fall at once. */
        int was_blind = g->blind;
        g->blind = !(o->service_ms > 0) && target == top;
        if (target < g->cur && was_blind && o->service_ms > 0) {
            g->down_count = 0;
            g->down_target = -1;
        } else if (target < g->cur) {
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
