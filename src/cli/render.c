// `vkdream render`: pictures of a NeRF checkpoint or of a ShapeWorld object without a
// window: a turntable (or one --camera view) per picture mode, tiled into one PNG.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "nerf/checkpoint.h"
#include "nerf/render.h"
#include "shapeworld.h"
#include "viewer.h"

// The row order of `--mode all`, the order the viewer's keys 1-6 use.
static const vkd_vis_t all_modes[] = {VKD_VIS_SHADED,      VKD_VIS_ALBEDO, VKD_VIS_NORMALS,
                                      VKD_VIS_TEXTURELESS, VKD_VIS_DEPTH,  VKD_VIS_OPACITY};
#define N_ALL ((int)(sizeof all_modes / sizeof all_modes[0]))

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream render (CKPT | --shapeworld \"CAPTION\") [options]\n"
            "\n"
            "Writes a PNG grid of turntable views (azimuth 0, 360/N, ...), one row per picture\n"
            "mode. The same cameras and key light serve a NeRF checkpoint and the analytic\n"
            "ShapeWorld object, so a fit and its ground truth compare tile for tile.\n"
            "\n"
            "options:\n"
            "  --shapeworld CAPTION  render the ShapeWorld object (\"a red cube\")\n"
            "  -o FILE               output PNG (render.png)\n"
            "  --mode M              shaded, albedo, normals, textureless, depth, opacity, or\n"
            "                        all: one row per mode in that order (all)\n"
            "  --views N             views around the object, 1..64 (8)\n"
            "  --res R               pixels per view side, 8..1024 (64)\n"
            "  --elevation E         camera elevation in degrees, -89..89 (20)\n"
            "  --camera A,E,D        one view instead of the turntable: azimuth, elevation\n"
            "                        (degrees), distance\n"
            "  --device D            backend of the NeRF: auto, cpu, vulkan, vulkan:N (auto)\n"
            "  -h, --help            this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream render: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

typedef struct {
    vkd_sw_object_t obj;      // when r is NULL
    vkd_nerf_renderer_t *r;   // a NeRF, else the ShapeWorld object
} scene_t;

static vkd_shade_mode_t shade_of(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

// One tile (res, res, 3) of picture vis seen by cam, with the renderers' own depth ranges
// (the object's extent for ShapeWorld, the field's bound for a NeRF) as their turntables use.
static vkd_status_t render_tile(const scene_t *sc, const vkd_camera_t *cam, vkd_vis_t vis,
                                int res, float *buf, float *tile) {
    const size_t px = (size_t)res * res;
    const vkd_render_out_t ro = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    vkd_light_t light;
    vkd_light_key(cam, &light);
    float ext;
    if (sc->r) {
        // step: the IPE covariance the field was trained to (step 0 is the blurriest).
        const int64_t fstep = vkd_nerf_renderer_field(sc->r)->step;
        vkd_nerf_view_t view = {.mode = shade_of(vis), .light = light, .normals = 1,
                                .step = (uint64_t)(fstep > 0 ? fstep : 0)};
        VKD_TRY(vkd_nerf_render_image(sc->r, cam, &view, 2, &ro));
        ext = vkd_nerf_renderer_field(sc->r)->cfg.bound;
    } else {
        VKD_TRY(vkd_sw_render(sc->obj, cam, shade_of(vis), &light, 2, &ro));
        ext = vkd_sw_extent(sc->obj.shape);
    }
    return vkd_vis_compose(vis, &ro, res, res, fmaxf(0.0f, cam->distance - ext),
                           cam->distance + ext, tile);
}

typedef struct {
    const char *out;
    int views, res, n_modes, one_cam;
    float elevation;
    vkd_vis_t modes[N_ALL];
    vkd_view_cam_t cam;
} opts_t;

// Render every (mode, view) tile, tile them one row per mode and write the PNG. A single
// mode keeps its own encoding; a mixed grid is written sRGB-encoded, so the data rows are
// sRGB-decoded first to come out with their raw byte values (to within 8-bit rounding).
static vkd_status_t render_grid(const scene_t *sc, const opts_t *o) {
    const int V = o->one_cam ? 1 : o->views, M = o->n_modes, R = o->res, n = V * M;
    const size_t px = (size_t)R * R;
    float *tiles = malloc(sizeof(float) * px * 3 * n); // (M * V, R, R, 3)
    float *buf = malloc(sizeof(float) * px * 8); // rgb, normal (R, R, 3); opacity, depth (R, R)
    float *grid = NULL;
    vkd_status_t s = tiles && buf ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "render: out of memory");
    for (int v = 0; v < V && !s; v++) {
        vkd_camera_t cam;
        if (o->one_cam)
            s = vkd_view_camera(&o->cam, R, R, &cam);
        else
            s = vkd_camera_orbit(&cam, 360.0f * v / V, o->elevation, 2.0f, 50.0f, R, R);
        for (int m = 0; m < M && !s; m++) {
            float *tile = tiles + (size_t)(m * V + v) * px * 3;
            s = render_tile(sc, &cam, o->modes[m], R, buf, tile);
            if (!s && M > 1 && !vkd_vis_is_colour(o->modes[m]))
                for (size_t i = 0; i < px * 3; i++) tile[i] = vkd_srgb_decode(tile[i]);
        }
    }
    int gh = 0, gw = 0;
    if (!s) {
        vkd_image_grid_size(n, R, R, V, 2, &gh, &gw);
        grid = malloc(sizeof(float) * (size_t)gh * gw * 3);
        s = grid ? vkd_image_grid(tiles, n, R, R, 3, V, 2, NULL, grid)
                 : vkd_fail(VKD_ERR_NOMEM, "render: out of memory for a %dx%d grid", gw, gh);
    }
    if (!s) {
        const int raw = M == 1 && !vkd_vis_is_colour(o->modes[0]);
        s = vkd_image_write_png_ex(o->out, grid, gh, gw, 3, raw ? VKD_PNG_RAW : VKD_PNG_SRGB);
    }
    if (!s) printf("render: wrote %s (%dx%d: %d mode(s) x %d view(s) of %d px)\n", o->out, gw, gh,
                   M, V, R);
    free(tiles), free(buf), free(grid);
    return s;
}

static int render_ckpt(const char *path, const char *device, const opts_t *o) {
    vkd_backend_t *be = NULL;
    vkd_field_t *f = NULL;
    scene_t sc = {0};
    const vkd_backend_opts_t bo = {device, -1, 1};
    int rc = 1;
    if (vkd_backend_create(&bo, &be)) return cli_error(NULL);
    if (vkd_nerf_ckpt_load(path, be, &f, NULL)) goto done;
    const vkd_nerf_renderer_opts_t ro = {.max_rays = 4096};
    if (vkd_nerf_renderer_create(f, &ro, &sc.r)) goto done;
    // Load again into the renderer to restore the occupancy grid (empty-space skipping).
    if (vkd_nerf_ckpt_load_into(path, f, sc.r, NULL)) goto done;
    if (render_grid(&sc, o)) goto done;
    rc = 0;
done:
    if (rc) cli_error(NULL);
    vkd_nerf_renderer_destroy(sc.r);
    vkd_field_destroy(f);
    vkd_backend_destroy(be);
    return rc;
}

int cmd_render(int argc, char **argv) {
    opts_t o = {.out = "render.png", .views = 8, .res = 64, .elevation = 20.0f};
    o.cam = vkd_view_opts_default().cam;
    const char *ckpt = NULL, *caption = NULL, *mode = "all", *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (ckpt) return usage_error("unexpected argument '%s'", a);
            ckpt = a;
            continue;
        }
        static const char *const with_value[] = {"-o",          "--shapeworld", "--mode",
                                                 "--views",     "--res",        "--elevation",
                                                 "--camera",    "--device"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known |= !strcmp(a, with_value[k]);
        if (!known) return usage_error("unknown option '%s'", a);
        if (!v) return usage_error("%s needs a value", a);
        i++;
        if (!strcmp(a, "-o")) o.out = v;
        else if (!strcmp(a, "--shapeworld")) caption = v;
        else if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--views")) {
            if (!cli_parse_double(v, 1, 64, &x) || x != floor(x))
                return usage_error("--views: '%s' is not an integer in 1..64", v);
            o.views = (int)x;
        } else if (!strcmp(a, "--res")) {
            if (!cli_parse_double(v, 8, 1024, &x) || x != floor(x))
                return usage_error("--res: '%s' is not an integer in 8..1024", v);
            o.res = (int)x;
        } else if (!strcmp(a, "--elevation")) {
            if (!cli_parse_double(v, -89, 89, &x))
                return usage_error("--elevation: '%s' is not a number in -89..89", v);
            o.elevation = (float)x;
        } else {
            if (vkd_view_parse_camera(v, &o.cam)) return cli_error(NULL);
            o.one_cam = 1;
        }
    }
    if (!!ckpt == !!caption) return usage_error("%s", "give either CKPT or --shapeworld CAPTION");
    if (!strcmp(mode, "all")) {
        o.n_modes = N_ALL;
        memcpy(o.modes, all_modes, sizeof all_modes);
    } else {
        o.n_modes = 1;
        if (vkd_vis_parse(mode, &o.modes[0])) return cli_error("or --mode all: every mode, a row each");
    }
    if (ckpt) return render_ckpt(ckpt, device, &o);
    scene_t sc = {0};
    if (vkd_sw_parse(caption, &sc.obj, NULL)) return cli_error(NULL);
    if (render_grid(&sc, &o)) return cli_error(NULL);
    return 0;
}
