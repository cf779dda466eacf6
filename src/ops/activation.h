// Scalar activation functions and their derivatives in float32, for the CPU bodies of
// the unary ops and for fused CPU code elsewhere. shaders/common/activation.glsl is the
// GLSL twin (same formulas, same coefficients): keep the two in step.
//
// Written for the vectoriser: no library calls (vkd_expf below replaces expf, and
// ternaries replace fminf/fmaxf, which GCC keeps as calls) and no branches in the math
// (both sides of a choice are computed and one is selected), so a loop over
// vkd_act_fwd(K, x[i]) becomes SIMD code. GCC only if-converts these selects when FP
// operations may not trap: a file with such loops compiles with -fno-trapping-math
// (elementwise_cpu.c sets it by pragma); elsewhere the code is correct, just scalar.
//
// Numerics (all in float, stable over the whole float range):
// - sigmoid from e = exp(-|x|): 1/(1+e) or e/(1+e), never exp of a large positive value;
//   the complement 1 - sigmoid(x) = sigmoid(-x) comes from the same e, so derivatives
//   such as s (1 - s) keep full relative precision in both tails.
// - softplus(x) = max(x, 0) + log1p(exp(-|x|)) (x for x > 20, as ops.h documents);
//   log1p by the atanh series, polynomial only (GPU log is inaccurate near 1).
// - exact GELU needs erf, which GLSL lacks; vkd_erff below is a float erf with max
//   |error| 6.7e-8 on [-11, 11] (tests/test_op_elementwise.c, erf_accuracy: 1e6 points
//   against C's double erf; relative error of erfc <= 3.7e-7, of Phi <= 4.8e-7).
// - vkd_expf: max relative error 1.0e-7 (1.7 x 2^-24) on [-87, 88.7], same test.
#ifndef VKD_ACTIVATION_H
#define VKD_ACTIVATION_H

#include <math.h>
#include <stdint.h>
#include <string.h>

