// The viewer's window, input handling, adaptive resolution and frame loop (viewer.h).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include "image.h"
#include "viewer.h"

#define DEG (3.14159265358979f / 180.0f)
#define MIN_SCALE 0.0625f
#define N_LEVELS 4
static const float k_levels[N_LEVELS] = {0.125f, 0.25f, 0.5f, 1.0f}; // +/- steps

vkd_view_opts_t vkd_view_opts_default(void) {
    vkd_view_opts_t o = {0};
    o.prompt = "";
    o.width = 640, o.height = 480;
    o.cam.azimuth_deg = 30, o.cam.elevation_deg = 20, o.cam.distance = 2.2f;
    o.cam.fovy_deg = 50;
    o.mode = VKD_VIS_SHADED;
    o.target_fps = 10;
    o.shot_dir = ".";
    o.live_budget = 0.1f, o.live_budget_moving = 0.35f;
    return o;
}

vkd_status_t vkd_view_parse_camera(const char *s, vkd_view_cam_t *cam) {
    float v[3];
    int used = 0;
    if (!s || sscanf(s, "%f,%f,%f%n", &v[0], &v[1], &v[2], &used) != 3 || s[used] != '\0')
        return vkd_fail(VKD_ERR_INVALID,
                        "--camera '%s': expected AZ,EL,DIST (degrees, degrees, scene units), "
                        "e.g. 30,20,2.2",
                        s ? s : "(null)");
    if (!isfinite(v[0]) || !(fabsf(v[1]) < 90.0f) || !(v[2] > 0.0f) || !(v[2] < 1e4f))
        return vkd_fail(VKD_ERR_INVALID,
                        "--camera '%s': elevation must be within (-90, 90) and distance within "
                        "(0, 10000)",
                        s);
    cam->azimuth_deg = v[0], cam->elevation_deg = v[1], cam->distance = v[2];
    return VKD_OK;
}

vkd_status_t vkd_view_camera(const vkd_view_cam_t *c, int w, int h, vkd_camera_t *out) {
    VKD_TRY(vkd_camera_orbit(out, c->azimuth_deg, c->elevation_deg, c->distance, c->fovy_deg, w,
                             h));
    if (c->target[0] == 0 && c->target[1] == 0 && c->target[2] == 0) return VKD_OK;
    // Panning moves the whole orbit: same viewing direction and up, shifted look-at point.
    float pos[3], up[3];
    for (int k = 0; k < 3; k++) pos[k] = out->pos[k] + c->target[k], up[k] = out->up[k];
    const float az = out->azimuth_deg, el = out->elevation_deg, d = out->distance;
    VKD_TRY(vkd_camera_init(out, pos, c->target, up, c->fovy_deg, w, h));
    out->azimuth_deg = az, out->elevation_deg = el, out->distance = d;
    return VKD_OK;
}

uint8_t vkd_view_byte(float v, vkd_vis_t mode) {
    if (vkd_vis_is_colour(mode)) v = vkd_srgb_encode(v);
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

void vkd_view_to_pixels(const float *rgb, int rh, int rw, vkd_vis_t mode, uint8_t *dst, int h,
                        int w, size_t stride, int bgr) {
    // A lookup table over the 8-bit output: encoding every value with powf would cost as
    // much as a cheap render. Bisect the table of byte thresholds instead.
    float edge[256]; // edge[b]: smallest value that maps to byte >= b (b >= 1)
    for (int b = 1; b < 256; b++) {
        float lo = 0.0f, hi = 1.0f;
        for (int it = 0; it < 30; it++) {
            const float mid = 0.5f * (lo + hi);
            if (vkd_view_byte(mid, mode) >= b) hi = mid;
            else lo = mid;
        }
        edge[b] = hi;
    }
    for (int y = 0; y < h; y++) {
        const int sy = (int)(((int64_t)y * rh) / h);
        uint8_t *row = dst + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            const int sx = (int)(((int64_t)x * rw) / w);
            const float *px = rgb + ((size_t)sy * rw + sx) * 3;
            uint8_t c[3];
            for (int k = 0; k < 3; k++) {
                const float v = px[k];
                int lo = 0, hi = 255; // largest b with edge[b] <= v
                if (!(v >= edge[1])) hi = 0;
                while (lo < hi) {
                    const int mid = (lo + hi + 1) / 2;
                    if (edge[mid] <= v) lo = mid;
                    else hi = mid - 1;
                }
                c[k] = (uint8_t)lo;
            }
            row[4 * x + 0] = bgr ? c[2] : c[0];
            row[4 * x + 1] = c[1];
            row[4 * x + 2] = bgr ? c[0] : c[2];
            row[4 * x + 3] = 255;
        }
    }
}

