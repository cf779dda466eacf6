// The SDS loop (dream.h): renders from random cameras, the prior's gradient on each, the
// backward through renderer and field, Adam.
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dream.h"
#include "nerf/checkpoint.h"

#define N_BINS VKD_VIEW_COUNT
#define N_MODES VKD_SHADE_COUNT

struct vkd_dream {
    vkd_backend_t *be;
    vkd_prior_t *p;
    vkd_dream_opts_t o;
    char prompt[VKD_PROMPT_MAX + 1];
    vkd_field_t *f;
    vkd_nerf_renderer_t *r;
    // Condition handles per (view bin, shading mode); distinct prompts are encoded once
    // and shared, `owned` lists each handle once for freeing.
    vkd_prior_cond_t *cond[N_BINS][N_MODES];
    vkd_prior_cond_t *owned[N_BINS * N_MODES];
    int n_owned;
    vkd_prior_cond_t *uncond; // NULL when the guidance is neutral and no negative is given
    int C, H, W;              // the prior's image
    int k;                    // render side / prior side (box filter factor)
    int RW;                   // render side
    vkd_arena_t *arena;       // drgb
    vkd_buf_t drgb;           // (RW * RW, 3)
    float *rays;              // (RW * RW, 8)
    float *rgb;               // (RW * RW, 3) render
    float *x;                 // (C, H, W) the render at the prior's size
    float *g;                 // (C, H, W) SDS gradient
    float *dh;                // (RW * RW, 3) host drgb
    float *grads;             // (n_params) host copy for the finiteness check
    uint64_t step;            // next step
    int consecutive_skips, skips;
};

// Defaults measured with the oracle prior (albedo image sets, albedo steps) on a loaded
// 2-core machine, 300 steps, IoU at iso 5 (dream_score.h):
//   lr 2e-3, 48 samples, no entropy:         sphere 0.47 (500 steps), cube 0.81 (400 steps):
//                                             the right silhouette but soft, low density
//   lr 5e-3, grid_thresh 0.05:                cube 0.80, sphere 0.69 (soft again)
//   + lambda_entropy 0.2:                     cube 0.85, sphere 0.90, and iso 2..8 all give
//                                             the same IoU (crisp surfaces)
//   lambda_entropy 1.0:                       collapses to an empty field; 0.2 still
//                                             collapsed a green cone (seed 0) once the
//                                             grid's first refresh found nothing above its
//                                             threshold (no samples, no gradient, ever)
//   lambda_entropy 0.1:                       cube 0.93, sphere 0.91, cone 0.67 (seed 1, 0),
//                                             but a yellow pyramid grew a sheet of
//                                             background-coloured density under it (invisible
//                                             in albedo renders): IoU 0.09, colour "green"
//   + lambda_opacity 0.1 (the defaults):      pyramid 0.75 (1000 steps), cube 0.86, sphere
//                                             0.83 (300 steps, seed 1)
// grid_thresh 0.05 (not 0.01) skips the faint fog SDS leaves around the object: 2-3x fewer
// samples per step.
// With the bundled (v-prediction) prior, 1000 steps, guidance 20: "a green torus" emptied
// its field within the first 100 steps (seeds 0 and 1; also with --views 2 and with lr
// 2e-3): the opacity and entropy regularisers pull faint density to zero while the prior
// barely tells a green object from the green background. reg_ramp 0.3 (the regularisers
// rise from 0 over the first 30% of the run): IoU 0.83; ramp 1.0: 0.76.
vkd_dream_opts_t vkd_dream_opts_default(void) {
    vkd_dream_opts_t o;
    memset(&o, 0, sizeof o);
    o.steps = 1000;
    o.seed = 0;
    o.views = 1;
    o.res = 0;
    o.sds = vkd_sds_opts_default();
    o.sds.t_min = 0.02f;
    o.sds.t_max = 0.98f;
    o.t_max_end = 0.5f;
    o.t_anneal_start = 0.5f;
    o.shade = vkd_shade_schedule_default();
    o.shade.albedo_steps = 100; // ~10% of the run
    o.nerf = vkd_nerf_config_default();
    o.nerf.lr = 5e-3f;
    o.nerf.grid_thresh = 0.05f;
    o.nerf.lambda_orient = 1e-2f;
    o.nerf.lambda_opacity = 0.1f;
    o.nerf.lambda_entropy = 0.1f;
    o.max_skips = 10;
    o.reg_ramp = 0.3f;
    return o;
}

