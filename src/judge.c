// The ShapeWorld judge: the bank of described renders and nearest-neighbour shape calls.
// See judge.h for the method.
#include "judge.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "judge_impl.h"

#define BANK_RES 32 // the resolution of the ShapeWorld prior and its training data

struct vkd_judge {
    judge_rays_t rays;
    int n;               // bank entries
    float *feat;         // (n, JUDGE_FEAT)
    unsigned char *shape; // (n) vkd_sw_shape_t of each entry
};

vkd_judge_opts_t vkd_judge_opts_default(void) {
    vkd_judge_opts_t o = {1200, 2, 0};
    return o;
}

vkd_status_t vkd_judge_create(uint64_t seed, vkd_judge_t **out) {
    const vkd_judge_opts_t o = vkd_judge_opts_default();
    return vkd_judge_create_ex(seed, &o, out);
}

#define PER_VIEW 4 // bank entries per view: textureless, albedo, and both mirrored

// A description mirrored left-right. Every ShapeWorld shape is symmetric under x -> -x and
// the camera and light distributions are symmetric in azimuth, so the mirror image of a
// view is another view of the same distribution: twice the bank for no rendering.
static void mirror(const float *f, float *out) {
    memcpy(out, f, sizeof(float) * JUDGE_FEAT);
    for (int m = 0; m < 2; m++)
        for (int v = 0; v < JUDGE_G; v++)
            for (int u = 0; u < JUDGE_G; u++)
                out[(m * JUDGE_G + v) * JUDGE_G + u] = f[(m * JUDGE_G + v) * JUDGE_G + JUDGE_G - 1 - u];
}

// Bank entries PER_VIEW i .. PER_VIEW i + 3 of view i of shape s.
static vkd_status_t bank_view(vkd_judge_t *j, uint64_t seed, int supersample, int s, int i,
                              int views, float *rgb, float *opacity) {
    vkd_camera_dist_t dist = vkd_camera_dist_shapeworld();
    // The last quarter of the views look from above 60 degrees elevation: there a cylinder
    // or cone differs from a sphere only by a thin rim or the shading of a flat top, so
    // those views need a denser bank than the distribution's ~15% share gives them.
    if (i >= views - views / 4) dist.elev_min_deg = 60.0f;
    vkd_camera_t cam;
    vkd_light_t L;
    // Colours only tint the albedo entry (the textureless render ignores them); cycling
    // them keeps the bank's colour judgements as varied as the images it will meet.
    const vkd_sw_object_t obj = {(vkd_sw_shape_t)s, (vkd_sw_colour_t)(i % VKD_SW_N_COLOURS)};
    const vkd_render_out_t r = {rgb, opacity, NULL, NULL};
    VKD_TRY(vkd_camera_sample(&dist, seed, (uint64_t)i, (uint32_t)s, BANK_RES, BANK_RES, &cam));
    VKD_TRY(vkd_light_sample(&cam, dist.scale, seed, (uint64_t)i, (uint32_t)s, &L));
    VKD_TRY(vkd_sw_render(obj, &cam, VKD_SHADE_TEXTURELESS, &L, supersample, &r));
    const size_t e = PER_VIEW * ((size_t)s * views + i);
    vkd_judge_verdict_t v;
    static const float white[3] = {1, 1, 1};
    VKD_TRY(judge_describe(&j->rays, rgb, BANK_RES, BANK_RES, white, j->feat + e * JUDGE_FEAT, &v));
    if (v.empty) return vkd_fail(VKD_ERR_NUMERIC, "judge bank: view %d of the %s is empty", i,
                                 vkd_sw_shape_name((vkd_sw_shape_t)s));
    // The albedo render of the same view, exactly: each pixel is the ray-average of rho
    // (hits) and the background (misses), i.e. opacity * rho + (1 - opacity) * bg.
    const float *rho = vkd_sw_colour_rgb(obj.colour), *bg = vkd_sw_background();
    for (int p = 0; p < BANK_RES * BANK_RES; p++)
        for (int c = 0; c < 3; c++)
            rgb[3 * p + c] = opacity[p] * rho[c] + (1 - opacity[p]) * bg[c];
    VKD_TRY(judge_describe(&j->rays, rgb, BANK_RES, BANK_RES, rho, j->feat + (e + 1) * JUDGE_FEAT,
                           &v));
    mirror(j->feat + e * JUDGE_FEAT, j->feat + (e + 2) * JUDGE_FEAT);
    mirror(j->feat + (e + 1) * JUDGE_FEAT, j->feat + (e + 3) * JUDGE_FEAT);
    for (int k = 0; k < PER_VIEW; k++) j->shape[e + k] = (unsigned char)s;
    return VKD_OK;
}

