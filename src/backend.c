// Backend creation and arenas (the device-independent half; Vulkan memory is in
// vk_memory.c).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_impl.h"
#include "vk.h"

static vkd_status_t create_cpu(vkd_backend_t **out) {
    vkd_backend_t *be = calloc(1, sizeof *be);
    if (!be) return vkd_fail(VKD_ERR_NOMEM, "out of host memory creating the CPU backend");
    be->kind = VKD_BACKEND_CPU;
    be->ops = &vkd_cpu_ops;
    snprintf(be->name, sizeof be->name, "cpu");
    *out = be;
    return VKD_OK;
}

static int env_validation(int requested) {
    if (requested >= 0) return requested;
    const char *v = getenv("VKDREAM_VALIDATE");
    return v && v[0] && strcmp(v, "0") != 0;
}

static vkd_status_t create_vulkan(const char *spec, int validate, int quiet, int auto_mode,
                                  vkd_backend_t **out) {
    vkd_vk_instance_t *inst = NULL;
    vkd_status_t s = vkd_vk_instance_create(validate, &inst);
    if (s != VKD_OK) return s;
    int index = -1;
    if (auto_mode) {
        index = vkd_vk_pick_device(inst);
        // Only a real GPU beats OpenBLAS; lavapipe and other CPU devices lose 10-20x on
        // GEMM-shaped work, so "auto" keeps them for display and kernel checks only.
        if (index < 0 || (inst->devices[index].props.deviceType !=
                              VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU &&
                          inst->devices[index].props.deviceType !=
                              VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU)) {
            char names[512] = "";
            for (int i = 0; i < inst->n_devices; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s (%s)",
                         i ? ", " : "", inst->devices[i].props.deviceName,
                         vkd_vk_device_type_name(inst->devices[i].props.deviceType));
            vkd_vk_instance_destroy(inst);
            return vkd_fail(VKD_ERR_NODEVICE, "no GPU among the Vulkan devices%s%s", names[0] ? ": " : "",
                            names);
        }
    } else {
        s = vkd_vk_resolve_device(inst, spec, &index);
        if (s != VKD_OK) {
            vkd_vk_instance_destroy(inst);
            return s;
        }
    }
    vkd_backend_t *be = calloc(1, sizeof *be);
    if (!be) {
        vkd_vk_instance_destroy(inst);
        return vkd_fail(VKD_ERR_NOMEM, "out of host memory creating the Vulkan backend");
    }
    be->kind = VKD_BACKEND_VULKAN;
    be->ops = &vkd_vk_ops;
    s = vkd_vk_backend_init(be, inst, index);
    if (s != VKD_OK) {
        vkd_vk_backend_release(be);
        free(be);
        vkd_vk_instance_destroy(inst);
        return s;
    }
    (void)quiet;
    *out = be;
    return VKD_OK;
}

vkd_status_t vkd_backend_create(const vkd_backend_opts_t *opts, vkd_backend_t **out) {
    vkd_backend_opts_t o = opts ? *opts : (vkd_backend_opts_t){0};
    const char *spec = o.device;
    if (!spec || !spec[0]) spec = getenv("VKDREAM_DEVICE");
    if (!spec || !spec[0]) spec = "auto";
    int validate = env_validation(opts ? o.validate : -1);
    *out = NULL;
    if (strcmp(spec, "cpu") == 0) return create_cpu(out);
    if (strcmp(spec, "auto") == 0) {
        if (create_vulkan(NULL, validate, o.quiet, 1, out) == VKD_OK) return VKD_OK;
        // The reason (no loader, no device, only lavapipe) is not an error for "auto",
        // but the user should know which backend runs and why.
        if (!o.quiet)
            fprintf(stderr, "vkdream: %s; using the CPU backend (--device vulkan forces Vulkan)\n",
                    vkd_last_error());
        vkd_clear_error();
        return create_cpu(out);
    }
    vkd_status_t s = create_vulkan(spec, validate, o.quiet, 0, out);
    if (s != VKD_OK)
        return vkd_fail_ctx(s, "--device %s", spec);
    return VKD_OK;
}

void vkd_backend_destroy(vkd_backend_t *be) {
    if (!be) return;
    if (be->kind == VKD_BACKEND_VULKAN) {
        vkd_vk_instance_t *inst = be->vk ? be->vk->inst : NULL;
        vkd_vk_backend_release(be);
        vkd_vk_instance_destroy(inst);
    }
    free(be);
}

vkd_backend_kind_t vkd_backend_kind(const vkd_backend_t *be) { return be->kind; }
const char *vkd_backend_name(const vkd_backend_t *be) { return be->name; }

vkd_status_t vkd_backend_sync(vkd_backend_t *be) {
    if (be->kind == VKD_BACKEND_VULKAN) return vkd_vk_sync(be);
    return VKD_OK;
}

int vkd_backend_validation_errors(const vkd_backend_t *be) {
    if (be->kind == VKD_BACKEND_VULKAN && be->vk && be->vk->inst)
        return be->vk->inst->validation_errors;
    return 0;
}

// ---- arenas -----------------------------------------------------------------------------

static const char *human(size_t bytes, char *buf, size_t cap) {
    if (bytes >= (1u << 30)) snprintf(buf, cap, "%.2f GiB", bytes / (double)(1u << 30));
    else if (bytes >= (1u << 20)) snprintf(buf, cap, "%.1f MiB", bytes / (double)(1u << 20));
    else snprintf(buf, cap, "%zu bytes", bytes);
    return buf;
}

