// Meshing fitted NeRF checkpoints (nerf/mesh_field.h) against the ShapeWorld ground truth.
//
// tests/test_nerf_fit.c fits a red cube and an orange torus and saves them as
// nerf_fit_<shape>.safetensors in the working directory (the build directory under
// ctest; a CTest fixture runs it first). Each is exported at the automatic threshold and
// scored:
//   - the mesh is closed (no boundary or non-manifold edge) and consistently wound;
//   - occupancy IoU >= 0.8 between the mesh's inside, decided by ray parity along z on a
//     64^3 grid over [-0.9, 0.9]^3, and vkd_sw_occupied (the fit test's IoU measures the
//     density field; this one the mesh a user gets);
//   - vertex colours: the mean |rgb - albedo| (linear) against the object's colour < 0.1.
// It also prints the IoU at thresholds 2, auto and 25 on a 64^3 grid (how much the choice
// matters), checks
// that an impossible threshold is refused with the density range and a suggestion, and that
// a bad output extension writes nothing.
// Unoptimised builds (Debug, sanitizers) get the fit test's short, barely fitted fields:
// there only the mechanics are checked (a closed mesh, or a clear "no surface" refusal) on
// a coarse grid.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nerf/checkpoint.h"
#include "nerf/mesh_field.h"
#include "shapeworld.h"
#include "test_util.h"

#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
#define FULL 1
#else
#define FULL 0
#endif

#define IOU_RES 64
#define G_EXT 0.9f

// Inside test of a closed mesh by ray parity: for every (x, y) column of the grid, the
// heights z where the mesh crosses the vertical line, then a cell centre is inside when
// an odd number of crossings lie below it. The columns are offset by a tiny irrational
// amount so that no line passes exactly through a vertex or edge.
typedef struct {
    int n, cap;
    float *z;
} column_t;

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double mesh_iou(const vkd_mesh_t *m, vkd_sw_shape_t shape, double *inside_frac) {
    const int R = IOU_RES;
    const float cs = 2.0f * G_EXT / R, off = 1.1e-4f * 1.41421356f;
    column_t *col = calloc((size_t)R * R, sizeof *col);
    if (!col) abort();
    for (int f = 0; f < m->n_faces; f++) {
        const float *p[3];
        for (int k = 0; k < 3; k++) p[k] = m->pos + 3 * (size_t)m->idx[3 * (size_t)f + k];
        float lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
        for (int k = 0; k < 3; k++)
            for (int a = 0; a < 2; a++) lo[a] = fminf(lo[a], p[k][a]), hi[a] = fmaxf(hi[a], p[k][a]);
        // Columns whose (x, y) lies in the triangle's box.
        int i0 = (int)ceilf((lo[0] + G_EXT - off) / cs - 0.5f), i1 = (int)floorf((hi[0] + G_EXT - off) / cs - 0.5f);
        int j0 = (int)ceilf((lo[1] + G_EXT - off) / cs - 0.5f), j1 = (int)floorf((hi[1] + G_EXT - off) / cs - 0.5f);
        if (i0 < 0) i0 = 0;
        if (j0 < 0) j0 = 0;
        if (i1 >= R) i1 = R - 1;
        if (j1 >= R) j1 = R - 1;
        for (int i = i0; i <= i1; i++)
            for (int j = j0; j <= j1; j++) {
                const double x = -G_EXT + cs * (i + 0.5) + off, y = -G_EXT + cs * (j + 0.5) + off;
                double w[3]; // barycentric weights of (x, y) in the projected triangle
                for (int k = 0; k < 3; k++) {
                    const float *a = p[(k + 1) % 3], *b = p[(k + 2) % 3];
                    w[k] = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
                }
                const double sum = w[0] + w[1] + w[2];
                if (sum == 0) continue; // edge-on triangle
                if (!((w[0] >= 0 && w[1] >= 0 && w[2] >= 0) || (w[0] <= 0 && w[1] <= 0 && w[2] <= 0)))
                    continue;
                const float z = (float)((w[0] * p[0][2] + w[1] * p[1][2] + w[2] * p[2][2]) / sum);
                column_t *c = &col[i * R + j];
                if (c->n == c->cap) {
                    c->cap = c->cap ? 2 * c->cap : 8;
                    c->z = realloc(c->z, sizeof(float) * c->cap);
                    if (!c->z) abort();
                }
                c->z[c->n++] = z;
            }
    }
    double inter = 0, uni = 0, in = 0;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) {
            column_t *c = &col[i * R + j];
            if (c->n > 1) qsort(c->z, (size_t)c->n, sizeof(float), cmp_float);
            int below = 0;
            for (int k = 0; k < R; k++) {
                const float p[3] = {-G_EXT + cs * (i + 0.5f), -G_EXT + cs * (j + 0.5f),
                                    -G_EXT + cs * (k + 0.5f)};
                while (below < c->n && c->z[below] < p[2]) below++;
                const int occ = below & 1, gt = vkd_sw_occupied(shape, p);
                inter += occ && gt, uni += occ || gt, in += occ;
            }
            free(c->z);
        }
    free(col);
    if (inside_frac) *inside_frac = in / ((double)R * R * R);
    return uni > 0 ? inter / uni : 0.0;
}

