// `vkdream view`: the interactive viewer (viewer.h) on a scene: a NeRF checkpoint (the
// NeRF renderer on the chosen backend, images read back to the host), an exported mesh
// (.glb, ray cast on the CPU: viewer_mesh.h) or an analytic ShapeWorld object. All three
// produce the same render outputs and go through the same picture composition as
// `vkdream render`, so a viewer screenshot and `vkdream render --camera` of the same camera
// match.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "image.h"
#include "nerf/checkpoint.h"
#include "nerf/render.h"
#include "viewer.h"
#include "viewer_mesh.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream view CKPT [options]          a NeRF checkpoint (.safetensors)\n"
            "       vkdream view MESH.glb [options]      an exported mesh\n"
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
            "  While the view moves the resolution drops to keep --fps; when it stops, the\n"
            "  next frame is at full resolution.\n"
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
            "  --supersample K    rays per pixel side: 1..8 for ShapeWorld, 1..4 otherwise\n"
            "                     (2; a checkpoint: 1, the NeRF is the slow one)\n"
            "  --device D         backend of the NeRF: auto, cpu, vulkan, vulkan:N (auto)\n"
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

typedef enum { SCENE_SHAPEWORLD, SCENE_NERF, SCENE_MESH } scene_kind_t;

typedef struct {
    scene_kind_t kind;
    vkd_sw_object_t obj;       // SCENE_SHAPEWORLD
    vkd_nerf_renderer_t *nerf; // SCENE_NERF
    vkd_view_mesh_t *mesh;     // SCENE_MESH
    int supersample;
} scene_t;

