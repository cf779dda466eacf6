// DDIM / DDPM sampling loops over the prior interface; see sampler.h.
#include "sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "sds.h"

#define MAX_SAMPLES 4096

vkd_sampler_opts_t vkd_sampler_opts_default(void) {
    vkd_sampler_opts_t o;
    memset(&o, 0, sizeof o);
    o.kind = VKD_SAMPLER_DDIM;
    o.steps = 50;
    o.eta = 0.0;
    o.guidance.scale = 5.0f;
    o.guidance.convention = VKD_CFG_LDM;
    o.clip_x0 = 1;
    return o;
}

const char *vkd_sampler_name(vkd_sampler_kind_t k) {
    return k == VKD_SAMPLER_DDIM ? "ddim" : k == VKD_SAMPLER_DDPM ? "ddpm" : "?";
}

vkd_status_t vkd_sampler_parse(const char *name, vkd_sampler_kind_t *k) {
    if (name && !strcmp(name, "ddim")) return (*k = VKD_SAMPLER_DDIM), VKD_OK;
    if (name && !strcmp(name, "ddpm")) return (*k = VKD_SAMPLER_DDPM), VKD_OK;
    return vkd_fail(VKD_ERR_INVALID, "unknown sampler '%s' (known: ddim, ddpm)", name ? name : "");
}

// Whether DDPM runs the full chain with these options.
static int ddpm_full(const vkd_prior_t *p, const vkd_sampler_opts_t *o) {
    return o->kind == VKD_SAMPLER_DDPM && (o->steps == 0 || o->steps == vkd_prior_schedule(p)->T);
}

vkd_status_t vkd_sample_steps(const vkd_prior_t *p, const vkd_sampler_opts_t *o, int *steps) {
    if (!p || !o || !steps) return vkd_fail(VKD_ERR_INVALID, "vkd_sample_steps: NULL argument");
    if (ddpm_full(p, o)) return (*steps = vkd_prior_schedule(p)->T), VKD_OK;
    vkd_ddim_schedule_t d;
    VKD_TRY(vkd_ddim_schedule_init(&d, vkd_prior_schedule(p), o->steps,
                                   o->kind == VKD_SAMPLER_DDPM ? 1.0 : o->eta));
    *steps = d.n;
    vkd_ddim_schedule_free(&d);
    return VKD_OK;
}

typedef struct {
    vkd_prior_t *p;
    const vkd_sampler_opts_t *o;
    int n;
    size_t D;
    const vkd_prior_cond_t **cond, **uncond; // (n) each
    int *t;                                  // (n)
    float *x0;                               // (n, D) scratch
} loop_t;

// eps (n, D) at x (n, D), timestep t; clamps x0 to the range and recomputes eps from it.
static vkd_status_t guided_eps(loop_t *L, float *eps, const float *x, int t) {
    for (int i = 0; i < L->n; i++) L->t[i] = t;
    if (L->uncond[0])
        VKD_TRY(vkd_prior_predict_cfg(L->p, eps, NULL, NULL, x, L->t, L->cond, L->uncond, L->n,
                                      &L->o->guidance));
    else
        VKD_TRY(vkd_prior_predict(L->p, eps, x, L->t, L->cond, L->n));
    if (!L->o->clip_x0) return VKD_OK;
    const vkd_prior_info_t *in = vkd_prior_info(L->p);
    const double a = vkd_prior_abar(L->p, t), ra = sqrt(a), rm = sqrt(1.0 - a);
    const size_t N = (size_t)L->n * L->D;
    for (size_t i = 0; i < N; i++) {
        double x0 = ((double)x[i] - rm * eps[i]) / ra;
        if (x0 >= in->range_lo && x0 <= in->range_hi) continue;
        x0 = x0 < in->range_lo ? in->range_lo : (x0 > in->range_hi ? in->range_hi : x0);
        eps[i] = (float)(((double)x[i] - ra * x0) / rm);
    }
    return VKD_OK;
}

static void noise(const loop_t *L, float *z, uint64_t k) {
    for (int i = 0; i < L->n; i++)
        vkd_normal_host(z + (size_t)i * L->D, L->D, L->o->seed,
                        (uint64_t)VKD_SAMPLE_STREAM | ((uint64_t)(L->o->first_index + (uint32_t)i) << 32),
                        k << 26);
}

static vkd_status_t run_ddim(loop_t *L, float *x, float *eps, float *z, double eta,
                             vkd_progress_t *prog) {
    vkd_ddim_schedule_t d;
    VKD_TRY(vkd_ddim_schedule_init(&d, vkd_prior_schedule(L->p), L->o->steps, eta));
    const size_t N = (size_t)L->n * L->D;
    vkd_status_t s = VKD_OK;
    for (int i = d.n - 1, k = 1; s == VKD_OK && i >= 0; i--, k++) {
        s = guided_eps(L, eps, x, d.timesteps[i]);
        if (s != VKD_OK) break;
        if (d.sigmas[i] > 0) noise(L, z, (uint64_t)k);
        s = vkd_ddim_step(x, L->x0, x, eps, d.sigmas[i] > 0 ? z : NULL, N, d.alphas[i],
                          d.alphas_prev[i], d.sigmas[i]);
        if (prog) {
            vkd_progress_note(prog, "t=%d", d.timesteps[i]);
            vkd_progress_update(prog, (uint64_t)k);
        }
    }
    vkd_ddim_schedule_free(&d);
    return s;
}

