#version 450
// op_reduce_backward: dx (outer, n, inner) += scale * dy (outer, inner) broadcast along n.
// Grid-stride over the outer*n*inner elements of dx (coalesced); the dy element an
// invocation needs is shared with its neighbours (inner == 1: a whole row) and comes
// from cache.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer DX { float dx[]; };          // (outer, n, inner)
layout(set = 0, binding = 1, std430) readonly buffer DY { float dy[]; }; // (outer, inner)

layout(push_constant) uniform PC {
    uint total; // outer * n * inner
    uint n;
    uint inner;
    float scale;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint row = pc.n * pc.inner;
    for (uint q = gl_GlobalInvocationID.x; q < pc.total; q += stride)
        dx[q] += dy[(q / row) * pc.inner + q % pc.inner] * pc.scale;
}
