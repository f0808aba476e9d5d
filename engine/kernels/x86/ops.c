/*
 * The x86 operator tables, one per SIMD level, each binding the shared implementations
 * (conv.c, matmul.c, pool.c, elementwise.c, rnn.c) to that level's kernels. registry.c searches
 * them ahead of the reference families when eg_cpu_level() allows.
 */
#include "../../src/cpu.h"
#include "seq.h"
#include "x86ops.h"

static int conv_avx2(eg_kctx *k)
{
    return eg_x86_conv_run(k, &eg_x86_avx2);
}

static int gemm_avx2(eg_kctx *k)
{
    return eg_x86_gemm_run(k, &eg_x86_avx2);
}

static int matmul_avx2(eg_kctx *k)
{
    return eg_x86_matmul_run(k, &eg_x86_avx2);
}

static int maxpool_avx2(eg_kctx *k)
{
    return eg_x86_maxpool_run(k, &eg_x86_avx2);
}

static int gap_avx2(eg_kctx *k)
{
    return eg_x86_global_avgpool_run(k, &eg_x86_avx2);
}

static int reduce_mean_avx2(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_x86_avx2, 1);
}

static int reduce_sum_avx2(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_x86_avx2, 0);
}

static int gap_avx512(eg_kctx *k)
{
    return eg_x86_global_avgpool_run(k, &eg_x86_avx512);
}

static int reduce_mean_avx512(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_x86_avx512, 1);
}

static int reduce_sum_avx512(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_x86_avx512, 0);
}

static int conv_avx512(eg_kctx *k)
{
    return eg_x86_conv_run(k, &eg_x86_avx512);
}

static int gemm_avx512(eg_kctx *k)
{
    return eg_x86_gemm_run(k, &eg_x86_avx512);
}

static int matmul_avx512(eg_kctx *k)
{
    return eg_x86_matmul_run(k, &eg_x86_avx512);
}

static int maxpool_avx512(eg_kctx *k)
{
    return eg_x86_maxpool_run(k, &eg_x86_avx512);
}

static int add_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_ADD);
}

static int sub_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_SUB);
}

static int mul_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_MUL);
}

static int div_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_DIV);
}

static int max_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_MAX);
}

static int min_avx2(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx2, EG_BIN_MIN);
}

static int add_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_ADD);
}

static int sub_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_SUB);
}

static int mul_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_MUL);
}

static int div_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_DIV);
}

static int max_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_MAX);
}

static int min_avx512(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_x86_avx512, EG_BIN_MIN);
}

static int relu_avx2(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx2, EG_UN_RELU);
}

static int hardsigmoid_avx2(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx2, EG_UN_HARDSIGMOID);
}

static int hardswish_avx2(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx2, EG_UN_HARDSWISH);
}

static int relu_avx512(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx512, EG_UN_RELU);
}

static int hardsigmoid_avx512(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx512, EG_UN_HARDSIGMOID);
}

static int hardswish_avx512(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_x86_avx512, EG_UN_HARDSWISH);
}

static int pow_avx2(eg_kctx *k)
{
    return eg_x86_pow_run(k, &eg_x86_avx2);
}

static int pow_avx512(eg_kctx *k)
{
    return eg_x86_pow_run(k, &eg_x86_avx512);
}

static int lstm_avx2(eg_kctx *k)
{
    return eg_x86_lstm_run(k, &eg_x86_avx2, &eg_x86_avx2_seq);
}

static int lstm_avx512(eg_kctx *k)
{
    return eg_x86_lstm_run(k, &eg_x86_avx512, &eg_x86_avx512_seq);
}

const eg_fast_op eg_ops_x86_avx2[] = {
    {{"Conv", "", conv_avx2}, eg_x86_conv_prepare, EG_CPU_AVX2, 1},
    {{"Gemm", "", gemm_avx2}, eg_x86_gemm_prepare, EG_CPU_AVX2, 1},
    {{"MatMul", "", matmul_avx2}, eg_x86_matmul_prepare, EG_CPU_AVX2, 0},
    {{"MaxPool", "", maxpool_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"GlobalAveragePool", "", gap_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"ReduceMean", "", reduce_mean_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"ReduceSum", "", reduce_sum_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Add", "", add_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Sub", "", sub_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Mul", "", mul_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Div", "", div_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Max", "", max_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Min", "", min_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Pow", "", pow_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"Relu", "", relu_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"HardSigmoid", "", hardsigmoid_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"HardSwish", "", hardswish_avx2}, NULL, EG_CPU_AVX2, 0},
    {{"LSTM", "", lstm_avx2}, eg_x86_lstm_prepare, EG_CPU_AVX2, 0},
    {{NULL, NULL, NULL}, NULL, 0, 0},
};

const eg_fast_op eg_ops_x86_avx512[] = {
    {{"Conv", "", conv_avx512}, eg_x86_conv_prepare, EG_CPU_AVX512, 1},
    {{"Gemm", "", gemm_avx512}, eg_x86_gemm_prepare, EG_CPU_AVX512, 1},
    {{"MatMul", "", matmul_avx512}, eg_x86_matmul_prepare, EG_CPU_AVX512, 0},
    {{"MaxPool", "", maxpool_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"GlobalAveragePool", "", gap_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"ReduceMean", "", reduce_mean_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"ReduceSum", "", reduce_sum_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Add", "", add_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Sub", "", sub_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Mul", "", mul_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Div", "", div_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Max", "", max_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Min", "", min_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Pow", "", pow_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"Relu", "", relu_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"HardSigmoid", "", hardsigmoid_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"HardSwish", "", hardswish_avx512}, NULL, EG_CPU_AVX512, 0},
    {{"LSTM", "", lstm_avx512}, eg_x86_lstm_prepare, EG_CPU_AVX512, 0},
    {{NULL, NULL, NULL}, NULL, 0, 0},
};
