// The trainable prior network: the parameter table and flat buffers, initialisation,
// safetensors load/save, and the training step (forward on the tape, MSE loss, backward).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"
#include "prior_net_impl.h"
#include "safetensors.h"

#define FLOATS_PER_ALIGN (VKD_BUF_ALIGN / sizeof(float))

static size_t round_floats(size_t n) {
    return (n + FLOATS_PER_ALIGN - 1) / FLOATS_PER_ALIGN * FLOATS_PER_ALIGN;
}

// ---- the parameter table ---------------------------------------------------------------------
int pn_reg(vkd_prior_net_t *n, pn_init_t init, float a, int no_decay, int ndim,
           const int64_t *shape, const char *fmt, ...) {
    if (n->n_tensors == n->cap_tensors) {
        const int cap = n->cap_tensors ? 2 * n->cap_tensors : 256;
        pn_tensor_t *p = realloc(n->tensors, (size_t)cap * sizeof *p);
        if (!p) {
            vkd_fail(VKD_ERR_NOMEM, "prior net: out of host memory for %d tensors", cap);
            return -1;
        }
        n->tensors = p;
        n->cap_tensors = cap;
    }
    pn_tensor_t *t = &n->tensors[n->n_tensors];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof t->name) {
        vkd_fail(VKD_ERR_INVALID, "prior net: tensor name longer than %d bytes (prefix too long?)",
                 PN_NAME_MAX - 1);
        return -1;
    }
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        t->pub.shape[i] = shape[i];
        count *= (size_t)shape[i];
    }
    t->pub.ndim = ndim;
    t->pub.count = count;
    t->pub.offset = n->n_floats;
    t->pub.no_decay = no_decay;
    t->init = init;
    t->a = a;
    n->n_floats += round_floats(count);
    return n->n_tensors++;
}

vkd_tt_t pn_t(const vkd_prior_net_t *n, int idx) {
    if (idx < 0 || idx >= n->n_tensors) return (vkd_tt_t){0};
    return n->views[idx];
}

vkd_status_t pn_span(const vkd_prior_net_t *n, int idx, int count, vkd_tt_t *out,
                     int64_t *stride) {
    const vkd_prior_net_tensor_t *t0 = &n->tensors[idx].pub;
    const size_t step = round_floats(t0->count);
    for (int i = 1; i < count; i++) {
        const vkd_prior_net_tensor_t *ti = &n->tensors[idx + i].pub;
        if (ti->count != t0->count || ti->offset != t0->offset + i * step)
            return vkd_fail(VKD_ERR_INVALID, "prior net: tensors %s.. are not stacked (a bug)",
                            n->tensors[idx].name);
    }
    const size_t bytes = ((size_t)(count - 1) * step + t0->count) * sizeof(float);
    *stride = (int64_t)step;
    VKD_TRY(vkd_buf_slice(n->params, t0->offset * sizeof(float), bytes, &out->v));
    return vkd_buf_slice(n->grads, t0->offset * sizeof(float), bytes, &out->g);
}

// Element j of tensor i: Philox block j / 4 of stream i, word j % 4.
static void init_tensor(const pn_tensor_t *t, int i, uint64_t seed, float *dst) {
    const size_t n = t->pub.count;
    if (t->init == PN_INIT_ONE || t->init == PN_INIT_ZERO) {
        const float v = t->init == PN_INIT_ONE ? 1.0f : 0.0f;
        for (size_t j = 0; j < n; j++) dst[j] = v;
        return;
    }
    for (size_t j = 0; j < n; j += 4) {
        uint32_t w[4];
        float z[4];
        vkd_philox_block(seed, (uint64_t)i, j / 4, w);
        if (t->init == PN_INIT_UNIFORM) {
            for (int k = 0; k < 4; k++) z[k] = t->a * (2.0f * vkd_philox_uniform(w[k]) - 1.0f);
        } else {
            vkd_philox_box_muller(w[0], w[1], &z[0], &z[1]);
            vkd_philox_box_muller(w[2], w[3], &z[2], &z[3]);
            for (int k = 0; k < 4; k++) z[k] *= t->a;
        }
        for (size_t k = 0; k < 4 && j + k < n; k++) dst[j + k] = z[k];
    }
}

