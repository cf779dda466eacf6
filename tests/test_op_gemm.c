// GEMM forward/backward: CPU against a naive double reference, finite differences of the
// backward, and CPU against Vulkan (both tilings of shaders/gemm.comp).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

// ---- inputs and the reference ---------------------------------------------------------

typedef struct {
    float *a, *b, *bias, *c0; // (spans below), bias (N), c0: initial C
    size_t na, nb, nc;
} gemm_data_t;

static void spans(const vkd_gemm_t *g, size_t *na, size_t *nb, size_t *nc) {
    *na = (size_t)(g->batch - 1) * (size_t)g->stride_a + (size_t)g->M * g->K;
    *nb = (size_t)(g->batch - 1) * (size_t)g->stride_b + (size_t)g->K * g->N;
    *nc = (size_t)(g->batch - 1) * (size_t)g->stride_c + (size_t)g->M * g->N;
}

static float *alloc_floats(size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) {
        fprintf(stderr, "out of host memory\n");
        exit(1);
    }
    return x;
}

// Random A, B, bias; C0 random, or NaN everywhere when c0_nan (beta == 0 must not read it).
static void make_data(tctx_t *T, const vkd_gemm_t *g, int c0_nan, gemm_data_t *d) {
    spans(g, &d->na, &d->nb, &d->nc);
    d->a = alloc_floats(d->na), d->b = alloc_floats(d->nb);
    d->bias = alloc_floats((size_t)g->N), d->c0 = alloc_floats(d->nc);
    test_fill_uniform(&T->seed, d->a, d->na, -1, 1);
    test_fill_uniform(&T->seed, d->b, d->nb, -1, 1);
    test_fill_uniform(&T->seed, d->bias, (size_t)g->N, -1, 1);
    if (c0_nan)
        for (size_t i = 0; i < d->nc; i++) d->c0[i] = NAN;
    else
        test_fill_uniform(&T->seed, d->c0, d->nc, -1, 1);
}

static void free_data(gemm_data_t *d) {
    free(d->a), free(d->b), free(d->bias), free(d->c0);
}

static double op_a(const vkd_gemm_t *g, const float *A, int m, int k) {
    return g->trans_a ? A[(size_t)k * g->M + m] : A[(size_t)m * g->K + k];
}
static double op_b(const vkd_gemm_t *g, const float *B, int k, int n) {
    return g->trans_b ? B[(size_t)n * g->K + k] : B[(size_t)k * g->N + n];
}

// out (nc) = the contract of op_gemm_forward in double; elements between batches keep c0.
static void ref_gemm(const vkd_gemm_t *g, const gemm_data_t *d, int with_bias, float *out) {
    memcpy(out, d->c0, d->nc * sizeof(float));
    const int sum = g->batch > 1 && g->stride_c == 0;
    const int nout = sum ? 1 : g->batch;
    for (int ob = 0; ob < nout; ob++)
        for (int m = 0; m < g->M; m++)
            for (int n = 0; n < g->N; n++) {
                double acc = 0;
                const int b0 = sum ? 0 : ob, b1 = sum ? g->batch : ob + 1;
                for (int bb = b0; bb < b1; bb++) {
                    const float *A = d->a + (size_t)bb * g->stride_a;
                    const float *B = d->b + (size_t)bb * g->stride_b;
                    for (int k = 0; k < g->K; k++) acc += op_a(g, A, m, k) * op_b(g, B, k, n);
                }
                const size_t idx = (size_t)ob * g->stride_c + (size_t)m * g->N + n;
                double v = g->alpha * acc;
                if (g->beta != 0.0f) v += (double)g->beta * d->c0[idx];
                if (with_bias) v += d->bias[n];
                out[idx] = (float)v;
            }
}

