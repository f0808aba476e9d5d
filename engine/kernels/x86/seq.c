/*
 * Which level's sequence-model kernels (seq.h) go with a level of simd.inc's, and the choice
 * between the GEMM's register tile and the narrow product for one GEMM.
 */
#include "seq.h"
#if defined(EMBER_ARM_KERNELS)
#include "../arm/arm.h"
#endif

const eg_x86_seq_kernels *eg_x86_seq_of(const eg_x86_kernels *kn)
{
#if defined(EMBER_ARM_KERNELS)
    return kn == &eg_arm_neon ? &eg_arm_neon_seq : NULL;
#else
    return kn == &eg_x86_avx512 ? &eg_x86_avx512_seq : kn == &eg_x86_avx2 ? &eg_x86_avx2_seq : NULL;
#endif
}

void eg_x86_gemm_any(const eg_x86_kernels *kn, const eg_gemm *p)
{
    const eg_x86_seq_kernels *sk =
        p->n < kn->vw && p->ap && !p->bias_col ? eg_x86_seq_of(kn) : NULL;
    if (sk)
        sk->gemm_narrow(p);
    else
        kn->gemm(p);
}
