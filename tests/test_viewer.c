// The viewer's window-free pieces: camera parsing and panning, the pixel encoding (which
// must equal what a PNG of the same picture holds, so screenshots compare with offline
// renders), nearest-neighbour scaling and channel order, and the no-display failure.
// tests/test_viewer.sh drives the real window under Xvfb.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "test_util.h"
#include "viewer.h"

static void parse_camera(tctx_t *T) {
    vkd_view_cam_t c = vkd_view_opts_default().cam;
    CHECK_OK(T, vkd_view_parse_camera("-45,30.5,3", &c));
    CHECK(T, c.azimuth_deg == -45.0f && c.elevation_deg == 30.5f && c.distance == 3.0f,
          "parsed %g %g %g", c.azimuth_deg, c.elevation_deg, c.distance);
    const char *bad[] = {"", "1,2", "1,2,3,4", "1,2,x", "0,90,2", "0,-95,2", "0,0,0",
                         "0,0,-1", "nan,0,2", "0,0,inf", "1,2,3 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vkd_status_t s = vkd_view_parse_camera(bad[i], &c);
        CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "--camera"),
              "'%s' accepted (%s)", bad[i], vkd_last_error());
    }
    CHECK(T, vkd_view_parse_camera(NULL, &c) == VKD_ERR_INVALID, "NULL accepted");
}

static void camera_pan(tctx_t *T) {
    vkd_view_cam_t c = {.azimuth_deg = 30, .elevation_deg = 20, .distance = 2, .fovy_deg = 50};
    vkd_camera_t a, b;
    CHECK_OK(T, vkd_view_camera(&c, 64, 48, &a));
    c.target[0] = 0.3f, c.target[1] = -0.2f, c.target[2] = 0.1f;
    CHECK_OK(T, vkd_view_camera(&c, 64, 48, &b));
    for (int k = 0; k < 3; k++) {
        // A pan shifts position and look-at point alike and keeps the orientation.
        CHECK(T, fabsf(b.pos[k] - a.pos[k] - c.target[k]) < 1e-5f, "pos[%d]", k);
        CHECK(T, fabsf(b.forward[k] - a.forward[k]) < 1e-5f, "forward[%d]", k);
        CHECK(T, fabsf(b.up[k] - a.up[k]) < 1e-5f, "up[%d]", k);
    }
    CHECK(T, b.azimuth_deg == 30.0f && b.distance == 2.0f, "orbit coordinates kept");
    c.fovy_deg = 0;
    CHECK(T, vkd_view_camera(&c, 64, 48, &b) == VKD_ERR_INVALID, "fovy 0 accepted");
}

// The bytes the viewer shows are those a PNG of the picture holds, in every mode.
static void pixels_match_png(tctx_t *T) {
    enum { H = 4, W = 64 };
    float img[H * W * 3];
    for (int i = 0; i < H * W * 3; i++) img[i] = (float)(i % 193) / 180.0f - 0.03f; // some <0, >1
    img[5] = NAN;
    char path[] = "/tmp/vkd_test_viewer_XXXXXX";
    const int fd = mkstemp(path);
    CHECK(T, fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    for (int m = 0; m < VKD_VIS_COUNT; m++) {
        const vkd_png_encoding_t enc = vkd_vis_is_colour(m) ? VKD_PNG_SRGB : VKD_PNG_RAW;
        CHECK_OK(T, vkd_image_write_png_ex(path, img, H, W, 3, enc));
        float *back = NULL;
        int h, w, c;
        CHECK_OK(T, vkd_image_read_png(path, VKD_PNG_RAW, &back, &h, &w, &c));
        uint8_t px[H * W * 4];
        vkd_view_to_pixels(img, H, W, (vkd_vis_t)m, px, H, W, W * 4, 0);
        int bad = 0;
        for (int i = 0; i < H * W; i++)
            for (int k = 0; k < 3; k++) {
                const int want = (int)lrintf(back[3 * i + k] * 255.0f);
                bad += px[4 * i + k] != want || vkd_view_byte(img[3 * i + k], m) != want;
            }
        CHECK(T, bad == 0 && h == H && w == W && c == 3, "mode %s: %d bytes differ from the PNG",
              vkd_vis_name(m), bad);
        free(back);
    }
    unlink(path);
}

static void scaling_and_order(tctx_t *T) {
    // A 2 x 2 picture shown in a 5 x 4 (h x w) image with padding: nearest neighbour.
    const float rgb[2 * 2 * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    uint8_t dst[5 * 20];
    memset(dst, 0xab, sizeof dst);
    vkd_view_to_pixels(rgb, 2, 2, VKD_VIS_NORMALS, dst, 5, 4, 20, 1);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 4; x++) {
            const float *src = rgb + ((y * 2 / 5) * 2 + x * 2 / 4) * 3;
            const uint8_t *p = dst + y * 20 + 4 * x;
            CHECK(T, p[0] == src[2] * 255 && p[1] == src[1] * 255 && p[2] == src[0] * 255 &&
                         p[3] == 255,
                  "pixel (%d, %d) = %d %d %d %d", x, y, p[0], p[1], p[2], p[3]);
        }
    for (int y = 0; y < 5; y++) CHECK(T, dst[y * 20 + 16] == 0xab, "padding of row %d written", y);
}

static vkd_status_t never_called(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                                 vkd_vis_t mode, int w, int h, float *rgb) {
    (void)user, (void)cam, (void)light, (void)mode, (void)w, (void)h, (void)rgb;
    return vkd_fail(VKD_ERR_INVALID, "the render callback ran without a window");
}

static void no_display(tctx_t *T) {
    // glfwInit reads DISPLAY: without one the viewer must fail cleanly and say what to do.
    const char *old = getenv("DISPLAY");
    char *saved = old ? strdup(old) : NULL;
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    vkd_view_opts_t o = vkd_view_opts_default();
    const vkd_status_t s = vkd_view_run(&o, NULL, NULL);
    CHECK(T, s == VKD_ERR_INVALID, "no callback accepted");
    o.frames = 0, o.screenshot = "x.png";
    CHECK(T, vkd_view_run(&o, never_called, NULL) == VKD_ERR_INVALID &&
                 strstr(vkd_last_error(), "--frames"),
          "screenshot without frames: %s", vkd_last_error());
    o.screenshot = NULL;
    const vkd_status_t s2 = vkd_view_run(&o, never_called, NULL);
    CHECK(T, s2 == VKD_ERR_UNSUPPORTED && strstr(vkd_last_error(), "vkdream render"),
          "no display: %s (%s)", vkd_status_name(s2), vkd_last_error());
    if (saved) setenv("DISPLAY", saved, 1);
    free(saved);
}

static const tcase_t cases[] = {
    TCASE_CPU(parse_camera),      TCASE_CPU(camera_pan), TCASE_CPU(pixels_match_png),
    TCASE_CPU(scaling_and_order), TCASE_CPU(no_display),
};
TEST_MAIN(cases)
