// The viewer's mesh ray caster (viewer_mesh.h): a binary BVH over the triangles, built by
// median split of the centroids along the box's longest axis (simple and
// within a small factor of SAH at these sizes), traversed near child first.
// Build is O(F log F) with quickselect partitions.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "viewer_mesh.h"

#define LEAF 4

typedef struct {
    float lo[3], hi[3];
    int left;  // child index (right = left + 1) or, for a leaf, -1
    int first, count; // leaf: range of tri[]
} node_t;

struct vkd_view_mesh {
    vkd_mesh_t m;
    int *tri;       // (F) face order of the leaves
    float *cent;    // (F, 3) centroids, build only
    node_t *nodes;  // (<= 2F)
    int n_nodes;
    float extent;
};

static void face_box(const vkd_view_mesh_t *vm, int f, float lo[3], float hi[3]) {
    for (int k = 0; k < 3; k++) lo[k] = FLT_MAX, hi[k] = -FLT_MAX;
    for (int v = 0; v < 3; v++) {
        const float *p = vm->m.pos + 3 * (size_t)vm->m.idx[3 * (size_t)f + v];
        for (int k = 0; k < 3; k++) lo[k] = fminf(lo[k], p[k]), hi[k] = fmaxf(hi[k], p[k]);
    }
}

// Partition tri[lo, hi) so that position k holds the element of rank k by centroid along
// axis, smaller ones before it, larger after (quickselect: a median split needs no sort).
static void select_kth(int *tri, const float *cent, int axis, int lo, int hi, int k) {
    while (hi - lo > 1) {
        const float pivot = cent[3 * tri[lo + (hi - lo) / 2] + axis];
        int i = lo, j = hi - 1;
        while (i <= j) {
            while (cent[3 * tri[i] + axis] < pivot) i++;
            while (cent[3 * tri[j] + axis] > pivot) j--;
            if (i <= j) {
                const int t = tri[i];
                tri[i++] = tri[j], tri[j--] = t;
            }
        }
        if (k <= j) hi = j + 1;
        else if (k >= i) lo = i;
        else return;
    }
}

static void build(vkd_view_mesh_t *vm, int ni, int first, int count) {
    node_t *n = &vm->nodes[ni];
    for (int k = 0; k < 3; k++) n->lo[k] = FLT_MAX, n->hi[k] = -FLT_MAX;
    float clo[3] = {FLT_MAX, FLT_MAX, FLT_MAX}, chi[3] = {-FLT_MAX, -FLT_MAX, -FLT_MAX};
    for (int i = first; i < first + count; i++) {
        float lo[3], hi[3];
        face_box(vm, vm->tri[i], lo, hi);
        for (int k = 0; k < 3; k++) {
            n->lo[k] = fminf(n->lo[k], lo[k]), n->hi[k] = fmaxf(n->hi[k], hi[k]);
            const float c = vm->cent[3 * vm->tri[i] + k];
            clo[k] = fminf(clo[k], c), chi[k] = fmaxf(chi[k], c);
        }
    }
    n->first = first, n->count = count, n->left = -1;
    if (count <= LEAF) return;
    int axis = 0;
    for (int k = 1; k < 3; k++)
        if (chi[k] - clo[k] > chi[axis] - clo[axis]) axis = k;
    if (!(chi[axis] > clo[axis])) return; // all centroids coincide: one leaf
    const int half = count / 2, l = vm->n_nodes;
    select_kth(vm->tri, vm->cent, axis, first, first + count, first + half);
    vm->n_nodes += 2;
    vm->nodes[ni].left = l; // n may not be used after recursion (same array, no realloc)
    build(vm, l, first, half);
    build(vm, l + 1, first + half, count - half);
}

