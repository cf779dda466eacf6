// The LDM first-stage autoencoder (AutoencoderKL of CompVis/stable-diffusion): encoding an
// RGB image to the latent posterior's moments and decoding latents to an image. Written
// once against ops.h; runs on either backend.
//
// ---- Config format (JSON) ------------------------------------------------------------------
// One object, the layout of ../shared/golden/vae_tiny.config.json (a prior's config may hold
// it under a "vae" key):
//   {
//     "constructor_args": {
//       "ddconfig": { "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2,
//                     "attn_resolutions": [], "z_channels": 4, "in_channels": 3,
//                     "out_ch": 3, "resolution": 256, "double_z": true, "dropout": 0.0 },
//       "embed_dim": 4,
//       "lossconfig": { ... }           // training only: ignored
//     },
//     "checkpoint_prefix": "first_stage_model.",   // default shown
//     "num_parameters": 658375                      // optional: checked against the config
//   }
// ddconfig: ch, ch_mult, num_res_blocks, z_channels, in_channels, out_ch, resolution are
// required; attn_resolutions defaults to [] (each entry must be resolution / 2^level of some
// level: an AttnBlock after every ResnetBlock of that level), double_z to true, dropout
// (inference: no effect) to 0. Also accepted with their neutral values only:
// resamp_with_conv (true), use_linear_attn (false), attn_type ("vanilla"), tanh_out and
// give_pre_end (false). Any other ddconfig / constructor_args key is an error naming it
// (ckpt_path, ignore_keys, image_key, colorize_nlabels and monitor are accepted and
// ignored: they do not change the network). Other top-level keys are metadata.
// Every GroupNorm has 32 groups and eps 1e-6 (fixed in the reference, so not configurable).
//
// ---- Weights ---------------------------------------------------------------------------------
// "<checkpoint_prefix>encoder.*", "decoder.*", "quant_conv.*", "post_quant_conv.*" with the
// reference's state_dict names, any float dtype, exact shapes; a missing tensor or a wrong
// shape fails naming it (VKD_ERR_FORMAT); unused tensors under the prefix are left to
// vkd_weights_report_unused.
#ifndef VKD_SDS_VAE_H
#define VKD_SDS_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "status.h"
#include "weights.h"

struct cJSON;

#define VKD_VAE_MAX_LEVELS 8
#define VKD_VAE_MAX_PREFIX 128

typedef struct {
    int ch, n_levels, ch_mult[VKD_VAE_MAX_LEVELS];
    int num_res_blocks;
    int attn_level[VKD_VAE_MAX_LEVELS]; // 1: the level's resolution is in attn_resolutions
    int z_channels, in_channels, out_ch, resolution, double_z, embed_dim;
    char prefix[VKD_VAE_MAX_PREFIX];
} vkd_vae_config_t;

vkd_status_t vkd_vae_config_from_json(const struct cJSON *obj, const char *what,
                                      vkd_vae_config_t *cfg);
vkd_status_t vkd_vae_config_parse(const char *json_text, const char *what, vkd_vae_config_t *cfg);
vkd_status_t vkd_vae_config_load(const char *path, vkd_vae_config_t *cfg);
// Parameter floats the config implies (the reference's num_parameters).
int64_t vkd_vae_param_count(const vkd_vae_config_t *cfg);

typedef struct vkd_vae vkd_vae_t;

// Load every tensor the config implies from w into a parameter arena on be. The model keeps
// be and a copy of cfg, not w.
vkd_status_t vkd_vae_create(vkd_backend_t *be, const vkd_vae_config_t *cfg, vkd_weights_t *w,
                            vkd_vae_t **out);
void vkd_vae_destroy(vkd_vae_t *v); // NULL is fine
const vkd_vae_config_t *vkd_vae_get_config(const vkd_vae_t *v);
// Latent size for an image of H x W: H / 2^(n_levels - 1).
int vkd_vae_factor(const vkd_vae_t *v);

// Debug capture: after each submodule the forward calls tap(user, name, buf, 4, shape) with
// its output, names as in the reference: "encoder.conv_in", "encoder.down.I.block.J",
// "encoder.down.I.attn.J", "encoder.down.I.downsample", "encoder.mid.block_1",
// "encoder.mid.attn_1", "encoder.mid.block_2", "encoder.conv_out" and the same for
// "decoder." (with "up.I.upsample"). buf is valid only during the call. NULL: off.
typedef vkd_status_t (*vkd_vae_tap_fn)(void *user, const char *name, vkd_buf_t buf, int ndim,
                                       const int64_t *shape);
void vkd_vae_set_tap(vkd_vae_t *v, vkd_vae_tap_fn tap, void *user);

// Activation memory: one arena owned by the model, sized by a dry run of the same code for
// the largest call seen so far and reused. Growing it on Vulkan finishes recorded work.
vkd_status_t vkd_vae_acts_bytes(vkd_vae_t *v, int B, int H, int W, size_t *bytes);

// moments (B, 2 embed_dim, H/f, W/f) = quant_conv(encoder(image (B, in_channels, H, W))).
// H, W must be multiples of f = vkd_vae_factor. Recorded on Vulkan (sync to read).
vkd_status_t vkd_vae_encode(vkd_vae_t *v, vkd_buf_t moments, vkd_buf_t image, int B, int H,
                            int W);
// From moments (B, 2 E, h, w): mean (B, E, h, w) = channels [0, E); logvar = channels
// [E, 2E) clamped to [-30, 20]; std = exp(logvar / 2). logvar and std may be VKD_BUF_NONE.
vkd_status_t vkd_vae_posterior(vkd_vae_t *v, vkd_buf_t mean, vkd_buf_t logvar, vkd_buf_t std,
                               vkd_buf_t moments, int B, int h, int w);
vkd_status_t vkd_vae_mean(vkd_vae_t *v, vkd_buf_t mean, vkd_buf_t moments, int B, int h, int w);
// sample (B, E, h, w) = mean + std * noise (noise (B, E, h, w) given, standard normal).
vkd_status_t vkd_vae_sample(vkd_vae_t *v, vkd_buf_t sample, vkd_buf_t moments, vkd_buf_t noise,
                            int B, int h, int w);
// image (B, out_ch, h f, w f) = decoder(post_quant_conv(latents (B, embed_dim, h, w))).
// No latent scale factor (SD's 0.18215) is applied: the caller divides by it first.
vkd_status_t vkd_vae_decode(vkd_vae_t *v, vkd_buf_t image, vkd_buf_t latents, int B, int h,
                            int w);

#endif