// ---- the interactive state --------------------------------------------------------------
typedef struct {
    const vkd_view_opts_t *opts;
    vkd_view_cam_t cam;
    vkd_vis_t mode;
    int light_edit;   // mouse drags move the light
    int light_custom; // light placed by the user (else the key light of the camera)
    float light_az, light_el, light_dist;
    int level;     // index into k_levels: the full-resolution scale
    float scale;   // current render scale while moving
    double last_input;
    int dirty;     // something changed since the last frame
    int full_done; // the last frame was at full scale and nothing changed since
    int shot;      // S pressed: save the next frame
    int quit;
    double mx, my; // last cursor position
    int drag_orbit, drag_pan;
    float last_scale; // scale and time of the last frame shown (0: none yet)
    double last_ms;
    const char *status; // live views: the owner's line for the title bar (else NULL)
} view_state_t;

static void touch(view_state_t *st) {
    st->dirty = 1;
    st->full_done = 0;
    st->last_input = glfwGetTime();
}

static void current_light(const view_state_t *st, const vkd_camera_t *cam, vkd_light_t *l) {
    vkd_light_key(cam, l);
    if (!st->light_custom) return;
    const float ce = cosf(st->light_el * DEG);
    l->pos[0] = st->cam.target[0] + st->light_dist * ce * sinf(st->light_az * DEG);
    l->pos[1] = st->cam.target[1] + st->light_dist * sinf(st->light_el * DEG);
    l->pos[2] = st->cam.target[2] + st->light_dist * ce * cosf(st->light_az * DEG);
}

static void on_key(GLFWwindow *win, int key, int scancode, int action, int mods) {
    (void)scancode, (void)mods;
    view_state_t *st = glfwGetWindowUserPointer(win);
    if (action != GLFW_PRESS && action != GLFW_REPEAT) return;
    static const vkd_vis_t by_digit[6] = {VKD_VIS_SHADED,      VKD_VIS_ALBEDO, VKD_VIS_NORMALS,
                                          VKD_VIS_TEXTURELESS, VKD_VIS_DEPTH,  VKD_VIS_OPACITY};
    if (key >= GLFW_KEY_1 && key <= GLFW_KEY_6) st->mode = by_digit[key - GLFW_KEY_1];
    else if (key >= GLFW_KEY_KP_1 && key <= GLFW_KEY_KP_6) st->mode = by_digit[key - GLFW_KEY_KP_1];
    else if (key == GLFW_KEY_ESCAPE) st->quit = 1;
    else if (key == GLFW_KEY_R) {
        st->cam = st->opts->cam;
        st->light_custom = st->light_edit = 0;
    } else if (key == GLFW_KEY_L) {
        st->light_edit = !st->light_edit;
        if (st->light_edit && !st->light_custom) {
            // Start from where the key light is now, so the picture does not jump.
            vkd_camera_t cam;
            vkd_light_t l;
            if (vkd_view_camera(&st->cam, 8, 8, &cam) != VKD_OK) return;
            vkd_light_key(&cam, &l);
            float d[3];
            for (int k = 0; k < 3; k++) d[k] = l.pos[k] - st->cam.target[k];
            st->light_dist = sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
            st->light_el = asinf(d[1] / (st->light_dist > 0 ? st->light_dist : 1)) / DEG;
            st->light_az = atan2f(d[0], d[2]) / DEG;
            st->light_custom = 1;
        }
    } else if (key == GLFW_KEY_EQUAL || key == GLFW_KEY_KP_ADD) {
        if (st->level < N_LEVELS - 1) st->level++;
        st->scale = k_levels[st->level];
    } else if (key == GLFW_KEY_MINUS || key == GLFW_KEY_KP_SUBTRACT) {
        if (st->level > 0) st->level--;
        st->scale = k_levels[st->level];
    } else if (key == GLFW_KEY_S) st->shot = 1;
    else return;
    touch(st);
}

