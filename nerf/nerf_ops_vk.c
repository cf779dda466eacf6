// Vulkan bodies of the NeRF ops: push-constant mirrors of shaders/nerf_*.comp and their
// dispatches. Per-point kernels are grid-stride 1-D dispatches; per-ray kernels (samples,
// compositing) run one invocation per ray.
//
// Loop budget (lavapipe stops an invocation's loops after 65535 passes, src/vk.h): the
// per-point kernels loop over at most a few points per invocation (65535 x 64 of them
// cover 4M points) times L <= 16 frequencies; the per-ray kernels over one ray's <= S
// samples (S <= 4096, plus one Philox block of 11 passes per 4 samples when jittered:
// <= 16k passes); the grid kernel over a few cells of 3 Philox blocks each. All stay far
// below the budget, so no op here needs to split its work.
#include <stdint.h>

#include "nerf/nerf_ops_impl.h"
#include "vk.h"

static uint32_t cdiv_u32(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

#define PER_RAY_WG 64u // local size of the per-ray shaders

typedef struct {
    uint32_t P, L, has_var;
    float var_add;
} pc_ipe_t;
_Static_assert(sizeof(pc_ipe_t) == 16, "mirrors shaders/nerf_ipe_fwd.comp, nerf_ipe_bwd.comp");

typedef struct {
    uint32_t P;
    float h;
} pc_tetra_t;
_Static_assert(sizeof(pc_tetra_t) == 8, "mirrors shaders/nerf_tetra.comp");

typedef struct {
    uint32_t P, act, has_rho, pre_only;
    float blob_lambda, blob_sigma, exp_max;
} pc_heads_fwd_t;
_Static_assert(sizeof(pc_heads_fwd_t) == 28, "mirrors shaders/nerf_heads_fwd.comp");

typedef struct {
    uint32_t P, act, has_dsigma, has_drho, pre_only;
    float blob_lambda, blob_sigma, exp_max;
} pc_heads_bwd_t;
_Static_assert(sizeof(pc_heads_bwd_t) == 32, "mirrors shaders/nerf_heads_bwd.comp");

typedef struct {
    uint32_t P;
    float h, eps;
} pc_normal_t;
_Static_assert(sizeof(pc_normal_t) == 12, "mirrors shaders/nerf_normal_fwd.comp, nerf_normal_bwd.comp");

typedef struct {
    uint32_t P, mode;
    float lx, ly, lz, diffuse, ambient;
} pc_shade_fwd_t;
_Static_assert(sizeof(pc_shade_fwd_t) == 28, "mirrors shaders/nerf_shade_fwd.comp");

typedef struct {
    uint32_t P, mode, has_drho, has_dn;
    float lx, ly, lz, diffuse, ambient;
} pc_shade_bwd_t;
_Static_assert(sizeof(pc_shade_bwd_t) == 36, "mirrors shaders/nerf_shade_bwd.comp");

typedef struct {
    uint32_t R, S, mode, jitter;
    float bound;
    uint32_t G;
    float grid_thresh;
    uint32_t seed_lo, seed_hi, stream_lo, stream_hi, P;
} pc_samples_t;
_Static_assert(sizeof(pc_samples_t) == 48, "mirrors shaders/nerf_samples.comp");

typedef struct {
    uint32_t R;
} pc_comp_fwd_t;
_Static_assert(sizeof(pc_comp_fwd_t) == 4, "mirrors shaders/nerf_composite_fwd.comp");

typedef struct {
    uint32_t R, has_nmap, has_orient;
} pc_comp_normal_t;
_Static_assert(sizeof(pc_comp_normal_t) == 12, "mirrors shaders/nerf_composite_normal.comp");

typedef struct {
    uint32_t R, has_dopacity;
    float lambda_opacity, lambda_entropy;
} pc_comp_bwd_t;
_Static_assert(sizeof(pc_comp_bwd_t) == 16, "mirrors shaders/nerf_composite_bwd.comp");

typedef struct {
    uint32_t R;
    float lambda_orient;
} pc_comp_orient_t;
_Static_assert(sizeof(pc_comp_orient_t) == 8, "mirrors shaders/nerf_composite_orient.comp");

typedef struct {
    uint32_t R, per_ray, mode, has_dbg;
} pc_background_t;
_Static_assert(sizeof(pc_background_t) == 16, "mirrors shaders/nerf_background.comp");

typedef struct {
    uint32_t mode, G;
    float bound;
    uint32_t jitter, seed_lo, seed_hi, stream_lo, stream_hi, cell0, N;
    float decay;
} pc_grid_t;
_Static_assert(sizeof(pc_grid_t) == 44, "mirrors shaders/nerf_grid.comp");

// ---- per-point ops ------------------------------------------------------------------------

vkd_status_t nerf_ipe_forward_vk(vkd_backend_t *be, vkd_buf_t feat, vkd_buf_t x, vkd_buf_t var,
                                 int P, int L, float var_add) {
    // feat (P, 3 + 6L), x (P, 3), var (P) or NONE
    const vkd_buf_t bufs[] = {feat, x, var};
    const pc_ipe_t pc = {(uint32_t)P, (uint32_t)L, (uint32_t)vkd_buf_present(var), var_add};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_ipe_fwd, bufs, 3, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_ipe_backward_vk(vkd_backend_t *be, vkd_buf_t dx, vkd_buf_t dfeat, vkd_buf_t x,
                                  vkd_buf_t var, int P, int L, float var_add) {
    // dx (P, 3), dfeat (P, 3 + 6L), x (P, 3), var (P) or NONE
    const vkd_buf_t bufs[] = {dx, dfeat, x, var};
    const pc_ipe_t pc = {(uint32_t)P, (uint32_t)L, (uint32_t)vkd_buf_present(var), var_add};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_ipe_bwd, bufs, 4, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_tetra_points_vk(vkd_backend_t *be, vkd_buf_t xt, vkd_buf_t vt, vkd_buf_t x,
                                  vkd_buf_t var, int P, float h) {
    // xt (P, 4, 3), vt (P, 4), x (P, 3), var (P)
    const vkd_buf_t bufs[] = {xt, vt, x, var};
    const pc_tetra_t pc = {(uint32_t)P, h};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_tetra, bufs, 4, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_heads_forward_vk(vkd_backend_t *be, vkd_buf_t sigma, vkd_buf_t rho,
                                   vkd_buf_t raw, vkd_buf_t x, int P, const vkd_nerf_heads_t *hd) {
    // sigma (P), rho (P, 3) or NONE, raw (P, 4), x (P, 3)
    const vkd_buf_t bufs[] = {sigma, rho, raw, x};
    const pc_heads_fwd_t pc = {(uint32_t)P, (uint32_t)hd->act, (uint32_t)vkd_buf_present(rho),
                               (uint32_t)hd->pre_only, hd->blob_lambda, hd->blob_sigma,
                               VKD_NERF_EXP_MAX};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_heads_fwd, bufs, 4, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_heads_backward_vk(vkd_backend_t *be, vkd_buf_t draw, vkd_buf_t dsigma,
                                    vkd_buf_t drho, vkd_buf_t raw, vkd_buf_t x, int P,
                                    const vkd_nerf_heads_t *hd) {
    // draw (P, 4), dsigma (P) or NONE, drho (P, 3) or NONE, raw (P, 4), x (P, 3)
    const vkd_buf_t bufs[] = {draw, dsigma, drho, raw, x};
    const pc_heads_bwd_t pc = {(uint32_t)P, (uint32_t)hd->act, (uint32_t)vkd_buf_present(dsigma),
                               (uint32_t)vkd_buf_present(drho), (uint32_t)hd->pre_only,
                               hd->blob_lambda, hd->blob_sigma, VKD_NERF_EXP_MAX};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_heads_bwd, bufs, 5, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_normal_forward_vk(vkd_backend_t *be, vkd_buf_t n, vkd_buf_t tau4, int P, float h,
                                    float eps) {
    // n (P, 3), tau4 (P, 4)
    const vkd_buf_t bufs[] = {n, tau4};
    const pc_normal_t pc = {(uint32_t)P, h, eps};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_normal_fwd, bufs, 2, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_normal_backward_vk(vkd_backend_t *be, vkd_buf_t dtau4, vkd_buf_t dn,
                                     vkd_buf_t tau4, int P, float h, float eps) {
    // dtau4 (P, 4), dn (P, 3), tau4 (P, 4)
    const vkd_buf_t bufs[] = {dtau4, dn, tau4};
    const pc_normal_t pc = {(uint32_t)P, h, eps};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_normal_bwd, bufs, 3, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_shade_forward_vk(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t rho, vkd_buf_t n,
                                   vkd_buf_t x, int P, const vkd_nerf_shade_t *sh) {
    // c (P, 3), rho (P, 3), n (P, 3) or NONE, x (P, 3)
    const vkd_buf_t bufs[] = {c, rho, n, x};
    const pc_shade_fwd_t pc = {(uint32_t)P, (uint32_t)sh->mode, sh->light[0], sh->light[1],
                               sh->light[2], sh->diffuse, sh->ambient};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_shade_fwd, bufs, 4, &pc, sizeof pc, (uint64_t)P);
}

vkd_status_t nerf_shade_backward_vk(vkd_backend_t *be, vkd_buf_t drho, vkd_buf_t dn, vkd_buf_t dc,
                                    vkd_buf_t rho, vkd_buf_t n, vkd_buf_t x, int P,
                                    const vkd_nerf_shade_t *sh) {
    // drho (P, 3) or NONE, dn (P, 3) or NONE, dc, rho (P, 3), n (P, 3) or NONE, x (P, 3)
    const vkd_buf_t bufs[] = {drho, dn, dc, rho, n, x};
    const pc_shade_bwd_t pc = {(uint32_t)P, (uint32_t)sh->mode, (uint32_t)vkd_buf_present(drho),
                               (uint32_t)vkd_buf_present(dn), sh->light[0], sh->light[1],
                               sh->light[2], sh->diffuse, sh->ambient};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_shade_bwd, bufs, 6, &pc, sizeof pc, (uint64_t)P);
}

// ---- per-ray ops --------------------------------------------------------------------------

static pc_samples_t samples_pc(const vkd_nerf_samples_t *sd, uint32_t mode, int P) {
    const uint64_t stream = (uint64_t)VKD_NERF_SAMPLE_STREAM | (sd->step << 32);
    return (pc_samples_t){
        .R = (uint32_t)sd->R, .S = (uint32_t)sd->S, .mode = mode, .jitter = sd->jitter != 0,
        .bound = sd->bound, .G = (uint32_t)sd->grid_res, .grid_thresh = sd->grid_thresh,
        .seed_lo = (uint32_t)sd->seed, .seed_hi = (uint32_t)(sd->seed >> 32),
        .stream_lo = (uint32_t)stream, .stream_hi = (uint32_t)(stream >> 32), .P = (uint32_t)P,
    };
}

vkd_status_t nerf_samples_count_vk(vkd_backend_t *be, vkd_buf_t counts, vkd_buf_t rays,
                                   vkd_buf_t grid, const vkd_nerf_samples_t *sd) {
    // counts (R), rays (R, 8), grid (G^3) or NONE
    const vkd_buf_t bufs[] = {counts, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, rays,
                              VKD_BUF_NONE, grid};
    const pc_samples_t pc = samples_pc(sd, 0, 0);
    return vkd_vk_dispatch(be, VKD_SH_nerf_samples, bufs, 7, &pc, sizeof pc,
                           cdiv_u32((uint64_t)sd->R, PER_RAY_WG), 1, 1);
}

vkd_status_t nerf_samples_write_vk(vkd_backend_t *be, vkd_buf_t x, vkd_buf_t var, vkd_buf_t td,
                                   vkd_buf_t rays, vkd_buf_t offs, vkd_buf_t grid, int P,
                                   const vkd_nerf_samples_t *sd) {
    // x (P, 3), var (P), td (P, 2), rays (R, 8), offs (R + 1), grid (G^3) or NONE
    const vkd_buf_t bufs[] = {VKD_BUF_NONE, x, var, td, rays, offs, grid};
    const pc_samples_t pc = samples_pc(sd, 1, P);
    return vkd_vk_dispatch(be, VKD_SH_nerf_samples, bufs, 7, &pc, sizeof pc,
                           cdiv_u32((uint64_t)sd->R, PER_RAY_WG), 1, 1);
}

vkd_status_t nerf_composite_forward_vk(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t opacity,
                                       vkd_buf_t depth, vkd_buf_t nmap, vkd_buf_t orient,
                                       vkd_buf_t w, vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n,
                                       vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                       const vkd_nerf_composite_t *cd) {
    (void)P;
    // rgb (R, 3), opacity (R), depth (R), w (P), sigma (P), c (P, 3), td (P, 2), offs (R + 1)
    const uint32_t groups = cdiv_u32((uint64_t)cd->R, PER_RAY_WG);
    const vkd_buf_t b1[] = {rgb, opacity, depth, w, sigma, c, td, offs};
    const pc_comp_fwd_t p1 = {(uint32_t)cd->R};
    VKD_TRY(vkd_vk_dispatch(be, VKD_SH_nerf_composite_fwd, b1, 8, &p1, sizeof p1, groups, 1, 1));
    if (!vkd_buf_present(n)) return VKD_OK;
    // nmap (R, 3) or NONE, orient (R) or NONE, w (P), n (P, 3), offs (R + 1), rays (R, 8)
    const vkd_buf_t b2[] = {nmap, orient, w, n, offs, rays};
    const pc_comp_normal_t p2 = {(uint32_t)cd->R, (uint32_t)vkd_buf_present(nmap),
                                 (uint32_t)vkd_buf_present(orient)};
    return vkd_vk_dispatch(be, VKD_SH_nerf_composite_normal, b2, 6, &p2, sizeof p2, groups, 1, 1);
}

vkd_status_t nerf_composite_backward_vk(vkd_backend_t *be, vkd_buf_t dsigma, vkd_buf_t dc,
                                        vkd_buf_t dn, vkd_buf_t drgb, vkd_buf_t dopacity,
                                        vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n, vkd_buf_t w,
                                        vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                        const vkd_nerf_composite_t *cd) {
    (void)P;
    const uint32_t groups = cdiv_u32((uint64_t)cd->R, PER_RAY_WG);
    // dsigma (P), dc (P, 3), drgb (R, 3), dopacity (R) or NONE, sigma (P), c (P, 3),
    // td (P, 2), offs (R + 1)
    const vkd_buf_t b1[] = {dsigma, dc, drgb, dopacity, sigma, c, td, offs};
    const pc_comp_bwd_t p1 = {(uint32_t)cd->R, (uint32_t)vkd_buf_present(dopacity),
                              cd->lambda_opacity, cd->lambda_entropy};
    VKD_TRY(vkd_vk_dispatch(be, VKD_SH_nerf_composite_bwd, b1, 8, &p1, sizeof p1, groups, 1, 1));
    if (!vkd_buf_present(dn)) return VKD_OK;
    // dn (P, 3), w (P), n (P, 3), offs (R + 1), rays (R, 8)
    const vkd_buf_t b2[] = {dn, w, n, offs, rays};
    const pc_comp_orient_t p2 = {(uint32_t)cd->R, cd->lambda_orient};
    return vkd_vk_dispatch(be, VKD_SH_nerf_composite_orient, b2, 5, &p2, sizeof p2, groups, 1, 1);
}

vkd_status_t nerf_background_forward_vk(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t fg,
                                        vkd_buf_t opacity, vkd_buf_t bg, int R, int per_ray) {
    // rgb (R, 3), fg (R, 3), opacity (R), bg (R, 3) or (3)
    const vkd_buf_t bufs[] = {rgb, fg, VKD_BUF_NONE, opacity, bg};
    const pc_background_t pc = {(uint32_t)R, (uint32_t)per_ray, 0, 0};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_background, bufs, 5, &pc, sizeof pc, (uint64_t)R);
}

vkd_status_t nerf_background_backward_vk(vkd_backend_t *be, vkd_buf_t dopacity, vkd_buf_t dbg,
                                         vkd_buf_t drgb, vkd_buf_t opacity, vkd_buf_t bg, int R,
                                         int per_ray) {
    // dopacity (R), dbg (R, 3) or NONE, drgb (R, 3), opacity (R), bg (R, 3) or (3)
    const vkd_buf_t bufs[] = {dopacity, dbg, drgb, opacity, bg};
    const pc_background_t pc = {(uint32_t)R, (uint32_t)per_ray, 1, (uint32_t)vkd_buf_present(dbg)};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_background, bufs, 5, &pc, sizeof pc, (uint64_t)R);
}

// ---- occupancy grid -------------------------------------------------------------------------

vkd_status_t nerf_grid_points_vk(vkd_backend_t *be, vkd_buf_t x, int G, float bound, int jitter,
                                 uint64_t seed, uint64_t step, int cell0, int N) {
    // x (N, 3)
    const uint64_t stream = (uint64_t)VKD_NERF_GRID_STREAM | (step << 32);
    const vkd_buf_t bufs[] = {x, VKD_BUF_NONE};
    const pc_grid_t pc = {0, (uint32_t)G, bound, (uint32_t)(jitter != 0), (uint32_t)seed,
                          (uint32_t)(seed >> 32), (uint32_t)stream, (uint32_t)(stream >> 32),
                          (uint32_t)cell0, (uint32_t)N, 0.0f};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_grid, bufs, 2, &pc, sizeof pc, (uint64_t)N);
}

vkd_status_t nerf_grid_update_vk(vkd_backend_t *be, vkd_buf_t grid, vkd_buf_t sigma, int G,
                                 float bound, float decay, int cell0, int N) {
    // grid (G^3), sigma (N)
    const vkd_buf_t bufs[] = {grid, sigma};
    const pc_grid_t pc = {1, (uint32_t)G, bound, 0, 0, 0, 0, 0, (uint32_t)cell0, (uint32_t)N, decay};
    return vkd_vk_dispatch_1d(be, VKD_SH_nerf_grid, bufs, 2, &pc, sizeof pc, (uint64_t)N);
}
