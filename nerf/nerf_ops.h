// The NeRF-specific compute ops: integrated positional encoding, tetrahedral probe points,
// the density/albedo heads, finite-difference normals, Lambertian shading, ray sampling,
// alpha compositing and the occupancy grid. Each has a CPU body (nerf_ops_cpu.c,
// nerf_render_ops_cpu.c) and a Vulkan body (nerf_ops_vk.c, shaders/nerf_*.comp), chosen
// by the backend kind; the wrappers (nerf_ops.c) check sizes and buffers first. The MLP
// itself is built from the generic ops of src/ops.h.
//
// Conventions as in src/ops.h: argument order backend, outputs, saved state, inputs,
// sizes; backward functions ACCUMULATE (dx += ...); on Vulkan everything is recorded.
//
// Samples are packed per ray: ray r owns samples [offs[r], offs[r+1]) in order of
// increasing t, so empty space skipped by the occupancy grid costs nothing downstream.
// Integer buffers (counts, offsets) hold uint32 values in float-sized slots.
#ifndef VKD_NERF_OPS_H
#define VKD_NERF_OPS_H

#include <stdint.h>

#include "backend.h"

// A ray: origin (3), unit direction (3), cone radius per unit distance (mip-NeRF's r dot,
// the pixel's footprint at distance 1 times 2/sqrt(12)), one unused slot.
#define VKD_NERF_RAY_STRIDE 8

// Philox streams (key = the seed): samples use stream low word NERF_SAMPLE_STREAM with
// the step as high word; grid probe points likewise with NERF_GRID_STREAM.
#define VKD_NERF_SAMPLE_STREAM 0x4e534d50u // "NSMP"
#define VKD_NERF_GRID_STREAM 0x4e475244u   // "NGRD"

// Features per point of the encoding with L frequencies: x itself, then sin and cos.
static inline int vkd_nerf_ipe_dim(int L) { return 3 + 6 * L; }

// ---- integrated positional encoding (mip-NeRF) ---------------------------------------------
// feat (P, 3 + 6L) = [x, sin(2^l x_a) e_l, cos(2^l x_a) e_l] (l outer, axis a inner; all
// sines before all cosines), e_l = exp(-4^l v / 2) with v = var[p] + var_add (var may be
// NONE: 0). That is E[sin(2^l X)] for X ~ N(x, v I): frequencies finer than the sample's
// footprint fade out instead of aliasing.
vkd_status_t nerf_ipe_forward(vkd_backend_t *be, vkd_buf_t feat, vkd_buf_t x, vkd_buf_t var,
                              int P, int L, float var_add);
// dx (P, 3) += dfeat (P, 3 + 6L) . dfeat/dx (the variance is a constant, no gradient).
vkd_status_t nerf_ipe_backward(vkd_backend_t *be, vkd_buf_t dx, vkd_buf_t dfeat, vkd_buf_t x,
                               vkd_buf_t var, int P, int L, float var_add);

// ---- tetrahedral probe points --------------------------------------------------------------
// xt (P, 4, 3) = x (P, 3) + h v_k and vt (P, 4) = var (P), with v_k the corners
// (1,1,1), (1,-1,-1), (-1,1,-1), (-1,-1,1) of a regular tetrahedron. Positions are
// constants of the render, so there is no backward.
vkd_status_t nerf_tetra_points(vkd_backend_t *be, vkd_buf_t xt, vkd_buf_t vt, vkd_buf_t x,
                               vkd_buf_t var, int P, float h);

// ---- density and albedo heads --------------------------------------------------------------
// sigma (P) = act(raw[p,0] + blob(x_p)), blob(x) = lambda exp(-|x|^2 / (2 s^2)) (the
// initial density bias of DreamFusion), act exp (argument clamped at
// VKD_NERF_EXP_MAX, as trunc_exp) or softplus; rho (P, 3) = sigmoid(raw[p,1..3]) (NONE: not
// computed).
#define VKD_NERF_EXP_MAX 15.0f
typedef struct {
    int act;           // VKD_ACT_EXP or VKD_ACT_SOFTPLUS
    float blob_lambda; // lambda_tau
    float blob_sigma;  // s
    // 1: sigma gets the pre-activation itself (the log-density for exp) and rho must be
    // NONE. Normals difference this: the activation is monotone, so its gradient points
    // the same way as the density's, and it is far closer to linear over a tetrahedron
    // than an exponential density (whose differences are biased by the tetrahedron's
    // uncancelled second-order term).
    int pre_only;
} vkd_nerf_heads_t;
vkd_status_t nerf_heads_forward(vkd_backend_t *be, vkd_buf_t sigma, vkd_buf_t rho, vkd_buf_t raw,
                                vkd_buf_t x, int P, const vkd_nerf_heads_t *hd);
