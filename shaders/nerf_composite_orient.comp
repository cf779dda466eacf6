#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_composite_backward, orientation part: dn_i += 2 lambda w_i max(0, n_i . d) d (the
// weights held constant, as the loss's stop-gradient says). One invocation per ray.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DN { float dn[]; };              // (P, 3)
layout(set = 0, binding = 1, std430) readonly buffer W { float w[]; };       // (P)
layout(set = 0, binding = 2, std430) readonly buffer N { float n[]; };       // (P, 3)
layout(set = 0, binding = 3, std430) readonly buffer Offs { uint offs[]; };  // (R + 1)
layout(set = 0, binding = 4, std430) readonly buffer Rays { float rays[]; }; // (R, 8)

layout(push_constant) uniform PC {
    uint R;
    float lambda_orient;
} pc;

void main() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= pc.R) return;
    uint rb = r * NERF_RAY_STRIDE;
    vec3 d = vec3(rays[rb + 3u], rays[rb + 4u], rays[rb + 5u]);
    for (uint i = offs[r]; i < offs[r + 1u]; i++) {
        vec3 ni = vec3(n[3u * i], n[3u * i + 1u], n[3u * i + 2u]);
        float nd = ni.x * d.x + ni.y * d.y + ni.z * d.z;
        if (nd > 0.0) {
            float k2 = 2.0 * pc.lambda_orient * w[i] * nd;
            dn[3u * i] += k2 * d.x;
            dn[3u * i + 1u] += k2 * d.y;
            dn[3u * i + 2u] += k2 * d.z;
        }
    }
}
