// Reading a binary glTF 2.0 mesh back for the viewer (viewer_mesh.h): the container (a
// 12-byte header, a JSON chunk, a BIN chunk), then accessors -> buffer views -> bytes.
// Everything read from the file is bounds-checked before use: a damaged or foreign file
// gives a message, never a read past the buffer.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "viewer_mesh.h"

#define GLB_MAGIC 0x46546C67u // "glTF"
#define CHUNK_JSON 0x4E4F534Au
#define CHUNK_BIN 0x004E4942u

enum { CT_BYTE = 5120, CT_UBYTE, CT_SHORT, CT_USHORT, CT_UINT = 5125, CT_FLOAT };

typedef struct {
    const char *path;
    cJSON *root;
    const uint8_t *bin;
    size_t bin_len;
} glb_t;

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int json_int(const cJSON *o, const char *key, long def, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = def;
        return def >= 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4e9 ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (long)v->valuedouble;
    return 1;
}

static int comp_size(long ct) {
    return ct == CT_BYTE || ct == CT_UBYTE ? 1 : ct == CT_SHORT || ct == CT_USHORT ? 2
           : ct == CT_UINT || ct == CT_FLOAT                                      ? 4
                                                                                  : 0;
}

static int type_comps(const char *t) {
    return !strcmp(t, "SCALAR") ? 1 : !strcmp(t, "VEC2") ? 2 : !strcmp(t, "VEC3") ? 3
           : !strcmp(t, "VEC4")                           ? 4
                                                          : 0;
}

// Accessor `index` read into out (count, want) as floats (normalised integers scaled to
// [0, 1]; unnormalised integers as they are). comps must be one of allowed_comps.
static vkd_status_t read_accessor(const glb_t *g, long index, const char *what, int want_min,
                                  int want_max, int want_float, float **out, long *count,
                                  int *comps_out) {
    const cJSON *accs = cJSON_GetObjectItemCaseSensitive(g->root, "accessors");
    const cJSON *views = cJSON_GetObjectItemCaseSensitive(g->root, "bufferViews");
    const cJSON *a = cJSON_GetArrayItem(accs, (int)index);
    if (!a) return vkd_fail(VKD_ERR_FORMAT, "%s: %s: accessor %ld does not exist", g->path, what, index);
    long view, aoff, ct, n;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(a, "type");
    if (!json_int(a, "bufferView", -1, &view) || !json_int(a, "byteOffset", 0, &aoff) ||
        !json_int(a, "componentType", -1, &ct) || !json_int(a, "count", -1, &n) ||
        !cJSON_IsString(type))
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: %s: accessor %ld lacks bufferView, componentType, count or type "
                        "(sparse accessors are not supported)",
                        g->path, what, index);
    const int comps = type_comps(type->valuestring), cs = comp_size(ct);
    if (comps < want_min || comps > want_max || !cs || (want_float == 1 && ct != CT_FLOAT))
        return vkd_fail(VKD_ERR_FORMAT, "%s: %s: accessor %ld is %s of component type %ld, "
                        "which the viewer does not read", g->path, what, index,
                        type->valuestring, ct);
    const int normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "normalized"));
    const cJSON *v = cJSON_GetArrayItem(views, (int)view);
    long buf, voff, vlen, stride;
    if (!v || !json_int(v, "buffer", -1, &buf) || !json_int(v, "byteOffset", 0, &voff) ||
        !json_int(v, "byteLength", -1, &vlen) || !json_int(v, "byteStride", 0, &stride))
        return vkd_fail(VKD_ERR_FORMAT, "%s: %s: buffer view %ld is missing or malformed",
                        g->path, what, view);
    if (buf != 0)
        return vkd_fail(VKD_ERR_FORMAT, "%s: %s: data in external buffer %ld (only the GLB's "
                        "own binary chunk is read)", g->path, what, buf);
    const long elem = (long)comps * cs;
    if (!stride) stride = elem;
    if (stride < elem || (size_t)voff + (size_t)vlen > g->bin_len ||
        (n > 0 && (size_t)aoff + (size_t)(n - 1) * stride + elem > (size_t)vlen))
        return vkd_fail(VKD_ERR_FORMAT, "%s: %s: accessor %ld (%ld elements) runs past its "
                        "buffer view or the binary chunk (%zu bytes): a truncated or damaged "
                        "file", g->path, what, index, n, g->bin_len);
    float *o = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * comps);
    if (!o) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory for %ld %s", g->path, n, what);
    const uint8_t *base = g->bin + voff + aoff;
    for (long i = 0; i < n; i++)
        for (int k = 0; k < comps; k++) {
            const uint8_t *p = base + (size_t)i * stride + (size_t)k * cs;
            float x;
            switch (ct) {
            case CT_FLOAT: {
                uint32_t u = rd32(p);
                memcpy(&x, &u, 4);
                break;
            }
            case CT_UBYTE: x = normalized ? p[0] / 255.0f : p[0]; break;
            case CT_USHORT: {
                const unsigned u = p[0] | (unsigned)p[1] << 8;
                x = normalized ? u / 65535.0f : (float)u;
                break;
            }
            case CT_UINT: x = (float)rd32(p); break; // indices: read as double below
            default: x = 0; // signed types: rejected for every attribute the viewer reads
            }
            o[(size_t)i * comps + k] = x;
        }
    *out = o, *count = n, *comps_out = comps;
    return VKD_OK;
}

