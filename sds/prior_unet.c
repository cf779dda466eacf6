// A trained prior: tokenizer + CLIP-style text encoder + LDM UNet from a prior file
// (prior.h), running on a backend. Prompts become host copies of their text context
// (L, D), so a condition handle costs no device memory and a batch of any mix of prompts
// is one upload; the UNet sees x (B, C, H, W), float timesteps and context (B, L, D).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "prior_impl.h"
#include "text_encoder.h"
#include "tokenizer.h"
#include "unet.h"
#include "weights.h"

typedef struct {
    vkd_backend_t *be;
    vkd_tokenizer_t *tok;
    vkd_text_encoder_config_t te_cfg;
    vkd_text_encoder_t *te;
    vkd_unet_t *unet;
    vkd_arena_t *te_params;  // text encoder weights
    vkd_arena_t *te_scratch; // one prompt's encoding: its output + the encoder's temporaries
    vkd_arena_t *io;         // x, out, context of the largest batch so far
    int io_batch;            // that batch
    int L;                   // token sequence length
    int pad_with_eos;
    char path[512];          // the prior file, for messages
} unet_prior_t;

typedef struct {
    float *ctx; // (L, D) host copy of the text context
} unet_cond_t;

static size_t aligned(size_t n_floats) {
    size_t b = n_floats * sizeof(float);
    return (b + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

static vkd_status_t unet_encode(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t *c) {
    unet_prior_t *u = p->impl;
    const int L = u->L, D = u->te_cfg.width;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    unet_cond_t *uc = calloc(1, sizeof *uc);
    if (uc) uc->ctx = malloc(sizeof(float) * (size_t)L * D);
    c->impl = uc;
    if (!ids || !uc || !uc->ctx) {
        free(ids);
        return vkd_fail(VKD_ERR_NOMEM, "prompt encoding: out of host memory");
    }
    vkd_status_t s = VKD_OK;
    if (prompt) {
        // CLIP's BPE would silently drop what does not fit; a prompt whose end is ignored
        // is a surprise, so it is an error for every tokenizer.
        int n = L - 2;
        s = vkd_tokenize(u->tok, prompt, ids, &n);
        if (s != VKD_OK && n > L - 2)
            s = vkd_fail(VKD_ERR_INVALID, "prompt \"%.200s\" has %d tokens; this prior's text "
                         "encoder takes at most %d: shorten it", prompt, n, L - 2);
    }
    if (s == VKD_OK)
        s = prompt ? vkd_tokenize_padded(u->tok, prompt, L, u->pad_with_eos, ids, NULL)
                   : vkd_tokenize_unconditional(u->tok, L, u->pad_with_eos, ids, NULL);
    vkd_arena_reset(u->te_scratch);
    vkd_buf_t out = VKD_BUF_NONE;
    if (s == VKD_OK) s = vkd_arena_alloc(u->te_scratch, (size_t)L * D, &out);
    if (s == VKD_OK)
        s = vkd_text_encoder_forward(u->te, out, VKD_BUF_NONE, NULL, ids, 1, L, u->te_scratch);
    if (s == VKD_OK) s = vkd_buf_read(out, uc->ctx, sizeof(float) * (size_t)L * D);
    vkd_arena_reset(u->te_scratch);
    free(ids);
    return s;
}

static void unet_cond_free(vkd_prior_cond_t *c) {
    unet_cond_t *uc = c->impl;
    if (uc) free(uc->ctx);
    free(uc);
    c->impl = NULL;
}

static vkd_status_t unet_predict(vkd_prior_t *p, float *out, const float *x_t, const int *t,
                                 const vkd_prior_cond_t *const *cond, int B) {
    unet_prior_t *u = p->impl;
    const int C = p->info.channels, H = p->info.height, W = p->info.width;
    const int L = u->L, D = u->te_cfg.width;
    const size_t nx = (size_t)B * C * H * W, nc = (size_t)B * L * D;
    if (B > u->io_batch) {
        // Grow the io arena and the UNet's activations for the larger batch (once).
        vkd_arena_destroy(u->io);
        u->io = NULL;
        u->io_batch = 0;
        VKD_TRY(vkd_backend_sync(u->be));
        VKD_TRY(vkd_arena_create(u->be, "prior io", 2 * aligned(nx) + aligned(nc), &u->io));
        VKD_TRY(vkd_unet_reserve(u->unet, B, H, W, L));
        u->io_batch = B;
    }
    vkd_arena_reset(u->io);
    vkd_buf_t bx, bo, bc;
    VKD_TRY(vkd_arena_alloc(u->io, nx, &bx));
    VKD_TRY(vkd_arena_alloc(u->io, nx, &bo));
    VKD_TRY(vkd_arena_alloc(u->io, nc, &bc));
    float *ctx = malloc(sizeof(float) * nc);
    float *ts = malloc(sizeof(float) * (size_t)B);
    vkd_status_t s = ctx && ts ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "prior: out of host memory");
    if (s == VKD_OK) {
        for (int b = 0; b < B; b++) {
            memcpy(ctx + (size_t)b * L * D, ((const unet_cond_t *)cond[b]->impl)->ctx,
                   sizeof(float) * (size_t)L * D);
            ts[b] = (float)t[b];
        }
        s = vkd_buf_write(bx, x_t, sizeof(float) * nx);
    }
    if (s == VKD_OK) s = vkd_buf_write(bc, ctx, sizeof(float) * nc);
    if (s == VKD_OK) s = vkd_unet_forward(u->unet, bo, bx, ts, bc, B, H, W, L);
    if (s == VKD_OK) s = vkd_buf_read(bo, out, sizeof(float) * nx);
    free(ctx), free(ts);
    return s;
}

static void unet_destroy(vkd_prior_t *p) {
    unet_prior_t *u = p->impl;
    if (!u) return;
    if (u->be) vkd_backend_sync(u->be); // nothing recorded may still use the arenas
    vkd_unet_destroy(u->unet);
    vkd_text_encoder_free(u->te);
    vkd_arena_destroy(u->io);
    vkd_arena_destroy(u->te_scratch);
    vkd_arena_destroy(u->te_params);
    vkd_tokenizer_free(u->tok);
    free(u);
    p->impl = NULL;
}

static const vkd_prior_ops_t UNET_OPS = {unet_encode, unet_cond_free, unet_predict, unet_destroy};

// A file named by key `key` of root, relative to dir.
static vkd_status_t file_key(const cJSON *root, const char *key, const char *path, const char *dir,
                             char *out, size_t cap) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(it) || !it->valuestring[0])
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"%s\" must name a file (relative to the "
                        "prior file)", path, key);
    int n = it->valuestring[0] == '/' ? snprintf(out, cap, "%s", it->valuestring)
                                      : snprintf(out, cap, "%s/%s", dir, it->valuestring);
    if (n < 0 || (size_t)n >= cap)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"%s\" is too long a path", path, key);
    return VKD_OK;
}

