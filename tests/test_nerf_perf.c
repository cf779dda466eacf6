// NeRF performance figures: field samples/s (forward + backward), one training step's time
// (render forward + backward + Adam) at 32x32 and 64x64 with the default sample count,
// albedo and lit shading (the cost of the finite-difference normals), with and without the
// occupancy grid, and FLOPs per step. By default a quick run checks what does not depend
// on the machine's load (the grid removes most samples of a compact object; FLOP counts);
// VKDREAM_NERF_PERF=1 measures everything (nerf/README.md records the figures).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nerf/nerf_ops.h"
#include "nerf/render.h"
#include "test_util.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int full(void) {
    const char *e = getenv("VKDREAM_NERF_PERF");
    return e && e[0] == '1';
}

// GEMM FLOPs of the field per point: forward 2 (F W + D W^2 + 4 W); backward twice that
// (weight and input gradients) less the input layer's input gradient (none is needed).
static double field_flops(const vkd_nerf_config_t *c, int backward) {
    const double W = c->width, F = vkd_nerf_ipe_dim(c->n_freq), D = c->depth;
    const double fwd = 2 * (F * W + D * W * W + 4 * W);
    return backward ? 2 * fwd - 2 * F * W : fwd;
}

static void t_field_throughput(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar, int P) {
    const vkd_nerf_config_t cfg = vkd_nerf_config_default();
    vkd_field_t *f;
    CHECK_OK(T, vkd_field_create(be, &cfg, &f));
    vkd_field_ws_t ws;
    vkd_status_t s = vkd_field_ws_alloc(f, ar, P, &ws);
    float *x = malloc(sizeof(float) * P * 3);
    uint64_t st = T->seed;
    test_fill_uniform(&st, x, (size_t)P * 3, -1, 1);
    vkd_buf_t bx = test_buf(T, ar, x, P * 3), sg = test_buf(T, ar, NULL, P);
    vkd_buf_t rho = test_buf(T, ar, NULL, P * 3), ones = test_buf(T, ar, NULL, P * 3);
    if (s == VKD_OK) s = op_fill(be, ones, 1.0f, (size_t)P * 3);
    const int iters = full() ? 5 : 1;
    double t0 = 0;
    for (int i = 0; i <= iters && s == VKD_OK; i++) {
        if (i == 1) s = vkd_backend_sync(be), t0 = now_s(); // the first is a warm-up
        if (s == VKD_OK) s = vkd_field_forward(f, &ws, sg, rho, bx, VKD_BUF_NONE, P, 2e-3f);
        if (s == VKD_OK) s = vkd_field_backward(f, &ws, ones, ones, bx, P);
    }
    if (s == VKD_OK) s = vkd_backend_sync(be);
    const double dt = (now_s() - t0) / iters;
    if (s != VKD_OK) test_fail(T, __FILE__, __LINE__, "field: %s", vkd_last_error());
    const double fl = field_flops(&cfg, 0) + field_flops(&cfg, 1);
    printf("  field %dx%d (%s): %d points fwd+bwd in %.1f ms: %.2f M points/s, %.1f GFLOP/s "
           "(GEMM FLOPs %.0f per point)\n", cfg.width, cfg.depth, vkd_backend_name(be), P, 1e3 * dt,
           P / dt * 1e-6, fl * P / dt * 1e-9, fl);
    free(x);
    vkd_field_destroy(f);
    vkd_arena_reset(ar);
}

static void t_field_cpu(tctx_t *T) { t_field_throughput(T, T->cpu, T->cpu_arena, full() ? 65536 : 8192); }
static void t_field_vk(tctx_t *T) { t_field_throughput(T, T->vk, T->vk_arena, full() ? 16384 : 2048); }

