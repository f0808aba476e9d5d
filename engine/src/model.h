/*
 * The loaded model behind the public ember_model handle.
 */
#ifndef EMBER_MODEL_H
#define EMBER_MODEL_H

#include "graph.h"

struct ember_model {
    eg_graph *g;
    ember_io_info *inputs, *outputs;
    ember_model_format format;
    /* A compiled model's constants borrow from one of these, released after the graph. */
    void *map; /* the file, mmap'd read-only */
    size_t map_len;
    void *weights; /* load_mem: the weights section, copied into wmem */
    /* Where weights and everything derived from them live (the graph's wmem): locked for
     * load_mem_locked, an arena for load_mem (wmem.h); NULL for a mapped compiled file. An
     * ONNX model's initializers lie in an arena too, which is not its graph's wmem. */
    struct eg_wmem *wmem;
};

#endif
