// NeRF checkpoints (nerf/checkpoint.h): save and load round trips (parameters, Adam
// moments, step, occupancy grid, metadata), resuming reproduces an uninterrupted run,
// bad files (missing, truncated, corrupted, wrong config, NaN, missing tensor, not a NeRF
// checkpoint) fail with a message naming the file and what is wrong, never a crash; and a
// checkpoint written from the Vulkan backend loads on the CPU.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "nerf/checkpoint.h"
#include "safetensors.h"
#include "test_util.h"

static float *fmalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

static vkd_nerf_config_t tiny_config(void) {
    vkd_nerf_config_t c = vkd_nerf_config_default();
    c.width = 16, c.depth = 2, c.n_freq = 3, c.samples = 16, c.seed = 21;
    c.grid_res = 8, c.grid_warmup = 2, c.grid_every = 2, c.lr = 1e-2f, c.warmup_steps = 2;
    c.bg_mode = VKD_NERF_BG_MLP, c.bg_width = 8, c.bg_freq = 2, c.total_steps = 20;
    return c;
}

// Training steps [from, to) of a deterministic toy run: 64 rays of a fixed camera, lit,
// pulled towards grey.
static vkd_status_t train(vkd_field_t *f, vkd_nerf_renderer_t *r, vkd_buf_t drgb, int from, int to) {
    vkd_camera_t cam;
    VKD_TRY(vkd_camera_orbit(&cam, 40, 30, 2.2f, 50, 8, 8));
    float rays[64 * 8], rgb[64 * 3];
    vkd_nerf_camera_rays(&cam, rays);
    for (int step = from; step < to; step++) {
        vkd_nerf_view_t view = {.mode = VKD_SHADE_LIT, .jitter = 1, .step = (uint64_t)step};
        vkd_light_key(&cam, &view.light);
        const vkd_render_out_t out = {rgb, NULL, NULL, NULL};
        VKD_TRY(vkd_nerf_grid_step(r, (uint64_t)step, NULL));
        VKD_TRY(vkd_nerf_render_forward(r, rays, 64, &view));
        VKD_TRY(vkd_nerf_render_read(r, &out));
        for (int i = 0; i < 64 * 3; i++) rgb[i] = 2.0f * (rgb[i] - 0.5f) / (64 * 3);
        VKD_TRY(vkd_buf_write(drgb, rgb, sizeof rgb));
        VKD_TRY(vkd_field_zero_grad(f));
        VKD_TRY(vkd_nerf_render_backward(r, drgb, VKD_BUF_NONE));
        VKD_TRY(vkd_field_adam_step(f));
    }
    return VKD_OK;
}

typedef struct {
    char dir[64];
} tmpdir_t;

static int tmp_make(tmpdir_t *d) {
    snprintf(d->dir, sizeof d->dir, "/tmp/vkd_nerf_ckpt_XXXXXX");
    return mkdtemp(d->dir) != NULL;
}

static void tmp_path(const tmpdir_t *d, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", d->dir, name);
}

// All of a buffer as host floats (malloc'd).
static float *snap(tctx_t *T, vkd_buf_t b) { return test_read(T, b, vkd_buf_count(b)); }

