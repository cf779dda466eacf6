// The VAE model: config parsing, loading the checkpoint's tensors into the modules, and the
// public calls, each run as a planning dry run (to size the activation arena) followed by
// the real run.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "vae_impl.h"

// ---- config ---------------------------------------------------------------------------------
static vkd_status_t bad(const char *what, const char *key, const char *want) {
    return vkd_fail(VKD_ERR_INVALID, "%s: ddconfig.%s must be %s", what, key, want);
}

static int is_int(const cJSON *v, int lo, int hi) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

static vkd_status_t get_int(const cJSON *o, const char *what, const char *key, int lo, int hi,
                            int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return vkd_fail(VKD_ERR_INVALID, "%s: ddconfig.%s is required", what, key);
    if (!is_int(v, lo, hi)) {
        char want[64];
        snprintf(want, sizeof want, "an integer in [%d, %d]", lo, hi);
        return bad(what, key, want);
    }
    *out = (int)v->valuedouble;
    return VKD_OK;
}

// A boolean that must have the neutral value `want` when present.
static vkd_status_t need_bool(const cJSON *o, const char *what, const char *key, int want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return VKD_OK;
    if (!cJSON_IsBool(v)) return bad(what, key, "true or false");
    if (cJSON_IsTrue(v) != want)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: ddconfig.%s = %s is not supported (only %s)",
                        what, key, want ? "false" : "true", want ? "true" : "false");
    return VKD_OK;
}

static int known(const char *key, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0) return 1;
    return 0;
}

static vkd_status_t parse_dd(const cJSON *dd, const char *what, vkd_vae_config_t *c) {
    static const char *const KEYS[] = {
        "ch", "ch_mult", "num_res_blocks", "attn_resolutions", "z_channels", "in_channels",
        "out_ch", "resolution", "double_z", "dropout", "resamp_with_conv", "use_linear_attn",
        "attn_type", "tanh_out", "give_pre_end"};
    if (!cJSON_IsObject(dd))
        return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.ddconfig (an object) is required",
                        what);
    for (const cJSON *it = dd->child; it; it = it->next)
        if (!known(it->string, KEYS, sizeof KEYS / sizeof KEYS[0]))
            return vkd_fail(VKD_ERR_INVALID, "%s: ddconfig.%s is not an AutoencoderKL setting "
                            "vkdream knows; remove it or check its spelling", what, it->string);
    const int BIG = 1 << 16;
    VKD_TRY(get_int(dd, what, "ch", VAE_GN_GROUPS, BIG, &c->ch));
    VKD_TRY(get_int(dd, what, "num_res_blocks", 1, VAE_MAX_RES - 1, &c->num_res_blocks));
    VKD_TRY(get_int(dd, what, "z_channels", 1, BIG, &c->z_channels));
    VKD_TRY(get_int(dd, what, "in_channels", 1, BIG, &c->in_channels));
    VKD_TRY(get_int(dd, what, "out_ch", 1, BIG, &c->out_ch));
    VKD_TRY(get_int(dd, what, "resolution", 1, BIG, &c->resolution));
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(dd, "ch_mult");
    const int nm = cJSON_IsArray(m) ? cJSON_GetArraySize(m) : 0;
    if (nm < 1 || nm > VKD_VAE_MAX_LEVELS)
        return bad(what, "ch_mult", "a list of 1 to 8 positive integers");
    c->n_levels = 0;
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!is_int(e, 1, 64)) return bad(what, "ch_mult", "a list of integers in [1, 64]");
        c->ch_mult[c->n_levels++] = (int)e->valuedouble;
    }
    for (int i = 0; i < c->n_levels; i++) {
        if (c->ch * c->ch_mult[i] % VAE_GN_GROUPS)
            return vkd_fail(VKD_ERR_INVALID, "%s: ch * ch_mult[%d] = %d is not a multiple of the "
                            "32 GroupNorm groups", what, i, c->ch * c->ch_mult[i]);
        c->attn_level[i] = 0;
    }
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(dd, "attn_resolutions");
    if (ar && !cJSON_IsArray(ar)) return bad(what, "attn_resolutions", "a list of integers");
    for (const cJSON *e = ar ? ar->child : NULL; e; e = e->next) {
        int lv = 0;
        while (lv < c->n_levels && (!is_int(e, 1, BIG) || (c->resolution >> lv) != e->valuedouble))
            lv++;
        if (lv == c->n_levels)
            return bad(what, "attn_resolutions", "a list of level resolutions (resolution / 2^level)");
        c->attn_level[lv] = 1;
    }
    const cJSON *dz = cJSON_GetObjectItemCaseSensitive(dd, "double_z");
    if (dz && !cJSON_IsBool(dz)) return bad(what, "double_z", "true or false");
    c->double_z = dz ? cJSON_IsTrue(dz) : 1;
    if (!c->double_z) // AutoencoderKL asserts it: the posterior needs mean and logvar
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: ddconfig.double_z = false is not supported by "
                        "AutoencoderKL", what);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(dd, "dropout");
    if (dr && !(cJSON_IsNumber(dr) && dr->valuedouble >= 0 && dr->valuedouble < 1))
        return bad(what, "dropout", "a number in [0, 1)");
    VKD_TRY(need_bool(dd, what, "resamp_with_conv", 1));
    VKD_TRY(need_bool(dd, what, "use_linear_attn", 0));
    VKD_TRY(need_bool(dd, what, "tanh_out", 0));
    VKD_TRY(need_bool(dd, what, "give_pre_end", 0));
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(dd, "attn_type");
    if (at && !(cJSON_IsString(at) && strcmp(at->valuestring, "vanilla") == 0))
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: ddconfig.attn_type must be \"vanilla\"", what);
    return VKD_OK;
}

