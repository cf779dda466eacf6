// Elementwise ops: the float erf against C's erf; every activation (forward and
// derivative) against double references over [-10, 10] and the extremes; finite
// differences of every backward; broadcast add/mul against naive references; CPU
// against Vulkan for all of them (including the GLSL erf through exact GELU).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/activation.h"
#include "test_util.h"

static double *dmalloc(size_t n) {
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p) abort();
    return p;
}

// Worst |got - ref| / (atol + rtol_i |ref|) must be <= 1 (NaN/inf anywhere fails);
// rtol_i = rtol, or rtols[i] when rtols is given.
static void check_close_v(tctx_t *T, const char *name, const float *got, const double *ref,
                          const float *x, size_t n, double rtol, const double *rtols,
                          double atol) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)got[i] - ref[i], rt = rtols ? rtols[i] : rtol;
        double q = isfinite(got[i]) ? fabs(r) / (atol + rt * fabs(ref[i])) : INFINITY;
        if (!(q <= worst)) worst = q, wi = i;
    }
    printf("  %-40s worst err/tol %.3g (n=%zu)\n", name, worst, n);
    CHECK(T, worst <= 1.0, "%s: x = %.9g: got %.9g, ref %.9g (rtol %g, atol %g)", name,
          x ? (double)x[wi] : (double)wi, (double)got[wi], ref[wi],
          rtols ? rtols[wi] : rtol, atol);
}

static void check_close(tctx_t *T, const char *name, const float *got, const double *ref,
                        const float *x, size_t n, double rtol, double atol) {
    check_close_v(T, name, got, ref, x, n, rtol, NULL, atol);
}

// ---- double references ------------------------------------------------------------------

