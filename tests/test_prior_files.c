// Prior files: the JSON loader's checks (each bad file gives an error naming the file and
// the key or tensor), an oracle described by a file, and a UNet prior assembled from the
// golden tiny models (unet_pix_tiny + clip_text_tiny, random weights): it loads, encodes,
// predicts on both backends, converts v to eps, runs guidance as one batch, and refuses
// configs that do not match its weights.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_util.h"
#include "safetensors.h"
#include "sds/prior.h"
#include "test_util.h"

static int write_text(tctx_t *T, const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0;
    if (f) ok &= fclose(f) == 0;
    CHECK(T, ok, "writing %s: %s", path, strerror(errno));
    return ok;
}

static int make_tmpdir(tctx_t *T, char *dir) {
    strcpy(dir, "/tmp/vkd_prior_files_XXXXXX");
    CHECK(T, mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    return dir[0] != 0;
}

// Loading `path` must fail with `code` and a message holding every needle.
static void expect_fail(tctx_t *T, vkd_backend_t *be, const char *path, vkd_status_t code,
                        const char *what, const char *n1, const char *n2) {
    vkd_prior_t *p = (vkd_prior_t *)1;
    vkd_status_t s = vkd_prior_load(path, be, &p);
    printf("  %-34s -> %s\n", what, s == VKD_OK ? "(loaded)" : vkd_last_error());
    CHECK(T, s == code && p == NULL, "%s: status %s, wanted %s", what, vkd_status_name(s),
          vkd_status_name(code));
    CHECK(T, !n1 || strstr(vkd_last_error(), n1), "%s: message lacks '%s'", what, n1);
    CHECK(T, !n2 || strstr(vkd_last_error(), n2), "%s: message lacks '%s'", what, n2);
    if (s == VKD_OK) vkd_prior_free(p);
}

static const char ORACLE_JSON[] =
    "{\"format\": \"vkdream-prior\", \"version\": 1, \"type\": \"oracle\", \"name\": \"tiny oracle\",\n"
    " \"image\": {\"channels\": 3, \"height\": 16, \"width\": 16, \"range\": [-1, 1], "
    "\"encoding\": \"linear\"},\n"
    " \"schedule\": {\"beta_schedule\": \"linear\", \"T\": 1000, \"beta_start\": 0.00085, "
    "\"beta_end\": 0.012},\n"
    " \"camera\": {\"elevation_deg\": [0, 60], \"area_fraction\": 0.5, \"azimuth_deg\": [0, 360],"
    " \"distance\": [0.9, 1.1], \"scale\": 2, \"fovy_deg\": [50, 50], \"jitter_pos\": 0.02,"
    " \"jitter_target\": 0.02, \"jitter_up\": 0.01},\n"
    " \"view_suffix\": \"dreamfusion\", \"background\": [0.1, 1, 0],\n"
    " \"oracle\": {\"views\": 4, \"uncond_views\": 1, \"seed\": 5, \"shading\": \"lit\"}}\n";

// ORACLE_JSON with the first occurrence of `from` replaced by `to`.
static void variant(tctx_t *T, const char *path, const char *from, const char *to) {
    char buf[4096];
    const char *at = strstr(ORACLE_JSON, from);
    CHECK(T, at != NULL, "test bug: '%s' not in the template", from);
    if (!at) return;
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - ORACLE_JSON), ORACLE_JSON, to, at + strlen(from));
    write_text(T, path, buf);
}

