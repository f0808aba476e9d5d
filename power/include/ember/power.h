/*
 * libember-power: the queue-driven governor, the cpufreq sysfs backend, energy meters and the
 * load-trace simulator.
 *
 * The governor is a policy function: ember_gov_tick takes one sample of what the inference
 * queue looks like (ember_gov_obs) and returns a decision (a CPU frequency and a number of
 * active workers). It touches no files and reads no clock, so the daemon, the simulator and
 * the unit tests drive the very same code. Its only state is the hysteresis it keeps in
 * ember_gov between ticks. The backends apply decisions (cpufreq) and measure what they cost
 * (energy); the simulator replays a trace through the governor against a device profile.
 *
 * No function here keeps global state; nothing depends on the engine library.
 */
#ifndef EMBER_POWER_H
#define EMBER_POWER_H

#include <stdint.h>

#include <ember/err.h>

/* Limits, each crossed by a test in tests/unit/power (EMBER_POWER_NPRIO is a shape, not a
 * limit: the observation's per-priority array). */
#define EMBER_POWER_MAX_FREQS 64      /* frequencies in a table or a profile */
#define EMBER_POWER_MAX_WORKERS 256   /* workers the governor sizes */
#define EMBER_POWER_MAX_CPUFREQ 256   /* cpufreq policies the sysfs backend drives */
#define EMBER_POWER_NPRIO 3           /* priority levels a queue reports (0 = most urgent) */
#define EMBER_POWER_MAX_TRACE 1000000 /* requests in one simulator trace */
#define EMBER_POWER_NAME_MAX 64       /* profile and model names */

typedef enum ember_power_policy {
    EMBER_POWER_PERFORMANCE = 0, /* always the highest frequency, every worker active */
    EMBER_POWER_POWERSAVE,       /* always the lowest frequency, every worker active */
    EMBER_POWER_ONDEMAND,        /* Linux ondemand: utilization against up_threshold */
    EMBER_POWER_EMBER,           /* deadline- and queue-aware, with hysteresis */
    EMBER_POWER_NPOLICIES
} ember_power_policy;

/* "performance", "powersave", "ondemand", "ember"; NULL for an out-of-range value. */
const char *ember_power_policy_name(ember_power_policy p);
/* The policy called name; EMBER_EINVAL (message lists the names) if there is none. */
int ember_power_policy_parse(const char *name, ember_power_policy *out, ember_err *err);

/*
 * Governor configuration. ember_gov_config_default fills every tunable; callers then set
 * freqs_khz/nfreqs and max_workers (and optionally the power figures and mem_frac the ember
 * policy plans with).
 */
typedef struct ember_gov_config {
    ember_power_policy policy;
    uint32_t freqs_khz[EMBER_POWER_MAX_FREQS]; /* strictly ascending */
    int nfreqs;
    int max_workers;
    double sample_ms; /* how often the caller ticks; the ondemand and idle timers count in it */

    /* ondemand, as in the Linux governor (drivers/cpufreq/cpufreq_ondemand.c, od_update and
     * od_dbs_update). It decides once per od_sampling_ms on the busiest CPU's load averaged
     * since its last decision; after jumping to the maximum the next decision waits
     * sampling_down_factor x od_sampling_ms. The defaults are the kernel's own on a NO_HZ
     * kernel (od_init picks MICRO_FREQUENCY_UP_THRESHOLD when idle micro-accounting works). */
    int up_threshold;         /* percent busy above which it goes to the maximum (95) */
    int sampling_down_factor; /* decision periods held at the maximum after going there (1) */
    double od_sampling_ms;    /* ondemand's sampling_rate; 0 = every tick (sample_ms) */

    /* ember. */
    double headroom;       /* predicted completion must fit in headroom x the deadline (0.7) */
    double util_cap;       /* busy fraction the chosen frequency may reach per worker (0.8) */
    double rate_window_ms; /* util_cap applies to the arrival rate averaged over this;
                            * 0 = each sample's rate as it comes (1000) */
    double backup_factor;  /* queue deeper than backup_factor x workers, with no deadline or
                            * service time to plan by or a backlog the current clock cannot
                            * clear in time: straight to max (2) */
    double idle_ms;        /* no work for this long: minimum frequency, one worker (50) */
    int down_ticks;        /* ticks a lower target must persist before stepping down (3) */
    /* Optional power figures per frequency (W), 0 when unknown: the whole machine with every
     * core idle (idle_w) and the extra power of one busy core (busy_w). With both, the ember
     * policy picks, among the frequencies that meet the deadline, the one that spends the
     * fewest joules on the expected work plus the idle power over the decision horizon, so
     * race-to-idle or slow-and-steady follows from the profile's power curve. With busy_w
     * only, it never goes below the frequency that does the most work per busy joule. */
    double idle_w[EMBER_POWER_MAX_FREQS];
    double busy_w[EMBER_POWER_MAX_FREQS];
    /* Share of a request's service time that does not scale with the clock (memory stalls),
     * 0..1 exclusive; the ember policy's service-time prediction uses it. */
    double mem_frac;
} ember_gov_config;

