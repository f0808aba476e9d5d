/*
 * The session's helper threads (engine/src/tgroup.c): every part of every job runs exactly
 * once on 1 to 4 threads, back-to-back jobs never mix, and an idle group uses no CPU, neither
 * between runs nor when a run leaves it waiting.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ember/engine.h>

#include "tgroup.h"

#define MAX_PARTS 70000 /* past EG_TGROUP_MAX_PARTS: those run on the caller */

typedef struct count_job {
    _Atomic int runs[MAX_PARTS];
    _Atomic int bad; /* a part seen with the wrong nparts or thread */
    int nparts, threads;
} count_job;

static void count_part(void *arg, int part, int nparts, int thread)
{
    count_job *j = arg;
    if (nparts != j->nparts || part < 0 || part >= nparts || thread < 0 || thread >= j->threads)
        atomic_fetch_add(&j->bad, 1);
    else
        atomic_fetch_add(&j->runs[part], 1);
}

static void check_job(eg_tgroup *tg, count_job *j, int nparts)
{
    memset(j, 0, sizeof *j);
    j->nparts = nparts;
    j->threads = eg_tgroup_threads(tg);
    eg_tgroup_run(tg, count_part, j, nparts);
    ck_assert_int_eq(atomic_load(&j->bad), 0);
    for (int p = 0; p < nparts; p++)
        ck_assert_msg(atomic_load(&j->runs[p]) == 1, "%d parts on %d threads: part %d ran %d times",
                      nparts, j->threads, p, atomic_load(&j->runs[p]));
}

START_TEST(every_part_runs_once)
{
    static const int counts[] = {1, 2, 3, 4, 5, 7, 8, 16, 63, 64, 1000, 0xffff, MAX_PARTS};
    count_job *j = malloc(sizeof *j);
    ck_assert_ptr_nonnull(j);
    for (int helpers = 1; helpers <= 3; helpers++) {
        eg_tgroup *tg;
        ember_err err = {{0}};
        ck_assert_int_eq(eg_tgroup_new(helpers, &tg, &err), 0);
        ck_assert_int_eq(eg_tgroup_threads(tg), helpers + 1);
        /* Outside a run (helpers asleep) and inside one (helpers spinning). */
        for (int in_run = 0; in_run < 2; in_run++) {
            if (in_run)
                eg_tgroup_begin(tg);
            for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
                check_job(tg, j, counts[i]);
            if (in_run)
                eg_tgroup_end(tg);
        }
        eg_tgroup_free(tg);
    }
    free(j);
}
END_TEST

/* Many small jobs in a row, alternating between two functions and argument blocks: a helper
 * that arrives late to one job must not run a part of the next with the old function, or of
 * the old one after the caller returned. */
typedef struct tally {
    _Atomic int64_t sum;
    int64_t expect;
} tally;

static void add_part(void *arg, int part, int nparts, int thread)
{
    (void)nparts;
    (void)thread;
    atomic_fetch_add(&((tally *)arg)->sum, part + 1);
}

static void add_part_neg(void *arg, int part, int nparts, int thread)
{
    (void)nparts;
    (void)thread;
    atomic_fetch_sub(&((tally *)arg)->sum, part + 1);
}

START_TEST(back_to_back_jobs_never_mix)
{
    for (int helpers = 1; helpers <= 3; helpers++) {
        eg_tgroup *tg;
        ember_err err = {{0}};
        ck_assert_int_eq(eg_tgroup_new(helpers, &tg, &err), 0);
        eg_tgroup_begin(tg);
        for (int i = 0; i < 20000; i++) {
            tally t = {0, 0};
            int nparts = 1 + i % 9;
            eg_tgroup_run(tg, i % 2 ? add_part : add_part_neg, &t, nparts);
            int64_t want = (int64_t)nparts * (nparts + 1) / 2;
            ck_assert_int_eq(atomic_load(&t.sum), i % 2 ? want : -want);
            if (i % 5000 == 4999) { /* runs end and begin between jobs too */
                eg_tgroup_end(tg);
                eg_tgroup_begin(tg);
            }
        }
        eg_tgroup_end(tg);
        eg_tgroup_free(tg);
    }
}
END_TEST

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU the whole process uses while the calling thread sleeps for one second. A helper that
 * kept spinning would use all of it. */