static void on_button(GLFWwindow *win, int button, int action, int mods) {
    view_state_t *st = glfwGetWindowUserPointer(win);
    const int down = action == GLFW_PRESS;
    glfwGetCursorPos(win, &st->mx, &st->my);
    if (button == GLFW_MOUSE_BUTTON_LEFT) {
        st->drag_orbit = down && !(mods & GLFW_MOD_SHIFT);
        st->drag_pan = down && (mods & GLFW_MOD_SHIFT);
    } else if (button == GLFW_MOUSE_BUTTON_RIGHT || button == GLFW_MOUSE_BUTTON_MIDDLE) {
        st->drag_pan = down;
    }
}

static void on_cursor(GLFWwindow *win, double x, double y) {
    view_state_t *st = glfwGetWindowUserPointer(win);
    const float dx = (float)(x - st->mx), dy = (float)(y - st->my);
    st->mx = x, st->my = y;
    if (!st->drag_orbit && !st->drag_pan) return;
    if (st->drag_orbit && st->light_edit) {
        st->light_az = fmodf(st->light_az - 0.4f * dx, 360.0f);
        st->light_el = fmaxf(-89.0f, fminf(89.0f, st->light_el + 0.4f * dy));
    } else if (st->drag_orbit) {
        st->cam.azimuth_deg = fmodf(st->cam.azimuth_deg - 0.4f * dx + 360.0f, 360.0f);
        st->cam.elevation_deg = fmaxf(-89.0f, fminf(89.0f, st->cam.elevation_deg + 0.4f * dy));
    } else {
        int ww = 1, wh = 1;
        glfwGetWindowSize(win, &ww, &wh);
        vkd_camera_t cam;
        if (vkd_view_camera(&st->cam, ww > 0 ? ww : 1, wh > 0 ? wh : 1, &cam) != VKD_OK) return;
        // One window pixel moves the look-at point by one pixel's width at its depth, so
        // the point under the cursor follows the cursor.
        const float px = 2.0f * cam.tan_half * st->cam.distance / (float)(wh > 0 ? wh : 1);
        for (int k = 0; k < 3; k++)
            st->cam.target[k] += px * (-dx * cam.right[k] + dy * cam.up[k]);
    }
    touch(st);
}

static void on_scroll(GLFWwindow *win, double xoff, double yoff) {
    (void)xoff;
    view_state_t *st = glfwGetWindowUserPointer(win);
    st->cam.distance = fmaxf(0.3f, fminf(50.0f, st->cam.distance * powf(0.9f, (float)yoff)));
    touch(st);
}

static void on_refresh(GLFWwindow *win) {
    view_state_t *st = glfwGetWindowUserPointer(win);
    st->dirty = 1;
}

