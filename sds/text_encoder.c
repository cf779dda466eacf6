// The CLIP-style text encoder (see text_encoder.h).
#include "text_encoder.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

typedef struct {
    vkd_buf_t ln1_w, ln1_b;         // (D)
    vkd_buf_t q_w, k_w, v_w, o_w;   // (D, D) [out, in]
    vkd_buf_t q_b, k_b, v_b, o_b;   // (D)
    vkd_buf_t ln2_w, ln2_b;         // (D)
    vkd_buf_t fc1_w, fc1_b;         // (F, D), (F)
    vkd_buf_t fc2_w, fc2_b;         // (D, F), (D)
} text_layer_t;

struct vkd_text_encoder {
    vkd_text_encoder_config_t cfg;
    vkd_backend_t *be;
    vkd_buf_t tok_emb;     // (V, D)
    vkd_buf_t pos_emb;     // (C, D)
    vkd_buf_t lnf_w, lnf_b; // (D)
    text_layer_t *layers;  // (layers)
};

// ---- config -------------------------------------------------------------------------------

static vkd_status_t json_int(const cJSON *o, const char *where, const char *key, int lo, int hi,
                             int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return vkd_fail(VKD_ERR_FORMAT, "%s: text encoder config lacks \"%s\" (an integer)",
                        where, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: text encoder config \"%s\" must be an integer in [%d, %d]", where,
                        key, lo, hi);
    *out = (int)d;
    return VKD_OK;
}

// The object that holds the CLIPTextConfig keys (see the header for the accepted nestings).
static const cJSON *config_body(const cJSON *obj) {
    static const char *const nest[] = {"hf_equivalent_config", "text_encoder"};
    for (int i = 0; i < 2; i++) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, nest[i]);
        if (cJSON_IsObject(c)) return c;
    }
    return obj;
}

vkd_status_t vkd_text_encoder_config_from_json(const cJSON *obj, const char *where,
                                               vkd_text_encoder_config_t *cfg) {
    if (!where) where = "text encoder config";
    if (!cfg) return vkd_fail(VKD_ERR_INVALID, "%s: NULL config output", where);
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(obj))
        return vkd_fail(VKD_ERR_FORMAT, "%s: text encoder config is not a JSON object", where);
    const cJSON *c = config_body(obj);
    // Bounds keep every tensor under 2^31 elements (the ops index with 32 bits) and
    // every size product below in range.
    VKD_TRY(json_int(c, where, "vocab_size", 1, 1 << 24, &cfg->vocab_size));
    VKD_TRY(json_int(c, where, "hidden_size", 1, 1 << 16, &cfg->width));
    VKD_TRY(json_int(c, where, "intermediate_size", 1, 1 << 18, &cfg->mlp_width));
    VKD_TRY(json_int(c, where, "num_hidden_layers", 1, 1024, &cfg->layers));
    VKD_TRY(json_int(c, where, "num_attention_heads", 1, 1 << 16, &cfg->heads));
    VKD_TRY(json_int(c, where, "max_position_embeddings", 1, 1 << 16, &cfg->context_length));
    if (cfg->width % cfg->heads != 0)
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: hidden_size %d is not a multiple of num_attention_heads %d", where,
                        cfg->width, cfg->heads);
    if ((int64_t)cfg->vocab_size * cfg->width > INT32_MAX ||
        (int64_t)cfg->mlp_width * cfg->width > INT32_MAX)
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: vocab_size x hidden_size or intermediate_size x hidden_size "
                        "exceeds 2^31 elements", where);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "quick_gelu") == 0)
        cfg->act = VKD_ACT_QUICK_GELU;
    else if (cJSON_IsString(act) && strcmp(act->valuestring, "gelu") == 0)
        cfg->act = VKD_ACT_GELU;
    else
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: text encoder config \"hidden_act\" must be \"quick_gelu\" or "
                        "\"gelu\"%s%s%s", where, cJSON_IsString(act) ? " (got \"" : "",
                        cJSON_IsString(act) ? act->valuestring : "",
                        cJSON_IsString(act) ? "\")" : "");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_eps");
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble <= 0.1))
        return vkd_fail(VKD_ERR_FORMAT,
                        "%s: text encoder config \"layer_norm_eps\" must be a number in "
                        "(0, 0.1]", where);
    cfg->ln_eps = (float)eps->valuedouble;
    const cJSON *causal = cJSON_GetObjectItemCaseSensitive(c, "causal");
    if (causal && !cJSON_IsBool(causal))
        return vkd_fail(VKD_ERR_FORMAT, "%s: \"causal\" must be true or false", where);
    cfg->causal = causal ? cJSON_IsTrue(causal) : 1;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(c, "checkpoint_prefix");
    if (!pre) pre = cJSON_GetObjectItemCaseSensitive(obj, "checkpoint_prefix");
    const char *prefix = VKD_TEXT_ENCODER_PREFIX;
    if (pre) {
        if (!cJSON_IsString(pre) || strlen(pre->valuestring) >= sizeof cfg->prefix)
            return vkd_fail(VKD_ERR_FORMAT,
                            "%s: \"checkpoint_prefix\" must be a string of fewer than %zu bytes",
                            where, sizeof cfg->prefix);
        prefix = pre->valuestring;
    }
    snprintf(cfg->prefix, sizeof cfg->prefix, "%s", prefix);
    return VKD_OK;
}

