// The oracle prior: the exact posterior-mean denoiser of a finite image set per prompt.
//
// If the data distribution of a prompt is uniform over images x_1..x_N, then for
// z = sqrt(a) x0 + sqrt(1 - a) eps (a = abar_t) the posterior over which image was noised is
//   p(i | z) = softmax_i(-|z - sqrt(a) x_i|^2 / (2 (1 - a))),
// the optimal (MMSE) denoiser is x0_hat = sum_i p(i | z) x_i, and the matching noise
// prediction is eps_hat = (z - sqrt(a) x0_hat) / sqrt(1 - a) = E[eps | z]. A diffusion model
// trained to convergence on that set would predict exactly this, so it needs no training
// and is the test fixture of sampling and SDS: DDIM with it lands on a training image, and
// E over (x0 from the set, eps) of eps_hat - eps is zero at every t.
//
// Image sets (all renders by the analytic ShapeWorld renderer, linear RGB over the fixed
// background, sRGB-encoded when the options say so, mapped to the prior's range):
// - Object o has one endless sequence of candidate views c = 0, 1, 2, ...: camera
//   vkd_camera_sample(dist, seed, step c, index o), light vkd_light_sample(same keys),
//   shading mode per view (see below). Nothing else is drawn, so the sets are reproducible.
// - "a red cube" (no view suffix): the first `views` candidates of the red cube.
// - "a red cube, side view": the first `views` candidates whose view bin is side (the same
//   sequence filtered, so it shares its images with the set above where they overlap).
// - The unconditional set: the first `uncond_views` candidates of EVERY object (48 objects
//   x 16 = 768 images by default), each object equally weighted. A subset rather than all
//   views of all objects keeps it fast; the first uncond_views views of an object are also
//   in that object's conditional set, so uncond and cond agree where they should.
// - Shading "mixed" draws per candidate what SDS renders after its albedo warm-up
//   (vkd_shade_schedule_default: lit with p_lit, of which textureless with p_textureless,
//   else albedo) from Philox stream VKD_ORACLE_SHADE_STREAM + o * 2^32, block c; "lit" and
//   "albedo" render every view in that mode. The oracle is then the prior of exactly the
//   renders SDS produces for the right object.
//
// Numerics: squared distances and the log-sum-exp are in double, with the maximum logit
// subtracted before exp; terms whose weight is below 1e-18 of the largest are skipped in
// the weighted sum (they cannot change a double result by more than its rounding).
// Queries of a large batch run in parallel (OpenMP), each in its own scratch.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "philox.h"
#include "prior_impl.h"
#include "shapeworld.h"

#define VKD_ORACLE_SHADE_STREAM 0x4f524353u // "ORCS"
#define N_OBJECTS (VKD_SW_N_SHAPES * VKD_SW_N_COLOURS)
#define PAR_MIN_WORK ((size_t)1 << 22) // pixel-image products of a batch worth threads

typedef struct {
    vkd_oracle_opts_t o;
} oracle_t;

typedef struct {
    int n;          // images in the set
    int all;        // 1: the unconditional union
    vkd_sw_object_t obj;
    vkd_view_bin_t bin;
    float *images;  // (n, 3, R, R) in the prior's range
} oracle_cond_t;

static vkd_shade_mode_t view_shading(const vkd_oracle_opts_t *o, int object, uint64_t cand) {
    if (o->shading == VKD_ORACLE_SHADE_LIT) return VKD_SHADE_LIT;
    if (o->shading == VKD_ORACLE_SHADE_ALBEDO) return VKD_SHADE_ALBEDO;
    const vkd_shade_schedule_t s = vkd_shade_schedule_default();
    uint32_t w[4];
    vkd_philox_block(o->seed, (uint64_t)VKD_ORACLE_SHADE_STREAM | ((uint64_t)object << 32), cand, w);
    if (vkd_philox_uniform(w[0]) >= s.p_lit) return VKD_SHADE_ALBEDO;
    return vkd_philox_uniform(w[1]) < s.p_textureless ? VKD_SHADE_TEXTURELESS : VKD_SHADE_LIT;
}

