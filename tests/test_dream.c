// The SDS loop end to end (src/dream.h) with the oracle prior, scored against ground truth
// (src/dream_score.h). VKD_TEST_SLOW: the two convergence runs take about a minute each on
// a loaded 2-core machine, so this file is not run again under the sanitizers.
// - a sphere and a cube converge to occupancy IoU >= 0.8 (the untrained field's IoU is
//   printed as the baseline) with the right shape and colour;
// - a run interrupted by save + resume ends bit-identical (parameters, Adam moments and the
//   occupancy grid) to an uninterrupted run;
// - a NaN gradient skips its step without touching the field, and NaN on every step stops
//   the run after max_skips with a clear error and a finite field.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dream.h"
#include "dream_score.h"
#include "test_util.h"

static vkd_prior_t *oracle(tctx_t *T) {
    vkd_oracle_opts_t oo = vkd_oracle_opts_default();
    oo.shading = VKD_ORACLE_SHADE_ALBEDO; // what `generate --prior oracle` uses (generate.c)
    vkd_prior_t *p = NULL;
    if (vkd_prior_oracle_create(&oo, &p) != VKD_OK) test_fail(T, __FILE__, __LINE__, "oracle: %s", vkd_last_error());
    return p;
}

// The settings of `generate --prior oracle` for a run of `steps`.
static vkd_dream_opts_t oracle_opts(int steps, uint64_t seed) {
    vkd_dream_opts_t o = vkd_dream_opts_default();
    o.steps = steps, o.seed = seed;
    o.sds.guidance.scale = 1.0f;
    o.shade.p_lit = 0.0f;
    o.shade.albedo_steps = (uint64_t)steps / 10;
    return o;
}

static void converge(tctx_t *T, const char *prompt, int steps) {
    vkd_prior_t *p = oracle(T);
    if (!p) return;
    vkd_sw_object_t obj;
    CHECK_OK(T, vkd_sw_parse(prompt, &obj, NULL));
    const vkd_dream_opts_t o = oracle_opts(steps, 1);
    vkd_dream_t *d = NULL;
    vkd_status_t s = vkd_dream_create(T->cpu, p, prompt, NULL, &o, &d);
    vkd_dream_score_opts_t so = vkd_dream_score_opts_default();
    so.iso = VKD_DREAM_SDS_ISO; // as generate's metrics.json
    vkd_dream_score_t sc0 = {0}, sc = {0};
    if (!s) s = vkd_dream_score(vkd_dream_field(d), obj, &so, &sc0);
    const double t0 = test_now_ms();
    double loss = 0;
    int skipped = 0;
    for (int i = 0; i < steps && !s; i++) {
        vkd_dream_step_info_t in;
        s = vkd_dream_step(d, &in);
        skipped += in.skipped;
        if (i >= steps - 50) loss += in.loss / 50;
    }
    const double ms = test_now_ms() - t0;
    if (!s) s = vkd_dream_score(vkd_dream_field(d), obj, &so, &sc);
    if (s) test_fail(T, __FILE__, __LINE__, "%s: %s", prompt, vkd_last_error());
    printf("  %s: %d steps in %.1f s (%.1f steps/s), loss %.3f; IoU %.3f (untrained %.3f), "
           "best shape %s, colour %s (albedo %.2f %.2f %.2f)\n", prompt, steps, ms / 1e3,
           steps / (ms / 1e3), loss, sc.iou, sc0.iou, vkd_sw_shape_name((vkd_sw_shape_t)sc.best_shape),
           sc.colour < 0 ? "none" : vkd_sw_colour_name((vkd_sw_colour_t)sc.colour),
           (double)sc.albedo[0], (double)sc.albedo[1], (double)sc.albedo[2]);
    CHECK(T, sc.iou >= 0.8, "%s: IoU %.3f < 0.8", prompt, sc.iou);
    CHECK(T, sc.iou > sc0.iou + 0.2, "%s: IoU %.3f hardly above the untrained %.3f", prompt, sc.iou, sc0.iou);
    CHECK(T, sc.shape_correct, "%s: the best-matching shape is %s", prompt,
          vkd_sw_shape_name((vkd_sw_shape_t)sc.best_shape));
    CHECK(T, sc.colour_correct, "%s: the surface colour matches %s", prompt,
          sc.colour < 0 ? "nothing" : vkd_sw_colour_name((vkd_sw_colour_t)sc.colour));
    CHECK(T, skipped == 0, "%s: %d steps skipped", prompt, skipped);
    char png[64];
    snprintf(png, sizeof png, "dream_%s.png", vkd_sw_shape_name(obj.shape));
    if (!s && vkd_dream_write_turntable(vkd_dream_renderer(d), png, 8, 64) == VKD_OK)
        printf("  wrote %s\n", png);
    vkd_dream_destroy(d);
    vkd_prior_free(p);
}

