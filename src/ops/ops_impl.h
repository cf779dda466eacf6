// Backend bodies of the ops: NAME_cpu in src/ops/FAMILY_cpu.c, NAME_vk in
// src/ops/FAMILY_vk.c, each with exactly the signature of the op_* function in ops.h
// (arguments already validated by the op_* wrapper in src/ops/FAMILY.c).
#ifndef VKD_OPS_IMPL_H
#define VKD_OPS_IMPL_H

#include "backend_impl.h"

// Shared argument checks used by the op_* wrappers.
// Fails unless b holds at least n floats (or, when optional, is absent).
vkd_status_t vkd_check_buf(const char *op, const char *arg, vkd_buf_t b, size_t n, int optional);
// Fails unless every present buffer belongs to backend be.
vkd_status_t vkd_check_backend(const char *op, vkd_backend_t *be, const vkd_buf_t *bufs, int n);


// Attention descriptor checks shared by the forward and the backward: sizes, scale, causal
// shape, the extents (in elements) of the q, k, v and out/dout views, and distinct elements
// of the out/dout view. vkd_attention_view_distinct checks any (B, H, L, W) view.
vkd_status_t vkd_attention_check(const char *op, const vkd_attention_t *a, const char *out_name,
                                 int64_t *eq, int64_t *ek, int64_t *ev, int64_t *eo);
vkd_status_t vkd_attention_view_distinct(const char *op, const char *name, int B, int H, int L,
                                         int W, int64_t sb, int64_t sh, int64_t sl);

#define VKD_DECLARE_BODIES(name, ...)                                                    \
    vkd_status_t name##_cpu(vkd_backend_t *be, __VA_ARGS__);                             \
    vkd_status_t name##_vk(vkd_backend_t *be, __VA_ARGS__)

VKD_DECLARE_BODIES(fill, vkd_buf_t out, float value, size_t n);
VKD_DECLARE_BODIES(copy, vkd_buf_t out, vkd_buf_t inp, size_t n);
VKD_DECLARE_BODIES(copy_strided, vkd_buf_t out, vkd_buf_t inp, const vkd_copy_strided_t *d);
VKD_DECLARE_BODIES(gemm_forward, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b, vkd_buf_t bias,
                   const vkd_gemm_t *g);
VKD_DECLARE_BODIES(bias_grad, vkd_buf_t dbias, vkd_buf_t dc, int rows, int N);
VKD_DECLARE_BODIES(unary_forward, vkd_buf_t out, vkd_buf_t inp, size_t n, vkd_act_t act);
VKD_DECLARE_BODIES(unary_backward, vkd_buf_t dinp, vkd_buf_t dout, vkd_buf_t inp, size_t n,
                   vkd_act_t act);
VKD_DECLARE_BODIES(binary_forward, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b,
                   const vkd_binary_t *d);
VKD_DECLARE_BODIES(binary_backward, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dout, vkd_buf_t a,
                   vkd_buf_t b, const vkd_binary_t *d);
VKD_DECLARE_BODIES(scale_forward, vkd_buf_t out, vkd_buf_t inp, size_t n, float alpha,
                   float beta);
VKD_DECLARE_BODIES(scale_backward, vkd_buf_t dinp, vkd_buf_t dout, size_t n, float alpha);
VKD_DECLARE_BODIES(reduce_forward, vkd_buf_t out, vkd_buf_t inp, const vkd_reduce_t *d);
VKD_DECLARE_BODIES(reduce_backward, vkd_buf_t dinp, vkd_buf_t dout, const vkd_reduce_t *d);
VKD_DECLARE_BODIES(layernorm_forward, vkd_buf_t out, vkd_buf_t mean, vkd_buf_t rstd,
                   vkd_buf_t inp, vkd_buf_t weight, vkd_buf_t bias, int N, int D, float eps);
VKD_DECLARE_BODIES(layernorm_backward, vkd_buf_t dinp, vkd_buf_t dweight, vkd_buf_t dbias,
                   vkd_buf_t dout, vkd_buf_t inp, vkd_buf_t weight, vkd_buf_t mean,
                   vkd_buf_t rstd, int N, int D);
VKD_DECLARE_BODIES(groupnorm_forward, vkd_buf_t out, vkd_buf_t mean, vkd_buf_t rstd,
                   vkd_buf_t inp, vkd_buf_t weight, vkd_buf_t bias, const vkd_groupnorm_t *d);
VKD_DECLARE_BODIES(groupnorm_backward, vkd_buf_t dinp, vkd_buf_t dweight, vkd_buf_t dbias,
                   vkd_buf_t dout, vkd_buf_t inp, vkd_buf_t weight, vkd_buf_t mean,
                   vkd_buf_t rstd, const vkd_groupnorm_t *d);
VKD_DECLARE_BODIES(softmax_forward, vkd_buf_t out, vkd_buf_t inp, int N, int D, float scale);
VKD_DECLARE_BODIES(softmax_backward, vkd_buf_t dinp, vkd_buf_t dout, vkd_buf_t out, int N,
                   int D, float scale);
VKD_DECLARE_BODIES(conv2d_forward, vkd_buf_t out, vkd_buf_t inp, vkd_buf_t weight,
                   vkd_buf_t bias, const vkd_conv2d_t *c);
VKD_DECLARE_BODIES(conv2d_backward, vkd_buf_t dinp, vkd_buf_t dweight, vkd_buf_t dbias,
                   vkd_buf_t dout, vkd_buf_t inp, vkd_buf_t weight, const vkd_conv2d_t *c);
VKD_DECLARE_BODIES(attention_forward, vkd_buf_t out, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                   const vkd_attention_t *a);
VKD_DECLARE_BODIES(attention_backward, vkd_buf_t dq, vkd_buf_t dk, vkd_buf_t dv,
                   vkd_buf_t dout, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                   const vkd_attention_t *a);
VKD_DECLARE_BODIES(embedding_backward, vkd_buf_t dweight, vkd_buf_t dout, const int32_t *ids,
                   int N, int V, int D);
VKD_DECLARE_BODIES(adam_step, vkd_buf_t param, vkd_buf_t m, vkd_buf_t v, vkd_buf_t grad,
                   size_t n, const vkd_adam_t *o);
VKD_DECLARE_BODIES(rng_uniform, vkd_buf_t out, size_t n, uint64_t seed, uint64_t stream,
                   uint64_t offset);
VKD_DECLARE_BODIES(rng_normal, vkd_buf_t out, size_t n, uint64_t seed, uint64_t stream,
                   uint64_t offset);

// Call through the backend table, failing cleanly when a backend lacks the op.
#define VKD_CALL(be, opname, ...)                                                        \
    ((be)->ops->opname ? (be)->ops->opname((be), __VA_ARGS__)                            \
                       : vkd_fail(VKD_ERR_UNSUPPORTED, "op %s is not available on the %s backend", \
                                  #opname, (be)->name))

#endif
