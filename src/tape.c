// The reverse-mode tape: records of (op, descriptor, tensors) and their backward replay.
#include "tape.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
    R_GEMM, R_CONV, R_GN, R_LN, R_UNARY, R_BINARY, R_SCALE, R_ATTN, R_EMBED, R_COPY
} rec_kind_t;

typedef struct {
    rec_kind_t kind;
    union {
        vkd_gemm_t gemm;
        vkd_conv2d_t conv;
        vkd_groupnorm_t gn;
        struct { int N, D; } ln;
        struct { size_t n; vkd_act_t act; } un;
        vkd_binary_t bin;
        struct { size_t n; float alpha; } sc;
        vkd_attention_t at;
        struct { const int32_t *ids; int N, V, D; } emb;
        vkd_copy_strided_t cp;
    } d;
    vkd_tt_t out, in[3];
    vkd_buf_t mean, rstd; // norms' saved statistics (values region)
} rec_t;

// One region: an arena holding one whole-capacity view, bump-allocated by the tape.
typedef struct {
    vkd_arena_t *arena;
    vkd_buf_t all;
    size_t used, need; // bytes: this pass, the largest plan
    const char *name;
} region_t;

struct vkd_tape {
    vkd_backend_t *be;
    int plan;
    region_t val, grad;
    rec_t *rec;
    int n_rec, cap_rec;
};

vkd_status_t vkd_tape_create(vkd_backend_t *be, vkd_tape_t **out) {
    *out = NULL;
    if (!be) return vkd_fail(VKD_ERR_INVALID, "vkd_tape_create: backend is NULL");
    vkd_tape_t *t = calloc(1, sizeof *t);
    if (!t) return vkd_fail(VKD_ERR_NOMEM, "tape: out of host memory");
    t->be = be;
    t->plan = 1;
    t->val.name = "tape-values";
    t->grad.name = "tape-grads";
    *out = t;
    return VKD_OK;
}

void vkd_tape_free(vkd_tape_t *t) {
    if (!t) return;
    if (t->val.arena || t->grad.arena) vkd_backend_sync(t->be); // recorded work may use them
    if (t->val.arena) vkd_arena_destroy(t->val.arena);
    if (t->grad.arena) vkd_arena_destroy(t->grad.arena);
    free(t->rec);
    free(t);
}

vkd_backend_t *vkd_tape_backend(const vkd_tape_t *t) { return t->be; }
int vkd_tape_planning(const vkd_tape_t *t) { return t->plan; }
size_t vkd_tape_bytes(const vkd_tape_t *t) { return t->val.need + t->grad.need; }

static vkd_status_t region_ready(vkd_tape_t *t, region_t *r) {
    r->used = 0;
    if (r->arena && vkd_arena_capacity(r->arena) >= r->need && vkd_buf_present(r->all))
        return VKD_OK;
    if (r->arena) {
        VKD_TRY(vkd_backend_sync(t->be));
        vkd_arena_destroy(r->arena);
        r->arena = NULL;
        r->all = VKD_BUF_NONE;
    }
    const size_t bytes = r->need ? r->need : VKD_BUF_ALIGN;
    vkd_status_t s = vkd_arena_create(t->be, r->name, bytes, &r->arena);
    if (s != VKD_OK)
        return vkd_fail_ctx(s, "tape: %.1f MiB of %s (reduce the batch size)",
                            (double)bytes / (1 << 20), r->name);
    return vkd_arena_alloc_bytes(r->arena, bytes, &r->all);
}

vkd_status_t vkd_tape_begin(vkd_tape_t *t, int plan) {
    t->n_rec = 0;
    t->plan = plan;
    if (plan) {
        t->val.used = t->grad.used = 0;
        return VKD_OK;
    }
    VKD_TRY(region_ready(t, &t->val));
    VKD_TRY(region_ready(t, &t->grad));
    // Activation gradients accumulate from zero; the forward's output gradient is written
    // by the caller after the forward, so this is the one place to clear them.
    return op_fill(t->be, t->grad.all, 0.0f, t->grad.need / sizeof(float));
}

