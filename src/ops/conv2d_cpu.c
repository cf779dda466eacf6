// 2-D convolution on the CPU: im2col (conv2d_col_cpu.c) + OpenBLAS GEMM per image.
//
// Per image, out (Cout, Ho*Wo) = weight (Cout, Cin*KH*KW) . col (Cin*KH*KW, Ho*Wo) with
// col[(ci, kh, kw)][(oh, ow)] = inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 outside).
// A 1x1 stride-1 unpadded convolution is that GEMM on the input itself (col == inp).
//
// Threads: with at least two images, each thread takes a contiguous range of images with
// its own col buffer and runs single-threaded GEMMs (conv2d_col.h) inside one parallel
// region (as the backward does, conv2d_bwd_cpu.c). Per-image multi-threaded GEMMs fork and join twice
// per image; on a shared 2-core machine a descheduled worker stalls every join, and the
// prior trainer runs batches of 32 images through dozens of convolutions per step. The
// per-image GEMMs are already near the rate of one big GEMM of the same work (measured,
// single core: 93-126 GFLOP/s against 79-161 for a (Cout, B*HW) GEMM), so batching the
// images into one GEMM would only add a transpose. Each image's result does not depend
// on the thread count.
#include <omp.h>
#include <stdlib.h>

#include "blas.h"
#include "conv2d_col.h"
#include "ops_impl.h"

#define CONV_FWD_PAR_MIN_FLOPS 4e6               // below this one thread is faster
#define CONV_FWD_MAX_SCRATCH ((size_t)512 << 20) // bytes of per-thread col buffers

// Images [b0, b1): y_b = W col(x_b) (+ bias). col (K, N) is scratch (unused when direct).
static void images_fwd(float *y, const float *x, const float *w, const float *bs, float *col,
                       const vkd_conv2d_t *c, int b0, int b1) {
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW;
    const int direct = vkd_conv2d_is_pointwise(c);
    for (int b = b0; b < b1; b++) {
        const float *xb = x + (size_t)b * c->Cin * c->H * c->W; // (Cin, H, W)
        float *yb = y + (size_t)b * c->Cout * N;                 // (Cout, N)
        if (!direct) vkd_conv2d_im2col(col, xb, c, Ho, Wo);
        float beta = 0.0f;
        if (bs) { // bias per output channel = per row of yb; the GEMM adds onto it
            for (int co = 0; co < c->Cout; co++)
                for (int n = 0; n < N; n++) yb[(size_t)co * N + n] = bs[co];
            beta = 1.0f;
        }
        vkd_sgemm(0, 0, c->Cout, N, K, 1.0f, w, K, direct ? xb : col, N, beta, yb, N);
    }
}

vkd_status_t conv2d_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                                vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    (void)be;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW;
    float *y = out.host;                                          // (B, Cout, Ho, Wo)
    const float *x = inp.host;                                    // (B, Cin, H, W)
    const float *w = weight.host;                                 // (Cout, Cin, KH, KW)
    const float *bs = vkd_buf_present(bias) ? bias.host : NULL;  // (Cout)
    const size_t n_col = vkd_conv2d_is_pointwise(c) ? 0 : (size_t)K * N;
    const double flops = 2.0 * c->B * c->Cout * (double)N * K;
    int nt = omp_get_max_threads();
    if (nt > c->B) nt = c->B;
    if (flops < CONV_FWD_PAR_MIN_FLOPS || (size_t)nt * n_col * sizeof(float) > CONV_FWD_MAX_SCRATCH)
        nt = 1;
    float *col = n_col ? malloc((size_t)nt * n_col * sizeof(float)) : NULL; // (nt, K, N)
    if (n_col && !col)
        return vkd_fail(VKD_ERR_NOMEM, "conv2d: out of host memory for %d x %d x %d im2col "
                        "buffers (%.1f MiB)", nt, K, N, (double)nt * n_col * 4 / (1 << 20));
    if (nt == 1) {
        images_fwd(y, x, w, bs, col, c, 0, c->B);
    } else {
        const int blas_threads = vkd_conv2d_blas_single_begin();
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int b0 = (int)((long)c->B * t / nt), b1 = (int)((long)c->B * (t + 1) / nt);
            images_fwd(y, x, w, bs, col ? col + (size_t)t * n_col : NULL, c, b0, b1);
        }
        vkd_conv2d_blas_single_end(blas_threads);
    }
    free(col);
    return VKD_OK;
}