static double sig_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double ncdf_d(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static double act_ref(int act, double x) {
    const double k = sqrt(2.0 / M_PI);
    switch (act) {
    case VKD_ACT_SILU: return x * sig_d(x);
    case VKD_ACT_SIGMOID: return sig_d(x);
    case VKD_ACT_EXP: return exp(x);
    case VKD_ACT_SOFTPLUS: return x > 20 ? x : (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    case VKD_ACT_GELU: return x * ncdf_d(x);
    // 0.5 (1 + tanh u) = sigmoid(2u): the tanh form cancels to 0 in the negative tail
    case VKD_ACT_GELU_TANH: return x * sig_d(2.0 * k * (x + 0.044715 * x * x * x));
    case VKD_ACT_QUICK_GELU: return x * sig_d(1.702 * x);
    default: return x > 0 ? x : 0.0;
    }
}

static double act_ref_d(int act, double x) {
    const double k = sqrt(2.0 / M_PI);
    double s;
    switch (act) {
    case VKD_ACT_SILU: s = sig_d(x); return s * (1.0 + x * sig_d(-x));
    case VKD_ACT_SIGMOID: return sig_d(x) * sig_d(-x);
    case VKD_ACT_EXP: return exp(x);
    case VKD_ACT_SOFTPLUS: return x > 20 ? 1.0 : sig_d(x);
    case VKD_ACT_GELU: return ncdf_d(x) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case VKD_ACT_GELU_TANH: {
        double u = k * (x + 0.044715 * x * x * x), th = tanh(u);
        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3 * 0.044715 * x * x);
    }
    case VKD_ACT_QUICK_GELU: s = sig_d(1.702 * x); return s + 1.702 * x * s * sig_d(-1.702 * x);
    default: return x > 0 ? 1.0 : 0.0;
    }
}

// |argument of exp| times its rounding steps, where the implementation rounds it before
// exp (c x; 2u takes ~5 float operations): exp turns the argument's relative rounding
// error into that much absolute error of the exponent, i.e. relative error of the result.
static double rounded_exp_arg(int act, double x) {
    const double k = sqrt(2.0 / M_PI);
    switch (act) {
    case VKD_ACT_GELU_TANH: return 2.5 * fabs(2.0 * k * (x + 0.044715 * x * x * x));
    case VKD_ACT_QUICK_GELU: return fabs(1.702 * x);
    default: return 0.0;
    }
}

static const char *act_name[VKD_ACT_COUNT] = {"silu", "sigmoid", "exp", "softplus",
                                              "gelu", "gelu_tanh", "quick_gelu", "relu"};

// [-10, 10] in steps of 0.005, then the extremes and the softplus switch point.
static const float extremes[] = {-80, 80, -40, 40, -20.5f, 20.5f, -20, 20, -1e-6f, 1e-6f, 0};
#define N_GRID 4001
#define N_ACT_IN (N_GRID + sizeof extremes / sizeof extremes[0])
static float *act_inputs(void) {
    float *x = test_alloc(N_ACT_IN); // (N_ACT_IN)
    for (int i = 0; i < N_GRID; i++) x[i] = -10.0f + 0.005f * (float)i;
    memcpy(x + N_GRID, extremes, sizeof extremes);
    return x;
}

// ---- erf --------------------------------------------------------------------------------

static void erf_accuracy(tctx_t *T) {
    double worst_erf = 0, worst_erfc = 0, worst_ncdf = 0;
    float at_erf = 0, at_erfc = 0, at_ncdf = 0;
    for (int i = 0; i <= 1000000; i++) {
        const float x = -11.0f + 22.0f * (float)i / 1e6f;
        double e = fabs((double)vkd_erff(x) - erf((double)x));
        if (e > worst_erf) worst_erf = e, at_erf = x;
        double rc = erfc((double)x);
        if (rc > 1e-37) {
            e = fabs((double)vkd_erfcf(x) - rc) / rc;
            if (e > worst_erfc) worst_erfc = e, at_erfc = x;
        }
        const float z = 1.3f * x; // Phi over [-14.3, 14.3]
        double rn = ncdf_d(z);
        if (rn > 1e-37) {
            e = fabs((double)vkd_ncdff(z) - rn) / rn;
            if (e > worst_ncdf) worst_ncdf = e, at_ncdf = z;
        }
    }
    printf("  erf max abs err %.3g at %g; erfc max rel err %.3g at %g; "
           "Phi max rel err %.3g at %g\n",
           worst_erf, (double)at_erf, worst_erfc, (double)at_erfc, worst_ncdf, (double)at_ncdf);
    CHECK(T, worst_erf <= 1e-7, "erf: max abs error %.3g > 1e-7 at %g", worst_erf, (double)at_erf);
    CHECK(T, worst_erfc <= 1e-6, "erfc: max rel error %.3g > 1e-6", worst_erfc);
    CHECK(T, worst_ncdf <= 1e-6, "Phi: max rel error %.3g > 1e-6", worst_ncdf);
    const float big[] = {-80.0f, 80.0f, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++) {
        CHECK(T, vkd_erff(big[i]) == (big[i] > 0 ? 1.0f : -1.0f), "erf(%g) = %g", (double)big[i],
              (double)vkd_erff(big[i]));
        CHECK(T, vkd_erfcf(big[i]) == (big[i] > 0 ? 0.0f : 2.0f), "erfc(%g)", (double)big[i]);
    }
    CHECK(T, vkd_erff(0.0f) == 0.0f, "erf(0) = %g", (double)vkd_erff(0.0f));
    // The vectorisable exp behind every activation: relative error over its normal range.
    double worst_exp = 0;
    float at_exp = 0;
    for (int i = 0; i <= 1000000; i++) {
        const float x = -87.0f + 175.7f * (float)i / 1e6f; // [-87, 88.7]
        const double e = fabs((double)vkd_expf(x) - exp((double)x)) / exp((double)x);
        if (!(e <= worst_exp)) worst_exp = e, at_exp = x;
    }
    printf("  exp max rel err %.3g at %g (%.2f ulp)\n", worst_exp, (double)at_exp,
           worst_exp / 5.96e-8);
    CHECK(T, worst_exp <= 3e-7, "vkd_expf: max rel error %.3g at %g", worst_exp, (double)at_exp);
    CHECK(T, vkd_expf(0.0f) == 1.0f && vkd_expf(-INFINITY) == 0.0f && isinf(vkd_expf(89.0f)) &&
                 isinf(vkd_expf(INFINITY)) && isnan(vkd_expf(NAN)) && isfinite(vkd_expf(88.7f)),
          "vkd_expf special values");
    CHECK(T, vkd_expf(-100.0f) > 0.0f && vkd_expf(-100.0f) < 1e-43f, "vkd_expf(-100) = %g",
          (double)vkd_expf(-100.0f));
}

// ---- activations ------------------------------------------------------------------------

static void unary_ref(tctx_t *T) {
    const size_t n = N_ACT_IN;
    float *x = act_inputs();
    double *ref = dmalloc(n), *dref = dmalloc(n), *rtol = dmalloc(n);
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, n), out = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, n), dy = test_buf(T, T->cpu_arena, NULL, n);
    char name[64];
    for (int a = 0; a < VKD_ACT_COUNT; a++) {
        for (size_t i = 0; i < n; i++) {
            ref[i] = act_ref(a, x[i]);
            dref[i] = act_ref_d(a, x[i]);
            rtol[i] = 2e-6 + 1.2e-7 * rounded_exp_arg(a, x[i]);
            dy.host[i] = 1.0f;
        }
        CHECK_OK(T, op_unary_forward(T->cpu, out, in, n, (vkd_act_t)a));
        snprintf(name, sizeof name, "%s forward", act_name[a]);
        // float evaluation: a few ulp relative everywhere, tails included
        check_close_v(T, name, out.host, ref, x, n, 0, rtol, 1e-37);
        CHECK_OK(T, op_fill(T->cpu, dx, 0.0f, n));
        CHECK_OK(T, op_unary_backward(T->cpu, dx, dy, in, n, (vkd_act_t)a));
        snprintf(name, sizeof name, "%s derivative", act_name[a]);
        // atol: derivatives cross zero (SiLU, GELUs), where only absolute error is meaningful
        check_close(T, name, dx.host, dref, x, n, 1e-5, 1e-6);
    }
    // In place (out aliases inp).
    CHECK_OK(T, op_unary_forward(T->cpu, in, in, n, VKD_ACT_GELU));
    for (size_t i = 0; i < n; i++) ref[i] = act_ref(VKD_ACT_GELU, x[i]);
    check_close(T, "gelu in place", in.host, ref, x, n, 2e-6, 1e-37);
    free(x);
    free(ref);
    free(dref);
    free(rtol);
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t out, in;
    const float *w; // (n) loss weights
    size_t n;
    int act;
} unary_loss_t;

