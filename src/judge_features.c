// The judge's view of one image: foreground alpha, the foreground's colour, and the
// colour-free description (alpha and shading grids) that shapes are matched on. judge.h
// explains the method; the constants here are the ones it quotes.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "judge_impl.h"

#define ALPHA_LO 0.2f  // distance to the background (linear RGB) where alpha starts
#define ALPHA_HI 0.5f  // ... where a pixel is surely solid foreground
#define EMPTY_FRACTION 0.01f
#define MAX_COLOUR_PIXELS 2048 // colour is a median: a subsample of a big image is enough
#define K_MIN 0.15f
#define K_STEP 0.05f
#define SHADE_WEIGHT 1.0f // of the shading grid against the alpha grid in distances

static float lab_f(float t) {
    const float d = 6.0f / 29.0f;
    return t > d * d * d ? cbrtf(t) : t / (3.0f * d * d) + 4.0f / 29.0f;
}

void judge_lab(const float rgb[3], float lab[3]) {
    const float r = rgb[0] > 0 ? rgb[0] : 0, g = rgb[1] > 0 ? rgb[1] : 0, b = rgb[2] > 0 ? rgb[2] : 0;
    // sRGB primaries, D65 white (IEC 61966-2-1), normalised by the white point.
    const float X = (0.4124564f * r + 0.3575761f * g + 0.1804375f * b) / 0.95047f;
    const float Y = 0.2126729f * r + 0.7151522f * g + 0.0721750f * b;
    const float Z = (0.0193339f * r + 0.1191920f * g + 0.9503041f * b) / 1.08883f;
    const float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
    lab[0] = 116.0f * fy - 16.0f;
    lab[1] = 500.0f * (fx - fy);
    lab[2] = 200.0f * (fy - fz);
}

static const float WHITE[3] = {1, 1, 1};

static const float *ray_albedo(int c) {
    return c < VKD_SW_N_COLOURS ? vkd_sw_colour_rgb((vkd_sw_colour_t)c) : WHITE;
}

void judge_rays_init(judge_rays_t *r) {
    for (int c = 0; c < JUDGE_N_RAYS; c++) {
        const float *rho = ray_albedo(c);
        for (int i = 0; i < JUDGE_NK; i++) {
            const float k = K_MIN + K_STEP * (float)i;
            const float p[3] = {k * rho[0], k * rho[1], k * rho[2]};
            judge_lab(p, r->lab[c][i]);
        }
    }
}

// Distance from point q to the polyline of a ray's samples (segments between neighbours):
// the ray is curved in CIELAB, and segments keep the k sampling from showing in the result.
static float ray_dist(const float (*pts)[3], const float q[3]) {
    float best = INFINITY;
    for (int i = 0; i + 1 < JUDGE_NK; i++) {
        float e[3], w[3], ee = 0, we = 0;
        for (int k = 0; k < 3; k++) {
            e[k] = pts[i + 1][k] - pts[i][k];
            w[k] = q[k] - pts[i][k];
            ee += e[k] * e[k];
            we += w[k] * e[k];
        }
        float t = ee > 0 ? we / ee : 0;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        float d2 = 0;
        for (int k = 0; k < 3; k++) {
            const float x = w[k] - t * e[k];
            d2 += x * x;
        }
        if (d2 < best) best = d2;
    }
    return sqrtf(best);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// The q-quantile of x (n > 0), which is reordered.
static float quantile(float *x, int n, float q) {
    qsort(x, (size_t)n, sizeof(float), cmp_float);
    int i = (int)(q * (float)(n - 1) + 0.5f);
    return x[i < 0 ? 0 : i >= n ? n - 1 : i];
}

// Interior pixels for colour: alpha >= solid (the alpha of a pixel at distance ALPHA_HI from
// the background) with all four neighbours alpha 1 (blur and
// antialiasing mix the edge with the background); fallbacks for thin or tiny objects.
// Writes up to cap indices (an even subsample) into idx and returns how many.
static int colour_pixels(const float *alpha, int H, int W, float solid, int *idx, int cap) {
    for (int pass = 0; pass < 3; pass++) {
        int n = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const int p = y * W + x;
                int ok;
                if (pass == 0)
                    ok = alpha[p] >= solid && x > 0 && y > 0 && x + 1 < W && y + 1 < H &&
                         alpha[p - 1] >= solid && alpha[p + 1] >= solid && alpha[p - W] >= solid &&
                         alpha[p + W] >= solid;
                else
                    ok = alpha[p] >= (pass == 1 ? solid : 0.5f * solid);
                n += ok;
            }
        if (n < 8 && pass < 2) continue;
        if (n == 0) return 0;
        // Every stride-th qualifying pixel, so a large image costs no more than a small one.
        const int stride = (n + cap - 1) / cap;
        int m = 0, seen = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const int p = y * W + x;
                int ok;
                if (pass == 0)
                    ok = alpha[p] >= solid && x > 0 && y > 0 && x + 1 < W && y + 1 < H &&
                         alpha[p - 1] >= solid && alpha[p + 1] >= solid && alpha[p - W] >= solid &&
                         alpha[p + W] >= solid;
                else
                    ok = alpha[p] >= (pass == 1 ? solid : 0.5f * solid);
                if (ok && seen++ % stride == 0 && m < cap) idx[m++] = p;
            }
        return m;
    }
    return 0;
}

