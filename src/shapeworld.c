// ShapeWorld objects: palette, exact SDFs with analytic normals, captions.
#include "shapeworld.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// ---- names and colours -------------------------------------------------------------

static const char *const SHAPE_NAMES[VKD_SW_N_SHAPES] = {"sphere", "cube",  "cylinder",
                                                         "cone",   "torus", "pyramid"};
static const char *const COLOUR_NAMES[VKD_SW_N_COLOURS] = {"red",  "orange", "yellow", "green",
                                                           "cyan", "blue",   "purple", "pink"};

// Saturated, mutually distinct colours, picked in sRGB and stored linear. The closest pair
// (blue, purple) is 39 CIELAB units apart; purple leans to magenta and blue to azure to
// keep them so.
static const float PALETTE[VKD_SW_N_COLOURS][3] = {
    {0.7913f, 0.0097f, 0.0097f}, // red     sRGB (230, 25, 25)
    {1.0000f, 0.2423f, 0.0000f}, // orange  sRGB (255, 135, 0)
    {1.0000f, 0.7529f, 0.0070f}, // yellow  sRGB (255, 225, 20)
    {0.0070f, 0.3515f, 0.0452f}, // green   sRGB (20, 160, 60)
    {0.0000f, 0.6445f, 0.7157f}, // cyan    sRGB (0, 210, 220)
    {0.0212f, 0.1022f, 0.8714f}, // blue    sRGB (40, 90, 240)
    {0.3050f, 0.0168f, 0.4287f}, // purple  sRGB (150, 35, 175)
    {1.0000f, 0.1878f, 0.5457f}, // pink    sRGB (255, 120, 195)
};

// The background is chartreuse, sRGB (90, 255, 0). A foreground pixel is k * rho with
// rho a palette colour or white (textureless) and k in [l_a, l_a + l_d] = [0.2, 1], so the
// background must be far from each of those nine rays of colours, not just from the
// albedos: black and greys are on the white ray, dark colours are near every ray's dark
// end, and white is a lit textureless surface. A search over the sRGB cube maximising the
// smallest CIELAB distance to all nine rays (and the smallest sRGB distance) puts the best
// colour here: >= 57 CIELAB units (lit green) and >= 114 (grey) from any foreground colour,
// >= 0.65 in linear RGB. tests/test_shapeworld.c checks those margins.
static const float BACKGROUND[3] = {0.1022f, 1.0000f, 0.0000f};

const char *vkd_sw_shape_name(vkd_sw_shape_t s) {
    return (unsigned)s < VKD_SW_N_SHAPES ? SHAPE_NAMES[s] : "?";
}
const char *vkd_sw_colour_name(vkd_sw_colour_t c) {
    return (unsigned)c < VKD_SW_N_COLOURS ? COLOUR_NAMES[c] : "?";
}
const float *vkd_sw_colour_rgb(vkd_sw_colour_t c) {
    return PALETTE[(unsigned)c < VKD_SW_N_COLOURS ? c : 0];
}
const float *vkd_sw_background(void) { return BACKGROUND; }
const char *vkd_sw_known_shapes(void) { return "sphere, cube, cylinder, cone, torus, pyramid"; }
const char *vkd_sw_known_colours(void) {
    return "red, orange, yellow, green, cyan, blue, purple, pink";
}

// ---- geometry ------------------------------------------------------------------------

#define SPHERE_R 0.5f
#define CUBE_H 0.36f
#define CYL_R 0.4f
#define CYL_H 0.42f // half height
#define CONE_R 0.45f
#define CONE_H 0.45f // half height
#define TORUS_R 0.43f
#define TORUS_T 0.19f
#define PYR_A 0.38f // half base side
#define PYR_H 0.38f // half height

