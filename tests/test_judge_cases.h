// Held-out ground-truth images for the judge tests: renders of every ShapeWorld object from
// cameras and lights of the ShapeWorld distribution keyed by a seed the judge's bank never
// uses, shaded as the SDS schedule draws it after its warm-up (25% albedo, 37.5% lit,
// 37.5% textureless), optionally degraded like a diffusion sample or a NeRF render.
#ifndef VKD_TEST_JUDGE_CASES_H
#define VKD_TEST_JUDGE_CASES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "philox.h"
#include "test_util.h"

#define JC_BANK_SEED 7u        // the bank of the tests
#define JC_TEST_SEED 0x7e57u   // the held-out cameras, lights and shading draws
#define JC_NOISE_STREAM 0x4e4f4953u

typedef struct {
    int res;       // image side
    float sigma;   // Gaussian noise per channel (0: none)
    int blur;      // 1: a [1 2 1] / 4 blur in x and y (about 0.7 px sigma) before the noise
} jc_variant_t;

// Case c of object obj: its image rgb (res, res, 3) and its shading mode.
static inline vkd_status_t jc_render(vkd_sw_object_t obj, int c, const jc_variant_t *var,
                                     float *rgb, vkd_shade_mode_t *mode) {
    const vkd_camera_dist_t dist = vkd_camera_dist_shapeworld();
    const uint32_t o = (uint32_t)(obj.shape * VKD_SW_N_COLOURS + obj.colour);
    const int R = var->res;
    vkd_camera_t cam;
    vkd_light_t L;
    VKD_TRY(vkd_camera_sample(&dist, JC_TEST_SEED, (uint64_t)c, o, R, R, &cam));
    VKD_TRY(vkd_light_sample(&cam, dist.scale, JC_TEST_SEED, (uint64_t)c, o, &L));
    const vkd_shade_schedule_t sch = vkd_shade_schedule_default();
    // Steps past the warm-up, one per (object, case).
    *mode = vkd_shade_schedule_mode(&sch, JC_TEST_SEED, sch.albedo_steps + 1000u * o + (uint64_t)c);
    const vkd_render_out_t out = {rgb, NULL, NULL, NULL};
    VKD_TRY(vkd_sw_render(obj, &cam, *mode, &L, 2, &out));
    if (var->blur) {
        float *tmp = malloc(sizeof(float) * 3 * R * R);
        if (!tmp) return vkd_fail(VKD_ERR_NOMEM, "blur");
        for (int pass = 0; pass < 2; pass++) {
            const float *src = pass ? tmp : rgb;
            float *dst = pass ? rgb : tmp;
            for (int y = 0; y < R; y++)
                for (int x = 0; x < R; x++)
                    for (int ch = 0; ch < 3; ch++) {
                        float acc = 0;
                        for (int d = -1; d <= 1; d++) {
                            int xx = pass ? x : x + d, yy = pass ? y + d : y;
                            xx = xx < 0 ? 0 : xx >= R ? R - 1 : xx; // edge clamp
                            yy = yy < 0 ? 0 : yy >= R ? R - 1 : yy;
                            acc += (d ? 0.25f : 0.5f) * src[3 * (yy * R + xx) + ch];
                        }
                        dst[3 * (y * R + x) + ch] = acc;
                    }
        }
        free(tmp);
    }
    if (var->sigma > 0) {
        const int n = 3 * R * R;
        for (int i = 0; i < n; i += 4) {
            uint32_t w[4];
            float z[4];
            vkd_philox_block(JC_TEST_SEED, JC_NOISE_STREAM | ((uint64_t)o << 32),
                             (uint64_t)c * 1000000u + (uint64_t)i / 4, w);
            vkd_philox_box_muller(w[0], w[1], &z[0], &z[1]);
            vkd_philox_box_muller(w[2], w[3], &z[2], &z[3]);
            for (int k = 0; k < 4 && i + k < n; k++) rgb[i + k] += var->sigma * z[k];
        }
    }
    return VKD_OK;
}

typedef struct {
    int n, shape_ok, colour_n, colour_ok, empty;
    int n_mode[VKD_SHADE_COUNT], shape_ok_mode[VKD_SHADE_COUNT];
    int textureless_grey;                               // textureless judged achromatic
    int shape_conf[VKD_SW_N_SHAPES][VKD_SW_N_SHAPES];    // [truth][verdict]
    int colour_conf[VKD_SW_N_COLOURS][VKD_SW_N_COLOURS + 1]; // last column: achromatic
    double ms;                                          // judging time, all images
} jc_result_t;