static vkd_shade_mode_t shade_of(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO        ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

// The render callback: the scene's renderer in the shading mode the picture calls for,
// then the picture composed from its maps with the depth range `vkdream render` uses (the
// object's extent around the camera distance).
static vkd_status_t scene_render(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                                 vkd_vis_t mode, int w, int h, float *rgb) {
    const scene_t *sc = user;
    const size_t px = (size_t)w * h;
    float *buf = malloc(px * 8 * sizeof *buf); // rgb 3, normal 3, opacity 1, depth 1
    if (!buf) return vkd_fail(VKD_ERR_NOMEM, "view: out of memory for a %dx%d frame", w, h);
    const vkd_render_out_t r = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    const vkd_shade_mode_t shade = shade_of(mode);
    float ext = 1.0f;
    vkd_status_t s = VKD_OK;
    if (sc->kind == SCENE_NERF) {
        const vkd_field_t *f = vkd_nerf_renderer_field(sc->nerf);
        // The field as trained: evaluation rays (no jitter) at the IPE covariance of its
        // own step, like `vkdream render`.
        const vkd_nerf_view_t view = {.mode = shade, .light = *light, .jitter = 0,
                                      .step = (uint64_t)(f->step > 0 ? f->step : 0),
                                      .normals = mode == VKD_VIS_NORMALS};
        s = vkd_nerf_render_image(sc->nerf, cam, &view, sc->supersample, &r);
        ext = f->cfg.bound;
    } else if (sc->kind == SCENE_MESH) {
        s = vkd_view_mesh_render(sc->mesh, cam, shade, light, vkd_sw_background(),
                                 sc->supersample, &r);
        ext = vkd_view_mesh_extent(sc->mesh);
    } else {
        s = vkd_sw_render(sc->obj, cam, shade, light, sc->supersample, &r);
        ext = vkd_sw_extent(sc->obj.shape);
    }
    if (!s)
        s = vkd_vis_compose(mode, &r, h, w, fmaxf(0.0f, cam->distance - ext),
                            cam->distance + ext, rgb);
    free(buf);
    return s;
}

// The offline picture of the start camera, encoded exactly as the viewer shows it.
static vkd_status_t write_offline(const char *path, const vkd_view_opts_t *o, scene_t *sc) {
    vkd_camera_t cam;
    vkd_light_t light;
    VKD_TRY(vkd_view_camera(&o->cam, o->width, o->height, &cam));
    vkd_light_key(&cam, &light);
    float *img = malloc((size_t)o->width * o->height * 3 * sizeof *img);
    if (!img) return vkd_fail(VKD_ERR_NOMEM, "view --offline: out of memory");
    vkd_status_t s = scene_render(sc, &cam, &light, o->mode, o->width, o->height, img);
    if (!s)
        s = vkd_image_write_png_ex(path, img, o->height, o->width, 3,
                                   vkd_vis_is_colour(o->mode) ? VKD_PNG_SRGB : VKD_PNG_RAW);
    free(img);
    return s;
}

static int has_ext(const char *path, const char *ext) {
    const size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

typedef struct {
    vkd_backend_t *be;
    vkd_field_t *field;
    char title[1100];
} owned_t;

// Load what `source` names into sc: a .glb mesh or a NeRF checkpoint.
static vkd_status_t load_scene(const char *source, const char *device, scene_t *sc, owned_t *own) {
    if (has_ext(source, ".obj") || has_ext(source, ".ply"))
        return vkd_fail(VKD_ERR_UNSUPPORTED, "view %s: the viewer shows .glb meshes (and NeRF "
                        "checkpoints); export the mesh as .glb (vkdream export CKPT -o mesh.glb)",
                        source);
    if (has_ext(source, ".glb") || has_ext(source, ".gltf")) {
        vkd_mesh_t m;
        VKD_TRY(vkd_glb_read(source, &m));
        VKD_TRY(vkd_view_mesh_create(&m, &sc->mesh));
        sc->kind = SCENE_MESH;
        snprintf(own->title, sizeof own->title, "%s (mesh, %d faces)", source,
                 vkd_view_mesh_faces(sc->mesh));
        return VKD_OK;
    }
    const vkd_backend_opts_t bo = {device, -1, 1};
    vkd_nerf_ckpt_meta_t meta;
    VKD_TRY(vkd_backend_create(&bo, &own->be));
    VKD_TRY(vkd_nerf_ckpt_load(source, own->be, &own->field, &meta));
    // 4096 rays as `vkdream render` uses: lavapipe binds at most 128 MiB per buffer, and
    // 16384 rays of 48 samples exceed that in the IPE kernel.
    const vkd_nerf_renderer_opts_t ro = {.max_rays = 4096};
    VKD_TRY(vkd_nerf_renderer_create(own->field, &ro, &sc->nerf));
    // Again into the renderer: restores the occupancy grid (empty-space skipping).
    VKD_TRY(vkd_nerf_ckpt_load_into(source, own->field, sc->nerf, NULL));
    sc->kind = SCENE_NERF;
    snprintf(own->title, sizeof own->title, "%s", meta.prompt[0] ? meta.prompt : source);
    return VKD_OK;
}

int cmd_view(int argc, char **argv) {
    vkd_view_opts_t o = vkd_view_opts_default();
    const char *source = NULL, *caption = NULL, *offline = NULL, *device = NULL;
    scene_t sc = {.supersample = 0};
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
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--supersample")) {
            if (!cli_parse_int(v, 1, 8, &sc.supersample))
                return usage_error("--supersample '%s': expected an integer 1..8", v);
        } else if (!strcmp(a, "--fps")) {
            int fps;
            if (!cli_parse_int(v, 1, 240, &fps)) return usage_error("--fps '%s': expected 1..240", v);
            o.target_fps = (float)fps;
        } else if (!strcmp(a, "--shot-dir")) o.shot_dir = v;
        else if (a[0] == '-' && a[1]) return usage_error("unknown option %s", a);
        else if (!source) source = a;
        else return usage_error("unexpected argument '%s'", a);
    }
    if (o.screenshot && !o.frames) return usage_error("%s needs --frames N", "--screenshot");
    if (o.orbit && !o.frames) return usage_error("%s needs --frames N", "--orbit");
    if (!caption && !source)
        return usage_error("%s", "nothing to view: give CKPT, MESH.glb or --shapeworld P");
    if (caption && source) return usage_error("%s", "give CKPT, MESH.glb or --shapeworld P, not one more");
    if (caption && device) return usage_error("%s", "--device applies to a checkpoint");
    owned_t own = {0};
    int rc = 1;
    vkd_status_t s;
    if (caption) {
        s = vkd_sw_parse(caption, &sc.obj, NULL);
        sc.kind = SCENE_SHAPEWORLD;
        snprintf(own.title, sizeof own.title, "%s", caption);
    } else {
        s = load_scene(source, device, &sc, &own);
    }
    if (!sc.supersample) sc.supersample = sc.kind == SCENE_NERF ? 1 : 2;
    if (!s && sc.kind != SCENE_SHAPEWORLD && sc.supersample > 4)
        s = vkd_fail(VKD_ERR_INVALID, "--supersample %d: at most 4 for a checkpoint or mesh",
                     sc.supersample);
    o.prompt = own.title;
    if (!s && offline) {
        s = write_offline(offline, &o, &sc);
        if (!s) printf("view: wrote %s\n", offline);
    } else if (!s) {
        s = vkd_view_run(&o, scene_render, &sc);
        if (!s && o.screenshot) printf("view: wrote %s\n", o.screenshot);
    }
    if (!s) rc = 0;
    else cli_error(NULL);
    vkd_view_mesh_destroy(sc.mesh);
    vkd_nerf_renderer_destroy(sc.nerf);
    vkd_field_destroy(own.field);
    vkd_backend_destroy(own.be);
    return rc;
}