// ---- frames -------------------------------------------------------------------------------
static vkd_status_t save_bytes(const char *path, const uint8_t *px, int h, int w, int bgr) {
    float *img = malloc((size_t)h * w * 3 * sizeof *img);
    if (!img) return vkd_fail(VKD_ERR_NOMEM, "screenshot %s: out of memory", path);
    for (size_t i = 0; i < (size_t)h * w; i++) {
        img[3 * i + 0] = px[4 * i + (bgr ? 2 : 0)] / 255.0f;
        img[3 * i + 1] = px[4 * i + 1] / 255.0f;
        img[3 * i + 2] = px[4 * i + (bgr ? 0 : 2)] / 255.0f;
    }
    // The bytes are already encoded for display: store them as they are.
    vkd_status_t s = vkd_image_write_png_ex(path, img, h, w, 3, VKD_PNG_RAW);
    free(img);
    return s;
}

static vkd_status_t next_shot_path(const char *dir, char *buf, size_t cap) {
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, cap, "%s/vkdream-view-%03d.png", dir, i);
        if (access(buf, F_OK) != 0) return VKD_OK;
    }
    return vkd_fail(VKD_ERR_IO, "screenshot: %s already holds 10000 vkdream-view-*.png files",
                    dir);
}

typedef struct {
    float *rgb; // (rh, rw, 3)
    size_t cap; // floats
    uint8_t *readback;
    size_t readback_cap;
} frame_bufs_t;

static vkd_status_t grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return VKD_OK;
    void *q = realloc(*p, need * elem);
    if (!q) return vkd_fail(VKD_ERR_NOMEM, "viewer: out of memory for a %zu-element frame", need);
    *p = q;
    *cap = need;
    return VKD_OK;
}

// Render and present one frame at `scale` of the window; shot_path (or NULL) receives the
// swapchain image's contents. *ms is the time the frame took; *shown 0 when skipped.
static vkd_status_t frame(view_state_t *st, vkd_present_t *pr, vkd_view_render_fn fn, void *user,
                          frame_bufs_t *fb, float scale, const char *shot_path, double *ms,
                          int *rw_out, int *rh_out, int *shown) {
    const double t0 = glfwGetTime();
    *shown = 0;
    uint8_t *px;
    int w, h, bgr;
    size_t stride;
    VKD_TRY(vkd_present_begin(pr, &px, &w, &h, &stride, &bgr));
    if (!w || !h) return VKD_OK;
    const int rw = (int)fmaxf(8.0f, roundf((float)w * scale));
    const int rh = (int)fmaxf(8.0f, roundf((float)h * scale));
    vkd_camera_t cam;
    vkd_light_t light;
    vkd_status_t s = grow((void **)&fb->rgb, &fb->cap, (size_t)rw * rh * 3, sizeof(float));
    if (!s) s = vkd_view_camera(&st->cam, rw, rh, &cam);
    if (!s) {
        current_light(st, &cam, &light);
        s = fn(user, &cam, &light, st->mode, rw, rh, fb->rgb);
    }
    if (!s && shot_path) s = grow((void **)&fb->readback, &fb->readback_cap, (size_t)w * h * 4, 1);
    // The swapchain image was acquired: it must be presented even when rendering failed.
    if (!s) vkd_view_to_pixels(fb->rgb, rh, rw, st->mode, px, h, w, stride, bgr);
    else memset(px, 0, stride * (size_t)h);
    vkd_status_t e = vkd_present_end(pr, !s && shot_path ? fb->readback : NULL);
    if (!s) s = e;
    if (!s && shot_path) s = save_bytes(shot_path, fb->readback, h, w, bgr);
    VKD_TRY(s);
    *ms = (glfwGetTime() - t0) * 1000.0;
    *rw_out = rw, *rh_out = rh;
    *shown = 1;
    return VKD_OK;
}

static void set_title(GLFWwindow *win, const view_state_t *st, int rw, int rh, double ms) {
    char title[640];
    snprintf(title, sizeof title,
             "vkdream %s - %s%s%s - %s - %dx%d - %.1f ms - az %.1f el %.1f dist %.2f%s",
             st->status ? "generate" : "view", st->opts->prompt, st->status ? " - " : "",
             st->status ? st->status : "", vkd_vis_name(st->mode), rw, rh, ms, st->cam.azimuth_deg,
             st->cam.elevation_deg, st->cam.distance, st->light_edit ? " - [L] light" : "");
    glfwSetWindowTitle(win, title);
}