float vkd_sw_extent(vkd_sw_shape_t s) {
    switch (s) {
    case VKD_SW_SPHERE: return SPHERE_R;
    case VKD_SW_CUBE: return CUBE_H * sqrtf(3.0f);
    case VKD_SW_CYLINDER: return sqrtf(CYL_R * CYL_R + CYL_H * CYL_H);
    case VKD_SW_CONE: return sqrtf(CONE_R * CONE_R + CONE_H * CONE_H);
    case VKD_SW_TORUS: return TORUS_R + TORUS_T;
    case VKD_SW_PYRAMID: return sqrtf(2.0f * PYR_A * PYR_A + PYR_H * PYR_H);
    default: return 0.0f;
    }
}

static float sgn(float v) { return v < 0.0f ? -1.0f : 1.0f; }

// Signed distance to the axis-aligned box of half extents b (2D or 3D, `dim` axes), with
// its outward gradient g. Outside: distance to the nearest point, gradient towards p from
// it. Inside: the nearest face, gradient its normal.
static float box_sdf(const float *p, const float *b, int dim, float *g) {
    float q[3], out2 = 0, inside = -INFINITY;
    int imax = 0;
    for (int k = 0; k < dim; k++) {
        q[k] = fabsf(p[k]) - b[k];
        if (q[k] > 0) out2 += q[k] * q[k];
        if (q[k] > inside) inside = q[k], imax = k;
    }
    if (out2 > 0) {
        const float d = sqrtf(out2);
        for (int k = 0; k < dim; k++) g[k] = q[k] > 0 ? sgn(p[k]) * q[k] / d : 0.0f;
        return d;
    }
    for (int k = 0; k < dim; k++) g[k] = k == imax ? sgn(p[k]) : 0.0f;
    return inside;
}

// Closest point c (2) to q (2) on segment a-b. Returns 1 when it lies strictly between the
// ends (then the segment's normal is the exact gradient direction).
static int seg_closest2(const float q[2], const float a[2], const float b[2], float c[2]) {
    const float ex = b[0] - a[0], ey = b[1] - a[1];
    float t = ((q[0] - a[0]) * ex + (q[1] - a[1]) * ey) / (ex * ex + ey * ey);
    const int interior = t > 0.0f && t < 1.0f;
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    c[0] = a[0] + t * ex, c[1] = a[1] + t * ey;
    return interior;
}

// The cone in its meridian half-plane (r = distance from the axis >= 0, y): the triangle
// with the axis as one side. The axis side is not surface, so the distance is to the slant
// and base segments only; a solid of revolution's distance equals this 2D distance.
static float cone_sdf2(const float q[2], float g[2]) {
    static const float apex[2] = {0, CONE_H}, rim[2] = {CONE_R, -CONE_H}, base0[2] = {0, -CONE_H};
    const float inv = 1.0f / sqrtf(4 * CONE_H * CONE_H + CONE_R * CONE_R);
    const float slant_n[2] = {2 * CONE_H * inv, CONE_R * inv}; // outward normal of the slant
    float c1[2], c2[2];
    const int in1 = seg_closest2(q, apex, rim, c1), in2 = seg_closest2(q, base0, rim, c2);
    const float d1 = hypotf(q[0] - c1[0], q[1] - c1[1]), d2 = hypotf(q[0] - c2[0], q[1] - c2[1]);
    const int inside =
        q[1] > -CONE_H && q[1] < CONE_H && q[0] < CONE_R * (CONE_H - q[1]) / (2 * CONE_H);
    const float sign = inside ? -1.0f : 1.0f;
    const int use1 = d1 <= d2;
    const float d = use1 ? d1 : d2;
    if (use1 ? in1 : in2) {
        g[0] = use1 ? slant_n[0] : 0.0f, g[1] = use1 ? slant_n[1] : -1.0f;
    } else if (d > 0.0f) {
        const float *c = use1 ? c1 : c2;
        g[0] = sign * (q[0] - c[0]) / d, g[1] = sign * (q[1] - c[1]) / d;
    } else {
        g[0] = use1 ? slant_n[0] : 0.0f, g[1] = use1 ? slant_n[1] : -1.0f;
    }
    return sign * d;
}