vkd_status_t vkd_judge_create_ex(uint64_t seed, const vkd_judge_opts_t *opts, vkd_judge_t **out) {
    if (!out) return vkd_fail(VKD_ERR_INVALID, "vkd_judge_create: out is NULL");
    *out = NULL;
    const vkd_judge_opts_t o = opts ? *opts : vkd_judge_opts_default();
    if (o.views_per_shape < 16 || o.views_per_shape > 20000)
        return vkd_fail(VKD_ERR_INVALID, "judge: views_per_shape %d is outside [16, 20000]",
                        o.views_per_shape);
    if (o.supersample < 1 || o.supersample > 8)
        return vkd_fail(VKD_ERR_INVALID, "judge: supersample %d is outside [1, 8]", o.supersample);
    if (o.threads < 0) return vkd_fail(VKD_ERR_INVALID, "judge: threads %d is negative", o.threads);
    vkd_judge_t *j = calloc(1, sizeof *j);
    if (!j) return vkd_fail(VKD_ERR_NOMEM, "judge: out of memory");
    const int V = o.views_per_shape;
    j->n = PER_VIEW * V * VKD_SW_N_SHAPES;
    j->feat = malloc(sizeof(float) * (size_t)j->n * JUDGE_FEAT);
    j->shape = malloc((size_t)j->n);
    if (!j->feat || !j->shape) {
        vkd_judge_free(j);
        return vkd_fail(VKD_ERR_NOMEM, "judge: out of memory for a bank of %d entries", PER_VIEW * V * VKD_SW_N_SHAPES);
    }
    judge_rays_init(&j->rays);
    const int total = V * VKD_SW_N_SHAPES;
    int failed = 0;
    char msg[256] = "";
    const int nt = o.threads > 0 ? o.threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
    {
        float *rgb = malloc(sizeof(float) * BANK_RES * BANK_RES * 4); // (R, R, 3) + (R, R)
#pragma omp for schedule(dynamic, 16)
        for (int t = 0; t < total; t++) {
            if (failed) continue;
            vkd_status_t s = rgb ? bank_view(j, seed, o.supersample, t / V, t % V, V, rgb,
                                             rgb + 3 * BANK_RES * BANK_RES)
                                 : vkd_fail(VKD_ERR_NOMEM, "judge: out of memory");
            if (s != VKD_OK) {
#pragma omp critical(vkd_judge_fail)
                if (!failed) {
                    failed = (int)s;
                    strncpy(msg, vkd_last_error(), sizeof msg - 1);
                }
            }
        }
        free(rgb);
    }
    if (failed) {
        vkd_judge_free(j);
        return vkd_fail((vkd_status_t)failed, "%s", msg);
    }
    *out = j;
    return VKD_OK;
}

void vkd_judge_free(vkd_judge_t *j) {
    if (!j) return;
    free(j->feat);
    free(j->shape);
    free(j);
}

vkd_status_t vkd_judge_image(const vkd_judge_t *j, const float *rgb, int H, int W,
                             vkd_judge_verdict_t *v) {
    if (!j || !rgb || !v) return vkd_fail(VKD_ERR_INVALID, "vkd_judge_image: NULL argument");
    if (H < 8 || W < 8 || H > 1024 || W > 1024)
        return vkd_fail(VKD_ERR_INVALID,
                        "judge: a %dx%d image is outside 8..1024 pixels a side; judge single "
                        "tiles of a grid (vkdream judge --tile N)", W, H);
    const size_t P = (size_t)H * W;
    for (size_t p = 0; p < 3 * P; p++)
        if (!isfinite(rgb[p]))
            return vkd_fail(VKD_ERR_INVALID, "judge: pixel (%zu, %zu) is not finite", p / 3 % W,
                            p / 3 / W);
    float f[JUDGE_FEAT];
    VKD_TRY(judge_describe(&j->rays, rgb, H, W, NULL, f, v));
    if (v->empty) {
        for (int s = 0; s < VKD_SW_N_SHAPES; s++) v->shape_score[s] = 1.0f / VKD_SW_N_SHAPES;
        return VKD_OK;
    }
    float best[VKD_SW_N_SHAPES];
    for (int s = 0; s < VKD_SW_N_SHAPES; s++) best[s] = INFINITY;
    const int half = JUDGE_GRID;
    for (int e = 0; e < j->n; e++) {
        const float *b = j->feat + (size_t)e * JUDGE_FEAT;
        const int sh = j->shape[e];
        // The alpha half first: most entries are already farther than their shape's best.
        float d = 0;
        for (int k = 0; k < half; k++) {
            const float x = f[k] - b[k];
            d += x * x;
        }
        if (d >= best[sh]) continue;
        for (int k = half; k < JUDGE_FEAT; k++) {
            const float x = f[k] - b[k];
            d += x * x;
        }
        if (d < best[sh]) best[sh] = d;
    }
    int arg = 0;
    for (int s = 0; s < VKD_SW_N_SHAPES; s++) {
        v->shape_dist[s] = best[s] / JUDGE_FEAT;
        if (v->shape_dist[s] < v->shape_dist[arg]) arg = s;
    }
    double z = 0;
    for (int s = 0; s < VKD_SW_N_SHAPES; s++)
        z += exp(-(double)(v->shape_dist[s] - v->shape_dist[arg]) / VKD_JUDGE_SCORE_TEMP);
    for (int s = 0; s < VKD_SW_N_SHAPES; s++)
        v->shape_score[s] = (float)(exp(-(double)(v->shape_dist[s] - v->shape_dist[arg]) /
                                        VKD_JUDGE_SCORE_TEMP) / z);
    v->shape = (vkd_sw_shape_t)arg;
    return VKD_OK;
}

void vkd_judge_match(const vkd_judge_verdict_t *v, vkd_sw_object_t obj, int *shape_ok,
                     int *colour_ok) {
    const int ok = v && !v->empty;
    if (shape_ok) *shape_ok = ok && v->shape == obj.shape;
    if (colour_ok) *colour_ok = ok && !v->achromatic && v->colour == obj.colour;
}
