/*
 * The cpufreq backend: sets CPU frequencies through sysfs under a configurable root.
 *
 * Open walks ROOT/cpufreq/policy*, reads each policy's frequency table
 * (scaling_available_frequencies, else the cpuinfo_min_freq/cpuinfo_max_freq pair), and
 * saves its governor and scaling_min/max_freq. It then takes control by writing the current
 * governor back (the probe that a read-only tree fails) and, when `userspace` is offered,
 * switching to it so frequencies go to scaling_setspeed; otherwise each set narrows
 * scaling_min_freq and scaling_max_freq to the one frequency. Anything missing or unwritable
 * leaves the handle in "no DVFS": one warning at open, silent no-op sets. Close writes the
 * saved settings back.
 */
#define _GNU_SOURCE /* versionsort */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/power.h>

#define CPUFREQ_PATH_MAX 512
#define CPUFREQ_LINE_MAX 1024

typedef struct cf_policy {
    char dir[CPUFREQ_PATH_MAX];
    uint32_t freqs[EMBER_POWER_MAX_FREQS];
    int nfreqs;
    char orig_governor[64];
    uint32_t orig_min, orig_max;
    int userspace; /* switched to the userspace governor: set through scaling_setspeed */
    uint32_t cur;  /* the frequency last set, or read at open */
} cf_policy;

struct ember_cpufreq {
    cf_policy *pol;
    int npol;
    int available;
    uint32_t current;
};

