// LayerNorm and GroupNorm: CPU against naive double references, finite differences of
// both backwards (input, weight, bias), and CPU against Vulkan for forward and backward.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

// ---- shared helpers -----------------------------------------------------------------

static float *randn(uint64_t *st, size_t n, float mean, float sd) {
    float *x = test_alloc(n);
    test_fill_normal(st, x, n, sd);
    for (size_t i = 0; i < n; i++) x[i] += mean;
    return x;
}

// Normalisation of `n` values in double (the reference statistics).
static void ref_stats(const float *x, size_t n, double eps, double *mean, double *rstd) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double m = s / (double)n, v = 0;
    for (size_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(v / (double)n + eps);
}

// ---- LayerNorm references -------------------------------------------------------------

// out (N, D), mean, rstd (N) from x (N, D), w, b (D) or NULL.
static void ln_ref_fwd(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int D, float eps) {
    for (int i = 0; i < N; i++) {
        const float *xr = x + (size_t)i * D;
        double m, r;
        ref_stats(xr, (size_t)D, eps, &m, &r);
        mean[i] = (float)m;
        rstd[i] = (float)r;
        for (int j = 0; j < D; j++)
            out[(size_t)i * D + j] =
                (float)((xr[j] - m) * r * (w ? w[j] : 1.0) + (b ? b[j] : 0.0));
    }
}

// Gradients (not accumulated) from the double statistics of x.
static void ln_ref_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int N, int D, float eps) {
    for (int j = 0; j < D; j++) dw[j] = db[j] = 0;
    double *sw = calloc((size_t)D, sizeof(double)), *sb = calloc((size_t)D, sizeof(double));
    if (!sw || !sb) abort();
    for (int i = 0; i < N; i++) {
        const float *xr = x + (size_t)i * D, *gr = dy + (size_t)i * D;
        double m, r, a = 0, ax = 0;
        ref_stats(xr, (size_t)D, eps, &m, &r);
        for (int j = 0; j < D; j++) {
            double g = gr[j] * (w ? w[j] : 1.0), xh = (xr[j] - m) * r;
            a += g;
            ax += g * xh;
            sw[j] += gr[j] * xh;
            sb[j] += gr[j];
        }
        for (int j = 0; j < D; j++) {
            double g = gr[j] * (w ? w[j] : 1.0), xh = (xr[j] - m) * r;
            dx[(size_t)i * D + j] = (float)(r * (g - a / D - xh * ax / D));
        }
    }
    for (int j = 0; j < D; j++) dw[j] = (float)sw[j], db[j] = (float)sb[j];
    free(sw);
    free(sb);
}

// ---- GroupNorm references -------------------------------------------------------------

static void gn_ref_fwd(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, const vkd_groupnorm_t *d) {
    int cpg = d->C / d->G;
    size_t n = (size_t)cpg * d->HW;
    for (int it = 0; it < d->B * d->G; it++) {
        const float *xg = x + it * n;
        double m, r;
        ref_stats(xg, n, d->eps, &m, &r);
        mean[it] = (float)m;
        rstd[it] = (float)r;
        for (size_t j = 0; j < n; j++) {
            int c = (it % d->G) * cpg + (int)(j / d->HW);
            out[it * n + j] = (float)((xg[j] - m) * r * (w ? w[c] : 1.0) + (b ? b[c] : 0.0));
        }
    }
}

static void gn_ref_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, const vkd_groupnorm_t *d) {
    int cpg = d->C / d->G;
    size_t n = (size_t)cpg * d->HW;
    double *sw = calloc((size_t)d->C, sizeof(double)), *sb = calloc((size_t)d->C, sizeof(double));
    if (!sw || !sb) abort();
    for (int it = 0; it < d->B * d->G; it++) {
        const float *xg = x + it * n, *gg = dy + it * n;
        double m, r, a = 0, ax = 0;
        ref_stats(xg, n, d->eps, &m, &r);
        for (size_t j = 0; j < n; j++) {
            int c = (it % d->G) * cpg + (int)(j / d->HW);
            double g = gg[j] * (w ? w[c] : 1.0), xh = (xg[j] - m) * r;
            a += g;
            ax += g * xh;
            sw[c] += gg[j] * xh;
            sb[c] += gg[j];
        }
        for (size_t j = 0; j < n; j++) {
            int c = (it % d->G) * cpg + (int)(j / d->HW);
            double g = gg[j] * (w ? w[c] : 1.0), xh = (xg[j] - m) * r;
            dx[it * n + j] = (float)(r * (g - a / (double)n - xh * ax / (double)n));
        }
    }
    for (int c = 0; c < d->C; c++) dw[c] = (float)sw[c], db[c] = (float)sb[c];
    free(sw);
    free(sb);
}

