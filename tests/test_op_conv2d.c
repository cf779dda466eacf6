// conv2d forward: CPU against a naive double direct convolution, and CPU against Vulkan
// (both shaders: conv2d.comp for GPUs and conv2d_direct.comp for CPU devices).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct {
    float *x, *w, *bias; // x (B, Cin, H, W), w (Cout, Cin, KH, KW), bias (Cout)
    size_t nx, nw, ny;   // ny: output elements (B, Cout, Ho, Wo)
} conv_data_t;

static float *alloc_floats(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return x;
}

static void make_data(tctx_t *T, const vkd_conv2d_t *c, conv_data_t *d) {
    d->nx = (size_t)c->B * c->Cin * c->H * c->W;
    d->nw = (size_t)c->Cout * c->Cin * c->KH * c->KW;
    d->ny = (size_t)c->B * c->Cout * vkd_conv2d_out_h(c) * vkd_conv2d_out_w(c);
    d->x = alloc_floats(d->nx), d->w = alloc_floats(d->nw), d->bias = alloc_floats(c->Cout);
    test_fill_uniform(&T->seed, d->x, d->nx, -1, 1);
    test_fill_uniform(&T->seed, d->w, d->nw, -1, 1);
    test_fill_uniform(&T->seed, d->bias, (size_t)c->Cout, -1, 1);
}

static void free_data(conv_data_t *d) { free(d->x), free(d->w), free(d->bias); }

// The definition, in double: out[b][co][oh][ow] = bias[co] + sum over (ci, kh, kw) of
// w[co][ci][kh][kw] * x[b][ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 outside).
static void ref_conv(const vkd_conv2d_t *c, const conv_data_t *d, int with_bias, float *out) {
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const size_t wsz = (size_t)c->KH * c->KW, xsz = (size_t)c->H * c->W;
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = with_bias ? d->bias[co] : 0.0;
                    for (int ci = 0; ci < c->Cin; ci++) {
                        const float *wk = d->w + ((size_t)co * c->Cin + ci) * wsz; // (KH, KW)
                        const float *xc = d->x + ((size_t)b * c->Cin + ci) * xsz;  // (H, W)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                const int ih = oh * c->stride - c->pad_t + kh;
                                const int iw = ow * c->stride - c->pad_l + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                s += (double)wk[kh * c->KW + kw] * xc[(size_t)ih * c->W + iw];
                            }
                    }
                    out[(((size_t)b * c->Cout + co) * Ho + oh) * Wo + ow] = (float)s;
                }
}

// Runs op_conv2d_forward on the backend of `ar`; returns the output (malloc'd) or NULL.
static float *run_conv(tctx_t *T, vkd_arena_t *ar, const vkd_conv2d_t *c, const conv_data_t *d,
                       int with_bias) {
    vkd_buf_t x = test_buf(T, ar, d->x, d->nx), w = test_buf(T, ar, d->w, d->nw);
    vkd_buf_t bias = with_bias ? test_buf(T, ar, d->bias, (size_t)c->Cout) : VKD_BUF_NONE;
    // Output starts as NaN: every element must be written.
    float *nan = alloc_floats(d->ny);
    for (size_t i = 0; i < d->ny; i++) nan[i] = NAN;
    vkd_buf_t y = test_buf(T, ar, nan, d->ny);
    free(nan);
    if (!vkd_buf_present(y)) return NULL;
    if (op_conv2d_forward(vkd_arena_backend(ar), y, x, w, bias, c) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "op_conv2d_forward: %s", vkd_last_error());
        return NULL;
    }
    return test_read(T, y, d->ny);
}

static void describe(char *buf, size_t cap, const char *what, const vkd_conv2d_t *c, int bias) {
    snprintf(buf, cap, "%s B%d %dx%dx%d -> %d k%dx%d s%d p(%d,%d,%d,%d)%s", what, c->B, c->Cin,
             c->H, c->W, c->Cout, c->KH, c->KW, c->stride, c->pad_t, c->pad_b, c->pad_l,
             c->pad_r, bias ? " +bias" : "");
}

// The shapes every case below runs: each kernel/stride/padding path and awkward sizes.
static const vkd_conv2d_t shapes[] = {
    // B Cin  H   W  Cout KH KW s  t  b  l  r
    {2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1},   // 3x3 pad 1, odd H/W, batch 2
    {2, 4, 9, 8, 6, 3, 3, 2, 1, 1, 1, 1},    // 3x3 stride 2 pad 1
    {1, 5, 8, 10, 7, 3, 3, 2, 0, 1, 0, 1},   // asymmetric pad (0,1,0,1) stride 2 (downsample)
    {2, 6, 7, 5, 3, 1, 1, 1, 0, 0, 0, 0},    // 1x1: the direct-GEMM path on the CPU
    {1, 4, 7, 9, 5, 1, 1, 2, 0, 0, 0, 0},    // 1x1 stride 2: im2col with a 1x1 kernel
    {1, 2, 6, 7, 3, 2, 3, 1, 0, 1, 2, 0},    // rectangular kernel, uneven pads
    {1, 3, 5, 6, 2, 5, 5, 1, 2, 2, 2, 2},    // 5x5 pad 2 (taps mostly in the padding)
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    // everything 1
    {1, 2, 3, 3, 2, 3, 3, 3, 0, 0, 0, 0},    // stride = kernel, one output pixel
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void cpu_conv2d_shapes(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            conv_data_t d;
            make_data(T, &shapes[s], &d);
            float *ref = alloc_floats(d.ny);
            ref_conv(&shapes[s], &d, with_bias, ref);
            float *got = run_conv(T, T->cpu_arena, &shapes[s], &d, with_bias);
            char name[160];
            describe(name, sizeof name, "cpu", &shapes[s], with_bias);
            if (got) test_compare(T, name, got, ref, d.ny, 1e-5);
            free(got), free(ref), free_data(&d);
            vkd_arena_reset(T->cpu_arena);
        }
}