vkd_status_t vkd_vae_config_from_json(const cJSON *obj, const char *what, vkd_vae_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(obj)) return vkd_fail(VKD_ERR_INVALID, "%s: a VAE config must be a JSON object", what);
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "constructor_args");
    if (!cJSON_IsObject(args))
        return vkd_fail(VKD_ERR_INVALID, "%s: \"constructor_args\" (an object) is required", what);
    static const char *const KEYS[] = {"ddconfig", "embed_dim", "lossconfig", "ckpt_path",
                                       "ignore_keys", "image_key", "colorize_nlabels", "monitor"};
    for (const cJSON *it = args->child; it; it = it->next)
        if (!known(it->string, KEYS, sizeof KEYS / sizeof KEYS[0]))
            return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.%s is not an AutoencoderKL "
                            "setting vkdream knows; remove it or check its spelling", what,
                            it->string);
    VKD_TRY(parse_dd(cJSON_GetObjectItemCaseSensitive(args, "ddconfig"), what, cfg));
    const cJSON *ed = cJSON_GetObjectItemCaseSensitive(args, "embed_dim");
    if (!is_int(ed, 1, 1 << 16))
        return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.embed_dim (a positive integer) is "
                        "required", what);
    cfg->embed_dim = (int)ed->valuedouble;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(obj, "checkpoint_prefix");
    const char *p = "first_stage_model.";
    if (pre) {
        if (!cJSON_IsString(pre) || strlen(pre->valuestring) >= VKD_VAE_MAX_PREFIX)
            return vkd_fail(VKD_ERR_INVALID, "%s: checkpoint_prefix must be a string shorter than "
                            "%d bytes", what, VKD_VAE_MAX_PREFIX);
        p = pre->valuestring;
    }
    snprintf(cfg->prefix, sizeof cfg->prefix, "%s", p);
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(obj, "num_parameters");
    if (np) {
        const int64_t want = vkd_vae_param_count(cfg);
        if (!cJSON_IsNumber(np) || np->valuedouble != (double)want)
            return vkd_fail(VKD_ERR_INVALID, "%s: num_parameters does not match the %lld the "
                            "config implies; the config is inconsistent", what, (long long)want);
    }
    return VKD_OK;
}

vkd_status_t vkd_vae_config_parse(const char *json_text, const char *what, vkd_vae_config_t *cfg) {
    cJSON *root = cJSON_Parse(json_text);
    if (!root) return vkd_fail(VKD_ERR_FORMAT, "%s: not valid JSON", what);
    vkd_status_t s = vkd_vae_config_from_json(root, what, cfg);
    cJSON_Delete(root);
    return s;
}

