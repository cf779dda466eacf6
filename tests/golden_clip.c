// Conformance of the text encoder with openai/CLIP's text tower (golden/clip_text_tiny)
// on both backends, and its refusal of bad weights, configs and token ids.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "golden_util.h"
#include "safetensors.h"
#include "sds/text_encoder.h"
#include "test_util.h"

#define B_REF 2
#define L_REF 77
#define D_REF 64

typedef struct {
    int32_t ids[B_REF * L_REF];               // (B, L)
    int64_t eot[B_REF];                       // (B)
    float hidden[B_REF * L_REF * D_REF];      // (B, L, D)
    float pooled[B_REF * D_REF];              // (B, D)
} clip_io_t;

static int read_io(tctx_t *T, const char *dir, clip_io_t *io) {
    char path[1200];
    snprintf(path, sizeof path, "%s/clip_text_tiny.io.safetensors", dir);
    vkd_safetensors_t *st = NULL;
    vkd_status_t s = vkd_st_open(path, &st);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    if (s != VKD_OK) return 0;
    const vkd_st_tensor_t *t;
    int64_t ids64[B_REF * L_REF];
    int ok = 1;
    ok &= vkd_st_expect(st, "in.ids", 2, (int64_t[]){B_REF, L_REF}, &t) == VKD_OK &&
          vkd_st_to_i64(t, ids64, B_REF * L_REF) == VKD_OK;
    ok &= vkd_st_expect(st, "out.eot_index", 1, (int64_t[]){B_REF}, &t) == VKD_OK &&
          vkd_st_to_i64(t, io->eot, B_REF) == VKD_OK;
    ok &= vkd_st_expect(st, "out.last_hidden_state", 3, (int64_t[]){B_REF, L_REF, D_REF}, &t) ==
              VKD_OK && vkd_st_to_f32(t, io->hidden, B_REF * L_REF * D_REF) == VKD_OK;
    ok &= vkd_st_expect(st, "out.pooled", 2, (int64_t[]){B_REF, D_REF}, &t) == VKD_OK &&
          vkd_st_to_f32(t, io->pooled, B_REF * D_REF) == VKD_OK;
    CHECK(T, ok, "reading %s: %s", path, vkd_last_error());
    for (int i = 0; ok && i < B_REF * L_REF; i++) io->ids[i] = (int32_t)ids64[i];
    vkd_st_close(st);
    return ok;
}

