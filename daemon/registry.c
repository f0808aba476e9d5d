/*
 * The model registry. At startup main() loads the built-in model (the bytes of
 * models/digits/1/model.onnx compiled into the binary) and then, with --models DIR, every
 * DIR/NAME: the highest config.json "versions" of DIR/NAME/VERSION/model.ember (or
 * model.onnx with --dev), a directory model replacing a built-in one of the same name.
 * Later, POST .../load reads a model again without blocking the loop: a thread of libuv's
 * pool reads config.json and the model files into fresh entries (scan_model), and the loop
 * thread swaps them in (registry_install). Entries are kept sorted by name, then version
 * from the highest, so listings are stable and the first match of a name is its newest.
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

#include <cjson/cJSON.h>

#include <ember/proto.h>

#include "builtin.h"
#include "config.h"
#include "media_input.h"
#include "registry.h"

/* The result of reading one model's folder: its config and the entries of the versions to
 * serve, highest first, each holding one reference. */
typedef struct model_scan {
    model_config cfg;
    model_entry *entries[EMBERD_MAX_MODEL_VERSIONS];
    int n;
    int status; /* 0, or the HTTP status of the failure described in err */
    ember_err err;
} model_scan;

struct registry_load {
    uv_work_t work;
    registry *reg;
    char name[EMBERD_MAX_MODEL_NAME + 1];
    char dir[PATH_MAX];
    int dev, nworkers;
    int cancelled; /* the model was unloaded meanwhile: discard what was read */
    registry_load_done_fn done;
    void *arg;
    model_scan scan;
    registry_load *next;
};

void registry_init(registry *reg, int nworkers, const char *dir, int dev, const daemon_log *lg)
{
    memset(reg, 0, sizeof *reg);
    reg->nworkers = nworkers;
    reg->log = lg;
    registry_set_repository(reg, dir, dev);
}

void registry_set_repository(registry *reg, const char *dir, int dev)
{
    char *copy = dir ? strdup(dir) : NULL;
    if (dir && !copy) {
        log_error(reg->log, "models: out of memory; keeping the repository %s", reg->dir);
        return;
    }
    free(reg->dir);
    reg->dir = copy;
    reg->dev = dev;
}

void registry_attach(registry *reg, uv_loop_t *loop)
{
    reg->loop = loop;
}

static void entry_free(model_entry *e)
{
    if (!e)
        return;
    for (int i = 0; e->sessions && i <= e->nworkers; i++)
        ember_session_free(e->sessions[i]);
    free(e->sessions);
    cache_free(e->cache);
    free(e->inputs);
    free(e->outputs);
    ember_model_free(e->model);
    free(e->name);
    free(e->source);
    media_config_unref(e->cfg.media);
    free(e);
}

void registry_entry_ref(model_entry *e)
{
    e->refs++;
}

void registry_entry_unref(model_entry *e)
{
    if (e && --e->refs == 0)
        entry_free(e);
}

void registry_free(registry *reg)
{
    for (int i = 0; i < reg->nmodels; i++)
        registry_entry_unref(reg->models[i]);
    free(reg->models);
    reg->models = NULL;
    reg->nmodels = 0;
    free(reg->dir);
    reg->dir = NULL;
}

model_entry *registry_find(const registry *reg, const char *name, const char *version)
{
    for (int i = 0; i < reg->nmodels; i++) {
        model_entry *e = reg->models[i];
        if (strcmp(e->name, name) == 0 && (!version || strcmp(e->version_str, version) == 0))
            return e;
    }
    return NULL;
}

