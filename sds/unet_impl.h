// Internals of the UNet shared by sds/unet*.c: the block list a config implies, the loaded
// modules, and the forward's workspace.
#ifndef VKD_SDS_UNET_IMPL_H
#define VKD_SDS_UNET_IMPL_H

#include "ops.h"
#include "unet.h"

#define UNET_GN_GROUPS 32 // GroupNorm32 of LDM's normalization()
#define UNET_MAX_BLOCKS (1 + VKD_UNET_MAX_LEVELS * (VKD_UNET_MAX_RES_BLOCKS + 1))

// One TimestepEmbedSequential of the reference: up to three layers in this order.
typedef struct {
    int conv_in;          // input_blocks.0: the 3x3 conv from in_channels
    int mid;              // middle_block: ResBlock, SpatialTransformer, ResBlock
    int res_in, res_out;  // ResBlock channels (0: none)
    int attn;             // SpatialTransformer channels (0: none)
    int down;             // Downsample channels (0: none)
    int up;               // Upsample channels (0: none)
    int ds;               // downsampling factor of the block's input
    int cin, cout;        // channels of the block's input and output
} unet_desc_t;

typedef struct {
    int n_in, n_out;
    unet_desc_t in[UNET_MAX_BLOCKS], mid, out[UNET_MAX_BLOCKS];
    int temb;             // time_embed_dim = 4 * model_channels
} unet_arch_t;

// Derive the block list (fails on channel counts GroupNorm32 cannot split, heads of width 0).
vkd_status_t unet_arch_build(const vkd_unet_config_t *cfg, unet_arch_t *a);
// Heads and head width of a SpatialTransformer on ch channels (legacy rule included).
void unet_heads(const vkd_unet_config_t *cfg, int ch, int *heads, int *dim_head);
// Parameter floats and tensor count of the whole model.
void unet_count(const vkd_unet_config_t *cfg, const unet_arch_t *a, int64_t *params,
                int64_t *tensors);

// ---- loaded modules (every buffer lives in the model's params arena) -----------------------
typedef struct {
    vkd_buf_t w, b;
} unet_lin_t;

typedef struct {
    int cin, cout;
    unet_lin_t gn1, conv1, emb, gn2, conv2;
    unet_lin_t skip; // 1x1 conv when cin != cout; absent for identity
} unet_res_t;

typedef struct {
    unet_lin_t ln1, ln2, ln3;
    vkd_buf_t qkv;          // (3, inner, inner) attn1.to_{q,k,v}.weight stacked
    unet_lin_t out1;        // attn1.to_out.0 (inner, inner), (inner)
    vkd_buf_t q2;           // attn2.to_q.weight (inner, inner)
    vkd_buf_t kv2;          // (2, inner, context_dim) attn2.to_{k,v}.weight stacked
    unet_lin_t out2;        // attn2.to_out.0
    unet_lin_t ff_a, ff_g;  // rows [0, F) and [F, 2F) of ff.net.0.proj: (F, inner), (F)
    unet_lin_t ff_out;      // ff.net.2 (inner, F), (inner)
} unet_tblock_t;

typedef struct {
    int c, inner, heads, dim_head, depth;
    unet_lin_t gn, proj_in, proj_out;
    unet_tblock_t *tb; // (depth)
} unet_st_t;

typedef struct {
    const unet_desc_t *d;
    unet_lin_t conv_in;
    unet_res_t *res;
    unet_st_t *st;
    unet_lin_t down, up; // Downsample.op / Upsample.conv
} unet_block_t;

// ---- forward workspace -------------------------------------------------------------------
// Dry run (plan = 1): ops are skipped and buffers are sizes only, which measures the peak;
// the real run then slices the same layout out of an arena of exactly that size. The skip
// connections form a stack at the low end (pushed by input blocks, popped by output blocks
// in reverse), everything else a stack at the high end, released per block.
typedef struct {
    vkd_backend_t *be;
    int plan;
    vkd_buf_t base; // the acts arena's whole view (real run)
    size_t cap, lo, hi, peak; // bytes
    int B, L, ctx_dim, temb;
    float eps_res, eps_st, eps_ln;
    vkd_buf_t semb; // (B, temb) SiLU(emb), the input of every ResBlock's emb_layers
    vkd_buf_t ctx;  // (B, L, ctx_dim)
} unet_fw_t;

vkd_status_t unet_lo_push(unet_fw_t *f, size_t n_floats, vkd_buf_t *out);
void unet_lo_pop(unet_fw_t *f, vkd_buf_t b);
vkd_status_t unet_hi_alloc(unet_fw_t *f, size_t n_floats, vkd_buf_t *out);
static inline size_t unet_hi_mark(const unet_fw_t *f) { return f->hi; }
static inline void unet_hi_release(unet_fw_t *f, size_t mark) { f->hi = mark; }

// One block: out (B, d->cout, H/.., W/..) from in (B, d->cin, H, W), H x W the block's
// input resolution (after a Downsample/Upsample the output is half/double of it).
vkd_status_t unet_block_forward(unet_fw_t *f, const unet_block_t *blk, vkd_buf_t out,
                                vkd_buf_t in, int H, int W);
// The op wrappers the blocks use, exposed for unet.c's stem and head.
vkd_status_t unet_k_gemm(unet_fw_t *f, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b, vkd_buf_t bias,
                         const vkd_gemm_t *g);
vkd_status_t unet_k_unary(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, size_t n, vkd_act_t act);
vkd_status_t unet_k_groupnorm(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const unet_lin_t *p,
                              int B, int C, int HW, float eps);
vkd_status_t unet_k_conv(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const unet_lin_t *p,
                         int B, int Cin, int H, int W, int Cout, int k, int stride);
vkd_status_t unet_k_copy(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp,
                         const vkd_copy_strided_t *d);

#endif