// Loads config + weights onto `arena`'s backend, runs the golden input, compares, times.
static void run_golden(tctx_t *T, vkd_arena_t *arena, const char *label) {
    char dirbuf[1024], path[1200];
    const char *dir = golden_dir_checked(T, dirbuf, sizeof dirbuf);
    if (!dir) return;
    static clip_io_t io;
    if (!read_io(T, dir, &io)) return;
    vkd_text_encoder_config_t cfg;
    snprintf(path, sizeof path, "%s/clip_text_tiny.config.json", dir);
    CHECK_OK(T, vkd_text_encoder_config_load(path, &cfg));
    CHECK(T, cfg.vocab_size == 1000 && cfg.width == 64 && cfg.layers == 2 && cfg.heads == 4 &&
                 cfg.context_length == 77 && cfg.mlp_width == 256 &&
                 cfg.act == VKD_ACT_QUICK_GELU && cfg.causal &&
                 strcmp(cfg.prefix, VKD_TEXT_ENCODER_PREFIX) == 0,
          "golden config parsed as V %d D %d layers %d heads %d C %d F %d", cfg.vocab_size,
          cfg.width, cfg.layers, cfg.heads, cfg.context_length, cfg.mlp_width);
    snprintf(path, sizeof path, "%s/clip_text_tiny.weights.safetensors", dir);
    vkd_weights_t *w = NULL;
    CHECK_OK(T, vkd_weights_open(path, &w));
    size_t before = vkd_arena_used(arena);
    vkd_text_encoder_t *te = NULL;
    vkd_status_t s = vkd_text_encoder_load(&cfg, w, arena, &te);
    CHECK(T, s == VKD_OK, "load: %s", vkd_last_error());
    if (s == VKD_OK) {
        CHECK(T, vkd_arena_used(arena) - before == vkd_text_encoder_param_bytes(&cfg),
              "param_bytes %zu matches the arena use %zu", vkd_text_encoder_param_bytes(&cfg),
              vkd_arena_used(arena) - before);
        CHECK(T, vkd_weights_report_unused(w, cfg.prefix, stdout) == 0, "every tensor is used");
    }
    vkd_weights_close(w);
    if (s != VKD_OK) return;
    vkd_buf_t out = test_buf(T, arena, NULL, B_REF * L_REF * D_REF);
    vkd_buf_t pooled = test_buf(T, arena, NULL, B_REF * D_REF);
    vkd_backend_t *be = vkd_arena_backend(arena);
    int eot[B_REF] = {-1, -1};
    double best = 1e30, first = 0;
    const int failures = T->failures;
    for (int it = 0; it < 5 && T->failures == failures; it++) {
        size_t used = vkd_arena_used(arena);
        double t0 = (test_now_ms() * 1e-3);
        s = vkd_text_encoder_forward(te, out, pooled, eot, io.ids, B_REF, L_REF, arena);
        CHECK(T, s == VKD_OK, "forward: %s", vkd_last_error());
        CHECK(T, vkd_arena_used(arena) - used == vkd_text_encoder_scratch_bytes(&cfg, 2, 77),
              "scratch_bytes %zu matches the arena use %zu",
              vkd_text_encoder_scratch_bytes(&cfg, 2, 77), vkd_arena_used(arena) - used);
        if (s == VKD_OK) s = vkd_backend_sync(be);
        double dt = (test_now_ms() * 1e-3) - t0;
        if (it == 0) first = dt;
        else if (dt < best) best = dt;
    }
    printf("  %s forward B=2 L=77 (tiny): first %.2f ms, best of 4 more %.2f ms\n", label,
           1e3 * first, 1e3 * best);
    float *got = test_read(T, out, B_REF * L_REF * D_REF);
    float *gp = test_read(T, pooled, B_REF * D_REF);
    test_compare(T, "out.last_hidden_state", got, io.hidden, B_REF * L_REF * D_REF, 1e-4);
    test_compare(T, "out.pooled", gp, io.pooled, B_REF * D_REF, 1e-4);
    for (int b = 0; b < B_REF; b++)
        CHECK(T, eot[b] == io.eot[b], "eot index of sequence %d: %d, reference %lld", b, eot[b],
              (long long)io.eot[b]);
    free(got), free(gp);
    vkd_text_encoder_free(te);
}

static void t_golden_clip_cpu(tctx_t *T) { run_golden(T, T->cpu_arena, "CPU"); }
static void t_golden_clip_vk(tctx_t *T) { run_golden(T, T->vk_arena, "Vulkan"); }

// ---- bad input ------------------------------------------------------------------------------

// Loading `path` must fail with a message that names `tensor`.
static void expect_load_fails(tctx_t *T, const vkd_text_encoder_config_t *cfg, const char *path,
                              const char *tensor, const char *what) {
    vkd_weights_t *w = NULL;
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_text_encoder_t *te = NULL;
    vkd_status_t s = vkd_text_encoder_load(cfg, w, T->cpu_arena, &te);
    printf("  %s -> %s\n", what, vkd_last_error());
    CHECK(T, s != VKD_OK && te == NULL, "%s: load succeeded", what);
    CHECK(T, strstr(vkd_last_error(), tensor) != NULL, "%s: message does not name %s: %s", what,
          tensor, vkd_last_error());
    vkd_text_encoder_free(te);
    vkd_weights_close(w);
}

