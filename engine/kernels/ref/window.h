/*
 * Sliding-window geometry shared by the convolution and pooling reference kernels.
 *
 * Spatial shapes of 1 to 3 dims are right-aligned in WIN_SP slots (unit dims in front) so one
 * walk serves every rank; the attribute readers validate the ONNX kernel_shape, strides,
 * dilations, pads and auto_pad values into that layout.
 */
#ifndef EMBER_WINDOW_H
#define EMBER_WINDOW_H

#include "kutil.h"

#define WIN_SP 3

typedef struct win_geom {
    int nsp;
    int64_t in[WIN_SP], k[WIN_SP], out[WIN_SP], s[WIN_SP], d[WIN_SP], pb[WIN_SP], pe[WIN_SP];
} win_geom;

enum { WIN_PAD_NOTSET, WIN_PAD_SAME_UPPER, WIN_PAD_SAME_LOWER, WIN_PAD_VALID };

/* Sets every slot to the defaults (size, kernel, stride, dilation 1; no padding) and the
 * input sizes from X's dims 2.. (X must have rank 3..WIN_SP+2, checked by the caller). */
void win_init(win_geom *g, const ember_tensor *x);

/* Reads an INTS attribute of n values (each in [lo, INT32_MAX]) into the last n of WIN_SP
 * slots (pads: begins into a, ends into b); absent leaves the defaults. */
int win_read_spatial(eg_kctx *k, const char *name, int n, int64_t lo, int64_t *a, int64_t *b);

/* The auto_pad attribute as WIN_PAD_*, or a negative error for an unknown value. */
int win_read_auto_pad(eg_kctx *k);

#endif
