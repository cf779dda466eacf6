// Ground-truth scoring of a generated field (dream_score.h).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dream_score.h"
#include "image.h"
#include "nerf/mesh_field.h"

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

vkd_dream_score_opts_t vkd_dream_score_opts_default(void) {
    return (vkd_dream_score_opts_t){.grid = 64, .extent = 0.9f, .iso = NAN, .rot_step_deg = 5.0f};
}

// solid (G^3) from occ (G^3): occupied, or enclosed in all 26 directions. For each
// direction d, hit[c] = "walking from c along d meets an occupied cell inside the grid",
// filled by one pass that visits c + d before c.
static vkd_status_t enclose(const uint8_t *occ, int G, uint8_t *solid) {
    const size_t n = (size_t)G * G * G;
    uint8_t *hit = malloc(n);
    if (!hit) return vkd_fail(VKD_ERR_NOMEM, "score: out of memory for a %d^3 grid", G);
    for (size_t i = 0; i < n; i++) solid[i] = 1;
    for (int dir = 0; dir < 27; dir++) {
        const int d[3] = {dir / 9 - 1, (dir / 3) % 3 - 1, dir % 3 - 1};
        if (!d[0] && !d[1] && !d[2]) continue;
        for (int a = 0; a < G; a++) {
            const int i = d[0] > 0 ? G - 1 - a : a;
            for (int b = 0; b < G; b++) {
                const int j = d[1] > 0 ? G - 1 - b : b;
                for (int e = 0; e < G; e++) {
                    const int k = d[2] > 0 ? G - 1 - e : e;
                    const int ni = i + d[0], nj = j + d[1], nk = k + d[2];
                    const size_t c = ((size_t)i * G + j) * G + k;
                    if (ni < 0 || nj < 0 || nk < 0 || ni >= G || nj >= G || nk >= G) {
                        hit[c] = 0;
                        continue;
                    }
                    const size_t nc = ((size_t)ni * G + nj) * G + nk;
                    hit[c] = occ[nc] || hit[nc];
                }
            }
        }
        for (size_t c = 0; c < n; c++) solid[c] &= hit[c];
    }
    for (size_t c = 0; c < n; c++) solid[c] |= occ[c];
    free(hit);
    return VKD_OK;
}

// Best IoU of shape sh over rotations about y; *rot gets the angle.
static double best_iou(const uint8_t *solid, int G, float ext, vkd_sw_shape_t sh, float step,
                       float *rot) {
    // Rotational symmetry about y: one angle (round shapes) or a quarter turn (square ones).
    const float period = sh == VKD_SW_CUBE || sh == VKD_SW_PYRAMID ? 90.0f
                         : sh == VKD_SW_SPHERE || sh == VKD_SW_CYLINDER || sh == VKD_SW_CONE ||
                                   sh == VKD_SW_TORUS
                             ? step
                             : 360.0f;
    const float cs = 2.0f * ext / G, r_ext = vkd_sw_extent(sh);
    double best = -1;
    *rot = 0;
    for (float ang = 0; ang < period - 1e-3f; ang += step) {
        const float ca = cosf(ang * (float)M_PI / 180.0f), sa = sinf(ang * (float)M_PI / 180.0f);
        double inter = 0, uni = 0;
        for (int i = 0; i < G; i++)
            for (int j = 0; j < G; j++)
                for (int k = 0; k < G; k++) {
                    const float x = -ext + cs * (i + 0.5f), y = -ext + cs * (j + 0.5f),
                                z = -ext + cs * (k + 0.5f);
                    const int s = solid[((size_t)i * G + j) * G + k];
                    int b = 0;
                    if (x * x + y * y + z * z <= r_ext * r_ext * 1.01f) {
                        // The object rotated by ang: test the point rotated by -ang.
                        const float p[3] = {ca * x - sa * z, y, sa * x + ca * z};
                        b = vkd_sw_occupied(sh, p);
                    }
                    inter += s && b;
                    uni += s || b;
                }
        const double iou = uni > 0 ? inter / uni : 0.0;
        if (iou > best) best = iou, *rot = ang;
    }
    return best;
}

