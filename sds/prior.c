// The prior interface: prior-file loading (the common keys; prior_unet.c and oracle.c do
// the rest), condition handles, prediction with checks, classifier-free guidance and the
// value-range mapping. See prior.h for the file format.
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "image.h"
#include "prior_impl.h"
#include "shapeworld.h"

#define MAX_BATCH 65536

// ---- small JSON readers with messages naming the file and the key --------------------------

static vkd_status_t bad_key(const char *path, const char *key, const char *want) {
    return vkd_fail(VKD_ERR_FORMAT, "prior file %s: \"%s\" %s", path, key, want);
}

static const cJSON *j_get(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static vkd_status_t j_number(const cJSON *obj, const char *key, const char *path,
                             const char *full, int required, double def, double lo, double hi,
                             double *out) {
    const cJSON *it = j_get(obj, key);
    if (!it || cJSON_IsNull(it)) {
        if (required) return bad_key(path, full, "is missing (a number is required)");
        *out = def;
        return VKD_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return bad_key(path, full, "must be a number");
    if (it->valuedouble < lo || it->valuedouble > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "= %g is outside [%g, %g]", it->valuedouble, lo, hi);
        return bad_key(path, full, msg);
    }
    *out = it->valuedouble;
    return VKD_OK;
}

static vkd_status_t j_int(const cJSON *obj, const char *key, const char *path, const char *full,
                          int required, int def, int lo, int hi, int *out) {
    double v = 0;
    VKD_TRY(j_number(obj, key, path, full, required, def, lo, hi, &v));
    if (v != floor(v)) return bad_key(path, full, "must be an integer");
    *out = (int)v;
    return VKD_OK;
}

static vkd_status_t j_string(const cJSON *obj, const char *key, const char *path,
                             const char *full, const char *def, const char **out) {
    const cJSON *it = j_get(obj, key);
    if (!it) {
        if (!def) return bad_key(path, full, "is missing (a string is required)");
        *out = def;
        return VKD_OK;
    }
    if (!cJSON_IsString(it) || !it->valuestring) return bad_key(path, full, "must be a string");
    *out = it->valuestring;
    return VKD_OK;
}

// Picks the index of `s` in names[n], else fails listing them.
static vkd_status_t j_choice(const char *s, const char *const *names, int n, const char *path,
                             const char *full, int *out) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return (*out = i), VKD_OK;
    char want[256] = "must be one of";
    for (int i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s \"%s\"", i ? "," : "",
                 names[i]);
    snprintf(want + strlen(want), sizeof want - strlen(want), " (got \"%s\")", s);
    return bad_key(path, full, want);
}

// [lo, hi] with lo <= hi (strictly < when strict).
static vkd_status_t j_pair(const cJSON *obj, const char *key, const char *path, const char *full,
                           int strict, float *lo, float *hi) {
    const cJSON *it = j_get(obj, key);
    if (!it) return bad_key(path, full, "is missing (a pair [lo, hi] is required)");
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(it, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(it, 1)))
        return bad_key(path, full, "must be a pair of numbers [lo, hi]");
    const double a = cJSON_GetArrayItem(it, 0)->valuedouble;
    const double b = cJSON_GetArrayItem(it, 1)->valuedouble;
    if (!isfinite(a) || !isfinite(b) || a > b || (strict && a == b))
        return bad_key(path, full, strict ? "must be [lo, hi] with lo < hi" : "must be [lo, hi] with lo <= hi");
    *lo = (float)a, *hi = (float)b;
    return VKD_OK;
}

// ---- the common sections -------------------------------------------------------------------

static vkd_status_t parse_image(const cJSON *root, const char *path, vkd_prior_info_t *info) {
    const cJSON *im = j_get(root, "image");
    if (!cJSON_IsObject(im)) return bad_key(path, "image", "must be an object (see sds/prior.h)");
    VKD_TRY(j_int(im, "channels", path, "image.channels", 1, 0, 1, 64, &info->channels));
    VKD_TRY(j_int(im, "height", path, "image.height", 1, 0, 1, 4096, &info->height));
    VKD_TRY(j_int(im, "width", path, "image.width", 1, 0, 1, 4096, &info->width));
    VKD_TRY(j_pair(im, "range", path, "image.range", 1, &info->range_lo, &info->range_hi));
    const char *enc = NULL;
    static const char *const encs[] = {"linear", "srgb"};
    int e = 0;
    VKD_TRY(j_string(im, "encoding", path, "image.encoding", NULL, &enc));
    VKD_TRY(j_choice(enc, encs, 2, path, "image.encoding", &e));
    info->encoding = (vkd_encoding_t)e;
    return VKD_OK;
}