static void t_oracle_file(tctx_t *T) {
    char dir[64], path[128];
    if (!make_tmpdir(T, dir)) return;
    snprintf(path, sizeof path, "%s/oracle.json", dir);
    if (!write_text(T, path, ORACLE_JSON)) return;
    vkd_prior_t *p = NULL;
    CHECK_OK(T, vkd_prior_load(path, NULL, &p));
    const vkd_prior_info_t *in = vkd_prior_info(p);
    CHECK(T, in->kind == VKD_PRIOR_ORACLE && !strcmp(in->name, "tiny oracle") && in->width == 16 &&
                 in->camera.elev_max_deg == 60 && in->has_background && in->background[1] == 1 &&
                 vkd_prior_schedule(p)->desc.kind == VKD_BETA_LINEAR,
          "oracle file parsed");
    vkd_prior_cond_t *c = NULL;
    const float *X;
    int n;
    CHECK_OK(T, vkd_prior_encode(p, "a pink cone", &c));
    CHECK_OK(T, vkd_oracle_cond_images(c, &X, &n));
    CHECK(T, n == 4, "views from the file: %d", n);
    vkd_prior_cond_free(c);
    vkd_prior_free(p);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope.json", dir);
    expect_fail(T, NULL, missing, VKD_ERR_IO, "missing file", "nope.json", NULL);
    write_text(T, path, "{ \"format\": \"vkdream-prior\", oops");
    expect_fail(T, NULL, path, VKD_ERR_FORMAT, "corrupt JSON", "not valid JSON", path);
    write_text(T, path, "");
    expect_fail(T, NULL, path, VKD_ERR_FORMAT, "empty file", path, NULL);
    write_text(T, path, "[1, 2]");
    expect_fail(T, NULL, path, VKD_ERR_FORMAT, "not an object", "JSON object", NULL);
    static const struct {
        const char *what, *from, *to, *n1;
    } cases[] = {
        {"wrong format", "vkdream-prior", "vkdream-nerf", "\"format\""},
        {"unsupported version", "\"version\": 1", "\"version\": 2", "\"version\""},
        {"unknown type", "\"oracle\", \"name\"", "\"gan\", \"name\"", "\"type\""},
        {"no image", "\"image\"", "\"picture\"", "\"image\""},
        {"reversed range", "[-1, 1]", "[1, -1]", "\"image.range\""},
        {"bad encoding", "\"linear\"}", "\"gamma\"}", "\"image.encoding\""},
        {"zero channels", "\"channels\": 3", "\"channels\": 0", "\"image.channels\""},
        {"unknown beta schedule", "\"beta_schedule\": \"linear\"", "\"beta_schedule\": \"quad\"",
         "schedule.beta_schedule"},
        {"missing beta_end", ", \"beta_end\": 0.012", "", "\"schedule.beta_end\""},
        {"camera field missing", ", \"jitter_up\": 0.01", "", "\"camera.jitter_up\""},
        {"camera preset unknown", "\"camera\": {", "\"camera\": \"fisheye\", \"x\": {", "shapeworld"},
        {"camera range reversed", "\"distance\": [0.9, 1.1]", "\"distance\": [1.1, 0.9]",
         "\"camera.distance\""},
        {"no view_suffix", "\"view_suffix\"", "\"suffix\"", "\"view_suffix\""},
        {"bad background", "[0.1, 1, 0]", "[0.1, 1]", "\"background\""},
        {"oracle views 0", "\"views\": 4", "\"views\": 0", "\"oracle.views\""},
        {"oracle shading", "\"lit\"", "\"neon\"", "\"oracle.shading\""},
        {"oracle not square", "\"height\": 16", "\"height\": 24", "height == width"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        variant(T, path, cases[i].from, cases[i].to);
        expect_fail(T, NULL, path, VKD_ERR_FORMAT, cases[i].what, cases[i].n1, path);
    }
    unlink(path);
    rmdir(dir);
}

// ---- a UNet prior from the golden tiny models --------------------------------------------

typedef struct {
    char dir[64];
    char json[128], weights[128], tok[128];
    char golden[1024];
} unet_files_t;

// One weights file with both golden models' tensors, leaving out `drop` (may be NULL).
static int merge_weights(tctx_t *T, const unet_files_t *F, const char *drop) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/unet_pix_tiny.weights.safetensors", F->golden);
    snprintf(b, sizeof b, "%s/clip_text_tiny.weights.safetensors", F->golden);
    vkd_safetensors_t *sa = NULL, *sb = NULL;
    vkd_st_writer_t *w = NULL;
    int ok = vkd_st_open(a, &sa) == VKD_OK && vkd_st_open(b, &sb) == VKD_OK &&
             vkd_st_writer_create(&w) == VKD_OK;
    for (int f = 0; ok && f < 2; f++) {
        vkd_safetensors_t *st = f ? sb : sa;
        for (int i = 0; ok && i < vkd_st_count(st); i++) {
            const vkd_st_tensor_t *t = vkd_st_get(st, i);
            if (drop && !strcmp(t->name, drop)) continue;
            ok = vkd_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data) == VKD_OK;
        }
    }
    ok = ok && vkd_st_write(w, F->weights) == VKD_OK;
    CHECK(T, ok, "merging the golden weights: %s", vkd_last_error());
    vkd_st_writer_free(w);
    vkd_st_close(sa), vkd_st_close(sb);
    return ok;
}

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return cJSON_Parse(buf);
}