// Closest point c (3) to p on triangle (a, b, v); returns 1 when it is inside the face
// (not on an edge), where the face normal is the exact gradient direction.
static void sub3(const float *a, const float *b, float *o) {
    o[0] = a[0] - b[0], o[1] = a[1] - b[1], o[2] = a[2] - b[2];
}
static float dot3(const float *a, const float *b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
static void cross3(const float *a, const float *b, float *o) {
    o[0] = a[1] * b[2] - a[2] * b[1];
    o[1] = a[2] * b[0] - a[0] * b[2];
    o[2] = a[0] * b[1] - a[1] * b[0];
}
static void seg_closest3(const float *p, const float *a, const float *b, float *c) {
    float e[3], ap[3];
    sub3(b, a, e), sub3(p, a, ap);
    float t = dot3(ap, e) / dot3(e, e);
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    for (int k = 0; k < 3; k++) c[k] = a[k] + t * e[k];
}
static int tri_closest(const float *p, const float *const v[3], const float *n, float *c) {
    // Inside when p's projection is on the inner side of all three edges.
    int inside = 1;
    for (int i = 0; i < 3 && inside; i++) {
        float e[3], vp[3], x[3];
        sub3(v[(i + 1) % 3], v[i], e), sub3(p, v[i], vp), cross3(e, vp, x);
        if (dot3(x, n) < 0.0f) inside = 0;
    }
    if (inside) {
        float vp[3];
        sub3(p, v[0], vp);
        const float h = dot3(vp, n);
        for (int k = 0; k < 3; k++) c[k] = p[k] - h * n[k];
        return 1;
    }
    float best = INFINITY;
    for (int i = 0; i < 3; i++) {
        float ci[3], dv[3];
        seg_closest3(p, v[i], v[(i + 1) % 3], ci);
        sub3(p, ci, dv);
        const float d2 = dot3(dv, dv);
        if (d2 < best) best = d2, c[0] = ci[0], c[1] = ci[1], c[2] = ci[2];
    }
    return 0;
}

// The pyramid folded into the chamber X >= Z >= 0 (X = max(|x|, |z|), Z = min): the solid
// is symmetric under those reflections, so the nearest surface point of a point in the
// chamber lies on the part of the surface in it -- the +X face or the base -- and the
// distance is the smaller of the distances to those two polygons.
static float pyramid_sdf(const float p[3], float g[3]) {
    const float ax = fabsf(p[0]), az = fabsf(p[2]);
    const int swap = az > ax;
    const float q[3] = {swap ? az : ax, p[1], swap ? ax : az};
    static const float apex[3] = {0, PYR_H, 0}, b0[3] = {PYR_A, -PYR_H, PYR_A},
                       b1[3] = {PYR_A, -PYR_H, -PYR_A};
    // Outward normal of the +X face: (2H, A, 0) / |.| in (X, y, Z).
    const float inv = 1.0f / sqrtf(4 * PYR_H * PYR_H + PYR_A * PYR_A);
    const float fn[3] = {2 * PYR_H * inv, PYR_A * inv, 0};
    const float *tri[3] = {apex, b0, b1};
    float cf[3] = {0}, cb[3] = {0}, gq[3];
    const int face_in = tri_closest(q, tri, fn, cf);
    // Base square y = -H, |X|, |Z| <= A; inside it when the projection is.
    const int base_in = q[0] <= PYR_A && q[2] <= PYR_A;
    cb[0] = fminf(q[0], PYR_A), cb[1] = -PYR_H, cb[2] = fminf(q[2], PYR_A);
    float df[3], db[3];
    sub3(q, cf, df), sub3(q, cb, db);
    const float d2f = dot3(df, df), d2b = dot3(db, db);
    const int inside = q[1] > -PYR_H && q[1] < PYR_H && q[0] < PYR_A * (PYR_H - q[1]) / (2 * PYR_H);
    const float sign = inside ? -1.0f : 1.0f;
    const int use_face = d2f <= d2b;
    const float d = sqrtf(use_face ? d2f : d2b);
    if (use_face ? face_in : base_in) {
        for (int k = 0; k < 3; k++) gq[k] = use_face ? fn[k] : (k == 1 ? -1.0f : 0.0f);
    } else if (d > 0.0f) {
        const float *dv = use_face ? df : db;
        for (int k = 0; k < 3; k++) gq[k] = sign * dv[k] / d;
    } else {
        for (int k = 0; k < 3; k++) gq[k] = use_face ? fn[k] : (k == 1 ? -1.0f : 0.0f);
    }
    // Unfold: X, Z back to the axes they came from, with the signs of x and z.
    g[0] = (swap ? gq[2] : gq[0]) * sgn(p[0]);
    g[1] = gq[1];
    g[2] = (swap ? gq[0] : gq[2]) * sgn(p[2]);
    return sign * d;
}

// Gradient in the meridian half-plane (gr, gy) back to 3D around the y axis.
static void unrevolve(const float p[3], float r, const float g2[2], float g[3]) {
    const float cx = r > 0.0f ? p[0] / r : 1.0f, cz = r > 0.0f ? p[2] / r : 0.0f;
    g[0] = g2[0] * cx, g[1] = g2[1], g[2] = g2[0] * cz;
}

float vkd_sw_sdf_normal(vkd_sw_shape_t s, const float p[3], float n[3]) {
    float d, g2[2];
    const float r = sqrtf(p[0] * p[0] + p[2] * p[2]);
    switch (s) {
    case VKD_SW_SPHERE: {
        const float len = sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
        if (len > 0.0f) n[0] = p[0] / len, n[1] = p[1] / len, n[2] = p[2] / len;
        else n[0] = 0, n[1] = 1, n[2] = 0;
        return len - SPHERE_R;
    }
    case VKD_SW_CUBE: {
        static const float b[3] = {CUBE_H, CUBE_H, CUBE_H};
        return box_sdf(p, b, 3, n);
    }
    case VKD_SW_CYLINDER: {
        static const float b[2] = {CYL_R, CYL_H};
        const float q[2] = {r, p[1]};
        d = box_sdf(q, b, 2, g2);
        unrevolve(p, r, g2, n);
        return d;
    }
    case VKD_SW_CONE: {
        const float q[2] = {r, p[1]};
        d = cone_sdf2(q, g2);
        unrevolve(p, r, g2, n);
        return d;
    }
    case VKD_SW_TORUS: {
        const float qx = r - TORUS_R, qy = p[1], len = sqrtf(qx * qx + qy * qy);
        if (len > 0.0f) g2[0] = qx / len, g2[1] = qy / len;
        else g2[0] = 1, g2[1] = 0;
        unrevolve(p, r, g2, n);
        return len - TORUS_T;
    }
    case VKD_SW_PYRAMID: return pyramid_sdf(p, n);
    default: n[0] = 0, n[1] = 1, n[2] = 0; return INFINITY;
    }
}

float vkd_sw_sdf(vkd_sw_shape_t s, const float p[3]) {
    float n[3];
    switch (s) {
    // The cheap ones without the gradient work (the sphere tracer calls this per step).
    case VKD_SW_SPHERE: return sqrtf(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) - SPHERE_R;
    case VKD_SW_TORUS: {
        const float qx = sqrtf(p[0] * p[0] + p[2] * p[2]) - TORUS_R;
        return sqrtf(qx * qx + p[1] * p[1]) - TORUS_T;
    }
    default: return vkd_sw_sdf_normal(s, p, n);
    }
}

// ---- captions ------------------------------------------------------------------------

#define CAPTION_MAX 256

static vkd_status_t unknown(const char *caption, const char *why) {
    return vkd_fail(VKD_ERR_INVALID,
                    "ShapeWorld caption \"%.200s\": %s. Expected \"a COLOUR SHAPE\" with an "
                    "optional \", front|side|back|overhead view\"; known colours: %s; known "
                    "shapes: %s",
                    caption, why, vkd_sw_known_colours(), vkd_sw_known_shapes());
}

static int lookup(const char *word, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(word, names[i]) == 0) return i;
    return -1;
}

