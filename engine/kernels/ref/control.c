/*
 * Reference kernels: control family (being written).
 */
#include "kutil.h"

const eg_op eg_ops_control[] = {
    {NULL, NULL, NULL},
};
