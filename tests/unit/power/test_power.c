/*
 * Unit tests for libember-power: the governor's policies driven with synthetic observations
 * (step load, idle decay, hysteresis, deadline pressure, worker counts), the cpufreq backend
 * and energy meters against fake sysfs trees built in a temporary directory, the profile and
 * trace parsers, and the simulator on small traces. Every limit in power.h is crossed here.
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH, mkdtemp */
#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ember/power.h>

/* ---- helpers ---- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ember-power-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmpdir(void)
{
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
put(const char *content, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    /* Create parent directories. */
    for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(content, f);
    fclose(f);
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static const char *
get(const char *fmt, ...)
{
    static char buf[256];
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    buf[0] = '\0';
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* A Pi-like table: 600..1500 MHz in 100 MHz steps. */
static void pi_config(ember_gov_config *c, ember_power_policy p, int workers)
{
    ember_gov_config_default(c);
    c->policy = p;
    c->nfreqs = 10;
    for (int i = 0; i < 10; i++)
        c->freqs_khz[i] = 600000 + 100000 * (uint32_t)i;
    c->max_workers = workers;
}

static ember_gov_obs idle_obs(uint32_t khz)
{
    ember_gov_obs o;
    memset(&o, 0, sizeof o);
    o.cur_khz = khz;
    return o;
}

static ember_gov_decision tick(ember_gov *g, const ember_gov_obs *o)
{
    ember_gov_decision d;
    ember_gov_tick(g, o, &d);
    return d;
}

/* ---- policy names and configuration ---- */

START_TEST(policy_names_round_trip)
{
    for (int p = 0; p < EMBER_POWER_NPOLICIES; p++) {
        ember_power_policy out;
        ck_assert_int_eq(ember_power_policy_parse(ember_power_policy_name(p), &out, NULL), 0);
        ck_assert_int_eq(out, p);
    }
    ember_err err = {{0}};
    ember_power_policy out;
    ck_assert_int_eq(ember_power_policy_parse("turbo", &out, &err), EMBER_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "turbo"));
    ck_assert_ptr_nonnull(strstr(err.msg, "ondemand"));
    ck_assert_ptr_null(ember_power_policy_name(EMBER_POWER_NPOLICIES));
}
END_TEST

START_TEST(config_limits_are_enforced)
{
    ember_gov_config c;
    ember_gov g;
    ember_err err = {{0}};
    pi_config(&c, EMBER_POWER_EMBER, 4);
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), 0);

    c.nfreqs = 0;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    c.nfreqs = EMBER_POWER_MAX_FREQS + 1;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "frequencies"));
    c.nfreqs = EMBER_POWER_MAX_FREQS;
    for (int i = 0; i < EMBER_POWER_MAX_FREQS; i++)
        c.freqs_khz[i] = 100000 + 10000 * (uint32_t)i;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), 0);

    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.freqs_khz[3] = c.freqs_khz[2];
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "ascending"));

    pi_config(&c, EMBER_POWER_EMBER, 0);
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    pi_config(&c, EMBER_POWER_EMBER, EMBER_POWER_MAX_WORKERS + 1);
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    pi_config(&c, EMBER_POWER_EMBER, EMBER_POWER_MAX_WORKERS);
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), 0);

    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.headroom = 1.5;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.up_threshold = 0;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);

    /* ondemand's period: none (every tick) or from one tick up to a minute. */
    pi_config(&c, EMBER_POWER_ONDEMAND, 4);
    c.od_sampling_ms = c.sample_ms / 2;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    c.od_sampling_ms = 60001;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    c.od_sampling_ms = 60000;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), 0);
    /* The kernel's MAX_SAMPLING_DOWN_FACTOR. */
    c.sampling_down_factor = 100001;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    c.sampling_down_factor = 100000;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), 0);

    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.mem_frac = 1;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    c.mem_frac = -0.1;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.rate_window_ms = -1;
    ck_assert_int_eq(ember_gov_init(&g, &c, &err), EMBER_EINVAL);
}
END_TEST

/* ---- static policies and ondemand ---- */

START_TEST(static_policies_ignore_load)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_PERFORMANCE, 4);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    for (int i = 0; i < 20; i++) {
        ember_gov_decision d = tick(&g, &o);
        ck_assert_uint_eq(d.freq_khz, 1500000);
        ck_assert_int_eq(d.active_workers, 4);
    }
    ember_gov_set_policy(&g, EMBER_POWER_POWERSAVE);
    o.queued[0] = 100;
    o.busy_pct = 100;
    ember_gov_decision d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 4);
}
END_TEST

START_TEST(ondemand_follows_the_linux_rule)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_ONDEMAND, 4);
    c.up_threshold = 80; /* the kernel's DEF_FREQUENCY_UP_THRESHOLD */
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);

    /* Proportional decrease: min + load x (max - min), closest table entry. */
    o.busy_pct = 0;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    o.busy_pct = 50; /* 600 + 0.5 x 900 = 1050: tie between 1000 and 1100, the higher wins */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1100000);
    o.busy_pct = 30; /* 870 -> 900 */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 900000);
    o.busy_pct = 80; /* at the threshold, not above: 1320 -> 1300 */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1300000);
    /* Above up_threshold: straight to the maximum, whatever the queue says. */
    o.busy_pct = 81;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    /* ondemand is blind to the queue: a deep queue on an idle sample still goes down. */
    o.busy_pct = 0;
    o.queued[0] = 50;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);

    /* sampling_down_factor 3: two more samples held at the maximum after going there. */
    c.sampling_down_factor = 3;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    o.queued[0] = 0;
    o.busy_pct = 0;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    o.busy_pct = 95;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.busy_pct = 0;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
}
END_TEST

START_TEST(ondemand_defaults_are_the_kernels)
{
    /* A NO_HZ kernel's ondemand goes to the maximum above 95 % (MICRO_FREQUENCY_UP_THRESHOLD),
     * holds it one period (DEF_SAMPLING_DOWN_FACTOR) and decides every sample. */
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_ONDEMAND, 4);
    ck_assert_int_eq(c.up_threshold, 95);
    ck_assert_int_eq(c.sampling_down_factor, 1);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    o.busy_pct = 90; /* 600 + 0.9 x 900 = 1410 -> 1400 */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1400000);
    o.busy_pct = 95; /* at the threshold, not above: 1455 -> 1500 by proximity alone */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.busy_pct = 94; /* 1446 -> 1400 */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1400000);
    o.busy_pct = 96;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.busy_pct = 0;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
}
END_TEST

