// Diffusion noise schedules (betas, alphas_cumprod), DDIM timestep subsets, and the
// per-step math of the DDIM and DDPM ancestral samplers as pure host functions.
//
// Schedules are computed in double and also kept rounded to float32, because the
// reference (LDM) keeps `alphas_cumprod` as a float32 buffer and its samplers read that
// one: matching it bit for bit needs the double computation followed by one rounding.
//
// Notation: T steps, t in [0, T); abar_t = alphas_cumprod[t] = prod_{i <= t} (1 - beta_i);
// the forward process is x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, and
// v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (v-prediction). Element-wise helpers take
// float arrays of n elements; every output may alias any input (each element is read
// before it is written). They run on the host: a step is a few flops per pixel, far less
// than the model call that produced eps.
#ifndef VKD_SDS_SCHEDULE_H
#define VKD_SDS_SCHEDULE_H

#include <stddef.h>

#include "status.h"

typedef enum {
    // LDM's "linear" (the Stable Diffusion default, beta 0.00085 .. 0.012):
    // betas = linspace(sqrt(beta_start), sqrt(beta_end), T)^2. Diffusers calls this
    // "scaled_linear".
    VKD_BETA_LINEAR = 0,
    // betas = linspace(beta_start, beta_end, T) (DDPM's 1e-4 .. 0.02; diffusers "linear").
    VKD_BETA_TRUE_LINEAR = 1,
    // Nichol & Dhariwal: f(t) = cos^2(((t/T) + s) / (1 + s) * pi/2), abar_t = f(t+1)/f(0),
    // beta_t = 1 - f(t+1)/f(t) clipped to [0, 0.999]; s = cosine_s (0.008). The betas
    // are then cumulated like the others (so the clipped last step gives abar ~ 1e-8).
    VKD_BETA_COSINE = 2,
} vkd_beta_kind_t;

// Names as written in configs: "linear" (also accepted: "scaled_linear") for
// VKD_BETA_LINEAR, "true_linear" for VKD_BETA_TRUE_LINEAR, "cosine". Note that "linear"
// follows LDM/Stable Diffusion, not diffusers.
vkd_status_t vkd_beta_kind_from_name(const char *name, vkd_beta_kind_t *out);
const char *vkd_beta_kind_name(vkd_beta_kind_t kind); // "?" for an invalid value

typedef struct {
    vkd_beta_kind_t kind;
    int T;                       // number of diffusion steps, 2 .. 1000000 (1000 for SD)
    double beta_start, beta_end; // linear kinds: 0 < start <= end < 1
    double cosine_s;             // cosine: the offset s > 0 (0.008)
} vkd_schedule_desc_t;

// Stable Diffusion's schedule: VKD_BETA_LINEAR, T = 1000, 0.00085 .. 0.012.
vkd_schedule_desc_t vkd_schedule_desc_sd(void);

typedef struct {
    vkd_schedule_desc_t desc;
    int T;
    double *betas;             // (T)
    double *alphas_cumprod;    // (T)
    float *alphas_cumprod_f32; // (T) the double values rounded once
} vkd_schedule_t;

// Computes the schedule into s (one host allocation; free with vkd_schedule_free).
vkd_status_t vkd_schedule_init(vkd_schedule_t *s, const vkd_schedule_desc_t *d);
void vkd_schedule_free(vkd_schedule_t *s); // zeroes *s; NULL or a zeroed struct is fine

// ---- DDIM -------------------------------------------------------------------------------
// LDM's "uniform" DDIM subset: c = T / steps (integer division), timesteps =
// 0, c, 2c, ... (< T), each plus 1. That gives exactly `steps` timesteps when T is a
// multiple of steps (50 of 1000: 1, 21, ..., 981) and more otherwise (30 of 1000 gives 31
// timesteps, as in LDM): use `n`, not `steps`. A step count whose last timestep would be
// T (c = 1, or 333 of 1000) is rejected, since LDM would index past the schedule there.
// alphas[i] = abar at timesteps[i] and alphas_prev[i] = abar at timesteps[i - 1]
// (alphas_cumprod[0] for i = 0), both read from the float32 buffer as LDM does, and
// sigmas[i] = eta * sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev)).
// Sampling runs i = n-1 down to 0: x at timesteps[i] -> x at timesteps[i - 1].
typedef struct {
    int n;
    double eta;
    int *timesteps;      // (n) ascending
    double *alphas;      // (n)
    double *alphas_prev; // (n)
    double *sigmas;      // (n)
} vkd_ddim_schedule_t;

vkd_status_t vkd_ddim_schedule_init(vkd_ddim_schedule_t *d, const vkd_schedule_t *s,
                                    int steps, double eta);
void vkd_ddim_schedule_free(vkd_ddim_schedule_t *d); // zeroes *d; NULL is fine

// The DDIM noise level for eta between two cumulative alphas (0 when eta = 0).
double vkd_ddim_sigma(double a_t, double a_prev, double eta);

// One DDIM step from cumulative alpha a_t to a_prev (both in (0, 1]) with noise level
// sigma (0 <= sigma^2 <= 1 - a_prev):
//   x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
//   x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma noise
// noise (n) may be NULL only when sigma == 0; x0_out (n) may be NULL.
vkd_status_t vkd_ddim_step(float *x_prev, float *x0_out, const float *x_t, const float *eps,
                           const float *noise, size_t n, double a_t, double a_prev,
                           double sigma);

// One DDPM ancestral step t -> t-1 (LDM's p_sample with the posterior variance, i.e.
// v_posterior = 0): x0 from eps (clipped to [-clip_x0, clip_x0] when clip_x0 > 0, as the
// pixel-space LDM does; 0 = no clipping), then
//   x_prev = c1 x0 + c2 x_t + (t > 0) sqrt(var) noise,
//   c1 = beta_t sqrt(abar_{t-1}) / (1 - abar_t), c2 = (1 - abar_{t-1}) sqrt(1 - beta_t) /
//   (1 - abar_t), var = beta_t (1 - abar_{t-1}) / (1 - abar_t), abar_{-1} = 1.
// noise (n) may be NULL only for t == 0; x0_out (n) may be NULL.
vkd_status_t vkd_ddpm_step(const vkd_schedule_t *s, int t, float *x_prev, float *x0_out,
                           const float *x_t, const float *eps, const float *noise, size_t n,
                           float clip_x0);

// ---- prediction-type conversions (abar = abar_t, in (0, 1]) -------------------------
// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps (the forward process, for training and SDS).
vkd_status_t vkd_q_sample(float *x_t, const float *x0, const float *eps, size_t n,
                          double abar);
// x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar).
vkd_status_t vkd_eps_to_x0(float *x0, const float *x_t, const float *eps, size_t n,
                           double abar);
// v-prediction: eps = sqrt(1 - abar) x_t + sqrt(abar) v, x0 = sqrt(abar) x_t - sqrt(1 - abar) v.
vkd_status_t vkd_v_to_eps(float *eps, const float *x_t, const float *v, size_t n, double abar);
vkd_status_t vkd_v_to_x0(float *x0, const float *x_t, const float *v, size_t n, double abar);
// The v target of a training pair: v = sqrt(abar) eps - sqrt(1 - abar) x0.
vkd_status_t vkd_v_from_x0_eps(float *v, const float *x0, const float *eps, size_t n,
                               double abar);

#endif
