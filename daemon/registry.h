/*
 * The model registry: every model emberd serves, by name, with the version it serves and the
 * per-worker sessions that run it. Only the loop thread adds or looks up models; a worker
 * touches only its own session slot of the model its job names.
 */
#ifndef EMBERD_REGISTRY_H
#define EMBERD_REGISTRY_H

#include <ember/engine.h>

#include "log.h"

typedef struct model_entry {
    char *name;
    int version;
    char version_str[16];
    char *source; /* "built-in" or the file it came from, for logs */
    ember_model *model;
    ember_io_info *inputs, *outputs; /* copies of the model's descriptions */
    int ninputs, noutputs;
    ember_session **sessions; /* [nworkers]; slot w belongs to worker w, created lazily */
    int nworkers;
} model_entry;

typedef struct registry {
    model_entry **models;
    int nmodels;
    int nworkers;
    const daemon_log *log;
} registry;

void registry_init(registry *reg, int nworkers, const daemon_log *lg);
/* Free every model and session; the worker pool must be gone. */
void registry_free(registry *reg);

/* Load the model embedded in the binary. Failures are logged; the daemon carries on. */
void registry_load_builtin(registry *reg);

/* Load the highest DIR/NAME/VERSION/model.onnx of each NAME; plain .onnx only when dev is
 * set. A model that fails is logged and skipped; a name already present is replaced. */
void registry_load_dir(registry *reg, const char *dir, int dev);

/* The model served under name, or NULL. */
model_entry *registry_find(const registry *reg, const char *name);

/* The calling worker's session for e, created on first use. Runs on worker threads. */
int registry_session(model_entry *e, int worker, ember_session **out, ember_err *err);

#endif
