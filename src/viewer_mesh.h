// A triangle mesh as a viewer scene: a .glb read back (the subset vkdream writes and common
// exporters use) and a CPU ray caster over a bounding-volume hierarchy that produces the
// same outputs as the scene renderers (vkd_render_out_t: rgb, opacity, depth, normals), so
// the viewer's six pictures work for a mesh too and a mesh compares with the NeRF it came
// from. A ray caster instead of a graphics pipeline: the viewer presents host images
// (viewer.h), and at exported-mesh sizes (~10^5 triangles) a BVH casts a 640 x 480 frame
// in tens of milliseconds on two cores.
#ifndef VKD_VIEWER_MESH_H
#define VKD_VIEWER_MESH_H

#include "camera.h"
#include "mesh_write.h"
#include "shading.h"
#include "shapeworld.h" // vkd_render_out_t
#include "status.h"

// Read the first primitive of the first mesh of a binary glTF 2.0 file: POSITION (float
// VEC3), NORMAL (float VEC3, optional), COLOR_0 (float or normalised unsigned byte/short,
// VEC3 or VEC4, optional; linear RGB), indices (unsigned byte/short/int, optional:
// non-indexed triangles otherwise), mode TRIANGLES. Node transforms are not applied. Any
// other layout fails with VKD_ERR_FORMAT naming the file and what is unsupported.
// Free *out with free() on its arrays (or vkd_mesh_free from nerf/mesh.h).
vkd_status_t vkd_glb_read(const char *path, vkd_mesh_t *out);

typedef struct vkd_view_mesh vkd_view_mesh_t;

// Build the BVH of m; takes ownership of m's arrays (on failure too).
vkd_status_t vkd_view_mesh_create(vkd_mesh_t *m, vkd_view_mesh_t **out);
void vkd_view_mesh_destroy(vkd_view_mesh_t *vm); // NULL is fine
// Largest distance of a vertex from the origin (depth range, camera placement).
float vkd_view_mesh_extent(const vkd_view_mesh_t *vm);
int vkd_view_mesh_faces(const vkd_view_mesh_t *vm);

// Cast supersample^2 rays per pixel (1..4) of cam; shade hits with vkd_shade(mode, light,
// vertex colour (white without colours), interpolated normal (the face's where the mesh
// has none), hit point) over bg (3) and average as vkd_sw_render does. Back faces are hit
// too (an open mesh stays visible from inside), their normal flipped towards the ray.
vkd_status_t vkd_view_mesh_render(const vkd_view_mesh_t *vm, const vkd_camera_t *cam,
                                  vkd_shade_mode_t mode, const vkd_light_t *light,
                                  const float bg[3], int supersample, const vkd_render_out_t *out);

#endif
