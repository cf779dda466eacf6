// UNet config: JSON parsing and validation, the block list it implies, parameter and FLOP
// counts, and the timestep embedding.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "unet_impl.h"

// ---- JSON helpers ---------------------------------------------------------------------------
static vkd_status_t bad(const char *what, const char *key, const char *expect) {
    return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.%s must be %s", what, key, expect);
}

static int is_int(const cJSON *v, int lo, int hi) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

// An integer argument; absent -> def (required when has_def is 0).
static vkd_status_t get_int(const cJSON *args, const char *what, const char *key, int has_def,
                            int def, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!v) {
        if (!has_def)
            return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.%s is required", what, key);
        *out = def;
        return VKD_OK;
    }
    if (!is_int(v, lo, hi)) {
        char expect[64];
        snprintf(expect, sizeof expect, "an integer in [%d, %d]", lo, hi);
        return bad(what, key, expect);
    }
    *out = (int)v->valuedouble;
    return VKD_OK;
}

static vkd_status_t get_bool(const cJSON *args, const char *what, const char *key, int def,
                             int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!v) {
        *out = def;
        return VKD_OK;
    }
    if (!cJSON_IsBool(v)) return bad(what, key, "true or false");
    *out = cJSON_IsTrue(v);
    return VKD_OK;
}

// A setting the engine implements only at one value: anything else is UNSUPPORTED.
static vkd_status_t need_null(const cJSON *args, const char *what, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (v && !cJSON_IsNull(v))
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: constructor_args.%s is not supported (only "
                        "null): vkdream implements the text-conditioned UNet without it", what, key);
    return VKD_OK;
}

static vkd_status_t need_bool(const cJSON *args, const char *what, const char *key, int want) {
    int b = want;
    VKD_TRY(get_bool(args, what, key, want, &b));
    if (b != want)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: constructor_args.%s = %s is not supported "
                        "(only %s)", what, key, b ? "true" : "false", want ? "true" : "false");
    return VKD_OK;
}

// An int or a list of ints; fills n entries (a list must have exactly n).
static vkd_status_t get_int_list(const cJSON *args, const char *what, const char *key, int n,
                                 int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!v) return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.%s is required", what, key);
    if (is_int(v, lo, hi)) {
        for (int i = 0; i < n; i++) out[i] = (int)v->valuedouble;
        return VKD_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) {
        char expect[96];
        snprintf(expect, sizeof expect, "an integer in [%d, %d] or a list of %d of them", lo, hi, n);
        return bad(what, key, expect);
    }
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!is_int(e, lo, hi)) return bad(what, key, "a list of integers in range");
        out[i] = (int)e->valuedouble;
    }
    return VKD_OK;
}

static const char *const KNOWN_ARGS[] = {
    "image_size", "in_channels", "model_channels", "out_channels", "num_res_blocks",
    "attention_resolutions", "dropout", "channel_mult", "conv_resample", "dims", "num_classes",
    "use_checkpoint", "use_fp16", "use_bf16", "num_heads", "num_head_channels",
    "num_heads_upsample", "use_scale_shift_norm", "resblock_updown", "use_new_attention_order",
    "use_spatial_transformer", "transformer_depth", "context_dim", "n_embed", "legacy",
    "disable_self_attentions", "num_attention_blocks", "disable_middle_self_attn",
    "use_linear_in_transformer", "adm_in_channels",
};

static vkd_status_t parse_channel_mult(const cJSON *args, const char *what,
                                       vkd_unet_config_t *cfg) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "channel_mult");
    if (!v) { // the reference's default
        static const int def[] = {1, 2, 4, 8};
        cfg->n_levels = 4;
        memcpy(cfg->channel_mult, def, sizeof def);
        return VKD_OK;
    }
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n < 1 || n > VKD_UNET_MAX_LEVELS) return bad(what, "channel_mult", "a list of 1 to 8 integers");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!is_int(e, 1, 64)) return bad(what, "channel_mult", "a list of integers in [1, 64]");
        cfg->channel_mult[i] = (int)e->valuedouble;
    }
    cfg->n_levels = n;
    return VKD_OK;
}

