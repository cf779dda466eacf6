// ShapeWorld: procedurally defined objects (a primitive shape in a flat colour) whose
// ground truth is known exactly, so the whole text-to-3D pipeline can be scored against it.
//
// Every shape is centred at the origin (the centre of its bounding box), stands on the
// world +y axis, and lies within radius vkd_sw_extent() <= 0.7 of the origin: well inside
// the renderer's radius-1.4 bounding sphere, and inside the frame with room to spare for
// every camera of the ShapeWorld preset (camera.h).
//
//   sphere    radius 0.5
//   cube      half side 0.36, axis-aligned
//   cylinder  radius 0.4, height 0.84, axis y
//   cone      base radius 0.45 at y = -0.45, apex at y = +0.45
//   torus     major radius 0.43, tube radius 0.19, lying flat (axis y: the hole shows
//             from above, where most training cameras are)
//   pyramid   square base of half side 0.38 at y = -0.38, apex at y = +0.38, base edges
//             along x and z
//
// The signed distance functions are exact (|sdf| is the Euclidean distance to the
// surface, negative inside), not bounds, so sphere tracing is safe and the SDF is usable
// as ground truth for surface-distance metrics. Normals are the analytic gradients.
// Colours are linear RGB (image.h writes PNGs sRGB-encoded).
#ifndef VKD_SHAPEWORLD_H
#define VKD_SHAPEWORLD_H

#include <stddef.h>

#include "camera.h"
#include "shading.h"
#include "status.h"

typedef enum {
    VKD_SW_SPHERE = 0,
    VKD_SW_CUBE,
    VKD_SW_CYLINDER,
    VKD_SW_CONE,
    VKD_SW_TORUS,
    VKD_SW_PYRAMID,
    VKD_SW_N_SHAPES,
} vkd_sw_shape_t;

typedef enum {
    VKD_SW_RED = 0,
    VKD_SW_ORANGE,
    VKD_SW_YELLOW,
    VKD_SW_GREEN,
    VKD_SW_CYAN,
    VKD_SW_BLUE,
    VKD_SW_PURPLE,
    VKD_SW_PINK,
    VKD_SW_N_COLOURS,
} vkd_sw_colour_t;

typedef struct {
    vkd_sw_shape_t shape;
    vkd_sw_colour_t colour;
} vkd_sw_object_t;

// Names as used in captions ("cube", "orange"); "?" out of range.
const char *vkd_sw_shape_name(vkd_sw_shape_t s);
const char *vkd_sw_colour_name(vkd_sw_colour_t c);
// The albedo (3, linear RGB) of a colour; red's for out-of-range values.
const float *vkd_sw_colour_rgb(vkd_sw_colour_t c);
// The fixed background (3, linear RGB) of every ShapeWorld render, and of the NeRF renderer
// when it trains against a ShapeWorld prior. See shapeworld.c for why this colour.
const float *vkd_sw_background(void);

// The largest distance from the origin of any point of the shape.
float vkd_sw_extent(vkd_sw_shape_t s);
// Exact signed distance from p (3) to the shape's surface (< 0 inside). Out-of-range
// shapes give +inf (nothing there).
float vkd_sw_sdf(vkd_sw_shape_t s, const float p[3]);
// The same, and n (3) = the unit outward gradient of the SDF at p: the surface normal at
// the nearest surface point. Where the gradient is undefined (the medial axis: the centre
// of a sphere, a cube's diagonals) one of the valid one-sided gradients is returned.
float vkd_sw_sdf_normal(vkd_sw_shape_t s, const float p[3], float n[3]);
// Ground-truth occupancy: 1 when p is inside the solid (sdf < 0).
static inline int vkd_sw_occupied(vkd_sw_shape_t s, const float p[3]) {
    return vkd_sw_sdf(s, p) < 0.0f;
}

// Parse a caption "a red cube", "An orange torus, side view" (case-insensitive; the
// article "a"/"an" is optional and either one is accepted; an optional trailing view
// suffix ", front view" / ", side view" / ", back view" / ", overhead view"; a final
// period is ignored). view may be NULL; it gets VKD_VIEW_NONE when there is no suffix.
// Unknown words give VKD_ERR_INVALID with a message that lists the known colours, shapes
// and views.
vkd_status_t vkd_sw_parse(const char *caption, vkd_sw_object_t *obj, vkd_view_bin_t *view);
// Format "a red cube" / "an orange torus" (+ the view suffix unless VKD_VIEW_NONE) into
// buf. VKD_ERR_INVALID when obj is out of range or buf (cap bytes) is too small.
vkd_status_t vkd_sw_caption(vkd_sw_object_t obj, vkd_view_bin_t view, char *buf, size_t cap);
// "sphere, cube, ..." and "red, orange, ..." (static strings, for help texts).
const char *vkd_sw_known_shapes(void);
const char *vkd_sw_known_colours(void);

