// The UNet half of the trainable prior: its parameters (LDM state_dict names, the shapes
// unet.c's loader expects) and its forward on the tape, the computation of unet.c and
// unet_blocks.c with fresh outputs instead of in-place updates.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "prior_net_impl.h"

// ---- registration ---------------------------------------------------------------------------
typedef struct {
    vkd_prior_net_t *n;
    char name[PN_NAME_MAX];
} reg_t;

static const char *path(reg_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *path(reg_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(r->name, sizeof r->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof r->name) snprintf(r->name, sizeof r->name, "(too long)");
    return r->name;
}

// Conv (k > 0: (out, in, k, k)) or Linear (k = 0: (out, in)) + bias; zero = LDM zero_module.
static vkd_status_t lin(reg_t *r, pn_lin_t *p, int64_t out, int64_t in, int k, int zero,
                        const char *base) {
    const float a = 1.0f / sqrtf((float)(in * (k ? k * k : 1)));
    const pn_init_t init = zero ? PN_INIT_ZERO : PN_INIT_UNIFORM;
    const int64_t shape[4] = {out, in, k, k};
    const char *pre = r->n->uc.prefix;
    p->w = pn_reg(r->n, init, a, 0, k ? 4 : 2, shape, "%s%s.weight", pre, base);
    p->b = pn_reg(r->n, init, a, 1, 1, &out, "%s%s.bias", pre, base);
    return p->w < 0 || p->b < 0 ? VKD_ERR_INVALID : VKD_OK;
}

static vkd_status_t norm(reg_t *r, pn_lin_t *p, int64_t c, const char *base) {
    const char *pre = r->n->uc.prefix;
    p->w = pn_reg(r->n, PN_INIT_ONE, 0, 1, 1, &c, "%s%s.weight", pre, base);
    p->b = pn_reg(r->n, PN_INIT_ZERO, 0, 1, 1, &c, "%s%s.bias", pre, base);
    return p->w < 0 || p->b < 0 ? VKD_ERR_INVALID : VKD_OK;
}

// A bias-free Linear weight (out, in).
static int weight(reg_t *r, int64_t out, int64_t in, const char *base, const char *name) {
    return pn_reg(r->n, PN_INIT_UNIFORM, 1.0f / sqrtf((float)in), 0, 2, (int64_t[]){out, in},
                  "%s%s.%s.weight", r->n->uc.prefix, base, name);
}

// base + "." + s in b (a name no file has when too long, so a load fails naming it).
static const char *sub(char *b, const char *base, const char *s) {
    int len = snprintf(b, PN_NAME_MAX, "%s.%s", base, s);
    if (len < 0 || len >= PN_NAME_MAX) snprintf(b, PN_NAME_MAX, "(too long)");
    return b;
}

static vkd_status_t reg_tb(reg_t *r, pn_tb_t *t, int64_t I, const char *base) {
    char b[PN_NAME_MAX];
    const int64_t C = r->n->uc.context_dim, F = 4 * I;
#define SUB(s) sub(b, base, s)
    VKD_TRY(norm(r, &t->ln1, I, SUB("norm1")));
    VKD_TRY(norm(r, &t->ln2, I, SUB("norm2")));
    VKD_TRY(norm(r, &t->ln3, I, SUB("norm3")));
    t->qkv = weight(r, I, I, SUB("attn1"), "to_q");
    if (weight(r, I, I, b, "to_k") < 0 || weight(r, I, I, b, "to_v") < 0 || t->qkv < 0)
        return VKD_ERR_INVALID;
    VKD_TRY(lin(r, &t->out1, I, I, 0, 0, SUB("attn1.to_out.0")));
    t->q2 = weight(r, I, I, SUB("attn2"), "to_q");
    t->kv2 = weight(r, I, C, b, "to_k");
    if (weight(r, I, C, b, "to_v") < 0 || t->q2 < 0 || t->kv2 < 0) return VKD_ERR_INVALID;
    VKD_TRY(lin(r, &t->out2, I, I, 0, 0, SUB("attn2.to_out.0")));
    VKD_TRY(lin(r, &t->ff0, 2 * F, I, 0, 0, SUB("ff.net.0.proj")));
    return lin(r, &t->ff2, I, F, 0, 0, SUB("ff.net.2"));
#undef SUB
}

static vkd_status_t reg_st(reg_t *r, pn_st_t *s, int c, const char *base) {
    const vkd_unet_config_t *cfg = &r->n->uc;
    unet_heads(cfg, c, &s->heads, &s->dim_head);
    s->c = c, s->inner = s->heads * s->dim_head, s->depth = cfg->transformer_depth;
    if (s->depth > PN_MAX_DEPTH)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "prior net: transformer_depth %d (at most %d)",
                        s->depth, PN_MAX_DEPTH);
    const int k = cfg->use_linear_in_transformer ? 0 : 1;
    char b[PN_NAME_MAX];
    snprintf(b, sizeof b, "%s.norm", base);
    VKD_TRY(norm(r, &s->gn, c, b));
    snprintf(b, sizeof b, "%s.proj_in", base);
    VKD_TRY(lin(r, &s->proj_in, s->inner, c, k, 0, b));
    for (int d = 0; d < s->depth; d++) {
        snprintf(b, sizeof b, "%s.transformer_blocks.%d", base, d);
        VKD_TRY(reg_tb(r, &s->tb[d], s->inner, b));
    }
    snprintf(b, sizeof b, "%s.proj_out", base);
    return lin(r, &s->proj_out, c, s->inner, k, 1, b);
}

