// A small reverse-mode tape over the ops of ops.h, for training networks whose forward is
// written as a sequence of op calls.
//
// Why a tape and not backward code written by hand next to each forward: the trainable
// networks (sds/prior_net*) mirror inference modules that reuse memory and run ops in
// place; a tape gives every op a fresh output, remembers (op, descriptor, buffers), and
// replays the op_*_backward pairs in reverse, so one forward description serves training.
//
// Tensors are (value, gradient) pairs of buffer views. A tensor whose gradient view is
// absent (VKD_BUF_NONE) is a constant: no gradient flows into it and backward work that
// only feeds constants is skipped. Parameters come from outside (the caller's flat
// parameter and gradient buffers); activations are allocated by the tape from two
// regions it owns, values and gradients, sized by a dry run:
//
//   vkd_tape_begin(t, 1)  -> plan: ops are not run, allocations only measured
//   ... the forward ...
//   vkd_tape_begin(t, 0)  -> real: regions (re)sized to the plan, gradient region zeroed
//   ... the same forward ...; write dL/dout into the output's gradient
//   vkd_tape_backward(t)  -> records' backwards in reverse
//
// A forward must make the same allocations in both passes (same shapes). Host data an op
// keeps (embedding ids) is borrowed and must stay valid until vkd_tape_backward returns.
#ifndef VKD_TAPE_H
#define VKD_TAPE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "ops.h"

typedef struct vkd_tape vkd_tape_t;

typedef struct {
    vkd_buf_t v; // value
    vkd_buf_t g; // gradient, same size; VKD_BUF_NONE for constants
} vkd_tt_t;

vkd_status_t vkd_tape_create(vkd_backend_t *be, vkd_tape_t **out);
void vkd_tape_free(vkd_tape_t *t); // NULL is fine
vkd_backend_t *vkd_tape_backend(const vkd_tape_t *t);
// Start a pass: drops the records. plan = 1 measures; plan = 0 grows the regions to the
// largest plan seen and runs the ops.
vkd_status_t vkd_tape_begin(vkd_tape_t *t, int plan);
int vkd_tape_planning(const vkd_tape_t *t);
// Bytes of the two regions (values, gradients) the last plan needed.
size_t vkd_tape_bytes(const vkd_tape_t *t);

// A fresh activation of n floats (contents undefined), with a gradient when need_grad.
vkd_status_t vkd_tape_new(vkd_tape_t *t, size_t n, int need_grad, vkd_tt_t *out);
// Floats [off, off + n) of x as a tensor (value and gradient). When off is not a multiple
// of the buffer alignment the slice is a recorded copy (gradient flows back through it).
vkd_status_t vkd_tape_slice(vkd_tape_t *t, vkd_tt_t x, size_t off, size_t n, vkd_tt_t *out);

// ---- ops: each writes a fresh output (need_grad when any input has a gradient) -----------
// c = gemm(a, b) + bias (g->beta must be 0).
vkd_status_t vkd_tape_gemm(vkd_tape_t *t, vkd_tt_t *c, vkd_tt_t a, vkd_tt_t b, vkd_tt_t bias,
                           const vkd_gemm_t *g);
// y (rows, N) = x (rows, K) W^T (W: (N, K)) + b (N) (b may be a zero tensor = absent).
vkd_status_t vkd_tape_linear(vkd_tape_t *t, vkd_tt_t *y, vkd_tt_t x, vkd_tt_t w, vkd_tt_t b,
                             int rows, int N, int K);
vkd_status_t vkd_tape_conv2d(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w, vkd_tt_t b,
                             const vkd_conv2d_t *c);
vkd_status_t vkd_tape_groupnorm(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w,
                                vkd_tt_t b, const vkd_groupnorm_t *d);
vkd_status_t vkd_tape_layernorm(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, vkd_tt_t w,
                                vkd_tt_t b, int N, int D, float eps);
vkd_status_t vkd_tape_unary(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, size_t n, vkd_act_t act);
vkd_status_t vkd_tape_binary(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t a, vkd_tt_t b,
                             const vkd_binary_t *d);
vkd_status_t vkd_tape_scale(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t x, size_t n, float alpha,
                            float beta);
vkd_status_t vkd_tape_attention(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t q, vkd_tt_t k,
                                vkd_tt_t v, const vkd_attention_t *a, size_t n_out);
// out (N, D) row i = table (V, D) row ids[i] (ids: host, borrowed until backward).
vkd_status_t vkd_tape_embedding(vkd_tape_t *t, vkd_tt_t *out, vkd_tt_t table,
                                const int32_t *ids, int N, int V, int D);
// Strided copy INTO an existing tensor `dst` (from vkd_tape_new): concatenation, nearest
// upsampling (one copy per sub-pixel). Written positions must be distinct and each source
// element read at most once per copy (no stride-0 source axes when src has a gradient);
// backward adds dst's gradient at those positions into src's.
vkd_status_t vkd_tape_copy(vkd_tape_t *t, vkd_tt_t dst, vkd_tt_t src,
                           const vkd_copy_strided_t *d);

// Run every record's backward in reverse order (activation gradients were zeroed by begin).
// Parameter gradients (caller's buffers) are accumulated into, never zeroed.
vkd_status_t vkd_tape_backward(vkd_tape_t *t);

#endif
