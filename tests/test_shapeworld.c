// ShapeWorld ground truth: exact SDFs (against brute-force distances to densely sampled
// surfaces), analytic normals (against finite differences), occupancy, palette and
// background margins, captions, the sphere-traced renderer against closed-form pictures,
// turntable PNGs (written to the working directory: the build dir under ctest) and the
// renderer's speed.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "shapeworld.h"
#include "test_util.h"

#define PI 3.14159265358979323846
#define RAD (PI / 180.0)

// The dimensions the header documents; the test builds its own surfaces from them.
#define SPHERE_R 0.5
#define CUBE_H 0.36
#define CYL_R 0.4
#define CYL_H 0.42
#define CONE_R 0.45
#define CONE_H 0.45
#define TORUS_R 0.43
#define TORUS_T 0.19
#define PYR_A 0.38
#define PYR_H 0.38

typedef struct {
    float *p; // (n, 3)
    size_t n, cap;
} pts_t;

static void add(pts_t *s, double x, double y, double z) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->p = realloc(s->p, sizeof(float) * 3 * s->cap);
    }
    s->p[3 * s->n] = (float)x, s->p[3 * s->n + 1] = (float)y, s->p[3 * s->n + 2] = (float)z;
    s->n++;
}

static int steps(double len, double h) { return (int)ceil(len / h) + 1; }

// A disc (radius r, height y) on concentric rings with spacing <= h.
static void disc(pts_t *s, double r, double y, double h) {
    const int nr = steps(r, h);
    for (int i = 0; i < nr; i++) {
        const double rr = r * i / (nr - 1);
        const int na = steps(2 * PI * rr, h);
        for (int j = 0; j < na; j++)
            add(s, rr * cos(2 * PI * j / na), y, rr * sin(2 * PI * j / na));
    }
}

// Triangle (a, b, c) on a grid of spacing <= h along both edges from a.
static void triangle(pts_t *s, const double *a, const double *b, const double *c, double h) {
    double lab = 0, lac = 0;
    for (int k = 0; k < 3; k++) lab += pow(b[k] - a[k], 2), lac += pow(c[k] - a[k], 2);
    const int nu = steps(sqrt(lab), h), nv = steps(sqrt(lac), h);
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < nv; j++) {
            const double u = (double)i / (nu - 1), v = (double)j / (nv - 1);
            if (u + v > 1 + 1e-9) continue;
            add(s, a[0] + u * (b[0] - a[0]) + v * (c[0] - a[0]),
                a[1] + u * (b[1] - a[1]) + v * (c[1] - a[1]),
                a[2] + u * (b[2] - a[2]) + v * (c[2] - a[2]));
        }
}

static void surface(vkd_sw_shape_t s, double h, pts_t *P) {
    switch (s) {
    case VKD_SW_SPHERE: {
        const int nt = steps(PI * SPHERE_R, h);
        for (int i = 0; i < nt; i++) {
            const double th = PI * i / (nt - 1);
            const int np = steps(2 * PI * SPHERE_R * sin(th), h);
            for (int j = 0; j < np; j++)
                add(P, SPHERE_R * sin(th) * cos(2 * PI * j / np), SPHERE_R * cos(th),
                    SPHERE_R * sin(th) * sin(2 * PI * j / np));
        }
        break;
    }
    case VKD_SW_CUBE: {
        const int n = steps(2 * CUBE_H, h);
        for (int f = 0; f < 6; f++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double q[3];
                    q[f % 3] = f < 3 ? CUBE_H : -CUBE_H;
                    q[(f + 1) % 3] = -CUBE_H + 2 * CUBE_H * i / (n - 1);
                    q[(f + 2) % 3] = -CUBE_H + 2 * CUBE_H * j / (n - 1);
                    add(P, q[0], q[1], q[2]);
                }
        break;
    }
    case VKD_SW_CYLINDER: {
        const int na = steps(2 * PI * CYL_R, h), ny = steps(2 * CYL_H, h);
        for (int i = 0; i < na; i++)
            for (int j = 0; j < ny; j++)
                add(P, CYL_R * cos(2 * PI * i / na), -CYL_H + 2 * CYL_H * j / (ny - 1),
                    CYL_R * sin(2 * PI * i / na));
        disc(P, CYL_R, CYL_H, h), disc(P, CYL_R, -CYL_H, h);
        break;
    }
    case VKD_SW_CONE: {
        const int nl = steps(hypot(CONE_R, 2 * CONE_H), h);
        for (int i = 0; i < nl; i++) {
            const double f = (double)i / (nl - 1), r = CONE_R * f, y = CONE_H - 2 * CONE_H * f;
            const int na = steps(2 * PI * r, h);
            for (int j = 0; j < na; j++)
                add(P, r * cos(2 * PI * j / na), y, r * sin(2 * PI * j / na));
        }
        disc(P, CONE_R, -CONE_H, h);
        break;
    }
    case VKD_SW_TORUS: {
        const int nv = steps(2 * PI * TORUS_T, h);
        for (int i = 0; i < nv; i++) {
            const double v = 2 * PI * i / nv, rr = TORUS_R + TORUS_T * cos(v);
            const int nu = steps(2 * PI * rr, h);
            for (int j = 0; j < nu; j++)
                add(P, rr * cos(2 * PI * j / nu), TORUS_T * sin(v), rr * sin(2 * PI * j / nu));
        }
        break;
    }
    case VKD_SW_PYRAMID: {
        const double apex[3] = {0, PYR_H, 0};
        const double c[4][3] = {{PYR_A, -PYR_H, PYR_A},
                                {-PYR_A, -PYR_H, PYR_A},
                                {-PYR_A, -PYR_H, -PYR_A},
                                {PYR_A, -PYR_H, -PYR_A}};
        for (int f = 0; f < 4; f++) triangle(P, apex, c[f], c[(f + 1) % 4], h);
        triangle(P, c[0], c[1], c[2], h), triangle(P, c[0], c[2], c[3], h);
        break;
    }
    default: break;
    }
}

