// Row kernels shared by the CPU attention forward and backward (attention_row_cpu.c).
#ifndef VKD_OPS_ATTENTION_ROW_H
#define VKD_OPS_ATTENTION_ROW_H

// The exponentials and the row passes are the non-GEMM time of CPU attention: they are
// built for AVX-512 and AVX2+FMA as well as the baseline, chosen at load time.
#if defined(__x86_64__) && defined(__GNUC__)
#define ATT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ATT_SIMD_CLONES
#endif

// exp(s - max) over the first `lim` entries of a score row s (n); the rest (masked) become
// 0. Returns their sum: the caller normalises (the forward does it on its Dv output
// columns instead of the Lk scores).
float vkd_att_softmax_row_unnormalised(float *s, int lim, int n);

#endif
