// The UNet model: loading the checkpoint's tensors into the config's modules, planning
// activation memory, and the forward pass (stem, input blocks, middle block, output blocks
// with skip concatenation, head).
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unet_impl.h"

struct vkd_unet {
    vkd_backend_t *be;
    vkd_unet_config_t cfg;
    unet_arch_t arch;
    vkd_arena_t *params, *acts;
    unet_lin_t time0, time2, out_gn, out_conv;
    unet_block_t in[UNET_MAX_BLOCKS], mid, out[UNET_MAX_BLOCKS];
    unet_res_t *res_pool;   // every ResBlock (the middle block's two are adjacent)
    unet_st_t *st_pool;     // every SpatialTransformer
    unet_tblock_t *tb_pool; // their transformer blocks
    vkd_unet_tap_fn tap;
    void *tap_user;
    int plan_B, plan_H, plan_W, plan_L; // the shape the acts arena was last checked for
};

// ---- loading --------------------------------------------------------------------------------
typedef struct {
    vkd_unet_t *u;
    vkd_weights_t *w;
    vkd_arena_t *tmp; // staging for tensors that are split or stacked on the device
    int n_res, n_st, n_tb;
} loader_t;

static vkd_status_t ld_to(loader_t *L, vkd_arena_t *arena, vkd_buf_t *out, int ndim,
                          const int64_t *shape, const char *fmt, va_list ap) {
    char name[256];
    int n = vsnprintf(name, sizeof name, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof name)
        return vkd_fail(VKD_ERR_INVALID, "unet: tensor name too long (%d bytes)", n);
    return vkd_weights_loadf(L->w, arena, out, ndim, shape, "%s%s", L->u->cfg.prefix, name);
}

