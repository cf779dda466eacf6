// The backend seam: buffers (views into arenas) and the op table.
//
// A backend is either the CPU path (plain C + OpenBLAS, ops run immediately) or the
// Vulkan path (ops are recorded into one command buffer; vkd_backend_sync() submits and
// waits). Code above this layer calls the op_* functions in ops.h and never branches on
// the backend.
#ifndef VKD_BACKEND_H
#define VKD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct vkd_backend vkd_backend_t;
typedef struct vkd_arena vkd_arena_t;

// A view of `bytes` bytes at byte offset `off` of an arena. Views handed out by
// vkd_arena_alloc() are aligned to VKD_BUF_ALIGN bytes, which every Vulkan kernel relies
// on (storage-buffer offset alignment). `host` points at the data when the memory is
// host-visible (always on the CPU backend, on unified-memory GPUs and lavapipe), else NULL:
// use vkd_buf_write/vkd_buf_read then. A zero-byte view means "absent" (optional inputs
// such as a missing bias).
typedef struct vkd_buf {
    vkd_arena_t *arena;
    size_t off;
    size_t bytes;
    float *host;
} vkd_buf_t;

#define VKD_BUF_ALIGN 256
#define VKD_BUF_NONE ((vkd_buf_t){0})

static inline size_t vkd_buf_count(vkd_buf_t b) { return b.bytes / sizeof(float); }
static inline int vkd_buf_present(vkd_buf_t b) { return b.bytes != 0; }

typedef enum { VKD_BACKEND_CPU = 0, VKD_BACKEND_VULKAN = 1 } vkd_backend_kind_t;

// Arenas: one allocation each ("params", "grads", "acts", ...). Views are bump-allocated
// and all freed together by vkd_arena_reset() or vkd_arena_destroy().
vkd_status_t vkd_arena_create(vkd_backend_t *be, const char *name, size_t bytes,
                              vkd_arena_t **out);
void vkd_arena_destroy(vkd_arena_t *a);
vkd_status_t vkd_arena_alloc(vkd_arena_t *a, size_t n_floats, vkd_buf_t *out);
vkd_status_t vkd_arena_alloc_bytes(vkd_arena_t *a, size_t bytes, vkd_buf_t *out);
void vkd_arena_reset(vkd_arena_t *a);
size_t vkd_arena_used(const vkd_arena_t *a);
size_t vkd_arena_capacity(const vkd_arena_t *a);
const char *vkd_arena_name(const vkd_arena_t *a);
vkd_backend_t *vkd_arena_backend(const vkd_arena_t *a);

// Host <-> buffer copies. They finish all recorded work first (on Vulkan: submit + wait),
// so they are for set-up, logging and tests, not for the inner loop.
vkd_status_t vkd_buf_write(vkd_buf_t dst, const void *src, size_t bytes);
vkd_status_t vkd_buf_read(vkd_buf_t src, void *dst, size_t bytes);
// A sub-view [off, off + bytes) of b; off must be a multiple of VKD_BUF_ALIGN.
vkd_status_t vkd_buf_slice(vkd_buf_t b, size_t off, size_t bytes, vkd_buf_t *out);

// Backend choice. `device` is "auto", "cpu", "vulkan", or "vulkan:N" (N = index in
// `vkdream info`'s list) or a substring of a Vulkan device name. NULL means the
// VKDREAM_DEVICE environment variable, else "auto". "auto" picks a discrete or
// integrated GPU when there is one and the CPU backend otherwise (lavapipe is 10-20x
// slower than OpenBLAS for GEMM-shaped work on CPUs).
typedef struct {
    const char *device;
    int validate; // 1: Khronos validation layer on and any message is an error; -1: env
    int quiet;    // no notices on stderr
} vkd_backend_opts_t;

vkd_status_t vkd_backend_create(const vkd_backend_opts_t *opts, vkd_backend_t **out);
void vkd_backend_destroy(vkd_backend_t *be);
vkd_backend_kind_t vkd_backend_kind(const vkd_backend_t *be);
const char *vkd_backend_name(const vkd_backend_t *be); // "cpu" or the Vulkan device name
// Finish all recorded work (Vulkan: submit, wait on the fence). No-op on the CPU.
vkd_status_t vkd_backend_sync(vkd_backend_t *be);
// Validation messages seen so far (always 0 when validation is off).
int vkd_backend_validation_errors(const vkd_backend_t *be);

#endif
