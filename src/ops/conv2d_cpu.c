// 2-D convolution on the CPU: im2col (conv2d_col_cpu.c) + OpenBLAS GEMM per image.
//
// Per image, out (Cout, Ho*Wo) = weight (Cout, Cin*KH*KW) . col (Cin*KH*KW, Ho*Wo) with
// col[(ci, kh, kw)][(oh, ow)] = inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 outside).
// A 1x1 stride-1 unpadded convolution is that GEMM on the input itself (col == inp).
#include <stdlib.h>

#include "blas.h"
#include "conv2d_col.h"
#include "ops_impl.h"

vkd_status_t conv2d_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                                vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    (void)be;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW;
    float *y = out.host;                                          // (B, Cout, Ho, Wo)
    const float *x = inp.host;                                    // (B, Cin, H, W)
    const float *w = weight.host;                                 // (Cout, Cin, KH, KW)
    const float *bs = vkd_buf_present(bias) ? bias.host : NULL;  // (Cout)
    const int direct = vkd_conv2d_is_pointwise(c);
    float *col = NULL; // (K, N), reused for every image
    if (!direct) {
        col = malloc((size_t)K * N * sizeof(float));
        if (!col)
            return vkd_fail(VKD_ERR_NOMEM, "conv2d: out of host memory for the %d x %d im2col "
                            "buffer (%.1f MiB)", K, N, (double)K * N * 4 / (1 << 20));
    }
    for (int b = 0; b < c->B; b++) {
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
    free(col);
    return VKD_OK;
}
