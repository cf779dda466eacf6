// Sum / mean over the middle axis on Vulkan: shaders/reduce_fwd.comp, reduce_bwd.comp.
//
// On llvmpipe an invocation may loop only so long (vkd_vk_loop_budget, src/vk.h): a long
// sum, e.g. (1, 20M, 1) with 78k iterations per invocation, would be silently truncated.
// There the n axis is split into chunks that successive dispatches sum into the same
// output (the first writes, the rest add, in order). Other devices get one dispatch.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u
#define WG 256u        // local size of reduce_fwd.comp
#define TREE_PASSES 9u // loop passes of its 256-wide shared-memory tree (8 levels + exit)

typedef struct {
    uint32_t outer, n, inner, mode;
    float scale;
    uint32_t n_begin, n_end, accumulate;
} pc_reduce_fwd_t;
_Static_assert(sizeof(pc_reduce_fwd_t) == 32, "mirrors shaders/reduce_fwd.comp");

typedef struct {
    uint32_t total, n, inner;
    float scale;
} pc_reduce_bwd_t;
_Static_assert(sizeof(pc_reduce_bwd_t) == 16, "mirrors shaders/reduce_bwd.comp");

static uint64_t cdiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static float reduce_scale(const vkd_reduce_t *d) {
    return d->mean ? (float)(1.0 / (double)d->n) : 1.0f;
}

// Elements of the n axis one dispatch may sum so that no invocation exceeds `budget` loop
// passes (each loop's trip count + 1): an invocation handles `per_inv` outputs, each a
// loop over the chunk (mode 0) or over its 1/256 share plus the tree (mode 1). 0: none fit.
static uint64_t chunk_len(int wg_mode, uint64_t per_inv, uint32_t budget) {
    const uint64_t per_out = (budget - 1) / per_inv; // passes one output may use
    if (wg_mode) return per_out > TREE_PASSES + 2 ? (per_out - TREE_PASSES - 2) * WG : 0;
    return per_out > 2 ? per_out - 2 : 0;
}

vkd_status_t reduce_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               const vkd_reduce_t *d) {
    const vkd_buf_t bufs[] = {out, inp}; // (outer, inner), (outer, n, inner)
    const uint64_t n_out = (uint64_t)d->outer * d->inner, n = d->n;
    // A workgroup per output (mode 1) when there are too few outputs to occupy a GPU with
    // one invocation each (< 1024, or < 16384 when the sums are long, n >= 1024) and the
    // sums are long enough to share (n >= 64); otherwise an invocation per output (mode 0).
    // Many short rows, e.g. (70000, 64, 1), stay in mode 0: a workgroup each would be
    // 75% idle lanes plus a barrier tree per output (on lavapipe 420 ms against 5 ms).
    const int wg_mode = n >= 64 && (n_out < 1024 || (n >= 1024 && n_out < 16384));
    // Mode 0 runs on min(n_out / 256, 65535) workgroups (vkd_vk_dispatch_1d), mode 1 on
    // min(n_out, 65535); both walk the remaining outputs grid-stride.
    const uint64_t groups =
        wg_mode ? min_u64(n_out, MAX_GROUPS) : min_u64(cdiv(n_out, WG), MAX_GROUPS);
    const uint64_t per_inv = wg_mode ? cdiv(n_out, groups) : cdiv(n_out, groups * WG);
    uint64_t chunk = n;
    const uint32_t budget = vkd_vk_loop_budget(be);
    if (budget) {
        const uint64_t c = chunk_len(wg_mode, per_inv, budget);
        if (c == 0)
            return vkd_fail(VKD_ERR_UNSUPPORTED,
                            "op_reduce_forward: (%zu, %zu, %zu) gives each shader invocation "
                            "%llu outputs, beyond the loop budget of '%s' (%u iterations per "
                            "invocation); use the CPU backend for this shape", d->outer, d->n,
                            d->inner, (unsigned long long)per_inv, be->name, budget);
        if (c < n) { // equal chunks, whole 256-element strides for mode 1
            chunk = cdiv(n, cdiv(n, c));
            if (wg_mode) chunk = cdiv(chunk, WG) * WG;
        }
    }
    pc_reduce_fwd_t pc = {(uint32_t)d->outer, (uint32_t)d->n, (uint32_t)d->inner,
                          (uint32_t)wg_mode, 1.0f, 0, 0, 0};
    for (uint64_t b = 0; b < n; b += chunk) {
        const uint64_t e = min_u64(n, b + chunk);
        pc.n_begin = (uint32_t)b, pc.n_end = (uint32_t)e;
        pc.accumulate = b > 0;
        pc.scale = e == n ? reduce_scale(d) : 1.0f; // scaled once, by the last chunk
        if (wg_mode)
            VKD_TRY(vkd_vk_dispatch(be, VKD_SH_reduce_fwd, bufs, 2, &pc, sizeof pc,
                                    (uint32_t)groups, 1, 1));
        else
            VKD_TRY(vkd_vk_dispatch_1d(be, VKD_SH_reduce_fwd, bufs, 2, &pc, sizeof pc, n_out));
    }
    return VKD_OK;
}

vkd_status_t reduce_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                const vkd_reduce_t *d) {
    const vkd_buf_t bufs[] = {dinp, dout}; // (outer, n, inner), (outer, inner)
    // Grid-stride over at most 65535 * 256 invocations: <= 128 iterations each for the
    // 2^31 elements op_reduce_backward allows, far inside any loop budget.
    const size_t total = d->outer * d->n * d->inner;
    const pc_reduce_bwd_t pc = {(uint32_t)total, (uint32_t)d->n, (uint32_t)d->inner,
                                reduce_scale(d)};
    return vkd_vk_dispatch_1d(be, VKD_SH_reduce_bwd, bufs, 2, &pc, sizeof pc, total);
}