// Runs op_gemm_forward on one backend; returns C (nc, malloc'd) or NULL after a failure.
static float *run_fwd(tctx_t *T, vkd_backend_t *be, vkd_arena_t *ar, const vkd_gemm_t *g,
                      const gemm_data_t *d, int with_bias) {
    (void)be;
    vkd_buf_t a = test_buf(T, ar, d->a, d->na), b = test_buf(T, ar, d->b, d->nb);
    vkd_buf_t c = test_buf(T, ar, d->c0, d->nc);
    vkd_buf_t bias = with_bias ? test_buf(T, ar, d->bias, (size_t)g->N) : VKD_BUF_NONE;
    if (!vkd_buf_present(c)) return NULL;
    if (op_gemm_forward(vkd_arena_backend(ar), c, a, b, bias, g) != VKD_OK) {
        test_fail(T, __FILE__, __LINE__, "op_gemm_forward: %s", vkd_last_error());
        return NULL;
    }
    return test_read(T, c, d->nc);
}

static void describe(char *buf, size_t cap, const char *what, const vkd_gemm_t *g, int bias) {
    snprintf(buf, cap, "%s %dx%dx%d t%d%d b%d s(%lld,%lld,%lld)%s", what, g->M, g->N, g->K,
             g->trans_a, g->trans_b, g->batch, (long long)g->stride_a, (long long)g->stride_b,
             (long long)g->stride_c, bias ? " +bias" : "");
}

