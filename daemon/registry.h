/*
 * The model registry: every model version emberd serves, by name, with the per-worker
 * sessions that run it. Only the loop thread adds, removes or looks up entries; a worker
 * touches only its own session slot of the entry its job holds.
 *
 * Entries are reference counted (loop thread only): the registry holds one reference and
 * every job that names the entry holds one, so a version that is replaced or unloaded while
 * requests run stays alive until the last of them is answered.
 */
#ifndef EMBERD_REGISTRY_H
#define EMBERD_REGISTRY_H

#include <uv.h>

#include <ember/engine.h>

#include "bundle.h"
#include "cache.h"
#include "limits.h"
#include "log.h"

/* A model's MODELDIR/NAME/config.json, every key documented in docs/config.md. */
typedef struct model_config {
    int versions;           /* serve this many of the highest versions on disk */
    int priority;           /* of requests that name none: 0 high, 1 normal, 2 low */
    cache_config cache;     /* entries 0: no response cache */
    int max_batch;          /* rows merged into one run at most; 1: no batching */
    int max_batch_delay_us; /* how long the first request of a batch waits for more */
    int max_threads;        /* threads one run may use, borrowing idle workers; 1: its own */
    struct media_config *media; /* "inputs" and "labels" (media_input.h); NULL when absent */
} model_config;

typedef struct model_entry {
    char *name;
    int version;
    char version_str[16];
    char *source; /* "built-in" or the file it came from, for logs */
    model_config cfg;
    ember_model *model;
    ember_io_info *inputs, *outputs; /* copies of the model's descriptions */
    int ninputs, noutputs;
    int64_t weight_bytes;     /* from ember_model_describe, for /metrics */
    response_cache *cache;    /* NULL unless cfg.cache.entries > 0; loop thread only */
    ember_session **sessions; /* [nworkers + 1]; slot w belongs to worker w, slot nworkers to
                                 the loop thread (inline runs, infer.h); created lazily */
    int nworkers;
    /* EWMA of its engine runs' time (ember_session_run), for inline runs (infer.h); 0 before
     * the first run; loop thread only. */
    uint64_t service_ns;
    int refs; /* the registry's and each job's; loop thread only */
} model_entry;

typedef struct registry_load registry_load;

typedef struct registry {
    model_entry **models; /* sorted by name, then by version from the highest */
    int nmodels;
    int nworkers;
    char *dir;               /* the model repository (--models), NULL when there is none */
    int dev;                 /* plain model.onnx files are accepted */
    const bundle_keys *keys; /* for sealed models; read-only after startup, any thread */
    uv_loop_t *loop;         /* for loads off the loop thread; NULL until registry_attach */
    registry_load *loads;    /* loads in progress */
    int nloads;
    const daemon_log *log;
} registry;

/* dir (copied) may be NULL: no repository. */
void registry_init(registry *reg, int nworkers, const char *dir, int dev, const daemon_log *lg);
/* Switch to repository dir (copied, may be NULL) and dev mode, for later loads. */
void registry_set_repository(registry *reg, const char *dir, int dev);
/* Let later loads run on loop's thread pool. */
void registry_attach(registry *reg, uv_loop_t *loop);
/* Drop the registry's references; every job must be gone. */
void registry_free(registry *reg);

/* Load the model embedded in the binary. Failures are logged; the daemon carries on. */
void registry_load_builtin(registry *reg);

/* Load every model of the repository now, blocking (at startup, before requests flow): for
 * each DIR/NAME the versions its config.json asks for. A model that fails is logged and
 * skipped; a name already present is replaced. */
void registry_load_dir(registry *reg);

/*
 * The one way a model file becomes an ember_model (as model name, version): a sealed bundle
 * opened with keys (bundle_model_open), or only with dev an unsealed compiled model.ember or
 * a plain model.onnx. *sealed says which it was (the caller raises the rollback floor once
 * the load succeeded). Runs on any thread and touches no registry state. *out is the
 * caller's (ember_model_free).
 */
int registry_model_open(const char *path, const char *name, int version, int dev,
                        const bundle_keys *keys, int *sealed, ember_model **out, ember_err *err);

/* What loading dir/name would say, without serving it or raising its rollback floor: its
 * config.json, the versions it asks for opened and checked against the config (media inputs,
 * max_batch). 0 for a folder the repository would ignore (a name it does not serve). Errors
 * name the model and the file. Any thread (emberd --check-config). */
int registry_check_model(const char *dir, const char *name, int dev, const bundle_keys *keys,
                         const daemon_log *lg, ember_err *err);

/* Read and check DIR/NAME/config.json (absent: the defaults). Errors name the file and the
 * key. Runs on any thread. On success the caller releases cfg with registry_config_clear. */
int registry_config_read(const char *path, model_config *cfg, ember_err *err);
void registry_config_clear(model_config *cfg);

/* Called on the loop thread when a load ends: status 200 with msg NULL, or an HTTP error
 * status and a sentence. */
typedef void (*registry_load_done_fn)(void *arg, int status, const char *msg);

/*
 * Load (or reload) name from the repository: the files are read and parsed on a thread of
 * the loop's pool, then the loop thread swaps the new versions in and drops the old ones
 * (jobs still holding them finish on them). Returns 0 and calls done exactly once later, or
 * fails at once: EMBER_ENOTFOUND (no repository, no such model), EMBER_EINVAL (bad name),
 * EMBER_EBUSY (a load of name is already running).
 */
int registry_load_async(registry *reg, const char *name, registry_load_done_fn done, void *arg,
                        ember_err *err);

/* Bring the registry in line with the repository (on SIGHUP): every NAME in it is loaded
 * again in the background (registry_load_async without a callback), and every model that
 * came from a repository but has no folder any more is unloaded. Loop thread only. */
void registry_rescan(registry *reg);

/* Stop serving every version of name. EMBER_ENOTFOUND when none is loaded. */
int registry_unload(registry *reg, const char *name, ember_err *err);

/* The version of name to serve: version (decimal string) or, when NULL, the highest loaded.
 * NULL when there is none. */
model_entry *registry_find(const registry *reg, const char *name, const char *version);

/* Every loaded version of name, highest first: *first is its index in reg->models and the
 * count is returned (0 when none). */
int registry_versions(const registry *reg, const char *name, int *first);

void registry_entry_ref(model_entry *e);
void registry_entry_unref(model_entry *e);

/* The calling worker's session for e (worker nworkers: the loop thread's, for inline runs),
 * created on first use. Runs on worker threads, and on the loop thread for its own slot. */
int registry_session(model_entry *e, int worker, ember_session **out, ember_err *err);

#endif
