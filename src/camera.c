#include "camera.h"

#include <cglm/cglm.h>
#include <math.h>

#include "philox.h"

#define DEG2RAD 0.017453292519943295
#define RAD2DEG 57.29577951308232

static int finite3(const float v[3]) { return isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]); }

static float wrap360(float deg) {
    float a = fmodf(deg, 360.0f);
    if (a < 0) a += 360.0f;
    return a >= 360.0f ? 0.0f : a; // fmodf of a tiny negative rounds up to 360
}

vkd_status_t vkd_camera_init(vkd_camera_t *cam, const float pos[3], const float target[3],
                             const float up[3], float fovy_deg, int width, int height) {
    if (!cam || !pos || !target || !up) return vkd_fail(VKD_ERR_INVALID, "camera: NULL argument");
    if (!finite3(pos) || !finite3(target) || !finite3(up) || !isfinite(fovy_deg))
        return vkd_fail(VKD_ERR_INVALID, "camera: position, look-at, up and fovy must be finite");
    if (!(fovy_deg > 0.0f && fovy_deg < 180.0f))
        return vkd_fail(VKD_ERR_INVALID, "camera: fovy %g degrees is outside (0, 180)",
                        (double)fovy_deg);
    if (width < 1 || height < 1 || width > 65536 || height > 65536)
        return vkd_fail(VKD_ERR_INVALID, "camera: image size %dx%d is outside [1, 65536]", width,
                        height);
    vec3 p = {pos[0], pos[1], pos[2]}, t = {target[0], target[1], target[2]};
    vec3 u = {up[0], up[1], up[2]}, f, r, v;
    glm_vec3_sub(t, p, f);
    const float dist = glm_vec3_norm(f);
    if (!(dist > 1e-6f))
        return vkd_fail(VKD_ERR_INVALID,
                        "camera: position (%g, %g, %g) coincides with the look-at point",
                        (double)pos[0], (double)pos[1], (double)pos[2]);
    glm_vec3_scale(f, 1.0f / dist, f);
    glm_vec3_cross(f, u, r);
    const float un = glm_vec3_norm(u), rn = glm_vec3_norm(r);
    // sin(angle between up and forward) below ~1e-4: the basis would be numerically noise.
    if (!(un > 0.0f) || !(rn > 1e-4f * un))
        return vkd_fail(VKD_ERR_INVALID,
                        "camera: up (%g, %g, %g) is zero or parallel to the viewing direction",
                        (double)up[0], (double)up[1], (double)up[2]);
    glm_vec3_scale(r, 1.0f / rn, r);
    glm_vec3_cross(r, f, v);
    glm_vec3_normalize(v);
    for (int k = 0; k < 3; k++) {
        cam->pos[k] = p[k];
        cam->target[k] = t[k];
        cam->forward[k] = f[k];
        cam->right[k] = r[k];
        cam->up[k] = v[k];
    }
    cam->fovy_deg = fovy_deg;
    cam->width = width;
    cam->height = height;
    cam->tan_half = (float)tan(0.5 * fovy_deg * DEG2RAD);
    cam->aspect = (float)width / (float)height;
    // -f points from the target to the camera: its orbit angles.
    cam->distance = dist;
    const double ey = fmax(-1.0, fmin(1.0, (double)-f[1]));
    cam->elevation_deg = (float)(asin(ey) * RAD2DEG);
    cam->azimuth_deg = wrap360((float)(atan2((double)-f[0], (double)-f[2]) * RAD2DEG));
    return VKD_OK;
}

// Unit offset of an orbit position and the direction of increasing elevation.
static void orbit_dirs(double az_deg, double el_deg, float dir[3], float up[3]) {
    const double az = az_deg * DEG2RAD, el = el_deg * DEG2RAD;
    dir[0] = (float)(cos(el) * sin(az));
    dir[1] = (float)sin(el);
    dir[2] = (float)(cos(el) * cos(az));
    up[0] = (float)(-sin(el) * sin(az));
    up[1] = (float)cos(el);
    up[2] = (float)(-sin(el) * cos(az));
}