static vkd_status_t check_opts(const vkd_dream_opts_t *o, const vkd_prior_info_t *in) {
    if (o->steps < 1 || o->steps > 10000000)
        return vkd_fail(VKD_ERR_INVALID, "generate: steps %d outside 1..10000000", o->steps);
    if (o->views < 1 || o->views > 16)
        return vkd_fail(VKD_ERR_INVALID, "generate: views per step %d outside 1..16", o->views);
    if (in->channels != 3 || in->height != in->width)
        return vkd_fail(VKD_ERR_INVALID, "generate: prior '%s' has %d x %d x %d images; SDS of a "
                        "NeRF needs square RGB images", in->name, in->channels, in->height, in->width);
    if (!in->has_camera)
        return vkd_fail(VKD_ERR_INVALID, "generate: prior '%s' has no camera distribution "
                        "(\"camera\": null): it was not trained on renders of 3D objects", in->name);
    if (o->res != 0 && (o->res < in->height || o->res % in->height || o->res > 8 * in->height))
        return vkd_fail(VKD_ERR_INVALID, "generate: render size %d must be the prior's image size "
                        "%d times 1..8 (renders are box-filtered down to it)", o->res, in->height);
    if (!(o->sds.t_min >= 0 && o->sds.t_min <= o->sds.t_max && o->sds.t_max <= 1))
        return vkd_fail(VKD_ERR_INVALID, "generate: t range [%g, %g] must satisfy 0 <= t-min <= "
                        "t-max <= 1", (double)o->sds.t_min, (double)o->sds.t_max);
    if (!(o->t_max_end >= o->sds.t_min && o->t_max_end <= o->sds.t_max))
        return vkd_fail(VKD_ERR_INVALID, "generate: annealed t-max %g must lie in [t-min %g, "
                        "t-max %g]", (double)o->t_max_end, (double)o->sds.t_min, (double)o->sds.t_max);
    if (!(o->reg_ramp >= 0 && o->reg_ramp <= 1))
        return vkd_fail(VKD_ERR_INVALID, "generate: regulariser ramp %g outside [0, 1]",
                        (double)o->reg_ramp);
    if (!(o->t_anneal_start >= 0 && o->t_anneal_start <= 1))
        return vkd_fail(VKD_ERR_INVALID, "generate: t anneal start %g outside [0, 1]",
                        (double)o->t_anneal_start);
    if (!(isfinite(o->sds.guidance.scale) && o->sds.guidance.scale >= 0))
        return vkd_fail(VKD_ERR_INVALID, "generate: guidance %g is not a finite number >= 0",
                        (double)o->sds.guidance.scale);
    if (o->max_skips < 1)
        return vkd_fail(VKD_ERR_INVALID, "generate: max skips %d < 1", o->max_skips);
    VKD_TRY(vkd_shade_schedule_check(&o->shade));
    return VKD_OK;
}

// Encode every (view bin, shading mode) prompt, each distinct text once.
static vkd_status_t encode_all(vkd_dream_t *d, const char *negative) {
    char texts[N_BINS * N_MODES][VKD_PROMPT_MAX + 64];
    // The bare prompt first: a prompt the prior cannot read fails with the prior's own
    // message about the prompt the user typed.
    vkd_prior_cond_t *bare = NULL;
    VKD_TRY(vkd_prior_encode(d->p, d->prompt, &bare));
    vkd_prior_cond_free(bare);
    for (int b = 0; b < N_BINS; b++)
        for (int m = 0; m < N_MODES; m++) {
            char *t = texts[d->n_owned];
            VKD_TRY(vkd_prior_render_prompt(d->p, d->prompt, (vkd_view_bin_t)b, (vkd_shade_mode_t)m,
                                            t, sizeof texts[0]));
            for (int i = 0; i < d->n_owned && !d->cond[b][m]; i++)
                if (!strcmp(texts[i], t)) d->cond[b][m] = d->owned[i];
            if (d->cond[b][m]) continue;
            VKD_TRY(vkd_prior_encode(d->p, t, &d->owned[d->n_owned]));
            d->cond[b][m] = d->owned[d->n_owned++];
        }
    const int neutral = vkd_cfg_ldm_scale(&d->o.sds.guidance) == 1.0;
    if (negative && *negative) return vkd_prior_encode(d->p, negative, &d->uncond);
    if (!neutral) return vkd_prior_encode_uncond(d->p, &d->uncond);
    return VKD_OK;
}