// The prior JSON; edit(root) may change it before it is written.
static int write_unet_json(tctx_t *T, const unet_files_t *F, void (*edit)(cJSON *)) {
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/unet_pix_tiny.config.json", F->golden);
    snprintf(b, sizeof b, "%s/clip_text_tiny.config.json", F->golden);
    cJSON *unet = read_json(a), *te = read_json(b);
    cJSON *root = cJSON_Parse(
        "{\"format\": \"vkdream-prior\", \"version\": 1, \"type\": \"unet\", \"name\": \"golden tiny\","
        " \"weights\": \"w.safetensors\", \"tokenizer\": \"tok.json\", \"prediction\": \"eps\","
        " \"image\": {\"channels\": 3, \"height\": 32, \"width\": 32, \"range\": [-1, 1],"
        " \"encoding\": \"linear\"},"
        " \"schedule\": {\"beta_schedule\": \"cosine\", \"T\": 1000},"
        " \"camera\": \"shapeworld\", \"view_suffix\": \"dreamfusion\","
        " \"conditioning\": {\"pad_with_eos\": false}}");
    int ok = unet && te && root;
    if (ok) {
        cJSON_AddItemToObject(root, "unet", unet);
        cJSON_AddItemToObject(root, "text_encoder", te);
        unet = te = NULL;
        if (edit) edit(root);
        char *text = cJSON_Print(root);
        ok = text && write_text(T, F->json, text);
        free(text);
    }
    CHECK(T, ok, "building the prior JSON from %s", F->golden);
    cJSON_Delete(unet), cJSON_Delete(te), cJSON_Delete(root);
    return ok;
}

static const char TOKENIZER[] =
    "{\"type\": \"word\", \"max_length\": 8, \"lowercase\": true, \"tokens\": [\"<pad>\", \"<bos>\","
    " \"<eos>\", \"a\", \"an\", \"red\", \"blue\", \"cube\", \"sphere\", \"side\", \"front\", \"view\","
    " \",\"]}";

static int setup_unet(tctx_t *T, unet_files_t *F) {
    memset(F, 0, sizeof *F);
    if (!golden_dir_checked(T, F->golden, sizeof F->golden) || !make_tmpdir(T, F->dir)) return 0;
    snprintf(F->json, sizeof F->json, "%s/prior.json", F->dir);
    snprintf(F->weights, sizeof F->weights, "%s/w.safetensors", F->dir);
    snprintf(F->tok, sizeof F->tok, "%s/tok.json", F->dir);
    return write_text(T, F->tok, TOKENIZER) && merge_weights(T, F, NULL) &&
           write_unet_json(T, F, NULL);
}

static void cleanup_unet(const unet_files_t *F) {
    unlink(F->json), unlink(F->weights), unlink(F->tok);
    rmdir(F->dir);
}

// Predictions of the golden-tiny prior on backend be for x (3, 32, 32) at t = 700: eps
// (3, 32, 32) under "a red cube", and unless g1 is NULL the guided eps (s = 1) with its raw
// parts, from one batch of 2 (the prompt and the unconditional input).
enum { N1 = 3 * 32 * 32, T_PRED = 700 };
static void run_unet_prior(tctx_t *T, vkd_backend_t *be, const unet_files_t *F,
                           vkd_prediction_t pred, const float *x, float *eps, float *g1, float *ec,
                           float *eu) {
    vkd_prior_t *p = NULL;
    vkd_prior_cond_t *c = NULL, *u = NULL;
    CHECK_OK(T, vkd_prior_load(F->json, be, &p));
    const vkd_prior_info_t *in = vkd_prior_info(p);
    CHECK(T, in->kind == VKD_PRIOR_UNET && in->prediction == pred && in->channels == 3 &&
                 in->has_camera && !strcmp(in->name, "golden tiny"),
          "UNet prior info");
    vkd_status_t s = vkd_prior_encode(p, "a red cube, side view", &c);
    if (s == VKD_OK) s = vkd_prior_encode_uncond(p, &u);
    CHECK(T, s == VKD_OK, "encode: %s", vkd_last_error());
    if (s == VKD_OK) {
        const int t[1] = {T_PRED};
        const vkd_prior_cond_t *cc[1] = {c}, *uu[1] = {u};
        s = vkd_prior_predict(p, eps, x, t, cc, 1);
        const vkd_cfg_t g = {1.0f, VKD_CFG_LDM};
        if (s == VKD_OK && g1) s = vkd_prior_predict_cfg(p, g1, ec, eu, x, t, cc, uu, 1, &g);
        CHECK(T, s == VKD_OK, "predict: %s", vkd_last_error());
    }
    vkd_prior_cond_free(c), vkd_prior_cond_free(u);
    vkd_prior_free(p);
}

