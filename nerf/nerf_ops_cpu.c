// CPU bodies of the per-point NeRF ops: IPE, tetrahedral probe points, density/albedo
// heads, finite-difference normals, shading. Plain loops over points, OpenMP across
// points when there are enough of them.
#include <math.h>
#include <string.h>

#include "nerf/nerf_ops_impl.h"
#include "ops.h"
#include "ops/activation.h"
#include "shading.h"

#define PAR_MIN 4096 // points below which threads cost more than they save

// ---- IPE -------------------------------------------------------------------------------------
// sin/cos of 2^l x come from one double sin and cos of x by angle doubling
// (sin 2a = 2 sin a cos a, cos 2a = cos^2 a - sin^2 a): 2 library calls per axis instead
// of 2L, and in double the doubling's error growth (2^L ulps) stays far below float
// precision, so these are the values of sin(2^l x) for the float x to float accuracy.

vkd_status_t nerf_ipe_forward_cpu(vkd_backend_t *be, vkd_buf_t feat, vkd_buf_t x, vkd_buf_t var,
                                  int P, int L, float var_add) {
    (void)be;
    float *f = feat.host;             // (P, 3 + 6L)
    const float *xp = x.host;         // (P, 3)
    const float *vp = var.host;       // (P) or NULL
    const int F = vkd_nerf_ipe_dim(L);
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        float *fr = f + (size_t)p * F;
        const double v = (double)(vp ? vp[p] : 0.0f) + var_add;
        for (int a = 0; a < 3; a++) {
            const double xa = xp[3 * (size_t)p + a];
            double s = sin(xa), c = cos(xa), e4 = 1.0;
            fr[a] = (float)xa;
            for (int l = 0; l < L; l++) {
                const double att = exp(-0.5 * e4 * v);
                fr[3 + 3 * l + a] = (float)(s * att);
                fr[3 + 3 * L + 3 * l + a] = (float)(c * att);
                const double s2 = 2.0 * s * c, c2 = c * c - s * s;
                s = s2, c = c2, e4 *= 4.0;
            }
        }
    }
    return VKD_OK;
}

vkd_status_t nerf_ipe_backward_cpu(vkd_backend_t *be, vkd_buf_t dx, vkd_buf_t dfeat, vkd_buf_t x,
                                   vkd_buf_t var, int P, int L, float var_add) {
    (void)be;
    float *g = dx.host;               // (P, 3)
    const float *df = dfeat.host;     // (P, 3 + 6L)
    const float *xp = x.host;         // (P, 3)
    const float *vp = var.host;       // (P) or NULL
    const int F = vkd_nerf_ipe_dim(L);
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        const float *dr = df + (size_t)p * F;
        const double v = (double)(vp ? vp[p] : 0.0f) + var_add;
        for (int a = 0; a < 3; a++) {
            const double xa = xp[3 * (size_t)p + a];
            double s = sin(xa), c = cos(xa), e4 = 1.0, fr = 1.0, acc = dr[a];
            for (int l = 0; l < L; l++) {
                const double att = exp(-0.5 * e4 * v);
                // d/dx sin(2^l x) = 2^l cos(2^l x), d/dx cos(2^l x) = -2^l sin(2^l x)
                acc += fr * att * (dr[3 + 3 * l + a] * c - dr[3 + 3 * L + 3 * l + a] * s);
                const double s2 = 2.0 * s * c, c2 = c * c - s * s;
                s = s2, c = c2, e4 *= 4.0, fr *= 2.0;
            }
            g[3 * (size_t)p + a] += (float)acc;
        }
    }
    return VKD_OK;
}

// ---- tetrahedral points -------------------------------------------------------------------

vkd_status_t nerf_tetra_points_cpu(vkd_backend_t *be, vkd_buf_t xt, vkd_buf_t vt, vkd_buf_t x,
                                   vkd_buf_t var, int P, float h) {
    (void)be;
    float *xo = xt.host, *vo = vt.host;             // (P, 4, 3), (P, 4)
    const float *xi = x.host, *vi = var.host;       // (P, 3), (P)
#pragma omp parallel for schedule(static) if (P > 4 * PAR_MIN)
    for (int p = 0; p < P; p++)
        for (int k = 0; k < 4; k++) {
            for (int a = 0; a < 3; a++)
                xo[12 * (size_t)p + 3 * k + a] = xi[3 * (size_t)p + a] + h * VKD_NERF_TETRA[k][a];
            vo[4 * (size_t)p + k] = vi[p];
        }
    return VKD_OK;
}

