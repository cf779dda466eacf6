// The CPU activation kernels as dispatched (src/ops/elementwise_cpu.c builds them for
// AVX-512, AVX2 and baseline x86-64 and picks one at load time): a dense sweep of every
// activation's forward and derivative through op_unary_forward/backward against double
// libm references (max relative and absolute errors printed), and bit-for-bit agreement
// with the scalar formulas of activation.h compiled here for the baseline ISA, at lengths
// that hit the vector tails, the chunk boundaries and the threaded path.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "test_util.h"

// Which clone the loader picks on this machine (the same test GCC's resolver makes).
static const char *dispatched_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA)";
#endif
    return "baseline";
}

static double sig_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double ncdf_d(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
#define TANH_K 0.79788456080286535588 // sqrt(2 / pi)

static double ref_fwd(int act, double x) {
    switch (act) {
    case VKD_ACT_SILU: return x * sig_d(x);
    case VKD_ACT_SIGMOID: return sig_d(x);
    case VKD_ACT_EXP: return exp(x);
    case VKD_ACT_SOFTPLUS: return x > 20 ? x : (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    case VKD_ACT_GELU: return x * ncdf_d(x);
    case VKD_ACT_GELU_TANH: return x * sig_d(2.0 * TANH_K * (x + 0.044715 * x * x * x));
    case VKD_ACT_QUICK_GELU: return x * sig_d(1.702 * x);
    default: return x > 0 ? x : 0.0;
    }
}

static double ref_der(int act, double x) {
    switch (act) {
    case VKD_ACT_SILU: return sig_d(x) * (1.0 + x * sig_d(-x));
    case VKD_ACT_SIGMOID: return sig_d(x) * sig_d(-x);
    case VKD_ACT_EXP: return exp(x);
    case VKD_ACT_SOFTPLUS: return x > 20 ? 1.0 : sig_d(x);
    case VKD_ACT_GELU: return ncdf_d(x) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case VKD_ACT_GELU_TANH: {
        const double u = TANH_K * (x + 0.044715 * x * x * x);
        const double s = sig_d(2.0 * u), sm = sig_d(-2.0 * u);
        return s + 2.0 * s * sm * x * TANH_K * (1.0 + 3 * 0.044715 * x * x);
    }
    case VKD_ACT_QUICK_GELU: return sig_d(1.702 * x) + 1.702 * x * sig_d(1.702 * x) * sig_d(-1.702 * x);
    default: return x > 0 ? 1.0 : 0.0;
    }
}

// Relative error the float evaluation inherits from rounding the argument of exp (c x, or
// 2u after ~5 float operations): |argument| ulps of relative error in the result.
static double exp_arg_rtol(int act, double x) {
    if (act == VKD_ACT_GELU_TANH) return 2.5 * fabs(2.0 * TANH_K * (x + 0.044715 * x * x * x)) * 1.2e-7;
    if (act == VKD_ACT_QUICK_GELU) return fabs(1.702 * x) * 1.2e-7;
    if (act == VKD_ACT_EXP) return fabs(x) * 1.2e-7; // x itself is rounded from the grid
    return 0.0;
}

static const char *act_name[VKD_ACT_COUNT] = {"silu", "sigmoid", "exp", "softplus",
                                              "gelu", "gelu_tanh", "quick_gelu", "relu"};

#define N_SWEEP (1 << 20)

// Every activation over [-16, 16] (exp over [-87, 88.7]) in 2^20 steps.
static void sweep_vs_libm(tctx_t *T) {
    printf("  dispatched kernel: %s\n", dispatched_isa());
    const size_t n = N_SWEEP;
    vkd_buf_t in = test_buf(T, T->cpu_arena, NULL, n), out = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, n), dy = test_buf(T, T->cpu_arena, NULL, n);
    if (!vkd_buf_present(dy)) return;
    for (int a = 0; a < VKD_ACT_COUNT; a++) {
        const double lo = a == VKD_ACT_EXP ? -87.0 : -16.0, hi = a == VKD_ACT_EXP ? 88.7 : 16.0;
        for (size_t i = 0; i < n; i++) {
            in.host[i] = (float)(lo + (hi - lo) * (double)i / (double)(n - 1));
            dy.host[i] = 1.0f;
        }
        CHECK_OK(T, op_unary_forward(T->cpu, out, in, n, (vkd_act_t)a));
        CHECK_OK(T, op_fill(T->cpu, dx, 0.0f, n));
        CHECK_OK(T, op_unary_backward(T->cpu, dx, dy, in, n, (vkd_act_t)a));
        double rel_f = 0, abs_f = 0, rel_d = 0, abs_d = 0, q_f = 0, q_d = 0;
        float at_f = 0, at_d = 0;
        for (size_t i = 0; i < n; i++) {
            const double x = in.host[i], rf = ref_fwd(a, x), rd = ref_der(a, x);
            const double ef = fabs((double)out.host[i] - rf), ed = fabs((double)dx.host[i] - rd);
            abs_f = fmax(abs_f, ef), abs_d = fmax(abs_d, ed);
            if (fabs(rf) > 1e-30) rel_f = fmax(rel_f, ef / fabs(rf));
            if (fabs(rd) > 1e-30) rel_d = fmax(rel_d, ed / fabs(rd));
            // Bounds: forward a few ulp relative (plus the exp-argument term), tails included;
            // derivative 1e-5 relative or 1e-6 absolute (derivatives cross zero).
            const double qf = isfinite(out.host[i]) ? ef / (1e-37 + (2e-6 + exp_arg_rtol(a, x)) * fabs(rf))
                                                    : INFINITY;
            const double qd = isfinite(dx.host[i]) ? ed / (1e-6 + 1e-5 * fabs(rd)) : INFINITY;
            if (!(qf <= q_f)) q_f = qf, at_f = (float)x;
            if (!(qd <= q_d)) q_d = qd, at_d = (float)x;
        }
        printf("  %-10s fwd: max rel %.3g, max abs %.3g; derivative: max rel %.3g, max abs %.3g\n",
               act_name[a], rel_f, abs_f, rel_d, abs_d);
        CHECK(T, q_f <= 1.0, "%s forward: error %.3g x its bound at x = %.9g", act_name[a], q_f,
              (double)at_f);
        CHECK(T, q_d <= 1.0, "%s derivative: error %.3g x its bound at x = %.9g", act_name[a], q_d,
              (double)at_d);
    }
}

// The kernels must compute exactly what the scalar formulas do (no FP contraction, same
// operations): any difference means a clone or the chunking changed the arithmetic.
static void bitwise_vs_scalar(tctx_t *T) {
    const size_t lens[] = {1, 15, 17, 4096 + 7, 3 * 4096, (1 << 16) + 1, (1 << 18) + 33};
    const size_t nmax = (1 << 18) + 33;
    float *x = test_alloc(nmax), *dyv = test_alloc(nmax), *acc = test_alloc(nmax);
    uint64_t st = T->seed;
    test_fill_normal(&st, x, nmax, 4.0f);
    test_fill_normal(&st, dyv, nmax, 1.0f);
    test_fill_normal(&st, acc, nmax, 1.0f);
    x[0] = 0.0f, x[1] = -90.0f, x[2] = 90.0f, x[3] = 1e-30f, x[4] = -25.0f, x[5] = 25.0f;
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, nmax), out = test_buf(T, T->cpu_arena, NULL, nmax);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, nmax), dy = test_buf(T, T->cpu_arena, dyv, nmax);
    if (!vkd_buf_present(dy)) goto done;
    for (int a = 0; a < VKD_ACT_COUNT; a++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const size_t n = lens[l];
            memcpy(dx.host, acc, n * sizeof(float));
            CHECK_OK(T, op_unary_forward(T->cpu, out, in, n, (vkd_act_t)a));
            CHECK_OK(T, op_unary_backward(T->cpu, dx, dy, in, n, (vkd_act_t)a));
            size_t bad_f = n, bad_d = n;
            for (size_t i = 0; i < n; i++) {
                const float f = vkd_act_fwd(a, x[i]), d = acc[i] + dyv[i] * vkd_act_bwd(a, x[i]);
                if (bad_f == n && memcmp(&f, &out.host[i], sizeof f)) bad_f = i;
                if (bad_d == n && memcmp(&d, &dx.host[i], sizeof d)) bad_d = i;
            }
            CHECK(T, bad_f == n, "%s forward, n = %zu: element %zu is %.9g, scalar %.9g",
                  act_name[a], n, bad_f, bad_f < n ? (double)out.host[bad_f] : 0.0,
                  bad_f < n ? (double)vkd_act_fwd(a, x[bad_f]) : 0.0);
            CHECK(T, bad_d == n, "%s backward, n = %zu: element %zu differs from the scalar",
                  act_name[a], n, bad_d);
        }
    }
    // In place over several chunks and threads.
    const size_t n = (1 << 18) + 33;
    CHECK_OK(T, op_unary_forward(T->cpu, in, in, n, VKD_ACT_SILU));
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++) {
        const float f = vkd_act_fwd(VKD_ACT_SILU, x[i]);
        if (memcmp(&f, &in.host[i], sizeof f)) bad = i;
    }
    CHECK(T, bad == n, "silu in place: element %zu differs from the scalar", bad);
done:
    free(x), free(dyv), free(acc);
}

static const tcase_t cases[] = {
    TCASE_CPU(sweep_vs_libm),
    TCASE_CPU(bitwise_vs_scalar),
};
TEST_MAIN(cases)
