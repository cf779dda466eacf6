// The CPU backend's op table: one entry per op (see backend_impl.h).
#include "ops_impl.h"

const vkd_backend_ops_t vkd_cpu_ops = {
    .fill = fill_cpu,
    .copy = copy_cpu,
    .copy_strided = copy_strided_cpu,
    .gemm_forward = gemm_forward_cpu,
    .bias_grad = bias_grad_cpu,
    .unary_forward = unary_forward_cpu,
    .unary_backward = unary_backward_cpu,
    .binary_forward = binary_forward_cpu,
    .binary_backward = binary_backward_cpu,
    .scale_forward = scale_forward_cpu,
    .scale_backward = scale_backward_cpu,
    .reduce_forward = reduce_forward_cpu,
    .reduce_backward = reduce_backward_cpu,
    .layernorm_forward = layernorm_forward_cpu,
    .layernorm_backward = layernorm_backward_cpu,
    .groupnorm_forward = groupnorm_forward_cpu,
    .groupnorm_backward = groupnorm_backward_cpu,
    .softmax_forward = softmax_forward_cpu,
    .softmax_backward = softmax_backward_cpu,
    .conv2d_forward = conv2d_forward_cpu,
    .attention_forward = attention_forward_cpu,
    .adam_step = adam_step_cpu,
    .rng_uniform = rng_uniform_cpu,
    .rng_normal = rng_normal_cpu,
};
