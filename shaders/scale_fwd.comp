#version 450
// op_scale_forward: y (n) = alpha * x (n) + beta. Grid-stride, coalesced; y may alias x.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer Y { float y[]; }; // (n)
layout(set = 0, binding = 1, std430) buffer X { float x[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    float alpha;
    float beta;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) y[i] = pc.alpha * x[i] + pc.beta;
}
