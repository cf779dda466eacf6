// Softmax over the last axis on the CPU, one row per OpenMP iteration.
// Stable: exp(scale x - max) <= 1; the row sum is accumulated in double.
#include <math.h>

#include "ops_impl.h"

#define PAR_MIN (1 << 14) // elements below which threads cost more than they save

vkd_status_t softmax_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                 float scale) {
    (void)be;
    float *y = out.host;       // (N, D), may alias inp
    const float *x = inp.host; // (N, D)
#pragma omp parallel for schedule(static) if ((long)N * D > PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D; // (D)
        float *yr = y + (size_t)r * D;       // (D)
        float m = -INFINITY;
        for (int j = 0; j < D; j++) m = fmaxf(m, scale * xr[j]);
        double s = 0.0;
        for (int j = 0; j < D; j++) {
            const float e = expf(scale * xr[j] - m);
            yr[j] = e;
            s += e;
        }
        const float inv = (float)(1.0 / s);
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
        double dot = 0.0;
        for (int j = 0; j < D; j++) dot += (double)dy[off + j] * (double)y[off + j];
        const float fdot = (float)dot;
        for (int j = 0; j < D; j++) dx[off + j] += scale * y[off + j] * (dy[off + j] - fdot);
    }
    return VKD_OK;
}
