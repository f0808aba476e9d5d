/*
 * Inference jobs. The loop thread keeps waiting jobs in the admission queue and moves the
 * best one to the pool whenever a worker is free (infer_pump), answering 504 for one whose
 * deadline passed instead; a timer set to the earliest deadline expires waiting jobs even
 * while every worker is busy. On a worker thread a job decodes its JSON body (or its raw
 * image or sound, media_input.c) against the model, runs it with that worker's own session
 * for the model, encodes the selected outputs, and links itself onto the queue's completion
 * list; uv_async_send then wakes the loop thread, which takes the whole list in one short
 * critical section and hands each job to on_done. A job whose client went away is the owner's
 * to drop; this file never touches connections.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "infer.h"
#include "admission.h"
#include "media_input.h"

infer_job *infer_job_new(model_entry *entry, char *body, size_t body_len)
{
    infer_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->kind = JOB_INFER;
    job->sched_index = -1;
    job->priority = 1;
    job->entry = entry;
    registry_entry_ref(entry);
    job->body = body;
    job->body_len = body_len;
    job->header_len = body_len;
    return job;
}

infer_job *infer_job_new_load(const char *name)
{
    infer_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->kind = JOB_LOAD;
    job->sched_index = -1;
    job->name = strdup(name);
    if (!job->name) {
        free(job);
        return NULL;
    }
    return job;
}

void infer_job_free(infer_job *job)
{
    if (!job)
        return;
    registry_entry_unref(job->entry);
    free(job->name);
    free(job->body);
    free(job->json);
    free(job);
}

static void job_answer_error(infer_job *job, int status, const char *msg)
{
    job->status = status;
    job->json_header_len = 0;
    free(job->json);
    job->json = ember_kserve_error_json(msg, &job->json_len);
}

/* The requested outputs, in order, those asked for with "classification" as top-K strings
 * (for media_classify_free). */
static int job_select_outputs(const model_entry *e, const ember_infer_request *req,
                              const ember_tensor *outs, ember_named_tensor *named, ember_err *err)
{
    for (int i = 0; i < req->noutputs; i++) {
        named[i].name = e->outputs[req->outputs[i]].name;
        named[i].tensor = outs[req->outputs[i]];
    }
    return media_classify(e, req, named, err);
}

/* Decode, run, encode: everything a job does, on worker `worker`. */
static void job_execute(infer_job *job, int worker)
{
    model_entry *e = job->entry;
    ember_err err = {{0}};
    ember_infer_request req;
    int rc = job->media ? media_decode(job, &req, &err)
                        : ember_kserve_decode_request_binary(job->body, job->body_len,
                                                             job->header_len, e->inputs, e->ninputs,
                                                             e->outputs, e->noutputs, &req, &err);
    free(job->body);
    job->body = NULL;
    if (rc < 0) {
        int status = rc == EMBER_ENOMEM ? 500 : 400;
        job_answer_error(job, job->media ? media_status(rc) : status, err.msg);
        return;
    }

    ember_session *s = NULL;
    ember_tensor *outs = calloc((size_t)(e->noutputs > 0 ? e->noutputs : 1), sizeof *outs);
    ember_named_tensor *named =
        calloc((size_t)(req.noutputs > 0 ? req.noutputs : 1), sizeof *named);
    if (!outs || !named) {
        job_answer_error(job, 500, "out of memory");
    } else if ((rc = registry_session(e, worker, &s, &err)) < 0) {
        job_answer_error(job, 500, err.msg);
    } else if ((rc = ember_session_run(s, req.inputs, req.ninputs, outs, e->noutputs, &err)) < 0) {
        /* The engine reports a bad input as ESHAPE or EINVAL: the client's to fix. */
        job_answer_error(job, rc == EMBER_ESHAPE || rc == EMBER_EINVAL ? 400 : 500, err.msg);
    } else if ((rc = job_select_outputs(e, &req, outs, named, &err)) < 0) {
        job_answer_error(job, rc == EMBER_ENOMEM ? 500 : 400, err.msg);
    } else {
        int any_binary = 0;
        for (int i = 0; i < req.noutputs; i++)
            any_binary |= req.binary[i];
        size_t header_len = 0;
        rc = ember_kserve_encode_response_binary(e->name, e->version_str, req.id, named,
                                                 req.noutputs, any_binary ? req.binary : NULL,
                                                 &job->json, &job->json_len, &header_len, &err);
        if (any_binary)
            job->json_header_len = header_len;
        if (rc < 0)
            job_answer_error(job, 500, err.msg);
        else
            job->status = 200;
    }
    media_classify_free(named, req.noutputs);
    free(named);
    free(outs);
    ember_infer_request_clear(&req);
}

