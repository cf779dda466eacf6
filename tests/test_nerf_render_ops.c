// The per-ray NeRF ops (nerf/nerf_ops.h): stratified samples with the occupancy grid,
// alpha compositing (forward, backward with the regularisers), the background blend and
// the grid's probe points and update. CPU against double references written here,
// finite differences of every backward, CPU against Vulkan.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/nerf_ops.h"
#include "nerf_test_fixture.h"
#include "philox.h"
#include "test_util.h"

// Rays from random points at distance 2.5 towards random points near the origin; every
// fifth ray points away (it misses the sphere).
static float *make_rays(uint64_t *st, int R) {
    float *rays = fmalloc((size_t)R * 8);
    for (int r = 0; r < R; r++) {
        float o[3], tg[3], d[3], n2 = 0, m2 = 0;
        test_fill_normal(st, o, 3, 1.0f);
        test_fill_uniform(st, tg, 3, -1.0f, 1.0f);
        for (int a = 0; a < 3; a++) n2 += o[a] * o[a];
        for (int a = 0; a < 3; a++) o[a] *= 2.5f / sqrtf(n2), d[a] = tg[a] - o[a], m2 += d[a] * d[a];
        for (int a = 0; a < 3; a++) d[a] *= (r % 5 == 4 ? -1.0f : 1.0f) / sqrtf(m2);
        memcpy(rays + 8 * r, o, sizeof o);
        memcpy(rays + 8 * r + 3, d, sizeof d);
        rays[8 * r + 6] = 0.002f + 0.01f * (float)(r % 7);
    }
    return rays;
}

// ---- samples ------------------------------------------------------------------------------

// The samples of one ray in double, from the same Philox draws: returns the count and
// fills x (3), var, t, delta of each kept sample (arrays of S).
static int ref_ray(const float *ray, int r, const vkd_nerf_samples_t *sd, const float *grid,
                   double *x, double *var, double *t, double *delta) {
    const double b = (double)ray[0] * ray[3] + (double)ray[1] * ray[4] + (double)ray[2] * ray[5];
    const double c = (double)ray[0] * ray[0] + (double)ray[1] * ray[1] + (double)ray[2] * ray[2] -
                     (double)sd->bound * sd->bound;
    const double disc = b * b - c;
    if (disc <= 0) return 0;
    const double t0 = fmax(-b - sqrt(disc), 0.0), t1 = -b + sqrt(disc);
    if (t1 <= t0) return 0;
    const double dl = (t1 - t0) / sd->S, hd = dl / 2, rd = ray[6];
    int j = 0;
    for (int i = 0; i < sd->S; i++) {
        const uint64_t e = (uint64_t)r * sd->S + i;
        uint32_t w[4];
        vkd_philox_block(sd->seed, VKD_NERF_SAMPLE_STREAM | (sd->step << 32), e / 4, w);
        const double u = sd->jitter ? vkd_philox_uniform(w[e % 4]) : 0.5;
        const double tt = t0 + (i + u) * dl;
        double p[3];
        int cell[3];
        for (int a = 0; a < 3; a++) {
            p[a] = ray[a] + tt * ray[3 + a];
            const int ci = (int)floor((p[a] + sd->bound) / (2.0 * sd->bound) * sd->grid_res);
            cell[a] = ci < 0 ? 0 : ci >= sd->grid_res ? sd->grid_res - 1 : ci;
        }
        if (grid) {
            const int G = sd->grid_res;
            if (!(grid[(cell[0] * G + cell[1]) * G + cell[2]] > sd->grid_thresh)) continue;
        }
        for (int a = 0; a < 3; a++) x[3 * j + a] = p[a];
        var[j] = (hd * hd / 3 + 2 * rd * rd * (tt * tt / 4 + 5 * hd * hd / 12)) / 3;
        t[j] = tt, delta[j] = dl;
        j++;
    }
    return j;
}

// Exclusive prefix sum of the uint32 counts into offs (R + 1) as uint32; returns P.
static int prefix(const float *counts, float *offs, int R) {
    uint32_t s = 0;
    for (int r = 0; r < R; r++) {
        uint32_t c;
        memcpy(&c, counts + r, 4);
        memcpy(offs + r, &s, 4);
        s += c;
    }
    memcpy(offs + R, &s, 4);
    return (int)s;
}