static vkd_status_t parse_schedule(const cJSON *root, const char *path, vkd_schedule_desc_t *d) {
    const cJSON *s = j_get(root, "schedule");
    if (!cJSON_IsObject(s)) return bad_key(path, "schedule", "must be an object (see sds/prior.h)");
    const char *kind = NULL;
    VKD_TRY(j_string(s, "beta_schedule", path, "schedule.beta_schedule", NULL, &kind));
    memset(d, 0, sizeof *d);
    if (vkd_beta_kind_from_name(kind, &d->kind) != VKD_OK)
        return vkd_fail_ctx(VKD_ERR_FORMAT, "prior file %s: \"schedule.beta_schedule\"", path);
    VKD_TRY(j_int(s, "T", path, "schedule.T", 1, 0, 2, 1000000, &d->T));
    if (d->kind == VKD_BETA_COSINE) {
        VKD_TRY(j_number(s, "cosine_s", path, "schedule.cosine_s", 0, 0.008, 1e-9, 1.0,
                         &d->cosine_s));
    } else {
        VKD_TRY(j_number(s, "beta_start", path, "schedule.beta_start", 1, 0, 1e-12, 0.999999,
                         &d->beta_start));
        VKD_TRY(j_number(s, "beta_end", path, "schedule.beta_end", 1, 0, 1e-12, 0.999999,
                         &d->beta_end));
    }
    return VKD_OK;
}

static vkd_status_t parse_camera(const cJSON *root, const char *path, vkd_prior_info_t *info) {
    const cJSON *c = j_get(root, "camera");
    if (!c)
        return bad_key(path, "camera",
                       "is missing: give the camera distribution of the training renders "
                       "(\"shapeworld\", \"dreamfusion\", an object) or null");
    info->has_camera = !cJSON_IsNull(c);
    if (!info->has_camera) return VKD_OK;
    vkd_camera_dist_t *d = &info->camera;
    if (cJSON_IsString(c)) {
        static const char *const presets[] = {"shapeworld", "dreamfusion"};
        int k = 0;
        VKD_TRY(j_choice(c->valuestring, presets, 2, path, "camera", &k));
        *d = k == 0 ? vkd_camera_dist_shapeworld() : vkd_camera_dist_dreamfusion();
        return VKD_OK;
    }
    if (!cJSON_IsObject(c)) return bad_key(path, "camera", "must be a preset name, an object or null");
    double v = 0;
    VKD_TRY(j_pair(c, "elevation_deg", path, "camera.elevation_deg", 0, &d->elev_min_deg,
                   &d->elev_max_deg));
    VKD_TRY(j_number(c, "area_fraction", path, "camera.area_fraction", 1, 0, 0, 1, &v));
    d->area_fraction = (float)v;
    VKD_TRY(j_pair(c, "azimuth_deg", path, "camera.azimuth_deg", 0, &d->azim_min_deg,
                   &d->azim_max_deg));
    VKD_TRY(j_pair(c, "distance", path, "camera.distance", 0, &d->dist_min, &d->dist_max));
    VKD_TRY(j_number(c, "scale", path, "camera.scale", 1, 0, 1e-6, 1e6, &v));
    d->scale = (float)v;
    VKD_TRY(j_pair(c, "fovy_deg", path, "camera.fovy_deg", 0, &d->fovy_min_deg, &d->fovy_max_deg));
    VKD_TRY(j_number(c, "jitter_pos", path, "camera.jitter_pos", 1, 0, 0, 1e3, &v));
    d->jitter_pos = (float)v;
    VKD_TRY(j_number(c, "jitter_target", path, "camera.jitter_target", 1, 0, 0, 1e3, &v));
    d->jitter_target = (float)v;
    VKD_TRY(j_number(c, "jitter_up", path, "camera.jitter_up", 1, 0, 0, 1e3, &v));
    d->jitter_up = (float)v;
    if (vkd_camera_dist_check(d) != VKD_OK)
        return vkd_fail_ctx(VKD_ERR_FORMAT, "prior file %s: \"camera\"", path);
    return VKD_OK;
}

