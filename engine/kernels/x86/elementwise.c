/*
 * Add, Sub, Mul, Div, Max and Min of two float32 tensors, Pow by 2, and Relu, HardSigmoid and
 * HardSwish of one, on the x86 kernels; other types, arities and operators go to the
 * reference.
 *
 * Broadcasting walks rows of the innermost dimensions (merged while both operands walk them
 * as one, so a per-channel operand gives rows of a whole plane) with ku_iter; each row is
 * one call of the level's vector row kernel, which handles an operand that is contiguous or
 * repeated (stride 1 or 0) and falls back to a scalar walk for other strides. Results equal
 * the reference's bit for bit: IEEE float add, sub, mul and div round the same as the
 * reference's double arithmetic rounded to float, and Max/Min keep its NaN rule. The unary
 * ones compute in float (HardSigmoid with one fused multiply-add), within an ulp or two of the
 * reference's double.
 */
#include "../ref/kutil.h"
#include "x86ops.h"

int eg_x86_binary_run(eg_kctx *k, const eg_x86_kernels *kn, int op)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    int64_t odims[EMBER_MAX_RANK];
    int r;
    if (eg_nin(k) != 2 || !a || !b || a->dtype != EMBER_DT_FLOAT || b->dtype != EMBER_DT_FLOAT ||
        (r = ku_broadcast_shape(a, b, odims)) < 0)
        return eg_run_reference(k);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, r, odims);
    if (!y)
        return EMBER_ENOMEM;
    const ember_tensor *ops[2] = {a, b};
    ku_iter it;
    ku_iter_init(&it, r, odims, 2, ops);
    int64_t n = ku_count(r, odims);
    /* Merge the innermost dimensions while each operand walks them as one (a per-channel
     * operand of [N, C, H, W] * [1, C, 1, 1] gives rows of H * W with stride 0), so rows are
     * as long as they can be. */
    while (it.rank >= 2) {
        int d = it.rank - 1;
        if (it.strides[0][d - 1] != it.strides[0][d] * it.dims[d] ||
            it.strides[1][d - 1] != it.strides[1][d] * it.dims[d])
            break;
        it.dims[d - 1] *= it.dims[d];
        it.strides[0][d - 1] = it.strides[0][d];
        it.strides[1][d - 1] = it.strides[1][d];
        it.rank--;
    }
    int rr = it.rank;
    int64_t row = rr ? it.dims[rr - 1] : 1;
    int64_t sa = rr ? it.strides[0][rr - 1] : 0, sb = rr ? it.strides[1][rr - 1] : 0;
    if (rr)
        it.dims[rr - 1] = 1;
    const float *A = a->data, *B = b->data;
    /* Same shapes, or one side a single value: the whole tensor is one row. */
    if (n > 0 && (ember_tensor_count(a) == n || ember_tensor_count(a) == 1) &&
        (ember_tensor_count(b) == n || ember_tensor_count(b) == 1)) {
        kn->binary(op, y, A, ember_tensor_count(a) == n, B, ember_tensor_count(b) == n, n);
        return 0;
    }
    for (int64_t i = 0; i < n; i += row, ku_iter_next(&it))
        kn->binary(op, y + i, A + it.off[0], sa, B + it.off[1], sb, row);
    return 0;
}

int eg_x86_unary_run(eg_kctx *k, const eg_x86_kernels *kn, int op)
{
    const ember_tensor *x = eg_in(k, 0);
    if (!x || x->dtype != EMBER_DT_FLOAT)
        return eg_run_reference(k);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, x->rank, x->dims);
    if (!y)
        return EMBER_ENOMEM;
    float alpha = op == EG_UN_HARDSIGMOID ? eg_attr_float(k, "alpha", 0.2f) : 0.0f;
    float beta = op == EG_UN_HARDSIGMOID ? eg_attr_float(k, "beta", 0.5f) : 0.0f;
    kn->unary(op, y, x->data, ember_tensor_count(x), alpha, beta);
    return 0;
}

/* Pow by a constant 2 (power spectra) as a product: x * x rounds exactly as the reference's
 * pow in double rounded to float. Any other exponent goes to the reference. */
int eg_x86_pow_run(eg_kctx *k, const eg_x86_kernels *kn)
{
    const ember_tensor *a = eg_in(k, 0), *b = eg_in(k, 1);
    if (!a || !b || a->dtype != EMBER_DT_FLOAT || b->dtype != EMBER_DT_FLOAT ||
        ember_tensor_count(b) != 1 || b->rank > a->rank || *(const float *)b->data != 2.0f)
        return eg_run_reference(k);
    float *y = eg_out(k, 0, EMBER_DT_FLOAT, a->rank, a->dims);
    if (!y)
        return EMBER_ENOMEM;
    kn->binary(EG_BIN_MUL, y, a->data, 1, a->data, 1, ember_tensor_count(a));
    return 0;
}