static vkd_status_t open_window(const vkd_view_opts_t *o, GLFWwindow **win) {
    const char *desc = NULL;
    if (!glfwInit()) {
        glfwGetError(&desc);
        const char *display = getenv("DISPLAY");
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "view: cannot open a window: no display server could be reached "
                        "(DISPLAY=%s; GLFW: %s). Use `vkdream render` to write pictures "
                        "without a window, or run under a virtual display (xvfb-run)",
                        display && *display ? display : "unset", desc ? desc : "init failed");
    }
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API); // Vulkan presents, no GL context
    *win = glfwCreateWindow(o->width, o->height, "vkdream view", NULL, NULL);
    if (!*win) {
        glfwGetError(&desc);
        glfwTerminate();
        return vkd_fail(VKD_ERR_UNSUPPORTED, "view: cannot create a %dx%d window (GLFW: %s)",
                        o->width, o->height, desc ? desc : "unknown error");
    }
    return VKD_OK;
}

static vkd_status_t loop(view_state_t *st, GLFWwindow *win, vkd_present_t *pr,
                         vkd_view_render_fn fn, void *user, frame_bufs_t *fb) {
    const vkd_view_opts_t *o = st->opts;
    const double target_ms = 1000.0 / (o->target_fps > 0 ? o->target_fps : 10);
    int done_frames = 0;
    double ms = 0, total_ms = 0;
    int rw = 0, rh = 0;
    while (!st->quit && !glfwWindowShouldClose(win)) {
        const int headless = o->frames > 0;
        const int moving = !headless && glfwGetTime() - st->last_input < 0.25;
        if (!headless && !st->dirty && st->full_done && !st->shot) {
            glfwWaitEventsTimeout(0.25); // idle: sleep until something happens
            continue;
        }
        if (headless && o->orbit)
            st->cam.azimuth_deg = fmodf(o->cam.azimuth_deg + 360.0f * (float)(done_frames + 1) /
                                                                 (float)o->frames,
                                        360.0f);
        const float full = k_levels[st->level];
        // Moving frames are at st->scale; screenshots and headless frames at full
        // resolution. Once still, the picture refines towards full resolution in steps of
        // 2x while a full frame would take more than two frame periods (a NeRF on the CPU:
        // seconds), so input is still seen between the steps; cheap scenes go straight
        // to full resolution.
        float scale = full;
        if (moving && !st->shot) scale = fminf(st->scale, full);
        else if (!headless && !st->shot && st->last_scale > 0 && st->last_scale < full) {
            const double r = full / st->last_scale;
            // The last step goes straight to full from above half of it.
            if (st->last_ms * r * r > 2.0 * target_ms && 4.0f * st->last_scale <= full)
                scale = 2.0f * st->last_scale;
        }
        char shot[4096];
        const char *shot_path = NULL;
        if (headless && o->screenshot && done_frames == o->frames - 1) shot_path = o->screenshot;
        else if (st->shot) {
            VKD_TRY(next_shot_path(o->shot_dir, shot, sizeof shot));
            shot_path = shot;
        }
        st->dirty = 0;
        int shown = 0;
        VKD_TRY(frame(st, pr, fn, user, fb, scale, shot_path, &ms, &rw, &rh, &shown));
        if (!shown) {
            // Minimised (or 0 x 0): sleep until the window comes back; a recreated
            // swapchain: just try again.
            st->dirty = 1;
            int fw = 0, fh = 0;
            glfwGetFramebufferSize(win, &fw, &fh);
            if (fw <= 0 || fh <= 0 || glfwGetWindowAttrib(win, GLFW_ICONIFIED)) {
                if (headless) glfwRestoreWindow(win);
                glfwWaitEventsTimeout(headless ? 0.05 : 0.25);
            }
            continue;
        }
        if (shot_path && shot_path == shot) {
            st->shot = 0;
            printf("view: saved %s\n", shot);
            fflush(stdout);
        }
        st->full_done = scale >= full;
        st->last_scale = scale, st->last_ms = ms;
        {
            // The scale of the next moving frame, from every frame's cost (a still frame
            // measures it too, so the first frame of a drag is already cheap): the render
            // cost is ~ proportional to the pixel count, so scale the side by the sqrt of
            // the time ratio, aiming a little under the target so that the rate stays above
            // it. Downward at once (a slow frame blocks input); upward damped (noise).
            const float ratio = (float)sqrt(0.8 * target_ms / (ms > 1e-3 ? ms : 1e-3));
            const float want = scale * ratio;
            st->scale = fmaxf(MIN_SCALE, fminf(full, moving ? fminf(want, 1.5f * st->scale) : want));
        }
        set_title(win, st, rw, rh, ms);
        total_ms += ms;
        if (headless && ++done_frames >= o->frames) {
            printf("view: %d frames of %dx%d, %.1f ms each on average\n", done_frames, rw, rh,
                   total_ms / done_frames);
            break;
        }
        glfwPollEvents();
    }
    return VKD_OK;
}