int registry_versions(const registry *reg, const char *name, int *first)
{
    int n = 0;
    for (int i = 0; i < reg->nmodels; i++) {
        if (strcmp(reg->models[i]->name, name) != 0)
            continue;
        if (n++ == 0)
            *first = i;
    }
    return n;
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

/* Batching splits and joins every input and output along its first dimension, which must
 * therefore be the batch: symbolic (any size) on all of them. */
static int entry_check_batch(const model_entry *e, ember_err *err)
{
    for (int i = 0; e->cfg.max_batch > 1 && i < e->ninputs + e->noutputs; i++) {
        const ember_io_info *io = i < e->ninputs ? &e->inputs[i] : &e->outputs[i - e->ninputs];
        if (io->rank < 1 || io->dims[0] >= 0)
            return ember_err_set(err, EMBER_EINVAL,
                                 "key 'max_batch' (%d) needs a dynamic first (batch) dimension "
                                 "on every input and output of model '%s'; version %d %s '%s' "
                                 "has %s (%lld)",
                                 e->cfg.max_batch, e->name, e->version,
                                 i < e->ninputs ? "input" : "output", io->name,
                                 io->rank < 1 ? "no dimension" : "a fixed one",
                                 (long long)(io->rank < 1 ? 0 : io->dims[0]));
    }
    return 0;
}

/* A new entry serving m (taken, freed on failure) as name/version, holding one reference.
 * Touches no registry state, so it runs on any thread. */
static int entry_new(const char *name, int version, const char *source, const model_config *cfg,
                     ember_model *m, int nworkers, model_entry **out, ember_err *err)
{
    model_entry *e = calloc(1, sizeof *e);
    if (!e) {
        ember_model_free(m);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory loading %s", name);
    }
    e->model = m;
    e->refs = 1;
    e->version = version;
    e->cfg = *cfg;
    media_config_ref(e->cfg.media);
    snprintf(e->version_str, sizeof e->version_str, "%d", version);
    e->name = strdup(name);
    e->source = strdup(source);
    e->nworkers = nworkers;
    e->sessions = calloc((size_t)nworkers + 1, sizeof *e->sessions);
    e->ninputs = ember_model_ninputs(m);
    e->noutputs = ember_model_noutputs(m);
    ember_model_stats stats;
    if (ember_model_describe(m, &stats) == 0)
        e->weight_bytes = stats.weight_bytes;
    if (!e->name || !e->source || !e->sessions || io_copy(m, e->ninputs, 1, &e->inputs) < 0 ||
        io_copy(m, e->noutputs, 0, &e->outputs) < 0) {
        entry_free(e);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory loading %s", name);
    }
    int rc = 0;
    if (cfg->cache.entries > 0)
        rc = cache_new(&cfg->cache, &e->cache, err);
    if (rc < 0) {
        entry_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* Serve the entries of scan (highest version first; their references move to the
 * registry) in place of every version of name served so far. */
static void registry_install(registry *reg, const char *name, model_scan *scan)
{
    int first = 0, old = registry_versions(reg, name, &first);
    for (int i = 0; i < old; i++) {
        model_entry *e = reg->models[first + i];
        log_info(reg->log, "models: %s version %d (%s) is no longer served%s", name, e->version,
                 e->source, e->refs > 1 ? "; requests in flight finish on it" : "");
        registry_entry_unref(e);
    }
    if (old == 0) {
        /* Insert where name sorts. */
        first = 0;
        while (first < reg->nmodels && strcmp(reg->models[first]->name, name) < 0)
            first++;
    }
    int n = reg->nmodels - old + scan->n;
    if (scan->n > old) {
        model_entry **grown = realloc(reg->models, (size_t)n * sizeof *grown);
        if (!grown) {
            /* Keep the old list's slots consistent: drop the new entries. */
            log_error(reg->log, "models: out of memory installing %s", name);
            for (int i = 0; i < scan->n; i++)
                registry_entry_unref(scan->entries[i]);
            memmove(reg->models + first, reg->models + first + old,
                    (size_t)(reg->nmodels - first - old) * sizeof *reg->models);
            reg->nmodels -= old;
            scan->n = 0;
            return;
        }
        reg->models = grown;
    }
    memmove(reg->models + first + scan->n, reg->models + first + old,
            (size_t)(reg->nmodels - first - old) * sizeof *reg->models);
    for (int i = 0; i < scan->n; i++) {
        model_entry *e = scan->entries[i];
        char in[256], out[256];
        io_describe(e->inputs, e->ninputs, in, sizeof in);
        io_describe(e->outputs, e->noutputs, out, sizeof out);
        /* A sealed model's plaintext is locked in RAM: how much, to size LimitMEMLOCK=. */
        char locked[64] = "";
        size_t lk = ember_model_locked_bytes(e->model);
        if (lk)
            snprintf(locked, sizeof locked, " (%zu KiB locked in RAM)", (lk + 1023) / 1024);
        log_info(reg->log, "models: serving %s version %d (%s): %s -> %s%s", name, e->version,
                 e->source, in, out, locked);
        reg->models[first + i] = e;
    }
    reg->nmodels = n;
    scan->n = 0;
}

void registry_load_builtin(registry *reg)
{
    ember_err err = {{0}};
    model_scan scan = {.cfg = {.versions = 1, .priority = 1, .max_batch = 1, .max_threads = 1},
                       .n = 1};
    ember_model *m;
    if (ember_model_load_mem(emberd_builtin_model, emberd_builtin_model_len, &m, &err) < 0 ||
        entry_new(EMBERD_BUILTIN_MODEL_NAME, EMBERD_BUILTIN_MODEL_VERSION, "built-in", &scan.cfg, m,
                  reg->nworkers, &scan.entries[0], &err) < 0) {
        log_error(reg->log, "models: cannot load the built-in model %s: %s",
                  EMBERD_BUILTIN_MODEL_NAME, err.msg);
        return;
    }
    registry_install(reg, EMBERD_BUILTIN_MODEL_NAME, &scan);
}

/* Model names travel in URL paths and logs: keep them to a safe alphabet. */
static int model_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EMBERD_MAX_MODEL_NAME || s[0] == '.' || s[0] == '-' || s[0] == '_')
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

/* The model file of one version folder: a compiled model.ember, else a plain model.onnx
 * (which registry_model_open accepts only in dev mode). Returns 1 and fills path when there
 * is one. */
static int version_model_file(const char *vdir, char *path, size_t cap)
{
    static const char *const names[] = {"model.ember", "model.onnx"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (snprintf(path, cap, "%s/%s", vdir, names[i]) < (int)cap && is_file(path))
            return 1;
    return 0;
}

int registry_model_open(const char *path, const char *name, int version, int dev,
                        const bundle_keys *keys, int *sealed, ember_model **out, ember_err *err)
{
    size_t n = strlen(path);
    *sealed = 0;
    if (!dev && n > 5 && strcmp(path + n - 5, ".onnx") == 0)
        return ember_err_set(err, EMBER_EINVAL,
                             "refusing %s: plain .onnx models are served only with --dev; "
                             "compile it with 'emberctl compile' into model.ember",
                             path);
    void *buf = NULL;
    size_t len = 0;
    int rc = bundle_file_read(path, &buf, &len, err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *sealed = 1;
        rc = bundle_model_open(keys, path, buf, len, name, version, out, err);
        bundle_file_free(buf, len);
        return rc;
    }
    if (!dev)
        return ember_err_set(err, EMBER_EINVAL,
                             "refusing %s: not a sealed bundle; outside --dev emberd serves only "
                             "sealed models ('emberctl seal', docs/security.md)",
                             path);
    return ember_model_load(path, out, err);
}

/* An integer member it of config file path, lo..hi; rc 0 or EMBER_EINVAL naming the key. */
static int config_int(const cJSON *it, const char *path, const char *key, long long lo,
                      long long hi, long long *out, ember_err *err)
{
    if (!cJSON_IsNumber(it) || it->valuedouble != (double)(long long)it->valuedouble ||
        it->valuedouble < (double)lo || it->valuedouble > (double)hi)
        return ember_err_set(err, EMBER_EINVAL, "%s: key '%s' wants an integer from %lld to %lld",
                             path, key, lo, hi);
    *out = (long long)it->valuedouble;
    return 0;
}

/* "cache": {"entries": N, "max_bytes": B, "max_answer_bytes": A}; entries is required. */
static int config_cache(const cJSON *obj, const char *path, cache_config *out, ember_err *err)
{
    if (!cJSON_IsObject(obj))
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key 'cache' wants an object such as {\"entries\": 1000}", path);
    long long entries = 0, bytes = EMBERD_DEFAULT_CACHE_BYTES, answer = -1;
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        if (strcmp(it->string, "entries") == 0)
            rc = config_int(it, path, "cache.entries", 1, EMBERD_MAX_CACHE_ENTRIES, &entries, err);
        else if (strcmp(it->string, "max_bytes") == 0)
            rc = config_int(it, path, "cache.max_bytes", 1024, EMBERD_MAX_CACHE_BYTES, &bytes, err);
        else if (strcmp(it->string, "max_answer_bytes") == 0)
            rc = config_int(it, path, "cache.max_answer_bytes", 1, EMBERD_MAX_CACHE_BYTES, &answer,
                            err);
        else
            rc =
                ember_err_set(err, EMBER_EINVAL, "%s: unknown key 'cache.%.64s'", path, it->string);
        if (rc < 0)
            return rc;
    }
    if (entries == 0)
        return ember_err_set(err, EMBER_EINVAL, "%s: key 'cache.entries' is required", path);
    if (answer < 0) /* the default, within a smaller max_bytes */
        answer =
            bytes < EMBERD_DEFAULT_CACHE_ANSWER_BYTES ? bytes : EMBERD_DEFAULT_CACHE_ANSWER_BYTES;
    if (answer > bytes)
        return ember_err_set(err, EMBER_EINVAL,
                             "%s: key 'cache.max_answer_bytes' (%lld) exceeds cache.max_bytes "
                             "(%lld)",
                             path, answer, bytes);
    *out = (cache_config){(int)entries, (size_t)bytes, (size_t)answer};
    return 0;
}

int registry_config_read(const char *path, model_config *cfg, ember_err *err)
{
    *cfg = (model_config){.versions = 1, .priority = 1, .max_batch = 1, .max_threads = 1};
    cJSON *root;
    int rc = daemon_json_object_read(path, EMBERD_MAX_MODEL_CONFIG, &root, err);
    if (rc == EMBER_ENOTFOUND)
        return 0; /* no config.json: the defaults */
    if (rc < 0)
        return rc;
    const cJSON *it;
    long long v = 0;
    cJSON_ArrayForEach(it, root)
    {
        if (strcmp(it->string, "versions") == 0) {
            rc = config_int(it, path, "versions", 1, EMBERD_MAX_MODEL_VERSIONS, &v, err);
            cfg->versions = (int)v;
        } else if (strcmp(it->string, "priority") == 0) {
            static const char *const names[] = {"high", "normal", "low"};
            cfg->priority = -1;
            for (int i = 0; i < 3 && cJSON_IsString(it); i++)
                if (strcmp(it->valuestring, names[i]) == 0)
                    cfg->priority = i;
            if (cfg->priority < 0)
                rc =
                    ember_err_set(err, EMBER_EINVAL,
                                  "%s: key 'priority' wants \"high\", \"normal\" or \"low\"", path);
        } else if (strcmp(it->string, "cache") == 0) {
            rc = config_cache(it, path, &cfg->cache, err);
        } else if (strcmp(it->string, "max_batch") == 0) {
            rc = config_int(it, path, "max_batch", 1, EMBERD_MAX_BATCH, &v, err);
            cfg->max_batch = (int)v;
        } else if (strcmp(it->string, "max_batch_delay_us") == 0) {
            rc = config_int(it, path, "max_batch_delay_us", 0, EMBERD_MAX_BATCH_DELAY_US, &v, err);
            cfg->max_batch_delay_us = (int)v;
        } else if (strcmp(it->string, "max_threads") == 0) {
            rc = config_int(it, path, "max_threads", 1, EMBER_SESSION_MAX_THREADS, &v, err);
            cfg->max_threads = (int)v;
        } else if (strcmp(it->string, "inputs") == 0 || strcmp(it->string, "labels") == 0) {
            rc = media_config_read(path, it, &cfg->media, err);
        } else {
            rc = ember_err_set(err, EMBER_EINVAL, "%s: unknown key '%.64s'", path, it->string);
        }
        if (rc < 0)
            break;
    }
    cJSON_Delete(root);
    if (rc < 0)
        registry_config_clear(cfg);
    return rc;
}

void registry_config_clear(model_config *cfg)
{
    media_config_unref(cfg->media);
    cfg->media = NULL;
}

static int scan_fail(model_scan *scan, int status, int code, const char *fmt, const char *a,
                     const char *b)
{
    for (int i = 0; i < scan->n; i++)
        registry_entry_unref(scan->entries[i]);
    scan->n = 0;
    scan->status = status;
    ember_err_set(&scan->err, code, fmt, a, b);
    return code;
}

/*
 * Read dir/name: its config.json and the config's number of highest versions that hold a
 * model file, each loaded into a new entry. All or nothing: on failure scan holds no entry
 * and an HTTP status and message. Touches no registry state, so it runs on any thread.
 */
static int scan_model_read(const char *dir, const char *name, int dev, const bundle_keys *keys,
                           int nworkers, int check, const daemon_log *lg, model_scan *scan)
{
    char mdir[PATH_MAX], vdir[PATH_MAX], path[PATH_MAX];
    memset(scan, 0, sizeof *scan);
    if (snprintf(mdir, sizeof mdir, "%s/%s", dir, name) >= (int)sizeof mdir)
        return scan_fail(scan, 400, EMBER_EINVAL, "the path of model %s in %s is too long", name,
                         dir);
    if (!is_dir(mdir))
        return scan_fail(scan, 404, EMBER_ENOTFOUND, "no model '%s' in the repository %s", name,
                         dir);
    if (snprintf(path, sizeof path, "%s/config.json", mdir) >= (int)sizeof path)
        return scan_fail(scan, 400, EMBER_EINVAL, "the path of %s/%s is too long", mdir,
                         "config.json");
    int rc = registry_config_read(path, &scan->cfg, &scan->err);
    if (rc < 0) {
        scan->status = rc == EMBER_EIO ? 500 : 400;
        return rc;
    }

    DIR *d = opendir(mdir);
    if (!d)
        return scan_fail(scan, 500, EMBER_EIO, "cannot read %s: %s", mdir, strerror(errno));
    /* The highest cfg.versions versions holding a model file, highest first. */
    int best[EMBERD_MAX_MODEL_VERSIONS], nbest = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "config.json") == 0)
            continue;
        int v = version_parse(de->d_name);
        if (snprintf(vdir, sizeof vdir, "%s/%s", mdir, de->d_name) >= (int)sizeof vdir)
            continue;
        if (!v) {
            /* Files beside config.json (a labels file, a README) are the model's own. */
            if (is_dir(vdir))
                log_warn(lg, "models: ignoring %s: a version must be a positive integer", vdir);
            continue;
        }
        if (!version_model_file(vdir, path, sizeof path))
            continue;
        int at = nbest;
        while (at > 0 && best[at - 1] < v)
            at--;
        if (at >= scan->cfg.versions)
            continue;
        if (nbest < scan->cfg.versions)
            nbest++;
        memmove(best + at + 1, best + at, (size_t)(nbest - 1 - at) * sizeof *best);
        best[at] = v;
    }
    closedir(d);
    if (nbest == 0)
        return scan_fail(scan, 404, EMBER_ENOTFOUND, "%s holds no VERSION/model.ember%s", mdir,
                         dev ? " or model.onnx" : "");

    int floor = 0; /* the highest sealed version loaded: the rollback floor to raise */
    for (int i = 0; i < nbest; i++) {
        ember_model *m;
        if (snprintf(vdir, sizeof vdir, "%s/%d", mdir, best[i]) >= (int)sizeof vdir ||
            !version_model_file(vdir, path, sizeof path))
            return scan_fail(scan, 500, EMBER_EIO, "%s: %s", vdir, "the model file went away");
        ember_err err = {{0}};
        int sealed;
        rc = registry_model_open(path, name, best[i], dev, keys, &sealed, &m, &err);
        if (rc == EMBER_SEC_EROLLBACK && i > 0) {
            /* An older version kept beside the newest ("versions" > 1) that the floor has
             * passed is never served again; the newer ones still are. */
            log_warn(lg, "models: %s", err.msg);
            continue;
        }
        if (rc < 0)
            return scan_fail(scan, rc == EMBER_ENOMEM ? 500 : 400, rc, "%s%s", "", err.msg);
        rc = entry_new(name, best[i], path, &scan->cfg, m, nworkers, &scan->entries[scan->n], &err);
        if (rc < 0)
            return scan_fail(scan, rc == EMBER_EINVAL ? 400 : 500, rc, "%s: %s", path, err.msg);
        scan->n++;
        const model_entry *e = scan->entries[scan->n - 1];
        if (media_config_check(scan->cfg.media, e->inputs, e->ninputs, &err) < 0 ||
            entry_check_batch(e, &err) < 0)
            return scan_fail(scan, 400, EMBER_EINVAL, "%s/config.json: %s", mdir, err.msg);
        if (sealed && best[i] > floor)
            floor = best[i];
    }
    ember_err err = {{0}};
    if (!check && floor > 0 && bundle_accept(keys, name, floor, &err) < 0)
        return scan_fail(scan, 500, EMBER_EIO, "cannot record the rollback floor of %s: %s", name,
                         err.msg);
    return 0;
}

