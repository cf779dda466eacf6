// Mesh clean-up after extraction: largest connected component, decimation, and the
// topology/geometry statistics the tests and the CLI report.
//
// Decimation is vertex clustering (Rossignac-Borrel style): vertices are pooled in a
// uniform grid, each cell becomes one vertex at the mean of its members, and triangles
// that collapse are dropped. It was chosen over quadric edge collapse because it is short,
// runs in O(V log V) per trial, has no priority queue or link-condition bookkeeping to get
// wrong, and its loss of detail is uniform, which suits meshes of a uniform MC grid
// anyway. The price: it does not preserve sharp features, and where two sheets fall into
// one cell it can make a few non-manifold edges (never holes: see cluster()). The grid
// resolution is found by bisection as the finest one that meets the face budget.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/mesh.h"

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

vkd_status_t vkd_mesh_stats(const vkd_mesh_t *m, vkd_mesh_stats_t *s) {
    if (!m || !s) return vkd_fail(VKD_ERR_INVALID, "mesh stats: NULL argument");
    memset(s, 0, sizeof(*s));
    size_t F = (size_t)m->n_faces;
    uint64_t *keys = malloc((3 * F + 1) * sizeof(uint64_t));
    if (!keys) return vkd_fail(VKD_ERR_NOMEM, "mesh stats: no memory for %zu edges", 3 * F);
    for (size_t f = 0; f < F; f++) {
        const uint32_t *t = &m->idx[3 * f];
        for (int e = 0; e < 3; e++) {
            uint64_t a = t[e], b = t[(e + 1) % 3], dir = a > b;
            keys[3 * f + e] = ((a < b ? a : b) << 32) | ((a < b ? b : a) << 1) | dir;
        }
        const float *a = &m->pos[3 * t[0]], *b = &m->pos[3 * t[1]], *c = &m->pos[3 * t[2]];
        double u[3], w[3], n[3];
        for (int d = 0; d < 3; d++) u[d] = b[d] - a[d], w[d] = c[d] - a[d];
        n[0] = u[1] * w[2] - u[2] * w[1], n[1] = u[2] * w[0] - u[0] * w[2];
        n[2] = u[0] * w[1] - u[1] * w[0];
        s->area += 0.5 * sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        s->volume += (a[0] * ((double)b[1] * c[2] - (double)b[2] * c[1]) +
                      a[1] * ((double)b[2] * c[0] - (double)b[0] * c[2]) +
                      a[2] * ((double)b[0] * c[1] - (double)b[1] * c[0])) /
                     6.0;
    }
    qsort(keys, 3 * F, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < 3 * F;) {
        size_t j = i, fwd = 0;
        while (j < 3 * F && keys[j] >> 1 == keys[i] >> 1) fwd += !(keys[j] & 1), j++;
        size_t cnt = j - i;
        s->edges++;
        if (cnt == 1) s->boundary_edges++;
        if (cnt > 2) s->nonmanifold_edges++;
        if (cnt == 2 && fwd != 1) s->misoriented_edges++;
        i = j;
    }
    free(keys);
    s->euler = (long)m->n_vertices - s->edges + (long)F;
    return VKD_OK;
}

// Keep the faces with keep[f] != 0 and the vertices they use (in their old order).
static vkd_status_t compact(vkd_mesh_t *m, const uint8_t *keep) {
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    int32_t *remap = malloc(V * sizeof(int32_t));
    if (!remap) return vkd_fail(VKD_ERR_NOMEM, "mesh: no memory to compact %zu vertices", V);
    memset(remap, 0xff, V * sizeof(int32_t));
    size_t nf = 0, nv = 0;
    for (size_t f = 0; f < F; f++) {
        if (!keep[f]) continue;
        for (int e = 0; e < 3; e++) {
            uint32_t v = m->idx[3 * f + e];
            if (remap[v] < 0) remap[v] = 1;
            m->idx[3 * nf + e] = v;
        }
        nf++;
    }
    for (size_t v = 0; v < V; v++) {
        if (remap[v] < 0) continue;
        remap[v] = (int32_t)nv;
        memmove(&m->pos[3 * nv], &m->pos[3 * v], 3 * sizeof(float));
        if (m->normal) memmove(&m->normal[3 * nv], &m->normal[3 * v], 3 * sizeof(float));
        if (m->rgb) memmove(&m->rgb[3 * nv], &m->rgb[3 * v], 3 * sizeof(float));
        nv++;
    }
    for (size_t i = 0; i < 3 * nf; i++) m->idx[i] = (uint32_t)remap[m->idx[i]];
    free(remap);
    m->n_vertices = (int)nv, m->n_faces = (int)nf;
    return VKD_OK;
}

