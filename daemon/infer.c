/*
 * Inference jobs. On a worker thread a job decodes its JSON body against the model, runs it
 * with that worker's own session for the model, encodes the selected outputs, and links
 * itself onto the queue's completion list; uv_async_send then wakes the loop thread, which
 * takes the whole list in one short critical section and hands each job to on_done. A job
 * whose client went away is the owner's to drop; this file never touches connections.
 */
#include <stdlib.h>
#include <string.h>

#include <ember/proto.h>

#include "infer.h"

infer_job *infer_job_new(model_entry *entry, char *body, size_t body_len)
{
    infer_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->entry = entry;
    job->body = body;
    job->body_len = body_len;
    return job;
}

void infer_job_free(infer_job *job)
{
    if (!job)
        return;
    free(job->body);
    free(job->json);
    free(job);
}

static void job_answer_error(infer_job *job, int status, const char *msg)
{
    job->status = status;
    free(job->json);
    job->json = ember_kserve_error_json(msg, &job->json_len);
}

/* Decode, run, encode: everything a job does, on worker `worker`. */
static void job_execute(infer_job *job, int worker)
{
    model_entry *e = job->entry;
    ember_err err = {{0}};
    ember_infer_request req;
    int rc = ember_kserve_decode_request(job->body, job->body_len, e->inputs, e->ninputs,
                                         e->outputs, e->noutputs, &req, &err);
    free(job->body);
    job->body = NULL;
    if (rc < 0) {
        job_answer_error(job, rc == EMBER_ENOMEM ? 500 : 400, err.msg);
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
    } else {
        for (int i = 0; i < req.noutputs; i++) {
            named[i].name = e->outputs[req.outputs[i]].name;
            named[i].tensor = outs[req.outputs[i]];
        }
        rc = ember_kserve_encode_response(e->name, e->version_str, req.id, named, req.noutputs,
                                          &job->json, &job->json_len, &err);
        if (rc < 0)
            job_answer_error(job, 500, err.msg);
        else
            job->status = 200;
    }
    free(named);
    free(outs);
    ember_infer_request_clear(&req);
}

static void job_run(void *arg, int worker)
{
    infer_job *job = arg;
    infer_queue *q = job->queue;
    job_execute(job, worker);
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

static void queue_deliver(infer_queue *q)
{
    pthread_mutex_lock(&q->lock);
    infer_job *job = q->done;
    q->done = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (job) {
        infer_job *next = job->next;
        q->in_flight--;
        q->on_done(job, q->ctx);
        job = next;
    }
}

static void queue_on_async(uv_async_t *async)
{
    queue_deliver(async->data);
}

int infer_queue_init(infer_queue *q, uv_loop_t *loop, int nworkers, int queue_cap,
                     infer_done_fn on_done, void *ctx, ember_err *err)
{
    memset(q, 0, sizeof *q);
    q->on_done = on_done;
    q->ctx = ctx;
    int rc = uv_async_init(loop, &q->async, queue_on_async);
    if (rc < 0)
        return ember_err_set(err, EMBER_EIO, "cannot create the completion signal: %s",
                             uv_strerror(rc));
    q->async.data = q;
    pthread_mutex_init(&q->lock, NULL);
    rc = ember_pool_create(nworkers, queue_cap, &q->pool, err);
    if (rc < 0) {
        pthread_mutex_destroy(&q->lock);
        uv_close((uv_handle_t *)&q->async, NULL);
        return rc;
    }
    return 0;
}

void infer_queue_close(infer_queue *q)
{
    ember_pool_destroy(q->pool);
    q->pool = NULL;
    queue_deliver(q);
    pthread_mutex_destroy(&q->lock);
    uv_close((uv_handle_t *)&q->async, NULL);
}

int infer_submit(infer_queue *q, infer_job *job)
{
    job->queue = q;
    int rc = ember_pool_submit(q->pool, job_run, job);
    if (rc == 0)
        q->in_flight++;
    return rc;
}