static vkd_status_t parse_attention(const cJSON *args, const char *what, vkd_unet_config_t *cfg) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "attention_resolutions");
    if (!v) return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.attention_resolutions is required", what);
    if (!cJSON_IsArray(v)) return bad(what, "attention_resolutions", "a list of integers");
    for (const cJSON *e = v->child; e; e = e->next) {
        int level = -1;
        for (int l = 0; l < cfg->n_levels; l++)
            if (is_int(e, 1 << l, 1 << l)) level = l;
        if (level < 0)
            return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.attention_resolutions entry %g "
                            "is no level's downsampling factor (1, 2, ..., %d with %d levels)",
                            what, e->valuedouble, 1 << (cfg->n_levels - 1), cfg->n_levels);
        cfg->attn_level[level] = 1;
    }
    return VKD_OK;
}

static vkd_status_t parse_args(const cJSON *args, const char *what, vkd_unet_config_t *cfg) {
    if (!cJSON_IsObject(args))
        return vkd_fail(VKD_ERR_INVALID, "%s: \"constructor_args\" (an object) is required", what);
    for (const cJSON *it = args->child; it; it = it->next) {
        size_t k = 0, nk = sizeof KNOWN_ARGS / sizeof KNOWN_ARGS[0];
        while (k < nk && strcmp(it->string, KNOWN_ARGS[k]) != 0) k++;
        if (k == nk)
            return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args.%s is not a UNetModel setting "
                            "vkdream knows; remove it or check its spelling", what, it->string);
    }
    const int BIG = 1 << 16;
    VKD_TRY(get_int(args, what, "image_size", 0, 0, 1, BIG, &cfg->image_size));
    VKD_TRY(get_int(args, what, "in_channels", 0, 0, 1, BIG, &cfg->in_channels));
    VKD_TRY(get_int(args, what, "out_channels", 0, 0, 1, BIG, &cfg->out_channels));
    VKD_TRY(get_int(args, what, "model_channels", 0, 0, 1, BIG, &cfg->model_channels));
    VKD_TRY(parse_channel_mult(args, what, cfg));
    VKD_TRY(get_int_list(args, what, "num_res_blocks", cfg->n_levels, 0, VKD_UNET_MAX_RES_BLOCKS,
                         cfg->num_res_blocks));
    VKD_TRY(parse_attention(args, what, cfg));
    VKD_TRY(get_int(args, what, "num_heads", 1, -1, -1, BIG, &cfg->num_heads));
    VKD_TRY(get_int(args, what, "num_head_channels", 1, -1, -1, BIG, &cfg->num_head_channels));
    if (cfg->num_heads == 0 || cfg->num_head_channels == 0 ||
        (cfg->num_heads == -1 && cfg->num_head_channels == -1))
        return vkd_fail(VKD_ERR_INVALID, "%s: constructor_args: set num_heads or "
                        "num_head_channels to a positive value (the other may be -1)", what);
    VKD_TRY(get_int(args, what, "transformer_depth", 1, 1, 1, 64, &cfg->transformer_depth));
    VKD_TRY(get_int(args, what, "context_dim", 0, 0, 1, BIG, &cfg->context_dim));
    VKD_TRY(get_bool(args, what, "use_linear_in_transformer", 0, &cfg->use_linear_in_transformer));
    VKD_TRY(get_bool(args, what, "legacy", 1, &cfg->legacy));
    int ignored = 0, dims = 2;
    VKD_TRY(get_int(args, what, "dims", 1, 2, 1, 3, &dims));
    if (dims != 2)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: constructor_args.dims = %d is not supported "
                        "(only 2-D images)", what, dims);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(args, "dropout");
    if (dr && !(cJSON_IsNumber(dr) && dr->valuedouble >= 0 && dr->valuedouble < 1))
        return bad(what, "dropout", "a number in [0, 1)");
    VKD_TRY(get_bool(args, what, "use_checkpoint", 0, &ignored));
    VKD_TRY(get_bool(args, what, "use_fp16", 0, &ignored));
    VKD_TRY(get_bool(args, what, "use_bf16", 0, &ignored));
    VKD_TRY(get_bool(args, what, "use_new_attention_order", 0, &ignored));
    VKD_TRY(get_int(args, what, "num_heads_upsample", 1, -1, -1, BIG, &ignored));
    VKD_TRY(need_bool(args, what, "use_spatial_transformer", 1));
    VKD_TRY(need_bool(args, what, "conv_resample", 1));
    VKD_TRY(need_bool(args, what, "use_scale_shift_norm", 0));
    VKD_TRY(need_bool(args, what, "resblock_updown", 0));
    VKD_TRY(need_bool(args, what, "disable_middle_self_attn", 0));
    static const char *const nulls[] = {"num_classes", "n_embed", "adm_in_channels",
                                        "disable_self_attentions", "num_attention_blocks"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) VKD_TRY(need_null(args, what, nulls[i]));
    return VKD_OK;
}