// ---- exp ------------------------------------------------------------------------------------
// exp(x) = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 in [-0.35, 0.35] (Cody-Waite: ln 2
// split so that n * LN2_HI is exact), e^r by its Taylor series to r^7 (truncation 6e-9
// relative). 2^n is applied as two normal powers of two, so results down into the
// denormal range round once and 88.4 < x < 88.7 does not overflow early. NaN propagates.
static inline float vkd_pow2i(int32_t n) { // 2^n for n in [-126, 127]
    const uint32_t bits = (uint32_t)(n + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float vkd_expf(float x) {
    float xc = x > -104.0f ? x : -104.0f; // beyond: 0 and inf anyway; NaN -> -104
    xc = xc < 89.0f ? xc : 89.0f;
    // Round to nearest by adding and removing 1.5 * 2^23 (no rounding instruction needed).
    const float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;
    const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t ni = (int32_t)n, n1 = ni / 2;
    const float e = (p * vkd_pow2i(n1)) * vkd_pow2i(ni - n1);
    return x != x ? x : e;
}

// ---- erf / erfc / normal CDF ------------------------------------------------------------
// |z| < 1: erf(z) = z + z * P(z^2), P fitted to erf(z)/z - 1 on z^2 in [0, 1] (degree 6,
// Chebyshev fit, fit error 1.2e-9). Writing z + z*P instead of z*(2/sqrt(pi) + ...) keeps
// the rounding of the leading coefficient out of the result.
static inline float vkd_erf_small(float z) {
    const float s = z * z;
    float p = 7.875874871e-05f;
    p = p * s + -8.016864303e-04f;
    p = p * s + 5.189087242e-03f;
    p = p * s + -2.685421146e-02f;
    p = p * s + 1.128359437e-01f;
    p = p * s + -3.761262596e-01f;
    p = p * s + 1.283791661e-01f;
    return z + z * p;
}

// exp(-c a^2) for c in {1, 1/2}, without the error of rounding a^2: a = ah + (a - ah)
// with ah holding the top 12 significand bits, so ah^2 is exact and the rest is small.
// (Rounded a^2 would cost up to 2.4e-6 relative error at a = 9.) a is clamped at 20,
// where the result has underflowed anyway; that also maps inf to 0 instead of NaN.
static inline float vkd_exp_neg_sq(float a, float c) {
    a = fabsf(a);
    a = a < 20.0f ? a : 20.0f; // NaN -> 20
    uint32_t bits;
    memcpy(&bits, &a, sizeof bits);
    bits &= 0xFFFFF000u;
    float ah;
    memcpy(&ah, &bits, sizeof ah);
    const float lo = (a - ah) * (a + ah);
    return vkd_expf(-c * (ah * ah)) * vkd_expf(-c * lo);
}

// erfc(z) exp(z^2) for z >= 1, as t R(t) with t = 1 / (1 + z/2): R is smooth and of one
// sign on t in [0.165, 0.667] (z in [1, 10.1]; beyond 10.1 erfc underflows float), fitted
// in u = t - 0.41598 (degree 9, Chebyshev fit, fit error 1.3e-10). Relative error of the
// float evaluation ~2e-7.
static inline float vkd_erfcx_large(float z) {
    const float t = 1.0f / (1.0f + 0.5f * z);
    const float u = t - 4.159779549e-01f;
    float r = -6.955518574e-02f;
    r = r * u + -4.246911034e-02f;
    r = r * u + 1.023685187e-01f;
    r = r * u + 5.132729560e-02f;
    r = r * u + -1.428909153e-01f;
    r = r * u + -1.194470748e-01f;
    r = r * u + 1.952256709e-01f;
    r = r * u + 5.155947804e-01f;
    r = r * u + 5.967008471e-01f;
    r = r * u + 4.569061100e-01f;
    return t * r;
}

// The branches below are selects: both sides are computed (each is finite on the other's
// domain, or its lane is discarded).
static inline float vkd_erff(float x) {
    const float a = fabsf(x);
    const float r = 1.0f - vkd_exp_neg_sq(a, 1.0f) * vkd_erfcx_large(a);
    const float large = x > 0.0f ? r : -r;
    return a < 1.0f ? vkd_erf_small(x) : large;
}

static inline float vkd_erfcf(float x) {
    const float a = fabsf(x);
    const float c = vkd_exp_neg_sq(a, 1.0f) * vkd_erfcx_large(a);
    const float large = x > 0.0f ? c : 2.0f - c;
    return a < 1.0f ? 1.0f - vkd_erf_small(x) : large;
}

// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2. The tail uses exp(-x^2/2) of the
// unscaled x, so its relative accuracy does not suffer from rounding x / sqrt 2.
static inline float vkd_ncdff(float x) {
    const float a = fabsf(x);
    const float z = a * 0.70710678f;
    const float tail = 0.5f * vkd_exp_neg_sq(a, 0.5f) * vkd_erfcx_large(z);
    const float large = x > 0.0f ? 1.0f - tail : tail;
    return z < 1.0f ? 0.5f + 0.5f * vkd_erf_small(x * 0.70710678f) : large;
}

// ---- sigmoid family -------------------------------------------------------------------------
// s = sigmoid(x), *sm = 1 - s = sigmoid(-x), both to full relative precision.
static inline float vkd_sigmoid2f(float x, float *sm) {
    const float e = vkd_expf(-fabsf(x));
    const float r = 1.0f / (1.0f + e);
    const float small = e * r;
    *sm = x >= 0.0f ? small : r;
    return x >= 0.0f ? r : small;
}

static inline float vkd_sigmoidf(float x) {
    float sm;
    return vkd_sigmoid2f(x, &sm);
}

// log(1 + u) for u in [0, 1]: 2 atanh(s), s = u / (2 + u) <= 1/3, series to s^17
// (truncation error < 2e-10 relative).
static inline float vkd_log1p_unit(float u) {
    const float s = u / (2.0f + u);
    const float s2 = s * s;
    float p = 1.0f / 17.0f;
    p = p * s2 + 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    return 2.0f * s + 2.0f * s * s2 * p;
}

static inline float vkd_softplusf(float x) {
    const float sp = (x > 0.0f ? x : 0.0f) + vkd_log1p_unit(vkd_expf(-fabsf(x)));
    return x > 20.0f ? x : sp;
}

#define VKD_GELU_TANH_K 0.7978845608f // sqrt(2 / pi)
#define VKD_GELU_TANH_C 0.044715f
#define VKD_QUICK_GELU_K 1.702f
#define VKD_INV_SQRT_2PI 0.3989422804f

// ---- forward / derivative of each vkd_act_t -------------------------------------------------
// GELU (tanh) uses 0.5 (1 + tanh(u)) = sigmoid(2u): stable in both tails, unlike tanh.
static inline float vkd_act_fwd(int act, float x) {
    switch (act) {
    case 0: return x * vkd_sigmoidf(x);               // SiLU
    case 1: return vkd_sigmoidf(x);                   // sigmoid
    case 2: return vkd_expf(x);                       // exp
    case 3: return vkd_softplusf(x);                  // softplus
    case 4: return x * vkd_ncdff(x);                  // GELU (erf)
    case 5: {                                         // GELU (tanh)
        const float u = VKD_GELU_TANH_K * (x + VKD_GELU_TANH_C * x * x * x);
        return x * vkd_sigmoidf(2.0f * u);
    }
    case 6: return x * vkd_sigmoidf(VKD_QUICK_GELU_K * x); // quick GELU
    default: return x > 0.0f ? x : 0.0f;              // ReLU
    }
}

// f'(x).
static inline float vkd_act_bwd(int act, float x) {
    float s, sm;
    switch (act) {
    case 0: s = vkd_sigmoid2f(x, &sm); return s * (1.0f + x * sm);
    case 1: s = vkd_sigmoid2f(x, &sm); return s * sm;
    case 2: return vkd_expf(x);
    case 3: s = vkd_sigmoidf(x); return x > 20.0f ? 1.0f : s;
    case 4: return vkd_ncdff(x) + x * VKD_INV_SQRT_2PI * vkd_exp_neg_sq(x, 0.5f);
    case 5: {
        const float x2 = x * x;
        const float u = VKD_GELU_TANH_K * (x + VKD_GELU_TANH_C * x2 * x);
        const float du = VKD_GELU_TANH_K * (1.0f + 3.0f * VKD_GELU_TANH_C * x2);
        s = vkd_sigmoid2f(2.0f * u, &sm);
        return s + 2.0f * (s * sm * x) * du; // s*sm first: 0, not inf*0, in the tails
    }
    case 6:
        s = vkd_sigmoid2f(VKD_QUICK_GELU_K * x, &sm);
        return s + VKD_QUICK_GELU_K * x * s * sm;
    default: return x > 0.0f ? 1.0f : 0.0f;
    }
}

#endif
