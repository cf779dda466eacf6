// Cameras (basis, rays, orbit convention, view bins, the random distribution and its
// reproducibility), lights, Lambertian shading and the shading-mode schedule.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "camera.h"
#include "shading.h"
#include "test_util.h"

#define PI 3.14159265358979323846
#define RAD (PI / 180.0)

static double dot(const float *a, const float *b) {
    return (double)a[0] * b[0] + (double)a[1] * b[1] + (double)a[2] * b[2];
}

static void check_basis(tctx_t *T, const vkd_camera_t *c, const char *what) {
    const float *f = c->forward, *r = c->right, *u = c->up;
    double err = fabs(dot(f, f) - 1) + fabs(dot(r, r) - 1) + fabs(dot(u, u) - 1) + fabs(dot(f, r)) +
                 fabs(dot(f, u)) + fabs(dot(r, u));
    // right x up = -forward (right-handed, looking along forward)
    const float x[3] = {r[1] * u[2] - r[2] * u[1], r[2] * u[0] - r[0] * u[2],
                        r[0] * u[1] - r[1] * u[0]};
    err += fabs(dot(x, f) + 1);
    CHECK(T, err < 1e-5, "%s: basis not orthonormal right-handed (err %g)", what, err);
}

static void orbit_convention(tctx_t *T) {
    vkd_camera_t c;
    CHECK_OK(T, vkd_camera_orbit(&c, 0, 0, 2, 50, 32, 32));
    const float want_pos[3] = {0, 0, 2}, want_f[3] = {0, 0, -1}, want_r[3] = {1, 0, 0},
                want_u[3] = {0, 1, 0};
    for (int k = 0; k < 3; k++) {
        CHECK(T, fabsf(c.pos[k] - want_pos[k]) < 1e-6f, "azimuth 0: camera on +z");
        CHECK(T, fabsf(c.forward[k] - want_f[k]) < 1e-6f, "azimuth 0 looks along -z");
        CHECK(T, fabsf(c.right[k] - want_r[k]) < 1e-6f, "azimuth 0: image right is +x");
        CHECK(T, fabsf(c.up[k] - want_u[k]) < 1e-6f, "azimuth 0: image up is +y");
    }
    CHECK_OK(T, vkd_camera_orbit(&c, 90, 0, 3, 50, 32, 32));
    CHECK(T, fabsf(c.pos[0] - 3) < 1e-5f && fabsf(c.pos[2]) < 1e-5f, "azimuth 90: camera on +x");
    CHECK_OK(T, vkd_camera_orbit(&c, 0, 90, 2, 50, 32, 32));
    CHECK(T, fabsf(c.pos[1] - 2) < 1e-5f && c.forward[1] < -0.9999f, "elevation 90 looks down");
    CHECK(T, c.up[2] < -0.9999f, "at the pole image-up points to -z (away from the front)");
    check_basis(T, &c, "pole");
    // init from a position recovers the orbit angles, and bins follow them.
    const float p[3] = {(float)(2 * cos(30 * RAD) * sin(200 * RAD)), (float)(2 * sin(30 * RAD)),
                        (float)(2 * cos(30 * RAD) * cos(200 * RAD))};
    const float o[3] = {0, 0, 0}, up[3] = {0, 1, 0};
    CHECK_OK(T, vkd_camera_init(&c, p, o, up, 60, 40, 20));
    CHECK(T,
          fabsf(c.azimuth_deg - 200) < 1e-3f && fabsf(c.elevation_deg - 30) < 1e-3f &&
              fabsf(c.distance - 2) < 1e-5f,
          "init recovers az %g el %g d %g", c.azimuth_deg, c.elevation_deg, c.distance);
    CHECK(T, vkd_camera_view_bin(&c) == VKD_VIEW_BACK, "azimuth 200 is a back view");
    check_basis(T, &c, "init");
}

