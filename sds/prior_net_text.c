// The text-encoder half of the trainable prior: its parameters (CLIPTextModel names) and
// its forward on the tape, op for op the computation of text_encoder.c.
#include <math.h>

#include "prior_net_impl.h"

// A Linear (out, in) + bias with PyTorch's default init.
static vkd_status_t reg_lin(vkd_prior_net_t *n, pn_lin_t *p, int64_t out, int64_t in,
                            const char *base) {
    const float a = 1.0f / sqrtf((float)in);
    p->w = pn_reg(n, PN_INIT_UNIFORM, a, 0, 2, (int64_t[]){out, in}, "%s.weight", base);
    p->b = pn_reg(n, PN_INIT_UNIFORM, a, 1, 1, &out, "%s.bias", base);
    return p->w < 0 || p->b < 0 ? VKD_ERR_INVALID : VKD_OK;
}

static vkd_status_t reg_ln(vkd_prior_net_t *n, pn_lin_t *p, int64_t c, const char *base) {
    p->w = pn_reg(n, PN_INIT_ONE, 0, 1, 1, &c, "%s.weight", base);
    p->b = pn_reg(n, PN_INIT_ZERO, 0, 1, 1, &c, "%s.bias", base);
    return p->w < 0 || p->b < 0 ? VKD_ERR_INVALID : VKD_OK;
}

vkd_status_t pn_text_register(vkd_prior_net_t *n) {
    const vkd_text_encoder_config_t *c = &n->tc;
    const int64_t D = c->width, F = c->mlp_width;
    char b[PN_NAME_MAX];
    snprintf(b, sizeof b, "%stext_model.embeddings.", c->prefix);
    n->tok.w = pn_reg(n, PN_INIT_NORMAL, 0.02f, 1, 2, (int64_t[]){c->vocab_size, D},
                      "%stoken_embedding.weight", b);
    n->pos.w = pn_reg(n, PN_INIT_NORMAL, 0.01f, 1, 2, (int64_t[]){c->context_length, D},
                      "%sposition_embedding.weight", b);
    n->tok.b = n->pos.b = -1;
    if (n->tok.w < 0 || n->pos.w < 0) return VKD_ERR_INVALID;
    for (int i = 0; i < c->layers; i++) {
        pn_tlayer_t *l = &n->layers[i];
        char p[PN_NAME_MAX];
#define SUB(s) (snprintf(p, sizeof p, "%stext_model.encoder.layers.%d.%s", c->prefix, i, s), p)
        VKD_TRY(reg_ln(n, &l->ln1, D, SUB("layer_norm1")));
        VKD_TRY(reg_lin(n, &l->q, D, D, SUB("self_attn.q_proj")));
        VKD_TRY(reg_lin(n, &l->k, D, D, SUB("self_attn.k_proj")));
        VKD_TRY(reg_lin(n, &l->v, D, D, SUB("self_attn.v_proj")));
        VKD_TRY(reg_lin(n, &l->o, D, D, SUB("self_attn.out_proj")));
        VKD_TRY(reg_ln(n, &l->ln2, D, SUB("layer_norm2")));
        VKD_TRY(reg_lin(n, &l->fc1, F, D, SUB("mlp.fc1")));
        VKD_TRY(reg_lin(n, &l->fc2, D, F, SUB("mlp.fc2")));
#undef SUB
    }
    snprintf(b, sizeof b, "%stext_model.final_layer_norm", c->prefix);
    return reg_ln(n, &n->lnf, D, b);
}

static vkd_status_t add(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t a, vkd_tt_t b, size_t count) {
    const vkd_binary_t d = {.n = count, .b_n = count, .b_inner = 1, .op = VKD_BIN_ADD};
    return vkd_tape_binary(t, out, a, b, &d);
}