static double unary_loss(void *p) {
    unary_loss_t *c = p;
    if (op_unary_forward(c->be, c->out, c->in, c->n, (vkd_act_t)c->act) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->n; i++) l += (double)c->w[i] * c->out.host[i];
    return l;
}

static void unary_fd(tctx_t *T) {
    const size_t n = 257;
    uint64_t st = T->seed;
    float *x = test_alloc(n), *w = test_alloc(n), *ana = test_alloc(n);
    test_fill_uniform(&st, x, n, -4.0f, 4.0f);
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < 0.01f) x[i] = 0.5f; // away from ReLU's kink
    test_fill_uniform(&st, w, n, -1.0f, 1.0f);
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, n), out = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, n), dy = test_buf(T, T->cpu_arena, w, n);
    char name[64];
    for (int a = 0; a < VKD_ACT_COUNT; a++) {
        CHECK_OK(T, op_fill(T->cpu, dx, 0.25f, n)); // backward must accumulate onto this
        CHECK_OK(T, op_unary_backward(T->cpu, dx, dy, in, n, (vkd_act_t)a));
        for (size_t i = 0; i < n; i++) ana[i] = dx.host[i] - 0.25f;
        unary_loss_t c = {T->cpu, out, in, w, n, a};
        snprintf(name, sizeof name, "%s backward", act_name[a]);
        test_fd_check(T, name, unary_loss, &c, in.host, ana, n, 257, 1e-3f, 1e-2);
    }
    free(x);
    free(w);
    free(ana);
}

// ---- broadcast binary -------------------------------------------------------------------

typedef struct {
    size_t n, b_n, b_inner;
} bcase_t;

static const bcase_t bin_cases[] = {
    {2 * 5 * 7, 5, 7},  // per-channel (B=2, C=5, HW=7)
    {24, 24, 1},        // plain elementwise
    {6 * 4, 4, 1},      // bias over the last axis
    {1, 1, 1},          // single element
    {3 * 2 * 9, 6, 9},  // per (batch, channel)
};

static void bin_ref(const float *a, const float *b, const vkd_binary_t *d, double *out,
                    double *da, double *db, const float *dy) {
    // out (n), da (n), db (b_n): plain loops over the definition in ops.h
    for (size_t k = 0; k < d->b_n; k++) db[k] = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t k = (i / d->b_inner) % d->b_n;
        int mul = d->op == VKD_BIN_MUL;
        out[i] = mul ? (double)a[i] * b[k] : (double)a[i] + b[k];
        da[i] = mul ? (double)dy[i] * b[k] : dy[i];
        db[k] += mul ? (double)dy[i] * a[i] : dy[i];
    }
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t out, a, b;
    const vkd_binary_t *d;
    const float *w; // (n)
} bin_loss_t;

static double bin_loss(void *p) {
    bin_loss_t *c = p;
    if (op_binary_forward(c->be, c->out, c->a, c->b, c->d) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->d->n; i++) l += (double)c->w[i] * c->out.host[i];
    return l;
}