static vkd_status_t check_configs(const vkd_text_encoder_config_t *te,
                                  const vkd_unet_config_t *u) {
    if (te->layers < 1 || te->width < 1 || te->heads < 1 || te->width % te->heads ||
        te->vocab_size < 1 || te->context_length < 1 || te->mlp_width < 1 ||
        (te->act != VKD_ACT_QUICK_GELU && te->act != VKD_ACT_GELU))
        return vkd_fail(VKD_ERR_INVALID, "prior net: invalid text encoder config (parse it with "
                        "vkd_text_encoder_config_from_json)");
    if (u->context_dim != te->width)
        return vkd_fail(VKD_ERR_INVALID, "prior net: the UNet's context_dim (%d) must equal the "
                        "text encoder's hidden_size (%d): the context is the encoder's output "
                        "with no projection", u->context_dim, te->width);
    return VKD_OK;
}

static vkd_status_t build(vkd_prior_net_t *n, uint64_t seed) {
    VKD_TRY(check_configs(&n->tc, &n->uc));
    VKD_TRY(unet_arch_build(&n->uc, &n->arch));
    n->layers = calloc((size_t)n->tc.layers, sizeof *n->layers);
    if (!n->layers) return vkd_fail(VKD_ERR_NOMEM, "prior net: out of host memory");
    VKD_TRY(pn_text_register(n));
    VKD_TRY(pn_unet_register(n));
    const size_t P = n->n_floats, bytes = P * sizeof(float);
    VKD_TRY(vkd_arena_create(n->be, "prior-params", bytes, &n->p_arena));
    VKD_TRY(vkd_arena_create(n->be, "prior-grads", bytes, &n->g_arena));
    VKD_TRY(vkd_arena_alloc(n->p_arena, P, &n->params));
    VKD_TRY(vkd_arena_alloc(n->g_arena, P, &n->grads));
    VKD_TRY(op_fill(n->be, n->grads, 0.0f, P));
    n->views = calloc((size_t)n->n_tensors, sizeof *n->views);
    float *host = calloc(P, sizeof(float)); // (P) the gaps stay zero
    vkd_status_t s = n->views && host ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "prior net: out of "
                                                         "host memory for %zu floats", P);
    for (int i = 0; s == VKD_OK && i < n->n_tensors; i++) {
        const vkd_prior_net_tensor_t *t = &n->tensors[i].pub;
        n->tensors[i].pub.name = n->tensors[i].name;
        init_tensor(&n->tensors[i], i, seed, host + t->offset);
        s = vkd_buf_slice(n->params, t->offset * sizeof(float), t->count * sizeof(float),
                          &n->views[i].v);
        if (s == VKD_OK)
            s = vkd_buf_slice(n->grads, t->offset * sizeof(float), t->count * sizeof(float),
                              &n->views[i].g);
    }
    if (s == VKD_OK) s = vkd_buf_write(n->params, host, bytes);
    free(host);
    if (s == VKD_OK) s = vkd_tape_create(n->be, &n->tape);
    return s;
}

vkd_status_t vkd_prior_net_create(vkd_backend_t *be, const vkd_text_encoder_config_t *te,
                                  const vkd_unet_config_t *unet, uint64_t seed,
                                  vkd_prior_net_t **out) {
    if (!out) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_create: NULL output");
    *out = NULL;
    if (!be || !te || !unet)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_create: NULL backend or config");
    vkd_prior_net_t *n = calloc(1, sizeof *n);
    if (!n) return vkd_fail(VKD_ERR_NOMEM, "prior net: out of host memory");
    n->be = be;
    n->tc = *te;
    n->uc = *unet;
    n->plan_kind = -1;
    vkd_status_t s = build(n, seed);
    if (s != VKD_OK) {
        vkd_prior_net_free(n);
        return vkd_fail_ctx(s, "creating the prior network");
    }
    *out = n;
    return VKD_OK;
}

