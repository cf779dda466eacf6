// The prior interface with the oracle prior: its image sets, the posterior-mean math,
// classifier-free guidance (s = 1 is the conditional exactly; a negative prompt replaces
// uncond), prompt errors, and the samplers: DDIM and DDPM with the oracle land on a
// training image.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sds/prior.h"
#include "sds/sampler.h"
#include "shapeworld.h"
#include "test_util.h"

#define RES 32
#define D_IMG (3 * RES * RES)

static vkd_oracle_opts_t small_opts(void) {
    vkd_oracle_opts_t o = vkd_oracle_opts_default();
    o.res = RES;
    o.views = 16;
    o.uncond_views = 2;
    return o;
}

// Oracle + its "a red cube" condition + the unconditional one; 0 on failure (reported).
static int setup(tctx_t *T, const vkd_oracle_opts_t *o, const char *prompt, vkd_prior_t **p,
                 vkd_prior_cond_t **c, vkd_prior_cond_t **u) {
    *p = NULL, *c = NULL;
    if (u) *u = NULL;
    vkd_status_t s = vkd_prior_oracle_create(o, p);
    if (s == VKD_OK) s = vkd_prior_encode(*p, prompt, c);
    if (s == VKD_OK && u) s = vkd_prior_encode_uncond(*p, u);
    CHECK(T, s == VKD_OK, "oracle set-up: %s", vkd_last_error());
    return s == VKD_OK;
}

static void teardown(vkd_prior_t *p, vkd_prior_cond_t *c, vkd_prior_cond_t *u) {
    vkd_prior_cond_free(c);
    vkd_prior_cond_free(u);
    vkd_prior_free(p);
}

static void t_oracle_sets(tctx_t *T) {
    const vkd_oracle_opts_t o = small_opts();
    vkd_prior_t *p;
    vkd_prior_cond_t *c, *u, *side = NULL, *c2 = NULL;
    if (!setup(T, &o, "a red cube", &p, &c, &u)) return teardown(p, c, u);
    const vkd_prior_info_t *in = vkd_prior_info(p);
    CHECK(T, in->kind == VKD_PRIOR_ORACLE && in->channels == 3 && in->height == RES &&
                 in->range_lo == -1 && in->range_hi == 1 && in->has_camera &&
                 in->camera.fovy_min_deg == 50 && in->view_suffix == VKD_VIEW_SUFFIX_DREAMFUSION,
          "oracle info");
    const float *im, *iu, *is, *i2;
    int n, nu, ns, n2;
    CHECK_OK(T, vkd_oracle_cond_images(c, &im, &n));
    CHECK_OK(T, vkd_oracle_cond_images(u, &iu, &nu));
    CHECK(T, n == 16 && nu == 48 * 2, "set sizes %d, %d", n, nu);
    float lo = 1e9f, hi = -1e9f;
    for (size_t i = 0; i < (size_t)n * D_IMG; i++) lo = fminf(lo, im[i]), hi = fmaxf(hi, im[i]);
    CHECK(T, lo >= -1.0f && hi <= 1.0f && hi - lo > 1.0f, "images in the range [%g, %g]", lo, hi);
    // The red cube is object 8 (shape 1 x 8 colours + colour 0): the union holds its first
    // uncond_views views there.
    CHECK(T, memcmp(iu + 8 * 2 * D_IMG, im, sizeof(float) * 2 * D_IMG) == 0,
          "the unconditional set holds the object's first views");
    CHECK_OK(T, vkd_prior_encode(p, "A red cube, side view.", &side));
    CHECK_OK(T, vkd_oracle_cond_images(side, &is, &ns));
    // The side views are the side-bin candidates of the same sequence: those among the
    // first 16 candidates are shared, the rest are new.
    int shared = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < n; j++)
            shared += memcmp(is + (size_t)i * D_IMG, im + (size_t)j * D_IMG, sizeof(float) * D_IMG) == 0;
    printf("  side-view set: %d of %d images shared with the unrestricted set\n", shared, ns);
    CHECK(T, ns == 16 && shared >= 1 && shared < ns, "the side view set is the filtered sequence");
    CHECK_OK(T, vkd_prior_encode(p, "a red cube", &c2));
    CHECK_OK(T, vkd_oracle_cond_images(c2, &i2, &n2));
    CHECK(T, n2 == n && memcmp(i2, im, sizeof(float) * (size_t)n * D_IMG) == 0, "reproducible");
    char buf[128];
    CHECK_OK(T, vkd_prior_view_prompt(p, "a red cube", VKD_VIEW_OVERHEAD, buf, sizeof buf));
    CHECK(T, !strcmp(buf, "a red cube, overhead view"), "%s", buf);
    CHECK(T, vkd_prior_view_prompt(p, "a red cube", VKD_VIEW_SIDE, buf, 12) == VKD_ERR_INVALID,
          "view prompt overflow");
    vkd_prior_cond_free(side);
    vkd_prior_cond_free(c2);
    teardown(p, c, u);
}