// A UNet-sized layer: many workgroups, Cout and pixel counts not multiples of 64.
static const vkd_conv2d_t big = {2, 32, 24, 20, 70, 3, 3, 1, 1, 1, 1, 1};

static void cpu_conv2d_big(tctx_t *T) {
    conv_data_t d;
    make_data(T, &big, &d);
    float *ref = alloc_floats(d.ny);
    ref_conv(&big, &d, 1, ref);
    float *got = run_conv(T, T->cpu_arena, &big, &d, 1);
    char name[160];
    describe(name, sizeof name, "cpu", &big, 1);
    if (got) test_compare(T, name, got, ref, d.ny, 1e-5);
    free(got), free(ref), free_data(&d);
}

static void cpu_conv2d_rejects_bad_arguments(tctx_t *T) {
    vkd_arena_t *ar = T->cpu_arena;
    vkd_backend_t *be = T->cpu;
    const vkd_conv2d_t ok = {1, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1}; // out (1, 3, 4, 4)
    vkd_buf_t x = test_buf(T, ar, NULL, 32), w = test_buf(T, ar, NULL, 54);
    vkd_buf_t y = test_buf(T, ar, NULL, 48), bias = test_buf(T, ar, NULL, 3);
    CHECK_OK(T, op_conv2d_forward(be, y, x, w, bias, &ok));
    vkd_conv2d_t bad = ok;
    bad.stride = 0;
    test_expect_invalid(T, op_conv2d_forward(be, y, x, w, bias, &bad), "stride 0");
    bad = ok, bad.pad_l = -1;
    test_expect_invalid(T, op_conv2d_forward(be, y, x, w, bias, &bad), "negative pad");
    bad = ok, bad.pad_t = bad.pad_b = 0, bad.KH = 5;
    test_expect_invalid(T, op_conv2d_forward(be, y, x, w, bias, &bad), "kernel larger than input");
    bad = ok, bad.Cout = 4; // out (64) fits in y64, weight (72) does not fit in w
    vkd_buf_t y64 = test_buf(T, ar, NULL, 64), b4 = test_buf(T, ar, NULL, 4);
    test_expect_invalid(T, op_conv2d_forward(be, y64, x, w, b4, &bad), "weight too small");
    vkd_buf_t small = test_buf(T, ar, NULL, 47);
    test_expect_invalid(T, op_conv2d_forward(be, small, x, w, bias, &ok), "out too small");
    vkd_buf_t whole = test_buf(T, ar, NULL, 64), out_view, inp_view; // two views of one buffer
    CHECK_OK(T, vkd_buf_slice(whole, 0, 48 * sizeof(float), &out_view));
    CHECK_OK(T, vkd_buf_slice(whole, 0, 32 * sizeof(float), &inp_view));
    test_expect_invalid(T, op_conv2d_forward(be, out_view, inp_view, w, bias, &ok),
                        "out aliases inp");
    test_expect_invalid(T, op_conv2d_forward(be, y, x, w, bias, NULL), "no descriptor");
}

// Same inputs on both backends; the Vulkan side runs both shaders.
static void check_vk(tctx_t *T, const vkd_conv2d_t *c, int with_bias) {
    conv_data_t d;
    make_data(T, c, &d);
    float *ref = run_conv(T, T->cpu_arena, c, &d, with_bias);
    for (int shared = 0; shared < 2 && ref; shared++) {
        setenv("VKDREAM_GEMM_SHARED", shared ? "1" : "0", 1);
        float *got = run_conv(T, T->vk_arena, c, &d, with_bias);
        char name[160];
        describe(name, sizeof name, shared ? "vk-shared" : "vk-direct", c, with_bias);
        if (got) test_compare(T, name, got, ref, d.ny, 1e-4);
        free(got);
        vkd_arena_reset(T->vk_arena);
    }
    unsetenv("VKDREAM_GEMM_SHARED");
    free(ref), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static void vk_conv2d_shapes(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_vk(T, &shapes[s], (int)(s & 1));
    check_vk(T, &big, 1);
    // K = Cin*KH*KW = 27 and 9: the unrolled-by-4 loop and its tail both run.
    const vkd_conv2d_t odd_k = {3, 3, 33, 31, 65, 3, 3, 1, 1, 1, 1, 1};
    check_vk(T, &odd_k, 0);
}

// Long reductions K = Cin*KH*KW, past llvmpipe's 65535 loop iterations per invocation
// (src/vk.h) unless the Vulkan body splits K into slices adding into out: a 3x3 over 2560
// channels (a UNet up-block's concatenated input; K = 23040, ~80k iterations in
// conv2d.comp) and over 29200 channels (K = 262800, 65.7k also in conv2d_direct.comp).
static void vk_conv2d_long_k(tctx_t *T) {
    const vkd_conv2d_t unet = {2, 2560, 8, 8, 70, 3, 3, 1, 1, 1, 1, 1};
    check_vk(T, &unet, 1);
    const vkd_conv2d_t wide = {1, 29200, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1};
    check_vk(T, &wide, 1);
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_conv2d_shapes),
    TCASE_CPU(cpu_conv2d_big),
    TCASE_CPU(cpu_conv2d_rejects_bad_arguments),
    TCASE_VK(vk_conv2d_shapes),
    TCASE_VK(vk_conv2d_long_k),
};

TEST_MAIN(cases)
