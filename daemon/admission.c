/*
 * The admission queue as a binary min-heap of job pointers. Each job remembers its slot
 * (sched_index, -1 when not queued), so removing a job from the middle is a swap with the
 * last slot and one sift, O(log n). Finding the earliest deadline scans the heap: the queue
 * is bounded (--queue) and this runs once per armed timer, not per comparison.
 */
#include <stdlib.h>

#include "admission.h"

int admission_runs_before(const infer_job *a, const infer_job *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->deadline != b->deadline) {
        if (!a->deadline || !b->deadline)
            return a->deadline != 0;
        return a->deadline < b->deadline;
    }
    return a->seq < b->seq;
}

static void admission_place(admission *s, int i, infer_job *job)
{
    s->heap[i] = job;
    job->sched_index = i;
}

static void admission_sift_up(admission *s, int i)
{
    infer_job *job = s->heap[i];
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!admission_runs_before(job, s->heap[parent]))
            break;
        admission_place(s, i, s->heap[parent]);
        i = parent;
    }
    admission_place(s, i, job);
}

static void admission_sift_down(admission *s, int i)
{
    infer_job *job = s->heap[i];
    for (;;) {
        int child = 2 * i + 1;
        if (child >= s->n)
            break;
        if (child + 1 < s->n && admission_runs_before(s->heap[child + 1], s->heap[child]))
            child++;
        if (!admission_runs_before(s->heap[child], job))
            break;
        admission_place(s, i, s->heap[child]);
        i = child;
    }
    admission_place(s, i, job);
}

int admission_init(admission *s, int cap, ember_err *err)
{
    s->heap = calloc((size_t)cap, sizeof *s->heap);
    s->n = 0;
    s->cap = cap;
    s->seq = 0;
    if (!s->heap)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for a queue of %d", cap);
    return 0;
}

void admission_free(admission *s)
{
    free(s->heap);
    s->heap = NULL;
    s->n = s->cap = 0;
}

int admission_push(admission *s, infer_job *job)
{
    if (s->n == s->cap)
        return EMBER_EBUSY;
    job->seq = s->seq++;
    admission_place(s, s->n++, job);
    admission_sift_up(s, s->n - 1);
    return 0;
}

int admission_remove(admission *s, infer_job *job)
{
    int i = job->sched_index;
    if (i < 0 || i >= s->n || s->heap[i] != job)
        return 0;
    job->sched_index = -1;
    infer_job *last = s->heap[--s->n];
    if (i < s->n) {
        admission_place(s, i, last);
        admission_sift_down(s, i);
        admission_sift_up(s, last->sched_index);
    }
    return 1;
}

infer_job *admission_peek(const admission *s)
{
    return s->n ? s->heap[0] : NULL;
}

infer_job *admission_pop(admission *s)
{
    if (s->n == 0)
        return NULL;
    infer_job *job = s->heap[0];
    admission_remove(s, job);
    return job;
}

uint64_t admission_earliest_deadline(const admission *s)
{
    uint64_t best = 0;
    for (int i = 0; i < s->n; i++) {
        uint64_t d = s->heap[i]->deadline;
        if (d && (!best || d < best))
            best = d;
    }
    return best;
}

infer_job *admission_pop_expired(admission *s, uint64_t now)
{
    for (int i = 0; i < s->n; i++) {
        infer_job *job = s->heap[i];
        if (job->deadline && job->deadline <= now) {
            admission_remove(s, job);
            return job;
        }
    }
    return NULL;
}

void admission_depths(const admission *s, int out[3])
{
    for (int i = 0; i < s->n; i++) {
        int p = s->heap[i]->priority;
        out[p < 0 ? 0 : p > 2 ? 2 : p]++;
    }
}