vkd_status_t vkd_dream_score(vkd_field_t *f, vkd_sw_object_t obj, const vkd_dream_score_opts_t *o,
                             vkd_dream_score_t *out) {
    const vkd_dream_score_opts_t def = vkd_dream_score_opts_default();
    if (!o) o = &def;
    if (!f || !out) return vkd_fail(VKD_ERR_INVALID, "score: NULL field or result");
    if (o->grid < 8 || o->grid > 256 || !(o->extent > 0) || !isfinite(o->extent) ||
        !(o->rot_step_deg > 0 && o->rot_step_deg <= 90))
        return vkd_fail(VKD_ERR_INVALID, "score: grid %d (8..256), extent %g (> 0) or rotation "
                        "step %g (0..90] out of range", o->grid, (double)o->extent,
                        (double)o->rot_step_deg);
    if ((unsigned)obj.shape >= VKD_SW_N_SHAPES || (unsigned)obj.colour >= VKD_SW_N_COLOURS)
        return vkd_fail(VKD_ERR_INVALID, "score: object (%d, %d) out of range", obj.shape, obj.colour);
    memset(out, 0, sizeof *out);
    const int G = o->grid;
    const size_t n = (size_t)G * G * G;
    const float cs = 2.0f * o->extent / G;
    out->iso = isnan(o->iso) ? vkd_nerf_mesh_auto_threshold(f) : o->iso;
    float *xyz = malloc(sizeof(float) * n * 3), *tau = malloc(sizeof(float) * n);
    float *rgb = malloc(sizeof(float) * n * 3);
    uint8_t *occ = malloc(n), *solid = malloc(n);
    vkd_nerf_sampler_t *smp = NULL;
    vkd_status_t s = xyz && tau && rgb && occ && solid
                         ? VKD_OK
                         : vkd_fail(VKD_ERR_NOMEM, "score: out of memory for a %d^3 grid", G);
    for (size_t c = 0; c < n && !s; c++) {
        const size_t i = c / ((size_t)G * G), j = (c / G) % G, k = c % G;
        xyz[3 * c] = -o->extent + cs * (i + 0.5f);
        xyz[3 * c + 1] = -o->extent + cs * (j + 0.5f);
        xyz[3 * c + 2] = -o->extent + cs * (k + 0.5f);
    }
    if (!s) s = vkd_nerf_sampler_create(f, 32768, &smp);
    if (!s) s = vkd_nerf_field_sample(smp, xyz, (int)n, tau, rgb);
    vkd_nerf_sampler_destroy(smp);
    if (!s) {
        for (size_t c = 0; c < n; c++) occ[c] = tau[c] > out->iso; // NaN counts as empty
        s = enclose(occ, G, solid);
    }
    if (!s) {
        // Surface albedo: the per-channel median over the surface cells (robust to the few
        // cells that carry the background's colour at a soft edge).
        size_t cnt = 0, ns = 0;
        float *surf = malloc(sizeof(float) * 3 * n);
        if (!surf) s = vkd_fail(VKD_ERR_NOMEM, "score: out of memory");
        for (size_t c = 0; c < n && surf; c++) {
            if (!solid[c]) continue;
            ns++;
            const int i = (int)(c / ((size_t)G * G)), j = (int)((c / G) % G), k = (int)(c % G);
            const int nb[6][3] = {{i - 1, j, k}, {i + 1, j, k}, {i, j - 1, k},
                                  {i, j + 1, k}, {i, j, k - 1}, {i, j, k + 1}};
            int surface = 0;
            for (int q = 0; q < 6 && !surface; q++) {
                const int *p = nb[q];
                surface = p[0] < 0 || p[1] < 0 || p[2] < 0 || p[0] >= G || p[1] >= G || p[2] >= G ||
                          !solid[((size_t)p[0] * G + p[1]) * G + p[2]];
            }
            if (!surface || !isfinite(rgb[3 * c] + rgb[3 * c + 1] + rgb[3 * c + 2])) continue;
            for (int a = 0; a < 3; a++) surf[a * n + cnt] = rgb[3 * c + a];
            cnt++;
        }
        out->solid_frac = ns / (double)n;
        out->colour = -1;
        for (int a = 0; a < 3 && surf; a++) {
            if (!cnt) {
                out->albedo[a] = NAN;
                continue;
            }
            qsort(surf + a * n, cnt, sizeof(float), cmp_float);
            out->albedo[a] = surf[a * n + cnt / 2];
        }
        free(surf);
        if (cnt > 0) {
            double best = INFINITY;
            for (int col = 0; col < VKD_SW_N_COLOURS; col++) {
                const float *pc = vkd_sw_colour_rgb((vkd_sw_colour_t)col);
                double d2 = 0;
                for (int a = 0; a < 3; a++) {
                    const double e = vkd_srgb_encode(out->albedo[a]) - vkd_srgb_encode(pc[a]);
                    d2 += e * e;
                }
                if (d2 < best) best = d2, out->colour = col;
            }
        }
        out->colour_correct = out->colour == (int)obj.colour;
        out->best_shape = 0;
        for (int sh = 0; sh < VKD_SW_N_SHAPES; sh++) {
            out->iou_shape[sh] = best_iou(solid, G, o->extent, (vkd_sw_shape_t)sh, o->rot_step_deg,
                                          &out->rot_shape[sh]);
            if (out->iou_shape[sh] > out->iou_shape[out->best_shape]) out->best_shape = sh;
        }
        out->iou = out->iou_shape[obj.shape];
        out->rot_deg = out->rot_shape[obj.shape];
        out->shape_correct = out->best_shape == (int)obj.shape;
    }
    free(xyz), free(tau), free(rgb), free(occ), free(solid);
    return s;
}

