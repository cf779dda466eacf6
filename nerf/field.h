// The NeRF field: integrated positional encoding of each sample's Gaussian, an MLP of
// pre-activation ResNet blocks, density and albedo heads; and the optional background MLP
// on the encoded ray direction. Parameters, gradients and Adam moments live in one arena
// (four buffers of the same layout), so one Adam op updates everything.
//
// Architecture (width W, depth D, F = 3 + 6L input features):
//   h_0 = in(IPE(x, var + lambda_Sigma))                       Linear F -> W
//   h_k = h_{k-1} + lin_k(SiLU(LN_k(h_{k-1})))                  k = 1..D, Linear W -> W
//   raw = out(SiLU(LN_out(h_D)))                                Linear W -> 4
//   sigma = act(raw_0 + blob(x)), rho = sigmoid(raw_1..3)       (nerf_heads_*)
// Background MLP (width Wb): bg = sigmoid(out(SiLU(in(PE(d))))) with PE the same encoding
// of the unit direction d with bg_freq frequencies and no variance.
//
// Tensor names follow the checkpoint: "field.in.weight" (W, F), "field.in.bias" (W),
// "field.blocks.K.norm.weight"/".bias" (W), "field.blocks.K.linear.weight" (W, W),
// "field.blocks.K.linear.bias" (W), "field.out_norm.weight"/".bias" (W),
// "field.out.weight" (4, W), "field.out.bias" (4); "background.in.weight" (Wb, Fb),
// "background.in.bias" (Wb), "background.out.weight" (3, Wb), "background.out.bias" (3).
// Linear weights are stored (out, in), as PyTorch does.
#ifndef VKD_NERF_FIELD_H
#define VKD_NERF_FIELD_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "nerf/config.h"

#define VKD_FIELD_MAX_TENSORS (6 + 4 * VKD_NERF_MAX_DEPTH + 4)

typedef struct {
    char name[48];
    int ndim;
    int64_t shape[2];
    size_t off;   // in floats, a multiple of VKD_BUF_ALIGN / 4
    size_t numel;
} vkd_field_tensor_t;

typedef struct vkd_field {
    vkd_backend_t *be;
    vkd_nerf_config_t cfg;
    vkd_arena_t *arena;
    vkd_buf_t params, grads, adam_m, adam_v; // (n_params) each, the same layout
    size_t n_params;                         // floats, with alignment padding
    int n_tensors;
    vkd_field_tensor_t tensors[VKD_FIELD_MAX_TENSORS];
    int64_t step; // Adam steps taken
} vkd_field_t;

// Activations of one batch of up to `cap` points (forward state kept for the backward)
// and the backward's scratch. Views into an arena the caller owns.
typedef struct {
    int cap;
    vkd_buf_t feat;                          // (cap, F)
    vkd_buf_t h[VKD_NERF_MAX_DEPTH + 1];     // (cap, W): block inputs, h[D] the last output
    vkd_buf_t a[VKD_NERF_MAX_DEPTH + 1];     // (cap, W): LayerNorm outputs (a[D]: LN_out)
    vkd_buf_t s[VKD_NERF_MAX_DEPTH + 1];     // (cap, W): SiLU outputs
    vkd_buf_t mean[VKD_NERF_MAX_DEPTH + 1];  // (cap)
    vkd_buf_t rstd[VKD_NERF_MAX_DEPTH + 1];  // (cap)
    vkd_buf_t raw;                           // (cap, 4)
    vkd_buf_t dh, ds, da, draw;              // (cap, W) x 3, (cap, 4)
    int pre_only;                            // the last forward was vkd_field_forward_pre
} vkd_field_ws_t;

// Background MLP activations for up to `cap` rays.
typedef struct {
    int cap;
    vkd_buf_t feat, h, s, pre; // (cap, Fb), (cap, Wb) x 2, (cap, 3)
    vkd_buf_t dpre, ds, dh;    // (cap, 3), (cap, Wb) x 2
} vkd_field_bg_ws_t;

// A new field with parameters initialised from cfg->seed (Philox: Linear weights
// U(-1/sqrt(in), 1/sqrt(in)), biases 0 except the density bias, LayerNorm 1 and 0), zero
// gradients and moments.
vkd_status_t vkd_field_create(vkd_backend_t *be, const vkd_nerf_config_t *cfg, vkd_field_t **out);
void vkd_field_destroy(vkd_field_t *f); // NULL is fine

// Index of the tensor called name, or -1.
int vkd_field_find(const vkd_field_t *f, const char *name);
// Views of tensor i in params / grads / adam_m / adam_v (which = 0..3).
vkd_buf_t vkd_field_view(const vkd_field_t *f, int which, int i);

// Bytes an arena needs for a workspace of cap points (with alignment padding).
size_t vkd_field_ws_bytes(const vkd_nerf_config_t *cfg, int cap);
vkd_status_t vkd_field_ws_alloc(const vkd_field_t *f, vkd_arena_t *arena, int cap,
                                vkd_field_ws_t *ws);
size_t vkd_field_bg_ws_bytes(const vkd_nerf_config_t *cfg, int cap);
vkd_status_t vkd_field_bg_ws_alloc(const vkd_field_t *f, vkd_arena_t *arena, int cap,
                                   vkd_field_bg_ws_t *ws);

// sigma (P), rho (P, 3) (NONE: not needed) of the Gaussians (x (P, 3), var (P)) with the
// IPE covariance var_add (vkd_nerf_ipe_var) added. Keeps the activations in ws.
vkd_status_t vkd_field_forward(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t sigma,
                               vkd_buf_t rho, vkd_buf_t x, vkd_buf_t var, int P, float var_add);
// The density's pre-activation (log-density for exp) instead of sigma, no albedo: what the
// finite-difference normals use (nerf_ops.h, vkd_nerf_heads_t.pre_only).
vkd_status_t vkd_field_forward_pre(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t pre,
                                   vkd_buf_t x, vkd_buf_t var, int P, float var_add);
// Accumulates the parameter gradients of the last forward through ws (same P, x) given
// dsigma (P) (the gradient of the pre-activation after vkd_field_forward_pre) and drho
// (P, 3) (either may be NONE).
vkd_status_t vkd_field_backward(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t dsigma,
                                vkd_buf_t drho, vkd_buf_t x, int P);

// The background MLP (bg_mode mlp only): bg (R, 3) of unit directions dirs (R, 3).
vkd_status_t vkd_field_bg_forward(vkd_field_t *f, vkd_field_bg_ws_t *ws, vkd_buf_t bg,
                                  vkd_buf_t dirs, int R);
vkd_status_t vkd_field_bg_backward(vkd_field_t *f, vkd_field_bg_ws_t *ws, vkd_buf_t dbg, int R);

// Zero the gradients; one Adam step (lr warmed up linearly over warmup_steps) on every
// parameter; step counts from 1.
vkd_status_t vkd_field_zero_grad(vkd_field_t *f);
vkd_status_t vkd_field_adam_step(vkd_field_t *f);
// The learning rate of the next Adam step.
float vkd_field_lr(const vkd_field_t *f);

// VKD_ERR_NUMERIC naming the first tensor (and `what`, e.g. the file) holding a NaN or
// infinity among the parameters (which = 0) or moments (1, 2).
vkd_status_t vkd_field_check_finite(const vkd_field_t *f, const char *what);

#endif