static size_t round_up(size_t bytes) {
    return (bytes + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

static vkd_status_t region_alloc(vkd_tape_t *t, region_t *r, size_t n, vkd_buf_t *out) {
    const size_t bytes = n * sizeof(float), off = r->used;
    r->used += round_up(bytes ? bytes : 1);
    if (t->plan) {
        if (r->used > r->need) r->need = r->used;
        *out = (vkd_buf_t){.bytes = bytes};
        return VKD_OK;
    }
    if (r->used > r->need)
        return vkd_fail(VKD_ERR_INVALID, "tape: the forward allocated more %s (%zu bytes) than "
                        "its plan (%zu); plan and real pass must make the same calls",
                        r->name, r->used, r->need);
    return vkd_buf_slice(r->all, off, bytes, out);
}

vkd_status_t vkd_tape_new(vkd_tape_t *t, size_t n, int need_grad, vkd_tt_t *out) {
    *out = (vkd_tt_t){0};
    VKD_TRY(region_alloc(t, &t->val, n, &out->v));
    if (need_grad) VKD_TRY(region_alloc(t, &t->grad, n, &out->g));
    return VKD_OK;
}

static vkd_status_t push(vkd_tape_t *t, const rec_t *r) {
    if (t->n_rec == t->cap_rec) {
        const int cap = t->cap_rec ? 2 * t->cap_rec : 256;
        rec_t *p = realloc(t->rec, (size_t)cap * sizeof *p);
        if (!p) return vkd_fail(VKD_ERR_NOMEM, "tape: out of host memory for %d records", cap);
        t->rec = p;
        t->cap_rec = cap;
    }
    t->rec[t->n_rec++] = *r;
    return VKD_OK;
}

static int has_grad(vkd_tt_t x) { return vkd_buf_present(x.g); }

// A sub-view of a buffer, or a size-only view during planning (no memory behind it).
static vkd_status_t subview(vkd_buf_t b, size_t off, size_t bytes, vkd_buf_t *out) {
    if (!vkd_buf_present(b)) {
        *out = VKD_BUF_NONE;
        return VKD_OK;
    }
    if (!b.arena) {
        *out = (vkd_buf_t){.bytes = bytes};
        return VKD_OK;
    }
    return vkd_buf_slice(b, off, bytes, out);
}

vkd_status_t vkd_tape_slice(vkd_tape_t *t, vkd_tt_t x, size_t off, size_t n, vkd_tt_t *out) {
    const size_t ob = off * sizeof(float), nb = n * sizeof(float);
    if (ob + nb > x.v.bytes)
        return vkd_fail(VKD_ERR_INVALID, "tape slice [%zu, %zu) outside a tensor of %zu floats",
                        off, off + n, vkd_buf_count(x.v));
    if (ob % VKD_BUF_ALIGN == 0) {
        VKD_TRY(subview(x.v, ob, nb, &out->v));
        return subview(x.g, ob, nb, &out->g);
    }
    VKD_TRY(vkd_tape_new(t, n, has_grad(x), out));
    const vkd_copy_strided_t d = {.n = {(int64_t)n, 1, 1, 1}, .out_stride = {1, 0, 0, 0},
                                  .inp_off = (int64_t)off, .inp_stride = {1, 0, 0, 0}};
    return vkd_tape_copy(t, *out, x, &d);
}

vkd_status_t vkd_tape_copy(vkd_tape_t *t, vkd_tt_t dst, vkd_tt_t src,
                           const vkd_copy_strided_t *d) {
    if (d->accumulate)
        return vkd_fail(VKD_ERR_INVALID, "vkd_tape_copy: accumulate must be 0 (the tape writes "
                        "each position once)");
    // The backward adds back at the source positions, which op_copy_strided can only do
    // when they are distinct: a broadcast (stride 0) source would be a reduction.
    for (int k = 0; k < 4; k++)
        if (d->n[k] > 1 && d->inp_stride[k] == 0 && has_grad(src))
            return vkd_fail(VKD_ERR_INVALID, "vkd_tape_copy: source axis %d has stride 0 (a "
                            "broadcast); split the copy so each source element is read once", k);
    if (!t->plan) VKD_TRY(op_copy_strided(t->be, dst.v, src.v, d));
    if (!has_grad(src) || !has_grad(dst)) return VKD_OK;
    rec_t r = {.kind = R_COPY, .out = dst, .in = {src}};
    r.d.cp = *d;
    return push(t, &r);
}

vkd_status_t vkd_tape_gemm(vkd_tape_t *t, vkd_tt_t *c, vkd_tt_t a, vkd_tt_t b, vkd_tt_t bias,
                           const vkd_gemm_t *g) {
    if (g->beta != 0.0f)
        return vkd_fail(VKD_ERR_INVALID, "vkd_tape_gemm: beta must be 0 (outputs are fresh)");
    const int64_t per = (int64_t)g->M * g->N;
    const size_t n = (size_t)(g->batch > 1 && g->stride_c ? (g->batch - 1) * g->stride_c + per : per);
    VKD_TRY(vkd_tape_new(t, n, has_grad(a) || has_grad(b) || has_grad(bias), c));
    if (!t->plan) VKD_TRY(op_gemm_forward(t->be, c->v, a.v, b.v, bias.v, g));
    if (!has_grad(*c)) return VKD_OK;
    rec_t r = {.kind = R_GEMM, .out = *c, .in = {a, b, bias}};
    r.d.gemm = *g;
    return push(t, &r);
}

vkd_status_t vkd_tape_linear(vkd_tape_t *t, vkd_tt_t *y, vkd_tt_t x, vkd_tt_t w, vkd_tt_t b,
                             int rows, int N, int K) {
    const vkd_gemm_t g = {.M = rows, .N = N, .K = K, .trans_b = 1, .alpha = 1.0f, .batch = 1};
    return vkd_tape_gemm(t, y, x, w, b, &g);
}

vkd_status_t vkd_tape_conv2d(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w, vkd_tt_t b,
                             const vkd_conv2d_t *c) {
    const size_t n = (size_t)c->B * c->Cout * vkd_conv2d_out_h(c) * vkd_conv2d_out_w(c);
    VKD_TRY(vkd_tape_new(t, n, has_grad(x) || has_grad(w) || has_grad(b), out));
    if (!t->plan) VKD_TRY(op_conv2d_forward(t->be, out->v, x.v, w.v, b.v, c));
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_CONV, .out = *out, .in = {x, w, b}};
    r.d.conv = *c;
    return push(t, &r);
}

// Norm statistics live in the values region: they are needed by the backward.
vkd_status_t vkd_tape_groupnorm(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w,
                                vkd_tt_t b, const vkd_groupnorm_t *d) {
    rec_t r = {.kind = R_GN, .in = {x, w, b}};
    VKD_TRY(region_alloc(t, &t->val, (size_t)d->B * d->G, &r.mean)); // (B, G)
    VKD_TRY(region_alloc(t, &t->val, (size_t)d->B * d->G, &r.rstd)); // (B, G)
    VKD_TRY(vkd_tape_new(t, (size_t)d->B * d->C * d->HW,
                         has_grad(x) || has_grad(w) || has_grad(b), out));
    if (!t->plan) VKD_TRY(op_groupnorm_forward(t->be, out->v, r.mean, r.rstd, x.v, w.v, b.v, d));
    if (!has_grad(*out)) return VKD_OK;
    r.out = *out;
    r.d.gn = *d;
    return push(t, &r);
}

vkd_status_t vkd_tape_layernorm(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w,
                                vkd_tt_t b, int N, int D, float eps) {
    rec_t r = {.kind = R_LN, .in = {x, w, b}};
    VKD_TRY(region_alloc(t, &t->val, (size_t)N, &r.mean)); // (N)
    VKD_TRY(region_alloc(t, &t->val, (size_t)N, &r.rstd)); // (N)
    VKD_TRY(vkd_tape_new(t, (size_t)N * D, has_grad(x) || has_grad(w) || has_grad(b), out));
    if (!t->plan)
        VKD_TRY(op_layernorm_forward(t->be, out->v, r.mean, r.rstd, x.v, w.v, b.v, N, D, eps));
    if (!has_grad(*out)) return VKD_OK;
    r.out = *out;
    r.d.ln.N = N, r.d.ln.D = D;
    return push(t, &r);
}

vkd_status_t vkd_tape_unary(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, size_t n, vkd_act_t act) {
    VKD_TRY(vkd_tape_new(t, n, has_grad(x), out));
    if (!t->plan) VKD_TRY(op_unary_forward(t->be, out->v, x.v, n, act));
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_UNARY, .out = *out, .in = {x}};
    r.d.un.n = n, r.d.un.act = act;
    return push(t, &r);
}