static vkd_status_t reg_res(reg_t *r, pn_res_t *p, int cin, int cout, const char *base) {
    char b[PN_NAME_MAX];
    p->cin = cin, p->cout = cout;
    p->skip = (pn_lin_t){-1, -1};
    VKD_TRY(norm(r, &p->gn1, cin, (snprintf(b, sizeof b, "%s.in_layers.0", base), b)));
    VKD_TRY(lin(r, &p->conv1, cout, cin, 3, 0, (snprintf(b, sizeof b, "%s.in_layers.2", base), b)));
    VKD_TRY(lin(r, &p->emb, cout, r->n->arch.temb, 0, 0,
                (snprintf(b, sizeof b, "%s.emb_layers.1", base), b)));
    VKD_TRY(norm(r, &p->gn2, cout, (snprintf(b, sizeof b, "%s.out_layers.0", base), b)));
    VKD_TRY(lin(r, &p->conv2, cout, cout, 3, 1, (snprintf(b, sizeof b, "%s.out_layers.3", base), b)));
    if (cin == cout) return VKD_OK;
    return lin(r, &p->skip, cout, cin, 1, 0, (snprintf(b, sizeof b, "%s.skip_connection", base), b));
}

static vkd_status_t reg_block(reg_t *r, pn_block_t *blk, const unet_desc_t *d, const char *name) {
    char b[PN_NAME_MAX];
    blk->d = d;
    if (d->conv_in) return lin(r, &blk->conv_in, d->cout, d->cin, 3, 0, path(r, "%s.0", name));
    if (d->down) return lin(r, &blk->down, d->down, d->down, 3, 0, path(r, "%s.0.op", name));
    snprintf(b, sizeof b, "%s.0", name);
    VKD_TRY(reg_res(r, &blk->res[0], d->res_in, d->res_out, b));
    int layer = 1;
    if (d->attn) {
        snprintf(b, sizeof b, "%s.%d", name, layer++);
        VKD_TRY(reg_st(r, &blk->st, d->attn, b));
    }
    if (d->mid) {
        snprintf(b, sizeof b, "%s.%d", name, layer++);
        VKD_TRY(reg_res(r, &blk->res[1], d->res_out, d->res_out, b));
    }
    if (d->up) {
        snprintf(b, sizeof b, "%s.%d.conv", name, layer);
        VKD_TRY(lin(r, &blk->up, d->up, d->up, 3, 0, b));
    }
    return VKD_OK;
}

vkd_status_t pn_unet_register(vkd_prior_net_t *n) {
    reg_t r = {.n = n};
    const unet_arch_t *a = &n->arch;
    const int mc = n->uc.model_channels;
    VKD_TRY(lin(&r, &n->time0, a->temb, mc, 0, 0, "time_embed.0"));
    VKD_TRY(lin(&r, &n->time2, a->temb, a->temb, 0, 0, "time_embed.2"));
    char name[64];
    for (int i = 0; i < a->n_in; i++) {
        snprintf(name, sizeof name, "input_blocks.%d", i);
        VKD_TRY(reg_block(&r, &n->in[i], &a->in[i], name));
    }
    VKD_TRY(reg_block(&r, &n->mid, &a->mid, "middle_block"));
    for (int i = 0; i < a->n_out; i++) {
        snprintf(name, sizeof name, "output_blocks.%d", i);
        VKD_TRY(reg_block(&r, &n->out[i], &a->out[i], name));
    }
    VKD_TRY(norm(&r, &n->out_gn, mc, "out.0"));
    return lin(&r, &n->out_conv, n->uc.out_channels, mc, 3, 1, "out.2");
}