vkd_status_t vkd_dream_create(vkd_backend_t *be, vkd_prior_t *p, const char *prompt,
                              const char *negative, const vkd_dream_opts_t *o, vkd_dream_t **out) {
    if (!be || !p || !prompt || !o || !out)
        return vkd_fail(VKD_ERR_INVALID, "generate: NULL backend, prior, prompt or options");
    *out = NULL;
    // The checkpoint's metadata holds at most 1023 bytes of prompt.
    if (strlen(prompt) > 1023)
        return vkd_fail(VKD_ERR_INVALID, "generate: the prompt is longer than 1023 bytes");
    const vkd_prior_info_t *in = vkd_prior_info(p);
    VKD_TRY(check_opts(o, in));
    vkd_dream_t *d = calloc(1, sizeof *d);
    if (!d) return vkd_fail(VKD_ERR_NOMEM, "generate: out of memory");
    d->be = be, d->p = p, d->o = *o;
    snprintf(d->prompt, sizeof d->prompt, "%s", prompt);
    d->o.sds.seed = o->seed;
    vkd_nerf_config_t *cfg = &d->o.nerf;
    cfg->total_steps = o->steps;
    cfg->seed = o->seed;
    if (in->has_background) {
        // The prior only knows renders over its own background: a learned one would be free
        // to paint the object into the background.
        cfg->bg_mode = VKD_NERF_BG_FIXED;
        memcpy(cfg->bg_color, in->background, sizeof cfg->bg_color);
    }
    d->C = in->channels, d->H = in->height, d->W = in->width;
    d->RW = o->res ? o->res : d->W;
    d->k = d->RW / d->W;
    const size_t R = (size_t)d->RW * d->RW, chw = (size_t)d->C * d->H * d->W;
    vkd_status_t s = vkd_nerf_config_check(cfg);
    if (!s) s = encode_all(d, negative);
    if (!s) s = vkd_field_create(be, cfg, &d->f);
    // Room for whole turntable tiles as well (outputs render through the same renderer).
    const vkd_nerf_renderer_opts_t ro = {.max_rays = R > 4096 ? (int)R : 4096};
    if (!s) s = vkd_nerf_renderer_create(d->f, &ro, &d->r);
    if (!s) s = vkd_arena_create(be, "dream", R * 3 * sizeof(float) + 2 * VKD_BUF_ALIGN, &d->arena);
    if (!s) s = vkd_arena_alloc(d->arena, R * 3, &d->drgb);
    if (!s) {
        d->rays = malloc(R * 8 * sizeof(float));
        d->rgb = malloc(R * 3 * sizeof(float));
        d->dh = malloc(R * 3 * sizeof(float));
        d->x = malloc(chw * sizeof(float));
        d->g = malloc(chw * sizeof(float));
        d->grads = malloc(d->f->n_params * sizeof(float));
        if (!d->rays || !d->rgb || !d->dh || !d->x || !d->g || !d->grads)
            s = vkd_fail(VKD_ERR_NOMEM, "generate: out of memory");
    }
    if (s) {
        vkd_dream_destroy(d);
        return s;
    }
    *out = d;
    return VKD_OK;
}

