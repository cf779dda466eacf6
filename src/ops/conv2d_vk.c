// 2-D convolution on Vulkan: an implicit GEMM without scratch memory, shaders/conv2d.comp
// on GPUs or shaders/conv2d_direct.comp on CPU devices (lavapipe).
#include <stdlib.h>
#include <string.h>

#include "ops_impl.h"
#include "vk.h"

// Block tile of both shaders: 64 output channels x 64 output pixels. Only the
// grid size depends on it (the shader walks its tiles grid-stride).
#define CONV_BM 64
#define CONV_BN 64
#define MAX_GROUPS 65535u

typedef struct {
    int32_t Cin, H, W;
    int32_t Cout, KH, KW;
    int32_t stride, pad_t, pad_l;
    int32_t Ho, Wo;
    int32_t has_bias;
    int32_t batch0;
} pc_conv2d_t;
_Static_assert(sizeof(pc_conv2d_t) == 52, "mirrors shaders/conv2d.comp and conv2d_direct.comp");

// Same rule and override as the GEMM (src/ops/gemm_vk.c): shared-memory staging on GPUs,
// direct reads on CPU devices; VKDREAM_GEMM_SHARED=0/1 forces one.
static int use_shared_tiles(vkd_backend_t *be) {
    const char *env = getenv("VKDREAM_GEMM_SHARED");
    if (env && env[0]) return strcmp(env, "0") != 0;
    return be->vk->dev_info->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

static uint32_t min_groups(uint64_t n) { return n < MAX_GROUPS ? (uint32_t)n : MAX_GROUPS; }

vkd_status_t conv2d_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               vkd_buf_t weight, vkd_buf_t bias, const vkd_conv2d_t *c) {
    // out (B, Cout, Ho, Wo), inp (B, Cin, H, W), weight (Cout, Cin, KH, KW), bias (Cout)
    const vkd_buf_t bufs[] = {out, inp, weight, bias};
    pc_conv2d_t pc = {
        .Cin = c->Cin, .H = c->H, .W = c->W,
        .Cout = c->Cout, .KH = c->KH, .KW = c->KW,
        .stride = c->stride, .pad_t = c->pad_t, .pad_l = c->pad_l,
        .Ho = vkd_conv2d_out_h(c), .Wo = vkd_conv2d_out_w(c),
        .has_bias = vkd_buf_present(bias),
    };
    const vkd_shader_id_t sh = use_shared_tiles(be) ? VKD_SH_conv2d : VKD_SH_conv2d_direct;
    const uint64_t N = (uint64_t)pc.Ho * pc.Wo;
    const uint32_t gx = min_groups((N + CONV_BN - 1) / CONV_BN);
    const uint32_t gy = min_groups(((uint64_t)c->Cout + CONV_BM - 1) / CONV_BM);
    for (int z0 = 0; z0 < c->B; z0 += (int)MAX_GROUPS) {
        pc.batch0 = z0;
        const uint32_t gz = min_groups((uint64_t)(c->B - z0));
        VKD_TRY(vkd_vk_dispatch(be, sh, bufs, 4, &pc, sizeof pc, gx, gy, gz));
    }
    return VKD_OK;
}