// ---- forward --------------------------------------------------------------------------------
typedef struct {
    vkd_prior_net_t *n;
    vkd_tape_t *t;
    int B, L;
    vkd_tt_t semb; // (B, temb) SiLU(emb)
    vkd_tt_t ctx;  // (B, L, context_dim)
} fw_t;

static vkd_tt_t P(const fw_t *f, int idx) { return pn_t(f->n, idx); }

static vkd_status_t add(fw_t *f, vkd_tt_t *out, vkd_tt_t a, vkd_tt_t b, size_t n, size_t b_n,
                        size_t b_inner) {
    const vkd_binary_t d = {.n = n, .b_n = b_n, .b_inner = b_inner, .op = VKD_BIN_ADD};
    return vkd_tape_binary(f->t, out, a, b, &d);
}

static vkd_status_t gn(fw_t *f, vkd_tt_t *out, vkd_tt_t in, const pn_lin_t *p, int C, int HW,
                       float eps) {
    const vkd_groupnorm_t d = {.B = f->B, .C = C, .HW = HW, .G = UNET_GN_GROUPS, .eps = eps};
    return vkd_tape_groupnorm(f->t, out, in, P(f, p->w), P(f, p->b), &d);
}

static vkd_status_t conv(fw_t *f, vkd_tt_t *out, vkd_tt_t in, const pn_lin_t *p, int Cin, int H,
                         int W, int Cout, int k, int stride) {
    const int pad = k / 2;
    const vkd_conv2d_t c = {.B = f->B, .Cin = Cin, .H = H, .W = W, .Cout = Cout, .KH = k,
                            .KW = k, .stride = stride, .pad_t = pad, .pad_b = pad,
                            .pad_l = pad, .pad_r = pad};
    return vkd_tape_conv2d(f->t, out, in, P(f, p->w), P(f, p->b), &c);
}

static vkd_status_t res_fw(fw_t *f, const pn_res_t *r, vkd_tt_t *out, vkd_tt_t in, int H, int W) {
    const int B = f->B, HW = H * W, ci = r->cin, co = r->cout;
    const vkd_unet_config_t *c = &f->n->uc;
    const size_t n = (size_t)B * co * HW;
    vkd_tt_t a, h, e, g, s; // (B, ci, HW), (B, co, HW), (B, co), (B, co, HW), (B, co, HW)
    VKD_TRY(gn(f, &a, in, &r->gn1, ci, HW, c->eps_resblock));
    VKD_TRY(vkd_tape_unary(f->t, &a, a, (size_t)B * ci * HW, VKD_ACT_SILU));
    VKD_TRY(conv(f, &h, a, &r->conv1, ci, H, W, co, 3, 1));
    VKD_TRY(vkd_tape_linear(f->t, &e, f->semb, P(f, r->emb.w), P(f, r->emb.b), B, co,
                            f->n->arch.temb));
    VKD_TRY(add(f, &h, h, e, n, (size_t)B * co, (size_t)HW)); // per (batch, channel)
    VKD_TRY(gn(f, &g, h, &r->gn2, co, HW, c->eps_resblock));
    VKD_TRY(vkd_tape_unary(f->t, &g, g, n, VKD_ACT_SILU));
    VKD_TRY(conv(f, &h, g, &r->conv2, co, H, W, co, 3, 1));
    if (ci != co) {
        VKD_TRY(conv(f, &s, in, &r->skip, ci, H, W, co, 1, 1));
        return add(f, out, h, s, n, n, 1);
    }
    return add(f, out, h, in, n, n, 1);
}

static size_t round_floats(size_t n) {
    const size_t q = VKD_BUF_ALIGN / sizeof(float);
    return (n + q - 1) / q * q;
}

