#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_ipe_forward: feat (P, 3 + 6L) = [x, sin(2^l x) e_l, cos(2^l x) e_l],
// e_l = exp(-4^l v / 2), v = var[p] + var_add (nerf/nerf_ops.h).
// One invocation per point, grid-stride: each writes its row of F = 3 + 6L floats. The
// writes are strided across invocations, but the encoding is a few percent of the
// field's work (the MLP GEMMs dominate), so a simple row kernel is the right trade; on
// lavapipe a row per SIMD lane vectorises well. sin/cos go through nerf_sincos (accurate
// range reduction: the arguments reach ~200 rad).
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer Feat { float feat[]; }; // (P, F)
layout(set = 0, binding = 1, std430) readonly buffer X { float x[]; };        // (P, 3)
layout(set = 0, binding = 2, std430) readonly buffer Var { float var_[]; };   // (P) or dummy

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
        vec3 xp = vec3(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        uint base = p * F;
        feat[base] = xp.x;
        feat[base + 1u] = xp.y;
        feat[base + 2u] = xp.z;
        float freq = 1.0, e4 = 1.0;
        for (uint l = 0u; l < pc.L; l++) {
            float att = exp(-0.5 * e4 * v);
            for (uint a = 0u; a < 3u; a++) {
                vec2 sc = nerf_sincos(freq * xp[a]);
                feat[base + 3u + 3u * l + a] = sc.x * att;
                feat[base + 3u + 3u * pc.L + 3u * l + a] = sc.y * att;
            }
            freq *= 2.0;
            e4 *= 4.0;
        }
    }
}
