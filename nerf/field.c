// The NeRF field MLP and the background MLP, built from the generic ops (GEMM, LayerNorm,
// SiLU) and the NeRF ops (IPE, heads); parameter registry, initialisation and Adam.
#include "nerf/field.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/nerf_ops.h"
#include "ops.h"
#include "philox.h"

#define ALIGN_F (VKD_BUF_ALIGN / sizeof(float)) // floats per alignment unit
#define LN_EPS 1e-5f
#define INIT_STREAM 0x494e4954u // "INIT"

static size_t pad(size_t n) { return (n + ALIGN_F - 1) / ALIGN_F * ALIGN_F; }

// ---- tensor registry -----------------------------------------------------------------------

static void add(vkd_field_t *f, int64_t s0, int64_t s1, const char *fmt, int k) {
    vkd_field_tensor_t *t = &f->tensors[f->n_tensors++];
    snprintf(t->name, sizeof t->name, fmt, k);
    t->ndim = s1 ? 2 : 1;
    t->shape[0] = s0, t->shape[1] = s1;
    t->numel = (size_t)s0 * (size_t)(s1 ? s1 : 1);
    t->off = f->n_params;
    f->n_params += pad(t->numel);
}

// Tensor indices: the registry adds them in this order.
enum { T_IN_W = 0, T_IN_B = 1, T_BLOCK0 = 2 }; // then 4 per block, then the output layer
static int t_block(int k, int j) { return T_BLOCK0 + 4 * k + j; } // j: norm w, norm b, lin w, lin b
static int t_out(const vkd_field_t *f, int j) { return T_BLOCK0 + 4 * f->cfg.depth + j; } // norm w, b, out w, b
static int t_bg(const vkd_field_t *f, int j) { return T_BLOCK0 + 4 * f->cfg.depth + 4 + j; } // in w, b, out w, b

static void build_registry(vkd_field_t *f) {
    const vkd_nerf_config_t *c = &f->cfg;
    const int W = c->width, F = vkd_nerf_ipe_dim(c->n_freq);
    add(f, W, F, "field.in.weight", 0);
    add(f, W, 0, "field.in.bias", 0);
    for (int k = 0; k < c->depth; k++) {
        add(f, W, 0, "field.blocks.%d.norm.weight", k);
        add(f, W, 0, "field.blocks.%d.norm.bias", k);
        add(f, W, W, "field.blocks.%d.linear.weight", k);
        add(f, W, 0, "field.blocks.%d.linear.bias", k);
    }
    add(f, W, 0, "field.out_norm.weight", 0);
    add(f, W, 0, "field.out_norm.bias", 0);
    add(f, 4, W, "field.out.weight", 0);
    add(f, 4, 0, "field.out.bias", 0);
    if (c->bg_mode == VKD_NERF_BG_MLP) {
        const int Wb = c->bg_width, Fb = vkd_nerf_ipe_dim(c->bg_freq);
        add(f, Wb, Fb, "background.in.weight", 0);
        add(f, Wb, 0, "background.in.bias", 0);
        add(f, 3, Wb, "background.out.weight", 0);
        add(f, 3, 0, "background.out.bias", 0);
    }
}

int vkd_field_find(const vkd_field_t *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return i;
    return -1;
}

vkd_buf_t vkd_field_view(const vkd_field_t *f, int which, int i) {
    const vkd_buf_t bases[4] = {f->params, f->grads, f->adam_m, f->adam_v};
    vkd_buf_t v = VKD_BUF_NONE;
    if (which < 0 || which > 3 || i < 0 || i >= f->n_tensors) return v;
    const vkd_field_tensor_t *t = &f->tensors[i];
    // Offsets are multiples of the alignment by construction, so this cannot fail.
    if (vkd_buf_slice(bases[which], t->off * sizeof(float), t->numel * sizeof(float), &v) != VKD_OK)
        return VKD_BUF_NONE;
    return v;
}

static vkd_buf_t P_(const vkd_field_t *f, int i) { return vkd_field_view(f, 0, i); }
static vkd_buf_t G_(const vkd_field_t *f, int i) { return vkd_field_view(f, 1, i); }

// ---- creation ------------------------------------------------------------------------------

