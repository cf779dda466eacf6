// The ShapeWorld image judge: names the shape and colour of the single ShapeWorld object
// in an image, without any diffusion prior, so that prior samples and NeRF renders can be
// scored against the prompt they were made for.
//
// How (judge.c, judge_features.c):
// - Segmentation. Every ShapeWorld image is composited over the fixed background
//   vkd_sw_background(), which is >= 0.65 (linear RGB) from every colour a foreground pixel
//   can take, so a pixel's alpha is a ramp of its distance d to the background:
//   0 below d = 0.2 (Gaussian noise of sigma 0.05 per channel exceeds that in ~0.1% of
//   pixels), 1 above d = 0.5. An image whose alpha sums to less than 1% of its pixels is
//   "empty".
// - Colour. Each interior foreground pixel (alpha 1) is compared in CIELAB with the ray of
//   colours k * albedo, k in [0.15, 1.05], of every palette colour (shading only scales an
//   albedo, by k in [0.2, 1]) and of white (textureless renders are grey). colour_dist[c]
//   is the median over those pixels of the distance to colour c's ray (CIELAB Delta E
//   1976 units); the verdict is the nearest. When the white ray is nearer than every
//   palette ray the foreground is grey: `achromatic` is set and the colour is undefined
//   (a textureless render of a red cube is a grey cube; callers exclude such images from
//   colour scores).
// - Shape. The image is reduced to a colour-free description: the alpha map and the
//   shading map (each pixel's brightness along the judged colour, i.e. the shading factor
//   k, times alpha, divided by the interior's mean k: a mean is not biased by noise), both
//   resampled onto a 16 x 16 grid spanning the frame and centred on the foreground's
//   centroid (translation is normalised; scale is not, since the ShapeWorld cameras fix
//   the apparent size to +-10% and size tells a cylinder's top from a sphere). The bank
//   holds that description for renders of every shape from cameras and lights of the
//   ShapeWorld distribution (vkd_camera_sample, vkd_light_sample keyed by the bank seed;
//   a quarter of the views restricted to elevations above 60 degrees, where cylinders and
//   cones differ from spheres only by a thin rim or a flat top): each view once
//   textureless (lit, so the flat faces of a cube or pyramid and the gradient of a sphere
//   show) and once in albedo (silhouette only), each also mirrored left-right (the shapes
//   and the camera distribution are mirror-symmetric). The verdict is the shape of the
//   nearest bank entry (squared Euclidean distance).
// Limits (measured, tests/test_judge_accuracy.c): ~99% of shapes right on held-out views;
// the misses are near-overhead cylinders against spheres (a circle either way) and cones
// against pyramids seen exactly face-on at low elevation (a triangle either way: the two
// have the same proportions, 18% apart in size) -- a turntable at elevation 0-20 has four
// such views of a pyramid and the judge calls about half of them cones.
// The bank renders with the project's own analytic renderer, so the judge is exact only for
// ShapeWorld images; a test keeps its accuracy on held-out cameras on record.
#ifndef VKD_JUDGE_H
#define VKD_JUDGE_H

#include <stdint.h>

#include "shapeworld.h"
#include "status.h"

typedef struct vkd_judge vkd_judge_t;

typedef struct {
    int empty;     // 1: no foreground found (shape, colour and scores then meaningless)
    int achromatic; // 1: the foreground is grey (textureless): colour is undefined
    vkd_sw_shape_t shape;
    vkd_sw_colour_t colour;
    // Pseudo-probabilities, sum 1, higher = more likely: softmax over shapes of
    // -D_s / VKD_JUDGE_SCORE_TEMP, with D_s the mean squared per-cell difference between the
    // image's description and the nearest bank entry of shape s. Not calibrated; the
    // margin between the two best says how clear the call was.
    float shape_score[VKD_SW_N_SHAPES];
    float shape_dist[VKD_SW_N_SHAPES];   // D_s above
    float colour_dist[VKD_SW_N_COLOURS]; // median CIELAB distance of the foreground to each
                                         // palette colour's shading ray
    float grey_dist;                     // the same for the white (textureless) ray
    float fg_fraction;                   // sum of alpha / pixels
} vkd_judge_verdict_t;

#define VKD_JUDGE_SCORE_TEMP 0.01f

// The bank seed of `vkdream judge` and `vkdream sample --judge`: neither the oracle prior's
// views (seed 0) nor the held-out views of the tests.
#define VKD_JUDGE_SEED_DEFAULT 0x4a554447u // "JUDG"

typedef struct {
    int views_per_shape; // bank cameras per shape, 16..20000 (1200); four entries each
    int supersample;     // of the bank renders, 1..8 (2, as the oracle and the training data)
    int threads;         // 0: OpenMP's default; 1: build on the calling thread only
} vkd_judge_opts_t;

vkd_judge_opts_t vkd_judge_opts_default(void);

// Builds the bank from cameras and lights keyed by seed (use a seed other than the one of
// the images to be judged when measuring accuracy). The default bank takes ~1 s on 2 cores.
vkd_status_t vkd_judge_create(uint64_t seed, vkd_judge_t **out);
vkd_status_t vkd_judge_create_ex(uint64_t seed, const vkd_judge_opts_t *opts, vkd_judge_t **out);
void vkd_judge_free(vkd_judge_t *j); // NULL is fine

// Judge rgb (H, W, 3), linear RGB over vkd_sw_background(); 8 <= H, W <= 1024. The object
// is expected to fill the frame as with the ShapeWorld cameras (about half its height).
// VKD_ERR_INVALID for a bad size, a NULL pointer or a non-finite pixel. Re-entrant: one
// judge may serve several threads.
vkd_status_t vkd_judge_image(const vkd_judge_t *j, const float *rgb, int H, int W,
                             vkd_judge_verdict_t *v);

// Whether a verdict names obj: *shape_ok and *colour_ok are 0 or 1. An empty verdict is
// wrong on both; an achromatic one is wrong on colour.
void vkd_judge_match(const vkd_judge_verdict_t *v, vkd_sw_object_t obj, int *shape_ok,
                     int *colour_ok);

#endif
