#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_composite_forward, pass 2 (when normals exist): the normal map normalise(sum w n)
// and the orientation term sum w max(0, n . d)^2 per ray, from pass 1's weights. One
// invocation per ray, as pass 1.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer NMap { float nmap[]; };  // (R, 3) or dummy
layout(set = 0, binding = 1, std430) writeonly buffer Ori { float orient[]; }; // (R) or dummy
layout(set = 0, binding = 2, std430) readonly buffer W { float w[]; };         // (P)
layout(set = 0, binding = 3, std430) readonly buffer N { float n[]; };         // (P, 3)
layout(set = 0, binding = 4, std430) readonly buffer Offs { uint offs[]; };    // (R + 1)
layout(set = 0, binding = 5, std430) readonly buffer Rays { float rays[]; };   // (R, 8)

layout(push_constant) uniform PC {
    uint R;
    uint has_nmap;
    uint has_orient;
} pc;

void main() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= pc.R) return;
    uint rb = r * NERF_RAY_STRIDE;
    vec3 d = vec3(rays[rb + 3u], rays[rb + 4u], rays[rb + 5u]);
    float orr = 0.0;
    vec3 nm = vec3(0.0);
    for (uint i = offs[r]; i < offs[r + 1u]; i++) {
        vec3 ni = vec3(n[3u * i], n[3u * i + 1u], n[3u * i + 2u]);
        float nd = ni.x * d.x + ni.y * d.y + ni.z * d.z;
        orr += w[i] * (nd > 0.0 ? nd * nd : 0.0);
        nm += w[i] * ni;
    }
    if (pc.has_orient != 0u) orient[r] = orr;
    if (pc.has_nmap != 0u) {
        float len = sqrt(nm.x * nm.x + nm.y * nm.y + nm.z * nm.z);
        vec3 o = len > 1e-12 ? nm / len : vec3(0.0);
        nmap[3u * r] = o.x;
        nmap[3u * r + 1u] = o.y;
        nmap[3u * r + 2u] = o.z;
    }
}
