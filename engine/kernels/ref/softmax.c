/*
 * Reference kernels: Softmax and LogSoftmax.
 *
 * Before opset 13 both flatten the input to 2-D at `axis` (default 1) and normalize each row;
 * from 13 on they normalize along the single axis `axis` (default -1). Both reduce to rows of
 * n elements, `inner` apart, which is what softmax_rows walks.
 */
#include <math.h>

#include "kutil.h"

static int softmax_common(eg_kctx *k, int logarithm)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_fail(k, EMBER_EUNSUPPORTED, "only float32 is supported");
    int new_semantics = eg_opset(k) >= 13;
    int r = x->rank;
    int axis = ku_axis(eg_attr_int(k, "axis", new_semantics ? -1 : 1), r > 0 ? r : 1);
    if (axis < 0)
        return eg_fail(k, EMBER_EINVAL, "axis out of range for rank %d", r);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, r, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    int64_t outer = ku_count(axis, x->dims), n, inner;
    if (new_semantics) {
        n = r ? x->dims[axis] : 1;
        inner = r ? ku_count(r - axis - 1, x->dims + axis + 1) : 1;
    } else {
        n = ku_count(r - axis, x->dims + axis);
        inner = 1;
    }
    const float *in = x->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = in + o * n * inner + i;
            float *ys = y + o * n * inner + i;
            float mx = -INFINITY;
            for (int64_t j = 0; j < n; j++)
                if (xs[j * inner] > mx)
                    mx = xs[j * inner];
            double sum = 0;
            for (int64_t j = 0; j < n; j++)
                sum += exp((double)xs[j * inner] - mx);
            for (int64_t j = 0; j < n; j++) {
                double d = (double)xs[j * inner] - mx;
                ys[j * inner] = logarithm ? (float)(d - log(sum)) : (float)(exp(d) / sum);
            }
        }
    }
    return 0;
}

static int softmax_run(eg_kctx *k)
{
    return softmax_common(k, 0);
}

static int logsoftmax_run(eg_kctx *k)
{
    return softmax_common(k, 1);
}

const eg_op eg_ops_softmax[] = {
    {"Softmax", "", softmax_run},
    {"LogSoftmax", "", logsoftmax_run},
    {NULL, NULL, NULL},
};
