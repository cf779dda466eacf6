// Multi-view fit: render a ShapeWorld object with the analytic renderer from 32 random
// cameras of the ShapeWorld distribution, fit the NeRF to the images with an L2
// photometric loss (random pixel batches in albedo shading, and from step 100 every 4th
// step a whole view lit by its key light, which trains the normals; occupancy grid on),
// then score it against the ground truth: occupancy IoU on a grid inside the bounding
// sphere and PSNR (albedo) on 8 held-out cameras. A red cube and an orange torus (which
// has a hole).
// Writes nerf_fit_<shape>.png (the fit's turntable above the ground truth's) into the
// working directory (the build directory under ctest).
//
// Sized for <= 3 minutes for both objects on 2 cores in an optimised build (about 35 s
// each measured on a loaded 2-core machine with OMP_WAIT_POLICY=passive; libgomp's default
// spin-waiting made the same run 3-5x slower there while other processes competed for
// the cores). Unoptimised
// builds (Debug, sanitizers) run a short version that checks only that the fit makes
// progress (loss falls, IoU rises above the untrained field's): the full fit would take
// far longer there and proves nothing more.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "nerf/checkpoint.h"
#include "nerf/render.h"
#include "philox.h"
#include "test_util.h"

#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
#define FULL_FIT 1
#else
#define FULL_FIT 0
#endif

#define RES 32          // training and evaluation image size
#define N_TRAIN 32      // training cameras
#define N_TEST 8        // held-out cameras
#define BATCH 1024      // rays per step (= RES * RES: a lit step renders one whole view)
#define LIT_FROM 100    // lit steps start here (the geometry has formed) ...
#define LIT_EVERY 4     // ... and are every 4th
#define IOU_RES 64      // occupancy grid cells per axis (occupancy_iou)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
    vkd_sw_object_t obj;
    const char *name;
    int steps;
} fit_case_t;

typedef struct {
    float *rays;        // (N, RES*RES, 8)
    float *rgb;         // (N, RES*RES, 3) albedo shading
    float *lit;         // (N, RES*RES, 3) lit by the camera's key light
    vkd_light_t *light; // (N)
} views_t;

static int make_views(tctx_t *T, vkd_sw_object_t obj, int n, uint64_t seed, views_t *v) {
    const size_t px = RES * RES;
    v->rays = malloc(sizeof(float) * n * px * 8);
    v->rgb = malloc(sizeof(float) * n * px * 3);
    v->lit = malloc(sizeof(float) * n * px * 3);
    v->light = malloc(sizeof(vkd_light_t) * n);
    if (!v->rays || !v->rgb || !v->lit || !v->light) abort();
    const vkd_camera_dist_t dist = vkd_camera_dist_shapeworld();
    for (int i = 0; i < n; i++) {
        vkd_camera_t cam;
        const vkd_render_out_t out = {v->rgb + i * px * 3, NULL, NULL, NULL};
        const vkd_render_out_t lit = {v->lit + i * px * 3, NULL, NULL, NULL};
        if (vkd_camera_sample(&dist, seed, 0, (uint32_t)i, RES, RES, &cam) != VKD_OK)
            return 0;
        vkd_light_key(&cam, &v->light[i]);
        if (vkd_sw_render(obj, &cam, VKD_SHADE_ALBEDO, NULL, 2, &out) != VKD_OK ||
            vkd_sw_render(obj, &cam, VKD_SHADE_LIT, &v->light[i], 2, &lit) != VKD_OK) {
            test_fail(T, __FILE__, __LINE__, "ground truth: %s", vkd_last_error());
            return 0;
        }
        vkd_nerf_camera_rays(&cam, v->rays + i * px * 8);
    }
    return 1;
}

// Occupancy IoU against the ground truth on a grid inside the bounding sphere. The NeRF's
// solid is the volume enclosed by the iso-surface density = iso (what a mesh export at
// that threshold holds): a cell counts as occupied when its density exceeds iso, or when
// each of the 26 directions from it (axes, face and cube diagonals) runs into such a cell
// before leaving the grid. Enclosure matters because the density inside a fitted solid is
// unconstrained by any image (fits keep a dense shell around a thinner interior); holes
// stay empty (points in the torus's hole see out along its axis). The trained density
// rises from < 0.2 to > 25 within one cell at the surface, so iso anywhere in [2, 10]
// gives nearly the same solid (both ends are printed). The grid spans
// [-G_EXT, G_EXT]^3 (every ShapeWorld object lies within radius 0.7).
#define G_EXT 0.9f
#define ISO 5.0f

