// The viewer's mesh scene (src/viewer_mesh.h): a GLB written by mesh_write.h reads back
// with the same vertices, normals, colours and faces; the BVH ray caster's picture of a
// meshed ShapeWorld object agrees with the analytic renderer's picture of the object
// (silhouette, depth, normals, colour); truncated or foreign files fail with a message
// naming the file, never a crash.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "nerf/mesh.h"
#include "test_util.h"
#include "viewer_mesh.h"

static int mesh_of(tctx_t *T, const char *caption, int grid, vkd_mesh_t *m) {
    vkd_sw_object_t obj;
    vkd_mc_opts_t o = vkd_mc_opts_default();
    o.grid = grid, o.threshold = 0.0f;
    if (vkd_sw_parse(caption, &obj, NULL) != VKD_OK ||
        vkd_mc_extract(vkd_sw_field_sample, &obj, &o, m, NULL) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "meshing %s: %s", caption, vkd_last_error());
        return 0;
    }
    return 1;
}

static void glb_round_trip(tctx_t *T) {
    vkd_mesh_t m, r;
    if (!mesh_of(T, "an orange torus", 32, &m)) return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/vkd_viewer_mesh_%d.glb", (int)getpid());
    CHECK_OK(T, vkd_mesh_write_glb(path, &m, "torus"));
    vkd_status_t s = vkd_glb_read(path, &r);
    if (s != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "read back: %s", vkd_last_error());
        vkd_mesh_free(&m);
        unlink(path);
        return;
    }
    CHECK(T, r.n_vertices == m.n_vertices && r.n_faces == m.n_faces,
          "counts %d/%d, wrote %d/%d", r.n_vertices, r.n_faces, m.n_vertices, m.n_faces);
    if (r.n_vertices == m.n_vertices && r.n_faces == m.n_faces) {
        const size_t nv = 3 * (size_t)m.n_vertices;
        CHECK(T, !memcmp(r.pos, m.pos, nv * sizeof(float)), "positions differ");
        CHECK(T, !memcmp(r.idx, m.idx, 3 * (size_t)m.n_faces * sizeof(uint32_t)), "indices differ");
        CHECK(T, r.normal && r.rgb, "normals or colours missing");
        if (r.normal && r.rgb) {
            test_compare(T, "normals", r.normal, m.normal, nv, 1e-6);
            test_compare(T, "colours", r.rgb, m.rgb, nv, 1e-6);
        }
    }
    vkd_mesh_free(&r);
    // Damaged copies: every truncation and a flipped magic fail cleanly with the name.
    char *data;
    size_t n;
    CHECK_OK(T, vkd_file_read_all(path, &data, &n));
    const size_t cuts[] = {0, 11, 20, 100, n / 2, n - 4};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK_OK(T, vkd_file_write_atomic(path, data, cuts[i]));
        s = vkd_glb_read(path, &r);
        CHECK(T, s != VKD_OK && strstr(vkd_last_error(), path),
              "truncated to %zu bytes: status %d, '%s'", cuts[i], (int)s, vkd_last_error());
        if (s == VKD_OK) vkd_mesh_free(&r);
    }
    data[0] = 'X';
    CHECK_OK(T, vkd_file_write_atomic(path, data, n));
    s = vkd_glb_read(path, &r);
    CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), "not a binary glTF"),
          "bad magic: status %d, '%s'", (int)s, vkd_last_error());
    free(data);
    unlink(path);
    s = vkd_glb_read(path, &r);
    CHECK(T, s != VKD_OK && strstr(vkd_last_error(), path), "missing file: '%s'", vkd_last_error());
    vkd_mesh_free(&m);
}

