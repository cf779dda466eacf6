// Diffusion priors behind one interface: a trained UNet prior loaded from a prior file, or
// the oracle prior (the exact posterior-mean denoiser of a finite set of ShapeWorld
// renders). Samplers (sampler.h) and score distillation (sds.h) see only this interface.
//
// A prior predicts the noise of a noisy image:
//   eps = predict(x_t (B, C, H, W), t (B), cond (B))
// with x_t in the prior's value range (image.range, e.g. [-1, 1]) and integer timesteps
// t in [0, T) of its schedule (x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps with abar_t =
// alphas_cumprod_f32[t], the float32 table the samplers use too). A v-predicting UNet's
// output is converted to eps here, so callers only ever see eps. Arrays are host memory:
// at the sizes of the bundled priors (32x32) the transfer is negligible against the model.
//
// Prompts are encoded once into condition handles (text context for UNet priors; the
// parsed ShapeWorld object and view bin, with its rendered image set, for the oracle) and
// reused for every call. Classifier-free guidance evaluates cond and uncond (or a
// negative prompt, which replaces uncond) as ONE batch of 2B.
//
// Guidance conventions (vkd_cfg_t.convention); state which one a number refers to:
//   VKD_CFG_LDM (default):   eps_hat = eps_u + s (eps_c - eps_u)      s = 1: conditional
//   VKD_CFG_DREAMFUSION:     eps_hat = (1 + w) eps_c - w eps_u         w = 0: conditional
// They are the same family with s = 1 + w: "guidance 100" in DreamFusion's paper is w = 100,
// i.e. s = 101 here. The combination is computed in double, so s = 1 (w = 0) returns the
// conditional prediction bit for bit.
//
// ---- Prior files (JSON) ------------------------------------------------------------------
// Explicit: nothing is guessed from tensor shapes. Paths are relative to the JSON file.
//   {
//     "format": "vkdream-prior", "version": 1,        required, exactly these
//     "type": "unet",                                  "unet" or "oracle"
//     "name": "shapeworld-32",                         optional, used in messages
//     "image": {                                       required
//       "channels": 3, "height": 32, "width": 32,
//       "range": [-1, 1],        the prior sees lo + (hi - lo) * v for a pixel value v in [0, 1]
//       "encoding": "linear"     "linear" (the ShapeWorld renders, the NeRF renderer) or
//                                "srgb" (photographs: v is sRGB-encoded first)
//     },
//     "schedule": {                                    required
//       "beta_schedule": "cosine",  "linear" (SD's scaled linear), "true_linear", "cosine"
//       "T": 1000,
//       "beta_start": 0.00085, "beta_end": 0.012,      linear kinds only
//       "cosine_s": 0.008                              cosine only (default 0.008)
//     },
//     "camera": "shapeworld",    the camera distribution of the training renders, which SDS
//                                must sample: "shapeworld" or "dreamfusion" (camera.h
//                                presets), an object with every field of
//                                vkd_camera_dist_t ("elevation_deg": [lo, hi],
//                                "area_fraction", "azimuth_deg": [lo, hi], "distance":
//                                [lo, hi], "scale", "fovy_deg": [lo, hi], "jitter_pos",
//                                "jitter_target", "jitter_up"), or null for a prior with no
//                                camera (a photo model). Required.
//     "view_suffix": "dreamfusion",  "dreamfusion" (", front view", ... appended by view
//                                bin, camera.h) or "none". Required.
//     "background": [0.1, 1, 0], optional: the linear RGB background of the training renders
//     "shade_suffix": { "textureless": ", textureless" }   optional: text appended (after the
//                                view suffix) to prompts of renders in that shading mode
//                                ("albedo", "lit", "textureless"; default "" each). A prior
//                                trained with captions that say how a render was shaded
//                                gives SDS an honest target for each mode: a textureless
//                                render of "a red cube" is a grey cube, not a red one.
//
//     type "unet" only:
//     "weights": "shapeworld.safetensors",            text encoder + UNet tensors
//     "tokenizer": "shapeworld.tokenizer.json",        tokenizer.h (word JSON or CLIP merges)
//     "prediction": "eps",                             "eps" or "v"; must agree with
//                                                      unet.parameterization when that is given
//     "text_encoder": { CLIPTextConfig keys, text_encoder.h },
//     "unet": { "constructor_args": {...}, ... unet.h },
//     "conditioning": { "pad_with_eos": false }        optional (false: pad with the pad id)
//
//     type "oracle" only (all optional, defaults shown; the image must be 3 x R x R and
//     the camera not null; image.encoding applies to the renders):
//     "oracle": { "views": 64, "uncond_views": 16, "supersample": 2, "seed": 0,
//                 "shading": "mixed" }            "mixed", "lit" or "albedo"
//   }
// Checks on load: every key has the right type and range; the image has C = in_channels =
// out_channels of the UNet and a size divisible by its downsampling; the tokenizer's
// sequence length fits the text encoder's positions and its ids its vocabulary; the text
// width equals the UNet's context_dim; every tensor the configs imply exists in the
// weights with the right shape (missing/corrupt/mismatched -> an error naming the file and
// the tensor or key). Unused tensors are listed once on stderr.
//
// ---- The oracle ------------------------------------------------------------------------
// See the comment at the top of oracle.c for the image sets and the math. Prompts are
// ShapeWorld captions ("a red cube", "a red cube, side view"). Its conditional prediction
// is exact, so guidance 1 is its natural setting: guidance > 1 extrapolates away from the
// unconditional set and saturates colours, as it would with a perfectly trained model.
#ifndef VKD_SDS_PRIOR_H
#define VKD_SDS_PRIOR_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "camera.h"
#include "schedule.h"
#include "shading.h"
#include "status.h"