vkd_status_t vkd_vae_config_load(const char *path, vkd_vae_config_t *cfg) {
    char *text;
    size_t n;
    VKD_TRY(vkd_file_read_all(path, &text, &n));
    vkd_status_t s = vkd_vae_config_parse(text, path, cfg);
    free(text);
    return s;
}

// ---- architecture walk (shared by counting and loading) -------------------------------------
// One visitor over every tensor: conv (k > 0) with bias, or a norm (k = 0) of `out` channels.
typedef struct walker walker_t;
struct walker {
    vkd_status_t (*lin)(walker_t *w, vae_lin_t *p, int64_t out, int64_t in, int k, const char *name);
    int64_t count;
    vkd_vae_t *v;
    vkd_weights_t *weights;
};

#define LIN(p, o, i, k, ...)                                                                   \
    do {                                                                                       \
        char nm_[192];                                                                         \
        snprintf(nm_, sizeof nm_, __VA_ARGS__);                                                \
        VKD_TRY(W->lin(W, p, o, i, k, nm_));                                                   \
    } while (0)

static vkd_status_t walk_res(walker_t *W, vae_res_t *r, int ci, int co, const char *base) {
    r->cin = ci, r->cout = co;
    LIN(&r->norm1, ci, 0, 0, "%s.norm1", base);
    LIN(&r->conv1, co, ci, 3, "%s.conv1", base);
    LIN(&r->norm2, co, 0, 0, "%s.norm2", base);
    LIN(&r->conv2, co, co, 3, "%s.conv2", base);
    if (ci != co) LIN(&r->nin, co, ci, 1, "%s.nin_shortcut", base);
    return VKD_OK;
}

static vkd_status_t walk_attn(walker_t *W, vae_attn_t *a, int c, const char *base) {
    a->c = c;
    LIN(&a->norm, c, 0, 0, "%s.norm", base);
    LIN(&a->q, c, c, 1, "%s.q", base);
    LIN(&a->k, c, c, 1, "%s.k", base);
    LIN(&a->v, c, c, 1, "%s.v", base);
    LIN(&a->proj, c, c, 1, "%s.proj_out", base);
    return VKD_OK;
}

static vkd_status_t walk_mid(walker_t *W, vae_coder_t *m, int c, const char *side) {
    char b[96];
    snprintf(b, sizeof b, "%s.mid.block_1", side);
    VKD_TRY(walk_res(W, &m->mid1, c, c, b));
    snprintf(b, sizeof b, "%s.mid.attn_1", side);
    VKD_TRY(walk_attn(W, &m->mid_attn, c, b));
    snprintf(b, sizeof b, "%s.mid.block_2", side);
    return walk_res(W, &m->mid2, c, c, b);
}

static vkd_status_t walk_level(walker_t *W, vae_level_t *lv, int n_res, int attn, int resample,
                               int cin, int cout, const char *base, const char *resname) {
    char b[128];
    lv->n_res = n_res, lv->has_attn = attn, lv->has_resample = resample;
    lv->cin = cin, lv->cout = cout;
    for (int j = 0; j < n_res; j++) {
        snprintf(b, sizeof b, "%s.block.%d", base, j);
        VKD_TRY(walk_res(W, &lv->res[j], j == 0 ? cin : cout, cout, b));
        if (!attn) continue;
        snprintf(b, sizeof b, "%s.attn.%d", base, j);
        VKD_TRY(walk_attn(W, &lv->attn[j], cout, b));
    }
    if (resample) LIN(&lv->resample, cout, cout, 3, "%s.%s.conv", base, resname);
    return VKD_OK;
}

