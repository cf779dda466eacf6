// 2-D convolution backward on Vulkan: shaders/conv2d_bwd_data.comp (dinp) and
// shaders/conv2d_bwd_weight.comp (dweight and dbias in one dispatch). Both add to the
// gradients, so long sums split into successive dispatches are just more additions.
//
// Loop budget: llvmpipe silently ends every loop of a shader invocation once it has run
// 65535 iterations in total (vkd_vk_loop_budget, src/vk.h). The input gradient loops
// over Cout channels per kernel tap (a 3x3 over 8000 channels would pass it), the weight
// gradient over B*Ho*Wo / 64 positions per invocation, 11 loop passes each (beyond ~380k
// positions): where the budget requires it, the channel range or the position range is
// cut into equal slices, one dispatch each, added in a fixed order (deterministic).
// Other devices get one dispatch per gradient.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
#define WG 64 // local size of both shaders
#define TAP_GROUP 9 // taps per work unit of conv2d_bwd_weight.comp (its TG)

typedef struct {
    int32_t B, Cin, H, W;
    int32_t Cout, KH, KW;
    int32_t stride, pad_t, pad_l;
    int32_t Ho, Wo;
    int32_t co_begin, co_end;
} pc_conv2d_bwd_data_t;
_Static_assert(sizeof(pc_conv2d_bwd_data_t) == 56, "mirrors shaders/conv2d_bwd_data.comp");

typedef struct {
    int32_t Cin, H, W;
    int32_t Cout, KH, KW;
    int32_t stride, pad_t, pad_l;
    int32_t Ho, Wo;
    int32_t has_w, has_b;
    int32_t r_begin, r_end;
} pc_conv2d_bwd_weight_t;
_Static_assert(sizeof(pc_conv2d_bwd_weight_t) == 60, "mirrors shaders/conv2d_bwd_weight.comp");

static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint32_t min_groups(uint64_t n) { return n < MAX_GROUPS ? (uint32_t)n : MAX_GROUPS; }

static vkd_status_t data_grad(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                              vkd_buf_t weight, const vkd_conv2d_t *c) {
    const vkd_buf_t bufs[] = {dinp, dout, weight};
    pc_conv2d_bwd_data_t pc = {
        .B = c->B, .Cin = c->Cin, .H = c->H, .W = c->W,
        .Cout = c->Cout, .KH = c->KH, .KW = c->KW,
        .stride = c->stride, .pad_t = c->pad_t, .pad_l = c->pad_l,
        .Ho = vkd_conv2d_out_h(c), .Wo = vkd_conv2d_out_w(c),
    };
    const uint64_t n = (uint64_t)c->B * c->Cin * c->H * c->W;
    const uint32_t gx = min_groups(cdiv(n, WG));
    uint64_t nco = (uint64_t)c->Cout;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        // Passes per element: kh loop (KH + 1), kw loops (KH (KW + 1)), channel loops
        // (KH KW (nco + 1)) and one of the element loop; elements per invocation: ipi.
        const uint64_t ipi = cdiv(n, (uint64_t)gx * WG), taps = (uint64_t)c->KH * c->KW;
        const uint64_t fixed = (uint64_t)c->KH + 1 + (uint64_t)c->KH * (c->KW + 1) + taps + 1;
        const uint64_t per = (budget - 1) / ipi;
        const uint64_t m = per > fixed ? (per - fixed) / taps : 0;
        if (m == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED,
                            "op_conv2d_backward: %llu input pixels per shader invocation exceed "
                            "the loop budget of '%s' (%u iterations); use the CPU backend for "
                            "this shape", (unsigned long long)ipi, be->name, budget);
        if (m < nco) nco = cdiv(nco, cdiv(nco, m)); // equal slices
    }
    for (uint64_t co = 0; co < (uint64_t)c->Cout; co += nco) {
        pc.co_begin = (int32_t)co;
        pc.co_end = (int32_t)(co + nco < (uint64_t)c->Cout ? co + nco : (uint64_t)c->Cout);
        VKD_TRY(vkd_vk_dispatch(be, VKD_SH_conv2d_bwd_data, bufs, 3, &pc, sizeof pc, gx, 1, 1));
    }
    return VKD_OK;
}

static vkd_status_t weight_grad(vkd_backend_t *be, vkd_buf_t dweight, vkd_buf_t dbias,
                                vkd_buf_t dout, vkd_buf_t inp, const vkd_conv2d_t *c) {
    const vkd_buf_t bufs[] = {dweight, dbias, dout, inp};
    pc_conv2d_bwd_weight_t pc = {
        .Cin = c->Cin, .H = c->H, .W = c->W,
        .Cout = c->Cout, .KH = c->KH, .KW = c->KW,
        .stride = c->stride, .pad_t = c->pad_t, .pad_l = c->pad_l,
        .Ho = vkd_conv2d_out_h(c), .Wo = vkd_conv2d_out_w(c),
        .has_w = vkd_buf_present(dweight), .has_b = vkd_buf_present(dbias),
    };
    // Work units: (co, ci, group of TAP_GROUP taps) weights, then Cout biases.
    const uint64_t ng = cdiv((uint64_t)c->KH * c->KW, TAP_GROUP);
    const uint64_t nw = pc.has_w ? (uint64_t)c->Cout * c->Cin * ng : 0;
    const uint64_t ne = nw + (pc.has_b ? (uint64_t)c->Cout : 0);
    const uint32_t gx = min_groups(ne), gy = min_groups(cdiv(ne, gx));
    const uint64_t nr = (uint64_t)c->B * pc.Ho * pc.Wo;
    uint64_t rc = nr;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        // Passes per unit: the position loop (cdiv(rc, 64) + 1) with its tap loop
        // (TAP_GROUP + 1 per position), the zeroing and reduction loops (TAP_GROUP + 1
        // each, the trees log2 64 + 1 each) and one of the unit loop; units per
        // workgroup: epw.
        const uint64_t epw = cdiv(ne, (uint64_t)gx * gy);
        const uint64_t per = (budget - 1) / epw;
        const uint64_t fixed = 2 * (TAP_GROUP + 1) + TAP_GROUP * 7 + 3;
        const uint64_t m = per > fixed ? (per - fixed) / (TAP_GROUP + 2) * WG : 0;
        if (m == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED,
                            "op_conv2d_backward: %llu weight elements per workgroup exceed the "
                            "loop budget of '%s' (%u iterations); use the CPU backend for this "
                            "shape", (unsigned long long)epw, be->name, budget);
        if (m < nr) rc = cdiv(nr, cdiv(nr, m));
    }
    for (uint64_t r = 0; r < nr; r += rc) {
        pc.r_begin = (int32_t)r;
        pc.r_end = (int32_t)(r + rc < nr ? r + rc : nr);
        VKD_TRY(vkd_vk_dispatch(be, VKD_SH_conv2d_bwd_weight, bufs, 4, &pc, sizeof pc, gx, gy, 1));
    }
    return VKD_OK;
}

vkd_status_t conv2d_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                vkd_buf_t weight, const vkd_conv2d_t *c) {
    // dinp (B, Cin, H, W), dweight (Cout, Cin, KH, KW), dbias (Cout), dout (B, Cout, Ho, Wo)
    if (vkd_buf_present(dinp)) VKD_TRY(data_grad(be, dinp, dout, weight, c));
    if (vkd_buf_present(dweight) || vkd_buf_present(dbias))
        VKD_TRY(weight_grad(be, dweight, dbias, dout, inp, c));
    return VKD_OK;
}