static void t_samples_cpu(tctx_t *T) {
    const int R = 41, G = 8;
    uint64_t st = T->seed;
    float *rays = make_rays(&st, R), *grid = uniform(&st, G * G * G, 0.0f, 1.0f);
    vkd_buf_t brays = test_buf(T, T->cpu_arena, rays, (size_t)R * 8);
    vkd_buf_t bgrid = test_buf(T, T->cpu_arena, grid, G * G * G);
    vkd_buf_t bcnt = test_buf(T, T->cpu_arena, NULL, R), boffs = test_buf(T, T->cpu_arena, NULL, R + 1);
    const int S = 13;
    double x[3 * 13], var[13], t[13], dl[13];
    for (int variant = 0; variant < 2; variant++) {
        const vkd_nerf_samples_t sd = {R, S, 1.4f, variant, 7, 3 + (uint64_t)variant, variant ? G : 0,
                                       0.4f};
        const float *gp = variant ? grid : NULL;
        CHECK_OK(T, nerf_samples_count(T->cpu, bcnt, brays, variant ? bgrid : VKD_BUF_NONE, &sd));
        const int P = prefix(bcnt.host, boffs.host, R);
        vkd_buf_t bx = test_buf(T, T->cpu_arena, NULL, (size_t)P * 3 + 1);
        vkd_buf_t bv = test_buf(T, T->cpu_arena, NULL, (size_t)P + 1);
        vkd_buf_t btd = test_buf(T, T->cpu_arena, NULL, (size_t)P * 2 + 1);
        CHECK_OK(T, nerf_samples_write(T->cpu, bx, bv, btd, brays, boffs,
                                       variant ? bgrid : VKD_BUF_NONE, P, &sd));
        int bad_count = 0, misses = 0;
        double err = 0, verr = 0;
        const uint32_t *off = (const uint32_t *)(const void *)boffs.host;
        for (int r = 0; r < R; r++) {
            const int n = ref_ray(rays + 8 * r, r, &sd, gp, x, var, t, dl);
            misses += n == 0;
            if ((uint32_t)n != off[r + 1] - off[r]) {
                bad_count++;
                continue;
            }
            for (int j = 0; j < n; j++) {
                const size_t q = off[r] + (size_t)j;
                for (int a = 0; a < 3; a++) err = fmax(err, fabs(bx.host[3 * q + a] - x[3 * j + a]));
                verr = fmax(verr, fabs(bv.host[q] - var[j]) / var[j]);
                err = fmax(err, fabs(btd.host[2 * q] - t[j]));
                err = fmax(err, fabs(btd.host[2 * q + 1] - dl[j]));
            }
        }
        printf("  samples (%s): P = %d of %d, %d rays empty, max error %.3g, var %.3g\n",
               variant ? "jitter + grid" : "centred", P, R * S, misses, err, verr);
        CHECK(T, bad_count == 0, "%d rays with a wrong sample count", bad_count);
        CHECK(T, err < 1e-5 && verr < 1e-4, "samples off by %.3g (var %.3g)", err, verr);
        CHECK(T, misses > 0 && misses < R, "some rays miss, some hit (%d misses)", misses);
        if (variant) CHECK(T, P < R * S * 3 / 4, "the grid removes samples (P = %d)", P);
    }
    // Offsets that do not match the counts are refused, not followed out of bounds.
    const vkd_nerf_samples_t sd = {R, S, 1.4f, 0, 7, 0, 0, 0.0f};
    vkd_buf_t bx = test_buf(T, T->cpu_arena, NULL, 3), bv = test_buf(T, T->cpu_arena, NULL, 1);
    vkd_buf_t btd = test_buf(T, T->cpu_arena, NULL, 2);
    memset(boffs.host, 0, sizeof(float) * (R + 1));
    boffs.host[R] = 0;
    uint32_t one = 1;
    memcpy(boffs.host + R, &one, 4);
    memcpy(boffs.host + R - 1, &one, 4);
    CHECK(T, nerf_samples_write(T->cpu, bx, bv, btd, brays, boffs, VKD_BUF_NONE, 1, &sd) ==
                 VKD_ERR_INVALID, "mismatched offsets refused");
    free(rays), free(grid);
}

