// Pinhole cameras, the random camera distribution of score distillation, and view bins.
//
// World frame: right-handed, +y up. An object's front faces +z. Orbit coordinates of a
// camera around its look-at point (angles in degrees everywhere in this API, because they
// are what people type and read):
//   position = target + distance * (cos(el) sin(az), sin(el), cos(el) cos(az))
// so azimuth 0 is the front view (camera on +z looking along -z), azimuth 90 puts the
// camera on +x, 180 is the back view, and elevation 90 looks straight down.
//
// View bins (the prompt suffix DreamFusion appends): overhead when elevation > 60;
// otherwise front when the azimuth is within +-45 of 0, back within +-45 of 180, side
// (left or right alike) in between.
//
// Image convention: pixel (i, j) = (column, row) covers [i, i+1) x [j, j+1), its centre is
// (i + 0.5, j + 0.5), row 0 is the top of the image. Rays start at the camera position
// (no near plane: the renderer clips to its bounding sphere).
//
// Random cameras (DreamFusion, arXiv:2209.14988 appendix A.2): elevation from a mixture,
// half uniform in angle and half uniform in area on the sphere (sin(el) uniform), azimuth
// uniform, distance uniform in [dist_min, dist_max] * scale, fovy uniform, then Gaussian
// jitter of position, look-at and up. Every draw comes from Philox keyed by (seed, step,
// index) so a step's cameras are reproducible and independent of any other draw.
#ifndef VKD_CAMERA_H
#define VKD_CAMERA_H

#include <math.h>
#include <stdint.h>

#include "status.h"

typedef struct {
    float pos[3];    // camera centre
    float target[3]; // look-at point
    float fovy_deg;  // full vertical field of view, (0, 180)
    int width, height;
    // Derived by vkd_camera_init: an orthonormal, right-handed basis (right x up = -forward).
    float forward[3]; // unit, from pos towards target
    float right[3];   // unit, image +x
    float up[3];      // unit, image -y (row 0 is at the top)
    float tan_half;   // tan(fovy / 2)
    float aspect;     // width / height
    // Nominal orbit coordinates, used for the view bin: for cameras from
    // vkd_camera_orbit/vkd_camera_sample the requested values (before jitter), for
    // vkd_camera_init those of pos relative to target.
    float azimuth_deg;   // [0, 360)
    float elevation_deg; // [-90, 90]
    float distance;
} vkd_camera_t;

typedef enum {
    VKD_VIEW_FRONT = 0,
    VKD_VIEW_SIDE,
    VKD_VIEW_BACK,
    VKD_VIEW_OVERHEAD,
    VKD_VIEW_COUNT,
    VKD_VIEW_NONE = -1, // no view suffix (used by caption parsing)
} vkd_view_bin_t;

// A camera from position, look-at point and an up hint (need not be unit or orthogonal to
// the viewing direction, only not parallel to it). Fails with VKD_ERR_INVALID on a
// degenerate camera (pos == target, up parallel to the view direction, fovy outside
// (0, 180), width or height outside [1, 65536], non-finite values).
vkd_status_t vkd_camera_init(vkd_camera_t *cam, const float pos[3], const float target[3],
                             const float up[3], float fovy_deg, int width, int height);

// A camera on an orbit around the origin looking at it. Its up hint is the direction of
// increasing elevation, which is +y at the horizon and stays well defined at the poles
// (at elevation 90 image-up points away from the front, towards -z).
vkd_status_t vkd_camera_orbit(vkd_camera_t *cam, float azimuth_deg, float elevation_deg,
                              float distance, float fovy_deg, int width, int height);