START_TEST(ondemand_decides_per_period_on_the_mean_load)
{
    /* Raspberry Pi OS's tunables: sampling_rate 100 ms (ten 10 ms ticks), up_threshold 50,
     * sampling_down_factor 50. */
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_ONDEMAND, 4);
    c.sample_ms = 10;
    c.od_sampling_ms = 100;
    c.up_threshold = 50;
    c.sampling_down_factor = 50;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);

    /* Nothing changes between decisions; the decision sees the period's mean load: nine idle
     * ticks and one fully busy one average 10 %: 600 + 0.1 x 900 = 690 -> 700. */
    o.busy_pct = 0;
    for (int i = 0; i < 9; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.busy_pct = 100;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 700000);

    /* A period averaging 60 % goes to the maximum... */
    for (int i = 0; i < 10; i++) {
        o.busy_pct = i < 6 ? 100 : 0;
        ember_gov_decision d = tick(&g, &o);
        ck_assert_uint_eq(d.freq_khz, i < 9 ? 700000 : 1500000);
    }
    /* ...and, coming from below it, the next decision waits 50 periods (500 ticks) and then
     * sees the load of all of them. */
    o.busy_pct = 0;
    for (int i = 0; i < 499; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);

    /* Already at the maximum, a busy period keeps the rate it has: with the long period over
     * (load fell), busy again from the minimum: jump, 500 ticks; busy all along: still at the
     * maximum after them, and the next period is long again only because rate_mult stayed. */
    o.busy_pct = 100;
    for (int i = 0; i < 9; i++)
        tick(&g, &o);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    for (int i = 0; i < 500; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.busy_pct = 0;
    for (int i = 0; i < 499; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    /* Back to short periods after a decision below the threshold. */
    for (int i = 0; i < 9; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    o.busy_pct = 100;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 700000);
}
END_TEST

/* ---- ember ---- */

/* A fresh governor settled at the minimum by ten idle ticks, then one tick of a burst: nine
 * 25 ms requests queued, one worker busy, the given deadline (0: none). o keeps the burst. */
static ember_gov_decision burst_after_idle(ember_gov *g, const ember_gov_config *c,
                                           ember_gov_obs *o, double deadline_ms)
{
    ck_assert_int_eq(ember_gov_init(g, c, NULL), 0);
    *o = idle_obs(600000);
    for (int i = 0; i < 10; i++)
        tick(g, o);
    o->queued[1] = 9;
    o->busy_workers = 1;
    o->service_ms = 25;
    o->deadline_ms = deadline_ms;
    return tick(g, o);
}

START_TEST(ember_step_load_jumps_to_max_in_one_tick)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 4);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(600000);
    ember_gov_decision d;
    for (int i = 0; i < 10; i++)
        d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 1);

    /* A burst: more queued than backup_factor x workers, nothing to plan by (no deadline
     * known): the maximum and every worker at once. */
    o.queued[1] = 9;
    o.busy_workers = 1;
    o.service_ms = 25;
    d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 1500000);
    ck_assert_int_eq(d.active_workers, 4);

    /* The same burst with a deadline the current clock cannot meet (nine 25 ms requests on
     * four workers end at 75 ms; budget 0.7 x 100 = 70 ms): the maximum, not just enough. */
    d = burst_after_idle(&g, &c, &o, 100);
    ck_assert_uint_eq(d.freq_khz, 1500000);
    ck_assert_int_eq(d.active_workers, 4);

    /* With a deadline the minimum meets (budget 350 ms), a deep queue is no reason to race:
     * the lowest clock that suffices, every worker it takes. */
    d = burst_after_idle(&g, &c, &o, 500);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 1);
    /* ...unless the arrivals keep coming faster than the current clock can carry them: at
     * 1/ms another 75 arrive while those drain on all four workers (75 ms), and the last of
     * them would finish 537.5 ms from now, past its own deadline (75 + 350 ms). */
    o.arrival_per_ms = 1;
    d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 1500000);
}
END_TEST

START_TEST(ember_idle_decay_waits_then_drops_to_min)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.sample_ms = 10;
    c.idle_ms = 50;
    c.down_ticks = 10; /* longer than idle_ms: only the idle timer can bring it down */
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    o.queued[0] = 20; /* a deep queue with no deadline to plan by: the maximum */
    o.service_ms = 5;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);

    /* Load gone: the first four idle samples (40 ms) keep the maximum... */
    o.queued[0] = 0;
    o.deadline_ms = 100;
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    /* ...the fifth (50 ms idle) drops to the minimum with one worker. */
    ember_gov_decision d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 1);
}
END_TEST

START_TEST(ember_releases_a_blind_clock_at_the_first_measurement)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.down_ticks = 3;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(600000);
    for (int i = 0; i < 10; i++)
        tick(&g, &o);
    /* The first request of a model nobody has timed: flat out. */
    o.busy_workers = 1;
    o.deadline_ms = 1000;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    /* Its time is known a tick later (10 ms at 1500 MHz, a deadline of a second): the minimum
     * at once, without the down_ticks a measured decision would wait. */
    o.cur_khz = 1500000;
    o.service_ms = 10;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    /* A measured decision for the maximum is guarded as before: a deep queue the minimum
     * cannot clear goes up, and its end waits down_ticks samples. */
    o.cur_khz = 600000;
    o.service_ms = 25;
    o.deadline_ms = 100;
    o.queued[0] = 40;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    o.queued[0] = 0;
    o.cur_khz = 1500000;
    o.service_ms = 10;
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
}
END_TEST

START_TEST(ember_survives_absurd_observations)
{
    /* A caller's garbage (huge, negative or NaN rates and times) still gives a table entry
     * and a worker count in range, without an int overflow on the way. */
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 4);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    static const double rates[] = {1e300, -5, 0.0 / 0.0, 0};
    static const double services[] = {1e300, 1e-300, 25, -1};
    for (size_t r = 0; r < 4; r++)
        for (size_t v = 0; v < 4; v++) {
            ember_gov_obs o = idle_obs(600000);
            o.queued[0] = 1000000;
            o.busy_workers = 3;
            o.arrival_per_ms = rates[r];
            o.service_ms = services[v];
            o.deadline_ms = 100;
            for (int i = 0; i < 3; i++) {
                ember_gov_decision d = tick(&g, &o);
                ck_assert_int_ge(d.freq_index, 0);
                ck_assert_int_lt(d.freq_index, 10);
                ck_assert_int_ge(d.active_workers, 1);
                ck_assert_int_le(d.active_workers, 4);
                o.queued[0] = i == 0 ? 3 : 0;
            }
        }
}
END_TEST

START_TEST(ember_hysteresis_does_not_flap)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 4);
    c.down_ticks = 3;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    /* Alternate a sample that needs the maximum (tight deadline) with one that needs little. */
    ember_gov_obs hi = idle_obs(1500000), lo = idle_obs(1500000);
    hi.busy_workers = 1;
    hi.queued[0] = 4;
    hi.service_ms = 10;
    hi.deadline_ms = 40;
    lo.busy_workers = 1;
    lo.service_ms = 10;
    lo.deadline_ms = 1000;
    /* hi alone: one request half done and 4 queued, 10 ms each at 1500 MHz, within
     * 0.7 x 40 ms = 28 ms. On four workers the last queued one starts when the busy worker
     * frees (half a service time) and ends a service time later: 1.5 x s <= 28 needs
     * s <= 18.7 ms, 900 MHz (16.7 ms); three workers would need two full rounds. It settles
     * there once the hysteresis lets it down from the initial maximum. */
    uint32_t hi_khz = 0;
    for (int i = 0; i < 10; i++)
        hi_khz = tick(&g, &hi).freq_khz;
    ck_assert_uint_eq(hi_khz, 900000);
    ck_assert_int_eq(g.active, 4);
    int changes = 0;
    uint32_t last = 0;
    for (int i = 0; i < 40; i++) {
        ember_gov_decision d = tick(&g, i % 2 ? &lo : &hi);
        if (last && d.freq_khz != last)
            changes++;
        last = d.freq_khz;
    }
    ck_assert_int_eq(changes, 0);
    ck_assert_uint_eq(last, hi_khz);

    /* Only down_ticks + 1 consecutive low samples let it fall. */
    tick(&g, &hi);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(tick(&g, &lo).freq_khz, hi_khz);
    ck_assert_uint_lt(tick(&g, &lo).freq_khz, hi_khz);

    /* Rising is immediate. */
    ck_assert_uint_eq(tick(&g, &hi).freq_khz, hi_khz);
}
END_TEST

