// conv2d backward: CPU against a naive double reference of all three gradients (with
// accumulation onto non-zero gradients and every NONE combination), finite differences
// of the CPU forward, argument checks, a timing of a UNet-sized layer, and CPU against
// Vulkan (every shape, every NONE combination, sums long enough to need several
// dispatches on lavapipe).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct {
    float *x, *w, *bias, *dy;    // x (B, Cin, H, W), w (Cout, Cin, KH, KW), bias (Cout),
                                 // dy (B, Cout, Ho, Wo)
    float *gx0, *gw0, *gb0;      // starting gradients (the op accumulates onto them)
    size_t nx, nw, ny;
} bwd_data_t;

static void make_data(tctx_t *T, const vkd_conv2d_t *c, bwd_data_t *d) {
    d->nx = (size_t)c->B * c->Cin * c->H * c->W;
    d->nw = (size_t)c->Cout * c->Cin * c->KH * c->KW;
    d->ny = (size_t)c->B * c->Cout * vkd_conv2d_out_h(c) * vkd_conv2d_out_w(c);
    d->x = test_alloc(d->nx), d->w = test_alloc(d->nw), d->bias = test_alloc((size_t)c->Cout);
    d->dy = test_alloc(d->ny);
    d->gx0 = test_alloc(d->nx), d->gw0 = test_alloc(d->nw), d->gb0 = test_alloc((size_t)c->Cout);
    test_fill_uniform(&T->seed, d->x, d->nx, -1, 1);
    test_fill_uniform(&T->seed, d->w, d->nw, -1, 1);
    test_fill_uniform(&T->seed, d->bias, (size_t)c->Cout, -1, 1);
    test_fill_uniform(&T->seed, d->dy, d->ny, -1, 1);
    test_fill_uniform(&T->seed, d->gx0, d->nx, -1, 1);
    test_fill_uniform(&T->seed, d->gw0, d->nw, -1, 1);
    test_fill_uniform(&T->seed, d->gb0, (size_t)c->Cout, -1, 1);
}

static void free_data(bwd_data_t *d) {
    free(d->x), free(d->w), free(d->bias), free(d->dy), free(d->gx0), free(d->gw0), free(d->gb0);
}

// The definition, in double: for every output pixel and tap (inside the image),
// gx[x pixel] += dy * w, gw[tap] += dy * x, gb[co] += dy; results are g0 + those sums.
static void ref_bwd(const vkd_conv2d_t *c, const bwd_data_t *d, float *gx, float *gw, float *gb) {
    const int Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    double *ax = calloc(d->nx, sizeof(double)), *aw = calloc(d->nw, sizeof(double));
    double *ab = calloc((size_t)c->Cout, sizeof(double));
    if (!ax || !aw || !ab) abort();
    const size_t wsz = (size_t)c->KH * c->KW, xsz = (size_t)c->H * c->W;
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    const double g = d->dy[(((size_t)b * c->Cout + co) * Ho + oh) * Wo + ow];
                    ab[co] += g;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int kh = 0; kh < c->KH; kh++)
                            for (int kw = 0; kw < c->KW; kw++) {
                                const int ih = oh * c->stride - c->pad_t + kh;
                                const int iw = ow * c->stride - c->pad_l + kw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                const size_t xi = ((size_t)b * c->Cin + ci) * xsz + (size_t)ih * c->W + iw;
                                const size_t wi = ((size_t)co * c->Cin + ci) * wsz + (size_t)kh * c->KW + kw;
                                ax[xi] += g * d->w[wi];
                                aw[wi] += g * d->x[xi];
                            }
                }
    for (size_t i = 0; i < d->nx; i++) gx[i] = (float)(d->gx0[i] + ax[i]);
    for (size_t i = 0; i < d->nw; i++) gw[i] = (float)(d->gw0[i] + aw[i]);
    for (int i = 0; i < c->Cout; i++) gb[i] = (float)(d->gb0[i] + ab[i]);
    free(ax), free(aw), free(ab);
}

typedef struct {
    float *gx, *gw, *gb; // NULL where that gradient was NONE
} grads_t;