// colour_dist, grey_dist, colour and achromatic of v from the pixels idx[0..n).
static vkd_status_t judge_colour(const judge_rays_t *rays, const float *rgb, const int *idx, int n,
                                 vkd_judge_verdict_t *v) {
    float *d = malloc(sizeof(float) * (size_t)n * JUDGE_N_RAYS); // (rays, n)
    if (!d) return vkd_fail(VKD_ERR_NOMEM, "judge: out of memory for %d colour samples", n);
    for (int i = 0; i < n; i++) {
        float lab[3];
        judge_lab(rgb + 3 * (size_t)idx[i], lab);
        for (int c = 0; c < JUDGE_N_RAYS; c++) d[(size_t)c * n + i] = ray_dist(rays->lab[c], lab);
    }
    int best = 0;
    for (int c = 0; c < JUDGE_N_RAYS; c++) {
        const float m = quantile(d + (size_t)c * n, n, 0.5f);
        if (c < VKD_SW_N_COLOURS) {
            v->colour_dist[c] = m;
            if (m < v->colour_dist[best]) best = c;
        } else {
            v->grey_dist = m;
        }
    }
    v->colour = (vkd_sw_colour_t)best;
    v->achromatic = v->grey_dist < v->colour_dist[best];
    free(d);
    return VKD_OK;
}

// Bilinear value of map (H, W) at continuous position (x, y) (pixel centres at +0.5),
// zero outside the image.
static float bilinear(const float *map, int H, int W, float x, float y) {
    const float fx = x - 0.5f, fy = y - 0.5f;
    const int x0 = (int)floorf(fx), y0 = (int)floorf(fy);
    const float tx = fx - (float)x0, ty = fy - (float)y0;
    float acc = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            const int xx = x0 + dx, yy = y0 + dy;
            if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
            acc += (dx ? tx : 1 - tx) * (dy ? ty : 1 - ty) * map[yy * W + xx];
        }
    return acc;
}

// Area-resamples map (H, W) onto out (G, G): the frame, shifted so that (cx, cy) is at
// its centre, each cell the mean of m x m bilinear taps.
static void to_grid(const float *map, int H, int W, float cx, float cy, float *out) {
    const float cw = (float)W / JUDGE_G, ch = (float)H / JUDGE_G;
    int mx = (W + JUDGE_G - 1) / JUDGE_G, my = (H + JUDGE_G - 1) / JUDGE_G;
    mx = mx < 2 ? 2 : mx > 16 ? 16 : mx;
    my = my < 2 ? 2 : my > 16 ? 16 : my;
    const float x0 = cx - 0.5f * (float)W, y0 = cy - 0.5f * (float)H;
    for (int v = 0; v < JUDGE_G; v++)
        for (int u = 0; u < JUDGE_G; u++) {
            float acc = 0;
            for (int j = 0; j < my; j++)
                for (int i = 0; i < mx; i++)
                    acc += bilinear(map, H, W, x0 + cw * ((float)u + ((float)i + 0.5f) / (float)mx),
                                    y0 + ch * ((float)v + ((float)j + 0.5f) / (float)my));
            out[v * JUDGE_G + u] = acc / (float)(mx * my);
        }
}

