#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_normal_forward: g = sum_k v_k tau4[p,k] / (4h), n = -g / sqrt(|g|^2 + eps^2).
// One invocation per point, grid-stride; reads 4 and writes 3 consecutive floats.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer N { float n[]; };    // (P, 3)
layout(set = 0, binding = 1, std430) readonly buffer Tau { float tau4[]; }; // (P, 4)

layout(push_constant) uniform PC {
    uint P;
    float h;
    float eps;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        vec3 g = vec3(0.0);
        for (uint k = 0u; k < 4u; k++) g += NERF_TETRA[k] * tau4[4u * p + k];
        g *= 1.0 / (4.0 * pc.h);
        float inv = 1.0 / sqrt(g.x * g.x + g.y * g.y + g.z * g.z + pc.eps * pc.eps);
        n[3u * p] = -g.x * inv;
        n[3u * p + 1u] = -g.y * inv;
        n[3u * p + 2u] = -g.z * inv;
    }
}
