/*
 * Graph passes (passes.c) and the constant folder they use (session.c runs the kernels).
 */
#ifndef EMBER_PASSES_H
#define EMBER_PASSES_H

#include "graph.h"

/* Bypass Identity/Dropout, fold constants, fuse activations into Conv/Gemm, drop dead nodes.
 * Leaves g linked. */
int eg_optimize(eg_graph *g, ember_err *err);

/* Runs the nodes marked in fold (whose inputs are constants or earlier marked outputs) once
 * and turns their outputs into constants owned by g. The caller removes the nodes. */
int eg_fold_nodes(eg_graph *g, const unsigned char *fold, ember_err *err);

/* The fused activation kinds a node may carry (eg_node.act). */
enum eg_act {
    EG_ACT_NONE = 0,
    EG_ACT_RELU,
    EG_ACT_CLIP,
    EG_ACT_LEAKY_RELU,
    EG_ACT_HARD_SIGMOID,
    EG_ACT_SIGMOID,
    EG_ACT_HARD_SWISH, /* x * HardSigmoid(x) with the node's alpha and beta */
};

/* Applies a node's fused activation to its first output in place (float32 only). */
int eg_apply_activation(const eg_node *n, ember_tensor *y, ember_err *err);

#endif
