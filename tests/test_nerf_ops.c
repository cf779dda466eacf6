// The per-point NeRF ops (nerf/nerf_ops.h): integrated positional encoding, tetrahedral
// probe points, density/albedo heads, finite-difference normals, shading. For each: the
// CPU forward against a double-precision reference written here, finite differences of
// the backward, and CPU against Vulkan for forward and backward on the same inputs.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/nerf_ops.h"
#include "nerf_test_fixture.h"
#include "shading.h"
#include "test_util.h"

// ---- IPE --------------------------------------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t feat, x, var;
    int P, L;
    float var_add;
    const float *wts;
} ipe_ctx_t;

static double ipe_loss(void *p) {
    ipe_ctx_t *c = p;
    if (nerf_ipe_forward(c->be, c->feat, c->x, c->var, c->P, c->L, c->var_add) != VKD_OK) return NAN;
    return wsum(c->feat.host, c->wts, (size_t)c->P * vkd_nerf_ipe_dim(c->L));
}

static void t_ipe_cpu(tctx_t *T) {
    const int P = 37, L = 8, F = vkd_nerf_ipe_dim(L);
    const float var_add = 1e-3f;
    uint64_t st = T->seed;
    float *x = uniform(&st, (size_t)P * 3, -1.4f, 1.4f), *v = uniform(&st, P, 0.0f, 0.01f);
    vkd_buf_t bx = test_buf(T, T->cpu_arena, x, (size_t)P * 3);
    vkd_buf_t bv = test_buf(T, T->cpu_arena, v, P);
    vkd_buf_t bf = test_buf(T, T->cpu_arena, NULL, (size_t)P * F);
    CHECK_OK(T, nerf_ipe_forward(T->cpu, bf, bx, bv, P, L, var_add));
    float *ref = fmalloc((size_t)P * F);
    for (int p = 0; p < P; p++) {
        const double vv = (double)v[p] + var_add;
        for (int a = 0; a < 3; a++) {
            const double xa = x[3 * p + a];
            ref[p * F + a] = (float)xa;
            for (int l = 0; l < L; l++) {
                const double att = exp(-0.5 * pow(4.0, l) * vv);
                ref[p * F + 3 + 3 * l + a] = (float)(sin(ldexp(xa, l)) * att);
                ref[p * F + 3 + 3 * L + 3 * l + a] = (float)(cos(ldexp(xa, l)) * att);
            }
        }
    }
    test_compare(T, "ipe forward vs double", bf.host, ref, (size_t)P * F, 1e-5);
    // Without a variance buffer (var_add only) and with L = 0 (just x).
    CHECK_OK(T, nerf_ipe_forward(T->cpu, bf, bx, VKD_BUF_NONE, P, 0, 0.0f));
    test_compare(T, "ipe L = 0 is x", bf.host, x, (size_t)P * 3, 0);
    // Finite differences of dx, the encoding scaled down so every frequency shows.
    float *wts = uniform(&st, (size_t)P * F, -1, 1);
    vkd_buf_t bdf = test_buf(T, T->cpu_arena, wts, (size_t)P * F);
    vkd_buf_t bdx = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
    CHECK_OK(T, op_fill(T->cpu, bdx, 0.0f, (size_t)P * 3));
    CHECK_OK(T, nerf_ipe_backward(T->cpu, bdx, bdf, bx, bv, P, L, var_add));
    ipe_ctx_t c = {T->cpu, bf, bx, bv, P, L, var_add, wts};
    test_fd_check(T, "ipe dx", ipe_loss, &c, bx.host, bdx.host, (size_t)P * 3, 111, 1e-4f, 2e-2);
    // Bad sizes are refused with a message, not a crash.
    CHECK(T, nerf_ipe_forward(T->cpu, bf, bx, bv, P, 17, 0.0f) == VKD_ERR_INVALID, "L = 17");
    CHECK(T, nerf_ipe_forward(T->cpu, bf, bx, bv, 1 << 20, L, 0.0f) == VKD_ERR_INVALID &&
             strstr(vkd_last_error(), "feat"), "short feat: %s", vkd_last_error());
    free(x), free(v), free(ref), free(wts);
}

