// The reverse-mode tape (src/tape.h): compositions of ops checked against finite
// differences of their forward, on the CPU backend.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tape.h"
#include "test_util.h"

typedef struct {
    vkd_tt_t p[8];   // parameters (value + gradient views in the test arena)
    size_t np[8];    // (floats)
    int n_params;
    const int32_t *ids;
    const float *R;  // (n_out) loss weights: loss = sum out * R
    size_t n_out;
    vkd_tape_t *tape;
    int which;       // composition
} comp_t;

static vkd_tt_t param(tctx_t *T, comp_t *c, uint64_t *st, size_t n, float scale, float shift) {
    float *h = test_alloc(n);
    test_fill_uniform(st, h, n, shift - scale, shift + scale);
    float *zero = test_alloc(n); // gradients accumulate: start from zero
    vkd_tt_t t = {.v = test_buf(T, T->cpu_arena, h, n), .g = test_buf(T, T->cpu_arena, zero, n)};
    free(h);
    free(zero);
    c->p[c->n_params] = t;
    c->np[c->n_params++] = n;
    return t;
}

// 1: embedding -> linear -> GELU -> LayerNorm -> causal attention (q = k = v) -> linear.
// 2: conv2d -> GroupNorm -> SiLU -> nearest 2x upsample (copies) -> * per-channel scale
//    -> affine scale -> batched GEMM with a misaligned slice of a weight.
#define B1 2
#define L1 5
#define V1 7
#define D1 8
#define HEADS 2
static vkd_status_t forward1(comp_t *c, vkd_tt_t *out) {
    vkd_tape_t *t = c->tape;
    const int N = B1 * L1;
    vkd_tt_t e, h, a, y;
    VKD_TRY(vkd_tape_embedding(t, &e, c->p[0], c->ids, N, V1, D1));
    VKD_TRY(vkd_tape_linear(t, &h, e, c->p[1], c->p[2], N, D1, D1));
    VKD_TRY(vkd_tape_unary(t, &h, h, (size_t)N * D1, VKD_ACT_GELU));
    VKD_TRY(vkd_tape_layernorm(t, &h, h, c->p[3], c->p[4], N, D1, 1e-5f));
    const int dh = D1 / HEADS;
    const vkd_attention_t at = {.B = B1, .H = HEADS, .Lq = L1, .Lk = L1, .D = dh, .Dv = dh,
                                .scale = 0.7f, .causal = 1,
                                .sq_b = L1 * D1, .sq_h = dh, .sq_l = D1,
                                .sk_b = L1 * D1, .sk_h = dh, .sk_l = D1,
                                .sv_b = L1 * D1, .sv_h = dh, .sv_l = D1,
                                .so_b = L1 * D1, .so_h = dh, .so_l = D1};
    VKD_TRY(vkd_tape_attention(t, &a, h, h, h, &at, (size_t)N * D1));
    VKD_TRY(vkd_tape_linear(t, &y, a, c->p[5], (vkd_tt_t){0}, N, 3, D1));
    *out = y;
    return VKD_OK;
}

#define B2 2
#define C2 4
#define H2 4
static vkd_status_t forward2(comp_t *c, vkd_tt_t *out) {
    vkd_tape_t *t = c->tape;
    const vkd_conv2d_t cv = {.B = B2, .Cin = 3, .H = H2, .W = H2, .Cout = C2, .KH = 3, .KW = 3,
                             .stride = 1, .pad_t = 1, .pad_b = 1, .pad_l = 1, .pad_r = 1};
    vkd_tt_t x = c->p[0], h, u, s, w;
    VKD_TRY(vkd_tape_conv2d(t, &h, x, c->p[1], c->p[2], &cv));
    const vkd_groupnorm_t gn = {.B = B2, .C = C2, .HW = H2 * H2, .G = 2, .eps = 1e-5f};
    VKD_TRY(vkd_tape_groupnorm(t, &h, h, c->p[3], c->p[4], &gn));
    VKD_TRY(vkd_tape_unary(t, &h, h, (size_t)B2 * C2 * H2 * H2, VKD_ACT_SILU));
    VKD_TRY(vkd_tape_new(t, (size_t)B2 * C2 * 4 * H2 * H2, 1, &u));
    for (int k = 0; k < 4; k++) {
        const vkd_copy_strided_t d = {.n = {B2 * C2, H2, H2, 1},
                                      .out_off = (k / 2) * 2 * H2 + k % 2,
                                      .out_stride = {4 * H2 * H2, 4 * H2, 2, 1},
                                      .inp_stride = {H2 * H2, H2, 1, 0}};
        VKD_TRY(vkd_tape_copy(t, u, h, &d));
    }
    const size_t nu = (size_t)B2 * C2 * 4 * H2 * H2;
    const vkd_binary_t m = {.n = nu, .b_n = C2, .b_inner = 4 * H2 * H2, .op = VKD_BIN_MUL};
    VKD_TRY(vkd_tape_binary(t, &s, u, c->p[5], &m));
    VKD_TRY(vkd_tape_scale(t, &s, s, nu, 1.5f, 0.25f));
    // Rows 3.. of a (8, 4H*H) weight: an offset that is not aligned, so a recorded copy.
    VKD_TRY(vkd_tape_slice(t, c->p[6], 3, 3 * 4 * H2 * H2, &w));
    // out_b (3, C2) = w (3, 4HH) s_b^T (4HH, C2), batched over images with w shared
    const vkd_gemm_t g = {.M = 3, .N = C2, .K = 4 * H2 * H2, .trans_b = 1, .alpha = 1.0f,
                          .batch = B2, .stride_b = C2 * 4 * H2 * H2, .stride_c = 3 * C2};
    VKD_TRY(vkd_tape_gemm(t, out, w, s, (vkd_tt_t){0}, &g));
    return VKD_OK;
}