vkd_status_t vkd_view_run(const vkd_view_opts_t *opts, vkd_view_render_fn fn, void *user) {
    if (!opts || !fn) return vkd_fail(VKD_ERR_INVALID, "view: no options or render callback");
    if (opts->width < 1 || opts->height < 1 || opts->width > 16384 || opts->height > 16384)
        return vkd_fail(VKD_ERR_INVALID, "view: window size %dx%d outside 1..16384", opts->width,
                        opts->height);
    if (opts->frames < 0) return vkd_fail(VKD_ERR_INVALID, "view: --frames %d < 0", opts->frames);
    if (opts->screenshot && opts->frames == 0)
        return vkd_fail(VKD_ERR_INVALID, "view: --screenshot needs --frames N (N >= 1)");
    vkd_camera_t probe;
    VKD_TRY(vkd_view_camera(&opts->cam, 8, 8, &probe)); // reject a bad start camera early
    GLFWwindow *win;
    VKD_TRY(open_window(opts, &win));
    view_state_t st = {.opts = opts, .cam = opts->cam, .mode = opts->mode, .level = N_LEVELS - 1,
                       .scale = 1.0f, .dirty = 1, .last_input = -1e9};
    glfwSetWindowUserPointer(win, &st);
    glfwSetKeyCallback(win, on_key);
    glfwSetMouseButtonCallback(win, on_button);
    glfwSetCursorPosCallback(win, on_cursor);
    glfwSetScrollCallback(win, on_scroll);
    glfwSetWindowRefreshCallback(win, on_refresh);
    vkd_present_t *pr = NULL;
    frame_bufs_t fb = {0};
    vkd_status_t s = vkd_present_create(win, opts->validation, &pr);
    if (!s) {
        fprintf(stderr, "view: presenting on %s\n", vkd_present_device_name(pr));
        s = loop(&st, win, pr, fn, user, &fb);
    }
    const int messages = vkd_present_validation_messages(pr);
    vkd_present_destroy(pr);
    free(fb.rgb);
    free(fb.readback);
    glfwDestroyWindow(win);
    glfwTerminate();
    if (!s && messages)
        s = vkd_fail(VKD_ERR_VULKAN, "view: the validation layer reported %d message(s)",
                     messages);
    return s;
}

