// GEMM on Vulkan: shaders/gemm.comp (GPUs) or shaders/gemm_direct.comp (CPU devices), and
// shaders/bias_grad.comp.
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"
#include "vk.h"

// Block tile of both GEMM shaders (8 x 8 invocations, 8 x 8 micro-tile each). Only the
// grid size depends on it: the shaders walk their tiles grid-stride, so any grid is correct.
#define GEMM_BM 64
#define GEMM_BN 64
#define MAX_GROUPS 65535u

typedef struct {
    int32_t M, N, K;
    int32_t trans_a, trans_b;
    float alpha, beta;
    int32_t has_bias;
    int32_t stride_a, stride_b, stride_c;
    int32_t batch0;
    int32_t nsum;
} pc_gemm_t;
_Static_assert(sizeof(pc_gemm_t) == 52, "mirrors shaders/gemm.comp and gemm_direct.comp");

// Shared-memory staging pays on GPUs; on CPU devices (lavapipe) reading the buffers
// directly is 2x faster (see shaders/gemm.comp). VKDREAM_GEMM_SHARED=0/1 overrides the
// choice, so both shaders can be tested and timed on any device.
static int use_shared_tiles(vkd_backend_t *be) {
    const char *env = getenv("VKDREAM_GEMM_SHARED");
    if (env && env[0]) return strcmp(env, "0") != 0;
    return be->vk->dev_info->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

static uint32_t min_groups(uint64_t n) { return n < MAX_GROUPS ? (uint32_t)n : MAX_GROUPS; }

vkd_status_t gemm_forward_vk(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t a, vkd_buf_t b,
                             vkd_buf_t bias, const vkd_gemm_t *g) {
    // c (batch, M, N), a (batch, M, K) / (batch, K, M), b (batch, K, N) / (batch, N, K),
    // bias (N) or NONE. Strides were checked to fit int32 by op_gemm_forward.
    const vkd_buf_t bufs[] = {c, a, b, bias};
    const int shared_out = g->batch > 1 && g->stride_c == 0;
    pc_gemm_t pc = {
        .M = g->M, .N = g->N, .K = g->K,
        .trans_a = g->trans_a, .trans_b = g->trans_b,
        .alpha = g->alpha, .beta = g->beta,
        .has_bias = vkd_buf_present(bias),
        .stride_a = (int32_t)g->stride_a, .stride_b = (int32_t)g->stride_b,
        .stride_c = (int32_t)g->stride_c,
        .nsum = shared_out ? g->batch : 1,
    };
    const vkd_shader_id_t sh = use_shared_tiles(be) ? VKD_SH_gemm : VKD_SH_gemm_direct;
    const uint32_t gx = min_groups(((uint64_t)g->N + GEMM_BN - 1) / GEMM_BN);
    const uint32_t gy = min_groups(((uint64_t)g->M + GEMM_BM - 1) / GEMM_BM);
    const int nz = shared_out ? 1 : g->batch;
    for (int z0 = 0; z0 < nz; z0 += (int)MAX_GROUPS) {
        pc.batch0 = z0;
        const uint32_t gz = min_groups((uint64_t)(nz - z0));
        VKD_TRY(vkd_vk_dispatch(be, sh, bufs, 4, &pc, sizeof pc, gx, gy, gz));
    }
    return VKD_OK;
}

typedef struct {
    int32_t rows, N;
} pc_bias_grad_t;
_Static_assert(sizeof(pc_bias_grad_t) == 8, "mirrors shaders/bias_grad.comp");

#define BIAS_GRAD_COLS 32 // columns per workgroup of shaders/bias_grad.comp

vkd_status_t bias_grad_vk(vkd_backend_t *be, vkd_buf_t dbias, vkd_buf_t dc, int rows, int N) {
    // dbias (N) += column sums of dc (rows, N)
    const vkd_buf_t bufs[] = {dbias, dc};
    const pc_bias_grad_t pc = {.rows = rows, .N = N};
    const uint32_t gx = min_groups(((uint64_t)N + BIAS_GRAD_COLS - 1) / BIAS_GRAD_COLS);
    return vkd_vk_dispatch(be, VKD_SH_bias_grad, bufs, 2, &pc, sizeof pc, gx, 1, 1);
}