vkd_status_t vkd_tape_binary(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t a, vkd_tt_t b,
                             const vkd_binary_t *d) {
    VKD_TRY(vkd_tape_new(t, d->n, has_grad(a) || has_grad(b), out));
    if (!t->plan) VKD_TRY(op_binary_forward(t->be, out->v, a.v, b.v, d));
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_BINARY, .out = *out, .in = {a, b}};
    r.d.bin = *d;
    return push(t, &r);
}

vkd_status_t vkd_tape_scale(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, size_t n, float alpha,
                            float beta) {
    VKD_TRY(vkd_tape_new(t, n, has_grad(x), out));
    if (!t->plan) VKD_TRY(op_scale_forward(t->be, out->v, x.v, n, alpha, beta));
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_SCALE, .out = *out, .in = {x}};
    r.d.sc.n = n, r.d.sc.alpha = alpha;
    return push(t, &r);
}

vkd_status_t vkd_tape_attention(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t q, vkd_tt_t k,
                                vkd_tt_t v, const vkd_attention_t *a, size_t n_out) {
    VKD_TRY(vkd_tape_new(t, n_out, has_grad(q) || has_grad(k) || has_grad(v), out));
    if (!t->plan) VKD_TRY(op_attention_forward(t->be, out->v, q.v, k.v, v.v, a));
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_ATTN, .out = *out, .in = {q, k, v}};
    r.d.at = *a;
    return push(t, &r);
}

