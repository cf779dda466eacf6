// Lambertian shading with a point light (DreamFusion, arXiv:2209.14988 section 3.1 and
// appendix A.2), the random light per step and the per-step choice of shading mode.
//
// At a point x with albedo rho and unit normal n, lit by a point light at position L:
//   c = rho * (l_d * max(0, n . (L - x) / |L - x|) + l_a)
// Modes: ALBEDO returns rho (l_d = 0, l_a = 1); LIT uses the light's l_d and l_a;
// TEXTURELESS is LIT with rho = (1, 1, 1), so only geometry shows. Colours are linear RGB
// (see image.h for the PNG encoding). Defaults l_d = 0.8, l_a = 0.2: the sum is 1, so a
// lit colour never exceeds its albedo, and the darkest shadow keeps 20% of it (with
// DreamFusion's 0.1 a shadowed colour is hard to name at 32x32 pixels).
//
// shaders/common/shading.glsl (when it exists) is the GLSL twin of vkd_shade: keep the two
// in step.
#ifndef VKD_SHADING_H
#define VKD_SHADING_H

#include <math.h>
#include <stdint.h>

#include "camera.h"
#include "status.h"

typedef enum {
    VKD_SHADE_ALBEDO = 0,
    VKD_SHADE_LIT,
    VKD_SHADE_TEXTURELESS,
    VKD_SHADE_COUNT,
} vkd_shade_mode_t;

typedef struct {
    float pos[3];  // point light position (world)
    float diffuse; // l_d
    float ambient; // l_a
} vkd_light_t;

#define VKD_LIGHT_DIFFUSE 0.8f
#define VKD_LIGHT_AMBIENT 0.2f

// c (3) = the shaded colour of albedo rho (3) at point x (3) with unit normal n (3).
// Float math, used per sample by the CPU renderer; c may alias rho.
static inline void vkd_shade(vkd_shade_mode_t mode, const vkd_light_t *light, const float rho[3],
                             const float n[3], const float x[3], float c[3]) {
    if (mode == VKD_SHADE_ALBEDO) {
        c[0] = rho[0], c[1] = rho[1], c[2] = rho[2];
        return;
    }
    const float lx = light->pos[0] - x[0], ly = light->pos[1] - x[1], lz = light->pos[2] - x[2];
    const float len = sqrtf(lx * lx + ly * ly + lz * lz);
    // A light inside the surface point (len = 0) gives no direction: ambient only.
    const float ndl = len > 0.0f ? (n[0] * lx + n[1] * ly + n[2] * lz) / len : 0.0f;
    const float k = light->diffuse * (ndl > 0.0f ? ndl : 0.0f) + light->ambient;
    if (mode == VKD_SHADE_TEXTURELESS) {
        c[0] = c[1] = c[2] = k;
    } else {
        c[0] = rho[0] * k, c[1] = rho[1] * k, c[2] = rho[2] * k;
    }
}

// "albedo", "lit", "textureless".
const char *vkd_shade_mode_name(vkd_shade_mode_t mode);

// The random point light of a step. Its direction is that of q ~ N(camera position, s^2 I)
// and its distance from the origin is U(0.8, 1.5) * s, with s the camera distribution's
// scale: DreamFusion's N(camera, I) and U(0.8, 1.5) in its own units, where cameras sit at
// distance U(1, 1.5) -- so the light is at about the cameras' range, never inside the
// object, with the same angular spread around the camera as in DreamFusion. l_d, l_a are
// the defaults above. Philox stream VKD_LIGHT_STREAM + index * 2^32, blocks 2 step, 2 step + 1.
#define VKD_LIGHT_STREAM 0x4c494748u // "LIGH"
#define VKD_LIGHT_DIST_MIN 0.8f
#define VKD_LIGHT_DIST_MAX 1.5f
vkd_status_t vkd_light_sample(const vkd_camera_t *cam, float scale, uint64_t seed, uint64_t step,
                              uint32_t index, vkd_light_t *out);

// A fixed light for turntables and previews: above and to the right of the camera
// (camera position + 0.6 |pos| (up + right) / sqrt 2), so faces are told apart by shading.
void vkd_light_key(const vkd_camera_t *cam, vkd_light_t *out);

// Shading mode per step (DreamFusion appendix A.2): albedo only for the first
// albedo_steps; afterwards lit with probability p_lit (else albedo), and a lit step is
// textureless with probability p_textureless. Defaults 200, 0.75, 0.5: after the warm-up
// 25% albedo, 37.5% lit, 37.5% textureless. albedo_steps should be ~10% of a run.
typedef struct {
    uint64_t albedo_steps;
    float p_lit;
    float p_textureless;
} vkd_shade_schedule_t;

#define VKD_SHADE_STREAM 0x53484144u // "SHAD"
vkd_shade_schedule_t vkd_shade_schedule_default(void);
// VKD_ERR_INVALID when a probability is outside [0, 1].
vkd_status_t vkd_shade_schedule_check(const vkd_shade_schedule_t *s);
// Pure function of (schedule, seed, step): Philox stream VKD_SHADE_STREAM, block step.
// Probabilities outside [0, 1] act as clamped (check the schedule once with _check).
vkd_shade_mode_t vkd_shade_schedule_mode(const vkd_shade_schedule_t *s, uint64_t seed,
                                         uint64_t step);

#endif