static void free_grads(grads_t *g) { free(g->gx), free(g->gw), free(g->gb); }

// Runs op_conv2d_backward on the backend of `ar` from the starting gradients; `mask` bit 0
// passes dinp, bit 1 dweight, bit 2 dbias (the others are NONE). Returns 0 on failure.
static int run_bwd(tctx_t *T, vkd_arena_t *ar, const vkd_conv2d_t *c, const bwd_data_t *d,
                   int mask, grads_t *out) {
    memset(out, 0, sizeof *out);
    vkd_buf_t x = test_buf(T, ar, d->x, d->nx), w = test_buf(T, ar, d->w, d->nw);
    vkd_buf_t dy = test_buf(T, ar, d->dy, d->ny);
    vkd_buf_t gx = mask & 1 ? test_buf(T, ar, d->gx0, d->nx) : VKD_BUF_NONE;
    vkd_buf_t gw = mask & 2 ? test_buf(T, ar, d->gw0, d->nw) : VKD_BUF_NONE;
    vkd_buf_t gb = mask & 4 ? test_buf(T, ar, d->gb0, (size_t)c->Cout) : VKD_BUF_NONE;
    if (!vkd_buf_present(dy)) return 0;
    vkd_status_t st = op_conv2d_backward(vkd_arena_backend(ar), gx, gw, gb, dy, x, w, c);
    if (st != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "op_conv2d_backward: %s", vkd_last_error());
        return 0;
    }
    if (mask & 1) out->gx = test_read(T, gx, d->nx);
    if (mask & 2) out->gw = test_read(T, gw, d->nw);
    if (mask & 4) out->gb = test_read(T, gb, (size_t)c->Cout);
    return 1;
}

static void describe(char *buf, size_t cap, const char *what, const vkd_conv2d_t *c) {
    snprintf(buf, cap, "%s B%d %dx%dx%d -> %d k%dx%d s%d p(%d,%d,%d,%d)", what, c->B, c->Cin,
             c->H, c->W, c->Cout, c->KH, c->KW, c->stride, c->pad_t, c->pad_b, c->pad_l, c->pad_r);
}

