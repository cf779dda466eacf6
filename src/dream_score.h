// Ground-truth scoring of a generated field against its ShapeWorld object: what
// `generate` writes to metrics.json and `vkdream eval` aggregates.
//
// The solid: the field's density sigma is evaluated at the centres of a G^3 grid over
// [-extent, extent]^3 (G = 64, extent 0.9: every ShapeWorld object lies within radius
// 0.7), with the IPE covariance of the field's own step. A cell is in the solid when its
// density exceeds `iso`, or when it is enclosed: each of the 26 grid directions from it
// (axes, face and cube diagonals) runs into such a cell before leaving the grid. Enclosure
// counts the unconstrained interior of a fitted shell as solid (no image sees inside a
// closed surface), while a hole open to the outside (a torus's) stays empty. The default
// iso is the mesh export's automatic threshold (nerf/mesh_field.h: the density at which one
// renderer stratum is half opaque, 11.9 with 48 samples in a 1.4 sphere), so the scored
// solid is the solid that mesh.glb encloses; fitted fields rise from < 0.2 to > 25 within
// a cell at their surface, so the exact value matters little.
//
// Fields made by SDS are softer: the density of a sphere can climb from 2 to 20 over
// several cells, and the IoU then depends on the level (bench/RESULTS.md, eval at iso 2, 5,
// 11.9 and 20: a pink sphere 0.91 / 0.85 / 0.63 / 0.41). generate therefore scores and
// meshes at VKD_DREAM_SDS_ISO = 5, the level nerf/README.md uses for the NeRF solid (the
// default below stays the export's automatic one); `vkdream export --threshold 5`
// reproduces generate's mesh.glb.
//
// IoU: |solid AND object| / |solid OR object| over the grid's cells, with the object
// rotated about the vertical (y) axis by the angle in [0, 360) (steps of rot_step_deg)
// that maximises it: the prompt does not fix the azimuth of a cube's faces. Shapes with
// rotational symmetry about y (sphere, cylinder, cone, torus) need one angle, the cube and
// pyramid only a quarter turn. The same is computed for every shape: shape_correct means
// the prompt's shape scores the highest IoU.
//
// Colour: the per-channel median albedo over the solid's surface cells (in the solid with a face
// neighbour outside it), matched to the nearest palette colour by Euclidean distance of
// the sRGB-encoded values (closer to perceived difference than linear RGB).
#ifndef VKD_DREAM_SCORE_H
#define VKD_DREAM_SCORE_H

#include "nerf/field.h"
#include "shapeworld.h"
#include "status.h"

#define VKD_DREAM_SDS_ISO 5.0f

typedef struct {
    int grid;           // cells per axis, 8..256 (64)
    float extent;       // half side of the grid cube (0.9)
    float iso;          // density level of the solid; NaN: the mesh's automatic threshold
    float rot_step_deg; // rotation search step, (0, 90] (5)
} vkd_dream_score_opts_t;

typedef struct {
    float iso;                            // the level used
    double iou;                           // of the prompt's shape at its best rotation
    float rot_deg;                        // that rotation
    double iou_shape[VKD_SW_N_SHAPES];    // best IoU of every shape (same colour irrelevant)
    float rot_shape[VKD_SW_N_SHAPES];
    int best_shape;                       // argmax of iou_shape
    int shape_correct;                    // best_shape == the prompt's shape
    float albedo[3];                      // median surface albedo (linear RGB); NaN when no solid
    int colour;                           // nearest palette colour, -1 when no solid
    int colour_correct;
    double solid_frac;                    // share of the grid's cells in the solid
} vkd_dream_score_t;

vkd_dream_score_opts_t vkd_dream_score_opts_default(void);

// Score field f against obj. f is only read.
vkd_status_t vkd_dream_score(vkd_field_t *f, vkd_sw_object_t obj, const vkd_dream_score_opts_t *o,
                             vkd_dream_score_t *out);

// The score as a JSON object text (malloc'd; free it): iou, rotation_deg, shape_correct,
// colour_correct, best_shape, colour, albedo, iou_per_shape {name: iou}, iso, grid, extent.
char *vkd_dream_score_json(const vkd_dream_score_t *sc, vkd_sw_object_t obj,
                           const vkd_dream_score_opts_t *o);

#endif
