#version 450
// op_binary_forward: y[i] = a[i] (+ or *) b[(i / b_inner) % b_n], i < n (ops.h).
// Grid-stride loop, coalesced over y and a; neighbouring invocations mostly read the same
// b element (b_inner > 1) or neighbouring ones (b_inner == 1), which the cache serves.
// y may alias a (same index, same invocation), hence no restrict.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer Y { float y[]; };          // (n)
layout(set = 0, binding = 1, std430) buffer A { float a[]; };          // (n)
layout(set = 0, binding = 2, std430) readonly buffer B { float b[]; }; // (b_n)

layout(push_constant) uniform PC {
    uint n;
    uint b_n;
    uint b_inner;
    uint op; // 0 add, 1 mul
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
        float bv = b[(i / pc.b_inner) % pc.b_n];
        y[i] = pc.op == 1u ? a[i] * bv : a[i] + bv;
    }
}
