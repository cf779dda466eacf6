// The ShapeWorld judge (src/judge.h), unit version: empty and malformed images, the colour
// call on flat palette patches, a small held-out accuracy check with a small bank, frame
// sizes, reproducibility of the bank. The full accuracy record (960 images per variant, the
// default bank) is test_judge_accuracy.c.
#include "test_judge_cases.h"

// A flat background image (H, W, 3).
static float *background(int H, int W) {
    float *rgb = test_alloc((size_t)3 * H * W);
    const float *bg = vkd_sw_background();
    for (int p = 0; p < H * W; p++)
        for (int c = 0; c < 3; c++) rgb[3 * p + c] = bg[c];
    return rgb;
}

// A bank of `views` views per shape (the cases that do not measure accuracy use the
// smallest, 16, to stay fast under the sanitizers).
static vkd_judge_t *small_judge(tctx_t *T, int views, int threads) {
    vkd_judge_opts_t o = vkd_judge_opts_default();
    o.views_per_shape = views;
    o.threads = threads;
    vkd_judge_t *j = NULL;
    vkd_status_t s = vkd_judge_create_ex(JC_BANK_SEED, &o, &j);
    CHECK(T, s == VKD_OK, "judge bank: %s", vkd_last_error());
    return j;
}

static void t_empty(tctx_t *T) {
    vkd_judge_t *j = small_judge(T, 16, 0);
    if (!j) return;
    const int R = 32;
    float *rgb = background(R, R);
    vkd_judge_verdict_t v;
    CHECK_OK(T, vkd_judge_image(j, rgb, R, R, &v));
    CHECK(T, v.empty == 1 && v.fg_fraction == 0.0f, "plain background: empty %d, fg %g", v.empty,
          (double)v.fg_fraction);
    // Noise of sigma 0.05 (a diffusion sample of nothing) and a 2-pixel speck stay empty.
    uint64_t st = 99;
    float *noise = test_alloc(3 * R * R);
    test_fill_normal(&st, noise, 3 * R * R, 0.05f);
    for (int i = 0; i < 3 * R * R; i++) rgb[i] += noise[i];
    rgb[3 * (16 * R + 16)] = rgb[3 * (16 * R + 17)] = 0.8f;
    CHECK_OK(T, vkd_judge_image(j, rgb, R, R, &v));
    CHECK(T, v.empty == 1, "noise + speck: empty %d (fg %g)", v.empty, (double)v.fg_fraction);
    int so, co;
    vkd_judge_match(&v, (vkd_sw_object_t){VKD_SW_SPHERE, VKD_SW_RED}, &so, &co);
    CHECK(T, so == 0 && co == 0, "an empty verdict matched an object");
    free(noise);
    free(rgb);
    vkd_judge_free(j);
}

static void t_bad_args(tctx_t *T) {
    vkd_judge_t *j = small_judge(T, 16, 0);
    if (!j) return;
    float *rgb = background(40, 40);
    vkd_judge_verdict_t v;
    static const int sizes[][2] = {{7, 32}, {32, 7}, {0, 32}, {-5, 32}, {32, 1025}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        vkd_status_t s = vkd_judge_image(j, rgb, sizes[k][0], sizes[k][1], &v);
        CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "8..1024"),
              "%dx%d image: %s (%s)", sizes[k][1], sizes[k][0], vkd_status_name(s), vkd_last_error());
    }
    CHECK(T, vkd_judge_image(j, NULL, 32, 32, &v) == VKD_ERR_INVALID, "NULL image accepted");
    CHECK(T, vkd_judge_image(NULL, rgb, 32, 32, &v) == VKD_ERR_INVALID, "NULL judge accepted");
    rgb[3 * (5 * 40 + 9) + 1] = NAN;
    vkd_status_t s = vkd_judge_image(j, rgb, 40, 40, &v);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "(9, 5)"),
          "NaN pixel: %s (%s)", vkd_status_name(s), vkd_last_error());
    vkd_judge_opts_t o = vkd_judge_opts_default();
    vkd_judge_t *bad = NULL;
    o.views_per_shape = 3;
    CHECK(T, vkd_judge_create_ex(1, &o, &bad) == VKD_ERR_INVALID && !bad, "3 views accepted");
    o = vkd_judge_opts_default(), o.supersample = 0;
    CHECK(T, vkd_judge_create_ex(1, &o, &bad) == VKD_ERR_INVALID && !bad, "supersample 0 accepted");
    CHECK(T, vkd_judge_create_ex(1, NULL, NULL) == VKD_ERR_INVALID, "NULL out accepted");
    free(rgb);
    vkd_judge_free(j);
}