// x (B, N, I) += to_out(attention(norm(x), ctx or itself)).
static vkd_status_t attn_fw(fw_t *f, const pn_st_t *s, const pn_tb_t *tb, vkd_tt_t *x, int N,
                            int self) {
    const int B = f->B, I = s->inner, rows = B * N, Lk = self ? N : f->L;
    const size_t nx = (size_t)rows * I;
    vkd_tt_t hn, all, q, k, v, o, y;
    VKD_TRY(vkd_tape_layernorm(f->t, &hn, *x, P(f, self ? tb->ln1.w : tb->ln2.w),
                               P(f, self ? tb->ln1.b : tb->ln2.b), rows, I,
                               f->n->uc.eps_layernorm));
    int64_t ws;
    vkd_tt_t w;
    if (self) { // q, k, v by one batched GEMM over the stacked weights
        const size_t Pq = round_floats(nx);
        VKD_TRY(pn_span(f->n, tb->qkv, 3, &w, &ws));
        const vkd_gemm_t g = {.M = rows, .N = I, .K = I, .trans_b = 1, .alpha = 1.0f,
                              .batch = 3, .stride_b = ws, .stride_c = (int64_t)Pq};
        VKD_TRY(vkd_tape_gemm(f->t, &all, hn, w, (vkd_tt_t){0}, &g));
        VKD_TRY(vkd_tape_slice(f->t, all, 0, nx, &q));
        VKD_TRY(vkd_tape_slice(f->t, all, Pq, nx, &k));
        VKD_TRY(vkd_tape_slice(f->t, all, 2 * Pq, nx, &v));
    } else {
        const int rk = B * f->L, Cc = f->n->uc.context_dim;
        const size_t nk = (size_t)rk * I, Pk = round_floats(nk);
        VKD_TRY(vkd_tape_linear(f->t, &q, hn, P(f, tb->q2), (vkd_tt_t){0}, rows, I, I));
        VKD_TRY(pn_span(f->n, tb->kv2, 2, &w, &ws));
        const vkd_gemm_t g = {.M = rk, .N = I, .K = Cc, .trans_b = 1, .alpha = 1.0f,
                              .batch = 2, .stride_b = ws, .stride_c = (int64_t)Pk};
        VKD_TRY(vkd_tape_gemm(f->t, &all, f->ctx, w, (vkd_tt_t){0}, &g));
        VKD_TRY(vkd_tape_slice(f->t, all, 0, nk, &k));
        VKD_TRY(vkd_tape_slice(f->t, all, Pk, nk, &v));
    }
    const int64_t dh = s->dim_head;
    const vkd_attention_t a = {
        .B = B, .H = s->heads, .Lq = N, .Lk = Lk, .D = s->dim_head, .Dv = s->dim_head,
        .scale = 1.0f / sqrtf((float)s->dim_head),
        .sq_b = (int64_t)N * I, .sq_h = dh, .sq_l = I,
        .sk_b = (int64_t)Lk * I, .sk_h = dh, .sk_l = I,
        .sv_b = (int64_t)Lk * I, .sv_h = dh, .sv_l = I,
        .so_b = (int64_t)N * I, .so_h = dh, .so_l = I,
    };
    VKD_TRY(vkd_tape_attention(f->t, &o, q, k, v, &a, nx));
    const pn_lin_t *po = self ? &tb->out1 : &tb->out2;
    VKD_TRY(vkd_tape_linear(f->t, &y, o, P(f, po->w), P(f, po->b), rows, I, I));
    return add(f, x, *x, y, nx, nx, 1);
}

// x (B, N, I) += ff.net.2(a * gelu(gate)), (a, gate) = the halves of ff.net.0.proj(norm3(x)).
static vkd_status_t ff_fw(fw_t *f, const pn_st_t *s, const pn_tb_t *tb, vkd_tt_t *x, int N) {
    const int I = s->inner, F = 4 * I, rows = f->B * N;
    const size_t nf = (size_t)rows * F, nx = (size_t)rows * I;
    vkd_tt_t hn, wa, wg, ba, bg, a, g, y;
    VKD_TRY(vkd_tape_layernorm(f->t, &hn, *x, P(f, tb->ln3.w), P(f, tb->ln3.b), rows, I,
                               f->n->uc.eps_layernorm));
    const vkd_tt_t W = P(f, tb->ff0.w), bias = P(f, tb->ff0.b); // (2F, I), (2F)
    VKD_TRY(vkd_tape_slice(f->t, W, 0, (size_t)F * I, &wa));
    VKD_TRY(vkd_tape_slice(f->t, W, (size_t)F * I, (size_t)F * I, &wg));
    VKD_TRY(vkd_tape_slice(f->t, bias, 0, (size_t)F, &ba));
    VKD_TRY(vkd_tape_slice(f->t, bias, (size_t)F, (size_t)F, &bg));
    VKD_TRY(vkd_tape_linear(f->t, &a, hn, wa, ba, rows, F, I));
    VKD_TRY(vkd_tape_linear(f->t, &g, hn, wg, bg, rows, F, I));
    VKD_TRY(vkd_tape_unary(f->t, &g, g, nf, VKD_ACT_GELU));
    const vkd_binary_t m = {.n = nf, .b_n = nf, .b_inner = 1, .op = VKD_BIN_MUL};
    VKD_TRY(vkd_tape_binary(f->t, &a, a, g, &m));
    VKD_TRY(vkd_tape_linear(f->t, &y, a, P(f, tb->ff2.w), P(f, tb->ff2.b), rows, I, F));
    return add(f, x, *x, y, nx, nx, 1);
}

