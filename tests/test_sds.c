// The SDS gradient with the oracle prior: its randomness, its plumbing against an
// independent evaluation, the weightings and guidance conventions, NaN scrubbing and
// clipping, the chain rule through the value range, and the zero-mean property:
// - for an image that is the only image of its prompt, eps^ = eps and the gradient is 0;
// - averaged over the images of a prompt's set (x0 uniform over the set) it is 0 in
//   expectation at every t, because the oracle's eps^ is exactly E[eps | z_t];
// - for one known image of a larger set it is 0 wherever the posterior has collapsed onto
//   it (small and moderate t), not at large t where neighbouring views blend in;
// - for an image the oracle does not know it is far from 0.
// Each mean is compared with its Monte-Carlo standard error.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sds/prior.h"
#include "sds/sds.h"
#include "test_util.h"

#define RES 32
#define D_IMG (3 * RES * RES)

static vkd_prior_t *make_oracle(tctx_t *T, int views, vkd_encoding_t enc) {
    vkd_oracle_opts_t o = vkd_oracle_opts_default();
    o.res = RES, o.views = views, o.uncond_views = 1, o.encoding = enc;
    vkd_prior_t *p = NULL;
    vkd_status_t s = vkd_prior_oracle_create(&o, &p);
    CHECK(T, s == VKD_OK, "oracle: %s", vkd_last_error());
    return p;
}

// Image j of a condition's set as [0, 1] pixel values (what a renderer would hand SDS).
static void set_image(const vkd_prior_t *p, const vkd_prior_cond_t *c, int j, float *x) {
    const float *X;
    int n;
    if (vkd_oracle_cond_images(c, &X, &n) != VKD_OK || j >= n) return;
    vkd_prior_from_range(p, x, X + (size_t)j * D_IMG, D_IMG);
}

static void t_normal_host(tctx_t *T) {
    const size_t n = 1001;
    const uint64_t offsets[] = {0, 3, ((uint64_t)5 << 26) + 1};
    vkd_buf_t b = test_buf(T, T->cpu_arena, NULL, n);
    float *host = malloc(sizeof(float) * n);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(T, op_rng_normal(T->cpu, b, n, 42, VKD_SDS_EPS_STREAM | (7ull << 32), offsets[k]));
        vkd_normal_host(host, n, 42, VKD_SDS_EPS_STREAM | (7ull << 32), offsets[k]);
        CHECK(T, memcmp(host, b.host, sizeof(float) * n) == 0,
              "vkd_normal_host differs from op_rng_normal at offset %llu",
              (unsigned long long)offsets[k]);
    }
    free(host);
}

static void t_draws(tctx_t *T) {
    vkd_prior_t *p = make_oracle(T, 1, VKD_ENC_LINEAR);
    if (!p) return;
    vkd_sds_opts_t o = vkd_sds_opts_default();
    int tmin = 1 << 30, tmax = -1, t, t2;
    double mean = 0;
    const int M = 20000;
    for (int s = 0; s < M; s++) {
        CHECK_OK(T, vkd_sds_draw(p, &o, (uint64_t)s, s % 3, &t, NULL));
        tmin = t < tmin ? t : tmin, tmax = t > tmax ? t : tmax;
        mean += t / (double)M;
    }
    printf("  t over %d draws: %d .. %d, mean %.1f\n", M, tmin, tmax, mean);
    CHECK(T, tmin == 20 && tmax == 980 && fabs(mean - 500) < 8, "t ~ U{20..980}");
    static float e1[D_IMG], e2[D_IMG], e3[D_IMG];
    CHECK_OK(T, vkd_sds_draw(p, &o, 5, 0, &t, e1));
    CHECK_OK(T, vkd_sds_draw(p, &o, 5, 0, &t2, e2));
    CHECK(T, t == t2 && memcmp(e1, e2, sizeof e1) == 0, "a draw is reproducible");
    CHECK_OK(T, vkd_sds_draw(p, &o, 5, 1, &t2, e3));
    CHECK(T, memcmp(e1, e3, sizeof e1) != 0, "images of a step get different noise");
    double m = 0, v = 0;
    for (int i = 0; i < D_IMG; i++) m += e1[i] / D_IMG, v += (double)e1[i] * e1[i] / D_IMG;
    CHECK(T, fabs(m) < 0.1 && fabs(v - 1) < 0.1, "eps ~ N(0, 1): mean %g, var %g", m, v);
    o.t_min = o.t_max = 0.5f;
    CHECK_OK(T, vkd_sds_draw(p, &o, 9, 0, &t, NULL));
    CHECK(T, t == 500, "fixed t: %d", t);
    o.t_min = 0.7f, o.t_max = 0.6f;
    CHECK(T, vkd_sds_draw(p, &o, 9, 0, &t, NULL) == VKD_ERR_INVALID, "reversed t range");
    vkd_prior_free(p);
}

