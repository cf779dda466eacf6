// CPU bodies of the per-ray NeRF ops: stratified samples, alpha compositing (forward and
// backward) and the occupancy grid. One loop iteration per ray (or cell), OpenMP across
// them.
#include <math.h>
#include <stdint.h>

#include "nerf/nerf_ops_impl.h"
#include "philox.h"

#define PAR_RAYS 256 // rays below which one thread does it all

// ---- samples --------------------------------------------------------------------------------

// The cell of point x in a G^3 grid over [-bound, bound]^3 (clamped to the grid).
static inline uint32_t grid_cell(const float x[3], float bound, int G) {
    int c[3];
    for (int a = 0; a < 3; a++) {
        int i = (int)floorf((x[a] + bound) / (2.0f * bound) * (float)G);
        c[a] = i < 0 ? 0 : i >= G ? G - 1 : i;
    }
    return ((uint32_t)c[0] * (uint32_t)G + (uint32_t)c[1]) * (uint32_t)G + (uint32_t)c[2];
}

// Walks ray r's samples; for each kept one calls back with (j, t, delta, x). The count
// pass and the write pass run this same code, so they keep the same samples.
typedef struct {
    const vkd_nerf_samples_t *sd;
    const float *rays;  // (R, 8)
    const float *grid;  // (G^3) or NULL
    uint64_t stream;
} walk_t;

// Outputs (when xo != NULL) go to xo[3j..], vo[j], tdo[2j..] for j < cap only.
static inline uint32_t walk_ray(const walk_t *w, int r, float *xo, float *vo, float *tdo,
                                uint32_t cap) {
    const vkd_nerf_samples_t *sd = w->sd;
    const float *ray = w->rays + (size_t)r * VKD_NERF_RAY_STRIDE;
    float t0, t1;
    if (!vkd_nerf_ray_sphere(ray, ray + 3, sd->bound, &t0, &t1)) return 0;
    const float delta = (t1 - t0) / (float)sd->S, hd = 0.5f * delta, rd = ray[6];
    uint32_t j = 0, words[4] = {0, 0, 0, 0};
    for (int i = 0; i < sd->S; i++) {
        float u = 0.5f;
        if (sd->jitter) {
            const uint64_t e = (uint64_t)r * (uint64_t)sd->S + (uint64_t)i;
            if (i == 0 || (e & 3) == 0) vkd_philox_block(sd->seed, w->stream, e >> 2, words);
            u = vkd_philox_uniform(words[e & 3]);
        }
        const float t = t0 + ((float)i + u) * delta;
        const float x[3] = {ray[0] + t * ray[3], ray[1] + t * ray[4], ray[2] + t * ray[5]};
        if (w->grid && !(w->grid[grid_cell(x, sd->bound, sd->grid_res)] > sd->grid_thresh))
            continue;
        if (xo && j < cap) {
            const float st2 = hd * hd / 3.0f;
            const float sr2 = rd * rd * (t * t / 4.0f + 5.0f * hd * hd / 12.0f);
            xo[3 * j] = x[0], xo[3 * j + 1] = x[1], xo[3 * j + 2] = x[2];
            vo[j] = (st2 + 2.0f * sr2) / 3.0f;
            tdo[2 * j] = t;
            tdo[2 * j + 1] = delta;
        }
        j++;
    }
    return j;
}

static uint64_t sample_stream(const vkd_nerf_samples_t *sd) {
    return (uint64_t)VKD_NERF_SAMPLE_STREAM | (sd->step << 32);
}

vkd_status_t nerf_samples_count_cpu(vkd_backend_t *be, vkd_buf_t counts, vkd_buf_t rays,
                                    vkd_buf_t grid, const vkd_nerf_samples_t *sd) {
    (void)be;
    uint32_t *cnt = (uint32_t *)(void *)counts.host; // (R)
    const walk_t w = {sd, rays.host, grid.host, sample_stream(sd)};
#pragma omp parallel for schedule(static) if (sd->R > PAR_RAYS)
    for (int r = 0; r < sd->R; r++) cnt[r] = walk_ray(&w, r, NULL, NULL, NULL, 0);
    return VKD_OK;
}

