#version 450
#extension GL_GOOGLE_include_directive : require
// op_reduce_forward: out (outer, inner) = scale * sum over i < n of x (outer, n, inner)
// (scale = 1, or 1/n for a mean). Two strategies, chosen on the host by pc.mode:
//   mode 0, one invocation per output (grid-stride over outer*inner): invocations with
//     consecutive j read consecutive floats of each row (coalesced). For many outputs
//     with short sums (inner large).
//   mode 1, one workgroup per output (grid-stride over outputs): its 256 invocations
//     stride along i and meet in a shared-memory tree. For few outputs with long sums,
//     e.g. (1, 1e6, 1), where mode 0 would run a million-step loop on one invocation.
//     Without a scratch buffer in the op's signature the sum of one output cannot be
//     split across workgroups, so (1, n, 1) uses one workgroup (one SM / one lavapipe
//     thread) streaming n floats.
// A dispatch sums only i in [n_begin, n_end). The host splits n into such chunks when an
// invocation would otherwise loop longer than the driver allows (llvmpipe silently ends
// every loop of an invocation after 65535 iterations in total, see src/vk.h): the first
// chunk writes its partial sum, the later ones (accumulate = 1) add theirs to what is in
// y, in chunk order, so the result is deterministic. The host passes scale = 1 for all
// but the last chunk, so a mean is (sum of all partials) / n, scaled once.
// Accumulation: each invocation keeps a Kahan-compensated float sum (precise, so the
// compiler cannot cancel the compensation); mode 1 then adds the 256 partial sums in
// tree order. Error ~ (2 + log2(256)) eps per chunk, not n eps.

#define WG_SIZE 256u
#include "wg_reduce.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer Out { float y[]; };          // (outer, inner)
layout(set = 0, binding = 1, std430) readonly buffer Inp { float x[]; }; // (outer, n, inner)

layout(push_constant) uniform PC {
    uint outer;
    uint n;
    uint inner;
    uint mode;
    float scale;
    uint n_begin;    // the chunk of the n axis this dispatch sums
    uint n_end;
    uint accumulate; // 1: add to y (a later chunk); 0: overwrite y
} pc;

// Kahan sum over i = i0, i0 + step, ... < n_end of x[o, i, j].
float strided_sum(uint o, uint j, uint i0, uint step) {
    precise float s = 0.0;
    precise float c = 0.0;
    uint base = o * pc.n * pc.inner + j;
    for (uint i = i0; i < pc.n_end; i += step) {
        precise float v = x[base + i * pc.inner] - c;
        precise float t = s + v;
        c = (t - s) - v;
        s = t;
    }
    return s - c;
}

void store(uint q, float s) {
    if (pc.accumulate != 0u) s += y[q];
    y[q] = s * pc.scale;
}

void main() {
    uint n_out = pc.outer * pc.inner;
    if (pc.mode == 0u) {
        uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
        for (uint q = gl_GlobalInvocationID.x; q < n_out; q += stride)
            store(q, strided_sum(q / pc.inner, q % pc.inner, pc.n_begin, 1u));
    } else {
        for (uint q = gl_WorkGroupID.x; q < n_out; q += gl_NumWorkGroups.x) {
            float s = wg_sum(strided_sum(q / pc.inner, q % pc.inner,
                                         pc.n_begin + gl_LocalInvocationID.x, WG_SIZE));
            if (gl_LocalInvocationID.x == 0u) store(q, s);
        }
    }
}