// ---- compositing --------------------------------------------------------------------------

typedef struct {
    int R, P;
    float *sigma, *c, *n, *td, *offs, *rays, *drgb, *dopa, *bg;
} comp_data_t;

static comp_data_t comp_data(uint64_t *st, int R, int max_per_ray) {
    comp_data_t d = {.R = R};
    d.offs = fmalloc((size_t)R + 1);
    uint32_t s = 0;
    for (int r = 0; r < R; r++) {
        memcpy(d.offs + r, &s, 4);
        float u;
        test_fill_uniform(st, &u, 1, 0.0f, 1.0f);
        s += (uint32_t)(u * (float)(max_per_ray + 1)) % (uint32_t)(max_per_ray + 1);
    }
    memcpy(d.offs + R, &s, 4);
    d.P = (int)s;
    const size_t P = (size_t)d.P;
    d.sigma = uniform(st, P + 1, 0.0f, 3.0f);
    for (size_t i = 0; i < P; i += 5) d.sigma[i] = 0.0f; // empty samples
    d.c = uniform(st, P * 3 + 1, 0.0f, 1.0f);
    d.n = fmalloc(P * 3 + 1);
    test_fill_normal(st, d.n, P * 3, 1.0f);
    for (size_t i = 0; i < P; i++) {
        float *v = d.n + 3 * i, l = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        for (int a = 0; a < 3; a++) v[a] /= l;
    }
    d.td = fmalloc(P * 2 + 2);
    for (int r = 0; r < R; r++) {
        uint32_t i0, i1;
        memcpy(&i0, d.offs + r, 4), memcpy(&i1, d.offs + r + 1, 4);
        // Every non-empty ray has some opacity: the entropy's gradient is singular at A = 0.
        if (i1 > i0 && d.sigma[i0] < 0.5f) d.sigma[i0] = 0.5f;
        float t = 1.0f;
        for (uint32_t i = i0; i < i1; i++) {
            float dl;
            test_fill_uniform(st, &dl, 1, 0.01f, 0.1f);
            d.td[2 * i] = t + 0.5f * dl, d.td[2 * i + 1] = dl, t += dl;
        }
    }
    d.rays = make_rays(st, R);
    d.drgb = uniform(st, (size_t)R * 3, -1, 1);
    d.dopa = uniform(st, R, -1, 1);
    d.bg = uniform(st, (size_t)R * 3, 0, 1);
    return d;
}

static void comp_free(comp_data_t *d) {
    free(d->sigma), free(d->c), free(d->n), free(d->td), free(d->offs), free(d->rays);
    free(d->drgb), free(d->dopa), free(d->bg);
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t rgb, opa, dep, nmap, ori, w, sigma, c, n, td, offs, rays;
    int P;
    vkd_nerf_composite_t cd;
    const comp_data_t *d;
} comp_ctx_t;

// The loss whose gradient the backward returns (orientation with w held fixed is only
// checked against n, where w does not move).
static double comp_loss(void *p) {
    comp_ctx_t *k = p;
    if (nerf_composite_forward(k->be, k->rgb, k->opa, k->dep, k->nmap, k->ori, k->w, k->sigma,
                               k->c, k->n, k->td, k->offs, k->rays, k->P, &k->cd) != VKD_OK)
        return NAN;
    double L = wsum(k->rgb.host, k->d->drgb, (size_t)k->cd.R * 3);
    for (int r = 0; r < k->cd.R; r++) {
        const double A = k->opa.host[r];
        L += (k->d->dopa[r] + k->cd.lambda_opacity) * A + k->cd.lambda_orient * k->ori.host[r];
        if (A > 1e-5 && A < 1 - 1e-5) L += k->cd.lambda_entropy * (-A * log(A) - (1 - A) * log(1 - A));
    }
    return L;
}

