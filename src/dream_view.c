// The live view of a run: the viewer's live API driven between SDS steps (dream_view.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dream_view.h"
#include "image.h"
#include "nerf/render.h"

struct vkd_dream_view {
    vkd_view_t *view; // NULL once closed
    int frames;       // of a closed view
    double frame_s;
};

typedef struct {
    vkd_dream_t *d;
    int supersample;
} render_ctx_t;

static vkd_shade_mode_t shade_of(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO        ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

static vkd_status_t render(const render_ctx_t *c, const vkd_camera_t *cam, const vkd_light_t *light,
                           vkd_vis_t mode, int w, int h, float *rgb) {
    vkd_nerf_renderer_t *r = vkd_dream_renderer(c->d);
    const vkd_field_t *f = vkd_nerf_renderer_field(r);
    const size_t px = (size_t)w * h;
    float *buf = malloc(px * 8 * sizeof *buf); // rgb (px, 3), normal (px, 3), opacity, depth
    if (!buf) return vkd_fail(VKD_ERR_NOMEM, "generate --view: out of memory for a %dx%d frame", w, h);
    const vkd_render_out_t out = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    const vkd_nerf_view_t view = {.mode = shade_of(mode), .light = *light, .jitter = 0,
                                  .step = (uint64_t)(f->step > 0 ? f->step : 0),
                                  .normals = mode == VKD_VIS_NORMALS};
    vkd_status_t s = vkd_nerf_render_image(r, cam, &view, c->supersample, &out);
    // The depth range `vkdream render` and `vkdream view` use: the bound around the camera.
    const float ext = f->cfg.bound;
    if (!s) s = vkd_vis_compose(mode, &out, h, w, fmaxf(0.0f, cam->distance - ext), cam->distance + ext, rgb);
    free(buf);
    return s;
}

vkd_status_t vkd_dream_view_render(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                                   vkd_vis_t mode, int w, int h, float *rgb) {
    const render_ctx_t c = {user, 1};
    return render(&c, cam, light, mode, w, h, rgb);
}

static vkd_status_t render_cb(void *user, const vkd_camera_t *cam, const vkd_light_t *light,
                              vkd_vis_t mode, int w, int h, float *rgb) {
    return render(user, cam, light, mode, w, h, rgb);
}

vkd_status_t vkd_dream_view_open(const vkd_view_opts_t *o, vkd_dream_view_t **out) {
    *out = NULL;
    vkd_dream_view_t *v = calloc(1, sizeof *v);
    if (!v) return vkd_fail(VKD_ERR_NOMEM, "generate --view: out of memory");
    vkd_status_t s = vkd_view_open(o, &v->view);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    return VKD_OK;
}

int vkd_dream_view_is_open(const vkd_dream_view_t *v) { return v && v->view; }

static void status_line(vkd_dream_t *d, char *buf, size_t cap) {
    snprintf(buf, cap, "step %llu/%d", (unsigned long long)vkd_dream_steps_done(d),
             vkd_dream_opts(d)->steps);
}

// A viewer error must not end the run: report it, drop the window, carry on.
static void drop(vkd_dream_view_t *v, const char *why) {
    fprintf(stderr, "vkdream generate: %s; the run continues without the view\n", why);
    vkd_view_live_stats(v->view, &v->frames, &v->frame_s);
    vkd_status_t s = vkd_view_close(v->view);
    v->view = NULL;
    if (s) fprintf(stderr, "vkdream generate: %s\n", vkd_last_error());
}

int vkd_dream_view_tick(vkd_dream_view_t *v, vkd_dream_t *d) {
    if (!v || !v->view) return 0;
    char status[64];
    status_line(d, status, sizeof status);
    render_ctx_t c = {d, 1};
    int open = 1;
    if (vkd_view_live_tick(v->view, render_cb, &c, status, &open)) {
        char why[600];
        snprintf(why, sizeof why, "the view failed (%s)", vkd_last_error());
        drop(v, why);
        return 0;
    }
    if (!open) {
        drop(v, "the view was closed");
        return 0;
    }
    return 1;
}

vkd_status_t vkd_dream_view_final(vkd_dream_view_t *v, vkd_dream_t *d, const char *screenshot) {
    if (!v || !v->view) {
        if (screenshot)
            return vkd_fail(VKD_ERR_INVALID, "generate --view-screenshot %s: the view was closed "
                            "before the end of the run, there is no final frame", screenshot);
        return VKD_OK;
    }
    char status[64];
    status_line(d, status, sizeof status);
    render_ctx_t c = {d, screenshot ? 2 : 1};
    int shown = 0;
    VKD_TRY(vkd_view_live_frame(v->view, render_cb, &c, status, screenshot, &shown));
    if (!shown && screenshot)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "generate --view-screenshot %s: the window could "
                        "not show the final frame (minimised?)", screenshot);
    return VKD_OK;
}

void vkd_dream_view_stats(const vkd_dream_view_t *v, int *frames, double *seconds) {
    *frames = 0, *seconds = 0;
    if (v && v->view) vkd_view_live_stats(v->view, frames, seconds);
    else if (v) *frames = v->frames, *seconds = v->frame_s;
}

vkd_status_t vkd_dream_view_close(vkd_dream_view_t *v) {
    if (!v) return VKD_OK;
    vkd_status_t s = vkd_view_close(v->view);
    free(v);
    return s;
}