vkd_status_t vkd_text_encoder_config_load(const char *path, vkd_text_encoder_config_t *cfg) {
    char *text = NULL;
    size_t n = 0;
    VKD_TRY(vkd_file_read_all(path, &text, &n));
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!root)
        return vkd_fail(VKD_ERR_FORMAT, "%s: not valid JSON (text encoder config)", path);
    vkd_status_t s = vkd_text_encoder_config_from_json(root, path, cfg);
    cJSON_Delete(root);
    return s;
}

// ---- weights ------------------------------------------------------------------------------

static size_t padded(size_t n_floats) {
    size_t b = n_floats * sizeof(float);
    return (b + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
}

size_t vkd_text_encoder_param_bytes(const vkd_text_encoder_config_t *cfg) {
    const size_t V = (size_t)cfg->vocab_size, D = (size_t)cfg->width, F = (size_t)cfg->mlp_width;
    size_t layer = 4 * (padded(D * D) + padded(D)) + 4 * padded(D) + padded(F * D) + padded(F) +
                   padded(D * F) + padded(D);
    return padded(V * D) + padded((size_t)cfg->context_length * D) + (size_t)cfg->layers * layer +
           2 * padded(D);
}

size_t vkd_text_encoder_scratch_bytes(const vkd_text_encoder_config_t *cfg, int B, int L) {
    const size_t N = (size_t)B * (size_t)L;
    return 5 * padded(N * (size_t)cfg->width) + padded(N * (size_t)cfg->mlp_width) +
           2 * padded(N);
}

static vkd_status_t load_layer(const vkd_text_encoder_config_t *c, vkd_weights_t *w,
                               vkd_arena_t *a, int i, text_layer_t *l) {
    const int64_t D = c->width, F = c->mlp_width;
    const int64_t dd[2] = {D, D}, d1[1] = {D}, fd[2] = {F, D}, f1[1] = {F}, df[2] = {D, F};
    char p[256];
    snprintf(p, sizeof p, "%stext_model.encoder.layers.%d.", c->prefix, i);
    static const char *const proj[4] = {"q", "k", "v", "out"};
    vkd_buf_t *pw[4] = {&l->q_w, &l->k_w, &l->v_w, &l->o_w};
    vkd_buf_t *pb[4] = {&l->q_b, &l->k_b, &l->v_b, &l->o_b};
    VKD_TRY(vkd_weights_loadf(w, a, &l->ln1_w, 1, d1, "%slayer_norm1.weight", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->ln1_b, 1, d1, "%slayer_norm1.bias", p));
    for (int k = 0; k < 4; k++) {
        VKD_TRY(vkd_weights_loadf(w, a, pw[k], 2, dd, "%sself_attn.%s_proj.weight", p, proj[k]));
        VKD_TRY(vkd_weights_loadf(w, a, pb[k], 1, d1, "%sself_attn.%s_proj.bias", p, proj[k]));
    }
    VKD_TRY(vkd_weights_loadf(w, a, &l->ln2_w, 1, d1, "%slayer_norm2.weight", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->ln2_b, 1, d1, "%slayer_norm2.bias", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->fc1_w, 2, fd, "%smlp.fc1.weight", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->fc1_b, 1, f1, "%smlp.fc1.bias", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->fc2_w, 2, df, "%smlp.fc2.weight", p));
    VKD_TRY(vkd_weights_loadf(w, a, &l->fc2_b, 1, d1, "%smlp.fc2.bias", p));
    return VKD_OK;
}

static vkd_status_t load_all(vkd_text_encoder_t *te, vkd_weights_t *w, vkd_arena_t *a) {
    const vkd_text_encoder_config_t *c = &te->cfg;
    const int64_t D = c->width;
    const int64_t vd[2] = {c->vocab_size, D}, cd[2] = {c->context_length, D}, d1[1] = {D};
    VKD_TRY(vkd_weights_loadf(w, a, &te->tok_emb, 2, vd,
                              "%stext_model.embeddings.token_embedding.weight", c->prefix));
    VKD_TRY(vkd_weights_loadf(w, a, &te->pos_emb, 2, cd,
                              "%stext_model.embeddings.position_embedding.weight", c->prefix));
    for (int i = 0; i < c->layers; i++) VKD_TRY(load_layer(c, w, a, i, &te->layers[i]));
    VKD_TRY(vkd_weights_loadf(w, a, &te->lnf_w, 1, d1, "%stext_model.final_layer_norm.weight",
                              c->prefix));
    VKD_TRY(vkd_weights_loadf(w, a, &te->lnf_b, 1, d1, "%stext_model.final_layer_norm.bias",
                              c->prefix));
    return VKD_OK;
}

vkd_status_t vkd_text_encoder_load(const vkd_text_encoder_config_t *cfg, vkd_weights_t *w,
                                   vkd_arena_t *params, vkd_text_encoder_t **out) {
    if (!out) return vkd_fail(VKD_ERR_INVALID, "vkd_text_encoder_load: NULL output");
    *out = NULL;
    if (!cfg || !w || !params)
        return vkd_fail(VKD_ERR_INVALID, "vkd_text_encoder_load: NULL config, weights or arena");
    if (cfg->layers < 1 || cfg->width < 1 || cfg->heads < 1 || cfg->width % cfg->heads ||
        cfg->vocab_size < 1 || cfg->context_length < 1 || cfg->mlp_width < 1 ||
        (cfg->act != VKD_ACT_QUICK_GELU && cfg->act != VKD_ACT_GELU))
        return vkd_fail(VKD_ERR_INVALID,
                        "vkd_text_encoder_load: invalid config (parse it with "
                        "vkd_text_encoder_config_from_json)");
    vkd_text_encoder_t *te = calloc(1, sizeof *te);
    text_layer_t *layers = te ? calloc((size_t)cfg->layers, sizeof *layers) : NULL;
    if (!layers) {
        free(te);
        return vkd_fail(VKD_ERR_NOMEM, "text encoder: out of host memory");
    }
    te->cfg = *cfg;
    te->be = vkd_arena_backend(params);
    te->layers = layers;
    vkd_status_t s = load_all(te, w, params);
    if (s != VKD_OK) {
        vkd_text_encoder_free(te);
        return vkd_fail_ctx(s, "text encoder");
    }
    *out = te;
    return VKD_OK;
}

void vkd_text_encoder_free(vkd_text_encoder_t *te) {
    if (!te) return;
    free(te->layers);
    free(te);
}

const vkd_text_encoder_config_t *vkd_text_encoder_get_config(const vkd_text_encoder_t *te) {
    return &te->cfg;
}

// ---- forward ------------------------------------------------------------------------------

// y (M, N) = x (M, K) W^T + b (+ y when accumulate: the residual add folded into the GEMM).
static vkd_status_t linear(vkd_backend_t *be, vkd_buf_t y, vkd_buf_t x, vkd_buf_t W, vkd_buf_t b,
                           int M, int N, int K, int accumulate) {
    vkd_gemm_t g = {.M = M, .N = N, .K = K, .trans_b = 1, .alpha = 1.0f,
                    .beta = accumulate ? 1.0f : 0.0f, .batch = 1};
    return op_gemm_forward(be, y, x, W, b, &g);
}

typedef struct {
    vkd_buf_t x;           // (N, D) the residual stream
    vkd_buf_t h;           // (N, D) normalised input, then the attention output
    vkd_buf_t q, k, v;     // (N, D) = (B, L, H, D/H)
    vkd_buf_t f;           // (N, F)
    vkd_buf_t mean, rstd;  // (N)
} scratch_t;

static vkd_status_t layer_forward(vkd_text_encoder_t *te, const text_layer_t *l,
                                  const scratch_t *s, int B, int L) {
    const vkd_text_encoder_config_t *c = &te->cfg;
    vkd_backend_t *be = te->be;
    const int N = B * L, D = c->width, F = c->mlp_width, H = c->heads, Dh = D / H;
    VKD_TRY(op_layernorm_forward(be, s->h, s->mean, s->rstd, s->x, l->ln1_w, l->ln1_b, N, D,
                                 c->ln_eps));
    VKD_TRY(linear(be, s->q, s->h, l->q_w, l->q_b, N, D, D, 0));
    VKD_TRY(linear(be, s->k, s->h, l->k_w, l->k_b, N, D, D, 0));
    VKD_TRY(linear(be, s->v, s->h, l->v_w, l->v_b, N, D, D, 0));
    // Heads are read in place from the (B, L, H, Dh) projections and written back to
    // (B, L, H, Dh) = (N, D): no transposes.
    const int64_t sb = (int64_t)L * D, sh = Dh, sl = D;
    vkd_attention_t a = {.B = B, .H = H, .Lq = L, .Lk = L, .D = Dh, .Dv = Dh,
                         .scale = 1.0f / sqrtf((float)Dh), .causal = c->causal,
                         .sq_b = sb, .sq_h = sh, .sq_l = sl, .sk_b = sb, .sk_h = sh, .sk_l = sl,
                         .sv_b = sb, .sv_h = sh, .sv_l = sl, .so_b = sb, .so_h = sh, .so_l = sl};
    VKD_TRY(op_attention_forward(be, s->h, s->q, s->k, s->v, &a));
    VKD_TRY(linear(be, s->x, s->h, l->o_w, l->o_b, N, D, D, 1));
    VKD_TRY(op_layernorm_forward(be, s->h, s->mean, s->rstd, s->x, l->ln2_w, l->ln2_b, N, D,
                                 c->ln_eps));
    VKD_TRY(linear(be, s->f, s->h, l->fc1_w, l->fc1_b, N, F, D, 0));
    VKD_TRY(op_unary_forward(be, s->f, s->f, (size_t)N * F, c->act));
    VKD_TRY(linear(be, s->x, s->f, l->fc2_w, l->fc2_b, N, D, F, 1));
    return VKD_OK;
}

// x (B L, D) = pos_emb[l] + tok_emb[ids[b, l]]: a broadcast copy of the position rows,
// then one accumulating copy per run of equal ids (runs may span rows: x is contiguous).
static vkd_status_t embed(vkd_text_encoder_t *te, vkd_buf_t x, const int32_t *ids, int B,
                          int L) {
    const int64_t D = te->cfg.width, N = (int64_t)B * L;
    vkd_copy_strided_t pos = {.n = {B, L * D, 1, 1}, .out_stride = {L * D, 1, 0, 0},
                              .inp_stride = {0, 1, 0, 0}};
    VKD_TRY(op_copy_strided(te->be, x, te->pos_emb, &pos));
    for (int64_t f0 = 0; f0 < N;) {
        int64_t f1 = f0 + 1;
        while (f1 < N && ids[f1] == ids[f0]) f1++;
        vkd_copy_strided_t tok = {.n = {f1 - f0, D, 1, 1}, .out_off = f0 * D,
                                  .out_stride = {D, 1, 0, 0}, .inp_off = (int64_t)ids[f0] * D,
                                  .inp_stride = {0, 1, 0, 0}, .accumulate = 1};
        VKD_TRY(op_copy_strided(te->be, x, te->tok_emb, &tok));
        f0 = f1;
    }
    return VKD_OK;
}

static vkd_status_t check_forward_args(const vkd_text_encoder_t *te, vkd_buf_t out,
                                       vkd_buf_t pooled, const int32_t *ids, int B, int L,
                                       vkd_arena_t *scratch) {
    static const char fn[] = "text encoder forward";
    if (!te || !ids || !scratch)
        return vkd_fail(VKD_ERR_INVALID, "%s: NULL encoder, ids or scratch arena", fn);
    const vkd_text_encoder_config_t *c = &te->cfg;
    if (B < 1 || L < 1 || L > c->context_length)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: B = %d sequences of L = %d tokens (need B >= 1 and 1 <= L <= "
                        "max_position_embeddings = %d)", fn, B, L, c->context_length);
    const int64_t N = (int64_t)B * L, widest = c->mlp_width > c->width ? c->mlp_width : c->width;
    if (N * widest > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: B x L = %lld tokens is too many for one call", fn,
                        (long long)N);
    for (int64_t i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return vkd_fail(VKD_ERR_INVALID,
                            "%s: token id %d at (sequence %lld, position %lld) is outside the "
                            "vocabulary [0, %d): was the prompt tokenized for this model?",
                            fn, (int)ids[i], (long long)(i / L), (long long)(i % L),
                            c->vocab_size);
    if (vkd_buf_count(out) < (size_t)(N * c->width))
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: out holds %zu floats, (B, L, D) = (%d, %d, %d) needs %lld", fn,
                        vkd_buf_count(out), B, L, c->width, (long long)(N * c->width));
    if (vkd_buf_present(pooled) && vkd_buf_count(pooled) < (size_t)B * (size_t)c->width)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: pooled holds %zu floats, (B, D) = (%d, %d) needs %d", fn,
                        vkd_buf_count(pooled), B, c->width, B * c->width);
    if (vkd_arena_backend(scratch) != te->be)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: the scratch arena '%s' belongs to another backend than the weights",
                        fn, vkd_arena_name(scratch));
    return VKD_OK;
}

