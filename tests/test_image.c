// PNG writing and reading (sRGB and raw encodings, clamping, channel counts, 16-bit input,
// bad shapes, unwritable paths, corrupt files, no temporary files left behind) and the
// grid helper.
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "image.h"
#include "test_util.h"

static char g_dir[64]; // per-process scratch directory (set up by each case that needs it)

static int make_dir(tctx_t *T) {
    snprintf(g_dir, sizeof g_dir, "/tmp/vkd_test_image_XXXXXX");
    if (!mkdtemp(g_dir)) {
        CHECK(T, 0, "mkdtemp failed");
        return 0;
    }
    return 1;
}

static void remove_dir(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name), unlink(p);
    closedir(d);
    rmdir(g_dir);
}

static int count_temp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void round_trip(tctx_t *T) {
    if (!make_dir(T)) return;
    uint64_t st = T->seed;
    const int chans[3] = {1, 3, 4}, H = 7, W = 13;
    for (int e = 0; e < 2; e++) {
        const vkd_png_encoding_t enc = e ? VKD_PNG_RAW : VKD_PNG_SRGB;
        for (int ci = 0; ci < 3; ci++) {
            const int C = chans[ci];
            const size_t n = (size_t)H * W * C;
            float *x = malloc(sizeof(float) * n), *y = NULL;
            test_fill_uniform(&st, x, n, 0, 1);
            char path[128];
            snprintf(path, sizeof path, "%s/rt_%d_%d.png", g_dir, e, C);
            CHECK_OK(T, vkd_image_write_png_ex(path, x, H, W, C, enc));
            int h, w, c;
            CHECK_OK(T, vkd_image_read_png(path, enc, &y, &h, &w, &c));
            CHECK(T, h == H && w == W && c == C, "shape %dx%dx%d, want %dx%dx%d", h, w, c, H, W, C);
            double worst = 0;
            for (size_t i = 0; i < n && h == H && w == W && c == C; i++) {
                // Compare in the file's domain: within half a byte step.
                const int alpha = C == 4 && i % 4 == 3;
                const double a = enc == VKD_PNG_SRGB && !alpha ? vkd_srgb_encode(x[i]) : x[i];
                const double b = enc == VKD_PNG_SRGB && !alpha ? vkd_srgb_encode(y[i]) : y[i];
                worst = fmax(worst, fabs(a - b));
            }
            CHECK(T, worst <= 0.5 / 255 + 1e-6, "enc %d C %d: round trip off by %g bytes", e, C,
                  worst * 255);
            free(x), free(y);
        }
    }
    // Known values: linear 0.5 is sRGB 0.7354 -> byte 188; clamping; NaN -> 0.
    const float px[6] = {0.5f, -1.0f, 2.0f, NAN, 0.0f, 1.0f};
    char path[128];
    snprintf(path, sizeof path, "%s/known.png", g_dir);
    CHECK_OK(T, vkd_image_write_png(path, px, 1, 2, 3));
    float *y;
    int h, w, c;
    CHECK_OK(T, vkd_image_read_png(path, VKD_PNG_RAW, &y, &h, &w, &c));
    const float want[6] = {188 / 255.0f, 0, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        CHECK(T, fabsf(y[i] - want[i]) < 1e-6f, "byte %d: %g, want %g", i, y[i] * 255,
              want[i] * 255);
    free(y);
    CHECK(T, fabsf(vkd_srgb_decode(vkd_srgb_encode(0.2f)) - 0.2f) < 1e-6f, "sRGB inverse");
    CHECK(T, count_temp_files() == 0, "temporary files left behind");
    remove_dir();
}

// A 16-bit linear RGBA file written directly with libpng is read as 8-bit sRGB RGBA.
static void read_16bit(tctx_t *T) {
    if (!make_dir(T)) return;
    char path[128];
    snprintf(path, sizeof path, "%s/deep.png", g_dir);
    uint16_t px[2 * 4] = {0, 32768, 65535, 65535, 13107, 0, 0, 32768};
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = 2, im.height = 1, im.format = PNG_FORMAT_LINEAR_RGB_ALPHA;
    CHECK(T, png_image_write_to_file(&im, path, 0, px, 0, NULL), "libpng wrote %s", path);
    png_image_free(&im);
    float *y;
    int h, w, c;
    CHECK_OK(T, vkd_image_read_png(path, VKD_PNG_SRGB, &y, &h, &w, &c));
    CHECK(T, h == 1 && w == 2 && c == 4, "16-bit RGBA read as %dx%dx%d", h, w, c);
    // Pixel 0: opaque (0, 0.5, 1); pixel 1: half transparent 0.2 red (premultiplied in
    // linear 16-bit files, so straight 0.4).
    const float want[8] = {0, 0.5f, 1, 1, 0.4f, 0, 0, 0.5f};
    for (int i = 0; i < 8 && c == 4; i++)
        CHECK(T, fabsf(y[i] - want[i]) < 0.01f, "value %d: %g, want %g", i, y[i], want[i]);
    free(y);
    remove_dir();
}

static void errors(tctx_t *T) {
    if (!make_dir(T)) return;
    const float px[12] = {0};
    char path[160];
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", g_dir);
    CHECK(T,
          vkd_image_write_png(path, px, 2, 2, 3) == VKD_ERR_IO && strstr(vkd_last_error(), "x.png"),
          "missing directory: %s", vkd_last_error());
    snprintf(path, sizeof path, "%s/x.png", g_dir);
    CHECK(T,
          vkd_image_write_png(path, px, 2, 2, 2) == VKD_ERR_INVALID &&
              strstr(vkd_last_error(), "channels"),
          "2 channels: %s", vkd_last_error());
    CHECK(T, vkd_image_write_png(path, px, 0, 2, 3) == VKD_ERR_INVALID, "height 0");
    CHECK(T, vkd_image_write_png(path, px, 100000, 1, 1) == VKD_ERR_INVALID, "height 100000");
    float *y;
    int h, w, c;
    CHECK(T, vkd_image_read_png(path, VKD_PNG_SRGB, &y, &h, &w, &c) == VKD_ERR_IO && !y,
          "missing file: %s", vkd_last_error());
    FILE *f = fopen(path, "wb");
    fputs("this is not a PNG file at all", f);
    fclose(f);
    CHECK(T, vkd_image_read_png(path, VKD_PNG_SRGB, &y, &h, &w, &c) == VKD_ERR_FORMAT && !y,
          "garbage: %s", vkd_last_error());
    // A valid PNG cut short.
    CHECK_OK(T, vkd_image_write_png(path, px, 2, 2, 3));
    char *buf;
    size_t n;
    CHECK_OK(T, vkd_file_read_all(path, &buf, &n));
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    free(buf);
    CHECK(T, vkd_image_read_png(path, VKD_PNG_SRGB, &y, &h, &w, &c) == VKD_ERR_FORMAT && !y,
          "truncated: %s", vkd_last_error());
    remove_dir();
}

static void grid(tctx_t *T) {
    // 5 tiles of 2x3 (value = tile index + 1), 3 per row, gap 2.
    const int n = 5, h = 2, w = 3;
    float tiles[5 * 2 * 3];
    for (int i = 0; i < n * h * w; i++) tiles[i] = (float)(i / (h * w) + 1);
    int gh, gw;
    vkd_image_grid_size(n, h, w, 3, 2, &gh, &gw);
    CHECK(T, gh == 2 * 2 + 2 && gw == 3 * 3 + 2 * 2, "grid %dx%d", gw, gh);
    float out[6 * 13];
    const float gap = -1;
    CHECK_OK(T, vkd_image_grid(tiles, n, h, w, 1, 3, 2, &gap, out));
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            const int r = y / (h + 2), cc = x / (w + 2), in = y % (h + 2) < h && x % (w + 2) < w;
            const int t = r * 3 + cc;
            const float want = in && t < n ? (float)(t + 1) : gap;
            CHECK(T, out[y * gw + x] == want, "grid (%d, %d) = %g, want %g", x, y, out[y * gw + x],
                  want);
        }
    vkd_image_grid_size(4, 8, 8, 0, 1, &gh, &gw);
    CHECK(T, gh == 8 && gw == 4 * 8 + 3, "cols 0: one row (%dx%d)", gw, gh);
    CHECK(T, vkd_image_grid(tiles, 0, h, w, 1, 3, 2, NULL, out) == VKD_ERR_INVALID, "0 tiles");
    CHECK(T, vkd_image_grid(tiles, n, h, w, 2, 3, 2, NULL, out) == VKD_ERR_INVALID, "2 channels");
}

static const tcase_t cases[] = {
    TCASE_CPU(round_trip),
    TCASE_CPU(read_16bit),
    TCASE_CPU(errors),
    TCASE_CPU(grid),
};
TEST_MAIN(cases)
