#version 450
// op_scale_backward: dx (n) += alpha * dy (n). Grid-stride, coalesced.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer DX { float dx[]; };          // (n)
layout(set = 0, binding = 1, std430) readonly buffer DY { float dy[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    float alpha;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) dx[i] += pc.alpha * dy[i];
}