static vkd_status_t alloc_scratch(vkd_arena_t *a, int N, int D, int F, scratch_t *s) {
    vkd_buf_t *nd[5] = {&s->x, &s->h, &s->q, &s->k, &s->v};
    for (int i = 0; i < 5; i++) VKD_TRY(vkd_arena_alloc(a, (size_t)N * D, nd[i]));
    VKD_TRY(vkd_arena_alloc(a, (size_t)N * F, &s->f));
    VKD_TRY(vkd_arena_alloc(a, (size_t)N, &s->mean));
    VKD_TRY(vkd_arena_alloc(a, (size_t)N, &s->rstd));
    return VKD_OK;
}

vkd_status_t vkd_text_encoder_forward(vkd_text_encoder_t *te, vkd_buf_t out, vkd_buf_t pooled,
                                      int *eot_index, const int32_t *ids, int B, int L,
                                      vkd_arena_t *scratch) {
    VKD_TRY(check_forward_args(te, out, pooled, ids, B, L, scratch));
    const vkd_text_encoder_config_t *c = &te->cfg;
    const int N = B * L, D = c->width;
    scratch_t s;
    vkd_status_t st = alloc_scratch(scratch, N, D, c->mlp_width, &s);
    if (st != VKD_OK)
        return vkd_fail_ctx(st, "text encoder forward (B = %d, L = %d) needs %zu bytes of scratch",
                            B, L, vkd_text_encoder_scratch_bytes(c, B, L));
    st = embed(te, s.x, ids, B, L);
    if (st != VKD_OK) return vkd_fail_ctx(st, "text encoder embedding");
    for (int i = 0; i < c->layers; i++) {
        st = layer_forward(te, &te->layers[i], &s, B, L);
        if (st != VKD_OK) return vkd_fail_ctx(st, "text encoder layer %d", i);
    }
    st = op_layernorm_forward(te->be, out, s.mean, s.rstd, s.x, te->lnf_w, te->lnf_b, N, D,
                              c->ln_eps);
    if (st != VKD_OK) return vkd_fail_ctx(st, "text encoder final layer norm");
    for (int b = 0; b < B; b++) {
        int eot = 0; // argmax, first occurrence
        for (int l = 1; l < L; l++)
            if (ids[(size_t)b * L + l] > ids[(size_t)b * L + eot]) eot = l;
        if (eot_index) eot_index[b] = eot;
        if (!vkd_buf_present(pooled)) continue;
        vkd_copy_strided_t row = {.n = {D, 1, 1, 1}, .out_off = (int64_t)b * D,
                                  .out_stride = {1, 0, 0, 0},
                                  .inp_off = ((int64_t)b * L + eot) * D,
                                  .inp_stride = {1, 0, 0, 0}};
        st = op_copy_strided(te->be, pooled, out, &row);
        if (st != VKD_OK) return vkd_fail_ctx(st, "text encoder pooled output");
    }
    return VKD_OK;
}