// ---- heads ----------------------------------------------------------------------------------

// The density pre-activation: raw + lambda exp(-|x|^2 / (2 s^2)).
static inline float density_pre(const float *raw4, const float *x3, const vkd_nerf_heads_t *hd) {
    const float r2 = x3[0] * x3[0] + x3[1] * x3[1] + x3[2] * x3[2];
    return raw4[0] + hd->blob_lambda * vkd_expf(-r2 / (2.0f * hd->blob_sigma * hd->blob_sigma));
}

vkd_status_t nerf_heads_forward_cpu(vkd_backend_t *be, vkd_buf_t sigma, vkd_buf_t rho,
                                    vkd_buf_t raw, vkd_buf_t x, int P, const vkd_nerf_heads_t *hd) {
    (void)be;
    float *sg = sigma.host, *rh = rho.host;         // (P), (P, 3) or NULL
    const float *rw = raw.host, *xp = x.host;       // (P, 4), (P, 3)
    const int is_exp = hd->act == VKD_ACT_EXP;
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        const float pre = density_pre(rw + 4 * (size_t)p, xp + 3 * (size_t)p, hd);
        const float act = is_exp ? vkd_expf(pre < VKD_NERF_EXP_MAX ? pre : VKD_NERF_EXP_MAX)
                                 : vkd_softplusf(pre);
        sg[p] = hd->pre_only ? pre : act;
        if (rh)
            for (int k = 0; k < 3; k++) rh[3 * (size_t)p + k] = vkd_sigmoidf(rw[4 * (size_t)p + 1 + k]);
    }
    return VKD_OK;
}

vkd_status_t nerf_heads_backward_cpu(vkd_backend_t *be, vkd_buf_t draw, vkd_buf_t dsigma,
                                     vkd_buf_t drho, vkd_buf_t raw, vkd_buf_t x, int P,
                                     const vkd_nerf_heads_t *hd) {
    (void)be;
    float *dr = draw.host;                                  // (P, 4)
    const float *ds = dsigma.host, *dh = drho.host;         // (P) or NULL, (P, 3) or NULL
    const float *rw = raw.host, *xp = x.host;               // (P, 4), (P, 3)
    const int is_exp = hd->act == VKD_ACT_EXP;
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        const float *r4 = rw + 4 * (size_t)p;
        if (ds) {
            const float pre = density_pre(r4, xp + 3 * (size_t)p, hd);
            const float d = is_exp ? vkd_expf(pre < VKD_NERF_EXP_MAX ? pre : VKD_NERF_EXP_MAX)
                                   : vkd_act_bwd(VKD_ACT_SOFTPLUS, pre);
            dr[4 * (size_t)p] += hd->pre_only ? ds[p] : ds[p] * d;
        }
        if (dh)
            for (int k = 0; k < 3; k++) {
                float sm;
                const float s = vkd_sigmoid2f(r4[1 + k], &sm);
                dr[4 * (size_t)p + 1 + k] += dh[3 * (size_t)p + k] * (s * sm);
            }
    }
    return VKD_OK;
}

// ---- normals --------------------------------------------------------------------------------

static inline void tetra_grad(const float *t4, float h, float g[3]) {
    const float inv = 1.0f / (4.0f * h);
    for (int a = 0; a < 3; a++)
        g[a] = (VKD_NERF_TETRA[0][a] * t4[0] + VKD_NERF_TETRA[1][a] * t4[1] +
                VKD_NERF_TETRA[2][a] * t4[2] + VKD_NERF_TETRA[3][a] * t4[3]) * inv;
}

vkd_status_t nerf_normal_forward_cpu(vkd_backend_t *be, vkd_buf_t n, vkd_buf_t tau4, int P, float h,
                                     float eps) {
    (void)be;
    float *no = n.host;              // (P, 3)
    const float *t4 = tau4.host;     // (P, 4)
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        float g[3];
        tetra_grad(t4 + 4 * (size_t)p, h, g);
        const float inv = 1.0f / sqrtf(g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + eps * eps);
        for (int a = 0; a < 3; a++) no[3 * (size_t)p + a] = -g[a] * inv;
    }
    return VKD_OK;
}

