#version 450
// conv2d backward, input gradient: dinp (B, Cin, H, W) += sum over output channels
// co in [co_begin, co_end) and kernel taps (kh, kw) that read pixel (ih, iw) of
// dout[b][co][oh][ow] * weight[co][ci][kh][kw], with oh = (ih + pad_t - kh) / stride
// when that divides exactly and lands inside the output (likewise ow).
//
// One invocation per dinp element, grid-stride. The tap loops are outermost so their
// validity tests run once per element, not once per channel; the channel loop inside is a
// plain dot product. Neighbouring invocations are neighbouring iw, so for stride 1 they
// read neighbouring dout elements (coalesced) and the same weight (a broadcast). Every
// element is written by exactly one invocation (no atomics, deterministic), and it adds
// to dinp, which is both the op's accumulate semantics and what lets the host split long
// channel loops (llvmpipe's per-invocation loop budget, src/vk.h) into successive
// dispatches over channel ranges.
layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DInp { float dinp[]; };            // (B, Cin, H, W)
layout(set = 0, binding = 1, std430) readonly buffer DOut { float dout[]; };   // (B, Cout, Ho, Wo)
layout(set = 0, binding = 2, std430) readonly buffer Wt { float weight[]; };   // (Cout, Cin, KH, KW)

layout(push_constant) uniform PC {
    int B, Cin, H, W;
    int Cout, KH, KW;
    int stride, pad_t, pad_l;
    int Ho, Wo;
    int co_begin, co_end;
} pc;

void main() {
    const uint n = uint(pc.B) * uint(pc.Cin) * uint(pc.H) * uint(pc.W);
    const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const int HoWo = pc.Ho * pc.Wo, KK = pc.KH * pc.KW;
    for (uint i = gl_GlobalInvocationID.x; i < n; i += step) {
        const int iw = int(i % uint(pc.W));
        const int ih = int((i / uint(pc.W)) % uint(pc.H));
        const int ci = int((i / uint(pc.W * pc.H)) % uint(pc.Cin));
        const int b = int(i / uint(pc.W * pc.H * pc.Cin));
        float s = 0.0;
        for (int kh = 0; kh < pc.KH; ++kh) {
            const int th = ih + pc.pad_t - kh;
            if (th < 0 || th % pc.stride != 0 || th / pc.stride >= pc.Ho) continue;
            const int oh = th / pc.stride;
            for (int kw = 0; kw < pc.KW; ++kw) {
                const int tw = iw + pc.pad_l - kw;
                if (tw < 0 || tw % pc.stride != 0 || tw / pc.stride >= pc.Wo) continue;
                int di = (b * pc.Cout + pc.co_begin) * HoWo + oh * pc.Wo + tw / pc.stride;
                int wi = (pc.co_begin * pc.Cin + ci) * KK + kh * pc.KW + kw;
                for (int co = pc.co_begin; co < pc.co_end; ++co) {
                    s += dout[di] * weight[wi];
                    di += HoWo;
                    wi += pc.Cin * KK;
                }
            }
        }
        dinp[i] += s;
    }
}
