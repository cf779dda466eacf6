#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_normal_backward: with r = sqrt(|g|^2 + eps^2), dL/dg = -(dn - g (g . dn) / r^2) / r,
// dtau4[p,k] += v_k . dL/dg / (4h). One invocation per point, grid-stride.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DTau { float dtau4[]; };        // (P, 4)
layout(set = 0, binding = 1, std430) readonly buffer DN { float dn[]; };    // (P, 3)
layout(set = 0, binding = 2, std430) readonly buffer Tau { float tau4[]; }; // (P, 4)

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
        vec3 d = vec3(dn[3u * p], dn[3u * p + 1u], dn[3u * p + 2u]);
        float r2 = g.x * g.x + g.y * g.y + g.z * g.z + pc.eps * pc.eps;
        float inv = 1.0 / sqrt(r2);
        float gd = g.x * d.x + g.y * d.y + g.z * d.z;
        vec3 dg = -(d - g * (gd / r2)) * inv;
        float s = 1.0 / (4.0 * pc.h);
        for (uint k = 0u; k < 4u; k++) dtau4[4u * p + k] += dot(NERF_TETRA[k], dg) * s;
    }
}
