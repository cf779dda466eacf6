// ShapeWorld training data for the bundled prior (see sw_data.h).
#include "sw_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"

vkd_swdata_opts_t vkd_swdata_opts_default(void) {
    vkd_swdata_opts_t o = {.res = 32, .supersample = 2, .camera = vkd_camera_dist_shapeworld(),
                           .shade = vkd_shade_schedule_default(), .p_uncond = 0.1f,
                           .p_view = 0.8f};
    snprintf(o.shade_suffix[VKD_SHADE_TEXTURELESS], sizeof o.shade_suffix[0], ", textureless");
    return o;
}

vkd_status_t vkd_swdata_opts_check(const vkd_swdata_opts_t *o) {
    if (!o) return vkd_fail(VKD_ERR_INVALID, "shapeworld data: NULL options");
    if (o->res < 8 || o->res > 1024)
        return vkd_fail(VKD_ERR_INVALID, "shapeworld data: res %d outside [8, 1024]", o->res);
    if (o->supersample < 1 || o->supersample > 8)
        return vkd_fail(VKD_ERR_INVALID, "shapeworld data: supersample %d outside [1, 8]",
                        o->supersample);
    if (!(o->p_uncond >= 0 && o->p_uncond <= 1) || !(o->p_view >= 0 && o->p_view <= 1))
        return vkd_fail(VKD_ERR_INVALID, "shapeworld data: probabilities must lie in [0, 1]");
    VKD_TRY(vkd_shade_schedule_check(&o->shade));
    return vkd_camera_dist_check(&o->camera);
}

vkd_status_t vkd_swdata_item(const vkd_swdata_opts_t *o, uint64_t seed, uint64_t index,
                             vkd_swdata_item_t *it) {
    uint32_t w[4];
    vkd_philox_block(seed, VKD_SWDATA_STREAM, index, w);
    memset(it, 0, sizeof *it);
    const int n_obj = VKD_SW_N_SHAPES * VKD_SW_N_COLOURS;
    const int k = (int)((uint64_t)w[0] * (uint64_t)n_obj >> 32); // unbiased enough: 48 / 2^32
    it->obj.shape = (vkd_sw_shape_t)(k / VKD_SW_N_COLOURS);
    it->obj.colour = (vkd_sw_colour_t)(k % VKD_SW_N_COLOURS);
    // The shading mode as SDS draws it after the warm-up.
    if (vkd_philox_uniform(w[1]) >= o->shade.p_lit) it->shade = VKD_SHADE_ALBEDO;
    else it->shade = vkd_philox_uniform(w[2]) < o->shade.p_textureless ? VKD_SHADE_TEXTURELESS
                                                                      : VKD_SHADE_LIT;
    vkd_camera_t cam;
    VKD_TRY(vkd_camera_sample(&o->camera, seed, index, 0, o->res, o->res, &cam));
    it->view = vkd_camera_view_bin(&cam);
    const float u = vkd_philox_uniform(w[3]);
    if (u < o->p_uncond) {
        it->uncond = 1;
        return VKD_OK;
    }
    // The remaining mass decides the view suffix, so the two draws are independent.
    const int with_view = (u - o->p_uncond) < o->p_view * (1.0f - o->p_uncond);
    char base[64];
    VKD_TRY(vkd_sw_caption(it->obj, with_view ? it->view : VKD_VIEW_NONE, base, sizeof base));
    int n = snprintf(it->caption, sizeof it->caption, "%s%s", base, o->shade_suffix[it->shade]);
    if (n < 0 || (size_t)n >= sizeof it->caption)
        return vkd_fail(VKD_ERR_INVALID, "shapeworld data: caption too long");
    return VKD_OK;
}

vkd_status_t vkd_swdata_render(const vkd_swdata_opts_t *o, uint64_t seed, uint64_t first, int n,
                               float *images, vkd_swdata_item_t *items) {
    VKD_TRY(vkd_swdata_opts_check(o));
    if (n < 1 || !images) return vkd_fail(VKD_ERR_INVALID, "shapeworld data: nothing to render");
    const int R = o->res;
    const size_t px = (size_t)R * R;
    vkd_status_t first_err = VKD_OK;
    char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        vkd_swdata_item_t it;
        vkd_camera_t cam;
        vkd_light_t light;
        float *hwc = malloc(sizeof(float) * px * 3); // (R, R, 3)
        vkd_status_t s = hwc ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "shapeworld data: out of memory");
        if (s == VKD_OK) s = vkd_swdata_item(o, seed, first + (uint64_t)i, &it);
        if (s == VKD_OK) s = vkd_camera_sample(&o->camera, seed, first + (uint64_t)i, 0, R, R, &cam);
        if (s == VKD_OK)
            s = vkd_light_sample(&cam, o->camera.scale, seed, first + (uint64_t)i, 0, &light);
        if (s == VKD_OK) {
            const vkd_render_out_t ro = {.rgb = hwc};
            s = vkd_sw_render(it.obj, &cam, it.shade, &light, o->supersample, &ro);
        }
        if (s == VKD_OK) {
            float *dst = images + (size_t)i * 3 * px; // (3, R, R)
            for (size_t p = 0; p < px; p++)
                for (int c = 0; c < 3; c++) dst[c * px + p] = hwc[p * 3 + c];
            if (items) items[i] = it;
        }
        free(hwc);
        if (s != VKD_OK) {
#pragma omp critical(swdata_err)
            if (first_err == VKD_OK) {
                first_err = s;
                snprintf(msg, sizeof msg, "%s", vkd_last_error());
            }
        }
    }
    if (first_err != VKD_OK) return vkd_fail(first_err, "%s", msg);
    return VKD_OK;
}
