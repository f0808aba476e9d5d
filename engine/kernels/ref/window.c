/*
 * Sliding-window geometry for the convolution and pooling reference kernels (window.h).
 */
#include <string.h>

#include "window.h"

void win_init(win_geom *g, const ember_tensor *x)
{
    int nsp = x->rank - 2;
    g->nsp = nsp;
    for (int i = 0; i < WIN_SP; i++) {
        g->in[i] = g->k[i] = g->out[i] = g->s[i] = g->d[i] = 1;
        g->pb[i] = g->pe[i] = 0;
    }
    for (int i = 0; i < nsp; i++)
        g->in[WIN_SP - nsp + i] = x->dims[2 + i];
}

int win_read_spatial(eg_kctx *k, const char *name, int n, int64_t lo, int64_t *a, int64_t *b)
{
    const int64_t *v;
    int c = eg_attr_ints(k, name, &v);
    if (c < 0)
        return 0;
    int want = b ? 2 * n : n;
    if (c != want)
        return eg_fail(k, EMBER_EINVAL, "%s has %d values, expected %d", name, c, want);
    for (int i = 0; i < c; i++)
        if (v[i] < lo || v[i] > INT32_MAX)
            return eg_fail(k, EMBER_EINVAL, "%s[%d] = %lld out of range", name, i, (long long)v[i]);
    for (int i = 0; i < n; i++) {
        a[WIN_SP - n + i] = v[i];
        if (b)
            b[WIN_SP - n + i] = v[n + i];
    }
    return 0;
}

int win_read_auto_pad(eg_kctx *k)
{
    const char *s = eg_attr_str(k, "auto_pad", "NOTSET");
    if (!strcmp(s, "NOTSET") || !*s)
        return WIN_PAD_NOTSET;
    if (!strcmp(s, "SAME_UPPER"))
        return WIN_PAD_SAME_UPPER;
    if (!strcmp(s, "SAME_LOWER"))
        return WIN_PAD_SAME_LOWER;
    if (!strcmp(s, "VALID"))
        return WIN_PAD_VALID;
    return eg_fail(k, EMBER_EINVAL, "unknown auto_pad '%s'", s);
}
