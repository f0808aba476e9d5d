/*
 * Small helpers shared by the reference kernels: broadcasting, axes, reading index tensors.
 *
 * Everything here is plain C meant to be obviously right; speed lives in the optimized
 * kernels, which are checked against the reference ones.
 */
#ifndef EMBER_KUTIL_H
#define EMBER_KUTIL_H

#include <stdint.h>
#include <string.h>

#include "../../src/op.h"

/* Multidirectional (numpy) broadcasting of a and b into out; returns the output rank or -1
 * when the shapes do not broadcast. */
static inline int ku_broadcast_shape(const ember_tensor *a, const ember_tensor *b,
                                     int64_t *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        out[i] = da == 1 ? db : da;
    }
    return r;
}

/* Element strides of t as seen through an output of rank r (0 where t broadcasts). */
static inline void ku_broadcast_strides(const ember_tensor *t, int r, const int64_t *odims,
                                        int64_t *strides)
{
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int it = i - (r - t->rank);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        strides[i] = (d == 1 && odims[i] != 1) || it < 0 ? 0 : s;
        if (it >= 0)
            s *= d;
    }
}

/* Iterates an output index in row-major order, keeping per-operand element offsets. */
typedef struct ku_iter {
    int rank, nops;
    int64_t dims[EMBER_MAX_RANK];
    int64_t idx[EMBER_MAX_RANK];
    int64_t strides[4][EMBER_MAX_RANK];
    int64_t off[4];
} ku_iter;

static inline void ku_iter_init(ku_iter *it, int rank, const int64_t *dims, int nops,
                                const ember_tensor *const *ops)
{
    memset(it, 0, sizeof *it);
    it->rank = rank;
    it->nops = nops;
    memcpy(it->dims, dims, (size_t)rank * sizeof *dims);
    for (int k = 0; k < nops; k++)
        ku_broadcast_strides(ops[k], rank, dims, it->strides[k]);
}

static inline void ku_iter_next(ku_iter *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        for (int k = 0; k < it->nops; k++)
            it->off[k] += it->strides[k][d];
        if (++it->idx[d] < it->dims[d])
            return;
        for (int k = 0; k < it->nops; k++)
            it->off[k] -= it->strides[k][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

static inline int64_t ku_count(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* Normalizes a possibly negative axis for a given rank; -1 when out of range. */
static inline int ku_axis(int64_t axis, int rank)
{
    if (axis < 0)
        axis += rank;
    return axis >= 0 && axis < rank ? (int)axis : -1;
}

/* Reads element i of an integer tensor (int32, int64, int8, uint8, bool) as int64. */
static inline int64_t ku_get_int(const ember_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case EMBER_DT_INT64: return ((const int64_t *)t->data)[i];
    case EMBER_DT_INT32: return ((const int32_t *)t->data)[i];
    case EMBER_DT_INT8: return ((const int8_t *)t->data)[i];
    case EMBER_DT_UINT8:
    case EMBER_DT_BOOL: return ((const uint8_t *)t->data)[i];
    case EMBER_DT_FLOAT: {
        /* Saturate: a plain cast of NaN or of a float beyond int64 is undefined. */
        float f = ((const float *)t->data)[i];
        if (f != f)
            return 0;
        if (f >= 9.2233720368547758e18f)
            return INT64_MAX;
        if (f <= -9.2233720368547758e18f)
            return INT64_MIN;
        return (int64_t)f;
    }
    default: return 0;
    }
}

/* Reads element i of any tensor as double. */
static inline double ku_get_f(const ember_tensor *t, int64_t i)
{
    if (t->dtype == EMBER_DT_FLOAT)
        return ((const float *)t->data)[i];
    return (double)ku_get_int(t, i);
}

/* Copies a 1-D integer tensor into out[max]; returns the count or -1. */
static inline int ku_read_ints(const ember_tensor *t, int64_t *out, int max)
{
    int64_t n = ember_tensor_count(t);
    if (n < 0 || n > max || t->rank > 1)
        return -1;
    for (int64_t i = 0; i < n; i++)
        out[i] = ku_get_int(t, i);
    return (int)n;
}

#endif