static void binary_ref_fd(tctx_t *T) {
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof bin_cases / sizeof bin_cases[0]; ci++) {
        for (int op = 0; op < 2; op++) {
            const bcase_t *bc = &bin_cases[ci];
            const vkd_binary_t d = {bc->n, bc->b_n, bc->b_inner, (vkd_binop_t)op};
            float *a = test_alloc(d.n), *b = test_alloc(d.b_n), *w = test_alloc(d.n);
            test_fill_uniform(&st, a, d.n, -2, 2);
            test_fill_uniform(&st, b, d.b_n, -2, 2);
            test_fill_uniform(&st, w, d.n, -1, 1);
            double *ro = dmalloc(d.n), *rda = dmalloc(d.n), *rdb = dmalloc(d.b_n);
            bin_ref(a, b, &d, ro, rda, rdb, w);
            vkd_arena_reset(T->cpu_arena);
            vkd_buf_t ba = test_buf(T, T->cpu_arena, a, d.n);
            vkd_buf_t bb = test_buf(T, T->cpu_arena, b, d.b_n);
            vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, d.n);
            vkd_buf_t dy = test_buf(T, T->cpu_arena, w, d.n);
            vkd_buf_t da = test_buf(T, T->cpu_arena, NULL, d.n);
            vkd_buf_t db = test_buf(T, T->cpu_arena, NULL, d.b_n);
            char name[96];
            snprintf(name, sizeof name, "%s n=%zu b_n=%zu b_inner=%zu", op ? "mul" : "add", d.n,
                     d.b_n, d.b_inner);
            CHECK_OK(T, op_binary_forward(T->cpu, out, ba, bb, &d));
            check_close(T, name, out.host, ro, NULL, d.n, 1e-6, 1e-30);
            CHECK_OK(T, op_fill(T->cpu, da, 1.0f, d.n));
            CHECK_OK(T, op_fill(T->cpu, db, -1.0f, d.b_n));
            CHECK_OK(T, op_binary_backward(T->cpu, da, db, dy, ba, bb, &d));
            for (size_t i = 0; i < d.n; i++) da.host[i] -= 1.0f;
            for (size_t k = 0; k < d.b_n; k++) db.host[k] += 1.0f;
            check_close(T, "  da vs reference", da.host, rda, NULL, d.n, 1e-5, 1e-6);
            check_close(T, "  db vs reference", db.host, rdb, NULL, d.b_n, 1e-5, 1e-6);
            bin_loss_t c = {T->cpu, out, ba, bb, &d, w};
            test_fd_check(T, "  da finite differences", bin_loss, &c, ba.host, da.host, d.n, 64,
                          1e-3f, 1e-2);
            test_fd_check(T, "  db finite differences", bin_loss, &c, bb.host, db.host, d.b_n, 64,
                          1e-3f, 1e-2);
            free(a), free(b), free(w), free(ro), free(rda), free(rdb);
        }
    }
}

// Big enough for the parallel/chunked CPU paths: (B=4, C=64, HW=1024) per-channel and
// (rows=4096, 64) bias.
static void binary_big(tctx_t *T) {
    uint64_t st = T->seed;
    const vkd_binary_t cases[] = {{4 * 64 * 1024, 64, 1024, VKD_BIN_MUL},
                                  {4096 * 64, 64, 1, VKD_BIN_ADD}};
    for (int ci = 0; ci < 2; ci++) {
        const vkd_binary_t *d = &cases[ci];
        float *a = test_alloc(d->n), *b = test_alloc(d->b_n), *w = test_alloc(d->n);
        test_fill_uniform(&st, a, d->n, -2, 2);
        test_fill_uniform(&st, b, d->b_n, -2, 2);
        test_fill_normal(&st, w, d->n, 1);
        double *ro = dmalloc(d->n), *rda = dmalloc(d->n), *rdb = dmalloc(d->b_n);
        bin_ref(a, b, d, ro, rda, rdb, w);
        vkd_arena_reset(T->cpu_arena);
        vkd_buf_t ba = test_buf(T, T->cpu_arena, a, d->n);
        vkd_buf_t bb = test_buf(T, T->cpu_arena, b, d->b_n);
        vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, d->n);
        vkd_buf_t dy = test_buf(T, T->cpu_arena, w, d->n);
        vkd_buf_t db = test_buf(T, T->cpu_arena, NULL, d->b_n);
        CHECK_OK(T, op_binary_forward(T->cpu, out, ba, bb, d));
        check_close(T, "big forward", out.host, ro, NULL, d->n, 1e-6, 1e-30);
        CHECK_OK(T, op_fill(T->cpu, db, 0.0f, d->b_n));
        CHECK_OK(T, op_binary_backward(T->cpu, VKD_BUF_NONE, db, dy, ba, bb, d));
        check_close(T, "big db (da absent)", db.host, rdb, NULL, d->b_n, 1e-5, 1e-4);
        free(a), free(b), free(w), free(ro), free(rda), free(rdb);
    }
}

