// Float images <-> 8-bit PNG files (libpng's simplified API), and tiling images into a grid.
//
// Images in memory are float (H, W, C), row 0 at the top, C = 1 (grey), 3 (RGB) or 4
// (RGBA, straight alpha). Colour images hold LINEAR values (the renderers shade in linear
// light), so by default vkd_image_write_png sRGB-encodes the colour channels (alpha stays
// linear, as PNG defines it) and the reader decodes them again: a PNG then looks right in
// any viewer, and write + read returns each value to within half an 8-bit sRGB step.
// Data pictures (normal, depth, opacity maps) are written with VKD_PNG_RAW: value * 255 as
// it is. Values are clamped to [0, 1] and NaN is written as 0. Writes are atomic (fileio.h).
#ifndef VKD_IMAGE_H
#define VKD_IMAGE_H

#include "status.h"

typedef enum {
    VKD_PNG_SRGB = 0, // linear values, sRGB-encoded in the file
    VKD_PNG_RAW,      // values stored as they are (byte = round(255 v))
} vkd_png_encoding_t;

// Write img (h, w, c) to path, sRGB-encoded. VKD_ERR_INVALID on a bad shape (h, w in
// [1, 65536], c in {1, 3, 4}), VKD_ERR_IO (naming the path) when it cannot be written.
vkd_status_t vkd_image_write_png(const char *path, const float *img, int h, int w, int c);
vkd_status_t vkd_image_write_png_ex(const char *path, const float *img, int h, int w, int c,
                                    vkd_png_encoding_t enc);

// Read a PNG into *img (h, w, c) malloc'd (free it), decoded with enc. Grey files give c = 1,
// grey+alpha and RGBA c = 4, RGB c = 3; 16-bit and palette files are converted to 8 bits
// first. VKD_ERR_IO when the file cannot be read, VKD_ERR_FORMAT when it is not a valid
// PNG or is larger than 2^28 pixels.
vkd_status_t vkd_image_read_png(const char *path, vkd_png_encoding_t enc, float **img, int *h,
                                int *w, int *c);

// The size of a grid of n tiles (h, w) with `cols` per row (cols <= 0 or > n: one row) and
// `gap` pixels between tiles (none at the border).
void vkd_image_grid_size(int n, int h, int w, int cols, int gap, int *gh, int *gw);
// Tile imgs (n, h, w, c) into out (gh, gw, c), row-major: tile i at row i / cols, column
// i % cols. Gaps and empty cells get gap_value (c values; NULL: all ones, white).
// VKD_ERR_INVALID on a bad shape or a grid above 2^28 pixels.
vkd_status_t vkd_image_grid(const float *imgs, int n, int h, int w, int c, int cols, int gap,
                            const float *gap_value, float *out);

// sRGB transfer functions (IEC 61966-2-1), for callers comparing against PNG data.
float vkd_srgb_encode(float linear);
float vkd_srgb_decode(float encoded);

#endif
