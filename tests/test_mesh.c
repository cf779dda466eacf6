// Surface extraction and mesh files: marching tetrahedra on ShapeWorld SDFs (closed,
// manifold, consistently wound, right topology and volume), normals and colours, the empty
// case, largest component, decimation, the automatic threshold, and the three writers read
// back by small readers here (tests/gltf_validate.sh runs the independent ones: the Khronos
// validator on the GLB, three.js' loaders on OBJ and PLY).
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fileio.h"
#include "mesh_write.h"
#include "nerf/mesh.h"
#include "shapeworld.h"
#include "test_util.h"

static const double k_pi = 3.14159265358979323846;

static void print_stats(const char *what, const vkd_mesh_t *m, const vkd_mesh_stats_t *s) {
    printf("  %s: V %d F %d E %ld, euler %ld, boundary %ld, non-manifold %ld, misoriented "
           "%ld, volume %.6f\n",
           what, m->n_vertices, m->n_faces, s->edges, s->euler, s->boundary_edges,
           s->nonmanifold_edges, s->misoriented_edges, s->volume);
}

static void check_closed(tctx_t *T, const char *what, const vkd_mesh_stats_t *s) {
    CHECK(T, s->boundary_edges == 0, "%s: %ld boundary edges (holes/cracks)", what,
          s->boundary_edges);
    CHECK(T, s->nonmanifold_edges == 0, "%s: %ld non-manifold edges", what, s->nonmanifold_edges);
    CHECK(T, s->misoriented_edges == 0, "%s: %ld inconsistently wound edges", what,
          s->misoriented_edges);
}

static vkd_status_t mesh_sw(vkd_sw_shape_t shape, int grid, vkd_mesh_t *m, vkd_mc_info_t *info) {
    vkd_sw_object_t obj = {shape, VKD_SW_ORANGE};
    vkd_mc_opts_t o = vkd_mc_opts_default();
    o.grid = grid, o.threshold = 0;
    return vkd_mc_extract(vkd_sw_field_sample, &obj, &o, m, info);
}

static void t_sphere(tctx_t *T) {
    vkd_mesh_t m;
    vkd_mc_info_t info;
    CHECK_OK(T, mesh_sw(VKD_SW_SPHERE, 128, &m, &info));
    printf("  marching tetrahedra at N = 128: %.0f ms (sampling + extraction), %.0f ms total\n",
           info.ms_extract, info.ms_total);
    vkd_mesh_stats_t s;
    CHECK_OK(T, vkd_mesh_stats(&m, &s));
    print_stats("sphere", &m, &s);
    check_closed(T, "sphere", &s);
    CHECK(T, s.euler == 2, "sphere Euler characteristic %ld, want 2", s.euler);
    double want = 4.0 / 3.0 * k_pi * 0.125;
    CHECK(T, fabs(s.volume - want) < 0.01 * want, "sphere volume %.6f vs %.6f (%.3f%%)", s.volume,
          want, 100 * (s.volume / want - 1));
    // Vertices lie on the sphere; normals are radial and outward; colours are the palette's.
    const float *c = vkd_sw_colour_rgb(VKD_SW_ORANGE);
    double worst_r = 0, worst_n = 1, worst_c = 0;
    for (int v = 0; v < m.n_vertices; v++) {
        const float *p = &m.pos[3 * v], *n = &m.normal[3 * v], *rgb = &m.rgb[3 * v];
        double r = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
        worst_r = fmax(worst_r, fabs(r - 0.5));
        worst_n = fmin(worst_n, (p[0] * n[0] + p[1] * n[1] + p[2] * n[2]) / r);
        for (int d = 0; d < 3; d++) worst_c = fmax(worst_c, fabs(rgb[d] - c[d]));
    }
    CHECK(T, worst_r < 1e-3, "vertex off the sphere by %g", worst_r);
    CHECK(T, worst_n > 0.999, "normal vs radius: worst cosine %g", worst_n);
    CHECK(T, worst_c == 0, "colour off the palette by %g", worst_c);
    CHECK(T, s.volume > 0, "outward winding gives a positive volume");
    int ncomp;
    CHECK_OK(T, vkd_mesh_largest_component(&m, &ncomp));
    CHECK(T, ncomp == 1, "sphere has %d components", ncomp);
    vkd_mesh_free(&m);
}

