/*
 * Inference jobs and their hand-off between the loop thread and the engine's worker pool.
 * The loop thread submits a job; a worker decodes, runs and encodes it, then queues it on a
 * mutex-protected completion list and wakes the loop with uv_async_send; the loop thread
 * hands each finished job to the on_done callback. Jobs never block the loop.
 */
#ifndef EMBERD_INFER_H
#define EMBERD_INFER_H

#include <pthread.h>
#include <stddef.h>

#include <uv.h>

#include <ember/engine.h>

#include "registry.h"

typedef struct infer_queue infer_queue;

typedef struct infer_job {
    void *owner;        /* who waits for the answer; only the loop thread reads it */
    model_entry *entry; /* the model to run; outlives every job */
    char *body;         /* the request's JSON, freed once decoded */
    size_t body_len;
    int status; /* the HTTP status of the answer, set by the worker */
    char *json; /* the answer's body, set by the worker */
    size_t json_len;
    infer_queue *queue;
    struct infer_job *next;
} infer_job;

typedef void (*infer_done_fn)(infer_job *job, void *ctx);

struct infer_queue {
    ember_pool *pool;
    uv_async_t async;
    pthread_mutex_t lock; /* guards done/done_tail, held only to link or unlink a list */
    infer_job *done, *done_tail;
    int in_flight; /* submitted, not yet handed to on_done; loop thread only */
    infer_done_fn on_done;
    void *ctx;
};

int infer_queue_init(infer_queue *q, uv_loop_t *loop, int nworkers, int queue_cap,
                     infer_done_fn on_done, void *ctx, ember_err *err);

/* Join the workers (finishing what is queued), deliver what finished, close the async
 * handle. The queue memory must stay valid until the loop has run the close. */
void infer_queue_close(infer_queue *q);

/* A job for entry taking ownership of body (malloc'd). NULL when memory ran out. */
infer_job *infer_job_new(model_entry *entry, char *body, size_t body_len);
void infer_job_free(infer_job *job);

/* 0, EMBER_EBUSY when the pool's queue is full, EMBER_ESTATE when it is shutting down.
 * On failure the caller still owns the job. */
int infer_submit(infer_queue *q, infer_job *job);

#endif