static void t_composite_cpu(tctx_t *T) {
    uint64_t st = T->seed;
    comp_data_t d = comp_data(&st, 29, 12);
    const int R = d.R, P = d.P;
    vkd_arena_t *A = T->cpu_arena;
    comp_ctx_t k = {T->cpu, test_buf(T, A, NULL, R * 3), test_buf(T, A, NULL, R),
                    test_buf(T, A, NULL, R), test_buf(T, A, NULL, R * 3), test_buf(T, A, NULL, R),
                    test_buf(T, A, NULL, P), test_buf(T, A, d.sigma, P), test_buf(T, A, d.c, P * 3),
                    test_buf(T, A, d.n, P * 3), test_buf(T, A, d.td, P * 2),
                    test_buf(T, A, d.offs, R + 1), test_buf(T, A, d.rays, R * 8), P,
                    {R, 0.0f, 0.3f, 0.2f}, &d};
    CHECK_OK(T, comp_loss(&k) == comp_loss(&k) ? VKD_OK : VKD_ERR_NUMERIC);
    // Reference in double.
    float *rr = fmalloc(R * 3), *ra = fmalloc(R), *rd = fmalloc(R), *rn = fmalloc(R * 3);
    float *ro = fmalloc(R), *rw = fmalloc(P);
    const uint32_t *off = (const uint32_t *)(const void *)d.offs;
    for (int r = 0; r < R; r++) {
        double Tr = 1, Ac = 0, dep = 0, col[3] = {0}, nm[3] = {0}, orr = 0;
        const float *dir = d.rays + 8 * r + 3;
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const double s = (double)d.sigma[i] * d.td[2 * i + 1], w = Tr * -expm1(-s);
            rw[i] = (float)w, Ac += w, dep += w * d.td[2 * i];
            double nd = 0;
            for (int a = 0; a < 3; a++) col[a] += w * d.c[3 * i + a], nm[a] += w * d.n[3 * i + a],
                                        nd += (double)d.n[3 * i + a] * dir[a];
            orr += w * (nd > 0 ? nd * nd : 0);
            Tr *= exp(-s);
        }
        const double len = sqrt(nm[0] * nm[0] + nm[1] * nm[1] + nm[2] * nm[2]);
        for (int a = 0; a < 3; a++) rr[3 * r + a] = (float)col[a], rn[3 * r + a] = len > 0 ? (float)(nm[a] / len) : 0;
        ra[r] = (float)Ac, rd[r] = Ac > 1e-6 ? (float)(dep / Ac) : 0, ro[r] = (float)orr;
    }
    test_compare(T, "composite rgb vs double", k.rgb.host, rr, R * 3, 1e-5);
    test_compare(T, "composite opacity vs double", k.opa.host, ra, R, 1e-5);
    test_compare(T, "composite depth vs double", k.dep.host, rd, R, 1e-5);
    test_compare(T, "composite normal map vs double", k.nmap.host, rn, R * 3, 1e-5);
    test_compare(T, "composite orientation vs double", k.ori.host, ro, R, 1e-5);
    test_compare(T, "composite weights vs double", k.w.host, rw, P, 1e-5);
    // Backward: sigma and c under colour, outside opacity gradient, opacity and entropy.
    vkd_buf_t ds = test_buf(T, A, NULL, P), dc = test_buf(T, A, NULL, P * 3);
    vkd_buf_t dn = test_buf(T, A, NULL, P * 3);
    vkd_buf_t bdrgb = test_buf(T, A, d.drgb, R * 3), bdopa = test_buf(T, A, d.dopa, R);
    CHECK_OK(T, op_fill(T->cpu, ds, 0.0f, P));
    CHECK_OK(T, op_fill(T->cpu, dc, 0.0f, P * 3));
    CHECK_OK(T, nerf_composite_backward(T->cpu, ds, dc, VKD_BUF_NONE, bdrgb, bdopa, k.sigma, k.c,
                                        k.n, k.w, k.td, k.offs, k.rays, P, &k.cd));
    test_fd_check(T, "composite dsigma", comp_loss, &k, k.sigma.host, ds.host, P, 200, 1e-2f, 2e-2);
    test_fd_check(T, "composite dc", comp_loss, &k, k.c.host, dc.host, P * 3, 200, 1e-1f, 2e-2);
    // Orientation: its gradient reaches n only.
    k.cd = (vkd_nerf_composite_t){R, 0.7f, 0.0f, 0.0f};
    CHECK_OK(T, comp_loss(&k) == comp_loss(&k) ? VKD_OK : VKD_ERR_NUMERIC);
    CHECK_OK(T, op_fill(T->cpu, dn, 0.0f, P * 3));
    CHECK_OK(T, nerf_composite_backward(T->cpu, ds, dc, dn, bdrgb, bdopa, k.sigma, k.c, k.n, k.w,
                                        k.td, k.offs, k.rays, P, &k.cd));
    test_fd_check(T, "composite dn (orientation)", comp_loss, &k, k.n.host, dn.host, P * 3, 200,
                  1e-3f, 2e-2);
    free(rr), free(ra), free(rd), free(rn), free(ro), free(rw);
    comp_free(&d);
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t rgb, fg, opa, bg;
    int R;
    const float *g;
} bg_ctx_t;

