// The runtime itself: arenas, buffer copies, the OpenBLAS check, SPIR-V reflection,
// pipeline creation for every embedded shader, the dispatch helper's checks, timestamps.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "test_util.h"
#include "vk.h"

static void t_arena_limits(tctx_t *T) {
    vkd_arena_t *a;
    CHECK_OK(T, vkd_arena_create(T->cpu, "small", 1000, &a));
    CHECK(T, vkd_arena_capacity(a) == 1024, "capacity rounds up to the alignment: %zu",
          vkd_arena_capacity(a));
    vkd_buf_t b1, b2, b3;
    CHECK(T, vkd_arena_alloc(a, 10, &b1) == VKD_OK, "first alloc");
    CHECK(T, vkd_arena_alloc(a, 100, &b2) == VKD_OK, "second alloc");
    CHECK(T, b2.off % VKD_BUF_ALIGN == 0 && b2.off >= b1.off + 40, "aligned, disjoint views");
    vkd_status_t s = vkd_arena_alloc(a, 1000, &b3);
    CHECK(T, s == VKD_ERR_NOMEM, "over-allocation fails with NOMEM");
    CHECK(T, strstr(vkd_last_error(), "small") && strstr(vkd_last_error(), "full"),
          "message names the arena: %s", vkd_last_error());
    CHECK(T, !vkd_buf_present(b3), "failed alloc gives an absent view");
    vkd_buf_t sl;
    CHECK(T, vkd_buf_slice(b2, 100, 4, &sl) == VKD_ERR_INVALID, "unaligned slice rejected");
    CHECK(T, vkd_buf_slice(b2, 256, 400, &sl) == VKD_ERR_INVALID, "out-of-range slice rejected");
    vkd_arena_reset(a);
    CHECK(T, vkd_arena_used(a) == 0, "reset empties the arena");
    vkd_arena_destroy(a);
    // A huge request fails cleanly (no crash) and names the size.
    s = vkd_arena_create(T->cpu, "huge", (size_t)1 << 62, &a);
    CHECK(T, s == VKD_ERR_NOMEM && strstr(vkd_last_error(), "huge"), "huge arena: %s",
          vkd_last_error());
}

static void t_blas_check(tctx_t *T) {
    const vkd_blas_info_t *bi = vkd_blas_info();
    printf("  OpenBLAS core %s (%s), check rel err %.2g\n", bi->core, bi->source, bi->check_rel_err);
    CHECK(T, bi->verified && bi->use_openblas, "the OpenBLAS kernel in use passed its check");
    CHECK(T, bi->check_rel_err < 1e-5, "check error %.3g", bi->check_rel_err);
    // vkd_sgemm (OpenBLAS) against the plain-C reference on a transposed, odd shape.
    int M = 45, N = 67, K = 89;
    uint64_t rng = T->seed;
    float *A = malloc(sizeof(float) * K * M), *B = malloc(sizeof(float) * N * K);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    test_fill_uniform(&rng, A, (size_t)K * M, -1, 1);
    test_fill_uniform(&rng, B, (size_t)N * K, -1, 1);
    test_fill_uniform(&rng, C1, (size_t)M * N, -1, 1);
    memcpy(C2, C1, sizeof(float) * M * N);
    vkd_sgemm(1, 1, M, N, K, 0.5f, A, M, B, K, 0.25f, C1, N);
    vkd_sgemm_ref(1, 1, M, N, K, 0.5f, A, M, B, K, 0.25f, C2, N);
    test_compare(T, "sgemm vs plain C (TT, alpha, beta)", C1, C2, (size_t)M * N, 1e-5);
    free(A), free(B), free(C1), free(C2);
}

static void t_spirv_reflect(tctx_t *T) {
    CHECK(T, VKD_SH_COUNT > 0, "shaders are embedded");
    for (int i = 0; i < VKD_SH_COUNT; i++) {
        vkd_spirv_info_t info;
        vkd_status_t s = vkd_spirv_reflect(vkd_spirv[i].words, vkd_spirv[i].n_words, &info);
        CHECK(T, s == VKD_OK, "reflect %s: %s", vkd_spirv[i].name, vkd_last_error());
        if (s != VKD_OK) continue;
        CHECK(T, info.push_size <= 128, "%s: push constants %u > 128 (the guaranteed minimum)",
              vkd_spirv[i].name, info.push_size);
        CHECK(T, info.push_size % 4 == 0, "%s: push size %u", vkd_spirv[i].name, info.push_size);
        CHECK(T, info.n_bindings >= 1 && info.n_bindings <= VKD_VK_MAX_BINDINGS, "%s: %d bindings",
              vkd_spirv[i].name, info.n_bindings);
        CHECK(T, info.local[0] * info.local[1] * info.local[2] <= 256,
              "%s: workgroup %ux%ux%u > 256 (not portable)", vkd_spirv[i].name, info.local[0],
              info.local[1], info.local[2]);
    }
    uint32_t junk[8] = {0x07230203, 0x10000, 0, 100, 0, 0xffff0001, 0, 0};
    vkd_spirv_info_t info;
    CHECK(T, vkd_spirv_reflect(junk, 8, &info) == VKD_ERR_FORMAT, "corrupt SPIR-V rejected");
    CHECK(T, vkd_spirv_reflect(junk, 2, &info) == VKD_ERR_FORMAT, "short SPIR-V rejected");
}