vkd_status_t nerf_samples_write_cpu(vkd_backend_t *be, vkd_buf_t x, vkd_buf_t var, vkd_buf_t td,
                                    vkd_buf_t rays, vkd_buf_t offs, vkd_buf_t grid, int P,
                                    const vkd_nerf_samples_t *sd) {
    (void)be;
    const uint32_t *off = (const uint32_t *)(const void *)offs.host; // (R + 1)
    const walk_t w = {sd, rays.host, grid.host, sample_stream(sd)};
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (sd->R > PAR_RAYS)
    for (int r = 0; r < sd->R; r++) {
        const uint32_t o = off[r];
        // The offsets come from the caller: never write past P or outside the ray's slot.
        if (off[r + 1] < o || off[r + 1] > (uint32_t)P) {
            bad = 1;
            continue;
        }
        const uint32_t cap = off[r + 1] - o;
        if (walk_ray(&w, r, x.host + 3 * (size_t)o, var.host + o, td.host + 2 * (size_t)o, cap) !=
            cap)
            bad = 1;
    }
    if (bad)
        return vkd_fail(VKD_ERR_INVALID, "nerf_samples_write: offs does not match the sample "
                        "counts of these rays (not the prefix sum of nerf_samples_count?)");
    return VKD_OK;
}

// ---- compositing ------------------------------------------------------------------------------

// 1 - exp(-s) without cancellation for small s (the series to s^4; its error is below
// s^5/120, under float precision for s < 1/64). The shader uses the same split.
static inline float alpha_of(float s) {
    if (s < 0.015625f) return s * (1.0f - s * (0.5f - s * (1.0f / 6.0f - s * (1.0f / 24.0f))));
    return 1.0f - expf(-s);
}

vkd_status_t nerf_composite_forward_cpu(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t opacity,
                                        vkd_buf_t depth, vkd_buf_t nmap, vkd_buf_t orient,
                                        vkd_buf_t w, vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n,
                                        vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                        const vkd_nerf_composite_t *cd) {
    (void)be, (void)P;
    const uint32_t *off = (const uint32_t *)(const void *)offs.host; // (R + 1)
    const float *sg = sigma.host, *cc = c.host, *nn = n.host;        // (P), (P, 3), (P, 3)
    const float *tdl = td.host, *ry = rays.host;                     // (P, 2), (R, 8)
    float *wo = w.host;                                              // (P)
#pragma omp parallel for schedule(static) if (cd->R > PAR_RAYS)
    for (int r = 0; r < cd->R; r++) {
        float T = 1.0f, A = 0.0f, dep = 0.0f, col[3] = {0, 0, 0};
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const float s = sg[i] * tdl[2 * (size_t)i + 1];
            const float wi = T * alpha_of(s);
            wo[i] = wi;
            A += wi;
            dep += wi * tdl[2 * (size_t)i];
            for (int k = 0; k < 3; k++) col[k] += wi * cc[3 * (size_t)i + k];
            T *= expf(-s);
        }
        for (int k = 0; k < 3; k++) rgb.host[3 * (size_t)r + k] = col[k];
        opacity.host[r] = A;
        depth.host[r] = A > 1e-6f ? dep / A : 0.0f;
        if (!nn) continue;
        // The second pass of the Vulkan body (normal map, orientation), from the weights.
        const float *d = ry + (size_t)r * VKD_NERF_RAY_STRIDE + 3;
        float orr = 0.0f, nm[3] = {0, 0, 0};
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const float *ni = nn + 3 * (size_t)i;
            const float nd = ni[0] * d[0] + ni[1] * d[1] + ni[2] * d[2];
            orr += wo[i] * (nd > 0.0f ? nd * nd : 0.0f);
            for (int k = 0; k < 3; k++) nm[k] += wo[i] * ni[k];
        }
        if (orient.host) orient.host[r] = orr;
        if (nmap.host) {
            const float len = sqrtf(nm[0] * nm[0] + nm[1] * nm[1] + nm[2] * nm[2]);
            for (int k = 0; k < 3; k++)
                nmap.host[3 * (size_t)r + k] = len > 1e-12f ? nm[k] / len : 0.0f;
        }
    }
    return VKD_OK;
}

