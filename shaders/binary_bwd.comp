#version 450
#extension GL_GOOGLE_include_directive : require
// op_binary_backward, in up to two dispatches selected by pc.pass:
//   pass 0: da[i] += dy[i] * (mul ? b[k(i)] : 1), grid-stride over n, coalesced.
//   pass 1: db[k] += sum over the m = n / b_n elements i with k(i) = k of dy[i] (* a[i]),
//           one invocation per b element looping over its m contributions (grid-stride over
//           k). Used when m is small (e.g. plain elementwise, m = 1).
//   pass 2: the same sum with one workgroup per b element (grid-stride over k): its 256
//           invocations stride over the m contributions and meet in a shared-memory tree.
//           Used when m is large (per-channel bias of an NCHW tensor: m = B*H*W), where
//           pass 1 would leave all but b_n invocations of the GPU idle.
// Contribution j < m of element k is i = ((j / b_inner) * b_n + k) * b_inner + j % b_inner,
// so for b_inner >= 256 a workgroup reads runs of consecutive floats.
// Passes 1 and 2 sum only contributions j in [j_begin, j_end): when an invocation would
// loop longer than the driver allows (llvmpipe silently ends all loops of an invocation
// after 65535 iterations, see src/vk.h), e.g. a scalar b over 16M elements, the host
// splits m into chunks summed by successive dispatches, each adding to db in order.
// Each invocation's partial sum is Kahan-compensated (precise: the compiler must not
// simplify the compensation away); the tree adds log2(256) levels of rounding.

#define WG_SIZE 256u
#include "wg_reduce.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer DA { float da[]; };          // (n) or dummy
layout(set = 0, binding = 1, std430) buffer DB { float db[]; };          // (b_n) or dummy
layout(set = 0, binding = 2, std430) readonly buffer DY { float dy[]; }; // (n)
layout(set = 0, binding = 3, std430) readonly buffer A { float a[]; };   // (n) or dummy
layout(set = 0, binding = 4, std430) readonly buffer B { float b[]; };   // (b_n) or dummy

layout(push_constant) uniform PC {
    uint n;
    uint b_n;
    uint b_inner;
    uint op;   // 0 add, 1 mul
    uint pass; // see above
    uint j_begin; // passes 1 and 2: the chunk of contributions summed
    uint j_end;
} pc;

float contribution(uint k, uint j) {
    uint r = j / pc.b_inner;
    uint i = (r * pc.b_n + k) * pc.b_inner + (j - r * pc.b_inner);
    return pc.op == 1u ? dy[i] * a[i] : dy[i];
}

// Kahan sum of contributions j = j0, j0 + step, ... < j_end of element k.
float partial_sum(uint k, uint j0, uint step) {
    precise float s = 0.0;
    precise float c = 0.0;
    for (uint j = j0; j < pc.j_end; j += step) {
        precise float y = contribution(k, j) - c;
        precise float t = s + y;
        c = (t - s) - y;
        s = t;
    }
    return s - c;
}

void main() {
    if (pc.pass == 0u) {
        uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
        for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride)
            da[i] += pc.op == 1u ? dy[i] * b[(i / pc.b_inner) % pc.b_n] : dy[i];
    } else if (pc.pass == 1u) {
        uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
        for (uint k = gl_GlobalInvocationID.x; k < pc.b_n; k += stride)
            db[k] += partial_sum(k, pc.j_begin, 1u);
    } else {
        for (uint k = gl_WorkGroupID.x; k < pc.b_n; k += gl_NumWorkGroups.x) {
            float s = wg_sum(partial_sum(k, pc.j_begin + gl_LocalInvocationID.x, WG_SIZE));
            if (gl_LocalInvocationID.x == 0u) db[k] += s;
        }
    }
}