static const char job_expired_msg[] =
    "the request's deadline (parameters.timeout_ms) passed before a worker could run it";

static void job_run(void *arg, int worker)
{
    infer_job *job = arg;
    infer_queue *q = job->queue;
    job->t_started = uv_hrtime();
    /* A worker may have been slow to take it (parked, say): the deadline still holds. */
    if (job->deadline && job->t_started >= job->deadline) {
        job_answer_error(job, 504, job_expired_msg);
    } else {
        job->computed = 1;
        job_execute(job, worker);
    }
    job->t_done = uv_hrtime();
    if (!job->json)
        job->status = 500; /* the error body itself could not be allocated */
    pthread_mutex_lock(&q->lock);
    job->next = NULL;
    if (q->done_tail)
        q->done_tail->next = job;
    else
        q->done = job;
    q->done_tail = job;
    pthread_mutex_unlock(&q->lock);
    uv_async_send(&q->async);
}

/* Hand a job that leaves without (or after) running to on_done. Loop thread. */
static void queue_finish(infer_queue *q, infer_job *job)
{
    q->in_flight--;
    if (q->observe)
        q->observe(job, q->observe_ctx);
    q->on_done(job, q->ctx);
}

static void queue_expire(infer_queue *q, infer_job *job, uint64_t now)
{
    job->t_started = job->t_done = now;
    job_answer_error(job, 504, job_expired_msg);
    queue_finish(q, job);
}

static void queue_on_expiry(uv_timer_t *t);

/* Keep the expiry timer at the earliest deadline of a waiting job. */
static void queue_arm(infer_queue *q)
{
    uint64_t at = admission_earliest_deadline(q->pending);
    if (at == q->expiry_at)
        return;
    q->expiry_at = at;
    if (!at) {
        uv_timer_stop(&q->expiry);
        return;
    }
    uint64_t now = uv_hrtime();
    uint64_t ms = at > now ? (at - now + 999999) / 1000000 : 0;
    uv_timer_start(&q->expiry, queue_on_expiry, ms, 0);
}

/* Account for the worker time of the jobs running so far; call before running changes. */
static void queue_busy_mark(infer_queue *q, uint64_t now)
{
    q->busy_ns += (uint64_t)q->running * (now - q->busy_at);
    q->busy_at = now;
}

/* Move waiting jobs to free active workers, best first. */
static void infer_pump(infer_queue *q)
{
    infer_job *job;
    while (q->pool && q->running < q->active && (job = admission_pop(q->pending))) {
        uint64_t now = uv_hrtime();
        if (job->deadline && now >= job->deadline) {
            queue_expire(q, job, now);
            continue;
        }
        if (ember_pool_submit(q->pool, job_run, job) < 0) {
            /* Cannot happen while running < nworkers; answer rather than lose the job. */
            job_answer_error(job, 503, "the workers are shutting down");
            queue_finish(q, job);
            continue;
        }
        queue_busy_mark(q, now);
        q->running++;
    }
    if (q->pending)
        queue_arm(q);
}

static void queue_on_expiry(uv_timer_t *t)
{
    infer_queue *q = t->data;
    uint64_t now = uv_hrtime();
    q->expiry_at = 0;
    infer_job *job;
    while ((job = admission_pop_expired(q->pending, now)))
        queue_expire(q, job, now);
    queue_arm(q);
}