void vkd_dream_destroy(vkd_dream_t *d) {
    if (!d) return;
    for (int i = 0; i < d->n_owned; i++) vkd_prior_cond_free(d->owned[i]);
    vkd_prior_cond_free(d->uncond);
    vkd_nerf_renderer_destroy(d->r);
    vkd_field_destroy(d->f);
    vkd_arena_destroy(d->arena);
    free(d->rays), free(d->rgb), free(d->dh), free(d->x), free(d->g), free(d->grads);
    free(d);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// t_max of step s: constant, then linear towards t_max_end over the rest of the run.
static float annealed_t_max(const vkd_dream_opts_t *o, uint64_t s) {
    const double a = o->t_anneal_start * o->steps, n = o->steps;
    if ((double)s <= a || n <= a) return o->sds.t_max;
    double u = ((double)s - a) / (n - a);
    if (u > 1) u = 1;
    return (float)(o->sds.t_max + (o->t_max_end - o->sds.t_max) * u);
}

static int all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

// One view b of step s: render, SDS gradient, backward. *bad = 1 (and no backward) when the
// render or the gradient holds a non-finite value.
static vkd_status_t view_step(vkd_dream_t *d, uint64_t s, int b, vkd_shade_mode_t mode,
                              const vkd_sds_opts_t *so, vkd_dream_step_info_t *info, int *bad) {
    const vkd_prior_info_t *in = vkd_prior_info(d->p);
    const int RW = d->RW, k = d->k, H = d->H, W = d->W, C = d->C;
    const size_t R = (size_t)RW * RW, hw = (size_t)H * W;
    vkd_camera_t cam;
    VKD_TRY(vkd_camera_sample(&in->camera, d->o.seed, s, (uint32_t)b, RW, RW, &cam));
    vkd_nerf_view_t view = {.mode = mode, .jitter = 1, .step = s};
    VKD_TRY(vkd_light_sample(&cam, in->camera.scale, d->o.seed, s, (uint32_t)b, &view.light));
    vkd_nerf_camera_rays(&cam, d->rays);
    VKD_TRY(vkd_nerf_render_forward(d->r, d->rays, (int)R, &view));
    const vkd_render_out_t ro = {d->rgb, NULL, NULL, NULL};
    VKD_TRY(vkd_nerf_render_read(d->r, &ro));
    info->samples = vkd_nerf_render_samples(d->r);
    if (!all_finite(d->rgb, R * 3)) {
        *bad = 1;
        return VKD_OK;
    }
    // Box filter (RW, RW, 3) -> (C, H, W).
    const float inv_kk = 1.0f / (float)(k * k);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float acc = 0;
                for (int j = 0; j < k; j++)
                    for (int i = 0; i < k; i++) acc += d->rgb[((size_t)(y * k + j) * RW + x * k + i) * 3 + c];
                d->x[c * hw + (size_t)y * W + x] = acc * inv_kk;
            }
    const vkd_prior_cond_t *cond = d->cond[vkd_camera_view_bin(&cam)][mode];
    const vkd_prior_cond_t *unc = d->uncond;
    int t = 0;
    vkd_sds_stats_t st;
    VKD_TRY(vkd_sds_grad(d->p, d->g, d->x, 1, &cond, unc ? &unc : NULL, so,
                         s * (uint64_t)d->o.views + (uint64_t)b, &t, &st));
    if (b == 0) info->t = t;
    const size_t chw = (size_t)C * hw;
    if (d->o.grad_hook) d->o.grad_hook(d->o.hook_user, s, d->g, chw);
    if (st.n_nonfinite > 0 || !all_finite(d->g, chw)) {
        *bad = 1;
        return VKD_OK;
    }
    double n2 = 0;
    for (size_t i = 0; i < chw; i++) n2 += (double)d->g[i] * d->g[i];
    info->grad_norm += n2;
    info->loss += st.loss / d->o.views;
    // d(mean over render pixels and views of <g, x>)/d rgb: each render pixel gets its
    // prior pixel's gradient / (k^2 H W views).
    const float scale = 1.0f / ((float)R * (float)d->o.views);
    for (size_t py = 0; py < (size_t)RW; py++)
        for (size_t px = 0; px < (size_t)RW; px++)
            for (int c = 0; c < C; c++)
                d->dh[(py * RW + px) * 3 + c] = d->g[c * hw + (py / k) * W + px / k] * scale;
    VKD_TRY(vkd_buf_write(d->drgb, d->dh, R * 3 * sizeof(float)));
    return vkd_nerf_render_backward(d->r, d->drgb, VKD_BUF_NONE);
}

