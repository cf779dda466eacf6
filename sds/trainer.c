// The prior trainer (see trainer.h): run directory, one training step, checkpoints.
#include "trainer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "ops.h"
#include "philox.h"
#include "prior.h"
#include "image.h"
#include "prior_net.h"
#include "sampler.h"
#include "safetensors.h"
#include "text_encoder.h"
#include "tokenizer.h"
#include "unet.h"

#define PATH_CAP 4096
#define NAME_CAP 256
// Blocks of the noise stream per sample: block 0 draws t, blocks 1.. the eps normals (two
// per block), so a sample of up to 2 * (2^20 - 1) values has its own disjoint range.
#define NOISE_BLOCKS_PER_SAMPLE ((uint64_t)1 << 20)

struct vkd_trainer {
    vkd_backend_t *be;
    vkd_trainer_opts_t o;
    char dir[PATH_CAP];
    char cfg_name[NAME_CAP], weights_name[NAME_CAP], tok_name[NAME_CAP];
    char prior_path[PATH_CAP];
    vkd_text_encoder_config_t te;
    vkd_unet_config_t un;
    int pred_v, pad_with_eos;
    vkd_tokenizer_t *tok;
    int L, C, H, W;
    float range_lo, range_hi;
    int T;
    float *abar;             // (T) the schedule's float32 alphas_cumprod
    vkd_prior_net_t *net;
    size_t P;
    vkd_arena_t *opt;        // m, v, ema
    vkd_buf_t m, v, ema;     // (P) each
    int64_t steps_done;
    int bad_in_row;
    char ckpt_files[3][NAME_CAP]; // the last checkpoint's params / adam / ema file names
    // per-step host scratch
    float *x0, *xt, *target, *weight, *tsteps, *per_sample; // (B, C, H, W) / (B)
    int32_t *ids;                                           // (B, L)
    vkd_swdata_item_t *items;                               // (B)
};

vkd_trainer_opts_t vkd_trainer_opts_default(void) {
    return (vkd_trainer_opts_t){.seed = 0, .batch = 32, .steps = 20000, .lr = 8e-4f,
                                .lr_min = 8e-5f, .warmup = 200, .weight_decay = 0.01f,
                                .beta1 = 0.9f, .beta2 = 0.999f, .ema_decay = 0.999f,
                                .clip_norm = 1.0f, .min_snr_gamma = 5.0f, .max_bad_steps = 10,
                                .data = vkd_swdata_opts_default()};
}

static vkd_status_t check_opts(const vkd_trainer_opts_t *o) {
    if (o->batch < 1 || o->batch > 4096)
        return vkd_fail(VKD_ERR_INVALID, "train-prior: batch %d outside [1, 4096]", o->batch);
    if (o->steps < 1) return vkd_fail(VKD_ERR_INVALID, "train-prior: steps must be >= 1");
    if (!(o->lr > 0 && o->lr < 1) || !(o->lr_min >= 0 && o->lr_min <= o->lr))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: need 0 <= lr_min <= lr < 1");
    if (o->warmup < 0) return vkd_fail(VKD_ERR_INVALID, "train-prior: warmup must be >= 0");
    if (!(o->weight_decay >= 0 && o->weight_decay < 1))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: weight decay outside [0, 1)");
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: Adam betas must lie in [0, 1)");
    if (!(o->ema_decay >= 0 && o->ema_decay < 1))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: EMA decay outside [0, 1)");
    if (!(o->clip_norm >= 0) || !(o->min_snr_gamma >= 0))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: clip norm and min-SNR gamma must be >= 0");
    if (o->max_bad_steps < 1)
        return vkd_fail(VKD_ERR_INVALID, "train-prior: max_bad_steps must be >= 1");
    return VKD_OK;
}

// ---- files --------------------------------------------------------------------------------
static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// A file name a prior file gives for one of its parts: written into the run directory, so it
// must be a plain name.
static vkd_status_t plain_name(const cJSON *root, const char *key, const char *cfg, char *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(it) || !it->valuestring[0] || strchr(it->valuestring, '/') ||
        strlen(it->valuestring) >= NAME_CAP)
        return vkd_fail(VKD_ERR_FORMAT, "config %s: \"%s\" must be a plain file name (the trainer "
                        "writes it into the run directory)", cfg, key);
    snprintf(out, NAME_CAP, "%s", it->valuestring);
    return VKD_OK;
}

