// NeRF checkpoints (checkpoint.h): safetensors + JSON metadata, written atomically by the
// safetensors writer, validated completely before anything is loaded.
#include "nerf/checkpoint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static void u64_str(uint64_t v, char buf[24]) { snprintf(buf, 24, "%" PRIu64, v); }

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end = NULL;
    const unsigned long long v = strtoull(s, &end, 10);
    if (*end) return 0;
    *out = v;
    return 1;
}

// ---- saving -----------------------------------------------------------------------------

vkd_status_t vkd_nerf_ckpt_save(const char *path, vkd_field_t *f, vkd_nerf_renderer_t *r,
                                const vkd_nerf_ckpt_meta_t *meta) {
    if (!path || !f) return vkd_fail(VKD_ERR_INVALID, "saving a NeRF checkpoint: NULL argument");
    const size_t n = f->n_params;
    const int G = f->cfg.grid_res, with_grid = r && G > 0 && vkd_nerf_grid_ready(r);
    const size_t cells = with_grid ? (size_t)G * G * G : 0;
    float *host = malloc(sizeof(float) * (3 * n + cells)); // params, m, v, grid
    vkd_st_writer_t *w = NULL;
    char *cfg = vkd_nerf_config_to_json(&f->cfg), *rng = NULL;
    vkd_status_t s = host && cfg ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "saving %s: out of memory", path);
    const vkd_buf_t bufs[3] = {f->params, f->adam_m, f->adam_v};
    for (int b = 0; b < 3 && s == VKD_OK; b++) s = vkd_buf_read(bufs[b], host + b * n, n * sizeof(float));
    if (s == VKD_OK && with_grid) s = vkd_buf_read(vkd_nerf_grid_buf(r), host + 3 * n, cells * sizeof(float));
    // A checkpoint that cannot be loaded back is worse than none: refuse to write NaN.
    if (s == VKD_OK) s = vkd_field_check_finite(f, path);
    if (s == VKD_OK) s = vkd_st_writer_create(&w);
    static const char *const prefix[3] = {"", "adam.m.", "adam.v."};
    for (int b = 0; b < 3 && s == VKD_OK; b++)
        for (int i = 0; i < f->n_tensors && s == VKD_OK; i++) {
            const vkd_field_tensor_t *t = &f->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s%s", prefix[b], t->name);
            s = vkd_st_writer_add(w, name, VKD_DT_F32, t->ndim, t->shape, host + b * n + t->off);
        }
    if (s == VKD_OK && with_grid) {
        const int64_t shape[3] = {G, G, G};
        s = vkd_st_writer_add(w, "occupancy.grid", VKD_DT_F32, 3, shape, host + 3 * n);
    }
    char step[24], seed[24];
    u64_str(meta ? meta->step : (uint64_t)f->step, step);
    u64_str(meta ? meta->seed : f->cfg.seed, seed);
    if (s == VKD_OK) {
        cJSON *o = cJSON_CreateObject();
        if (o && cJSON_AddStringToObject(o, "seed", seed) && cJSON_AddStringToObject(o, "step", step))
            rng = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!rng) s = vkd_fail(VKD_ERR_NOMEM, "saving %s: out of memory", path);
    }
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "format", VKD_NERF_CKPT_FORMAT);
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "config", cfg);
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "step", step);
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "prompt", meta ? meta->prompt : "");
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "rng", rng);
    if (s == VKD_OK) s = vkd_st_writer_meta(w, "grid_ready", with_grid ? "1" : "0");
    if (s == VKD_OK) s = vkd_st_write(w, path);
    vkd_st_writer_free(w);
    free(host), free(cfg), free(rng);
    return s;
}

// ---- loading -------------------------------------------------------------------------------

