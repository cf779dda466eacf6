#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_shade_forward: c (P, 3) = shade(mode, light, rho, n, x) (src/shading.h's vkd_shade,
// shaders/common/shading.glsl). One invocation per point, grid-stride.
#include "shading.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer C { float c[]; };    // (P, 3)
layout(set = 0, binding = 1, std430) readonly buffer Rho { float rho[]; }; // (P, 3)
layout(set = 0, binding = 2, std430) readonly buffer N { float n[]; };     // (P, 3) or dummy
layout(set = 0, binding = 3, std430) readonly buffer X { float x[]; };     // (P, 3)

layout(push_constant) uniform PC {
    uint P;
    uint mode;
    float lx, ly, lz;
    float diffuse;
    float ambient;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        uint i = 3u * p;
        vec3 r = vec3(rho[i], rho[i + 1u], rho[i + 2u]);
        vec3 o;
        if (pc.mode == SHADE_ALBEDO) {
            o = r;
        } else {
            o = shade(pc.mode, vec3(pc.lx, pc.ly, pc.lz), pc.diffuse, pc.ambient, r,
                      vec3(n[i], n[i + 1u], n[i + 2u]), vec3(x[i], x[i + 1u], x[i + 2u]));
        }
        c[i] = o.x;
        c[i + 1u] = o.y;
        c[i + 2u] = o.z;
    }
}