void vkd_prior_net_free(vkd_prior_net_t *n) {
    if (!n) return;
    vkd_tape_free(n->tape);
    if (n->p_arena || n->g_arena) vkd_backend_sync(n->be);
    if (n->p_arena) vkd_arena_destroy(n->p_arena);
    if (n->g_arena) vkd_arena_destroy(n->g_arena);
    free(n->views);
    free(n->tensors);
    free(n->layers);
    free(n->host);
    free(n);
}

size_t vkd_prior_net_param_count(const vkd_prior_net_t *n) { return n->n_floats; }
vkd_buf_t vkd_prior_net_params(vkd_prior_net_t *n) { return n->params; }
vkd_buf_t vkd_prior_net_grads(vkd_prior_net_t *n) { return n->grads; }
int vkd_prior_net_n_tensors(const vkd_prior_net_t *n) { return n->n_tensors; }
const vkd_prior_net_tensor_t *vkd_prior_net_tensor(const vkd_prior_net_t *n, int i) {
    return i >= 0 && i < n->n_tensors ? &n->tensors[i].pub : NULL;
}
const vkd_text_encoder_config_t *vkd_prior_net_text_config(const vkd_prior_net_t *n) {
    return &n->tc;
}
const vkd_unet_config_t *vkd_prior_net_unet_config(const vkd_prior_net_t *n) { return &n->uc; }
size_t vkd_prior_net_acts_bytes(const vkd_prior_net_t *n) { return vkd_tape_bytes(n->tape); }

// ---- files -------------------------------------------------------------------------------------
vkd_status_t vkd_prior_net_load(vkd_prior_net_t *n, const char *path) {
    if (!n || !path) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_load: NULL net or path");
    vkd_safetensors_t *st = NULL;
    VKD_TRY(vkd_st_open(path, &st));
    float *host = calloc(n->n_floats, sizeof(float)); // (P)
    vkd_status_t s = host ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "prior net load: out of memory");
    for (int i = 0; s == VKD_OK && i < n->n_tensors; i++) {
        const vkd_prior_net_tensor_t *t = &n->tensors[i].pub;
        const vkd_st_tensor_t *src;
        s = vkd_st_expect(st, t->name, t->ndim, t->shape, &src);
        if (s == VKD_OK) s = vkd_st_to_f32(src, host + t->offset, t->count);
    }
    if (s == VKD_OK) s = vkd_buf_write(n->params, host, n->n_floats * sizeof(float));
    free(host);
    vkd_st_close(st);
    if (s != VKD_OK) return vkd_fail_ctx(s, "loading prior network weights from %s", path);
    return VKD_OK;
}

vkd_status_t vkd_prior_net_save(vkd_prior_net_t *n, vkd_buf_t values, const char *path,
                                const char *const *meta_kv, int n_meta) {
    if (!n || !path || (n_meta > 0 && !meta_kv))
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_save: NULL net, path or metadata");
    if (vkd_buf_count(values) < n->n_floats)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_save: values hold %zu floats, the "
                        "parameter layout needs %zu", vkd_buf_count(values), n->n_floats);
    float *host = malloc(n->n_floats * sizeof(float)); // (P)
    if (!host) return vkd_fail(VKD_ERR_NOMEM, "prior net save: out of host memory");
    vkd_st_writer_t *w = NULL;
    vkd_status_t s = vkd_buf_read(values, host, n->n_floats * sizeof(float));
    if (s == VKD_OK) s = vkd_st_writer_create(&w);
    for (int i = 0; s == VKD_OK && i < n->n_tensors; i++) {
        const vkd_prior_net_tensor_t *t = &n->tensors[i].pub;
        s = vkd_st_writer_add(w, t->name, VKD_DT_F32, t->ndim, t->shape, host + t->offset);
    }
    for (int i = 0; s == VKD_OK && i < n_meta; i++)
        s = vkd_st_writer_meta(w, meta_kv[2 * i], meta_kv[2 * i + 1]);
    if (s == VKD_OK) s = vkd_st_write(w, path);
    vkd_st_writer_free(w);
    free(host);
    if (s != VKD_OK) return vkd_fail_ctx(s, "saving the prior network to %s", path);
    return VKD_OK;
}