// vkd_sds_grad against the formula evaluated here from vkd_sds_draw and vkd_prior_predict.
static void t_plumbing(tctx_t *T) {
    vkd_prior_t *p = make_oracle(T, 4, VKD_ENC_LINEAR);
    if (!p) return;
    vkd_prior_cond_t *c = NULL, *u = NULL, *other = NULL;
    CHECK_OK(T, vkd_prior_encode(p, "a red cube", &c));
    CHECK_OK(T, vkd_prior_encode_uncond(p, &u));
    CHECK_OK(T, vkd_prior_encode(p, "a blue sphere", &other));
    enum { B = 2 };
    static float x[B * D_IMG], g_uni[B * D_IMG], g[B * D_IMG], eps[D_IMG], y[D_IMG], z[D_IMG],
        eh[D_IMG], ref[B * D_IMG];
    set_image(p, other, 0, x);     // unknown to "a red cube"
    set_image(p, c, 1, x + D_IMG); // known
    const vkd_prior_cond_t *cc[B] = {c, c}, *uu[B] = {u, u};
    vkd_sds_opts_t o = vkd_sds_opts_default();
    o.weighting = VKD_SDS_W_UNIFORM;
    o.guidance.scale = 1.0f;
    o.seed = 3;
    int t[B];
    vkd_sds_stats_t st;
    CHECK_OK(T, vkd_sds_grad(p, g_uni, x, B, cc, NULL, &o, 11, t, &st));
    double loss = 0;
    for (int b = 0; b < B; b++) {
        int tb;
        CHECK_OK(T, vkd_sds_draw(p, &o, 11, b, &tb, eps));
        CHECK(T, tb == t[b], "t of image %d", b);
        const double a = vkd_prior_abar(p, tb);
        for (int i = 0; i < D_IMG; i++) {
            y[i] = 2.0f * x[b * D_IMG + i] - 1.0f;
            z[i] = (float)(sqrt(a) * y[i] + sqrt(1 - a) * eps[i]);
        }
        CHECK_OK(T, vkd_prior_predict(p, eh, z, &tb, cc, 1));
        for (int i = 0; i < D_IMG; i++) {
            ref[b * D_IMG + i] = 2.0f * (eh[i] - eps[i]); // chain rule: dy/dx = 2
            loss += 0.5 * (double)(eh[i] - eps[i]) * (eh[i] - eps[i]) / B;
        }
    }
    printf("  t = %d, %d; loss %.4g\n", t[0], t[1], st.loss);
    test_compare(T, "SDS grad vs formula (uniform w)", g_uni, ref, B * D_IMG, 1e-5);
    CHECK(T, fabs(st.loss - loss) <= 1e-4 * loss && st.n_nonfinite == 0 && st.mean_w == 1.0,
          "stats: loss %g vs %g", st.loss, loss);
    // Weightings scale the same draw by w(t).
    const vkd_sds_weighting_t ws[2] = {VKD_SDS_W_SDS, VKD_SDS_W_FANTASIA3D};
    for (int k = 0; k < 2; k++) {
        o.weighting = ws[k];
        CHECK_OK(T, vkd_sds_grad(p, g, x, B, cc, NULL, &o, 11, NULL, &st));
        for (int b = 0; b < B; b++) {
            const double a = vkd_prior_abar(p, t[b]), w = k == 0 ? 1 - a : sqrt(a) * (1 - a);
            CHECK(T, fabs(vkd_sds_weight(p, ws[k], t[b]) - w) < 1e-15, "w(t)");
            for (int i = 0; i < D_IMG; i++) ref[b * D_IMG + i] = (float)(w * g_uni[b * D_IMG + i]);
        }
        test_compare(T, k == 0 ? "weighting sds = (1 - abar) uniform" : "weighting fantasia3d",
                     g, ref, B * D_IMG, 1e-5);
    }
    // Guidance conventions: DreamFusion w = 19 is LDM s = 20.
    o.weighting = VKD_SDS_W_SDS;
    o.guidance = (vkd_cfg_t){20.0f, VKD_CFG_LDM};
    CHECK_OK(T, vkd_sds_grad(p, g, x, B, cc, uu, &o, 11, NULL, NULL));
    o.guidance = (vkd_cfg_t){19.0f, VKD_CFG_DREAMFUSION};
    CHECK_OK(T, vkd_sds_grad(p, ref, x, B, cc, uu, &o, 11, NULL, NULL));
    test_compare(T, "DreamFusion w=19 vs LDM s=20", ref, g, B * D_IMG, 1e-6);
    CHECK(T, vkd_sds_grad(p, g, x, B, cc, NULL, &o, 11, NULL, NULL) == VKD_ERR_INVALID,
          "guidance without uncond is refused");
    vkd_prior_cond_free(c), vkd_prior_cond_free(u), vkd_prior_cond_free(other);
    vkd_prior_free(p);
}

