// The VAE's forward passes on top of ops.h: ResnetBlock, AttnBlock, Downsample, Upsample,
// the Encoder and Decoder, and the diagonal-Gaussian posterior; plus the workspace whose op
// wrappers become no-ops in the planning dry run.
#include <math.h>
#include <stdio.h>

#include "vae_impl.h"

// ---- workspace ------------------------------------------------------------------------------
size_t vae_round_bytes(size_t n_floats) {
    return (n_floats * sizeof(float) + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

static vkd_status_t view(vae_fw_t *f, size_t off, size_t n_floats, vkd_buf_t *out) {
    if (f->plan) {
        *out = (vkd_buf_t){.bytes = n_floats * sizeof(float)};
        return VKD_OK;
    }
    if (off + vae_round_bytes(n_floats) > f->base.bytes)
        return vkd_fail(VKD_ERR_NOMEM, "vae: activation plan exceeded (%zu > %zu bytes); this is "
                        "a bug in sds/vae", off + vae_round_bytes(n_floats), f->base.bytes);
    return vkd_buf_slice(f->base, off, n_floats * sizeof(float), out);
}

vkd_status_t vae_scratch(vae_fw_t *f, size_t n_floats, vkd_buf_t *out) {
    const size_t off = 2 * vae_round_bytes(f->main_n) + f->top;
    f->top += vae_round_bytes(n_floats);
    if (f->top > f->peak) f->peak = f->top;
    return view(f, off, n_floats, out);
}

vkd_status_t vae_next(vae_fw_t *f, size_t n_floats, vkd_buf_t *out) {
    if (f->plan && n_floats > f->main_n) f->main_n = n_floats;
    if (!f->plan && n_floats > f->main_n)
        return vkd_fail(VKD_ERR_NOMEM, "vae: activation plan exceeded; this is a bug in sds/vae");
    const size_t off = (size_t)f->which * vae_round_bytes(f->main_n);
    f->which ^= 1;
    return view(f, off, n_floats, out);
}

// ---- op wrappers ----------------------------------------------------------------------------
static vkd_status_t k_conv(vae_fw_t *f, vkd_buf_t out, vkd_buf_t in, const vae_lin_t *p, int Cin,
                           int H, int W, int Cout, int k) {
    const int pad = k / 2;
    const vkd_conv2d_t c = {.B = f->B, .Cin = Cin, .H = H, .W = W, .Cout = Cout, .KH = k, .KW = k,
                            .stride = 1, .pad_t = pad, .pad_b = pad, .pad_l = pad, .pad_r = pad};
    return f->plan ? VKD_OK : op_conv2d_forward(f->be, out, in, p->w, p->b, &c);
}

// out = SiLU(GroupNorm32(in)) (the pair every use in the VAE has).
static vkd_status_t k_gn_silu(vae_fw_t *f, vkd_buf_t out, vkd_buf_t in, const vae_lin_t *p, int C,
                              int HW, int silu) {
    const size_t mark = f->top;
    vkd_buf_t mean, rstd; // (B, G): scratch, no backward here
    VKD_TRY(vae_scratch(f, (size_t)f->B * VAE_GN_GROUPS, &mean));
    VKD_TRY(vae_scratch(f, (size_t)f->B * VAE_GN_GROUPS, &rstd));
    const vkd_groupnorm_t d = {.B = f->B, .C = C, .HW = HW, .G = VAE_GN_GROUPS, .eps = VAE_GN_EPS};
    f->top = mark;
    if (f->plan) return VKD_OK;
    VKD_TRY(op_groupnorm_forward(f->be, out, mean, rstd, in, p->w, p->b, &d));
    return silu ? op_unary_forward(f->be, out, out, (size_t)f->B * C * HW, VKD_ACT_SILU) : VKD_OK;
}

static vkd_status_t k_bin(vae_fw_t *f, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b, size_t n,
                          size_t b_n, size_t b_inner, vkd_binop_t op) {
    const vkd_binary_t d = {.n = n, .b_n = b_n, .b_inner = b_inner, .op = op};
    return f->plan ? VKD_OK : op_binary_forward(f->be, out, a, b, &d);
}

static vkd_status_t k_scale(vae_fw_t *f, vkd_buf_t out, vkd_buf_t in, size_t n, float alpha,
                            float beta) {
    return f->plan ? VKD_OK : op_scale_forward(f->be, out, in, n, alpha, beta);
}

static vkd_status_t k_unary(vae_fw_t *f, vkd_buf_t out, vkd_buf_t in, size_t n, vkd_act_t act) {
    return f->plan ? VKD_OK : op_unary_forward(f->be, out, in, n, act);
}

static vkd_status_t tap(vae_fw_t *f, const char *name, vkd_buf_t buf, int C, int H, int W) {
    if (f->plan || !f->v->tap) return VKD_OK;
    const int64_t shape[4] = {f->B, C, H, W};
    return f->v->tap(f->v->tap_user, name, buf, 4, shape);
}

// ---- blocks ---------------------------------------------------------------------------------
// out (B, cout, HW) = shortcut(in) + conv2(silu(norm2(conv1(silu(norm1(in)))))).
static vkd_status_t res_forward(vae_fw_t *f, const vae_res_t *r, vkd_buf_t out, vkd_buf_t in,
                                int H, int W) {
    const int HW = H * W, ci = r->cin, co = r->cout;
    const size_t n = (size_t)f->B * co * HW, mark = f->top;
    vkd_buf_t a, h; // (B, ci, HW), (B, co, HW)
    VKD_TRY(vae_scratch(f, (size_t)f->B * ci * HW, &a));
    VKD_TRY(vae_scratch(f, n, &h));
    VKD_TRY(k_gn_silu(f, a, in, &r->norm1, ci, HW, 1));
    VKD_TRY(k_conv(f, h, a, &r->conv1, ci, H, W, co, 3));
    VKD_TRY(k_gn_silu(f, h, h, &r->norm2, co, HW, 1)); // dropout is the identity here
    VKD_TRY(k_conv(f, out, h, &r->conv2, co, H, W, co, 3));
    if (ci != co) {
        VKD_TRY(k_conv(f, h, in, &r->nin, ci, H, W, co, 1));
        VKD_TRY(k_bin(f, out, out, h, n, n, 1, VKD_BIN_ADD));
    } else {
        VKD_TRY(k_bin(f, out, out, in, n, n, 1, VKD_BIN_ADD));
    }
    f->top = mark;
    return VKD_OK;
}

// out (B, C, HW) = in + proj_out(attention over the HW positions of norm(in)), one head of
// width C, scale C^-0.5. q/k/v are produced position-major (B, HW, C) by GEMMs on the
// transposed activations (a 1x1 conv is a matrix product), which is the layout the
// attention op reads; proj_out writes channel-major (B, C, HW) back.
static vkd_status_t attn_forward(vae_fw_t *f, const vae_attn_t *at, vkd_buf_t out, vkd_buf_t in,
                                 int H, int W) {
    const int HW = H * W, C = at->c, B = f->B;
    const size_t n = (size_t)B * C * HW, mark = f->top;
    vkd_buf_t hn, q, k, v, o; // (B, C, HW), then (B, HW, C) each
    VKD_TRY(vae_scratch(f, n, &hn));
    VKD_TRY(vae_scratch(f, n, &q));
    VKD_TRY(vae_scratch(f, n, &k));
    VKD_TRY(vae_scratch(f, n, &v));
    VKD_TRY(vae_scratch(f, n, &o));
    VKD_TRY(k_gn_silu(f, hn, in, &at->norm, C, HW, 0));
    if (!f->plan) {
        const vkd_gemm_t gi = {.M = HW, .N = C, .K = C, .trans_a = 1, .trans_b = 1, .alpha = 1.0f,
                               .batch = B, .stride_a = (int64_t)C * HW, .stride_b = 0,
                               .stride_c = (int64_t)HW * C};
        VKD_TRY(op_gemm_forward(f->be, q, hn, at->q.w, at->q.b, &gi));
        VKD_TRY(op_gemm_forward(f->be, k, hn, at->k.w, at->k.b, &gi));
        VKD_TRY(op_gemm_forward(f->be, v, hn, at->v.w, at->v.b, &gi));
        const int64_t sb = (int64_t)HW * C;
        const vkd_attention_t a = {.B = B, .H = 1, .Lq = HW, .Lk = HW, .D = C, .Dv = C,
                                   .scale = 1.0f / sqrtf((float)C),
                                   .sq_b = sb, .sq_l = C, .sk_b = sb, .sk_l = C,
                                   .sv_b = sb, .sv_l = C, .so_b = sb, .so_l = C};
        VKD_TRY(op_attention_forward(f->be, o, q, k, v, &a));
        // out_b (C, HW) = W (C, C) o_b^T; the bias is per row, so it is added after.
        const vkd_gemm_t go = {.M = C, .N = HW, .K = C, .trans_b = 1, .alpha = 1.0f, .batch = B,
                               .stride_a = 0, .stride_b = sb, .stride_c = sb};
        VKD_TRY(op_gemm_forward(f->be, out, at->proj.w, o, VKD_BUF_NONE, &go));
    }
    VKD_TRY(k_bin(f, out, out, at->proj.b, n, (size_t)C, (size_t)HW, VKD_BIN_ADD));
    VKD_TRY(k_bin(f, out, out, in, n, n, 1, VKD_BIN_ADD));
    f->top = mark;
    return VKD_OK;
}

// Downsample: pad (left 0, right 1, top 0, bottom 1) with zeros, then a 3x3 stride-2 conv.
static vkd_status_t down_forward(vae_fw_t *f, const vae_lin_t *p, vkd_buf_t out, vkd_buf_t in,
                                 int C, int H, int W) {
    const vkd_conv2d_t c = {.B = f->B, .Cin = C, .H = H, .W = W, .Cout = C, .KH = 3, .KW = 3,
                            .stride = 2, .pad_t = 0, .pad_b = 1, .pad_l = 0, .pad_r = 1};
    return f->plan ? VKD_OK : op_conv2d_forward(f->be, out, in, p->w, p->b, &c);
}

// Upsample: out (B, C, 2H, 2W) = conv3x3(nearest2x(in)); the upsampling is two strided
// copies, one per output row parity, axes (b*c, y, x, dx) -> (2y + dy, 2x + dx).
static vkd_status_t up_forward(vae_fw_t *f, const vae_lin_t *p, vkd_buf_t out, vkd_buf_t in,
                               int C, int H, int W) {
    const size_t mark = f->top;
    vkd_buf_t u; // (B, C, 2H, 2W)
    VKD_TRY(vae_scratch(f, (size_t)f->B * C * 4 * H * W, &u));
    for (int dy = 0; dy < 2 && !f->plan; dy++) {
        const vkd_copy_strided_t d = {
            .n = {(int64_t)f->B * C, H, W, 2},
            .out_off = (int64_t)dy * 2 * W,
            .out_stride = {4LL * H * W, 4LL * W, 2, 1},
            .inp_stride = {(int64_t)H * W, W, 1, 0},
        };
        VKD_TRY(op_copy_strided(f->be, u, in, &d));
    }
    VKD_TRY(k_conv(f, out, u, p, C, 2 * H, 2 * W, C, 3));
    f->top = mark;
    return VKD_OK;
}

// ---- encoder / decoder ------------------------------------------------------------------------
typedef struct {
    vae_fw_t *f;
    const char *side; // "encoder" / "decoder"
    vkd_buf_t h;      // the current activation
    int C, H, W;
} flow_t;

// Runs one module (kind: 'r' ResnetBlock, 'a' AttnBlock, 'd' Downsample, 'u' Upsample) from
// the current activation into the next ping-pong buffer and taps it as <side>.<name>.
static vkd_status_t step(flow_t *s, char kind, const void *mod, int cout, const char *name) {
    vae_fw_t *f = s->f;
    int H = s->H, W = s->W;
    if (kind == 'd') H /= 2, W /= 2;
    if (kind == 'u') H *= 2, W *= 2;
    vkd_buf_t out;
    VKD_TRY(vae_next(f, (size_t)f->B * cout * H * W, &out));
    if (kind == 'r') VKD_TRY(res_forward(f, mod, out, s->h, s->H, s->W));
    else if (kind == 'a') VKD_TRY(attn_forward(f, mod, out, s->h, s->H, s->W));
    else if (kind == 'd') VKD_TRY(down_forward(f, mod, out, s->h, s->C, s->H, s->W));
    else VKD_TRY(up_forward(f, mod, out, s->h, s->C, s->H, s->W));
    s->h = out, s->C = cout, s->H = H, s->W = W;
    char full[96];
    snprintf(full, sizeof full, "%s.%s", s->side, name);
    return tap(f, full, out, cout, H, W);
}

static vkd_status_t conv_in(flow_t *s, const vae_coder_t *m, vkd_buf_t x, int cin, int cout) {
    VKD_TRY(vae_next(s->f, (size_t)s->f->B * cout * s->H * s->W, &s->h));
    VKD_TRY(k_conv(s->f, s->h, x, &m->conv_in, cin, s->H, s->W, cout, 3));
    s->C = cout;
    char full[96];
    snprintf(full, sizeof full, "%s.conv_in", s->side);
    return tap(s->f, full, s->h, cout, s->H, s->W);
}

static vkd_status_t mid(flow_t *s, const vae_coder_t *m) {
    VKD_TRY(step(s, 'r', &m->mid1, s->C, "mid.block_1"));
    VKD_TRY(step(s, 'a', &m->mid_attn, s->C, "mid.attn_1"));
    return step(s, 'r', &m->mid2, s->C, "mid.block_2");
}

// *out (B, cout, H, W) = conv_out(silu(norm_out(h))); an absent *out becomes the next
// ping-pong buffer (taken after the normalised copy's, so it never is h itself).
static vkd_status_t head(flow_t *s, const vae_coder_t *m, vkd_buf_t *out, int cout) {
    vae_fw_t *f = s->f;
    vkd_buf_t a;
    VKD_TRY(vae_next(f, (size_t)f->B * s->C * s->H * s->W, &a));
    VKD_TRY(k_gn_silu(f, a, s->h, &m->norm_out, s->C, s->H * s->W, 1));
    if (!vkd_buf_present(*out)) VKD_TRY(vae_next(f, (size_t)f->B * cout * s->H * s->W, out));
    VKD_TRY(k_conv(f, *out, a, &m->conv_out, s->C, s->H, s->W, cout, 3));
    char full[96];
    snprintf(full, sizeof full, "%s.conv_out", s->side);
    return tap(f, full, *out, cout, s->H, s->W);
}

vkd_status_t vae_encoder_forward(vae_fw_t *f, vkd_buf_t moments, vkd_buf_t image, int H, int W) {
    const vkd_vae_config_t *c = &f->v->cfg;
    const vae_coder_t *m = &f->v->enc;
    flow_t s = {.f = f, .side = "encoder", .H = H, .W = W};
    char name[64];
    VKD_TRY(conv_in(&s, m, image, c->in_channels, c->ch));
    for (int i = 0; i < c->n_levels; i++) {
        const vae_level_t *lv = &m->lv[i];
        for (int j = 0; j < lv->n_res; j++) {
            snprintf(name, sizeof name, "down.%d.block.%d", i, j);
            VKD_TRY(step(&s, 'r', &lv->res[j], lv->cout, name));
            if (!lv->has_attn) continue;
            snprintf(name, sizeof name, "down.%d.attn.%d", i, j);
            VKD_TRY(step(&s, 'a', &lv->attn[j], lv->cout, name));
        }
        if (!lv->has_resample) continue;
        snprintf(name, sizeof name, "down.%d.downsample", i);
        VKD_TRY(step(&s, 'd', &lv->resample, lv->cout, name));
    }
    VKD_TRY(mid(&s, m));
    const int zc = (c->double_z ? 2 : 1) * c->z_channels;
    vkd_buf_t h = VKD_BUF_NONE;
    VKD_TRY(head(&s, m, &h, zc));
    return k_conv(f, moments, h, &f->v->quant, zc, s.H, s.W, 2 * c->embed_dim, 1);
}

vkd_status_t vae_decoder_forward(vae_fw_t *f, vkd_buf_t image, vkd_buf_t z, int h, int w) {
    const vkd_vae_config_t *c = &f->v->cfg;
    const vae_coder_t *m = &f->v->dec;
    flow_t s = {.f = f, .side = "decoder", .H = h, .W = w};
    vkd_buf_t zq; // (B, z_channels, h, w)
    VKD_TRY(vae_next(f, (size_t)f->B * c->z_channels * h * w, &zq));
    VKD_TRY(k_conv(f, zq, z, &f->v->post_quant, c->embed_dim, h, w, c->z_channels, 1));
    VKD_TRY(conv_in(&s, m, zq, c->z_channels, c->ch * c->ch_mult[c->n_levels - 1]));
    VKD_TRY(mid(&s, m));
    char name[64];
    for (int i = c->n_levels - 1; i >= 0; i--) {
        const vae_level_t *lv = &m->lv[i];
        for (int j = 0; j < lv->n_res; j++) {
            snprintf(name, sizeof name, "up.%d.block.%d", i, j);
            VKD_TRY(step(&s, 'r', &lv->res[j], lv->cout, name));
            if (!lv->has_attn) continue;
            snprintf(name, sizeof name, "up.%d.attn.%d", i, j);
            VKD_TRY(step(&s, 'a', &lv->attn[j], lv->cout, name));
        }
        if (!lv->has_resample) continue;
        snprintf(name, sizeof name, "up.%d.upsample", i);
        VKD_TRY(step(&s, 'u', &lv->resample, lv->cout, name));
    }
    return head(&s, m, &image, c->out_ch);
}

// ---- posterior ----------------------------------------------------------------------------------
// x = min(x, hi) then max(x, lo), built from ReLU so that values inside [lo, hi] pass
// through bit-exactly: min(x, hi) = x - relu(x - hi), max(y, lo) = y + relu(lo - y).
static vkd_status_t clamp(vae_fw_t *f, vkd_buf_t x, vkd_buf_t t, size_t n, float lo, float hi) {
    VKD_TRY(k_scale(f, t, x, n, 1.0f, -hi));
    VKD_TRY(k_unary(f, t, t, n, VKD_ACT_RELU));
    VKD_TRY(k_scale(f, t, t, n, -1.0f, 0.0f));
    VKD_TRY(k_bin(f, x, x, t, n, n, 1, VKD_BIN_ADD));
    VKD_TRY(k_scale(f, t, x, n, -1.0f, lo));
    VKD_TRY(k_unary(f, t, t, n, VKD_ACT_RELU));
    return k_bin(f, x, x, t, n, n, 1, VKD_BIN_ADD);
}

// Channels [off, off + E) of each batch item of moments (B, 2E, hw) -> out (B, E, hw).
static vkd_status_t half(vae_fw_t *f, vkd_buf_t out, vkd_buf_t moments, int E, int hw, int off) {
    const int64_t n = (int64_t)E * hw;
    const vkd_copy_strided_t d = {.n = {f->B, n, 1, 1}, .out_stride = {n, 1, 0, 0},
                                  .inp_off = (int64_t)off * hw, .inp_stride = {2 * n, 1, 0, 0}};
    return f->plan ? VKD_OK : op_copy_strided(f->be, out, moments, &d);
}

vkd_status_t vae_posterior_forward(vae_fw_t *f, vkd_buf_t mean, vkd_buf_t logvar, vkd_buf_t std,
                                   vkd_buf_t sample, vkd_buf_t moments, vkd_buf_t noise, int hw) {
    const int E = f->v->cfg.embed_dim;
    const size_t n = (size_t)f->B * E * hw;
    if (vkd_buf_present(mean)) VKD_TRY(half(f, mean, moments, E, hw, 0));
    if (!vkd_buf_present(logvar) && !vkd_buf_present(std) && !vkd_buf_present(sample))
        return VKD_OK;
    vkd_buf_t lv = logvar, sd = std, t;
    if (!vkd_buf_present(lv)) VKD_TRY(vae_scratch(f, n, &lv));
    if (!vkd_buf_present(sd)) VKD_TRY(vae_scratch(f, n, &sd));
    VKD_TRY(vae_scratch(f, n, &t));
    VKD_TRY(half(f, lv, moments, E, hw, E));
    VKD_TRY(clamp(f, lv, t, n, -30.0f, 20.0f));
    VKD_TRY(k_scale(f, sd, lv, n, 0.5f, 0.0f));
    VKD_TRY(k_unary(f, sd, sd, n, VKD_ACT_EXP));
    if (!vkd_buf_present(sample)) return VKD_OK;
    VKD_TRY(half(f, sample, moments, E, hw, 0));
    VKD_TRY(k_bin(f, t, sd, noise, n, n, 1, VKD_BIN_MUL));
    return k_bin(f, sample, sample, t, n, n, 1, VKD_BIN_ADD);
}