// draw (P, 4) += ...; dsigma (P) and drho (P, 3) may each be NONE. Above the exp clamp the
// density gradient is that of the clamped value's exp (trunc_exp), not 0.
vkd_status_t nerf_heads_backward(vkd_backend_t *be, vkd_buf_t draw, vkd_buf_t dsigma,
                                 vkd_buf_t drho, vkd_buf_t raw, vkd_buf_t x, int P,
                                 const vkd_nerf_heads_t *hd);

// ---- normals by tetrahedral finite differences ---------------------------------------------
// tau4 (P, 4) holds a density-like field (the renderer passes the density's
// pre-activation, see vkd_nerf_heads_t.pre_only) at the corners x + h v_k;
// g = sum_k v_k tau4[p,k] / (4h) (exact for a linear field, since sum v_k v_k^T = 4 I;
// O(h) for others: the tetrahedron does not cancel second-order terms),
// n (P, 3) = -g / sqrt(|g|^2 + eps^2).
vkd_status_t nerf_normal_forward(vkd_backend_t *be, vkd_buf_t n, vkd_buf_t tau4, int P, float h,
                                 float eps);
// dtau4 (P, 4) += dn (P, 3) . dn/dtau4
vkd_status_t nerf_normal_backward(vkd_backend_t *be, vkd_buf_t dtau4, vkd_buf_t dn,
                                  vkd_buf_t tau4, int P, float h, float eps);

// ---- shading (src/shading.h's vkd_shade, per sample) ---------------------------------------
typedef struct {
    int mode;        // vkd_shade_mode_t
    float light[3];  // point light position
    float diffuse;   // l_d
    float ambient;   // l_a
} vkd_nerf_shade_t;
// c (P, 3) = vkd_shade(mode, light, rho, n, x). n may be NONE only in albedo mode.
vkd_status_t nerf_shade_forward(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t rho, vkd_buf_t n,
                                vkd_buf_t x, int P, const vkd_nerf_shade_t *sh);
// drho (P, 3), dn (P, 3) += ...; either may be NONE. max(0, .) has derivative 0 at 0.
vkd_status_t nerf_shade_backward(vkd_backend_t *be, vkd_buf_t drho, vkd_buf_t dn, vkd_buf_t dc,
                                 vkd_buf_t rho, vkd_buf_t n, vkd_buf_t x, int P,
                                 const vkd_nerf_shade_t *sh);

// ---- stratified samples inside the bounding sphere -----------------------------------------
// Ray r meets the sphere |x| < bound in [t0, t1] (t0 >= 0); it gets S strata of length
// delta = (t1 - t0) / S and sample i sits at t = t0 + (i + u) delta, u uniform (Philox,
// element r*S + i of stream (NERF_SAMPLE_STREAM, step)) or 1/2 without jitter. The sample
// is a Gaussian: mean o + t d and isotropic variance (s_t^2 + 2 s_r^2) / 3 with
// s_t^2 = (delta/2)^2 / 3 along the ray and s_r^2 = rdot^2 (t^2/4 + 5 (delta/2)^2 / 12)
// across it (mip-NeRF's conical frustum, averaged over the axes). With a grid (G^3 cells
// over the cube [-bound, bound]^3), only samples whose cell holds a value > grid_thresh
// are kept.
typedef struct {
    int R, S;
    float bound;
    int jitter;
    uint64_t seed, step;
    int grid_res;      // G (0: no grid)
    float grid_thresh;
} vkd_nerf_samples_t;
// counts (R) = number of kept samples per ray. grid (G^3) or NONE.
vkd_status_t nerf_samples_count(vkd_backend_t *be, vkd_buf_t counts, vkd_buf_t rays,
                                vkd_buf_t grid, const vkd_nerf_samples_t *sd);
