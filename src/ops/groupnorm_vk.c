// GroupNorm on Vulkan: shaders/groupnorm_fwd.comp (statistics, then normalise) and
// shaders/groupnorm_bwd.comp (group and channel workgroups in one dispatch).
//
// llvmpipe (lavapipe) stops every loop of a shader invocation once that invocation has
// run 65535 loop iterations in total (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS hang guard),
// silently truncating the result. A (b, g) group is reduced by one workgroup of 256, so
// groups beyond ~8M elements (far above the UNet's 40k) would hit it: where
// vkd_vk_loop_budget() (src/vk.h) is set such shapes fail with a message instead
// (counting each loop's trip count + 1). CPU devices (lavapipe) also pay ~5-10 us per
// workgroup (coroutine set-up for the barriers), so there the grids are capped at
// CPU_DEVICE_GROUPS workgroups looping grid-stride (the normalise pass of a
// (2, 320, 64x64) input took 113 ms as 10240 workgroups, 6 ms as 64).
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
#define GN_WG 256u            // local size of both shaders
#define GN_HALF_GROUPS 32768u // each workgroup kind of the backward gets at most this many
#define GN_NORM_MAX_X 64u     // HW blocks per channel row in the normalise pass
#define CPU_DEVICE_GROUPS 128u

typedef struct {
    uint32_t pass, B, C, HW, G;
    float eps;
    uint32_t has_w, has_b;
} pc_groupnorm_fwd_t;
_Static_assert(sizeof(pc_groupnorm_fwd_t) == 32, "mirrors shaders/groupnorm_fwd.comp");

typedef struct {
    uint32_t B, C, HW, G;
    uint32_t has_w, has_dw, has_db;
    uint32_t item_groups, chan_groups;
} pc_groupnorm_bwd_t;
_Static_assert(sizeof(pc_groupnorm_bwd_t) == 36, "mirrors shaders/groupnorm_bwd.comp");

static uint32_t min_u32(uint64_t a, uint64_t b) { return (uint32_t)(a < b ? a : b); }
static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static vkd_status_t check_loops(vkd_backend_t *be, const char *op, uint64_t iters,
                                const vkd_groupnorm_t *d) {
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget && iters > budget)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "%s: B = %d, C = %d, HW = %d, G = %d needs ~%llu loop iterations per "
                        "shader invocation, beyond llvmpipe's limit of 65535 (it would silently "
                        "truncate); use the CPU backend for this shape", op, d->B, d->C, d->HW,
                        d->G, (unsigned long long)iters);
    return VKD_OK;
}

vkd_status_t groupnorm_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t mean,
                                  vkd_buf_t rstd, vkd_buf_t inp, vkd_buf_t weight,
                                  vkd_buf_t bias, const vkd_groupnorm_t *d) {
    // out (B, C, HW), mean (B, G), rstd (B, G), inp (B, C, HW), weight/bias (C) or NONE
    const vkd_buf_t bufs[] = {out, mean, rstd, inp, weight, bias};
    const uint64_t n = (uint64_t)(d->C / d->G) * (uint64_t)d->HW, items = (uint64_t)d->B * d->G;
    const uint64_t max_groups = vkd_vk_is_cpu_device(be) ? CPU_DEVICE_GROUPS : MAX_GROUPS;
    const uint32_t groups = min_u32(items, max_groups);
    // Normalise: (HW blocks, b*C + c channels), both grid-stride.
    const uint64_t chans = (uint64_t)d->B * d->C;
    const uint32_t gx = min_u32(min_u32(cdiv((uint64_t)d->HW, GN_WG), GN_NORM_MAX_X), max_groups);
    const uint32_t gy = min_u32(chans, max_groups / gx);
    // Statistics: two passes over a group and two 8-step reductions per (b, g);
    // normalise: per channel one loop over its share of HW.
    const uint64_t it_stats = cdiv(items, groups) * (2 * (cdiv(n, GN_WG) + 1) + 2 * 9 + 1) + 1;
    const uint64_t it_norm =
        cdiv(chans, gy) * (cdiv((uint64_t)d->HW, (uint64_t)gx * GN_WG) + 1) + 1;
    VKD_TRY(check_loops(be, "op_groupnorm_forward", max_u64(it_stats, it_norm), d));
    pc_groupnorm_fwd_t pc = {
        .pass = 0, .B = (uint32_t)d->B, .C = (uint32_t)d->C, .HW = (uint32_t)d->HW,
        .G = (uint32_t)d->G, .eps = d->eps,
        .has_w = (uint32_t)vkd_buf_present(weight), .has_b = (uint32_t)vkd_buf_present(bias),
    };
    VKD_TRY(vkd_vk_dispatch(be, VKD_SH_groupnorm_fwd, bufs, 6, &pc, sizeof pc, groups, 1, 1));
    pc.pass = 1;
    return vkd_vk_dispatch(be, VKD_SH_groupnorm_fwd, bufs, 6, &pc, sizeof pc, gx, gy, 1);
}

vkd_status_t groupnorm_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dweight,
                                   vkd_buf_t dbias, vkd_buf_t dout, vkd_buf_t inp,
                                   vkd_buf_t weight, vkd_buf_t mean, vkd_buf_t rstd,
                                   const vkd_groupnorm_t *d) {
    // dinp (B, C, HW), dweight/dbias (C) or NONE, dout (B, C, HW), inp (B, C, HW),
    // weight (C) or NONE, mean (B, G), rstd (B, G)
    const vkd_buf_t bufs[] = {dinp, dweight, dbias, dout, inp, weight, mean, rstd};
    const int chans = vkd_buf_present(dweight) || vkd_buf_present(dbias);
    const uint64_t half = vkd_vk_is_cpu_device(be) ? CPU_DEVICE_GROUPS / 2 : GN_HALF_GROUPS;
    const pc_groupnorm_bwd_t pc = {
        .B = (uint32_t)d->B, .C = (uint32_t)d->C, .HW = (uint32_t)d->HW, .G = (uint32_t)d->G,
        .has_w = (uint32_t)vkd_buf_present(weight),
        .has_dw = (uint32_t)vkd_buf_present(dweight),
        .has_db = (uint32_t)vkd_buf_present(dbias),
        .item_groups = min_u32((uint64_t)d->B * (uint64_t)d->G, half),
        .chan_groups = chans ? min_u32((uint64_t)d->C, half) : 0,
    };
    // Group workgroups: per (b, g) two walks over C/G channels of HW; channel workgroups:
    // per channel one walk over B runs of HW (each loop counted as trip count + 1).
    const uint64_t cpg = (uint64_t)(d->C / d->G), hw = cdiv((uint64_t)d->HW, GN_WG) + 1;
    const uint64_t it_group =
        cdiv((uint64_t)d->B * d->G, pc.item_groups) * (2 * (cpg + 1 + cpg * hw) + 9 + 1) + 1;
    const uint64_t it_chan =
        pc.chan_groups ? cdiv((uint64_t)d->C, pc.chan_groups) * ((uint64_t)d->B + 1 + d->B * hw + 9 + 1) + 1
                       : 0;
    VKD_TRY(check_loops(be, "op_groupnorm_backward", max_u64(it_group, it_chan), d));
    return vkd_vk_dispatch(be, VKD_SH_groupnorm_bwd, bufs, 8, &pc, sizeof pc,
                           pc.item_groups + pc.chan_groups, 1, 1);
}