// CPU forward of one case against the double reference.
static void check_cpu_case(tctx_t *T, vkd_gemm_t g, int with_bias, int c0_nan, double tol) {
    gemm_data_t d;
    make_data(T, &g, c0_nan, &d);
    float *ref = alloc_floats(d.nc);
    ref_gemm(&g, &d, with_bias, ref);
    float *got = run_fwd(T, T->cpu, T->cpu_arena, &g, &d, with_bias);
    char name[160];
    describe(name, sizeof name, "cpu", &g, with_bias);
    if (got) test_compare(T, name, got, ref, d.nc, tol);
    free(got), free(ref), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static vkd_gemm_t plain(int M, int N, int K, int ta, int tb) {
    return (vkd_gemm_t){.M = M, .N = N, .K = K, .trans_a = ta, .trans_b = tb, .alpha = 1.0f,
                        .beta = 0.0f, .batch = 1};
}

// ---- CPU forward ----------------------------------------------------------------------

static void cpu_gemm_transposes(tctx_t *T) {
    for (int t = 0; t < 4; t++) {
        vkd_gemm_t g = plain(33, 17, 65, t & 1, t >> 1);
        check_cpu_case(T, g, 0, 0, 1e-5);
        g.alpha = 0.75f, g.beta = 0.5f;
        check_cpu_case(T, g, 1, 0, 1e-5);
    }
}

static void cpu_gemm_odd_sizes(tctx_t *T) {
    static const int sizes[][3] = {{1, 1, 1}, {1, 5, 3}, {7, 1, 9}, {130, 70, 129}, {64, 64, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++) {
            vkd_gemm_t g = plain(sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1);
            g.alpha = -1.25f, g.beta = (t & 1) ? 1.0f : 0.0f;
            check_cpu_case(T, g, t >= 2, 0, 1e-5);
        }
}

static void cpu_gemm_batched(tctx_t *T) {
    const int M = 21, N = 13, K = 11;
    // Shared B (a weight used by every batch), padded A and C batches: the gaps of C
    // must keep their values.
    vkd_gemm_t g = plain(M, N, K, 0, 1);
    g.batch = 3, g.stride_a = M * K + 7, g.stride_b = 0, g.stride_c = M * N + 5;
    g.alpha = 0.5f, g.beta = 2.0f;
    check_cpu_case(T, g, 1, 0, 1e-5);
    // Shared A, transposed.
    g = plain(M, N, K, 1, 0);
    g.batch = 4, g.stride_a = 0, g.stride_b = K * N, g.stride_c = M * N;
    check_cpu_case(T, g, 0, 0, 1e-5);
    // Many small batches (spread over the threads).
    g = plain(8, 8, 8, 0, 0);
    g.batch = 37, g.stride_a = 64, g.stride_b = 64, g.stride_c = 64;
    check_cpu_case(T, g, 1, 0, 1e-5);
    // Shared output: C = alpha sum_b A_b B_b + beta C + bias (bias added once).
    g = plain(M, N, K, 1, 1);
    g.batch = 5, g.stride_a = M * K, g.stride_b = K * N, g.stride_c = 0;
    g.alpha = 0.5f, g.beta = -1.0f;
    check_cpu_case(T, g, 1, 0, 1e-5);
}

static void cpu_gemm_beta0_ignores_nan(tctx_t *T) {
    vkd_gemm_t g = plain(19, 23, 7, 0, 0);
    check_cpu_case(T, g, 0, 1, 1e-5);
    check_cpu_case(T, g, 1, 1, 1e-5);
    g.batch = 3, g.stride_a = 19 * 7, g.stride_b = 0, g.stride_c = 0; // shared output
    check_cpu_case(T, g, 1, 1, 1e-5);
}

static void cpu_gemm_rejects_bad_arguments(tctx_t *T) {
    vkd_arena_t *ar = T->cpu_arena;
    vkd_backend_t *be = T->cpu;
    vkd_buf_t a = test_buf(T, ar, NULL, 64), b = test_buf(T, ar, NULL, 64);
    vkd_buf_t c = test_buf(T, ar, NULL, 64), small = test_buf(T, ar, NULL, 15);
    vkd_gemm_t g = plain(4, 4, 4, 0, 0);
    CHECK_OK(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &g));
    vkd_gemm_t bad = g;
    bad.M = 0;
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &bad), "M = 0");
    bad = g, bad.trans_a = 2;
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &bad), "trans_a = 2");
    test_expect_invalid(T, op_gemm_forward(be, c, small, b, VKD_BUF_NONE, &g), "a too small");
    vkd_buf_t tiny = test_buf(T, ar, NULL, 2);
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, tiny, &g), "bias too small");
    bad = g, bad.batch = 2, bad.stride_a = 16, bad.stride_b = 16, bad.stride_c = 15;
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &bad),
                        "overlapping C batches");
    bad.stride_c = -16;
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, &bad), "negative stride");
    test_expect_invalid(T, op_gemm_forward(be, a, a, b, VKD_BUF_NONE, &g), "c aliases a");
    test_expect_invalid(T, op_gemm_forward(be, c, a, b, VKD_BUF_NONE, NULL), "no descriptor");
    // dbias needs the batches of dc back to back.
    bad = g, bad.batch = 2, bad.stride_a = 16, bad.stride_b = 16, bad.stride_c = 20;
    vkd_buf_t big = test_buf(T, ar, NULL, 64), dbias = test_buf(T, ar, NULL, 4);
    test_expect_invalid(T, op_gemm_backward(be, VKD_BUF_NONE, VKD_BUF_NONE, dbias, big, a, b, &bad),
                        "dbias with padded dc");
    test_expect_invalid(
        T, op_gemm_backward(be, c, VKD_BUF_NONE, VKD_BUF_NONE, big, a, VKD_BUF_NONE, &g),
        "da without b");
}

// ---- CPU backward: finite differences ---------------------------------------------------

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t c, a, b, bias; // c (nc), a (na), b (nb), bias (N)
    vkd_gemm_t g;            // beta = 0: the loss sees C = alpha op(A) op(B) + bias
    const float *w;          // (nc) loss weights: L = sum w .* C, so dL/dC = w
    size_t nc;
} fd_ctx_t;

static double fd_loss(void *p) {
    fd_ctx_t *x = p;
    if (op_gemm_forward(x->be, x->c, x->a, x->b, x->bias, &x->g) != VKD_OK) return NAN;
    double L = 0;
    for (size_t i = 0; i < x->nc; i++) L += (double)x->w[i] * x->c.host[i];
    return L;
}