// ---- heads ------------------------------------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t sigma, rho, raw, x;
    int P;
    vkd_nerf_heads_t hd;
    const float *ws, *wr;
} heads_ctx_t;

static double heads_loss(void *p) {
    heads_ctx_t *c = p;
    const vkd_buf_t rho = c->hd.pre_only ? VKD_BUF_NONE : c->rho;
    if (nerf_heads_forward(c->be, c->sigma, rho, c->raw, c->x, c->P, &c->hd) != VKD_OK) return NAN;
    return wsum(c->sigma.host, c->ws, (size_t)c->P) +
           (c->hd.pre_only ? 0.0 : wsum(c->rho.host, c->wr, (size_t)c->P * 3));
}

static void t_heads_cpu(tctx_t *T) {
    const int P = 77;
    uint64_t st = T->seed;
    float *raw = fmalloc((size_t)P * 4), *x = uniform(&st, (size_t)P * 3, -0.8f, 0.8f);
    test_fill_normal(&st, raw, (size_t)P * 4, 2.0f);
    float *ws = uniform(&st, P, -1, 1), *wr = uniform(&st, (size_t)P * 3, -1, 1);
    vkd_buf_t braw = test_buf(T, T->cpu_arena, raw, (size_t)P * 4);
    vkd_buf_t bx = test_buf(T, T->cpu_arena, x, (size_t)P * 3);
    vkd_buf_t bs = test_buf(T, T->cpu_arena, NULL, P), br = test_buf(T, T->cpu_arena, NULL, P * 3);
    vkd_buf_t bd = test_buf(T, T->cpu_arena, NULL, (size_t)P * 4);
    vkd_buf_t bws = test_buf(T, T->cpu_arena, ws, P), bwr = test_buf(T, T->cpu_arena, wr, P * 3);
    // exp, softplus, and the pre-activation alone (what the normals difference).
    static const char *const names[3] = {"exp", "softplus", "pre-activation"};
    for (int ai = 0; ai < 3; ai++) {
        const vkd_nerf_heads_t hd = {ai == 1 ? VKD_ACT_SOFTPLUS : VKD_ACT_EXP, 5.0f, 0.2f, ai == 2};
        const vkd_buf_t rho = ai == 2 ? VKD_BUF_NONE : br, drho = ai == 2 ? VKD_BUF_NONE : bwr;
        CHECK_OK(T, nerf_heads_forward(T->cpu, bs, rho, braw, bx, P, &hd));
        float *rs = fmalloc(P), *rr = fmalloc((size_t)P * 3);
        for (int p = 0; p < P; p++) {
            const double r2 = (double)x[3 * p] * x[3 * p] + (double)x[3 * p + 1] * x[3 * p + 1] +
                              (double)x[3 * p + 2] * x[3 * p + 2];
            const double pre = raw[4 * p] + 5.0 * exp(-r2 / (2 * 0.04));
            rs[p] = (float)(ai == 0 ? exp(fmin(pre, 15.0)) : ai == 1 ? log1p(exp(pre)) : pre);
            for (int k = 0; k < 3; k++) rr[3 * p + k] = (float)(1.0 / (1.0 + exp(-raw[4 * p + 1 + k])));
        }
        char name[64];
        snprintf(name, sizeof name, "heads sigma (%s) vs double", names[ai]);
        test_compare(T, name, bs.host, rs, P, 1e-5);
        if (ai < 2) test_compare(T, "heads rho vs double", br.host, rr, (size_t)P * 3, 1e-5);
        CHECK_OK(T, op_fill(T->cpu, bd, 0.0f, (size_t)P * 4));
        CHECK_OK(T, nerf_heads_backward(T->cpu, bd, bws, drho, braw, bx, P, &hd));
        heads_ctx_t c = {T->cpu, bs, br, braw, bx, P, hd, ws, wr};
        snprintf(name, sizeof name, "heads draw (%s)", names[ai]);
        test_fd_check(T, name, heads_loss, &c, braw.host, bd.host, (size_t)P * 4, 308, 1e-2f, 2e-2);
        free(rs), free(rr);
    }
    const vkd_nerf_heads_t bad = {VKD_ACT_SILU, 5.0f, 0.2f, 0};
    CHECK(T, nerf_heads_forward(T->cpu, bs, br, braw, bx, P, &bad) == VKD_ERR_INVALID,
          "SiLU density refused");
    const vkd_nerf_heads_t pre = {VKD_ACT_EXP, 5.0f, 0.2f, 1};
    CHECK(T, nerf_heads_forward(T->cpu, bs, br, braw, bx, P, &pre) == VKD_ERR_INVALID,
          "pre-activation with albedo refused");
    free(raw), free(x), free(ws), free(wr);
}