// Model-describing keys of a prior config: everything the trainer needs before the prior
// itself can be loaded (which also needs weights).
static vkd_status_t parse_config(vkd_trainer_t *t, const char *text, const char *cfg) {
    cJSON *root = cJSON_Parse(text);
    if (!root) return vkd_fail(VKD_ERR_FORMAT, "config %s is not valid JSON", cfg);
    vkd_status_t s = VKD_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "unet"))
        s = vkd_fail(VKD_ERR_FORMAT, "config %s: \"type\" must be \"unet\" to train a prior", cfg);
    if (s == VKD_OK) s = plain_name(root, "weights", cfg, t->weights_name);
    if (s == VKD_OK) s = plain_name(root, "tokenizer", cfg, t->tok_name);
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(root, "text_encoder");
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(root, "unet");
    if (s == VKD_OK && (!cJSON_IsObject(te) || !cJSON_IsObject(un)))
        s = vkd_fail(VKD_ERR_FORMAT, "config %s needs \"text_encoder\" and \"unet\" objects", cfg);
    if (s == VKD_OK) s = vkd_text_encoder_config_from_json(te, cfg, &t->te);
    if (s == VKD_OK) s = vkd_unet_config_from_json(un, cfg, &t->un);
    const cJSON *pred = cJSON_GetObjectItemCaseSensitive(root, "prediction");
    if (s == VKD_OK) t->pred_v = cJSON_IsString(pred) && !strcmp(pred->valuestring, "v");
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(root, "conditioning");
    const cJSON *pe = cond ? cJSON_GetObjectItemCaseSensitive(cond, "pad_with_eos") : NULL;
    t->pad_with_eos = pe && cJSON_IsTrue(pe);
    cJSON_Delete(root);
    return s;
}

static vkd_status_t copy_file(const char *from, const char *to) {
    char *buf = NULL;
    size_t n = 0;
    VKD_TRY(vkd_file_read_all(from, &buf, &n));
    vkd_status_t s = vkd_file_write_atomic(to, buf, n);
    free(buf);
    return s;
}

// ---- set-up shared by create and resume --------------------------------------------------
// Loads the prior written into the run directory (configs, tokenizer and the weights just
// saved): proves the run produces a loadable prior, and takes the schedule, image and
// camera from the one parser of prior files.
static vkd_status_t adopt_prior(vkd_trainer_t *t) {
    vkd_prior_t *p = NULL;
    VKD_TRY(vkd_prior_load(t->prior_path, t->be, &p));
    const vkd_prior_info_t *in = vkd_prior_info(p);
    const vkd_schedule_t *sc = vkd_prior_schedule(p);
    vkd_status_t s = VKD_OK;
    if (!in->has_camera || in->channels != 3 || in->height != in->width)
        s = vkd_fail(VKD_ERR_FORMAT, "config %s: a ShapeWorld prior needs 3 x R x R images and a "
                     "camera distribution", t->prior_path);
    if (s == VKD_OK && in->encoding != VKD_ENC_LINEAR)
        s = vkd_fail(VKD_ERR_FORMAT, "config %s: ShapeWorld renders are linear RGB (image.encoding "
                     "\"linear\")", t->prior_path);
    const float *bg = vkd_sw_background();
    if (s == VKD_OK && in->has_background)
        for (int k = 0; k < 3; k++)
            if (fabsf(in->background[k] - bg[k]) > 1e-3f)
                s = vkd_fail(VKD_ERR_FORMAT, "config %s: \"background\" must be the ShapeWorld "
                             "background [%.4g, %.4g, %.4g]", t->prior_path, bg[0], bg[1], bg[2]);
    if (s == VKD_OK) {
        t->C = in->channels, t->H = in->height, t->W = in->width;
        t->range_lo = in->range_lo, t->range_hi = in->range_hi;
        t->o.data.res = in->width;
        t->o.data.camera = in->camera;
        memcpy(t->o.data.shade_suffix, in->shade_suffix, sizeof t->o.data.shade_suffix);
        t->T = sc->T;
        t->abar = malloc(sizeof(float) * (size_t)t->T);
        if (!t->abar) s = vkd_fail(VKD_ERR_NOMEM, "train-prior: out of memory");
        else memcpy(t->abar, sc->alphas_cumprod_f32, sizeof(float) * (size_t)t->T);
    }
    vkd_prior_free(p);
    if (s == VKD_OK) s = vkd_swdata_opts_check(&t->o.data);
    return s;
}

static vkd_status_t alloc_state(vkd_trainer_t *t) {
    t->P = vkd_prior_net_param_count(t->net);
    const size_t per = (t->P * sizeof(float) + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
    VKD_TRY(vkd_arena_create(t->be, "optimizer", 3 * per, &t->opt));
    VKD_TRY(vkd_arena_alloc(t->opt, t->P, &t->m));
    VKD_TRY(vkd_arena_alloc(t->opt, t->P, &t->v));
    VKD_TRY(vkd_arena_alloc(t->opt, t->P, &t->ema));
    vkd_buf_t pa = vkd_prior_net_params(t->net), gr = vkd_prior_net_grads(t->net);
    if (!t->m.host || !t->v.host || !t->ema.host || !pa.host || !gr.host)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "train-prior needs host-visible memory (the CPU "
                        "backend, lavapipe or an integrated GPU): use --device cpu");
    const int B = t->o.batch;
    const size_t img = (size_t)B * t->C * t->H * t->W;
    t->x0 = malloc(sizeof(float) * img);
    t->xt = malloc(sizeof(float) * img);
    t->target = malloc(sizeof(float) * img);
    t->weight = malloc(sizeof(float) * (size_t)B);
    t->tsteps = malloc(sizeof(float) * (size_t)B);
    t->per_sample = malloc(sizeof(float) * (size_t)B);
    t->ids = malloc(sizeof(int32_t) * (size_t)B * t->L);
    t->items = malloc(sizeof *t->items * (size_t)B);
    if (!t->x0 || !t->xt || !t->target || !t->weight || !t->tsteps || !t->per_sample || !t->ids ||
        !t->items)
        return vkd_fail(VKD_ERR_NOMEM, "train-prior: out of host memory");
    return VKD_OK;
}