static void expect_prompt_error(tctx_t *T, vkd_prior_t *p, const char *prompt, const char *needle) {
    vkd_prior_cond_t *c = (vkd_prior_cond_t *)1;
    vkd_status_t s = vkd_prior_encode(p, prompt, &c);
    printf("  \"%.40s%s\" -> %s\n", prompt, strlen(prompt) > 40 ? "..." : "", vkd_last_error());
    CHECK(T, s == VKD_ERR_INVALID && c == NULL, "prompt \"%.40s\" accepted", prompt);
    CHECK(T, strstr(vkd_last_error(), needle) != NULL, "message lacks '%s': %s", needle,
          vkd_last_error());
}

static void t_bad_prompts(tctx_t *T) {
    vkd_oracle_opts_t o = small_opts();
    o.views = 2, o.uncond_views = 1;
    vkd_prior_t *p = NULL;
    CHECK_OK(T, vkd_prior_oracle_create(&o, &p));
    expect_prompt_error(T, p, "", "empty prompt");
    expect_prompt_error(T, p, " \t\n", "empty prompt");
    char *longp = malloc(5000);
    memset(longp, 'a', 4999);
    longp[4999] = 0;
    expect_prompt_error(T, p, longp, "too long");
    free(longp);
    expect_prompt_error(T, p, "a plaid cube", "orange");
    expect_prompt_error(T, p, "a red cube, top view", "overhead");
    expect_prompt_error(T, p, "a photo of a dog", "ShapeWorld");
    vkd_prior_cond_t *c = NULL;
    CHECK(T, vkd_prior_encode(p, NULL, &c) == VKD_ERR_INVALID, "NULL prompt");
    // A bin the camera distribution cannot produce.
    vkd_prior_free(p);
    o.camera.elev_max_deg = 30;
    CHECK_OK(T, vkd_prior_oracle_create(&o, &p));
    expect_prompt_error(T, p, "a red cube, overhead view", "never gives an overhead view");
    vkd_prior_free(p);
    o = small_opts();
    o.uncond_views = 17;
    CHECK(T, vkd_prior_oracle_create(&o, &p) == VKD_ERR_INVALID && !p, "uncond_views > views");
}

// The posterior mean against a direct long-double evaluation of the formula.
static void t_posterior_math(tctx_t *T) {
    const vkd_oracle_opts_t o = small_opts();
    vkd_prior_t *p;
    vkd_prior_cond_t *c;
    if (!setup(T, &o, "a green torus", &p, &c, NULL)) return teardown(p, c, NULL);
    const float *X;
    int n;
    CHECK_OK(T, vkd_oracle_cond_images(c, &X, &n));
    uint64_t rng = T->seed;
    static float z[D_IMG], eps0[D_IMG], x0[D_IMG], eps[D_IMG];
    double w[16];
    const int ts[] = {0, 50, 300, 600, 900, 999};
    for (int k = 0; k < 6; k++) {
        const int t = ts[k];
        const double a = vkd_prior_abar(p, t);
        test_fill_normal(&rng, eps0, D_IMG, 1.0f);
        for (int i = 0; i < D_IMG; i++) z[i] = (float)(sqrt(a) * X[3 * D_IMG + i] + sqrt(1 - a) * eps0[i]);
        CHECK_OK(T, vkd_oracle_posterior_mean(p, c, z, t, x0, w));
        long double lg[16], m = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            long double d = 0;
            for (int i = 0; i < D_IMG; i++) {
                long double r = (long double)z[i] - sqrtl((long double)a) * X[(size_t)j * D_IMG + i];
                d += r * r;
            }
            lg[j] = -d / (2 * (1 - (long double)a));
            if (lg[j] > m) m = lg[j];
        }
        for (int j = 0; j < n; j++) sum += expl(lg[j] - m);
        double werr = 0, xerr = 0;
        for (int i = 0; i < D_IMG; i++) {
            long double acc = 0;
            for (int j = 0; j < n; j++) acc += expl(lg[j] - m) / sum * X[(size_t)j * D_IMG + i];
            xerr = fmax(xerr, fabs((double)(acc - x0[i])));
        }
        for (int j = 0; j < n; j++) werr = fmax(werr, fabs((double)(expl(lg[j] - m) / sum) - w[j]));
        printf("  t=%3d abar=%.5f: weight of the true image %.4f, |w - ref| %.1e, |x0 - ref| %.1e\n",
               t, a, w[3], werr, xerr);
        CHECK(T, werr < 1e-9 && xerr < 1e-5, "t=%d: posterior off by %g / %g", t, werr, xerr);
        // predict() returns the matching eps: z = sqrt(a) x0 + sqrt(1 - a) eps.
        const vkd_prior_cond_t *cc[1] = {c};
        CHECK_OK(T, vkd_prior_predict(p, eps, z, &t, cc, 1));
        double rec = 0;
        for (int i = 0; i < D_IMG; i++)
            rec = fmax(rec, fabs(sqrt(a) * x0[i] + sqrt(1 - a) * eps[i] - z[i]));
        CHECK(T, rec < 1e-4, "t=%d: eps inconsistent with x0 (%g)", t, rec);
        if (t <= 300) CHECK(T, w[3] > 0.999, "t=%d: the noised image dominates (%g)", t, w[3]);
    }
    teardown(p, c, NULL);
}