vkd_status_t judge_describe(const judge_rays_t *rays, const float *rgb, int H, int W,
                            const float *known_rho, float *feat, vkd_judge_verdict_t *v) {
    const size_t P = (size_t)H * W;
    const float *bg = vkd_sw_background();
    float *alpha = malloc(sizeof(float) * P * 2); // (H, W) alpha, then (H, W) shading
    int *idx = malloc(sizeof(int) * MAX_COLOUR_PIXELS);
    if (!alpha || !idx) {
        free(alpha), free(idx);
        return vkd_fail(VKD_ERR_NOMEM, "judge: out of memory for a %dx%d image", W, H);
    }
    float *shade = alpha + P;
    // Alpha ramps from 0 at distance ALPHA_LO to the background to 1 at ALPHA_HI. (An alpha
    // linear in the distance, scaled by the foreground's median distance, preserves the
    // mass of blurred edges better but was no more accurate on the held-out test set.)
    const float dref = ALPHA_HI;
    for (size_t p = 0; p < P; p++) {
        const float *c = rgb + 3 * p;
        const float d0 = c[0] - bg[0], d1 = c[1] - bg[1], d2 = c[2] - bg[2];
        alpha[p] = sqrtf(d0 * d0 + d1 * d1 + d2 * d2);
    }
    double sum = 0, sx = 0, sy = 0;
    for (size_t p = 0; p < P; p++) {
        float a = (alpha[p] - ALPHA_LO) / (dref - ALPHA_LO);
        a = a < 0 ? 0 : a > 1 ? 1 : a;
        alpha[p] = a;
        sum += a;
        sx += a * ((double)(p % (size_t)W) + 0.5);
        sy += a * ((double)(p / (size_t)W) + 0.5);
    }
    memset(v, 0, sizeof *v);
    v->fg_fraction = (float)(sum / (double)P);
    vkd_status_t s = VKD_OK;
    int n = 0;
    if (v->fg_fraction < EMPTY_FRACTION || (n = colour_pixels(alpha, H, W, (ALPHA_HI - ALPHA_LO) / (dref - ALPHA_LO), idx,
                                      MAX_COLOUR_PIXELS)) == 0) {
        v->empty = 1;
        goto done;
    }
    if (!known_rho) s = judge_colour(rays, rgb, idx, n, v);
    if (s != VKD_OK) goto done;
    // Shading factor k along the judged albedo: the foreground part of a pixel is
    // a * k * rho, so project (pixel - (1 - a) bg) onto rho.
    const float *rho = known_rho ? known_rho : v->achromatic ? WHITE : vkd_sw_colour_rgb(v->colour);
    const float rr = rho[0] * rho[0] + rho[1] * rho[1] + rho[2] * rho[2];
    for (size_t p = 0; p < P; p++) {
        const float *c = rgb + 3 * p, a = alpha[p];
        float k = 0;
        for (int ch = 0; ch < 3; ch++) k += (c[ch] - (1 - a) * bg[ch]) * rho[ch];
        k /= rr;
        shade[p] = a > 0 ? (k < 0 ? 0 : k > 2 * a ? 2 * a : k) : 0;
    }
    // Normalise brightness (exposure, light distance) by the interior's mean shading: a mean,
    // unlike a high quantile, is not biased by zero-mean noise.
    double ksum = 0;
    for (int i = 0; i < n; i++) ksum += shade[idx[i]] / alpha[idx[i]];
    float top = (float)(ksum / n);
    top = top > 0.05f ? top : 0.05f;
    const float scale = SHADE_WEIGHT / top;
    for (size_t p = 0; p < P; p++) shade[p] *= scale;
    const float cx = (float)(sx / sum), cy = (float)(sy / sum);
    to_grid(alpha, H, W, cx, cy, feat);
    to_grid(shade, H, W, cx, cy, feat + JUDGE_GRID);
done:
    free(alpha), free(idx);
    return s;
}