// ---- normals ----------------------------------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t n, tau4;
    int P;
    float h, eps;
    const float *wts;
} normal_ctx_t;

static double normal_loss(void *p) {
    normal_ctx_t *c = p;
    if (nerf_normal_forward(c->be, c->n, c->tau4, c->P, c->h, c->eps) != VKD_OK) return NAN;
    return wsum(c->n.host, c->wts, (size_t)c->P * 3);
}

static void t_tetra_normal_cpu(tctx_t *T) {
    const int P = 45;
    const float h = 0.01f, eps = 1e-3f;
    uint64_t st = T->seed;
    // Probe points and variances.
    float *x = uniform(&st, (size_t)P * 3, -1, 1), *v = uniform(&st, P, 0, 1);
    vkd_buf_t bx = test_buf(T, T->cpu_arena, x, (size_t)P * 3), bv = test_buf(T, T->cpu_arena, v, P);
    vkd_buf_t bxt = test_buf(T, T->cpu_arena, NULL, (size_t)P * 12);
    vkd_buf_t bvt = test_buf(T, T->cpu_arena, NULL, (size_t)P * 4);
    CHECK_OK(T, nerf_tetra_points(T->cpu, bxt, bvt, bx, bv, P, h));
    int bad = 0;
    for (int p = 0; p < P; p++) {
        double cen[3] = {0, 0, 0};
        for (int k = 0; k < 4; k++) {
            double d2 = 0;
            for (int a = 0; a < 3; a++) {
                const double dd = bxt.host[12 * p + 3 * k + a] - (double)x[3 * p + a];
                d2 += dd * dd;
                cen[a] += bxt.host[12 * p + 3 * k + a] / 4.0;
            }
            bad += fabs(sqrt(d2) - sqrt(3.0) * h) > 1e-6 || bvt.host[4 * p + k] != v[p];
        }
        for (int a = 0; a < 3; a++) bad += fabs(cen[a] - x[3 * p + a]) > 1e-6;
    }
    CHECK(T, bad == 0, "tetra points: %d corners off the tetrahedron around x", bad);
    // Normals of a linear density are exact: tau = a . x + b gives n = -a / |a|.
    const double lin[3] = {3.0, -4.0, 12.0};
    float *tau = fmalloc((size_t)P * 4), *ref = fmalloc((size_t)P * 3);
    for (int p = 0; p < P * 4; p++)
        tau[p] = (float)(lin[0] * bxt.host[3 * p] + lin[1] * bxt.host[3 * p + 1] +
                         lin[2] * bxt.host[3 * p + 2] + 20.0);
    for (int p = 0; p < P; p++)
        for (int a = 0; a < 3; a++) ref[3 * p + a] = (float)(-lin[a] / 13.0);
    vkd_buf_t bt = test_buf(T, T->cpu_arena, tau, (size_t)P * 4);
    vkd_buf_t bn = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
    CHECK_OK(T, nerf_normal_forward(T->cpu, bn, bt, P, h, eps));
    // tau is rounded to float at ~20: the difference quotient keeps ~1e-4 of it.
    test_compare(T, "normal of a linear field", bn.host, ref, (size_t)P * 3, 1e-3);
    // FD of the backward on random densities (some gradients small, near eps).
    float *tr = uniform(&st, (size_t)P * 4, 0.0f, 1.0f), *wts = uniform(&st, (size_t)P * 3, -1, 1);
    memcpy(bt.host, tr, sizeof(float) * P * 4);
    vkd_buf_t bdn = test_buf(T, T->cpu_arena, wts, (size_t)P * 3);
    vkd_buf_t bdt = test_buf(T, T->cpu_arena, NULL, (size_t)P * 4);
    CHECK_OK(T, op_fill(T->cpu, bdt, 0.0f, (size_t)P * 4));
    CHECK_OK(T, nerf_normal_backward(T->cpu, bdt, bdn, bt, P, 0.1f, eps));
    normal_ctx_t c = {T->cpu, bn, bt, P, 0.1f, eps, wts};
    test_fd_check(T, "normal dtau4", normal_loss, &c, bt.host, bdt.host, (size_t)P * 4, 180, 1e-3f,
                  2e-2);
    free(x), free(v), free(tau), free(ref), free(tr), free(wts);
}

