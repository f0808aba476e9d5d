/*
 * The governor at run time: one handle holding a governor, the cpufreq backend and an energy
 * meter, so a daemon's timer callback is a single ember_power_ctl_tick.
 *
 * The governor's frequency table comes from cpufreq when DVFS is available, else from the
 * caller's power table (or device profile), else a single placeholder entry (decisions then
 * only size the workers). The table's figures are fitted to those frequencies, so a profile
 * for a board serves a kernel whose frequency list differs a little. Frequencies are written
 * only when they change.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/power.h>

struct ember_power_ctl {
    ember_gov gov;
    ember_cpufreq *cpufreq;
    ember_energy *energy;
    uint32_t applied; /* frequency last written, 0 before the first */
    ember_gov_decision last;
    int workers;
};

int ember_power_ctl_open(const ember_power_ctl_config *cfg, ember_power_ctl **out, ember_err *warn)
{
    if (warn)
        warn->msg[0] = '\0';
    ember_gov_config gc;
    ember_gov_config_default(&gc);
    gc.policy = cfg->policy;
    gc.max_workers = cfg->workers;
    if (cfg->sample_ms > 0)
        gc.sample_ms = cfg->sample_ms;
    ember_power_ctl *c = calloc(1, sizeof *c);
    if (!c)
        return ember_err_set(warn, EMBER_ENOMEM, "power: out of memory");
    int rc = ember_cpufreq_open(cfg->cpufreq_root ? cfg->cpufreq_root : "/sys/devices/system/cpu",
                                &c->cpufreq, warn);
    if (rc != 0) {
        free(c);
        return rc;
    }
    const ember_power_profile *prof = cfg->profile;
    const ember_power_table *table = prof ? &prof->table : cfg->table;
    if (ember_cpufreq_available(c->cpufreq)) {
        gc.nfreqs = ember_cpufreq_freqs(c->cpufreq, gc.freqs_khz, EMBER_POWER_MAX_FREQS);
    } else if (table && table->nfreqs > 0) {
        gc.nfreqs = table->nfreqs;
        memcpy(gc.freqs_khz, table->freqs_khz, sizeof gc.freqs_khz);
    } else {
        gc.nfreqs = 1;
        gc.freqs_khz[0] = 1;
    }
    /* The power figures at the frequencies the governor will choose from; the energy model
     * prices the same ones. */
    ember_power_table fitted;
    if (table && table->nfreqs > 0 &&
        ember_power_table_map(table, gc.freqs_khz, gc.nfreqs, &fitted, warn) >= 0) {
        memcpy(gc.busy_w, fitted.busy_w, sizeof gc.busy_w);
        memcpy(gc.idle_w, fitted.idle_w, sizeof gc.idle_w);
        table = &fitted;
    }
    if (prof)
        ember_power_profile_tune(prof, &gc);
    ember_err err = {{0}};
    rc = ember_gov_init(&c->gov, &gc, &err);
    if (rc == 0)
        rc = ember_energy_open(cfg->powercap_root, cfg->hwmon_root, table, &c->energy, &err);
    if (rc != 0) {
        ember_cpufreq_close(c->cpufreq);
        free(c);
        return ember_err_set(warn, rc, "power: %s", err.msg);
    }
    c->workers = cfg->workers;
    c->last.freq_index = gc.nfreqs - 1;
    c->last.freq_khz = gc.freqs_khz[gc.nfreqs - 1];
    c->last.active_workers = cfg->workers;
    *out = c;
    return 0;
}

int ember_power_ctl_tick(ember_power_ctl *c, double now_ms, const ember_gov_obs *obs,
                         ember_gov_decision *out, ember_err *err)
{
    ember_gov_obs o = *obs;
    if (o.cur_khz == 0)
        o.cur_khz = c->last.freq_khz;
    ember_gov_tick(&c->gov, &o, out);
    c->last = *out;
    ember_energy_sample(c->energy, now_ms, o.busy_workers, out->freq_khz);
    if (out->freq_khz == c->applied)
        return 0;
    int rc = ember_cpufreq_set(c->cpufreq, out->freq_khz, err);
    if (rc == 0)
        c->applied = out->freq_khz;
    return rc;
}

int ember_power_ctl_set_policy(ember_power_ctl *c, const char *name, ember_err *err)
{
    ember_power_policy p;
    int rc = ember_power_policy_parse(name, &p, err);
    if (rc == 0)
        ember_gov_set_policy(&c->gov, p);
    return rc;
}

void ember_power_ctl_status(const ember_power_ctl *c, ember_power_status *out)
{
    out->policy = c->gov.cfg.policy;
    out->dvfs = ember_cpufreq_available(c->cpufreq);
    out->freq_khz = c->last.freq_khz;
    out->active_workers = c->last.active_workers;
    out->workers = c->workers;
    out->energy_j = ember_energy_joules(c->energy);
    out->energy_source = ember_energy_source_of(c->energy);
}

const ember_cpufreq *ember_power_ctl_cpufreq(const ember_power_ctl *c)
{
    return c->cpufreq;
}

void ember_power_ctl_close(ember_power_ctl *c)
{
    if (!c)
        return;
    ember_cpufreq_close(c->cpufreq);
    ember_energy_close(c->energy);
    free(c);
}
