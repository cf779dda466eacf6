#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_shade_backward: drho (P, 3) += dc k (lit) or dc (albedo); dn (P, 3) += dk l_d l-hat
// where n . l-hat > 0, dk = dc . rho (lit) or sum dc (textureless). One invocation per
// point, grid-stride.
#include "shading.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DRho { float drho[]; };       // (P, 3) or dummy
layout(set = 0, binding = 1, std430) buffer DN { float dn[]; };           // (P, 3) or dummy
layout(set = 0, binding = 2, std430) readonly buffer DC { float dc[]; };  // (P, 3)
layout(set = 0, binding = 3, std430) readonly buffer Rho { float rho[]; }; // (P, 3)
layout(set = 0, binding = 4, std430) readonly buffer N { float n[]; };    // (P, 3) or dummy
layout(set = 0, binding = 5, std430) readonly buffer X { float x[]; };    // (P, 3)

layout(push_constant) uniform PC {
    uint P;
    uint mode;
    uint has_drho;
    uint has_dn;
    float lx, ly, lz;
    float diffuse;
    float ambient;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        uint i = 3u * p;
        vec3 g = vec3(dc[i], dc[i + 1u], dc[i + 2u]);
        if (pc.mode == SHADE_ALBEDO) {
            for (uint k = 0u; k < 3u; k++) drho[i + k] += g[k];
            continue;
        }
        float ndl, len;
        vec3 l;
        float k = shade_k(vec3(pc.lx, pc.ly, pc.lz), pc.diffuse, pc.ambient,
                          vec3(n[i], n[i + 1u], n[i + 2u]), vec3(x[i], x[i + 1u], x[i + 2u]),
                          ndl, l, len);
        float dk;
        if (pc.mode == SHADE_TEXTURELESS) {
            dk = g.x + g.y + g.z;
        } else {
            vec3 r = vec3(rho[i], rho[i + 1u], rho[i + 2u]);
            dk = dot(g, r);
            if (pc.has_drho != 0u)
                for (uint j = 0u; j < 3u; j++) drho[i + j] += g[j] * k;
        }
        if (pc.has_dn != 0u && ndl > 0.0) {
            float s = dk * pc.diffuse / len;
            dn[i] += s * l.x;
            dn[i + 1u] += s * l.y;
            dn[i + 2u] += s * l.z;
        }
    }
}