// Indices need all 32 bits (a float holds 24): read them separately.
static vkd_status_t read_indices(const glb_t *g, long index, long n_vertices, uint32_t **out,
                                 long *count) {
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "accessors"),
                                        (int)index);
    long ct;
    if (!a || !json_int(a, "componentType", -1, &ct) ||
        (ct != CT_UBYTE && ct != CT_USHORT && ct != CT_UINT))
        return vkd_fail(VKD_ERR_FORMAT, "%s: indices: accessor %ld missing or not unsigned",
                        g->path, index);
    float *unused = NULL;
    int comps;
    // Bounds and layout checks shared with the attributes (values discarded).
    VKD_TRY(read_accessor(g, index, "indices", 1, 1, 0, &unused, count, &comps));
    free(unused);
    const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "bufferViews"),
                                        (int)cJSON_GetObjectItemCaseSensitive(a, "bufferView")->valuedouble);
    long voff = 0, aoff = 0, stride = 0; // validated by read_accessor above
    json_int(v, "byteOffset", 0, &voff);
    json_int(a, "byteOffset", 0, &aoff);
    json_int(v, "byteStride", 0, &stride);
    const int cs = comp_size(ct);
    if (!stride) stride = cs;
    uint32_t *idx = malloc(sizeof(uint32_t) * (size_t)(*count > 0 ? *count : 1));
    if (!idx) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory for indices", g->path);
    const uint8_t *base = g->bin + voff + aoff;
    for (long i = 0; i < *count; i++) {
        const uint8_t *p = base + (size_t)i * stride;
        idx[i] = cs == 1 ? p[0] : cs == 2 ? (uint32_t)(p[0] | p[1] << 8) : rd32(p);
        if ((long)idx[i] >= n_vertices) {
            const uint32_t bad = idx[i];
            free(idx);
            return vkd_fail(VKD_ERR_FORMAT, "%s: index %u at %ld is out of range (%ld vertices)",
                            g->path, bad, i, n_vertices);
        }
    }
    *out = idx;
    return VKD_OK;
}