// ---- norm_eps ---------------------------------------------------------------------------------
static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

// One entry: "<Kind>(groups=G) eps=X" or a number. kind: "GroupNorm" or "LayerNorm".
static vkd_status_t parse_eps(const cJSON *v, const char *what, const char *kind, float *out) {
    double eps;
    if (cJSON_IsNumber(v)) {
        eps = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring, *e = strstr(s, "eps=");
        if (!strstr(s, kind) || !e)
            return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps.%s = \"%s\" is not a %s with \"eps=\"",
                            what, v->string, s, kind);
        const char *g = strstr(s, "groups=");
        if (g && atoi(g + 7) != UNET_GN_GROUPS)
            return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: norm_eps.%s: only GroupNorm with %d groups "
                            "is supported (\"%s\")", what, v->string, UNET_GN_GROUPS, s);
        char *end;
        eps = strtod(e + 4, &end);
        if (end == e + 4)
            return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps.%s: no number after \"eps=\" in \"%s\"",
                            what, v->string, s);
    } else {
        return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps.%s must be a number or a string", what,
                        v->string);
    }
    if (!(eps > 0 && eps <= 1))
        return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps.%s = %g must be in (0, 1]", what, v->string, eps);
    *out = (float)eps;
    return VKD_OK;
}

static vkd_status_t parse_norm_eps(const cJSON *ne, const char *what, vkd_unet_config_t *cfg) {
    // LDM's fixed values, for configs without norm_eps or entries it leaves out.
    cfg->eps_resblock = 1e-5f, cfg->eps_transformer = 1e-6f, cfg->eps_layernorm = 1e-5f,
    cfg->eps_out = 1e-5f;
    if (!ne) return VKD_OK;
    if (!cJSON_IsObject(ne)) return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps must be an object", what);
    float *slot[4] = {&cfg->eps_resblock, &cfg->eps_transformer, &cfg->eps_layernorm, &cfg->eps_out};
    static const char *const kinds[4] = {"GroupNorm", "GroupNorm", "LayerNorm", "GroupNorm"};
    int seen[4] = {0};
    for (const cJSON *it = ne->child; it; it = it->next) {
        const char *k = it->string;
        int c = -1;
        if (ends_with(k, ".in_layers.*") || ends_with(k, ".out_layers.*")) c = 0;
        else if (ends_with(k, ".norm")) c = 1;
        else if (ends_with(k, ".norm1") || ends_with(k, ".norm2") || ends_with(k, ".norm3")) c = 2;
        else if (strcmp(k, "out.*") == 0 || strcmp(k, "out.0") == 0) c = 3;
        if (c < 0)
            return vkd_fail(VKD_ERR_INVALID, "%s: norm_eps.%s names no norm layer of the UNet "
                            "(expected *.in_layers.*, *.out_layers.*, *.norm, *.norm1..3, out.*)",
                            what, k);
        float eps = 0.0f;
        VKD_TRY(parse_eps(it, what, kinds[c], &eps));
        if (seen[c] && eps != *slot[c])
            return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: norm_eps.%s = %g differs from another "
                            "entry of its kind (%g): per-block epsilons are not supported",
                            what, k, (double)eps, (double)*slot[c]);
        *slot[c] = eps, seen[c] = 1;
    }
    return VKD_OK;
}