vkd_status_t vkd_dream_step(vkd_dream_t *d, vkd_dream_step_info_t *info) {
    if (!d) return vkd_fail(VKD_ERR_INVALID, "generate: NULL run");
    const double t0 = now_ms();
    const uint64_t s = d->step;
    vkd_dream_step_info_t inf = {.step = s};
    inf.mode = vkd_shade_schedule_mode(&d->o.shade, d->o.seed, s);
    vkd_sds_opts_t so = d->o.sds;
    so.t_max = inf.t_max = annealed_t_max(&d->o, s);
    int refreshed = 0;
    VKD_TRY(vkd_nerf_grid_step(d->r, s, &refreshed));
    if (refreshed) {
        // An empty grid skips every sample: no render, no gradient, and the field could never
        // grow back (seen with "a green cylinder", whose object the prior barely tells from
        // the green background early on). Until a refresh finds density again, sample
        // everywhere: a pure function of the state, so resume stays exact.
        double frac = 1.0;
        VKD_TRY(vkd_nerf_grid_occupancy(d->r, &frac));
        if (frac <= 0.0) vkd_nerf_grid_set_ready(d->r, 0);
    }
    {
        // The sparsity regularisers pull every faint density towards empty; early on, when
        // the prior barely tells a green object from the green background, they can empty
        // the field before SDS has shaped it. So they come in gradually (dream.h reg_ramp).
        const double n = (double)d->o.reg_ramp * d->o.steps;
        const float w = n > 0 && (double)s < n ? (float)((double)s / n) : 1.0f;
        vkd_nerf_render_set_reg_weights(d->r, d->o.nerf.lambda_orient, w * d->o.nerf.lambda_opacity,
                                        w * d->o.nerf.lambda_entropy);
    }
    VKD_TRY(vkd_field_zero_grad(d->f));
    int bad = 0;
    for (int b = 0; b < d->o.views && !bad; b++) VKD_TRY(view_step(d, s, b, inf.mode, &so, &inf, &bad));
    inf.grad_norm = sqrt(inf.grad_norm);
    if (!bad) {
        VKD_TRY(vkd_buf_read(d->f->grads, d->grads, d->f->n_params * sizeof(float)));
        bad = !all_finite(d->grads, d->f->n_params);
    }
    if (bad) {
        inf.skipped = 1;
        d->f->step++; // a skipped step still counts (dream.h)
        d->skips++;
        d->consecutive_skips++;
    } else {
        VKD_TRY(vkd_field_adam_step(d->f));
        d->consecutive_skips = 0;
    }
    d->step++;
    inf.ms = now_ms() - t0;
    if (info) *info = inf;
    if (d->consecutive_skips >= d->o.max_skips)
        return vkd_fail(VKD_ERR_NUMERIC, "generate: %d consecutive steps (up to step %llu) had NaN "
                        "or infinite values in the render or its gradient, so the run stopped; the "
                        "field holds the last good update. Try a lower --lr or --guidance",
                        d->consecutive_skips, (unsigned long long)s);
    return VKD_OK;
}

uint64_t vkd_dream_steps_done(const vkd_dream_t *d) { return d ? d->step : 0; }
int vkd_dream_skips(const vkd_dream_t *d) { return d ? d->skips : 0; }
vkd_field_t *vkd_dream_field(vkd_dream_t *d) { return d ? d->f : NULL; }
vkd_nerf_renderer_t *vkd_dream_renderer(vkd_dream_t *d) { return d ? d->r : NULL; }
const vkd_dream_opts_t *vkd_dream_opts(const vkd_dream_t *d) { return d ? &d->o : NULL; }

vkd_status_t vkd_dream_save(vkd_dream_t *d, const char *path) {
    if (!d || !path) return vkd_fail(VKD_ERR_INVALID, "generate: NULL run or checkpoint path");
    vkd_nerf_ckpt_meta_t meta = {.seed = d->o.seed, .step = d->step};
    snprintf(meta.prompt, sizeof meta.prompt, "%.1023s", d->prompt); // fits: checked in create
    return vkd_nerf_ckpt_save(path, d->f, d->r, &meta);
}

vkd_status_t vkd_dream_resume(vkd_dream_t *d, const char *path) {
    if (!d || !path) return vkd_fail(VKD_ERR_INVALID, "generate: NULL run or checkpoint path");
    vkd_nerf_config_t cfg;
    vkd_nerf_ckpt_meta_t meta;
    VKD_TRY(vkd_nerf_ckpt_info(path, &cfg, &meta));
    if (strcmp(meta.prompt, d->prompt))
        return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s is a run of \"%s\", not of \"%s\"", path,
                        meta.prompt, d->prompt);
    if (meta.seed != d->o.seed)
        return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s was made with seed %llu, not %llu", path,
                        (unsigned long long)meta.seed, (unsigned long long)d->o.seed);
    if (meta.step > (uint64_t)d->o.steps)
        return vkd_fail(VKD_ERR_FORMAT, "checkpoint %s is at step %llu, past the run's %d steps",
                        path, (unsigned long long)meta.step, d->o.steps);
    VKD_TRY(vkd_nerf_ckpt_load_into(path, d->f, d->r, &meta));
    d->step = meta.step;
    d->f->step = (int64_t)meta.step;
    d->consecutive_skips = 0;
    return VKD_OK;
}
