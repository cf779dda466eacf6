// Kernels and dispatch: SPIR-V reflection, lazy pipeline creation, descriptor binding,
// push constants, barriers and timestamps.
//
// The dispatch helper checks each call against what the SPIR-V module itself declares
// (binding count, push-constant block size), so a C push-constant struct that drifts from
// its shader fails loudly at the first dispatch instead of reading garbage.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

// ---- SPIR-V reflection ------------------------------------------------------------------

enum {
    SPV_OpExecutionMode = 16, SPV_OpTypeInt = 21, SPV_OpTypeFloat = 22, SPV_OpTypeVector = 23,
    SPV_OpTypeArray = 28, SPV_OpTypeStruct = 30, SPV_OpTypePointer = 32, SPV_OpConstant = 43,
    SPV_OpVariable = 59, SPV_OpDecorate = 71, SPV_OpMemberDecorate = 72,
    SPV_DecArrayStride = 6, SPV_DecBinding = 33, SPV_DecDescriptorSet = 34, SPV_DecOffset = 35,
    SPV_ModeLocalSize = 17, SPV_ClassUniform = 2, SPV_ClassPushConstant = 9,
    SPV_ClassStorageBuffer = 12, SPV_MAGIC = 0x07230203
};

typedef struct {
    uint16_t op;
    uint32_t a, b, c; // first operands (meaning depends on op)
    uint32_t pos;     // word index of the instruction
} spv_id_info_t;

// Size in bytes of a type id used in a push-constant block (scalars, vectors, arrays of
// them, nested structs). Returns 0 for anything else.
static uint32_t type_size(const uint32_t *w, size_t n, const spv_id_info_t *ids, uint32_t bound,
                          const uint32_t *array_stride, uint32_t id, int depth);

static uint32_t struct_size(const uint32_t *w, size_t n, const spv_id_info_t *ids, uint32_t bound,
                            const uint32_t *array_stride, uint32_t id, int depth) {
    // Members' offsets come from OpMemberDecorate ... Offset; size = max(offset + size).
    const spv_id_info_t *t = &ids[id];
    uint32_t count = (w[t->pos] >> 16) - 2, size = 0;
    for (uint32_t m = 0; m < count; m++) {
        uint32_t mtype = w[t->pos + 2 + m], off = UINT32_MAX;
        for (size_t i = 5; i < n;) {
            uint32_t wc = w[i] >> 16, op = w[i] & 0xffff;
            if (wc == 0) break;
            if (op == SPV_OpMemberDecorate && wc >= 5 && w[i + 1] == id && w[i + 2] == m &&
                w[i + 3] == SPV_DecOffset)
                off = w[i + 4];
            i += wc;
        }
        uint32_t ms = type_size(w, n, ids, bound, array_stride, mtype, depth + 1);
        if (off == UINT32_MAX || ms == 0) return 0;
        if (off + ms > size) size = off + ms;
    }
    return size;
}

static uint32_t type_size(const uint32_t *w, size_t n, const spv_id_info_t *ids, uint32_t bound,
                          const uint32_t *array_stride, uint32_t id, int depth) {
    if (id >= bound || depth > 8) return 0;
    const spv_id_info_t *t = &ids[id];
    switch (t->op) {
    case SPV_OpTypeInt:
    case SPV_OpTypeFloat: return t->a / 8;
    case SPV_OpTypeVector: return t->b * type_size(w, n, ids, bound, array_stride, t->a, depth + 1);
    case SPV_OpTypeArray: {
        uint32_t len_id = t->b;
        if (len_id >= bound || ids[len_id].op != SPV_OpConstant) return 0;
        return ids[len_id].c * array_stride[id];
    }
    case SPV_OpTypeStruct: return struct_size(w, n, ids, bound, array_stride, id, depth);
    default: return 0;
    }
}

