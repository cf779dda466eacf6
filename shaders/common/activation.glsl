// Activation functions and derivatives: the GLSL twin of src/ops/activation.h (same
// formulas and coefficients; the numerics are explained there). Codes follow vkd_act_t:
// 0 SiLU, 1 sigmoid, 2 exp, 3 softplus, 4 GELU (erf), 5 GELU (tanh), 6 quick GELU, 7 ReLU.
// GLSL has no erf: act_erf_small / act_erfcx_large are fitted polynomials (max |erf
// error| 6.2e-8 with exact exp; the GPU's exp adds its own relative error, Vulkan allows
// 3 + 2|x| ulp).
#ifndef VKD_ACTIVATION_GLSL
#define VKD_ACTIVATION_GLSL

float act_erf_small(float z) {
    float s = z * z;
    float p = 7.875874871e-05;
    p = p * s + -8.016864303e-04;
    p = p * s + 5.189087242e-03;
    p = p * s + -2.685421146e-02;
    p = p * s + 1.128359437e-01;
    p = p * s + -3.761262596e-01;
    p = p * s + 1.283791661e-01;
    return z + z * p;
}

// exp(-c a^2) with a split into a 12-bit head (exact square) and a small rest.
float act_exp_neg_sq(float a, float c) {
    a = min(abs(a), 20.0);
    float ah = uintBitsToFloat(floatBitsToUint(a) & 0xFFFFF000u);
    float lo = (a - ah) * (a + ah);
    return exp(-c * (ah * ah)) * exp(-c * lo);
}

// erfc(z) exp(z^2) for z >= 1.
float act_erfcx_large(float z) {
    float t = 1.0 / (1.0 + 0.5 * z);
    float u = t - 4.159779549e-01;
    float r = -6.955518574e-02;
    r = r * u + -4.246911034e-02;
    r = r * u + 1.023685187e-01;
    r = r * u + 5.132729560e-02;
    r = r * u + -1.428909153e-01;
    r = r * u + -1.194470748e-01;
    r = r * u + 1.952256709e-01;
    r = r * u + 5.155947804e-01;
    r = r * u + 5.967008471e-01;
    r = r * u + 4.569061100e-01;
    return t * r;
}

float act_erf(float x) {
    float a = abs(x);
    if (a < 1.0) return act_erf_small(x);
    float r = 1.0 - act_exp_neg_sq(a, 1.0) * act_erfcx_large(a);
    return x > 0.0 ? r : -r;
}

// Standard normal CDF.
float act_ncdf(float x) {
    float a = abs(x);
    float z = a * 0.70710678;
    if (z < 1.0) return 0.5 + 0.5 * act_erf_small(x * 0.70710678);
    float tail = 0.5 * act_exp_neg_sq(a, 0.5) * act_erfcx_large(z);
    return x > 0.0 ? 1.0 - tail : tail;
}

// (sigmoid(x), sigmoid(-x)), both to full relative precision.
vec2 act_sigmoid2(float x) {
    float e = exp(-abs(x));
    float r = 1.0 / (1.0 + e);
    float small = e * r;
    return x >= 0.0 ? vec2(r, small) : vec2(small, r);
}

// log(1 + u), u in [0, 1], by the atanh series (no log: GPU log is poor near 1).
float act_log1p_unit(float u) {
    float s = u / (2.0 + u);
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

const float ACT_GELU_TANH_K = 0.7978845608;
const float ACT_GELU_TANH_C = 0.044715;
const float ACT_QUICK_GELU_K = 1.702;
const float ACT_INV_SQRT_2PI = 0.3989422804;

float act_fwd(uint act, float x) {
    switch (act) {
    case 0u: return x * act_sigmoid2(x).x;
    case 1u: return act_sigmoid2(x).x;
    case 2u: return exp(x);
    case 3u: return x > 20.0 ? x : max(x, 0.0) + act_log1p_unit(exp(-abs(x)));
    case 4u: return x * act_ncdf(x);
    case 5u: {
        float u = ACT_GELU_TANH_K * (x + ACT_GELU_TANH_C * x * x * x);
        return x * act_sigmoid2(2.0 * u).x;
    }
    case 6u: return x * act_sigmoid2(ACT_QUICK_GELU_K * x).x;
    default: return x > 0.0 ? x : 0.0;
    }
}

float act_bwd(uint act, float x) {
    vec2 s;
    switch (act) {
    case 0u: s = act_sigmoid2(x); return s.x * (1.0 + x * s.y);
    case 1u: s = act_sigmoid2(x); return s.x * s.y;
    case 2u: return exp(x);
    case 3u: return x > 20.0 ? 1.0 : act_sigmoid2(x).x;
    case 4u: return act_ncdf(x) + x * ACT_INV_SQRT_2PI * act_exp_neg_sq(x, 0.5);
    case 5u: {
        float x2 = x * x;
        float u = ACT_GELU_TANH_K * (x + ACT_GELU_TANH_C * x2 * x);
        float du = ACT_GELU_TANH_K * (1.0 + 3.0 * ACT_GELU_TANH_C * x2);
        s = act_sigmoid2(2.0 * u);
        return s.x + 2.0 * (s.x * s.y * x) * du;
    }
    case 6u:
        s = act_sigmoid2(ACT_QUICK_GELU_K * x);
        return s.x + ACT_QUICK_GELU_K * x * s.x * s.y;
    default: return x > 0.0 ? 1.0 : 0.0;
    }
}

#endif
