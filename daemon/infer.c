/*
 * Inference jobs. The loop thread keeps waiting jobs in the admission queue and moves the
 * best one to the pool whenever a worker is free (infer_pump), answering 504 for one whose
 * deadline passed instead; a timer set to the earliest deadline expires waiting jobs even
 * while every worker is busy. On a worker thread a job decodes its JSON body (or its raw
 * image or sound, media_input.c) against the model, runs it with that worker's own session
 * for the model, encodes the selected outputs, and links itself onto the queue's completion
 * list; uv_async_send then wakes the loop thread, which takes the whole list in one short
 * critical section and hands each job to on_done. A job whose client went away is the
 * owner's to drop; this file never touches connections.
 *
 * A job handed to the pool may lead a batch (batch.h: its riders hang on batch_next, all
 * run by one session call and delivered one by one) and may occupy more than one worker
 * (workers, lent by queue_lend), which the loop counts in running until it is delivered.
 * Delivery also keeps a cache miss's answer in its model's cache (cache.h).
 *
 * The one exception to "workers run models": a tiny model's job may run inline, on the loop
 * thread inside infer_submit, when a worker would have taken it at once (infer.h says when,
 * and how the loop's time stays bounded). Queue finishing keeps each model's service time
 * (model_entry.service_ns) for that decision.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember/proto.h>

#include "infer.h"
#include "admission.h"
#include "batch.h"
#include "limits.h"
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
    if (job->decoded)
        ember_infer_request_clear(&job->req);
    free(job->cache_body);
    free(job->media_id);
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

/* Decode the job's body unless the loop thread did: 0, or the error answered. */
static int job_decode(infer_job *job)
{
    if (job->decoded)
        return 0;
    model_entry *e = job->entry;
    ember_err err = {{0}};
    int rc = job->media ? media_decode(job, &job->req, &err)
                        : ember_kserve_decode_request_binary(job->body, job->body_len,
                                                             job->header_len, e->inputs, e->ninputs,
                                                             e->outputs, e->noutputs, &job->req, &err);
    free(job->body);
    job->body = NULL;
    if (rc < 0) {
        int status = rc == EMBER_ENOMEM ? 500 : 400;
        job_answer_error(job, job->media ? media_status(rc) : status, err.msg);
        return rc;
    }
    job->decoded = 1;
    return 0;
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

/* Encode the job's answer from outs, the model's outputs for this job's rows. A job whose
 * answer the cache will keep is encoded without its id, which is then spliced in exactly as
 * on a hit (cache.h), so a miss and a hit are the same bytes. */
static void job_encode(infer_job *job, const ember_tensor *outs)
{
    model_entry *e = job->entry;
    const ember_infer_request *req = &job->req;
    ember_err err = {{0}};
    ember_named_tensor *named =
        calloc((size_t)(req->noutputs > 0 ? req->noutputs : 1), sizeof *named);
    if (!named) {
        job_answer_error(job, 500, "out of memory");
        return;
    }
    int rc = job_select_outputs(e, req, outs, named, &err);
    if (rc < 0) {
        free(named);
        job_answer_error(job, rc == EMBER_ENOMEM ? 500 : 400, err.msg);
        return;
    }
    int any_binary = 0;
    for (int i = 0; i < req->noutputs; i++)
        any_binary |= req->binary[i];
    int keep = job->cache_state == JOB_CACHE_MISS;
    char *body = NULL;
    size_t len = 0, header_len = 0;
    rc = ember_kserve_encode_response_binary(e->name, e->version_str, keep ? NULL : req->id,
                                             named, req->noutputs,
                                             any_binary ? req->binary : NULL, &body, &len,
                                             &header_len, &err);
    media_classify_free(named, req->noutputs);
    free(named);
    if (rc < 0) {
        job_answer_error(job, 500, err.msg);
        return;
    }
    if (!any_binary)
        header_len = 0;
    if (!keep) {
        job->json = body;
        job->json_len = len;
        job->json_header_len = header_len;
    } else if (cache_answer(body, len, header_len, e->name, e->version_str, req->id, &job->json,
                            &job->json_len, &job->json_header_len) < 0) {
        free(body);
        job_answer_error(job, 500, "out of memory");
        return;
    } else {
        job->cache_body = body;
        job->cache_len = len;
        job->cache_header_len = header_len;
    }
    job->status = 200;
}

/* Every output of a batched run must have the batch's rows first, to be sliced back. */
static int batch_outputs_check(const model_entry *e, const ember_tensor *outs, int64_t rows,
                               ember_err *err)
{
    for (int i = 0; i < e->noutputs; i++)
        if (outs[i].rank < 1 || outs[i].dims[0] != rows)
            return ember_err_set(err, EMBER_EUNSUPPORTED,
                                 "model '%s' output '%s' came back with %lld rows from a batch "
                                 "of %lld: its first dimension is not the batch",
                                 e->name, e->outputs[i].name,
                                 (long long)(outs[i].rank < 1 ? 0 : outs[i].dims[0]),
                                 (long long)rows);
    return 0;
}

/* Decode (unless done), run and encode the jobs head, head->batch_next, ... as one session
 * call on worker `worker` with `threads` threads; each job gets its own answer. */
static void job_execute(infer_job *head, int worker, int threads)
{
    model_entry *e = head->entry;
    if (job_decode(head) < 0)
        return;
    ember_err err = {{0}};
    ember_session *s = NULL;
    ember_tensor *joined = NULL;
    int64_t rows = batch_eligible(head) ? batch_job_rows(head) : 0;
    ember_tensor *outs = calloc((size_t)(e->noutputs > 0 ? e->noutputs : 1), sizeof *outs);
    int rc = outs ? registry_session(e, worker, &s, &err)
                  : ember_err_set(&err, EMBER_ENOMEM, "out of memory");
    /* The workers lent to this run (queue_lend); when helpers cannot start the session
     * stays on one thread and the run goes on. */
    if (rc == 0 && ember_session_threads(s) != threads)
        ember_session_set_threads(s, threads, NULL);
    if (rc == 0 && head->batch_next) {
        for (const infer_job *j = head->batch_next; j; j = j->batch_next)
            rows += batch_job_rows(j);
        joined = calloc((size_t)head->req.ninputs, sizeof *joined);
        rc = joined ? batch_inputs_join(head, joined, &err)
                    : ember_err_set(&err, EMBER_ENOMEM, "out of memory");
    }
    head->batch_rows = (int)rows;
    if (rc == 0) {
        uint64_t t0 = uv_hrtime();
        rc = ember_session_run(s, joined ? joined : head->req.inputs, head->req.ninputs, outs,
                               e->noutputs, &err);
        head->run_ns = uv_hrtime() - t0;
    }
    if (rc == 0 && joined)
        rc = batch_outputs_check(e, outs, rows, &err);
    if (rc < 0) {
        /* The engine reports a bad input as ESHAPE or EINVAL: the client's to fix. */
        int status = rc == EMBER_ESHAPE || rc == EMBER_EINVAL ? 400 : 500;
        for (infer_job *j = head; j; j = j->batch_next)
            job_answer_error(j, status, err.msg);
    } else if (!joined) {
        job_encode(head, outs);
    } else {
        ember_tensor *part = calloc((size_t)e->noutputs, sizeof *part);
        int64_t first = 0;
        for (infer_job *j = head; j; j = j->batch_next) {
            int64_t r = batch_job_rows(j);
            for (int i = 0; part && i < e->noutputs; i++)
                part[i] = batch_slice(&outs[i], first, r);
            if (part)
                job_encode(j, part);
            else
                job_answer_error(j, 500, "out of memory");
            first += r;
        }
        free(part);
    }
    if (joined)
        batch_inputs_free(joined, head->req.ninputs);
    free(joined);
    free(outs);
}

static const char job_expired_msg[] =
    "the request's deadline (parameters.timeout_ms) passed before a worker could run it";

/* Split the run of live, live->batch_next, ... (done at now) among them by rows; the last
 * takes the rounding, so the shares add up to the run's time exactly. */
static void job_share_compute(infer_job *live, uint64_t now)
{
    if (!live)
        return;
    uint64_t run = now - live->t_started;
    if (!live->batch_next) {
        live->compute_ns = run;
        return;
    }
    uint64_t rows = 0, given = 0;
    for (const infer_job *j = live; j; j = j->batch_next)
        rows += (uint64_t)batch_job_rows(j);
    for (infer_job *j = live; j; j = j->batch_next) {
        j->compute_ns = j->batch_next ? run * (uint64_t)batch_job_rows(j) / rows : run - given;
        given += j->compute_ns;
    }
}

/* Run first and the jobs batched with it on worker `worker` (a worker thread, or the loop
 * thread for an inline run), stamping each; returns the last of them, linked through next. */
static infer_job *job_process(infer_job *first, int worker)
{
    uint64_t now = uv_hrtime();
    /* A worker may have been slow to take it (parked, say): the deadlines still hold. The
     * jobs still in time run together; every job is delivered, in batch order. */
    infer_job *live = NULL, **live_tail = &live, *last = first;
    for (infer_job *j = first, *next; j; j = next) {
        next = j->batch_next;
        j->next = next;
        last = j;
        j->batch_next = NULL;
        j->t_started = now;
        if (j->deadline && now >= j->deadline) {
            job_answer_error(j, 504, job_expired_msg);
        } else {
            j->computed = 1;
            *live_tail = j;
            live_tail = &j->batch_next;
        }
    }
    if (live)
        job_execute(live, worker, first->workers);
    now = uv_hrtime();
    for (infer_job *j = first; j; j = j->next) {
        j->t_done = now;
        if (!j->json)
            j->status = 500; /* the error body itself could not be allocated */
    }
    job_share_compute(live, now);
    return last;
}

/* A worker runs the job handed to the pool and the jobs batched with it. */
static void job_run(void *arg, int worker)
{
    infer_job *first = arg;
    infer_queue *q = first->queue;
    infer_job *last = job_process(first, worker);
    pthread_mutex_lock(&q->lock);
    if (q->done_tail)
        q->done_tail->next = first;
    else
        q->done = first;
    q->done_tail = last;
    pthread_mutex_unlock(&q->lock);
    uv_async_send(&q->async);
}

/* Hand a job that leaves without (or after) running to on_done. Loop thread. */
static void queue_finish(infer_queue *q, infer_job *job)
{
    q->in_flight--;
    if (job->run_ns && job->entry->cfg.max_batch <= 1) {
        /* The model's run time, for the inline decision; a batch's time is not one
         * request's (and batching models never run inline). */
        model_entry *e = job->entry;
        int64_t ns = (int64_t)job->run_ns;
        e->service_ns = e->service_ns ? (uint64_t)((int64_t)e->service_ns +
                                                   (ns - (int64_t)e->service_ns) / 4)
                                      : (uint64_t)ns;
        /* One inline run over the limit (a bigger input, a slower machine) is enough to send
         * the model's next requests to the workers, until its runs there are quick again. */
        if (job->ran_inline && job->run_ns > q->inline_max_ns && job->run_ns > e->service_ns)
            e->service_ns = job->run_ns;
    }
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
static void infer_pump(infer_queue *q);

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

static void queue_on_batch_wait(uv_timer_t *t)
{
    infer_queue *q = t->data;
    q->batch_wait_at = 0;
    infer_pump(q);
}

/* Gather the jobs that run with head (batch.h) and take them out of the queue, linked from
 * head->batch_next. Returns 0, taking nothing, when head should rather wait for more: its
 * batch is not full and its max_batch_delay_us has not passed. The timer then brings the
 * pump back when it has; meanwhile no job behind head starts either (see batch.h). */
static int queue_batch(infer_queue *q, infer_job *head, uint64_t now)
{
    const model_config *cfg = &head->entry->cfg;
    int64_t rows;
    int n = batch_gather(q->pending, head, now, q->batch_scratch, &rows);
    uint64_t until = head->t_queued + (uint64_t)cfg->max_batch_delay_us * 1000u;
    if (rows < cfg->max_batch && now < until) {
        if (!q->batch_wait_at || until < q->batch_wait_at) {
            q->batch_wait_at = until;
            uv_timer_start(&q->batch_wait, queue_on_batch_wait, (until - now + 999999) / 1000000,
                           0);
        }
        return 0;
    }
    infer_job **tail = &head->batch_next;
    for (int i = 0; i < n; i++) {
        admission_remove(q->pending, q->batch_scratch[i]);
        *tail = q->batch_scratch[i];
        tail = &(*tail)->batch_next;
    }
    *tail = NULL;
    return 1;
}

/*
 * The workers the job about to start occupies: its own, plus (for a model with
 * "max_threads" > 1) the free workers no waiting job needs, up to max_threads and the CPUs.
 * The loop counts lent workers as running, so no other job goes to them while the job's
 * session runs its extra threads in their place: the threads computing never outnumber
 * the active workers. A job arriving meanwhile waits for the run to end, which is the
 * price of splitting a run; models opt in.
 */
static int queue_lend(const infer_queue *q, const infer_job *job)
{
    int spare = q->active - q->running - q->pending->n;
    int n = job->entry->cfg.max_threads;
    n = n < spare ? n : spare;
    n = n < q->cpus ? n : q->cpus;
    return n > 1 ? n : 1;
}

/* Move waiting jobs to free active workers, best first. */
static void infer_pump(infer_queue *q)
{
    infer_job *job;
    while (q->pool && q->running < q->active && (job = admission_peek(q->pending))) {
        uint64_t now = uv_hrtime();
        if (job->deadline && now >= job->deadline) {
            admission_remove(q->pending, job);
            queue_expire(q, job, now);
            continue;
        }
        if (batch_eligible(job) && !queue_batch(q, job, now))
            break;
        admission_remove(q->pending, job);
        job->workers = queue_lend(q, job);
        if (ember_pool_submit(q->pool, job_run, job) < 0) {
            /* Cannot happen while running < nworkers; answer rather than lose the jobs. */
            for (infer_job *next; job; job = next) {
                next = job->batch_next;
                job_answer_error(job, 503, "the workers are shutting down");
                queue_finish(q, job);
            }
            continue;
        }
        queue_busy_mark(q, now);
        q->running += job->workers;
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
    /* The job that expired may have been gathering a batch: the next one decides now. */
    infer_pump(q);
}

/* Hand a job that ran to on_done, keeping a cache miss's answer in its model's cache. */
static void queue_complete(infer_queue *q, infer_job *job)
{
    if (job->cache_body && job->status == 200)
        cache_put(job->entry->cache, job->cache_key, job->cache_body, job->cache_len,
                  job->cache_header_len);
    else
        free(job->cache_body);
    job->cache_body = NULL;
    queue_finish(q, job);
}

static void queue_deliver(infer_queue *q)
{
    pthread_mutex_lock(&q->lock);
    infer_job *job = q->done;
    q->done = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (job) {
        infer_job *next = job->next;
        if (job->workers) {
            queue_busy_mark(q, uv_hrtime());
            q->running -= job->workers;
        }
        queue_complete(q, job);
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
                     int inline_max_us, infer_done_fn on_done, void *ctx, ember_err *err)
{
    memset(q, 0, sizeof *q);
    q->inline_max_ns = (uint64_t)inline_max_us * 1000u;
    q->on_done = on_done;
    q->ctx = ctx;
    q->nworkers = q->active = nworkers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    q->cpus = cpus < 1                           ? 1
              : cpus > EMBER_SESSION_MAX_THREADS ? EMBER_SESSION_MAX_THREADS
                                                 : (int)cpus;
    q->busy_at = uv_hrtime();
    q->pending = calloc(1, sizeof *q->pending);
    if (!q->pending)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = admission_init(q->pending, queue_cap, err);
    if (rc == 0 && !(q->batch_scratch = calloc((size_t)queue_cap, sizeof *q->batch_scratch)))
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory for a queue of %d", queue_cap);
    if (rc == 0 && (rc = uv_async_init(loop, &q->async, queue_on_async)) < 0)
        rc = ember_err_set(err, EMBER_EIO, "cannot create the completion signal: %s",
                           uv_strerror(rc));
    if (rc < 0) {
        admission_free(q->pending);
        free(q->pending);
        free(q->batch_scratch);
        q->pending = NULL;
        q->batch_scratch = NULL;
        return rc;
    }
    q->async.data = q;
    uv_timer_init(loop, &q->expiry);
    q->expiry.data = q;
    uv_timer_init(loop, &q->batch_wait);
    q->batch_wait.data = q;
    pthread_mutex_init(&q->lock, NULL);
    /* The pool holds at most one job per worker: waiting happens in q->pending. */
    rc = ember_pool_create(nworkers, nworkers, &q->pool, err);
    if (rc < 0) {
        q->pool = NULL;
        infer_queue_close(q);
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
    uv_close((uv_handle_t *)&q->batch_wait, NULL);
    admission_free(q->pending);
    free(q->pending);
    free(q->batch_scratch);
    q->pending = NULL;
    q->batch_scratch = NULL;
}

/*
 * Decode the job's body now, on the loop thread, when its model needs what is in it before
 * the job runs: the cache key, or the shapes batching compares. Bodies over
 * EMBERD_LOOP_DECODE_MAX are left to the worker (no cache, no batching for them). Returns 1
 * when that answered the job (a cache hit, or a body that does not decode), 0 when it is to
 * be queued.
 */
static int job_prepare(infer_job *job)
{
    model_entry *e = job->entry;
    /* A raw image or sound is decoded on its worker: decompressing it would stall the loop. */
    if (job->kind != JOB_INFER || job->media || (!e->cache && e->cfg.max_batch <= 1) ||
        job->body_len > EMBERD_LOOP_DECODE_MAX)
        return 0;
    if (job_decode(job) < 0) {
        job->t_started = job->t_done = uv_hrtime();
        return 1;
    }
    /* A request asking for its energy needs a run of its own to measure. */
    if (!e->cache || job->want_energy)
        return 0;
    cache_key(e->name, e->version_str, e->inputs, &job->req, e->outputs, job->cache_key);
    size_t len, header_len;
    const char *body = cache_get(e->cache, job->cache_key, &len, &header_len);
    if (!body) {
        job->cache_state = JOB_CACHE_MISS;
        return 0;
    }
    job->cache_state = JOB_CACHE_HIT;
    job->t_started = job->t_done = uv_hrtime();
    if (cache_answer(body, len, header_len, e->name, e->version_str, job->req.id, &job->json,
                     &job->json_len, &job->json_header_len) < 0)
        job_answer_error(job, 500, "out of memory");
    else
        job->status = 200;
    return 1;
}

/* Whether job may run inline now (infer.h); counts the budget window forward. */
static int queue_inline_ok(infer_queue *q, const infer_job *job, uint64_t now)
{
    const model_entry *e = job->entry;
    if (!q->inline_max_ns || !q->pool || job->kind != JOB_INFER || job->media ||
        job->want_energy || e->cfg.max_batch > 1 || e->cfg.max_threads > 1 ||
        job->body_len > EMBERD_LOOP_DECODE_MAX || !e->service_ns ||
        e->service_ns > q->inline_max_ns || q->pending->n > 0 || q->running >= q->active)
        return 0;
    if (now - q->inline_window_at >= EMBERD_INLINE_WINDOW_NS) {
        q->inline_window_at = now;
        q->inline_spent_ns = 0;
    }
    return q->inline_spent_ns < EMBERD_INLINE_WINDOW_NS / 2;
}

/* Run job on the loop thread, with the loop's session (slot nworkers), as a worker would:
 * it occupies a worker meanwhile, for the busy-time accounting and the governor. */
static void queue_run_inline(infer_queue *q, infer_job *job, uint64_t now)
{
    job->ran_inline = 1;
    job->workers = 1;
    queue_busy_mark(q, now);
    q->running++;
    job_process(job, q->nworkers);
    queue_busy_mark(q, job->t_done);
    q->running--;
    job->workers = 0;
    q->inline_spent_ns += job->t_done - now;
    queue_complete(q, job);
}

int infer_submit(infer_queue *q, infer_job *job)
{
    job->queue = q;
    job->t_queued = uv_hrtime();
    if (job_prepare(job)) {
        q->in_flight++;
        q->arrivals++;
        queue_finish(q, job);
        return 0;
    }
    if (queue_inline_ok(q, job, job->t_queued)) {
        q->in_flight++;
        q->arrivals++;
        queue_run_inline(q, job, job->t_queued);
        return 0;
    }
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
