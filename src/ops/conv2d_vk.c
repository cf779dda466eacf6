// 2-D convolution on Vulkan: an implicit GEMM without scratch memory, shaders/conv2d.comp
// on GPUs or shaders/conv2d_direct.comp on CPU devices (lavapipe).
//
// Loop budget: llvmpipe silently ends every loop of a shader invocation once it has run
// 65535 iterations in total (vkd_vk_loop_budget, src/vk.h). An invocation loops over
// K = Cin*KH*KW: K/4 steps in conv2d_direct.comp (fine up to K ~ 240k), but K/8 steps of
// ~28 loop passes in conv2d.comp (K ~ 17k: a 3x3 over 2560 channels, as in a UNet's
// up-blocks, is 23040). Where the budget requires it, K is split into slices summed by
// successive dispatches: the first writes out with the bias, the rest add to it in
// order (deterministic). Other devices get one dispatch per 65535 images, as before.
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"
#include "vk.h"

// Block tile of both shaders: 64 output channels x 64 output pixels. Only the
// grid size depends on it (the shader walks its tiles grid-stride).
#define CONV_BM 64
#define CONV_BN 64
#define CONV_BK 8 // K slice of conv2d.comp; K slices are multiples of it
#define MAX_GROUPS 65535u

typedef struct {
    int32_t Cin, H, W;
    int32_t Cout, KH, KW;
    int32_t stride, pad_t, pad_l;
    int32_t Ho, Wo;
    int32_t has_bias;
    int32_t batch0;
    int32_t k_begin, k_end;
    int32_t accumulate;
} pc_conv2d_t;
_Static_assert(sizeof(pc_conv2d_t) == 64, "mirrors shaders/conv2d.comp and conv2d_direct.comp");

// Same rule and override as the GEMM (src/ops/gemm_vk.c): shared-memory staging on GPUs,
// direct reads on CPU devices; VKDREAM_GEMM_SHARED=0/1 forces one.
static int use_shared_tiles(vkd_backend_t *be) {
    const char *env = getenv("VKDREAM_GEMM_SHARED");
    if (env && env[0]) return strcmp(env, "0") != 0;
    return !vkd_vk_is_cpu_device(be);
}

static uint32_t min_groups(uint64_t n) { return n < MAX_GROUPS ? (uint32_t)n : MAX_GROUPS; }
static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Largest K slice (a multiple of CONV_BK) whose loops fit `budget` passes (trip count + 1
// per loop entry) in an invocation walking `tiles` tiles; 0 if none does.
static uint64_t max_slice(int shared, uint64_t tiles, uint32_t budget) {
    const uint64_t per_tile = budget / tiles;
    if (per_tile < 64) return 0;
    // Per tile: the K loops (see above), their tails and exits, the tile loops: <= 12 more.
    return shared ? (per_tile - 12) / 28 * CONV_BK : (per_tile - 12) * 4 / CONV_BK * CONV_BK;
}

vkd_status_t conv2d_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    // out (B, Cout, Ho, Wo), inp (B, Cin, H, W), weight (Cout, Cin, KH, KW), bias (Cout)
    const vkd_buf_t bufs[] = {out, inp, weight, bias};
    pc_conv2d_t pc = {
        .Cin = c->Cin, .H = c->H, .W = c->W,
        .Cout = c->Cout, .KH = c->KH, .KW = c->KW,
        .stride = c->stride, .pad_t = c->pad_t, .pad_l = c->pad_l,
        .Ho = vkd_conv2d_out_h(c), .Wo = vkd_conv2d_out_w(c),
    };
    const int shared = use_shared_tiles(be);
    const vkd_shader_id_t sh = shared ? VKD_SH_conv2d : VKD_SH_conv2d_direct;
    const uint64_t N = (uint64_t)pc.Ho * pc.Wo, K = (uint64_t)c->Cin * c->KH * c->KW;
    const uint64_t nbn = cdiv(N, CONV_BN), nbm = cdiv((uint64_t)c->Cout, CONV_BM);
    const uint32_t gx = min_groups(nbn), gy = min_groups(nbm);
    uint64_t kc = K;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        const uint64_t tiles = cdiv(nbm, gy) * cdiv(nbn, gx);
        const uint64_t s = max_slice(shared, tiles, budget);
        if (s == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED,
                            "op_conv2d_forward: %llu output tiles per shader invocation exceed "
                            "the loop budget of '%s' (%u iterations per invocation); use the "
                            "CPU backend for this shape", (unsigned long long)tiles, be->name,
                            budget);
        if (s < K) kc = cdiv(cdiv(K, cdiv(K, s)), CONV_BK) * CONV_BK; // equal slices
    }
    for (int z0 = 0; z0 < c->B; z0 += (int)MAX_GROUPS) {
        pc.batch0 = z0;
        const uint32_t gz = min_groups((uint64_t)(c->B - z0));
        for (uint64_t k = 0; k < K; k += kc) {
            pc.k_begin = (int32_t)k, pc.k_end = (int32_t)(k + kc < K ? k + kc : K);
            pc.accumulate = k > 0;
            pc.has_bias = k == 0 && vkd_buf_present(bias);
            VKD_TRY(vkd_vk_dispatch(be, sh, bufs, 4, &pc, sizeof pc, gx, gy, gz));
        }
    }
    return VKD_OK;
}