/* One sample of the queue. Times are in milliseconds. */
typedef struct ember_gov_obs {
    int queued[EMBER_POWER_NPRIO]; /* requests waiting, per priority */
    int busy_workers;              /* workers running a request now */
    double busy_pct;       /* busiest CPU's busy share of the last sample, 0..100 (ondemand) */
    double arrival_per_ms; /* arrival rate, EWMA */
    double service_ms;     /* mean service time of one request at cur_khz, EWMA; 0 = unknown */
    double deadline_ms;    /* tightest relative deadline of recent requests; 0 = none */
    double oldest_wait_ms; /* how long the oldest queued request has waited */
    uint32_t cur_khz;      /* the frequency the CPUs run at now */
} ember_gov_obs;

typedef struct ember_gov_decision {
    uint32_t freq_khz;
    int freq_index; /* into config.freqs_khz */
    int active_workers;
} ember_gov_decision;

/* The governor: its configuration and the little state its hysteresis needs. Plain value;
 * no resources to free. */
typedef struct ember_gov {
    ember_gov_config cfg;
    int cur;         /* frequency index last decided */
    int active;      /* workers last decided */
    int down_count;  /* ticks a lower target has persisted */
    int down_target; /* highest of the lower targets seen while counting */
    int od_ticks;    /* ondemand: ticks since its last decision */
    int od_due;      /* ondemand: ticks between decisions now (grows by sampling_down_factor) */
    double od_busy;  /* ondemand: sum of busy_pct over those ticks */
    double idle_for_ms;
    double rate_slow; /* arrival_per_ms averaged over rate_window_ms */
    int blind;        /* ember: the last decision raised the clock for want of a service time */
} ember_gov;

/* Defaults for every tunable; policy ember, no frequencies, one worker, 10 ms samples. */
void ember_gov_config_default(ember_gov_config *cfg);
/* Check cfg and start the governor at the highest frequency with every worker active.
 * EMBER_EINVAL with a message for an empty or unsorted table, a limit crossed, a bad tunable. */
int ember_gov_init(ember_gov *g, const ember_gov_config *cfg, ember_err *err);
/* Switch policy at run time, keeping the table; the next tick decides afresh. */
void ember_gov_set_policy(ember_gov *g, ember_power_policy p);
/* One sample in, one decision out. Deterministic: the same state and observation give the same
 * decision. */
void ember_gov_tick(ember_gov *g, const ember_gov_obs *obs, ember_gov_decision *out);

/*
 * cpufreq through sysfs. root is the directory holding cpufreq/policy* (normally
 * /sys/devices/system/cpu); tests point it at a fake tree. Open reads every policy's
 * frequencies (scaling_available_frequencies, else cpuinfo_min/max_freq), remembers its
 * governor and limits, and switches it to `userspace` when that governor is offered (writing
 * scaling_setspeed); otherwise it sets frequencies through scaling_min_freq/scaling_max_freq.
 * A missing or read-only tree is not an error: the handle then reports no DVFS, set does
 * nothing, and open wrote one warning into warn.
 */
typedef struct ember_cpufreq ember_cpufreq;

/* On success *out is the caller's to ember_cpufreq_close. warn (may be NULL) receives a
 * warning when DVFS is unavailable, else an empty string. Errors only for a bad argument or
 * memory. */
int ember_cpufreq_open(const char *root, ember_cpufreq **out, ember_err *warn);
/* 1 when frequencies can be set, 0 for "no DVFS". */
int ember_cpufreq_available(const ember_cpufreq *c);
/* Number of cpufreq policies driven. */
int ember_cpufreq_npolicies(const ember_cpufreq *c);
/* The union of every policy's frequencies, ascending, into out (cap entries); the count. */
int ember_cpufreq_freqs(const ember_cpufreq *c, uint32_t *out, int cap);
/* Set every policy to the frequency in its table closest to khz (at or above it when one
 * is). No-op without DVFS. EMBER_EIO with a message if a write fails. */
int ember_cpufreq_set(ember_cpufreq *c, uint32_t khz, ember_err *err);
/* The frequency last set (or read at open). */
uint32_t ember_cpufreq_current(const ember_cpufreq *c);
/* Policy i (0..npolicies-1): *dir its sysfs directory (owned by c) and *khz the frequency last
 * set there (or read at open). EMBER_EINVAL when i is out of range. */
