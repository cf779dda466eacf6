// The NeRF renderer: the forward and backward of a batch of rays (render.h), and the
// occupancy grid. Everything on the backend is recorded through ops; the host reads back
// only the per-ray sample counts (one sync per forward: the field's GEMMs need the number
// of kept samples on the host).
#include "nerf/render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/nerf_ops.h"
#include "ops.h"

#define ALIGN_F (VKD_BUF_ALIGN / sizeof(float))
#define DEFAULT_NORMAL_CHUNK 4096

struct vkd_nerf_renderer {
    vkd_field_t *field;
    vkd_backend_t *be;
    vkd_nerf_config_t cfg;
    int R_cap, P_cap, C_cap; // rays, samples, samples per tetrahedron chunk
    vkd_arena_t *arena;
    // per ray
    vkd_buf_t rays, dirs, counts, offs;           // (R, 8), (R, 3), (R), (R + 1)
    vkd_buf_t rgb, fg, opacity, depth, nmap, orient; // (R, 3), (R, 3), (R), (R), (R, 3), (R)
    vkd_buf_t bg, dopacity, dbg;                  // (R, 3) or (3), (R), (R, 3)
    // per sample
    vkd_buf_t x, var, td, sigma, rho, c, n, w, tau4;  // (P, 3), (P), (P, 2), (P), (P, 3) x 3, (P), (P, 4)
    vkd_buf_t dsigma, drho, dc, dn, dtau4;            // (P), (P, 3) x 3, (P, 4)
    vkd_buf_t xt, vt;                                 // (4C, 3), (4C): tetrahedron points of a chunk
    vkd_field_ws_t ws, ws_t;                          // samples, tetrahedron points
    vkd_field_bg_ws_t bws;
    // occupancy grid
    vkd_buf_t grid;   // (G^3)
    int grid_ready, grid_on;
    uint32_t *host_counts, *host_offs; // (R), (R + 1)
    // the last forward
    int R, P, normals, valid;
    vkd_nerf_view_t view;
    float var_add;
};