static vkd_status_t layer(vkd_prior_net_t *n, vkd_tape_t *t, const pn_tlayer_t *l, vkd_tt_t *x,
                          int B, int L) {
    const vkd_text_encoder_config_t *c = &n->tc;
    const int N = B * L, D = c->width, F = c->mlp_width, H = c->heads, Dh = D / H;
    const size_t nd = (size_t)N * D;
    vkd_tt_t h, q, k, v, o, y, f; // (N, D) except f (N, F)
    VKD_TRY(vkd_tape_layernorm(t, &h, *x, pn_t(n, l->ln1.w), pn_t(n, l->ln1.b), N, D, c->ln_eps));
    VKD_TRY(vkd_tape_linear(t, &q, h, pn_t(n, l->q.w), pn_t(n, l->q.b), N, D, D));
    VKD_TRY(vkd_tape_linear(t, &k, h, pn_t(n, l->k.w), pn_t(n, l->k.b), N, D, D));
    VKD_TRY(vkd_tape_linear(t, &v, h, pn_t(n, l->v.w), pn_t(n, l->v.b), N, D, D));
    const int64_t sb = (int64_t)L * D, sh = Dh, sl = D; // heads in place in (B, L, H, Dh)
    const vkd_attention_t a = {.B = B, .H = H, .Lq = L, .Lk = L, .D = Dh, .Dv = Dh,
                               .scale = 1.0f / sqrtf((float)Dh), .causal = c->causal,
                               .sq_b = sb, .sq_h = sh, .sq_l = sl, .sk_b = sb, .sk_h = sh,
                               .sk_l = sl, .sv_b = sb, .sv_h = sh, .sv_l = sl, .so_b = sb,
                               .so_h = sh, .so_l = sl};
    VKD_TRY(vkd_tape_attention(t, &o, q, k, v, &a, nd));
    VKD_TRY(vkd_tape_linear(t, &y, o, pn_t(n, l->o.w), pn_t(n, l->o.b), N, D, D));
    VKD_TRY(add(t, x, *x, y, nd));
    VKD_TRY(vkd_tape_layernorm(t, &h, *x, pn_t(n, l->ln2.w), pn_t(n, l->ln2.b), N, D, c->ln_eps));
    VKD_TRY(vkd_tape_linear(t, &f, h, pn_t(n, l->fc1.w), pn_t(n, l->fc1.b), N, F, D));
    VKD_TRY(vkd_tape_unary(t, &f, f, (size_t)N * F, c->act));
    VKD_TRY(vkd_tape_linear(t, &y, f, pn_t(n, l->fc2.w), pn_t(n, l->fc2.b), N, D, F));
    return add(t, x, *x, y, nd);
}

vkd_status_t pn_text_forward(vkd_prior_net_t *n, vkd_tape_t *t, const int32_t *ids, int B,
                             int L, vkd_tt_t *ctx) {
    const vkd_text_encoder_config_t *c = &n->tc;
    const int N = B * L, D = c->width;
    vkd_tt_t e, pos, x; // (N, D), (L, D), (N, D)
    VKD_TRY(vkd_tape_embedding(t, &e, pn_t(n, n->tok.w), ids, N, c->vocab_size, D));
    // The first L rows of the position table, broadcast over the batch.
    VKD_TRY(vkd_tape_slice(t, pn_t(n, n->pos.w), 0, (size_t)L * D, &pos));
    const vkd_binary_t d = {.n = (size_t)N * D, .b_n = (size_t)L * D, .b_inner = 1,
                            .op = VKD_BIN_ADD};
    VKD_TRY(vkd_tape_binary(t, &x, e, pos, &d));
    for (int i = 0; i < c->layers; i++) {
        vkd_status_t s = layer(n, t, &n->layers[i], &x, B, L);
        if (s != VKD_OK) return vkd_fail_ctx(s, "prior net text layer %d", i);
    }
    return vkd_tape_layernorm(t, ctx, x, pn_t(n, n->lnf.w), pn_t(n, n->lnf.b), N, D, c->ln_eps);
}