// ---- running either op on one backend ---------------------------------------------------

typedef struct {
    int gn;                 // 0: LayerNorm (N = rows, D), 1: GroupNorm (desc)
    int N, D;
    vkd_groupnorm_t g;
    float eps;
    int has_w, has_b;       // weight / bias present
    int has_dw, has_db;     // dweight / dbias present
} norm_case_t;

static size_t nc_elems(const norm_case_t *c) {
    return c->gn ? (size_t)c->g.B * c->g.C * c->g.HW : (size_t)c->N * c->D;
}
static size_t nc_stats(const norm_case_t *c) {
    return c->gn ? (size_t)c->g.B * c->g.G : (size_t)c->N;
}
static size_t nc_params(const norm_case_t *c) { return c->gn ? (size_t)c->g.C : (size_t)c->D; }

// Inputs shared by both backends; gradients start from gx0/gw0/gb0 (accumulation).
typedef struct {
    float *x, *w, *b, *dy, *gx0, *gw0, *gb0;
} norm_data_t;

// Outputs read back from a backend.
typedef struct {
    float *out, *mean, *rstd, *dx, *dw, *db;
} norm_result_t;

static norm_data_t nd_make(const norm_case_t *c, uint64_t *st, float mean_shift) {
    size_t n = nc_elems(c), p = nc_params(c);
    norm_data_t d = {
        .x = randn(st, n, mean_shift, 1.0f), .w = randn(st, p, 1.0f, 0.5f),
        .b = randn(st, p, 0.0f, 0.5f), .dy = randn(st, n, 0.0f, 1.0f),
        .gx0 = randn(st, n, 0.0f, 0.3f), .gw0 = randn(st, p, 0.0f, 0.3f),
        .gb0 = randn(st, p, 0.0f, 0.3f),
    };
    return d;
}

static void nd_free(norm_data_t *d) {
    free(d->x), free(d->w), free(d->b), free(d->dy), free(d->gx0), free(d->gw0), free(d->gb0);
}

static void nr_free(norm_result_t *r) {
    free(r->out), free(r->mean), free(r->rstd), free(r->dx), free(r->dw), free(r->db);
}

static norm_result_t norm_run(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar,
                              const norm_case_t *c, const norm_data_t *d) {
    norm_result_t r = {0};
    size_t n = nc_elems(c), s = nc_stats(c), p = nc_params(c);
    vkd_buf_t x = test_buf(T, ar, d->x, n);              // (N, D) / (B, C, HW)
    vkd_buf_t w = c->has_w ? test_buf(T, ar, d->w, p) : VKD_BUF_NONE; // (D) / (C)
    vkd_buf_t b = c->has_b ? test_buf(T, ar, d->b, p) : VKD_BUF_NONE; // (D) / (C)
    vkd_buf_t out = test_buf(T, ar, NULL, n);
    vkd_buf_t mean = test_buf(T, ar, NULL, s), rstd = test_buf(T, ar, NULL, s);
    vkd_buf_t dy = test_buf(T, ar, d->dy, n);
    vkd_buf_t gx = test_buf(T, ar, d->gx0, n);
    vkd_buf_t gw = c->has_dw ? test_buf(T, ar, d->gw0, p) : VKD_BUF_NONE;
    vkd_buf_t gb = c->has_db ? test_buf(T, ar, d->gb0, p) : VKD_BUF_NONE;
    vkd_status_t st;
    if (c->gn)
        st = op_groupnorm_forward(be, out, mean, rstd, x, w, b, &c->g);
    else
        st = op_layernorm_forward(be, out, mean, rstd, x, w, b, c->N, c->D, c->eps);
    if (st == VKD_OK) {
        if (c->gn)
            st = op_groupnorm_backward(be, gx, gw, gb, dy, x, w, mean, rstd, &c->g);
        else
            st = op_layernorm_backward(be, gx, gw, gb, dy, x, w, mean, rstd, c->N, c->D);
    }
    if (st != VKD_OK) test_fail(T, __FILE__, __LINE__, "norm op: %s", vkd_last_error());
    r.out = test_read(T, out, n);
    r.mean = test_read(T, mean, s);
    r.rstd = test_read(T, rstd, s);
    r.dx = test_read(T, gx, n);
    r.dw = c->has_dw ? test_read(T, gw, p) : NULL;
    r.db = c->has_db ? test_read(T, gb, p) : NULL;
    return r;
}

