#version 450
#extension GL_GOOGLE_include_directive : require
// nerf_samples_count (mode 0) and nerf_samples_write (mode 1): stratified samples of each
// ray inside the bounding sphere, kept where the occupancy grid says the cell is occupied.
// One invocation per ray (rays are independent, and a ray's S samples are a short loop):
// the count pass writes counts[r]; the write pass, given the prefix sums offs (R + 1),
// writes ray r's kept samples at offs[r] + j. Both passes run the same code on the same
// device, so they keep the same samples; positions are `precise` (no FMA contraction) so
// that they also match the CPU body bit for bit on IEEE hardware.
// Loop budget (lavapipe): S + 1 passes per invocation, S <= 4096.
#include "nerf.glsl"
#include "philox.glsl"

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer Counts { uint counts[]; };         // (R) or dummy
layout(set = 0, binding = 1, std430) writeonly buffer XO { float xo[]; };      // (P, 3) or dummy
layout(set = 0, binding = 2, std430) writeonly buffer VO { float vo[]; };      // (P) or dummy
layout(set = 0, binding = 3, std430) writeonly buffer TD { float tdo[]; };     // (P, 2) or dummy
layout(set = 0, binding = 4, std430) readonly buffer Rays { float rays[]; };   // (R, 8)
layout(set = 0, binding = 5, std430) readonly buffer Offs { uint offs[]; };    // (R + 1) or dummy
layout(set = 0, binding = 6, std430) readonly buffer Grid { float grid[]; };   // (G^3) or dummy

layout(push_constant) uniform PC {
    uint R;
    uint S;
    uint mode;     // 0 count, 1 write
    uint jitter;
    float bound;
    uint G;        // 0: no grid
    float grid_thresh;
    uint seed_lo, seed_hi;
    uint stream_lo, stream_hi;
    uint P;
} pc;

void main() {
    uint r = gl_GlobalInvocationID.x;
    if (r >= pc.R) return;
    uint rb = r * NERF_RAY_STRIDE;
    vec3 o = vec3(rays[rb], rays[rb + 1u], rays[rb + 2u]);
    vec3 d = vec3(rays[rb + 3u], rays[rb + 4u], rays[rb + 5u]);
    float rd = rays[rb + 6u];
    uint base = 0u, cap = 0u;
    if (pc.mode == 1u) {
        base = offs[r];
        uint end = offs[r + 1u];
        if (end < base || end > pc.P) return; // bad offsets: write nothing out of bounds
        cap = end - base;
    }
    float t0, t1;
    uint j = 0u;
    if (nerf_ray_sphere(o, d, pc.bound, t0, t1)) {
        precise float delta = (t1 - t0) / float(pc.S);
        precise float hd = 0.5 * delta;
        uvec4 words = uvec4(0u);
        for (uint i = 0u; i < pc.S; i++) {
            float u = 0.5;
            if (pc.jitter != 0u) {
                uint e = r * pc.S + i;
                if (i == 0u || (e & 3u) == 0u)
                    words = philox4x32_10(uvec4(e >> 2, 0u, pc.stream_lo, pc.stream_hi),
                                          uvec2(pc.seed_lo, pc.seed_hi));
                u = philox_uniform(words[e & 3u]);
            }
            precise float t = t0 + (float(i) + u) * delta;
            precise vec3 x = vec3(o.x + t * d.x, o.y + t * d.y, o.z + t * d.z);
            if (pc.G != 0u && !(grid[nerf_grid_cell(x, pc.bound, pc.G)] > pc.grid_thresh))
                continue;
            if (pc.mode == 1u && j < cap) {
                uint q = base + j;
                precise float st2 = hd * hd / 3.0;
                precise float sr2 = rd * rd * (t * t / 4.0 + 5.0 * hd * hd / 12.0);
                xo[3u * q] = x.x;
                xo[3u * q + 1u] = x.y;
                xo[3u * q + 2u] = x.z;
                vo[q] = (st2 + 2.0 * sr2) / 3.0;
                tdo[2u * q] = t;
                tdo[2u * q + 1u] = delta;
            }
            j++;
        }
    }
    if (pc.mode == 0u) counts[r] = j;
}