int ember_cpufreq_policy(const ember_cpufreq *c, int i, const char **dir, uint32_t *khz);
/* Restore each policy's original governor and limits, and free c. NULL is fine. */
void ember_cpufreq_close(ember_cpufreq *c);

/*
 * Energy meters. ember_energy_open looks, in this order, for powercap RAPL zones
 * (powercap_root/intel-rapl:N/energy_uj, wrap-around at max_energy_range_uj handled), then
 * hwmon sensors (hwmon_root/hwmonN/power*_input, microwatts, integrated over time), else it
 * uses the model: the caller reports busy cores and frequency, a power table integrates.
 */
typedef enum ember_energy_source {
    EMBER_ENERGY_RAPL,
    EMBER_ENERGY_HWMON,
    EMBER_ENERGY_MODEL,
} ember_energy_source;

/* A power table: per frequency, the whole machine's power with every core idle and the extra
 * power of one busy core. Shared by the model meter and the simulator's device profiles. */
typedef struct ember_power_table {
    int nfreqs;
    uint32_t freqs_khz[EMBER_POWER_MAX_FREQS];
    double idle_w[EMBER_POWER_MAX_FREQS];
    double busy_w[EMBER_POWER_MAX_FREQS];
} ember_power_table;

typedef struct ember_energy ember_energy;

/* powercap_root normally /sys/class/powercap, hwmon_root /sys/class/hwmon; either may be NULL
 * to skip that source. table may be NULL (then the model reads 0). *out is the caller's to
 * ember_energy_close. */
int ember_energy_open(const char *powercap_root, const char *hwmon_root,
                      const ember_power_table *table, ember_energy **out, ember_err *err);
ember_energy_source ember_energy_source_of(const ember_energy *e);
const char *ember_energy_source_name(ember_energy_source s);
/* Advance to now_ms: read the counters (RAPL, hwmon) or integrate the table for busy_cores at
 * khz over the time since the last sample (model). Returns the joules so far. */
double ember_energy_sample(ember_energy *e, double now_ms, int busy_cores, uint32_t khz);
double ember_energy_joules(const ember_energy *e);
void ember_energy_close(ember_energy *e);

/*
 * The governor at run time, as emberd drives it from a timer: a governor, the cpufreq backend
 * and an energy meter in one handle. Each tick decides from the caller's observation, writes
 * the frequency through sysfs (when DVFS is available) and samples energy. The caller applies
 * the worker count (ember_pool_set_active) itself, since this library does not know the pool.
 */
typedef struct ember_power_ctl_config {
    ember_power_policy policy;
    const char *cpufreq_root;       /* normally /sys/devices/system/cpu; a fake tree in tests */
    const char *powercap_root;      /* normally /sys/class/powercap; NULL to skip */
    const char *hwmon_root;         /* normally /sys/class/hwmon; NULL to skip */
    const ember_power_table *table; /* optional: frequencies without DVFS and the energy model;
                                     * its figures are fitted to cpufreq's frequencies
                                     * (ember_power_table_map) for the governor */
    /* Optional: a device profile, whose table then serves as `table` and whose mem_frac and
     * ondemand tunables the governor takes. */
    const struct ember_power_profile *profile;
    int workers;
    double sample_ms;
} ember_power_ctl_config;

typedef struct ember_power_status {
    ember_power_policy policy;
    int dvfs; /* frequencies are really being set */
    uint32_t freq_khz;
    int active_workers, workers;
    double energy_j;
    ember_energy_source energy_source;
} ember_power_status;

typedef struct ember_power_ctl ember_power_ctl;

/* On success *out is the caller's to ember_power_ctl_close; warn (may be NULL) holds the
 * backend's one warning when DVFS is unavailable, or the frequencies the power table had to
 * be clamped for, else "". EMBER_EINVAL for a bad worker count or sample period,
 * EMBER_ENOMEM. */
int ember_power_ctl_open(const ember_power_ctl_config *cfg, ember_power_ctl **out, ember_err *warn);
/* Decide from obs (cur_khz is filled in when 0), apply the frequency, sample energy at
 * now_ms with the busy workers obs reports. EMBER_EIO if a sysfs write fails (the decision
 * is still in *out). */
int ember_power_ctl_tick(ember_power_ctl *c, double now_ms, const ember_gov_obs *obs,
                         ember_gov_decision *out, ember_err *err);
/* Switch policy by name; EMBER_EINVAL names the valid ones. */
int ember_power_ctl_set_policy(ember_power_ctl *c, const char *name, ember_err *err);
void ember_power_ctl_status(const ember_power_ctl *c, ember_power_status *out);
/* The handle's cpufreq backend, to report on (ember_cpufreq_policy); owned by c. */
const ember_cpufreq *ember_power_ctl_cpufreq(const ember_power_ctl *c);
/* Restore the original cpufreq governor and limits and free c. NULL is fine. */
void ember_power_ctl_close(ember_power_ctl *c);