static double bg_loss(void *p) {
    bg_ctx_t *k = p;
    if (nerf_background_forward(k->be, k->rgb, k->fg, k->opa, k->bg, k->R, 1) != VKD_OK) return NAN;
    return wsum(k->rgb.host, k->g, (size_t)k->R * 3);
}

static void t_background_cpu(tctx_t *T) {
    const int R = 19;
    uint64_t st = T->seed;
    float *fg = uniform(&st, R * 3, 0, 1), *opa = uniform(&st, R, 0, 1), *bg = uniform(&st, R * 3, 0, 1);
    float *g = uniform(&st, R * 3, -1, 1), *ref = fmalloc(R * 3);
    vkd_arena_t *A = T->cpu_arena;
    bg_ctx_t k = {T->cpu, test_buf(T, A, NULL, R * 3), test_buf(T, A, fg, R * 3),
                  test_buf(T, A, opa, R), test_buf(T, A, bg, R * 3), R, g};
    for (int per_ray = 0; per_ray < 2; per_ray++) {
        CHECK_OK(T, nerf_background_forward(T->cpu, k.rgb, k.fg, k.opa, k.bg, R, per_ray));
        for (int i = 0; i < R * 3; i++)
            ref[i] = (float)(fg[i] + (1.0 - opa[i / 3]) * bg[per_ray ? i : i % 3]);
        test_compare(T, per_ray ? "background per ray" : "background colour", k.rgb.host, ref,
                     R * 3, 1e-6);
    }
    vkd_buf_t da = test_buf(T, A, NULL, R), dbg = test_buf(T, A, NULL, R * 3);
    vkd_buf_t bg_ = test_buf(T, A, g, R * 3);
    CHECK_OK(T, op_fill(T->cpu, da, 0.0f, R));
    CHECK_OK(T, op_fill(T->cpu, dbg, 0.0f, R * 3));
    CHECK_OK(T, nerf_background_backward(T->cpu, da, dbg, bg_, k.opa, k.bg, R, 1));
    test_fd_check(T, "background dopacity", bg_loss, &k, k.opa.host, da.host, R, R, 1e-3f, 1e-2);
    test_fd_check(T, "background dbg", bg_loss, &k, k.bg.host, dbg.host, R * 3, R * 3, 1e-3f, 1e-2);
    CHECK(T, nerf_background_backward(T->cpu, da, dbg, bg_, k.opa, k.bg, R, 0) == VKD_ERR_INVALID,
          "dbg of a fixed colour refused");
    free(fg), free(opa), free(bg), free(g), free(ref);
}

