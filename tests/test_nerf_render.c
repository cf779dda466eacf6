// The NeRF renderer (nerf/render.h): finite differences of a whole tiny render with
// respect to random field parameters (textureless and lit shading, so the gradient has to
// flow through the finite-difference normals; the background MLP and the opacity/entropy
// regularisers included) on both backends; CPU against Vulkan for forward and backward;
// the occupancy grid skips samples without changing the image; a hard density blob
// renders like the analytic ShapeWorld sphere (same cameras, rays, shading, background).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/render.h"
#include "test_util.h"

static float *fmalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

static vkd_nerf_config_t tiny_config(int bg_mlp) {
    vkd_nerf_config_t c = vkd_nerf_config_default();
    c.width = 16, c.depth = 1, c.n_freq = 3, c.samples = 10, c.seed = 99;
    c.bg_mode = bg_mlp ? VKD_NERF_BG_MLP : VKD_NERF_BG_FIXED, c.bg_width = 8, c.bg_freq = 2;
    c.grid_res = 0, c.normal_h = 0.05f, c.normal_eps = 1e-3f;
    c.lambda_orient = 0.0f, c.lambda_opacity = 0.3f, c.lambda_entropy = 0.2f;
    return c;
}

// A camera looking at the origin from (az, el) at distance 2.2.
static vkd_camera_t cam_at(float az, float el, int res) {
    vkd_camera_t cam;
    if (vkd_camera_orbit(&cam, az, el, 2.2f, 50.0f, res, res) != VKD_OK) abort();
    return cam;
}

// Adds N(0, sd) noise to every parameter so the field is not the symmetric blob.
static vkd_status_t perturb(vkd_field_t *f, uint64_t seed, float sd, float *host) {
    VKD_TRY(vkd_buf_read(f->params, host, f->n_params * sizeof(float)));
    float *noise = fmalloc(f->n_params);
    test_fill_normal(&seed, noise, f->n_params, sd);
    for (size_t i = 0; i < f->n_params; i++) host[i] += noise[i];
    free(noise);
    return vkd_buf_write(f->params, host, f->n_params * sizeof(float));
}

typedef struct {
    vkd_nerf_renderer_t *r;
    vkd_field_t *f;
    float *params;  // host copy that the FD check perturbs
    float *rays;    // (R, 8)
    int R;
    vkd_nerf_view_t view;
    const float *g; // dL/drgb (R, 3)
    float *rgb;     // scratch (R, 3)
} rctx_t;

// L = sum g . rgb + the renderer's regularisers (as the backward defines them).
static double render_loss(void *p) {
    rctx_t *c = p;
    if (vkd_buf_write(c->f->params, c->params, c->f->n_params * sizeof(float)) != VKD_OK ||
        vkd_nerf_render_forward(c->r, c->rays, c->R, &c->view) != VKD_OK)
        return NAN;
    const vkd_render_out_t out = {c->rgb, NULL, NULL, NULL};
    double orient, opa, ent;
    if (vkd_nerf_render_read(c->r, &out) != VKD_OK ||
        vkd_nerf_render_reg(c->r, &orient, &opa, &ent) != VKD_OK)
        return NAN;
    double L = 0;
    for (int i = 0; i < 3 * c->R; i++) L += (double)c->g[i] * c->rgb[i];
    const vkd_nerf_config_t *cfg = &c->f->cfg;
    return L + cfg->lambda_opacity * opa + cfg->lambda_entropy * ent +
           (c->view.mode != VKD_SHADE_ALBEDO ? cfg->lambda_orient * orient : 0.0);
}