static vkd_status_t walk(walker_t *W, const vkd_vae_config_t *c, vae_coder_t *enc,
                         vae_coder_t *dec, vae_lin_t *quant, vae_lin_t *post) {
    const int L = c->n_levels, zc = 2 * c->z_channels, top = c->ch * c->ch_mult[L - 1];
    char b[64];
    LIN(&enc->conv_in, c->ch, c->in_channels, 3, "encoder.conv_in");
    for (int i = 0; i < L; i++) {
        snprintf(b, sizeof b, "encoder.down.%d", i);
        const int cin = c->ch * (i ? c->ch_mult[i - 1] : 1);
        VKD_TRY(walk_level(W, &enc->lv[i], c->num_res_blocks, c->attn_level[i], i != L - 1, cin,
                           c->ch * c->ch_mult[i], b, "downsample"));
    }
    VKD_TRY(walk_mid(W, enc, top, "encoder"));
    LIN(&enc->norm_out, top, 0, 0, "encoder.norm_out");
    LIN(&enc->conv_out, zc, top, 3, "encoder.conv_out");
    LIN(quant, 2 * c->embed_dim, zc, 1, "quant_conv");
    LIN(post, c->z_channels, c->embed_dim, 1, "post_quant_conv");
    LIN(&dec->conv_in, top, c->z_channels, 3, "decoder.conv_in");
    VKD_TRY(walk_mid(W, dec, top, "decoder"));
    for (int i = L - 1; i >= 0; i--) {
        snprintf(b, sizeof b, "decoder.up.%d", i);
        const int cin = c->ch * c->ch_mult[i == L - 1 ? L - 1 : i + 1];
        VKD_TRY(walk_level(W, &dec->lv[i], c->num_res_blocks + 1, c->attn_level[i], i != 0, cin,
                           c->ch * c->ch_mult[i], b, "upsample"));
    }
    LIN(&dec->norm_out, c->ch * c->ch_mult[0], 0, 0, "decoder.norm_out");
    LIN(&dec->conv_out, c->out_ch, c->ch * c->ch_mult[0], 3, "decoder.conv_out");
    return VKD_OK;
}

static vkd_status_t count_lin(walker_t *w, vae_lin_t *p, int64_t out, int64_t in, int k,
                              const char *name) {
    (void)p, (void)name;
    w->count += k ? out * in * k * k + out : 2 * out;
    return VKD_OK;
}

int64_t vkd_vae_param_count(const vkd_vae_config_t *cfg) {
    vae_coder_t *enc = calloc(2, sizeof *enc);
    if (!enc) return -1;
    vae_lin_t q, p;
    walker_t w = {.lin = count_lin};
    vkd_status_t s = walk(&w, cfg, enc, enc + 1, &q, &p);
    free(enc);
    return s == VKD_OK ? w.count : -1;
}

static vkd_status_t load_lin(walker_t *w, vae_lin_t *p, int64_t out, int64_t in, int k,
                             const char *name) {
    const char *pre = w->v->cfg.prefix;
    vkd_arena_t *a = w->v->params;
    if (k) {
        const int64_t shape[4] = {out, in, k, k};
        VKD_TRY(vkd_weights_loadf(w->weights, a, &p->w, 4, shape, "%s%s.weight", pre, name));
    } else {
        VKD_TRY(vkd_weights_loadf(w->weights, a, &p->w, 1, &out, "%s%s.weight", pre, name));
    }
    return vkd_weights_loadf(w->weights, a, &p->b, 1, &out, "%s%s.bias", pre, name);
}

// ---- model ------------------------------------------------------------------------------------
vkd_status_t vkd_vae_create(vkd_backend_t *be, const vkd_vae_config_t *cfg, vkd_weights_t *w,
                            vkd_vae_t **out) {
    *out = NULL;
    if (!be || !cfg || !w) return vkd_fail(VKD_ERR_INVALID, "vkd_vae_create: NULL argument");
    vkd_vae_t *v = calloc(1, sizeof *v);
    if (!v) return vkd_fail(VKD_ERR_NOMEM, "vae: out of host memory");
    v->be = be;
    v->cfg = *cfg;
    vkd_status_t s = vkd_arena_create(be, "vae params", vkd_weights_arena_bytes(w, cfg->prefix) + VKD_BUF_ALIGN, &v->params);
    walker_t wk = {.lin = load_lin, .v = v, .weights = w};
    if (s == VKD_OK) s = walk(&wk, &v->cfg, &v->enc, &v->dec, &v->quant, &v->post_quant);
    if (s == VKD_OK) s = vkd_backend_sync(be);
    if (s != VKD_OK) {
        vkd_fail_ctx(s, "loading the VAE from %s", vkd_st_path(vkd_weights_file(w)));
        vkd_vae_destroy(v);
        return s;
    }
    *out = v;
    return VKD_OK;
}

