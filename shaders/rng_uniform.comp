#version 450
#extension GL_GOOGLE_include_directive : require
// op_rng_uniform: out[i] for i < n from Philox-4x32-10 (src/philox.h has the mapping):
// u in (0, 1): (k + 0.5) / 2^23, k = word >> 9 (exact in float:
// the same bits as the CPU)
// One invocation per 128-bit block (grid-stride over blocks), so each block is computed
// once and its four words go to four consecutive outputs; the first and last block of a
// draw may be partial (offset % 4 != 0). Pure ALU (10 rounds of 32x32->64 multiplies)
// plus one coalesced store stream. 64-bit block numbers are (low, high) uint pairs.

#include "philox.glsl"

layout(local_size_x = 256) in;

layout(set = 0, binding = 0, std430) writeonly buffer Out { float dst[]; }; // (n)

layout(push_constant) uniform PC {
    uint n;
    uint nblocks;    // blocks touched by the draw
    uint first_word; // offset % 4: words of block 0 before element 0
    uint block0_lo;  // offset / 4
    uint block0_hi;
    uint seed_lo;
    uint seed_hi;
    uint stream_lo;
    uint stream_hi;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uvec2 key = uvec2(pc.seed_lo, pc.seed_hi);
    for (uint k = gl_GlobalInvocationID.x; k < pc.nblocks; k += stride) {
        uvec2 blk = philox_add64(uvec2(pc.block0_lo, pc.block0_hi), k);
        uvec4 w = philox4x32_10(uvec4(blk, pc.stream_lo, pc.stream_hi), key);
        float v[4] = float[4](philox_uniform(w.x), philox_uniform(w.y), philox_uniform(w.z),
                              philox_uniform(w.w));
        for (uint t = 0u; t < 4u; t++) {
            uint idx = 4u * k + t; // element idx - first_word of the draw
            if (idx >= pc.first_word && idx - pc.first_word < pc.n) dst[idx - pc.first_word] = v[t];
        }
    }
}