vkd_status_t vkd_unet_config_from_json(const cJSON *obj, const char *what, vkd_unet_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (!what) what = "unet config";
    if (!cJSON_IsObject(obj)) return vkd_fail(VKD_ERR_INVALID, "%s: a UNet config must be a JSON object", what);
    VKD_TRY(parse_args(cJSON_GetObjectItemCaseSensitive(obj, "constructor_args"), what, cfg));
    VKD_TRY(parse_norm_eps(cJSON_GetObjectItemCaseSensitive(obj, "norm_eps"), what, cfg));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "parameterization");
    cfg->prediction = VKD_UNET_PRED_EPS;
    if (p) {
        if (cJSON_IsString(p) && strcmp(p->valuestring, "v") == 0) cfg->prediction = VKD_UNET_PRED_V;
        else if (!cJSON_IsString(p) || strcmp(p->valuestring, "eps") != 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED, "%s: parameterization must be \"eps\" or \"v\"", what);
    }
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(obj, "checkpoint_prefix");
    const char *prefix = "model.diffusion_model.";
    if (pre) {
        if (!cJSON_IsString(pre) || strlen(pre->valuestring) >= VKD_UNET_MAX_PREFIX)
            return vkd_fail(VKD_ERR_INVALID, "%s: checkpoint_prefix must be a string of at most "
                            "%d bytes", what, VKD_UNET_MAX_PREFIX - 1);
        prefix = pre->valuestring;
    }
    strcpy(cfg->prefix, prefix);
    unet_arch_t *arch = malloc(sizeof *arch);
    if (!arch) return vkd_fail(VKD_ERR_NOMEM, "%s: out of host memory", what);
    vkd_status_t s = unet_arch_build(cfg, arch);
    int64_t params = 0, tensors = 0;
    if (s == VKD_OK) unet_count(cfg, arch, &params, &tensors);
    free(arch);
    if (s != VKD_OK) return vkd_fail_ctx(s, "%s", what);
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(obj, "num_parameters");
    if (np && !(cJSON_IsNumber(np) && np->valuedouble == (double)params))
        return vkd_fail(VKD_ERR_INVALID, "%s: num_parameters = %.0f but constructor_args imply "
                        "%lld parameters: the config does not describe the same model", what,
                        cJSON_IsNumber(np) ? np->valuedouble : -1.0, (long long)params);
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(obj, "time_embed_dim");
    if (te && !is_int(te, 4 * cfg->model_channels, 4 * cfg->model_channels))
        return vkd_fail(VKD_ERR_INVALID, "%s: time_embed_dim must be 4 * model_channels = %d",
                        what, 4 * cfg->model_channels);
    return VKD_OK;
}

vkd_status_t vkd_unet_config_parse(const char *json_text, const char *what, vkd_unet_config_t *cfg) {
    cJSON *root = cJSON_Parse(json_text);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        return vkd_fail(VKD_ERR_FORMAT, "%s: invalid JSON near \"%.30s\"", what ? what : "unet config",
                        at ? at : "?");
    }
    vkd_status_t s = vkd_unet_config_from_json(root, what, cfg);
    cJSON_Delete(root);
    return s;
}

vkd_status_t vkd_unet_config_load(const char *path, vkd_unet_config_t *cfg) {
    char *text;
    size_t n;
    VKD_TRY(vkd_file_read_all(path, &text, &n));
    vkd_status_t s = vkd_unet_config_parse(text, path, cfg);
    free(text);
    return s;
}

// ---- architecture ------------------------------------------------------------------------------
void unet_heads(const vkd_unet_config_t *cfg, int ch, int *heads, int *dim_head) {
    int h = cfg->num_heads, d;
    if (cfg->num_head_channels == -1) {
        d = ch / h;
    } else {
        h = ch / cfg->num_head_channels;
        d = cfg->num_head_channels;
    }
    if (cfg->legacy) d = h > 0 ? ch / h : 0; // LDM's legacy rule with a spatial transformer
    *heads = h, *dim_head = d;
}

static vkd_status_t check_gn(int c, const char *where) {
    if (c % UNET_GN_GROUPS != 0)
        return vkd_fail(VKD_ERR_INVALID, "%s has %d channels, not a multiple of the %d groups "
                        "of GroupNorm32 (make model_channels * channel_mult multiples of 32)",
                        where, c, UNET_GN_GROUPS);
    return VKD_OK;
}

static vkd_status_t check_desc(const vkd_unet_config_t *cfg, const unet_desc_t *d) {
    if (d->res_in) VKD_TRY(check_gn(d->res_in, "a ResBlock input"));
    if (d->attn) {
        VKD_TRY(check_gn(d->attn, "a SpatialTransformer"));
        int h, dh;
        unet_heads(cfg, d->attn, &h, &dh);
        if (h < 1 || dh < 1)
            return vkd_fail(VKD_ERR_INVALID, "a SpatialTransformer on %d channels gets %d heads "
                            "of width %d with num_heads = %d, num_head_channels = %d", d->attn,
                            h, dh, cfg->num_heads, cfg->num_head_channels);
    }
    return VKD_OK;
}

