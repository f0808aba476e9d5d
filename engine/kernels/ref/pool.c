/*
 * Reference kernels: pool family (being written).
 */
#include "kutil.h"

const eg_op eg_ops_pool[] = {
    {NULL, NULL, NULL},
};