START_TEST(ember_deadline_pressure_raises_the_clock)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 1);
    c.down_ticks = 0;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    o.busy_workers = 1;
    o.queued[0] = 1;
    o.service_ms = 10; /* at 1500 MHz */

    /* One request half done and one queued, 10 ms each at 1500 MHz: the queued one ends
     * 1.5 service times from now. Budget 0.7 x deadline. */
    o.deadline_ms = 1000; /* loose: the minimum (1.5 x 25 ms) fits */
    ember_gov_decision d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    o.cur_khz = d.freq_khz;
    o.service_ms = 25;  /* measured at the new clock */
    o.deadline_ms = 40; /* budget 28 ms: 1.5 x 10 x 1500/f <= 28, f >= 804 -> 900 */
    d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 900000);
    o.cur_khz = d.freq_khz;
    o.service_ms = 10.0 * 1500 / 900;
    /* The oldest request already waited most of its deadline (budget 13 ms; 1.5 x 10 ms at the
     * maximum is 15): only the maximum is left. */
    o.oldest_wait_ms = 15;
    d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 1500000);
}
END_TEST

START_TEST(ember_sizes_workers_to_the_load)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 8);
    c.down_ticks = 0;
    c.rate_window_ms = 0; /* size by each sample's rate as it comes */
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    o.service_ms = 10;
    o.deadline_ms = 10000;

    /* 0.05 requests/ms x 25 ms at 600 MHz = 1.25 busy workers; under util_cap 0.8: 2. */
    o.arrival_per_ms = 0.05;
    ember_gov_decision d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 2);

    /* Four times the rate: 5 busy at 600 MHz, / 0.8 -> 7 workers. */
    o.cur_khz = 600000;
    o.service_ms = 25;
    o.arrival_per_ms = 0.2;
    d = tick(&g, &o);
    ck_assert_int_eq(d.active_workers, 7);

    /* Never fewer active than busy. */
    o.arrival_per_ms = 0;
    o.busy_workers = 5;
    d = tick(&g, &o);
    ck_assert_int_eq(d.active_workers, 5);

    /* More load than 8 workers carry even at the maximum: everything. */
    o.busy_workers = 0;
    o.arrival_per_ms = 5;
    d = tick(&g, &o);
    ck_assert_int_eq(d.active_workers, 8);
    ck_assert_uint_eq(d.freq_khz, 1500000);
}
END_TEST

START_TEST(ember_respects_the_efficiency_floor)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 1);
    c.down_ticks = 0;
    /* Busy power flat up to 900 MHz, then rising by 0.5 W a step: work per joule is best at
     * 900 MHz, so nothing below it is worth running even when the deadline allows. */
    for (int i = 0; i < 10; i++)
        c.busy_w[i] = i < 3 ? 1.0 : 1.0 + 0.5 * (i - 3);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(1500000);
    o.busy_workers = 1;
    o.service_ms = 1;
    o.deadline_ms = 1000;
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 900000);
}
END_TEST

START_TEST(ember_power_curve_decides_race_or_crawl)
{
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 1);
    c.down_ticks = 0;
    c.rate_window_ms = 0;
    ember_gov_obs o = idle_obs(1500000);
    o.busy_workers = 1;
    o.service_ms = 10;
    o.arrival_per_ms = 0.02;
    o.deadline_ms = 1000;

    /* Slow and steady: a busy core's power as f x V^2 (V from 0.8 to 0.9 V) and idle power
     * rising with the clock: each request costs least at the minimum. */
    for (int i = 0; i < 10; i++) {
        double f = 600 + 100 * i, v = 0.8 + 0.1 * i / 9;
        c.busy_w[i] = 2 * f / 1500 * v * v;
        c.idle_w[i] = 2.7 + 0.02 * i;
    }
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);

    /* Race to idle: a busy core costs the same at every clock (static power dominates) and
     * idle power is flat: the sooner a request is done, the fewer joules. */
    for (int i = 0; i < 10; i++) {
        c.busy_w[i] = 1.0;
        c.idle_w[i] = 2.0;
    }
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);

    /* The same busy power with idle power climbing 0.5 W a step: racing no longer pays
     * (2.5 W at 600 MHz against 6.7 W at 1500). */
    for (int i = 0; i < 10; i++)
        c.idle_w[i] = 2.0 + 0.5 * i;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);

    /* The cheapest clock must still meet the deadline: with one request half done and one
     * queued, the crawl profile runs at the maximum when only that is fast enough. */
    for (int i = 0; i < 10; i++) {
        double f = 600 + 100 * i, v = 0.8 + 0.1 * i / 9;
        c.busy_w[i] = 2 * f / 1500 * v * v;
        c.idle_w[i] = 2.7 + 0.02 * i;
    }
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    o.queued[0] = 1;
    o.deadline_ms = 22; /* budget 15.4 ms: 1.5 x s <= 15.4, s <= 10.3 ms: 1500 MHz only */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 1500000);
}
END_TEST

START_TEST(ember_predicts_with_mem_frac)
{
    /* One request half done and one queued, 10 ms each at 1500 MHz; budget 0.7 x 40 = 28 ms,
     * so 1.5 x s(f) <= 28. All of it scaling with the clock: s = 10 x 1500 / f, f >= 804 ->
     * 900 MHz. Half of it memory-bound: s = 5 x 1500 / f + 5, f >= 549 -> the minimum. */
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 1);
    c.down_ticks = 0;
    ember_gov_obs o = idle_obs(1500000);
    o.busy_workers = 1;
    o.queued[0] = 1;
    o.service_ms = 10;
    o.deadline_ms = 40;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 900000);
    c.mem_frac = 0.5;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    /* Measured at another clock, the prediction converts through the same model: the same
     * request takes 5 x 1500 / 600 + 5 = 17.5 ms at 600 MHz. */
    o.cur_khz = 600000;
    o.service_ms = 17.5;
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 600000);
    o.deadline_ms = 30; /* budget 21: s <= 14, 7500 / f <= 9, f >= 834 -> 900 */
    ck_assert_uint_eq(tick(&g, &o).freq_khz, 900000);
}
END_TEST

START_TEST(ember_sizes_by_the_averaged_rate)
{
    /* Two workers; a request is 25 ms at 600 MHz. At 0.02/ms one worker carries it
     * (0.5 busy, under util_cap 0.8) at the minimum. */
    ember_gov_config c;
    ember_gov g;
    pi_config(&c, EMBER_POWER_EMBER, 2);
    c.down_ticks = 0;
    ck_assert_int_eq(c.rate_window_ms, 1000);
    ck_assert_int_eq(ember_gov_init(&g, &c, NULL), 0);
    ember_gov_obs o = idle_obs(600000);
    o.busy_workers = 1;
    o.service_ms = 25;
    o.deadline_ms = 1000;
    o.arrival_per_ms = 0.02;
    ember_gov_decision d;
    for (int i = 0; i < 500; i++)
        d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 1);

    /* A one-sample spike to 0.09/ms (which would need three workers at 600 MHz) changes
     * nothing: nothing is queued, and the capacity check sees the rate over a second. */
    o.arrival_per_ms = 0.09;
    d = tick(&g, &o);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 1);

    /* Sustained for three seconds it is the load: both workers and a higher clock. */
    for (int i = 0; i < 300; i++)
        d = tick(&g, &o);
    ck_assert_uint_gt(d.freq_khz, 600000);
    ck_assert_int_eq(d.active_workers, 2);
}
END_TEST

/* ---- cpufreq against fake sysfs ---- */

static void fake_policy(int n, const char *avail, const char *govs, const char *gov)
{
    const char *d = tmpdir;
    if (avail)
        put(avail, "%s/cpufreq/policy%d/scaling_available_frequencies", d, n);
    put("600000\n", "%s/cpufreq/policy%d/cpuinfo_min_freq", d, n);
    put("1500000\n", "%s/cpufreq/policy%d/cpuinfo_max_freq", d, n);
    put(govs, "%s/cpufreq/policy%d/scaling_available_governors", d, n);
    put(gov, "%s/cpufreq/policy%d/scaling_governor", d, n);
    put("700000\n", "%s/cpufreq/policy%d/scaling_min_freq", d, n);
    put("1400000\n", "%s/cpufreq/policy%d/scaling_max_freq", d, n);
    put("1000000\n", "%s/cpufreq/policy%d/scaling_cur_freq", d, n);
    put("<unsupported>\n", "%s/cpufreq/policy%d/scaling_setspeed", d, n);
}

