// Noise schedules, DDIM subsets and sampler step math (see schedule.h).
#include "schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[] = {"linear", "true_linear", "cosine"};

vkd_status_t vkd_beta_kind_from_name(const char *name, vkd_beta_kind_t *out) {
    if (!name || !out) return vkd_fail(VKD_ERR_INVALID, "beta schedule: NULL name or output");
    if (strcmp(name, "scaled_linear") == 0) {
        *out = VKD_BETA_LINEAR;
        return VKD_OK;
    }
    for (int k = 0; k < (int)(sizeof KIND_NAMES / sizeof KIND_NAMES[0]); k++)
        if (strcmp(name, KIND_NAMES[k]) == 0) {
            *out = (vkd_beta_kind_t)k;
            return VKD_OK;
        }
    return vkd_fail(VKD_ERR_INVALID,
                    "beta schedule '%s' is unknown: use \"linear\" (LDM/Stable Diffusion: "
                    "linspace of square roots, squared; alias \"scaled_linear\"), "
                    "\"true_linear\" or \"cosine\"", name);
}

const char *vkd_beta_kind_name(vkd_beta_kind_t kind) {
    if ((int)kind < 0 || (int)kind >= (int)(sizeof KIND_NAMES / sizeof KIND_NAMES[0])) return "?";
    return KIND_NAMES[kind];
}

vkd_schedule_desc_t vkd_schedule_desc_sd(void) {
    return (vkd_schedule_desc_t){.kind = VKD_BETA_LINEAR, .T = 1000, .beta_start = 0.00085,
                                 .beta_end = 0.012, .cosine_s = 0.008};
}

// linspace(a, b, n)[i] with torch's split: the first half counts up from a, the second
// half down from b, so both ends are exact. torch's vectorised kernel rounds some entries
// differently (fused multiply-adds per 4-lane block), so the doubles agree with the
// reference to ~1 ulp, not bit for bit; after the float32 rounding they are identical.
static double linspace_at(double a, double b, int n, int i) {
    double step = (b - a) / (double)(n - 1);
    if (i < n / 2) return a + step * (double)i;
    return b - step * (double)(n - 1 - i);
}

static vkd_status_t check_desc(const vkd_schedule_desc_t *d) {
    if (d->T < 2 || d->T > 1000000)
        return vkd_fail(VKD_ERR_INVALID, "schedule: T = %d must be in [2, 1000000]", d->T);
    switch (d->kind) {
    case VKD_BETA_LINEAR:
    case VKD_BETA_TRUE_LINEAR:
        if (!(d->beta_start > 0 && d->beta_start < 1 && d->beta_end > 0 && d->beta_end < 1))
            return vkd_fail(VKD_ERR_INVALID,
                            "schedule '%s': beta_start = %g and beta_end = %g must lie in (0, 1)",
                            vkd_beta_kind_name(d->kind), d->beta_start, d->beta_end);
        return VKD_OK;
    case VKD_BETA_COSINE:
        if (!(d->cosine_s > 0 && d->cosine_s <= 1))
            return vkd_fail(VKD_ERR_INVALID, "schedule 'cosine': s = %g must lie in (0, 1]",
                            d->cosine_s);
        return VKD_OK;
    }
    return vkd_fail(VKD_ERR_INVALID, "schedule: unknown beta kind %d", (int)d->kind);
}

// Nichol & Dhariwal's betas, evaluated in the reference's order of operations.
static vkd_status_t cosine_betas(double *betas, int T, double s) {
    double *f = malloc(sizeof(double) * ((size_t)T + 1)); // (T + 1)
    if (!f) return vkd_fail(VKD_ERR_NOMEM, "schedule 'cosine': out of host memory");
    for (int i = 0; i <= T; i++) {
        double u = (double)i / (double)T + s;
        double c = cos(u / (1.0 + s) * M_PI / 2.0);
        f[i] = c * c;
    }
    double f0 = f[0];
    for (int i = 0; i <= T; i++) f[i] = f[i] / f0;
    for (int i = 0; i < T; i++) {
        double b = 1.0 - f[i + 1] / f[i];
        betas[i] = b < 0.0 ? 0.0 : (b > 0.999 ? 0.999 : b);
    }
    free(f);
    return VKD_OK;
}

