/*
 * Metrics in the Prometheus text exposition format. Counters and histograms accumulate as
 * the loop thread finishes requests; gauges are read from the server when /metrics is asked
 * for. Label values (model names) come from a safe alphabet but are escaped anyway. The
 * series table is bounded (EMBERD_MAX_METRIC_SERIES): a model churning through versions
 * cannot grow it without limit; what does not fit is counted in
 * emberd_metrics_series_dropped_total.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "metrics.h"

static const double bucket_bounds[METRICS_NBUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void metrics_init(metrics *m)
{
    memset(m, 0, sizeof *m);
}

void metrics_free(metrics *m)
{
    for (int i = 0; i < m->nseries; i++)
        free(m->series[i].model);
    free(m->series);
    for (int i = 0; i < m->nmodels; i++)
        free(m->models[i].model);
    free(m->models);
    memset(m, 0, sizeof *m);
}

static void histogram_add(metrics_histogram *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        if (s <= bucket_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += s;
}

static void series_count(metrics *m, const char *model, const char *version, int status)
{
    for (int i = 0; i < m->nseries; i++) {
        metrics_series *s = &m->series[i];
        if (s->status == status && strcmp(s->model, model) == 0 &&
            strcmp(s->version, version) == 0) {
            s->count++;
            return;
        }
    }
    if (m->nseries == EMBERD_MAX_METRIC_SERIES) {
        m->series_dropped++;
        return;
    }
    if (!m->series) {
        m->series = calloc(EMBERD_MAX_METRIC_SERIES, sizeof *m->series);
        if (!m->series) {
            m->series_dropped++;
            return;
        }
    }
    metrics_series *s = &m->series[m->nseries];
    s->model = strdup(model);
    if (!s->model) {
        m->series_dropped++;
        return;
    }
    snprintf(s->version, sizeof s->version, "%s", version);
    s->status = status;
    s->count = 1;
    m->nseries++;
}

/* The per-model counters of model, added when first seen; NULL when the table is full. */
static metrics_model *model_series(metrics *m, const char *model)
{
    for (int i = 0; i < m->nmodels; i++)
        if (strcmp(m->models[i].model, model) == 0)
            return &m->models[i];
    if (m->nmodels == EMBERD_MAX_METRIC_SERIES ||
        (!m->models && !(m->models = calloc(EMBERD_MAX_METRIC_SERIES, sizeof *m->models))))
        return NULL;
    metrics_model *s = &m->models[m->nmodels];
    if (!(s->model = strdup(model)))
        return NULL;
    m->nmodels++;
    return s;
}

/* A job's cache lookup and, on the first job of a run of a batching model, the run's rows. */
static void model_observe(metrics *m, const infer_job *job)
{
    if (job->cache_state == JOB_CACHE_OFF && job->batch_rows == 0)
        return;
    metrics_model *s = model_series(m, job->entry->name);
    if (!s) {
        m->series_dropped++;
        return;
    }
    s->cache_hits += job->cache_state == JOB_CACHE_HIT;
    s->cache_misses += job->cache_state == JOB_CACHE_MISS;
    if (job->batch_rows > 0) {
        int b = 0;
        while (b < METRICS_BATCH_NBUCKETS - 1 && job->batch_rows > 1 << b)
            b++;
        if (job->batch_rows <= 1 << b)
            s->batch_buckets[b]++;
        s->batch_count++;
        s->batch_rows += (uint64_t)job->batch_rows;
        s->batch_ns += job->t_done - job->t_started;
    }
}

void metrics_observe(metrics *m, const infer_job *job)
{
    const model_entry *e = job->entry;
    series_count(m, e->name, e->version_str, job->status);
    model_observe(m, job);
    if (job->computed) {
        m->computed++;
        m->inline_runs += job->ran_inline != 0;
        histogram_add(&m->queue_wait, job->t_started - job->t_queued);
        histogram_add(&m->compute, job->compute_ns);
    } else if (job->status == 504) {
        m->expired++;
    } else if (job->status == 499) {
        m->cancelled++;
    }
    histogram_add(&m->total, job->t_done - job->t_queued);
}