// Split s (modified) at blanks into at most max words; returns the count, or max + 1 when
// there are more.
static int split_words(char *s, char **words, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == max) return max + 1;
        words[n++] = t;
    }
    return n;
}

vkd_status_t vkd_sw_parse(const char *caption, vkd_sw_object_t *obj, vkd_view_bin_t *view) {
    if (!caption || !obj) return vkd_fail(VKD_ERR_INVALID, "ShapeWorld caption: NULL argument");
    if (view) *view = VKD_VIEW_NONE;
    const size_t len = strlen(caption);
    if (len >= CAPTION_MAX)
        return vkd_fail(VKD_ERR_INVALID,
                        "ShapeWorld caption of %zu characters is too long "
                        "(at most %d): expected \"a COLOUR SHAPE\"",
                        len, CAPTION_MAX - 1);
    char buf[CAPTION_MAX];
    for (size_t i = 0; i <= len; i++) buf[i] = (char)tolower((unsigned char)caption[i]);
    // A final period and blanks are ignored.
    size_t end = len;
    while (end > 0 && (isspace((unsigned char)buf[end - 1]) || buf[end - 1] == '.')) end--;
    buf[end] = 0;
    char *comma = strchr(buf, ',');
    vkd_view_bin_t v = VKD_VIEW_NONE;
    if (comma) {
        *comma = 0;
        char *words[3];
        const int n = split_words(comma + 1, words, 2);
        static const char *const bins[VKD_VIEW_COUNT] = {"front", "side", "back", "overhead"};
        const int b =
            n == 2 && strcmp(words[1], "view") == 0 ? lookup(words[0], bins, VKD_VIEW_COUNT) : -1;
        if (b < 0) return unknown(caption, "the part after the comma is not a view");
        v = (vkd_view_bin_t)b;
    }
    char *words[4];
    int n = split_words(buf, words, 3);
    if (n > 3) return unknown(caption, "too many words");
    char **w = words;
    if (n >= 1 && (strcmp(w[0], "a") == 0 || strcmp(w[0], "an") == 0)) w++, n--;
    if (n != 2) return unknown(caption, n < 2 ? "a colour or shape is missing" : "too many words");
    const int c = lookup(w[0], COLOUR_NAMES, VKD_SW_N_COLOURS);
    const int s = lookup(w[1], SHAPE_NAMES, VKD_SW_N_SHAPES);
    if (c < 0 || s < 0) {
        char why[160];
        if (c < 0 && lookup(w[0], SHAPE_NAMES, VKD_SW_N_SHAPES) >= 0)
            snprintf(why, sizeof why, "the colour comes before the shape");
        else if (c < 0) snprintf(why, sizeof why, "unknown colour '%.40s'", w[0]);
        else snprintf(why, sizeof why, "unknown shape '%.40s'", w[1]);
        return unknown(caption, why);
    }
    obj->shape = (vkd_sw_shape_t)s;
    obj->colour = (vkd_sw_colour_t)c;
    if (view) *view = v;
    return VKD_OK;
}

vkd_status_t vkd_sw_caption(vkd_sw_object_t obj, vkd_view_bin_t view, char *buf, size_t cap) {
    if (!buf || cap == 0) return vkd_fail(VKD_ERR_INVALID, "ShapeWorld caption: no buffer");
    buf[0] = 0;
    if ((unsigned)obj.shape >= VKD_SW_N_SHAPES || (unsigned)obj.colour >= VKD_SW_N_COLOURS)
        return vkd_fail(VKD_ERR_INVALID,
                        "ShapeWorld caption: object (shape %d, colour %d) out "
                        "of range",
                        (int)obj.shape, (int)obj.colour);
    if (view != VKD_VIEW_NONE && (unsigned)view >= VKD_VIEW_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld caption: view %d out of range", (int)view);
    const char *colour = COLOUR_NAMES[obj.colour];
    // "an" before a vowel sound; every word of the vocabulary sounds as it is spelled.
    const char *article = strchr("aeiou", colour[0]) ? "an" : "a";
    const int n = snprintf(buf, cap, "%s %s %s%s", article, colour, SHAPE_NAMES[obj.shape],
                           vkd_view_suffix(view));
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0;
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld caption: buffer of %zu bytes is too small",
                        cap);
    }
    return VKD_OK;
}
