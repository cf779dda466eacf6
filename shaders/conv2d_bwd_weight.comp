#version 450
// conv2d backward, weight and bias gradients, summed over output positions
// r = (b, oh, ow) in [r_begin, r_end) of B*Ho*Wo:
//   dweight[co][ci][kh][kw] += sum dout[b][co][oh][ow] * inp[b][ci][oh*s - pad_t + kh][ow*s - pad_l + kw]
//   dbias[co]               += sum dout[b][co][oh][ow]
//
// Work units: (co, ci, group of up to TG consecutive taps) when has_w, then one unit per
// bias channel when has_b. One workgroup per unit (grid-stride on a 2-D grid, as there
// can be more than 65535 units): its 64 invocations stride through r (neighbouring
// invocations read neighbouring ow: coalesced for stride 1), read dout once per position
// for all the group's taps (a 3x3 kernel is one group: 9 products per dout load, and the
// position decode is shared), then the TG partial sums meet in shared-memory trees
// (wg_reduce.glsl). No atomics and no scratch buffer: every gradient element is summed
// by one workgroup in a fixed order (deterministic). The position range exists for
// llvmpipe's per-invocation loop budget (src/vk.h): the host splits long sums into
// successive dispatches that each add to the gradients.
// A tiled implicit GEMM over (Cout, Cin*KH*KW, B*Ho*Wo) would also reuse inp across
// output channels from shared memory; the trainer's fast path is the CPU body.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;
#define WG_SIZE 64
#include "wg_reduce.glsl"

#define TG 9 // taps per work unit (a whole 3x3 kernel)

layout(set = 0, binding = 0, std430) buffer DW { float dweight[]; };         // (Cout, Cin, KH, KW)
layout(set = 0, binding = 1, std430) buffer DB { float dbias[]; };           // (Cout)
layout(set = 0, binding = 2, std430) readonly buffer DOut { float dout[]; }; // (B, Cout, Ho, Wo)
layout(set = 0, binding = 3, std430) readonly buffer Inp { float inp[]; };   // (B, Cin, H, W)

layout(push_constant) uniform PC {
    int Cin, H, W;
    int Cout, KH, KW;
    int stride, pad_t, pad_l;
    int Ho, Wo;
    int has_w, has_b;
    int r_begin, r_end;
} pc;

void main() {
    const int KK = pc.KH * pc.KW, HoWo = pc.Ho * pc.Wo;
    const uint ng = uint((KK + TG - 1) / TG); // tap groups per (co, ci)
    const uint nwu = pc.has_w != 0 ? uint(pc.Cout) * uint(pc.Cin) * ng : 0u;
    const uint nu = nwu + (pc.has_b != 0 ? uint(pc.Cout) : 0u);
    const uint groups = gl_NumWorkGroups.x * gl_NumWorkGroups.y;
    const uint lid = gl_LocalInvocationID.x;
    for (uint u = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; u < nu; u += groups) {
        float acc[TG];
        for (int t = 0; t < TG; ++t) acc[t] = 0.0;
        if (u < nwu) {
            const int co = int(u / (uint(pc.Cin) * ng));
            const int ci = int((u / ng) % uint(pc.Cin));
            const int t0 = int(u % ng) * TG;
            const int nt = min(TG, KK - t0);
            for (int r = pc.r_begin + int(lid); r < pc.r_end; r += 64) {
                const int b = r / HoWo, p = r % HoWo;
                const int oh = p / pc.Wo, ow = p % pc.Wo;
                const float g = dout[(b * pc.Cout + co) * HoWo + p];
                const int ih0 = oh * pc.stride - pc.pad_t, iw0 = ow * pc.stride - pc.pad_l;
                const int xb = (b * pc.Cin + ci) * pc.H;
                for (int t = 0; t < TG; ++t) {
                    const int kh = (t0 + t) / pc.KW, kw = (t0 + t) % pc.KW;
                    const int ih = ih0 + kh, iw = iw0 + kw;
                    if (t < nt && ih >= 0 && ih < pc.H && iw >= 0 && iw < pc.W)
                        acc[t] += g * inp[(xb + ih) * pc.W + iw];
                }
            }
            for (int t = 0; t < TG; ++t) { // workgroup-uniform trip count (barriers inside)
                const float s = seg_sum(acc[t], 64u);
                if (lid == 0u && t < nt) dweight[(co * pc.Cin + ci) * KK + t0 + t] += s;
            }
        } else {
            const int co = int(u - nwu);
            float s = 0.0;
            for (int r = pc.r_begin + int(lid); r < pc.r_end; r += 64) {
                const int b = r / HoWo, p = r % HoWo;
                s += dout[(b * pc.Cout + co) * HoWo + p];
            }
            s = seg_sum(s, 64u);
            if (lid == 0u) dbias[co] += s;
        }
    }
}