static void render_fd(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar, vkd_shade_mode_t mode,
                      int bg_mlp, const char *name) {
    const vkd_nerf_config_t cfg = tiny_config(bg_mlp);
    const int res = 6, R = res * res;
    vkd_field_t *f;
    vkd_nerf_renderer_t *r;
    CHECK_OK(T, vkd_field_create(be, &cfg, &f));
    const vkd_nerf_renderer_opts_t ro = {.max_rays = R, .normal_chunk = 64};
    vkd_status_t s = vkd_nerf_renderer_create(f, &ro, &r);
    if (s != VKD_OK) {
        vkd_field_destroy(f);
        CHECK_OK(T, s);
    }
    float *params = fmalloc(f->n_params), *rays = fmalloc((size_t)R * 8);
    float *g = fmalloc((size_t)R * 3), *rgb = fmalloc((size_t)R * 3), *grads = NULL;
    uint64_t st = T->seed;
    test_fill_uniform(&st, g, (size_t)R * 3, -1, 1);
    const vkd_camera_t cam = cam_at(30.0f, 20.0f, res);
    vkd_nerf_camera_rays(&cam, rays);
    rctx_t c = {r, f, params, rays, R, {.mode = mode, .jitter = 1, .step = 3}, g, rgb};
    vkd_light_key(&cam, &c.view.light);
    s = perturb(f, T->seed + 1, 0.3f, params);
    if (s == VKD_OK && !(render_loss(&c) == render_loss(&c))) s = VKD_ERR_NUMERIC;
    vkd_buf_t dg = VKD_BUF_NONE;
    if (s == VKD_OK) dg = test_buf(T, ar, g, (size_t)R * 3);
    if (s == VKD_OK) s = vkd_field_zero_grad(f);
    if (s == VKD_OK) s = vkd_nerf_render_backward(r, dg, VKD_BUF_NONE);
    if (s == VKD_OK) grads = test_read(T, f->grads, f->n_params);
    if (s != VKD_OK) test_fail(T, __FILE__, __LINE__, "%s: %s", name, vkd_last_error());
    if (grads) {
        printf("  %d samples\n", vkd_nerf_render_samples(r));
        // eps 5e-3: at 1e-2 some samples' n . l crosses the max(0, .) kink of the shading
        // (measured: the differences move away from the gradient there and converge to it
        // below 5e-3); much smaller and float32 rounding of the render (~1e-6 of the loss)
        // dominates.
        // Fewer probes on Vulkan: each is two recorded renders plus read-backs.
        const int probes = vkd_backend_kind(be) == VKD_BACKEND_VULKAN ? 30 : 60;
        test_fd_check(T, name, render_loss, &c, params, grads, f->n_params, probes, 5e-3f, 5e-2);
    }
    free(params), free(rays), free(g), free(rgb), free(grads);
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
}

static void t_render_fd_cpu(tctx_t *T) {
    render_fd(T, T->cpu, T->cpu_arena, VKD_SHADE_TEXTURELESS, 0, "render textureless (cpu)");
    render_fd(T, T->cpu, T->cpu_arena, VKD_SHADE_LIT, 1, "render lit + bg MLP (cpu)");
    render_fd(T, T->cpu, T->cpu_arena, VKD_SHADE_ALBEDO, 0, "render albedo (cpu)");
}

static void t_render_fd_vk(tctx_t *T) {
    render_fd(T, T->vk, T->vk_arena, VKD_SHADE_TEXTURELESS, 0, "render textureless (vulkan)");
    render_fd(T, T->vk, T->vk_arena, VKD_SHADE_LIT, 1, "render lit + bg MLP (vulkan)");
}

// ---- CPU against Vulkan -------------------------------------------------------------------

typedef struct {
    float *rgb, *opa, *dep, *nrm, *grads, *grid;
    int samples;
} run_out_t;