vkd_status_t unet_arch_build(const vkd_unet_config_t *cfg, unet_arch_t *a) {
    memset(a, 0, sizeof *a);
    const int mc = cfg->model_channels;
    a->temb = 4 * mc;
    if (cfg->channel_mult[0] != 1)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "channel_mult[0] = %d: the reference's output conv "
                        "takes model_channels inputs, so the first multiplier must be 1",
                        cfg->channel_mult[0]);
    VKD_TRY(check_gn(mc, "the output GroupNorm"));
    int chans[UNET_MAX_BLOCKS], nch = 0, ch = mc, ds = 1;
    a->in[a->n_in++] = (unet_desc_t){.conv_in = 1, .ds = 1, .cin = cfg->in_channels, .cout = mc};
    chans[nch++] = mc;
    for (int l = 0; l < cfg->n_levels; l++) {
        for (int r = 0; r < cfg->num_res_blocks[l]; r++) {
            unet_desc_t d = {.res_in = ch, .res_out = mc * cfg->channel_mult[l], .ds = ds, .cin = ch};
            ch = d.res_out;
            if (cfg->attn_level[l]) d.attn = ch;
            d.cout = ch;
            a->in[a->n_in++] = d;
            chans[nch++] = ch;
        }
        if (l != cfg->n_levels - 1) {
            a->in[a->n_in++] = (unet_desc_t){.down = ch, .ds = ds, .cin = ch, .cout = ch};
            chans[nch++] = ch;
            ds *= 2;
        }
    }
    a->mid = (unet_desc_t){.mid = 1, .res_in = ch, .res_out = ch, .attn = ch, .ds = ds,
                           .cin = ch, .cout = ch};
    for (int l = cfg->n_levels - 1; l >= 0; l--) {
        for (int r = 0; r <= cfg->num_res_blocks[l]; r++) {
            const int ich = chans[--nch];
            unet_desc_t d = {.res_in = ch + ich, .res_out = mc * cfg->channel_mult[l], .ds = ds,
                             .cin = ch + ich};
            ch = d.res_out;
            if (cfg->attn_level[l]) d.attn = ch;
            if (l > 0 && r == cfg->num_res_blocks[l]) {
                d.up = ch;
                ds /= 2;
            }
            d.cout = ch;
            a->out[a->n_out++] = d;
        }
    }
    for (int i = 0; i < a->n_in; i++) VKD_TRY(check_desc(cfg, &a->in[i]));
    VKD_TRY(check_desc(cfg, &a->mid));
    for (int i = 0; i < a->n_out; i++) {
        VKD_TRY(check_desc(cfg, &a->out[i]));
        VKD_TRY(check_gn(a->out[i].res_out, "a ResBlock output"));
    }
    return VKD_OK;
}

// ---- counts ------------------------------------------------------------------------------------
typedef struct {
    int64_t params, tensors;
    double flops;
} tally_t;

static void lin(tally_t *t, int64_t out, int64_t in, int64_t k2, int bias, double positions) {
    t->params += out * in * k2 + (bias ? out : 0);
    t->tensors += 1 + (bias != 0);
    t->flops += 2.0 * (double)(out * in * k2) * positions;
}

static void norm(tally_t *t, int64_t c) { t->params += 2 * c, t->tensors += 2; }

static void res(tally_t *t, int cin, int cout, int temb, double B, double hw) {
    norm(t, cin);
    lin(t, cout, cin, 9, 1, B * hw);
    lin(t, cout, temb, 1, 1, B);
    norm(t, cout);
    lin(t, cout, cout, 9, 1, B * hw);
    if (cin != cout) lin(t, cout, cin, 1, 1, B * hw);
}