/* scan_model_read, then drop the scan's own hold on the config (each entry keeps its own). */
static int scan_model(const char *dir, const char *name, int dev, const bundle_keys *keys,
                      int nworkers, const daemon_log *lg, model_scan *scan)
{
    int rc = scan_model_read(dir, name, dev, keys, nworkers, 0, lg, scan);
    registry_config_clear(&scan->cfg);
    return rc;
}

int registry_check_model(const char *dir, const char *name, int dev, const bundle_keys *keys,
                         const daemon_log *lg, ember_err *err)
{
    if (!model_name_ok(name))
        return 0;
    model_scan scan;
    int rc = scan_model_read(dir, name, dev, keys, 1, 1, lg, &scan);
    registry_config_clear(&scan.cfg);
    for (int i = 0; i < scan.n; i++)
        registry_entry_unref(scan.entries[i]);
    if (rc < 0)
        ember_err_set(err, rc, "model %s: %s", name, scan.err.msg);
    return rc;
}

void registry_load_dir(registry *reg)
{
    DIR *d = opendir(reg->dir);
    if (!d) {
        log_error(reg->log, "models: cannot open model directory %s: %s", reg->dir,
                  strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", reg->dir, de->d_name) >= (int)sizeof sub ||
            !is_dir(sub))
            continue;
        if (!model_name_ok(de->d_name)) {
            log_warn(reg->log,
                     "models: ignoring %s: a model name is 1-%d of A-Z a-z 0-9 _ . - and starts "
                     "with a letter or digit",
                     sub, EMBERD_MAX_MODEL_NAME);
            continue;
        }
        model_scan scan;
        int rc =
            scan_model(reg->dir, de->d_name, reg->dev, reg->keys, reg->nworkers, reg->log, &scan);
        if (rc < 0) {
            log_error(reg->log, "models: %s skipped: %s", de->d_name, scan.err.msg);
            continue;
        }
        registry_install(reg, de->d_name, &scan);
    }
    closedir(d);
}