typedef struct {
    vkd_sw_object_t obj;
    int object; // o = shape * N_COLOURS + colour
    uint64_t cand;
} view_job_t;

// Appends the first `count` candidates of object `obj` in bin `bin` (VKD_VIEW_NONE: all) to
// jobs. Only cameras are drawn here; rendering happens in parallel afterwards.
static vkd_status_t pick_views(const vkd_oracle_opts_t *o, vkd_sw_object_t obj, vkd_view_bin_t bin,
                               int count, view_job_t *jobs) {
    const int object = (int)obj.shape * VKD_SW_N_COLOURS + (int)obj.colour;
    const uint64_t max_cand = (uint64_t)count * 1000 + 10000;
    int got = 0;
    for (uint64_t c = 0; got < count && c < max_cand; c++) {
        if (bin != VKD_VIEW_NONE) {
            vkd_camera_t cam;
            VKD_TRY(vkd_camera_sample(&o->camera, o->seed, c, (uint32_t)object, o->res, o->res, &cam));
            if (vkd_camera_view_bin(&cam) != bin) continue;
        }
        jobs[got++] = (view_job_t){obj, object, c};
    }
    if (got < count)
        return vkd_fail(VKD_ERR_INVALID,
                        "oracle prior: the camera distribution (elevation %g..%g, azimuth %g..%g) "
                        "almost never gives %s %s view; drop the view suffix or widen the "
                        "camera ranges",
                        (double)o->camera.elev_min_deg, (double)o->camera.elev_max_deg,
                        (double)o->camera.azim_min_deg, (double)o->camera.azim_max_deg,
                        bin == VKD_VIEW_OVERHEAD ? "an" : "a", vkd_view_name(bin));
    return VKD_OK;
}

// Renders jobs[0..n) into images (n, 3, R, R), mapped to the prior's range.
static vkd_status_t render_views(const vkd_oracle_opts_t *o, const view_job_t *jobs, int n,
                                 float *images) {
    const int R = o->res;
    const size_t D = (size_t)3 * R * R;
    int failed = -1;
#pragma omp parallel if (n >= 16)
    {
        float *rgb = malloc(sizeof(float) * D); // (R, R, 3)
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < n; i++) {
            vkd_camera_t cam;
            vkd_light_t L;
            const view_job_t *j = &jobs[i];
            const vkd_render_out_t out = {rgb, NULL, NULL, NULL};
            int ok = rgb && vkd_camera_sample(&o->camera, o->seed, j->cand, (uint32_t)j->object, R, R,
                                              &cam) == VKD_OK;
            ok = ok && vkd_light_sample(&cam, o->camera.scale, o->seed, j->cand, (uint32_t)j->object,
                                        &L) == VKD_OK;
            ok = ok && vkd_sw_render(j->obj, &cam, view_shading(o, j->object, j->cand), &L,
                                     o->supersample, &out) == VKD_OK;
            if (!ok) {
#pragma omp critical
                failed = i;
                continue;
            }
            float *dst = images + (size_t)i * D;
            const float lo = o->range_lo, d = o->range_hi - o->range_lo;
            const int srgb = o->encoding == VKD_ENC_SRGB;
            for (int ch = 0; ch < 3; ch++)
                for (int p = 0; p < R * R; p++) {
                    const float v = rgb[3 * p + ch];
                    dst[(size_t)ch * R * R + p] = lo + d * (srgb ? vkd_srgb_encode(v) : v);
                }
        }
        free(rgb);
    }
    if (failed >= 0)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: rendering view %d failed (out of memory or "
                        "a bad camera distribution)", failed);
    return VKD_OK;
}