void metrics_refused(metrics *m, const model_entry *e, int status)
{
    m->refused++;
    series_count(m, e->name, e->version_str, status);
}

typedef struct text {
    char *buf;
    size_t len, cap;
    int failed;
} text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
text_printf(text *t, const char *fmt, ...)
{
    for (;;) {
        if (t->failed)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *p = realloc(t->buf, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->buf = p;
        t->cap = cap;
    }
}

/* A label value with \, " and newline escaped (names are short: bounded by the caller). */
static const char *label_escape(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 2 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[n++] = '\\';
            out[n++] = *s == '\n' ? 'n' : *s;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    return out;
}

static void histogram_render(text *t, const char *name, const char *help,
                             const metrics_histogram *h)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < METRICS_NBUCKETS; i++) {
        cum += h->buckets[i];
        text_printf(t, "%s_bucket{le=\"%g\"} %llu\n", name, bucket_bounds[i],
                    (unsigned long long)cum);
    }
    text_printf(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
                (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

static void counter_render(text *t, const char *name, const char *help, uint64_t v)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                (unsigned long long)v);
}

static void gauge_render(text *t, const char *name, const char *help, long long v)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

/* Per-model cache counters and batch size histograms. */
static void models_render(text *t, const metrics *m)
{
    char model[2 * EMBERD_MAX_MODEL_NAME + 2];
    static const char *const counters[] = {"hits", "misses"};
    static const char *const helps[] = {"answered from the model's response cache",
                                        "the model's response cache had no answer for"};
    for (int c = 0; c < 2; c++) {
        text_printf(t,
                    "# HELP emberd_cache_%s_total Infer requests %s, by model.\n"
                    "# TYPE emberd_cache_%s_total counter\n",
                    counters[c], helps[c], counters[c]);
        for (int i = 0; i < m->nmodels; i++) {
            const metrics_model *s = &m->models[i];
            if (s->cache_hits + s->cache_misses)
                text_printf(t, "emberd_cache_%s_total{model=\"%s\"} %llu\n", counters[c],
                            label_escape(s->model, model, sizeof model),
                            (unsigned long long)(c ? s->cache_misses : s->cache_hits));
        }
    }
    text_printf(t, "# HELP emberd_batch_size Rows per model run of models that batch "
                   "(config.json max_batch), by model.\n# TYPE emberd_batch_size histogram\n");
    for (int i = 0; i < m->nmodels; i++) {
        const metrics_model *s = &m->models[i];
        if (!s->batch_count)
            continue;
        label_escape(s->model, model, sizeof model);
        uint64_t cum = 0;
        for (int b = 0; b < METRICS_BATCH_NBUCKETS; b++) {
            cum += s->batch_buckets[b];
            text_printf(t, "emberd_batch_size_bucket{model=\"%s\",le=\"%d\"} %llu\n", model, 1 << b,
                        (unsigned long long)cum);
        }
        text_printf(t,
                    "emberd_batch_size_bucket{model=\"%s\",le=\"+Inf\"} %llu\n"
                    "emberd_batch_size_sum{model=\"%s\"} %llu\n"
                    "emberd_batch_size_count{model=\"%s\"} %llu\n",
                    model, (unsigned long long)s->batch_count, model,
                    (unsigned long long)s->batch_rows, model, (unsigned long long)s->batch_count);
    }
    text_printf(t, "# HELP emberd_batch_compute_seconds_total Worker time of the runs counted "
                   "by emberd_batch_size, each run once, by model.\n"
                   "# TYPE emberd_batch_compute_seconds_total counter\n");
    for (int i = 0; i < m->nmodels; i++) {
        const metrics_model *s = &m->models[i];
        if (s->batch_count)
            text_printf(t, "emberd_batch_compute_seconds_total{model=\"%s\"} %.9f\n",
                        label_escape(s->model, model, sizeof model), (double)s->batch_ns / 1e9);
    }
}