// The metadata of an open checkpoint: config, prompt, RNG state, step.
static vkd_status_t read_meta(const vkd_safetensors_t *st, const char *path, vkd_nerf_config_t *cfg,
                              vkd_nerf_ckpt_meta_t *meta, int *grid_ready) {
    const char *fmt = vkd_st_metadata(st, "format");
    if (!fmt || strcmp(fmt, VKD_NERF_CKPT_FORMAT) != 0)
        return vkd_fail(VKD_ERR_FORMAT, "%s is not a vkdream NeRF checkpoint (metadata \"format\" "
                        "is %s%s%s, expected \"%s\")", path, fmt ? "\"" : "", fmt ? fmt : "missing",
                        fmt ? "\"" : "", VKD_NERF_CKPT_FORMAT);
    const char *cj = vkd_st_metadata(st, "config");
    if (!cj) return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s: metadata \"config\" is missing", path);
    char what[512];
    snprintf(what, sizeof what, "checkpoint %s: config", path);
    if (vkd_nerf_config_from_json(cj, what, cfg) != VKD_OK) {
        // The message names the file and the key; a bad config in a file is a format error.
        char msg[768];
        snprintf(msg, sizeof msg, "%s", vkd_last_error());
        return vkd_fail(VKD_ERR_FORMAT, "%s", msg);
    }
    vkd_nerf_ckpt_meta_t m = {.seed = cfg->seed};
    if (!parse_u64(vkd_st_metadata(st, "step"), &m.step) || m.step > INT64_MAX)
        return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s: metadata \"step\" is missing or not a "
                        "decimal count", path);
    const char *prompt = vkd_st_metadata(st, "prompt");
    snprintf(m.prompt, sizeof m.prompt, "%s", prompt ? prompt : "");
    const char *rng = vkd_st_metadata(st, "rng");
    cJSON *o = rng ? cJSON_Parse(rng) : NULL;
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(o, "seed");
    const int ok = o && cJSON_IsString(sd) && parse_u64(sd->valuestring, &m.seed);
    cJSON_Delete(o);
    if (!ok)
        return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s: metadata \"rng\" must be {\"seed\": "
                        "\"<decimal>\", \"step\": \"<decimal>\"}", path);
    const char *gr = vkd_st_metadata(st, "grid_ready");
    *grid_ready = gr && strcmp(gr, "1") == 0;
    if (meta) *meta = m;
    return VKD_OK;
}

static vkd_status_t open_ckpt(const char *path, vkd_safetensors_t **st, vkd_nerf_config_t *cfg,
                              vkd_nerf_ckpt_meta_t *meta, int *grid_ready) {
    if (!path) return vkd_fail(VKD_ERR_INVALID, "loading a NeRF checkpoint: NULL path");
    VKD_TRY(vkd_st_open(path, st));
    const vkd_status_t s = read_meta(*st, path, cfg, meta, grid_ready);
    if (s != VKD_OK) vkd_st_close(*st), *st = NULL;
    return s;
}

vkd_status_t vkd_nerf_ckpt_info(const char *path, vkd_nerf_config_t *cfg, vkd_nerf_ckpt_meta_t *meta) {
    vkd_safetensors_t *st;
    int gr;
    VKD_TRY(open_ckpt(path, &st, cfg, meta, &gr));
    vkd_st_close(st);
    return VKD_OK;
}

// Tensor `name` of the given shape into dst (numel floats), finite.
static vkd_status_t load_tensor(const vkd_safetensors_t *st, const char *path, const char *name,
                                int ndim, const int64_t *shape, float *dst, size_t numel) {
    const vkd_st_tensor_t *t;
    VKD_TRY(vkd_st_expect(st, name, ndim, shape, &t));
    VKD_TRY(vkd_st_to_f32(t, dst, numel));
    for (size_t j = 0; j < numel; j++)
        if (!isfinite(dst[j]))
            return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s: tensor '%s' holds %g at element %zu "
                            "(not finite): the run diverged before this was saved", path, name,
                            (double)dst[j], j);
    return VKD_OK;
}

