// The trainable prior network: text encoder + UNet with their own parameters, a training
// forward built on the tape (src/tape.h) and its backward.
//
// The inference modules (text_encoder.c, unet*.c) reuse memory and run ops in place, so
// they cannot be differentiated; this is a second forward description of the same model
// that computes exactly what they compute (same configs, same op sequence up to where
// residual adds happen), with every activation kept for the backward.
//
// Parameters: ONE flat buffer (P floats) holding every tensor under its checkpoint name
// (cond_stage_model.transformer.text_model.* then model.diffusion_model.*, or the configs'
// prefixes), each tensor starting at a multiple of VKD_BUF_ALIGN bytes (64 floats). The
// gaps are zero, have zero gradient and stay zero under Adam/AdamW and EMA, so the flat
// buffer can be updated by single ops. vkd_prior_net_param_count() includes the gaps; sum
// the tensors' counts for the model's parameter count.
//
// The UNet's context is the text encoder's last hidden state (B, L, width) with no pooling
// or projection: unet context_dim must equal the text width. Gradients flow from the loss
// into both halves.
#ifndef VKD_SDS_PRIOR_NET_H
#define VKD_SDS_PRIOR_NET_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "text_encoder.h"
#include "unet.h"

typedef struct vkd_prior_net vkd_prior_net_t;

typedef struct {
    const char *name; // full checkpoint name
    int ndim;
    int64_t shape[4];
    size_t offset; // in floats, into the flat parameter buffer
    size_t count;
    int no_decay; // 1 for biases, norm weights, embeddings (AdamW decay off)
} vkd_prior_net_tensor_t;

// Fresh parameters from seed: PyTorch default init for Linear/Conv (U(+-1/sqrt(fan_in)) for
// weight and bias), norms weight 1 bias 0, LDM's zero_module layers zero (ResBlock
// out_layers.3, SpatialTransformer proj_out, final out.2), token embedding N(0, 0.02),
// position embedding N(0, 0.01), drawn with Philox (stream = tensor index) so the same
// seed gives the same net on any backend.
vkd_status_t vkd_prior_net_create(vkd_backend_t *be, const vkd_text_encoder_config_t *te,
                                  const vkd_unet_config_t *unet, uint64_t seed,
                                  vkd_prior_net_t **out);
void vkd_prior_net_free(vkd_prior_net_t *n); // NULL ok
// Floats of the flat buffers, alignment gaps included (see above).
size_t vkd_prior_net_param_count(const vkd_prior_net_t *n);
vkd_buf_t vkd_prior_net_params(vkd_prior_net_t *n); // (P) flat
vkd_buf_t vkd_prior_net_grads(vkd_prior_net_t *n);  // (P) flat, same layout
int vkd_prior_net_n_tensors(const vkd_prior_net_t *n);
const vkd_prior_net_tensor_t *vkd_prior_net_tensor(const vkd_prior_net_t *n, int i);
const vkd_text_encoder_config_t *vkd_prior_net_text_config(const vkd_prior_net_t *n);
const vkd_unet_config_t *vkd_prior_net_unet_config(const vkd_prior_net_t *n);

// Load every tensor by name from a .safetensors file (exact shapes, any float dtype;
// missing -> error naming it). Other tensors in the file are ignored.
vkd_status_t vkd_prior_net_load(vkd_prior_net_t *n, const char *path);
// Write the tensors (values taken from `values`, a (P) buffer with the params' layout: the
// params themselves or an EMA copy) as float32 under their names to path, atomically.
// meta_kv: NULL or n_meta key/value string pairs (2 * n_meta strings) for the header.
vkd_status_t vkd_prior_net_save(vkd_prior_net_t *n, vkd_buf_t values, const char *path,
                                const char *const *meta_kv, int n_meta);

// One training step's forward + backward. Host inputs:
//   x_t (B, C, H, W) noisy images, t (B) float timesteps, ids (B, L) token ids (L <= the
//   text encoder's context length), target (B, C, H, W) (eps or v), weight (B) per-sample
//   loss weights (NULL = 1).
// loss = sum_b weight[b] * mean_{c,h,w} (pred - target)^2 / B; grads += dloss/dparams
// (accumulated; the caller zeroes the grads buffer). *loss gets the loss; per_sample (B)
// may be NULL, else gets each sample's unweighted MSE (for NaN checks).
// Activation memory is planned on the first use of a shape (B, H, W, L) and reused.
vkd_status_t vkd_prior_net_step(vkd_prior_net_t *n, const float *x_t, const float *t,
                                const int32_t *ids, const float *target, const float *weight,
                                int B, int H, int W, int L, double *loss, float *per_sample);
// Forward only: pred (B, C, H, W) host.
vkd_status_t vkd_prior_net_forward(vkd_prior_net_t *n, float *pred, const float *x_t,
                                   const float *t, const int32_t *ids, int B, int H, int W,
                                   int L);
// The halves on their own (tests, and checking each half against its golden data):
// ctx (B, L, width) host = the text encoder's output for ids (B, L).
vkd_status_t vkd_prior_net_encode(vkd_prior_net_t *n, float *ctx, const int32_t *ids, int B,
                                  int L);
// pred (B, C, H, W) host = the UNet on a given host context (B, L, context_dim).
vkd_status_t vkd_prior_net_forward_ctx(vkd_prior_net_t *n, float *pred, const float *x_t,
                                       const float *t, const float *ctx, int B, int H, int W,
                                       int L);
// Bytes of activation memory (values + gradients) the last planned shape needs.
size_t vkd_prior_net_acts_bytes(const vkd_prior_net_t *n);

#endif