// ---- scale / fill / copy / argument checks ------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t out, in;
    const float *w;
    size_t n;
    float alpha, beta;
} scale_loss_t;

static double scale_loss(void *p) {
    scale_loss_t *c = p;
    if (op_scale_forward(c->be, c->out, c->in, c->n, c->alpha, c->beta) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->n; i++) l += (double)c->w[i] * c->out.host[i];
    return l;
}

static void scale_fill_copy(tctx_t *T) {
    const size_t n = 1001;
    uint64_t st = T->seed;
    float *x = test_alloc(n), *w = test_alloc(n);
    double *ref = dmalloc(n);
    test_fill_uniform(&st, x, n, -3, 3);
    test_fill_uniform(&st, w, n, -1, 1);
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, n), out = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, n), dy = test_buf(T, T->cpu_arena, w, n);
    CHECK_OK(T, op_scale_forward(T->cpu, out, in, n, 1.5f, -0.25f));
    for (size_t i = 0; i < n; i++) ref[i] = 1.5 * x[i] - 0.25;
    check_close(T, "scale forward", out.host, ref, x, n, 1e-6, 1e-7);
    CHECK_OK(T, op_fill(T->cpu, dx, 2.0f, n));
    CHECK_OK(T, op_scale_backward(T->cpu, dx, dy, n, 1.5f));
    for (size_t i = 0; i < n; i++) ref[i] = 2.0 + 1.5 * w[i];
    check_close(T, "scale backward (accumulates)", dx.host, ref, NULL, n, 1e-6, 1e-7);
    for (size_t i = 0; i < n; i++) dx.host[i] -= 2.0f;
    scale_loss_t c = {T->cpu, out, in, w, n, 1.5f, -0.25f};
    test_fd_check(T, "scale finite differences", scale_loss, &c, in.host, dx.host, n, 64, 1e-2f,
                  1e-2);
    CHECK_OK(T, op_copy(T->cpu, out, in, n));
    CHECK(T, memcmp(out.host, x, n * sizeof(float)) == 0, "copy differs");
    CHECK_OK(T, op_fill(T->cpu, out, 3.5f, 1)); // n = 1 touches only element 0
    CHECK(T, out.host[0] == 3.5f && out.host[1] == x[1], "fill n=1 wrote the wrong elements");
    CHECK_OK(T, op_scale_forward(T->cpu, in, in, n, -1.0f, 0.0f)); // in place
    CHECK(T, in.host[7] == -x[7], "scale in place");
    free(x), free(w), free(ref);
}

static void arg_checks(tctx_t *T) {
    vkd_buf_t small = test_buf(T, T->cpu_arena, NULL, 8), big = test_buf(T, T->cpu_arena, NULL, 64);
    // n = 0 is a no-op, even without buffers.
    CHECK_OK(T, op_fill(T->cpu, VKD_BUF_NONE, 1.0f, 0));
    CHECK_OK(T, op_unary_forward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, 0, VKD_ACT_RELU));
    vkd_binary_t d0 = {0, 1, 1, VKD_BIN_ADD};
    CHECK_OK(T, op_binary_forward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, &d0));
    // Each of these must be rejected.
    CHECK(T, op_unary_forward(T->cpu, big, small, 64, VKD_ACT_RELU) == VKD_ERR_INVALID,
          "short inp accepted");
    CHECK(T, op_unary_forward(T->cpu, big, big, 64, VKD_ACT_COUNT) == VKD_ERR_INVALID,
          "bad activation accepted");
    vkd_binary_t d1 = {60, 7, 1, VKD_BIN_ADD}; // 60 is not a multiple of 7
    CHECK(T, op_binary_forward(T->cpu, big, big, big, &d1) == VKD_ERR_INVALID,
          "n not a multiple of b_n * b_inner accepted");
    vkd_binary_t d2 = {64, 16, 4, VKD_BIN_MUL};
    CHECK(T, op_binary_forward(T->cpu, big, big, small, &d2) == VKD_ERR_INVALID,
          "short b accepted");
    CHECK(T, op_binary_backward(T->cpu, VKD_BUF_NONE, small, big, VKD_BUF_NONE, big, &d2) ==
                 VKD_ERR_INVALID, "db of a product without a accepted");
    CHECK(T, op_copy(T->cpu, small, big, 64) == VKD_ERR_INVALID, "short out accepted");
}

// ---- CPU against Vulkan -------------------------------------------------------------------