// ---- live views ---------------------------------------------------------------------------
// Frames of a live view aim at this many frame periods of the target rate while the view is
// still (and at 0.8 of one while it moves): with the budget's 10% that is a frame every
// 2 s, twice the pixels of a moving frame's; the scene changes slowly anyway.
#define LIVE_STILL_PERIODS 2.0
// S in a live view: a picture finer than the live frames, but one that costs at most about
// this much of the run (by the last frame's cost; at full resolution a NeRF early in its run
// takes ~30 s for 320x240 on a 2-core CPU).
#define LIVE_SHOT_MS 1500.0

struct vkd_view {
    vkd_view_opts_t opts; // a copy: st.opts points here
    view_state_t st;
    GLFWwindow *win;
    vkd_present_t *pr;
    frame_bufs_t fb;
    double last_end; // glfwGetTime() when the last frame ended (0: none yet)
    double cost;     // ms a full-scale frame would take, from the last frame (0: unknown)
    int frames;      // shown so far
    double frame_s;  // their total time
    char status[160];
};

vkd_status_t vkd_view_open(const vkd_view_opts_t *opts, vkd_view_t **out) {
    *out = NULL;
    if (!opts) return vkd_fail(VKD_ERR_INVALID, "view: no options");
    if (opts->width < 1 || opts->height < 1 || opts->width > 16384 || opts->height > 16384)
        return vkd_fail(VKD_ERR_INVALID, "view: window size %dx%d outside 1..16384", opts->width,
                        opts->height);
    if (!(opts->live_budget > 0 && opts->live_budget <= 1) ||
        !(opts->live_budget_moving > 0 && opts->live_budget_moving <= 1))
        return vkd_fail(VKD_ERR_INVALID, "view: live budgets %g, %g outside (0, 1]",
                        (double)opts->live_budget, (double)opts->live_budget_moving);
    vkd_camera_t probe;
    VKD_TRY(vkd_view_camera(&opts->cam, 8, 8, &probe));
    vkd_view_t *v = calloc(1, sizeof *v);
    if (!v) return vkd_fail(VKD_ERR_NOMEM, "view: out of memory");
    v->opts = *opts;
    v->opts.frames = 0, v->opts.screenshot = NULL, v->opts.orbit = 0;
    v->st = (view_state_t){.opts = &v->opts, .cam = opts->cam, .mode = opts->mode,
                           .level = N_LEVELS - 1, .scale = MIN_SCALE, .dirty = 1,
                           .last_input = -1e9, .status = v->status};
    vkd_status_t s = open_window(&v->opts, &v->win);
    if (s) {
        free(v);
        return s;
    }
    glfwSetWindowUserPointer(v->win, &v->st);
    glfwSetKeyCallback(v->win, on_key);
    glfwSetMouseButtonCallback(v->win, on_button);
    glfwSetCursorPosCallback(v->win, on_cursor);
    glfwSetScrollCallback(v->win, on_scroll);
    glfwSetWindowRefreshCallback(v->win, on_refresh);
    s = vkd_present_create(v->win, opts->validation, &v->pr);
    if (s) {
        vkd_view_close(v);
        return s;
    }
    fprintf(stderr, "view: presenting on %s\n", vkd_present_device_name(v->pr));
    *out = v;
    return VKD_OK;
}

// The scale of the next frame: one that takes about target_ms by the last frame's cost
// (render cost ~ pixels ~ scale^2). The first frame is the coarsest: a live scene (a NeRF
// early in its optimisation, before empty space is skipped) can be slow. Live frames go
// upward by at most 2x a frame (one noisy fast frame must not buy an expensive one).
static float live_scale(const vkd_view_t *v, double target_ms, int damped) {
    const float full = k_levels[v->st.level];
    if (v->cost <= 0) return fminf(MIN_SCALE, full);
    const float want = (float)sqrt(target_ms / v->cost);
    return fmaxf(MIN_SCALE, fminf(full, damped ? fminf(want, 2.0f * v->st.last_scale) : want));
}