// Inside tests written from the shapes' definitions, independently of the SDF code.
static int inside(vkd_sw_shape_t s, const float *p) {
    const double x = p[0], y = p[1], z = p[2], r = hypot(x, z);
    switch (s) {
    case VKD_SW_SPHERE: return x * x + y * y + z * z < SPHERE_R * SPHERE_R;
    case VKD_SW_CUBE: return fabs(x) < CUBE_H && fabs(y) < CUBE_H && fabs(z) < CUBE_H;
    case VKD_SW_CYLINDER: return r < CYL_R && fabs(y) < CYL_H;
    case VKD_SW_CONE: return fabs(y) < CONE_H && r < CONE_R * (CONE_H - y) / (2 * CONE_H);
    case VKD_SW_TORUS: return (r - TORUS_R) * (r - TORUS_R) + y * y < TORUS_T * TORUS_T;
    case VKD_SW_PYRAMID:
        return fabs(y) < PYR_H && fmax(fabs(x), fabs(z)) < PYR_A * (PYR_H - y) / (2 * PYR_H);
    default: return 0;
    }
}

// |sdf| against the distance to the nearest of the densely sampled surface points, which
// is >= the true distance and at most the sampling spacing above it. A bound instead of
// an exact SDF (e.g. max of plane distances for the pyramid or cone) is off by much more.
static void sdf_exact(tctx_t *T) {
    const double h = 0.01;
    uint64_t st = T->seed;
    for (int s = 0; s < VKD_SW_N_SHAPES; s++) {
        pts_t P = {0};
        surface((vkd_sw_shape_t)s, h, &P);
        double max_r = 0;
        for (size_t i = 0; i < P.n; i++) {
            max_r = fmax(max_r, sqrt((double)P.p[3 * i] * P.p[3 * i] +
                                     (double)P.p[3 * i + 1] * P.p[3 * i + 1] +
                                     (double)P.p[3 * i + 2] * P.p[3 * i + 2]));
            const float d = vkd_sw_sdf((vkd_sw_shape_t)s, P.p + 3 * i);
            if (fabsf(d) > 2e-6f) {
                CHECK(T, 0, "%s: surface point %zu has sdf %g", vkd_sw_shape_name(s), i, d);
                break;
            }
        }
        const double ext = vkd_sw_extent((vkd_sw_shape_t)s);
        CHECK(T, fabs(max_r - ext) < 1e-4 && ext <= 0.7, "%s: extent %g, farthest surface point %g",
              vkd_sw_shape_name(s), ext, max_r);
        const int NQ = 240;
        double worst_hi = 0, worst_lo = 0;
        int sign_bad = 0;
        for (int q = 0; q < NQ; q++) {
            float x[3], off[3];
            if (q % 2 == 0) {
                test_fill_uniform(&st, x, 3, -1.1f, 1.1f);
            } else { // near the surface: a surface point plus a small offset
                float u;
                test_fill_uniform(&st, &u, 1, 0, 1);
                const size_t k = (size_t)(u * (P.n - 1));
                test_fill_normal(&st, off, 3, 0.08f);
                for (int j = 0; j < 3; j++) x[j] = P.p[3 * k + j] + off[j];
            }
            double best = INFINITY;
            for (size_t i = 0; i < P.n; i++) {
                const double dx = x[0] - P.p[3 * i], dy = x[1] - P.p[3 * i + 1],
                             dz = x[2] - P.p[3 * i + 2];
                const double d2 = dx * dx + dy * dy + dz * dz;
                if (d2 < best) best = d2;
            }
            best = sqrt(best);
            const double sdf = vkd_sw_sdf((vkd_sw_shape_t)s, x);
            worst_hi = fmax(worst_hi, fabs(sdf) - best); // must be <= ~0
            worst_lo = fmax(worst_lo, best - fabs(sdf)); // must be <= ~h
            if (fabs(sdf) > 1e-5 && (sdf < 0) != inside((vkd_sw_shape_t)s, x)) sign_bad++;
            if ((sdf < 0) != vkd_sw_occupied((vkd_sw_shape_t)s, x)) sign_bad++;
        }
        printf("  %-8s %6zu surface points: |sdf| - brute <= %.2e, brute - |sdf| <= %.2e\n",
               vkd_sw_shape_name(s), P.n, worst_hi, worst_lo);
        CHECK(T, worst_hi < 1e-5, "%s: |sdf| exceeds the distance to a surface point by %g",
              vkd_sw_shape_name(s), worst_hi);
        CHECK(T, worst_lo < h, "%s: |sdf| is %g below the brute-force distance (not exact)",
              vkd_sw_shape_name(s), worst_lo);
        CHECK(T, sign_bad == 0, "%s: %d points with the wrong inside/outside sign",
              vkd_sw_shape_name(s), sign_bad);
        free(P.p);
    }
    const float o[3] = {0, 0, 0};
    CHECK(T, isinf(vkd_sw_sdf((vkd_sw_shape_t)99, o)) && !vkd_sw_occupied((vkd_sw_shape_t)99, o),
          "an unknown shape is empty");
}