static void vk_unary(tctx_t *T) {
    // The [-10, 10] grid and extremes, then random N(0, 3) values: 70011 elements, not a
    // multiple of 256.
    const size_t ng = N_ACT_IN, n = ng + 66000;
    uint64_t st = T->seed;
    float *x = test_alloc(n), *g = test_alloc(n), *grid = act_inputs();
    memcpy(x, grid, ng * sizeof(float));
    test_fill_normal(&st, x + ng, n - ng, 3.0f);
    test_fill_normal(&st, g, n, 1.0f);
    double *ref = dmalloc(n), *cpu_d = dmalloc(n);
    vkd_buf_t cin = test_buf(T, T->cpu_arena, x, n), cout = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t cdx = test_buf(T, T->cpu_arena, NULL, n), cdy = test_buf(T, T->cpu_arena, g, n);
    vkd_buf_t vin = test_buf(T, T->vk_arena, x, n), vout = test_buf(T, T->vk_arena, NULL, n);
    vkd_buf_t vdx = test_buf(T, T->vk_arena, NULL, n), vdy = test_buf(T, T->vk_arena, g, n);
    char name[64];
    for (int a = 0; a < VKD_ACT_COUNT; a++) {
        CHECK_OK(T, op_unary_forward(T->cpu, cout, cin, n, (vkd_act_t)a));
        CHECK_OK(T, op_unary_forward(T->vk, vout, vin, n, (vkd_act_t)a));
        CHECK_OK(T, op_fill(T->cpu, cdx, 0.5f, n));
        CHECK_OK(T, op_fill(T->vk, vdx, 0.5f, n));
        CHECK_OK(T, op_unary_backward(T->cpu, cdx, cdy, cin, n, (vkd_act_t)a));
        CHECK_OK(T, op_unary_backward(T->vk, vdx, vdy, vin, n, (vkd_act_t)a));
        float *y = test_read(T, vout, n), *dx = test_read(T, vdx, n);
        for (size_t i = 0; i < n; i++) cpu_d[i] = cout.host[i];
        snprintf(name, sizeof name, "%s forward vk vs cpu", act_name[a]);
        // atol: results below ~1e-30 pass through denormal intermediates, which GPUs may
        // flush to zero (Vulkan does not require denormal support)
        // atol: results below ~1e-30 pass through denormal intermediates, which GPUs may
        // flush to zero (Vulkan does not require denormal support)
        check_close(T, name, y, cpu_d, x, n, 1e-4, 1e-30);
        for (size_t i = 0; i < n; i++) cpu_d[i] = cdx.host[i];
        snprintf(name, sizeof name, "%s backward vk vs cpu", act_name[a]);
        check_close(T, name, dx, cpu_d, x, n, 1e-4, 1e-6);
        if (a == VKD_ACT_GELU) {
            // The GLSL erf through GELU: x Phi(x) with |Phi error| <= 1.5e-7 (erf ~1e-7 plus
            // GPU exp), plus float rounding of the product.
            for (size_t i = 0; i < ng; i++) ref[i] = act_ref(a, x[i]);
            double worst = 0;
            for (size_t i = 0; i < ng; i++) {
                double tol = 1.5e-7 * fabs(x[i]) + 4e-7 * fabs(ref[i]) + 1e-37;
                double q = fabs(y[i] - ref[i]) / tol;
                if (!(q <= worst)) worst = q;
            }
            printf("  %-40s worst err/tol %.3g\n", "gelu (GLSL erf) vs double", worst);
            CHECK(T, worst <= 1.0, "GLSL erf: GELU error beyond 1.5e-7 |x| (%.3g of tol)", worst);
        }
        free(y), free(dx);
    }
    free(x), free(g), free(grid), free(ref), free(cpu_d);
}