static void rays(tctx_t *T) {
    const vkd_camera_dist_t d = vkd_camera_dist_dreamfusion();
    const int sizes[4][2] = {{32, 32}, {33, 17}, {64, 48}, {1, 1}};
    for (int i = 0; i < 200; i++) {
        vkd_camera_t c;
        const int W = sizes[i % 4][0], H = sizes[i % 4][1];
        CHECK_OK(T, vkd_camera_sample(&d, 7, (uint64_t)i, 0, W, H, &c));
        check_basis(T, &c, "sampled");
        float o[3], dir[3], v[3];
        vkd_camera_ray(&c, W * 0.5f, H * 0.5f, o, dir);
        // Distance from the look-at point to the centre ray.
        for (int k = 0; k < 3; k++) v[k] = c.target[k] - o[k];
        const double t = dot(v, dir);
        double e2 = 0;
        for (int k = 0; k < 3; k++) e2 += pow(v[k] - t * dir[k], 2);
        CHECK(T, sqrt(e2) < 1e-5 && t > 0, "centre ray misses the look-at point by %g", sqrt(e2));
        CHECK(T, fabs(dot(dir, dir) - 1) < 1e-6, "ray direction not unit");
        // The top edge centre is fovy/2 above the axis; the right edge atan(aspect tan).
        vkd_camera_ray(&c, W * 0.5f, 0, o, dir);
        const double a_top = acos(fmin(1, dot(dir, c.forward))) / RAD;
        CHECK(T, fabs(a_top - c.fovy_deg / 2) < 1e-3 && dot(dir, c.up) > 0,
              "top edge at %g deg, fovy/2 = %g", a_top, c.fovy_deg / 2.0);
        vkd_camera_ray(&c, (float)W, H * 0.5f, o, dir);
        const double a_right = acos(fmin(1, dot(dir, c.forward))) / RAD;
        const double want = atan(tan(c.fovy_deg / 2 * RAD) * W / H) / RAD;
        CHECK(T, fabs(a_right - want) < 1e-3 && dot(dir, c.right) > 0, "right edge at %g, want %g",
              a_right, want);
        // Pixel (0, 0) is top-left: its centre is up and to the left.
        vkd_camera_ray(&c, 0.5f, 0.5f, o, dir);
        if (W > 1) CHECK(T, dot(dir, c.right) < 0 && dot(dir, c.up) > 0, "pixel (0,0) is top-left");
    }
}

static void degenerate(tctx_t *T) {
    vkd_camera_t c;
    const float p[3] = {0, 0, 2}, o[3] = {0, 0, 0}, up[3] = {0, 1, 0}, along[3] = {0, 0, -3};
    const float nan3[3] = {NAN, 0, 0};
    CHECK(T,
          vkd_camera_init(&c, p, p, up, 50, 8, 8) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "coincides"),
          "pos == target: %s", vkd_last_error());
    CHECK(T,
          vkd_camera_init(&c, p, o, along, 50, 8, 8) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "parallel"),
          "up parallel: %s", vkd_last_error());
    CHECK(T, vkd_camera_init(&c, p, o, up, 0, 8, 8) == VKD_ERR_INVALID, "fovy 0");
    CHECK(T,
          vkd_camera_init(&c, p, o, up, 180, 8, 8) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "fovy"),
          "fovy 180: %s", vkd_last_error());
    CHECK(T, vkd_camera_init(&c, p, o, up, 50, 0, 8) == VKD_ERR_INVALID, "width 0");
    CHECK(T, vkd_camera_init(&c, nan3, o, up, 50, 8, 8) == VKD_ERR_INVALID, "NaN position");
    CHECK(T, vkd_camera_orbit(&c, 0, 91, 2, 50, 8, 8) == VKD_ERR_INVALID, "elevation 91");
    CHECK(T, vkd_camera_orbit(&c, 0, 0, 0, 50, 8, 8) == VKD_ERR_INVALID, "distance 0");
    vkd_camera_dist_t d = vkd_camera_dist_dreamfusion();
    d.fovy_min_deg = 80;
    CHECK(T,
          vkd_camera_sample(&d, 1, 1, 0, 8, 8, &c) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "fovy"),
          "reversed fovy range: %s", vkd_last_error());
    d = vkd_camera_dist_dreamfusion();
    d.elev_max_deg = 95;
    CHECK(T, vkd_camera_dist_check(&d) == VKD_ERR_INVALID && strstr(vkd_last_error(), "elevation"),
          "elevation 95: %s", vkd_last_error());
    d = vkd_camera_dist_dreamfusion();
    d.jitter_up = -1;
    CHECK(T, vkd_camera_dist_check(&d) == VKD_ERR_INVALID && strstr(vkd_last_error(), "jitter_up"),
          "negative jitter: %s", vkd_last_error());
    d = vkd_camera_dist_dreamfusion();
    d.scale = 0;
    CHECK(T, vkd_camera_dist_check(&d) == VKD_ERR_INVALID, "scale 0");
}

