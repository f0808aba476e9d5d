/*
 * The model registry. At startup main() loads the built-in model (the bytes of
 * models/digits/1/model.onnx compiled into the binary) and then, with --models DIR, the
 * highest version of every DIR/NAME/VERSION/model.ember (or model.onnx with --dev), a
 * directory model replacing a built-in one of the same name. Models are kept sorted by name
 * so listings are stable.
 * Each entry owns one session slot per worker: the worker creates its session on first use
 * and is the only thread that ever touches it, so running needs no lock.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ember/proto.h>

#include "builtin.h"
#include "registry.h"

#define MODEL_NAME_MAX 64

void registry_init(registry *reg, int nworkers, const daemon_log *lg)
{
    memset(reg, 0, sizeof *reg);
    reg->nworkers = nworkers;
    reg->log = lg;
}

static void entry_free(model_entry *e)
{
    if (!e)
        return;
    for (int i = 0; e->sessions && i < e->nworkers; i++)
        ember_session_free(e->sessions[i]);
    free(e->sessions);
    free(e->inputs);
    free(e->outputs);
    ember_model_free(e->model);
    free(e->name);
    free(e->source);
    free(e);
}

void registry_free(registry *reg)
{
    for (int i = 0; i < reg->nmodels; i++)
        entry_free(reg->models[i]);
    free(reg->models);
    reg->models = NULL;
    reg->nmodels = 0;
}

model_entry *registry_find(const registry *reg, const char *name)
{
    for (int i = 0; i < reg->nmodels; i++)
        if (strcmp(reg->models[i]->name, name) == 0)
            return reg->models[i];
    return NULL;
}

int registry_session(model_entry *e, int worker, ember_session **out, ember_err *err)
{
    if (!e->sessions[worker]) {
        int rc = ember_session_create(e->model, &e->sessions[worker], err);
        if (rc < 0)
            return rc;
    }
    *out = e->sessions[worker];
    return 0;
}

static int io_copy(const ember_model *m, int n, int inputs, ember_io_info **out)
{
    *out = calloc((size_t)(n > 0 ? n : 1), sizeof **out);
    if (!*out)
        return EMBER_ENOMEM;
    for (int i = 0; i < n; i++)
        (*out)[i] = *(inputs ? ember_model_input(m, i) : ember_model_output(m, i));
    return 0;
}

/* "image FP32 [-1,64]" for the startup log. */
static void io_describe(const ember_io_info *io, int n, char *s, size_t cap)
{
    size_t len = 0;
    s[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        const char *dt = ember_kserve_datatype_name(io[i].dtype);
        len += (size_t)snprintf(s + len, cap - len, "%s%s %s [", i ? ", " : "", io[i].name,
                                dt ? dt : ember_dtype_name(io[i].dtype));
        for (int d = 0; d < io[i].rank && len < cap; d++)
            len += (size_t)snprintf(s + len, cap - len, "%s%lld", d ? "," : "",
                                    (long long)(io[i].dims[d] < 0 ? -1 : io[i].dims[d]));
        if (len < cap)
            len += (size_t)snprintf(s + len, cap - len, "]");
    }
}

/* Take ownership of m and serve it as name/version, replacing any model of that name. */
static void registry_add(registry *reg, const char *name, int version, const char *source,
                         ember_model *m)
{
    model_entry *e = calloc(1, sizeof *e);
    model_entry **grown = NULL;
    if (!e)
        goto oom;
    e->model = m;
    e->version = version;
    snprintf(e->version_str, sizeof e->version_str, "%d", version);
    e->name = strdup(name);
    e->source = strdup(source);
    e->nworkers = reg->nworkers;
    e->sessions = calloc((size_t)reg->nworkers, sizeof *e->sessions);
    e->ninputs = ember_model_ninputs(m);
    e->noutputs = ember_model_noutputs(m);
    if (!e->name || !e->source || !e->sessions || io_copy(m, e->ninputs, 1, &e->inputs) < 0 ||
        io_copy(m, e->noutputs, 0, &e->outputs) < 0)
        goto oom;

    char in[256], out[256];
    io_describe(e->inputs, e->ninputs, in, sizeof in);
    io_describe(e->outputs, e->noutputs, out, sizeof out);

    for (int i = 0; i < reg->nmodels; i++) {
        if (strcmp(reg->models[i]->name, name) == 0) {
            log_info(reg->log, "models: %s version %d from %s replaces the one from %s", name,
                     version, source, reg->models[i]->source);
            entry_free(reg->models[i]);
            reg->models[i] = e;
            goto added;
        }
    }
    grown = realloc(reg->models, (size_t)(reg->nmodels + 1) * sizeof *grown);
    if (!grown)
        goto oom;
    reg->models = grown;
    /* Insert sorted by name. */
    int at = reg->nmodels;
    while (at > 0 && strcmp(reg->models[at - 1]->name, name) > 0) {
        reg->models[at] = reg->models[at - 1];
        at--;
    }
    reg->models[at] = e;
    reg->nmodels++;
added:
    log_info(reg->log, "models: serving %s version %d (%s): %s -> %s", name, version, source, in,
             out);
    return;
oom:
    log_error(reg->log, "models: out of memory adding %s", name);
    if (e)
        entry_free(e);
    else
        ember_model_free(m);
}