START_TEST(cpufreq_userspace_setspeed_and_restore)
{
    make_tmpdir();
    fake_policy(0, "600000 1000000 1500000 1200000\n", "ondemand userspace performance\n",
                "schedutil\n");
    fake_policy(4, "600000 1000000 1500000 1200000\n", "ondemand userspace performance\n",
                "schedutil\n");
    ember_cpufreq *c = NULL;
    ember_err warn = {{0}};
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_str_eq(warn.msg, "");
    ck_assert_int_eq(ember_cpufreq_available(c), 1);
    ck_assert_int_eq(ember_cpufreq_npolicies(c), 2);
    uint32_t f[8];
    ck_assert_int_eq(ember_cpufreq_freqs(c, f, 8), 4);
    ck_assert_uint_eq(f[0], 600000);
    ck_assert_uint_eq(f[2], 1200000);
    ck_assert_uint_eq(ember_cpufreq_current(c), 1000000);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "userspace");

    ck_assert_int_eq(ember_cpufreq_set(c, 1050000, NULL), 0); /* -> 1200000, at or above */
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "1200000");
    ck_assert_str_eq(get("%s/cpufreq/policy4/scaling_setspeed", tmpdir), "1200000");
    ck_assert_int_eq(ember_cpufreq_set(c, 9000000, NULL), 0); /* above the table: its top */
    ck_assert_str_eq(get("%s/cpufreq/policy4/scaling_setspeed", tmpdir), "1500000");

    ember_cpufreq_close(c);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "schedutil");
    ck_assert_str_eq(get("%s/cpufreq/policy4/scaling_governor", tmpdir), "schedutil");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_min_freq", tmpdir), "700000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_max_freq", tmpdir), "1400000");
    remove_tmpdir();
}
END_TEST

