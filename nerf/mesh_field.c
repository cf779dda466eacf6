// Meshing a NeRF field (mesh_field.h): the field behind mesh.h's sampling callback, and
// the export that chains extraction, component filtering and decimation.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nerf/mesh_field.h"

struct vkd_nerf_sampler {
    vkd_field_t *f;
    int cap;
    float var_add;
    vkd_arena_t *arena;
    vkd_field_ws_t ws;
    vkd_buf_t x;     // (cap, 3)
    vkd_buf_t sigma; // (cap)
    vkd_buf_t rho;   // (cap, 3)
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

vkd_nerf_mesh_opts_t vkd_nerf_mesh_opts_default(void) {
    vkd_nerf_mesh_opts_t o = {
        .grid = 128, .threshold = NAN, .radius = 0, .largest = 1, .max_faces = 0, .batch = 32768};
    return o;
}

float vkd_nerf_mesh_auto_threshold(const vkd_field_t *f) {
    const double delta = 2.0 * f->cfg.bound / (f->cfg.samples > 0 ? f->cfg.samples : 1);
    return (float)(log(2.0) / delta);
}

vkd_status_t vkd_nerf_sampler_create(vkd_field_t *f, int batch, vkd_nerf_sampler_t **out) {
    if (!f || !out) return vkd_fail(VKD_ERR_INVALID, "NeRF sampler: NULL field or output");
    *out = NULL;
    if (batch < 1 || batch > (1 << 22))
        return vkd_fail(VKD_ERR_INVALID, "NeRF sampler: batch %d outside 1..%d", batch, 1 << 22);
    vkd_nerf_sampler_t *s = calloc(1, sizeof *s);
    if (!s) return vkd_fail(VKD_ERR_NOMEM, "NeRF sampler: out of memory");
    s->f = f, s->cap = batch;
    // The field as trained up to now: the covariance anneal of its own step.
    s->var_add = vkd_nerf_ipe_var(&f->cfg, f->step);
    const size_t pad = 4 * VKD_BUF_ALIGN;
    const size_t bytes = vkd_field_ws_bytes(&f->cfg, batch) + (size_t)batch * 7 * sizeof(float) + pad;
    vkd_status_t st = vkd_arena_create(f->be, "mesh_field", bytes, &s->arena);
    if (!st) st = vkd_field_ws_alloc(f, s->arena, batch, &s->ws);
    if (!st) st = vkd_arena_alloc(s->arena, (size_t)batch * 3, &s->x);
    if (!st) st = vkd_arena_alloc(s->arena, (size_t)batch, &s->sigma);
    if (!st) st = vkd_arena_alloc(s->arena, (size_t)batch * 3, &s->rho);
    if (st) {
        vkd_nerf_sampler_destroy(s);
        return st;
    }
    *out = s;
    return VKD_OK;
}

void vkd_nerf_sampler_destroy(vkd_nerf_sampler_t *s) {
    if (!s) return;
    vkd_arena_destroy(s->arena);
    free(s);
}

vkd_status_t vkd_nerf_field_sample(void *user, const float *xyz, int P, float *density,
                                   float *rgb) {
    vkd_nerf_sampler_t *s = user;
    if (!s || !xyz || !density || P < 0)
        return vkd_fail(VKD_ERR_INVALID, "NeRF sampler: NULL argument or negative count");
    for (int p0 = 0; p0 < P; p0 += s->cap) {
        const int n = P - p0 < s->cap ? P - p0 : s->cap;
        VKD_TRY(vkd_buf_write(s->x, xyz + 3 * (size_t)p0, (size_t)n * 3 * sizeof(float)));
        VKD_TRY(vkd_field_forward(s->f, &s->ws, s->sigma, rgb ? s->rho : VKD_BUF_NONE, s->x,
                                  VKD_BUF_NONE, n, s->var_add));
        VKD_TRY(vkd_buf_read(s->sigma, density + p0, (size_t)n * sizeof(float)));
        if (rgb) VKD_TRY(vkd_buf_read(s->rho, rgb + 3 * (size_t)p0, (size_t)n * 3 * sizeof(float)));
    }
    return VKD_OK;
}

// Vertex colours from just inside the surface: the mean albedo at depths 1, 2, 3 cells
// along the inward normal. The albedo exactly at the level set is barely constrained by
// any image (the rendering weights peak a little further in, where the density is
// higher) and varies across the surface in stripes of the grid's scale; a few cells in,
// it is the colour the renders show.
static vkd_status_t inner_colours(vkd_nerf_sampler_t *smp, vkd_mesh_t *m, float cell) {
    enum { DEPTHS = 3 };
    const int V = m->n_vertices, chunk = smp->cap / DEPTHS;
    float *pts = malloc(sizeof(float) * 3 * DEPTHS * (size_t)chunk);
    float *rgb = malloc(sizeof(float) * 3 * DEPTHS * (size_t)chunk);
    float *den = malloc(sizeof(float) * DEPTHS * (size_t)chunk);
    vkd_status_t s = pts && rgb && den ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "NeRF export: out of memory");
    for (int v0 = 0; v0 < V && !s; v0 += chunk) {
        const int n = V - v0 < chunk ? V - v0 : chunk;
        for (int i = 0; i < n; i++)
            for (int d = 0; d < DEPTHS; d++)
                for (int k = 0; k < 3; k++) {
                    const size_t v = (size_t)(v0 + i);
                    pts[3 * ((size_t)i * DEPTHS + d) + k] =
                        m->pos[3 * v + k] - (float)(d + 1) * cell * m->normal[3 * v + k];
                }
        s = vkd_nerf_field_sample(smp, pts, n * DEPTHS, den, rgb);
        for (int i = 0; i < n && !s; i++)
            for (int k = 0; k < 3; k++) {
                float c = 0;
                for (int d = 0; d < DEPTHS; d++) c += rgb[3 * ((size_t)i * DEPTHS + d) + k];
                m->rgb[3 * (size_t)(v0 + i) + k] = fminf(1.0f, fmaxf(0.0f, c / DEPTHS));
            }
    }
    free(pts), free(rgb), free(den);
    return s;
}

