// Row arithmetic shared by the CPU LayerNorm and GroupNorm (layernorm_cpu.c,
// groupnorm_cpu.c): a LayerNorm row and a GroupNorm group are both one contiguous run of
// floats normalised by its own statistics, so both take them the same way.
//
// Statistics are taken about the run's first element x0 (shifted data): for inputs such
// as 1000 + N(0, 1) the sum of (x - x0) is small and exact-ish in float, whereas a plain
// float sum of x would lose the mean to rounding at 1e-4 and the normalised output with
// it. Variance is a second pass over (x - mean)^2, never E[x^2] - E[x]^2. Both sums are
// accumulated in double: a long float sum of a shifted row (x0 far from the mean) or of a
// GroupNorm group (up to 160k values) would otherwise cost 1e-6..1e-5 relative.
// `omp simd reduction` lets the compiler vectorise the sums (reordering them), which
// plain C semantics forbid without -ffast-math.
#ifndef VKD_OPS_NORM_ROW_H
#define VKD_OPS_NORM_ROW_H

#include <math.h>

// The double sums run 2 lanes wide in the baseline x86-64 build: the row kernels are also
// built for AVX2 and AVX-512 and picked at load time (the lane count changes the order of
// the double partial sums only, far below float rounding).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NORM_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NORM_SIMD_CLONES
#endif

// The statistics of one run, in the form its normalisation uses: xhat = ((x - x0) - ms) * r.
typedef struct {
    float x0;   // the run's first element (the shift)
    float ms;   // mean - x0
    float r;    // 1 / sqrt(var + eps)
    float mean; // saved for the backward
} vkd_norm_stats_t;

// Always inlined: the caller is a NORM_SIMD_CLONES kernel, and only inlined code is built
// for the caller's instruction set (a separate function would sum 2 lanes wide in every
// clone, a different order than before).
static inline __attribute__((always_inline)) vkd_norm_stats_t
vkd_norm_row_stats(const float *x, int n, float eps) {
    const float x0 = x[0];
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += (double)(x[j] - x0);
    const float ms = (float)(s / n);
    double v = 0.0;
#pragma omp simd reduction(+ : v)
    for (int j = 0; j < n; j++) {
        float c = (x[j] - x0) - ms;
        v += (double)(c * c);
    }
    vkd_norm_stats_t st;
    st.x0 = x0;
    st.ms = ms;
    st.r = (float)(1.0 / sqrt(v / n + (double)eps));
    st.mean = (float)((double)x0 + s / n);
    return st;
}

// The backward's dweight/dbias from per-part double sums: part is (parts, 2, n), [p][0]
// the dweight and [p][1] the dbias terms of part p (a thread's rows, or a batch item's
// groups). Adds them up in part order, so the result does not depend on which thread
// ran which part; dw[j], db[j] += the totals (either may be NULL).
void vkd_norm_add_partials(const double *part, int parts, int n, float *dw, float *db);

#endif