static double occupancy_iou(tctx_t *T, vkd_field_t *f, vkd_sw_shape_t shape, int res, float iso) {
    const int n = res * res * res, chunk = 8192;
    const float cs = 2.0f * G_EXT / res;
    float *tau = malloc(sizeof(float) * n), *xs = malloc(sizeof(float) * chunk * 3);
    vkd_field_ws_t ws;
    vkd_arena_t *ar = T->cpu_arena;
    vkd_arena_reset(ar);
    int ok = vkd_field_ws_alloc(f, ar, chunk, &ws) == VKD_OK;
    vkd_buf_t x = test_buf(T, ar, NULL, chunk * 3), sg = test_buf(T, ar, NULL, chunk);
    for (int c0 = 0; ok && c0 < n; c0 += chunk) {
        const int m = n - c0 < chunk ? n - c0 : chunk;
        for (int i = 0; i < m; i++) {
            const int id = c0 + i, ci[3] = {id / (res * res), (id / res) % res, id % res};
            for (int a = 0; a < 3; a++) xs[3 * i + a] = -G_EXT + cs * (ci[a] + 0.5f);
        }
        ok = vkd_buf_write(x, xs, sizeof(float) * m * 3) == VKD_OK &&
             vkd_field_forward(f, &ws, sg, VKD_BUF_NONE, x, VKD_BUF_NONE, m,
                               vkd_nerf_ipe_var(&f->cfg, f->cfg.total_steps)) == VKD_OK &&
             vkd_buf_read(sg, tau + c0, sizeof(float) * m) == VKD_OK;
    }
    vkd_arena_reset(ar);
    double inter = 0, uni = 0;
    for (int id = 0; ok && id < n; id++) {
        const int ci[3] = {id / (res * res), (id / res) % res, id % res};
        int occ = tau[id] > iso;
        for (int dir = 0; dir < 27 && !occ; dir++) {
            const int d[3] = {dir / 9 - 1, (dir / 3) % 3 - 1, dir % 3 - 1};
            if (!d[0] && !d[1] && !d[2]) continue;
            int hit = 0;
            for (int k = 1; !hit; k++) {
                const int c[3] = {ci[0] + k * d[0], ci[1] + k * d[1], ci[2] + k * d[2]};
                if (c[0] < 0 || c[0] >= res || c[1] < 0 || c[1] >= res || c[2] < 0 || c[2] >= res)
                    break;
                hit = tau[(c[0] * res + c[1]) * res + c[2]] > iso;
            }
            if (!hit) break; // a way out: not enclosed
            occ = dir == 26;
        }
        float p[3];
        for (int a = 0; a < 3; a++) p[a] = -G_EXT + cs * (ci[a] + 0.5f);
        const int b = vkd_sw_occupied(shape, p);
        inter += occ && b, uni += occ || b;
    }
    free(tau), free(xs);
    if (!ok) test_fail(T, __FILE__, __LINE__, "occupancy grid: %s", vkd_last_error());
    return uni > 0 ? inter / uni : 0.0;
}

// PSNR of the NeRF against the ground truth over the views (evaluation renders: stratum
// centres, no jitter).
static double views_psnr(tctx_t *T, vkd_nerf_renderer_t *r, const views_t *v, int n) {
    const size_t px = RES * RES;
    float *rgb = malloc(sizeof(float) * px * 3);
    double se = 0;
    vkd_nerf_view_t view = {.mode = VKD_SHADE_ALBEDO, .step = 1u << 30};
    for (int i = 0; i < n; i++) {
        const vkd_render_out_t out = {rgb, NULL, NULL, NULL};
        if (vkd_nerf_render_forward(r, v->rays + i * px * 8, (int)px, &view) != VKD_OK ||
            vkd_nerf_render_read(r, &out) != VKD_OK) {
            test_fail(T, __FILE__, __LINE__, "evaluation render: %s", vkd_last_error());
            break;
        }
        for (size_t k = 0; k < px * 3; k++) se += pow(rgb[k] - v->rgb[i * px * 3 + k], 2);
    }
    free(rgb);
    return 10 * log10(1.0 / (se / ((double)n * px * 3)));
}