static void t_scrub_clip(tctx_t *T) {
    vkd_prior_t *p = make_oracle(T, 4, VKD_ENC_LINEAR);
    if (!p) return;
    vkd_prior_cond_t *c = NULL;
    CHECK_OK(T, vkd_prior_encode(p, "a cyan cone", &c));
    enum { B = 2 };
    static float x[B * D_IMG], g0[B * D_IMG], g1[B * D_IMG];
    uint64_t rng = T->seed;
    test_fill_uniform(&rng, x, B * D_IMG, 0, 1);
    const vkd_prior_cond_t *cc[B] = {c, c};
    vkd_sds_opts_t o = vkd_sds_opts_default();
    o.guidance.scale = 1.0f;
    vkd_sds_stats_t st;
    CHECK_OK(T, vkd_sds_grad(p, g0, x, B, cc, NULL, &o, 4, NULL, &st));
    CHECK(T, st.n_nonfinite == 0, "clean input, no scrubbing");
    x[17] = NAN;
    x[99] = INFINITY;
    CHECK_OK(T, vkd_sds_grad(p, g1, x, B, cc, NULL, &o, 4, NULL, &st));
    int finite = 1, zero0 = 1;
    for (int i = 0; i < B * D_IMG; i++) finite &= isfinite(g1[i]);
    for (int i = 0; i < D_IMG; i++) zero0 &= g1[i] == 0.0f;
    printf("  NaN/Inf in image 0: %d elements scrubbed\n", st.n_nonfinite);
    CHECK(T, finite && zero0 && st.n_nonfinite == D_IMG, "image 0 scrubbed to 0 (%d)", st.n_nonfinite);
    CHECK(T, memcmp(g1 + D_IMG, g0 + D_IMG, sizeof(float) * D_IMG) == 0, "image 1 unaffected");
    x[17] = 0.5f, x[99] = 0.5f;
    o.grad_clip = 0.01f;
    CHECK_OK(T, vkd_sds_grad(p, g1, x, B, cc, NULL, &o, 4, NULL, &st));
    float mx = 0;
    for (int i = 0; i < B * D_IMG; i++) mx = fmaxf(mx, fabsf(g1[i]));
    printf("  clip 0.01: %d elements clipped, max |grad| %g (range factor 2)\n", st.n_clipped, mx);
    CHECK(T, st.n_clipped > 0 && mx <= 0.02f + 1e-7f, "clipped to 0.01 before the chain rule");
    o.grad_clip = -1;
    CHECK(T, vkd_sds_grad(p, g1, x, B, cc, NULL, &o, 4, NULL, &st) == VKD_ERR_INVALID, "bad clip");
    vkd_prior_cond_free(c);
    vkd_prior_free(p);
}