// Analytic normals against central differences of the SDF, wherever the SDF is
// differentiable (the FD gradient has unit length there).
static void normals(tctx_t *T) {
    uint64_t st = T->seed;
    const float eps = 1e-3f;
    for (int s = 0; s < VKD_SW_N_SHAPES; s++) {
        int compared = 0, bad = 0;
        double worst = 0;
        for (int q = 0; q < 2000; q++) {
            float x[3], n[3], g[3];
            test_fill_uniform(&st, x, 3, -0.9f, 0.9f);
            vkd_sw_sdf_normal((vkd_sw_shape_t)s, x, n);
            CHECK(T, fabsf(n[0] * n[0] + n[1] * n[1] + n[2] * n[2] - 1) < 1e-5f, "unit normal");
            for (int k = 0; k < 3; k++) {
                float a[3] = {x[0], x[1], x[2]}, b[3] = {x[0], x[1], x[2]};
                a[k] += eps, b[k] -= eps;
                g[k] = (vkd_sw_sdf((vkd_sw_shape_t)s, a) - vkd_sw_sdf((vkd_sw_shape_t)s, b)) /
                       (2 * eps);
            }
            if (fabsf(sqrtf(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) - 1) > 2e-3f) continue;
            compared++;
            const double e = fabs(g[0] - n[0]) + fabs(g[1] - n[1]) + fabs(g[2] - n[2]);
            worst = fmax(worst, e);
            bad += e > 1e-2;
        }
        printf("  %-8s normals vs FD: %d points compared, worst L1 %.2e\n", vkd_sw_shape_name(s),
               compared, worst);
        CHECK(T, compared > 1600, "%s: only %d differentiable points", vkd_sw_shape_name(s),
              compared);
        CHECK(T, bad == 0, "%s: %d normals disagree with finite differences", vkd_sw_shape_name(s),
              bad);
    }
}

