// Noise schedules and sampler step math: properties that hold for any correct
// implementation (the SD schedule itself is checked against LDM in golden_schedule).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sds/schedule.h"
#include "test_util.h"

static void t_cosine_sanity(tctx_t *T) {
    vkd_schedule_desc_t d = {.kind = VKD_BETA_COSINE, .T = 1000, .cosine_s = 0.008};
    vkd_schedule_t s;
    CHECK_OK(T, vkd_schedule_init(&s, &d));
    int mono = 1, beta_ok = 1;
    for (int t = 0; t < s.T; t++) {
        if (t && !(s.alphas_cumprod[t] < s.alphas_cumprod[t - 1])) mono = 0;
        if (!(s.betas[t] > 0 && s.betas[t] <= 0.999)) beta_ok = 0;
    }
    printf("  cosine: abar_0 = %.9f, abar_499 = %.6f, abar_999 = %.3g, beta_999 = %g\n",
           s.alphas_cumprod[0], s.alphas_cumprod[499], s.alphas_cumprod[999], s.betas[999]);
    CHECK(T, mono, "cosine alphas_cumprod is strictly decreasing");
    CHECK(T, beta_ok, "cosine betas lie in (0, 0.999]");
    CHECK(T, s.alphas_cumprod[0] > 0.9999 && s.alphas_cumprod[0] < 1, "abar_0 = %.9f ~ 1",
          s.alphas_cumprod[0]);
    CHECK(T, s.alphas_cumprod[999] < 1e-6 && s.alphas_cumprod[999] > 0, "abar_T = %g ~ 0",
          s.alphas_cumprod[999]);
    CHECK(T, s.betas[999] == 0.999, "the last beta is clipped at 0.999: %.17g", s.betas[999]);
    // abar_t follows f(t+1)/f(0) with f(t) = cos^2((t/T + s)/(1 + s) pi/2) until the clip.
    double f0 = pow(cos(0.008 / 1.008 * M_PI / 2), 2), worst = 0;
    for (int t = 0; t < 990; t++) {
        double want = pow(cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2), 2) / f0;
        worst = fmax(worst, fabs(s.alphas_cumprod[t] - want) / want);
    }
    CHECK(T, worst < 1e-9, "cosine abar matches the closed form (rel err %.3g)", worst);
    vkd_schedule_free(&s);
    CHECK(T, s.betas == NULL && s.T == 0, "free zeroes the struct");
}

static void t_linear_kinds(tctx_t *T) {
    vkd_schedule_desc_t d = {.kind = VKD_BETA_TRUE_LINEAR, .T = 1000, .beta_start = 1e-4,
                             .beta_end = 0.02};
    vkd_schedule_t s;
    CHECK_OK(T, vkd_schedule_init(&s, &d));
    CHECK(T, s.betas[0] == 1e-4 && s.betas[999] == 0.02, "true linear ends exact: %.17g %.17g",
          s.betas[0], s.betas[999]);
    CHECK(T, fabs(s.betas[500] - (1e-4 + 500 * (0.02 - 1e-4) / 999)) < 1e-17, "midpoint");
    vkd_schedule_free(&s);
    d = vkd_schedule_desc_sd();
    CHECK_OK(T, vkd_schedule_init(&s, &d));
    double r0 = sqrt(0.00085), r1 = sqrt(0.012), worst = 0;
    for (int t = 0; t < 1000; t++) {
        double r = r0 + (r1 - r0) * t / 999.0;
        worst = fmax(worst, fabs(s.betas[t] - r * r) / (r * r));
    }
    CHECK(T, worst < 1e-14, "LDM linear = squared linspace of square roots (%.3g)", worst);
    vkd_schedule_free(&s);

    vkd_beta_kind_t k;
    CHECK(T, vkd_beta_kind_from_name("scaled_linear", &k) == VKD_OK && k == VKD_BETA_LINEAR,
          "scaled_linear alias");
    CHECK(T, vkd_beta_kind_from_name("cosine", &k) == VKD_OK && k == VKD_BETA_COSINE, "cosine");
    CHECK(T, vkd_beta_kind_from_name("sqrt", &k) == VKD_ERR_INVALID &&
                 strstr(vkd_last_error(), "'sqrt'"), "unknown name: %s", vkd_last_error());
    d.beta_end = 1.5;
    CHECK(T, vkd_schedule_init(&s, &d) == VKD_ERR_INVALID && strstr(vkd_last_error(), "beta_end"),
          "bad beta: %s", vkd_last_error());
    d = vkd_schedule_desc_sd();
    d.T = 1;
    CHECK(T, vkd_schedule_init(&s, &d) == VKD_ERR_INVALID, "T = 1 rejected");
}