// dy/dx of the range mapping against central differences, linear and sRGB.
static void t_range_jacobian(tctx_t *T) {
    for (int e = 0; e < 2; e++) {
        vkd_prior_t *p = make_oracle(T, 1, e ? VKD_ENC_SRGB : VKD_ENC_LINEAR);
        if (!p) return;
        float v[64], j[64], y0, y1, back;
        for (int i = 0; i < 64; i++) v[i] = 0.002f + 0.99f * i / 63.0f;
        vkd_prior_range_jacobian(p, j, v, 64);
        double worst = 0, rt = 0;
        for (int i = 0; i < 64; i++) {
            const float h = 1e-3f, a = v[i] - h, b = v[i] + h;
            vkd_prior_to_range(p, &y0, &a, 1);
            vkd_prior_to_range(p, &y1, &b, 1);
            worst = fmax(worst, fabs((y1 - y0) / (2 * h) - j[i]) / fmax(1, fabs(j[i])));
            vkd_prior_to_range(p, &y0, &v[i], 1);
            vkd_prior_from_range(p, &back, &y0, 1);
            rt = fmax(rt, fabs(back - v[i]));
        }
        printf("  %s: jacobian vs FD %.1e, round trip %.1e\n", e ? "srgb" : "linear", worst, rt);
        CHECK(T, worst < 2e-2 && rt < 1e-5, "range mapping");
        vkd_prior_free(p);
    }
}

// Mean of the SDS gradient over M draws, projected on P fixed directions: the largest
// |mean| / standard error. pick(i) chooses the image of draw i.
enum { P_DIRS = 6 };
typedef struct {
    vkd_prior_t *p;
    const vkd_prior_cond_t *cond;
    const float *images; // (n, D) in [0, 1]
    int n_images;
    float dirs[P_DIRS][D_IMG];
} zm_t;

// With ortho, one more statistic: the residual x0 - x0^ of the posterior mean must be
// orthogonal to every function of z_t, x0^ itself included (x0^ = E[x0 | z_t]), so
// (x0 - x0^) . (x0^ - mean image) has mean 0 too; a miscalibrated denoiser (a wrong softmax
// temperature, say) breaks that even where the plain mean stays 0 by symmetry. With uniform
// weighting and range [-1, 1], g = 2 (eps^ - eps) = 2 c (x0 - x0^), c = sqrt(a / (1 - a)).
static double max_zscore(tctx_t *T, zm_t *Z, float t_frac, int fixed_image, int M, int ortho) {
    vkd_sds_opts_t o = vkd_sds_opts_default();
    o.guidance.scale = 1.0f;
    o.weighting = VKD_SDS_W_UNIFORM;
    o.t_min = o.t_max = t_frac;
    o.seed = 99;
    double s1[P_DIRS + 1] = {0}, s2[P_DIRS + 1] = {0};
    static float g[D_IMG], mean_img[D_IMG];
    const vkd_prior_cond_t *cc[1] = {Z->cond};
    for (int q = 0; q < D_IMG; q++) {
        double m = 0;
        for (int j = 0; j < Z->n_images; j++) m += 2.0 * Z->images[(size_t)j * D_IMG + q] - 1.0;
        mean_img[q] = (float)(m / Z->n_images);
    }
    const int t = (int)lround(t_frac * 1000.0);
    const double a = vkd_prior_abar(Z->p, t), c = sqrt(a / (1.0 - a));
    for (int i = 0; i < M; i++) {
        const int j = fixed_image >= 0 ? fixed_image : i % Z->n_images;
        const float *x = Z->images + (size_t)j * D_IMG;
        if (vkd_sds_grad(Z->p, g, x, 1, cc, NULL, &o, (uint64_t)i, NULL, NULL) != VKD_OK) {
            CHECK(T, 0, "sds: %s", vkd_last_error());
            return INFINITY;
        }
        for (int k = 0; k <= P_DIRS; k++) {
            double d = 0;
            if (k < P_DIRS)
                for (int q = 0; q < D_IMG; q++) d += (double)Z->dirs[k][q] * g[q];
            else
                for (int q = 0; q < D_IMG; q++) {
                    const double r = 0.5 * g[q] / c, x0 = 2.0 * x[q] - 1.0; // r = x0 - x0^
                    d += r * (x0 - r - mean_img[q]);
                }
            s1[k] += d, s2[k] += d * d;
        }
    }
    double worst = 0;
    for (int k = 0; k < P_DIRS + (ortho ? 1 : 0); k++) {
        const double mean = s1[k] / M, var = (s2[k] - M * mean * mean) / (M - 1);
        const double se = sqrt(fmax(var, 0) / M);
        worst = fmax(worst, se > 0 ? fabs(mean) / se : (mean == 0 ? 0 : INFINITY));
    }
    return worst;
}

