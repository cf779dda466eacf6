// Sum / mean over the middle axis of (outer, n, inner): naive double references, a
// 1e6-element sum against double (where a naive float loop is off by ~1e-5..1e-4),
// finite differences of the backward, empty axes, and CPU against Vulkan for both
// shader strategies (invocation per output, workgroup per output) with timings.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_util.h"

// out (outer, inner) in double, rounded to float at the end.
static void ref_reduce(float *out, const float *x, const vkd_reduce_t *d) {
    for (size_t o = 0; o < d->outer; o++)
        for (size_t j = 0; j < d->inner; j++) {
            double s = 0;
            for (size_t i = 0; i < d->n; i++) s += x[(o * d->n + i) * d->inner + j];
            out[o * d->inner + j] = (float)(d->mean ? s / (double)d->n : s);
        }
}

static const vkd_reduce_t small_cases[] = {
    {3, 5, 7, 0},   {3, 5, 7, 1},    {1, 1, 1, 0},  {2, 1000, 1, 1},
    {4, 3, 300, 0}, {1, 1, 17, 1},   {5, 1, 1, 0},  {2, 40000, 3, 0},
};

static void reduce_ref(tctx_t *T) {
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof small_cases / sizeof small_cases[0]; ci++) {
        const vkd_reduce_t *d = &small_cases[ci];
        const size_t nin = d->outer * d->n * d->inner, nout = d->outer * d->inner;
        float *x = test_alloc(nin), *ref = test_alloc(nout);
        test_fill_normal(&st, x, nin, 1.0f);
        for (size_t i = 0; i < nin; i++) x[i] += 0.5f; // sums far from 0
        ref_reduce(ref, x, d);
        vkd_arena_reset(T->cpu_arena);
        vkd_buf_t in = test_buf(T, T->cpu_arena, x, nin);
        vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, nout);
        CHECK_OK(T, op_reduce_forward(T->cpu, out, in, d));
        char name[96];
        snprintf(name, sizeof name, "%s (%zu, %zu, %zu)", d->mean ? "mean" : "sum", d->outer, d->n,
                 d->inner);
        test_compare(T, name, out.host, ref, nout, 1e-6);
        free(x), free(ref);
    }
}

// A 1e6-element sum of U(0, 1) in float: a running float sum drifts by ~1e-5 relative
// here (the partial sum reaches 5e5, whose ulp is 0.03); the op must stay within 1e-5
// of double (Kahan: ~1e-7).
static void reduce_long_sum(tctx_t *T) {
    const size_t n = 1000000;
    uint64_t st = T->seed;
    float *x = test_alloc(n);
    test_fill_uniform(&st, x, n, 0.0f, 1.0f);
    double s = 0;
    float naive = 0;
    for (size_t i = 0; i < n; i++) s += x[i], naive += x[i];
    vkd_buf_t in = test_buf(T, T->cpu_arena, x, n), out = test_buf(T, T->cpu_arena, NULL, 1);
    const vkd_reduce_t d = {1, n, 1, 0};
    CHECK_OK(T, op_reduce_forward(T->cpu, out, in, &d));
    double rel = fabs(out.host[0] - s) / s;
    printf("  sum of 1e6: rel err %.3g (a naive float loop: %.3g)\n", rel, fabs(naive - s) / s);
    CHECK(T, rel <= 1e-5, "1e6 sum: rel err %.3g > 1e-5", rel);
    free(x);
}

typedef struct {
    vkd_backend_t *be;
    vkd_buf_t out, in;
    const vkd_reduce_t *d;
    const float *w; // (outer, inner)
} reduce_loss_t;

static double reduce_loss(void *p) {
    reduce_loss_t *c = p;
    if (op_reduce_forward(c->be, c->out, c->in, c->d) != VKD_OK) return NAN;
    double l = 0;
    for (size_t q = 0; q < c->d->outer * c->d->inner; q++) l += (double)c->w[q] * c->out.host[q];
    return l;
}