static vkd_status_t parse_common(const cJSON *root, const char *path, vkd_prior_info_t *info,
                                 vkd_schedule_desc_t *sd) {
    const char *s = NULL;
    VKD_TRY(j_string(root, "name", path, "name", "", &s));
    snprintf(info->name, sizeof info->name, "%s", s);
    VKD_TRY(parse_image(root, path, info));
    VKD_TRY(parse_schedule(root, path, sd));
    VKD_TRY(parse_camera(root, path, info));
    static const char *const vs[] = {"none", "dreamfusion"};
    int k = 0;
    VKD_TRY(j_string(root, "view_suffix", path, "view_suffix", NULL, &s));
    VKD_TRY(j_choice(s, vs, 2, path, "view_suffix", &k));
    info->view_suffix = (vkd_view_suffix_t)k;
    const cJSON *bg = j_get(root, "background");
    if (bg && !cJSON_IsNull(bg)) {
        if (!cJSON_IsArray(bg) || cJSON_GetArraySize(bg) != info->channels)
            return bad_key(path, "background", "must be an array of image.channels numbers");
        if (info->channels > 3) return bad_key(path, "background", "is only for 1-3 channels");
        for (int i = 0; i < info->channels; i++) {
            const cJSON *x = cJSON_GetArrayItem(bg, i);
            if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 1))
                return bad_key(path, "background", "must hold numbers in [0, 1]");
            info->background[i] = (float)x->valuedouble;
        }
        info->has_background = 1;
    }
    const cJSON *ss = j_get(root, "shade_suffix");
    if (ss && !cJSON_IsNull(ss)) {
        if (!cJSON_IsObject(ss))
            return bad_key(path, "shade_suffix", "must be an object of mode -> text");
        for (const cJSON *it = ss->child; it; it = it->next) {
            int m = -1;
            for (int i = 0; i < VKD_SHADE_COUNT; i++)
                if (it->string && !strcmp(it->string, vkd_shade_mode_name((vkd_shade_mode_t)i))) m = i;
            if (m < 0)
                return bad_key(path, "shade_suffix", "keys must be \"albedo\", \"lit\" or \"textureless\"");
            if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof info->shade_suffix[0])
                return bad_key(path, "shade_suffix", "values must be strings of at most 31 bytes");
            snprintf(info->shade_suffix[m], sizeof info->shade_suffix[m], "%s", it->valuestring);
        }
    }
    return VKD_OK;
}

static vkd_status_t parse_oracle(const cJSON *root, const char *path, const vkd_prior_info_t *info,
                                 const vkd_schedule_desc_t *sd, vkd_oracle_opts_t *o) {
    *o = vkd_oracle_opts_default();
    if (info->channels != 3 || info->height != info->width)
        return bad_key(path, "image", "of an oracle prior must have 3 channels and height == width");
    if (!info->has_camera) return bad_key(path, "camera", "must not be null for an oracle prior");
    o->res = info->width;
    o->range_lo = info->range_lo, o->range_hi = info->range_hi;
    o->encoding = info->encoding;
    o->camera = info->camera;
    o->schedule = *sd;
    const cJSON *oc = j_get(root, "oracle");
    if (!oc || cJSON_IsNull(oc)) return VKD_OK;
    if (!cJSON_IsObject(oc)) return bad_key(path, "oracle", "must be an object");
    VKD_TRY(j_int(oc, "views", path, "oracle.views", 0, o->views, 1, 4096, &o->views));
    VKD_TRY(j_int(oc, "uncond_views", path, "oracle.uncond_views", 0, o->uncond_views, 1,
                  o->views, &o->uncond_views));
    VKD_TRY(j_int(oc, "supersample", path, "oracle.supersample", 0, o->supersample, 1, 8,
                  &o->supersample));
    double seed = 0;
    VKD_TRY(j_number(oc, "seed", path, "oracle.seed", 0, 0, 0, 9007199254740992.0, &seed));
    o->seed = (uint64_t)seed;
    const char *sh = NULL;
    static const char *const shades[] = {"mixed", "lit", "albedo"};
    int k = 0;
    VKD_TRY(j_string(oc, "shading", path, "oracle.shading", "mixed", &sh));
    VKD_TRY(j_choice(sh, shades, 3, path, "oracle.shading", &k));
    o->shading = (vkd_oracle_shading_t)k;
    return VKD_OK;
}

