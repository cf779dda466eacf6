// NeRF configuration: defaults, range checks and JSON (cJSON) in both directions. One
// table lists every field once (name, type, place, range), so the writer, the reader and
// the checks cannot drift apart.
#include "nerf/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef enum { F_INT, F_FLOAT, F_U64, F_RGB, F_ACT, F_BG } ftype_t;

typedef struct {
    const char *name;
    ftype_t type;
    size_t off;
    double lo, hi; // inclusive range (numbers; each RGB component)
} field_t;

#define FLD(n, t, lo, hi) {#n, t, offsetof(vkd_nerf_config_t, n), lo, hi}

static const field_t FIELDS[] = {
    FLD(width, F_INT, 16, 256),
    FLD(depth, F_INT, 1, VKD_NERF_MAX_DEPTH),
    FLD(n_freq, F_INT, 0, 16),
    FLD(ipe_var_start, F_FLOAT, 0, 10),
    FLD(ipe_var_end, F_FLOAT, 0, 10),
    FLD(ipe_anneal_frac, F_FLOAT, 0, 1),
    FLD(density_act, F_ACT, 0, 0),
    FLD(density_bias, F_FLOAT, -1000, 1000),
    FLD(blob_lambda, F_FLOAT, -1000, 1000),
    FLD(blob_sigma, F_FLOAT, 1e-3, 10),
    FLD(bg_mode, F_BG, 0, 0),
    FLD(bg_color, F_RGB, 0, 1),
    FLD(bg_width, F_INT, 4, 256),
    FLD(bg_freq, F_INT, 0, 16),
    FLD(bound, F_FLOAT, 0.1, 100),
    FLD(samples, F_INT, 1, 1024),
    FLD(normal_h, F_FLOAT, 1e-5, 1),
    FLD(normal_eps, F_FLOAT, 1e-12, 1e3),
    FLD(grid_res, F_INT, 0, 256),
    FLD(grid_every, F_INT, 1, 1000000),
    FLD(grid_decay, F_FLOAT, 0, 1),
    FLD(grid_thresh, F_FLOAT, 0, 1e6),
    FLD(grid_warmup, F_INT, 0, 1000000000),
    FLD(lambda_orient, F_FLOAT, 0, 1e6),
    FLD(lambda_opacity, F_FLOAT, -1e6, 1e6),
    FLD(lambda_entropy, F_FLOAT, -1e6, 1e6),
    FLD(lr, F_FLOAT, 0, 10),
    FLD(beta1, F_FLOAT, 0, 0.999999),
    FLD(beta2, F_FLOAT, 0, 0.999999),
    FLD(adam_eps, F_FLOAT, 1e-30, 1),
    FLD(warmup_steps, F_INT, 0, 1000000000),
    FLD(total_steps, F_INT, 1, 1000000000),
    FLD(seed, F_U64, 0, 0),
};
#define N_FIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

vkd_nerf_config_t vkd_nerf_config_default(void) {
    return (vkd_nerf_config_t){
        .width = 64, .depth = 2, .n_freq = 8,
        .ipe_var_start = 5e-2f, .ipe_var_end = 2e-3f, .ipe_anneal_frac = 1.0f / 3.0f,
        .density_act = VKD_ACT_EXP, .density_bias = -2.0f, .blob_lambda = 5.0f,
        .blob_sigma = 0.2f,
        // The ShapeWorld background (src/shapeworld.c), linear RGB.
        .bg_mode = VKD_NERF_BG_FIXED, .bg_color = {0.1022f, 1.0f, 0.0f}, .bg_width = 32,
        .bg_freq = 4,
        .bound = 1.4f, .samples = 48, .normal_h = 0.01f, .normal_eps = 1e-3f,
        .grid_res = 32, .grid_every = 16, .grid_decay = 0.95f, .grid_thresh = 0.01f,
        .grid_warmup = 64,
        .lambda_orient = 1e-2f, .lambda_opacity = 0.0f, .lambda_entropy = 0.0f,
        .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .adam_eps = 1e-8f, .warmup_steps = 50,
        .total_steps = 2000, .seed = 0,
    };
}

