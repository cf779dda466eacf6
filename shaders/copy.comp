#version 450
// op_copy: dst (n) = src (n).
// Grid-stride loop, one float per invocation per step: coalesced loads and stores.
// (A shader rather than vkCmdCopyBuffer: arena views of one VkBuffer may overlap, which a
// buffer copy forbids, and the dispatch gets the same barrier as every other op.)

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) writeonly buffer Dst { float dst[]; }; // (n)
layout(set = 0, binding = 1, std430) readonly buffer Src { float src[]; };  // (n)

layout(push_constant) uniform PC {
    uint n;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) dst[i] = src[i];
}
