// 2-D convolution on the CPU, two ways (both OpenBLAS GEMMs, per image):
//
// - Stride 1 (the UNet's 3x3 convolutions), "shifted GEMMs": with the image zero-padded to
//   xp (Cin, Hp, Wp), output pixel (oh, ow) reads xp[ci][oh + kh][ow + kw], so for one tap
//   (kh, kw) the whole output is a GEMM of that tap's weights (Cout, Cin) with xp read from
//   offset kh*Wp + kw as a (Cin, Ho*Wp) matrix (row stride Hp*Wp): each row of it is the
//   padded image shifted, and the Wp - Wo columns per output row that wrap around are junk,
//   computed and dropped. KH*KW GEMMs accumulate into yp (Cout, Ho*Wp). This replaces the
//   im2col buffer (KH*KW times the image, written then re-read by OpenBLAS's packing from
//   memory: 40% of a 64x64 UNet forward's CPU time) by a padded copy of the image that
//   stays in cache; measured single-threaded 1.4-2.2x faster per convolution at 16-64 px.
//   The junk columns cost Wp/Wo extra work, so small images (Wo < SHIFT_MIN_WO) keep im2col.
// - Otherwise im2col (conv2d_col_cpu.c): out (Cout, Ho*Wo) = weight (Cout, Cin*KH*KW) .
//   col (Cin*KH*KW, Ho*Wo), and a 1x1 stride-1 unpadded convolution is that GEMM on the
//   input itself (col == inp).
//
// Threads: with at least two images, each thread takes a contiguous range of images with
// its own scratch and runs single-threaded GEMMs (conv2d_col.h) inside one parallel region
// (as the backward does, conv2d_bwd_cpu.c): per-image multi-threaded GEMMs fork and join
// per call, and on a shared 2-core machine a descheduled worker stalls every join. Each
// image's result does not depend on the thread count.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "conv2d_col.h"
#include "ops_impl.h"

#define CONV_FWD_PAR_MIN_FLOPS 4e6               // below this one thread is faster
#define CONV_FWD_MAX_SCRATCH ((size_t)512 << 20) // bytes of per-thread scratch
#define SHIFT_MIN_WO 16                          // narrower outputs: im2col (junk columns)

typedef struct {
    const vkd_conv2d_t *c;
    const float *x, *w, *bs; // (B, Cin, H, W), weight (shifted: (KH*KW, Cout, Cin)), (Cout)
    float *y;                // (B, Cout, Ho, Wo)
    int shifted;
    size_t n_scratch;        // floats of scratch per thread
} conv_job_t;

static int use_shifted(const vkd_conv2d_t *c) {
    return c->stride == 1 && !vkd_conv2d_is_pointwise(c) && vkd_conv2d_out_w(c) >= SHIFT_MIN_WO;
}

// Scratch per thread, floats: shifted xp (Cin, Hp, Wp) + KW - 1 zeros read past the last
// channel by the last taps' junk columns, then yp (Cout, Ho*Wp); im2col col (K, N).
static size_t scratch_floats(const vkd_conv2d_t *c) {
    const size_t Hp = (size_t)c->H + c->pad_t + c->pad_b, Wp = (size_t)c->W + c->pad_l + c->pad_r;
    if (use_shifted(c))
        return (size_t)c->Cin * Hp * Wp + (size_t)c->KW - 1 +
               (size_t)c->Cout * vkd_conv2d_out_h(c) * Wp;
    if (vkd_conv2d_is_pointwise(c)) return 0;
    return (size_t)c->Cin * c->KH * c->KW * vkd_conv2d_out_h(c) * vkd_conv2d_out_w(c);
}

// Images [b0, b1) by shifted GEMMs; s is this thread's zeroed scratch (padding stays 0:
// only the interior of xp is ever written).
static void images_shifted(const conv_job_t *j, float *s, int b0, int b1) {
    const vkd_conv2d_t *c = j->c;
    const int Hp = c->H + c->pad_t + c->pad_b, Wp = c->W + c->pad_l + c->pad_r;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c), Np = Ho * Wp;
    const int taps = c->KH * c->KW;
    const size_t plane = (size_t)Hp * Wp;
    float *xp = s;                                          // (Cin, Hp, Wp) + KW - 1
    float *yp = s + (size_t)c->Cin * plane + c->KW - 1;    // (Cout, Ho, Wp)
    for (int b = b0; b < b1; b++) {
        const float *xb = j->x + (size_t)b * c->Cin * c->H * c->W; // (Cin, H, W)
        float *yb = j->y + (size_t)b * c->Cout * Ho * Wo;           // (Cout, Ho, Wo)
        for (int ci = 0; ci < c->Cin; ci++)
            for (int h = 0; h < c->H; h++)
                memcpy(xp + ci * plane + (size_t)(h + c->pad_t) * Wp + c->pad_l,
                       xb + ((size_t)ci * c->H + h) * c->W, (size_t)c->W * sizeof(float));
        for (int t = 0; t < taps; t++) {
            const int kh = t / c->KW, kw = t % c->KW;
            vkd_sgemm(0, 0, c->Cout, Np, c->Cin, 1.0f, j->w + (size_t)t * c->Cout * c->Cin,
                      c->Cin, xp + (size_t)kh * Wp + kw, (int)plane, t ? 1.0f : 0.0f, yp, Np);
        }
        for (int co = 0; co < c->Cout; co++) {
            const float bias = j->bs ? j->bs[co] : 0.0f;
            for (int oh = 0; oh < Ho; oh++) {
                const float *src = yp + (size_t)co * Np + (size_t)oh * Wp; // (Wo) + junk
                float *dst = yb + ((size_t)co * Ho + oh) * Wo;             // (Wo)
                for (int ow = 0; ow < Wo; ow++) dst[ow] = src[ow] + bias;
            }
        }
    }
}