static vkd_status_t load_tokenizer(vkd_trainer_t *t) {
    char path[PATH_CAP];
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->tok_name));
    VKD_TRY(vkd_tokenizer_load(path, &t->tok));
    t->L = vkd_tokenizer_max_length(t->tok);
    if (t->L > t->te.context_length || vkd_tokenizer_vocab_size(t->tok) > t->te.vocab_size)
        return vkd_fail(VKD_ERR_FORMAT, "tokenizer %s does not fit the text encoder (%d tokens of "
                        "%d ids; the encoder takes %d positions and %d ids)", path, t->L,
                        vkd_tokenizer_vocab_size(t->tok), t->te.context_length, t->te.vocab_size);
    return VKD_OK;
}

static int all_finite(const float *x, size_t n) {
    int ok = 1;
#pragma omp parallel for reduction(&& : ok) if (n > 100000)
    for (size_t i = 0; i < n; i++) ok = ok && isfinite(x[i]);
    return ok;
}

static vkd_status_t save_values(vkd_trainer_t *t, vkd_buf_t values, const char *path) {
    if (!all_finite(values.host, t->P))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: refusing to write non-finite weights to %s "
                        "(step %lld); the last good checkpoint is kept", path,
                        (long long)t->steps_done);
    char step[32];
    snprintf(step, sizeof step, "%lld", (long long)t->steps_done);
    const char *meta[] = {"vkdream_train_step", step};
    return vkd_prior_net_save(t->net, values, path, meta, 1);
}

// ---- state.json ------------------------------------------------------------------------
static cJSON *opts_json(const vkd_trainer_opts_t *o) {
    cJSON *j = cJSON_CreateObject();
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", seed); // a string: JSON numbers lose 64-bit seeds
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "lr_min", o->lr_min);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "ema_decay", o->ema_decay);
    cJSON_AddNumberToObject(j, "clip_norm", o->clip_norm);
    cJSON_AddNumberToObject(j, "min_snr_gamma", o->min_snr_gamma);
    cJSON_AddNumberToObject(j, "max_bad_steps", o->max_bad_steps);
    cJSON_AddNumberToObject(j, "data_supersample", o->data.supersample);
    cJSON_AddNumberToObject(j, "data_p_uncond", o->data.p_uncond);
    cJSON_AddNumberToObject(j, "data_p_view", o->data.p_view);
    cJSON_AddNumberToObject(j, "data_p_lit", o->data.shade.p_lit);
    cJSON_AddNumberToObject(j, "data_p_textureless", o->data.shade.p_textureless);
    return j;
}

static vkd_status_t opts_from_json(const cJSON *j, const char *path, vkd_trainer_opts_t *o) {
    *o = vkd_trainer_opts_default();
    const char *num_keys[] = {"batch", "steps", "lr", "lr_min", "warmup", "weight_decay", "beta1",
                              "beta2", "ema_decay", "clip_norm", "min_snr_gamma", "max_bad_steps",
                              "data_supersample", "data_p_uncond", "data_p_view", "data_p_lit",
                              "data_p_textureless"};
    double v[17];
    for (int i = 0; i < 17; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, num_keys[i]);
        if (!cJSON_IsNumber(it))
            return vkd_fail(VKD_ERR_FORMAT, "%s: \"options.%s\" is missing or not a number", path,
                            num_keys[i]);
        v[i] = it->valuedouble;
    }
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (!cJSON_IsString(seed)) return vkd_fail(VKD_ERR_FORMAT, "%s: \"options.seed\" missing", path);
    o->seed = strtoull(seed->valuestring, NULL, 10);
    o->batch = (int)v[0], o->steps = (int64_t)v[1], o->lr = (float)v[2], o->lr_min = (float)v[3];
    o->warmup = (int)v[4], o->weight_decay = (float)v[5], o->beta1 = (float)v[6];
    o->beta2 = (float)v[7], o->ema_decay = (float)v[8], o->clip_norm = (float)v[9];
    o->min_snr_gamma = (float)v[10], o->max_bad_steps = (int)v[11];
    o->data.supersample = (int)v[12], o->data.p_uncond = (float)v[13];
    o->data.p_view = (float)v[14], o->data.shade.p_lit = (float)v[15];
    o->data.shade.p_textureless = (float)v[16];
    return check_opts(o);
}

