/*
 * Dynamic batching: choosing which queued jobs share a run (loop thread), and joining their
 * inputs and slicing the outputs back (worker). Row-major tensors make both cheap: the rows
 * of a tensor are one contiguous block, so joining is one copy per job and input, and a slice
 * of an output is a pointer into the session's output plus a smaller first dimension.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

int batch_eligible(const infer_job *job)
{
    return job->kind == JOB_INFER && job->decoded && !job->want_energy &&
           job->entry->cfg.max_batch > 1;
}

int64_t batch_job_rows(const infer_job *job)
{
    return job->req.inputs[0].dims[0];
}

/* Same model entry and the same dims on every input but the first. */
static int batch_compatible(const infer_job *a, const infer_job *b)
{
    if (a->entry != b->entry || !batch_eligible(b))
        return 0;
    for (int i = 0; i < a->req.ninputs; i++) {
        const ember_tensor *x = &a->req.inputs[i], *y = &b->req.inputs[i];
        if (x->rank != y->rank ||
            memcmp(x->dims + 1, y->dims + 1, (size_t)(x->rank - 1) * sizeof x->dims[0]) != 0)
            return 0;
    }
    return 1;
}

static int batch_order(const void *pa, const void *pb)
{
    const infer_job *a = *(infer_job *const *)pa, *b = *(infer_job *const *)pb;
    return admission_runs_before(a, b) ? -1 : admission_runs_before(b, a) ? 1 : 0;
}

int batch_gather(const admission *s, const infer_job *head, uint64_t now, infer_job **out,
                 int64_t *rows)
{
    int n = 0;
    for (int i = 0; i < s->n; i++) {
        infer_job *job = s->heap[i];
        if (job != head && !(job->deadline && job->deadline <= now) && batch_compatible(head, job))
            out[n++] = job;
    }
    qsort(out, (size_t)n, sizeof *out, batch_order);
    int64_t max = head->entry->cfg.max_batch, total = batch_job_rows(head);
    int taken = 0;
    for (int i = 0; i < n && total < max; i++) {
        int64_t r = batch_job_rows(out[i]);
        if (total + r <= max) {
            out[taken++] = out[i];
            total += r;
        }
    }
    *rows = total;
    return taken;
}

int batch_inputs_join(const infer_job *head, ember_tensor *ins, ember_err *err)
{
    int ninputs = head->req.ninputs;
    int64_t total = 0;
    for (const infer_job *j = head; j; j = j->batch_next)
        total += batch_job_rows(j);
    memset(ins, 0, (size_t)ninputs * sizeof *ins);
    for (int i = 0; i < ninputs; i++) {
        ins[i] = head->req.inputs[i];
        ins[i].dims[0] = total;
        size_t row = ember_dtype_size(ins[i].dtype);
        for (int d = 1; d < ins[i].rank; d++)
            row *= (size_t)ins[i].dims[d];
        char *data = malloc(row * (size_t)total + 1);
        ins[i].data = data;
        if (!data) {
            batch_inputs_free(ins, i);
            return ember_err_set(err, EMBER_ENOMEM, "out of memory joining a batch of %lld rows",
                                 (long long)total);
        }
        for (const infer_job *j = head; j; j = j->batch_next) {
            size_t bytes = row * (size_t)batch_job_rows(j);
            memcpy(data, j->req.inputs[i].data, bytes);
            data += bytes;
        }
    }
    return 0;
}

void batch_inputs_free(ember_tensor *ins, int n)
{
    for (int i = 0; i < n; i++) {
        free(ins[i].data);
        ins[i].data = NULL;
    }
}

ember_tensor batch_slice(const ember_tensor *t, int64_t first, int64_t rows)
{
    ember_tensor s = *t;
    size_t row = ember_dtype_size(t->dtype);
    for (int d = 1; d < t->rank; d++)
        row *= (size_t)t->dims[d];
    s.dims[0] = rows;
    s.data = (char *)t->data + row * (size_t)first;
    return s;
}
