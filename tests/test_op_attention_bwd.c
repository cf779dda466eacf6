// attention backward: CPU against a naive double reference of dq, dk, dv (accumulated
// onto non-zero gradients, every NONE combination), finite differences of the CPU
// forward, argument checks, and CPU against Vulkan once a Vulkan body exists.
// Layouts: contiguous (B, H, L, D), strided (B, L, H, D), and packed (B, L, 3, H, D) qkv
// with dq, dk, dv disjoint views of one gradient buffer.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct {
    const char *name;
    int B, H, Lq, Lk, D, Dv, causal;
    int layout; // 0 (B, H, L, D); 1 (B, L, H, D); 2 packed (B, L, 3, H, D): Lq == Lk, D == Dv
} acase_t;

// One host block holds q, k, v (at element offsets 0, offk, offv): separate tensors one
// after another, or interleaved when packed. Gradients use the same block layout.
typedef struct {
    vkd_attention_t a;
    size_t nq, nk, nv, no; // elements spanned by q, k, v, out
    size_t offk, offv, nall;
    int packed;
} alayout_t;

static size_t extent(int B, int H, int L, int W, int64_t sb, int64_t sh, int64_t sl) {
    return (size_t)((B - 1) * sb + (H - 1) * sh + (L - 1) * sl + W);
}

static alayout_t make_layout(const acase_t *c) {
    alayout_t L = {0};
    vkd_attention_t *a = &L.a;
    a->B = c->B, a->H = c->H, a->Lq = c->Lq, a->Lk = c->Lk, a->D = c->D, a->Dv = c->Dv;
    a->scale = 1.0f / sqrtf((float)c->D), a->causal = c->causal;
    const int64_t H = c->H;
    if (c->layout == 0) {
        a->sq_b = H * c->Lq * c->D, a->sq_h = (int64_t)c->Lq * c->D, a->sq_l = c->D;
        a->sk_b = H * c->Lk * c->D, a->sk_h = (int64_t)c->Lk * c->D, a->sk_l = c->D;
        a->sv_b = H * c->Lk * c->Dv, a->sv_h = (int64_t)c->Lk * c->Dv, a->sv_l = c->Dv;
    } else if (c->layout == 1) {
        a->sq_b = H * c->Lq * c->D, a->sq_h = c->D, a->sq_l = H * c->D;
        a->sk_b = H * c->Lk * c->D, a->sk_h = c->D, a->sk_l = H * c->D;
        a->sv_b = H * c->Lk * c->Dv, a->sv_h = c->Dv, a->sv_l = H * c->Dv;
    } else {
        const int64_t row = 3 * H * c->D;
        a->sq_b = a->sk_b = a->sv_b = row * c->Lq;
        a->sq_h = a->sk_h = a->sv_h = c->D;
        a->sq_l = a->sk_l = a->sv_l = row;
        L.packed = 1;
    }
    if (c->layout == 0)
        a->so_b = H * c->Lq * c->Dv, a->so_h = (int64_t)c->Lq * c->Dv, a->so_l = c->Dv;
    else
        a->so_b = H * c->Lq * c->Dv, a->so_h = c->Dv, a->so_l = H * c->Dv;
    L.nq = extent(c->B, c->H, c->Lq, c->D, a->sq_b, a->sq_h, a->sq_l);
    L.nk = extent(c->B, c->H, c->Lk, c->D, a->sk_b, a->sk_h, a->sk_l);
    L.nv = extent(c->B, c->H, c->Lk, c->Dv, a->sv_b, a->sv_h, a->sv_l);
    L.no = extent(c->B, c->H, c->Lq, c->Dv, a->so_b, a->so_h, a->so_l);
    if (L.packed) {
        L.offk = (size_t)H * c->D, L.offv = 2 * (size_t)H * c->D;
        L.nall = (size_t)c->B * c->Lq * 3 * H * c->D;
    } else {
        L.offk = L.nq, L.offv = L.nq + L.nk, L.nall = L.nq + L.nk + L.nv;
    }
    return L;
}