vkd_status_t vkd_schedule_init(vkd_schedule_t *s, const vkd_schedule_desc_t *d) {
    if (!s || !d) return vkd_fail(VKD_ERR_INVALID, "vkd_schedule_init: NULL argument");
    memset(s, 0, sizeof *s);
    VKD_TRY(check_desc(d));
    const int T = d->T;
    // One block: betas (T), alphas_cumprod (T), then the float copy (T).
    unsigned char *block = malloc((size_t)T * (2 * sizeof(double) + sizeof(float)));
    if (!block) return vkd_fail(VKD_ERR_NOMEM, "schedule: out of host memory for T = %d", T);
    double *betas = (double *)block, *ac = betas + T;
    float *ac32 = (float *)(ac + T);
    if (d->kind == VKD_BETA_COSINE) {
        vkd_status_t st = cosine_betas(betas, T, d->cosine_s);
        if (st != VKD_OK) {
            free(block);
            return st;
        }
    } else if (d->kind == VKD_BETA_LINEAR) {
        double a = sqrt(d->beta_start), b = sqrt(d->beta_end);
        for (int i = 0; i < T; i++) {
            double r = linspace_at(a, b, T, i);
            betas[i] = r * r;
        }
    } else {
        for (int i = 0; i < T; i++) betas[i] = linspace_at(d->beta_start, d->beta_end, T, i);
    }
    double p = 1.0;
    for (int i = 0; i < T; i++) {
        p *= 1.0 - betas[i];
        ac[i] = p;
        ac32[i] = (float)p;
        if (!(p > 0.0) || !(ac32[i] > 0.0f)) {
            free(block);
            return vkd_fail(VKD_ERR_INVALID,
                            "schedule '%s' (T = %d): alphas_cumprod underflows to 0 at t = %d; "
                            "use smaller betas or fewer steps",
                            vkd_beta_kind_name(d->kind), T, i);
        }
    }
    s->desc = *d;
    s->T = T;
    s->betas = betas;
    s->alphas_cumprod = ac;
    s->alphas_cumprod_f32 = ac32;
    return VKD_OK;
}

void vkd_schedule_free(vkd_schedule_t *s) {
    if (!s) return;
    free(s->betas); // the start of the block
    memset(s, 0, sizeof *s);
}

// ---- DDIM -------------------------------------------------------------------------------

double vkd_ddim_sigma(double a_t, double a_prev, double eta) {
    if (eta == 0.0) return 0.0;
    return eta * sqrt((1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev));
}

vkd_status_t vkd_ddim_schedule_init(vkd_ddim_schedule_t *d, const vkd_schedule_t *s,
                                    int steps, double eta) {
    if (!d || !s || !s->alphas_cumprod_f32)
        return vkd_fail(VKD_ERR_INVALID, "vkd_ddim_schedule_init: NULL or empty schedule");
    memset(d, 0, sizeof *d);
    const int T = s->T;
    if (steps < 1 || steps > T)
        return vkd_fail(VKD_ERR_INVALID, "DDIM: %d steps for a schedule of T = %d (need 1..T)",
                        steps, T);
    if (!(eta >= 0.0 && eta <= 1.0))
        return vkd_fail(VKD_ERR_INVALID, "DDIM: eta = %g must lie in [0, 1]", eta);
    const int c = T / steps;
    const int n = (T - 1) / c + 1; // |{0, c, 2c, ... < T}|
    if ((n - 1) * c + 1 >= T)
        return vkd_fail(VKD_ERR_INVALID,
                        "DDIM: %d steps over T = %d put the last timestep at %d, outside the "
                        "schedule (LDM's uniform spacing: t = k * (T / steps) + 1); pick another "
                        "step count (e.g. 50 or 100)", steps, T, (n - 1) * c + 1);
    unsigned char *block = malloc((size_t)n * (3 * sizeof(double) + sizeof(int)));
    if (!block) return vkd_fail(VKD_ERR_NOMEM, "DDIM: out of host memory");
    d->n = n;
    d->eta = eta;
    d->alphas = (double *)block;
    d->alphas_prev = d->alphas + n;
    d->sigmas = d->alphas_prev + n;
    d->timesteps = (int *)(d->sigmas + n);
    const float *ac = s->alphas_cumprod_f32;
    for (int i = 0; i < n; i++) {
        int t = i * c + 1;
        d->timesteps[i] = t;
        d->alphas[i] = ac[t];
        d->alphas_prev[i] = i ? ac[t - c] : ac[0];
        d->sigmas[i] = vkd_ddim_sigma(d->alphas[i], d->alphas_prev[i], eta);
    }
    return VKD_OK;
}

void vkd_ddim_schedule_free(vkd_ddim_schedule_t *d) {
    if (!d) return;
    free(d->alphas); // the start of the block
    memset(d, 0, sizeof *d);
}

static vkd_status_t check_abar(const char *fn, const char *what, double a) {
    if (!(a > 0.0 && a <= 1.0))
        return vkd_fail(VKD_ERR_INVALID, "%s: %s = %g must lie in (0, 1]", fn, what, a);
    return VKD_OK;
}

static vkd_status_t check_arrays(const char *fn, size_t n, const void *a, const void *b,
                                 const void *c) {
    if (n && (!a || !b || !c)) return vkd_fail(VKD_ERR_INVALID, "%s: NULL array", fn);
    return VKD_OK;
}

