/*
 * emberctl power-sim: replay an arrival trace through the power governor's policies against a
 * device profile, and print energy, mean power, latency percentiles and deadline misses.
 *
 * The simulation itself is libember-power's (ember_power_sim_run, the same policy function
 * emberd runs); this file parses arguments, finds a profile by name or path, and prints a
 * table or CSV. Profiles are looked up as NAME.profile in $EMBER_POWER_PROFILES, then in the
 * source tree's power/profiles, then in the installed data directory (libember-power's
 * ember_power_profile_find, which emberd's power_profile uses too).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/power.h>

#include "emberctl.h"

#define PROFILE_PATH_MAX 1024

static void print_usage(void)
{
    printf("Usage: emberctl power-sim --trace FILE --profile PROFILE [--policy P|all]\n"
           "                          [--format table|csv]\n"
           "       emberctl power-sim --list-profiles\n"
           "\n"
           "Replay an arrival trace through ember's power governor against a device model\n"
           "and report, per policy, the energy used (J), mean power (W), median and 99th\n"
           "percentile latency (ms, arrival to completion) and deadline misses. Nothing is\n"
           "measured on this machine: service time scales with the profile's frequencies,\n"
           "power comes from its per-frequency table.\n"
           "\n"
           "The trace is CSV with the header t_ms,model,service_ms,deadline_ms: arrival time,\n"
           "a model name, its service time at the profile's highest frequency and its\n"
           "relative deadline, in arrival order. Energy is counted from t = 0 to one second\n"
           "after the last arrival (or until the last request completes).\n"
           "\n"
           "Options:\n"
           "  -t, --trace FILE        the arrival trace\n"
           "  -p, --profile PROFILE   a profile name (see --list-profiles) or a file path\n"
           "  -P, --policy P          performance, powersave, ondemand, ember, or all\n"
           "                          (default all)\n"
           "  -f, --format FMT        'table' (default) or 'csv': the header\n"
           "                          policy,energy_j,mean_w,p50_ms,p99_ms,misses and one row\n"
           "                          per policy\n"
           "  -l, --list-profiles     print the known profiles, one a line, name first\n"
           "  -h, --help              show this help and exit\n"
           "\n"
           "Profiles are NAME" EMBER_POWER_PROFILE_SUFFIX
           " files, searched in $" EMBER_POWER_PROFILE_ENV ", then in\n"
           "  " EMBER_POWER_PROFILE_DIR "\n"
           "  " EMBER_POWER_PROFILE_INSTALL_DIR "\n"
           "\n"
           "Exit status: 0 on success, 2 for a usage error or an unreadable trace or profile.\n");
}

/* Load the profile arg names (a path, or a name in the profile directories); prints why and
 * returns -1 when it cannot. */
