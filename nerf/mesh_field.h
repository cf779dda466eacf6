// Meshing a NeRF field: the field as a vkd_field_sample_fn (mesh.h) and the one call that
// turns a loaded field into a coloured triangle mesh or a mesh file. `vkdream export CKPT`
// and the end of `generate` (DIR/mesh.glb) both go through vkd_nerf_export_mesh_file, so a
// checkpoint exported later and the mesh a run wrote are the same mesh.
//
// What the mesh is: the level set density = threshold of the field's density sigma
// (after its activation, the quantity the renderer integrates), extracted by marching
// tetrahedra (mesh.h) on a grid over the bounding sphere, with vertex normals from the
// density gradient and vertex colours from the albedo head at the vertex. The field is
// evaluated as the renderer evaluates it at the end of training: the IPE covariance of the
// field's own step (vkd_nerf_ipe_var), each point a Gaussian of zero extra variance.
//
// The automatic threshold (VKD_NERF_MESH_AUTO_OPACITY): the density at which a sample
// interval of the renderer becomes half opaque, sigma* = ln 2 / delta with
// delta = 2 * bound / samples (the renderer's stratum length along a ray through the
// centre). Why this and not a histogram split: the surface a user sees in the renders is
// where the accumulated opacity rises, and one stratum with alpha = 1/2 is the point where
// a render turns from "see-through" to "mostly there"; it depends only on the renderer's
// sampling, not on the shape's volume, so it is stable from one prompt to the next. With
// the default 48 samples in a 1.4 sphere sigma* = 11.9. Measured on the fitted cube and
// torus of tests/test_nerf_fit.c (mesh occupancy IoU against the ground truth, 64^3 grid,
// tests/test_export.c): thresholds 2 / 11.9 / 25 gave 0.87 / 0.96 / 0.95 (cube) and
// 0.82 / 0.89 / 0.78 (torus): the choice matters a little and sigma* was the best of the
// three on both. Otsu's split of the density histogram (what mesh.h offers for two-valued
// fields) is a poor fit here: the inside of a fitted solid ranges over orders of
// magnitude (up to ~7000), and the split lands inside that range.
//
// Vertex colours are the mean albedo 1, 2 and 3 grid cells inside the surface along the
// normal, not at the vertex itself: the albedo exactly at the level set is barely
// constrained by the images and showed grid-scale stripes (mean colour error 0.032 at
// the vertex, 0.013 inside, on the fitted red cube).
#ifndef VKD_NERF_MESH_FIELD_H
#define VKD_NERF_MESH_FIELD_H

#include "mesh_write.h"
#include "nerf/field.h"
#include "nerf/mesh.h"

typedef struct {
    int grid;        // samples per axis, 8..512 (128)
    float threshold; // density level of the surface; NaN: automatic (see above)
    float radius;    // half side of the sampled cube; 0: the field's bounding sphere
    int largest;     // keep only the largest connected component (1): floaters go
    int max_faces;   // decimate to at most this many faces; 0: keep all (0)
    int batch;       // field points per evaluation (32768)
} vkd_nerf_mesh_opts_t;

typedef struct {
    vkd_mc_info_t mc;  // threshold used, density range, extraction timings
    int n_components;  // connected components before `largest` (1 when not asked)
    int n_vertices, n_faces; // of the final mesh
    double ms_total;   // the whole export (without writing the file)
} vkd_nerf_mesh_info_t;

vkd_nerf_mesh_opts_t vkd_nerf_mesh_opts_default(void);

// The automatic threshold of f: ln 2 / (2 * bound / samples) (see above).
float vkd_nerf_mesh_auto_threshold(const vkd_field_t *f);

// ---- the field as a sampling callback ---------------------------------------------------
// Holds the field's workspace for `batch` points on the field's backend.
typedef struct vkd_nerf_sampler vkd_nerf_sampler_t;
vkd_status_t vkd_nerf_sampler_create(vkd_field_t *f, int batch, vkd_nerf_sampler_t **out);
void vkd_nerf_sampler_destroy(vkd_nerf_sampler_t *s); // NULL is fine
// A vkd_field_sample_fn: user is a vkd_nerf_sampler_t; P may exceed its batch (chunked).
// density (P) = sigma, rgb (P, 3) = albedo in [0, 1] when not NULL.
vkd_status_t vkd_nerf_field_sample(void *user, const float *xyz /* (P, 3) */, int P,
                                   float *density /* (P) */, float *rgb /* (P, 3) or NULL */);

// ---- the export -------------------------------------------------------------------------
// Mesh f (a field from vkd_nerf_ckpt_load or a live run; not modified) into *out (free
// with vkd_mesh_free). Fails when no surface crosses the threshold, with mesh.h's message
// (density range seen, threshold tried, a suggestion). info may be NULL.
vkd_status_t vkd_nerf_export_mesh(vkd_field_t *f, const vkd_nerf_mesh_opts_t *o,
                                  vkd_mesh_t *out, vkd_nerf_mesh_info_t *info);
// The same, written atomically to path (.glb, .obj or .ply by its extension; the format
// is checked before any meshing). name names the glTF node/mesh/material (NULL:
// "vkdream"). Nothing is written on failure.
vkd_status_t vkd_nerf_export_mesh_file(vkd_field_t *f, const vkd_nerf_mesh_opts_t *o,
                                       const char *path, const char *name,
                                       vkd_nerf_mesh_info_t *info);

#endif
