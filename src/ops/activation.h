// Scalar activation functions and their derivatives in float32, for the CPU bodies of
// the unary ops and for fused CPU code elsewhere. shaders/common/activation.glsl is the
// GLSL twin (same formulas, same coefficients): keep the two in step.
//
// Numerics (all in float, stable over the whole float range):
// - sigmoid from e = exp(-|x|): 1/(1+e) or e/(1+e), never exp of a large positive value;
//   the complement 1 - sigmoid(x) = sigmoid(-x) comes from the same e, so derivatives
//   such as s (1 - s) keep full relative precision in both tails.
// - softplus(x) = max(x, 0) + log1p(exp(-|x|)) (x for x > 20, as ops.h documents);
//   log1p by the atanh series, polynomial only (GPU log is inaccurate near 1).
// - exact GELU needs erf, which GLSL lacks; vkd_erff below is a float erf with measured
//   max |error| 6.2e-8 on [-11, 11] (1e5 points, float32 evaluation simulated in Python
//   against double erf); tests/test_op_elementwise.c checks it against C's erf.
#ifndef VKD_ACTIVATION_H
#define VKD_ACTIVATION_H

#include <math.h>
#include <stdint.h>
#include <string.h>

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
    a = fminf(fabsf(a), 20.0f);
    uint32_t bits;
    memcpy(&bits, &a, sizeof bits);
    bits &= 0xFFFFF000u;
    float ah;
    memcpy(&ah, &bits, sizeof ah);
    const float lo = (a - ah) * (a + ah);
    return expf(-c * (ah * ah)) * expf(-c * lo);
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

static inline float vkd_erff(float x) {
    const float a = fabsf(x);
    if (a < 1.0f) return vkd_erf_small(x);
    const float r = 1.0f - vkd_exp_neg_sq(a, 1.0f) * vkd_erfcx_large(a);
    return x > 0.0f ? r : -r;
}

static inline float vkd_erfcf(float x) {
    const float a = fabsf(x);
    if (a < 1.0f) return 1.0f - vkd_erf_small(x);
    const float c = vkd_exp_neg_sq(a, 1.0f) * vkd_erfcx_large(a);
    return x > 0.0f ? c : 2.0f - c;
}

// Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2. The tail uses exp(-x^2/2) of the
// unscaled x, so its relative accuracy does not suffer from rounding x / sqrt 2.
static inline float vkd_ncdff(float x) {
    const float a = fabsf(x);
    const float z = a * 0.70710678f;
    if (z < 1.0f) return 0.5f + 0.5f * vkd_erf_small(x * 0.70710678f);
    const float tail = 0.5f * vkd_exp_neg_sq(a, 0.5f) * vkd_erfcx_large(z);
    return x > 0.0f ? 1.0f - tail : tail;
}

// ---- sigmoid family -------------------------------------------------------------------------
// s = sigmoid(x), *sm = 1 - s = sigmoid(-x), both to full relative precision.
static inline float vkd_sigmoid2f(float x, float *sm) {
    const float e = expf(-fabsf(x));
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
    if (x > 20.0f) return x;
    return fmaxf(x, 0.0f) + vkd_log1p_unit(expf(-fabsf(x)));
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
    case 2: return expf(x);                           // exp
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
    case 2: return expf(x);
    case 3: return x > 20.0f ? 1.0f : vkd_sigmoidf(x);
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