static vkd_status_t oracle_encode(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t *c) {
    const vkd_oracle_opts_t *o = &((oracle_t *)p->impl)->o;
    oracle_cond_t *oc = calloc(1, sizeof *oc);
    if (!oc) return vkd_fail(VKD_ERR_NOMEM, "oracle prior: out of host memory");
    c->impl = oc;
    if (prompt) {
        vkd_status_t s = vkd_sw_parse(prompt, &oc->obj, &oc->bin);
        if (s != VKD_OK)
            return vkd_fail_ctx(s, "the oracle prior knows only ShapeWorld captions");
        oc->n = o->views;
    } else {
        oc->all = 1;
        oc->bin = VKD_VIEW_NONE;
        oc->n = N_OBJECTS * o->uncond_views;
    }
    const size_t D = (size_t)3 * o->res * o->res;
    view_job_t *jobs = malloc(sizeof(view_job_t) * (size_t)oc->n);
    oc->images = malloc(sizeof(float) * D * (size_t)oc->n);
    vkd_status_t s = jobs && oc->images ? VKD_OK
                                         : vkd_fail(VKD_ERR_NOMEM, "oracle prior: %d images of %dx%d "
                                                    "do not fit in host memory", oc->n, o->res, o->res);
    if (s == VKD_OK && !oc->all) s = pick_views(o, oc->obj, oc->bin, oc->n, jobs);
    for (int k = 0; s == VKD_OK && oc->all && k < N_OBJECTS; k++) {
        const vkd_sw_object_t obj = {(vkd_sw_shape_t)(k / VKD_SW_N_COLOURS),
                                     (vkd_sw_colour_t)(k % VKD_SW_N_COLOURS)};
        s = pick_views(o, obj, VKD_VIEW_NONE, o->uncond_views, jobs + (size_t)k * o->uncond_views);
    }
    if (s == VKD_OK) s = render_views(o, jobs, oc->n, oc->images);
    free(jobs);
    return s;
}

static void oracle_cond_free(vkd_prior_cond_t *c) {
    oracle_cond_t *oc = c->impl;
    if (oc) free(oc->images);
    free(oc);
    c->impl = NULL;
}

// x0_hat (D) in double for query z (D) against set X (N, D); logits (N) is scratch and
// ends up holding the normalised weights.
static void posterior_mean(const float *X, int N, size_t D, const float *z, double a,
                           double *logits, double *x0) {
    const double sa = sqrt(a), inv = 1.0 / (2.0 * (1.0 - a));
    double m = -INFINITY;
    for (int i = 0; i < N; i++) {
        const float *x = X + (size_t)i * D;
        double d2 = 0.0;
        for (size_t k = 0; k < D; k++) {
            const double r = (double)z[k] - sa * (double)x[k];
            d2 += r * r;
        }
        logits[i] = -d2 * inv;
        if (logits[i] > m) m = logits[i];
    }
    double sum = 0.0;
    for (int i = 0; i < N; i++) sum += (logits[i] = exp(logits[i] - m));
    for (size_t k = 0; k < D; k++) x0[k] = 0.0;
    for (int i = 0; i < N; i++) {
        const double w = logits[i] / sum;
        logits[i] = w;
        if (w < 1e-18 / sum) continue; // below 1e-18 of the largest term (which has weight 1/sum)
        const float *x = X + (size_t)i * D;
        for (size_t k = 0; k < D; k++) x0[k] += w * (double)x[k];
    }
}