static void describe(char *buf, size_t cap, const norm_case_t *c, const char *what) {
    if (c->gn)
        snprintf(buf, cap, "gn B%d C%d HW%d G%d%s%s %s", c->g.B, c->g.C, c->g.HW, c->g.G,
                 c->has_w ? "" : " -w", c->has_b ? "" : " -b", what);
    else
        snprintf(buf, cap, "ln %dx%d%s%s %s", c->N, c->D, c->has_w ? "" : " -w",
                 c->has_b ? "" : " -b", what);
}

// CPU against the double reference: forward (1e-5) and the accumulated backward (1e-4:
// the op normalises with the float statistics it saved, the reference with doubles).
static void check_cpu_vs_ref(tctx_t *T, const norm_case_t *c, float mean_shift) {
    uint64_t st = T->seed;
    norm_data_t d = nd_make(c, &st, mean_shift);
    size_t n = nc_elems(c), s = nc_stats(c), p = nc_params(c);
    norm_result_t r = norm_run(T, T->cpu, T->cpu_arena, c, &d);
    float *out = test_alloc(n), *mean = test_alloc(s), *rstd = test_alloc(s);
    float *dx = test_alloc(n), *dw = test_alloc(p), *db = test_alloc(p);
    const float *w = c->has_w ? d.w : NULL, *b = c->has_b ? d.b : NULL;
    if (c->gn) {
        gn_ref_fwd(out, mean, rstd, d.x, w, b, &c->g);
        gn_ref_bwd(dx, dw, db, d.dy, d.x, w, &c->g);
    } else {
        ln_ref_fwd(out, mean, rstd, d.x, w, b, c->N, c->D, c->eps);
        ln_ref_bwd(dx, dw, db, d.dy, d.x, w, c->N, c->D, c->eps);
    }
    // The op accumulated onto gx0/gw0/gb0: subtract them to get its gradient.
    for (size_t i = 0; i < n; i++) r.dx[i] -= d.gx0[i];
    for (size_t i = 0; i < p && r.dw; i++) r.dw[i] -= d.gw0[i];
    for (size_t i = 0; i < p && r.db; i++) r.db[i] -= d.gb0[i];
    char name[128];
    describe(name, sizeof name, c, "out");
    test_compare(T, name, r.out, out, n, 1e-5);
    describe(name, sizeof name, c, "mean");
    test_compare(T, name, r.mean, mean, s, 1e-6);
    describe(name, sizeof name, c, "rstd");
    test_compare(T, name, r.rstd, rstd, s, 1e-5);
    if (mean_shift == 0.0f) { // with a large mean, x - mean in float limits the backward
        describe(name, sizeof name, c, "dinp");
        test_compare(T, name, r.dx, dx, n, 1e-4);
        describe(name, sizeof name, c, "dweight");
        if (r.dw) test_compare(T, name, r.dw, dw, p, 1e-4);
        describe(name, sizeof name, c, "dbias");
        if (r.db) test_compare(T, name, r.db, db, p, 1e-4);
    }
    free(out), free(mean), free(rstd), free(dx), free(dw), free(db);
    nd_free(&d);
    nr_free(&r);
    vkd_arena_reset(T->cpu_arena);
}

// ---- finite differences -------------------------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    const norm_case_t *c;
    vkd_buf_t out, mean, rstd, x, w, b;
    const float *R; // dL/dout: the loss is sum(out * R)
} fd_ctx_t;