typedef struct vkd_prior vkd_prior_t;
typedef struct vkd_prior_cond vkd_prior_cond_t;

typedef enum { VKD_PRIOR_UNET = 1, VKD_PRIOR_ORACLE = 2 } vkd_prior_kind_t;
typedef enum { VKD_PRED_EPS = 0, VKD_PRED_V = 1 } vkd_prediction_t;
typedef enum { VKD_ENC_LINEAR = 0, VKD_ENC_SRGB = 1 } vkd_encoding_t;
typedef enum { VKD_VIEW_SUFFIX_NONE = 0, VKD_VIEW_SUFFIX_DREAMFUSION = 1 } vkd_view_suffix_t;
typedef enum {
    VKD_ORACLE_SHADE_MIXED = 0, // per view: the SDS shading schedule after its warm-up
    VKD_ORACLE_SHADE_LIT,
    VKD_ORACLE_SHADE_ALBEDO,
} vkd_oracle_shading_t;

// What a caller needs to know about a prior.
typedef struct {
    vkd_prior_kind_t kind;
    char name[64];
    int channels, height, width;
    float range_lo, range_hi;   // the value range the prior expects
    vkd_encoding_t encoding;
    vkd_prediction_t prediction; // of the model; predict() always returns eps
    int has_camera;              // 0: no camera distribution (not a 3D-render prior)
    vkd_camera_dist_t camera;
    vkd_view_suffix_t view_suffix;
    int has_background;
    float background[3];
    char shade_suffix[VKD_SHADE_COUNT][32]; // "" or the text after the view suffix, per mode
} vkd_prior_info_t;

// Options of the oracle prior (also the "oracle" object of a prior file).
typedef struct {
    int res;                       // image side, 8..256 (32)
    int views;                     // K images per prompt (and per view bin), 1..4096 (64)
    int uncond_views;              // images per object in the unconditional set, 1..views (16)
    int supersample;               // rays per pixel side, 1..8 (2)
    uint64_t seed;                 // which views are rendered (0)
    vkd_oracle_shading_t shading;  // (mixed)
    vkd_camera_dist_t camera;      // (the ShapeWorld preset)
    vkd_schedule_desc_t schedule;  // (cosine, T = 1000, s = 0.008)
    float range_lo, range_hi;      // (-1, 1)
    vkd_encoding_t encoding;       // of the images before the range mapping (linear)
} vkd_oracle_opts_t;

vkd_oracle_opts_t vkd_oracle_opts_default(void);

// ---- lifetime -------------------------------------------------------------------------
// Load a prior file (see above). A UNet prior runs on `be`, which must outlive it; an
// oracle ignores be (it runs on the host), so be may be NULL for one.
vkd_status_t vkd_prior_load(const char *path, vkd_backend_t *be, vkd_prior_t **out);
// The oracle prior with these options.
vkd_status_t vkd_prior_oracle_create(const vkd_oracle_opts_t *opts, vkd_prior_t **out);
// Frees the prior. Condition handles must be freed first (they point into it).
void vkd_prior_free(vkd_prior_t *p); // NULL is fine

const vkd_prior_info_t *vkd_prior_info(const vkd_prior_t *p);
const vkd_schedule_t *vkd_prior_schedule(const vkd_prior_t *p);
// abar_t as predict() uses it (the float32 table), t clamped into [0, T).
double vkd_prior_abar(const vkd_prior_t *p, int t);

// ---- conditions -------------------------------------------------------------------------
// Longest prompt accepted, in bytes (a prompt is text typed by a person or read from a list).
#define VKD_PROMPT_MAX 1024

