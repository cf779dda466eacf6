// embedding backward: CPU against a naive double scatter-add (repeated ids, accumulation
// onto a non-zero gradient, a size that uses the parallel column split), finite
// differences of a lookup computed in the test, argument checks (every id is validated),
// and CPU against Vulkan.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct {
    int N, V, D;
} ecase_t;

// ids with many repeats (N > V in some cases) and both ends of the vocabulary.
static int32_t *make_ids(tctx_t *T, const ecase_t *c) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)c->N);
    float *u = test_alloc((size_t)c->N);
    if (!ids) abort();
    test_fill_uniform(&T->seed, u, (size_t)c->N, 0, 1);
    for (int i = 0; i < c->N; i++) {
        int id = (int)(u[i] * c->V);
        ids[i] = id >= c->V ? c->V - 1 : id;
    }
    ids[0] = 0, ids[c->N - 1] = c->V - 1;
    if (c->N > 2) ids[1] = 0; // a repeat even when N is small
    free(u);
    return ids;
}

static const ecase_t shapes[] = {
    {1, 1, 1},       // everything 1
    {5, 3, 7},       // N > V: every row repeated
    {77, 1000, 33},  // a CLIP prompt, D not a multiple of anything
    {154, 49, 768},  // two prompts, D over several column blocks
    {600, 500, 1024}, // big enough for the parallel column split
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void check_ref(tctx_t *T, const ecase_t *c) {
    const size_t nw = (size_t)c->V * c->D, ny = (size_t)c->N * c->D;
    int32_t *ids = make_ids(T, c);
    float *g0 = test_alloc(nw), *dy = test_alloc(ny), *ref = test_alloc(nw);
    test_fill_uniform(&T->seed, g0, nw, -1, 1);
    test_fill_uniform(&T->seed, dy, ny, -1, 1);
    double *acc = calloc(nw, sizeof(double));
    if (!acc) abort();
    for (int i = 0; i < c->N; i++)
        for (int j = 0; j < c->D; j++) acc[(size_t)ids[i] * c->D + j] += dy[(size_t)i * c->D + j];
    for (size_t i = 0; i < nw; i++) ref[i] = (float)(g0[i] + acc[i]);
    vkd_buf_t gw = test_buf(T, T->cpu_arena, g0, nw), gy = test_buf(T, T->cpu_arena, dy, ny);
    vkd_status_t st = op_embedding_backward(T->cpu, gw, gy, ids, c->N, c->V, c->D);
    CHECK(T, st == VKD_OK, "op_embedding_backward: %s", vkd_last_error());
    if (st == VKD_OK) {
        char name[96];
        snprintf(name, sizeof name, "cpu N%d V%d D%d", c->N, c->V, c->D);
        float *got = test_read(T, gw, nw);
        if (got) test_compare(T, name, got, ref, nw, 1e-6);
        free(got);
    }
    free(ids), free(g0), free(dy), free(ref), free(acc);
    vkd_arena_reset(T->cpu_arena);
}

static void cpu_embedding_bwd_reference(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) check_ref(T, &shapes[s]);
}

// ---- finite differences of the lookup -------------------------------------------------
typedef struct {
    const ecase_t *c;
    const int32_t *ids;
    const float *w, *R; // w (V, D) perturbed in place; R (N, D) = dL/dout
} fd_ctx_t;

// L = sum_i sum_j R[i][j] * w[ids[i]][j], the lookup written out in the test.
static double emb_loss(void *p) {
    const fd_ctx_t *f = p;
    double l = 0;
    for (int i = 0; i < f->c->N; i++)
        for (int j = 0; j < f->c->D; j++)
            l += (double)f->R[(size_t)i * f->c->D + j] * f->w[(size_t)f->ids[i] * f->c->D + j];
    return l;
}

static void cpu_embedding_bwd_fd(tctx_t *T) {
    const ecase_t c = {13, 6, 9};
    const size_t nw = (size_t)c.V * c.D, ny = (size_t)c.N * c.D;
    int32_t *ids = make_ids(T, &c);
    float *w = test_alloc(nw), *R = test_alloc(ny);
    test_fill_uniform(&T->seed, w, nw, -1, 1);
    test_fill_uniform(&T->seed, R, ny, -1, 1);
    vkd_buf_t gw = test_buf(T, T->cpu_arena, NULL, nw), gy = test_buf(T, T->cpu_arena, R, ny);
    if (vkd_buf_present(gy)) {
        memset(gw.host, 0, nw * sizeof(float));
        vkd_status_t st = op_embedding_backward(T->cpu, gw, gy, ids, c.N, c.V, c.D);
        CHECK(T, st == VKD_OK, "op_embedding_backward: %s", vkd_last_error());
        fd_ctx_t f = {&c, ids, w, R};
        // Linear in w: central differences are exact up to rounding.
        if (st == VKD_OK)
            test_fd_check(T, "d/dweight N13 V6 D9", emb_loss, &f, w, gw.host, nw, 64, 1e-2f, 1e-3);
    }
    free(ids), free(w), free(R);
    vkd_arena_reset(T->cpu_arena);
}