// The definition, in double, per (b, h, query i): p = softmax over unmasked keys of
// scale q_i . k_j; dv_j += p_j dout_i; dp_j = dout_i . v_j; ds_j = p_j (dp_j - p . dp);
// dq_i += scale sum_j ds_j k_j; dk_j += scale ds_j q_i. acc (nall) is added to.
static void ref_bwd(const alayout_t *L, const float *in, const float *dy, int mask, double *acc) {
    const vkd_attention_t *a = &L->a;
    const float *Q = in, *K = in + L->offk, *V = in + L->offv;
    double *p = malloc(sizeof(double) * (size_t)a->Lk), *ds = malloc(sizeof(double) * (size_t)a->Lk);
    if (!p || !ds) abort();
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Lq; i++) {
                const size_t qi = b * a->sq_b + h * a->sq_h + i * a->sq_l;
                const size_t oi = b * a->so_b + h * a->so_h + i * a->so_l;
                const int n = a->causal ? i + 1 : a->Lk;
                double mx = -1e300, sum = 0, dot = 0;
                for (int j = 0; j < n; j++) {
                    const size_t kj = b * a->sk_b + h * a->sk_h + j * a->sk_l;
                    double s = 0;
                    for (int e = 0; e < a->D; e++) s += (double)Q[qi + e] * K[kj + e];
                    p[j] = a->scale * s;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < n; j++) sum += p[j] = exp(p[j] - mx);
                for (int j = 0; j < n; j++) {
                    p[j] /= sum;
                    const size_t vj = b * a->sv_b + h * a->sv_h + j * a->sv_l;
                    double dp = 0;
                    for (int e = 0; e < a->Dv; e++) dp += (double)dy[oi + e] * V[vj + e];
                    ds[j] = dp;
                    dot += p[j] * dp;
                    if (mask & 4)
                        for (int e = 0; e < a->Dv; e++) acc[L->offv + vj + e] += p[j] * dy[oi + e];
                }
                for (int j = 0; j < n; j++) {
                    const double g = a->scale * p[j] * (ds[j] - dot);
                    const size_t kj = b * a->sk_b + h * a->sk_h + j * a->sk_l;
                    for (int e = 0; e < a->D; e++) {
                        if (mask & 1) acc[qi + e] += g * K[kj + e];
                        if (mask & 2) acc[L->offk + kj + e] += g * Q[qi + e];
                    }
                }
            }
    free(p), free(ds);
}

typedef struct {
    vkd_buf_t all, q, k, v; // all: the packed block (NONE when separate)
} views_t;

// Buffers for a block laid out as L says; `mask` bit 0/1/2 selects q/k/v (absent: NONE).
static views_t make_views(tctx_t *T, vkd_arena_t *ar, const alayout_t *L, const float *src,
                          int mask) {
    views_t v = {VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE};
    if (L->packed) {
        v.all = test_buf(T, ar, src, L->nall);
        if (!vkd_buf_present(v.all)) return v;
        if (mask & 1) vkd_buf_slice(v.all, 0, L->nq * sizeof(float), &v.q);
        if (mask & 2) vkd_buf_slice(v.all, L->offk * sizeof(float), L->nk * sizeof(float), &v.k);
        if (mask & 4) vkd_buf_slice(v.all, L->offv * sizeof(float), L->nv * sizeof(float), &v.v);
    } else {
        if (mask & 1) v.q = test_buf(T, ar, src, L->nq);
        if (mask & 2) v.k = test_buf(T, ar, src + L->offk, L->nk);
        if (mask & 4) v.v = test_buf(T, ar, src + L->offv, L->nv);
    }
    return v;
}

// Runs op_attention_backward from the gradients g0 (nall); returns the gradient block
// (nall, malloc'd; entries of absent gradients are g0's) or NULL.
static float *run_bwd(tctx_t *T, vkd_arena_t *ar, const alayout_t *L, const float *in,
                      const float *dy, const float *g0, int mask) {
    views_t x = make_views(T, ar, L, in, 7), g = make_views(T, ar, L, g0, mask);
    vkd_buf_t dout = test_buf(T, ar, dy, L->no);
    if (!vkd_buf_present(dout)) return NULL;
    vkd_status_t st = op_attention_backward(vkd_arena_backend(ar), g.q, g.k, g.v, dout, x.q,
                                            x.k, x.v, &L->a);
    if (st != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "op_attention_backward: %s", vkd_last_error());
        return NULL;
    }
    float *out = test_alloc(L->nall);
    memcpy(out, g0, L->nall * sizeof(float));
    if (L->packed) {
        float *r = test_read(T, g.all, L->nall);
        if (r) memcpy(out, r, L->nall * sizeof(float));
        free(r);
    } else {
        const vkd_buf_t bufs[3] = {g.q, g.k, g.v};
        const size_t off[3] = {0, L->offk, L->offv}, n[3] = {L->nq, L->nk, L->nv};
        for (int t = 0; t < 3; t++) {
            if (!(mask >> t & 1)) continue;
            float *r = test_read(T, bufs[t], n[t]);
            if (r) memcpy(out + off[t], r, n[t] * sizeof(float));
            free(r);
        }
    }
    return out;
}

