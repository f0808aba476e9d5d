/*
 * emberd's metrics, served as Prometheus text by GET /metrics: inference requests by model,
 * version and status; latency histograms of queue wait, compute and total time; what
 * happened to requests that never ran (expired, withdrawn, refused); per model, response
 * cache hits and misses and the sizes of the batches run. Updated and read on the
 * loop thread only, so nothing here locks.
 */
#ifndef EMBERD_METRICS_H
#define EMBERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"
#include "registry.h"

/* Upper bounds (seconds) of the latency histograms' buckets. */
#define METRICS_NBUCKETS 16

typedef struct metrics_histogram {
    uint64_t buckets[METRICS_NBUCKETS]; /* not cumulative; +Inf is count */
    uint64_t count;
    double sum;
} metrics_histogram;

typedef struct metrics_series {
    char *model;
    char version[16];
    int status;
    uint64_t count;
} metrics_series;

/* Buckets of the batch size histogram: upper bounds 1, 2, 4, .. 1024 rows (EMBERD_MAX_BATCH). */
#define METRICS_BATCH_NBUCKETS 11

/* What a model's cache and batching did, by model name (versions share a series). */
typedef struct metrics_model {
    char *model;
    uint64_t cache_hits, cache_misses;
    uint64_t batch_buckets[METRICS_BATCH_NBUCKETS]; /* not cumulative; +Inf is batch_count */
    uint64_t batch_count, batch_rows;
    uint64_t batch_ns; /* worker time of those runs, each counted once */
} metrics_model;

typedef struct metrics {
    metrics_series *series; /* at most EMBERD_MAX_METRIC_SERIES */
    int nseries;
    metrics_model *models; /* at most EMBERD_MAX_METRIC_SERIES */
    int nmodels;
    uint64_t series_dropped; /* answers not counted because the table was full */
    metrics_histogram queue_wait, compute, total;
    uint64_t computed, expired, cancelled, refused;
    uint64_t inline_runs; /* computed on the loop thread (infer.h) */
} metrics;

/* What the gauges read when the text is made. */
typedef struct metrics_gauges {
    int queue_depth, queue_capacity;
    int workers, busy;
    int connections;
    const registry *reg;
    int power; /* the governor runs: the power gauges below are set */
    int active_workers, parked_workers;
    uint32_t freq_khz; /* 0 without DVFS */
    double energy_j;
} metrics_gauges;

void metrics_init(metrics *m);
void metrics_free(metrics *m);

/* Count one answered inference request (job is finished; its stamps are set). */
void metrics_observe(metrics *m, const infer_job *job);
/* Count a request refused before it was queued (the queue was full). */
void metrics_refused(metrics *m, const model_entry *e, int status);

/* The Prometheus text exposition (format 0.0.4). *out is malloc'd; EMBER_ENOMEM. */
int metrics_render(const metrics *m, const metrics_gauges *g, char **out, size_t *len);

#endif
