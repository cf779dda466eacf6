// Loading named model tensors from a .safetensors file into a backend arena.
//
// Modules are registered under the checkpoint's own tensor names (prefix + name, e.g.
// "model.diffusion_model." + "input_blocks.1.1.proj_in.weight"). Each load states the
// shape the module's config implies; a missing tensor, a wrong shape or a dtype that
// cannot become float32 is an error naming the file and the tensor. Tensors in the file
// that no module asked for are reported once as a warning (vkd_weights_report_unused).
#ifndef VKD_WEIGHTS_H
#define VKD_WEIGHTS_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "safetensors.h"

typedef struct vkd_weights vkd_weights_t;

vkd_status_t vkd_weights_open(const char *path, vkd_weights_t **out);
void vkd_weights_close(vkd_weights_t *w); // NULL is fine
const vkd_safetensors_t *vkd_weights_file(const vkd_weights_t *w);

// Bytes an arena needs to hold, as float32 with VKD_BUF_ALIGN padding, every tensor whose
// name starts with prefix ("" for all).
size_t vkd_weights_arena_bytes(const vkd_weights_t *w, const char *prefix);

// Load tensor `name` (the full name in the file) of exactly this shape as float32 into a
// new buffer from `arena`. Marks the tensor used.
vkd_status_t vkd_weights_load(vkd_weights_t *w, vkd_arena_t *arena, const char *name, int ndim,
                              const int64_t *shape, vkd_buf_t *out);
// printf-style name: vkd_weights_loadf(w, arena, &buf, 2, (int64_t[]){C, C}, "%s.to_q.weight", p)
vkd_status_t vkd_weights_loadf(vkd_weights_t *w, vkd_arena_t *arena, vkd_buf_t *out, int ndim,
                               const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

// Warn (to f, once per call) about tensors under prefix that were never loaded; returns
// their number.
int vkd_weights_report_unused(const vkd_weights_t *w, const char *prefix, FILE *f);

#endif