static vkd_status_t oracle_predict(vkd_prior_t *p, float *out, const float *x_t, const int *t,
                                   const vkd_prior_cond_t *const *cond, int B) {
    const size_t D = (size_t)3 * p->info.height * p->info.width;
    // Threads only pay off for milliseconds of work: waking them costs more than a small
    // batch (and much more on a loaded machine).
    size_t work = 0;
    for (int b = 0; b < B; b++) work += (size_t)((const oracle_cond_t *)cond[b]->impl)->n * D;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 1) if (B > 1 && work > PAR_MIN_WORK)
    for (int b = 0; b < B; b++) {
        const oracle_cond_t *oc = cond[b]->impl;
        double *logits = malloc(sizeof(double) * ((size_t)oc->n + D));
        if (!logits) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        double *x0 = logits + oc->n;
        const double a = vkd_prior_abar(p, t[b]);
        const float *z = x_t + (size_t)b * D;
        posterior_mean(oc->images, oc->n, D, z, a, logits, x0);
        const double sa = sqrt(a), rs = 1.0 / sqrt(1.0 - a);
        for (size_t k = 0; k < D; k++) out[(size_t)b * D + k] = (float)(((double)z[k] - sa * x0[k]) * rs);
        free(logits);
    }
    if (failed) return vkd_fail(VKD_ERR_NOMEM, "oracle prior: out of host memory");
    return VKD_OK;
}

static void oracle_destroy(vkd_prior_t *p) {
    free(p->impl);
    p->impl = NULL;
}

static const vkd_prior_ops_t ORACLE_OPS = {oracle_encode, oracle_cond_free, oracle_predict,
                                           oracle_destroy};

vkd_status_t vkd_oracle_init(vkd_prior_t *p, const vkd_oracle_opts_t *o) {
    if (o->res < 8 || o->res > 256)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: image size %d outside [8, 256]", o->res);
    if (o->views < 1 || o->views > 4096)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: views %d outside [1, 4096]", o->views);
    if (o->uncond_views < 1 || o->uncond_views > o->views)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: uncond_views %d outside [1, views = %d]",
                        o->uncond_views, o->views);
    if (o->supersample < 1 || o->supersample > 8)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: supersample %d outside [1, 8]",
                        o->supersample);
    if ((unsigned)o->shading > VKD_ORACLE_SHADE_ALBEDO)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: unknown shading %d", (int)o->shading);
    VKD_TRY(vkd_camera_dist_check(&o->camera));
    oracle_t *impl = malloc(sizeof *impl);
    if (!impl) return vkd_fail(VKD_ERR_NOMEM, "oracle prior: out of host memory");
    impl->o = *o;
    p->impl = impl;
    p->ops = &ORACLE_OPS;
    return VKD_OK;
}

vkd_status_t vkd_oracle_cond_images(const vkd_prior_cond_t *c, const float **images, int *n) {
    if (!c || !c->owner || c->owner->info.kind != VKD_PRIOR_ORACLE || !c->impl)
        return vkd_fail(VKD_ERR_INVALID, "vkd_oracle_cond_images: not a condition of an oracle prior");
    const oracle_cond_t *oc = c->impl;
    *images = oc->images;
    *n = oc->n;
    return VKD_OK;
}

vkd_status_t vkd_oracle_posterior_mean(const vkd_prior_t *p, const vkd_prior_cond_t *c,
                                       const float *z, int t, float *x0_hat, double *weights) {
    if (!p || !c || c->owner != p || p->info.kind != VKD_PRIOR_ORACLE || !z || !x0_hat)
        return vkd_fail(VKD_ERR_INVALID, "vkd_oracle_posterior_mean: bad argument");
    if (t < 0 || t >= p->sched.T)
        return vkd_fail(VKD_ERR_INVALID, "vkd_oracle_posterior_mean: t = %d outside [0, %d)", t,
                        p->sched.T);
    const oracle_cond_t *oc = c->impl;
    const size_t D = (size_t)3 * p->info.height * p->info.width;
    double *buf = malloc(sizeof(double) * ((size_t)oc->n + D));
    if (!buf) return vkd_fail(VKD_ERR_NOMEM, "oracle prior: out of host memory");
    posterior_mean(oc->images, oc->n, D, z, vkd_prior_abar(p, t), buf, buf + oc->n);
    for (size_t k = 0; k < D; k++) x0_hat[k] = (float)buf[oc->n + k];
    if (weights) memcpy(weights, buf, sizeof(double) * (size_t)oc->n);
    free(buf);
    return VKD_OK;
}