vkd_status_t vkd_spirv_reflect(const uint32_t *w, size_t n, vkd_spirv_info_t *out) {
    memset(out, 0, sizeof *out);
    if (n < 5 || w[0] != SPV_MAGIC) return vkd_fail(VKD_ERR_FORMAT, "not a SPIR-V module");
    uint32_t bound = w[3];
    if (bound == 0 || bound > (1u << 22)) return vkd_fail(VKD_ERR_FORMAT, "bad SPIR-V id bound");
    spv_id_info_t *ids = calloc(bound, sizeof *ids);
    uint32_t *binding = malloc(bound * sizeof *binding);
    uint32_t *set = calloc(bound, sizeof *set);
    uint32_t *stride = calloc(bound, sizeof *stride);
    if (!ids || !binding || !set || !stride) {
        free(ids), free(binding), free(set), free(stride);
        return vkd_fail(VKD_ERR_NOMEM, "out of host memory reflecting SPIR-V");
    }
    memset(binding, 0xff, bound * sizeof *binding);
    vkd_status_t s = VKD_OK;
    int have_local = 0;
    // Pass 1: types, constants, decorations, execution modes.
    for (size_t i = 5; i < n;) {
        uint32_t wc = w[i] >> 16, op = w[i] & 0xffff;
        if (wc == 0 || i + wc > n) {
            s = vkd_fail(VKD_ERR_FORMAT, "truncated SPIR-V instruction at word %zu", i);
            goto done;
        }
        switch (op) {
        case SPV_OpTypeInt: case SPV_OpTypeFloat: case SPV_OpTypeVector: case SPV_OpTypeArray:
        case SPV_OpTypeStruct: case SPV_OpTypePointer:
            if (wc >= 2 && w[i + 1] < bound)
                ids[w[i + 1]] = (spv_id_info_t){(uint16_t)op, wc > 2 ? w[i + 2] : 0,
                                                wc > 3 ? w[i + 3] : 0, 0, (uint32_t)i};
            break;
        case SPV_OpConstant: // result type, id, value
            if (wc >= 4 && w[i + 2] < bound)
                ids[w[i + 2]] = (spv_id_info_t){(uint16_t)op, w[i + 1], 0, w[i + 3], (uint32_t)i};
            break;
        case SPV_OpVariable: // result type, id, storage class
            if (wc >= 4 && w[i + 2] < bound)
                ids[w[i + 2]] = (spv_id_info_t){(uint16_t)op, w[i + 1], w[i + 3], 0, (uint32_t)i};
            break;
        case SPV_OpDecorate:
            if (wc >= 4 && w[i + 1] < bound) {
                if (w[i + 2] == SPV_DecBinding) binding[w[i + 1]] = w[i + 3];
                if (w[i + 2] == SPV_DecDescriptorSet) set[w[i + 1]] = w[i + 3];
                if (w[i + 2] == SPV_DecArrayStride) stride[w[i + 1]] = w[i + 3];
            }
            break;
        case SPV_OpExecutionMode:
            if (wc >= 6 && w[i + 2] == SPV_ModeLocalSize) {
                out->local[0] = w[i + 3], out->local[1] = w[i + 4], out->local[2] = w[i + 5];
                have_local = 1;
            }
            break;
        }
        i += wc;
    }
    if (!have_local) {
        s = vkd_fail(VKD_ERR_FORMAT, "SPIR-V module has no literal LocalSize execution mode");
        goto done;
    }
    // Pass 2: resource variables.
    int max_binding = -1;
    for (uint32_t id = 0; id < bound; id++) {
        if (ids[id].op != SPV_OpVariable) continue;
        uint32_t cls = ids[id].b;
        if (cls == SPV_ClassStorageBuffer || cls == SPV_ClassUniform) {
            if (binding[id] == 0xffffffffu || set[id] != 0) {
                s = vkd_fail(VKD_ERR_FORMAT, "buffer variable %u is not at set 0 with a binding", id);
                goto done;
            }
            if ((int)binding[id] > max_binding) max_binding = (int)binding[id];
        } else if (cls == SPV_ClassPushConstant) {
            uint32_t ptr = ids[id].a;
            if (ptr >= bound || ids[ptr].op != SPV_OpTypePointer) {
                s = vkd_fail(VKD_ERR_FORMAT, "push-constant variable without a pointer type");
                goto done;
            }
            out->push_size = type_size(w, n, ids, bound, stride, ids[ptr].b, 0);
            if (out->push_size == 0) {
                s = vkd_fail(VKD_ERR_FORMAT, "cannot size the push-constant block");
                goto done;
            }
        }
    }
    out->n_bindings = max_binding + 1;
done:
    free(ids), free(binding), free(set), free(stride);
    return s;
}