// Host values of a fresh field: see vkd_field_create.
static void init_values(const vkd_field_t *f, float *host) {
    for (int i = 0; i < f->n_tensors; i++) {
        const vkd_field_tensor_t *t = &f->tensors[i];
        float *p = host + t->off;
        const int is_norm_w = strstr(t->name, "norm.weight") != NULL;
        if (t->ndim == 1) {
            for (size_t j = 0; j < t->numel; j++) p[j] = is_norm_w ? 1.0f : 0.0f;
            continue;
        }
        const float bound = 1.0f / sqrtf((float)t->shape[1]);
        const uint64_t stream = (uint64_t)INIT_STREAM | ((uint64_t)i << 32);
        for (size_t j = 0; j < t->numel; j++) {
            uint32_t w[4];
            vkd_philox_block(f->cfg.seed, stream, j / 4, w);
            p[j] = bound * (2.0f * vkd_philox_uniform(w[j % 4]) - 1.0f);
        }
    }
    host[f->tensors[t_out(f, 3)].off] = f->cfg.density_bias; // field.out.bias[0]
}

vkd_status_t vkd_field_create(vkd_backend_t *be, const vkd_nerf_config_t *cfg, vkd_field_t **out) {
    *out = NULL;
    VKD_TRY(vkd_nerf_config_check(cfg));
    vkd_field_t *f = calloc(1, sizeof *f);
    if (!f) return vkd_fail(VKD_ERR_NOMEM, "NeRF field: out of memory");
    f->be = be;
    f->cfg = *cfg;
    build_registry(f);
    float *host = calloc(f->n_params, sizeof(float));
    vkd_status_t s = host ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "NeRF field: out of memory");
    if (s == VKD_OK)
        s = vkd_arena_create(be, "nerf-params", 4 * f->n_params * sizeof(float), &f->arena);
    vkd_buf_t *bufs[4] = {&f->params, &f->grads, &f->adam_m, &f->adam_v};
    for (int i = 0; i < 4 && s == VKD_OK; i++) s = vkd_arena_alloc(f->arena, f->n_params, bufs[i]);
    if (s == VKD_OK) {
        init_values(f, host);
        s = vkd_buf_write(f->params, host, f->n_params * sizeof(float));
    }
    for (int i = 1; i < 4 && s == VKD_OK; i++) s = op_fill(be, *bufs[i], 0.0f, f->n_params);
    free(host);
    if (s != VKD_OK) {
        vkd_field_destroy(f);
        return vkd_fail_ctx(s, "creating the NeRF field");
    }
    *out = f;
    return VKD_OK;
}

void vkd_field_destroy(vkd_field_t *f) {
    if (!f) return;
    if (f->arena) vkd_arena_destroy(f->arena);
    free(f);
}

// ---- workspaces ------------------------------------------------------------------------------

size_t vkd_field_ws_bytes(const vkd_nerf_config_t *c, int cap) {
    const size_t n = (size_t)cap, W = (size_t)c->width, D = (size_t)c->depth;
    const size_t F = (size_t)vkd_nerf_ipe_dim(c->n_freq);
    const size_t floats = pad(n * F) + (D + 1) * (3 * pad(n * W) + 2 * pad(n)) + pad(n * 4) +
                          3 * pad(n * W) + pad(n * 4);
    return floats * sizeof(float);
}

vkd_status_t vkd_field_ws_alloc(const vkd_field_t *f, vkd_arena_t *arena, int cap,
                                vkd_field_ws_t *ws) {
    memset(ws, 0, sizeof *ws);
    if (cap < 1) return vkd_fail(VKD_ERR_INVALID, "field workspace: capacity %d", cap);
    const size_t n = (size_t)cap, W = (size_t)f->cfg.width;
    const size_t F = (size_t)vkd_nerf_ipe_dim(f->cfg.n_freq);
    ws->cap = cap;
    VKD_TRY(vkd_arena_alloc(arena, n * F, &ws->feat));
    for (int k = 0; k <= f->cfg.depth; k++) {
        VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->h[k]));
        VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->a[k]));
        VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->s[k]));
        VKD_TRY(vkd_arena_alloc(arena, n, &ws->mean[k]));
        VKD_TRY(vkd_arena_alloc(arena, n, &ws->rstd[k]));
    }
    VKD_TRY(vkd_arena_alloc(arena, n * 4, &ws->raw));
    VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->dh));
    VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->ds));
    VKD_TRY(vkd_arena_alloc(arena, n * W, &ws->da));
    return vkd_arena_alloc(arena, n * 4, &ws->draw);
}

size_t vkd_field_bg_ws_bytes(const vkd_nerf_config_t *c, int cap) {
    const size_t n = (size_t)cap, Wb = (size_t)c->bg_width;
    const size_t Fb = (size_t)vkd_nerf_ipe_dim(c->bg_freq);
    return (pad(n * Fb) + 4 * pad(n * Wb) + 2 * pad(n * 3)) * sizeof(float);
}

