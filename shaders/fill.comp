#version 450
// op_fill: dst (n) = value.
// Grid-stride loop (vkd_vk_dispatch_1d caps the grid at 65535 groups): consecutive
// invocations write consecutive floats, so stores coalesce.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) writeonly buffer Dst { float dst[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    float value;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) dst[i] = pc.value;
}
