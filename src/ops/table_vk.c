// The Vulkan backend's op table: one entry per op (see backend_impl.h).
#include "ops_impl.h"

const vkd_backend_ops_t vkd_vk_ops = {
    .fill = fill_vk,
    .copy = copy_vk,
    .copy_strided = copy_strided_vk,
    .gemm_forward = gemm_forward_vk,
    .bias_grad = bias_grad_vk,
    .unary_forward = unary_forward_vk,
    .unary_backward = unary_backward_vk,
    .binary_forward = binary_forward_vk,
    .binary_backward = binary_backward_vk,
    .scale_forward = scale_forward_vk,
    .scale_backward = scale_backward_vk,
    .reduce_forward = reduce_forward_vk,
    .reduce_backward = reduce_backward_vk,
    .layernorm_forward = layernorm_forward_vk,
    .layernorm_backward = layernorm_backward_vk,
    .groupnorm_forward = groupnorm_forward_vk,
    .groupnorm_backward = groupnorm_backward_vk,
    .softmax_forward = softmax_forward_vk,
    .softmax_backward = softmax_backward_vk,
    .conv2d_forward = conv2d_forward_vk,
    .conv2d_backward = conv2d_backward_vk,
    // attention_backward: no Vulkan body yet (NULL: VKD_CALL reports "not available"); the
    // trainer runs it on the CPU backend.
    .attention_forward = attention_forward_vk,
    .embedding_backward = embedding_backward_vk,
    .adam_step = adam_step_vk,
    .rng_uniform = rng_uniform_vk,
    .rng_normal = rng_normal_vk,
};
