#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_heads_backward: draw (P, 4) += dsigma * act'(pre), drho * s (1 - s). One invocation
// per point, grid-stride.
#include "activation.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DRaw { float draw[]; };              // (P, 4)
layout(set = 0, binding = 1, std430) readonly buffer DSigma { float dsigma[]; }; // (P) or dummy
layout(set = 0, binding = 2, std430) readonly buffer DRho { float drho[]; };     // (P, 3) or dummy
layout(set = 0, binding = 3, std430) readonly buffer Raw { float raw[]; };       // (P, 4)
layout(set = 0, binding = 4, std430) readonly buffer X { float x[]; };           // (P, 3)

layout(push_constant) uniform PC {
    uint P;
    uint act;
    uint has_dsigma;
    uint has_drho;
    uint pre_only;
    float blob_lambda;
    float blob_sigma;
    float exp_max;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        if (pc.has_dsigma != 0u) {
            vec3 xp = vec3(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
            float r2 = xp.x * xp.x + xp.y * xp.y + xp.z * xp.z;
            float pre = raw[4u * p] +
                        pc.blob_lambda * exp(-r2 / (2.0 * pc.blob_sigma * pc.blob_sigma));
            float d = pc.act == 2u ? exp(min(pre, pc.exp_max)) : act_bwd(3u, pre);
            draw[4u * p] += pc.pre_only != 0u ? dsigma[p] : dsigma[p] * d;
        }
        if (pc.has_drho != 0u)
            for (uint k = 0u; k < 3u; k++) {
                vec2 s = act_sigmoid2(raw[4u * p + 1u + k]);
                draw[4u * p + 1u + k] += drho[3u * p + k] * (s.x * s.y);
            }
    }
}