static vkd_status_t parse(glb_t *g, vkd_mesh_t *m) {
    const cJSON *prim = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "meshes"), 0), "primitives"),
        0);
    if (!prim) return vkd_fail(VKD_ERR_FORMAT, "%s: no mesh primitive (meshes[0].primitives[0])", g->path);
    long mode = -1, ipos = -1, inrm = -2, icol = -2, iidx = -2;
    const cJSON *attr = cJSON_GetObjectItemCaseSensitive(prim, "attributes");
    if (!json_int(prim, "mode", 4, &mode) || mode != 4)
        return vkd_fail(VKD_ERR_FORMAT, "%s: primitive mode %ld: only triangles (4) are shown",
                        g->path, mode);
    if (!attr || !json_int(attr, "POSITION", -1, &ipos))
        return vkd_fail(VKD_ERR_FORMAT, "%s: the primitive has no POSITION attribute", g->path);
    // Optional: absent (or malformed, which read_accessor would reject anyway) is -2.
    if (!json_int(attr, "NORMAL", -2, &inrm)) inrm = -2;
    if (!json_int(attr, "COLOR_0", -2, &icol)) icol = -2;
    if (!json_int(prim, "indices", -2, &iidx)) iidx = -2;
    long nv, n;
    int comps;
    VKD_TRY(read_accessor(g, ipos, "POSITION", 3, 3, 1, &m->pos, &nv, &comps));
    if (nv < 3 || nv > (1L << 30)) return vkd_fail(VKD_ERR_FORMAT, "%s: %ld vertices", g->path, nv);
    m->n_vertices = (int)nv;
    if (inrm >= 0) {
        VKD_TRY(read_accessor(g, inrm, "NORMAL", 3, 3, 1, &m->normal, &n, &comps));
        if (n != nv) return vkd_fail(VKD_ERR_FORMAT, "%s: %ld normals for %ld vertices", g->path, n, nv);
    }
    if (icol >= 0) {
        float *c;
        VKD_TRY(read_accessor(g, icol, "COLOR_0", 3, 4, 0, &c, &n, &comps));
        m->rgb = c;
        if (n != nv) return vkd_fail(VKD_ERR_FORMAT, "%s: %ld colours for %ld vertices", g->path, n, nv);
        if (comps == 4) // drop alpha in place
            for (long i = 0; i < nv; i++)
                for (int k = 0; k < 3; k++) c[3 * i + k] = c[4 * i + k];
    }
    if (iidx >= 0) {
        VKD_TRY(read_indices(g, iidx, nv, &m->idx, &n));
    } else {
        n = nv;
        m->idx = malloc(sizeof(uint32_t) * (size_t)nv);
        if (!m->idx) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", g->path);
        for (long i = 0; i < nv; i++) m->idx[i] = (uint32_t)i;
    }
    if (n < 3 || n % 3)
        return vkd_fail(VKD_ERR_FORMAT, "%s: %ld indices is not a positive multiple of 3", g->path, n);
    m->n_faces = (int)(n / 3);
    for (long i = 0; i < 3 * nv; i++)
        if (!isfinite(m->pos[i]))
            return vkd_fail(VKD_ERR_FORMAT, "%s: vertex %ld has a non-finite position", g->path, i / 3);
    return VKD_OK;
}

vkd_status_t vkd_glb_read(const char *path, vkd_mesh_t *out) {
    if (!path || !out) return vkd_fail(VKD_ERR_INVALID, "glb read: NULL path or output");
    memset(out, 0, sizeof *out);
    char *data;
    size_t len;
    VKD_TRY(vkd_file_read_all(path, &data, &len));
    const uint8_t *b = (const uint8_t *)data;
    glb_t g = {.path = path};
    vkd_status_t s = VKD_OK;
    if (len < 20 || rd32(b) != GLB_MAGIC)
        s = vkd_fail(VKD_ERR_FORMAT, "%s: not a binary glTF file (no 'glTF' header); the viewer "
                     "shows .glb meshes and NeRF checkpoints", path);
    else if (rd32(b + 4) != 2)
        s = vkd_fail(VKD_ERR_FORMAT, "%s: glTF container version %u (2 expected)", path, rd32(b + 4));
    else if (rd32(b + 8) > len || rd32(b + 12) > len - 20 || rd32(b + 16) != CHUNK_JSON)
        s = vkd_fail(VKD_ERR_FORMAT, "%s: truncated or damaged GLB (%zu bytes; header says %u, "
                     "first chunk %u bytes)", path, len, rd32(b + 8), rd32(b + 12));
    if (!s) {
        const size_t jlen = rd32(b + 12), boff = 20 + ((jlen + 3) & ~(size_t)3);
        g.root = cJSON_ParseWithLength(data + 20, jlen);
        if (!g.root) s = vkd_fail(VKD_ERR_FORMAT, "%s: the JSON chunk does not parse", path);
        if (!s && boff + 8 <= len && rd32(b + boff + 4) == CHUNK_BIN) {
            g.bin = b + boff + 8;
            g.bin_len = rd32(b + boff);
            if (g.bin_len > len - boff - 8)
                s = vkd_fail(VKD_ERR_FORMAT, "%s: the binary chunk (%zu bytes) runs past the end "
                             "of the file (truncated?)", path, g.bin_len);
        }
    }
    if (!s) s = parse(&g, out);
    cJSON_Delete(g.root);
    free(data);
    if (s) {
        free(out->pos), free(out->normal), free(out->rgb), free(out->idx);
        memset(out, 0, sizeof *out);
    }
    return s;
}
