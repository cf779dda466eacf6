// The interactive viewer: a GLFW window presenting through a Vulkan swapchain.
//
// The viewer knows nothing of what it shows: every frame it asks a render callback for a
// linear RGB picture of the scene from its camera, converts it to 8-bit pixels (colour
// modes sRGB-encoded, data modes as they are, the same encoding `vkdream render` writes to
// PNG), copies those into a host-visible buffer and from there with vkCmdCopyBufferToImage
// into the swapchain image. No graphics pipeline: the renderers (ShapeWorld's analytic one,
// the NeRF on either backend, the mesh ray caster of viewer_mesh.h) produce host images,
// so a copy is all presentation needs.
//
// Interaction: left drag orbits, right drag (or shift + left) pans, wheel zooms; keys 1-6
// pick the picture (shaded, albedo, normals, textureless, depth, opacity), L toggles
// moving the light with the mouse instead of the camera, R resets the camera, + / - change
// the render resolution, S saves a screenshot PNG, Esc quits. While the view moves the
// render resolution drops so that frames keep to the target rate; once still, the picture
// is refined to full resolution (in steps of 2x when a full frame would take longer than
// two frame periods, as a NeRF rendered on the CPU does, else at once). A frame in
// progress is not interrupted: input is seen between frames.
#ifndef VKD_VIEWER_H
#define VKD_VIEWER_H

#include <stdint.h>

#include "camera.h"
#include "shading.h"
#include "shapeworld.h" // vkd_vis_t
#include "status.h"

// Render the scene seen by cam (cam->width = w, cam->height = h) into rgb (h, w, 3), linear
// RGB, as picture `mode`. light is the point light for the lit modes.
typedef vkd_status_t (*vkd_view_render_fn)(void *user, const vkd_camera_t *cam,
                                           const vkd_light_t *light, vkd_vis_t mode, int w,
                                           int h, float *rgb);

// The viewer's camera: an orbit around `target` (orbit angles as in camera.h).
typedef struct {
    float azimuth_deg, elevation_deg, distance;
    float target[3]; // panned look-at point
    float fovy_deg;
} vkd_view_cam_t;

typedef struct {
    const char *prompt;   // shown in the title bar
    int width, height;    // window size in screen coordinates (640 x 480)
    vkd_view_cam_t cam;   // start camera (azimuth 30, elevation 20, distance 2.2, fovy 50)
    vkd_vis_t mode;       // start picture (shaded)
    // Headless runs: frames > 0 renders that many frames (each at full resolution) and
    // exits; screenshot (optional) receives the last one, read back from the swapchain
    // image. orbit turns the camera by 360/frames degrees per frame, so the last frame is
    // at the start camera again.
    int frames;
    const char *screenshot;
    int orbit;
    int validation;       // enable VK_LAYER_KHRONOS_validation; messages fail the run
    float target_fps;     // frame rate to keep while moving (10)
    const char *shot_dir; // where S writes vkdream-view-NNN.png (".")
    // Live views only (vkd_view_open): the share of wall time frames may take while the
    // view is still (0.1) and while the user drags or zooms it (0.35). The scene's owner
    // works between frames, so this bounds how much the view slows it down.
    float live_budget, live_budget_moving;
} vkd_view_opts_t;

vkd_view_opts_t vkd_view_opts_default(void);

// Open the window and run until Esc / close (or the headless frames are done). Fails with
// VKD_ERR_UNSUPPORTED when no display server can be reached (the message suggests
// `vkdream render`), VKD_ERR_NODEVICE without a Vulkan device that can present to it.
vkd_status_t vkd_view_run(const vkd_view_opts_t *opts, vkd_view_render_fn fn, void *user);

