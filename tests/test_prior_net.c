// The trainable prior network (sds/prior_net.h): golden outputs of both halves, agreement
// with the inference modules after save -> reload, finite-difference checks of the full
// training step's gradient for every kind of parameter, and a tiny overfit with AdamW.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"
#include "sds/prior_net.h"
#include "sds/text_encoder.h"
#include "sds/unet.h"
#include "test_util.h"

#define TOL 1e-4

// ---- configs ---------------------------------------------------------------------------------
static const char tiny_unet_json[] =
    "{\"constructor_args\": {\"image_size\": 8, \"in_channels\": 3, \"out_channels\": 3,"
    " \"model_channels\": 32, \"channel_mult\": [1, 2], \"num_res_blocks\": 1,"
    " \"attention_resolutions\": [2], \"num_heads\": 2, \"num_head_channels\": -1,"
    " \"context_dim\": 32, \"use_spatial_transformer\": true, \"legacy\": false}}";

static vkd_text_encoder_config_t tiny_text(void) {
    vkd_text_encoder_config_t c = {.vocab_size = 11, .width = 32, .mlp_width = 64, .layers = 1,
                                   .heads = 2, .context_length = 6, .act = VKD_ACT_QUICK_GELU,
                                   .ln_eps = 1e-5f, .causal = 1};
    snprintf(c.prefix, sizeof c.prefix, "%s", VKD_TEXT_ENCODER_PREFIX);
    return c;
}

// Every parameter replaced by a random value of the scale a trained net has (the fresh
// init zeroes the output layers, which would leave most gradients exactly zero).
static void randomize(vkd_prior_net_t *n, uint64_t seed) {
    float *p = vkd_prior_net_params(n).host; // (P) CPU backend
    uint64_t st = seed;
    for (int i = 0; i < vkd_prior_net_n_tensors(n); i++) {
        const vkd_prior_net_tensor_t *t = vkd_prior_net_tensor(n, i);
        float *d = p + t->offset;
        if (t->ndim == 1) {
            const int is_norm_w = (strstr(t->name, "norm") && strstr(t->name, ".weight")) ||
                                  strstr(t->name, "in_layers.0.weight") ||
                                  strstr(t->name, "out_layers.0.weight") ||
                                  strstr(t->name, "out.0.weight");
            test_fill_uniform(&st, d, t->count, is_norm_w ? 0.8f : -0.2f, is_norm_w ? 1.2f : 0.2f);
        } else if (t->no_decay) {
            test_fill_uniform(&st, d, t->count, -1.0f, 1.0f); // embeddings
        } else {
            const float a = 1.7f / sqrtf((float)(t->count / (size_t)t->shape[0]));
            test_fill_uniform(&st, d, t->count, -a, a);
        }
    }
}

typedef struct {
    int B, H, W, L;
    float *x, *t, *target; // (B, 3, H, W), (B), (B, 3, H, W)
    int32_t *ids;          // (B, L)
} batch_t;

static batch_t make_batch(uint64_t seed, int B, int H, int W, int L, int vocab) {
    batch_t b = {.B = B, .H = H, .W = W, .L = L};
    const size_t n = (size_t)B * 3 * H * W;
    b.x = test_alloc(n), b.target = test_alloc(n), b.t = test_alloc((size_t)B);
    b.ids = calloc((size_t)B * L, sizeof(int32_t));
    uint64_t st = seed;
    test_fill_normal(&st, b.x, n, 1.0f);
    test_fill_normal(&st, b.target, n, 1.0f);
    for (int i = 0; i < B; i++) b.t[i] = (float)(37 + 311 * i % 1000);
    for (int i = 0; i < B * L; i++) b.ids[i] = (int32_t)((i * 7 + 3) % vocab);
    return b;
}

static void free_batch(batch_t *b) {
    free(b->x), free(b->t), free(b->target), free(b->ids);
}

