/*
 * Reference kernels: rnn family (being written).
 */
#include "kutil.h"

const eg_op eg_ops_rnn[] = {
    {NULL, NULL, NULL},
};
