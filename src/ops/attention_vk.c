// Scaled dot-product attention on Vulkan: shaders/attention_fwd.comp (online softmax,
// one workgroup per (block of 64 queries, head, batch)).
#include <math.h>

#include "ops_impl.h"
#include "vk.h"

#define ATT_BQ 64      // queries per workgroup (local size of the shader)
#define ATT_MAXD 256   // private-array size of the shader: the largest D and Dv
#define ATT_MAXBK4 16  // MAXBK4 of the shader
#define ATT_TILE4 512  // TILE4 of the shader
#define MAX_GROUPS 65535
// llvmpipe ends every loop of an invocation after 65535 loop iterations in total
// (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS hang guard) and the result is silently wrong:
// shapes whose estimate below exceeds vkd_vk_loop_budget() (src/vk.h; it keeps a margin
// for the loops the estimate does not count exactly) are refused there.

typedef struct {
    uint32_t B, H, Lq, Lk, D, Dv;
    float scale;
    uint32_t causal;
    uint32_t sq_b, sq_h, sq_l;
    uint32_t sk_b, sk_h, sk_l;
    uint32_t sv_b, sv_h, sv_l;
    uint32_t so_b, so_h, so_l;
} pc_attention_t;
_Static_assert(sizeof(pc_attention_t) == 80, "mirrors shaders/attention_fwd.comp");

// Loop iterations one invocation of shaders/attention_fwd.comp runs. llvmpipe counts
// one more per loop entry than the trip count (the exit test is itself an iteration).
static double loop_iterations(const vkd_attention_t *a) {
    const double D4 = (a->D + 3) / 4, Dv4 = (a->Dv + 3) / 4;
    const double m4 = D4 > Dv4 ? D4 : Dv4;
    double bk4 = (double)(ATT_TILE4 / (4 * (int)m4));
    if (bk4 > ATT_MAXBK4) bk4 = ATT_MAXBK4;
    const double bk = 4 * bk4, tiles = ceil(a->Lk / bk);
    const double per_tile = 1 + (ceil(bk * D4 * 4 / ATT_BQ) + 1) +
                            (ceil(bk * Dv4 * 4 / ATT_BQ) + 1) + (bk4 + 1) + bk4 * (D4 + 1) +
                            (Dv4 + 1) + (bk4 + 1) + bk4 * (Dv4 + 1);
    return (D4 + 1) + (a->D + 1) + (Dv4 + 1) + (a->Dv + 1) + 1 + tiles * per_tile;
}

// A stride along an axis of size 1 is never used; zero it so any value fits 32 bits.
static uint32_t stride32(int n, int64_t s) { return n > 1 ? (uint32_t)s : 0u; }

vkd_status_t attention_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t q, vkd_buf_t k,
                                  vkd_buf_t v, const vkd_attention_t *a) {
    // out (B, H, Lq, Dv), q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv), all strided;
    // op_attention_forward checked that every index fits in int32.
    if (a->D > ATT_MAXD || a->Dv > ATT_MAXD)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "op_attention_forward: head dims D = %d, Dv = %d exceed the Vulkan "
                        "kernel's limit of %d", a->D, a->Dv, ATT_MAXD);
    const uint32_t gx = (uint32_t)((a->Lq + ATT_BQ - 1) / ATT_BQ);
    if (gx > MAX_GROUPS || a->H > MAX_GROUPS || a->B > MAX_GROUPS)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "op_attention_forward: grid (%u, %d, %d) exceeds 65535 workgroups per "
                        "axis", gx, a->H, a->B);
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget && loop_iterations(a) > (double)budget)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "op_attention_forward: Lk = %d with D = %d, Dv = %d needs ~%.0f loop "
                        "iterations per shader invocation, beyond llvmpipe's limit of 65535 "
                        "(it would silently truncate); use the CPU backend for this shape",
                        a->Lk, a->D, a->Dv, loop_iterations(a));
    const vkd_buf_t bufs[] = {out, q, k, v};
    const pc_attention_t pc = {
        .B = (uint32_t)a->B, .H = (uint32_t)a->H, .Lq = (uint32_t)a->Lq, .Lk = (uint32_t)a->Lk,
        .D = (uint32_t)a->D, .Dv = (uint32_t)a->Dv, .scale = a->scale,
        .causal = a->causal ? 1u : 0u,
        .sq_b = stride32(a->B, a->sq_b), .sq_h = stride32(a->H, a->sq_h),
        .sq_l = stride32(a->Lq, a->sq_l),
        .sk_b = stride32(a->B, a->sk_b), .sk_h = stride32(a->H, a->sk_h),
        .sk_l = stride32(a->Lk, a->sk_l),
        .sv_b = stride32(a->B, a->sv_b), .sv_h = stride32(a->H, a->sv_h),
        .sv_l = stride32(a->Lk, a->sv_l),
        .so_b = stride32(a->B, a->so_b), .so_h = stride32(a->H, a->so_h),
        .so_l = stride32(a->Lq, a->so_l),
    };
    return vkd_vk_dispatch(be, VKD_SH_attention_fwd, bufs, 4, &pc, sizeof pc, gx,
                           (uint32_t)a->H, (uint32_t)a->B);
}
