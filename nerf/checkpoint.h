// NeRF checkpoints: one .safetensors file (written atomically) holding the field's
// parameters under their own names (field.h), the Adam moments ("adam.m.<name>",
// "adam.v.<name>"), the occupancy grid ("occupancy.grid", (G, G, G)) when there is one, and
// string metadata:
//   "format"      "vkdream-nerf-1"
//   "config"      the vkd_nerf_config_t as JSON (config.h)
//   "step"        Adam steps taken = training steps done (decimal)
//   "prompt"      the run's prompt ("" when none)
//   "rng"         {"seed": "<u64>", "step": "<u64>"}: the Philox generator is counter-based,
//                 so its whole state is the seed and the next step
//   "grid_ready"  "1" when the grid has been refreshed, else "0"
// Loading validates everything before touching the field: file structure (safetensors.h),
// format, config (parsed and checked), every tensor's presence, dtype and shape (as the
// config implies), and finiteness; each error names the file and the tensor or key.
#ifndef VKD_NERF_CHECKPOINT_H
#define VKD_NERF_CHECKPOINT_H

#include <stdint.h>

#include "nerf/field.h"
#include "nerf/render.h"

#define VKD_NERF_CKPT_FORMAT "vkdream-nerf-1"

typedef struct {
    char prompt[1024];
    uint64_t seed; // RNG seed
    uint64_t step; // training steps done (the next step's index)
} vkd_nerf_ckpt_meta_t;

// Save f (and r's occupancy grid when r != NULL and the config has one) to path.
// meta may be NULL (prompt "", seed = cfg.seed, step = f->step).
vkd_status_t vkd_nerf_ckpt_save(const char *path, vkd_field_t *f, vkd_nerf_renderer_t *r,
                                const vkd_nerf_ckpt_meta_t *meta);

// Read path's config (and metadata into meta when not NULL) without loading tensors.
vkd_status_t vkd_nerf_ckpt_info(const char *path, vkd_nerf_config_t *cfg, vkd_nerf_ckpt_meta_t *meta);

// Create a field on be from path (its stored config), with parameters, Adam moments and
// step restored. To restore the occupancy grid as well, create the renderer and call
// vkd_nerf_ckpt_load_into with it.
vkd_status_t vkd_nerf_ckpt_load(const char *path, vkd_backend_t *be, vkd_field_t **out,
                                vkd_nerf_ckpt_meta_t *meta);

// Load path into an existing field (resume with a given config): the file's architecture
// (width, depth, n_freq, bg_mode, bg_width, bg_freq) must match f's, else VKD_ERR_FORMAT
// naming the file and the first differing key. Training settings may differ (the field's
// stay in force). Restores r's grid when r != NULL.
vkd_status_t vkd_nerf_ckpt_load_into(const char *path, vkd_field_t *f, vkd_nerf_renderer_t *r,
                                     vkd_nerf_ckpt_meta_t *meta);

#endif
