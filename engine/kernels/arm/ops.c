/*
 * The arm64 operator table: the shared operator implementations of kernels/x86/ (conv.c,
 * matmul.c, pool.c, elementwise.c, rnn.c) bound to the NEON kernels. registry.c searches it ahead
 * of the reference families when eg_cpu_level() allows.
 */
#include "../../src/cpu.h"
#include "../x86/seq.h"
#include "../x86/x86ops.h"
#include "arm.h"

static int conv_neon(eg_kctx *k)
{
    return eg_x86_conv_run(k, &eg_arm_neon);
}

static int gemm_neon(eg_kctx *k)
{
    return eg_x86_gemm_run(k, &eg_arm_neon);
}

static int matmul_neon(eg_kctx *k)
{
    return eg_x86_matmul_run(k, &eg_arm_neon);
}

static int maxpool_neon(eg_kctx *k)
{
    return eg_x86_maxpool_run(k, &eg_arm_neon);
}

static int gap_neon(eg_kctx *k)
{
    return eg_x86_global_avgpool_run(k, &eg_arm_neon);
}

static int reduce_mean_neon(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_arm_neon, 1);
}

static int reduce_sum_neon(eg_kctx *k)
{
    return eg_x86_reduce_run(k, &eg_arm_neon, 0);
}

static int pow_neon(eg_kctx *k)
{
    return eg_x86_pow_run(k, &eg_arm_neon);
}

static int add_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_ADD);
}

static int sub_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_SUB);
}

static int mul_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_MUL);
}

static int div_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_DIV);
}

static int max_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_MAX);
}

static int min_neon(eg_kctx *k)
{
    return eg_x86_binary_run(k, &eg_arm_neon, EG_BIN_MIN);
}

static int relu_neon(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_arm_neon, EG_UN_RELU);
}

static int hardsigmoid_neon(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_arm_neon, EG_UN_HARDSIGMOID);
}

static int hardswish_neon(eg_kctx *k)
{
    return eg_x86_unary_run(k, &eg_arm_neon, EG_UN_HARDSWISH);
}

static int lstm_neon(eg_kctx *k)
{
    return eg_x86_lstm_run(k, &eg_arm_neon, &eg_arm_neon_seq);
}

const eg_fast_op eg_ops_arm_neon[] = {
    {{"Conv", "", conv_neon}, eg_x86_conv_prepare, EG_CPU_NEON, 1},
    {{"Gemm", "", gemm_neon}, eg_x86_gemm_prepare, EG_CPU_NEON, 1},
    {{"MatMul", "", matmul_neon}, eg_x86_matmul_prepare, EG_CPU_NEON, 0},
    {{"MaxPool", "", maxpool_neon}, NULL, EG_CPU_NEON, 0},
    {{"GlobalAveragePool", "", gap_neon}, NULL, EG_CPU_NEON, 0},
    {{"ReduceMean", "", reduce_mean_neon}, NULL, EG_CPU_NEON, 0},
    {{"ReduceSum", "", reduce_sum_neon}, NULL, EG_CPU_NEON, 0},
    {{"Add", "", add_neon}, NULL, EG_CPU_NEON, 0},
    {{"Sub", "", sub_neon}, NULL, EG_CPU_NEON, 0},
    {{"Mul", "", mul_neon}, NULL, EG_CPU_NEON, 0},
    {{"Div", "", div_neon}, NULL, EG_CPU_NEON, 0},
    {{"Max", "", max_neon}, NULL, EG_CPU_NEON, 0},
    {{"Min", "", min_neon}, NULL, EG_CPU_NEON, 0},
    {{"Pow", "", pow_neon}, NULL, EG_CPU_NEON, 0},
    {{"Relu", "", relu_neon}, NULL, EG_CPU_NEON, 0},
    {{"HardSigmoid", "", hardsigmoid_neon}, NULL, EG_CPU_NEON, 0},
    {{"HardSwish", "", hardswish_neon}, NULL, EG_CPU_NEON, 0},
    {{"LSTM", "", lstm_neon}, eg_x86_lstm_prepare, EG_CPU_NEON, 0},
    {{NULL, NULL, NULL}, NULL, 0, 0},
};