// ---- kernels ----------------------------------------------------------------------------

#define VK_CHECK(call, what)                                                             \
    do {                                                                                 \
        VkResult r_ = (call);                                                            \
        if (r_ != VK_SUCCESS)                                                            \
            return vkd_fail(VKD_ERR_VULKAN, "%s for kernel '%s' failed (VkResult %d)", what, \
                            vkd_spirv[sh].name, (int)r_);                                \
    } while (0)

static vkd_status_t kernel_get(vkd_backend_t *be, vkd_shader_id_t sh, vkd_vk_kernel_t **out) {
    if ((int)sh < 0 || sh >= VKD_SH_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "unknown shader id %d", (int)sh);
    struct vkd_vk *vk = be->vk;
    vkd_vk_kernel_t *k = &vk->kernels[sh];
    *out = k;
    if (k->ready) return VKD_OK;
    vkd_vk_fns_t *f = &vk->inst->fn;
    const vkd_spirv_t *src = &vkd_spirv[sh];
    vkd_status_t s = vkd_spirv_reflect(src->words, src->n_words, &k->info);
    if (s != VKD_OK) return vkd_fail_ctx(s, "shader '%s'", src->name);
    if (k->info.n_bindings > VKD_VK_MAX_BINDINGS)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "shader '%s' has %d bindings (max %d)", src->name,
                        k->info.n_bindings, VKD_VK_MAX_BINDINGS);
    const VkPhysicalDeviceLimits *lim = &vk->dev_info->props.limits;
    if (k->info.push_size > lim->maxPushConstantsSize)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "shader '%s' needs %u bytes of push constants; '%s' "
                        "allows %u", src->name, k->info.push_size, be->name,
                        lim->maxPushConstantsSize);
    uint32_t lx = k->info.local[0], ly = k->info.local[1], lz = k->info.local[2];
    if (lx * ly * lz > lim->maxComputeWorkGroupInvocations)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "shader '%s' workgroup %ux%ux%u exceeds the device's "
                        "%u invocations", src->name, lx, ly, lz,
                        lim->maxComputeWorkGroupInvocations);

    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = src->n_words * 4,
                                    .pCode = src->words};
    VK_CHECK(f->vkCreateShaderModule(vk->device, &mci, NULL, &k->module), "vkCreateShaderModule");
    VkDescriptorSetLayoutBinding b[VKD_VK_MAX_BINDINGS];
    for (int i = 0; i < k->info.n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = (uint32_t)k->info.n_bindings,
                                           .pBindings = b};
    VK_CHECK(f->vkCreateDescriptorSetLayout(vk->device, &dci, NULL, &k->dsl),
             "vkCreateDescriptorSetLayout");
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = k->info.push_size};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &k->dsl,
                                      .pushConstantRangeCount = k->info.push_size ? 1 : 0,
                                      .pPushConstantRanges = &pr};
    VK_CHECK(f->vkCreatePipelineLayout(vk->device, &lci, NULL, &k->layout), "vkCreatePipelineLayout");
    VkComputePipelineCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = k->module,
                  .pName = "main"},
        .layout = k->layout};
    VK_CHECK(f->vkCreateComputePipelines(vk->device, VK_NULL_HANDLE, 1, &pci, NULL, &k->pipeline),
             "vkCreateComputePipelines");
    k->ready = 1;
    return VKD_OK;
}

