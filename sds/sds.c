// The SDS gradient of an image batch, on the host; see sds.h. At the bundled priors' sizes
// (3 x 32 x 32 per image) everything here is a few passes over a few thousand floats, far
// less than the prior's forward.
#include "sds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

vkd_sds_opts_t vkd_sds_opts_default(void) {
    vkd_sds_opts_t o;
    memset(&o, 0, sizeof o);
    o.guidance.scale = 20.0f;
    o.guidance.convention = VKD_CFG_LDM;
    o.t_min = 0.02f;
    o.t_max = 0.98f;
    o.weighting = VKD_SDS_W_SDS;
    o.grad_clip = 0.0f;
    o.seed = 0;
    return o;
}

void vkd_normal_host(float *out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
    // Element i of the draw is word (offset + i) % 4 of block (offset + i) / 4; words 0, 1
    // and 2, 3 are Box-Muller pairs (cos, sin).
    uint64_t cur = UINT64_MAX;
    float v[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const uint64_t e = offset + i, blk = e / 4;
        if (blk != cur) {
            uint32_t w[4];
            vkd_philox_block(seed, stream, blk, w);
            vkd_philox_box_muller(w[0], w[1], &v[0], &v[1]);
            vkd_philox_box_muller(w[2], w[3], &v[2], &v[3]);
            cur = blk;
        }
        out[i] = v[e % 4];
    }
}

double vkd_sds_weight(const vkd_prior_t *p, vkd_sds_weighting_t w, int t) {
    const double a = vkd_prior_abar(p, t);
    switch (w) {
    case VKD_SDS_W_UNIFORM: return 1.0;
    case VKD_SDS_W_FANTASIA3D: return sqrt(a) * (1.0 - a);
    case VKD_SDS_W_SDS:
    default: return 1.0 - a;
    }
}

static vkd_status_t check_opts(const vkd_prior_t *p, const vkd_sds_opts_t *o) {
    if (!p || !o) return vkd_fail(VKD_ERR_INVALID, "SDS: NULL prior or options");
    if (!(o->t_min >= 0.0f && o->t_min <= o->t_max && o->t_max <= 1.0f))
        return vkd_fail(VKD_ERR_INVALID,
                        "SDS: t range [%g, %g] must satisfy 0 <= t_min <= t_max <= 1 (fractions "
                        "of T)", (double)o->t_min, (double)o->t_max);
    if ((unsigned)o->weighting > VKD_SDS_W_FANTASIA3D)
        return vkd_fail(VKD_ERR_INVALID, "SDS: unknown weighting %d", (int)o->weighting);
    if (!(o->grad_clip >= 0.0f))
        return vkd_fail(VKD_ERR_INVALID, "SDS: grad_clip %g must be >= 0 (0 = off)",
                        (double)o->grad_clip);
    const vkd_prior_info_t *in = vkd_prior_info(p);
    if ((size_t)in->channels * in->height * in->width > VKD_SDS_MAX_ELEMENTS)
        return vkd_fail(VKD_ERR_INVALID, "SDS: images of %dx%dx%d exceed 2^26 elements",
                        in->channels, in->height, in->width);
    return VKD_OK;
}

vkd_status_t vkd_sds_draw(const vkd_prior_t *p, const vkd_sds_opts_t *o, uint64_t step, int b,
                          int *t, float *eps) {
    VKD_TRY(check_opts(p, o));
    if (b < 0 || !t) return vkd_fail(VKD_ERR_INVALID, "SDS: bad image index %d or NULL t", b);
    const int T = vkd_prior_schedule(p)->T;
    long lo = lround((double)o->t_min * T), hi = lround((double)o->t_max * T);
    if (lo > T - 1) lo = T - 1;
    if (hi > T - 1) hi = T - 1;
    uint32_t w[4];
    vkd_philox_block(o->seed, (uint64_t)VKD_SDS_T_STREAM | ((uint64_t)b << 32), step, w);
    long tt = lo + (long)floor((double)vkd_philox_uniform(w[0]) * (double)(hi - lo + 1));
    *t = (int)(tt > hi ? hi : tt);
    if (eps) {
        const vkd_prior_info_t *in = vkd_prior_info(p);
        const size_t n = (size_t)in->channels * in->height * in->width;
        vkd_normal_host(eps, n, o->seed, (uint64_t)VKD_SDS_EPS_STREAM | ((uint64_t)b << 32),
                        step << 26);
    }
    return VKD_OK;
}