// ---- lifetime --------------------------------------------------------------------------------

vkd_oracle_opts_t vkd_oracle_opts_default(void) {
    vkd_oracle_opts_t o = {0};
    o.res = 32;
    o.views = 64;
    o.uncond_views = 16;
    o.supersample = 2;
    o.seed = 0;
    o.shading = VKD_ORACLE_SHADE_MIXED;
    o.camera = vkd_camera_dist_shapeworld();
    o.schedule = (vkd_schedule_desc_t){.kind = VKD_BETA_COSINE, .T = 1000, .cosine_s = 0.008};
    o.range_lo = -1.0f, o.range_hi = 1.0f;
    o.encoding = VKD_ENC_LINEAR;
    return o;
}

void vkd_prior_free(vkd_prior_t *p) {
    if (!p) return;
    if (p->ops && p->ops->destroy) p->ops->destroy(p);
    vkd_schedule_free(&p->sched);
    free(p);
}

static vkd_status_t oracle_create(const vkd_oracle_opts_t *o, const char *name, vkd_prior_t **out) {
    if ((unsigned)o->encoding > VKD_ENC_SRGB)
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: unknown encoding %d", (int)o->encoding);
    if (!(o->range_lo < o->range_hi) || !isfinite(o->range_lo) || !isfinite(o->range_hi))
        return vkd_fail(VKD_ERR_INVALID, "oracle prior: range [%g, %g] must have lo < hi",
                        (double)o->range_lo, (double)o->range_hi);
    vkd_prior_t *p = calloc(1, sizeof *p);
    if (!p) return vkd_fail(VKD_ERR_NOMEM, "oracle prior: out of host memory");
    vkd_prior_info_t *in = &p->info;
    in->kind = VKD_PRIOR_ORACLE;
    snprintf(in->name, sizeof in->name, "%s", name && name[0] ? name : "oracle");
    in->channels = 3, in->height = in->width = o->res;
    in->range_lo = o->range_lo, in->range_hi = o->range_hi;
    in->encoding = o->encoding;
    in->prediction = VKD_PRED_EPS;
    in->has_camera = 1;
    in->camera = o->camera;
    in->view_suffix = VKD_VIEW_SUFFIX_DREAMFUSION;
    in->has_background = 1;
    memcpy(in->background, vkd_sw_background(), sizeof in->background);
    vkd_status_t s = vkd_schedule_init(&p->sched, &o->schedule);
    if (s == VKD_OK) s = vkd_oracle_init(p, o);
    if (s != VKD_OK) {
        vkd_prior_free(p);
        return s;
    }
    *out = p;
    return VKD_OK;
}

vkd_status_t vkd_prior_oracle_create(const vkd_oracle_opts_t *opts, vkd_prior_t **out) {
    if (!out) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_oracle_create: NULL out");
    *out = NULL;
    vkd_oracle_opts_t o = opts ? *opts : vkd_oracle_opts_default();
    return oracle_create(&o, "oracle", out);
}

