// Vulkan logical device, queue, command recording, fences, arena memory and host copies.
//
// One command buffer records a whole step; vkd_vk_sync() submits it and waits on a fence.
// Arena memory is one VkDeviceMemory + one VkBuffer per arena; views are offsets into it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

#define VK_CHECK(call, what)                                                             \
    do {                                                                                 \
        VkResult r_ = (call);                                                            \
        if (r_ != VK_SUCCESS) return vkd_fail(VKD_ERR_VULKAN, "%s failed (VkResult %d)", what, (int)r_); \
    } while (0)

static vkd_status_t create_dummy(vkd_backend_t *be) {
    vkd_arena_t *a = calloc(1, sizeof *a);
    if (!a) return vkd_fail(VKD_ERR_NOMEM, "out of host memory");
    a->be = be;
    snprintf(a->name, sizeof a->name, "dummy");
    a->kind = VKD_MEM_VK;
    a->capacity = VKD_BUF_ALIGN;
    vkd_status_t s = vkd_vk_arena_alloc(be, a, 0);
    if (s != VKD_OK) {
        free(a);
        return s;
    }
    be->vk->dummy = a;
    return VKD_OK;
}

vkd_status_t vkd_vk_backend_init(vkd_backend_t *be, vkd_vk_instance_t *inst, int index) {
    struct vkd_vk *vk = calloc(1, sizeof *vk);
    if (!vk) return vkd_fail(VKD_ERR_NOMEM, "out of host memory");
    be->vk = vk;
    vk->inst = inst;
    vk->device_index = index;
    vk->dev_info = &inst->devices[index];
    vk->queue_family = (uint32_t)vk->dev_info->compute_family;
    snprintf(be->name, sizeof be->name, "%s", vk->dev_info->props.deviceName);
    vkd_vk_fns_t *f = &inst->fn;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = vk->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkResult r = f->vkCreateDevice(vk->dev_info->handle, &dci, NULL, &vk->device);
    if (r != VK_SUCCESS) {
        be->vk = NULL;
        free(vk);
        return vkd_fail(VKD_ERR_VULKAN, "vkCreateDevice on '%s' failed (VkResult %d)", be->name,
                        (int)r);
    }
#define VKD_LOAD(fn)                                                                       \
    f->fn = (PFN_##fn)f->vkGetDeviceProcAddr(vk->device, #fn);                           \
    if (!f->fn) return vkd_fail(VKD_ERR_VULKAN, "device lacks %s", #fn);
    VKD_VK_DEVICE_FUNCS(VKD_LOAD)
#undef VKD_LOAD
    f->vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);

    // Unified memory (integrated GPUs, lavapipe): device-local memory that the host can
    // map, so uploads are plain memcpy and no staging copy is recorded.
    const VkPhysicalDeviceMemoryProperties *mp = &vk->dev_info->mem;
    VkMemoryPropertyFlags uma = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT |
                                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int any_local_only = 0;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags fl = mp->memoryTypes[i].propertyFlags;
        if ((fl & uma) == uma) vk->host_visible_device_memory = 1;
        if ((fl & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !(fl & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
            any_local_only = 1;
    }
    // On a discrete GPU a small host-visible device-local heap (ReBAR window) is not the
    // place for big arenas: prefer plain device-local memory there.
    if (vk->dev_info->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU && any_local_only)
        vk->host_visible_device_memory = 0;

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = vk->queue_family};
    VK_CHECK(f->vkCreateCommandPool(vk->device, &pci, NULL, &vk->cmd_pool), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = vk->cmd_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VK_CHECK(f->vkAllocateCommandBuffers(vk->device, &cai, &vk->cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_CHECK(f->vkCreateFence(vk->device, &fci, NULL, &vk->fence), "vkCreateFence");
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = VKD_VK_SETS_PER_POOL * VKD_VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = VKD_VK_SETS_PER_POOL,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    VK_CHECK(f->vkCreateDescriptorPool(vk->device, &dpi, NULL, &vk->desc_pool),
             "vkCreateDescriptorPool");
    if (vk->dev_info->has_timestamps) {
        VkQueryPoolCreateInfo qpi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = VKD_VK_MAX_TIMESTAMPS};
        VK_CHECK(f->vkCreateQueryPool(vk->device, &qpi, NULL, &vk->query_pool),
                 "vkCreateQueryPool");
    }
    return create_dummy(be);
}

void vkd_vk_backend_release(vkd_backend_t *be) {
    struct vkd_vk *vk = be->vk;
    if (!vk) return;
    vkd_vk_fns_t *f = &vk->inst->fn;
    if (vk->device && f->vkDestroyDevice && f->vkDeviceWaitIdle) {
        f->vkDeviceWaitIdle(vk->device);
        for (int i = 0; i < VKD_SH_COUNT; i++) {
            vkd_vk_kernel_t *k = &vk->kernels[i];
            if (k->pipeline) f->vkDestroyPipeline(vk->device, k->pipeline, NULL);
            if (k->layout) f->vkDestroyPipelineLayout(vk->device, k->layout, NULL);
            if (k->dsl) f->vkDestroyDescriptorSetLayout(vk->device, k->dsl, NULL);
            if (k->module) f->vkDestroyShaderModule(vk->device, k->module, NULL);
        }
        vkd_arena_destroy(vk->dummy);
        vkd_arena_destroy(vk->staging);
        if (vk->query_pool) f->vkDestroyQueryPool(vk->device, vk->query_pool, NULL);
        if (vk->desc_pool) f->vkDestroyDescriptorPool(vk->device, vk->desc_pool, NULL);
        if (vk->fence) f->vkDestroyFence(vk->device, vk->fence, NULL);
        if (vk->cmd_pool) f->vkDestroyCommandPool(vk->device, vk->cmd_pool, NULL);
        f->vkDestroyDevice(vk->device, NULL);
    }
    free(vk);
    be->vk = NULL;
}

// ---- recording --------------------------------------------------------------------------

vkd_status_t vkd_vk_begin(vkd_backend_t *be) {
    struct vkd_vk *vk = be->vk;
    if (vk->recording) return VKD_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_CHECK(vk->inst->fn.vkBeginCommandBuffer(vk->cmd, &bi), "vkBeginCommandBuffer");
    if (vk->query_pool)
        vk->inst->fn.vkCmdResetQueryPool(vk->cmd, vk->query_pool, 0, VKD_VK_MAX_TIMESTAMPS);
    vk->n_queries = 0;
    vk->recording = 1;
    vk->n_dispatches = 0;
    return VKD_OK;
}

vkd_status_t vkd_vk_sync(vkd_backend_t *be) {
    struct vkd_vk *vk = be->vk;
    if (!vk->recording) return VKD_OK;
    vkd_vk_fns_t *f = &vk->inst->fn;
    vk->recording = 0;
    VK_CHECK(f->vkEndCommandBuffer(vk->cmd), "vkEndCommandBuffer");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &vk->cmd};
    VK_CHECK(f->vkQueueSubmit(vk->queue, 1, &si, vk->fence), "vkQueueSubmit");
    VkResult r = f->vkWaitForFences(vk->device, 1, &vk->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return vkd_fail(VKD_ERR_VULKAN, "waiting for the GPU failed (VkResult %d%s)", (int)r,
                        r == VK_ERROR_DEVICE_LOST ? ": device lost" : "");
    VK_CHECK(f->vkResetFences(vk->device, 1, &vk->fence), "vkResetFences");
    VK_CHECK(f->vkResetCommandPool(vk->device, vk->cmd_pool, 0), "vkResetCommandPool");
    VK_CHECK(f->vkResetDescriptorPool(vk->device, vk->desc_pool, 0), "vkResetDescriptorPool");
    vk->sets_used = 0;
    return VKD_OK;
}

// ---- memory -----------------------------------------------------------------------------

static int find_memory_type(const VkPhysicalDeviceMemoryProperties *mp, uint32_t bits,
                            VkMemoryPropertyFlags want) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++)
        if ((bits & (1u << i)) && (mp->memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

vkd_status_t vkd_vk_arena_alloc(vkd_backend_t *be, vkd_arena_t *a, int host_visible) {
    struct vkd_vk *vk = be->vk;
    vkd_vk_fns_t *f = &vk->inst->fn;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = a->capacity,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = f->vkCreateBuffer(vk->device, &bci, NULL, &a->vk_buffer);
    if (r != VK_SUCCESS)
        return vkd_fail(VKD_ERR_NOMEM, "vkCreateBuffer of %zu bytes failed (VkResult %d)",
                        a->capacity, (int)r);
    VkMemoryRequirements req;
    f->vkGetBufferMemoryRequirements(vk->device, a->vk_buffer, &req);
    const VkPhysicalDeviceMemoryProperties *mp = &vk->dev_info->mem;
    VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int type = -1;
    if (host_visible) {
        type = find_memory_type(mp, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (type < 0) type = find_memory_type(mp, req.memoryTypeBits, hv);
    } else if (vk->host_visible_device_memory) {
        type = find_memory_type(mp, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    }
    if (type < 0 && !host_visible)
        type = find_memory_type(mp, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) type = find_memory_type(mp, req.memoryTypeBits, 0);
    if (type < 0) {
        f->vkDestroyBuffer(vk->device, a->vk_buffer, NULL);
        a->vk_buffer = VK_NULL_HANDLE;
        return vkd_fail(VKD_ERR_NOMEM, "no suitable Vulkan memory type");
    }
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    r = f->vkAllocateMemory(vk->device, &mai, NULL, &a->vk_mem);
    if (r != VK_SUCCESS) {
        f->vkDestroyBuffer(vk->device, a->vk_buffer, NULL);
        a->vk_buffer = VK_NULL_HANDLE;
        return vkd_fail(VKD_ERR_NOMEM,
                        "cannot allocate %zu bytes of %s memory on '%s' (VkResult %d%s)",
                        (size_t)req.size, host_visible ? "host-visible" : "device", be->name,
                        (int)r, r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? ": out of device memory" : "");
    }
    r = f->vkBindBufferMemory(vk->device, a->vk_buffer, a->vk_mem, 0);
    if (r == VK_SUCCESS && (mp->memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
        void *p = NULL;
        r = f->vkMapMemory(vk->device, a->vk_mem, 0, VK_WHOLE_SIZE, 0, &p);
        a->host = p;
    }
    if (r != VK_SUCCESS) {
        vkd_vk_arena_free(a);
        return vkd_fail(VKD_ERR_VULKAN, "binding/mapping arena memory failed (VkResult %d)", (int)r);
    }
    return VKD_OK;
}

void vkd_vk_arena_free(vkd_arena_t *a) {
    if (!a || !a->be || !a->be->vk) return;
    struct vkd_vk *vk = a->be->vk;
    vkd_vk_fns_t *f = &vk->inst->fn;
    // The arena may still be referenced by recorded work: finish it first.
    if (vk->recording) vkd_vk_sync(a->be);
    if (a->vk_buffer) f->vkDestroyBuffer(vk->device, a->vk_buffer, NULL);
    if (a->vk_mem) f->vkFreeMemory(vk->device, a->vk_mem, NULL); // unmaps implicitly
    a->vk_buffer = VK_NULL_HANDLE;
    a->vk_mem = VK_NULL_HANDLE;
    a->host = NULL;
}

static vkd_status_t ensure_staging(vkd_backend_t *be, size_t bytes) {
    struct vkd_vk *vk = be->vk;
    if (vk->staging && vk->staging->capacity >= bytes) return VKD_OK;
    vkd_arena_destroy(vk->staging);
    vk->staging = NULL;
    vkd_arena_t *a = calloc(1, sizeof *a);
    if (!a) return vkd_fail(VKD_ERR_NOMEM, "out of host memory");
    a->be = be;
    snprintf(a->name, sizeof a->name, "staging");
    a->kind = VKD_MEM_VK;
    a->capacity = (bytes + VKD_BUF_ALIGN - 1) / VKD_BUF_ALIGN * VKD_BUF_ALIGN;
    vkd_status_t s = vkd_vk_arena_alloc(be, a, 1);
    if (s != VKD_OK) {
        free(a);
        return vkd_fail_ctx(s, "staging buffer for a %zu-byte copy", bytes);
    }
    vk->staging = a;
    return VKD_OK;
}

static vkd_status_t staged_copy(vkd_buf_t b, size_t bytes, int to_device) {
    vkd_backend_t *be = b.arena->be;
    struct vkd_vk *vk = be->vk;
    VKD_TRY(ensure_staging(be, bytes));
    VKD_TRY(vkd_vk_begin(be));
    VkBufferCopy region = {.srcOffset = to_device ? 0 : b.off,
                           .dstOffset = to_device ? b.off : 0,
                           .size = bytes};
    vk->inst->fn.vkCmdCopyBuffer(vk->cmd, to_device ? vk->staging->vk_buffer : b.arena->vk_buffer,
                                 to_device ? b.arena->vk_buffer : vk->staging->vk_buffer, 1,
                                 &region);
    return vkd_vk_sync(be);
}

vkd_status_t vkd_vk_buf_write(vkd_buf_t dst, const void *src, size_t bytes) {
    vkd_backend_t *be = dst.arena->be;
    VKD_TRY(vkd_vk_sync(be));
    if (bytes == 0) return VKD_OK;
    if (dst.host) {
        memcpy(dst.host, src, bytes);
        return VKD_OK;
    }
    VKD_TRY(ensure_staging(be, bytes));
    memcpy(be->vk->staging->host, src, bytes);
    return staged_copy(dst, bytes, 1);
}

vkd_status_t vkd_vk_buf_read(vkd_buf_t src, void *dst, size_t bytes) {
    vkd_backend_t *be = src.arena->be;
    VKD_TRY(vkd_vk_sync(be));
    if (bytes == 0) return VKD_OK;
    if (src.host) {
        memcpy(dst, src.host, bytes);
        return VKD_OK;
    }
    VKD_TRY(staged_copy(src, bytes, 0));
    memcpy(dst, be->vk->staging->host, bytes);
    return VKD_OK;
}
