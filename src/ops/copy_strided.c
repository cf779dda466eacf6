// op_copy_strided: argument checks (every index the copy touches lies inside its buffer)
// shared by both backends.
#include <stdint.h>

#include "ops_impl.h"

// Largest element index the view reaches (strides are non-negative), or -1 when empty.
static int64_t last_index(const int64_t n[4], int64_t off, const int64_t stride[4]) {
    int64_t last = off;
    for (int k = 0; k < 4; k++) {
        if (n[k] == 0) return -1;
        last += (n[k] - 1) * stride[k];
    }
    return last;
}

vkd_status_t op_copy_strided(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                             const vkd_copy_strided_t *d) {
    static const char op[] = "op_copy_strided";
    if (!be || !d) return vkd_fail(VKD_ERR_INVALID, "%s: NULL backend or descriptor", op);
    int64_t total = 1;
    for (int k = 0; k < 4; k++) {
        if (d->n[k] < 0 || d->out_stride[k] < 0 || d->inp_stride[k] < 0)
            return vkd_fail(VKD_ERR_INVALID, "%s: axis %d has a negative size or stride", op, k);
        if (d->n[k] > INT32_MAX || d->out_stride[k] > INT32_MAX || d->inp_stride[k] > INT32_MAX)
            return vkd_fail(VKD_ERR_INVALID, "%s: axis %d size/stride exceeds 2^31-1", op, k);
        total *= d->n[k];
        if (total > INT32_MAX)
            return vkd_fail(VKD_ERR_INVALID, "%s: more than 2^31-1 elements", op);
    }
    if (d->out_off < 0 || d->inp_off < 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: negative offset", op);
    if (total == 0) return VKD_OK;
    int64_t lo = last_index(d->n, d->out_off, d->out_stride);
    int64_t li = last_index(d->n, d->inp_off, d->inp_stride);
    if (lo > INT32_MAX || li > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: an index exceeds 2^31-1", op);
    VKD_TRY(vkd_check_buf(op, "out", out, (size_t)lo + 1, 0));
    VKD_TRY(vkd_check_buf(op, "inp", inp, (size_t)li + 1, 0));
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, copy_strided, out, inp, d);
}
