#include "image.h"

#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

#define MAX_SIDE 65536
#define MAX_PIXELS ((size_t)1 << 28)

float vkd_srgb_encode(float v) {
    if (!(v > 0.0f)) return 0.0f; // also NaN
    if (v >= 1.0f) return 1.0f;
    return v <= 0.0031308f ? 12.92f * v : 1.055f * powf(v, 1.0f / 2.4f) - 0.055f;
}

float vkd_srgb_decode(float e) {
    if (!(e > 0.0f)) return 0.0f;
    if (e >= 1.0f) return 1.0f;
    return e <= 0.04045f ? e / 12.92f : powf((e + 0.055f) / 1.055f, 2.4f);
}

static uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

static vkd_status_t check_shape(const char *what, const char *path, int h, int w, int c) {
    if (h < 1 || w < 1 || h > MAX_SIDE || w > MAX_SIDE || (size_t)h * (size_t)w > MAX_PIXELS)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s '%s': image size %dx%d is outside [1, %d] per side "
                        "or above 2^28 pixels",
                        what, path, w, h, MAX_SIDE);
    if (c != 1 && c != 3 && c != 4)
        return vkd_fail(VKD_ERR_INVALID, "%s '%s': %d channels (1, 3 or 4 supported)", what, path,
                        c);
    return VKD_OK;
}

vkd_status_t vkd_image_write_png(const char *path, const float *img, int h, int w, int c) {
    return vkd_image_write_png_ex(path, img, h, w, c, VKD_PNG_SRGB);
}

vkd_status_t vkd_image_write_png_ex(const char *path, const float *img, int h, int w, int c,
                                    vkd_png_encoding_t enc) {
    if (!path || !img) return vkd_fail(VKD_ERR_INVALID, "writing PNG: NULL path or image");
    VKD_TRY(check_shape("writing PNG", path, h, w, c));
    const size_t n = (size_t)h * w * c;
    uint8_t *bytes = malloc(n);
    if (!bytes) return vkd_fail(VKD_ERR_NOMEM, "writing PNG '%s': out of memory", path);
    for (size_t i = 0; i < n; i++) {
        const int alpha = c == 4 && i % 4 == 3;
        bytes[i] = to_byte(enc == VKD_PNG_SRGB && !alpha ? vkd_srgb_encode(img[i]) : img[i]);
    }
    // Deflate output is at most the input plus a small per-block overhead, so the first
    // try fits in practice; if not, libpng reports the size it needs and we try once more.
    png_alloc_size_t cap = n + (size_t)h + n / 64 + 4096, size = 0;
    void *mem = NULL;
    char msg[sizeof((png_image *)0)->message] = "libpng failed";
    int ok = 0;
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        free(mem);
        mem = malloc(cap);
        if (!mem) break;
        png_image im;
        memset(&im, 0, sizeof im);
        im.version = PNG_IMAGE_VERSION;
        im.width = (png_uint_32)w;
        im.height = (png_uint_32)h;
        im.format = c == 1 ? PNG_FORMAT_GRAY : c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
        size = cap;
        ok = png_image_write_to_memory(&im, mem, &size, 0, bytes, 0, NULL);
        if (!ok && im.message[0]) memcpy(msg, im.message, sizeof msg);
        png_image_free(&im);
        if (!ok && !(size > cap)) break; // a real error, not a short buffer
        cap = size;
    }
    free(bytes);
    if (!ok) {
        const int had_mem = mem != NULL;
        free(mem);
        return had_mem ? vkd_fail(VKD_ERR_FORMAT, "encoding PNG '%s': %s", path, msg)
                       : vkd_fail(VKD_ERR_NOMEM, "writing PNG '%s': out of memory", path);
    }
    const vkd_status_t s = vkd_file_write_atomic(path, mem, size);
    free(mem);
    return s;
}

