// Internals of the VAE shared by sds/vae.c (config, loading, API) and sds/vae_blocks.c
// (the forward passes on top of ops.h).
#ifndef VKD_SDS_VAE_IMPL_H
#define VKD_SDS_VAE_IMPL_H

#include "ops.h"
#include "vae.h"

#define VAE_GN_GROUPS 32
#define VAE_GN_EPS 1e-6f // every Normalize() of the reference
#define VAE_MAX_RES 17   // ResnetBlocks per level (num_res_blocks + 1 in the decoder)

typedef struct {
    vkd_buf_t w, b;
} vae_lin_t;

typedef struct {
    int cin, cout;
    vae_lin_t norm1, conv1, norm2, conv2;
    vae_lin_t nin; // 1x1 nin_shortcut when cin != cout
} vae_res_t;

typedef struct {
    int c;
    vae_lin_t norm, q, k, v, proj; // q/k/v/proj_out 1x1 convs, used as (C, C) matrices
} vae_attn_t;

typedef struct {
    int n_res, has_attn, cin, cout; // cin: channels entering the level
    vae_res_t res[VAE_MAX_RES];
    vae_attn_t attn[VAE_MAX_RES];
    int has_resample;
    vae_lin_t resample; // encoder: downsample.conv; decoder: upsample.conv
} vae_level_t;

typedef struct {
    vae_lin_t conv_in, norm_out, conv_out;
    vae_res_t mid1, mid2;
    vae_attn_t mid_attn;
    vae_level_t lv[VKD_VAE_MAX_LEVELS];
} vae_coder_t;

struct vkd_vae {
    vkd_backend_t *be;
    vkd_vae_config_t cfg;
    vkd_arena_t *params, *acts;
    vkd_buf_t acts_base; // the acts arena's whole view
    vae_coder_t enc, dec;
    vae_lin_t quant, post_quant;
    vkd_vae_tap_fn tap;
    void *tap_user;
};

// ---- forward workspace -----------------------------------------------------------------------
// Dry run (plan = 1): ops are skipped and buffers are sizes only, which measures what a call
// needs; the real run slices the same layout from the acts arena: two ping-pong buffers for
// the activation flowing between modules, then a stack of per-module scratch.
typedef struct {
    vkd_vae_t *v;
    vkd_backend_t *be;
    int plan, B;
    vkd_buf_t base;
    size_t main_n;     // floats of each ping-pong buffer (plan: the max asked for)
    size_t top, peak;  // scratch stack bytes
    int which;         // the ping-pong buffer the next module writes
} vae_fw_t;

vkd_status_t vae_scratch(vae_fw_t *f, size_t n_floats, vkd_buf_t *out);
// The next ping-pong buffer (n floats); alternates, so it never is the current input.
vkd_status_t vae_next(vae_fw_t *f, size_t n_floats, vkd_buf_t *out);
size_t vae_round_bytes(size_t n_floats);

vkd_status_t vae_encoder_forward(vae_fw_t *f, vkd_buf_t moments, vkd_buf_t image, int H, int W);
vkd_status_t vae_decoder_forward(vae_fw_t *f, vkd_buf_t image, vkd_buf_t z, int h, int w);
// The posterior helpers: any output may be VKD_BUF_NONE.
vkd_status_t vae_posterior_forward(vae_fw_t *f, vkd_buf_t mean, vkd_buf_t logvar, vkd_buf_t std,
                                   vkd_buf_t sample, vkd_buf_t moments, vkd_buf_t noise, int hw);

#endif
