// Softmax over the last axis (with a scale on the logits): argument checks shared by both
// backends, then the table call. N == 0 or D == 0 is a no-op.
#include <math.h>
#include <stdint.h>

#include "ops_impl.h"

static vkd_status_t check_softmax(const char *op, vkd_backend_t *be, int N, int D) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (N < 0 || D < 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: N = %d and D = %d must not be negative", op, N, D);
    if ((int64_t)N * D > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: (N, D) = (%d, %d) has more than 2^31-1 elements",
                        op, N, D);
    return VKD_OK;
}

vkd_status_t op_softmax_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, int N, int D,
                                float scale) {
    static const char op[] = "op_softmax_forward";
    VKD_TRY(check_softmax(op, be, N, D));
    if (N == 0 || D == 0) return VKD_OK;
    if (!isfinite(scale))
        return vkd_fail(VKD_ERR_INVALID, "%s: scale = %g is not finite", op, (double)scale);
    const size_t nd = (size_t)N * (size_t)D;
    VKD_TRY(vkd_check_buf(op, "out", out, nd, 0)); // (N, D)
    VKD_TRY(vkd_check_buf(op, "inp", inp, nd, 0)); // (N, D)
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, softmax_forward, out, inp, N, D, scale);
}

vkd_status_t op_softmax_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                 vkd_buf_t out, int N, int D, float scale) {
    static const char op[] = "op_softmax_backward";
    VKD_TRY(check_softmax(op, be, N, D));
    if (N == 0 || D == 0) return VKD_OK;
    const size_t nd = (size_t)N * (size_t)D;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, nd, 0)); // (N, D)
    VKD_TRY(vkd_check_buf(op, "dout", dout, nd, 0)); // (N, D)
    VKD_TRY(vkd_check_buf(op, "out", out, nd, 0));   // (N, D)
    const vkd_buf_t bufs[] = {dinp, dout, out};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return VKD_CALL(be, softmax_backward, dinp, dout, out, N, D, scale);
}