static void t_bad_weights(tctx_t *T) {
    char dirbuf[1024], src[1200], cfgpath[1200];
    const char *dir = golden_dir_checked(T, dirbuf, sizeof dirbuf);
    if (!dir) return;
    snprintf(src, sizeof src, "%s/clip_text_tiny.weights.safetensors", dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/clip_text_tiny.config.json", dir);
    vkd_text_encoder_config_t cfg;
    CHECK_OK(T, vkd_text_encoder_config_load(cfgpath, &cfg));
    golden_copy_t cp;
    const char *v_w =
        "cond_stage_model.transformer.text_model.encoder.layers.1.self_attn.v_proj.weight";
    if (golden_copy_edited(T, src, &(golden_edit_t){.drop = v_w}, &cp)) {
        expect_load_fails(T, &cfg, cp.path, v_w, "missing v_proj.weight");
        golden_copy_remove(&cp);
    }
    const char *fc1 = "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight";
    const golden_edit_t transposed = {.reshape = fc1, .new_ndim = 2, .new_shape = {64, 256}};
    if (golden_copy_edited(T, src, &transposed, &cp)) {
        expect_load_fails(T, &cfg, cp.path, fc1, "fc1.weight transposed");
        golden_copy_remove(&cp);
    }
    const char *pos =
        "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight";
    // The config decides the shapes: a config with a longer context rejects the file.
    vkd_text_encoder_config_t longer = cfg;
    longer.context_length = 80;
    expect_load_fails(T, &longer, src, pos, "config context 80 vs 77 rows");
}

static void t_bad_config(tctx_t *T) {
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"vocab_size\": 1000, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"max_position_embeddings\": 77, "
         "\"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-5}", "intermediate_size"},
        {"{\"vocab_size\": 1000, \"hidden_size\": 64, \"intermediate_size\": 256, "
         "\"num_hidden_layers\": 2, \"num_attention_heads\": 5, \"max_position_embeddings\": 77, "
         "\"hidden_act\": \"quick_gelu\", \"layer_norm_eps\": 1e-5}", "multiple"},
        {"{\"hf_equivalent_config\": {\"vocab_size\": 1000, \"hidden_size\": 64, "
         "\"intermediate_size\": 256, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"max_position_embeddings\": 77, \"hidden_act\": \"relu\", \"layer_norm_eps\": 1e-5}}",
         "relu"},
        {"{\"vocab_size\": 1000.5, \"hidden_size\": 64}", "vocab_size"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i].json);
        CHECK(T, j != NULL, "test JSON %zu parses", i);
        vkd_text_encoder_config_t cfg;
        vkd_status_t s = vkd_text_encoder_config_from_json(j, "test.json", &cfg);
        CHECK(T, s == VKD_ERR_FORMAT && strstr(vkd_last_error(), bad[i].needle) &&
                     strstr(vkd_last_error(), "test.json"),
              "bad config %zu: %s", i, vkd_last_error());
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse(
        "{\"text_encoder\": {\"vocab_size\": 49408, \"hidden_size\": 1024, "
        "\"intermediate_size\": 4096, \"num_hidden_layers\": 23, \"num_attention_heads\": 16, "
        "\"max_position_embeddings\": 77, \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-5, "
        "\"causal\": true, \"checkpoint_prefix\": \"te.\"}}");
    vkd_text_encoder_config_t cfg;
    CHECK(T, vkd_text_encoder_config_from_json(j, "prior.json", &cfg) == VKD_OK, "nested: %s",
          vkd_last_error());
    CHECK(T, cfg.act == VKD_ACT_GELU && cfg.layers == 23 && strcmp(cfg.prefix, "te.") == 0,
          "nested config fields");
    cJSON_Delete(j);
}