// sRGB-encoded CIELAB (D65), for the colour-margin checks.
static void lab(const float *lin, double *L) {
    const double r = lin[0], g = lin[1], b = lin[2];
    const double X = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    const double Y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    const double Z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    const double f[3] = {X > 0.008856 ? cbrt(X) : 7.787 * X + 16.0 / 116,
                         Y > 0.008856 ? cbrt(Y) : 7.787 * Y + 16.0 / 116,
                         Z > 0.008856 ? cbrt(Z) : 7.787 * Z + 16.0 / 116};
    L[0] = 116 * f[1] - 16, L[1] = 500 * (f[0] - f[1]), L[2] = 200 * (f[1] - f[2]);
}
static double delta_e(const float *a, const float *b) {
    double la[3], lb[3];
    lab(a, la), lab(b, lb);
    return sqrt(pow(la[0] - lb[0], 2) + pow(la[1] - lb[1], 2) + pow(la[2] - lb[2], 2));
}

static void palette(tctx_t *T) {
    double min_pair = 1e9;
    for (int a = 0; a < VKD_SW_N_COLOURS; a++)
        for (int b = a + 1; b < VKD_SW_N_COLOURS; b++)
            min_pair = fmin(min_pair, delta_e(vkd_sw_colour_rgb(a), vkd_sw_colour_rgb(b)));
    // The background against every colour a surface can take: k * albedo and k * white,
    // k in [l_a, l_a + l_d].
    const float *bg = vkd_sw_background(), white[3] = {1, 1, 1};
    double min_bg = 1e9, min_lin = 1e9;
    for (int a = 0; a <= VKD_SW_N_COLOURS; a++) {
        const float *rho = a < VKD_SW_N_COLOURS ? vkd_sw_colour_rgb(a) : white;
        for (int i = 0; i <= 100; i++) {
            const float k = VKD_LIGHT_AMBIENT + VKD_LIGHT_DIFFUSE * i / 100.0f;
            const float c[3] = {k * rho[0], k * rho[1], k * rho[2]};
            min_bg = fmin(min_bg, delta_e(bg, c));
            min_lin = fmin(
                min_lin, sqrt(pow(bg[0] - c[0], 2) + pow(bg[1] - c[1], 2) + pow(bg[2] - c[2], 2)));
        }
    }
    printf("  palette: closest pair %.1f CIELAB; background >= %.1f CIELAB, >= %.3f linear RGB "
           "from any shaded colour\n",
           min_pair, min_bg, min_lin);
    CHECK(T, min_pair > 35, "two palette colours are only %.1f CIELAB apart", min_pair);
    CHECK(T, min_bg > 50 && min_lin > 0.6, "background too close to a surface colour");
}

