// The analytic ShapeWorld renderer: sphere tracing of the exact SDFs, the pictures made
// from render outputs, and turntables.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "shapeworld.h"

// A hit is a point within HIT_EPS of the surface. Sphere tracing an exact SDF converges
// linearly only for rays grazing the surface, so MAX_STEPS bounds the work there; a ray
// that runs out of steps is a miss (it is within a hair of the silhouette anyway).
#define HIT_EPS 1e-4f
#define MAX_STEPS 200

// Ray (o, unit d) against the object: 1 and *t_hit on a hit. Marching is confined to the
// object's bounding sphere (its extent plus a margin): the same result as marching the
// renderer's radius-1.4 sphere, with fewer steps.
static int trace(vkd_sw_shape_t s, float bound, const float o[3], const float d[3], float *t_hit) {
    const float b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
    const float c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - bound * bound;
    const float disc = b * b - c;
    if (disc <= 0.0f) return 0;
    const float sq = sqrtf(disc), t1 = -b + sq;
    if (t1 <= 0.0f) return 0;
    float t = fmaxf(-b - sq, 0.0f);
    for (int i = 0; i < MAX_STEPS; i++) {
        const float p[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
        const float dist = vkd_sw_sdf(s, p);
        if (dist < HIT_EPS) {
            *t_hit = t;
            return 1;
        }
        t += dist;
        if (t > t1) return 0;
    }
    return 0;
}

vkd_status_t vkd_sw_render(vkd_sw_object_t obj, const vkd_camera_t *cam, vkd_shade_mode_t mode,
                           const vkd_light_t *light, int supersample, const vkd_render_out_t *out) {
    if (!cam || !out || !out->rgb)
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld render: NULL camera or rgb output");
    if ((unsigned)obj.shape >= VKD_SW_N_SHAPES || (unsigned)obj.colour >= VKD_SW_N_COLOURS)
        return vkd_fail(VKD_ERR_INVALID,
                        "ShapeWorld render: object (shape %d, colour %d) out "
                        "of range",
                        (int)obj.shape, (int)obj.colour);
    if ((unsigned)mode >= VKD_SHADE_COUNT || (mode != VKD_SHADE_ALBEDO && !light))
        return vkd_fail(VKD_ERR_INVALID,
                        "ShapeWorld render: shade mode %d needs a valid mode "
                        "and (unless albedo) a light",
                        (int)mode);
    if (supersample < 1 || supersample > 8)
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld render: supersample %d is outside [1, 8]",
                        supersample);
    const int H = cam->height, W = cam->width, S = supersample;
    const float bound = vkd_sw_extent(obj.shape) + 0.01f;
    const float *rho = vkd_sw_colour_rgb(obj.colour), *bg = vkd_sw_background();
    const vkd_light_t none = {{0, 0, 0}, 0, 1};
    const vkd_light_t *L = light ? light : &none;
    const float inv_n = 1.0f / (float)(S * S);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            float rgb[3] = {0, 0, 0}, nsum[3] = {0, 0, 0}, tsum = 0;
            int hits = 0;
            for (int sy = 0; sy < S; sy++) {
                for (int sx = 0; sx < S; sx++) {
                    float o[3], d[3], t = 0.0f, c[3];
                    vkd_camera_ray(cam, x + (sx + 0.5f) / S, y + (sy + 0.5f) / S, o, d);
                    if (!trace(obj.shape, bound, o, d, &t)) {
                        for (int k = 0; k < 3; k++) rgb[k] += bg[k];
                        continue;
                    }
                    const float p[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
                    float n[3];
                    vkd_sw_sdf_normal(obj.shape, p, n);
                    vkd_shade(mode, L, rho, n, p, c);
                    for (int k = 0; k < 3; k++) rgb[k] += c[k], nsum[k] += n[k];
                    tsum += t;
                    hits++;
                }
            }
            const size_t i = (size_t)y * W + x;
            for (int k = 0; k < 3; k++) out->rgb[3 * i + k] = rgb[k] * inv_n;
            if (out->opacity) out->opacity[i] = hits * inv_n;
            if (out->depth) out->depth[i] = hits ? tsum / hits : 0.0f;
            if (out->normal) {
                const float len = sqrtf(nsum[0] * nsum[0] + nsum[1] * nsum[1] + nsum[2] * nsum[2]);
                for (int k = 0; k < 3; k++) out->normal[3 * i + k] = len > 0 ? nsum[k] / len : 0.0f;
            }
        }
    }
    return VKD_OK;
}