// One training step (grid refresh excluded) of a compact object: the initial blob, with a
// low density far from it as a trained field has (radius ~0.45 above the grid threshold),
// res x res rays, S = 48 samples.
static void step_time(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar, int res, int lit, int grid,
                      double *ms, int *samples, double *gflop) {
    vkd_nerf_config_t cfg = vkd_nerf_config_default();
    cfg.density_bias = -8.0f, cfg.blob_lambda = 12.0f; // a compact object, empty around it
    cfg.grid_res = grid ? 32 : 0;
    vkd_field_t *f;
    vkd_nerf_renderer_t *r = NULL;
    const int R = res * res;
    *ms = -1, *samples = 0, *gflop = 0;
    if (vkd_field_create(be, &cfg, &f) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "field: %s", vkd_last_error());
        return;
    }
    const vkd_nerf_renderer_opts_t ro = {.max_rays = R};
    vkd_status_t s = vkd_nerf_renderer_create(f, &ro, &r);
    vkd_camera_t cam;
    if (s == VKD_OK) s = vkd_camera_orbit(&cam, 30, 25, 2.0f, 50, res, res);
    float *rays = malloc(sizeof(float) * R * 8);
    vkd_nerf_camera_rays(&cam, rays);
    vkd_buf_t drgb = test_buf(T, ar, NULL, (size_t)R * 3);
    if (s == VKD_OK) s = op_fill(be, drgb, 1e-3f, (size_t)R * 3);
    if (s == VKD_OK && grid) s = vkd_nerf_grid_refresh(r, 0);
    vkd_nerf_view_t view = {.mode = lit ? VKD_SHADE_LIT : VKD_SHADE_ALBEDO, .jitter = 1};
    vkd_light_key(&cam, &view.light);
    const int iters = full() ? 4 : 1;
    double t0 = 0;
    for (int i = 0; i <= iters && s == VKD_OK; i++) {
        if (i == 1) s = vkd_backend_sync(be), t0 = now_s();
        view.step = (uint64_t)i;
        if (s == VKD_OK) s = vkd_nerf_render_forward(r, rays, R, &view);
        if (s == VKD_OK) s = vkd_field_zero_grad(f);
        if (s == VKD_OK) s = vkd_nerf_render_backward(r, drgb, VKD_BUF_NONE);
        if (s == VKD_OK) s = vkd_field_adam_step(f);
    }
    if (s == VKD_OK) s = vkd_backend_sync(be);
    if (s != VKD_OK) test_fail(T, __FILE__, __LINE__, "step: %s", vkd_last_error());
    else {
        *ms = 1e3 * (now_s() - t0) / iters;
        *samples = vkd_nerf_render_samples(r);
        // Centres: forward + backward; normals: 4 points forward, again in the backward
        // (recomputed), and their backward.
        const double fwd = field_flops(&cfg, 0), bwd = field_flops(&cfg, 1);
        *gflop = *samples * (fwd + bwd + (lit ? 4 * (2 * fwd + bwd) : 0)) * 1e-9;
    }
    free(rays);
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
    vkd_arena_reset(ar);
}

// Full: 32x32 and 64x64, each shading with and without the grid. Quick: 16x16, and lit
// only with the grid (a lit step without skipping takes ~10 s on lavapipe).
static void steps(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar) {
    int s_nogrid = 0, s_grid = 0;
    const int r0 = full() ? 32 : 16, r1 = full() ? 64 : 16;
    for (int res = r0; res <= r1; res *= 2)
        for (int lit = 0; lit < 2; lit++)
            for (int grid = 0; grid < 2; grid++) {
                if (!full() && lit && !grid) continue;
                double ms, gf;
                int n;
                step_time(T, be, ar, res, lit, grid, &ms, &n, &gf);
                printf("  step %dx%d %-6s %-7s (%s): %7.1f ms, %6d samples, %.2f GFLOP (%.1f "
                       "GFLOP/s)\n", res, res, lit ? "lit" : "albedo", grid ? "grid" : "no grid",
                       vkd_backend_name(be), ms, n, gf, ms > 0 ? gf / ms * 1e3 : 0.0);
                if (res == r0 && !lit) *(grid ? &s_grid : &s_nogrid) = n;
            }
    CHECK(T, s_grid > 0 && s_grid < s_nogrid / 4,
          "the occupancy grid keeps %d of %d samples of a compact object", s_grid, s_nogrid);
}

static void t_steps_cpu(tctx_t *T) { steps(T, T->cpu, T->cpu_arena); }
static void t_steps_vk(tctx_t *T) { steps(T, T->vk, T->vk_arena); }

static const tcase_t cases[] = {
    TCASE_CPU(t_field_cpu),
    TCASE_CPU(t_steps_cpu),
    TCASE_VK(t_field_vk),
    TCASE_VK(t_steps_vk),
};

TEST_MAIN(cases)
