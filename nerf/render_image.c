// Whole images and turntables from the NeRF renderer, averaged over sub-pixel rays the
// way the analytic ShapeWorld renderer does, so the two can be compared pixel for pixel.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "nerf/render.h"

vkd_status_t vkd_nerf_render_image(vkd_nerf_renderer_t *r, const vkd_camera_t *cam,
                                   const vkd_nerf_view_t *view, int supersample,
                                   const vkd_render_out_t *out) {
    if (!r || !cam || !view || !out || !out->rgb)
        return vkd_fail(VKD_ERR_INVALID, "NeRF image: NULL renderer, camera, view or rgb output");
    if (supersample < 1 || supersample > 4)
        return vkd_fail(VKD_ERR_INVALID, "NeRF image: supersample %d outside [1, 4]", supersample);
    const int W = cam->width, S = supersample, SS = S * S;
    const size_t px = (size_t)cam->height * W;
    // Batches hold whole pixels (all their sub-rays), so every pixel's sums finish in one.
    const size_t batch_px = (size_t)(vkd_nerf_renderer_max_rays(r) / SS);
    if (batch_px < 1)
        return vkd_fail(VKD_ERR_INVALID, "NeRF image: the renderer holds fewer than %d rays", SS);
    const size_t nb = batch_px * SS;
    float *rays = malloc(nb * 8 * sizeof(float)), *buf = malloc(nb * 8 * sizeof(float));
    if (!rays || !buf) {
        free(rays), free(buf);
        return vkd_fail(VKD_ERR_NOMEM, "NeRF image: out of memory");
    }
    float *rgb = buf, *nrm = buf + 3 * nb, *opa = buf + 6 * nb, *dep = buf + 7 * nb; // per ray
    const vkd_render_out_t ro = {rgb, opa, dep, nrm};
    vkd_status_t s = VKD_OK;
    for (size_t p0 = 0; p0 < px && s == VKD_OK; p0 += batch_px) {
        const size_t n = px - p0 < batch_px ? px - p0 : batch_px;
        for (size_t i = 0; i < n; i++) {
            const int x = (int)((p0 + i) % (size_t)W), y = (int)((p0 + i) / (size_t)W);
            for (int k = 0; k < SS; k++)
                vkd_nerf_camera_ray(cam, x + (k % S + 0.5f) / S, y + (k / S + 0.5f) / S,
                                    rays + 8 * (i * SS + k));
        }
        s = vkd_nerf_render_forward(r, rays, (int)(n * SS), view);
        if (s == VKD_OK) s = vkd_nerf_render_read(r, &ro);
        for (size_t i = 0; i < n && s == VKD_OK; i++) {
            const size_t q = p0 + i;
            double c[3] = {0, 0, 0}, a = 0, ad = 0, an[3] = {0, 0, 0};
            for (int k = 0; k < SS; k++) {
                const size_t j = i * SS + k;
                for (int ch = 0; ch < 3; ch++) c[ch] += rgb[3 * j + ch], an[ch] += opa[j] * nrm[3 * j + ch];
                a += opa[j], ad += opa[j] * dep[j];
            }
            for (int ch = 0; ch < 3; ch++) out->rgb[3 * q + ch] = (float)(c[ch] / SS);
            if (out->opacity) out->opacity[q] = (float)(a / SS);
            if (out->depth) out->depth[q] = a > 1e-6 ? (float)(ad / a) : 0.0f;
            if (out->normal) {
                const double len = sqrt(an[0] * an[0] + an[1] * an[1] + an[2] * an[2]);
                for (int ch = 0; ch < 3; ch++)
                    out->normal[3 * q + ch] = len > 1e-12 ? (float)(an[ch] / len) : 0.0f;
            }
        }
    }
    free(rays), free(buf);
    return s;
}

static vkd_shade_mode_t vis_shade_mode(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO        ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

vkd_status_t vkd_nerf_turntable(vkd_nerf_renderer_t *r, vkd_vis_t vis, const vkd_turntable_t *tt,
                                float **img, int *gh, int *gw) {
    if (!r || !tt || !img || !gh || !gw) return vkd_fail(VKD_ERR_INVALID, "NeRF turntable: NULL argument");
    *img = NULL;
    if (tt->views < 1 || tt->views > 64 || tt->res < 8 || tt->res > 1024)
        return vkd_fail(VKD_ERR_INVALID, "NeRF turntable: %d views of %d px (need 1..64 views of "
                        "8..1024 px)", tt->views, tt->res);
    if ((unsigned)vis >= VKD_VIS_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "NeRF turntable: render mode %d out of range", (int)vis);
    const int V = tt->views, R = tt->res;
    const size_t px = (size_t)R * R;
    float *tiles = malloc(sizeof(float) * px * 3 * V), *buf = malloc(sizeof(float) * px * 8);
    if (!tiles || !buf) {
        free(tiles), free(buf);
        return vkd_fail(VKD_ERR_NOMEM, "NeRF turntable: out of memory");
    }
    const vkd_render_out_t ro = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    const float bound = vkd_nerf_renderer_field(r)->cfg.bound;
    vkd_status_t s = VKD_OK;
    for (int v = 0; v < V && s == VKD_OK; v++) {
        vkd_camera_t cam;
        // The IPE covariance the field was trained to (step 0 is the blurriest).
        const int64_t fstep = vkd_nerf_renderer_field(r)->step;
        vkd_nerf_view_t view = {.mode = vis_shade_mode(vis), .normals = 1,
                                .step = (uint64_t)(fstep > 0 ? fstep : 0)};
        s = vkd_camera_orbit(&cam, 360.0f * v / V, tt->elevation_deg, tt->distance, tt->fovy_deg, R, R);
        if (s != VKD_OK) break;
        vkd_light_key(&cam, &view.light);
        s = vkd_nerf_render_image(r, &cam, &view, tt->supersample > 4 ? 4 : tt->supersample, &ro);
        if (s == VKD_OK)
            s = vkd_vis_compose(vis, &ro, R, R, tt->distance - bound, tt->distance + bound,
                                tiles + (size_t)v * px * 3);
    }
    free(buf);
    if (s == VKD_OK) {
        vkd_image_grid_size(V, R, R, tt->cols, tt->gap, gh, gw);
        *img = malloc(sizeof(float) * (size_t)*gh * *gw * 3);
        s = *img ? vkd_image_grid(tiles, V, R, R, 3, tt->cols, tt->gap, NULL, *img)
                 : vkd_fail(VKD_ERR_NOMEM, "NeRF turntable: out of memory");
        if (s != VKD_OK) free(*img), *img = NULL;
    }
    free(tiles);
    return s;
}