static void to_v(cJSON *root) {
    cJSON_ReplaceItemInObject(root, "prediction", cJSON_CreateString("v"));
}

static void t_unet_prior(tctx_t *T) {
    unet_files_t F;
    if (!setup_unet(T, &F)) return;
    static float x[N1], eps[N1], g1[N1], ec[N1], eu[N1], ev[N1], ref[N1];
    uint64_t rng = 1234;
    test_fill_normal(&rng, x, N1, 1.0f);
    run_unet_prior(T, T->cpu, &F, VKD_PRED_EPS, x, eps, g1, ec, eu);
    int finite = 1;
    double mag = 0, diff = 0;
    for (int i = 0; i < N1; i++) finite &= isfinite(eps[i]), mag = fmax(mag, fabs(eps[i]));
    CHECK(T, finite && mag > 0.1, "predictions finite and non-trivial (max %g)", mag);
    CHECK(T, memcmp(g1, ec, sizeof g1) == 0, "guidance 1 returns the conditional part exactly");
    test_compare(T, "cond in the guided batch of 2 vs alone", ec, eps, N1, 1e-4);
    for (int i = 0; i < N1; i++) diff = fmax(diff, fabs(ec[i] - eu[i]));
    CHECK(T, diff > 1e-3, "the prompt changes the prediction (%g)", diff);
    // The same weights read as a v-predicting model: eps = sqrt(1 - a) x + sqrt(a) v.
    if (write_unet_json(T, &F, to_v)) {
        run_unet_prior(T, T->cpu, &F, VKD_PRED_V, x, ev, NULL, NULL, NULL);
        vkd_schedule_t sc;
        vkd_schedule_desc_t d = {.kind = VKD_BETA_COSINE, .T = 1000, .cosine_s = 0.008};
        CHECK_OK(T, vkd_schedule_init(&sc, &d));
        const double a = sc.alphas_cumprod_f32[T_PRED];
        for (int i = 0; i < N1; i++) ref[i] = (float)(sqrt(1 - a) * x[i] + sqrt(a) * eps[i]);
        vkd_schedule_free(&sc);
        test_compare(T, "v-prediction converted to eps", ev, ref, N1, 1e-5);
        write_unet_json(T, &F, NULL);
    }
    // Prompt errors of the word tokenizer.
    vkd_prior_t *p = NULL;
    vkd_prior_cond_t *c = NULL;
    CHECK_OK(T, vkd_prior_load(F.json, T->cpu, &p));
    CHECK(T, vkd_prior_encode(p, "a red dog", &c) == VKD_ERR_INVALID && !c, "unknown word");
    printf("  unknown word -> %s\n", vkd_last_error());
    CHECK(T, vkd_prior_encode(p, "a red cube, a blue sphere, side view", &c) == VKD_ERR_INVALID,
          "over-long prompt");
    printf("  over-long prompt -> %s\n", vkd_last_error());
    CHECK(T, vkd_prior_encode(p, "", &c) == VKD_ERR_INVALID, "empty prompt");
    vkd_prior_free(p);
    cleanup_unet(&F);
}

static void t_unet_prior_vk(tctx_t *T) {
    unet_files_t F;
    if (!setup_unet(T, &F)) return;
    static float x[N1], e_cpu[N1], e_vk[N1], g1[N1], ec[N1], eu[N1];
    uint64_t rng = 1234;
    test_fill_normal(&rng, x, N1, 1.0f);
    run_unet_prior(T, T->cpu, &F, VKD_PRED_EPS, x, e_cpu, g1, ec, eu);
    run_unet_prior(T, T->vk, &F, VKD_PRED_EPS, x, e_vk, g1, ec, eu);
    test_compare(T, "UNet prior on Vulkan vs CPU", e_vk, e_cpu, N1, 1e-4);
    CHECK(T, memcmp(g1, ec, sizeof g1) == 0, "Vulkan: guidance 1 returns the conditional part");
    cleanup_unet(&F);
}

