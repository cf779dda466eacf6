// The differentiable volume renderer: rays -> stratified samples inside the bounding
// sphere (skipping empty cells of the occupancy grid) -> field -> normals (tetrahedral
// finite differences) -> shading (src/shading.h) -> alpha compositing over the background;
// and the full backward from dL/drgb (plus the orientation, opacity and entropy
// regularisers) into the field's parameter gradients. Runs on either backend.
//
// Outputs match src/shapeworld.h's vkd_render_out_t: rgb (H, W, 3) linear, opacity, depth
// (sum w t / A along the unit ray, 0 where nothing is hit) and the normal map
// (normalise(sum w n), 0 where none), so a NeRF render and the analytic ShapeWorld render of
// the same camera compare pixel for pixel.
//
// Why finite-difference normals (not forward-mode tangents through the MLP): the normal
// needs the density's gradient, and the loss must flow back through it. Tetrahedral
// differences reuse the field's own forward and backward (4 extra points per sample, no
// second-order kernels), and their step h smooths the normals at the scale the renderer
// resolves (NOTES.md: autograd normals were noisy). They difference the density's
// pre-activation, whose gradient has the density's direction (the activation is monotone)
// but which is nearly linear over a tetrahedron where the density itself is exponential.
// The extra points are evaluated in chunks and recomputed in the backward, so their memory
// stays bounded. Measured cost: nerf/README.md.
#ifndef VKD_NERF_RENDER_H
#define VKD_NERF_RENDER_H

#include <stdint.h>

#include "camera.h"
#include "nerf/field.h"
#include "shading.h"
#include "shapeworld.h"

typedef struct {
    int max_rays;     // rays per forward (R capacity)
    int max_samples;  // kept samples per forward; 0: max_rays * samples (always enough)
    int normal_chunk; // samples whose tetrahedra are evaluated at once (0: 4096)
} vkd_nerf_renderer_opts_t;

// What one forward renders.
typedef struct {
    vkd_shade_mode_t mode;
    vkd_light_t light;   // unused in albedo mode
    int jitter;          // stratified jitter (training); 0: stratum centres (evaluation)
    uint64_t step;       // RNG step of the jitter and the IPE anneal
    int normals;         // compute normals in albedo mode too (normal map, orientation loss)
} vkd_nerf_view_t;

typedef struct vkd_nerf_renderer vkd_nerf_renderer_t;

vkd_status_t vkd_nerf_renderer_create(vkd_field_t *field, const vkd_nerf_renderer_opts_t *opts,
                                      vkd_nerf_renderer_t **out);
void vkd_nerf_renderer_destroy(vkd_nerf_renderer_t *r);
int vkd_nerf_renderer_max_rays(const vkd_nerf_renderer_t *r);
vkd_field_t *vkd_nerf_renderer_field(const vkd_nerf_renderer_t *r);

// The ray through continuous pixel position (px, py) of cam: ray (8) as nerf_ops.h lays it
// out, with mip-NeRF's cone radius (pixel size at unit distance times 2/sqrt(12)).
void vkd_nerf_camera_ray(const vkd_camera_t *cam, float px, float py, float ray[8]);
// rays (H * W, 8) through the pixel centres of cam, row-major.
void vkd_nerf_camera_rays(const vkd_camera_t *cam, float *rays);

// Render R rays (rays (R, 8) on the host). Keeps what the backward needs.
vkd_status_t vkd_nerf_render_forward(vkd_nerf_renderer_t *r, const float *rays, int R,
                                     const vkd_nerf_view_t *view);
// The forward's outputs on the backend: rgb (R, 3), opacity (R).
vkd_buf_t vkd_nerf_render_rgb(const vkd_nerf_renderer_t *r);
vkd_buf_t vkd_nerf_render_opacity(const vkd_nerf_renderer_t *r);
// Copies of the outputs (any pointer of out may be NULL) for R rays.
vkd_status_t vkd_nerf_render_read(vkd_nerf_renderer_t *r, const vkd_render_out_t *out);
// Samples kept by the last forward (after the occupancy grid) and the rays.
int vkd_nerf_render_samples(const vkd_nerf_renderer_t *r);

// Backward of the last forward: drgb (R, 3) on the backend (dopacity (R) or NONE, an
// outside loss on the opacity) plus the config's regularisers as per-ray means
// (lambda_orient where normals were computed, lambda_opacity, lambda_entropy). Accumulates
// into the field's gradients (vkd_field_zero_grad first).
vkd_status_t vkd_nerf_render_backward(vkd_nerf_renderer_t *r, vkd_buf_t drgb, vkd_buf_t dopacity);
// Change the regulariser weights the next backward applies (the renderer's copy of the
// config; the field's config is untouched): a caller's schedule, e.g. generate's ramp.
void vkd_nerf_render_set_reg_weights(vkd_nerf_renderer_t *r, float orient, float opacity,
                                     float entropy);
// The regularisers of the last forward (per-ray means, unweighted; orient is 0 without
// normals). Reads back from the backend.
vkd_status_t vkd_nerf_render_reg(vkd_nerf_renderer_t *r, double *orient, double *opacity,
                                 double *entropy);

// ---- occupancy grid ---------------------------------------------------------------------
// Evaluate the density at one jittered point per cell (Philox step `step`) and fold it in:
// cell = max(decay * cell, sigma). Sampling skips cells <= grid_thresh once the grid has
// been refreshed at least once. No-op when the config's grid_res is 0.
vkd_status_t vkd_nerf_grid_refresh(vkd_nerf_renderer_t *r, uint64_t step);
// Refresh when the schedule says so: step >= grid_warmup and (step - grid_warmup) is a
// multiple of grid_every. Returns 1 in *done when it refreshed (done may be NULL).
vkd_status_t vkd_nerf_grid_step(vkd_nerf_renderer_t *r, uint64_t step, int *done);
// Share of cells inside the sphere that are occupied (for logs); 1 before any refresh.
vkd_status_t vkd_nerf_grid_occupancy(vkd_nerf_renderer_t *r, double *frac);
// Turn skipping off (0) or back on (1) without touching the grid (for comparisons).
void vkd_nerf_grid_enable(vkd_nerf_renderer_t *r, int on);
// The grid (G^3) and whether it has been refreshed (for checkpoints).
vkd_buf_t vkd_nerf_grid_buf(const vkd_nerf_renderer_t *r);
int vkd_nerf_grid_ready(const vkd_nerf_renderer_t *r);
void vkd_nerf_grid_set_ready(vkd_nerf_renderer_t *r, int ready);

// ---- whole images (render_image.c) ------------------------------------------------------
// Render cam's image with supersample^2 rays per pixel (1..4) in batches of max_rays,
// averaged as vkd_sw_render does: rgb and opacity by the mean, depth the opacity-weighted
// mean, normals the normalised opacity-weighted sum. out fields may be NULL (not rgb).
vkd_status_t vkd_nerf_render_image(vkd_nerf_renderer_t *r, const vkd_camera_t *cam,
                                   const vkd_nerf_view_t *view, int supersample,
                                   const vkd_render_out_t *out);
// A turntable like vkd_sw_turntable (same cameras, key light, layout): *img (GH, GW, 3)
// malloc'd.
vkd_status_t vkd_nerf_turntable(vkd_nerf_renderer_t *r, vkd_vis_t vis, const vkd_turntable_t *tt,
                                float **img, int *gh, int *gw);

#endif
