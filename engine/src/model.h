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
    void *weights; /* load_mem: the weights section, copied to an aligned block */
    /* load_mem_locked: the locked allocator weights comes from, with everything derived from
     * them (the graph's wmem); NULL otherwise. */
    struct eg_wmem *wmem;
};

#endif
