// Token-embedding backward on the CPU: a scatter-add of dout rows into dweight rows.
// Repeated ids add into the same row, so threads split the columns (each owns a slice of
// D for every token) rather than the tokens: no two threads touch one element, and the
// result does not depend on the thread count (each element adds its tokens in order).
#include "ops_impl.h"

#define EMB_COLS 256 // columns per work item: a few cache lines per row, vectorised adds

vkd_status_t embedding_backward_cpu(vkd_backend_t *be, vkd_buf_t dweight, vkd_buf_t dout,
                                    const int32_t *ids, int N, int V, int D) {
    (void)be;
    (void)V;
    float *dw = dweight.host;    // (V, D)
    const float *dy = dout.host; // (N, D)
    const int nblk = (D + EMB_COLS - 1) / EMB_COLS;
    const long work = (long)N * D;
#pragma omp parallel for schedule(static) if (work > (1L << 17) && nblk > 1)
    for (int blk = 0; blk < nblk; blk++) {
        const int j0 = blk * EMB_COLS, j1 = j0 + EMB_COLS < D ? j0 + EMB_COLS : D;
        for (int i = 0; i < N; i++) {
            float *dst = dw + (size_t)ids[i] * D; // (D)
            const float *src = dy + (size_t)i * D; // (D)
#pragma omp simd
            for (int j = j0; j < j1; j++) dst[j] += src[j];
        }
    }
    return VKD_OK;
}