typedef struct {
    float *in, *dy, *g0; // (nall), (no), (nall)
} adata_t;

static adata_t make_data(tctx_t *T, const alayout_t *L) {
    adata_t d = {test_alloc(L->nall), test_alloc(L->no), test_alloc(L->nall)};
    test_fill_uniform(&T->seed, d.in, L->nall, -1, 1);
    test_fill_uniform(&T->seed, d.dy, L->no, -1, 1);
    test_fill_uniform(&T->seed, d.g0, L->nall, -1, 1);
    return d;
}

static void free_data(adata_t *d) { free(d->in), free(d->dy), free(d->g0); }

static void compare_grads(tctx_t *T, const char *what, const acase_t *c, const alayout_t *L,
                          const float *got, const float *ref, double tol) {
    static const char *gname[3] = {"dq", "dk", "dv"};
    const size_t off[3] = {0, L->offk, L->offv}, n[3] = {L->nq, L->nk, L->nv};
    for (int t = 0; t < 3; t++) {
        char name[160];
        snprintf(name, sizeof name, "%s %s %s", what, c->name, gname[t]);
        test_compare(T, name, got + off[t], ref + off[t], n[t], tol);
    }
}

static const acase_t shapes[] = {
    // name             B  H  Lq   Lk  D   Dv  causal layout
    {"self BHLD",       2, 3, 37,  37, 16, 16, 0, 0},
    {"cross BHLD",      2, 2, 37,  9,  16, 24, 0, 0},
    {"causal BHLD",     2, 2, 37,  37, 8,  8,  1, 0},
    {"self BLHD",       2, 3, 21,  21, 8,  8,  0, 1},
    {"cross BLHD",      1, 4, 19,  5,  12, 20, 0, 1},
    {"causal BLHD",     2, 2, 17,  17, 8,  8,  1, 1},
    {"Lq 1",            2, 2, 1,   13, 8,  8,  0, 1},
    {"Lk 1",            1, 2, 11,  1,  8,  6,  0, 0},
    {"all 1",           1, 1, 1,   1,  1,  1,  0, 0},
    {"packed qkv",      2, 2, 23,  23, 32, 32, 0, 2},
    {"packed causal",   1, 2, 23,  23, 32, 32, 1, 2},
    {"one head 300",    1, 1, 300, 300, 24, 24, 1, 0}, // 3 query blocks, serial item loop
    {"blocks 260x77",   2, 2, 260, 77, 40, 40, 0, 1},  // query blocks, parallel items
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void check_ref(tctx_t *T, const acase_t *c, int mask) {
    alayout_t L = make_layout(c);
    adata_t d = make_data(T, &L);
    double *acc = calloc(L.nall, sizeof(double));
    float *ref = test_alloc(L.nall);
    if (!acc) abort();
    ref_bwd(&L, d.in, d.dy, mask, acc);
    for (size_t i = 0; i < L.nall; i++) ref[i] = (float)(d.g0[i] + acc[i]);
    float *got = run_bwd(T, T->cpu_arena, &L, d.in, d.dy, d.g0, mask);
    char what[32];
    snprintf(what, sizeof what, "cpu mask %d", mask);
    if (got) compare_grads(T, what, c, &L, got, ref, 1e-5);
    free(got), free(ref), free(acc), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static void cpu_attention_bwd_reference(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_ref(T, &shapes[s], 7);
}

// Every subset of gradients (0: none at all, a no-op), separate and packed.
static void cpu_attention_bwd_none(tctx_t *T) {
    for (int mask = 0; mask < 7; mask++) {
        check_ref(T, &shapes[1], mask);
        check_ref(T, &shapes[9], mask);
    }
}

// ---- finite differences of the forward ------------------------------------------------
typedef struct {
    vkd_backend_t *be;
    const vkd_attention_t *a;
    vkd_buf_t out, q, k, v;
    const float *R; // dL/dout: the loss is sum(out * R) over out's elements
    size_t no;
} fd_ctx_t;

static double att_loss(void *p) {
    fd_ctx_t *f = p;
    if (op_attention_forward(f->be, f->out, f->q, f->k, f->v, f->a) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < f->no; i++) l += (double)f->out.host[i] * f->R[i];
    return l;
}

static void check_fd(tctx_t *T, const acase_t *c) {
    alayout_t L = make_layout(c);
    adata_t d = make_data(T, &L);
    memset(d.g0, 0, L.nall * sizeof(float)); // so the result is the gradient itself
    vkd_arena_t *ar = T->cpu_arena;
    views_t x = make_views(T, ar, &L, d.in, 7), g = make_views(T, ar, &L, d.g0, 7);
    fd_ctx_t f = {.be = T->cpu, .a = &L.a, .q = x.q, .k = x.k, .v = x.v, .R = d.dy, .no = L.no};
    f.out = test_buf(T, ar, NULL, L.no);
    vkd_buf_t dout = test_buf(T, ar, d.dy, L.no);
    if (!vkd_buf_present(dout)) goto done;
    CHECK(T, !isnan(att_loss(&f)), "forward: %s", vkd_last_error());
    vkd_status_t st = op_attention_backward(T->cpu, g.q, g.k, g.v, dout, x.q, x.k, x.v, &L.a);
    CHECK(T, st == VKD_OK, "op_attention_backward: %s", vkd_last_error());
    if (st != VKD_OK) goto done;
    // eps 1e-2 on unit-scale inputs: truncation is ~eps^2/6 of the third derivative
    // (~1e-5 of the gradient scale). The float forward's rounding (~1e-7 of each output,
    // summed over the outputs) divided by 2 eps leaves ~1e-5 absolute noise, up to 3% of
    // the harness's floor (1e-3 of the largest gradient) on the smallest entries: hence
    // tol 5e-2. A wrong term in a gradient gives errors of order 1; the tight check of
    // every entry is the double reference above (1e-5).
    char name[128];
    if (L.packed) {
        snprintf(name, sizeof name, "%s d/dqkv", c->name);
        test_fd_check(T, name, att_loss, &f, x.all.host, g.all.host, L.nall, 64, 1e-2f, 5e-2);
    } else {
        snprintf(name, sizeof name, "%s d/dq", c->name);
        test_fd_check(T, name, att_loss, &f, x.q.host, g.q.host, L.nq, 48, 1e-2f, 5e-2);
        snprintf(name, sizeof name, "%s d/dk", c->name);
        test_fd_check(T, name, att_loss, &f, x.k.host, g.k.host, L.nk, 48, 1e-2f, 5e-2);
        snprintf(name, sizeof name, "%s d/dv", c->name);
        test_fd_check(T, name, att_loss, &f, x.v.host, g.v.host, L.nv, 48, 1e-2f, 5e-2);
    }
done:
    free_data(&d);
    vkd_arena_reset(ar);
}

static void cpu_attention_bwd_fd(tctx_t *T) {
    static const acase_t fd[] = {
        {"self BHLD", 2, 2, 7, 7, 8, 8, 0, 0},
        {"cross BHLD", 1, 2, 6, 4, 8, 5, 0, 0},
        {"causal BHLD", 1, 2, 7, 7, 8, 8, 1, 0},
        {"strided BLHD", 2, 3, 5, 6, 4, 6, 0, 1},
        {"causal BLHD", 1, 2, 6, 6, 4, 4, 1, 1},
        {"packed qkv", 1, 2, 5, 5, 32, 32, 0, 2},
    };
    for (size_t s = 0; s < sizeof fd / sizeof fd[0]; s++) check_fd(T, &fd[s]);
}

// ---- argument checks ------------------------------------------------------------------
static void cpu_attention_bwd_rejects_bad_arguments(tctx_t *T) {
    vkd_arena_t *ar = T->cpu_arena;
    vkd_backend_t *be = T->cpu;
    const acase_t c = {"ok", 1, 2, 4, 4, 8, 8, 0, 0};
    alayout_t L = make_layout(&c); // every tensor (1, 2, 4, 8): 64 elements
    vkd_buf_t q = test_buf(T, ar, NULL, 64), k = test_buf(T, ar, NULL, 64);
    vkd_buf_t v = test_buf(T, ar, NULL, 64), dy = test_buf(T, ar, NULL, 64);
    vkd_buf_t gq = test_buf(T, ar, NULL, 64), gk = test_buf(T, ar, NULL, 64);
    vkd_buf_t gv = test_buf(T, ar, NULL, 64);
    CHECK_OK(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, &L.a));
    vkd_attention_t bad = L.a;
    bad.sq_h = 0; // both heads share q: fine for the forward, not for a gradient
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, &bad),
                        "broadcast dq");
    CHECK_OK(T, op_attention_backward(be, VKD_BUF_NONE, gk, gv, dy, q, k, v, &bad));
    bad = L.a, bad.sv_l = 4; // rows of 8 at stride 4 overlap
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, &bad),
                        "overlapping dv rows");
    bad = L.a, bad.Lk = 3, bad.causal = 1;
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, &bad),
                        "causal Lq != Lk");
    bad = L.a, bad.scale = NAN;
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, &bad), "NaN scale");
    test_expect_invalid(T, op_attention_backward(be, q, gk, gv, dy, q, k, v, &L.a), "dq aliases q");
    test_expect_invalid(T, op_attention_backward(be, gq, gk, dy, dy, q, k, v, &L.a),
                        "dv aliases dout");
    vkd_buf_t small = test_buf(T, ar, NULL, 63);
    test_expect_invalid(T, op_attention_backward(be, gq, small, gv, dy, q, k, v, &L.a),
                        "dk too small");
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, small, q, k, v, &L.a),
                        "dout too small");
    test_expect_invalid(T, op_attention_backward(be, gq, gk, gv, dy, q, k, v, NULL),
                        "no descriptor");
}

