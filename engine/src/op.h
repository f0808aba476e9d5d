/*
 * The operator interface: what a kernel sees while one node runs.
 *
 * A kernel reads its inputs and attributes through an eg_kctx, works out its output shapes
 * from them, asks the context for each output buffer with eg_out (the session's planned arena
 * supplies it), and fills it. Kernels never allocate tensors themselves and keep no state
 * between runs. Every operator is one eg_op in the registry (registry.c); several
 * implementations of one op may exist, chosen there by data type or CPU feature.
 */
#ifndef EMBER_OP_H
#define EMBER_OP_H

#include <stdint.h>

#include "graph.h"

typedef struct eg_kctx eg_kctx;

struct eg_op {
    const char *name;   /* ONNX op_type */
    const char *domain; /* "" for the default ONNX domain */
    int (*run)(eg_kctx *k);
};

/* An optimized implementation (kernels/x86/...): its eg_op first, which is what the registry
 * hands out, then what only optimized kernels need. */
typedef struct eg_fast_op {
    eg_op op;
    /* Optional, called once per node when a model is loaded, after the graph passes, with the
     * node's constants in place: may leave kernel-ready data (packed weights) in n->kdata,
     * which the graph frees with the node. run must still work when kdata is NULL. */
    int (*prepare)(eg_node *n, const eg_graph *g, ember_err *err);
    int level;     /* the eg_cpu_level (cpu.h) this implementation needs */
    int fuses_act; /* run applies the node's fused activation (n->act) itself */
} eg_fast_op;

/* A prepare whose kdata a compiled model may carry (compiled.c), so that loading it is a
 * pointer into the file instead of packing. id names the layout: the same id must mean the
 * same bytes from the same node on every machine and level, so a change to the layout
 * changes the id (a stored copy with another id is ignored and prepare runs at load). bytes:
 * what prepare allocates for n, 0 when it leaves no kdata; a stored copy of any other size is
 * refused as corrupt, so the kernels never read past it. pack: what prepare writes there,
 * into dst (bytes(n, g) bytes, 64-byte aligned); prepare is allocation plus pack. */
typedef struct eg_kdata_format {
    int (*prepare)(eg_node *n, const eg_graph *g, ember_err *err);
    uint32_t id;
    int64_t (*bytes)(const eg_node *n, const eg_graph *g);
    void (*pack)(const eg_node *n, const eg_graph *g, void *dst);
} eg_kdata_format;

/* The storable format of what op's prepare leaves, or NULL (no prepare, or not storable). */
const eg_kdata_format *eg_kdata_format_of(const eg_op *op);
/* The same for the fastest implementation of (domain, name) this build has, whatever this
 * machine runs: what a compiled model stores, so it serves every machine of the
 * architecture. */
const eg_kdata_format *eg_kdata_format_best(const char *domain, const char *name);

/* Inputs: NULL when the input is omitted (optional) or i is out of range. */
int eg_nin(const eg_kctx *k);
const ember_tensor *eg_in(const eg_kctx *k, int i);
int eg_nout(const eg_kctx *k);
/* Whether output i is wanted (present in the node); omitted outputs need no eg_out. */
int eg_out_wanted(const eg_kctx *k, int i);

/* Allocate output i with this type and shape and return its data (zero bytes for an empty
 * tensor still returns a valid pointer). NULL on failure, with the error recorded, so a kernel
 * does `if (!p) return EMBER_ENOMEM;`. dims may alias an input's dims. */
void *eg_out(eg_kctx *k, int i, ember_dtype dt, int rank, const int64_t *dims);
/* Output i as the bytes of input j from offset off on, of the same type under new dims:
 * shares input j's memory when the graph allows it (eg_value.view_of: a Reshape-like node or
 * Slice in a session's planned frame), else allocates with eg_out and copies. Its data must not
 * be written. NULL on failure, with the error recorded. */
void *eg_out_view(eg_kctx *k, int i, int j, int64_t off, int rank, const int64_t *dims);
/* The tensor of output i after eg_out (to read back its dims). */
ember_tensor *eg_out_tensor(eg_kctx *k, int i);

/* Attributes, with the default returned when the node does not set them. */
int64_t eg_attr_int(const eg_kctx *k, const char *name, int64_t dflt);
float eg_attr_float(const eg_kctx *k, const char *name, float dflt);
const char *eg_attr_str(const eg_kctx *k, const char *name, const char *dflt);
/* Number of elements and *v set, or -1 (and *v NULL) when absent. */
int eg_attr_ints(const eg_kctx *k, const char *name, const int64_t **v);
int eg_attr_floats(const eg_kctx *k, const char *name, const float **v);
const ember_tensor *eg_attr_tensor(const eg_kctx *k, const char *name);
const eg_graph *eg_attr_graph(const eg_kctx *k, const char *name);
int eg_has_attr(const eg_kctx *k, const char *name);

/* The default-domain opset the model was written for (operator semantics change with it). */
int eg_opset(const eg_kctx *k);
const eg_node *eg_node_of(const eg_kctx *k);

/* Record an error naming the node and op; returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int eg_fail(eg_kctx *k, int code, const char *fmt, ...);

/* Run subgraph g (an attribute of this node) with the given inputs (g->nin of them; NULL when
 * the subgraph has none). On success outs[i] describes g's i-th output; the data stays valid
 * until eg_subgraph_release. Values of enclosing graphs are visible to g. */
int eg_subgraph_run(eg_kctx *k, const eg_graph *g, const ember_tensor *ins, ember_tensor *outs);
void eg_subgraph_release(eg_kctx *k);

/* Threads the session lets one node use (1 when it has no helpers). */
int eg_threads(const eg_kctx *k);
/* Calls fn(arg, part, nparts, thread) once for each part 0..nparts-1 and returns when all
 * are done. The calling thread and the session's helpers take parts as they come free, so
 * nparts may exceed eg_threads (smaller parts balance better); thread (0..eg_threads - 1,
 * 0 for the caller) tells which thread runs the part, for per-thread scratch. fn must not
 * use k (no eg_out, eg_scratch or eg_fail). */
typedef void (*eg_part_fn)(void *arg, int part, int nparts, int thread);
void eg_parallel(eg_kctx *k, eg_part_fn fn, void *arg, int nparts);

/* Temporary scratch memory for this node only (freed or reused after the kernel returns).
 * NULL on failure with the error recorded. */
void *eg_scratch(eg_kctx *k, size_t bytes);

/* The registry: the fastest implementation eg_cpu_level() allows, NULL when none exists. */
const eg_op *eg_op_find(const char *domain, const char *name);
/* The same, for an explicit level (EG_CPU_REF: the reference kernel). */
const eg_op *eg_op_find_level(const char *domain, const char *name, int level);

/* The eg_fast_op op is part of, or NULL for a reference kernel. */
const eg_fast_op *eg_op_fast(const eg_op *op);
/* Whether op applies its node's fused activation itself (so the runner must not). */
int eg_op_fuses_act(const eg_op *op);

/* Runs the reference kernel of k's node, and its fused activation when the node has one:
 * what an optimized kernel does for the cases it does not handle. */
int eg_run_reference(eg_kctx *k);

/* Memory for what a prepare derives from the weights (n->kdata), 64-byte aligned: locked and
 * undumpable when the model was loaded locked (wmem.h), else the heap; released with the
 * graph. NULL when out of memory (eg_graph_prepare then explains a lock failure). */
void *eg_kdata_alloc(const eg_graph *g, size_t bytes);

/* Calls each node's prepare (after eg_optimize or a compiled load), subgraphs included. */
int eg_graph_prepare(eg_graph *g, ember_err *err);

#endif
