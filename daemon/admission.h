/*
 * The admission queue: inference jobs waiting for a worker, ordered by priority (high,
 * normal, low), then earliest deadline (a job without one comes after every job with one),
 * then arrival. A binary heap of bounded capacity that also lets a job leave from anywhere
 * (its client went away, its deadline passed). Loop thread only.
 */
#ifndef EMBERD_ADMISSION_H
#define EMBERD_ADMISSION_H

#include <stdint.h>

#include "infer.h"

typedef struct admission {
    infer_job **heap;
    int n, cap;
    uint64_t seq; /* arrival counter, the last tie-break */
} admission;

/* EMBER_ENOMEM when the heap cannot be allocated. */
int admission_init(admission *s, int cap, ember_err *err);
/* The heap only; jobs still queued are the caller's. */
void admission_free(admission *s);

/* Queue job (the queue borrows it). EMBER_EBUSY when cap jobs are waiting. */
int admission_push(admission *s, infer_job *job);
/* Does a run before b? */
int admission_runs_before(const infer_job *a, const infer_job *b);
/* The job to run next, left queued; NULL when empty. */
infer_job *admission_peek(const admission *s);
/* The job to run next, removed; NULL when empty. */
infer_job *admission_pop(admission *s);
/* Take job out wherever it is. Returns 1 when it was queued, 0 when not. */
int admission_remove(admission *s, infer_job *job);
/* The earliest deadline of a queued job (uv_hrtime nanoseconds); 0 when none has one. */
uint64_t admission_earliest_deadline(const admission *s);
/* A queued job whose deadline is at or before now, removed; NULL when there is none. */
infer_job *admission_pop_expired(admission *s, uint64_t now);
/* Add the number of queued jobs of each priority to out[0] (high) .. out[2] (low). */
void admission_depths(const admission *s, int out[3]);

#endif
