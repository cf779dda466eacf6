#version 450
#extension GL_GOOGLE_include_directive : require
// op_unary_forward: y (n) = f(x (n)) for the activation code pc.act (vkd_act_t).
// One shader for the whole family: the switch on a push constant is uniform across the
// dispatch, so it costs a scalar branch, not divergence, and saves eight pipelines.
// Grid-stride loop, coalesced. y may alias x (each element is read, then written, by the
// same invocation), hence no restrict.

#include "activation.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer Y { float y[]; }; // (n)
layout(set = 0, binding = 1, std430) buffer X { float x[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    uint act;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) y[i] = act_fwd(pc.act, x[i]);
}