// out (B, C, HW) = in + proj_out(blocks(proj_in(norm(in)))) (see unet_blocks.c's st_forward).
static vkd_status_t st_fw(fw_t *f, const pn_st_t *s, vkd_tt_t *out, vkd_tt_t in, int H, int W) {
    const int B = f->B, HW = H * W, C = s->c, I = s->inner;
    const size_t n = (size_t)B * C * HW;
    vkd_tt_t hn, x, y;
    VKD_TRY(gn(f, &hn, in, &s->gn, C, HW, f->n->uc.eps_transformer));
    const vkd_gemm_t gi = {.M = HW, .N = I, .K = C, .trans_a = 1, .trans_b = 1, .alpha = 1.0f,
                           .batch = B, .stride_a = (int64_t)C * HW, .stride_c = (int64_t)HW * I};
    VKD_TRY(vkd_tape_gemm(f->t, &x, hn, P(f, s->proj_in.w), P(f, s->proj_in.b), &gi));
    for (int d = 0; d < s->depth; d++) {
        VKD_TRY(attn_fw(f, s, &s->tb[d], &x, HW, 1));
        VKD_TRY(attn_fw(f, s, &s->tb[d], &x, HW, 0));
        VKD_TRY(ff_fw(f, s, &s->tb[d], &x, HW));
    }
    const vkd_gemm_t go = {.M = C, .N = HW, .K = I, .trans_b = 1, .alpha = 1.0f, .batch = B,
                           .stride_b = (int64_t)HW * I, .stride_c = (int64_t)C * HW};
    VKD_TRY(vkd_tape_gemm(f->t, &y, P(f, s->proj_out.w), x, (vkd_tt_t){0}, &go));
    VKD_TRY(add(f, &y, y, P(f, s->proj_out.b), n, (size_t)C, (size_t)HW));
    return add(f, out, y, in, n, n, 1);
}

// out (B, C, 2H, 2W) = conv3x3(nearest2x(in)): four strided copies, one per sub-pixel (dy,
// dx), so that each reads every source element once and its backward is a plain
// accumulating copy (a stride-0 source would make it a reduction).
static vkd_status_t up_fw(fw_t *f, const pn_lin_t *cv, vkd_tt_t *out, vkd_tt_t in, int C, int H,
                          int W) {
    vkd_tt_t u; // (B, C, 2H, 2W)
    VKD_TRY(vkd_tape_new(f->t, (size_t)f->B * C * 4 * H * W, vkd_buf_present(in.g), &u));
    for (int k = 0; k < 4; k++) {
        const vkd_copy_strided_t d = {.n = {(int64_t)f->B * C, H, W, 1},
                                      .out_off = (int64_t)(k / 2) * 2 * W + k % 2,
                                      .out_stride = {4LL * H * W, 4LL * W, 2, 1},
                                      .inp_stride = {(int64_t)H * W, W, 1, 0}};
        VKD_TRY(vkd_tape_copy(f->t, u, in, &d));
    }
    return conv(f, out, u, cv, C, 2 * H, 2 * W, C, 3, 1);
}

static vkd_status_t block_fw(fw_t *f, const pn_block_t *blk, vkd_tt_t *out, vkd_tt_t in, int H,
                             int W) {
    const unet_desc_t *d = blk->d;
    if (d->conv_in) return conv(f, out, in, &blk->conv_in, d->cin, H, W, d->cout, 3, 1);
    if (d->down) return conv(f, out, in, &blk->down, d->cin, H, W, d->cout, 3, 2);
    vkd_tt_t cur;
    VKD_TRY(res_fw(f, &blk->res[0], &cur, in, H, W));
    if (d->attn) VKD_TRY(st_fw(f, &blk->st, &cur, cur, H, W));
    if (d->mid) VKD_TRY(res_fw(f, &blk->res[1], &cur, cur, H, W));
    if (d->up) VKD_TRY(up_fw(f, &blk->up, &cur, cur, d->up, H, W));
    *out = cur;
    return VKD_OK;
}