static void view_bins(tctx_t *T) {
    static const struct {
        float az, el;
        vkd_view_bin_t bin;
    } tab[] = {
        {0, 0, VKD_VIEW_FRONT},     {45, 10, VKD_VIEW_FRONT},     {315, 10, VKD_VIEW_FRONT},
        {-30, 0, VKD_VIEW_FRONT},   {46, 0, VKD_VIEW_SIDE},       {90, 30, VKD_VIEW_SIDE},
        {270, -10, VKD_VIEW_SIDE},  {134, 0, VKD_VIEW_SIDE},      {135, 0, VKD_VIEW_BACK},
        {180, 60, VKD_VIEW_BACK},   {225, 5, VKD_VIEW_BACK},      {226, 5, VKD_VIEW_SIDE},
        {0, 61, VKD_VIEW_OVERHEAD}, {180, 90, VKD_VIEW_OVERHEAD}, {720, 0, VKD_VIEW_FRONT},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        CHECK(T, vkd_view_bin(tab[i].az, tab[i].el) == tab[i].bin, "az %g el %g: bin %d, want %d",
              tab[i].az, tab[i].el, vkd_view_bin(tab[i].az, tab[i].el), tab[i].bin);
        vkd_camera_t c;
        if (vkd_camera_orbit(&c, tab[i].az, tab[i].el, 2, 50, 8, 8) == VKD_OK)
            CHECK(T, vkd_camera_view_bin(&c) == tab[i].bin, "orbit camera az %g el %g", tab[i].az,
                  tab[i].el);
    }
    CHECK(T,
          strcmp(vkd_view_suffix(VKD_VIEW_FRONT), ", front view") == 0 &&
              strcmp(vkd_view_suffix(VKD_VIEW_SIDE), ", side view") == 0 &&
              strcmp(vkd_view_suffix(VKD_VIEW_BACK), ", back view") == 0 &&
              strcmp(vkd_view_suffix(VKD_VIEW_OVERHEAD), ", overhead view") == 0 &&
              strcmp(vkd_view_suffix(VKD_VIEW_NONE), "") == 0,
          "view suffixes");
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Kolmogorov-Smirnov statistic of sorted x (n) against the CDF cdf.
static double ks(double *x, int n, double (*cdf)(double)) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    double dmax = 0;
    for (int i = 0; i < n; i++) {
        const double f = cdf(x[i]);
        dmax = fmax(dmax, fmax(fabs(f - (double)i / n), fabs(f - (double)(i + 1) / n)));
    }
    return dmax;
}
static double cdf_el_mix(double e) { // half uniform in [-10, 90], half sin-uniform
    const double s0 = sin(-10 * RAD);
    return 0.5 * (e + 10) / 100 + 0.5 * (sin(e * RAD) - s0) / (1 - s0);
}
static double cdf_el_angle(double e) { return (e + 10) / 100; }
static double cdf_az(double a) { return a / 360; }
static double cdf_fovy(double f) { return (f - 40) / 30; }
static double cdf_dist(double d) { return (d - 2) / 1; }

