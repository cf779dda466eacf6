// Softmax over the last axis with a scale: naive double references (including logits of
// +-1000, where an unshifted exp overflows), D = 1, rows longer than a workgroup,
// finite differences of the backward, and CPU against Vulkan for rows served by 1 to 128
// invocations each (several rows per workgroup, or one long row) with timings.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

// y (N, D) = softmax(scale x) in double.
static void ref_softmax(float *y, const float *x, int N, int D, float scale) {
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D;
        double m = -INFINITY, s = 0;
        for (int j = 0; j < D; j++) m = fmax(m, (double)scale * xr[j]);
        for (int j = 0; j < D; j++) s += exp((double)scale * xr[j] - m);
        for (int j = 0; j < D; j++)
            y[(size_t)r * D + j] = (float)(exp((double)scale * xr[j] - m) / s);
    }
}

// dx (N, D) = scale y (dy - sum dy y) in double, from the double softmax of x.
static void ref_softmax_bwd(float *dx, const float *dy, const float *x, int N, int D,
                            float scale) {
    float *y = test_alloc((size_t)N * D);
    ref_softmax(y, x, N, D, scale);
    for (int r = 0; r < N; r++) {
        size_t o = (size_t)r * D;
        double dot = 0;
        for (int j = 0; j < D; j++) dot += (double)dy[o + j] * y[o + j];
        for (int j = 0; j < D; j++)
            dx[o + j] = (float)(scale * (double)y[o + j] * (dy[o + j] - dot));
    }
    free(y);
}

typedef struct {
    int N, D;
    float scale, spread; // logits ~ N(0, spread)
} sm_case_t;

static void softmax_ref(tctx_t *T) {
    const sm_case_t cases[] = {
        {3, 7, 1.0f, 2.0f},     {5, 1, 1.0f, 1.0f},   {4, 300, 0.125f, 4.0f},
        {2, 4097, 1.0f, 1.0f},  {3, 16, -2.0f, 1.0f}, {2, 9, 1.0f, 1000.0f}, // |logits| ~1000
    };
    uint64_t st = T->seed;
    for (int ci = 0; ci < 6; ci++) {
        const sm_case_t *c = &cases[ci];
        const size_t nd = (size_t)c->N * c->D;
        float *x = test_alloc(nd), *ref = test_alloc(nd), *g = test_alloc(nd), *dref = test_alloc(nd);
        test_fill_normal(&st, x, nd, c->spread);
        test_fill_normal(&st, g, nd, 1.0f);
        ref_softmax(ref, x, c->N, c->D, c->scale);
        ref_softmax_bwd(dref, g, x, c->N, c->D, c->scale);
        vkd_arena_reset(T->cpu_arena);
        vkd_buf_t in = test_buf(T, T->cpu_arena, x, nd), out = test_buf(T, T->cpu_arena, NULL, nd);
        vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, nd), dy = test_buf(T, T->cpu_arena, g, nd);
        CHECK_OK(T, op_softmax_forward(T->cpu, out, in, c->N, c->D, c->scale));
        char name[96];
        snprintf(name, sizeof name, "softmax (%d, %d) scale %g spread %g", c->N, c->D,
                 (double)c->scale, (double)c->spread);
        test_compare(T, name, out.host, ref, nd, 1e-5);
        CHECK_OK(T, op_fill(T->cpu, dx, 0.0f, nd));
        CHECK_OK(T, op_softmax_backward(T->cpu, dx, dy, out, c->N, c->D, c->scale));
        test_compare(T, "  backward vs double", dx.host, dref, nd, 1e-5);
        for (size_t i = 0; i < nd; i++) CHECK(T, isfinite(out.host[i]), "non-finite output");
        // In place: out aliases inp.
        CHECK_OK(T, op_softmax_forward(T->cpu, in, in, c->N, c->D, c->scale));
        test_compare(T, "  in place", in.host, ref, nd, 1e-5);
        free(x), free(ref), free(g), free(dref);
    }
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t out, in;
    int N, D;
    float scale;
    const float *w; // (N, D)
} sm_loss_t;

static double sm_loss(void *p) {
    sm_loss_t *c = p;
    if (op_softmax_forward(c->be, c->out, c->in, c->N, c->D, c->scale) != VKD_OK) return NAN;
    double l = 0;
    for (size_t i = 0; i < (size_t)c->N * c->D; i++) l += (double)c->w[i] * c->out.host[i];
    return l;
}