// Edits that make the config disagree with the weights or with itself.
static void e_context(cJSON *r) {
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "unet"), "constructor_args");
    cJSON_ReplaceItemInObject(a, "context_dim", cJSON_CreateNumber(32));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "unet"), "num_parameters");
}
static void e_context_np(cJSON *r) {
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "unet"), "constructor_args");
    cJSON_ReplaceItemInObject(a, "context_dim", cJSON_CreateNumber(32));
}
static void e_channels(cJSON *r) {
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "unet"), "constructor_args");
    cJSON_ReplaceItemInObject(a, "model_channels", cJSON_CreateNumber(64));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "unet"), "num_parameters");
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "unet"), "time_embed_dim");
}
static void e_res_blocks(cJSON *r) {
    cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "unet"), "constructor_args");
    cJSON_ReplaceItemInObject(a, "num_res_blocks", cJSON_CreateNumber(2));
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(r, "unet"), "num_parameters");
}
static void e_image4(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "image"), "channels", cJSON_CreateNumber(4));
}
static void e_image30(cJSON *r) {
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "image"), "height", cJSON_CreateNumber(30));
}
static void e_pred(cJSON *r) { cJSON_ReplaceItemInObject(r, "prediction", cJSON_CreateString("x0")); }
static void e_pred_conflict(cJSON *r) {
    cJSON_AddItemToObject(cJSON_GetObjectItem(r, "unet"), "parameterization", cJSON_CreateString("v"));
}
static void e_no_tok(cJSON *r) { cJSON_ReplaceItemInObject(r, "tokenizer", cJSON_CreateString("none.json")); }
static void e_te_layers(cJSON *r) {
    cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "text_encoder"), "hf_equivalent_config");
    cJSON_ReplaceItemInObject(h, "num_hidden_layers", cJSON_CreateNumber(3));
}
static void e_te_positions(cJSON *r) {
    cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "text_encoder"), "hf_equivalent_config");
    cJSON_ReplaceItemInObject(h, "max_position_embeddings", cJSON_CreateNumber(6));
}

static void t_unet_prior_mismatch(tctx_t *T) {
    unet_files_t F;
    if (!setup_unet(T, &F)) return;
    static const struct {
        const char *what;
        void (*edit)(cJSON *);
        const char *n1, *n2;
    } cases[] = {
        {"context_dim != text width", e_context, "context_dim", "hidden_size"},
        {"num_parameters disagrees", e_context_np, "num_parameters", NULL},
        {"model_channels 64 (wrong shapes)", e_channels, "model.diffusion_model.", "w.safetensors"},
        {"num_res_blocks 2 (missing tensors)", e_res_blocks, "input_blocks.2", "w.safetensors"},
        {"image channels 4", e_image4, "image.channels", NULL},
        {"image height 30", e_image30, "divisible", NULL},
        {"prediction x0", e_pred, "\"prediction\"", NULL},
        {"prediction vs parameterization", e_pred_conflict, "parameterization", NULL},
        {"tokenizer file missing", e_no_tok, "none.json", NULL},
        {"3 text layers (missing tensor)", e_te_layers, "encoder.layers.2", "w.safetensors"},
        {"6 positions < 8 tokens", e_te_positions, "max_position_embeddings", "tok.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!write_unet_json(T, &F, cases[i].edit)) break;
        vkd_status_t want = VKD_ERR_FORMAT;
        if (cases[i].edit == e_no_tok) want = VKD_ERR_IO;
        expect_fail(T, T->cpu, F.json, want, cases[i].what, cases[i].n1, cases[i].n2);
    }
    // Weights that lack a tensor the config needs.
    write_unet_json(T, &F, NULL);
    const char *drop = "model.diffusion_model.middle_block.1.proj_out.weight";
    if (merge_weights(T, &F, drop))
        expect_fail(T, T->cpu, F.json, VKD_ERR_FORMAT, "a UNet tensor missing", drop, "w.safetensors");
    drop = "cond_stage_model.transformer.text_model.final_layer_norm.weight";
    if (merge_weights(T, &F, drop))
        expect_fail(T, T->cpu, F.json, VKD_ERR_FORMAT, "a text tensor missing", drop, "w.safetensors");
    write_text(T, F.weights, "this is not a safetensors file");
    expect_fail(T, T->cpu, F.json, VKD_ERR_FORMAT, "corrupt weights", "w.safetensors", NULL);
    unlink(F.weights);
    expect_fail(T, T->cpu, F.json, VKD_ERR_IO, "weights file missing", "w.safetensors", NULL);
    expect_fail(T, NULL, F.json, VKD_ERR_INVALID, "UNet prior without a backend", "backend", NULL);
    cleanup_unet(&F);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_oracle_file),
    TCASE_CPU(t_unet_prior),
    TCASE_VK(t_unet_prior_vk),
    TCASE_CPU(t_unet_prior_mismatch),
};
TEST_MAIN(cases)
