#version 450
// op_adam_step: one Adam / AdamW update of n parameters in place (formulas in
// src/ops/adam_cpu.c, which performs the same float operations in the same order).
// Grid-stride, one parameter per invocation per step: four coalesced streams read, three
// written; purely bandwidth-bound. The bias corrections bc1, bc2 arrive precomputed.

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) buffer P { float p[]; };          // (n)
layout(set = 0, binding = 1, std430) buffer M { float m[]; };          // (n)
layout(set = 0, binding = 2, std430) buffer V { float v[]; };          // (n)
layout(set = 0, binding = 3, std430) readonly buffer G { float g[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    float lr;
    float beta1;
    float beta2;
    float eps;
    float wd;
    uint adamw; // 1: decoupled decay; 0: L2 term added to the gradient
    float bc1;  // 1 - beta1^step
    float bc2;  // 1 - beta2^step
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
        float pi = p[i];
        float gi = g[i];
        if (pc.adamw != 0u) pi -= pc.lr * pc.wd * pi;
        else gi += pc.wd * pi;
        float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * gi;
        float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - pc.lr * (mi / pc.bc1) / (sqrt(vi / pc.bc2) + pc.eps);
    }
}
