/*
 * Tests for the engine pool's worker gating (ember_pool_set_active, ember_pool_parked), which
 * the power governor drives: gated workers park rather than take work, one wakes when more
 * jobs wait than there are active workers, parks again afterwards, and every worker comes back
 * when the count is raised. Jobs block on a latch the test opens, so which worker ran what is
 * known exactly; waits for the pool to settle are bounded polls, never timed assertions.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <ember/engine.h>

#define POLL_LIMIT 20000 /* x 0.5 ms: 10 s before a wait gives up */

typedef struct latch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;
    int started, finished;
    int ran_on[64]; /* jobs run per worker index */
} latch;

static latch L = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {0}};

static void blocking_job(void *arg, int worker)
{
    (void)arg;
    pthread_mutex_lock(&L.lock);
    L.started++;
    L.ran_on[worker]++;
    while (!L.open)
        pthread_cond_wait(&L.cond, &L.lock);
    L.finished++;
    pthread_mutex_unlock(&L.lock);
}

static int read_locked(const int *v)
{
    pthread_mutex_lock(&L.lock);
    int n = *v;
    pthread_mutex_unlock(&L.lock);
    return n;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
}

/* Poll until the pool reports want parked workers; returns what it last saw. */
static int wait_parked(ember_pool *p, int want)
{
    int n = -1;
    for (int i = 0; i < POLL_LIMIT && (n = ember_pool_parked(p)) != want; i++)
        pause_briefly();
    return n;
}

static int wait_value(const int *v, int want)
{
    int n = -1;
    for (int i = 0; i < POLL_LIMIT && (n = read_locked(v)) != want; i++)
        pause_briefly();
    return n;
}

START_TEST(gated_workers_park_and_wake_on_backlog)
{
    ember_pool *p = NULL;
    ck_assert_int_eq(ember_pool_create(4, 16, &p, NULL), 0);
    ck_assert_int_eq(wait_parked(p, 0), 0);
    ck_assert_int_eq(ember_pool_set_active(p, 1), 1);
    ck_assert_int_eq(wait_parked(p, 3), 3);

    /* One job: the active worker 0 takes it. */
    ck_assert_int_eq(ember_pool_submit(p, blocking_job, NULL), 0);
    ck_assert_int_eq(wait_value(&L.started, 1), 1);
    ck_assert_int_eq(read_locked(&L.ran_on[0]), 1);
    /* A second waits: one queued job is within one active worker's capacity. */
    ck_assert_int_eq(ember_pool_submit(p, blocking_job, NULL), 0);
    ck_assert_int_eq(ember_pool_queued(p), 1);
    ck_assert_int_eq(ember_pool_parked(p), 3);
    /* A third makes two queued for one active worker: one parked worker wakes and takes one. */
    ck_assert_int_eq(ember_pool_submit(p, blocking_job, NULL), 0);
    ck_assert_int_eq(wait_value(&L.started, 2), 2);
    ck_assert_int_eq(wait_parked(p, 2), 2);
    ck_assert_int_eq(ember_pool_queued(p), 1);

    /* Let everything finish: the woken worker parks again, worker 0 ran the rest. */
    pthread_mutex_lock(&L.lock);
    L.open = 1;
    pthread_cond_broadcast(&L.cond);
    pthread_mutex_unlock(&L.lock);
    ck_assert_int_eq(wait_value(&L.finished, 3), 3);
    ck_assert_int_eq(wait_parked(p, 3), 3);
    int gated_runs = 0;
    for (int i = 1; i < 4; i++)
        gated_runs += read_locked(&L.ran_on[i]);
    ck_assert_int_eq(gated_runs, 1);

    /* Raising the count unparks everyone; the limits clamp. */
    ck_assert_int_eq(ember_pool_set_active(p, 99), 4);
    ck_assert_int_eq(wait_parked(p, 0), 0);
    ck_assert_int_eq(ember_pool_set_active(p, 0), 1);
    ck_assert_int_eq(wait_parked(p, 3), 3);
    /* Destroy wakes parked workers and joins them. */
    ember_pool_destroy(p);
}
END_TEST

START_TEST(parked_pool_still_drains_on_destroy)
{
    ember_pool *p = NULL;
    L.open = 1;
    L.finished = 0;
    ck_assert_int_eq(ember_pool_create(3, 64, &p, NULL), 0);
    ck_assert_int_eq(ember_pool_set_active(p, 1), 1);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(ember_pool_submit(p, blocking_job, NULL), 0);
    ember_pool_destroy(p);
    ck_assert_int_eq(L.finished, 50);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool-gating");
    TCase *t = tcase_create("gating");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, gated_workers_park_and_wake_on_backlog);
    tcase_add_test(t, parked_pool_still_drains_on_destroy);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