// Encode a prompt. An empty or blank prompt, one over VKD_PROMPT_MAX bytes, one with more
// tokens than the text encoder takes (also for CLIP's BPE, which would otherwise drop the
// end silently), or one the prior cannot read (a word the tokenizer does not know, a
// non-ShapeWorld caption for the oracle) is VKD_ERR_INVALID with a message that says why.
vkd_status_t vkd_prior_encode(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t **out);
// The unconditional input of classifier-free guidance (the empty prompt of a text
// encoder; the union over all objects for the oracle).
vkd_status_t vkd_prior_encode_uncond(vkd_prior_t *p, vkd_prior_cond_t **out);
void vkd_prior_cond_free(vkd_prior_cond_t *c); // NULL is fine
const char *vkd_prior_cond_prompt(const vkd_prior_cond_t *c); // "" for the unconditional

// prompt + the view suffix of `bin` under the prior's convention (nothing for "none" or
// VKD_VIEW_NONE) into buf (cap bytes); VKD_ERR_INVALID when it does not fit.
vkd_status_t vkd_prior_view_prompt(const vkd_prior_t *p, const char *prompt, vkd_view_bin_t bin,
                                   char *buf, size_t cap);

// The prompt the prior is asked about for a render in shading mode `mode` seen from view
// bin `bin`: prompt + view suffix + shade suffix (see "shade_suffix" above). mode may be
// VKD_SHADE_COUNT for "no shading mode" (no shade suffix). VKD_ERR_INVALID when it does not fit.
vkd_status_t vkd_prior_render_prompt(const vkd_prior_t *p, const char *prompt, vkd_view_bin_t bin,
                                     vkd_shade_mode_t mode, char *buf, size_t cap);

// ---- prediction -------------------------------------------------------------------------
// eps (B, C, H, W) for x_t (B, C, H, W) at t (B) under cond (B) (handles of this prior;
// entries may repeat). eps must not alias x_t.
vkd_status_t vkd_prior_predict(vkd_prior_t *p, float *eps, const float *x_t, const int *t,
                               const vkd_prior_cond_t *const *cond, int B);

typedef enum { VKD_CFG_LDM = 0, VKD_CFG_DREAMFUSION = 1 } vkd_cfg_convention_t;
typedef struct {
    float scale; // s (LDM) or w (DreamFusion), see the top of this file
    vkd_cfg_convention_t convention;
} vkd_cfg_t;

// The factor s of eps_u + s (eps_c - eps_u) that a guidance setting means.
double vkd_cfg_ldm_scale(const vkd_cfg_t *g);

// Guided eps (B, C, H, W): one predict of batch 2B, [x_t; x_t] under [cond; uncond], then
// the combination. uncond[b] may be a negative prompt's handle. eps_c / eps_u (B, C, H, W)
// may be NULL; when given they receive the two raw predictions.
vkd_status_t vkd_prior_predict_cfg(vkd_prior_t *p, float *eps, float *eps_c, float *eps_u,
                                   const float *x_t, const int *t,
                                   const vkd_prior_cond_t *const *cond,
                                   const vkd_prior_cond_t *const *uncond, int B,
                                   const vkd_cfg_t *g);

// ---- value-range mapping ---------------------------------------------------------------
// y = lo + (hi - lo) enc(v) for n pixel values v in [0, 1] (enc = identity or sRGB encode),
// and back (to linear [0, 1], clamped). Out may alias in.
void vkd_prior_to_range(const vkd_prior_t *p, float *y, const float *v, size_t n);
void vkd_prior_from_range(const vkd_prior_t *p, float *v, const float *y, size_t n);
// One image (C, H, W) in the prior's range -> linear [0, 1] pixels (H, W, C), the layout
// of the judge, the PNG writer and the renderers.
void vkd_prior_image_to_hwc(const vkd_prior_t *p, float *hwc, const float *chw);
// dy/dv at each v (for the chain rule of SDS): (hi - lo) enc'(v).
void vkd_prior_range_jacobian(const vkd_prior_t *p, float *dydv, const float *v, size_t n);

// ---- oracle extras (tests, sanity checks) ------------------------------------------------
// The image set behind an oracle condition: *images (n, C, H, W) in the prior's range,
// owned by the handle. VKD_ERR_INVALID for a handle of a UNet prior.
vkd_status_t vkd_oracle_cond_images(const vkd_prior_cond_t *c, const float **images, int *n);
// The exact posterior mean x0_hat (C, H, W) of one noisy image z (C, H, W) at t, and the
// softmax weights (n, may be NULL). For tests of the math itself.
vkd_status_t vkd_oracle_posterior_mean(const vkd_prior_t *p, const vkd_prior_cond_t *c,
                                       const float *z, int t, float *x0_hat, double *weights);

#endif