// The kept samples at offs[r] + j: x (P, 3), var (P), td (P, 2) = (t, delta); offs (R + 1)
// is the exclusive prefix sum of the counts, P = offs[R]. P = 0 records nothing.
vkd_status_t nerf_samples_write(vkd_backend_t *be, vkd_buf_t x, vkd_buf_t var, vkd_buf_t td,
                                vkd_buf_t rays, vkd_buf_t offs, vkd_buf_t grid, int P,
                                const vkd_nerf_samples_t *sd);

// ---- alpha compositing ---------------------------------------------------------------------
// Per ray, over its samples i: alpha_i = 1 - exp(-sigma_i delta_i), T_i = prod_{j<i}
// (1 - alpha_j), w_i = T_i alpha_i, A = sum w_i;
//   rgb = sum w_i c_i (the foreground; nerf_background_* adds (1 - A) bg),
//   depth = sum w_i t_i / A (0 when A <= 1e-6),
//   nmap = normalise(sum w_i n_i) (0 when it vanishes),
//   orient = sum w_i max(0, n_i . d)^2 (the orientation loss term of the ray).
typedef struct {
    int R;
    // Regulariser weights for the backward: loss += sum_r lambda_orient orient_r
    //   (w_i held constant) + lambda_opacity A_r + lambda_entropy H(A_r),
    // H the binary entropy (constant outside A in [1e-5, 1 - 1e-5]). Divide by R for means.
    float lambda_orient, lambda_opacity, lambda_entropy;
} vkd_nerf_composite_t;
// rgb (R, 3), opacity (R), depth (R), w (P) required; nmap (R, 3) and orient (R) need n
// (P, 3) and rays (R, 8) (for d).
vkd_status_t nerf_composite_forward(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t opacity,
                                    vkd_buf_t depth, vkd_buf_t nmap, vkd_buf_t orient,
                                    vkd_buf_t w, vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n,
                                    vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                    const vkd_nerf_composite_t *cd);
// Given drgb (R, 3) and dopacity (R) (an outside loss on A, e.g. from the background
// blend; NONE: 0), plus the regularisers: dsigma (P), dc (P, 3) += ...; dn (P, 3) += the
// orientation gradient (needs n, rays and the forward's w; NONE: skipped).
vkd_status_t nerf_composite_backward(vkd_backend_t *be, vkd_buf_t dsigma, vkd_buf_t dc,
                                     vkd_buf_t dn, vkd_buf_t drgb, vkd_buf_t dopacity,
                                     vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n, vkd_buf_t w,
                                     vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                     const vkd_nerf_composite_t *cd);

// Background blend: rgb (R, 3) = fg (R, 3) + (1 - A) bg, bg (R, 3) when per_ray else one
// colour (3). rgb may alias fg.
vkd_status_t nerf_background_forward(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t fg,
                                     vkd_buf_t opacity, vkd_buf_t bg, int R, int per_ray);
// dopacity (R) += -drgb . bg; dbg (R, 3) += (1 - A) drgb (per_ray only; NONE: skipped). The
// gradient of fg is drgb itself.
vkd_status_t nerf_background_backward(vkd_backend_t *be, vkd_buf_t dopacity, vkd_buf_t dbg,
                                      vkd_buf_t drgb, vkd_buf_t opacity, vkd_buf_t bg, int R,
                                      int per_ray);

// ---- occupancy grid --------------------------------------------------------------------------
// Probe points of cells [cell0, cell0 + N) of a G^3 grid over [-bound, bound]^3 (cell
// index (i*G + j)*G + k for x index i, y j, z k): x (N, 3) = the cell's corner + (u + 0.5)
// cell size per axis, u uniform in [-1/2, 1/2) (Philox, stream (NERF_GRID_STREAM, step),
// element 3 (cell) + axis) or 0 (centres) without jitter.
vkd_status_t nerf_grid_points(vkd_backend_t *be, vkd_buf_t x, int G, float bound, int jitter,
                              uint64_t seed, uint64_t step, int cell0, int N);
// grid[cell0 + i] = max(decay * grid[cell0 + i], sigma[i]) for i < N, and 0 for cells
// entirely outside the bounding sphere (nothing is ever sampled there).
vkd_status_t nerf_grid_update(vkd_backend_t *be, vkd_buf_t grid, vkd_buf_t sigma, int G,
                              float bound, float decay, int cell0, int N);

#endif