// ---- argument checks ------------------------------------------------------------------
static void cpu_embedding_bwd_rejects_bad_arguments(tctx_t *T) {
    vkd_arena_t *ar = T->cpu_arena;
    vkd_backend_t *be = T->cpu;
    int32_t ids[3] = {0, 4, 2};
    vkd_buf_t gw = test_buf(T, ar, NULL, 20), gy = test_buf(T, ar, NULL, 12); // V 5, D 4, N 3
    CHECK_OK(T, op_embedding_backward(be, gw, gy, ids, 3, 5, 4));
    ids[1] = 5;
    test_expect_invalid(T, op_embedding_backward(be, gw, gy, ids, 3, 5, 4), "id == V");
    ids[1] = -1;
    test_expect_invalid(T, op_embedding_backward(be, gw, gy, ids, 3, 5, 4), "negative id");
    ids[1] = 4;
    test_expect_invalid(T, op_embedding_backward(be, gw, gy, NULL, 3, 5, 4), "NULL ids");
    test_expect_invalid(T, op_embedding_backward(be, gw, gy, ids, 0, 5, 4), "N 0");
    test_expect_invalid(T, op_embedding_backward(be, gw, gy, ids, 3, 6, 4), "dweight too small");
    vkd_buf_t small = test_buf(T, ar, NULL, 11);
    test_expect_invalid(T, op_embedding_backward(be, gw, small, ids, 3, 5, 4), "dout too small");
    test_expect_invalid(T, op_embedding_backward(be, gw, gw, ids, 3, 5, 4), "dout aliases dweight");
}

// ---- Vulkan ---------------------------------------------------------------------------
// Same ids, dout and starting gradient on both backends, every shape: chunks of 29 ids
// (one dispatch each) with repeats inside and across chunks.
static void vk_embedding_bwd(tctx_t *T) {
    for (size_t s = 0; s < N_SHAPES; s++) {
        const ecase_t *c = &shapes[s];
        const size_t nw = (size_t)c->V * c->D, ny = (size_t)c->N * c->D;
        int32_t *ids = make_ids(T, c);
        float *g0 = test_alloc(nw), *dy = test_alloc(ny);
        test_fill_uniform(&T->seed, g0, nw, -1, 1);
        test_fill_uniform(&T->seed, dy, ny, -1, 1);
        vkd_buf_t vw = test_buf(T, T->vk_arena, g0, nw), vy = test_buf(T, T->vk_arena, dy, ny);
        vkd_buf_t cw = test_buf(T, T->cpu_arena, g0, nw), cy = test_buf(T, T->cpu_arena, dy, ny);
        vkd_status_t st = op_embedding_backward(T->vk, vw, vy, ids, c->N, c->V, c->D);
        CHECK(T, st == VKD_OK, "vk op_embedding_backward: %s", vkd_last_error());
        vkd_status_t sc = op_embedding_backward(T->cpu, cw, cy, ids, c->N, c->V, c->D);
        CHECK(T, sc == VKD_OK, "cpu op_embedding_backward: %s", vkd_last_error());
        if (st == VKD_OK && sc == VKD_OK) {
            float *got = test_read(T, vw, nw), *ref = test_read(T, cw, nw);
            char name[96];
            snprintf(name, sizeof name, "vk N%d V%d D%d", c->N, c->V, c->D);
            if (got && ref) test_compare(T, name, got, ref, nw, 1e-4);
            free(got), free(ref);
        }
        free(ids), free(g0), free(dy);
        vkd_arena_reset(T->vk_arena);
        vkd_arena_reset(T->cpu_arena);
    }
}

static const tcase_t cases[] = {
    TCASE_CPU(cpu_embedding_bwd_reference),
    TCASE_CPU(cpu_embedding_bwd_fd),
    TCASE_CPU(cpu_embedding_bwd_rejects_bad_arguments),
    TCASE_VK(vk_embedding_bwd),
};
TEST_MAIN(cases)