vkd_status_t vkd_camera_orbit(vkd_camera_t *cam, float azimuth_deg, float elevation_deg,
                              float distance, float fovy_deg, int width, int height) {
    if (!isfinite(azimuth_deg) || !(elevation_deg >= -90.0f && elevation_deg <= 90.0f))
        return vkd_fail(VKD_ERR_INVALID,
                        "orbit camera: azimuth %g must be finite and elevation %g within [-90, 90]",
                        (double)azimuth_deg, (double)elevation_deg);
    if (!(distance > 0.0f) || !isfinite(distance))
        return vkd_fail(VKD_ERR_INVALID, "orbit camera: distance %g must be positive",
                        (double)distance);
    float dir[3], up[3], pos[3];
    const float origin[3] = {0, 0, 0};
    orbit_dirs(azimuth_deg, elevation_deg, dir, up);
    for (int k = 0; k < 3; k++) pos[k] = distance * dir[k];
    VKD_TRY(vkd_camera_init(cam, pos, origin, up, fovy_deg, width, height));
    cam->azimuth_deg = wrap360(azimuth_deg);
    cam->elevation_deg = elevation_deg;
    cam->distance = distance;
    return VKD_OK;
}

vkd_view_bin_t vkd_view_bin(float azimuth_deg, float elevation_deg) {
    if (elevation_deg > 60.0f) return VKD_VIEW_OVERHEAD;
    float a = wrap360(azimuth_deg);
    if (a > 180.0f) a = 360.0f - a; // angle away from the front, [0, 180]
    if (a <= 45.0f) return VKD_VIEW_FRONT;
    if (a >= 135.0f) return VKD_VIEW_BACK;
    return VKD_VIEW_SIDE;
}

const char *vkd_view_suffix(vkd_view_bin_t bin) {
    switch (bin) {
    case VKD_VIEW_FRONT: return ", front view";
    case VKD_VIEW_SIDE: return ", side view";
    case VKD_VIEW_BACK: return ", back view";
    case VKD_VIEW_OVERHEAD: return ", overhead view";
    default: return "";
    }
}

const char *vkd_view_name(vkd_view_bin_t bin) {
    switch (bin) {
    case VKD_VIEW_FRONT: return "front";
    case VKD_VIEW_SIDE: return "side";
    case VKD_VIEW_BACK: return "back";
    case VKD_VIEW_OVERHEAD: return "overhead";
    default: return "";
    }
}

vkd_camera_dist_t vkd_camera_dist_dreamfusion(void) {
    return (vkd_camera_dist_t){
        .elev_min_deg = -10.0f,
        .elev_max_deg = 90.0f,
        .area_fraction = 0.5f,
        .azim_min_deg = 0.0f,
        .azim_max_deg = 360.0f,
        .dist_min = 1.0f,
        .dist_max = 1.5f,
        .scale = 2.0f,
        .fovy_min_deg = 40.0f,
        .fovy_max_deg = 70.0f,
        .jitter_pos = 0.1f,
        .jitter_target = 0.1f,
        .jitter_up = 0.02f,
    };
}

vkd_camera_dist_t vkd_camera_dist_shapeworld(void) {
    vkd_camera_dist_t d = vkd_camera_dist_dreamfusion();
    d.dist_min = 0.9f, d.dist_max = 1.1f;
    d.fovy_min_deg = d.fovy_max_deg = 50.0f;
    d.jitter_pos = 0.02f, d.jitter_target = 0.02f, d.jitter_up = 0.01f;
    return d;
}

static vkd_status_t check_range(const char *name, float lo, float hi, float min_ok, float max_ok,
                                int open_low) {
    if (!isfinite(lo) || !isfinite(hi) || lo > hi || lo < min_ok || hi > max_ok ||
        (open_low && lo <= min_ok))
        return vkd_fail(VKD_ERR_INVALID,
                        "camera distribution: %s range [%g, %g] must be finite, ordered and "
                        "within %s%g, %g]",
                        name, (double)lo, (double)hi, open_low ? "(" : "[", (double)min_ok,
                        (double)max_ok);
    return VKD_OK;
}

