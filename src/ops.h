// Compute ops: forward/backward pairs behind the backend table.
//
// Argument order is fixed: backend, outputs, saved state, inputs, weights, sizes.
// All tensors are float32, row-major, contiguous unless a descriptor gives strides.
// Backward functions ACCUMULATE into the gradients they write (dx += ...), so a tensor
// used twice gets the sum of both contributions; zero gradients with op_fill first.
// On the Vulkan backend every op is recorded, not run: call vkd_backend_sync() (or read a
// buffer) to get results.
#ifndef VKD_OPS_H
#define VKD_OPS_H

#include <stdint.h>

#include "backend.h"

// ---- fill / copy ------------------------------------------------------------------
vkd_status_t op_fill(vkd_backend_t *be, vkd_buf_t out, float value, size_t n); // (n)
vkd_status_t op_copy(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n); // (n)

// Strided copy of a 4-D index space: for i < n (all four axes),
//   out[out_off + i0*out_stride[0] + ... + i3*out_stride[3]] (= or +=)
//   inp[inp_off + i0*inp_stride[0] + ... + i3*inp_stride[3]].
// Offsets and strides are in elements (no alignment needed), strides >= 0. Concatenation,
// slicing, channel splits, transposes and nearest-neighbour upsampling (one copy per
// sub-pixel) are all this op. The output positions must be distinct (accumulate = 1 is
// the backward of a copy, not a reduction). out and inp must not overlap.
typedef struct {
    int64_t n[4];
    int64_t out_off, out_stride[4];
    int64_t inp_off, inp_stride[4];
    int accumulate;
} vkd_copy_strided_t;
vkd_status_t op_copy_strided(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                             const vkd_copy_strided_t *d);

// ---- GEMM ---------------------------------------------------------------------------
// For each batch b < batch:
//   C_b (M,N) = alpha * op(A_b) op(B_b) + beta * C_b + bias (N, broadcast over rows)
// op(A) is (M,K): A is stored (M,K), or (K,M) when trans_a. op(B) is (K,N): B is stored
// (K,N), or (N,K) when trans_b. Batch strides are in elements (0 = shared operand).
// With beta == 0, C is not read (NaN in C does not propagate).
// stride_c == 0 with batch > 1 sums all batches into one C (bias added once): that is how
// the gradient of a shared operand is accumulated. 0 < stride_c < M*N is rejected.
typedef struct {
    int M, N, K;
    int trans_a, trans_b;
    float alpha, beta;
    int batch;            // >= 1
    int64_t stride_a, stride_b, stride_c;
} vkd_gemm_t;

vkd_status_t op_gemm_forward(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                             vkd_buf_t bias, const vkd_gemm_t *g);
// Gradients of C = alpha*op(A)op(B) + bias (beta ignored): da += ..., db += ...,
// dbias += column sums of dc. Any of da/db/dbias may be VKD_BUF_NONE.
vkd_status_t op_gemm_backward(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dbias,
                              vkd_buf_t dc, vkd_buf_t a, vkd_buf_t b, const vkd_gemm_t *g);

// ---- elementwise --------------------------------------------------------------------
typedef enum {
    VKD_ACT_SILU = 0,     // x * sigmoid(x)
    VKD_ACT_SIGMOID = 1,
    VKD_ACT_EXP = 2,
    VKD_ACT_SOFTPLUS = 3, // log(1 + exp(x)), linear above x = 20
    VKD_ACT_GELU = 4,     // exact: 0.5 x (1 + erf(x / sqrt 2))
    VKD_ACT_GELU_TANH = 5,
    VKD_ACT_QUICK_GELU = 6, // x * sigmoid(1.702 x) (CLIP)
    VKD_ACT_RELU = 7,
    VKD_ACT_COUNT
} vkd_act_t;

// out (n) = f(inp (n)); out may alias inp.
vkd_status_t op_unary_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              vkd_act_t act);
// dinp (n) += dout (n) * f'(inp (n))
vkd_status_t op_unary_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, vkd_buf_t inp,
                               size_t n, vkd_act_t act);

