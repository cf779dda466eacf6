// Field queries made while meshing: per-vertex normals and colours, and the automatic
// threshold.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerf/mesh.h"

// Area-weighted face normals: the fallback where the density gradient vanishes or is not
// finite (a flat plateau exactly at a vertex, a NaN in the field).
static void face_normal_sum(const vkd_mesh_t *m, float *acc /* (V, 3) */) {
    memset(acc, 0, sizeof(float) * 3 * (size_t)m->n_vertices);
    for (int f = 0; f < m->n_faces; f++) {
        const uint32_t *t = &m->idx[3 * (size_t)f];
        const float *a = &m->pos[3 * t[0]], *b = &m->pos[3 * t[1]], *c = &m->pos[3 * t[2]];
        float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
        float w[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
        float n[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                      u[0] * w[1] - u[1] * w[0]};
        for (int v = 0; v < 3; v++)
            for (int d = 0; d < 3; d++) acc[3 * t[v] + d] += n[d];
    }
}

static int normalize(float *n) {
    double l = sqrt((double)n[0] * n[0] + (double)n[1] * n[1] + (double)n[2] * n[2]);
    if (!(l > 1e-20) || !isfinite(l)) return 0;
    for (int d = 0; d < 3; d++) n[d] = (float)(n[d] / l);
    return 1;
}

vkd_status_t vkd_mesh_field_attributes(vkd_field_sample_fn fn, void *user, int batch, double h,
                                       vkd_mesh_t *m) {
    size_t V = (size_t)m->n_vertices;
    m->normal = malloc(V * 3 * sizeof(float));
    m->rgb = malloc(V * 3 * sizeof(float));
    int cv = batch / 6 < 1 ? 1 : batch / 6; // vertices per chunk
    if (cv > batch) cv = batch;
    float *pts = malloc((size_t)cv * 6 * 3 * sizeof(float));
    float *dens = malloc((size_t)cv * 6 * sizeof(float));
    if (!m->normal || !m->rgb || !pts || !dens) {
        free(pts), free(dens);
        return vkd_fail(VKD_ERR_NOMEM, "mesh: no memory for attributes of %zu vertices", V);
    }
    vkd_status_t s = VKD_OK;
    int n_bad = 0;
    for (size_t v0 = 0; v0 < V && s == VKD_OK; v0 += (size_t)cv) {
        int n = V - v0 < (size_t)cv ? (int)(V - v0) : cv;
        s = fn(user, m->pos + 3 * v0, n, dens, m->rgb + 3 * v0);
        if (s != VKD_OK) break;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 6; k++) {
                float *p = &pts[3 * (6 * (size_t)i + k)];
                memcpy(p, &m->pos[3 * (v0 + i)], 3 * sizeof(float));
                p[k / 2] += (float)(k % 2 ? -h : h);
            }
        for (int s0 = 0; s0 < 6 * n && s == VKD_OK; s0 += batch) {
            int c = 6 * n - s0 < batch ? 6 * n - s0 : batch;
            s = fn(user, pts + 3 * (size_t)s0, c, dens + s0, NULL);
        }
        for (int i = 0; i < n && s == VKD_OK; i++) {
            float *nv = &m->normal[3 * (v0 + i)];
            // Density grows inwards: the outward normal is minus its gradient.
            for (int d = 0; d < 3; d++) nv[d] = dens[6 * i + 2 * d + 1] - dens[6 * i + 2 * d];
            if (!normalize(nv)) nv[0] = nv[1] = nv[2] = NAN, n_bad++;
            float *c = &m->rgb[3 * (v0 + i)];
            for (int d = 0; d < 3; d++) c[d] = isfinite(c[d]) ? fminf(fmaxf(c[d], 0.f), 1.f) : 0.f;
        }
    }
    free(pts), free(dens);
    if (s != VKD_OK) return vkd_fail_ctx(s, "mesh: evaluating normals and colours");
    if (n_bad) {
        float *acc = malloc(V * 3 * sizeof(float));
        if (!acc) return vkd_fail(VKD_ERR_NOMEM, "mesh: no memory for face normals");
        face_normal_sum(m, acc);
        for (size_t v = 0; v < V; v++) {
            float *nv = &m->normal[3 * v];
            if (!isnan(nv[0])) continue;
            memcpy(nv, &acc[3 * v], 3 * sizeof(float));
            if (!normalize(nv)) nv[0] = 0, nv[1] = 0, nv[2] = 1;
        }
        free(acc);
    }
    return VKD_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

vkd_status_t vkd_mesh_auto_threshold(vkd_field_sample_fn fn, void *user, float radius, int n,
                                     int batch, float *t) {
    if (!fn || !t || n < 4 || n > 512 || batch < 1 || !(radius > 0))
        return vkd_fail(VKD_ERR_INVALID, "auto threshold: bad argument (n %d, batch %d)", n, batch);
    size_t cap = (size_t)n * n * n;
    float *xyz = malloc(cap * 3 * sizeof(float)), *d = malloc(cap * sizeof(float));
    if (!xyz || !d) {
        free(xyz), free(d);
        return vkd_fail(VKD_ERR_NOMEM, "auto threshold: no memory for a %d^3 grid", n);
    }
    size_t P = 0;
    double h = 2.0 * radius / (n - 1);
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) {
                double p[3] = {-radius + i * h, -radius + j * h, -radius + k * h};
                if (p[0] * p[0] + p[1] * p[1] + p[2] * p[2] > (double)radius * radius) continue;
                for (int a = 0; a < 3; a++) xyz[3 * P + a] = (float)p[a];
                P++;
            }
    vkd_status_t s = VKD_OK;
    for (size_t s0 = 0; s0 < P && s == VKD_OK; s0 += (size_t)batch) {
        int c = P - s0 < (size_t)batch ? (int)(P - s0) : batch;
        s = fn(user, xyz + 3 * s0, c, d + s0, NULL);
    }
    free(xyz);
    if (s != VKD_OK) {
        free(d);
        return vkd_fail_ctx(s, "auto threshold: sampling the field");
    }
    size_t m = 0;
    for (size_t i = 0; i < P; i++)
        if (isfinite(d[i])) d[m++] = d[i];
    if (m < 2) {
        free(d);
        return vkd_fail(VKD_ERR_NUMERIC, "auto threshold: the field is not finite anywhere");
    }
    qsort(d, m, sizeof(float), cmp_float);
    double lo = d[m / 100], hi = d[m - 1 - m / 100];
    if (!(hi > lo)) lo = d[0], hi = d[m - 1];
    if (!(hi > lo)) {
        free(d);
        return vkd_fail(VKD_ERR_NUMERIC, "auto threshold: the field is constant (%g)", lo);
    }
    // Otsu: the split of the clamped histogram maximising the between-class variance.
    enum { NB = 1024 };
    double hist[NB] = {0}, total = 0, sum = 0;
    for (size_t i = 0; i < m; i++) {
        double x = (d[i] - lo) / (hi - lo);
        int b = x <= 0 ? 0 : x >= 1 ? NB - 1 : (int)(x * NB);
        if (b >= NB) b = NB - 1;
        hist[b]++;
    }
    free(d);
    for (int b = 0; b < NB; b++) total += hist[b], sum += (b + 0.5) * hist[b];
    double w0 = 0, s0 = 0, best = -1;
    int best_b = NB / 2;
    for (int b = 0; b < NB - 1; b++) {
        w0 += hist[b], s0 += (b + 0.5) * hist[b];
        double w1 = total - w0;
        if (w0 == 0 || w1 == 0) continue;
        double m0 = s0 / w0, m1 = (sum - s0) / w1, var = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (var > best) best = var, best_b = b;
    }
    *t = (float)(lo + (best_b + 1.0) / NB * (hi - lo));
    return VKD_OK;
}