// Judges `cases` views of every object in variant var. Colour is scored on albedo and lit
// images only: a textureless render is grey whatever the prompt's colour, and the judge
// should say so (counted in textureless_grey).
static inline vkd_status_t jc_run(const vkd_judge_t *j, int cases, const jc_variant_t *var,
                                  jc_result_t *r) {
    memset(r, 0, sizeof *r);
    float *rgb = malloc(sizeof(float) * 3 * var->res * var->res);
    if (!rgb) return vkd_fail(VKD_ERR_NOMEM, "jc_run");
    vkd_status_t s = VKD_OK;
    for (int sh = 0; sh < VKD_SW_N_SHAPES && s == VKD_OK; sh++)
        for (int co = 0; co < VKD_SW_N_COLOURS && s == VKD_OK; co++)
            for (int c = 0; c < cases && s == VKD_OK; c++) {
                const vkd_sw_object_t obj = {(vkd_sw_shape_t)sh, (vkd_sw_colour_t)co};
                vkd_shade_mode_t mode;
                vkd_judge_verdict_t v;
                s = jc_render(obj, c, var, rgb, &mode);
                const double t0 = test_now_ms();
                if (s == VKD_OK) s = vkd_judge_image(j, rgb, var->res, var->res, &v);
                r->ms += test_now_ms() - t0;
                if (s != VKD_OK) break;
                int sok, cok;
                vkd_judge_match(&v, obj, &sok, &cok);
                r->n++;
                r->empty += v.empty;
                r->shape_ok += sok;
                r->n_mode[mode]++;
                r->shape_ok_mode[mode] += sok;
                if (!v.empty) r->shape_conf[sh][v.shape]++;
                if (mode == VKD_SHADE_TEXTURELESS) {
                    r->textureless_grey += !v.empty && v.achromatic;
                } else {
                    r->colour_n++;
                    r->colour_ok += cok;
                    if (!v.empty) r->colour_conf[co][v.achromatic ? VKD_SW_N_COLOURS : (int)v.colour]++;
                }
            }
    free(rgb);
    return s;
}

static inline void jc_print(const char *name, const jc_result_t *r) {
    printf("%s: shape %d/%d (%.1f%%), colour %d/%d (%.1f%%) [albedo+lit], textureless judged "
           "grey %d/%d, empty %d, %.2f ms/image\n",
           name, r->shape_ok, r->n, 100.0 * r->shape_ok / r->n, r->colour_ok, r->colour_n,
           100.0 * r->colour_ok / (r->colour_n ? r->colour_n : 1), r->textureless_grey,
           r->n_mode[VKD_SHADE_TEXTURELESS], r->empty, r->ms / (r->n ? r->n : 1));
    for (int m = 0; m < VKD_SHADE_COUNT; m++)
        printf("  shape accuracy %-11s %d/%d\n", vkd_shade_mode_name((vkd_shade_mode_t)m),
               r->shape_ok_mode[m], r->n_mode[m]);
    printf("  shape confusion (rows truth, columns verdict):\n  %9s", "");
    for (int b = 0; b < VKD_SW_N_SHAPES; b++) printf(" %8s", vkd_sw_shape_name((vkd_sw_shape_t)b));
    printf("\n");
    for (int a = 0; a < VKD_SW_N_SHAPES; a++) {
        printf("  %9s", vkd_sw_shape_name((vkd_sw_shape_t)a));
        for (int b = 0; b < VKD_SW_N_SHAPES; b++) printf(" %8d", r->shape_conf[a][b]);
        printf("\n");
    }
    printf("  colour confusion, albedo+lit (rows truth, columns verdict):\n  %7s", "");
    for (int b = 0; b <= VKD_SW_N_COLOURS; b++)
        printf(" %6s", b < VKD_SW_N_COLOURS ? vkd_sw_colour_name((vkd_sw_colour_t)b) : "grey");
    printf("\n");
    for (int a = 0; a < VKD_SW_N_COLOURS; a++) {
        printf("  %7s", vkd_sw_colour_name((vkd_sw_colour_t)a));
        for (int b = 0; b <= VKD_SW_N_COLOURS; b++) printf(" %6d", r->colour_conf[a][b]);
        printf("\n");
    }
}

#endif