static void t_cfg(tctx_t *T) {
    const vkd_oracle_opts_t o = small_opts();
    vkd_prior_t *p;
    vkd_prior_cond_t *c, *u, *neg = NULL;
    if (!setup(T, &o, "a red cube", &p, &c, &u)) return teardown(p, c, u);
    CHECK_OK(T, vkd_prior_encode(p, "a blue sphere", &neg));
    enum { B = 3 };
    static float x[B * D_IMG], ec[B * D_IMG], eu[B * D_IMG], e1[B * D_IMG], e2[B * D_IMG],
        rc[B * D_IMG], ru[B * D_IMG];
    uint64_t rng = T->seed;
    test_fill_normal(&rng, x, B * D_IMG, 1.0f);
    const int t[B] = {100, 500, 900};
    const vkd_prior_cond_t *cc[B] = {c, c, c}, *uu[B] = {u, u, u}, *nn[B] = {neg, neg, neg};
    CHECK_OK(T, vkd_prior_predict(p, rc, x, t, cc, B));
    CHECK_OK(T, vkd_prior_predict(p, ru, x, t, uu, B));
    // s = 1 (LDM) and w = 0 (DreamFusion) give the conditional prediction bit for bit.
    vkd_cfg_t g = {1.0f, VKD_CFG_LDM};
    CHECK_OK(T, vkd_prior_predict_cfg(p, e1, ec, eu, x, t, cc, uu, B, &g));
    CHECK(T, memcmp(e1, rc, sizeof e1) == 0, "CFG s=1 differs from the conditional prediction");
    CHECK(T, memcmp(ec, rc, sizeof ec) == 0 && memcmp(eu, ru, sizeof eu) == 0,
          "the batch of 2B gives the single predictions");
    g = (vkd_cfg_t){0.0f, VKD_CFG_DREAMFUSION};
    CHECK_OK(T, vkd_prior_predict_cfg(p, e1, NULL, NULL, x, t, cc, uu, B, &g));
    CHECK(T, memcmp(e1, rc, sizeof e1) == 0, "DreamFusion w=0 differs from the conditional");
    // s = 7.5 follows the formula; DreamFusion w = 6.5 is the same guidance.
    g = (vkd_cfg_t){7.5f, VKD_CFG_LDM};
    CHECK_OK(T, vkd_prior_predict_cfg(p, e1, NULL, NULL, x, t, cc, uu, B, &g));
    static float ref[B * D_IMG];
    for (int i = 0; i < B * D_IMG; i++) ref[i] = ru[i] + 7.5f * (rc[i] - ru[i]);
    test_compare(T, "CFG s=7.5 vs eps_u + s (eps_c - eps_u)", e1, ref, B * D_IMG, 1e-5);
    g = (vkd_cfg_t){6.5f, VKD_CFG_DREAMFUSION};
    CHECK_OK(T, vkd_prior_predict_cfg(p, e2, NULL, NULL, x, t, cc, uu, B, &g));
    test_compare(T, "DreamFusion w=6.5 vs LDM s=7.5", e2, e1, B * D_IMG, 1e-6);
    // A negative prompt replaces uncond.
    static float rn[B * D_IMG];
    CHECK_OK(T, vkd_prior_predict(p, rn, x, t, nn, B));
    g = (vkd_cfg_t){3.0f, VKD_CFG_LDM};
    CHECK_OK(T, vkd_prior_predict_cfg(p, e1, ec, eu, x, t, cc, nn, B, &g));
    CHECK(T, memcmp(eu, rn, sizeof eu) == 0, "the negative prediction replaces eps_u");
    for (int i = 0; i < B * D_IMG; i++) ref[i] = rn[i] + 3.0f * (rc[i] - rn[i]);
    test_compare(T, "CFG with a negative prompt", e1, ref, B * D_IMG, 1e-5);
    CHECK(T, memcmp(rn, ru, sizeof rn) != 0, "negative and uncond predictions differ");
    // Mixed conditions in one batch and misuse.
    const vkd_prior_cond_t *mix[B] = {c, neg, u};
    CHECK_OK(T, vkd_prior_predict(p, e1, x, t, mix, B));
    CHECK(T, memcmp(e1, rc, sizeof(float) * D_IMG) == 0 &&
                 memcmp(e1 + D_IMG, rn + D_IMG, sizeof(float) * D_IMG) == 0 &&
                 memcmp(e1 + 2 * D_IMG, ru + 2 * D_IMG, sizeof(float) * D_IMG) == 0,
          "a mixed batch gives each item its own condition");
    const int bad_t[1] = {1000};
    CHECK(T, vkd_prior_predict(p, e1, x, bad_t, cc, 1) == VKD_ERR_INVALID, "t = T rejected");
    const vkd_prior_cond_t *nul[1] = {NULL};
    CHECK(T, vkd_prior_predict(p, e1, x, t, nul, 1) == VKD_ERR_INVALID, "NULL condition rejected");
    vkd_prior_t *other = NULL;
    vkd_prior_cond_t *oc = NULL;
    vkd_oracle_opts_t o2 = small_opts();
    o2.views = 1, o2.uncond_views = 1;
    CHECK_OK(T, vkd_prior_oracle_create(&o2, &other));
    CHECK_OK(T, vkd_prior_encode(other, "a red cube", &oc));
    const vkd_prior_cond_t *foreign[1] = {oc};
    CHECK(T, vkd_prior_predict(p, e1, x, t, foreign, 1) == VKD_ERR_INVALID &&
                 strstr(vkd_last_error(), "another prior"),
          "a handle of another prior is rejected: %s", vkd_last_error());
    vkd_prior_cond_free(oc);
    vkd_prior_free(other);
    vkd_prior_cond_free(neg);
    teardown(p, c, u);
}

