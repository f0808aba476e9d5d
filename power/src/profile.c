/*
 * Reading the simulator's inputs: device profiles and arrival traces.
 *
 * A profile is a few `key value` lines and one `freq MHZ IDLE_W BUSY_W` line per frequency
 * (ascending), with `#` comments that carry the sources of the figures. A trace is CSV with
 * the header t_ms,model,service_ms,deadline_ms and rows in arrival order. Both parsers name
 * the file and line of the first thing they cannot use. A profile named without a path is
 * found in a short list of directories (ember_power_profile_dirs), the same for emberctl and
 * emberd; ember_power_table_map fits its power figures to the frequencies a machine offers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/power.h>

#define PROFILE_LINE_MAX 512
#define PROFILE_PATH_MAX 1024
#define TRACE_LINE_MAX 256
#define TRACE_HEADER "t_ms,model,service_ms,deadline_ms"

/* Parse a whole finite number from s into *out; -1 if s holds anything else. */
static int parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || v != v)
        return -1;
    *out = v;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int profile_line(ember_power_profile *p, char *line, const char *path, int lineno,
                        ember_err *err)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *s = trim(line);
    if (*s == '\0')
        return 0;
    char *val = s + strcspn(s, " \t");
    if (*val)
        *val++ = '\0';
    val = trim(val);
    double v;

    if (strcmp(s, "name") == 0 || strcmp(s, "description") == 0) {
        char *dst = s[0] == 'n' ? p->name : p->description;
        size_t cap = s[0] == 'n' ? sizeof p->name : sizeof p->description;
        if (*val == '\0' || strlen(val) >= cap)
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: %s must be 1..%zu characters", path,
                                 lineno, s, cap - 1);
        memcpy(dst, val, strlen(val) + 1);
        return 0;
    }
    if (strcmp(s, "freq") == 0) {
        char *f[3], *save = NULL;
        double mhz, idle, busy;
        f[0] = strtok_r(val, " \t", &save);
        f[1] = strtok_r(NULL, " \t", &save);
        f[2] = strtok_r(NULL, " \t", &save);
        if (!f[2] || strtok_r(NULL, " \t", &save) || parse_num(f[0], &mhz) != 0 ||
            parse_num(f[1], &idle) != 0 || parse_num(f[2], &busy) != 0 || !(mhz >= 1) ||
            mhz > 100000 || !(idle >= 0) || !(busy >= 0))
            return ember_err_set(err, EMBER_EFORMAT,
                                 "%s:%d: want 'freq MHZ IDLE_W BUSY_W' with positive numbers", path,
                                 lineno);
        ember_power_table *t = &p->table;
        if (t->nfreqs == EMBER_POWER_MAX_FREQS)
            return ember_err_set(err, EMBER_ENOMEM, "%s:%d: more than %d frequencies", path, lineno,
                                 EMBER_POWER_MAX_FREQS);
        uint32_t khz = (uint32_t)(mhz * 1000 + 0.5);
        if (t->nfreqs > 0 && khz <= t->freqs_khz[t->nfreqs - 1])
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: frequencies must ascend", path,
                                 lineno);
        t->freqs_khz[t->nfreqs] = khz;
        t->idle_w[t->nfreqs] = idle;
        t->busy_w[t->nfreqs] = busy;
        t->nfreqs++;
        return 0;
    }
    if (strcmp(s, "deep_idle_ms") == 0 && strcmp(val, "none") == 0) {
        p->deep_idle_ms = -1;
        return 0;
    }
    if (parse_num(val, &v) != 0 || v < 0)
        return ember_err_set(err, EMBER_EFORMAT, "%s:%d: '%s' wants a non-negative number", path,
                             lineno, s);
    if (strcmp(s, "cores") == 0) {
        if (v < 1 || v > EMBER_POWER_MAX_WORKERS || v != (int)v)
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: cores must be 1..%d", path, lineno,
                                 EMBER_POWER_MAX_WORKERS);
        p->cores = (int)v;
    } else if (strcmp(s, "wake_ms") == 0) {
        p->wake_ms = v;
    } else if (strcmp(s, "deep_idle_ms") == 0) {
        p->deep_idle_ms = v;
    } else if (strcmp(s, "shallow_w") == 0) {
        p->shallow_w = v;
    } else if (strcmp(s, "od_up_threshold") == 0) {
        if (v < 1 || v > 100 || v != (int)v)
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: od_up_threshold must be 1..100", path,
                                 lineno);
        p->od_up_threshold = (int)v;
    } else if (strcmp(s, "od_sampling_down_factor") == 0) {
        if (v < 1 || v > 100000 || v != (int)v)
            return ember_err_set(err, EMBER_EFORMAT,
                                 "%s:%d: od_sampling_down_factor must be 1..100000", path, lineno);
        p->od_sampling_down_factor = (int)v;
    } else if (strcmp(s, "od_sampling_ms") == 0) {
        if (v < 1 || v > 60000)
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: od_sampling_ms must be 1..60000", path,
                                 lineno);
        p->od_sampling_ms = v;
    } else if (strcmp(s, "mem_frac") == 0) {
        if (v >= 1)
            return ember_err_set(err, EMBER_EFORMAT, "%s:%d: mem_frac must be below 1", path,
                                 lineno);
        p->mem_frac = v;
    } else {
        return ember_err_set(err, EMBER_EFORMAT, "%s:%d: unknown key '%s'", path, lineno, s);
    }
    return 0;
}

