// Softmax over the last axis with a scale: naive double references (including logits of
// +-1000, where an unshifted exp overflows), D = 1, rows longer than a workgroup,
// finite differences of the backward, and CPU against Vulkan for rows served by 1 to 128
// invocations each (several rows per workgroup, or one long row) with timings.
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "test_util.h"

static float *fmalloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

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
    float *y = fmalloc((size_t)N * D);
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
        float *x = fmalloc(nd), *ref = fmalloc(nd), *g = fmalloc(nd), *dref = fmalloc(nd);
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
    float *x = fmalloc(nd), *w = fmalloc(nd), *ana = fmalloc(nd);
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
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const sm_case_t *c = &cases[ci];
        const size_t nd = (size_t)c->N * c->D;
        float *x = fmalloc(nd), *g = fmalloc(nd);
        test_fill_normal(&st, x, nd, c->spread);
        test_fill_normal(&st, g, nd, 1.0f);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
        vkd_buf_t cx = test_buf(T, T->cpu_arena, x, nd), cy = test_buf(T, T->cpu_arena, NULL, nd);
        vkd_buf_t cdx = test_buf(T, T->cpu_arena, NULL, nd), cg = test_buf(T, T->cpu_arena, g, nd);
        vkd_buf_t vx = test_buf(T, T->vk_arena, x, nd), vy = test_buf(T, T->vk_arena, NULL, nd);
        vkd_buf_t vdx = test_buf(T, T->vk_arena, NULL, nd), vg = test_buf(T, T->vk_arena, g, nd);
        CHECK_OK(T, op_softmax_forward(T->vk, vy, vx, c->N, c->D, c->scale)); // warm-up
        CHECK_OK(T, vkd_backend_sync(T->vk));
        double t0 = now_ms();
        CHECK_OK(T, op_softmax_forward(T->vk, vy, vx, c->N, c->D, c->scale));
        CHECK_OK(T, vkd_backend_sync(T->vk));
        double t_vk = now_ms() - t0;
        t0 = now_ms();
        CHECK_OK(T, op_softmax_forward(T->cpu, cy, cx, c->N, c->D, c->scale));
        double t_cpu = now_ms() - t0;
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
        free(x), free(g), free(y), free(dx);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(softmax_ref),
    TCASE_CPU(softmax_fd),
    TCASE_VK(vk_softmax),
};
TEST_MAIN(cases)