static void t_ddim_subsets(tctx_t *T) {
    vkd_schedule_desc_t d = vkd_schedule_desc_sd();
    vkd_schedule_t s;
    CHECK_OK(T, vkd_schedule_init(&s, &d));
    vkd_ddim_schedule_t dd;
    CHECK_OK(T, vkd_ddim_schedule_init(&dd, &s, 30, 1.0));
    // LDM's uniform spacing: c = 33, t = 1, 34, ..., 991 (31 of them, not 30).
    CHECK(T, dd.n == 31 && dd.timesteps[0] == 1 && dd.timesteps[30] == 991, "30 steps: n = %d",
          dd.n);
    int ok = 1;
    for (int i = 0; i < dd.n; i++) {
        double a = dd.alphas[i], ap = dd.alphas_prev[i];
        double want = sqrt((1 - ap) / (1 - a) * (1 - a / ap));
        double room = 1 - ap - dd.sigmas[i] * dd.sigmas[i];
        if (fabs(dd.sigmas[i] - want) > 1e-15 || !(room >= -1e-12)) ok = 0;
    }
    CHECK(T, ok, "eta = 1 sigmas follow the DDIM formula and fit under 1 - a_prev");
    vkd_ddim_schedule_free(&dd);
    CHECK(T, vkd_ddim_schedule_init(&dd, &s, 333, 0) == VKD_ERR_INVALID &&
                 strstr(vkd_last_error(), "1000"),
          "333 steps reach t = 1000: %s", vkd_last_error());
    CHECK(T, vkd_ddim_schedule_init(&dd, &s, 0, 0) == VKD_ERR_INVALID, "0 steps rejected");
    CHECK(T, vkd_ddim_schedule_init(&dd, &s, 50, -0.5) == VKD_ERR_INVALID, "eta < 0 rejected");
    vkd_schedule_free(&s);
}

