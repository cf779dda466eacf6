// `vkdream judge IMAGE.png...`: names the ShapeWorld object (shape, colour) in each image or
// in each tile of a grid, with the judge of src/judge.h (no prior involved).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "judge.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream judge [options] IMAGE.png...\n"
            "\n"
            "Names the shape and colour of the single ShapeWorld object in each image (linear\n"
            "RGB over the ShapeWorld background, sRGB-encoded in the PNG), from its silhouette\n"
            "and shading matched against ShapeWorld renders and its colour matched to the palette\n"
            "in CIELAB. Grey (textureless) objects get no colour; images with no object are\n"
            "\"empty\".\n"
            "\n"
            "options:\n"
            "  --json            print one JSON array of verdicts instead of one line each\n"
            "  --tile N          the image is a grid of N x N tiles (a sample grid, a turntable):\n"
            "                    judge each; blank (white) cells are skipped\n"
            "  --gap G           pixels between grid tiles (2, as vkdream writes grids)\n"
            "  -h, --help        this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream judge: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

// img (h, w, c) of a PNG -> rgb (h, w, 3) linear: grey replicated, alpha composited over
// the ShapeWorld background (what a transparent pixel of a ShapeWorld render shows).
static float *to_rgb(const float *img, int h, int w, int c) {
    float *rgb = malloc(sizeof(float) * 3 * (size_t)h * w);
    if (!rgb) return NULL;
    const float *bg = vkd_sw_background();
    for (size_t p = 0; p < (size_t)h * w; p++)
        for (int k = 0; k < 3; k++) {
            const float v = img[p * c + (c >= 3 ? k : 0)];
            const float a = c == 4 ? img[p * c + 3] : 1.0f;
            rgb[3 * p + k] = a * v + (1 - a) * bg[k];
        }
    return rgb;
}

// 1 when every pixel of the tile is white: an empty cell of a grid, not an image.
static int blank_tile(const float *t, int n) {
    for (int i = 0; i < 3 * n; i++)
        if (t[i] < 0.99f) return 0;
    return 1;
}

static cJSON *verdict_json(const char *file, int tile, const vkd_judge_verdict_t *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", file);
    if (tile >= 0) cJSON_AddNumberToObject(o, "tile", tile);
    cJSON_AddBoolToObject(o, "empty", v->empty);
    cJSON_AddNumberToObject(o, "fg_fraction", v->fg_fraction);
    if (v->empty) return o;
    cJSON_AddStringToObject(o, "shape", vkd_sw_shape_name(v->shape));
    if (v->achromatic)
        cJSON_AddNullToObject(o, "colour");
    else
        cJSON_AddStringToObject(o, "colour", vkd_sw_colour_name(v->colour));
    cJSON_AddBoolToObject(o, "achromatic", v->achromatic);
    cJSON *ss = cJSON_AddObjectToObject(o, "shape_score");
    for (int s = 0; s < VKD_SW_N_SHAPES; s++)
        cJSON_AddNumberToObject(ss, vkd_sw_shape_name((vkd_sw_shape_t)s), v->shape_score[s]);
    cJSON *cd = cJSON_AddObjectToObject(o, "colour_dist");
    for (int c = 0; c < VKD_SW_N_COLOURS; c++)
        cJSON_AddNumberToObject(cd, vkd_sw_colour_name((vkd_sw_colour_t)c), v->colour_dist[c]);
    cJSON_AddNumberToObject(cd, "grey", v->grey_dist);
    return o;
}

void cli_judge_print(FILE *f, const char *label, const vkd_judge_verdict_t *v) {
    if (v->empty) {
        fprintf(f, "%s: empty (foreground %.1f%%)\n", label, 100.0 * v->fg_fraction);
        return;
    }
    int second = v->shape == 0 ? 1 : 0;
    for (int s = 0; s < VKD_SW_N_SHAPES; s++)
        if (s != (int)v->shape && v->shape_score[s] > v->shape_score[second]) second = s;
    fprintf(f, "%s: %s %s (shape score %.3f, next %s %.3f; colour distance %.1f%s)\n", label,
            v->achromatic ? "grey" : vkd_sw_colour_name(v->colour), vkd_sw_shape_name(v->shape),
            (double)v->shape_score[v->shape], vkd_sw_shape_name((vkd_sw_shape_t)second),
            (double)v->shape_score[second],
            (double)(v->achromatic ? v->grey_dist : v->colour_dist[v->colour]),
            v->achromatic ? ", textureless: no colour" : "");
}