static int find_profile(const char *arg, ember_power_profile *out)
{
    ember_err err = {{0}};
    int rc = ember_power_profile_find(arg, out, &err);
    if (rc == EMBER_ENOTFOUND)
        emberctl_error("power-sim: %s; see 'emberctl power-sim --list-profiles'", err.msg);
    else if (rc != 0)
        emberctl_error("power-sim: %s", err.msg);
    return rc == 0 ? 0 : -1;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

/* One line per profile: name, cores, frequency range, description. A name found in an
 * earlier directory hides the same name later. */
static int list_profiles(void)
{
    const char *dirs[EMBER_POWER_PROFILE_NDIRS];
    char seen[64][EMBER_POWER_NAME_MAX];
    int nseen = 0;
    ember_power_profile_dirs(dirs);
    for (int i = 0; i < EMBER_POWER_PROFILE_NDIRS; i++) {
        struct dirent **names = NULL;
        if (!dirs[i] || !*dirs[i])
            continue;
        int n = scandir(dirs[i], &names, NULL, alphasort);
        for (int k = 0; k < n; k++) {
            char path[PROFILE_PATH_MAX];
            ember_power_profile p;
            ember_err err = {{0}};
            int dup = 0;
            if (has_suffix(names[k]->d_name, EMBER_POWER_PROFILE_SUFFIX) &&
                snprintf(path, sizeof path, "%s/%s", dirs[i], names[k]->d_name) <
                    (int)sizeof path &&
                ember_power_profile_load(path, &p, &err) == 0) {
                for (int j = 0; j < nseen && !dup; j++)
                    dup = strcmp(seen[j], p.name) == 0;
                if (!dup && nseen < 64) {
                    memcpy(seen[nseen++], p.name, sizeof p.name);
                    const ember_power_table *t = &p.table;
                    printf("%s  %d cores  %u-%u MHz  %s\n", p.name, p.cores, t->freqs_khz[0] / 1000,
                           t->freqs_khz[t->nfreqs - 1] / 1000, p.description);
                }
            } else if (err.msg[0]) {
                emberctl_error("power-sim: skipping %s", err.msg);
            }
            free(names[k]);
        }
        free(names);
    }
    return EMBERCTL_EXIT_OK;
}

static int run(const emberctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trace", required_argument, NULL, 't'},
        {"profile", required_argument, NULL, 'p'},
        {"policy", required_argument, NULL, 'P'},
        {"format", required_argument, NULL, 'f'},
        {"list-profiles", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *trace_path = NULL, *profile_arg = NULL, *policy_arg = "all";
    int csv = 0, list = 0, opt;
    (void)ctl;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "t:p:P:f:lh", longopts, NULL)) != -1) {
        switch (opt) {
        case 't': trace_path = optarg; break;
        case 'p': profile_arg = optarg; break;
        case 'P': policy_arg = optarg; break;
        case 'f':
            if (strcmp(optarg, "csv") == 0)
                csv = 1;
            else if (strcmp(optarg, "table") == 0)
                csv = 0;
            else
                return emberctl_usage_error("power-sim", "--format is 'table' or 'csv', not '%s'",
                                            optarg);
            break;
        case 'l': list = 1; break;
        case 'h': print_usage(); return EMBERCTL_EXIT_OK;
        default: return emberctl_usage_error("power-sim", "unknown option");
        }
    }
    if (optind < argc)
        return emberctl_usage_error("power-sim", "unexpected argument '%s'", argv[optind]);
    if (list)
        return list_profiles();
    if (!trace_path || !profile_arg)
        return emberctl_usage_error("power-sim", "--trace and --profile are required");

    ember_power_policy only = EMBER_POWER_NPOLICIES;
    ember_err err = {{0}};
    if (strcmp(policy_arg, "all") != 0 && ember_power_policy_parse(policy_arg, &only, &err) != 0)
        return emberctl_usage_error("power-sim", "%s, or all", err.msg);

    ember_power_profile prof;
    if (find_profile(profile_arg, &prof) != 0)
        return EMBERCTL_EXIT_USAGE;
    ember_power_trace trace;
    if (ember_power_trace_load(trace_path, &trace, &err) != 0) {
        emberctl_error("power-sim: %s", err.msg);
        return EMBERCTL_EXIT_USAGE;
    }
    if (trace.n == 0) {
        ember_power_trace_free(&trace);
        emberctl_error("power-sim: %s has no requests", trace_path);
        return EMBERCTL_EXIT_USAGE;
    }

    if (csv)
        printf("policy,energy_j,mean_w,p50_ms,p99_ms,misses\n");
    else
        printf("%-12s %10s %8s %8s %8s %7s\n", "policy", "energy_j", "mean_w", "p50_ms", "p99_ms",
               "misses");
    int rc = EMBERCTL_EXIT_OK;
    double duration = 0;
    for (int p = 0; p < EMBER_POWER_NPOLICIES; p++) {
        if (only != EMBER_POWER_NPOLICIES && p != (int)only)
            continue;
        ember_power_result r;
        if (ember_power_sim_run(&prof, &trace, (ember_power_policy)p, &r, &err) != 0) {
            emberctl_error("power-sim: %s", err.msg);
            rc = EMBERCTL_EXIT_USAGE;
            break;
        }
        duration = r.duration_ms;
        const char *name = ember_power_policy_name((ember_power_policy)p);
        if (csv)
            printf("%s,%.3f,%.4f,%.2f,%.2f,%d\n", name, r.energy_j, r.mean_w, r.p50_ms, r.p99_ms,
                   r.misses);
        else
            printf("%-12s %10.3f %8.4f %8.2f %8.2f %7d\n", name, r.energy_j, r.mean_w, r.p50_ms,
                   r.p99_ms, r.misses);
    }
    if (!csv && rc == EMBERCTL_EXIT_OK)
        printf("(%d requests over %.1f s on %s)\n", trace.n, duration / 1e3, prof.name);
    ember_power_trace_free(&trace);
    return rc;
}

const emberctl_cmd emberctl_cmd_power_sim = {
    "power-sim",
    "simulate the power governor's policies on an arrival trace",
    run,
};