static void load_work(uv_work_t *w)
{
    registry_load *ld = w->data;
    scan_model(ld->dir, ld->name, ld->dev, ld->reg->keys, ld->nworkers, ld->reg->log, &ld->scan);
}

static void load_after_work(uv_work_t *w, int status)
{
    registry_load *ld = w->data;
    registry *reg = ld->reg;
    for (registry_load **p = &reg->loads; *p; p = &(*p)->next) {
        if (*p == ld) {
            *p = ld->next;
            break;
        }
    }
    reg->nloads--;
    model_scan *scan = &ld->scan;
    if (status < 0 && scan->status == 0) {
        scan->status = 500;
        ember_err_set(&scan->err, EMBER_EIO, "the load of %s was cancelled", ld->name);
    } else if (ld->cancelled && scan->status == 0) {
        scan_fail(scan, 409, EMBER_ESTATE, "model '%s' was unloaded while it loaded%s", ld->name,
                  "");
    }
    if (scan->status == 0)
        registry_install(reg, ld->name, scan);
    else
        log_error(reg->log, "models: loading %s failed: %s", ld->name, scan->err.msg);
    if (ld->done)
        ld->done(ld->arg, scan->status == 0 ? 200 : scan->status,
                 scan->status == 0 ? NULL : scan->err.msg);
    free(ld);
}