static double colour_error(const vkd_mesh_t *m, vkd_sw_colour_t colour) {
    const float *gt = vkd_sw_colour_rgb(colour);
    double e = 0;
    for (int v = 0; v < m->n_vertices; v++)
        for (int k = 0; k < 3; k++) e += fabs(m->rgb[3 * (size_t)v + k] - gt[k]);
    return m->n_vertices ? e / (3.0 * m->n_vertices) : INFINITY;
}

static void export_case(tctx_t *T, const char *caption) {
    vkd_sw_object_t obj;
    CHECK_OK(T, vkd_sw_parse(caption, &obj, NULL));
    char path[128];
    snprintf(path, sizeof path, "nerf_fit_%s_%s.safetensors", vkd_sw_colour_name(obj.colour),
             vkd_sw_shape_name(obj.shape));
    if (access(path, R_OK) != 0) {
        test_fail(T, __FILE__, __LINE__,
                  "%s is missing from the working directory: test_nerf_fit_cpu writes it "
                  "(ctest runs it first as a fixture; run from the build directory)", path);
        return;
    }
    vkd_field_t *f = NULL;
    CHECK_OK(T, vkd_nerf_ckpt_load(path, T->cpu, &f, NULL));
    vkd_nerf_mesh_opts_t o = vkd_nerf_mesh_opts_default();
    o.grid = FULL ? 128 : 40;
    vkd_mesh_t m;
    vkd_nerf_mesh_info_t info;
    vkd_status_t s = vkd_nerf_export_mesh(f, &o, &m, &info);
    if (s != VKD_OK) {
        if (!FULL && strstr(vkd_last_error(), "no surface crosses"))
            printf("  %s (short fit): refused cleanly: %s\n", caption, vkd_last_error());
        else
            test_fail(T, __FILE__, __LINE__, "%s: export: %s", caption, vkd_last_error());
        vkd_field_destroy(f);
        return;
    }
    vkd_mesh_stats_t st;
    if (vkd_mesh_stats(&m, &st) != VKD_OK) test_fail(T, __FILE__, __LINE__, "%s", vkd_last_error());
    CHECK(T, st.boundary_edges == 0 && st.nonmanifold_edges == 0 && st.misoriented_edges == 0,
          "%s: mesh not closed: %ld boundary, %ld non-manifold, %ld misoriented edges", caption,
          st.boundary_edges, st.nonmanifold_edges, st.misoriented_edges);
    CHECK(T, st.volume > 0, "%s: mesh volume %g <= 0 (inside out?)", caption, st.volume);
    double frac;
    const double iou = mesh_iou(&m, obj.shape, &frac), cerr = colour_error(&m, obj.colour);
    printf("  %s: grid %d, threshold %.3g (auto), density [%.3g, %.3g], %d components, "
           "%d vertices, %d faces, Euler %ld, volume %.4f; mesh IoU %.3f, colour error %.4f; "
           "%.0f ms (field sampling %.0f ms)\n",
           caption, o.grid, info.mc.threshold, info.mc.dmin, info.mc.dmax, info.n_components,
           m.n_vertices, m.n_faces, st.euler, st.volume, iou, cerr, info.ms_total,
           info.mc.ms_sample);
    if (FULL) {
        CHECK(T, iou >= 0.8, "%s: mesh occupancy IoU %.3f < 0.8", caption, iou);
        CHECK(T, cerr < 0.1, "%s: mean vertex colour error %.4f >= 0.1", caption, cerr);
        // The band around the automatic threshold, on a coarser grid to keep this fast.
        const float others[] = {2.0f, NAN, 25.0f};
        o.grid = 64;
        for (int k = 0; k < 3; k++) {
            vkd_mesh_t m2;
            o.threshold = others[k];
            if (vkd_nerf_export_mesh(f, &o, &m2, NULL) != VKD_OK) {
                test_fail(T, __FILE__, __LINE__, "threshold %g: %s", others[k], vkd_last_error());
                continue;
            }
            printf("    grid 64, threshold %g: mesh IoU %.3f, %d faces\n", others[k],
                   mesh_iou(&m2, obj.shape, NULL), m2.n_faces);
            vkd_mesh_free(&m2);
        }
    }
    vkd_mesh_free(&m);
    // Refusals: a threshold above every density, an unknown extension.
    o.threshold = 1e30f;
    o.grid = 16;
    s = vkd_nerf_export_mesh(f, &o, &m, NULL);
    CHECK(T, s == VKD_ERR_NUMERIC && strstr(vkd_last_error(), "no surface crosses threshold") &&
                 strstr(vkd_last_error(), "ranges over"),
          "%s: impossible threshold: status %d, '%s'", caption, (int)s, vkd_last_error());
    o.threshold = NAN;
    s = vkd_nerf_export_mesh_file(f, &o, "test_export_bad.stl", NULL, NULL);
    CHECK(T, s == VKD_ERR_INVALID && access("test_export_bad.stl", F_OK) != 0,
          "bad extension: status %d, '%s'", (int)s, vkd_last_error());
    vkd_field_destroy(f);
}

static void t_export_red_cube(tctx_t *T) { export_case(T, "a red cube"); }
static void t_export_orange_torus(tctx_t *T) { export_case(T, "an orange torus"); }

static const tcase_t cases[] = {
    TCASE_CPU(t_export_red_cube),
    TCASE_CPU(t_export_orange_torus),
};
TEST_MAIN(cases)
