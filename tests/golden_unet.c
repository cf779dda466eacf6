// Conformance of the UNet (sds/unet.h) with the reference LDM UNetModel: the golden cases
// unet_sd1_tiny, unet_sd2_tiny and unet_pix_tiny of ../shared/golden, on both backends,
// comparing out.eps, out.t_emb and every dbg.* block output; plus the failures a bad
// weights file or config must produce.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "golden_util.h"
#include "safetensors.h"
#include "sds/unet.h"
#include "test_util.h"
#include "weights.h"

#define TOL 1e-4

static void run_case(tctx_t *T, vkd_backend_t *be, vkd_arena_t *arena, const char *name) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_unet_config_t cfg;
    snprintf(path, sizeof path, "%s/%s.config.json", dir, name);
    CHECK_OK(T, vkd_unet_config_load(path, &cfg));
    vkd_weights_t *w;
    snprintf(path, sizeof path, "%s/%s.weights.safetensors", dir, name);
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_unet_t *u = NULL;
    vkd_status_t s = vkd_unet_create(be, &cfg, w, &u);
    int unused = s == VKD_OK ? vkd_weights_report_unused(w, cfg.prefix, NULL) : 0;
    vkd_weights_close(w);
    CHECK_OK(T, s);
    CHECK(T, unused == 0, "%d tensors of the golden weights were not used", unused);
    vkd_safetensors_t *io;
    snprintf(path, sizeof path, "%s/%s.io.safetensors", dir, name);
    if (vkd_st_open(path, &io) != VKD_OK) {
        vkd_unet_destroy(u);
        CHECK_OK(T, VKD_ERR_IO);
    }
    const vkd_st_tensor_t *tx = vkd_st_find(io, "in.x"), *tc = vkd_st_find(io, "in.context");
    const vkd_st_tensor_t *tt = vkd_st_find(io, "in.timesteps");
    CHECK(T, tx && tc && tt && tx->ndim == 4 && tc->ndim == 3 && tt->ndim == 1, "io inputs");
    if (!(tx && tc && tt && tx->ndim == 4 && tc->ndim == 3 && tt->ndim == 1)) goto done;
    const int B = (int)tx->shape[0], H = (int)tx->shape[2], W = (int)tx->shape[3];
    const int L = (int)tc->shape[1];
    size_t nx, nc, ne, nt;
    float *x = test_golden_f32(T, io, "in.x", &nx), *ctx = test_golden_f32(T, io, "in.context", &nc);
    float *eps = test_golden_f32(T, io, "out.eps", &ne), *temb_ref = test_golden_f32(T, io, "out.t_emb", &nt);
    int64_t ti[64];
    float t[64];
    CHECK(T, B <= 64 && vkd_st_to_i64(tt, ti, (size_t)B) == VKD_OK, "timesteps");
    for (int b = 0; b < B && b < 64; b++) t[b] = (float)ti[b];
    if (x && ctx && eps && temb_ref) {
        // out.t_emb: absolute tolerance (float32 products as in the reference).
        float *temb = malloc(nt * sizeof(float));
        vkd_unet_timestep_embedding(t, B, cfg.model_channels, temb);
        double err = 0;
        for (size_t i = 0; i < nt; i++) err = fmax(err, fabs((double)temb[i] - temb_ref[i]));
        printf("  %-40s abs err %.3g\n", "out.t_emb", err);
        CHECK(T, nt == (size_t)B * cfg.model_channels && err < 1e-4, "t_emb abs err %.3g", err);
        free(temb);

        vkd_buf_t bx = test_buf(T, arena, x, nx), bc = test_buf(T, arena, ctx, nc);
        vkd_buf_t bo = test_buf(T, arena, NULL, ne);
        // Every block output the forward taps is in the golden file.
        golden_tap_t tap = {.T = T, .io = io, .tol = TOL, .require = 1};
        vkd_unet_set_tap(u, golden_tap, &tap);
        s = vkd_unet_forward(u, bo, bx, t, bc, B, H, W, L);
        CHECK(T, s == VKD_OK, "forward: %s", vkd_last_error());
        float *got = s == VKD_OK ? test_read(T, bo, ne) : NULL;
        if (got) test_compare(T, "out.eps", got, eps, ne, TOL);
        free(got);
        golden_tap_check_all(&tap);

        // Timing of a warm forward without capture (the second call reuses everything).
        vkd_unet_set_tap(u, NULL, NULL);
        double best = 1e30;
        for (int rep = 0; rep < 2 && s == VKD_OK; rep++) {
            double t0 = test_now_ms();
            s = vkd_unet_forward(u, bo, bx, t, bc, B, H, W, L);
            if (s == VKD_OK) s = vkd_backend_sync(be);
            best = fmin(best, test_now_ms() - t0);
        }
        CHECK(T, s == VKD_OK, "timed forward: %s", vkd_last_error());
        const double gf = vkd_unet_flops(&cfg, B, H, W, L) / 1e9;
        size_t acts = 0;
        vkd_unet_acts_bytes(u, B, H, W, L, &acts);
        printf("  %s on %s: %.1f ms per forward (B=%d %dx%d L=%d), %.3f GFLOP, %.2f GFLOP/s, "
               "activations %.2f MiB\n", name, vkd_backend_name(be), best, B, H, W, L, gf,
               gf / (best / 1e3), acts / 1048576.0);
    }
    free(x), free(ctx), free(eps), free(temb_ref);