vkd_status_t vkd_nerf_export_mesh(vkd_field_t *f, const vkd_nerf_mesh_opts_t *o,
                                  vkd_mesh_t *out, vkd_nerf_mesh_info_t *info) {
    if (!f || !o || !out) return vkd_fail(VKD_ERR_INVALID, "NeRF export: NULL field, options or mesh");
    memset(out, 0, sizeof *out);
    if (o->grid < 8 || o->grid > 512)
        return vkd_fail(VKD_ERR_INVALID, "NeRF export: grid %d outside 8..512 (--grid)", o->grid);
    if (o->max_faces != 0 && o->max_faces < 4)
        return vkd_fail(VKD_ERR_INVALID, "NeRF export: face budget %d: give 0 (none) or >= 4",
                        o->max_faces);
    if (!(o->radius >= 0) || !isfinite(o->radius))
        return vkd_fail(VKD_ERR_INVALID, "NeRF export: radius %g is not a finite number >= 0",
                        o->radius);
    if (!isnan(o->threshold) && !isfinite(o->threshold))
        return vkd_fail(VKD_ERR_INVALID, "NeRF export: threshold %g is not finite", o->threshold);
    const double t0 = now_ms();
    vkd_nerf_mesh_info_t inf = {.n_components = 1};
    vkd_mc_opts_t mo = vkd_mc_opts_default();
    mo.grid = o->grid;
    mo.radius = o->radius > 0 ? o->radius : f->cfg.bound;
    mo.threshold = isnan(o->threshold) ? vkd_nerf_mesh_auto_threshold(f) : o->threshold;
    mo.batch = o->batch > 0 ? o->batch : 32768;
    vkd_nerf_sampler_t *smp = NULL;
    VKD_TRY(vkd_nerf_sampler_create(f, mo.batch, &smp));
    vkd_status_t s = vkd_mc_extract(vkd_nerf_field_sample, smp, &mo, out, &inf.mc);
    if (!s && out->normal && out->rgb)
        s = inner_colours(smp, out, 2.0f * mo.radius / (float)(mo.grid - 1));
    vkd_nerf_sampler_destroy(smp);
    inf.mc.auto_threshold = isnan(o->threshold);
    if (!s && o->largest) s = vkd_mesh_largest_component(out, &inf.n_components);
    if (!s && o->max_faces) s = vkd_mesh_decimate(out, o->max_faces);
    if (s) vkd_mesh_free(out);
    inf.n_vertices = out->n_vertices, inf.n_faces = out->n_faces;
    inf.ms_total = now_ms() - t0;
    if (info) *info = inf;
    return s;
}

vkd_status_t vkd_nerf_export_mesh_file(vkd_field_t *f, const vkd_nerf_mesh_opts_t *o,
                                       const char *path, const char *name,
                                       vkd_nerf_mesh_info_t *info) {
    if (!path) return vkd_fail(VKD_ERR_INVALID, "NeRF export: NULL output path");
    vkd_mesh_format_t fmt;
    VKD_TRY(vkd_mesh_format_of(path, &fmt)); // before minutes of meshing, not after
    vkd_mesh_t m;
    VKD_TRY(vkd_nerf_export_mesh(f, o, &m, info));
    vkd_status_t s = vkd_mesh_write(path, &m, name);
    vkd_mesh_free(&m);
    return s;
}
