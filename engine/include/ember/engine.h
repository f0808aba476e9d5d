/*
 * libember-engine: load a model (ONNX or compiled .ember), run it, and a small worker pool to
 * run it on.
 *
 * A model (ember_model) is immutable after loading and may be shared by any number of
 * threads. A session (ember_session) owns the memory arena one inference needs; it is used by
 * one thread at a time. Sessions plan their arena for the input shapes they see and plan again
 * when a run brings other shapes.
 */
#ifndef EMBER_ENGINE_H
#define EMBER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <ember/err.h>

#define EMBER_MAX_RANK 8

/* Values match ONNX TensorProto.DataType so importers need no table. */
typedef enum ember_dtype {
    EMBER_DT_UNDEFINED = 0,
    EMBER_DT_FLOAT = 1,
    EMBER_DT_UINT8 = 2,
    EMBER_DT_INT8 = 3,
    EMBER_DT_INT32 = 6,
    EMBER_DT_INT64 = 7,
    EMBER_DT_BOOL = 9,
} ember_dtype;

/* Bytes per element, 0 for a type the engine does not handle. */
size_t ember_dtype_size(ember_dtype dt);
/* Lower-case name ("float32", "int64", ...), "undefined" for anything else. */
const char *ember_dtype_name(ember_dtype dt);

/* A dense row-major tensor. The struct never owns data; whoever filled it says who does. */
typedef struct ember_tensor {
    ember_dtype dtype;
    int rank;
    int64_t dims[EMBER_MAX_RANK];
    void *data;
} ember_tensor;

/* Number of elements (1 for rank 0), or -1 if a dim is negative or the count overflows. */
int64_t ember_tensor_count(const ember_tensor *t);

/* Description of a model input or output. dims[i] < 0 marks a dimension that is only known
 * when a request arrives (a symbolic ONNX dim such as the batch size). */
typedef struct ember_io_info {
    const char *name;
    ember_dtype dtype;
    int rank;
    int64_t dims[EMBER_MAX_RANK];
} ember_io_info;

typedef struct ember_model ember_model;
typedef struct ember_session ember_session;

/* Load a model from a file: ONNX, or a compiled .ember (told apart by content, not name).
 * On success *out is owned by the caller: free it with ember_model_free after every session
 * made from it is freed. A compiled model is mapped read-only and its weights are used in
 * place, so the file must not be modified while the model lives (ember_model_save replaces
 * files by rename, which is safe). */
int ember_model_load(const char *path, ember_model **out, ember_err *err);

/* ember_model_load for a model that is only described or saved, never run (emberctl
 * compile): the optimized kernels' load-time preparation, which packs their weights and is
 * most of the work of loading a vision model, is skipped. A session made from it still runs
 * correctly, packing weights on every run instead. */
int ember_model_load_unprepared(const char *path, ember_model **out, ember_err *err);

/* Load from memory (ONNX or compiled); what the model needs is copied (a compiled model's
 * weights once, into an aligned block the model owns), so the caller may free buf afterwards. */
int ember_model_load_mem(const void *buf, size_t len, ember_model **out, ember_err *err);

/* ember_model_load_mem for secret models: a compiled model's weights, and every copy the
 * kernels derive from them (packed weights), go into pages that are locked in RAM (mlock:
 * never swapped) and excluded from core dumps (MADV_DONTDUMP), and ember_model_free wipes
 * them before releasing them. Only compiled
 * models (EMBER_EFORMAT for ONNX). EMBER_ENOMEM when the pages cannot be locked
 * (RLIMIT_MEMLOCK: systemd's LimitMEMLOCK=). */
int ember_model_load_mem_locked(const void *buf, size_t len, ember_model **out, ember_err *err);

/* Bytes a model loaded with ember_model_load_mem_locked holds locked in RAM: its weights and
 * what the kernels derived from them (packed copies), in whole pages; 0 for any other model.
 * What RLIMIT_MEMLOCK (systemd's LimitMEMLOCK=) must leave room for, per model. */
size_t ember_model_locked_bytes(const ember_model *m);

void ember_model_free(ember_model *m);

/* Write m as a compiled .ember model (docs/ember-format.md) at path. The bytes go to a
 * temporary file next to path, which is fsync'd and then renamed over path, so readers see
 * the old file or the whole new one. m stays the caller's. */
int ember_model_save(const ember_model *m, const char *path, ember_err *err);
/* The same bytes in memory: on success *buf (*len bytes) is the caller's to free(). */
int ember_model_save_mem(const ember_model *m, void **buf, size_t *len, ember_err *err);
/* ember_model_save_mem without the kernels' packed weights (about half the bytes for a vision
 * model; the kernels pack at load instead, as for ONNX): what emberctl seal wraps, because a
 * sealed model is verified and decrypted byte by byte on every load, which costs more than
 * packing. */
int ember_model_save_mem_compact(const ember_model *m, void **buf, size_t *len, ember_err *err);

typedef enum ember_model_format {
    EMBER_FORMAT_ONNX = 1,
    EMBER_FORMAT_COMPILED = 2, /* .ember */
} ember_model_format;

#define EMBER_STATS_MAX_OPS 64

typedef struct ember_op_count {
    const char *domain; /* "" for the default ONNX domain */
    const char *op;
    int count;
} ember_op_count;

/* What a model holds, for tools (emberctl inspect). Strings are borrowed from the model. */
typedef struct ember_model_stats {
    ember_model_format format;
    int opset;
    int nodes;   /* including the nodes of subgraphs (the branches of If) */
    int nops;    /* distinct operator types; ops[] holds the first EMBER_STATS_MAX_OPS */
    ember_op_count ops[EMBER_STATS_MAX_OPS]; /* most frequent first, then by name */
    int64_t params;       /* elements of all constants, tensor attributes included */
    int64_t weight_bytes; /* their bytes */
} ember_model_stats;