// One forward (after a grid refresh when the config has a grid) and backward of a 16 x 12
// render with lambda_orient on, on backend be.
static run_out_t run_once(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar, const vkd_nerf_config_t *cfg,
                          const float *params) {
    run_out_t o = {0};
    vkd_field_t *f;
    vkd_nerf_renderer_t *r = NULL;
    const int W = 16, H = 12, R = W * H;
    if (vkd_field_create(be, cfg, &f) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "field: %s", vkd_last_error());
        return o;
    }
    const vkd_nerf_renderer_opts_t ro = {.max_rays = R, .normal_chunk = 1000};
    vkd_status_t s = vkd_nerf_renderer_create(f, &ro, &r);
    vkd_camera_t cam;
    if (s == VKD_OK) s = vkd_camera_orbit(&cam, 200.0f, 35.0f, 2.0f, 50.0f, W, H);
    float *rays = fmalloc((size_t)R * 8), *g = fmalloc((size_t)R * 3);
    uint64_t st = 77;
    test_fill_uniform(&st, g, (size_t)R * 3, -1, 1);
    vkd_nerf_camera_rays(&cam, rays);
    vkd_nerf_view_t view = {.mode = VKD_SHADE_LIT, .jitter = 1, .step = 5};
    vkd_light_key(&cam, &view.light);
    if (s == VKD_OK) s = vkd_buf_write(f->params, params, f->n_params * sizeof(float));
    if (s == VKD_OK && cfg->grid_res) s = vkd_nerf_grid_refresh(r, 1);
    if (s == VKD_OK) s = vkd_nerf_render_forward(r, rays, R, &view);
    vkd_buf_t dg = test_buf(T, ar, g, (size_t)R * 3);
    if (s == VKD_OK) s = vkd_field_zero_grad(f);
    if (s == VKD_OK) s = vkd_nerf_render_backward(r, dg, VKD_BUF_NONE);
    if (s == VKD_OK) {
        o.rgb = fmalloc((size_t)R * 3), o.opa = fmalloc(R), o.dep = fmalloc(R), o.nrm = fmalloc((size_t)R * 3);
        const vkd_render_out_t out = {o.rgb, o.opa, o.dep, o.nrm};
        s = vkd_nerf_render_read(r, &out);
        o.grads = test_read(T, f->grads, f->n_params);
        o.samples = vkd_nerf_render_samples(r);
        if (cfg->grid_res) o.grid = test_read(T, vkd_nerf_grid_buf(r), (size_t)cfg->grid_res * cfg->grid_res * cfg->grid_res);
    }
    if (s != VKD_OK) test_fail(T, __FILE__, __LINE__, "render: %s", vkd_last_error());
    free(rays), free(g);
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
    return o;
}

static void t_render_vk(tctx_t *T) {
    for (int variant = 0; variant < 2; variant++) {
        vkd_nerf_config_t cfg = vkd_nerf_config_default();
        cfg.samples = 24, cfg.lambda_orient = 0.5f, cfg.lambda_entropy = 0.1f, cfg.seed = 4;
        cfg.bg_mode = variant ? VKD_NERF_BG_MLP : VKD_NERF_BG_FIXED;
        cfg.grid_res = variant ? 16 : 0, cfg.grid_thresh = 0.12f;
        vkd_field_t *f;
        CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
        float *params = fmalloc(f->n_params);
        CHECK_OK(T, perturb(f, 5, 0.1f, params));
        const size_t np = f->n_params;
        vkd_field_destroy(f);
        run_out_t a = run_once(T, T->cpu, T->cpu_arena, &cfg, params);
        run_out_t b = run_once(T, T->vk, T->vk_arena, &cfg, params);
        printf("  %s: %d / %d samples\n", variant ? "bg MLP + grid" : "fixed bg", a.samples, b.samples);
        CHECK(T, a.samples == b.samples, "sample counts differ: %d vs %d", a.samples, b.samples);
        if (a.rgb && b.rgb && a.samples == b.samples) {
            test_compare(T, "render rgb", b.rgb, a.rgb, 192 * 3, 1e-4);
            test_compare(T, "render opacity", b.opa, a.opa, 192, 1e-4);
            test_compare(T, "render depth", b.dep, a.dep, 192, 1e-4);
            // Normals divide density differences by the step h (0.01): they and everything
            // downstream of them carry ~100x the relative rounding differences of the
            // densities, hence 1e-3 here (measured: ~2e-5 and ~1e-4).
            test_compare(T, "render normals", b.nrm, a.nrm, 192 * 3, 1e-3);
            test_compare(T, "render parameter gradients", b.grads, a.grads, np, 1e-3);
            if (variant) test_compare(T, "occupancy grid", b.grid, a.grid, 16 * 16 * 16, 1e-4);
        }
        free(params);
        free(a.rgb), free(a.opa), free(a.dep), free(a.nrm), free(a.grads), free(a.grid);
        free(b.rgb), free(b.opa), free(b.dep), free(b.nrm), free(b.grads), free(b.grid);
    }
}

// ---- the occupancy grid -------------------------------------------------------------------