vkd_status_t vkd_field_bg_ws_alloc(const vkd_field_t *f, vkd_arena_t *arena, int cap,
                                   vkd_field_bg_ws_t *ws) {
    memset(ws, 0, sizeof *ws);
    const size_t n = (size_t)cap, Wb = (size_t)f->cfg.bg_width;
    const size_t Fb = (size_t)vkd_nerf_ipe_dim(f->cfg.bg_freq);
    ws->cap = cap;
    VKD_TRY(vkd_arena_alloc(arena, n * Fb, &ws->feat));
    VKD_TRY(vkd_arena_alloc(arena, n * Wb, &ws->h));
    VKD_TRY(vkd_arena_alloc(arena, n * Wb, &ws->s));
    VKD_TRY(vkd_arena_alloc(arena, n * 3, &ws->pre));
    VKD_TRY(vkd_arena_alloc(arena, n * 3, &ws->dpre));
    VKD_TRY(vkd_arena_alloc(arena, n * Wb, &ws->ds));
    return vkd_arena_alloc(arena, n * Wb, &ws->dh);
}

// ---- the field MLP -----------------------------------------------------------------------------

static vkd_gemm_t linear(int P, int out, int in, float beta) {
    return (vkd_gemm_t){.M = P, .N = out, .K = in, .trans_b = 1, .alpha = 1.0f, .beta = beta,
                        .batch = 1};
}

// dx (P, in) = dy (P, out) . W (out, in): the input gradient of a Linear layer.
static vkd_gemm_t linear_dx(int P, int out, int in) {
    return (vkd_gemm_t){.M = P, .N = in, .K = out, .alpha = 1.0f, .batch = 1};
}

static vkd_nerf_heads_t heads_of(const vkd_nerf_config_t *c, int pre_only) {
    return (vkd_nerf_heads_t){c->density_act, c->blob_lambda, c->blob_sigma, pre_only};
}

static vkd_status_t check_batch(const vkd_field_ws_t *ws, int P, const char *op) {
    if (P < 1 || P > ws->cap)
        return vkd_fail(VKD_ERR_INVALID, "%s: %d points for a workspace of %d", op, P, ws->cap);
    return VKD_OK;
}

static vkd_status_t forward(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t sigma, vkd_buf_t rho,
                            vkd_buf_t x, vkd_buf_t var, int P, float var_add, int pre_only) {
    VKD_TRY(check_batch(ws, P, "vkd_field_forward"));
    ws->pre_only = pre_only;
    vkd_backend_t *be = f->be;
    const vkd_nerf_config_t *c = &f->cfg;
    const int W = c->width, F = vkd_nerf_ipe_dim(c->n_freq), D = c->depth;
    const size_t PW = (size_t)P * W;
    VKD_TRY(nerf_ipe_forward(be, ws->feat, x, var, P, c->n_freq, var_add));
    vkd_gemm_t g = linear(P, W, F, 0.0f);
    VKD_TRY(op_gemm_forward(be, ws->h[0], ws->feat, P_(f, T_IN_W), P_(f, T_IN_B), &g));
    for (int k = 0; k <= D; k++) {
        const int nw = k < D ? t_block(k, 0) : t_out(f, 0);
        VKD_TRY(op_layernorm_forward(be, ws->a[k], ws->mean[k], ws->rstd[k], ws->h[k], P_(f, nw),
                                     P_(f, nw + 1), P, W, LN_EPS));
        VKD_TRY(op_unary_forward(be, ws->s[k], ws->a[k], PW, VKD_ACT_SILU));
        if (k == D) break;
        // h_{k+1} = h_k + lin_k(s_k): copy, then the GEMM accumulates (beta = 1).
        VKD_TRY(op_copy(be, ws->h[k + 1], ws->h[k], PW));
        g = linear(P, W, W, 1.0f);
        VKD_TRY(op_gemm_forward(be, ws->h[k + 1], ws->s[k], P_(f, t_block(k, 2)),
                                P_(f, t_block(k, 3)), &g));
    }
    g = linear(P, 4, W, 0.0f);
    VKD_TRY(op_gemm_forward(be, ws->raw, ws->s[D], P_(f, t_out(f, 2)), P_(f, t_out(f, 3)), &g));
    const vkd_nerf_heads_t hd = heads_of(c, pre_only);
    return nerf_heads_forward(be, sigma, rho, ws->raw, x, P, &hd);
}