START_TEST(cpufreq_min_max_without_userspace)
{
    make_tmpdir();
    /* No scaling_available_frequencies: the cpuinfo pair is the table. */
    fake_policy(0, NULL, "ondemand performance\n", "ondemand\n");
    ember_cpufreq *c = NULL;
    ember_err warn = {{0}};
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_int_eq(ember_cpufreq_available(c), 1);
    uint32_t f[8];
    ck_assert_int_eq(ember_cpufreq_freqs(c, f, 8), 2);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "ondemand");
    ck_assert_int_eq(ember_cpufreq_set(c, 600000, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_min_freq", tmpdir), "600000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_max_freq", tmpdir), "600000");
    ck_assert_int_eq(ember_cpufreq_set(c, 1500000, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_min_freq", tmpdir), "1500000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_max_freq", tmpdir), "1500000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "<unsupported>");
    ember_cpufreq_close(c);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_min_freq", tmpdir), "700000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_max_freq", tmpdir), "1400000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "ondemand");
    remove_tmpdir();
}
END_TEST

START_TEST(cpufreq_missing_or_readonly_is_no_dvfs)
{
    make_tmpdir();
    ember_cpufreq *c = NULL;
    ember_err warn = {{0}};
    /* Missing tree. */
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_int_eq(ember_cpufreq_available(c), 0);
    ck_assert_ptr_nonnull(strstr(warn.msg, "without DVFS"));
    ck_assert_int_eq(ember_cpufreq_set(c, 600000, NULL), 0);
    ck_assert_int_eq(ember_cpufreq_set(c, 600000, NULL), 0);
    ember_cpufreq_close(c);

    /* Read-only: policy1's governor file refuses writes even for root (a /proc file). */
    fake_policy(0, "600000 1500000\n", "userspace\n", "schedutil\n");
    fake_policy(1, "600000 1500000\n", "userspace\n", "schedutil\n");
    char path[512];
    snprintf(path, sizeof path, "%s/cpufreq/policy1/scaling_governor", tmpdir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(symlink("/proc/version", path), 0);
    memset(&warn, 0, sizeof warn);
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_int_eq(ember_cpufreq_available(c), 0);
    ck_assert_ptr_nonnull(strstr(warn.msg, "not writable"));
    /* policy0, taken before policy1 failed, was given back. */
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "schedutil");
    ck_assert_int_eq(ember_cpufreq_set(c, 1500000, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "<unsupported>");
    ember_cpufreq_close(c);
    remove_tmpdir();
}
END_TEST

START_TEST(cpufreq_limits_are_enforced)
{
    make_tmpdir();
    /* One frequency too many in the table. */
    char avail[4096] = "";
    for (int i = 0; i <= EMBER_POWER_MAX_FREQS; i++) {
        char one[16];
        snprintf(one, sizeof one, "%d ", 100000 + i * 1000);
        strcat(avail, one);
    }
    fake_policy(0, avail, "userspace\n", "schedutil\n");
    ember_cpufreq *c = NULL;
    ember_err warn = {{0}};
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_int_eq(ember_cpufreq_available(c), 0);
    ck_assert_ptr_nonnull(strstr(warn.msg, "frequency table"));
    ember_cpufreq_close(c);
    remove_tmpdir();

    /* One policy too many. */
    make_tmpdir();
    for (int i = 0; i <= EMBER_POWER_MAX_CPUFREQ; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/cpufreq", tmpdir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/cpufreq/policy%d", tmpdir, i);
        ck_assert_int_eq(mkdir(path, 0755), 0);
    }
    ck_assert_int_eq(ember_cpufreq_open(tmpdir, &c, &warn), 0);
    ck_assert_int_eq(ember_cpufreq_available(c), 0);
    ck_assert_ptr_nonnull(strstr(warn.msg, "more than"));
    ember_cpufreq_close(c);
    remove_tmpdir();
}
END_TEST

/* ---- energy ---- */

START_TEST(energy_rapl_counts_and_wraps)
{
    make_tmpdir();
    char pc[300], hw[300];
    snprintf(pc, sizeof pc, "%s/powercap", tmpdir);
    snprintf(hw, sizeof hw, "%s/hwmon", tmpdir);
    put("1000000\n", "%s/intel-rapl:0/energy_uj", pc);
    put("2000000\n", "%s/intel-rapl:0/max_energy_range_uj", pc);
    put("5\n", "%s/intel-rapl:0:0/energy_uj", pc); /* a subzone: already in the parent */
    put("3000000\n", "%s/hwmon0/power1_input", hw);
    ember_energy *e = NULL;
    ck_assert_int_eq(ember_energy_open(pc, hw, NULL, &e, NULL), 0);
    ck_assert_int_eq(ember_energy_source_of(e), EMBER_ENERGY_RAPL);
    ck_assert_str_eq(ember_energy_source_name(EMBER_ENERGY_RAPL), "rapl");
    ember_energy_sample(e, 0, 0, 0);
    put("1500000\n", "%s/intel-rapl:0/energy_uj", pc);
    put("999999\n", "%s/intel-rapl:0:0/energy_uj", pc);
    ck_assert_double_eq_tol(ember_energy_sample(e, 100, 0, 0), 0.5, 1e-9);
    /* Wrapped: 1.5 J -> past 2.0 J -> 0.1 J is 0.6 J more. */
    put("100000\n", "%s/intel-rapl:0/energy_uj", pc);
    ck_assert_double_eq_tol(ember_energy_sample(e, 200, 0, 0), 1.1, 1e-9);
    ck_assert_double_eq_tol(ember_energy_joules(e), 1.1, 1e-9);
    ember_energy_close(e);
    remove_tmpdir();
}
END_TEST

START_TEST(energy_hwmon_integrates_power)
{
    make_tmpdir();
    char hw[300];
    snprintf(hw, sizeof hw, "%s/hwmon", tmpdir);
    put("2000000\n", "%s/hwmon0/power1_input", hw); /* 2 W */
    put("1000000\n", "%s/hwmon1/power2_input", hw); /* 1 W */
    put("55000\n", "%s/hwmon1/temp1_input", hw);
    ember_energy *e = NULL;
    ck_assert_int_eq(ember_energy_open(NULL, hw, NULL, &e, NULL), 0);
    ck_assert_int_eq(ember_energy_source_of(e), EMBER_ENERGY_HWMON);
    ember_energy_sample(e, 1000, 0, 0);
    ck_assert_double_eq_tol(ember_energy_sample(e, 3000, 0, 0), 6.0, 1e-9);
    put("4000000\n", "%s/hwmon0/power1_input", hw); /* trapezoid: (2+4)/2 + 1 W over 1 s */
    ck_assert_double_eq_tol(ember_energy_sample(e, 4000, 0, 0), 10.0, 1e-9);
    ember_energy_close(e);
    remove_tmpdir();
}
END_TEST

START_TEST(energy_model_uses_the_table)
{
    ember_power_table t = {
        .nfreqs = 2,
        .freqs_khz = {600000, 1500000},
        .idle_w = {2.0, 3.0},
        .busy_w = {0.5, 1.0},
    };
    ember_energy *e = NULL;
    ck_assert_int_eq(ember_energy_open("/nonexistent", "/nonexistent", &t, &e, NULL), 0);
    ck_assert_int_eq(ember_energy_source_of(e), EMBER_ENERGY_MODEL);
    ember_energy_sample(e, 0, 0, 600000);
    ck_assert_double_eq_tol(ember_energy_sample(e, 1000, 2, 600000), 3.0, 1e-9);
    ck_assert_double_eq_tol(ember_energy_sample(e, 2000, 1, 1500000), 7.0, 1e-9);
    ember_energy_close(e);

    t.nfreqs = EMBER_POWER_MAX_FREQS + 1;
    ck_assert_int_eq(ember_energy_open(NULL, NULL, &t, &e, NULL), EMBER_EINVAL);
}
END_TEST

/* ---- the run-time handle against a fake tree: the daemon's governor tick without a daemon ---- */

START_TEST(ctl_follows_a_burst_and_restores)
{
    make_tmpdir();
    fake_policy(0, "600000 1000000 1500000\n", "ondemand userspace\n", "schedutil\n");
    ember_power_table t = {
        .nfreqs = 3,
        .freqs_khz = {600000, 1000000, 1500000},
        .idle_w = {2.0, 2.1, 2.2},
        .busy_w = {0.3, 0.5, 0.9},
    };
    ember_power_ctl_config cfg = {
        .policy = EMBER_POWER_EMBER,
        .cpufreq_root = tmpdir,
        .table = &t,
        .workers = 4,
        .sample_ms = 10,
    };
    ember_power_ctl *c = NULL;
    ember_err warn = {{0}};
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), 0);
    ck_assert_str_eq(warn.msg, "");
    ember_power_status st;
    ember_power_ctl_status(c, &st);
    ck_assert_int_eq(st.dvfs, 1);
    ck_assert_int_eq(st.energy_source, EMBER_ENERGY_MODEL);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "userspace");

    /* Idle: after idle_ms (50 ms) of samples the minimum is written, one worker. */
    ember_gov_obs o;
    memset(&o, 0, sizeof o);
    ember_gov_decision d;
    double now = 0;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ember_power_ctl_tick(c, now += 10, &o, &d, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "600000");
    ck_assert_int_eq(d.active_workers, 1);

    /* A burst the minimum cannot clear in time (twelve 30 ms requests on four workers end
     * after 105 ms; budget 0.7 x 100 ms): the very next sample writes the maximum and wakes
     * every worker. */
    o.queued[0] = 12;
    o.busy_workers = 1;
    o.service_ms = 30;
    o.deadline_ms = 100;
    ck_assert_int_eq(ember_power_ctl_tick(c, now += 10, &o, &d, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "1500000");
    ck_assert_int_eq(d.active_workers, 4);

    /* Idle again: back at the minimum within idle_ms plus the hysteresis. */
    memset(&o, 0, sizeof o);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ember_power_ctl_tick(c, now += 10, &o, &d, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "600000");

    /* Policy switch at run time; an unknown name is refused. */
    ck_assert_int_eq(ember_power_ctl_set_policy(c, "performance", NULL), 0);
    ck_assert_int_eq(ember_power_ctl_tick(c, now += 10, &o, &d, NULL), 0);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_setspeed", tmpdir), "1500000");
    ember_err err = {{0}};
    ck_assert_int_eq(ember_power_ctl_set_policy(c, "fast", &err), EMBER_EINVAL);
    ember_power_ctl_status(c, &st);
    ck_assert_int_eq(st.policy, EMBER_POWER_PERFORMANCE);
    ck_assert_double_gt(st.energy_j, 0);

    ember_power_ctl_close(c);
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_governor", tmpdir), "schedutil");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_min_freq", tmpdir), "700000");
    ck_assert_str_eq(get("%s/cpufreq/policy0/scaling_max_freq", tmpdir), "1400000");
    remove_tmpdir();

    /* Without any sysfs: no DVFS, one warning, the table's frequencies still drive decisions. */
    make_tmpdir();
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), 0);
    ck_assert_ptr_nonnull(strstr(warn.msg, "without DVFS"));
    ember_power_ctl_status(c, &st);
    ck_assert_int_eq(st.dvfs, 0);
    ck_assert_int_eq(ember_power_ctl_tick(c, 10, &o, &d, NULL), 0);
    ember_power_ctl_close(c);
    cfg.workers = 0;
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), EMBER_EINVAL);
    remove_tmpdir();
}
END_TEST

/* A device profile in the handle: its figures fitted to cpufreq's frequencies price the
 * energy model (one clamped above the profile's range, with one warning naming it), and its
 * ondemand tunables reach the governor. */