static void reduce_fd(tctx_t *T) {
    const vkd_reduce_t cases[] = {{3, 5, 7, 0}, {3, 5, 7, 1}, {2, 9, 1, 1}, {1, 1, 1, 0}};
    uint64_t st = T->seed;
    for (int ci = 0; ci < 4; ci++) {
        const vkd_reduce_t *d = &cases[ci];
        const size_t nin = d->outer * d->n * d->inner, nout = d->outer * d->inner;
        float *x = test_alloc(nin), *w = test_alloc(nout), *ana = test_alloc(nin);
        test_fill_normal(&st, x, nin, 1.0f);
        test_fill_uniform(&st, w, nout, -1.0f, 1.0f);
        vkd_arena_reset(T->cpu_arena);
        vkd_buf_t in = test_buf(T, T->cpu_arena, x, nin);
        vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, nout);
        vkd_buf_t dx = test_buf(T, T->cpu_arena, NULL, nin);
        vkd_buf_t dy = test_buf(T, T->cpu_arena, w, nout);
        CHECK_OK(T, op_fill(T->cpu, dx, 0.5f, nin)); // the backward accumulates onto this
        CHECK_OK(T, op_reduce_backward(T->cpu, dx, dy, d));
        for (size_t i = 0; i < nin; i++) ana[i] = dx.host[i] - 0.5f;
        reduce_loss_t c = {T->cpu, out, in, d, w};
        char name[96];
        snprintf(name, sizeof name, "%s (%zu, %zu, %zu) backward", d->mean ? "mean" : "sum",
                 d->outer, d->n, d->inner);
        test_fd_check(T, name, reduce_loss, &c, in.host, ana, nin, 128, 1e-2f, 1e-2);
        free(x), free(w), free(ana);
    }
}

static void reduce_empty(tctx_t *T) {
    vkd_buf_t out = test_buf(T, T->cpu_arena, NULL, 6);
    CHECK_OK(T, op_fill(T->cpu, out, 9.0f, 6));
    const vkd_reduce_t sum0 = {2, 0, 3, 0}, mean0 = {2, 0, 3, 1}, outer0 = {0, 5, 3, 0};
    CHECK_OK(T, op_reduce_forward(T->cpu, out, VKD_BUF_NONE, &sum0));
    for (int i = 0; i < 6; i++) CHECK(T, out.host[i] == 0.0f, "sum over n = 0 must be 0");
    CHECK(T, op_reduce_forward(T->cpu, out, VKD_BUF_NONE, &mean0) == VKD_ERR_INVALID,
          "mean over n = 0 accepted");
    CHECK_OK(T, op_reduce_forward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, &outer0));
    CHECK_OK(T, op_reduce_backward(T->cpu, VKD_BUF_NONE, VKD_BUF_NONE, &sum0));
    const vkd_reduce_t big = {2, 4, 3, 0};
    CHECK(T, op_reduce_forward(T->cpu, out, out, &big) == VKD_ERR_INVALID, "short inp accepted");
}

// ---- CPU against Vulkan -------------------------------------------------------------------

