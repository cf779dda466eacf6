// The prior trainer and its ShapeWorld data: determinism and distribution of the data, a
// tiny training run whose loss falls, bit-identical resume, the NaN-skip path, bad input.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "sds/prior.h"
#include "shapeworld.h"
#include "sds/sw_data.h"
#include "test_util.h"
#include "sds/trainer.h"

// ---- data ---------------------------------------------------------------------------------
static void data_is_deterministic_and_sds_distributed(tctx_t *T) {
    const vkd_swdata_opts_t o = vkd_swdata_opts_default();
    const int n = 4000;
    int shade[VKD_SHADE_COUNT] = {0}, uncond = 0, with_view = 0, objects[48] = {0};
    for (int i = 0; i < n; i++) {
        vkd_swdata_item_t a, b;
        CHECK_OK(T, vkd_swdata_item(&o, 7, (uint64_t)i, &a));
        CHECK_OK(T, vkd_swdata_item(&o, 7, (uint64_t)i, &b));
        CHECK(T, !memcmp(&a, &b, sizeof a), "item %d differs between two calls", i);
        shade[a.shade]++;
        objects[a.obj.shape * VKD_SW_N_COLOURS + a.obj.colour]++;
        if (a.uncond) {
            uncond++;
            CHECK(T, a.caption[0] == 0, "unconditional item %d has caption '%s'", i, a.caption);
            continue;
        }
        // The caption is what SDS sends: object + optional view suffix + shading suffix.
        char base[VKD_SWDATA_CAPTION_MAX];
        snprintf(base, sizeof base, "%s", a.caption);
        char *tl = strstr(base, ", textureless");
        CHECK(T, (tl != NULL) == (a.shade == VKD_SHADE_TEXTURELESS), "caption '%s' vs shade %d",
              a.caption, a.shade);
        if (tl) *tl = 0;
        vkd_sw_object_t obj;
        vkd_view_bin_t view;
        CHECK_OK(T, vkd_sw_parse(base, &obj, &view));
        CHECK(T, obj.shape == a.obj.shape && obj.colour == a.obj.colour, "caption '%s' names "
              "another object", a.caption);
        if (view != VKD_VIEW_NONE) {
            with_view++;
            CHECK(T, view == a.view, "caption '%s' has view %d, camera %d", a.caption, view, a.view);
        }
    }
    // 25% albedo, 37.5% lit, 37.5% textureless; 10% unconditional; 80% of the rest with views.
    const double fa = (double)shade[VKD_SHADE_ALBEDO] / n, fl = (double)shade[VKD_SHADE_LIT] / n;
    const double fu = (double)uncond / n, fv = (double)with_view / (n - uncond);
    printf("albedo %.3f lit %.3f textureless %.3f uncond %.3f with view %.3f\n", fa, fl,
           (double)shade[VKD_SHADE_TEXTURELESS] / n, fu, fv);
    CHECK(T, fabs(fa - 0.25) < 0.03 && fabs(fl - 0.375) < 0.03, "shading mix off");
    CHECK(T, fabs(fu - 0.10) < 0.02 && fabs(fv - 0.80) < 0.03, "caption mix off");
    for (int k = 0; k < 48; k++)
        CHECK(T, objects[k] > n / 48 / 2, "object %d drawn %d times of %d", k, objects[k], n);
    // Renders: same bits twice, in [0, 1], background where nothing is.
    float *a = test_alloc(4 * 3 * 32 * 32), *b = test_alloc(4 * 3 * 32 * 32);
    CHECK_OK(T, vkd_swdata_render(&o, 7, 100, 4, a, NULL));
    CHECK_OK(T, vkd_swdata_render(&o, 7, 100, 4, b, NULL));
    CHECK(T, !memcmp(a, b, sizeof(float) * 4 * 3 * 32 * 32), "renders are not deterministic");
    const float *bg = vkd_sw_background();
    for (int i = 0; i < 4; i++) {
        const float *img = a + (size_t)i * 3 * 1024;
        CHECK(T, fabsf(img[0] - bg[0]) < 1e-5f && fabsf(img[1024] - bg[1]) < 1e-5f,
              "image %d's corner is not the background", i);
        int fg = 0;
        for (int p = 0; p < 1024; p++) fg += fabsf(img[1024 + p] - bg[1]) > 0.05f;
        CHECK(T, fg > 50, "image %d shows no object (%d pixels)", i, fg);
    }
    free(a), free(b);
}

