/*
 * Inference jobs and their hand-off between the loop thread and the engine's worker pool.
 * The loop thread submits a job into the admission queue (admission.h: priority, then deadline);
 * whenever a worker is free the best job moves to the pool, which therefore never holds more
 * than one job per worker. A worker decodes, runs and encodes it, then queues it on a
 * mutex-protected completion list and wakes the loop with uv_async_send; the loop thread
 * hands each finished job to the on_done callback. A job whose deadline passes while it
 * waits is answered 504 without running; a job whose client leaves while it waits is
 * withdrawn (infer_cancel). Jobs never block the loop.
 *
 * For a model with a response cache or batching (config.json), the loop decodes the body at
 * submit (up to EMBERD_LOOP_DECODE_MAX): a cache hit is answered there and never reaches a
 * worker, and jobs of one model entry with matching shapes leave the queue together as one
 * run (batch.h). A model with "max_threads" may borrow idle workers for one run.
 *
 * Inline runs: for a tiny model the hand-off costs more than the run (two thread wake-ups, the
 * completion signal and their system calls), so a job whose model's engine runs take (an EWMA of
 * ember_session_run's time) at most inline_max_ns runs on the loop thread, in infer_submit, with
 * the loop's own session, when nothing waits in the queue and an active worker is free: it is then
 * exactly the job a worker would take at once, so priorities, deadlines, the 503 bound, the cache
 * and the governor's accounting see what they would have. Never inline: a model not yet measured,
 * one that batches or borrows threads, a raw media body, a body over EMBERD_LOOP_DECODE_MAX (the
 * same bound as the loop's decoding for the cache: decoding costs what the body's size says), a
 * request for its energy. Inline runs take at most half of the loop's time in any
 * EMBERD_INLINE_WINDOW_NS, so the loop keeps serving sockets and timers.
 */
#ifndef EMBERD_INFER_H
#define EMBERD_INFER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <ember/engine.h>

#include "cache.h"
#include "registry.h"

typedef struct infer_queue infer_queue;
struct admission;

enum { JOB_CACHE_OFF, JOB_CACHE_MISS, JOB_CACHE_HIT };

typedef enum infer_kind {
    JOB_INFER, /* run entry on the worker pool */
    JOB_LOAD,  /* (re)load the model named `name` from the repository */
} infer_kind;

typedef struct infer_job {
    infer_kind kind;
    void *owner;        /* who waits for the answer; only the loop thread reads it */
    model_entry *entry; /* the model to run; the job holds a reference */
    char *name;         /* JOB_LOAD: the model to load */
    char *body;         /* the request's body, freed once decoded */
    size_t body_len;
    size_t header_len; /* bytes of JSON at the body's start; the rest is binary tensor data */
    int media;         /* a raw media body's media_kind (media_input.h); 0: KServe JSON */
    int classify;      /* a raw media body's ?classification=K; 0: none */
    char *media_id;    /* a raw media body's ?id= (decoded, malloc'd); NULL: none */
    int priority;      /* 0 high, 1 normal, 2 low */
    uint64_t deadline; /* uv_hrtime() nanoseconds after which it must not start; 0: none */
    uint64_t seq;      /* arrival order, set by the queue */
    int sched_index;   /* its slot in the admission queue; -1 when not queued */
    int computed;      /* a worker ran the model for it */
    uint64_t t_queued, t_started, t_done; /* uv_hrtime() stamps for the metrics */
    int status;                           /* the HTTP status of the answer, set by the worker */
    char *json;                           /* the answer's body, set by the worker */
    size_t json_len;
    size_t json_header_len; /* when the answer carries binary outputs: its JSON's length */
    int want_energy;        /* parameters.energy: answer with the energy it took (power.h) */
    /* Set when the loop thread decoded the body at submit (the model has a cache or batching;
     * body is then NULL); otherwise the worker decodes. */
    int decoded;
    ember_infer_request req;
    int cache_state; /* JOB_CACHE_*: what the model's response cache said */
    uint8_t cache_key[CACHE_KEY_BYTES];
    char *cache_body; /* the answer without its id, for the loop to keep (cache_put) */
    size_t cache_len, cache_header_len;
    struct infer_job *batch_next; /* the next job of the batch this one leads or rides in */
    int batch_rows;               /* on a batch's first job: the rows it ran (metrics) */
    /* Its share of the worker time of the run it was in (metrics, power): t_done - t_started
     * for a run of its own; in a batch, that run's time split by rows, so the shares of a
     * batch's jobs add up to the batch's time once, not once per job. */
    uint64_t compute_ns;
    int workers;                  /* on a job handed to the pool: the workers it occupies */
    int ran_inline;               /* the loop thread ran it (see above) */
    uint64_t run_ns;              /* how long the engine ran it (ember_session_run) */
    infer_queue *queue;
    struct infer_job *next;
} infer_job;