static vkd_status_t forward(comp_t *c, vkd_tt_t *out) {
    return c->which == 1 ? forward1(c, out) : forward2(c, out);
}

static double loss_fn(void *p) {
    comp_t *c = p;
    vkd_tt_t o;
    if (vkd_tape_begin(c->tape, 0) != VKD_OK || forward(c, &o) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->n_out; i++) l += (double)o.v.host[i] * c->R[i];
    return l;
}

static void run_comp(tctx_t *T, int which) {
    comp_t c = {.which = which};
    uint64_t st = T->seed + (uint64_t)which;
    static const int32_t ids[B1 * L1] = {1, 3, 3, 0, 6, 2, 2, 5, 1, 4};
    c.ids = ids;
    if (which == 1) {
        param(T, &c, &st, V1 * D1, 1.0f, 0.0f);      // token table
        param(T, &c, &st, D1 * D1, 0.4f, 0.0f);      // W
        param(T, &c, &st, D1, 0.2f, 0.0f);           // b
        param(T, &c, &st, D1, 0.3f, 1.0f);           // LN weight
        param(T, &c, &st, D1, 0.2f, 0.0f);           // LN bias
        param(T, &c, &st, 3 * D1, 0.4f, 0.0f);       // output projection
        c.n_out = (size_t)B1 * L1 * 3;
    } else {
        param(T, &c, &st, B2 * 3 * H2 * H2, 1.0f, 0.0f); // x: an input with a gradient
        param(T, &c, &st, C2 * 3 * 9, 0.3f, 0.0f);
        param(T, &c, &st, C2, 0.2f, 0.0f);
        param(T, &c, &st, C2, 0.3f, 1.0f);
        param(T, &c, &st, C2, 0.2f, 0.0f);
        param(T, &c, &st, C2, 0.5f, 1.0f);
        param(T, &c, &st, 8 * 4 * H2 * H2, 0.3f, 0.0f);
        c.n_out = (size_t)B2 * 3 * C2;
    }
    float *R = test_alloc(c.n_out);
    test_fill_uniform(&st, R, c.n_out, -1.0f, 1.0f);
    c.R = R;
    CHECK_OK(T, vkd_tape_create(T->cpu, &c.tape));
    vkd_tt_t o;
    vkd_status_t s = vkd_tape_begin(c.tape, 1);
    if (s == VKD_OK) s = forward(&c, &o);
    if (s == VKD_OK) s = vkd_tape_begin(c.tape, 0);
    if (s == VKD_OK) s = forward(&c, &o);
    if (s == VKD_OK) {
        memcpy(o.g.host, R, c.n_out * sizeof(float));
        s = vkd_tape_backward(c.tape);
    }
    CHECK(T, s == VKD_OK, "tape: %s", vkd_last_error());
    for (int i = 0; s == VKD_OK && i < c.n_params; i++) {
        char name[64];
        snprintf(name, sizeof name, "composition %d param %d", which, i);
        // Copy the analytic gradient: FD forwards do not touch it, but keep it stable.
        float *ana = test_alloc(c.np[i]);
        memcpy(ana, c.p[i].g.host, c.np[i] * sizeof(float));
        test_fd_check(T, name, loss_fn, &c, c.p[i].v.host, ana, c.np[i], 40, 1e-2f, 2e-2);
        free(ana);
    }
    vkd_tape_free(c.tape);
    free(R);
}

static void tape_transformer_fd(tctx_t *T) { run_comp(T, 1); }
static void tape_conv_fd(tctx_t *T) { run_comp(T, 2); }

// A forward that allocates more in the real pass than it planned fails clearly.
static void tape_plan_mismatch(tctx_t *T) {
    vkd_tape_t *t = NULL;
    CHECK_OK(T, vkd_tape_create(T->cpu, &t));
    vkd_tt_t a;
    CHECK(T, vkd_tape_begin(t, 1) == VKD_OK && vkd_tape_new(t, 100, 1, &a) == VKD_OK, "plan");
    CHECK(T, vkd_tape_begin(t, 0) == VKD_OK && vkd_tape_new(t, 100, 1, &a) == VKD_OK, "real");
    CHECK(T, vkd_tape_new(t, 100, 1, &a) != VKD_OK, "over-allocation must fail");
    CHECK(T, strstr(vkd_last_error(), "plan") != NULL, "message: %s", vkd_last_error());
    // A broadcast source cannot be differentiated by an accumulating copy: refused.
    vkd_tt_t src, dst;
    CHECK(T, vkd_tape_begin(t, 1) == VKD_OK, "begin");
    CHECK(T, vkd_tape_new(t, 4, 1, &src) == VKD_OK && vkd_tape_new(t, 8, 1, &dst) == VKD_OK, "new");
    const vkd_copy_strided_t d = {.n = {4, 2, 1, 1}, .out_stride = {2, 1, 0, 0},
                                  .inp_stride = {1, 0, 0, 0}};
    CHECK(T, vkd_tape_copy(t, dst, src, &d) != VKD_OK, "broadcast copy accepted");
    vkd_tape_free(t);
}

static const tcase_t cases[] = {
    TCASE_CPU(tape_transformer_fd),
    TCASE_CPU(tape_conv_fd),
    TCASE_CPU(tape_plan_mismatch),
};
TEST_MAIN(cases)