// A config the sub-parsers call invalid is a bad prior file: report it as such (same text).
static vkd_status_t as_format(vkd_status_t s) {
    if (s != VKD_ERR_INVALID) return s;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", vkd_last_error());
    return vkd_fail(VKD_ERR_FORMAT, "%s", msg);
}

// The keys of the file that configure the model, checked against each other.
static vkd_status_t parse_model(vkd_prior_t *p, unet_prior_t *u, const cJSON *root,
                                const char *path, vkd_unet_config_t *ucfg) {
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(root, "prediction");
    if (!cJSON_IsString(pred) || (strcmp(pred->valuestring, "eps") && strcmp(pred->valuestring, "v")))
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"prediction\" must be \"eps\" or \"v\"",
                        path);
    p->info.prediction = strcmp(pred->valuestring, "v") ? VKD_PRED_EPS : VKD_PRED_V;
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(root, "text_encoder");
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(root, "unet");
    char what[600];
    snprintf(what, sizeof what, "prior file %s: \"text_encoder\"", path);
    if (!cJSON_IsObject(te)) return vkd_fail(VKD_ERR_FORMAT, "%s must be an object", what);
    VKD_TRY(as_format(vkd_text_encoder_config_from_json(te, what, &u->te_cfg)));
    snprintf(what, sizeof what, "prior file %s: \"unet\"", path);
    if (!cJSON_IsObject(un)) return vkd_fail(VKD_ERR_FORMAT, "%s must be an object", what);
    VKD_TRY(as_format(vkd_unet_config_from_json(un, what, ucfg)));
    const int unet_v = ucfg->prediction == VKD_UNET_PRED_V;
    if (cJSON_GetObjectItemCaseSensitive(un, "parameterization") &&
        unet_v != (p->info.prediction == VKD_PRED_V))
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"prediction\" is \"%s\" but "
                        "unet.parameterization is \"%s\"", path, pred->valuestring,
                        unet_v ? "v" : "eps");
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(root, "conditioning");
    if (cond && !cJSON_IsNull(cond)) {
        const cJSON *pe = cJSON_GetObjectItemCaseSensitive(cond, "pad_with_eos");
        if (!cJSON_IsObject(cond) || (pe && !cJSON_IsBool(pe)))
            return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"conditioning\" must be an object "
                            "with an optional boolean \"pad_with_eos\"", path);
        u->pad_with_eos = pe && cJSON_IsTrue(pe);
    }
    const vkd_prior_info_t *in = &p->info;
    if (ucfg->in_channels != in->channels || ucfg->out_channels != in->channels)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: image.channels = %d but the UNet has %d "
                        "input and %d output channels", path, in->channels, ucfg->in_channels,
                        ucfg->out_channels);
    const int f = 1 << (ucfg->n_levels - 1);
    if (in->height % f || in->width % f)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: image %dx%d is not divisible by the UNet's "
                        "downsampling factor %d", path, in->height, in->width, f);
    if (u->te_cfg.width != ucfg->context_dim)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: text_encoder.hidden_size = %d but "
                        "unet context_dim = %d", path, u->te_cfg.width, ucfg->context_dim);
    return VKD_OK;
}