vkd_status_t nerf_composite_backward_cpu(vkd_backend_t *be, vkd_buf_t dsigma, vkd_buf_t dc,
                                         vkd_buf_t dn, vkd_buf_t drgb, vkd_buf_t dopacity,
                                         vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n, vkd_buf_t w,
                                         vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                         const vkd_nerf_composite_t *cd) {
    (void)be, (void)P;
    const uint32_t *off = (const uint32_t *)(const void *)offs.host; // (R + 1)
    const float *sg = sigma.host, *cc = c.host, *nn = n.host;        // (P), (P, 3), (P, 3)
    const float *tdl = td.host, *ry = rays.host, *g3 = drgb.host;    // (P, 2), (R, 8), (R, 3)
    const float *wi_saved = w.host;                                  // (P)
    float *gs = dsigma.host, *gc = dc.host, *gn = dn.host;           // (P), (P, 3), (P, 3)
#pragma omp parallel for schedule(static) if (cd->R > PAR_RAYS)
    for (int r = 0; r < cd->R; r++) {
        const float *g = g3 + 3 * (size_t)r;
        // Pass 1: the totals (foreground colour, A, T_N) the gradients refer to.
        float T = 1.0f, A = 0.0f, fg[3] = {0, 0, 0};
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const float s = sg[i] * tdl[2 * (size_t)i + 1], wi = T * alpha_of(s);
            A += wi;
            for (int k = 0; k < 3; k++) fg[k] += wi * cc[3 * (size_t)i + k];
            T *= expf(-s);
        }
        const float TN = T;
        float dA = (dopacity.host ? dopacity.host[r] : 0.0f) + cd->lambda_opacity;
        if (cd->lambda_entropy != 0.0f && A > 1e-5f && A < 1.0f - 1e-5f)
            dA += cd->lambda_entropy * logf((1.0f - A) / A);
        // Pass 2: dL/ds_i = g . (T_{i+1} c_i - sum_{j>i} w_j c_j) + dA T_N (dA/ds_i = T_N).
        T = 1.0f;
        float pre[3] = {0, 0, 0};
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const float s = sg[i] * tdl[2 * (size_t)i + 1], wi = T * alpha_of(s);
            const float Tn = T * expf(-s);
            const float *ci = cc + 3 * (size_t)i;
            float ds = dA * TN;
            for (int k = 0; k < 3; k++) {
                pre[k] += wi * ci[k];
                ds += g[k] * (Tn * ci[k] - (fg[k] - pre[k]));
                gc[3 * (size_t)i + k] += wi * g[k];
            }
            gs[i] += tdl[2 * (size_t)i + 1] * ds;
            T = Tn;
        }
        if (!gn) continue;
        // Orientation: d/dn_i of lambda w_i max(0, n_i . d)^2 with w_i held constant.
        const float *d = ry + (size_t)r * VKD_NERF_RAY_STRIDE + 3;
        for (uint32_t i = off[r]; i < off[r + 1]; i++) {
            const float *ni = nn + 3 * (size_t)i;
            const float nd = ni[0] * d[0] + ni[1] * d[1] + ni[2] * d[2];
            if (nd > 0.0f) {
                const float k2 = 2.0f * cd->lambda_orient * wi_saved[i] * nd;
                for (int k = 0; k < 3; k++) gn[3 * (size_t)i + k] += k2 * d[k];
            }
        }
    }
    return VKD_OK;
}