// ---- golden halves -----------------------------------------------------------------------------
// The golden text encoder (width 64) and pixel UNet (context_dim 64) fit together: their
// weights are merged into one file and loaded into one net. Each half is then checked
// against its own golden output through vkd_prior_net_encode / _forward_ctx (the UNet's
// golden context is an input of its own, not the text encoder's output), and the full
// pipeline against the inference modules loading the net's saved file.
static vkd_status_t merge(const char *a, const char *b, const char *dst) {
    const char *src[2] = {a, b};
    vkd_safetensors_t *st[2] = {NULL, NULL};
    vkd_st_writer_t *w = NULL;
    float *bufs[2048];
    int nb = 0;
    vkd_status_t s = vkd_st_writer_create(&w);
    for (int f = 0; f < 2 && s == VKD_OK; f++) {
        s = vkd_st_open(src[f], &st[f]);
        for (int i = 0; s == VKD_OK && i < vkd_st_count(st[f]) && nb < 2048; i++) {
            const vkd_st_tensor_t *t = vkd_st_get(st[f], i);
            float *d = malloc(vkd_st_numel(t) * sizeof(float) + 4);
            bufs[nb++] = d;
            s = d ? vkd_st_to_f32(t, d, vkd_st_numel(t)) : VKD_ERR_NOMEM;
            if (s == VKD_OK) s = vkd_st_writer_add(w, t->name, VKD_DT_F32, t->ndim, t->shape, d);
        }
    }
    if (s == VKD_OK) s = vkd_st_write(w, dst);
    vkd_st_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    vkd_st_close(st[0]);
    vkd_st_close(st[1]);
    return s;
}

typedef struct {
    char dir[64], path[128];
} tmp_t;

static int tmp_make(tctx_t *T, tmp_t *t, const char *file) {
    strcpy(t->dir, "/tmp/vkd_prior_net_XXXXXX");
    CHECK(T, mkdtemp(t->dir) != NULL, "mkdtemp failed");
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, file);
    return t->dir[0] != 0;
}

static void tmp_clean(tmp_t *t) {
    unlink(t->path);
    rmdir(t->dir);
}

// Inference modules loaded from `path`; pred (B, 3, H, W) for the batch.
static void infer(tctx_t *T, const vkd_text_encoder_config_t *tc, const vkd_unet_config_t *uc,
                  const char *path, const batch_t *b, float *pred) {
    vkd_weights_t *w = NULL;
    CHECK_OK(T, vkd_weights_open(path, &w));
    vkd_unet_t *u = NULL;
    vkd_text_encoder_t *te = NULL;
    vkd_arena_t *tp = NULL;
    vkd_status_t s = vkd_unet_create(T->cpu, uc, w, &u);
    if (s == VKD_OK) s = vkd_arena_create(T->cpu, "te", vkd_text_encoder_param_bytes(tc), &tp);
    if (s == VKD_OK) s = vkd_text_encoder_load(tc, w, tp, &te);
    vkd_weights_close(w);
    const size_t nctx = (size_t)b->B * b->L * tc->width, nx = (size_t)b->B * 3 * b->H * b->W;
    vkd_buf_t ctx = test_buf(T, T->cpu_arena, NULL, nctx);
    vkd_buf_t x = test_buf(T, T->cpu_arena, b->x, nx), out = test_buf(T, T->cpu_arena, NULL, nx);
    vkd_arena_t *scratch = T->cpu_arena;
    if (s == VKD_OK) s = vkd_text_encoder_forward(te, ctx, VKD_BUF_NONE, NULL, b->ids, b->B, b->L, scratch);
    if (s == VKD_OK) s = vkd_unet_forward(u, out, x, b->t, ctx, b->B, b->H, b->W, b->L);
    if (s == VKD_OK) memcpy(pred, out.host, nx * sizeof(float));
    CHECK(T, s == VKD_OK, "inference: %s", vkd_last_error());
    vkd_text_encoder_free(te);
    vkd_unet_destroy(u);
    if (tp) vkd_arena_destroy(tp);
}

