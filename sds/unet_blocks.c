// The UNet's blocks on top of ops.h: ResBlock, SpatialTransformer (with its
// BasicTransformerBlocks), Downsample, Upsample; plus the forward workspace and the op
// wrappers that turn into no-ops during the planning dry run.
#include <math.h>

#include "unet_impl.h"

#define ALIGN_FLOATS (VKD_BUF_ALIGN / sizeof(float))

static size_t round_bytes(size_t n_floats) {
    return (n_floats * sizeof(float) + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

static size_t round_floats(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

// ---- workspace -----------------------------------------------------------------------------
static vkd_status_t view(unet_fw_t *f, size_t off, size_t n_floats, vkd_buf_t *out) {
    if (f->lo + f->hi > f->peak) f->peak = f->lo + f->hi;
    if (f->plan) { // sizes only: ops are skipped in the dry run
        *out = (vkd_buf_t){.bytes = n_floats * sizeof(float)};
        return VKD_OK;
    }
    if (f->lo + f->hi > f->cap)
        return vkd_fail(VKD_ERR_NOMEM, "unet forward: activation plan exceeded (%zu > %zu bytes); "
                        "this is a bug in sds/unet", f->lo + f->hi, f->cap);
    return vkd_buf_slice(f->base, off, n_floats * sizeof(float), out);
}

vkd_status_t unet_lo_push(unet_fw_t *f, size_t n_floats, vkd_buf_t *out) {
    const size_t off = f->lo;
    f->lo += round_bytes(n_floats);
    return view(f, off, n_floats, out);
}

void unet_lo_pop(unet_fw_t *f, vkd_buf_t b) { f->lo -= round_bytes(vkd_buf_count(b)); }

vkd_status_t unet_hi_alloc(unet_fw_t *f, size_t n_floats, vkd_buf_t *out) {
    f->hi += round_bytes(n_floats);
    return view(f, f->cap - f->hi, n_floats, out);
}

// ---- op wrappers ---------------------------------------------------------------------------
vkd_status_t unet_k_gemm(unet_fw_t *f, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b, vkd_buf_t bias,
                         const vkd_gemm_t *g) {
    return f->plan ? VKD_OK : op_gemm_forward(f->be, c, a, b, bias, g);
}

vkd_status_t unet_k_unary(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, size_t n, vkd_act_t act) {
    return f->plan ? VKD_OK : op_unary_forward(f->be, out, inp, n, act);
}

static vkd_status_t k_binary(unet_fw_t *f, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b, size_t n,
                             size_t b_n, size_t b_inner, vkd_binop_t op) {
    const vkd_binary_t d = {.n = n, .b_n = b_n, .b_inner = b_inner, .op = op};
    return f->plan ? VKD_OK : op_binary_forward(f->be, out, a, b, &d);
}

vkd_status_t unet_k_copy(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const vkd_copy_strided_t *d) {
    return f->plan ? VKD_OK : op_copy_strided(f->be, out, inp, d);
}

// The saved statistics are scratch here (no backward): released right after the op.
vkd_status_t unet_k_groupnorm(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const unet_lin_t *p,
                              int B, int C, int HW, float eps) {
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t mean, rstd; // (B, G)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * UNET_GN_GROUPS, &mean));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * UNET_GN_GROUPS, &rstd));
    const vkd_groupnorm_t d = {.B = B, .C = C, .HW = HW, .G = UNET_GN_GROUPS, .eps = eps};
    vkd_status_t s = f->plan ? VKD_OK : op_groupnorm_forward(f->be, out, mean, rstd, inp, p->w, p->b, &d);
    unet_hi_release(f, mark);
    return s;
}

static vkd_status_t k_layernorm(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const unet_lin_t *p,
                                int N, int D) {
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t mean, rstd; // (N)
    VKD_TRY(unet_hi_alloc(f, (size_t)N, &mean));
    VKD_TRY(unet_hi_alloc(f, (size_t)N, &rstd));
    vkd_status_t s = f->plan ? VKD_OK
                             : op_layernorm_forward(f->be, out, mean, rstd, inp, p->w, p->b, N, D,
                                                    f->eps_ln);
    unet_hi_release(f, mark);
    return s;
}

// A square convolution with "same" padding (k = 3: pad 1; k = 1: pad 0).
vkd_status_t unet_k_conv(unet_fw_t *f, vkd_buf_t out, vkd_buf_t inp, const unet_lin_t *p,
                         int B, int Cin, int H, int W, int Cout, int k, int stride) {
    const int pad = k / 2;
    const vkd_conv2d_t c = {.B = B, .Cin = Cin, .H = H, .W = W, .Cout = Cout, .KH = k, .KW = k,
                            .stride = stride, .pad_t = pad, .pad_b = pad, .pad_l = pad,
                            .pad_r = pad};
    return f->plan ? VKD_OK : op_conv2d_forward(f->be, out, inp, p->w, p->b, &c);
}

// y (rows, N) = x (rows, K) W^T + b (+ y when beta = 1): a Linear layer on row vectors.
static vkd_status_t k_linear(unet_fw_t *f, vkd_buf_t y, vkd_buf_t x, vkd_buf_t w, vkd_buf_t b,
                             int rows, int N, int K, float beta) {
    const vkd_gemm_t g = {.M = rows, .N = N, .K = K, .trans_b = 1, .alpha = 1.0f, .beta = beta,
                          .batch = 1};
    return unet_k_gemm(f, y, x, w, b, &g);
}

// ---- ResBlock --------------------------------------------------------------------------------
// out (B, cout, HW) = skip(in) + out_layers(in_layers(in) + emb_layers(emb)).
static vkd_status_t res_forward(unet_fw_t *f, const unet_res_t *r, vkd_buf_t out, vkd_buf_t in,
                                int H, int W) {
    const int B = f->B, HW = H * W, ci = r->cin, co = r->cout;
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t a, h, e, g; // (B, ci, HW), (B, co, HW), (B, co), (B, co, HW)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * ci * HW, &a));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * co * HW, &h));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * co, &e));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * co * HW, &g));
    VKD_TRY(unet_k_groupnorm(f, a, in, &r->gn1, B, ci, HW, f->eps_res));
    VKD_TRY(unet_k_unary(f, a, a, (size_t)B * ci * HW, VKD_ACT_SILU));
    VKD_TRY(unet_k_conv(f, h, a, &r->conv1, B, ci, H, W, co, 3, 1));
    VKD_TRY(k_linear(f, e, f->semb, r->emb.w, r->emb.b, B, co, f->temb, 0.0f));
    // The timestep embedding is added per (batch, channel).
    VKD_TRY(k_binary(f, h, h, e, (size_t)B * co * HW, (size_t)B * co, (size_t)HW, VKD_BIN_ADD));
    VKD_TRY(unet_k_groupnorm(f, g, h, &r->gn2, B, co, HW, f->eps_res));
    VKD_TRY(unet_k_unary(f, g, g, (size_t)B * co * HW, VKD_ACT_SILU));
    VKD_TRY(unet_k_conv(f, out, g, &r->conv2, B, co, H, W, co, 3, 1));
    if (ci != co) { // skip_connection is a 1x1 conv
        VKD_TRY(unet_k_conv(f, h, in, &r->skip, B, ci, H, W, co, 1, 1));
        VKD_TRY(k_binary(f, out, out, h, (size_t)B * co * HW, (size_t)B * co * HW, 1, VKD_BIN_ADD));
    } else {
        VKD_TRY(k_binary(f, out, out, in, (size_t)B * co * HW, (size_t)B * co * HW, 1, VKD_BIN_ADD));
    }
    unet_hi_release(f, mark);
    return VKD_OK;
}

// ---- attention ---------------------------------------------------------------------------------
// o (B, Lq, inner) = multi-head attention of q (B, Lq, inner) to k, v (B, Lk, inner); head h
// uses channels [h d, (h + 1) d), as rearrange('b n (h d) -> (b h) n d') does.
static vkd_status_t k_attention(unet_fw_t *f, const unet_st_t *s, vkd_buf_t o, vkd_buf_t q,
                                vkd_buf_t k, vkd_buf_t v, int Lq, int Lk) {
    const int64_t in = s->inner;
    const vkd_attention_t a = {
        .B = f->B, .H = s->heads, .Lq = Lq, .Lk = Lk, .D = s->dim_head, .Dv = s->dim_head,
        .scale = 1.0f / sqrtf((float)s->dim_head),
        .sq_b = Lq * in, .sq_h = s->dim_head, .sq_l = in,
        .sk_b = Lk * in, .sk_h = s->dim_head, .sk_l = in,
        .sv_b = Lk * in, .sv_h = s->dim_head, .sv_l = in,
        .so_b = Lq * in, .so_h = s->dim_head, .so_l = in,
    };
    return f->plan ? VKD_OK : op_attention_forward(f->be, o, q, k, v, &a);
}

// Three aligned views q, k, v of one (3, P) buffer written by a single batched GEMM.
static vkd_status_t split3(unet_fw_t *f, vkd_buf_t all, size_t P, size_t n, vkd_buf_t *parts,
                           int count) {
    for (int i = 0; i < count; i++) {
        if (f->plan) parts[i] = (vkd_buf_t){.bytes = n * sizeof(float)};
        else VKD_TRY(vkd_buf_slice(all, i * P * sizeof(float), n * sizeof(float), &parts[i]));
    }
    return VKD_OK;
}

// x (B, N, inner) += to_out(attention(norm(x), context)): self-attention when ctx is absent.
static vkd_status_t attn_forward(unet_fw_t *f, const unet_st_t *s, const unet_tblock_t *t,
                                 vkd_buf_t x, int N, int self) {
    const int B = f->B, in = s->inner, rows = B * N;
    const int Lk = self ? N : f->L;
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t hn, o; // (B, N, inner) each
    VKD_TRY(unet_hi_alloc(f, (size_t)rows * in, &hn));
    VKD_TRY(unet_hi_alloc(f, (size_t)rows * in, &o));
    VKD_TRY(k_layernorm(f, hn, x, self ? &t->ln1 : &t->ln2, rows, in));
    vkd_buf_t qkv[3];
    if (self) {
        // q, k, v in one GEMM over the stacked weights; each output padded to an aligned size
        // so that the three parts are buffer views.
        const size_t P = round_floats((size_t)rows * in);
        vkd_buf_t all; // (3, P)
        VKD_TRY(unet_hi_alloc(f, 3 * P, &all));
        const vkd_gemm_t g = {.M = rows, .N = in, .K = in, .trans_b = 1, .alpha = 1.0f,
                              .batch = 3, .stride_a = 0, .stride_b = (int64_t)in * in,
                              .stride_c = (int64_t)P};
        VKD_TRY(unet_k_gemm(f, all, hn, t->qkv, VKD_BUF_NONE, &g));
        VKD_TRY(split3(f, all, P, (size_t)rows * in, qkv, 3));
    } else {
        const int rk = B * f->L;
        const size_t P = round_floats((size_t)rk * in);
        vkd_buf_t kv; // (2, P)
        VKD_TRY(unet_hi_alloc(f, (size_t)rows * in, &qkv[0]));
        VKD_TRY(unet_hi_alloc(f, 2 * P, &kv));
        VKD_TRY(k_linear(f, qkv[0], hn, t->q2, VKD_BUF_NONE, rows, in, in, 0.0f));
        const vkd_gemm_t g = {.M = rk, .N = in, .K = f->ctx_dim, .trans_b = 1, .alpha = 1.0f,
                              .batch = 2, .stride_a = 0, .stride_b = (int64_t)in * f->ctx_dim,
                              .stride_c = (int64_t)P};
        VKD_TRY(unet_k_gemm(f, kv, f->ctx, t->kv2, VKD_BUF_NONE, &g));
        VKD_TRY(split3(f, kv, P, (size_t)rk * in, qkv + 1, 2));
    }
    VKD_TRY(k_attention(f, s, o, qkv[0], qkv[1], qkv[2], N, Lk));
    const unet_lin_t *po = self ? &t->out1 : &t->out2;
    VKD_TRY(k_linear(f, x, o, po->w, po->b, rows, in, in, 1.0f)); // residual: beta = 1
    unet_hi_release(f, mark);
    return VKD_OK;
}

// x (B, N, inner) += ff(norm3(x)); ff = Linear(GEGLU): a * gelu(gate) with (a, gate) the two
// halves of proj(x) (exact erf GELU).
static vkd_status_t ff_forward(unet_fw_t *f, const unet_st_t *s, const unet_tblock_t *t,
                               vkd_buf_t x, int N) {
    const int in = s->inner, F = 4 * in, rows = f->B * N;
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t hn, a, g; // (rows, inner), (rows, F), (rows, F)
    VKD_TRY(unet_hi_alloc(f, (size_t)rows * in, &hn));
    VKD_TRY(unet_hi_alloc(f, (size_t)rows * F, &a));
    VKD_TRY(unet_hi_alloc(f, (size_t)rows * F, &g));
    VKD_TRY(k_layernorm(f, hn, x, &t->ln3, rows, in));
    VKD_TRY(k_linear(f, a, hn, t->ff_a.w, t->ff_a.b, rows, F, in, 0.0f));
    VKD_TRY(k_linear(f, g, hn, t->ff_g.w, t->ff_g.b, rows, F, in, 0.0f));
    VKD_TRY(unet_k_unary(f, g, g, (size_t)rows * F, VKD_ACT_GELU));
    VKD_TRY(k_binary(f, a, a, g, (size_t)rows * F, (size_t)rows * F, 1, VKD_BIN_MUL));
    VKD_TRY(k_linear(f, x, a, t->ff_out.w, t->ff_out.b, rows, in, F, 1.0f));
    unet_hi_release(f, mark);
    return VKD_OK;
}

// ---- SpatialTransformer ------------------------------------------------------------------------
// out (B, C, HW) = in + proj_out(blocks(proj_in(norm(in)))), the blocks working on tokens
// (B, HW, inner). proj_in as a 1x1 conv followed by the rearrange to tokens equals the
// rearrange followed by a Linear, so both variants are one GEMM on the transposed
// activations; proj_out likewise produces (B, C, HW) directly.
static vkd_status_t st_forward(unet_fw_t *f, const unet_st_t *s, vkd_buf_t out, vkd_buf_t in,
                               int H, int W) {
    const int B = f->B, HW = H * W, C = s->c, I = s->inner;
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t hn, x; // (B, C, HW), (B, HW, inner)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * C * HW, &hn));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * HW * I, &x));
    VKD_TRY(unet_k_groupnorm(f, hn, in, &s->gn, B, C, HW, f->eps_st));
    // x_b (HW, I) = hn_b^T (HW, C) W^T (C, I) + b
    const vkd_gemm_t gi = {.M = HW, .N = I, .K = C, .trans_a = 1, .trans_b = 1, .alpha = 1.0f,
                           .batch = B, .stride_a = (int64_t)C * HW, .stride_b = 0,
                           .stride_c = (int64_t)HW * I};
    VKD_TRY(unet_k_gemm(f, x, hn, s->proj_in.w, s->proj_in.b, &gi));
    for (int d = 0; d < s->depth; d++) {
        VKD_TRY(attn_forward(f, s, &s->tb[d], x, HW, 1));
        VKD_TRY(attn_forward(f, s, &s->tb[d], x, HW, 0));
        VKD_TRY(ff_forward(f, s, &s->tb[d], x, HW));
    }
    // out_b (C, HW) = W (C, I) x_b^T (I, HW); the bias is per row, so it is added after.
    const vkd_gemm_t go = {.M = C, .N = HW, .K = I, .trans_b = 1, .alpha = 1.0f, .batch = B,
                           .stride_a = 0, .stride_b = (int64_t)HW * I, .stride_c = (int64_t)C * HW};
    const size_t n = (size_t)B * C * HW;
    VKD_TRY(unet_k_gemm(f, out, s->proj_out.w, x, VKD_BUF_NONE, &go));
    VKD_TRY(k_binary(f, out, out, s->proj_out.b, n, (size_t)C, (size_t)HW, VKD_BIN_ADD));
    VKD_TRY(k_binary(f, out, out, in, n, n, 1, VKD_BIN_ADD));
    unet_hi_release(f, mark);
    return VKD_OK;
}

// ---- resampling --------------------------------------------------------------------------------
// out (B, C, 2H, 2W) = conv3x3(nearest2x(in (B, C, H, W))). The upsampling is four strided
// copies, one per output pixel parity (dy, dx): axes (b*c, y, x) -> (2y + dy, 2x + dx), the
// innermost axis a row of W (a 2-long innermost axis made the CPU copy crawl).
static vkd_status_t up_forward(unet_fw_t *f, const unet_lin_t *conv, vkd_buf_t out, vkd_buf_t in,
                               int C, int H, int W) {
    const int B = f->B;
    const size_t mark = unet_hi_mark(f);
    vkd_buf_t u; // (B, C, 2H, 2W)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * C * 4 * H * W, &u));
    for (int p = 0; p < 4; p++) {
        const int dy = p / 2, dx = p % 2;
        const vkd_copy_strided_t d = {
            .n = {1, (int64_t)B * C, H, W},
            .out_off = (int64_t)dy * 2 * W + dx,
            .out_stride = {0, 4LL * H * W, 4LL * W, 2},
            .inp_stride = {0, (int64_t)H * W, W, 1},
        };
        VKD_TRY(unet_k_copy(f, u, in, &d));
    }
    VKD_TRY(unet_k_conv(f, out, u, conv, B, C, 2 * H, 2 * W, C, 3, 1));
    unet_hi_release(f, mark);
    return VKD_OK;
}

// ---- one TimestepEmbedSequential ----------------------------------------------------------------
vkd_status_t unet_block_forward(unet_fw_t *f, const unet_block_t *blk, vkd_buf_t out,
                                vkd_buf_t in, int H, int W) {
    const unet_desc_t *d = blk->d;
    const int B = f->B;
    if (d->conv_in) return unet_k_conv(f, out, in, &blk->conv_in, B, d->cin, H, W, d->cout, 3, 1);
    if (d->down) return unet_k_conv(f, out, in, &blk->down, B, d->cin, H, W, d->cout, 3, 2);
    // The layers run in order; all but the last write to scratch.
    const int n_layers = 1 + (d->attn != 0) + (d->mid != 0) + (d->up != 0);
    const size_t mark = unet_hi_mark(f);
    const size_t n_mid = (size_t)B * d->res_out * H * W; // every intermediate is (B, res_out, H, W)
    vkd_buf_t cur = in;
    for (int i = 0; i < n_layers; i++) {
        vkd_buf_t dst = out;
        if (i + 1 < n_layers) VKD_TRY(unet_hi_alloc(f, n_mid, &dst));
        if (i == 0) VKD_TRY(res_forward(f, &blk->res[0], dst, cur, H, W));
        else if (i == 1 && d->attn) VKD_TRY(st_forward(f, blk->st, dst, cur, H, W));
        else if (d->mid) VKD_TRY(res_forward(f, &blk->res[1], dst, cur, H, W));
        else VKD_TRY(up_forward(f, &blk->up, dst, cur, d->up, H, W));
        cur = dst;
    }
    unet_hi_release(f, mark);
    return VKD_OK;
}