vkd_status_t vkd_arena_create(vkd_backend_t *be, const char *name, size_t bytes,
                              vkd_arena_t **out) {
    *out = NULL;
    char hb[32];
    vkd_arena_t *a = calloc(1, sizeof *a);
    if (!a) return vkd_fail(VKD_ERR_NOMEM, "out of host memory creating arena '%s'", name);
    a->be = be;
    snprintf(a->name, sizeof a->name, "%s", name);
    bytes = (bytes + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
    if (bytes == 0) bytes = VKD_BUF_ALIGN;
    a->capacity = bytes;
    if (be->kind == VKD_BACKEND_CPU) {
        a->kind = VKD_MEM_HOST;
        a->host = aligned_alloc(VKD_BUF_ALIGN, bytes);
        if (!a->host) {
            free(a);
            return vkd_fail(VKD_ERR_NOMEM, "cannot allocate %s of host memory for arena '%s'",
                            human(bytes, hb, sizeof hb), name);
        }
        return (*out = a), VKD_OK;
    }
    a->kind = VKD_MEM_VK;
    vkd_status_t s = vkd_vk_arena_alloc(be, a, 0);
    if (s != VKD_OK) {
        free(a);
        return vkd_fail_ctx(s, "arena '%s' (%s)", name, human(bytes, hb, sizeof hb));
    }
    *out = a;
    return VKD_OK;
}

void vkd_arena_destroy(vkd_arena_t *a) {
    if (!a) return;
    if (a->kind == VKD_MEM_HOST) free(a->host);
    else vkd_vk_arena_free(a);
    free(a);
}

vkd_status_t vkd_arena_alloc_bytes(vkd_arena_t *a, size_t bytes, vkd_buf_t *out) {
    char h1[32], h2[32], h3[32];
    size_t need = (bytes + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
    if (need < bytes || a->used + need > a->capacity || a->used + need < a->used) {
        *out = VKD_BUF_NONE;
        return vkd_fail(VKD_ERR_NOMEM, "arena '%s' is full: %s requested, %s of %s free", a->name,
                        human(bytes, h1, sizeof h1), human(a->capacity - a->used, h2, sizeof h2),
                        human(a->capacity, h3, sizeof h3));
    }
    out->arena = a;
    out->off = a->used;
    out->bytes = bytes;
    out->host = a->host ? (float *)(a->host + a->used) : NULL;
    a->used += need;
    return VKD_OK;
}

vkd_status_t vkd_arena_alloc(vkd_arena_t *a, size_t n_floats, vkd_buf_t *out) {
    if (n_floats > SIZE_MAX / sizeof(float)) {
        *out = VKD_BUF_NONE;
        return vkd_fail(VKD_ERR_NOMEM, "arena '%s': %zu floats overflow", a->name, n_floats);
    }
    return vkd_arena_alloc_bytes(a, n_floats * sizeof(float), out);
}

void vkd_arena_reset(vkd_arena_t *a) { a->used = 0; }
size_t vkd_arena_used(const vkd_arena_t *a) { return a->used; }
size_t vkd_arena_capacity(const vkd_arena_t *a) { return a->capacity; }
const char *vkd_arena_name(const vkd_arena_t *a) { return a->name; }
vkd_backend_t *vkd_arena_backend(const vkd_arena_t *a) { return a->be; }

vkd_status_t vkd_buf_slice(vkd_buf_t b, size_t off, size_t bytes, vkd_buf_t *out) {
    if (off % VKD_BUF_ALIGN)
        return vkd_fail(VKD_ERR_INVALID, "buffer slice offset %zu is not a multiple of %d", off,
                        VKD_BUF_ALIGN);
    if (off > b.bytes || bytes > b.bytes - off)
        return vkd_fail(VKD_ERR_INVALID, "buffer slice [%zu, %zu) outside a %zu-byte buffer", off,
                        off + bytes, b.bytes);
    *out = b;
    out->off += off;
    out->bytes = bytes;
    if (out->host) out->host = (float *)((unsigned char *)b.host + off);
    return VKD_OK;
}

static vkd_status_t check_copy(vkd_buf_t b, size_t bytes, const char *what) {
    if (!b.arena) return vkd_fail(VKD_ERR_INVALID, "%s: buffer belongs to no arena", what);
    if (bytes > b.bytes)
        return vkd_fail(VKD_ERR_INVALID, "%s: %zu bytes do not fit a %zu-byte buffer", what, bytes,
                        b.bytes);
    return VKD_OK;
}

vkd_status_t vkd_buf_write(vkd_buf_t dst, const void *src, size_t bytes) {
    VKD_TRY(check_copy(dst, bytes, "vkd_buf_write"));
    if (dst.arena->kind == VKD_MEM_VK) return vkd_vk_buf_write(dst, src, bytes);
    memcpy(dst.host, src, bytes);
    return VKD_OK;
}

vkd_status_t vkd_buf_read(vkd_buf_t src, void *dst, size_t bytes) {
    VKD_TRY(check_copy(src, bytes, "vkd_buf_read"));
    if (src.arena->kind == VKD_MEM_VK) return vkd_vk_buf_read(src, dst, bytes);
    memcpy(dst, src.host, bytes);
    return VKD_OK;
}