vkd_status_t vkd_vk_groups(vkd_backend_t *be, vkd_shader_id_t sh, int axis, uint64_t n,
                           uint32_t *groups) {
    vkd_vk_kernel_t *k;
    VKD_TRY(kernel_get(be, sh, &k));
    uint64_t l = k->info.local[axis];
    uint64_t g = (n + l - 1) / l;
    uint32_t max = be->vk->dev_info->props.limits.maxComputeWorkGroupCount[axis];
    if (g > max)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "kernel '%s': %llu workgroups along axis %d exceed "
                        "the device limit %u", vkd_spirv[sh].name, (unsigned long long)g, axis, max);
    *groups = (uint32_t)g;
    return VKD_OK;
}

vkd_status_t vkd_vk_dispatch(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                             int nbufs, const void *pc, size_t pc_size, uint32_t gx,
                             uint32_t gy, uint32_t gz) {
    if (be->kind != VKD_BACKEND_VULKAN || !be->vk)
        return vkd_fail(VKD_ERR_INVALID, "vkd_vk_dispatch on a non-Vulkan backend");
    struct vkd_vk *vk = be->vk;
    vkd_vk_fns_t *f = &vk->inst->fn;
    vkd_vk_kernel_t *k;
    VKD_TRY(kernel_get(be, sh, &k));
    const char *name = vkd_spirv[sh].name;
    if (nbufs != k->info.n_bindings)
        return vkd_fail(VKD_ERR_INVALID, "kernel '%s' declares %d buffers but %d were given", name,
                        k->info.n_bindings, nbufs);
    if (pc_size != k->info.push_size)
        return vkd_fail(VKD_ERR_INVALID, "kernel '%s' declares %u bytes of push constants but the "
                        "C struct has %zu", name, k->info.push_size, pc_size);
    if (gx == 0 || gy == 0 || gz == 0) return VKD_OK;
    const VkPhysicalDeviceLimits *lim = &vk->dev_info->props.limits;
    uint32_t g[3] = {gx, gy, gz};
    for (int i = 0; i < 3; i++)
        if (g[i] > lim->maxComputeWorkGroupCount[i])
            return vkd_fail(VKD_ERR_UNSUPPORTED, "kernel '%s': %u workgroups along axis %d exceed "
                            "the device limit %u", name, g[i], i, lim->maxComputeWorkGroupCount[i]);
    VkDescriptorBufferInfo info[VKD_VK_MAX_BINDINGS];
    for (int i = 0; i < nbufs; i++) {
        vkd_buf_t b = bufs[i];
        if (!vkd_buf_present(b)) {
            info[i] = (VkDescriptorBufferInfo){vk->dummy->vk_buffer, 0, VKD_BUF_ALIGN};
            continue;
        }
        if (!b.arena || b.arena->be != be || b.arena->kind != VKD_MEM_VK)
            return vkd_fail(VKD_ERR_INVALID, "kernel '%s': buffer %d is not memory of this Vulkan "
                            "backend", name, i);
        if (b.off % lim->minStorageBufferOffsetAlignment)
            return vkd_fail(VKD_ERR_INVALID, "kernel '%s': buffer %d offset %zu is not aligned to "
                            "%llu", name, i, b.off,
                            (unsigned long long)lim->minStorageBufferOffsetAlignment);
        if (b.bytes > lim->maxStorageBufferRange)
            return vkd_fail(VKD_ERR_UNSUPPORTED, "kernel '%s': buffer %d is %zu bytes; '%s' binds "
                            "at most %u bytes per buffer", name, i, b.bytes, be->name,
                            lim->maxStorageBufferRange);
        info[i] = (VkDescriptorBufferInfo){b.arena->vk_buffer, b.off, b.bytes};
    }
    // A full descriptor pool means a long recording: finish it and start a new one.
    if (vk->sets_used >= VKD_VK_SETS_PER_POOL) VKD_TRY(vkd_vk_sync(be));
    VKD_TRY(vkd_vk_begin(be));
    VkDescriptorSet set = VK_NULL_HANDLE;
    if (nbufs > 0) {
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = vk->desc_pool,
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &k->dsl};
        VK_CHECK(f->vkAllocateDescriptorSets(vk->device, &ai, &set), "vkAllocateDescriptorSets");
        vk->sets_used++;
        VkWriteDescriptorSet wr[VKD_VK_MAX_BINDINGS];
        for (int i = 0; i < nbufs; i++)
            wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = (uint32_t)i,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &info[i]};
        f->vkUpdateDescriptorSets(vk->device, (uint32_t)nbufs, wr, 0, NULL);
    }
    f->vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->pipeline);
    if (nbufs > 0)
        f->vkCmdBindDescriptorSets(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0,
                                   NULL);
    if (pc_size)
        f->vkCmdPushConstants(vk->cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)pc_size, pc);
    f->vkCmdDispatch(vk->cmd, gx, gy, gz);
    // Conservative but simple: every dispatch may feed the next one, so make all shader and
    // transfer writes visible to all later shader and transfer accesses.
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    f->vkCmdPipelineBarrier(vk->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->n_dispatches++;
    return VKD_OK;
}