vkd_status_t vkd_tape_embedding(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t table,
                                const int32_t *ids, int N, int V, int D) {
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return vkd_fail(VKD_ERR_INVALID, "tape embedding: id %d at %d outside [0, %d)",
                            (int)ids[i], i, V);
    VKD_TRY(vkd_tape_new(t, (size_t)N * D, has_grad(table), out));
    // One copy per run of equal ids (padding is one run).
    for (int f0 = 0; !t->plan && f0 < N;) {
        int f1 = f0 + 1;
        while (f1 < N && ids[f1] == ids[f0]) f1++;
        const vkd_copy_strided_t d = {.n = {f1 - f0, D, 1, 1}, .out_off = (int64_t)f0 * D,
                                      .out_stride = {D, 1, 0, 0},
                                      .inp_off = (int64_t)ids[f0] * D,
                                      .inp_stride = {0, 1, 0, 0}};
        VKD_TRY(op_copy_strided(t->be, out->v, table.v, &d));
        f0 = f1;
    }
    if (!has_grad(*out)) return VKD_OK;
    rec_t r = {.kind = R_EMBED, .out = *out, .in = {table}};
    r.d.emb.ids = ids, r.d.emb.N = N, r.d.emb.V = V, r.d.emb.D = D;
    return push(t, &r);
}

// The inverse of a copy: dsrc (at src positions) += ddst (at dst positions).
static vkd_status_t copy_backward(vkd_backend_t *be, const rec_t *r) {
    vkd_copy_strided_t b = r->d.cp;
    b.out_off = r->d.cp.inp_off, b.inp_off = r->d.cp.out_off;
    memcpy(b.out_stride, r->d.cp.inp_stride, sizeof b.out_stride);
    memcpy(b.inp_stride, r->d.cp.out_stride, sizeof b.inp_stride);
    b.accumulate = 1;
    return op_copy_strided(be, r->in[0].g, r->out.g, &b);
}

static vkd_status_t rec_backward(vkd_backend_t *be, const rec_t *r) {
    const vkd_tt_t *in = r->in;
    switch (r->kind) {
    case R_GEMM:
        return op_gemm_backward(be, in[0].g, in[1].g, in[2].g, r->out.g, in[0].v, in[1].v,
                                &r->d.gemm);
    case R_CONV:
        return op_conv2d_backward(be, in[0].g, in[1].g, in[2].g, r->out.g, in[0].v, in[1].v,
                                  &r->d.conv);
    case R_GN:
        if (!has_grad(in[0]))
            return vkd_fail(VKD_ERR_UNSUPPORTED, "tape: GroupNorm of a constant input");
        return op_groupnorm_backward(be, in[0].g, in[1].g, in[2].g, r->out.g, in[0].v, in[1].v,
                                     r->mean, r->rstd, &r->d.gn);
    case R_LN:
        if (!has_grad(in[0]))
            return vkd_fail(VKD_ERR_UNSUPPORTED, "tape: LayerNorm of a constant input");
        return op_layernorm_backward(be, in[0].g, in[1].g, in[2].g, r->out.g, in[0].v, in[1].v,
                                     r->mean, r->rstd, r->d.ln.N, r->d.ln.D);
    case R_UNARY:
        return op_unary_backward(be, in[0].g, r->out.g, in[0].v, r->d.un.n, r->d.un.act);
    case R_BINARY:
        return op_binary_backward(be, in[0].g, in[1].g, r->out.g, in[0].v, in[1].v, &r->d.bin);
    case R_SCALE:
        return op_scale_backward(be, in[0].g, r->out.g, r->d.sc.n, r->d.sc.alpha);
    case R_ATTN:
        return op_attention_backward(be, in[0].g, in[1].g, in[2].g, r->out.g, in[0].v, in[1].v,
                                     in[2].v, &r->d.at);
    case R_EMBED:
        return op_embedding_backward(be, in[0].g, r->out.g, r->d.emb.ids, r->d.emb.N,
                                     r->d.emb.V, r->d.emb.D);
    case R_COPY:
        return copy_backward(be, r);
    }
    return vkd_fail(VKD_ERR_INVALID, "tape: corrupt record kind %d", (int)r->kind);
}

static const char *const kind_names[] = {"gemm", "conv2d", "groupnorm", "layernorm", "unary",
                                         "binary", "scale", "attention", "embedding", "copy"};

vkd_status_t vkd_tape_backward(vkd_tape_t *t) {
    if (t->plan) return vkd_fail(VKD_ERR_INVALID, "vkd_tape_backward: called on a planning pass");
    for (int i = t->n_rec - 1; i >= 0; i--) {
        vkd_status_t s = rec_backward(t->be, &t->rec[i]);
        if (s != VKD_OK)
            return vkd_fail_ctx(s, "tape backward of record %d (%s)", i, kind_names[t->rec[i].kind]);
    }
    return VKD_OK;
}