static vkd_status_t write_state(vkd_trainer_t *t, const char names[3][NAME_CAP]) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "vkdream-train-state");
    cJSON_AddNumberToObject(j, "steps_done", (double)t->steps_done);
    cJSON_AddNumberToObject(j, "bad_in_row", t->bad_in_row);
    cJSON_AddStringToObject(j, "config", t->cfg_name);
    cJSON_AddStringToObject(j, "params", names[0]);
    cJSON_AddStringToObject(j, "adam", names[1]);
    cJSON_AddStringToObject(j, "ema", names[2]);
    cJSON_AddItemToObject(j, "options", opts_json(&t->o));
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return vkd_fail(VKD_ERR_NOMEM, "train-prior: out of memory");
    char path[PATH_CAP];
    vkd_status_t s = vkd_path_join(path, sizeof path, t->dir, "train/state.json");
    if (s == VKD_OK) s = vkd_file_write_atomic(path, text, strlen(text));
    free(text);
    return s;
}

static vkd_status_t save_adam(vkd_trainer_t *t, const char *path) {
    vkd_st_writer_t *w = NULL;
    VKD_TRY(vkd_st_writer_create(&w));
    const int64_t shape[1] = {(int64_t)t->P};
    vkd_status_t s = vkd_st_writer_add(w, "adam.m", VKD_DT_F32, 1, shape, t->m.host);
    if (s == VKD_OK) s = vkd_st_writer_add(w, "adam.v", VKD_DT_F32, 1, shape, t->v.host);
    if (s == VKD_OK) s = vkd_st_write(w, path);
    vkd_st_writer_free(w);
    return s;
}

static vkd_status_t load_adam(vkd_trainer_t *t, const char *path) {
    vkd_safetensors_t *st = NULL;
    VKD_TRY(vkd_st_open(path, &st));
    const int64_t shape[1] = {(int64_t)t->P};
    const vkd_st_tensor_t *tm = NULL, *tv = NULL;
    vkd_status_t s = vkd_st_expect(st, "adam.m", 1, shape, &tm);
    if (s == VKD_OK) s = vkd_st_expect(st, "adam.v", 1, shape, &tv);
    if (s == VKD_OK) s = vkd_st_to_f32(tm, t->m.host, t->P);
    if (s == VKD_OK) s = vkd_st_to_f32(tv, t->v.host, t->P);
    vkd_st_close(st);
    return s;
}

vkd_status_t vkd_trainer_checkpoint(vkd_trainer_t *t) {
    char names[3][NAME_CAP], path[PATH_CAP];
    static const char *const kind[3] = {"params", "adam", "ema"};
    for (int i = 0; i < 3; i++)
        snprintf(names[i], NAME_CAP, "train/%s-%08lld.safetensors", kind[i],
                 (long long)t->steps_done);
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, names[0]));
    VKD_TRY(save_values(t, vkd_prior_net_params(t->net), path));
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, names[1]));
    VKD_TRY(save_adam(t, path));
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, names[2]));
    VKD_TRY(save_values(t, t->ema, path));
    VKD_TRY(write_state(t, (const char(*)[NAME_CAP])names));
    // The prior itself (EMA weights): an export, so a crash before it only leaves it older.
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->weights_name));
    VKD_TRY(save_values(t, t->ema, path));
    for (int i = 0; i < 3; i++) {
        if (t->ckpt_files[i][0] && strcmp(t->ckpt_files[i], names[i])) {
            if (vkd_path_join(path, sizeof path, t->dir, t->ckpt_files[i]) == VKD_OK) remove(path);
        }
        memcpy(t->ckpt_files[i], names[i], NAME_CAP);
    }
    return VKD_OK;
}

// ---- create / resume -------------------------------------------------------------------------
static vkd_status_t new_trainer(vkd_backend_t *be, const char *out_dir, vkd_trainer_t **out) {
    *out = NULL;
    if (!be || !out_dir || !out_dir[0])
        return vkd_fail(VKD_ERR_INVALID, "train-prior: missing backend or output directory");
    vkd_trainer_t *t = calloc(1, sizeof *t);
    if (!t) return vkd_fail(VKD_ERR_NOMEM, "train-prior: out of memory");
    t->be = be;
    if (strlen(out_dir) >= PATH_CAP - 2 * NAME_CAP) {
        free(t);
        return vkd_fail(VKD_ERR_INVALID, "train-prior: output directory path is too long");
    }
    snprintf(t->dir, sizeof t->dir, "%s", out_dir);
    *out = t;
    return VKD_OK;
}