static uint32_t uf_find(uint32_t *parent, uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

vkd_status_t vkd_mesh_largest_component(vkd_mesh_t *m, int *n_components) {
    if (!m) return vkd_fail(VKD_ERR_INVALID, "largest component: NULL mesh");
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    uint32_t *parent = malloc((V + 1) * sizeof(uint32_t));
    uint32_t *count = calloc(V + 1, sizeof(uint32_t));
    uint8_t *keep = malloc(F + 1);
    if (!parent || !count || !keep) {
        free(parent), free(count), free(keep);
        return vkd_fail(VKD_ERR_NOMEM, "largest component: no memory for %zu vertices", V);
    }
    for (size_t v = 0; v < V; v++) parent[v] = (uint32_t)v;
    for (size_t f = 0; f < F; f++)
        for (int e = 1; e < 3; e++) {
            uint32_t a = uf_find(parent, m->idx[3 * f]), b = uf_find(parent, m->idx[3 * f + e]);
            if (a != b) parent[a < b ? b : a] = a < b ? a : b;
        }
    uint32_t best = 0, ncomp = 0;
    for (size_t f = 0; f < F; f++) {
        uint32_t r = uf_find(parent, m->idx[3 * f]);
        if (count[r]++ == 0) ncomp++;
        if (count[r] > count[best]) best = r;
    }
    for (size_t f = 0; f < F; f++) keep[f] = uf_find(parent, m->idx[3 * f]) == best;
    vkd_status_t s = ncomp > 1 ? compact(m, keep) : VKD_OK;
    free(parent), free(count), free(keep);
    if (n_components) *n_components = (int)ncomp;
    return s;
}

typedef struct {
    uint32_t *cluster; // (V) cluster id of each vertex
    uint64_t *tmp;     // (max(V, F)) sort keys
    uint32_t *faces;   // (F, 3) clustered faces
    size_t nc, nf;
} cluster_t;

static void sort3(uint32_t a[3]) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2 - i; j++)
            if (a[j] > a[j + 1]) {
                uint32_t s = a[j];
                a[j] = a[j + 1], a[j + 1] = s;
            }
}

// Cluster on a grid of `res` cells along the longest side of the bounding box; count the
// faces that survive (non-degenerate, duplicates merged, opposite-facing pairs removed).
static void cluster(const vkd_mesh_t *m, const float lo[3], float cell, cluster_t *C) {
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    for (size_t v = 0; v < V; v++) {
        uint64_t key = 0;
        for (int d = 0; d < 3; d++) {
            double c = floor((m->pos[3 * v + d] - lo[d]) / cell);
            uint64_t ci = c < 0 ? 0 : c > 2097151 ? 2097151 : (uint64_t)c;
            key = (key << 21) | ci;
        }
        C->tmp[v] = key;
    }
    // Cluster ids: rank of the cell key among distinct keys, via a sorted copy.
    uint64_t *sorted = (uint64_t *)C->faces; // borrowed: F*3*4 >= V*8 is checked by caller
    memcpy(sorted, C->tmp, V * sizeof(uint64_t));
    qsort(sorted, V, sizeof(uint64_t), cmp_u64);
    size_t nu = 0;
    for (size_t i = 0; i < V; i++)
        if (i == 0 || sorted[i] != sorted[nu - 1]) sorted[nu++] = sorted[i];
    for (size_t v = 0; v < V; v++) {
        size_t a = 0, b = nu;
        while (b - a > 1) {
            size_t mid = (a + b) / 2;
            if (sorted[mid] <= C->tmp[v])
                a = mid;
            else
                b = mid;
        }
        C->cluster[v] = (uint32_t)a;
    }
    C->nc = nu;
    // Faces: canonical (sorted) triple as key + the orientation parity in bit 0.
    size_t nf = 0;
    for (size_t f = 0; f < F; f++) {
        uint32_t t[3], s[3];
        for (int e = 0; e < 3; e++) t[e] = s[e] = C->cluster[m->idx[3 * f + e]];
        if (t[0] == t[1] || t[1] == t[2] || t[0] == t[2]) continue;
        sort3(s);
        // Even permutation of the sorted triple <=> same orientation.
        int even = (t[0] == s[0] && t[1] == s[1]) || (t[0] == s[1] && t[1] == s[2]) ||
                   (t[0] == s[2] && t[1] == s[0]);
        C->tmp[nf++] = 0; // filled below; keys need 3 x 21 bits + parity
        uint64_t key = ((uint64_t)s[0] << 43) | ((uint64_t)s[1] << 22) | ((uint64_t)s[2] << 1);
        C->tmp[nf - 1] = key | (uint64_t)!even;
    }
    qsort(C->tmp, nf, sizeof(uint64_t), cmp_u64);
    // Faces on the same three clusters cancel in opposite-facing pairs; the net count is
    // kept. Clustering is a simplicial map, so it commutes with the boundary operator: a
    // closed input stays closed (every directed edge's net use is still zero), where
    // keeping one face per group would open holes.
    C->nf = 0;
    for (size_t i = 0; i < nf;) {
        size_t j = i, odd = 0;
        while (j < nf && C->tmp[j] >> 1 == C->tmp[i] >> 1) odd += C->tmp[j] & 1, j++;
        long net = (long)(j - i) - 2 * (long)odd; // same-facing minus opposite-facing
        uint32_t s[3] = {(uint32_t)(C->tmp[i] >> 43), (uint32_t)(C->tmp[i] >> 22) & 0x1fffff,
                         (uint32_t)(C->tmp[i] >> 1) & 0x1fffff};
        for (long r = 0; r < labs(net); r++) {
            uint32_t *o = &C->faces[3 * C->nf++];
            o[0] = s[0], o[1] = net < 0 ? s[2] : s[1], o[2] = net < 0 ? s[1] : s[2];
        }
        i = j;
    }
}