static vkd_status_t live_frame(vkd_view_t *v, vkd_view_render_fn fn, void *user, float scale,
                               const char *shot, int *shown) {
    view_state_t *st = &v->st;
    double ms = 0;
    int rw = 0, rh = 0;
    st->dirty = 0;
    VKD_TRY(frame(st, v->pr, fn, user, &v->fb, scale, shot, &ms, &rw, &rh, shown));
    v->last_end = glfwGetTime();
    if (!*shown) {
        st->dirty = 1;
        return VKD_OK;
    }
    v->cost = ms / ((double)scale * scale);
    st->last_scale = scale, st->last_ms = ms;
    v->frames++, v->frame_s += ms * 1e-3;
    set_title(v->win, st, rw, rh, ms);
    return VKD_OK;
}

void vkd_view_live_stats(const vkd_view_t *v, int *frames, double *seconds) {
    *frames = v ? v->frames : 0;
    *seconds = v ? v->frame_s : 0;
}

static void live_status(vkd_view_t *v, const char *status) {
    snprintf(v->status, sizeof v->status, "%s", status ? status : "");
}

static double live_target_ms(const vkd_view_t *v, int moving) {
    const double period = 1000.0 / (v->opts.target_fps > 0 ? v->opts.target_fps : 10);
    return moving ? 0.8 * period : LIVE_STILL_PERIODS * period;
}

vkd_status_t vkd_view_live_tick(vkd_view_t *v, vkd_view_render_fn fn, void *user,
                                const char *status, int *open) {
    if (!v || !fn || !open) return vkd_fail(VKD_ERR_INVALID, "view: NULL live view or callback");
    view_state_t *st = &v->st;
    glfwPollEvents();
    *open = !st->quit && !glfwWindowShouldClose(v->win);
    if (!*open) return VKD_OK;
    live_status(v, status);
    int shown = 0;
    if (st->shot) {
        char shot[4096];
        VKD_TRY(next_shot_path(v->opts.shot_dir, shot, sizeof shot));
        VKD_TRY(live_frame(v, fn, user, live_scale(v, LIVE_SHOT_MS, 0), shot, &shown));
        if (shown) {
            st->shot = 0;
            printf("view: saved %s\n", shot);
            fflush(stdout);
        }
        return VKD_OK;
    }
    const double now = glfwGetTime();
    const int moving = now - st->last_input < 0.25;
    const double b = moving ? v->opts.live_budget_moving : v->opts.live_budget;
    // Frames take at most b of the time: after one of cost c, wait c (1 - b) / b.
    if (v->last_end > 0 && now - v->last_end < st->last_ms * 1e-3 * (1.0 - b) / b) return VKD_OK;
    return live_frame(v, fn, user, live_scale(v, live_target_ms(v, moving), 1), NULL, &shown);
}

vkd_status_t vkd_view_live_frame(vkd_view_t *v, vkd_view_render_fn fn, void *user,
                                 const char *status, const char *screenshot, int *shown) {
    if (!v || !fn || !shown) return vkd_fail(VKD_ERR_INVALID, "view: NULL live view or callback");
    *shown = 0;
    live_status(v, status);
    glfwPollEvents();
    const float scale = screenshot ? k_levels[v->st.level] : live_scale(v, live_target_ms(v, 0), 1);
    // A window just restored or resized may need a try or two for its swapchain.
    for (int i = 0; i < 3 && !*shown; i++)
        VKD_TRY(live_frame(v, fn, user, scale, screenshot, shown));
    return VKD_OK;
}

vkd_status_t vkd_view_close(vkd_view_t *v) {
    if (!v) return VKD_OK;
    const int messages = v->pr ? vkd_present_validation_messages(v->pr) : 0;
    vkd_present_destroy(v->pr);
    free(v->fb.rgb);
    free(v->fb.readback);
    if (v->win) glfwDestroyWindow(v->win);
    glfwTerminate();
    free(v);
    if (messages)
        return vkd_fail(VKD_ERR_VULKAN, "view: the validation layer reported %d message(s)",
                        messages);
    return VKD_OK;
}