static void distribution_stats(tctx_t *T) {
    const int N = 20000;
    vkd_camera_dist_t d = vkd_camera_dist_dreamfusion();
    double *el = malloc(sizeof(double) * N), *az = malloc(sizeof(double) * N);
    double *fv = malloc(sizeof(double) * N), *ds = malloc(sizeof(double) * N);
    double *el2 = malloc(sizeof(double) * N);
    int overhead = 0;
    double jit2 = 0;
    for (int i = 0; i < N; i++) {
        vkd_camera_t c;
        CHECK_OK(T, vkd_camera_sample(&d, 42, (uint64_t)i, 3, 16, 16, &c));
        el[i] = el2[i] = c.elevation_deg, az[i] = c.azimuth_deg, fv[i] = c.fovy_deg;
        ds[i] = c.distance;
        overhead += vkd_camera_view_bin(&c) == VKD_VIEW_OVERHEAD;
        // The jitter is what separates the camera from its nominal orbit position.
        const double a = c.azimuth_deg * RAD, e = c.elevation_deg * RAD;
        const double nom[3] = {c.distance * cos(e) * sin(a), c.distance * sin(e),
                               c.distance * cos(e) * cos(a)};
        for (int k = 0; k < 3; k++) jit2 += pow(c.pos[k] - nom[k], 2);
    }
    const double crit = 1.95 / sqrt((double)N); // KS critical value at alpha = 0.001
    const double k_mix = ks(el, N, cdf_el_mix), k_ang = ks(el2, N, cdf_el_angle);
    const double k_az = ks(az, N, cdf_az), k_fv = ks(fv, N, cdf_fovy), k_d = ks(ds, N, cdf_dist);
    printf("  KS: elevation mixture %.4f (vs uniform-in-angle %.4f), azimuth %.4f, fovy %.4f, "
           "distance %.4f; critical %.4f\n",
           k_mix, k_ang, k_az, k_fv, k_d, crit);
    CHECK(T, k_mix < crit, "elevation is not the half-angle/half-area mixture (KS %g)", k_mix);
    CHECK(T, k_ang > 3 * crit, "elevation indistinguishable from uniform in angle (KS %g)", k_ang);
    CHECK(T, k_az < crit && k_fv < crit && k_d < crit, "azimuth/fovy/distance not uniform");
    CHECK(T,
          el[0] >= -10 && el[N - 1] <= 90 && az[0] >= 0 && az[N - 1] < 360 && fv[0] >= 40 &&
              fv[N - 1] <= 70 && ds[0] >= 2 && ds[N - 1] <= 3,
          "ranges: el [%g, %g] az [%g, %g] fovy [%g, %g] dist [%g, %g]", el[0], el[N - 1], az[0],
          az[N - 1], fv[0], fv[N - 1], ds[0], ds[N - 1]);
    // P(el > 60) = 0.5 * 30/100 + 0.5 * (1 - sin 60) / (1 + sin 10)
    const double p_over = 0.5 * 0.3 + 0.5 * (1 - sin(60 * RAD)) / (1 + sin(10 * RAD));
    const double f_over = (double)overhead / N, sd = sqrt(p_over * (1 - p_over) / N);
    CHECK(T, fabs(f_over - p_over) < 4 * sd, "overhead share %g, want %g", f_over, p_over);
    const double jit_sd = sqrt(jit2 / (3.0 * N));
    CHECK(T, fabs(jit_sd - 0.1) < 0.005, "position jitter sd %g, want 0.1", jit_sd);
    free(el), free(el2), free(az), free(fv), free(ds);

    // The ShapeWorld preset: fixed fovy, distance within +-10% of 2, near-exact aim.
    d = vkd_camera_dist_shapeworld();
    for (int i = 0; i < 2000; i++) {
        vkd_camera_t c;
        CHECK_OK(T, vkd_camera_sample(&d, 5, (uint64_t)i, 0, 32, 32, &c));
        CHECK(T, c.fovy_deg == 50.0f && c.distance >= 1.8f && c.distance <= 2.2f,
              "shapeworld camera fovy %g distance %g", c.fovy_deg, c.distance);
        if (T->failures) break;
    }
    // No jitter: the camera sits exactly on its orbit and looks at the origin.
    d = vkd_camera_dist_dreamfusion();
    d.jitter_pos = d.jitter_target = d.jitter_up = 0;
    vkd_camera_t c, o;
    CHECK_OK(T, vkd_camera_sample(&d, 9, 123, 0, 16, 16, &c));
    CHECK_OK(T,
             vkd_camera_orbit(&o, c.azimuth_deg, c.elevation_deg, c.distance, c.fovy_deg, 16, 16));
    double e = 0;
    for (int k = 0; k < 3; k++)
        e += fabs(c.pos[k] - o.pos[k]) + fabs(c.target[k]) + fabs(c.up[k] - o.up[k]);
    CHECK(T, e < 1e-5, "unjittered sample differs from its orbit camera by %g", e);
}

static void reproducible(tctx_t *T) {
    const vkd_camera_dist_t d = vkd_camera_dist_dreamfusion();
    vkd_camera_t a, b;
    CHECK_OK(T, vkd_camera_sample(&d, 11, 500, 2, 32, 32, &a));
    CHECK_OK(T, vkd_camera_sample(&d, 11, 500, 2, 32, 32, &b));
    CHECK(T, memcmp(&a, &b, sizeof a) == 0, "same (seed, step, index) gives the same camera");
    CHECK_OK(T, vkd_camera_sample(&d, 11, 501, 2, 32, 32, &b));
    CHECK(T, a.azimuth_deg != b.azimuth_deg, "next step differs");
    CHECK_OK(T, vkd_camera_sample(&d, 11, 500, 3, 32, 32, &b));
    CHECK(T, a.azimuth_deg != b.azimuth_deg, "next index differs");
    CHECK_OK(T, vkd_camera_sample(&d, 12, 500, 2, 32, 32, &b));
    CHECK(T, a.azimuth_deg != b.azimuth_deg, "next seed differs");
    vkd_light_t la, lb;
    CHECK_OK(T, vkd_light_sample(&a, d.scale, 11, 500, 2, &la));
    CHECK_OK(T, vkd_light_sample(&a, d.scale, 11, 500, 2, &lb));
    CHECK(T, memcmp(&la, &lb, sizeof la) == 0, "lights reproducible");
    CHECK_OK(T, vkd_light_sample(&a, d.scale, 11, 501, 2, &lb));
    CHECK(T, la.pos[0] != lb.pos[0], "light of the next step differs");
}

