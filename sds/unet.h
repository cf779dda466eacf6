// The latent-diffusion (LDM) UNet: config, weights and the forward pass.
//
// The architecture is the `UNetModel` of CompVis/stable-diffusion and
// Stability-AI/stablediffusion (openaimodel.py) with use_spatial_transformer=True, i.e. the
// SD 1.x / 2.x denoiser and the small pixel-space priors of this project. The forward is
// written once against ops.h and runs on either backend.
//
// ---- Config format (JSON) ------------------------------------------------------------------
// One object, the layout of ../shared/golden/unet_*.config.json (a prior's config holds this
// object under its "unet" key):
//   {
//     "constructor_args": {            // UNetModel's constructor arguments, by their names
//       "image_size": 32, "in_channels": 3, "out_channels": 3, "model_channels": 32,
//       "channel_mult": [1, 2, 2], "num_res_blocks": 1, "attention_resolutions": [2, 4],
//       "num_heads": 4, "num_head_channels": -1, "transformer_depth": 1, "context_dim": 64,
//       "use_spatial_transformer": true, "use_linear_in_transformer": false, "legacy": false
//     },
//     "norm_eps": { "input_blocks.*.*.norm": "GroupNorm(groups=32) eps=1e-06", ... },
//     "parameterization": "eps",       // or "v" (LDM's name; default "eps" as in LDM)
//     "checkpoint_prefix": "model.diffusion_model.",   // default shown
//     "num_parameters": 1687075,       // optional: checked against the config
//     "time_embed_dim": 128            // optional: must be 4 * model_channels
//   }
// constructor_args:
// - Required: image_size, in_channels, out_channels, model_channels, num_res_blocks (an int
//   or one int per level), attention_resolutions (downsampling factors 1, 2, 4, ... that
//   get a SpatialTransformer; each must match a level), context_dim,
//   use_spatial_transformer (must be true), and num_heads or num_head_channels (one of
//   them may be -1).
// - Optional, with the reference's defaults: channel_mult [1,2,4,8], transformer_depth 1,
//   legacy true, use_linear_in_transformer false, conv_resample true, dims 2.
// - Accepted because they do not change the float32 inference result: dropout,
//   use_checkpoint, use_fp16, use_bf16 (computed in float32 regardless),
//   num_heads_upsample and use_new_attention_order (they only affect AttentionBlock, which
//   a spatial-transformer UNet does not have).
// - Must have their neutral value, else VKD_ERR_UNSUPPORTED naming the key: num_classes,
//   n_embed, adm_in_channels, disable_self_attentions, num_attention_blocks (null);
//   use_scale_shift_norm, resblock_updown, disable_middle_self_attn (false);
//   use_spatial_transformer, conv_resample (true); dims (2).
// - Any other key is an error (VKD_ERR_INVALID) naming it: configs are explicit, and a
//   setting the engine does not know must not be silently ignored.
// norm_eps (optional; missing entries take LDM's fixed values): keys name norm layers with
// "*" wildcards as in the golden configs; values are "... eps=X" strings or numbers:
//   "*.in_layers.*", "*.out_layers.*"   ResBlock GroupNorm32       (1e-5)
//   "*.norm"                            SpatialTransformer GroupNorm (1e-6)
//   "*.norm1", "*.norm2", "*.norm3"     transformer LayerNorms      (1e-5)
//   "out.*"                             the final GroupNorm32       (1e-5)
// GroupNorms must have 32 groups. Entries of one kind must agree across blocks.
// Other top-level keys (case, reference_commit, inputs, ...) are descriptive metadata and
// are ignored.
//
// ---- Weights ---------------------------------------------------------------------------------
// Tensors "<checkpoint_prefix><LDM state_dict name>" (input_blocks.1.1.proj_in.weight, ...)
// in a .safetensors file, any float dtype. Every tensor the config implies is loaded with
// its exact shape; a missing tensor or a wrong shape fails naming it; tensors under the
// prefix that the config does not use are listed once on stderr.
#ifndef VKD_SDS_UNET_H
#define VKD_SDS_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "status.h"
#include "weights.h"

struct cJSON;

#define VKD_UNET_MAX_LEVELS 8
#define VKD_UNET_MAX_RES_BLOCKS 16
#define VKD_UNET_MAX_PREFIX 128

typedef enum { VKD_UNET_PRED_EPS = 0, VKD_UNET_PRED_V = 1 } vkd_unet_pred_t;