static void t_grid_skipping(tctx_t *T) {
    vkd_nerf_config_t cfg = vkd_nerf_config_default();
    // A blob of radius ~0.3 (density e^4 at the centre, e^-8 far from it).
    cfg.grid_res = 32, cfg.seed = 8, cfg.density_bias = -8.0f, cfg.blob_lambda = 12.0f;
    vkd_field_t *f;
    vkd_nerf_renderer_t *r;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
    const int res = 32, R = res * res;
    const vkd_nerf_renderer_opts_t ro = {.max_rays = R};
    CHECK_OK(T, vkd_nerf_renderer_create(f, &ro, &r));
    const vkd_camera_t cam = cam_at(45.0f, 30.0f, res);
    float *rays = fmalloc((size_t)R * 8), *a = fmalloc((size_t)R * 3), *b = fmalloc((size_t)R * 3);
    vkd_nerf_camera_rays(&cam, rays);
    vkd_nerf_view_t view = {.mode = VKD_SHADE_LIT, .step = 2};
    vkd_light_key(&cam, &view.light);
    vkd_render_out_t out = {a, NULL, NULL, NULL};
    CHECK_OK(T, vkd_nerf_render_forward(r, rays, R, &view));
    CHECK_OK(T, vkd_nerf_render_read(r, &out));
    const int full = vkd_nerf_render_samples(r);
    double occ;
    CHECK_OK(T, vkd_nerf_grid_occupancy(r, &occ));
    CHECK(T, occ == 1.0, "everything occupied before the first refresh");
    for (uint64_t s = 0; s < 3; s++) CHECK_OK(T, vkd_nerf_grid_refresh(r, s));
    CHECK_OK(T, vkd_nerf_grid_occupancy(r, &occ));
    CHECK_OK(T, vkd_nerf_render_forward(r, rays, R, &view));
    out.rgb = b;
    CHECK_OK(T, vkd_nerf_render_read(r, &out));
    const int kept = vkd_nerf_render_samples(r);
    double md = 0;
    for (int i = 0; i < R * 3; i++) md = fmax(md, fabs(a[i] - b[i]));
    printf("  grid: %.1f%% of cells occupied, samples %d -> %d, max |rgb difference| %.2g\n",
           100 * occ, full, kept, md);
    CHECK(T, kept < full / 3, "the grid skips most samples (%d of %d kept)", kept, full);
    // Skipped cells hold density <= grid_thresh = 0.01: at most ~0.01 x 2.8 of optical depth
    // along a ray, less than one 8-bit level (1/255) of the image.
    CHECK(T, md < 1.0 / 255, "skipping empty space changes the image by %.3g", md);
    free(rays), free(a), free(b);
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
}

// ---- conventions: a hard blob against the analytic ShapeWorld sphere ----------------------

