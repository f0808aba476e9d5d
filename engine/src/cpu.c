/*
 * CPU feature detection for kernel dispatch (see cpu.h).
 *
 * x86-64 asks the compiler's CPU model (__builtin_cpu_supports), which checks both CPUID and
 * that the OS enabled the register state (XGETBV), so a kernel is never picked on a kernel
 * that would fault on its registers. Other architectures report the reference level until
 * their optimized kernels exist.
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
    default: return NULL;
    }
}

int eg_cpu_level(void)
{
    int level = eg_cpu_detect();
    const char *want = getenv("EMBER_CPU");
    if (!want || !*want)
        return level;
    for (int l = EG_CPU_REF; l <= EG_CPU_AVX512; l++)
        if (strcmp(want, eg_cpu_name(l)) == 0)
            return l < level ? l : level;
    return level;
}