int metrics_render(const metrics *m, const metrics_gauges *g, char **out, size_t *len)
{
    text t = {.cap = 4096};
    t.buf = malloc(t.cap);
    if (!t.buf)
        return EMBER_ENOMEM;
    char model[2 * EMBERD_MAX_MODEL_NAME + 2];

    text_printf(&t, "# HELP emberd_infer_requests_total Inference requests answered, by model, "
                    "version and HTTP status.\n# TYPE emberd_infer_requests_total counter\n");
    for (int i = 0; i < m->nseries; i++) {
        const metrics_series *s = &m->series[i];
        text_printf(&t,
                    "emberd_infer_requests_total{model=\"%s\",version=\"%s\",status=\"%d\"} %llu\n",
                    label_escape(s->model, model, sizeof model), s->version, s->status,
                    (unsigned long long)s->count);
    }
    counter_render(&t, "emberd_metrics_series_dropped_total",
                   "Answers not counted by model because the series table was full.",
                   m->series_dropped);
    counter_render(&t, "emberd_inferences_computed_total",
                   "Requests the model ran for (on a worker, or inline).", m->computed);
    counter_render(&t, "emberd_inferences_inline_total",
                   "Of those, requests the event loop ran itself (a tiny model, nothing waiting).",
                   m->inline_runs);
    counter_render(&t, "emberd_requests_expired_total",
                   "Requests answered 504 because their deadline passed before they ran.",
                   m->expired);
    counter_render(&t, "emberd_requests_cancelled_total",
                   "Requests withdrawn because their client left before they ran.", m->cancelled);
    counter_render(&t, "emberd_requests_refused_total",
                   "Requests answered 503 because the queue was full.", m->refused);
    histogram_render(&t, "emberd_queue_wait_seconds",
                     "Time from queueing to a worker starting, of requests that ran.",
                     &m->queue_wait);
    histogram_render(&t, "emberd_compute_seconds",
                     "Time a worker spent decoding, running and encoding a request; a request "
                     "run in a batch counts its rows' share of the batch's time.",
                     &m->compute);
    histogram_render(&t, "emberd_request_seconds",
                     "Time from queueing to the answer, of every queued request.", &m->total);
    gauge_render(&t, "emberd_queue_depth", "Requests waiting for a worker.", g->queue_depth);
    gauge_render(&t, "emberd_queue_capacity", "Requests that may wait before 503.",
                 g->queue_capacity);
    text_printf(&t,
                "# HELP emberd_workers Worker threads by state.\n# TYPE emberd_workers gauge\n"
                "emberd_workers{state=\"busy\"} %d\nemberd_workers{state=\"idle\"} %d\n",
                g->busy, g->workers - g->busy);
    gauge_render(&t, "emberd_connections", "Open client connections.", g->connections);
    if (g->power) {
        gauge_render(&t, "emberd_power_workers_active",
                     "Workers the governor lets run jobs (the others are parked).",
                     g->active_workers);
        gauge_render(&t, "emberd_power_workers_parked", "Worker threads parked right now.",
                     g->parked_workers);
        gauge_render(&t, "emberd_power_frequency_hertz",
                     "CPU frequency the governor set last (0 without DVFS).",
                     (long long)g->freq_khz * 1000);
        text_printf(&t,
                    "# HELP emberd_energy_joules_total Energy the machine used since emberd "
                    "started, as measured (or estimated) by the governor.\n"
                    "# TYPE emberd_energy_joules_total counter\nemberd_energy_joules_total %.6f\n",
                    g->energy_j);
    }
    models_render(&t, m);
    gauge_render(&t, "emberd_models_loaded", "Model versions being served.", g->reg->nmodels);
    text_printf(&t, "# HELP emberd_model_weight_bytes Bytes of a served model's weights.\n"
                    "# TYPE emberd_model_weight_bytes gauge\n");
    for (int i = 0; i < g->reg->nmodels; i++) {
        const model_entry *e = g->reg->models[i];
        text_printf(&t, "emberd_model_weight_bytes{model=\"%s\",version=\"%s\"} %lld\n",
                    label_escape(e->name, model, sizeof model), e->version_str,
                    (long long)e->weight_bytes);
    }
    if (t.failed) {
        free(t.buf);
        return EMBER_ENOMEM;
    }
    *out = t.buf;
    *len = t.len;
    return 0;
}