// ---- timing -----------------------------------------------------------------------------
// An SD-like self-attention (B 2, H 8, L 1024, D 40): forward for reference, then backward.
static void cpu_attention_bwd_timing(tctx_t *T) {
    const acase_t c = {"timing", 2, 8, 1024, 1024, 40, 40, 0, 1};
    alayout_t L = make_layout(&c);
    adata_t d = make_data(T, &L);
    vkd_arena_t *ar = T->cpu_arena;
    views_t x = make_views(T, ar, &L, d.in, 7), g = make_views(T, ar, &L, d.g0, 7);
    vkd_buf_t dout = test_buf(T, ar, d.dy, L.no), out = test_buf(T, ar, NULL, L.no);
    if (!vkd_buf_present(out)) goto done;
    double t0 = test_now_ms();
    vkd_status_t st = op_attention_forward(T->cpu, out, x.q, x.k, x.v, &L.a);
    double t1 = test_now_ms();
    CHECK(T, st == VKD_OK, "forward: %s", vkd_last_error());
    st = op_attention_backward(T->cpu, g.q, g.k, g.v, dout, x.q, x.k, x.v, &L.a);
    double t2 = test_now_ms();
    CHECK(T, st == VKD_OK, "backward: %s", vkd_last_error());
    const double fwd = 2.0 * c.B * c.H * (double)c.Lq * c.Lk * (c.D + c.Dv);
    printf("  attention B2 H8 L1024 D40: forward %.1f ms (%.1f GFLOP/s), backward %.1f ms "
           "(%.1f GFLOP/s counting 2.5x the forward's GEMM flops)\n", t1 - t0,
           fwd / ((t1 - t0) * 1e6), t2 - t1, 2.5 * fwd / ((t2 - t1) * 1e6));
    float *r = test_read(T, g.q, L.nq);
    int finite = 1;
    for (size_t i = 0; r && i < L.nq; i++) finite &= isfinite(r[i]) != 0;
    CHECK(T, r && finite, "dq has non-finite entries");
    free(r);
done:
    free_data(&d);
    vkd_arena_reset(ar);
}

