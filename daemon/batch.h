/*
 * Dynamic batching (config.json "max_batch", "max_batch_delay_us"). When the job that would
 * run next belongs to a model that batches, the loop thread gathers the queued jobs that can
 * share its run: the same model entry (so the same version), decoded, with the same shape on
 * every input but the first (batch) dimension. They are taken in the order they would run
 * (priority, deadline, arrival) while their rows fit in max_batch. The worker joins their
 * inputs along the batch dimension, runs the model once and slices every output back, so each
 * job still answers with its own id, outputs, binary choices and status.
 *
 * Priority: batching never lets a job overtake the job that would run next; it only lets
 * jobs of that job's model ride along with it, possibly ahead of better jobs of other
 * models, which then wait for one run that is at most max_batch rows instead of one row.
 */
#ifndef EMBERD_BATCH_H
#define EMBERD_BATCH_H

#include <stdint.h>

#include "admission.h"
#include "infer.h"

/* Whether job may be merged with others at all: its model batches and its body was decoded
 * on the loop thread; a request asking for its energy runs alone (its energy is its own). */
int batch_eligible(const infer_job *job);

/* Rows of a decoded job (the first dimension of its first input). */
int64_t batch_job_rows(const infer_job *job);

/*
 * The jobs of s that can join head's run, best first, into out (room for s->n), skipping
 * any whose deadline is at or before now. Returns the count (head not included) and sets
 * *rows to the rows of head plus those jobs, at most head's model's max_batch. Does not
 * change s.
 */
int batch_gather(const admission *s, const infer_job *head, uint64_t now, infer_job **out,
                 int64_t *rows);

/*
 * On a worker: the inputs of the jobs head, head->batch_next, ... joined along the first
 * dimension into ins[0..ninputs-1] (data malloc'd, freed by batch_inputs_free).
 * EMBER_ENOMEM.
 */
int batch_inputs_join(const infer_job *head, ember_tensor *ins, ember_err *err);
void batch_inputs_free(ember_tensor *ins, int n);

/* The rows first..first+rows-1 of t (borrowing its data). */
ember_tensor batch_slice(const ember_tensor *t, int64_t first, int64_t rows);

#endif