typedef void (*infer_done_fn)(infer_job *job, void *ctx);
/* Sees every job just before on_done (the power governor's observations). */
typedef void (*infer_observe_fn)(infer_job *job, void *ctx);

struct infer_queue {
    ember_pool *pool;
    int nworkers;
    int running;               /* workers occupied by jobs handed to the pool and not yet
                                  delivered, lent ones included; loop thread only */
    int active;                /* workers jobs go to; the rest are parked (set_active) */
    int cpus;                  /* online CPUs: no run borrows workers beyond them */
    uint64_t arrivals;         /* jobs ever submitted */
    uint64_t busy_ns, busy_at; /* integral of running over time, up to busy_at (uv_hrtime) */
    infer_observe_fn observe;  /* NULL, or the power governor's */
    void *observe_ctx;
    struct admission *pending; /* the admission queue (admission.h), malloc'd */
    uv_timer_t expiry;         /* fires at the earliest deadline of a waiting job */
    uint64_t expiry_at;        /* when it is armed for; 0 when stopped */
    uv_timer_t batch_wait;     /* fires when the batch being gathered must leave (batch.h) */
    uint64_t batch_wait_at;    /* when it is armed for; 0 when stopped */
    infer_job **batch_scratch; /* [queue capacity]: candidates while gathering a batch */
    uv_async_t async;
    pthread_mutex_t lock; /* guards done/done_tail, held only to link or unlink a list */
    infer_job *done, *done_tail;
    int in_flight;             /* submitted, not yet handed to on_done; loop thread only */
    uint64_t inline_max_ns;    /* run inline a model whose runs take at most this; 0: never */
    uint64_t inline_window_at; /* start of the current budget window (uv_hrtime) */
    uint64_t inline_spent_ns;  /* inline run time within it */
    infer_done_fn on_done;
    void *ctx;
};

/* inline_max_us: see inline runs above; 0 turns them off. */
int infer_queue_init(infer_queue *q, uv_loop_t *loop, int nworkers, int queue_cap,
                     int inline_max_us, infer_done_fn on_done, void *ctx, ember_err *err);

/* Answer every job still waiting with 503, join the workers (finishing what they hold),
 * deliver what finished, close the handles. The queue memory must stay valid until the loop
 * has run the closes. */
void infer_queue_close(infer_queue *q);

/* A job for entry (taking a reference on it) taking ownership of body (malloc'd). NULL when
 * memory ran out. */
infer_job *infer_job_new(model_entry *entry, char *body, size_t body_len);
/* A JOB_LOAD job for the model name (copied). NULL when memory ran out. */
infer_job *infer_job_new_load(const char *name);
/* Free job and drop its reference on its entry. Loop thread only. */
void infer_job_free(infer_job *job);

/* Queue job (priority and deadline set). 0, or EMBER_EBUSY when the admission queue is
 * full; on failure the caller still owns the job. Once queued, on_done receives it. */
int infer_submit(infer_queue *q, infer_job *job);

/* The job's client left: if the job is still waiting, withdraw it (no compute), hand it to
 * on_done at once and return 1; 0 when it already runs or ran. */
int infer_cancel(infer_queue *q, infer_job *job);

/* Jobs waiting for a worker. */
int infer_queue_depth(const infer_queue *q);
/* Jobs waiting for a worker, per priority (out[0] high .. out[2] low). */
void infer_queue_depths(const infer_queue *q, int out[3]);
/* Worker-nanoseconds spent on jobs from the start up to now (uv_hrtime). */
uint64_t infer_queue_busy_ns(const infer_queue *q, uint64_t now);
/* Hand jobs to workers 0..n-1 only and park the rest (ember_pool_set_active); n is clamped
 * to 1..nworkers. A job then waits in the admission queue, where priority and deadline still
 * order it, rather than in the pool behind a parked worker. Returns the count applied. */
int infer_queue_set_active(infer_queue *q, int n);

#endif