done:
    vkd_st_close(io);
    vkd_unet_destroy(u);
}

static void t_sd1_cpu(tctx_t *T) { run_case(T, T->cpu, T->cpu_arena, "unet_sd1_tiny"); }
static void t_sd2_cpu(tctx_t *T) { run_case(T, T->cpu, T->cpu_arena, "unet_sd2_tiny"); }
static void t_pix_cpu(tctx_t *T) { run_case(T, T->cpu, T->cpu_arena, "unet_pix_tiny"); }
static void t_sd1_vk(tctx_t *T) { run_case(T, T->vk, T->vk_arena, "unet_sd1_tiny"); }
static void t_sd2_vk(tctx_t *T) { run_case(T, T->vk, T->vk_arena, "unet_sd2_tiny"); }
static void t_pix_vk(tctx_t *T) { run_case(T, T->vk, T->vk_arena, "unet_pix_tiny"); }

// ---- bad weights --------------------------------------------------------------------------
// Loads an edited copy of the sd2 weights (see golden_edit_t); *unused, when given, counts
// the tensors of the copy the model did not use.
static vkd_status_t load_edited(tctx_t *T, const golden_edit_t *e, int *unused) {
    char dir[1024], src[1200];
    vkd_unet_config_t cfg;
    snprintf(src, sizeof src, "%s/unet_sd2_tiny.config.json", test_golden_dir(dir, sizeof dir));
    if (vkd_unet_config_load(src, &cfg) != VKD_OK) return VKD_ERR_IO;
    snprintf(src, sizeof src, "%s/unet_sd2_tiny.weights.safetensors", dir);
    golden_copy_t cp;
    if (!golden_copy_edited(T, src, e, &cp)) return VKD_ERR_IO;
    vkd_weights_t *w = NULL;
    vkd_unet_t *u = NULL;
    vkd_status_t s = vkd_weights_open(cp.path, &w);
    if (s == VKD_OK) {
        s = vkd_unet_create(T->cpu, &cfg, w, &u);
        if (s == VKD_OK && unused) *unused = vkd_weights_report_unused(w, cfg.prefix, NULL);
    }
    vkd_unet_destroy(u);
    vkd_weights_close(w);
    golden_copy_remove(&cp);
    return s;
}

static void t_bad_weights(tctx_t *T) {
    char dir[1024];
    if (!test_golden_dir(dir, sizeof dir)) return;
    const char *missing = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight";
    golden_edit_t e1 = {.drop = missing};
    golden_expect_refused(T, load_edited(T, &e1, NULL), missing, "missing tensor");
    // SD2 has Linear proj_out [C, C]; the SD1 (conv) shape must be refused, not reinterpreted.
    const char *resh = "model.diffusion_model.output_blocks.2.1.proj_out.weight";
    golden_edit_t e2 = {.reshape = resh, .new_ndim = 4, .new_shape = {64, 64, 1, 1}};
    golden_expect_refused(T, load_edited(T, &e2, NULL), resh, "wrong shape");
    // An extra tensor is not an error, but it is reported as unused.
    golden_edit_t e3 = {.extra = "model.diffusion_model.label_emb.0.weight"};
    int unused = -1;
    vkd_status_t s = load_edited(T, &e3, &unused);
    CHECK(T, s == VKD_OK && unused == 1, "extra tensor: status %d, %d unused (%s)", (int)s, unused,
          s ? vkd_last_error() : "");
}