// emb = time_embed(timestep_embedding(t)); f->semb = SiLU(emb).
static vkd_status_t stem(fw_t *f, const float *ts) {
    const int B = f->B, mc = f->n->uc.model_channels, te = f->n->arch.temb;
    vkd_tt_t temb, h, emb; // (B, mc), (B, te), (B, te)
    VKD_TRY(vkd_tape_new(f->t, (size_t)B * mc, 0, &temb));
    if (!vkd_tape_planning(f->t)) {
        float *host = malloc((size_t)B * mc * sizeof(float)); // (B, mc)
        if (!host) return vkd_fail(VKD_ERR_NOMEM, "prior net: out of host memory");
        vkd_unet_timestep_embedding(ts, B, mc, host);
        vkd_status_t s = vkd_buf_write(temb.v, host, (size_t)B * mc * sizeof(float));
        free(host);
        VKD_TRY(s);
    }
    VKD_TRY(vkd_tape_linear(f->t, &h, temb, P(f, f->n->time0.w), P(f, f->n->time0.b), B, te, mc));
    VKD_TRY(vkd_tape_unary(f->t, &h, h, (size_t)B * te, VKD_ACT_SILU));
    VKD_TRY(vkd_tape_linear(f->t, &emb, h, P(f, f->n->time2.w), P(f, f->n->time2.b), B, te, te));
    return vkd_tape_unary(f->t, &f->semb, emb, (size_t)B * te, VKD_ACT_SILU);
}

// cat (B, Ch + Cs, HW) = cat([h, skip], dim=1)
static vkd_status_t concat(fw_t *f, vkd_tt_t *cat, vkd_tt_t h, vkd_tt_t skip, int Ch, int Cs,
                           int HW) {
    const int64_t Ct = Ch + Cs;
    VKD_TRY(vkd_tape_new(f->t, (size_t)f->B * Ct * HW, 1, cat));
    vkd_copy_strided_t d = {.n = {f->B, (int64_t)Ch * HW, 1, 1}, .out_stride = {Ct * HW, 1, 0, 0},
                            .inp_stride = {(int64_t)Ch * HW, 1, 0, 0}};
    VKD_TRY(vkd_tape_copy(f->t, *cat, h, &d));
    d.n[1] = (int64_t)Cs * HW, d.out_off = (int64_t)Ch * HW, d.inp_stride[0] = (int64_t)Cs * HW;
    return vkd_tape_copy(f->t, *cat, skip, &d);
}

vkd_status_t pn_unet_forward(vkd_prior_net_t *n, vkd_tape_t *t, vkd_tt_t x, const float *ts,
                             vkd_tt_t ctx, int B, int H, int W, int L, vkd_tt_t *pred) {
    const unet_arch_t *a = &n->arch;
    fw_t f = {.n = n, .t = t, .B = B, .L = L, .ctx = ctx};
    VKD_TRY(stem(&f, ts));
    vkd_tt_t skips[UNET_MAX_BLOCKS];
    for (int i = 0; i < a->n_in; i++) {
        const unet_desc_t *d = &a->in[i];
        vkd_status_t s = block_fw(&f, &n->in[i], &skips[i], i ? skips[i - 1] : x, H / d->ds,
                                  W / d->ds);
        if (s != VKD_OK) return vkd_fail_ctx(s, "prior net input_blocks.%d", i);
    }
    vkd_tt_t cur, cat;
    vkd_status_t s = block_fw(&f, &n->mid, &cur, skips[a->n_in - 1], H / a->mid.ds, W / a->mid.ds);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior net middle_block");
    int ch = a->mid.cout;
    for (int j = 0; j < a->n_out; j++) {
        const unet_desc_t *d = &a->out[j];
        const int h = H / d->ds, w = W / d->ds;
        VKD_TRY(concat(&f, &cat, cur, skips[a->n_in - 1 - j], ch, d->cin - ch, h * w));
        s = block_fw(&f, &n->out[j], &cur, cat, h, w);
        if (s != VKD_OK) return vkd_fail_ctx(s, "prior net output_blocks.%d", j);
        ch = d->cout;
    }
    const int mc = n->uc.model_channels;
    vkd_tt_t g;
    VKD_TRY(gn(&f, &g, cur, &n->out_gn, mc, H * W, n->uc.eps_out));
    VKD_TRY(vkd_tape_unary(t, &g, g, (size_t)B * mc * H * W, VKD_ACT_SILU));
    return conv(&f, pred, g, &n->out_conv, mc, H, W, n->uc.out_channels, 3, 1);
}
