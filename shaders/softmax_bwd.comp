#version 450
#extension GL_GOOGLE_include_directive : require
// op_softmax_backward: dx (N, D) += scale * y * (dy - sum_j dy y), per row of (N, D).
// Same layout as softmax_fwd.comp: a segment of pc.lanes invocations per row, 128 / lanes
// rows per workgroup at a time, the row's dot product through a shared-memory tree.

#define WG_SIZE 128u
#include "wg_reduce.glsl"

layout(local_size_x = 128) in;

layout(set = 0, binding = 0, std430) buffer DX { float dx[]; };          // (N, D)
layout(set = 0, binding = 1, std430) readonly buffer DY { float dy[]; }; // (N, D)
layout(set = 0, binding = 2, std430) readonly buffer Y { float y[]; };   // (N, D)

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
        uint len = r < pc.N ? pc.D : 0u;
        uint base = r * pc.D;
        float dot = 0.0;
        for (uint j = lane; j < len; j += pc.lanes) dot += dy[base + j] * y[base + j];
        dot = seg_sum(dot, pc.lanes);
        for (uint j = lane; j < len; j += pc.lanes)
            dx[base + j] += pc.scale * y[base + j] * (dy[base + j] - dot);
    }
}