static void t_torus_and_others(tctx_t *T) {
    static const struct {
        vkd_sw_shape_t shape;
        long euler;
        double volume;
    } cases[] = {
        {VKD_SW_TORUS, 0, 2 * 3.14159265358979 * 3.14159265358979 * 0.43 * 0.19 * 0.19},
        {VKD_SW_CUBE, 2, 0.72 * 0.72 * 0.72},
        {VKD_SW_CYLINDER, 2, 3.14159265358979 * 0.4 * 0.4 * 0.84},
        {VKD_SW_CONE, 2, 3.14159265358979 * 0.45 * 0.45 * 0.9 / 3},
        {VKD_SW_PYRAMID, 2, 0.76 * 0.76 * 0.76 / 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vkd_mesh_t m;
        CHECK_OK(T, mesh_sw(cases[i].shape, 96, &m, NULL));
        vkd_mesh_stats_t s;
        CHECK_OK(T, vkd_mesh_stats(&m, &s));
        const char *name = vkd_sw_shape_name(cases[i].shape);
        print_stats(name, &m, &s);
        check_closed(T, name, &s);
        CHECK(T, s.euler == cases[i].euler, "%s: Euler characteristic %ld, want %ld", name, s.euler,
              cases[i].euler);
        // Sharp edges are cut off by up to a cell: a looser bound than the sphere's.
        CHECK(T, fabs(s.volume / cases[i].volume - 1) < 0.03, "%s: volume %.5f vs %.5f", name,
              s.volume, cases[i].volume);
        vkd_mesh_free(&m);
    }
}

// Two balls: radius 0.45 at x = -0.6 and 0.25 at x = +0.7. density = -sdf.
static vkd_status_t two_balls(void *user, const float *xyz, int P, float *d, float *rgb) {
    (void)user;
    for (int i = 0; i < P; i++) {
        const float *p = &xyz[3 * i];
        float a = sqrtf((p[0] + 0.6f) * (p[0] + 0.6f) + p[1] * p[1] + p[2] * p[2]) - 0.45f;
        float b = sqrtf((p[0] - 0.7f) * (p[0] - 0.7f) + p[1] * p[1] + p[2] * p[2]) - 0.25f;
        d[i] = -fminf(a, b);
        if (rgb) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = p[0] < 0 ? 0.2f : 0.8f;
    }
    return VKD_OK;
}

// NeRF-like: density 40 inside a ball of radius 0.5, 0 outside, a smooth step between,
// and NaN for x > 1.2 (counted as empty, left out of the reported range).
static vkd_status_t soft_ball(void *user, const float *xyz, int P, float *d, float *rgb) {
    (void)user;
    for (int i = 0; i < P; i++) {
        const float *p = &xyz[3 * i];
        float r = sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
        d[i] = p[0] > 1.2f ? NAN : 40.0f / (1.0f + expf((r - 0.5f) * 40.0f));
        if (rgb) rgb[3 * i] = 2.0f, rgb[3 * i + 1] = -1.0f, rgb[3 * i + 2] = NAN; // clamped
    }
    return VKD_OK;
}

static void t_components_and_decimation(tctx_t *T) {
    vkd_mc_opts_t o = vkd_mc_opts_default();
    o.grid = 96, o.threshold = 0;
    vkd_mesh_t m;
    CHECK_OK(T, vkd_mc_extract(two_balls, NULL, &o, &m, NULL));
    int ncomp;
    CHECK_OK(T, vkd_mesh_largest_component(&m, &ncomp));
    CHECK(T, ncomp == 2, "two balls: %d components", ncomp);
    vkd_mesh_stats_t s;
    CHECK_OK(T, vkd_mesh_stats(&m, &s));
    double big = 4.0 / 3.0 * k_pi * 0.45 * 0.45 * 0.45;
    CHECK(T, fabs(s.volume / big - 1) < 0.01 && s.euler == 2,
          "the big ball is kept: volume %.5f vs %.5f, euler %ld", s.volume, big, s.euler);
    for (int v = 0; v < m.n_vertices; v++)
        if (m.pos[3 * v] > 0) {
            CHECK(T, 0, "vertex %d of the small ball survived", v);
            break;
        }
    int before = m.n_faces;
    CHECK_OK(T, vkd_mesh_decimate(&m, 2000));
    CHECK_OK(T, vkd_mesh_stats(&m, &s));
    print_stats("decimated big ball", &m, &s);
    CHECK(T, m.n_faces <= 2000 && m.n_faces > 500, "decimated %d -> %d faces (budget 2000)", before,
          m.n_faces);
    CHECK(T, fabs(s.volume / big - 1) < 0.05, "decimated volume %.5f vs %.5f", s.volume, big);
    CHECK(T, s.boundary_edges == 0 && s.misoriented_edges == 0,
          "decimation opens no holes (%ld boundary, %ld misoriented edges)", s.boundary_edges,
          s.misoriented_edges);
    for (int v = 0; v < m.n_vertices; v++) {
        const float *n = &m.normal[3 * v];
        double l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (fabs(l - 1) > 1e-4) {
            CHECK(T, 0, "decimated normal %d has length %g", v, l);
            break;
        }
    }
    CHECK(T, vkd_mesh_decimate(&m, 3) == VKD_ERR_INVALID, "budget < 4 refused");
    int nf = m.n_faces;
    CHECK(T, vkd_mesh_decimate(&m, 4) == VKD_ERR_INVALID && m.n_faces == nf,
          "a budget that collapses everything fails and leaves the mesh: %s", vkd_last_error());
    vkd_mesh_free(&m);
}

static void t_auto_threshold_and_empty(tctx_t *T) {
    float t;
    CHECK_OK(T, vkd_mesh_auto_threshold(soft_ball, NULL, 1.4f, 64, 4096, &t));
    printf("  auto threshold of a 0/40 field: %g\n", t);
    CHECK(T, t > 2 && t < 38, "auto threshold %g separates 0 from 40", t);
    vkd_mc_opts_t o = vkd_mc_opts_default();
    o.grid = 64, o.batch = 1000; // odd batch: partial batches everywhere
    vkd_mesh_t m;
    vkd_mc_info_t info;
    CHECK_OK(T, vkd_mc_extract(soft_ball, NULL, &o, &m, &info));
    CHECK(T, info.auto_threshold && info.threshold == t, "auto threshold used: %g", info.threshold);
    vkd_mesh_stats_t s;
    CHECK_OK(T, vkd_mesh_stats(&m, &s));
    check_closed(T, "soft ball", &s);
    double r = 0.5 + log(40.0 / t - 1.0) / 40.0, want = 4.0 / 3.0 * k_pi * r * r * r;
    CHECK(T, fabs(s.volume / want - 1) < 0.02, "soft ball volume %.5f vs %.5f", s.volume, want);
    CHECK(T, m.rgb[0] == 1 && m.rgb[1] == 0 && m.rgb[2] == 0, "colours clamped to [0, 1]");
    vkd_mesh_free(&m);

    // Nothing crosses: the error says so, with the range, the threshold and a suggestion.
    o.threshold = 100;
    vkd_status_t st = vkd_mc_extract(soft_ball, NULL, &o, &m, &info);
    const char *e = vkd_last_error();
    printf("  empty: %s\n", e);
    CHECK(T, st == VKD_ERR_NUMERIC, "empty result is an error (%s)", vkd_status_name(st));
    CHECK(T,
          strstr(e, "no surface") && strstr(e, "100") && strstr(e, "try --threshold") &&
              strstr(e, "40"),
          "message gives threshold, range and a suggestion: %s", e);
    CHECK(T, m.n_faces == 0 && m.pos == NULL, "no mesh on failure");
    CHECK(T, info.dmax > 39 && info.dmin < 1, "range reported: [%g, %g]", info.dmin, info.dmax);

    o = vkd_mc_opts_default();
    o.grid = 7;
    CHECK(T, vkd_mc_extract(soft_ball, NULL, &o, &m, NULL) == VKD_ERR_INVALID, "grid 7 refused");
    o.grid = 513;
    CHECK(T, vkd_mc_extract(soft_ball, NULL, &o, &m, NULL) == VKD_ERR_INVALID, "grid 513 refused");
    o.grid = 32, o.threshold = INFINITY;
    CHECK(T, vkd_mc_extract(soft_ball, NULL, &o, &m, NULL) == VKD_ERR_INVALID, "inf threshold");
}

static long count_prefix(const char *text, const char *prefix) {
    long n = 0;
    size_t l = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, prefix, l)) n++;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return n;
}