// Root-mean-square distance from each sample (n, D) to its nearest image of the set.
static double worst_nearest_rms(const float *s, int n, const float *X, int m, int *which) {
    double worst = 0;
    for (int k = 0; k < n; k++) {
        double best = INFINITY;
        for (int j = 0; j < m; j++) {
            double d = 0;
            for (int i = 0; i < D_IMG; i++) {
                double r = (double)s[(size_t)k * D_IMG + i] - X[(size_t)j * D_IMG + i];
                d += r * r;
            }
            if (d < best) best = d, which[k] = j;
        }
        worst = fmax(worst, sqrt(best / D_IMG));
    }
    return worst;
}

static void t_ddim_reproduces(tctx_t *T) {
    const vkd_oracle_opts_t o = small_opts();
    vkd_prior_t *p;
    vkd_prior_cond_t *c, *u;
    if (!setup(T, &o, "an orange pyramid", &p, &c, &u)) return teardown(p, c, u);
    const float *X;
    int m;
    CHECK_OK(T, vkd_oracle_cond_images(c, &X, &m));
    enum { N = 6 };
    static float s[N * D_IMG], s2[2 * D_IMG];
    int which[N];
    vkd_sampler_opts_t so = vkd_sampler_opts_default();
    so.guidance.scale = 1.0f;
    so.seed = 7;
    CHECK_OK(T, vkd_sample(p, s, N, c, NULL, &so, NULL));
    double rms = worst_nearest_rms(s, N, X, m, which);
    printf("  DDIM-50, s=1: worst RMS distance to the nearest training image %.2e (images", rms);
    for (int k = 0; k < N; k++) printf(" %d", which[k]);
    printf(")\n");
    CHECK(T, rms < 1e-3, "DDIM sample is not a training image (RMS %g)", rms);
    int distinct = 0;
    for (int k = 0; k < N; k++) {
        int seen = 0;
        for (int j = 0; j < k; j++) seen |= which[j] == which[k];
        distinct += !seen;
    }
    CHECK(T, distinct >= 2, "samples of different seeds land on different images (%d)", distinct);
    // Sample i does not depend on n; the same seed reproduces it.
    so.first_index = 2;
    CHECK_OK(T, vkd_sample(p, s2, 2, c, NULL, &so, NULL));
    CHECK(T, memcmp(s2, s + 2 * D_IMG, sizeof s2) == 0, "sample 2 is the same with n = 2");
    // Respaced DDPM (ancestral, stochastic) lands on a training image too.
    so = vkd_sampler_opts_default();
    so.kind = VKD_SAMPLER_DDPM;
    so.guidance.scale = 1.0f;
    CHECK_OK(T, vkd_sample(p, s, N, c, NULL, &so, NULL));
    rms = worst_nearest_rms(s, N, X, m, which);
    printf("  DDPM-50 (respaced ancestral): worst RMS to the nearest training image %.2e\n", rms);
    CHECK(T, rms < 1e-3, "DDPM sample is not a training image (RMS %g)", rms);
    // Guided DDIM with eta > 0: finite and inside the range (x0 is clipped).
    so = vkd_sampler_opts_default();
    so.eta = 0.5;
    so.guidance.scale = 3.0f;
    CHECK_OK(T, vkd_sample(p, s, 2, c, u, &so, NULL));
    int ok = 1;
    for (int i = 0; i < 2 * D_IMG; i++) ok &= s[i] >= -1.0f && s[i] <= 1.0f;
    CHECK(T, ok, "guided samples stay in the range");
    so.guidance.scale = 3.0f;
    CHECK(T, vkd_sample(p, s, 2, c, NULL, &so, NULL) == VKD_ERR_INVALID, "guidance without uncond");
    so.steps = 333;
    CHECK(T, vkd_sample(p, s, 2, c, u, &so, NULL) == VKD_ERR_INVALID, "bad step count");
    teardown(p, c, u);
}