// L is linear in every single entry of A, B and bias, so central differences are exact up
// to rounding for any step: a large step keeps float rounding of C (~1e-7 |C| per entry)
// small against the difference, and the tolerance can be tight.
#define FD_EPS 0.05f
#define FD_TOL 1e-2

static void fd_case(tctx_t *T, vkd_gemm_t g) {
    vkd_arena_reset(T->cpu_arena);
    g.beta = 0.0f;
    gemm_data_t d;
    make_data(T, &g, 0, &d);
    float *w = alloc_floats(d.nc);
    test_fill_uniform(&T->seed, w, d.nc, -1, 1);
    vkd_arena_t *ar = T->cpu_arena;
    fd_ctx_t x = {.be = T->cpu, .g = g, .w = w, .nc = d.nc};
    x.a = test_buf(T, ar, d.a, d.na), x.b = test_buf(T, ar, d.b, d.nb);
    x.c = test_buf(T, ar, d.c0, d.nc), x.bias = test_buf(T, ar, d.bias, (size_t)g.N);
    vkd_buf_t dc = test_buf(T, ar, w, d.nc);
    // Gradients start non-zero: the backward must add to them.
    float *g0a = alloc_floats(d.na), *g0b = alloc_floats(d.nb), *g0bias = alloc_floats(g.N);
    test_fill_uniform(&T->seed, g0a, d.na, -1, 1);
    test_fill_uniform(&T->seed, g0b, d.nb, -1, 1);
    test_fill_uniform(&T->seed, g0bias, (size_t)g.N, -1, 1);
    vkd_buf_t da = test_buf(T, ar, g0a, d.na), db = test_buf(T, ar, g0b, d.nb);
    vkd_buf_t dbias = test_buf(T, ar, g0bias, (size_t)g.N);
    char name[160];
    if (vkd_buf_present(dbias) &&
        op_gemm_backward(T->cpu, da, db, dbias, dc, x.a, x.b, &g) == VKD_OK) {
        for (size_t i = 0; i < d.na; i++) g0a[i] = da.host[i] - g0a[i];
        for (size_t i = 0; i < d.nb; i++) g0b[i] = db.host[i] - g0b[i];
        for (int i = 0; i < g.N; i++) g0bias[i] = dbias.host[i] - g0bias[i];
        describe(name, sizeof name, "da", &g, 1);
        test_fd_check(T, name, fd_loss, &x, x.a.host, g0a, d.na, 200, FD_EPS, FD_TOL);
        describe(name, sizeof name, "db", &g, 1);
        test_fd_check(T, name, fd_loss, &x, x.b.host, g0b, d.nb, 200, FD_EPS, FD_TOL);
        describe(name, sizeof name, "dbias", &g, 1);
        test_fd_check(T, name, fd_loss, &x, x.bias.host, g0bias, (size_t)g.N, 200, FD_EPS, FD_TOL);
    } else {
        test_fail(T, __FILE__, __LINE__, "op_gemm_backward: %s", vkd_last_error());
    }
    free(g0a), free(g0b), free(g0bias), free(w), free_data(&d);
}

static void cpu_gemm_backward_fd(tctx_t *T) {
    for (int t = 0; t < 4; t++) {
        vkd_gemm_t g = plain(9, 7, 5, t & 1, t >> 1);
        g.alpha = 0.8f;
        fd_case(T, g);
    }
    // Shared B over 3 batches: db sums the batches.
    vkd_gemm_t g = plain(6, 5, 4, 0, 1);
    g.batch = 3, g.stride_a = 6 * 4, g.stride_b = 0, g.stride_c = 6 * 5;
    fd_case(T, g);
    // Shared transposed A, padded B batches.
    g = plain(6, 5, 4, 1, 0);
    g.batch = 2, g.stride_a = 0, g.stride_b = 4 * 5 + 3, g.stride_c = 6 * 5;
    fd_case(T, g);
    // Shared output (stride_c = 0): dc is shared by every batch.
    g = plain(5, 4, 3, 0, 0);
    g.batch = 3, g.stride_a = 5 * 3, g.stride_b = 3 * 4, g.stride_c = 0, g.alpha = -0.5f;
    fd_case(T, g);
}

