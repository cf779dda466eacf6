// The CLIP-style text encoder: token + position embedding, pre-LN transformer layers with
// a causal mask, final LayerNorm -> context (B, L, D), plus the pooled output at the eot
// token. Written once against ops.h, so it runs on either backend.
//
// Config (JSON). The keys are those of Hugging Face's CLIPTextConfig; all but the last
// two are required (configs are explicit, never guessed from tensor shapes):
//   {
//     "vocab_size": 49408,             token embedding rows; ids must lie in [0, vocab_size)
//     "hidden_size": 768,              width D
//     "intermediate_size": 3072,       MLP width F
//     "num_hidden_layers": 12,
//     "num_attention_heads": 12,       must divide hidden_size
//     "max_position_embeddings": 77,   position embedding rows = longest sequence
//     "hidden_act": "quick_gelu",      or "gelu" (exact erf form, OpenCLIP / SD 2.x)
//     "layer_norm_eps": 1e-5,
//     "causal": true,                  optional, default true (CLIP always masks)
//     "checkpoint_prefix": "cond_stage_model.transformer."   optional, this default
//   }
// The object may also be nested under "hf_equivalent_config" (the layout of the golden
// clip_text_tiny.config.json, whose "checkpoint_prefix" sits beside it at top level) or
// under "text_encoder" (a prior's config); other keys are ignored.
//
// Weights: prefix + the CLIPTextModel names, float32/f16/bf16 in the file:
//   text_model.embeddings.token_embedding.weight        (vocab_size, D)
//   text_model.embeddings.position_embedding.weight     (max_position_embeddings, D)
//   text_model.encoder.layers.{i}.layer_norm1.{weight,bias}                      (D)
//   text_model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.weight (D, D), .bias (D)
//   text_model.encoder.layers.{i}.layer_norm2.{weight,bias}                      (D)
//   text_model.encoder.layers.{i}.mlp.fc1.weight (F, D), .bias (F)
//   text_model.encoder.layers.{i}.mlp.fc2.weight (D, F), .bias (D)
//   text_model.final_layer_norm.{weight,bias}                                    (D)
//
// Forward, per layer: x += out_proj(attn(layer_norm1(x))); x += fc2(act(fc1(layer_norm2(x)))),
// attention over heads of D / heads channels with scale (D / heads)^-1/2. The output is
// final_layer_norm(x) (SD 1.x's context; no projection). pooled[b] is that output at
// argmax(ids[b]) (first occurrence), the eot token when eot is the largest id.
#ifndef VKD_SDS_TEXT_ENCODER_H
#define VKD_SDS_TEXT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "ops.h"
#include "weights.h"

struct cJSON;

#define VKD_TEXT_ENCODER_PREFIX "cond_stage_model.transformer."

typedef struct {
    int vocab_size, width, mlp_width, layers, heads, context_length;
    vkd_act_t act; // VKD_ACT_QUICK_GELU or VKD_ACT_GELU
    float ln_eps;
    int causal;
    char prefix[128]; // tensor name prefix
} vkd_text_encoder_config_t;

// Parse a config from a cJSON object (see the format above). `where` names the source in
// messages (a file name). Fails (VKD_ERR_FORMAT) naming the missing or invalid key.
vkd_status_t vkd_text_encoder_config_from_json(const struct cJSON *obj, const char *where,
                                               vkd_text_encoder_config_t *cfg);
// Same, reading a JSON file.
vkd_status_t vkd_text_encoder_config_load(const char *path, vkd_text_encoder_config_t *cfg);

typedef struct vkd_text_encoder vkd_text_encoder_t;

// Bytes a params arena needs for the weights (float32, VKD_BUF_ALIGN-padded views).
size_t vkd_text_encoder_param_bytes(const vkd_text_encoder_config_t *cfg);
// Bytes of temporaries one forward of B sequences of length L takes from its scratch
// arena (5 (B L, D) buffers, one (B L, F), two (B L)).
size_t vkd_text_encoder_scratch_bytes(const vkd_text_encoder_config_t *cfg, int B, int L);

// Load every weight with the shape the config implies into `params` (its backend is the
// encoder's). A missing tensor or a wrong shape fails naming the tensor and the file.
// Tensors under the prefix that were not used can then be listed with
// vkd_weights_report_unused(w, cfg->prefix, stderr).
vkd_status_t vkd_text_encoder_load(const vkd_text_encoder_config_t *cfg, vkd_weights_t *w,
                                   vkd_arena_t *params, vkd_text_encoder_t **out);
void vkd_text_encoder_free(vkd_text_encoder_t *te); // NULL is fine; the arena keeps its views
const vkd_text_encoder_config_t *vkd_text_encoder_get_config(const vkd_text_encoder_t *te);

// Encode B sequences of L token ids (host array, row-major (B, L), 1 <= L <=
// context_length). Writes out (B, L, D) and, when present, pooled (B, D); eot_index (B,
// host) may be NULL. Every id is checked against the vocabulary before anything runs.
// Temporaries come from `scratch` (vkd_text_encoder_scratch_bytes free); they are dead
// when the call returns, so the caller may reset that arena then (on Vulkan, later
// recorded work is ordered after this call's). out and pooled must not live in the
// scratch space this call allocates. On Vulkan the work is recorded, not run: read the
// outputs (or vkd_backend_sync) to wait for it; nothing is read back to the host here.
//
// The embedding gather is one op_copy_strided per run of equal ids (accumulated onto a
// broadcast copy of the position table): the ids are already on the host, so the copies
// need no read-back, the token table stays only in the params arena (a host copy of SD's
// would be another 150 MB), and nothing waits for the device. Padding is one run, so a
// prompt costs about as many small dispatches as it has tokens — once per prompt.
vkd_status_t vkd_text_encoder_forward(vkd_text_encoder_t *te, vkd_buf_t out, vkd_buf_t pooled,
                                      int *eot_index, const int32_t *ids, int B, int L,
                                      vkd_arena_t *scratch);

#endif