// Judges one file (all its tiles) into arr (JSON) or stdout. The bank (*j) is built on
// first use, so a command that fails on its first file does not wait for it.
static vkd_status_t judge_file(vkd_judge_t **j, const char *path, int tile, int gap, cJSON *arr) {
    float *img = NULL;
    int h, w, c;
    VKD_TRY(vkd_image_read_png(path, VKD_PNG_SRGB, &img, &h, &w, &c));
    float *rgb = to_rgb(img, h, w, c);
    free(img);
    if (!rgb) return vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", path);
    int cols = 1, rows = 1, th = h, tw = w;
    if (tile > 0) {
        cols = (w + gap) / (tile + gap), rows = (h + gap) / (tile + gap), th = tw = tile;
        if (cols < 1 || rows < 1 || cols * tile + (cols - 1) * gap != w ||
            rows * tile + (rows - 1) * gap != h) {
            free(rgb);
            return vkd_fail(VKD_ERR_INVALID,
                            "%s: a %dx%d image is not a grid of %d-pixel tiles with %d-pixel gaps "
                            "(check --tile and --gap)", path, w, h, tile, gap);
        }
    }
    float *t = malloc(sizeof(float) * 3 * (size_t)th * tw);
    vkd_status_t s = t ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; s == VKD_OK && i < rows * cols; i++) {
        const int y0 = (i / cols) * (th + gap), x0 = (i % cols) * (tw + gap);
        for (int y = 0; y < th; y++)
            memcpy(t + 3 * (size_t)y * tw, rgb + 3 * ((size_t)(y0 + y) * w + x0),
                   sizeof(float) * 3 * tw);
        if (tile > 0 && blank_tile(t, th * tw)) continue;
        if (!*j && (s = vkd_judge_create(VKD_JUDGE_SEED_DEFAULT, j)) != VKD_OK) break;
        vkd_judge_verdict_t v;
        s = vkd_judge_image(*j, t, th, tw, &v);
        if (s != VKD_OK) {
            vkd_fail_ctx(s, "%s", path);
            break;
        }
        if (arr) {
            cJSON_AddItemToArray(arr, verdict_json(path, tile > 0 ? i : -1, &v));
        } else {
            char label[4200];
            if (tile > 0) snprintf(label, sizeof label, "%s[%d]", path, i);
            else snprintf(label, sizeof label, "%s", path);
            cli_judge_print(stdout, label, &v);
        }
    }
    free(t);
    free(rgb);
    return s;
}

int cmd_judge(int argc, char **argv) {
    int json = 0, tile = 0, gap = 2, nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(f, "--json")) {
            json = 1;
        } else if (!strcmp(f, "--tile") || !strcmp(f, "--gap")) {
            if (i + 1 >= argc) return usage_error("option %s needs a value", f);
            const char *v = argv[++i];
            if (!strcmp(f, "--tile") ? !cli_parse_int(v, 8, 1024, &tile)
                                     : !cli_parse_int(v, 0, 1024, &gap))
                return usage_error(!strcmp(f, "--tile") ? "--tile: '%s' is not a tile side in 8..1024"
                                                        : "--gap: '%s' is not a count in 0..1024", v);
        } else if (f[0] == '-' && f[1]) {
            return usage_error("unknown option '%s'", f);
        } else {
            nfiles++;
        }
    }
    if (!nfiles) return usage_error("%s", "no IMAGE given");
    vkd_judge_t *j = NULL;
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    vkd_status_t s = VKD_OK;
    for (int i = 1; s == VKD_OK && i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--tile") || !strcmp(f, "--gap")) {
            i++;
            continue;
        }
        if (f[0] == '-' && f[1]) continue;
        s = judge_file(&j, f, tile, gap, arr);
    }
    if (s == VKD_OK && arr) {
        char *txt = cJSON_Print(arr);
        if (txt) printf("%s\n", txt);
        else s = vkd_fail(VKD_ERR_NOMEM, "judge: out of memory for the JSON output");
        free(txt);
    }
    cJSON_Delete(arr);
    vkd_judge_free(j);
    return s == VKD_OK ? 0 : cli_error(NULL);
}