vkd_status_t nerf_background_forward_cpu(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t fg,
                                         vkd_buf_t opacity, vkd_buf_t bg, int R, int per_ray) {
    (void)be;
    for (int r = 0; r < R; r++) {
        const float *b = bg.host + (per_ray ? 3 * (size_t)r : 0);
        const float tn = 1.0f - opacity.host[r];
        for (int k = 0; k < 3; k++)
            rgb.host[3 * (size_t)r + k] = fg.host[3 * (size_t)r + k] + tn * b[k];
    }
    return VKD_OK;
}

vkd_status_t nerf_background_backward_cpu(vkd_backend_t *be, vkd_buf_t dopacity, vkd_buf_t dbg,
                                          vkd_buf_t drgb, vkd_buf_t opacity, vkd_buf_t bg, int R,
                                          int per_ray) {
    (void)be;
    for (int r = 0; r < R; r++) {
        const float *b = bg.host + (per_ray ? 3 * (size_t)r : 0), *g = drgb.host + 3 * (size_t)r;
        dopacity.host[r] -= g[0] * b[0] + g[1] * b[1] + g[2] * b[2];
        if (dbg.host) {
            const float tn = 1.0f - opacity.host[r];
            for (int k = 0; k < 3; k++) dbg.host[3 * (size_t)r + k] += tn * g[k];
        }
    }
    return VKD_OK;
}

// ---- occupancy grid -------------------------------------------------------------------------

vkd_status_t nerf_grid_points_cpu(vkd_backend_t *be, vkd_buf_t x, int G, float bound, int jitter,
                                  uint64_t seed, uint64_t step, int cell0, int N) {
    (void)be;
    float *xo = x.host; // (N, 3)
    const float cs = 2.0f * bound / (float)G;
    const uint64_t stream = (uint64_t)VKD_NERF_GRID_STREAM | (step << 32);
#pragma omp parallel for schedule(static) if (N > 4096)
    for (int i = 0; i < N; i++) {
        const uint32_t id = (uint32_t)(cell0 + i);
        const uint32_t ci[3] = {id / ((uint32_t)G * G), (id / (uint32_t)G) % (uint32_t)G,
                                id % (uint32_t)G};
        for (int a = 0; a < 3; a++) {
            float u = 0.0f;
            if (jitter) {
                const uint64_t e = 3 * (uint64_t)id + (uint64_t)a;
                uint32_t wds[4];
                vkd_philox_block(seed, stream, e >> 2, wds);
                u = vkd_philox_uniform(wds[e & 3]) - 0.5f;
            }
            xo[3 * (size_t)i + a] = -bound + ((float)ci[a] + 0.5f + u) * cs;
        }
    }
    return VKD_OK;
}

vkd_status_t nerf_grid_update_cpu(vkd_backend_t *be, vkd_buf_t grid, vkd_buf_t sigma, int G,
                                  float bound, float decay, int cell0, int N) {
    (void)be;
    float *gr = grid.host;          // (G^3)
    const float *sg = sigma.host;   // (N)
    const float cs = 2.0f * bound / (float)G, half_diag = 0.8660254f * cs;
#pragma omp parallel for schedule(static) if (N > 4096)
    for (int i = 0; i < N; i++) {
        const uint32_t id = (uint32_t)(cell0 + i);
        const uint32_t ci[3] = {id / ((uint32_t)G * G), (id / (uint32_t)G) % (uint32_t)G,
                                id % (uint32_t)G};
        float r2 = 0.0f;
        for (int a = 0; a < 3; a++) {
            const float c = -bound + ((float)ci[a] + 0.5f) * cs;
            r2 += c * c;
        }
        const float old = decay * gr[id];
        const float v = sg[i] > old ? sg[i] : old;
        gr[id] = sqrtf(r2) - half_diag > bound ? 0.0f : v;
    }
    return VKD_OK;
}