// The ray through continuous pixel position (px, py) (pixel centres at +0.5): origin o
// (the camera position) and unit direction d. px = width/2, py = height/2 is the image
// centre, whose ray passes through the look-at point.
static inline void vkd_camera_ray(const vkd_camera_t *cam, float px, float py, float o[3],
                                  float d[3]) {
    const float sx = (2.0f * px / (float)cam->width - 1.0f) * cam->tan_half * cam->aspect;
    const float sy = (1.0f - 2.0f * py / (float)cam->height) * cam->tan_half;
    float n2 = 0;
    for (int k = 0; k < 3; k++) {
        d[k] = cam->forward[k] + sx * cam->right[k] + sy * cam->up[k];
        n2 += d[k] * d[k];
        o[k] = cam->pos[k];
    }
    const float inv = 1.0f / sqrtf(n2);
    for (int k = 0; k < 3; k++) d[k] *= inv;
}

// The bin of orbit coordinates (any azimuth, wrapped to [0, 360)).
vkd_view_bin_t vkd_view_bin(float azimuth_deg, float elevation_deg);
static inline vkd_view_bin_t vkd_camera_view_bin(const vkd_camera_t *cam) {
    return vkd_view_bin(cam->azimuth_deg, cam->elevation_deg);
}
// ", front view", ", side view", ", back view", ", overhead view"; "" for VKD_VIEW_NONE.
const char *vkd_view_suffix(vkd_view_bin_t bin);
// "front", "side", "back", "overhead"; "" for VKD_VIEW_NONE.
const char *vkd_view_name(vkd_view_bin_t bin);

// The distribution of training cameras. A prior's config carries the one it was trained
// with, and SDS must sample the same one.
typedef struct {
    float elev_min_deg, elev_max_deg; // elevation range, within [-90, 90]
    float area_fraction;              // share of draws uniform in area (rest: in angle)
    float azim_min_deg, azim_max_deg; // azimuth range (may exceed 360; wrapped)
    float dist_min, dist_max;         // distance range, in units of scale
    float scale;                      // world units per distance unit
    float fovy_min_deg, fovy_max_deg; // vertical field of view range
    float jitter_pos;                 // std dev of the Gaussian added to the position (world units)
    float jitter_target; // std dev of the Gaussian added to the look-at point (world units)
    float jitter_up;     // std dev of the Gaussian added to the unit up hint
} vkd_camera_dist_t;

// DreamFusion's ranges: elevation [-10, 90] (half uniform in area), azimuth [0, 360),
// distance [1, 1.5] * scale with scale 2 (so the nearest camera, at 2, stays outside the
// radius-1.4 bounding sphere), fovy [40, 70], jitter 0.1 / 0.1 / 0.02.
vkd_camera_dist_t vkd_camera_dist_dreamfusion(void);
// The ShapeWorld preset: DreamFusion's elevation and azimuth, but fovy fixed at 50 and
// distance [0.9, 1.1] * 2, jitter 0.02 / 0.02 / 0.01. With DreamFusion's wide ranges the
// apparent size of an object varies ~3x, and a 2D prior cannot tell a big far object from
// a small near one, so SDS could not fix the absolute scale (NOTES.md). A ShapeWorld sphere
// (radius 0.5) spans 50-62% of the frame height, and no ShapeWorld object comes closer
// than 2 pixels to the border of a 32x32 frame (tests/test_shapeworld.c checks none
// touches it).
vkd_camera_dist_t vkd_camera_dist_shapeworld(void);
// VKD_ERR_INVALID (naming the field) when a range is empty or reversed, out of bounds, or
// a value is negative or non-finite.
vkd_status_t vkd_camera_dist_check(const vkd_camera_dist_t *dist);

// Camera `index` of training step `step`: a pure function of (dist, seed, step, index).
// Philox stream VKD_CAMERA_STREAM + index * 2^32, blocks step * 4 .. step * 4 + 3.
#define VKD_CAMERA_STREAM 0x43414d45u // "CAME"
vkd_status_t vkd_camera_sample(const vkd_camera_dist_t *dist, uint64_t seed, uint64_t step,
                               uint32_t index, int width, int height, vkd_camera_t *out);

#endif
