// Backend bodies of the NeRF ops (nerf_ops.h): NAME_cpu in nerf_ops_cpu.c /
// nerf_render_ops_cpu.c, NAME_vk in nerf_ops_vk.c / nerf_render_ops_vk.c, each with exactly
// the signature of the public function (arguments already checked by nerf_ops.c).
#ifndef VKD_NERF_OPS_IMPL_H
#define VKD_NERF_OPS_IMPL_H

#include <math.h>

#include "nerf/nerf_ops.h"

#define NERF_BODIES(name, ...)                                                           \
    vkd_status_t name##_cpu(vkd_backend_t *be, __VA_ARGS__);                             \
    vkd_status_t name##_vk(vkd_backend_t *be, __VA_ARGS__)

NERF_BODIES(nerf_ipe_forward, vkd_buf_t feat, vkd_buf_t x, vkd_buf_t var, int P, int L,
            float var_add);
NERF_BODIES(nerf_ipe_backward, vkd_buf_t dx, vkd_buf_t dfeat, vkd_buf_t x, vkd_buf_t var, int P,
            int L, float var_add);
NERF_BODIES(nerf_tetra_points, vkd_buf_t xt, vkd_buf_t vt, vkd_buf_t x, vkd_buf_t var, int P,
            float h);
NERF_BODIES(nerf_heads_forward, vkd_buf_t sigma, vkd_buf_t rho, vkd_buf_t raw, vkd_buf_t x, int P,
            const vkd_nerf_heads_t *hd);
NERF_BODIES(nerf_heads_backward, vkd_buf_t draw, vkd_buf_t dsigma, vkd_buf_t drho, vkd_buf_t raw,
            vkd_buf_t x, int P, const vkd_nerf_heads_t *hd);
NERF_BODIES(nerf_normal_forward, vkd_buf_t n, vkd_buf_t tau4, int P, float h, float eps);
NERF_BODIES(nerf_normal_backward, vkd_buf_t dtau4, vkd_buf_t dn, vkd_buf_t tau4, int P, float h,
            float eps);
NERF_BODIES(nerf_shade_forward, vkd_buf_t c, vkd_buf_t rho, vkd_buf_t n, vkd_buf_t x, int P,
            const vkd_nerf_shade_t *sh);
NERF_BODIES(nerf_shade_backward, vkd_buf_t drho, vkd_buf_t dn, vkd_buf_t dc, vkd_buf_t rho,
            vkd_buf_t n, vkd_buf_t x, int P, const vkd_nerf_shade_t *sh);
NERF_BODIES(nerf_samples_count, vkd_buf_t counts, vkd_buf_t rays, vkd_buf_t grid,
            const vkd_nerf_samples_t *sd);
NERF_BODIES(nerf_samples_write, vkd_buf_t x, vkd_buf_t var, vkd_buf_t td, vkd_buf_t rays,
            vkd_buf_t offs, vkd_buf_t grid, int P, const vkd_nerf_samples_t *sd);
NERF_BODIES(nerf_composite_forward, vkd_buf_t rgb, vkd_buf_t opacity, vkd_buf_t depth,
            vkd_buf_t nmap, vkd_buf_t orient, vkd_buf_t w, vkd_buf_t sigma, vkd_buf_t c,
            vkd_buf_t n, vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
            const vkd_nerf_composite_t *cd);
NERF_BODIES(nerf_composite_backward, vkd_buf_t dsigma, vkd_buf_t dc, vkd_buf_t dn, vkd_buf_t drgb,
            vkd_buf_t dopacity, vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n, vkd_buf_t w,
            vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P, const vkd_nerf_composite_t *cd);
NERF_BODIES(nerf_background_forward, vkd_buf_t rgb, vkd_buf_t fg, vkd_buf_t opacity, vkd_buf_t bg,
            int R, int per_ray);
NERF_BODIES(nerf_background_backward, vkd_buf_t dopacity, vkd_buf_t dbg, vkd_buf_t drgb,
            vkd_buf_t opacity, vkd_buf_t bg, int R, int per_ray);
NERF_BODIES(nerf_grid_points, vkd_buf_t x, int G, float bound, int jitter, uint64_t seed,
            uint64_t step, int cell0, int N);
NERF_BODIES(nerf_grid_update, vkd_buf_t grid, vkd_buf_t sigma, int G, float bound, float decay,
            int cell0, int N);

// The regular tetrahedron's corners (unnormalised, |v_k| = sqrt 3), shared by the CPU
// bodies; the shaders hold the same table.
static const float VKD_NERF_TETRA[4][3] = {{1, 1, 1}, {1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}};

// Sample geometry shared by the CPU body and the tests' references: the ray/sphere
// interval [t0, t1] of ray (o, d) (returns 0 when the ray misses or the sphere is behind).
static inline int vkd_nerf_ray_sphere(const float o[3], const float d[3], float bound,
                                      float *t0, float *t1) {
    const float b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
    const float c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - bound * bound;
    const float disc = b * b - c;
    if (!(disc > 0.0f)) return 0;
    const float sq = sqrtf(disc);
    const float hi = -b + sq, lo = -b - sq;
    *t0 = lo > 0.0f ? lo : 0.0f;
    *t1 = hi;
    return hi > *t0;
}

#endif