vkd_status_t vkd_ddim_step(float *x_prev, float *x0_out, const float *x_t, const float *eps,
                           const float *noise, size_t n, double a_t, double a_prev,
                           double sigma) {
    static const char fn[] = "vkd_ddim_step";
    VKD_TRY(check_arrays(fn, n, x_prev, x_t, eps));
    VKD_TRY(check_abar(fn, "a_t", a_t));
    VKD_TRY(check_abar(fn, "a_prev", a_prev));
    double dir2 = 1.0 - a_prev - sigma * sigma;
    // Rounding may push 1 - a_prev - sigma^2 a hair below 0 at eta = 1 and a_prev = 1.
    if (!(sigma >= 0.0) || dir2 < -1e-12)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: sigma = %g must satisfy 0 <= sigma^2 <= 1 - a_prev (a_prev = %g)", fn,
                        sigma, a_prev);
    if (sigma > 0.0 && n && !noise)
        return vkd_fail(VKD_ERR_INVALID, "%s: sigma = %g > 0 needs a noise array", fn, sigma);
    const double ra = sqrt(a_t), rm = sqrt(1.0 - a_t), rp = sqrt(a_prev);
    const double dir = dir2 > 0.0 ? sqrt(dir2) : 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = x_t[i], e = eps[i], z = sigma > 0.0 ? noise[i] : 0.0;
        double x0 = (x - rm * e) / ra;
        if (x0_out) x0_out[i] = (float)x0;
        x_prev[i] = (float)(rp * x0 + dir * e + sigma * z);
    }
    return VKD_OK;
}

vkd_status_t vkd_ddpm_step(const vkd_schedule_t *s, int t, float *x_prev, float *x0_out,
                           const float *x_t, const float *eps, const float *noise, size_t n,
                           float clip_x0) {
    static const char fn[] = "vkd_ddpm_step";
    if (!s || !s->betas) return vkd_fail(VKD_ERR_INVALID, "%s: NULL or empty schedule", fn);
    if (t < 0 || t >= s->T)
        return vkd_fail(VKD_ERR_INVALID, "%s: t = %d outside the schedule [0, %d)", fn, t, s->T);
    VKD_TRY(check_arrays(fn, n, x_prev, x_t, eps));
    if (t > 0 && n && !noise)
        return vkd_fail(VKD_ERR_INVALID, "%s: t = %d > 0 needs a noise array", fn, t);
    if (!(clip_x0 >= 0.0f))
        return vkd_fail(VKD_ERR_INVALID, "%s: clip_x0 = %g must be >= 0", fn, (double)clip_x0);
    const double beta = s->betas[t], a = s->alphas_cumprod[t];
    const double a_prev = t > 0 ? s->alphas_cumprod[t - 1] : 1.0;
    const double c1 = beta * sqrt(a_prev) / (1.0 - a);
    const double c2 = (1.0 - a_prev) * sqrt(1.0 - beta) / (1.0 - a);
    const double sd = t > 0 ? sqrt(beta * (1.0 - a_prev) / (1.0 - a)) : 0.0;
    const double ra = sqrt(a), rm = sqrt(1.0 - a);
    for (size_t i = 0; i < n; i++) {
        double x = x_t[i], e = eps[i], z = t > 0 ? noise[i] : 0.0;
        double x0 = (x - rm * e) / ra;
        if (clip_x0 > 0.0f) x0 = x0 < -clip_x0 ? -clip_x0 : (x0 > clip_x0 ? clip_x0 : x0);
        if (x0_out) x0_out[i] = (float)x0;
        x_prev[i] = (float)(c1 * x0 + c2 * x + sd * z);
    }
    return VKD_OK;
}

// ---- prediction-type conversions ----------------------------------------------------------

// out = p * a + q * b element-wise, after checking abar.
static vkd_status_t lincomb(const char *fn, float *out, const float *a, const float *b,
                            size_t n, double abar, double p, double q) {
    VKD_TRY(check_arrays(fn, n, out, a, b));
    VKD_TRY(check_abar(fn, "abar", abar));
    for (size_t i = 0; i < n; i++) out[i] = (float)(p * (double)a[i] + q * (double)b[i]);
    return VKD_OK;
}

vkd_status_t vkd_q_sample(float *x_t, const float *x0, const float *eps, size_t n,
                          double abar) {
    return lincomb("vkd_q_sample", x_t, x0, eps, n, abar, sqrt(abar), sqrt(1.0 - abar));
}

vkd_status_t vkd_eps_to_x0(float *x0, const float *x_t, const float *eps, size_t n,
                           double abar) {
    return lincomb("vkd_eps_to_x0", x0, x_t, eps, n, abar, 1.0 / sqrt(abar),
                   -sqrt(1.0 - abar) / sqrt(abar));
}

vkd_status_t vkd_v_to_eps(float *eps, const float *x_t, const float *v, size_t n, double abar) {
    return lincomb("vkd_v_to_eps", eps, x_t, v, n, abar, sqrt(1.0 - abar), sqrt(abar));
}

vkd_status_t vkd_v_to_x0(float *x0, const float *x_t, const float *v, size_t n, double abar) {
    return lincomb("vkd_v_to_x0", x0, x_t, v, n, abar, sqrt(abar), -sqrt(1.0 - abar));
}

vkd_status_t vkd_v_from_x0_eps(float *v, const float *x0, const float *eps, size_t n,
                               double abar) {
    return lincomb("vkd_v_from_x0_eps", v, eps, x0, n, abar, sqrt(abar), -sqrt(1.0 - abar));
}