static vkd_status_t run_ddpm_full(loop_t *L, float *x, float *eps, float *z,
                                  vkd_progress_t *prog) {
    const vkd_schedule_t *sc = vkd_prior_schedule(L->p);
    const size_t N = (size_t)L->n * L->D;
    for (int t = sc->T - 1, k = 1; t >= 0; t--, k++) {
        VKD_TRY(guided_eps(L, eps, x, t));
        if (t > 0) noise(L, z, (uint64_t)k);
        VKD_TRY(vkd_ddpm_step(sc, t, x, L->x0, x, eps, t > 0 ? z : NULL, N, 0.0f));
        if (prog) {
            vkd_progress_note(prog, "t=%d", t);
            vkd_progress_update(prog, (uint64_t)k);
        }
    }
    return VKD_OK;
}

vkd_status_t vkd_sample(vkd_prior_t *p, float *out, int n, const vkd_prior_cond_t *cond,
                        const vkd_prior_cond_t *uncond, const vkd_sampler_opts_t *o,
                        vkd_progress_t *prog) {
    if (!p || !out || !cond || !o) return vkd_fail(VKD_ERR_INVALID, "vkd_sample: NULL argument");
    if (n < 1 || n > MAX_SAMPLES)
        return vkd_fail(VKD_ERR_INVALID, "sampling: %d samples outside [1, %d]", n, MAX_SAMPLES);
    if (o->kind != VKD_SAMPLER_DDIM && o->kind != VKD_SAMPLER_DDPM)
        return vkd_fail(VKD_ERR_INVALID, "sampling: unknown sampler %d", (int)o->kind);
    if (!(o->eta >= 0.0 && o->eta <= 1.0))
        return vkd_fail(VKD_ERR_INVALID, "sampling: eta %g outside [0, 1]", o->eta);
    if (!isfinite(o->guidance.scale))
        return vkd_fail(VKD_ERR_INVALID, "sampling: guidance %g is not finite",
                        (double)o->guidance.scale);
    if (!uncond && vkd_cfg_ldm_scale(&o->guidance) != 1.0)
        return vkd_fail(VKD_ERR_INVALID, "sampling: guidance %g needs an unconditional (or "
                        "negative) condition", (double)o->guidance.scale);
    const vkd_prior_info_t *in = vkd_prior_info(p);
    loop_t L = {p, o, n, (size_t)in->channels * in->height * in->width, NULL, NULL, NULL, NULL};
    if (L.D > VKD_SDS_MAX_ELEMENTS)
        return vkd_fail(VKD_ERR_INVALID, "sampling: images of %zu elements exceed 2^26", L.D);
    const size_t N = (size_t)n * L.D;
    float *buf = malloc(sizeof(float) * 4 * N); // x, eps, noise, x0: (n, D) each
    L.cond = malloc(sizeof(*L.cond) * 2 * (size_t)n);
    L.t = malloc(sizeof(int) * (size_t)n);
    vkd_status_t s = buf && L.cond && L.t ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "sampling: out of host memory");
    if (s == VKD_OK) {
        L.uncond = L.cond + n;
        for (int i = 0; i < n; i++) L.cond[i] = cond, L.uncond[i] = uncond;
        float *x = buf, *eps = buf + N, *z = buf + 2 * N;
        L.x0 = buf + 3 * N;
        noise(&L, x, 0);
        if (ddpm_full(p, o)) s = run_ddpm_full(&L, x, eps, z, prog);
        else s = run_ddim(&L, x, eps, z, o->kind == VKD_SAMPLER_DDPM ? 1.0 : o->eta, prog);
        if (s == VKD_OK) memcpy(out, L.x0, sizeof(float) * N);
        if (s == VKD_OK && o->clip_x0) {
            // The step recomputes x0 from the clipped eps, which can round a hair outside.
            for (size_t i = 0; i < N; i++)
                out[i] = out[i] < in->range_lo ? in->range_lo : (out[i] > in->range_hi ? in->range_hi : out[i]);
        }
    }
    free(buf), free(L.cond), free(L.t);
    return s;
}

vkd_status_t vkd_sample_grid_png(const vkd_prior_t *p, const float *samples, int n, int cols,
                                 int zoom, const char *path) {
    const vkd_prior_info_t *in = vkd_prior_info(p);
    const int C = in->channels, H = in->height, W = in->width;
    if (C != 1 && C != 3)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "cannot show %d-channel samples as an image", C);
    if (n < 1 || zoom < 1 || zoom > 16 || !samples || !path)
        return vkd_fail(VKD_ERR_INVALID, "sample grid: bad arguments (n %d, zoom %d)", n, zoom);
    if (cols <= 0) cols = (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    const int zh = H * zoom, zw = W * zoom;
    const size_t D = (size_t)C * H * W;
    int gh, gw;
    vkd_image_grid_size(n, zh, zw, cols, 2, &gh, &gw);
    float *hwc = malloc(sizeof(float) * D);                           // (H, W, C)
    float *tiles = malloc(sizeof(float) * (size_t)n * zh * zw * C);  // (n, zh, zw, C)
    float *grid = malloc(sizeof(float) * (size_t)gh * gw * C);       // (gh, gw, C)
    vkd_status_t s = hwc && tiles && grid ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "sample grid: out of memory");
    for (int i = 0; s == VKD_OK && i < n; i++) {
        vkd_prior_image_to_hwc(p, hwc, samples + (size_t)i * D);
        float *t = tiles + (size_t)i * zh * zw * C;
        for (int y = 0; y < zh; y++)
            for (int x = 0; x < zw; x++)
                memcpy(t + ((size_t)y * zw + x) * C, hwc + ((size_t)(y / zoom) * W + x / zoom) * C,
                       sizeof(float) * C);
    }
    if (s == VKD_OK) s = vkd_image_grid(tiles, n, zh, zw, C, cols, 2, NULL, grid);
    if (s == VKD_OK) s = vkd_image_write_png(path, grid, gh, gw, C);
    free(hwc), free(tiles), free(grid);
    return s;
}