vkd_status_t vkd_field_forward(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t sigma,
                               vkd_buf_t rho, vkd_buf_t x, vkd_buf_t var, int P, float var_add) {
    return forward(f, ws, sigma, rho, x, var, P, var_add, 0);
}

vkd_status_t vkd_field_forward_pre(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t pre,
                                   vkd_buf_t x, vkd_buf_t var, int P, float var_add) {
    return forward(f, ws, pre, VKD_BUF_NONE, x, var, P, var_add, 1);
}

vkd_status_t vkd_field_backward(vkd_field_t *f, vkd_field_ws_t *ws, vkd_buf_t dsigma,
                                vkd_buf_t drho, vkd_buf_t x, int P) {
    VKD_TRY(check_batch(ws, P, "vkd_field_backward"));
    vkd_backend_t *be = f->be;
    const vkd_nerf_config_t *c = &f->cfg;
    const int W = c->width, F = vkd_nerf_ipe_dim(c->n_freq), D = c->depth;
    const size_t PW = (size_t)P * W;
    const vkd_nerf_heads_t hd = heads_of(c, ws->pre_only);
    VKD_TRY(op_fill(be, ws->draw, 0.0f, (size_t)P * 4));
    VKD_TRY(nerf_heads_backward(be, ws->draw, dsigma, drho, ws->raw, x, P, &hd));
    vkd_gemm_t g = linear(P, 4, W, 0.0f);
    VKD_TRY(op_gemm_backward(be, VKD_BUF_NONE, G_(f, t_out(f, 2)), G_(f, t_out(f, 3)), ws->draw,
                             ws->s[D], P_(f, t_out(f, 2)), &g));
    g = linear_dx(P, 4, W);
    VKD_TRY(op_gemm_forward(be, ws->ds, ws->draw, P_(f, t_out(f, 2)), VKD_BUF_NONE, &g));
    VKD_TRY(op_fill(be, ws->dh, 0.0f, PW));
    for (int k = D; k >= 0; k--) {
        // ds holds dL/ds_k; the LayerNorm backward adds LN_k's share to dh (the residual
        // path's gradient is already there), turning dh_{k+1} into dh_k.
        const int nw = k < D ? t_block(k, 0) : t_out(f, 0);
        VKD_TRY(op_fill(be, ws->da, 0.0f, PW));
        VKD_TRY(op_unary_backward(be, ws->da, ws->ds, ws->a[k], PW, VKD_ACT_SILU));
        VKD_TRY(op_layernorm_backward(be, ws->dh, G_(f, nw), G_(f, nw + 1), ws->da, ws->h[k],
                                      P_(f, nw), ws->mean[k], ws->rstd[k], P, W));
        if (k == 0) break;
        g = linear(P, W, W, 0.0f);
        VKD_TRY(op_gemm_backward(be, VKD_BUF_NONE, G_(f, t_block(k - 1, 2)),
                                 G_(f, t_block(k - 1, 3)), ws->dh, ws->s[k - 1],
                                 P_(f, t_block(k - 1, 2)), &g));
        g = linear_dx(P, W, W);
        VKD_TRY(op_gemm_forward(be, ws->ds, ws->dh, P_(f, t_block(k - 1, 2)), VKD_BUF_NONE, &g));
    }
    g = linear(P, W, F, 0.0f);
    return op_gemm_backward(be, VKD_BUF_NONE, G_(f, T_IN_W), G_(f, T_IN_B), ws->dh, ws->feat,
                            P_(f, T_IN_W), &g);
}

// ---- the background MLP ----------------------------------------------------------------------

static vkd_status_t check_bg(const vkd_field_t *f, const vkd_field_bg_ws_t *ws, int R) {
    if (f->cfg.bg_mode != VKD_NERF_BG_MLP)
        return vkd_fail(VKD_ERR_INVALID, "background MLP: the config's bg_mode is fixed");
    if (R < 1 || R > ws->cap)
        return vkd_fail(VKD_ERR_INVALID, "background MLP: %d rays for a workspace of %d", R,
                        ws->cap);
    return VKD_OK;
}