// The fit's turntable above the ground truth's, in one PNG.
static void write_turntable(tctx_t *T, vkd_nerf_renderer_t *r, vkd_sw_object_t obj, const char *path) {
    vkd_turntable_t tt = vkd_turntable_default();
    tt.views = 6, tt.res = 48;
    float *a = NULL, *b = NULL;
    int ah, aw, bh, bw;
    if (vkd_nerf_turntable(r, VKD_VIS_SHADED, &tt, &a, &ah, &aw) != VKD_OK ||
        vkd_sw_turntable(obj, VKD_VIS_SHADED, &tt, &b, &bh, &bw) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "turntable: %s", vkd_last_error());
        free(a), free(b);
        return;
    }
    float *both = malloc(sizeof(float) * (size_t)(ah + bh + 2) * aw * 3);
    memcpy(both, a, sizeof(float) * (size_t)ah * aw * 3);
    for (size_t i = 0; i < (size_t)2 * aw * 3; i++) both[(size_t)ah * aw * 3 + i] = 1.0f;
    memcpy(both + (size_t)(ah + 2) * aw * 3, b, sizeof(float) * (size_t)bh * bw * 3);
    if (vkd_image_write_png(path, both, ah + bh + 2, aw, 3) != VKD_OK)
        test_fail(T, __FILE__, __LINE__, "writing %s: %s", path, vkd_last_error());
    else
        printf("  wrote %s (top: fit, bottom: ground truth)\n", path);
    free(a), free(b), free(both);
}