// ---- bad configs ----------------------------------------------------------------------------
static void t_bad_config(tctx_t *T) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/unet_sd1_tiny.config.json", dir);
    FILE *fp = fopen(path, "rb");
    CHECK(T, fp != NULL, "open %s", path);
    if (!fp) return;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    const golden_cfg_edit_t edits[] = {
        {"use_spatial_transformer", "false", 0, VKD_ERR_UNSUPPORTED, "use_spatial_transformer"},
        {"num_classes", "10", 0, VKD_ERR_UNSUPPORTED, "num_classes"},
        {"use_scale_shift_norm", "true", 0, VKD_ERR_UNSUPPORTED, "use_scale_shift_norm"},
        {"spatial_transformer_attn_type", "\"softmax\"", 0, VKD_ERR_INVALID, "spatial_transformer_attn_type"},
        {"context_dim", NULL, 0, VKD_ERR_INVALID, "context_dim"},
        {"attention_resolutions", "[16]", 0, VKD_ERR_INVALID, "attention_resolutions"},
        {"model_channels", "48", 0, VKD_ERR_INVALID, "GroupNorm32"},
        {"num_heads", "-1", 0, VKD_ERR_INVALID, "num_head"},
        {"channel_mult", "\"1,2\"", 0, VKD_ERR_INVALID, "channel_mult"},
        {"num_parameters", "12345", 1, VKD_ERR_INVALID, "num_parameters"},
        {"parameterization", "\"x0\"", 1, VKD_ERR_UNSUPPORTED, "parameterization"},
        {"norm_eps", "{\"input_blocks.*.*.norm\": \"GroupNorm(groups=16) eps=1e-06\"}", 1,
         VKD_ERR_UNSUPPORTED, "groups"},
        {"norm_eps", "{\"input_blocks.*.*.proj\": 1e-5}", 1, VKD_ERR_INVALID, "proj"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        cJSON *root = golden_cfg_edited(text, NULL, "constructor_args", &edits[i]);
        vkd_unet_config_t cfg;
        vkd_status_t s = vkd_unet_config_from_json(root, "edited.json", &cfg);
        cJSON_Delete(root);
        golden_cfg_check(T, &edits[i], "edited.json", s);
    }
    // The untouched configs parse to what the README describes.
    vkd_unet_config_t c1, c2;
    CHECK_OK(T, vkd_unet_config_parse(text, "sd1", &c1));
    snprintf(path, sizeof path, "%s/unet_sd2_tiny.config.json", dir);
    CHECK_OK(T, vkd_unet_config_load(path, &c2));
    CHECK(T, c1.num_heads == 8 && c1.num_head_channels == -1 && !c1.use_linear_in_transformer &&
          c1.n_levels == 4 && c1.num_res_blocks[3] == 2 && c1.attn_level[2] && !c1.attn_level[3],
          "sd1 config fields");
    CHECK(T, c2.num_head_channels == 16 && c2.use_linear_in_transformer && !c2.legacy &&
          c2.eps_transformer == 1e-6f && c2.eps_resblock == 1e-5f && c2.eps_layernorm == 1e-5f &&
          c2.prediction == VKD_UNET_PRED_EPS && strcmp(c2.prefix, "model.diffusion_model.") == 0,
          "sd2 config fields");
    CHECK(T, vkd_unet_param_count(&c1) == 3277988 && vkd_unet_param_count(&c2) == 2174852,
          "parameter counts");
}

// Shapes the forward must refuse before touching memory.
static void t_bad_shapes(tctx_t *T) {
    char dir[1024], path[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_unet_config_t cfg;
    snprintf(path, sizeof path, "%s/unet_pix_tiny.config.json", dir);
    CHECK_OK(T, vkd_unet_config_load(path, &cfg));
    vkd_weights_t *w;
    snprintf(path, sizeof path, "%s/unet_pix_tiny.weights.safetensors", dir);
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_unet_t *u = NULL;
    vkd_status_t s = vkd_unet_create(T->cpu, &cfg, w, &u);
    vkd_weights_close(w);
    CHECK_OK(T, s);
    const float t[2] = {1, 2};
    vkd_buf_t x = test_buf(T, T->cpu_arena, NULL, 2 * 3 * 32 * 32);
    vkd_buf_t ctx = test_buf(T, T->cpu_arena, NULL, 2 * 7 * 64);
    s = vkd_unet_forward(u, x, x, t, ctx, 2, 30, 32, 7);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "multiples of 4"), "H = 30: %s",
          vkd_last_error());
    s = vkd_unet_forward(u, x, x, t, ctx, 2, 32, 32, 8);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "context"), "short context: %s",
          vkd_last_error());
    vkd_unet_destroy(u);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_sd1_cpu),     TCASE_CPU(t_sd2_cpu),    TCASE_CPU(t_pix_cpu),
    TCASE_CPU(t_bad_weights), TCASE_CPU(t_bad_config), TCASE_CPU(t_bad_shapes),
    TCASE_VK(t_sd1_vk),       TCASE_VK(t_sd2_vk),      TCASE_VK(t_pix_vk),
};
TEST_MAIN(cases)