// With the true eps, deterministic DDIM predicts x0 and lands on the same trajectory
// (x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps); DDPM at t = 0 returns x0.
static void t_ddim_exact_eps(tctx_t *T) {
    enum { N = 4096 };
    static float x0[N], eps[N], xt[N], xp[N], x0h[N], want[N];
    uint64_t r = T->seed;
    test_fill_uniform(&r, x0, N, -1, 1);
    test_fill_normal(&r, eps, N, 1);
    vkd_schedule_desc_t d = vkd_schedule_desc_sd();
    vkd_schedule_t s;
    CHECK_OK(T, vkd_schedule_init(&s, &d));
    const double a = s.alphas_cumprod_f32[981], ap = s.alphas_cumprod_f32[961];
    CHECK_OK(T, vkd_q_sample(xt, x0, eps, N, a));
    CHECK_OK(T, vkd_ddim_step(xp, x0h, xt, eps, NULL, N, a, ap, 0.0));
    test_compare(T, "DDIM x0 from the exact eps", x0h, x0, N, 2e-5);
    CHECK_OK(T, vkd_q_sample(want, x0, eps, N, ap));
    test_compare(T, "DDIM x_prev on the trajectory", xp, want, N, 2e-6);
    // Final step to a_prev = 1 gives x0 itself; in place on x_t.
    memcpy(xp, xt, sizeof xp);
    CHECK_OK(T, vkd_ddim_step(xp, NULL, xp, eps, NULL, N, a, 1.0, 0.0));
    test_compare(T, "DDIM to abar = 1 (in place)", xp, x0, N, 2e-5);
    // DDPM at t = 0: c1 = 1, c2 = 0, no noise.
    const double a0 = s.alphas_cumprod[0];
    CHECK_OK(T, vkd_q_sample(xt, x0, eps, N, a0));
    CHECK_OK(T, vkd_ddpm_step(&s, 0, xp, NULL, xt, eps, NULL, N, 0.0f));
    test_compare(T, "DDPM t = 0 with the exact eps", xp, x0, N, 1e-5);
    // DDPM at t > 0 with zero noise is the posterior mean; with the exact eps that is
    // c1 x0 + c2 x_t, which is on the line between x0 and x_t.
    CHECK_OK(T, vkd_q_sample(xt, x0, eps, N, s.alphas_cumprod[500]));
    static float z[N];
    CHECK_OK(T, vkd_ddpm_step(&s, 500, xp, x0h, xt, eps, z, N, 1.0f));
    test_compare(T, "DDPM x0 (clipped at 1, inside)", x0h, x0, N, 2e-5);
    double b = s.betas[500], ab = s.alphas_cumprod[500], abp = s.alphas_cumprod[499];
    double c1 = b * sqrt(abp) / (1 - ab), c2 = (1 - abp) * sqrt(1 - b) / (1 - ab);
    for (int i = 0; i < N; i++) want[i] = (float)(c1 * x0[i] + c2 * xt[i]);
    test_compare(T, "DDPM posterior mean", xp, want, N, 1e-5);
    CHECK(T, vkd_ddpm_step(&s, 500, xp, NULL, xt, eps, NULL, N, 0) == VKD_ERR_INVALID,
          "t > 0 without noise rejected");
    CHECK(T, vkd_ddim_step(xp, NULL, xt, eps, NULL, N, a, ap, 0.5) == VKD_ERR_INVALID,
          "sigma > 0 without noise rejected");
    CHECK(T, vkd_ddim_step(xp, NULL, xt, eps, z, N, a, ap, 2.0) == VKD_ERR_INVALID,
          "sigma^2 > 1 - a_prev rejected: %s", vkd_last_error());
    CHECK(T, vkd_ddim_step(xp, NULL, xt, eps, z, N, 0.0, ap, 0.0) == VKD_ERR_INVALID,
          "a_t = 0 rejected");
    vkd_schedule_free(&s);
}

static void t_v_round_trip(tctx_t *T) {
    enum { N = 4096 };
    static float x0[N], eps[N], xt[N], v[N], e2[N], x2[N];
    uint64_t r = T->seed;
    test_fill_uniform(&r, x0, N, -1, 1);
    test_fill_normal(&r, eps, N, 1);
    const double abars[] = {0.9991, 0.5, 0.0047, 1e-4};
    for (int k = 0; k < 4; k++) {
        char name[64];
        CHECK_OK(T, vkd_q_sample(xt, x0, eps, N, abars[k]));
        CHECK_OK(T, vkd_v_from_x0_eps(v, x0, eps, N, abars[k]));
        CHECK_OK(T, vkd_v_to_eps(e2, xt, v, N, abars[k]));
        CHECK_OK(T, vkd_v_to_x0(x2, xt, v, N, abars[k]));
        snprintf(name, sizeof name, "v -> eps at abar %g", abars[k]);
        test_compare(T, name, e2, eps, N, 1e-5);
        snprintf(name, sizeof name, "v -> x0 at abar %g", abars[k]);
        test_compare(T, name, x2, x0, N, 1e-5);
        CHECK_OK(T, vkd_eps_to_x0(x2, xt, e2, N, abars[k]));
        snprintf(name, sizeof name, "eps -> x0 at abar %g", abars[k]);
        // x0 from eps divides by sqrt(abar): noise amplification at small abar.
        test_compare(T, name, x2, x0, N, abars[k] > 0.1 ? 1e-5 : 2e-3);
    }
    CHECK(T, vkd_v_to_eps(e2, xt, v, N, 1.5) == VKD_ERR_INVALID, "abar > 1 rejected");
}

static const tcase_t cases[] = {
    TCASE_CPU(t_cosine_sanity), TCASE_CPU(t_linear_kinds), TCASE_CPU(t_ddim_subsets),
    TCASE_CPU(t_ddim_exact_eps), TCASE_CPU(t_v_round_trip),
};
TEST_MAIN(cases)