static vkd_status_t create_impl(vkd_trainer_t *t, const char *config_path) {
    char path[PATH_CAP], cdir[PATH_CAP];
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, "train/state.json"));
    if (file_exists(path))
        return vkd_fail(VKD_ERR_INVALID, "%s already holds a training run: continue it with "
                        "--resume %s, or choose another output directory", t->dir, t->dir);
    char *text = NULL;
    size_t n = 0;
    VKD_TRY(vkd_file_read_all(config_path, &text, &n));
    vkd_status_t s = parse_config(t, text, config_path);
    const char *base = strrchr(config_path, '/');
    base = base ? base + 1 : config_path;
    if (s == VKD_OK && strlen(base) >= NAME_CAP)
        s = vkd_fail(VKD_ERR_INVALID, "config file name %.64s... is too long", base);
    snprintf(t->cfg_name, sizeof t->cfg_name, "%.255s", base);
    if (s == VKD_OK) s = vkd_mkdir_p(t->dir);
    if (s == VKD_OK) s = vkd_path_join(path, sizeof path, t->dir, "train");
    if (s == VKD_OK) s = vkd_mkdir_p(path);
    if (s == VKD_OK) s = vkd_path_join(path, sizeof path, t->dir, "samples");
    if (s == VKD_OK) s = vkd_mkdir_p(path);
    if (s == VKD_OK) s = vkd_path_join(t->prior_path, sizeof t->prior_path, t->dir, t->cfg_name);
    if (s == VKD_OK && strcmp(t->prior_path, config_path) != 0)
        s = vkd_file_write_atomic(t->prior_path, text, n);
    free(text);
    VKD_TRY(s);
    vkd_dir_of(config_path, cdir, sizeof cdir);
    char from[PATH_CAP];
    VKD_TRY(vkd_path_join(from, sizeof from, cdir, t->tok_name));
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->tok_name));
    if (strcmp(from, path)) VKD_TRY(copy_file(from, path));
    VKD_TRY(load_tokenizer(t));
    VKD_TRY(vkd_prior_net_create(t->be, &t->te, &t->un, t->o.seed, &t->net));
    if (t->o.init_weights) {
        VKD_TRY(vkd_prior_net_load(t->net, t->o.init_weights));
        if (!all_finite(vkd_prior_net_params(t->net).host, vkd_prior_net_param_count(t->net)))
            return vkd_fail(VKD_ERR_FORMAT, "--init %s holds non-finite weights", t->o.init_weights);
    }
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->weights_name));
    VKD_TRY(save_values(t, vkd_prior_net_params(t->net), path));
    VKD_TRY(adopt_prior(t));
    VKD_TRY(alloc_state(t));
    memset(t->m.host, 0, sizeof(float) * t->P);
    memset(t->v.host, 0, sizeof(float) * t->P);
    memcpy(t->ema.host, vkd_prior_net_params(t->net).host, sizeof(float) * t->P);
    return vkd_trainer_checkpoint(t);
}

vkd_status_t vkd_trainer_create(vkd_backend_t *be, const char *config_path, const char *out_dir,
                                const vkd_trainer_opts_t *opts, vkd_trainer_t **out) {
    VKD_TRY(check_opts(opts));
    if (!config_path) return vkd_fail(VKD_ERR_INVALID, "train-prior: missing --config");
    vkd_trainer_t *t = NULL;
    VKD_TRY(new_trainer(be, out_dir, &t));
    t->o = *opts;
    vkd_status_t s = create_impl(t, config_path);
    if (s != VKD_OK) {
        vkd_trainer_free(t);
        return s;
    }
    *out = t;
    return VKD_OK;
}

static const char *state_str(const cJSON *j, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(it) && !strchr(it->valuestring, '\n') ? it->valuestring : NULL;
}

// Model-describing parts of two configs must agree for a checkpoint of one to continue in
// the other.
static vkd_status_t same_model(const char *a_path, const char *b_path) {
    char *ta = NULL, *tb = NULL;
    size_t n = 0;
    VKD_TRY(vkd_file_read_all(a_path, &ta, &n));
    vkd_status_t s = vkd_file_read_all(b_path, &tb, &n);
    cJSON *a = ta ? cJSON_Parse(ta) : NULL, *b = tb ? cJSON_Parse(tb) : NULL;
    if (s == VKD_OK && (!a || !b)) s = vkd_fail(VKD_ERR_FORMAT, "%s or %s is not valid JSON", a_path, b_path);
    static const char *const keys[] = {"text_encoder", "unet", "image", "schedule", "prediction",
                                       "camera", "shade_suffix", "view_suffix"};
    for (int i = 0; s == VKD_OK && i < 8; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, keys[i]);
        if (!(x == NULL && y == NULL) && !(x && y && cJSON_Compare(x, y, 1)))
            s = vkd_fail(VKD_ERR_INVALID, "--config %s differs from the run's config %s in \"%s\": "
                         "a checkpoint only continues with the model it was trained as", b_path,
                         a_path, keys[i]);
    }
    cJSON_Delete(a), cJSON_Delete(b);
    free(ta), free(tb);
    return s;
}