static void captions(tctx_t *T) {
    char buf[64];
    for (int s = 0; s < VKD_SW_N_SHAPES; s++)
        for (int c = 0; c < VKD_SW_N_COLOURS; c++)
            for (int v = VKD_VIEW_NONE; v < VKD_VIEW_COUNT; v++) {
                const vkd_sw_object_t o = {(vkd_sw_shape_t)s, (vkd_sw_colour_t)c};
                CHECK_OK(T, vkd_sw_caption(o, (vkd_view_bin_t)v, buf, sizeof buf));
                vkd_sw_object_t back;
                vkd_view_bin_t vb;
                CHECK_OK(T, vkd_sw_parse(buf, &back, &vb));
                CHECK(T, back.shape == o.shape && back.colour == o.colour && (int)vb == v,
                      "round trip of \"%s\"", buf);
            }
    const vkd_sw_object_t rc = {VKD_SW_CUBE, VKD_SW_RED}, ot = {VKD_SW_TORUS, VKD_SW_ORANGE};
    CHECK_OK(T, vkd_sw_caption(rc, VKD_VIEW_NONE, buf, sizeof buf));
    CHECK(T, strcmp(buf, "a red cube") == 0, "got \"%s\"", buf);
    CHECK_OK(T, vkd_sw_caption(ot, VKD_VIEW_SIDE, buf, sizeof buf));
    CHECK(T, strcmp(buf, "an orange torus, side view") == 0, "got \"%s\"", buf);
    CHECK(T, vkd_sw_caption(ot, VKD_VIEW_SIDE, buf, 10) == VKD_ERR_INVALID, "short buffer");

    vkd_sw_object_t o;
    vkd_view_bin_t v;
    CHECK_OK(T, vkd_sw_parse("  An ORANGE Torus , Overhead View. ", &o, &v));
    CHECK(T, o.shape == VKD_SW_TORUS && o.colour == VKD_SW_ORANGE && v == VKD_VIEW_OVERHEAD,
          "case-insensitive, blanks, period");
    CHECK_OK(T, vkd_sw_parse("pink pyramid", &o, NULL));
    CHECK(T, o.shape == VKD_SW_PYRAMID && o.colour == VKD_SW_PINK, "no article");
    static const char *bad[][2] = {
        {"a blue dodecahedron", "dodecahedron"},
        {"a mauve cube", "mauve"},
        {"a cube red", "before"},
        {"a red cube, top view", "view"},
        {"", "missing"},
        {"a red big cube", "too many"},
        {"the red cube", "too many"},
        {"a red cube, side", "view"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const vkd_status_t s = vkd_sw_parse(bad[i][0], &o, &v);
        const char *m = vkd_last_error();
        CHECK(T,
              s == VKD_ERR_INVALID && strstr(m, bad[i][1]) && strstr(m, "cylinder") &&
                  strstr(m, "pyramid") && strstr(m, "purple") && strstr(m, "cyan"),
              "\"%s\" -> %d: %s", bad[i][0], s, m);
    }
    char longcap[400];
    memset(longcap, 'a', sizeof longcap - 1), longcap[sizeof longcap - 1] = 0;
    CHECK(T, vkd_sw_parse(longcap, &o, &v) == VKD_ERR_INVALID, "too long");
}

// A sphere's silhouette is a disc of known radius; a cube seen head-on shows its front
// face at a known depth and normal, with the palette colour and the shading formula.
static void render_closed_form(tctx_t *T) {
    const int R = 64;
    float *rgb = malloc(sizeof(float) * R * R * 3), *nrm = malloc(sizeof(float) * R * R * 3);
    float *op = malloc(sizeof(float) * R * R), *dp = malloc(sizeof(float) * R * R);
    const vkd_render_out_t out = {rgb, op, dp, nrm};
    vkd_camera_t cam;
    CHECK_OK(T, vkd_camera_orbit(&cam, 37, 23, 2.0f, 50, R, R));
    const vkd_sw_object_t sph = {VKD_SW_SPHERE, VKD_SW_BLUE};
    CHECK_OK(T, vkd_sw_render(sph, &cam, VKD_SHADE_ALBEDO, NULL, 4, &out));
    double area = 0;
    for (int i = 0; i < R * R; i++) area += op[i];
    const double rpx = tan(asin(SPHERE_R / 2.0)) / tan(25 * RAD) * R / 2;
    printf("  sphere silhouette: %.1f pixels, disc of radius %.2f px: %.1f\n", area, rpx,
           PI * rpx * rpx);
    CHECK(T, fabs(area / (PI * rpx * rpx) - 1) < 0.01, "silhouette area %g, want %g", area,
          PI * rpx * rpx);
    const float *bg = vkd_sw_background(), *blue = vkd_sw_colour_rgb(VKD_SW_BLUE);
    CHECK(T,
          op[0] == 0 &&
              fabsf(rgb[0] - bg[0]) + fabsf(rgb[1] - bg[1]) + fabsf(rgb[2] - bg[2]) < 1e-5f,
          "corner is background");
    const int mid = (R / 2) * R + R / 2;
    CHECK(T, op[mid] == 1 && fabsf(rgb[3 * mid + 2] - blue[2]) < 1e-6f, "centre is blue albedo");
    // Depth at the centre ray (through the origin): distance - radius.
    CHECK(T, fabsf(dp[mid] - 1.5f) < 0.02f, "sphere depth at the centre %g", dp[mid]);

    // Cube, front view, odd size so a pixel centre lies on the axis.
    const int C = 33, c0 = (C / 2) * C + C / 2;
    CHECK_OK(T, vkd_camera_orbit(&cam, 0, 0, 2.0f, 50, C, C));
    const vkd_sw_object_t cube = {VKD_SW_CUBE, VKD_SW_RED};
    const float *red = vkd_sw_colour_rgb(VKD_SW_RED);
    const vkd_light_t L = {{0, 2.0f, 2.36f}, 0.8f, 0.2f}; // 45 degrees above the face centre
    CHECK_OK(T, vkd_sw_render(cube, &cam, VKD_SHADE_LIT, &L, 1, &out));
    CHECK(T, fabs(dp[c0] - (2.0 - CUBE_H)) < 2e-4, "cube depth %g, want %g", dp[c0], 2 - CUBE_H);
    CHECK(T, fabsf(nrm[3 * c0 + 2] - 1) < 1e-5f, "front face normal +z");
    const float k = 0.8f * (float)cos(45 * RAD) + 0.2f;
    for (int j = 0; j < 3; j++)
        CHECK(T, fabsf(rgb[3 * c0 + j] - k * red[j]) < 1e-3f,
              "lit red face channel %d: %g, want %g", j, rgb[3 * c0 + j], k * red[j]);
    // The face spans +-0.36 at depth 1.64: its half width in pixels.
    const double half_px = CUBE_H / (2.0 - CUBE_H) / tan(25 * RAD) * C / 2;
    int row_hits = 0;
    for (int x = 0; x < C; x++) row_hits += op[(C / 2) * C + x] > 0.5f;
    CHECK(T, abs(row_hits - (int)lround(2 * half_px)) <= 1, "face %d px wide, want %.1f", row_hits,
          2 * half_px);
    CHECK_OK(T, vkd_sw_render(cube, &cam, VKD_SHADE_TEXTURELESS, &L, 2, &out));
    CHECK(T, fabsf(rgb[3 * c0] - k) < 1e-3f && rgb[3 * c0] == rgb[3 * c0 + 1], "textureless grey");
    CHECK(T, vkd_sw_render(cube, &cam, VKD_SHADE_LIT, NULL, 2, &out) == VKD_ERR_INVALID,
          "lit needs a light");
    CHECK(T, vkd_sw_render(cube, &cam, VKD_SHADE_ALBEDO, NULL, 9, &out) == VKD_ERR_INVALID,
          "supersample 9");
    const vkd_sw_object_t bad = {(vkd_sw_shape_t)6, VKD_SW_RED};
    CHECK(T, vkd_sw_render(bad, &cam, VKD_SHADE_ALBEDO, NULL, 2, &out) == VKD_ERR_INVALID,
          "bad shape");
    free(rgb), free(nrm), free(op), free(dp);
}

// Turntables of a red cube and an orange torus in every mode, written as PNGs next to the
// test (look at them), and read back.
static void turntables(tctx_t *T) {
    const char *caps[2] = {"a red cube", "an orange torus"};
    const char *stems[2] = {"shapeworld_red_cube", "shapeworld_orange_torus"};
    vkd_turntable_t tt = vkd_turntable_default();
    for (int i = 0; i < 2; i++) {
        vkd_sw_object_t o;
        CHECK_OK(T, vkd_sw_parse(caps[i], &o, NULL));
        for (int m = 0; m < VKD_VIS_COUNT; m++) {
            char path[128];
            snprintf(path, sizeof path, "%s_%s.png", stems[i], vkd_vis_name((vkd_vis_t)m));
            CHECK_OK(T, vkd_sw_turntable_png(path, o, (vkd_vis_t)m, &tt));
            float *img;
            int h, w, c;
            CHECK_OK(T, vkd_image_read_png(path, VKD_PNG_RAW, &img, &h, &w, &c));
            CHECK(T, h == 64 && w == 8 * 64 + 7 * 2 && c == 3, "%s is %dx%dx%d", path, w, h, c);
            free(img);
            if (m == 0) printf("  wrote %s (and the other modes)\n", path);
        }
    }
    vkd_vis_t v;
    CHECK(T, vkd_vis_parse("normals", &v) == VKD_OK && v == VKD_VIS_NORMALS, "parse mode");
    CHECK(T,
          vkd_vis_parse("wireframe", &v) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "textureless"),
          "unknown mode lists the modes: %s", vkd_last_error());
    tt.views = 0;
    float *img;
    int h, w;
    const vkd_sw_object_t o = {VKD_SW_CUBE, VKD_SW_RED};
    CHECK(T, vkd_sw_turntable(o, VKD_VIS_SHADED, &tt, &img, &h, &w) == VKD_ERR_INVALID, "0 views");
}