char *vkd_dream_score_json(const vkd_dream_score_t *sc, vkd_sw_object_t obj,
                           const vkd_dream_score_opts_t *o) {
    const vkd_dream_score_opts_t def = vkd_dream_score_opts_default();
    if (!o) o = &def;
    cJSON *j = cJSON_CreateObject(), *per = cJSON_CreateObject();
    if (!j || !per) {
        cJSON_Delete(j), cJSON_Delete(per);
        return NULL;
    }
    cJSON_AddStringToObject(j, "shape", vkd_sw_shape_name(obj.shape));
    cJSON_AddStringToObject(j, "colour", vkd_sw_colour_name(obj.colour));
    cJSON_AddNumberToObject(j, "iou", sc->iou);
    cJSON_AddNumberToObject(j, "rotation_deg", sc->rot_deg);
    cJSON_AddBoolToObject(j, "shape_correct", sc->shape_correct);
    cJSON_AddBoolToObject(j, "colour_correct", sc->colour_correct);
    cJSON_AddStringToObject(j, "best_shape", vkd_sw_shape_name((vkd_sw_shape_t)sc->best_shape));
    cJSON_AddStringToObject(j, "matched_colour",
                            sc->colour < 0 ? "none" : vkd_sw_colour_name((vkd_sw_colour_t)sc->colour));
    cJSON *alb = cJSON_AddArrayToObject(j, "albedo");
    for (int a = 0; a < 3 && alb; a++)
        cJSON_AddItemToArray(alb, isfinite(sc->albedo[a]) ? cJSON_CreateNumber(sc->albedo[a])
                                                          : cJSON_CreateNull());
    for (int sh = 0; sh < VKD_SW_N_SHAPES; sh++)
        cJSON_AddNumberToObject(per, vkd_sw_shape_name((vkd_sw_shape_t)sh), sc->iou_shape[sh]);
    cJSON_AddItemToObject(j, "iou_per_shape", per);
    cJSON_AddNumberToObject(j, "solid_fraction", sc->solid_frac);
    cJSON_AddNumberToObject(j, "iso", sc->iso);
    cJSON_AddNumberToObject(j, "grid", o->grid);
    cJSON_AddNumberToObject(j, "extent", o->extent);
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    return txt;
}