static void softmax_fd(tctx_t *T) {
    const int N = 4, D = 13;
    const size_t nd = (size_t)N * D;
    const float scale = 0.7f;
    uint64_t st = T->seed;
    float *x = test_alloc(nd), *w = test_alloc(nd), *ana = test_alloc(nd);
    test_fill_normal(&st, x, nd, 2.0f);
    test_fill_uniform(&st, w, nd, -1.0f, 1.0f);
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, nd), out = test_buf(T, T->cpu_arena, NULL, nd);
    vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, nd), dy = test_buf(T, T->cpu_arena, w, nd);
    CHECK_OK(T, op_softmax_forward(T->cpu, out, in, N, D, scale));
    CHECK_OK(T, op_fill(T->cpu, dx, -0.5f, nd)); // the backward accumulates onto this
    CHECK_OK(T, op_softmax_backward(T->cpu, dx, dy, out, N, D, scale));
    for (size_t i = 0; i < nd; i++) ana[i] = dx.host[i] + 0.5f;
    sm_loss_t c = {T->cpu, out, in, N, D, scale, w};
    // eps 1e-2: each loss evaluation carries ~1e-8 of float rounding per output, which a
    // smaller step would amplify beyond the check's resolution on small entries.
    test_fd_check(T, "softmax (4, 13) backward", sm_loss, &c, in.host, ana, nd, 64, 1e-2f, 2e-2);
    // N = 0 / D = 0 are no-ops; negative sizes are rejected.
    CHECK_OK(T, op_softmax_forward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, 0, 5, 1.0f));
    CHECK_OK(T, op_softmax_backward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, VKD_BUF_NONE, 3, 0, 1.0f));
    CHECK(T, op_softmax_forward(T->cpu, out, in, -1, 5, 1.0f) == VKD_ERR_INVALID,
          "negative N accepted");
    CHECK(T, op_softmax_forward(T->cpu, out, in, N, D + 1, 1.0f) == VKD_ERR_INVALID,
          "short buffers accepted");
    free(x), free(w), free(ana);
}

// Forward and backward of one shape on both backends from the same inputs.
static void vk_softmax_case(tctx_t *T, const sm_case_t *c, uint64_t *st) {
    const size_t nd = (size_t)c->N * c->D;
    float *x = test_alloc(nd), *g = test_alloc(nd);
    test_fill_normal(st, x, nd, c->spread);
    test_fill_normal(st, g, nd, 1.0f);
    vkd_arena_reset(T->cpu_arena);
    vkd_arena_reset(T->vk_arena);
    vkd_buf_t cx = test_buf(T, T->cpu_arena, x, nd), cy = test_buf(T, T->cpu_arena, NULL, nd);
    vkd_buf_t cdx = test_buf(T, T->cpu_arena, NULL, nd), cg = test_buf(T, T->cpu_arena, g, nd);
    vkd_buf_t vx = test_buf(T, T->vk_arena, x, nd), vy = test_buf(T, T->vk_arena, NULL, nd);
    vkd_buf_t vdx = test_buf(T, T->vk_arena, NULL, nd), vg = test_buf(T, T->vk_arena, g, nd);
    free(x), free(g);
    CHECK_OK(T, op_softmax_forward(T->vk, vy, vx, c->N, c->D, c->scale)); // warm-up
    CHECK_OK(T, vkd_backend_sync(T->vk));
    double t0 = test_now_ms();
    CHECK_OK(T, op_softmax_forward(T->vk, vy, vx, c->N, c->D, c->scale));
    CHECK_OK(T, vkd_backend_sync(T->vk));
    double t_vk = test_now_ms() - t0;
    t0 = test_now_ms();
    CHECK_OK(T, op_softmax_forward(T->cpu, cy, cx, c->N, c->D, c->scale));
    double t_cpu = test_now_ms() - t0;
    CHECK_OK(T, op_fill(T->cpu, cdx, 0.125f, nd));
    CHECK_OK(T, op_fill(T->vk, vdx, 0.125f, nd));
    CHECK_OK(T, op_softmax_backward(T->cpu, cdx, cg, cy, c->N, c->D, c->scale));
    CHECK_OK(T, op_softmax_backward(T->vk, vdx, vg, vy, c->N, c->D, c->scale));
    float *y = test_read(T, vy, nd), *dx = test_read(T, vdx, nd);
    char name[96];
    snprintf(name, sizeof name, "softmax (%d, %d) scale %g", c->N, c->D, (double)c->scale);
    printf("  %s forward: vulkan %.2f ms (incl. submit), cpu %.2f ms\n", name, t_vk, t_cpu);
    test_compare(T, name, y, cy.host, nd, 1e-4);
    test_compare(T, "  backward", dx, cdx.host, nd, 1e-4);
    free(y), free(dx);
}