static void fit(tctx_t *T, const fit_case_t *fc) {
    const double t0 = now_s();
    views_t train, test;
    if (!make_views(T, fc->obj, N_TRAIN, 1, &train) || !make_views(T, fc->obj, N_TEST, 2, &test)) return;
    // The short version: fewer steps of smaller batches (and no lit steps).
    const int steps = FULL_FIT ? fc->steps : 30, batch = FULL_FIT ? BATCH : 256;
    vkd_nerf_config_t cfg = vkd_nerf_config_default();
    cfg.lr = 1e-2f, cfg.warmup_steps = 20, cfg.total_steps = steps, cfg.seed = 3;
    cfg.lambda_orient = 0.0f;
    vkd_field_t *f;
    vkd_nerf_renderer_t *r;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
    const vkd_nerf_renderer_opts_t ro = {.max_rays = RES * RES};
    vkd_status_t s = vkd_nerf_renderer_create(f, &ro, &r);
    if (s != VKD_OK) {
        vkd_field_destroy(f);
        CHECK_OK(T, s);
    }
    const double iou0 = occupancy_iou(T, f, fc->obj.shape, FULL_FIT ? IOU_RES : 24, ISO);
    vkd_arena_t *ar = T->cpu_arena;
    float *rays = malloc(sizeof(float) * BATCH * 8), *gt = malloc(sizeof(float) * BATCH * 3);
    float *rgb = malloc(sizeof(float) * BATCH * 3);
    vkd_buf_t drgb = test_buf(T, ar, NULL, BATCH * 3);
    const size_t total_px = (size_t)N_TRAIN * RES * RES;
    double loss0 = -1, loss = 0, grid_occ = 1;
    long samples = 0;
    for (int step = 0; step < steps && s == VKD_OK; step++) {
        s = vkd_nerf_grid_step(r, (uint64_t)step, NULL);
        vkd_nerf_view_t view = {.mode = VKD_SHADE_ALBEDO, .jitter = 1, .step = (uint64_t)step};
        int nr = batch;
        if (FULL_FIT && step >= LIT_FROM && step % LIT_EVERY == 0) {
            // A whole training view, lit by its key light: trains the normals too.
            const int v = step / LIT_EVERY % N_TRAIN;
            view.mode = VKD_SHADE_LIT, view.light = train.light[v];
            memcpy(rays, train.rays + (size_t)v * BATCH * 8, sizeof(float) * BATCH * 8);
            memcpy(gt, train.lit + (size_t)v * BATCH * 3, sizeof(float) * BATCH * 3);
            nr = BATCH;
        } else {
            // A batch of random pixels of random training views (Philox, stream "BTCH").
            for (int i = 0; i < batch; i++) {
                uint32_t w[4];
                vkd_philox_block(cfg.seed, 0x4254434fu, (uint64_t)step * batch + i, w);
                const size_t k = (((uint64_t)w[0] << 32) | w[1]) % total_px;
                memcpy(rays + 8 * i, train.rays + 8 * k, sizeof(float) * 8);
                memcpy(gt + 3 * i, train.rgb + 3 * k, sizeof(float) * 3);
            }
        }
        const vkd_render_out_t out = {rgb, NULL, NULL, NULL};
        if (s == VKD_OK) s = vkd_nerf_render_forward(r, rays, nr, &view);
        if (s == VKD_OK) s = vkd_nerf_render_read(r, &out);
        // L = mean squared error over the batch's colour values.
        double l = 0;
        for (int i = 0; i < nr * 3; i++) {
            const float d = rgb[i] - gt[i];
            l += (double)d * d;
            rgb[i] = 2.0f * d / (nr * 3);
        }
        l /= nr * 3;
        samples += vkd_nerf_render_samples(r);
        loss = step == 0 ? l : 0.95 * loss + 0.05 * l;
        if (step == 0) loss0 = l;
        if (s == VKD_OK) s = vkd_buf_write(drgb, rgb, sizeof(float) * nr * 3);
        if (s == VKD_OK) s = vkd_field_zero_grad(f);
        if (s == VKD_OK) s = vkd_nerf_render_backward(r, drgb, VKD_BUF_NONE);
        if (s == VKD_OK) s = vkd_field_adam_step(f);
        if (s == VKD_OK && (step % 200 == 0 || step == steps - 1)) {
            s = vkd_nerf_grid_occupancy(r, &grid_occ);
            printf("  step %4d: loss %.5f (smoothed %.5f), %d samples, grid %.1f%% occupied, "
                   "%.1f s\n", step, l, loss, vkd_nerf_render_samples(r), 100 * grid_occ,
                   now_s() - t0);
        }
    }
    if (s != VKD_OK) test_fail(T, __FILE__, __LINE__, "training: %s", vkd_last_error());
    const double train_s = now_s() - t0;
    const double iou = occupancy_iou(T, f, fc->obj.shape, FULL_FIT ? IOU_RES : 24, ISO);
    const double psnr = views_psnr(T, r, &test, FULL_FIT ? N_TEST : 2);
    const double psnr_train = views_psnr(T, r, &train, FULL_FIT ? 4 : 1);
    const double iou_lo = occupancy_iou(T, f, fc->obj.shape, FULL_FIT ? IOU_RES : 24, 2.0f);
    const double iou_hi = occupancy_iou(T, f, fc->obj.shape, FULL_FIT ? IOU_RES : 24, 10.0f);

    printf("  %s: %d steps in %.1f s (%.1f ms/step, %.0f samples/step), IoU %.3f (iso 2: %.3f, "
           "iso 10: %.3f; untrained %.3f), held-out PSNR %.1f dB (training views %.1f dB), loss "
           "%.5f -> %.5f\n", fc->name, steps, train_s, 1e3 * train_s / steps,
           (double)samples / steps, iou, iou_lo, iou_hi, iou0, psnr, psnr_train, loss0, loss);
    if (FULL_FIT) {
        char path[64];
        snprintf(path, sizeof path, "nerf_fit_%s.png", vkd_sw_shape_name(fc->obj.shape));
        write_turntable(T, r, fc->obj, path);
        CHECK(T, iou >= 0.85, "%s: occupancy IoU %.3f < 0.85", fc->name, iou);
        CHECK(T, psnr >= 25.0, "%s: held-out PSNR %.1f dB < 25", fc->name, psnr);
    } else {
        printf("  (unoptimised build: a short fit, checking progress only)\n");
        CHECK(T, loss < 0.5 * loss0, "%s: loss %.5f did not halve from %.5f", fc->name, loss, loss0);
        CHECK(T, iou > iou0, "%s: IoU %.3f did not rise from %.3f", fc->name, iou, iou0);
    }
    free(rays), free(gt), free(rgb);
    free(train.rays), free(train.rgb), free(train.lit), free(train.light);
    free(test.rays), free(test.rgb), free(test.lit), free(test.light);
    // The fitted field, for `vkdream render` (ctest runs in the build directory).
    char ckpt[96];
    snprintf(ckpt, sizeof ckpt, "nerf_fit_%s.safetensors", fc->name);
    for (char *c = ckpt; *c; c++)
        if (*c == ' ') *c = '_';
    if (vkd_nerf_ckpt_save(ckpt, f, r, NULL) != VKD_OK)
        test_fail(T, __FILE__, __LINE__, "saving %s: %s", ckpt, vkd_last_error());
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
}

static void t_fit_cube(tctx_t *T) {
    const fit_case_t fc = {{VKD_SW_CUBE, VKD_SW_RED}, "red cube", 600};
    fit(T, &fc);
}

static void t_fit_torus(tctx_t *T) {
    const fit_case_t fc = {{VKD_SW_TORUS, VKD_SW_ORANGE}, "orange torus", 600};
    fit(T, &fc);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_fit_cube),
    TCASE_CPU(t_fit_torus),
};

TEST_MAIN(cases)