/*
 * The simulator. A device profile is a text file: `name`, `description`, `cores`,
 * `wake_ms` (latency before a core that went deep idle starts a job), `deep_idle_ms` (idle
 * time after which a core is in deep idle; `none` when the platform has no idle state deeper
 * than WFI/C1), `shallow_w` (what a core in shallow idle costs over one in deep idle, at the
 * lowest clock), `mem_frac` (share of service time that does not scale with frequency), the
 * optional ondemand tunables above, and one `freq MHZ IDLE_W BUSY_W` line per frequency:
 * IDLE_W is the whole machine with every core in shallow idle at that clock, BUSY_W what one
 * busy core adds. The rise of IDLE_W with the clock belongs to the cores (their voltage), so a
 * core in deep idle (power-gated) sheds its share of it as well as shallow_w. `#` starts a
 * comment.
 */
typedef struct ember_power_profile {
    char name[EMBER_POWER_NAME_MAX];
    char description[160];
    int cores;
    double wake_ms, deep_idle_ms, shallow_w, mem_frac;
    /* The platform's stock ondemand tunables (`od_up_threshold`, `od_sampling_ms`,
     * `od_sampling_down_factor`); 0 when the profile leaves them to the governor's defaults. */
    int od_up_threshold, od_sampling_down_factor;
    double od_sampling_ms;
    ember_power_table table;
} ember_power_profile;

/* Parse a profile file. EMBER_EIO / EMBER_EFORMAT with "PATH:LINE: what" in err. */
int ember_power_profile_load(const char *path, ember_power_profile *out, ember_err *err);

/* Take the profile's mem_frac and the ondemand tunables it sets into cfg (the power figures
 * are the caller's: see ember_power_table_map). */
void ember_power_profile_tune(const ember_power_profile *p, ember_gov_config *cfg);

/* The directories profiles are found in by name, in order: $EMBER_POWER_PROFILES, the source
 * tree's power/profiles, the installed data directory. An entry may be NULL or empty. */
#define EMBER_POWER_PROFILE_NDIRS 3
#define EMBER_POWER_PROFILE_ENV "EMBER_POWER_PROFILES"
#define EMBER_POWER_PROFILE_SUFFIX ".profile"
void ember_power_profile_dirs(const char *dirs[EMBER_POWER_PROFILE_NDIRS]);
/* Load the profile arg names: a file path when it holds a '/', else NAME.profile from the
 * first directory above that has one. EMBER_ENOTFOUND when no directory has it; otherwise as
 * ember_power_profile_load. */
int ember_power_profile_find(const char *arg, ember_power_profile *out, ember_err *err);

/* Fit src's power figures to another frequency table (khz, n entries, strictly ascending):
 * out gets khz and, per frequency, src's figures where src has that frequency exactly,
 * straight-line interpolation between src's neighbouring frequencies inside its range, and
 * src's lowest or highest frequency's figures outside it (clamped). Returns how many were
 * clamped; when some were and warn is not NULL, warn names them and src's range. EMBER_EINVAL
 * for an empty or oversized table. */
int ember_power_table_map(const ember_power_table *src, const uint32_t *khz, int n,
                          ember_power_table *out, ember_err *warn);

typedef struct ember_power_request {
    double t_ms, service_ms, deadline_ms; /* service_ms at the profile's highest frequency */
} ember_power_request;

typedef struct ember_power_trace {
    ember_power_request *req; /* sorted by t_ms */
    int n;
} ember_power_trace;

/* Parse a CSV trace with the header t_ms,model,service_ms,deadline_ms. On success the caller
 * frees with ember_power_trace_free. EMBER_EFORMAT names the line for a bad row or an
 * unsorted time; EMBER_ENOMEM beyond EMBER_POWER_MAX_TRACE rows. */
int ember_power_trace_load(const char *path, ember_power_trace *out, ember_err *err);
void ember_power_trace_free(ember_power_trace *t);

typedef struct ember_power_result {
    double energy_j, mean_w, p50_ms, p99_ms;
    int misses;
    double duration_ms;
} ember_power_result;

/* Replay trace through the governor (policy) on profile. Returns 0, or EMBER_EINVAL for an
 * empty trace or a profile the governor rejects; EMBER_ENOMEM. */
int ember_power_sim_run(const ember_power_profile *profile, const ember_power_trace *trace,
                        ember_power_policy policy, ember_power_result *out, ember_err *err);

#endif
