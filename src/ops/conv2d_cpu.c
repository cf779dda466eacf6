// 2-D convolution on the CPU: im2col + OpenBLAS GEMM per image.
//
// Per image, out (Cout, Ho*Wo) = weight (Cout, Cin*KH*KW) . col (Cin*KH*KW, Ho*Wo) with
// col[(ci, kh, kw)][(oh, ow)] = inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 outside).
// A 1x1 stride-1 unpadded convolution is that GEMM on the input itself (col == inp).
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "ops_impl.h"

// Fills col (Cin*KH*KW, Ho*Wo) from one image x (Cin, H, W). Rows are independent and
// written contiguously; within a row the valid output columns [lo, hi) are found once so
// the copy loop has no bounds test.
static void im2col(float *col, const float *x, const vkd_conv2d_t *c, int Ho, int Wo) {
    const int KK = c->KH * c->KW, rows = c->Cin * KK, s = c->stride;
    const long work = (long)rows * Ho * Wo;
#pragma omp parallel for schedule(static) if (work > (1L << 16))
    for (int r = 0; r < rows; r++) {
        const int ci = r / KK, kh = (r % KK) / c->KW, kw = r % c->KW;
        const float *xc = x + (size_t)ci * c->H * c->W;
        // ow valid iff 0 <= ow*s - pad_l + kw < W.
        const int dl = c->pad_l - kw;
        int lo = dl > 0 ? (dl + s - 1) / s : 0;
        int hi = (c->W + dl + s - 1) / s; // first ow with iw >= W
        if (lo > Wo) lo = Wo;
        if (hi > Wo) hi = Wo;
        if (hi < lo) hi = lo;
        for (int oh = 0; oh < Ho; oh++) {
            float *dst = col + ((size_t)r * Ho + oh) * Wo;
            const int ih = oh * s - c->pad_t + kh;
            if (ih < 0 || ih >= c->H) {
                memset(dst, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            const float *src = xc + (size_t)ih * c->W; // (W)
            for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
            if (s == 1 && hi > lo)
                memcpy(dst + lo, src + (lo - dl), (size_t)(hi - lo) * sizeof(float));
            else
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s - dl];
            for (int ow = hi; ow < Wo; ow++) dst[ow] = 0.0f;
        }
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
    const int direct = c->KH == 1 && c->KW == 1 && c->stride == 1 && c->pad_t == 0 &&
                       c->pad_b == 0 && c->pad_l == 0 && c->pad_r == 0;
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
        if (!direct) im2col(col, xb, c, Ho, Wo);
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
