// Philox-4x32-10 and the RNG conversions: the GLSL twin of src/philox.h (see there for the
// mapping of elements to counters). Keep the two in step; tests/test_rng.c checks that
// uniforms agree bit for bit between the backends.
#ifndef VKD_PHILOX_GLSL
#define VKD_PHILOX_GLSL

// ctr = (block low, block high, stream low, stream high), key = (seed low, seed high).
uvec4 philox4x32_10(uvec4 ctr, uvec2 key) {
    // A loop, not 10 unrolled copies: lavapipe compiles big straight-line shaders slowly,
    // and real GPU compilers unroll a constant-trip loop themselves.
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, ctr.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, ctr.z, hi1, lo1);
        ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
        key += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return ctr;
}

// (k + 0.5) / 2^23 with k = w >> 9: exact in float, strictly inside (0, 1).
float philox_uniform(uint w) {
    return (float(w >> 9) + 0.5) * (1.0 / 8388608.0);
}

// ln(u) for u in (0, 1). GPU log is only specified to an absolute 2^-21 near 1, where
// ln u is tiny (a wrong sign would make sqrt(-2 ln u) NaN): for u >= 1/2 use
// ln(1 + d) = 2 atanh(d / (2 + d)) with d = u - 1 (exact), a series in s^2 <= 1/9
// (truncation < 2e-10 relative).
float philox_log_unit(float u) {
    if (u < 0.5) return log(u);
    float d = u - 1.0;
    float s = d / (2.0 + d);
    float s2 = s * s;
    float p = 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    return 2.0 * s + 2.0 * s * s2 * p;
}

// (cos 2 pi u, sin 2 pi u) with exact range reduction on the turn fraction: 4u = k + f
// (k integer, |f| <= 1/2, both exact in float), then Taylor polynomials on
// x = f pi/2 in [-pi/4, pi/4] (truncation < 2e-9) and a quadrant swap. GPU sin/cos of
// arguments up to 2 pi are far less accurate (lavapipe: ~2e-6 absolute).
vec2 philox_cossin_turns(float u) {
    float q = 4.0 * u;
    float k = floor(q + 0.5);
    float x = (q - k) * 1.57079632679489662;
    float x2 = x * x;
    float s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 +
                   x2 * (1.0 / 362880.0)))));
    float c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 -
                   x2 * (1.0 / 3628800.0)))));
    uint quadrant = uint(k) & 3u; // angle = quadrant * pi/2 + x
    if (quadrant == 0u) return vec2(c, s);
    if (quadrant == 1u) return vec2(-s, c);
    if (quadrant == 2u) return vec2(-c, -s);
    return vec2(s, -c);
}

// Box-Muller on two words: r (cos 2 pi u2, sin 2 pi u2), r = sqrt(-2 ln u1).
vec2 philox_box_muller(uint w0, uint w1) {
    float r = sqrt(max(-2.0 * philox_log_unit(philox_uniform(w0)), 0.0));
    return r * philox_cossin_turns(philox_uniform(w1));
}

// 64-bit a + b as (low, high) words.
uvec2 philox_add64(uvec2 a, uint b) {
    uint carry;
    uint lo = uaddCarry(a.x, b, carry);
    return uvec2(lo, a.y + carry);
}

#endif