static int read_line(const char *dir, const char *file, char *buf, size_t cap)
{
    char path[CPUFREQ_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(buf, (int)cap, f);
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int read_u32(const char *dir, const char *file, uint32_t *out)
{
    char buf[64], *end;
    if (read_line(dir, file, buf, sizeof buf) != 0)
        return -1;
    unsigned long v = strtoul(buf, &end, 10);
    if (end == buf || v == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int write_str(const char *dir, const char *file, const char *value)
{
    char path[CPUFREQ_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    int rc = (w == (ssize_t)n) ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

static int write_u32(const char *dir, const char *file, uint32_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%u\n", v);
    return write_str(dir, file, buf);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Fill p's table; -1 when the policy offers no usable frequencies. */
static int read_freqs(cf_policy *p)
{
    char line[CPUFREQ_LINE_MAX];
    p->nfreqs = 0;
    if (read_line(p->dir, "scaling_available_frequencies", line, sizeof line) == 0) {
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
            char *end;
            unsigned long v = strtoul(t, &end, 10);
            if (*end != '\0' || v == 0 || v > UINT32_MAX)
                return -1;
            if (p->nfreqs == EMBER_POWER_MAX_FREQS)
                return -1;
            p->freqs[p->nfreqs++] = (uint32_t)v;
        }
        qsort(p->freqs, (size_t)p->nfreqs, sizeof p->freqs[0], cmp_u32);
    }
    if (p->nfreqs == 0) {
        uint32_t lo, hi;
        if (read_u32(p->dir, "cpuinfo_min_freq", &lo) != 0 ||
            read_u32(p->dir, "cpuinfo_max_freq", &hi) != 0 || lo > hi)
            return -1;
        p->freqs[p->nfreqs++] = lo;
        if (hi != lo)
            p->freqs[p->nfreqs++] = hi;
    }
    return 0;
}

/* Narrow p to khz with scaling_min/max_freq, writing in the order the kernel accepts. */
static int set_limits(const cf_policy *p, uint32_t lo, uint32_t hi)
{
    uint32_t cur_min;
    if (read_u32(p->dir, "scaling_min_freq", &cur_min) != 0)
        cur_min = 0;
    if (hi >= cur_min)
        return (write_u32(p->dir, "scaling_max_freq", hi) == 0 &&
                write_u32(p->dir, "scaling_min_freq", lo) == 0)
                   ? 0
                   : -1;
    return (write_u32(p->dir, "scaling_min_freq", lo) == 0 &&
            write_u32(p->dir, "scaling_max_freq", hi) == 0)
               ? 0
               : -1;
}

/* Take control of p; -1 (with why in err) when the tree is not writable. */
static int take_policy(cf_policy *p, ember_err *why)
{
    char govs[CPUFREQ_LINE_MAX];
    if (read_line(p->dir, "scaling_governor", p->orig_governor, sizeof p->orig_governor) != 0 ||
        read_u32(p->dir, "scaling_min_freq", &p->orig_min) != 0 ||
        read_u32(p->dir, "scaling_max_freq", &p->orig_max) != 0)
        return ember_err_set(why, -1, "%s: cannot read its governor and limits", p->dir);
    char gov[80];
    snprintf(gov, sizeof gov, "%s\n", p->orig_governor);
    if (write_str(p->dir, "scaling_governor", gov) != 0)
        return ember_err_set(why, -1, "%s/scaling_governor is not writable (%s)", p->dir,
                             strerror(errno));
    if (read_line(p->dir, "scaling_available_governors", govs, sizeof govs) == 0) {
        char *save = NULL;
        for (char *t = strtok_r(govs, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
            if (strcmp(t, "userspace") == 0)
                p->userspace = 1;
    }
    if (p->userspace && write_str(p->dir, "scaling_governor", "userspace\n") != 0)
        p->userspace = 0;
    return 0;
}

static int policy_filter(const struct dirent *d)
{
    return strncmp(d->d_name, "policy", 6) == 0;
}

int ember_cpufreq_open(const char *root, ember_cpufreq **out, ember_err *warn)
{
    if (!root || !out)
        return ember_err_set(warn, EMBER_EINVAL, "cpufreq: no sysfs root");
    if (warn)
        warn->msg[0] = '\0';
    char base[CPUFREQ_PATH_MAX];
    if (snprintf(base, sizeof base, "%s/cpufreq", root) >= (int)sizeof base - 110)
        return ember_err_set(warn, EMBER_EINVAL, "cpufreq: sysfs root path too long");
    ember_cpufreq *c = calloc(1, sizeof *c);
    if (!c)
        return ember_err_set(warn, EMBER_ENOMEM, "cpufreq: out of memory");
    *out = c;

    struct dirent **names = NULL;
    int n = scandir(base, &names, policy_filter, versionsort);
    if (n <= 0) {
        free(names);
        ember_err_set(warn, 0, "cpufreq: no policies under %s; running without DVFS", base);
        return 0;
    }
    if (n > EMBER_POWER_MAX_CPUFREQ) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        ember_err_set(warn, 0, "cpufreq: %d policies under %s, more than %d; running without DVFS",
                      n, base, EMBER_POWER_MAX_CPUFREQ);
        return 0;
    }
    c->pol = calloc((size_t)n, sizeof *c->pol);
    if (!c->pol) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        free(c);
        *out = NULL;
        return ember_err_set(warn, EMBER_ENOMEM, "cpufreq: out of memory");
    }
    ember_err why = {{0}};
    int ok = 1;
    for (int i = 0; i < n; i++) {
        cf_policy *p = &c->pol[i];
        int len = snprintf(p->dir, sizeof p->dir, "%.400s/%.100s", base, names[i]->d_name);
        free(names[i]);
        if (!ok)
            continue;
        if (len >= (int)sizeof p->dir) {
            ember_err_set(&why, -1, "%s: path too long", base);
            ok = 0;
        } else if (read_freqs(p) != 0) {
            ember_err_set(&why, -1, "%s: no usable frequency table", p->dir);
            ok = 0;
        } else if (take_policy(p, &why) != 0) {
            ok = 0;
        } else {
            c->npol = i + 1;
        }
    }
    free(names);
    if (!ok) {
        /* Give back whatever was already taken, then run without DVFS. */
        for (int i = 0; i < c->npol; i++)
            if (c->pol[i].userspace)
                write_str(c->pol[i].dir, "scaling_governor", c->pol[i].orig_governor);
        c->npol = 0;
        ember_err_set(warn, 0, "cpufreq: %s; running without DVFS", why.msg);
        return 0;
    }
    c->available = 1;
    for (int i = 0; i < c->npol; i++) {
        cf_policy *p = &c->pol[i];
        if (read_u32(p->dir, "scaling_cur_freq", &p->cur) != 0)
            p->cur = p->orig_max;
    }
    c->current = c->pol[0].cur;
    return 0;
}

int ember_cpufreq_available(const ember_cpufreq *c)
{
    return c && c->available;
}

int ember_cpufreq_npolicies(const ember_cpufreq *c)
{
    return c ? c->npol : 0;
}

int ember_cpufreq_freqs(const ember_cpufreq *c, uint32_t *out, int cap)
{
    int n = 0;
    for (int i = 0; c && i < c->npol; i++) {
        for (int k = 0; k < c->pol[i].nfreqs; k++) {
            uint32_t f = c->pol[i].freqs[k];
            int seen = 0;
            for (int j = 0; j < n && !seen; j++)
                seen = out[j] == f;
            if (!seen && n < cap)
                out[n++] = f;
        }
    }
    qsort(out, (size_t)n, sizeof out[0], cmp_u32);
    return n;
}

/* The entry of p's table at or just above khz, else its highest. */
static uint32_t pick(const cf_policy *p, uint32_t khz)
{
    for (int i = 0; i < p->nfreqs; i++)
        if (p->freqs[i] >= khz)
            return p->freqs[i];
    return p->freqs[p->nfreqs - 1];
}

int ember_cpufreq_set(ember_cpufreq *c, uint32_t khz, ember_err *err)
{
    if (!c || !c->available)
        return 0;
    for (int i = 0; i < c->npol; i++) {
        const cf_policy *p = &c->pol[i];
        uint32_t f = pick(p, khz);
        int rc = p->userspace ? write_u32(p->dir, "scaling_setspeed", f) : set_limits(p, f, f);
        if (rc != 0)
            return ember_err_set(err, EMBER_EIO, "cpufreq: cannot set %s to %u kHz: %s", p->dir, f,
                                 strerror(errno));
        c->pol[i].cur = f;
    }
    c->current = khz;
    return 0;
}

uint32_t ember_cpufreq_current(const ember_cpufreq *c)
{
    return c ? c->current : 0;
}

int ember_cpufreq_policy(const ember_cpufreq *c, int i, const char **dir, uint32_t *khz)
{
    if (!c || i < 0 || i >= c->npol)
        return EMBER_EINVAL;
    *dir = c->pol[i].dir;
    *khz = c->pol[i].cur;
    return 0;
}

void ember_cpufreq_close(ember_cpufreq *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npol; i++) {
        const cf_policy *p = &c->pol[i];
        char gov[80];
        snprintf(gov, sizeof gov, "%s\n", p->orig_governor);
        write_str(p->dir, "scaling_governor", gov);
        set_limits(p, p->orig_min, p->orig_max);
    }
    free(c->pol);
    free(c);
}