static vkd_status_t ld(loader_t *L, vkd_buf_t *out, int ndim, const int64_t *shape,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static vkd_status_t ld(loader_t *L, vkd_buf_t *out, int ndim, const int64_t *shape,
                       const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vkd_status_t s = ld_to(L, L->u->params, out, ndim, shape, fmt, ap);
    va_end(ap);
    return s;
}

static vkd_status_t ld_tmp(loader_t *L, vkd_buf_t *out, int ndim, const int64_t *shape,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static vkd_status_t ld_tmp(loader_t *L, vkd_buf_t *out, int ndim, const int64_t *shape,
                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vkd_status_t s = ld_to(L, L->tmp, out, ndim, shape, fmt, ap);
    va_end(ap);
    return s;
}

// A conv (k > 0: [out, in, k, k]) or Linear (k = 0: [out, in]) with a bias "<base>.bias".
static vkd_status_t ld_lin(loader_t *L, unet_lin_t *p, int64_t out, int64_t in, int k,
                           const char *base) {
    const int64_t shape[4] = {out, in, k, k};
    VKD_TRY(ld(L, &p->w, k ? 4 : 2, shape, "%s.weight", base));
    return ld(L, &p->b, 1, &out, "%s.bias", base);
}

static vkd_status_t ld_norm(loader_t *L, unet_lin_t *p, int64_t c, const char *base) {
    VKD_TRY(ld(L, &p->w, 1, &c, "%s.weight", base));
    return ld(L, &p->b, 1, &c, "%s.bias", base);
}

// dst[off, off + n) = src[src_off, src_off + n) on the device.
static vkd_status_t dev_copy(loader_t *L, vkd_buf_t dst, int64_t off, vkd_buf_t src,
                             int64_t src_off, int64_t n) {
    // The run is the innermost axis: the one the CPU body copies as a contiguous loop.
    const vkd_copy_strided_t d = {.n = {1, 1, 1, n}, .out_off = off, .out_stride = {0, 0, 0, 1},
                                  .inp_off = src_off, .inp_stride = {0, 0, 0, 1}};
    return op_copy_strided(L->u->be, dst, src, &d);
}

// Weights (count, rows, cols) stacked from "<base>.<names[i]>.weight", for one batched GEMM.
static vkd_status_t ld_stack(loader_t *L, vkd_buf_t *dst, int count, int64_t rows, int64_t cols,
                             const char *base, const char *const *names) {
    // The staged copies of the previous group may still be recorded: the next load's
    // upload finishes them before the staging memory is overwritten.
    vkd_arena_reset(L->tmp);
    VKD_TRY(vkd_arena_alloc(L->u->params, (size_t)(count * rows * cols), dst));
    for (int i = 0; i < count; i++) {
        vkd_buf_t part;
        VKD_TRY(ld_tmp(L, &part, 2, (int64_t[]){rows, cols}, "%s.%s.weight", base, names[i]));
        VKD_TRY(dev_copy(L, *dst, i * rows * cols, part, 0, rows * cols));
    }
    return VKD_OK;
}

// A module path into b. Paths are far shorter than the buffers; one that is not becomes a
// name no file has, so the load fails naming it rather than using a truncated name.
static const char *pathf(char *b, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static const char *pathf(char *b, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int len = vsnprintf(b, n, f, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= n) snprintf(b, n, "(module path too long)");
    return b;
}
#define NAME(suffix) pathf(b, sizeof b, "%s%s", base, suffix)

static vkd_status_t ld_tblock(loader_t *L, unet_tblock_t *t, int64_t I, const char *base) {
    char b[192];
    const int64_t C = L->u->cfg.context_dim, F = 4 * I;
    VKD_TRY(ld_norm(L, &t->ln1, I, NAME(".norm1")));
    VKD_TRY(ld_norm(L, &t->ln2, I, NAME(".norm2")));
    VKD_TRY(ld_norm(L, &t->ln3, I, NAME(".norm3")));
    static const char *const qkv[] = {"to_q", "to_k", "to_v"};
    VKD_TRY(ld_stack(L, &t->qkv, 3, I, I, NAME(".attn1"), qkv));
    VKD_TRY(ld_lin(L, &t->out1, I, I, 0, NAME(".attn1.to_out.0")));
    VKD_TRY(ld(L, &t->q2, 2, (int64_t[]){I, I}, "%s.attn2.to_q.weight", base));
    VKD_TRY(ld_stack(L, &t->kv2, 2, I, C, NAME(".attn2"), qkv + 1));
    VKD_TRY(ld_lin(L, &t->out2, I, I, 0, NAME(".attn2.to_out.0")));
    // GEGLU: split proj (2F, I) into the value half and the gate half, so each is a GEMM
    // whose output is contiguous.
    vkd_arena_reset(L->tmp);
    vkd_buf_t pw, pb; // (2F, I), (2F)
    VKD_TRY(ld_tmp(L, &pw, 2, (int64_t[]){2 * F, I}, "%s.ff.net.0.proj.weight", base));
    VKD_TRY(ld_tmp(L, &pb, 1, (int64_t[]){2 * F}, "%s.ff.net.0.proj.bias", base));
    unet_lin_t *half[2] = {&t->ff_a, &t->ff_g};
    for (int h = 0; h < 2; h++) {
        VKD_TRY(vkd_arena_alloc(L->u->params, (size_t)(F * I), &half[h]->w));
        VKD_TRY(vkd_arena_alloc(L->u->params, (size_t)F, &half[h]->b));
        VKD_TRY(dev_copy(L, half[h]->w, 0, pw, h * F * I, F * I));
        VKD_TRY(dev_copy(L, half[h]->b, 0, pb, h * F, F));
    }
    return ld_lin(L, &t->ff_out, I, F, 0, NAME(".ff.net.2"));
}

static vkd_status_t ld_st(loader_t *L, unet_st_t *s, int c, const char *base) {
    const vkd_unet_config_t *cfg = &L->u->cfg;
    unet_heads(cfg, c, &s->heads, &s->dim_head);
    s->c = c, s->inner = s->heads * s->dim_head, s->depth = cfg->transformer_depth;
    s->tb = L->u->tb_pool + L->n_tb;
    L->n_tb += s->depth;
    char b[160];
    const int k = cfg->use_linear_in_transformer ? 0 : 1;
    VKD_TRY(ld_norm(L, &s->gn, c, NAME(".norm")));
    VKD_TRY(ld_lin(L, &s->proj_in, s->inner, c, k, NAME(".proj_in")));
    for (int d = 0; d < s->depth; d++) {
        char tb[160];
        pathf(tb, sizeof tb, "%s.transformer_blocks.%d", base, d);
        VKD_TRY(ld_tblock(L, &s->tb[d], s->inner, tb));
    }
    return ld_lin(L, &s->proj_out, c, s->inner, k, NAME(".proj_out"));
}

static vkd_status_t ld_res(loader_t *L, unet_res_t *r, int cin, int cout, const char *base) {
    char b[160];
    r->cin = cin, r->cout = cout;
    VKD_TRY(ld_norm(L, &r->gn1, cin, NAME(".in_layers.0")));
    VKD_TRY(ld_lin(L, &r->conv1, cout, cin, 3, NAME(".in_layers.2")));
    VKD_TRY(ld_lin(L, &r->emb, cout, L->u->arch.temb, 0, NAME(".emb_layers.1")));
    VKD_TRY(ld_norm(L, &r->gn2, cout, NAME(".out_layers.0")));
    VKD_TRY(ld_lin(L, &r->conv2, cout, cout, 3, NAME(".out_layers.3")));
    if (cin == cout) return VKD_OK;
    return ld_lin(L, &r->skip, cout, cin, 1, NAME(".skip_connection"));
}

// One block named like the reference's module ("input_blocks.4", "middle_block").
static vkd_status_t ld_block(loader_t *L, unet_block_t *blk, const unet_desc_t *d,
                             const char *name) {
    char b[160];
    blk->d = d;
    if (d->conv_in) {
        pathf(b, sizeof b, "%s.0", name);
        return ld_lin(L, &blk->conv_in, d->cout, d->cin, 3, b);
    }
    if (d->down) {
        pathf(b, sizeof b, "%s.0.op", name);
        return ld_lin(L, &blk->down, d->down, d->down, 3, b);
    }
    blk->res = L->u->res_pool + L->n_res;
    L->n_res += d->mid ? 2 : 1;
    pathf(b, sizeof b, "%s.0", name);
    VKD_TRY(ld_res(L, &blk->res[0], d->res_in, d->res_out, b));
    int layer = 1;
    if (d->attn) {
        blk->st = L->u->st_pool + L->n_st++;
        pathf(b, sizeof b, "%s.%d", name, layer++);
        VKD_TRY(ld_st(L, blk->st, d->attn, b));
    }
    if (d->mid) {
        pathf(b, sizeof b, "%s.%d", name, layer++);
        VKD_TRY(ld_res(L, &blk->res[1], d->res_out, d->res_out, b));
    }
    if (d->up) {
        pathf(b, sizeof b, "%s.%d.conv", name, layer);
        VKD_TRY(ld_lin(L, &blk->up, d->up, d->up, 3, b));
    }
    return VKD_OK;
}

static size_t aligned(size_t n_floats) {
    return (n_floats * sizeof(float) + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

static vkd_status_t load_all(loader_t *L) {
    vkd_unet_t *u = L->u;
    const unet_arch_t *a = &u->arch;
    const int mc = u->cfg.model_channels;
    VKD_TRY(ld_lin(L, &u->time0, a->temb, mc, 0, "time_embed.0"));
    VKD_TRY(ld_lin(L, &u->time2, a->temb, a->temb, 0, "time_embed.2"));
    char name[64];
    for (int i = 0; i < a->n_in; i++) {
        pathf(name, sizeof name, "input_blocks.%d", i);
        VKD_TRY(ld_block(L, &u->in[i], &a->in[i], name));
    }
    VKD_TRY(ld_block(L, &u->mid, &a->mid, "middle_block"));
    for (int i = 0; i < a->n_out; i++) {
        pathf(name, sizeof name, "output_blocks.%d", i);
        VKD_TRY(ld_block(L, &u->out[i], &a->out[i], name));
    }
    VKD_TRY(ld_norm(L, &u->out_gn, mc, "out.0"));
    return ld_lin(L, &u->out_conv, u->cfg.out_channels, mc, 3, "out.2");
}

vkd_status_t vkd_unet_create(vkd_backend_t *be, const vkd_unet_config_t *cfg, vkd_weights_t *w,
                             vkd_unet_t **out) {
    *out = NULL;
    vkd_unet_t *u = calloc(1, sizeof *u);
    if (!u) return vkd_fail(VKD_ERR_NOMEM, "unet: out of host memory");
    u->be = be;
    u->cfg = *cfg;
    loader_t L = {.u = u, .w = w};
    vkd_status_t s = unet_arch_build(cfg, &u->arch);
    // Counts for the pools and arenas, straight from the block list.
    int n_res = 0, n_st = 0;
    size_t tmp_bytes = 0;
    const unet_desc_t *all[2 * UNET_MAX_BLOCKS + 1];
    int n_all = 0;
    for (int i = 0; i < u->arch.n_in; i++) all[n_all++] = &u->arch.in[i];
    all[n_all++] = &u->arch.mid;
    for (int i = 0; i < u->arch.n_out; i++) all[n_all++] = &u->arch.out[i];
    for (int i = 0; s == VKD_OK && i < n_all; i++) {
        n_res += all[i]->res_in ? (all[i]->mid ? 2 : 1) : 0;
        if (!all[i]->attn) continue;
        n_st++;
        int h, d;
        unet_heads(cfg, all[i]->attn, &h, &d);
        const size_t I = (size_t)h * d, C = (size_t)cfg->context_dim;
        size_t need[3] = {3 * aligned(I * I), 2 * aligned(I * C), aligned(8 * I * I) + aligned(8 * I)};
        for (int k = 0; k < 3; k++)
            if (need[k] > tmp_bytes) tmp_bytes = need[k];
    }
    int64_t params = 0, tensors = 0;
    if (s == VKD_OK) {
        unet_count(cfg, &u->arch, &params, &tensors);
        u->res_pool = calloc((size_t)n_res + 1, sizeof *u->res_pool);
        u->st_pool = calloc((size_t)n_st + 1, sizeof *u->st_pool);
        u->tb_pool = calloc((size_t)n_st * cfg->transformer_depth + 1, sizeof *u->tb_pool);
        if (!u->res_pool || !u->st_pool || !u->tb_pool)
            s = vkd_fail(VKD_ERR_NOMEM, "unet: out of host memory for %d blocks", n_all);
    }
    // Every tensor is padded to the alignment at most once (the split/stacked ones too).
    if (s == VKD_OK)
        s = vkd_arena_create(be, "unet-params",
                             (size_t)params * sizeof(float) + (size_t)(tensors + 1) * VKD_BUF_ALIGN,
                             &u->params);
    if (s == VKD_OK && tmp_bytes)
        s = vkd_arena_create(be, "unet-staging", tmp_bytes, &L.tmp);
    if (s == VKD_OK) s = load_all(&L);
    // The staging arena may only go once the copies out of it have run (also after a
    // failed load, which may leave some recorded).
    if (L.tmp) {
        vkd_status_t s_sync = vkd_backend_sync(be);
        if (s == VKD_OK) s = s_sync;
        vkd_arena_destroy(L.tmp);
    }
    if (s != VKD_OK) {
        vkd_unet_destroy(u);
        return vkd_fail_ctx(s, "loading the UNet");
    }
    vkd_weights_report_unused(w, cfg->prefix, stderr);
    *out = u;
    return VKD_OK;
}

void vkd_unet_destroy(vkd_unet_t *u) {
    if (!u) return;
    if (u->acts || u->params) vkd_backend_sync(u->be); // recorded work may still use them
    if (u->acts) vkd_arena_destroy(u->acts);
    if (u->params) vkd_arena_destroy(u->params);
    free(u->res_pool);
    free(u->st_pool);
    free(u->tb_pool);
    free(u);
}

const vkd_unet_config_t *vkd_unet_get_config(const vkd_unet_t *u) { return &u->cfg; }
vkd_unet_pred_t vkd_unet_prediction(const vkd_unet_t *u) { return u->cfg.prediction; }

void vkd_unet_set_tap(vkd_unet_t *u, vkd_unet_tap_fn tap, void *user) {
    u->tap = tap;
    u->tap_user = user;
}

// ---- forward -------------------------------------------------------------------------------
static vkd_status_t tap(vkd_unet_t *u, unet_fw_t *f, const char *name, vkd_buf_t b, int C, int H,
                        int W) {
    if (!u->tap || f->plan) return VKD_OK;
    const int64_t shape[4] = {f->B, C, H, W};
    const int ndim = H ? 4 : 2;
    vkd_buf_t v; // exactly the tensor (slots can be larger)
    VKD_TRY(vkd_buf_slice(b, 0, (size_t)(f->B * C * (H ? H * W : 1)) * sizeof(float), &v));
    return u->tap(u->tap_user, name, v, ndim, shape);
}

// emb (B, temb) = time_embed(timestep_embedding(t)); f->semb = SiLU(emb).
static vkd_status_t stem(vkd_unet_t *u, unet_fw_t *f, const float *t) {
    const int B = f->B, mc = u->cfg.model_channels, te = u->arch.temb;
    vkd_buf_t temb, h, emb; // (B, mc), (B, te), (B, te)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * mc, &temb));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * te, &h));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * te, &emb));
    VKD_TRY(unet_hi_alloc(f, (size_t)B * te, &f->semb));
    if (!f->plan) {
        float *host = malloc((size_t)B * mc * sizeof(float)); // (B, mc)
        if (!host) return vkd_fail(VKD_ERR_NOMEM, "unet forward: out of host memory");
        vkd_unet_timestep_embedding(t, B, mc, host);
        vkd_status_t s = vkd_buf_write(temb, host, (size_t)B * mc * sizeof(float));
        free(host);
        VKD_TRY(s);
    }
    vkd_gemm_t g = {.M = B, .N = te, .K = mc, .trans_b = 1, .alpha = 1.0f, .batch = 1};
    VKD_TRY(unet_k_gemm(f, h, temb, u->time0.w, u->time0.b, &g));
    VKD_TRY(unet_k_unary(f, h, h, (size_t)B * te, VKD_ACT_SILU));
    g.K = te;
    VKD_TRY(unet_k_gemm(f, emb, h, u->time2.w, u->time2.b, &g));
    VKD_TRY(tap(u, f, "emb", emb, te, 0, 0));
    return unet_k_unary(f, f->semb, emb, (size_t)B * te, VKD_ACT_SILU);
}

// cat (B, Ch + Cs, HW) = cat([h (B, Ch, HW), skip (B, Cs, HW)], dim=1)
static vkd_status_t concat(unet_fw_t *f, vkd_buf_t cat, vkd_buf_t h, vkd_buf_t skip, int Ch,
                           int Cs, int HW) {
    // Each image's part is one contiguous run, on the innermost axis (a plain loop on the CPU;
    // an axis of length 1 innermost would make it an element-by-element walk).
    const int64_t Ct = Ch + Cs;
    vkd_copy_strided_t d = {.n = {f->B, 1, 1, (int64_t)Ch * HW}, .out_stride = {Ct * HW, 0, 0, 1},
                            .inp_stride = {(int64_t)Ch * HW, 0, 0, 1}};
    VKD_TRY(unet_k_copy(f, cat, h, &d));
    d.n[3] = (int64_t)Cs * HW, d.out_off = (int64_t)Ch * HW, d.inp_stride[0] = (int64_t)Cs * HW;
    return unet_k_copy(f, cat, skip, &d);
}

static vkd_status_t run(vkd_unet_t *u, unet_fw_t *f, vkd_buf_t out, vkd_buf_t x, const float *t,
                        int H, int W) {
    const unet_arch_t *a = &u->arch;
    const int B = f->B;
    VKD_TRY(stem(u, f, t));
    char name[48];
    vkd_buf_t skips[UNET_MAX_BLOCKS];
    for (int i = 0; i < a->n_in; i++) {
        const unet_desc_t *d = &a->in[i];
        const int h = H / d->ds, w = W / d->ds, ho = d->down ? h / 2 : h, wo = d->down ? w / 2 : w;
        VKD_TRY(unet_lo_push(f, (size_t)B * d->cout * ho * wo, &skips[i]));
        VKD_TRY(unet_block_forward(f, &u->in[i], skips[i], i ? skips[i - 1] : x, h, w));
        snprintf(name, sizeof name, "input_blocks.%d", i);
        VKD_TRY(tap(u, f, name, skips[i], d->cout, ho, wo));
    }
    // Two slots for the output phase: the current h and the concatenation it feeds.
    size_t slot = (size_t)B * a->mid.cout * (H / a->mid.ds) * (W / a->mid.ds);
    for (int j = 0; j < a->n_out; j++) {
        const unet_desc_t *d = &a->out[j];
        const size_t hw = (size_t)(H / d->ds) * (W / d->ds), k = d->up ? 4 : 1;
        if ((size_t)B * d->cin * hw > slot) slot = (size_t)B * d->cin * hw;
        if ((size_t)B * d->cout * hw * k > slot) slot = (size_t)B * d->cout * hw * k;
    }
    vkd_buf_t cur, cat; // (B, C, h, w) and (B, Ch + Cs, h, w) within `slot` floats
    VKD_TRY(unet_hi_alloc(f, slot, &cur));
    VKD_TRY(unet_hi_alloc(f, slot, &cat));
    const int hm = H / a->mid.ds, wm = W / a->mid.ds;
    VKD_TRY(unet_block_forward(f, &u->mid, cur, skips[a->n_in - 1], hm, wm));
    VKD_TRY(tap(u, f, "middle_block", cur, a->mid.cout, hm, wm));
    int ch = a->mid.cout;
    for (int j = 0; j < a->n_out; j++) {
        const unet_desc_t *d = &a->out[j];
        const int h = H / d->ds, w = W / d->ds;
        VKD_TRY(concat(f, cat, cur, skips[a->n_in - 1 - j], ch, d->cin - ch, h * w));
        unet_lo_pop(f, skips[a->n_in - 1 - j]);
        VKD_TRY(unet_block_forward(f, &u->out[j], cur, cat, h, w));
        ch = d->cout;
        snprintf(name, sizeof name, "output_blocks.%d", j);
        VKD_TRY(tap(u, f, name, cur, ch, d->up ? 2 * h : h, d->up ? 2 * w : w));
    }
    // out = conv(SiLU(GroupNorm(h)))
    const int mc = u->cfg.model_channels;
    vkd_buf_t g; // (B, mc, H, W)
    VKD_TRY(unet_hi_alloc(f, (size_t)B * mc * H * W, &g));
    VKD_TRY(unet_k_groupnorm(f, g, cur, &u->out_gn, B, mc, H * W, u->cfg.eps_out));
    VKD_TRY(unet_k_unary(f, g, g, (size_t)B * mc * H * W, VKD_ACT_SILU));
    return unet_k_conv(f, out, g, &u->out_conv, B, mc, H, W, u->cfg.out_channels, 3, 1);
}

static vkd_status_t check_shape(const vkd_unet_t *u, int B, int H, int W, int L) {
    const int m = 1 << (u->cfg.n_levels - 1);
    if (B < 1 || H < 1 || W < 1 || L < 1 || B > 65535 || L > (1 << 20))
        return vkd_fail(VKD_ERR_INVALID, "unet forward: B = %d, H = %d, W = %d, L = %d must be "
                        "positive (B <= 65535)", B, H, W, L);
    if (H % m || W % m || (int64_t)H * W > (1 << 24))
        return vkd_fail(VKD_ERR_INVALID, "unet forward: H x W = %d x %d must be multiples of %d "
                        "(%d levels halve it %d times)", H, W, m, u->cfg.n_levels, u->cfg.n_levels - 1);
    return VKD_OK;
}

static void fw_init(const vkd_unet_t *u, unet_fw_t *f, int plan, int B, int L) {
    *f = (unet_fw_t){.be = u->be, .plan = plan, .B = B, .L = L, .ctx_dim = u->cfg.context_dim,
                     .temb = u->arch.temb, .eps_res = u->cfg.eps_resblock,
                     .eps_st = u->cfg.eps_transformer, .eps_ln = u->cfg.eps_layernorm};
}

vkd_status_t vkd_unet_acts_bytes(vkd_unet_t *u, int B, int H, int W, int L, size_t *bytes) {
    VKD_TRY(check_shape(u, B, H, W, L));
    unet_fw_t f;
    fw_init(u, &f, 1, B, L);
    float *t = calloc((size_t)B, sizeof(float));
    if (!t) return vkd_fail(VKD_ERR_NOMEM, "unet: out of host memory");
    vkd_status_t s = run(u, &f, VKD_BUF_NONE, VKD_BUF_NONE, t, H, W);
    free(t);
    *bytes = f.peak;
    return s;
}

vkd_status_t vkd_unet_reserve(vkd_unet_t *u, int B, int H, int W, int L) {
    if (u->acts && B == u->plan_B && H == u->plan_H && W == u->plan_W && L == u->plan_L)
        return VKD_OK;
    size_t bytes = 0;
    VKD_TRY(vkd_unet_acts_bytes(u, B, H, W, L, &bytes));
    if (!u->acts || vkd_arena_capacity(u->acts) < bytes) {
        if (u->acts) {
            VKD_TRY(vkd_backend_sync(u->be)); // recorded forwards may still use the old one
            vkd_arena_destroy(u->acts);
            u->acts = NULL;
        }
        VKD_TRY(vkd_arena_create(u->be, "unet-acts", bytes, &u->acts));
    }
    u->plan_B = B, u->plan_H = H, u->plan_W = W, u->plan_L = L;
    return VKD_OK;
}

vkd_status_t vkd_unet_forward(vkd_unet_t *u, vkd_buf_t out, vkd_buf_t x, const float *timesteps,
                              vkd_buf_t context, int B, int H, int W, int L) {
    const vkd_unet_config_t *c = &u->cfg;
    VKD_TRY(check_shape(u, B, H, W, L));
    if (!timesteps) return vkd_fail(VKD_ERR_INVALID, "unet forward: timesteps is NULL");
    const size_t n_x = (size_t)B * c->in_channels * H * W, n_out = (size_t)B * c->out_channels * H * W;
    const size_t n_ctx = (size_t)B * L * c->context_dim;
    const struct { const char *name; vkd_buf_t b; size_t n; } args[] = {
        {"out (B, out_channels, H, W)", out, n_out},
        {"x (B, in_channels, H, W)", x, n_x},
        {"context (B, L, context_dim)", context, n_ctx},
    };
    for (int i = 0; i < 3; i++)
        if (vkd_buf_count(args[i].b) < args[i].n || !args[i].b.arena ||
            vkd_arena_backend(args[i].b.arena) != u->be)
            return vkd_fail(VKD_ERR_INVALID, "unet forward: %s needs %zu floats on the model's "
                            "backend (%s); got %zu%s", args[i].name, args[i].n,
                            vkd_backend_name(u->be), vkd_buf_count(args[i].b),
                            args[i].b.arena && vkd_arena_backend(args[i].b.arena) != u->be
                                ? " on another backend" : "");
    VKD_TRY(vkd_unet_reserve(u, B, H, W, L));
    unet_fw_t f;
    fw_init(u, &f, 0, B, L);
    f.cap = vkd_arena_capacity(u->acts);
    vkd_arena_reset(u->acts);
    VKD_TRY(vkd_arena_alloc_bytes(u->acts, f.cap, &f.base));
    f.ctx = context;
    vkd_status_t s = run(u, &f, out, x, timesteps, H, W);
    if (s != VKD_OK) return vkd_fail_ctx(s, "unet forward (B %d, %dx%d, L %d)", B, H, W, L);
    return VKD_OK;
}
