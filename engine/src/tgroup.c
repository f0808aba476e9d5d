/*
 * The helper threads of a session, and the fork-join that splits one node across them.
 *
 * A job (fn, arg, nparts) is published by storing a new ticket: the job's generation in the
 * high 32 bits, its part count in the next 16 and the next part to hand out in the low 16.
 * Every thread takes parts with a compare-and-swap on the ticket that succeeds only while the
 * generation is the one it read the job under, so a helper slow to arrive can never take a
 * part of a later job, and needs no lock to join. Each finished part bumps done; the caller
 * returns once done reaches nparts, and only then writes the next job's fn and arg.
 *
 * Between jobs of a run (eg_tgroup_begin .. eg_tgroup_end) a helper spins on the ticket,
 * because nodes follow each other within microseconds and a futex wake-up costs tens of them
 * (more on a busy machine), longer than many nodes take; the caller likewise spins while a
 * helper finishes its last part. Both spins are bounded (EG_TGROUP_SPIN_NS, yielding the
 * CPU after EG_TGROUP_YIELD_NS), after which the thread sleeps on a condition variable; the
 * side that makes progress wakes a sleeper only when one has said so (sleepers, waiting), so
 * a run with no sleeper makes no system call. Outside runs helpers sleep: an idle session
 * uses no CPU.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tgroup.h"

/* How long a thread spins for the next job or for the last part before it sleeps, and after
 * how long of that it yields the CPU between looks: when threads outnumber free CPUs (a
 * loaded machine) the thread it waits for may be the one that needs it. */
#define EG_TGROUP_SPIN_NS (200 * 1000)
#define EG_TGROUP_YIELD_NS (20 * 1000)

struct eg_tgroup {
    _Atomic uint64_t ticket; /* generation << 32 | next part */
    _Atomic int done;        /* parts of the current job finished */
    _Atomic(eg_part_fn) fn;  /* the current job, written before its ticket */
    _Atomic(void *) arg;
    _Atomic int running;  /* between eg_tgroup_begin and eg_tgroup_end */
    _Atomic int sleepers; /* helpers asleep (or about to be) on go */
    _Atomic int waiting;  /* the caller asleep (or about to be) on done_cv */
    uint32_t gen;         /* the caller's last generation */
    pthread_mutex_t mu;   /* guards the sleeps, epoch, stop and the counts below */
    pthread_cond_t go, done_cv;
    uint64_t epoch; /* runs begun: wakes helpers to spin */
    int stop;
    int64_t helper_sleeps, caller_sleeps;
    pthread_t *th;
    int nth;
};

typedef struct helper_arg {
    eg_tgroup *tg;
    int index; /* 1..nth: the thread number parts see */
} helper_arg;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static uint32_t gen_of(uint64_t ticket)
{
    return (uint32_t)(ticket >> 32);
}

static uint64_t ticket_of(uint32_t gen, int nparts)
{
    return (uint64_t)gen << 32 | (uint64_t)nparts << 16;
}

/* Takes and runs parts of job gen until none is left (or a later job replaced it). */
static void take_parts(eg_tgroup *tg, uint32_t gen, int thread)
{
    /* Read before the first part is claimed: a successful claim proves these were gen's (the
     * caller replaces them only after every part of gen was claimed and done). */
    eg_part_fn fn = atomic_load_explicit(&tg->fn, memory_order_acquire);
    void *arg = atomic_load_explicit(&tg->arg, memory_order_acquire);
    for (;;) {
        uint64_t t = atomic_load_explicit(&tg->ticket, memory_order_acquire);
        int part, nparts;
        do {
            part = (int)(t & 0xffff);
            nparts = (int)(t >> 16 & 0xffff);
            if (gen_of(t) != gen || part >= nparts)
                return;
        } while (!atomic_compare_exchange_weak_explicit(
            &tg->ticket, &t, t + 1, memory_order_acquire, memory_order_acquire));
        fn(arg, part, nparts, thread);
        if (atomic_fetch_add(&tg->done, 1) + 1 == nparts && atomic_load(&tg->waiting)) {
            pthread_mutex_lock(&tg->mu);
            pthread_cond_signal(&tg->done_cv);
            pthread_mutex_unlock(&tg->mu);
        }
    }
}

/* Spins while a run is on until the ticket leaves generation seen or the spin runs out;
 * returns the last ticket read. */
static uint64_t helper_spin(eg_tgroup *tg, uint32_t seen)
{
    int64_t t0 = now_ns();
    for (;;) {
        for (int i = 0; i < 64; i++) {
            uint64_t t = atomic_load_explicit(&tg->ticket, memory_order_acquire);
            if (gen_of(t) != seen || !atomic_load_explicit(&tg->running, memory_order_relaxed))
                return t;
            cpu_relax();
        }
        int64_t spent = now_ns() - t0;
        if (spent > EG_TGROUP_SPIN_NS)
            return atomic_load_explicit(&tg->ticket, memory_order_acquire);
        if (spent > EG_TGROUP_YIELD_NS)
            sched_yield();
    }
}

/* Sleeps until a job after generation seen is published, a run begins, or the group stops;
 * returns whether it stops. */
static int helper_sleep(eg_tgroup *tg, uint32_t seen)
{
    pthread_mutex_lock(&tg->mu);
    uint64_t epoch = tg->epoch;
    atomic_fetch_add(&tg->sleepers, 1);
    /* sleepers is raised before the ticket is read again, and a publisher stores the ticket
     * before it reads sleepers: either this sees the new job or the publisher sees a sleeper
     * and broadcasts under mu, which it cannot take until this thread waits. */
    while (!tg->stop && tg->epoch == epoch && gen_of(atomic_load(&tg->ticket)) == seen) {
        tg->helper_sleeps++;
        pthread_cond_wait(&tg->go, &tg->mu);
    }
    atomic_fetch_sub(&tg->sleepers, 1);
    int stop = tg->stop;
    pthread_mutex_unlock(&tg->mu);
    return stop;
}

