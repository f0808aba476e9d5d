/*
 * The loaded model behind the public ember_model handle.
 */
#ifndef EMBER_MODEL_H
#define EMBER_MODEL_H

#include "graph.h"

struct ember_model {
    eg_graph *g;
    ember_io_info *inputs, *outputs;
};

#endif
