// The live view of a text-to-3D run (`vkdream generate --view`): the viewer window
// (viewer.h) showing the field of a vkd_dream_t while it is optimised.
//
// Design: everything runs on the run's own thread. Between two SDS steps the loop calls
// vkd_dream_view_tick, which handles input and, when the viewer's budget allows, renders a
// frame of the current field with the run's own NeRF renderer. Why not a second thread on a
// snapshot of the parameters: this machine class has 2 cores that the step's own OpenMP
// already fills, so a render thread would take its time from the step just the same, only
// unaccounted (and the CPU backend's ops are not re-entrant on one renderer, so it would
// need a second renderer, grid and parameter copy). Between steps the renderer's buffers
// hold nothing the next step needs (each step starts with its own forward), the field is
// only read, and no random draw depends on it, so the run's results are bit-identical with
// and without the view (tests/test_generate_view.sh checks the checkpoint).
//
// Frames cost at most the viewer's live budget (10% of the wall time while the view is
// still, 35% while the user drags it), at a resolution that adapts to the field's current
// render cost: on this project's 2-core CPU a shaded NeRF frame costs ~15 us a ray before
// the occupancy grid's warm-up, a few after, so live frames are coarse (40x30 to ~100x75
// pixels, scaled up to the window) and come every 2-4 s. A viewer failure mid-run (say, the display server went away) closes the view
// with a warning; the run goes on.
#ifndef VKD_DREAM_VIEW_H
#define VKD_DREAM_VIEW_H

#include "dream.h"
#include "viewer.h"

typedef struct vkd_dream_view vkd_dream_view_t;

// Open the window (before the run's work: without a display this fails with the viewer's
// message). o->prompt is the title's text.
vkd_status_t vkd_dream_view_open(const vkd_view_opts_t *o, vkd_dream_view_t **out);
// Between steps (and once before the first): input, and a frame of d's field when one is
// due. Returns 1 while the window is open, 0 once it is gone (closed by the user, or after
// a viewer error, reported on stderr): the run then continues without it.
int vkd_dream_view_tick(vkd_dream_view_t *v, vkd_dream_t *d);
// After the last step: a frame of d's final field at the live resolution; with a
// screenshot (not NULL), at full resolution with 2x2 rays per pixel (the picture `vkdream
// render --camera` makes of the saved checkpoint; seconds for a large window on a CPU),
// read back from the window into that PNG.
vkd_status_t vkd_dream_view_final(vkd_dream_view_t *v, vkd_dream_t *d, const char *screenshot);
// Whether the window is still open.
int vkd_dream_view_is_open(const vkd_dream_view_t *v);
// Frames shown and the seconds they took, so far (also after the window was closed).
void vkd_dream_view_stats(const vkd_dream_view_t *v, int *frames, double *seconds);
// Close the window and free v (NULL is fine). Fails when the validation layer (when
// enabled) reported messages.
vkd_status_t vkd_dream_view_close(vkd_dream_view_t *v);

// The render callback (viewer.h) for user = vkd_dream_t: the field as it is now, with
// evaluation rays (no jitter) at the IPE covariance of its own step, composed as `vkdream
// render` composes its pictures. One ray per pixel.
vkd_status_t vkd_dream_view_render(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                                   vkd_vis_t mode, int w, int h, float *rgb);

#endif
