// The training data of the bundled ShapeWorld prior: renders of ShapeWorld objects drawn
// from exactly the distribution score distillation renders from, captioned with exactly
// the text SDS sends.
//
// Sample i of a data set (seed) is a pure function of (opts, seed, i), so a training run is
// reproducible and resumable without storing any data:
// - object: uniform over the 6 shapes x 8 colours;
// - camera: vkd_camera_sample(opts.camera, seed, i, 0), the prior's camera distribution;
//   light: vkd_light_sample(camera, scale, seed, i, 0), as SDS draws them;
// - shading: what SDS renders after its albedo warm-up (vkd_shade_schedule_default():
//   25% albedo, 37.5% lit, 37.5% textureless);
// - caption: "a red cube" + the view suffix of the camera's view bin (", side view") with
//   probability p_view, + the shading mode's suffix (", textureless"), or the empty
//   (unconditional) caption with probability p_uncond.
// Textureless renders (albedo 1: a grey-white object lit by the point light) are captioned
// with their own suffix rather than passed off as "a red cube": SDS renders textureless
// views too and asks the prior about them with the same suffix (prior.h "shade_suffix"),
// so the prior answers "what does a textureless red cube look like" -- a grey cube of the
// right shape -- which is a gradient on geometry only, instead of pulling a grey render
// towards red. Captions without the view suffix let `vkdream sample "a red cube"` work.
// Draws: Philox stream VKD_SWDATA_STREAM, block i (object, caption and shading words).
#ifndef VKD_SDS_SW_DATA_H
#define VKD_SDS_SW_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "camera.h"
#include "shading.h"
#include "shapeworld.h"
#include "status.h"

#define VKD_SWDATA_STREAM 0x44415441u // "DATA"
#define VKD_SWDATA_CAPTION_MAX 96

typedef struct {
    int res;                    // image side (32)
    int supersample;            // rays per pixel side (2): soft edges like a NeRF render
    vkd_camera_dist_t camera;   // (the ShapeWorld preset)
    vkd_shade_schedule_t shade; // (the SDS default; only p_lit / p_textureless are used)
    float p_uncond;             // empty caption (0.1)
    float p_view;               // view suffix present (0.8)
    char shade_suffix[VKD_SHADE_COUNT][32]; // per mode ({"", "", ", textureless"})
} vkd_swdata_opts_t;

vkd_swdata_opts_t vkd_swdata_opts_default(void);
vkd_status_t vkd_swdata_opts_check(const vkd_swdata_opts_t *o);

typedef struct {
    vkd_sw_object_t obj;
    vkd_view_bin_t view;    // the camera's bin (also when the caption omits it)
    vkd_shade_mode_t shade;
    int uncond;             // 1: the caption is empty
    char caption[VKD_SWDATA_CAPTION_MAX];
} vkd_swdata_item_t;

// What sample `index` is (no rendering).
vkd_status_t vkd_swdata_item(const vkd_swdata_opts_t *o, uint64_t seed, uint64_t index,
                             vkd_swdata_item_t *item);
// Render samples first .. first + n - 1: images (n, 3, res, res) linear RGB in [0, 1], items
// (n, may be NULL). Parallel over images (OpenMP).
vkd_status_t vkd_swdata_render(const vkd_swdata_opts_t *o, uint64_t seed, uint64_t first, int n,
                               float *images, vkd_swdata_item_t *items);

#endif