// Training-distribution renders (ShapeWorld camera preset, random lights, the mode
// schedule past its warm-up): every object stays inside the frame and covers a good share
// of it. A contact sheet of all shapes x colours is written for the eye.
static void training_frames(tctx_t *T) {
    const int R = 32, N = VKD_SW_N_SHAPES * VKD_SW_N_COLOURS;
    const vkd_camera_dist_t d = vkd_camera_dist_shapeworld();
    const vkd_shade_schedule_t sched = vkd_shade_schedule_default();
    float *tiles = malloc(sizeof(float) * N * R * R * 3), op[32 * 32];
    double cover_min = 1, cover_max = 0;
    for (int i = 0; i < 12 * N; i++) {
        vkd_camera_t cam;
        vkd_light_t L;
        const uint64_t step = sched.albedo_steps + (uint64_t)i;
        CHECK_OK(T, vkd_camera_sample(&d, 2, step, 0, R, R, &cam));
        CHECK_OK(T, vkd_light_sample(&cam, d.scale, 2, step, 0, &L));
        const vkd_sw_object_t o = {(vkd_sw_shape_t)(i / VKD_SW_N_COLOURS % VKD_SW_N_SHAPES),
                                   (vkd_sw_colour_t)(i % VKD_SW_N_COLOURS)};
        float scratch[32 * 32 * 3];
        const vkd_render_out_t out = {i < N ? tiles + (size_t)i * R * R * 3 : scratch, op, NULL,
                                      NULL};
        CHECK_OK(T, vkd_sw_render(o, &cam, vkd_shade_schedule_mode(&sched, 2, step), &L, 2, &out));
        double cover = 0, border = 0;
        for (int y = 0; y < R; y++)
            for (int x = 0; x < R; x++) {
                cover += op[y * R + x];
                if (x == 0 || y == 0 || x == R - 1 || y == R - 1) border += op[y * R + x];
            }
        cover /= R * R;
        cover_min = fmin(cover_min, cover), cover_max = fmax(cover_max, cover);
        CHECK(T, border == 0, "%s %s, camera az %.0f el %.0f d %.2f: touches the frame border",
              vkd_sw_colour_name(o.colour), vkd_sw_shape_name(o.shape), cam.azimuth_deg,
              cam.elevation_deg, cam.distance);
        if (T->failures) break;
    }
    printf("  frame coverage of %d training renders: %.0f%% .. %.0f%%\n", 12 * N, 100 * cover_min,
           100 * cover_max);
    CHECK(T, cover_min > 0.08, "an object covers only %.1f%% of the frame", 100 * cover_min);
    int gh, gw;
    vkd_image_grid_size(N, R, R, VKD_SW_N_COLOURS, 1, &gh, &gw);
    float *grid = malloc(sizeof(float) * gh * gw * 3);
    CHECK_OK(T, vkd_image_grid(tiles, N, R, R, 3, VKD_SW_N_COLOURS, 1, NULL, grid));
    CHECK_OK(T, vkd_image_write_png("shapeworld_training_samples.png", grid, gh, gw, 3));
    printf("  wrote shapeworld_training_samples.png (rows: shapes, columns: colours)\n");
    free(grid), free(tiles);
}