// dbias alone over many rows (the threaded column sum), against a double sum.
static void cpu_gemm_bias_grad_many_rows(tctx_t *T) {
    const int M = 3001, N = 37, batch = 3;
    vkd_gemm_t g = plain(M, N, 1, 0, 0);
    g.batch = batch, g.stride_c = (int64_t)M * N;
    const size_t nc = (size_t)M * N * batch;
    float *dcv = alloc_floats(nc), *init = alloc_floats(N), *ref = alloc_floats(N);
    test_fill_uniform(&T->seed, dcv, nc, -1, 1);
    test_fill_uniform(&T->seed, init, (size_t)N, -1, 1);
    for (int n = 0; n < N; n++) {
        double s = init[n];
        for (size_t r = 0; r < (size_t)M * batch; r++) s += dcv[r * N + n];
        ref[n] = (float)s;
    }
    vkd_buf_t dc = test_buf(T, T->cpu_arena, dcv, nc), db = test_buf(T, T->cpu_arena, init, N);
    if (vkd_buf_present(db) &&
        op_gemm_backward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, db, dc, VKD_BUF_NONE, VKD_BUF_NONE,
                         &g) == VKD_OK)
        test_compare(T, "dbias 9003 rows", db.host, ref, (size_t)N, 1e-5);
    else
        test_fail(T, __FILE__, __LINE__, "op_gemm_backward: %s", vkd_last_error());
    free(dcv), free(init), free(ref);
}

// ---- CPU against Vulkan -------------------------------------------------------------------

// Forward of one case on both backends (the Vulkan one with both tilings), same inputs.
static void check_vk_case(tctx_t *T, vkd_gemm_t g, int with_bias, int c0_nan) {
    gemm_data_t d;
    make_data(T, &g, c0_nan, &d);
    float *ref = run_fwd(T, T->cpu, T->cpu_arena, &g, &d, with_bias);
    for (int shared = 0; shared < 2 && ref; shared++) {
        setenv("VKDREAM_GEMM_SHARED", shared ? "1" : "0", 1);
        float *got = run_fwd(T, T->vk, T->vk_arena, &g, &d, with_bias);
        char name[160];
        describe(name, sizeof name, shared ? "vk-shared" : "vk-direct", &g, with_bias);
        if (got) test_compare(T, name, got, ref, d.nc, 1e-4);
        free(got);
        vkd_arena_reset(T->vk_arena);
    }
    unsetenv("VKDREAM_GEMM_SHARED");
    free(ref), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
}

static void vk_gemm_forward(tctx_t *T) {
    static const int sizes[][3] = {{1, 1, 1}, {33, 17, 65}, {130, 70, 129}, {64, 64, 8}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++) {
            vkd_gemm_t g = plain(sizes[s][0], sizes[s][1], sizes[s][2], t & 1, t >> 1);
            g.alpha = 0.75f, g.beta = (s & 1) ? 0.5f : 0.0f;
            check_vk_case(T, g, (t + (int)s) & 1, 0);
        }
}

static void vk_gemm_batched_and_nan(tctx_t *T) {
    vkd_gemm_t g = plain(21, 13, 11, 0, 1);
    g.batch = 3, g.stride_a = 21 * 11 + 7, g.stride_b = 0, g.stride_c = 21 * 13 + 5;
    g.alpha = 0.5f, g.beta = 2.0f;
    check_vk_case(T, g, 1, 0);
    g = plain(70, 90, 33, 1, 0);
    g.batch = 4, g.stride_a = 0, g.stride_b = 33 * 90, g.stride_c = 70 * 90;
    check_vk_case(T, g, 0, 0);
    g = plain(21, 13, 11, 1, 1); // shared output
    g.batch = 5, g.stride_a = 21 * 11, g.stride_b = 11 * 13, g.stride_c = 0, g.beta = -1.0f;
    check_vk_case(T, g, 1, 0);
    g = plain(19, 67, 7, 0, 0); // beta = 0 must not read the NaNs in C
    check_vk_case(T, g, 0, 1);
    check_vk_case(T, g, 1, 1);
}