// ---- the analytic renderer (shapeworld_render.c) ------------------------------------

// What a render produces. rgb is required; any other output may be NULL.
typedef struct {
    float *rgb;     // (H, W, 3) linear RGB, composited over the background
    float *opacity; // (H, W) fraction of a pixel's rays that hit the object
    float *depth;   // (H, W) mean ray distance t of the hitting rays (t from the camera
                    // position along the unit ray), 0 where none hit
    float *normal;  // (H, W, 3) world-space unit normal (normalised mean over the hitting
                    // rays), 0 where none hit
} vkd_render_out_t;

// Render obj as seen by cam (H = cam->height, W = cam->width) by sphere tracing, with
// supersample x supersample rays per pixel (1..8; 2 by default) on a regular sub-grid,
// averaged (so edges are antialiased and opacity is fractional there). Shading is
// vkd_shade(mode, light, albedo, normal, hit point) over vkd_sw_background(); light may be
// NULL for VKD_SHADE_ALBEDO. Single-threaded and re-entrant: parallelise over images.
vkd_status_t vkd_sw_render(vkd_sw_object_t obj, const vkd_camera_t *cam, vkd_shade_mode_t mode,
                           const vkd_light_t *light, int supersample, const vkd_render_out_t *out);

// What a picture of a render shows (the --mode of `vkdream render`).
typedef enum {
    VKD_VIS_SHADED = 0, // lit with the light
    VKD_VIS_ALBEDO,
    VKD_VIS_TEXTURELESS,
    VKD_VIS_NORMALS, // (n + 1) / 2 as RGB over black
    VKD_VIS_DEPTH,   // grey, near = white, over black
    VKD_VIS_OPACITY, // grey
    VKD_VIS_COUNT,
} vkd_vis_t;

// "shaded", "albedo", ... ; parse is case-sensitive and fails with the list of modes.
const char *vkd_vis_name(vkd_vis_t v);
vkd_status_t vkd_vis_parse(const char *name, vkd_vis_t *v);
// Colour pictures (shaded, albedo, textureless) hold linear RGB and are written to PNG
// sRGB-encoded; data pictures (normals, depth, opacity) are written as they are.
int vkd_vis_is_colour(vkd_vis_t v);
// The picture img (H, W, 3) of a render's outputs: rgb for the colour modes (rendered in
// the matching shade mode), the normal/depth/opacity maps otherwise (the map must be
// present). Depth maps near -> 1 and far -> 0, clamped, faded by opacity where given.
vkd_status_t vkd_vis_compose(vkd_vis_t vis, const vkd_render_out_t *r, int h, int w,
                             float depth_near, float depth_far, float *img);

// Turntable: `views` cameras on an orbit (azimuth 0, 360/views, ...; fixed elevation,
// distance, fovy), each lit by vkd_light_key, tiled `cols` per row with `gap` pixels
// between tiles.
typedef struct {
    int views;           // 1..64
    int res;             // tile side in pixels, 8..1024
    float elevation_deg; // 20
    float distance;      // 2.0 (the ShapeWorld preset's mean)
    float fovy_deg;      // 50
    int supersample;     // 2
    int cols;            // tiles per row; <= 0: all in one row
    int gap;             // 2
} vkd_turntable_t;
vkd_turntable_t vkd_turntable_default(void); // 8 views of 64 px in one row

// The turntable picture of obj in vis mode: *img (GH, GW, 3) malloc'd (free it).
vkd_status_t vkd_sw_turntable(vkd_sw_object_t obj, vkd_vis_t vis, const vkd_turntable_t *tt,
                              float **img, int *gh, int *gw);
// The same written to a PNG (atomically), with the encoding the vis mode calls for.
vkd_status_t vkd_sw_turntable_png(const char *path, vkd_sw_object_t obj, vkd_vis_t vis,
                                  const vkd_turntable_t *tt);

#endif
