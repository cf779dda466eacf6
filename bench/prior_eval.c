// Quality of a ShapeWorld prior, measured (issue 5's bar): n DDIM samples for every
// shape x colour prompt at a guidance, each named by the judge (src/judge.h); prints the
// shape confusion table, shape and colour accuracy (overall, per shape, per colour), and
// writes a grid with the first `grid` samples of every prompt (a row per shape, colours
// along the row) for the README.
//
// Usage: bench_prior_eval PRIOR.json [-n 8] [--steps 50] [--guidance 5] [--seed 0]
//          [--grid 1] [-o GRID.png] [--md REPORT.md] [--device cpu]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "image.h"
#include "judge.h"
#include "sds/prior.h"
#include "sds/sampler.h"
#include "shapeworld.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define NS VKD_SW_N_SHAPES
#define NC VKD_SW_N_COLOURS

int main(int argc, char **argv) {
    const char *prior_path = NULL, *grid_path = NULL, *md_path = NULL, *device = "cpu";
    int n = 8, steps = 50, grid_n = 1;
    double guidance = 5;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (f[0] != '-') { prior_path = f; continue; }
        if (!v) { fprintf(stderr, "%s needs a value\n", f); return 2; }
        i++;
        if (!strcmp(f, "-n")) n = atoi(v);
        else if (!strcmp(f, "--steps")) steps = atoi(v);
        else if (!strcmp(f, "--guidance")) guidance = atof(v);
        else if (!strcmp(f, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--grid")) grid_n = atoi(v);
        else if (!strcmp(f, "-o")) grid_path = v;
        else if (!strcmp(f, "--md")) md_path = v;
        else if (!strcmp(f, "--device")) device = v;
        else { fprintf(stderr, "unknown option %s\n", f); return 2; }
    }
    if (!prior_path || n < 1 || n > 256 || steps < 1 || grid_n < 0 || grid_n > n) {
        fprintf(stderr, "usage: bench_prior_eval PRIOR.json [-n 8] [--steps 50] [--guidance 5] "
                        "[--seed 0] [--grid 1] [-o GRID.png] [--md REPORT.md] [--device cpu]\n");
        return 2;
    }
    vkd_backend_t *be = NULL;
    vkd_prior_t *p = NULL;
    vkd_judge_t *judge = NULL;
    vkd_prior_cond_t *un = NULL;
    vkd_backend_opts_t bo = {device, -1, 1};
    vkd_status_t s = vkd_backend_create(&bo, &be);
    if (s == VKD_OK) s = vkd_prior_load(prior_path, be, &p);
    if (s == VKD_OK) s = vkd_judge_create(VKD_JUDGE_SEED_DEFAULT, &judge);
    if (s == VKD_OK) s = vkd_prior_encode_uncond(p, &un);
    if (s != VKD_OK) {
        fprintf(stderr, "bench_prior_eval: %s\n", vkd_last_error());
        return 1;
    }
    const vkd_prior_info_t *in = vkd_prior_info(p);
    const int C = in->channels, H = in->height, W = in->width;
    const size_t img = (size_t)C * H * W;
    float *x = malloc(sizeof(float) * img * n);         // (n, C, H, W)
    float *hwc = malloc(sizeof(float) * img);            // (H, W, C)
    float *keep = malloc(sizeof(float) * img * NS * NC * (grid_n ? grid_n : 1)); // (NS*NC*grid_n, C, H, W)
    int conf[NS][NS + 1] = {{0}}; // true shape x judged shape (+ empty)
    int col_ok[NC] = {0}, col_n[NC] = {0}, shape_ok[NS] = {0}, grey = 0, total = 0;
    vkd_sampler_opts_t so = vkd_sampler_opts_default();
    so.steps = steps;
    so.guidance.scale = (float)guidance;
    so.seed = seed;
    const double t0 = now_s();
    for (int sh = 0; sh < NS && s == VKD_OK; sh++) {
        for (int co = 0; co < NC && s == VKD_OK; co++) {
            const vkd_sw_object_t obj = {(vkd_sw_shape_t)sh, (vkd_sw_colour_t)co};
            char prompt[64];
            vkd_prior_cond_t *c = NULL;
            s = vkd_sw_caption(obj, VKD_VIEW_NONE, prompt, sizeof prompt);
            if (s == VKD_OK) s = vkd_prior_encode(p, prompt, &c);
            if (s == VKD_OK) s = vkd_sample(p, x, n, c, un, &so, NULL);
            vkd_prior_cond_free(c);
            if (s != VKD_OK) break;
            int ok_s = 0, ok_c = 0;
            for (int i = 0; i < n && s == VKD_OK; i++) {
                vkd_prior_image_to_hwc(p, hwc, x + i * img);
                if (i < grid_n)
                    memcpy(keep + ((size_t)(sh * NC + co) * grid_n + i) * img, x + i * img, sizeof(float) * img);
                vkd_judge_verdict_t v;
                s = vkd_judge_image(judge, hwc, H, W, &v);
                int so_ok = 0, co_ok = 0;
                vkd_judge_match(&v, obj, &so_ok, &co_ok);
                conf[sh][v.empty ? NS : (int)v.shape]++;
                grey += !v.empty && v.achromatic;
                ok_s += so_ok, ok_c += co_ok;
            }
            shape_ok[sh] += ok_s, col_ok[co] += ok_c, col_n[co] += n, total += n;
            printf("%-20s shape %d/%d colour %d/%d\n", prompt, ok_s, n, ok_c, n);
            fflush(stdout);
        }
    }
    if (s != VKD_OK) {
        fprintf(stderr, "bench_prior_eval: %s\n", vkd_last_error());
        return 1;
    }
    int all_s = 0, all_c = 0;
    for (int k = 0; k < NS; k++) all_s += shape_ok[k];
    for (int k = 0; k < NC; k++) all_c += col_ok[k];
    int empty = 0;
    for (int a = 0; a < NS; a++) empty += conf[a][NS];
    char md[8192];
    size_t m = 0;
#define OUT(...) m += (size_t)snprintf(md + m, sizeof md - m, __VA_ARGS__)
    OUT("prior %s: %d samples per prompt, DDIM %d steps, guidance %g, seed %llu, %.0f s\n\n",
        prior_path, n, steps, guidance, seed, now_s() - t0);
    OUT("shape accuracy %.1f%% (%d/%d), colour accuracy %.1f%% (%d/%d), grey (textureless-"
        "looking) %d, empty %d\n\n", 100.0 * all_s / total, all_s, total, 100.0 * all_c / total,
        all_c, total, grey, empty);
    OUT("| prompt shape \\ judged |");
    for (int k = 0; k < NS; k++) OUT(" %s |", vkd_sw_shape_name((vkd_sw_shape_t)k));
    OUT(" empty | accuracy |\n|---|");
    for (int k = 0; k <= NS + 1; k++) OUT("---|");
    OUT("\n");
    for (int a = 0; a < NS; a++) {
        OUT("| %s |", vkd_sw_shape_name((vkd_sw_shape_t)a));
        for (int b = 0; b <= NS; b++) OUT(" %d |", conf[a][b]);
        OUT(" %.0f%% |\n", 100.0 * shape_ok[a] / (NC * n));
    }
    OUT("\ncolour accuracy by colour:");
    for (int k = 0; k < NC; k++)
        OUT(" %s %.0f%%%s", vkd_sw_colour_name((vkd_sw_colour_t)k), 100.0 * col_ok[k] / col_n[k],
            k + 1 < NC ? "," : "\n");
    fputs(md, stdout);
    if (md_path) {
        FILE *f = fopen(md_path, "w");
        if (f) fputs(md, f), fclose(f);
    }
    if (grid_path && grid_n > 0) {
        s = vkd_sample_grid_png(p, keep, NS * NC * grid_n, NC * grid_n, 1, grid_path);
        if (s != VKD_OK) fprintf(stderr, "bench_prior_eval: %s\n", vkd_last_error());
    }
    free(x), free(hwc), free(keep);
    vkd_prior_cond_free(un);
    vkd_judge_free(judge);
    vkd_prior_free(p);
    vkd_backend_destroy(be);
    return s == VKD_OK ? 0 : 1;
}