static void t_sphere(tctx_t *T) { converge(T, "a blue sphere", 300); }
static void t_cube(tctx_t *T) { converge(T, "a red cube", 300); }

// Everything a resumed run must reproduce: parameters, both Adam moments, the grid.
static float *snapshot(tctx_t *T, vkd_dream_t *d, size_t *n) {
    vkd_field_t *f = vkd_dream_field(d);
    const vkd_buf_t g = vkd_nerf_grid_buf(vkd_dream_renderer(d));
    const size_t np = f->n_params, ng = vkd_buf_count(g);
    float *x = test_alloc(3 * np + ng);
    if (vkd_buf_read(f->params, x, np * 4) || vkd_buf_read(f->adam_m, x + np, np * 4) ||
        vkd_buf_read(f->adam_v, x + 2 * np, np * 4) || (ng && vkd_buf_read(g, x + 3 * np, ng * 4)))
        test_fail(T, __FILE__, __LINE__, "reading the field: %s", vkd_last_error());
    *n = 3 * np + ng;
    return x;
}

static vkd_status_t run_steps(vkd_dream_t *d, int n) {
    for (int i = 0; i < n; i++) VKD_TRY(vkd_dream_step(d, NULL));
    return VKD_OK;
}

static void t_resume(tctx_t *T) {
    vkd_prior_t *p = oracle(T);
    if (!p) return;
    vkd_dream_opts_t o = oracle_opts(16, 7);
    o.shade.p_lit = 0.5f; // lit and textureless steps too (normals, orientation loss)
    o.shade.albedo_steps = 2;
    o.nerf.grid_warmup = 3, o.nerf.grid_every = 4; // the grid is part of the state
    o.nerf.warmup_steps = 4;
    const char *prompt = "a green cone";
    vkd_dream_t *a = NULL, *b = NULL;
    CHECK_OK(T, vkd_dream_create(T->cpu, p, prompt, NULL, &o, &a));
    vkd_status_t s = run_steps(a, 16);
    // The same run, stopped at step 9 (saved, destroyed) and resumed in a fresh run.
    if (!s) s = vkd_dream_create(T->cpu, p, prompt, NULL, &o, &b);
    if (!s) s = run_steps(b, 9);
    if (!s) s = vkd_dream_save(b, "dream_resume.safetensors");
    vkd_dream_destroy(b), b = NULL;
    if (!s) s = vkd_dream_create(T->cpu, p, prompt, NULL, &o, &b);
    if (!s) s = vkd_dream_resume(b, "dream_resume.safetensors");
    CHECK(T, s || vkd_dream_steps_done(b) == 9, "resumed at step %llu, not 9",
          (unsigned long long)vkd_dream_steps_done(b));
    if (!s) s = run_steps(b, 7);
    if (s) test_fail(T, __FILE__, __LINE__, "%s", vkd_last_error());
    if (!s) {
        size_t na, nb;
        float *xa = snapshot(T, a, &na), *xb = snapshot(T, b, &nb);
        size_t diff = 0;
        for (size_t i = 0; i < na && na == nb; i++) diff += memcmp(&xa[i], &xb[i], 4) != 0;
        CHECK(T, na == nb && diff == 0, "resumed run differs in %zu of %zu values", diff, na);
        printf("  16 steps vs 9 + resume + 7: %zu values (params, Adam m and v, grid) bit-identical: %s\n",
               na, diff ? "no" : "yes");
        free(xa), free(xb);
    }
    // A checkpoint of another prompt or seed is refused.
    vkd_dream_t *c = NULL;
    if (vkd_dream_create(T->cpu, p, "a red cone", NULL, &o, &c) == VKD_OK) {
        CHECK(T, vkd_dream_resume(c, "dream_resume.safetensors") == VKD_ERR_FORMAT,
              "a checkpoint of another prompt was accepted");
        printf("  other prompt: %s\n", vkd_last_error());
    }
    vkd_dream_destroy(c);
    remove("dream_resume.safetensors");
    vkd_dream_destroy(a), vkd_dream_destroy(b);
    vkd_prior_free(p);
}

