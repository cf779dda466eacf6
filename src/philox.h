// Philox-4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers:
// As Easy as 1, 2, 3" (SC 2011), and the conversions the RNG ops use.
//
// A counter-based generator is a pure function (counter, key) -> 128 random bits, so any
// element of any stream can be computed independently on any backend: the CPU and Vulkan
// paths produce identical bits. shaders/common/philox.glsl is the GLSL twin of this file;
// keep the two in step (tests/test_rng.c checks they agree bit for bit).
//
// How the ops map element i of a draw to bits (ops.h): key = (seed low, seed high);
// counter = (block low, block high, stream low, stream high) with block = (offset + i) / 4;
// the element takes word (offset + i) % 4 of the block.
#ifndef VKD_PHILOX_H
#define VKD_PHILOX_H

#include <math.h>
#include <stdint.h>

#define VKD_PHILOX_M0 0xD2511F53u // round multipliers
#define VKD_PHILOX_M1 0xCD9E8D57u
#define VKD_PHILOX_W0 0x9E3779B9u // key schedule (Weyl) increments
#define VKD_PHILOX_W1 0xBB67AE85u

// out (4) = Philox-4x32-10(ctr (4), key (2)). out may alias ctr.
static inline void vkd_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                     uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)VKD_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)VKD_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        // The key bump after the last round is unused; keeping the loop uniform is
        // simpler than peeling it.
        k0 += VKD_PHILOX_W0;
        k1 += VKD_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

// The 128-bit block `block` of stream `stream` for seed `seed`.
static inline void vkd_philox_block(uint64_t seed, uint64_t stream, uint64_t block,
                                    uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vkd_philox4x32_10(ctr, key, out);
}

// A uniform float in (0, 1) from 32 random bits: the midpoints (k + 0.5) / 2^23 of 2^23
// equal cells, k = w >> 9. Every step is exact in float32 (k + 0.5 needs 24 significant
// bits, the scale is a power of two), so both backends give the same bits, and the
// extremes 2^-24 and 1 - 2^-24 stay inside the open interval. (With 24 bits,
// (k + 0.5) / 2^24 is not representable for k >= 2^23 and rounds to 1.0 at the top.)
static inline float vkd_philox_uniform(uint32_t w) {
    return ((float)(w >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// Box-Muller: two independent N(0, 1) samples from two words, z0 = r cos(2 pi u2),
// z1 = r sin(2 pi u2) with r = sqrt(-2 ln u1). Computed in double here (the reference);
// the GLSL twin works in float with care where GPU functions are weak (log near 1, large
// sin/cos arguments) and agrees to ~1e-6 absolute.
static inline void vkd_philox_box_muller(uint32_t w0, uint32_t w1, float *z0, float *z1) {
    const double u1 = vkd_philox_uniform(w0), u2 = vkd_philox_uniform(w1);
    const double r = sqrt(-2.0 * log(u1));
    const double theta = 6.283185307179586 * u2;
    *z0 = (float)(r * cos(theta));
    *z1 = (float)(r * sin(theta));
}

#endif