/* Start loading name; bounded limits the loads running at once (rescans are bounded by the
 * repository's size instead). */
static int load_start(registry *reg, const char *name, registry_load_done_fn done, void *arg,
                      int bounded, ember_err *err)
{
    if (!reg->dir)
        return ember_err_set(err, EMBER_ENOTFOUND,
                             "no model repository: start emberd with --models DIR");
    if (!model_name_ok(name))
        return ember_err_set(err, EMBER_EINVAL,
                             "'%.80s' is not a model name: 1-%d of A-Z a-z 0-9 _ . - starting "
                             "with a letter or digit",
                             name, EMBERD_MAX_MODEL_NAME);
    for (registry_load *l = reg->loads; l; l = l->next)
        if (strcmp(l->name, name) == 0)
            return ember_err_set(err, EMBER_ESTATE, "model '%s' is already being loaded", name);
    if (bounded && reg->nloads >= EMBERD_MAX_LOADS)
        return ember_err_set(err, EMBER_EBUSY, "%d model loads are running; retry later",
                             EMBERD_MAX_LOADS);
    registry_load *ld = calloc(1, sizeof *ld);
    if (!ld)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    if (snprintf(ld->dir, sizeof ld->dir, "%s", reg->dir) >= (int)sizeof ld->dir) {
        free(ld);
        return ember_err_set(err, EMBER_EINVAL, "the model repository path is too long");
    }
    strcpy(ld->name, name);
    ld->reg = reg;
    ld->dev = reg->dev;
    ld->nworkers = reg->nworkers;
    ld->done = done;
    ld->arg = arg;
    ld->work.data = ld;
    int rc = uv_queue_work(reg->loop, &ld->work, load_work, load_after_work);
    if (rc < 0) {
        free(ld);
        return ember_err_set(err, EMBER_EIO, "cannot start loading %s: %s", name, uv_strerror(rc));
    }
    ld->next = reg->loads;
    reg->loads = ld;
    reg->nloads++;
    log_info(reg->log, "models: loading %s from %s", name, reg->dir);
    return 0;
}