// Images [b0, b1) by im2col: y_b = W col(x_b) (+ bias). col (K, N) is s (unused when direct).
static void images_im2col(const conv_job_t *j, float *col, int b0, int b1) {
    const vkd_conv2d_t *c = j->c;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW;
    const int direct = vkd_conv2d_is_pointwise(c);
    for (int b = b0; b < b1; b++) {
        const float *xb = j->x + (size_t)b * c->Cin * c->H * c->W; // (Cin, H, W)
        float *yb = j->y + (size_t)b * c->Cout * N;                 // (Cout, N)
        if (!direct) vkd_conv2d_im2col(col, xb, c, Ho, Wo);
        float beta = 0.0f;
        if (j->bs) { // bias per output channel = per row of yb; the GEMM adds onto it
            for (int co = 0; co < c->Cout; co++)
                for (int n = 0; n < N; n++) yb[(size_t)co * N + n] = j->bs[co];
            beta = 1.0f;
        }
        vkd_sgemm(0, 0, c->Cout, N, K, 1.0f, j->w, K, direct ? xb : col, N, beta, yb, N);
    }
}

static void images(const conv_job_t *j, float *s, int b0, int b1) {
    if (j->shifted) images_shifted(j, s, b0, b1);
    else images_im2col(j, s, b0, b1);
}

vkd_status_t conv2d_forward_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                                vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    (void)be;
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int N = Ho * Wo, K = c->Cin * c->KH * c->KW, taps = c->KH * c->KW;
    conv_job_t j = {.c = c, .x = inp.host, .w = weight.host, .y = out.host,
                    .bs = vkd_buf_present(bias) ? bias.host : NULL, .shifted = use_shifted(c),
                    .n_scratch = scratch_floats(c)};
    const double flops = 2.0 * c->B * c->Cout * (double)N * K;
    int nt = omp_get_max_threads();
    if (nt > c->B) nt = c->B;
    if (flops < CONV_FWD_PAR_MIN_FLOPS ||
        (size_t)nt * j.n_scratch * sizeof(float) > CONV_FWD_MAX_SCRATCH)
        nt = 1;
    const size_t n_wt = j.shifted ? (size_t)c->Cout * K : 0;
    float *s = j.n_scratch || n_wt ? calloc((size_t)nt * j.n_scratch + n_wt, sizeof(float))
                                   : NULL; // (nt, scratch) then (KH*KW, Cout, Cin)
    if ((j.n_scratch || n_wt) && !s)
        return vkd_fail(VKD_ERR_NOMEM, "conv2d: out of host memory for %d x %zu floats of "
                        "convolution scratch (%.1f MiB)", nt, j.n_scratch,
                        ((double)nt * j.n_scratch + n_wt) * 4 / (1 << 20));
    if (j.shifted) { // weight (Cout, Cin, KH, KW) -> (KH*KW, Cout, Cin): one GEMM operand per tap
        float *wt = s + (size_t)nt * j.n_scratch;
        for (int co = 0; co < c->Cout; co++)
            for (int ci = 0; ci < c->Cin; ci++)
                for (int t = 0; t < taps; t++)
                    wt[((size_t)t * c->Cout + co) * c->Cin + ci] =
                        j.w[((size_t)co * c->Cin + ci) * taps + t];
        j.w = wt;
    }
    if (nt == 1) {
        images(&j, s, 0, c->B);
    } else {
        const int blas_threads = vkd_conv2d_blas_single_begin();
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int b0 = (int)((long)c->B * t / nt), b1 = (int)((long)c->B * (t + 1) / nt);
            images(&j, s ? s + (size_t)t * j.n_scratch : NULL, b0, b1);
        }
        vkd_conv2d_blas_single_end(blas_threads);
    }
    free(s);
    return VKD_OK;
}
