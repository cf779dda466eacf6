#version 450
#extension GL_GOOGLE_include_directive : require
// op_unary_backward: dx (n) += dy (n) * f'(x (n)) for the activation code pc.act.
// Same structure as unary_fwd.comp (uniform switch, grid-stride, coalesced).

#include "activation.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer DX { float dx[]; };          // (n)
layout(set = 0, binding = 1, std430) readonly buffer DY { float dy[]; }; // (n)
layout(set = 0, binding = 2, std430) readonly buffer X { float x[]; };   // (n)

layout(push_constant) uniform PC {
    uint n;
    uint act;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride)
        dx[i] += dy[i] * act_bwd(pc.act, x[i]);
}