START_TEST(ctl_fits_a_profile_to_cpufreq)
{
    make_tmpdir();
    fake_policy(0, "600000 750000 1000000 2500000\n", "ondemand userspace\n", "schedutil\n");
    ember_power_profile prof = {
        .name = "tiny",
        .cores = 2,
        .od_up_threshold = 50,
        .table = {.nfreqs = 3,
                  .freqs_khz = {500000, 1000000, 2000000},
                  .idle_w = {1.0, 1.2, 1.5},
                  .busy_w = {0.2, 0.6, 2.0}},
    };
    ember_power_ctl_config cfg = {
        .policy = EMBER_POWER_ONDEMAND,
        .cpufreq_root = tmpdir,
        .profile = &prof,
        .workers = 2,
        .sample_ms = 10,
    };
    ember_power_ctl *c = NULL;
    ember_err warn = {{0}};
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), 0);
    ck_assert_msg(strstr(warn.msg, "500-2000 MHz") && strstr(warn.msg, "(2500 MHz)"), "warn: %s",
                  warn.msg);

    /* 60 % busy is above the profile's up_threshold (50), not the kernel default's (95):
     * straight to the maximum. */
    ember_gov_obs o;
    memset(&o, 0, sizeof o);
    o.busy_pct = 60;
    o.busy_workers = 1;
    ember_gov_decision d;
    ck_assert_int_eq(ember_power_ctl_tick(c, 0, &o, &d, NULL), 0);
    ck_assert_uint_eq(d.freq_khz, 2500000);
    /* One second at 2500 MHz, one busy core: the 2000 MHz figures, 1.5 + 2.0 W. */
    ck_assert_int_eq(ember_power_ctl_tick(c, 1000, &o, &d, NULL), 0);
    ember_power_status st;
    ember_power_ctl_status(c, &st);
    ck_assert_int_eq(st.energy_source, EMBER_ENERGY_MODEL);
    ck_assert_double_eq_tol(st.energy_j, 3.5, 1e-9);
    ember_power_ctl_close(c);

    /* The same table without the profile: the kernel's threshold keeps 60 % below max. */
    cfg.profile = NULL;
    cfg.table = &prof.table;
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), 0);
    ck_assert_int_eq(ember_power_ctl_tick(c, 0, &o, &d, NULL), 0);
    ck_assert_uint_lt(d.freq_khz, 2500000);
    ember_power_ctl_close(c);

    /* At 600 MHz, between the profile's 500 and 1000: interpolated, 1.04 + 0.28 W (not the
     * 1000 MHz row's 1.8 W the model would round up to). */
    cfg.profile = &prof;
    cfg.policy = EMBER_POWER_POWERSAVE;
    ck_assert_int_eq(ember_power_ctl_open(&cfg, &c, &warn), 0);
    ck_assert_int_eq(ember_power_ctl_tick(c, 0, &o, &d, NULL), 0);
    ck_assert_int_eq(ember_power_ctl_tick(c, 1000, &o, &d, NULL), 0);
    ck_assert_uint_eq(d.freq_khz, 600000);
    ember_power_ctl_status(c, &st);
    ck_assert_double_eq_tol(st.energy_j, 1.32, 1e-9);
    ember_power_ctl_close(c);
    remove_tmpdir();
}
END_TEST

/* ---- fitting a power table to another frequency list ---- */

START_TEST(table_map_exact_interpolated_clamped)
{
    const ember_power_table src = {
        .nfreqs = 3,
        .freqs_khz = {500000, 1000000, 2000000},
        .idle_w = {1.0, 1.2, 1.5},
        .busy_w = {0.2, 0.6, 2.0},
    };
    ember_power_table out;
    ember_err warn = {{0}};

    /* Every frequency in the profile: the figures as they are, no warning. */
    ck_assert_int_eq(ember_power_table_map(&src, src.freqs_khz, 3, &out, &warn), 0);
    ck_assert_str_eq(warn.msg, "");
    ck_assert_int_eq(out.nfreqs, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(out.freqs_khz[i], src.freqs_khz[i]);
        ck_assert_double_eq(out.idle_w[i], src.idle_w[i]);
        ck_assert_double_eq(out.busy_w[i], src.busy_w[i]);
    }

    /* Between neighbours: on the straight line. Outside: the nearest end, and named. */
    const uint32_t khz[] = {400000, 500000, 750000, 1500000, 1750000, 2500000};
    ck_assert_int_eq(ember_power_table_map(&src, khz, 6, &out, &warn), 2);
    static const double idle[] = {1.0, 1.0, 1.1, 1.35, 1.425, 1.5};
    static const double busy[] = {0.2, 0.2, 0.4, 1.3, 1.65, 2.0};
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(out.freqs_khz[i], khz[i]);
        ck_assert_double_eq_tol(out.idle_w[i], idle[i], 1e-12);
        ck_assert_double_eq_tol(out.busy_w[i], busy[i], 1e-12);
    }
    ck_assert_msg(strstr(warn.msg, "500-2000 MHz") && strstr(warn.msg, "(400, 2500 MHz)"),
                  "warn: %s", warn.msg);

    /* A one-row profile serves every frequency, all but its own clamped. */
    const ember_power_table one = {
        .nfreqs = 1, .freqs_khz = {1000000}, .idle_w = {2.0}, .busy_w = {1.0}};
    ck_assert_int_eq(ember_power_table_map(&one, khz, 6, &out, NULL), 6);
    ck_assert_double_eq(out.busy_w[5], 1.0);

    /* Many clamped frequencies: the warning stays bounded and says it was cut. */
    uint32_t many[EMBER_POWER_MAX_FREQS];
    for (int i = 0; i < EMBER_POWER_MAX_FREQS; i++)
        many[i] = 3000000 + 100000 * (uint32_t)i;
    ck_assert_int_eq(ember_power_table_map(&src, many, EMBER_POWER_MAX_FREQS, &out, &warn),
                     EMBER_POWER_MAX_FREQS);
    ck_assert_ptr_nonnull(strstr(warn.msg, "..."));

    ck_assert_int_eq(ember_power_table_map(&src, khz, 0, &out, &warn), EMBER_EINVAL);
    ck_assert_int_eq(ember_power_table_map(&src, khz, EMBER_POWER_MAX_FREQS + 1, &out, &warn),
                     EMBER_EINVAL);
}
END_TEST

/* ---- profiles, traces, the simulator ---- */

static const char *tmpfile_with(const char *name, const char *content)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    put(content, "%s", path);
    return path;
}

static const char *PROFILE = "# a test device\n"
                             "name tiny\n"
                             "description two cores\n"
                             "cores 2\n"
                             "wake_ms 0.1\n"
                             "deep_idle_ms 1\n"
                             "shallow_w 0.2\n"
                             "mem_frac 0\n"
                             "freq 500 1.0 0.2\n"
                             "freq 1000 1.2 0.6\n"
                             "freq 2000 1.5 2.0\n";

START_TEST(profile_parses_and_names_bad_lines)
{
    make_tmpdir();
    ember_power_profile p;
    ember_err err = {{0}};
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("a.profile", PROFILE), &p, &err), 0);
    ck_assert_str_eq(p.name, "tiny");
    ck_assert_int_eq(p.cores, 2);
    ck_assert_int_eq(p.table.nfreqs, 3);
    ck_assert_uint_eq(p.table.freqs_khz[2], 2000000);
    ck_assert_double_eq_tol(p.table.busy_w[1], 0.6, 1e-12);
    ck_assert_int_eq(p.od_up_threshold, 0); /* absent: the governor's defaults */
    ck_assert_double_eq(p.od_sampling_ms, 0);

    /* No deep idle state, and a platform's stock ondemand tunables. */
    ck_assert_int_eq(ember_power_profile_load(
                         tmpfile_with("od.profile", "name x\ncores 1\ndeep_idle_ms none\n"
                                                    "od_up_threshold 50\nod_sampling_ms 100\n"
                                                    "od_sampling_down_factor 50\nfreq 500 1 1\n"),
                         &p, &err),
                     0);
    ck_assert_double_lt(p.deep_idle_ms, 0);
    ck_assert_int_eq(p.od_up_threshold, 50);
    ck_assert_double_eq(p.od_sampling_ms, 100);
    ck_assert_int_eq(p.od_sampling_down_factor, 50);
    static const char *const bad_od[] = {"od_up_threshold 0",
                                         "od_up_threshold 101",
                                         "od_up_threshold 2.5",
                                         "od_sampling_ms 0",
                                         "od_sampling_ms 60001",
                                         "od_sampling_down_factor 0",
                                         "od_sampling_down_factor 100001",
                                         "deep_idle_ms never"};
    for (size_t i = 0; i < sizeof bad_od / sizeof bad_od[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "name x\ncores 1\n%s\nfreq 500 1 1\n", bad_od[i]);
        ck_assert_int_eq(ember_power_profile_load(tmpfile_with("bad.profile", text), &p, &err),
                         EMBER_EFORMAT);
        ck_assert_msg(strstr(err.msg, "bad.profile:3:") != NULL, "%s: %s", bad_od[i], err.msg);
    }

    ck_assert_int_eq(ember_power_profile_load(
                         tmpfile_with("b.profile", "name x\ncores 1\nfreq 500 1\n"), &p, &err),
                     EMBER_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "b.profile:3:"));
    ck_assert_int_eq(
        ember_power_profile_load(
            tmpfile_with("c.profile", "name x\ncores 1\nfreq 900 1 1\nfreq 800 1 1\n"), &p, &err),
        EMBER_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "ascend"));
    ck_assert_int_eq(
        ember_power_profile_load(tmpfile_with("d.profile", "name x\nvolts 3\n"), &p, &err),
        EMBER_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "volts"));
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("e.profile", "name x\n"), &p, &err),
                     EMBER_EFORMAT);
    ck_assert_int_eq(ember_power_profile_load("/nonexistent.profile", &p, &err), EMBER_EIO);

    /* EMBER_POWER_MAX_FREQS frequencies load; one more does not. */
    char big[8192] = "name big\ncores 1\n";
    for (int i = 0; i < EMBER_POWER_MAX_FREQS; i++) {
        char line[64];
        snprintf(line, sizeof line, "freq %d 1 1\n", 100 + i);
        strcat(big, line);
    }
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("f.profile", big), &p, &err), 0);
    strcat(big, "freq 5000 1 1\n");
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("g.profile", big), &p, &err),
                     EMBER_ENOMEM);
    remove_tmpdir();
}
END_TEST