int ember_power_profile_load(const char *path, ember_power_profile *out, ember_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return ember_err_set(err, EMBER_EIO, "%s: %s", path, strerror(errno));
    memset(out, 0, sizeof *out);
    char line[PROFILE_LINE_MAX];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f))
            rc = ember_err_set(err, EMBER_EFORMAT, "%s:%d: line longer than %d characters", path,
                               lineno, PROFILE_LINE_MAX - 2);
        else
            rc = profile_line(out, line, path, lineno, err);
    }
    fclose(f);
    if (rc != 0)
        return rc;
    if (out->name[0] == '\0' || out->cores == 0 || out->table.nfreqs == 0)
        return ember_err_set(err, EMBER_EFORMAT, "%s: a profile needs name, cores and freq lines",
                             path);
    return 0;
}

int ember_power_trace_load(const char *path, ember_power_trace *out, ember_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return ember_err_set(err, EMBER_EIO, "%s: %s", path, strerror(errno));
    char line[TRACE_LINE_MAX];
    int lineno = 1, rc = 0, cap = 0;
    out->req = NULL;
    out->n = 0;
    if (!fgets(line, sizeof line, f) || strcmp(trim(line), TRACE_HEADER) != 0) {
        fclose(f);
        return ember_err_set(err, EMBER_EFORMAT, "%s:1: the header must be %s", path, TRACE_HEADER);
    }
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line), *fld[4], *save = NULL;
        if (*s == '\0')
            continue;
        int nf = 0;
        /* Count every field, keep the first four: a fifth makes the row wrong. */
        for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (nf < 4)
                fld[nf] = t;
            nf++;
        }
        ember_power_request r;
        if (nf != 4 || parse_num(trim(fld[0]), &r.t_ms) != 0 ||
            parse_num(trim(fld[2]), &r.service_ms) != 0 ||
            parse_num(trim(fld[3]), &r.deadline_ms) != 0 || !(r.t_ms >= 0) || !(r.service_ms > 0) ||
            !(r.deadline_ms > 0) || strlen(trim(fld[1])) >= EMBER_POWER_NAME_MAX) {
            rc = ember_err_set(err, EMBER_EFORMAT,
                               "%s:%d: want t_ms,model,service_ms,deadline_ms with t_ms >= 0 and "
                               "positive times",
                               path, lineno);
            break;
        }
        if (out->n > 0 && r.t_ms < out->req[out->n - 1].t_ms) {
            rc = ember_err_set(err, EMBER_EFORMAT, "%s:%d: arrival times must not decrease", path,
                               lineno);
            break;
        }
        if (out->n == EMBER_POWER_MAX_TRACE) {
            rc = ember_err_set(err, EMBER_ENOMEM, "%s:%d: more than %d requests", path, lineno,
                               EMBER_POWER_MAX_TRACE);
            break;
        }
        if (out->n == cap) {
            int ncap = cap ? cap * 2 : 256;
            ember_power_request *nr = realloc(out->req, (size_t)ncap * sizeof *nr);
            if (!nr) {
                rc = ember_err_set(err, EMBER_ENOMEM, "%s: out of memory", path);
                break;
            }
            out->req = nr;
            cap = ncap;
        }
        out->req[out->n++] = r;
    }
    if (rc == 0 && !feof(f))
        rc = ember_err_set(err, EMBER_EIO, "%s: read error", path);
    fclose(f);
    if (rc != 0)
        ember_power_trace_free(out);
    return rc;
}

