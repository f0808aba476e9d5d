/*
 * The engine's model IR: a graph of values and nodes, independent of any file format.
 *
 * Every tensor name in a graph is one eg_value; a node refers to values by index. A value is a
 * graph input, a constant (initializer or folded result, data owned by the graph), a node
 * output, or, inside a subgraph (the branches of If), a reference to a value of the enclosing
 * graph. Nodes are stored in an order where every producer comes before its consumers.
 */
#ifndef EMBER_GRAPH_H
#define EMBER_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include <ember/engine.h>

typedef struct eg_graph eg_graph;
typedef struct eg_op eg_op;
typedef struct eg_wmem eg_wmem;

enum eg_attr_kind {
    EG_ATTR_FLOAT = 1,
    EG_ATTR_INT = 2,
    EG_ATTR_STRING = 3,
    EG_ATTR_TENSOR = 4,
    EG_ATTR_GRAPH = 5,
    EG_ATTR_FLOATS = 6,
    EG_ATTR_INTS = 7,
    EG_ATTR_STRINGS = 8,
};

typedef struct eg_attr {
    char *name;
    int kind;
    float f;
    int64_t i;
    char *s; /* NUL-terminated copy of a STRING attribute */
    int n;   /* element count of floats, ints or strings */
    float *floats;
    int64_t *ints;
    char **strings;
    ember_tensor t; /* TENSOR; t.data owned by the attribute */
    eg_graph *g;    /* GRAPH; owned */
} eg_attr;

typedef struct eg_node {
    char *name;
    char *op;
    char *domain;
    int nin, nout;
    int *in;  /* value indices; -1 for an omitted optional input */
    int *out; /* value indices; -1 for an omitted optional output */
    int nattr;
    eg_attr *attr;
    const eg_op *impl;
    void *kdata; /* what impl prepared at load (eg_fast_op.prepare: packed weights); owned
                    unless kdata_borrowed */
    int kdata_borrowed; /* kdata lies in the model's weights (stored by a compiled model) */
    int act; /* a fused activation (enum eg_act in passes.h) applied to out[0]; 0 for none */
    float act_alpha, act_beta;
} eg_node;

enum eg_value_kind {
    EG_VAL_NODE = 0,  /* produced by a node */
    EG_VAL_INPUT = 1, /* a graph input */
    EG_VAL_CONST = 2, /* initializer or folded constant; data owned unless borrowed */
    EG_VAL_OUTER = 3, /* a subgraph's reference to a value of the enclosing graph */
};

typedef struct eg_value {
    char *name;
    int kind;
    ember_dtype dtype; /* UNDEFINED when not declared */
    int rank;          /* -1 when not declared */
    int64_t dims[EMBER_MAX_RANK];
    void *data;        /* EG_VAL_CONST: the constant's bytes */
    int borrowed;      /* data lies in memory the model holds (a compiled model's weights),
                          not freed with the graph */
    int outer;         /* EG_VAL_OUTER: index in the enclosing graph */
    int producer;      /* EG_VAL_NODE: node index; else -1 */
    int last_use;      /* last node index reading it (incl. through subgraphs) or reading a view
                          of it; -1 if none */
    int view_of;       /* the value whose memory this one may share (the output of a Reshape,
                          Flatten, Squeeze, Unsqueeze or Slice that is no graph output), or
                          -1 */
    int part_of;       /* the output of the Concat that is this value's only reader (a
                          session may place the value inside that output), or -1 */
    int is_output;     /* a graph output: lives until the end of the run */
} eg_value;

struct eg_graph {
    char *name;
    int nval, capval;
    eg_value *val;
    int nnode;
    eg_node *node;
    int nin, nout;
    int *in, *out; /* value indices of graph inputs (not initializers) and outputs */
    eg_graph *parent;
    int opset; /* default-domain opset the graph was written for */
    /* Every graph of a model loaded locked, subgraphs too: where its kdata and attribute
     * tensors live (wmem.h; the model owns it). NULL: the heap. */
    eg_wmem *wmem;
    /* Borrowed constants lie in a read-only file mapping (a compiled model loaded from a
     * file): pages given back are read again from the file when touched. */
    int consts_in_file;
};

eg_graph *eg_graph_new(eg_graph *parent, int opset);
void eg_graph_free(eg_graph *g);

/* Index of the value named name, or -1. Only this graph, not its parents. */
int eg_graph_find(const eg_graph *g, const char *name);
/* Index of a new value named name (copied); -1 when out of memory. */
int eg_graph_add_value(eg_graph *g, const char *name);

/* Computes producer and last_use for every value and checks that nodes are ordered
 * producer-first. Returns 0 or EMBER_EFORMAT with a message. */
int eg_graph_link(eg_graph *g, ember_err *err);

const eg_attr *eg_node_attr(const eg_node *n, const char *name);
void eg_attr_free(eg_attr *a);
/* Frees what node n owns (not n itself, which lives in its graph's node array). */
void eg_node_free(eg_node *n);

/* Called when n's prepare has packed its input 1 into n->kdata: if that constant lies in the
 * file mapping (g->consts_in_file) and n is its only reader, gives its pages back, so the
 * weights are not resident twice. A reader that falls back to the original reads it back
 * from the file. */
void eg_graph_release_packed(const eg_graph *g, const eg_node *n);

/* Import an ONNX ModelProto from memory. With arena (wmem.h), protobuf-c unpacks into it and
 * the initializers' data stay there (borrowed; the arena must outlive the graph); NULL: the
 * heap. The graphs' wmem stays NULL: packed weights go to the heap, sized to the byte, where
 * an arena's 2 MiB chunks would leave ~2 MB of tails resident on a vision model. */
int eg_onnx_import(const void *buf, size_t len, eg_wmem *arena, eg_graph **out, ember_err *err);

/* Decode a serialized ONNX TensorProto (as in the conformance suite's .pb files) into t;
 * t->data is malloc'd and owned by the caller. */
int eg_onnx_tensor(const void *buf, size_t len, ember_tensor *t, ember_err *err);

/* Bytes of a tensor with these dims, or -1 on overflow/negative dims. */
int64_t eg_tensor_bytes(ember_dtype dt, int rank, const int64_t *dims);

#endif