static void *helper_main(void *p)
{
    eg_tgroup *tg = ((helper_arg *)p)->tg;
    int index = ((helper_arg *)p)->index;
    free(p);
    uint32_t seen = 0;
    for (;;) {
        uint64_t t = atomic_load_explicit(&tg->ticket, memory_order_acquire);
        if (gen_of(t) == seen && atomic_load_explicit(&tg->running, memory_order_relaxed))
            t = helper_spin(tg, seen);
        if (gen_of(t) == seen) {
            if (helper_sleep(tg, seen))
                return NULL;
            continue;
        }
        seen = gen_of(t);
        take_parts(tg, seen, index);
    }
}

void eg_tgroup_free(eg_tgroup *tg)
{
    if (!tg)
        return;
    atomic_store(&tg->running, 0);
    pthread_mutex_lock(&tg->mu);
    tg->stop = 1;
    pthread_cond_broadcast(&tg->go);
    pthread_mutex_unlock(&tg->mu);
    for (int i = 0; i < tg->nth; i++)
        pthread_join(tg->th[i], NULL);
    pthread_cond_destroy(&tg->go);
    pthread_cond_destroy(&tg->done_cv);
    pthread_mutex_destroy(&tg->mu);
    free(tg->th);
    free(tg);
}

int eg_tgroup_new(int nhelpers, eg_tgroup **out, ember_err *err)
{
    if (nhelpers < 1 || nhelpers > EG_TGROUP_MAX_HELPERS)
        return ember_err_set(err, EMBER_EINVAL, "helper threads: need 1..%d, got %d",
                             EG_TGROUP_MAX_HELPERS, nhelpers);
    eg_tgroup *tg = calloc(1, sizeof *tg);
    if (!tg || !(tg->th = calloc((size_t)nhelpers, sizeof *tg->th))) {
        free(tg);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for helper threads");
    }
    pthread_mutex_init(&tg->mu, NULL);
    pthread_cond_init(&tg->go, NULL);
    pthread_cond_init(&tg->done_cv, NULL);
    for (int i = 0; i < nhelpers; i++) {
        helper_arg *ha = malloc(sizeof *ha);
        if (ha)
            *ha = (helper_arg){tg, i + 1};
        int rc = ha ? pthread_create(&tg->th[i], NULL, helper_main, ha) : ENOMEM;
        if (rc != 0) {
            free(ha);
            eg_tgroup_free(tg);
            return ember_err_set(err, rc == ENOMEM ? EMBER_ENOMEM : EMBER_EIO,
                                 "cannot start helper thread %d: %s", i + 1, strerror(rc));
        }
        tg->nth++;
    }
    *out = tg;
    return 0;
}

int eg_tgroup_threads(const eg_tgroup *tg)
{
    return tg->nth + 1;
}

void eg_tgroup_begin(eg_tgroup *tg)
{
    pthread_mutex_lock(&tg->mu);
    atomic_store(&tg->running, 1);
    tg->epoch++;
    if (atomic_load(&tg->sleepers) > 0)
        pthread_cond_broadcast(&tg->go);
    pthread_mutex_unlock(&tg->mu);
}

void eg_tgroup_end(eg_tgroup *tg)
{
    atomic_store(&tg->running, 0);
}

void eg_tgroup_run(eg_tgroup *tg, eg_part_fn fn, void *arg, int nparts)
{
    if (nparts < 1)
        return;
    if (nparts > EG_TGROUP_MAX_PARTS) {
        for (int part = 0; part < nparts; part++)
            fn(arg, part, nparts, 0);
        return;
    }
    atomic_store_explicit(&tg->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&tg->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&tg->done, 0, memory_order_relaxed);
    uint32_t gen = ++tg->gen;
    /* The ticket's store publishes the fields above; sequentially consistent so that the
     * read of sleepers below cannot come first (see helper_sleep). */
    atomic_store(&tg->ticket, ticket_of(gen, nparts));
    if (atomic_load(&tg->sleepers) > 0) {
        pthread_mutex_lock(&tg->mu);
        pthread_cond_broadcast(&tg->go);
        pthread_mutex_unlock(&tg->mu);
    }
    take_parts(tg, gen, 0);
    if (atomic_load(&tg->done) == nparts)
        return;
    int64_t t0 = now_ns();
    for (int spins = 0; atomic_load(&tg->done) < nparts; spins++) {
        cpu_relax();
        if (spins % 64 != 63)
            continue;
        int64_t spent = now_ns() - t0;
        if (spent > EG_TGROUP_SPIN_NS)
            break;
        if (spent > EG_TGROUP_YIELD_NS)
            sched_yield();
    }
    pthread_mutex_lock(&tg->mu);
    atomic_store(&tg->waiting, 1);
    /* As with sleepers: waiting is raised before done is read, and a finisher bumps done
     * before it reads waiting. */
    while (atomic_load(&tg->done) < nparts) {
        tg->caller_sleeps++;
        pthread_cond_wait(&tg->done_cv, &tg->mu);
    }
    atomic_store(&tg->waiting, 0);
    pthread_mutex_unlock(&tg->mu);
}

void eg_tgroup_sleeps(eg_tgroup *tg, int64_t *helper_sleeps, int64_t *caller_sleeps)
{
    pthread_mutex_lock(&tg->mu);
    *helper_sleeps = tg->helper_sleeps;
    *caller_sleeps = tg->caller_sleeps;
    pthread_mutex_unlock(&tg->mu);
}
