// 2-D convolution: argument checks shared by both backends.
#include <stdint.h>

#include "ops_impl.h"

vkd_status_t op_conv2d_forward(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    static const char *op = "op_conv2d_forward";
    if (!c) return vkd_fail(VKD_ERR_INVALID, "%s: no convolution descriptor", op);
    if (c->B < 1 || c->Cin < 1 || c->H < 1 || c->W < 1 || c->Cout < 1 || c->KH < 1 ||
        c->KW < 1 || c->stride < 1)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: B=%d Cin=%d H=%d W=%d Cout=%d KH=%d KW=%d stride=%d must all be >= 1",
                        op, c->B, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW, c->stride);
    const int max_pad = 1 << 16; // keeps H + pads and the shader's index math in int32
    if (c->pad_t < 0 || c->pad_b < 0 || c->pad_l < 0 || c->pad_r < 0 || c->pad_t > max_pad ||
        c->pad_b > max_pad || c->pad_l > max_pad || c->pad_r > max_pad)
        return vkd_fail(VKD_ERR_INVALID, "%s: pads (t=%d b=%d l=%d r=%d) must be in [0, 65536]", op,
                        c->pad_t, c->pad_b, c->pad_l, c->pad_r);
    if ((int64_t)c->H + c->pad_t + c->pad_b < c->KH || (int64_t)c->W + c->pad_l + c->pad_r < c->KW)
        return vkd_fail(VKD_ERR_INVALID, "%s: padded input %dx%d is smaller than the kernel %dx%d",
                        op, c->H + c->pad_t + c->pad_b, c->W + c->pad_l + c->pad_r, c->KH, c->KW);
    const int64_t Ho = vkd_conv2d_out_h(c), Wo = vkd_conv2d_out_w(c);
    const int64_t n_inp = (int64_t)c->B * c->Cin * c->H * c->W;
    const int64_t n_out = (int64_t)c->B * c->Cout * Ho * Wo;
    const int64_t n_w = (int64_t)c->Cout * c->Cin * c->KH * c->KW;
    if (n_inp > INT32_MAX || n_out > INT32_MAX || n_w > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID,
                        "%s: input (%lld), output (%lld) or weight (%lld) elements exceed the "
                        "2^31 - 1 the kernels index; split the batch",
                        op, (long long)n_inp, (long long)n_out, (long long)n_w);
    VKD_TRY(vkd_check_buf(op, "out", out, (size_t)n_out, 0));        // (B, Cout, Ho, Wo)
    VKD_TRY(vkd_check_buf(op, "inp", inp, (size_t)n_inp, 0));        // (B, Cin, H, W)
    VKD_TRY(vkd_check_buf(op, "weight", weight, (size_t)n_w, 0));    // (Cout, Cin, KH, KW)
    VKD_TRY(vkd_check_buf(op, "bias", bias, (size_t)c->Cout, 1));    // (Cout)
    const vkd_buf_t all[] = {out, inp, weight, bias};
    VKD_TRY(vkd_check_backend(op, be, all, 4));
    const int64_t used[] = {n_out, n_inp, n_w, c->Cout}; // elements each argument spans
    for (int i = 1; i < 4; i++) {
        const vkd_buf_t x = all[i];
        if (vkd_buf_present(x) && x.arena == out.arena &&
            x.off < out.off + (size_t)used[0] * sizeof(float) &&
            out.off < x.off + (size_t)used[i] * sizeof(float))
            return vkd_fail(VKD_ERR_INVALID, "%s: output 'out' overlaps an input (%s)", op,
                            i == 1 ? "inp" : i == 2 ? "weight" : "bias");
    }
    return VKD_CALL(be, conv2d_forward, out, inp, weight, bias, c);
}