vkd_status_t vkd_field_bg_forward(vkd_field_t *f, vkd_field_bg_ws_t *ws, vkd_buf_t bg,
                                  vkd_buf_t dirs, int R) {
    VKD_TRY(check_bg(f, ws, R));
    vkd_backend_t *be = f->be;
    const int Wb = f->cfg.bg_width, Fb = vkd_nerf_ipe_dim(f->cfg.bg_freq);
    VKD_TRY(nerf_ipe_forward(be, ws->feat, dirs, VKD_BUF_NONE, R, f->cfg.bg_freq, 0.0f));
    vkd_gemm_t g = linear(R, Wb, Fb, 0.0f);
    VKD_TRY(op_gemm_forward(be, ws->h, ws->feat, P_(f, t_bg(f, 0)), P_(f, t_bg(f, 1)), &g));
    VKD_TRY(op_unary_forward(be, ws->s, ws->h, (size_t)R * Wb, VKD_ACT_SILU));
    g = linear(R, 3, Wb, 0.0f);
    VKD_TRY(op_gemm_forward(be, ws->pre, ws->s, P_(f, t_bg(f, 2)), P_(f, t_bg(f, 3)), &g));
    return op_unary_forward(be, bg, ws->pre, (size_t)R * 3, VKD_ACT_SIGMOID);
}

vkd_status_t vkd_field_bg_backward(vkd_field_t *f, vkd_field_bg_ws_t *ws, vkd_buf_t dbg, int R) {
    VKD_TRY(check_bg(f, ws, R));
    vkd_backend_t *be = f->be;
    const int Wb = f->cfg.bg_width, Fb = vkd_nerf_ipe_dim(f->cfg.bg_freq);
    VKD_TRY(op_fill(be, ws->dpre, 0.0f, (size_t)R * 3));
    VKD_TRY(op_unary_backward(be, ws->dpre, dbg, ws->pre, (size_t)R * 3, VKD_ACT_SIGMOID));
    vkd_gemm_t g = linear(R, 3, Wb, 0.0f);
    VKD_TRY(op_gemm_backward(be, VKD_BUF_NONE, G_(f, t_bg(f, 2)), G_(f, t_bg(f, 3)), ws->dpre,
                             ws->s, P_(f, t_bg(f, 2)), &g));
    g = linear_dx(R, 3, Wb);
    VKD_TRY(op_gemm_forward(be, ws->ds, ws->dpre, P_(f, t_bg(f, 2)), VKD_BUF_NONE, &g));
    VKD_TRY(op_fill(be, ws->dh, 0.0f, (size_t)R * Wb));
    VKD_TRY(op_unary_backward(be, ws->dh, ws->ds, ws->h, (size_t)R * Wb, VKD_ACT_SILU));
    g = linear(R, Wb, Fb, 0.0f);
    return op_gemm_backward(be, VKD_BUF_NONE, G_(f, t_bg(f, 0)), G_(f, t_bg(f, 1)), ws->dh,
                            ws->feat, P_(f, t_bg(f, 0)), &g);
}

// ---- optimiser ------------------------------------------------------------------------------

vkd_status_t vkd_field_zero_grad(vkd_field_t *f) {
    return op_fill(f->be, f->grads, 0.0f, f->n_params);
}

float vkd_field_lr(const vkd_field_t *f) {
    const int w = f->cfg.warmup_steps;
    const double ramp = w > 0 && f->step + 1 < w ? (double)(f->step + 1) / w : 1.0;
    return (float)(f->cfg.lr * ramp);
}

vkd_status_t vkd_field_adam_step(vkd_field_t *f) {
    const vkd_adam_t o = {.lr = vkd_field_lr(f), .beta1 = f->cfg.beta1, .beta2 = f->cfg.beta2,
                          .eps = f->cfg.adam_eps, .step = f->step + 1};
    VKD_TRY(op_adam_step(f->be, f->params, f->adam_m, f->adam_v, f->grads, f->n_params, &o));
    f->step++;
    return VKD_OK;
}

vkd_status_t vkd_field_check_finite(const vkd_field_t *f, const char *what) {
    float *host = malloc(f->n_params * sizeof(float));
    if (!host) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", what);
    static const char *const kind[3] = {"", "Adam first moment of ", "Adam second moment of "};
    const vkd_buf_t bufs[3] = {f->params, f->adam_m, f->adam_v};
    vkd_status_t s = VKD_OK;
    for (int b = 0; b < 3 && s == VKD_OK; b++) {
        s = vkd_buf_read(bufs[b], host, f->n_params * sizeof(float));
        for (int i = 0; i < f->n_tensors && s == VKD_OK; i++) {
            const vkd_field_tensor_t *t = &f->tensors[i];
            for (size_t j = 0; j < t->numel; j++)
                if (!isfinite(host[t->off + j])) {
                    s = vkd_fail(VKD_ERR_NUMERIC, "%s: %s%s[%zu] is %g (not finite)", what,
                                 kind[b], t->name, j, (double)host[t->off + j]);
                    break;
                }
        }
    }
    free(host);
    return s;
}
