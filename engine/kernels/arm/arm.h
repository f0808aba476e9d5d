/*
 * The arm64 kernels: the NEON level of the SIMD kernels (neon.c, from the same simd.inc as
 * the x86 levels, so the same eg_x86_kernels entry points and packed layouts of x86.h), bound
 * to operators by ops.c with the portable drivers of kernels/x86/.
 */
#ifndef EMBER_ARM_H
#define EMBER_ARM_H

#include "../x86/x86.h"

extern const eg_x86_kernels eg_arm_neon;

#endif
