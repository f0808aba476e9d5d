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

int eg_x86_maxpool2x2(const eg_x86_kernels *kn, const eg_dw *d, int64_t pt, int64_t pl,
                      const float *x, int64_t planes, int64_t ih, int64_t iw, float *y)
{
    const eg_x86_seq_kernels *sk = eg_x86_seq_of(kn);
    if (!sk || d->kh != 2 || d->kw != 2 || d->sh != 2 || d->sw != 2 || d->dh != 1 || d->dw != 1 ||
        pt != 0 || pl != 0 || d->oh != ih / 2 || d->ow != iw / 2)
        return 0;
    sk->maxpool2x2(x, planes, ih, iw, y);
    return 1;
}