static double norm_loss(void *p) {
    fd_ctx_t *f = p;
    const norm_case_t *c = f->c;
    vkd_status_t st = c->gn ? op_groupnorm_forward(f->be, f->out, f->mean, f->rstd, f->x, f->w,
                                                   f->b, &c->g)
                            : op_layernorm_forward(f->be, f->out, f->mean, f->rstd, f->x, f->w,
                                                   f->b, c->N, c->D, c->eps);
    if (st != VKD_OK) return NAN;
    double l = 0;
    size_t n = nc_elems(c);
    for (size_t i = 0; i < n; i++) l += (double)f->out.host[i] * f->R[i];
    return l;
}

static void check_fd(tctx_t *T, const norm_case_t *c) {
    uint64_t st = T->seed ^ 0xfdULL;
    norm_data_t d = nd_make(c, &st, 0.0f);
    size_t n = nc_elems(c), s = nc_stats(c), p = nc_params(c);
    vkd_arena_t *ar = T->cpu_arena;
    fd_ctx_t f = {.be = T->cpu, .c = c, .R = d.dy};
    f.x = test_buf(T, ar, d.x, n);
    f.w = c->has_w ? test_buf(T, ar, d.w, p) : VKD_BUF_NONE;
    f.b = c->has_b ? test_buf(T, ar, d.b, p) : VKD_BUF_NONE;
    f.out = test_buf(T, ar, NULL, n);
    f.mean = test_buf(T, ar, NULL, s);
    f.rstd = test_buf(T, ar, NULL, s);
    vkd_buf_t dy = test_buf(T, ar, d.dy, n);
    vkd_buf_t gx = test_buf(T, ar, NULL, n), gw = test_buf(T, ar, NULL, p);
    vkd_buf_t gb = test_buf(T, ar, NULL, p);
    if (!f.x.host || !gb.host) return;
    memset(gx.host, 0, n * sizeof(float));
    memset(gw.host, 0, p * sizeof(float));
    memset(gb.host, 0, p * sizeof(float));
    if (isnan(norm_loss(&f))) { // the forward failed
        test_fail(T, __FILE__, __LINE__, "forward: %s", vkd_last_error());
        return;
    }
    CHECK_OK(T, c->gn ? op_groupnorm_backward(T->cpu, gx, gw, gb, dy, f.x, f.w, f.mean, f.rstd,
                                              &c->g)
                      : op_layernorm_backward(T->cpu, gx, gw, gb, dy, f.x, f.w, f.mean, f.rstd,
                                              c->N, c->D));
    // eps 1e-2 on unit-scale data: the truncation error (~eps^2/6 of the third
    // derivative, ~2e-5) stays far below tol, while the float rounding of the outputs
    // (~1e-7 per element, summed over a row or group) divided by 2 eps stays below ~1e-5;
    // with eps 1e-3 that noise reached 5% on small entries.
    const float eps = 1e-2f;
    char name[128];
    describe(name, sizeof name, c, "d/dinp");
    test_fd_check(T, name, norm_loss, &f, f.x.host, gx.host, n, 64, eps, 2e-2);
    if (c->has_w) {
        describe(name, sizeof name, c, "d/dweight");
        test_fd_check(T, name, norm_loss, &f, f.w.host, gw.host, p, 64, eps, 2e-2);
    }
    if (c->has_b) {
        describe(name, sizeof name, c, "d/dbias");
        test_fd_check(T, name, norm_loss, &f, f.b.host, gb.host, p, 64, eps, 2e-2);
    }
    nd_free(&d);
    vkd_arena_reset(T->cpu_arena);
}

// ---- CPU cases -----------------------------------------------------------------------------

static norm_case_t LN(int N, int D, int has_w, int has_b) {
    return (norm_case_t){.N = N, .D = D, .eps = 1e-5f, .has_w = has_w, .has_b = has_b,
                         .has_dw = 1, .has_db = 1};
}
static norm_case_t GN(int B, int C, int HW, int G, int has_w, int has_b) {
    return (norm_case_t){.gn = 1, .g = {B, C, HW, G, 1e-5f}, .eps = 1e-5f, .has_w = has_w,
                         .has_b = has_b, .has_dw = 1, .has_db = 1};
}