/* Fill *out for m; 0 or EMBER_ENOMEM. */
int ember_model_describe(const ember_model *m, ember_model_stats *out);

int ember_model_ninputs(const ember_model *m);
int ember_model_noutputs(const ember_model *m);
/* Borrowed pointers, valid while the model lives. NULL when i is out of range. */
const ember_io_info *ember_model_input(const ember_model *m, int i);
const ember_io_info *ember_model_output(const ember_model *m, int i);
/* Index of the input or output with that name, or -1. */
int ember_model_input_index(const ember_model *m, const char *name);
int ember_model_output_index(const ember_model *m, const char *name);

/* Create a session for model m (which must outlive it). */
int ember_session_create(const ember_model *m, ember_session **out, ember_err *err);
void ember_session_free(ember_session *s);

/*
 * Run one inference. inputs[i] is the model's i-th input (ninputs must equal
 * ember_model_ninputs); its dtype and any fixed dims must match the model's. On success
 * outputs[i] (noutputs must equal ember_model_noutputs) describes the i-th output; its data
 * points into the session and stays valid until the next run or ember_session_free.
 * A bad input returns EMBER_ESHAPE or EMBER_EINVAL with a message naming the input.
 */
int ember_session_run(ember_session *s, const ember_tensor *inputs, int ninputs,
                      ember_tensor *outputs, int noutputs, ember_err *err);

/* Bytes of the arena planned for the last run's shapes (0 before the first run). */
size_t ember_session_arena_bytes(const ember_session *s);

/* Count multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul and their integer and
 * QLinear forms, from the shapes each node ran with) in the runs that follow, when on is
 * non-zero. Off by default; runs then pay nothing for it. */
void ember_session_count_macs(ember_session *s, int on);
/* MACs of the last run made while counting was on (0 before any). */
int64_t ember_session_macs(const ember_session *s);

/* Most threads one session can run on (ember_session_set_threads). */
#define EMBER_SESSION_MAX_THREADS 64

/* Run this session's large Conv, Gemm and MatMul nodes on n threads: the caller's and n - 1
 * helpers the session starts here and keeps parked (blocked on a condition variable) between
 * nodes, so runs start no threads and allocate nothing for them. n is clamped to 1..the
 * CPUs online (never more threads than CPUs) and EMBER_SESSION_MAX_THREADS; 1, the default,
 * stops the helpers. Outputs are bit-identical for every n (each output element is computed
 * by one thread exactly as with one). Not while a run is in progress. Returns the count
 * applied (>= 1), or EMBER_ENOMEM / EMBER_EIO when helpers cannot be started (the session
 * then stays on one thread). */
int ember_session_set_threads(ember_session *s, int n, ember_err *err);
/* Threads the session runs on (1 unless ember_session_set_threads applied more). */
int ember_session_threads(const ember_session *s);

/* Time every node of the model's graph and of the subgraphs in it (the branches of If, to
 * any depth) in the runs that follow, when on is non-zero; turning it on clears the totals,
 * which then add up over runs until it is turned off. A node that runs subgraphs is charged
 * only its own overhead: the time of the nodes it ran goes to those nodes. Off by default;
 * runs then pay nothing for it. 0, or EMBER_ENOMEM (profiling stays off). */
int ember_session_profile(ember_session *s, int on);

/* One node's share of the profiled runs. Strings are borrowed from the model. */
typedef struct ember_node_time {
    const char *name;
    const char *domain; /* "" for the default ONNX domain */
    const char *op;
    const char *parent; /* name of the node whose subgraph holds this one; "" at the top */
    int depth;          /* 0 for the model's graph, 1 inside its nodes' subgraphs, ... */
    int64_t ns;         /* own time, summed over the profiled runs */
    int64_t calls;      /* times the node ran (0 for a branch never taken) */
    int64_t runs;
} ember_node_time;

/* Number of nodes profiled (0 when profiling was never on): every node of the model's graph
 * in execution order, each followed by the nodes of its subgraphs (depth first); and node
 * i's times into *out (0, or EMBER_EINVAL for an i out of range). */
int ember_session_profile_nodes(const ember_session *s);
int ember_session_profile_node(const ember_session *s, int i, ember_node_time *out);

/*
 * A fixed pool of worker threads running jobs from a bounded FIFO queue. fn runs on a worker
 * thread with the worker's index (0..nworkers-1), so callers can keep per-worker state such as
 * sessions without locks.
 */
typedef struct ember_pool ember_pool;
typedef void (*ember_job_fn)(void *arg, int worker);

int ember_pool_create(int nworkers, int queue_cap, ember_pool **out, ember_err *err);
/* Queue a job; EMBER_EBUSY when queue_cap jobs are already waiting, EMBER_ESTATE once the
 * pool is shutting down. Thread-safe. */
int ember_pool_submit(ember_pool *p, ember_job_fn fn, void *arg);
int ember_pool_nworkers(const ember_pool *p);
/* Number of jobs waiting (not yet picked up by a worker). Thread-safe. */
int ember_pool_queued(ember_pool *p);
/* Gate workers for the power governor: workers 0..n-1 stay active, the rest park (blocked on
 * a condition variable, not spinning) and one wakes whenever more jobs are queued than there
 * are active workers. n is clamped to 1..nworkers; returns the count applied. Starts at
 * nworkers. Thread-safe. */
int ember_pool_set_active(ember_pool *p, int n);
/* Number of workers parked right now. Thread-safe. */
int ember_pool_parked(ember_pool *p);
/* Run every queued job, then join the workers and free the pool. */
void ember_pool_destroy(ember_pool *p);

#endif