typedef enum { VKD_BIN_ADD = 0, VKD_BIN_MUL = 1 } vkd_binop_t;
// out[i] = a[i] (op) b[(i / b_inner) % b_n] for i < n: b (b_n) is broadcast. b_inner = 1 and
// b_n = n is plain elementwise; NCHW per-channel is b_inner = H*W, b_n = C; per (batch,
// channel) is b_inner = H*W, b_n = B*C. n must be a multiple of b_n * b_inner.
typedef struct {
    size_t n;
    size_t b_n, b_inner;
    vkd_binop_t op;
} vkd_binary_t;
vkd_status_t op_binary_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b,
                               const vkd_binary_t *d);
// da (n) += dL/da, db (b_n) += dL/db (summed over the broadcast). Either may be NONE.
vkd_status_t op_binary_backward(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dout,
                                vkd_buf_t a, vkd_buf_t b, const vkd_binary_t *d);

// out (n) = alpha * inp (n) + beta; out may alias inp.
vkd_status_t op_scale_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              float alpha, float beta);
// dinp (n) += alpha * dout (n)
vkd_status_t op_scale_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, size_t n,
                               float alpha);

// ---- reductions ---------------------------------------------------------------------
// inp viewed as (outer, n, inner); out (outer, inner) = sum (or mean) over the middle axis.
typedef struct {
    size_t outer, n, inner;
    int mean;
} vkd_reduce_t;
vkd_status_t op_reduce_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               const vkd_reduce_t *d);
// dinp (outer, n, inner) += dout (outer, inner) broadcast (divided by n for a mean)
vkd_status_t op_reduce_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                const vkd_reduce_t *d);

// ---- normalisation ------------------------------------------------------------------
// LayerNorm over the last axis: inp (N, D) -> out (N, D); mean, rstd (N) saved.
vkd_status_t op_layernorm_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, int N, int D, float eps);
// dinp (N, D), dweight (D), dbias (D) += ...; any may be NONE except dinp.
vkd_status_t op_layernorm_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd, int N,
                                   int D);

// GroupNorm: inp (B, C, HW), G groups of C/G channels; weight, bias (C); mean, rstd (B, G).
typedef struct {
    int B, C, HW, G;
    float eps;
} vkd_groupnorm_t;
vkd_status_t op_groupnorm_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, const vkd_groupnorm_t *d);
vkd_status_t op_groupnorm_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd,
                                   const vkd_groupnorm_t *d);

// Softmax over the last axis: out (N, D) = softmax(scale * inp (N, D)).
vkd_status_t op_softmax_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                float scale);
// dinp (N, D) += scale * out * (dout - sum(dout * out))
vkd_status_t op_softmax_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                 vkd_buf_t out, int N, int D, float scale);

// ---- convolution --------------------------------------------------------------------
// inp (B, Cin, H, W), weight (Cout, Cin, KH, KW), bias (Cout) or NONE ->
// out (B, Cout, Ho, Wo), Ho = (H + pad_t + pad_b - KH) / stride + 1 (same for W).
typedef struct {
    int B, Cin, H, W;
    int Cout, KH, KW;
    int stride;
    int pad_t, pad_b, pad_l, pad_r;
} vkd_conv2d_t;
static inline int vkd_conv2d_out_h(const vkd_conv2d_t *c) {
    return (c->H + c->pad_t + c->pad_b - c->KH) / c->stride + 1;
}
static inline int vkd_conv2d_out_w(const vkd_conv2d_t *c) {
    return (c->W + c->pad_l + c->pad_r - c->KW) / c->stride + 1;
}
vkd_status_t op_conv2d_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c);
// Gradients of op_conv2d_forward from dout (B, Cout, Ho, Wo): dinp (B, Cin, H, W),
// dweight (Cout, Cin, KH, KW), dbias (Cout) += ...; any of the three may be VKD_BUF_NONE.
// inp and weight are the forward's (both required). No gradient may overlap an input or
// another gradient.
vkd_status_t op_conv2d_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                vkd_buf_t weight, const vkd_conv2d_t *c);

