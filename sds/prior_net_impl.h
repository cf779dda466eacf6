// Internals of the trainable prior network shared by sds/prior_net*.c: the parameter
// table, the modules (as tensor indices into it) and the tape forwards of both halves.
#ifndef VKD_SDS_PRIOR_NET_IMPL_H
#define VKD_SDS_PRIOR_NET_IMPL_H

#include "prior_net.h"
#include "tape.h"
#include "unet_impl.h"

#define PN_MAX_DEPTH 16   // transformer_depth
#define PN_NAME_MAX 192

typedef enum {
    PN_INIT_UNIFORM, // U(-a, a), a = 1/sqrt(fan_in)
    PN_INIT_NORMAL,  // N(0, a)
    PN_INIT_ONE,
    PN_INIT_ZERO,
} pn_init_t;

typedef struct {
    vkd_prior_net_tensor_t pub;
    char name[PN_NAME_MAX];
    pn_init_t init;
    float a;
} pn_tensor_t;

typedef struct {
    int w, b; // tensor indices (-1: absent)
} pn_lin_t;

typedef struct {
    pn_lin_t ln1, q, k, v, o, ln2, fc1, fc2;
} pn_tlayer_t;

typedef struct {
    int cin, cout;
    pn_lin_t gn1, conv1, emb, gn2, conv2, skip;
} pn_res_t;

typedef struct {
    pn_lin_t ln1, ln2, ln3;
    int qkv;        // attn1.to_q (to_k, to_v follow at equal spacing)
    pn_lin_t out1;  // attn1.to_out.0
    int q2, kv2;    // attn2.to_q; attn2.to_k (to_v follows)
    pn_lin_t out2;  // attn2.to_out.0
    pn_lin_t ff0;   // ff.net.0.proj (2F, I), (2F)
    pn_lin_t ff2;   // ff.net.2 (I, F), (I)
} pn_tb_t;

typedef struct {
    int c, inner, heads, dim_head, depth;
    pn_lin_t gn, proj_in, proj_out;
    pn_tb_t tb[PN_MAX_DEPTH];
} pn_st_t;

typedef struct {
    const unet_desc_t *d;
    pn_lin_t conv_in, down, up;
    pn_res_t res[2];
    pn_st_t st;
} pn_block_t;

struct vkd_prior_net {
    vkd_backend_t *be;
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    unet_arch_t arch;
    pn_tensor_t *tensors;
    int n_tensors, cap_tensors;
    size_t n_floats;               // flat buffer size (with gaps)
    vkd_arena_t *p_arena, *g_arena;
    vkd_buf_t params, grads;       // (P) each
    vkd_tt_t *views;               // (n_tensors) per-tensor views of both
    // text encoder
    pn_lin_t tok, pos, lnf;
    pn_tlayer_t *layers;
    // UNet
    pn_lin_t time0, time2, out_gn, out_conv;
    pn_block_t in[UNET_MAX_BLOCKS], mid, out[UNET_MAX_BLOCKS];
    // training forward
    vkd_tape_t *tape;
    int plan_B, plan_H, plan_W, plan_L, plan_kind; // the shape the tape was planned for
    float *host; // (B, C, H, W) host scratch for the loss
    size_t host_n;
};

// Register a tensor (name printf-style); returns its index or -1 (error set).
int pn_reg(vkd_prior_net_t *n, pn_init_t init, float a, int no_decay, int ndim,
           const int64_t *shape, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
// The tensor's value and gradient views; an absent index gives an absent tensor.
vkd_tt_t pn_t(const vkd_prior_net_t *n, int idx);
// count tensors from idx as one view (they were registered consecutively with equal
// padded sizes); *stride gets the spacing in floats.
vkd_status_t pn_span(const vkd_prior_net_t *n, int idx, int count, vkd_tt_t *out,
                     int64_t *stride);

// Registration of each half, in checkpoint order.
vkd_status_t pn_text_register(vkd_prior_net_t *n);
vkd_status_t pn_unet_register(vkd_prior_net_t *n);

// ctx (B*L, width) from ids (B, L) on the tape.
vkd_status_t pn_text_forward(vkd_prior_net_t *n, vkd_tape_t *t, const int32_t *ids, int B,
                             int L, vkd_tt_t *ctx);
// pred (B, out_channels, H, W) from x (B, in_channels, H, W), host timesteps and ctx.
vkd_status_t pn_unet_forward(vkd_prior_net_t *n, vkd_tape_t *t, vkd_tt_t x, const float *ts,
                             vkd_tt_t ctx, int B, int H, int W, int L, vkd_tt_t *pred);

#endif