static void layernorm_vs_reference(tctx_t *T) {
    const norm_case_t cs[] = {LN(5, 37, 1, 1), LN(1, 1, 1, 1), LN(3, 1280, 1, 1),
                              LN(64, 64, 1, 1), LN(7, 33, 0, 0), LN(4, 20, 1, 0),
                              LN(600, 77, 1, 1)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_cpu_vs_ref(T, &cs[i], 0.0f);
}

// 10000 + N(0, 1): a one-pass variance, or x - mean with the mean rounded to float
// (half an ulp = 5e-4 here), loses the normalised output.
static void layernorm_large_mean(tctx_t *T) {
    const norm_case_t cs[] = {LN(16, 1280, 1, 1), LN(9, 77, 0, 0)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_cpu_vs_ref(T, &cs[i], 10000.0f);
}

static void layernorm_backward_fd(tctx_t *T) {
    const norm_case_t cs[] = {LN(4, 13, 1, 1), LN(3, 40, 0, 1), LN(2, 7, 1, 0)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_fd(T, &cs[i]);
}

static void groupnorm_vs_reference(tctx_t *T) {
    const norm_case_t cs[] = {GN(2, 6, 5, 3, 1, 1),   GN(1, 4, 16, 4, 1, 1), // C/G = 1
                              GN(2, 8, 7, 2, 1, 1),   GN(1, 3, 1, 1, 1, 1),  // C/G = 4; tiny
                              GN(2, 64, 33, 32, 0, 0), GN(3, 12, 9, 3, 1, 0),
                              GN(2, 320, 64, 32, 1, 1)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_cpu_vs_ref(T, &cs[i], 0.0f);
}

static void groupnorm_large_mean(tctx_t *T) {
    const norm_case_t cs[] = {GN(2, 64, 64, 32, 1, 1), GN(1, 32, 16, 32, 0, 1)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_cpu_vs_ref(T, &cs[i], 10000.0f);
}

static void groupnorm_backward_fd(tctx_t *T) {
    const norm_case_t cs[] = {GN(2, 6, 5, 3, 1, 1), GN(2, 4, 6, 4, 1, 1), GN(1, 8, 3, 2, 0, 1),
                              GN(2, 4, 5, 1, 1, 0)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_fd(T, &cs[i]);
}

// Bad arguments fail with a message instead of running.
static void norm_rejects_bad_args(tctx_t *T) {
    vkd_buf_t x = test_buf(T, T->cpu_arena, NULL, 64), s = test_buf(T, T->cpu_arena, NULL, 8);
    CHECK(T, op_layernorm_forward(T->cpu, x, s, s, x, VKD_BUF_NONE, VKD_BUF_NONE, 8, 9, 1e-5f)
                 != VKD_OK, "layernorm accepted a buffer too short for N*D");
    CHECK(T, op_layernorm_forward(T->cpu, x, s, s, x, VKD_BUF_NONE, VKD_BUF_NONE, 0, 8, 1e-5f)
                 != VKD_OK, "layernorm accepted N = 0");
    CHECK(T, op_layernorm_forward(T->cpu, x, s, s, x, s, VKD_BUF_NONE, 4, 16, 1e-5f) != VKD_OK,
          "layernorm accepted a weight shorter than D");
    vkd_groupnorm_t g = {1, 6, 4, 4, 1e-5f};
    CHECK(T, op_groupnorm_forward(T->cpu, x, s, s, x, VKD_BUF_NONE, VKD_BUF_NONE, &g) != VKD_OK,
          "groupnorm accepted C not a multiple of G");
    g = (vkd_groupnorm_t){1, 8, 8, 4, 1e-5f};
    CHECK(T, op_groupnorm_forward(T->cpu, x, s, s, x, VKD_BUF_NONE, VKD_BUF_NONE, &g) == VKD_OK,
          "groupnorm rejected a valid call: %s", vkd_last_error());
    CHECK(T, op_groupnorm_backward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, x, x,
                                   VKD_BUF_NONE, s, s, &g) != VKD_OK,
          "groupnorm backward accepted a missing dinp");
}

// ---- CPU against Vulkan --------------------------------------------------------------------

static void compare_backends(tctx_t *T, const norm_case_t *c, float mean_shift) {
    uint64_t st = T->seed;
    norm_data_t d = nd_make(c, &st, mean_shift);
    size_t n = nc_elems(c), s = nc_stats(c), p = nc_params(c);
    norm_result_t a = norm_run(T, T->cpu, T->cpu_arena, c, &d);
    norm_result_t v = norm_run(T, T->vk, T->vk_arena, c, &d);
    char name[128];
    describe(name, sizeof name, c, "out vk");
    test_compare(T, name, v.out, a.out, n, 1e-4);
    describe(name, sizeof name, c, "mean vk");
    test_compare(T, name, v.mean, a.mean, s, 1e-4);
    describe(name, sizeof name, c, "rstd vk");
    test_compare(T, name, v.rstd, a.rstd, s, 1e-4);
    // Compare the accumulated part only, so the starting values cannot hide errors.
    for (size_t i = 0; i < n; i++) a.dx[i] -= d.gx0[i], v.dx[i] -= d.gx0[i];
    describe(name, sizeof name, c, "dinp vk");
    test_compare(T, name, v.dx, a.dx, n, 1e-4);
    if (c->has_dw) {
        for (size_t i = 0; i < p; i++) a.dw[i] -= d.gw0[i], v.dw[i] -= d.gw0[i];
        describe(name, sizeof name, c, "dweight vk");
        test_compare(T, name, v.dw, a.dw, p, 1e-4);
    }
    if (c->has_db) {
        for (size_t i = 0; i < p; i++) a.db[i] -= d.gb0[i], v.db[i] -= d.gb0[i];
        describe(name, sizeof name, c, "dbias vk");
        test_compare(T, name, v.db, a.db, p, 1e-4);
    }
    nd_free(&d);
    nr_free(&a);
    nr_free(&v);
    vkd_arena_reset(T->cpu_arena);
    vkd_arena_reset(T->vk_arena);
}

static void layernorm_cpu_vs_vulkan(tctx_t *T) {
    norm_case_t cs[] = {LN(7, 37, 1, 1), LN(1, 1, 1, 1), LN(300, 1280, 1, 1),
                        LN(33, 129, 0, 0), LN(5, 300, 1, 0),
                        LN(70000, 64, 1, 1),  // more rows than workgroups: grid-stride
                        LN(1100000, 2, 1, 1)}; // backward split into dispatches on lavapipe
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) compare_backends(T, &cs[i], 0.0f);
    norm_case_t nograd = LN(45, 70, 1, 1);
    nograd.has_dw = 0; // dweight absent, dbias present
    compare_backends(T, &nograd, 0.0f);
    nograd.has_db = 0; // neither: no column workgroups at all
    compare_backends(T, &nograd, 0.0f);
    norm_case_t big_mean = LN(20, 768, 1, 1);
    compare_backends(T, &big_mean, 1000.0f);
}

static void groupnorm_cpu_vs_vulkan(tctx_t *T) {
    norm_case_t cs[] = {GN(2, 320, 1024, 32, 1, 1), // UNet GroupNorm32, C/G = 10
                        GN(2, 32, 16, 32, 1, 1),    // C/G = 1, tiny HW
                        GN(3, 8, 37, 2, 1, 1),      // C/G = 4, awkward HW
                        GN(1, 1280, 64, 32, 0, 0), GN(1, 1, 1, 1, 1, 1),
                        GN(2, 12, 300, 3, 1, 0)};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) compare_backends(T, &cs[i], 0.0f);
    norm_case_t nograd = GN(2, 64, 50, 32, 1, 1);
    nograd.has_db = 0;
    compare_backends(T, &nograd, 0.0f);
    nograd.has_dw = 0;
    compare_backends(T, &nograd, 0.0f);
    norm_case_t big_mean = GN(2, 64, 256, 32, 1, 1);
    compare_backends(T, &big_mean, 1000.0f);
}

static const tcase_t cases[] = {
    TCASE_CPU(layernorm_vs_reference),
    TCASE_CPU(layernorm_large_mean),
    TCASE_CPU(layernorm_backward_fd),
    TCASE_CPU(groupnorm_vs_reference),
    TCASE_CPU(groupnorm_large_mean),
    TCASE_CPU(groupnorm_backward_fd),
    TCASE_CPU(norm_rejects_bad_args),
    TCASE_VK(layernorm_cpu_vs_vulkan),
    TCASE_VK(groupnorm_cpu_vs_vulkan),
};
TEST_MAIN(cases)