// ---- forward / step ----------------------------------------------------------------------------
typedef enum { RUN_FULL = 0, RUN_UNET = 1, RUN_TEXT = 2 } run_kind_t;

typedef struct {
    run_kind_t kind;
    const float *x, *t, *ctx;
    const int32_t *ids;
    int B, H, W, L;
} run_args_t;

static vkd_status_t check_shape(const vkd_prior_net_t *n, const run_args_t *a) {
    const int m = 1 << (n->uc.n_levels - 1);
    if (a->B < 1 || a->L < 1 || a->L > n->tc.context_length)
        return vkd_fail(VKD_ERR_INVALID, "prior net: B = %d, L = %d (need B >= 1 and 1 <= L <= "
                        "%d, the text context length)", a->B, a->L, n->tc.context_length);
    if (a->kind != RUN_TEXT && (a->H < m || a->W < m || a->H % m || a->W % m))
        return vkd_fail(VKD_ERR_INVALID, "prior net: H x W = %d x %d must be positive multiples "
                        "of %d", a->H, a->W, m);
    if ((a->kind != RUN_UNET && !a->ids) || (a->kind != RUN_TEXT && (!a->x || !a->t)) ||
        (a->kind == RUN_UNET && !a->ctx))
        return vkd_fail(VKD_ERR_INVALID, "prior net: NULL input array");
    return VKD_OK;
}

static vkd_status_t input(vkd_tape_t *t, const float *src, size_t n, vkd_tt_t *out) {
    VKD_TRY(vkd_tape_new(t, n, 0, out));
    return vkd_tape_planning(t) ? VKD_OK : vkd_buf_write(out->v, src, n * sizeof(float));
}

static vkd_status_t forward_pass(vkd_prior_net_t *n, const run_args_t *a, vkd_tt_t *out) {
    vkd_tape_t *t = n->tape;
    const size_t nx = (size_t)a->B * n->uc.in_channels * a->H * a->W;
    vkd_tt_t x, ctx;
    if (a->kind == RUN_UNET) VKD_TRY(input(t, a->ctx, (size_t)a->B * a->L * n->tc.width, &ctx));
    else VKD_TRY(pn_text_forward(n, t, a->ids, a->B, a->L, &ctx));
    if (a->kind == RUN_TEXT) {
        *out = ctx;
        return VKD_OK;
    }
    VKD_TRY(input(t, a->x, nx, &x));
    return pn_unet_forward(n, t, x, a->t, ctx, a->B, a->H, a->W, a->L, out);
}

// Plan (when the shape changed), then the real forward.
static vkd_status_t run(vkd_prior_net_t *n, const run_args_t *a, vkd_tt_t *out) {
    VKD_TRY(check_shape(n, a));
    if (n->plan_kind != (int)a->kind || n->plan_B != a->B || n->plan_H != a->H ||
        n->plan_W != a->W || n->plan_L != a->L) {
        VKD_TRY(vkd_tape_begin(n->tape, 1));
        VKD_TRY(forward_pass(n, a, out));
        n->plan_kind = (int)a->kind;
        n->plan_B = a->B, n->plan_H = a->H, n->plan_W = a->W, n->plan_L = a->L;
    }
    VKD_TRY(vkd_tape_begin(n->tape, 0));
    return forward_pass(n, a, out);
}