static vkd_status_t resume_impl(vkd_trainer_t *t, const char *config_path, int64_t steps,
                                float lr) {
    char path[PATH_CAP];
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, "train/state.json"));
    if (!file_exists(path))
        return vkd_fail(VKD_ERR_INVALID, "%s holds no training run (no train/state.json): start "
                        "one with --config", t->dir);
    char *text = NULL;
    size_t n = 0;
    VKD_TRY(vkd_file_read_all(path, &text, &n));
    cJSON *j = cJSON_Parse(text);
    free(text);
    vkd_status_t s = j ? VKD_OK : vkd_fail(VKD_ERR_FORMAT, "%s is not valid JSON", path);
    const char *cfg = j ? state_str(j, "config") : NULL;
    const char *files[3] = {j ? state_str(j, "params") : NULL, j ? state_str(j, "adam") : NULL,
                            j ? state_str(j, "ema") : NULL};
    const cJSON *done = j ? cJSON_GetObjectItemCaseSensitive(j, "steps_done") : NULL;
    if (s == VKD_OK && (!cfg || !files[0] || !files[1] || !files[2] || !cJSON_IsNumber(done)))
        s = vkd_fail(VKD_ERR_FORMAT, "%s: missing config/params/adam/ema/steps_done", path);
    for (int i = 0; s == VKD_OK && i < 4; i++) {
        const char *f = i < 3 ? files[i] : cfg;
        if (strlen(f) >= NAME_CAP || strstr(f, ".."))
            s = vkd_fail(VKD_ERR_FORMAT, "%s: file name \"%.64s...\" is not one the trainer wrote",
                         path, f);
    }
    if (s == VKD_OK) s = opts_from_json(cJSON_GetObjectItemCaseSensitive(j, "options"), path, &t->o);
    if (s == VKD_OK) {
        snprintf(t->cfg_name, sizeof t->cfg_name, "%.255s", cfg);
        for (int i = 0; i < 3; i++) snprintf(t->ckpt_files[i], NAME_CAP, "%.255s", files[i]);
        t->steps_done = (int64_t)done->valuedouble;
        const cJSON *bad = cJSON_GetObjectItemCaseSensitive(j, "bad_in_row");
        t->bad_in_row = cJSON_IsNumber(bad) ? bad->valueint : 0;
    }
    cJSON_Delete(j);
    VKD_TRY(s);
    if (steps > 0) t->o.steps = steps;
    if (lr > 0) t->o.lr = lr, t->o.lr_min = t->o.lr_min < lr ? t->o.lr_min : lr;
    VKD_TRY(check_opts(&t->o));
    VKD_TRY(vkd_path_join(t->prior_path, sizeof t->prior_path, t->dir, t->cfg_name));
    if (config_path) VKD_TRY(same_model(t->prior_path, config_path));
    VKD_TRY(vkd_file_read_all(t->prior_path, &text, &n));
    s = parse_config(t, text, t->prior_path);
    free(text);
    VKD_TRY(s);
    VKD_TRY(load_tokenizer(t));
    VKD_TRY(vkd_prior_net_create(t->be, &t->te, &t->un, t->o.seed, &t->net));
    VKD_TRY(adopt_prior(t));
    VKD_TRY(alloc_state(t));
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->ckpt_files[2]));
    VKD_TRY(vkd_prior_net_load(t->net, path));
    memcpy(t->ema.host, vkd_prior_net_params(t->net).host, sizeof(float) * t->P);
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->ckpt_files[1]));
    VKD_TRY(load_adam(t, path));
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, t->ckpt_files[0]));
    return vkd_prior_net_load(t->net, path);
}

vkd_status_t vkd_trainer_resume(vkd_backend_t *be, const char *out_dir, const char *config_path,
                                int64_t steps, float lr, vkd_trainer_t **out) {
    vkd_trainer_t *t = NULL;
    VKD_TRY(new_trainer(be, out_dir, &t));
    vkd_status_t s = resume_impl(t, config_path, steps, lr);
    if (s != VKD_OK) {
        vkd_trainer_free(t);
        return s;
    }
    *out = t;
    return VKD_OK;
}

void vkd_trainer_free(vkd_trainer_t *t) {
    if (!t) return;
    vkd_prior_net_free(t->net);
    vkd_arena_destroy(t->opt);
    vkd_tokenizer_free(t->tok);
    free(t->abar), free(t->x0), free(t->xt), free(t->target), free(t->weight), free(t->tsteps);
    free(t->per_sample), free(t->ids), free(t->items);
    free(t);
}

vkd_status_t vkd_trainer_set_min_snr(vkd_trainer_t *t, float gamma) {
    if (!t || !(gamma >= 0 && gamma <= 1000))
        return vkd_fail(VKD_ERR_INVALID, "train-prior: min-SNR gamma must lie in [0, 1000]");
    t->o.min_snr_gamma = gamma;
    return VKD_OK;
}

int64_t vkd_trainer_steps_done(const vkd_trainer_t *t) { return t->steps_done; }
const vkd_trainer_opts_t *vkd_trainer_opts(const vkd_trainer_t *t) { return &t->o; }
size_t vkd_trainer_param_count(const vkd_trainer_t *t) { return t->P; }
const char *vkd_trainer_prior_path(const vkd_trainer_t *t) { return t->prior_path; }
const float *vkd_trainer_weights(const vkd_trainer_t *t, int ema) {
    return ema ? t->ema.host : vkd_prior_net_params(t->net).host;
}
double vkd_trainer_flops_per_sample(const vkd_trainer_t *t) {
    return 3.0 * vkd_unet_flops(&t->un, 1, t->H, t->W, t->L);
}