typedef struct {
    int image_size;    // the training resolution (latent size for SD); informational
    int in_channels, out_channels, model_channels;
    int n_levels;                                   // len(channel_mult)
    int channel_mult[VKD_UNET_MAX_LEVELS];
    int num_res_blocks[VKD_UNET_MAX_LEVELS];        // per level
    int attn_level[VKD_UNET_MAX_LEVELS];            // 1: 2^level is an attention resolution
    int num_heads, num_head_channels;               // -1 = derived from the other
    int transformer_depth;
    int context_dim;
    int use_linear_in_transformer; // proj_in/proj_out are Linear [C, C], not 1x1 convs
    int legacy;
    float eps_resblock;    // ResBlock GroupNorm32
    float eps_transformer; // SpatialTransformer.norm GroupNorm
    float eps_layernorm;   // norm1..norm3 of the transformer blocks
    float eps_out;         // out.0 GroupNorm32
    vkd_unet_pred_t prediction;
    char prefix[VKD_UNET_MAX_PREFIX]; // tensor-name prefix, "model.diffusion_model."
} vkd_unet_config_t;

// Parse a config object (see above). `what` names the source in messages (a file name).
vkd_status_t vkd_unet_config_from_json(const struct cJSON *obj, const char *what,
                                       vkd_unet_config_t *cfg);
// Same from JSON text / from a file.
vkd_status_t vkd_unet_config_parse(const char *json_text, const char *what,
                                   vkd_unet_config_t *cfg);
vkd_status_t vkd_unet_config_load(const char *path, vkd_unet_config_t *cfg);

// Parameters (floats) the config implies: the reference's num_parameters.
int64_t vkd_unet_param_count(const vkd_unet_config_t *cfg);
// Floating-point operations of one forward of batch B at H x W with a context of L tokens:
// 2 per multiply-add of every convolution, linear layer and attention product (the
// elementwise work, norms and softmax, a few percent, is not counted).
double vkd_unet_flops(const vkd_unet_config_t *cfg, int B, int H, int W, int L);

// timestep_embedding(t, dim) of the reference, [cos, sin], with the products rounded to
// float32 as the reference does: t (B) -> out (B, dim). Timesteps are floats; integer
// timesteps convert exactly.
void vkd_unet_timestep_embedding(const float *t, int B, int dim, float *out);

typedef struct vkd_unet vkd_unet_t;

// Load every tensor the config implies from w into a parameter arena on backend be. The
// model keeps be and cfg (copied) but not w: close w afterwards.
vkd_status_t vkd_unet_create(vkd_backend_t *be, const vkd_unet_config_t *cfg, vkd_weights_t *w,
                             vkd_unet_t **out);
void vkd_unet_destroy(vkd_unet_t *u); // NULL is fine
const vkd_unet_config_t *vkd_unet_get_config(const vkd_unet_t *u);
vkd_unet_pred_t vkd_unet_prediction(const vkd_unet_t *u);

// Activation memory. A forward uses one arena owned by the model, laid out by a dry run of
// the same forward code (skip connections stacked at one end, per-block scratch at the
// other). It is sized for the largest shape seen so far and reused; reserving the largest
// shape up front keeps forwards free of device allocations. Reserving a larger shape on
// Vulkan finishes recorded work first (the old arena is freed).
vkd_status_t vkd_unet_reserve(vkd_unet_t *u, int B, int H, int W, int L);
// Bytes of activation memory a forward of that shape needs.
vkd_status_t vkd_unet_acts_bytes(vkd_unet_t *u, int B, int H, int W, int L, size_t *bytes);

// Debug capture: after each named submodule the forward calls tap(user, name, buf, ndim,
// shape) with its output. Names follow the reference's modules: "emb" (time_embed output,
// (B, 4 * model_channels)), "input_blocks.N", "middle_block", "output_blocks.N"
// ((B, C, H, W)). buf is only valid during the call (its memory is reused afterwards):
// read it there (vkd_buf_read, which on Vulkan finishes the recorded work). A tap that
// fails stops the forward with its status. NULL turns capture off (the default; free).
typedef vkd_status_t (*vkd_unet_tap_fn)(void *user, const char *name, vkd_buf_t buf, int ndim,
                                        const int64_t *shape);
void vkd_unet_set_tap(vkd_unet_t *u, vkd_unet_tap_fn tap, void *user);

// One forward: out (B, out_channels, H, W) = the model's prediction (eps or v, see
// vkd_unet_prediction) for x (B, in_channels, H, W) at timesteps (B, host floats) with
// context (B, L, context_dim). out, x and context are buffers on the model's backend; H and
// W must be multiples of 2^(n_levels - 1). On Vulkan the work is recorded (sync to get
// out); the call itself finishes earlier recorded work once, to upload the timestep
// embedding.
vkd_status_t vkd_unet_forward(vkd_unet_t *u, vkd_buf_t out, vkd_buf_t x, const float *timesteps,
                              vkd_buf_t context, int B, int H, int W, int L);

#endif