vkd_status_t vkd_view_mesh_create(vkd_mesh_t *m, vkd_view_mesh_t **out) {
    *out = NULL;
    vkd_view_mesh_t *vm = calloc(1, sizeof *vm);
    if (!vm) {
        free(m->pos), free(m->normal), free(m->rgb), free(m->idx);
        memset(m, 0, sizeof *m);
        return vkd_fail(VKD_ERR_NOMEM, "mesh view: out of memory");
    }
    vm->m = *m;
    memset(m, 0, sizeof *m);
    const int F = vm->m.n_faces;
    if (F < 1 || vm->m.n_vertices < 3) {
        vkd_view_mesh_destroy(vm);
        return vkd_fail(VKD_ERR_INVALID, "mesh view: the mesh has no triangles");
    }
    vm->tri = malloc(sizeof(int) * F);
    vm->cent = malloc(sizeof(float) * 3 * F);
    vm->nodes = malloc(sizeof(node_t) * 2 * (size_t)F);
    if (!vm->tri || !vm->cent || !vm->nodes) {
        vkd_view_mesh_destroy(vm);
        return vkd_fail(VKD_ERR_NOMEM, "mesh view: out of memory for the BVH of %d faces", F);
    }
    for (int f = 0; f < F; f++) {
        vm->tri[f] = f;
        for (int k = 0; k < 3; k++) {
            float c = 0;
            for (int v = 0; v < 3; v++) c += vm->m.pos[3 * (size_t)vm->m.idx[3 * (size_t)f + v] + k];
            vm->cent[3 * f + k] = c / 3.0f;
        }
    }
    for (int v = 0; v < vm->m.n_vertices; v++) {
        const float *p = vm->m.pos + 3 * (size_t)v;
        vm->extent = fmaxf(vm->extent, sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]));
    }
    vm->n_nodes = 1;
    build(vm, 0, 0, F);
    free(vm->cent);
    vm->cent = NULL;
    *out = vm;
    return VKD_OK;
}

void vkd_view_mesh_destroy(vkd_view_mesh_t *vm) {
    if (!vm) return;
    free(vm->m.pos), free(vm->m.normal), free(vm->m.rgb), free(vm->m.idx);
    free(vm->tri), free(vm->cent), free(vm->nodes);
    free(vm);
}

float vkd_view_mesh_extent(const vkd_view_mesh_t *vm) { return vm->extent; }
int vkd_view_mesh_faces(const vkd_view_mesh_t *vm) { return vm->m.n_faces; }

// Slab test: entry distance of the ray into the box, or +inf when it misses within tmax.
static float box_hit(const node_t *n, const float o[3], const float inv[3], float tmax) {
    float t0 = 0.0f, t1 = tmax;
    for (int k = 0; k < 3; k++) {
        float a = (n->lo[k] - o[k]) * inv[k], b = (n->hi[k] - o[k]) * inv[k];
        if (a > b) {
            const float s = a;
            a = b, b = s;
        }
        t0 = fmaxf(t0, a), t1 = fminf(t1, b);
    }
    return t0 <= t1 ? t0 : INFINITY;
}