void registry_load_builtin(registry *reg)
{
    ember_model *m;
    ember_err err = {{0}};
    if (ember_model_load_mem(emberd_builtin_model, emberd_builtin_model_len, &m, &err) < 0) {
        log_error(reg->log, "models: cannot load the built-in model %s: %s",
                  EMBERD_BUILTIN_MODEL_NAME, err.msg);
        return;
    }
    registry_add(reg, EMBERD_BUILTIN_MODEL_NAME, EMBERD_BUILTIN_MODEL_VERSION, "built-in", m);
}

/* Model names travel in URL paths and logs: keep them to a safe alphabet. */
static int model_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MODEL_NAME_MAX || s[0] == '.' || s[0] == '-' || s[0] == '_')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/* A positive decimal version without sign or leading zeros; 0 for anything else. */
static int version_parse(const char *s)
{
    if (s[0] < '1' || s[0] > '9' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
        return 0;
    return atoi(s);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The model file of one version folder: a compiled model.ember, else (dev mode only) a
 * plain model.onnx. Returns 1 and fills path when there is one. */
static int version_model_file(const char *vdir, char *path, size_t cap)
{
    static const char *const names[] = {"model.ember", "model.onnx"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (snprintf(path, cap, "%s/%s", vdir, names[i]) < (int)cap && is_file(path))
            return 1;
    return 0;
}

/* Load the highest version of dir/name that holds a model file. */
static void registry_load_model_dir(registry *reg, const char *dir, const char *name, int dev)
{
    char mdir[PATH_MAX], vdir[PATH_MAX], path[PATH_MAX];
    if (snprintf(mdir, sizeof mdir, "%s/%s", dir, name) >= (int)sizeof mdir)
        return;
    DIR *d = opendir(mdir);
    if (!d) {
        log_warn(reg->log, "models: cannot read %s: %s", mdir, strerror(errno));
        return;
    }
    int best = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "config.json") == 0)
            continue;
        int v = version_parse(de->d_name);
        if (!v) {
            log_warn(reg->log, "models: ignoring %s/%s: a version must be a positive integer", mdir,
                     de->d_name);
            continue;
        }
        if (snprintf(vdir, sizeof vdir, "%s/%s", mdir, de->d_name) >= (int)sizeof vdir)
            continue;
        if (v > best && version_model_file(vdir, path, sizeof path))
            best = v;
    }
    closedir(d);
    if (!best) {
        log_warn(reg->log, "models: %s holds no VERSION/model.ember or model.onnx; skipped", mdir);
        return;
    }
    if (snprintf(vdir, sizeof vdir, "%s/%d", mdir, best) >= (int)sizeof vdir ||
        !version_model_file(vdir, path, sizeof path))
        return;
    size_t n = strlen(path);
    if (!dev && n > 5 && strcmp(path + n - 5, ".onnx") == 0) {
        log_warn(reg->log,
                 "models: refusing %s: plain .onnx models are served only with --dev; "
                 "compile it with 'emberctl compile' into model.ember",
                 path);
        return;
    }
    ember_model *m;
    ember_err err = {{0}};
    if (ember_model_load(path, &m, &err) < 0) {
        log_error(reg->log, "models: %s version %d skipped: %s", name, best, err.msg);
        return;
    }
    registry_add(reg, name, best, path, m);
}

void registry_load_dir(registry *reg, const char *dir, int dev)
{
    DIR *d = opendir(dir);
    if (!d) {
        log_error(reg->log, "models: cannot open model directory %s: %s", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >= (int)sizeof sub || !is_dir(sub))
            continue;
        if (!model_name_ok(de->d_name)) {
            log_warn(reg->log,
                     "models: ignoring %s: a model name is 1-%d of A-Z a-z 0-9 _ . - and starts "
                     "with a letter or digit",
                     sub, MODEL_NAME_MAX);
            continue;
        }
        registry_load_model_dir(reg, dir, de->d_name, dev);
    }
    closedir(d);
}
