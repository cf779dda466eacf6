// 2-D convolution backward on the CPU: im2col/col2im (conv2d_col_cpu.c) + OpenBLAS GEMM.
//
// Per image b, with col_b = im2col(inp_b) (K = Cin*KH*KW, N = Ho*Wo) and dy_b (Cout, N):
//   dweight (Cout, K) += dy_b col_b^T         (GEMM, beta = 1 accumulates over images)
//   dinp_b            += col2im(W^T (K, Cout) dy_b)
//   dbias (Cout)      += row sums of dy_b
// One (K, N) buffer serves both: it holds col_b for the dweight GEMM, then W^T dy_b.
// A 1x1 stride-1 unpadded convolution needs no col buffer: col_b is inp_b itself and
// dinp_b (Cin, N) += W^T dy_b directly.
//
// Threads: with at least two images, each thread takes a contiguous range of images with
// its own col buffer and dweight partial sum (single-threaded GEMMs inside the parallel
// region), and the partials are added to dweight in thread order at the end. One
// parallel region for the whole op instead of four per image: im2col and col2im are
// memory-bound and scale with the images, and the op keeps its speed when other
// processes compete for the cores (per-image fork/join barriers then stall on
// descheduled threads, 5x slower measured). The static image split makes the result
// deterministic for a given thread count. With one image, or when the per-thread buffers
// would exceed CONV_BWD_MAX_SCRATCH, images run one after another with multi-threaded
// GEMMs and OpenMP im2col/col2im loops.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "conv2d_col.h"
#include "ops_impl.h"

#define CONV_BWD_MAX_SCRATCH ((size_t)512 << 20) // bytes of per-thread buffers, all threads
#define CONV_BWD_PAR_MIN_FLOPS 4e6               // below this one thread is faster

// dbias (Cout) += sum over images and pixels of dy (B, Cout, N). Per-row partial sums in
// float (vectorised), the total over images in double.
static void bias_grad(float *db, const float *dy, int B, int Cout, int N) {
    const long work = (long)B * Cout * N;
#pragma omp parallel for schedule(static) if (work > (1L << 17))
    for (int co = 0; co < Cout; co++) {
        double total = 0.0;
        for (int b = 0; b < B; b++) {
            const float *row = dy + ((size_t)b * Cout + co) * N; // (N)
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int n = 0; n < N; n++) s += row[n];
            total += s;
        }
        db[co] += (float)total;
    }
}

// dweight/dinp contributions of images [b0, b1): dw (Cout, K) += ..., dx images += ...
// col (K, N) is scratch (unused when pointwise).
static void images_bwd(float *dw, float *dx, float *col, const float *dy, const float *x,
                       const float *w, const vkd_conv2d_t *c, int b0, int b1) {
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW, Cout = c->Cout;
    const size_t img = (size_t)c->Cin * c->H * c->W;
    const int pointwise = vkd_conv2d_is_pointwise(c);
    for (int b = b0; b < b1; b++) {
        const float *dyb = dy + (size_t)b * Cout * N; // (Cout, N)
        const float *xb = x + (size_t)b * img;        // (Cin, H, W)
        if (dw) {
            if (!pointwise) vkd_conv2d_im2col(col, xb, c, Ho, Wo);
            // dw (Cout, K) += dy_b (Cout, N) col_b^T (N, K)
            vkd_sgemm(0, 1, Cout, K, N, 1.0f, dyb, N, pointwise ? xb : col, N, 1.0f, dw, K);
        }
        if (dx) {
            float *dxb = dx + (size_t)b * img; // (Cin, H, W)
            if (pointwise) { // dx_b (Cin, N) += W^T (Cin, Cout) dy_b (Cout, N)
                vkd_sgemm(1, 0, K, N, Cout, 1.0f, w, K, dyb, N, 1.0f, dxb, N);
            } else { // col (K, N) = W^T (K, Cout) dy_b (Cout, N), then scattered back
                vkd_sgemm(1, 0, K, N, Cout, 1.0f, w, K, dyb, N, 0.0f, col, N);
                vkd_conv2d_col2im_add(dxb, col, c, Ho, Wo);
            }
        }
    }
}

vkd_status_t conv2d_backward_cpu(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                 vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                 vkd_buf_t weight, const vkd_conv2d_t *c) {
    (void)be;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW, Cout = c->Cout;
    float *dx = vkd_buf_present(dinp) ? dinp.host : NULL;      // (B, Cin, H, W)
    float *dw = vkd_buf_present(dweight) ? dweight.host : NULL; // (Cout, K)
    float *db = vkd_buf_present(dbias) ? dbias.host : NULL;     // (Cout)
    const float *dy = dout.host;                                // (B, Cout, N)
    const float *x = inp.host;                                  // (B, Cin, H, W)
    const float *w = weight.host;                               // (Cout, K)
    if (db) bias_grad(db, dy, c->B, Cout, N);
    if (!dx && !dw) return VKD_OK;
    const size_t n_col = vkd_conv2d_is_pointwise(c) ? 0 : (size_t)K * N;
    const size_t n_dw = dw ? (size_t)Cout * K : 0;
    const double flops = 2.0 * c->B * Cout * (double)N * K * ((dx != NULL) + (dw != NULL));
    int nt = omp_get_max_threads();
    if (nt > c->B) nt = c->B;
    if (flops < CONV_BWD_PAR_MIN_FLOPS ||
        (size_t)nt * (n_col + n_dw) * sizeof(float) > CONV_BWD_MAX_SCRATCH)
        nt = 1;
    // Parallel: per thread col (K, N) and a dweight partial (Cout, K). Serial: one col.
    const size_t per = n_col + (nt > 1 ? n_dw : 0);
    float *work = per ? malloc((size_t)nt * per * sizeof(float)) : NULL;
    if (per && !work)
        return vkd_fail(VKD_ERR_NOMEM, "op_conv2d_backward: out of host memory for %d x %zu "
                        "floats of im2col/partial buffers (%.1f MiB)", nt, per,
                        (double)nt * per * 4 / (1 << 20));
    if (nt == 1) {
        images_bwd(dw, dx, work, dy, x, w, c, 0, c->B);
        free(work);
        return VKD_OK;
    }
    const int blas_threads = vkd_conv2d_blas_single_begin(); // see conv2d_col.h
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        float *col = work + (size_t)t * per;   // (K, N)
        float *dwt = dw ? col + n_col : NULL;  // (Cout, K) this thread's partial
        if (dwt) memset(dwt, 0, n_dw * sizeof(float));
        const int b0 = (int)((long)c->B * t / nt), b1 = (int)((long)c->B * (t + 1) / nt);
        images_bwd(dwt, dx, col, dy, x, w, c, b0, b1);
#pragma omp barrier
        if (dw) { // dw += partials in thread order: deterministic for a given nt
#pragma omp for schedule(static)
            for (size_t i = 0; i < n_dw; i++) {
                float s = 0.0f;
                for (int u = 0; u < nt; u++) s += work[(size_t)u * per + n_col + i];
                dw[i] += s;
            }
        }
    }
    vkd_conv2d_blas_single_end(blas_threads);
    free(work);
    return VKD_OK;
}