// ---- shading ----------------------------------------------------------------------------

// Random albedo, unit normals and points; normals are redrawn where n . l-hat is within
// 0.05 of the max(0, .) kink, which finite differences cannot straddle.
static void shade_data(uint64_t *st, int P, const vkd_nerf_shade_t *sh, float *rho, float *n,
                       float *x) {
    test_fill_uniform(st, rho, (size_t)P * 3, 0.05f, 0.95f);
    test_fill_uniform(st, x, (size_t)P * 3, -1.0f, 1.0f);
    for (int p = 0; p < P; p++) {
        for (;;) {
            float v[3];
            test_fill_normal(st, v, 3, 1.0f);
            const float len = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            float l[3], ll = 0, nd = 0;
            for (int a = 0; a < 3; a++) l[a] = sh->light[a] - x[3 * p + a], ll += l[a] * l[a];
            for (int a = 0; a < 3; a++) n[3 * p + a] = v[a] / len, nd += n[3 * p + a] * l[a];
            if (fabsf(nd / sqrtf(ll)) > 0.05f) break;
        }
    }
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t c, rho, n, x;
    int P;
    vkd_nerf_shade_t sh;
    const float *wts;
} shade_ctx_t;

static double shade_loss(void *p) {
    shade_ctx_t *c = p;
    if (nerf_shade_forward(c->be, c->c, c->rho, c->n, c->x, c->P, &c->sh) != VKD_OK) return NAN;
    return wsum(c->c.host, c->wts, (size_t)c->P * 3);
}

static void t_shade_cpu(tctx_t *T) {
    const int P = 53;
    uint64_t st = T->seed;
    float *rho = fmalloc((size_t)P * 3), *n = fmalloc((size_t)P * 3), *x = fmalloc((size_t)P * 3);
    float *wts = uniform(&st, (size_t)P * 3, -1, 1), *ref = fmalloc((size_t)P * 3);
    for (int mode = 0; mode < VKD_SHADE_COUNT; mode++) {
        const vkd_nerf_shade_t sh = {mode, {1.5f, 2.0f, 2.5f}, 0.8f, 0.2f};
        shade_data(&st, P, &sh, rho, n, x);
        vkd_buf_t bc = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
        vkd_buf_t brho = test_buf(T, T->cpu_arena, rho, (size_t)P * 3);
        vkd_buf_t bn = test_buf(T, T->cpu_arena, n, (size_t)P * 3);
        vkd_buf_t bx = test_buf(T, T->cpu_arena, x, (size_t)P * 3);
        CHECK_OK(T, nerf_shade_forward(T->cpu, bc, brho, bn, bx, P, &sh));
        for (int p = 0; p < P; p++) {
            double l[3], ll = 0, nd = 0;
            for (int a = 0; a < 3; a++) l[a] = (double)sh.light[a] - x[3 * p + a], ll += l[a] * l[a];
            for (int a = 0; a < 3; a++) nd += n[3 * p + a] * l[a] / sqrt(ll);
            const double k = 0.8 * fmax(nd, 0.0) + 0.2;
            for (int a = 0; a < 3; a++)
                ref[3 * p + a] = (float)(mode == VKD_SHADE_ALBEDO        ? rho[3 * p + a]
                                         : mode == VKD_SHADE_TEXTURELESS ? k
                                                                         : rho[3 * p + a] * k);
        }
        char name[64];
        snprintf(name, sizeof name, "shade %s vs double", vkd_shade_mode_name(mode));
        test_compare(T, name, bc.host, ref, (size_t)P * 3, 1e-5);
        vkd_buf_t bg = test_buf(T, T->cpu_arena, wts, (size_t)P * 3);
        vkd_buf_t bdr = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
        vkd_buf_t bdn = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
        CHECK_OK(T, op_fill(T->cpu, bdr, 0.0f, (size_t)P * 3));
        CHECK_OK(T, op_fill(T->cpu, bdn, 0.0f, (size_t)P * 3));
        CHECK_OK(T, nerf_shade_backward(T->cpu, bdr, bdn, bg, brho, bn, bx, P, &sh));
        shade_ctx_t c = {T->cpu, bc, brho, bn, bx, P, sh, wts};
        if (mode != VKD_SHADE_TEXTURELESS) {
            snprintf(name, sizeof name, "shade %s drho", vkd_shade_mode_name(mode));
            test_fd_check(T, name, shade_loss, &c, brho.host, bdr.host, (size_t)P * 3, 159, 1e-3f,
                          2e-2);
        }
        if (mode != VKD_SHADE_ALBEDO) {
            snprintf(name, sizeof name, "shade %s dn", vkd_shade_mode_name(mode));
            test_fd_check(T, name, shade_loss, &c, bn.host, bdn.host, (size_t)P * 3, 159, 1e-3f,
                          2e-2);
        }
    }
    const vkd_nerf_shade_t lit = {VKD_SHADE_LIT, {1, 1, 1}, 0.8f, 0.2f};
    vkd_buf_t b3 = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3);
    CHECK(T, nerf_shade_forward(T->cpu, b3, b3, VKD_BUF_NONE, b3, P, &lit) == VKD_ERR_INVALID &&
             strstr(vkd_last_error(), "normals"), "lit without normals: %s", vkd_last_error());
    free(rho), free(n), free(x), free(wts), free(ref);
}

