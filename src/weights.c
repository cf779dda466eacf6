// Model tensor loading: safetensors -> float32 arena buffers, with shape checks.
#include "weights.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct vkd_weights {
    vkd_safetensors_t *st;
    unsigned char *used; // (count) 1 once loaded
};

vkd_status_t vkd_weights_open(const char *path, vkd_weights_t **out) {
    *out = NULL;
    vkd_weights_t *w = calloc(1, sizeof *w);
    if (!w) return vkd_fail(VKD_ERR_NOMEM, "out of host memory opening %s", path);
    vkd_status_t s = vkd_st_open(path, &w->st);
    if (s != VKD_OK) {
        free(w);
        return s;
    }
    int n = vkd_st_count(w->st);
    w->used = calloc(n ? (size_t)n : 1, 1);
    if (!w->used) {
        vkd_weights_close(w);
        return vkd_fail(VKD_ERR_NOMEM, "out of host memory opening %s", path);
    }
    *out = w;
    return VKD_OK;
}

void vkd_weights_close(vkd_weights_t *w) {
    if (!w) return;
    vkd_st_close(w->st);
    free(w->used);
    free(w);
}

const vkd_safetensors_t *vkd_weights_file(const vkd_weights_t *w) { return w->st; }

size_t vkd_weights_arena_bytes(const vkd_weights_t *w, const char *prefix) {
    size_t total = 0, plen = strlen(prefix);
    for (int i = 0; i < vkd_st_count(w->st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(w->st, i);
        if (strncmp(t->name, prefix, plen) != 0) continue;
        size_t bytes = vkd_st_numel(t) * sizeof(float);
        total += (bytes + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
    }
    return total;
}

vkd_status_t vkd_weights_load(vkd_weights_t *w, vkd_arena_t *arena, const char *name, int ndim,
                              const int64_t *shape, vkd_buf_t *out) {
    const vkd_st_tensor_t *t;
    *out = VKD_BUF_NONE;
    VKD_TRY(vkd_st_expect(w->st, name, ndim, shape, &t));
    size_t n = vkd_st_numel(t);
    float *tmp = malloc(n ? n * sizeof(float) : 1);
    if (!tmp)
        return vkd_fail(VKD_ERR_NOMEM, "%s: out of host memory converting tensor '%s'",
                        vkd_st_path(w->st), name);
    vkd_status_t s = vkd_st_to_f32(t, tmp, n);
    // A NaN or Inf in frozen weights poisons every result downstream: refuse it here,
    // where the tensor can still be named.
    for (size_t i = 0; s == VKD_OK && i < n; i++)
        if (!(tmp[i] - tmp[i] == 0.0f))
            s = vkd_fail(VKD_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at element %zu",
                         vkd_st_path(w->st), name, i);
    if (s == VKD_OK) s = vkd_arena_alloc(arena, n, out);
    if (s == VKD_OK) s = vkd_buf_write(*out, tmp, n * sizeof(float));
    free(tmp);
    if (s != VKD_OK) return vkd_fail_ctx(s, "loading '%s' from %s", name, vkd_st_path(w->st));
    w->used[t - vkd_st_get(w->st, 0)] = 1; // vkd_st_find/get point into one array
    return VKD_OK;
}

vkd_status_t vkd_weights_loadf(vkd_weights_t *w, vkd_arena_t *arena, vkd_buf_t *out, int ndim,
                               const int64_t *shape, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof name)
        return vkd_fail(VKD_ERR_INVALID, "tensor name too long (%d bytes)", len);
    return vkd_weights_load(w, arena, name, ndim, shape, out);
}

int vkd_weights_report_unused(const vkd_weights_t *w, const char *prefix, FILE *f) {
    size_t plen = strlen(prefix);
    int n = 0;
    for (int i = 0; i < vkd_st_count(w->st); i++) {
        const vkd_st_tensor_t *t = vkd_st_get(w->st, i);
        if (w->used[i] || strncmp(t->name, prefix, plen) != 0) continue;
        if (f) {
            if (n == 0) fprintf(f, "vkdream: warning: %s has tensors no module uses:", vkd_st_path(w->st));
            fprintf(f, "%s %s", n ? "," : "", t->name);
        }
        n++;
    }
    if (f && n) fprintf(f, "\n");
    return n;
}