// ---- one step ---------------------------------------------------------------------------------
static float lr_at(const vkd_trainer_opts_t *o, int64_t k) {
    if (k < o->warmup) return o->lr * (float)(k + 1) / (float)o->warmup;
    const double span = (double)(o->steps - o->warmup);
    const double f = span > 0 ? fmin(1.0, (double)(k - o->warmup) / span) : 1.0;
    return (float)(o->lr_min + 0.5 * (o->lr - o->lr_min) * (1.0 + cos(3.141592653589793 * f)));
}

// x0 -> t, eps, x_t, target and loss weight of every sample of step k.
static vkd_status_t make_batch(vkd_trainer_t *t, int64_t k) {
    const int B = t->o.batch;
    const size_t n = (size_t)t->C * t->H * t->W;
    const uint64_t first = (uint64_t)k * (uint64_t)B;
    VKD_TRY(vkd_swdata_render(&t->o.data, t->o.seed, first, B, t->x0, t->items));
    const float lo = t->range_lo, span = t->range_hi - t->range_lo;
    for (int b = 0; b < B; b++) {
        const uint64_t base = (first + (uint64_t)b) * NOISE_BLOCKS_PER_SAMPLE;
        uint32_t w[4];
        vkd_philox_block(t->o.seed, VKD_TRAIN_NOISE_STREAM, base, w);
        const int ti = (int)(((uint64_t)w[0] * (uint64_t)t->T) >> 32);
        const double a = t->abar[ti], sa = sqrt(a), sn = sqrt(1.0 - a);
        t->tsteps[b] = (float)ti;
        const double snr = a / (1.0 - a), g = t->o.min_snr_gamma;
        // trainer.h: min-SNR on SNR (eps) or on SNR + 1 (v), the v form floors the x0 weight at 1.
        const double s = t->pred_v ? snr + 1.0 : snr;
        t->weight[b] = g > 0 ? (float)(fmin(s, g) / s) : 1.0f;
        float *x0 = t->x0 + b * n, *xt = t->xt + b * n, *tg = t->target + b * n;
        for (size_t i = 0; i < n; i += 2) {
            vkd_philox_block(t->o.seed, VKD_TRAIN_NOISE_STREAM, base + 1 + i / 2, w);
            float e[2];
            vkd_philox_box_muller(w[0], w[1], &e[0], &e[1]);
            for (size_t j = i; j < i + 2 && j < n; j++) {
                const float x = lo + span * x0[j], eps = e[j - i];
                x0[j] = x;
                xt[j] = (float)(sa * x + sn * eps);
                tg[j] = t->pred_v ? (float)(sa * eps - sn * x) : eps;
            }
        }
        int32_t *ids = t->ids + (size_t)b * t->L;
        if (t->items[b].uncond)
            VKD_TRY(vkd_tokenize_unconditional(t->tok, t->L, t->pad_with_eos, ids, NULL));
        else
            VKD_TRY(vkd_tokenize_padded(t->tok, t->items[b].caption, t->L, t->pad_with_eos, ids,
                                        NULL));
    }
    return VKD_OK;
}

static double sum_squares(const float *x, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > 100000)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vkd_status_t vkd_trainer_step(vkd_trainer_t *t, vkd_trainer_stats_t *st) {
    const double t0 = now_s();
    const int64_t k = t->steps_done;
    vkd_trainer_stats_t s = {.step = k, .lr = lr_at(&t->o, k)};
    VKD_TRY(make_batch(t, k));
    vkd_buf_t params = vkd_prior_net_params(t->net), grads = vkd_prior_net_grads(t->net);
    VKD_TRY(op_fill(t->be, grads, 0.0f, t->P));
    VKD_TRY(vkd_prior_net_step(t->net, t->xt, t->tsteps, t->ids, t->target, t->weight,
                               t->o.batch, t->H, t->W, t->L, &s.loss, t->per_sample));
    VKD_TRY(vkd_backend_sync(t->be));
    s.grad_norm = sqrt(sum_squares(grads.host, t->P));
    const char *sim = getenv("VKDREAM_TRAIN_SIMULATE_NAN");
    if (sim && *sim && strtoll(sim, NULL, 10) == k) s.loss = NAN;
    if (!isfinite(s.loss) || !isfinite(s.grad_norm)) {
        s.skipped = 1;
        t->bad_in_row++;
        t->steps_done++; // the step's data and noise are used up; the weights are unchanged
        s.seconds = now_s() - t0;
        if (st) *st = s;
        if (t->bad_in_row >= t->o.max_bad_steps)
            return vkd_fail(VKD_ERR_NUMERIC, "train-prior: %d steps in a row ending at step %lld had "
                            "a non-finite loss or gradient; stopping (the last good checkpoint is "
                            "kept; try a lower --lr)", t->bad_in_row, (long long)k);
        return VKD_OK;
    }
    t->bad_in_row = 0;
    if (t->o.clip_norm > 0 && s.grad_norm > t->o.clip_norm)
        VKD_TRY(op_scale_forward(t->be, grads, grads, t->P, (float)(t->o.clip_norm / s.grad_norm),
                                 0.0f));
    // Decoupled weight decay first (as torch.optim.AdamW), only where it belongs.
    if (t->o.weight_decay > 0) {
        const float keep = 1.0f - s.lr * t->o.weight_decay;
        for (int i = 0; i < vkd_prior_net_n_tensors(t->net); i++) {
            const vkd_prior_net_tensor_t *ti = vkd_prior_net_tensor(t->net, i);
            if (ti->no_decay) continue;
            float *p = params.host + ti->offset;
            for (size_t j = 0; j < ti->count; j++) p[j] *= keep;
        }
    }
    const vkd_adam_t ad = {.lr = s.lr, .beta1 = t->o.beta1, .beta2 = t->o.beta2, .eps = 1e-8f,
                           .weight_decay = 0.0f, .adamw = 1, .step = k + 1};
    VKD_TRY(op_adam_step(t->be, params, t->m, t->v, grads, t->P, &ad));
    VKD_TRY(vkd_backend_sync(t->be));
    const double d = fmin(t->o.ema_decay, (1.0 + (double)k) / (10.0 + (double)k));
    const float fd = (float)d, fu = (float)(1.0 - d);
    float *e = t->ema.host;
    const float *p = params.host;
#pragma omp parallel for if (t->P > 100000)
    for (size_t i = 0; i < t->P; i++) e[i] = fd * e[i] + fu * p[i];
    t->steps_done++;
    s.seconds = now_s() - t0;
    if (st) *st = s;
    return VKD_OK;
}

