// Adam / AdamW: several steps against a double-precision reference (bias corrections
// included), argument checks, and CPU against Vulkan over several steps.
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

// One step of the textbook update in double (Kingma & Ba; AdamW per Loshchilov & Hutter,
// decay applied to the pre-step parameter, as PyTorch does).
static void ref_step(double *p, double *m, double *v, const float *g, size_t n,
                     const vkd_adam_t *o) {
    const double b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay;
    const double bc1 = 1.0 - pow(b1, (double)o->step), bc2 = 1.0 - pow(b2, (double)o->step);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        if (o->adamw) p[i] *= 1.0 - lr * wd;
        else gi += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + o->eps);
    }
}

static void to_float(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void adam_ref(tctx_t *T) {
    const size_t n = 1000;
    uint64_t st = T->seed;
    const vkd_adam_t settings[] = {
        {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 0, 0},  // Adam with L2
        {2e-3f, 0.9f, 0.99f, 1e-6f, 0.1f, 1, 0},    // AdamW
        {1e-3f, 0.0f, 0.5f, 1e-8f, 0.0f, 1, 0},     // beta1 = 0 (RMSprop-like)
    };
    for (int si = 0; si < 3; si++) {
        vkd_adam_t o = settings[si];
        float *p0 = test_alloc(n), *g = test_alloc(n), *tmp = test_alloc(n);
        double *rp = calloc(n, sizeof(double)), *rm = calloc(n, sizeof(double));
        double *rv = calloc(n, sizeof(double));
        if (!rp || !rm || !rv) abort();
        test_fill_normal(&st, p0, n, 1.0f);
        for (size_t i = 0; i < n; i++) rp[i] = p0[i];
        vkd_arena_reset(T->cpu_arena);
        vkd_buf_t p = test_buf(T, T->cpu_arena, p0, n), m = test_buf(T, T->cpu_arena, NULL, n);
        vkd_buf_t v = test_buf(T, T->cpu_arena, NULL, n), gb = test_buf(T, T->cpu_arena, NULL, n);
        CHECK_OK(T, op_fill(T->cpu, m, 0.0f, n));
        CHECK_OK(T, op_fill(T->cpu, v, 0.0f, n));
        for (int step = 1; step <= 6; step++) {
            o.step = step;
            test_fill_normal(&st, g, n, step == 3 ? 1e-3f : 1.0f); // one step of tiny grads
            for (size_t i = 0; i < n; i++) gb.host[i] = g[i];
            CHECK_OK(T, op_adam_step(T->cpu, p, m, v, gb, n, &o));
            ref_step(rp, rm, rv, g, n, &o);
        }
        char name[64];
        snprintf(name, sizeof name, "%s lr %g b1 %g b2 %g: param", o.adamw ? "adamw" : "adam",
                 (double)o.lr, (double)o.beta1, (double)o.beta2);
        to_float(tmp, rp, n);
        test_compare(T, name, p.host, tmp, n, 1e-5);
        // The update itself (p - p0), which the parameter's magnitude would hide.
        for (size_t i = 0; i < n; i++) tmp[i] = (float)(rp[i] - p0[i]), g[i] = p.host[i] - p0[i];
        test_compare(T, "  param change", g, tmp, n, 1e-3);
        to_float(tmp, rm, n);
        test_compare(T, "  m", m.host, tmp, n, 1e-5);
        to_float(tmp, rv, n);
        test_compare(T, "  v", v.host, tmp, n, 1e-5);
        free(p0), free(g), free(tmp), free(rp), free(rm), free(rv);
    }
}

// At step 1 with zero moments, bias correction makes the update lr * g / (|g| + eps):
// each parameter moves by ~lr against its gradient's sign.
static void adam_first_step(tctx_t *T) {
    const size_t n = 64;
    uint64_t st = T->seed;
    float *g = test_alloc(n);
    test_fill_uniform(&st, g, n, 0.5f, 2.0f);
    for (size_t i = 0; i < n; i += 2) g[i] = -g[i];
    vkd_buf_t p = test_buf(T, T->cpu_arena, NULL, n), m = test_buf(T, T->cpu_arena, NULL, n);
    vkd_buf_t v = test_buf(T, T->cpu_arena, NULL, n), gb = test_buf(T, T->cpu_arena, g, n);
    CHECK_OK(T, op_fill(T->cpu, p, 1.0f, n));
    CHECK_OK(T, op_fill(T->cpu, m, 0.0f, n));
    CHECK_OK(T, op_fill(T->cpu, v, 0.0f, n));
    const vkd_adam_t o = {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1, 1};
    CHECK_OK(T, op_adam_step(T->cpu, p, m, v, gb, n, &o));
    for (size_t i = 0; i < n; i++) {
        float want = 1.0f - (g[i] > 0 ? 0.01f : -0.01f);
        CHECK(T, fabsf(p.host[i] - want) < 1e-6f, "step 1: p[%zu] = %.9g, want %.9g", i,
              (double)p.host[i], (double)want);
    }
    // Argument checks.
    vkd_adam_t bad = o;
    bad.step = 0;
    CHECK(T, op_adam_step(T->cpu, p, m, v, gb, n, &bad) == VKD_ERR_INVALID, "step 0 accepted");
    bad = o;
    bad.beta2 = 1.0f;
    CHECK(T, op_adam_step(T->cpu, p, m, v, gb, n, &bad) == VKD_ERR_INVALID, "beta2 = 1 accepted");
    CHECK(T, op_adam_step(T->cpu, p, m, v, gb, n + 1, &o) == VKD_ERR_INVALID,
          "short buffers accepted");
    const vkd_buf_t none = VKD_BUF_NONE;
    CHECK_OK(T, op_adam_step(T->cpu, none, none, none, none, 0, &o)); // n = 0
    free(g);
}

static void vk_adam(tctx_t *T) {
    const size_t sizes[] = {100003, 1};
    uint64_t st = T->seed;
    for (int si = 0; si < 2; si++) {
        const size_t n = sizes[si];
        for (int adamw = 0; adamw < 2; adamw++) {
            float *p0 = test_alloc(n), *g = test_alloc(n);
            test_fill_normal(&st, p0, n, 1.0f);
            vkd_arena_reset(T->cpu_arena);
            vkd_arena_reset(T->vk_arena);
            vkd_buf_t cp = test_buf(T, T->cpu_arena, p0, n);
            vkd_buf_t cm = test_buf(T, T->cpu_arena, NULL, n);
            vkd_buf_t cv = test_buf(T, T->cpu_arena, NULL, n);
            vkd_buf_t cg = test_buf(T, T->cpu_arena, NULL, n);
            vkd_buf_t vp = test_buf(T, T->vk_arena, p0, n), vm = test_buf(T, T->vk_arena, NULL, n);
            vkd_buf_t vv = test_buf(T, T->vk_arena, NULL, n);
            vkd_buf_t vg = test_buf(T, T->vk_arena, NULL, n);
            CHECK_OK(T, op_fill(T->cpu, cm, 0.0f, n));
            CHECK_OK(T, op_fill(T->cpu, cv, 0.0f, n));
            CHECK_OK(T, op_fill(T->vk, vm, 0.0f, n));
            CHECK_OK(T, op_fill(T->vk, vv, 0.0f, n));
            vkd_adam_t o = {3e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, adamw, 0};
            for (int step = 1; step <= 5; step++) {
                o.step = step;
                test_fill_normal(&st, g, n, 1.0f);
                CHECK_OK(T, vkd_buf_write(cg, g, n * sizeof(float)));
                CHECK_OK(T, vkd_buf_write(vg, g, n * sizeof(float)));
                CHECK_OK(T, op_adam_step(T->cpu, cp, cm, cv, cg, n, &o));
                CHECK_OK(T, op_adam_step(T->vk, vp, vm, vv, vg, n, &o));
            }
            float *p = test_read(T, vp, n), *m = test_read(T, vm, n), *v = test_read(T, vv, n);
            char name[64];
            snprintf(name, sizeof name, "%s n=%zu, 5 steps: param", adamw ? "adamw" : "adam", n);
            test_compare(T, name, p, cp.host, n, 1e-4);
            test_compare(T, "  m", m, cm.host, n, 1e-4);
            test_compare(T, "  v", v, cv.host, n, 1e-4);
            free(p0), free(g), free(p), free(m), free(v);
        }
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(adam_ref),
    TCASE_CPU(adam_first_step),
    TCASE_VK(vk_adam),
};
TEST_MAIN(cases)