// A small random model (no file needed) for the id checks.
static void t_bad_ids(tctx_t *T) {
    vkd_text_encoder_config_t cfg = {.vocab_size = 50, .width = 8, .mlp_width = 16, .layers = 1,
                                     .heads = 2, .context_length = 6, .act = VKD_ACT_QUICK_GELU,
                                     .ln_eps = 1e-5f, .causal = 1};
    snprintf(cfg.prefix, sizeof cfg.prefix, "p.");
    // Build a weights file with every tensor the config asks for.
    char tmpdir[] = "/tmp/vkd_golden_clip_XXXXXX", path[256];
    CHECK(T, mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/tiny.safetensors", tmpdir);
    static float data[50 * 8];
    uint64_t r = T->seed;
    test_fill_normal(&r, data, 50 * 8, 0.5f);
    vkd_st_writer_t *wr;
    CHECK_OK(T, vkd_st_writer_create(&wr));
    static const struct { const char *name; int nd; int64_t s0, s1; } ts[] = {
        {"text_model.embeddings.token_embedding.weight", 2, 50, 8},
        {"text_model.embeddings.position_embedding.weight", 2, 6, 8},
        {"text_model.encoder.layers.0.layer_norm1.weight", 1, 8, 0},
        {"text_model.encoder.layers.0.layer_norm1.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.self_attn.q_proj.weight", 2, 8, 8},
        {"text_model.encoder.layers.0.self_attn.q_proj.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.self_attn.k_proj.weight", 2, 8, 8},
        {"text_model.encoder.layers.0.self_attn.k_proj.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.self_attn.v_proj.weight", 2, 8, 8},
        {"text_model.encoder.layers.0.self_attn.v_proj.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.self_attn.out_proj.weight", 2, 8, 8},
        {"text_model.encoder.layers.0.self_attn.out_proj.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.layer_norm2.weight", 1, 8, 0},
        {"text_model.encoder.layers.0.layer_norm2.bias", 1, 8, 0},
        {"text_model.encoder.layers.0.mlp.fc1.weight", 2, 16, 8},
        {"text_model.encoder.layers.0.mlp.fc1.bias", 1, 16, 0},
        {"text_model.encoder.layers.0.mlp.fc2.weight", 2, 8, 16},
        {"text_model.encoder.layers.0.mlp.fc2.bias", 1, 8, 0},
        {"text_model.final_layer_norm.weight", 1, 8, 0},
        {"text_model.final_layer_norm.bias", 1, 8, 0},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        char name[160];
        snprintf(name, sizeof name, "p.%s", ts[i].name);
        CHECK_OK(T, vkd_st_writer_add(wr, name, VKD_DT_F32, ts[i].nd,
                                      (int64_t[]){ts[i].s0, ts[i].s1}, data));
    }
    CHECK_OK(T, vkd_st_write(wr, path));
    vkd_st_writer_free(wr);
    vkd_weights_t *w;
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_text_encoder_t *te;
    CHECK_OK(T, vkd_text_encoder_load(&cfg, w, T->cpu_arena, &te));
    vkd_weights_close(w);
    unlink(path);
    rmdir(tmpdir);
    vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, 2 * 6 * 8);
    int32_t ids[12] = {48, 3, 49, 0, 0, 0, 48, 7, 7, 49, 0, 0};
    int eot[2];
    CHECK_OK(T, vkd_text_encoder_forward(te, out, VKD_BUF_NONE, eot, ids, 2, 6, T->cpu_arena));
    CHECK(T, eot[0] == 2 && eot[1] == 3, "eot at %d, %d", eot[0], eot[1]);
    ids[8] = 50;
    vkd_status_t s = vkd_text_encoder_forward(te, out, VKD_BUF_NONE, eot, ids, 2, 6, T->cpu_arena);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "token id 50") &&
                 strstr(vkd_last_error(), "sequence 1, position 2"),
          "id = vocab_size rejected: %s", vkd_last_error());
    ids[8] = -1;
    s = vkd_text_encoder_forward(te, out, VKD_BUF_NONE, eot, ids, 2, 6, T->cpu_arena);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "-1"), "negative id: %s",
          vkd_last_error());
    ids[8] = 7;
    s = vkd_text_encoder_forward(te, out, VKD_BUF_NONE, eot, ids, 1, 7, T->cpu_arena);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "L = 7"), "L > context: %s",
          vkd_last_error());
    vkd_buf_t small = test_buf(T, T->cpu_arena, NULL, 8);
    s = vkd_text_encoder_forward(te, small, VKD_BUF_NONE, eot, ids, 2, 6, T->cpu_arena);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "out holds"), "small out: %s",
          vkd_last_error());
    vkd_text_encoder_free(te);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_golden_clip_cpu), TCASE_VK(t_golden_clip_vk), TCASE_CPU(t_bad_weights),
    TCASE_CPU(t_bad_config),      TCASE_CPU(t_bad_ids),
};
TEST_MAIN(cases)
