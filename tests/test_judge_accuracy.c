// Accuracy of the ShapeWorld judge on held-out ground truth (VKD_TEST_SLOW: ~4000 renders
// and judgements, too slow to repeat under the sanitizers; test_judge.c keeps a small
// version in the unit suite).
//
// 20 cameras per object (6 shapes x 8 colours = 960 images per variant) from a seed the
// bank never sees, shaded as SDS draws it. Variants: clean 32x32 (the prior's
// resolution), 32x32 blurred ([1 2 1] / 4) with Gaussian noise sigma 0.05 (a diffusion
// sample), clean 64x64 (NeRF turntable tiles), 64x64 blurred + noise. Colour is scored
// on albedo and lit images; textureless ones must be called grey. Measured (default bank,
// seed 7): shape 99.0% / 98.8% / 98.9% / 99.2% in the order above, colour 100% / 99.8% /
// 100% / 100%, textureless called grey 100%. Bounds: 98% on clean 32x32 (the issue's
// requirement), else the measurement minus ~1.5 points for shapes, 98% for colours. The
// data are seeded, so a drop means the judge, the renderer or the cameras changed.
#include "test_judge_cases.h"

typedef struct {
    const char *name;
    jc_variant_t var;
    double min_shape, min_colour, min_grey;
} acc_case_t;

static void t_accuracy(tctx_t *T) {
    vkd_judge_t *j = NULL;
    const double t0 = test_now_ms();
    CHECK_OK(T, vkd_judge_create(JC_BANK_SEED, &j));
    printf("bank built in %.0f ms\n", test_now_ms() - t0);
    static const acc_case_t cases[] = {
        {"32x32 clean", {32, 0.0f, 0}, 0.98, 0.98, 0.98},
        {"32x32 blur + noise 0.05", {32, 0.05f, 1}, 0.97, 0.98, 0.98},
        {"64x64 clean", {64, 0.0f, 0}, 0.975, 0.98, 0.98},
        {"64x64 blur + noise 0.05", {64, 0.05f, 1}, 0.975, 0.98, 0.98},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const acc_case_t *c = &cases[k];
        jc_result_t r;
        vkd_status_t s = jc_run(j, 20, &c->var, &r);
        CHECK(T, s == VKD_OK, "%s: %s", c->name, vkd_last_error());
        if (s != VKD_OK) continue;
        jc_print(c->name, &r);
        const double sa = (double)r.shape_ok / r.n, ca = (double)r.colour_ok / r.colour_n;
        const double ga = (double)r.textureless_grey / r.n_mode[VKD_SHADE_TEXTURELESS];
        CHECK(T, r.n == 960, "%s: %d images", c->name, r.n);
        CHECK(T, sa >= c->min_shape, "%s: shape accuracy %.3f < %.3f", c->name, sa, c->min_shape);
        CHECK(T, ca >= c->min_colour, "%s: colour accuracy %.3f < %.3f", c->name, ca, c->min_colour);
        CHECK(T, ga >= c->min_grey, "%s: textureless called grey %.3f < %.3f", c->name, ga,
              c->min_grey);
    }
    vkd_judge_free(j);
}

static const tcase_t cases[] = {TCASE_CPU(t_accuracy)};
TEST_MAIN(cases)