// ---- pictures ------------------------------------------------------------------------

static const char *const VIS_NAMES[VKD_VIS_COUNT] = {"shaded",  "albedo", "textureless",
                                                     "normals", "depth",  "opacity"};

const char *vkd_vis_name(vkd_vis_t v) { return (unsigned)v < VKD_VIS_COUNT ? VIS_NAMES[v] : "?"; }

vkd_status_t vkd_vis_parse(const char *name, vkd_vis_t *v) {
    for (int i = 0; name && i < VKD_VIS_COUNT; i++)
        if (strcmp(name, VIS_NAMES[i]) == 0) {
            *v = (vkd_vis_t)i;
            return VKD_OK;
        }
    return vkd_fail(VKD_ERR_INVALID,
                    "unknown render mode '%.60s': use one of shaded, albedo, "
                    "textureless, normals, depth, opacity",
                    name ? name : "(null)");
}

int vkd_vis_is_colour(vkd_vis_t v) {
    return v == VKD_VIS_SHADED || v == VKD_VIS_ALBEDO || v == VKD_VIS_TEXTURELESS;
}

static vkd_shade_mode_t vis_shade_mode(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO        ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

vkd_status_t vkd_vis_compose(vkd_vis_t vis, const vkd_render_out_t *r, int h, int w,
                             float depth_near, float depth_far, float *img) {
    if (!r || !img || h < 1 || w < 1 || (unsigned)vis >= VKD_VIS_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "render picture: bad arguments (mode %d, %dx%d)", (int)vis,
                        w, h);
    const float *need = vkd_vis_is_colour(vis)   ? r->rgb
                        : vis == VKD_VIS_NORMALS ? r->normal
                        : vis == VKD_VIS_DEPTH   ? r->depth
                                                 : r->opacity;
    if (!need)
        return vkd_fail(VKD_ERR_INVALID, "render picture: mode %s needs the render's %s map",
                        vkd_vis_name(vis), vkd_vis_is_colour(vis) ? "rgb" : vkd_vis_name(vis));
    if (vis == VKD_VIS_DEPTH && !(depth_far > depth_near))
        return vkd_fail(VKD_ERR_INVALID, "render picture: depth range [%g, %g] is empty",
                        (double)depth_near, (double)depth_far);
    const size_t n = (size_t)h * w;
    for (size_t i = 0; i < n; i++) {
        float *o = img + 3 * i;
        switch (vis) {
        case VKD_VIS_NORMALS: {
            const float *nv = r->normal + 3 * i;
            const int any = nv[0] != 0.0f || nv[1] != 0.0f || nv[2] != 0.0f;
            const float a = r->opacity ? r->opacity[i] : (float)any;
            for (int k = 0; k < 3; k++) o[k] = a * 0.5f * (nv[k] + 1.0f);
            break;
        }
        case VKD_VIS_DEPTH: {
            const float a = r->opacity ? r->opacity[i] : (float)(r->depth[i] > 0.0f);
            float v = (depth_far - r->depth[i]) / (depth_far - depth_near);
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            o[0] = o[1] = o[2] = a * v;
            break;
        }
        case VKD_VIS_OPACITY: o[0] = o[1] = o[2] = r->opacity[i]; break;
        default: memcpy(o, r->rgb + 3 * i, sizeof(float) * 3); break;
        }
    }
    return VKD_OK;
}

// ---- turntables ----------------------------------------------------------------------

vkd_turntable_t vkd_turntable_default(void) {
    return (vkd_turntable_t){.views = 8,
                             .res = 64,
                             .elevation_deg = 20.0f,
                             .distance = 2.0f,
                             .fovy_deg = 50.0f,
                             .supersample = 2,
                             .cols = 0,
                             .gap = 2};
}

vkd_status_t vkd_sw_turntable(vkd_sw_object_t obj, vkd_vis_t vis, const vkd_turntable_t *tt,
                              float **img, int *gh, int *gw) {
    if (!tt || !img || !gh || !gw) return vkd_fail(VKD_ERR_INVALID, "turntable: NULL argument");
    *img = NULL;
    if (tt->views < 1 || tt->views > 64 || tt->res < 8 || tt->res > 1024)
        return vkd_fail(VKD_ERR_INVALID,
                        "turntable: %d views of %d px (need 1..64 views of "
                        "8..1024 px)",
                        tt->views, tt->res);
    if ((unsigned)vis >= VKD_VIS_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "turntable: render mode %d out of range", (int)vis);
    const int V = tt->views, R = tt->res;
    const size_t px = (size_t)R * R;
    float *tiles = malloc(sizeof(float) * px * 3 * V); // (V, R, R, 3)
    float *buf = malloc(sizeof(float) * px * 8); // rgb, normal (R, R, 3); opacity, depth (R, R)
    if (!tiles || !buf) {
        free(tiles), free(buf);
        return vkd_fail(VKD_ERR_NOMEM, "turntable: out of memory");
    }
    const vkd_render_out_t r = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    const float ext = vkd_sw_extent(obj.shape);
    vkd_status_t s = VKD_OK;
    for (int v = 0; v < V && s == VKD_OK; v++) {
        vkd_camera_t cam;
        vkd_light_t light;
        s = vkd_camera_orbit(&cam, 360.0f * v / V, tt->elevation_deg, tt->distance, tt->fovy_deg, R,
                             R);
        if (s != VKD_OK) break;
        vkd_light_key(&cam, &light);
        s = vkd_sw_render(obj, &cam, vis_shade_mode(vis), &light, tt->supersample, &r);
        if (s == VKD_OK)
            s = vkd_vis_compose(vis, &r, R, R, tt->distance - ext, tt->distance + ext,
                                tiles + (size_t)v * px * 3);
    }
    free(buf);
    if (s != VKD_OK) {
        free(tiles);
        return vkd_fail_ctx(s, "turntable of a %s %s", vkd_sw_colour_name(obj.colour),
                            vkd_sw_shape_name(obj.shape));
    }
    vkd_image_grid_size(V, R, R, tt->cols, tt->gap, gh, gw);
    float *grid = malloc(sizeof(float) * (size_t)*gh * *gw * 3);
    if (!grid) {
        free(tiles);
        return vkd_fail(VKD_ERR_NOMEM, "turntable: out of memory");
    }
    s = vkd_image_grid(tiles, V, R, R, 3, tt->cols, tt->gap, NULL, grid);
    free(tiles);
    if (s != VKD_OK) {
        free(grid);
        return s;
    }
    *img = grid;
    return VKD_OK;
}

vkd_status_t vkd_sw_turntable_png(const char *path, vkd_sw_object_t obj, vkd_vis_t vis,
                                  const vkd_turntable_t *tt) {
    float *img;
    int gh, gw;
    VKD_TRY(vkd_sw_turntable(obj, vis, tt, &img, &gh, &gw));
    const vkd_status_t s = vkd_image_write_png_ex(
        path, img, gh, gw, 3, vkd_vis_is_colour(vis) ? VKD_PNG_SRGB : VKD_PNG_RAW);
    free(img);
    return s;
}
