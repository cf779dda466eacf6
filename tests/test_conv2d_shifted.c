// conv2d forward on the CPU, the shifted-GEMM path (src/ops/conv2d_cpu.c: stride 1, output
// at least 16 wide): against a naive double direct convolution, over padding layouts,
// kernel shapes, with and without bias, one and several images (serial and image-parallel).
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

static float *floats(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return x;
}

// out[b][co][oh][ow] = bias[co] + sum over (ci, kh, kw) of w * x (0 in the padding).
static void ref_conv(const vkd_conv2d_t *c, const float *x, const float *w, const float *bias,
                     float *out) {
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                const int ih = oh - c->pad_t + kh, iw = ow - c->pad_l + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                s += (double)w[((co * c->Cin + ci) * c->KH + kh) * c->KW + kw] *
                                     x[(((size_t)b * c->Cin + ci) * c->H + ih) * c->W + iw];
                            }
                    out[(((size_t)b * c->Cout + co) * Ho + oh) * Wo + ow] = (float)s;
                }
}

static const vkd_conv2d_t shapes[] = {
    // B Cin  H   W  Cout KH KW s  t  b  l  r
    {2, 8, 16, 16, 12, 3, 3, 1, 1, 1, 1, 1},  // the UNet's 3x3 pad 1, image-parallel
    {3, 5, 17, 18, 7, 3, 3, 1, 1, 1, 1, 1},   // three images over two threads, odd sizes
    {1, 4, 12, 20, 6, 3, 3, 1, 0, 2, 2, 0},   // asymmetric pads
    {2, 3, 10, 19, 5, 2, 5, 1, 1, 0, 2, 1},   // rectangular kernel
    {1, 6, 9, 22, 4, 3, 3, 1, 0, 0, 0, 0},    // no padding (junk columns = KW - 1)
    {2, 1, 16, 16, 1, 3, 3, 1, 1, 1, 1, 1},   // one channel in and out
    {2, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1}, // a 32x32 UNet level
};

static void cpu_conv2d_shifted(tctx_t *T) {
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const vkd_conv2d_t *c = &shapes[s];
            const size_t nx = (size_t)c->B * c->Cin * c->H * c->W;
            const size_t nw = (size_t)c->Cout * c->Cin * c->KH * c->KW;
            const size_t ny = (size_t)c->B * c->Cout * vkd_conv2d_out_h(c) * vkd_conv2d_out_w(c);
            float *x = floats(nx), *w = floats(nw), *bias = floats((size_t)c->Cout);
            float *ref = floats(ny), *nan = floats(ny);
            test_fill_uniform(&T->seed, x, nx, -1, 1);
            test_fill_uniform(&T->seed, w, nw, -1, 1);
            test_fill_uniform(&T->seed, bias, (size_t)c->Cout, -1, 1);
            ref_conv(c, x, w, with_bias ? bias : NULL, ref);
            for (size_t i = 0; i < ny; i++) nan[i] = NAN; // every output must be written
            vkd_buf_t bx = test_buf(T, T->cpu_arena, x, nx), bw = test_buf(T, T->cpu_arena, w, nw);
            vkd_buf_t bb = with_bias ? test_buf(T, T->cpu_arena, bias, (size_t)c->Cout)
                                     : VKD_BUF_NONE;
            vkd_buf_t by = test_buf(T, T->cpu_arena, nan, ny);
            char name[160];
            snprintf(name, sizeof name, "B%d %dx%dx%d -> %d k%dx%d p(%d,%d,%d,%d)%s", c->B, c->Cin,
                     c->H, c->W, c->Cout, c->KH, c->KW, c->pad_t, c->pad_b, c->pad_l, c->pad_r,
                     with_bias ? " +bias" : "");
            CHECK_OK(T, op_conv2d_forward(T->cpu, by, bx, bw, bb, c));
            float *got = test_read(T, by, ny);
            if (got) test_compare(T, name, got, ref, ny, 1e-5);
            free(got), free(x), free(w), free(bias), free(ref), free(nan);
            vkd_arena_reset(T->cpu_arena);
        }
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_conv2d_shifted),
};

TEST_MAIN(cases)