static void t_vk_buffers(tctx_t *T) {
    size_t n = 100003;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    uint64_t rng = T->seed;
    test_fill_uniform(&rng, x, n, -5, 5);
    vkd_buf_t b = test_buf(T, T->vk_arena, x, n);
    CHECK_OK(T, vkd_buf_read(b, y, n * sizeof(float)));
    CHECK(T, memcmp(x, y, n * sizeof(float)) == 0, "write/read round trip is exact");
    vkd_buf_t sl;
    CHECK_OK(T, vkd_buf_slice(b, 4096, 1024 * sizeof(float), &sl));
    CHECK_OK(T, vkd_buf_read(sl, y, 1024 * sizeof(float)));
    CHECK(T, memcmp(x + 1024, y, 1024 * sizeof(float)) == 0, "slice reads the right bytes");
    CHECK(T, vkd_buf_write(b, x, (n + 1) * sizeof(float)) == VKD_ERR_INVALID,
          "oversized write rejected");
    free(x), free(y);
}

static void t_vk_all_pipelines(tctx_t *T) {
    // Every embedded shader builds into a pipeline on this device with validation on.
    for (int i = 0; i < VKD_SH_COUNT; i++) {
        uint32_t g;
        vkd_status_t s = vkd_vk_groups(T->vk, (vkd_shader_id_t)i, 0, 1, &g);
        CHECK(T, s == VKD_OK && g == 1, "pipeline %s: %s", vkd_spirv[i].name,
              s ? vkd_last_error() : "");
    }
}

static void t_vk_dispatch_checks(tctx_t *T) {
    vkd_vk_kernel_t *k = &T->vk->vk->kernels[0];
    uint32_t g;
    CHECK_OK(T, vkd_vk_groups(T->vk, 0, 0, 1, &g));
    vkd_buf_t bufs[VKD_VK_MAX_BINDINGS + 1] = {0};
    unsigned char pc[256] = {0};
    vkd_status_t s = vkd_vk_dispatch(T->vk, 0, bufs, k->info.n_bindings + 1, pc, k->info.push_size, 1, 1, 1);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "buffers"), "binding count: %s",
          vkd_last_error());
    s = vkd_vk_dispatch(T->vk, 0, bufs, k->info.n_bindings, pc, k->info.push_size + 4, 1, 1, 1);
    CHECK(T, s == VKD_ERR_INVALID && strstr(vkd_last_error(), "push"), "push size: %s",
          vkd_last_error());
    vkd_buf_t cpu_buf = test_buf(T, T->cpu_arena, NULL, 16);
    bufs[0] = cpu_buf;
    s = vkd_vk_dispatch(T->vk, 0, bufs, k->info.n_bindings, pc, k->info.push_size, 1, 1, 1);
    CHECK(T, s == VKD_ERR_INVALID, "a CPU buffer is rejected by a Vulkan dispatch");
    s = vkd_vk_dispatch(T->vk, 0, bufs, k->info.n_bindings, pc, k->info.push_size, 1u << 31, 1, 1);
    CHECK(T, s != VKD_OK, "too many workgroups rejected");
}

static void t_vk_timestamps(tctx_t *T) {
    if (!T->vk->vk->query_pool) {
        printf("  device has no timestamps; skipping\n");
        return;
    }
    uint32_t q0, q1;
    vkd_buf_t b = test_buf(T, T->vk_arena, NULL, 1 << 20);
    CHECK_OK(T, vkd_vk_timestamp(T->vk, &q0));
    CHECK_OK(T, op_fill(T->vk, b, 1.0f, 1 << 20));
    CHECK_OK(T, vkd_vk_timestamp(T->vk, &q1));
    CHECK_OK(T, vkd_backend_sync(T->vk));
    double ms = -1;
    CHECK_OK(T, vkd_vk_elapsed_ms(T->vk, q0, q1, &ms));
    printf("  fill of 4 MiB: %.3f ms GPU time\n", ms);
    CHECK(T, ms >= 0 && ms < 10000, "elapsed %.3f ms", ms);
}

static void t_cpu_buffer_rejected_on_vk_op(tctx_t *T) {
    vkd_buf_t b = test_buf(T, T->cpu_arena, NULL, 16);
    vkd_status_t s = op_fill(T->vk, b, 0.0f, 16);
    CHECK(T, s == VKD_ERR_INVALID, "op with a buffer of another backend fails: %s", vkd_last_error());
}

static const tcase_t cases[] = {
    TCASE_CPU(t_arena_limits),     TCASE_CPU(t_blas_check),         TCASE_CPU(t_spirv_reflect),
    TCASE_VK(t_vk_buffers),        TCASE_VK(t_vk_all_pipelines),    TCASE_VK(t_vk_dispatch_checks),
    TCASE_VK(t_vk_timestamps),     TCASE_VK(t_cpu_buffer_rejected_on_vk_op),
};
TEST_MAIN(cases)