vkd_status_t vkd_prior_load(const char *path, vkd_backend_t *be, vkd_prior_t **out) {
    if (!out || !path) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_load: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t n = 0;
    vkd_status_t s = vkd_file_read_all(path, &text, &n);
    if (s != VKD_OK) return vkd_fail_ctx(s, "prior file");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t off = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        free(text);
        return vkd_fail(VKD_ERR_FORMAT, "prior file %s: not valid JSON (near byte %zu)", path, off);
    }
    free(text);
    vkd_prior_info_t info = {0};
    vkd_schedule_desc_t sd;
    const char *fmt = NULL, *type = NULL;
    int version = 0, kind = 0;
    static const char *const types[] = {"unet", "oracle"};
    if (!cJSON_IsObject(root)) s = bad_key(path, "(top level)", "must be a JSON object");
    if (s == VKD_OK) s = j_string(root, "format", path, "format", NULL, &fmt);
    if (s == VKD_OK && strcmp(fmt, "vkdream-prior") != 0)
        s = bad_key(path, "format", "must be \"vkdream-prior\" (is this a prior file?)");
    if (s == VKD_OK) s = j_int(root, "version", path, "version", 1, 0, 1, 1, &version);
    if (s == VKD_OK) s = j_string(root, "type", path, "type", NULL, &type);
    if (s == VKD_OK) s = j_choice(type, types, 2, path, "type", &kind);
    if (s == VKD_OK) s = parse_common(root, path, &info, &sd);
    if (s == VKD_OK && kind == 1) {
        vkd_oracle_opts_t o;
        s = parse_oracle(root, path, &info, &sd, &o);
        if (s == VKD_OK) s = oracle_create(&o, info.name, out);
        if (s == VKD_OK) {
            (*out)->info.view_suffix = info.view_suffix;
            (*out)->info.has_background = info.has_background;
            memcpy((*out)->info.background, info.background, sizeof info.background);
            memcpy((*out)->info.shade_suffix, info.shade_suffix, sizeof info.shade_suffix);
        }
        if (s != VKD_OK && strstr(vkd_last_error(), path) == NULL)
            vkd_fail_ctx(s, "prior file %s", path);
    } else if (s == VKD_OK) {
        vkd_prior_t *p = calloc(1, sizeof *p);
        if (!p) s = vkd_fail(VKD_ERR_NOMEM, "prior file %s: out of host memory", path);
        if (s == VKD_OK) {
            info.kind = VKD_PRIOR_UNET;
            if (!info.name[0]) snprintf(info.name, sizeof info.name, "%s", path);
            p->info = info;
            s = vkd_schedule_init(&p->sched, &sd);
            if (s != VKD_OK) vkd_fail_ctx(s, "prior file %s: \"schedule\"", path);
        }
        char dir[4096];
        vkd_dir_of(path, dir, sizeof dir);
        if (s == VKD_OK && !be)
            s = vkd_fail(VKD_ERR_INVALID, "prior file %s: a UNet prior needs a backend", path);
        if (s == VKD_OK) s = vkd_prior_unet_init(p, root, path, dir, be);
        if (s == VKD_OK) *out = p;
        else vkd_prior_free(p);
    }
    cJSON_Delete(root);
    return s;
}

const vkd_prior_info_t *vkd_prior_info(const vkd_prior_t *p) { return p ? &p->info : NULL; }
const vkd_schedule_t *vkd_prior_schedule(const vkd_prior_t *p) { return p ? &p->sched : NULL; }

double vkd_prior_abar(const vkd_prior_t *p, int t) {
    if (t < 0) t = 0;
    if (t >= p->sched.T) t = p->sched.T - 1;
    return (double)p->sched.alphas_cumprod_f32[t];
}

// ---- conditions --------------------------------------------------------------------------

static vkd_status_t cond_new(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t **out) {
    if (!p || !out) return vkd_fail(VKD_ERR_INVALID, "prompt encoding: NULL argument");
    *out = NULL;
    if (prompt) {
        size_t n = strnlen(prompt, VKD_PROMPT_MAX + 1);
        if (n > VKD_PROMPT_MAX)
            return vkd_fail(VKD_ERR_INVALID, "prompt is too long (over %d bytes)", VKD_PROMPT_MAX);
        int blank = 1;
        for (size_t i = 0; i < n; i++) blank &= isspace((unsigned char)prompt[i]) != 0;
        if (blank)
            return vkd_fail(VKD_ERR_INVALID,
                            "empty prompt: say what to generate (e.g. \"a red cube\")");
    }
    vkd_prior_cond_t *c = calloc(1, sizeof *c);
    if (!c) return vkd_fail(VKD_ERR_NOMEM, "prompt encoding: out of host memory");
    c->owner = p;
    c->uncond = prompt == NULL;
    c->prompt = strdup(prompt ? prompt : "");
    vkd_status_t s = c->prompt ? p->ops->encode(p, prompt, c)
                               : vkd_fail(VKD_ERR_NOMEM, "prompt encoding: out of host memory");
    if (s != VKD_OK) {
        if (c->prompt && prompt && !strstr(vkd_last_error(), prompt))
            vkd_fail_ctx(s, "prompt \"%s\"", prompt);
        vkd_prior_cond_free(c);
        return s;
    }
    *out = c;
    return VKD_OK;
}

vkd_status_t vkd_prior_encode(vkd_prior_t *p, const char *prompt, vkd_prior_cond_t **out) {
    if (!prompt) return vkd_fail(VKD_ERR_INVALID, "vkd_prior_encode: NULL prompt");
    return cond_new(p, prompt, out);
}