vkd_status_t nerf_normal_backward_cpu(vkd_backend_t *be, vkd_buf_t dtau4, vkd_buf_t dn,
                                      vkd_buf_t tau4, int P, float h, float eps) {
    (void)be;
    float *dt = dtau4.host;                          // (P, 4)
    const float *dno = dn.host, *t4 = tau4.host;     // (P, 3), (P, 4)
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        float g[3];
        tetra_grad(t4 + 4 * (size_t)p, h, g);
        const float *d = dno + 3 * (size_t)p;
        const float r2 = g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + eps * eps;
        const float inv = 1.0f / sqrtf(r2), gd = g[0] * d[0] + g[1] * d[1] + g[2] * d[2];
        // n = -g / r, r = sqrt(|g|^2 + eps^2): dL/dg = -(dn - g (g . dn) / r^2) / r
        float dg[3];
        for (int a = 0; a < 3; a++) dg[a] = -(d[a] - g[a] * gd / r2) * inv;
        const float s = 1.0f / (4.0f * h);
        for (int k = 0; k < 4; k++)
            dt[4 * (size_t)p + k] += (VKD_NERF_TETRA[k][0] * dg[0] + VKD_NERF_TETRA[k][1] * dg[1] +
                                      VKD_NERF_TETRA[k][2] * dg[2]) * s;
    }
    return VKD_OK;
}

// ---- shading --------------------------------------------------------------------------------

vkd_status_t nerf_shade_forward_cpu(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t rho, vkd_buf_t n,
                                    vkd_buf_t x, int P, const vkd_nerf_shade_t *sh) {
    (void)be;
    float *co = c.host;                                      // (P, 3)
    const float *rh = rho.host, *no = n.host, *xp = x.host;  // (P, 3) each; n may be NULL
    vkd_light_t light;
    memcpy(light.pos, sh->light, sizeof light.pos);
    light.diffuse = sh->diffuse, light.ambient = sh->ambient;
    static const float zero[3] = {0, 0, 0};
    const vkd_shade_mode_t mode = (vkd_shade_mode_t)sh->mode;
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        const size_t i = 3 * (size_t)p;
        vkd_shade(mode, &light, rh + i, no ? no + i : zero, xp + i, co + i);
    }
    return VKD_OK;
}

vkd_status_t nerf_shade_backward_cpu(vkd_backend_t *be, vkd_buf_t drho, vkd_buf_t dn, vkd_buf_t dc,
                                     vkd_buf_t rho, vkd_buf_t n, vkd_buf_t x, int P,
                                     const vkd_nerf_shade_t *sh) {
    (void)be;
    float *dr = drho.host, *dno = dn.host;                        // (P, 3) or NULL each
    const float *g = dc.host, *rh = rho.host, *no = n.host, *xp = x.host; // (P, 3) each
    const int mode = sh->mode;
#pragma omp parallel for schedule(static) if (P > PAR_MIN)
    for (int p = 0; p < P; p++) {
        const size_t i = 3 * (size_t)p;
        if (mode == VKD_SHADE_ALBEDO) {
            for (int k = 0; k < 3; k++) dr[i + k] += g[i + k];
            continue;
        }
        // Same operations as vkd_shade, so the branch taken matches the forward's.
        const float lx = sh->light[0] - xp[i], ly = sh->light[1] - xp[i + 1],
                    lz = sh->light[2] - xp[i + 2];
        const float len = sqrtf(lx * lx + ly * ly + lz * lz);
        const float ndl = len > 0.0f ? (no[i] * lx + no[i + 1] * ly + no[i + 2] * lz) / len : 0.0f;
        const float k = sh->diffuse * (ndl > 0.0f ? ndl : 0.0f) + sh->ambient;
        float dk;
        if (mode == VKD_SHADE_TEXTURELESS) {
            dk = g[i] + g[i + 1] + g[i + 2];
        } else {
            dk = g[i] * rh[i] + g[i + 1] * rh[i + 1] + g[i + 2] * rh[i + 2];
            if (dr)
                for (int j = 0; j < 3; j++) dr[i + j] += g[i + j] * k;
        }
        if (dno && ndl > 0.0f) {
            const float s = dk * sh->diffuse / len;
            dno[i] += s * lx, dno[i + 1] += s * ly, dno[i + 2] += s * lz;
        }
    }
    return VKD_OK;
}