void vkd_vae_destroy(vkd_vae_t *v) {
    if (!v) return;
    if (v->acts || v->params) vkd_backend_sync(v->be);
    vkd_arena_destroy(v->acts);
    vkd_arena_destroy(v->params);
    free(v);
}

const vkd_vae_config_t *vkd_vae_get_config(const vkd_vae_t *v) { return &v->cfg; }
int vkd_vae_factor(const vkd_vae_t *v) { return 1 << (v->cfg.n_levels - 1); }

void vkd_vae_set_tap(vkd_vae_t *v, vkd_vae_tap_fn tap, void *user) {
    v->tap = tap;
    v->tap_user = user;
}

// ---- calls -------------------------------------------------------------------------------------
typedef enum { JOB_ENCODE, JOB_DECODE, JOB_POSTERIOR } job_kind_t;

typedef struct {
    job_kind_t kind;
    vkd_buf_t out, in, mean, logvar, std, sample, noise;
    int H, W; // of `in` (encode/decode) or of the latents (posterior)
} job_t;

static vkd_status_t job_run(vae_fw_t *f, const job_t *j) {
    if (j->kind == JOB_ENCODE) return vae_encoder_forward(f, j->out, j->in, j->H, j->W);
    if (j->kind == JOB_DECODE) return vae_decoder_forward(f, j->out, j->in, j->H, j->W);
    return vae_posterior_forward(f, j->mean, j->logvar, j->std, j->sample, j->in, j->noise,
                                 j->H * j->W);
}

static vkd_status_t plan(vkd_vae_t *v, const job_t *j, int B, vae_fw_t *f) {
    *f = (vae_fw_t){.v = v, .be = v->be, .plan = 1, .B = B};
    VKD_TRY(job_run(f, j));
    return VKD_OK;
}

static size_t plan_bytes(const vae_fw_t *f) { return 2 * vae_round_bytes(f->main_n) + f->peak; }

vkd_status_t vkd_vae_acts_bytes(vkd_vae_t *v, int B, int H, int W, size_t *bytes) {
    vae_fw_t f;
    const job_t je = {.kind = JOB_ENCODE, .H = H, .W = W};
    VKD_TRY(plan(v, &je, B, &f));
    size_t n = plan_bytes(&f);
    const int fac = vkd_vae_factor(v);
    const job_t jd = {.kind = JOB_DECODE, .H = H / fac, .W = W / fac};
    VKD_TRY(plan(v, &jd, B, &f));
    *bytes = n > plan_bytes(&f) ? n : plan_bytes(&f);
    return VKD_OK;
}

// Checks a caller's buffer: present, on the model's backend, big enough.
static vkd_status_t need(const vkd_vae_t *v, vkd_buf_t b, size_t n, const char *call,
                         const char *arg, int optional) {
    if (!vkd_buf_present(b)) {
        if (optional) return VKD_OK;
        return vkd_fail(VKD_ERR_INVALID, "%s: %s is required", call, arg);
    }
    if (vkd_arena_backend(b.arena) != v->be)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s is on another backend than the model", call, arg);
    if (vkd_buf_count(b) < n)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s holds %zu floats, %zu needed", call, arg,
                        vkd_buf_count(b), n);
    return VKD_OK;
}

static vkd_status_t run(vkd_vae_t *v, const job_t *j, int B) {
    vae_fw_t f;
    VKD_TRY(plan(v, j, B, &f));
    const size_t bytes = plan_bytes(&f);
    if (!v->acts || vkd_arena_capacity(v->acts) < bytes) {
        // Recorded work may still read the old arena: finish it before freeing.
        if (v->acts) VKD_TRY(vkd_backend_sync(v->be));
        vkd_arena_destroy(v->acts);
        v->acts = NULL;
        VKD_TRY(vkd_arena_create(v->be, "vae acts", bytes, &v->acts));
        VKD_TRY(vkd_arena_alloc_bytes(v->acts, vkd_arena_capacity(v->acts), &v->acts_base));
    }
    const size_t main_n = f.main_n;
    f = (vae_fw_t){.v = v, .be = v->be, .B = B, .base = v->acts_base, .main_n = main_n};
    return job_run(&f, j);
}

