// Internals of the ShapeWorld judge shared by judge.c (bank, nearest neighbour) and
// judge_features.c (segmentation, colour, the colour-free description of an image).
#ifndef VKD_JUDGE_IMPL_H
#define VKD_JUDGE_IMPL_H

#include "judge.h"

#define JUDGE_G 16                          // side of the description grid
#define JUDGE_GRID (JUDGE_G * JUDGE_G)
#define JUDGE_FEAT (2 * JUDGE_GRID)         // alpha grid, shading grid
#define JUDGE_NK 19                         // samples of k along each colour ray
#define JUDGE_N_RAYS (VKD_SW_N_COLOURS + 1) // the palette, then white

// CIELAB points of k * albedo for k = 0.15, 0.2, ..., 1.05, per ray: (rays, NK, 3).
typedef struct {
    float lab[JUDGE_N_RAYS][JUDGE_NK][3];
} judge_rays_t;

void judge_rays_init(judge_rays_t *r);

// Linear RGB (3) -> CIELAB (3), D65 white; negative channels count as 0.
void judge_lab(const float rgb[3], float lab[3]);

// Segments rgb (H, W, 3), judges its colour and writes its description feat (JUDGE_FEAT):
// (2, G, G), alpha then shading. Fills v's empty, achromatic, colour, colour_dist,
// grey_dist and fg_fraction (the shape fields are left to the caller). feat is untouched
// when the image is empty. known_rho (3): the object's albedo when known (the bank's own
// renders): the colour is then not judged (v's colour fields stay 0), only used. The caller
// has checked the arguments.
vkd_status_t judge_describe(const judge_rays_t *rays, const float *rgb, int H, int W,
                            const float *known_rho, float *feat, vkd_judge_verdict_t *v);

#endif