vkd_status_t vkd_trainer_log(vkd_trainer_t *t, const vkd_trainer_stats_t *st) {
    char path[PATH_CAP], line[512];
    VKD_TRY(vkd_path_join(path, sizeof path, t->dir, "train/log.jsonl"));
    // JSON has no NaN: a skipped step's loss is null.
    char loss[64], gn[64];
    if (isfinite(st->loss)) snprintf(loss, sizeof loss, "%.6g", st->loss);
    else snprintf(loss, sizeof loss, "null");
    if (isfinite(st->grad_norm)) snprintf(gn, sizeof gn, "%.6g", st->grad_norm);
    else snprintf(gn, sizeof gn, "null");
    int n = snprintf(line, sizeof line,
                     "{\"step\": %lld, \"loss\": %s, \"grad_norm\": %s, \"lr\": %.6g, "
                     "\"skipped\": %d, \"seconds\": %.4f, \"samples_per_s\": %.3f}\n",
                     (long long)st->step, loss, gn, st->lr, st->skipped, st->seconds,
                     st->seconds > 0 ? t->o.batch / st->seconds : 0.0);
    // An append is not atomic, but a torn last line of a log loses nothing else.
    FILE *f = fopen(path, "a");
    if (!f) return vkd_fail(VKD_ERR_IO, "cannot append to %s: %s", path, strerror(errno));
    size_t w = fwrite(line, 1, (size_t)n, f);
    int c = fclose(f);
    if (w != (size_t)n || c != 0) return vkd_fail(VKD_ERR_IO, "cannot write %s (disk full?)", path);
    return VKD_OK;
}

// ---- sample grids ---------------------------------------------------------------------------
static const char *const GRID_PROMPTS[] = {
    "a red sphere", "an orange cube", "a yellow cylinder", "a green cone",
    "a blue torus", "a purple pyramid", "a cyan cube, textureless", "a pink torus, side view",
};
#define N_GRID_PROMPTS ((int)(sizeof GRID_PROMPTS / sizeof GRID_PROMPTS[0]))

vkd_status_t vkd_trainer_sample_grid(vkd_trainer_t *t, const char *png_path, int per_prompt,
                                     int ddim_steps, float guidance) {
    if (per_prompt < 1 || per_prompt > 64 || ddim_steps < 1)
        return vkd_fail(VKD_ERR_INVALID, "sample grid: bad size");
    vkd_prior_t *p = NULL;
    VKD_TRY(vkd_prior_load(t->prior_path, t->be, &p));
    const int C = t->C, H = t->H, W = t->W, n = N_GRID_PROMPTS * per_prompt;
    const size_t img = (size_t)C * H * W;
    float *samples = malloc(sizeof(float) * img * (size_t)n);  // (n, C, H, W)
    vkd_status_t s = samples ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "sample grid: out of memory");
    vkd_prior_cond_t *un = NULL;
    if (s == VKD_OK) s = vkd_prior_encode_uncond(p, &un);
    vkd_sampler_opts_t so = vkd_sampler_opts_default();
    so.steps = ddim_steps;
    so.guidance.scale = guidance;
    so.seed = t->o.seed;
    for (int i = 0; s == VKD_OK && i < N_GRID_PROMPTS; i++) {
        vkd_prior_cond_t *c = NULL;
        s = vkd_prior_encode(p, GRID_PROMPTS[i], &c);
        if (s == VKD_OK) s = vkd_sample(p, samples + (size_t)i * per_prompt * img, per_prompt, c, un, &so, NULL);
        vkd_prior_cond_free(c);
    }
    if (s == VKD_OK) s = vkd_sample_grid_png(p, samples, n, per_prompt, 1, png_path);
    vkd_prior_cond_free(un);
    vkd_prior_free(p);
    free(samples);
    return s;
}
