// Mesh writers: GLB (glTF 2.0 binary), OBJ with vertex colours, binary PLY.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fileio.h"
#include "mesh_write.h"

vkd_status_t vkd_mesh_format_of(const char *path, vkd_mesh_format_t *fmt) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    static const char *ext[3] = {"glb", "obj", "ply"};
    if (dot && !strchr(dot, '/'))
        for (int i = 0; i < 3; i++) {
            int same = strlen(dot + 1) == 3;
            for (int c = 0; same && c < 3; c++)
                same = tolower((unsigned char)dot[1 + c]) == ext[i][c];
            if (same) {
                *fmt = (vkd_mesh_format_t)i;
                return VKD_OK;
            }
        }
    return vkd_fail(VKD_ERR_INVALID, "mesh file '%s': unknown extension; use .glb, .obj or .ply",
                    path ? path : "(null)");
}

static vkd_status_t check_mesh(const char *path, const vkd_mesh_t *m) {
    if (!m || !m->pos || !m->idx || m->n_vertices <= 0 || m->n_faces <= 0)
        return vkd_fail(VKD_ERR_INVALID,
                        "mesh file '%s': the mesh is empty (%d vertices, %d faces); nothing "
                        "written",
                        path, m ? m->n_vertices : 0, m ? m->n_faces : 0);
    for (size_t i = 0; i < 3 * (size_t)m->n_faces; i++)
        if (m->idx[i] >= (uint32_t)m->n_vertices)
            return vkd_fail(VKD_ERR_INVALID, "mesh file '%s': face %zu uses vertex %u of %d", path,
                            i / 3, m->idx[i], m->n_vertices);
    for (size_t i = 0; i < 3 * (size_t)m->n_vertices; i++)
        if (!isfinite(m->pos[i]) || (m->normal && !isfinite(m->normal[i])) ||
            (m->rgb && !isfinite(m->rgb[i])))
            return vkd_fail(VKD_ERR_INVALID, "mesh file '%s': vertex %zu is not finite", path,
                            i / 3);
    return VKD_OK;
}

static float clamp01(float x) {
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static float srgb(float x) {
    x = clamp01(x);
    return x <= 0.0031308f ? 12.92f * x : 1.055f * powf(x, 1.0f / 2.4f) - 0.055f;
}

// ---- GLB -------------------------------------------------------------------------------

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_f32(uint8_t *p, float f) {
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(p, v);
}

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_view(cJSON *views, size_t off, size_t len, int target) {
    cJSON *v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "buffer", 0);
    cJSON_AddNumberToObject(v, "byteOffset", (double)off);
    cJSON_AddNumberToObject(v, "byteLength", (double)len);
    cJSON_AddNumberToObject(v, "target", target);
    cJSON_AddItemToArray(views, v);
}

static void add_accessor(cJSON *acc, int view, int ctype, size_t count, const char *type,
                         const double *mn, const double *mx) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "bufferView", view);
    cJSON_AddNumberToObject(a, "componentType", ctype);
    cJSON_AddNumberToObject(a, "count", (double)count);
    cJSON_AddStringToObject(a, "type", type);
    if (mn) cJSON_AddItemToObject(a, "min", num_array(mn, 3));
    if (mx) cJSON_AddItemToObject(a, "max", num_array(mx, 3));
    cJSON_AddItemToArray(acc, a);
}