// The project's shapes (MLP layers over many rows, a 3x3 conv as GEMM), rows reduced.
static void vk_gemm_project_shapes(tctx_t *T) {
    vkd_gemm_t g = plain(4096, 64, 64, 0, 1); // x (rows, in) . W^T, W (out, in)
    check_vk_case(T, g, 1, 0);
    g = plain(4096, 128, 128, 0, 0);
    check_vk_case(T, g, 1, 0);
    g = plain(64, 64, 4096, 1, 0); // weight gradient: x^T dy
    g.beta = 1.0f;
    check_vk_case(T, g, 0, 0);
    g = plain(1024, 64, 576, 0, 0);
    check_vk_case(T, g, 0, 0);
}

// Backward on both backends from the same inputs; da/db/dbias start non-zero.
static void check_vk_backward(tctx_t *T, vkd_gemm_t g) {
    gemm_data_t d;
    make_data(T, &g, 0, &d);
    float *g0a = alloc_floats(d.na), *g0b = alloc_floats(d.nb), *g0bias = alloc_floats(g.N);
    float *dcv = alloc_floats(d.nc);
    test_fill_uniform(&T->seed, g0a, d.na, -1, 1);
    test_fill_uniform(&T->seed, g0b, d.nb, -1, 1);
    test_fill_uniform(&T->seed, g0bias, (size_t)g.N, -1, 1);
    test_fill_uniform(&T->seed, dcv, d.nc, -1, 1);
    float *res[2][3] = {{NULL}};
    for (int k = 0; k < 2; k++) {
        vkd_backend_t *be = k ? T->vk : T->cpu;
        vkd_arena_t *ar = k ? T->vk_arena : T->cpu_arena;
        vkd_buf_t a = test_buf(T, ar, d.a, d.na), b = test_buf(T, ar, d.b, d.nb);
        vkd_buf_t dc = test_buf(T, ar, dcv, d.nc);
        vkd_buf_t da = test_buf(T, ar, g0a, d.na), db = test_buf(T, ar, g0b, d.nb);
        vkd_buf_t dbias = test_buf(T, ar, g0bias, (size_t)g.N);
        if (!vkd_buf_present(dbias)) break;
        if (op_gemm_backward(be, da, db, dbias, dc, a, b, &g) != VKD_OK) {
            test_fail(T, __FILE__, __LINE__, "op_gemm_backward: %s", vkd_last_error());
            break;
        }
        res[k][0] = test_read(T, da, d.na);
        res[k][1] = test_read(T, db, d.nb);
        res[k][2] = test_read(T, dbias, (size_t)g.N);
    }
    if (res[1][2]) {
        char name[160];
        static const char *what[3] = {"vk da", "vk db", "vk dbias"};
        const size_t n[3] = {d.na, d.nb, (size_t)g.N};
        for (int i = 0; i < 3; i++) {
            describe(name, sizeof name, what[i], &g, 1);
            test_compare(T, name, res[1][i], res[0][i], n[i], 1e-4);
        }
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 3; i++) free(res[k][i]);
    free(g0a), free(g0b), free(g0bias), free(dcv), free_data(&d);
    vkd_arena_reset(T->cpu_arena);
    vkd_arena_reset(T->vk_arena);
}