static vkd_status_t arch_matches(const char *path, const vkd_nerf_config_t *a,
                                 const vkd_nerf_config_t *b) {
    const struct {
        const char *key;
        int x, y;
    } k[] = {{"width", a->width, b->width},       {"depth", a->depth, b->depth},
             {"n_freq", a->n_freq, b->n_freq},    {"bg_mode", a->bg_mode, b->bg_mode},
             {"bg_width", a->bg_width, b->bg_width}, {"bg_freq", a->bg_freq, b->bg_freq}};
    const int mlp = a->bg_mode == VKD_NERF_BG_MLP;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (!mlp && i >= 4) break; // the background MLP's shape matters only when there is one
        if (k[i].x != k[i].y)
            return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s was saved with %s = %d but the field "
                            "has %s = %d: use the checkpoint's config (or a matching one)",
                            path, k[i].key, k[i].x, k[i].key, k[i].y);
    }
    return VKD_OK;
}

vkd_status_t vkd_nerf_ckpt_load_into(const char *path, vkd_field_t *f, vkd_nerf_renderer_t *r,
                                     vkd_nerf_ckpt_meta_t *meta) {
    vkd_safetensors_t *st;
    vkd_nerf_config_t cfg;
    vkd_nerf_ckpt_meta_t m;
    int grid_ready;
    VKD_TRY(open_ckpt(path, &st, &cfg, &m, &grid_ready));
    vkd_status_t s = arch_matches(path, &cfg, &f->cfg);
    const size_t n = f->n_params;
    const int G = f->cfg.grid_res;
    const int want_grid = r && G > 0 && grid_ready && cfg.grid_res == G;
    const size_t cells = want_grid ? (size_t)G * G * G : 0;
    float *host = s == VKD_OK ? calloc(3 * n + cells + 1, sizeof(float)) : NULL;
    if (s == VKD_OK && !host) s = vkd_fail(VKD_ERR_NOMEM, "loading %s: out of memory", path);
    // Everything is read and checked into host memory first; the field changes only after.
    static const char *const prefix[3] = {"", "adam.m.", "adam.v."};
    for (int b = 0; b < 3 && s == VKD_OK; b++)
        for (int i = 0; i < f->n_tensors && s == VKD_OK; i++) {
            const vkd_field_tensor_t *t = &f->tensors[i];
            char name[96];
            snprintf(name, sizeof name, "%s%s", prefix[b], t->name);
            s = load_tensor(st, path, name, t->ndim, t->shape, host + b * n + t->off, t->numel);
        }
    if (s == VKD_OK && want_grid) {
        const int64_t shape[3] = {G, G, G};
        s = load_tensor(st, path, "occupancy.grid", 3, shape, host + 3 * n, cells);
    }
    const vkd_buf_t bufs[3] = {f->params, f->adam_m, f->adam_v};
    for (int b = 0; b < 3 && s == VKD_OK; b++) s = vkd_buf_write(bufs[b], host + b * n, n * sizeof(float));
    if (s == VKD_OK && r && G > 0) {
        if (want_grid) s = vkd_buf_write(vkd_nerf_grid_buf(r), host + 3 * n, cells * sizeof(float));
        if (s == VKD_OK) vkd_nerf_grid_set_ready(r, want_grid);
    }
    if (s == VKD_OK) {
        f->step = (int64_t)m.step;
        if (meta) *meta = m;
    }
    free(host);
    vkd_st_close(st);
    return s;
}

vkd_status_t vkd_nerf_ckpt_load(const char *path, vkd_backend_t *be, vkd_field_t **out,
                                vkd_nerf_ckpt_meta_t *meta) {
    *out = NULL;
    vkd_nerf_config_t cfg;
    VKD_TRY(vkd_nerf_ckpt_info(path, &cfg, NULL));
    vkd_field_t *f;
    VKD_TRY(vkd_field_create(be, &cfg, &f));
    const vkd_status_t s = vkd_nerf_ckpt_load_into(path, f, NULL, meta);
    if (s != VKD_OK) {
        vkd_field_destroy(f);
        return s;
    }
    *out = f;
    return VKD_OK;
}
