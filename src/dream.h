// The text-to-3D loop (score distillation, DreamFusion arXiv:2209.14988) as a library:
// `vkdream generate`, the tests and later the viewer and `eval` drive it through this.
//
// One step s (every random draw keyed by (seed, s), so a run is a pure function of its
// options and resume is exact):
//   mode   = vkd_shade_schedule_mode(shade, seed, s)            one shading mode per step
//   grid   = vkd_nerf_grid_step(r, s)                            occupancy grid refresh
//   for each of `views` cameras b:
//     cam  = vkd_camera_sample(prior camera dist, seed, s, b)    at the render size
//     light= vkd_light_sample(cam, scale, seed, s, b)
//     rgb  = render (mode, light, jitter, IPE anneal of step s), box-filtered to the prior's size
//     g    = vkd_sds_grad(prior, rgb, cond[view bin][mode], uncond, SDS step s * views + b)
//     backward of mean over pixels and views of <g, rgb> + the nerf config's regularisers
//   Adam step (skipped, and logged, when anything was non-finite).
// The prompt of a view is vkd_prior_render_prompt(prompt, view bin, mode): each distinct one
// is encoded once, when first needed, and cached.
//
// Scale of the loss: the SDS gradient enters as the mean over pixels (and views), the same
// per-ray-mean scale as the renderer's regularisers (lambda_orient, lambda_opacity,
// lambda_entropy), so their weights read as fractions of the SDS pull. Adam makes the
// overall scale irrelevant.
//
// A skipped step still counts as a step (f->step advances, no parameter changes): every
// draw and the learning-rate warm-up stay keyed by the step index, so a run with a skip
// resumes exactly like one without.
#ifndef VKD_DREAM_H
#define VKD_DREAM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "nerf/config.h"
#include "nerf/field.h"
#include "nerf/render.h"
#include "sds/prior.h"
#include "sds/sds.h"
#include "shading.h"

typedef struct {
    int steps;                  // planned length of the run (the anneals' time base)
    uint64_t seed;              // every draw: cameras, lights, modes, SDS t and noise, init
    int views;                  // cameras per step, 1..16 (1)
    int res;                    // render side: 0 = the prior's; else a multiple of it
                                // (supersampled render, box-filtered to the prior's size)
    vkd_sds_opts_t sds;         // guidance, t range, weighting, clip (its seed is `seed`)
    float t_max_end;            // t_max falls linearly to this ...
    float t_anneal_start;       // ... from this fraction of the run to its end (0.5)
    vkd_shade_schedule_t shade; // albedo warm-up and lit/textureless probabilities
    vkd_nerf_config_t nerf;     // field, renderer, regularisers, Adam (total_steps = steps)
    float reg_ramp;             // lambda_opacity and lambda_entropy rise linearly from 0 to
                                // their values over this fraction of the run (0: none)
    int max_skips;              // consecutive non-finite steps before the run stops (10)
    // Test hook: sees (and may change) the SDS image gradient grad (n floats, (C, H, W)) of
    // each view of step `step` before the backward. NULL in normal runs.
    void (*grad_hook)(void *user, uint64_t step, float *grad, size_t n);
    void *hook_user;
} vkd_dream_opts_t;

// Defaults tuned with the oracle prior (see src/dream.c for what was measured). The
// prior-dependent parts (background colour, guidance) are filled in by vkd_dream_create /
// the CLI.
vkd_dream_opts_t vkd_dream_opts_default(void);

typedef struct {
    uint64_t step;          // the step just done
    vkd_shade_mode_t mode;
    int t;                  // SDS timestep of the first view
    float t_max;            // the annealed t_max of this step (fraction of T)
    double loss;            // SDS loss 0.5 |g|^2, mean over the views
    double grad_norm;       // L2 norm of the image gradient g over the views
    int skipped;            // 1: non-finite values, no update
    int samples;            // kept samples of the last view's render
    double ms;              // wall time of the step
} vkd_dream_step_info_t;

typedef struct vkd_dream vkd_dream_t;

// A run of `prompt` (negative may be NULL) with prior p on backend be (both outlive it).
// Checks the options and encodes the prompt of every view bin and shading mode (an unknown
// word fails here, before any work). The field starts from the options' config.
vkd_status_t vkd_dream_create(vkd_backend_t *be, vkd_prior_t *p, const char *prompt,
                              const char *negative, const vkd_dream_opts_t *o, vkd_dream_t **out);
void vkd_dream_destroy(vkd_dream_t *d); // NULL is fine

// One step (the next one: vkd_dream_steps_done). Fails with VKD_ERR_NUMERIC after
// max_skips consecutive skipped steps; the field then still holds the last good update.
vkd_status_t vkd_dream_step(vkd_dream_t *d, vkd_dream_step_info_t *info);
uint64_t vkd_dream_steps_done(const vkd_dream_t *d);
int vkd_dream_skips(const vkd_dream_t *d); // skipped steps so far in this process

// Checkpoint (nerf/checkpoint.h: parameters, Adam moments, grid, step, prompt, seed).
vkd_status_t vkd_dream_save(vkd_dream_t *d, const char *path);
// Continue from a checkpoint of a run with the same options: VKD_ERR_FORMAT when its
// prompt or seed differ or it is past the planned steps.
vkd_status_t vkd_dream_resume(vkd_dream_t *d, const char *path);

vkd_field_t *vkd_dream_field(vkd_dream_t *d);
vkd_nerf_renderer_t *vkd_dream_renderer(vkd_dream_t *d);
const vkd_dream_opts_t *vkd_dream_opts(const vkd_dream_t *d);

// ---- outputs (dream_output.c) -----------------------------------------------------------
// The turntable PNG: rows shaded, albedo, normals, textureless from `views` azimuths of
// `res` pixels (vkd_nerf_turntable's cameras and key light).
vkd_status_t vkd_dream_write_turntable(vkd_nerf_renderer_t *r, const char *path, int views,
                                       int res);
// A small preview: one shaded row of 4 views of 48 px, one ray per pixel.
vkd_status_t vkd_dream_write_preview(vkd_nerf_renderer_t *r, const char *path);

#endif
