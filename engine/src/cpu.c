/*
 * CPU feature detection for kernel dispatch (see cpu.h).
 *
 * x86-64 asks the compiler's CPU model (__builtin_cpu_supports), which checks both CPUID and
 * that the OS enabled the register state (XGETBV), so a kernel is never picked on a kernel
 * that would fault on its registers. arm64 always has NEON (Advanced SIMD is mandatory in
 * ARMv8-A and Linux enables it). Other architectures report the reference level.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

int eg_cpu_detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return EG_CPU_REF;
    if (!__builtin_cpu_supports("avx512f"))
        return EG_CPU_AVX2;
    return EG_CPU_AVX512;
#elif defined(__aarch64__)
    return EG_CPU_NEON;
#else
    return EG_CPU_REF;
#endif
}

const char *eg_cpu_name(int level)
{
    switch (level) {
    case EG_CPU_REF: return "ref";
    case EG_CPU_AVX2: return "avx2";
    case EG_CPU_AVX512: return "avx512";
    case EG_CPU_NEON: return "neon";
    default: return NULL;
    }
}

int eg_cpu_supported(int level)
{
    int top = eg_cpu_detect();
    if (level == EG_CPU_REF)
        return 1;
    if (top == EG_CPU_NEON)
        return level == EG_CPU_NEON;
    return (level == EG_CPU_AVX2 || level == EG_CPU_AVX512) && level <= top;
}

int eg_cpu_level(void)
{
    const char *want = getenv("EMBER_CPU");
    if (want && *want)
        for (int l = EG_CPU_REF; l < EG_CPU_COUNT; l++)
            if (strcmp(want, eg_cpu_name(l)) == 0 && eg_cpu_supported(l))
                return l;
    return eg_cpu_detect();
}