static void st(tally_t *t, const vkd_unet_config_t *cfg, int c, double B, double hw, double L) {
    int heads, dh;
    unet_heads(cfg, c, &heads, &dh);
    const int64_t inner = (int64_t)heads * dh, F = 4 * inner;
    const double n = B * hw;
    norm(t, c);
    lin(t, inner, c, 1, 1, n);
    for (int i = 0; i < cfg->transformer_depth; i++) {
        norm(t, inner), norm(t, inner), norm(t, inner);
        for (int q = 0; q < 3; q++) lin(t, inner, inner, 1, 0, n);
        lin(t, inner, inner, 1, 1, n);
        t->flops += 2.0 * 2.0 * B * heads * hw * hw * dh; // q k^T and p v
        lin(t, inner, inner, 1, 0, n);
        lin(t, inner, cfg->context_dim, 1, 0, B * L);
        lin(t, inner, cfg->context_dim, 1, 0, B * L);
        lin(t, inner, inner, 1, 1, n);
        t->flops += 2.0 * 2.0 * B * heads * hw * L * dh;
        lin(t, 2 * F, inner, 1, 1, n);
        lin(t, inner, F, 1, 1, n);
    }
    lin(t, c, inner, 1, 1, n);
}

static void block(tally_t *t, const vkd_unet_config_t *cfg, const unet_desc_t *d, int temb,
                  double B, double H, double W, double L) {
    const double hw = (H / d->ds) * (W / d->ds);
    if (d->conv_in) lin(t, d->cout, d->cin, 9, 1, B * hw);
    if (d->res_in) res(t, d->res_in, d->res_out, temb, B, hw);
    if (d->attn) st(t, cfg, d->attn, B, hw, L);
    if (d->mid) res(t, d->res_out, d->res_out, temb, B, hw);
    if (d->down) lin(t, d->down, d->down, 9, 1, B * hw / 4);
    if (d->up) lin(t, d->up, d->up, 9, 1, B * hw * 4);
}

static void tally(const vkd_unet_config_t *cfg, const unet_arch_t *a, double B, double H,
                  double W, double L, tally_t *t) {
    memset(t, 0, sizeof *t);
    const int mc = cfg->model_channels;
    lin(t, a->temb, mc, 1, 1, B);
    lin(t, a->temb, a->temb, 1, 1, B);
    for (int i = 0; i < a->n_in; i++) block(t, cfg, &a->in[i], a->temb, B, H, W, L);
    block(t, cfg, &a->mid, a->temb, B, H, W, L);
    for (int i = 0; i < a->n_out; i++) block(t, cfg, &a->out[i], a->temb, B, H, W, L);
    norm(t, mc);
    lin(t, cfg->out_channels, mc, 9, 1, B * H * W);
}

void unet_count(const vkd_unet_config_t *cfg, const unet_arch_t *a, int64_t *params,
                int64_t *tensors) {
    tally_t t;
    tally(cfg, a, 1, 1, 1, 1, &t);
    *params = t.params, *tensors = t.tensors;
}

int64_t vkd_unet_param_count(const vkd_unet_config_t *cfg) {
    unet_arch_t *a = malloc(sizeof *a);
    int64_t p = -1, n;
    if (a && unet_arch_build(cfg, a) == VKD_OK) unet_count(cfg, a, &p, &n);
    free(a);
    return p;
}

double vkd_unet_flops(const vkd_unet_config_t *cfg, int B, int H, int W, int L) {
    unet_arch_t *a = malloc(sizeof *a);
    tally_t t = {0};
    if (a && unet_arch_build(cfg, a) == VKD_OK) tally(cfg, a, B, H, W, L, &t);
    free(a);
    return t.flops;
}

// ---- timestep embedding -------------------------------------------------------------------------
void vkd_unet_timestep_embedding(const float *t, int B, int dim, float *out) {
    const int half = dim / 2;
    // The reference builds exp(-ln(10000) * arange(half) / half) and t * freqs in float32;
    // each product is rounded to float here too (double arguments differ by ~1e-5 at t=700).
    const float neg_log = (float)-log(10000.0);
    for (int b = 0; b < B; b++) {
        float *row = out + (size_t)b * dim; // (dim)
        for (int i = 0; i < half; i++) {
            const float e = neg_log * (float)i;
            const float freq = expf(e / (float)half);
            const float arg = t[b] * freq;
            row[i] = (float)cos((double)arg);
            row[half + i] = (float)sin((double)arg);
        }
        if (dim % 2) row[dim - 1] = 0.0f;
    }
}