static void golden_halves(tctx_t *T) {
    char dir[1024], a[1200], b[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    snprintf(a, sizeof a, "%s/clip_text_tiny.config.json", dir);
    CHECK_OK(T, vkd_text_encoder_config_load(a, &tc));
    snprintf(a, sizeof a, "%s/unet_pix_tiny.config.json", dir);
    CHECK_OK(T, vkd_unet_config_load(a, &uc));
    tmp_t tm, ts;
    if (!tmp_make(T, &tm, "merged.safetensors") || !tmp_make(T, &ts, "saved.safetensors")) return;
    snprintf(a, sizeof a, "%s/clip_text_tiny.weights.safetensors", dir);
    snprintf(b, sizeof b, "%s/unet_pix_tiny.weights.safetensors", dir);
    vkd_prior_net_t *n = NULL;
    vkd_status_t s = merge(a, b, tm.path);
    if (s == VKD_OK) s = vkd_prior_net_create(T->cpu, &tc, &uc, 1, &n);
    if (s == VKD_OK) s = vkd_prior_net_load(n, tm.path);
    tmp_clean(&tm);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    if (s != VKD_OK) goto done;
    // Text half: golden ids (2, 77) -> last_hidden_state.
    vkd_safetensors_t *io = NULL;
    snprintf(a, sizeof a, "%s/clip_text_tiny.io.safetensors", dir);
    if (vkd_st_open(a, &io) == VKD_OK) {
        size_t nh;
        float *ref = test_golden_f32(T, io, "out.last_hidden_state", &nh);
        const vkd_st_tensor_t *ti = vkd_st_find(io, "in.ids");
        int64_t ids64[2 * 77];
        int32_t ids[2 * 77];
        if (ref && ti && vkd_st_to_i64(ti, ids64, 2 * 77) == VKD_OK) {
            for (int i = 0; i < 2 * 77; i++) ids[i] = (int32_t)ids64[i];
            float *got = test_alloc(nh);
            double t0 = test_now_ms();
            s = vkd_prior_net_encode(n, got, ids, 2, 77);
            CHECK(T, s == VKD_OK, "encode: %s", vkd_last_error());
            printf("  text half: %.1f ms\n", test_now_ms() - t0);
            if (s == VKD_OK) test_compare(T, "text out.last_hidden_state", got, ref, nh, TOL);
            free(got);
        }
        free(ref);
        vkd_st_close(io);
    }
    // UNet half: golden x, timesteps, context -> eps.
    snprintf(a, sizeof a, "%s/unet_pix_tiny.io.safetensors", dir);
    if (vkd_st_open(a, &io) == VKD_OK) {
        size_t nx, nc, ne;
        float *x = test_golden_f32(T, io, "in.x", &nx), *ctx = test_golden_f32(T, io, "in.context", &nc);
        float *eps = test_golden_f32(T, io, "out.eps", &ne);
        const vkd_st_tensor_t *tt = vkd_st_find(io, "in.timesteps");
        int64_t ti[2];
        if (x && ctx && eps && tt && vkd_st_to_i64(tt, ti, 2) == VKD_OK) {
            const float t[2] = {(float)ti[0], (float)ti[1]};
            float *got = test_alloc(ne);
            double t0 = test_now_ms();
            s = vkd_prior_net_forward_ctx(n, got, x, t, ctx, 2, 32, 32, (int)(nc / (2 * 64)));
            CHECK(T, s == VKD_OK, "forward_ctx: %s", vkd_last_error());
            printf("  unet half: %.1f ms\n", test_now_ms() - t0);
            if (s == VKD_OK) test_compare(T, "unet out.eps", got, eps, ne, TOL);
            free(got);
        }
        free(x), free(ctx), free(eps);
        vkd_st_close(io);
    }
    // Save -> the inference loaders -> same prediction as the training forward.
    static const char *const meta[] = {"trainer", "test_prior_net", "step", "0"};
    CHECK_OK(T, vkd_prior_net_save(n, vkd_prior_net_params(n), ts.path, meta, 2));
    batch_t bt = make_batch(T->seed, 2, 16, 16, 9, tc.vocab_size);
    float *p_train = test_alloc((size_t)2 * 3 * 16 * 16), *p_inf = test_alloc((size_t)2 * 3 * 16 * 16);
    s = vkd_prior_net_forward(n, p_train, bt.x, bt.t, bt.ids, 2, 16, 16, 9);
    CHECK(T, s == VKD_OK, "forward: %s", vkd_last_error());
    infer(T, &tc, &uc, ts.path, &bt, p_inf);
    if (s == VKD_OK) test_compare(T, "training forward vs inference (golden weights)", p_train, p_inf, (size_t)2 * 3 * 16 * 16, TOL);
    free(p_train), free(p_inf);
    free_batch(&bt);
done:
    tmp_clean(&ts);
    vkd_prior_net_free(n);
}

// The SD1 and SD2 golden UNets (two res blocks per level, four levels, attention at three;
// SD2: use_linear_in_transformer and num_head_channels) through the training forward,
// paired with the golden text encoder (width 64 = their context_dim).
static void golden_unets(tctx_t *T) {
    char dir[1024], a[1200], b[1200];
    if (!test_golden_dir(dir, sizeof dir)) return;
    static const char *const names[] = {"unet_sd1_tiny", "unet_sd2_tiny"};
    vkd_text_encoder_config_t tc;
    snprintf(a, sizeof a, "%s/clip_text_tiny.config.json", dir);
    CHECK_OK(T, vkd_text_encoder_config_load(a, &tc));
    for (int k = 0; k < 2; k++) {
        vkd_unet_config_t uc;
        snprintf(a, sizeof a, "%s/%s.config.json", dir, names[k]);
        CHECK_OK(T, vkd_unet_config_load(a, &uc));
        tmp_t tm;
        if (!tmp_make(T, &tm, "merged.safetensors")) return;
        snprintf(a, sizeof a, "%s/clip_text_tiny.weights.safetensors", dir);
        snprintf(b, sizeof b, "%s/%s.weights.safetensors", dir, names[k]);
        vkd_prior_net_t *n = NULL;
        vkd_status_t s = merge(a, b, tm.path);
        if (s == VKD_OK) s = vkd_prior_net_create(T->cpu, &tc, &uc, 1, &n);
        if (s == VKD_OK) s = vkd_prior_net_load(n, tm.path);
        tmp_clean(&tm);
        vkd_safetensors_t *io = NULL;
        snprintf(a, sizeof a, "%s/%s.io.safetensors", dir, names[k]);
        if (s == VKD_OK) s = vkd_st_open(a, &io);
        CHECK(T, s == VKD_OK, "%s: %s", names[k], vkd_last_error());
        if (s != VKD_OK) {
            vkd_prior_net_free(n);
            return;
        }
        size_t nx, nc, ne;
        float *x = test_golden_f32(T, io, "in.x", &nx), *ctx = test_golden_f32(T, io, "in.context", &nc);
        float *eps = test_golden_f32(T, io, "out.eps", &ne);
        const vkd_st_tensor_t *tt = vkd_st_find(io, "in.timesteps");
        int64_t ti[2];
        if (x && ctx && eps && tt && vkd_st_to_i64(tt, ti, 2) == VKD_OK) {
            const float t[2] = {(float)ti[0], (float)ti[1]};
            float *got = test_alloc(ne);
            s = vkd_prior_net_forward_ctx(n, got, x, t, ctx, 2, 16, 16, (int)(nc / (2 * 64)));
            CHECK(T, s == VKD_OK, "%s forward_ctx: %s", names[k], vkd_last_error());
            snprintf(a, sizeof a, "%s out.eps", names[k]);
            if (s == VKD_OK) test_compare(T, a, got, eps, ne, TOL);
            free(got);
        }
        free(x), free(ctx), free(eps);
        vkd_st_close(io);
        vkd_prior_net_free(n);
    }
}

// ---- fresh nets, save/reload, init -----------------------------------------------------------
static vkd_status_t tiny_net(tctx_t *T, uint64_t seed, vkd_prior_net_t **n,
                             vkd_text_encoder_config_t *tc, vkd_unet_config_t *uc) {
    (void)T;
    *tc = tiny_text();
    VKD_TRY(vkd_unet_config_parse(tiny_unet_json, "tiny unet", uc));
    return vkd_prior_net_create(T->cpu, tc, uc, seed, n);
}

static void save_reload(tctx_t *T) {
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    vkd_prior_net_t *n = NULL, *n2 = NULL;
    CHECK_OK(T, tiny_net(T, 5, &n, &tc, &uc));
    randomize(n, T->seed);
    tmp_t tm;
    if (!tmp_make(T, &tm, "net.safetensors")) goto done;
    batch_t bt = make_batch(T->seed + 1, 3, 8, 8, 5, tc.vocab_size);
    const size_t np = (size_t)3 * 3 * 8 * 8;
    float *a = test_alloc(np), *b = test_alloc(np), *c = test_alloc(np);
    vkd_status_t s = vkd_prior_net_save(n, vkd_prior_net_params(n), tm.path, NULL, 0);
    if (s == VKD_OK) s = vkd_prior_net_forward(n, a, bt.x, bt.t, bt.ids, 3, 8, 8, 5);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    if (s == VKD_OK) infer(T, &tc, &uc, tm.path, &bt, b);
    if (s == VKD_OK) test_compare(T, "training forward vs inference (saved net)", a, b, np, TOL);
    double mx = 0;
    for (size_t i = 0; i < np; i++) mx = fmax(mx, fabs(a[i]));
    CHECK(T, mx > 1e-2, "prediction is trivially small (%g): the check proves nothing", mx);
    // A second net with another seed, loaded from the file, predicts the same.
    s = tiny_net(T, 99, &n2, &tc, &uc);
    if (s == VKD_OK) s = vkd_prior_net_load(n2, tm.path);
    if (s == VKD_OK) s = vkd_prior_net_forward(n2, c, bt.x, bt.t, bt.ids, 3, 8, 8, 5);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    if (s == VKD_OK) test_compare(T, "reloaded net", c, a, np, 1e-6);
    free(a), free(b), free(c);
    free_batch(&bt);
    tmp_clean(&tm);
done:
    vkd_prior_net_free(n);
    vkd_prior_net_free(n2);
}

// Fresh init: deterministic per seed, zero_module layers zero, scales as documented,
// names and parameter count those of the inference side.
static void init_and_table(tctx_t *T) {
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    vkd_prior_net_t *n = NULL, *m = NULL;
    CHECK_OK(T, tiny_net(T, 7, &n, &tc, &uc));
    vkd_status_t s = tiny_net(T, 7, &m, &tc, &uc);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    const size_t P = vkd_prior_net_param_count(n);
    CHECK(T, s == VKD_OK && memcmp(vkd_prior_net_params(n).host, vkd_prior_net_params(m).host,
                                   P * sizeof(float)) == 0, "same seed, different parameters");
    int64_t total = 0, unet = 0;
    const float *p = vkd_prior_net_params(n).host;
    for (int i = 0; i < vkd_prior_net_n_tensors(n); i++) {
        const vkd_prior_net_tensor_t *t = vkd_prior_net_tensor(n, i);
        total += (int64_t)t->count;
        if (!strncmp(t->name, uc.prefix, strlen(uc.prefix))) unet += (int64_t)t->count;
        CHECK(T, t->offset % 64 == 0 && t->offset + t->count <= P, "%s misplaced", t->name);
        double mx = 0, sq = 0;
        for (size_t j = 0; j < t->count; j++) mx = fmax(mx, fabs(p[t->offset + j])), sq += (double)p[t->offset + j] * p[t->offset + j];
        const int zero = strstr(t->name, "out_layers.3.") || strstr(t->name, "proj_out.") ||
                         !strncmp(t->name + strlen(uc.prefix), "out.2.", 6);
        if (zero) CHECK(T, mx == 0, "%s should be zero-initialised (max %g)", t->name, mx);
        if (strstr(t->name, "token_embedding"))
            CHECK(T, fabs(sqrt(sq / t->count) - 0.02) < 0.004, "token emb std %g", sqrt(sq / t->count));
        if (strstr(t->name, "time_embed.0.weight"))
            CHECK(T, mx <= 1 / sqrt(32.0) && mx > 0.9 / sqrt(32.0), "time_embed.0 range %g", mx);
    }
    CHECK(T, unet == vkd_unet_param_count(&uc), "UNet params %lld, reference count %lld",
          (long long)unet, (long long)vkd_unet_param_count(&uc));
    printf("  %d tensors, %lld parameters (%zu floats with alignment gaps)\n",
           vkd_prior_net_n_tensors(n), (long long)total, P);
    vkd_prior_net_free(n);
    vkd_prior_net_free(m);
    // context_dim != text width is refused with a message naming both.
    uc.context_dim = 48;
    CHECK(T, vkd_prior_net_create(T->cpu, &tc, &uc, 1, &n) != VKD_OK, "mismatch accepted");
    CHECK(T, strstr(vkd_last_error(), "context_dim") != NULL, "message: %s", vkd_last_error());
}

// ---- FD check of the full step ------------------------------------------------------------------
typedef struct {
    vkd_prior_net_t *n;
    batch_t *b;
    const float *w;
    float *pred;
} fd_t;

static double fd_loss(fd_t *f) {
    const batch_t *b = f->b;
    if (vkd_prior_net_forward(f->n, f->pred, b->x, b->t, b->ids, b->B, b->H, b->W, b->L) != VKD_OK)
        return NAN;
    const size_t per = (size_t)3 * b->H * b->W;
    double l = 0;
    for (int s = 0; s < b->B; s++) {
        double se = 0;
        for (size_t i = s * per; i < (s + 1) * per; i++) {
            const double d = (double)f->pred[i] - b->target[i];
            se += d * d;
        }
        l += f->w[s] * se / per;
    }
    return l / b->B;
}

static void fd_step(tctx_t *T) {
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    vkd_prior_net_t *n = NULL;
    CHECK_OK(T, tiny_net(T, 3, &n, &tc, &uc));
    randomize(n, T->seed + 2);
    batch_t bt = make_batch(T->seed + 3, 2, 8, 8, 4, tc.vocab_size);
    const float w[2] = {1.0f, 0.5f};
    float *pred = test_alloc((size_t)2 * 3 * 8 * 8);
    fd_t f = {.n = n, .b = &bt, .w = w, .pred = pred};
    double loss = 0;
    float ps[2];
    vkd_status_t s = vkd_prior_net_step(n, bt.x, bt.t, bt.ids, bt.target, w, 2, 8, 8, 4, &loss, ps);
    CHECK(T, s == VKD_OK, "step: %s", vkd_last_error());
    const double l0 = fd_loss(&f);
    CHECK(T, fabs(l0 - loss) <= 1e-6 * fabs(l0), "loss %g vs forward %g", loss, l0);
    static const char *const kinds[] = {
        "input_blocks.1.0.in_layers.2.weight",          // conv
        "input_blocks.1.0.in_layers.0.weight",          // GroupNorm
        "input_blocks.3.0.emb_layers.1.weight",         // timestep projection (64 channels:
                                                        // GroupNorm32 cancels it at 32)
        "input_blocks.2.0.op.weight",                   // downsample conv
        "middle_block.1.norm.bias",                     // transformer GroupNorm
        "middle_block.1.proj_in.weight",                // 1x1 conv in
        "input_blocks.3.1.transformer_blocks.0.norm1.weight", // LayerNorm
        "input_blocks.3.1.transformer_blocks.0.attn1.to_q.weight",
        "input_blocks.3.1.transformer_blocks.0.attn1.to_k.weight",
        "input_blocks.3.1.transformer_blocks.0.attn1.to_v.weight",
        "middle_block.1.transformer_blocks.0.attn2.to_k.weight", // cross-attention
        "middle_block.1.transformer_blocks.0.ff.net.0.proj.weight", // GEGLU
        "middle_block.1.transformer_blocks.0.ff.net.2.bias",
        "output_blocks.0.0.skip_connection.weight",
        "output_blocks.2.2.conv.weight",                // upsample conv (if present)
        "output_blocks.1.1.proj_out.weight",
        "time_embed.0.weight",
        "time_embed.2.bias",
        "out.0.weight",
        "out.2.weight",
        "text_model.embeddings.token_embedding.weight",
        "text_model.embeddings.position_embedding.weight",
        "text_model.encoder.layers.0.self_attn.q_proj.weight",
        "text_model.encoder.layers.0.layer_norm1.bias",
        "text_model.encoder.layers.0.mlp.fc1.weight",
        "text_model.final_layer_norm.weight",
    };
    float *params = vkd_prior_net_params(n).host, *grads = vkd_prior_net_grads(n).host;
    int checked = 0;
    double worst = 0;
    for (size_t k = 0; s == VKD_OK && k < sizeof kinds / sizeof *kinds; k++) {
        const vkd_prior_net_tensor_t *t = NULL;
        for (int i = 0; i < vkd_prior_net_n_tensors(n) && !t; i++) {
            const vkd_prior_net_tensor_t *c = vkd_prior_net_tensor(n, i);
            const size_t lc = strlen(c->name), lk = strlen(kinds[k]);
            if (lc > lk && !strcmp(c->name + lc - lk, kinds[k]) && c->name[lc - lk - 1] == '.')
                t = c;
        }
        if (!t) {
            printf("  (no tensor %s in this config)\n", kinds[k]);
            continue;
        }
        float *p = params + t->offset;
        const float *g = grads + t->offset;
        // The three largest entries: smaller ones drown in the float forward's rounding.
        size_t probe[3] = {0, 0, 0};
        double gmax = 0, top[3] = {-1, -1, -1};
        for (size_t j = 0; j < t->count; j++) {
            const double a = fabs(g[j]);
            if (a > gmax) gmax = a;
            for (int q = 0; q < 3; q++)
                if (a > top[q]) {
                    for (int r = 2; r > q; r--) top[r] = top[r - 1], probe[r] = probe[r - 1];
                    top[q] = a, probe[q] = j;
                    break;
                }
        }
        double err_t = 0;
        for (int q = 0; q < 3; q++) {
            const size_t j = probe[q];
            const float orig = p[j];
            // Several step sizes: float rounding dominates small ones and curvature large
            // ones; the gradient is right when one of them agrees.
            static const float epss[3] = {1e-2f, 3e-3f, 3e-2f};
            double best = INFINITY, num = 0;
            for (int e = 0; e < 3 && best > 1e-2; e++) {
                p[j] = orig + epss[e];
                const double lp = fd_loss(&f);
                p[j] = orig - epss[e];
                const double lm = fd_loss(&f);
                p[j] = orig;
                num = (lp - lm) / (2.0 * epss[e]);
                const double err = fabs(num - g[j]) / (fmax(fabs(num), fabs(g[j])) + 1e-3 * gmax + 1e-12);
                if (err < best) best = err;
            }
            if (best > err_t) err_t = best;
        }
        printf("  %-60s fd rel err %.2g (max|g| %.3g)\n", t->name, err_t, gmax);
        CHECK(T, err_t < 3e-2, "%s: gradient disagrees with finite differences (rel %.3g)",
              t->name, err_t);
        CHECK(T, gmax > 0, "%s: gradient all zero", t->name);
        if (err_t > worst) worst = err_t;
        checked++;
    }
    CHECK(T, checked >= 20, "only %d tensors checked", checked);
    free(pred);
    free_batch(&bt);
    vkd_prior_net_free(n);
}

// ---- overfit -----------------------------------------------------------------------------------
static void overfit(tctx_t *T) {
    vkd_text_encoder_config_t tc;
    vkd_unet_config_t uc;
    vkd_prior_net_t *n = NULL;
    CHECK_OK(T, tiny_net(T, 11, &n, &tc, &uc));
    batch_t bt = make_batch(T->seed + 4, 4, 8, 8, 4, tc.vocab_size);
    const size_t P = vkd_prior_net_param_count(n);
    float *zero = test_alloc(P); // Adam moments start at zero
    vkd_buf_t m = test_buf(T, T->cpu_arena, zero, P), v = test_buf(T, T->cpu_arena, zero, P);
    free(zero);
    vkd_buf_t prm = vkd_prior_net_params(n), grd = vkd_prior_net_grads(n);
    double first = 0, loss = 0;
    const int steps = 40;
    const double t0 = test_now_ms();
    for (int it = 1; it <= steps; it++) {
        CHECK_OK(T, op_fill(T->cpu, grd, 0.0f, P));
        vkd_status_t s = vkd_prior_net_step(n, bt.x, bt.t, bt.ids, bt.target, NULL, 4, 8, 8, 4,
                                            &loss, NULL);
        if (s != VKD_OK) {
            CHECK(T, 0, "step %d: %s", it, vkd_last_error());
            break;
        }
        if (it == 1) first = loss;
        const vkd_adam_t o = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                              .weight_decay = 0.0f, .adamw = 1, .step = it};
        CHECK_OK(T, op_adam_step(T->cpu, prm, m, v, grd, P, &o));
    }
    printf("  overfit: loss %.4g -> %.4g in %d steps (%.0f ms)\n", first, loss, steps,
           test_now_ms() - t0);
    CHECK(T, isfinite(loss) && loss < first / 10, "loss fell only from %g to %g", first, loss);
    free_batch(&bt);
    vkd_prior_net_free(n);
}

static const tcase_t cases[] = {
    TCASE_CPU(golden_halves),
    TCASE_CPU(golden_unets),
    TCASE_CPU(save_reload),
    TCASE_CPU(init_and_table),
    TCASE_CPU(fd_step),
    TCASE_CPU(overfit),
};
TEST_MAIN(cases)