// ---- training -------------------------------------------------------------------------------
static const char *TOKENIZER =
    "{\"type\": \"word\", \"tokens\": [\"<pad>\", \"<bos>\", \"<eos>\", \"a\", \"an\", \"sphere\", "
    "\"cube\", \"cylinder\", \"cone\", \"torus\", \"pyramid\", \"red\", \"orange\", \"yellow\", "
    "\"green\", \"cyan\", \"blue\", \"purple\", \"pink\", \",\", \"front\", \"side\", \"back\", "
    "\"overhead\", \"view\", \"textureless\"], \"max_length\": 12}";

static const char *CONFIG =
    "{\"format\": \"vkdream-prior\", \"version\": 1, \"type\": \"unet\", \"name\": \"tiny\",\n"
    " \"image\": {\"channels\": 3, \"height\": 8, \"width\": 8, \"range\": [-1, 1], "
    "\"encoding\": \"linear\"},\n"
    " \"schedule\": {\"beta_schedule\": \"cosine\", \"T\": 1000},\n"
    " \"camera\": \"shapeworld\", \"view_suffix\": \"dreamfusion\",\n"
    " \"shade_suffix\": {\"textureless\": \", textureless\"},\n"
    " \"weights\": \"tiny.safetensors\", \"tokenizer\": \"tiny.tokenizer.json\", "
    "\"prediction\": \"eps\",\n"
    " \"text_encoder\": {\"vocab_size\": 32, \"hidden_size\": %d, \"intermediate_size\": 64, "
    "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"max_position_embeddings\": 12, "
    "\"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-5},\n"
    " \"unet\": {\"constructor_args\": {\"image_size\": 8, \"in_channels\": 3, \"out_channels\": 3, "
    "\"model_channels\": 32, \"channel_mult\": [1, 2], \"num_res_blocks\": 1, "
    "\"attention_resolutions\": [2], \"num_heads\": -1, \"num_head_channels\": 32, "
    "\"context_dim\": %d, \"use_spatial_transformer\": true, \"legacy\": false}}}\n";