// The ray-cast mesh of the torus against the analytic torus, 96 x 96, lit: silhouettes
// agree but for a rim of pixels, depth to a fraction of a grid cell (0.03), normals
// within a few degrees, lit colours close.
static void cast_matches_analytic(tctx_t *T) {
    vkd_mesh_t m;
    if (!mesh_of(T, "an orange torus", 96, &m)) return;
    vkd_view_mesh_t *vm = NULL;
    CHECK_OK(T, vkd_view_mesh_create(&m, &vm));
    vkd_sw_object_t obj;
    CHECK_OK(T, vkd_sw_parse("an orange torus", &obj, NULL));
    const int R = 96;
    const size_t px = (size_t)R * R;
    float *a = test_alloc(px * 8), *b = test_alloc(px * 8);
    const vkd_render_out_t ra = {a, a + 6 * px, a + 7 * px, a + 3 * px};
    const vkd_render_out_t rb = {b, b + 6 * px, b + 7 * px, b + 3 * px};
    vkd_camera_t cam;
    vkd_light_t light;
    CHECK_OK(T, vkd_camera_orbit(&cam, 35, 40, 2.1f, 50, R, R));
    vkd_light_key(&cam, &light);
    const double t0 = test_now_ms();
    vkd_status_t s = vkd_view_mesh_render(vm, &cam, VKD_SHADE_LIT, &light, vkd_sw_background(), 1, &ra);
    const double ms = test_now_ms() - t0;
    if (!s) s = vkd_sw_render(obj, &cam, VKD_SHADE_LIT, &light, 1, &rb);
    CHECK(T, s == VKD_OK, "render: %s", vkd_last_error());
    int mism = 0, both = 0, hit = 0;
    double dz = 0, dzs = 0, ang = 0, dc = 0;
    for (size_t i = 0; i < px && !s; i++) {
        const int ha = ra.opacity[i] > 0.5f, hb = rb.opacity[i] > 0.5f;
        mism += ha != hb, hit += hb;
        if (!ha || !hb) continue;
        both++;
        dz = fmax(dz, fabs(ra.depth[i] - rb.depth[i]));
        dzs += fabs(ra.depth[i] - rb.depth[i]);
        double dot = 0;
        for (int k = 0; k < 3; k++) dot += ra.normal[3 * i + k] * rb.normal[3 * i + k], dc += fabs(a[3 * i + k] - b[3 * i + k]);
        ang += acos(fmin(1.0, dot)) * 180.0 / M_PI;
    }
    printf("  torus at 96^2: %d hit pixels, %d differ in coverage; depth diff mean %.4f max "
           "%.4f; mean normal angle %.2f deg, mean colour diff %.4f; cast in %.1f ms (%d faces)\n",
           hit, mism, both ? dzs / both : 0, dz, both ? ang / both : 0,
           both ? dc / (3.0 * both) : 0, ms, vkd_view_mesh_faces(vm));
    CHECK(T, hit > 1000 && mism <= hit / 50, "coverage differs at %d of %d pixels", mism, hit);
    // Grazing rays at the silhouette may cross a chord of the mesh's facets far from the
    // true surface: a loose bound on the worst pixel, a tight one on the mean.
    CHECK(T, both && dzs / both < 0.003 && dz < 0.1, "depth differs by %.4f on average, %.4f at most",
          both ? dzs / both : 0, dz);
    CHECK(T, both && ang / both < 3.0, "mean normal angle %.2f deg", both ? ang / both : 0);
    CHECK(T, both && dc / (3.0 * both) < 0.02, "mean lit colour diff %.4f", both ? dc / (3.0 * both) : 0);
    // Background where nothing is hit, exactly.
    const float *bg = vkd_sw_background();
    CHECK(T, a[0] == bg[0] && a[1] == bg[1] && a[2] == bg[2] && ra.opacity[0] == 0 && ra.depth[0] == 0,
          "corner pixel is not the background");
    free(a), free(b);
    vkd_view_mesh_destroy(vm);
}

static const tcase_t cases[] = {
    TCASE_CPU(glb_round_trip),
    TCASE_CPU(cast_matches_analytic),
};
TEST_MAIN(cases)