static void t_zero_mean(tctx_t *T) {
    enum { K = 8, M = 400 };
    zm_t *Z = calloc(1, sizeof *Z);
    Z->p = make_oracle(T, K, VKD_ENC_LINEAR);
    vkd_prior_cond_t *c = NULL, *blue = NULL;
    if (!Z->p) return free(Z);
    CHECK_OK(T, vkd_prior_encode(Z->p, "a red cube", &c));
    CHECK_OK(T, vkd_prior_encode(Z->p, "a blue sphere", &blue));
    Z->cond = c;
    float *imgs = malloc(sizeof(float) * (K + 1) * D_IMG);
    for (int j = 0; j < K; j++) set_image(Z->p, c, j, imgs + (size_t)j * D_IMG);
    set_image(Z->p, blue, 0, imgs + (size_t)K * D_IMG); // image K: unknown to "a red cube"
    Z->images = imgs, Z->n_images = K;
    uint64_t rng = T->seed;
    for (int k = 0; k < P_DIRS; k++) {
        if (k < P_DIRS - 1) test_fill_normal(&rng, Z->dirs[k], D_IMG, 1.0f);
        else for (int q = 0; q < D_IMG; q++) Z->dirs[k][q] = 1.0f; // mean brightness
        double n2 = 0;
        for (int q = 0; q < D_IMG; q++) n2 += (double)Z->dirs[k][q] * Z->dirs[k][q];
        for (int q = 0; q < D_IMG; q++) Z->dirs[k][q] = (float)(Z->dirs[k][q] / sqrt(n2));
    }
    // 1. A prompt whose set is a single image: eps^ = eps, the gradient vanishes per draw.
    {
        vkd_prior_t *p1 = make_oracle(T, 1, VKD_ENC_LINEAR);
        vkd_prior_cond_t *c1 = NULL;
        static float x1[D_IMG], g[D_IMG];
        if (p1 && vkd_prior_encode(p1, "a red cube", &c1) == VKD_OK) {
            set_image(p1, c1, 0, x1);
            const vkd_prior_cond_t *cc[1] = {c1};
            vkd_sds_opts_t o = vkd_sds_opts_default();
            o.guidance.scale = 1.0f;
            float worst = 0;
            for (int i = 0; i < 200; i++) {
                CHECK_OK(T, vkd_sds_grad(p1, g, x1, 1, cc, NULL, &o, (uint64_t)i, NULL, NULL));
                for (int q = 0; q < D_IMG; q++) worst = fmaxf(worst, fabsf(g[q]));
            }
            printf("  single-image prompt: max |grad| over 200 draws, t in [20, 980]: %.2e\n", worst);
            CHECK(T, worst < 1e-4, "the gradient of the only image of a prompt is not 0 (%g)", worst);
        }
        vkd_prior_cond_free(c1);
        vkd_prior_free(p1);
    }
    // 2. x0 uniform over the prompt's set: zero mean at every t.
    const float ts[] = {0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
    for (int k = 0; k < 5; k++) {
        const double zs = max_zscore(T, Z, ts[k], -1, M, 1);
        printf("  t = %.1f T, x0 uniform over the %d images: max |mean| / SE = %.2f (incl. "
               "orthogonality)\n", ts[k], K, zs);
        CHECK(T, zs < 4.5, "t = %.1f: the mean SDS gradient over the set is not 0 (%.1f SE)", ts[k], zs);
    }
    // Calibration: at t = 0.93 T the views blend, and 2000 draws tell a softmax temperature
    // off by a third (measured: 8 SE) from the exact one.
    {
        const double zc = max_zscore(T, Z, 0.93f, -1, 2000, 1);
        printf("  t = 0.93 T, x0 uniform, 2000 draws: max |mean| / SE = %.2f (calibration)\n", zc);
        CHECK(T, zc < 4.5, "the oracle's posterior is miscalibrated (%.1f SE)", zc);
    }
    // 3. One known image: 0 where the posterior has collapsed onto it, not at t = 0.9.
    for (int k = 0; k < 2; k++) {
        const double zs = max_zscore(T, Z, ts[k], 0, M, 0);
        printf("  t = %.1f T, known image 0: max |mean| / SE = %.2f\n", ts[k], zs);
        CHECK(T, zs < 4.5, "t = %.1f: known image's mean gradient is not 0 (%.1f SE)", ts[k], zs);
    }
    double zs = max_zscore(T, Z, 0.9f, 0, M, 0);
    printf("  t = 0.9 T, known image 0: max |mean| / SE = %.2f (views blend at this noise)\n", zs);
    CHECK(T, zs > 6, "the test cannot tell a biased mean (%.1f SE)", zs);
    // 4. An image the oracle does not know: a clear pull at every t.
    for (int k = 0; k < 5; k += 2) {
        zs = max_zscore(T, Z, ts[k], K, 200, 0);
        printf("  t = %.1f T, unknown image (a blue sphere): max |mean| / SE = %.1f\n", ts[k], zs);
        CHECK(T, zs > 10, "an unknown image gets no clear gradient (%.1f SE)", zs);
    }
    free(imgs);
    vkd_prior_cond_free(c), vkd_prior_cond_free(blue);
    vkd_prior_free(Z->p);
    free(Z);
}

// Milliseconds per SDS step with the default oracle (64 views, 768-image unconditional set).
static void t_speed(tctx_t *T) {
    vkd_prior_t *p = NULL;
    vkd_prior_cond_t *c = NULL, *u = NULL;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_OK(T, vkd_prior_oracle_create(NULL, &p));
    vkd_status_t s = vkd_prior_encode(p, "a purple torus", &c);
    if (s == VKD_OK) s = vkd_prior_encode_uncond(p, &u);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(T, s == VKD_OK, "%s", vkd_last_error());
    const double enc = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
    static float x[4 * D_IMG], g[4 * D_IMG];
    uint64_t rng = T->seed;
    test_fill_uniform(&rng, x, 4 * D_IMG, 0, 1);
    const vkd_prior_cond_t *cc[4] = {c, c, c, c}, *uu[4] = {u, u, u, u};
    const vkd_sds_opts_t o = vkd_sds_opts_default();
    for (int B = 1; s == VKD_OK && B <= 4; B *= 4) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 5; i++) CHECK_OK(T, vkd_sds_grad(p, g, x, B, cc, uu, &o, (uint64_t)i, NULL, NULL));
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("  oracle SDS step, batch %d, guidance 20: %.1f ms (encoding cond + uncond: %.2f s)\n",
               B, 1e3 * ((b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec)) / 5, enc);
    }
    vkd_prior_cond_free(c), vkd_prior_cond_free(u);
    vkd_prior_free(p);
}

static const tcase_t cases[] = {
    TCASE_CPU(t_normal_host),
    TCASE_CPU(t_draws),
    TCASE_CPU(t_plumbing),
    TCASE_CPU(t_scrub_clip),
    TCASE_CPU(t_range_jacobian),
    TCASE_CPU(t_zero_mean),
    TCASE_CPU(t_speed),
};
TEST_MAIN(cases)
