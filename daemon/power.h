/*
 * The power governor in the daemon: libember-power's ember_power_ctl driven from a timer on
 * the loop thread with what the inference queue looks like, its decisions applied to the CPU
 * clock (cpufreq sysfs) and to the workers (infer_queue_set_active), the energy it measures
 * attributed to the requests that used it, and GET/PUT /v2/power. Loop thread only, except
 * the sysfs work of each tick, which runs on the loop's thread pool.
 */
#ifndef EMBERD_POWER_H
#define EMBERD_POWER_H

#include <stdint.h>

#include <uv.h>

#include <ember/power.h>
#include <ember/proto.h>

#include "infer.h"
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

typedef struct power_settings {
    const char *policy; /* a policy name; NULL leaves power management off */
    const char *sysfs;  /* the sysfs root: cpufreq, powercap and hwmon are found below it */
    int sample_ms;      /* how often the governor ticks */
    /* The device profile (power_profile_load) whose power figures, mem_frac and ondemand
     * tunables the governor plans with; NULL for none. */
    const ember_power_profile *profile;
} power_settings;

/* A model's service time (EWMA of the compute time of its requests), scaled to the highest
 * frequency so samples taken at different clocks compare. */
typedef struct power_model {
    char name[EMBERD_MAX_MODEL_NAME + 1];
    double service_ms;
    uint64_t used; /* when it was last updated (uv_hrtime), for eviction */
} power_model;

/* One point of the energy attribution curve: joules per busy worker, summed over time. */
typedef struct power_mark {
    uint64_t t; /* uv_hrtime */
    double j_per_worker;
} power_mark;

typedef struct daemon_power {
    int on; /* started with a policy; everything below is valid only then */
    uv_loop_t *loop;
    const daemon_log *log;
    infer_queue *q;
    ember_power_ctl *ctl; /* the work thread's while busy, else the loop thread's */
    uv_timer_t timer;
    uv_work_t work;
    int busy;     /* a tick is on the thread pool */
    int stopping; /* power_stop ran: the settings are (or are about to be) restored */
    int sample_ms;
    char sysfs[256];
    char profile[EMBER_POWER_NAME_MAX]; /* the device profile's name; "" without one */

    /* Handed to the work thread and back. */
    ember_gov_obs obs;
    double now_ms;
    ember_gov_decision dec;
    int rc;
    ember_err err;

    /* Loop thread. */
    ember_power_policy policy; /* what the next tick runs (PUT /v2/power sets it) */
    ember_power_status status; /* as of the last tick */
    uint32_t max_khz;
    int write_failed; /* a sysfs write failed: warned once */
    uint64_t last_ns, last_arrivals, last_busy_ns;
    double arrival_per_ms;  /* EWMA */
    double recent_service;  /* EWMA over every model, at the highest frequency */
    double recent_deadline; /* tightest relative deadline completed since the last tick */
    power_model models[EMBERD_POWER_MAX_MODELS];
    int nmodels;
    /* Energy attribution: marks at each tick; between two marks a busy worker earns the
     * interval's energy divided by the worker-time spent in it. */
    power_mark marks[EMBERD_POWER_HISTORY];
    int nmarks, mark_head; /* ring: the newest is at mark_head - 1 */
    double rate;           /* joules per busy worker-second of the last interval */
    double last_energy;    /* the meter at the last mark */
    uint64_t mark_busy_ns; /* the queue's busy integral at the last mark */
} daemon_power;

/* Load the device profile the power_profile key (or --power-profile) names: a path, or a
 * name emberctl power-sim --list-profiles shows. Errors name the key and what is wrong. */
int power_profile_load(const char *arg, ember_power_profile *out, ember_err *err);

/* Open the governor (settings->policy set) or leave p off (NULL policy). Writes to sysfs only
 * when the tree is writable; a read-only or missing one is "no DVFS" with one warning. Starts
 * the timer and watches q's jobs. EMBER_EINVAL for a bad policy or period, EMBER_ENOMEM. */
int power_start(daemon_power *p, uv_loop_t *loop, infer_queue *q, const power_settings *settings,
                const daemon_log *lg, ember_err *err);

/* Stop ticking, give every worker back, and restore the cpufreq governor and limits found at
 * start (once a tick still on the thread pool has finished). Safe to call more than once and
 * on a power that is off. The timer closes on the loop. */
void power_stop(daemon_power *p);

/* GET/HEAD (the state) and PUT (switch policy: {"policy": NAME}) /v2/power, answered into
 * reply; 405 for another method, 404 when p is NULL or off. PUT changes how the daemon runs:
 * the router lets only the admin role reach it (router.c). */
void power_route(daemon_power *p, const ember_http_request *req, route_reply *reply);

/* The power gauges of GET /metrics (left alone when p is NULL or off). */
void power_read_gauges(const daemon_power *p, metrics_gauges *g);

#endif