static const char *act_name(int a) { return a == VKD_ACT_SOFTPLUS ? "softplus" : "exp"; }
static const char *bg_name(int b) { return b == VKD_NERF_BG_MLP ? "mlp" : "fixed"; }

static vkd_status_t check_one(const field_t *f, const vkd_nerf_config_t *c, const char *what) {
    const char *p = (const char *)c + f->off;
    double v[3];
    int n = 1;
    switch (f->type) {
    case F_INT: v[0] = *(const int *)(const void *)p; break;
    case F_FLOAT: v[0] = *(const float *)(const void *)p; break;
    case F_RGB:
        n = 3;
        for (int k = 0; k < 3; k++) v[k] = ((const float *)(const void *)p)[k];
        break;
    case F_ACT: {
        const int a = *(const int *)(const void *)p;
        if (a != VKD_ACT_EXP && a != VKD_ACT_SOFTPLUS)
            return vkd_fail(VKD_ERR_INVALID, "%s: density_act %d must be exp or softplus", what, a);
        return VKD_OK;
    }
    case F_BG: {
        const int b = *(const int *)(const void *)p;
        if (b != VKD_NERF_BG_FIXED && b != VKD_NERF_BG_MLP)
            return vkd_fail(VKD_ERR_INVALID, "%s: bg_mode %d must be fixed or mlp", what, b);
        return VKD_OK;
    }
    default: return VKD_OK;
    }
    for (int k = 0; k < n; k++)
        if (!(v[k] >= f->lo && v[k] <= f->hi)) // NaN fails too
            return vkd_fail(VKD_ERR_INVALID, "%s: %s = %g is outside [%g, %g]", what, f->name, v[k],
                            f->lo, f->hi);
    return VKD_OK;
}

static vkd_status_t check_what(const vkd_nerf_config_t *c, const char *what) {
    if (!c) return vkd_fail(VKD_ERR_INVALID, "%s: NULL config", what);
    for (int i = 0; i < N_FIELDS; i++) VKD_TRY(check_one(&FIELDS[i], c, what));
    if (c->grid_res > 0 && c->grid_res < 4)
        return vkd_fail(VKD_ERR_INVALID, "%s: grid_res = %d (0 for none, else >= 4)", what,
                        c->grid_res);
    return VKD_OK;
}

vkd_status_t vkd_nerf_config_check(const vkd_nerf_config_t *c) { return check_what(c, "NeRF config"); }

