/*
 * Energy meters: how many joules the machine used, from the best source present.
 *
 * powercap RAPL zones count energy themselves: each sample adds every top-level zone's
 * energy_uj delta, adding max_energy_range_uj back when the counter wrapped. hwmon sensors
 * report power: each sample integrates the sum of power*_input (microwatts) over the time
 * since the last one (trapezoid). Without either, the model integrates a power table for the
 * busy cores and frequency the caller reports.
 */
#define _GNU_SOURCE /* versionsort */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/power.h>

#define ENERGY_PATH_MAX 512
#define ENERGY_MAX_FILES 64

struct ember_energy {
    ember_energy_source source;
    char files[ENERGY_MAX_FILES][ENERGY_PATH_MAX]; /* energy_uj or power*_input paths */
    double range_uj[ENERGY_MAX_FILES];
    double last[ENERGY_MAX_FILES]; /* last counter (uJ) or power (uW) read */
    int nfiles;
    ember_power_table table;
    int have_table;
    double last_ms;
    int started;
    double joules;
};

static int read_double(const char *path, double *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fscanf(f, "%lf", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

static int rapl_filter(const struct dirent *d)
{
    /* Top-level zones only (intel-rapl:0), not their subzones (intel-rapl:0:0), which the
     * parent's counter already includes. */
    const char *colon = strchr(d->d_name, ':');
    return colon && strchr(colon + 1, ':') == NULL && strncmp(d->d_name, "intel-rapl", 10) == 0;
}

static void find_rapl(ember_energy *e, const char *root)
{
    struct dirent **names = NULL;
    int n = scandir(root, &names, rapl_filter, versionsort);
    for (int i = 0; i < n; i++) {
        char path[ENERGY_PATH_MAX], range[ENERGY_PATH_MAX + 32];
        double v, r;
        snprintf(path, sizeof path, "%s/%s/energy_uj", root, names[i]->d_name);
        snprintf(range, sizeof range, "%s/%s/max_energy_range_uj", root, names[i]->d_name);
        if (e->nfiles < ENERGY_MAX_FILES && read_double(path, &v) == 0) {
            if (read_double(range, &r) != 0 || !(r > 0))
                r = 0;
            memcpy(e->files[e->nfiles], path, sizeof path);
            e->range_uj[e->nfiles] = r;
            e->last[e->nfiles] = v;
            e->nfiles++;
        }
        free(names[i]);
    }
    free(names);
}

static int hwmon_filter(const struct dirent *d)
{
    return strncmp(d->d_name, "hwmon", 5) == 0;
}

static void find_hwmon(ember_energy *e, const char *root)
{
    struct dirent **mons = NULL;
    int n = scandir(root, &mons, hwmon_filter, versionsort);
    for (int i = 0; i < n; i++) {
        char dir[ENERGY_PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", root, mons[i]->d_name);
        free(mons[i]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            size_t len = strlen(ent->d_name);
            if (strncmp(ent->d_name, "power", 5) != 0 || len < 11 ||
                strcmp(ent->d_name + len - 6, "_input") != 0 || e->nfiles == ENERGY_MAX_FILES)
                continue;
            char path[ENERGY_PATH_MAX * 2];
            double v;
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            if (strlen(path) >= ENERGY_PATH_MAX || read_double(path, &v) != 0)
                continue;
            memcpy(e->files[e->nfiles], path, strlen(path) + 1);
            e->last[e->nfiles] = v;
            e->nfiles++;
        }
        closedir(d);
    }
    free(mons);
}

int ember_energy_open(const char *powercap_root, const char *hwmon_root,
                      const ember_power_table *table, ember_energy **out, ember_err *err)
{
    ember_energy *e = calloc(1, sizeof *e);
    if (!e)
        return ember_err_set(err, EMBER_ENOMEM, "energy: out of memory");
    if (table) {
        if (table->nfreqs < 1 || table->nfreqs > EMBER_POWER_MAX_FREQS) {
            free(e);
            return ember_err_set(err, EMBER_EINVAL, "energy: power table needs 1..%d rows",
                                 EMBER_POWER_MAX_FREQS);
        }
        e->table = *table;
        e->have_table = 1;
    }
    if (powercap_root)
        find_rapl(e, powercap_root);
    if (e->nfiles > 0) {
        e->source = EMBER_ENERGY_RAPL;
    } else {
        if (hwmon_root)
            find_hwmon(e, hwmon_root);
        e->source = e->nfiles > 0 ? EMBER_ENERGY_HWMON : EMBER_ENERGY_MODEL;
    }
    *out = e;
    return 0;
}

ember_energy_source ember_energy_source_of(const ember_energy *e)
{
    return e->source;
}

const char *ember_energy_source_name(ember_energy_source s)
{
    switch (s) {
    case EMBER_ENERGY_RAPL: return "rapl";
    case EMBER_ENERGY_HWMON: return "hwmon";
    case EMBER_ENERGY_MODEL: return "model";
    }
    return "unknown";
}

/* The table row for khz: the lowest frequency at or above it, else the highest. */
static int table_row(const ember_power_table *t, uint32_t khz)
{
    for (int i = 0; i < t->nfreqs; i++)
        if (t->freqs_khz[i] >= khz)
            return i;
    return t->nfreqs - 1;
}

double ember_energy_sample(ember_energy *e, double now_ms, int busy_cores, uint32_t khz)
{
    double dt_s = e->started && now_ms > e->last_ms ? (now_ms - e->last_ms) / 1e3 : 0;
    switch (e->source) {
    case EMBER_ENERGY_RAPL:
        for (int i = 0; i < e->nfiles; i++) {
            double v;
            if (read_double(e->files[i], &v) != 0)
                continue;
            double d = v - e->last[i];
            if (d < 0)
                d += e->range_uj[i];
            if (d > 0)
                e->joules += d / 1e6;
            e->last[i] = v;
        }
        break;
    case EMBER_ENERGY_HWMON:
        for (int i = 0; i < e->nfiles; i++) {
            double v;
            if (read_double(e->files[i], &v) != 0)
                continue;
            e->joules += (e->last[i] + v) / 2 / 1e6 * dt_s;
            e->last[i] = v;
        }
        break;
    case EMBER_ENERGY_MODEL:
        if (e->have_table) {
            int r = table_row(&e->table, khz);
            e->joules += (e->table.idle_w[r] + busy_cores * e->table.busy_w[r]) * dt_s;
        }
        break;
    }
    e->last_ms = now_ms;
    e->started = 1;
    return e->joules;
}

double ember_energy_joules(const ember_energy *e)
{
    return e->joules;
}

void ember_energy_close(ember_energy *e)
{
    free(e);
}