typedef struct {
    uint64_t from, to; // NaN into the gradient of steps [from, to)
} nan_hook_t;

static void put_nan(void *user, uint64_t step, float *grad, size_t n) {
    const nan_hook_t *h = user;
    if (step >= h->from && step < h->to) grad[n / 2] = NAN;
}

static void t_nan_skip(tctx_t *T) {
    vkd_prior_t *p = oracle(T);
    if (!p) return;
    vkd_dream_opts_t o = oracle_opts(40, 3);
    nan_hook_t h = {2, 3};
    o.grad_hook = put_nan, o.hook_user = &h, o.max_skips = 4;
    vkd_dream_t *d = NULL;
    CHECK_OK(T, vkd_dream_create(T->cpu, p, "a yellow torus", NULL, &o, &d));
    vkd_dream_step_info_t in[4];
    size_t n;
    float *before = NULL, *after = NULL;
    vkd_status_t s = VKD_OK;
    for (int i = 0; i < 4 && !s; i++) {
        if (i == 2) before = snapshot(T, d, &n);
        s = vkd_dream_step(d, &in[i]);
        if (i == 2) after = snapshot(T, d, &n);
    }
    if (s) test_fail(T, __FILE__, __LINE__, "%s", vkd_last_error());
    else {
        CHECK(T, !in[0].skipped && !in[1].skipped && in[2].skipped && !in[3].skipped,
              "skipped flags %d %d %d %d, expected 0 0 1 0", in[0].skipped, in[1].skipped,
              in[2].skipped, in[3].skipped);
        CHECK(T, !memcmp(before, after, n * 4), "the skipped step changed the field");
        CHECK(T, vkd_dream_field(d)->step == 4, "field step %lld after 4 steps",
              (long long)vkd_dream_field(d)->step);
    }
    free(before), free(after);
    // NaN from now on: 4 skips in a row stop the run.
    h.from = 4, h.to = 1000;
    s = VKD_OK;
    int steps = 0;
    while (!s && steps < 10) s = vkd_dream_step(d, NULL), steps++;
    CHECK(T, s == VKD_ERR_NUMERIC && steps == 4, "NaN on every step: status %s after %d steps",
          vkd_status_name(s), steps);
    printf("  repeated NaN: %s\n", vkd_last_error());
    CHECK(T, strstr(vkd_last_error(), "consecutive") != NULL, "unclear message: %s", vkd_last_error());
    CHECK_OK(T, vkd_field_check_finite(vkd_dream_field(d), "the stopped run"));
    vkd_dream_destroy(d);
    vkd_prior_free(p);
}

static void t_bad_input(tctx_t *T) {
    vkd_prior_t *p = oracle(T);
    if (!p) return;
    vkd_dream_opts_t o = oracle_opts(10, 0);
    vkd_dream_t *d = NULL;
    CHECK(T, vkd_dream_create(T->cpu, p, "a red dodecahedron", NULL, &o, &d) == VKD_ERR_INVALID,
          "an unknown word was accepted");
    printf("  unknown word: %s\n", vkd_last_error());
    CHECK(T, vkd_dream_create(T->cpu, p, "", NULL, &o, &d) == VKD_ERR_INVALID, "an empty prompt was accepted");
    o.res = 33;
    CHECK(T, vkd_dream_create(T->cpu, p, "a red cube", NULL, &o, &d) == VKD_ERR_INVALID,
          "render size 33 for a 32 px prior was accepted");
    o = oracle_opts(10, 0);
    o.t_max_end = 0.99f;
    CHECK(T, vkd_dream_create(T->cpu, p, "a red cube", NULL, &o, &d) == VKD_ERR_INVALID,
          "t-end above t-max was accepted");
    vkd_prior_free(p);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_bad_input),
    TCASE_CPU(t_nan_skip),
    TCASE_CPU(t_resume),
    TCASE_CPU(t_sphere),
    TCASE_CPU(t_cube),
};

TEST_MAIN(cases)