vkd_status_t vkd_camera_dist_check(const vkd_camera_dist_t *d) {
    if (!d) return vkd_fail(VKD_ERR_INVALID, "camera distribution: NULL");
    VKD_TRY(check_range("elevation", d->elev_min_deg, d->elev_max_deg, -90, 90, 0));
    VKD_TRY(check_range("azimuth", d->azim_min_deg, d->azim_max_deg, -1e6f, 1e6f, 0));
    VKD_TRY(check_range("distance", d->dist_min, d->dist_max, 0, 1e6f, 1));
    VKD_TRY(check_range("fovy", d->fovy_min_deg, d->fovy_max_deg, 0, 179, 1));
    VKD_TRY(check_range("area_fraction", d->area_fraction, d->area_fraction, 0, 1, 0));
    if (!(d->scale > 0.0f) || !isfinite(d->scale))
        return vkd_fail(VKD_ERR_INVALID, "camera distribution: scale %g must be positive",
                        (double)d->scale);
    const float j[3] = {d->jitter_pos, d->jitter_target, d->jitter_up};
    static const char *jn[3] = {"jitter_pos", "jitter_target", "jitter_up"};
    for (int k = 0; k < 3; k++)
        if (!(j[k] >= 0.0f) || !isfinite(j[k]))
            return vkd_fail(VKD_ERR_INVALID, "camera distribution: %s %g must be >= 0", jn[k],
                            (double)j[k]);
    return VKD_OK;
}

vkd_status_t vkd_camera_sample(const vkd_camera_dist_t *d, uint64_t seed, uint64_t step,
                               uint32_t index, int width, int height, vkd_camera_t *out) {
    VKD_TRY(vkd_camera_dist_check(d));
    // 16 words: mixture choice, elevation, azimuth, distance, fovy, 10 for 9 jitter normals.
    uint32_t w[16];
    const uint64_t stream = (uint64_t)VKD_CAMERA_STREAM | ((uint64_t)index << 32);
    for (int b = 0; b < 4; b++) vkd_philox_block(seed, stream, step * 4 + (uint64_t)b, w + 4 * b);
    const double lo = d->elev_min_deg, hi = d->elev_max_deg;
    double el;
    if (vkd_philox_uniform(w[0]) < d->area_fraction) {
        // Uniform in area on the sphere band: sin(el) is uniform.
        const double s0 = sin(lo * DEG2RAD), s1 = sin(hi * DEG2RAD);
        const double s = s0 + (s1 - s0) * vkd_philox_uniform(w[1]);
        el = asin(fmax(-1.0, fmin(1.0, s))) * RAD2DEG;
    } else {
        el = lo + (hi - lo) * vkd_philox_uniform(w[1]);
    }
    const double az =
        d->azim_min_deg + (d->azim_max_deg - d->azim_min_deg) * (double)vkd_philox_uniform(w[2]);
    const double dist =
        d->scale * (d->dist_min + (d->dist_max - d->dist_min) * (double)vkd_philox_uniform(w[3]));
    const double fovy =
        d->fovy_min_deg + (d->fovy_max_deg - d->fovy_min_deg) * (double)vkd_philox_uniform(w[4]);
    float z[10];
    for (int k = 0; k < 5; k++)
        vkd_philox_box_muller(w[5 + 2 * k], w[6 + 2 * k], &z[2 * k], &z[2 * k + 1]);
    float dir[3], up[3], pos[3], target[3];
    orbit_dirs(az, el, dir, up);
    for (int k = 0; k < 3; k++) {
        pos[k] = (float)dist * dir[k] + d->jitter_pos * z[k];
        target[k] = d->jitter_target * z[3 + k];
        up[k] += d->jitter_up * z[6 + k];
    }
    vkd_status_t s = vkd_camera_init(out, pos, target, up, (float)fovy, width, height);
    if (s != VKD_OK)
        return vkd_fail_ctx(s, "sampling camera %u of step %llu", index, (unsigned long long)step);
    out->azimuth_deg = wrap360((float)az);
    out->elevation_deg = (float)el;
    out->distance = (float)dist;
    return VKD_OK;
}