// The full 1000-step DDPM chain, at 8x8 to keep it quick.
static void t_ddpm_full_chain(tctx_t *T) {
    vkd_oracle_opts_t o = small_opts();
    o.res = 8, o.views = 8, o.uncond_views = 1;
    vkd_prior_t *p;
    vkd_prior_cond_t *c;
    if (!setup(T, &o, "a yellow cylinder", &p, &c, NULL)) return teardown(p, c, NULL);
    const float *X;
    int m;
    CHECK_OK(T, vkd_oracle_cond_images(c, &X, &m));
    vkd_sampler_opts_t so = vkd_sampler_opts_default();
    so.kind = VKD_SAMPLER_DDPM;
    so.steps = 0;
    so.guidance.scale = 1.0f;
    int steps = 0;
    CHECK_OK(T, vkd_sample_steps(p, &so, &steps));
    CHECK(T, steps == 1000, "full chain has T steps (%d)", steps);
    float s[2 * 192];
    CHECK_OK(T, vkd_sample(p, s, 2, c, NULL, &so, NULL));
    double worst = 0;
    for (int k = 0; k < 2; k++) {
        double best = INFINITY;
        for (int j = 0; j < m; j++) {
            double d = 0;
            for (int i = 0; i < 192; i++) d += pow((double)s[k * 192 + i] - X[j * 192 + i], 2);
            best = fmin(best, d);
        }
        worst = fmax(worst, sqrt(best / 192));
    }
    printf("  DDPM-1000: worst RMS to the nearest training image %.2e\n", worst);
    CHECK(T, worst < 1e-3, "full-chain DDPM sample is not a training image (%g)", worst);
    teardown(p, c, NULL);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_oracle_sets),
    TCASE_CPU(t_bad_prompts),
    TCASE_CPU(t_posterior_math),
    TCASE_CPU(t_cfg),
    TCASE_CPU(t_ddim_reproduces),
    TCASE_CPU(t_ddpm_full_chain),
};
TEST_MAIN(cases)