// A config directory with the tiny prior config (text width w) and its tokenizer.
static int write_config(tctx_t *T, char *dir, size_t cap, int w, char *cfg, size_t ccap) {
    snprintf(dir, cap, "/tmp/vkd_trainer_XXXXXX");
    if (!mkdtemp(dir)) {
        test_fail(T, __FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
        return 0;
    }
    char text[4096], path[600];
    snprintf(text, sizeof text, CONFIG, w, w);
    snprintf(cfg, ccap, "%s/tiny.json", dir);
    snprintf(path, sizeof path, "%s/tiny.tokenizer.json", dir);
    return vkd_file_write_atomic(cfg, text, strlen(text)) == VKD_OK &&
           vkd_file_write_atomic(path, TOKENIZER, strlen(TOKENIZER)) == VKD_OK;
}

static void rm_rf(const char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static vkd_trainer_opts_t tiny_opts(void) {
    vkd_trainer_opts_t o = vkd_trainer_opts_default();
    o.batch = 8;
    o.steps = 200;
    o.lr = 2e-3f;
    o.warmup = 5;
    o.seed = 3;
    return o;
}

static void loss_falls_and_the_prior_loads(tctx_t *T) {
    char dir[256], cfg[300], run[320];
    if (!write_config(T, dir, sizeof dir, 32, cfg, sizeof cfg)) return;
    snprintf(run, sizeof run, "%s/run", dir);
    vkd_trainer_t *t = NULL;
    vkd_trainer_opts_t o = tiny_opts();
    CHECK_OK(T, vkd_trainer_create(T->cpu, cfg, run, &o, &t));
    double first = 0, last = 0;
    const int steps = 60;
    const double t0 = test_now_ms();
    for (int k = 0; k < steps; k++) {
        vkd_trainer_stats_t st;
        vkd_status_t s = vkd_trainer_step(t, &st);
        CHECK(T, s == VKD_OK && !st.skipped && isfinite(st.loss), "step %d: %s", k, vkd_last_error());
        if (s != VKD_OK) break;
        if (k < 10) first += st.loss / 10;
        if (k >= steps - 10) last += st.loss / 10;
    }
    printf("loss %.4f (steps 0-9) -> %.4f (steps %d-%d), %.1f ms/step\n", first, last, steps - 10,
           steps - 1, (test_now_ms() - t0) / steps);
    CHECK(T, last < 0.6 * first, "loss did not fall: %.4f -> %.4f", first, last);
    CHECK_OK(T, vkd_trainer_checkpoint(t));
    // The run directory holds a prior the inference path loads and samples from.
    char png[400];
    snprintf(png, sizeof png, "%s/samples/grid.png", run);
    CHECK_OK(T, vkd_trainer_sample_grid(t, png, 2, 4, 3.0f));
    CHECK(T, access(png, R_OK) == 0, "no sample grid at %s", png);
    vkd_prior_t *p = NULL;
    CHECK_OK(T, vkd_prior_load(vkd_trainer_prior_path(t), T->cpu, &p));
    // Its prompts for SDS renders say how a render was shaded, as its captions did.
    char prompt[128];
    CHECK_OK(T, vkd_prior_render_prompt(p, "a red cube", VKD_VIEW_SIDE, VKD_SHADE_TEXTURELESS,
                                        prompt, sizeof prompt));
    CHECK(T, !strcmp(prompt, "a red cube, side view, textureless"), "prompt '%s'", prompt);
    CHECK_OK(T, vkd_prior_render_prompt(p, "a red cube", VKD_VIEW_FRONT, VKD_SHADE_LIT, prompt,
                                        sizeof prompt));
    CHECK(T, !strcmp(prompt, "a red cube, front view"), "prompt '%s'", prompt);
    CHECK(T, vkd_prior_render_prompt(p, "a red cube", VKD_VIEW_SIDE, VKD_SHADE_TEXTURELESS,
                                     prompt, 30) == VKD_ERR_INVALID, "overflow not refused");
    vkd_prior_free(p);
    vkd_trainer_free(t);
    rm_rf(dir);
}

static void resume_is_bit_identical(tctx_t *T) {
    char dir[256], cfg[300], run[320];
    if (!write_config(T, dir, sizeof dir, 32, cfg, sizeof cfg)) return;
    snprintf(run, sizeof run, "%s/run", dir);
    vkd_trainer_t *a = NULL, *b = NULL;
    vkd_trainer_opts_t o = tiny_opts();
    CHECK_OK(T, vkd_trainer_create(T->cpu, cfg, run, &o, &a));
    for (int k = 0; k < 3; k++) CHECK_OK(T, vkd_trainer_step(a, NULL));
    CHECK_OK(T, vkd_trainer_checkpoint(a));
    for (int k = 0; k < 3; k++) CHECK_OK(T, vkd_trainer_step(a, NULL));
    // A second trainer continues from the step-3 checkpoint: same weights after step 6.
    CHECK_OK(T, vkd_trainer_resume(T->cpu, run, cfg, 0, 0, &b));
    CHECK(T, vkd_trainer_steps_done(b) == 3, "resumed at %lld, not 3",
          (long long)vkd_trainer_steps_done(b));
    for (int k = 0; k < 3; k++) CHECK_OK(T, vkd_trainer_step(b, NULL));
    const size_t P = vkd_trainer_param_count(a);
    CHECK(T, P == vkd_trainer_param_count(b) && P > 1000, "parameter counts differ");
    CHECK(T, !memcmp(vkd_trainer_weights(a, 0), vkd_trainer_weights(b, 0), P * sizeof(float)),
          "resumed weights differ from the uninterrupted run");
    CHECK(T, !memcmp(vkd_trainer_weights(a, 1), vkd_trainer_weights(b, 1), P * sizeof(float)),
          "resumed EMA weights differ from the uninterrupted run");
    // The loss weighting may change on resume (and is stored with the next checkpoint).
    CHECK(T, vkd_trainer_set_min_snr(b, -1) == VKD_ERR_INVALID, "negative gamma accepted");
    CHECK_OK(T, vkd_trainer_set_min_snr(b, 0));
    CHECK_OK(T, vkd_trainer_checkpoint(b));
    vkd_trainer_free(b);
    b = NULL;
    CHECK_OK(T, vkd_trainer_resume(T->cpu, run, NULL, 0, 0, &b));
    CHECK(T, vkd_trainer_opts(b)->min_snr_gamma == 0.0f, "min-SNR not kept: %g",
          (double)vkd_trainer_opts(b)->min_snr_gamma);
    vkd_trainer_free(b);
    b = NULL;
    // Bad input: a second run into the same directory; resuming with another model.
    CHECK(T, vkd_trainer_create(T->cpu, cfg, run, &o, &b) != VKD_OK &&
                 strstr(vkd_last_error(), "--resume"), "a run over a run: %s", vkd_last_error());
    char dir2[256], cfg2[300];
    if (write_config(T, dir2, sizeof dir2, 64, cfg2, sizeof cfg2)) {
        CHECK(T, vkd_trainer_resume(T->cpu, run, cfg2, 0, 0, &b) != VKD_OK &&
                     strstr(vkd_last_error(), "differs"), "another model: %s", vkd_last_error());
        rm_rf(dir2);
    }
    char none[300];
    snprintf(none, sizeof none, "%s/nothing", dir);
    CHECK(T, vkd_trainer_resume(T->cpu, none, NULL, 0, 0, &b) != VKD_OK &&
                 strstr(vkd_last_error(), "no training run"), "resume nothing: %s", vkd_last_error());
    vkd_trainer_free(a);
    rm_rf(dir);
}

// A new run may start from another run's prior weights (opts.init_weights), also when it
// changes the prediction type (eps -> v); weights of another architecture are refused.
static void init_from_weights(tctx_t *T) {
    char dir[256], cfg[300], run[320], run_v[320], run_bad[320], weights[400];
    if (!write_config(T, dir, sizeof dir, 32, cfg, sizeof cfg)) return;
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(run_v, sizeof run_v, "%s/run-v", dir);
    snprintf(run_bad, sizeof run_bad, "%s/run-bad", dir);
    snprintf(weights, sizeof weights, "%s/tiny.safetensors", run);
    vkd_trainer_t *a = NULL, *b = NULL;
    vkd_trainer_opts_t o = tiny_opts();
    CHECK_OK(T, vkd_trainer_create(T->cpu, cfg, run, &o, &a));
    for (int k = 0; k < 3; k++) CHECK_OK(T, vkd_trainer_step(a, NULL));
    CHECK_OK(T, vkd_trainer_checkpoint(a)); // writes the EMA weights as the run's prior
    // The same model as a v-prediction prior.
    char *text = NULL;
    size_t n = 0;
    CHECK_OK(T, vkd_file_read_all(cfg, &text, &n));
    char cfg_v[400], *at = text ? strstr(text, "\"prediction\": \"eps\"") : NULL;
    CHECK(T, at != NULL, "no prediction key in the test config");
    if (at) {
        memcpy(at, "\"prediction\": \"v\"  ", strlen("\"prediction\": \"eps\""));
        char *u = strstr(text, "\"legacy\": false}}");
        CHECK(T, u != NULL, "no unet end in the test config");
        char body[4096];
        if (u) {
            snprintf(body, sizeof body, "%.*s\"legacy\": false}, \"parameterization\": \"v\"}}",
                     (int)(u - text), text);
            snprintf(cfg_v, sizeof cfg_v, "%s/tiny-v.json", dir);
            CHECK_OK(T, vkd_file_write_atomic(cfg_v, body, strlen(body)));
            vkd_trainer_opts_t ov = o;
            ov.init_weights = weights;
            ov.seed = 99; // a fresh initialisation would differ
            CHECK_OK(T, vkd_trainer_create(T->cpu, cfg_v, run_v, &ov, &b));
            const size_t P = vkd_trainer_param_count(a);
            CHECK(T, P == vkd_trainer_param_count(b) &&
                         !memcmp(vkd_trainer_weights(a, 1), vkd_trainer_weights(b, 0), P * sizeof(float)) &&
                         !memcmp(vkd_trainer_weights(a, 1), vkd_trainer_weights(b, 1), P * sizeof(float)),
                  "the new run does not start from the given weights");
            vkd_trainer_stats_t st;
            CHECK_OK(T, vkd_trainer_step(b, &st));
            CHECK(T, isfinite(st.loss) && !st.skipped, "first v step: loss %g", st.loss);
            vkd_trainer_free(b);
            b = NULL;
        }
    }
    free(text);
    // Another architecture's weights: a clear error naming the file.
    char dir2[256], cfg2[300];
    if (write_config(T, dir2, sizeof dir2, 64, cfg2, sizeof cfg2)) {
        vkd_trainer_opts_t ob = o;
        ob.init_weights = weights;
        CHECK(T, vkd_trainer_create(T->cpu, cfg2, run_bad, &ob, &b) != VKD_OK &&
                     strstr(vkd_last_error(), "tiny.safetensors"), "wrong architecture: %s",
              vkd_last_error());
        rm_rf(dir2);
    }
    vkd_trainer_free(a);
    rm_rf(dir);
}

static void nan_steps_are_skipped_then_stop(tctx_t *T) {
    char dir[256], cfg[300], run[320];
    if (!write_config(T, dir, sizeof dir, 32, cfg, sizeof cfg)) return;
    snprintf(run, sizeof run, "%s/run", dir);
    vkd_trainer_t *t = NULL;
    vkd_trainer_opts_t o = tiny_opts();
    o.max_bad_steps = 2;
    CHECK_OK(T, vkd_trainer_create(T->cpu, cfg, run, &o, &t));
    CHECK_OK(T, vkd_trainer_step(t, NULL));
    const size_t P = vkd_trainer_param_count(t);
    float *before = test_alloc(P);
    memcpy(before, vkd_trainer_weights(t, 0), P * sizeof(float));
    setenv("VKDREAM_TRAIN_SIMULATE_NAN", "1", 1);
    vkd_trainer_stats_t st;
    CHECK_OK(T, vkd_trainer_step(t, &st));
    CHECK(T, st.skipped && !memcmp(before, vkd_trainer_weights(t, 0), P * sizeof(float)),
          "a NaN step changed the weights or was not reported");
    CHECK_OK(T, vkd_trainer_log(t, &st));
    setenv("VKDREAM_TRAIN_SIMULATE_NAN", "2", 1);
    CHECK(T, vkd_trainer_step(t, &st) == VKD_ERR_NUMERIC && strstr(vkd_last_error(), "step 2"),
          "two NaN steps in a row must stop naming the step: %s", vkd_last_error());
    unsetenv("VKDREAM_TRAIN_SIMULATE_NAN");
    CHECK_OK(T, vkd_trainer_checkpoint(t)); // the weights are still the finite ones
    char *log = NULL;
    size_t n = 0;
    char path[400];
    snprintf(path, sizeof path, "%s/train/log.jsonl", run);
    CHECK_OK(T, vkd_file_read_all(path, &log, &n));
    CHECK(T, strstr(log, "\"loss\": null") && strstr(log, "\"skipped\": 1"), "log: %s", log);
    free(log);
    free(before);
    vkd_trainer_free(t);
    rm_rf(dir);
}

static const tcase_t cases[] = {
    TCASE_CPU(data_is_deterministic_and_sds_distributed),
    TCASE_CPU(loss_falls_and_the_prior_loads),
    TCASE_CPU(resume_is_bit_identical),
    TCASE_CPU(init_from_weights),
    TCASE_CPU(nan_steps_are_skipped_then_stop),
};
TEST_MAIN(cases)