static void vk_reduce(tctx_t *T) {
    // Workgroup per output: (1, 1e6, 1), (3, 1000, 5), (2, 2000, 40) (few, long sums).
    // Invocation per output: (70000, 64, 1), (7, 50, 300), (100000, 3, 1), (1, 1, 1).
    const vkd_reduce_t cases[] = {
        {1, 1000000, 1, 0}, {3, 1000, 5, 1},   {2, 2000, 40, 0}, {70000, 64, 1, 1},
        {7, 50, 300, 1},    {100000, 3, 1, 0}, {1, 1, 1, 1},
    };
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const vkd_reduce_t *d = &cases[ci];
        const size_t nin = d->outer * d->n * d->inner, nout = d->outer * d->inner;
        float *x = test_alloc(nin), *g = test_alloc(nout), *ref = test_alloc(nout);
        test_fill_uniform(&st, x, nin, -0.5f, 1.5f);
        test_fill_normal(&st, g, nout, 1.0f);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
        vkd_buf_t cx = test_buf(T, T->cpu_arena, x, nin);
        vkd_buf_t co = test_buf(T, T->cpu_arena, NULL, nout);
        vkd_buf_t cdx = test_buf(T, T->cpu_arena, NULL, nin);
        vkd_buf_t cg = test_buf(T, T->cpu_arena, g, nout);
        vkd_buf_t vx = test_buf(T, T->vk_arena, x, nin), vo = test_buf(T, T->vk_arena, NULL, nout);
        vkd_buf_t vdx = test_buf(T, T->vk_arena, NULL, nin), vg = test_buf(T, T->vk_arena, g, nout);
        CHECK_OK(T, op_reduce_forward(T->vk, vo, vx, d)); // warm-up: pipeline creation
        CHECK_OK(T, vkd_backend_sync(T->vk));
        double t0 = test_now_ms();
        CHECK_OK(T, op_reduce_forward(T->vk, vo, vx, d));
        CHECK_OK(T, vkd_backend_sync(T->vk));
        double t_vk = test_now_ms() - t0;
        t0 = test_now_ms();
        CHECK_OK(T, op_reduce_forward(T->cpu, co, cx, d));
        double t_cpu = test_now_ms() - t0;
        CHECK_OK(T, op_fill(T->cpu, cdx, 0.25f, nin));
        CHECK_OK(T, op_fill(T->vk, vdx, 0.25f, nin));
        CHECK_OK(T, op_reduce_backward(T->cpu, cdx, cg, d));
        CHECK_OK(T, op_reduce_backward(T->vk, vdx, vg, d));
        float *o = test_read(T, vo, nout), *dx = test_read(T, vdx, nin);
        char name[96];
        snprintf(name, sizeof name, "%s (%zu, %zu, %zu)", d->mean ? "mean" : "sum", d->outer, d->n,
                 d->inner);
        printf("  %s forward: vulkan %.2f ms (incl. submit), cpu %.2f ms\n", name, t_vk, t_cpu);
        test_compare(T, name, o, co.host, nout, 1e-4);
        test_compare(T, "  backward", dx, cdx.host, nin, 1e-4);
        if (d->n == 1000000) {
            ref_reduce(ref, x, d);
            test_compare(T, "  1e6 sum vs double", o, ref, nout, 1e-5);
        }
        free(x), free(g), free(ref), free(o), free(dx);
    }
}

// Sums too long for one shader invocation on llvmpipe (it silently ends an invocation's
// loops after 65535 iterations in total): (1, 20M, 1) is 78k iterations per invocation
// and (1, 16777000, 2) 65536 (its 128 MiB input is the most one binding may hold), so
// the Vulkan body must split n into accumulated chunks. On other devices the same
// shapes run in one dispatch.
static void vk_reduce_long(tctx_t *T) {
    const vkd_reduce_t cases[] = {{1, 20000000, 1, 0}, {1, 20000000, 1, 1}, {1, 16777000, 2, 1}};
    uint64_t st = T->seed;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const vkd_reduce_t *d = &cases[ci];
        const size_t nin = d->outer * d->n * d->inner, nout = d->outer * d->inner;
        float *x = test_alloc(nin), *ref = test_alloc(nout);
        test_fill_uniform(&st, x, nin, -0.5f, 1.5f);
        ref_reduce(ref, x, d);
        vkd_arena_reset(T->cpu_arena);
        vkd_arena_reset(T->vk_arena);
        vkd_buf_t cx = test_buf(T, T->cpu_arena, x, nin);
        vkd_buf_t co = test_buf(T, T->cpu_arena, NULL, nout);
        vkd_buf_t vx = test_buf(T, T->vk_arena, x, nin), vo = test_buf(T, T->vk_arena, NULL, nout);
        CHECK_OK(T, op_fill(T->vk, vo, 12345.0f, nout)); // the first chunk must overwrite this
        CHECK_OK(T, op_reduce_forward(T->cpu, co, cx, d));
        double t0 = test_now_ms();
        CHECK_OK(T, op_reduce_forward(T->vk, vo, vx, d));
        CHECK_OK(T, vkd_backend_sync(T->vk));
        const double t_vk = test_now_ms() - t0;
        float *o = test_read(T, vo, nout);
        char name[96];
        snprintf(name, sizeof name, "%s (%zu, %zu, %zu)", d->mean ? "mean" : "sum", d->outer, d->n,
                 d->inner);
        printf("  %s: vulkan %.1f ms\n", name, t_vk);
        test_compare(T, name, o, co.host, nout, 1e-4);
        test_compare(T, "  vs double", o, ref, nout, 1e-5);
        free(x), free(ref), free(o);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(reduce_ref), TCASE_CPU(reduce_long_sum), TCASE_CPU(reduce_fd),
    TCASE_CPU(reduce_empty), TCASE_VK(vk_reduce), TCASE_VK(vk_reduce_long),
};
TEST_MAIN(cases)
