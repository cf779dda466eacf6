#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_tetra_points: xt (P, 4, 3) = x + h v_k, vt (P, 4) = var. One invocation per point,
// grid-stride.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer XT { float xt[]; }; // (P, 4, 3)
layout(set = 0, binding = 1, std430) writeonly buffer VT { float vt[]; }; // (P, 4)
layout(set = 0, binding = 2, std430) readonly buffer X { float x[]; };    // (P, 3)
layout(set = 0, binding = 3, std430) readonly buffer Var { float var_[]; }; // (P)

layout(push_constant) uniform PC {
    uint P;
    float h;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        vec3 xp = vec3(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        float v = var_[p];
        for (uint k = 0u; k < 4u; k++) {
            precise vec3 q = xp + pc.h * NERF_TETRA[k];
            xt[12u * p + 3u * k] = q.x;
            xt[12u * p + 3u * k + 1u] = q.y;
            xt[12u * p + 3u * k + 2u] = q.z;
            vt[4u * p + k] = v;
        }
    }
}