static void t_matches_shapeworld(tctx_t *T) {
    // density = exp(-200 + 400 exp(-|x|^2 / (2 s^2))) rises by ~e^500 per unit radius near
    // r = 0.5; s = 0.43358 puts the expected depth of a central ray (sum w t) on the radius
    // 0.5 of the ShapeWorld sphere (solved numerically). The MLP's output layer is zeroed
    // and its albedo bias set to ShapeWorld red.
    vkd_nerf_config_t cfg = vkd_nerf_config_default();
    cfg.blob_lambda = 400.0f, cfg.blob_sigma = 0.43358f, cfg.density_bias = -200.0f;
    cfg.samples = 128, cfg.grid_res = 0, cfg.normal_h = 0.002f;
    cfg.width = 16, cfg.depth = 1, cfg.n_freq = 2; // the MLP's output is zeroed: keep it cheap
    vkd_field_t *f;
    vkd_nerf_renderer_t *r;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
    const int wi = vkd_field_find(f, "field.out.weight"), bi = vkd_field_find(f, "field.out.bias");
    CHECK(T, wi >= 0 && bi >= 0, "output tensors");
    memset(vkd_field_view(f, 0, wi).host, 0, sizeof(float) * 4 * cfg.width);
    const float *red = vkd_sw_colour_rgb(VKD_SW_RED);
    for (int k = 0; k < 3; k++) vkd_field_view(f, 0, bi).host[1 + k] = logf(red[k] / (1.0f - red[k]));
    const int res = 20, R = res * res;
    const vkd_nerf_renderer_opts_t ro = {.max_rays = 4 * R};
    CHECK_OK(T, vkd_nerf_renderer_create(f, &ro, &r));
    float *buf = fmalloc((size_t)R * 16);
    const vkd_render_out_t nr = {buf, buf + 3 * R, buf + 4 * R, buf + 5 * R};
    const vkd_render_out_t sr = {buf + 8 * R, buf + 11 * R, buf + 12 * R, buf + 13 * R};
    const vkd_sw_object_t obj = {VKD_SW_SPHERE, VKD_SW_RED};
    for (int v = 0; v < 2; v++) {
        vkd_camera_t cam;
        CHECK_OK(T, vkd_camera_orbit(&cam, 70.0f + 150 * v, 25.0f - 40 * v, 2.0f, 50.0f, res, res));
        vkd_nerf_view_t view = {.mode = VKD_SHADE_LIT, .normals = 1};
        vkd_light_key(&cam, &view.light);
        CHECK_OK(T, vkd_nerf_render_image(r, &cam, &view, 2, &nr));
        CHECK_OK(T, vkd_sw_render(obj, &cam, VKD_SHADE_LIT, &view.light, 2, &sr));
        double inter = 0, uni = 0, se = 0, dd = 0, ang = 0;
        int both = 0;
        for (int i = 0; i < R; i++) {
            inter += fmin(nr.opacity[i], sr.opacity[i]), uni += fmax(nr.opacity[i], sr.opacity[i]);
            for (int k = 0; k < 3; k++) se += pow(nr.rgb[3 * i + k] - sr.rgb[3 * i + k], 2);
            // Depth and normals inside the silhouette (a pixel and its 4 neighbours covered
            // in both): at the rim a sub-pixel shift of the soft blob edge changes them a lot.
            int inner = 1;
            for (int d = 0; d < 5; d++) {
                const int x = i % res + (d == 1) - (d == 2), y = i / res + (d == 3) - (d == 4);
                inner &= x >= 0 && x < res && y >= 0 && y < res &&
                         nr.opacity[y * res + x] > 0.99f && sr.opacity[y * res + x] > 0.99f;
            }
            if (inner) {
                both++;
                dd = fmax(dd, fabs(nr.depth[i] - sr.depth[i]));
                double dot = 0;
                for (int k = 0; k < 3; k++) dot += nr.normal[3 * i + k] * sr.normal[3 * i + k];
                ang = fmax(ang, acos(fmin(1.0, dot)) * 180 / M_PI);
            }
        }
        const double psnr = 10 * log10(1.0 / (se / (3.0 * R)));
        printf("  view %d: silhouette IoU %.3f, PSNR %.1f dB, depth error <= %.3f, normal "
               "error <= %.1f deg over %d pixels\n", v, inter / uni, psnr, dd, ang, both);
        // A flipped axis, a mirrored image or a half-pixel offset fails these by far.
        CHECK(T, inter / uni > 0.96, "silhouettes differ (IoU %.3f)", inter / uni);
        CHECK(T, psnr > 32, "images differ (PSNR %.1f dB)", psnr);
        CHECK(T, dd < 0.01 && ang < 3, "depth (%.3f) or normals (%.1f deg) differ", dd, ang);
        CHECK(T, both > R / 10, "the sphere covers the frame centre (%d pixels)", both);
    }
    // Bad input is refused cleanly.
    vkd_nerf_view_t view = {.mode = VKD_SHADE_ALBEDO};
    CHECK(T, vkd_nerf_render_forward(r, buf, 4 * R + 1, &view) == VKD_ERR_INVALID, "too many rays");
    view.mode = (vkd_shade_mode_t)7;
    CHECK(T, vkd_nerf_render_forward(r, buf, 4, &view) == VKD_ERR_INVALID, "bad mode");
    CHECK(T, vkd_nerf_render_backward(r, VKD_BUF_NONE, VKD_BUF_NONE) == VKD_ERR_INVALID,
          "backward after a failed forward");
    free(buf);
    vkd_nerf_renderer_destroy(r);
    vkd_field_destroy(f);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_render_fd_cpu),
    TCASE_CPU(t_grid_skipping),
    TCASE_CPU(t_matches_shapeworld),
    TCASE_VK(t_render_fd_vk),
    TCASE_VK(t_render_vk),
};

TEST_MAIN(cases)
