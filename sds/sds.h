// Score distillation sampling (DreamFusion, arXiv:2209.14988): the gradient a frozen
// diffusion prior gives an image, without backpropagating through the prior.
//
// For an image x (C, H, W) with pixel values in [0, 1] (the renderer's output, linear RGB):
//   y     = the prior-range image (vkd_prior_to_range: lo + (hi - lo) enc(x))
//   t     ~ U{lo_t .. hi_t}, lo_t = round(t_min T), hi_t = round(t_max T), clamped to [0, T)
//   eps   ~ N(0, I)
//   z_t   = sqrt(abar_t) y + sqrt(1 - abar_t) eps
//   eps^  = guided prediction (prior.h: cond and uncond/negative as one batch of 2)
//   g     = w(t) (eps^ - eps), non-finite elements set to 0 (counted), then clamped to
//           [-grad_clip, grad_clip] when grad_clip > 0
//   grad  = g * dy/dx   (the chain rule through the range mapping: (hi - lo) enc'(x))
// so grad is the gradient with respect to x of the surrogate loss 0.5 |y - stopgrad(y - g)|^2,
// whose value 0.5 |g|^2 per image is reported as `loss`.
// Weightings w(t): VKD_SDS_W_SDS = 1 - abar_t (DreamFusion's default), VKD_SDS_W_UNIFORM = 1,
// VKD_SDS_W_FANTASIA3D = sqrt(abar_t) (1 - abar_t).
// Guidance: prior.h's vkd_cfg_t; the scale means s in eps_u + s (eps_c - eps_u) with
// VKD_CFG_LDM and w in (1 + w) eps_c - w eps_u with VKD_CFG_DREAMFUSION (DreamFusion's
// "guidance 100" is w = 100, i.e. LDM s = 101).
//
// Randomness: image b of SDS step `step` uses Philox keyed by the options' seed:
//   t:   stream VKD_SDS_T_STREAM + b * 2^32, block `step`, word 0 (uniform)
//   eps: op_rng_normal's mapping with stream VKD_SDS_EPS_STREAM + b * 2^32 and offset
//        step * 2^26 (so an image has at most 2^26 elements)
// so a step is reproducible on any backend and independent of every other draw.
// vkd_sds_draw returns exactly what vkd_sds_grad uses.
#ifndef VKD_SDS_SDS_H
#define VKD_SDS_SDS_H

#include <stddef.h>
#include <stdint.h>

#include "prior.h"

#define VKD_SDS_T_STREAM 0x53445354u   // "SDST"
#define VKD_SDS_EPS_STREAM 0x53445345u // "SDSE"
#define VKD_SDS_MAX_ELEMENTS ((size_t)1 << 26)

typedef enum {
    VKD_SDS_W_SDS = 0,       // 1 - abar_t
    VKD_SDS_W_UNIFORM = 1,   // 1
    VKD_SDS_W_FANTASIA3D = 2 // sqrt(abar_t) (1 - abar_t)
} vkd_sds_weighting_t;

typedef struct {
    vkd_cfg_t guidance;             // (20, VKD_CFG_LDM): NOTES.md's value for ShapeWorld
    float t_min, t_max;             // fractions of T, 0 <= t_min <= t_max <= 1 (0.02, 0.98)
    vkd_sds_weighting_t weighting;  // (VKD_SDS_W_SDS)
    float grad_clip;                // 0: off
    uint64_t seed;                  // (0)
} vkd_sds_opts_t;

vkd_sds_opts_t vkd_sds_opts_default(void);

typedef struct {
    int n_nonfinite; // elements of eps^ - eps that were NaN or infinite (set to 0)
    int n_clipped;   // elements clamped by grad_clip
    double loss;     // mean over the batch of 0.5 |g|^2
    double mean_w;   // mean w(t) over the batch
} vkd_sds_stats_t;

// grad (B, C, H, W) for images x (B, C, H, W) in [0, 1] (C, H, W = the prior's), at SDS step
// `step`. cond[b] / uncond[b] are handles of p (uncond[b] may be a negative prompt's);
// uncond may be NULL only when the guidance is neutral (LDM 1 / DreamFusion 0), which then
// runs the conditional batch alone. t_out (B) and stats may be NULL.
vkd_status_t vkd_sds_grad(vkd_prior_t *p, float *grad, const float *x, int B,
                          const vkd_prior_cond_t *const *cond,
                          const vkd_prior_cond_t *const *uncond, const vkd_sds_opts_t *o,
                          uint64_t step, int *t_out, vkd_sds_stats_t *stats);

// The timestep and noise (C, H, W; may be NULL) of image b at SDS step `step`.
vkd_status_t vkd_sds_draw(const vkd_prior_t *p, const vkd_sds_opts_t *o, uint64_t step, int b,
                          int *t, float *eps);

// w(t) of a weighting.
double vkd_sds_weight(const vkd_prior_t *p, vkd_sds_weighting_t w, int t);

// n standard normals on the host, element for element what op_rng_normal(seed, stream,
// offset) gives on a backend (Box-Muller on Philox blocks, see ops.h).
void vkd_normal_host(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset);

#endif
