// Sum / mean over the middle axis of (outer, n, inner): argument checks shared by both
// backends, then the table call. outer * inner == 0 is a no-op; n == 0 makes a sum of
// nothing (0) and is an error for a mean.
#include <stdint.h>

#include "ops_impl.h"

static vkd_status_t check_reduce(const char *op, vkd_backend_t *be, const vkd_reduce_t *d,
                                 int *empty) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (!d) return vkd_fail(VKD_ERR_INVALID, "%s: descriptor is NULL", op);
    // Shader indices are uint32: every count, and the whole tensor, below 2^31.
    const uint64_t lim = INT32_MAX;
    if (d->outer > lim || d->n > lim || d->inner > lim ||
        (uint64_t)d->outer * d->inner > lim ||
        (d->outer * d->inner > 0 && (uint64_t)d->outer * d->inner * d->n > lim))
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: (outer, n, inner) = (%zu, %zu, %zu) has more than 2^31-1 elements",
                        op, d->outer, d->n, d->inner);
    *empty = d->outer == 0 || d->inner == 0;
    if (!*empty && d->n == 0 && d->mean)
        return vkd_fail(VKD_ERR_INVALID, "%s: mean over an empty axis (n = 0)", op);
    return VKD_OK;
}

vkd_status_t op_reduce_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               const vkd_reduce_t *d) {
    static const char op[] = "op_reduce_forward";
    int empty;
    VKD_TRY(check_reduce(op, be, d, &empty));
    if (empty) return VKD_OK;
    const size_t n_out = d->outer * d->inner;
    VKD_TRY(vkd_check_buf(op, "out", out, n_out, 0));          // (outer, inner)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n_out * d->n, 0));   // (outer, n, inner)
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    if (d->n == 0) return VKD_CALL(be, fill, out, 0.0f, n_out);
    return VKD_CALL(be, reduce_forward, out, inp, d);
}

vkd_status_t op_reduce_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                const vkd_reduce_t *d) {
    static const char op[] = "op_reduce_backward";
    int empty;
    VKD_TRY(check_reduce(op, be, d, &empty));
    if (empty || d->n == 0) return VKD_OK;
    const size_t n_out = d->outer * d->inner;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, n_out * d->n, 0)); // (outer, n, inner)
    VKD_TRY(vkd_check_buf(op, "dout", dout, n_out, 0));        // (outer, inner)
    const vkd_buf_t bufs[] = {dinp, dout};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, reduce_backward, dinp, dout, d);
}
