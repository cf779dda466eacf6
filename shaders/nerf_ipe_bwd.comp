#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_ipe_backward: dx (P, 3) += dfeat (P, 3 + 6L) . dfeat/dx (the variance is constant).
// One invocation per point, grid-stride, as nerf_ipe_fwd.comp.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DX { float dx[]; };                // (P, 3)
layout(set = 0, binding = 1, std430) readonly buffer DFeat { float dfeat[]; }; // (P, F)
layout(set = 0, binding = 2, std430) readonly buffer X { float x[]; };         // (P, 3)
layout(set = 0, binding = 3, std430) readonly buffer Var { float var_[]; };    // (P) or dummy

layout(push_constant) uniform PC {
    uint P;
    uint L;
    uint has_var;
    float var_add;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint F = 3u + 6u * pc.L;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        float v = (pc.has_var != 0u ? var_[p] : 0.0) + pc.var_add;
        uint base = p * F;
        vec3 xp = vec3(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        vec3 acc = vec3(dfeat[base], dfeat[base + 1u], dfeat[base + 2u]);
        float freq = 1.0, e4 = 1.0;
        for (uint l = 0u; l < pc.L; l++) {
            float att = exp(-0.5 * e4 * v);
            for (uint a = 0u; a < 3u; a++) {
                vec2 sc = nerf_sincos(freq * xp[a]);
                acc[a] += freq * att * (dfeat[base + 3u + 3u * l + a] * sc.y -
                                        dfeat[base + 3u + 3u * pc.L + 3u * l + a] * sc.x);
            }
            freq *= 2.0;
            e4 *= 4.0;
        }
        dx[3u * p] += acc.x;
        dx[3u * p + 1u] += acc.y;
        dx[3u * p + 2u] += acc.z;
    }
}
