/*
 * gemm-gflops: how close the x86 packed GEMM comes to this core's FMA peak.
 *
 * First it measures the peak: a loop of independent vector FMAs (enough chains to cover the
 * FMA latency) at the level EMBER_CPU selects, counted as 2 flops per lane. Then it times the
 * level's GEMM kernel on each shape given as M,K,N (A packed as conv weights are at load, B a
 * row-major [K, N] activation as a pointwise conv reads it, C [M, N]), best of several runs
 * since the machine is shared, and prints GFLOP/s per shape and over all of them (summed flops
 * over summed best times). One thread. tests/bench/pointwise_shapes.py lists a model's
 * pointwise convolutions in that form; see tests/bench/README.md.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../engine/kernels/x86/x86.h"
#include "cpu.h"

#define PEAK_ITERS (500 * 1000)
#define PEAK_BEST_OF 300
#define BEST_OF 40
#define MIN_RUN_NS (2 * 1000 * 1000)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 10 independent accumulator chains: more than latency x throughput of one core's FMA units.
 * Each starts from its own value: chains equal from the start are the same computation, which
 * the compiler merges into one (and the "peak" then counts 10 FMAs for each one done). */
#define FMA_CHAINS(T, FMA, SET1, ADD, STORE, VW)                                                   \
    T a = SET1(1.0f), b = SET1(0.999999f);                                                         \
    T c0 = SET1(0.f), c1 = SET1(1.f), c2 = SET1(2.f), c3 = SET1(3.f), c4 = SET1(4.f),              \
      c5 = SET1(5.f), c6 = SET1(6.f), c7 = SET1(7.f), c8 = SET1(8.f), c9 = SET1(9.f);              \
    for (long i = 0; i < iters; i++) {                                                             \
        c0 = FMA(a, b, c0), c1 = FMA(a, b, c1), c2 = FMA(a, b, c2), c3 = FMA(a, b, c3);            \
        c4 = FMA(a, b, c4), c5 = FMA(a, b, c5), c6 = FMA(a, b, c6), c7 = FMA(a, b, c7);            \
        c8 = FMA(a, b, c8), c9 = FMA(a, b, c9);                                                    \
        __asm__ volatile("" : "+x"(a), "+x"(b));                                                   \
    }                                                                                              \
    float out[VW];                                                                                 \
    STORE(out, ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(ADD(c4, c5), ADD(c6, c7)), ADD(c8, c9)))); \
    return out[0];

__attribute__((target("avx2,fma"), noinline)) static float fma_avx2(long iters)
{
    FMA_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_add_ps, _mm256_storeu_ps, 8)
}

__attribute__((target("avx512f"), noinline)) static float fma_avx512(long iters)
{
    FMA_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps, _mm512_add_ps, _mm512_storeu_ps, 16)
}

static float *floats(int64_t n)
{
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    if (!p) {
        perror("gemm-gflops");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(rand() % 2001) / 1000.0f - 1.0f;
    return p;
}

/* Best time of BEST_OF runs of p, each run repeating the GEMM for at least MIN_RUN_NS. */
static double time_gemm(const eg_x86_kernels *kn, const eg_gemm *p)
{
    double best = 1e30;
    kn->gemm(p);
    for (int r = 0; r < BEST_OF; r++) {
        long reps = 0;
        double t0 = now_s(), t;
        do {
            kn->gemm(p);
            reps++;
        } while ((t = now_s() - t0) < MIN_RUN_NS * 1e-9);
        if (t / (double)reps < best)
            best = t / (double)reps;
    }
    return best;
}

int main(int argc, char **argv)
{
    int level = eg_cpu_level();
    if (argc < 2 || (level != EG_CPU_AVX2 && level != EG_CPU_AVX512)) {
        fprintf(stderr, "usage: gemm-gflops M,K,N ... (on an AVX2 or AVX-512 CPU; EMBER_CPU "
                        "picks the level)\n");
        return 2;
    }
    const eg_x86_kernels *kn = level == EG_CPU_AVX512 ? &eg_x86_avx512 : &eg_x86_avx2;
    double peak = 0;
    for (int r = 0; r < PEAK_BEST_OF; r++) {
        double t0 = now_s();
        volatile float sink = level == EG_CPU_AVX512 ? fma_avx512(PEAK_ITERS) : fma_avx2(PEAK_ITERS);
        (void)sink;
        double g = 10.0 * 2 * kn->vw * PEAK_ITERS / (now_s() - t0) / 1e9;
        peak = g > peak ? g : peak;
    }
    printf("level %s: single-core FMA peak %.1f GFLOP/s\n", eg_cpu_name(level), peak);
    printf("%6s %6s %6s %10s %9s %6s\n", "M", "K", "N", "us", "GFLOP/s", "peak");
    double flops = 0, secs = 0;
    for (int i = 1; i < argc; i++) {
        long m, k, n;
        if (sscanf(argv[i], "%ld,%ld,%ld", &m, &k, &n) != 3 || m < 1 || k < 1 || n < 1) {
            fprintf(stderr, "gemm-gflops: '%s' is not M,K,N\n", argv[i]);
            return 2;
        }
        float *a = floats(m * k), *ap = floats(eg_pack_a_size(m, k)), *b = floats(k * n);
        float *c = floats(m * n), *bias = floats(m);
        eg_pack_a(ap, a, m, k, k, 1);
        eg_gemm p = {.m = m, .n = n, .k = k, .ap = ap, .b = b, .ldb = n, .c = c, .ldc = n,
                     .bias_row = bias};
        double t = time_gemm(kn, &p), f = 2.0 * (double)m * (double)k * (double)n;
        printf("%6ld %6ld %6ld %10.1f %9.1f %5.0f%%\n", m, k, n, t * 1e6, f / t / 1e9,
               100.0 * f / t / 1e9 / peak);
        flops += f;
        secs += t;
        free(a), free(ap), free(b), free(c), free(bias);
    }
    printf("all %d shapes: %.1f GFLOP/s, %.0f%% of peak (%.3f ms per pass)\n", argc - 1,
           flops / secs / 1e9, 100.0 * flops / secs / 1e9 / peak, secs * 1e3);
    return 0;
}