// ---- a live view: the scene changes between frames (`vkdream generate --view`) ----------
// The caller keeps the thread: it works (an optimisation step) and calls vkd_view_live_tick
// in between, which handles input and, when a frame is due, renders one with fn. A frame is
// due once the time since the last frame is at least its cost times (1 - budget) / budget,
// so frames take at most the budget's share of the wall time on average. Their resolution
// follows the scene's render cost: a frame aims at 2 periods of target_fps while the view is
// still, 0.8 of one while it is dragged (coarse while the scene is slow to render, finer as
// it gets cheaper). S renders a frame at once and saves it: at the resolution that costs
// about 1.5 s by the last frame's cost (at most full), so a screenshot cannot stall the owner.
typedef struct vkd_view vkd_view_t;

// Open the window (the same failures as vkd_view_run, before any frame).
vkd_status_t vkd_view_open(const vkd_view_opts_t *opts, vkd_view_t **out);
// Input, then a frame when one is due. status (may be NULL) is shown in the title bar.
// *open = 0 once the user has closed the window (Esc or the close button): the caller
// then calls vkd_view_close; nothing else is rendered.
vkd_status_t vkd_view_live_tick(vkd_view_t *v, vkd_view_render_fn fn, void *user,
                                const char *status, int *open);
// A frame now, whatever the budget (the scene's final state): at the live resolution, or
// with a screenshot (not NULL) at full resolution, read back from the swapchain into that
// PNG. *shown = 0 when none could be shown (window minimised).
vkd_status_t vkd_view_live_frame(vkd_view_t *v, vkd_view_render_fn fn, void *user,
                                 const char *status, const char *screenshot, int *shown);
// Frames shown so far and the seconds they took (render, conversion, presentation).
void vkd_view_live_stats(const vkd_view_t *v, int *frames, double *seconds);
// Close the window (NULL is fine). Fails when the validation layer reported messages.
vkd_status_t vkd_view_close(vkd_view_t *v);

// ---- pieces usable without a window -----------------------------------------------------
// Parse "AZ,EL,DIST" (degrees, degrees, scene units; DIST > 0, |EL| < 90).
vkd_status_t vkd_view_parse_camera(const char *s, vkd_view_cam_t *cam);
// The pinhole camera of c for a w x h picture.
vkd_status_t vkd_view_camera(const vkd_view_cam_t *c, int w, int h, vkd_camera_t *out);
// The 8-bit pixel value the viewer (and a PNG of the picture) shows for linear value v.
uint8_t vkd_view_byte(float v, vkd_vis_t mode);
// Scale rgb (rh, rw, 3) by nearest neighbour to dst (h, w, 4) 8-bit pixels, B,G,R,A order
// when bgr else R,G,B,A; alpha 255. dst rows are `stride` bytes apart.
void vkd_view_to_pixels(const float *rgb, int rh, int rw, vkd_vis_t mode, uint8_t *dst, int h,
                        int w, size_t stride, int bgr);

// ---- the presentation side (viewer_vk.c) ------------------------------------------------
typedef struct vkd_present vkd_present_t;
struct GLFWwindow;

vkd_status_t vkd_present_create(struct GLFWwindow *win, int validation, vkd_present_t **out);
void vkd_present_destroy(vkd_present_t *p);
// Acquire the next swapchain image and map its upload buffer: *pixels (*h rows of *stride
// bytes, *w pixels of 4 bytes, B,G,R,A when *bgr). *w = *h = 0 means no frame now (window
// minimised, or the swapchain was out of date and has been recreated): skip this frame.
vkd_status_t vkd_present_begin(vkd_present_t *p, uint8_t **pixels, int *w, int *h,
                               size_t *stride, int *bgr);
// Copy the upload buffer into the image and present it. readback (h * w * 4 bytes, same
// channel order) when not NULL receives the swapchain image's contents after the copy.
vkd_status_t vkd_present_end(vkd_present_t *p, uint8_t *readback);
// Validation-layer messages (warnings and errors) seen so far.
int vkd_present_validation_messages(const vkd_present_t *p);
// "llvmpipe (LLVM 15.0.6, 256 bits)": the presenting device.
const char *vkd_present_device_name(const vkd_present_t *p);

#endif