int registry_load_async(registry *reg, const char *name, registry_load_done_fn done, void *arg,
                        ember_err *err)
{
    return load_start(reg, name, done, arg, 1, err);
}

void registry_rescan(registry *reg)
{
    char sub[PATH_MAX];
    ember_err err = {{0}};
    for (int i = 0; i < reg->nmodels;) {
        model_entry *e = reg->models[i];
        if (strcmp(e->source, "built-in") == 0 ||
            (reg->dir && snprintf(sub, sizeof sub, "%s/%s", reg->dir, e->name) < (int)sizeof sub &&
             is_dir(sub))) {
            i++;
            continue;
        }
        log_info(reg->log, "models: %s is no longer in the repository", e->name);
        registry_unload(reg, e->name, &err); /* removes every version at i */
    }
    if (!reg->dir)
        return;
    DIR *d = opendir(reg->dir);
    if (!d) {
        log_error(reg->log, "models: cannot open model directory %s: %s", reg->dir,
                  strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !model_name_ok(de->d_name))
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s", reg->dir, de->d_name) >= (int)sizeof sub ||
            !is_dir(sub))
            continue;
        if (load_start(reg, de->d_name, NULL, NULL, 0, &err) < 0)
            log_warn(reg->log, "models: not reloading %s: %s", de->d_name, err.msg);
    }
    closedir(d);
}

int registry_unload(registry *reg, const char *name, ember_err *err)
{
    int cancelled = 0;
    for (registry_load *l = reg->loads; l; l = l->next)
        if (strcmp(l->name, name) == 0 && !l->cancelled)
            l->cancelled = cancelled = 1;
    int first = 0, n = registry_versions(reg, name, &first);
    if (n == 0 && !cancelled)
        return ember_err_set(err, EMBER_ENOTFOUND, "model '%.128s' is not loaded", name);
    for (int i = 0; i < n; i++) {
        model_entry *e = reg->models[first + i];
        log_info(reg->log, "models: %s version %d unloaded%s", name, e->version,
                 e->refs > 1 ? "; requests in flight finish on it" : "");
        registry_entry_unref(e);
    }
    memmove(reg->models + first, reg->models + first + n,
            (size_t)(reg->nmodels - first - n) * sizeof *reg->models);
    reg->nmodels -= n;
    return 0;
}
