/*
 * A session's helper threads: a fork-join group that runs the parts of one node's work
 * (eg_parallel) on the calling thread and nhelpers more.
 */
#ifndef EMBER_TGROUP_H
#define EMBER_TGROUP_H

#include <ember/engine.h>

#include "op.h"

typedef struct eg_tgroup eg_tgroup;

/* Starts nhelpers (1..EG_TGROUP_MAX_HELPERS) helper threads, asleep until a run begins. */
#define EG_TGROUP_MAX_HELPERS 63
int eg_tgroup_new(int nhelpers, eg_tgroup **out, ember_err *err);
/* Stops and joins the helpers; NULL is ignored. */
void eg_tgroup_free(eg_tgroup *tg);
/* The calling thread plus the helpers. */
int eg_tgroup_threads(const eg_tgroup *tg);

/* A run begins: sleeping helpers wake and, from now until eg_tgroup_end, watch for the next
 * job by spinning (for at most EG_TGROUP_SPIN_NS at a time) rather than sleeping, so a job
 * reaches them in well under a microsecond. After eg_tgroup_end they sleep at once: an idle
 * session costs no CPU. */
void eg_tgroup_begin(eg_tgroup *tg);
void eg_tgroup_end(eg_tgroup *tg);

/* Calls fn(arg, part, nparts, thread) for every part 0..nparts-1, on the calling thread
 * (thread 0) and the helpers (1..), and returns when all are done. One caller at a time.
 * More than EG_TGROUP_MAX_PARTS parts run on the caller alone. */
#define EG_TGROUP_MAX_PARTS 0xffff
void eg_tgroup_run(eg_tgroup *tg, eg_part_fn fn, void *arg, int nparts);

/* The counts of futex-backed sleeps so far: helpers that went to sleep waiting for a job,
 * and callers that went to sleep waiting for a helper to finish its part (for tests and
 * tuning: within a run on an idle machine both stay near zero). */
void eg_tgroup_sleeps(eg_tgroup *tg, int64_t *helper_sleeps, int64_t *caller_sleeps);

/* ember_session_set_threads without the cap at the CPUs online, so tests can split nodes
 * across more threads than this machine has. */
int eg_session_set_threads_any(ember_session *s, int n, ember_err *err);

#endif