vkd_status_t vkd_prior_encode_uncond(vkd_prior_t *p, vkd_prior_cond_t **out) {
    return cond_new(p, NULL, out);
}

void vkd_prior_cond_free(vkd_prior_cond_t *c) {
    if (!c) return;
    if (c->impl && c->owner && c->owner->ops->cond_free) c->owner->ops->cond_free(c);
    free(c->prompt);
    free(c);
}

const char *vkd_prior_cond_prompt(const vkd_prior_cond_t *c) { return c ? c->prompt : ""; }

vkd_status_t vkd_prior_view_prompt(const vkd_prior_t *p, const char *prompt, vkd_view_bin_t bin,
                                   char *buf, size_t cap) {
    const char *suffix = p->info.view_suffix == VKD_VIEW_SUFFIX_DREAMFUSION ? vkd_view_suffix(bin)
                                                                             : "";
    int n = snprintf(buf, cap, "%s%s", prompt ? prompt : "", suffix);
    if (n < 0 || (size_t)n >= cap)
        return vkd_fail(VKD_ERR_INVALID, "prompt with view suffix is longer than %zu bytes", cap);
    return VKD_OK;
}

vkd_status_t vkd_prior_render_prompt(const vkd_prior_t *p, const char *prompt, vkd_view_bin_t bin,
                                     vkd_shade_mode_t mode, char *buf, size_t cap) {
    VKD_TRY(vkd_prior_view_prompt(p, prompt, bin, buf, cap));
    if ((int)mode < 0 || mode >= VKD_SHADE_COUNT) return VKD_OK;
    const size_t len = strlen(buf);
    int n = snprintf(buf + len, cap - len, "%s", p->info.shade_suffix[mode]);
    if (n < 0 || (size_t)n >= cap - len)
        return vkd_fail(VKD_ERR_INVALID, "prompt with view and shading suffix is longer than %zu bytes",
                        cap);
    return VKD_OK;
}

// ---- prediction ------------------------------------------------------------------------

static size_t image_numel(const vkd_prior_t *p) {
    return (size_t)p->info.channels * p->info.height * p->info.width;
}

vkd_status_t vkd_prior_predict(vkd_prior_t *p, float *eps, const float *x_t, const int *t,
                               const vkd_prior_cond_t *const *cond, int B) {
    if (!p || !eps || !x_t || !t || !cond)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_predict: NULL argument");
    if (B < 1 || B > MAX_BATCH)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_predict: batch %d outside [1, %d]", B, MAX_BATCH);
    for (int b = 0; b < B; b++) {
        if (t[b] < 0 || t[b] >= p->sched.T)
            return vkd_fail(VKD_ERR_INVALID, "vkd_prior_predict: timestep %d of item %d outside [0, %d)",
                            t[b], b, p->sched.T);
        if (!cond[b] || cond[b]->owner != p)
            return vkd_fail(VKD_ERR_INVALID,
                            "vkd_prior_predict: condition %d is %s", b,
                            cond[b] ? "a handle of another prior" : "NULL");
    }
    VKD_TRY(p->ops->predict(p, eps, x_t, t, cond, B));
    if (p->info.prediction == VKD_PRED_V) {
        const size_t n = image_numel(p);
        for (int b = 0; b < B; b++)
            VKD_TRY(vkd_v_to_eps(eps + b * n, x_t + b * n, eps + b * n, n, vkd_prior_abar(p, t[b])));
    }
    return VKD_OK;
}

double vkd_cfg_ldm_scale(const vkd_cfg_t *g) {
    if (!g) return 1.0;
    return g->convention == VKD_CFG_DREAMFUSION ? 1.0 + (double)g->scale : (double)g->scale;
}

