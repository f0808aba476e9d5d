/*
 * forkjoin: what one split node costs in synchronisation alone. Runs a job of `threads`
 * parts on a session's helper group (engine/src/tgroup.c) many times inside one run, each
 * part only waiting until every thread holds one (so every thread must join every job), and
 * prints the p50, p90 and fastest round trip in nanoseconds, and how often a thread slept (a
 * futex wait) rather than spun. Run by hand: forkjoin [THREADS] [JOBS], with no more threads
 * than free CPUs (every job waits for all of them at once).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ember/engine.h>

#include "tgroup.h"

static void meet_part(void *arg, int part, int nparts, int thread)
{
    (void)part;
    (void)thread;
    _Atomic int *arrived = arg;
    atomic_fetch_add(arrived, 1);
    while (atomic_load(arrived) < nparts)
        ;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int jobs = argc > 2 ? atoi(argv[2]) : 100000;
    if (threads < 2 || threads > EG_TGROUP_MAX_HELPERS + 1 || jobs < 1) {
        fprintf(stderr, "usage: forkjoin [THREADS 2..%d] [JOBS >= 1]\n", EG_TGROUP_MAX_HELPERS + 1);
        return 2;
    }
    eg_tgroup *tg;
    ember_err err = {{0}};
    if (eg_tgroup_new(threads - 1, &tg, &err) != 0) {
        fprintf(stderr, "forkjoin: %s\n", err.msg);
        return 1;
    }
    int64_t *ns = malloc((size_t)jobs * sizeof *ns);
    if (!ns)
        return 1;
    eg_tgroup_begin(tg);
    for (int i = 0; i < jobs; i++) {
        _Atomic int arrived = 0;
        int64_t t0 = now_ns();
        eg_tgroup_run(tg, meet_part, &arrived, threads);
        ns[i] = now_ns() - t0;
    }
    eg_tgroup_end(tg);
    int64_t helper_sleeps, caller_sleeps;
    eg_tgroup_sleeps(tg, &helper_sleeps, &caller_sleeps);
    eg_tgroup_free(tg);
    qsort(ns, (size_t)jobs, sizeof *ns, cmp_i64);
    printf("threads %d, %d jobs: p50 %lld ns, p90 %lld ns, min %lld ns; helper sleeps %lld, "
           "caller sleeps %lld\n",
           threads, jobs, (long long)ns[jobs / 2], (long long)ns[jobs * 9 / 10], (long long)ns[0],
           (long long)helper_sleeps, (long long)caller_sleeps);
    free(ns);
    return 0;
}