// Closest hit (Moller-Trumbore); *face = -1 when none. u, v: barycentrics of vertices 1, 2.
static float cast(const vkd_view_mesh_t *vm, const float o[3], const float d[3], int *face,
                  float *bu, float *bv) {
    float inv[3];
    for (int k = 0; k < 3; k++) inv[k] = 1.0f / (fabsf(d[k]) > 1e-12f ? d[k] : copysignf(1e-12f, d[k]));
    int stack[128], sp = 0;
    float best = INFINITY;
    *face = -1;
    if (box_hit(&vm->nodes[0], o, inv, best) == INFINITY) return best;
    stack[sp++] = 0;
    while (sp) {
        const node_t *n = &vm->nodes[stack[--sp]];
        if (n->left < 0) {
            for (int i = n->first; i < n->first + n->count; i++) {
                const int f = vm->tri[i];
                const uint32_t *tv = vm->m.idx + 3 * (size_t)f;
                const float *p0 = vm->m.pos + 3 * (size_t)tv[0], *p1 = vm->m.pos + 3 * (size_t)tv[1],
                            *p2 = vm->m.pos + 3 * (size_t)tv[2];
                const float e1[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
                const float e2[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
                const float pv[3] = {d[1] * e2[2] - d[2] * e2[1], d[2] * e2[0] - d[0] * e2[2],
                                     d[0] * e2[1] - d[1] * e2[0]};
                const float det = e1[0] * pv[0] + e1[1] * pv[1] + e1[2] * pv[2];
                if (fabsf(det) < 1e-14f) continue;
                const float id = 1.0f / det;
                const float s[3] = {o[0] - p0[0], o[1] - p0[1], o[2] - p0[2]};
                const float u = (s[0] * pv[0] + s[1] * pv[1] + s[2] * pv[2]) * id;
                if (u < 0.0f || u > 1.0f) continue;
                const float q[3] = {s[1] * e1[2] - s[2] * e1[1], s[2] * e1[0] - s[0] * e1[2],
                                    s[0] * e1[1] - s[1] * e1[0]};
                const float v = (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]) * id;
                if (v < 0.0f || u + v > 1.0f) continue;
                const float t = (e2[0] * q[0] + e2[1] * q[1] + e2[2] * q[2]) * id;
                if (t > 1e-6f && t < best) {
                    best = t, *face = f;
                    *bu = u, *bv = v;
                }
            }
            continue;
        }
        const node_t *a = &vm->nodes[n->left], *b = &vm->nodes[n->left + 1];
        const float ta = box_hit(a, o, inv, best), tb = box_hit(b, o, inv, best);
        // Push the far child first so the near one is popped (and tightens best) first.
        if (ta <= tb) {
            if (tb < INFINITY && sp < 128) stack[sp++] = n->left + 1;
            if (ta < INFINITY && sp < 128) stack[sp++] = n->left;
        } else {
            if (ta < INFINITY && sp < 128) stack[sp++] = n->left;
            if (tb < INFINITY && sp < 128) stack[sp++] = n->left + 1;
        }
    }
    return best;
}

vkd_status_t vkd_view_mesh_render(const vkd_view_mesh_t *vm, const vkd_camera_t *cam,
                                  vkd_shade_mode_t mode, const vkd_light_t *light,
                                  const float bg[3], int supersample, const vkd_render_out_t *out) {
    if (!vm || !cam || !bg || !out || !out->rgb)
        return vkd_fail(VKD_ERR_INVALID, "mesh view: NULL mesh, camera, background or rgb output");
    if (supersample < 1 || supersample > 4)
        return vkd_fail(VKD_ERR_INVALID, "mesh view: supersample %d outside 1..4", supersample);
    if (mode != VKD_SHADE_ALBEDO && !light)
        return vkd_fail(VKD_ERR_INVALID, "mesh view: lit shading needs a light");
    const int W = cam->width, H = cam->height, S = supersample;
    const vkd_mesh_t *m = &vm->m;
#pragma omp parallel for schedule(dynamic, 4)
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double c[3] = {0, 0, 0}, a = 0, ad = 0, an[3] = {0, 0, 0};
            for (int k = 0; k < S * S; k++) {
                float o[3], d[3], u = 0, v = 0;
                int f;
                vkd_camera_ray(cam, x + (k % S + 0.5f) / S, y + (k / S + 0.5f) / S, o, d);
                const float t = cast(vm, o, d, &f, &u, &v);
                if (f < 0) {
                    for (int ch = 0; ch < 3; ch++) c[ch] += bg[ch];
                    continue;
                }
                const uint32_t *tv = m->idx + 3 * (size_t)f;
                const float w[3] = {1.0f - u - v, u, v};
                float n[3] = {0, 0, 0}, rho[3] = {1, 1, 1}, p[3], col[3];
                if (m->normal) {
                    for (int j = 0; j < 3; j++)
                        for (int ch = 0; ch < 3; ch++) n[ch] += w[j] * m->normal[3 * (size_t)tv[j] + ch];
                } else {
                    const float *p0 = m->pos + 3 * (size_t)tv[0], *p1 = m->pos + 3 * (size_t)tv[1],
                                *p2 = m->pos + 3 * (size_t)tv[2];
                    const float e1[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
                    const float e2[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
                    n[0] = e1[1] * e2[2] - e1[2] * e2[1], n[1] = e1[2] * e2[0] - e1[0] * e2[2];
                    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
                }
                float len = sqrtf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
                if (!(len > 0)) n[0] = -d[0], n[1] = -d[1], n[2] = -d[2], len = 1;
                float sgn = n[0] * d[0] + n[1] * d[1] + n[2] * d[2] > 0 ? -1.0f : 1.0f;
                for (int ch = 0; ch < 3; ch++) n[ch] *= sgn / len, p[ch] = o[ch] + t * d[ch];
                if (m->rgb)
                    for (int ch = 0; ch < 3; ch++) {
                        rho[ch] = 0;
                        for (int j = 0; j < 3; j++) rho[ch] += w[j] * m->rgb[3 * (size_t)tv[j] + ch];
                    }
                vkd_shade(mode, light, rho, n, p, col);
                for (int ch = 0; ch < 3; ch++) c[ch] += col[ch], an[ch] += n[ch];
                a += 1, ad += t;
            }
            const size_t q = (size_t)y * W + x;
            const int SS = S * S;
            for (int ch = 0; ch < 3; ch++) out->rgb[3 * q + ch] = (float)(c[ch] / SS);
            if (out->opacity) out->opacity[q] = (float)(a / SS);
            if (out->depth) out->depth[q] = a > 0 ? (float)(ad / a) : 0.0f;
            if (out->normal) {
                const double l = sqrt(an[0] * an[0] + an[1] * an[1] + an[2] * an[2]);
                for (int ch = 0; ch < 3; ch++) out->normal[3 * q + ch] = l > 1e-12 ? (float)(an[ch] / l) : 0.0f;
            }
        }
    return VKD_OK;
}