vkd_status_t vkd_vk_dispatch_1d(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                                int nbufs, const void *pc, size_t pc_size, uint64_t n) {
    vkd_vk_kernel_t *k;
    VKD_TRY(kernel_get(be, sh, &k));
    uint64_t l = k->info.local[0];
    uint64_t g = (n + l - 1) / l;
    if (g > 65535) g = 65535; // the shader's grid-stride loop covers the rest
    return vkd_vk_dispatch(be, sh, bufs, nbufs, pc, pc_size, (uint32_t)g, 1, 1);
}

// ---- timestamps -------------------------------------------------------------------------

vkd_status_t vkd_vk_timestamp(vkd_backend_t *be, uint32_t *query_index) {
    struct vkd_vk *vk = be->vk;
    if (!vk->query_pool)
        return vkd_fail(VKD_ERR_UNSUPPORTED, "'%s' has no timestamp queries on its compute queue",
                        be->name);
    VKD_TRY(vkd_vk_begin(be));
    if (vk->n_queries >= VKD_VK_MAX_TIMESTAMPS)
        return vkd_fail(VKD_ERR_INVALID, "more than %d timestamps in one recording",
                        VKD_VK_MAX_TIMESTAMPS);
    *query_index = vk->n_queries++;
    vk->inst->fn.vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
                                     vk->query_pool, *query_index);
    return VKD_OK;
}

vkd_status_t vkd_vk_elapsed_ms(vkd_backend_t *be, uint32_t q0, uint32_t q1, double *ms) {
    struct vkd_vk *vk = be->vk;
    if (vk->recording)
        return vkd_fail(VKD_ERR_INVALID, "read timestamps after vkd_backend_sync()");
    uint64_t t[2];
    VkResult r = vk->inst->fn.vkGetQueryPoolResults(vk->device, vk->query_pool, q0, 1, sizeof t[0],
                                                    &t[0], sizeof t[0], VK_QUERY_RESULT_64_BIT |
                                                    VK_QUERY_RESULT_WAIT_BIT);
    if (r == VK_SUCCESS)
        r = vk->inst->fn.vkGetQueryPoolResults(vk->device, vk->query_pool, q1, 1, sizeof t[1],
                                               &t[1], sizeof t[1], VK_QUERY_RESULT_64_BIT |
                                               VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) return vkd_fail(VKD_ERR_VULKAN, "vkGetQueryPoolResults (VkResult %d)", (int)r);
    *ms = (double)(t[1] - t[0]) * vk->dev_info->props.limits.timestampPeriod * 1e-6;
    return VKD_OK;
}

uint32_t vkd_vk_loop_budget(const vkd_backend_t *be) {
    if (be->kind != VKD_BACKEND_VULKAN || !be->vk) return 0;
    return be->vk->dev_info->driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE ? 62000u : 0u;
}

int vkd_vk_is_cpu_device(const vkd_backend_t *be) {
    return be->kind == VKD_BACKEND_VULKAN && be->vk &&
           be->vk->dev_info->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
}