static void t_round_trip_and_resume(tctx_t *T) {
    tmpdir_t td;
    CHECK(T, tmp_make(&td), "temp dir");
    char path[128];
    tmp_path(&td, "run.safetensors", path, sizeof path);
    const vkd_nerf_config_t cfg = tiny_config();
    vkd_field_t *a, *b;
    vkd_nerf_renderer_t *ra, *rb;
    const vkd_nerf_renderer_opts_t ro = {.max_rays = 64};
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &a));
    CHECK_OK(T, vkd_nerf_renderer_create(a, &ro, &ra));
    vkd_buf_t drgb = test_buf(T, T->cpu_arena, NULL, 64 * 3);
    CHECK_OK(T, train(a, ra, drgb, 0, 5));
    vkd_nerf_ckpt_meta_t meta = {.seed = cfg.seed, .step = 5};
    snprintf(meta.prompt, sizeof meta.prompt, "a red cube");
    CHECK_OK(T, vkd_nerf_ckpt_save(path, a, ra, &meta));
    // Load into a new field + renderer: everything equal.
    vkd_nerf_ckpt_meta_t got;
    CHECK_OK(T, vkd_nerf_ckpt_load(path, T->cpu, &b, &got));
    CHECK_OK(T, vkd_nerf_renderer_create(b, &ro, &rb));
    CHECK_OK(T, vkd_nerf_ckpt_load_into(path, b, rb, &got));
    CHECK(T, got.step == 5 && got.seed == cfg.seed && strcmp(got.prompt, "a red cube") == 0 &&
             b->step == 5, "metadata: step %llu seed %llu prompt '%s'", (unsigned long long)got.step,
          (unsigned long long)got.seed, got.prompt);
    CHECK(T, memcmp(&a->cfg, &b->cfg, sizeof cfg) == 0, "config restored");
    CHECK(T, vkd_nerf_grid_ready(rb), "grid restored as ready");
    const vkd_buf_t pa[4] = {a->params, a->adam_m, a->adam_v, vkd_nerf_grid_buf(ra)};
    const vkd_buf_t pb[4] = {b->params, b->adam_m, b->adam_v, vkd_nerf_grid_buf(rb)};
    const char *names[4] = {"params", "adam m", "adam v", "grid"};
    for (int i = 0; i < 4; i++) {
        float *x = snap(T, pa[i]), *y = snap(T, pb[i]);
        CHECK(T, x && y && memcmp(x, y, pa[i].bytes) == 0, "%s differ after the round trip", names[i]);
        free(x), free(y);
    }
    // Resume: 5 more steps from the checkpoint equal 5 more steps of the original run.
    CHECK_OK(T, train(a, ra, drgb, 5, 10));
    CHECK_OK(T, train(b, rb, drgb, 5, 10));
    float *x = snap(T, a->params), *y = snap(T, b->params);
    if (x && y) test_compare(T, "params after resuming vs uninterrupted", y, x, a->n_params, 1e-6);
    free(x), free(y);
    // The file is complete and no temporary is left behind (atomic write).
    CHECK(T, access(path, R_OK) == 0, "checkpoint exists");
    vkd_nerf_renderer_destroy(ra), vkd_nerf_renderer_destroy(rb);
    vkd_field_destroy(a), vkd_field_destroy(b);
    unlink(path);
    CHECK(T, rmdir(td.dir) == 0, "only the checkpoint was written to %s", td.dir);
}

// Expect loading path to fail with code and a message containing all needles.
static void expect_fail(tctx_t *T, const char *what, const char *path, vkd_status_t code,
                        const char *n1, const char *n2) {
    vkd_field_t *f = NULL;
    const vkd_status_t s = vkd_nerf_ckpt_load(path, T->cpu, &f, NULL);
    const char *msg = vkd_last_error();
    CHECK(T, s == code && f == NULL && (!n1 || strstr(msg, n1)) && (!n2 || strstr(msg, n2)),
          "%s: status %s, message: %s", what, vkd_status_name(s), msg);
    printf("  %-28s -> %s\n", what, msg);
    vkd_field_destroy(f);
}

