// Sum / mean over the middle axis on Vulkan: shaders/reduce_fwd.comp, reduce_bwd.comp.
#include "ops_impl.h"
#include "vk.h"

#define MAX_GROUPS 65535u

typedef struct {
    uint32_t outer, n, inner, mode;
    float scale;
} pc_reduce_fwd_t;
_Static_assert(sizeof(pc_reduce_fwd_t) == 20, "mirrors shaders/reduce_fwd.comp");

typedef struct {
    uint32_t total, n, inner;
    float scale;
} pc_reduce_bwd_t;
_Static_assert(sizeof(pc_reduce_bwd_t) == 16, "mirrors shaders/reduce_bwd.comp");

static float reduce_scale(const vkd_reduce_t *d) {
    return d->mean ? (float)(1.0 / (double)d->n) : 1.0f;
}

vkd_status_t reduce_forward_vk(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                               const vkd_reduce_t *d) {
    const vkd_buf_t bufs[] = {out, inp}; // (outer, inner), (outer, n, inner)
    const size_t n_out = d->outer * d->inner;
    // A workgroup per output (mode 1) when there are too few outputs to occupy a GPU with
    // one invocation each (< 1024, or < 16384 when the sums are long, n >= 1024) and the
    // sums are long enough to share (n >= 64); otherwise an invocation per output (mode 0).
    // Many short rows, e.g. (70000, 64, 1), stay in mode 0: a workgroup each would be
    // 75% idle lanes plus a barrier tree per output (on lavapipe 420 ms against 5 ms).
    const int wg_mode = d->n >= 64 && (n_out < 1024 || (d->n >= 1024 && n_out < 16384));
    const pc_reduce_fwd_t pc = {(uint32_t)d->outer, (uint32_t)d->n, (uint32_t)d->inner,
                                (uint32_t)wg_mode, reduce_scale(d)};
    if (!wg_mode) return vkd_vk_dispatch_1d(be, VKD_SH_reduce_fwd, bufs, 2, &pc, sizeof pc, n_out);
    const uint32_t groups = n_out < MAX_GROUPS ? (uint32_t)n_out : MAX_GROUPS;
    return vkd_vk_dispatch(be, VKD_SH_reduce_fwd, bufs, 2, &pc, sizeof pc, groups, 1, 1);
}

vkd_status_t reduce_backward_vk(vkd_backend_t *be, vkd_buf_t dinp, vkd_buf_t dout,
                                const vkd_reduce_t *d) {
    const vkd_buf_t bufs[] = {dinp, dout}; // (outer, n, inner), (outer, inner)
    const size_t total = d->outer * d->n * d->inner;
    const pc_reduce_bwd_t pc = {(uint32_t)total, (uint32_t)d->n, (uint32_t)d->inner,
                                reduce_scale(d)};
    return vkd_vk_dispatch_1d(be, VKD_SH_reduce_bwd, bufs, 2, &pc, sizeof pc, total);
}
