// Elementwise ops (fill, copy, activations, broadcast add/mul, affine scale): argument
// checks shared by both backends, then the table call. n = 0 is a no-op everywhere.
#include <stdint.h>

#include "ops_impl.h"

// Shader indices are uint32 and the CPU bodies use int loops: keep counts below 2^31.
static vkd_status_t check_count(const char *op, vkd_backend_t *be, const char *what, size_t n) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", op);
    if (n > (size_t)INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s = %zu is more than 2^31-1 elements", op, what, n);
    return VKD_OK;
}

static vkd_status_t check_act(const char *op, vkd_act_t act) {
    if ((int)act < 0 || act >= VKD_ACT_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "%s: activation code %d is not a vkd_act_t", op,
                        (int)act);
    return VKD_OK;
}

vkd_status_t op_fill(vkd_backend_t *be, vkd_buf_t out, float value, size_t n) {
    static const char op[] = "op_fill";
    VKD_TRY(check_count(op, be, "n", n));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0)); // (n)
    VKD_TRY(vkd_check_backend(op, be, &out, 1));
    return VKD_CALL(be, fill, out, value, n);
}

vkd_status_t op_copy(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n) {
    static const char op[] = "op_copy";
    VKD_TRY(check_count(op, be, "n", n));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0)); // (n)
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, copy, out, inp, n);
}

vkd_status_t op_unary_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              vkd_act_t act) {
    static const char op[] = "op_unary_forward";
    VKD_TRY(check_count(op, be, "n", n));
    VKD_TRY(check_act(op, act));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0)); // (n)
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, unary_forward, out, inp, n, act);
}

vkd_status_t op_unary_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, vkd_buf_t inp,
                               size_t n, vkd_act_t act) {
    static const char op[] = "op_unary_backward";
    VKD_TRY(check_count(op, be, "n", n));
    VKD_TRY(check_act(op, act));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "dout", dout, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0));   // (n)
    const vkd_buf_t bufs[] = {dinp, dout, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return VKD_CALL(be, unary_backward, dinp, dout, inp, n, act);
}

// b is indexed (i / b_inner) % b_n, so it holds b_n elements; n repeats whole periods.
static vkd_status_t check_binary(const char *op, vkd_backend_t *be, const vkd_binary_t *d) {
    if (!d) return vkd_fail(VKD_ERR_INVALID, "%s: descriptor is NULL", op);
    VKD_TRY(check_count(op, be, "n", d->n));
    if (d->op != VKD_BIN_ADD && d->op != VKD_BIN_MUL)
        return vkd_fail(VKD_ERR_INVALID, "%s: op = %d is not a vkd_binop_t", op, (int)d->op);
    if (d->n == 0) return VKD_OK;
    if (d->b_n == 0 || d->b_inner == 0)
        return vkd_fail(VKD_ERR_INVALID, "%s: b_n = %zu and b_inner = %zu must be positive", op,
                        d->b_n, d->b_inner);
    if (d->b_n > d->n || d->b_inner > d->n || d->n % (d->b_n * d->b_inner) != 0)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: n = %zu is not a multiple of b_n * b_inner = %zu * %zu", op, d->n,
                        d->b_n, d->b_inner);
    return VKD_OK;
}

vkd_status_t op_binary_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t a, vkd_buf_t b,
                               const vkd_binary_t *d) {
    static const char op[] = "op_binary_forward";
    VKD_TRY(check_binary(op, be, d));
    if (d->n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, d->n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "a", a, d->n, 0));     // (n)
    VKD_TRY(vkd_check_buf(op, "b", b, d->b_n, 0));   // (b_n)
    const vkd_buf_t bufs[] = {out, a, b};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return VKD_CALL(be, binary_forward, out, a, b, d);
}

vkd_status_t op_binary_backward(vkd_backend_t *be, vkd_buf_t da, vkd_buf_t db, vkd_buf_t dout,
                                vkd_buf_t a, vkd_buf_t b, const vkd_binary_t *d) {
    static const char op[] = "op_binary_backward";
    VKD_TRY(check_binary(op, be, d));
    if (d->n == 0 || (!vkd_buf_present(da) && !vkd_buf_present(db))) return VKD_OK;
    // For a product, da needs b and db needs a; a sum needs neither.
    const int mul = d->op == VKD_BIN_MUL;
    VKD_TRY(vkd_check_buf(op, "da", da, d->n, 1));     // (n)
    VKD_TRY(vkd_check_buf(op, "db", db, d->b_n, 1));   // (b_n)
    VKD_TRY(vkd_check_buf(op, "dout", dout, d->n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "a", a, d->n, !(mul && vkd_buf_present(db))));   // (n)
    VKD_TRY(vkd_check_buf(op, "b", b, d->b_n, !(mul && vkd_buf_present(da)))); // (b_n)
    const vkd_buf_t bufs[] = {da, db, dout, a, b};
    VKD_TRY(vkd_check_backend(op, be, bufs, 5));
    return VKD_CALL(be, binary_backward, da, db, dout, a, b, d);
}

vkd_status_t op_scale_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp, size_t n,
                              float alpha, float beta) {
    static const char op[] = "op_scale_forward";
    VKD_TRY(check_count(op, be, "n", n));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "out", out, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "inp", inp, n, 0)); // (n)
    const vkd_buf_t bufs[] = {out, inp};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, scale_forward, out, inp, n, alpha, beta);
}

vkd_status_t op_scale_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout, size_t n,
                               float alpha) {
    static const char op[] = "op_scale_backward";
    VKD_TRY(check_count(op, be, "n", n));
    if (n == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "dinp", dinp, n, 0)); // (n)
    VKD_TRY(vkd_check_buf(op, "dout", dout, n, 0)); // (n)
    const vkd_buf_t bufs[] = {dinp, dout};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return VKD_CALL(be, scale_backward, dinp, dout, n, alpha);
}
