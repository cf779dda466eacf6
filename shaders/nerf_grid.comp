#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_grid_points (mode 0): probe point of each cell [cell0, cell0 + N), jittered by
// Philox; nerf_grid_update (mode 1): grid = max(decay grid, sigma), 0 outside the
// bounding sphere. One invocation per cell, grid-stride; one shader for both (uniform
// mode branch).
#include "philox.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer A0 { float a0[]; };          // points: x (N, 3); update: grid (G^3)
layout(set = 0, binding = 1, std430) readonly buffer Sig { float sigma[]; }; // update: (N); points: dummy

layout(push_constant) uniform PC {
    uint mode;
    uint G;
    float bound;
    uint jitter;
    uint seed_lo, seed_hi;
    uint stream_lo, stream_hi;
    uint cell0;
    uint N;
    float decay;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    float cs = 2.0 * pc.bound / float(pc.G);
    for (uint i = gl_GlobalInvocationID.x; i < pc.N; i += stride) {
        uint id = pc.cell0 + i;
        uvec3 ci = uvec3(id / (pc.G * pc.G), (id / pc.G) % pc.G, id % pc.G);
        if (pc.mode == 0u) {
            for (uint a = 0u; a < 3u; a++) {
                float u = 0.0;
                if (pc.jitter != 0u) {
                    uint e = 3u * id + a;
                    uvec4 wds = philox4x32_10(uvec4(e >> 2, 0u, pc.stream_lo, pc.stream_hi),
                                              uvec2(pc.seed_lo, pc.seed_hi));
                    u = philox_uniform(wds[e & 3u]) - 0.5;
                }
                precise float v = -pc.bound + (float(ci[a]) + 0.5 + u) * cs;
                a0[3u * i + a] = v;
            }
        } else {
            precise vec3 c = -pc.bound + (vec3(ci) + 0.5) * cs;
            float r2 = c.x * c.x + c.y * c.y + c.z * c.z;
            float old = pc.decay * a0[id];
            float v = sigma[i] > old ? sigma[i] : old;
            a0[id] = sqrt(r2) - 0.8660254 * cs > pc.bound ? 0.0 : v;
        }
    }
}
