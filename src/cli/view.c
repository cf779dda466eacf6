// `vkdream view`: the interactive viewer (viewer.h) on a scene: a ShapeWorld object now,
// a NeRF checkpoint through the same render callback once the NeRF renderer lands.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "viewer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream view CKPT [options]\n"
            "       vkdream view --shapeworld \"a red cube\" [options]\n"
            "\n"
            "Opens a window showing the scene, rendered on the host and presented through a\n"
            "Vulkan swapchain. Needs a display server (X11); `vkdream render` writes\n"
            "pictures without one.\n"
            "\n"
            "  mouse: left drag orbit, right drag (or shift + left) pan, wheel zoom\n"
            "  keys:  1-6 shaded, albedo, normals, textureless, depth, opacity;\n"
            "         L move the light with the mouse (again: the camera); R reset camera;\n"
            "         + / - render resolution; S save a screenshot PNG; Esc quit\n"
            "\n"
            "options:\n"
            "  --shapeworld P     view the analytic ShapeWorld object of caption P\n"
            "  --camera A,E,D     start camera: azimuth, elevation (degrees), distance (30,20,2.2)\n"
            "  --mode M           start picture: shaded, albedo, textureless, normals, depth,\n"
            "                     opacity (shaded)\n"
            "  --size WxH         window size (640x480)\n"
            "  --frames N         headless: render N frames at full resolution, then exit\n"
            "  --screenshot FILE  with --frames: write the last frame (read back from the\n"
            "                     swapchain image) to FILE.png\n"
            "  --orbit            with --frames: turn the camera a full circle over the N\n"
            "                     frames, ending at the start camera\n"
            "  --offline FILE     no window: write the picture the viewer would show first\n"
            "                     (same camera, size and encoding) to FILE.png\n"
            "  --supersample K    rays per pixel side, 1..8 (2)\n"
            "  --fps F            frame rate to keep while moving (10)\n"
            "  --shot-dir DIR     where S saves screenshots (.)\n"
            "  --validate         enable the Vulkan validation layer; any message fails the run\n"
            "  -h, --help         this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream view: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

typedef struct {
    vkd_sw_object_t obj;
    int supersample;
} sw_scene_t;

// The render callback for a ShapeWorld object: the analytic renderer in the shading mode
// the picture calls for, then the picture composed from its maps.
static vkd_status_t sw_render(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                              vkd_vis_t mode, int w, int h, float *rgb) {
    const sw_scene_t *sc = user;
    const size_t px = (size_t)w * h;
    float *buf = malloc(px * 8 * sizeof *buf); // rgb 3, normal 3, opacity 1, depth 1
    if (!buf) return vkd_fail(VKD_ERR_NOMEM, "view: out of memory for a %dx%d frame", w, h);
    const vkd_render_out_t r = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    const vkd_shade_mode_t shade = mode == VKD_VIS_ALBEDO        ? VKD_SHADE_ALBEDO
                                   : mode == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                                                 : VKD_SHADE_LIT;
    const float ext = vkd_sw_extent(sc->obj.shape);
    vkd_status_t s = vkd_sw_render(sc->obj, cam, shade, light, sc->supersample, &r);
    if (!s)
        s = vkd_vis_compose(mode, &r, h, w, fmaxf(0.0f, cam->distance - ext),
                            cam->distance + ext, rgb);
    free(buf);
    return s;
}

// The offline picture of the start camera, encoded exactly as the viewer shows it.
static vkd_status_t write_offline(const char *path, const vkd_view_opts_t *o, sw_scene_t *sc) {
    vkd_camera_t cam;
    vkd_light_t light;
    VKD_TRY(vkd_view_camera(&o->cam, o->width, o->height, &cam));
    vkd_light_key(&cam, &light);
    float *img = malloc((size_t)o->width * o->height * 3 * sizeof *img);
    if (!img) return vkd_fail(VKD_ERR_NOMEM, "view --offline: out of memory");
    vkd_status_t s = sw_render(sc, &cam, &light, o->mode, o->width, o->height, img);
    if (!s)
        s = vkd_image_write_png_ex(path, img, o->height, o->width, 3,
                                   vkd_vis_is_colour(o->mode) ? VKD_PNG_SRGB : VKD_PNG_RAW);
    free(img);
    return s;
}

int cmd_view(int argc, char **argv) {
    vkd_view_opts_t o = vkd_view_opts_default();
    const char *ckpt = NULL, *caption = NULL, *offline = NULL;
    sw_scene_t sc = {.supersample = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--orbit")) {
            o.orbit = 1;
            continue;
        }
        if (!strcmp(a, "--validate")) {
            o.validation = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            if (!v) return usage_error("option %s needs a value", a);
            i++;
        }
        if (!strcmp(a, "--shapeworld")) caption = v;
        else if (!strcmp(a, "--camera")) {
            if (vkd_view_parse_camera(v, &o.cam)) return cli_error(NULL);
        } else if (!strcmp(a, "--mode")) {
            if (vkd_vis_parse(v, &o.mode)) return cli_error(NULL);
        } else if (!strcmp(a, "--size")) {
            int used = 0;
            if (sscanf(v, "%dx%d%n", &o.width, &o.height, &used) != 2 || v[used] ||
                o.width < 8 || o.height < 8 || o.width > 8192 || o.height > 8192)
                return usage_error("--size '%s': expected WxH, each 8..8192", v);
        } else if (!strcmp(a, "--frames")) {
            if (!cli_parse_int(v, 1, 1000000, &o.frames))
                return usage_error("--frames '%s': expected an integer 1..1000000", v);
        } else if (!strcmp(a, "--screenshot")) o.screenshot = v;
        else if (!strcmp(a, "--offline")) offline = v;
        else if (!strcmp(a, "--supersample")) {
            if (!cli_parse_int(v, 1, 8, &sc.supersample))
                return usage_error("--supersample '%s': expected an integer 1..8", v);
        } else if (!strcmp(a, "--fps")) {
            int fps;
            if (!cli_parse_int(v, 1, 240, &fps)) return usage_error("--fps '%s': expected 1..240", v);
            o.target_fps = (float)fps;
        } else if (!strcmp(a, "--shot-dir")) o.shot_dir = v;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option %s", a);
        else if (!ckpt) ckpt = a;
        else return usage_error("unexpected argument '%s'", a);
    }
    if (o.screenshot && !o.frames) return usage_error("%s needs --frames N", "--screenshot");
    if (o.orbit && !o.frames) return usage_error("%s needs --frames N", "--orbit");
    if (!caption && !ckpt) return usage_error("%s", "nothing to view: give CKPT or --shapeworld P");
    if (caption && ckpt) return usage_error("%s", "give CKPT or --shapeworld P, not both");
    if (ckpt) {
        fprintf(stderr,
                "vkdream view: %s: viewing NeRF checkpoints is not in this build yet (the NeRF "
                "renderer plugs into the viewer's render callback when it lands); "
                "--shapeworld \"a red cube\" views an analytic object\n",
                ckpt);
        return 1;
    }
    if (vkd_sw_parse(caption, &sc.obj, NULL)) return cli_error(NULL);
    o.prompt = caption;
    if (offline) {
        if (write_offline(offline, &o, &sc)) return cli_error(NULL);
        printf("view: wrote %s\n", offline);
        return 0;
    }
    vkd_status_t s = vkd_view_run(&o, sw_render, &sc);
    if (s) return cli_error(NULL);
    if (o.screenshot) printf("view: wrote %s\n", o.screenshot);
    return 0;
}
