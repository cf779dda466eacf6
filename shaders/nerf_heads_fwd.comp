#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_heads_forward: sigma (P) = act(raw[p,0] + lambda exp(-|x|^2 / (2 s^2))) with act exp
// (argument clamped at 15) or softplus; rho (P, 3) = sigmoid(raw[p,1..3]) when present.
// One invocation per point, grid-stride.
#include "activation.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer Sigma { float sigma[]; }; // (P)
layout(set = 0, binding = 1, std430) writeonly buffer Rho { float rho[]; };     // (P, 3) or dummy
layout(set = 0, binding = 2, std430) readonly buffer Raw { float raw[]; };      // (P, 4)
layout(set = 0, binding = 3, std430) readonly buffer X { float x[]; };          // (P, 3)

layout(push_constant) uniform PC {
    uint P;
    uint act;   // 2 exp, 3 softplus (vkd_act_t)
    uint has_rho;
    uint pre_only; // 1: sigma = the pre-activation (what the normals difference)
    float blob_lambda;
    float blob_sigma;
    float exp_max;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint p = gl_GlobalInvocationID.x; p < pc.P; p += stride) {
        vec3 xp = vec3(x[3u * p], x[3u * p + 1u], x[3u * p + 2u]);
        float r2 = xp.x * xp.x + xp.y * xp.y + xp.z * xp.z;
        float pre = raw[4u * p] +
                    pc.blob_lambda * exp(-r2 / (2.0 * pc.blob_sigma * pc.blob_sigma));
        float act = pc.act == 2u ? exp(min(pre, pc.exp_max)) : act_fwd(3u, pre);
        sigma[p] = pc.pre_only != 0u ? pre : act;
        if (pc.has_rho != 0u)
            for (uint k = 0u; k < 3u; k++) rho[3u * p + k] = act_sigmoid2(raw[4u * p + 1u + k]).x;
    }
}