// The glTF JSON for a buffer of positions, [normals], [colours] and indices (in that order).
static char *gltf_json(const vkd_mesh_t *m, const char *name, size_t bin_len) {
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces, vb = V * 12;
    double mn[3] = {INFINITY, INFINITY, INFINITY}, mx[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < V; v++)
        for (int d = 0; d < 3; d++) {
            double x = m->pos[3 * v + d]; // exactly the float32 stored in the buffer
            if (x < mn[d]) mn[d] = x;
            if (x > mx[d]) mx[d] = x;
        }
    cJSON *root = cJSON_CreateObject();
    cJSON *asset = cJSON_AddObjectToObject(root, "asset");
    cJSON_AddStringToObject(asset, "version", "2.0");
    cJSON_AddStringToObject(asset, "generator", "vkdream " VKD_VERSION);
    cJSON_AddNumberToObject(root, "scene", 0);
    cJSON *scene = cJSON_CreateObject();
    cJSON_AddStringToObject(scene, "name", name);
    cJSON *sn = cJSON_AddArrayToObject(scene, "nodes");
    cJSON_AddItemToArray(sn, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "scenes"), scene);
    cJSON *node = cJSON_CreateObject();
    cJSON_AddStringToObject(node, "name", name);
    cJSON_AddNumberToObject(node, "mesh", 0);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "nodes"), node);

    cJSON *views = cJSON_AddArrayToObject(root, "bufferViews");
    cJSON *acc = cJSON_AddArrayToObject(root, "accessors");
    cJSON *prim = cJSON_CreateObject();
    cJSON *attr = cJSON_AddObjectToObject(prim, "attributes");
    size_t off = 0;
    int nv = 0;
    add_view(views, off, vb, 34962), off += vb;     // ARRAY_BUFFER
    add_accessor(acc, nv, 5126, V, "VEC3", mn, mx); // FLOAT
    cJSON_AddNumberToObject(attr, "POSITION", nv++);
    if (m->normal) {
        add_view(views, off, vb, 34962), off += vb;
        add_accessor(acc, nv, 5126, V, "VEC3", NULL, NULL);
        cJSON_AddNumberToObject(attr, "NORMAL", nv++);
    }
    if (m->rgb) {
        add_view(views, off, vb, 34962), off += vb;
        add_accessor(acc, nv, 5126, V, "VEC3", NULL, NULL);
        cJSON_AddNumberToObject(attr, "COLOR_0", nv++);
    }
    add_view(views, off, F * 12, 34963);                      // ELEMENT_ARRAY_BUFFER
    add_accessor(acc, nv, 5125, 3 * F, "SCALAR", NULL, NULL); // UNSIGNED_INT
    cJSON_AddNumberToObject(prim, "indices", nv);
    cJSON_AddNumberToObject(prim, "material", 0);
    cJSON_AddNumberToObject(prim, "mode", 4); // TRIANGLES
    cJSON *mesh = cJSON_CreateObject();
    cJSON_AddStringToObject(mesh, "name", name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(mesh, "primitives"), prim);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "meshes"), mesh);

    // White base colour: the vertex colours are the albedo; rough dielectric, as the
    // NeRF's albedo is shaded (Lambertian) in training.
    cJSON *mat = cJSON_CreateObject();
    cJSON_AddStringToObject(mat, "name", name);
    cJSON *pbr = cJSON_AddObjectToObject(mat, "pbrMetallicRoughness");
    const double white[4] = {1, 1, 1, 1};
    cJSON *bc = cJSON_CreateArray();
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(bc, cJSON_CreateNumber(white[i]));
    cJSON_AddItemToObject(pbr, "baseColorFactor", bc);
    cJSON_AddNumberToObject(pbr, "metallicFactor", 0);
    cJSON_AddNumberToObject(pbr, "roughnessFactor", 1);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "materials"), mat);

    cJSON *buf = cJSON_CreateObject();
    cJSON_AddNumberToObject(buf, "byteLength", (double)bin_len);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "buffers"), buf);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

vkd_status_t vkd_mesh_write_glb(const char *path, const vkd_mesh_t *m, const char *name) {
    VKD_TRY(check_mesh(path, m));
    if (!name) name = "vkdream";
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    size_t bin = V * 12 * (1 + !!m->normal + !!m->rgb) + F * 12; // all multiples of 4
    char *json = gltf_json(m, name, bin);
    if (!json) return vkd_fail(VKD_ERR_NOMEM, "mesh file '%s': building the glTF JSON", path);
    size_t jl = strlen(json), jpad = (4 - jl % 4) % 4;
    size_t total = 12 + 8 + jl + jpad + 8 + bin;
    if (total > UINT32_MAX) {
        free(json);
        return vkd_fail(VKD_ERR_INVALID,
                        "mesh file '%s': %zu bytes is over GLB's 4 GiB limit; "
                        "decimate or lower --grid",
                        path, total);
    }
    uint8_t *b = malloc(total);
    if (!b) {
        free(json);
        return vkd_fail(VKD_ERR_NOMEM, "mesh file '%s': no memory for %zu bytes", path, total);
    }
    put_u32(b, 0x46546C67); // "glTF"
    put_u32(b + 4, 2);
    put_u32(b + 8, (uint32_t)total);
    put_u32(b + 12, (uint32_t)(jl + jpad));
    put_u32(b + 16, 0x4E4F534A); // "JSON"
    memcpy(b + 20, json, jl);
    memset(b + 20 + jl, ' ', jpad);
    free(json);
    uint8_t *p = b + 20 + jl + jpad;
    put_u32(p, (uint32_t)bin);
    put_u32(p + 4, 0x004E4942); // "BIN\0"
    p += 8;
    const float *attrs[3] = {m->pos, m->normal, m->rgb};
    for (int a = 0; a < 3; a++) {
        if (!attrs[a]) continue;
        for (size_t i = 0; i < 3 * V; i++, p += 4)
            put_f32(p, a == 2 ? clamp01(attrs[a][i]) : attrs[a][i]);
    }
    for (size_t i = 0; i < 3 * F; i++, p += 4) put_u32(p, m->idx[i]);
    vkd_status_t s = vkd_file_write_atomic(path, b, total);
    free(b);
    return s;
}