static vkd_status_t read_out(vkd_prior_net_t *n, vkd_tt_t o, float *dst, size_t count) {
    (void)n;
    return vkd_buf_read(o.v, dst, count * sizeof(float));
}

vkd_status_t vkd_prior_net_forward(vkd_prior_net_t *n, float *pred, const float *x_t,
                                   const float *t, const int32_t *ids, int B, int H, int W,
                                   int L) {
    if (!n || !pred) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_forward: NULL argument");
    const run_args_t a = {.kind = RUN_FULL, .x = x_t, .t = t, .ids = ids, .B = B, .H = H,
                          .W = W, .L = L};
    vkd_tt_t o;
    VKD_TRY(run(n, &a, &o));
    return read_out(n, o, pred, (size_t)B * n->uc.out_channels * H * W);
}

vkd_status_t vkd_prior_net_forward_ctx(vkd_prior_net_t *n, float *pred, const float *x_t,
                                       const float *t, const float *ctx, int B, int H, int W,
                                       int L) {
    if (!n || !pred) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_forward_ctx: NULL argument");
    const run_args_t a = {.kind = RUN_UNET, .x = x_t, .t = t, .ctx = ctx, .B = B, .H = H,
                          .W = W, .L = L};
    vkd_tt_t o;
    VKD_TRY(run(n, &a, &o));
    return read_out(n, o, pred, (size_t)B * n->uc.out_channels * H * W);
}

vkd_status_t vkd_prior_net_encode(vkd_prior_net_t *n, float *ctx, const int32_t *ids, int B,
                                  int L) {
    if (!n || !ctx) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_encode: NULL argument");
    const run_args_t a = {.kind = RUN_TEXT, .ids = ids, .B = B, .L = L};
    vkd_tt_t o;
    VKD_TRY(run(n, &a, &o));
    return read_out(n, o, ctx, (size_t)B * L * n->tc.width);
}

vkd_status_t vkd_prior_net_step(vkd_prior_net_t *n, const float *x_t, const float *t,
                                const int32_t *ids, const float *target, const float *weight,
                                int B, int H, int W, int L, double *loss, float *per_sample) {
    if (!n || !target || !loss)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_net_step: NULL net, target or loss");
    const run_args_t a = {.kind = RUN_FULL, .x = x_t, .t = t, .ids = ids, .B = B, .H = H,
                          .W = W, .L = L};
    vkd_tt_t o;
    VKD_TRY(run(n, &a, &o));
    const size_t per = (size_t)n->uc.out_channels * H * W, total = per * (size_t)B;
    if (n->host_n < total) {
        free(n->host);
        n->host = malloc(total * sizeof(float));
        n->host_n = n->host ? total : 0;
        if (!n->host) return vkd_fail(VKD_ERR_NOMEM, "prior net step: out of host memory");
    }
    float *p = n->host; // (B, C, H, W) the prediction, then dloss/dpred
    VKD_TRY(read_out(n, o, p, total));
    double sum = 0.0;
    for (int b = 0; b < B; b++) {
        const float wb = weight ? weight[b] : 1.0f;
        const float k = (float)(2.0 * wb / ((double)per * B));
        double se = 0.0;
        for (size_t i = (size_t)b * per; i < (size_t)(b + 1) * per; i++) {
            const float d = p[i] - target[i];
            se += (double)d * d;
            p[i] = k * d;
        }
        const double mse = se / (double)per;
        if (per_sample) per_sample[b] = (float)mse;
        sum += wb * mse;
    }
    *loss = sum / B;
    VKD_TRY(vkd_buf_write(o.g, p, total * sizeof(float)));
    vkd_status_t s = vkd_tape_backward(n->tape);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior net step backward");
    return VKD_OK;
}