static vkd_status_t check_dims(const vkd_vae_t *v, const char *call, int B, int H, int W, int mult) {
    if (B < 1 || H < 1 || W < 1 || H % mult || W % mult || (int64_t)B * H * W > (1LL << 40))
        return vkd_fail(VKD_ERR_INVALID, "%s: B = %d, %d x %d: sizes must be positive%s", call, B,
                        H, W, mult > 1 ? " multiples of the VAE's downsampling factor" : "");
    (void)v;
    return VKD_OK;
}

vkd_status_t vkd_vae_encode(vkd_vae_t *v, vkd_buf_t moments, vkd_buf_t image, int B, int H, int W) {
    const char *call = "vkd_vae_encode";
    const int f = vkd_vae_factor(v), hw = (H / f) * (W / f);
    VKD_TRY(check_dims(v, call, B, H, W, f));
    VKD_TRY(need(v, image, (size_t)B * v->cfg.in_channels * H * W, call, "image", 0));
    VKD_TRY(need(v, moments, (size_t)B * 2 * v->cfg.embed_dim * hw, call, "moments", 0));
    const job_t j = {.kind = JOB_ENCODE, .out = moments, .in = image, .H = H, .W = W};
    return run(v, &j, B);
}

vkd_status_t vkd_vae_decode(vkd_vae_t *v, vkd_buf_t image, vkd_buf_t latents, int B, int h, int w) {
    const char *call = "vkd_vae_decode";
    const int f = vkd_vae_factor(v);
    VKD_TRY(check_dims(v, call, B, h, w, 1));
    VKD_TRY(need(v, latents, (size_t)B * v->cfg.embed_dim * h * w, call, "latents", 0));
    VKD_TRY(need(v, image, (size_t)B * v->cfg.out_ch * h * f * w * f, call, "image", 0));
    const job_t j = {.kind = JOB_DECODE, .out = image, .in = latents, .H = h, .W = w};
    return run(v, &j, B);
}

static vkd_status_t posterior(vkd_vae_t *v, const char *call, vkd_buf_t mean, vkd_buf_t logvar,
                              vkd_buf_t std, vkd_buf_t sample, vkd_buf_t noise, vkd_buf_t moments,
                              int B, int h, int w) {
    VKD_TRY(check_dims(v, call, B, h, w, 1));
    const size_t n = (size_t)B * v->cfg.embed_dim * h * w;
    VKD_TRY(need(v, moments, 2 * n, call, "moments", 0));
    VKD_TRY(need(v, mean, n, call, "mean", 1));
    VKD_TRY(need(v, logvar, n, call, "logvar", 1));
    VKD_TRY(need(v, std, n, call, "std", 1));
    VKD_TRY(need(v, sample, n, call, "sample", 1));
    VKD_TRY(need(v, noise, n, call, "noise", !vkd_buf_present(sample)));
    const job_t j = {.kind = JOB_POSTERIOR, .in = moments, .mean = mean, .logvar = logvar,
                     .std = std, .sample = sample, .noise = noise, .H = h, .W = w};
    return run(v, &j, B);
}

vkd_status_t vkd_vae_posterior(vkd_vae_t *v, vkd_buf_t mean, vkd_buf_t logvar, vkd_buf_t std,
                               vkd_buf_t moments, int B, int h, int w) {
    return posterior(v, "vkd_vae_posterior", mean, logvar, std, VKD_BUF_NONE, VKD_BUF_NONE,
                     moments, B, h, w);
}

vkd_status_t vkd_vae_mean(vkd_vae_t *v, vkd_buf_t mean, vkd_buf_t moments, int B, int h, int w) {
    VKD_TRY(need(v, mean, 0, "vkd_vae_mean", "mean", 0));
    return posterior(v, "vkd_vae_mean", mean, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE,
                     VKD_BUF_NONE, moments, B, h, w);
}

vkd_status_t vkd_vae_sample(vkd_vae_t *v, vkd_buf_t sample, vkd_buf_t moments, vkd_buf_t noise,
                            int B, int h, int w) {
    VKD_TRY(need(v, sample, 0, "vkd_vae_sample", "sample", 0));
    return posterior(v, "vkd_vae_sample", VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, sample, noise,
                     moments, B, h, w);
}