// ---- Vulkan ---------------------------------------------------------------------------
// No Vulkan body yet: the op must say so cleanly; once one lands this compares it.
static void vk_attention_bwd(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) {
        const acase_t *c = &shapes[s];
        alayout_t L = make_layout(c);
        adata_t d = make_data(T, &L);
        views_t x = make_views(T, T->vk_arena, &L, d.in, 7), g = make_views(T, T->vk_arena, &L, d.g0, 7);
        vkd_buf_t dout = test_buf(T, T->vk_arena, d.dy, L.no);
        vkd_status_t st = op_attention_backward(T->vk, g.q, g.k, g.v, dout, x.q, x.k, x.v, &L.a);
        vkd_arena_reset(T->vk_arena);
        if (st == VKD_ERR_UNSUPPORTED) {
            printf("  vulkan: %s (expected until a Vulkan body exists)\n", vkd_last_error());
            free_data(&d);
            return;
        }
        CHECK(T, st == VKD_OK, "vk op_attention_backward: %s", vkd_last_error());
        float *ref = run_bwd(T, T->cpu_arena, &L, d.in, d.dy, d.g0, 7);
        float *got = run_bwd(T, T->vk_arena, &L, d.in, d.dy, d.g0, 7);
        if (ref && got) compare_grads(T, "vk", c, &L, got, ref, 1e-4);
        free(ref), free(got), free_data(&d);
        vkd_arena_reset(T->vk_arena);
        vkd_arena_reset(T->cpu_arena);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_attention_bwd_reference),
    TCASE_CPU(cpu_attention_bwd_none),
    TCASE_CPU(cpu_attention_bwd_fd),
    TCASE_CPU(cpu_attention_bwd_rejects_bad_arguments),
    TCASE_CPU(cpu_attention_bwd_timing),
    TCASE_VK(vk_attention_bwd),
};
TEST_MAIN(cases)