void ember_power_trace_free(ember_power_trace *t)
{
    free(t->req);
    t->req = NULL;
    t->n = 0;
}

void ember_power_profile_dirs(const char *dirs[EMBER_POWER_PROFILE_NDIRS])
{
    dirs[0] = getenv(EMBER_POWER_PROFILE_ENV);
    dirs[1] = EMBER_POWER_PROFILE_DIR;
    dirs[2] = EMBER_POWER_PROFILE_INSTALL_DIR;
}

int ember_power_profile_find(const char *arg, ember_power_profile *out, ember_err *err)
{
    if (strchr(arg, '/'))
        return ember_power_profile_load(arg, out, err);
    const char *dirs[EMBER_POWER_PROFILE_NDIRS];
    ember_power_profile_dirs(dirs);
    for (int i = 0; i < EMBER_POWER_PROFILE_NDIRS; i++) {
        char path[PROFILE_PATH_MAX];
        if (!dirs[i] || !*dirs[i] ||
            snprintf(path, sizeof path, "%s/%s" EMBER_POWER_PROFILE_SUFFIX, dirs[i], arg) >=
                (int)sizeof path ||
            access(path, F_OK) != 0)
            continue;
        return ember_power_profile_load(path, out, err);
    }
    return ember_err_set(err, EMBER_ENOTFOUND,
                         "no profile '%.64s': no %.64s" EMBER_POWER_PROFILE_SUFFIX
                         " in $" EMBER_POWER_PROFILE_ENV
                         " or the shipped profiles (a path needs a '/')",
                         arg, arg);
}

/* src's figures at khz, which lies within src's range. */
static void table_at(const ember_power_table *src, uint32_t khz, double *idle, double *busy)
{
    int hi = 0;
    while (src->freqs_khz[hi] < khz)
        hi++;
    if (src->freqs_khz[hi] == khz || hi == 0) {
        *idle = src->idle_w[hi];
        *busy = src->busy_w[hi];
        return;
    }
    int lo = hi - 1;
    double f =
        (double)(khz - src->freqs_khz[lo]) / (double)(src->freqs_khz[hi] - src->freqs_khz[lo]);
    *idle = src->idle_w[lo] + f * (src->idle_w[hi] - src->idle_w[lo]);
    *busy = src->busy_w[lo] + f * (src->busy_w[hi] - src->busy_w[lo]);
}

int ember_power_table_map(const ember_power_table *src, const uint32_t *khz, int n,
                          ember_power_table *out, ember_err *warn)
{
    if (src->nfreqs < 1 || src->nfreqs > EMBER_POWER_MAX_FREQS || n < 1 ||
        n > EMBER_POWER_MAX_FREQS)
        return ember_err_set(warn, EMBER_EINVAL, "power table: want 1..%d frequencies",
                             EMBER_POWER_MAX_FREQS);
    uint32_t lo = src->freqs_khz[0], hi = src->freqs_khz[src->nfreqs - 1];
    char names[160] = "";
    size_t len = 0;
    int clamped = 0;
    memset(out, 0, sizeof *out);
    out->nfreqs = n;
    for (int i = 0; i < n; i++) {
        uint32_t k = khz[i] < lo ? lo : khz[i] > hi ? hi : khz[i];
        out->freqs_khz[i] = khz[i];
        table_at(src, k, &out->idle_w[i], &out->busy_w[i]);
        if (k == khz[i])
            continue;
        if (len < sizeof names) {
            int w = snprintf(names + len, sizeof names - len, "%s%u", clamped ? ", " : "",
                             khz[i] / 1000);
            len += w > 0 ? (size_t)w : 0;
        }
        clamped++;
    }
    if (clamped && warn)
        ember_err_set(warn, 0,
                      "the power table covers %u-%u MHz; %d frequenc%s outside it (%s%s MHz) "
                      "take the figures of its nearest end",
                      lo / 1000, hi / 1000, clamped, clamped == 1 ? "y" : "ies", names,
                      len >= sizeof names ? "..." : "");
    return clamped;
}

void ember_power_profile_tune(const ember_power_profile *p, ember_gov_config *cfg)
{
    cfg->mem_frac = p->mem_frac;
    if (p->od_up_threshold > 0)
        cfg->up_threshold = p->od_up_threshold;
    if (p->od_sampling_down_factor > 0)
        cfg->sampling_down_factor = p->od_sampling_down_factor;
    if (p->od_sampling_ms > 0)
        cfg->od_sampling_ms = p->od_sampling_ms;
}