static void queue_deliver(infer_queue *q)
{
    pthread_mutex_lock(&q->lock);
    infer_job *job = q->done;
    q->done = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (job) {
        infer_job *next = job->next;
        queue_busy_mark(q, uv_hrtime());
        q->running--;
        queue_finish(q, job);
        job = next;
    }
}

static void queue_on_async(uv_async_t *async)
{
    infer_queue *q = async->data;
    queue_deliver(q);
    infer_pump(q);
}

int infer_queue_init(infer_queue *q, uv_loop_t *loop, int nworkers, int queue_cap,
                     infer_done_fn on_done, void *ctx, ember_err *err)
{
    memset(q, 0, sizeof *q);
    q->on_done = on_done;
    q->ctx = ctx;
    q->nworkers = q->active = nworkers;
    q->busy_at = uv_hrtime();
    q->pending = calloc(1, sizeof *q->pending);
    if (!q->pending)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = admission_init(q->pending, queue_cap, err);
    if (rc < 0) {
        free(q->pending);
        return rc;
    }
    rc = uv_async_init(loop, &q->async, queue_on_async);
    if (rc < 0) {
        admission_free(q->pending);
        free(q->pending);
        return ember_err_set(err, EMBER_EIO, "cannot create the completion signal: %s",
                             uv_strerror(rc));
    }
    q->async.data = q;
    uv_timer_init(loop, &q->expiry);
    q->expiry.data = q;
    pthread_mutex_init(&q->lock, NULL);
    /* The pool holds at most one job per worker: waiting happens in q->pending. */
    rc = ember_pool_create(nworkers, nworkers, &q->pool, err);
    if (rc < 0) {
        pthread_mutex_destroy(&q->lock);
        uv_close((uv_handle_t *)&q->async, NULL);
        uv_close((uv_handle_t *)&q->expiry, NULL);
        admission_free(q->pending);
        free(q->pending);
        q->pending = NULL;
        return rc;
    }
    return 0;
}

void infer_queue_close(infer_queue *q)
{
    infer_job *job;
    while ((job = admission_pop(q->pending))) {
        job_answer_error(job, 503, "the server is shutting down");
        queue_finish(q, job);
    }
    ember_pool_destroy(q->pool);
    q->pool = NULL;
    queue_deliver(q);
    pthread_mutex_destroy(&q->lock);
    uv_close((uv_handle_t *)&q->async, NULL);
    uv_close((uv_handle_t *)&q->expiry, NULL);
    admission_free(q->pending);
    free(q->pending);
    q->pending = NULL;
}

int infer_submit(infer_queue *q, infer_job *job)
{
    job->queue = q;
    job->t_queued = uv_hrtime();
    int rc = admission_push(q->pending, job);
    if (rc < 0)
        return rc;
    q->in_flight++;
    q->arrivals++;
    infer_pump(q);
    return 0;
}

int infer_cancel(infer_queue *q, infer_job *job)
{
    if (!q->pending || !admission_remove(q->pending, job))
        return 0;
    job->t_started = job->t_done = uv_hrtime();
    job_answer_error(job, 499, "the client went away before its request ran");
    queue_finish(q, job);
    return 1;
}

int infer_queue_depth(const infer_queue *q)
{
    return q->pending ? q->pending->n : 0;
}

void infer_queue_depths(const infer_queue *q, int out[3])
{
    out[0] = out[1] = out[2] = 0;
    if (q->pending)
        admission_depths(q->pending, out);
}

uint64_t infer_queue_busy_ns(const infer_queue *q, uint64_t now)
{
    return q->busy_ns + (now > q->busy_at ? (uint64_t)q->running * (now - q->busy_at) : 0);
}

int infer_queue_set_active(infer_queue *q, int n)
{
    if (!q->pool)
        return q->active;
    q->active = ember_pool_set_active(q->pool, n);
    infer_pump(q);
    return q->active;
}
