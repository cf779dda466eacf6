#include "shading.h"

#include <math.h>

#include "philox.h"

const char *vkd_shade_mode_name(vkd_shade_mode_t mode) {
    switch (mode) {
    case VKD_SHADE_ALBEDO: return "albedo";
    case VKD_SHADE_LIT: return "lit";
    case VKD_SHADE_TEXTURELESS: return "textureless";
    default: return "?";
    }
}

vkd_status_t vkd_light_sample(const vkd_camera_t *cam, float scale, uint64_t seed, uint64_t step,
                              uint32_t index, vkd_light_t *out) {
    if (!cam || !out) return vkd_fail(VKD_ERR_INVALID, "light sample: NULL argument");
    if (!(scale > 0.0f) || !isfinite(scale))
        return vkd_fail(VKD_ERR_INVALID, "light sample: scale %g must be positive", (double)scale);
    // 5 words: 3 normals (two Box-Muller pairs, one normal unused) and the distance.
    uint32_t w[8];
    const uint64_t stream = (uint64_t)VKD_LIGHT_STREAM | ((uint64_t)index << 32);
    vkd_philox_block(seed, stream, step * 2, w);
    vkd_philox_block(seed, stream, step * 2 + 1, w + 4);
    float z[4];
    vkd_philox_box_muller(w[0], w[1], &z[0], &z[1]);
    vkd_philox_box_muller(w[2], w[3], &z[2], &z[3]);
    double q[3], n2 = 0;
    for (int k = 0; k < 3; k++) {
        q[k] = cam->pos[k] / scale + z[k]; // DreamFusion units
        n2 += q[k] * q[k];
    }
    const double len = sqrt(n2);
    const double dist = scale * (VKD_LIGHT_DIST_MIN + (VKD_LIGHT_DIST_MAX - VKD_LIGHT_DIST_MIN) *
                                                          (double)vkd_philox_uniform(w[4]));
    for (int k = 0; k < 3; k++)
        // q = 0 has probability zero; fall back to the camera direction all the same.
        out->pos[k] = (float)(len > 1e-12 ? dist * q[k] / len : cam->pos[k]);
    out->diffuse = VKD_LIGHT_DIFFUSE;
    out->ambient = VKD_LIGHT_AMBIENT;
    return VKD_OK;
}

void vkd_light_key(const vkd_camera_t *cam, vkd_light_t *out) {
    float r2 = 0;
    for (int k = 0; k < 3; k++) r2 += cam->pos[k] * cam->pos[k];
    const float off = 0.6f * sqrtf(r2) * 0.70710678f;
    for (int k = 0; k < 3; k++) out->pos[k] = cam->pos[k] + off * (cam->up[k] + cam->right[k]);
    out->diffuse = VKD_LIGHT_DIFFUSE;
    out->ambient = VKD_LIGHT_AMBIENT;
}

vkd_shade_schedule_t vkd_shade_schedule_default(void) {
    return (vkd_shade_schedule_t){.albedo_steps = 200, .p_lit = 0.75f, .p_textureless = 0.5f};
}

vkd_status_t vkd_shade_schedule_check(const vkd_shade_schedule_t *s) {
    if (!s) return vkd_fail(VKD_ERR_INVALID, "shading schedule: NULL");
    if (!(s->p_lit >= 0.0f && s->p_lit <= 1.0f))
        return vkd_fail(VKD_ERR_INVALID, "shading schedule: p_lit %g is outside [0, 1]",
                        (double)s->p_lit);
    if (!(s->p_textureless >= 0.0f && s->p_textureless <= 1.0f))
        return vkd_fail(VKD_ERR_INVALID, "shading schedule: p_textureless %g is outside [0, 1]",
                        (double)s->p_textureless);
    return VKD_OK;
}

vkd_shade_mode_t vkd_shade_schedule_mode(const vkd_shade_schedule_t *s, uint64_t seed,
                                         uint64_t step) {
    if (step < s->albedo_steps) return VKD_SHADE_ALBEDO;
    uint32_t w[4];
    vkd_philox_block(seed, VKD_SHADE_STREAM, step, w);
    // u in (0, 1): u < p is false for p <= 0 and true for p >= 1, which is the clamp.
    if (!(vkd_philox_uniform(w[0]) < s->p_lit)) return VKD_SHADE_ALBEDO;
    return vkd_philox_uniform(w[1]) < s->p_textureless ? VKD_SHADE_TEXTURELESS : VKD_SHADE_LIT;
}