// A flat disc of each palette colour, at several shading factors k, over the background:
// the colour call alone, independent of the renderer. White discs are achromatic.
static void t_palette(tctx_t *T) {
    vkd_judge_t *j = small_judge(T, 16, 0);
    if (!j) return;
    const int R = 48;
    float *rgb = background(R, R);
    static const float ks[] = {0.25f, 0.6f, 1.0f};
    for (int c = 0; c <= VKD_SW_N_COLOURS; c++)
        for (size_t kk = 0; kk < 3; kk++) {
            static const float white[3] = {1, 1, 1};
            const float *rho = c < VKD_SW_N_COLOURS ? vkd_sw_colour_rgb((vkd_sw_colour_t)c) : white;
            for (int y = 0; y < R; y++)
                for (int x = 0; x < R; x++)
                    if ((x - 24) * (x - 24) + (y - 24) * (y - 24) < 12 * 12)
                        for (int ch = 0; ch < 3; ch++) rgb[3 * (y * R + x) + ch] = ks[kk] * rho[ch];
            vkd_judge_verdict_t v;
            CHECK_OK(T, vkd_judge_image(j, rgb, R, R, &v));
            if (c < VKD_SW_N_COLOURS)
                CHECK(T, !v.empty && !v.achromatic && (int)v.colour == c && v.colour_dist[c] < 1.0f,
                      "%s at k %g judged %s%s (distance %g)", vkd_sw_colour_name((vkd_sw_colour_t)c),
                      (double)ks[kk], v.achromatic ? "grey " : "", vkd_sw_colour_name(v.colour),
                      (double)v.colour_dist[c]);
            else
                CHECK(T, !v.empty && v.achromatic && v.grey_dist < 1.0f, "grey at k %g: achromatic %d",
                      (double)ks[kk], v.achromatic);
        }
    free(rgb);
    vkd_judge_free(j);
}

// Held-out renders (2 per object = 96 per variant) against a 200-view bank. The default
// bank (1200 views) is measured in test_judge_accuracy.c; this small one measured 94-96 of
// 96 shapes right, so the bound is 92%; colours 56-57 of 57, bound 95%.
static void t_small_accuracy(tctx_t *T) {
    vkd_judge_t *j = small_judge(T, 200, 0);
    if (!j) return;
    static const jc_variant_t vars[] = {{32, 0.0f, 0}, {32, 0.05f, 1}, {64, 0.0f, 0}};
    static const char *const names[] = {"32x32 clean", "32x32 blur + noise", "64x64 clean"};
    for (int k = 0; k < 3; k++) {
        jc_result_t r;
        CHECK_OK(T, jc_run(j, 2, &vars[k], &r));
        printf("%s (200-view bank): shape %d/%d, colour %d/%d, textureless grey %d/%d, %.2f ms/image\n",
               names[k], r.shape_ok, r.n, r.colour_ok, r.colour_n, r.textureless_grey,
               r.n_mode[VKD_SHADE_TEXTURELESS], r.ms / r.n);
        CHECK(T, r.n == 96 && r.empty == 0, "%s: %d images, %d empty", names[k], r.n, r.empty);
        CHECK(T, r.shape_ok >= 0.92 * r.n, "%s: shape %d/%d < 92%%", names[k], r.shape_ok, r.n);
        CHECK(T, r.colour_ok >= 0.95 * r.colour_n, "%s: colour %d/%d < 95%%", names[k], r.colour_ok,
              r.colour_n);
        CHECK(T, r.textureless_grey == r.n_mode[VKD_SHADE_TEXTURELESS], "%s: textureless grey %d/%d",
              names[k], r.textureless_grey, r.n_mode[VKD_SHADE_TEXTURELESS]);
    }
    vkd_judge_free(j);
}

// The bank is a pure function of the seed (threads do not matter), and a non-square frame
// is judged too.
static void t_reproducible(tctx_t *T) {
    vkd_judge_t *a = small_judge(T, 16, 1), *b = small_judge(T, 16, 2);
    if (!a || !b) {
        vkd_judge_free(a), vkd_judge_free(b);
        return;
    }
    const jc_variant_t var = {32, 0.0f, 0};
    float *rgb = test_alloc(3 * 32 * 32);
    for (int o = 0; o < VKD_SW_N_SHAPES; o++) {
        vkd_shade_mode_t mode;
        vkd_judge_verdict_t va, vb;
        CHECK_OK(T, jc_render((vkd_sw_object_t){(vkd_sw_shape_t)o, VKD_SW_BLUE}, 3, &var, rgb, &mode));
        CHECK_OK(T, vkd_judge_image(a, rgb, 32, 32, &va));
        CHECK_OK(T, vkd_judge_image(b, rgb, 32, 32, &vb));
        CHECK(T, memcmp(va.shape_dist, vb.shape_dist, sizeof va.shape_dist) == 0,
              "%s: 1 and 2 threads built different banks", vkd_sw_shape_name((vkd_sw_shape_t)o));
        // The same image cropped to 32 x 24 (the object stays inside): still a verdict.
        CHECK_OK(T, vkd_judge_image(a, rgb + 3 * 32 * 4, 24, 32, &va));
        CHECK(T, !va.empty, "a 32x24 crop was judged empty");
    }
    free(rgb);
    vkd_judge_free(a);
    vkd_judge_free(b);
}

static const tcase_t cases[] = {TCASE_CPU(t_empty), TCASE_CPU(t_bad_args), TCASE_CPU(t_palette),
                                TCASE_CPU(t_small_accuracy), TCASE_CPU(t_reproducible)};
TEST_MAIN(cases)
