// Softmax over the last axis on the CPU, one row per OpenMP iteration.
// Stable: exp(scale x - max) <= 1; the row sums are accumulated in double.
// Every inner loop is written to vectorise: lane-wise max and sums (fixed lane arrays, so
// the compiler reassociates nothing), and vkd_expf (activation.h) instead of expf.
// As in elementwise_cpu.c, GCC only if-converts vkd_expf's selects when FP operations
// may not trap; nothing here reads FP exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>

#include "activation.h"
#include "ops_impl.h"

#define PAR_MIN (1 << 16) // elements below which threads cost more than they save
#define LANES 8

// max over j of scale * x[j], x (D), D >= 1
static float row_max(const float *x, int D, float scale) {
    float m[LANES];
    for (int l = 0; l < LANES; l++) m[l] = -INFINITY;
    int j = 0;
    for (; j + LANES <= D; j += LANES)
        for (int l = 0; l < LANES; l++) {
            const float v = scale * x[j + l];
            m[l] = v > m[l] ? v : m[l];
        }
    for (; j < D; j++) m[0] = scale * x[j] > m[0] ? scale * x[j] : m[0];
    float r = m[0];
    for (int l = 1; l < LANES; l++) r = m[l] > r ? m[l] : r;
    return r;
}

// sum_j x[j] y[j] (or sum_j x[j] when y == NULL) in double, 8 lanes.
static double row_dot(const float *x, const float *y, int D) {
    double acc[LANES] = {0};
    int j = 0;
    if (y) {
        for (; j + LANES <= D; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += (double)x[j + l] * (double)y[j + l];
        for (; j < D; j++) acc[0] += (double)x[j] * (double)y[j];
    } else {
        for (; j + LANES <= D; j += LANES)
            for (int l = 0; l < LANES; l++) acc[l] += (double)x[j + l];
        for (; j < D; j++) acc[0] += (double)x[j];
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

vkd_status_t softmax_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                 float scale) {
    (void)be;
    float *y = out.host;       // (N, D), may alias inp
    const float *x = inp.host; // (N, D)
#pragma omp parallel for schedule(static) if ((long)N * D > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D; // (D)
        float *yr = y + (size_t)r * D;       // (D)
        const float m = row_max(xr, D, scale);
        for (int j = 0; j < D; j++) yr[j] = vkd_expf(scale * xr[j] - m);
        const float inv = (float)(1.0 / row_dot(yr, NULL, D));
        for (int j = 0; j < D; j++) yr[j] *= inv;
    }
    return VKD_OK;
}

vkd_status_t softmax_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                  vkd_buf_t out, int N, int D, float scale) {
    (void)be;
    float *dx = dinp.host;       // (N, D)
    const float *dy = dout.host; // (N, D)
    const float *y = out.host;   // (N, D)
#pragma omp parallel for schedule(static) if ((long)N * D > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const size_t off = (size_t)r * D;
        const float dot = (float)row_dot(dy + off, y + off, D);
        float *dxr = dx + off;             // (D)
        const float *dyr = dy + off, *yr = y + off; // (D)
        for (int j = 0; j < D; j++) dxr[j] += scale * yr[j] * (dyr[j] - dot);
    }
    return VKD_OK;
}