static void vk_gemm_backward(tctx_t *T) {
    for (int t = 0; t < 4; t++) {
        vkd_gemm_t g = plain(45, 38, 29, t & 1, t >> 1);
        g.alpha = 1.5f;
        check_vk_backward(T, g);
    }
    vkd_gemm_t g = plain(33, 20, 17, 0, 1); // shared weight over the batch
    g.batch = 3, g.stride_a = 33 * 17, g.stride_b = 0, g.stride_c = 33 * 20;
    check_vk_backward(T, g);
    g = plain(33, 20, 17, 1, 0); // shared A, shared output
    g.batch = 2, g.stride_a = 0, g.stride_b = 17 * 20, g.stride_c = 0;
    check_vk_backward(T, g);
    g = plain(4096, 64, 64, 0, 1); // an MLP layer: dbias over 4096 rows
    check_vk_backward(T, g);
}

// Sums too long for one shader invocation on llvmpipe (65535 loop iterations in total per
// invocation, src/vk.h), which the Vulkan body must split into dispatches adding into C:
// a NeRF weight gradient x^T dy over 262144 rows (K = 262144: 65536 iterations in
// gemm_direct.comp, ~917k in gemm.comp) with beta and bias applied once; K = 20000 with
// NaN in C and beta = 0 (only gemm.comp splits: later slices must add to the first's
// result, never read the NaNs); a shared output summed over 20000 batches; and dbias
// over 1M rows (125k iterations). Other devices run each in one dispatch.
static void vk_gemm_long_sums(tctx_t *T) {
    vkd_gemm_t g = plain(64, 64, 262144, 1, 0);
    g.beta = 0.5f;
    check_vk_case(T, g, 1, 0);
    g = plain(64, 64, 20000, 1, 0);
    check_vk_case(T, g, 1, 1);
    g = plain(4, 5, 4, 0, 0);
    g.batch = 20000, g.stride_a = 4 * 4, g.stride_b = 4 * 5, g.stride_c = 0, g.beta = -1.0f;
    check_vk_case(T, g, 1, 0);

    const int rows = 1000000, N = 20;
    const size_t nc = (size_t)rows * N;
    float *dcv = alloc_floats(nc), init[20];
    test_fill_uniform(&T->seed, dcv, nc, 0, 1);
    test_fill_uniform(&T->seed, init, (size_t)N, -1, 1);
    g = plain(rows, N, 1, 0, 0);
    float *res[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        vkd_arena_t *ar = k ? T->vk_arena : T->cpu_arena;
        vkd_buf_t dc = test_buf(T, ar, dcv, nc), db = test_buf(T, ar, init, (size_t)N);
        if (!vkd_buf_present(db)) break;
        if (op_gemm_backward(k ? T->vk : T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, db, dc, VKD_BUF_NONE,
                             VKD_BUF_NONE, &g) != VKD_OK) {
            test_fail(T, __FILE__, __LINE__, "op_gemm_backward: %s", vkd_last_error());
            break;
        }
        res[k] = test_read(T, db, (size_t)N);
    }
    if (res[0] && res[1]) test_compare(T, "vk dbias 1M rows x 20", res[1], res[0], (size_t)N, 1e-4);
    free(res[0]), free(res[1]), free(dcv);
    vkd_arena_reset(T->cpu_arena);
    vkd_arena_reset(T->vk_arena);
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_gemm_transposes),
    TCASE_CPU(cpu_gemm_odd_sizes),
    TCASE_CPU(cpu_gemm_batched),
    TCASE_CPU(cpu_gemm_beta0_ignores_nan),
    TCASE_CPU(cpu_gemm_rejects_bad_arguments),
    TCASE_CPU(cpu_gemm_backward_fd),
    TCASE_CPU(cpu_gemm_bias_grad_many_rows),
    TCASE_VK(vk_gemm_forward),
    TCASE_VK(vk_gemm_batched_and_nan),
    TCASE_VK(vk_gemm_project_shapes),
    TCASE_VK(vk_gemm_backward),
    TCASE_VK(vk_gemm_long_sums),
};

TEST_MAIN(cases)