static void vk_binary(tctx_t *T) {
    // db pass 1 (few contributions per element), pass 2 (many: per-channel, B*HW = 3000;
    // bias over 5000 rows), elementwise with 70001 elements (grid-stride), n = 1.
    const vkd_binary_t cases[] = {
        {3 * 5 * 1000, 5, 1000, VKD_BIN_MUL}, {3 * 5 * 1000, 5, 1000, VKD_BIN_ADD},
        {5000 * 33, 33, 1, VKD_BIN_MUL},      {70001, 70001, 1, VKD_BIN_MUL},
        {2 * 6 * 5, 6, 5, VKD_BIN_ADD},       {1, 1, 1, VKD_BIN_MUL},
    };
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const vkd_binary_t *d = &cases[ci];
        float *a = test_alloc(d->n), *b = test_alloc(d->b_n), *g = test_alloc(d->n);
        test_fill_uniform(&st, a, d->n, -2, 2);
        test_fill_uniform(&st, b, d->b_n, -2, 2);
        test_fill_normal(&st, g, d->n, 1);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
        vkd_buf_t ca = test_buf(T, T->cpu_arena, a, d->n);
        vkd_buf_t cb = test_buf(T, T->cpu_arena, b, d->b_n);
        vkd_buf_t cg = test_buf(T, T->cpu_arena, g, d->n);
        vkd_buf_t co = test_buf(T, T->cpu_arena, NULL, d->n);
        vkd_buf_t cda = test_buf(T, T->cpu_arena, NULL, d->n);
        vkd_buf_t cdb = test_buf(T, T->cpu_arena, NULL, d->b_n);
        vkd_buf_t va = test_buf(T, T->vk_arena, a, d->n), vb = test_buf(T, T->vk_arena, b, d->b_n);
        vkd_buf_t vg = test_buf(T, T->vk_arena, g, d->n), vo = test_buf(T, T->vk_arena, NULL, d->n);
        vkd_buf_t vda = test_buf(T, T->vk_arena, NULL, d->n);
        vkd_buf_t vdb = test_buf(T, T->vk_arena, NULL, d->b_n);
        CHECK_OK(T, op_binary_forward(T->cpu, co, ca, cb, d));
        CHECK_OK(T, op_binary_forward(T->vk, vo, va, vb, d));
        CHECK_OK(T, op_fill(T->cpu, cda, 0.5f, d->n));
        CHECK_OK(T, op_fill(T->vk, vda, 0.5f, d->n));
        CHECK_OK(T, op_fill(T->cpu, cdb, -0.5f, d->b_n));
        CHECK_OK(T, op_fill(T->vk, vdb, -0.5f, d->b_n));
        CHECK_OK(T, op_binary_backward(T->cpu, cda, cdb, cg, ca, cb, d));
        CHECK_OK(T, op_binary_backward(T->vk, vda, vdb, vg, va, vb, d));
        // da alone and db alone must each work too (the other absent): accumulate twice.
        CHECK_OK(T, op_binary_backward(T->cpu, cda, VKD_BUF_NONE, cg, ca, cb, d));
        CHECK_OK(T, op_binary_backward(T->vk, vda, VKD_BUF_NONE, vg, VKD_BUF_NONE, vb, d));
        CHECK_OK(T, op_binary_backward(T->cpu, VKD_BUF_NONE, cdb, cg, ca, cb, d));
        CHECK_OK(T, op_binary_backward(T->vk, VKD_BUF_NONE, vdb, vg, va, VKD_BUF_NONE, d));
        float *o = test_read(T, vo, d->n);
        float *da = test_read(T, vda, d->n);
        float *db = test_read(T, vdb, d->b_n);
        char name[96];
        snprintf(name, sizeof name, "%s n=%zu b_n=%zu b_inner=%zu fwd", d->op ? "mul" : "add", d->n,
                 d->b_n, d->b_inner);
        test_compare(T, name, o, co.host, d->n, 1e-4);
        test_compare(T, "  da", da, cda.host, d->n, 1e-4);
        test_compare(T, "  db", db, cdb.host, d->b_n, 1e-4);
        free(a), free(b), free(g), free(o), free(da), free(db);
    }
}

