#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_composite_forward, pass 1: front-to-back alpha compositing of each ray's packed
// samples [offs[r], offs[r+1]): foreground rgb = sum w c, opacity A = sum w, depth
// sum w t / A, and the weights w (saved for the normal pass and the backward).
// One invocation per ray: compositing is a sequential scan along the ray, and rays are
// many (thousands) and independent; consecutive samples of a ray are contiguous, so each
// invocation streams its own slice. Loop budget (lavapipe): one pass over <= S samples.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer RGB { float rgb[]; };     // (R, 3)
layout(set = 0, binding = 1, std430) writeonly buffer Opa { float opacity[]; }; // (R)
layout(set = 0, binding = 2, std430) writeonly buffer Dep { float depth[]; };   // (R)
layout(set = 0, binding = 3, std430) writeonly buffer W { float w[]; };         // (P)
layout(set = 0, binding = 4, std430) readonly buffer Sig { float sigma[]; };    // (P)
layout(set = 0, binding = 5, std430) readonly buffer C { float c[]; };          // (P, 3)
layout(set = 0, binding = 6, std430) readonly buffer TD { float td[]; };        // (P, 2)
layout(set = 0, binding = 7, std430) readonly buffer Offs { uint offs[]; };     // (R + 1)

layout(push_constant) uniform PC {
    uint R;
} pc;

void main() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= pc.R) return;
    float T = 1.0, A = 0.0, dep = 0.0;
    vec3 col = vec3(0.0);
    for (uint i = offs[r]; i < offs[r + 1u]; i++) {
        float s = sigma[i] * td[2u * i + 1u];
        float wi = T * nerf_alpha(s);
        w[i] = wi;
        A += wi;
        dep += wi * td[2u * i];
        col += wi * vec3(c[3u * i], c[3u * i + 1u], c[3u * i + 2u]);
        T *= exp(-s);
    }
    rgb[3u * r] = col.x;
    rgb[3u * r + 1u] = col.y;
    rgb[3u * r + 2u] = col.z;
    opacity[r] = A;
    depth[r] = A > 1e-6 ? dep / A : 0.0;
}