static uint32_t rd_u32(const unsigned char *p) {
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void t_writers(tctx_t *T) {
    vkd_mesh_t m;
    CHECK_OK(T, mesh_sw(VKD_SW_TORUS, 48, &m, NULL));
    char dir[] = "/tmp/vkd_test_mesh_XXXXXX", path[300];
    CHECK(T, mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    char *buf;
    size_t n;
    // GLB: header, chunks, JSON counts and min/max that match the data.
    snprintf(path, sizeof path, "%s/t.glb", dir);
    CHECK_OK(T, vkd_mesh_write(path, &m, "orange torus"));
    CHECK_OK(T, vkd_file_read_all(path, &buf, &n));
    const unsigned char *b = (const unsigned char *)buf;
    CHECK(T, n > 28 && rd_u32(b) == 0x46546C67 && rd_u32(b + 4) == 2 && rd_u32(b + 8) == n,
          "GLB header");
    uint32_t jl = rd_u32(b + 12);
    CHECK(T, jl % 4 == 0 && 20 + jl + 8 <= n && rd_u32(b + 16) == 0x4E4F534A, "JSON chunk");
    cJSON *j = cJSON_ParseWithLength(buf + 20, jl);
    CHECK(T, j != NULL, "GLB JSON parses");
    if (j) {
        cJSON *acc = cJSON_GetObjectItem(j, "accessors");
        CHECK(T, cJSON_GetArraySize(acc) == 4, "4 accessors");
        cJSON *a0 = cJSON_GetArrayItem(acc, 0), *a3 = cJSON_GetArrayItem(acc, 3);
        CHECK(T, cJSON_GetObjectItem(a0, "count")->valuedouble == m.n_vertices, "vertex count");
        CHECK(T, cJSON_GetObjectItem(a3, "count")->valuedouble == 3.0 * m.n_faces, "index count");
        float mx = -1e30f;
        for (int v = 0; v < m.n_vertices; v++) mx = fmaxf(mx, m.pos[3 * v]);
        CHECK(T, (float)cJSON_GetArrayItem(cJSON_GetObjectItem(a0, "max"), 0)->valuedouble == mx,
              "max x is exactly the data's");
        cJSON *node = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "nodes"), 0);
        CHECK(T, !strcmp(cJSON_GetObjectItem(node, "name")->valuestring, "orange torus"),
              "named node");
        cJSON_Delete(j);
    }
    free(buf);
    // OBJ: v/vn/f line counts, colours on v lines.
    snprintf(path, sizeof path, "%s/t.OBJ", dir);
    CHECK_OK(T, vkd_mesh_write(path, &m, NULL));
    CHECK_OK(T, vkd_file_read_all(path, &buf, &n));
    CHECK(T,
          count_prefix(buf, "v ") == m.n_vertices && count_prefix(buf, "vn ") == m.n_vertices &&
              count_prefix(buf, "f ") == m.n_faces,
          "OBJ line counts");
    const char *v1 = strstr(buf, "\nv ");
    float x[6];
    CHECK(T,
          v1 && sscanf(v1, " v %f %f %f %f %f %f", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5]) == 6,
          "OBJ vertex carries a colour");
    free(buf);
    // PLY: header counts and exact size of the binary body.
    snprintf(path, sizeof path, "%s/t.ply", dir);
    CHECK_OK(T, vkd_mesh_write(path, &m, NULL));
    CHECK_OK(T, vkd_file_read_all(path, &buf, &n));
    char *end = strstr(buf, "end_header\n");
    int pv = -1, pf = -1;
    const char *ev = strstr(buf, "element vertex "), *ef = strstr(buf, "element face ");
    if (ev) sscanf(ev, "element vertex %d", &pv);
    if (ef) sscanf(ef, "element face %d", &pf);
    CHECK(T, end && pv == m.n_vertices && pf == m.n_faces, "PLY header counts %d %d", pv, pf);
    if (end) {
        size_t body = n - (size_t)(end + 11 - buf);
        CHECK(T, body == (size_t)m.n_vertices * 27 + (size_t)m.n_faces * 13, "PLY body %zu bytes",
              body);
    }
    free(buf);
    // Refusals: an empty mesh, an unknown extension, a bad index. Nothing is left behind.
    vkd_mesh_t empty = {0};
    snprintf(path, sizeof path, "%s/empty.glb", dir);
    CHECK(T, vkd_mesh_write(path, &empty, NULL) == VKD_ERR_INVALID, "empty mesh refused");
    CHECK(T, access(path, F_OK) != 0, "no empty file written");
    snprintf(path, sizeof path, "%s/t.stl", dir);
    CHECK(T, vkd_mesh_write(path, &m, NULL) == VKD_ERR_INVALID && strstr(vkd_last_error(), ".glb"),
          "unknown extension refused: %s", vkd_last_error());
    m.idx[5] = (uint32_t)m.n_vertices;
    snprintf(path, sizeof path, "%s/bad.ply", dir);
    CHECK(T, vkd_mesh_write(path, &m, NULL) == VKD_ERR_INVALID, "out-of-range index refused");
    CHECK(T, access(path, F_OK) != 0, "no file for a bad mesh");
    vkd_mesh_free(&m);
    const char *names[] = {"t.glb", "t.OBJ", "t.ply"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    CHECK(T, rmdir(dir) == 0, "temp dir holds no leftovers: %s", strerror(errno));
}

static const tcase_t cases[] = {
    TCASE_CPU(t_sphere),
    TCASE_CPU(t_torus_and_others),
    TCASE_CPU(t_components_and_decimation),
    TCASE_CPU(t_auto_threshold_and_empty),
    TCASE_CPU(t_writers),
};
TEST_MAIN(cases)
