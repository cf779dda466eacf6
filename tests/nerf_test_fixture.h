// Fixtures shared by the NeRF op tests (test_nerf_ops.c: per-point ops, test_nerf_render_ops.c:
// per-ray ops): host arrays of test data, the weighted-sum loss of their finite-difference
// checks, and the CPU/Vulkan buffer pairs of their agreement cases. Static functions in a
// header: each test binary is one file, and a name here cannot clash with another test's.
#ifndef VKD_TEST_NERF_FIXTURE_H
#define VKD_TEST_NERF_FIXTURE_H

#include <stdlib.h>

#include "test_util.h"

// calloc'd floats (at least one, so n = 0 is not a NULL); aborts when memory runs out.
static inline float *fmalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

// n floats uniform in [lo, hi) from the test PCG state st.
static inline float *uniform(uint64_t *st, size_t n, float lo, float hi) {
    float *x = fmalloc(n);
    test_fill_uniform(st, x, n, lo, hi);
    return x;
}

// Weighted sum of a CPU buffer's first n floats (the scalar loss of the FD checks).
static inline double wsum(const float *y, const float *wts, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)wts[i] * y[i];
    return s;
}

// The same host data on both backends (c: CPU, v: Vulkan).
typedef struct {
    vkd_buf_t c, v;
} pair_t;

static inline pair_t pair(tctx_t *T, const float *src, size_t n) {
    return (pair_t){test_buf(T, T->cpu_arena, src, n), test_buf(T, T->vk_arena, src, n)};
}

// Reads both sides of a pair and compares Vulkan against CPU.
static inline void cmp(tctx_t *T, const char *name, pair_t p, size_t n, double tol) {
    float *a = test_read(T, p.c, n), *b = test_read(T, p.v, n);
    if (a && b) test_compare(T, name, b, a, n, tol);
    free(a), free(b);
}

#endif