// Images per second of 32x32 renders (2x2 supersampled) with training-distribution
// cameras and lights, on this one thread.
static void speed(tctx_t *T) {
    const int R = 32;
    float rgb[32 * 32 * 3], op[32 * 32];
    const vkd_render_out_t out = {rgb, op, NULL, NULL};
    const vkd_camera_dist_t d = vkd_camera_dist_shapeworld();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = 0;
    double el = 0;
    while (el < 0.5) {
        vkd_camera_t cam;
        vkd_light_t L;
        CHECK_OK(T, vkd_camera_sample(&d, 1, (uint64_t)n, 0, R, R, &cam));
        CHECK_OK(T, vkd_light_sample(&cam, d.scale, 1, (uint64_t)n, 0, &L));
        const vkd_sw_object_t o = {(vkd_sw_shape_t)(n % VKD_SW_N_SHAPES),
                                   (vkd_sw_colour_t)(n % VKD_SW_N_COLOURS)};
        CHECK_OK(T, vkd_sw_render(o, &cam, (vkd_shade_mode_t)(n % 3), &L, 2, &out));
        n++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
    printf("  %d renders of 32x32 (2x2 supersampled) in %.2f s: %.0f images/s on 1 thread\n", n, el,
           n / el);
}

static const tcase_t cases[] = {
    TCASE_CPU(sdf_exact),
    TCASE_CPU(normals),
    TCASE_CPU(palette),
    TCASE_CPU(captions),
    TCASE_CPU(render_closed_form),
    TCASE_CPU(turntables),
    TCASE_CPU(training_frames),
    TCASE_CPU(speed),
};
TEST_MAIN(cases)
