/*
 * The worker pool: N threads taking jobs from one bounded FIFO ring.
 *
 * Submitters push under the mutex and signal one waiting worker; a worker pops, drops the lock
 * and runs the job. The ring is allocated once, so a full queue is an immediate EMBER_EBUSY
 * rather than unbounded memory. Destroy marks the pool closing, lets the workers drain what is
 * queued, and joins them.
 *
 * Gating (ember_pool_set_active, for the power governor): workers with an index at or above
 * the active count park on their own condition variable instead of waiting for work, and a
 * submit wakes one of them only when more jobs wait than there are active workers.
 */
#include <pthread.h>
#include <stdlib.h>

#include <ember/engine.h>

typedef struct pool_job {
    ember_job_fn fn;
    void *arg;
} pool_job;

typedef struct pool_worker {
    ember_pool *pool;
    int index;
    pthread_t thread;
} pool_worker;

struct ember_pool {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    pool_job *ring;
    int cap, head, count;
    int closing;
    int nworkers;
    pool_worker *workers;
    /* Gating: workers with index >= active park on unpark; parked counts them. */
    pthread_cond_t unpark;
    int active, parked;
};

/* Whether worker index should park now: it is beyond the active count and the active workers
 * can take what is queued. Called with the lock held. */
static int pool_gated(const ember_pool *p, int index)
{
    return index >= p->active && p->count <= p->active && !p->closing;
}

/* Wait, with the lock held, until there is a job for worker index or the pool is closing;
 * a gated worker parks meanwhile. */
static void pool_wait_for_work(ember_pool *p, int index)
{
    for (;;) {
        if (pool_gated(p, index)) {
            p->parked++;
            pthread_cond_wait(&p->unpark, &p->lock);
            p->parked--;
        } else if (p->count == 0 && !p->closing) {
            pthread_cond_wait(&p->nonempty, &p->lock);
        } else {
            return;
        }
    }
}

/* After a submit, with the lock held: wake a parked worker if the queue outgrew the active
 * workers. */
static void pool_wake_parked(ember_pool *p)
{
    if (p->parked > 0 && p->count > p->active)
        pthread_cond_signal(&p->unpark);
}

static void *pool_worker_main(void *arg)
{
    pool_worker *w = arg;
    ember_pool *p = w->pool;

    for (;;) {
        pthread_mutex_lock(&p->lock);
        pool_wait_for_work(p, w->index);
        if (p->count == 0) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        pool_job job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->lock);
        job.fn(job.arg, w->index);
    }
}

int ember_pool_create(int nworkers, int queue_cap, ember_pool **out, ember_err *err)
{
    if (nworkers < 1 || nworkers > 1024 || queue_cap < 1)
        return ember_err_set(err, EMBER_EINVAL, "pool: need 1..1024 workers and a queue (got %d, %d)",
                             nworkers, queue_cap);
    ember_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ember_err_set(err, EMBER_ENOMEM, "pool: out of memory");
    p->ring = calloc((size_t)queue_cap, sizeof *p->ring);
    p->workers = calloc((size_t)nworkers, sizeof *p->workers);
    if (!p->ring || !p->workers) {
        free(p->ring);
        free(p->workers);
        free(p);
        return ember_err_set(err, EMBER_ENOMEM, "pool: out of memory");
    }
    p->cap = queue_cap;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    pthread_cond_init(&p->unpark, NULL);
    p->active = nworkers;
    for (int i = 0; i < nworkers; i++) {
        p->workers[i].pool = p;
        p->workers[i].index = i;
        if (pthread_create(&p->workers[i].thread, NULL, pool_worker_main, &p->workers[i]) != 0) {
            p->nworkers = i;
            ember_pool_destroy(p);
            return ember_err_set(err, EMBER_ENOMEM, "pool: cannot start worker thread %d", i);
        }
        p->nworkers = i + 1;
    }
    *out = p;
    return 0;
}

int ember_pool_submit(ember_pool *p, ember_job_fn fn, void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        rc = EMBER_ESTATE;
    } else if (p->count == p->cap) {
        rc = EMBER_EBUSY;
    } else {
        p->ring[(p->head + p->count) % p->cap] = (pool_job){fn, arg};
        p->count++;
        pthread_cond_signal(&p->nonempty);
        pool_wake_parked(p);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int ember_pool_nworkers(const ember_pool *p)
{
    return p->nworkers;
}

int ember_pool_queued(ember_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int ember_pool_set_active(ember_pool *p, int n)
{
    if (n < 1)
        n = 1;
    if (n > p->nworkers)
        n = p->nworkers;
    pthread_mutex_lock(&p->lock);
    p->active = n;
    /* Newly active workers leave their park; newly gated ones waiting for work re-check. */
    pthread_cond_broadcast(&p->unpark);
    pthread_cond_broadcast(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    return n;
}

int ember_pool_parked(ember_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->parked;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void ember_pool_destroy(ember_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    pthread_cond_broadcast(&p->nonempty);
    pthread_cond_broadcast(&p->unpark);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->nonempty);
    pthread_cond_destroy(&p->unpark);
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p->ring);
    free(p);
}