static void shade_values(tctx_t *T) {
    const vkd_light_t L = {{0, 0, 5}, 0.8f, 0.2f};
    const float rho[3] = {0.5f, 0.25f, 1.0f}, x[3] = {0, 0, 1};
    const float n_front[3] = {0, 0, 1}, n_back[3] = {0, 0, -1};
    const float n60[3] = {(float)sin(60 * RAD), 0, (float)cos(60 * RAD)};
    float c[3];
    vkd_shade(VKD_SHADE_ALBEDO, &L, rho, n_back, x, c);
    CHECK(T, c[0] == rho[0] && c[1] == rho[1] && c[2] == rho[2], "albedo mode returns rho");
    vkd_shade(VKD_SHADE_LIT, &L, rho, n_front, x, c);
    for (int k = 0; k < 3; k++) CHECK(T, fabsf(c[k] - rho[k]) < 1e-6f, "facing the light: rho");
    vkd_shade(VKD_SHADE_LIT, &L, rho, n_back, x, c);
    for (int k = 0; k < 3; k++) CHECK(T, fabsf(c[k] - 0.2f * rho[k]) < 1e-6f, "back: ambient");
    vkd_shade(VKD_SHADE_LIT, &L, rho, n60, x, c);
    for (int k = 0; k < 3; k++)
        CHECK(T, fabsf(c[k] - rho[k] * 0.6f) < 1e-5f, "60 degrees: rho (0.8 cos + 0.2), got %g",
              c[k]);
    vkd_shade(VKD_SHADE_TEXTURELESS, &L, rho, n60, x, c);
    CHECK(T, fabsf(c[0] - 0.6f) < 1e-5f && c[0] == c[1] && c[1] == c[2], "textureless: grey 0.6");
    // A point light: the direction depends on the point, not only on the normal.
    const float x2[3] = {4, 0, 5};
    vkd_shade(VKD_SHADE_TEXTURELESS, &L, rho, n_front, x2, c);
    CHECK(T, fabsf(c[0] - 0.2f) < 1e-6f, "light beside the point: grazing, ambient only");
    CHECK(T, strcmp(vkd_shade_mode_name(VKD_SHADE_TEXTURELESS), "textureless") == 0, "names");
}