START_TEST(trace_parses_and_rejects_bad_input)
{
    make_tmpdir();
    ember_power_trace t;
    ember_err err = {{0}};
    const char *good = "t_ms,model,service_ms,deadline_ms\n0,a,5,50\n10.5,b,2,20\n10.5,a,5,50\n";
    ck_assert_int_eq(ember_power_trace_load(tmpfile_with("g.csv", good), &t, &err), 0);
    ck_assert_int_eq(t.n, 3);
    ck_assert_double_eq_tol(t.req[1].t_ms, 10.5, 1e-12);
    ck_assert_double_eq_tol(t.req[1].deadline_ms, 20, 1e-12);
    ember_power_trace_free(&t);

    ck_assert_int_eq(ember_power_trace_load(tmpfile_with("h.csv", "t,model\n0,a\n"), &t, &err),
                     EMBER_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "header"));
    ck_assert_int_eq(
        ember_power_trace_load(tmpfile_with("i.csv", "t_ms,model,service_ms,deadline_ms\n5,a,1,1\n"
                                                     "4,a,1,1\n"),
                               &t, &err),
        EMBER_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "i.csv:3:"));
    ck_assert_int_eq(
        ember_power_trace_load(
            tmpfile_with("j.csv", "t_ms,model,service_ms,deadline_ms\n5,a,0,1\n"), &t, &err),
        EMBER_EFORMAT);
    ck_assert_int_eq(
        ember_power_trace_load(tmpfile_with("k.csv", "t_ms,model,service_ms,deadline_ms\n5,a,1\n"),
                               &t, &err),
        EMBER_EFORMAT);
    ck_assert_int_eq(
        ember_power_trace_load(
            tmpfile_with("l.csv", "t_ms,model,service_ms,deadline_ms\n5,a,1,x\n"), &t, &err),
        EMBER_EFORMAT);

    ck_assert_int_eq(
        ember_power_trace_load(
            tmpfile_with("m.csv", "t_ms,model,service_ms,deadline_ms\n5,a,1,1,9\n"), &t, &err),
        EMBER_EFORMAT);
    /* Model names up to EMBER_POWER_NAME_MAX - 1 characters. */
    char row[256];
    snprintf(row, sizeof row, "t_ms,model,service_ms,deadline_ms\n1,%0*d,1,1\n",
             EMBER_POWER_NAME_MAX - 1, 7);
    ck_assert_int_eq(ember_power_trace_load(tmpfile_with("n.csv", row), &t, &err), 0);
    ember_power_trace_free(&t);
    snprintf(row, sizeof row, "t_ms,model,service_ms,deadline_ms\n1,%0*d,1,1\n",
             EMBER_POWER_NAME_MAX, 7);
    ck_assert_int_eq(ember_power_trace_load(tmpfile_with("o.csv", row), &t, &err), EMBER_EFORMAT);

    /* EMBER_POWER_MAX_TRACE rows load; one more does not. */
    char path[512];
    snprintf(path, sizeof path, "%s/big.csv", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("t_ms,model,service_ms,deadline_ms\n", f);
    for (int i = 0; i < EMBER_POWER_MAX_TRACE; i++)
        fputs("1,m,1,1\n", f);
    fclose(f);
    ck_assert_int_eq(ember_power_trace_load(path, &t, &err), 0);
    ck_assert_int_eq(t.n, EMBER_POWER_MAX_TRACE);
    ember_power_trace_free(&t);
    f = fopen(path, "a");
    fputs("1,m,1,1\n", f);
    fclose(f);
    ck_assert_int_eq(ember_power_trace_load(path, &t, &err), EMBER_ENOMEM);
    ck_assert_ptr_null(t.req);
    remove_tmpdir();
}
END_TEST

/* A bursty trace on the tiny device: 20 requests of 10 ms within 100 ms every 2 s, 10 s. */
static void bursty_trace(ember_power_trace *t, double deadline)
{
    t->n = 0;
    t->req = malloc(100 * sizeof *t->req);
    for (int b = 0; b < 5; b++)
        for (int i = 0; i < 20; i++)
            t->req[t->n++] = (ember_power_request){b * 2000.0 + i * 5, 10, deadline};
}

START_TEST(sim_policies_differ_sensibly)
{
    make_tmpdir();
    ember_power_profile p;
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("t.profile", PROFILE), &p, NULL), 0);
    ember_power_trace t;
    bursty_trace(&t, 300);
    ember_power_result r[EMBER_POWER_NPOLICIES];
    for (int i = 0; i < EMBER_POWER_NPOLICIES; i++)
        ck_assert_int_eq(ember_power_sim_run(&p, &t, (ember_power_policy)i, &r[i], NULL), 0);
    /* Same window for everyone; the fastest clock has the lowest latency and costs the most. */
    ck_assert_double_eq_tol(r[EMBER_POWER_PERFORMANCE].duration_ms,
                            r[EMBER_POWER_POWERSAVE].duration_ms, 1);
    ck_assert_double_lt(r[EMBER_POWER_PERFORMANCE].p50_ms, r[EMBER_POWER_POWERSAVE].p50_ms);
    ck_assert_double_gt(r[EMBER_POWER_PERFORMANCE].energy_j, r[EMBER_POWER_POWERSAVE].energy_j);
    ck_assert_double_gt(r[EMBER_POWER_PERFORMANCE].energy_j, r[EMBER_POWER_EMBER].energy_j);
    ck_assert_double_le(r[EMBER_POWER_EMBER].p99_ms, 300);
    ck_assert_int_eq(r[EMBER_POWER_EMBER].misses, 0);
    ck_assert_int_eq(r[EMBER_POWER_PERFORMANCE].misses, 0);
    /* 20 x 10 ms at a quarter of the clock on two cores take 400 ms: some miss 300 ms. */
    ck_assert_int_gt(r[EMBER_POWER_POWERSAVE].misses, 0);
    for (int i = 0; i < EMBER_POWER_NPOLICIES; i++) {
        ck_assert_double_eq_tol(r[i].mean_w, r[i].energy_j / (r[i].duration_ms / 1e3), 1e-9);
        ck_assert_double_le(r[i].p50_ms, r[i].p99_ms);
    }

    /* Deadlines shorter than the work: everything misses, under any policy. */
    ember_power_trace_free(&t);
    bursty_trace(&t, 1);
    ember_power_result miss;
    ck_assert_int_eq(ember_power_sim_run(&p, &t, EMBER_POWER_PERFORMANCE, &miss, NULL), 0);
    ck_assert_int_eq(miss.misses, 100);
    ember_power_trace_free(&t);

    ember_err err = {{0}};
    ck_assert_int_eq(ember_power_sim_run(&p, &t, EMBER_POWER_EMBER, &miss, &err), EMBER_EINVAL);
    remove_tmpdir();
}
END_TEST