static void vk_scale_fill_copy(tctx_t *T) {
    const size_t n = 100003;
    uint64_t st = T->seed;
    float *x = test_alloc(n), *g = test_alloc(n);
    test_fill_normal(&st, x, n, 2);
    test_fill_normal(&st, g, n, 1);
    vkd_buf_t cx = test_buf(T, T->cpu_arena, x, n), cg = test_buf(T, T->cpu_arena, g, n);
    vkd_buf_t co = test_buf(T, T->cpu_arena, NULL, n), cd = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t vx = test_buf(T, T->vk_arena, x, n), vg = test_buf(T, T->vk_arena, g, n);
    vkd_buf_t vo = test_buf(T, T->vk_arena, NULL, n), vd = test_buf(T, T->vk_arena, NULL, n);
    vkd_buf_t vc = test_buf(T, T->vk_arena, NULL, n);
    CHECK_OK(T, op_scale_forward(T->cpu, co, cx, n, -0.75f, 3.0f));
    CHECK_OK(T, op_scale_forward(T->vk, vo, vx, n, -0.75f, 3.0f));
    CHECK_OK(T, op_fill(T->cpu, cd, 1.0f, n));
    CHECK_OK(T, op_fill(T->vk, vd, 1.0f, n));
    CHECK_OK(T, op_scale_backward(T->cpu, cd, cg, n, 2.5f));
    CHECK_OK(T, op_scale_backward(T->vk, vd, vg, n, 2.5f));
    CHECK_OK(T, op_copy(T->vk, vc, vx, n));
    CHECK_OK(T, op_fill(T->vk, vx, 7.0f, 1)); // n = 1
    float *o = test_read(T, vo, n), *d = test_read(T, vd, n), *c = test_read(T, vc, n);
    float *x1 = test_read(T, vx, 2);
    test_compare(T, "scale forward", o, co.host, n, 1e-6);
    test_compare(T, "scale backward", d, cd.host, n, 1e-6);
    CHECK(T, memcmp(c, x, n * sizeof(float)) == 0, "copy differs");
    CHECK(T, x1[0] == 7.0f && x1[1] == x[1], "fill n=1 wrote the wrong elements");
    CHECK_OK(T, op_fill(T->vk, VKD_BUF_NONE, 0.0f, 0)); // n = 0 records nothing
    // n = 1 through an activation and its backward (x[0] is 7 on both backends now).
    CHECK_OK(T, op_fill(T->cpu, cx, 7.0f, 1));
    CHECK_OK(T, op_unary_forward(T->vk, vo, vx, 1, VKD_ACT_GELU));
    CHECK_OK(T, op_unary_forward(T->cpu, co, cx, 1, VKD_ACT_GELU));
    CHECK_OK(T, op_unary_backward(T->vk, vd, vg, vx, 1, VKD_ACT_SOFTPLUS));
    CHECK_OK(T, op_unary_backward(T->cpu, cd, cg, cx, 1, VKD_ACT_SOFTPLUS));
    float *o1 = test_read(T, vo, 2), *d1 = test_read(T, vd, 2);
    test_compare(T, "gelu n=1", o1, co.host, 2, 1e-5);
    test_compare(T, "softplus backward n=1", d1, cd.host, 2, 1e-5);
    free(o1), free(d1);
    free(x), free(g), free(o), free(d), free(c), free(x1);
}

// db of a scalar b over a NeRF-sized tensor (262144 x 64 = 16.8M contributions, one
// workgroup summing them): 65536 loop iterations per invocation, past llvmpipe's limit
// of 65535 (src/vk.h), so the Vulkan body must split the sum into accumulated chunks.
// Positive inputs keep the sum well conditioned for the 1e-4 comparison.
static void vk_binary_long_db(tctx_t *T) {
    const vkd_binary_t cases[] = {{262144 * 64, 1, 1, VKD_BIN_MUL},
                                  {262144 * 64, 1, 1, VKD_BIN_ADD}};
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const vkd_binary_t *d = &cases[ci];
        float *a = test_alloc(d->n), *g = test_alloc(d->n), b = 0.75f, db0 = -0.5f;
        test_fill_uniform(&st, a, d->n, 0.5f, 1.5f);
        test_fill_uniform(&st, g, d->n, 0.0f, 1.0f);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
        vkd_buf_t ca = test_buf(T, T->cpu_arena, a, d->n), cb = test_buf(T, T->cpu_arena, &b, 1);
        vkd_buf_t cg = test_buf(T, T->cpu_arena, g, d->n), cdb = test_buf(T, T->cpu_arena, &db0, 1);
        vkd_buf_t va = test_buf(T, T->vk_arena, a, d->n), vb = test_buf(T, T->vk_arena, &b, 1);
        vkd_buf_t vg = test_buf(T, T->vk_arena, g, d->n), vdb = test_buf(T, T->vk_arena, &db0, 1);
        free(a), free(g);
        CHECK_OK(T, op_binary_backward(T->cpu, VKD_BUF_NONE, cdb, cg, ca, cb, d));
        CHECK_OK(T, op_binary_backward(T->vk, VKD_BUF_NONE, vdb, vg, va, vb, d));
        float *db = test_read(T, vdb, 1);
        char name[96];
        snprintf(name, sizeof name, "%s n=%zu scalar b: db", d->op ? "mul" : "add", d->n);
        if (db) test_compare(T, name, db, cdb.host, 1, 1e-4);
        free(db);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(erf_accuracy),    TCASE_CPU(unary_ref),       TCASE_CPU(unary_fd),
    TCASE_CPU(binary_ref_fd),   TCASE_CPU(binary_big),      TCASE_CPU(scale_fill_copy),
    TCASE_CPU(arg_checks),      TCASE_VK(vk_unary),         TCASE_VK(vk_binary),
    TCASE_VK(vk_scale_fill_copy), TCASE_VK(vk_binary_long_db),
};
TEST_MAIN(cases)