static void t_grid_cpu(tctx_t *T) {
    const int G = 6, N = G * G * G - 10;
    vkd_buf_t x = test_buf(T, T->cpu_arena, NULL, (size_t)N * 3);
    CHECK_OK(T, nerf_grid_points(T->cpu, x, G, 1.4f, 1, 5, 9, 10, N));
    const double cs = 2.8 / G;
    int outside = 0;
    for (int i = 0; i < N; i++) {
        const int id = 10 + i, ci[3] = {id / (G * G), (id / G) % G, id % G};
        for (int a = 0; a < 3; a++) {
            const double lo = -1.4 + ci[a] * cs;
            outside += x.host[3 * i + a] < lo - 1e-6 || x.host[3 * i + a] > lo + cs + 1e-6;
        }
    }
    CHECK(T, outside == 0, "%d jittered probe coordinates outside their cell", outside);
    vkd_buf_t grid = test_buf(T, T->cpu_arena, NULL, G * G * G), sg = test_buf(T, T->cpu_arena, NULL, N);
    CHECK_OK(T, op_fill(T->cpu, grid, 2.0f, G * G * G));
    for (int i = 0; i < N; i++) sg.host[i] = (float)(i % 4);
    CHECK_OK(T, nerf_grid_update(T->cpu, grid, sg, G, 1.4f, 0.75f, 10, N));
    int wrong = 0;
    for (int id = 0; id < G * G * G; id++) {
        double r2 = 0;
        for (int a = 0; a < 3; a++) {
            const int ci = a == 0 ? id / (G * G) : a == 1 ? (id / G) % G : id % G;
            const double c = -1.4 + (ci + 0.5) * cs;
            r2 += c * c;
        }
        const double v = id < 10 ? 2.0 : sqrt(r2) - 0.8660254 * cs > 1.4 ? 0.0
                                                                          : fmax(1.5, (id - 10) % 4);
        wrong += fabs(grid.host[id] - v) > 1e-6;
    }
    CHECK(T, wrong == 0, "%d grid cells updated wrongly", wrong);
    CHECK(T, nerf_grid_points(T->cpu, x, G, 1.4f, 1, 5, 9, 10, G * G * G) == VKD_ERR_INVALID,
          "cells past the grid refused");
}

// ---- CPU against Vulkan ---------------------------------------------------------------------