/* n requests of service_ms every gap_ms from t = 0, deadline 100 ms. */
static void periodic_trace(ember_power_trace *t, int n, double gap_ms, double service_ms)
{
    t->req = calloc((size_t)n, sizeof *t->req);
    ck_assert_ptr_nonnull(t->req);
    t->n = n;
    for (int i = 0; i < n; i++)
        t->req[i] = (ember_power_request){i * gap_ms, service_ms, 100};
}

static ember_power_result sim(const ember_power_profile *p, const ember_power_trace *t,
                              ember_power_policy policy)
{
    ember_power_result r;
    ck_assert_int_eq(ember_power_sim_run(p, t, policy, &r, NULL), 0);
    return r;
}

START_TEST(sim_idle_power_follows_the_clock_without_deep_idle)
{
    /* WFI only: an idle core stays powered at the cluster's voltage, so a machine idling at
     * the maximum pays the table's idle power there: 1.4 W against 1.0 W over the 1 s tail. */
    make_tmpdir();
    ember_power_profile p;
    ck_assert_int_eq(ember_power_profile_load(tmpfile_with("wfi.profile",
                                                           "name wfi\ncores 2\ndeep_idle_ms none\n"
                                                           "freq 500 1.0 0.5\nfreq 1000 1.4 1.2\n"),
                                              &p, NULL),
                     0);
    ember_power_trace t;
    periodic_trace(&t, 1, 1, 1);
    ember_power_result hi = sim(&p, &t, EMBER_POWER_PERFORMANCE);
    ember_power_result lo = sim(&p, &t, EMBER_POWER_POWERSAVE);
    double s = hi.duration_ms / 1e3;
    /* (powersave spends the first 10 ms sample at the maximum the governor starts at) */
    ck_assert_double_eq_tol(hi.energy_j, 1.4 * s + 1.2 * 0.001, 0.01);
    ck_assert_double_eq_tol(lo.energy_j, 1.0 * s + 0.5 * 0.002, 0.01);
    ember_power_trace_free(&t);
    remove_tmpdir();
}
END_TEST

START_TEST(sim_deep_idle_sheds_the_clock)
{
    /* Cores in deep idle (after 1 ms) are power-gated: each sheds shallow_w and its share of
     * the idle power's rise with the clock, so both policies idle at 1.0 - 2 x 0.1 = 0.8 W. */
    make_tmpdir();
    ember_power_profile p;
    ck_assert_int_eq(
        ember_power_profile_load(tmpfile_with("deep.profile", "name deep\ncores 2\ndeep_idle_ms 1\n"
                                                              "shallow_w 0.1\nfreq 500 1.0 0.5\n"
                                                              "freq 1000 1.4 1.2\n"),
                                 &p, NULL),
        0);
    ember_power_trace t;
    periodic_trace(&t, 1, 1, 1);
    ember_power_result hi = sim(&p, &t, EMBER_POWER_PERFORMANCE);
    ember_power_result lo = sim(&p, &t, EMBER_POWER_POWERSAVE);
    double s = hi.duration_ms / 1e3;
    ck_assert_double_eq_tol(hi.energy_j, 0.8 * s, 0.01);
    ck_assert_double_eq_tol(lo.energy_j, 0.8 * s, 0.01);
    ember_power_trace_free(&t);
    remove_tmpdir();
}
END_TEST

START_TEST(sim_ungated_pool_spreads_and_parking_consolidates)
{
    /* One clock, so only worker gating differs. A 0.5 ms request every 2 ms: one worker
     * carries it and, idle 1.5 ms at a time, never reaches deep idle (2 ms). An ungated pool
     * wakes the worker that waited longest, alternating between both cores; each idles
     * 2.5 ms or more, goes deep and pays the 1 ms wake-up on every request, at busy power.
     * ember parks the second worker: one core works, the other sleeps deep throughout. */
    make_tmpdir();
    ember_power_profile p;
    ck_assert_int_eq(
        ember_power_profile_load(tmpfile_with("gate.profile", "name gate\ncores 2\nwake_ms 1\n"
                                                              "deep_idle_ms 2\nshallow_w 0.5\n"
                                                              "freq 1000 2.0 1.0\n"),
                                 &p, NULL),
        0);
    ember_power_trace t;
    periodic_trace(&t, 2000, 2, 0.5);
    ember_power_result spread = sim(&p, &t, EMBER_POWER_PERFORMANCE);
    ember_power_result gated = sim(&p, &t, EMBER_POWER_EMBER);
    ck_assert_double_ge(spread.p50_ms, 1.5);
    ck_assert_double_le(gated.p50_ms, 0.6);
    ck_assert_double_lt(gated.energy_j, spread.energy_j);
    ember_power_trace_free(&t);
    remove_tmpdir();
}
END_TEST

static Suite *power_suite(void)
{
    Suite *s = suite_create("power");
    TCase *g = tcase_create("governor");
    tcase_add_test(g, policy_names_round_trip);
    tcase_add_test(g, config_limits_are_enforced);
    tcase_add_test(g, static_policies_ignore_load);
    tcase_add_test(g, ondemand_follows_the_linux_rule);
    tcase_add_test(g, ondemand_defaults_are_the_kernels);
    tcase_add_test(g, ondemand_decides_per_period_on_the_mean_load);
    tcase_add_test(g, ember_step_load_jumps_to_max_in_one_tick);
    tcase_add_test(g, ember_idle_decay_waits_then_drops_to_min);
    tcase_add_test(g, ember_hysteresis_does_not_flap);
    tcase_add_test(g, ember_survives_absurd_observations);
    tcase_add_test(g, ember_releases_a_blind_clock_at_the_first_measurement);
    tcase_add_test(g, ember_deadline_pressure_raises_the_clock);
    tcase_add_test(g, ember_sizes_workers_to_the_load);
    tcase_add_test(g, ember_respects_the_efficiency_floor);
    tcase_add_test(g, ember_power_curve_decides_race_or_crawl);
    tcase_add_test(g, ember_predicts_with_mem_frac);
    tcase_add_test(g, ember_sizes_by_the_averaged_rate);
    suite_add_tcase(s, g);
    TCase *b = tcase_create("backends");
    tcase_add_test(b, cpufreq_userspace_setspeed_and_restore);
    tcase_add_test(b, cpufreq_min_max_without_userspace);
    tcase_add_test(b, cpufreq_missing_or_readonly_is_no_dvfs);
    tcase_add_test(b, cpufreq_limits_are_enforced);
    tcase_add_test(b, energy_rapl_counts_and_wraps);
    tcase_add_test(b, energy_hwmon_integrates_power);
    tcase_add_test(b, energy_model_uses_the_table);
    tcase_add_test(b, ctl_follows_a_burst_and_restores);
    tcase_add_test(b, ctl_fits_a_profile_to_cpufreq);
    tcase_add_test(b, table_map_exact_interpolated_clamped);
    suite_add_tcase(s, b);
    TCase *m = tcase_create("simulator");
    tcase_set_timeout(m, 60);
    tcase_add_test(m, profile_parses_and_names_bad_lines);
    tcase_add_test(m, trace_parses_and_rejects_bad_input);
    tcase_add_test(m, sim_policies_differ_sensibly);
    tcase_add_test(m, sim_idle_power_follows_the_clock_without_deep_idle);
    tcase_add_test(m, sim_deep_idle_sheds_the_clock);
    tcase_add_test(m, sim_ungated_pool_spreads_and_parking_consolidates);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(power_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