static void t_bad_files(tctx_t *T) {
    tmpdir_t td;
    CHECK(T, tmp_make(&td), "temp dir");
    char good[128], bad[128];
    tmp_path(&td, "good.safetensors", good, sizeof good);
    tmp_path(&td, "bad.safetensors", bad, sizeof bad);
    const vkd_nerf_config_t cfg = tiny_config();
    vkd_field_t *f;
    CHECK_OK(T, vkd_field_create(T->cpu, &cfg, &f));
    CHECK_OK(T, vkd_nerf_ckpt_save(good, f, NULL, NULL));
    char *data;
    size_t n;
    CHECK_OK(T, vkd_file_read_all(good, &data, &n));
    expect_fail(T, "missing file", "/nonexistent/x.safetensors", VKD_ERR_IO, "/nonexistent/x", NULL);
    // Truncated anywhere: header length, header, data.
    const size_t cuts[5] = {0, 4, 20, n / 2, n - 1};
    for (int i = 0; i < 5; i++) {
        CHECK_OK(T, vkd_file_write_atomic(bad, data, cuts[i]));
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cuts[i]);
        expect_fail(T, what, bad, VKD_ERR_FORMAT, bad, NULL);
    }
    // A corrupted header byte.
    data[12] ^= 0x5a;
    CHECK_OK(T, vkd_file_write_atomic(bad, data, n));
    data[12] ^= 0x5a;
    vkd_field_t *g = NULL;
    vkd_status_t s = vkd_nerf_ckpt_load(bad, T->cpu, &g, NULL);
    CHECK(T, s != VKD_OK && strstr(vkd_last_error(), bad), "corrupted header: %s", vkd_last_error());
    vkd_field_destroy(g);
    // The right file for another architecture.
    vkd_nerf_config_t wide = cfg;
    wide.width = 32;
    CHECK_OK(T, vkd_field_create(T->cpu, &wide, &g));
    s = vkd_nerf_ckpt_load_into(good, g, NULL, NULL);
    CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), "width = 16") &&
             strstr(vkd_last_error(), good), "wrong config: %s", vkd_last_error());
    printf("  %-28s -> %s\n", "wrong config", vkd_last_error());
    vkd_field_destroy(g);
    // Hand-made files: a NaN parameter, a missing tensor, no format, a bad config.
    for (int variant = 0; variant < 4; variant++) {
        vkd_st_writer_t *w;
        CHECK_OK(T, vkd_st_writer_create(&w));
        float *host = fmalloc(f->n_params);
        CHECK_OK(T, vkd_buf_read(f->params, host, f->n_params * sizeof(float)));
        const int ti = vkd_field_find(f, "field.blocks.1.linear.weight");
        if (variant == 0) host[f->tensors[ti].off + 7] = NAN;
        static const char *const prefix[3] = {"", "adam.m.", "adam.v."};
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < f->n_tensors; i++) {
                char name[96];
                snprintf(name, sizeof name, "%s%s", prefix[b], f->tensors[i].name);
                if (variant == 1 && b == 2 && i == 3) continue;
                CHECK_OK(T, vkd_st_writer_add(w, name, VKD_DT_F32, f->tensors[i].ndim,
                                              f->tensors[i].shape, host + f->tensors[i].off));
            }
        char *cj = vkd_nerf_config_to_json(&f->cfg);
        if (variant != 2) CHECK_OK(T, vkd_st_writer_meta(w, "format", VKD_NERF_CKPT_FORMAT));
        CHECK_OK(T, vkd_st_writer_meta(w, "config", variant == 3 ? "{\"width\": 17.5}" : cj));
        CHECK_OK(T, vkd_st_writer_meta(w, "step", "3"));
        CHECK_OK(T, vkd_st_writer_meta(w, "rng", "{\"seed\": \"21\", \"step\": \"3\"}"));
        CHECK_OK(T, vkd_st_write(w, bad));
        vkd_st_writer_free(w);
        free(host), free(cj);
        char miss[96];
        snprintf(miss, sizeof miss, "adam.v.%s", f->tensors[3].name);
        if (variant == 0)
            expect_fail(T, "NaN parameter", bad, VKD_ERR_FORMAT, "field.blocks.1.linear.weight", "element 7");
        if (variant == 1) expect_fail(T, "missing tensor", bad, VKD_ERR_FORMAT, miss, bad);
        if (variant == 2) expect_fail(T, "not a NeRF checkpoint", bad, VKD_ERR_FORMAT, "format", bad);
        if (variant == 3) expect_fail(T, "bad config", bad, VKD_ERR_FORMAT, "width", bad);
    }
    // Saving refuses NaN parameters, naming the tensor, and leaves the old file intact.
    vkd_field_view(f, 0, 2).host[0] = NAN;
    s = vkd_nerf_ckpt_save(good, f, NULL, NULL);
    CHECK(T, s == VKD_ERR_NUMERIC && strstr(vkd_last_error(), f->tensors[2].name), "save NaN: %s",
          vkd_last_error());
    vkd_field_destroy(f);
    CHECK_OK(T, vkd_nerf_ckpt_load(good, T->cpu, &f, NULL));
    vkd_field_destroy(f);
    free(data);
    unlink(good), unlink(bad);
    CHECK(T, rmdir(td.dir) == 0, "no stray files in %s", td.dir);
}

static void t_vulkan_to_cpu(tctx_t *T) {
    tmpdir_t td;
    CHECK(T, tmp_make(&td), "temp dir");
    char path[128];
    tmp_path(&td, "vk.safetensors", path, sizeof path);
    const vkd_nerf_config_t cfg = tiny_config();
    vkd_field_t *v, *c;
    vkd_nerf_renderer_t *rv;
    const vkd_nerf_renderer_opts_t ro = {.max_rays = 64};
    CHECK_OK(T, vkd_field_create(T->vk, &cfg, &v));
    CHECK_OK(T, vkd_nerf_renderer_create(v, &ro, &rv));
    vkd_buf_t drgb = test_buf(T, T->vk_arena, NULL, 64 * 3);
    CHECK_OK(T, train(v, rv, drgb, 0, 4));
    CHECK_OK(T, vkd_nerf_ckpt_save(path, v, rv, NULL));
    CHECK_OK(T, vkd_nerf_ckpt_load(path, T->cpu, &c, NULL));
    float *x = snap(T, v->params), *y = snap(T, c->params);
    CHECK(T, x && y && memcmp(x, y, v->params.bytes) == 0 && c->step == 4,
          "Vulkan checkpoint loads on the CPU unchanged");
    free(x), free(y);
    vkd_nerf_renderer_destroy(rv);
    vkd_field_destroy(v), vkd_field_destroy(c);
    unlink(path);
    rmdir(td.dir);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_round_trip_and_resume),
    TCASE_CPU(t_bad_files),
    TCASE_VK(t_vulkan_to_cpu),
};

TEST_MAIN(cases)