static double idle_cpu_over_a_second(void)
{
    double c0 = cpu_seconds();
    struct timespec one = {1, 0};
    nanosleep(&one, NULL);
    return cpu_seconds() - c0;
}

static void noop_part(void *arg, int part, int nparts, int thread)
{
    (void)arg;
    (void)part;
    (void)nparts;
    (void)thread;
}

START_TEST(idle_group_uses_no_cpu)
{
    eg_tgroup *tg;
    ember_err err = {{0}};
    ck_assert_int_eq(eg_tgroup_new(3, &tg, &err), 0);
    /* Fresh: the helpers sleep. */
    double fresh = idle_cpu_over_a_second();
    /* After runs: they sleep as soon as the run ends. */
    for (int r = 0; r < 100; r++) {
        eg_tgroup_begin(tg);
        for (int i = 0; i < 10; i++)
            eg_tgroup_run(tg, noop_part, NULL, 8);
        eg_tgroup_end(tg);
    }
    double after = idle_cpu_over_a_second();
    /* A run that stops handing out work (a long node on one thread): the spin is bounded. */
    eg_tgroup_begin(tg);
    eg_tgroup_run(tg, noop_part, NULL, 8);
    double stalled = idle_cpu_over_a_second();
    eg_tgroup_end(tg);
    int64_t helper_sleeps, caller_sleeps;
    eg_tgroup_sleeps(tg, &helper_sleeps, &caller_sleeps);
    ck_assert_int_ge(helper_sleeps, 3);
    eg_tgroup_free(tg);
    ck_assert_msg(fresh < 0.1 && after < 0.1 && stalled < 0.1,
                  "idle helpers used CPU: %.3f s fresh, %.3f s after runs, %.3f s in a stalled run",
                  fresh, after, stalled);
}
END_TEST

/* The same through a session: an idle two-thread session uses no CPU between runs. */
START_TEST(idle_session_uses_no_cpu)
{
    ember_model *m = NULL;
    ember_session *s = NULL;
    ember_err err = {{0}};
    const char *dir = getenv("EMBER_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/digits/1/model.onnx", dir ? dir : ".");
    ck_assert_msg(ember_model_load(path, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ember_session_create(m, &s, &err), 0);
    ck_assert_int_eq(eg_session_set_threads_any(s, 4, &err), 4);
    const ember_io_info *info = ember_model_input(m, 0);
    ember_tensor x = {.dtype = EMBER_DT_FLOAT, .rank = info->rank};
    for (int d = 0; d < info->rank; d++)
        x.dims[d] = info->dims[d] < 0 ? 1 : info->dims[d];
    x.data = calloc((size_t)ember_tensor_count(&x), sizeof(float));
    ck_assert_ptr_nonnull(x.data);
    ember_tensor y;
    for (int r = 0; r < 20; r++)
        ck_assert_msg(ember_session_run(s, &x, 1, &y, 1, &err) == 0, "%s", err.msg);
    double used = idle_cpu_over_a_second();
    ck_assert_msg(used < 0.1, "an idle 4-thread session used %.3f s of CPU in a second", used);
    ember_session_free(s);
    ember_model_free(m);
    free(x.data);
}
END_TEST

static Suite *tgroup_suite(void)
{
    Suite *s = suite_create("tgroup");
    TCase *tc = tcase_create("tgroup");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_part_runs_once);
    tcase_add_test(tc, back_to_back_jobs_never_mix);
    tcase_add_test(tc, idle_group_uses_no_cpu);
    tcase_add_test(tc, idle_session_uses_no_cpu);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tgroup_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
