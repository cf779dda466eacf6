// Triangle meshes and their file formats: glTF 2.0 binary (.glb), Wavefront OBJ with the
// common per-vertex colour extension (`v x y z r g b`), and binary little-endian PLY.
// Every writer goes through fileio.h's atomic writer.
//
// Colours: the mesh holds linear RGB. glTF's COLOR_0 is linear by specification, so the
// GLB gets it as is; OBJ and PLY have no colour space, and every common viewer (MeshLab,
// Blender's importers, three.js' loaders by default) shows their colours as display
// values, so they get sRGB-encoded colours.
#ifndef VKD_MESH_WRITE_H
#define VKD_MESH_WRITE_H

#include <stdint.h>

#include "status.h"

// An indexed triangle mesh; vertices are shared between triangles. Counter-clockwise
// triangles seen from outside.
typedef struct {
    int n_vertices;
    int n_faces;
    float *pos;    // (V, 3)
    float *normal; // (V, 3) unit, or NULL
    float *rgb;    // (V, 3) linear RGB in [0, 1], or NULL
    uint32_t *idx; // (F, 3)
} vkd_mesh_t;

typedef enum { VKD_MESH_GLB = 0, VKD_MESH_OBJ, VKD_MESH_PLY } vkd_mesh_format_t;

// The format named by path's extension (.glb, .obj, .ply; any case). VKD_ERR_INVALID
// naming the path and the known extensions otherwise.
vkd_status_t vkd_mesh_format_of(const char *path, vkd_mesh_format_t *fmt);
// Check m (positive counts, indices in range, finite positions) and write it in the format
// of path's extension. name names the glTF node, mesh and material ("vkdream" if NULL).
// An empty mesh is refused (VKD_ERR_INVALID), never written.
vkd_status_t vkd_mesh_write(const char *path, const vkd_mesh_t *m, const char *name);
vkd_status_t vkd_mesh_write_glb(const char *path, const vkd_mesh_t *m, const char *name);
vkd_status_t vkd_mesh_write_obj(const char *path, const vkd_mesh_t *m, const char *name);
vkd_status_t vkd_mesh_write_ply(const char *path, const vkd_mesh_t *m, const char *name);

#endif