// The tokenizer must produce ids the encoder has rows for, in sequences it has positions for.
static vkd_status_t check_tokenizer(unet_prior_t *u, const char *path, const char *tok_path) {
    const int V = vkd_tokenizer_vocab_size(u->tok);
    u->L = vkd_tokenizer_max_length(u->tok);
    if (V > u->te_cfg.vocab_size)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: tokenizer %s has %d tokens but the text "
                        "encoder's vocab_size is %d", path, tok_path, V, u->te_cfg.vocab_size);
    if (u->L > u->te_cfg.context_length)
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: tokenizer %s makes sequences of %d tokens "
                        "but the text encoder has max_position_embeddings = %d", path, tok_path,
                        u->L, u->te_cfg.context_length);
    return VKD_OK;
}

vkd_status_t vkd_prior_unet_init(vkd_prior_t *p, const cJSON *root, const char *path,
                                 const char *dir, vkd_backend_t *be) {
    unet_prior_t *u = calloc(1, sizeof *u);
    if (!u) return vkd_fail(VKD_ERR_NOMEM, "prior file %s: out of host memory", path);
    p->impl = u;
    p->ops = &UNET_OPS;
    u->be = be;
    snprintf(u->path, sizeof u->path, "%s", path);
    char wpath[4096], tpath[4096];
    vkd_unet_config_t ucfg;
    VKD_TRY(file_key(root, "weights", path, dir, wpath, sizeof wpath));
    VKD_TRY(file_key(root, "tokenizer", path, dir, tpath, sizeof tpath));
    VKD_TRY(parse_model(p, u, root, path, &ucfg));
    vkd_status_t s = vkd_tokenizer_load(tpath, &u->tok);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior file %s: tokenizer", path);
    VKD_TRY(check_tokenizer(u, path, tpath));
    vkd_weights_t *w = NULL;
    s = vkd_weights_open(wpath, &w);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior file %s: weights", path);
    s = vkd_arena_create(be, "text encoder params", vkd_text_encoder_param_bytes(&u->te_cfg),
                         &u->te_params);
    if (s == VKD_OK) s = vkd_text_encoder_load(&u->te_cfg, w, u->te_params, &u->te);
    if (s == VKD_OK) s = vkd_unet_create(be, &ucfg, w, &u->unet);
    if (s == VKD_OK) vkd_weights_report_unused(w, "", stderr);
    vkd_weights_close(w);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior file %s", path);
    const size_t scratch = vkd_text_encoder_scratch_bytes(&u->te_cfg, 1, u->L) +
                           aligned((size_t)u->L * u->te_cfg.width) + VKD_BUF_ALIGN;
    VKD_TRY(vkd_arena_create(be, "text encoder scratch", scratch, &u->te_scratch));
    return VKD_OK;
}
