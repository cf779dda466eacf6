#version 450
// op_copy_strided: out[out_off + sum_k i_k out_stride[k]] (= or +=) inp[inp_off + sum_k
// i_k inp_stride[k]] over a 4-D index space.
// One invocation per element, grid-stride over the flattened index with axis 3 fastest:
// neighbouring invocations touch neighbouring elements whenever the inner strides are 1
// (the common case: concatenation, channel slices), so loads and stores coalesce. Index
// math is integer divides per element; the copy is memory-bound, they are hidden.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer Out { float o[]; };          // strided view
layout(set = 0, binding = 1, std430) readonly buffer Inp { float x[]; }; // strided view

layout(push_constant) uniform PC {
    uint n0, n1, n2, n3;
    uint out_off, inp_off;
    uint so0, so1, so2, so3;
    uint si0, si1, si2, si3;
    uint accumulate;
} pc;

void main() {
    uint total = pc.n0 * pc.n1 * pc.n2 * pc.n3;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint e = gl_GlobalInvocationID.x; e < total; e += stride) {
        uint i3 = e % pc.n3, r = e / pc.n3;
        uint i2 = r % pc.n2;
        r /= pc.n2;
        uint i1 = r % pc.n1, i0 = r / pc.n1;
        uint io = pc.out_off + i0 * pc.so0 + i1 * pc.so1 + i2 * pc.so2 + i3 * pc.so3;
        uint ii = pc.inp_off + i0 * pc.si0 + i1 * pc.si1 + i2 * pc.si2 + i3 * pc.si3;
        float v = x[ii];
        o[io] = pc.accumulate != 0u ? o[io] + v : v;
    }
}
