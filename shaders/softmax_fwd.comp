#version 450
#extension GL_GOOGLE_include_directive : require
// op_softmax_forward: y (N, D) = softmax over the last axis of scale * x (N, D).
// Stable: e = exp(scale x - row max) <= 1.
//
// Layout: each row gets a segment of pc.lanes consecutive invocations (a power of two,
// chosen on the host so a lane handles ~8 elements: 1 for D <= 8, up to 128 = the whole
// workgroup for D > 512), so a workgroup of 128 serves 128 / lanes rows at a time and
// loops grid-stride over row blocks (N may exceed 65535 groups). Lanes stride along the
// row (coalesced); the row max and sum go through shared-memory trees over the segment.
// Short rows thus do not leave most of a workgroup idle (with a workgroup per row, rows
// of 40 took 745 ms for 66000 rows on lavapipe, 20x more than this layout).
// Passes: max; e = exp(v - max) written to y and summed; y *= 1/sum. An invocation
// rescales exactly the elements it wrote, so the last two passes need no barrier.
// y may alias x: each element is read and then overwritten by the same invocation.
// Rows past N in the last block run the loops with no elements but still reach every
// barrier (control flow stays uniform).

#define WG_SIZE 128u
#include "wg_reduce.glsl"

layout(local_size_x = 128) in;

layout(set = 0, binding = 0, std430) buffer Y { float y[]; }; // (N, D)
layout(set = 0, binding = 1, std430) buffer X { float x[]; }; // (N, D)

layout(push_constant) uniform PC {
    uint N;
    uint D;
    float scale;
    uint lanes; // invocations per row: a power of two <= 128
} pc;

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid & (pc.lanes - 1u);
    uint rows_per_group = WG_SIZE / pc.lanes;
    uint slot = lid / pc.lanes;
    for (uint r0 = gl_WorkGroupID.x * rows_per_group; r0 < pc.N;
         r0 += gl_NumWorkGroups.x * rows_per_group) {
        uint r = r0 + slot;
        uint len = r < pc.N ? pc.D : 0u; // 0: a slot past the last row
        uint base = r * pc.D;
        float m = uintBitsToFloat(0xFF800000u); // -inf
        for (uint j = lane; j < len; j += pc.lanes) m = max(m, pc.scale * x[base + j]);
        m = seg_max(m, pc.lanes);
        float s = 0.0;
        for (uint j = lane; j < len; j += pc.lanes) {
            float e = exp(pc.scale * x[base + j] - m);
            y[base + j] = e;
            s += e;
        }
        float inv = 1.0 / seg_sum(s, pc.lanes);
        for (uint j = lane; j < len; j += pc.lanes) y[base + j] *= inv;
    }
}