// ---- attention ----------------------------------------------------------------------
// Scaled dot-product attention, per batch b < B and head h < H:
//   out[b,h] (Lq, Dv) = softmax(scale * q[b,h] (Lq, D) k[b,h]^T (D, Lk)) v[b,h] (Lk, Dv)
// Element (b, h, l, j) of q lives at q[b*sq_b + h*sq_h + l*sq_l + j] (likewise k, v, out),
// so (B, L, H, D) and (B, H, L, D) layouts both work without a copy. causal: key index
// > query index is masked (requires Lq == Lk).
typedef struct {
    int B, H, Lq, Lk, D, Dv;
    float scale;
    int causal;
    int64_t sq_b, sq_h, sq_l;
    int64_t sk_b, sk_h, sk_l;
    int64_t sv_b, sv_h, sv_l;
    int64_t so_b, so_h, so_l;
} vkd_attention_t;
vkd_status_t op_attention_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t q, vkd_buf_t k,
                                  vkd_buf_t v, const vkd_attention_t *a);
// Gradients of op_attention_forward from dout: dq, dk, dv += ...; any may be VKD_BUF_NONE.
// Each uses the strides of its forward tensor (dq those of q, dk of k, dv of v, dout of
// out). Nothing is saved: P is recomputed from q and k. The elements of each present
// gradient must be distinct (no stride-0 broadcast, no overlapping rows), and no gradient
// may overlap dout, q, k or v. Different gradients may be disjoint views of one buffer
// (packed (B, L, 3, H, D) qkv) or the very same view (when q and k are one tensor); other
// partial overlaps between them are not detected and give undefined results.
vkd_status_t op_attention_backward(vkd_backend_t *be, vkd_buf_t dq, vkd_buf_t dk, vkd_buf_t dv,
                                   vkd_buf_t dout, vkd_buf_t q, vkd_buf_t k, vkd_buf_t v,
                                   const vkd_attention_t *a);

// ---- embedding ----------------------------------------------------------------------
// Backward of a token-embedding lookup out (N, D) row i = weight (V, D) row ids[i]:
//   dweight (V, D) row ids[i] += dout (N, D) row i, for i < N (repeated ids add up).
// ids is a HOST array of N int32 token ids, each in [0, V) (buffers hold floats only);
// it is read during the call and may be freed when the call returns.
vkd_status_t op_embedding_backward(vkd_backend_t *be, vkd_buf_t dweight, vkd_buf_t dout,
                                   const int32_t *ids, int N, int V, int D);

// ---- optimiser ----------------------------------------------------------------------
// Adam / AdamW (decoupled weight decay) on n parameters; step counts from 1 and is used
// for the bias corrections. param, m, v are updated in place.
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    int adamw; // 1: decoupled decay (p -= lr*wd*p); 0: L2 added to the gradient
    int64_t step;
} vkd_adam_t;
vkd_status_t op_adam_step(vkd_backend_t *be, vkd_buf_t param, vkd_buf_t m, vkd_buf_t v,
                          vkd_buf_t grad, size_t n, const vkd_adam_t *o);

// ---- random numbers -----------------------------------------------------------------
// Philox-4x32-10 keyed by seed; element i of a draw uses counter block
// (offset + i) / 4 (low, high words) with (stream low, stream high) as the other two
// counter words, and takes word (offset + i) % 4 of the result. Identical bits on both
// backends. uniform: ((w >> 9) + 0.5) * 2^-23, in [2^-24, 1 - 2^-24] and exact in float;
// normal: Box-Muller on the two word pairs (u1, u2) of each block: sqrt(-2 ln u1) times
// cos(2 pi u2) for the even element, sin(2 pi u2) for the odd one.
vkd_status_t op_rng_uniform(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                            uint64_t stream, uint64_t offset);
vkd_status_t op_rng_normal(vkd_backend_t *be, vkd_buf_t out, size_t n, uint64_t seed,
                           uint64_t stream, uint64_t offset);

#endif
