/*
 * Run-time CPU dispatch: which optimized kernel level this machine (and EMBER_CPU) allows.
 *
 * The library is built for the portable baseline of its architecture; faster kernels are
 * compiled with their own flags and chosen once per node at load (registry.c) by the level
 * returned here, so one binary runs on any x86-64 or arm64.
 */
#ifndef EMBER_CPU_H
#define EMBER_CPU_H

/* Kernel levels. Within one architecture each implies the lower ones of that architecture
 * (and EG_CPU_REF); levels of another architecture are never supported. */
enum eg_cpu_level {
    EG_CPU_REF = 0,    /* portable C reference kernels only */
    EG_CPU_AVX2 = 1,   /* x86-64 with AVX2 and FMA (and the OS saving ymm state) */
    EG_CPU_AVX512 = 2, /* plus AVX-512F (and the OS saving zmm state) */
    EG_CPU_NEON = 3,   /* arm64 Advanced SIMD (mandatory in ARMv8-A) */
    EG_CPU_COUNT       /* one past the last level */
};

/* The highest level the CPU and OS support: EG_CPU_AVX512, _AVX2 or _REF on x86-64,
 * EG_CPU_NEON on arm64, EG_CPU_REF on other architectures. */
int eg_cpu_detect(void);

/* Whether this build's architecture has level and the CPU supports it (EG_CPU_REF always). */
int eg_cpu_supported(int level);

/* The level kernels are chosen by: eg_cpu_detect(), lowered by the environment variable
 * EMBER_CPU=ref|avx2|avx512|neon (a level the CPU does not support, such as one above it or
 * of another architecture, or an unknown name, is ignored: it could not run). Read at every
 * call, so tests can change it between loads. */
int eg_cpu_level(void);

/* "ref", "avx2", "avx512" or "neon"; NULL for an unknown level. */
const char *eg_cpu_name(int level);

#endif