// ---- CPU against Vulkan -------------------------------------------------------------------

#define BOTH(T, call_cpu, call_vk)                                                       \
    do {                                                                                 \
        CHECK_OK(T, call_cpu);                                                           \
        CHECK_OK(T, call_vk);                                                            \
    } while (0)

static void t_point_ops_vk(tctx_t *T) {
    const int sizes[2] = {1, 70001};
    for (int si = 0; si < 2; si++) {
        const int P = sizes[si], L = 8, F = vkd_nerf_ipe_dim(L);
        printf("  P = %d\n", P);
        uint64_t st = T->seed + (uint64_t)si;
        float *x = uniform(&st, (size_t)P * 3, -1.4f, 1.4f), *v = uniform(&st, P, 0, 0.01f);
        float *g = uniform(&st, (size_t)P * F, -1, 1), *raw = fmalloc((size_t)P * 4);
        test_fill_normal(&st, raw, (size_t)P * 4, 2.0f);
        pair_t px = pair(T, x, (size_t)P * 3), pv = pair(T, v, P), pg = pair(T, g, (size_t)P * F);
        pair_t pf = pair(T, NULL, (size_t)P * F), pdx = pair(T, g, (size_t)P * 3);
        BOTH(T, nerf_ipe_forward(T->cpu, pf.c, px.c, pv.c, P, L, 2e-3f),
             nerf_ipe_forward(T->vk, pf.v, px.v, pv.v, P, L, 2e-3f));
        cmp(T, "ipe forward", pf, (size_t)P * F, 1e-4);
        BOTH(T, nerf_ipe_backward(T->cpu, pdx.c, pg.c, px.c, pv.c, P, L, 2e-3f),
             nerf_ipe_backward(T->vk, pdx.v, pg.v, px.v, pv.v, P, L, 2e-3f));
        cmp(T, "ipe backward (accumulated)", pdx, (size_t)P * 3, 1e-4);
        pair_t pxt = pair(T, NULL, (size_t)P * 12), pvt = pair(T, NULL, (size_t)P * 4);
        BOTH(T, nerf_tetra_points(T->cpu, pxt.c, pvt.c, px.c, pv.c, P, 0.01f),
             nerf_tetra_points(T->vk, pxt.v, pvt.v, px.v, pv.v, P, 0.01f));
        cmp(T, "tetra points", pxt, (size_t)P * 12, 1e-6);
        cmp(T, "tetra variances", pvt, (size_t)P * 4, 0);
        pair_t praw = pair(T, raw, (size_t)P * 4), ps = pair(T, NULL, P), pr = pair(T, NULL, P * 3);
        pair_t pd = pair(T, g, (size_t)P * 4);
        for (int ai = 0; ai < 3; ai++) {
            const vkd_nerf_heads_t hd = {ai == 1 ? VKD_ACT_SOFTPLUS : VKD_ACT_EXP, 5.0f, 0.2f, ai == 2};
            const pair_t rho = ai == 2 ? (pair_t){VKD_BUF_NONE, VKD_BUF_NONE} : pr;
            const pair_t drho = ai == 2 ? (pair_t){VKD_BUF_NONE, VKD_BUF_NONE} : pdx;
            BOTH(T, nerf_heads_forward(T->cpu, ps.c, rho.c, praw.c, px.c, P, &hd),
                 nerf_heads_forward(T->vk, ps.v, rho.v, praw.v, px.v, P, &hd));
            cmp(T, ai == 2 ? "heads pre-activation" : "heads sigma", ps, P, 1e-4);
            if (ai < 2) cmp(T, "heads rho", pr, (size_t)P * 3, 1e-4);
            BOTH(T, nerf_heads_backward(T->cpu, pd.c, pv.c, drho.c, praw.c, px.c, P, &hd),
                 nerf_heads_backward(T->vk, pd.v, pv.v, drho.v, praw.v, px.v, P, &hd));
            cmp(T, "heads backward", pd, (size_t)P * 4, 1e-4);
        }
        pair_t pt4 = pair(T, raw, (size_t)P * 4), pn = pair(T, NULL, (size_t)P * 3);
        BOTH(T, nerf_normal_forward(T->cpu, pn.c, pt4.c, P, 0.02f, 1e-3f),
             nerf_normal_forward(T->vk, pn.v, pt4.v, P, 0.02f, 1e-3f));
        cmp(T, "normal forward", pn, (size_t)P * 3, 1e-4);
        BOTH(T, nerf_normal_backward(T->cpu, pd.c, px.c, pt4.c, P, 0.02f, 1e-3f),
             nerf_normal_backward(T->vk, pd.v, px.v, pt4.v, P, 0.02f, 1e-3f));
        cmp(T, "normal backward", pd, (size_t)P * 4, 1e-4);
        for (int mode = 0; mode < VKD_SHADE_COUNT; mode++) {
            const vkd_nerf_shade_t sh = {mode, {1.5f, 2.0f, 2.5f}, 0.8f, 0.2f};
            float *rho = fmalloc((size_t)P * 3), *nn = fmalloc((size_t)P * 3);
            float *xx = fmalloc((size_t)P * 3);
            shade_data(&st, P, &sh, rho, nn, xx);
            pair_t prho = pair(T, rho, (size_t)P * 3), pnn = pair(T, nn, (size_t)P * 3);
            pair_t pxx = pair(T, xx, (size_t)P * 3), pc = pair(T, NULL, (size_t)P * 3);
            pair_t pdr = pair(T, g, (size_t)P * 3), pdn = pair(T, g + 1, (size_t)P * 3);
            BOTH(T, nerf_shade_forward(T->cpu, pc.c, prho.c, pnn.c, pxx.c, P, &sh),
                 nerf_shade_forward(T->vk, pc.v, prho.v, pnn.v, pxx.v, P, &sh));
            cmp(T, vkd_shade_mode_name(mode), pc, (size_t)P * 3, 1e-4);
            BOTH(T, nerf_shade_backward(T->cpu, pdr.c, pdn.c, pxx.c, prho.c, pnn.c, pxx.c, P, &sh),
                 nerf_shade_backward(T->vk, pdr.v, pdn.v, pxx.v, prho.v, pnn.v, pxx.v, P, &sh));
            cmp(T, "shade drho", pdr, (size_t)P * 3, 1e-4);
            cmp(T, "shade dn", pdn, (size_t)P * 3, 1e-4);
            free(rho), free(nn), free(xx);
        }
        free(x), free(v), free(g), free(raw);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(t_ipe_cpu),
    TCASE_CPU(t_heads_cpu),
    TCASE_CPU(t_tetra_normal_cpu),
    TCASE_CPU(t_shade_cpu),
    TCASE_VK(t_point_ops_vk),
};

TEST_MAIN(cases)