static void t_render_ops_vk(tctx_t *T) {
    uint64_t st = T->seed;
    // Samples: counts must agree exactly (both run the same float operations), then values.
    const int R = 5003, S = 64, G = 16;
    float *rays = make_rays(&st, R), *grid = uniform(&st, G * G * G, 0, 1);
    pair_t pr = pair(T, rays, (size_t)R * 8), pg = pair(T, grid, G * G * G);
    pair_t pc = pair(T, NULL, R), po = pair(T, NULL, R + 1);
    const vkd_nerf_samples_t sd = {R, S, 1.4f, 1, 11, 4, G, 0.3f};
    CHECK_OK(T, nerf_samples_count(T->cpu, pc.c, pr.c, pg.c, &sd));
    CHECK_OK(T, nerf_samples_count(T->vk, pc.v, pr.v, pg.v, &sd));
    float *cc = test_read(T, pc.c, R), *cv = test_read(T, pc.v, R);
    CHECK(T, cc && cv && memcmp(cc, cv, sizeof(float) * R) == 0, "sample counts differ");
    float *offs = fmalloc(R + 1);
    const int P = prefix(cc, offs, R);
    printf("  samples: P = %d of %d\n", P, R * S);
    CHECK_OK(T, vkd_buf_write(po.c, offs, sizeof(float) * (R + 1)));
    CHECK_OK(T, vkd_buf_write(po.v, offs, sizeof(float) * (R + 1)));
    pair_t px = pair(T, NULL, (size_t)P * 3), pv = pair(T, NULL, P), ptd = pair(T, NULL, (size_t)P * 2);
    CHECK_OK(T, nerf_samples_write(T->cpu, px.c, pv.c, ptd.c, pr.c, po.c, pg.c, P, &sd));
    CHECK_OK(T, nerf_samples_write(T->vk, px.v, pv.v, ptd.v, pr.v, po.v, pg.v, P, &sd));
    cmp(T, "sample x", px, (size_t)P * 3, 1e-6);
    cmp(T, "sample var", pv, P, 1e-5);
    cmp(T, "sample t, delta", ptd, (size_t)P * 2, 1e-6);
    free(cc), free(cv), free(offs), free(rays), free(grid);
    // Compositing and background on many rays (including empty ones).
    comp_data_t d = comp_data(&st, 3001, 40);
    const int Rc = d.R, Pc = d.P;
    const vkd_nerf_composite_t cd = {Rc, 0.5f, 0.3f, 0.2f};
    pair_t s = pair(T, d.sigma, Pc), c = pair(T, d.c, (size_t)Pc * 3), n = pair(T, d.n, (size_t)Pc * 3);
    pair_t td = pair(T, d.td, (size_t)Pc * 2), of = pair(T, d.offs, Rc + 1), ry = pair(T, d.rays, Rc * 8);
    pair_t rgb = pair(T, NULL, Rc * 3), opa = pair(T, NULL, Rc), dep = pair(T, NULL, Rc);
    pair_t nm = pair(T, NULL, Rc * 3), ori = pair(T, NULL, Rc), w = pair(T, NULL, Pc);
    vkd_backend_t *bes[2] = {T->cpu, T->vk};
    for (int b = 0; b < 2; b++) {
#define SEL(p) (b ? (p).v : (p).c)
        CHECK_OK(T, nerf_composite_forward(bes[b], SEL(rgb), SEL(opa), SEL(dep), SEL(nm), SEL(ori),
                                           SEL(w), SEL(s), SEL(c), SEL(n), SEL(td), SEL(of),
                                           SEL(ry), Pc, &cd));
    }
    cmp(T, "composite rgb", rgb, Rc * 3, 1e-4);
    cmp(T, "composite opacity", opa, Rc, 1e-4);
    cmp(T, "composite depth", dep, Rc, 1e-4);
    cmp(T, "composite normal map", nm, Rc * 3, 1e-4);
    cmp(T, "composite orientation", ori, Rc, 1e-4);
    cmp(T, "composite weights", w, Pc, 1e-4);
    pair_t bg = pair(T, d.bg, Rc * 3), out = pair(T, NULL, Rc * 3);
    pair_t dopa = pair(T, d.dopa, Rc), dbg = pair(T, d.bg, Rc * 3), drgb = pair(T, d.drgb, Rc * 3);
    pair_t ds = pair(T, d.sigma, Pc), dc = pair(T, d.c, (size_t)Pc * 3), dn = pair(T, d.n, (size_t)Pc * 3);
    for (int b = 0; b < 2; b++) {
        CHECK_OK(T, nerf_background_forward(bes[b], SEL(out), SEL(rgb), SEL(opa), SEL(bg), Rc, 1));
        CHECK_OK(T, nerf_background_backward(bes[b], SEL(dopa), SEL(dbg), SEL(drgb), SEL(opa),
                                             SEL(bg), Rc, 1));
        CHECK_OK(T, nerf_composite_backward(bes[b], SEL(ds), SEL(dc), SEL(dn), SEL(drgb),
                                            SEL(dopa), SEL(s), SEL(c), SEL(n), SEL(w), SEL(td),
                                            SEL(of), SEL(ry), Pc, &cd));
    }
    cmp(T, "background forward", out, Rc * 3, 1e-5);
    cmp(T, "background dopacity", dopa, Rc, 1e-5);
    cmp(T, "background dbg", dbg, Rc * 3, 1e-5);
    cmp(T, "composite dsigma", ds, Pc, 1e-4);
    cmp(T, "composite dc", dc, (size_t)Pc * 3, 1e-4);
    cmp(T, "composite dn", dn, (size_t)Pc * 3, 1e-4);
    // Grid probe points and update.
    const int Gg = 32, N = Gg * Gg * Gg - 100;
    pair_t gx = pair(T, NULL, (size_t)N * 3), gg = pair(T, NULL, Gg * Gg * Gg);
    float *gs = uniform(&st, N, 0, 3);
    pair_t gsg = pair(T, gs, N);
    for (int b = 0; b < 2; b++) {
        CHECK_OK(T, nerf_grid_points(bes[b], SEL(gx), Gg, 1.4f, 1, 3, 5, 100, N));
        CHECK_OK(T, op_fill(bes[b], SEL(gg), 1.0f, Gg * Gg * Gg));
        CHECK_OK(T, nerf_grid_update(bes[b], SEL(gg), SEL(gsg), Gg, 1.4f, 0.9f, 100, N));
#undef SEL
    }
    cmp(T, "grid points", gx, (size_t)N * 3, 1e-6);
    cmp(T, "grid update", gg, Gg * Gg * Gg, 0);
    free(gs);
    comp_free(&d);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_samples_cpu),
    TCASE_CPU(t_composite_cpu),
    TCASE_CPU(t_background_cpu),
    TCASE_CPU(t_grid_cpu),
    TCASE_VK(t_render_ops_vk),
};

TEST_MAIN(cases)