static const vkd_conv2d_t shapes[] = {
    // B Cin  H   W  Cout KH KW s  t  b  l  r
    {2, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1},   // 3x3 pad 1, odd H/W, batch 2
    {2, 4, 9, 8, 6, 3, 3, 2, 1, 1, 1, 1},    // 3x3 stride 2 pad 1
    {1, 5, 8, 10, 7, 3, 3, 2, 0, 1, 0, 1},   // asymmetric pad (0,1,0,1) stride 2 (downsample)
    {2, 6, 7, 5, 3, 1, 1, 1, 0, 0, 0, 0},    // 1x1: the pointwise (no im2col) path
    {1, 4, 7, 9, 5, 1, 1, 2, 0, 0, 0, 0},    // 1x1 stride 2: im2col with a 1x1 kernel
    {1, 2, 6, 7, 3, 2, 3, 1, 0, 1, 2, 0},    // rectangular kernel, uneven pads
    {1, 3, 5, 6, 2, 5, 5, 1, 2, 2, 2, 2},    // 5x5 pad 2 (taps mostly in the padding)
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    // everything 1
    {1, 2, 3, 3, 2, 3, 3, 3, 0, 0, 0, 0},    // stride = kernel, one output pixel
    {1, 2, 7, 7, 3, 3, 3, 3, 2, 1, 2, 1},    // stride 3 with padding: pixels no tap reads
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

// A UNet-sized layer: enough work for the parallel loops and multi-threaded GEMMs.
static const vkd_conv2d_t big = {2, 32, 24, 20, 70, 3, 3, 1, 1, 1, 1, 1};

static void check_ref(tctx_t *T, const vkd_conv2d_t *c, int mask) {
    bwd_data_t d;
    make_data(T, c, &d);
    float *rx = test_alloc(d.nx), *rw = test_alloc(d.nw), *rb = test_alloc((size_t)c->Cout);
    ref_bwd(c, &d, rx, rw, rb);
    grads_t g;
    if (run_bwd(T, T->cpu_arena, c, &d, mask, &g)) {
        char name[192], what[32];
        snprintf(what, sizeof what, "cpu mask %d dinp", mask);
        describe(name, sizeof name, what, c);
        if (g.gx) test_compare(T, name, g.gx, rx, d.nx, 1e-5);
        snprintf(what, sizeof what, "cpu mask %d dweight", mask);
        describe(name, sizeof name, what, c);
        if (g.gw) test_compare(T, name, g.gw, rw, d.nw, 1e-5);
        snprintf(what, sizeof what, "cpu mask %d dbias", mask);
        describe(name, sizeof name, what, c);
        if (g.gb) test_compare(T, name, g.gb, rb, (size_t)c->Cout, 1e-5);
    }
    free_grads(&g), free(rx), free(rw), free(rb), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static void cpu_conv2d_bwd_reference(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_ref(T, &shapes[s], 7);
    check_ref(T, &big, 7);
}

// Each gradient alone and in pairs: a NONE gradient must not disturb the others.
static void cpu_conv2d_bwd_none(tctx_t *T) {
    for (int mask = 0; mask < 7; mask++) {
        check_ref(T, &shapes[0], mask);
        check_ref(T, &shapes[3], mask);
    }
    check_ref(T, &big, 1); // the image-parallel path without dweight partials
    check_ref(T, &big, 2);
}

// ---- finite differences of the forward ------------------------------------------------
typedef struct {
    vkd_backend_t *be;
    const vkd_conv2d_t *c;
    vkd_buf_t y, x, w, bias;
    const float *R; // dL/dy: the loss is sum(y * R)
    size_t ny;
} fd_ctx_t;

static double conv_loss(void *p) {
    fd_ctx_t *f = p;
    if (op_conv2d_forward(f->be, f->y, f->x, f->w, f->bias, f->c) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < f->ny; i++) l += (double)f->y.host[i] * f->R[i];
    return l;
}

static void check_fd(tctx_t *T, const vkd_conv2d_t *c) {
    bwd_data_t d;
    make_data(T, c, &d);
    vkd_arena_t *ar = T->cpu_arena;
    fd_ctx_t f = {.be = T->cpu, .c = c, .R = d.dy, .ny = d.ny};
    f.x = test_buf(T, ar, d.x, d.nx), f.w = test_buf(T, ar, d.w, d.nw);
    f.bias = test_buf(T, ar, d.bias, (size_t)c->Cout), f.y = test_buf(T, ar, NULL, d.ny);
    vkd_buf_t dy = test_buf(T, ar, d.dy, d.ny);
    vkd_buf_t gx = test_buf(T, ar, NULL, d.nx), gw = test_buf(T, ar, NULL, d.nw);
    vkd_buf_t gb = test_buf(T, ar, NULL, (size_t)c->Cout);
    if (!vkd_buf_present(gb)) goto done;
    CHECK(T, !isnan(conv_loss(&f)), "forward: %s", vkd_last_error());
    memset(gx.host, 0, d.nx * sizeof(float)); // the op accumulates
    memset(gw.host, 0, d.nw * sizeof(float));
    memset(gb.host, 0, (size_t)c->Cout * sizeof(float));
    vkd_status_t st = op_conv2d_backward(T->cpu, gx, gw, gb, dy, f.x, f.w, c);
    CHECK(T, st == VKD_OK, "op_conv2d_backward: %s", vkd_last_error());
    if (st != VKD_OK) goto done;
    // The loss is linear in each parameter, so central differences have no truncation
    // error; eps 1e-2 keeps the float rounding of the forward (~1e-6 of the loss)
    // divided by 2 eps well under the tolerance.
    char name[192];
    describe(name, sizeof name, "d/dinp", c);
    test_fd_check(T, name, conv_loss, &f, f.x.host, gx.host, d.nx, 48, 1e-2f, 2e-2);
    describe(name, sizeof name, "d/dweight", c);
    test_fd_check(T, name, conv_loss, &f, f.w.host, gw.host, d.nw, 48, 1e-2f, 2e-2);
    describe(name, sizeof name, "d/dbias", c);
    test_fd_check(T, name, conv_loss, &f, f.bias.host, gb.host, (size_t)c->Cout, 48, 1e-2f, 2e-2);
done:
    free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static void cpu_conv2d_bwd_fd(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_fd(T, &shapes[s]);
}

// ---- argument checks ------------------------------------------------------------------
static void cpu_conv2d_bwd_rejects_bad_arguments(tctx_t *T) {
    vkd_arena_t *ar = T->cpu_arena;
    vkd_backend_t *be = T->cpu;
    const vkd_conv2d_t ok = {1, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1}; // dout (1, 3, 4, 4)
    vkd_buf_t x = test_buf(T, ar, NULL, 32), w = test_buf(T, ar, NULL, 54);
    vkd_buf_t dy = test_buf(T, ar, NULL, 48), gx = test_buf(T, ar, NULL, 32);
    vkd_buf_t gw = test_buf(T, ar, NULL, 54), gb = test_buf(T, ar, NULL, 3);
    CHECK_OK(T, op_conv2d_backward(be, gx, gw, gb, dy, x, w, &ok));
    vkd_conv2d_t bad = ok;
    bad.stride = 0;
    test_expect_invalid(T, op_conv2d_backward(be, gx, gw, gb, dy, x, w, &bad), "stride 0");
    bad = ok, bad.pad_t = bad.pad_b = 0, bad.KH = 5;
    test_expect_invalid(T, op_conv2d_backward(be, gx, gw, gb, dy, x, w, &bad),
                        "kernel larger than input");
    vkd_buf_t small = test_buf(T, ar, NULL, 47);
    test_expect_invalid(T, op_conv2d_backward(be, gx, gw, gb, small, x, w, &ok), "dout too small");
    test_expect_invalid(T, op_conv2d_backward(be, gx, small, gb, dy, x, w, &ok),
                        "dweight too small");
    test_expect_invalid(T, op_conv2d_backward(be, gx, gw, gb, dy, VKD_BUF_NONE, w, &ok), "no inp");
    test_expect_invalid(T, op_conv2d_backward(be, x, gw, gb, dy, x, w, &ok), "dinp aliases inp");
    test_expect_invalid(T, op_conv2d_backward(be, gx, gw, gb, dy, x, w, NULL), "no descriptor");
    vkd_buf_t whole = test_buf(T, ar, NULL, 64), a, b; // two overlapping views
    CHECK_OK(T, vkd_buf_slice(whole, 0, 54 * sizeof(float), &a));
    CHECK_OK(T, vkd_buf_slice(whole, 0, 3 * sizeof(float), &b));
    test_expect_invalid(T, op_conv2d_backward(be, gx, a, b, dy, x, w, &ok), "dbias inside dweight");
}

// ---- timing: the trainer's hot spot ---------------------------------------------------
// (32, 64, 32, 32) 3x3 pad 1 -> 64 channels: dinp + dweight are 2 x 2*B*Cout*Ho*Wo*Cin*9
// = 4.8 GFLOP. Checked for finiteness and against the FD-tested path's values only
// through a cheap invariant (dbias = sums of dout); speed is what this case reports.
static void cpu_conv2d_bwd_timing(tctx_t *T) {
    const vkd_conv2d_t c = {32, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1};
    bwd_data_t d;
    make_data(T, &c, &d);
    vkd_arena_t *ar = T->cpu_arena;
    vkd_buf_t x = test_buf(T, ar, d.x, d.nx), w = test_buf(T, ar, d.w, d.nw);
    vkd_buf_t dy = test_buf(T, ar, d.dy, d.ny);
    vkd_buf_t gx = test_buf(T, ar, NULL, d.nx), gw = test_buf(T, ar, NULL, d.nw);
    vkd_buf_t gb = test_buf(T, ar, NULL, (size_t)c.Cout);
    if (!vkd_buf_present(gb)) goto done;
    const double flop = 2.0 * 2.0 * c.B * c.Cout * 32.0 * 32.0 * c.Cin * 9;
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = test_now_ms();
        vkd_status_t st = op_conv2d_backward(T->cpu, gx, gw, gb, dy, x, w, &c);
        double t = test_now_ms() - t0;
        CHECK(T, st == VKD_OK, "op_conv2d_backward: %s", vkd_last_error());
        if (t < best) best = t;
    }
    printf("  conv2d backward (32, 64, 32, 32) 3x3 -> 64, dinp+dweight+dbias: best of 3 "
           "%.1f ms = %.1f GFLOP/s\n", best, flop / (best * 1e6));
    // dbias after three calls from zero = 3 x the channel sums of dout.
    float *ref = test_alloc((size_t)c.Cout);
    for (int co = 0; co < c.Cout; co++) {
        double s = 0;
        for (int b = 0; b < c.B; b++)
            for (int n = 0; n < 1024; n++) s += d.dy[((size_t)b * c.Cout + co) * 1024 + n];
        ref[co] = (float)(3 * s);
    }
    test_compare(T, "dbias after 3 calls", gb.host, ref, (size_t)c.Cout, 1e-5);
    free(ref);
done:
    free_data(&d);
}

// ---- Vulkan ---------------------------------------------------------------------------
// Same inputs and starting gradients on both backends; `mask` as in run_bwd.
static void check_vk(tctx_t *T, const vkd_conv2d_t *c, int mask) {
    bwd_data_t d;
    make_data(T, c, &d);
    grads_t ref, got;
    if (run_bwd(T, T->cpu_arena, c, &d, mask, &ref) && run_bwd(T, T->vk_arena, c, &d, mask, &got)) {
        char name[192], what[32];
        snprintf(what, sizeof what, "vk mask %d dinp", mask);
        describe(name, sizeof name, what, c);
        if (ref.gx && got.gx) test_compare(T, name, got.gx, ref.gx, d.nx, 1e-4);
        snprintf(what, sizeof what, "vk mask %d dweight", mask);
        describe(name, sizeof name, what, c);
        if (ref.gw && got.gw) test_compare(T, name, got.gw, ref.gw, d.nw, 1e-4);
        snprintf(what, sizeof what, "vk mask %d dbias", mask);
        describe(name, sizeof name, what, c);
        if (ref.gb && got.gb) test_compare(T, name, got.gb, ref.gb, (size_t)c->Cout, 1e-4);
        free_grads(&got);
    }
    free_grads(&ref), free_data(&d);
    vkd_arena_reset(T->vk_arena);
    vkd_arena_reset(T->cpu_arena);
}

static void vk_conv2d_bwd(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_vk(T, &shapes[s], 7);
    check_vk(T, &big, 7);
    for (int mask = 1; mask < 7; mask++) check_vk(T, &shapes[1], mask);
}

// Sums past llvmpipe's 65535 loop iterations per invocation (src/vk.h), which the Vulkan
// body must split into several dispatches: dinp over 8000 channels x 9 taps, and dweight
// over 2100 x 2100 = 4.4M positions (69k per invocation even if the compiler unrolls the
// tap loop).
static void vk_conv2d_bwd_long(tctx_t *T) {
    const vkd_conv2d_t wide = {1, 2, 4, 4, 8000, 3, 3, 1, 1, 1, 1, 1};
    check_vk(T, &wide, 1);
    const vkd_conv2d_t large = {1, 1, 2100, 2100, 1, 3, 3, 1, 1, 1, 1, 1};
    check_vk(T, &large, 6);
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_conv2d_bwd_reference),
    TCASE_CPU(cpu_conv2d_bwd_none),
    TCASE_CPU(cpu_conv2d_bwd_fd),
    TCASE_CPU(cpu_conv2d_bwd_rejects_bad_arguments),
    TCASE_CPU(cpu_conv2d_bwd_timing),
    TCASE_VK(vk_conv2d_bwd),
    TCASE_VK(vk_conv2d_bwd_long),
};
TEST_MAIN(cases)
