// 2-D convolution backward: argument checks shared by both backends, then the table call.
// The size checks mirror op_conv2d_forward's (same descriptor, same int32 limits).
#include <stdint.h>

#include "ops_impl.h"

static const char OP[] = "op_conv2d_backward";

vkd_status_t op_conv2d_backward(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                vkd_buf_t weight, const vkd_conv2d_t *c) {
    if (!be) return vkd_fail(VKD_ERR_INVALID, "%s: backend is NULL", OP);
    if (!c) return vkd_fail(VKD_ERR_INVALID, "%s: no convolution descriptor", OP);
    if (c->B < 1 || c->Cin < 1 || c->H < 1 || c->W < 1 || c->Cout < 1 || c->KH < 1 ||
        c->KW < 1 || c->stride < 1)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: B=%d Cin=%d H=%d W=%d Cout=%d KH=%d KW=%d stride=%d must all be >= 1",
                        OP, c->B, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW, c->stride);
    const int max_pad = 1 << 16; // keeps H + pads and the index math in int32
    if (c->pad_t < 0 || c->pad_b < 0 || c->pad_l < 0 || c->pad_r < 0 || c->pad_t > max_pad ||
        c->pad_b > max_pad || c->pad_l > max_pad || c->pad_r > max_pad)
        return vkd_fail(VKD_ERR_INVALID, "%s: pads (t=%d b=%d l=%d r=%d) must be in [0, 65536]",
                        OP, c->pad_t, c->pad_b, c->pad_l, c->pad_r);
    if ((int64_t)c->H + c->pad_t + c->pad_b < c->KH || (int64_t)c->W + c->pad_l + c->pad_r < c->KW)
        return vkd_fail(VKD_ERR_INVALID, "%s: padded input %dx%d is smaller than the kernel %dx%d",
                        OP, c->H + c->pad_t + c->pad_b, c->W + c->pad_l + c->pad_r, c->KH, c->KW);
    const int64_t Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int64_t n_inp = (int64_t)c->B * c->Cin * c->H * c->W;
    const int64_t n_out = (int64_t)c->B * c->Cout * Ho * Wo;
    const int64_t n_w = (int64_t)c->Cout * c->Cin * c->KH * c->KW;
    // The CPU body's im2col buffer is (Cin*KH*KW, Ho*Wo) per image: int32 GEMM sizes too.
    const int64_t n_col = (int64_t)c->Cin * c->KH * c->KW * Ho * Wo;
    if (n_inp > INT32_MAX || n_out > INT32_MAX || n_w > INT32_MAX || n_col > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: input (%lld), output (%lld), weight (%lld) or per-image im2col "
                        "(%lld) elements exceed 2^31 - 1; split the batch or the layer",
                        OP, (long long)n_inp, (long long)n_out, (long long)n_w, (long long)n_col);
    VKD_TRY(vkd_check_buf(OP, "dinp", dinp, (size_t)n_inp, 1));       // (B, Cin, H, W)
    VKD_TRY(vkd_check_buf(OP, "dweight", dweight, (size_t)n_w, 1));   // (Cout, Cin, KH, KW)
    VKD_TRY(vkd_check_buf(OP, "dbias", dbias, (size_t)c->Cout, 1));   // (Cout)
    VKD_TRY(vkd_check_buf(OP, "dout", dout, (size_t)n_out, 0));       // (B, Cout, Ho, Wo)
    VKD_TRY(vkd_check_buf(OP, "inp", inp, (size_t)n_inp, 0));         // (B, Cin, H, W)
    VKD_TRY(vkd_check_buf(OP, "weight", weight, (size_t)n_w, 0));     // (Cout, Cin, KH, KW)
    const vkd_buf_t all[] = {dinp, dweight, dbias, dout, inp, weight};
    VKD_TRY(vkd_check_backend(OP, be, all, 6));
    // Gradients are written while inputs are read (and each other accumulated): no gradient
    // may share a byte with any other argument.
    static const char *names[] = {"dinp", "dweight", "dbias", "dout", "inp", "weight"};
    const int64_t used[] = {n_inp, n_w, c->Cout, n_out, n_inp, n_w}; // elements each spans
    for (int g = 0; g < 3; g++) {
        if (!vkd_buf_present(all[g])) continue;
        for (int i = 0; i < 6; i++) {
            const vkd_buf_t x = all[i];
            if (i == g || !vkd_buf_present(x) || x.arena != all[g].arena) continue;
            if (x.off < all[g].off + (size_t)used[g] * sizeof(float) &&
                all[g].off < x.off + (size_t)used[i] * sizeof(float))
                return vkd_fail(VKD_ERR_INVALID, "%s: gradient '%s' overlaps '%s'", OP,
                                names[g], names[i]);
        }
    }
    return VKD_CALL(be, conv2d_backward, dinp, dweight, dbias, dout, inp, weight, c);
}
