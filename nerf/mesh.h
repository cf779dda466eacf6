// Surface extraction from any scalar field, and the mesh operations that follow it.
//
// The field is a callback evaluated in batches, so the same code meshes a trained NeRF, a
// ShapeWorld SDF or anything else. Density is "more inside" when larger: the surface is
// the level set density = threshold, the solid where density > threshold. A signed
// distance field plugs in as density = -sdf with threshold 0.
//
// Extraction is marching tetrahedra on the Freudenthal (Kuhn) subdivision of the grid:
// every cube is cut into the same 6 tetrahedra around its (0,0,0)-(1,1,1) diagonal, so
// neighbouring cubes cut their shared face along the same diagonal. Inside a tetrahedron
// the linear interpolant's level set is a single triangle or quad, with no ambiguous case,
// and the pieces of neighbouring tetrahedra meet on the shared lattice edges; the output
// is therefore always a closed, crack-free 2-manifold (samples exactly at the threshold
// count as outside). See marching_cubes.c for why this instead of the 256-case table.
#ifndef VKD_MESH_H
#define VKD_MESH_H

#include <stdint.h>

#include "mesh_write.h" // vkd_mesh_t
#include "status.h"

// Evaluate the field at P points xyz (P, 3): density (P) always, rgb (P, 3) linear albedo
// in [0, 1] when rgb != NULL. Called with P <= the batch size of the options.
typedef vkd_status_t (*vkd_field_sample_fn)(void *user, const float *xyz /* (P, 3) */, int P,
                                            float *density /* (P) */,
                                            float *rgb /* (P, 3) or NULL */);

typedef struct {
    int grid;        // samples per axis, 8..512 (128)
    float radius;    // the grid spans [-radius, radius]^3; points outside the ball of
                     // this radius count as empty (1.4: the renderer's bounding sphere)
    float threshold; // NaN: automatic (vkd_mesh_auto_threshold)
    int batch;       // points per callback call (65536)
} vkd_mc_opts_t;

typedef struct {
    float threshold;    // the threshold used
    int auto_threshold; // 1 when it was chosen automatically
    float dmin, dmax;   // finite density range seen inside the ball
    double ms_sample;   // wall time spent in the field callback on the grid
    double ms_extract;  // wall time of sampling + extraction (no attributes)
    double ms_total;    // including normals and colours
} vkd_mc_info_t;

vkd_mc_opts_t vkd_mc_opts_default(void);

// Extract the surface. On success *out holds a mesh with at least one triangle (free it
// with vkd_mesh_free). When no surface crosses the threshold it fails (VKD_ERR_NUMERIC)
// with a message that gives the density range seen, the threshold tried and a suggested
// one; info (may be NULL) is filled in either way.
vkd_status_t vkd_mc_extract(vkd_field_sample_fn fn, void *user, const vkd_mc_opts_t *o,
                            vkd_mesh_t *out, vkd_mc_info_t *info);

// The automatic threshold: Otsu's split of the histogram of densities sampled on a coarse
// grid (n per axis) inside the ball, the density clamped to its 1st..99th percentile so a
// few huge values do not pull the split. It separates "empty" from "occupied" samples
// when the field is two-valued (a NeRF: near 0 outside, large inside). Fails
// (VKD_ERR_NUMERIC) when the field is constant or not finite anywhere.
vkd_status_t vkd_mesh_auto_threshold(vkd_field_sample_fn fn, void *user, float radius, int n,
                                     int batch, float *t);

void vkd_mesh_free(vkd_mesh_t *m);

// Fill m->normal (minus the density gradient by central differences of step h, normalised;
// area-weighted face normals where that gradient vanishes) and m->rgb (the field's colour,
// clamped to [0, 1]) for m's vertices. vkd_mc_extract calls it; exposed for re-meshing.
vkd_status_t vkd_mesh_field_attributes(vkd_field_sample_fn fn, void *user, int batch, double h,
                                       vkd_mesh_t *m);

// ---- mesh_ops.c ------------------------------------------------------------------------

// Keep only the connected component (through shared vertices) with the most faces.
// *n_components (may be NULL) gets the number of components before.
vkd_status_t vkd_mesh_largest_component(vkd_mesh_t *m, int *n_components);
// Reduce to at most max_faces faces (>= 4) by vertex clustering on the largest uniform
// grid that meets the budget (see mesh_ops.c). No-op when already within the budget.
vkd_status_t vkd_mesh_decimate(vkd_mesh_t *m, int max_faces);

typedef struct {
    long edges;             // distinct undirected edges
    long boundary_edges;    // used by one face
    long nonmanifold_edges; // used by more than two faces
    long misoriented_edges; // used twice in the same direction (inconsistent winding)
    long euler;             // V - E + F
    double volume;          // signed volume (divergence theorem)
    double area;
} vkd_mesh_stats_t;
vkd_status_t vkd_mesh_stats(const vkd_mesh_t *m, vkd_mesh_stats_t *s);

// ---- mesh_shapeworld.c ------------------------------------------------------------------

// A field callback for a ShapeWorld object: density = -sdf (threshold 0), rgb = its colour.
// user points to a vkd_sw_object_t (shapeworld.h).
vkd_status_t vkd_sw_field_sample(void *user, const float *xyz, int P, float *density, float *rgb);

#endif
