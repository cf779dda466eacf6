// LayerNorm and GroupNorm: argument checks shared by both backends, then the table call.
//
// mean and rstd are required outputs of the forwards (the backwards need them, and the
// Vulkan forward of GroupNorm uses them to pass statistics between its two dispatches).
// weight and bias may be absent (VKD_BUF_NONE), meaning 1 and 0; so may dweight and dbias.
#include <stdint.h>

#include "ops_impl.h"

// Every element index the shaders compute is an int32/uint32: keep tensors below 2^31.
static vkd_status_t check_elems(const char *op, const char *what, int64_t n) {
    if (n > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s has %lld elements, more than 2^31-1",
                        op, what, (long long)n);
    return VKD_OK;
}

static vkd_status_t check_ln_sizes(const char *op, vkd_backend_t *be, int N, int D) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (N <= 0 || D <= 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: N = %d and D = %d must be positive", op, N, D);
    return check_elems(op, "inp (N, D)", (int64_t)N * D);
}

vkd_status_t op_layernorm_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, int N, int D, float eps) {
    static const char op[] = "op_layernorm_forward";
    VKD_TRY(check_ln_sizes(op, be, N, D));
    if (!(eps >= 0.0f) || eps > 1.0f)
        return vkd_fail(VKD_ERR_INVALID, "%s: eps = %g must be in [0, 1]", op, (double)eps);
    size_t nd = (size_t)N * (size_t)D;
    VKD_TRY(vkd_check_buf(op, "out", out, nd, 0));     // (N, D)
    VKD_TRY(vkd_check_buf(op, "mean", mean, (size_t)N, 0)); // (N)
    VKD_TRY(vkd_check_buf(op, "rstd", rstd, (size_t)N, 0)); // (N)
    VKD_TRY(vkd_check_buf(op, "inp", inp, nd, 0));     // (N, D)
    VKD_TRY(vkd_check_buf(op, "weight", weight, (size_t)D, 1)); // (D)
    VKD_TRY(vkd_check_buf(op, "bias", bias, (size_t)D, 1));     // (D)
    const vkd_buf_t bufs[] = {out, mean, rstd, inp, weight, bias};
    VKD_TRY(vkd_check_backend(op, be, bufs, 6));
    return VKD_CALL(be, layernorm_forward, out, mean, rstd, inp, weight, bias, N, D, eps);
}

vkd_status_t op_layernorm_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd, int N,
                                   int D) {
    static const char op[] = "op_layernorm_backward";
    VKD_TRY(check_ln_sizes(op, be, N, D));
    size_t nd = (size_t)N * (size_t)D;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, nd, 0));              // (N, D)
    VKD_TRY(vkd_check_buf(op, "dweight", dweight, (size_t)D, 1)); // (D)
    VKD_TRY(vkd_check_buf(op, "dbias", dbias, (size_t)D, 1));     // (D)
    VKD_TRY(vkd_check_buf(op, "dout", dout, nd, 0));              // (N, D)
    VKD_TRY(vkd_check_buf(op, "inp", inp, nd, 0));                // (N, D)
    VKD_TRY(vkd_check_buf(op, "weight", weight, (size_t)D, 1));   // (D)
    VKD_TRY(vkd_check_buf(op, "mean", mean, (size_t)N, 0));       // (N)
    VKD_TRY(vkd_check_buf(op, "rstd", rstd, (size_t)N, 0));       // (N)
    const vkd_buf_t bufs[] = {dinp, dweight, dbias, dout, inp, weight, mean, rstd};
    VKD_TRY(vkd_check_backend(op, be, bufs, 8));
    return VKD_CALL(be, layernorm_backward, dinp, dweight, dbias, dout, inp, weight, mean, rstd,
                    N, D);
}

static vkd_status_t check_gn(const char *op, vkd_backend_t *be, const vkd_groupnorm_t *d) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (!d) return vkd_fail(VKD_ERR_INVALID, "%s: descriptor is NULL", op);
    if (d->B <= 0 || d->C <= 0 || d->HW <= 0 || d->G <= 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: B = %d, C = %d, HW = %d, G = %d must be positive",
                        op, d->B, d->C, d->HW, d->G);
    if (d->C % d->G != 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: C = %d is not a multiple of G = %d groups", op,
                        d->C, d->G);
    if (!(d->eps >= 0.0f) || d->eps > 1.0f)
        return vkd_fail(VKD_ERR_INVALID, "%s: eps = %g must be in [0, 1]", op, (double)d->eps);
    return check_elems(op, "inp (B, C, HW)", (int64_t)d->B * d->C * d->HW);
}

vkd_status_t op_groupnorm_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, const vkd_groupnorm_t *d) {
    static const char op[] = "op_groupnorm_forward";
    VKD_TRY(check_gn(op, be, d));
    size_t n = (size_t)d->B * (size_t)d->C * (size_t)d->HW, bg = (size_t)d->B * (size_t)d->G;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0));                     // (B, C, HW)
    VKD_TRY(vkd_check_buf(op, "mean", mean, bg, 0));                  // (B, G)
    VKD_TRY(vkd_check_buf(op, "rstd", rstd, bg, 0));                  // (B, G)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0));                     // (B, C, HW)
    VKD_TRY(vkd_check_buf(op, "weight", weight, (size_t)d->C, 1));    // (C)
    VKD_TRY(vkd_check_buf(op, "bias", bias, (size_t)d->C, 1));        // (C)
    const vkd_buf_t bufs[] = {out, mean, rstd, inp, weight, bias};
    VKD_TRY(vkd_check_backend(op, be, bufs, 6));
    return VKD_CALL(be, groupnorm_forward, out, mean, rstd, inp, weight, bias, d);
}

vkd_status_t op_groupnorm_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd,
                                   const vkd_groupnorm_t *d) {
    static const char op[] = "op_groupnorm_backward";
    VKD_TRY(check_gn(op, be, d));
    size_t n = (size_t)d->B * (size_t)d->C * (size_t)d->HW, bg = (size_t)d->B * (size_t)d->G;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, n, 0));                   // (B, C, HW)
    VKD_TRY(vkd_check_buf(op, "dweight", dweight, (size_t)d->C, 1));  // (C)
    VKD_TRY(vkd_check_buf(op, "dbias", dbias, (size_t)d->C, 1));      // (C)
    VKD_TRY(vkd_check_buf(op, "dout", dout, n, 0));                   // (B, C, HW)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0));                     // (B, C, HW)
    VKD_TRY(vkd_check_buf(op, "weight", weight, (size_t)d->C, 1));    // (C)
    VKD_TRY(vkd_check_buf(op, "mean", mean, bg, 0));                  // (B, G)
    VKD_TRY(vkd_check_buf(op, "rstd", rstd, bg, 0));                  // (B, G)
    const vkd_buf_t bufs[] = {dinp, dweight, dbias, dout, inp, weight, mean, rstd};
    VKD_TRY(vkd_check_backend(op, be, bufs, 8));
    return VKD_CALL(be, groupnorm_backward, dinp, dweight, dbias, dout, inp, weight, mean, rstd,
                    d);
}