static void light_distribution(tctx_t *T) {
    vkd_camera_t c;
    CHECK_OK(T, vkd_camera_orbit(&c, 30, 20, 2, 50, 8, 8)); // DreamFusion distance 1 at scale 2
    const int N = 20000;
    double mean_dir[3] = {0, 0, 0}, mean_cos = 0, dmin = 1e9, dmax = 0, dsum = 0;
    const double cu[3] = {c.pos[0] / 2.0, c.pos[1] / 2.0, c.pos[2] / 2.0};
    for (int i = 0; i < N; i++) {
        vkd_light_t l;
        CHECK_OK(T, vkd_light_sample(&c, 2.0f, 77, (uint64_t)i, 0, &l));
        const double r = sqrt(dot(l.pos, l.pos)) / 2.0;
        dmin = fmin(dmin, r), dmax = fmax(dmax, r), dsum += r;
        for (int k = 0; k < 3; k++) mean_dir[k] += l.pos[k] / (2.0 * r);
        mean_cos += (l.pos[0] * cu[0] + l.pos[1] * cu[1] + l.pos[2] * cu[2]) / (2.0 * r);
        if (i == 0)
            CHECK(T, l.diffuse == VKD_LIGHT_DIFFUSE && l.ambient == VKD_LIGHT_AMBIENT, "l_d, l_a");
    }
    mean_cos /= N;
    CHECK(T, dmin >= 0.8 && dmax <= 1.5 && fabs(dsum / N - 1.15) < 0.01,
          "light distance / scale in [%g, %g], mean %g (want U(0.8, 1.5))", dmin, dmax, dsum / N);
    // The expected cosine to the camera direction of N(c, I) with |c| = 1, by an
    // independent Monte Carlo with the harness's normals.
    uint64_t st = T->seed;
    const int M = 200000;
    float *z = malloc(sizeof(float) * 3 * M);
    test_fill_normal(&st, z, (size_t)3 * M, 1.0f);
    double ref = 0;
    for (int i = 0; i < M; i++) {
        const double q[3] = {cu[0] + z[3 * i], cu[1] + z[3 * i + 1], cu[2] + z[3 * i + 2]};
        ref += (q[0] * cu[0] + q[1] * cu[1] + q[2] * cu[2]) /
               sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
    }
    free(z);
    ref /= M;
    printf("  light: mean cos to camera %.4f (N(camera, I) reference %.4f)\n", mean_cos, ref);
    CHECK(T, fabs(mean_cos - ref) < 0.012, "light direction spread: mean cos %g, want %g", mean_cos,
          ref);
    const double md =
        sqrt(mean_dir[0] * mean_dir[0] + mean_dir[1] * mean_dir[1] + mean_dir[2] * mean_dir[2]);
    const double cosm = (mean_dir[0] * cu[0] + mean_dir[1] * cu[1] + mean_dir[2] * cu[2]) / md;
    CHECK(T, cosm > cos(2 * RAD), "mean light direction off the camera's by %g deg",
          acos(cosm) / RAD);
    vkd_light_t l;
    CHECK(T, vkd_light_sample(&c, 0, 1, 1, 0, &l) == VKD_ERR_INVALID, "scale 0 rejected");
}

static void schedule(tctx_t *T) {
    vkd_shade_schedule_t s = vkd_shade_schedule_default();
    CHECK_OK(T, vkd_shade_schedule_check(&s));
    for (uint64_t i = 0; i < s.albedo_steps; i++)
        CHECK(T, vkd_shade_schedule_mode(&s, 3, i) == VKD_SHADE_ALBEDO, "warm-up step %llu",
              (unsigned long long)i);
    int cnt[VKD_SHADE_COUNT] = {0};
    const int N = 40000;
    for (int i = 0; i < N; i++) cnt[vkd_shade_schedule_mode(&s, 3, s.albedo_steps + (uint64_t)i)]++;
    const double want[3] = {0.25, 0.375, 0.375};
    for (int m = 0; m < 3; m++) {
        const double f = (double)cnt[m] / N, sd = sqrt(want[m] * (1 - want[m]) / N);
        printf("  mode %-11s %.4f (want %.4f)\n", vkd_shade_mode_name((vkd_shade_mode_t)m), f,
               want[m]);
        CHECK(T, fabs(f - want[m]) < 4 * sd, "mode %d share %g, want %g", m, f, want[m]);
    }
    CHECK(T, vkd_shade_schedule_mode(&s, 3, 1000) == vkd_shade_schedule_mode(&s, 3, 1000),
          "reproducible");
    int differ = 0;
    for (uint64_t i = 1000; i < 1100; i++)
        differ += vkd_shade_schedule_mode(&s, 3, i) != vkd_shade_schedule_mode(&s, 4, i);
    CHECK(T, differ > 20, "another seed gives another sequence (%d/100 differ)", differ);
    s.p_lit = 1, s.p_textureless = 0, s.albedo_steps = 0;
    for (uint64_t i = 0; i < 100; i++)
        CHECK(T, vkd_shade_schedule_mode(&s, 3, i) == VKD_SHADE_LIT, "p_lit 1, p_textureless 0");
    s.p_lit = 1.5f;
    CHECK(T, vkd_shade_schedule_check(&s) == VKD_ERR_INVALID && strstr(vkd_last_error(), "p_lit"),
          "p_lit 1.5 rejected: %s", vkd_last_error());
}

static const tcase_t cases[] = {
    TCASE_CPU(orbit_convention),   TCASE_CPU(rays),
    TCASE_CPU(degenerate),         TCASE_CPU(view_bins),
    TCASE_CPU(distribution_stats), TCASE_CPU(reproducible),
    TCASE_CPU(shade_values),       TCASE_CPU(light_distribution),
    TCASE_CPU(schedule),
};
TEST_MAIN(cases)