vkd_status_t vkd_mesh_decimate(vkd_mesh_t *m, int max_faces) {
    if (!m) return vkd_fail(VKD_ERR_INVALID, "decimate: NULL mesh");
    if (max_faces < 4) return vkd_fail(VKD_ERR_INVALID, "decimate: face budget %d < 4", max_faces);
    if (m->n_faces <= max_faces) return VKD_OK;
    size_t V = (size_t)m->n_vertices, F = (size_t)m->n_faces;
    if (V >= (1u << 21))
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "decimate: %zu vertices; clustering supports < 2^21 (lower --grid)", V);
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t v = 0; v < V; v++)
        for (int d = 0; d < 3; d++)
            lo[d] = fminf(lo[d], m->pos[3 * v + d]), hi[d] = fmaxf(hi[d], m->pos[3 * v + d]);
    float ext = fmaxf(hi[0] - lo[0], fmaxf(hi[1] - lo[1], hi[2] - lo[2]));
    if (!(ext > 0)) return vkd_fail(VKD_ERR_INVALID, "decimate: the mesh has no extent");
    size_t nf3 = 3 * F > 2 * V ? 3 * F : 2 * V; // faces buffer doubles as V uint64 scratch
    cluster_t C = {.cluster = malloc(V * sizeof(uint32_t)),
                   .tmp = malloc((V > F ? V : F) * sizeof(uint64_t)),
                   .faces = malloc(nf3 * sizeof(uint32_t))};
    if (!C.cluster || !C.tmp || !C.faces) {
        free(C.cluster), free(C.tmp), free(C.faces);
        return vkd_fail(VKD_ERR_NOMEM, "decimate: no memory for %zu faces", F);
    }
    int a = 1, b = 4096; // F(res=a) <= budget assumed; bisection keeps it
    while (b - a > 1) {
        int mid = (a + b) / 2;
        cluster(m, lo, ext * 1.0001f / mid, &C);
        if (C.nf <= (size_t)max_faces)
            a = mid;
        else
            b = mid;
    }
    cluster(m, lo, ext * 1.0001f / a, &C);
    if (C.nf == 0) {
        free(C.cluster), free(C.tmp), free(C.faces);
        return vkd_fail(VKD_ERR_INVALID,
                        "decimate: a budget of %d faces collapses the whole "
                        "mesh (%d faces); give a larger --faces",
                        max_faces, m->n_faces);
    }
    float *pos = calloc(C.nc * 3, sizeof(float)), *nrm = calloc(C.nc * 3, sizeof(float));
    float *rgb = calloc(C.nc * 3, sizeof(float));
    uint32_t *idx = malloc((C.nf * 3 + 1) * sizeof(uint32_t)),
             *cnt = calloc(C.nc, sizeof(uint32_t));
    vkd_status_t s = VKD_OK;
    if (!pos || !nrm || !rgb || !idx || !cnt) {
        s = vkd_fail(VKD_ERR_NOMEM, "decimate: no memory for %zu clusters", C.nc);
    } else {
        for (size_t v = 0; v < V; v++) {
            uint32_t c = C.cluster[v];
            cnt[c]++;
            for (int d = 0; d < 3; d++) {
                pos[3 * c + d] += m->pos[3 * v + d];
                if (m->normal) nrm[3 * c + d] += m->normal[3 * v + d];
                if (m->rgb) rgb[3 * c + d] += m->rgb[3 * v + d];
            }
        }
        for (size_t c = 0; c < C.nc; c++) {
            double l = 0;
            for (int d = 0; d < 3; d++) {
                pos[3 * c + d] /= (float)cnt[c], rgb[3 * c + d] /= (float)cnt[c];
                l += (double)nrm[3 * c + d] * nrm[3 * c + d];
            }
            l = sqrt(l);
            for (int d = 0; d < 3; d++)
                nrm[3 * c + d] = l > 1e-12 ? (float)(nrm[3 * c + d] / l) : d == 2;
        }
        memcpy(idx, C.faces, C.nf * 3 * sizeof(uint32_t));
        free(m->pos), free(m->normal), free(m->rgb), free(m->idx);
        m->pos = pos, m->normal = nrm, m->rgb = rgb, m->idx = idx;
        m->n_vertices = (int)C.nc, m->n_faces = (int)C.nf;
        pos = nrm = rgb = NULL, idx = NULL;
        // Clusters whose faces all collapsed are left unused: drop them.
        uint8_t *keep = malloc((size_t)m->n_faces + 1);
        if (!keep)
            s = vkd_fail(VKD_ERR_NOMEM, "decimate: no memory");
        else {
            memset(keep, 1, (size_t)m->n_faces + 1);
            s = compact(m, keep);
            free(keep);
        }
    }
    free(pos), free(nrm), free(rgb), free(idx), free(cnt);
    free(C.cluster), free(C.tmp), free(C.faces);
    return s;
}
