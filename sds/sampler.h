// 2D sampling from a prior (prior.h) with classifier-free guidance: DDIM and DDPM
// ancestral. Used to check a prior by eye (`vkdream sample`) and in tests.
//
// - DDIM (Song et al.): LDM's uniform timestep subset of `steps` (schedule.h), eta = 0
//   deterministic, eta = 1 stochastic.
// - DDPM ancestral: with steps = T (or 0) the full chain t = T-1 .. 0 with LDM's p_sample
//   posterior variance (vkd_ddpm_step); with fewer steps the same ancestral sampler on
//   the respaced chain, which is exactly DDIM with eta = 1 on that subset.
// Each step runs one guided prediction of batch 2n (cond and uncond/negative together), or
// batch n without uncond. With clip_x0, the predicted x0 is clamped to the prior's range
// and eps recomputed from it before the step (what pixel-space LDM does for DDPM).
//
// The result is the model's x0 prediction at the last step (diffusers' "final alpha = 1"),
// not the last x_t: the two differ by sqrt(1 - abar_{t_1}) noise-scale detail.
//
// Noise: sample i (counting from first_index) takes its initial x_T from op_rng_normal's
// mapping with stream VKD_SAMPLE_STREAM + i * 2^32, offset 0, and the noise of the k-th
// step (k = 1, 2, ...) from offset k * 2^26: sample i is the same whatever n is.
#ifndef VKD_SDS_SAMPLER_H
#define VKD_SDS_SAMPLER_H

#include <stdint.h>

#include "prior.h"
#include "progress.h"

#define VKD_SAMPLE_STREAM 0x534d504cu // "SMPL"

typedef enum { VKD_SAMPLER_DDIM = 0, VKD_SAMPLER_DDPM = 1 } vkd_sampler_kind_t;

typedef struct {
    vkd_sampler_kind_t kind; // (DDIM)
    int steps;               // (50); DDPM: 0 or T = the full chain
    double eta;              // DDIM only, [0, 1] (0)
    vkd_cfg_t guidance;      // (5, VKD_CFG_LDM)
    int clip_x0;             // (1)
    uint64_t seed;           // (0)
    uint32_t first_index;    // index of the first sample (0)
} vkd_sampler_opts_t;

vkd_sampler_opts_t vkd_sampler_opts_default(void);
// "ddim" / "ddpm"; parse fails naming the choices.
const char *vkd_sampler_name(vkd_sampler_kind_t k);
vkd_status_t vkd_sampler_parse(const char *name, vkd_sampler_kind_t *k);

// Draw n samples out (n, C, H, W) in the prior's range. uncond may be a negative prompt's
// handle; it may be NULL only when the guidance is neutral (LDM 1 / DreamFusion 0).
// prog (may be NULL) is advanced once per step; the caller inits and finishes it, with
// vkd_sample_steps() as its total.
vkd_status_t vkd_sample(vkd_prior_t *p, float *out, int n, const vkd_prior_cond_t *cond,
                        const vkd_prior_cond_t *uncond, const vkd_sampler_opts_t *o,
                        vkd_progress_t *prog);

// Samples (n, C, H, W) in the prior's range (C = 1 or 3) as one PNG grid of linear tiles:
// `cols` per row (<= 0: about sqrt(n)), each tile upscaled zoom x (nearest; 1..16), 2-pixel
// white gaps. Written atomically.
vkd_status_t vkd_sample_grid_png(const vkd_prior_t *p, const float *samples, int n, int cols,
                                 int zoom, const char *path);
// The number of model evaluations (steps) vkd_sample will run for these options.
vkd_status_t vkd_sample_steps(const vkd_prior_t *p, const vkd_sampler_opts_t *o, int *steps);

#endif