vkd_status_t vkd_sds_grad(vkd_prior_t *p, float *grad, const float *x, int B,
                          const vkd_prior_cond_t *const *cond,
                          const vkd_prior_cond_t *const *uncond, const vkd_sds_opts_t *o,
                          uint64_t step, int *t_out, vkd_sds_stats_t *stats) {
    VKD_TRY(check_opts(p, o));
    if (!grad || !x || !cond || B < 1)
        return vkd_fail(VKD_ERR_INVALID, "SDS: NULL array or batch %d < 1", B);
    const double s = vkd_cfg_ldm_scale(&o->guidance);
    if (!uncond && s != 1.0)
        return vkd_fail(VKD_ERR_INVALID, "SDS: guidance %g needs unconditional (or negative) "
                        "conditions", (double)o->guidance.scale);
    if (step > (UINT64_MAX >> 26))
        return vkd_fail(VKD_ERR_INVALID, "SDS: step %llu is too large", (unsigned long long)step);
    const vkd_prior_info_t *in = vkd_prior_info(p);
    const size_t n = (size_t)in->channels * in->height * in->width, bn = (size_t)B * n;
    // (B, C, H, W) each: eps, the prior-range image (then its Jacobian), z_t, eps^.
    float *buf = malloc(sizeof(float) * 4 * bn);
    int *t = malloc(sizeof(int) * (size_t)B);
    vkd_status_t st = buf && t ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "SDS: out of host memory");
    float *eps = buf, *y = buf + bn, *z = buf + 2 * bn, *eh = buf + 3 * bn;
    for (int b = 0; st == VKD_OK && b < B; b++) {
        st = vkd_sds_draw(p, o, step, b, &t[b], eps + b * n);
        if (st != VKD_OK) break;
        vkd_prior_to_range(p, y + b * n, x + b * n, n);
        st = vkd_q_sample(z + b * n, y + b * n, eps + b * n, n, vkd_prior_abar(p, t[b]));
    }
    if (st == VKD_OK)
        st = uncond ? vkd_prior_predict_cfg(p, eh, NULL, NULL, z, t, cond, uncond, B, &o->guidance)
                    : vkd_prior_predict(p, eh, z, t, cond, B);
    if (st == VKD_OK) {
        vkd_prior_range_jacobian(p, y, x, bn); // y now holds dy/dx
        int nonfinite = 0, clipped = 0;
        double loss = 0.0, wsum = 0.0;
        const float c = o->grad_clip;
        for (int b = 0; b < B; b++) {
            const double w = vkd_sds_weight(p, o->weighting, t[b]);
            wsum += w;
            for (size_t i = (size_t)b * n; i < (size_t)(b + 1) * n; i++) {
                float g = (float)(w * ((double)eh[i] - (double)eps[i]));
                if (!isfinite(g)) g = 0.0f, nonfinite++;
                if (c > 0.0f && (g > c || g < -c)) g = g > c ? c : -c, clipped++;
                loss += 0.5 * (double)g * (double)g;
                grad[i] = g * y[i];
            }
            if (t_out) t_out[b] = t[b];
        }
        if (stats) {
            stats->n_nonfinite = nonfinite;
            stats->n_clipped = clipped;
            stats->loss = loss / B;
            stats->mean_w = wsum / B;
        }
    }
    free(buf), free(t);
    return st;
}
