// Pictures of a run (dream.h): the turntable and the preview. They render the field as it
// is at its current step (the IPE covariance of that step, stratum centres), with the
// turntable cameras and key light of vkd_sw_turntable, so they compare with
// `vkdream render --shapeworld` tile for tile.
#include <stdlib.h>

#include "dream.h"
#include "image.h"

static vkd_shade_mode_t shade_of(vkd_vis_t v) {
    return v == VKD_VIS_ALBEDO ? VKD_SHADE_ALBEDO
           : v == VKD_VIS_TEXTURELESS ? VKD_SHADE_TEXTURELESS
                                      : VKD_SHADE_LIT;
}

// Rows `modes` (n_modes) x `views` tiles of res px into one sRGB PNG at path.
// Consecutive rows of the same shading (shaded and normals: both lit) share one render, and
// only rows that show shading or normals pay for the normals (6x an albedo render).
static vkd_status_t write_grid(vkd_nerf_renderer_t *r, const char *path, const vkd_vis_t *modes,
                               int n_modes, int views, int res, int supersample) {
    if (!r || !path) return vkd_fail(VKD_ERR_INVALID, "generate: NULL renderer or picture path");
    if (views < 1 || views > 64 || res < 8 || res > 1024)
        return vkd_fail(VKD_ERR_INVALID, "generate: %d views of %d px (need 1..64 of 8..1024)",
                        views, res);
    const vkd_field_t *f = vkd_nerf_renderer_field(r);
    const vkd_turntable_t tt = vkd_turntable_default();
    const size_t px = (size_t)res * res;
    const int n = n_modes * views;
    float *tiles = malloc(sizeof(float) * px * 3 * n); // (n_modes * views, res, res, 3)
    float *buf = malloc(sizeof(float) * px * 8);       // rgb, normal (res, res, 3); opacity, depth
    float *grid = NULL;
    vkd_status_t s = tiles && buf ? VKD_OK : vkd_fail(VKD_ERR_NOMEM, "generate: out of memory");
    const vkd_render_out_t ro = {buf, buf + 6 * px, buf + 7 * px, buf + 3 * px};
    for (int v = 0; v < views && !s; v++) {
        vkd_camera_t cam;
        s = vkd_camera_orbit(&cam, 360.0f * v / views, tt.elevation_deg, tt.distance, tt.fovy_deg,
                             res, res);
        int last = -1; // shading of the render in buf
        for (int m = 0; m < n_modes && !s; m++) {
            const vkd_shade_mode_t sm = shade_of(modes[m]);
            vkd_nerf_view_t view = {.mode = sm, .normals = sm != VKD_SHADE_ALBEDO,
                                    .step = (uint64_t)f->step};
            vkd_light_key(&cam, &view.light);
            float *tile = tiles + (size_t)(m * views + v) * px * 3;
            if ((int)sm != last) s = vkd_nerf_render_image(r, &cam, &view, supersample, &ro);
            last = (int)sm;
            if (!s)
                s = vkd_vis_compose(modes[m], &ro, res, res, tt.distance - f->cfg.bound,
                                    tt.distance + f->cfg.bound, tile);
            // The grid is written sRGB-encoded: data rows are decoded first so their bytes
            // come out as the raw values.
            if (!s && !vkd_vis_is_colour(modes[m]))
                for (size_t i = 0; i < px * 3; i++) tile[i] = vkd_srgb_decode(tile[i]);
        }
    }
    int gh = 0, gw = 0;
    if (!s) {
        vkd_image_grid_size(n, res, res, views, 2, &gh, &gw);
        grid = malloc(sizeof(float) * (size_t)gh * gw * 3);
        s = grid ? vkd_image_grid(tiles, n, res, res, 3, views, 2, NULL, grid)
                 : vkd_fail(VKD_ERR_NOMEM, "generate: out of memory");
    }
    if (!s) s = vkd_image_write_png(path, grid, gh, gw, 3);
    free(tiles), free(buf), free(grid);
    return s;
}

vkd_status_t vkd_dream_write_turntable(vkd_nerf_renderer_t *r, const char *path, int views,
                                       int res) {
    static const vkd_vis_t modes[] = {VKD_VIS_SHADED, VKD_VIS_ALBEDO, VKD_VIS_NORMALS,
                                      VKD_VIS_TEXTURELESS};
    // One ray per pixel: supersampling the lit rows (normals: 6x an albedo render) made this
    // 20 s of a 1-minute run (measured, 8 views of 64 px on a 2-core machine).
    return write_grid(r, path, modes, 4, views, res, 1);
}

vkd_status_t vkd_dream_write_preview(vkd_nerf_renderer_t *r, const char *path) {
    // Cheap enough to refresh during a run even before the occupancy grid skips anything.
    static const vkd_vis_t modes[] = {VKD_VIS_SHADED};
    return write_grid(r, path, modes, 1, 4, 48, 1);
}
