/*
 * Fused activations: what the optimizer folds into a Conv or Gemm (passes.c) is applied
 * here to the producer's output, in place, right after the producer's kernel. Same formulas
 * as the standalone operators in elementwise.c, so fusing never changes results.
 */
#include <math.h>

#include "../../src/passes.h"
#include "kutil.h"

int eg_apply_activation(const eg_node *n, ember_tensor *y, ember_err *err)
{
    if (y->dtype != EMBER_DT_FLOAT)
        return ember_err_set(err, EMBER_EUNSUPPORTED,
                             "node '%s' (%s): fused activation needs float32 output", n->name,
                             n->op);
    float *p = y->data;
    int64_t count = ember_tensor_count(y);
    float a = n->act_alpha, b = n->act_beta;
    switch (n->act) {
    case EG_ACT_RELU:
        for (int64_t i = 0; i < count; i++)
            p[i] = p[i] > 0 ? p[i] : 0;
        break;
    case EG_ACT_CLIP:
        for (int64_t i = 0; i < count; i++) {
            float v = p[i] < a ? a : p[i];
            p[i] = v > b ? b : v; /* min after max: when a > b everything becomes b */
        }
        break;
    case EG_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < count; i++)
            p[i] = p[i] >= 0 ? p[i] : a * p[i];
        break;
    case EG_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < count; i++) {
            double v = (double)a * p[i] + b;
            p[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
        break;
    case EG_ACT_HARD_SWISH:
        /* As HardSigmoid then Mul run unfused: the gate rounded to float, times x in float. */
        for (int64_t i = 0; i < count; i++)
            p[i] *= (float)fmax(0, fmin(1, (double)a * p[i] + b));
        break;
    case EG_ACT_SIGMOID:
        for (int64_t i = 0; i < count; i++) {
            double x = p[i], e = exp(-fabs(x));
            p[i] = (float)(x >= 0 ? 1 / (1 + e) : e / (1 + e));
        }
        break;
    default:
        return ember_err_set(err, EMBER_EUNSUPPORTED, "node '%s': unknown fused activation %d",
                             n->name, n->act);
    }
    return 0;
}