static size_t pad(size_t n) { return (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F; }

// ---- rays from cameras -----------------------------------------------------------------------

void vkd_nerf_camera_ray(const vkd_camera_t *cam, float px, float py, float ray[8]) {
    vkd_camera_ray(cam, px, py, ray, ray + 3);
    // A pixel spans 2 tan(fovy/2) / H at unit distance (square pixels); mip-NeRF's cone
    // radius is that times 2/sqrt(12), the radius whose disc has the pixel's variance.
    ray[6] = 2.0f * cam->tan_half / (float)cam->height * 0.57735027f;
    ray[7] = 0.0f;
}

void vkd_nerf_camera_rays(const vkd_camera_t *cam, float *rays) {
    for (int y = 0; y < cam->height; y++)
        for (int x = 0; x < cam->width; x++)
            vkd_nerf_camera_ray(cam, x + 0.5f, y + 0.5f, rays + 8 * ((size_t)y * cam->width + x));
}

// ---- creation -------------------------------------------------------------------------------

typedef struct {
    vkd_buf_t *buf;
    size_t n;
} alloc_t;

vkd_status_t vkd_nerf_renderer_create(vkd_field_t *field, const vkd_nerf_renderer_opts_t *opts,
                                      vkd_nerf_renderer_t **out) {
    *out = NULL;
    if (!field || !opts) return vkd_fail(VKD_ERR_INVALID, "NeRF renderer: NULL argument");
    const vkd_nerf_config_t *cfg = &field->cfg;
    if (opts->max_rays < 1 || opts->max_rays > 65535 * 64)
        return vkd_fail(VKD_ERR_INVALID, "NeRF renderer: max_rays = %d outside [1, %d]",
                        opts->max_rays, 65535 * 64);
    const int64_t pmax = (int64_t)opts->max_rays * cfg->samples;
    const int64_t P = opts->max_samples > 0 && opts->max_samples < pmax ? opts->max_samples : pmax;
    if (P > (1 << 24))
        return vkd_fail(VKD_ERR_INVALID, "NeRF renderer: %lld samples per forward is too many "
                        "(at most 2^24: lower max_rays, samples or set max_samples)", (long long)P);
    vkd_nerf_renderer_t *r = calloc(1, sizeof *r);
    if (!r) return vkd_fail(VKD_ERR_NOMEM, "NeRF renderer: out of memory");
    r->field = field, r->be = field->be, r->cfg = *cfg, r->grid_on = 1;
    r->R_cap = opts->max_rays, r->P_cap = (int)P;
    int C = opts->normal_chunk > 0 ? opts->normal_chunk : DEFAULT_NORMAL_CHUNK;
    C = (int)((C + 63) / 64 * 64); // chunk starts stay aligned for buffer slices
    r->C_cap = C;
    const size_t R = (size_t)r->R_cap, Pz = (size_t)P, G = (size_t)cfg->grid_res;
    const int bg_mlp = cfg->bg_mode == VKD_NERF_BG_MLP;
    // The grid refresh evaluates probe points through the tetrahedron workspace (4C).
    const alloc_t a[] = {
        {&r->rays, R * 8}, {&r->dirs, R * 3}, {&r->counts, R}, {&r->offs, R + 1},
        {&r->rgb, R * 3}, {&r->fg, R * 3}, {&r->opacity, R}, {&r->depth, R}, {&r->nmap, R * 3},
        {&r->orient, R}, {&r->bg, bg_mlp ? R * 3 : 3}, {&r->dopacity, R}, {&r->dbg, R * 3},
        {&r->x, Pz * 3}, {&r->var, Pz}, {&r->td, Pz * 2}, {&r->sigma, Pz}, {&r->rho, Pz * 3},
        {&r->c, Pz * 3}, {&r->n, Pz * 3}, {&r->w, Pz}, {&r->tau4, Pz * 4}, {&r->dsigma, Pz},
        {&r->drho, Pz * 3}, {&r->dc, Pz * 3}, {&r->dn, Pz * 3}, {&r->dtau4, Pz * 4},
        {&r->xt, (size_t)C * 12}, {&r->vt, (size_t)C * 4}, {&r->grid, G * G * G},
    };
    const int na = (int)(sizeof a / sizeof a[0]);
    size_t bytes = vkd_field_ws_bytes(cfg, (int)P) + vkd_field_ws_bytes(cfg, 4 * C) +
                   (bg_mlp ? vkd_field_bg_ws_bytes(cfg, r->R_cap) : 0);
    for (int i = 0; i < na; i++) bytes += pad(a[i].n ? a[i].n : 1) * sizeof(float);
    vkd_status_t s = vkd_arena_create(r->be, "nerf-render", bytes, &r->arena);
    for (int i = 0; i < na && s == VKD_OK; i++)
        if (a[i].n) s = vkd_arena_alloc(r->arena, a[i].n, a[i].buf);
    if (s == VKD_OK) s = vkd_field_ws_alloc(field, r->arena, (int)P, &r->ws);
    if (s == VKD_OK) s = vkd_field_ws_alloc(field, r->arena, 4 * C, &r->ws_t);
    if (s == VKD_OK && bg_mlp) s = vkd_field_bg_ws_alloc(field, r->arena, r->R_cap, &r->bws);
    if (s == VKD_OK && !bg_mlp) s = vkd_buf_write(r->bg, cfg->bg_color, sizeof cfg->bg_color);
    if (s == VKD_OK && G) s = op_fill(r->be, r->grid, 0.0f, G * G * G);
    r->host_counts = malloc(R * sizeof(uint32_t));
    r->host_offs = malloc((R + 1) * sizeof(uint32_t));
    if (s == VKD_OK && (!r->host_counts || !r->host_offs))
        s = vkd_fail(VKD_ERR_NOMEM, "NeRF renderer: out of memory");
    if (s != VKD_OK) {
        vkd_nerf_renderer_destroy(r);
        return vkd_fail_ctx(s, "creating the NeRF renderer (%d rays, %lld samples)", opts->max_rays,
                            (long long)P);
    }
    *out = r;
    return VKD_OK;
}

void vkd_nerf_renderer_destroy(vkd_nerf_renderer_t *r) {
    if (!r) return;
    if (r->arena) vkd_arena_destroy(r->arena);
    free(r->host_counts), free(r->host_offs);
    free(r);
}

int vkd_nerf_renderer_max_rays(const vkd_nerf_renderer_t *r) { return r->R_cap; }
vkd_field_t *vkd_nerf_renderer_field(const vkd_nerf_renderer_t *r) { return r->field; }

// ---- forward --------------------------------------------------------------------------------

// A view of n elements of `per` floats starting at element e0 (e0 a multiple of 64).
static vkd_status_t sub(vkd_buf_t b, size_t e0, size_t n, size_t per, vkd_buf_t *out) {
    return vkd_buf_slice(b, e0 * per * sizeof(float), n * per * sizeof(float), out);
}

static vkd_nerf_shade_t shade_of(const vkd_nerf_view_t *v) {
    vkd_nerf_shade_t sh = {(int)v->mode, {v->light.pos[0], v->light.pos[1], v->light.pos[2]},
                           v->light.diffuse, v->light.ambient};
    if (v->mode == VKD_SHADE_ALBEDO) sh.light[0] = sh.light[1] = sh.light[2] = 0, sh.diffuse = 0, sh.ambient = 1;
    return sh;
}

static vkd_nerf_samples_t samples_of(const vkd_nerf_renderer_t *r, int R) {
    const int use_grid = r->cfg.grid_res > 0 && r->grid_ready && r->grid_on;
    return (vkd_nerf_samples_t){R, r->cfg.samples, r->cfg.bound, r->view.jitter, r->cfg.seed,
                                r->view.step, use_grid ? r->cfg.grid_res : 0, r->cfg.grid_thresh};
}

// Density pre-activations at the tetrahedron corners of samples [p0, p0 + n) into tau4,
// through ws_t.
static vkd_status_t tetra_chunk(vkd_nerf_renderer_t *r, int p0, int n, vkd_buf_t *xt) {
    vkd_buf_t x, var, tau;
    VKD_TRY(sub(r->x, (size_t)p0, (size_t)n, 3, &x));
    VKD_TRY(sub(r->var, (size_t)p0, (size_t)n, 1, &var));
    VKD_TRY(sub(r->tau4, (size_t)p0, (size_t)n, 4, &tau));
    VKD_TRY(nerf_tetra_points(r->be, r->xt, r->vt, x, var, n, r->cfg.normal_h));
    *xt = r->xt;
    return vkd_field_forward_pre(r->field, &r->ws_t, tau, r->xt, r->vt, 4 * n, r->var_add);
}

vkd_status_t vkd_nerf_render_forward(vkd_nerf_renderer_t *r, const float *rays, int R,
                                     const vkd_nerf_view_t *view) {
    r->valid = 0;
    if (!rays || !view || R < 1 || R > r->R_cap)
        return vkd_fail(VKD_ERR_INVALID, "NeRF render: %d rays (capacity %d)", R, r->R_cap);
    if ((unsigned)view->mode >= VKD_SHADE_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "NeRF render: shading mode %d", (int)view->mode);
    vkd_backend_t *be = r->be;
    const vkd_nerf_config_t *cfg = &r->cfg;
    r->view = *view, r->R = R;
    r->normals = view->mode != VKD_SHADE_ALBEDO || view->normals;
    r->var_add = vkd_nerf_ipe_var(cfg, (int64_t)view->step);
    vkd_buf_t rays_b;
    VKD_TRY(sub(r->rays, 0, (size_t)R, 8, &rays_b));
    VKD_TRY(vkd_buf_write(rays_b, rays, (size_t)R * 8 * sizeof(float)));
    // Sample counts -> offsets on the host (the one read-back), then the samples.
    const vkd_nerf_samples_t sd = samples_of(r, R);
    vkd_buf_t grid = sd.grid_res ? r->grid : VKD_BUF_NONE;
    VKD_TRY(nerf_samples_count(be, r->counts, r->rays, grid, &sd));
    VKD_TRY(vkd_buf_read(r->counts, r->host_counts, (size_t)R * sizeof(uint32_t)));
    uint64_t total = 0;
    for (int i = 0; i < R; i++) r->host_offs[i] = (uint32_t)total, total += r->host_counts[i];
    r->host_offs[R] = (uint32_t)(total <= (uint64_t)r->P_cap ? total : 0);
    if (total > (uint64_t)r->P_cap)
        return vkd_fail(VKD_ERR_INVALID, "NeRF render: %llu samples exceed the renderer's "
                        "max_samples = %d (raise it)", (unsigned long long)total, r->P_cap);
    const int P = (int)total;
    r->P = P;
    VKD_TRY(vkd_buf_write(r->offs, r->host_offs, ((size_t)R + 1) * sizeof(uint32_t)));
    VKD_TRY(nerf_samples_write(be, r->x, r->var, r->td, r->rays, r->offs, grid, P, &sd));
    if (P > 0) {
        VKD_TRY(vkd_field_forward(r->field, &r->ws, r->sigma, r->rho, r->x, r->var, P, r->var_add));
        if (r->normals) {
            for (int p0 = 0; p0 < P; p0 += r->C_cap) {
                vkd_buf_t xt;
                VKD_TRY(tetra_chunk(r, p0, P - p0 < r->C_cap ? P - p0 : r->C_cap, &xt));
            }
            VKD_TRY(nerf_normal_forward(be, r->n, r->tau4, P, cfg->normal_h, cfg->normal_eps));
        }
        const vkd_nerf_shade_t sh = shade_of(view);
        VKD_TRY(nerf_shade_forward(be, r->c, r->rho, r->normals ? r->n : VKD_BUF_NONE, r->x, P, &sh));
    }
    const vkd_nerf_composite_t cd = {R, 0.0f, 0.0f, 0.0f};
    const vkd_buf_t n = r->normals && P > 0 ? r->n : VKD_BUF_NONE;
    VKD_TRY(nerf_composite_forward(be, r->fg, r->opacity, r->depth,
                                   n.bytes ? r->nmap : VKD_BUF_NONE, n.bytes ? r->orient : VKD_BUF_NONE,
                                   r->w, r->sigma, r->c, n, r->td, r->offs, r->rays, P, &cd));
    if (!n.bytes) {
        // No normals: an empty normal map and no orientation term.
        VKD_TRY(op_fill(be, r->nmap, 0.0f, (size_t)R * 3));
        VKD_TRY(op_fill(be, r->orient, 0.0f, (size_t)R));
    }
    const int per_ray = cfg->bg_mode == VKD_NERF_BG_MLP;
    if (per_ray) {
        // The unit directions, contiguous, for the background's encoding.
        const vkd_copy_strided_t cp = {.n = {R, 3, 1, 1}, .out_stride = {3, 1, 0, 0},
                                       .inp_stride = {8, 1, 0, 0}, .inp_off = 3};
        VKD_TRY(op_copy_strided(be, r->dirs, r->rays, &cp));
        VKD_TRY(vkd_field_bg_forward(r->field, &r->bws, r->bg, r->dirs, R));
    }
    VKD_TRY(nerf_background_forward(be, r->rgb, r->fg, r->opacity, r->bg, R, per_ray));
    r->valid = 1;
    return VKD_OK;
}

vkd_buf_t vkd_nerf_render_rgb(const vkd_nerf_renderer_t *r) { return r->rgb; }
vkd_buf_t vkd_nerf_render_opacity(const vkd_nerf_renderer_t *r) { return r->opacity; }
int vkd_nerf_render_samples(const vkd_nerf_renderer_t *r) { return r->P; }

vkd_status_t vkd_nerf_render_read(vkd_nerf_renderer_t *r, const vkd_render_out_t *out) {
    if (!r->valid) return vkd_fail(VKD_ERR_INVALID, "NeRF render: no forward to read");
    const size_t R = (size_t)r->R;
    if (out->rgb) VKD_TRY(vkd_buf_read(r->rgb, out->rgb, R * 3 * sizeof(float)));
    if (out->opacity) VKD_TRY(vkd_buf_read(r->opacity, out->opacity, R * sizeof(float)));
    if (out->depth) VKD_TRY(vkd_buf_read(r->depth, out->depth, R * sizeof(float)));
    if (out->normal) VKD_TRY(vkd_buf_read(r->nmap, out->normal, R * 3 * sizeof(float)));
    return VKD_OK;
}

// ---- backward -------------------------------------------------------------------------------

vkd_status_t vkd_nerf_render_backward(vkd_nerf_renderer_t *r, vkd_buf_t drgb, vkd_buf_t dopacity) {
    if (!r->valid) return vkd_fail(VKD_ERR_INVALID, "NeRF render backward: no forward to go back through");
    vkd_backend_t *be = r->be;
    const vkd_nerf_config_t *cfg = &r->cfg;
    const int R = r->R, P = r->P, per_ray = cfg->bg_mode == VKD_NERF_BG_MLP;
    if (!vkd_buf_present(drgb) || vkd_buf_count(drgb) < (size_t)R * 3)
        return vkd_fail(VKD_ERR_INVALID, "NeRF render backward: drgb must hold %d x 3 floats", R);
    if (vkd_buf_present(dopacity)) VKD_TRY(op_copy(be, r->dopacity, dopacity, (size_t)R));
    else VKD_TRY(op_fill(be, r->dopacity, 0.0f, (size_t)R));
    if (per_ray) VKD_TRY(op_fill(be, r->dbg, 0.0f, (size_t)R * 3));
    VKD_TRY(nerf_background_backward(be, r->dopacity, per_ray ? r->dbg : VKD_BUF_NONE, drgb,
                                     r->opacity, r->bg, R, per_ray));
    if (P > 0) {
        const size_t p = (size_t)P;
        VKD_TRY(op_fill(be, r->dsigma, 0.0f, p));
        VKD_TRY(op_fill(be, r->drho, 0.0f, p * 3));
        VKD_TRY(op_fill(be, r->dc, 0.0f, p * 3));
        if (r->normals) VKD_TRY(op_fill(be, r->dn, 0.0f, p * 3));
        const float inv_r = 1.0f / (float)R;
        const vkd_nerf_composite_t cd = {R, r->normals ? cfg->lambda_orient * inv_r : 0.0f,
                                         cfg->lambda_opacity * inv_r, cfg->lambda_entropy * inv_r};
        VKD_TRY(nerf_composite_backward(be, r->dsigma, r->dc, r->normals ? r->dn : VKD_BUF_NONE,
                                        drgb, r->dopacity, r->sigma, r->c,
                                        r->normals ? r->n : VKD_BUF_NONE, r->w, r->td, r->offs,
                                        r->rays, P, &cd));
        const vkd_nerf_shade_t sh = shade_of(&r->view);
        VKD_TRY(nerf_shade_backward(be, r->drho, r->normals ? r->dn : VKD_BUF_NONE, r->dc, r->rho,
                                    r->normals ? r->n : VKD_BUF_NONE, r->x, P, &sh));
        if (r->normals) {
            VKD_TRY(op_fill(be, r->dtau4, 0.0f, p * 4));
            VKD_TRY(nerf_normal_backward(be, r->dtau4, r->dn, r->tau4, P, cfg->normal_h,
                                         cfg->normal_eps));
            // Recompute each chunk's tetrahedron activations, then go back through them.
            for (int p0 = 0; p0 < P; p0 += r->C_cap) {
                const int n = P - p0 < r->C_cap ? P - p0 : r->C_cap;
                vkd_buf_t xt, dtau;
                VKD_TRY(tetra_chunk(r, p0, n, &xt));
                VKD_TRY(sub(r->dtau4, (size_t)p0, (size_t)n, 4, &dtau));
                VKD_TRY(vkd_field_backward(r->field, &r->ws_t, dtau, VKD_BUF_NONE, xt, 4 * n));
            }
        }
        const int need_rho = r->view.mode != VKD_SHADE_TEXTURELESS;
        VKD_TRY(vkd_field_backward(r->field, &r->ws, r->dsigma, need_rho ? r->drho : VKD_BUF_NONE,
                                   r->x, P));
    }
    if (per_ray) VKD_TRY(vkd_field_bg_backward(r->field, &r->bws, r->dbg, R));
    return VKD_OK;
}

void vkd_nerf_render_set_reg_weights(vkd_nerf_renderer_t *r, float orient, float opacity,
                                     float entropy) {
    r->cfg.lambda_orient = orient, r->cfg.lambda_opacity = opacity, r->cfg.lambda_entropy = entropy;
}

vkd_status_t vkd_nerf_render_reg(vkd_nerf_renderer_t *r, double *orient, double *opacity,
                                 double *entropy) {
    if (!r->valid) return vkd_fail(VKD_ERR_INVALID, "NeRF render: no forward to read");
    const int R = r->R;
    float *buf = malloc(sizeof(float) * 2 * (size_t)R);
    if (!buf) return vkd_fail(VKD_ERR_NOMEM, "NeRF render: out of memory");
    vkd_status_t s = vkd_buf_read(r->orient, buf, sizeof(float) * (size_t)R);
    if (s == VKD_OK) s = vkd_buf_read(r->opacity, buf + R, sizeof(float) * (size_t)R);
    double so = 0, sa = 0, se = 0;
    for (int i = 0; i < R && s == VKD_OK; i++) {
        const double a = buf[R + i];
        so += buf[i], sa += a;
        if (a > 1e-5 && a < 1 - 1e-5) se += -a * log(a) - (1 - a) * log(1 - a);
    }
    free(buf);
    if (orient) *orient = so / R;
    if (opacity) *opacity = sa / R;
    if (entropy) *entropy = se / R;
    return s;
}

// ---- occupancy grid -------------------------------------------------------------------------

vkd_status_t vkd_nerf_grid_refresh(vkd_nerf_renderer_t *r, uint64_t step) {
    const vkd_nerf_config_t *cfg = &r->cfg;
    const int G = cfg->grid_res;
    if (G <= 0) return VKD_OK;
    const int cells = G * G * G, chunk = 4 * r->C_cap;
    const float var_add = vkd_nerf_ipe_var(cfg, (int64_t)step);
    // Probe points go to xt (4C, 3) and their densities to vt (4C): free outside a render.
    for (int c0 = 0; c0 < cells; c0 += chunk) {
        const int n = cells - c0 < chunk ? cells - c0 : chunk;
        VKD_TRY(nerf_grid_points(r->be, r->xt, G, cfg->bound, 1, cfg->seed, step, c0, n));
        VKD_TRY(vkd_field_forward(r->field, &r->ws_t, r->vt, VKD_BUF_NONE, r->xt, VKD_BUF_NONE, n,
                                  var_add));
        VKD_TRY(nerf_grid_update(r->be, r->grid, r->vt, G, cfg->bound, cfg->grid_decay, c0, n));
    }
    // The last render stays valid: its backward recomputes the tetrahedron chunks that the
    // probe points overwrote.
    r->grid_ready = 1;
    return VKD_OK;
}

vkd_status_t vkd_nerf_grid_step(vkd_nerf_renderer_t *r, uint64_t step, int *done) {
    const vkd_nerf_config_t *cfg = &r->cfg;
    const int due = cfg->grid_res > 0 && step >= (uint64_t)cfg->grid_warmup &&
                    (step - (uint64_t)cfg->grid_warmup) % (uint64_t)cfg->grid_every == 0;
    if (done) *done = due;
    return due ? vkd_nerf_grid_refresh(r, step) : VKD_OK;
}

vkd_status_t vkd_nerf_grid_occupancy(vkd_nerf_renderer_t *r, double *frac) {
    const int G = r->cfg.grid_res;
    *frac = 1.0;
    if (G <= 0 || !r->grid_ready) return VKD_OK;
    const size_t cells = (size_t)G * G * G;
    float *g = malloc(cells * sizeof(float));
    if (!g) return vkd_fail(VKD_ERR_NOMEM, "occupancy grid: out of memory");
    vkd_status_t s = vkd_buf_read(r->grid, g, cells * sizeof(float));
    const float cs = 2.0f * r->cfg.bound / (float)G;
    size_t inside = 0, occ = 0;
    for (size_t id = 0; id < cells && s == VKD_OK; id++) {
        const size_t ci[3] = {id / ((size_t)G * G), (id / (size_t)G) % (size_t)G, id % (size_t)G};
        float r2 = 0;
        for (int a = 0; a < 3; a++) {
            const float c = -r->cfg.bound + ((float)ci[a] + 0.5f) * cs;
            r2 += c * c;
        }
        if (sqrtf(r2) - 0.8660254f * cs > r->cfg.bound) continue;
        inside++;
        occ += g[id] > r->cfg.grid_thresh;
    }
    free(g);
    *frac = inside ? (double)occ / (double)inside : 0.0;
    return s;
}

void vkd_nerf_grid_enable(vkd_nerf_renderer_t *r, int on) { r->grid_on = on != 0; }
vkd_buf_t vkd_nerf_grid_buf(const vkd_nerf_renderer_t *r) { return r->grid; }
int vkd_nerf_grid_ready(const vkd_nerf_renderer_t *r) { return r->grid_ready; }
void vkd_nerf_grid_set_ready(vkd_nerf_renderer_t *r, int ready) { r->grid_ready = ready != 0; }
