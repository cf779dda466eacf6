#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_composite_backward, colour and density part: per ray, pass 1 recomputes the
// totals (foreground colour, A, T_N), pass 2 walks the samples again with a running
// prefix: dL/ds_i = g . (T_{i+1} c_i - sum_{j>i} w_j c_j) + dA T_N, dsigma_i += delta_i
// dL/ds_i, dc_i += w_i g, where dA adds the outside dopacity and the opacity/entropy
// regularisers. One invocation per ray (a sequential scan); loop budget: 2 passes over
// <= S samples.
#include "nerf.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DSig { float dsigma[]; };           // (P)
layout(set = 0, binding = 1, std430) buffer DC { float dc[]; };                 // (P, 3)
layout(set = 0, binding = 2, std430) readonly buffer DRGB { float drgb[]; };    // (R, 3)
layout(set = 0, binding = 3, std430) readonly buffer DOpa { float dopa[]; };    // (R) or dummy
layout(set = 0, binding = 4, std430) readonly buffer Sig { float sigma[]; };    // (P)
layout(set = 0, binding = 5, std430) readonly buffer C { float c[]; };          // (P, 3)
layout(set = 0, binding = 6, std430) readonly buffer TD { float td[]; };        // (P, 2)
layout(set = 0, binding = 7, std430) readonly buffer Offs { uint offs[]; };     // (R + 1)

layout(push_constant) uniform PC {
    uint R;
    uint has_dopacity;
    float lambda_opacity;
    float lambda_entropy;
} pc;

void main() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= pc.R) return;
    vec3 g = vec3(drgb[3u * r], drgb[3u * r + 1u], drgb[3u * r + 2u]);
    uint i0 = offs[r], i1 = offs[r + 1u];
    float T = 1.0, A = 0.0;
    vec3 fg = vec3(0.0);
    for (uint i = i0; i < i1; i++) {
        float s = sigma[i] * td[2u * i + 1u];
        float wi = T * nerf_alpha(s);
        A += wi;
        fg += wi * vec3(c[3u * i], c[3u * i + 1u], c[3u * i + 2u]);
        T *= exp(-s);
    }
    float TN = T;
    float dA = (pc.has_dopacity != 0u ? dopa[r] : 0.0) + pc.lambda_opacity;
    if (pc.lambda_entropy != 0.0 && A > 1e-5 && A < 1.0 - 1e-5)
        dA += pc.lambda_entropy * log((1.0 - A) / A);
    T = 1.0;
    vec3 pre = vec3(0.0);
    for (uint i = i0; i < i1; i++) {
        float s = sigma[i] * td[2u * i + 1u];
        float wi = T * nerf_alpha(s);
        float Tn = T * exp(-s);
        vec3 ci = vec3(c[3u * i], c[3u * i + 1u], c[3u * i + 2u]);
        pre += wi * ci;
        vec3 t3 = Tn * ci - (fg - pre);
        float ds = dA * TN + g.x * t3.x + g.y * t3.y + g.z * t3.z;
        dc[3u * i] += wi * g.x;
        dc[3u * i + 1u] += wi * g.y;
        dc[3u * i + 2u] += wi * g.z;
        dsigma[i] += td[2u * i + 1u] * ds;
        T = Tn;
    }
}
