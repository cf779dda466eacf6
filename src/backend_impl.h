// Internals shared by the backends: the op table and the backend/arena structs.
// Only src/ backend code includes this; everything else uses backend.h and ops.h.
#ifndef VKD_BACKEND_IMPL_H
#define VKD_BACKEND_IMPL_H

#include <vulkan/vulkan.h>

#include "ops.h"

// One entry per op, with exactly the op_* signature. ops.c checks arguments (sizes,
// buffer lengths) once for both backends before calling through this table.
typedef struct vkd_backend_ops {
    vkd_status_t (*fill)(vkd_backend_t *, vkd_buf_t, float, size_t);
    vkd_status_t (*copy)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, size_t);
    vkd_status_t (*copy_strided)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, const vkd_copy_strided_t *);
    vkd_status_t (*gemm_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                 const vkd_gemm_t *);
    // dbias (N) += column sums of dc (rows, N): the bias gradient of op_gemm_backward.
    vkd_status_t (*bias_grad)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, int, int);
    vkd_status_t (*unary_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, size_t, vkd_act_t);
    vkd_status_t (*unary_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, size_t,
                                   vkd_act_t);
    vkd_status_t (*binary_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                   const vkd_binary_t *);
    vkd_status_t (*binary_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                    vkd_buf_t, const vkd_binary_t *);
    vkd_status_t (*scale_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, size_t, float, float);
    vkd_status_t (*scale_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, size_t, float);
    vkd_status_t (*reduce_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, const vkd_reduce_t *);
    vkd_status_t (*reduce_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, const vkd_reduce_t *);
    vkd_status_t (*layernorm_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                      vkd_buf_t, vkd_buf_t, vkd_buf_t, int, int, float);
    vkd_status_t (*layernorm_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       int, int);
    vkd_status_t (*groupnorm_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                      vkd_buf_t, vkd_buf_t, vkd_buf_t, const vkd_groupnorm_t *);
    vkd_status_t (*groupnorm_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       const vkd_groupnorm_t *);
    vkd_status_t (*softmax_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, int, int, float);
    vkd_status_t (*softmax_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, int, int,
                                     float);
    vkd_status_t (*conv2d_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                   const vkd_conv2d_t *);
    vkd_status_t (*conv2d_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                    vkd_buf_t, vkd_buf_t, const vkd_conv2d_t *);
    vkd_status_t (*attention_forward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                      vkd_buf_t, const vkd_attention_t *);
    vkd_status_t (*attention_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t,
                                       const vkd_attention_t *);
    vkd_status_t (*embedding_backward)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, const int32_t *,
                                       int, int, int);
    vkd_status_t (*adam_step)(vkd_backend_t *, vkd_buf_t, vkd_buf_t, vkd_buf_t, vkd_buf_t, size_t,
                              const vkd_adam_t *);
    vkd_status_t (*rng_uniform)(vkd_backend_t *, vkd_buf_t, size_t, uint64_t, uint64_t,
                                uint64_t);
    vkd_status_t (*rng_normal)(vkd_backend_t *, vkd_buf_t, size_t, uint64_t, uint64_t, uint64_t);
} vkd_backend_ops_t;

// GEMM backward is composed in src/ops/gemm.c from gemm_forward (beta = 1 accumulates)
// and bias_grad.

struct vkd_vk; // Vulkan backend state, see vk/vk.h

struct vkd_backend {
    vkd_backend_kind_t kind;
    const vkd_backend_ops_t *ops;
    char name[256];
    struct vkd_vk *vk; // NULL on the CPU backend
};

extern const vkd_backend_ops_t vkd_cpu_ops;
extern const vkd_backend_ops_t vkd_vk_ops;

// Arena memory kinds.
typedef enum { VKD_MEM_HOST = 0, VKD_MEM_VK = 1 } vkd_mem_kind_t;

struct vkd_arena {
    vkd_backend_t *be;
    char name[64];
    vkd_mem_kind_t kind;
    size_t capacity, used;
    unsigned char *host; // host pointer of the whole arena, or NULL (device-only memory)
    VkDeviceMemory vk_mem; // when kind == VKD_MEM_VK
    VkBuffer vk_buffer;    // one buffer covering the whole arena
};

#endif