static void vk_softmax(tctx_t *T) {
    // One invocation per row: (1000, 7), (70000, 3), (5, 1), (1, 1). A segment of 8-16
    // per row: (2000, 77) (attention-like), (66000, 40). The whole workgroup per row:
    // (37, 4097), (64, 1000) (scale 0.3). (8500000, 1): more row blocks (of
    // 128 rows) than 65535 groups.
    const sm_case_t cases[] = {
        {1000, 7, 1.0f, 3.0f}, {70000, 3, 1.0f, 3.0f},   {5, 1, 1.0f, 1.0f},
        {1, 1, 2.0f, 1.0f},    {37, 4097, 1.0f, 3.0f},   {64, 1000, 0.3f, 10.0f},
        {2000, 77, 0.125f, 8.0f}, {66000, 40, 1.0f, 2.0f}, {8500000, 1, 1.0f, 1.0f},
    };
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        vk_softmax_case(T, &cases[ci], &st);
}

// Rows far longer than a workgroup: each invocation walks 1/128 of the row three times
// (forward) or twice (backward). On llvmpipe, whose budget is 65535 loop iterations per
// invocation (src/vk.h), a 1M row (3 x 7813) fits; a 3M row (3 x 23438) fits only the
// backward, and its forward must be refused rather than silently truncated; a 4.5M row
// is refused both ways. Other drivers compute them all.
static void vk_softmax_long_rows(tctx_t *T) {
    uint64_t st = T->seed;
    const sm_case_t fits = {1, 1000000, 1.0f, 3.0f}, too_long = {1, 3000000, 1.0f, 3.0f};
    vk_softmax_case(T, &fits, &st);
    if (!strstr(vkd_backend_name(T->vk), "llvmpipe")) {
        vk_softmax_case(T, &too_long, &st);
        return;
    }
    const int D = too_long.D, D2 = 4500000;
    float *x = test_alloc(D2), *g = test_alloc(D2);
    test_fill_normal(&st, x, D2, 3.0f);
    test_fill_normal(&st, g, D2, 1.0f);
    vkd_arena_reset(T->cpu_arena);
    vkd_arena_reset(T->vk_arena);
    vkd_buf_t cx = test_buf(T, T->cpu_arena, x, D2), cy = test_buf(T, T->cpu_arena, NULL, D2);
    vkd_buf_t cg = test_buf(T, T->cpu_arena, g, D2), cdx = test_buf(T, T->cpu_arena, NULL, D2);
    vkd_buf_t vx = test_buf(T, T->vk_arena, x, D2), vy = test_buf(T, T->vk_arena, NULL, D2);
    vkd_buf_t vg = test_buf(T, T->vk_arena, g, D2), vdx = test_buf(T, T->vk_arena, NULL, D2);
    free(x), free(g);
    vkd_status_t s = op_softmax_forward(T->vk, vy, vx, 1, D, 1.0f);
    CHECK(T, s == VKD_ERR_UNSUPPORTED, "llvmpipe: a row of 3M gave %s, not UNSUPPORTED",
          vkd_status_name(s));
    if (s == VKD_ERR_UNSUPPORTED) printf("  refused as expected: %s\n", vkd_last_error());
    // The backward of the same row fits: compare it from the CPU's forward.
    CHECK_OK(T, op_softmax_forward(T->cpu, cy, cx, 1, D, 1.0f));
    CHECK_OK(T, vkd_buf_write(vy, cy.host, (size_t)D * sizeof(float)));
    CHECK_OK(T, op_fill(T->cpu, cdx, 0.125f, (size_t)D));
    CHECK_OK(T, op_fill(T->vk, vdx, 0.125f, (size_t)D));
    CHECK_OK(T, op_softmax_backward(T->cpu, cdx, cg, cy, 1, D, 1.0f));
    CHECK_OK(T, op_softmax_backward(T->vk, vdx, vg, vy, 1, D, 1.0f));
    float *dx = test_read(T, vdx, (size_t)D);
    if (dx) test_compare(T, "softmax (1, 3000000) backward", dx, cdx.host, (size_t)D, 1e-4);
    free(dx);
    s = op_softmax_backward(T->vk, vdx, vg, vy, 1, D2, 1.0f);
    CHECK(T, s == VKD_ERR_UNSUPPORTED, "llvmpipe: backward of a row of 4.5M gave %s",
          vkd_status_name(s));
}

static const tcase_t cases[] = {
    TCASE_CPU(softmax_ref),
    TCASE_CPU(softmax_fd),
    TCASE_VK(vk_softmax),
    TCASE_VK(vk_softmax_long_rows),
};
TEST_MAIN(cases)