vkd_status_t vkd_prior_predict_cfg(vkd_prior_t *p, float *eps, float *eps_c, float *eps_u,
                                   const float *x_t, const int *t,
                                   const vkd_prior_cond_t *const *cond,
                                   const vkd_prior_cond_t *const *uncond, int B,
                                   const vkd_cfg_t *g) {
    if (!p || !eps || !x_t || !t || !cond || !uncond || !g)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_predict_cfg: NULL argument");
    if (B < 1 || B > MAX_BATCH / 2)
        return vkd_fail(VKD_ERR_INVALID, "vkd_prior_predict_cfg: batch %d outside [1, %d]", B,
                        MAX_BATCH / 2);
    if (!isfinite(g->scale) || (g->convention != VKD_CFG_LDM && g->convention != VKD_CFG_DREAMFUSION))
        return vkd_fail(VKD_ERR_INVALID, "guidance: scale %g / convention %d is not valid",
                        (double)g->scale, (int)g->convention);
    const size_t n = image_numel(p), bn = (size_t)B * n;
    float *x2 = malloc(sizeof(float) * 4 * bn); // (2B, C, H, W) input, then output
    int *t2 = malloc(sizeof(int) * 2 * (size_t)B);
    const vkd_prior_cond_t **c2 = malloc(sizeof(*c2) * 2 * (size_t)B);
    vkd_status_t s = VKD_OK;
    if (!x2 || !t2 || !c2) s = vkd_fail(VKD_ERR_NOMEM, "guidance: out of host memory");
    if (s == VKD_OK) {
        memcpy(x2, x_t, sizeof(float) * bn);
        memcpy(x2 + bn, x_t, sizeof(float) * bn);
        for (int b = 0; b < B; b++) {
            t2[b] = t2[B + b] = t[b];
            c2[b] = cond[b];
            c2[B + b] = uncond[b];
        }
        float *out = x2 + 2 * bn; // (2B, C, H, W): [eps_c; eps_u]
        s = vkd_prior_predict(p, out, x2, t2, c2, 2 * B);
        if (s == VKD_OK) {
            const double sc = vkd_cfg_ldm_scale(g);
            const float *ec = out, *eu = out + bn;
            // In double: u + 1 * (c - u) is then exactly c (the difference of two floats is
            // exact in double), so scale 1 returns the conditional prediction bit for bit.
            for (size_t i = 0; i < bn; i++)
                eps[i] = (float)((double)eu[i] + sc * ((double)ec[i] - (double)eu[i]));
            if (eps_c) memcpy(eps_c, ec, sizeof(float) * bn);
            if (eps_u) memcpy(eps_u, eu, sizeof(float) * bn);
        }
    }
    free(x2), free(t2), free(c2);
    return s;
}

// ---- value-range mapping -------------------------------------------------------------

void vkd_prior_to_range(const vkd_prior_t *p, float *y, const float *v, size_t n) {
    const float lo = p->info.range_lo, d = p->info.range_hi - p->info.range_lo;
    const int srgb = p->info.encoding == VKD_ENC_SRGB;
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        if (srgb) x = vkd_srgb_encode(x < 0 ? 0 : (x > 1 ? 1 : x));
        y[i] = lo + d * x;
    }
}

void vkd_prior_from_range(const vkd_prior_t *p, float *v, const float *y, size_t n) {
    const float lo = p->info.range_lo, d = p->info.range_hi - p->info.range_lo;
    const int srgb = p->info.encoding == VKD_ENC_SRGB;
    for (size_t i = 0; i < n; i++) {
        float x = (y[i] - lo) / d;
        x = x < 0 ? 0 : (x > 1 ? 1 : x);
        if (x != x) x = 0;
        v[i] = srgb ? vkd_srgb_decode(x) : x;
    }
}

void vkd_prior_image_to_hwc(const vkd_prior_t *p, float *hwc, const float *chw) {
    const int C = p->info.channels;
    const size_t HW = (size_t)p->info.height * p->info.width;
    for (int c = 0; c < C; c++)
        for (size_t q = 0; q < HW; q++) {
            float v;
            vkd_prior_from_range(p, &v, chw + (size_t)c * HW + q, 1);
            hwc[q * C + c] = v;
        }
}

void vkd_prior_range_jacobian(const vkd_prior_t *p, float *dydv, const float *v, size_t n) {
    const float d = p->info.range_hi - p->info.range_lo;
    const int srgb = p->info.encoding == VKD_ENC_SRGB;
    for (size_t i = 0; i < n; i++) {
        float j = 1.0f;
        if (srgb) {
            // d/dv of the sRGB encoding (IEC 61966-2-1); outside [0, 1] the clamp makes it 0.
            const float x = v[i];
            if (!(x >= 0.0f && x <= 1.0f)) j = 0.0f;
            else if (x <= 0.0031308f) j = 12.92f;
            else j = (float)(1.055 / 2.4 * pow((double)x, 1.0 / 2.4 - 1.0));
        }
        dydv[i] = d * j;
    }
}