// ---- OBJ -------------------------------------------------------------------------------

vkd_status_t vkd_mesh_write_obj(const char *path, const vkd_mesh_t *m, const char *name) {
    VKD_TRY(check_mesh(path, m));
    vkd_afile_t *f;
    VKD_TRY(vkd_afile_open(path, &f));
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    vkd_afile_printf(f, "# vkdream %s: %zu vertices, %zu faces; vertex colours sRGB\no %s\n",
                     VKD_VERSION, V, F, name ? name : "vkdream");
    for (size_t v = 0; v < V; v++) {
        const float *p = &m->pos[3 * v];
        if (m->rgb) {
            const float *c = &m->rgb[3 * v];
            vkd_afile_printf(f, "v %.7g %.7g %.7g %.4f %.4f %.4f\n", p[0], p[1], p[2], srgb(c[0]),
                             srgb(c[1]), srgb(c[2]));
        } else {
            vkd_afile_printf(f, "v %.7g %.7g %.7g\n", p[0], p[1], p[2]);
        }
    }
    if (m->normal)
        for (size_t v = 0; v < V; v++) {
            const float *n = &m->normal[3 * v];
            vkd_afile_printf(f, "vn %.6g %.6g %.6g\n", n[0], n[1], n[2]);
        }
    for (size_t t = 0; t < F; t++) {
        const uint32_t *i = &m->idx[3 * t];
        if (m->normal)
            vkd_afile_printf(f, "f %u//%u %u//%u %u//%u\n", i[0] + 1, i[0] + 1, i[1] + 1, i[1] + 1,
                             i[2] + 1, i[2] + 1);
        else
            vkd_afile_printf(f, "f %u %u %u\n", i[0] + 1, i[1] + 1, i[2] + 1);
    }
    return vkd_afile_commit(f); // reports any earlier write failure
}

// ---- PLY -------------------------------------------------------------------------------

vkd_status_t vkd_mesh_write_ply(const char *path, const vkd_mesh_t *m, const char *name) {
    VKD_TRY(check_mesh(path, m));
    vkd_afile_t *f;
    VKD_TRY(vkd_afile_open(path, &f));
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    vkd_afile_printf(f,
                     "ply\nformat binary_little_endian 1.0\ncomment vkdream %s: %s; vertex "
                     "colours sRGB\nelement vertex %zu\nproperty float x\nproperty float y\n"
                     "property float z\n",
                     VKD_VERSION, name ? name : "vkdream", V);
    if (m->normal) vkd_afile_printf(f, "property float nx\nproperty float ny\nproperty float nz\n");
    if (m->rgb)
        vkd_afile_printf(f, "property uchar red\nproperty uchar green\nproperty uchar blue\n");
    vkd_afile_printf(f, "element face %zu\nproperty list uchar int vertex_indices\nend_header\n",
                     F);
    uint8_t rec[27];
    for (size_t v = 0; v < V; v++) {
        size_t n = 0;
        for (int d = 0; d < 3; d++, n += 4) put_f32(rec + n, m->pos[3 * v + d]);
        if (m->normal)
            for (int d = 0; d < 3; d++, n += 4) put_f32(rec + n, m->normal[3 * v + d]);
        if (m->rgb)
            for (int d = 0; d < 3; d++) rec[n++] = (uint8_t)lrintf(srgb(m->rgb[3 * v + d]) * 255.f);
        vkd_afile_write(f, rec, n);
    }
    for (size_t t = 0; t < F; t++) {
        rec[0] = 3;
        for (int d = 0; d < 3; d++) put_u32(rec + 1 + 4 * d, m->idx[3 * t + d]);
        vkd_afile_write(f, rec, 13);
    }
    return vkd_afile_commit(f);
}

vkd_status_t vkd_mesh_write(const char *path, const vkd_mesh_t *m, const char *name) {
    vkd_mesh_format_t fmt;
    VKD_TRY(vkd_mesh_format_of(path, &fmt));
    switch (fmt) {
    case VKD_MESH_GLB:
        return vkd_mesh_write_glb(path, m, name);
    case VKD_MESH_OBJ:
        return vkd_mesh_write_obj(path, m, name);
    default:
        return vkd_mesh_write_ply(path, m, name);
    }
}