vkd_status_t vkd_image_read_png(const char *path, vkd_png_encoding_t enc, float **img, int *h,
                                int *w, int *c) {
    if (!path || !img || !h || !w || !c)
        return vkd_fail(VKD_ERR_INVALID, "reading PNG: NULL argument");
    *img = NULL, *h = *w = *c = 0;
    char *buf;
    size_t n;
    VKD_TRY(vkd_file_read_all(path, &buf, &n));
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, buf, n)) {
        vkd_fail(VKD_ERR_FORMAT, "reading '%s': not a valid PNG (%s)", path, im.message);
        png_image_free(&im);
        free(buf);
        return VKD_ERR_FORMAT;
    }
    const png_uint_32 f = im.format;
    const int ch = (f & PNG_FORMAT_FLAG_COLOR) ? ((f & PNG_FORMAT_FLAG_ALPHA) ? 4 : 3)
                                               : ((f & PNG_FORMAT_FLAG_ALPHA) ? 4 : 1);
    if ((size_t)im.width * im.height > MAX_PIXELS) {
        png_image_free(&im);
        free(buf);
        return vkd_fail(VKD_ERR_FORMAT, "reading '%s': %ux%u pixels is too large", path, im.width,
                        im.height);
    }
    im.format = ch == 1 ? PNG_FORMAT_GRAY : ch == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    const size_t count = (size_t)im.width * im.height * ch;
    uint8_t *bytes = malloc(count);
    float *out = malloc(count * sizeof *out);
    if (!bytes || !out) {
        png_image_free(&im);
        free(buf), free(bytes), free(out);
        return vkd_fail(VKD_ERR_NOMEM, "reading '%s': out of memory", path);
    }
    // A NULL background keeps alpha; grey+alpha files come out as RGBA (format chosen above).
    const int ok = png_image_finish_read(&im, NULL, bytes, 0, NULL);
    free(buf);
    if (!ok) {
        vkd_fail(VKD_ERR_FORMAT, "reading '%s': corrupt PNG (%s)", path, im.message);
        png_image_free(&im);
        free(bytes), free(out);
        return VKD_ERR_FORMAT;
    }
    float lut[256];
    for (int i = 0; i < 256; i++)
        lut[i] = enc == VKD_PNG_SRGB ? vkd_srgb_decode(i / 255.0f) : i / 255.0f;
    for (size_t i = 0; i < count; i++)
        out[i] = (ch == 4 && i % 4 == 3) ? bytes[i] / 255.0f : lut[bytes[i]];
    free(bytes);
    *img = out;
    *h = (int)im.height, *w = (int)im.width, *c = ch;
    png_image_free(&im);
    return VKD_OK;
}

void vkd_image_grid_size(int n, int h, int w, int cols, int gap, int *gh, int *gw) {
    if (n < 1) n = 1;
    if (cols <= 0 || cols > n) cols = n;
    if (gap < 0) gap = 0;
    const int rows = (n + cols - 1) / cols;
    *gh = rows * h + (rows - 1) * gap;
    *gw = cols * w + (cols - 1) * gap;
}

vkd_status_t vkd_image_grid(const float *imgs, int n, int h, int w, int c, int cols, int gap,
                            const float *gap_value, float *out) {
    if (!imgs || !out) return vkd_fail(VKD_ERR_INVALID, "image grid: NULL buffer");
    if (n < 1 || gap < 0 || gap > 4096)
        return vkd_fail(VKD_ERR_INVALID,
                        "image grid: %d tiles, gap %d (need >= 1 tile, gap in "
                        "[0, 4096])",
                        n, gap);
    VKD_TRY(check_shape("image grid", "tile", h, w, c));
    if (cols <= 0 || cols > n) cols = n;
    int gh, gw;
    // Checked in 64 bits before the int sizes are used.
    const int64_t rows = (n + cols - 1) / cols;
    const int64_t gh64 = rows * h + (rows - 1) * gap, gw64 = (int64_t)cols * w + (cols - 1) * gap;
    if (gh64 > MAX_SIDE * 16 || gw64 > MAX_SIDE * 16 || (uint64_t)(gh64 * gw64) > MAX_PIXELS)
        return vkd_fail(VKD_ERR_INVALID, "image grid: %lldx%lld pixels is too large",
                        (long long)gw64, (long long)gh64);
    vkd_image_grid_size(n, h, w, cols, gap, &gh, &gw);
    const size_t total = (size_t)gh * gw;
    for (size_t p = 0; p < total; p++)
        for (int k = 0; k < c; k++) out[p * c + k] = gap_value ? gap_value[k] : 1.0f;
    for (int i = 0; i < n; i++) {
        const size_t y0 = (size_t)(i / cols) * (h + gap), x0 = (size_t)(i % cols) * (w + gap);
        const float *src = imgs + (size_t)i * h * w * c; // (h, w, c)
        for (int y = 0; y < h; y++)
            memcpy(out + ((y0 + y) * gw + x0) * c, src + (size_t)y * w * c, sizeof(float) * w * c);
    }
    return VKD_OK;
}