char *vkd_nerf_config_to_json(const vkd_nerf_config_t *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = 1;
    for (int i = 0; i < N_FIELDS && ok; i++) {
        const field_t *f = &FIELDS[i];
        const char *p = (const char *)c + f->off;
        cJSON *item = NULL;
        switch (f->type) {
        case F_INT: item = cJSON_CreateNumber(*(const int *)(const void *)p); break;
        case F_FLOAT: item = cJSON_CreateNumber(*(const float *)(const void *)p); break;
        case F_U64: {
            // A string: JSON numbers are doubles and lose 64-bit seeds above 2^53.
            char buf[32];
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)(const void *)p);
            item = cJSON_CreateString(buf);
            break;
        }
        case F_RGB: {
            const float *rgb = (const float *)(const void *)p;
            item = cJSON_CreateArray();
            for (int k = 0; item && k < 3; k++)
                ok &= cJSON_AddItemToArray(item, cJSON_CreateNumber(rgb[k])) ? 1 : 0;
            break;
        }
        case F_ACT: item = cJSON_CreateString(act_name(*(const int *)(const void *)p)); break;
        case F_BG: item = cJSON_CreateString(bg_name(*(const int *)(const void *)p)); break;
        }
        ok &= item && cJSON_AddItemToObject(o, f->name, item);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static vkd_status_t read_item(const field_t *f, const cJSON *it, const char *what,
                              vkd_nerf_config_t *c) {
    char *p = (char *)c + f->off;
    switch (f->type) {
    case F_INT:
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
            fabs(it->valuedouble) > 2e9)
            return vkd_fail(VKD_ERR_INVALID, "%s: %s must be an integer", what, f->name);
        *(int *)(void *)p = (int)it->valuedouble;
        return VKD_OK;
    case F_FLOAT:
        if (!cJSON_IsNumber(it))
            return vkd_fail(VKD_ERR_INVALID, "%s: %s must be a number", what, f->name);
        *(float *)(void *)p = (float)it->valuedouble;
        return VKD_OK;
    case F_U64: {
        char *end = NULL;
        if (!cJSON_IsString(it) || !it->valuestring[0] || it->valuestring[0] == '-')
            return vkd_fail(VKD_ERR_INVALID, "%s: %s must be a decimal string", what, f->name);
        const unsigned long long v = strtoull(it->valuestring, &end, 10);
        if (*end) return vkd_fail(VKD_ERR_INVALID, "%s: %s must be a decimal string", what, f->name);
        *(uint64_t *)(void *)p = v;
        return VKD_OK;
    }
    case F_RGB: {
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 3)
            return vkd_fail(VKD_ERR_INVALID, "%s: %s must be an array of 3 numbers", what, f->name);
        for (int k = 0; k < 3; k++) {
            const cJSON *e = cJSON_GetArrayItem(it, k);
            if (!cJSON_IsNumber(e))
                return vkd_fail(VKD_ERR_INVALID, "%s: %s must be an array of 3 numbers", what,
                                f->name);
            ((float *)(void *)p)[k] = (float)e->valuedouble;
        }
        return VKD_OK;
    }
    case F_ACT:
    case F_BG: {
        const char *a = f->type == F_ACT ? "exp" : "fixed", *b = f->type == F_ACT ? "softplus" : "mlp";
        if (!cJSON_IsString(it) || (strcmp(it->valuestring, a) && strcmp(it->valuestring, b)))
            return vkd_fail(VKD_ERR_INVALID, "%s: %s must be \"%s\" or \"%s\"", what, f->name, a, b);
        const int first = strcmp(it->valuestring, a) == 0;
        *(int *)(void *)p = f->type == F_ACT ? (first ? VKD_ACT_EXP : VKD_ACT_SOFTPLUS)
                                             : (first ? VKD_NERF_BG_FIXED : VKD_NERF_BG_MLP);
        return VKD_OK;
    }
    }
    return VKD_OK;
}

vkd_status_t vkd_nerf_config_from_json(const char *json, const char *what, vkd_nerf_config_t *c) {
    if (!what) what = "NeRF config";
    if (!json || !c) return vkd_fail(VKD_ERR_INVALID, "%s: NULL argument", what);
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return vkd_fail(VKD_ERR_INVALID, "%s: not a JSON object", what);
    }
    vkd_nerf_config_t cfg = vkd_nerf_config_default();
    vkd_status_t s = VKD_OK;
    for (const cJSON *it = o->child; it && s == VKD_OK; it = it->next) {
        int found = 0;
        for (int i = 0; i < N_FIELDS && !found; i++)
            if (it->string && strcmp(it->string, FIELDS[i].name) == 0) {
                found = 1;
                s = read_item(&FIELDS[i], it, what, &cfg);
            }
        if (!found && s == VKD_OK)
            s = vkd_fail(VKD_ERR_INVALID, "%s: unknown key \"%.64s\"", what,
                         it->string ? it->string : "");
    }
    cJSON_Delete(o);
    if (s == VKD_OK) s = check_what(&cfg, what);
    if (s == VKD_OK) *c = cfg;
    return s;
}

float vkd_nerf_ipe_var(const vkd_nerf_config_t *c, int64_t step) {
    const double n = (double)c->ipe_anneal_frac * c->total_steps;
    if ((double)step >= n) return c->ipe_var_end;
    const double f = step < 0 ? 0.0 : (double)step / n, a = c->ipe_var_start, b = c->ipe_var_end;
    // Log-linear (a constant ratio per step) when both ends are positive, else linear.
    if (a > 0.0 && b > 0.0) return (float)exp(log(a) * (1.0 - f) + log(b) * f);
    return (float)(a * (1.0 - f) + b * f);
}
